"""Tests for usbemu.core.devtable: id entries, table macros, matching, new_id/remove_id."""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usbemu.core.devtable import (
    DynIdError,
    MatchFlag,
    UsbDeviceId,
    device_match_id,
    format_dynid,
    is_terminator,
    match_device,
    match_dynamic_id,
    match_id,
    match_one_id,
    match_one_id_intf,
    parse_new_id,
    parse_remove_id,
    show_dynids,
    usb_device,
    usb_device_and_interface_info,
    usb_device_info,
    usb_device_interface_class,
    usb_device_interface_number,
    usb_device_interface_protocol,
    usb_device_ver,
    usb_interface_info,
    usb_vendor_and_interface_info,
)
from usbemu.spec.descriptors import DeviceDescriptor, InterfaceDescriptor

# -- struct usb_device_id and the flags ------------------------------------------------------

FLAG_VALUES = [
    ("VENDOR", 0x0001), ("PRODUCT", 0x0002), ("DEV_LO", 0x0004), ("DEV_HI", 0x0008),
    ("DEV_CLASS", 0x0010), ("DEV_SUBCLASS", 0x0020), ("DEV_PROTOCOL", 0x0040),
    ("INT_CLASS", 0x0080), ("INT_SUBCLASS", 0x0100), ("INT_PROTOCOL", 0x0200),
    ("INT_NUMBER", 0x0400),
    ("DEVICE", 0x0003), ("DEV_RANGE", 0x000C), ("DEVICE_AND_VERSION", 0x000F),
    ("DEV_INFO", 0x0070), ("INT_INFO", 0x0380),
]


@pytest.mark.parametrize(("name", "value"), FLAG_VALUES)
def test_match_flag_values(name: str, value: int) -> None:
    assert MatchFlag[name] == value


def test_field_order_is_linux_memory_order() -> None:
    assert [f.name for f in dataclasses.fields(UsbDeviceId)] == [
        "match_flags", "idVendor", "idProduct", "bcdDevice_lo", "bcdDevice_hi",
        "bDeviceClass", "bDeviceSubClass", "bDeviceProtocol", "bInterfaceClass",
        "bInterfaceSubClass", "bInterfaceProtocol", "bInterfaceNumber", "driver_info"]


def test_defaults_are_zero_and_flags_become_matchflag() -> None:
    entry = UsbDeviceId()
    assert dataclasses.astuple(entry) == (0,) * 13
    assert type(UsbDeviceId(3).match_flags) is MatchFlag
    assert UsbDeviceId(3).match_flags == MatchFlag.DEVICE
    assert UsbDeviceId(0x8000).match_flags == 0x8000   # unknown bits are kept, as in a u16


FIELD_LIMITS = [
    ("match_flags", 0xFFFF), ("idVendor", 0xFFFF), ("idProduct", 0xFFFF),
    ("bcdDevice_lo", 0xFFFF), ("bcdDevice_hi", 0xFFFF), ("bDeviceClass", 0xFF),
    ("bDeviceSubClass", 0xFF), ("bDeviceProtocol", 0xFF), ("bInterfaceClass", 0xFF),
    ("bInterfaceSubClass", 0xFF), ("bInterfaceProtocol", 0xFF), ("bInterfaceNumber", 0xFF),
]


@pytest.mark.parametrize(("name", "limit"), FIELD_LIMITS)
def test_field_ranges(name: str, limit: int) -> None:
    assert getattr(UsbDeviceId(**{name: limit}), name) == limit
    for bad in (limit + 1, -1):
        with pytest.raises(ValueError, match=name):
            UsbDeviceId(**{name: bad})
    not_an_int: Any = "1"
    with pytest.raises(TypeError, match=name):
        UsbDeviceId(**{name: not_an_int})


def test_driver_info_is_any_object_and_frozen() -> None:
    info = {"quirks": 3}
    entry = UsbDeviceId(driver_info=info)
    assert entry.driver_info is info
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.idVendor = 1  # type: ignore[misc]


# -- the table macros --------------------------------------------------------------------------

MACROS: list[tuple[str, Callable[..., UsbDeviceId], tuple[int, ...], int, dict[str, int]]] = [
    ("USB_DEVICE", usb_device, (0x0403, 0x6001), 0x0003,
     {"idVendor": 0x0403, "idProduct": 0x6001}),
    ("USB_DEVICE_VER", usb_device_ver, (0x054C, 0x0010, 0x0410, 0x0420), 0x000F,
     {"idVendor": 0x054C, "idProduct": 0x0010, "bcdDevice_lo": 0x0410,
      "bcdDevice_hi": 0x0420}),
    ("USB_DEVICE_INTERFACE_CLASS", usb_device_interface_class, (0x1234, 0x5678, 0x0A), 0x0083,
     {"idVendor": 0x1234, "idProduct": 0x5678, "bInterfaceClass": 0x0A}),
    ("USB_DEVICE_INTERFACE_PROTOCOL", usb_device_interface_protocol, (0x1234, 0x5678, 0x01),
     0x0203, {"idVendor": 0x1234, "idProduct": 0x5678, "bInterfaceProtocol": 0x01}),
    ("USB_DEVICE_INTERFACE_NUMBER", usb_device_interface_number, (0x1199, 0x68C0, 8), 0x0403,
     {"idVendor": 0x1199, "idProduct": 0x68C0, "bInterfaceNumber": 8}),
    ("USB_DEVICE_INFO", usb_device_info, (0x09, 0x00, 0x01), 0x0070,
     {"bDeviceClass": 0x09, "bDeviceSubClass": 0x00, "bDeviceProtocol": 0x01}),
    ("USB_INTERFACE_INFO", usb_interface_info, (0x03, 0x01, 0x02), 0x0380,
     {"bInterfaceClass": 0x03, "bInterfaceSubClass": 0x01, "bInterfaceProtocol": 0x02}),
    ("USB_DEVICE_AND_INTERFACE_INFO", usb_device_and_interface_info,
     (0x12D1, 0x1506, 0xFF, 0x01, 0x01), 0x0383,
     {"idVendor": 0x12D1, "idProduct": 0x1506, "bInterfaceClass": 0xFF,
      "bInterfaceSubClass": 0x01, "bInterfaceProtocol": 0x01}),
    ("USB_VENDOR_AND_INTERFACE_INFO", usb_vendor_and_interface_info, (0x0525, 0xFF, 0, 0),
     0x0381, {"idVendor": 0x0525, "bInterfaceClass": 0xFF, "bInterfaceSubClass": 0,
              "bInterfaceProtocol": 0}),
]
MACRO_IDS = [m[0] for m in MACROS]


@pytest.mark.parametrize(("name", "macro", "args", "flags", "set_fields"), MACROS, ids=MACRO_IDS)
def test_macro_sets_flags_and_fields(name: str, macro: Callable[..., UsbDeviceId],
                                     args: tuple[int, ...], flags: int,
                                     set_fields: dict[str, int]) -> None:
    entry = macro(*args)
    assert entry.match_flags == flags
    assert entry == UsbDeviceId(flags, **set_fields)   # every other field stays 0
    tagged = macro(*args, driver_info=("quirk", 7))
    assert tagged.driver_info == ("quirk", 7)
    assert dataclasses.replace(tagged, driver_info=0) == entry


# -- matching: device and interface built from an entry, then one field perturbed ---------------

DEV_FIELD = {"idVendor": "idVendor", "idProduct": "idProduct", "bDeviceClass": "bDeviceClass",
             "bDeviceSubClass": "bDeviceSubClass", "bDeviceProtocol": "bDeviceProtocol"}
ALT_FIELD = {"bInterfaceClass": "bInterfaceClass", "bInterfaceSubClass": "bInterfaceSubClass",
             "bInterfaceProtocol": "bInterfaceProtocol", "bInterfaceNumber": "bInterfaceNumber"}
# Values for fields an entry does not compare: none of them 0xff (vendor-specific rule).
BASE_DEV = {"idVendor": 0x1111, "idProduct": 0x2222, "bcdDevice": 0x0415,
            "bDeviceClass": 0x02, "bDeviceSubClass": 0x03, "bDeviceProtocol": 0x04}
BASE_ALT = {"bInterfaceClass": 0x05, "bInterfaceSubClass": 0x06, "bInterfaceProtocol": 0x07,
            "bInterfaceNumber": 0x01}


def matching_pair(entry: UsbDeviceId) -> tuple[DeviceDescriptor, InterfaceDescriptor]:
    """A device + current altsetting that `entry` matches, from the entry's own values."""
    dev: dict[str, Any] = dict(BASE_DEV)
    alt: dict[str, Any] = dict(BASE_ALT)
    for field, flag in (("idVendor", MatchFlag.VENDOR), ("idProduct", MatchFlag.PRODUCT),
                        ("bDeviceClass", MatchFlag.DEV_CLASS),
                        ("bDeviceSubClass", MatchFlag.DEV_SUBCLASS),
                        ("bDeviceProtocol", MatchFlag.DEV_PROTOCOL)):
        if entry.match_flags & flag:
            dev[field] = getattr(entry, field)
    for field, flag in (("bInterfaceClass", MatchFlag.INT_CLASS),
                        ("bInterfaceSubClass", MatchFlag.INT_SUBCLASS),
                        ("bInterfaceProtocol", MatchFlag.INT_PROTOCOL),
                        ("bInterfaceNumber", MatchFlag.INT_NUMBER)):
        if entry.match_flags & flag:
            alt[field] = getattr(entry, field)
    if entry.match_flags & MatchFlag.DEV_LO:
        dev["bcdDevice"] = entry.bcdDevice_lo
    elif entry.match_flags & MatchFlag.DEV_HI:
        dev["bcdDevice"] = entry.bcdDevice_hi
    return DeviceDescriptor(**dev), InterfaceDescriptor(**alt)


# (flag, entry with only that flag, descriptor field to break, "dev"/"alt", a breaking value)
SINGLE_FLAG_CASES = [
    ("VENDOR", UsbDeviceId(MatchFlag.VENDOR, idVendor=0x0403), "idVendor", "dev", 0x0404),
    ("PRODUCT", UsbDeviceId(MatchFlag.PRODUCT, idProduct=0x6001), "idProduct", "dev", 0x6000),
    ("DEV_LO", UsbDeviceId(MatchFlag.DEV_LO, bcdDevice_lo=0x0200), "bcdDevice", "dev", 0x0199),
    ("DEV_HI", UsbDeviceId(MatchFlag.DEV_HI, bcdDevice_hi=0x0200), "bcdDevice", "dev", 0x0201),
    ("DEV_CLASS", UsbDeviceId(MatchFlag.DEV_CLASS, bDeviceClass=0x09), "bDeviceClass", "dev",
     0x08),
    ("DEV_SUBCLASS", UsbDeviceId(MatchFlag.DEV_SUBCLASS, bDeviceSubClass=0x01),
     "bDeviceSubClass", "dev", 0x00),
    ("DEV_PROTOCOL", UsbDeviceId(MatchFlag.DEV_PROTOCOL, bDeviceProtocol=0x02),
     "bDeviceProtocol", "dev", 0x01),
    ("INT_CLASS", UsbDeviceId(MatchFlag.INT_CLASS, bInterfaceClass=0x08), "bInterfaceClass",
     "alt", 0x03),
    ("INT_SUBCLASS", UsbDeviceId(MatchFlag.INT_SUBCLASS, bInterfaceSubClass=0x06),
     "bInterfaceSubClass", "alt", 0x05),
    ("INT_PROTOCOL", UsbDeviceId(MatchFlag.INT_PROTOCOL, bInterfaceProtocol=0x50),
     "bInterfaceProtocol", "alt", 0x62),
    ("INT_NUMBER", UsbDeviceId(MatchFlag.INT_NUMBER, bInterfaceNumber=2), "bInterfaceNumber",
     "alt", 3),
]


@pytest.mark.parametrize(("flag", "entry", "field", "where", "bad"), SINGLE_FLAG_CASES,
                         ids=[c[0] for c in SINGLE_FLAG_CASES])
def test_each_flag_compares_its_field(flag: str, entry: UsbDeviceId, field: str, where: str,
                                      bad: Any) -> None:
    dev, alt = matching_pair(entry)
    assert match_one_id(dev, alt, entry)
    if where == "dev":
        broken_dev = dataclasses.replace(dev, **{field: bad})
        assert not match_device(broken_dev, entry)
        assert not match_one_id(broken_dev, alt, entry)
        assert match_one_id_intf(broken_dev, alt, entry)   # device fields are not its business
    else:
        broken_alt = dataclasses.replace(alt, **{field: bad})
        assert not match_one_id_intf(dev, broken_alt, entry)
        assert not match_one_id(dev, broken_alt, entry)
        assert match_device(dev, entry)                     # interface flags ignored there


@pytest.mark.parametrize(("flag", "entry", "field", "where", "bad"), SINGLE_FLAG_CASES,
                         ids=[c[0] for c in SINGLE_FLAG_CASES])
def test_field_without_its_flag_is_ignored(flag: str, entry: UsbDeviceId, field: str,
                                           where: str, bad: Any) -> None:
    dev, alt = matching_pair(entry)
    unflagged = dataclasses.replace(entry, match_flags=0)
    if where == "dev":
        dev = dataclasses.replace(dev, **{field: bad})
    else:
        alt = dataclasses.replace(alt, **{field: bad})
    assert match_one_id(dev, alt, unflagged)


def _macro_field_cases() -> list[tuple[str, UsbDeviceId, str, str]]:
    cases = []
    for name, macro, args, _flags, set_fields in MACROS:
        entry = macro(*args)
        for field in set_fields:
            cases.append((name, entry, field, "compared"))
    return cases


MACRO_FIELD_CASES = _macro_field_cases()


@pytest.mark.parametrize(("name", "entry", "field", "_kind"), MACRO_FIELD_CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in MACRO_FIELD_CASES])
def test_macro_entry_matches_and_each_field_breaks_it(name: str, entry: UsbDeviceId,
                                                      field: str, _kind: str) -> None:
    dev, alt = matching_pair(entry)
    assert match_one_id(dev, alt, entry)
    if field in DEV_FIELD:
        value = getattr(dev, field)
        dev = dataclasses.replace(dev, **{field: (value + 1) & 0xFF})
    elif field in ALT_FIELD:
        value = getattr(alt, field)
        alt = dataclasses.replace(alt, **{field: (value + 1) & 0x7F})
    elif field == "bcdDevice_lo":
        dev = dataclasses.replace(dev, bcdDevice=entry.bcdDevice_lo - 1)
    else:
        dev = dataclasses.replace(dev, bcdDevice=entry.bcdDevice_hi + 1)
    assert not match_one_id(dev, alt, entry)


@pytest.mark.parametrize(("name", "macro", "args", "flags", "set_fields"), MACROS, ids=MACRO_IDS)
def test_macro_entry_ignores_uncompared_fields(name: str, macro: Callable[..., UsbDeviceId],
                                               args: tuple[int, ...], flags: int,
                                               set_fields: dict[str, int]) -> None:
    entry = macro(*args)
    dev, alt = matching_pair(entry)
    for field in DEV_FIELD:
        if field not in set_fields:
            dev = dataclasses.replace(dev, **{field: (getattr(dev, field) + 0x31) & 0x7F})
    for field in ALT_FIELD:
        if field not in set_fields:
            alt = dataclasses.replace(alt, **{field: (getattr(alt, field) + 0x31) & 0x7F})
    if not flags & MatchFlag.DEV_RANGE:
        dev = dataclasses.replace(dev, bcdDevice=0xABCD)
    assert match_one_id(dev, alt, entry)


@pytest.mark.parametrize(("bcd", "expected"), [
    (0x00FF, False), (0x0100, True), (0x0101, True), (0x0150, True), (0x01FF, True),
    (0x0200, True), (0x0201, False), (0x0000, False), (0xFFFF, False),
])
def test_bcd_device_range_is_inclusive(bcd: int, expected: bool) -> None:
    entry = usb_device_ver(0x1234, 0x5678, 0x0100, 0x0200)
    dev = DeviceDescriptor(0x1234, 0x5678, bcdDevice=bcd)
    assert match_device(dev, entry) is expected


@pytest.mark.parametrize(("flags", "bcd", "expected"), [
    (MatchFlag.DEV_LO, 0x0000, False), (MatchFlag.DEV_LO, 0x0100, True),
    (MatchFlag.DEV_LO, 0xFFFF, True),
    (MatchFlag.DEV_HI, 0x0000, True), (MatchFlag.DEV_HI, 0x0200, True),
    (MatchFlag.DEV_HI, 0x0201, False),
])
def test_one_sided_bcd_bounds(flags: MatchFlag, bcd: int, expected: bool) -> None:
    entry = UsbDeviceId(MatchFlag.DEVICE | flags, 0x1234, 0x5678, bcdDevice_lo=0x0100,
                        bcdDevice_hi=0x0200)
    assert match_device(DeviceDescriptor(0x1234, 0x5678, bcdDevice=bcd), entry) is expected


def test_bcd_comparison_is_plain_unsigned_not_bcd_aware() -> None:
    entry = usb_device_ver(0x1234, 0x5678, 0x0099, 0x0100)
    assert match_device(DeviceDescriptor(0x1234, 0x5678, bcdDevice=0x00A0), entry)


def test_interface_number_none_counts_as_zero() -> None:
    entry = usb_device_interface_number(0x1234, 0x5678, 0)
    dev = DeviceDescriptor(0x1234, 0x5678)
    assert match_one_id(dev, InterfaceDescriptor(), entry)
    assert not match_one_id(dev, InterfaceDescriptor(bInterfaceNumber=1), entry)


# -- the vendor-specific device class rule ----------------------------------------------------

VENDOR_DEV = DeviceDescriptor(0x0525, 0xA4A0, bDeviceClass=0xFF)
VENDOR_ALT = InterfaceDescriptor(0xFF, 0x00, 0x00, bInterfaceNumber=2)

VENDOR_RULE_CASES = [
    ("interface-info", usb_interface_info(0xFF, 0, 0), False),
    ("int-class-only", UsbDeviceId(MatchFlag.INT_CLASS, bInterfaceClass=0xFF), False),
    ("int-subclass-only", UsbDeviceId(MatchFlag.INT_SUBCLASS, bInterfaceClass=1), False),
    ("int-protocol-only", UsbDeviceId(MatchFlag.INT_PROTOCOL, bInterfaceClass=1), False),
    ("int-number-only", UsbDeviceId(MatchFlag.INT_NUMBER, bInterfaceNumber=2,
                                    bInterfaceClass=1), False),
    ("product-and-int-class", UsbDeviceId(MatchFlag.PRODUCT | MatchFlag.INT_CLASS,
                                          idProduct=0xA4A0, bInterfaceClass=0xFF), False),
    ("vendor-and-interface-info", usb_vendor_and_interface_info(0x0525, 0xFF, 0, 0), True),
    ("device-and-interface-info", usb_device_and_interface_info(0x0525, 0xA4A0, 0xFF, 0, 0),
     True),
    ("device-interface-class", usb_device_interface_class(0x0525, 0xA4A0, 0xFF), True),
    ("device-interface-protocol", usb_device_interface_protocol(0x0525, 0xA4A0, 0), True),
    ("device-interface-number", usb_device_interface_number(0x0525, 0xA4A0, 2), True),
    ("device-info-no-int-flags", usb_device_info(0xFF, 0, 0), True),
    ("device", usb_device(0x0525, 0xA4A0), True),
]


@pytest.mark.parametrize(("name", "entry", "expected"), VENDOR_RULE_CASES,
                         ids=[c[0] for c in VENDOR_RULE_CASES])
def test_vendor_specific_device_rule(name: str, entry: UsbDeviceId, expected: bool) -> None:
    assert match_one_id(VENDOR_DEV, VENDOR_ALT, entry) is expected
    # With any other device class the rule does not fire: every entry here agrees with
    # VENDOR_ALT's fields, so all of them match (except the one that compares the class).
    for dev_class in (0x00, 0xEF, 0xFE):
        dev = dataclasses.replace(VENDOR_DEV, bDeviceClass=dev_class)
        compares_class = bool(entry.match_flags & MatchFlag.DEV_CLASS)
        assert match_one_id(dev, VENDOR_ALT, entry) is not compares_class


def test_vendor_specific_rule_ignores_interface_descriptor_contents() -> None:
    # The rule fires before any comparison: even a perfect interface match is refused.
    entry = usb_interface_info(0xFF, 0x00, 0x00)
    assert not match_one_id_intf(VENDOR_DEV, VENDOR_ALT, entry)
    assert match_device(VENDOR_DEV, entry)


# -- terminators, catch-all, table walks ------------------------------------------------------

TERMINATOR_CASES = [
    ("all-zero", UsbDeviceId(), True),
    ("driver_info-zero", UsbDeviceId(driver_info=0), True),
    ("driver_info-None", UsbDeviceId(driver_info=None), True),
    ("device-info-000", usb_device_info(0, 0, 0), True),
    ("interface-info-0xx", usb_interface_info(0, 1, 2), True),
    ("subclass-only", UsbDeviceId(MatchFlag.INT_SUBCLASS, bInterfaceSubClass=6), True),
    ("number-only", UsbDeviceId(MatchFlag.INT_NUMBER, bInterfaceNumber=1), True),
    ("bcd-only", UsbDeviceId(MatchFlag.DEV_RANGE, bcdDevice_lo=1, bcdDevice_hi=2), True),
    ("flags-only", UsbDeviceId(MatchFlag.DEVICE), True),
    ("vendor", UsbDeviceId(idVendor=1), False),
    ("product", UsbDeviceId(idProduct=1), False),
    ("device-class", UsbDeviceId(bDeviceClass=1), False),
    ("interface-class", UsbDeviceId(bInterfaceClass=1), False),
    ("driver_info-int", UsbDeviceId(driver_info=1), False),
    ("driver_info-object", UsbDeviceId(driver_info=object()), False),
    ("driver_info-empty-dict", UsbDeviceId(driver_info={}), False),   # a non-NULL pointer
    ("device-info-900", usb_device_info(9, 0, 0), False),
]


@pytest.mark.parametrize(("name", "entry", "expected"), TERMINATOR_CASES,
                         ids=[c[0] for c in TERMINATOR_CASES])
def test_is_terminator(name: str, entry: UsbDeviceId, expected: bool) -> None:
    assert is_terminator(entry) is expected


ANY_DEVICES = [
    (DeviceDescriptor(0x0403, 0x6001), InterfaceDescriptor(0xFF, 0xFF, 0xFF,
                                                           bInterfaceNumber=0)),
    (VENDOR_DEV, VENDOR_ALT),
    (DeviceDescriptor(0x1D6B, 0x0002, bDeviceClass=9), InterfaceDescriptor(9, 0, 0,
                                                                           bInterfaceNumber=0)),
]


@pytest.mark.parametrize(("dev", "alt"), ANY_DEVICES)
def test_driver_info_only_catch_all_matches_everything(dev: DeviceDescriptor,
                                                       alt: InterfaceDescriptor) -> None:
    catch_all = UsbDeviceId(driver_info=42)
    assert not is_terminator(catch_all)
    assert match_one_id(dev, alt, catch_all)
    assert match_id(dev, alt, [catch_all, UsbDeviceId()]) is catch_all


def test_terminator_in_the_middle_ends_the_walk() -> None:
    dev = DeviceDescriptor(0x0403, 0x6001, bDeviceClass=0)
    alt = InterfaceDescriptor(0xFF, 0xFF, 0xFF, bInterfaceNumber=0)
    wanted = usb_device(0x0403, 0x6001)
    assert match_id(dev, alt, [usb_device(0x1, 0x2), wanted]) is wanted
    # USB_DEVICE_INFO(0,0,0) would match (bDeviceClass 0) but is a terminator instead.
    assert match_device(dev, usb_device_info(0, 0, 0))
    assert match_id(dev, alt, [usb_device_info(0, 0, 0), wanted]) is None
    assert match_id(dev, alt, [UsbDeviceId(), wanted]) is None
    assert match_id(dev, alt, [usb_interface_info(0, 0xFF, 0xFF), wanted]) is None


def test_first_match_wins_in_table_order() -> None:
    dev = DeviceDescriptor(0x0403, 0x6001)
    alt = InterfaceDescriptor(0xFF, 0xFF, 0xFF, bInterfaceNumber=0)
    first = usb_device(0x0403, 0x6001, driver_info=1)
    second = usb_device_interface_class(0x0403, 0x6001, 0xFF, driver_info=2)
    third = UsbDeviceId(driver_info=3)
    assert match_id(dev, alt, [first, second, third]) is first
    assert match_id(dev, alt, [second, first, third]) is second
    assert match_id(dev, alt, [third, first]) is third
    equal_twin = usb_device(0x0403, 0x6001, driver_info=1)
    assert match_id(dev, alt, [usb_device(1, 1), equal_twin, first]) is equal_twin


def test_match_id_edge_cases() -> None:
    dev = DeviceDescriptor(0x0403, 0x6001)
    alt = InterfaceDescriptor(bInterfaceNumber=0)
    assert match_id(dev, alt, None) is None
    assert match_id(dev, alt, []) is None
    assert match_id(dev, alt, [usb_device(0x0403, 0x6002)]) is None   # no terminator needed
    assert not match_one_id(dev, alt, None)


def test_match_dynamic_id_has_no_terminator() -> None:
    dev = DeviceDescriptor(0x0403, 0x6001)
    alt = InterfaceDescriptor(bInterfaceNumber=0)
    wanted = usb_device(0x0403, 0x6001)
    assert match_dynamic_id(dev, alt, [usb_device(1, 2), wanted]) is wanted
    assert match_dynamic_id(dev, alt, []) is None
    # the all-zero id matches everything when it is in the dynamic list
    zero = UsbDeviceId()
    assert match_dynamic_id(dev, alt, [zero, wanted]) is zero


def test_device_match_id() -> None:
    dev = DeviceDescriptor(0x0403, 0x6001, bDeviceClass=9)
    wanted = usb_device(0x0403, 0x6001)
    assert device_match_id(dev, None) is None
    assert device_match_id(dev, [usb_device(1, 2), wanted]) is wanted
    # interface flags are not looked at by whole-device matching
    by_class = usb_device_interface_class(0x0403, 0x6001, 0x03)
    assert device_match_id(dev, [by_class]) is by_class
    # the walk goes on while idVendor || idProduct: class-only entries end it
    assert device_match_id(dev, [usb_device_info(9, 0, 0), wanted]) is None
    assert device_match_id(dev, [UsbDeviceId(driver_info=1), wanted]) is None
    product_only = UsbDeviceId(MatchFlag.PRODUCT, idProduct=0x6001)
    assert device_match_id(dev, [product_only]) is product_only
    assert device_match_id(dev, [usb_device_ver(0x0403, 0x6001, 0x0200, 0x0300)]) is None


# -- new_id / remove_id -----------------------------------------------------------------------

STATIC_TABLE = [
    usb_device(0x0403, 0x6001, driver_info=0x11),
    usb_device(0x1234, 0x5678, driver_info="info-5678"),
    UsbDeviceId(),
]

NEW_ID_OK = [
    ("two-fields", "0403 6001", usb_device(0x0403, 0x6001)),
    ("newline", "0403 6001\n", usb_device(0x0403, 0x6001)),
    ("0x-prefix", "0x0403 0X6001", usb_device(0x0403, 0x6001)),
    ("short-digits", "403 1", usb_device(0x0403, 0x0001)),
    ("upper-case", "ABCD EF01", usb_device(0xABCD, 0xEF01)),
    ("white-space", "  0403\t\t6001  \n", usb_device(0x0403, 0x6001)),
    ("class", "0403 6001 ff", usb_device_interface_class(0x0403, 0x6001, 0xFF)),
    ("class-zero", "0403 6001 0", usb_device(0x0403, 0x6001)),
    ("class-zero-long", "0403 6001 000", usb_device(0x0403, 0x6001)),
    ("four-fields-no-lookup", "0403 6001 0 dead", usb_device(0x0403, 0x6001)),
    ("vendor-truncated-to-u16", "12345 6001", usb_device(0x2345, 0x6001)),
    ("junk-after-two", "0403 6001 zz", usb_device(0x0403, 0x6001)),
    ("ref-lookup", "abcd ef01 0 1234 5678",
     usb_device(0xABCD, 0xEF01, driver_info="info-5678")),
    ("ref-lookup-with-class", "abcd ef01 3 0403 6001",
     usb_device_interface_class(0xABCD, 0xEF01, 3, driver_info=0x11)),
]


@pytest.mark.parametrize(("name", "text", "expected"), NEW_ID_OK, ids=[c[0] for c in NEW_ID_OK])
def test_parse_new_id(name: str, text: str, expected: UsbDeviceId) -> None:
    assert parse_new_id(text, STATIC_TABLE) == expected


NEW_ID_ERRORS = [
    ("empty", "", STATIC_TABLE, errno.EINVAL),
    ("blank", " \n", STATIC_TABLE, errno.EINVAL),
    ("one-field", "0403", STATIC_TABLE, errno.EINVAL),
    ("one-field-newline", "0403\n", STATIC_TABLE, errno.EINVAL),
    ("comma", "0403,6001", STATIC_TABLE, errno.EINVAL),
    ("not-hex", "zz 6001", STATIC_TABLE, errno.EINVAL),
    ("negative", "-1 6001", STATIC_TABLE, errno.EINVAL),
    ("class-256", "0403 6001 100", STATIC_TABLE, errno.EINVAL),
    ("class-too-big-before-lookup", "0403 6001 1ff 1234 5678", None, errno.EINVAL),
    ("five-fields-no-table", "0403 6001 0 1234 5678", None, errno.ENODEV),
    ("five-fields-empty-table", "0403 6001 0 1234 5678", [], errno.ENODEV),
    ("ref-not-found", "0403 6001 0 1234 9999", STATIC_TABLE, errno.ENODEV),
    ("ref-vendor-over-u16", "0403 6001 0 11234 5678", STATIC_TABLE, errno.ENODEV),
    ("ref-after-zero-flags", "0403 6001 0 1234 5678",
     [UsbDeviceId(driver_info=1), usb_device(0x1234, 0x5678, driver_info=7)], errno.ENODEV),
]


@pytest.mark.parametrize(("name", "text", "table", "code"), NEW_ID_ERRORS,
                         ids=[c[0] for c in NEW_ID_ERRORS])
def test_parse_new_id_errors(name: str, text: str, table: list[UsbDeviceId] | None,
                             code: int) -> None:
    with pytest.raises(DynIdError) as info:
        parse_new_id(text, table)
    assert info.value.errno == code
    assert isinstance(info.value, OSError)


def test_new_id_lookup_stops_at_match_flags_zero_not_at_usb_match_id_terminator() -> None:
    # The static-table search ends at match_flags == 0, so an entry with flags but only
    # zero ids (a usb_match_id terminator) does not stop it.
    table = [usb_device_info(0, 0, 0), usb_device(0x1234, 0x5678, driver_info=9)]
    assert parse_new_id("1 2 0 1234 5678", table).driver_info == 9
    # a table without any terminator is searched to its end
    assert parse_new_id("1 2 0 1234 5678", table[1:]).driver_info == 9


@pytest.mark.parametrize(("text", "expected"), [
    ("0403 6001", (0x0403, 0x6001)),
    ("0403 6001\n", (0x0403, 0x6001)),
    ("0x403 0x6001 ff", (0x0403, 0x6001)),
    ("123456789 1", (0x23456789, 0x1)),      # %x into a u32
    ("12345 1", (0x12345, 0x1)),             # not truncated: never equal to a u16 id
])
def test_parse_remove_id(text: str, expected: tuple[int, int]) -> None:
    assert parse_remove_id(text) == expected


@pytest.mark.parametrize("text", ["", "0403", "0403\n", "x 1", "0403;6001"])
def test_parse_remove_id_errors(text: str) -> None:
    with pytest.raises(DynIdError) as info:
        parse_remove_id(text)
    assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize(("entry", "line"), [
    (usb_device(0x0403, 0x6001), "0403 6001\n"),
    (usb_device(0xABCD, 0x00EF), "abcd 00ef\n"),
    (usb_device_interface_class(0x0403, 0x6001, 0xFF), "0403 6001 ff\n"),
    (usb_device_interface_class(0x0403, 0x6001, 3), "0403 6001 03\n"),
    (usb_interface_info(0, 1, 2), "0000 0000\n"),
])
def test_format_dynid(entry: UsbDeviceId, line: str) -> None:
    assert format_dynid(entry) == line


def test_new_id_round_trip_through_read() -> None:
    for text in ("0403 6001", "0403 6001 ff", "1 2 3"):
        assert parse_new_id(format_dynid(parse_new_id(text, None)), None) == \
            parse_new_id(text, None)


def test_show_dynids_concatenates_and_stops_at_a_page() -> None:
    ids = [usb_device(0x0403, 0x6001), usb_device_interface_class(1, 2, 3)]
    assert show_dynids(ids) == "0403 6001\n0001 0002 03\n"
    assert show_dynids([]) == ""
    many = [usb_device(i, i) for i in range(500)]          # 500 * 10 characters
    text = show_dynids(many)
    assert len(text) == 4095
    assert text == "".join(format_dynid(i) for i in many)[:4095]


# -- properties --------------------------------------------------------------------------------


@given(st.text())
def test_parse_new_id_never_crashes(text: str) -> None:
    try:
        entry = parse_new_id(text, STATIC_TABLE)
    except DynIdError as exc:
        assert exc.errno in (errno.EINVAL, errno.ENODEV)
    else:
        assert entry.match_flags & MatchFlag.DEVICE == MatchFlag.DEVICE


@given(st.text(alphabet=" \t\n0123456789abcdefABCDEFxX-g,"))
def test_parse_remove_id_never_crashes(text: str) -> None:
    try:
        vendor, product = parse_remove_id(text)
    except DynIdError as exc:
        assert exc.errno == errno.EINVAL
    else:
        assert 0 <= vendor <= 0xFFFFFFFF and 0 <= product <= 0xFFFFFFFF


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFF),
       st.sampled_from([" ", "\t", "  ", "\n"]), st.booleans())
def test_new_id_fields_round_trip(vendor: int, product: int, iclass: int, sep: str,
                                  prefix: bool) -> None:
    px = "0x" if prefix else ""
    entry = parse_new_id(f"{px}{vendor:x}{sep}{px}{product:X}{sep}{iclass:x}\n", None)
    assert (entry.idVendor, entry.idProduct, entry.bInterfaceClass) == (vendor, product, iclass)
    assert entry.match_flags == (MatchFlag.DEVICE | MatchFlag.INT_CLASS if iclass
                                 else MatchFlag.DEVICE)
    assert parse_new_id(format_dynid(entry), None) == entry
