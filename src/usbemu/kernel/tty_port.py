"""tty ports — counterpart of drivers/tty/tty_port.c and include/linux/tty_port.h.

A `TtyPort` is the part of a serial line that outlives its opens: the flip buffer, the
open count, the wait queues for carrier (`open_wait`) and modem-status changes
(`delta_msr_wait`), the interrupt counters of TIOCGICOUNT, the close timings and a
reference count.  Its hardware life is an explicit state machine (DESIGN.md §6) —
CLOSED → ACTIVATING → INITIALIZED → ACTIVE → CLOSING → CLOSED, and HUNG_UP after a hangup —
changed only by `tty_port_set_state`, which refuses moves its table does not allow.  The
open and close helpers do what Linux's do: activate the hardware on the first open and
raise DTR/RTS when a speed is set, wait for carrier unless CLOCAL or O_NONBLOCK, and on the
last close wait for the output to drain (closing_wait), drop DTR/RTS when HUPCL is set and
shut the hardware down.  Linux's INITIALIZED and ACTIVE port flags are read off the state
(`tty_port_initialized`, `tty_port_active`).  Not modelled: consoles, serdev, the transmit
kfifo helpers.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntFlag
from typing import TYPE_CHECKING, Any, Final

from ..errors import Errno, IllegalStateTransition
from .fs import O_NONBLOCK, File
from .printk import Level
from .termios import ASYNC_CLOSING_WAIT_NONE, ASYNC_HUP_NOTIFY, Cflag, SerialIcounter
from .tty import (
    HZ,
    TTY_IO_ERROR,
    TtyStruct,
    call_tty_op,
    tty_get_baud_rate,
    tty_hung_up_p,
    tty_io_error,
    tty_kref_get,
    tty_kref_put,
    tty_lock,
    tty_lock_held,
    tty_msg,
    tty_unlock,
    tty_wakeup,
)
from .tty_buffer import TtyBufHead, tty_buffer_cancel_work, tty_buffer_free_all
from .tty_io import (
    tty_hangup,
    tty_ldisc_flush,
    tty_register_device,
    tty_standard_install,
    tty_unregister_device,
    tty_vhangup,
)
from .tty_ioctl import tty_driver_flush_buffer, tty_wait_until_sent
from .wait import WaitQueueHead

if TYPE_CHECKING:
    from .devclass import ClassDevice
    from .device import Device
    from .tty import TtyDriver

__all__ = [
    "PortState",
    "TtyPort",
    "TtyPortClientOperations",
    "TtyPortFlag",
    "TtyPortOperations",
    "tty_port_active",
    "tty_port_block_til_ready",
    "tty_port_carrier_raised",
    "tty_port_close",
    "tty_port_close_end",
    "tty_port_close_start",
    "tty_port_default_client_ops",
    "tty_port_destroy",
    "tty_port_get",
    "tty_port_hangup",
    "tty_port_init",
    "tty_port_initialized",
    "tty_port_install",
    "tty_port_link_device",
    "tty_port_lower_dtr_rts",
    "tty_port_open",
    "tty_port_put",
    "tty_port_raise_dtr_rts",
    "tty_port_register_device",
    "tty_port_set_state",
    "tty_port_tty_get",
    "tty_port_tty_hangup",
    "tty_port_tty_set",
    "tty_port_tty_vhangup",
    "tty_port_tty_wakeup",
    "tty_port_unregister_device",
]


class PortState(Enum):
    """The hardware life of a port."""

    CLOSED = "closed"               #: not set up; no open has completed
    ACTIVATING = "activating"       #: the first open runs ops.activate
    INITIALIZED = "initialized"     #: set up; an open waits for carrier (block_til_ready)
    ACTIVE = "active"               #: open
    CLOSING = "closing"             #: the last close drains the output and shuts down
    HUNG_UP = "hung up"             #: shut down by a hangup; files may still be open


_NEXT: Final[dict[PortState, frozenset[PortState]]] = {
    PortState.CLOSED: frozenset({PortState.ACTIVATING}),
    PortState.ACTIVATING: frozenset({PortState.INITIALIZED, PortState.CLOSED}),
    PortState.INITIALIZED: frozenset({PortState.ACTIVE, PortState.CLOSING, PortState.HUNG_UP}),
    PortState.ACTIVE: frozenset({PortState.CLOSING, PortState.HUNG_UP}),
    PortState.CLOSING: frozenset({PortState.CLOSED, PortState.HUNG_UP}),
    PortState.HUNG_UP: frozenset({PortState.ACTIVATING}),
}
"""The legal moves of the port state machine."""

_INITIALIZED: Final = frozenset({PortState.INITIALIZED, PortState.ACTIVE, PortState.CLOSING})
_ACTIVE: Final = frozenset({PortState.ACTIVE, PortState.CLOSING})


class TtyPortFlag(IntFlag):
    """tty_port->iflags (TTY_PORT_*), as masks; INITIALIZED and ACTIVE follow the state."""

    INITIALIZED = 1 << 0
    SUSPENDED = 1 << 1
    ACTIVE = 1 << 2
    CTS_FLOW = 1 << 3
    CHECK_CD = 1 << 4
    KOPENED = 1 << 5


@dataclass(frozen=True, eq=False)
class TtyPortOperations:
    """struct tty_port_operations, every member optional: `carrier_raised(port)` → bool
    (atomic; without it the carrier is always up), `dtr_rts(port, active)` (a function or
    coroutine), `activate(port, tty)` → 0 or -errno and `shutdown(port)` (process context,
    under the port mutex), `destruct(port)` (the last reference is gone)."""

    carrier_raised: Callable[[TtyPort], bool] | None = None
    dtr_rts: Callable[[TtyPort, bool], Any] | None = None
    activate: Callable[[TtyPort, TtyStruct], Any] | None = None
    shutdown: Callable[[TtyPort], Any] | None = None
    destruct: Callable[[TtyPort], None] | None = None


@dataclass(frozen=True, eq=False)
class TtyPortClientOperations:
    """struct tty_port_client_operations: who takes the flip buffer's data —
    `receive_buf(port, chars, flags, count)` → bytes taken, `lookahead_buf(port, chars,
    flags, count)`, `write_wakeup(port)`; all atomic.  The default client is the line
    discipline of the open tty."""

    receive_buf: Callable[[TtyPort, memoryview, memoryview | None, int], int]
    lookahead_buf: Callable[[TtyPort, memoryview, memoryview | None, int], None] | None
    write_wakeup: Callable[[TtyPort], None]


def _default_receive_buf(port: TtyPort, chars: memoryview, flags: memoryview | None,
                         count: int) -> int:
    tty = port.itty
    if tty is None or tty.ldisc is None:
        return 0
    return tty.ldisc.receive_buf2(tty, chars, flags, count)


def _default_lookahead_buf(port: TtyPort, chars: memoryview, flags: memoryview | None,
                           count: int) -> None:
    tty = port.itty
    if tty is not None and tty.ldisc is not None:
        tty.ldisc.lookahead_buf(tty, chars, flags, count)


def _default_wakeup(port: TtyPort) -> None:
    tty = tty_port_tty_get(port)
    if tty is not None:
        tty_wakeup(tty)
        tty_kref_put(tty)


tty_port_default_client_ops: Final = TtyPortClientOperations(
    _default_receive_buf, _default_lookahead_buf, _default_wakeup)


class TtyPort:
    """struct tty_port.  `ops` are the driver's port operations, `client_ops` who takes
    received data; `tty` is the open tty the port holds a reference on, `itty` the tty
    installed on it.  `count` counts opens, `blocked_open` opens waiting for carrier;
    `flags` are the user's ASYNC_* flags (TIOCSSERIAL), `iflags` the TTY_PORT_* ones.
    Times are in jiffies (ms): `close_delay` (500), `closing_wait` (30000;
    ASYNC_CLOSING_WAIT_NONE: do not wait), `drain_delay` (0).  Created initialised
    (tty_port_init)."""

    ops: TtyPortOperations
    client_ops: TtyPortClientOperations
    buf: TtyBufHead
    tty: TtyStruct | None
    itty: TtyStruct | None
    count: int
    blocked_open: int
    flags: int
    _iflags: TtyPortFlag
    state: PortState
    open_wait: WaitQueueHead
    delta_msr_wait: WaitQueueHead
    icount: SerialIcounter
    close_delay: int
    closing_wait: int
    drain_delay: int
    console: bool
    mutex: asyncio.Lock
    kref: int
    driver_data: Any

    def __init__(self, ops: TtyPortOperations | None = None) -> None:
        tty_port_init(self)
        if ops is not None:
            self.ops = ops

    def __repr__(self) -> str:
        name = self.itty.name if self.itty is not None else "-"
        return f"<TtyPort {name} {self.state.value} count={self.count}>"

    @property
    def iflags(self) -> TtyPortFlag:
        """TTY_PORT_* flags, INITIALIZED and ACTIVE as the state says.  Context: atomic."""
        derived = TtyPortFlag(0)
        if self.state in _INITIALIZED:
            derived |= TtyPortFlag.INITIALIZED
        if self.state in _ACTIVE:
            derived |= TtyPortFlag.ACTIVE
        return self._iflags | derived

    @iflags.setter
    def iflags(self, value: TtyPortFlag) -> None:
        """Set the flags the state does not decide."""
        self._iflags = TtyPortFlag(value) & ~(TtyPortFlag.INITIALIZED | TtyPortFlag.ACTIVE)


def tty_port_init(port: TtyPort) -> None:
    """tty_port_init(): an unused port — empty flip buffer, no opens, default timings
    and client, one reference.  Context: atomic."""
    port.ops = TtyPortOperations()
    port.client_ops = tty_port_default_client_ops
    port.buf = TtyBufHead()
    port.tty = None
    port.itty = None
    port.count = 0
    port.blocked_open = 0
    port.flags = 0
    port._iflags = TtyPortFlag(0)
    port.state = PortState.CLOSED
    port.open_wait = WaitQueueHead()
    port.delta_msr_wait = WaitQueueHead()
    port.icount = SerialIcounter()
    port.close_delay = 50 * HZ // 100
    port.closing_wait = 3000 * HZ // 100
    port.drain_delay = 0
    port.console = False
    port.mutex = asyncio.Lock()
    port.kref = 1
    port.driver_data = None


def tty_port_set_state(port: TtyPort, new: PortState) -> None:
    """The one transition function of the port state machine.  Raises
    IllegalStateTransition for a move the table does not allow.  Context: atomic."""
    if new not in _NEXT[port.state]:
        raise IllegalStateTransition(f"tty port {port!r}: {port.state.value} -> {new.value}")
    port.state = new


def tty_port_initialized(port: TtyPort) -> bool:
    """tty_port_initialized(): the hardware is set up (activated, not yet shut down).
    Context: atomic."""
    return port.state in _INITIALIZED


def tty_port_active(port: TtyPort) -> bool:
    """tty_port_active(): an open completed and the port is not closed or hung up.
    Context: atomic."""
    return port.state in _ACTIVE


def tty_port_check_carrier(port: TtyPort) -> bool:
    """TTY_PORT_CHECK_CD: the driver watches carrier detect (no CLOCAL).  Context: atomic."""
    return bool(port._iflags & TtyPortFlag.CHECK_CD)


def tty_port_set_check_carrier(port: TtyPort, value: bool) -> None:
    """Set or clear TTY_PORT_CHECK_CD.  Context: atomic."""
    port._iflags = (port._iflags | TtyPortFlag.CHECK_CD if value
                    else port._iflags & ~TtyPortFlag.CHECK_CD)


def tty_port_cts_enabled(port: TtyPort) -> bool:
    """TTY_PORT_CTS_FLOW: hardware flow control on CTS.  Context: atomic."""
    return bool(port._iflags & TtyPortFlag.CTS_FLOW)


def tty_port_set_cts_flow(port: TtyPort, value: bool) -> None:
    """Set or clear TTY_PORT_CTS_FLOW.  Context: atomic."""
    port._iflags = (port._iflags | TtyPortFlag.CTS_FLOW if value
                    else port._iflags & ~TtyPortFlag.CTS_FLOW)


# -- references, the tty of a port ------------------------------------------------------------


def tty_port_get(port: TtyPort | None) -> TtyPort | None:
    """tty_port_get(): a reference on `port` (None when it is already being destroyed).
    Context: atomic."""
    if port is None or port.kref <= 0:
        return None
    port.kref += 1
    return port


def tty_port_destroy(port: TtyPort) -> None:
    """tty_port_destroy(): forget the flush work and every buffer.  Context: atomic."""
    tty_buffer_cancel_work(port)
    tty_buffer_free_all(port)


def tty_port_put(port: TtyPort | None) -> None:
    """tty_port_put(): drop a reference; the last one destroys the port and calls the
    driver's `destruct`.  Context: atomic."""
    if port is None:
        return
    port.kref -= 1
    if port.kref == 0:
        tty_port_destroy(port)
        if port.ops.destruct is not None:
            port.ops.destruct(port)


def tty_port_tty_get(port: TtyPort) -> TtyStruct | None:
    """tty_port_tty_get(): the open tty with a reference (give it back with
    tty_kref_put), or None.  Context: atomic."""
    return tty_kref_get(port.tty)


def tty_port_tty_set(port: TtyPort, tty: TtyStruct | None) -> None:
    """tty_port_tty_set(): make `tty` the port's open tty (references moved).  Context:
    atomic."""
    tty_kref_put(port.tty)
    port.tty = tty_kref_get(tty)


def tty_port_tty_wakeup(port: TtyPort) -> None:
    """tty_port_tty_wakeup(): the driver can take more output (the client's
    write_wakeup: tty_wakeup of the open tty).  Context: atomic."""
    port.client_ops.write_wakeup(port)


def tty_port_tty_hangup(port: TtyPort, check_clocal: bool) -> None:
    """tty_port_tty_hangup(): queue a hangup of the open tty (not when `check_clocal` and
    CLOCAL is set).  Context: atomic."""
    tty = tty_port_tty_get(port)
    if tty is not None and (not check_clocal or not tty.termios.c_cflag & Cflag.CLOCAL):
        tty_hangup(tty)
    tty_kref_put(tty)


async def tty_port_tty_vhangup(port: TtyPort) -> None:
    """tty_port_tty_vhangup(): hang the open tty up now (a device going away).  Context:
    may sleep."""
    tty = tty_port_tty_get(port)
    if tty is not None:
        await tty_vhangup(tty)
    tty_kref_put(tty)


# -- registration ---------------------------------------------------------------------------------


def tty_port_link_device(port: TtyPort, driver: TtyDriver, index: int) -> None:
    """tty_port_link_device(): `port` is line `index` of `driver`.  Raises ValueError
    for an index outside the driver's lines.  Context: atomic."""
    if not 0 <= index < driver.num:
        raise ValueError(f"{driver.name}: line {index} (the driver has {driver.num})")
    driver.ports[index] = port


async def tty_port_register_device(port: TtyPort, driver: TtyDriver, index: int,
                                   parent: Device | None) -> ClassDevice:
    """tty_port_register_device(): link the port, then tty_register_device.  Returns the
    class device; raises OSError as tty_register_device.  Context: may sleep."""
    tty_port_link_device(port, driver, index)
    return await tty_register_device(driver, index, parent)


async def tty_port_unregister_device(port: TtyPort, driver: TtyDriver, index: int) -> None:
    """tty_port_unregister_device(): tty_unregister_device.  Context: may sleep."""
    await tty_unregister_device(driver, index)


def tty_port_install(port: TtyPort, driver: TtyDriver, tty: TtyStruct) -> int:
    """tty_port_install(): a driver's install with `port` — tty_standard_install.
    Returns 0.  Context: may sleep (called from install)."""
    tty.port = port
    return tty_standard_install(driver, tty)


# -- modem lines ---------------------------------------------------------------------------------


def tty_port_carrier_raised(port: TtyPort) -> bool:
    """tty_port_carrier_raised(): the driver's answer, True without one.  Context:
    atomic."""
    if port.ops.carrier_raised is None:
        return True
    return bool(port.ops.carrier_raised(port))


async def _dtr_rts(port: TtyPort, active: bool) -> None:
    if port.ops.dtr_rts is not None:
        result = port.ops.dtr_rts(port, active)
        if inspect.isawaitable(result):
            await result


async def tty_port_raise_dtr_rts(port: TtyPort) -> None:
    """tty_port_raise_dtr_rts(): the driver's dtr_rts(port, True).  Context: may sleep."""
    await _dtr_rts(port, True)


async def tty_port_lower_dtr_rts(port: TtyPort) -> None:
    """tty_port_lower_dtr_rts(): the driver's dtr_rts(port, False).  Context: may sleep."""
    await _dtr_rts(port, False)


# -- open, close, hangup ---------------------------------------------------------------------------


def _set_active(port: TtyPort) -> None:
    if port.state is PortState.INITIALIZED:
        tty_port_set_state(port, PortState.ACTIVE)


async def tty_port_block_til_ready(port: TtyPort, tty: TtyStruct, file: File | None) -> int:
    """tty_port_block_til_ready(): let an open through — at once for a tty with an I/O
    error, for O_NONBLOCK (DTR/RTS raised if a speed is set) or CLOCAL, else when carrier
    is up, raising DTR/RTS meanwhile.  Returns 0, or -ERESTARTSYS when the tty is hung up
    or the port shut down meanwhile (-EAGAIN with ASYNC_HUP_NOTIFY).  Called with the tty
    lock held; it is released while waiting.  Context: may sleep."""
    if tty_io_error(tty):
        _set_active(port)
        return 0
    baud = bool(tty.termios.c_cflag & Cflag.CBAUD)
    if file is None or file.f_flags & O_NONBLOCK:
        if baud:
            await tty_port_raise_dtr_rts(port)
        _set_active(port)
        return 0
    do_clocal = bool(tty.termios.c_cflag & Cflag.CLOCAL)
    retval = 0
    port.count -= 1
    port.blocked_open += 1
    while True:
        if tty.termios.c_cflag & Cflag.CBAUD and tty_port_initialized(port):
            await tty_port_raise_dtr_rts(port)
        if tty_hung_up_p(file) or not tty_port_initialized(port):
            retval = -Errno.EAGAIN if port.flags & ASYNC_HUP_NOTIFY else -Errno.ERESTARTSYS
            break
        if do_clocal or tty_port_carrier_raised(port):
            break
        fut = port.open_wait.add_waiter()
        held = tty_lock_held(tty)
        if held:
            tty_unlock(tty)
        try:
            await fut
        finally:
            port.open_wait.remove_waiter(fut)
            if held:
                await tty_lock(tty)
    if not tty_hung_up_p(file):
        port.count += 1
    port.blocked_open -= 1
    if retval == 0:
        _set_active(port)
    return retval


async def tty_port_open(port: TtyPort, tty: TtyStruct, file: File | None) -> int:
    """tty_port_open(): a driver's open with `port` — count it, make the port hold the
    tty, activate the hardware on the first open (ops.activate; its error is returned),
    then tty_port_block_til_ready.  Context: may sleep (tty lock held)."""
    port.count += 1
    tty_port_tty_set(port, tty)
    async with port.mutex:
        if not tty_port_initialized(port):
            tty.flags &= ~TTY_IO_ERROR
            tty_port_set_state(port, PortState.ACTIVATING)
            retval = 0
            if port.ops.activate is not None:
                try:
                    retval = await call_tty_op(port.ops.activate, port, tty) or 0
                except BaseException:
                    tty_port_set_state(port, PortState.CLOSED)
                    raise
            if retval:
                tty_port_set_state(port, PortState.CLOSED)
                return int(retval)
            tty_port_set_state(port, PortState.INITIALIZED)
    return await tty_port_block_til_ready(port, tty, file)


async def _shutdown(port: TtyPort, tty: TtyStruct | None, after: PortState) -> None:
    """tty_port_shutdown(): once set up, the port leaves that state for `after`, drops
    DTR/RTS (HUPCL) and the driver shuts the hardware down."""
    async with port.mutex:
        if not tty_port_initialized(port):
            return
        tty_port_set_state(port, after)
        if tty is not None and tty.termios.c_cflag & Cflag.HUPCL:
            await tty_port_lower_dtr_rts(port)
        if port.ops.shutdown is not None:
            await call_tty_op(port.ops.shutdown, port)


async def tty_port_hangup(port: TtyPort) -> None:
    """tty_port_hangup(): the driver's hangup — no opens left, TTY_IO_ERROR on the open
    tty, the hardware shut down, sleepers on the port woken.  Context: may sleep."""
    port.count = 0
    tty = port.tty
    if tty is not None:
        tty.flags |= TTY_IO_ERROR
    port.tty = None
    await _shutdown(port, tty, PortState.HUNG_UP)
    tty_kref_put(tty)
    port.open_wait.wake_up()
    port.delta_msr_wait.wake_up()


async def _drain_delay(port: TtyPort, tty: TtyStruct) -> None:
    """tty_port_drain_delay(): the time the last characters need on the wire."""
    bps = tty_get_baud_rate(tty)
    timeout = max(HZ * 10 * port.drain_delay // bps, HZ // 10) if bps > 1200 else 2 * HZ
    await asyncio.sleep(timeout / HZ)


async def tty_port_close_start(port: TtyPort, tty: TtyStruct, file: File | None) -> int:
    """tty_port_close_start(): count a close down; on the last, wait until the output
    drained (closing_wait, then drain_delay) and flush the input.  Returns 1 when the
    port must now be shut down, else 0.  Context: may sleep."""
    if tty_hung_up_p(file):
        return 0
    if tty.count == 1 and port.count != 1:
        tty_msg(tty, Level.WARNING,
                f"tty_port_close_start: tty->count = 1 port count = {port.count}")
        port.count = 1
    port.count -= 1
    if port.count < 0:
        tty_msg(tty, Level.WARNING, f"tty_port_close_start: bad port count ({port.count})")
        port.count = 0
    if port.count:
        return 0
    tty.closing = True
    if tty_port_initialized(port):
        if port.state is not PortState.CLOSING:
            tty_port_set_state(port, PortState.CLOSING)
        if tty.flow.tco_stopped:
            tty_driver_flush_buffer(tty)
        if port.closing_wait != ASYNC_CLOSING_WAIT_NONE:
            await tty_wait_until_sent(tty, port.closing_wait)
        if port.drain_delay:
            await _drain_delay(port, tty)
    tty_ldisc_flush(tty)
    return 1


async def tty_port_close_end(port: TtyPort, tty: TtyStruct) -> None:
    """tty_port_close_end(): flush the input again; opens waiting for carrier are woken
    after close_delay.  Context: may sleep."""
    tty_ldisc_flush(tty)
    tty.closing = False
    if port.blocked_open:
        if port.close_delay:
            await asyncio.sleep(port.close_delay / HZ)
        port.open_wait.wake_up()


async def tty_port_close(port: TtyPort, tty: TtyStruct, file: File | None) -> None:
    """tty_port_close(): a driver's close with `port` — on the last close, drain, shut
    down, TTY_IO_ERROR, and the port lets the tty go.  Context: may sleep."""
    if await tty_port_close_start(port, tty, file) == 0:
        return
    await _shutdown(port, tty, PortState.CLOSED)
    if not port.console:
        tty.flags |= TTY_IO_ERROR
    await tty_port_close_end(port, tty)
    tty_port_tty_set(port, None)
