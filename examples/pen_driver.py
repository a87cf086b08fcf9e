"""pen_driver — the pen drive driver of the "USB drivers in Linux" articles, ported line by
line from C with usbemu's kernel spellings (`usbemu.linux`).

The C original (Linux Device Drivers for Your Girl Friend, parts 11–13) registers a
`usb_driver` for 058f:6387, prints a line on probe and disconnect, and moves data with
`usb_bulk_msg` on endpoints 0x01 (OUT) and 0x82 (IN) with a 5000 ms timeout.  Here the
driver keeps its device handle; `pen_write` and `pen_read` are the bodies of the C file
operations, called directly until the char-device layer gives them a /dev/pen0 node.

    with System() as system:
        system.run(pen_init())
        ...
"""

from __future__ import annotations

from usbemu.linux import (
    EFAULT,
    KERN_ERR,
    KERN_INFO,
    MODULE_DEVICE_TABLE,
    USB_DEVICE,
    err,
    interface_to_usbdev,
    printk,
    usb_bulk_msg,
    usb_deregister,
    usb_device,
    usb_device_id,
    usb_driver,
    usb_interface,
    usb_rcvbulkpipe,
    usb_register,
    usb_sndbulkpipe,
)

BULK_EP_OUT = 0x01
BULK_EP_IN = 0x82
MAX_PKT_SIZE = 512

device: usb_device | None = None
bulk_buf = bytearray(MAX_PKT_SIZE)


async def pen_read(buf: bytearray, cnt: int) -> int:
    """ssize_t pen_read(struct file *f, char __user *buf, size_t cnt, loff_t *off)"""
    # Read the data from the bulk endpoint
    retval, read_cnt = await usb_bulk_msg(device, usb_rcvbulkpipe(device, BULK_EP_IN),
                                          bulk_buf, MAX_PKT_SIZE, 5000)
    if retval:
        printk(KERN_ERR + "Bulk message returned %d\n", retval)
        return retval
    n = min(cnt, read_cnt)
    if len(buf) < n:  # copy_to_user() failing
        return -EFAULT
    buf[:n] = bulk_buf[:n]
    return n


async def pen_write(buf: bytes, cnt: int) -> int:
    """ssize_t pen_write(struct file *f, const char __user *buf, size_t cnt, loff_t *off)"""
    wrote_cnt = min(cnt, MAX_PKT_SIZE)
    if len(buf) < wrote_cnt:  # copy_from_user() failing
        return -EFAULT
    bulk_buf[:wrote_cnt] = buf[:wrote_cnt]
    # Write the data into the bulk endpoint
    retval, wrote_cnt = await usb_bulk_msg(device, usb_sndbulkpipe(device, BULK_EP_OUT),
                                           bulk_buf, min(cnt, MAX_PKT_SIZE), 5000)
    if retval:
        printk(KERN_ERR + "Bulk message returned %d\n", retval)
        return retval
    return wrote_cnt


async def pen_probe(interface: usb_interface, id: usb_device_id) -> int:
    global device
    device = interface_to_usbdev(interface)
    printk(KERN_INFO + "Pen drive (%04X:%04X) plugged\n", id.idVendor, id.idProduct)
    return 0


async def pen_disconnect(interface: usb_interface) -> None:
    global device
    device = None
    printk(KERN_INFO + "Pen drive removed\n")


# Table of devices that work with this driver
pen_table = [
    USB_DEVICE(0x058F, 0x6387),
    usb_device_id(),  # Terminating entry
]
MODULE_DEVICE_TABLE("usb", pen_table)

pen_driver = usb_driver(
    name="pen_driver",
    probe=pen_probe,
    disconnect=pen_disconnect,
    id_table=pen_table,
)


async def pen_init() -> int:
    # Register this driver with the USB subsystem
    result = await usb_register(pen_driver)
    if result:
        err("usb_register failed. Error number %d", result)
    return result


async def pen_exit() -> None:
    # Deregister this driver with the USB subsystem
    await usb_deregister(pen_driver)
