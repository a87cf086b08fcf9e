"""Tests for usbemu.spec.ch9: constants, SetupPacket, speed/state names, maxp helpers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usbemu.spec.ch9 import (
    USB_ENDPOINT_MAXP_MASK,
    ClassCode,
    ConfigAttributes,
    DescriptorSize,
    DescriptorType,
    DeviceState,
    DeviceStatus,
    Direction,
    EndpointStatus,
    EndpointType,
    Feature,
    Recipient,
    Request,
    RequestType,
    SetupPacket,
    Speed,
    TestSelector,
    endpoint_is_in,
    endpoint_number,
    maxp_mult,
    maxp_packet,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
FIELDS = ("bmRequestType", "bRequest", "wValue", "wIndex", "wLength")
LIMITS = {"bmRequestType": 0xFF, "bRequest": 0xFF, "wValue": 0xFFFF, "wIndex": 0xFFFF,
          "wLength": 0xFFFF}


# -- SetupPacket: codec -------------------------------------------------------------------------


@settings(deadline=None, max_examples=200)
@given(u8, u8, u16, u16, u16)
def test_setup_pack_unpack_round_trip(rt: int, req: int, val: int, idx: int, ln: int) -> None:
    setup = SetupPacket(rt, req, val, idx, ln)
    raw = bytes(setup)
    assert len(raw) == SetupPacket.SIZE == 8
    assert raw == setup.pack()
    assert SetupPacket.unpack(raw) == setup
    assert SetupPacket.unpack(bytearray(raw)) == setup
    assert SetupPacket.unpack(memoryview(raw)) == setup


@settings(deadline=None, max_examples=100)
@given(st.binary(min_size=8, max_size=8))
def test_setup_unpack_pack_round_trip_any_8_bytes(raw: bytes) -> None:
    assert bytes(SetupPacket.unpack(raw)) == raw


def test_setup_packs_little_endian_in_wire_order() -> None:
    # GET_DESCRIPTOR(DEVICE), wLength 18: the very first request of an enumeration.
    assert bytes(SetupPacket(0x80, 0x06, 0x0100, 0x0000, 0x0012)) == bytes.fromhex(
        "80 06 00 01 00 00 12 00")
    assert bytes(SetupPacket(0x21, 0x09, 0x0203, 0x0405, 0x0607)) == bytes.fromhex(
        "21 09 03 02 05 04 07 06")


def test_setup_defaults_are_zero() -> None:
    setup = SetupPacket(0x00, 0x05)
    assert (setup.wValue, setup.wIndex, setup.wLength) == (0, 0, 0)


@pytest.mark.parametrize("length", [0, 1, 7, 9, 64])
def test_setup_unpack_rejects_wrong_length(length: int) -> None:
    with pytest.raises(ValueError, match=f"8 bytes, got {length}"):
        SetupPacket.unpack(bytes(length))


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize("delta", [1, -1])
def test_setup_rejects_out_of_range_fields(name: str, delta: int) -> None:
    values = dict.fromkeys(FIELDS, 0)
    values[name] = LIMITS[name] + 1 if delta > 0 else -1
    with pytest.raises(ValueError, match=f"SetupPacket.{name}="):
        SetupPacket(**values)


@pytest.mark.parametrize("name", FIELDS)
def test_setup_accepts_field_limits(name: str) -> None:
    values = dict.fromkeys(FIELDS, 0)
    values[name] = LIMITS[name]
    assert getattr(SetupPacket(**values), name) == LIMITS[name]


def test_setup_is_frozen_and_hashable() -> None:
    setup = SetupPacket(0x80, 6, 0x100, 0, 18)
    with pytest.raises(AttributeError):
        setup.wLength = 64  # type: ignore[misc]
    assert {setup, SetupPacket(0x80, 6, 0x100, 0, 18)} == {setup}


def test_setup_build_composes_bm_request_type() -> None:
    setup = SetupPacket.build(Direction.IN, RequestType.CLASS, Recipient.INTERFACE, 0x01,
                              value=0x0100, index=2, length=8)
    assert setup == SetupPacket(0xA1, 0x01, 0x0100, 2, 8)
    out = SetupPacket.build(Direction.OUT, RequestType.VENDOR, Recipient.ENDPOINT, 0x33)
    assert out == SetupPacket(0x42, 0x33, 0, 0, 0)


# -- SetupPacket: properties --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rt", "direction", "rtype", "recipient"),
    [
        (0x00, Direction.OUT, RequestType.STANDARD, Recipient.DEVICE),
        (0x80, Direction.IN, RequestType.STANDARD, Recipient.DEVICE),
        (0x81, Direction.IN, RequestType.STANDARD, Recipient.INTERFACE),
        (0x02, Direction.OUT, RequestType.STANDARD, Recipient.ENDPOINT),
        (0x21, Direction.OUT, RequestType.CLASS, Recipient.INTERFACE),
        (0xA3, Direction.IN, RequestType.CLASS, Recipient.OTHER),
        (0xC0, Direction.IN, RequestType.VENDOR, Recipient.DEVICE),
        (0x60, Direction.OUT, RequestType.RESERVED, Recipient.DEVICE),
    ],
)
def test_setup_properties(rt: int, direction: Direction, rtype: RequestType,
                          recipient: Recipient) -> None:
    setup = SetupPacket(rt, 0)
    assert setup.direction is direction
    assert setup.type is rtype
    assert setup.recipient == recipient
    assert setup.is_in is (direction is Direction.IN)


def test_setup_reserved_recipient_is_a_plain_int() -> None:
    setup = SetupPacket(0x9F, 0)
    assert setup.recipient == 0x1F
    assert not isinstance(setup.recipient, Recipient)


@settings(deadline=None, max_examples=100)
@given(u8)
def test_setup_bm_request_type_decomposes(rt: int) -> None:
    setup = SetupPacket(rt, 0)
    assert setup.direction | setup.type | setup.recipient == rt


@pytest.mark.parametrize(
    ("setup", "text"),
    [
        (SetupPacket(0x80, 0x06, 0x0100, 0x0000, 0x0012), "80 06 0100 0000 0012"),
        (SetupPacket(0x00, 0x05, 0x0002, 0x0000, 0x0000), "00 05 0002 0000 0000"),
        (SetupPacket(0xA1, 0xFE, 0xABCD, 0x0409, 0xFFFF), "a1 fe abcd 0409 ffff"),
        (SetupPacket(0x00, 0x00), "00 00 0000 0000 0000"),
    ],
)
def test_setup_str_is_usbmon_notation(setup: SetupPacket, text: str) -> None:
    assert str(setup) == text


# -- constants: Linux's values ------------------------------------------------------------------


def test_request_codes_match_ch9_h() -> None:
    assert [int(r) for r in Request] == [0, 1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 0x30, 0x31]


def test_descriptor_types_match_ch9_h() -> None:
    assert DescriptorType.DEVICE == 1
    assert DescriptorType.CONFIG == 2
    assert DescriptorType.STRING == 3
    assert DescriptorType.INTERFACE == 4
    assert DescriptorType.ENDPOINT == 5
    assert DescriptorType.DEVICE_QUALIFIER == 6
    assert DescriptorType.OTHER_SPEED_CONFIG == 7
    assert DescriptorType.INTERFACE_ASSOCIATION == 0x0B
    assert DescriptorType.BOS == 0x0F
    assert DescriptorType.DEVICE_CAPABILITY == 0x10
    assert DescriptorType.HID == 0x21
    assert DescriptorType.CS_INTERFACE == 0x24
    assert DescriptorType.HUB == 0x29
    assert DescriptorType.SS_ENDPOINT_COMP == 0x30


def test_descriptor_sizes_match_ch9_h() -> None:
    assert (DescriptorSize.DEVICE, DescriptorSize.CONFIG, DescriptorSize.INTERFACE,
            DescriptorSize.ENDPOINT, DescriptorSize.ENDPOINT_AUDIO) == (18, 9, 9, 7, 9)
    assert (DescriptorSize.INTERFACE_ASSOCIATION, DescriptorSize.BOS,
            DescriptorSize.DEVICE_QUALIFIER, DescriptorSize.SS_ENDPOINT_COMP) == (8, 5, 10, 6)
    assert (DescriptorSize.USB_EXT_CAP, DescriptorSize.SS_CAP,
            DescriptorSize.CONTAINER_ID) == (7, 10, 20)


def test_feature_selectors_and_status_bits() -> None:
    assert (Feature.ENDPOINT_HALT, Feature.DEVICE_REMOTE_WAKEUP, Feature.TEST_MODE) == (0, 1, 2)
    assert (Feature.U1_ENABLE, Feature.U2_ENABLE, Feature.LTM_ENABLE) == (48, 49, 50)
    assert DeviceStatus.SELF_POWERED == 1 and DeviceStatus.REMOTE_WAKEUP == 2
    assert EndpointStatus.HALT == 1
    assert [int(t) for t in TestSelector] == [1, 2, 3, 4, 5]


def test_endpoint_types_class_codes_and_config_attributes() -> None:
    assert [int(t) for t in EndpointType] == [0, 1, 2, 3]
    assert (ClassCode.HID, ClassCode.MASS_STORAGE, ClassCode.HUB, ClassCode.MISC,
            ClassCode.VENDOR_SPEC) == (3, 8, 9, 0xEF, 0xFF)
    assert (ConfigAttributes.ONE, ConfigAttributes.SELF_POWERED,
            ConfigAttributes.REMOTE_WAKEUP, ConfigAttributes.BATTERY) == (0x80, 0x40, 0x20, 0x10)


# -- speed and state names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("speed", "value", "name"),
    [
        (Speed.UNKNOWN, 0, "UNKNOWN"),
        (Speed.LOW, 1, "low-speed"),
        (Speed.FULL, 2, "full-speed"),
        (Speed.HIGH, 3, "high-speed"),
        (Speed.WIRELESS, 4, "wireless"),
        (Speed.SUPER, 5, "super-speed"),
        (Speed.SUPER_PLUS, 6, "super-speed-plus"),
    ],
)
def test_speed_values_and_usb_speed_string(speed: Speed, value: int, name: str) -> None:
    assert int(speed) == value
    assert speed.linux_name == name


def test_speed_is_superspeed() -> None:
    assert [s for s in Speed if s.is_superspeed] == [Speed.SUPER, Speed.SUPER_PLUS]


@pytest.mark.parametrize(
    ("state", "value", "name"),
    [
        (DeviceState.NOTATTACHED, 0, "not attached"),
        (DeviceState.ATTACHED, 1, "attached"),
        (DeviceState.POWERED, 2, "powered"),
        (DeviceState.RECONNECTING, 3, "reconnecting"),
        (DeviceState.UNAUTHENTICATED, 4, "unauthenticated"),
        (DeviceState.DEFAULT, 5, "default"),
        (DeviceState.ADDRESS, 6, "addressed"),
        (DeviceState.CONFIGURED, 7, "configured"),
        (DeviceState.SUSPENDED, 8, "suspended"),
    ],
)
def test_device_state_values_and_usb_state_string(state: DeviceState, value: int,
                                                  name: str) -> None:
    assert int(state) == value
    assert state.linux_name == name


# -- endpoint address and wMaxPacketSize helpers ------------------------------------------------


@pytest.mark.parametrize(
    ("address", "number", "is_in"),
    [(0x00, 0, False), (0x80, 0, True), (0x81, 1, True), (0x02, 2, False), (0x8F, 15, True),
     (0x0F, 15, False), (0x70, 0, False)],
)
def test_endpoint_address_helpers(address: int, number: int, is_in: bool) -> None:
    assert endpoint_number(address) == number
    assert endpoint_is_in(address) is is_in


@pytest.mark.parametrize(
    ("wmaxp", "packet", "mult"),
    [
        (64, 64, 1),
        (512, 512, 1),
        (0x0400, 1024, 1),
        (0x0800 | 1024, 1024, 2),
        (0x1000 | 1024, 1024, 3),
        (0x1000 | 0x0400, 1024, 3),
        (0x07FF, 0x7FF, 1),
        (0x1800 | 8, 8, 4),  # reserved multiplier bits are passed through like Linux does
        (0xE000 | 64, 64, 1),  # bits 15..13 are neither size nor multiplier
    ],
)
def test_maxp_helpers(wmaxp: int, packet: int, mult: int) -> None:
    assert maxp_packet(wmaxp) == packet
    assert maxp_mult(wmaxp) == mult


@settings(deadline=None, max_examples=100)
@given(st.integers(0, 0x7FF), st.integers(0, 3))
def test_maxp_helpers_invert_the_encoding(size: int, extra: int) -> None:
    wmaxp = size | (extra << 11)
    assert maxp_packet(wmaxp) == size == wmaxp & USB_ENDPOINT_MAXP_MASK
    assert maxp_mult(wmaxp) == extra + 1


def test_setup_bytes_decode_through_a_cache_and_pack_fields_names_a_bad_field() -> None:
    raw = bytes(SetupPacket(0x80, 0x06, 0x0100, 0, 18))
    assert SetupPacket.unpack(raw) is SetupPacket.unpack(bytes(raw))
    assert SetupPacket.unpack(bytearray(raw)) == SetupPacket.unpack(raw)
    assert SetupPacket.pack_fields(0x80, 0x06, 0x0100, 0, 18) == raw
    with pytest.raises(ValueError, match=r"SetupPacket.wIndex=65536 is outside 0..0xffff"):
        SetupPacket.pack_fields(0x80, 0x06, 0x0100, 0x10000, 18)
