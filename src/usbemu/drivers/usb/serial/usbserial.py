"""usbserial — the loadable module Linux builds from drivers/usb/serial/usb-serial.c,
generic.c and bus.c (usbserial.ko).

Loading it starts the machine's usb-serial core (the usb-serial bus and the ttyUSB tty
driver, major 188, 512 minors) and registers the generic driver for the one id its
parameters name: `vendor` and `product` (defaults 0x05f9 and 0xffff, as in Linux, and like
Linux's they have no sysfs file).  `modprobe usbserial vendor=0xffff product=0xfff8` makes
the generic driver take the one-port converter model; more ids go to
/sys/bus/usb-serial/drivers/generic/new_id.  Unloading it deregisters the generic driver
and stops the core (refused while a ttyUSB is open or a converter module uses it).
"""

from __future__ import annotations

from usbemu.core.usbcore import current_usbcore
from usbemu.drivers.usb.serial.generic import (
    DEFAULT_PRODUCT,
    DEFAULT_VENDOR,
    generic_device_ids,
    usb_serial_generic_device,
)
from usbemu.drivers.usb.serial.usb_serial import (
    UsbSerialCore,
    UsbSerialDriver,
    usb_serial_deregister_drivers,
    usb_serial_register_drivers,
)
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

vendor = module_param("vendor", "ushort", 0, default=DEFAULT_VENDOR)
module_param_desc("vendor", "User specified USB idVendor")
product = module_param("product", "ushort", 0, default=DEFAULT_PRODUCT)
module_param_desc("product", "User specified USB idProduct")

serial_core: UsbSerialCore | None = None
generic_drivers: list[UsbSerialDriver] = []


async def usb_serial_init() -> int:
    """usb_serial_init(): the core, then usb_serial_generic_register()."""
    global serial_core
    usb = current_usbcore()
    try:
        serial_core = await UsbSerialCore.start(usb)
    except OSError as exc:
        return -(exc.errno or 1)
    ids = generic_device_ids(vendor, product)
    generic_drivers[:] = [usb_serial_generic_device(ids)]
    result = await usb_serial_register_drivers(generic_drivers, "usbserial_generic", ids)
    if result:
        usb.log.log(Level.ERR, "usbserial: usb_serial_init - registering generic driver "
                               "failed")
        await serial_core.stop()
        serial_core = None
    return result


async def usb_serial_exit() -> None:
    """usb_serial_exit(): the generic driver, then the core."""
    global serial_core
    await usb_serial_deregister_drivers(generic_drivers)
    if serial_core is not None:
        await serial_core.stop()
        serial_core = None


module_init(usb_serial_init)
module_exit(usb_serial_exit)

module_author("Greg Kroah-Hartman <gregkh@linuxfoundation.org>")
module_description("USB Serial Driver core")
module_license("GPL v2")
