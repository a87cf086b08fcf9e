"""BootKeyboard (QEMU's usb-kbd, 0627:0001) driven with raw setup packets and interrupt
polls, as usbkbd or usbhid would drive it, on a fake clock; its descriptors against QEMU's
tables and against the reference capture of Linux 6.12 enumerating QEMU's keyboard."""

from __future__ import annotations

import pytest
from usbemu_tests_capture_machine import (  # type: ignore[import-not-found]
    KEYBOARD,
    KEYBOARD_STRINGS,
)
from usbemu_tests_hid_helpers import (  # type: ignore[import-not-found]
    FakeClock,
    plug,
    poll,
    poll_every,
)

from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.hid_script import Move, Script
from usbemu.emulated.models import load_model
from usbemu.emulated.models.keyboard import QEMU_KEYBOARD_REPORT_DESCRIPTOR, BootKeyboard
from usbemu.spec.ch9 import SetupPacket, Speed
from usbemu.spec.descriptors import string_descriptor
from usbemu.spec.hid import KeyboardLed, KeyModifier, KeyUsage
from usbemu.testing import RecordingHost, control_in, control_out, enumerate_model, get_descriptor

GOLDEN_DEVICE = bytes((
    0x12,        # bLength
    0x01,        # bDescriptorType (DEVICE)
    0x00, 0x01,  # bcdUSB 1.00
    0x00,        # bDeviceClass (per interface)
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x08,        # bMaxPacketSize0 8
    0x27, 0x06,  # idVendor 0x0627
    0x01, 0x00,  # idProduct 0x0001
    0x00, 0x00,  # bcdDevice 0.00
    0x01,        # iManufacturer "QEMU"
    0x04,        # iProduct "QEMU USB Keyboard"
    0x0B,        # iSerialNumber "68284"
    0x01,        # bNumConfigurations
))

GOLDEN_CONFIG = bytes((
    0x09,        # bLength
    0x02,        # bDescriptorType (CONFIGURATION)
    0x22, 0x00,  # wTotalLength 34
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x08,        # iConfiguration "HID Keyboard"
    0xA0,        # bmAttributes (bus powered, remote wakeup)
    0x32,        # bMaxPower 100 mA
    # interface 0
    0x09,        # bLength
    0x04,        # bDescriptorType (INTERFACE)
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x01,        # bNumEndpoints
    0x03,        # bInterfaceClass (HID)
    0x01,        # bInterfaceSubClass (boot)
    0x01,        # bInterfaceProtocol (keyboard)
    0x00,        # iInterface
    # HID descriptor
    0x09,        # bLength
    0x21,        # bDescriptorType (HID)
    0x11, 0x01,  # bcdHID 1.11
    0x00,        # bCountryCode
    0x01,        # bNumDescriptors
    0x22,        # bDescriptorType (REPORT)
    0x3F, 0x00,  # wDescriptorLength 63
    # endpoint 0x81
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x81,        # bEndpointAddress (IN 1)
    0x03,        # bmAttributes (interrupt)
    0x08, 0x00,  # wMaxPacketSize 8
    0x0A,        # bInterval 10 ms
))

#: The report descriptor of QEMU's keyboard as Linux 6.12 shows it (reference capture,
#: hid-input.txt: report_descriptor of 0003:0627:0001.0001).
CAPTURED_REPORT_DESCRIPTOR = bytes.fromhex("""
    05 01 09 06 a1 01 75 01 95 08 05 07 19 e0 29 e7
    15 00 25 01 81 02 95 01 75 08 81 01 95 05 75 01
    05 08 19 01 29 05 91 02 95 01 75 03 91 01 95 06
    75 08 15 00 25 ff 05 07 19 00 29 ff 81 00 c0""")

NONE = bytes(8)


def report(modifiers: int = 0, *keys: int) -> bytes:
    return bytes((modifiers, 0, *keys)).ljust(8, b"\0")


def drain(kbd: BootKeyboard) -> list[bytes]:
    reports = []
    while (got := poll(kbd)) is not None:
        reports.append(got)
    return reports


@pytest.fixture
def kbd() -> BootKeyboard:
    model = BootKeyboard()
    enumerate_model(model)
    return model


# -- descriptors --------------------------------------------------------------------------------


def test_registry_name_and_speed() -> None:
    assert load_model("keyboard") is BootKeyboard
    assert BootKeyboard().speed is Speed.FULL
    assert BootKeyboard(usb_version=2).speed is Speed.HIGH
    with pytest.raises(ValueError, match="usb_version=3"):
        BootKeyboard(usb_version=3)


def test_golden_full_speed_descriptors() -> None:
    kbd = BootKeyboard()
    kbd.connect(None, None)
    kbd.bus_reset()
    assert get_descriptor(kbd, 0x01, length=18) == GOLDEN_DEVICE
    assert get_descriptor(kbd, 0x02, length=34) == GOLDEN_CONFIG
    for index, text in ((1, "QEMU"), (4, "QEMU USB Keyboard"), (8, "HID Keyboard"),
                        (11, "68284"), (3, "QEMU USB Tablet")):
        assert get_descriptor(kbd, 0x03, index, 0x0409) == string_descriptor(text)
    # A full-speed-only device: DEVICE_QUALIFIER stalls.
    assert kbd.control(SetupPacket(0x80, 0x06, 0x0600, 0, 10))[0] is Outcome.STALL


def test_high_speed_variant_matches_the_reference_capture() -> None:
    kbd = BootKeyboard(usb_version=2)
    kbd.connect(None, None)
    kbd.bus_reset()
    assert get_descriptor(kbd, 0x01, length=18) + get_descriptor(kbd, 0x02, length=34) \
        == KEYBOARD
    for index, text in KEYBOARD_STRINGS.items():
        # QEMU appends the bus path to its serial number; the model keeps the number.
        expected = text.split("-")[0] if index == 11 else text
        assert get_descriptor(kbd, 0x03, index, 0x0409) == string_descriptor(expected)
    # It describes its full-speed self: qualifier and other-speed configuration.
    assert get_descriptor(kbd, 0x06, length=10) == bytes(
        (0x0A, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08, 0x01, 0x00))
    assert get_descriptor(kbd, 0x07, length=34) == b"\x09\x07" + GOLDEN_CONFIG[2:]


def test_qemus_serial_property_gives_the_whole_serial_number() -> None:
    kbd = BootKeyboard(usb_version=2, serial="68284-0000:00:02.0-1")
    kbd.connect(None, None)
    kbd.bus_reset()
    for index, text in KEYBOARD_STRINGS.items():
        assert get_descriptor(kbd, 0x03, index, 0x0409) == string_descriptor(text)


def test_golden_report_and_hid_descriptors(kbd: BootKeyboard) -> None:
    assert QEMU_KEYBOARD_REPORT_DESCRIPTOR == CAPTURED_REPORT_DESCRIPTOR
    assert control_in(kbd, SetupPacket(0x81, 0x06, 0x2200, 0, 63)) == CAPTURED_REPORT_DESCRIPTOR
    assert control_in(kbd, SetupPacket(0x81, 0x06, 0x2100, 0, 9)) == GOLDEN_CONFIG[18:27]


# -- input reports --------------------------------------------------------------------------------


def test_typed_text_is_one_report_per_key_change_with_shift(kbd: BootKeyboard) -> None:
    kbd.type("Hi!\n")
    shift, h, i, one, enter = 0x02, 0x0B, 0x0C, 0x1E, 0x28
    assert drain(kbd) == [
        report(shift), report(shift, h), report(shift), NONE,      # H
        report(0, i), NONE,                                         # i
        report(shift), report(shift, one), report(shift), NONE,    # !
        report(0, enter), NONE,                                     # newline
    ]


def test_typing_with_shift_held_keeps_it_held(kbd: BootKeyboard) -> None:
    kbd.press("shift")
    kbd.type("Ab")
    assert drain(kbd) == [report(0x02), report(0x02, 0x04), report(0x02), report(0x02, 0x05),
                          report(0x02)]
    assert kbd.modifiers is KeyModifier.LEFT_SHIFT


def test_a_character_the_layout_cannot_type_moves_no_key(kbd: BootKeyboard) -> None:
    with pytest.raises(ValueError, match="'é' cannot be typed"):
        kbd.type("café")
    assert kbd.pending_reports == 0


def test_combinations_press_in_order_and_release_in_reverse(kbd: BootKeyboard) -> None:
    kbd.press("ctrl+alt+del")
    assert (kbd.modifiers, kbd.keys) == (KeyModifier.LEFT_CTRL | KeyModifier.LEFT_ALT,
                                         [KeyUsage.DELETE])
    kbd.release("ctrl+alt+del")
    kbd.tap("ctrl+C")  # a capital brings shift
    kbd.tap(KeyUsage.F5)
    assert drain(kbd) == [
        report(0x01), report(0x05), report(0x05, 0x4C),
        report(0x05), report(0x01), NONE,
        report(0x01), report(0x03), report(0x03, 0x06), report(0x03), report(0x01), NONE,
        report(0, 0x3E), NONE,
    ]


def test_unknown_key_names(kbd: BootKeyboard) -> None:
    with pytest.raises(ValueError, match="'hyper' is not a key"):
        kbd.press("ctrl+hyper")
    with pytest.raises(ValueError, match="empty key name"):
        kbd.tap("ctrl++")
    assert kbd.pending_reports == 0
    kbd.tap("ctrl+plus")
    assert drain(kbd)[2] == report(0x03, 0x2E)


def test_more_than_six_keys_roll_over(kbd: BootKeyboard) -> None:
    kbd.press("shift+a+b+c+d+e+f")
    kbd.press("g")
    kbd.release("a")
    reports = drain(kbd)
    assert reports[-3] == report(0x02, 4, 5, 6, 7, 8, 9)
    assert reports[-2] == report(0x02, 1, 1, 1, 1, 1, 1)  # ErrorRollOver, modifiers exact
    assert reports[-1] == report(0x02, 5, 6, 7, 8, 9, 10)  # six again: the keys, in order
    kbd.release_all()
    assert drain(kbd)[-1] == NONE
    assert (kbd.modifiers, kbd.keys) == (KeyModifier(0), [])


def test_pressing_a_held_key_changes_nothing(kbd: BootKeyboard) -> None:
    kbd.press("x")
    kbd.press("x")
    kbd.release("y")
    assert drain(kbd) == [report(0, 0x1B)]


def test_protocols_share_the_boot_layout(kbd: BootKeyboard) -> None:
    assert control_out(kbd, SetupPacket(0x21, 0x0B, 0, 0)) is Outcome.DONE  # boot
    assert control_in(kbd, SetupPacket(0xA1, 0x03, 0, 0, 1)) == b"\x00"
    kbd.tap("q")
    assert drain(kbd) == [report(0, 0x14), NONE]


def test_get_report_returns_the_keys_held(kbd: BootKeyboard) -> None:
    kbd.press("rshift+z")
    assert control_in(kbd, SetupPacket(0xA1, 0x01, 0x0100, 0, 8)) == report(0x20, 0x1D)
    assert kbd.control(SetupPacket(0xA1, 0x01, 0x0300, 0, 8))[0] is Outcome.STALL


# -- the LED output report ------------------------------------------------------------------------


def test_set_report_sets_the_leds(kbd: BootKeyboard) -> None:
    setup = SetupPacket(0x21, 0x09, 0x0200, 0, 1)  # SET_REPORT(Output), as usbkbd sends it
    assert control_out(kbd, setup, b"\x02") is Outcome.DONE
    assert kbd.leds is KeyboardLed.CAPS_LOCK
    assert control_out(kbd, setup, b"\xff") is Outcome.DONE  # padding bits are not LEDs
    assert kbd.leds == KeyboardLed.NUM_LOCK | KeyboardLed.CAPS_LOCK | \
        KeyboardLed.SCROLL_LOCK | KeyboardLed.COMPOSE | KeyboardLed.KANA
    assert control_in(kbd, SetupPacket(0xA1, 0x01, 0x0200, 0, 1)) == b"\x1f"
    assert control_out(kbd, SetupPacket(0x21, 0x09, 0x0200, 0, 0)) is Outcome.DONE
    assert kbd.leds == 0x1F  # an empty report changes nothing
    # A feature report, a report ID, another interface: STALL, LEDs kept.
    for bad in (SetupPacket(0x21, 0x09, 0x0300, 0, 1), SetupPacket(0x21, 0x09, 0x0201, 0, 1),
                SetupPacket(0x21, 0x09, 0x0200, 1, 1)):
        assert control_out(kbd, bad, b"\x00") is Outcome.STALL
    assert kbd.leds == 0x1F


def test_leds_need_the_configured_state() -> None:
    kbd = BootKeyboard()
    enumerate_model(kbd, configuration=None)
    assert control_out(kbd, SetupPacket(0x21, 0x09, 0x0200, 0, 1), b"\x01") is Outcome.STALL
    assert kbd.leds == KeyboardLed(0)


# -- on the machine's clock -----------------------------------------------------------------------


def test_typed_reports_go_out_one_per_interval(clock: FakeClock) -> None:
    host = RecordingHost()
    kbd = plug(BootKeyboard(), clock, host)
    kbd.type("Hi")
    got = poll_every(kbd, clock, 2, 40)  # a host polling every 2 ms
    assert got == [(0.0, report(0x02)), (10.0, report(0x02, 0x0B)), (20.0, report(0x02)),
                   (30.0, NONE), (40.0, report(0, 0x0C)), (50.0, NONE)]


def test_idle_rate_repeats_the_last_report(clock: FakeClock) -> None:
    kbd = plug(BootKeyboard(), clock)
    assert control_out(kbd, SetupPacket(0x21, 0x0A, 0x0A00, 0)) is Outcome.DONE  # 40 ms
    assert control_in(kbd, SetupPacket(0xA1, 0x02, 0, 0, 1)) == b"\x0a"
    kbd.press("a")
    clock.advance(5)
    got = poll_every(kbd, clock, 5, 20)
    assert got == [(5.0, report(0, 4)), (45.0, report(0, 4)), (85.0, report(0, 4))]
    assert control_out(kbd, SetupPacket(0x21, 0x0A, 0, 0)) is Outcome.DONE  # rate 0
    assert poll_every(kbd, clock, 10, 10) == []


def test_idle_repeat_wakes_a_waiting_host(clock: FakeClock) -> None:
    host = RecordingHost()
    kbd = plug(BootKeyboard(), clock, host)
    assert control_out(kbd, SetupPacket(0x21, 0x0A, 0x0100, 0)) is Outcome.DONE  # 4 ms
    assert poll(kbd) is None
    clock.advance(3.9)
    assert host.ready == []
    clock.advance(0.1)
    assert host.ready == [0x81]
    assert poll(kbd) == NONE


def test_scripted_typing_and_combination(clock: FakeClock) -> None:
    kbd = plug(BootKeyboard(), clock)
    kbd.play(Script.parse('type "ok"\nwait 100\ntap ctrl+alt+del'))
    got = poll_every(kbd, clock, 10, 20)
    assert got == [(0.0, report(0, 0x12)), (10.0, NONE), (20.0, report(0, 0x0E)),
                   (30.0, NONE), (100.0, report(0x01)), (110.0, report(0x05)),
                   (120.0, report(0x05, 0x4C)), (130.0, report(0x05)), (140.0, report(0x01)),
                   (150.0, NONE)]


def test_a_keyboard_refuses_pointer_actions(clock: FakeClock) -> None:
    kbd = plug(BootKeyboard(), clock)
    with pytest.raises(ValueError, match="a keyboard cannot perform Move"):
        kbd.play(Script([(0, Move(1, 1))]))
    with pytest.raises(ValueError, match="not a key"):
        kbd.play(Script().press("ctrl+nokey"))
    assert kbd.steps_pending == 0
