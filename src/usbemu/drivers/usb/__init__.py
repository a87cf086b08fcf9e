"""USB class drivers — counterpart of Linux's drivers/usb/ without core/ and host/ (those are
usbemu.core and usbemu.host): one subpackage per kernel directory, as drivers/__init__.py
lists.  This package itself holds no code.
"""
