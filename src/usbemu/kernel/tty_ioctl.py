"""tty settings and flow control — counterpart of drivers/tty/tty_ioctl.c.

The driver queries with their defaults (`tty_write_room`: 2048 without a method,
`tty_chars_in_buffer`: 0), throttling (`tty_throttle_safe`, `tty_unthrottle_safe`,
`tty_unthrottle`: the driver's method is called once per change, TTY_THROTTLED remembers
it), `tty_wait_until_sent`, `tty_set_termios` (the driver's set_termios with the old
settings, or tty_termios_copy_hw for a driver without one, then the line discipline's) and
the ioctls every line discipline shares: TCGETS/TCSETS/TCSETSW/TCSETSF and their termios2
(TCGETS2 …) and termio (TCGETA …) forms, TIOCGLCKTRMIOS/TIOCSLCKTRMIOS, TIOCGSOFTCAR/
TIOCSSOFTCAR, TCXONC and TCFLSH.  A user buffer is what the application passed to ioctl:
a bytearray or memoryview the call fills or reads (a bytes object can only be read); a
missing or short one is -EFAULT, as a bad user pointer is.  Not modelled: job control
(tty_check_change lets every caller through), the BSD sgttyb calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from ..errors import Errno
from .fs import ENOIOCTLCMD
from .termios import (
    DISABLED_CHAR,
    TCFLSH,
    TCGETA,
    TCGETS,
    TCGETS2,
    TCIFLUSH,
    TCIOFF,
    TCIOFLUSH,
    TCION,
    TCOFLUSH,
    TCOOFF,
    TCOON,
    TCSETA,
    TCSETAF,
    TCSETAW,
    TCSETS,
    TCSETS2,
    TCSETSF,
    TCSETSF2,
    TCSETSW,
    TCSETSW2,
    TCXONC,
    TIOCGLCKTRMIOS,
    TIOCGSOFTCAR,
    TIOCSLCKTRMIOS,
    TIOCSSOFTCAR,
    VSTART,
    VSTOP,
    Cflag,
    Ktermios,
    tty_termios_baud_rate,
    tty_termios_copy_hw,
    tty_termios_input_baud_rate,
)
from .tty import (
    HZ,
    TTY_THROTTLE_SAFE,
    TTY_THROTTLED,
    TTY_UNTHROTTLE_SAFE,
    TtyStruct,
    call_tty_op,
    start_tty,
    stop_tty,
    tty_send_xchar,
    tty_write_lock,
    tty_write_unlock,
)
from .tty_buffer import tty_buffer_lock_exclusive, tty_buffer_unlock_exclusive

__all__ = [
    "copy_from_user_arg",
    "copy_to_user_arg",
    "get_user_int",
    "n_tty_ioctl_helper",
    "put_user_int",
    "tty_chars_in_buffer",
    "tty_driver_flush_buffer",
    "tty_mode_ioctl",
    "tty_perform_flush",
    "tty_set_termios",
    "tty_throttle_safe",
    "tty_unthrottle",
    "tty_unthrottle_safe",
    "tty_wait_until_sent",
    "tty_write_room",
]

#: set_termios options.
TERMIOS_FLUSH, TERMIOS_WAIT, TERMIOS_TERMIO, TERMIOS_OLD = 1, 2, 4, 8
_U32: Final = 0xFFFFFFFF


# -- user buffers (the `arg` of an ioctl) -------------------------------------------------------


def copy_from_user_arg(arg: Any, size: int) -> bytes | None:
    """The first `size` bytes of the user buffer `arg`, or None (-EFAULT) when it is not a
    buffer or is shorter.  Context: atomic."""
    if not isinstance(arg, bytes | bytearray | memoryview):
        return None
    view = memoryview(arg).cast("B")
    return bytes(view[:size]) if len(view) >= size else None


def copy_to_user_arg(arg: Any, data: bytes) -> int:
    """Copy `data` into the user buffer `arg`: 0, or -EFAULT when it is not a writable
    buffer that long.  Context: atomic."""
    if not isinstance(arg, bytearray | memoryview):
        return -Errno.EFAULT
    view = memoryview(arg).cast("B")
    if view.readonly or len(view) < len(data):
        return -Errno.EFAULT
    view[:len(data)] = data
    return 0


def get_user_int(arg: Any) -> int | None:
    """get_user() of a 32-bit int (little-endian, signed) from `arg`; None for -EFAULT.
    Context: atomic."""
    data = copy_from_user_arg(arg, 4)
    return None if data is None else int.from_bytes(data, "little", signed=True)


def put_user_int(arg: Any, value: int) -> int:
    """put_user() of a 32-bit int into `arg`: 0 or -EFAULT.  Context: atomic."""
    return copy_to_user_arg(arg, (value & _U32).to_bytes(4, "little"))


# -- driver queries and flow control --------------------------------------------------------------


def tty_chars_in_buffer(tty: TtyStruct) -> int:
    """tty_chars_in_buffer(): bytes queued in the driver (0 without a method).  Context:
    atomic."""
    return tty.ops.chars_in_buffer(tty) if tty.ops.chars_in_buffer is not None else 0


def tty_write_room(tty: TtyStruct) -> int:
    """tty_write_room(): bytes the driver takes now (2048 without a method).  Context:
    atomic."""
    return tty.ops.write_room(tty) if tty.ops.write_room is not None else 2048


def tty_driver_flush_buffer(tty: TtyStruct) -> None:
    """tty_driver_flush_buffer(): discard the driver's queued output.  Context: atomic."""
    if tty.ops.flush_buffer is not None:
        tty.ops.flush_buffer(tty)


def tty_unthrottle(tty: TtyStruct) -> None:
    """tty_unthrottle(): if throttled, the driver's unthrottle.  Context: atomic."""
    if tty.flags & TTY_THROTTLED:
        tty.flags &= ~TTY_THROTTLED
        if tty.ops.unthrottle is not None:
            tty.ops.unthrottle(tty)
    tty.flow_change = 0


def tty_throttle_safe(tty: TtyStruct) -> int:
    """tty_throttle_safe(): throttle the driver (once) if a throttle is what the caller
    is deciding (flow_change); 0 when throttled, 1 when it did not.  Context: atomic."""
    if tty.flags & TTY_THROTTLED:
        return 0
    if tty.flow_change != TTY_THROTTLE_SAFE:
        return 1
    tty.flags |= TTY_THROTTLED
    if tty.ops.throttle is not None:
        tty.ops.throttle(tty)
    return 0


def tty_unthrottle_safe(tty: TtyStruct) -> int:
    """tty_unthrottle_safe(): the converse of tty_throttle_safe.  Context: atomic."""
    if not tty.flags & TTY_THROTTLED:
        return 0
    if tty.flow_change != TTY_UNTHROTTLE_SAFE:
        return 1
    tty.flags &= ~TTY_THROTTLED
    if tty.ops.unthrottle is not None:
        tty.ops.unthrottle(tty)
    return 0


async def tty_wait_until_sent(tty: TtyStruct, timeout: int) -> None:
    """tty_wait_until_sent(): wait up to `timeout` jiffies (ms; 0: no limit) until the
    driver's queue is empty (it wakes the write queue as it drains), then for the rest of
    the time the driver's wait_until_sent (the hardware FIFO).  Context: may sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout / HZ if timeout else None
    done = await tty.write_wait.wait_event(lambda: not tty_chars_in_buffer(tty),
                                           timeout or None)
    if not done:
        return
    left = 0 if deadline is None else max(1, round((deadline - loop.time()) * HZ))
    if tty.ops.wait_until_sent is not None:
        await call_tty_op(tty.ops.wait_until_sent, tty, left)


# -- settings -----------------------------------------------------------------------------------


def _unset_locked_termios(tty: TtyStruct, old: Ktermios) -> None:
    """unset_locked_termios(): what termios_locked locks keeps its old value."""
    termios, locked = tty.termios, tty.termios_locked

    def keep(new: int, prev: int, mask: int) -> int:
        return (int(new) & ~int(mask) & _U32) | (int(prev) & int(mask))

    termios.c_iflag = keep(termios.c_iflag, old.c_iflag, locked.c_iflag)
    termios.c_oflag = keep(termios.c_oflag, old.c_oflag, locked.c_oflag)
    termios.c_cflag = keep(termios.c_cflag, old.c_cflag, locked.c_cflag)
    termios.c_lflag = keep(termios.c_lflag, old.c_lflag, locked.c_lflag)
    if locked.c_line:
        termios.c_line = old.c_line
    termios.c_cc = [o if lock else n
                    for n, o, lock in zip(termios.c_cc, old.c_cc, locked.c_cc, strict=True)]


async def tty_set_termios(tty: TtyStruct, new: Ktermios) -> int:
    """tty_set_termios(): make `new` the tty's settings (locked parts kept, ADDRB left
    alone), then the driver's set_termios with the old ones (or tty_termios_copy_hw for a
    driver without it) and the line discipline's.  Received data waits meanwhile.
    Returns 0.  Context: may sleep."""
    port = tty.port
    if port is not None:
        tty_buffer_lock_exclusive(port)
    try:
        old = tty.termios.copy()
        tty.termios = new.copy()
        _unset_locked_termios(tty, old)
        addrb = (int(tty.termios.c_cflag) ^ int(old.c_cflag)) & Cflag.ADDRB
        tty.termios.c_cflag = int(tty.termios.c_cflag) ^ addrb
        if tty.ops.set_termios is not None:
            await call_tty_op(tty.ops.set_termios, tty, old)
        else:
            tty_termios_copy_hw(tty.termios, old)
        if tty.ldisc is not None:
            tty.ldisc.set_termios(tty, old)
    finally:
        if port is not None:
            tty_buffer_unlock_exclusive(port)
    return 0


def _user_termios(tty: TtyStruct, arg: Any, opt: int) -> Ktermios | None:
    """The settings the user passed, in the form `opt` says; None for -EFAULT."""
    current = tty.termios.copy()
    if opt & TERMIOS_TERMIO:
        data = copy_from_user_arg(arg, 18)
        if data is None:
            return None
        current.update_from_termio(data)
        return current
    if opt & TERMIOS_OLD:
        data = copy_from_user_arg(arg, 36)
        return None if data is None else Ktermios.from_termios(data, current)
    data = copy_from_user_arg(arg, 44)
    return None if data is None else Ktermios.from_termios2(data)


async def set_termios(tty: TtyStruct, arg: Any, opt: int) -> int:
    """set_termios(): TCSETS* — with TERMIOS_WAIT after the driver's queue drained, with
    TERMIOS_FLUSH also discarding unread input; the speeds are recomputed from the
    B-codes.  Returns 0 or -EFAULT.  Context: may sleep."""
    new = _user_termios(tty, arg, opt)
    if new is None:
        return -Errno.EFAULT
    new.c_ispeed = tty_termios_input_baud_rate(new)
    new.c_ospeed = tty_termios_baud_rate(new)
    if not opt & (TERMIOS_FLUSH | TERMIOS_WAIT):
        return await tty_set_termios(tty, new)
    while True:
        await tty.write_wait.wait_event(lambda: not tty_chars_in_buffer(tty))
        await tty_write_lock(tty, False)
        if not tty_chars_in_buffer(tty):
            break
        tty_write_unlock(tty)
    try:
        if opt & TERMIOS_FLUSH and tty.ldisc is not None:
            tty.ldisc.flush_buffer(tty)
        if opt & TERMIOS_WAIT and tty.ops.wait_until_sent is not None:
            await call_tty_op(tty.ops.wait_until_sent, tty, 0)
        return await tty_set_termios(tty, new)
    finally:
        tty_write_unlock(tty)


async def _change_softcar(tty: TtyStruct, enable: bool) -> int:
    """tty_change_softcar(): TIOCSSOFTCAR — CLOCAL on or off through the driver;
    -EINVAL when the driver did not take it."""
    old = tty.termios.copy()
    bit = int(Cflag.CLOCAL) if enable else 0
    tty.termios.c_cflag = (int(tty.termios.c_cflag) & ~Cflag.CLOCAL & _U32) | bit
    if tty.ops.set_termios is not None:
        await call_tty_op(tty.ops.set_termios, tty, old)
    return -Errno.EINVAL if int(tty.termios.c_cflag) & Cflag.CLOCAL != bit else 0


def _copy_out(arg: Any, data: bytes) -> int:
    return -Errno.EFAULT if copy_to_user_arg(arg, data) else 0


async def _set_locked(tty: TtyStruct, arg: Any) -> int:
    """TIOCSLCKTRMIOS: needs CAP_SYS_ADMIN."""
    if tty.core is not None and not tty.core.privileged:
        return -Errno.EPERM
    data = copy_from_user_arg(arg, 36)
    if data is None:
        return -Errno.EFAULT
    tty.termios_locked = Ktermios.from_termios(data, tty.termios_locked)
    return 0


async def _set_softcar(tty: TtyStruct, arg: Any) -> int:
    value = get_user_int(arg)
    return -Errno.EFAULT if value is None else await _change_softcar(tty, bool(value))


async def _get(data: bytes, arg: Any) -> int:
    return _copy_out(arg, data)


_ModeIoctl = Callable[[TtyStruct, Any], Awaitable[int]]

_MODE_IOCTLS: Final[dict[int, _ModeIoctl]] = {
    TCSETSF: lambda tty, arg: set_termios(tty, arg,
                                          TERMIOS_FLUSH | TERMIOS_WAIT | TERMIOS_OLD),
    TCSETSW: lambda tty, arg: set_termios(tty, arg, TERMIOS_WAIT | TERMIOS_OLD),
    TCSETS: lambda tty, arg: set_termios(tty, arg, TERMIOS_OLD),
    TCGETS: lambda tty, arg: _get(tty.termios.to_termios(), arg),
    TCGETS2: lambda tty, arg: _get(tty.termios.to_termios2(), arg),
    TCSETSF2: lambda tty, arg: set_termios(tty, arg, TERMIOS_FLUSH | TERMIOS_WAIT),
    TCSETSW2: lambda tty, arg: set_termios(tty, arg, TERMIOS_WAIT),
    TCSETS2: lambda tty, arg: set_termios(tty, arg, 0),
    TCGETA: lambda tty, arg: _get(tty.termios.to_termio(), arg),
    TCSETAF: lambda tty, arg: set_termios(tty, arg,
                                          TERMIOS_FLUSH | TERMIOS_WAIT | TERMIOS_TERMIO),
    TCSETAW: lambda tty, arg: set_termios(tty, arg, TERMIOS_WAIT | TERMIOS_TERMIO),
    TCSETA: lambda tty, arg: set_termios(tty, arg, TERMIOS_TERMIO),
    TIOCGLCKTRMIOS: lambda tty, arg: _get(tty.termios_locked.to_termios(), arg),
    TIOCSLCKTRMIOS: _set_locked,
    TIOCGSOFTCAR: lambda tty, arg: _get(
        (1 if int(tty.termios.c_cflag) & Cflag.CLOCAL else 0).to_bytes(4, "little"), arg),
    TIOCSSOFTCAR: _set_softcar,
}


async def tty_mode_ioctl(tty: TtyStruct, cmd: int, arg: Any) -> int:
    """tty_mode_ioctl(): the settings ioctls (see the module docstring); -ENOIOCTLCMD for
    any other.  Context: may sleep."""
    handler = _MODE_IOCTLS.get(cmd)
    return -ENOIOCTLCMD if handler is None else await handler(tty, arg)


# -- flushing, TCXONC ---------------------------------------------------------------------------


def tty_perform_flush(tty: TtyStruct, arg: int) -> int:
    """__tty_perform_flush(): TCIFLUSH (unread input; the driver is unthrottled),
    TCOFLUSH (the driver's queued output) or TCIOFLUSH (both); -EINVAL otherwise.
    Context: atomic."""
    if arg not in (TCIFLUSH, TCOFLUSH, TCIOFLUSH):
        return -Errno.EINVAL
    if arg in (TCIFLUSH, TCIOFLUSH) and tty.ldisc is not None:
        tty.ldisc.flush_buffer(tty)
        tty_unthrottle(tty)
    if arg in (TCOFLUSH, TCIOFLUSH):
        tty_driver_flush_buffer(tty)
    return 0


async def _tcxonc(tty: TtyStruct, arg: int) -> int:
    """TCXONC: TCOOFF/TCOON suspend and resume the output; TCIOFF/TCION send STOP and
    START (unless disabled)."""
    if arg == TCOOFF:
        if not tty.flow.tco_stopped:
            tty.flow.tco_stopped = True
            stop_tty(tty)
    elif arg == TCOON:
        if tty.flow.tco_stopped:
            tty.flow.tco_stopped = False
            start_tty(tty)
    elif arg in (TCIOFF, TCION):
        ch = tty.termios.c_cc[VSTOP if arg == TCIOFF else VSTART]
        if ch != DISABLED_CHAR:
            return await tty_send_xchar(tty, ch)
    else:
        return -Errno.EINVAL
    return 0


async def n_tty_ioctl_helper(tty: TtyStruct, cmd: int, arg: Any) -> int:
    """n_tty_ioctl_helper(): TCXONC and TCFLSH (with an int argument), else
    tty_mode_ioctl.  Context: may sleep."""
    if cmd == TCXONC:
        return await _tcxonc(tty, arg) if isinstance(arg, int) else -Errno.EINVAL
    if cmd == TCFLSH:
        return tty_perform_flush(tty, arg) if isinstance(arg, int) else -Errno.EINVAL
    return await tty_mode_ioctl(tty, cmd, arg)
