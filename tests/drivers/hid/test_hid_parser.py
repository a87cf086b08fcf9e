"""The report-descriptor parser of usbemu.drivers.hid.hid_core against the descriptors of
QEMU's mouse, keyboard and tablet and of real devices, with the reports, fields, usages and
collections Linux derives; descriptors that lie, rejected with hid-core's messages; and
hypothesis: random and mutated descriptors never get anything but a clean rejection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from usbemu_tests_hid_fakes import (
    LOGITECH_M105,
    MI_DONGLE_MOUSE,
    QEMU_KEYBOARD,
    QEMU_MOUSE,
    QEMU_TABLET,
    VENDOR_DEVICE,
)

from usbemu.drivers.hid.hid_core import (
    HID_MAX_USAGES,
    CollectionType,
    HidClaimed,
    HidCollection,
    HidDevice,
    HidInputOps,
    HidStat,
    MainItemFlag,
    ReportType,
    fetch_item,
    hid_alloc_report_buf,
    hid_core_of,
    hid_open_report,
    hid_output_report,
    hid_parse_report,
    hid_report_len,
    hid_report_raw_event,
    hid_scan_report,
)
from usbemu.emulated.models.keyboard import QEMU_KEYBOARD_REPORT_DESCRIPTOR
from usbemu.emulated.models.mouse import (
    BOOT_MOUSE_REPORT_DESCRIPTOR,
    LOGITECH_M105_REPORT_DESCRIPTOR,
)
from usbemu.emulated.models.tablet import QEMU_TABLET_REPORT_DESCRIPTOR
from usbemu.errors import Errno
from usbemu.kernel.printk import Level
from usbemu.system import System

NAME = "0003:0627:0001.0001"
VAR, REL = MainItemFlag.VARIABLE, MainItemFlag.RELATIVE
INPUT, OUTPUT, FEATURE = ReportType.INPUT, ReportType.OUTPUT, ReportType.FEATURE


@pytest.fixture(scope="module")
def machine() -> Iterator[System]:
    """One machine with the hid module for the whole file: parsing needs no driver."""
    with System() as system:
        system.modules.autoload = False
        system.modprobe("hid")
        yield system


def device(machine: System, rdesc: bytes, name: str = NAME) -> HidDevice:
    """A hid device of `machine` holding `rdesc`, named as hid_add_device names it."""
    hid = HidDevice(hid_core_of(machine.usb).bus)
    hid.name = name
    hid_parse_report(hid, rdesc)
    return hid


def parse(machine: System, rdesc: bytes) -> tuple[HidDevice, int, list[str]]:
    """hid_open_report on a fresh device: the device, the result, the new log lines."""
    hid = device(machine, rdesc)
    machine.log.clear()
    ret = hid_open_report(hid)
    return hid, ret, machine.log.lines()


def layout(hid: HidDevice, rtype: ReportType) -> list[tuple[Any, ...]]:
    """What Linux derives for the reports of one type: (id, size in bits, application,
    fields), each field (offset, size, count, logical min, max, flags, physical usage,
    usages)."""
    return [(report.id, report.size, report.application,
             [(f.report_offset, f.report_size, f.report_count, f.logical_minimum,
               f.logical_maximum, f.flags, f.physical, [u.hid for u in f.usage])
              for f in report.field])
            for report in hid.report_enum[rtype].report_list]


def test_the_golden_descriptors_are_the_models() -> None:
    assert QEMU_MOUSE == BOOT_MOUSE_REPORT_DESCRIPTOR and len(QEMU_MOUSE) == 52
    assert QEMU_KEYBOARD == QEMU_KEYBOARD_REPORT_DESCRIPTOR and len(QEMU_KEYBOARD) == 63
    assert QEMU_TABLET == QEMU_TABLET_REPORT_DESCRIPTOR and len(QEMU_TABLET) == 74
    assert LOGITECH_M105 == LOGITECH_M105_REPORT_DESCRIPTOR and len(LOGITECH_M105) == 46


# -- items -------------------------------------------------------------------------------------


def test_fetch_item_short_long_and_truncated() -> None:
    item, end = fetch_item(bytes((0x26, 0xFF, 0x7F)), 0) or (None, 0)
    assert item is not None and (item.format, item.size, item.type, item.tag, item.data) == (
        0, 2, 1, 2, 0x7FFF) and end == 3
    item, end = fetch_item(bytes((0x27, 1, 2, 3, 4)), 0) or (None, 0)
    assert item is not None and item.size == 4 and item.data == 0x04030201 and end == 5
    item, end = fetch_item(bytes((0xFE, 2, 0x10, 0xAA, 0xBB)), 0) or (None, 0)
    assert item is not None and (item.format, item.size, item.tag, item.longdata) == (
        1, 2, 0x10, b"\xaa\xbb") and end == 5
    assert fetch_item(bytes((0x26, 0xFF)), 0) is None
    assert fetch_item(bytes((0xFE, 5, 0x10, 1)), 0) is None
    assert fetch_item(b"", 0) is None


# -- real descriptors ----------------------------------------------------------------------------


def test_qemu_mouse(machine: System) -> None:
    hid, ret, log = parse(machine, QEMU_MOUSE)
    assert (ret, log) == (0, [])
    assert hid.status & HidStat.PARSED and hid.rdesc == QEMU_MOUSE
    assert layout(hid, INPUT) == [(0, 32, 0x00010002, [
        (0, 1, 5, 0, 1, VAR, 0x00010001, [0x00090001 + i for i in range(5)]),
        (8, 8, 3, -127, 127, VAR | REL, 0x00010001, [0x00010030, 0x00010031, 0x00010038]),
    ])]
    assert layout(hid, OUTPUT) == layout(hid, FEATURE) == []
    assert hid.collection == [HidCollection(-1, CollectionType.APPLICATION, 0x00010002, 0),
                              HidCollection(0, CollectionType.PHYSICAL, 0x00010001, 1)]
    assert hid.maxapplication == 1 and not hid.report_enum[INPUT].numbered
    report = hid.report_enum[INPUT].report_id_hash[0]
    assert hid_report_len(report) == 4
    assert [u.collection_index for f in report.field for u in f.usage] == [1] * 8
    assert [u.usage_index for u in report.field[0].usage] == [0, 1, 2, 3, 4]


def test_qemu_keyboard(machine: System) -> None:
    hid, ret, log = parse(machine, QEMU_KEYBOARD)
    assert (ret, log) == (0, [])
    assert layout(hid, INPUT) == [(0, 64, 0x00010006, [
        (0, 1, 8, 0, 1, VAR, 0, [0x000700E0 + i for i in range(8)]),
        (16, 8, 6, 0, 255, 0, 0, [0x00070000 + i for i in range(256)]),
    ])]
    assert layout(hid, OUTPUT) == [(0, 8, 0x00010006, [
        (0, 1, 5, 0, 1, VAR, 0, [0x00080001 + i for i in range(5)]),
    ])]
    keys = hid.report_enum[INPUT].report_list[0].field[1]
    assert keys.maxusage == 256 and len(keys.value) == 256
    assert hid.collection == [HidCollection(-1, CollectionType.APPLICATION, 0x00010006, 0)]


def test_qemu_tablet(machine: System) -> None:
    hid, ret, _ = parse(machine, QEMU_TABLET)
    assert ret == 0
    assert layout(hid, INPUT) == [(0, 48, 0x00010002, [
        (0, 1, 5, 0, 1, VAR, 0x00010001, [0x00090001 + i for i in range(5)]),
        (8, 16, 2, 0, 32767, VAR, 0x00010001, [0x00010030, 0x00010031]),
        (40, 8, 1, -127, 127, VAR | REL, 0x00010001, [0x00010038]),
    ])]
    xy, wheel = hid.report_enum[INPUT].report_list[0].field[1:]
    assert (xy.physical_minimum, xy.physical_maximum, xy.unit, xy.unit_exponent) == (
        0, 32767, 0, 0)
    assert (wheel.physical_minimum, wheel.physical_maximum) == (0, 0)


def test_logitech_m105_repeats_its_last_button_usage(machine: System) -> None:
    hid, ret, _ = parse(machine, LOGITECH_M105)
    assert ret == 0
    assert layout(hid, INPUT) == [(0, 32, 0x00010002, [
        (0, 1, 8, 0, 1, VAR, 0x00010001, [0x00090001, 0x00090002] + [0x00090003] * 6),
        (8, 8, 3, -127, 127, VAR | REL, 0x00010001, [0x00010030, 0x00010031, 0x00010038]),
    ])]


def test_mi_dongle_numbered_reports(machine: System) -> None:
    hid, ret, _ = parse(machine, MI_DONGLE_MOUSE)
    assert ret == 0
    consumer = [0x000C00CD, 0x000C0183, 0x000C00B5, 0x000C00B6, 0x000C00EA, 0x000C00E9,
                0x000C0225, 0x000C0224]
    assert layout(hid, INPUT) == [
        (1, 24, 0x00010002, [
            (0, 1, 5, 0, 1, VAR, 0x00010001, [0x00090001 + i for i in range(5)]),
            (8, 8, 1, -127, 127, VAR | REL, 0x00010001, [0x00010038]),
            (16, 8, 1, -127, 127, VAR | REL, 0x00010001, [0x000C0238]),
        ]),
        (2, 24, 0x00010002, [
            (0, 12, 2, -2047, 2047, VAR | REL, 0x000C0001, [0x00010030, 0x00010031]),
        ]),
        (3, 8, 0x000C0001, [(i, 1, 1, 0, 1, VAR | REL, 0, [usage])
                            for i, usage in enumerate(consumer)]),
    ]
    assert hid.report_enum[INPUT].numbered and sorted(hid.report_enum[INPUT].report_id_hash) \
        == [1, 2, 3]
    assert [hid_report_len(r) for r in hid.report_enum[INPUT].report_list] == [4, 4, 2]
    assert hid.collection == [
        HidCollection(-1, CollectionType.APPLICATION, 0x00010002, 0),
        HidCollection(0, CollectionType.PHYSICAL, 0x00010001, 1),
        HidCollection(0, CollectionType.PHYSICAL, 0x000C0001, 1),
        HidCollection(-1, CollectionType.APPLICATION, 0x000C0001, 0),
    ]
    assert hid.maxapplication == 2


def test_vendor_device_output_and_feature_reports(machine: System) -> None:
    hid, ret, _ = parse(machine, VENDOR_DEVICE)
    assert ret == 0
    assert layout(hid, INPUT) == [(1, 32, 0xFF000001, [
        (0, 8, 4, 0, 255, VAR, 0, [0xFF000002] * 4)])]
    assert layout(hid, OUTPUT) == [(1, 32, 0xFF000001, [
        (0, 8, 4, 0, 255, VAR, 0, [0xFF000003] * 4)])]
    assert layout(hid, FEATURE) == [(2, 16, 0xFF000001, [
        (0, 8, 2, 0, 255, VAR, 0, [0xFF000004] * 2)])]
    assert all(hid.report_enum[t].numbered for t in ReportType)


# -- items and their rules ----------------------------------------------------------------------


FIELD_TAIL = bytes((0x75, 0x08, 0x95, 0x02, 0x81, 0x02))   # size 8, count 2, Input (Var)


def only_field(machine: System, rdesc: bytes) -> Any:
    hid, ret, log = parse(machine, rdesc)
    assert (ret, log) == (0, [])
    (report,) = hid.report_enum[INPUT].report_list
    (fld,) = report.field
    return fld


def test_usages_extended_and_last_usage_page(machine: System) -> None:
    # a 4-byte Usage carries its own page; 1- and 2-byte usages take the last page
    fld = only_field(machine, bytes((0x05, 0x01, 0x0B, 0x38, 0x02, 0x0C, 0x00, 0x09, 0x30,
                                     0x15, 0x81, 0x25, 0x7F)) + FIELD_TAIL)
    assert [u.hid for u in fld.usage] == [0x000C0238, 0x00010030]
    # the last Usage Page joins the usages declared before it (HID 1.11 §6.2.2.8) …
    fld = only_field(machine, bytes((0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x05, 0x09))
                     + FIELD_TAIL)
    assert [u.hid for u in fld.usage] == [0x00090030, 0x00090031]
    # … back to the last usage already on that page
    fld = only_field(machine, bytes((0x05, 0x01, 0x09, 0x30, 0x05, 0x09, 0x09, 0x31))
                     + FIELD_TAIL)
    assert [u.hid for u in fld.usage] == [0x00010030, 0x00090031]


def test_logical_and_physical_maximum_signedness(machine: System) -> None:
    fld = only_field(machine, bytes((0x09, 0x30, 0x15, 0x00, 0x25, 0xFF, 0x35, 0x00,
                                     0x45, 0xFF)) + FIELD_TAIL)
    assert (fld.logical_minimum, fld.logical_maximum) == (0, 255)
    assert (fld.physical_minimum, fld.physical_maximum) == (0, 255)
    fld = only_field(machine, bytes((0x09, 0x30, 0x15, 0x81, 0x25, 0xFF, 0x35, 0x81,
                                     0x45, 0xFF)) + FIELD_TAIL)
    assert (fld.logical_minimum, fld.logical_maximum) == (-127, -1)
    assert (fld.physical_minimum, fld.physical_maximum) == (-127, -1)
    fld = only_field(machine, bytes((0x09, 0x30, 0x15, 0x00, 0x27, 0xFF, 0xFF, 0xFF, 0xFF))
                     + FIELD_TAIL)
    assert (fld.logical_minimum, fld.logical_maximum) == (0, -1)   # an s32, as in Linux


@pytest.mark.parametrize(("item", "exponent"), [
    (bytes((0x55, 0x0E)), -2),              # the two's-complement nibble devices send
    (bytes((0x55, 0x08)), -8),
    (bytes((0x55, 0x07)), 7),
    (bytes((0x55, 0xFE)), -2),              # a signed byte
    (bytes((0x57, 0xFD, 0xFF, 0xFF, 0xFF)), -3),
    (bytes((0x56, 0x10, 0x00)), 16),
])
def test_unit_exponent(machine: System, item: bytes, exponent: int) -> None:
    fld = only_field(machine, bytes((0x09, 0x30, 0x66, 0x11, 0xF0)) + item + FIELD_TAIL)
    assert (fld.unit_exponent, fld.unit) == (exponent, 0xF011)


def test_push_and_pop(machine: System) -> None:
    fld = only_field(machine, bytes((0x05, 0x01, 0x15, 0x81, 0x25, 0x7F, 0x75, 0x08,
                                     0x95, 0x01, 0xA4, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01,
                                     0x05, 0x09, 0xB4, 0x09, 0x30, 0x81, 0x06)))
    assert (fld.logical_minimum, fld.logical_maximum, fld.report_size, fld.report_count) == (
        -127, 127, 8, 1)
    assert [u.hid for u in fld.usage] == [0x00010030]


def test_delimiters_keep_the_first_usage_set(machine: System) -> None:
    fld = only_field(machine, bytes((0x05, 0x01, 0x09, 0x30, 0xA9, 0x01, 0x09, 0x31, 0x09,
                                     0x32, 0xA9, 0x00, 0xA9, 0x01, 0x09, 0x33, 0xA9, 0x00,
                                     0x75, 0x08, 0x95, 0x03, 0x81, 0x02)))
    assert [u.hid for u in fld.usage] == [0x00010030, 0x00010031, 0x00010032]


def test_padding_grows_the_report_without_a_field(machine: System) -> None:
    hid, ret, _ = parse(machine, bytes((0x75, 0x05, 0x95, 0x01, 0x81, 0x01, 0x09, 0x30,
                                        0x75, 0x03, 0x81, 0x02)))
    assert ret == 0
    assert layout(hid, INPUT) == [(0, 8, 0, [(5, 3, 1, 0, 0, VAR, 0, [0x00000030])])]


def test_report_size_256_is_accepted(machine: System) -> None:
    fld = only_field(machine, bytes((0x09, 0x01, 0x76, 0x00, 0x01, 0x95, 0x01, 0x81, 0x02)))
    assert fld.report_size == 256


def test_usage_maximum_fills_to_the_limit(machine: System) -> None:
    hid, ret, log = parse(machine, bytes((0x19, 0x00, 0x2A, 0xFF, 0xFF, 0x75, 0x01,
                                          0x95, 0x01, 0x81, 0x00)))
    assert ret == 0
    assert log == [f"hid {NAME}: ignoring exceeding usage max"]
    (fld,) = hid.report_enum[INPUT].report_list[0].field
    assert fld.maxusage == HID_MAX_USAGES and fld.usage[-1].hid == HID_MAX_USAGES - 1


def test_collections_nest_without_a_depth_limit(machine: System) -> None:
    depth = 100
    hid, ret, log = parse(machine, bytes((0x09, 0x01, 0xA1, 0x02)) * depth
                          + bytes((0x09, 0x30)) + FIELD_TAIL + bytes((0xC0,)) * depth)
    assert (ret, log) == (0, [])
    assert [c.level for c in hid.collection] == list(range(depth))
    assert [c.parent_idx for c in hid.collection] == list(range(-1, depth - 1))
    (fld,) = hid.report_enum[INPUT].report_list[0].field
    assert fld.usage[0].collection_index == depth - 1


def test_fields_past_256_are_dropped(machine: System) -> None:
    field = bytes((0x09, 0x30, 0x81, 0x02))
    hid, ret, log = parse(machine, bytes((0x75, 0x01, 0x95, 0x01)) + field * 257)
    assert ret == 0 and log == [f"hid {NAME}: too many fields in report"]
    report = hid.report_enum[INPUT].report_list[0]
    assert report.maxfield == 256 and report.size == 257    # the report still grew


def test_resolution_multiplier(machine: System) -> None:
    # Linux's selftest ResolutionMultiplierMouse with Physical Minimum 2: the multiplier
    # (2 at value 0) applies to the wheel in its logical collection, not to X and Y
    rdesc = bytes((
        0x05, 0x01, 0x09, 0x02, 0xA1, 0x01, 0x05, 0x01, 0x09, 0x02, 0xA1, 0x02, 0x85, 0x11,
        0x09, 0x01, 0xA1, 0x00, 0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x95, 0x02, 0x75, 0x08,
        0x15, 0x81, 0x25, 0x7F, 0x81, 0x06, 0xA1, 0x02, 0x85, 0x12, 0x09, 0x48, 0x95, 0x01,
        0x75, 0x02, 0x15, 0x00, 0x25, 0x01, 0x35, 0x02, 0x45, 0x04, 0xB1, 0x02, 0x35, 0x00,
        0x45, 0x00, 0x75, 0x06, 0xB1, 0x01, 0x85, 0x11, 0x09, 0x38, 0x15, 0x81, 0x25, 0x7F,
        0x75, 0x08, 0x81, 0x06, 0xC0, 0xC0, 0xC0, 0xC0))
    hid, ret, log = parse(machine, rdesc)
    assert (ret, log) == (0, [])
    xy, wheel = hid.report_enum[INPUT].report_id_hash[0x11].field
    assert [u.resolution_multiplier for u in xy.usage] == [1, 1]
    assert [u.resolution_multiplier for u in wheel.usage] == [2]
    zero = rdesc.replace(bytes((0x35, 0x02)), bytes((0x35, 0x00)))
    hid, ret, log = parse(machine, zero)
    assert ret == 0 and log == [f"hid {NAME}: unsupported Resolution Multiplier 0"]


def test_unknown_main_item_is_only_a_warning(machine: System) -> None:
    _, ret, log = parse(machine, bytes((0x09, 0x30, 0xD0)) + FIELD_TAIL)
    assert ret == 0 and log == [f"hid {NAME}: unknown main item tag 0xd"]


# -- descriptors that lie ------------------------------------------------------------------------


LIES = [
    ("report size 257", bytes((0x76, 0x01, 0x01)),
     ["invalid report_size 257", "item 0 2 1 7 parsing failed"]),
    ("report count 12289", bytes((0x96, 0x01, 0x30)),
     ["invalid report_count 12289", "item 0 2 1 9 parsing failed"]),
    ("report id 0", bytes((0x85, 0x00)), ["report_id 0 is invalid", "item 0 1 1 8 parsing failed"]),
    ("report id 256", bytes((0x86, 0x00, 0x01)),
     ["report_id 256 is invalid", "item 0 2 1 8 parsing failed"]),
    ("a collection left open", bytes((0x05, 0x01, 0x09, 0x02, 0xA1, 0x01)),
     ["unbalanced collection at end of report description"]),
    ("an end without a collection", bytes((0x09, 0x01, 0xC0)),
     ["collection stack underflow", "item 0 0 0 12 parsing failed"]),
    ("five pushes", bytes((0xA4,) * 5),
     ["global environment stack overflow", "item 0 0 1 10 parsing failed"]),
    ("a pop without push", bytes((0xB4,)),
     ["global environment stack underflow", "item 0 0 1 11 parsing failed"]),
    ("a truncated item", bytes((0x05, 0x01, 0x06, 0x00)),
     ["item fetching failed at offset 2/4"]),
    ("nothing at all", b"", ["item fetching failed at offset 0/0"]),
    ("a long item", bytes((0x05, 0x01, 0xFE, 0x02, 0x10, 0xAA, 0xBB)),
     ["unexpected long global item"]),
    ("a report past 16383 bytes", bytes((0x76, 0x00, 0x01, 0x96, 0x00, 0x02, 0x09, 0x01,
                                         0x81, 0x02)),
     ["report is too long", "item 0 1 0 8 parsing failed"]),
    ("12289 usages", bytes((0x19, 0x00, 0x2A, 0xFF, 0xFF, 0x09, 0x30)),
     ["ignoring exceeding usage max", "usage index exceeded", "item 0 1 2 0 parsing failed"]),
    ("a range past 12288 usages", bytes((0x19, 0x00, 0x2A, 0xFF, 0xFF, 0x19, 0x01, 0x29, 0x05)),
     ["ignoring exceeding usage max", "ignoring exceeding usage max",
      "no more usage index available", "item 0 1 2 2 parsing failed"]),
    ("nested delimiters", bytes((0xA9, 0x01, 0xA9, 0x01)),
     ["nested delimiters", "item 0 1 2 10 parsing failed"]),
    ("a delimiter closed first", bytes((0xA9, 0x00)),
     ["bogus close delimiter", "item 0 1 2 10 parsing failed"]),
    ("a delimiter left open", bytes((0x09, 0x30, 0xA9, 0x01)),
     ["unbalanced delimiter at end of report description"]),
    ("global tag 12", bytes((0xC4,)), ["unknown global tag 0xc", "item 0 0 1 12 parsing failed"]),
    ("logical maximum below the minimum", bytes((0x15, 0x0A, 0x25, 0x05, 0x75, 0x08, 0x95,
                                                 0x01, 0x09, 0x30, 0x81, 0x02)),
     ["item 0 1 0 8 parsing failed"]),
]


@pytest.mark.parametrize(("rdesc", "messages"), [(lie[1], lie[2]) for lie in LIES],
                         ids=[lie[0] for lie in LIES])
def test_lying_descriptors_are_rejected(machine: System, rdesc: bytes,
                                        messages: list[str]) -> None:
    hid, ret, log = parse(machine, rdesc)
    assert ret == -Errno.EINVAL
    assert log == [f"hid {NAME}: {text}" for text in messages]
    assert [r.level for r in machine.log.records()] == [
        Level.WARNING if text == "ignoring exceeding usage max" else Level.ERR
        for text in messages]
    # the device is as before: nothing parsed, nothing kept
    assert not hid.status & HidStat.PARSED and hid.rdesc == b"" and hid.collection == []
    assert all(not e.report_list for e in hid.report_enum)
    assert hid_open_report(hid) == -Errno.EINVAL     # and it can be tried again


def test_an_open_report_is_not_parsed_twice(machine: System) -> None:
    hid, ret, _ = parse(machine, QEMU_MOUSE)
    assert ret == 0 and hid_open_report(hid) == -Errno.EBUSY
    blank = HidDevice(hid_core_of(machine.usb).bus)
    assert hid_open_report(blank) == -Errno.ENODEV


def test_scan_says_unnamed_devices_are_null(machine: System) -> None:
    hid = device(machine, bytes((0x76, 0x2C, 0x01, 0x19, 0x00, 0x2A, 0xFF, 0xFF)), name="")
    machine.log.clear()
    assert hid_scan_report(hid) == 0
    # the global item's complaint, not the usage maximum's warning (not for unnamed devices)
    assert machine.log.lines() == ["hid (null): invalid report_size 300"]


# -- property tests ----------------------------------------------------------------------------


REAL = [QEMU_MOUSE, QEMU_KEYBOARD, QEMU_TABLET, LOGITECH_M105, MI_DONGLE_MOUSE, VENDOR_DEVICE]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real descriptor with a few bytes replaced, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(("replace", "insert", "delete")))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data.insert(at, draw(st.integers(0, 255)))
        elif data and at < len(data):
            if op == "replace":
                data[at] = draw(st.integers(0, 255))
            else:
                del data[at]
    return bytes(data)


def check_consistent(hid: HidDevice) -> None:
    """What Linux guarantees of a parsed report: every field inside its report, at least
    as many usages as values, collections that point at earlier ones."""
    for rtype in ReportType:
        for report in hid.report_enum[rtype].report_list:
            assert report.size <= (16384 - 1) * 8
            for fld in report.field:
                assert fld.report_offset + fld.report_size * fld.report_count <= report.size
                assert fld.maxusage >= fld.report_count and fld.maxusage <= HID_MAX_USAGES
                assert fld.report_size <= 256
    for index, col in enumerate(hid.collection):
        assert col.parent_idx < index


def exercise(machine: System, rdesc: bytes, reports: list[bytes]) -> None:
    """Parse; if accepted, feed reports through the core and build every output report."""
    hid = device(machine, rdesc)
    assert hid_scan_report(hid) == 0
    ret = hid_open_report(hid)
    assert ret in (0, -Errno.EINVAL)
    if ret:
        return
    check_consistent(hid)
    sink: list[tuple[int, int]] = []
    hid.hidinput = HidInputOps(_never_connect, _never_disconnect,
                               lambda h, f, u, v: sink.append((u.hid, v)),
                               lambda h, r: None)
    hid.claimed = HidClaimed.INPUT
    for data in reports:
        for rtype in ReportType:
            assert hid_report_raw_event(hid, rtype, data, len(data), 1) == 0
    for rtype in (ReportType.OUTPUT, ReportType.FEATURE):
        for report in hid.report_enum[rtype].report_list:
            buf = hid_alloc_report_buf(report)
            hid_output_report(report, buf)
            assert len(buf) == hid_report_len(report) + 7


async def _never_connect(hid: HidDevice, force: int) -> int:
    return -1


async def _never_disconnect(hid: HidDevice) -> None:
    return None


PROPERTY = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(rdesc=st.binary(max_size=400), reports=st.lists(st.binary(max_size=40), max_size=3))
def test_random_descriptors_are_parsed_or_rejected_cleanly(machine: System, rdesc: bytes,
                                                          reports: list[bytes]) -> None:
    exercise(machine, rdesc, reports)


@PROPERTY
@given(rdesc=mutated(), reports=st.lists(st.binary(max_size=40), max_size=3))
def test_mutated_real_descriptors_are_parsed_or_rejected_cleanly(machine: System,
                                                                 rdesc: bytes,
                                                                 reports: list[bytes]) -> None:
    exercise(machine, rdesc, reports)


@PROPERTY
@given(items=st.lists(st.sampled_from([
    bytes((0xA1, 0x01)), bytes((0xC0,)), bytes((0x09, 0x30)), bytes((0x19, 0x01)),
    bytes((0x2A, 0xFF, 0x7F)), bytes((0x81, 0x02)), bytes((0x91, 0x00)), bytes((0xB1, 0x02)),
    bytes((0x75, 0x08)), bytes((0x96, 0xFF, 0x0F)), bytes((0x85, 0x07)), bytes((0xA4,)),
    bytes((0xB4,)), bytes((0xA9, 0x01)), bytes((0xA9, 0x00)), bytes((0x15, 0x81)),
    bytes((0x27, 0xFF, 0xFF, 0xFF, 0x7F)), bytes((0x55, 0x0F)), bytes((0x76, 0x00, 0x01)),
]), max_size=60))
def test_item_soup_is_parsed_or_rejected_cleanly(machine: System, items: list[bytes]) -> None:
    exercise(machine, b"".join(items), [bytes(range(64))])
