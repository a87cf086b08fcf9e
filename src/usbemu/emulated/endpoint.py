"""Device-side data endpoints with USB semantics — counterpart of the transfer logic in
Linux's drivers/usb/gadget/udc/dummy_hcd.c (`transfer()`) and of QEMU's hw/usb/core.c
packet handling.

An `Endpoint` is one data endpoint of an emulated device as the device sees it: a queue of
IN data the model has produced, an OUT handler or queue for data the host sends, a halt
feature and a data toggle.  Host controllers move whole transfers through it with
`pull_in`/`push_out` (bulk, interrupt) or `iso_in`/`iso_out` (isochronous); packetisation
is computed, not looped, so a 64 KiB transfer costs the same few operations as a 64-byte
one, yet the outcome is what the packets would give: a short packet ends an IN transfer,
a zero-length packet ends one whose length is a multiple of wMaxPacketSize, more data than
the host has room for is babble, an empty queue is a NAK and a halted endpoint STALLs.

This module knows nothing about hosts, URBs or errno values: it reports `Outcome`s; the
host side maps them to Linux status codes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Final, TypeAlias

from ..spec.ch9 import EndpointType, Speed, maxp_mult
from ..spec.descriptors import EndpointDescriptor

if TYPE_CHECKING:
    from .device import DeviceModel


class Outcome(Enum):
    """What a transfer attempt got from the device (the handshake, in transfer terms)."""

    DONE = "done"  #: ACKed to the end: short packet, ZLP or host buffer full
    NAK = "nak"  #: device not ready now; bytes moved so far stand; retry when woken
    STALL = "stall"  #: endpoint halted, or a control request error
    BABBLE = "babble"  #: device sent a packet larger than the host's remaining room
    NO_RESPONSE = "no-response"  #: nobody answered the token (no such endpoint/address)
    CRC = "crc"  #: transaction error: the packet's CRC was wrong on every retry
    BITSTUFF = "bitstuff"  #: transaction error: a bit-stuffing violation on every retry


class Stall(Exception):
    """Raised by a model's handler to answer with STALL (a data endpoint then halts)."""


InHandler: TypeAlias = Callable[["Endpoint", int], "bytes | bytearray | memoryview | None"]
"""(endpoint, room) → data for one device-side transfer, or None to NAK."""
OutHandler: TypeAlias = Callable[["Endpoint", memoryview], "Outcome | None"]
"""(endpoint, data) → None to ACK, Outcome.NAK to refuse for now, Outcome.STALL (or raise
Stall) to halt the endpoint."""

_EMPTY: Final = memoryview(b"")


def _period_us(desc: EndpointDescriptor, speed: Speed) -> int:
    """Service interval in µs, as `usb_decode_interval` computes it (Linux §4.5)."""
    unit = 125 if speed >= Speed.HIGH else 1000
    kind, interval = desc.type, desc.bInterval
    if kind == EndpointType.ISOC or (kind == EndpointType.INT and speed >= Speed.HIGH):
        return (1 << (min(max(interval, 1), 16) - 1)) * unit
    if kind == EndpointType.INT:
        return interval * unit
    return interval * unit if speed == Speed.HIGH and not desc.is_in else 0


class Endpoint:
    """One data endpoint of a configured device model, as the device sees it.

    Created by the model on SET_CONFIGURATION / SET_INTERFACE; the model and its handlers
    use `write`, `read`, `halt`; host controllers use `pull_in`, `push_out`, `iso_in`,
    `iso_out`, `clear_halt`.  Context: every method is atomic and never blocks.
    """

    __slots__ = ("_fifo", "_head", "_out_queue", "address", "desc", "halted", "in_handler",
                 "is_in", "maxpacket", "model", "mult", "out_handler", "out_limit",
                 "out_packets", "period_us", "toggle", "type")

    def __init__(self, model: DeviceModel | None, desc: EndpointDescriptor,
                 speed: Speed = Speed.FULL) -> None:
        self.model = model
        self.desc = desc
        self.address = desc.bEndpointAddress
        self.is_in = desc.is_in
        self.type = desc.type
        self.maxpacket = desc.maxpacket
        self.mult = maxp_mult(desc.wMaxPacketSize) if speed == Speed.HIGH else 1
        self.period_us = _period_us(desc, speed)
        self.halted = False
        self.toggle = 0
        self.in_handler: InHandler | None = None
        self.out_handler: OutHandler | None = None
        self.out_packets = False
        self.out_limit: int | None = None
        # IN: queued device-side transfers as (data, zlp); _head is the offset into the first.
        # Lists, not deques: they hold a transfer or two, and an empty deque costs 600 bytes.
        self._fifo: list[tuple[memoryview, bool]] = []
        self._head = 0
        self._out_queue: list[bytes] = []

    def __repr__(self) -> str:
        kind = self.type.name.lower()
        return f"<Endpoint {self.address:#04x} {kind} maxp={self.maxpacket}>"

    # -- the model's side ---------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview, *, zlp: bool = False) -> None:
        """Queue one device-side IN transfer.  It ends with a short packet, or with a
        zero-length packet when `zlp` is set and its length is a multiple of maxpacket;
        empty data queues a single ZLP.  Anything but `bytes` is copied.  The host is woken
        if it waits on this endpoint."""
        if not self.is_in:
            raise ValueError(f"endpoint {self.address:#04x} is OUT: the host writes to it")
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        self._fifo.append((view, zlp or not view))
        self.notify_ready()

    @property
    def queued(self) -> int:
        """Bytes of IN data queued and not yet taken by the host."""
        return sum(len(v) for v, _ in self._fifo) - self._head

    def read(self) -> bytes | None:
        """Oldest OUT transfer the host sent (when no out_handler is set), or None."""
        if not self._out_queue:
            return None
        data = self._out_queue.pop(0)
        self.notify_ready()
        return data

    def halt(self) -> None:
        """Set the ENDPOINT_HALT feature: every transfer STALLs until the host clears it.
        A host transfer waiting on the endpoint is woken to see the STALL."""
        self.halted = True
        self.notify_ready()

    def notify_ready(self) -> None:
        """Tell the host that a NAKed transfer on this endpoint may now make progress."""
        model = self.model
        if model is not None and model.host is not None:
            model.host.endpoint_ready(model, self)

    # -- the host's side ----------------------------------------------------------------------

    def clear_halt(self) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT): un-halt and reset the data toggle to DATA0."""
        self.halted = False
        self.toggle = 0

    def reset_toggle(self) -> None:
        self.toggle = 0

    def pull_in(self, dst: memoryview) -> tuple[Outcome, int]:
        """Move IN data into `dst` (the host's remaining buffer); returns (outcome, bytes).

        DONE when a short packet (or ZLP) arrived or `dst` is full; NAK when the device has
        nothing more yet; BABBLE when its next packet is larger than the room left (the
        bytes that fit are delivered, the packet is consumed); STALL when halted.
        """
        if self.halted:
            return Outcome.STALL, 0
        maxp, room, moved = self.maxpacket, len(dst), 0
        while True:
            if not self._fifo and not self._refill(room):
                return (Outcome.STALL if self.halted else Outcome.NAK), moved
            data, zlp = self._fifo[0]
            left = len(data) - self._head
            if left <= room:
                dst[moved:moved + left] = data[self._head:]
                moved += left
                room -= left
                self._count_packets(left if left else 1)
                del self._fifo[0]
                self._head = 0
                if left % maxp or left == 0:
                    return Outcome.DONE, moved
                if zlp:
                    self._fifo.insert(0, (_EMPTY, True))
                if room == 0:
                    return Outcome.DONE, moved
                continue
            full = room - room % maxp
            if full:
                dst[moved:moved + full] = data[self._head:self._head + full]
                self._head += full
                moved += full
                room -= full
                self._count_packets(full)
            if room == 0 and full:
                return Outcome.DONE, moved
            # The next packet is bigger than the room left: babble.  The host keeps what
            # fits; the device's transfer is over (dummy_hcd gives the request back).
            dst[moved:moved + room] = data[self._head:self._head + room]
            moved += room
            self._count_packets(1)
            del self._fifo[0]
            self._head = 0
            return Outcome.BABBLE, moved

    def _refill(self, room: int) -> bool:
        """Ask the model's IN handler for data when the queue is empty; False → NAK."""
        handler = self.in_handler
        if handler is None:
            return False
        try:
            data = handler(self, room)
        except Stall:
            self.halted = True
            return False
        if data is None:
            return False
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        self._fifo.append((view, not view))
        return True

    def push_out(self, src: memoryview, zlp: bool = False) -> tuple[Outcome, int]:
        """Deliver OUT data from the host; returns (outcome, bytes accepted).

        `zlp` adds a zero-length packet after a transfer whose length is a multiple of
        maxpacket (URB_ZERO_PACKET).  With `out_packets` set, the handler sees one packet
        at a time and may NAK part-way; otherwise it sees the whole transfer.
        """
        if self.halted:
            return Outcome.STALL, 0
        handler = self.out_handler
        if handler is None:
            if self.out_limit is not None and len(self._out_queue) >= self.out_limit:
                return Outcome.NAK, 0
            self._out_queue.append(bytes(src))
            self._flip(self._packets(len(src), zlp))
            return Outcome.DONE, len(src)
        if self.out_packets:
            return self._push_packets(handler, src, zlp)
        try:
            answer = handler(self, src)
        except Stall:
            self.halted = True
            return Outcome.STALL, 0
        if answer is Outcome.NAK:
            return Outcome.NAK, 0
        if answer is Outcome.STALL:
            self.halted = True
            return Outcome.STALL, 0
        self._flip(self._packets(len(src), zlp))
        return Outcome.DONE, len(src)

    def _push_packets(self, handler: OutHandler, src: memoryview,
                      zlp: bool) -> tuple[Outcome, int]:
        maxp, total, offset = self.maxpacket, len(src), 0
        count = self._packets(total, zlp)
        for _ in range(count):
            packet = src[offset:offset + maxp]
            try:
                answer = handler(self, packet)
            except Stall:
                self.halted = True
                return Outcome.STALL, offset
            if answer is Outcome.NAK:
                return Outcome.NAK, offset
            if answer is Outcome.STALL:
                self.halted = True
                return Outcome.STALL, offset
            offset += len(packet)
            self.toggle ^= 1
        return Outcome.DONE, total

    def _packets(self, length: int, zlp: bool) -> int:
        full, rest = divmod(length, self.maxpacket)
        return full + (1 if rest or length == 0 or zlp else 0)

    def _count_packets(self, nbytes: int) -> None:
        """Advance the data toggle over the packets that carry `nbytes` (≥ 1)."""
        self.toggle ^= (-(-nbytes // self.maxpacket)) & 1

    def _flip(self, packets: int) -> None:
        self.toggle ^= packets & 1

    def pending_out(self) -> int:
        """OUT transfers queued and not yet read by the model."""
        return len(self._out_queue)

    # -- isochronous: one packet per (micro)frame, no handshakes, no retries --------------------

    def iso_in(self, length: int) -> bytes:
        """Data for one isochronous IN packet of at most `length` bytes (b"" if none)."""
        limit = min(length, self.maxpacket * self.mult)
        if not self._fifo and not self._refill(limit):
            return b""
        data, _ = self._fifo.pop(0)
        chunk = bytes(data[self._head:self._head + limit])
        self._head = 0
        return chunk

    def iso_out(self, data: memoryview) -> None:
        """Deliver one isochronous OUT packet (lost if the model cannot take it)."""
        handler = self.out_handler
        if handler is None:
            if self.out_limit is None or len(self._out_queue) < self.out_limit:
                self._out_queue.append(bytes(data))
            return
        with contextlib.suppress(Stall):  # no handshake: a refused packet is simply lost
            handler(self, data)

    def flush(self) -> None:
        """Drop queued IN and OUT data (unconfigure, interface change)."""
        self._fifo.clear()
        self._head = 0
        self._out_queue.clear()
