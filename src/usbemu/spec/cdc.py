"""USB CDC constants, functional descriptors and the ACM wire formats — counterpart of
include/uapi/linux/usb/cdc.h, of include/linux/usb/cdc.h and of `cdc_parse_cdc_header()` in
drivers/usb/core/message.c.

The numbers a CDC device and its host agree on (USB CDC 1.2 and its PSTN subclass document):
the communications-class subclass and protocol codes, the class-specific descriptor types and
functional-descriptor subtypes, the class requests and notifications, the ACM and call
management capability bits, the control-line and SERIAL_STATE bitmaps, and the 7-byte line
coding.  The functional descriptors an ACM function needs (Header, Call Management, ACM,
Union) are frozen dataclasses that build and decode their bytes; as `usbemu.spec.descriptors`
says, they travel in an interface's `extra` bytes.  `parse_cdc_header` walks such `extra`
bytes with Linux's rules and messages.  Nothing here does I/O; the Ethernet, NCM and MBIM
descriptors are recognised by the parser (counted, kept raw) but not decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import ClassVar, Final

from .config import Notice
from .descriptors import DescriptorError

__all__ = [
    "USB_CDC_NOTIFICATION_SIZE",
    "AcmCapability",
    "CallManagementCapability",
    "CdcAcmDescriptor",
    "CdcCallManagementDescriptor",
    "CdcDescriptorType",
    "CdcHeaderDescriptor",
    "CdcNotification",
    "CdcParsedHeader",
    "CdcProtocol",
    "CdcRequest",
    "CdcSubclass",
    "CdcSubtype",
    "CdcUnionDescriptor",
    "CharFormat",
    "ControlLineState",
    "LineCoding",
    "ParityType",
    "SerialState",
    "acm_functional_descriptors",
    "parse_cdc_header",
    "serial_state_notification",
]


class CdcSubclass(IntEnum):
    """bInterfaceSubClass of a communications-class interface (USB_CDC_SUBCLASS_*)."""

    DLC = 0x01
    ACM = 0x02
    TCM = 0x03
    MCM = 0x04
    CCM = 0x05
    ETHERNET = 0x06
    WHCM = 0x08
    DMM = 0x09
    MDLM = 0x0A
    OBEX = 0x0B
    EEM = 0x0C
    NCM = 0x0D
    MBIM = 0x0E


class CdcProtocol(IntEnum):
    """bInterfaceProtocol of a communications-class interface (USB_CDC_PROTO_* and
    USB_CDC_ACM_PROTO_*)."""

    NONE = 0x00
    AT_V25TER = 0x01
    AT_PCCA101 = 0x02
    AT_PCCA101_WAKE = 0x03
    AT_GSM = 0x04
    AT_3G = 0x05
    AT_CDMA = 0x06
    VENDOR = 0xFF


class CdcDescriptorType(IntEnum):
    """bDescriptorType of class-specific descriptors (USB_DT_CS_*)."""

    CS_INTERFACE = 0x24
    CS_ENDPOINT = 0x25


class CdcSubtype(IntEnum):
    """bDescriptorSubType of functional descriptors (USB_CDC_*_TYPE)."""

    HEADER = 0x00
    CALL_MANAGEMENT = 0x01
    ACM = 0x02
    UNION = 0x06
    COUNTRY = 0x07
    NETWORK_TERMINAL = 0x0A
    ETHERNET = 0x0F
    WHCM = 0x11
    MDLM = 0x12
    MDLM_DETAIL = 0x13
    DMM = 0x14
    OBEX = 0x15
    NCM = 0x1A
    MBIM = 0x1B
    MBIM_EXTENDED = 0x1C


CDC_PHONET_MAGIC_NUMBER: Final = 0xAB
"""An unofficial subtype some phones put in their descriptors (include/linux/usb/cdc.h)."""


class CdcRequest(IntEnum):
    """Class requests of the communications interface (USB_CDC_REQ_* and the PSTN ones)."""

    SEND_ENCAPSULATED_COMMAND = 0x00
    GET_ENCAPSULATED_RESPONSE = 0x01
    SET_COMM_FEATURE = 0x02
    GET_COMM_FEATURE = 0x03
    CLEAR_COMM_FEATURE = 0x04
    SET_LINE_CODING = 0x20
    GET_LINE_CODING = 0x21
    SET_CONTROL_LINE_STATE = 0x22
    SEND_BREAK = 0x23


class CdcNotification(IntEnum):
    """bNotification codes of the notification element (USB_CDC_NOTIFY_*)."""

    NETWORK_CONNECTION = 0x00
    RESPONSE_AVAILABLE = 0x01
    SERIAL_STATE = 0x20
    SPEED_CHANGE = 0x2A


class AcmCapability(IntFlag):
    """bmCapabilities of the ACM functional descriptor (USB_CDC_COMM_FEATURE, USB_CDC_CAP_*):
    cdc-acm refuses break_ctl (-EOPNOTSUPP) unless BREAK is set."""

    COMM_FEATURE = 0x01
    LINE = 0x02  #: SET/GET_LINE_CODING, SET_CONTROL_LINE_STATE, SERIAL_STATE
    BREAK = 0x04  #: SEND_BREAK
    NETWORK = 0x08  #: NETWORK_CONNECTION notification


class CallManagementCapability(IntFlag):
    """bmCapabilities of the Call Management descriptor (USB_CDC_CALL_MGMT_CAP_*)."""

    CALL_MANAGEMENT = 0x01
    DATA_INTERFACE = 0x02


class ControlLineState(IntFlag):
    """wValue of SET_CONTROL_LINE_STATE (cdc-acm's ACM_CTRL_DTR / ACM_CTRL_RTS)."""

    DTR = 0x01
    RTS = 0x02


class SerialState(IntFlag):
    """The UART-state bitmap of the SERIAL_STATE notification (USB_CDC_SERIAL_STATE_*, PSTN
    1.2 table 31).  DCD and DSR are levels; BREAK, RI, FRAMING, PARITY and OVERRUN are
    "irregular" events, each reported once."""

    DCD = 0x01  #: bRxCarrier
    DSR = 0x02  #: bTxCarrier
    BREAK = 0x04  #: bBreak
    RI = 0x08  #: bRingSignal
    FRAMING = 0x10  #: bFraming
    PARITY = 0x20  #: bParity
    OVERRUN = 0x40  #: bOverRun


class CharFormat(IntEnum):
    """bCharFormat of the line coding: stop bits (USB_CDC_1_STOP_BITS …)."""

    STOP_1 = 0
    STOP_1_5 = 1
    STOP_2 = 2


class ParityType(IntEnum):
    """bParityType of the line coding (USB_CDC_NO_PARITY …)."""

    NONE = 0
    ODD = 1
    EVEN = 2
    MARK = 3
    SPACE = 4


# -- line coding and notifications -------------------------------------------------------------

_LINE_CODING: Final = struct.Struct("<IBBB")
_NOTIFICATION: Final = struct.Struct("<BBHHH")
USB_CDC_NOTIFICATION_SIZE: Final = _NOTIFICATION.size
"""Bytes of the notification header (struct usb_cdc_notification) before its data."""
_NOTIFY_REQUEST_TYPE: Final = 0xA1  # device-to-host, class, interface


def _u8(name: str, value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name}={value!r} does not fit one byte")
    return value


@dataclass(frozen=True, slots=True)
class LineCoding:
    """The 7-byte line coding of SET_LINE_CODING / GET_LINE_CODING (struct
    usb_cdc_line_coding, PSTN 1.2 table 17), fields as the spec names them."""

    dwDTERate: int
    bCharFormat: int = CharFormat.STOP_1
    bParityType: int = ParityType.NONE
    bDataBits: int = 8

    SIZE: ClassVar[int] = _LINE_CODING.size

    def to_bytes(self) -> bytes:
        """Pack little-endian.  Raises ValueError naming a field that does not fit."""
        if not 0 <= self.dwDTERate <= 0xFFFFFFFF:
            raise ValueError(f"dwDTERate={self.dwDTERate!r} does not fit 32 bits")
        return _LINE_CODING.pack(self.dwDTERate, _u8("bCharFormat", self.bCharFormat),
                                 _u8("bParityType", self.bParityType),
                                 _u8("bDataBits", self.bDataBits))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> LineCoding:
        """Decode exactly 7 bytes; raises ValueError for any other length."""
        if len(data) != cls.SIZE:
            raise ValueError(f"a line coding is {cls.SIZE} bytes, got {len(data)}")
        return cls(*_LINE_CODING.unpack(data))


def serial_state_notification(interface: int, state: int) -> bytes:
    """The 10-byte SERIAL_STATE notification: bmRequestType 0xA1, bNotification 0x20,
    wValue 0, wIndex `interface`, wLength 2, then the 16-bit `SerialState` bitmap, all
    little-endian.  Raises ValueError when a value does not fit its field."""
    if not 0 <= interface <= 0xFFFF:
        raise ValueError(f"interface={interface!r} does not fit wIndex (16 bits)")
    if not 0 <= state <= 0xFFFF:
        raise ValueError(f"state={state!r} does not fit the 16-bit bitmap")
    return _NOTIFICATION.pack(_NOTIFY_REQUEST_TYPE, CdcNotification.SERIAL_STATE, 0,
                              interface, 2) + struct.pack("<H", state)


# -- functional descriptors ---------------------------------------------------------------------


def _functional(subtype: int, body: bytes) -> bytes:
    return bytes((3 + len(body), CdcDescriptorType.CS_INTERFACE, subtype)) + body


def _check(data: bytes | bytearray | memoryview, size: int, subtype: CdcSubtype) -> bytes:
    raw = bytes(data)
    what = f"CDC {subtype.name.lower()} descriptor"
    if len(raw) < size or raw[0] < size:
        raise DescriptorError(f"{what}: needs {size} bytes, got bLength "
                              f"{raw[0] if raw else 0} and {len(raw)} bytes")
    if raw[1] != CdcDescriptorType.CS_INTERFACE or raw[2] != subtype:
        raise DescriptorError(f"{what}: bDescriptorType/bDescriptorSubType are "
                              f"{raw[1]:#04x}/{raw[2]:#04x}, expected 0x24/{subtype:#04x}")
    return raw[:raw[0]]


@dataclass(frozen=True, slots=True)
class CdcHeaderDescriptor:
    """Header functional descriptor (struct usb_cdc_header_desc, 5 bytes)."""

    bcdCDC: int = 0x0110

    SIZE: ClassVar[int] = 5

    def to_bytes(self) -> bytes:
        if not 0 <= self.bcdCDC <= 0xFFFF:
            raise ValueError(f"bcdCDC={self.bcdCDC!r} does not fit two bytes")
        return _functional(CdcSubtype.HEADER, struct.pack("<H", self.bcdCDC))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> CdcHeaderDescriptor:
        raw = _check(data, cls.SIZE, CdcSubtype.HEADER)
        return cls(raw[3] | raw[4] << 8)


@dataclass(frozen=True, slots=True)
class CdcCallManagementDescriptor:
    """Call Management functional descriptor (struct usb_cdc_call_mgmt_descriptor, 5 bytes)."""

    bmCapabilities: int = 0
    bDataInterface: int = 1

    SIZE: ClassVar[int] = 5

    def to_bytes(self) -> bytes:
        return _functional(CdcSubtype.CALL_MANAGEMENT,
                           bytes((_u8("bmCapabilities", self.bmCapabilities),
                                  _u8("bDataInterface", self.bDataInterface))))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> CdcCallManagementDescriptor:
        raw = _check(data, cls.SIZE, CdcSubtype.CALL_MANAGEMENT)
        return cls(raw[3], raw[4])


@dataclass(frozen=True, slots=True)
class CdcAcmDescriptor:
    """Abstract Control Management functional descriptor (struct usb_cdc_acm_descriptor,
    4 bytes); `bmCapabilities` takes `AcmCapability` bits."""

    bmCapabilities: int = AcmCapability.LINE | AcmCapability.BREAK

    SIZE: ClassVar[int] = 4

    def to_bytes(self) -> bytes:
        return _functional(CdcSubtype.ACM, bytes((_u8("bmCapabilities", self.bmCapabilities),)))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> CdcAcmDescriptor:
        return cls(_check(data, cls.SIZE, CdcSubtype.ACM)[3])


@dataclass(frozen=True, slots=True)
class CdcUnionDescriptor:
    """Union functional descriptor (struct usb_cdc_union_desc: 5 bytes for one slave, one
    more per further slave interface)."""

    bMasterInterface0: int = 0
    bSlaveInterfaces: tuple[int, ...] = (1,)

    SIZE: ClassVar[int] = 5  #: sizeof(struct usb_cdc_union_desc), the shortest Linux accepts

    def to_bytes(self) -> bytes:
        if not self.bSlaveInterfaces:
            raise ValueError("bSlaveInterfaces: a union names at least one slave interface")
        body = bytes((_u8("bMasterInterface0", self.bMasterInterface0),
                      *(_u8("bSlaveInterface", n) for n in self.bSlaveInterfaces)))
        return _functional(CdcSubtype.UNION, body)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> CdcUnionDescriptor:
        raw = _check(data, cls.SIZE, CdcSubtype.UNION)
        return cls(raw[3], tuple(raw[4:]))


def acm_functional_descriptors(*, bcdCDC: int = 0x0110, call_capabilities: int = 0,
                               data_interface: int = 1,
                               acm_capabilities: int = AcmCapability.LINE | AcmCapability.BREAK,
                               control_interface: int = 0) -> bytes:
    """The `extra` bytes of an ACM communications interface, in the order devices list them:
    Header, Call Management, ACM, Union (master = the control interface, slave = the data
    interface).  Context: pure function.  Raises ValueError for a value that does not fit."""
    return (CdcHeaderDescriptor(bcdCDC).to_bytes()
            + CdcCallManagementDescriptor(call_capabilities, data_interface).to_bytes()
            + CdcAcmDescriptor(acm_capabilities).to_bytes()
            + CdcUnionDescriptor(control_interface, (data_interface,)).to_bytes())


# -- cdc_parse_cdc_header -----------------------------------------------------------------------

_EINVAL: Final = 22

# Shortest bLength Linux accepts per subtype (sizeof the struct it casts to), and whether a
# second one makes the whole parse fail (-EINVAL) rather than replace the first.
_MIN_LENGTH: Final[dict[int, int]] = {
    CdcSubtype.UNION: 5, CdcSubtype.COUNTRY: 6, CdcSubtype.ACM: 4,
    CdcSubtype.CALL_MANAGEMENT: 5, CdcSubtype.DMM: 7, CdcSubtype.MDLM: 21,
    CdcSubtype.MDLM_DETAIL: 4, CdcSubtype.NCM: 6, CdcSubtype.MBIM: 12,
    CdcSubtype.MBIM_EXTENDED: 8,
}
_EXACT_LENGTH: Final[dict[int, int]] = {CdcSubtype.HEADER: 5, CdcSubtype.ETHERNET: 13}
_NO_DUPLICATES: Final = frozenset({CdcSubtype.HEADER, CdcSubtype.ETHERNET, CdcSubtype.MDLM,
                                   CdcSubtype.MDLM_DETAIL})


@dataclass(frozen=True, slots=True)
class CdcParsedHeader:
    """What `cdc_parse_cdc_header` fills in (struct usb_cdc_parsed_header).

    `result` is its return value: the number of descriptors taken, or -EINVAL (-22) for a
    duplicate Header, Ethernet, MDLM or MDLM detail descriptor.  `raw` maps the subtypes
    kept but not decoded here (country, Ethernet, DMM, MDLM, NCM, MBIM …) to their bytes;
    `notices` are the messages Linux logs, in order.
    """

    result: int
    header: CdcHeaderDescriptor | None = None
    union: CdcUnionDescriptor | None = None
    call_management: CdcCallManagementDescriptor | None = None
    acm: CdcAcmDescriptor | None = None
    raw: dict[int, bytes] = field(default_factory=dict)
    phonet_magic_present: bool = False
    notices: tuple[Notice, ...] = ()


def _acceptable(subtype: int, length: int) -> bool:
    exact = _EXACT_LENGTH.get(subtype)
    if exact is not None:
        return length == exact
    return length >= _MIN_LENGTH[subtype]


def parse_cdc_header(buffer: bytes | bytearray | memoryview) -> CdcParsedHeader:
    """Walk class-specific descriptors (an interface's `extra`) as Linux 6.12's
    cdc_parse_cdc_header() does: a zero bLength skips one garbage byte, a length past the
    end or below 3 stops the walk, a descriptor that is not CS_INTERFACE is skipped, one too
    short for its subtype is ignored (a short MBIM extended one is counted but not kept), a
    second Union is ignored, a second Header (Ethernet, MDLM, MDLM detail) fails the parse,
    a repeated other subtype replaces the first, unknown subtypes are ignored with a debug
    message.

    Context: pure function; never raises for any input.
    """
    data = bytes(buffer)
    kept: dict[int, bytes] = {}
    notices: list[Notice] = []
    phonet = False
    count, pos = 0, 0
    while pos < len(data):
        length = data[pos]
        if length == 0:
            notices.append(Notice("err", "skipping garbage byte"))
            pos += 1
            continue
        if len(data) - pos < length or length < 3:
            notices.append(Notice("err", "invalid descriptor buffer length"))
            break
        chunk, subtype = data[pos:pos + length], data[pos + 2]
        pos += length
        if chunk[1] != CdcDescriptorType.CS_INTERFACE:
            notices.append(Notice("err", "skipping garbage"))
            continue
        if subtype == CDC_PHONET_MAGIC_NUMBER:
            phonet = True
        elif subtype not in _MIN_LENGTH and subtype not in _EXACT_LENGTH:
            notices.append(Notice("debug", f"Ignoring descriptor: type {subtype:02x}, "
                                           f"length {length}d"))
            continue
        elif not _acceptable(subtype, length):
            if subtype != CdcSubtype.MBIM_EXTENDED:
                continue
        elif subtype in kept and subtype in _NO_DUPLICATES:
            return CdcParsedHeader(-_EINVAL, notices=tuple(notices))
        elif subtype in kept and subtype == CdcSubtype.UNION:
            notices.append(Notice("err", "More than one union descriptor, skipping ..."))
            continue
        else:
            kept[subtype] = chunk
        count += 1
    return _parsed(count, kept, phonet, notices)


def _parsed(count: int, kept: dict[int, bytes], phonet: bool,
            notices: list[Notice]) -> CdcParsedHeader:
    def take(subtype: CdcSubtype) -> bytes | None:
        return kept.pop(subtype, None)

    header, union = take(CdcSubtype.HEADER), take(CdcSubtype.UNION)
    call, acm = take(CdcSubtype.CALL_MANAGEMENT), take(CdcSubtype.ACM)
    return CdcParsedHeader(
        count,
        header=CdcHeaderDescriptor.from_bytes(header) if header else None,
        union=CdcUnionDescriptor.from_bytes(union) if union else None,
        call_management=CdcCallManagementDescriptor.from_bytes(call) if call else None,
        acm=CdcAcmDescriptor.from_bytes(acm) if acm else None,
        raw=kept, phonet_magic_present=phonet, notices=tuple(notices))
