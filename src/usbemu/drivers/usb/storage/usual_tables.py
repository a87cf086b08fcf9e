"""usb-storage's device tables — counterpart of drivers/usb/storage/usual-tables.c
(Linux 6.12).

`usb_storage_usb_ids` is the module's id table, one entry per line of unusual_devs.h in the
same order, the US_FL_* quirks as `driver_info`; `us_unusual_dev_list` runs parallel to it,
so that the index of the entry that matched an interface finds its us_unusual_dev.
`usb_usual_ignore_device` keeps usb-storage off the products that a subdriver module
(ums-alauda, ums-jumpshot, ums-karma …) drives, which also match the class entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

from usbemu.core.devtable import UsbDeviceId
from usbemu.core.usb import UsbInterface
from usbemu.errors import Errno

from .unusual_devs import UNUSUAL_DEVS
from .us_data import UsUnusualDev

__all__ = [
    "IGNORE_IDS",
    "IgnoreEntry",
    "us_unusual_dev_list",
    "usb_storage_usb_ids",
    "usb_usual_ignore_device",
    "usual_dev_for_id",
]

#: The table of devices (usb.py declares it: MODULE_DEVICE_TABLE(usb, usb_storage_usb_ids)).
usb_storage_usb_ids: Final[Sequence[UsbDeviceId]] = (
    *(entry.id for entry in UNUSUAL_DEVS),
    UsbDeviceId(),   # terminating entry
)

#: us_unusual_dev_list of usb.c, line for line with `usb_storage_usb_ids`.
us_unusual_dev_list: Final[Sequence[UsUnusualDev]] = tuple(e.dev for e in UNUSUAL_DEVS)


def usual_dev_for_id(id: UsbDeviceId) -> UsUnusualDev | None:
    """The us_unusual_dev of a static table entry (found by identity, as storage_probe
    subtracts pointers), or None for an id that is not one (a dynamic id).
    Context: atomic."""
    for index, entry in enumerate(usb_storage_usb_ids[:-1]):
        if entry is id:
            return us_unusual_dev_list[index]
    return None


class IgnoreEntry(NamedTuple):
    """struct ignore_entry: a product and bcdDevice range a subdriver owns."""

    vid: int
    pid: int
    bcdmin: int
    bcdmax: int


#: ignore_ids: the unusual_*.h tables of the subdriver modules (a selection).
IGNORE_IDS: Final[tuple[IgnoreEntry, ...]] = (
    IgnoreEntry(0x0584, 0x0008, 0x0102, 0x0102),   # Fujifilm DPC-R1 (Alauda)
    IgnoreEntry(0x07B4, 0x010A, 0x0102, 0x0102),   # Olympus MAUSB-10 (Alauda)
    IgnoreEntry(0x045A, 0x5210, 0x0101, 0x0101),   # Rio Karma
    IgnoreEntry(0x05DC, 0x0001, 0x0000, 0x0001),   # Lexar Jumpshot USB CF Reader
)


def usb_usual_ignore_device(intf: UsbInterface) -> int:
    """usb_usual_ignore_device(): -ENXIO when a subdriver owns the interface's device,
    else 0.  Context: atomic."""
    desc = intf.usb_dev.descriptor
    if desc is None:
        return 0
    vid, pid, bcd = desc.idVendor, desc.idProduct, desc.bcdDevice
    for entry in IGNORE_IDS:
        if entry.vid == vid and entry.pid == pid and entry.bcdmin <= bcd <= entry.bcdmax:
            return -Errno.ENXIO
    return 0

