"""BootMouse (046d:c077) driven with raw setup packets and interrupt polls, as a host would."""

from __future__ import annotations

import pytest
from usbemu_tests_hid_helpers import (  # type: ignore[import-not-found]
    FakeClock,
    plug,
    poll_every,
)

from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.hid_script import Script, Type
from usbemu.emulated.models import load_model
from usbemu.emulated.models.mouse import (
    BOOT_MOUSE_REPORT_DESCRIPTOR,
    LOGITECH_M105_REPORT_DESCRIPTOR,
    QEMU_MOUSE_REPORT_DESCRIPTOR,
    BootMouse,
    MouseButton,
)
from usbemu.spec.ch9 import DeviceState, SetupPacket, Speed
from usbemu.spec.hid import HidProtocol, hid_descriptor
from usbemu.testing import RecordingHost, control_in, enumerate_model, get_descriptor, pull

GOLDEN_DEVICE = bytes((
    0x12,        # bLength
    0x01,        # bDescriptorType (DEVICE)
    0x00, 0x02,  # bcdUSB 2.00
    0x00,        # bDeviceClass (per interface)
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x08,        # bMaxPacketSize0 8 (low speed)
    0x6D, 0x04,  # idVendor 0x046d (Logitech)
    0x77, 0xC0,  # idProduct 0xc077
    0x00, 0x72,  # bcdDevice 72.00
    0x01,        # iManufacturer
    0x02,        # iProduct
    0x00,        # iSerialNumber
    0x01,        # bNumConfigurations
))

GOLDEN_HID = bytes((
    0x09,        # bLength
    0x21,        # bDescriptorType (HID)
    0x11, 0x01,  # bcdHID 1.11
    0x00,        # bCountryCode (not supported)
    0x01,        # bNumDescriptors
    0x22,        # bDescriptorType (REPORT)
    0x34, 0x00,  # wDescriptorLength 52
))

GOLDEN_CONFIG = bytes((
    0x09,        # bLength
    0x02,        # bDescriptorType (CONFIGURATION)
    0x22, 0x00,  # wTotalLength 34
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x00,        # iConfiguration
    0xA0,        # bmAttributes (bus powered, remote wakeup)
    0x32,        # bMaxPower 50 = 100 mA
    # interface 0
    0x09,        # bLength
    0x04,        # bDescriptorType (INTERFACE)
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x01,        # bNumEndpoints
    0x03,        # bInterfaceClass (HID)
    0x01,        # bInterfaceSubClass (boot)
    0x02,        # bInterfaceProtocol (mouse)
    0x00,        # iInterface
)) + GOLDEN_HID + bytes((
    # endpoint 0x81
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x81,        # bEndpointAddress (IN 1)
    0x03,        # bmAttributes (interrupt)
    0x04, 0x00,  # wMaxPacketSize 4
    0x0A,        # bInterval 10 ms
))

GOLDEN_REPORT_DESCRIPTOR = bytes((
    0x05, 0x01,  # Usage Page (Generic Desktop)
    0x09, 0x02,  # Usage (Mouse)
    0xA1, 0x01,  # Collection (Application)
    0x09, 0x01,  # Usage (Pointer)
    0xA1, 0x00,  # Collection (Physical)
    0x05, 0x09,  # Usage Page (Button)
    0x19, 0x01,  # Usage Minimum (1)
    0x29, 0x05,  # Usage Maximum (5)
    0x15, 0x00,  # Logical Minimum (0)
    0x25, 0x01,  # Logical Maximum (1)
    0x95, 0x05,  # Report Count (5)
    0x75, 0x01,  # Report Size (1)
    0x81, 0x02,  # Input (Data, Variable, Absolute)
    0x95, 0x01,  # Report Count (1)
    0x75, 0x03,  # Report Size (3)
    0x81, 0x01,  # Input (Constant)
    0x05, 0x01,  # Usage Page (Generic Desktop)
    0x09, 0x30,  # Usage (X)
    0x09, 0x31,  # Usage (Y)
    0x09, 0x38,  # Usage (Wheel)
    0x15, 0x81,  # Logical Minimum (-127)
    0x25, 0x7F,  # Logical Maximum (127)
    0x75, 0x08,  # Report Size (8)
    0x95, 0x03,  # Report Count (3)
    0x81, 0x06,  # Input (Data, Variable, Relative)
    0xC0,        # End Collection
    0xC0,        # End Collection
))

GOLDEN_PRODUCT = bytes((
    0x24,        # bLength 36
    0x03,        # bDescriptorType (STRING)
)) + "USB Optical Mouse".encode("utf-16-le")


def poll(mouse: BootMouse, size: int = 4) -> tuple[Outcome, bytes]:
    """One interrupt IN transfer on the report endpoint (0x81)."""
    return pull(mouse.endpoint(0x81), size)


def protocol_of(mouse: BootMouse) -> HidProtocol:
    return mouse.protocol


def drain(mouse: BootMouse) -> list[bytes]:
    reports = []
    while (got := poll(mouse))[0] is Outcome.DONE:
        reports.append(got[1])
    assert got == (Outcome.NAK, b"")
    return reports


@pytest.fixture
def mouse() -> BootMouse:
    m = BootMouse()
    enumerate_model(m)
    return m


# -- descriptors --------------------------------------------------------------------------------


def test_registry_name_and_speed() -> None:
    assert load_model("mouse") is BootMouse
    assert BootMouse().speed is Speed.LOW


def test_golden_device_and_configuration() -> None:
    m = BootMouse()
    m.connect(None, None)
    m.bus_reset()
    # Linux reads 8 bytes first at low speed, then the whole descriptor.
    assert get_descriptor(m, 0x01, length=8) == GOLDEN_DEVICE[:8]
    assert get_descriptor(m, 0x01, length=18) == GOLDEN_DEVICE
    assert get_descriptor(m, 0x02, length=9) == GOLDEN_CONFIG[:9]
    assert get_descriptor(m, 0x02, length=34) == GOLDEN_CONFIG
    assert get_descriptor(m, 0x03, 2, 0x0409) == GOLDEN_PRODUCT
    # A low-speed device has no other speed: DEVICE_QUALIFIER stalls.
    assert m.control(SetupPacket(0x80, 0x06, 0x0600, 0, 10))[0] is Outcome.STALL


def test_hid_descriptor_builder() -> None:
    assert hid_descriptor(52) == GOLDEN_HID
    assert hid_descriptor(63, country=0x21, bcdHID=0x0110) == bytes(
        (0x09, 0x21, 0x10, 0x01, 0x21, 0x01, 0x22, 0x3F, 0x00))
    with pytest.raises(ValueError, match="report_len"):
        hid_descriptor(0x10000)
    assert BOOT_MOUSE_REPORT_DESCRIPTOR == GOLDEN_REPORT_DESCRIPTOR
    assert QEMU_MOUSE_REPORT_DESCRIPTOR is BOOT_MOUSE_REPORT_DESCRIPTOR


#: /sys/kernel/debug/hid/0003:046D:C077.0001/rdesc of a real M105 (and hidapi's test data).
M105_RDESC = bytes.fromhex(
    "05 01 09 02 a1 01 09 01 a1 00 05 09 19 01 29 03 15 00 25 01 95 08 75 01 81 02"
    " 05 01 09 30 09 31 09 38 15 81 25 7f 75 08 95 03 81 06 c0 c0")


def test_golden_logitech_m105_report_descriptor() -> None:
    assert M105_RDESC == LOGITECH_M105_REPORT_DESCRIPTOR


# -- HID class requests ---------------------------------------------------------------------------


def test_get_report_and_hid_descriptors(mouse: BootMouse) -> None:
    report = control_in(mouse, SetupPacket(0x81, 0x06, 0x2200, 0, 52))
    assert report == GOLDEN_REPORT_DESCRIPTOR
    assert control_in(mouse, SetupPacket(0x81, 0x06, 0x2100, 0, 9)) == GOLDEN_HID
    # A physical descriptor, another interface, or a standard-request style index: STALL.
    assert mouse.control(SetupPacket(0x81, 0x06, 0x2300, 0, 9))[0] is Outcome.STALL
    assert mouse.control(SetupPacket(0x81, 0x06, 0x2200, 1, 52))[0] is Outcome.STALL


def test_hid_requests_need_the_configured_state() -> None:
    m = BootMouse()
    enumerate_model(m, address=9, configuration=None)
    assert m.control(SetupPacket(0x81, 0x06, 0x2200, 0, 52))[0] is Outcome.STALL
    assert m.control(SetupPacket(0x21, 0x0A, 0, 0))[0] is Outcome.STALL


def test_set_and_get_idle(mouse: BootMouse) -> None:
    assert control_in(mouse, SetupPacket(0xA1, 0x02, 0, 0, 1)) == b"\x00"
    assert mouse.control(SetupPacket(0x21, 0x0A, 0x7D00, 0)) == (Outcome.DONE, 0)  # 500 ms
    assert mouse.idle_rate == 0x7D
    assert control_in(mouse, SetupPacket(0xA1, 0x02, 0, 0, 1)) == b"\x7d"
    # The mouse has no report IDs: SET_IDLE for report 1 stalls.
    assert mouse.control(SetupPacket(0x21, 0x0A, 0x0001, 0))[0] is Outcome.STALL


def test_set_and_get_protocol(mouse: BootMouse) -> None:
    assert control_in(mouse, SetupPacket(0xA1, 0x03, 0, 0, 1)) == b"\x01"  # report
    assert mouse.control(SetupPacket(0x21, 0x0B, 0, 0)) == (Outcome.DONE, 0)
    assert mouse.protocol is HidProtocol.BOOT
    assert control_in(mouse, SetupPacket(0xA1, 0x03, 0, 0, 1)) == b"\x00"
    assert mouse.control(SetupPacket(0x21, 0x0B, 2, 0))[0] is Outcome.STALL
    mouse.bus_reset()  # HID 1.11 §7.2.6: back to the report protocol
    assert protocol_of(mouse) is HidProtocol.REPORT


def test_get_report_returns_the_current_state(mouse: BootMouse) -> None:
    mouse.press(MouseButton.RIGHT)
    assert control_in(mouse, SetupPacket(0xA1, 0x01, 0x0100, 0, 4)) == b"\x02\x00\x00\x00"
    # Output and feature reports do not exist.
    assert mouse.control(SetupPacket(0xA1, 0x01, 0x0300, 0, 4))[0] is Outcome.STALL
    assert mouse.control(SetupPacket(0x21, 0x09, 0x0200, 0, 1), b"\x00")[0] is Outcome.STALL


# -- reports on the interrupt endpoint ------------------------------------------------------------


def test_idle_mouse_naks(mouse: BootMouse) -> None:
    assert poll(mouse) == (Outcome.NAK, b"")
    assert poll(mouse) == (Outcome.NAK, b"")


def test_moves_between_polls_merge_into_one_report(mouse: BootMouse) -> None:
    mouse.move(5, -3, 1)
    mouse.move(-1, 2)
    assert mouse.pending_reports == 1
    assert poll(mouse) == (Outcome.DONE, b"\x00\x04\xff\x01")
    # Rate-0 idle semantics: nothing is repeated.
    assert poll(mouse) == (Outcome.NAK, b"")
    mouse.move(0, 0)  # no motion is no change
    assert poll(mouse) == (Outcome.NAK, b"")


def test_large_moves_are_clamped_and_carried(mouse: BootMouse) -> None:
    mouse.move(300, -128, 0)
    assert mouse.pending_reports == 3
    assert drain(mouse) == [
        bytes((0x00, 127, 0x81, 0x00)),  # +127, -127
        bytes((0x00, 127, 0xFF, 0x00)),  # +127, -1
        bytes((0x00, 46, 0x00, 0x00)),   # +46
    ]
    mouse.wheel(-254)
    assert drain(mouse) == [b"\x00\x00\x00\x81", b"\x00\x00\x00\x81"]


def test_motion_merges_into_the_remainder_still_queued(mouse: BootMouse) -> None:
    mouse.move(200, 0)
    assert poll(mouse) == (Outcome.DONE, bytes((0, 127, 0, 0)))
    mouse.move(10, 5)  # joins the 73 not yet sent
    assert drain(mouse) == [bytes((0, 83, 5, 0))]


def test_press_release_and_click(mouse: BootMouse) -> None:
    mouse.press(MouseButton.LEFT | MouseButton.MIDDLE)
    mouse.move(1, 1)  # rides on the report of the press
    mouse.release(MouseButton.LEFT)
    mouse.click(MouseButton.EXTRA)
    mouse.press("middle")  # already held: no change, no report
    assert drain(mouse) == [
        b"\x05\x01\x01\x00",
        b"\x04\x00\x00\x00",
        b"\x14\x00\x00\x00",
        b"\x04\x00\x00\x00",
    ]
    assert mouse.buttons is MouseButton.MIDDLE


def test_button_changes_are_never_merged_away(mouse: BootMouse) -> None:
    mouse.move(3, 0)
    mouse.click("right")
    mouse.move(0, -4)
    mouse.click("left+right")
    assert mouse.pending_reports == 5
    assert drain(mouse) == [
        bytes((0x00, 3, 0, 0)),
        bytes((0x02, 0, 0, 0)),
        bytes((0x00, 0, 0xFC, 0)),
        bytes((0x03, 0, 0, 0)),
        bytes((0x00, 0, 0, 0)),
    ]


def test_button_names_and_bits(mouse: BootMouse) -> None:
    mouse.press(0x18)
    assert mouse.buttons == MouseButton.SIDE | MouseButton.EXTRA
    mouse.release("side+EXTRA")
    assert mouse.buttons == MouseButton(0)
    with pytest.raises(ValueError, match="'thumb' is not a mouse button"):
        mouse.press("thumb")
    with pytest.raises(ValueError, match="five buttons"):
        mouse.press(0x20)
    with pytest.raises(TypeError, match="whole number"):
        mouse.move(1.5, 0)  # type: ignore[arg-type]


def test_reports_wait_for_configuration_and_wake_a_waiting_host() -> None:
    host = RecordingHost()
    m = BootMouse()
    m.click()
    enumerate_model(m, host=host)
    assert drain(m) == [b"\x01\x00\x00\x00", b"\x00\x00\x00\x00"]
    m.move(1, 0)
    assert host.ready == [0x81]
    assert m.pending_reports == 1
    m.clear_reports()
    assert poll(m) == (Outcome.NAK, b"")


def test_report_while_suspended_signals_remote_wakeup() -> None:
    host = RecordingHost()
    m = BootMouse()
    enumerate_model(m, host=host)
    m.suspend()
    m.move(1, 1)
    assert host.wakeups == []  # not enabled by the host
    m.resume()
    assert m.control(SetupPacket(0x00, 0x03, 1)) == (Outcome.DONE, 0)  # DEVICE_REMOTE_WAKEUP
    m.suspend()
    m.move(1, 1)
    assert host.wakeups == [m]
    assert m.state is DeviceState.SUSPENDED


# -- on the machine's clock -----------------------------------------------------------------------


def test_at_most_one_report_per_interval(clock: FakeClock) -> None:
    host = RecordingHost()
    mouse = plug(BootMouse(), clock, host)
    mouse.move(1, 0)
    assert poll(mouse) == (Outcome.DONE, b"\x00\x01\x00\x00")
    clock.advance(4)
    mouse.move(2, 0)
    assert host.ready == []  # nobody was waiting
    clock.advance(4)  # 8 ms: polled sooner than bInterval 10 after the last report
    assert poll(mouse) == (Outcome.NAK, b"")
    mouse.move(3, 0)
    clock.advance(1.5)
    assert host.ready == []
    clock.advance(0.5)  # 10 ms: the interval is over, the waiting host is woken
    assert host.ready == [0x81]
    assert poll(mouse) == (Outcome.DONE, b"\x00\x05\x00\x00")


def test_a_woken_host_finds_the_report_at_once(clock: FakeClock) -> None:
    host = RecordingHost()
    mouse = plug(BootMouse(), clock, host)
    assert poll(mouse) == (Outcome.NAK, b"")
    clock.advance(30)
    mouse.move(0, 1)
    assert host.ready == [0x81]
    assert poll(mouse) == (Outcome.DONE, b"\x00\x00\x01\x00")
    assert clock.pending == []  # nothing left to time


def test_script_motion_merges_per_interval_and_buttons_stay_separate(
        clock: FakeClock) -> None:
    mouse = plug(BootMouse(), clock)
    script = Script()
    for _ in range(10):  # 10 counts right every 2 ms: 50 counts per 10 ms
        script.move(10, 0).wait(2)
    script.at(25).click("left").move(0, 200)
    mouse.play(script)
    assert mouse.steps_pending == 11  # the first move happened at once
    got = poll_every(mouse, clock, 10, 8)
    assert got == [
        (0.0, bytes((0x00, 10, 0, 0))),     # the step due at 0 ms
        (10.0, bytes((0x00, 50, 0, 0))),    # 2, 4, 6, 8, 10 ms
        (20.0, bytes((0x00, 40, 0, 0))),    # 12 … 18 ms
        (30.0, bytes((0x01, 0, 0, 0))),     # press at 25 ms
        (40.0, bytes((0x00, 0, 127, 0))),   # release, with the motion after it
        (50.0, bytes((0x00, 0, 73, 0))),    # the remainder, carried
    ]
    assert mouse.steps_pending == 0


def test_idle_rate_repeats_the_buttons_without_motion(clock: FakeClock) -> None:
    mouse = plug(BootMouse(), clock)
    mouse.press("right")
    mouse.move(5, 5)
    assert mouse.control(SetupPacket(0x21, 0x0A, 25 << 8, 0)) == (Outcome.DONE, 0)  # 100 ms
    got = poll_every(mouse, clock, 10, 25)
    assert got == [(0.0, b"\x02\x05\x05\x00"), (100.0, b"\x02\x00\x00\x00"),
                   (200.0, b"\x02\x00\x00\x00")]
    mouse.bus_reset()  # idle rate back to 0
    assert mouse.idle_rate == 0


def test_script_step_while_suspended_signals_remote_wakeup(clock: FakeClock) -> None:
    host = RecordingHost()
    mouse = plug(BootMouse(), clock, host)
    assert mouse.control(SetupPacket(0x00, 0x03, 1)) == (Outcome.DONE, 0)
    mouse.suspend()
    mouse.play(Script().wait(500).move(1, 1))
    clock.advance(499)
    assert host.wakeups == []
    clock.advance(1)
    assert host.wakeups == [mouse]


def test_a_script_waits_for_the_clock_of_a_plug(clock: FakeClock) -> None:
    mouse = BootMouse()
    mouse.play(Script().move(1, 0).wait(20).move(2, 0))
    assert mouse.steps_pending == 2
    clock.advance(1000)
    plug(mouse, clock)  # offsets count from here
    assert [r for _, r in poll_every(mouse, clock, 10, 4)] == [
        b"\x00\x01\x00\x00", b"\x00\x02\x00\x00"]


def test_unplugging_ends_scripts_and_timers(clock: FakeClock) -> None:
    mouse = plug(BootMouse(), clock)
    mouse.play(Script().wait(50).click())
    assert clock.pending == [0.05]
    mouse.disconnect()
    assert (mouse.steps_pending, clock.pending, mouse.clock) == (0, [], None)
    clock.advance(100)
    assert mouse.buttons == MouseButton(0)


def test_stop_drops_the_steps_not_yet_done(clock: FakeClock) -> None:
    mouse = plug(BootMouse(), clock)
    mouse.play(Script().press("left").wait(50).release("left"))
    mouse.stop()
    clock.advance(100)
    assert mouse.buttons == MouseButton.LEFT
    assert clock.pending == []


def test_a_mouse_refuses_keyboard_actions_before_playing(clock: FakeClock) -> None:
    mouse = plug(BootMouse(), clock)
    with pytest.raises(ValueError, match="a mouse cannot perform Type"):
        mouse.play(Script().move(1, 1).then(Type("x")))
    with pytest.raises(ValueError, match="not a mouse button"):
        mouse.play(Script().click("ctrl"))
    assert (mouse.steps_pending, mouse.pending_reports) == (0, 0)


def test_get_report_sees_the_steps_due(clock: FakeClock) -> None:
    mouse = plug(BootMouse(), clock)
    mouse.play(Script().wait(30).press("middle"))
    clock.now = 0.04  # the timer has not run yet: GET_REPORT applies what is due
    assert control_in(mouse, SetupPacket(0xA1, 0x01, 0x0100, 0, 4)) == b"\x04\x00\x00\x00"


def test_a_host_waiting_through_a_suspend_is_woken_by_the_resume(clock: FakeClock) -> None:
    host = RecordingHost()
    mouse = plug(BootMouse(), clock, host)
    assert poll(mouse) == (Outcome.NAK, b"")  # the host waits on 0x81
    mouse.suspend()
    clock.advance(20)
    mouse.move(4, 4)
    assert host.ready == []  # no traffic reaches a suspended device
    mouse.resume()
    assert host.ready == [0x81]
    assert poll(mouse) == (Outcome.DONE, b"\x00\x04\x04\x00")
