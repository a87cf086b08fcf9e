"""drivers/hid/usbhid/usbmouse — the USB HID Boot Protocol mouse driver (usbmouse.c), the
client driver the USB core article ends with, ported line by line from C with usbemu's
kernel spellings (`usbemu.linux`).

Its probe takes a boot-protocol mouse interface (USB_INTERFACE_INFO(HID, BOOT, MOUSE))
with exactly one endpoint, interrupt IN, allocates an input device named "<manufacturer>
<product>" (else "USB HIDBP Mouse vvvv:pppp") with phys `usb_make_path() + "/input0"`,
buttons BTN_LEFT … BTN_EXTRA and axes REL_X, REL_Y, REL_WHEEL, and fills an interrupt URB
of min(maxpacket, 8) bytes at the endpoint's bInterval.  Opening the input device submits
the URB, closing it kills it; the completion reports byte 0's buttons and bytes 1–3 as
signed motion, then resubmits — except after an unlink or a shutdown (-ECONNRESET,
-ENOENT, -ESHUTDOWN), and it logs "can't resubmit intr, %s-%s/input0, status %d" when the
resubmission fails.  It is an example module, as in most distributions' kernels: `insmod
usbmouse` loads it, udev never does, and it gets a mouse only when usbhid has not taken it
first.  (DMA buffers are plain bytearrays here; nothing is freed by hand.)

    with System() as system:
        system.add_controller()
        system.modules.autoload = False
        system.insmod("usbmouse")
        system.plug(BootMouse(), "1-1")
        system.settle()
"""

from __future__ import annotations

from usbemu.linux import (
    BIT_MASK,
    BTN_EXTRA,
    BTN_LEFT,
    BTN_MIDDLE,
    BTN_RIGHT,
    BTN_SIDE,
    ECONNRESET,
    EIO,
    ENODEV,
    ENOENT,
    ESHUTDOWN,
    EV_KEY,
    EV_REL,
    GFP_ATOMIC,
    GFP_KERNEL,
    MODULE_AUTHOR,
    MODULE_DESCRIPTION,
    MODULE_DEVICE_TABLE,
    MODULE_LICENSE,
    REL_WHEEL,
    REL_X,
    REL_Y,
    URB_NO_TRANSFER_DMA_MAP,
    USB_INTERFACE_CLASS_HID,
    USB_INTERFACE_INFO,
    USB_INTERFACE_PROTOCOL_MOUSE,
    USB_INTERFACE_SUBCLASS_BOOT,
    dev_err,
    input_allocate_device,
    input_dev,
    input_free_device,
    input_get_drvdata,
    input_register_device,
    input_report_key,
    input_report_rel,
    input_set_drvdata,
    input_sync,
    input_unregister_device,
    interface_to_usbdev,
    le16_to_cpu,
    module_usb_driver,
    snprintf,
    strlcat,
    strscpy,
    urb,
    usb_alloc_coherent,
    usb_alloc_urb,
    usb_device,
    usb_device_id,
    usb_driver,
    usb_endpoint_is_int_in,
    usb_fill_int_urb,
    usb_free_coherent,
    usb_free_urb,
    usb_get_intfdata,
    usb_interface,
    usb_kill_urb,
    usb_make_path,
    usb_maxpacket,
    usb_rcvintpipe,
    usb_set_intfdata,
    usb_submit_urb,
    usb_to_input_id,
)

# Version Information
DRIVER_VERSION = "v1.6"
DRIVER_AUTHOR = "Vojtech Pavlik <vojtech@ucw.cz>"
DRIVER_DESC = "USB HID Boot Protocol mouse driver"

MODULE_AUTHOR(DRIVER_AUTHOR)
MODULE_DESCRIPTION(DRIVER_DESC)
MODULE_LICENSE("GPL")


class usb_mouse:
    """struct usb_mouse."""

    def __init__(self) -> None:
        self.name = ""
        self.phys = ""
        self.usbdev: usb_device | None = None
        self.dev: input_dev | None = None
        self.irq: urb | None = None

        self.data = bytearray()
        self.data_dma = 0


def usb_mouse_irq(urb: urb) -> None:
    mouse: usb_mouse = urb.context
    data = memoryview(mouse.data).cast("b")  # signed char *data = mouse->data;
    dev = mouse.dev
    assert dev is not None and mouse.usbdev is not None  # set by usb_mouse_probe

    if urb.status in (-ECONNRESET, -ENOENT, -ESHUTDOWN):  # unlink
        return
    if urb.status == 0:  # success; other errors: goto resubmit (-EPIPE: should clear the halt)
        input_report_key(dev, BTN_LEFT, data[0] & 0x01)
        input_report_key(dev, BTN_RIGHT, data[0] & 0x02)
        input_report_key(dev, BTN_MIDDLE, data[0] & 0x04)
        input_report_key(dev, BTN_SIDE, data[0] & 0x08)
        input_report_key(dev, BTN_EXTRA, data[0] & 0x10)

        input_report_rel(dev, REL_X, data[1])
        input_report_rel(dev, REL_Y, data[2])
        input_report_rel(dev, REL_WHEEL, data[3])

        input_sync(dev)
    # resubmit:
    status = usb_submit_urb(urb, GFP_ATOMIC)
    if status:
        dev_err(mouse.usbdev,
                "can't resubmit intr, %s-%s/input0, status %d\n",
                mouse.usbdev.usb_bus.bus_name,
                mouse.usbdev.devpath, status)


def usb_mouse_open(dev: input_dev) -> int:
    mouse: usb_mouse = input_get_drvdata(dev)
    assert mouse.irq is not None

    mouse.irq.dev = mouse.usbdev
    if usb_submit_urb(mouse.irq, GFP_KERNEL):
        return -EIO

    return 0


async def usb_mouse_close(dev: input_dev) -> None:
    mouse: usb_mouse = input_get_drvdata(dev)

    await usb_kill_urb(mouse.irq)


async def usb_mouse_probe(intf: usb_interface, id: usb_device_id) -> int:
    dev = interface_to_usbdev(intf)

    interface = intf.cur_altsetting

    if len(interface.endpoint) != 1:  # interface->desc.bNumEndpoints != 1
        return -ENODEV

    endpoint = interface.endpoint[0].desc
    if not usb_endpoint_is_int_in(endpoint):
        return -ENODEV

    pipe = usb_rcvintpipe(dev, endpoint.bEndpointAddress)
    maxp = usb_maxpacket(dev, pipe)

    mouse = usb_mouse()
    input_dev = input_allocate_device()

    mouse.data, mouse.data_dma = usb_alloc_coherent(dev, 8, GFP_KERNEL)

    mouse.irq = usb_alloc_urb(0, GFP_KERNEL)

    mouse.usbdev = dev
    mouse.dev = input_dev

    if dev.manufacturer:
        mouse.name = strscpy(dev.manufacturer, 128)

    if dev.product:
        if dev.manufacturer:
            mouse.name = strlcat(mouse.name, " ", 128)
        mouse.name = strlcat(mouse.name, dev.product, 128)

    if not len(mouse.name):
        assert dev.descriptor is not None
        mouse.name = snprintf(128, "USB HIDBP Mouse %04x:%04x",
                              le16_to_cpu(dev.descriptor.idVendor),
                              le16_to_cpu(dev.descriptor.idProduct))

    mouse.phys = usb_make_path(dev)[:63]
    mouse.phys = strlcat(mouse.phys, "/input0", 64)

    input_dev.name = mouse.name
    input_dev.phys = mouse.phys
    usb_to_input_id(dev, input_dev.id)
    input_dev.parent = intf

    input_dev.evbit = BIT_MASK(EV_KEY) | BIT_MASK(EV_REL)
    input_dev.keybit = BIT_MASK(BTN_LEFT) | BIT_MASK(BTN_RIGHT) | BIT_MASK(BTN_MIDDLE)
    input_dev.relbit = BIT_MASK(REL_X) | BIT_MASK(REL_Y)
    input_dev.keybit |= BIT_MASK(BTN_SIDE) | BIT_MASK(BTN_EXTRA)
    input_dev.relbit |= BIT_MASK(REL_WHEEL)

    input_set_drvdata(input_dev, mouse)

    input_dev.open = usb_mouse_open
    input_dev.close = usb_mouse_close

    usb_fill_int_urb(mouse.irq, dev, pipe, mouse.data,
                     (8 if maxp > 8 else maxp),
                     usb_mouse_irq, mouse, endpoint.bInterval)
    mouse.irq.transfer_flags |= URB_NO_TRANSFER_DMA_MAP

    error = await input_register_device(mouse.dev)
    if error:
        usb_free_urb(mouse.irq)
        usb_free_coherent(dev, 8, mouse.data, mouse.data_dma)
        input_free_device(input_dev)
        return error

    usb_set_intfdata(intf, mouse)
    return 0


async def usb_mouse_disconnect(intf: usb_interface) -> None:
    mouse: usb_mouse | None = usb_get_intfdata(intf)

    usb_set_intfdata(intf, None)
    if mouse:
        assert mouse.dev is not None
        await usb_kill_urb(mouse.irq)
        await input_unregister_device(mouse.dev)
        usb_free_urb(mouse.irq)
        usb_free_coherent(interface_to_usbdev(intf), 8, mouse.data, mouse.data_dma)


usb_mouse_id_table = [
    USB_INTERFACE_INFO(USB_INTERFACE_CLASS_HID, USB_INTERFACE_SUBCLASS_BOOT,
                       USB_INTERFACE_PROTOCOL_MOUSE),
    usb_device_id(),  # Terminating entry
]

MODULE_DEVICE_TABLE("usb", usb_mouse_id_table)

usb_mouse_driver = usb_driver(
    name="usbmouse",
    probe=usb_mouse_probe,
    disconnect=usb_mouse_disconnect,
    id_table=usb_mouse_id_table,
)

module_usb_driver(usb_mouse_driver)
