"""Drivers that misbehave — a probe that never returns, a probe that raises what asyncio
treats as fatal, a driver that loops on synchronous messages — are contained as Linux
contains them: reported, the bind fails or waits, and the rest of the machine goes on.
Each test is bounded by `hang_guard`: a regression fails instead of hanging."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from usbemu.core.devtable import usb_device
from usbemu.core.driver import UsbDriver, usb_register
from usbemu.core.message import usb_bulk_msg, usb_control_msg
from usbemu.core.urb import PIPE_BULK, make_pipe
from usbemu.core.usb import UsbDevice, UsbInterface
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.zero import GadgetZero
from usbemu.errors import Errno, SettleTimeout
from usbemu.kernel.hung_task import HUNG_TASK_TIMEOUT_S
from usbemu.system import SETTLE_TIMEOUT_S, System
from usbemu.testing import blacklist

pytestmark = pytest.mark.usefixtures("hang_guard")

PEN = usb_device(0x058F, 0x6387)


@pytest.fixture
def system() -> Any:
    with System() as machine:
        blacklist(machine, "usb_storage", "uas")  # the pen drive is for the misfits alone
        machine.add_controller()
        yield machine


def register(system: System, probe: Any, name: str = "misfit") -> UsbDriver:
    driver = UsbDriver(name, id_table=[PEN], probe=probe)
    system.run(usb_register(system.usb, driver))
    return driver


def bulk_pipes(udev: UsbDevice) -> tuple[int, int]:
    """gadget zero's loopback pair: (OUT pipe, IN pipe)."""
    eps = [h for i in udev.interfaces() for h in i.cur_altsetting.endpoint if h.type == 2]
    out_ep = next(h.address for h in eps if not h.address & 0x80)
    in_ep = next(h.address for h in eps if h.address & 0x80)
    return (make_pipe(udev, PIPE_BULK, out_ep, False), make_pipe(udev, PIPE_BULK, in_ep, True))


def bound_driver(system: System, path: str) -> str | None:
    udev = system.find_device(path)
    assert udev is not None
    intf = next(udev.interfaces())
    return None if intf.driver is None else intf.driver.name


# -- a probe that never returns ------------------------------------------------------------------


async def wait_for_firmware_that_never_comes(intf: UsbInterface, id: object) -> int:
    await asyncio.Event().wait()
    return 0


def test_a_probe_that_never_returns_is_reported_and_settle_gives_up(system: System) -> None:
    register(system, wait_for_firmware_that_never_comes)
    system.plug(PenDrive(), "1-1")
    start = system.time()
    with pytest.raises(SettleTimeout, match=r"did not settle within 180 s: hub_wq is handling "
                                            r"hub 1-0:1.0; probe of 1-1:1.0 by driver misfit "
                                            r"\(for 17\d\.\d+ s\)"):
        system.settle()
    assert system.time() - start == pytest.approx(SETTLE_TIMEOUT_S)
    dmesg = system.dmesg()
    assert "INFO: task hub_wq blocked for more than 120 seconds." in dmesg
    assert '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.' in dmesg
    trace = dmesg.split("Call Trace:")[1].split("</TASK>")[0]
    assert " wait_for_firmware_that_never_comes (" in trace   # the blocked probe, by name
    assert trace.index(" device_attach") < trace.index(" wait_for_firmware")
    assert dmesg.count("INFO: task") == 1                       # once per blocked probe


def test_the_report_comes_after_120_seconds_of_machine_time(system: System) -> None:
    register(system, wait_for_firmware_that_never_comes)
    system.plug(PenDrive(), "1-1")
    system.sleep((HUNG_TASK_TIMEOUT_S - 1) * 1000)
    assert "INFO: task" not in system.dmesg()
    system.sleep(2000)
    assert "INFO: task hub_wq blocked" in system.dmesg()


def test_the_rest_of_the_machine_works_while_a_probe_is_blocked(system: System) -> None:
    system.plug(GadgetZero(loopdefault=True), "1-2")
    system.settle()
    register(system, wait_for_firmware_that_never_comes)
    system.plug(PenDrive(), "1-1")
    with pytest.raises(SettleTimeout):
        system.settle()
    # another bus enumerates, its device configured
    system.run(system.aadd_controller())
    system.plug(GadgetZero(), "2-1")
    system.sleep(2000)
    other = system.find_device("2-1")
    assert other is not None and other.actconfig is not None
    # file operations and I/O on a device enumerated before keep working
    zero = system.find_device("1-2")
    assert zero is not None
    out_pipe, in_pipe = bulk_pipes(zero)
    buf = bytearray(64)
    assert system.run(usb_bulk_msg(zero, out_pipe, b"ping", 4, 1000))[0] == 0
    assert system.run(usb_bulk_msg(zero, in_pipe, buf, 64, 1000)) == (0, 4)
    with system.open("/sys/bus/usb/devices/1-2/idVendor") as f:
        assert f.read() == b"0525\n"


def test_a_machine_with_a_blocked_probe_still_closes() -> None:
    system = System()
    system.boot()
    system.add_controller()
    register(system, wait_for_firmware_that_never_comes)
    system.plug(PenDrive(), "1-1")
    system.sleep(1000)
    system.close()
    assert system.loop.is_closed()


# -- a probe that raises what asyncio treats as fatal --------------------------------------------


@pytest.mark.parametrize("exc", [asyncio.CancelledError, KeyboardInterrupt, SystemExit])
def test_a_probe_raising_a_base_exception_is_contained(system: System,
                                                       exc: type[BaseException]) -> None:
    async def probe(intf: UsbInterface, id: object) -> int:
        raise exc()

    register(system, probe)
    system.plug(PenDrive(), "1-1")
    system.settle()
    assert bound_driver(system, "1-1") is None
    dmesg = system.dmesg()
    assert "probe of 1-1:1.0 by driver misfit" in dmesg
    assert exc.__name__ in dmesg
    # the hub worker lives: the next device enumerates and settle returns
    system.plug(PenDrive(), "1-2")
    system.settle()
    assert system.find_device("1-2") is not None
    system.unplug("1-1")
    system.settle()
    assert system.find_device("1-1") is None


# -- a driver looping on synchronous messages ---------------------------------------------------


def test_a_driver_looping_on_usb_bulk_msg_does_not_keep_an_unplug_from_being_handled(
        system: System) -> None:
    """The loop never checks the status (a careless driver): it stops only when disconnect
    tells it to, so the unplug must be handled while it runs."""
    gone: list[UsbDevice] = []
    disconnected = UsbDriver("looper", id_table=[usb_device(0x0525, 0xA4A0)],
                             probe=lambda intf, id: 0,
                             disconnect=lambda intf: gone.append(intf))
    system.run(usb_register(system.usb, disconnected))
    system.plug(GadgetZero(loopdefault=True), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    out_pipe, _ = bulk_pipes(udev)

    async def careless() -> int:
        messages = 0
        while not gone:
            await usb_bulk_msg(udev, out_pipe, b"x" * 64, 64, 1000)
            messages += 1
        return messages

    async def scenario() -> int:
        stream = asyncio.create_task(careless())
        await asyncio.sleep(0)
        system.unplug("1-1")
        return await stream

    assert system.run(scenario()) > 0
    assert gone
    system.settle()
    assert system.find_device("1-1") is None


@pytest.mark.parametrize("kind", ["bulk", "control"])
def test_a_driver_looping_on_a_gone_device_lets_machine_time_pass(system: System,
                                                                   kind: str) -> None:
    """After the disconnect every message fails at once (a bulk message with -EINVAL: its
    endpoint is gone; a control message with -ENODEV); a loop that ignores it still yields,
    and the clock still moves."""
    system.plug(GadgetZero(loopdefault=True), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    out_pipe, _ = bulk_pipes(udev)
    system.unplug("1-1")
    system.settle()
    control_pipe = make_pipe(udev, 0, 0, False)

    async def message() -> int:
        if kind == "bulk":
            return (await usb_bulk_msg(udev, out_pipe, b"x", 1, 1000))[0]
        return await usb_control_msg(udev, control_pipe, 0x09, 0, 1, 0, None, 0, 1000)

    async def careless() -> set[int]:
        statuses: set[int] = set()
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() < start + 1.0:
            statuses.add(await message())
        return statuses

    assert system.run(careless()) == {-Errno.EINVAL if kind == "bulk" else -Errno.ENODEV}
