"""usbemu.linux, the kernel-spelling facade: its aliases behave as their core counterparts
(pipes, URBs, messages, id-table macros), errno and printk match Linux, usb_register
returns what Linux returns, and everything acts on the machine the calling code runs on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu import linux
from usbemu.core import file as file_module
from usbemu.core import message, urb
from usbemu.core.devtable import MatchFlag, UsbDeviceId
from usbemu.core.usb import UsbDevice
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno
from usbemu.kernel import fs
from usbemu.kernel.printk import Level
from usbemu.spec.ch9 import DeviceState, Speed
from usbemu.spec.descriptors import EndpointDescriptor
from usbemu.system import System
from usbemu.testing import blacklist


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        blacklist(machine, "usb_storage", "uas")
        yield machine


@pytest.fixture
def pen(system: System) -> UsbDevice:
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None and udev.devnum == 2
    return udev


# -- pipes ----------------------------------------------------------------------------------


def test_pipes(pen: UsbDevice) -> None:
    assert linux.usb_rcvbulkpipe(pen, 1) == 0xC0008280  # reference §4.3
    assert linux.usb_sndbulkpipe(pen, 1) == 0xC0008200
    assert linux.usb_sndctrlpipe(pen, 0) == 0x80000200
    assert linux.usb_rcvctrlpipe(pen, 0) == 0x80000280
    assert linux.usb_rcvintpipe(pen, 3) == 0x40018280
    assert linux.usb_sndisocpipe(pen, 4) == 0x00020200
    assert linux.usb_rcvisocpipe(pen, 15) == 0x00078280
    pipe = linux.usb_rcvintpipe(pen, 3)
    assert linux.usb_pipein(pipe) and not linux.usb_pipeout(pipe)
    assert linux.usb_pipedevice(pipe) == 2
    assert linux.usb_pipeendpoint(pipe) == 3
    assert linux.usb_pipetype(pipe) == linux.PIPE_INTERRUPT == 1
    assert (linux.PIPE_ISOCHRONOUS, linux.PIPE_CONTROL, linux.PIPE_BULK) == (0, 2, 3)


# -- errno, printk, constants ---------------------------------------------------------------


def test_errno_constants_are_linux_x86_64() -> None:
    for member in Errno:
        if hasattr(linux, member.name):
            assert getattr(linux, member.name) == member.value, member.name
    assert (linux.EPIPE, linux.EPROTO, linux.ETIMEDOUT, linux.ESHUTDOWN, linux.ECONNRESET,
            linux.EREMOTEIO, linux.EINPROGRESS, linux.EOVERFLOW, linux.EBADR,
            linux.EMSGSIZE) == (32, 71, 110, 108, 104, 121, 115, 75, 53, 90)


def test_urb_flags_match_the_core() -> None:
    for name in ("SHORT_NOT_OK", "ISO_ASAP", "NO_TRANSFER_DMA_MAP", "ZERO_PACKET",
                 "NO_INTERRUPT", "FREE_BUFFER", "DIR_IN"):
        assert getattr(linux, f"URB_{name}") == urb.UrbFlag[name].value


def test_printk_levels(system: System, pen: UsbDevice) -> None:
    async def log() -> None:
        linux.printk(linux.KERN_INFO + "Minor obtained: %d\n", 0)
        linux.printk(linux.KERN_ERR + "Bulk message returned %d\n", -110)
        linux.printk("no level at all")
        linux.printk(linux.KERN_DEBUG + "hidden")
        linux.pr_info("%s: registered new interface driver %s\n", "usbcore", "x")
        linux.dev_info(pen, "hello %s\n", "there")
        linux.dev_err(pen.interface(0), "broken")
        linux.err("old-style %d", 1)

    system.log.clear()
    system.run(log())
    assert [(r.level, r.text) for r in system.log.records()] == [
        (Level.INFO, "Minor obtained: 0"),
        (Level.ERR, "Bulk message returned -110"),
        (Level.WARNING, "no level at all"),  # KERN_DEFAULT: the default loglevel, 4
        (Level.INFO, "usbcore: registered new interface driver x"),
        (Level.INFO, "usb 1-1: hello there"),
        (Level.ERR, "usb 1-1:1.0: broken"),  # unbound interface: bus name
        (Level.ERR, "test_linux_facade: old-style 1"),  # err() adds KBUILD_MODNAME
    ]
    assert linux.KERN_ERR == "\x013" and linux.KERN_DEFAULT == linux.KERN_WARNING


def test_printk_outside_a_machine_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no usbemu machine"):
        linux.printk(linux.KERN_INFO + "lost")


@pytest.mark.parametrize(("entry", "flags", "fields"), [
    (linux.USB_DEVICE(0x058F, 0x6387), 0x0003, {"idVendor": 0x058F, "idProduct": 0x6387}),
    (linux.USB_DEVICE_VER(0x054C, 0x0010, 0x0410, 0x0420), 0x000F,
     {"bcdDevice_lo": 0x0410, "bcdDevice_hi": 0x0420}),
    (linux.USB_DEVICE_INTERFACE_CLASS(1, 2, 0xFF), 0x0083, {"bInterfaceClass": 0xFF}),
    (linux.USB_DEVICE_INTERFACE_PROTOCOL(1, 2, 5), 0x0203, {"bInterfaceProtocol": 5}),
    (linux.USB_DEVICE_INTERFACE_NUMBER(1, 2, 8), 0x0403, {"bInterfaceNumber": 8}),
    (linux.USB_DEVICE_INFO(9, 0, 1), 0x0070, {"bDeviceClass": 9, "bDeviceProtocol": 1}),
    (linux.USB_INTERFACE_INFO(3, 1, 2), 0x0380,
     {"bInterfaceClass": 3, "bInterfaceSubClass": 1, "bInterfaceProtocol": 2}),
    (linux.USB_DEVICE_AND_INTERFACE_INFO(0x12D1, 0x1506, 0xFF, 1, 1), 0x0383,
     {"idProduct": 0x1506, "bInterfaceSubClass": 1}),
    (linux.USB_VENDOR_AND_INTERFACE_INFO(0x0525, 0xFF, 0, 0), 0x0381,
     {"idVendor": 0x0525, "idProduct": 0}),
])
def test_id_table_macros(entry: UsbDeviceId, flags: int, fields: dict[str, int]) -> None:
    assert int(entry.match_flags) == flags
    for name, value in fields.items():
        assert getattr(entry, name) == value
    assert int(MatchFlag.INT_NUMBER) == linux.USB_DEVICE_ID_MATCH_INT_NUMBER == 0x400
    assert linux.usb_device_id() == UsbDeviceId()  # the terminating entry


def test_endpoint_helpers() -> None:
    bulk_in = EndpointDescriptor.bulk(0x82, 512)
    int_out = EndpointDescriptor.interrupt(0x03, 8, 10)
    iso = EndpointDescriptor.isochronous(0x81, 1024, 1)
    assert linux.usb_endpoint_num(bulk_in) == 2 and linux.usb_endpoint_maxp(bulk_in) == 512
    assert linux.usb_endpoint_is_bulk_in(bulk_in) and not linux.usb_endpoint_is_bulk_out(bulk_in)
    assert linux.usb_endpoint_is_int_out(int_out) and linux.usb_endpoint_dir_out(int_out)
    assert linux.usb_endpoint_xfer_isoc(iso) and linux.usb_endpoint_type(iso) == 1
    assert (linux.USB_SPEED_HIGH, linux.USB_STATE_CONFIGURED) == (Speed.HIGH,
                                                                  DeviceState.CONFIGURED)


# -- the aliases are the core's functions ---------------------------------------------------


def test_aliases_are_the_core_functions() -> None:
    assert linux.usb_bulk_msg is message.usb_bulk_msg
    assert linux.usb_interrupt_msg is message.usb_interrupt_msg
    assert linux.usb_control_msg is message.usb_control_msg
    assert linux.usb_unlink_urb is urb.usb_unlink_urb
    assert linux.usb_kill_urb is urb.usb_kill_urb
    assert linux.usb_anchor is urb.UsbAnchor
    assert linux.USB_CTRL_GET_TIMEOUT == linux.USB_CTRL_SET_TIMEOUT == 5000


def test_kernel_style_urb_round_trip(system: System, pen: UsbDevice) -> None:
    """A driver written with the kernel's spellings: write with usb_bulk_msg, read back
    with an URB filled, submitted and completed as in C."""
    statuses: list[tuple[int, int]] = []

    def read_complete(u: linux.urb) -> None:
        statuses.append((u.status, u.actual_length))

    async def io() -> bytes:
        retval, wrote = await linux.usb_bulk_msg(pen, linux.usb_sndbulkpipe(pen, 0x01),
                                                 b"kernel style", 12, 5000)
        assert (retval, wrote) == (0, 12)
        u = linux.usb_alloc_urb(0, linux.GFP_KERNEL)
        buf = bytearray(512)
        linux.usb_fill_bulk_urb(u, pen, linux.usb_rcvbulkpipe(pen, 0x82), buf, 512,
                                read_complete, None)
        assert linux.usb_submit_urb(u, linux.GFP_KERNEL) == 0
        anchor = linux.init_usb_anchor()
        linux.usb_anchor_urb(u, anchor)
        assert await linux.usb_wait_anchor_empty_timeout(anchor, 100) == 1
        linux.usb_free_urb(u)
        return bytes(buf[:12])

    assert system.run(io()) == b"kernel style"
    assert statuses == [(0, 12)]


def test_completion_handlers_can_printk(system: System, pen: UsbDevice) -> None:
    """A completion runs on the machine's loop, so the facade finds the machine there even
    when the data arrived because something outside the loop poked the device."""
    u = linux.usb_alloc_urb(0)

    def done(u: linux.urb) -> None:
        linux.printk(linux.KERN_INFO + "read %d bytes\n", u.actual_length)

    linux.usb_fill_bulk_urb(u, pen, linux.usb_rcvbulkpipe(pen, 0x82), bytearray(512), 512,
                            done, None)
    assert linux.usb_submit_urb(u) == 0
    system.sleep(1)
    drive = system.controllers[0].root_hub.hub_port(1).device
    assert isinstance(drive, PenDrive)
    ep = drive.endpoint(0x82)
    assert ep is not None
    ep.write(b"poke")  # from outside the loop: the wake-up is scheduled from here
    system.sleep(1)
    assert "read 4 bytes" in system.log.lines()
    assert "BUG" not in system.dmesg()


# -- registration ---------------------------------------------------------------------------


def test_usb_register_return_codes(system: System) -> None:
    drv = linux.usb_driver(name="twice", id_table=[linux.USB_DEVICE(1, 2)],
                           probe=lambda intf, id: 0, disconnect=lambda intf: None)
    same_name = linux.usb_driver(name="twice", id_table=[], probe=lambda intf, id: 0)

    async def scenario() -> tuple[int, int, None]:
        first = await linux.usb_register(drv)
        second = await linux.usb_register(same_name)
        return first, second, await linux.usb_deregister(drv)

    assert system.run(scenario()) == (0, -Errno.EBUSY, None)
    assert system.log.lines()[-3:] == [
        "usbcore: registered new interface driver twice",
        "Error: Driver 'twice' is already registered, aborting...",
        "usbcore: deregistering interface driver twice"]
    assert system.run(linux.usb_register(same_name)) == 0  # the name is free again


def test_interface_helpers(system: System, pen: UsbDevice) -> None:
    intf = linux.usb_ifnum_to_if(pen, 0)
    assert intf is not None and linux.interface_to_usbdev(intf) is pen
    linux.usb_set_intfdata(intf, {"state": 1})
    assert linux.usb_get_intfdata(intf) == {"state": 1}
    assert linux.usb_altnum_to_altsetting(intf, 0) is intf.cur_altsetting
    assert linux.usb_altnum_to_altsetting(intf, 1) is None
    assert linux.usb_get_dev(pen) is pen
    assert not linux.usb_interface_claimed(linux.usb_ifnum_to_if(pen, 0))  # type: ignore[arg-type]


# -- char devices ---------------------------------------------------------------------------


def test_char_device_helpers_act_on_the_running_machine(system: System) -> None:
    """register_chrdev & co. return what Linux returns (0 or the dynamic major, -EBUSY),
    alloc_chrdev_region returns (retval, dev), and a cdev added with the facade is what an
    open of its node reaches."""
    calls: list[int] = []

    async def scull_open(inode: linux.inode, filp: linux.file) -> int:
        calls.append(linux.iminor(inode))
        return 0

    fops = linux.file_operations(open=scull_open)

    async def scenario() -> tuple[int, int, int, tuple[int, int], int]:
        fixed = linux.register_chrdev(250, "scull", fops)
        busy = linux.register_chrdev(250, "again", fops)
        dynamic = linux.register_chrdev(0, "dyn", fops)
        allocated = linux.alloc_chrdev_region(0, 4, "cdevs")
        cdev = linux.cdev_alloc()
        linux.cdev_init(cdev, fops)
        added = linux.cdev_add(cdev, allocated[1] + 2, 1)
        return fixed, busy, dynamic, allocated, added

    fixed, busy, dynamic, (retval, dev), added = system.run(scenario())
    assert (fixed, busy, dynamic, retval, added) == (0, -Errno.EBUSY, 254, 0, 0)
    assert (linux.MAJOR(dev), linux.MINOR(dev)) == (253, 0)
    assert linux.MKDEV(253, 2) == dev + 2
    system.devtmpfs.create_node("scull2", 253, 2)
    system.open("/dev/scull2").close()
    assert calls == [2]
    assert linux.USB_MAJOR == 180
    assert linux.usb_register_dev is file_module.usb_register_dev
    assert linux.copy_to_user is fs.copy_to_user
    assert linux._IOR("E", 1, 4) == 0x80044501
