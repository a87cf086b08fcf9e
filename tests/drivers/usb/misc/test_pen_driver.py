"""The pen drive driver of the "USB drivers in Linux" articles
(usbemu.drivers.usb.misc.pen_driver) in the articles' own scenario: insmod, plug, probe
with "Minor obtained: 0", /dev/pen0 and /sys/class/usbmisc/pen0, write and read back
through the node, unplug, the node gone, rmmod — then what happens to a file still open at
disconnect, a driver that claimed the interface first, and the error paths (a wrong
endpoint, a halted endpoint, a pen that never answers), with the kernel log Linux would
show; and the article's conflict with usb-storage over a pen drive that is a real
mass-storage stick.  Everything runs on virtual time.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

import usbemu.drivers.usb.misc.pen_driver as pen_code
from usbemu.core.devtable import usb_device
from usbemu.core.driver import UsbDriver, usb_register
from usbemu.core.usb import UsbInterface
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import BULK_IN, PenDrive
from usbemu.errors import Errno
from usbemu.kernel.printk import Level
from usbemu.system import System
from usbemu.testing import blacklist


@pytest.fixture
def system(hcd_kind: str) -> Iterator[System]:
    with System() as machine:
        machine.add_controller(hcd_kind)
        yield machine


def insmod_pen(system: System) -> ModuleType:
    """insmod pen_driver: the module's own copy of the code (its globals start over at each
    load), as the test sees it."""
    module = system.insmod("pen_driver")
    assert module.pymodule is not None
    return module.pymodule


@pytest.fixture
def pen(system: System) -> ModuleType:
    """The article's `insmod pen_driver.ko`: the driver is registered, no device yet."""
    return insmod_pen(system)


@pytest.fixture
def drive(system: System, pen: ModuleType) -> PenDrive:
    """The pen drive plugged in at 1-1 and probed: /dev/pen0 exists."""
    model = PenDrive()
    system.plug(model, "1-1")
    system.settle()
    assert pen.device is system.find_device("1-1")
    assert system.vfs.exists("/dev/pen0")
    return model


def errno_of(call: object) -> int:
    with pytest.raises(OSError) as info:
        call()  # type: ignore[operator]
    return info.value.errno or 0


def test_the_articles_scenario(system: System, pen: ModuleType) -> None:
    assert not system.vfs.exists("/dev/pen0")
    system.plug(PenDrive(), "1-1")
    system.settle()
    lines = system.log.lines()
    registered = lines.index("usbcore: registered new interface driver pen_driver")
    plugged = lines.index("Pen drive (058F:6387) plugged")
    assert registered < lines.index("usb 1-1: new high-speed USB device number 2 using "
                                    "ehci-pci") < plugged
    assert lines[plugged + 1] == "Minor obtained: 0"
    udev = system.find_device("1-1")
    assert udev is not None and pen.device is udev
    intf = udev.interface(0)
    assert intf is not None and intf.driver is pen.pen_driver and intf.minor == 0

    # the node, its class device, and the usb_device's own node
    st = system.vfs.stat("/dev/pen0")
    assert st.is_chr and st.rdev == (180, 0)
    assert system.vfs.read_text("/sys/class/usbmisc/pen0/dev") == "180:0\n"
    assert system.vfs.stat("/dev/bus/usb/001/002").rdev == (189, 1)

    message = b"Hello from the pen driver!"
    with system.open("/dev/pen0", "rb+") as f:
        assert f.write(message) == len(message)
        assert f.read(512) == message
        # a read of fewer bytes than arrived gets only what fits (MIN(cnt, read_cnt))
        assert f.write(b"0123456789") == 10
        assert f.read(4) == b"0123"

    system.unplug("1-1")
    system.settle()
    lines = system.log.lines()
    assert lines.index("usb 1-1: USB disconnect, device number 2") < \
        lines.index("Pen drive removed")
    assert not system.vfs.exists("/dev/pen0")
    assert system.vfs.listdir("/sys/class/usbmisc") == []
    assert not system.vfs.exists("/dev/bus/usb/001/002")
    assert pen.device is None and intf.driver is None and intf.minor == -1

    system.rmmod("pen_driver")
    assert system.log.lines()[-1] == "usbcore: deregistering interface driver pen_driver"
    assert pen.pen_driver not in system.usb.bus_type.drivers
    assert not [line for line in system.log.lines(Level.ERR)]


def test_an_open_file_works_until_disconnect_then_gets_enodev(
        system: System, pen: ModuleType, drive: PenDrive) -> None:
    f = system.open("/dev/pen0", "rb+")
    assert f.write(b"before") == 6 and f.read(512) == b"before"
    system.unplug("1-1")
    system.settle()
    assert errno_of(lambda: f.write(b"after")) == Errno.ENODEV
    assert errno_of(lambda: f.read(512)) == Errno.ENODEV
    f.close()
    assert not system.chrdev.open_files((180 << 20) | 0)
    # plugged again: a new /dev/pen0 (minor 0 again) that a new open reaches
    system.plug(PenDrive(), "1-2")
    system.settle()
    with system.open("/dev/pen0", "rb+") as again:
        assert again.write(b"new") == 3 and again.read(512) == b"new"


def test_insmod_and_rmmod_refused_while_dev_pen0_is_open(system: System) -> None:
    """The article's commands: insmod pen_driver.ko, plug, use /dev/pen0; rmmod while the
    file is open fails with EBUSY (the open file holds a reference on the module through
    its file operations) and changes nothing; after close, unplug and rmmod succeed."""
    system.insmod("pen_driver")
    system.plug(PenDrive(), "1-1")
    system.settle()
    f = system.open("/dev/pen0", "rb+")
    assert errno_of(lambda: system.rmmod("pen_driver")) == Errno.EBUSY
    assert "pen_driver" in system.lsmod()
    assert f.write(b"still here") == 10 and f.read(512) == b"still here"
    f.close()
    system.unplug("1-1")
    system.settle()
    assert not system.vfs.exists("/dev/pen0")
    system.rmmod("pen_driver")
    assert "pen_driver" not in system.lsmod()
    assert system.log.lines()[-1] == "usbcore: deregistering interface driver pen_driver"


def test_deregistering_the_driver_with_a_file_open(system: System) -> None:
    """pen_exit's usb_deregister with /dev/pen0 open (the driver's code is imported and its
    init and exit called, not loaded as a module, so nothing holds it): disconnect removes
    the node, and the file still open is revoked — -ENODEV, never a crash."""
    assert system.run(pen_code.pen_init()) == 0
    system.plug(PenDrive(), "1-1")
    system.settle()
    f = system.open("/dev/pen0", "rb+")
    system.run(pen_code.pen_exit())
    assert not system.vfs.exists("/dev/pen0")
    assert errno_of(lambda: f.read(16)) == Errno.ENODEV
    f.close()


class FirstClaim(UsbDriver):
    """Another driver for 058f:6387, registered before the pen driver."""

    id_table = (usb_device(0x058F, 0x6387),)

    def __init__(self) -> None:
        super().__init__("first_claim")
        self.probed: list[str] = []

    async def probe(self, intf: UsbInterface, id: object) -> int:
        self.probed.append(intf.name)
        return 0


def test_a_driver_that_claimed_the_interface_first_wins(system: System) -> None:
    first = FirstClaim()
    system.run(usb_register(system.usb, first))
    pen = insmod_pen(system)
    system.plug(PenDrive(), "1-1")
    system.settle()
    assert first.probed == ["1-1:1.0"]
    assert pen.device is None
    assert "Pen drive (058F:6387) plugged" not in system.log.lines()
    assert not system.vfs.exists("/dev/pen0")
    assert system.vfs.listdir("/sys/class/usbmisc") == []


def test_two_pens_get_minors_0_and_1(system: System, pen: ModuleType) -> None:
    system.plug(Hub(ports=4), "1-1")
    system.settle()
    system.plug(PenDrive(), "1-1.1")
    system.plug(PenDrive(), "1-1.2")
    system.settle()
    assert [line for line in system.log.lines() if line.startswith("Minor")] == \
        ["Minor obtained: 0", "Minor obtained: 1"]
    assert system.vfs.stat("/dev/pen1").rdev == (180, 1)


def test_writes_are_cut_to_one_packet_buffer(system: System, pen: ModuleType,
                                             drive: PenDrive) -> None:
    with system.open("/dev/pen0", "wb") as f:
        assert f.write(bytes(range(256)) * 3) == 512
    assert drive.stored == 512


def test_wrong_endpoint_is_einval(system: System, pen: ModuleType, drive: PenDrive) -> None:
    """usb_bulk_msg finds no endpoint for the pipe (the pen has no endpoint 3): -EINVAL,
    before any URB exists."""
    with system.open("/dev/pen0", "rb+") as f:
        pen.BULK_EP_IN = 0x83
        assert errno_of(lambda: f.read(512)) == Errno.EINVAL
        assert "Bulk message returned -22" in system.log.lines(Level.ERR)
        pen.BULK_EP_OUT = 0x03
        assert errno_of(lambda: f.write(b"x")) == Errno.EINVAL
    assert drive.stored == 0


def test_halted_endpoint_is_epipe(system: System, pen: ModuleType, drive: PenDrive) -> None:
    with system.open("/dev/pen0", "rb+") as f:
        assert f.write(b"stored") == 6
        ep = drive.endpoint(BULK_IN)
        assert ep is not None
        ep.halt()
        assert errno_of(lambda: f.read(512)) == Errno.EPIPE
    assert "Bulk message returned -32" in system.log.lines(Level.ERR)
    assert drive.stored == 6  # nothing was taken from the halted endpoint


def test_pen_that_never_answers_times_out_after_5000_ms(system: System, pen: ModuleType,
                                                        drive: PenDrive) -> None:
    """Nothing stored: the pen NAKs every IN token until usb_bulk_msg's 5000 ms timeout —
    of machine time, which costs no wall-clock time on the virtual clock."""
    with system.open("/dev/pen0", "rb+") as f:
        start = system.time()
        assert errno_of(lambda: f.read(512)) == Errno.ETIMEDOUT
        assert system.time() - start == pytest.approx(5.0, abs=0.001)
        assert "Bulk message returned -110" in system.log.lines(Level.ERR)
        # the killed URB left the endpoint usable
        assert f.write(b"late") == 4 and f.read(512) == b"late"


def test_loading_twice_fails_as_linux_does(system: System, pen: ModuleType) -> None:
    """A second copy of the code, imported rather than loaded (insmod would refuse the name
    with EEXIST before its init ran), registers a driver of the same name."""
    assert pen_code is not pen
    assert system.run(pen_code.pen_init()) == -Errno.EBUSY
    assert system.log.lines(Level.ERR)[-2:] == [
        "Error: Driver 'pen_driver' is already registered, aborting...",
        "pen_driver: usb_register failed. Error number -16"]
    system.rmmod("pen_driver")


# -- the article's conflict with usb-storage ---------------------------------------------------
#
# A real pen drive is a mass-storage device: udev loads usb-storage for it, which claims it
# unless pen_driver got there first or usb-storage is blacklisted.  Bypassing usb-storage,
# raw reads of a real stick time out (it waits for a CBW) and raw writes that are no CBW
# stall it, as the article's readers found.


def test_usb_storage_claims_a_stick_pen_driver_did_not_get_first(system: System) -> None:
    system.plug(PenDrive(storage="memory"), "1-1")
    system.settle()
    intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
    assert intf is not None and intf.driver is not None and intf.driver.name == "usb-storage"
    assert system.vfs.exists("/dev/sda")
    pen = insmod_pen(system)             # too late: the interface is taken
    assert pen.device is None and not system.vfs.exists("/dev/pen0")
    assert "Pen drive (058F:6387) plugged" not in system.log.lines()


def test_pen_driver_loaded_first_keeps_the_stick_from_usb_storage(system: System,
                                                                  pen: ModuleType) -> None:
    system.plug(PenDrive(storage="memory"), "1-1")
    system.settle()
    # udev loaded usb-storage for the stick all the same; it found the interface bound
    assert system.modules.get("usb_storage") is not None
    assert "usbcore: registered new interface driver usb-storage" in system.log.lines()
    assert pen.device is system.find_device("1-1") and system.vfs.exists("/dev/pen0")
    assert not system.vfs.exists("/dev/sda")
    assert "usb-storage 1-1:1.0: USB Mass Storage device detected" not in system.log.lines()


def test_blacklisting_usb_storage_leaves_the_stick_to_pen_driver(system: System) -> None:
    blacklist(system, "usb_storage", "uas")
    system.plug(PenDrive(storage="memory"), "1-1")
    system.settle()
    assert system.modules.get("usb_storage") is None
    pen = insmod_pen(system)             # registering the driver binds the waiting stick
    assert pen.device is system.find_device("1-1") and system.vfs.exists("/dev/pen0")


def test_blacklisting_usb_storage_alone_lets_uas_bring_it_in(system: System) -> None:
    """udev still loads uas for the stick, and modprobe loads what uas depends on,
    blacklist or not: usb-storage comes in and claims the stick."""
    blacklist(system, "usb_storage")
    system.plug(PenDrive(storage="memory"), "1-1")
    system.settle()
    assert [m.name for m in system.modules.loaded] == ["uas", "usb_storage"]
    intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
    assert intf is not None and intf.driver is not None and intf.driver.name == "usb-storage"


def test_raw_reads_of_a_stick_time_out_and_raw_writes_stall_it(system: System,
                                                               pen: ModuleType) -> None:
    stick = PenDrive(storage="memory")
    system.plug(stick, "1-1")
    system.settle()
    with system.open("/dev/pen0", "rb+") as f:
        start = system.time()
        assert errno_of(lambda: f.read(512)) == Errno.ETIMEDOUT   # it waits for a CBW
        assert system.time() - start == pytest.approx(5.0, abs=0.001)
        # a write that is no CBW is taken, then the stick stalls both pipes (BOT 6.6.1)
        assert f.write(b"Hello, pen!") == 11
        assert errno_of(lambda: f.read(512)) == Errno.EPIPE
        assert errno_of(lambda: f.write(b"again")) == Errno.EPIPE
    assert system.log.lines(Level.ERR)[-3:] == ["Bulk message returned -110",
                                                "Bulk message returned -32",
                                                "Bulk message returned -32"]
