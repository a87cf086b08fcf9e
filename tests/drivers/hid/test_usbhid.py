"""usbhid (usbemu.drivers.hid.usbhid.hid_core) end to end on virtual time, with the device
models: what udev loads for a HID interface and the kernel messages of the binding, the
requests of the probe (SET_IDLE, GET_DESCRIPTOR(REPORT), the boot keyboard's first LED
report), the hid device it fills in, a scripted mouse path read from /dev/input/eventN with
its timestamps, the 50 ms after open, open and close of the interrupt URB, the mousepoll
parameter, a stalled endpoint, protocol errors, unplug while events stream, a typed string
and Caps Lock on the keyboard, the tablet's absolute axes, raw GET/SET_REPORT, and the
device going and coming back with hid_generic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from usbemu.core.driver import usb_resume_device, usb_suspend_device
from usbemu.core.urb import PIPE_CONTROL, PIPE_INTERRUPT
from usbemu.drivers.hid.hid_core import HidDevice, ReportType
from usbemu.drivers.hid.usbhid.hid_core import IoFlag
from usbemu.emulated.device import DeviceModel, endpoint_out
from usbemu.emulated.endpoint import Endpoint
from usbemu.emulated.hid_script import Click, Move, MoveTo, Press, Release, Script, Type, Wheel
from usbemu.emulated.models import keyboard as keyboard_models
from usbemu.emulated.models.keyboard import BootKeyboard, KeyboardLed
from usbemu.emulated.models.mouse import INTERRUPT_IN, BootMouse
from usbemu.emulated.models.tablet import Tablet
from usbemu.errors import Errno
from usbemu.kernel.evdev import read_events
from usbemu.kernel.input_event_codes import (
    ABS_X,
    ABS_Y,
    BTN_LEFT,
    EV_ABS,
    EV_KEY,
    EV_LED,
    EV_MSC,
    EV_REL,
    EV_SYN,
    EVIOCGABS,
    INPUT_EVENT,
    KEY_CAPSLOCK,
    KEY_H,
    KEY_I,
    KEY_LEFTSHIFT,
    LED_CAPSL,
    MSC_SCAN,
    REL_WHEEL,
    REL_WHEEL_HI_RES,
    REL_X,
    REL_Y,
    SYN_REPORT,
    InputAbsinfo,
    InputEvent,
)
from usbemu.kernel.syscalls import AsyncFile
from usbemu.spec.ch9 import ClassCode
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.spec.hid import HidRequest, hid_descriptor
from usbemu.system import System
from usbemu.testing.monitor import UrbRecorder

Event = tuple[float, int, int, int]

MOUSE_LINES = [
    "usbcore: registered new interface driver usbhid",
    "usbhid: USB HID core driver",
    "input: Logitech USB Optical Mouse as /devices/pci0000:00/0000:00:1d.0/usb1/1-1/"
    "1-1:1.0/0003:046D:C077.0001/input/input0",
    "hid-generic 0003:046D:C077.0001: input,hidraw0: USB HID v1.11 Mouse [Logitech USB "
    "Optical Mouse] on usb-0000:00:1d.0-1/input0",
]


@pytest.fixture
def system(hcd_kind: str) -> Iterator[System]:
    with System() as machine:
        machine.add_controller(hcd_kind)
        yield machine


def plug(system: System, model: BootMouse | BootKeyboard | Tablet, path: str = "1-1") -> None:
    system.plug(model, path)
    system.settle()


def hid_of(system: System, path: str = "1-1") -> tuple[HidDevice, Any]:
    """The hid device usbhid made for the interface at `path`, and usbhid's state of it
    (a `UsbHidDevice` of the loaded module's own copy of the code)."""
    mod = system.modules.get("usbhid")
    assert mod is not None and mod.pymodule is not None
    udev = system.find_device(path)
    assert udev is not None
    intf = udev.interface(0)
    assert intf is not None
    usbhid = mod.pymodule.usbhid_of(intf)
    assert usbhid is not None
    return usbhid.hid, usbhid


def triples(events: list[InputEvent]) -> list[tuple[int, int, int]]:
    return [(e.type, e.code, e.value) for e in events]


def timed(events: list[InputEvent]) -> list[Event]:
    return [(round(e.time, 6), e.type, e.code, e.value) for e in events]


async def collect(afile: AsyncFile, count: int) -> list[InputEvent]:
    """Read until `count` events came."""
    events: list[InputEvent] = []
    while len(events) < count:
        events += await read_events(afile)
    return events


def test_udev_loads_usbhid_and_hid_generic_for_a_mouse(system: System) -> None:
    plug(system, BootMouse())
    lines = system.log.lines()
    at = lines.index(MOUSE_LINES[0])
    assert lines[at:at + 4] == MOUSE_LINES
    assert lines[at - 1] == "hid: raw HID events driver (C) Jiri Kosina"
    hid, usbhid = hid_of(system)
    assert usbhid.intf.driver is not None and usbhid.intf.driver.name == "usbhid"
    assert hid.driver is not None and hid.driver.name == "hid-generic"
    assert [m.name for m in system.modules.loaded] == ["hid_generic", "usbhid", "hid"]
    assert "alias usb:v*p*d*dc*dsc*dp*ic03isc*ip*in* usbhid" in system.depmod()


def test_the_hid_device_usbhid_fills_in(system: System) -> None:
    plug(system, BootKeyboard())
    hid, usbhid = hid_of(system)
    assert (hid.name, hid.hid_name) == ("0003:0627:0001.0001", "QEMU QEMU USB Keyboard")
    assert hid.phys == "usb-0000:00:1d.0-1/input0"
    assert hid.uniq == "68284"  # the serial number string
    assert (hid.bustype, hid.vendor, hid.product) == (0x03, 0x0627, 0x0001)
    assert (hid.version, hid.country) == (0x0111, 0)  # bcdHID replaces bcdDevice at parse
    assert hid.parent is usbhid.intf and hid.ll_driver is usbhid.ll_driver
    assert system.vfs.read_text("/sys/bus/hid/devices/0003:0627:0001.0001/modalias") \
        == "hid:b0003g0001v00000627p00000001\n"


def test_probe_sets_idle_then_reads_the_report_descriptor(system: System) -> None:
    with UrbRecorder(system) as rec:
        plug(system, BootMouse())
    setups = [e.setup_packet for e in rec.submitted() if e.setup_packet is not None]
    at = next(i for i, s in enumerate(setups) if s.bmRequestType == 0x21)
    requests = [(s.bmRequestType, s.bRequest, s.wValue, s.wIndex, s.wLength)
                for s in setups[at:]]
    assert requests == [(0x21, HidRequest.SET_IDLE, 0x0000, 0, 0),
                        (0x81, 0x06, 0x2200, 0, 52)]


def test_a_boot_keyboard_gets_its_num_lock_off_at_start(system: System) -> None:
    keyboard = BootKeyboard()
    with UrbRecorder(system) as rec:
        plug(system, keyboard)
    setups = [(e.setup_packet, e.urb) for e in rec.submitted() if e.setup_packet is not None]
    class_requests = [(s.bmRequestType, s.bRequest, s.wValue, s.wIndex, s.wLength)
                      for s, urb in setups if s.bmRequestType & 0x60 == 0x20
                      and urb.dev is not None and urb.dev.devnum == 2]
    assert class_requests == [(0x21, HidRequest.SET_IDLE, 0, 0, 0),
                              (0x21, HidRequest.SET_REPORT, 0x0200, 0, 1)]
    assert keyboard.leds == KeyboardLed(0)


PATH = Script([(0, Move(10, -5)), (25, Click("left")), (100, Wheel(-1)), (200, Move(300, 0))])
"""The mouse path the usbhid and usbmouse tests play: a move, a click, a wheel detent
down, and a move too long for one report."""


def play_path(system: System, mouse: BootMouse, count: int) -> tuple[float, list[InputEvent]]:
    """Open /dev/input/event0, play PATH at once, read `count` events: (when the open
    returned, the events)."""
    async def run() -> tuple[float, list[InputEvent]]:
        afile = await system.aopen("/dev/input/event0", "rb")
        start = system.time()
        mouse.play(PATH)
        events = await collect(afile, count)
        await afile.close()
        return start, events

    return system.run(run())


@pytest.mark.parametrize("hcd_kind", ["inproc"])  # the timestamps are the in-process ones
def test_a_scripted_mouse_path_through_usbhid(system: System) -> None:
    mouse = BootMouse()
    plug(system, mouse)
    start, events = play_path(system, mouse, 18)
    assert start == pytest.approx(0.4)  # plugged in at 0.35; the open waited 50 ms
    assert timed(events) == [
        (0.4, EV_REL, REL_X, 10), (0.4, EV_REL, REL_Y, -5), (0.4, EV_SYN, SYN_REPORT, 0),
        (0.425, EV_MSC, MSC_SCAN, 0x90001), (0.425, EV_KEY, BTN_LEFT, 1),
        (0.425, EV_SYN, SYN_REPORT, 0),
        (0.435, EV_MSC, MSC_SCAN, 0x90001), (0.435, EV_KEY, BTN_LEFT, 0),
        (0.435, EV_SYN, SYN_REPORT, 0),
        (0.5, EV_REL, REL_WHEEL, -1), (0.5, EV_REL, REL_WHEEL_HI_RES, -120),
        (0.5, EV_SYN, SYN_REPORT, 0),
        (0.6, EV_REL, REL_X, 127), (0.6, EV_SYN, SYN_REPORT, 0),
        (0.61, EV_REL, REL_X, 127), (0.61, EV_SYN, SYN_REPORT, 0),
        (0.62, EV_REL, REL_X, 46), (0.62, EV_SYN, SYN_REPORT, 0),
    ]


def test_reports_of_the_first_50_ms_after_open_are_dropped(system: System) -> None:
    mouse = BootMouse()
    plug(system, mouse)
    mouse.move(7, 7)  # queued while nobody listens: the first poll after open takes it

    async def run() -> list[InputEvent]:
        afile = await system.aopen("/dev/input/event0", "rb")
        mouse.move(1, 2)
        events = await read_events(afile)
        await afile.close()
        return events

    assert triples(system.run(run())) == [(EV_REL, REL_X, 1), (EV_REL, REL_Y, 2),
                                          (EV_SYN, SYN_REPORT, 0)]


def test_open_submits_the_interrupt_urb_and_close_kills_it(system: System) -> None:
    plug(system, BootMouse())
    _, usbhid = hid_of(system)
    urbin = usbhid.urbin
    assert urbin is not None and urbin.hcpriv is None  # started, not polling
    assert (urbin.transfer_buffer_length, urbin.interval) == (4, 10)  # bInterval 10
    afile = system.open("/dev/input/event0", "rb")
    assert urbin.interval == 8  # as usb_submit_urb rounds a full/low-speed interval
    assert urbin.hcpriv is not None and usbhid.iofl & IoFlag.IN_RUNNING
    assert usbhid.iofl & IoFlag.OPENED and not usbhid.iofl & IoFlag.RESUME_RUNNING
    afile.close()
    assert urbin.hcpriv is None and not usbhid.iofl & (IoFlag.IN_RUNNING | IoFlag.OPENED)


def test_the_mousepoll_parameter_sets_a_mouses_interval(system: System) -> None:
    system.modules.autoload = False
    system.modprobe("usbhid", mousepoll=2)
    system.modprobe("hid_generic")
    plug(system, BootMouse())
    _, usbhid = hid_of(system)
    assert usbhid.urbin is not None and usbhid.urbin.interval == 2


def test_a_stalled_interrupt_endpoint_is_cleared_and_polling_goes_on(system: System) -> None:
    mouse = BootMouse()
    plug(system, mouse)

    async def run() -> list[InputEvent]:
        afile = await system.aopen("/dev/input/event0", "rb")
        ep = mouse.endpoint(INTERRUPT_IN)
        assert ep is not None
        ep.halt()
        mouse.move(3, 4)
        events = await read_events(afile)
        await afile.close()
        return events

    with UrbRecorder(system) as rec:
        events = system.run(run())
    assert triples(events) == [(EV_REL, REL_X, 3), (EV_REL, REL_Y, 4), (EV_SYN, SYN_REPORT, 0)]
    statuses = [e.status for e in rec.completed() if e.pipe_type == PIPE_INTERRUPT]
    assert statuses[0] == -Errno.EPIPE
    clears = [e.setup_packet for e in rec.submitted() if e.pipe_type == PIPE_CONTROL]
    assert [(s.bmRequestType, s.bRequest, s.wValue, s.wIndex) for s in clears if s] \
        == [(0x02, 0x01, 0, INTERRUPT_IN)]  # CLEAR_FEATURE(ENDPOINT_HALT)


def test_protocol_errors_are_retried_at_growing_intervals(system: System) -> None:
    plug(system, BootMouse())
    _, usbhid = hid_of(system)
    afile = system.open("/dev/input/event0", "rb")
    system.log.debug = True
    delays = []
    for _ in range(5):
        usbhid.hid_io_error()
        delays.append(usbhid.retry_delay)
    assert delays == [13, 26, 52, 104, 104]
    assert usbhid.io_retry is not None
    assert usbhid.io_retry.when() == pytest.approx(system.time() + 0.104)
    afile.close()
    assert usbhid.io_retry is None  # close cancels the retry


def test_unplug_while_events_stream(system: System) -> None:
    mouse = BootMouse()
    plug(system, mouse)

    async def run() -> tuple[list[InputEvent], int]:
        afile = await system.aopen("/dev/input/event0", "rb")
        mouse.play(Script([(10 * n, Move(1, 1)) for n in range(50)]))
        first = await read_events(afile)
        system.unplug("1-1")
        try:
            while True:
                await read_events(afile)
        except OSError as exc:
            error = exc.errno or 0
        await afile.close()
        return first, error

    with UrbRecorder(system) as rec:
        first, error = system.run(run())
        system.settle()
    assert triples(first) == [(EV_REL, REL_X, 1), (EV_REL, REL_Y, 1), (EV_SYN, SYN_REPORT, 0)]
    assert error == Errno.ENODEV
    interrupt = [(e.kind, e.status) for e in rec.events if e.pipe_type == PIPE_INTERRUPT]
    assert interrupt[-1] == ("C", -Errno.ESHUTDOWN)  # no resubmission after it
    assert not system.vfs.exists("/dev/input/event0")
    assert not system.vfs.exists("/sys/class/input/input0")
    assert not system.vfs.exists("/sys/bus/hid/devices/0003:046D:C077.0001")
    assert "usb 1-1: USB disconnect, device number 2" in system.log.lines()


def test_a_typed_string_on_the_keyboard(system: System) -> None:
    keyboard = BootKeyboard()
    plug(system, keyboard)

    async def run() -> list[InputEvent]:
        afile = await system.aopen("/dev/input/event0", "rb")
        keyboard.play(Script([(0, Type("Hi"))]))
        events = await collect(afile, 16)
        await afile.close()
        return events

    assert triples(system.run(run()))[:16] == [
        (EV_MSC, MSC_SCAN, 0x700e1), (EV_KEY, KEY_LEFTSHIFT, 1), (EV_SYN, SYN_REPORT, 0),
        (EV_MSC, MSC_SCAN, 0x7000b), (EV_KEY, KEY_H, 1), (EV_SYN, SYN_REPORT, 0),
        (EV_MSC, MSC_SCAN, 0x7000b), (EV_KEY, KEY_H, 0), (EV_SYN, SYN_REPORT, 0),
        (EV_MSC, MSC_SCAN, 0x700e1), (EV_KEY, KEY_LEFTSHIFT, 0), (EV_SYN, SYN_REPORT, 0),
        (EV_MSC, MSC_SCAN, 0x7000c), (EV_KEY, KEY_I, 1), (EV_SYN, SYN_REPORT, 0),
        (EV_MSC, MSC_SCAN, 0x7000c),
    ]


def write_event(type: int, code: int, value: int) -> bytes:
    return INPUT_EVENT.pack(0, 0, type, code, value)


def test_caps_lock_lights_the_keyboard_led_through_usbhid(system: System) -> None:
    keyboard = BootKeyboard()
    plug(system, keyboard)

    async def run() -> list[InputEvent]:
        afile = await system.aopen("/dev/input/event0", "rb+")
        keyboard.play(Script([(0, Press("capslock")), (20, Release("capslock"))]))
        events = await collect(afile, 6)
        await afile.write(write_event(EV_LED, LED_CAPSL, 1) + write_event(EV_SYN, 0, 0))
        await asyncio.sleep(0.01)
        lit = keyboard.leds
        await afile.write(write_event(EV_LED, LED_CAPSL, 0) + write_event(EV_SYN, 0, 0))
        await asyncio.sleep(0.01)
        assert lit == KeyboardLed.CAPS_LOCK
        await afile.close()
        return events

    with UrbRecorder(system) as rec:
        events = system.run(run())
    assert (EV_KEY, KEY_CAPSLOCK, 1) in triples(events)
    assert keyboard.leds == KeyboardLed(0)
    reports = [(e.setup_packet, bytes(e.urb.transfer_buffer[:1])) for e in rec.submitted()
               if e.setup_packet is not None and e.setup_packet.bRequest == HidRequest.SET_REPORT]
    assert [(s.bmRequestType, s.wValue, s.wLength) for s, _ in reports] == \
        [(0x21, 0x0200, 1), (0x21, 0x0200, 1)]


def test_the_tablets_absolute_axes(system: System) -> None:
    tablet = Tablet()
    plug(system, tablet)
    assert "hid-generic 0003:0627:0001.0001: input,hidraw0: USB HID v0.01 Mouse [QEMU QEMU " \
           "USB Tablet] on usb-0000:00:1d.0-1/input0" in system.log.lines()

    async def run() -> tuple[list[InputAbsinfo], list[InputEvent]]:
        afile = await system.aopen("/dev/input/event0", "rb")
        infos = []
        for axis in (ABS_X, ABS_Y):
            buf = bytearray(InputAbsinfo.SIZE)
            await afile.ioctl(EVIOCGABS(axis), buf)
            infos.append(InputAbsinfo.unpack(buf))
        tablet.play(Script([(0, MoveTo(16384, 100)), (20, MoveTo(32767, 100))]))
        events = await collect(afile, 5)
        await afile.close()
        return infos, events

    infos, events = system.run(run())
    assert infos == [InputAbsinfo(0, 0, 32767, 0, 0, 0)] * 2  # no unit: resolution 0
    assert triples(events) == [(EV_ABS, ABS_X, 16384), (EV_ABS, ABS_Y, 100),
                               (EV_SYN, SYN_REPORT, 0), (EV_ABS, ABS_X, 32767),
                               (EV_SYN, SYN_REPORT, 0)]


def test_raw_get_and_set_report(system: System) -> None:
    keyboard = BootKeyboard()
    plug(system, keyboard)
    hid, usbhid = hid_of(system)
    keyboard.press("a")

    async def run() -> tuple[int, bytes, int, int]:
        buf = bytearray(9)
        got = await usbhid.raw_request(hid, 0, buf, 9, ReportType.INPUT,
                                       HidRequest.GET_REPORT)
        out = bytearray(b"\x00\x04")
        sent = await usbhid.raw_request(hid, 0, out, 2, ReportType.OUTPUT,
                                        HidRequest.SET_REPORT)
        interrupt = await usbhid.output_report(hid, b"\x00\x01")
        return got, bytes(buf), sent, interrupt

    got, buf, sent, interrupt = system.run(run())
    assert (got, buf) == (9, b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # the id byte counts
    assert sent == 2 and keyboard.leds == KeyboardLed.SCROLL_LOCK
    assert interrupt == -Errno.ENOSYS  # no interrupt OUT endpoint


def test_the_hid_device_goes_and_comes_back_with_hid_generic(system: System) -> None:
    plug(system, BootMouse())
    system.rmmod("hid_generic")
    assert not system.vfs.exists("/dev/input/event0")
    _, usbhid = hid_of(system)
    assert usbhid.urbin is None and usbhid.iofl & IoFlag.DISCONNECTED
    system.modprobe("hid_generic")
    system.settle()
    assert system.vfs.exists("/dev/input/event0")
    assert system.vfs.exists("/sys/class/input/input1")
    assert usbhid.urbin is not None and not usbhid.iofl & IoFlag.DISCONNECTED


def test_an_interface_without_interrupt_in_is_refused() -> None:
    """usbhid's probe needs an interrupt IN endpoint ("couldn't find an input interrupt
    endpoint")."""
    class OutOnly(DeviceModel):
        descriptor = DeviceDescriptor(
            idVendor=0x1234, idProduct=0x5678, bcdUSB=0x0200, bMaxPacketSize0=64,
            configurations=(ConfigDescriptor(interfaces=(InterfaceDescriptor(
                ClassCode.HID, 0, 0,
                endpoints=(EndpointDescriptor.interrupt(0x02, 8, 10),),
                extra=hid_descriptor(20)),)),))

    with System() as machine:
        machine.add_controller()
        machine.plug(OutOnly(), "1-1")
        machine.settle()
        assert "usbhid 1-1:1.0: couldn't find an input interrupt endpoint" \
            in machine.log.lines()


class OutKeyboard(BootKeyboard):
    """The keyboard with an interrupt OUT endpoint 0x02 for its LED report."""

    @endpoint_out(0x02)
    def _leds_out(self, ep: Endpoint, data: bytes) -> None:
        self.set_output_report(bytes(data))


@pytest.fixture
def out_keyboard(monkeypatch: pytest.MonkeyPatch) -> OutKeyboard:
    interface = keyboard_models._interface

    def with_out(interval: int) -> InterfaceDescriptor:
        base = interface(interval)
        return replace(base, endpoints=(*base.endpoints,
                                        EndpointDescriptor.interrupt(0x02, 8, interval)))

    monkeypatch.setattr(keyboard_models, "_interface", with_out)
    return OutKeyboard()


def test_output_reports_go_on_the_interrupt_out_endpoint(system: System,
                                                         out_keyboard: OutKeyboard) -> None:
    with UrbRecorder(system) as rec:
        plug(system, out_keyboard)
        hid, usbhid = hid_of(system)
        assert usbhid.urbout is not None

        async def run() -> int:
            afile = await system.aopen("/dev/input/event0", "rb+")
            await afile.write(write_event(EV_LED, LED_CAPSL, 1) + write_event(EV_SYN, 0, 0))
            await asyncio.sleep(0.05)
            await afile.close()
            return int(await usbhid.output_report(hid, b"\x00\x01"))

        sent = system.run(run())
    outs = [e for e in rec.completed() if e.pipe_type == PIPE_INTERRUPT and not e.is_in]
    assert [e.status for e in outs] == [0, 0, 0]  # Num Lock off at start, Caps Lock, raw
    assert not [e for e in rec.submitted() if e.setup_packet is not None
                and e.setup_packet.bmRequestType == 0x21
                and e.setup_packet.bRequest == HidRequest.SET_REPORT]
    assert sent == 2  # the report id 0 counts
    assert out_keyboard.leds == KeyboardLed.NUM_LOCK
    assert not usbhid.iofl & IoFlag.OUT_RUNNING


def test_suspend_stops_polling_and_resume_restarts_it(system: System) -> None:
    plug(system, BootMouse())
    _, usbhid = hid_of(system)
    udev = system.find_device("1-1")
    assert udev is not None
    afile = system.open("/dev/input/event0", "rb")
    assert system.run(usb_suspend_device(udev)) == 0
    assert usbhid.iofl & IoFlag.SUSPENDED and usbhid.urbin.hcpriv is None
    assert system.run(usb_resume_device(udev)) == 0
    assert not usbhid.iofl & IoFlag.SUSPENDED and usbhid.iofl & IoFlag.IN_RUNNING
    afile.close()


def test_autosuspend_is_refused_with_an_led_on(system: System) -> None:
    keyboard = BootKeyboard()
    plug(system, keyboard)
    udev = system.find_device("1-1")
    assert udev is not None
    afile = system.open("/dev/input/event0", "rb+")
    afile.write(write_event(EV_LED, LED_CAPSL, 1) + write_event(EV_SYN, 0, 0))
    system.sleep(10)
    assert system.run(usb_suspend_device(udev)) == -Errno.EBUSY
    afile.close()


def test_a_mouse_and_its_devices_keep_their_state_in_slots(system: System) -> None:
    """The device objects a plugged mouse makes keep their fields in slots, not in an
    instance dict (each such dict took 1.5 KiB): its model, USB device, HID device and
    input device; the model's own subclass fields stay in a small dict."""
    mouse = BootMouse()
    plug(system, mouse)
    hid, _ = hid_of(system)
    udev = system.find_device("1-1")
    assert udev is not None and hid.inputs
    assert vars(udev) == {} and vars(hid) == {}
    assert not hasattr(hid.inputs[0].input, "__dict__")
    assert set(vars(mouse)) == {"buttons", "_queue"}
