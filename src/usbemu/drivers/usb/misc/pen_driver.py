"""drivers/usb/misc/pen_driver — the pen drive driver of the "USB drivers in Linux" articles,
ported line by line from C with usbemu's kernel spellings (`usbemu.linux`).

The C original (Linux Device Drivers for Your Girl Friend, parts 11–13) registers a
`usb_driver` for 058f:6387.  Its probe registers a USB class driver "usb/pen%d" with
usb_register_dev, so /dev/pen0 appears and "Minor obtained: 0" is logged; the file
operations of that node move data with `usb_bulk_msg` on endpoints 0x01 (OUT) and 0x82
(IN) with a 5000 ms timeout; disconnect gives the minor back and the node goes.  The
"plugged" and "removed" messages are part 11's.  It stays an out-of-tree module, as in the
articles: `insmod pen_driver` loads it by name, but it is not installed, so modprobe, depmod
and autoload do not see it (it would take every pen drive plugged in).

    with System() as system:
        system.add_controller()
        system.insmod("pen_driver")   # insmod pen_driver.ko
        system.plug(PenDrive(), "1-1")
        system.settle()
        with system.open("/dev/pen0", "rb+") as pen:
            pen.write(b"hello")
            print(pen.read(512))
"""

from __future__ import annotations

from usbemu.linux import (
    EFAULT,
    KERN_ERR,
    KERN_INFO,
    MODULE_AUTHOR,
    MODULE_DESCRIPTION,
    MODULE_DEVICE_TABLE,
    MODULE_LICENSE,
    USB_DEVICE,
    copy_from_user,
    copy_to_user,
    err,
    file,
    file_operations,
    inode,
    interface_to_usbdev,
    loff_t,
    module_exit,
    module_init,
    printk,
    usb_bulk_msg,
    usb_class_driver,
    usb_deregister,
    usb_deregister_dev,
    usb_device,
    usb_device_id,
    usb_driver,
    usb_interface,
    usb_rcvbulkpipe,
    usb_register,
    usb_register_dev,
    usb_sndbulkpipe,
)

BULK_EP_OUT = 0x01
BULK_EP_IN = 0x82
MAX_PKT_SIZE = 512

device: usb_device | None = None
bulk_buf = bytearray(MAX_PKT_SIZE)
pen_class = usb_class_driver()


async def pen_open(i: inode, f: file) -> int:
    return 0


async def pen_close(i: inode, f: file) -> int:
    return 0


async def pen_read(f: file, buf: memoryview, cnt: int, off: loff_t) -> int:
    assert device is not None  # pen_probe set it before /dev/pen0 existed
    # Read the data from the bulk endpoint
    retval, read_cnt = await usb_bulk_msg(device, usb_rcvbulkpipe(device, BULK_EP_IN),
                                          bulk_buf, MAX_PKT_SIZE, 5000)
    if retval:
        printk(KERN_ERR + "Bulk message returned %d\n", retval)
        return retval
    if copy_to_user(buf, bulk_buf, min(cnt, read_cnt)):
        return -EFAULT
    return min(cnt, read_cnt)


async def pen_write(f: file, buf: memoryview, cnt: int, off: loff_t) -> int:
    assert device is not None  # pen_probe set it before /dev/pen0 existed
    wrote_cnt = min(cnt, MAX_PKT_SIZE)
    if copy_from_user(bulk_buf, buf, min(cnt, MAX_PKT_SIZE)):
        return -EFAULT
    # Write the data into the bulk endpoint
    retval, wrote_cnt = await usb_bulk_msg(device, usb_sndbulkpipe(device, BULK_EP_OUT),
                                           bulk_buf, min(cnt, MAX_PKT_SIZE), 5000)
    if retval:
        printk(KERN_ERR + "Bulk message returned %d\n", retval)
        return retval
    return wrote_cnt


fops = file_operations(
    open=pen_open,
    release=pen_close,
    read=pen_read,
    write=pen_write,
)


async def pen_probe(interface: usb_interface, id: usb_device_id) -> int:
    global device
    device = interface_to_usbdev(interface)
    printk(KERN_INFO + "Pen drive (%04X:%04X) plugged\n", id.idVendor, id.idProduct)

    pen_class.name = "usb/pen%d"
    pen_class.fops = fops
    retval = await usb_register_dev(interface, pen_class)
    if retval < 0:
        # Something prevented us from registering this driver
        err("Not able to get a minor for this device.")
    else:
        printk(KERN_INFO + "Minor obtained: %d\n", interface.minor)
    return retval


async def pen_disconnect(interface: usb_interface) -> None:
    global device
    await usb_deregister_dev(interface, pen_class)
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


module_init(pen_init)
module_exit(pen_exit)

MODULE_LICENSE("GPL")
MODULE_AUTHOR("Anil Kumar Pugalia")
MODULE_DESCRIPTION("USB Pen Device Driver")
