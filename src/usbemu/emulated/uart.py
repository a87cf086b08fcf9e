"""The UART behind a converter port — the serial half of the chips Linux's
drivers/usb/serial/ and drivers/usb/class/cdc-acm.c talk to, described with the vocabulary of
include/uapi/linux/serial_reg.h (the 16550's line-status error bits) and
include/uapi/asm-generic/termios.h (the TIOCM_* modem lines).

A `Uart` has two sides.  The far end — a test, a bridge, whatever is wired to the serial
pins — calls `received()` for what the UART transmitted (the bytes the host wrote), `send()`
and `send_break()` to make bytes (and line errors) arrive on the receive pin, and sets the
input modem lines `cts`, `dsr`, `ri`, `dcd`.  The USB side — a chip model — calls `write()`
with the host's OUT data (refused when the bounded buffer is full, so the endpoint NAKs and
nothing accepted is ever dropped), `read()` for the bytes the host may read, and
`configure()` with the line settings the host asked for (`UartSettings`: baud rate, data
bits, parity, stop bits, flow control, XON/XOFF characters, DTR, RTS, break); every change is
kept in `changes` and reported to `on_settings` listeners, input-line changes to
`on_inputs` listeners.  `loopback` wires the transmit pin to the receive pin (and a break
sent comes back as a break received).  With RTS/CTS (DTR/DSR) flow control and CTS (DSR)
deasserted, or while the host holds a break, the UART transmits nothing: bytes stay queued.

Data moves as the chunks it was written in (memoryview slices, no copies but the one that
takes the host's buffer).  What it does not do: time anything (bytes cross the wire at once,
whatever the baud rate), act on XON/XOFF characters in the data, or check the far end's
bytes against the data bits and parity set — errors are what the far end says they are.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    from .endpoint import Endpoint

__all__ = [
    "ByteFifo",
    "FlowControl",
    "LineError",
    "ModemLines",
    "Parity",
    "StopBits",
    "Uart",
    "UartSettings",
    "covering_packets",
    "zlp_follows",
]


class Parity(IntEnum):
    """Parity, with the code FTDI's SET_DATA (bits 8-10) and CDC's bParityType share."""

    NONE = 0
    ODD = 1
    EVEN = 2
    MARK = 3
    SPACE = 4


class StopBits(IntEnum):
    """Stop bits, with the code FTDI's SET_DATA (bits 11-12) and CDC's bCharFormat share;
    `bits` is the number itself (1, 1.5 or 2)."""

    ONE = 0
    ONE_AND_HALF = 1
    TWO = 2

    @property
    def bits(self) -> float:
        return _STOP_BITS[self]


_STOP_BITS: Final = {StopBits.ONE: 1.0, StopBits.ONE_AND_HALF: 1.5, StopBits.TWO: 2.0}


class FlowControl(IntFlag):
    """Handshaking the host asked for, with the bit values of FTDI's SET_FLOW_CTRL
    (the high byte of wIndex)."""

    NONE = 0
    RTS_CTS = 0x01
    DTR_DSR = 0x02
    XON_XOFF = 0x04


class ModemLines(IntFlag):
    """Modem lines with their TIOCM_* values: DTR and RTS are outputs the host drives; CTS,
    DSR, RI and DCD (TIOCM_CAR) are inputs the far end drives."""

    DTR = 0x002
    RTS = 0x004
    CTS = 0x020
    DCD = 0x040
    RI = 0x080
    DSR = 0x100


_NO_LINES: Final = ModemLines(0)


class LineError(IntFlag):
    """A receive error attached to one byte, with the 16550 line-status bit values
    (UART_LSR_OE, _PE, _FE, _BI) that FTDI's second status byte also uses."""

    NONE = 0
    OVERRUN = 0x02
    PARITY = 0x04
    FRAMING = 0x08
    BREAK = 0x10


_NO_ERROR: Final = LineError.NONE
_DATA_BITS: Final = frozenset({5, 6, 7, 8, 16})


@dataclass(frozen=True, slots=True)
class UartSettings:
    """Everything the host sets on a UART.  The defaults are a UART after power-up:
    9600 baud 8N1, no flow control, XON 0x11 / XOFF 0x13, DTR and RTS low, no break.
    Raises ValueError naming a field whose value a UART cannot have."""

    baud: int = 9600
    data_bits: int = 8
    parity: Parity = Parity.NONE
    stop_bits: StopBits = StopBits.ONE
    flow: FlowControl = FlowControl.NONE
    xon: int = 0x11
    xoff: int = 0x13
    dtr: bool = False
    rts: bool = False
    break_on: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.baud, int) or self.baud <= 0:
            raise ValueError(f"baud={self.baud!r} must be a positive integer")
        if self.data_bits not in _DATA_BITS:
            raise ValueError(f"data_bits={self.data_bits!r} must be one of 5, 6, 7, 8, 16")
        for name, kind in (("parity", Parity), ("stop_bits", StopBits),
                           ("flow", FlowControl)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name}={getattr(self, name)!r} must be a {kind.__name__}")
        for name in ("xon", "xoff"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name}={getattr(self, name)!r} must be a character 0..255")


SettingsListener: TypeAlias = Callable[[UartSettings, UartSettings], None]
"""(old, new) settings, called after every change the host makes."""
LinesListener: TypeAlias = Callable[[ModemLines, ModemLines], None]
"""(old, new) input lines, called after every change the far end makes."""

Chunk: TypeAlias = "bytes | memoryview"


def covering_packets(room: int, maxpacket: int) -> int:
    """Bytes in the whole packets that cover a host read of `room` bytes (at least one
    packet): what a device offers for it."""
    return -(-max(room, 1) // maxpacket) * maxpacket


def zlp_follows(sent: int, room: int, maxpacket: int, left: int) -> bool:
    """Whether a device that sent `sent` bytes into a read of `room`, with `left` bytes
    still queued, owes a zero-length packet to end the read: it filled whole packets, the
    host has room for more, and nothing more is there."""
    return sent < room and not sent % maxpacket and not left


class ByteFifo:
    """A byte stream kept as the chunks it was written in, servable to an IN endpoint.

    `put` stores a copy, `take` hands out a slice of the oldest chunk without copying,
    `read` gathers across chunks (copying only then), `move_to` passes every chunk on
    without copying.  `serve_in` hands the stream to the host in whole packets and ends a
    read that the stream cannot fill with a short packet, or with a zero-length packet when
    what it had was a multiple of wMaxPacketSize, so a read never waits for bytes that are
    not there.  Context: every method is atomic and never blocks.
    """

    __slots__ = ("_chunks", "_head", "_size", "_zlp_due")

    def __init__(self) -> None:
        self._chunks: deque[Chunk] = deque()
        self._head = 0
        self._size = 0
        self._zlp_due = False

    def __len__(self) -> int:
        """Bytes stored and not yet taken."""
        return self._size

    def put(self, data: bytes | bytearray | memoryview) -> None:
        """Append a copy of `data` (empty data is ignored)."""
        if data:
            self._chunks.append(bytes(data))
            self._size += len(data)

    def take(self, limit: int) -> memoryview | None:
        """Up to `limit` bytes from the oldest chunk (no copy), or None when empty."""
        if not self._chunks or limit <= 0:
            return None
        chunk = self._chunks[0]
        head = self._head
        piece = memoryview(chunk)[head:head + limit]
        head += len(piece)
        if head >= len(chunk):
            self._chunks.popleft()
            head = 0
        self._head = head
        self._size -= len(piece)
        return piece

    def read(self, limit: int) -> memoryview | bytes | None:
        """Up to `limit` bytes in order, across chunks (a copy only when the bytes span
        more than one chunk), or None when empty."""
        first = self.take(limit)
        if first is None or len(first) == limit or not self._size:
            return first
        parts = [first]
        got = len(first)
        while got < limit and (piece := self.take(limit - got)) is not None:
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def drain(self) -> bytes:
        """Every stored byte, in order; the FIFO is empty afterwards."""
        chunks = self._chunks
        if not chunks:
            return b""
        if self._head:
            chunks[0] = memoryview(chunks[0])[self._head:]
        data = bytes(chunks[0]) if len(chunks) == 1 else b"".join(chunks)
        self.clear()
        return data

    def move_to(self, other: ByteFifo) -> int:
        """Append every stored chunk to `other` (no copy); returns the bytes moved."""
        chunks, moved = self._chunks, self._size
        if not chunks:
            return 0
        if self._head:
            chunks[0] = memoryview(chunks[0])[self._head:]
        other._chunks.extend(chunks)
        other._size += moved
        self.clear()
        return moved

    def clear(self) -> None:
        """Drop everything stored."""
        self._chunks.clear()
        self._head = 0
        self._size = 0
        self._zlp_due = False

    def serve_in(self, ep: Endpoint, room: int) -> memoryview | bytes | None:
        """IN handler body: data for a host read with `room` bytes left, None to NAK.

        Offers whole packets covering `room` from the oldest chunk (more than fits is the
        host's babble, as on the wire); a read that ends on a packet boundary with room
        left gets a ZLP next.
        """
        if self._zlp_due:
            self._zlp_due = False
            return b""
        maxp = ep.maxpacket
        data = self.take(covering_packets(room, maxp))
        if data is not None:
            self._zlp_due = zlp_follows(len(data), room, maxp, self._size)
        return data


class Uart:
    """One UART: a bounded transmit buffer for what the host writes, an unbounded receive
    buffer for what the far end sends, line settings, modem lines and break.

    `buffer_size` bounds the bytes held for the host's writes (with `loopback`, those and
    the looped-back bytes not yet read): a write that does not fit is refused unless the
    buffer is empty.  Subclasses (the USB side) override the hooks `data_ready`,
    `room_ready` and `lines_changed`.  Context: every method is atomic and never blocks;
    the far end may call its methods in any device state.
    """

    __slots__ = ("_inputs", "_loopback", "_marks", "_room_due", "_rx", "_rx_put",
                 "_rx_taken", "_sending", "_settings", "_tx", "buffer_size", "changes",
                 "on_inputs", "on_settings")

    def __init__(self, *, loopback: bool = False, buffer_size: int = 64 * 1024,
                 settings: UartSettings | None = None) -> None:
        if buffer_size <= 0:
            raise ValueError(f"buffer_size={buffer_size!r} must be positive")
        self.buffer_size = buffer_size
        self._loopback = loopback
        self._settings = settings if settings is not None else UartSettings()
        self._inputs = _NO_LINES
        self._tx = ByteFifo()
        self._rx = ByteFifo()
        # Receive errors as (stream offset just past the affected byte, error), in order.
        self._marks: deque[tuple[int, LineError]] = deque()
        self._rx_put = 0
        self._rx_taken = 0
        self._room_due = False
        self._update_sending()
        #: Every settings value the host set, oldest first.
        self.changes: list[UartSettings] = []
        #: Called with (old, new) after each settings change.
        self.on_settings: list[SettingsListener] = []
        #: Called with (old, new) input lines after each change of CTS, DSR, RI or DCD.
        self.on_inputs: list[LinesListener] = []

    def __repr__(self) -> str:
        s = self._settings
        return (f"<{type(self).__name__} {s.baud} {s.data_bits}{s.parity.name[0]}"
                f"{s.stop_bits.bits:g} lines={self.modem_lines!r}>")

    # -- the far end ------------------------------------------------------------------------

    def received(self) -> bytes:
        """Take every byte the UART has transmitted — what the host wrote — (b"" if none,
        while it does not transmit, and with `loopback`, where the bytes come back to the
        host instead).  A host write refused for lack of room may then go on."""
        if self._loopback or not self.transmitting:
            return b""
        data = self._tx.drain()
        self._check_room()
        return data

    def send(self, data: bytes | bytearray | memoryview,
             error: LineError = LineError.NONE) -> None:
        """Make `data` arrive on the receive pin, for the host to read (a copy is kept;
        nothing is dropped).  `error` marks the last byte of `data` as received with a
        parity, framing or overrun error or as a break.  Raises ValueError for an error
        without a byte to carry it."""
        if error and not data:
            raise ValueError("send(): `error` marks the last byte of `data`, which is empty")
        self._rx.put(data)
        self._rx_put += len(data)
        if error:
            self._marks.append((self._rx_put, LineError(error)))
        if data:
            self.data_ready()

    def send_break(self) -> None:
        """A break condition on the receive pin: a NUL byte received with the break error,
        as a 16550 reports it."""
        self.send(b"\0", LineError.BREAK)

    @property
    def pending_in(self) -> int:
        """Bytes received for the host and not yet read by it."""
        return len(self._rx)

    @property
    def pending_out(self) -> int:
        """Bytes the host wrote that have not been transmitted (taken by `received()` or
        looped back) yet."""
        return len(self._tx)

    def clear(self) -> None:
        """Drop the bytes queued in both directions."""
        self.purge_rx()
        self.purge_tx()

    @property
    def cts(self) -> bool:
        """Clear To Send, driven by the far end."""
        return bool(self._inputs & ModemLines.CTS)

    @cts.setter
    def cts(self, value: bool) -> None:
        self.set_inputs(cts=value)

    @property
    def dsr(self) -> bool:
        """Data Set Ready, driven by the far end."""
        return bool(self._inputs & ModemLines.DSR)

    @dsr.setter
    def dsr(self, value: bool) -> None:
        self.set_inputs(dsr=value)

    @property
    def ri(self) -> bool:
        """Ring Indicator, driven by the far end."""
        return bool(self._inputs & ModemLines.RI)

    @ri.setter
    def ri(self, value: bool) -> None:
        self.set_inputs(ri=value)

    @property
    def dcd(self) -> bool:
        """Data Carrier Detect, driven by the far end."""
        return bool(self._inputs & ModemLines.DCD)

    @dcd.setter
    def dcd(self, value: bool) -> None:
        self.set_inputs(dcd=value)

    def set_inputs(self, *, cts: bool | None = None, dsr: bool | None = None,
                   ri: bool | None = None, dcd: bool | None = None) -> None:
        """Drive several input lines at once (None leaves a line as it is); listeners and
        the chip hear of it once, and only if something changed."""
        old = new = self._inputs
        for line, level in ((ModemLines.CTS, cts), (ModemLines.DSR, dsr),
                            (ModemLines.RI, ri), (ModemLines.DCD, dcd)):
            if level is not None:
                new = new | line if level else new & ~line
        if new == old:
            return
        self._inputs = new
        self._update_sending()
        for listener in tuple(self.on_inputs):
            listener(old, new)
        self.lines_changed(old, new)
        self._pump()

    @property
    def inputs(self) -> ModemLines:
        """The input lines asserted now (CTS, DSR, RI, DCD)."""
        return self._inputs

    @property
    def modem_lines(self) -> ModemLines:
        """Every asserted line, as TIOCMGET would report them: the host's DTR and RTS and
        the far end's inputs."""
        s = self._settings
        out = (ModemLines.DTR if s.dtr else _NO_LINES) | (ModemLines.RTS if s.rts else _NO_LINES)
        return out | self._inputs

    # -- line settings ------------------------------------------------------------------------

    @property
    def settings(self) -> UartSettings:
        """The line settings as the host last set them."""
        return self._settings

    @property
    def baud(self) -> int:
        return self._settings.baud

    @property
    def data_bits(self) -> int:
        return self._settings.data_bits

    @property
    def parity(self) -> Parity:
        return self._settings.parity

    @property
    def stop_bits(self) -> StopBits:
        return self._settings.stop_bits

    @property
    def flow(self) -> FlowControl:
        return self._settings.flow

    @property
    def dtr(self) -> bool:
        return self._settings.dtr

    @property
    def rts(self) -> bool:
        return self._settings.rts

    @property
    def break_on(self) -> bool:
        """The host holds the transmit pin in the break condition."""
        return self._settings.break_on

    @property
    def loopback(self) -> bool:
        """The transmit pin is wired to the receive pin."""
        return self._loopback

    @loopback.setter
    def loopback(self, value: bool) -> None:
        self._loopback = value
        self._pump()
        self._check_room()

    @property
    def transmitting(self) -> bool:
        """The UART sends what the host wrote: no break, and the flow-control input the
        host enabled (CTS for RTS/CTS, DSR for DTR/DSR) asserted."""
        return self._sending

    # -- the USB side -------------------------------------------------------------------------

    def configure(self, **changes: object) -> bool:
        """Apply line settings the host sent (`UartSettings` field names); returns False
        and records nothing when nothing changed.  A change is appended to `changes` and
        reported to `on_settings`; with `loopback`, a break being raised arrives as a
        break received.  Raises ValueError (bad value) or TypeError (unknown field)."""
        old = self._settings
        new = replace(old, **changes)  # type: ignore[arg-type]
        if new == old:
            return False
        looped_break = self._loopback and new.break_on and not old.break_on
        if looped_break:
            self._pump()
        self._settings = new
        self._update_sending()
        self.changes.append(new)
        for listener in tuple(self.on_settings):
            listener(old, new)
        if looped_break:
            self.send_break()
        self._pump()
        return True

    def write(self, data: bytes | bytearray | memoryview) -> bool:
        """Take the host's OUT data into the transmit buffer (a copy); False — nothing
        taken — when it does not fit and the buffer is not empty.  `room_ready` is called
        once when a refused write may be retried."""
        loopback, size = self._loopback, len(data)
        held = len(self._tx) + (len(self._rx) if loopback else 0)
        if held and held + size > self.buffer_size:
            self._room_due = True
            return False
        if loopback and self._sending and not self._tx:
            self._rx.put(data)
            self._rx_put += size
            if size:
                self.data_ready()
        else:
            self._tx.put(data)
            if loopback:
                self._pump()
        return True

    def read(self, limit: int) -> tuple[memoryview | bytes | None, LineError]:
        """Up to `limit` received bytes for the host (no copy when they lie in one chunk)
        and the error of the last of them.  A read stops just after a byte received with
        an error, so the error belongs to the last byte returned.  (None, NONE) when
        nothing is waiting."""
        marks = self._marks
        if marks:
            limit = min(limit, marks[0][0] - self._rx_taken)
        data = self._rx.read(limit)
        if data is None:
            return None, _NO_ERROR
        self._rx_taken += len(data)
        error = _NO_ERROR
        if marks and marks[0][0] == self._rx_taken:
            error = marks.popleft()[1]
        if self._room_due and self._loopback:
            self._check_room()
        return data, error

    def purge_rx(self) -> None:
        """Drop the received bytes the host has not read (and their errors)."""
        self._rx.clear()
        self._marks.clear()
        self._rx_taken = self._rx_put
        self._check_room()

    def purge_tx(self) -> None:
        """Drop the bytes the host wrote that were not transmitted yet."""
        self._tx.clear()
        self._check_room()

    # -- hooks for the USB side ---------------------------------------------------------------

    def data_ready(self) -> None:
        """Called when bytes arrived for the host to read.  Context: atomic."""

    def room_ready(self) -> None:
        """Called once, after a refused `write`, when there is room again.  Context: atomic."""

    def lines_changed(self, old: ModemLines, new: ModemLines) -> None:
        """Called when the far end changed input lines (after `on_inputs`).  Context: atomic."""

    # -- internals ----------------------------------------------------------------------------

    def _update_sending(self) -> None:
        s, inputs = self._settings, self._inputs
        self._sending = not (
            s.break_on
            or (s.flow & FlowControl.RTS_CTS and not inputs & ModemLines.CTS)
            or (s.flow & FlowControl.DTR_DSR and not inputs & ModemLines.DSR))

    def _pump(self) -> None:
        """With `loopback`, move what the host wrote to the receive side while the UART
        transmits."""
        if self._loopback and self._sending and self._tx:
            self._rx_put += self._tx.move_to(self._rx)
            self.data_ready()

    def _check_room(self) -> None:
        if not self._room_due:
            return
        held = len(self._tx) + (len(self._rx) if self._loopback else 0)
        if held < self.buffer_size:
            self._room_due = False
            self.room_ready()
