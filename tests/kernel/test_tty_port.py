"""tty ports (usbemu.kernel.tty_port): the port state machine and its table, the flags read
off it, the last close's wait for the output (closing_wait, drain_delay) on machine time,
HUPCL, close_delay for opens waiting for carrier, hangup, and the reference counts of ports
and ttys.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from usbemu_tests_tty_loopback import Loopback  # type: ignore[import-not-found]

from usbemu.errors import IllegalStateTransition
from usbemu.kernel.fs import O_NONBLOCK, O_RDWR
from usbemu.kernel.syscalls import AsyncFile
from usbemu.kernel.termios import (
    ASYNC_CLOSING_WAIT_NONE,
    TCSANOW,
    TIOCM_DTR,
    Cflag,
    cfsetspeed,
    tcgetattr,
    tcsetattr,
)
from usbemu.kernel.tty import TtyStruct, tty_kref_put
from usbemu.kernel.tty_port import (
    PortState,
    TtyPort,
    TtyPortFlag,
    TtyPortOperations,
    tty_port_active,
    tty_port_get,
    tty_port_initialized,
    tty_port_put,
    tty_port_set_cts_flow,
    tty_port_set_state,
    tty_port_tty_get,
)
from usbemu.system import System

DEV = "/dev/ttyLP0"


def tty_of(f: AsyncFile) -> TtyStruct:
    tty: TtyStruct = f.file.private_data.tty
    return tty


def test_the_state_table_refuses_illegal_moves() -> None:
    port = TtyPort()
    assert port.state is PortState.CLOSED and port.iflags == TtyPortFlag(0)
    with pytest.raises(IllegalStateTransition, match="closed -> active"):
        tty_port_set_state(port, PortState.ACTIVE)
    for state in (PortState.ACTIVATING, PortState.INITIALIZED, PortState.ACTIVE):
        tty_port_set_state(port, state)
    tty_port_set_cts_flow(port, True)
    assert port.iflags == TtyPortFlag.INITIALIZED | TtyPortFlag.ACTIVE | TtyPortFlag.CTS_FLOW
    tty_port_set_state(port, PortState.HUNG_UP)
    assert not tty_port_initialized(port) and not tty_port_active(port)
    with pytest.raises(IllegalStateTransition):
        tty_port_set_state(port, PortState.CLOSING)
    tty_port_set_state(port, PortState.ACTIVATING)


def test_references_to_ports_and_ttys(tty_machine: System, loopback: Loopback) -> None:
    destructed: list[TtyPort] = []
    port = TtyPort(TtyPortOperations(destruct=destructed.append))
    assert tty_port_get(port) is port
    tty_port_put(port)
    assert destructed == [] and port.kref == 1
    tty_port_put(port)
    tty_port_put(None)
    assert destructed == [port] and tty_port_get(port) is None

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        tty = tty_port_tty_get(loopback.lines[0].port)
        assert tty is tty_of(f)
        await f.close()
        await asyncio.sleep(0)
        seen: list[Any] = [loopback.calls[-1]]        # a reference is still held
        tty_kref_put(tty)
        await asyncio.sleep(0)
        seen.append(loopback.calls[-1])
        return seen

    assert tty_machine.run(scenario()) == ["tty shutdown 0", "cleanup 0"]


@pytest.mark.parametrize(("closing_wait", "drained_at", "closed_at"), [
    (3000, 1.0, 1.0),              # the output drains: close goes on at once
    (2000, None, 2.0),             # it does not: closing_wait runs out
    (ASYNC_CLOSING_WAIT_NONE, None, 0.0),
])
def test_the_last_close_waits_for_the_output(tty_machine: System, loopback: Loopback,
                                             closing_wait: int, drained_at: float | None,
                                             closed_at: float) -> None:
    line = loopback.lines[0]
    line.loop_back = False
    line.port.closing_wait = closing_wait

    async def scenario() -> float:
        f = await tty_machine.aopen(DEV, "rb+")
        line.stopped = True
        await f.write(b"unsent")
        loop = asyncio.get_running_loop()
        if drained_at is not None:
            loop.call_later(drained_at, line.start)
        start = loop.time()
        await f.close()
        return loop.time() - start

    assert tty_machine.run(scenario()) == pytest.approx(closed_at)
    assert line.port.state is PortState.CLOSED


def test_drain_delay_follows_the_speed(tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.port.drain_delay = 1000

    async def close_time(baud: int) -> float:
        f = await tty_machine.aopen(DEV, "rb+")
        t = await tcgetattr(f)
        cfsetspeed(t, baud)
        await tcsetattr(f, TCSANOW, t)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await f.close()
        return loop.time() - start

    assert tty_machine.run(close_time(9600)) == pytest.approx(1.041)   # whole jiffies
    assert tty_machine.run(close_time(1200)) == pytest.approx(2.0)
    assert tty_machine.run(close_time(921600)) == pytest.approx(0.1)


def test_hupcl_drops_dtr_on_the_last_close(tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def dtr_after_close(hupcl: bool) -> bool:
        f = await tty_machine.aopen(DEV, "rb+")
        t = await tcgetattr(f)
        t.c_cflag = t.c_cflag | Cflag.HUPCL if hupcl else t.c_cflag & ~Cflag.HUPCL
        await tcsetattr(f, TCSANOW, t)
        await f.close()
        return bool(line.mctrl & TIOCM_DTR)

    assert tty_machine.run(dtr_after_close(True)) is False
    assert tty_machine.run(dtr_after_close(False)) is True
    assert loopback.calls.count("shutdown 0") == 2


def test_close_delay_lets_a_waiting_open_start_over(tty_machine: System,
                                                   loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.set_modem(cd=False)

    async def scenario() -> list[Any]:
        loop = asyncio.get_running_loop()
        first = await tty_machine.aopen(DEV, O_RDWR | O_NONBLOCK)
        waiting = asyncio.ensure_future(tty_machine.aopen(DEV, "rb+"))
        await asyncio.sleep(1)
        seen: list[Any] = [line.port.blocked_open, line.port.count]
        start = loop.time()
        await first.close()                       # the port's last open: shut down
        seen += [loop.time() - start, line.port.state]
        await asyncio.sleep(0.1)
        seen += [loopback.calls.count("activate 0"), waiting.done()]
        line.set_modem(cd=True)
        f = await waiting
        await f.close()
        return seen

    assert tty_machine.run(scenario()) == [1, 1, 0.5, PortState.CLOSED, 2, False]
