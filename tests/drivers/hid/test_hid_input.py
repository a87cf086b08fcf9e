"""hid-input (usbemu.drivers.hid.hid_input) behind the HID core and hid-generic, with the
fake transport of hid_fakes.py (no USB): the input devices it registers and their
capabilities as Linux shows them, usages mapped to events (mouse, keyboard with MSC_SCAN,
a pen with its tool and touch, a hat switch), one input device per application with
Linux's name suffixes, duplicate usages, a device with nothing to map, the resolution of
absolute axes (hidinput_calc_abs_res), and the LED path to the transport.  Virtual time.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from usbemu_tests_hid_fakes import QEMU_KEYBOARD, QEMU_MOUSE, FakeTransport, add_device

from usbemu.drivers.hid.hid_core import HidDevice, HidStat, ReportType, hid_input_report
from usbemu.drivers.hid.hid_input import (
    HidInput,
    hid_keyboard,
    hidinput_calc_abs_res,
    is_input_application,
)
from usbemu.kernel.evdev import read_events
from usbemu.kernel.input_event_codes import (
    ABS_HAT0X,
    ABS_PRESSURE,
    ABS_TILT_X,
    ABS_X,
    ABS_Y,
    BTN_STYLUS,
    BTN_TOOL_PEN,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_LED,
    EV_MSC,
    EV_REL,
    EV_SYN,
    EVIOCGABS,
    INPUT_EVENT,
    INPUT_PROP_DIRECT,
    KEY_A,
    KEY_LEFTSHIFT,
    LED_CAPSL,
    MSC_SCAN,
    REL_X,
    SYN_REPORT,
    InputAbsinfo,
)
from usbemu.spec.hid import HidRequest
from usbemu.system import System

SYN = (EV_SYN, SYN_REPORT, 0)

PEN: bytes = bytes((
    0x05, 0x0D,        # Usage Page (Digitizer)
    0x09, 0x02,        # Usage (Pen)
    0xA1, 0x01,        # Collection (Application)
    0x09, 0x20,        #   Usage (Stylus)
    0xA1, 0x00,        #   Collection (Physical)
    0x09, 0x42,        #     Usage (Tip Switch)
    0x09, 0x44,        #     Usage (Barrel Switch)
    0x09, 0x32,        #     Usage (In Range)
    0x15, 0x00,        #     Logical Minimum (0)
    0x25, 0x01,        #     Logical Maximum (1)
    0x75, 0x01,        #     Report Size (1)
    0x95, 0x03,        #     Report Count (3)
    0x81, 0x02,        #     Input (Data, Variable, Absolute)
    0x95, 0x05,        #     Report Count (5)
    0x81, 0x01,        #     Input (Constant)
    0x05, 0x01,        #     Usage Page (Generic Desktop)
    0x09, 0x30,        #     Usage (X)
    0x09, 0x31,        #     Usage (Y)
    0x26, 0x20, 0x4E,  #     Logical Maximum (20000)
    0x46, 0xA0, 0x0F,  #     Physical Maximum (4000)
    0x65, 0x13,        #     Unit (Inch, English Linear)
    0x55, 0x0D,        #     Unit Exponent (-3)
    0x75, 0x10,        #     Report Size (16)
    0x95, 0x02,        #     Report Count (2)
    0x81, 0x02,        #     Input (Data, Variable, Absolute)
    0xC0,              #   End Collection
    0xC0,              # End Collection
))
"""A pen tablet 4 inches wide, 20000 units across: 197 units per mm."""

COMBO: bytes = bytes((
    0x05, 0x01,        # Usage Page (Generic Desktop)
    0x09, 0x06,        # Usage (Keyboard)
    0xA1, 0x01,        # Collection (Application)
    0x85, 0x01,        #   Report ID (1)
    0x05, 0x07,        #   Usage Page (Keyboard)
    0x19, 0xE0,        #   Usage Minimum (Left Control)
    0x29, 0xE7,        #   Usage Maximum (Right GUI)
    0x15, 0x00,        #   Logical Minimum (0)
    0x25, 0x01,        #   Logical Maximum (1)
    0x75, 0x01,        #   Report Size (1)
    0x95, 0x08,        #   Report Count (8)
    0x81, 0x02,        #   Input (Data, Variable, Absolute)
    0xC0,              # End Collection
    0x05, 0x01,        # Usage Page (Generic Desktop)
    0x09, 0x02,        # Usage (Mouse)
    0xA1, 0x01,        # Collection (Application)
    0x85, 0x02,        #   Report ID (2)
    0x05, 0x09,        #   Usage Page (Button)
    0x19, 0x01,        #   Usage Minimum (1)
    0x29, 0x03,        #   Usage Maximum (3)
    0x75, 0x01,        #   Report Size (1)
    0x95, 0x03,        #   Report Count (3)
    0x81, 0x02,        #   Input (Data, Variable, Absolute)
    0x95, 0x05,        #   Report Count (5)
    0x81, 0x01,        #   Input (Constant)
    0x05, 0x01,        #   Usage Page (Generic Desktop)
    0x09, 0x30,        #   Usage (X)
    0x09, 0x31,        #   Usage (Y)
    0x15, 0x81,        #   Logical Minimum (-127)
    0x25, 0x7F,        #   Logical Maximum (127)
    0x75, 0x08,        #   Report Size (8)
    0x95, 0x02,        #   Report Count (2)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0xC0,              # End Collection
))
"""A keyboard (report 1: modifiers) and a mouse (report 2) in one interface."""

GAMEPAD_HAT: bytes = bytes((
    0x05, 0x01,        # Usage Page (Generic Desktop)
    0x09, 0x05,        # Usage (Game Pad)
    0xA1, 0x01,        # Collection (Application)
    0x09, 0x39,        #   Usage (Hat switch)
    0x15, 0x00,        #   Logical Minimum (0)
    0x25, 0x07,        #   Logical Maximum (7)
    0x75, 0x04,        #   Report Size (4)
    0x95, 0x01,        #   Report Count (1)
    0x81, 0x42,        #   Input (Data, Variable, Absolute, Null State)
    0x81, 0x01,        #   Input (Constant)
    0xC0,              # End Collection
))

TWO_X: bytes = bytes((
    0x05, 0x01,        # Usage Page (Generic Desktop)
    0x09, 0x02,        # Usage (Mouse)
    0xA1, 0x01,        # Collection (Application)
    0x09, 0x30,        #   Usage (X)
    0x09, 0x30,        #   Usage (X), again
    0x15, 0x81,        #   Logical Minimum (-127)
    0x25, 0x7F,        #   Logical Maximum (127)
    0x75, 0x08,        #   Report Size (8)
    0x95, 0x02,        #   Report Count (2)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0xC0,              # End Collection
))

PADDING_ONLY: bytes = bytes((
    0x05, 0x01,        # Usage Page (Generic Desktop)
    0x09, 0x02,        # Usage (Mouse)
    0xA1, 0x01,        # Collection (Application)
    0x75, 0x08,        #   Report Size (8)
    0x95, 0x01,        #   Report Count (1)
    0x81, 0x01,        #   Input (Constant)
    0xC0,              # End Collection
))


def add(system: System, rdesc: bytes, **kwargs: Any) -> tuple[HidDevice, FakeTransport]:
    hid, transport, ret = system.run(add_device(rdesc, **kwargs))
    assert ret == 0
    system.settle()
    return hid, transport


def feed(system: System, hid: HidDevice, *reports: bytes,
         node: str = "/dev/input/event0") -> list[tuple[int, int, int]]:
    """Open `node`, deliver the input reports, read what they made."""
    async def run() -> list[tuple[int, int, int]]:
        afile = await system.aopen(node, "rb")
        for report in reports:
            hid_input_report(hid, ReportType.INPUT, report, len(report), 1)
        events = await read_events(afile, 256)
        await afile.close()
        return [(e.type, e.code, e.value) for e in events]

    return system.run(run())


def absinfo(system: System, axis: int, node: str = "/dev/input/event0") -> InputAbsinfo:
    afile = system.open(node, "rb")
    buf = bytearray(InputAbsinfo.SIZE)
    afile.ioctl(EVIOCGABS(axis), buf)
    afile.close()
    return InputAbsinfo.unpack(buf)


def test_a_mouse_gets_linuxs_capabilities(generic_machine: System) -> None:
    hid, _ = add(generic_machine, QEMU_MOUSE)
    lines = generic_machine.log.lines()
    assert lines[-1] == ("hid-generic 0003:0627:0001.0001: input,hidraw0: USB HID v1.11 "
                         "Mouse [QEMU QEMU USB Mouse] on usb-0000:00:1d.7-1/input0")
    assert lines[-2].startswith("input: QEMU QEMU USB Mouse as ")
    assert lines[-2].endswith("/0003:0627:0001.0001/input/input0")
    base = "/sys/class/input/input0"
    read = generic_machine.vfs.read_text
    assert read(f"{base}/modalias") == \
        "input:b0003v0627p0001e0111-e0,1,2,4,k110,111,112,113,114,r0,1,8,B,am4,lsfw\n"
    assert read(f"{base}/capabilities/rel") == "903\n"
    assert read(f"{base}/capabilities/msc") == "10\n"
    assert read(f"{base}/phys") == "usb-0000:00:1d.7-1/input0\n"
    assert [type(h) for h in hid.inputs] == [HidInput]


def test_mouse_reports_become_events(generic_machine: System) -> None:
    hid, _ = add(generic_machine, QEMU_MOUSE)
    assert feed(generic_machine, hid, b"\x01\x05\xfb\x00", b"\x00\x00\x00\x01") == [
        (EV_MSC, MSC_SCAN, 0x90001), (EV_KEY, 0x110, 1), (EV_REL, REL_X, 5),
        (EV_REL, 1, -5), SYN,
        (EV_MSC, MSC_SCAN, 0x90001), (EV_KEY, 0x110, 0), (EV_REL, 8, 1), (EV_REL, 11, 120),
        SYN]


def test_keyboard_usages_through_hid_keyboard(generic_machine: System) -> None:
    hid, _ = add(generic_machine, QEMU_KEYBOARD, name="QEMU QEMU USB Keyboard")
    dev = hid.inputs[0].input
    assert dev.evbit >> 0x14 & 1 and dev.ledbit == 0x1f  # EV_REP, LED_NUML … LED_KANA
    assert all(dev.keybit >> hid_keyboard[u] & 1 for u in range(4, 0x66))
    assert feed(generic_machine, hid, b"\x02\x00\x04\x00\x00\x00\x00\x00", bytes(8)) == [
        (EV_MSC, MSC_SCAN, 0x700e1), (EV_KEY, KEY_LEFTSHIFT, 1),
        (EV_MSC, MSC_SCAN, 0x70004), (EV_KEY, KEY_A, 1), SYN,
        (EV_MSC, MSC_SCAN, 0x700e1), (EV_KEY, KEY_LEFTSHIFT, 0),
        (EV_MSC, MSC_SCAN, 0x70004), (EV_KEY, KEY_A, 0), SYN]


def write_led(system: System, code: int, value: int) -> None:
    async def run() -> None:
        afile = await system.aopen("/dev/input/event0", "rb+")
        await afile.write(INPUT_EVENT.pack(0, 0, EV_LED, code, value)
                          + INPUT_EVENT.pack(0, 0, EV_SYN, SYN_REPORT, 0))
        await asyncio.sleep(0.001)
        await afile.close()

    system.run(run())


def test_an_led_goes_out_as_an_output_report(generic_machine: System) -> None:
    _, transport = add(generic_machine, QEMU_KEYBOARD)
    write_led(generic_machine, LED_CAPSL, 1)
    assert transport.outputs == [b"\x02"]


def test_without_an_interrupt_channel_an_led_is_a_set_report(generic_machine: System) -> None:
    _, transport = add(generic_machine, QEMU_KEYBOARD,
                       transport=FakeTransport(QEMU_KEYBOARD, output_report=False))
    write_led(generic_machine, LED_CAPSL, 1)
    assert transport.raw_requests[-1] == (0, b"\x02", 1, ReportType.OUTPUT,
                                          HidRequest.SET_REPORT)


def test_a_pen_with_tool_touch_and_resolution(generic_machine: System) -> None:
    hid, _ = add(generic_machine, PEN, name="Pen Tablet")
    dev = hid.inputs[0].input
    assert dev.propbit == 1 << INPUT_PROP_DIRECT
    assert all(dev.keybit >> code & 1 for code in (BTN_TOOL_PEN, BTN_TOUCH, BTN_STYLUS))
    assert absinfo(generic_machine, ABS_X) == InputAbsinfo(0, 0, 20000, 0, 0, 197)
    near = b"\x04\x64\x00\xc8\x00"
    touching = b"\x05\x64\x00\xc8\x00"
    away = b"\x00\x64\x00\xc8\x00"
    assert feed(generic_machine, hid, near, touching, away) == [
        (EV_KEY, BTN_TOOL_PEN, 1), (EV_ABS, ABS_X, 100), (EV_ABS, ABS_Y, 200), SYN,
        (EV_MSC, MSC_SCAN, 0xd0042), (EV_KEY, BTN_TOUCH, 1), SYN,
        (EV_MSC, MSC_SCAN, 0xd0042), (EV_KEY, BTN_TOUCH, 0), (EV_KEY, BTN_TOOL_PEN, 0), SYN]


def test_one_input_device_per_application(generic_machine: System) -> None:
    hid, _ = add(generic_machine, COMBO, name="Combo")
    names = [h.input.name for h in hid.inputs]
    assert names == ["Combo Keyboard", "Combo Mouse"]
    assert generic_machine.log.lines()[-1] == (
        "hid-generic 0003:0627:0001.0001: input,hidraw0: USB HID v1.11 Keyboard [Combo] on "
        "usb-0000:00:1d.7-1/input0")
    assert feed(generic_machine, hid, b"\x02\x00\x03\x00", node="/dev/input/event1") == [
        (EV_REL, REL_X, 3), SYN]


def test_a_hat_switch(generic_machine: System) -> None:
    hid, _ = add(generic_machine, GAMEPAD_HAT, name="Pad")
    assert absinfo(generic_machine, ABS_HAT0X) == InputAbsinfo(0, -1, 1, 0, 0, 0)
    assert feed(generic_machine, hid, b"\x02", b"\x04", b"\x08") == [
        (EV_ABS, ABS_HAT0X, 1), SYN,                            # east
        (EV_ABS, ABS_HAT0X, 0), (EV_ABS, ABS_HAT0X + 1, 1), SYN,  # south
        (EV_ABS, ABS_HAT0X + 1, 0), SYN]                        # the null state: centred


def test_a_duplicate_usage_is_not_mapped_twice(generic_machine: System) -> None:
    hid, _ = add(generic_machine, TWO_X, name="Twice")
    assert hid.status & HidStat.DUP_DETECTED
    assert feed(generic_machine, hid, b"\x05\x07") == [(EV_REL, REL_X, 5), SYN]


def test_nothing_to_map_registers_no_input(generic_machine: System) -> None:
    hid, _ = add(generic_machine, PADDING_ONLY, name="Empty")
    assert hid.inputs == []
    assert generic_machine.log.lines()[-2:] == [
        "hid-generic 0003:0627:0001.0001: No inputs registered, leaving",
        "hid-generic 0003:0627:0001.0001: hidraw0: USB HID v1.11 Mouse [Empty] on "
        "usb-0000:00:1d.7-1/input0"]


def test_input_applications() -> None:
    assert is_input_application(0x00010002) and is_input_application(0x000D0002)
    assert is_input_application(0x000C0001) and not is_input_application(0xFF000001)


def field(lmin: int, lmax: int, pmin: int, pmax: int, unit: int, exponent: int) -> Any:
    return SimpleNamespace(logical_minimum=lmin, logical_maximum=lmax, physical_minimum=pmin,
                           physical_maximum=pmax, unit=unit, unit_exponent=exponent)


@pytest.mark.parametrize(("fld", "code", "res"), [
    (field(0, 20000, 0, 4000, 0x13, -3), ABS_X, 197),    # inches → units per mm
    (field(0, 1000, 0, 10, 0x11, 0), ABS_Y, 10),         # centimeters
    (field(0, 1000, 0, 100, 0x11, -1), ABS_Y, 10),       # millimeters as cm × 10^-1
    (field(-60, 60, -60, 60, 0x14, 0), ABS_TILT_X, 57),  # degrees → units per radian
    (field(0, 100, 0, 10, 0x12, 0), ABS_TILT_X, 10),     # radians
    (field(0, 100, 0, 10, 0x14, 0), ABS_X, 0),           # an angle unit on a length axis
    (field(0, 100, 0, 10, 0x00, 0), ABS_X, 0),           # no unit
    (field(0, 0, 0, 10, 0x11, 0), ABS_X, 0),             # no logical extent
    (field(0, 100, 10, 10, 0x11, 0), ABS_X, 0),          # no physical extent
    (field(0, 0x7FFFFFFF, 0, 1, 0x11, -2), ABS_X, 0),    # overflow
    (field(0, 100, 0, 10, 0x11, 0), ABS_PRESSURE, 0),    # not a length or angle axis
])
def test_hidinput_calc_abs_res(fld: Any, code: int, res: int) -> None:
    assert hidinput_calc_abs_res(fld, code) == res
