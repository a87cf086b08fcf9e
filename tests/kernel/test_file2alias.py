"""Tests for usbemu.kernel.file2alias: modalias strings, file2alias patterns, modules.usbmap.

Expected aliases come from the reference table (linux-usb-facts.md §2.2) and from running
the v6.12 file2alias algorithm (do_usb_entry_multi / do_usb_entry / incbcd) compiled as C.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usbemu.core.devtable import (
    MatchFlag,
    UsbDeviceId,
    is_terminator,
    match_device,
    match_one_id,
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
from usbemu.kernel import file2alias
from usbemu.kernel.file2alias import (
    alias_matches,
    interface_modalias,
    modules_alias_lines,
    usb_aliases,
    usbmap_header,
    usbmap_line,
)
from usbemu.spec.descriptors import DeviceDescriptor, InterfaceDescriptor


def _tail(d: str = "*") -> str:
    return f"d{d}dc*dsc*dp*ic*isc*ip*in*"


V = "usb:v1234p5678"

# Every example of the reference table §2.2, then more cases checked against compiled C.
ALIAS_CASES: list[tuple[str, UsbDeviceId, list[str]]] = [
    ("USB_DEVICE", usb_device(0x0403, 0x6001), ["usb:v0403p6001d*dc*dsc*dp*ic*isc*ip*in*"]),
    ("USB_INTERFACE_INFO", usb_interface_info(3, 1, 2),
     ["usb:v*p*d*dc*dsc*dp*ic03isc01ip02in*"]),
    ("USB_DEVICE_INFO", usb_device_info(9, 0, 0), ["usb:v*p*d*dc09dsc00dp00ic*isc*ip*in*"]),
    ("USB_DEVICE_AND_INTERFACE_INFO", usb_device_and_interface_info(0x12D1, 0x1506, 0xFF, 1, 1),
     ["usb:v12D1p1506d*dc*dsc*dp*icFFisc01ip01in*"]),
    ("USB_VENDOR_AND_INTERFACE_INFO", usb_vendor_and_interface_info(0x0525, 0xFF, 0, 0),
     ["usb:v0525p*d*dc*dsc*dp*icFFisc00ip00in*"]),
    ("USB_DEVICE_INTERFACE_NUMBER", usb_device_interface_number(0x1199, 0x68C0, 8),
     ["usb:v1199p68C0d*dc*dsc*dp*ic*isc*ip*in08*"]),
    ("USB_DEVICE_VER-single", usb_device_ver(0x054C, 0x0010, 0x0410, 0x0410),
     ["usb:v054Cp0010d0410dc*dsc*dp*ic*isc*ip*in*"]),
    ("USB_DEVICE_VER-full-bcd-range", usb_device_ver(0x1234, 0x5678, 0x0000, 0x9999),
     [V + _tail("*")]),
    ("USB_DEVICE_VER-0100-0199", usb_device_ver(0x1234, 0x5678, 0x0100, 0x0199),
     [V + _tail("01*")]),
    ("USB_DEVICE_VER-0105-0213", usb_device_ver(0x1234, 0x5678, 0x0105, 0x0213),
     [V + _tail("010[5-9]"), V + _tail("021[0-3]"), V + _tail("01[1-9]*"),
      V + _tail("020*")]),
    ("DEV_LO-only-0200",
     UsbDeviceId(MatchFlag.DEVICE | MatchFlag.DEV_LO, 0x1234, 0x5678, bcdDevice_lo=0x0200),
     [V + _tail("0[2-9]*"), V + _tail("[1-9]*")]),
    ("quirk-0100-0109", usb_device_ver(0x1234, 0x5678, 0x0100, 0x0109), [V + _tail("010")]),
    # -- further cases, verified against the compiled C algorithm --
    ("DEV_HI-only-0213",
     UsbDeviceId(MatchFlag.DEVICE | MatchFlag.DEV_HI, 0x1234, 0x5678, bcdDevice_hi=0x0213),
     [V + _tail("021[0-3]"), V + _tail("020*"), V + _tail("0[0-1]*")]),
    ("DEV_LO-only-0000",
     UsbDeviceId(MatchFlag.DEVICE | MatchFlag.DEV_LO, 0x1234, 0x5678), [V + _tail("*")]),
    ("bcd-0000-0099", usb_device_ver(0x1234, 0x5678, 0x0000, 0x0099), [V + _tail("00*")]),
    ("bcd-0199-0200", usb_device_ver(0x1234, 0x5678, 0x0199, 0x0200),
     [V + _tail("0199"), V + _tail("0200")]),
    ("bcd-0001-9998", usb_device_ver(0x1234, 0x5678, 0x0001, 0x9998),
     [V + _tail("000[1-9]"), V + _tail("999[0-8]"), V + _tail("00[1-9]*"),
      V + _tail("99[0-8]*"), V + _tail("0[1-9]*"), V + _tail("9[0-8]*"),
      V + _tail("[1-8]*")]),
    ("hex-0000-00ff", usb_device_ver(0x1234, 0x5678, 0x0000, 0x00FF), [V + _tail("00*")]),
    ("hex-1005-100c", usb_device_ver(0x1234, 0x5678, 0x1005, 0x100C),
     [V + _tail("100[5-9A-C]")]),
    ("hex-1009-100a", usb_device_ver(0x1234, 0x5678, 0x1009, 0x100A),
     [V + _tail("100[9A]")]),
    ("hex-1000-100a", usb_device_ver(0x1234, 0x5678, 0x1000, 0x100A),
     [V + _tail("100[0-9A]")]),
    ("hex-100b-100f", usb_device_ver(0x1234, 0x5678, 0x100B, 0x100F),
     [V + _tail("100[B-F]")]),
    ("hex-0a00-0bff", usb_device_ver(0x1234, 0x5678, 0x0A00, 0x0BFF), [V + _tail("0[A-B]*")]),
    ("hex-00a5-0123", usb_device_ver(0x1234, 0x5678, 0x00A5, 0x0123),
     [V + _tail("00A[5-9A-F]"), V + _tail("012[0-3]"), V + _tail("00[B-F]*"),
      V + _tail("01[0-1]*")]),
    ("hex-DEV_LO-only-a000",
     UsbDeviceId(MatchFlag.DEVICE | MatchFlag.DEV_LO, 0x1234, 0x5678, bcdDevice_lo=0xA000),
     [V + _tail("[A-F]*")]),
    ("range-lo-above-hi", usb_device_ver(0x1234, 0x5678, 0x0200, 0x0100), []),
    # -- the no-alias rule and the final '*' --
    ("catch-all-driver_info", UsbDeviceId(driver_info=1), []),
    ("all-zero", UsbDeviceId(), []),
    ("device-info-000", usb_device_info(0, 0, 0), []),
    ("interface-info-class-0", usb_interface_info(0, 1, 2), []),
    ("subclass-only", UsbDeviceId(MatchFlag.INT_SUBCLASS, bInterfaceSubClass=6), []),
    ("flags-with-zero-ids", UsbDeviceId(MatchFlag.DEVICE), []),
    ("vendor-flag-without-value", UsbDeviceId(MatchFlag.VENDOR, bInterfaceClass=3),
     ["usb:v0000p*d*dc*dsc*dp*ic*isc*ip*in*"]),
    ("device-interface-class", usb_device_interface_class(0x0BDA, 0x8153, 0xFF),
     ["usb:v0BDAp8153d*dc*dsc*dp*icFFisc*ip*in*"]),
    ("device-interface-protocol", usb_device_interface_protocol(0x2C7C, 0x0125, 0x30),
     ["usb:v2C7Cp0125d*dc*dsc*dp*ic*isc*ip30in*"]),
    ("every-flag",
     UsbDeviceId(0x07FF, 0xABCD, 0xEF01, 0x0100, 0x0100, 1, 2, 3, 4, 5, 6, 7),
     ["usb:vABCDpEF01d0100dc01dsc02dp03ic04isc05ip06in07*"]),
    ("unflagged-values-are-stars", UsbDeviceId(0, 0xABCD, 0xEF01, 1, 2, 3, 4, 5, 6, 7, 8, 9),
     ["usb:v*p*d*dc*dsc*dp*ic*isc*ip*in*"]),
]


@pytest.mark.parametrize(("name", "entry", "aliases"), ALIAS_CASES,
                         ids=[c[0] for c in ALIAS_CASES])
def test_usb_aliases(name: str, entry: UsbDeviceId, aliases: list[str]) -> None:
    assert usb_aliases(entry) == aliases


def test_quirk_alias_matches_no_modalias() -> None:
    (pattern,) = usb_aliases(usb_device_ver(0x1234, 0x5678, 0x0100, 0x0109))
    alt = InterfaceDescriptor(bInterfaceNumber=0)
    for bcd in range(0x0100, 0x010A):
        dev = DeviceDescriptor(0x1234, 0x5678, bcdDevice=bcd)
        assert not alias_matches(pattern, interface_modalias(dev, alt))


def _bcd_values() -> list[int]:
    return [int(f"{n:04d}", 16) for n in range(0, 10000)]


@pytest.mark.parametrize("entry", [
    usb_device_ver(0x1234, 0x5678, 0x0105, 0x0213),
    usb_device_ver(0x1234, 0x5678, 0x0001, 0x9998),
    usb_device_ver(0x1234, 0x5678, 0x0199, 0x0200),
    usb_device_ver(0x1234, 0x5678, 0x0000, 0x9999),
    UsbDeviceId(MatchFlag.DEVICE | MatchFlag.DEV_LO, 0x1234, 0x5678, bcdDevice_lo=0x0200),
    UsbDeviceId(MatchFlag.DEVICE | MatchFlag.DEV_HI, 0x1234, 0x5678, bcdDevice_hi=0x0213),
], ids=["0105-0213", "0001-9998", "0199-0200", "0000-9999", "lo-0200", "hi-0213"])
def test_bcd_aliases_agree_with_match_device(entry: UsbDeviceId) -> None:
    """Over every BCD bcdDevice, some alias matches the modalias iff the entry matches."""
    patterns = usb_aliases(entry)
    alt = InterfaceDescriptor(0xFF, 0, 0, bInterfaceNumber=0)
    for bcd in _bcd_values():
        dev = DeviceDescriptor(0x1234, 0x5678, bcdDevice=bcd)
        modalias = interface_modalias(dev, alt)
        by_alias = any(alias_matches(p, modalias) for p in patterns)
        assert by_alias is match_device(dev, entry), hex(bcd)


def test_hex_aliases_agree_with_match_device() -> None:
    entry = usb_device_ver(0x1234, 0x5678, 0x00A5, 0x0123)
    patterns = usb_aliases(entry)
    alt = InterfaceDescriptor(bInterfaceNumber=0)
    for bcd in range(0x0000, 0x0300):
        dev = DeviceDescriptor(0x1234, 0x5678, bcdDevice=bcd)
        modalias = interface_modalias(dev, alt)
        assert any(alias_matches(p, modalias) for p in patterns) is match_device(dev, entry)


# -- interface modalias ------------------------------------------------------------------------

MODALIAS_CASES = [
    ("ehci-root-hub", DeviceDescriptor(0x1D6B, 0x0002, bcdDevice=0x0612, bDeviceClass=9),
     InterfaceDescriptor(9, 0, 0, bInterfaceNumber=0),
     "usb:v1D6Bp0002d0612dc09dsc00dp00ic09isc00ip00in00"),
    ("upper-case-hex", DeviceDescriptor(0xABCD, 0xEF01, bcdDevice=0xA1B2, bDeviceClass=0xEF,
                                        bDeviceSubClass=0x02, bDeviceProtocol=0x01),
     InterfaceDescriptor(0xFF, 0xAB, 0xCD, bInterfaceNumber=0x1F),
     "usb:vABCDpEF01dA1B2dcEFdsc02dp01icFFiscABipCDin1F"),
    ("number-none", DeviceDescriptor(0x0403, 0x6001, bcdDevice=0x0600),
     InterfaceDescriptor(0xFF, 0xFF, 0xFF),
     "usb:v0403p6001d0600dc00dsc00dp00icFFiscFFipFFin00"),
]


@pytest.mark.parametrize(("name", "dev", "alt", "expected"), MODALIAS_CASES,
                         ids=[c[0] for c in MODALIAS_CASES])
def test_interface_modalias(name: str, dev: DeviceDescriptor, alt: InterfaceDescriptor,
                            expected: str) -> None:
    assert interface_modalias(dev, alt) == expected
    assert "\n" not in interface_modalias(dev, alt)


MACRO_ENTRIES = [
    usb_device(0x0403, 0x6001),
    usb_device_ver(0x0403, 0x6001, 0x0500, 0x0700),
    usb_device_interface_class(0x0403, 0x6001, 0xFF),
    usb_device_interface_protocol(0x0403, 0x6001, 0xFF),
    usb_device_interface_number(0x0403, 0x6001, 0),
    usb_interface_info(0xFF, 0xFF, 0xFF),
    usb_device_and_interface_info(0x0403, 0x6001, 0xFF, 0xFF, 0xFF),
    usb_vendor_and_interface_info(0x0403, 0xFF, 0xFF, 0xFF),
]


@pytest.mark.parametrize("entry", MACRO_ENTRIES)
def test_every_macro_alias_matches_its_device_and_not_another(entry: UsbDeviceId) -> None:
    dev = DeviceDescriptor(0x0403, 0x6001, bcdDevice=0x0600)
    alt = InterfaceDescriptor(0xFF, 0xFF, 0xFF, bInterfaceNumber=0)
    other = DeviceDescriptor(0x0404, 0x6002, bcdDevice=0x0800)
    other_alt = InterfaceDescriptor(0x08, 0x06, 0x50, bInterfaceNumber=1)
    patterns = usb_aliases(entry)
    assert patterns
    assert match_one_id(dev, alt, entry)
    assert any(alias_matches(p, interface_modalias(dev, alt)) for p in patterns)
    assert not match_one_id(other, other_alt, entry)
    assert not any(alias_matches(p, interface_modalias(other, other_alt)) for p in patterns)


def test_alias_matches_is_fnmatch_case_sensitive() -> None:
    modalias = "usb:v0BDAp8153d3000dc00dsc00dp00icFFiscFFip00in00"
    assert alias_matches("usb:v0BDAp8153d*dc*dsc*dp*icFFisc*ip*in*", modalias)
    assert not alias_matches("usb:v0bdap8153d*dc*dsc*dp*icFFisc*ip*in*", modalias)
    assert alias_matches("usb:v0BDAp8153d3[0-9]*dc*", modalias)
    assert not alias_matches("usb:v0BDAp8153d3[1-9]*dc*", modalias)


# -- modules.alias -----------------------------------------------------------------------------


def test_modules_alias_lines_stop_at_terminator() -> None:
    table = [
        usb_device(0x0403, 0x6001),
        usb_interface_info(3, 1, 2),
        UsbDeviceId(driver_info=5),              # catch-all: not a terminator, no alias
        usb_device_ver(0x1234, 0x5678, 0x0105, 0x0213),
        UsbDeviceId(),
        usb_device(0x9999, 0x9999),              # after the terminator: ignored
    ]
    assert modules_alias_lines("ftdi_sio", table) == [
        "alias usb:v0403p6001d*dc*dsc*dp*ic*isc*ip*in* ftdi_sio",
        "alias usb:v*p*d*dc*dsc*dp*ic03isc01ip02in* ftdi_sio",
        "alias usb:v1234p5678d010[5-9]dc*dsc*dp*ic*isc*ip*in* ftdi_sio",
        "alias usb:v1234p5678d021[0-3]dc*dsc*dp*ic*isc*ip*in* ftdi_sio",
        "alias usb:v1234p5678d01[1-9]*dc*dsc*dp*ic*isc*ip*in* ftdi_sio",
        "alias usb:v1234p5678d020*dc*dsc*dp*ic*isc*ip*in* ftdi_sio",
    ]


def test_modules_alias_lines_without_terminator_and_empty() -> None:
    table = [usb_device(0x0403, 0x6001), usb_device(0x0403, 0x6010)]
    assert modules_alias_lines("ftdi_sio", table) == [
        "alias usb:v0403p6001d*dc*dsc*dp*ic*isc*ip*in* ftdi_sio",
        "alias usb:v0403p6010d*dc*dsc*dp*ic*isc*ip*in* ftdi_sio",
    ]
    assert modules_alias_lines("x", []) == []
    assert modules_alias_lines("x", [usb_device_info(0, 0, 0), *table]) == []


# -- modules.usbmap ----------------------------------------------------------------------------


def test_usbmap_header() -> None:
    assert usbmap_header() == (
        "# usb module         match_flags idVendor idProduct bcdDevice_lo bcdDevice_hi "
        "bDeviceClass bDeviceSubClass bDeviceProtocol bInterfaceClass bInterfaceSubClass "
        "bInterfaceProtocol driver_info\n")


@pytest.mark.parametrize(("module", "entry", "line"), [
    ("bfusb", usb_device(0x057C, 0x2200),
     "bfusb                0x0003      0x057c   0x2200    0x0000       0x0000       0x00"
     "         0x00            0x00            0x00            0x00               0x00"
     "               0x0\n"),
    ("usbhid", usb_interface_info(3, 1, 2, driver_info=99),
     "usbhid               0x0380      0x0000   0x0000    0x0000       0x0000       0x00"
     "         0x00            0x00            0x03            0x01               0x02"
     "               0x0\n"),
    ("a_module_name_longer_than_20", UsbDeviceId(0x07FF, 0xABCD, 0xEF01, 0x0100, 0x0200,
                                                 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07),
     "a_module_name_longer_than_20 0x07ff      0xabcd   0xef01    0x0100       0x0200"
     "       0xa1         0xb2            0xc3            0xd4            0xe5"
     "               0xf6               0x0\n"),
])
def test_usbmap_line(module: str, entry: UsbDeviceId, line: str) -> None:
    assert usbmap_line(module, entry) == line


# -- consistency with the USB core's flag values ----------------------------------------------

SINGLE_FLAGS = ["VENDOR", "PRODUCT", "DEV_LO", "DEV_HI", "DEV_CLASS", "DEV_SUBCLASS",
                "DEV_PROTOCOL", "INT_CLASS", "INT_SUBCLASS", "INT_PROTOCOL", "INT_NUMBER"]


@pytest.mark.parametrize("name", SINGLE_FLAGS)
def test_private_flag_bits_equal_matchflag(name: str) -> None:
    assert getattr(file2alias, f"_MATCH_{name}") == MatchFlag[name]


FIELD_ROWS = file2alias._HEAD_FIELDS + file2alias._TAIL_FIELDS


@pytest.mark.parametrize(("prefix", "flag", "field", "width"), FIELD_ROWS,
                         ids=[row[0] for row in FIELD_ROWS])
def test_each_flag_writes_its_field(prefix: str, flag: int, field: str, width: int) -> None:
    # idVendor non-zero (unflagged unless it is the field under test) so an alias exists
    entry = UsbDeviceId(flag, **{"idVendor": 0x0A, field: 0x0A})
    (alias,) = usb_aliases(entry)
    assert f"{prefix}{0x0A:0{width}X}" in alias
    # nine unflagged fields are '*'; the final '*' is added only when the alias ends in "in0A"
    assert alias.count("*") == (10 if prefix == "in" else 9)


def test_field_rows_cover_every_non_bcd_flag() -> None:
    assert {MatchFlag(row[1]).name for row in FIELD_ROWS} == set(SINGLE_FLAGS) - {"DEV_LO",
                                                                                 "DEV_HI"}


TERMINATOR_SAMPLES = [
    UsbDeviceId(), UsbDeviceId(driver_info=None), UsbDeviceId(driver_info=0),
    UsbDeviceId(driver_info=1), UsbDeviceId(driver_info=object()), UsbDeviceId(driver_info={}),
    usb_device_info(0, 0, 0), usb_device_info(9, 0, 0), usb_interface_info(0, 1, 2),
    usb_interface_info(3, 1, 2), UsbDeviceId(idVendor=1), UsbDeviceId(idProduct=1),
    UsbDeviceId(MatchFlag.INT_NUMBER, bInterfaceNumber=3),
]


@pytest.mark.parametrize("entry", TERMINATOR_SAMPLES)
def test_terminator_rule_is_the_core_one(entry: UsbDeviceId) -> None:
    assert file2alias._is_terminator(entry) is is_terminator(entry)


ids_strategy = st.builds(
    UsbDeviceId, st.integers(0, 0x7FF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFF),
    st.integers(0, 0xFF), st.integers(0, 0xFF), st.integers(0, 0xFF), st.integers(0, 0xFF),
    st.integers(0, 0xFF), st.integers(0, 0xFF))


@given(ids_strategy)
def test_alias_shape(entry: UsbDeviceId) -> None:
    for alias in usb_aliases(entry):
        assert alias.startswith("usb:v") and alias.endswith("*")
        for prefix in ("p", "d", "dc", "dsc", "dp", "ic", "isc", "ip", "in"):
            assert prefix in alias
    if entry.match_flags & MatchFlag.DEV_RANGE == 0 and (
            entry.idVendor or entry.idProduct or entry.bDeviceClass or entry.bInterfaceClass):
        assert len(usb_aliases(entry)) == 1
