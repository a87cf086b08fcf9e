"""usbfs — counterpart of drivers/usb/core/devio.c.

Today this is the interface driver "usbfs" that usbcore registers first (usb_init), so
that usbfs can claim interfaces for user-space programs.  With no id table and no dynamic
ids it never matches a device by itself, and its probe declines (-ENODEV).

Not modelled: the usbfs file operations behind /dev/bus/usb/BBB/DDD (USBDEVFS_* ioctls,
URB submission from user space); opening one of those nodes gives -ENXIO.
"""

from __future__ import annotations

from .driver import UsbDriver

__all__ = ["usbfs_driver"]


def usbfs_driver() -> UsbDriver:
    """The interface driver "usbfs" (devio.c): it never matches by itself and its probe
    declines (-ENODEV).  Context: atomic."""
    return UsbDriver("usbfs", id_table=(), no_dynamic_id=True)
