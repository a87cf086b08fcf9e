"""hid_generic — counterpart of drivers/hid/hid-generic.c (hid-generic.ko).

The driver "hid-generic" takes every HID device (its table: any bus, any group, any
vendor and product) that no other driver on the hid bus matches: its `match` gives way
to a specific driver, and when such a driver is registered later the device moves to it.
Its probe asks for one input device per application (HID_QUIRK_INPUT_PER_APP), parses the
report descriptor and starts the device with HID_CONNECT_DEFAULT (hid-input and hidraw).
The table makes depmod write `alias hid:b*g*v*p* hid_generic`, so udev loads the module for
the first hid device that appears.
"""

from __future__ import annotations

from typing import Final

from usbemu.drivers.hid.hid_core import (
    HID_ANY_ID,
    HID_BUS_ANY,
    HID_GROUP_ANY,
    HidConnect,
    HidDevice,
    HidDeviceId,
    HidDriver,
    HidQuirk,
    hid_device,
    hid_hw_start,
    hid_match_device,
    hid_parse,
    module_hid_driver,
)
from usbemu.kernel.module import (
    module_author,
    module_description,
    module_device_table,
    module_info,
    module_license,
)


def hid_generic_match(hdev: HidDevice, ignore_special_driver: bool) -> bool:
    """hid_generic_match(): the device is ours unless another driver wants it (or it has
    a special driver of its own).  Context: atomic."""
    if ignore_special_driver:
        return True
    if hdev.quirks & HidQuirk.HAVE_SPECIAL_DRIVER:
        return False
    bus = hdev.bus
    others = () if bus is None else bus.drivers
    return not any(isinstance(drv, HidDriver) and drv is not hid_generic
                   and hid_match_device(hdev, drv) is not None for drv in others)


async def hid_generic_probe(hdev: HidDevice, id: HidDeviceId) -> int:
    """hid_generic_probe(): parse, then start with hid-input and hidraw.  Context: may
    sleep."""
    hdev.quirks |= HidQuirk.INPUT_PER_APP
    ret = hid_parse(hdev)
    if ret:
        return ret
    return await hid_hw_start(hdev, HidConnect.DEFAULT)


hid_table: Final[list[HidDeviceId]] = [
    hid_device(HID_BUS_ANY, HID_GROUP_ANY, HID_ANY_ID, HID_ANY_ID),
    HidDeviceId(),
]
module_device_table("hid", hid_table)

hid_generic = HidDriver("hid-generic", hid_table, match=hid_generic_match,
                        probe=hid_generic_probe)
module_hid_driver(hid_generic)

module_info("depends", "hid")
module_author("Henrik Rydberg")
module_description("HID generic driver")
module_license("GPL")
