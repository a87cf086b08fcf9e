"""tiny — the smallest usb-serial driver, as the usb-serial article presents it: an id
table and a port count, and nothing else.

Every operation is the usb-serial core's generic one (usb_serial_operations_init fills in
open, write, close, the URB callbacks …), so the converter the table names becomes
ttyUSB<n> and moves data both ways.  It is an out-of-tree example, like the pen driver:
`insmod tiny` (after `modprobe usbserial`) loads it by name; modprobe, depmod and autoload
do not see it.  Its id is the one-port generic converter model's (ffff:fff8).

    system.modprobe("usbserial")
    system.insmod("tiny")
    system.plug(SerialConverter(loopback=True), "1-1")   # → ttyUSB0
"""

from __future__ import annotations

from usbemu.core.devtable import UsbDeviceId, usb_device
from usbemu.drivers.usb.serial.usb_serial import UsbSerialDriver, module_usb_serial_driver
from usbemu.kernel.module import (
    module_description,
    module_device_table,
    module_info,
    module_license,
)

TINY_VENDOR_ID = 0xFFFF
TINY_PRODUCT_ID = 0xFFF8

id_table = [
    usb_device(TINY_VENDOR_ID, TINY_PRODUCT_ID),
    UsbDeviceId(),  # terminating entry
]
module_device_table("usb", id_table)

tiny_device = UsbSerialDriver(
    "tiny",
    description="Tiny USB serial",
    id_table=id_table,
    num_ports=1,
)

serial_drivers = [tiny_device]

module_usb_serial_driver(serial_drivers, id_table)

module_info("depends", "usbserial")
module_description("Tiny USB serial driver")
module_license("GPL")
