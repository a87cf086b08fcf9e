"""Tablet (QEMU's usb-tablet, 0627:0001) driven with raw setup packets and interrupt polls on
a fake clock: its descriptors against QEMU's tables, absolute positions, merging, wheel."""

from __future__ import annotations

import struct

import pytest
from usbemu_tests_hid_helpers import (  # type: ignore[import-not-found]
    FakeClock,
    plug,
    poll,
    poll_every,
)

from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.hid_script import Script, Tap
from usbemu.emulated.models import load_model
from usbemu.emulated.models.tablet import QEMU_TABLET_REPORT_DESCRIPTOR, Tablet
from usbemu.spec.ch9 import SetupPacket, Speed
from usbemu.spec.descriptors import string_descriptor
from usbemu.spec.hid import MouseButton
from usbemu.testing import control_in, enumerate_model, get_descriptor

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
    0x03,        # iProduct "QEMU USB Tablet"
    0x0A,        # iSerialNumber "28754"
    0x01,        # bNumConfigurations
))

GOLDEN_CONFIG = bytes((
    0x09,        # bLength
    0x02,        # bDescriptorType (CONFIGURATION)
    0x22, 0x00,  # wTotalLength 34
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x07,        # iConfiguration "HID Tablet"
    0xA0,        # bmAttributes (bus powered, remote wakeup)
    0x32,        # bMaxPower 100 mA
    # interface 0
    0x09,        # bLength
    0x04,        # bDescriptorType (INTERFACE)
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x01,        # bNumEndpoints
    0x03,        # bInterfaceClass (HID)
    0x00,        # bInterfaceSubClass (none: not a boot device)
    0x00,        # bInterfaceProtocol (none)
    0x00,        # iInterface
    # HID descriptor
    0x09,        # bLength
    0x21,        # bDescriptorType (HID)
    0x01, 0x00,  # bcdHID 0.01, as QEMU declares it
    0x00,        # bCountryCode
    0x01,        # bNumDescriptors
    0x22,        # bDescriptorType (REPORT)
    0x4A, 0x00,  # wDescriptorLength 74
    # endpoint 0x81
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x81,        # bEndpointAddress (IN 1)
    0x03,        # bmAttributes (interrupt)
    0x08, 0x00,  # wMaxPacketSize 8
    0x0A,        # bInterval 10 ms
))

GOLDEN_REPORT_DESCRIPTOR = bytes.fromhex("""
    05 01 09 02 a1 01 09 01 a1 00 05 09 19 01 29 05
    15 00 25 01 95 05 75 01 81 02 95 01 75 03 81 01
    05 01 09 30 09 31 15 00 26 ff 7f 35 00 46 ff 7f
    75 10 95 02 81 02 05 01 09 38 15 81 25 7f 35 00
    45 00 75 08 95 01 81 06 c0 c0""")


def report(buttons: int, x: int, y: int, wheel: int = 0) -> bytes:
    return struct.pack("<BHHb", buttons, x, y, wheel)


def drain(tablet: Tablet) -> list[bytes]:
    reports = []
    while (got := poll(tablet)) is not None:
        reports.append(got)
    return reports


@pytest.fixture
def tablet() -> Tablet:
    model = Tablet()
    enumerate_model(model)
    return model


def test_registry_name_and_speed() -> None:
    assert load_model("tablet") is Tablet
    assert Tablet().speed is Speed.FULL
    assert Tablet(usb_version=2).speed is Speed.HIGH


def test_golden_descriptors(tablet: Tablet) -> None:
    assert get_descriptor(tablet, 0x01, length=18) == GOLDEN_DEVICE
    assert get_descriptor(tablet, 0x02, length=34) == GOLDEN_CONFIG
    for index, text in ((1, "QEMU"), (3, "QEMU USB Tablet"), (7, "HID Tablet"),
                        (10, "28754")):
        assert get_descriptor(tablet, 0x03, index, 0x0409) == string_descriptor(text)
    assert QEMU_TABLET_REPORT_DESCRIPTOR == GOLDEN_REPORT_DESCRIPTOR
    assert control_in(tablet, SetupPacket(0x81, 0x06, 0x2200, 0, 74)) == \
        GOLDEN_REPORT_DESCRIPTOR
    assert control_in(tablet, SetupPacket(0x81, 0x06, 0x2100, 0, 9)) == GOLDEN_CONFIG[18:27]


def test_high_speed_variant_polls_every_millisecond() -> None:
    tablet = Tablet(usb_version=2)
    enumerate_model(tablet)
    device = get_descriptor(tablet, 0x01, length=18)
    assert (device[2:4], device[7]) == (b"\x00\x02", 64)
    assert get_descriptor(tablet, 0x02, length=34)[-1] == 4  # 2^(4-1) x 125 us = 1 ms
    ep = tablet.endpoint(0x81)
    assert ep is not None and ep.period_us == 1000


def test_no_boot_protocol(tablet: Tablet) -> None:
    assert tablet.control(SetupPacket(0x21, 0x0B, 0, 0))[0] is Outcome.STALL
    assert tablet.control(SetupPacket(0xA1, 0x03, 0, 0, 1))[0] is Outcome.STALL
    assert tablet.control(SetupPacket(0x21, 0x09, 0x0200, 0, 1), b"\x01")[0] is Outcome.STALL


def test_absolute_positions_and_the_last_one_wins(tablet: Tablet) -> None:
    tablet.move_to(100, 200)
    assert drain(tablet) == [report(0, 100, 200)]
    tablet.move_to(16384, 300)
    tablet.move_to(32767, 0)  # replaces the position not yet reported
    assert drain(tablet) == [report(0, 32767, 0)]
    tablet.move_to(32767, 0)  # the same position: no report
    assert tablet.pending_reports == 0
    with pytest.raises(ValueError, match=r"x=32768: the tablet's logical range is 0\.\.32767"):
        tablet.move_to(32768, 0)
    with pytest.raises(TypeError, match="whole number"):
        tablet.move_to(1, 2.5)  # type: ignore[arg-type]


def test_relative_moves_stop_at_the_edges(tablet: Tablet) -> None:
    tablet.move_to(10, 32760)
    tablet.move(-20, 20)
    assert (tablet.x, tablet.y) == (0, 32767)


def test_clicks_carry_the_position_and_are_not_merged(tablet: Tablet) -> None:
    tablet.move_to(5, 6)
    tablet.click()
    tablet.move_to(7, 8)  # rides on the release report
    tablet.press(MouseButton.RIGHT)
    assert drain(tablet) == [report(0, 5, 6), report(1, 5, 6), report(0, 7, 8),
                             report(2, 7, 8)]
    assert control_in(tablet, SetupPacket(0xA1, 0x01, 0x0100, 0, 6)) == report(2, 7, 8)


def test_wheel_adds_up_and_carries(tablet: Tablet) -> None:
    tablet.move_to(1, 1)
    tablet.wheel(100)
    tablet.wheel(100)
    tablet.wheel(0)
    assert tablet.pending_reports == 2
    assert drain(tablet) == [report(0, 1, 1, 127), report(0, 1, 1, 73)]
    tablet.wheel(-3)
    assert drain(tablet) == [report(0, 1, 1, -3)]


def test_scripted_stroke_on_the_clock(clock: FakeClock) -> None:
    tablet = plug(Tablet(), clock)
    tablet.play(Script.parse("""
        move-to 1000 1000
        press left
        wait 5
        move-to 2000 1500   # joins the press report, polled at 10 ms
        wait 10
        move-to 3000 2000
        release left
        wheel 2
    """))
    assert poll_every(tablet, clock, 10, 5) == [
        (0.0, report(0, 1000, 1000)), (10.0, report(1, 2000, 1500)),
        (20.0, report(1, 3000, 2000)),  # the move before the release shows the button held
        (30.0, report(0, 3000, 2000, 2))]


def test_a_tablet_refuses_keys(clock: FakeClock) -> None:
    tablet = plug(Tablet(), clock)
    with pytest.raises(ValueError, match="a tablet cannot perform Tap"):
        tablet.play(Script([(0, Tap("a"))]))
    with pytest.raises(ValueError, match="logical range"):
        tablet.play(Script().move_to(40000, 0))
