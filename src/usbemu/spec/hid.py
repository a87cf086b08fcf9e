"""HID class constants — counterpart of include/linux/hid.h and of the HID 1.11 specification.

The numbers a HID device and its host agree on beyond chapter 9: class request codes (HID 1.11
§7.2), the class descriptor types (§7.1), the boot interface subclass and protocol codes
(§4.2, §4.3), the report types carried in GET_REPORT / SET_REPORT, and `hid_descriptor()`, which
builds the 9-byte HID descriptor (§6.2.1) a device puts after its interface descriptor.  As
`usbemu.spec.descriptors` says, class-specific descriptors travel as raw `extra` bytes, so
the builder returns bytes.  Then what devices put in their reports: usage pages and
usages, the keyboard page's usage IDs, the boot mouse button and keyboard modifier and LED
bits, a US-layout table for typing text, and the 8-byte boot keyboard report.  Report
descriptors are not parsed here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from enum import IntEnum, IntFlag
from typing import Final


class HidRequest(IntEnum):
    """Class-specific bRequest codes (HID 1.11 §7.2, hid.h HID_REQ_*)."""

    GET_REPORT = 0x01
    GET_IDLE = 0x02
    GET_PROTOCOL = 0x03
    SET_REPORT = 0x09
    SET_IDLE = 0x0A
    SET_PROTOCOL = 0x0B


class HidDescriptorType(IntEnum):
    """Class descriptor types (HID 1.11 §7.1, hid.h HID_DT_*): USB_TYPE_CLASS | 1..3."""

    HID = 0x21
    REPORT = 0x22
    PHYSICAL = 0x23


class HidSubclass(IntEnum):
    """bInterfaceSubClass of a HID interface (HID 1.11 §4.2)."""

    NONE = 0
    BOOT = 1  #: USB_INTERFACE_SUBCLASS_BOOT


class HidBootProtocol(IntEnum):
    """bInterfaceProtocol of a boot interface (HID 1.11 §4.3, USB_INTERFACE_PROTOCOL_*)."""

    NONE = 0
    KEYBOARD = 1
    MOUSE = 2


class HidProtocol(IntEnum):
    """wValue of SET_PROTOCOL and the byte GET_PROTOCOL returns (HID 1.11 §7.2.5/§7.2.6;
    hid.h HID_BOOT_PROTOCOL / HID_REPORT_PROTOCOL)."""

    BOOT = 0
    REPORT = 1


class HidReportType(IntEnum):
    """Report type in the high byte of wValue of GET_REPORT / SET_REPORT (HID 1.11 §7.2.1).

    These are the wire values; Linux's `enum hid_report_type` (HID_INPUT_REPORT = 0 …) is
    one less, and usbhid adds one when it builds the request.
    """

    INPUT = 1
    OUTPUT = 2
    FEATURE = 3


HID_DESCRIPTOR_SIZE: Final = 9
#: SET_IDLE / GET_IDLE duration unit: wValue's high byte counts 4 ms steps, 0 = indefinite.
HID_IDLE_UNIT_MS: Final = 4

_HID_DESC: Final = struct.Struct("<BBHBBBH")


def hid_descriptor(report_len: int, country: int = 0, bcdHID: int = 0x0111) -> bytes:
    """The 9-byte HID descriptor (HID 1.11 §6.2.1) announcing one report descriptor of
    `report_len` bytes; goes in the interface's `extra` bytes.

    Context: pure function.  Raises ValueError when a field does not fit its size.
    """
    if not 0 <= report_len <= 0xFFFF:
        raise ValueError(f"report_len={report_len!r} does not fit wDescriptorLength (16 bits)")
    if not 0 <= country <= 0xFF:
        raise ValueError(f"country={country!r} does not fit bCountryCode (one byte)")
    if not 0 <= bcdHID <= 0xFFFF:
        raise ValueError(f"bcdHID={bcdHID!r} does not fit two bytes")
    return _HID_DESC.pack(HID_DESCRIPTOR_SIZE, HidDescriptorType.HID, bcdHID, country, 1,
                          HidDescriptorType.REPORT, report_len)


# == Usages, keyboard layout and boot reports (HID Usage Tables 1.12) =========================
#
# What a HID device model sends: the usage pages and usages its report descriptor names, the
# keyboard page's usage IDs (HUT 1.12 §10) with the boot modifier byte, the LED page's
# output bits, a US-layout table from characters to keys, and the 8-byte boot keyboard
# report (HID 1.11 appendix B.1).  Report descriptors are parsed on the host side, not here.


class HidUsagePage(IntEnum):
    """Usage pages (HUT 1.12 §3, hid.h HID_UP_* >> 16)."""

    GENERIC_DESKTOP = 0x01
    SIMULATION = 0x02
    KEYBOARD = 0x07
    LED = 0x08
    BUTTON = 0x09
    CONSUMER = 0x0C
    DIGITIZER = 0x0D


class GenericDesktopUsage(IntEnum):
    """Usages of the Generic Desktop page (HUT 1.12 §4, hid.h HID_GD_*)."""

    POINTER = 0x01
    MOUSE = 0x02
    JOYSTICK = 0x04
    GAMEPAD = 0x05
    KEYBOARD = 0x06
    KEYPAD = 0x07
    X = 0x30
    Y = 0x31
    Z = 0x32
    RX = 0x33
    RY = 0x34
    RZ = 0x35
    SLIDER = 0x36
    DIAL = 0x37
    WHEEL = 0x38
    HAT_SWITCH = 0x39


class MouseButton(IntFlag):
    """Button page usages 1..5 as the bits of a boot mouse report's first byte (HID 1.11
    appendix B.2; Linux maps them to BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA)."""

    LEFT = 0x01
    RIGHT = 0x02
    MIDDLE = 0x04
    SIDE = 0x08
    EXTRA = 0x10


class KeyboardLed(IntFlag):
    """The boot keyboard's output report: LED page usages 1..5 as bits (HID 1.11 appendix
    B.1; usbkbd sends LED_NUML … LED_KANA in this order)."""

    NUM_LOCK = 0x01
    CAPS_LOCK = 0x02
    SCROLL_LOCK = 0x04
    COMPOSE = 0x08
    KANA = 0x10


class KeyModifier(IntFlag):
    """Byte 0 of a boot keyboard report: keyboard usages 0xE0..0xE7 as bits."""

    LEFT_CTRL = 0x01
    LEFT_SHIFT = 0x02
    LEFT_ALT = 0x04
    LEFT_GUI = 0x08
    RIGHT_CTRL = 0x10
    RIGHT_SHIFT = 0x20
    RIGHT_ALT = 0x40
    RIGHT_GUI = 0x80


class KeyUsage(IntEnum):
    """Usage IDs of the Keyboard/Keypad page (HUT 1.12 §10)."""

    NONE = 0x00
    ERROR_ROLLOVER = 0x01
    POST_FAIL = 0x02
    ERROR_UNDEFINED = 0x03
    A = 0x04
    B = 0x05
    C = 0x06
    D = 0x07
    E = 0x08
    F = 0x09
    G = 0x0A
    H = 0x0B
    I = 0x0C  # noqa: E741 — the key's name
    J = 0x0D
    K = 0x0E
    L = 0x0F
    M = 0x10
    N = 0x11
    O = 0x12  # noqa: E741 — the key's name
    P = 0x13
    Q = 0x14
    R = 0x15
    S = 0x16
    T = 0x17
    U = 0x18
    V = 0x19
    W = 0x1A
    X = 0x1B
    Y = 0x1C
    Z = 0x1D
    DIGIT_1 = 0x1E
    DIGIT_2 = 0x1F
    DIGIT_3 = 0x20
    DIGIT_4 = 0x21
    DIGIT_5 = 0x22
    DIGIT_6 = 0x23
    DIGIT_7 = 0x24
    DIGIT_8 = 0x25
    DIGIT_9 = 0x26
    DIGIT_0 = 0x27
    ENTER = 0x28
    ESCAPE = 0x29
    BACKSPACE = 0x2A
    TAB = 0x2B
    SPACE = 0x2C
    MINUS = 0x2D
    EQUAL = 0x2E
    LEFT_BRACKET = 0x2F
    RIGHT_BRACKET = 0x30
    BACKSLASH = 0x31
    NON_US_HASH = 0x32
    SEMICOLON = 0x33
    APOSTROPHE = 0x34
    GRAVE = 0x35
    COMMA = 0x36
    PERIOD = 0x37
    SLASH = 0x38
    CAPS_LOCK = 0x39
    F1 = 0x3A
    F2 = 0x3B
    F3 = 0x3C
    F4 = 0x3D
    F5 = 0x3E
    F6 = 0x3F
    F7 = 0x40
    F8 = 0x41
    F9 = 0x42
    F10 = 0x43
    F11 = 0x44
    F12 = 0x45
    PRINT_SCREEN = 0x46
    SCROLL_LOCK = 0x47
    PAUSE = 0x48
    INSERT = 0x49
    HOME = 0x4A
    PAGE_UP = 0x4B
    DELETE = 0x4C
    END = 0x4D
    PAGE_DOWN = 0x4E
    RIGHT = 0x4F
    LEFT = 0x50
    DOWN = 0x51
    UP = 0x52
    NUM_LOCK = 0x53
    KP_SLASH = 0x54
    KP_ASTERISK = 0x55
    KP_MINUS = 0x56
    KP_PLUS = 0x57
    KP_ENTER = 0x58
    KP_1 = 0x59
    KP_2 = 0x5A
    KP_3 = 0x5B
    KP_4 = 0x5C
    KP_5 = 0x5D
    KP_6 = 0x5E
    KP_7 = 0x5F
    KP_8 = 0x60
    KP_9 = 0x61
    KP_0 = 0x62
    KP_PERIOD = 0x63
    NON_US_BACKSLASH = 0x64
    APPLICATION = 0x65
    POWER = 0x66
    KP_EQUAL = 0x67
    F13 = 0x68
    F14 = 0x69
    F15 = 0x6A
    F16 = 0x6B
    F17 = 0x6C
    F18 = 0x6D
    F19 = 0x6E
    F20 = 0x6F
    F21 = 0x70
    F22 = 0x71
    F23 = 0x72
    F24 = 0x73
    LEFT_CTRL = 0xE0
    LEFT_SHIFT = 0xE1
    LEFT_ALT = 0xE2
    LEFT_GUI = 0xE3
    RIGHT_CTRL = 0xE4
    RIGHT_SHIFT = 0xE5
    RIGHT_ALT = 0xE6
    RIGHT_GUI = 0xE7


#: First and last keyboard usage that is a modifier (a bit of byte 0, not a keycode slot).
FIRST_MODIFIER: Final = KeyUsage.LEFT_CTRL
LAST_MODIFIER: Final = KeyUsage.RIGHT_GUI


def modifier_bit(usage: int) -> KeyModifier:
    """The bit of byte 0 that carries modifier `usage` (0xE0..0xE7), KeyModifier(0) for any
    other usage.  Context: pure function."""
    if FIRST_MODIFIER <= usage <= LAST_MODIFIER:
        return KeyModifier(1 << (usage - FIRST_MODIFIER))
    return KeyModifier(0)


_US_KEYS: Final[tuple[tuple[KeyUsage, str, str], ...]] = (
    # key, character typed alone, character typed with shift ("" for none)
    (KeyUsage.DIGIT_1, "1", "!"),
    (KeyUsage.DIGIT_2, "2", "@"),
    (KeyUsage.DIGIT_3, "3", "#"),
    (KeyUsage.DIGIT_4, "4", "$"),
    (KeyUsage.DIGIT_5, "5", "%"),
    (KeyUsage.DIGIT_6, "6", "^"),
    (KeyUsage.DIGIT_7, "7", "&"),
    (KeyUsage.DIGIT_8, "8", "*"),
    (KeyUsage.DIGIT_9, "9", "("),
    (KeyUsage.DIGIT_0, "0", ")"),
    (KeyUsage.ENTER, "\n", ""),
    (KeyUsage.ESCAPE, "\x1b", ""),
    (KeyUsage.BACKSPACE, "\b", ""),
    (KeyUsage.TAB, "\t", ""),
    (KeyUsage.SPACE, " ", ""),
    (KeyUsage.MINUS, "-", "_"),
    (KeyUsage.EQUAL, "=", "+"),
    (KeyUsage.LEFT_BRACKET, "[", "{"),
    (KeyUsage.RIGHT_BRACKET, "]", "}"),
    (KeyUsage.BACKSLASH, "\\", "|"),
    (KeyUsage.SEMICOLON, ";", ":"),
    (KeyUsage.APOSTROPHE, "'", '"'),
    (KeyUsage.GRAVE, "`", "~"),
    (KeyUsage.COMMA, ",", "<"),
    (KeyUsage.PERIOD, ".", ">"),
    (KeyUsage.SLASH, "/", "?"),
)

US_LAYOUT: Final[dict[str, tuple[KeyUsage, bool]]] = {
    **{chr(ord("a") + i): (KeyUsage(KeyUsage.A + i), False) for i in range(26)},
    **{chr(ord("A") + i): (KeyUsage(KeyUsage.A + i), True) for i in range(26)},
    **{plain: (key, False) for key, plain, _ in _US_KEYS},
    **{shifted: (key, True) for key, _, shifted in _US_KEYS if shifted},
    "\r": (KeyUsage.ENTER, False),
}
"""Character → (keyboard usage, shift needed) on a US keyboard: letters, digits, the
symbols of the main block, newline and carriage return (Enter), Esc, backspace, tab and
space.  '#' is shift+3 (usage 0x32, Non-US #, is not on a US keyboard)."""


def us_key(char: str) -> tuple[KeyUsage, bool]:
    """The key that types `char` on a US keyboard and whether shift is held for it.

    Context: pure function.  Raises ValueError for a character the layout cannot type.
    """
    try:
        return US_LAYOUT[char]
    except KeyError:
        raise ValueError(f"{char!r} cannot be typed on a US keyboard (letters, digits, "
                         "ASCII symbols, space, tab, newline, backspace and escape can)") \
            from None


BOOT_KEYBOARD_REPORT_SIZE: Final = 8
#: Keycode slots of a boot keyboard report.
BOOT_KEYBOARD_KEYS: Final = 6


def boot_keyboard_report(modifiers: int, keys: Sequence[int]) -> bytes:
    """The 8-byte boot keyboard input report (HID 1.11 appendix B.1): modifier bits, a
    reserved byte, then the usages of up to six keys held (zero-filled); with more than six
    keys held, all six slots carry ErrorRollOver (0x01) while the modifiers stay exact.

    Context: pure function.  Raises ValueError for a modifier byte or usage out of range.
    """
    if not 0 <= modifiers <= 0xFF:
        raise ValueError(f"modifiers={modifiers!r} does not fit one byte")
    if any(not 0 <= key <= 0xFF for key in keys):
        raise ValueError(f"keys={list(keys)!r}: a keyboard usage is one byte")
    slots = (bytes(keys) if len(keys) <= BOOT_KEYBOARD_KEYS
             else bytes((KeyUsage.ERROR_ROLLOVER,)) * BOOT_KEYBOARD_KEYS)
    return bytes((modifiers, 0)) + slots.ljust(BOOT_KEYBOARD_KEYS, b"\0")
