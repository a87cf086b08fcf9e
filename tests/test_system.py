"""System, one emulated machine: virtual time, plugging by port path (and the errors for
paths that do not lead anywhere), settle, a clean close, and machines that do not
interfere with each other or with the facade's idea of "the machine this code runs on".
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator

import pytest

from usbemu import linux
from usbemu.core.driver import UsbDriver
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.kernel.vtime import MAX_SLEEP_MS, VirtualTimeLoop, VirtualTimeStall
from usbemu.spec.ch9 import DeviceState
from usbemu.system import System
from usbemu.testing import blacklist


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


# -- virtual time ---------------------------------------------------------------------------


def test_a_task_that_stops_virtual_time_is_named_and_run_returns(system: System) -> None:
    """A foreground task that spins on `asyncio.sleep(0)` waiting for a timer would hang
    the process on virtual time: run() raises VirtualTimeStall naming it (after it was
    cancelled and unwound), and the machine goes on working."""
    assert isinstance(system.loop, VirtualTimeLoop)
    system.loop.stall_passes = 20_000
    done: list[bool] = []

    async def wait_for_the_timer_by_spinning() -> None:
        asyncio.get_running_loop().call_later(0.5, done.append, True)
        while not done:
            await asyncio.sleep(0)

    with pytest.raises(VirtualTimeStall, match="wait_for_the_timer_by_spinning"):
        system.run(wait_for_the_timer_by_spinning())
    start = system.time()
    system.sleep(10)
    assert system.time() - start == pytest.approx(0.01) and done == []
    system.settle()


def test_a_timer_past_the_end_of_the_clock_fails_the_call(system: System) -> None:
    with pytest.raises(ValueError, match="past the end of the virtual clock, KTIME_MAX"):
        system.run(asyncio.sleep(1e12))

    async def wait_very_long() -> None:
        await asyncio.wait_for(asyncio.get_running_loop().create_future(), 1e300)

    with pytest.raises(ValueError, match="past the end of the virtual clock, KTIME_MAX"):
        system.run(wait_very_long())
    system.sleep(1)


def test_virtual_time_jumps_over_sleeps() -> None:
    with System() as machine:
        start = machine.time()
        machine.sleep(5000)
        assert machine.time() - start == pytest.approx(5.0, abs=1e-9)

        async def nap() -> float:
            loop = asyncio.get_running_loop()
            before = loop.time()
            await asyncio.sleep(5)
            return loop.time() - before

        assert machine.run(nap()) == pytest.approx(5.0, abs=1e-9)
        assert machine.loop.time() - start == pytest.approx(10.0, abs=1e-9)


def test_timers_fire_in_order_of_machine_time() -> None:
    with System() as machine:
        fired: list[tuple[str, float]] = []

        async def scenario() -> None:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for name, delay in (("c", 3.0), ("a", 0.001), ("b", 2.5)):
                loop.call_later(delay, lambda n=name: fired.append((n, loop.time() - t0)))
            await asyncio.sleep(4)

        machine.run(scenario())
        assert [n for n, _ in fired] == ["a", "b", "c"]
        assert [round(t, 6) for _, t in fired] == [0.001, 2.5, 3.0]


def _clock_ns(machine: System) -> int:
    assert isinstance(machine.loop, VirtualTimeLoop)
    return machine.loop.time_ns()


@pytest.mark.usefixtures("hang_guard")
def test_a_sleep_up_to_the_limit_advances_the_clock_exactly(system: System) -> None:
    """30 days (the limit) and a microsecond less, one after the other from an odd clock
    value: each moves the clock by exactly that many nanoseconds."""
    system.plug(PenDrive(), "1-1")
    system.settle()
    for ms, ns in ((MAX_SLEEP_MS - 0.001, 2_591_999_999_999_000),
                   (MAX_SLEEP_MS, 2_592_000_000_000_000),
                   (MAX_SLEEP_MS - 0.001, 2_591_999_999_999_000)):
        before = _clock_ns(system)
        system.sleep(ms)
        assert _clock_ns(system) - before == ns


@pytest.mark.usefixtures("hang_guard")
def test_a_machine_keeps_working_after_its_clock_passes_1e8_s(system: System) -> None:
    """Forty sleeps of 30 days (the clock past 1e8 s, where a 1 ns clock resolution no
    longer moves a float), then a device is unplugged and another enumerated."""
    system.plug(PenDrive(), "1-1")
    system.settle()
    for _ in range(40):
        system.sleep(MAX_SLEEP_MS)
    assert system.time() > 1e8
    system.unplug("1-1")
    system.settle()
    system.plug(PenDrive(), "1-2")
    system.settle()
    device = system.find_device("1-2")
    assert device is not None and device.actconfig is not None
    assert "] usb 1-2: New USB device found, idVendor=058f" in system.dmesg()


@pytest.mark.usefixtures("hang_guard")
@pytest.mark.parametrize("ms", [math.nan, math.inf, -math.inf, -1, MAX_SLEEP_MS + 0.001,
                                1e11, 1e300])
def test_an_absurd_sleep_is_refused_and_time_stands_still(system: System, ms: float) -> None:
    before = _clock_ns(system)
    with pytest.raises(ValueError, match=re.escape(
            f"cannot sleep {ms} ms: a sleep is 0 to 2592000000 ms (30 days) of machine time")):
        system.sleep(ms)
    assert _clock_ns(system) == before


# -- plugging by port path ------------------------------------------------------------------


def test_plug_settle_unplug(system: System) -> None:
    drive = PenDrive()
    system.plug(drive, "1-2")
    assert system.find_device("1-2") is None  # nothing happens until the loop runs
    system.settle()
    udev = system.find_device("1-2")
    assert udev is not None and udev.state is DeviceState.CONFIGURED
    assert system.unplug("1-2") is drive
    system.settle()
    assert system.find_device("1-2") is None
    assert udev.state is DeviceState.NOTATTACHED
    assert system.unplug("1-2") is None  # an empty root port


def test_plug_behind_a_hub(system: System) -> None:
    system.plug(Hub(ports=4), "1-1")
    system.settle()
    drive = PenDrive()
    system.plug(drive, "1-1.3")
    system.sleep(300)  # the hub reports the change at its next poll
    system.settle()
    udev = system.find_device("1-1.3")
    assert udev is not None and udev.state is DeviceState.CONFIGURED
    assert system.unplug("1-1.3") is drive


@pytest.mark.parametrize(("path", "message"), [
    ("2-1", "'2-1': there is no bus 2"),
    ("1-9", "'1-9': root hub port 9 does not exist (ports 1..6)"),
    ("1-0", "'1-0': root hub port 0 does not exist (ports 1..6)"),
    ("1-9.1", "'1-9.1': root hub port 9 does not exist (ports 1..6)"),
    ("1-2.1", "'1-2.1': no hub is plugged in at 1-2"),     # a pen drive in the middle
    ("1-3.1", "'1-3.1': no hub is plugged in at 1-3"),     # nothing in the middle
    ("1-1.7", "'1-1.7': "),                                # the hub has 4 ports
    ("usb1", "'usb1' is not a port path like 1-1 or 1-1.4"),
    ("1-x", "'1-x' is not a port path like 1-1 or 1-1.4"),
])
def test_bad_port_paths(system: System, path: str, message: str) -> None:
    system.plug(Hub(ports=4), "1-1")
    system.plug(PenDrive(), "1-2")
    system.settle()
    with pytest.raises(ValueError) as plug_error:
        system.plug(PenDrive(), path)
    assert str(plug_error.value).startswith(message)
    if path == "1-1.7":
        assert "4" in str(plug_error.value) and "7" in str(plug_error.value)
    with pytest.raises(ValueError) as unplug_error:
        system.unplug(path)
    assert str(unplug_error.value).startswith(message)


def test_occupied_port_and_twice_plugged_model(system: System) -> None:
    drive = PenDrive()
    system.plug(drive, "1-1")
    with pytest.raises(ValueError, match=r"^'1-1': root hub port 1 already holds"):
        system.plug(PenDrive(), "1-1")
    with pytest.raises(ValueError, match=r"^'1-2': .* already plugged in"):
        system.plug(drive, "1-2")


# -- closing --------------------------------------------------------------------------------


def test_close_leaves_no_pending_tasks() -> None:
    machine = System()
    machine.boot()
    machine.add_controller()
    machine.plug(PenDrive(), "1-1")
    machine.settle()

    async def background() -> None:
        await asyncio.sleep(3600)

    straggler = machine.loop.create_task(background())
    tasks = [t for t in asyncio.all_tasks(machine.loop) if not t.done()]
    assert straggler in tasks
    machine.close()
    assert machine.loop.is_closed()
    assert all(t.done() for t in tasks) and straggler.cancelled()
    assert "usb 1-1: USB disconnect, device number 2" in machine.log.lines()
    assert "ehci-pci 0000:00:1d.0: USB bus 1 deregistered" in machine.log.lines()
    machine.close()  # a second close is a no-op


# -- two machines ---------------------------------------------------------------------------


def test_two_machines_do_not_interfere() -> None:
    with System() as one, System() as two:
        one.add_controller()
        blacklist(one, "usb_storage", "uas")
        two.add_controller()
        blacklist(two, "usb_storage", "uas")
        one.plug(PenDrive(), "1-1")
        one.settle()
        two.sleep(5000)
        assert one.find_device("1-1") is not None and two.find_device("1-1") is None
        assert two.time() - one.time() > 4.0  # separate clocks
        two.plug(PenDrive(), "1-1")
        two.settle()
        a, b = one.find_device("1-1"), two.find_device("1-1")
        assert a is not None and b is not None and a is not b
        assert a.devnum == b.devnum == 2  # separate address spaces

        # the facade acts on the machine the code runs on
        probed: list[str] = []

        def make_driver() -> UsbDriver:
            return linux.usb_driver(name="pen_driver",
                                    id_table=[linux.USB_DEVICE(0x058F, 0x6387)],
                                    probe=lambda intf, id: probed.append(intf.name))

        drv_two = make_driver()
        assert two.run(linux.usb_register(drv_two)) == 0
        assert drv_two in two.usb.bus_type.drivers
        assert one.usb.bus_type.find_driver("pen_driver") is None
        assert one.run(linux.usb_register(make_driver())) == 0  # no name clash across machines
        assert probed == ["1-1:1.0", "1-1:1.0"]
        two.run(_say("on two"))
        assert "on two" in two.log.lines() and "on two" not in one.log.lines()
        one.unplug("1-1")
        one.settle()
        assert two.find_device("1-1") is not None
        assert b.state is DeviceState.CONFIGURED


async def _say(text: str) -> None:
    linux.printk(linux.KERN_INFO + text)


def test_real_time_machine_enumerates_on_the_real_clock() -> None:
    from usbemu.emulated.models.pendrive import PenDrive
    from usbemu.kernel.vtime import VirtualTimeLoop

    with System(virtual=False) as system:
        assert not isinstance(system.loop, VirtualTimeLoop)
        blacklist(system, "usb_storage", "uas")  # its scan waits delay_use=1 s
        system.add_controller()
        system.plug(PenDrive(), "1-1")
        system.settle()
        device = system.find_device("1-1")
        assert device is not None and device.actconfig is not None
