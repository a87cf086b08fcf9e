"""Hub ports as devices — counterpart of drivers/usb/core/port.c (struct usb_port of
drivers/usb/core/port.h) and of the port quirks of include/linux/usb.h.

A `UsbPort` is one downstream port of a hub that the hub driver has bound: a device named
like `usb1-port1` or `1-1-port3` below the hub's interface, with the port's lock, its owner
(a usbfs claim), its over-current count and the per-port knobs user space sets through
sysfs: `early_stop` (give up enumerating a failing device after two attempts and ignore the
port's events from then on, `hub_port_stop_enumerate`) and `quirks` (USB_PORT_QUIRK_OLD_SCHEME
makes the hub driver start with the old addressing scheme, USB_PORT_QUIRK_FAST_ENUM cuts
the reset recovery time to 10 ms).  The port's attributes are declared with the rest of
USB's sysfs in `sysfs.py`; what the hub driver does with a port is `hub.py`.

Not modelled: port power management (runtime PM of port devices), peer ports of
SuperSpeed hubs, connect types and locations from firmware, and LPM permissions.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from ..kernel.device import Device, Driver

if TYPE_CHECKING:
    from .hub import UsbHub
    from .usb import UsbDevice

__all__ = ["USB_PORT_DRIVER", "USB_PORT_QUIRK_FAST_ENUM", "USB_PORT_QUIRK_OLD_SCHEME",
           "UsbPort"]

#: For the given port, prefer the old (faster) enumeration scheme.
USB_PORT_QUIRK_OLD_SCHEME: Final = 1 << 0
#: Decrease TRSTRCY to 10 ms during device enumeration.
USB_PORT_QUIRK_FAST_ENUM: Final = 1 << 1

USB_PORT_DRIVER: Final = Driver("usb")
"""usb_port_driver: port devices carry it without being probed (port.c)."""


class UsbPort(Device):
    """struct usb_port: one port of a hub, a device named like `usb1-port1` or
    `1-1-port3`; its child is `hub.hdev.children[portnum]`."""

    devtype = "usb_port"

    def __init__(self, hub: UsbHub, port1: int) -> None:
        super().__init__(f"{hub.hdev.name}-port{port1}", hub.intf, None)
        self.driver = USB_PORT_DRIVER
        self.hub = hub
        self.portnum = port1
        self.status_lock = asyncio.Lock()
        self.port_owner: object | None = None
        self.over_current_count = 0
        #: USB_PORT_QUIRK_* bits, written through the port's `quirks` file.
        self.quirks = 0
        #: Give up a failing enumeration early (the port's `early_stop` file).
        self.early_stop = False
        #: Set once an early-stopping port gave up: its events are ignored from then on.
        self.ignore_event = False

    @property
    def child(self) -> UsbDevice | None:
        """The device plugged into this port (registered or being enumerated), or None.
        Context: atomic."""
        return self.hub.hdev.children.get(self.portnum)
