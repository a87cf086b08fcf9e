"""usb_register_dev and major 180 (core/file.py, reference §6.7), and the /dev/bus/usb nodes
of major 189 (§3.2): the first free minor from minor_base (or from 0 with dynamic minors),
the name from the class driver's format and the minor's offset, its basename as the class
device and the devnode hook for the /dev path, -EINVAL/-EADDRINUSE/-EXFULL, usb_open
switching to the class driver's operations, and nodes appearing and vanishing with their
devices.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from usbemu.core.devtable import usb_device
from usbemu.core.driver import UsbDriver, usb_register
from usbemu.core.file import (
    UsbClassDriver,
    usb_deregister_dev,
    usb_find_interface,
    usb_register_dev,
)
from usbemu.core.usb import UsbInterface
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno
from usbemu.kernel.device import Uevent
from usbemu.kernel.fs import File, FileOperations, Inode, Loff, mkdev
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


class ClassDriver(UsbDriver):
    """An interface driver for the pen drive whose probe calls usb_register_dev with its
    class driver and records every result; disconnect deregisters."""

    id_table = (usb_device(0x058F, 0x6387),)

    def __init__(self, class_driver: UsbClassDriver, name: str = "classy") -> None:
        super().__init__(name)
        self.class_driver = class_driver
        self.results: list[int] = []

    async def probe(self, intf: UsbInterface, id: Any) -> int:
        self.results.append(await usb_register_dev(intf, self.class_driver))
        return 0

    async def disconnect(self, intf: UsbInterface) -> None:
        await usb_deregister_dev(intf, self.class_driver)


async def hello_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    data = b"minor %d\n" % (file.f_inode.i_rdev & 0xFF)
    buf[:len(data)] = data
    return len(data)


async def plain_open(inode: Inode, file: File) -> int:
    return 0


FOPS = FileOperations(open=plain_open, read=hello_read)


def bind(system: System, class_driver: UsbClassDriver, *ports: str) -> ClassDriver:
    drv = ClassDriver(class_driver)
    system.run(usb_register(system.usb, drv))
    for port in ports:
        system.plug(PenDrive(), port)
    system.settle()
    return drv


def intf_at(system: System, name: str) -> UsbInterface:
    udev = system.find_device(name)
    assert udev is not None
    intf = udev.interface(0)
    assert intf is not None
    return intf


# -- usb_register_dev ---------------------------------------------------------------------


def test_register_dev_names_the_node_after_the_minor(system: System) -> None:
    events: list[Uevent] = []
    system.driver_core.listeners.append(events.append)
    drv = bind(system, UsbClassDriver("usb/pen%d", FOPS), "1-1")
    intf = intf_at(system, "1-1")
    assert drv.results == [0] and intf.minor == 0
    assert system.vfs.stat("/dev/pen0").rdev == (180, 0)
    assert system.vfs.read_text("/sys/class/usbmisc/pen0/dev") == "180:0\n"
    assert system.vfs.readlink("/sys/class/usbmisc/pen0") == \
        "../../devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/usbmisc/pen0"
    assert system.vfs.readlink("/sys/bus/usb/devices/1-1:1.0/usbmisc/pen0/device") == \
        "../../../1-1:1.0"
    added = next(e for e in events if e.get("DEVNAME") == "pen0")
    assert added.lines() == [
        "ACTION=add",
        "DEVPATH=/devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/usbmisc/pen0",
        "MAJOR=180", "MINOR=0", "DEVNAME=pen0"]
    with system.open("/dev/pen0") as f:
        assert f.read(64) == b"minor 0\n"
    system.unplug("1-1")
    system.settle()
    assert intf.minor == -1
    assert not system.vfs.exists("/dev/pen0")
    assert system.vfs.listdir("/sys/class/usbmisc") == []
    assert [e.action for e in events if e.get("DEVNAME") == "pen0"] == ["add", "remove"]


def test_minors_from_minor_base_and_reused_after_disconnect(system: System) -> None:
    """usb-skeleton's class driver: "skel%d" at minor_base 192 → minor 192 is skel0."""
    hub = Hub(ports=4)
    system.plug(hub, "1-1")
    system.settle()
    drv = bind(system, UsbClassDriver("skel%d", FOPS, minor_base=192), "1-1.1", "1-1.2")
    assert drv.results == [0, 0]
    assert [intf_at(system, p).minor for p in ("1-1.1", "1-1.2")] == [192, 193]
    assert system.vfs.stat("/dev/skel1").rdev == (180, 193)
    system.unplug("1-1.1")
    system.settle()
    system.plug(PenDrive(), "1-1.3")
    system.settle()
    assert intf_at(system, "1-1.3").minor == 192
    assert sorted(system.vfs.listdir("/sys/class/usbmisc")) == ["skel0", "skel1"]


def test_dynamic_minors_start_at_zero(system: System) -> None:
    system.usb_files.dynamic_minors = True
    bind(system, UsbClassDriver("skel%d", FOPS, minor_base=192), "1-1")
    assert intf_at(system, "1-1").minor == 0 and system.vfs.exists("/dev/skel0")


def test_devnode_hook_places_the_node(system: System) -> None:
    """usblp: class device lp0, node /dev/usb/lp0 (reference §6.7)."""
    bind(system, UsbClassDriver("lp%d", FOPS, devnode=lambda dev: f"usb/{dev.name}"), "1-1")
    assert system.vfs.listdir("/sys/class/usbmisc") == ["lp0"]
    assert not system.vfs.exists("/dev/lp0")
    assert system.vfs.stat("/dev/usb/lp0").rdev == (180, 0)
    assert system.vfs.read_text("/sys/class/usbmisc/lp0/uevent") == \
        "MAJOR=180\nMINOR=0\nDEVNAME=usb/lp0\n"
    system.unplug("1-1")
    system.settle()
    assert not system.vfs.exists("/dev/usb")


def test_name_is_cut_to_the_20_byte_buffer(system: System) -> None:
    bind(system, UsbClassDriver("dir/a_very_long_device_name%d", FOPS), "1-1")
    # snprintf into char name[20] keeps 19 characters, then kbasename
    assert system.vfs.listdir("/sys/class/usbmisc") == ["a_very_long_dev"]


def test_register_dev_errors(system: System) -> None:
    drv = bind(system, UsbClassDriver("nofops%d"), "1-1")
    assert drv.results == [-Errno.EINVAL] and intf_at(system, "1-1").minor == -1
    intf = intf_at(system, "1-1")
    first = UsbClassDriver("first%d", FOPS)
    assert system.run(usb_register_dev(intf, first)) == 0
    assert system.run(usb_register_dev(intf, first)) == -Errno.EADDRINUSE
    system.run(usb_deregister_dev(intf, first))
    system.run(usb_deregister_dev(intf, first))  # no minor: nothing happens
    assert intf.minor == -1
    with pytest.raises(ValueError):
        system.run(usb_register_dev(intf, UsbClassDriver("neg%d", FOPS, minor_base=-1)))


def test_exfull_when_no_minor_is_left_from_minor_base(system: System) -> None:
    hub = Hub(ports=4)
    system.plug(hub, "1-1")
    system.settle()
    drv = bind(system, UsbClassDriver("last%d", FOPS, minor_base=255), "1-1.1", "1-1.2")
    assert sorted(drv.results) == [-Errno.EXFULL, 0]
    assert system.vfs.listdir("/sys/class/usbmisc") == ["last0"]


def test_a_name_taken_frees_the_minor(system: System) -> None:
    hub = Hub(ports=4)
    system.plug(hub, "1-1")
    system.settle()
    drv = bind(system, UsbClassDriver("fixedname", FOPS), "1-1.1", "1-1.2")
    assert sorted(drv.results) == [-Errno.EEXIST, 0]
    assert sorted(intf_at(system, p).minor for p in ("1-1.1", "1-1.2")) == [-1, 0]
    assert system.usb_files.minors[1] is None


def test_usb_open_without_operations_is_enodev(system: System) -> None:
    system.devtmpfs.create_node("stale", 180, 7)
    with pytest.raises(OSError) as info:
        system.open("/dev/stale")
    assert info.value.errno == Errno.ENODEV
    system.usb_files.minors[7] = FileOperations(read=hello_read)  # no open: "no device"
    with pytest.raises(OSError) as info:
        system.open("/dev/stale")
    assert info.value.errno == Errno.ENODEV


def test_usb_find_interface(system: System) -> None:
    drv = bind(system, UsbClassDriver("pen%d", FOPS), "1-1")
    intf = intf_at(system, "1-1")
    assert usb_find_interface(drv, 0) is intf
    assert usb_find_interface(drv, 1) is None
    assert usb_find_interface(UsbDriver("other"), 0) is None


# -- /dev/bus/usb (major 189) ---------------------------------------------------------------


def test_usb_device_nodes_follow_their_devices(system: System) -> None:
    hub = Hub(ports=4)
    system.plug(hub, "1-2")
    system.settle()
    system.plug(PenDrive(), "1-2.4")
    system.settle()
    assert system.vfs.listdir("/dev/bus/usb/001") == ["001", "002", "003"]
    assert system.vfs.stat("/dev/bus/usb/001/001").rdev == (189, 0)
    assert system.vfs.stat("/dev/bus/usb/001/003").rdev == (189, 2)
    second = system.add_controller()
    assert second.bus is not None and second.bus.busnum == 2
    system.plug(PenDrive(), "2-1")
    system.settle()
    assert system.vfs.stat("/dev/bus/usb/002/002").rdev == (189, 129)
    with system.open("/dev/bus/usb/002/002") as usbfs:  # usbfs (devio.py) behind 189
        assert usbfs.read(2) == b"\x12\x01"
    system.unplug("1-2")
    system.settle()
    assert system.vfs.listdir("/dev/bus/usb/001") == ["001"]
    assert [(r.major, r.name) for r in system.chrdev.regions()] == \
        [(13, "input"), (180, "usb"), (189, "usb_device")]
    assert system.chrdev.lookup(mkdev(180, 255)) is not None
    assert system.chrdev.lookup(mkdev(189, 0)) is not None  # usbdev_file_operations
