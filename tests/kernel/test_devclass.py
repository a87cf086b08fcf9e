"""Device classes and /dev (usbemu.kernel.devclass): class devices in /sys/class with their
uevents and their nodes in /dev, devtmpfs keeping a name with its first owner, and the
targets of kernfs links.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.errors import Errno
from usbemu.kernel.devclass import DeviceClass
from usbemu.kernel.device import Uevent
from usbemu.kernel.fs import mkdev
from usbemu.kernel.printk import Level
from usbemu.kernel.sysfs import kernfs_link
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


# -- classes, class devices, devtmpfs -----------------------------------------------------------


def test_class_devices_in_sysfs_and_dev(system: System) -> None:
    events: list[Uevent] = []
    system.driver_core.listeners.append(events.append)
    cls = DeviceClass("gadgets", devnode=lambda dev: f"gadgets/{dev.name}")
    system.classes.class_register(cls)
    assert system.vfs.listdir("/sys/class/gadgets") == []
    dev = system.run(system.classes.device_create(cls, None, mkdev(247, 3), None, "g3"))
    assert dev.sysfs_path() == "/devices/virtual/gadgets/g3"
    assert system.vfs.read_text("/sys/class/gadgets/g3/dev") == "247:3\n"
    assert system.vfs.read_text("/sys/class/gadgets/g3/uevent") == \
        "MAJOR=247\nMINOR=3\nDEVNAME=gadgets/g3\n"
    assert system.vfs.readlink("/sys/class/gadgets/g3") == "../../devices/virtual/gadgets/g3"
    assert system.vfs.readlink("/sys/class/gadgets/g3/subsystem") == \
        "../../../../class/gadgets"
    assert system.vfs.stat("/dev/gadgets/g3").rdev == (247, 3)
    assert events[-1] == Uevent("add", "/devices/virtual/gadgets/g3",
                                (("MAJOR", "247"), ("MINOR", "3"), ("DEVNAME", "gadgets/g3")))
    assert system.run(system.vfs.write("/sys/class/gadgets/g3/uevent", "change")) == 6
    assert events[-1].action == "change"
    with pytest.raises(OSError) as info:
        system.run(system.vfs.write("/sys/class/gadgets/g3/uevent", "remove"))
    assert info.value.errno == Errno.EINVAL
    with pytest.raises(OSError) as info:
        system.run(system.classes.device_create(cls, None, mkdev(247, 4), None, "g3"))
    assert info.value.errno == Errno.EEXIST
    assert system.log.lines(Level.ERR)[-1] == \
        "sysfs: cannot create duplicate filename '/class/gadgets/g3'"
    system.run(system.classes.device_destroy(cls, mkdev(247, 3)))
    assert events[-1].action == "remove"
    assert system.vfs.listdir("/dev") == []  # the gadgets directory went with its last node
    with pytest.raises(OSError) as info:
        system.classes.class_register(DeviceClass("gadgets"))
    assert info.value.errno == Errno.EEXIST
    system.classes.class_unregister(cls)
    assert "gadgets" not in system.vfs.listdir("/sys/class")


def test_devtmpfs_keeps_a_name_with_its_first_owner(system: System) -> None:
    fs = system.devtmpfs
    assert fs.create_node("tty/x", 4, 64)
    assert not fs.create_node("tty/x", 4, 65)
    assert not fs.delete_node("tty/x", 4, 65)
    assert system.vfs.stat("/dev/tty/x").rdev == (4, 64)
    assert fs.delete_node("tty/x", 4, 64) and not system.vfs.exists("/dev/tty")


def test_kernfs_link_targets() -> None:
    intf = "/sys/devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0"
    assert kernfs_link(f"{intf}/usbmisc/pen0", intf) == "../../../1-1:1.0"
    assert kernfs_link(f"{intf}/usbmisc/pen0", "/sys/class/usbmisc") == \
        "../../../../../../../../class/usbmisc"
    assert kernfs_link("/sys/class/usbmisc", f"{intf}/usbmisc/pen0") == \
        "../../devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/usbmisc/pen0"
