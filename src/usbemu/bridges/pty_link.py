"""What moves between a host pty master and an emulated tty, and when — the sans-I/O half
of the pty bridge (`usbemu.bridges.pty`), the user-space peer of a Unix98 pty master as
drivers/tty/pty.c and n_tty's packet mode (TIOCPKT) present it.

`PtyLink` holds the bytes in flight both ways and decides what may move: it is told what
was read (a packet-mode read of the master, a read of the emulated tty), what was taken
(a partial write to either side), what the program set on the pty slave (`LineSettings`)
and that the emulated tty hung up; it answers whether each side may be read now
(backpressure: a direction whose queue reaches `high_water` stops reading its source until
the other side drains it), what to write next, and when the link is finished.  Settings
travel in order with the data the program wrote before them.  It never drops a byte on
its own: only a flush the program asked for (TIOCPKT_FLUSHREAD / _FLUSHWRITE) or a hangup
(the tty takes nothing more) discards bytes, and it says how many.

It does no I/O, knows no file descriptor, clock or event loop; the adapter does
(`bridges/pty.py`).  `LineSettings` is the part of a termios the bridge mirrors onto the
emulated tty: the c_cflag bits of the line (CSIZE, CSTOPB, PARENB, PARODD, CMSPAR,
CRTSCTS, CLOCAL, HUPCL) and the input and output speeds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum, IntFlag
from typing import Final

from ..errors import IllegalStateTransition
from ..kernel.termios import (
    BAUD_CODES,
    IBSHIFT,
    Cflag,
    Ktermios,
    tty_termios_baud_rate,
    tty_termios_input_baud_rate,
)

__all__ = ["DEFAULT_HIGH_WATER", "MIRRORED_CFLAG", "LineSettings", "LinkState",
           "PacketStatus", "PtyLink"]

#: Bytes a direction holds before it stops reading its source.
DEFAULT_HIGH_WATER: Final = 64 * 1024

#: The c_cflag bits the emulated tty takes from the pty slave.  CREAD stays set on the
#: emulated tty (the bridge always reads it); the speed fields travel as numbers.
MIRRORED_CFLAG: Final = (Cflag.CSIZE | Cflag.CSTOPB | Cflag.PARENB | Cflag.PARODD
                         | Cflag.CMSPAR | Cflag.CRTSCTS | Cflag.CLOCAL | Cflag.HUPCL)

_U32: Final = 0xFFFFFFFF


class PacketStatus(IntFlag):
    """The first byte of a packet-mode read of a pty master (TIOCPKT_* of
    include/uapi/asm-generic/ioctls.h): 0 (TIOCPKT_DATA) before data, else a status byte
    read alone."""

    FLUSHREAD = 0x01    #: the slave's input was flushed (tcflush TCIFLUSH)
    FLUSHWRITE = 0x02   #: the slave's output was flushed (tcflush TCOFLUSH)
    STOP = 0x04         #: the slave's output was stopped (^S, tcflow TCOOFF)
    START = 0x08        #: … and restarted
    NOSTOP = 0x10       #: IXON with ^S/^Q turned off
    DOSTOP = 0x20       #: … turned on
    IOCTL = 0x40        #: the slave's termios changed (EXTPROC set before or after)


@dataclass(frozen=True, slots=True)
class LineSettings:
    """The line as a termios sets it: `cflag` (only the MIRRORED_CFLAG bits) and the input
    and output speeds in bits per second."""

    cflag: int
    ispeed: int
    ospeed: int

    @classmethod
    def of(cls, termios: Ktermios) -> LineSettings:
        """The line settings of `termios` (its speeds decoded as the tty layer decodes
        them).  Context: atomic."""
        probe = termios.copy()
        return cls(int(termios.c_cflag) & MIRRORED_CFLAG,
                   tty_termios_input_baud_rate(probe), tty_termios_baud_rate(probe))

    def apply(self, termios: Ktermios) -> None:
        """Put these settings into `termios`: the mirrored c_cflag bits, and the speeds as
        B-codes where standard, BOTHER with c_ospeed/c_ispeed otherwise (the input speed
        is B0 — "as the output" — when both are equal).  Context: atomic."""
        cflag = int(termios.c_cflag) & ~int(MIRRORED_CFLAG | Cflag.CBAUD | Cflag.CIBAUD) & _U32
        cflag |= self.cflag | BAUD_CODES.get(self.ospeed, Cflag.BOTHER)
        if self.ispeed != self.ospeed:
            cflag |= BAUD_CODES.get(self.ispeed, Cflag.BOTHER) << IBSHIFT
        termios.c_cflag = cflag
        termios.c_ispeed, termios.c_ospeed = self.ispeed, self.ospeed

    def describe(self) -> str:
        """"115200 8N1 crtscts"-style summary, for messages."""
        bits = {Cflag.CS5: 5, Cflag.CS6: 6, Cflag.CS7: 7}.get(self.cflag & Cflag.CSIZE, 8)
        parity = "N"
        if self.cflag & Cflag.PARENB:
            odd = bool(self.cflag & Cflag.PARODD)
            parity = ("M" if odd else "S") if self.cflag & Cflag.CMSPAR else "OE"[not odd]
        stop = 2 if self.cflag & Cflag.CSTOPB else 1
        speed = (str(self.ospeed) if self.ispeed == self.ospeed
                 else f"{self.ispeed}/{self.ospeed}")
        extra = "".join(f" {name}" for name, bit in (("crtscts", Cflag.CRTSCTS),
                                                      ("clocal", Cflag.CLOCAL),
                                                      ("hupcl", Cflag.HUPCL))
                        if self.cflag & bit)
        return f"{speed} {bits}{parity}{stop}{extra}"


class LinkState(Enum):
    """OPEN: both directions move.  DRAINING: the emulated tty hung up; what was read from
    it still goes to the master, nothing goes to the tty.  CLOSED: nothing moves."""

    OPEN = "open"
    DRAINING = "draining"
    CLOSED = "closed"


_TRANSITIONS: Final[dict[LinkState, frozenset[LinkState]]] = {
    LinkState.OPEN: frozenset({LinkState.DRAINING, LinkState.CLOSED}),
    LinkState.DRAINING: frozenset({LinkState.CLOSED}),
    LinkState.CLOSED: frozenset(),
}


class PtyLink:
    """The two queues of a pty bridge and the rules for moving them (see the module
    docstring).  Context: every method is atomic."""

    def __init__(self, high_water: int = DEFAULT_HIGH_WATER) -> None:
        if high_water < 1:
            raise ValueError(f"high_water = {high_water}: a queue must hold at least 1 byte")
        self.high_water = high_water
        self.state = LinkState.OPEN
        self._to_tty: deque[memoryview | LineSettings] = deque()
        self._to_tty_bytes = 0
        self._to_master = bytearray()
        self._settings: LineSettings | None = None
        #: Bytes each direction has moved (taken by the other side).
        self.to_tty_total = 0
        self.to_master_total = 0

    def __repr__(self) -> str:
        return (f"<PtyLink {self.state.value} to_tty={self._to_tty_bytes} "
                f"to_master={len(self._to_master)}>")

    def _move(self, new: LinkState) -> None:
        if new not in _TRANSITIONS[self.state]:
            raise IllegalStateTransition(f"pty link: {self.state.value} -> {new.value}")
        self.state = new

    # -- master → emulated tty ------------------------------------------------------------------

    def from_master_packet(self, packet: bytes) -> PacketStatus:
        """A packet-mode read of the master: data after a 0 byte is queued for the tty
        (returns PacketStatus(0)); a status byte read alone is returned for the adapter to
        act on (IOCTL: look at the slave's termios; FLUSH*: `flush`).  An empty read
        queues nothing."""
        if not packet:
            return PacketStatus(0)
        if packet[0]:
            return PacketStatus(packet[0])
        self.from_master(memoryview(packet)[1:])
        return PacketStatus(0)

    def from_master(self, data: bytes | memoryview) -> None:
        """Bytes read from the master (no packet header), queued for the tty.  Ignored
        unless OPEN (the tty takes nothing more)."""
        if data and self.state is LinkState.OPEN:
            self._to_tty.append(memoryview(data))
            self._to_tty_bytes += len(data)

    @property
    def wants_master_read(self) -> bool:
        """Whether to read the master now: OPEN and the tty's queue below high water."""
        return self.state is LinkState.OPEN and self._to_tty_bytes < self.high_water

    def settings_seen(self, settings: LineSettings) -> bool:
        """The slave's line settings as just read: queued for the tty, after the data
        queued before, when they differ from the last settings queued (the first call
        only records them).  Returns whether a change was queued."""
        if self._settings is None or self.state is not LinkState.OPEN:
            self._settings = self._settings or settings
            return False
        if settings == self._settings:
            return False
        self._settings = settings
        self._to_tty.append(settings)
        return True

    @property
    def settings(self) -> LineSettings | None:
        """The last line settings seen (queued or recorded)."""
        return self._settings

    def next_for_tty(self) -> memoryview | LineSettings | None:
        """What the tty is to get next: bytes to write, settings to apply, or None."""
        return self._to_tty[0] if self._to_tty else None

    def tty_took(self, count: int) -> None:
        """The tty took `count` bytes of the chunk `next_for_tty` gave (a write's result)."""
        head = self._to_tty[0] if self._to_tty else None
        if not isinstance(head, memoryview) or not 0 <= count <= len(head):
            raise ValueError(f"tty_took({count}): the head of the queue is {head!r}")
        self._to_tty_bytes -= count
        self.to_tty_total += count
        if count == len(head):
            self._to_tty.popleft()
        else:
            self._to_tty[0] = head[count:]

    def settings_applied(self) -> None:
        """The settings `next_for_tty` gave have been applied to the tty."""
        if not self._to_tty or not isinstance(self._to_tty[0], LineSettings):
            raise ValueError("settings_applied(): the head of the queue is not settings")
        self._to_tty.popleft()

    @property
    def pending_to_tty(self) -> int:
        """Bytes queued for the tty."""
        return self._to_tty_bytes

    # -- emulated tty → master ------------------------------------------------------------------

    def from_tty(self, data: bytes | memoryview) -> None:
        """Bytes read from the emulated tty, queued for the master (in every state but
        CLOSED: what was read before a hangup still goes out)."""
        if data and self.state is not LinkState.CLOSED:
            self._to_master += data

    @property
    def wants_tty_read(self) -> bool:
        """Whether to read the tty now: OPEN and the master's queue below high water."""
        return self.state is LinkState.OPEN and len(self._to_master) < self.high_water

    def for_master(self) -> memoryview:
        """The bytes queued for the master (empty when none); valid until the next call
        that changes the queue."""
        return memoryview(self._to_master)

    def master_took(self, count: int) -> None:
        """The master took the first `count` bytes of `for_master`."""
        if not 0 <= count <= len(self._to_master):
            raise ValueError(f"master_took({count}): {len(self._to_master)} bytes queued")
        del self._to_master[:count]
        self.to_master_total += count

    @property
    def pending_to_master(self) -> int:
        """Bytes queued for the master."""
        return len(self._to_master)

    # -- flushes and the end -------------------------------------------------------------------

    def flush(self, status: PacketStatus) -> tuple[int, int]:
        """The program flushed the slave (FLUSHREAD: its input, so what is queued for the
        master goes; FLUSHWRITE: its output, so the bytes queued for the tty go — settings
        stay).  Returns (bytes dropped for the master, bytes dropped for the tty)."""
        dropped_master = dropped_tty = 0
        if status & PacketStatus.FLUSHREAD:
            dropped_master = len(self._to_master)
            self._to_master.clear()
        if status & PacketStatus.FLUSHWRITE:
            dropped_tty = self._to_tty_bytes
            self._to_tty = deque(item for item in self._to_tty
                                 if isinstance(item, LineSettings))
            self._to_tty_bytes = 0
        return dropped_master, dropped_tty

    def tty_hung_up(self) -> int:
        """The emulated tty hung up (read gave end of file, write EIO): DRAINING — the
        master still gets what was read; what was queued for the tty can go nowhere and is
        dropped.  Returns the bytes dropped.  Nothing to do unless OPEN."""
        if self.state is not LinkState.OPEN:
            return 0
        self._move(LinkState.DRAINING)
        dropped = self._to_tty_bytes
        self._to_tty.clear()
        self._to_tty_bytes = 0
        return dropped

    @property
    def drained(self) -> bool:
        """DRAINING and nothing left for the master: the master may be closed."""
        return self.state is LinkState.DRAINING and not self._to_master

    def close(self) -> int:
        """CLOSED: nothing moves any more.  Returns the bytes still queued (both ways),
        now dropped.  Idempotent."""
        if self.state is LinkState.CLOSED:
            return 0
        self._move(LinkState.CLOSED)
        dropped = self._to_tty_bytes + len(self._to_master)
        self._to_tty.clear()
        self._to_tty_bytes = 0
        self._to_master.clear()
        return dropped
