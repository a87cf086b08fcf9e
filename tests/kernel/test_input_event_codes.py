"""Input event codes and the input ABI (usbemu.kernel.input_event_codes): the values and
names of include/uapi/linux/input-event-codes.h and input.h, the codecs of struct
input_event, input_id and input_absinfo, evtest's lines for events, and the EVIOC* ioctl
numbers as a 64-bit Linux computes them.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usbemu.kernel import input_event_codes as codes
from usbemu.kernel.input_event_codes import (
    ABS_MAX,
    ABS_MT_SLOT,
    BTN_EXTRA,
    BTN_LEFT,
    BTN_MOUSE,
    BUS_USB,
    EV_CNT,
    EV_KEY,
    EV_MAX,
    EV_MSC,
    EV_REL,
    EV_SYN,
    EV_VERSION,
    EVIOCGABS,
    EVIOCGBIT,
    EVIOCGID,
    EVIOCGKEY,
    EVIOCGNAME,
    EVIOCGRAB,
    EVIOCGVERSION,
    EVIOCSABS,
    EVIOCSCLOCKID,
    EVIOCSFF,
    INPUT_EVENT_SIZE,
    KEY_102ND,
    KEY_A,
    KEY_CNT,
    KEY_LEFTMETA,
    KEY_MAX,
    KEY_MIN_INTERESTING,
    KEY_MUTE,
    MSC_SCAN,
    REL_WHEEL_HI_RES,
    REL_X,
    SW_CNT,
    SYN_DROPPED,
    SYN_MT_REPORT,
    SYN_REPORT,
    InputAbsinfo,
    InputEvent,
    InputId,
    code_name,
    decode_events,
    type_name,
)

# -- values and names --------------------------------------------------------------------------


def test_values_from_the_headers() -> None:
    assert (EV_SYN, EV_KEY, EV_REL, EV_MSC, EV_MAX, EV_CNT) == (0, 1, 2, 4, 0x1F, 0x20)
    assert (SYN_REPORT, SYN_MT_REPORT, SYN_DROPPED) == (0, 2, 3)
    assert (KEY_A, KEY_102ND, KEY_LEFTMETA, KEY_MUTE) == (30, 86, 125, 113)
    assert (BTN_MOUSE, BTN_LEFT, BTN_EXTRA) == (0x110, 0x110, 0x114)
    assert (KEY_MAX, KEY_CNT, KEY_MIN_INTERESTING) == (0x2FF, 0x300, KEY_MUTE)
    assert (REL_X, REL_WHEEL_HI_RES, MSC_SCAN, BUS_USB) == (0, 0x0B, 4, 3)
    assert (ABS_MT_SLOT, ABS_MAX, SW_CNT, EV_VERSION) == (0x2F, 0x3F, 0x11, 0x010001)
    assert codes.KEY_HANGUEL == codes.KEY_HANGEUL == 122
    assert codes.BTN_A == codes.BTN_SOUTH == 0x130
    assert codes.FF_MAX_EFFECTS == codes.FF_GAIN == 0x60
    # Linux 6.11's keys, and 6.12.y's KEY_LINK_PHONE
    assert (codes.KEY_CAMERA_ACCESS_ENABLE, codes.KEY_ACCESSIBILITY,
            codes.KEY_DO_NOT_DISTURB, codes.KEY_LINK_PHONE) == (0x24B, 0x24E, 0x24F, 0x1BF)


def test_names_of_codes() -> None:
    assert codes.KEYS["KEY_A"] == 30 and codes.KEYS["BTN_MOUSE"] == 0x110
    assert codes.KEY_NAMES[0x110] == "BTN_LEFT"         # not BTN_MOUSE: the last name
    assert codes.KEY_NAMES[0x100] == "BTN_0"            # not BTN_MISC
    assert codes.KEY_NAMES[0x130] == "BTN_SOUTH"        # BTN_A is an alias
    assert codes.KEY_NAMES[122] == "KEY_HANGEUL"
    assert codes.KEY_NAMES[204] == "KEY_ALL_APPLICATIONS"  # KEY_DASHBOARD is an alias
    assert "KEY_MAX" not in codes.KEYS and "KEY_MIN_INTERESTING" not in codes.KEYS
    assert code_name(EV_REL, REL_X) == "REL_X"
    assert code_name(EV_SYN, SYN_REPORT) == "SYN_REPORT"
    assert code_name(codes.EV_REP, codes.REP_PERIOD) == "REP_PERIOD"
    assert code_name(codes.EV_FF, codes.FF_GAIN) == "FF_GAIN"
    assert code_name(EV_KEY, 0x2FE) is None and code_name(0x1E, 0) is None
    assert type_name(codes.EV_LED) == "EV_LED" and type_name(6) is None
    assert codes.PROP_NAMES[codes.INPUT_PROP_DIRECT] == "INPUT_PROP_DIRECT"
    assert codes.BUS_NAMES[BUS_USB] == "BUS_USB"
    assert codes.CODES["ABS_MT_TOOL_Y"] == 0x3D and codes.CODES["EV_VERSION"] == 0x010001
    assert "EV_VERSION" not in codes.EVENT_TYPES


_HEADER = Path("/usr/include/linux/input-event-codes.h")


@pytest.mark.skipif(not _HEADER.exists(), reason="no Linux uapi headers on this machine")
def test_every_define_of_the_installed_header() -> None:
    """Every code the host's header defines has the same value here (the host's header
    may be older than 6.12, never newer with other values)."""
    for name, value in re.findall(r"^#define\s+([A-Z]\w*)\s+(0x[0-9a-fA-F]+|\d+)\b",
                                  _HEADER.read_text(), re.M):
        assert codes.CODES.get(name) == int(value, 0), name


# -- struct input_event ----------------------------------------------------------------------


def test_input_event_layout() -> None:
    event = InputEvent(1, 10_000, EV_REL, REL_X, -3)
    data = event.pack()
    assert INPUT_EVENT_SIZE == len(data) == 24
    assert data == struct.pack("<qqHHi", 1, 10_000, 2, 0, -3)
    assert InputEvent.unpack(data) == event and event.time == 1.01
    assert decode_events(data * 2) == [event, event]
    with pytest.raises(ValueError, match="25 bytes"):
        decode_events(data + b"\0")


@given(st.tuples(st.integers(-2**63, 2**63 - 1), st.integers(-2**63, 2**63 - 1),
                 st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(-2**31, 2**31 - 1)))
def test_input_event_round_trip(fields: tuple[int, int, int, int, int]) -> None:
    event = InputEvent(*fields)
    assert InputEvent.unpack(event.pack()) == event


@given(st.binary(max_size=200))
def test_decode_events_takes_whole_records_only(data: bytes) -> None:
    if len(data) % 24:
        with pytest.raises(ValueError):
            decode_events(data)
    else:
        assert len(decode_events(data)) == len(data) // 24


def test_evtest_lines() -> None:
    assert str(InputEvent(1, 10_000, EV_REL, REL_X, 10)) == \
        "Event: time 1.010000, type 2 (EV_REL), code 0 (REL_X), value 10"
    assert str(InputEvent(1, 10_000, EV_SYN, SYN_REPORT, 0)) == \
        "Event: time 1.010000, -------------- SYN_REPORT ------------"
    assert str(InputEvent(0, 5, EV_SYN, SYN_MT_REPORT, 0)) == \
        "Event: time 0.000005, ++++++++++++++ SYN_MT_REPORT ++++++++++++"
    assert str(InputEvent(7, 0, EV_SYN, SYN_DROPPED, 0)) == \
        "Event: time 7.000000, >>>>>>>>>>>>>> SYN_DROPPED <<<<<<<<<<<<"
    assert str(InputEvent(2, 1, EV_MSC, MSC_SCAN, 0x90001)) == \
        "Event: time 2.000001, type 4 (EV_MSC), code 4 (MSC_SCAN), value 90001"
    assert str(InputEvent(2, 1, EV_MSC, MSC_SCAN, 7)).endswith("value 07")
    assert str(InputEvent(2, 1, EV_MSC, MSC_SCAN, -1)).endswith("value ffffffff")
    assert str(InputEvent(0, 0, EV_KEY, 0x2FE, 1)) == \
        "Event: time 0.000000, type 1 (EV_KEY), code 766 (?), value 1"
    assert str(InputEvent(0, 0, 0x1E, 3, -5)) == \
        "Event: time 0.000000, type 30 (?), code 3 (?), value -5"


def test_input_id_and_absinfo() -> None:
    ident = InputId(BUS_USB, 0x046D, 0xC077, 0x0111)
    assert ident.pack() == bytes.fromhex("03006d0477c01101")
    assert InputId.unpack(ident.pack()) == ident and InputId.SIZE == 8
    info = InputAbsinfo(5, -10, 32767, 4, 8, 3)
    assert info.pack() == struct.pack("<6i", 5, -10, 32767, 4, 8, 3)
    assert InputAbsinfo.unpack(info.pack()) == info and InputAbsinfo.SIZE == 24


def test_ioctl_numbers_as_linux_x86_64() -> None:
    assert EVIOCGVERSION == 0x80044501
    assert EVIOCGID == 0x80084502
    assert EVIOCGNAME(256) == 0x81004506
    assert EVIOCGKEY(96) == 0x80604518
    assert EVIOCGBIT(0, EV_MAX) == 0x801F4520
    assert EVIOCGBIT(EV_KEY, KEY_MAX) == 0x82FF4521
    assert EVIOCGABS(0) == 0x80184540 and EVIOCSABS(1) == 0x401845C1
    assert EVIOCSFF == 0x40304580
    assert EVIOCGRAB == 0x40044590
    assert EVIOCSCLOCKID == 0x400445A0
