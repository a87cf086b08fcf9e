"""An emulated tty as a real pty of the host — pyserial, picocom, screen or minicom open
/dev/pts/N and talk, through the machine's tty layer and usb-serial driver, to an emulated
converter; the user-space pty master of drivers/tty/pty.c, as socat or ser2net run it.

`await PtyBridge.open(system, "/dev/ttyUSB0", link="./ttyUSB0")` opens the emulated tty
through its file operations (raw, as `stty raw -echo` leaves it), opens a pty pair
(os.openpty), keeps the master and a handle on the slave, and makes `link` — a symbolic
link of the user's choosing — point to the slave (`slave_path`, /dev/pts/N).  From then on,
on the machine's loop (System(virtual=False): real time):

- what the program writes to the slave is read from the master (loop.add_reader) and
  written to the emulated tty (AsyncFile.write; its driver sends it in URBs); while the tty
  takes it slowly, at most `high_water` bytes wait and the master is not read — the
  program's writes then block or fail with EAGAIN, as on a slow serial port;
- what the emulated tty reads (its driver's URBs, through the flip buffer and n_tty) is
  written to the master; when the pty is full (EAGAIN) the rest waits for writability
  (loop.add_writer) and the tty is not read meanwhile, so its line discipline throttles
  and the driver stops reading the device.  Nothing is dropped either way; `PtyLink` (the
  sans-I/O half, bridges/pty_link.py) decides what moves;
- the line settings the program gives the slave are mirrored onto the emulated tty
  (TCSETS2 → the driver's set_termios → e.g. FTDI vendor requests to the model): speeds
  (any rate: BOTHER travels as c_ospeed/c_ispeed), CSTOPB, PARODD, CMSPAR, CRTSCTS, CLOCAL,
  HUPCL — and CSIZE and PARENB, which Linux's pty keeps at CS8 and no parity whatever the
  program asks (pty_set_termios), so a program's 7E1 reaches the emulated tty as 8N1.  A
  change is noticed at once on Linux: the master is in packet mode (TIOCPKT) and the slave
  has EXTPROC, so each tcsetattr on the slave wakes the master with TIOCPKT_IOCTL; the
  bridge also compares the slave's termios whenever data moves and every
  `poll_interval` seconds, for a program that clears EXTPROC (and on other systems, where
  it is the only way).  With EXTPROC the slave's line discipline does no canonical editing
  or echo of input (programs of serial ports run raw anyway); `extproc=False` keeps
  the slave's n_tty as it is and relies on the comparisons;
- a flush the program asks for (tcflush) empties the bridge's queue in that direction and
  is passed on to the emulated tty (TCFLSH);
- the emulated tty hanging up (the converter unplugged: read gives end of file, write
  EIO) is logged in the machine's log ("pty: ttyUSB0 hung up, closing /dev/pts/N"); what
  was read from the tty is still written to the master and left for the program to read
  (until it stops reading for `DRAIN_IDLE_S`), then the master is closed, so the program
  reads end of file and its writes fail with EIO, and the link is removed.

Modem lines are not bridged: a pty has no modem lines (TIOCMGET/TIOCMSET on the slave fail
with ENOTTY, which pyserial ignores), so the program can neither read CTS/DSR/DCD/RI nor
set DTR/RTS.  The emulated tty is opened once, when the bridge opens (raising DTR and RTS
as any open does), and closed by `close()` (dropping them when HUPCL is set): DTR follows
the bridge, not the program's open and close.  A break (tcsendbreak) is not passed on.

`unavailable_reason()` is None where os.openpty exists (Linux, macOS, the BSDs).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import struct
import sys
import termios
import tty
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final

from ..kernel.fs import FIONBIO, O_NOCTTY, O_NONBLOCK, O_RDWR
from ..kernel.printk import Level
from ..kernel.syscalls import AsyncFile
from ..kernel.termios import (
    BAUD_CODES,
    TCFLSH,
    TCGETS,
    TCGETS2,
    TCIFLUSH,
    TCIOFLUSH,
    TCOFLUSH,
    TCSANOW,
    TCSETS2,
    TERMIOS2_SIZE,
    Cflag,
    Ktermios,
    Lflag,
    cfmakeraw,
    tcgetattr,
    tcsetattr,
)
from ..system import System
from .pty_link import DEFAULT_HIGH_WATER, LineSettings, LinkState, PacketStatus, PtyLink

__all__ = ["DRAIN_IDLE_S", "POLL_INTERVAL_S", "PtyBridge", "PtyLinkExists",
           "read_host_termios", "unavailable_reason", "write_host_termios"]

#: Seconds between two looks at the slave's termios when nothing else prompts one.
POLL_INTERVAL_S: Final = 0.25
#: After a hangup: seconds the program may leave its unread input alone before the master
#: is closed anyway (what it has not read by then is lost with the pty).
DRAIN_IDLE_S: Final = 1.0
_DRAIN_POLL_S: Final = 0.01
_FLUSHES: Final = PacketStatus.FLUSHREAD | PacketStatus.FLUSHWRITE
#: tcflush's queue for each flush a packet-mode status reports.
_FLUSH_QUEUE: Final = {PacketStatus.FLUSHREAD: TCIFLUSH, PacketStatus.FLUSHWRITE: TCOFLUSH,
                       _FLUSHES: TCIOFLUSH}
#: What the bridge collects for the master before it writes (MASTER_BATCH bytes, or what
#: came within BATCH_DELAY_S seconds).
MASTER_BATCH: Final = 4096
BATCH_DELAY_S: Final = 0.002
#: Bytes moved per read of the master or of the emulated tty.
READ_SIZE: Final = 64 * 1024

#: The host's termios is Linux's generic one (x86, arm, riscv …): TCGETS2/TCSETS2 with
#: struct termios2 as kernel/termios.py codes it, packet mode with EXTPROC.
_LINUX_ABI: Final = (sys.platform.startswith("linux") and termios.TCGETS == TCGETS
                     and termios.CRTSCTS == Cflag.CRTSCTS)


def unavailable_reason() -> str | None:
    """Why no pty can be opened on this host, or None."""
    if not hasattr(os, "openpty"):
        return f"os.openpty does not exist on {sys.platform}"
    try:
        master, slave = os.openpty()
    except OSError as exc:
        return f"os.openpty failed: {exc.strerror or exc} (no /dev/ptmx or devpts?)"
    os.close(master)
    os.close(slave)
    return None


class PtyLinkExists(FileExistsError):
    """The link path is taken by something that is not a symbolic link."""


# -- the host's termios ------------------------------------------------------------------------

#: c_cflag bits by name, for hosts whose termios is not Linux's (their values differ).
_POSIX_CFLAGS: Final = ("CSTOPB", "CREAD", "PARENB", "PARODD", "HUPCL", "CLOCAL", "CRTSCTS")
_POSIX_SIZES: Final = ("CS5", "CS6", "CS7", "CS8")


def _posix_speed(code: int) -> int:
    """The rate of a host B-code (on BSD and macOS the code is the rate)."""
    for rate in BAUD_CODES:
        if getattr(termios, f"B{rate}", None) == code:
            return rate
    return code


def _from_posix(attrs: list[int | list[bytes | int]]) -> Ktermios:
    """A Ktermios (Linux values) of what termios.tcgetattr gives on a host with another
    termios: the c_cflag line bits and the speeds (what the bridge mirrors)."""
    host_cflag = int(attrs[2])  # type: ignore[arg-type]
    cflag = 0
    for name in _POSIX_CFLAGS:
        if host_cflag & getattr(termios, name, 0):
            cflag |= Cflag[name]
    size = host_cflag & termios.CSIZE
    cflag |= next((Cflag[name] for name in _POSIX_SIZES if getattr(termios, name) == size),
                  Cflag.CS8)
    result = Ktermios(c_cflag=cflag)
    LineSettings(cflag, _posix_speed(int(attrs[4])),  # type: ignore[arg-type]
                 _posix_speed(int(attrs[5]))).apply(result)  # type: ignore[arg-type]
    return result


def read_host_termios(fd: int) -> Ktermios:
    """The termios of a host terminal `fd` (Linux: TCGETS2, everything; elsewhere the line
    bits and speeds through termios.tcgetattr).  Raises OSError."""
    if _LINUX_ABI:
        buf = bytearray(TERMIOS2_SIZE)
        fcntl.ioctl(fd, TCGETS2, buf)
        return Ktermios.from_termios2(buf)
    return _from_posix(termios.tcgetattr(fd))


def write_host_termios(fd: int, settings: Ktermios) -> None:
    """Set a host terminal's termios (Linux: TCSETS2, everything; elsewhere raw mode with
    the speed when the host has a B-code for it).  Raises OSError."""
    if _LINUX_ABI:
        fcntl.ioctl(fd, TCSETS2, settings.to_termios2())
        return
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    code = getattr(termios, f"B{settings.c_ospeed}", None)
    if code is not None:
        attrs[4] = attrs[5] = code
        termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _inq(fd: int) -> int:
    """Bytes waiting in a host tty's input (FIONREAD)."""
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    value: int = struct.unpack("i", buf)[0]
    return value


# -- the stable link ---------------------------------------------------------------------------


def _make_link(link: Path, target: str) -> None:
    """Point `link` at `target`: created, or replaced atomically when it is a symbolic link
    (rename of a fresh link over it).  Raises PtyLinkExists when something else is there,
    OSError when the directory does not exist or cannot be written."""
    if not link.is_symlink() and link.exists():
        kind = "a directory" if link.is_dir() else "a file"
        raise PtyLinkExists(errno.EEXIST, f"{kind} is in the way (not a symbolic link); "
                            "not replacing it", str(link))
    fresh = link.with_name(f".{link.name}.{os.getpid()}.pty")
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fresh)
        os.symlink(target, fresh)
    except OSError as exc:          # no such directory, not writable …: name the link
        raise OSError(exc.errno, exc.strerror, str(link)) from None
    try:
        os.replace(fresh, link)
    except OSError as exc:
        os.unlink(fresh)
        raise OSError(exc.errno, exc.strerror, str(link)) from None


def _remove_link(link: Path, target: str) -> None:
    """Remove `link` if it still points at `target` (never someone else's)."""
    with contextlib.suppress(OSError):
        if os.readlink(link) == target:
            os.unlink(link)


def _set_up_pty(master: int, slave: int, line: LineSettings, extproc: bool) -> LineSettings:
    """A new pty as the bridge runs it: the master non-blocking and, on Linux, in packet
    mode; the slave raw with the emulated tty's `line` (and EXTPROC, so that a tcsetattr
    on it wakes the master).  Returns the line as the slave took it (the pty keeps CS8
    and no parity).  Raises OSError."""
    os.set_blocking(master, False)
    settings = read_host_termios(slave)
    cfmakeraw(settings)
    if _LINUX_ABI and extproc:
        settings.c_lflag = int(settings.c_lflag) | Lflag.EXTPROC
    line.apply(settings)
    write_host_termios(slave, settings)
    if _LINUX_ABI:
        fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
    return LineSettings.of(read_host_termios(slave))


# -- the adapter -------------------------------------------------------------------------------


class PtyBridge:
    """One emulated tty served as a host pty (see the module docstring).  Make it with
    `await PtyBridge.open(...)`; `close()` ends it.  Context: every method runs on the
    machine's loop."""

    def __init__(self, system: System, tty_path: str, afile: AsyncFile, master: int,
                 slave: int, link: Path | None, *, packet: bool, poll_interval: float,
                 high_water: int) -> None:
        self.system = system
        self.tty_path = tty_path
        #: The emulated tty's name ("ttyUSB0").
        self.name = tty_path.rsplit("/", 1)[-1]
        #: The slave side, for the program (/dev/pts/N).
        self.slave_path = os.ttyname(slave)
        #: The symbolic link to `slave_path`, or None.
        self.link = link
        self._afile = afile
        self._master = master
        self._slave = slave
        self._packet = packet
        self._poll_interval = poll_interval
        self._link = PtyLink(high_water)
        self._loop = asyncio.get_running_loop()
        self._reading_master = self._writing_master = False
        self._tty_room = asyncio.Event()
        self._tty_work = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._batch_timer: asyncio.TimerHandle | None = None
        self._batch_due = False
        self._closing = False
        self._done = asyncio.Event()

    def __repr__(self) -> str:
        return f"<PtyBridge {self.name} -> {self.slave_path} {self._link.state.value}>"

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    async def open(cls, system: System, tty_path: str,
                   link: str | os.PathLike[str] | None = None, *, extproc: bool = True,
                   poll_interval: float = POLL_INTERVAL_S,
                   high_water: int = DEFAULT_HIGH_WATER) -> PtyBridge:
        """Serve the emulated tty `tty_path` ("/dev/ttyUSB0", or just "ttyUSB0") of
        `system` as a new host pty, with an optional symbolic link `link` to its slave.
        Returns the running bridge.  Raises OSError when the tty cannot be opened (ENOENT:
        no such node; ENOTTY: not a tty) or the pty not made, PtyLinkExists when `link`
        is a file or directory (never replaced), ValueError for a poll_interval that is
        not positive.  Context: on the machine's loop; may sleep."""
        if not poll_interval > 0:
            raise ValueError(f"poll_interval = {poll_interval}: give a positive number of "
                             "seconds")
        path = tty_path if tty_path.startswith("/") else f"/dev/{tty_path}"
        link_path = Path(os.path.abspath(os.fspath(link))) if link is not None else None
        afile = await system.aopen(path, O_RDWR | O_NOCTTY | O_NONBLOCK)
        master = slave = -1
        try:
            await afile.ioctl(FIONBIO, 0)
            settings = await tcgetattr(afile)
            master, slave = os.openpty()
            seen = _set_up_pty(master, slave, LineSettings.of(settings), extproc)
            cfmakeraw(settings)
            seen.apply(settings)
            await tcsetattr(afile, TCSANOW, settings)
            if link_path is not None:
                _make_link(link_path, os.ttyname(slave))
        except BaseException:
            for fd in (master, slave):
                if fd >= 0:
                    os.close(fd)
            await afile.close()
            raise
        bridge = cls(system, path, afile, master, slave, link_path, packet=_LINUX_ABI,
                     poll_interval=poll_interval, high_water=high_water)
        bridge._link.settings_seen(seen)
        bridge._start()
        return bridge

    def _start(self) -> None:
        for body in (self._read_tty, self._write_tty):
            task = self._loop.create_task(self._guard(body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._timer = self._loop.call_later(self._poll_interval, self._tick)
        self._sync()

    # -- what the bridge is doing ----------------------------------------------------------

    @property
    def closed(self) -> bool:
        """The bridge has ended (closed, or the tty hung up and the master is closed)."""
        return self._done.is_set()

    @property
    def state(self) -> LinkState:
        """The link's state: OPEN, DRAINING (hung up) or CLOSED."""
        return self._link.state

    @property
    def settings(self) -> LineSettings | None:
        """The line settings last seen on the slave."""
        return self._link.settings

    @property
    def moved(self) -> tuple[int, int]:
        """Bytes moved so far: (program → emulated tty, emulated tty → program)."""
        return self._link.to_tty_total, self._link.to_master_total

    @property
    def queued(self) -> tuple[int, int]:
        """Bytes the bridge holds: (for the emulated tty, for the program)."""
        return self._link.pending_to_tty, self._link.pending_to_master

    async def wait_closed(self) -> None:
        """Wait until the bridge has ended.  Context: may sleep."""
        await self._done.wait()

    # -- keeping the event sources in line with the link ------------------------------------------

    def _sync(self) -> None:
        """Register or drop the master's reader and writer and open or close the tty's
        gates as the link says."""
        if self._closing:
            return
        link = self._link
        want_read = link.wants_master_read
        if want_read != self._reading_master:
            if want_read:
                self._loop.add_reader(self._master, self._on_master_readable)
            else:
                self._loop.remove_reader(self._master)
            self._reading_master = want_read
        want_write = self._master_write_due()
        if want_write != self._writing_master:
            if want_write:
                self._loop.add_writer(self._master, self._on_master_writable)
            else:
                self._loop.remove_writer(self._master)
            self._writing_master = want_write
        (self._tty_room.set if link.wants_tty_read else self._tty_room.clear)()
        if link.next_for_tty() is not None:
            self._tty_work.set()

    def _master_write_due(self) -> bool:
        """Whether to write to the master now: MASTER_BATCH bytes are waiting, or some have
        waited BATCH_DELAY_S (the tty's reads come a packet at a time; one write of many
        costs the host far less than many of a few), or the tty has hung up."""
        pending = self._link.pending_to_master
        if not pending:
            self._batch_due = False
            return False
        if pending >= MASTER_BATCH or self._batch_due or self._link.state is not LinkState.OPEN:
            return True
        if self._batch_timer is None:
            self._batch_timer = self._loop.call_later(BATCH_DELAY_S, self._batch_expired)
        return False

    def _batch_expired(self) -> None:
        self._batch_timer = None
        self._batch_due = True
        self._sync()

    # -- the master ----------------------------------------------------------------------------

    def _on_master_readable(self) -> None:
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(f"reading the pty master: {exc.strerror or exc}")
            return
        if self._packet:
            status = self._link.from_master_packet(data)
            if status:
                self._on_status(status)
        else:
            self._link.from_master(data)
        self._look_at_settings()
        self._sync()

    def _on_status(self, status: PacketStatus) -> None:
        """A packet-mode status byte: a termios change, or a flush of the slave."""
        if status & PacketStatus.IOCTL:
            self._look_at_settings()
        if status & (PacketStatus.FLUSHREAD | PacketStatus.FLUSHWRITE):
            self._link.flush(status)
            self._spawn(self._afile.ioctl(TCFLSH, _FLUSH_QUEUE[status & _FLUSHES]))

    def _on_master_writable(self) -> None:
        self._push_master()

    def _push_master(self) -> None:
        """Write what the link holds for the master until it is empty or the pty is full."""
        link = self._link
        while link.pending_to_master:
            try:
                count = os.write(self._master, link.for_master())
            except BlockingIOError:
                break
            except OSError as exc:
                self._fail(f"writing the pty master: {exc.strerror or exc}")
                return
            link.master_took(count)
        self._sync()

    # -- the slave's settings ------------------------------------------------------------------

    def _look_at_settings(self) -> None:
        """Compare the slave's line settings with the last ones seen; a change goes to the
        tty after the data the program wrote before it."""
        if self._closing:
            return
        try:
            seen = LineSettings.of(read_host_termios(self._slave))
        except OSError:
            return
        if self._link.settings_seen(seen):
            self._sync()

    def _tick(self) -> None:
        self._look_at_settings()
        if not self._closing:
            self._timer = self._loop.call_later(self._poll_interval, self._tick)

    # -- the emulated tty ----------------------------------------------------------------------

    async def _read_tty(self) -> None:
        buf = bytearray(READ_SIZE)
        view = memoryview(buf)
        while self._link.state is LinkState.OPEN:
            await self._tty_room.wait()
            try:
                count = await self._afile.readinto(buf)
            except OSError:
                self._hangup()
                return
            if count == 0:
                self._hangup()
                return
            self._link.from_tty(view[:count])
            self._sync()            # written when the master is writable: reads batch up

    async def _write_tty(self) -> None:
        link = self._link
        while link.state is LinkState.OPEN:
            item = link.next_for_tty()
            if item is None:
                self._tty_work.clear()
                await self._tty_work.wait()
                continue
            try:
                if isinstance(item, LineSettings):
                    current = await tcgetattr(self._afile)
                    item.apply(current)
                    await tcsetattr(self._afile, TCSANOW, current)
                    link.settings_applied()
                else:
                    link.tty_took(await self._afile.write(item))
            except OSError:
                self._hangup()
                return
            self._sync()

    async def _guard(self, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run one of the bridge's tasks; a bug in it is logged and ends the bridge, never
        the machine."""
        try:
            await body()
        except asyncio.CancelledError:
            if not self._closing:        # the machine is shutting down under the bridge
                self._close_host()
                self._done.set()
            raise
        except Exception as exc:
            self._fail(f"internal error: {type(exc).__name__}: {exc}")

    def _spawn(self, call: Coroutine[Any, Any, object]) -> None:
        async def quietly() -> None:
            with contextlib.suppress(OSError):
                await call

        task = self._loop.create_task(quietly())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the end -------------------------------------------------------------------------------

    def _hangup(self) -> None:
        """The emulated tty hung up: log it, let the program have what was read, then
        close."""
        if self._link.state is not LinkState.OPEN:
            return
        self._link.tty_hung_up()
        self.system.log.log(Level.INFO, f"pty: {self.name} hung up, closing {self.slave_path}")
        self._sync()
        task = self._loop.create_task(self._drain_then_close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain_then_close(self) -> None:
        """Until the master has taken everything and the program has read it all (twice in
        a row: the pty's flip buffer may still hold a little) — or DRAIN_IDLE_S pass
        without progress — then close."""
        idle_since = self._loop.time()
        last: tuple[int, int] | None = None
        empty = 0
        while not self._closing:
            try:
                now = (self._link.pending_to_master, _inq(self._slave))
            except OSError:
                break
            empty = empty + 1 if now == (0, 0) else 0
            if empty >= 2:
                break
            if now != last:
                last, idle_since = now, self._loop.time()
            elif self._loop.time() - idle_since >= DRAIN_IDLE_S:
                break
            await asyncio.sleep(_DRAIN_POLL_S)
        await self._teardown()

    def _fail(self, why: str) -> None:
        """Something went wrong with the pty itself: log it and end the bridge."""
        if self._closing:
            return
        self.system.log.log(Level.ERR, f"pty: {self.name}: {why}; closing {self.slave_path}")
        self._spawn(self._teardown())

    async def close(self) -> None:
        """End the bridge: stop moving data, close the pty (the program reads end of file),
        remove the link, close the emulated tty.  What the bridge and the driver's FIFO
        still hold for the device is dropped (TCFLSH); the close of the tty then waits, as
        any last close does, for the URBs in flight — up to the port's closing_wait (30 s)
        for a device that takes nothing.  Idempotent; returns once it is all done.
        Context: may sleep."""
        if self._closing:
            await self._done.wait()
            return
        await self._teardown()

    async def _teardown(self) -> None:
        if self._closing:
            await self._done.wait()
            return
        self._closing = True
        me = asyncio.current_task()
        others = [t for t in self._tasks if t is not me]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        self._close_host()
        with contextlib.suppress(OSError):      # what the device has not taken goes too
            await self._afile.ioctl(TCFLSH, TCOFLUSH)
        with contextlib.suppress(OSError):
            await self._afile.close()
        self._done.set()

    def _close_host(self) -> None:
        """Give the host back its pty and link (once): also when the machine shuts down
        under a bridge nobody closed.  Context: atomic."""
        self._closing = True
        if self._master < 0:
            return
        for timer in (self._timer, self._batch_timer):
            if timer is not None:
                timer.cancel()
        if self._reading_master:
            self._loop.remove_reader(self._master)
        if self._writing_master:
            self._loop.remove_writer(self._master)
        self._link.close()
        os.close(self._master)
        os.close(self._slave)
        self._master = self._slave = -1
        if self.link is not None:
            _remove_link(self.link, self.slave_path)
