"""Standard USB descriptors as data — counterpart of the structures in include/uapi/linux/usb/ch9.h.

One frozen dataclass per descriptor, with the spec's field names, and a builder that turns a
declarative tree (device → configurations → interfaces/altsettings → endpoints) into the exact
bytes a device sends.  Counts and lengths (bLength, wTotalLength, bNumInterfaces,
bNumEndpoints, bNumConfigurations, bNumDeviceCaps) and string indexes are computed by the
builder unless given; a string field takes either an index or the text itself.

Class-specific descriptors (HID, CDC functional, hub …) are not modelled here: they travel as
raw `extra` bytes attached to the descriptor they follow, exactly as Linux keeps them in
`usb_host_interface.extra`.  Parsing a configuration the way Linux does — with its limits,
notices and fix-ups — is `usbemu.spec.config`; the `from_bytes` constructors here decode one
well-formed fixed-size descriptor and nothing more.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Final, TypeAlias

from .ch9 import (
    LANGID_EN_US,
    USB_DIR_MASK,
    USB_ENDPOINT_NUMBER_MASK,
    USB_ENDPOINT_XFERTYPE_MASK,
    ConfigAttributes,
    DescriptorSize,
    DescriptorType,
    EndpointType,
    Speed,
    maxp_mult,
    maxp_packet,
)

StringRef: TypeAlias = int | str
"""A string-descriptor field: an index (0 = none) or the text, given an index by the builder."""


class DescriptorError(ValueError):
    """Bytes that cannot be decoded as the descriptor asked for (the one error parsers raise)."""


def _u8(name: str, value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name}={value!r} does not fit in one byte")
    return value


def _u16(name: str, value: int) -> int:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name}={value!r} does not fit in two bytes")
    return value


def _index(name: str, ref: StringRef) -> int:
    if isinstance(ref, str):
        raise ValueError(f"{name}={ref!r} is text: build the tree with build_descriptors() "
                         "so that strings get their indexes")
    return _u8(name, ref)


def _need(data: bytes | memoryview, size: int, what: str, dtype: int) -> None:
    if len(data) < size:
        raise DescriptorError(f"{what} descriptor needs {size} bytes, got {len(data)}")
    if data[1] != dtype:
        raise DescriptorError(f"{what} descriptor has bDescriptorType {data[1]:#04x}, "
                              f"expected {dtype:#04x}")


# -- endpoint ---------------------------------------------------------------------------------

_EP: Final = struct.Struct("<BBBBHB")


@dataclass(frozen=True, slots=True)
class SsEndpointCompanion:
    """SuperSpeed endpoint companion (USB 3.2 §9.6.7), follows its endpoint descriptor."""

    bMaxBurst: int = 0
    bmAttributes: int = 0
    wBytesPerInterval: int = 0
    bLength: int | None = None

    bDescriptorType: ClassVar[int] = DescriptorType.SS_ENDPOINT_COMP
    _S: ClassVar[struct.Struct] = struct.Struct("<BBBBH")

    def to_bytes(self) -> bytes:
        """The 6 defined bytes, cut to a smaller bLength.  A bLength above 6 is written as
        given, but no bytes are invented past the sixth: a parsed companion's further
        bytes travel in its endpoint's `extra`, so the wire bytes round-trip."""
        length = DescriptorSize.SS_ENDPOINT_COMP if self.bLength is None else self.bLength
        return self._S.pack(_u8("bLength", length), self.bDescriptorType,
                            _u8("bMaxBurst", self.bMaxBurst),
                            _u8("bmAttributes", self.bmAttributes),
                            _u16("wBytesPerInterval", self.wBytesPerInterval))[:length]

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> SsEndpointCompanion:
        _need(data, DescriptorSize.SS_ENDPOINT_COMP, "SuperSpeed endpoint companion",
              DescriptorType.SS_ENDPOINT_COMP)
        length, _, burst, attrs, bpi = cls._S.unpack_from(data)
        return cls(burst, attrs, bpi, bLength=length)


@dataclass(frozen=True, slots=True)
class EndpointDescriptor:
    """Endpoint descriptor (USB 2.0 §9.6.6); `extra` holds class-specific bytes after it."""

    bEndpointAddress: int
    bmAttributes: int
    wMaxPacketSize: int
    bInterval: int = 0
    bRefresh: int | None = None
    bSynchAddress: int | None = None
    companion: SsEndpointCompanion | None = None
    extra: bytes = b""
    bLength: int | None = None

    bDescriptorType: ClassVar[int] = DescriptorType.ENDPOINT

    @classmethod
    def bulk(cls, address: int, maxpacket: int, **kw: object) -> EndpointDescriptor:
        """A bulk endpoint; `address` carries the direction bit (0x81 = IN 1)."""
        return cls(address, EndpointType.BULK, maxpacket, **kw)  # type: ignore[arg-type]

    @classmethod
    def interrupt(cls, address: int, maxpacket: int, interval: int,
                  **kw: object) -> EndpointDescriptor:
        """An interrupt endpoint; `interval` is bInterval as the spec encodes it per speed."""
        return cls(address, EndpointType.INT, maxpacket, interval, **kw)  # type: ignore[arg-type]

    @classmethod
    def isochronous(cls, address: int, maxpacket: int, interval: int = 1, sync: int = 0,
                    usage: int = 0, **kw: object) -> EndpointDescriptor:
        """An isochronous endpoint; `sync`/`usage` are bmAttributes bits 3..2 and 5..4."""
        attrs = EndpointType.ISOC | (sync << 2) | (usage << 4)
        return cls(address, attrs, maxpacket, interval, **kw)  # type: ignore[arg-type]

    @property
    def number(self) -> int:
        return self.bEndpointAddress & USB_ENDPOINT_NUMBER_MASK

    @property
    def is_in(self) -> bool:
        return bool(self.bEndpointAddress & USB_DIR_MASK)

    @property
    def type(self) -> EndpointType:
        return EndpointType(self.bmAttributes & USB_ENDPOINT_XFERTYPE_MASK)

    @property
    def maxpacket(self) -> int:
        """Bytes per packet (`usb_endpoint_maxp`)."""
        return maxp_packet(self.wMaxPacketSize)

    @property
    def mult(self) -> int:
        """Transactions per microframe (`usb_endpoint_maxp_mult`)."""
        return maxp_mult(self.wMaxPacketSize)

    @property
    def size(self) -> int:
        if self.bLength is not None:
            return self.bLength
        audio = self.bRefresh is not None or self.bSynchAddress is not None
        return DescriptorSize.ENDPOINT_AUDIO if audio else DescriptorSize.ENDPOINT

    def header(self) -> bytes:
        """This descriptor alone (7 or 9 bytes), without companion or extra."""
        length = _u8("bLength", self.size)
        raw = _EP.pack(length, self.bDescriptorType,
                       _u8("bEndpointAddress", self.bEndpointAddress),
                       _u8("bmAttributes", self.bmAttributes),
                       _u16("wMaxPacketSize", self.wMaxPacketSize),
                       _u8("bInterval", self.bInterval))
        if length > DescriptorSize.ENDPOINT:
            raw += bytes((_u8("bRefresh", self.bRefresh or 0),
                          _u8("bSynchAddress", self.bSynchAddress or 0)))
        return raw[:length].ljust(length, b"\0")

    def to_bytes(self) -> bytes:
        companion = self.companion.to_bytes() if self.companion else b""
        return self.header() + companion + self.extra

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> EndpointDescriptor:
        """Decode one endpoint descriptor (7 or 9 bytes; bytes past bLength are ignored)."""
        _need(data, DescriptorSize.ENDPOINT, "endpoint", DescriptorType.ENDPOINT)
        length, _, addr, attrs, maxp, interval = _EP.unpack_from(data)
        refresh = sync = None
        if length >= DescriptorSize.ENDPOINT_AUDIO and len(data) >= DescriptorSize.ENDPOINT_AUDIO:
            refresh, sync = data[7], data[8]
        return cls(addr, attrs, maxp, interval, refresh, sync, bLength=length)


# -- interface association and interface -------------------------------------------------------

_IAD: Final = struct.Struct("<BBBBBBBB")
_INTF: Final = struct.Struct("<BBBBBBBBB")


@dataclass(frozen=True, slots=True)
class InterfaceAssociation:
    """Interface association descriptor (IAD, USB ECN / USB 3.2 §9.6.4).

    It is emitted just before the interface descriptor it is attached to; `bFirstInterface`
    defaults to that interface's number.
    """

    bInterfaceCount: int
    bFunctionClass: int
    bFunctionSubClass: int = 0
    bFunctionProtocol: int = 0
    iFunction: StringRef = 0
    bFirstInterface: int | None = None
    bLength: int | None = None

    bDescriptorType: ClassVar[int] = DescriptorType.INTERFACE_ASSOCIATION

    def to_bytes(self, first_interface: int = 0) -> bytes:
        length = DescriptorSize.INTERFACE_ASSOCIATION if self.bLength is None else self.bLength
        first = first_interface if self.bFirstInterface is None else self.bFirstInterface
        raw = _IAD.pack(_u8("bLength", length), self.bDescriptorType,
                        _u8("bFirstInterface", first),
                        _u8("bInterfaceCount", self.bInterfaceCount),
                        _u8("bFunctionClass", self.bFunctionClass),
                        _u8("bFunctionSubClass", self.bFunctionSubClass),
                        _u8("bFunctionProtocol", self.bFunctionProtocol),
                        _index("iFunction", self.iFunction))
        return raw[:length].ljust(length, b"\0")

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> InterfaceAssociation:
        _need(data, DescriptorSize.INTERFACE_ASSOCIATION, "interface association",
              DescriptorType.INTERFACE_ASSOCIATION)
        length, _, first, count, fcls, fsub, fproto, ifunc = _IAD.unpack_from(data)
        return cls(count, fcls, fsub, fproto, ifunc, first, bLength=length)


@dataclass(frozen=True, slots=True)
class InterfaceDescriptor:
    """One alternate setting of an interface (USB 2.0 §9.6.5) with its endpoints.

    A configuration lists altsettings in wire order.  `bInterfaceNumber=None` means "the next
    interface number" for altsetting 0 and "the previous descriptor's number" otherwise.
    `extra` holds the class-specific descriptors between this descriptor and its first
    endpoint (a HID descriptor, CDC functional descriptors …).
    """

    bInterfaceClass: int = 0
    bInterfaceSubClass: int = 0
    bInterfaceProtocol: int = 0
    endpoints: tuple[EndpointDescriptor, ...] = ()
    bInterfaceNumber: int | None = None
    bAlternateSetting: int = 0
    iInterface: StringRef = 0
    extra: bytes = b""
    association: InterfaceAssociation | None = None
    bNumEndpoints: int | None = None
    bLength: int | None = None

    bDescriptorType: ClassVar[int] = DescriptorType.INTERFACE

    def header(self, number: int | None = None) -> bytes:
        """This descriptor alone (9 bytes), without IAD, extra or endpoints."""
        length = DescriptorSize.INTERFACE if self.bLength is None else self.bLength
        num = self.bInterfaceNumber if number is None else number
        neps = len(self.endpoints) if self.bNumEndpoints is None else self.bNumEndpoints
        raw = _INTF.pack(_u8("bLength", length), self.bDescriptorType,
                         _u8("bInterfaceNumber", num or 0),
                         _u8("bAlternateSetting", self.bAlternateSetting),
                         _u8("bNumEndpoints", neps),
                         _u8("bInterfaceClass", self.bInterfaceClass),
                         _u8("bInterfaceSubClass", self.bInterfaceSubClass),
                         _u8("bInterfaceProtocol", self.bInterfaceProtocol),
                         _index("iInterface", self.iInterface))
        return raw[:length].ljust(length, b"\0")

    def to_bytes(self, number: int | None = None) -> bytes:
        num = self.bInterfaceNumber if number is None else number
        iad = self.association.to_bytes(num or 0) if self.association else b""
        return (iad + self.header(num) + self.extra
                + b"".join(ep.to_bytes() for ep in self.endpoints))

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> InterfaceDescriptor:
        """Decode the 9-byte interface descriptor alone (no endpoints)."""
        _need(data, DescriptorSize.INTERFACE, "interface", DescriptorType.INTERFACE)
        length, _, num, alt, neps, icls, isub, iproto, iintf = _INTF.unpack_from(data)
        return cls(icls, isub, iproto, (), num, alt, iintf, bNumEndpoints=neps, bLength=length)


# -- configuration ----------------------------------------------------------------------------

_CFG: Final = struct.Struct("<BBHBBBBB")


def _numbered(
        altsettings: Sequence[InterfaceDescriptor]) -> Iterator[tuple[int, InterfaceDescriptor]]:
    """Pair each altsetting with its interface number, filling the None ones."""
    next_free, current = 0, -1
    for alt in altsettings:
        if alt.bInterfaceNumber is not None:
            current = alt.bInterfaceNumber
        elif alt.bAlternateSetting == 0 or current < 0:
            current = next_free
        next_free = max(next_free, current + 1)
        yield current, alt


@dataclass(frozen=True, slots=True)
class ConfigDescriptor:
    """A configuration (USB 2.0 §9.6.3) and everything below it.

    `interfaces` lists every altsetting of every interface in wire order.  `extra` holds
    descriptors between the configuration descriptor and the first interface (an OTG
    descriptor, for example).  bMaxPower is in the spec's units (2 mA; 8 mA at SuperSpeed).
    """

    interfaces: tuple[InterfaceDescriptor, ...] = ()
    bConfigurationValue: int | None = None
    iConfiguration: StringRef = 0
    bmAttributes: int = ConfigAttributes.ONE
    bMaxPower: int = 50
    extra: bytes = b""
    wTotalLength: int | None = None
    bNumInterfaces: int | None = None
    bLength: int | None = None

    bDescriptorType: ClassVar[int] = DescriptorType.CONFIG

    def numbered_interfaces(self) -> list[tuple[int, InterfaceDescriptor]]:
        """(bInterfaceNumber, altsetting) for every altsetting, numbers filled in."""
        return list(_numbered(self.interfaces))

    def interface_count(self) -> int:
        """Number of distinct interface numbers (what bNumInterfaces should say)."""
        return len({num for num, _ in _numbered(self.interfaces)})

    def max_power_ma(self, speed: Speed = Speed.HIGH) -> int:
        """bMaxPower in mA: units of 2 mA, or 8 mA at SuperSpeed."""
        return self.bMaxPower * (8 if speed.is_superspeed else 2)

    @property
    def self_powered(self) -> bool:
        return bool(self.bmAttributes & ConfigAttributes.SELF_POWERED)

    @property
    def remote_wakeup(self) -> bool:
        return bool(self.bmAttributes & ConfigAttributes.REMOTE_WAKEUP)

    def body(self) -> bytes:
        """Everything after the 9-byte header: extra, then the interfaces and endpoints."""
        return self.extra + b"".join(alt.to_bytes(num) for num, alt in _numbered(self.interfaces))

    def to_bytes(self, index: int = 0,
                 descriptor_type: int = DescriptorType.CONFIG) -> bytes:
        """The full configuration as GET_DESCRIPTOR(CONFIG) returns it.

        `index` supplies the default bConfigurationValue (index + 1); `descriptor_type` 7
        produces the OTHER_SPEED_CONFIGURATION form.
        """
        length = DescriptorSize.CONFIG if self.bLength is None else self.bLength
        body = self.body()
        total = length + len(body) if self.wTotalLength is None else self.wTotalLength
        nintf = self.interface_count() if self.bNumInterfaces is None else self.bNumInterfaces
        value = index + 1 if self.bConfigurationValue is None else self.bConfigurationValue
        raw = _CFG.pack(_u8("bLength", length), descriptor_type, _u16("wTotalLength", total),
                        _u8("bNumInterfaces", nintf), _u8("bConfigurationValue", value),
                        _index("iConfiguration", self.iConfiguration),
                        _u8("bmAttributes", self.bmAttributes),
                        _u8("bMaxPower", self.bMaxPower))
        return raw[:length].ljust(length, b"\0") + body

    @classmethod
    def header_from_bytes(cls, data: bytes | memoryview) -> ConfigDescriptor:
        """Decode the 9-byte configuration header alone (no interfaces)."""
        if len(data) < DescriptorSize.CONFIG:
            raise DescriptorError(f"configuration descriptor needs 9 bytes, got {len(data)}")
        if data[1] not in (DescriptorType.CONFIG, DescriptorType.OTHER_SPEED_CONFIG):
            raise DescriptorError(f"configuration descriptor has bDescriptorType "
                                  f"{data[1]:#04x}, expected 0x02 or 0x07")
        length, _, total, nintf, value, iconf, attrs, power = _CFG.unpack_from(data)
        return cls((), value, iconf, attrs, power, b"", total, nintf, bLength=length)


# -- device, qualifier ------------------------------------------------------------------------

_DEV: Final = struct.Struct("<BBHBBBBHHHBBBB")
_QUAL: Final = struct.Struct("<BBHBBBBBB")


@dataclass(frozen=True, slots=True)
class DeviceQualifier:
    """Device qualifier (USB 2.0 §9.6.2): the device as it would be at its other speed."""

    bcdUSB: int = 0x0200
    bDeviceClass: int = 0
    bDeviceSubClass: int = 0
    bDeviceProtocol: int = 0
    bMaxPacketSize0: int = 64
    bNumConfigurations: int = 1
    bReserved: int = 0
    bLength: int | None = None

    bDescriptorType: ClassVar[int] = DescriptorType.DEVICE_QUALIFIER

    def to_bytes(self) -> bytes:
        length = DescriptorSize.DEVICE_QUALIFIER if self.bLength is None else self.bLength
        raw = _QUAL.pack(_u8("bLength", length), self.bDescriptorType,
                         _u16("bcdUSB", self.bcdUSB), _u8("bDeviceClass", self.bDeviceClass),
                         _u8("bDeviceSubClass", self.bDeviceSubClass),
                         _u8("bDeviceProtocol", self.bDeviceProtocol),
                         _u8("bMaxPacketSize0", self.bMaxPacketSize0),
                         _u8("bNumConfigurations", self.bNumConfigurations),
                         _u8("bReserved", self.bReserved))
        return raw[:length].ljust(length, b"\0")

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> DeviceQualifier:
        _need(data, DescriptorSize.DEVICE_QUALIFIER, "device qualifier",
              DescriptorType.DEVICE_QUALIFIER)
        length, _, bcd, dcls, dsub, dproto, mps0, ncfg, res = _QUAL.unpack_from(data)
        return cls(bcd, dcls, dsub, dproto, mps0, ncfg, res, bLength=length)


# -- BOS and device capabilities --------------------------------------------------------------


class CapabilityType:
    """bDevCapabilityType values (USB 3.2 table 9-14)."""

    WIRELESS_USB = 0x01
    USB20_EXTENSION = 0x02
    SUPERSPEED_USB = 0x03
    CONTAINER_ID = 0x04
    PLATFORM = 0x05
    SUPERSPEED_PLUS = 0x0A


@dataclass(frozen=True, slots=True)
class DeviceCapability:
    """Any device capability: its type byte and the bytes after it (`bDevCapabilityType`)."""

    bDevCapabilityType: int
    data: bytes = b""

    def to_bytes(self) -> bytes:
        return bytes((_u8("bLength", 3 + len(self.data)), DescriptorType.DEVICE_CAPABILITY,
                      _u8("bDevCapabilityType", self.bDevCapabilityType))) + self.data

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> DeviceCapability:
        _need(data, 3, "device capability", DescriptorType.DEVICE_CAPABILITY)
        length = data[0]
        if length < 3 or length > len(data):
            raise DescriptorError(f"device capability bLength {length} is invalid")
        return cls(data[2], bytes(data[3:length]))


def _u32(name: str, value: int) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{name}={value!r} does not fit in four bytes")
    return value


def usb20_extension(bmAttributes: int = 0x02) -> DeviceCapability:
    """USB 2.0 extension capability (bit 1 = LPM supported)."""
    return DeviceCapability(CapabilityType.USB20_EXTENSION,
                            struct.pack("<I", _u32("bmAttributes", bmAttributes)))


def superspeed_capability(bmAttributes: int = 0, wSpeedsSupported: int = 0x000E,
                          bFunctionalitySupport: int = 1, bU1DevExitLat: int = 0x0A,
                          wU2DevExitLat: int = 0x07FF) -> DeviceCapability:
    """SuperSpeed USB device capability (USB 3.2 table 9-15)."""
    return DeviceCapability(CapabilityType.SUPERSPEED_USB,
                            struct.pack("<BHBBH", _u8("bmAttributes", bmAttributes),
                                        _u16("wSpeedsSupported", wSpeedsSupported),
                                        _u8("bFunctionalitySupport", bFunctionalitySupport),
                                        _u8("bU1DevExitLat", bU1DevExitLat),
                                        _u16("wU2DevExitLat", wU2DevExitLat)))


def container_id(value: uuid.UUID) -> DeviceCapability:
    """Container ID capability: a reserved byte and the 16-byte UUID (little-endian fields)."""
    return DeviceCapability(CapabilityType.CONTAINER_ID, b"\0" + value.bytes_le)


@dataclass(frozen=True, slots=True)
class BosDescriptor:
    """Binary device object store (USB 3.2 §9.6.2) and its capabilities."""

    capabilities: tuple[DeviceCapability, ...] = ()
    wTotalLength: int | None = None
    bNumDeviceCaps: int | None = None

    bDescriptorType: ClassVar[int] = DescriptorType.BOS

    def to_bytes(self) -> bytes:
        body = b"".join(cap.to_bytes() for cap in self.capabilities)
        total = DescriptorSize.BOS + len(body) if self.wTotalLength is None else self.wTotalLength
        count = len(self.capabilities) if self.bNumDeviceCaps is None else self.bNumDeviceCaps
        return struct.pack("<BBHB", DescriptorSize.BOS, self.bDescriptorType,
                           _u16("wTotalLength", total), _u8("bNumDeviceCaps", count)) + body

    def capability(self, kind: int) -> DeviceCapability | None:
        return next((c for c in self.capabilities if c.bDevCapabilityType == kind), None)


# -- strings ----------------------------------------------------------------------------------

MAX_STRING_CHARS: Final = 126  # (255 - 2) // 2


def string_descriptor(text: str) -> bytes:
    """A string descriptor: UTF-16LE, at most 126 code units (bLength ≤ 254)."""
    encoded = text.encode("utf-16-le")[: 2 * MAX_STRING_CHARS]
    return bytes((2 + len(encoded), DescriptorType.STRING)) + encoded


def langid_descriptor(langids: Iterable[int]) -> bytes:
    """String descriptor 0: the LANGID table."""
    ids = list(langids)
    return bytes((2 + 2 * len(ids), DescriptorType.STRING)) + struct.pack(f"<{len(ids)}H", *ids)


def decode_string(data: bytes | memoryview) -> str:
    """Text of a string descriptor the way Linux reads it: bLength bounds the data, odd
    lengths lose their last byte, invalid UTF-16 is replaced.  Raises DescriptorError for
    fewer than 2 bytes, a bLength below 2 (-EINVAL in usb_string_sub) or another
    bDescriptorType (-ENODATA in usb_get_string)."""
    if len(data) < 2:
        raise DescriptorError(f"string descriptor needs 2 bytes, got {len(data)}")
    if data[0] < 2:
        raise DescriptorError(f"string descriptor bLength {data[0]} is below 2")
    if data[1] != DescriptorType.STRING:
        raise DescriptorError(f"string descriptor has bDescriptorType {data[1]:#04x}, "
                              f"expected {DescriptorType.STRING:#04x}")
    end = min(data[0], len(data))
    end -= (end - 2) % 2 if end > 2 else 0
    return bytes(data[2:end]).decode("utf-16-le", errors="replace")


@dataclass(frozen=True)
class StringTable:
    """String descriptors of a device: LANGIDs in order, and text per language and index."""

    langids: tuple[int, ...] = (LANGID_EN_US,)
    texts: Mapping[int, Mapping[int, str]] = field(default_factory=dict)

    def lookup(self, index: int, langid: int) -> str | None:
        """Text of string `index` in `langid`; None when the device has no such string."""
        table = self.texts.get(langid)
        return None if table is None else table.get(index)

    def descriptor(self, index: int, langid: int) -> bytes | None:
        """GET_DESCRIPTOR(STRING) answer; index 0 is the LANGID table.  None → STALL."""
        if index == 0:
            return langid_descriptor(self.langids) if self.langids else None
        text = self.lookup(index, langid)
        return None if text is None else string_descriptor(text)

    def primary(self) -> Mapping[int, str]:
        """index → text in the first language."""
        return self.texts.get(self.langids[0], {}) if self.langids else {}


# -- the device: root of the declarative tree ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceDescriptor:
    """The device descriptor (USB 2.0 §9.6.1) and, as the root of a declarative tree, its
    configurations, BOS, qualifier, other-speed configurations and strings.

    `strings` gives text for explicit integer indexes in the first language; `translations`
    maps a LANGID to {text in the first language: translated text}; `languages` is the LANGID
    table in order.
    """

    idVendor: int
    idProduct: int
    bcdDevice: int = 0x0100
    bcdUSB: int = 0x0200
    bDeviceClass: int = 0
    bDeviceSubClass: int = 0
    bDeviceProtocol: int = 0
    bMaxPacketSize0: int = 64
    iManufacturer: StringRef = 0
    iProduct: StringRef = 0
    iSerialNumber: StringRef = 0
    configurations: tuple[ConfigDescriptor, ...] = ()
    bos: BosDescriptor | None = None
    qualifier: DeviceQualifier | None = None
    other_speed_configurations: tuple[ConfigDescriptor, ...] = ()
    strings: Mapping[int, str] = field(default_factory=dict)
    translations: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    languages: tuple[int, ...] = (LANGID_EN_US,)
    bNumConfigurations: int | None = None
    bLength: int | None = None

    bDescriptorType: ClassVar[int] = DescriptorType.DEVICE

    def header(self) -> bytes:
        """The 18-byte device descriptor."""
        length = DescriptorSize.DEVICE if self.bLength is None else self.bLength
        ncfg = (len(self.configurations) if self.bNumConfigurations is None
                else self.bNumConfigurations)
        raw = _DEV.pack(_u8("bLength", length), self.bDescriptorType,
                        _u16("bcdUSB", self.bcdUSB), _u8("bDeviceClass", self.bDeviceClass),
                        _u8("bDeviceSubClass", self.bDeviceSubClass),
                        _u8("bDeviceProtocol", self.bDeviceProtocol),
                        _u8("bMaxPacketSize0", self.bMaxPacketSize0),
                        _u16("idVendor", self.idVendor), _u16("idProduct", self.idProduct),
                        _u16("bcdDevice", self.bcdDevice),
                        _index("iManufacturer", self.iManufacturer),
                        _index("iProduct", self.iProduct),
                        _index("iSerialNumber", self.iSerialNumber),
                        _u8("bNumConfigurations", ncfg))
        return raw[:length].ljust(length, b"\0")

    to_bytes = header

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> DeviceDescriptor:
        """Decode an 18-byte device descriptor (no configurations)."""
        _need(data, DescriptorSize.DEVICE, "device", DescriptorType.DEVICE)
        (length, _, bcd_usb, dcls, dsub, dproto, mps0, vid, pid, bcd_dev, imfr, iprod, iser,
         ncfg) = _DEV.unpack_from(data)
        return cls(vid, pid, bcd_dev, bcd_usb, dcls, dsub, dproto, mps0, imfr, iprod, iser,
                   bNumConfigurations=ncfg, bLength=length)

    def default_qualifier(self) -> DeviceQualifier:
        """A qualifier describing the same device at its other speed."""
        return DeviceQualifier(self.bcdUSB, self.bDeviceClass, self.bDeviceSubClass,
                               self.bDeviceProtocol, 64,
                               len(self.other_speed_configurations or self.configurations))


# -- building ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DescriptorSet:
    """Everything a device answers to GET_DESCRIPTOR, as exact bytes, plus the resolved tree
    (string indexes, interface numbers, configuration values and counts filled in)."""

    device: DeviceDescriptor
    device_bytes: bytes
    config_bytes: tuple[bytes, ...]
    strings: StringTable
    bos_bytes: bytes | None = None
    qualifier_bytes: bytes | None = None
    other_speed_bytes: tuple[bytes, ...] = ()

    def get(self, dtype: int, index: int = 0, langid: int = 0) -> bytes | None:
        """The full descriptor GET_DESCRIPTOR(dtype, index) asks for; None means STALL."""
        if dtype == DescriptorType.DEVICE:
            return self.device_bytes
        if dtype == DescriptorType.CONFIG:
            return self.config_bytes[index] if index < len(self.config_bytes) else None
        if dtype == DescriptorType.STRING:
            return self.strings.descriptor(index, langid)
        if dtype == DescriptorType.BOS:
            return self.bos_bytes
        if dtype == DescriptorType.DEVICE_QUALIFIER:
            return self.qualifier_bytes
        if dtype == DescriptorType.OTHER_SPEED_CONFIG:
            return self.other_speed_bytes[index] if index < len(self.other_speed_bytes) else None
        return None

    def descriptors_file(self) -> bytes:
        """The sysfs `descriptors` file: device descriptor then every configuration."""
        return self.device_bytes + b"".join(self.config_bytes)

    def at_other_speed(self) -> DescriptorSet | None:
        """What the device answers when it runs at its other speed (USB 2.0 §9.6.2,
        §9.6.4), byte for byte from this set: the device descriptor takes the qualifier's
        class, subclass, protocol, ep0 size and configuration count; the other-speed
        configurations become the configurations (bDescriptorType 2) and the
        configurations the other-speed ones (7); the qualifier describes the device at
        the speed it no longer runs at.  None for a device that runs at one speed only (no
        qualifier or no other-speed configuration).  Context: pure function."""
        qual, dev = self.qualifier_bytes, self.device_bytes
        if qual is None or len(qual) < 9 or len(dev) < 18 or not self.other_speed_bytes:
            return None
        device_bytes = dev[:4] + qual[4:8] + dev[8:17] + qual[8:9] + dev[18:]
        qualifier = qual[:2] + dev[2:8] + dev[17:18] + qual[9:]
        tree = self.device
        device = replace(tree, bDeviceClass=qual[4], bDeviceSubClass=qual[5],
                         bDeviceProtocol=qual[6], bMaxPacketSize0=qual[7],
                         bNumConfigurations=qual[8],
                         configurations=tree.other_speed_configurations,
                         other_speed_configurations=tree.configurations)
        return replace(self, device=device, device_bytes=device_bytes,
                       qualifier_bytes=qualifier,
                       config_bytes=tuple(_retyped(c, DescriptorType.CONFIG)
                                          for c in self.other_speed_bytes),
                       other_speed_bytes=tuple(_retyped(c, DescriptorType.OTHER_SPEED_CONFIG)
                                               for c in self.config_bytes))

    @property
    def configurations(self) -> tuple[ConfigDescriptor, ...]:
        return self.device.configurations


def _retyped(raw: bytes, dtype: int) -> bytes:
    """A configuration's bytes with bDescriptorType `dtype` (CONFIG or OTHER_SPEED_CONFIG)."""
    return raw[:1] + bytes((dtype,)) + raw[2:] if len(raw) >= 2 else raw


class _StringAllocator:
    """Gives text string fields their indexes: explicit ones are reserved, equal texts share."""

    def __init__(self, reserved: Mapping[int, str], taken: Iterable[int] = ()) -> None:
        for index in reserved:
            if not 1 <= index <= 0xFF:
                raise ValueError(f"strings[{index!r}]: string indexes are 1..255 "
                                 "(0 means 'no string')")
        self.by_index: dict[int, str] = dict(reserved)
        self.by_text: dict[str, int] = {text: i for i, text in reserved.items()}
        self._taken = set(taken)
        self._next = 1

    def __call__(self, ref: StringRef) -> int:
        if not isinstance(ref, str):
            return ref
        if ref == "":
            return 0
        found = self.by_text.get(ref)
        if found is not None:
            return found
        while self._next in self.by_index or self._next in self._taken:
            self._next += 1
        if self._next > 0xFF:
            raise ValueError("a device has at most 255 string descriptors")
        self.by_index[self._next] = ref
        self.by_text[ref] = self._next
        return self._next


def _resolve_config(cfg: ConfigDescriptor, index: int,
                    intern: _StringAllocator) -> ConfigDescriptor:
    alts = []
    for num, alt in _numbered(cfg.interfaces):
        iad = alt.association
        if iad is not None:
            iad = replace(iad, iFunction=intern(iad.iFunction),
                          bFirstInterface=num if iad.bFirstInterface is None
                          else iad.bFirstInterface)
        alts.append(replace(alt, bInterfaceNumber=num, iInterface=intern(alt.iInterface),
                            association=iad,
                            bNumEndpoints=(len(alt.endpoints) if alt.bNumEndpoints is None
                                           else alt.bNumEndpoints)))
    resolved = replace(cfg, interfaces=tuple(alts), iConfiguration=intern(cfg.iConfiguration),
                       bConfigurationValue=(index + 1 if cfg.bConfigurationValue is None
                                            else cfg.bConfigurationValue),
                       bNumInterfaces=(cfg.interface_count() if cfg.bNumInterfaces is None
                                       else cfg.bNumInterfaces))
    if cfg.wTotalLength is None:
        resolved = replace(resolved, wTotalLength=len(resolved.to_bytes(index)))
    return resolved


def _integer_refs(device: DeviceDescriptor) -> set[int]:
    """String indexes given as numbers anywhere in the tree (reserved for them)."""
    refs: list[StringRef] = [device.iManufacturer, device.iProduct, device.iSerialNumber]
    for cfg in (*device.configurations, *device.other_speed_configurations):
        refs.append(cfg.iConfiguration)
        for alt in cfg.interfaces:
            refs.append(alt.iInterface)
            if alt.association is not None:
                refs.append(alt.association.iFunction)
    return {r for r in refs if isinstance(r, int) and r}


def build_descriptors(device: DeviceDescriptor) -> DescriptorSet:
    """Resolve a declarative tree and produce every descriptor's bytes.

    Context: pure function.  Raises ValueError naming the field when a value does not fit.
    """
    for langid in device.languages:
        _u16("languages", langid)
    if len(device.languages) > 126:
        raise ValueError(f"languages: {len(device.languages)} LANGIDs, at most 126 fit")
    intern = _StringAllocator(device.strings, _integer_refs(device))
    head = replace(device, iManufacturer=intern(device.iManufacturer),
                   iProduct=intern(device.iProduct),
                   iSerialNumber=intern(device.iSerialNumber))
    configs = tuple(_resolve_config(c, i, intern) for i, c in enumerate(device.configurations))
    others = tuple(_resolve_config(c, i, intern)
                   for i, c in enumerate(device.other_speed_configurations))
    resolved = replace(head, configurations=configs, other_speed_configurations=others,
                       bNumConfigurations=(len(configs) if device.bNumConfigurations is None
                                           else device.bNumConfigurations),
                       strings=dict(intern.by_index))
    primary = dict(intern.by_index)
    texts: dict[int, Mapping[int, str]] = {}
    for n, langid in enumerate(device.languages):
        table = device.translations.get(langid, {})
        texts[langid] = primary if n == 0 else {i: table.get(t, t) for i, t in primary.items()}
    qualifier = device.qualifier
    if qualifier is None and others:
        qualifier = resolved.default_qualifier()
    return DescriptorSet(
        device=resolved,
        device_bytes=resolved.header(),
        config_bytes=tuple(c.to_bytes(i) for i, c in enumerate(configs)),
        strings=StringTable(device.languages, texts),
        bos_bytes=device.bos.to_bytes() if device.bos else None,
        qualifier_bytes=qualifier.to_bytes() if qualifier else None,
        other_speed_bytes=tuple(c.to_bytes(i, DescriptorType.OTHER_SPEED_CONFIG)
                                for i, c in enumerate(others)),
    )


def iter_endpoints(config: ConfigDescriptor) -> Iterator[tuple[int, InterfaceDescriptor,
                                                                EndpointDescriptor]]:
    """(interface number, altsetting, endpoint) for every endpoint of a configuration."""
    for num, alt in _numbered(config.interfaces):
        for ep in alt.endpoints:
            yield num, alt, ep
