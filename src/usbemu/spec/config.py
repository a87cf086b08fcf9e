"""Descriptor parsing with Linux's rules — counterpart of drivers/usb/core/config.c.

`parse_configuration` does to one configuration's bytes what `usb_get_configuration` and
`usb_parse_configuration` do in Linux 6.12: it reads them the way the second
GET_DESCRIPTOR(CONFIG) would (cut to wTotalLength), walks them with the same two passes, the
same limits (32 interfaces, 128 altsettings, 30 endpoints, 16 IADs) and the same fix-ups
(bInterval, maxpacket, low-speed bulk, reserved address bits, SuperSpeed companions), skips
what Linux skips, and returns the `ConfigDescriptor` Linux keeps in `struct usb_host_config`
together with every message Linux logs on the way (`Notice`, Linux's wording and level).
`parse_bos` follows `usb_get_bos_descriptor`, `parse_device` decodes the device descriptor and
`parse_descriptors_file` splits the sysfs `descriptors` file.  Nothing here does I/O or
fetches strings: the caller reads the bytes and logs the notices under the device's name.
The device-specific quirk tables are not here either; the caller passes the USB_QUIRK_* bits
(`ConfigQuirk`) and, for USB_QUIRK_ENDPOINT_IGNORE, a predicate.  Class-specific descriptors
stay raw in the `extra` of the descriptor they follow; the eUSB2 isochronous companion of
later kernels is not parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import IntFlag
from functools import lru_cache
from typing import Final, TypeAlias

from .ch9 import (
    USB_DIR_MASK,
    USB_ENDPOINT_MAXP_MULT_MASK,
    USB_ENDPOINT_NUMBER_MASK,
    USB_MAXALTSETTING,
    USB_MAXENDPOINTS,
    USB_MAXIADS,
    USB_MAXINTERFACES,
    DescriptorSize,
    DescriptorType,
    EndpointType,
    Speed,
)
from .descriptors import (
    BosDescriptor,
    ConfigDescriptor,
    DescriptorError,
    DeviceCapability,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceAssociation,
    InterfaceDescriptor,
    SsEndpointCompanion,
)

__all__ = [
    "ConfigQuirk",
    "EndpointFilter",
    "Notice",
    "ParsedConfig",
    "parse_bos",
    "parse_configuration",
    "parse_descriptors_file",
    "parse_device",
]


class ConfigQuirk(IntFlag):
    """The USB_QUIRK_* bits (include/linux/usb/quirks.h) that change configuration parsing.

    Same bit values as Linux, so a device's whole quirk word can be passed unchanged.
    """

    HONOR_BNUMINTERFACES = 1 << 5
    LINEAR_UFRAME_INTR_BINTERVAL = 1 << 7
    LINEAR_FRAME_INTR_BINTERVAL = 1 << 11
    ENDPOINT_IGNORE = 1 << 15


EndpointFilter: TypeAlias = Callable[[InterfaceDescriptor, int], bool]
"""`usb_endpoint_is_ignored`: (altsetting's interface descriptor, bEndpointAddress) → skip?"""


@dataclass(frozen=True, slots=True)
class Notice:
    """One message Linux logs while parsing.

    `level` is the dev_* level Linux uses ("notice", "warn", "err" or "debug"); `message` is
    worded exactly as Linux formats it, without the "usb 1-1: " device prefix.
    """

    level: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class ParsedConfig:
    """One configuration as Linux keeps it after parsing.

    `config` is `struct usb_host_config` (fixed up; wTotalLength is the number of bytes
    walked, bNumInterfaces and bNumEndpoints the counts stored), `raw` the buffer as read
    (what `rawdescriptors` holds), `notices` what was logged, in order.
    """

    config: ConfigDescriptor
    raw: bytes
    notices: tuple[Notice, ...]


# -- tables -----------------------------------------------------------------------------------

_HEADER_SIZE: Final = 2  # struct usb_descriptor_header
_CAP_HEADER_SIZE: Final = 3  # struct usb_dev_cap_header
_SSP_ISOC_COMP_SIZE: Final = 8  # USB_DT_SSP_ISOC_EP_COMP_SIZE
_SS_SSP_ISOC_COMP: Final = 0x80  # USB_SS_SSP_ISOC_COMP(bmAttributes)
_NO_TX_LIMIT: Final = 999999  # max_tx of bulk and control endpoints

_TO_INTERFACE: Final = frozenset({DescriptorType.INTERFACE})
_TO_ENDPOINT: Final = frozenset({DescriptorType.ENDPOINT, DescriptorType.INTERFACE})
_UNEXPECTED: Final = frozenset({DescriptorType.DEVICE, DescriptorType.CONFIG})
_PERIODIC: Final = frozenset({EndpointType.INT, EndpointType.ISOC})

# Highest legal maxpacket per speed, indexed by transfer type (control, isoc, bulk, int).
_MAXPACKET_HIGH: Final = (64, 1024, 1024, 1024)
_MAXPACKET: Final[Mapping[Speed, tuple[int, int, int, int]]] = {
    Speed.LOW: (8, 0, 0, 8),
    Speed.FULL: (64, 1023, 64, 64),
    Speed.HIGH: _MAXPACKET_HIGH,
    Speed.SUPER: (512, 1024, 1024, 1024),
    Speed.SUPER_PLUS: (512, 1024, 1024, 1024),
}

# Speeds whose interrupt bInterval is an exponent (2^(bInterval-1) microframes).
_EXPONENT_INTERVAL_SPEEDS: Final = frozenset({Speed.HIGH, Speed.SUPER, Speed.SUPER_PLUS})
_FRAME_INT_INTERVAL: Final = (1, 255, 10)  # full/low speed interrupt: min, max, default (ms)
_ISOC_INTERVAL_DEFAULT: Final[Mapping[Speed, int]] = {Speed.HIGH: 7}  # 8 ms; else 4 (8 frames)
_ANY_INTERVAL: Final = (0, 255, 0)  # control and bulk: never fixed

# bos_desc_len[]: shortest legal bLength per bDevCapabilityType.
_BOS_CAP_MIN_LENGTH: Final[Mapping[int, int]] = {
    0x01: 11,  # wireless USB
    0x02: 7,  # USB 2.0 extension
    0x03: 10,  # SuperSpeed
    0x04: 20,  # container ID
    0x0A: 20,  # SuperSpeedPlus, one sublink speed attribute
    0x0B: 3,  # precision time measurement
}


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


def _standard_or(value: int | None, standard: int) -> int | None:
    """A bLength as read, None when it is the standard size (what the dataclasses default to)."""
    return None if value == standard else value


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset:offset + 2], "little")


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def _interval_range(kind: EndpointType, speed: Speed, interval: int,
                    quirks: int) -> tuple[int, int, int]:
    """(min, max, replacement) for bInterval, as usb_parse_endpoint computes them."""
    if kind == EndpointType.INT:
        if speed in _EXPONENT_INTERVAL_SPEEDS:
            return _exponent_interval(interval, quirks)
        return _FRAME_INT_INTERVAL
    if kind == EndpointType.ISOC:
        return 1, 16, _ISOC_INTERVAL_DEFAULT.get(speed, 4)
    return _ANY_INTERVAL


def _exponent_interval(interval: int, quirks: int) -> tuple[int, int, int]:
    """High/SuperSpeed interrupt: a full-speed (ms) value is converted, else 8 ms."""
    low, high = 1, 16
    default = (interval * 8).bit_length() or 7
    if quirks & ConfigQuirk.LINEAR_FRAME_INTR_BINTERVAL:
        default = _clamp(interval.bit_length() + 3, low, high)
        low = high = default
    if quirks & ConfigQuirk.LINEAR_UFRAME_INTR_BINTERVAL:
        default = _clamp(interval.bit_length(), low, high)
        low = high = default
    return low, high, default


def _clash(stored: EndpointDescriptor, new: EndpointDescriptor) -> bool:
    """endpoint_is_duplicate(): same address, or same number when either is control."""
    if stored.bEndpointAddress == new.bEndpointAddress:
        return True
    control = EndpointType.CONTROL in (stored.type, new.type)
    return control and stored.number == new.number


def _ss_mult(attributes: int) -> int:
    """USB_SS_MULT(): isochronous Mult from a companion's bmAttributes."""
    return 1 + (attributes & 0x3)


def _max_bytes_per_interval(ep: EndpointDescriptor, comp: SsEndpointCompanion) -> int:
    if ep.type == EndpointType.ISOC:
        return (comp.bMaxBurst + 1) * _ss_mult(comp.bmAttributes) * ep.maxpacket
    if ep.type == EndpointType.INT:
        return ep.maxpacket * (comp.bMaxBurst + 1)
    return _NO_TX_LIMIT


def _default_companion(ep: EndpointDescriptor) -> SsEndpointCompanion:
    """The minimum values Linux fills in when the companion is missing."""
    periodic = ep.type in _PERIODIC
    return SsEndpointCompanion(0, 0, ep.wMaxPacketSize if periodic else 0)


def _association(raw: bytes) -> InterfaceAssociation | None:
    """An IAD that can be re-encoded exactly (so `to_bytes` gives the bytes back)."""
    iad = InterfaceAssociation.from_bytes(raw)
    iad = replace(iad, bLength=_standard_or(iad.bLength, DescriptorSize.INTERFACE_ASSOCIATION))
    return iad if iad.to_bytes() == raw else None


def _interface_header(raw: bytes) -> InterfaceDescriptor:
    desc = InterfaceDescriptor.from_bytes(raw)
    return replace(desc, bLength=_standard_or(desc.bLength, DescriptorSize.INTERFACE))


def _endpoint_copy(raw: bytes) -> EndpointDescriptor:
    ep = EndpointDescriptor.from_bytes(raw)
    standard = DescriptorSize.ENDPOINT if ep.bRefresh is None else DescriptorSize.ENDPOINT_AUDIO
    return replace(ep, bLength=_standard_or(ep.bLength, standard))


# -- the configuration parser -------------------------------------------------------------------


@dataclass(slots=True)
class _Endpoint:
    desc: EndpointDescriptor
    extra: tuple[int, int]


@dataclass(slots=True)
class _Alt:
    """An altsetting being filled (usb_host_interface), with offsets into the buffer."""

    start: int
    number: int
    setting: int
    header: InterfaceDescriptor
    where: str
    extra: tuple[int, int] = (0, 0)
    endpoints: list[_Endpoint] = field(default_factory=list)


class _ConfigParser:
    """usb_parse_configuration(): one pass to count, one to parse, then the checks."""

    def __init__(self, buf: bytes, speed: Speed, quirks: int,
                 endpoint_ignored: EndpointFilter | None, notices: list[Notice]) -> None:
        self.buf = buf
        self.speed = speed
        self.quirks = quirks
        self.endpoint_ignored = endpoint_ignored
        self.notices = notices
        self.head = buf[0]
        self.declared = buf[4]  # bNumInterfaces as read
        self.cfgno = buf[5]  # bConfigurationValue
        self.end = len(buf)  # becomes the end of what the first pass walked
        self.inums: list[int] = []
        self.nalts: list[int] = []
        self.iads: set[int] = set()  # offsets of the IADs Linux records
        self.previous: dict[int, int] = {}  # descriptor offset -> offset of the one before
        self.slots: list[list[_Alt]] = []  # intf_cache[], one list of altsettings each
        self.order: list[_Alt] = []  # every stored altsetting, in wire order
        self.config_extra = (self.head, self.head)

    def note(self, message: str, level: str = "notice") -> None:
        self.notices.append(Notice(level, message))

    def parse(self) -> ConfigDescriptor:
        if self.declared > USB_MAXINTERFACES:
            self.note(f"config {self.cfgno} has too many interfaces: {self.declared}, "
                      f"using maximum allowed: {USB_MAXINTERFACES}")
        self.end = self._walk()
        self._check_interfaces()
        self._parse_body()
        self._check_altsettings()
        return self._assemble()

    # first pass: lengths, interface numbers, altsetting counts, IADs

    def _walk(self) -> int:
        pos, size, prev = self.head, len(self.buf), -1
        while pos < size:
            left = size - pos
            if left < _HEADER_SIZE:
                self.note(f"config {self.cfgno} descriptor has {left} excess "
                          f"byte{_plural(left)}, ignoring")
                break
            length, dtype = self.buf[pos], self.buf[pos + 1]
            if length > left or length < _HEADER_SIZE:
                self.note(f"config {self.cfgno} has an invalid descriptor of length {length}, "
                          "skipping remainder of the config")
                break
            self.previous[pos], prev = prev, pos
            self._count(pos, length, dtype)
            pos += length
        return pos

    def _count(self, pos: int, length: int, dtype: int) -> None:
        if dtype == DescriptorType.INTERFACE:
            self._count_interface(pos, length)
        elif dtype == DescriptorType.INTERFACE_ASSOCIATION:
            self._count_association(pos, length)
        elif dtype in _UNEXPECTED:
            self.note(f"config {self.cfgno} contains an unexpected descriptor of type "
                      f"0x{dtype:X}, skipping")

    def _count_interface(self, pos: int, length: int) -> None:
        if length < DescriptorSize.INTERFACE:
            self.note(f"config {self.cfgno} has an invalid interface descriptor of length "
                      f"{length}, skipping")
            return
        inum = self.buf[pos + 2]
        if (self.quirks & ConfigQuirk.HONOR_BNUMINTERFACES
                and len(self.inums) >= self.declared):
            self.note(f"config {self.cfgno} has more interface descriptors, than it declares "
                      f"in bNumInterfaces, ignoring interface number: {inum}")
            return
        if inum >= self.declared:
            self.note(f"config {self.cfgno} has an invalid interface number: {inum} "
                      f"but max is {self.declared - 1}")
        if inum in self.inums:
            i = self.inums.index(inum)
            self.nalts[i] = min(self.nalts[i] + 1, 255)
        elif len(self.inums) < USB_MAXINTERFACES:
            self.inums.append(inum)
            self.nalts.append(1)

    def _count_association(self, pos: int, length: int) -> None:
        if length < DescriptorSize.INTERFACE_ASSOCIATION:
            self.note(f"config {self.cfgno} has an invalid interface association descriptor "
                      f"of length {length}, skipping")
        elif len(self.iads) == USB_MAXIADS:
            self.note("found more Interface Association Descriptors than allocated for in "
                      f"configuration {self.cfgno}")
        else:
            self.iads.add(pos)

    def _check_interfaces(self) -> None:
        n = len(self.inums)
        if n != min(self.declared, USB_MAXINTERFACES):
            self.note(f"config {self.cfgno} has {n} interface{_plural(n)}, different from "
                      f"the descriptor's value: {self.declared}")
        elif n == 0:
            self.note(f"config {self.cfgno} has no interfaces?")
        for missing in sorted(set(range(n)) - set(self.inums)):
            self.note(f"config {self.cfgno} has no interface number {missing}")
        for i, count in enumerate(self.nalts):
            if count > USB_MAXALTSETTING:
                self.note(f"too many alternate settings for config {self.cfgno} interface "
                          f"{self.inums[i]}: {count}, using maximum allowed: "
                          f"{USB_MAXALTSETTING}")
                self.nalts[i] = USB_MAXALTSETTING
        self.slots = [[] for _ in self.inums]

    # second pass: interfaces and endpoints

    def _find_next(self, pos: int, stop: frozenset[DescriptorType]) -> tuple[int, int]:
        """find_next_descriptor(): offset of the next descriptor of a `stop` type, and the
        number of descriptors skipped on the way."""
        skipped = 0
        while pos < self.end and self.buf[pos + 1] not in stop:
            pos += self.buf[pos]
            skipped += 1
        return pos, skipped

    def _skipped(self, count: int, after: str) -> None:
        if count:
            self.note(f"skipped {count} descriptor{_plural(count)} after {after}", "debug")

    def _parse_body(self) -> None:
        pos, skipped = self._find_next(self.head, _TO_INTERFACE)
        self.config_extra = (self.head, pos)
        self._skipped(skipped, "configuration")
        while pos < self.end:
            pos = self._parse_interface(pos)

    def _parse_interface(self, pos: int) -> int:
        length = self.buf[pos]
        body = pos + length
        if length < DescriptorSize.INTERFACE:
            return self._find_next(body, _TO_INTERFACE)[0]
        inum, asnum = self.buf[pos + 2], self.buf[pos + 3]
        slot = self._slot(inum)
        if slot is None:
            return self._find_next(body, _TO_INTERFACE)[0]
        if any(alt.setting == asnum for alt in slot):
            self.note(f"Duplicate descriptor for config {self.cfgno} interface {inum} "
                      f"altsetting {asnum}, skipping")
            return self._find_next(body, _TO_INTERFACE)[0]
        alt = _Alt(pos, inum, asnum, _interface_header(self.buf[pos:body]),
                   f"config {self.cfgno} interface {inum} altsetting {asnum}")
        slot.append(alt)
        self.order.append(alt)
        return self._parse_endpoints(alt, body)

    def _slot(self, inum: int) -> list[_Alt] | None:
        """The interface's altsetting list, or None when it has no room (or no entry)."""
        if inum not in self.inums:
            return None
        i = self.inums.index(inum)
        return self.slots[i] if len(self.slots[i]) < self.nalts[i] else None

    def _parse_endpoints(self, alt: _Alt, body: int) -> int:
        pos, skipped = self._find_next(body, _TO_ENDPOINT)
        alt.extra = (body, pos)
        self._skipped(skipped, "interface")
        declared = room = self.buf[alt.start + 4]
        if declared > USB_MAXENDPOINTS:
            self.note(f"too many endpoints for config {self.cfgno} interface {alt.number} "
                      f"altsetting {alt.setting}: {declared}, using maximum allowed: "
                      f"{USB_MAXENDPOINTS}")
            room = USB_MAXENDPOINTS
        count = 0
        while pos < self.end and self.buf[pos + 1] != DescriptorType.INTERFACE:
            pos = self._parse_endpoint(alt, pos, room)
            count += 1
        if count != declared:
            self.note(f"{alt.where} has {count} endpoint descriptor{_plural(count)}, "
                      f"different from the interface descriptor's value: {declared}")
        return pos

    def _parse_endpoint(self, alt: _Alt, pos: int, room: int) -> int:
        """usb_parse_endpoint(): store (or skip) one endpoint; returns the next offset."""
        body = pos + self.buf[pos]
        ep = self._accepted_endpoint(alt, pos, room)
        if ep is None:
            return self._find_next(body, _TO_ENDPOINT)[0]
        ep = self._fix_maxpacket(alt, self._fix_low_speed_bulk(alt, self._fix_interval(alt, ep)))
        companion, extra_start = self._companion(alt, ep, body)
        nxt, skipped = self._find_next(body, _TO_ENDPOINT)
        self._skipped(skipped, "endpoint")
        alt.endpoints.append(_Endpoint(replace(ep, companion=companion), (extra_start, nxt)))
        return nxt

    def _accepted_endpoint(self, alt: _Alt, pos: int, room: int) -> EndpointDescriptor | None:
        """The endpoint's stored copy (reserved address bits cleared), None if skipped."""
        length = self.buf[pos]
        if length < DescriptorSize.ENDPOINT:
            self.note(f"{alt.where} has an invalid endpoint descriptor of length {length}, "
                      "skipping")
            return None
        if self.buf[pos + 2] & USB_ENDPOINT_NUMBER_MASK == 0:
            self.note(f"{alt.where} has an invalid descriptor for endpoint zero, skipping")
            return None
        if len(alt.endpoints) >= room:
            return None
        ep = self._clear_reserved_bits(alt, _endpoint_copy(self.buf[pos:pos + length]))
        return None if self._rejected(alt, ep) else ep

    def _clear_reserved_bits(self, alt: _Alt, ep: EndpointDescriptor) -> EndpointDescriptor:
        address = ep.bEndpointAddress & (USB_DIR_MASK | USB_ENDPOINT_NUMBER_MASK)
        if address == ep.bEndpointAddress:
            return ep
        self.note(f"{alt.where} has an endpoint descriptor with address "
                  f"0x{ep.bEndpointAddress:X}, changing to 0x{address:X}")
        return replace(ep, bEndpointAddress=address)

    def _rejected(self, alt: _Alt, ep: EndpointDescriptor) -> bool:
        """Duplicate address (other altsettings of this interface excepted) or ignored."""
        address = ep.bEndpointAddress
        if any(_clash(stored.desc, ep) for other in self.order
               if other.number != alt.number or other.setting == alt.setting
               for stored in other.endpoints):
            self.note(f"{alt.where} has a duplicate endpoint with address 0x{address:X}, "
                      "skipping")
            return True
        if (self.quirks & ConfigQuirk.ENDPOINT_IGNORE and self.endpoint_ignored is not None
                and self.endpoint_ignored(alt.header, address)):
            self.note(f"{alt.where} has an ignored endpoint with address 0x{address:X}, "
                      "skipping")
            return True
        return False

    def _fix_interval(self, alt: _Alt, ep: EndpointDescriptor) -> EndpointDescriptor:
        low, high, default = _interval_range(ep.type, self.speed, ep.bInterval, self.quirks)
        if low <= ep.bInterval <= high:
            return ep
        self.note(f"{alt.where} endpoint 0x{ep.bEndpointAddress:X} has an invalid bInterval "
                  f"{ep.bInterval}, changing to {default}")
        return replace(ep, bInterval=default)

    def _fix_low_speed_bulk(self, alt: _Alt, ep: EndpointDescriptor) -> EndpointDescriptor:
        if self.speed != Speed.LOW or ep.type != EndpointType.BULK:
            return ep
        self.note(f"{alt.where} endpoint 0x{ep.bEndpointAddress:X} is Bulk; changing to "
                  "Interrupt")
        maxp = 8 if ep.maxpacket > 8 else ep.wMaxPacketSize
        return replace(ep, bmAttributes=int(EndpointType.INT), bInterval=1, wMaxPacketSize=maxp)

    def _fix_maxpacket(self, alt: _Alt, ep: EndpointDescriptor) -> EndpointDescriptor:
        address, value = ep.bEndpointAddress, ep.wMaxPacketSize
        if value == 0 and not (ep.type == EndpointType.ISOC and alt.setting == 0):
            self.note(f"{alt.where} endpoint 0x{address:X} has invalid wMaxPacketSize 0")
        high_bandwidth = self.speed == Speed.HIGH and ep.type in _PERIODIC
        mult = value & USB_ENDPOINT_MAXP_MULT_MASK if high_bandwidth else 0
        maxp = value & ~mult
        limit = _MAXPACKET.get(self.speed, _MAXPACKET_HIGH)[ep.type]
        if maxp > limit:
            self.note(f"{alt.where} endpoint 0x{address:X} has invalid maxpacket {maxp}, "
                      f"setting to {limit}")
            maxp = limit
            ep = replace(ep, wMaxPacketSize=mult | maxp)
        if self.speed == Speed.HIGH and ep.type == EndpointType.BULK and maxp != 512:
            self.note(f"{alt.where} bulk endpoint 0x{address:X} has invalid maxpacket {maxp}")
        return ep

    # SuperSpeed endpoint companions

    def _companion(self, alt: _Alt, ep: EndpointDescriptor,
                   pos: int) -> tuple[SsEndpointCompanion | None, int]:
        """usb_parse_ss_endpoint_companion(): the companion Linux stores, and where the
        endpoint's `extra` starts."""
        if self.speed < Speed.SUPER:
            return None, pos
        size = self.end - pos
        if size < DescriptorSize.SS_ENDPOINT_COMP:
            self.note(f"invalid SuperSpeed endpoint companion descriptor of length {size}, "
                      "skipping")
            return None, pos
        where = (f"config {self.cfgno} interface {alt.number} altsetting {alt.setting} "
                 f"ep {ep.bEndpointAddress}")
        if self.buf[pos + 1] != DescriptorType.SS_ENDPOINT_COMP:
            self.note(f"No SuperSpeed endpoint companion for config {self.cfgno}  interface "
                      f"{alt.number} altsetting {alt.setting} ep {ep.bEndpointAddress}: "
                      "using minimum values")
            return _default_companion(ep), pos
        length = self.buf[pos]
        found = SsEndpointCompanion.from_bytes(self.buf[pos:pos + DescriptorSize.SS_ENDPOINT_COMP])
        fixed = replace(found, bMaxBurst=self._companion_burst(where, ep, found.bMaxBurst),
                        bmAttributes=self._companion_attributes(where, ep, found.bmAttributes),
                        wBytesPerInterval=self._companion_bytes(where, ep, found),
                        bLength=_standard_or(length, DescriptorSize.SS_ENDPOINT_COMP))
        if ep.type == EndpointType.ISOC and found.bmAttributes & _SS_SSP_ISOC_COMP:
            self._check_ssp_isoc_companion(where, pos + length)
        return fixed, pos + min(length, DescriptorSize.SS_ENDPOINT_COMP)

    def _companion_burst(self, where: str, ep: EndpointDescriptor, burst: int) -> int:
        if ep.type == EndpointType.CONTROL and burst != 0:
            self.note(f"Control endpoint with bMaxBurst = {burst} in {where}: setting to zero")
            return 0
        if burst > 15:
            self.note(f"Endpoint with bMaxBurst = {burst} in {where}: setting to 15")
            return 15
        return burst

    def _companion_attributes(self, where: str, ep: EndpointDescriptor, attrs: int) -> int:
        kind = ep.type
        if kind in (EndpointType.CONTROL, EndpointType.INT) and attrs != 0:
            # Linux names interrupt endpoints "Bulk" in this message.
            name = "Control" if kind == EndpointType.CONTROL else "Bulk"
            self.note(f"{name} endpoint with bmAttributes = {attrs} in {where}: "
                      "setting to zero")
            return 0
        if kind == EndpointType.BULK and attrs > 16:
            self.note(f"Bulk endpoint with more than 65536 streams in {where}: setting to max")
            return 16
        if (kind == EndpointType.ISOC and not attrs & _SS_SSP_ISOC_COMP
                and _ss_mult(attrs) > 3):
            self.note(f"Isoc endpoint has Mult of {_ss_mult(attrs)} in {where}: setting to 3")
            return 2
        return attrs

    def _companion_bytes(self, where: str, ep: EndpointDescriptor,
                         comp: SsEndpointCompanion) -> int:
        limit = _max_bytes_per_interval(ep, comp)
        if comp.wBytesPerInterval <= limit:
            return comp.wBytesPerInterval
        name = "Isoc" if ep.type == EndpointType.ISOC else "Int"
        self.note(f"{name} endpoint with wBytesPerInterval of {comp.wBytesPerInterval} in "
                  f"{where}: setting to {limit}")
        return limit

    def _check_ssp_isoc_companion(self, where: str, pos: int) -> None:
        if (self.end - pos < _SSP_ISOC_COMP_SIZE
                or self.buf[pos + 1] != DescriptorType.SSP_ISOC_ENDPOINT_COMP):
            # Linux's format string lacks the space before "for".
            self.note(f"Invalid SuperSpeedPlus isoc endpoint companionfor {where}.")

    # final checks and the resulting tree

    def _check_altsettings(self) -> None:
        for inum, slot in zip(self.inums, self.slots, strict=True):
            present = {alt.setting for alt in slot}
            for missing in range(len(slot)):
                if missing not in present:
                    self.note(f"config {self.cfgno} interface {inum} has no altsetting "
                              f"{missing}")

    def _associations(self) -> dict[int, tuple[int, InterfaceAssociation]]:
        """Interface offset -> (offset, descriptor) of the recorded IAD just before it."""
        found: dict[int, tuple[int, InterfaceAssociation]] = {}
        for alt in self.order:
            prev = self.previous.get(alt.start, -1)
            iad = _association(self.buf[prev:alt.start]) if prev in self.iads else None
            if iad is not None:
                found[alt.start] = (prev, iad)
        return found

    def _assemble(self) -> ConfigDescriptor:
        iads = self._associations()
        cut = {start: offset for start, (offset, _) in iads.items()}

        def span(bounds: tuple[int, int]) -> bytes:
            """Bytes of an `extra`, minus an IAD at its end that went to the next interface."""
            start, end = bounds
            return self.buf[start:max(start, cut.get(end, end))]

        def interface(alt: _Alt) -> InterfaceDescriptor:
            endpoints = tuple(replace(ep.desc, extra=span(ep.extra)) for ep in alt.endpoints)
            iad = iads.get(alt.start)
            return replace(alt.header, endpoints=endpoints, extra=span(alt.extra),
                           association=iad[1] if iad else None, bNumEndpoints=len(endpoints))

        head = ConfigDescriptor.header_from_bytes(self.buf[:self.head])
        return replace(head, interfaces=tuple(interface(alt) for alt in self.order),
                       extra=span(self.config_extra), wTotalLength=self.end,
                       bNumInterfaces=len(self.inums),
                       bLength=_standard_or(self.head, DescriptorSize.CONFIG))


# -- public entry points ------------------------------------------------------------------------


def _read_config(data: bytes, cfgidx: int, notices: list[Notice]) -> bytes:
    """What usb_get_configuration's two reads return: at most max(wTotalLength, 9) bytes."""
    if len(data) < 4:
        raise DescriptorError(f"config index {cfgidx} descriptor too short "
                              f"(expected {DescriptorSize.CONFIG}, got {len(data)})")
    length = max(_u16(data, 2), DescriptorSize.CONFIG)
    if len(data) < length:
        notices.append(Notice("notice", f"config index {cfgidx} descriptor too short "
                                        f"(expected {length}, got {len(data)})"))
    return data[:length]


def parse_configuration(data: bytes | bytearray | memoryview, cfgidx: int = 0,
                        speed: Speed = Speed.HIGH, *, quirks: int = 0,
                        endpoint_ignored: EndpointFilter | None = None) -> ParsedConfig:
    """Parse one configuration as Linux does (`usb_get_configuration` + `usb_parse_configuration`).

    `data` is what the device returns for GET_DESCRIPTOR(CONFIG, `cfgidx`); bytes past
    max(wTotalLength, 9) are not read, as Linux asks for no more.  `speed` is the device's
    speed (it decides bInterval, maxpacket and companion rules); `quirks` the device's
    USB_QUIRK_* bits (`ConfigQuirk`); `endpoint_ignored` decides, when
    USB_QUIRK_ENDPOINT_IGNORE is set, which endpoints to drop.

    Context: pure function; the results of the last PARSED_CACHE_SIZE parses without an
    `endpoint_ignored` are kept, so a configuration many devices share is parsed once.
    Raises DescriptorError, with Linux's message, when Linux gives up on the configuration
    (fewer than 4 bytes, or a configuration descriptor of the wrong type or length); every
    other problem is a `Notice` in the result.
    """
    if endpoint_ignored is None:
        return _parse_shared(bytes(data), cfgidx, speed, quirks)
    return _parse_configuration(bytes(data), cfgidx, speed, quirks, endpoint_ignored)


#: Parsed configurations kept by `parse_configuration` (the result is immutable).
PARSED_CACHE_SIZE: Final = 512


def _parse_configuration(data: bytes, cfgidx: int, speed: Speed, quirks: int,
                         endpoint_ignored: EndpointFilter | None) -> ParsedConfig:
    notices: list[Notice] = []
    buf = _read_config(data, cfgidx, notices)
    length, dtype = buf[0], buf[1]
    if dtype != DescriptorType.CONFIG or not DescriptorSize.CONFIG <= length <= len(buf):
        raise DescriptorError(f"invalid descriptor for config index {cfgidx}: "
                              f"type = 0x{dtype:X}, length = {length}")
    config = _ConfigParser(buf, speed, quirks, endpoint_ignored, notices).parse()
    return ParsedConfig(config, buf, tuple(notices))


@lru_cache(maxsize=PARSED_CACHE_SIZE)
def _parse_shared(data: bytes, cfgidx: int, speed: Speed, quirks: int) -> ParsedConfig:
    return _parse_configuration(data, cfgidx, speed, quirks, None)


def parse_device(data: bytes | bytearray | memoryview) -> DeviceDescriptor:
    """Decode the 18-byte device descriptor (bytes after it are ignored).

    Raises DescriptorError when fewer than 18 bytes are given or bDescriptorType is not 1 —
    the cases in which Linux's 18-byte read fails.  bLength is not checked, as in Linux.
    """
    device = DeviceDescriptor.from_bytes(bytes(data))
    return replace(device, bLength=_standard_or(device.bLength, DescriptorSize.DEVICE))


def parse_bos(data: bytes | bytearray | memoryview) -> tuple[BosDescriptor, tuple[Notice, ...]]:
    """Parse a BOS descriptor set as `usb_get_bos_descriptor` does.

    Bytes past wTotalLength are not read.  The walk stops (silently, bNumDeviceCaps set to
    the capabilities seen) at a capability that runs past wTotalLength or is shorter than its
    type requires; a capability whose bDescriptorType is not DEVICE_CAPABILITY is stepped
    over with a notice.  `capabilities` lists the ones Linux accepts; wTotalLength and
    bNumDeviceCaps are None when they equal what the capabilities add up to, else Linux's
    stored values (bytes walked, capabilities counted).

    Raises DescriptorError when Linux rejects the set: header shorter than 5 bytes, wrong
    type, bLength < 5, wTotalLength < bLength, or fewer than wTotalLength bytes.
    """
    raw = bytes(data)
    if (len(raw) < DescriptorSize.BOS or raw[1] != DescriptorType.BOS
            or raw[0] < DescriptorSize.BOS):
        raise DescriptorError("unable to get BOS descriptor or descriptor too short")
    length, total = raw[0], _u16(raw, 2)
    if total < length:
        raise DescriptorError(f"BOS descriptor wTotalLength {total} is less than its "
                              f"bLength {length}")
    if len(raw) < total:
        raise DescriptorError("unable to get BOS descriptor set")
    return _walk_bos(raw[:total], length, raw[4])


def _walk_bos(buf: bytes, pos: int,
              count: int) -> tuple[BosDescriptor, tuple[Notice, ...]]:
    notices: list[Notice] = []
    caps: list[DeviceCapability] = []
    for i in range(count):
        left = len(buf) - pos
        if left < _CAP_HEADER_SIZE or left < buf[pos]:
            count = i
            break
        size, kind = buf[pos], buf[pos + 2]
        if size < _BOS_CAP_MIN_LENGTH.get(kind, 0):
            count = i
            break
        if buf[pos + 1] != DescriptorType.DEVICE_CAPABILITY:
            notices.append(Notice("notice", "descriptor type invalid, skip"))
        elif size >= _CAP_HEADER_SIZE:
            caps.append(DeviceCapability(kind, buf[pos + _CAP_HEADER_SIZE:pos + size]))
        pos += size
    computed = DescriptorSize.BOS + sum(_CAP_HEADER_SIZE + len(c.data) for c in caps)
    bos = BosDescriptor(tuple(caps), _standard_or(pos, computed),
                        _standard_or(count, len(caps)))
    return bos, tuple(notices)


def _config_chunk(data: bytes, pos: int, index: int) -> bytes:
    """The next configuration of a descriptors file: max(wTotalLength, 9) bytes, or what is
    left of the file."""
    rest = data[pos:]
    where = f"descriptors file: configuration {index} at offset {pos}"
    if len(rest) < DescriptorSize.CONFIG:
        raise DescriptorError(f"{where} is truncated: {len(rest)} byte{_plural(len(rest))} "
                              "left, its header needs 9")
    length, dtype, total = rest[0], rest[1], _u16(rest, 2)
    size = max(total, DescriptorSize.CONFIG)
    if dtype != DescriptorType.CONFIG or not DescriptorSize.CONFIG <= length <= min(size,
                                                                                 len(rest)):
        raise DescriptorError(f"{where} has an invalid header: type = 0x{dtype:X}, "
                              f"length = {length}, wTotalLength = {total}")
    return rest[:size]


def parse_descriptors_file(data: bytes | bytearray | memoryview, speed: Speed = Speed.HIGH
                           ) -> tuple[DeviceDescriptor, tuple[ParsedConfig, ...]]:
    """Parse the sysfs `descriptors` file: the 18-byte device descriptor, then each
    configuration back to back, each max(wTotalLength, 9) bytes long.

    Linux writes each configuration cut to the wTotalLength it stored (the bytes it walked),
    so the dump of a device whose wTotalLength overstates its descriptors ends early: a last
    configuration shorter than its header says is parsed as Linux parses a short read (same
    tree, "descriptor too short" notice).  Configurations are read until the data ends.

    Returns the device descriptor with `configurations` set to the parsed trees, and the
    parsed configurations (with their raw bytes and notices).  Raises DescriptorError naming
    the device descriptor, or the configuration (index and offset) whose header is invalid
    or truncated.
    """
    raw = bytes(data)
    try:
        device = parse_device(raw[:DescriptorSize.DEVICE])
    except DescriptorError as exc:
        raise DescriptorError(f"descriptors file: {exc}") from None
    configs: list[ParsedConfig] = []
    pos: int = DescriptorSize.DEVICE
    while pos < len(raw):
        chunk = _config_chunk(raw, pos, len(configs))
        configs.append(parse_configuration(chunk, len(configs), speed))
        pos += len(chunk)
    return replace(device, configurations=tuple(c.config for c in configs)), tuple(configs)
