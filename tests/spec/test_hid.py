"""HID usages, the US keyboard layout and the boot keyboard report (usbemu.spec.hid) against
the HID Usage Tables 1.12 and HID 1.11 appendix B."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usbemu.spec.hid import (
    BOOT_KEYBOARD_REPORT_SIZE,
    US_LAYOUT,
    GenericDesktopUsage,
    HidUsagePage,
    KeyboardLed,
    KeyModifier,
    KeyUsage,
    MouseButton,
    boot_keyboard_report,
    modifier_bit,
    us_key,
)


def test_usage_numbers() -> None:
    assert (HidUsagePage.GENERIC_DESKTOP, HidUsagePage.KEYBOARD, HidUsagePage.LED,
            HidUsagePage.BUTTON) == (0x01, 0x07, 0x08, 0x09)
    assert (GenericDesktopUsage.MOUSE, GenericDesktopUsage.KEYBOARD, GenericDesktopUsage.X,
            GenericDesktopUsage.Y, GenericDesktopUsage.WHEEL) == (0x02, 0x06, 0x30, 0x31, 0x38)
    assert (KeyUsage.A, KeyUsage.Z, KeyUsage.DIGIT_1, KeyUsage.DIGIT_0) == (4, 0x1D, 0x1E, 0x27)
    assert (KeyUsage.ENTER, KeyUsage.ESCAPE, KeyUsage.BACKSPACE, KeyUsage.TAB,
            KeyUsage.SPACE) == (0x28, 0x29, 0x2A, 0x2B, 0x2C)
    assert (KeyUsage.CAPS_LOCK, KeyUsage.F1, KeyUsage.F12, KeyUsage.DELETE,
            KeyUsage.KP_0, KeyUsage.F24) == (0x39, 0x3A, 0x45, 0x4C, 0x62, 0x73)
    assert (MouseButton.LEFT, MouseButton.EXTRA) == (0x01, 0x10)
    assert (KeyboardLed.NUM_LOCK, KeyboardLed.CAPS_LOCK, KeyboardLed.SCROLL_LOCK,
            KeyboardLed.COMPOSE, KeyboardLed.KANA) == (0x01, 0x02, 0x04, 0x08, 0x10)


def test_modifier_bits_follow_the_usages() -> None:
    usages = range(KeyUsage.LEFT_CTRL, KeyUsage.RIGHT_GUI + 1)
    assert [modifier_bit(u) for u in usages] == list(KeyModifier)
    assert (KeyModifier.LEFT_CTRL, KeyModifier.RIGHT_GUI) == (0x01, 0x80)
    assert modifier_bit(KeyUsage.A) == KeyModifier(0)


def test_us_layout() -> None:
    assert us_key("a") == (KeyUsage.A, False)
    assert us_key("Q") == (KeyUsage.Q, True)
    assert us_key("0") == (KeyUsage.DIGIT_0, False)
    assert us_key(")") == (KeyUsage.DIGIT_0, True)
    assert us_key("#") == (KeyUsage.DIGIT_3, True)  # not Non-US # (0x32)
    assert us_key("\n") == us_key("\r") == (KeyUsage.ENTER, False)
    assert us_key("|") == (KeyUsage.BACKSLASH, True)
    assert us_key('"') == (KeyUsage.APOSTROPHE, True)
    assert us_key("~") == (KeyUsage.GRAVE, True)
    # Every printable ASCII character, and no two characters on one key with one shift.
    assert set(string.printable) - set("\x0b\x0c") <= set(US_LAYOUT)
    assert len(set(US_LAYOUT.values())) == len(US_LAYOUT) - 1  # "\r" and "\n" share Enter
    with pytest.raises(ValueError, match="'€' cannot be typed on a US keyboard"):
        us_key("€")


def test_boot_keyboard_report() -> None:
    assert boot_keyboard_report(0, []) == bytes(8)
    assert boot_keyboard_report(KeyModifier.LEFT_SHIFT, [KeyUsage.H]) == \
        b"\x02\x00\x0b\x00\x00\x00\x00\x00"
    six = [4, 5, 6, 7, 8, 9]
    assert boot_keyboard_report(0x11, six) == b"\x11\x00" + bytes(six)
    assert boot_keyboard_report(0x11, [*six, 10]) == b"\x11\x00" + b"\x01" * 6
    with pytest.raises(ValueError, match="modifiers=256"):
        boot_keyboard_report(256, [])
    with pytest.raises(ValueError, match="one byte"):
        boot_keyboard_report(0, [300])


@given(st.integers(0, 255), st.lists(st.integers(0, 255), max_size=12))
def test_boot_keyboard_report_is_always_eight_bytes(modifiers: int, keys: list[int]) -> None:
    data = boot_keyboard_report(modifiers, keys)
    assert len(data) == BOOT_KEYBOARD_REPORT_SIZE
    assert data[:2] == bytes((modifiers, 0))
    if len(keys) > 6:
        assert set(data[2:]) == {KeyUsage.ERROR_ROLLOVER}
