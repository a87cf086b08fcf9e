"""The tty objects — counterpart of include/linux/tty.h and include/linux/tty_driver.h
(struct tty_struct, struct tty_driver, struct tty_operations, the TTY_* flag bits and
driver flags), with the small tty_io.c primitives that line disciplines and tty_ioctl.c
call on them: start_tty/stop_tty, tty_wakeup, tty_put_char, tty_send_xchar, the tty and
write locks, tty_hung_up_p and the hung-up file operations' calls, the tty kref, and the
tty_warn/tty_err messages.

A driver describes itself with a `TtyDriver` (its names, device numbers, `TtyOperations`
and flags); tty_io.py registers it and creates a `TtyStruct` for each line while it is open.
Driver operations follow the kernel's contexts: `write`, `write_room`, `chars_in_buffer`,
`put_char`, `flush_chars`, `flush_buffer`, `throttle`, `unthrottle`, `stop`, `start` and
`send_xchar` are atomic (plain `def`); the others run in process context and may be
coroutines.  Time is in jiffies of HZ = 1000, i.e. milliseconds of machine time.
Not modelled: ptys (`link`), packet mode, sessions and process groups (no job control),
fasync.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..errors import Errno
from .fs import O_NONBLOCK, File, ModuleOwner
from .module import this_module
from .printk import Level
from .termios import (
    TTY_STD_TERMIOS,
    Ktermios,
    Winsize,
    tty_termios_baud_rate,
    tty_termios_encode_baud_rate,
)
from .wait import Poll, PollTable, WaitQueueHead

if TYPE_CHECKING:
    from .char_dev import Cdev
    from .devclass import ClassDevice
    from .tty_io import TtyCore
    from .tty_port import TtyPort

__all__ = [
    "HZ",
    "PTY_TYPE_MASTER",
    "PTY_TYPE_SLAVE",
    "SERIAL_TYPE_NORMAL",
    "SYSTEM_TYPE_CONSOLE",
    "SYSTEM_TYPE_SYSCONS",
    "SYSTEM_TYPE_SYSPTMX",
    "SYSTEM_TYPE_TTY",
    "TTY_DO_WRITE_WAKEUP",
    "TTY_EXCLUSIVE",
    "TTY_HUPPED",
    "TTY_HUPPING",
    "TTY_IO_ERROR",
    "TTY_LDISC_CHANGING",
    "TTY_LDISC_HALTED",
    "TTY_LDISC_OPEN",
    "TTY_NO_WRITE_SPLIT",
    "TTY_OTHER_CLOSED",
    "TTY_PTY_LOCK",
    "TTY_THROTTLED",
    "PtyType",
    "SerialType",
    "SystemType",
    "TtyDriver",
    "TtyDriverFlag",
    "TtyDriverType",
    "TtyFilePrivate",
    "TtyFlag",
    "TtyLdisc",
    "TtyOperations",
    "TtyStruct",
    "start_tty",
    "stop_tty",
    "tty_core_of",
    "tty_get_baud_rate",
    "tty_hung_up_p",
    "tty_kref_get",
    "tty_kref_put",
    "tty_name",
    "tty_put_char",
    "tty_send_xchar",
    "tty_wakeup",
]

#: Jiffies per second: a jiffy is a millisecond of machine time.
HZ: Final = 1000


class TtyDriverType(IntEnum):
    """TTY_DRIVER_TYPE_*."""

    SYSTEM = 0x0001
    CONSOLE = 0x0002
    SERIAL = 0x0003
    PTY = 0x0004
    SCC = 0x0005
    SYSCONS = 0x0006


class SystemType(IntEnum):
    """Subtypes of TtyDriverType.SYSTEM (SYSTEM_TYPE_*)."""

    TTY = 0x0001
    CONSOLE = 0x0002
    SYSCONS = 0x0003
    SYSPTMX = 0x0004


class PtyType(IntEnum):
    """Subtypes of TtyDriverType.PTY (PTY_TYPE_*)."""

    MASTER = 0x0001
    SLAVE = 0x0002


class SerialType(IntEnum):
    """Subtypes of TtyDriverType.SERIAL (SERIAL_TYPE_*)."""

    NORMAL = 0x0001


#: The subtypes by their kernel names.
SYSTEM_TYPE_TTY, SYSTEM_TYPE_CONSOLE = SystemType.TTY, SystemType.CONSOLE
SYSTEM_TYPE_SYSCONS, SYSTEM_TYPE_SYSPTMX = SystemType.SYSCONS, SystemType.SYSPTMX
PTY_TYPE_MASTER, PTY_TYPE_SLAVE = PtyType.MASTER, PtyType.SLAVE
SERIAL_TYPE_NORMAL: Final = SerialType.NORMAL


class TtyDriverFlag(IntFlag):
    """TTY_DRIVER_* flags of struct tty_driver."""

    INSTALLED = 0x0001
    RESET_TERMIOS = 0x0002
    REAL_RAW = 0x0004
    DYNAMIC_DEV = 0x0008
    DEVPTS_MEM = 0x0010
    HARDWARE_BREAK = 0x0020
    DYNAMIC_ALLOC = 0x0040
    UNNUMBERED_NODE = 0x0080


class TtyFlag(IntFlag):
    """The bits of tty->flags (TTY_THROTTLED …), as masks."""

    THROTTLED = 1 << 0
    IO_ERROR = 1 << 1
    OTHER_CLOSED = 1 << 2
    EXCLUSIVE = 1 << 3
    DO_WRITE_WAKEUP = 1 << 5
    LDISC_OPEN = 1 << 11
    PTY_LOCK = 1 << 16
    NO_WRITE_SPLIT = 1 << 17
    HUPPED = 1 << 18
    HUPPING = 1 << 19
    LDISC_CHANGING = 1 << 20
    LDISC_HALTED = 1 << 22


#: TtyFlag's bits as plain ints: tty.flags is an int, tested on every read and write.
TTY_THROTTLED: Final = int(TtyFlag.THROTTLED)
TTY_IO_ERROR: Final = int(TtyFlag.IO_ERROR)
TTY_OTHER_CLOSED: Final = int(TtyFlag.OTHER_CLOSED)
TTY_EXCLUSIVE: Final = int(TtyFlag.EXCLUSIVE)
TTY_DO_WRITE_WAKEUP: Final = int(TtyFlag.DO_WRITE_WAKEUP)
TTY_LDISC_OPEN: Final = int(TtyFlag.LDISC_OPEN)
TTY_PTY_LOCK: Final = int(TtyFlag.PTY_LOCK)
TTY_NO_WRITE_SPLIT: Final = int(TtyFlag.NO_WRITE_SPLIT)
TTY_HUPPED: Final = int(TtyFlag.HUPPED)
TTY_HUPPING: Final = int(TtyFlag.HUPPING)
TTY_LDISC_CHANGING: Final = int(TtyFlag.LDISC_CHANGING)
TTY_LDISC_HALTED: Final = int(TtyFlag.LDISC_HALTED)

#: tty->flow_change values (tty_throttle_safe / tty_unthrottle_safe).
TTY_THROTTLE_SAFE, TTY_UNTHROTTLE_SAFE = 1, 2


@dataclass(frozen=True, eq=False)
class TtyOperations:
    """struct tty_operations: what a tty driver does; every member optional.

    Process context (plain functions or coroutines): `install(driver, tty)` → 0 or -errno
    (without it: tty_standard_install), `remove(driver, tty)`, `open(tty, file)` → 0 or
    -errno (without it every open is -ENODEV), `close(tty, file)`, `shutdown(tty)`,
    `hangup(tty)`, `ioctl(tty, cmd, arg)` → value or -errno (-ENOIOCTLCMD: not mine),
    `set_termios(tty, old)`, `break_ctl(tty, state)` (-1 on, 0 off, or a duration in ms
    with TTY_DRIVER_HARDWARE_BREAK) → 0 or -errno, `wait_until_sent(tty, timeout_ms)`,
    `tiocmget(tty)` → TIOCM_* bits or -errno, `tiocmset(tty, set, clear)`,
    `get_icount(tty, icount)`, `get_serial(tty, ss)`, `set_serial(tty, ss)`,
    `resize(tty, winsize)`, `cleanup(tty)` (the last reference to the tty is gone; from
    the release work).

    Atomic (plain functions): `write(tty, data)` → bytes taken (a read-only memoryview,
    valid during the call only) or -errno, `put_char(tty, ch)`, `flush_chars(tty)`,
    `write_room(tty)`, `chars_in_buffer(tty)`, `flush_buffer(tty)`, `throttle(tty)`,
    `unthrottle(tty)`, `stop(tty)`, `start(tty)`, `send_xchar(tty, ch)`,
    `proc_show(driver)` → the text of /proc/tty/driver/<driver_name>.
    """

    install: Callable[..., Any] | None = None
    remove: Callable[..., Any] | None = None
    open: Callable[..., Any] | None = None
    close: Callable[..., Any] | None = None
    shutdown: Callable[..., Any] | None = None
    cleanup: Callable[[TtyStruct], Any] | None = None
    write: Callable[[TtyStruct, memoryview], int] | None = None
    put_char: Callable[[TtyStruct, int], int] | None = None
    flush_chars: Callable[[TtyStruct], None] | None = None
    write_room: Callable[[TtyStruct], int] | None = None
    chars_in_buffer: Callable[[TtyStruct], int] | None = None
    ioctl: Callable[..., Any] | None = None
    set_termios: Callable[..., Any] | None = None
    throttle: Callable[[TtyStruct], None] | None = None
    unthrottle: Callable[[TtyStruct], None] | None = None
    stop: Callable[[TtyStruct], None] | None = None
    start: Callable[[TtyStruct], None] | None = None
    hangup: Callable[..., Any] | None = None
    break_ctl: Callable[..., Any] | None = None
    flush_buffer: Callable[[TtyStruct], None] | None = None
    wait_until_sent: Callable[..., Any] | None = None
    send_xchar: Callable[[TtyStruct, int], None] | None = None
    tiocmget: Callable[..., Any] | None = None
    tiocmset: Callable[..., Any] | None = None
    resize: Callable[..., Any] | None = None
    get_icount: Callable[..., Any] | None = None
    get_serial: Callable[..., Any] | None = None
    set_serial: Callable[..., Any] | None = None
    proc_show: Callable[[TtyDriver], str] | None = None


async def call_tty_op(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a process-context driver operation, awaiting it when it is a coroutine.
    Context: may sleep."""
    result = fn(*args)
    if isinstance(result, Awaitable):
        result = await result
    return result


class TtyDriver:
    """struct tty_driver: `driver_name` (/proc/tty/drivers, /proc/tty/driver/<name>), the
    node name `name` ("ttyUSB": lines are ttyUSB0, ttyUSB1 … from `name_base`), device
    numbers major:minor_start .. +num-1 (major 0: a dynamic one at registration), type and
    subtype, the settings a new line starts with (`init_termios`, a copy of
    TTY_STD_TERMIOS unless given), flags and operations.  `owner` is the module that an
    open line holds (default: the module being loaded or initialised, THIS_MODULE).  Per
    line: the open tty (`ttys`), the port (`ports`) and the settings saved at the last
    close (`termios`).  Raises ValueError for num < 1, or a number of lines other than 1
    with UNNUMBERED_NODE."""

    def __init__(self, driver_name: str, name: str, *, num: int = 1, major: int = 0,
                 minor_start: int = 0, type: TtyDriverType = TtyDriverType.SERIAL,
                 subtype: int = SerialType.NORMAL, init_termios: Ktermios | None = None,
                 flags: int = 0, ops: TtyOperations | None = None, name_base: int = 0,
                 owner: ModuleOwner | EllipsisType | None = ...) -> None:
        if num < 1 or (flags & TtyDriverFlag.UNNUMBERED_NODE and num > 1):
            raise ValueError(f"tty driver {driver_name!r}: {num} lines (at least 1; exactly "
                             "1 with UNNUMBERED_NODE)")
        self.driver_name = driver_name
        self.name = name
        self.name_base = name_base
        self.major = major
        self.minor_start = minor_start
        self.num = num
        self.type = type
        self.subtype = subtype
        self.init_termios = (init_termios or TTY_STD_TERMIOS).copy()
        self.flags = TtyDriverFlag(flags)
        self.ops = ops or TtyOperations()
        self.owner: ModuleOwner | None = this_module() if owner is ... else owner
        self.ttys: list[TtyStruct | None] = [None] * num
        self.ports: list[TtyPort | None] = [None] * num
        self.termios: list[Ktermios | None] = [None] * num
        dynamic_alloc = bool(self.flags & TtyDriverFlag.DYNAMIC_ALLOC)
        self.cdevs: list[Cdev | None] = [None] * (1 if dynamic_alloc else num)
        self.kref = 1
        #: The machine it is registered with (tty_register_driver).
        self.core: TtyCore | None = None
        #: /proc/tty/driver/<driver_name> exists (proc_tty_register_driver).
        self.proc_entry = False

    def __repr__(self) -> str:
        return f"<TtyDriver {self.driver_name} /dev/{self.name} {self.major}:" \
               f"{self.minor_start}+{self.num}>"


def tty_line_name(driver: TtyDriver, index: int) -> str:
    """tty_line_name(): "<name><index + name_base>", or the bare name for an
    UNNUMBERED_NODE driver.  Context: atomic."""
    if driver.flags & TtyDriverFlag.UNNUMBERED_NODE:
        return driver.name
    return f"{driver.name}{index + driver.name_base}"


class TtyLdisc(Protocol):
    """What a line discipline offers the tty layer (struct tty_ldisc_ops); n_tty.py's
    `NTty` is the one there is."""

    num: int
    name: str

    def open(self, tty: TtyStruct) -> int: ...
    def close(self, tty: TtyStruct) -> None: ...
    def flush_buffer(self, tty: TtyStruct) -> None: ...
    async def read(self, tty: TtyStruct, file: File, buf: memoryview) -> int: ...
    async def write(self, tty: TtyStruct, file: File, data: memoryview) -> int: ...
    async def ioctl(self, tty: TtyStruct, cmd: int, arg: Any) -> int: ...
    def set_termios(self, tty: TtyStruct, old: Ktermios | None) -> None: ...
    def poll(self, tty: TtyStruct, file: File, table: PollTable | None) -> Poll: ...
    def receive_buf2(self, tty: TtyStruct, cp: memoryview, fp: memoryview | None,
                     count: int) -> int: ...
    def lookahead_buf(self, tty: TtyStruct, cp: memoryview, fp: memoryview | None,
                      count: int) -> None: ...
    def write_wakeup(self, tty: TtyStruct) -> None: ...


@dataclass
class TtyFlow:
    """tty->flow: output stopped by STOP/START (`stopped`) or by TCOOFF (`tco_stopped`)."""

    stopped: bool = False
    tco_stopped: bool = False


@dataclass
class TtyFilePrivate:
    """struct tty_file_private: a file open on a tty (file->private_data)."""

    tty: TtyStruct
    file: File


class TtyStruct:
    """struct tty_struct: one open line — its driver and operations, `index` and `name`
    ("ttyUSB0"), settings (`termios`, `termios_locked`), `port`, the driver's
    `driver_data`, the open count, `flags` (TTY_* bits, see TtyFlag), flow control state
    (`flow`, `hw_stopped`), `winsize`, the line discipline (`ldisc`, None once hung up or closed),
    and the wait queues of readers and writers.  Context: attributes are read and changed
    atomically; the locks are taken in process context."""

    def __init__(self, driver: TtyDriver, index: int, core: TtyCore | None = None) -> None:
        self.driver = driver
        self.ops = driver.ops
        self.index = index
        self.name = tty_line_name(driver, index)
        self.core = core
        self.termios = Ktermios()
        self.termios_locked = Ktermios()
        self.port: TtyPort | None = None
        self.driver_data: Any = None
        self.count = 0
        self.flags = 0
        self.flow = TtyFlow()
        self.hw_stopped = False
        self.flow_change = 0
        self.closing = False
        self.receive_room = 0
        self.winsize = Winsize()
        self.ldisc: TtyLdisc | None = None
        self.read_wait = WaitQueueHead()
        self.write_wait = WaitQueueHead()
        self.tty_files: list[TtyFilePrivate] = []
        self.legacy_mutex = asyncio.Lock()
        self.lock_owner: asyncio.Task[Any] | None = None
        self.atomic_write_lock = asyncio.Lock()
        self.kref = 1
        self.hangup_work: asyncio.Task[None] | None = None
        self.dev: ClassDevice | None = None

    def __repr__(self) -> str:
        return f"<TtyStruct {self.name} count={self.count}>"

    @property
    def hung_up(self) -> bool:
        """TTY_HUPPED: the tty has been hung up (until the next successful open).
        Context: atomic."""
        return bool(self.flags & TTY_HUPPED)


def tty_name(tty: TtyStruct | None) -> str:
    """tty_name(): "ttyUSB0", or "NULL tty".  Context: atomic."""
    return "NULL tty" if tty is None else tty.name


def tty_io_error(tty: TtyStruct) -> bool:
    """TTY_IO_ERROR: reads and writes fail with -EIO.  Context: atomic."""
    return bool(tty.flags & TTY_IO_ERROR)


def tty_throttled(tty: TtyStruct) -> bool:
    """TTY_THROTTLED: the driver was told to hold its input.  Context: atomic."""
    return bool(tty.flags & TTY_THROTTLED)


def tty_io_nonblock(tty: TtyStruct, file: File) -> bool:
    """tty_io_nonblock(): O_NONBLOCK, or a line discipline change in progress.  Context: atomic."""
    return bool(file.f_flags & O_NONBLOCK) or bool(tty.flags & TTY_LDISC_CHANGING)


def tty_msg(tty: TtyStruct, level: Level, text: str) -> None:
    """tty_msg(): "<driver name> <tty name>: text" in the machine's log (tty_warn,
    tty_err, tty_info).  Context: atomic."""
    if tty.core is not None:
        tty.core.log.log(level, f"{tty.driver.name} {tty.name}: {text}")


# -- the machine of a running loop -----------------------------------------------------------------

#: The core of each machine, by its loop.  The machine holds its core; a weak value lets
#: a closed machine go (a weak key could not: the core holds the loop).
_cores: weakref.WeakValueDictionary[asyncio.AbstractEventLoop, TtyCore] = \
    weakref.WeakValueDictionary()


def register_tty_core(loop: asyncio.AbstractEventLoop, core: TtyCore) -> None:
    """Make `core` the tty layer of the machine running on `loop`.  Context: atomic."""
    _cores[loop] = core


def tty_core_of(loop: asyncio.AbstractEventLoop | None = None) -> TtyCore:
    """The tty layer of the machine whose loop is `loop` (default: the running loop).
    Raises RuntimeError outside a machine.  Context: atomic."""
    try:
        found = _cores.get(loop or asyncio.get_running_loop())
    except RuntimeError:
        found = None
    if found is None:
        raise RuntimeError("no usbemu machine is running here: call this from code that runs "
                           "on a System (System.run(), `async with System()`)")
    return found


def tty_contain(what: str, exc: BaseException) -> None:
    """Contain an exception that escaped driver or line-discipline code run from a work
    item (flush_to_ldisc, hangup work): logged like an oops by the machine's driver core;
    raised again outside a machine or when it is the task's own cancellation.  Call it
    from the `except` clause.  Context: atomic."""
    try:
        core = tty_core_of()
    except RuntimeError:
        raise exc from None
    core.driver_core.contain(what, exc)


# -- waiting ---------------------------------------------------------------------------------


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def wait_woken(wq: WaitQueueHead, timeout_s: float | None) -> float | None:
    """wait_woken(): sleep on `wq` until it is woken or `timeout_s` seconds of machine
    time pass (None: no timeout).  Returns the time left (0.0 when it ran out; None
    without a timeout).  Context: may sleep."""
    fut = wq.add_waiter()
    if timeout_s is None:
        try:
            await fut
        finally:
            wq.remove_waiter(fut)
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    timer = loop.call_at(deadline, _wake, fut)
    try:
        await fut
    finally:
        timer.cancel()
        wq.remove_waiter(fut)
    return max(deadline - loop.time(), 0.0)


# -- locks -----------------------------------------------------------------------------------------


async def tty_lock(tty: TtyStruct) -> None:
    """tty_lock(): the tty's open/close/hangup mutex, held by the calling task.  Context:
    may sleep."""
    await tty.legacy_mutex.acquire()
    tty.lock_owner = asyncio.current_task()


def tty_lock_held(tty: TtyStruct) -> bool:
    """Whether the calling task holds the tty lock.  Context: atomic."""
    return tty.legacy_mutex.locked() and tty.lock_owner is asyncio.current_task()


def tty_unlock(tty: TtyStruct) -> None:
    """tty_unlock(): release the tty lock if the calling task holds it.  Context: atomic."""
    if tty_lock_held(tty):
        tty.lock_owner = None
        tty.legacy_mutex.release()


async def tty_write_lock(tty: TtyStruct, ndelay: bool) -> int:
    """tty_write_lock(): one writer at a time; 0, or -EAGAIN when `ndelay` and another
    writer holds it.  Context: may sleep."""
    if tty.atomic_write_lock.locked() and ndelay:
        return -Errno.EAGAIN
    await tty.atomic_write_lock.acquire()
    return 0


def tty_write_unlock(tty: TtyStruct) -> None:
    """tty_write_unlock(): release the write lock and wake writers (EPOLLOUT).  Context: atomic."""
    if tty.atomic_write_lock.locked():
        tty.atomic_write_lock.release()
    tty.write_wait.wake_up()


# -- tty_io.c primitives -------------------------------------------------------------------------


def stop_tty(tty: TtyStruct) -> None:
    """stop_tty(): stop output (STOP character, TCOOFF): the driver's `stop`.  Context:
    atomic."""
    if tty.flow.stopped:
        return
    tty.flow.stopped = True
    if tty.ops.stop is not None:
        tty.ops.stop(tty)


def start_tty(tty: TtyStruct) -> None:
    """start_tty(): resume output unless TCOOFF holds it: the driver's `start`, then
    writers are woken.  Context: atomic."""
    if not tty.flow.stopped or tty.flow.tco_stopped:
        return
    tty.flow.stopped = False
    if tty.ops.start is not None:
        tty.ops.start(tty)
    tty_wakeup(tty)


def tty_wakeup(tty: TtyStruct) -> None:
    """tty_wakeup(): the driver can take more output — the line discipline's write_wakeup
    when it asked for one (TTY_DO_WRITE_WAKEUP), and writers and pollers are woken.
    Context: atomic (drivers call it from write completions)."""
    if tty.flags & TTY_DO_WRITE_WAKEUP and tty.ldisc is not None:
        tty.ldisc.write_wakeup(tty)
    tty.write_wait.wake_up()


def tty_put_char(tty: TtyStruct, ch: int) -> int:
    """tty_put_char(): one byte through the driver's put_char, else its write; the count
    taken (0 or 1).  Context: atomic."""
    if tty.ops.put_char is not None:
        return tty.ops.put_char(tty, ch)
    if tty.ops.write is None:
        return 0
    return tty.ops.write(tty, memoryview(bytes((ch,))))


async def tty_send_xchar(tty: TtyStruct, ch: int) -> int:
    """tty_send_xchar(): send a flow-control character ahead of the output — the driver's
    send_xchar, else a write of it (output started for it if stopped).  Returns 0.
    Context: may sleep."""
    if tty.ops.send_xchar is not None:
        tty.ops.send_xchar(tty, ch)
        return 0
    await tty_write_lock(tty, False)
    try:
        was_stopped = tty.flow.stopped
        if was_stopped:
            start_tty(tty)
        if tty.ops.write is not None:
            tty.ops.write(tty, memoryview(bytes((ch,))))
        if was_stopped:
            stop_tty(tty)
    finally:
        tty_write_unlock(tty)
    return 0


def tty_get_baud_rate(tty: TtyStruct) -> int:
    """tty_get_baud_rate(): the output speed of the tty's settings.  Context: atomic."""
    return tty_termios_baud_rate(tty.termios)


def tty_encode_baud_rate(tty: TtyStruct, ibaud: int, obaud: int) -> None:
    """tty_encode_baud_rate(): record the speeds the driver set (see
    tty_termios_encode_baud_rate).  Context: atomic."""
    tty_termios_encode_baud_rate(tty.termios, ibaud, obaud)


# -- references --------------------------------------------------------------------------------


def tty_kref_get(tty: TtyStruct | None) -> TtyStruct | None:
    """tty_kref_get(): a reference on `tty` (None passes through).  Context: atomic."""
    if tty is not None:
        tty.kref += 1
    return tty


def tty_kref_put(tty: TtyStruct | None) -> None:
    """tty_kref_put(): drop a reference; the last one releases the tty (the driver's
    `cleanup`, then the reference on its module) in a work item.  Context: atomic."""
    if tty is None:
        return
    tty.kref -= 1
    if tty.kref == 0 and tty.core is not None:
        tty.core.queue_release_one_tty(tty)


# -- the hung-up file operations' calls (tty_io.c) ------------------------------------------------


def hung_up_tty_read(file: File, buf: memoryview, count: int, ppos: object) -> int:
    """read on a hung-up tty: 0, end of file.  Context: atomic."""
    return 0


def hung_up_tty_write(file: File, buf: memoryview, count: int, ppos: object) -> int:
    """write on a hung-up tty: -EIO.  Context: atomic."""
    return -Errno.EIO


def hung_up_tty_poll(file: File, table: PollTable | None) -> int:
    """poll on a hung-up tty: readable, writable, error and hang-up at once.  Context: atomic."""
    return int(Poll.IN | Poll.OUT | Poll.ERR | Poll.HUP | Poll.RDNORM | Poll.WRNORM)


#: TIOCSPGRP is -ENOTTY on a hung-up tty; every other ioctl -EIO.
_TIOCSPGRP: Final = 0x5410


def hung_up_tty_ioctl(file: File, cmd: int, arg: object) -> int:
    """ioctl on a hung-up tty: -EIO (TIOCSPGRP: -ENOTTY).  Context: atomic."""
    return -Errno.ENOTTY if cmd == _TIOCSPGRP else -Errno.EIO


def tty_hung_up_p(file: File | None) -> bool:
    """tty_hung_up_p(): whether `file` has been switched to the hung-up file operations
    (by a hangup of its tty).  Context: atomic."""
    return file is not None and file.f_op.read is hung_up_tty_read

