"""The pen drive driver of the "USB drivers in Linux" articles (examples/pen_driver.py) in
the articles' own scenario: insmod, plug, probe, write and read back, unplug, rmmod — and
its error paths (a wrong endpoint, a halted endpoint, a pen that never answers), with the
kernel log Linux would show.  Everything runs on virtual time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from types import ModuleType
from typing import Any

import pytest

from usbemu.cli.demo import load_example
from usbemu.emulated.models.pendrive import BULK_IN, PenDrive
from usbemu.kernel.errno import Errno
from usbemu.kernel.printk import Level
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


@pytest.fixture
def pen() -> ModuleType:
    """A fresh copy of the module for each test (its globals start over, as after insmod)."""
    return load_example("pen_driver")


@pytest.fixture
def drive(system: System, pen: ModuleType) -> PenDrive:
    """pen_init, then the pen drive plugged in at 1-1 and probed."""
    assert system.run(pen.pen_init()) == 0
    model = PenDrive()
    system.plug(model, "1-1")
    system.settle()
    assert pen.device is system.find_device("1-1")
    return model


def timed(system: System, coro: Coroutine[Any, Any, int]) -> tuple[int, float]:
    async def run() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        result = await coro
        return result, loop.time() - start
    return system.run(run())


def test_the_articles_scenario(system: System, pen: ModuleType) -> None:
    assert system.run(pen.pen_init()) == 0
    system.plug(PenDrive(), "1-1")
    system.settle()
    lines = system.log.lines()
    registered = lines.index("usbcore: registered new interface driver pen_driver")
    plugged = lines.index("Pen drive (058F:6387) plugged")
    assert registered < lines.index("usb 1-1: new high-speed USB device number 2 using "
                                    "ehci-pci") < plugged
    udev = system.find_device("1-1")
    assert udev is not None and pen.device is udev
    intf = udev.interface(0)
    assert intf is not None and intf.driver is pen.pen_driver

    message = b"Hello from the pen driver!"
    assert system.run(pen.pen_write(message, len(message))) == len(message)
    buf = bytearray(512)
    assert system.run(pen.pen_read(buf, 512)) == len(message)
    assert bytes(buf[:len(message)]) == message
    # a read of fewer bytes than arrived gets only what fits (MIN(cnt, read_cnt))
    assert system.run(pen.pen_write(b"0123456789", 10)) == 10
    small = bytearray(4)
    assert system.run(pen.pen_read(small, 4)) == 4
    assert bytes(small) == b"0123"

    system.unplug("1-1")
    system.settle()
    lines = system.log.lines()
    assert lines.index("usb 1-1: USB disconnect, device number 2") < \
        lines.index("Pen drive removed")
    assert pen.device is None and intf.driver is None

    system.run(pen.pen_exit())
    assert system.log.lines()[-1] == "usbcore: deregistering interface driver pen_driver"
    assert pen.pen_driver not in system.usb.bus_type.drivers
    assert not [line for line in system.log.lines(Level.ERR)]


def test_writes_are_cut_to_one_packet_buffer(system: System, pen: ModuleType,
                                             drive: PenDrive) -> None:
    assert system.run(pen.pen_write(bytes(range(256)) * 3, 768)) == 512
    assert drive.stored == 512


def test_wrong_endpoint_is_einval(system: System, pen: ModuleType, drive: PenDrive) -> None:
    """usb_bulk_msg finds no endpoint for the pipe (the pen has no endpoint 3): -EINVAL,
    before any URB exists."""
    pen.BULK_EP_IN = 0x83
    assert system.run(pen.pen_read(bytearray(512), 512)) == -Errno.EINVAL
    assert "Bulk message returned -22" in system.log.lines(Level.ERR)
    pen.BULK_EP_OUT = 0x03
    assert system.run(pen.pen_write(b"x", 1)) == -Errno.EINVAL
    assert drive.stored == 0


def test_halted_endpoint_is_epipe(system: System, pen: ModuleType, drive: PenDrive) -> None:
    assert system.run(pen.pen_write(b"stored", 6)) == 6
    ep = drive.endpoint(BULK_IN)
    assert ep is not None
    ep.halt()
    assert system.run(pen.pen_read(bytearray(512), 512)) == -Errno.EPIPE
    assert "Bulk message returned -32" in system.log.lines(Level.ERR)
    assert drive.stored == 6  # nothing was taken from the halted endpoint


def test_pen_that_never_answers_times_out_after_5000_ms(system: System, pen: ModuleType,
                                                        drive: PenDrive) -> None:
    """Nothing stored: the pen NAKs every IN token until usb_bulk_msg's 5000 ms timeout —
    of machine time, which costs no wall-clock time on the virtual clock."""
    result, elapsed = timed(system, pen.pen_read(bytearray(512), 512))
    assert result == -Errno.ETIMEDOUT
    assert elapsed == pytest.approx(5.0, abs=0.001)
    assert "Bulk message returned -110" in system.log.lines(Level.ERR)
    # the killed URB left the endpoint usable
    assert system.run(pen.pen_write(b"late", 4)) == 4
    buf = bytearray(512)
    assert system.run(pen.pen_read(buf, 512)) == 4 and bytes(buf[:4]) == b"late"


def test_loading_twice_fails_as_linux_does(system: System, pen: ModuleType) -> None:
    assert system.run(pen.pen_init()) == 0
    again = load_example("pen_driver")
    assert system.run(again.pen_init()) == -Errno.EBUSY
    assert system.log.lines(Level.ERR)[-2:] == [
        "Error: Driver 'pen_driver' is already registered, aborting...",
        "pen_driver: usb_register failed. Error number -16"]
    system.run(pen.pen_exit())
