"""Reading a device as a host does (usbemu.emulated.clone.reader), against emulated models
through `model_control` on a bench."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usbemu.emulated.clone import (
    CloneData,
    ClonedDevice,
    CloneError,
    ControlTransfer,
    clone_data_of,
    clone_from_control,
    clone_model,
    model_control,
    on_bench,
    read_device,
)
from usbemu.emulated.clone.reader import string_indexes
from usbemu.emulated.models import BUILTIN_MODELS, load_model
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.keyboard import QEMU_KEYBOARD_REPORT_DESCRIPTOR, BootKeyboard
from usbemu.errors import Errno, UsbStall, UsbTimeout
from usbemu.spec.ch9 import DeviceState, Speed
from usbemu.spec.config import parse_configuration

Request = tuple[int, int, int, int, int]

TWO_LANGUAGE_DUMP = bytes.fromhex(
    "12 01 01 02 ff 00 00 40 34 12 78 56 00 01 01 02 03 01"
    "09 02 20 00 01 01 04 80 32 09 04 00 00 02 ff 00 00 05"
    "07 05 81 02 00 02 00 07 05 02 02 00 02 00")
TWO_LANGUAGES = CloneData(
    TWO_LANGUAGE_DUMP, Speed.HIGH, (0x0409, 0x0407),
    {0x0409: {1: "Example", 2: "Widget", 3: "0001", 4: "Default", 5: "Data"},
     0x0407: {1: "Beispiel", 2: "Ding", 3: "0001", 5: "Daten"}},
    qualifier=bytes.fromhex("0a 06 01 02 ff 00 00 40 01 00"),
    other_speed=(bytes.fromhex("09 07 20 00 01 01 04 80 32 09 04 00 00 02 ff 00 00 05"
                               "07 05 81 02 40 00 00 07 05 02 02 40 00 00"),),
    bos=bytes.fromhex("05 0f 0c 00 01 07 10 02 06 00 00 00"))


def recording(control: ControlTransfer, log: list[Request]) -> ControlTransfer:
    def record(*request: int) -> bytes:
        log.append(request)  # type: ignore[arg-type]
        return control(*request)
    return record


@pytest.mark.parametrize("name", sorted(BUILTIN_MODELS))
def test_the_reader_reads_every_builtin_model_as_its_descriptors_say(name: str) -> None:
    model = load_model(name)()
    expected = clone_data_of(model)
    with on_bench(model) as control:
        found = read_device(control, model.speed)
    assert (found.descriptors, found.speed, found.languages) == (
        expected.descriptors, expected.speed, expected.languages)
    assert (found.qualifier, found.other_speed, found.bos) == (
        expected.qualifier, expected.other_speed, expected.bos)
    assert (found.report_descriptors, found.hub_descriptor) == (
        expected.report_descriptors, expected.hub_descriptor)
    for langid in expected.languages:  # the strings the descriptors name, and only those
        named = dict(found.strings[langid])
        assert named == {i: t for i, t in expected.strings_in(langid).items() if i in named}
        assert all(1 <= i <= 255 for i in named)


def test_what_the_reader_reads_is_what_the_clone_carries() -> None:
    with on_bench(ClonedDevice(TWO_LANGUAGES)) as control:
        assert read_device(control, Speed.HIGH) == TWO_LANGUAGES


def test_a_keyboard_is_read_with_the_requests_a_host_sends() -> None:
    log: list[Request] = []
    keyboard = BootKeyboard()
    with on_bench(keyboard) as control:
        data = read_device(recording(control, log), keyboard.speed)
        assert keyboard.state is DeviceState.ADDRESS  # unconfigured again
    assert log == [
        (0x80, 6, 0x0100, 0, 18),
        (0x80, 6, 0x0200, 0, 9), (0x80, 6, 0x0200, 0, 34),
        # bcdUSB 0x0100: no qualifier, no other-speed configuration, no BOS
        (0x80, 6, 0x0300, 0, 255),
        *((0x80, 6, 0x0300 | i, 0x0409, 255) for i in (1, 4, 8, 11)),
        (0x80, 8, 0, 0, 1), (0x00, 9, 1, 0, 0),
        (0x81, 6, 0x2200, 0, 63),  # wDescriptorLength of the HID descriptor
        (0x00, 9, 0, 0, 0),
    ]
    assert data.report_descriptors == {0: QEMU_KEYBOARD_REPORT_DESCRIPTOR}
    assert data.strings == {0x0409: {1: "QEMU", 4: "QEMU USB Keyboard", 8: "HID Keyboard",
                                     11: "68284"}}


def test_a_hub_is_read_with_its_qualifier_other_speed_and_hub_descriptor() -> None:
    log: list[Request] = []
    hub = Hub()
    with on_bench(hub) as control:
        data = read_device(recording(control, log), Speed.HIGH)
    assert (0x80, 6, 0x0600, 0, 10) in log
    assert [r for r in log if r[2] >> 8 == 7] == [(0x80, 6, 0x0700, 0, 9),
                                                  (0x80, 6, 0x0700, 0, 25)]
    assert log[-3:] == [(0x00, 9, 1, 0, 0), (0xA0, 6, 0x2900, 0, 255), (0x00, 9, 0, 0, 0)]
    assert data.hub_descriptor == hub.hub_descriptor.to_bytes()


def test_a_configured_device_is_read_in_its_configuration_and_left_so() -> None:
    log: list[Request] = []
    keyboard = BootKeyboard()
    with on_bench(keyboard) as control:
        control(0x00, 9, 1, 0, 0)
        read_device(recording(control, log), keyboard.speed)
        assert keyboard.state is DeviceState.CONFIGURED
    assert [r for r in log if r[1] == 9] == []


def replies(table: dict[Request, bytes | None],
            fallback: ControlTransfer) -> Callable[..., bytes]:
    def control(*request: int) -> bytes:
        if request in table:
            reply = table[request]  # type: ignore[index]
            if reply is None:
                raise UsbStall(-Errno.EPIPE)
            return reply
        return fallback(*request)
    return control


def test_a_reply_of_another_descriptor_type_counts_as_none() -> None:
    with on_bench(ClonedDevice(TWO_LANGUAGES)) as control:
        data = read_device(replies({
            (0x80, 6, 0x0600, 0, 10): bytes.fromhex("0a 01 01 02 ff 00 00 40 01 00"),
            (0x80, 6, 0x0f00, 0, 5): bytes.fromhex("05 02 0c 00 01"),
            (0x80, 6, 0x0302, 0x0407, 255): bytes.fromhex("04 02 41 00"),
        }, control), Speed.HIGH)
    assert data.qualifier is None and data.other_speed == () and data.bos is None
    assert 2 not in data.strings[0x0407] and data.strings[0x0409][2] == "Widget"


@pytest.mark.parametrize(("table", "missing"), [
    ({(0x80, 6, 0x0600, 0, 10): bytes.fromhex("0a 06 01 02 ff 00 00 40 01")},  # short
     ("qualifier", "other_speed")),
    ({(0x80, 6, 0x0f00, 0, 12): bytes.fromhex("05 0f 0c 00 01 07 10 02 06")}, ("bos",)),
    ({(0x80, 6, 0x0700, 0, 32): bytes.fromhex("09 07 20 00 01 01 04 80")}, ("other_speed",)),
])
def test_what_linux_would_reject_is_not_carried(table: dict[Request, bytes | None],
                                                missing: tuple[str, ...]) -> None:
    with on_bench(ClonedDevice(TWO_LANGUAGES)) as control:
        data = read_device(replies(table, control), Speed.HIGH)
    assert tuple(f for f in ("qualifier", "other_speed", "bos")
                 if not getattr(data, f)) == missing
    ClonedDevice(data)


def test_a_stalled_string_descriptor_zero_is_an_empty_langid_table() -> None:
    with on_bench(ClonedDevice(TWO_LANGUAGES)) as control:
        data = read_device(replies({(0x80, 6, 0x0300, 0, 255): None}, control), Speed.HIGH)
    assert data.languages == () and data.strings == {}


@pytest.mark.parametrize(("table", "message"), [
    ({(0x80, 6, 0x0100, 0, 18): bytes.fromhex("12 01 00 02 00 00 00 40")},
     "device descriptor: 8 bytes; a device sends 18 bytes"),
    ({(0x80, 6, 0x0100, 0, 18): bytes(18)},
     "device descriptor: no device descriptor; a device sends 18 bytes"),
    ({(0x80, 6, 0x0100, 0, 18): None},
     "device descriptor: no device descriptor; a device sends 18 bytes"),
    ({(0x80, 6, 0x0200, 0, 9): None},
     "configuration 0: the device sent no configuration descriptor of 9 bytes or more "
     "(none)"),
])
def test_a_device_without_usable_descriptors_cannot_be_cloned(
        table: dict[Request, bytes | None], message: str) -> None:
    with on_bench(ClonedDevice(TWO_LANGUAGES)) as control, pytest.raises(CloneError) as info:
        clone_from_control(replies(table, control), Speed.HIGH, "usb 001:004")
    assert str(info.value) == f"usb 001:004: {message}"


def test_a_short_configuration_other_than_the_last_cannot_be_carried() -> None:
    two = bytearray(TWO_LANGUAGE_DUMP)
    two[17] = 2  # bNumConfigurations
    config = TWO_LANGUAGE_DUMP[18:]
    with on_bench(ClonedDevice(bytes(two) + config + config)) as control, \
            pytest.raises(CloneError, match="configuration 0: the device sent 30 of its "
                                            "wTotalLength 32 bytes"):
        read_device(replies({(0x80, 6, 0x0200, 0, 32): config[:30]}, control), Speed.HIGH)


def test_a_failure_other_than_a_stall_is_raised() -> None:
    def nak(*request: int) -> bytes:
        raise UsbTimeout(-Errno.ETIMEDOUT)
    with pytest.raises(UsbTimeout):
        read_device(nak, Speed.HIGH)


def test_model_control_turns_outcomes_into_errors() -> None:
    keyboard = BootKeyboard()
    control = model_control(keyboard)
    with pytest.raises(OSError) as info:  # not powered: nobody answers
        control(0x80, 6, 0x0100, 0, 18)
    assert info.value.errno == Errno.EPROTO
    with on_bench(keyboard) as bench, pytest.raises(UsbStall):
        bench(0x80, 6, 0x0900, 0, 18)


def test_string_indexes_include_what_class_drivers_read() -> None:
    # An ECM control interface: the Ethernet networking functional descriptor names the
    # MAC address string 9 (cdc_ether reads it), the IAD names string 7.
    config = parse_configuration(bytes.fromhex(
        "09 02 2c 00 01 01 06 80 32"
        "08 0b 00 01 02 06 00 07"
        "09 04 00 00 01 02 06 00 08"
        "0d 24 0f 09 00 00 00 00 ea 05 00 00 00"
        "07 05 81 03 10 00 09"), 0, Speed.HIGH).config
    device = bytes.fromhex("12 01 00 02 00 00 00 40 34 12 78 56 00 01 01 02 00 01")
    assert string_indexes(device, [config]) == [1, 2, 6, 7, 8, 9]


@given(st.data())
def test_a_hostile_device_gives_a_clone_or_a_clone_error(data: st.DataObject) -> None:
    asked: list[Request] = []

    def control(*request: int) -> bytes:
        asked.append(request)  # type: ignore[arg-type]
        if len(asked) > 60:
            raise UsbStall(-Errno.EPIPE)
        reply = data.draw(st.none() | st.binary(max_size=min(request[4], 64)))
        if reply is None:
            raise UsbStall(-Errno.EPIPE)
        if request[1] == 6 and len(reply) >= 2 and data.draw(st.booleans()):
            reply = reply[:1] + bytes((request[2] >> 8,)) + reply[2:]  # the type asked for
        return reply[:request[4]]

    try:
        clone = read_device(control, Speed.HIGH)
    except CloneError:
        return
    try:
        clone_model(clone, "hostile")
    except CloneError as exc:
        assert str(exc).startswith("hostile: ")
