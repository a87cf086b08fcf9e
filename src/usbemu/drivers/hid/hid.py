"""hid — the loadable module Linux builds from drivers/hid/hid-core.c, hid-input.c and
hidraw.c (hid.ko, with CONFIG_HIDRAW=y).

Loading it starts the machine's HID core (`HidCore`, drivers/hid/hid_core.py): the "hid"
bus (/sys/bus/hid), hidraw (a dynamic major, the class "hidraw", "hid: raw HID events
driver (C) Jiri Kosina") and hid-input (drivers/hid/hid_input.py's `HIDINPUT_OPS`).  Its
parameters are Linux's, both 0600: `debug` (a value at load time gives hid-core's notice
that debugging moved to debugfs) and `ignore_special_drivers` (every device goes to
hid-generic, in the generic group).
Transports (usbhid) and drivers (hid_generic) depend on it; unloading it stops the core,
which rmmod refuses while they are loaded or a hidraw node is open.
"""

from __future__ import annotations

from usbemu.core.usbcore import current_usbcore
from usbemu.drivers.hid.hid_core import HidCore
from usbemu.drivers.hid.hid_input import HIDINPUT_OPS
from usbemu.kernel.module import (
    module_author,
    module_description,
    module_exit,
    module_init,
    module_license,
    module_param,
    module_param_desc,
)
from usbemu.kernel.printk import Level

debug = module_param("debug", int, 0o600, default=0)
module_param_desc("debug", "toggle HID debugging messages")
ignore_special_drivers = module_param("ignore_special_drivers", int, 0o600, default=0)
module_param_desc("ignore_special_drivers",
                  "Ignore any special drivers and handle all devices by generic driver")

hid_core: HidCore | None = None


def _ignore_special_drivers() -> bool:
    """The parameter's value now (writing its sysfs file changes it)."""
    return bool(ignore_special_drivers)


async def hid_init() -> int:
    """hid_init(): the bus, then hidraw."""
    global hid_core
    usb = current_usbcore()
    if debug:
        usb.log.log(Level.WARNING,
                    "hid: hid_debug is now used solely for parser and driver debugging.\n"
                    "debugfs is now used for inspecting the device (report descriptor, "
                    "reports)")
    try:
        hid_core = await HidCore.start(usb, ignore_special_drivers=_ignore_special_drivers,
                                       hidinput=HIDINPUT_OPS)
    except OSError as exc:
        return -(exc.errno or 1)
    return 0


async def hid_exit() -> None:
    """hid_exit(): hidraw, then the bus."""
    global hid_core
    if hid_core is not None:
        await hid_core.stop()
        hid_core = None


module_init(hid_init)
module_exit(hid_exit)

module_author("Andreas Gal")
module_author("Vojtech Pavlik")
module_author("Jiri Kosina")
module_description("HID support for Linux")
module_license("GPL")
