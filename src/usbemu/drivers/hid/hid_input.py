"""hid-input — counterpart of drivers/hid/hid-input.c: HID usages mapped to input events.

When a HID device connects with HID_CONNECT_HIDINPUT, `hidinput_connect` gives it input
devices (one, or one per application with HID_QUIRK_INPUT_PER_APP, named after the device
with Linux's suffixes "Keyboard", "Mouse", "Consumer Control" … when there are several) and
maps every usage of its input and output reports to an event type and code as
hidinput_configure_usage does: Generic Desktop X/Y/Z/Rx/Ry/Rz to REL or ABS by the field's
Relative flag, Wheel to REL_WHEEL with REL_WHEEL_HI_RES, AC Pan to REL_HWHEEL with
REL_HWHEEL_HI_RES, the hat switch and D-pad, System Control keys; buttons by application
(BTN_MOUSE…, BTN_JOYSTICK…, BTN_GAMEPAD…, BTN_MISC…); the keyboard page through the
hid_keyboard[] table; LEDs; digitizers (BTN_TOUCH, BTN_TOOL_PEN, BTN_TOOL_RUBBER, pressure,
tilt); the consumer, telephony, simulation and camera pages; absolute axes with
input_set_abs_params from the logical range and a resolution from the physical range and
unit (`hidinput_calc_abs_res`); EV_MSC/MSC_SCAN for every key.  `hidinput_hid_event` turns
a usage's value into events (MSC_SCAN before a key that changes, high-resolution wheel
accumulation, tablet tool proximity), `hidinput_report_event` ends the report with
SYN_REPORT, and the LED path runs input_dev.event → `hidinput_input_event` →
hid_set_field on the LED field → the LED work → the transport's request hook (usbhid's
SET_REPORT queue) or an output report.  hid-core reaches these through `HIDINPUT_OPS`.

Not modelled: batteries (usages of the battery pages are consumed silently, as without
CONFIG_HID_BATTERY_STRENGTH), force feedback, keymap changes (getkeycode/setkeycode) and
HID_QUIRK_MULTI_INPUT's one device per report id.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from ...errors import Errno
from ...kernel import input_event_codes as ev
from ...kernel.input import (
    InputDev,
    input_abs_set_res,
    input_allocate_device,
    input_event,
    input_free_device,
    input_get_drvdata,
    input_register_device,
    input_set_abs_params,
    input_set_drvdata,
    input_set_events_per_packet,
    input_sync,
    input_unregister_device,
)
from ...kernel.input_event_codes import InputId
from ...kernel.printk import Level
from ...spec.hid import HidRequest
from .hid_core import (
    HID_DG_CONTACTID,
    HID_GD_JOYSTICK,
    HID_GD_KEYBOARD,
    HID_GD_MOUSE,
    HID_GD_POINTER,
    HID_GD_RESOLUTION_MULTIPLIER,
    HID_UP_BUTTON,
    HID_UP_CONSUMER,
    HID_UP_DIGITIZER,
    HID_UP_GENDESK,
    HID_UP_KEYBOARD,
    HID_UP_LED,
    HID_UP_MSVENDOR,
    HID_USAGE,
    HID_USAGE_PAGE,
    CollectionType,
    HidClaimed,
    HidDevice,
    HidField,
    HidInputOps,
    HidQuirk,
    HidReport,
    HidStat,
    HidUsage,
    MainItemFlag,
    ReportType,
    hid_alloc_report_buf,
    hid_hw_close,
    hid_hw_open,
    hid_hw_output_report,
    hid_hw_raw_request,
    hid_hw_request,
    hid_hw_wait,
    hid_output_report,
    hid_report_len,
    hid_set_field,
    hid_setup_resolution_multiplier,
    hid_warn,
)
from .hid_core import __hid_request as hid_request_now

__all__ = [
    "HIDINPUT_OPS",
    "HidInput",
    "hid_check_keys_pressed",
    "hid_keyboard",
    "hid_map_usage",
    "hid_map_usage_clear",
    "hidinput_calc_abs_res",
    "hidinput_connect",
    "hidinput_count_leds",
    "hidinput_disconnect",
    "hidinput_get_led_field",
    "hidinput_hid_event",
    "hidinput_input_event",
    "hidinput_report_event",
]

# -- usages hid-input knows (include/linux/hid.h) ----------------------------------------------

HID_UP_UNDEFINED: Final = 0x00000000
HID_UP_SIMULATION: Final = 0x00020000
HID_UP_GENDEVCTRLS: Final = 0x00060000
HID_UP_TELEPHONY: Final = 0x000B0000
HID_UP_PID: Final = 0x000F0000
HID_UP_BATTERY: Final = 0x00850000
HID_UP_CAMERA: Final = 0x00900000
HID_UP_CUSTOM: Final = 0x00FF0000
HID_UP_HPVENDOR: Final = 0xFF7F0000
HID_UP_HPVENDOR2: Final = 0xFF010000
HID_UP_LOGIVENDOR: Final = 0xFFBC0000
HID_UP_LOGIVENDOR2: Final = 0xFF090000
HID_UP_LOGIVENDOR3: Final = 0xFF430000

HID_GD_GAMEPAD: Final = 0x00010005
HID_GD_KEYPAD: Final = 0x00010007
HID_GD_MULTIAXIS: Final = 0x00010008
HID_GD_WIRELESS_RADIO_CTLS: Final = 0x0001000C
HID_GD_SYSTEM_MULTIAXIS: Final = 0x0001000E
HID_GD_X: Final = 0x00010030
HID_GD_RZ: Final = 0x00010035
HID_GD_SLIDER: Final = 0x00010036
HID_GD_DIAL: Final = 0x00010037
HID_GD_WHEEL: Final = 0x00010038
HID_GD_HATSWITCH: Final = 0x00010039
HID_GD_START: Final = 0x0001003D
HID_GD_SELECT: Final = 0x0001003E
HID_GD_SYSTEM_CONTROL: Final = 0x00010080
HID_GD_UP: Final = 0x00010090
HID_GD_DOWN: Final = 0x00010091
HID_GD_RIGHT: Final = 0x00010092
HID_GD_LEFT: Final = 0x00010093
HID_GD_RFKILL_BTN: Final = 0x000100C6

HID_CP_CONSUMER_CONTROL: Final = 0x000C0001
HID_CP_PROGRAMMABLEBUTTONS: Final = 0x000C0003

HID_DG_DIGITIZER: Final = 0x000D0001
HID_DG_PEN: Final = 0x000D0002
HID_DG_TOUCHSCREEN: Final = 0x000D0004
HID_DG_TOUCHPAD: Final = 0x000D0005
HID_DG_WHITEBOARD: Final = 0x000D0006
HID_DG_STYLUS: Final = 0x000D0020
HID_DG_PUCK: Final = 0x000D0021
HID_DG_FINGER: Final = 0x000D0022
HID_DG_TIPPRESSURE: Final = 0x000D0030
HID_DG_INRANGE: Final = 0x000D0032
HID_DG_INVERT: Final = 0x000D003C
HID_DG_TIPSWITCH: Final = 0x000D0042
HID_DG_ERASER: Final = 0x000D0045

HID_DC_BATTERYSTRENGTH: Final = 0x00060020
HID_BAT_CHARGING: Final = 0x00850044
HID_BAT_ABSOLUTESTATEOFCHARGE: Final = 0x00850065

_UNK: Final = ev.KEY_UNKNOWN

hid_keyboard: Final[tuple[int, ...]] = (
    0, 0, 0, 0, 30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38,
    50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44, 2, 3,
    4, 5, 6, 7, 8, 9, 10, 11, 28, 1, 14, 15, 57, 12, 13, 26,
    27, 43, 43, 39, 40, 41, 51, 52, 53, 58, 59, 60, 61, 62, 63, 64,
    65, 66, 67, 68, 87, 88, 99, 70, 119, 110, 102, 104, 111, 107, 109, 106,
    105, 108, 103, 69, 98, 55, 74, 78, 96, 79, 80, 81, 75, 76, 77, 71,
    72, 73, 82, 83, 86, 127, 116, 117, 183, 184, 185, 186, 187, 188, 189, 190,
    191, 192, 193, 194, 134, 138, 130, 132, 128, 129, 131, 137, 133, 135, 136, 113,
    115, 114, _UNK, _UNK, _UNK, 121, _UNK, 89, 93, 124, 92, 94, 95, _UNK, _UNK, _UNK,
    122, 123, 90, 91, 85, _UNK, _UNK, _UNK, _UNK, _UNK, _UNK, _UNK, 111, _UNK, _UNK, _UNK,
    *(_UNK,) * 16,
    *(_UNK,) * 6, 179, 180, *(_UNK,) * 8,
    *(_UNK,) * 16,
    *(_UNK,) * 8, 111, *(_UNK,) * 7,
    29, 42, 56, 125, 97, 54, 100, 126, 164, 166, 165, 163, 161, 115, 114, 113,
    150, 158, 159, 128, 136, 177, 178, 176, 142, 152, 173, 140, _UNK, _UNK, _UNK, _UNK,
)
"""hid_keyboard[]: keyboard page usage (0..255) → KEY_* code (0: not mapped)."""

#: hid_hat_to_axis[]: hat direction 0 (centre) … 8 → (x, y).
_HAT_TO_AXIS: Final = ((0, 0), (0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0),
                       (-1, -1))

#: hidinput_usages_priorities[]: usages a tablet must see before the others of its report,
#: highest priority first.
_USAGE_PRIORITIES: Final = (HID_DG_ERASER, HID_DG_INVERT, HID_DG_TIPSWITCH,
                            HID_DG_TIPPRESSURE, HID_DG_INRANGE)


def _keys(table: Mapping[int, str]) -> dict[int, int]:
    """A usage → code table written with the header's names."""
    return {usage: ev.CODES[name] for usage, name in table.items()}


#: Generic Desktop System Control keys (usage 0x81..0x8f, 0xa9, 0xb5).
_GD_SYSTEM_KEYS: Final = _keys({
    0x81: "KEY_POWER", 0x82: "KEY_SLEEP", 0x83: "KEY_WAKEUP", 0x84: "KEY_CONTEXT_MENU",
    0x85: "KEY_MENU", 0x86: "KEY_PROG1", 0x87: "KEY_HELP", 0x88: "KEY_EXIT",
    0x89: "KEY_SELECT", 0x8a: "KEY_RIGHT", 0x8b: "KEY_LEFT", 0x8c: "KEY_UP",
    0x8d: "KEY_DOWN", 0x8e: "KEY_POWER2", 0x8f: "KEY_RESTART",
    0xa9: "KEY_MICMUTE", 0xb5: "KEY_SWITCHVIDEOMODE",
})

#: LED page usage → LED_* code.
_LEDS: Final = _keys({
    0x01: "LED_NUML", 0x02: "LED_CAPSL", 0x03: "LED_SCROLLL", 0x04: "LED_COMPOSE",
    0x05: "LED_KANA", 0x27: "LED_SLEEP", 0x4c: "LED_SUSPEND", 0x09: "LED_MUTE",
    0x4b: "LED_MISC", 0x19: "LED_MAIL", 0x4d: "LED_CHARGING",
})

#: Simulation page usage → ABS_* code.
_SIMULATION: Final = _keys({
    0xba: "ABS_RUDDER", 0xbb: "ABS_THROTTLE", 0xc4: "ABS_GAS", 0xc5: "ABS_BRAKE",
    0xc8: "ABS_WHEEL",
})

#: Telephony page usage → KEY_* code.
_TELEPHONY: Final = _keys({
    0x2f: "KEY_MICMUTE", **{0xb0 + n: f"KEY_NUMERIC_{n}" for n in range(10)},
    0xba: "KEY_NUMERIC_STAR", 0xbb: "KEY_NUMERIC_POUND", 0xbc: "KEY_NUMERIC_A",
    0xbd: "KEY_NUMERIC_B", 0xbe: "KEY_NUMERIC_C", 0xbf: "KEY_NUMERIC_D",
})

#: Consumer page usage → KEY_* code (HUT 1.12 pages 75-84); others map to KEY_UNKNOWN.
_CONSUMER: Final = _keys({
    0x030: "KEY_POWER", 0x031: "KEY_RESTART", 0x032: "KEY_SLEEP", 0x034: "KEY_SLEEP",
    0x035: "KEY_KBDILLUMTOGGLE", 0x036: "BTN_MISC",
    0x040: "KEY_MENU", 0x041: "KEY_SELECT", 0x042: "KEY_UP", 0x043: "KEY_DOWN",
    0x044: "KEY_LEFT", 0x045: "KEY_RIGHT", 0x046: "KEY_ESC", 0x047: "KEY_KPPLUS",
    0x048: "KEY_KPMINUS",
    0x060: "KEY_INFO", 0x061: "KEY_SUBTITLE", 0x063: "KEY_VCR", 0x065: "KEY_CAMERA",
    0x069: "KEY_RED", 0x06a: "KEY_GREEN", 0x06b: "KEY_BLUE", 0x06c: "KEY_YELLOW",
    0x06d: "KEY_ASPECT_RATIO",
    0x06f: "KEY_BRIGHTNESSUP", 0x070: "KEY_BRIGHTNESSDOWN", 0x072: "KEY_BRIGHTNESS_TOGGLE",
    0x073: "KEY_BRIGHTNESS_MIN", 0x074: "KEY_BRIGHTNESS_MAX", 0x075: "KEY_BRIGHTNESS_AUTO",
    0x079: "KEY_KBDILLUMUP", 0x07a: "KEY_KBDILLUMDOWN", 0x07c: "KEY_KBDILLUMTOGGLE",
    0x082: "KEY_VIDEO_NEXT", 0x083: "KEY_LAST", 0x084: "KEY_ENTER", 0x088: "KEY_PC",
    0x089: "KEY_TV", 0x08a: "KEY_WWW", 0x08b: "KEY_DVD", 0x08c: "KEY_PHONE",
    0x08d: "KEY_PROGRAM", 0x08e: "KEY_VIDEOPHONE", 0x08f: "KEY_GAMES", 0x090: "KEY_MEMO",
    0x091: "KEY_CD", 0x092: "KEY_VCR", 0x093: "KEY_TUNER", 0x094: "KEY_EXIT",
    0x095: "KEY_HELP", 0x096: "KEY_TAPE", 0x097: "KEY_TV2", 0x098: "KEY_SAT",
    0x09a: "KEY_PVR", 0x09c: "KEY_CHANNELUP", 0x09d: "KEY_CHANNELDOWN", 0x0a0: "KEY_VCR2",
    0x0b0: "KEY_PLAY", 0x0b1: "KEY_PAUSE", 0x0b2: "KEY_RECORD", 0x0b3: "KEY_FASTFORWARD",
    0x0b4: "KEY_REWIND", 0x0b5: "KEY_NEXTSONG", 0x0b6: "KEY_PREVIOUSSONG",
    0x0b7: "KEY_STOPCD", 0x0b8: "KEY_EJECTCD", 0x0bc: "KEY_MEDIA_REPEAT",
    0x0b9: "KEY_SHUFFLE", 0x0bf: "KEY_SLOW", 0x0cd: "KEY_PLAYPAUSE",
    0x0cf: "KEY_VOICECOMMAND", 0x0d8: "KEY_DICTATE", 0x0d9: "KEY_EMOJI_PICKER",
    0x0e2: "KEY_MUTE", 0x0e5: "KEY_BASSBOOST", 0x0e9: "KEY_VOLUMEUP",
    0x0ea: "KEY_VOLUMEDOWN", 0x0f5: "KEY_SLOW",
    0x181: "KEY_BUTTONCONFIG", 0x182: "KEY_BOOKMARKS", 0x183: "KEY_CONFIG",
    0x184: "KEY_WORDPROCESSOR", 0x185: "KEY_EDITOR", 0x186: "KEY_SPREADSHEET",
    0x187: "KEY_GRAPHICSEDITOR", 0x188: "KEY_PRESENTATION", 0x189: "KEY_DATABASE",
    0x18a: "KEY_MAIL", 0x18b: "KEY_NEWS", 0x18c: "KEY_VOICEMAIL", 0x18d: "KEY_ADDRESSBOOK",
    0x18e: "KEY_CALENDAR", 0x18f: "KEY_TASKMANAGER", 0x190: "KEY_JOURNAL",
    0x191: "KEY_FINANCE", 0x192: "KEY_CALC", 0x193: "KEY_PLAYER", 0x194: "KEY_FILE",
    0x196: "KEY_WWW", 0x199: "KEY_CHAT", 0x19c: "KEY_LOGOFF", 0x19e: "KEY_COFFEE",
    0x19f: "KEY_CONTROLPANEL", 0x1a2: "KEY_APPSELECT", 0x1a3: "KEY_NEXT",
    0x1a4: "KEY_PREVIOUS", 0x1a6: "KEY_HELP", 0x1a7: "KEY_DOCUMENTS",
    0x1ab: "KEY_SPELLCHECK", 0x1ae: "KEY_KEYBOARD", 0x1b1: "KEY_SCREENSAVER",
    0x1b4: "KEY_FILE", 0x1b6: "KEY_IMAGES", 0x1b7: "KEY_AUDIO", 0x1b8: "KEY_VIDEO",
    0x1bc: "KEY_MESSENGER", 0x1bd: "KEY_INFO", 0x1cb: "KEY_ASSISTANT",
    0x201: "KEY_NEW", 0x202: "KEY_OPEN", 0x203: "KEY_CLOSE", 0x204: "KEY_EXIT",
    0x207: "KEY_SAVE", 0x208: "KEY_PRINT", 0x209: "KEY_PROPS", 0x21a: "KEY_UNDO",
    0x21b: "KEY_COPY", 0x21c: "KEY_CUT", 0x21d: "KEY_PASTE", 0x21f: "KEY_FIND",
    0x221: "KEY_SEARCH", 0x222: "KEY_GOTO", 0x223: "KEY_HOMEPAGE", 0x224: "KEY_BACK",
    0x225: "KEY_FORWARD", 0x226: "KEY_STOP", 0x227: "KEY_REFRESH", 0x22a: "KEY_BOOKMARKS",
    0x22d: "KEY_ZOOMIN", 0x22e: "KEY_ZOOMOUT", 0x22f: "KEY_ZOOMRESET",
    0x232: "KEY_FULL_SCREEN", 0x233: "KEY_SCROLLUP", 0x234: "KEY_SCROLLDOWN",
    0x23d: "KEY_EDIT", 0x25f: "KEY_CANCEL", 0x269: "KEY_INSERT", 0x26a: "KEY_DELETE",
    0x279: "KEY_REDO", 0x289: "KEY_REPLY", 0x28b: "KEY_FORWARDMAIL", 0x28c: "KEY_SEND",
    0x29d: "KEY_KBD_LAYOUT_NEXT", 0x2a2: "KEY_ALL_APPLICATIONS",
    0x2c7: "KEY_KBDINPUTASSIST_PREV", 0x2c8: "KEY_KBDINPUTASSIST_NEXT",
    0x2c9: "KEY_KBDINPUTASSIST_PREVGROUP", 0x2ca: "KEY_KBDINPUTASSIST_NEXTGROUP",
    0x2cb: "KEY_KBDINPUTASSIST_ACCEPT", 0x2cc: "KEY_KBDINPUTASSIST_CANCEL",
    0x29f: "KEY_SCALE",
})
_CONSUMER_AC_PAN: Final = 0x238
_CONSUMER_VOLUME: Final = 0x0e0

#: Camera page, HP vendor pages and the PID page: usage → KEY_* code; others ignored.
_CAMERA: Final = _keys({0x020: "KEY_CAMERA_FOCUS", 0x021: "KEY_CAMERA"})
_HPVENDOR: Final = _keys({
    0x021: "KEY_PRINT", 0x070: "KEY_HP", 0x071: "KEY_CAMERA", 0x072: "KEY_SOUND",
    0x073: "KEY_QUESTION", 0x080: "KEY_EMAIL", 0x081: "KEY_CHAT", 0x082: "KEY_SEARCH",
    0x083: "KEY_CONNECT", 0x084: "KEY_FINANCE", 0x085: "KEY_SPORT", 0x086: "KEY_SHOP",
})
_HPVENDOR2: Final = _keys({0x001: "KEY_MICMUTE", 0x003: "KEY_BRIGHTNESSDOWN",
                           0x004: "KEY_BRIGHTNESSUP"})
_PID: Final = _keys({0xa4: "BTN_DEAD"})

#: Each mappable event type: (the InputDev bitmap, its highest code).
_BITMAPS: Final[Mapping[int, tuple[str, int]]] = {
    ev.EV_ABS: ("absbit", ev.ABS_MAX),
    ev.EV_REL: ("relbit", ev.REL_MAX),
    ev.EV_KEY: ("keybit", ev.KEY_MAX),
    ev.EV_LED: ("ledbit", ev.LED_MAX),
    ev.EV_MSC: ("mscbit", ev.MSC_MAX),
}

#: hidinput_allocate()'s name suffixes, by application, with HID_QUIRK_INPUT_PER_APP.
_SUFFIXES: Final[Mapping[int, str]] = {
    HID_GD_KEYBOARD: "Keyboard", HID_GD_KEYPAD: "Keypad", HID_GD_MOUSE: "Mouse",
    HID_DG_PEN: "Stylus", HID_DG_STYLUS: "Pen", HID_DG_TOUCHSCREEN: "Touchscreen",
    HID_DG_TOUCHPAD: "Touchpad", HID_GD_SYSTEM_CONTROL: "System Control",
    HID_CP_CONSUMER_CONTROL: "Consumer Control",
    HID_GD_WIRELESS_RADIO_CTLS: "Wireless Radio Control",
    HID_GD_SYSTEM_MULTIAXIS: "System Multi Axis",
}


def is_input_application(usage: int) -> bool:
    """IS_INPUT_APPLICATION(): an application collection hid-input makes input devices
    for.  Context: atomic."""
    return (HID_UP_GENDESK <= usage <= HID_GD_MULTIAXIS
            or HID_DG_DIGITIZER <= usage <= HID_DG_WHITEBOARD
            or usage in (HID_GD_SYSTEM_CONTROL, HID_CP_CONSUMER_CONTROL,
                         HID_GD_WIRELESS_RADIO_CTLS))


# -- struct hid_input ------------------------------------------------------------------------------


@dataclass(eq=False)
class HidInput:
    """struct hid_input: one input device of a HID device, the application it serves,
    its own name when it has a suffix, and the reports that feed it."""

    input: InputDev
    application: int
    name: str | None = None
    reports: list[HidReport] = field(default_factory=list)
    registered: bool = False


def _hidinputs(hid: HidDevice) -> list[HidInput]:
    """hid->inputs, typed."""
    return [h for h in hid.inputs if isinstance(h, HidInput)]


# -- resolution ------------------------------------------------------------------------------------

_LENGTH_AXES: Final = frozenset({ev.ABS_X, ev.ABS_Y, ev.ABS_Z, ev.ABS_MT_POSITION_X,
                                 ev.ABS_MT_POSITION_Y, ev.ABS_MT_TOOL_X, ev.ABS_MT_TOOL_Y,
                                 ev.ABS_MT_TOUCH_MAJOR, ev.ABS_MT_TOUCH_MINOR})
_ANGLE_AXES: Final = frozenset({ev.ABS_RX, ev.ABS_RY, ev.ABS_RZ, ev.ABS_WHEEL, ev.ABS_TILT_X,
                                ev.ABS_TILT_Y})
_UNIT_CENTIMETER: Final = 0x11
_UNIT_RADIAN: Final = 0x12
_UNIT_INCH: Final = 0x13
_UNIT_DEGREE: Final = 0x14
_S32_MAX: Final = 0x7FFFFFFF


def _div_round_closest(x: int, divisor: int) -> int:
    """DIV_ROUND_CLOSEST() of two positive integers."""
    return (x + divisor // 2) // divisor


def hidinput_calc_abs_res(field: HidField, code: int) -> int:
    """hidinput_calc_abs_res(): the resolution of absolute axis `code` (units per mm for
    lengths, per radian for angles):

        (logical_maximum - logical_minimum) /
        ((physical_maximum - physical_minimum) * 10 ^ unit_exponent)

    Centimeters and inches are converted to millimeters, degrees to radians; 0 when the
    extents are not sane, the unit does not fit the axis, or a step would overflow 32
    bits.  Context: atomic."""
    unit_exponent = field.unit_exponent
    logical = field.logical_maximum - field.logical_minimum
    physical = field.physical_maximum - field.physical_minimum
    if logical <= 0 or physical <= 0:
        return 0
    if code in _LENGTH_AXES:
        if field.unit == _UNIT_CENTIMETER:
            unit_exponent += 1
        elif field.unit == _UNIT_INCH:
            physical *= 254
            unit_exponent -= 1
        else:
            return 0
    elif code in _ANGLE_AXES:
        if field.unit == _UNIT_DEGREE:
            logical *= 573
            unit_exponent += 1
        elif field.unit != _UNIT_RADIAN:
            return 0
    else:
        return 0
    for _ in range(unit_exponent, 0):
        logical *= 10
    for _ in range(0, unit_exponent):
        physical *= 10
    if logical > _S32_MAX or physical > _S32_MAX:
        return 0
    return _div_round_closest(logical, physical)


# -- mapping usages (hidinput_configure_usage) -----------------------------------------------------


class _Mapped(Enum):
    """Where a page's mapping left a usage: mapped (bit set), ignored, left to the
    default mapping of unknown usages, or refused (a code beyond its type's range)."""

    MAPPED = "mapped"
    IGNORE = "ignore"
    UNKNOWN = "unknown"
    FAILED = "failed"


def hid_map_usage(hidinput: HidInput, usage: HidUsage, type: int, code: int) -> bool:
    """hid_map_usage(): give `usage` event `type` and `code`; False (with the kernel's
    warning "<name>: Invalid code %d type %d") when the code is beyond the type's range or
    the type has no bitmap.  Context: atomic."""
    bitmap = _BITMAPS.get(type)
    if bitmap is None or code > bitmap[1]:
        _device(hidinput).log.log(Level.WARNING, f"{hidinput.input.name}: Invalid code "
                                                 f"{code} type {type}")
        return False
    usage.type = type
    usage.code = code
    return True


def hid_map_usage_clear(hidinput: HidInput, usage: HidUsage, type: int, code: int) -> bool:
    """hid_map_usage_clear(): `hid_map_usage`, and the code's capability bit cleared, so
    that the duplicate check does not refuse it.  Context: atomic."""
    if not hid_map_usage(hidinput, usage, type, code):
        return False
    attr = _BITMAPS[type][0]
    input = hidinput.input
    setattr(input, attr, getattr(input, attr) & ~(1 << code))
    return True


def _mapped(ok: bool) -> _Mapped:
    return _Mapped.MAPPED if ok else _Mapped.FAILED


def _map(hi: HidInput, usage: HidUsage, type: int, code: int, clear: bool = False) -> _Mapped:
    return _mapped((hid_map_usage_clear if clear else hid_map_usage)(hi, usage, type, code))


def _map_table(table: Mapping[int, int], type: int, clear: bool, missing: _Mapped,
               ) -> Callable[[HidInput, HidField, HidUsage], _Mapped]:
    """A page whose usages map by a table; `missing` for a usage not in it."""
    def page(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
        code = table.get(usage.hid & HID_USAGE)
        return missing if code is None else _map(hi, usage, type, code, clear)
    return page


def _map_keyboard(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    hi.input.evbit |= 1 << ev.EV_REP
    index = usage.hid & HID_USAGE
    if index >= len(hid_keyboard):
        return _map(hi, usage, ev.EV_KEY, ev.KEY_UNKNOWN)
    if not hid_keyboard[index]:
        return _Mapped.IGNORE
    return _map(hi, usage, ev.EV_KEY, hid_keyboard[index], clear=True)


def _in_collection(hid: HidDevice, fld: HidField, type: int, usage: int) -> bool:
    """hidinput_field_in_collection()."""
    index = fld.usage[0].collection_index if fld.usage else 0
    if not 0 <= index < len(hid.collection):
        return False
    collection = hid.collection[index]
    return collection.type == type and collection.usage == usage


#: Buttons of an application (or physical collection): the first code, and for joysticks
#: and gamepads where buttons past the 16th go.
_BUTTON_BASES: Final[Mapping[int, int]] = {
    HID_GD_MOUSE: ev.BTN_MOUSE, HID_GD_POINTER: ev.BTN_MOUSE,
    HID_GD_JOYSTICK: ev.BTN_JOYSTICK, HID_GD_GAMEPAD: ev.BTN_GAMEPAD,
}


def _button_code(hid: HidDevice, fld: HidField, code: int) -> int:
    """The code of button `code` (0-based) by application, as hid-input picks it."""
    app = fld.application
    if app in (HID_GD_MOUSE, HID_GD_POINTER):
        return code + ev.BTN_MOUSE
    if app in (HID_GD_JOYSTICK, HID_GD_GAMEPAD):
        return code + _BUTTON_BASES[app] if code <= 0xf else \
            code + ev.BTN_TRIGGER_HAPPY - 0x10
    if app == HID_CP_CONSUMER_CONTROL and _in_collection(
            hid, fld, CollectionType.NAMED_ARRAY, HID_CP_PROGRAMMABLEBUTTONS):
        return code + ev.KEY_MACRO1 if code <= 0x1d else code + ev.BTN_TRIGGER_HAPPY - 0x1e
    return code + _BUTTON_BASES.get(fld.physical, ev.BTN_MISC)


def _map_button(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    code = (usage.hid - 1) & HID_USAGE
    return _map(hi, usage, ev.EV_KEY, _button_code(_device(hi), fld, code))


_GD_DPAD: Final = {HID_GD_UP: 1, HID_GD_DOWN: 5, HID_GD_RIGHT: 3, HID_GD_LEFT: 7}


def _map_gendesk(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    group = usage.hid & 0xf0
    if group in (0x80, 0xa0, 0xb0):
        code = _GD_SYSTEM_KEYS.get(usage.hid & 0xff)
        if code is None:
            return _Mapped.UNKNOWN if group == 0x80 else _Mapped.IGNORE
        return _map(hi, usage, ev.EV_KEY, code, clear=True)
    if fld.application == HID_GD_SYSTEM_CONTROL:
        return _Mapped.IGNORE
    if group == 0x90:
        return _map_dpad(hi, fld, usage)
    return _map_gendesk_axis(hi, fld, usage)


def _map_dpad(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    direction = _GD_DPAD.get(usage.hid)
    if direction is None:
        return _Mapped.UNKNOWN
    usage.hat_dir = direction
    if fld.dpad:
        _map(hi, usage, ev.EV_ABS, fld.dpad)
        return _Mapped.IGNORE
    return _map(hi, usage, ev.EV_ABS, ev.ABS_HAT0X)


def _map_gendesk_axis(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    relative = bool(fld.flags & MainItemFlag.RELATIVE)
    hid = usage.hid
    if HID_GD_X <= hid <= HID_GD_RZ:
        return _map(hi, usage, ev.EV_REL, hid & 0xf) if relative else \
            _map(hi, usage, ev.EV_ABS, hid & 0xf, clear=True)
    if hid == HID_GD_WHEEL:
        if relative:
            hi.input.relbit |= 1 << ev.REL_WHEEL
            return _map(hi, usage, ev.EV_REL, ev.REL_WHEEL_HI_RES)
        return _map(hi, usage, ev.EV_ABS, hid & 0xf)
    if hid in (HID_GD_SLIDER, HID_GD_DIAL):
        return _map(hi, usage, ev.EV_REL if relative else ev.EV_ABS, hid & 0xf)
    if hid == HID_GD_HATSWITCH:
        usage.hat_min = fld.logical_minimum
        usage.hat_max = fld.logical_maximum
        return _map(hi, usage, ev.EV_ABS, ev.ABS_HAT0X)
    if hid == HID_GD_START:
        return _map(hi, usage, ev.EV_KEY, ev.BTN_START, clear=True)
    if hid == HID_GD_SELECT:
        return _map(hi, usage, ev.EV_KEY, ev.BTN_SELECT, clear=True)
    if hid == HID_GD_RFKILL_BTN and fld.application == HID_GD_WIRELESS_RADIO_CTLS:
        fld.flags |= MainItemFlag.RELATIVE  # the release is simulated
        return _map(hi, usage, ev.EV_KEY, ev.KEY_RFKILL, clear=True)
    return _Mapped.UNKNOWN


def _map_digitizer_in_range(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    if fld.physical == HID_DG_PUCK:
        return _map(hi, usage, ev.EV_KEY, ev.BTN_TOOL_MOUSE)
    if fld.physical == HID_DG_FINGER:
        return _map(hi, usage, ev.EV_KEY, ev.BTN_TOOL_FINGER)
    if fld.physical:
        return _map(hi, usage, ev.EV_KEY, ev.BTN_TOOL_PEN)
    tool = ev.BTN_TOOL_FINGER if fld.application in (HID_DG_TOUCHSCREEN, HID_DG_TOUCHPAD) \
        else ev.BTN_TOOL_PEN
    return _map(hi, usage, ev.EV_KEY, tool, clear=True)


def _map_tip_pressure(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    input = hi.input
    if not input.keybit >> ev.BTN_TOUCH & 1:
        _device(hi).quirks |= HidQuirk.NOTOUCH
        input.evbit |= 1 << ev.EV_KEY
        input.keybit |= 1 << ev.BTN_TOUCH
    return _map(hi, usage, ev.EV_ABS, ev.ABS_PRESSURE, clear=True)


def _map_touch(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    _device(hi).quirks &= ~HidQuirk.NOTOUCH
    return _map(hi, usage, ev.EV_KEY, ev.BTN_TOUCH, clear=True)


def _map_invert(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    _device(hi).quirks &= ~_QUIRK_NOINVERT
    return _map(hi, usage, ev.EV_KEY, ev.BTN_TOOL_RUBBER, clear=True)


def _map_eraser(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    input = hi.input
    if not input.keybit >> ev.BTN_TOOL_RUBBER & 1:
        _device(hi).quirks |= _QUIRK_NOINVERT
        input.keybit |= 1 << ev.BTN_TOOL_RUBBER
    return _map(hi, usage, ev.EV_KEY, ev.BTN_TOUCH, clear=True)


def _map_battery(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    usage.type = ev.EV_PWR
    return _Mapped.FAILED


def _key_clear(code: int) -> Callable[[HidInput, HidField, HidUsage], _Mapped]:
    def page(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
        return _map(hi, usage, ev.EV_KEY, code, clear=True)
    return page


def _abs_clear(code: int) -> Callable[[HidInput, HidField, HidUsage], _Mapped]:
    def page(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
        return _map(hi, usage, ev.EV_ABS, code, clear=True)
    return page


def _ignore(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    return _Mapped.IGNORE


def _unknown(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    return _Mapped.UNKNOWN


_MapFn = Callable[[HidInput, HidField, HidUsage], _Mapped]

#: Digitizer page usage (low byte) → its mapping.
_DIGITIZER: Final[Mapping[int, _MapFn]] = {
    0x00: _ignore,
    0x30: _map_tip_pressure,
    0x32: _map_digitizer_in_range,
    0x3b: _map_battery,
    0x3c: _map_invert,
    0x3d: _abs_clear(ev.ABS_TILT_X),
    0x3e: _abs_clear(ev.ABS_TILT_Y),
    0x33: _map_touch, 0x42: _map_touch, 0x43: _map_touch,
    0x44: _key_clear(ev.BTN_STYLUS),
    0x45: _map_eraser,
    0x46: _key_clear(ev.BTN_STYLUS2), 0x5a: _key_clear(ev.BTN_STYLUS2),
    0x5b: lambda hi, fld, usage: _map(hi, usage, ev.EV_MSC, ev.MSC_SERIAL),
    0x6e: lambda hi, fld, usage: _map(hi, usage, ev.EV_MSC, ev.MSC_SERIAL),
}


def _map_digitizer(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    kind = fld.application & 0xff
    if kind == 0x01:
        hi.input.propbit |= 1 << ev.INPUT_PROP_POINTER
    elif kind == 0x02:
        hi.input.propbit |= 1 << ev.INPUT_PROP_DIRECT
    return _DIGITIZER.get(usage.hid & 0xff, _unknown)(hi, fld, usage)


_consumer_keys: Final = _map_table(_CONSUMER, ev.EV_KEY, True, _Mapped.UNKNOWN)


def _map_consumer(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    index = usage.hid & HID_USAGE
    if index == 0x000:
        return _Mapped.IGNORE
    if index == _CONSUMER_VOLUME:
        return _map(hi, usage, ev.EV_ABS, ev.ABS_VOLUME, clear=True)
    if index == _CONSUMER_AC_PAN:
        hi.input.relbit |= 1 << ev.REL_HWHEEL
        return _map(hi, usage, ev.EV_REL, ev.REL_HWHEEL_HI_RES)
    if index not in _CONSUMER:
        return _map(hi, usage, ev.EV_KEY, ev.KEY_UNKNOWN, clear=True)
    return _consumer_keys(hi, fld, usage)


def _map_gendevctrls(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    return _map_battery(hi, fld, usage) if usage.hid == HID_DC_BATTERYSTRENGTH \
        else _Mapped.UNKNOWN


def _map_battery_page(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    return _map_battery(hi, fld, usage) \
        if usage.hid in (HID_BAT_ABSOLUTESTATEOFCHARGE, HID_BAT_CHARGING) else _Mapped.UNKNOWN


def _with_rep(page: _MapFn) -> _MapFn:
    """A vendor page of keyboards: the device gets EV_REP whatever the usage."""
    def mapped(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
        hi.input.evbit |= 1 << ev.EV_REP
        return page(hi, fld, usage)
    return mapped


#: Usage page → its mapping (hidinput_configure_usage's switch); pages not here are unknown.
_PAGES: Final[Mapping[int, _MapFn]] = {
    HID_UP_UNDEFINED: _ignore,
    HID_UP_KEYBOARD: _map_keyboard,
    HID_UP_BUTTON: _map_button,
    HID_UP_SIMULATION: _map_table(_SIMULATION, ev.EV_ABS, False, _Mapped.IGNORE),
    HID_UP_GENDESK: _map_gendesk,
    HID_UP_LED: _map_table(_LEDS, ev.EV_LED, False, _Mapped.IGNORE),
    HID_UP_DIGITIZER: _map_digitizer,
    HID_UP_TELEPHONY: _map_table(_TELEPHONY, ev.EV_KEY, True, _Mapped.IGNORE),
    HID_UP_CONSUMER: _map_consumer,
    HID_UP_GENDEVCTRLS: _map_gendevctrls,
    HID_UP_BATTERY: _map_battery_page,
    HID_UP_CAMERA: _map_table(_CAMERA, ev.EV_KEY, True, _Mapped.IGNORE),
    HID_UP_HPVENDOR: _with_rep(_map_table(_HPVENDOR, ev.EV_KEY, True, _Mapped.IGNORE)),
    HID_UP_HPVENDOR2: _with_rep(_map_table(_HPVENDOR2, ev.EV_KEY, True, _Mapped.IGNORE)),
    HID_UP_MSVENDOR: _ignore,
    HID_UP_CUSTOM: _with_rep(_ignore),
    HID_UP_LOGIVENDOR: _ignore,
    HID_UP_LOGIVENDOR2: _ignore,
    HID_UP_LOGIVENDOR3: _ignore,
    HID_UP_PID: _map_table(_PID, ev.EV_KEY, True, _Mapped.IGNORE),
}

#: HID_QUIRK_NOINVERT (hid.h bit 0): an eraser without an Invert usage.
_QUIRK_NOINVERT: Final = 1 << 0


def _map_unknown(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    """The `unknown:` label: one-bit fields become BTN_MISC (LED_MISC in an output
    report), relative ones REL_MISC, others ABS_MISC."""
    if fld.report_size == 1:
        if fld.report.type == ReportType.OUTPUT:
            return _map(hi, usage, ev.EV_LED, ev.LED_MISC)
        return _map(hi, usage, ev.EV_KEY, ev.BTN_MISC)
    if fld.flags & MainItemFlag.RELATIVE:
        return _map(hi, usage, ev.EV_REL, ev.REL_MISC)
    return _map(hi, usage, ev.EV_ABS, ev.ABS_MISC)


def _device(hi: HidInput) -> HidDevice:
    hid = input_get_drvdata(hi.input)
    if not isinstance(hid, HidDevice):
        raise ValueError(f"{hi.input.dev_name}: its driver data is not a HID device")
    return hid


def _set_priority(fld: HidField, usage: HidUsage, usage_index: int) -> None:
    """The usage's place when a report is processed: the tablet usages first, then by
    slot."""
    if usage_index >= len(fld.usages_priorities):
        return
    priority = 0
    if usage.hid in _USAGE_PRIORITIES:
        priority = (len(_USAGE_PRIORITIES) - _USAGE_PRIORITIES.index(usage.hid)) << 8
    fld.usages_priorities[usage_index] = priority | (0xff - fld.slot_idx) << 16


def _page_mapping(hi: HidInput, fld: HidField, usage: HidUsage) -> _Mapped:
    """The driver's input_mapping, else the page's mapping, else the default one."""
    device = _device(hi)
    drv = device.hid_driver
    if drv is not None and drv.input_mapping is not None:
        ret = drv.input_mapping(device, hi, fld, usage)
        if ret > 0:
            return _Mapped.MAPPED if usage.type in _BITMAPS else _Mapped.FAILED
        if ret < 0:
            return _Mapped.IGNORE
    result = _PAGES.get(usage.hid & HID_USAGE_PAGE, _unknown)(hi, fld, usage)
    return _map_unknown(hi, fld, usage) if result is _Mapped.UNKNOWN else result


def _skipped(fld: HidField, usage: HidUsage) -> bool:
    """Fields hid-input never maps: constants, empty ones, non-LED output usages."""
    return bool(fld.flags & MainItemFlag.CONSTANT or fld.report_count < 1
                or (fld.report_type == ReportType.OUTPUT
                    and usage.hid & HID_USAGE_PAGE != HID_UP_LED))


def _clear_usage(usage: HidUsage) -> None:
    usage.type = 0
    usage.code = 0


def hidinput_configure_usage(hidinput: HidInput, fld: HidField, usage: HidUsage,
                             usage_index: int) -> None:
    """hidinput_configure_usage(): map one usage to an event type and code and give the
    input device the capabilities it needs (the type, the code, absinfo for absolute
    axes, EV_MSC/MSC_SCAN for keys).  A code another usage took first is refused
    (HID_STAT_DUP_DETECTED), or moved to the next free one with
    HID_QUIRK_INCREMENT_USAGE_ON_DUPLICATE.  Context: atomic."""
    input = hidinput.input
    device = _device(hidinput)
    fld.hidinput = hidinput
    if _skipped(fld, usage):
        _clear_usage(usage)
        return
    _set_priority(fld, usage, usage_index)
    result = _page_mapping(hidinput, fld, usage)
    if result is _Mapped.IGNORE:
        _clear_usage(usage)
        return
    if result is _Mapped.FAILED:
        return
    drv = device.hid_driver
    if drv is not None and drv.input_mapped is not None \
            and drv.input_mapped(device, hidinput, fld, usage) < 0:
        return
    input.evbit |= 1 << usage.type
    if not _claim_code(device, input, usage):
        _clear_usage(usage)
        return
    _set_capabilities(input, fld, usage, device)


def _claim_code(device: HidDevice, input: InputDev, usage: HidUsage) -> bool:
    """The duplicate check: the usage's capability bit is set, unless another usage holds
    it already."""
    attr, maximum = _BITMAPS[usage.type]
    bitmap = getattr(input, attr)
    while usage.code <= maximum and bitmap >> usage.code & 1:
        if not device.quirks & HidQuirk.INCREMENT_USAGE_ON_DUPLICATE:
            device.status |= HidStat.DUP_DETECTED
            return False
        free = next((c for c in range(usage.code, maximum + 1) if not bitmap >> c & 1),
                    maximum + 1)
        usage.code = free
    if usage.code > maximum:
        return False
    setattr(input, attr, bitmap | 1 << usage.code)
    return True


def _set_capabilities(input: InputDev, fld: HidField, usage: HidUsage,
                      device: HidDevice) -> None:
    if usage.type == ev.EV_ABS:
        a, b = fld.logical_minimum, fld.logical_maximum
        if device.quirks & HidQuirk.BADPAD and usage.code in (ev.ABS_X, ev.ABS_Y):
            a = fld.logical_minimum = 0
            b = fld.logical_maximum = 255
        if fld.application in (HID_GD_GAMEPAD, HID_GD_JOYSTICK):
            input_set_abs_params(input, usage.code, a, b, (b - a) >> 8, (b - a) >> 4)
        else:
            input_set_abs_params(input, usage.code, a, b, 0, 0)
        input_abs_set_res(input, usage.code, hidinput_calc_abs_res(fld, usage.code))
        if usage.code == ev.ABS_MT_POSITION_X and input.hint_events_per_packet == 0:
            input_set_events_per_packet(input, 60)
        if usage.hat_min < usage.hat_max or usage.hat_dir:
            for axis in range(usage.code, min(usage.code + 2, ev.ABS_MAX + 1)):
                input_set_abs_params(input, axis, -1, 1, 0, 0)
            if usage.hat_dir and not fld.dpad:
                fld.dpad = usage.code
        if fld.flags & MainItemFlag.RELATIVE and usage.code == ev.ABS_VOLUME:
            input.keybit |= 1 << ev.KEY_VOLUMEUP | 1 << ev.KEY_VOLUMEDOWN
    if usage.type == ev.EV_KEY:
        input.evbit |= 1 << ev.EV_MSC
        input.mscbit |= 1 << ev.MSC_SCAN


def hidinput_configure_usages(hidinput: HidInput, report: HidReport) -> None:
    """hidinput_configure_usages(): tag the fields of multitouch slots (a Contact ID in
    their collection), then configure every usage of the report.  Context: atomic."""
    first_field_index = 0
    slot_collection_index = prev_collection_index = -1
    slot_idx = 0
    for i, fld in enumerate(report.field):
        if not fld.usage:
            continue
        collection_index = fld.usage[0].collection_index
        if prev_collection_index != collection_index:
            prev_collection_index = collection_index
            first_field_index = i
        if slot_collection_index == collection_index:
            fld.slot_idx = slot_idx
            continue
        if any(u.hid == HID_DG_CONTACTID for u in fld.usage):
            slot_collection_index = collection_index
            slot_idx += 1
            for tagged in report.field[first_field_index:i + 1]:
                tagged.slot_idx = slot_idx
    for fld in report.field:
        for j, usage in enumerate(fld.usage):
            hidinput_configure_usage(hidinput, fld, usage, j)


# -- events (hidinput_hid_event, hidinput_report_event) --------------------------------------------


def hidinput_handle_scroll(usage: HidUsage, input: InputDev, value: int) -> None:
    """hidinput_handle_scroll(): a wheel value in 1/resolution_multiplier clicks becomes
    REL_WHEEL_HI_RES (120 per click) and, as whole clicks accumulate, REL_WHEEL (or the
    horizontal pair).  Context: atomic."""
    if value == 0:
        return
    code = ev.REL_WHEEL if usage.code == ev.REL_WHEEL_HI_RES else ev.REL_HWHEEL
    hi_res = _cdiv(value * 120, usage.resolution_multiplier or 1)
    usage.wheel_accumulated += hi_res
    lo_res = _cdiv(usage.wheel_accumulated, 120)
    if lo_res:
        usage.wheel_accumulated -= lo_res * 120
    input_event(input, ev.EV_REL, code, lo_res)
    input_event(input, ev.EV_REL, usage.code, hi_res)


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncating toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _release_tool(report: HidReport, input: InputDev, tool: int) -> None:
    """hid_report_release_tool(): a tool in proximity leaves it (BTN_TOUCH and the tool
    released, SYN_REPORT)."""
    if not tool or not input.key >> tool & 1:
        return
    input_event(input, ev.EV_KEY, ev.BTN_TOUCH, 0)
    input_event(input, ev.EV_KEY, tool, 0)
    input_event(input, ev.EV_SYN, ev.SYN_REPORT, 0)
    report.tool = 0


def _set_tool(report: HidReport, input: InputDev, new_tool: int) -> None:
    """hid_report_set_tool()."""
    if report.tool != new_tool:
        _release_tool(report, input, report.tool)
    input_event(input, ev.EV_KEY, new_tool, 1)
    report.tool = new_tool


def _tablet_eraser(hid: HidDevice, report: HidReport, input: InputDev, usage: HidUsage,
                   value: int) -> bool:
    report.tool_active |= bool(value)
    if value:
        _set_tool(report, input, ev.BTN_TOOL_RUBBER)
    elif report.tool != ev.BTN_TOOL_RUBBER:
        return True
    elif hid.quirks & _QUIRK_NOINVERT and not input.key >> ev.BTN_TOUCH & 1:
        _release_tool(report, input, ev.BTN_TOOL_RUBBER)
        return True
    return False


def _tablet_invert(hid: HidDevice, report: HidReport, input: InputDev, usage: HidUsage,
                   value: int) -> bool:
    report.tool_active |= bool(value)
    if value:
        _set_tool(report, input, ev.BTN_TOOL_RUBBER)
    elif not report.tool_active:
        _release_tool(report, input, ev.BTN_TOOL_RUBBER)
    return True


def _tablet_in_range(hid: HidDevice, report: HidReport, input: InputDev, usage: HidUsage,
                     value: int) -> bool:
    report.tool_active |= bool(value)
    if report.tool_active:
        if not report.tool:
            report.tool = usage.code
        _set_tool(report, input, report.tool)
    else:
        _release_tool(report, input, usage.code)
    report.tool_active = False
    return True


def _tablet_tip_switch(hid: HidDevice, report: HidReport, input: InputDev, usage: HidUsage,
                       value: int) -> bool:
    report.tool_active |= bool(value)
    return report.tool == ev.BTN_TOOL_RUBBER


#: Digitizer usages whose value first moves the tablet's tool state; True: consumed.
_TABLET_USAGES: Final[Mapping[int, Callable[[HidDevice, HidReport, InputDev, HidUsage, int],
                                             bool]]] = {
    HID_DG_ERASER: _tablet_eraser,
    HID_DG_INVERT: _tablet_invert,
    HID_DG_INRANGE: _tablet_in_range,
    HID_DG_TIPSWITCH: _tablet_tip_switch,
}


def _tip_pressure(hid: HidDevice, fld: HidField, input: InputDev, value: int) -> None:
    """A pen without a tip switch touches when its pressure passes an eighth."""
    if hid.quirks & HidQuirk.NOTOUCH:
        a, b = fld.logical_minimum, fld.logical_maximum
        if value > a + ((b - a) >> 3):
            input_event(input, ev.EV_KEY, ev.BTN_TOUCH, 1)
            fld.report.tool_active = True


def _clamped(fld: HidField, value: int) -> int | None:
    """A variable's value within its logical range (None: out of range with a null
    state, to be ignored)."""
    if not fld.flags & MainItemFlag.VARIABLE or fld.logical_minimum >= fld.logical_maximum:
        return value
    if fld.flags & MainItemFlag.NULL_STATE and not \
            fld.logical_minimum <= value <= fld.logical_maximum:
        return None
    return max(fld.logical_minimum, min(fld.logical_maximum, value))


def _volume_steps(input: InputDev, value: int) -> None:
    """A relative volume control: KEY_VOLUMEUP/DOWN pressed and released once per step."""
    direction = ev.KEY_VOLUMEUP if value > 0 else ev.KEY_VOLUMEDOWN
    for _ in range(abs(value)):
        input_event(input, ev.EV_KEY, direction, 1)
        input_sync(input)
        input_event(input, ev.EV_KEY, direction, 0)
        input_sync(input)


def _typed_value(hid: HidDevice, fld: HidField, usage: HidUsage, input: InputDev,
                 value: int) -> int | None:
    """The per-type handling of hidinput_hid_event: None when the event is consumed."""
    if usage.type == ev.EV_KEY and usage.code == 0:
        return None
    if usage.type == ev.EV_REL and usage.code in (ev.REL_WHEEL_HI_RES, ev.REL_HWHEEL_HI_RES):
        hidinput_handle_scroll(usage, input, value)
        return None
    if usage.type == ev.EV_ABS:
        if fld.flags & MainItemFlag.RELATIVE and usage.code == ev.ABS_VOLUME:
            _volume_steps(input, value)
            return None
        if (hid.quirks & HidQuirk.X_INVERT and usage.code == ev.ABS_X) or \
                (hid.quirks & HidQuirk.Y_INVERT and usage.code == ev.ABS_Y):
            return fld.logical_maximum - value
    return value


def _unchanged(fld: HidField, usage: HidUsage, value: int) -> bool:
    """An absolute variable reporting the value it had: no event (this also drops the
    'dead' keys of localized keyboards)."""
    return (not fld.flags & (MainItemFlag.RELATIVE | MainItemFlag.BUFFERED_BYTE)
            and bool(fld.flags & MainItemFlag.VARIABLE)
            and usage.usage_index < fld.maxusage
            and usage.usage_index < len(fld.value)
            and value == fld.value[usage.usage_index])


def hidinput_hid_event(hid: HidDevice, fld: HidField, usage: HidUsage, value: int) -> None:
    """hidinput_hid_event(): the events one usage's value makes — hat directions, tablet
    tool changes, wheel clicks, volume steps, and otherwise the mapped event, preceded by
    EV_MSC/MSC_SCAN (the usage) when a key changes state; a relative key is released at
    once.  Unchanged absolute variables make nothing.  Context: atomic."""
    if not usage.type or usage.type == ev.EV_PWR:
        return
    hidinput = fld.hidinput
    if not isinstance(hidinput, HidInput):
        return
    input = hidinput.input
    if usage.hat_min < usage.hat_max or usage.hat_dir:
        hat_dir = usage.hat_dir or \
            (value - usage.hat_min) * 8 // (usage.hat_max - usage.hat_min + 1) + 1
        x, y = _HAT_TO_AXIS[hat_dir if 0 <= hat_dir <= 8 else 0]
        input_event(input, usage.type, usage.code, x)
        input_event(input, usage.type, usage.code + 1, y)
        return
    clamped = _clamped(fld, value)
    if clamped is None:
        return
    value = clamped
    tablet = _TABLET_USAGES.get(usage.hid)
    if tablet is not None and tablet(hid, fld.report, input, usage, value):
        return
    if usage.hid == HID_DG_TIPPRESSURE:
        _tip_pressure(hid, fld, input, value)
    typed = _typed_value(hid, fld, usage, input, value)
    if typed is None or _unchanged(fld, usage, typed):
        return
    value = typed
    if usage.type == ev.EV_KEY and (not input.key >> usage.code & 1) == bool(value):
        input_event(input, ev.EV_MSC, ev.MSC_SCAN, usage.hid)
    input_event(input, usage.type, usage.code, value)
    if fld.flags & MainItemFlag.RELATIVE and usage.type == ev.EV_KEY and value:
        input_sync(input)
        input_event(input, usage.type, usage.code, 0)


def hidinput_report_event(hid: HidDevice, report: HidReport) -> None:
    """hidinput_report_event(): the report is over — SYN_REPORT on every input device
    (unless HID_QUIRK_NO_INPUT_SYNC).  Context: atomic."""
    if hid.quirks & HidQuirk.NO_INPUT_SYNC:
        return
    for hidinput in _hidinputs(hid):
        input_sync(hidinput.input)


def hid_check_keys_pressed(hid: HidDevice) -> bool:
    """hid_check_keys_pressed(): whether a key of one of the device's input devices is
    down (usbhid then refuses autosuspend).  Context: atomic."""
    if not hid.claimed & HidClaimed.INPUT:
        return False
    return any(hidinput.input.key for hidinput in _hidinputs(hid))


# -- LEDs ------------------------------------------------------------------------------------------


def hidinput_find_field(hid: HidDevice, type: int, code: int) -> tuple[HidField, int] | None:
    """hidinput_find_field(): the output field and index of the usage mapped to `type`
    and `code`, or None.  Context: atomic."""
    for report in hid.report_enum[ReportType.OUTPUT].report_list:
        for fld in report.field:
            for j, usage in enumerate(fld.usage):
                if usage.type == type and usage.code == code:
                    return fld, j
    return None


def hidinput_get_led_field(hid: HidDevice) -> HidField | None:
    """hidinput_get_led_field(): the first output field with an LED usage.  Context:
    atomic."""
    for report in hid.report_enum[ReportType.OUTPUT].report_list:
        for fld in report.field:
            if any(usage.type == ev.EV_LED for usage in fld.usage):
                return fld
    return None


def hidinput_count_leds(hid: HidDevice) -> int:
    """hidinput_count_leds(): how many LED usages are on.  Context: atomic."""
    return sum(1 for report in hid.report_enum[ReportType.OUTPUT].report_list
               for fld in report.field for j, usage in enumerate(fld.usage)
               if usage.type == ev.EV_LED and j < len(fld.value) and fld.value[j])


@dataclass(eq=False)
class _LedWork:
    """hid->led_work: queued at most once, run as a task of the machine."""

    task: asyncio.Task[None] | None = None


_led_work: weakref.WeakKeyDictionary[HidDevice, _LedWork] = weakref.WeakKeyDictionary()


async def hidinput_led_worker(hid: HidDevice) -> None:
    """hidinput_led_worker(): send the LED report — through the transport's request hook
    (usbhid queues a SET_REPORT or an interrupt OUT transfer), else as an output report,
    else as SET_REPORT(Output).  Context: may sleep (a work item)."""
    work = _led_work.get(hid)
    if work is not None:
        work.task = None
    fld = hidinput_get_led_field(hid)
    if fld is None or hid.ll_driver is None:
        return
    report = fld.report
    if hid.ll_driver.request is not None:
        hid.ll_driver.request(hid, report, HidRequest.SET_REPORT)
        return
    length = hid_report_len(report)
    buf = hid_alloc_report_buf(report)
    hid_output_report(report, buf)
    ret = await hid_hw_output_report(hid, buf, length)
    if ret == -Errno.ENOSYS:
        await hid_hw_raw_request(hid, report.id, buf, length, ReportType.OUTPUT,
                                 HidRequest.SET_REPORT)


def _schedule_led_work(hid: HidDevice) -> None:
    """schedule_work(&hid->led_work): a no-op while the work is queued."""
    work = _led_work.setdefault(hid, _LedWork())
    if work.task is None:
        task = asyncio.get_running_loop().create_task(hidinput_led_worker(hid))
        work.task = task
        pending = hid.core.driver_core.pending
        pending.add(task)
        task.add_done_callback(pending.discard)


def hidinput_input_event(dev: InputDev, type: int, code: int, value: int) -> int:
    """hidinput_input_event() (input_dev.event): an LED change sets the LED usage of the
    output report and queues the LED work; other types are refused (-1), as is an LED
    the device has no usage for ("event field not found").  Context: atomic."""
    hid = input_get_drvdata(dev)
    if type != ev.EV_LED or not isinstance(hid, HidDevice):
        return -1
    found = hidinput_find_field(hid, type, code)
    if found is None:
        hid_warn(hid, "event field not found")
        return -1
    fld, offset = found
    hid_set_field(fld, offset, value)
    _schedule_led_work(hid)
    return 0


async def hidinput_open(dev: InputDev) -> int:
    """hidinput_open() (input_dev.open): the first user of the input device opens the
    HID device.  Context: may sleep."""
    hid = input_get_drvdata(dev)
    if not isinstance(hid, HidDevice):
        return -Errno.ENODEV
    return await hid_hw_open(hid)


async def hidinput_close(dev: InputDev) -> None:
    """hidinput_close() (input_dev.close).  Context: may sleep."""
    hid = input_get_drvdata(dev)
    if isinstance(hid, HidDevice):
        await hid_hw_close(hid)


# -- resolution multipliers ------------------------------------------------------------------------


async def _change_multipliers(hid: HidDevice, report: HidReport, use_logical_max: bool) -> bool:
    """__hidinput_change_resolution_multipliers(): set the report's Resolution
    Multipliers to their maximum (or minimum); whether one was found."""
    update_needed = False
    got_report = False
    for fld in report.field:
        value = fld.logical_maximum if use_logical_max else fld.logical_minimum
        if fld.report_count != 1:
            continue
        for j, usage in enumerate(fld.usage):
            if usage.hid != HID_GD_RESOLUTION_MULTIPLIER:
                continue
            if not got_report and report.maxfield > 1:
                if hid.quirks & HidQuirk.NO_INIT_REPORTS:
                    return update_needed
                await hid_hw_request(hid, report, HidRequest.GET_REPORT)
                await hid_hw_wait(hid)
                got_report = True
            fld.value[j] = value
            update_needed = True
    return update_needed


async def hidinput_change_resolution_multipliers(hid: HidDevice) -> None:
    """hidinput_change_resolution_multipliers(): high-resolution scrolling on, where the
    device has a Resolution Multiplier feature (back to the minimum if the device refuses
    the SET_REPORT), then the usages learn their multipliers.  Context: may sleep."""
    for report in hid.report_enum[ReportType.FEATURE].report_list:
        if await _change_multipliers(hid, report, True) \
                and await hid_request_now(hid, report, HidRequest.SET_REPORT):
            await _change_multipliers(hid, report, False)
            return
    hid_setup_resolution_multiplier(hid)


# -- connect and disconnect ------------------------------------------------------------------------


def hidinput_allocate(hid: HidDevice, application: int) -> HidInput:
    """hidinput_allocate(): a new input device for `application`: named after the HID
    device, with the application's suffix when HID_QUIRK_INPUT_PER_APP gives each
    application its own device (unless the name ends with it already); phys, uniq and
    id from the HID device, whose child it is.  Context: atomic."""
    suffix = _SUFFIXES.get(application) if hid.quirks & HidQuirk.INPUT_PER_APP \
        and hid.maxapplication > 1 else None
    name = f"{hid.hid_name} {suffix}" if suffix and not hid.hid_name.endswith(suffix) \
        else None
    input = input_allocate_device()
    input_set_drvdata(input, hid)
    input.event = hidinput_input_event
    input.open = hidinput_open
    input.close = hidinput_close
    input.name = name if name is not None else hid.hid_name
    input.phys = hid.phys
    input.uniq = hid.uniq
    input.id = InputId(hid.bustype, hid.vendor & 0xFFFF, hid.product & 0xFFFF,
                       hid.version & 0xFFFF)
    input.parent = hid
    hidinput = HidInput(input, application, name)
    hid.inputs.append(hidinput)
    return hidinput


def _populated(input: InputDev) -> bool:
    """hidinput_has_been_populated(): the device got some capability."""
    return bool(input.evbit | input.keybit | input.relbit | input.absbit | input.mscbit
                | input.ledbit | input.sndbit | input.ffbit | input.swbit)


def _cleanup_hidinput(hid: HidDevice, hidinput: HidInput) -> None:
    """hidinput_cleanup_hidinput(): an input device that got no capability goes."""
    hid.inputs.remove(hidinput)
    input_free_device(hidinput.input)
    for report_type in (ReportType.INPUT, ReportType.OUTPUT):
        for report in hid.report_enum[report_type].report_list:
            for fld in report.field:
                if fld.hidinput is hidinput:
                    fld.hidinput = None


def _match_application(hid: HidDevice, report: HidReport) -> HidInput | None:
    """hidinput_match_application(): the input device of the report's application;
    System and Consumer Control go with the keyboard."""
    for hidinput in _hidinputs(hid):
        if hidinput.application == report.application:
            return hidinput
        if report.application in (HID_GD_SYSTEM_CONTROL, HID_CP_CONSUMER_CONTROL) \
                and hidinput.application == HID_GD_KEYBOARD:
            return hidinput
    return None


def _has_input_application(hid: HidDevice) -> bool:
    return any(col.type in (CollectionType.APPLICATION, CollectionType.PHYSICAL)
               and is_input_application(col.usage) for col in hid.collection)


def _report_features(hid: HidDevice) -> None:
    """report_features(): the driver's feature_mapping sees every feature usage."""
    drv = hid.hid_driver
    if drv is None or drv.feature_mapping is None:
        return
    for report in hid.report_enum[ReportType.FEATURE].report_list:
        for fld in report.field:
            if fld.report_count < 1:
                continue
            for usage in fld.usage:
                drv.feature_mapping(hid, fld, usage)


def _configure_reports(hid: HidDevice) -> None:
    """Every input and output report with fields feeds an input device: the one of its
    application with HID_QUIRK_INPUT_PER_APP and several applications, else the first."""
    hidinput: HidInput | None = None
    per_app = hid.maxapplication > 1 and hid.quirks & HidQuirk.INPUT_PER_APP
    for report_type in (ReportType.INPUT, ReportType.OUTPUT):
        if report_type == ReportType.OUTPUT and hid.quirks & HidQuirk.SKIP_OUTPUT_REPORTS:
            continue
        for report in hid.report_enum[report_type].report_list:
            if not report.field:
                continue
            if per_app:
                hidinput = _match_application(hid, report)
            if hidinput is None:
                hidinput = hidinput_allocate(hid, report.application)
            hidinput_configure_usages(hidinput, report)
            hidinput.reports.append(report)


async def hidinput_connect(hid: HidDevice, force: int) -> int:
    """hidinput_connect(): give the device its input devices — unless `force`, only when
    it has an input application (Generic Desktop, digitizer, System or Consumer
    Control) — map every usage, and register those that got capabilities.  Returns 0,
    or -1 when there is nothing to register ("No inputs registered, leaving") or a
    registration fails; then none stays.  Context: may sleep."""
    hid.inputs = []
    hid.status &= ~HidStat.DUP_DETECTED
    if not force and not _has_input_application(hid):
        return -1
    _report_features(hid)
    _configure_reports(hid)
    await hidinput_change_resolution_multipliers(hid)
    drv = hid.hid_driver
    for hidinput in list(_hidinputs(hid)):
        if drv is not None and drv.input_configured is not None \
                and drv.input_configured(hid, hidinput):
            await hidinput_disconnect(hid)
            return -1
        if not _populated(hidinput.input):
            _cleanup_hidinput(hid, hidinput)
            continue
        if await input_register_device(hidinput.input):
            await hidinput_disconnect(hid)
            return -1
        hidinput.registered = True
    if not hid.inputs:
        hid.log.dev(Level.ERR, hid, "No inputs registered, leaving")
        await hidinput_disconnect(hid)
        return -1
    if hid.status & HidStat.DUP_DETECTED:
        hid.log.dev(Level.DEBUG, hid, "Some usages could not be mapped, please use "
                                      "HID_QUIRK_INCREMENT_USAGE_ON_DUPLICATE if this is "
                                      "legitimate.")
    return 0


async def hidinput_disconnect(hid: HidDevice) -> None:
    """hidinput_disconnect(): unregister (or free) every input device of the device, then
    cancel the LED work.  Context: may sleep."""
    for hidinput in _hidinputs(hid):
        hid.inputs.remove(hidinput)
        if hidinput.registered:
            await input_unregister_device(hidinput.input)
        else:
            input_free_device(hidinput.input)
    work = _led_work.pop(hid, None)
    if work is not None and work.task is not None:
        work.task.cancel()


HIDINPUT_OPS: Final = HidInputOps(
    connect=hidinput_connect,
    disconnect=hidinput_disconnect,
    hid_event=hidinput_hid_event,
    report_event=hidinput_report_event,
)
"""hid-input as hid-core calls it: what the hid module gives `HidCore.start(hidinput=…)`."""
