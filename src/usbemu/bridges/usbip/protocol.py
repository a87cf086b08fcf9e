"""The USB/IP wire protocol, sans-I/O — the packets of drivers/usb/usbip/usbip_common.h
and tools/usb/usbip/src/usbip_network.h (Documentation/usb/usbip_protocol.rst), version
0x0111.

Two phases share one TCP connection.  First the operations of usbipd: OP_REQ_DEVLIST /
OP_REP_DEVLIST (the exported devices with their interfaces) and OP_REQ_IMPORT /
OP_REP_IMPORT (a device handed to the client).  After a successful import the connection
carries URBs: USBIP_CMD_SUBMIT / USBIP_RET_SUBMIT and USBIP_CMD_UNLINK / USBIP_RET_UNLINK,
each with the 48-byte `usbip_header` (20 bytes of `usbip_header_basic`, then the command's
fields padded to 28), then the transfer buffer (OUT data in a CMD_SUBMIT, IN data in a
RET_SUBMIT: `actual_length` bytes, an isochronous URB's packets back to back without the
padding between them), then the isochronous packet descriptors.  Every field is
big-endian; statuses are negative errnos (an unlinked URB answers -ECONNRESET).

`UsbipConnection` is one end of such a connection in the manner of h11: bytes go in
(`receive_data`), messages come out (`next_event`), messages go in (`send`) and bytes come
out.  It knows which messages its role may receive in each phase, and a client remembers
each CMD_SUBMIT it sent, because a RET_SUBMIT does not say how much data follows (the stub
zeroes its direction).  Anything a peer gets wrong — an unknown command, a wrong version,
a truncated or oversized packet, a length that lies, a reply for a seqnum never sent — is a
`ProtocolError` naming the field; buffered input is bounded.  It does no I/O: the server
and client adapters own the sockets.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Final

__all__ = [
    "HEADER_SIZE",
    "USBIP_MAX_ISO_PACKETS",
    "USBIP_PORT",
    "USBIP_VERSION",
    "CmdSubmit",
    "CmdUnlink",
    "Command",
    "ConnectionClosed",
    "Direction",
    "Event",
    "ExportedDevice",
    "ExportedInterface",
    "IsoPacket",
    "OpCode",
    "OpRepDevlist",
    "OpRepImport",
    "OpReqDevlist",
    "OpReqImport",
    "OpStatus",
    "Phase",
    "ProtocolError",
    "RetSubmit",
    "RetUnlink",
    "Role",
    "UsbipConnection",
]

USBIP_VERSION: Final = 0x0111
USBIP_PORT: Final = 3240
#: stub_rx refuses more isochronous packets than this in one URB.
USBIP_MAX_ISO_PACKETS: Final = 1024
#: number_of_packets of a URB that is not isochronous, as usbip_protocol.rst spells it.
NOT_ISO: Final = 0xFFFFFFFF

SYSFS_PATH_MAX: Final = 256
SYSFS_BUS_ID_SIZE: Final = 32


class OpCode(IntEnum):
    """The operation codes of usbip_network.h."""

    REQ_DEVLIST = 0x8005
    REP_DEVLIST = 0x0005
    REQ_IMPORT = 0x8003
    REP_IMPORT = 0x0003


class OpStatus(IntEnum):
    """The status of an operation reply (ST_* of usbip_common.h in the tools)."""

    OK = 0
    NA = 1  #: device not available (not exported)
    DEV_BUSY = 2  #: imported by another client
    DEV_ERR = 3
    NODEV = 4
    ERROR = 5


class Command(IntEnum):
    """The command of a usbip_header_basic."""

    CMD_SUBMIT = 1
    CMD_UNLINK = 2
    RET_SUBMIT = 3
    RET_UNLINK = 4


class Direction(IntEnum):
    """USBIP_DIR_OUT / USBIP_DIR_IN."""

    OUT = 0
    IN = 1


class Role(Enum):
    """Which end of the connection: the server (usbipd and stub) or the client (usbip
    attach and vhci)."""

    SERVER = "server"
    CLIENT = "client"


class Phase(Enum):
    """What the connection carries: operations, URBs after an import, or nothing more."""

    OP = "op"
    URB = "urb"
    CLOSED = "closed"


class ProtocolError(Exception):
    """The peer broke the protocol; `reason` says where.  The connection cannot go on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- the records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportedInterface:
    """struct usbip_usb_interface: the class triple of one interface."""

    bInterfaceClass: int
    bInterfaceSubClass: int
    bInterfaceProtocol: int


@dataclass(frozen=True, slots=True)
class ExportedDevice:
    """struct usbip_usb_device: an exported device as OP_REP_DEVLIST and OP_REP_IMPORT
    describe it.  `speed` is an enum usb_device_speed value; `interfaces` travel in
    OP_REP_DEVLIST only."""

    path: str
    busid: str
    busnum: int
    devnum: int
    speed: int
    idVendor: int
    idProduct: int
    bcdDevice: int
    bDeviceClass: int
    bDeviceSubClass: int
    bDeviceProtocol: int
    bConfigurationValue: int
    bNumConfigurations: int
    bNumInterfaces: int
    interfaces: tuple[ExportedInterface, ...] = ()

    @property
    def devid(self) -> int:
        """The devid of its URBs: busnum << 16 | devnum."""
        return (self.busnum << 16) | self.devnum


@dataclass(frozen=True, slots=True)
class IsoPacket:
    """struct usbip_iso_packet_descriptor (`status` a negative errno or 0)."""

    offset: int
    length: int
    actual_length: int = 0
    status: int = 0


# -- the messages ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpReqDevlist:
    """OP_REQ_DEVLIST: which devices do you export?"""

    version: int = USBIP_VERSION


@dataclass(frozen=True, slots=True)
class OpRepDevlist:
    """OP_REP_DEVLIST: the exported devices."""

    devices: tuple[ExportedDevice, ...] = ()
    status: int = OpStatus.OK
    version: int = USBIP_VERSION


@dataclass(frozen=True, slots=True)
class OpReqImport:
    """OP_REQ_IMPORT: give me the device at `busid`."""

    busid: str
    version: int = USBIP_VERSION


@dataclass(frozen=True, slots=True)
class OpRepImport:
    """OP_REP_IMPORT: the device (status OK) or why not."""

    status: int
    device: ExportedDevice | None = None
    version: int = USBIP_VERSION


@dataclass(frozen=True, slots=True)
class CmdSubmit:
    """USBIP_CMD_SUBMIT: a URB for the server's host to submit.  `data` is the OUT
    payload (`transfer_buffer_length` bytes; empty for IN); `iso` the packet descriptors of
    an isochronous URB (`number_of_packets` of them)."""

    seqnum: int
    devid: int
    direction: int
    ep: int
    transfer_flags: int
    transfer_buffer_length: int
    start_frame: int = 0
    number_of_packets: int = 0
    interval: int = 0
    setup: bytes = bytes(8)
    data: bytes | bytearray | memoryview = b""
    iso: tuple[IsoPacket, ...] = ()

    @property
    def is_iso(self) -> bool:
        """Whether isochronous packet descriptors follow the buffer."""
        return 0 < self.number_of_packets != NOT_ISO


@dataclass(frozen=True, slots=True)
class RetSubmit:
    """USBIP_RET_SUBMIT: the URB's completion.  `data` is the IN data (`actual_length`
    bytes; an isochronous URB's packets back to back); `iso` its packet descriptors."""

    seqnum: int
    status: int
    actual_length: int
    start_frame: int = 0
    number_of_packets: int = 0
    error_count: int = 0
    data: bytes | bytearray | memoryview = b""
    iso: tuple[IsoPacket, ...] = ()
    devid: int = 0
    direction: int = 0
    ep: int = 0


@dataclass(frozen=True, slots=True)
class CmdUnlink:
    """USBIP_CMD_UNLINK: cancel the URB of `unlink_seqnum`."""

    seqnum: int
    devid: int
    direction: int
    ep: int
    unlink_seqnum: int


@dataclass(frozen=True, slots=True)
class RetUnlink:
    """USBIP_RET_UNLINK: -ECONNRESET when the URB was unlinked, 0 when it had completed."""

    seqnum: int
    status: int
    devid: int = 0
    direction: int = 0
    ep: int = 0


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its end (after a whole message)."""


Event = (OpReqDevlist | OpRepDevlist | OpReqImport | OpRepImport | CmdSubmit | RetSubmit
         | CmdUnlink | RetUnlink | ConnectionClosed)

# -- wire formats ------------------------------------------------------------------------------

_OP_COMMON: Final = struct.Struct(">HHI")  # version, code, status
_DEVICE: Final = struct.Struct(f">{SYSFS_PATH_MAX}s{SYSFS_BUS_ID_SIZE}sIIIHHHBBBBBB")
_INTERFACE: Final = struct.Struct(">BBBx")
_COUNT: Final = struct.Struct(">I")
_BASIC: Final = struct.Struct(">IIIII")  # command, seqnum, devid, direction, ep
_HEADER_CMD_SUBMIT: Final = struct.Struct(">IIIIIIiiii8s")
_HEADER_RET_SUBMIT: Final = struct.Struct(">IIIIIiiiii8x")
_HEADER_CMD_UNLINK: Final = struct.Struct(">IIIIII24x")
_HEADER_RET_UNLINK: Final = struct.Struct(">IIIIIi24x")
_ISO: Final = struct.Struct(">IIIi")  # offset, length, actual_length, status
HEADER_SIZE: Final = 48
OP_COMMON_SIZE: Final = _OP_COMMON.size

assert _HEADER_CMD_SUBMIT.size == _HEADER_RET_SUBMIT.size == _HEADER_CMD_UNLINK.size \
    == _HEADER_RET_UNLINK.size == HEADER_SIZE
assert _DEVICE.size == 312

_U32: Final = 0xFFFFFFFF


def _cstring(raw: bytes, name: str) -> str:
    """A zero-terminated string field; the bytes after the terminator are ignored."""
    text = raw.split(b"\0", 1)[0]
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"{name} is not an ASCII string: {text!r}") from None


def _fixed(text: str, size: int, name: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) >= size:
        raise ValueError(f"{name} {text!r} is longer than {size - 1} bytes")
    return raw


def _pack_device(dev: ExportedDevice) -> bytes:
    return _DEVICE.pack(
        _fixed(dev.path, SYSFS_PATH_MAX, "path"), _fixed(dev.busid, SYSFS_BUS_ID_SIZE, "busid"),
        dev.busnum, dev.devnum, dev.speed, dev.idVendor, dev.idProduct, dev.bcdDevice,
        dev.bDeviceClass, dev.bDeviceSubClass, dev.bDeviceProtocol, dev.bConfigurationValue,
        dev.bNumConfigurations, dev.bNumInterfaces)


def _unpack_device(raw: memoryview | bytes, interfaces: tuple[ExportedInterface, ...] = ()
                   ) -> ExportedDevice:
    (path, busid, busnum, devnum, speed, vid, pid, bcd, cls, sub, proto, cfg, ncfg,
     nif) = _DEVICE.unpack(raw)
    return ExportedDevice(_cstring(path, "path"), _cstring(busid, "busid"), busnum, devnum,
                          speed, vid, pid, bcd, cls, sub, proto, cfg, ncfg, nif, interfaces)


def _to_wire(value: int) -> int:
    """A signed field as its 32-bit pattern."""
    return value & _U32


def _signed(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


def _pack_iso(packets: tuple[IsoPacket, ...]) -> bytes:
    return b"".join(_ISO.pack(p.offset, p.length, p.actual_length, p.status) for p in packets)


def _unpack_iso(raw: memoryview, count: int) -> tuple[IsoPacket, ...]:
    return tuple(IsoPacket(*_ISO.unpack_from(raw, i * _ISO.size)) for i in range(count))


def encode(event: Event) -> bytes:
    """The bytes of one message.  Context: atomic.  Raises ValueError for a message that
    cannot be sent (a string too long for its field, data that disagrees with its length,
    a ConnectionClosed)."""
    encoder = _ENCODERS.get(type(event))
    if encoder is None:
        raise ValueError(f"{type(event).__name__} is not a USB/IP message")
    return encoder(event)


def _encode_req_devlist(ev: OpReqDevlist) -> bytes:
    return _OP_COMMON.pack(ev.version, OpCode.REQ_DEVLIST, 0)


def _encode_rep_devlist(ev: OpRepDevlist) -> bytes:
    parts = [_OP_COMMON.pack(ev.version, OpCode.REP_DEVLIST, ev.status),
             _COUNT.pack(len(ev.devices))]
    for dev in ev.devices:
        if len(dev.interfaces) != dev.bNumInterfaces:
            raise ValueError(f"device {dev.busid}: bNumInterfaces {dev.bNumInterfaces} but "
                             f"{len(dev.interfaces)} interfaces")
        parts.append(_pack_device(dev))
        parts.extend(_INTERFACE.pack(i.bInterfaceClass, i.bInterfaceSubClass,
                                     i.bInterfaceProtocol) for i in dev.interfaces)
    return b"".join(parts)


def _encode_req_import(ev: OpReqImport) -> bytes:
    return _OP_COMMON.pack(ev.version, OpCode.REQ_IMPORT, 0) + \
        _fixed(ev.busid, SYSFS_BUS_ID_SIZE, "busid").ljust(SYSFS_BUS_ID_SIZE, b"\0")


def _encode_rep_import(ev: OpRepImport) -> bytes:
    head = _OP_COMMON.pack(ev.version, OpCode.REP_IMPORT, ev.status)
    if ev.status != OpStatus.OK:
        return head
    if ev.device is None:
        raise ValueError("OpRepImport with status OK needs the device")
    return head + _pack_device(ev.device)


def _encode_cmd_submit(ev: CmdSubmit) -> bytes:
    want = ev.transfer_buffer_length if ev.direction == Direction.OUT else 0
    if len(ev.data) != want:
        raise ValueError(f"CMD_SUBMIT {ev.seqnum}: {len(ev.data)} bytes of data for a "
                         f"{Direction(ev.direction).name} transfer of {ev.transfer_buffer_length}")
    if ev.is_iso and len(ev.iso) != ev.number_of_packets:
        raise ValueError(f"CMD_SUBMIT {ev.seqnum}: {len(ev.iso)} iso packets for "
                         f"number_of_packets {ev.number_of_packets}")
    if len(ev.setup) != 8:
        raise ValueError(f"CMD_SUBMIT {ev.seqnum}: setup is {len(ev.setup)} bytes, not 8")
    head = _HEADER_CMD_SUBMIT.pack(
        Command.CMD_SUBMIT, ev.seqnum, ev.devid, ev.direction, ev.ep, ev.transfer_flags,
        ev.transfer_buffer_length, ev.start_frame, _signed(_to_wire(ev.number_of_packets)),
        ev.interval, bytes(ev.setup))
    return b"".join((head, ev.data, _pack_iso(ev.iso) if ev.is_iso else b""))


def _encode_ret_submit(ev: RetSubmit) -> bytes:
    if ev.data and len(ev.data) != ev.actual_length:
        raise ValueError(f"RET_SUBMIT {ev.seqnum}: {len(ev.data)} bytes of data for "
                         f"actual_length {ev.actual_length}")
    head = _HEADER_RET_SUBMIT.pack(
        Command.RET_SUBMIT, ev.seqnum, ev.devid, ev.direction, ev.ep, ev.status,
        ev.actual_length, ev.start_frame, _signed(_to_wire(ev.number_of_packets)),
        ev.error_count)
    return b"".join((head, ev.data, _pack_iso(ev.iso)))


def _encode_cmd_unlink(ev: CmdUnlink) -> bytes:
    return _HEADER_CMD_UNLINK.pack(Command.CMD_UNLINK, ev.seqnum, ev.devid, ev.direction,
                                   ev.ep, ev.unlink_seqnum)


def _encode_ret_unlink(ev: RetUnlink) -> bytes:
    return _HEADER_RET_UNLINK.pack(Command.RET_UNLINK, ev.seqnum, ev.devid, ev.direction,
                                   ev.ep, ev.status)


_ENCODERS: Final[dict[type, Callable[[Any], bytes]]] = {
    OpReqDevlist: _encode_req_devlist,
    OpRepDevlist: _encode_rep_devlist,
    OpReqImport: _encode_req_import,
    OpRepImport: _encode_rep_import,
    CmdSubmit: _encode_cmd_submit,
    RetSubmit: _encode_ret_submit,
    CmdUnlink: _encode_cmd_unlink,
    RetUnlink: _encode_ret_unlink,
}


# -- the connection ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    """What a client remembers of a CMD_SUBMIT until its answer: how to read it."""

    direction: int
    length: int
    packets: int  # isochronous packets, 0 if not isochronous


#: The operations each role may receive, by code.
_OP_EXPECTED: Final = {Role.SERVER: (OpCode.REQ_DEVLIST, OpCode.REQ_IMPORT),
                       Role.CLIENT: (OpCode.REP_DEVLIST, OpCode.REP_IMPORT)}
#: The URB commands each role may receive.
_URB_EXPECTED: Final = {Role.SERVER: (Command.CMD_SUBMIT, Command.CMD_UNLINK),
                        Role.CLIENT: (Command.RET_SUBMIT, Command.RET_UNLINK)}
#: Devices an OP_REP_DEVLIST may list, and interfaces per device (bNumInterfaces is a byte).
MAX_DEVICES: Final = 4096


@dataclass
class UsbipConnection:
    """One end of a USB/IP connection, sans-I/O.  `max_transfer` bounds a transfer
    buffer; `max_buffered` the bytes kept while a message is incomplete (the adapter stops
    reading the socket past it).  Context: every method is atomic."""

    role: Role
    max_transfer: int = 16 << 20
    phase: Phase = Phase.OP
    _buffer: bytearray = field(default_factory=bytearray, repr=False)
    _pos: int = 0
    _eof: bool = False
    _pending: dict[int, _Pending] = field(default_factory=dict, repr=False)
    _unlinks: dict[int, int] = field(default_factory=dict, repr=False)  # seqnum → target
    _awaiting: OpCode | None = None  # the reply a client waits for in phase OP

    @property
    def max_buffered(self) -> int:
        """The most bytes one message may take: a whole CMD_SUBMIT or RET_SUBMIT."""
        return HEADER_SIZE + self.max_transfer + USBIP_MAX_ISO_PACKETS * _ISO.size

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as messages."""
        return len(self._buffer) - self._pos

    @property
    def in_flight(self) -> int:
        """How many CMD_SUBMITs a client sent and has no answer for."""
        return len(self._pending)

    def pending(self) -> frozenset[int]:
        """The seqnums of the CMD_SUBMITs a client sent and has no answer for."""
        return frozenset(self._pending)

    # -- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes from the peer; b"" says it closed its end."""
        if not data:
            self._eof = True
            return
        if self._pos and (self._pos == len(self._buffer) or self._pos > 1 << 16):
            del self._buffer[:self._pos]
            self._pos = 0
        self._buffer += data

    def next_event(self) -> Event | None:
        """The next whole message, ConnectionClosed once the peer closed after a whole
        message, or None when more bytes are needed.  Raises ProtocolError for what the
        peer got wrong (the connection is then CLOSED)."""
        if self.phase is Phase.CLOSED:
            return ConnectionClosed() if self._eof else None
        try:
            event = self._parse_op() if self.phase is Phase.OP else self._parse_urb()
        except ProtocolError:
            self.phase = Phase.CLOSED
            raise
        if event is None and self._eof:
            self.phase = Phase.CLOSED
            if self.buffered:
                raise ProtocolError(f"connection closed in the middle of a message "
                                    f"({self.buffered} bytes of it received)")
            return ConnectionClosed()
        if event is None and self.buffered > self.max_buffered:
            self.phase = Phase.CLOSED
            raise ProtocolError(f"{self.buffered} bytes buffered without a whole message")
        return event

    def _view(self, size: int) -> memoryview | None:
        """The next `size` bytes without taking them, or None if they are not all here."""
        if len(self._buffer) - self._pos < size:
            return None
        return memoryview(self._buffer)[self._pos:self._pos + size]

    def _take(self, size: int) -> None:
        self._pos += size

    def _parse_op(self) -> Event | None:
        head = self._view(OP_COMMON_SIZE)
        if head is None:
            return None
        version, code, status = _OP_COMMON.unpack(head)
        head.release()
        if code not in _OP_EXPECTED[self.role]:
            raise ProtocolError(f"unexpected operation code {code:#06x}"
                                + (f" (a {Command(code).name} before any import)"
                                   if code in Command._value2member_map_ else ""))
        if version != USBIP_VERSION:
            raise ProtocolError(f"version {version:#06x}, not {USBIP_VERSION:#06x}")
        if self.role is Role.CLIENT and code != self._awaiting:
            raise ProtocolError(f"reply {OpCode(code).name} to no request of it")
        parser = _OP_PARSERS[OpCode(code)]
        event = parser(self, status)
        if event is not None and isinstance(event, OpRepImport):
            self._awaiting = None
            if event.status == OpStatus.OK:
                self.phase = Phase.URB
        elif event is not None and isinstance(event, OpRepDevlist):
            self._awaiting = None
        return event

    def _op_req_devlist(self, status: int) -> Event | None:
        self._take(OP_COMMON_SIZE)
        return OpReqDevlist()

    def _op_req_import(self, status: int) -> Event | None:
        raw = self._view(OP_COMMON_SIZE + SYSFS_BUS_ID_SIZE)
        if raw is None:
            return None
        busid = _cstring(bytes(raw[OP_COMMON_SIZE:]), "busid")
        raw.release()
        self._take(OP_COMMON_SIZE + SYSFS_BUS_ID_SIZE)
        return OpReqImport(busid)

    def _op_rep_import(self, status: int) -> Event | None:
        if status != OpStatus.OK:
            self._take(OP_COMMON_SIZE)
            return OpRepImport(status)
        raw = self._view(OP_COMMON_SIZE + _DEVICE.size)
        if raw is None:
            return None
        device = _unpack_device(raw[OP_COMMON_SIZE:])
        raw.release()
        self._take(OP_COMMON_SIZE + _DEVICE.size)
        return OpRepImport(status, device)

    def _op_rep_devlist(self, status: int) -> Event | None:
        raw = self._view(OP_COMMON_SIZE + _COUNT.size)
        if raw is None:
            return None
        (count,) = _COUNT.unpack(raw[OP_COMMON_SIZE:])
        raw.release()
        if count > MAX_DEVICES:
            raise ProtocolError(f"OP_REP_DEVLIST lists {count} devices (at most "
                                f"{MAX_DEVICES})")
        offset = OP_COMMON_SIZE + _COUNT.size
        devices = []
        for _ in range(count):
            raw = self._view(offset + _DEVICE.size)
            if raw is None:
                return None
            nif = raw[offset + _DEVICE.size - 1]
            raw.release()
            raw = self._view(offset + _DEVICE.size + nif * _INTERFACE.size)
            if raw is None:
                return None
            start = offset + _DEVICE.size
            interfaces = tuple(ExportedInterface(*_INTERFACE.unpack_from(raw, start + i * 4))
                               for i in range(nif))
            devices.append(_unpack_device(raw[offset:start], interfaces))
            raw.release()
            offset = start + nif * _INTERFACE.size
        self._take(offset)
        return OpRepDevlist(tuple(devices), status)

    def _parse_urb(self) -> Event | None:
        head = self._view(HEADER_SIZE)
        if head is None:
            return None
        command = _BASIC.unpack_from(head)[0]
        head.release()
        if command not in _URB_EXPECTED[self.role]:
            known = Command(command).name if command in Command._value2member_map_ else \
                f"{command:#x}"
            raise ProtocolError(f"unexpected command {known}")
        return _URB_PARSERS[Command(command)](self)

    def _cmd_submit(self) -> Event | None:
        head = self._view(HEADER_SIZE)
        assert head is not None
        (_, seqnum, devid, direction, ep, flags, length, start_frame, packets, interval,
         setup) = _HEADER_CMD_SUBMIT.unpack(head)
        head.release()
        if direction not in (Direction.OUT, Direction.IN):
            raise ProtocolError(f"CMD_SUBMIT {seqnum}: direction {direction}")
        if ep > 15:
            raise ProtocolError(f"CMD_SUBMIT {seqnum}: endpoint {ep}")
        if not 0 <= length <= self.max_transfer:
            raise ProtocolError(f"CMD_SUBMIT {seqnum}: transfer_buffer_length {length} "
                                f"(at most {self.max_transfer})")
        iso = packets > 0
        if packets > USBIP_MAX_ISO_PACKETS or packets < -1:
            raise ProtocolError(f"CMD_SUBMIT {seqnum}: number_of_packets {packets} (at most "
                                f"{USBIP_MAX_ISO_PACKETS})")
        data_len = length if direction == Direction.OUT else 0
        total = HEADER_SIZE + data_len + (packets * _ISO.size if iso else 0)
        raw = self._view(total)
        if raw is None:
            return None
        data = bytes(raw[HEADER_SIZE:HEADER_SIZE + data_len])
        descriptors = _unpack_iso(raw[HEADER_SIZE + data_len:], packets) if iso else ()
        raw.release()
        self._take(total)
        return CmdSubmit(seqnum, devid, direction, ep, flags, length, start_frame,
                         packets & _U32, interval, setup, data,
                         descriptors)

    def _cmd_unlink(self) -> Event | None:
        head = self._view(HEADER_SIZE)
        assert head is not None
        _, seqnum, devid, direction, ep, unlink_seqnum = _HEADER_CMD_UNLINK.unpack(head)
        head.release()
        self._take(HEADER_SIZE)
        return CmdUnlink(seqnum, devid, direction, ep, unlink_seqnum)

    def _ret_submit(self) -> Event | None:
        head = self._view(HEADER_SIZE)
        assert head is not None
        (_, seqnum, devid, direction, ep, status, actual, start_frame, packets,
         error_count) = _HEADER_RET_SUBMIT.unpack(head)
        head.release()
        sent = self._pending.get(seqnum)
        if sent is None:
            raise ProtocolError(f"RET_SUBMIT for seqnum {seqnum}, which is not pending")
        if not 0 <= actual <= sent.length:
            raise ProtocolError(f"RET_SUBMIT {seqnum}: actual_length {actual} of a "
                                f"{sent.length}-byte transfer")
        if sent.packets and packets != sent.packets:
            raise ProtocolError(f"RET_SUBMIT {seqnum}: number_of_packets {packets} of "
                                f"{sent.packets} submitted")
        data_len = actual if sent.direction == Direction.IN else 0
        iso_len = sent.packets * _ISO.size
        raw = self._view(HEADER_SIZE + data_len + iso_len)
        if raw is None:
            return None
        data = bytes(raw[HEADER_SIZE:HEADER_SIZE + data_len])
        descriptors = _unpack_iso(raw[HEADER_SIZE + data_len:], sent.packets)
        raw.release()
        if sent.packets and sum(p.actual_length for p in descriptors) != actual:
            raise ProtocolError(f"RET_SUBMIT {seqnum}: total length of iso packets not "
                                f"equal to actual length {actual}")
        self._take(HEADER_SIZE + data_len + iso_len)
        del self._pending[seqnum]
        return RetSubmit(seqnum, status, actual, start_frame, packets & _U32, error_count, data,
                         descriptors, devid, direction, ep)

    def _ret_unlink(self) -> Event | None:
        head = self._view(HEADER_SIZE)
        assert head is not None
        _, seqnum, devid, direction, ep, status = _HEADER_RET_UNLINK.unpack(head)
        head.release()
        if seqnum not in self._unlinks:
            raise ProtocolError(f"RET_UNLINK for seqnum {seqnum}, no unlink of it was sent")
        # an unlinked URB gets no RET_SUBMIT; one that had completed got it before this
        self._pending.pop(self._unlinks.pop(seqnum), None)
        self._take(HEADER_SIZE)
        return RetUnlink(seqnum, status, devid, direction, ep)

    # -- output --------------------------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """The bytes that carry `event`, after checking that this end may send it now.
        Raises ValueError for a message out of place (a URB before the import, a reply
        sent by a client …) or one that cannot be encoded."""
        allowed = _SENDABLE[self.role][self.phase]
        if not isinstance(event, allowed):
            raise ValueError(f"a {self.role.value} in phase {self.phase.value} cannot send "
                             f"{type(event).__name__}")
        data = encode(event)
        if isinstance(event, CmdSubmit):
            if event.seqnum in self._pending:
                raise ValueError(f"CMD_SUBMIT seqnum {event.seqnum} is already pending")
            self._pending[event.seqnum] = _Pending(
                event.direction, event.transfer_buffer_length,
                event.number_of_packets if event.is_iso else 0)
        elif isinstance(event, CmdUnlink):
            self._unlinks[event.seqnum] = event.unlink_seqnum
        elif isinstance(event, OpReqDevlist):
            self._awaiting = OpCode.REP_DEVLIST
        elif isinstance(event, OpReqImport):
            self._awaiting = OpCode.REP_IMPORT
        elif isinstance(event, OpRepImport) and event.status == OpStatus.OK:
            self.phase = Phase.URB
        return data


_OP_PARSERS: Final = {
    OpCode.REQ_DEVLIST: UsbipConnection._op_req_devlist,
    OpCode.REQ_IMPORT: UsbipConnection._op_req_import,
    OpCode.REP_DEVLIST: UsbipConnection._op_rep_devlist,
    OpCode.REP_IMPORT: UsbipConnection._op_rep_import,
}
_URB_PARSERS: Final = {
    Command.CMD_SUBMIT: UsbipConnection._cmd_submit,
    Command.CMD_UNLINK: UsbipConnection._cmd_unlink,
    Command.RET_SUBMIT: UsbipConnection._ret_submit,
    Command.RET_UNLINK: UsbipConnection._ret_unlink,
}
_SENDABLE: Final[dict[Role, dict[Phase, tuple[type, ...]]]] = {
    Role.SERVER: {Phase.OP: (OpRepDevlist, OpRepImport), Phase.URB: (RetSubmit, RetUnlink),
                  Phase.CLOSED: ()},
    Role.CLIENT: {Phase.OP: (OpReqDevlist, OpReqImport), Phase.URB: (CmdSubmit, CmdUnlink),
                  Phase.CLOSED: ()},
}
