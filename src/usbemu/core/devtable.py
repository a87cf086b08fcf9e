"""USB device-id tables and matching — counterpart of struct usb_device_id (include/linux/mod_devicetable.h), the USB_DEVICE* macros (include/linux/usb.h) and the matching half of drivers/usb/core/driver.c.

A driver declares which devices it handles with a table of `UsbDeviceId` entries built with
the same constructors as the kernel's table macros (`usb_device(v, p)` is `USB_DEVICE(v, p)`,
and so on).  This module answers the pure questions about such tables, with Linux's exact
rules: is this entry the terminator, does this entry match this device descriptor and this
interface's current altsetting (`usb_match_device`, `usb_match_one_id_intf` with its
vendor-specific-class rule, `usb_match_one_id`), which entry of a table matches first
(`usb_match_id`, `usb_device_match_id`), and what a write to a driver's sysfs `new_id` /
`remove_id` file means and what a read shows.  It does not bind anything: walking the bus's
driver list, calling probe, keeping a driver's list of dynamic ids and running
`driver_attach` after `new_id` live in the driver-binding code, which calls in here.
Everything here is pure — no I/O, no host objects, no locks — and never blocks.
"""  # noqa: E501 — the first line is the kernel-file counterpart, kept whole

from __future__ import annotations

import errno
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntFlag
from typing import Final

from usbemu.spec.ch9 import ClassCode
from usbemu.spec.descriptors import DeviceDescriptor, InterfaceDescriptor

__all__ = [
    "DynIdError",
    "MatchFlag",
    "UsbDeviceId",
    "device_match_id",
    "format_dynid",
    "is_terminator",
    "match_device",
    "match_dynamic_id",
    "match_id",
    "match_one_id",
    "match_one_id_intf",
    "parse_new_id",
    "parse_remove_id",
    "show_dynids",
    "usb_device",
    "usb_device_and_interface_info",
    "usb_device_info",
    "usb_device_interface_class",
    "usb_device_interface_number",
    "usb_device_interface_protocol",
    "usb_device_ver",
    "usb_interface_info",
    "usb_vendor_and_interface_info",
]


class MatchFlag(IntFlag):
    """`USB_DEVICE_ID_MATCH_*`: which fields of a `UsbDeviceId` are compared."""

    VENDOR = 0x0001
    PRODUCT = 0x0002
    DEV_LO = 0x0004
    DEV_HI = 0x0008
    DEV_CLASS = 0x0010
    DEV_SUBCLASS = 0x0020
    DEV_PROTOCOL = 0x0040
    INT_CLASS = 0x0080
    INT_SUBCLASS = 0x0100
    INT_PROTOCOL = 0x0200
    INT_NUMBER = 0x0400

    # composites from include/linux/usb.h
    DEVICE = VENDOR | PRODUCT
    DEV_RANGE = DEV_LO | DEV_HI
    DEVICE_AND_VERSION = DEVICE | DEV_RANGE
    DEV_INFO = DEV_CLASS | DEV_SUBCLASS | DEV_PROTOCOL
    INT_INFO = INT_CLASS | INT_SUBCLASS | INT_PROTOCOL


_INTERFACE_FLAGS: Final = (MatchFlag.INT_CLASS | MatchFlag.INT_SUBCLASS
                           | MatchFlag.INT_PROTOCOL | MatchFlag.INT_NUMBER)

# (field, largest value) in struct usb_device_id memory order; driver_info is not checked.
_FIELD_LIMITS: Final[tuple[tuple[str, int], ...]] = (
    ("match_flags", 0xFFFF),
    ("idVendor", 0xFFFF),
    ("idProduct", 0xFFFF),
    ("bcdDevice_lo", 0xFFFF),
    ("bcdDevice_hi", 0xFFFF),
    ("bDeviceClass", 0xFF),
    ("bDeviceSubClass", 0xFF),
    ("bDeviceProtocol", 0xFF),
    ("bInterfaceClass", 0xFF),
    ("bInterfaceSubClass", 0xFF),
    ("bInterfaceProtocol", 0xFF),
    ("bInterfaceNumber", 0xFF),
)


@dataclass(frozen=True, slots=True)
class UsbDeviceId:
    """One entry of a driver's id table (`struct usb_device_id`), fields in memory order.

    `match_flags` says which fields are compared; the others are ignored by matching.
    `driver_info` is never compared: it is handed to the driver's probe.  It may be any
    object; for the terminator test it counts as zero only when it is None or an int equal to
    0 (a NULL pointer / a zero `kernel_ulong_t`) — any other object is a non-NULL pointer.
    `UsbDeviceId()` is the all-zero terminator; `UsbDeviceId(driver_info=x)` is the
    driver_info-only catch-all that matches every interface.

    Raises ValueError naming the field when a value does not fit its C type (u16 or u8), and
    TypeError when a numeric field is not an int.  `match_flags` is stored as a `MatchFlag`.
    """

    match_flags: int = 0
    idVendor: int = 0
    idProduct: int = 0
    bcdDevice_lo: int = 0
    bcdDevice_hi: int = 0
    bDeviceClass: int = 0
    bDeviceSubClass: int = 0
    bDeviceProtocol: int = 0
    bInterfaceClass: int = 0
    bInterfaceSubClass: int = 0
    bInterfaceProtocol: int = 0
    bInterfaceNumber: int = 0
    driver_info: object = 0

    def __post_init__(self) -> None:
        for name, limit in _FIELD_LIMITS:
            value = getattr(self, name)
            if not isinstance(value, int):
                raise TypeError(f"UsbDeviceId.{name} must be an int, got {value!r}")
            if not 0 <= value <= limit:
                raise ValueError(f"UsbDeviceId.{name}={value!r} is outside 0..{limit:#x}")
        if type(self.match_flags) is not MatchFlag:
            object.__setattr__(self, "match_flags", MatchFlag(self.match_flags))


# -- the table macros of include/linux/usb.h ------------------------------------------------


def usb_device(vendor: int, product: int, *, driver_info: object = 0) -> UsbDeviceId:
    """`USB_DEVICE(vend, prod)`: a specific product.  Returns the entry; raises ValueError for
    out-of-range values.  Context: atomic; pure, never blocks."""
    return UsbDeviceId(MatchFlag.DEVICE, idVendor=vendor, idProduct=product,
                       driver_info=driver_info)


def usb_device_ver(vendor: int, product: int, lo: int, hi: int, *,
                   driver_info: object = 0) -> UsbDeviceId:
    """`USB_DEVICE_VER(vend, prod, lo, hi)`: a product whose bcdDevice is in lo..hi
    (inclusive).  Returns the entry; raises ValueError for out-of-range values.
    Context: atomic; pure, never blocks."""
    return UsbDeviceId(MatchFlag.DEVICE_AND_VERSION, idVendor=vendor, idProduct=product,
                       bcdDevice_lo=lo, bcdDevice_hi=hi, driver_info=driver_info)


def usb_device_interface_class(vendor: int, product: int, cl: int, *,
                               driver_info: object = 0) -> UsbDeviceId:
    """`USB_DEVICE_INTERFACE_CLASS(vend, prod, cl)`: the interfaces of one class on a product.
    Returns the entry; raises ValueError for out-of-range values.
    Context: atomic; pure, never blocks."""
    return UsbDeviceId(MatchFlag.DEVICE | MatchFlag.INT_CLASS, idVendor=vendor,
                       idProduct=product, bInterfaceClass=cl, driver_info=driver_info)


def usb_device_interface_protocol(vendor: int, product: int, pr: int, *,
                                  driver_info: object = 0) -> UsbDeviceId:
    """`USB_DEVICE_INTERFACE_PROTOCOL(vend, prod, pr)`: the interfaces with one protocol on a
    product.  Returns the entry; raises ValueError for out-of-range values.
    Context: atomic; pure, never blocks."""
    return UsbDeviceId(MatchFlag.DEVICE | MatchFlag.INT_PROTOCOL, idVendor=vendor,
                       idProduct=product, bInterfaceProtocol=pr, driver_info=driver_info)


def usb_device_interface_number(vendor: int, product: int, num: int, *,
                                driver_info: object = 0) -> UsbDeviceId:
    """`USB_DEVICE_INTERFACE_NUMBER(vend, prod, num)`: one interface number of a product.
    Returns the entry; raises ValueError for out-of-range values.
    Context: atomic; pure, never blocks."""
    return UsbDeviceId(MatchFlag.DEVICE | MatchFlag.INT_NUMBER, idVendor=vendor,
                       idProduct=product, bInterfaceNumber=num, driver_info=driver_info)


def usb_device_info(cl: int, sc: int, pr: int, *, driver_info: object = 0) -> UsbDeviceId:
    """`USB_DEVICE_INFO(cl, sc, pr)`: a device class triple (device descriptor).  Note that
    `usb_device_info(0, 0, 0)` is a terminator.  Returns the entry; raises ValueError for
    out-of-range values.  Context: atomic; pure, never blocks."""
    return UsbDeviceId(MatchFlag.DEV_INFO, bDeviceClass=cl, bDeviceSubClass=sc,
                       bDeviceProtocol=pr, driver_info=driver_info)


def usb_interface_info(cl: int, sc: int, pr: int, *, driver_info: object = 0) -> UsbDeviceId:
    """`USB_INTERFACE_INFO(cl, sc, pr)`: an interface class triple (current altsetting).
    Returns the entry; raises ValueError for out-of-range values.
    Context: atomic; pure, never blocks."""
    return UsbDeviceId(MatchFlag.INT_INFO, bInterfaceClass=cl, bInterfaceSubClass=sc,
                       bInterfaceProtocol=pr, driver_info=driver_info)


def usb_device_and_interface_info(vendor: int, product: int, cl: int, sc: int, pr: int, *,
                                  driver_info: object = 0) -> UsbDeviceId:
    """`USB_DEVICE_AND_INTERFACE_INFO(vend, prod, cl, sc, pr)`: an interface class triple on
    a product.  Returns the entry; raises ValueError for out-of-range values.
    Context: atomic; pure, never blocks."""
    return UsbDeviceId(MatchFlag.INT_INFO | MatchFlag.DEVICE, idVendor=vendor,
                       idProduct=product, bInterfaceClass=cl, bInterfaceSubClass=sc,
                       bInterfaceProtocol=pr, driver_info=driver_info)


def usb_vendor_and_interface_info(vendor: int, cl: int, sc: int, pr: int, *,
                                  driver_info: object = 0) -> UsbDeviceId:
    """`USB_VENDOR_AND_INTERFACE_INFO(vend, cl, sc, pr)`: an interface class triple on any
    product of a vendor.  Returns the entry; raises ValueError for out-of-range values.
    Context: atomic; pure, never blocks."""
    return UsbDeviceId(MatchFlag.INT_INFO | MatchFlag.VENDOR, idVendor=vendor,
                       bInterfaceClass=cl, bInterfaceSubClass=sc, bInterfaceProtocol=pr,
                       driver_info=driver_info)


# -- matching (drivers/usb/core/driver.c) ---------------------------------------------------


def _nonzero(driver_info: object) -> bool:
    """driver_info as C sees it: zero only for None (NULL) or an int 0."""
    if driver_info is None:
        return False
    if isinstance(driver_info, int):
        return driver_info != 0
    return True


def is_terminator(id: UsbDeviceId) -> bool:
    """True when `usb_match_id` stops at this entry: idVendor, idProduct, bDeviceClass,
    bInterfaceClass and driver_info are all zero, whatever the other fields and flags say
    (so `usb_device_info(0, 0, 0)` terminates, `UsbDeviceId(driver_info=1)` does not).
    Context: atomic; pure, never blocks."""
    return not (id.idVendor or id.idProduct or id.bDeviceClass or id.bInterfaceClass
                or _nonzero(id.driver_info))


_Fails = Callable[[int, int], bool]

# (flag, id field, descriptor field, "entry value vs descriptor value" test that means
# *no match*) — usb_match_device() one `if` per row.
_DEVICE_TESTS: Final[tuple[tuple[int, Callable[[UsbDeviceId], int],
                                 Callable[[DeviceDescriptor], int], _Fails], ...]] = (
    (MatchFlag.VENDOR.value, operator.attrgetter("idVendor"), operator.attrgetter("idVendor"),
     operator.ne),
    (MatchFlag.PRODUCT.value, operator.attrgetter("idProduct"), operator.attrgetter("idProduct"),
     operator.ne),
    # No need to test bcdDevice_lo != 0: 0 is never greater than an unsigned number.
    (MatchFlag.DEV_LO.value, operator.attrgetter("bcdDevice_lo"), operator.attrgetter("bcdDevice"),
     operator.gt),
    (MatchFlag.DEV_HI.value, operator.attrgetter("bcdDevice_hi"), operator.attrgetter("bcdDevice"),
     operator.lt),
    (MatchFlag.DEV_CLASS.value, operator.attrgetter("bDeviceClass"),
     operator.attrgetter("bDeviceClass"), operator.ne),
    (MatchFlag.DEV_SUBCLASS.value, operator.attrgetter("bDeviceSubClass"),
     operator.attrgetter("bDeviceSubClass"), operator.ne),
    (MatchFlag.DEV_PROTOCOL.value, operator.attrgetter("bDeviceProtocol"),
     operator.attrgetter("bDeviceProtocol"), operator.ne),
)


def _interface_number(alt: InterfaceDescriptor) -> int:
    # An unresolved tree leaves bInterfaceNumber None; the descriptor encodes that as 0.
    return alt.bInterfaceNumber or 0


# usb_match_one_id_intf(): (flag, id field, altsetting field); a difference means no match.
_INTERFACE_TESTS: Final[tuple[tuple[int, Callable[[UsbDeviceId], int],
                                    Callable[[InterfaceDescriptor], int]], ...]] = (
    (MatchFlag.INT_CLASS.value, operator.attrgetter("bInterfaceClass"),
     operator.attrgetter("bInterfaceClass")),
    (MatchFlag.INT_SUBCLASS.value, operator.attrgetter("bInterfaceSubClass"),
     operator.attrgetter("bInterfaceSubClass")),
    (MatchFlag.INT_PROTOCOL.value, operator.attrgetter("bInterfaceProtocol"),
     operator.attrgetter("bInterfaceProtocol")),
    (MatchFlag.INT_NUMBER.value, operator.attrgetter("bInterfaceNumber"), _interface_number),
)


def match_device(dev: DeviceDescriptor, id: UsbDeviceId) -> bool:
    """`usb_match_device`: True when every device-level field selected by `id.match_flags`
    (vendor, product, bcdDevice range — inclusive, plain unsigned comparison of the BCD word —
    and the device class triple) agrees with the device descriptor.  Interface flags are
    ignored here.  Context: atomic; pure, never blocks."""
    flags = int(id.match_flags)    # plain ints: IntFlag's & builds a member each time
    for flag, id_value, dev_value, fails in _DEVICE_TESTS:
        if flags & flag and fails(id_value(id), dev_value(dev)):
            return False
    return True


def match_one_id_intf(dev: DeviceDescriptor, alt: InterfaceDescriptor,
                      id: UsbDeviceId) -> bool:
    """`usb_match_one_id_intf`: True when the interface fields selected by `id.match_flags`
    agree with `alt`, the interface's current altsetting (`alt.bInterfaceNumber` is the
    interface number; None counts as 0).

    Vendor-specific rule: when the device's bDeviceClass is 0xff and the entry has any
    INT_* flag but not MATCH_VENDOR, the result is False whatever the interface says.
    Device-level fields are not compared here.  Context: atomic; pure, never blocks."""
    flags = int(id.match_flags)
    if (dev.bDeviceClass == ClassCode.VENDOR_SPEC and not flags & MatchFlag.VENDOR.value
            and flags & _INTERFACE_FLAGS.value):
        return False
    for flag, id_value, alt_value in _INTERFACE_TESTS:
        if flags & flag and id_value(id) != alt_value(alt):
            return False
    return True


def match_one_id(dev: DeviceDescriptor, alt: InterfaceDescriptor,
                 id: UsbDeviceId | None) -> bool:
    """`usb_match_one_id`: True when `id` matches both the device (`match_device`) and the
    interface's current altsetting `alt` (`match_one_id_intf`); False for a None id.
    Context: atomic; pure, never blocks."""
    if id is None:
        return False
    return match_device(dev, id) and match_one_id_intf(dev, alt, id)


def match_id(dev: DeviceDescriptor, alt: InterfaceDescriptor,
             table: Sequence[UsbDeviceId] | None) -> UsbDeviceId | None:
    """`usb_match_id`: the first entry of `table` that matches the interface whose current
    altsetting is `alt` on device `dev`, walking until the first terminator (`is_terminator`)
    or the end of the sequence.  Returns that entry object, or None (also for a None table).
    Context: atomic; pure, never blocks."""
    if table is None:
        return None
    for id in table:
        if is_terminator(id):
            break
        if match_one_id(dev, alt, id):
            return id
    return None


def match_dynamic_id(dev: DeviceDescriptor, alt: InterfaceDescriptor,
                     dynids: Iterable[UsbDeviceId]) -> UsbDeviceId | None:
    """`usb_match_dynamic_id`: the first id of a driver's dynamic-id list (as added through
    `new_id`, in order) matching the interface; the list has no terminator, every id is
    tried.  Returns that id or None.  Context: atomic; pure, never blocks."""
    for id in dynids:
        if match_one_id(dev, alt, id):
            return id
    return None


def device_match_id(dev: DeviceDescriptor,
                    table: Sequence[UsbDeviceId] | None) -> UsbDeviceId | None:
    """`usb_device_match_id` (whole-device drivers): the first entry that `match_device`
    accepts, walking while idVendor or idProduct is non-zero — so an entry without vendor and
    product (e.g. `usb_device_info(9, 0, 0)`) ends the walk.  Interface flags are ignored.
    Returns that entry or None (also for a None table).  Context: atomic; pure, never blocks."""
    if table is None:
        return None
    for id in table:
        if not (id.idVendor or id.idProduct):
            break
        if match_device(dev, id):
            return id
    return None


# -- sysfs new_id / remove_id ---------------------------------------------------------------


class DynIdError(OSError):
    """A write to `new_id` / `remove_id` that the kernel refuses; `errno` is EINVAL or
    ENODEV (the sysfs write returns its negative)."""


_PAGE_SIZE: Final = 4096
_U32: Final = 0xFFFFFFFF
_U64: Final = (1 << 64) - 1
_C_SPACE: Final = frozenset(" \t\n\v\f\r")
_HEX_DIGITS: Final = {c: int(c, 16) for c in "0123456789abcdefABCDEF"}


def _scan_hex(text: str, count: int) -> list[int]:
    """The kernel's `vsscanf(text, "%x %x …")` with `count` conversions: the values read
    (as unsigned int, i.e. truncated to 32 bits) up to the first conversion that fails."""
    values: list[int] = []
    pos, end = 0, len(text)
    while len(values) < count:
        while pos < end and text[pos] in _C_SPACE:   # format space / %x skip white space
            pos += 1
        if pos >= end or text[pos] not in _HEX_DIGITS:
            break
        if text[pos] == "0" and pos + 1 < end and text[pos + 1] in "xX":
            pos += 2                                  # _parse_integer_fixup_radix
        value = 0
        while pos < end and text[pos] in _HEX_DIGITS:
            value = (value * 16 + _HEX_DIGITS[text[pos]]) & _U64
            pos += 1
        values.append(value & _U32)
    return values


def parse_new_id(text: str, static_table: Sequence[UsbDeviceId] | None) -> UsbDeviceId:
    """What a write of `text` to a driver's sysfs `new_id` adds (`usb_store_new_id`).

    `text` is `idVendor idProduct [bInterfaceClass [refVendor refProduct]]` in hex as the
    kernel's sscanf("%x %x %x %x %x") reads it (optional 0x, any white space, 32-bit values;
    vendor and product are then truncated to 16 bits as the u16 fields are).  Returns the
    dynamic id: MATCH_DEVICE, plus INT_CLASS when a non-zero class is given; with all five
    fields the `driver_info` of the first `static_table` entry whose idVendor/idProduct equal
    refVendor/refProduct (searched until an entry with match_flags 0) is copied.

    Raises DynIdError(EINVAL) for fewer than two fields or a class above 0xff, and
    DynIdError(ENODEV) when five fields are given and there is no table or no such entry.
    The caller adds the id to the driver's list and runs driver_attach.
    Context: atomic; pure, never blocks."""
    fields = _scan_hex(text, 5)
    if len(fields) < 2:
        raise DynIdError(errno.EINVAL, f"new_id needs 'idVendor idProduct' in hex, got {text!r}")
    flags = MatchFlag.DEVICE
    iclass = 0
    if len(fields) > 2 and fields[2]:
        if fields[2] > 0xFF:
            raise DynIdError(errno.EINVAL,
                             f"new_id bInterfaceClass {fields[2]:#x} does not fit in a byte")
        iclass = fields[2]
        flags |= MatchFlag.INT_CLASS
    driver_info: object = 0
    if len(fields) > 4:
        ref_vendor, ref_product = fields[3], fields[4]
        ref = None
        for entry in static_table or ():
            if not entry.match_flags:
                break
            if entry.idVendor == ref_vendor and entry.idProduct == ref_product:
                ref = entry
                break
        if ref is None:
            raise DynIdError(errno.ENODEV,
                             f"new_id reference {ref_vendor:04x}:{ref_product:04x} is not in "
                             "the driver's id table")
        driver_info = ref.driver_info
    return UsbDeviceId(flags, idVendor=fields[0] & 0xFFFF, idProduct=fields[1] & 0xFFFF,
                       bInterfaceClass=iclass, driver_info=driver_info)


def parse_remove_id(text: str) -> tuple[int, int]:
    """What a write of `text` to `remove_id` asks for: (idVendor, idProduct) as read by
    sscanf("%x %x"), 32-bit values not truncated (the kernel compares them with the u16
    fields, so a value above 0xffff never matches).  The caller deletes the first dynamic id
    with that vendor/product; nothing matching is not an error.
    Raises DynIdError(EINVAL) for fewer than two fields.  Context: atomic; pure, never blocks."""
    fields = _scan_hex(text, 2)
    if len(fields) < 2:
        raise DynIdError(errno.EINVAL,
                         f"remove_id needs 'idVendor idProduct' in hex, got {text!r}")
    return fields[0], fields[1]


def format_dynid(id: UsbDeviceId) -> str:
    """One line of a `new_id` / `remove_id` read: `"%04x %04x\\n"`, or `"%04x %04x %02x\\n"`
    when the id has a non-zero bInterfaceClass.  Context: atomic; pure, never blocks."""
    if id.bInterfaceClass:
        return f"{id.idVendor:04x} {id.idProduct:04x} {id.bInterfaceClass:02x}\n"
    return f"{id.idVendor:04x} {id.idProduct:04x}\n"


def show_dynids(dynids: Iterable[UsbDeviceId]) -> str:
    """The whole `new_id` / `remove_id` read (`usb_show_dynids`): `format_dynid` of every
    dynamic id in list order, cut to one page (4095 characters, as scnprintf into a
    PAGE_SIZE buffer leaves it).  Context: atomic; pure, never blocks."""
    out: list[str] = []
    size = 0
    for id in dynids:
        line = format_dynid(id)[: _PAGE_SIZE - 1 - size]
        out.append(line)
        size += len(line)
        if size >= _PAGE_SIZE - 1:
            break
    return "".join(out)
