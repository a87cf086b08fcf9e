"""usbmouse, the USB core article's boot-protocol mouse driver
(usbemu.drivers.hid.usbhid.usbmouse), on virtual time with the mouse model: `insmod
usbmouse` and the kernel messages of its binding, the input device it registers, the
scripted path of the usbhid test read through it, open submitting and close killing the
interrupt URB, errors resubmitted without a report, the resubmit error message, unplug
while events stream, and which of usbmouse and usbhid gets the mouse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import ModuleType

import pytest

from usbemu.core.urb import PIPE_INTERRUPT, usb_block_urb
from usbemu.emulated.hid_script import Click, Move, Script, Wheel
from usbemu.emulated.models.mouse import INTERRUPT_IN, BootMouse
from usbemu.errors import Errno
from usbemu.kernel.evdev import read_events
from usbemu.kernel.input_event_codes import (
    BTN_LEFT,
    EV_KEY,
    EV_REL,
    EV_SYN,
    REL_WHEEL,
    REL_X,
    REL_Y,
    SYN_REPORT,
    InputEvent,
)
from usbemu.kernel.syscalls import AsyncFile
from usbemu.system import System
from usbemu.testing.monitor import UrbRecorder

PATH = Script([(0, Move(10, -5)), (25, Click("left")), (100, Wheel(-1)), (200, Move(300, 0))])
"""The path test_usbhid.py plays through usbhid + hid-generic."""


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        machine.modules.autoload = False
        yield machine


def insmod_usbmouse(system: System) -> ModuleType:
    """insmod usbmouse: the module's own copy of the code, as the test sees it."""
    module = system.insmod("usbmouse")
    assert module.pymodule is not None
    return module.pymodule


def mouse_state(system: System, code: ModuleType) -> object:
    udev = system.find_device("1-1")
    assert udev is not None
    intf = udev.interface(0)
    assert intf is not None and intf.driver is code.usb_mouse_driver
    return intf.driver_data


async def collect(afile: AsyncFile, count: int) -> list[InputEvent]:
    events: list[InputEvent] = []
    while len(events) < count:
        events += await read_events(afile)
    return events


def timed(events: list[InputEvent]) -> list[tuple[float, int, int, int]]:
    return [(round(e.time, 6), e.type, e.code, e.value) for e in events]


def test_insmod_and_plug(system: System) -> None:
    code = insmod_usbmouse(system)
    system.plug(BootMouse(), "1-1")
    system.settle()
    lines = system.log.lines()
    assert "usbcore: registered new interface driver usbmouse" in lines
    assert lines[-1] == ("input: Logitech USB Optical Mouse as /devices/pci0000:00/"
                         "0000:00:1d.0/usb1/1-1/1-1:1.0/input/input0")
    mouse = mouse_state(system, code)
    assert isinstance(mouse, code.usb_mouse)
    dev = mouse.dev
    assert (dev.name, dev.phys) == ("Logitech USB Optical Mouse", "usb-0000:00:1d.0-1/input0")
    assert (dev.id.bustype, dev.id.vendor, dev.id.product, dev.id.version) == \
        (0x03, 0x046D, 0xC077, 0x7200)
    base = "/sys/class/input/input0"
    assert system.vfs.read_text(f"{base}/capabilities/key") == "1f0000 0 0 0 0\n"
    assert system.vfs.read_text(f"{base}/capabilities/rel") == "103\n"
    assert system.vfs.read_text(f"{base}/modalias") == \
        "input:b0003v046DpC077e7200-e0,1,2,k110,111,112,113,114,r0,1,8,amlsfw\n"
    assert mouse.irq.transfer_buffer_length == 4  # min(maxpacket, 8)


def test_the_scripted_path_through_usbmouse(system: System) -> None:
    insmod_usbmouse(system)
    mouse = BootMouse()
    system.plug(mouse, "1-1")
    system.settle()

    async def run() -> tuple[float, list[InputEvent]]:
        afile = await system.aopen("/dev/input/event0", "rb")
        start = system.time()
        mouse.play(PATH)
        events = await collect(afile, 15)
        await afile.close()
        return start, events

    start, events = system.run(run())
    assert start == pytest.approx(0.35)  # no wait at open
    assert timed(events) == [
        (0.35, EV_REL, REL_X, 10), (0.35, EV_REL, REL_Y, -5), (0.35, EV_SYN, SYN_REPORT, 0),
        (0.375, EV_KEY, BTN_LEFT, 1), (0.375, EV_SYN, SYN_REPORT, 0),
        (0.385, EV_KEY, BTN_LEFT, 0), (0.385, EV_SYN, SYN_REPORT, 0),
        (0.45, EV_REL, REL_WHEEL, -1), (0.45, EV_SYN, SYN_REPORT, 0),
        (0.55, EV_REL, REL_X, 127), (0.55, EV_SYN, SYN_REPORT, 0),
        (0.56, EV_REL, REL_X, 127), (0.56, EV_SYN, SYN_REPORT, 0),
        (0.57, EV_REL, REL_X, 46), (0.57, EV_SYN, SYN_REPORT, 0),
    ]


def test_open_submits_and_close_kills_the_urb(system: System) -> None:
    code = insmod_usbmouse(system)
    system.plug(BootMouse(), "1-1")
    system.settle()
    irq = mouse_state(system, code).irq  # type: ignore[attr-defined]
    assert irq.hcpriv is None
    afile = system.open("/dev/input/event0", "rb")
    assert irq.hcpriv is not None and irq.interval == 8  # bInterval 10, rounded down
    afile.close()
    assert irq.hcpriv is None


def test_an_error_is_resubmitted_without_a_report(system: System) -> None:
    insmod_usbmouse(system)
    mouse = BootMouse()
    system.plug(mouse, "1-1")
    system.settle()
    ep = mouse.endpoint(INTERRUPT_IN)
    assert ep is not None

    async def run() -> list[InputEvent]:
        afile = await system.aopen("/dev/input/event0", "rb")
        ep.halt()
        await asyncio.sleep(0.03)
        ep.clear_halt()
        mouse.move(2, 3)
        events = await read_events(afile)
        await afile.close()
        return events

    with UrbRecorder(system) as rec:
        events = system.run(run())
    assert [(e.type, e.code, e.value) for e in events] == [
        (EV_REL, REL_X, 2), (EV_REL, REL_Y, 3), (EV_SYN, SYN_REPORT, 0)]
    stalls = [e for e in rec.completed() if e.status == -Errno.EPIPE]
    assert len(stalls) >= 2  # each stall resubmitted, as -EPIPE is not a stop


def test_a_failed_resubmission_is_logged(system: System) -> None:
    code = insmod_usbmouse(system)
    mouse = BootMouse()
    system.plug(mouse, "1-1")
    system.settle()
    irq = mouse_state(system, code).irq  # type: ignore[attr-defined]

    async def run() -> list[InputEvent]:
        afile = await system.aopen("/dev/input/event0", "rb")
        usb_block_urb(irq)  # the next resubmission fails with -EPERM
        mouse.move(1, 0)
        events = await read_events(afile)
        await afile.close()
        return events

    assert [(e.type, e.code, e.value) for e in system.run(run())] == [
        (EV_REL, REL_X, 1), (EV_SYN, SYN_REPORT, 0)]
    assert "usb 1-1: can't resubmit intr, 0000:00:1d.0-1/input0, status -1" \
        in system.log.lines()


def test_unplug_while_events_stream(system: System) -> None:
    insmod_usbmouse(system)
    mouse = BootMouse()
    system.plug(mouse, "1-1")
    system.settle()

    async def run() -> int:
        afile = await system.aopen("/dev/input/event0", "rb")
        mouse.play(Script([(10 * n, Move(1, 1)) for n in range(50)]))
        await read_events(afile)
        system.unplug("1-1")
        try:
            while True:
                await read_events(afile)
        except OSError as exc:
            error = exc.errno or 0
        await afile.close()
        return error

    with UrbRecorder(system) as rec:
        error = system.run(run())
        system.settle()
    assert error == Errno.ENODEV
    interrupt = [(e.kind, e.status) for e in rec.events if e.pipe_type == PIPE_INTERRUPT]
    assert interrupt[-2:] == [("S", -Errno.EINPROGRESS), ("C", -Errno.ESHUTDOWN)]
    assert not system.vfs.exists("/dev/input/event0")
    assert not system.vfs.exists("/sys/class/input/input0")


def test_usbmouse_gets_the_mouse_only_before_usbhid(system: System) -> None:
    system.modules.autoload = True
    code = insmod_usbmouse(system)
    system.plug(BootMouse(), "1-1")
    system.settle()
    mouse_state(system, code)  # usbmouse bound first; udev loaded usbhid all the same
    assert system.modules.get("usbhid") is not None
    assert not system.vfs.exists("/sys/bus/hid/devices/0003:046D:C077.0001")
    system.unplug("1-1")
    system.settle()
    system.rmmod("usbmouse")
    system.plug(BootMouse(), "1-2")
    system.settle()
    system.insmod("usbmouse")
    udev = system.find_device("1-2")
    assert udev is not None
    intf = udev.interface(0)
    assert intf is not None and intf.driver is not None and intf.driver.name == "usbhid"


def test_udev_never_loads_usbmouse() -> None:
    with System() as machine:
        machine.add_controller()
        machine.plug(BootMouse(), "1-1")
        machine.settle()
        assert machine.modules.get("usbmouse") is None
        assert "usbmouse" not in machine.depmod()
