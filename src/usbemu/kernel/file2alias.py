"""Module aliases from device tables — counterpart of scripts/mod/file2alias.c (USB and HID parts) and module-init-tools' modules.usbmap writer.

Turns a USB driver's id table into the `usb:v…p…d…` fnmatch patterns that modpost embeds as
MODULE_ALIAS and depmod collects into `modules.alias`, byte for byte as file2alias does —
including its expansion of a bcdDevice range into several patterns (BCD or hex digits), the
order of those patterns, the missing alias for all-zero entries and the quirk that a range
covering one whole last digit yields a 3-digit pattern that matches nothing.  It also builds
the interface modalias string the USB core publishes (sysfs `modalias`, uevent `MODALIAS=`),
the legacy `modules.usbmap` lines, and matches a pattern against a modalias.  HID tables
(`struct hid_device_id`) give `hid:bNgNvNpN` patterns (do_hid_entry).  It does not
load modules, walk module directories or write files: depmod and modprobe live elsewhere and
call in here.  The id-table entry is taken structurally (anything with the fields of
`struct usb_device_id`, such as `usbemu.core.devtable.UsbDeviceId`) so that this kernel-layer
module does not import the USB core.  Pure: no I/O, never blocks.
"""  # noqa: E501 — the first line is the kernel-file counterpart, kept whole

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Final, Protocol, TypeAlias, cast

from usbemu.spec.descriptors import DeviceDescriptor, InterfaceDescriptor

__all__ = [
    "DeviceTable",
    "HidIdFields",
    "UsbIdFields",
    "alias_matches",
    "device_table_aliases",
    "hid_alias",
    "interface_modalias",
    "modules_alias_lines",
    "usb_aliases",
    "usbmap_header",
    "usbmap_line",
]


class UsbIdFields(Protocol):
    """The fields of `struct usb_device_id` this module reads (`UsbDeviceId` has them)."""

    @property
    def match_flags(self) -> int: ...
    @property
    def idVendor(self) -> int: ...
    @property
    def idProduct(self) -> int: ...
    @property
    def bcdDevice_lo(self) -> int: ...
    @property
    def bcdDevice_hi(self) -> int: ...
    @property
    def bDeviceClass(self) -> int: ...
    @property
    def bDeviceSubClass(self) -> int: ...
    @property
    def bDeviceProtocol(self) -> int: ...
    @property
    def bInterfaceClass(self) -> int: ...
    @property
    def bInterfaceSubClass(self) -> int: ...
    @property
    def bInterfaceProtocol(self) -> int: ...
    @property
    def bInterfaceNumber(self) -> int: ...
    @property
    def driver_info(self) -> object: ...


class HidIdFields(Protocol):
    """The fields of `struct hid_device_id` this module reads (`HidDeviceId` has them)."""

    @property
    def bus(self) -> int: ...
    @property
    def group(self) -> int: ...
    @property
    def vendor(self) -> int: ...
    @property
    def product(self) -> int: ...


DeviceTable: TypeAlias = Sequence[UsbIdFields] | Sequence[HidIdFields]
"""A MODULE_DEVICE_TABLE: usb or hid ids."""

# HID_BUS_ANY, HID_GROUP_ANY, HID_ANY_ID (mod_devicetable.h).
_HID_BUS_ANY: Final = 0xFFFF
_HID_GROUP_ANY: Final = 0x0000
_HID_ANY_ID: Final = 0xFFFFFFFF

# USB_DEVICE_ID_MATCH_* bits used here (mod_devicetable.h; same values as
# usbemu.core.devtable.MatchFlag, which the tests check).
_MATCH_VENDOR: Final = 0x0001
_MATCH_PRODUCT: Final = 0x0002
_MATCH_DEV_LO: Final = 0x0004
_MATCH_DEV_HI: Final = 0x0008
_MATCH_DEV_CLASS: Final = 0x0010
_MATCH_DEV_SUBCLASS: Final = 0x0020
_MATCH_DEV_PROTOCOL: Final = 0x0040
_MATCH_INT_CLASS: Final = 0x0080
_MATCH_INT_SUBCLASS: Final = 0x0100
_MATCH_INT_PROTOCOL: Final = 0x0200
_MATCH_INT_NUMBER: Final = 0x0400

# The ADD() calls of do_usb_entry: (prefix, flag, field, hex digits), before and after the
# bcdDevice part.
_HEAD_FIELDS: Final = (
    ("v", _MATCH_VENDOR, "idVendor", 4),
    ("p", _MATCH_PRODUCT, "idProduct", 4),
)
_TAIL_FIELDS: Final = (
    ("dc", _MATCH_DEV_CLASS, "bDeviceClass", 2),
    ("dsc", _MATCH_DEV_SUBCLASS, "bDeviceSubClass", 2),
    ("dp", _MATCH_DEV_PROTOCOL, "bDeviceProtocol", 2),
    ("ic", _MATCH_INT_CLASS, "bInterfaceClass", 2),
    ("isc", _MATCH_INT_SUBCLASS, "bInterfaceSubClass", 2),
    ("ip", _MATCH_INT_PROTOCOL, "bInterfaceProtocol", 2),
    ("in", _MATCH_INT_NUMBER, "bInterfaceNumber", 2),
)

_BCD_DIGITS: Final = 4        # sizeof(bcdDevice_lo) * 2
_U32: Final = 0xFFFFFFFF      # unsigned int
_U64: Final = (1 << 64) - 1   # unsigned long long


def interface_modalias(dev: DeviceDescriptor, alt: InterfaceDescriptor) -> str:
    """The modalias of an interface whose current altsetting is `alt` (sysfs `modalias`
    without its newline, uevent `MODALIAS=`):
    `usb:v%04Xp%04Xd%04Xdc%02Xdsc%02Xdp%02Xic%02Xisc%02Xip%02Xin%02X`.  An unresolved
    bInterfaceNumber (None) is written as 00.  Context: pure, never blocks."""
    return (f"usb:v{dev.idVendor:04X}p{dev.idProduct:04X}d{dev.bcdDevice:04X}"
            f"dc{dev.bDeviceClass:02X}dsc{dev.bDeviceSubClass:02X}dp{dev.bDeviceProtocol:02X}"
            f"ic{alt.bInterfaceClass:02X}isc{alt.bInterfaceSubClass:02X}"
            f"ip{alt.bInterfaceProtocol:02X}in{alt.bInterfaceNumber or 0:02X}")


def _add(parts: list[str], id: UsbIdFields,
         fields: tuple[tuple[str, int, str, int], ...]) -> None:
    """file2alias's ADD(): prefix, then the value in fixed-width uppercase hex or `*`."""
    for prefix, flag, name, width in fields:
        parts.append(prefix)
        parts.append(f"{getattr(id, name):0{width}X}" if id.match_flags & flag else "*")


def _do_usb_entry(id: UsbIdFields, initial: int, initial_digits: int, range_lo: int,
                  range_hi: int, max_digit: int) -> str:
    """do_usb_entry(): one alias whose bcdDevice part is `initial` (as `initial_digits` hex
    digits) followed by the digit class range_lo..range_hi."""
    parts = ["usb:"]
    _add(parts, id, _HEAD_FIELDS)
    parts.append("d")
    if initial_digits:
        parts.append(f"{initial:0{initial_digits}X}")
    if range_lo == range_hi:
        parts.append(f"{range_lo:X}")
    elif range_lo > 0 or range_hi < max_digit:
        if range_lo > 0x9 or range_hi < 0xA:
            parts.append(f"[{range_lo:X}-{range_hi:X}]")
        else:
            parts.append(f"[{range_lo:X}-9" if range_lo < 0x9 else f"[{range_lo:X}")
            parts.append(f"A-{range_hi:X}]" if range_hi > 0xA else f"{range_hi:X}]")
    if initial_digits < _BCD_DIGITS - 1:
        parts.append("*")
    _add(parts, id, _TAIL_FIELDS)
    alias = "".join(parts)
    return alias if alias.endswith("*") else alias + "*"   # add_wildcard()


def _incbcd(value: int, inc: int, max_digit: int, chars: int) -> int:
    """incbcd() without the pointer: the value after adding `inc`, in BCD when
    max_digit is 9 (digits above 9 are forced to 9 first; `chars` digits kept)."""
    if max_digit > 0x9:
        return (value + inc) & _U32
    dec = 0
    for i in range(chars):
        dec += min((value >> (i << 2)) & 0xF, 9) * 10 ** i
    dec = (dec + inc) & _U64
    bcd = 0
    for i in range(chars):
        bcd += ((dec // 10 ** i) % 10) << (i << 2)
    return bcd & _U32


def usb_aliases(id: UsbIdFields) -> list[str]:
    """The MODULE_ALIAS patterns file2alias generates for one id-table entry
    (do_usb_entry_multi), in its order.

    Fields without their match flag become `*`; a bcdDevice range (DEV_LO without DEV_HI
    means up to 0xffffffff, DEV_HI without DEV_LO means from 0) is expanded into prefix +
    `[x-y]` patterns, in BCD digits unless lo or min(hi, 0x9999) has a digit above 9, in
    which case hex digits.  Returns [] for an entry whose idVendor, idProduct, bDeviceClass
    and bInterfaceClass are all zero (catch-all) and for an empty range
    (lo > hi).  Context: pure, never blocks."""
    flags = id.match_flags
    devlo = id.bcdDevice_lo if flags & _MATCH_DEV_LO else 0
    devhi = id.bcdDevice_hi if flags & _MATCH_DEV_HI else _U32

    # Figure out if this entry is in bcd or hex format.
    max_digit = 0x9
    clamped = min(devhi, 0x9999)
    for ndigits in range(_BCD_DIGITS):
        shift = ndigits << 2
        if (devlo >> shift) & 0xF > max_digit or (clamped >> shift) & 0xF > max_digit:
            max_digit = 0xF
            break

    if not (id.idVendor | id.idProduct | id.bDeviceClass | id.bInterfaceClass):
        return []

    aliases: list[str] = []
    ndigits = _BCD_DIGITS - 1
    while devlo <= devhi:
        clo = devlo & 0xF
        chi = min(devhi & 0xF, max_digit)   # in bcd mode, truncate if necessary
        devlo >>= 4
        devhi >>= 4
        if devlo == devhi or not ndigits:
            aliases.append(_do_usb_entry(id, devlo, ndigits, clo, chi, max_digit))
            break
        if clo > 0x0:
            aliases.append(_do_usb_entry(id, devlo, ndigits, clo, max_digit, max_digit))
            devlo = _incbcd(devlo, 1, max_digit, _BCD_DIGITS)
        if chi < max_digit:
            aliases.append(_do_usb_entry(id, devhi, ndigits, 0x0, chi, max_digit))
            devhi = _incbcd(devhi, -1, max_digit, _BCD_DIGITS)
        ndigits -= 1
    return aliases


def _is_terminator(id: UsbIdFields) -> bool:
    """usb_match_id's end-of-table test (same rule as usbemu.core.devtable.is_terminator)."""
    info = id.driver_info
    info_nonzero = info is not None and (not isinstance(info, int) or info != 0)
    return not (id.idVendor or id.idProduct or id.bDeviceClass or id.bInterfaceClass
                or info_nonzero)


def modules_alias_lines(module: str, table: Sequence[UsbIdFields]) -> list[str]:
    """`modules.alias` lines (`alias <pattern> <module>`, no newline) for a driver's id
    table: `usb_aliases` of every entry before the first terminator (all entries when the
    table has none), in table order.  `module` is written as given (depmod writes the
    normalized name, with `_` for `-`).  Context: pure, never blocks."""
    lines: list[str] = []
    for id in table:
        if _is_terminator(id):
            break
        lines.extend(f"alias {pattern} {module}" for pattern in usb_aliases(id))
    return lines


def hid_alias(id: HidIdFields) -> str:
    """do_hid_entry(): `hid:b%04Xg%04Xv%08Xp%08X`, each field `*` when it is the
    wildcard (HID_BUS_ANY, HID_GROUP_ANY, HID_ANY_ID); no wildcard is added at the end.
    Context: pure, never blocks."""
    parts = ["hid:"]
    for prefix, value, anything, width in (("b", id.bus, _HID_BUS_ANY, 4),
                                           ("g", id.group, _HID_GROUP_ANY, 4),
                                           ("v", id.vendor, _HID_ANY_ID, 8),
                                           ("p", id.product, _HID_ANY_ID, 8)):
        parts.append(prefix)
        parts.append("*" if value == anything else f"{value:0{width}X}")
    return "".join(parts)


def device_table_aliases(bus: str, table: DeviceTable) -> list[str]:
    """The alias patterns of a MODULE_DEVICE_TABLE(`bus`, table), in table order, up to
    its terminator (usb: `modules_alias_lines`' rule; hid: an entry with bus 0).  Raises
    ValueError for a bus other than usb and hid.  Context: pure, never blocks."""
    if bus == "usb":
        return [line.split(" ", 2)[1]
                for line in modules_alias_lines("-", cast(Sequence[UsbIdFields], table))]
    if bus == "hid":
        aliases: list[str] = []
        for id in cast(Sequence[HidIdFields], table):
            if not id.bus:
                break
            aliases.append(hid_alias(id))
        return aliases
    raise ValueError(f"device table of bus {bus!r}: only usb and hid tables have aliases")


def usbmap_header() -> str:
    """The header line of `modules.usbmap` (module-init-tools output_usb_table), with its
    newline.  Context: pure, never blocks."""
    return ("# usb module         match_flags idVendor idProduct bcdDevice_lo bcdDevice_hi"
            " bDeviceClass bDeviceSubClass bDeviceProtocol bInterfaceClass bInterfaceSubClass"
            " bInterfaceProtocol driver_info\n")


def usbmap_line(module: str, id: UsbIdFields) -> str:
    """One `modules.usbmap` line with its newline (output_usb_entry's printf): module name
    left-justified in 20 columns, then the fields in hex; driver_info is always written as
    0x0 and bInterfaceNumber is not written.  Context: pure, never blocks."""
    return (f"{module:<20} 0x{int(id.match_flags):04x}      0x{id.idVendor:04x}"
            f"   0x{id.idProduct:04x}    0x{id.bcdDevice_lo:04x}"
            f"       0x{id.bcdDevice_hi:04x}       0x{id.bDeviceClass:02x}"
            f"         0x{id.bDeviceSubClass:02x}            0x{id.bDeviceProtocol:02x}"
            f"            0x{id.bInterfaceClass:02x}            0x{id.bInterfaceSubClass:02x}"
            f"               0x{id.bInterfaceProtocol:02x}               0x0\n")


def alias_matches(pattern: str, modalias: str) -> bool:
    """True when the alias `pattern` matches `modalias` the way modprobe compares them
    (fnmatch, case-sensitive: `fnmatch.fnmatchcase`).  Context: pure, never blocks."""
    return fnmatch.fnmatchcase(modalias, pattern)
