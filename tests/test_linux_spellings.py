"""The spellings a reader of the articles types, in usbemu.linux and kmod: `insmod
pen_driver.ko`, module_usb_driver, usb_register_driver / usb_deregister_driver,
THIS_MODULE and `owner=`, the HID boot-interface constants, usb_maxpacket, usb_make_path,
usb_alloc_coherent / usb_free_coherent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu import linux
from usbemu.core.usb import UsbDevice
from usbemu.emulated.models import load_model
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.module import ModuleState
from usbemu.system import System

ARTICLE_DRIVER = '''\
from usbemu.linux import (
    THIS_MODULE, USB_DEVICE, MODULE_LICENSE, module_usb_driver, usb_driver,
)

seen_at_load = THIS_MODULE
pen_table = [USB_DEVICE(0x058F, 0x6387)]


async def pen_probe(interface, id):
    return 0


def pen_disconnect(interface):
    pass


pen_driver = usb_driver(name="article_pen", owner=THIS_MODULE, id_table=pen_table,
                        probe=pen_probe, disconnect=pen_disconnect)
module_usb_driver(pen_driver)
MODULE_LICENSE("GPL")
'''

REGISTER_DRIVER = '''\
from usbemu import linux

events = []
drv = linux.usb_driver(name="explicit", id_table=[linux.USB_DEVICE(1, 2)],
                       probe=lambda intf, id: 0)


@linux.module_init
async def init():
    events.append(linux.THIS_MODULE)
    return await linux.usb_register_driver(drv, linux.THIS_MODULE, "explicit")


@linux.module_exit
async def exit():
    await linux.usb_deregister_driver(drv)
'''


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


@pytest.fixture
def pen(system: System) -> UsbDevice:
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    return udev


def test_insmod_of_the_ko_name_finds_the_example(system: System) -> None:
    mod = system.insmod("pen_driver.ko")
    assert mod.name == "pen_driver" and mod.state is ModuleState.LIVE
    system.rmmod("pen_driver.ko")
    assert system.modules.get("pen_driver") is None
    assert system.insmod("./pen_driver.ko").name == "pen_driver"


def test_insmod_of_a_missing_ko(system: System) -> None:
    with pytest.raises(ModuleError) as caught:
        system.insmod("nothing_here.ko")
    assert str(caught.value) == ("insmod: ERROR: could not load module nothing_here.ko: "
                                 "No such file or directory")


def test_module_usb_driver_with_this_module_and_owner(system: System,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "article_pen.py"
    path.write_text(ARTICLE_DRIVER)
    mod = system.insmod(str(path))
    assert mod.pymodule is not None and mod.pymodule.seen_at_load is mod
    drv = system.usb.bus_type.find_driver("article_pen")
    assert drv is not None and drv.owner is mod
    assert "usbcore: registered new interface driver article_pen" in system.log.lines()
    system.rmmod("article_pen")
    assert system.usb.bus_type.find_driver("article_pen") is None
    assert "usbcore: deregistering interface driver article_pen" in system.log.lines()


def test_usb_register_driver_and_deregister_driver(system: System, tmp_path: Path) -> None:
    path = tmp_path / "explicit.py"
    path.write_text(REGISTER_DRIVER)
    mod = system.insmod(str(path))
    assert mod.pymodule is not None and mod.pymodule.events == [mod]
    drv = system.usb.bus_type.find_driver("explicit")
    assert drv is not None and drv.owner is mod
    system.rmmod("explicit")
    assert system.usb.bus_type.find_driver("explicit") is None


def test_usb_register_driver_return_code(system: System) -> None:
    first = linux.usb_driver(name="dup", id_table=[], probe=lambda intf, id: 0)
    second = linux.usb_driver(name="dup", id_table=[], probe=lambda intf, id: 0)
    assert system.run(linux.usb_register_driver(first, None, "dup")) == 0
    assert system.run(linux.usb_register_driver(second, None, "dup")) == -Errno.EBUSY
    assert second.owner is None
    system.run(linux.usb_deregister_driver(first))
    assert system.usb.bus_type.find_driver("dup") is None


def test_this_module_outside_a_module_is_none() -> None:
    assert linux.THIS_MODULE is None
    assert linux.usb_driver(name="plain", owner=None).owner is None
    with pytest.raises(AttributeError, match="no attribute 'THIS_MODULES'"):
        getattr(linux, "THIS_MODULES")  # noqa: B009


def test_hid_boot_interface_constants() -> None:
    assert (linux.USB_INTERFACE_CLASS_HID, linux.USB_INTERFACE_SUBCLASS_BOOT,
            linux.USB_INTERFACE_PROTOCOL_KEYBOARD, linux.USB_INTERFACE_PROTOCOL_MOUSE) == \
        (3, 1, 1, 2)
    mouse = linux.USB_INTERFACE_INFO(linux.USB_INTERFACE_CLASS_HID,
                                     linux.USB_INTERFACE_SUBCLASS_BOOT,
                                     linux.USB_INTERFACE_PROTOCOL_MOUSE)
    assert (mouse.bInterfaceClass, mouse.bInterfaceSubClass, mouse.bInterfaceProtocol) == \
        (3, 1, 2)


def test_usb_maxpacket(pen: UsbDevice) -> None:
    assert linux.usb_maxpacket(pen, linux.usb_sndbulkpipe(pen, 1)) == 512
    assert linux.usb_maxpacket(pen, linux.usb_rcvbulkpipe(pen, 2)) == 512
    assert linux.usb_maxpacket(pen, linux.usb_rcvbulkpipe(pen, 1)) == 0   # no IN endpoint 1
    assert linux.usb_maxpacket(pen, linux.usb_sndctrlpipe(pen, 0)) == 64
    assert linux.usb_maxpacket(pen, linux.usb_rcvintpipe(pen, 9)) == 0


def test_usb_maxpacket_of_a_mouse(system: System) -> None:
    system.plug(load_model("mouse")(), "1-2")
    system.settle()
    udev = system.find_device("1-2")
    assert udev is not None
    assert linux.usb_maxpacket(udev, linux.usb_rcvintpipe(udev, 1)) > 0


def test_usb_make_path(system: System, pen: UsbDevice) -> None:
    assert linux.usb_make_path(pen) == f"usb-{pen.usb_bus.bus_name}-1"
    assert pen.usb_bus.bus_name.startswith("0000:00:")
    system.plug(Hub(4), "1-2")
    system.settle()
    system.plug(PenDrive(), "1-2.3")
    system.settle()
    behind = system.find_device("1-2.3")
    assert behind is not None
    assert linux.usb_make_path(behind) == f"usb-{pen.usb_bus.bus_name}-2.3"


def test_usb_alloc_and_free_coherent(pen: UsbDevice) -> None:
    buf, dma = linux.usb_alloc_coherent(pen, 8, linux.GFP_KERNEL)
    assert buf == bytearray(8) and dma == 0
    linux.usb_free_coherent(pen, 8, buf, dma)
    linux.usb_free_coherent(pen, 8, None, 0)
