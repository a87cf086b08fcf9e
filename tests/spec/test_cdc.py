"""Tests for usbemu.spec.cdc: golden bytes of the functional descriptors, the line coding and
the SERIAL_STATE notification, and cdc_parse_cdc_header's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usbemu.spec.cdc import (
    USB_CDC_NOTIFICATION_SIZE,
    AcmCapability,
    CdcAcmDescriptor,
    CdcCallManagementDescriptor,
    CdcHeaderDescriptor,
    CdcSubtype,
    CdcUnionDescriptor,
    CharFormat,
    LineCoding,
    ParityType,
    SerialState,
    acm_functional_descriptors,
    parse_cdc_header,
    serial_state_notification,
)
from usbemu.spec.config import Notice
from usbemu.spec.descriptors import DescriptorError

GOLDEN_ACM_EXTRA = bytes((
    0x05,        # bFunctionLength
    0x24,        # bDescriptorType (CS_INTERFACE)
    0x00,        # bDescriptorSubtype (header)
    0x10, 0x01,  # bcdCDC 1.10
    0x05,        # bFunctionLength
    0x24,        # bDescriptorType (CS_INTERFACE)
    0x01,        # bDescriptorSubtype (call management)
    0x00,        # bmCapabilities
    0x01,        # bDataInterface
    0x04,        # bFunctionLength
    0x24,        # bDescriptorType (CS_INTERFACE)
    0x02,        # bDescriptorSubtype (ACM)
    0x06,        # bmCapabilities (line coding and serial state, send break)
    0x05,        # bFunctionLength
    0x24,        # bDescriptorType (CS_INTERFACE)
    0x06,        # bDescriptorSubtype (union)
    0x00,        # bMasterInterface
    0x01,        # bSlaveInterface0
))

GOLDEN_LINE_CODING = bytes((
    0x00, 0xC2, 0x01, 0x00,  # dwDTERate 115200
    0x02,        # bCharFormat (2 stop bits)
    0x01,        # bParityType (odd)
    0x07,        # bDataBits
))

GOLDEN_NOTIFICATION = bytes((
    0xA1,        # bmRequestType (device-to-host, class, interface)
    0x20,        # bNotification (SERIAL_STATE)
    0x00, 0x00,  # wValue
    0x02, 0x00,  # wIndex: interface 2
    0x02, 0x00,  # wLength 2
    0x43, 0x00,  # DCD | DSR | OVERRUN
))


def test_acm_functional_descriptors_golden_bytes() -> None:
    assert acm_functional_descriptors() == GOLDEN_ACM_EXTRA
    assert CdcAcmDescriptor().bmCapabilities == AcmCapability.LINE | AcmCapability.BREAK


@pytest.mark.parametrize("desc", [
    CdcHeaderDescriptor(0x0120), CdcCallManagementDescriptor(0x03, 2), CdcAcmDescriptor(0x0F),
    CdcUnionDescriptor(0, (1, 2, 3))])
def test_functional_descriptors_round_trip(desc: object) -> None:
    raw = desc.to_bytes()  # type: ignore[attr-defined]
    assert raw[0] == len(raw) and raw[1] == 0x24
    assert type(desc).from_bytes(raw) == desc  # type: ignore[attr-defined]


def test_functional_descriptor_errors_name_the_problem() -> None:
    with pytest.raises(DescriptorError, match="header descriptor: needs 5 bytes"):
        CdcHeaderDescriptor.from_bytes(b"\x04\x24\x00\x10")
    with pytest.raises(DescriptorError, match="expected 0x24/0x02"):
        CdcAcmDescriptor.from_bytes(b"\x04\x24\x06\x00")
    with pytest.raises(ValueError, match="at least one slave"):
        CdcUnionDescriptor(0, ()).to_bytes()
    with pytest.raises(ValueError, match="bmCapabilities=256"):
        CdcAcmDescriptor(256).to_bytes()
    with pytest.raises(ValueError, match="bcdCDC"):
        CdcHeaderDescriptor(0x10000).to_bytes()


def test_line_coding_golden_bytes() -> None:
    coding = LineCoding(115200, CharFormat.STOP_2, ParityType.ODD, 7)
    assert coding.to_bytes() == GOLDEN_LINE_CODING
    assert LineCoding.from_bytes(GOLDEN_LINE_CODING) == coding
    with pytest.raises(ValueError, match="7 bytes, got 6"):
        LineCoding.from_bytes(GOLDEN_LINE_CODING[:6])
    with pytest.raises(ValueError, match="dwDTERate"):
        LineCoding(1 << 32).to_bytes()
    with pytest.raises(ValueError, match="bDataBits"):
        LineCoding(9600, bDataBits=300).to_bytes()


def test_serial_state_notification_golden_bytes() -> None:
    state = SerialState.DCD | SerialState.DSR | SerialState.OVERRUN
    assert serial_state_notification(2, state) == GOLDEN_NOTIFICATION
    assert USB_CDC_NOTIFICATION_SIZE == 8
    with pytest.raises(ValueError, match="interface"):
        serial_state_notification(1 << 16, 0)
    with pytest.raises(ValueError, match="state"):
        serial_state_notification(0, 1 << 16)


# -- cdc_parse_cdc_header -------------------------------------------------------------------------


def test_parse_finds_the_acm_descriptors() -> None:
    parsed = parse_cdc_header(GOLDEN_ACM_EXTRA)
    assert parsed.result == 4 and parsed.notices == () and parsed.raw == {}
    assert parsed.header == CdcHeaderDescriptor(0x0110)
    assert parsed.call_management == CdcCallManagementDescriptor(0, 1)
    assert parsed.acm == CdcAcmDescriptor(6)
    assert parsed.union == CdcUnionDescriptor(0, (1,))


def test_parse_skips_garbage_as_linux_does() -> None:
    other = b"\x04\x21\x00\x00"  # not CS_INTERFACE
    parsed = parse_cdc_header(b"\x00" + other + GOLDEN_ACM_EXTRA)
    assert parsed.result == 4
    assert [str(n) for n in parsed.notices] == ["skipping garbage byte", "skipping garbage"]


def test_parse_stops_at_an_impossible_length() -> None:
    parsed = parse_cdc_header(GOLDEN_ACM_EXTRA[:5] + b"\x09\x24\x02\x06")
    assert parsed.result == 1 and parsed.acm is None
    assert parsed.notices == (Notice("err", "invalid descriptor buffer length"),)
    assert parse_cdc_header(b"\x02\x24").notices == parsed.notices


def test_parse_ignores_short_and_unknown_descriptors() -> None:
    short_header = b"\x04\x24\x00\x10"
    unknown = b"\x04\x24\x30\x00"
    parsed = parse_cdc_header(short_header + unknown + CdcAcmDescriptor(2).to_bytes())
    assert parsed.result == 1 and parsed.header is None and parsed.acm == CdcAcmDescriptor(2)
    assert parsed.notices == (Notice("debug", "Ignoring descriptor: type 30, length 4d"),)


def test_a_second_union_is_skipped_and_a_second_header_fails() -> None:
    union2 = CdcUnionDescriptor(2, (3,)).to_bytes()
    parsed = parse_cdc_header(GOLDEN_ACM_EXTRA + union2)
    assert parsed.result == 4 and parsed.union == CdcUnionDescriptor(0, (1,))
    assert parsed.notices == (Notice("err", "More than one union descriptor, skipping ..."),)
    failed = parse_cdc_header(GOLDEN_ACM_EXTRA + CdcHeaderDescriptor().to_bytes())
    assert failed.result == -22 and failed.header is None


def test_repeated_descriptors_replace_and_others_are_kept_raw() -> None:
    country = bytes((6, 0x24, CdcSubtype.COUNTRY, 1, 0x09, 0x04))
    short_mbim_extended = bytes((5, 0x24, CdcSubtype.MBIM_EXTENDED, 0, 1))
    phonet = b"\x03\x24\xab"
    parsed = parse_cdc_header(CdcAcmDescriptor(2).to_bytes() + CdcAcmDescriptor(6).to_bytes()
                              + country + short_mbim_extended + phonet)
    assert parsed.result == 5 and parsed.acm == CdcAcmDescriptor(6)
    assert parsed.raw == {CdcSubtype.COUNTRY: country}
    assert parsed.phonet_magic_present


@given(st.binary(max_size=64))
def test_parse_never_raises(data: bytes) -> None:
    parsed = parse_cdc_header(data)
    assert parsed.result <= len(data)


@given(st.integers(0, 0xFF), st.integers(0, 0xFF), st.lists(st.integers(0, 0xFF), min_size=1,
                                                            max_size=8))
def test_built_descriptors_parse_back(caps: int, master: int, slaves: list[int]) -> None:
    raw = (CdcHeaderDescriptor().to_bytes() + CdcAcmDescriptor(caps).to_bytes()
           + CdcUnionDescriptor(master, tuple(slaves)).to_bytes())
    parsed = parse_cdc_header(raw)
    assert parsed.result == 3
    assert parsed.acm == CdcAcmDescriptor(caps)
    assert parsed.union == CdcUnionDescriptor(master, tuple(slaves))
