"""drivers/hid/usbhid/usbkbd — the USB HID Boot Protocol keyboard driver (usbkbd.c),
ported line by line from C with usbemu's kernel spellings (`usbemu.linux`).

Its probe takes a boot-protocol keyboard interface (USB_INTERFACE_INFO(HID, BOOT,
KEYBOARD)) with exactly one endpoint, interrupt IN, and registers an input device named
"<manufacturer> <product>" (else "USB HIDBP Keyboard vvvv:pppp") with every key of the
usb_kbd_keycode[] table, EV_REP, and the LEDs Num, Caps and Scroll Lock, Compose and Kana.
The interrupt URB's completion diffs the 8-byte boot report against the previous one: the
modifier bits of byte 0 are reported as keys, a keycode of bytes 2–7 that left the report
is released and one that entered it pressed ("Unknown key (scancode %#x) released." /
"pressed." for usages the table does not map).  An LED change from the input core
(`event`) becomes a one-byte SET_REPORT(Output) on the control pipe; while it is in
flight, newer LED states wait and the completion sends the latest.  It is an example
module: `insmod usbkbd` loads it, udev never does.  (The spinlock around the LED state
disappears: the machine runs on one loop, and a completion never interrupts the `event`
callback.  DMA buffers are plain bytearrays, nothing is freed by hand, and remote wakeup is
not enabled, since usbemu has no wakeup setting.)
"""

from __future__ import annotations

from typing import Final

from usbemu.linux import (
    BIT_MASK,
    ECONNRESET,
    EIO,
    ENODEV,
    ENOENT,
    ESHUTDOWN,
    EV_KEY,
    EV_LED,
    EV_REP,
    GFP_ATOMIC,
    GFP_KERNEL,
    LED_CAPSL,
    LED_COMPOSE,
    LED_KANA,
    LED_NUML,
    LED_SCROLLL,
    MODULE_AUTHOR,
    MODULE_DESCRIPTION,
    MODULE_DEVICE_TABLE,
    MODULE_LICENSE,
    URB_NO_TRANSFER_DMA_MAP,
    USB_INTERFACE_CLASS_HID,
    USB_INTERFACE_INFO,
    USB_INTERFACE_PROTOCOL_KEYBOARD,
    USB_INTERFACE_SUBCLASS_BOOT,
    USB_RECIP_INTERFACE,
    USB_TYPE_CLASS,
    cpu_to_le16,
    hid_err,
    hid_info,
    hid_warn,
    input_allocate_device,
    input_dev,
    input_free_device,
    input_get_drvdata,
    input_register_device,
    input_report_key,
    input_set_drvdata,
    input_sync,
    input_unregister_device,
    interface_to_usbdev,
    le16_to_cpu,
    memscan,
    module_usb_driver,
    pr_err,
    snprintf,
    strlcat,
    strscpy,
    test_bit,
    urb,
    usb_alloc_coherent,
    usb_alloc_urb,
    usb_ctrlrequest,
    usb_device,
    usb_device_id,
    usb_driver,
    usb_endpoint_is_int_in,
    usb_fill_control_urb,
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
    usb_sndctrlpipe,
    usb_submit_urb,
    usb_to_input_id,
)

KBUILD_MODNAME: Final = "usbkbd"


def pr_fmt(fmt: str) -> str:
    """#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt"""
    return KBUILD_MODNAME + ": " + fmt


# Version Information
DRIVER_VERSION = ""
DRIVER_AUTHOR = "Vojtech Pavlik <vojtech@ucw.cz>"
DRIVER_DESC = "USB HID Boot Protocol keyboard driver"

MODULE_AUTHOR(DRIVER_AUTHOR)
MODULE_DESCRIPTION(DRIVER_DESC)
MODULE_LICENSE("GPL")

usb_kbd_keycode: Final = (
    0, 0, 0, 0, 30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38,
    50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44, 2, 3,
    4, 5, 6, 7, 8, 9, 10, 11, 28, 1, 14, 15, 57, 12, 13, 26,
    27, 43, 43, 39, 40, 41, 51, 52, 53, 58, 59, 60, 61, 62, 63, 64,
    65, 66, 67, 68, 87, 88, 99, 70, 119, 110, 102, 104, 111, 107, 109, 106,
    105, 108, 103, 69, 98, 55, 74, 78, 96, 79, 80, 81, 75, 76, 77, 71,
    72, 73, 82, 83, 86, 127, 116, 117, 183, 184, 185, 186, 187, 188, 189, 190,
    191, 192, 193, 194, 134, 138, 130, 132, 128, 129, 131, 137, 133, 135, 136, 113,
    115, 114, 0, 0, 0, 121, 0, 89, 93, 124, 92, 94, 95, 0, 0, 0,
    122, 123, 90, 91, 85, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    29, 42, 56, 125, 97, 54, 100, 126, 164, 166, 165, 163, 161, 115, 114, 113,
    150, 158, 159, 128, 136, 177, 178, 176, 142, 152, 173, 140,
    0, 0, 0, 0,
)


class usb_kbd:
    """struct usb_kbd - state of each attached keyboard

    dev: input device associated with this keyboard; usbdev: usb device associated with
    this keyboard; old: data received in the past from the irq URB representing which keys
    were pressed; irq: URB for receiving a list of keys that are pressed; led: URB for
    sending LEDs; newleds: data that will be sent with the led URB; name, phys: the input
    device's; new: buffer for the irq URB; cr: control request for the led URB; leds:
    buffer for the led URB; led_urb_submitted: whether the led URB is in progress.
    """

    def __init__(self) -> None:
        self.dev: input_dev | None = None
        self.usbdev: usb_device | None = None
        self.old = bytearray(8)
        self.irq: urb | None = None
        self.led: urb | None = None
        self.newleds = 0
        self.name = ""
        self.phys = ""

        self.new = bytearray()
        self.cr = usb_ctrlrequest()
        self.leds = bytearray()
        self.new_dma = 0
        self.leds_dma = 0

        self.led_urb_submitted = False


def usb_kbd_irq(urb: urb) -> None:
    kbd: usb_kbd = urb.context
    assert kbd.dev is not None and kbd.usbdev is not None  # set by usb_kbd_probe

    if urb.status in (-ECONNRESET, -ENOENT, -ESHUTDOWN):  # unlink
        return
    if urb.status == 0:  # success; other errors: goto resubmit (-EPIPE: should clear the halt)
        for i in range(8):
            input_report_key(kbd.dev, usb_kbd_keycode[i + 224], (kbd.new[0] >> i) & 1)

        for i in range(2, 8):

            if kbd.old[i] > 3 and memscan(kbd.new[2:], kbd.old[i], 6) == 6:
                if usb_kbd_keycode[kbd.old[i]]:
                    input_report_key(kbd.dev, usb_kbd_keycode[kbd.old[i]], 0)
                else:
                    hid_info(urb.dev,
                             "Unknown key (scancode %#x) released.\n",
                             kbd.old[i])

            if kbd.new[i] > 3 and memscan(kbd.old[2:], kbd.new[i], 6) == 6:
                if usb_kbd_keycode[kbd.new[i]]:
                    input_report_key(kbd.dev, usb_kbd_keycode[kbd.new[i]], 1)
                else:
                    hid_info(urb.dev,
                             "Unknown key (scancode %#x) pressed.\n",
                             kbd.new[i])

        input_sync(kbd.dev)

        kbd.old[:8] = kbd.new[:8]

    # resubmit:
    i = usb_submit_urb(urb, GFP_ATOMIC)
    if i:
        hid_err(urb.dev, "can't resubmit intr, %s-%s/input0, status %d",
                kbd.usbdev.usb_bus.bus_name,
                kbd.usbdev.devpath, i)


def usb_kbd_event(dev: input_dev, type: int, code: int, value: int) -> int:
    kbd: usb_kbd = input_get_drvdata(dev)
    assert kbd.led is not None

    if type != EV_LED:
        return -1

    kbd.newleds = ((test_bit(LED_KANA, dev.led) << 3) | (test_bit(LED_COMPOSE, dev.led) << 3)
                   | (test_bit(LED_SCROLLL, dev.led) << 2) | (test_bit(LED_CAPSL, dev.led) << 1)
                   | (test_bit(LED_NUML, dev.led)))

    if kbd.led_urb_submitted:
        return 0

    if kbd.leds[0] == kbd.newleds:
        return 0

    kbd.leds[0] = kbd.newleds

    kbd.led.dev = kbd.usbdev
    if usb_submit_urb(kbd.led, GFP_ATOMIC):
        pr_err(pr_fmt("usb_submit_urb(leds) failed\n"))
    else:
        kbd.led_urb_submitted = True

    return 0


def usb_kbd_led(urb: urb) -> None:
    kbd: usb_kbd = urb.context
    assert kbd.led is not None

    if urb.status:
        hid_warn(urb.dev, "led urb status %d received\n",
                 urb.status)

    if kbd.leds[0] == kbd.newleds:
        kbd.led_urb_submitted = False
        return

    kbd.leds[0] = kbd.newleds

    kbd.led.dev = kbd.usbdev
    if usb_submit_urb(kbd.led, GFP_ATOMIC):
        hid_err(urb.dev, "usb_submit_urb(leds) failed\n")
        kbd.led_urb_submitted = False


def usb_kbd_open(dev: input_dev) -> int:
    kbd: usb_kbd = input_get_drvdata(dev)
    assert kbd.irq is not None

    kbd.irq.dev = kbd.usbdev
    if usb_submit_urb(kbd.irq, GFP_KERNEL):
        return -EIO

    return 0


async def usb_kbd_close(dev: input_dev) -> None:
    kbd: usb_kbd = input_get_drvdata(dev)

    await usb_kill_urb(kbd.irq)


def usb_kbd_alloc_mem(dev: usb_device, kbd: usb_kbd) -> int:
    kbd.irq = usb_alloc_urb(0, GFP_KERNEL)
    kbd.led = usb_alloc_urb(0, GFP_KERNEL)
    kbd.new, kbd.new_dma = usb_alloc_coherent(dev, 8, GFP_KERNEL)
    kbd.cr = usb_ctrlrequest()
    kbd.leds, kbd.leds_dma = usb_alloc_coherent(dev, 1, GFP_KERNEL)

    return 0


def usb_kbd_free_mem(dev: usb_device, kbd: usb_kbd) -> None:
    usb_free_urb(kbd.irq)
    usb_free_urb(kbd.led)
    usb_free_coherent(dev, 8, kbd.new, kbd.new_dma)
    usb_free_coherent(dev, 1, kbd.leds, kbd.leds_dma)


async def usb_kbd_probe(iface: usb_interface, id: usb_device_id) -> int:
    dev = interface_to_usbdev(iface)

    interface = iface.cur_altsetting

    if len(interface.endpoint) != 1:  # interface->desc.bNumEndpoints != 1
        return -ENODEV

    endpoint = interface.endpoint[0].desc
    if not usb_endpoint_is_int_in(endpoint):
        return -ENODEV

    pipe = usb_rcvintpipe(dev, endpoint.bEndpointAddress)
    maxp = usb_maxpacket(dev, pipe)

    kbd = usb_kbd()
    input_dev = input_allocate_device()

    usb_kbd_alloc_mem(dev, kbd)
    assert kbd.irq is not None and kbd.led is not None

    kbd.usbdev = dev
    kbd.dev = input_dev

    if dev.manufacturer:
        kbd.name = strscpy(dev.manufacturer, 128)

    if dev.product:
        if dev.manufacturer:
            kbd.name = strlcat(kbd.name, " ", 128)
        kbd.name = strlcat(kbd.name, dev.product, 128)

    if not len(kbd.name):
        assert dev.descriptor is not None
        kbd.name = snprintf(128, "USB HIDBP Keyboard %04x:%04x",
                            le16_to_cpu(dev.descriptor.idVendor),
                            le16_to_cpu(dev.descriptor.idProduct))

    kbd.phys = usb_make_path(dev)[:63]
    kbd.phys = strlcat(kbd.phys, "/input0", 64)

    input_dev.name = kbd.name
    input_dev.phys = kbd.phys
    usb_to_input_id(dev, input_dev.id)
    input_dev.parent = iface

    input_set_drvdata(input_dev, kbd)

    input_dev.evbit = BIT_MASK(EV_KEY) | BIT_MASK(EV_LED) | BIT_MASK(EV_REP)
    input_dev.ledbit = (BIT_MASK(LED_NUML) | BIT_MASK(LED_CAPSL) | BIT_MASK(LED_SCROLLL)
                        | BIT_MASK(LED_COMPOSE) | BIT_MASK(LED_KANA))

    for i in range(255):
        input_dev.keybit |= BIT_MASK(usb_kbd_keycode[i])  # set_bit()
    input_dev.keybit &= ~BIT_MASK(0)  # clear_bit(0, input_dev->keybit)

    input_dev.event = usb_kbd_event
    input_dev.open = usb_kbd_open
    input_dev.close = usb_kbd_close

    usb_fill_int_urb(kbd.irq, dev, pipe,
                     kbd.new, (8 if maxp > 8 else maxp),
                     usb_kbd_irq, kbd, endpoint.bInterval)
    kbd.irq.transfer_flags |= URB_NO_TRANSFER_DMA_MAP

    kbd.cr.bRequestType = USB_TYPE_CLASS | USB_RECIP_INTERFACE
    kbd.cr.bRequest = 0x09
    kbd.cr.wValue = cpu_to_le16(0x200)
    kbd.cr.wIndex = cpu_to_le16(interface.desc.bInterfaceNumber or 0)
    kbd.cr.wLength = cpu_to_le16(1)

    usb_fill_control_urb(kbd.led, dev, usb_sndctrlpipe(dev, 0),
                         bytes(kbd.cr), kbd.leds, 1,
                         usb_kbd_led, kbd)
    kbd.led.transfer_flags |= URB_NO_TRANSFER_DMA_MAP

    error = await input_register_device(kbd.dev)
    if error:
        usb_kbd_free_mem(dev, kbd)
        input_free_device(input_dev)
        return error

    usb_set_intfdata(iface, kbd)
    return 0


async def usb_kbd_disconnect(intf: usb_interface) -> None:
    kbd: usb_kbd | None = usb_get_intfdata(intf)

    usb_set_intfdata(intf, None)
    if kbd:
        assert kbd.dev is not None
        await usb_kill_urb(kbd.irq)
        await input_unregister_device(kbd.dev)
        await usb_kill_urb(kbd.led)
        usb_kbd_free_mem(interface_to_usbdev(intf), kbd)


usb_kbd_id_table = [
    USB_INTERFACE_INFO(USB_INTERFACE_CLASS_HID, USB_INTERFACE_SUBCLASS_BOOT,
                       USB_INTERFACE_PROTOCOL_KEYBOARD),
    usb_device_id(),  # Terminating entry
]

MODULE_DEVICE_TABLE("usb", usb_kbd_id_table)

usb_kbd_driver = usb_driver(
    name="usbkbd",
    probe=usb_kbd_probe,
    disconnect=usb_kbd_disconnect,
    id_table=usb_kbd_id_table,
)

module_usb_driver(usb_kbd_driver)
