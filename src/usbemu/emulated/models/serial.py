"""Generic USB serial converters — device-side counterpart of the converters Linux's
drivers/usb/serial/generic.c drives, declared the way QEMU's hw/usb/dev-serial.c declares its
FTDI converter (static descriptor tables, small handlers).

Three vendor-specific converters (class 0xff, full speed, 64-byte bulk packets, bcdUSB 1.10,
VID 0xffff) in the shape the usb-serial layer expects: `SerialConverter` (PID 0xfff8, one bulk
IN/OUT pair), `TwoPortSerialConverter` (PID 0xfff9, two pairs plus an interrupt IN endpoint
for modem-status notifications) and `EightPortSerialConverter` (PID 0xfffa, pairs
0x01/0x81 … 0x08/0x88).  Ports are found from the descriptors exactly as usb_serial_probe()
pairs them: the i-th bulk IN and the i-th bulk OUT endpoint make port i.  Each port is a byte
pipe for tests and bridges: `serial_port(n).received()` takes what the host wrote,
`serial_port(n).send()` queues bytes for the host to read, and `loopback=True` echoes a port's
OUT data on its own IN.

What they do not do: there is no UART behind the pipes, so no baud rate, line coding, flow
control lines or vendor control requests (the generic driver sends none; a request STALLs).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import replace
from enum import IntFlag
from typing import ClassVar, Final

from ...spec.ch9 import ClassCode, EndpointType, Speed
from ...spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from ..device import DeviceModel, endpoint_in
from ..endpoint import Endpoint, Outcome

_EMPTY: Final = b""


class ByteFifo:
    """A byte stream kept as the chunks it was written in, served to an IN endpoint.

    `put` stores a copy; `serve_in` hands the stream to the host in whole packets and ends a
    read that the stream cannot fill with a short packet, or with a zero-length packet when
    what it had was a multiple of wMaxPacketSize, so a read never waits for bytes that are
    not there.  Context: every method is atomic and never blocks.
    """

    __slots__ = ("_chunks", "_head", "_size", "_zlp_due")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
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

    def drain(self) -> bytes:
        """Every stored byte, in order; the FIFO is empty afterwards."""
        chunks, head = self._chunks, self._head
        if not chunks:
            return _EMPTY
        if head:
            chunks[0] = chunks[0][head:]
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.clear()
        return data

    def clear(self) -> None:
        """Drop everything stored."""
        self._chunks.clear()
        self._head = 0
        self._size = 0
        self._zlp_due = False

    def serve_in(self, ep: Endpoint, room: int) -> memoryview | bytes | None:
        """IN handler body: data for a host read with `room` bytes left, None to NAK.

        Offers whole packets covering `room` (more than fits is the host's babble, as on the
        wire); a read that ends on a packet boundary with room left gets a ZLP next.
        """
        if self._zlp_due:
            self._zlp_due = False
            return _EMPTY
        maxp = ep.maxpacket
        data = self.take(-(-max(room, 1) // maxp) * maxp)
        if data is not None and len(data) < room and not len(data) % maxp and not self._size:
            self._zlp_due = True
        return data


class ModemStatus(IntFlag):
    """UART state bits of the two-port converter's status notification (the CDC PSTN
    SERIAL_STATE bitmap, USB CDC PSTN 1.2 table 31)."""

    DCD = 0x01  #: bRxCarrier
    DSR = 0x02  #: bTxCarrier
    BREAK = 0x04
    RI = 0x08  #: bRingSignal
    FRAMING = 0x10
    PARITY = 0x20
    OVERRUN = 0x40


SERIAL_STATE: Final = 0x20
"""bNotification of the status blob (CDC SERIAL_STATE)."""

_NOTIFICATION: Final = struct.Struct("<BBHHHH")


def serial_state_notification(port: int, status: ModemStatus) -> bytes:
    """The 10-byte status blob: bmRequestType 0xA1, bNotification 0x20 (SERIAL_STATE),
    wValue 0, wIndex = port number (0-based; CDC puts an interface number there),
    wLength 2, then the 16-bit `ModemStatus` bitmap, all little-endian."""
    return _NOTIFICATION.pack(0xA1, SERIAL_STATE, 0, port, 2, status)


class SerialPort:
    """One port of a converter: bytes the host wrote (OUT) and bytes it will read (IN).

    Context: every method is atomic and never blocks; `send` and `received` may be called in
    any device state (data waits until the host reads it or makes room).
    """

    __slots__ = ("_in_waiting", "_model", "_out_blocked", "_rx", "_tx", "buffer_size",
                 "in_address", "index", "loopback", "out_address")

    def __init__(self, model: DeviceModel, index: int, in_address: int, out_address: int,
                 *, loopback: bool, buffer_size: int) -> None:
        self._model = model
        self.index = index
        self.in_address = in_address
        self.out_address = out_address
        self.loopback = loopback
        self.buffer_size = buffer_size
        self._rx = ByteFifo()
        self._tx = ByteFifo()
        self._in_waiting = False
        self._out_blocked = False

    def __repr__(self) -> str:
        return (f"<SerialPort {self.index} in={self.in_address:#04x} "
                f"out={self.out_address:#04x}>")

    def received(self) -> bytes:
        """Take every byte the host has written to this port (b"" if none); a host write
        that was NAKed because the buffer was full may then go on."""
        data = self._rx.drain()
        self._unblock_out()
        return data

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Queue `data` for the host to read from this port's bulk IN endpoint (a copy is
        kept; nothing is dropped)."""
        self._tx.put(data)
        self._wake_in()

    @property
    def pending_in(self) -> int:
        """Bytes queued for the host and not yet read."""
        return len(self._tx)

    @property
    def pending_out(self) -> int:
        """Bytes the host wrote that `received()` has not taken yet."""
        return len(self._rx)

    def clear(self) -> None:
        """Drop the bytes queued in both directions."""
        self._rx.clear()
        self._tx.clear()
        self._unblock_out()

    # -- endpoint handlers ----------------------------------------------------------------

    def bind(self) -> None:
        """Attach the handlers to the model's active endpoints (after SET_CONFIGURATION or
        SET_INTERFACE created them)."""
        ep_in = self._model.endpoint(self.in_address)
        ep_out = self._model.endpoint(self.out_address)
        if ep_in is not None:
            ep_in.in_handler = self._pull
        if ep_out is not None:
            ep_out.out_handler = self._push

    def _pull(self, ep: Endpoint, room: int) -> memoryview | bytes | None:
        data = self._tx.serve_in(ep, room)
        if data is None:
            self._in_waiting = True
        elif self.loopback:
            self._unblock_out()
        return data

    def _push(self, ep: Endpoint, data: memoryview) -> Outcome | None:
        fifo = self._tx if self.loopback else self._rx
        if len(fifo) and len(fifo) + len(data) > self.buffer_size:
            self._out_blocked = True
            return Outcome.NAK
        fifo.put(data)
        if self.loopback:
            self._wake_in()
        return None

    def _wake_in(self) -> None:
        if self._in_waiting:
            self._in_waiting = False
            _notify(self._model, self.in_address)

    def _unblock_out(self) -> None:
        fifo = self._tx if self.loopback else self._rx
        if self._out_blocked and len(fifo) < self.buffer_size:
            self._out_blocked = False
            _notify(self._model, self.out_address)


def _notify(model: DeviceModel, address: int) -> None:
    ep = model.endpoint(address)
    if ep is not None:
        ep.notify_ready()


# -- descriptors ------------------------------------------------------------------------------

_MAXP: Final = 64
_VENDOR: Final = 0xFFFF
NOTIFY_ENDPOINT: Final = 0x83
NOTIFY_MAXPACKET: Final = 16


def _bulk_pairs(count: int) -> tuple[EndpointDescriptor, ...]:
    """Port n (1-based) uses bulk IN 0x80|n and bulk OUT n."""
    return tuple(ep for n in range(1, count + 1)
                 for ep in (EndpointDescriptor.bulk(0x80 | n, _MAXP),
                            EndpointDescriptor.bulk(n, _MAXP)))


def _converter(product: int, endpoints: tuple[EndpointDescriptor, ...]) -> DeviceDescriptor:
    return DeviceDescriptor(
        idVendor=_VENDOR, idProduct=product, bcdDevice=0x0100, bcdUSB=0x0110,
        bMaxPacketSize0=64,
        configurations=(ConfigDescriptor(
            interfaces=(InterfaceDescriptor(ClassCode.VENDOR_SPEC, 0, 0, endpoints),),
            bmAttributes=0x80, bMaxPower=50),),
    )


def _ports_of(desc: DeviceDescriptor) -> list[tuple[int, int]]:
    """(IN, OUT) address pairs in usb_serial_probe() order: i-th bulk IN with i-th bulk OUT."""
    first = desc.configurations[0]
    eps = [ep for alt in first.interfaces if alt.bAlternateSetting == 0 for ep in alt.endpoints
           if ep.type == EndpointType.BULK]
    ins = [ep.bEndpointAddress for ep in eps if ep.is_in]
    outs = [ep.bEndpointAddress for ep in eps if not ep.is_in]
    return list(zip(ins, outs, strict=True))


# -- the models -------------------------------------------------------------------------------


class SerialConverter(DeviceModel):
    """One-port generic converter: ffff:fff8, bulk IN 0x81 / OUT 0x01, 64-byte packets.

    `serial_port(0)` is its byte pipe.  Options: `loopback` echoes OUT data on IN; `buffer_size`
    bounds the bytes held per direction for the host (OUT NAKs when full); `manufacturer`,
    `product`, `serial` add string descriptors.
    """

    model_name: ClassVar[str] = "serial"
    speed = Speed.FULL
    descriptor: ClassVar[DeviceDescriptor] = _converter(0xFFF8, _bulk_pairs(1))

    def __init__(self, *, loopback: bool = False, buffer_size: int = 64 * 1024,
                 manufacturer: str = "", product: str = "", serial: str = "") -> None:
        if buffer_size <= 0:
            raise ValueError(f"buffer_size={buffer_size!r} must be positive")
        desc = type(self).descriptor
        if manufacturer or product or serial:
            desc = replace(desc, iManufacturer=manufacturer, iProduct=product,
                           iSerialNumber=serial)
        super().__init__(desc)
        self._ports = tuple(
            SerialPort(self, i, ep_in, ep_out, loopback=loopback, buffer_size=buffer_size)
            for i, (ep_in, ep_out) in enumerate(_ports_of(desc)))

    @property
    def serial_ports(self) -> tuple[SerialPort, ...]:
        """Every port, in port-number order."""
        return self._ports

    def serial_port(self, n: int) -> SerialPort:
        """Port `n` (0-based, as usb-serial numbers them); raises IndexError past the last.

        (Named so because `DeviceModel.port` is the upstream port the model is plugged into.)
        """
        if not 0 <= n < len(self._ports):
            raise IndexError(f"{type(self).__name__} has ports 0..{len(self._ports) - 1}, "
                             f"not {n}")
        return self._ports[n]

    def on_configuration(self, config: ConfigDescriptor | None) -> None:
        if config is not None:
            self._bind()

    def on_interface(self, interface: int, alt: int) -> None:
        self._bind()

    def _bind(self) -> None:
        for port in self._ports:
            port.bind()


class TwoPortSerialConverter(SerialConverter):
    """Two-port converter: ffff:fff9, bulk pairs 0x81/0x01 and 0x82/0x02, and interrupt IN
    0x83 (16 bytes, 1 ms) carrying `serial_state_notification` blobs queued by
    `notify_status`; the endpoint NAKs when none is queued."""

    model_name: ClassVar[str] = "serial2"
    descriptor: ClassVar[DeviceDescriptor] = _converter(
        0xFFF9, (*_bulk_pairs(2),
                 EndpointDescriptor.interrupt(NOTIFY_ENDPOINT, NOTIFY_MAXPACKET, 1)))

    def __init__(self, *, loopback: bool = False, buffer_size: int = 64 * 1024,
                 manufacturer: str = "", product: str = "", serial: str = "") -> None:
        super().__init__(loopback=loopback, buffer_size=buffer_size,
                         manufacturer=manufacturer, product=product, serial=serial)
        self._notifications: deque[bytes] = deque()

    def notify_status(self, port: int, status: ModemStatus) -> None:
        """Queue one modem-status blob for `port` (see `serial_state_notification`); each
        poll of the interrupt endpoint returns one.  Raises IndexError for a bad port."""
        self.serial_port(port)
        self._notifications.append(serial_state_notification(port, status))
        _notify(self, NOTIFY_ENDPOINT)

    @property
    def pending_notifications(self) -> int:
        return len(self._notifications)

    @endpoint_in(NOTIFY_ENDPOINT)
    def _status_in(self, ep: Endpoint, room: int) -> bytes | None:
        return self._notifications.popleft() if self._notifications else None


class EightPortSerialConverter(SerialConverter):
    """Eight-port converter: ffff:fffa, bulk pairs 0x81/0x01 … 0x88/0x08."""

    model_name: ClassVar[str] = "serial8"
    descriptor: ClassVar[DeviceDescriptor] = _converter(0xFFFA, _bulk_pairs(8))
