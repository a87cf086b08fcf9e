"""usbemu: the Linux USB subsystem rebuilt in Python, with emulated devices and bridges."""

__version__ = "0.1.0"
