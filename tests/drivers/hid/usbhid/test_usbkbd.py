"""usbkbd, the boot-protocol keyboard driver (usbemu.drivers.hid.usbhid.usbkbd), on
virtual time with the keyboard model: its input device, the key-down / key-up diffing of
the 8-byte boot report with shift, unknown usages, the LED report through SET_REPORT on the
control pipe (and LED changes while one is in flight), and which of usbkbd and usbhid gets
the keyboard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import ModuleType

import pytest

from usbemu.emulated.hid_script import Script, Type
from usbemu.emulated.models.keyboard import BootKeyboard, KeyboardLed
from usbemu.kernel.evdev import read_events
from usbemu.kernel.input_event_codes import (
    EV_KEY,
    EV_LED,
    EV_SYN,
    INPUT_EVENT,
    KEY_1,
    KEY_H,
    KEY_I,
    KEY_LEFTSHIFT,
    LED_CAPSL,
    LED_NUML,
    SYN_REPORT,
    InputEvent,
)
from usbemu.kernel.syscalls import AsyncFile
from usbemu.spec.hid import HidRequest
from usbemu.system import System
from usbemu.testing.monitor import UrbRecorder


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        machine.modules.autoload = False
        yield machine


@pytest.fixture
def code(system: System) -> ModuleType:
    module = system.insmod("usbkbd")
    assert module.pymodule is not None
    return module.pymodule


@pytest.fixture
def keyboard(system: System, code: ModuleType) -> BootKeyboard:
    model = BootKeyboard()
    system.plug(model, "1-1")
    system.settle()
    return model


async def collect(afile: AsyncFile, count: int) -> list[InputEvent]:
    events: list[InputEvent] = []
    while len(events) < count:
        events += await read_events(afile)
    return events


def write_event(type: int, code: int, value: int) -> bytes:
    return INPUT_EVENT.pack(0, 0, type, code, value)


def test_the_input_device(system: System, code: ModuleType, keyboard: BootKeyboard) -> None:
    lines = system.log.lines()
    assert "usbcore: registered new interface driver usbkbd" in lines
    assert lines[-1] == ("input: QEMU QEMU USB Keyboard as /devices/pci0000:00/0000:00:1d.0/"
                         "usb1/1-1/1-1:1.0/input/input0")
    base = "/sys/class/input/input0"
    assert system.vfs.read_text(f"{base}/capabilities/ev") == "120003\n"
    assert system.vfs.read_text(f"{base}/capabilities/led") == "1f\n"
    assert system.vfs.read_text(f"{base}/phys") == "usb-0000:00:1d.0-1/input0\n"


def test_a_typed_string_with_shift(system: System, keyboard: BootKeyboard) -> None:
    async def run() -> list[InputEvent]:
        afile = await system.aopen("/dev/input/event0", "rb")
        keyboard.play(Script([(0, Type("Hi!"))]))
        events = await collect(afile, 20)
        await afile.close()
        return events

    keys = [(e.type, e.code, e.value) for e in system.run(run())]
    syn = (EV_SYN, SYN_REPORT, 0)
    assert keys == [
        (EV_KEY, KEY_LEFTSHIFT, 1), syn, (EV_KEY, KEY_H, 1), syn, (EV_KEY, KEY_H, 0), syn,
        (EV_KEY, KEY_LEFTSHIFT, 0), syn, (EV_KEY, KEY_I, 1), syn, (EV_KEY, KEY_I, 0), syn,
        (EV_KEY, KEY_LEFTSHIFT, 1), syn, (EV_KEY, KEY_1, 1), syn, (EV_KEY, KEY_1, 0), syn,
        (EV_KEY, KEY_LEFTSHIFT, 0), syn,
    ]


def test_an_unknown_usage_is_logged(system: System, code: ModuleType,
                                    keyboard: BootKeyboard) -> None:
    """A usage usb_kbd_keycode[] does not map (0x82, Locking Caps Lock, which the model
    cannot send) coming and going in two completions of the interrupt URB."""
    udev = system.find_device("1-1")
    assert udev is not None
    intf = udev.interface(0)
    assert intf is not None
    kbd = intf.driver_data
    assert isinstance(kbd, code.usb_kbd)

    async def complete(report: bytes) -> None:
        await code.usb_kbd_close(kbd.dev)  # idle: the console's kbd handler keeps it open
        kbd.new[:] = report
        kbd.irq.status = 0
        code.usb_kbd_irq(kbd.irq)  # reports, then resubmits
        await code.usb_kbd_close(kbd.dev)  # the URB idle again

    for report in (b"\0\0\x82\0\0\0\0\0", bytes(8)):
        system.run(complete(report))
    lines = system.log.lines()
    assert lines[-2:] == ["usb 1-1: Unknown key (scancode 0x82) pressed.",
                          "usb 1-1: Unknown key (scancode 0x82) released."]


def test_caps_lock_through_set_report(system: System, keyboard: BootKeyboard) -> None:
    async def run() -> KeyboardLed:
        afile = await system.aopen("/dev/input/event0", "rb+")
        await afile.write(write_event(EV_LED, LED_CAPSL, 1) + write_event(EV_SYN, 0, 0))
        await asyncio.sleep(0.01)
        lit = keyboard.leds
        await afile.close()
        return lit

    with UrbRecorder(system) as rec:
        lit = system.run(run())
    assert lit == KeyboardLed.CAPS_LOCK
    sent = [(e.setup_packet, bytes(e.urb.transfer_buffer)) for e in rec.submitted()
            if e.setup_packet is not None and e.setup_packet.bRequest == HidRequest.SET_REPORT]
    assert [(s.bmRequestType, s.wValue, s.wIndex, s.wLength, data) for s, data in sent] == \
        [(0x21, 0x0200, 0, 1, b"\x02")]


def test_leds_changed_while_a_report_is_in_flight(system: System,
                                                  keyboard: BootKeyboard) -> None:
    received: list[bytes] = []
    set_output_report = keyboard.set_output_report

    def record(data: bytes) -> None:
        received.append(bytes(data))
        set_output_report(data)

    keyboard.set_output_report = record  # type: ignore[method-assign]

    async def run() -> None:
        afile = await system.aopen("/dev/input/event0", "rb+")
        await afile.write(write_event(EV_LED, LED_CAPSL, 1) + write_event(EV_LED, LED_NUML, 1)
                          + write_event(EV_SYN, 0, 0))
        await asyncio.sleep(0.01)
        await afile.close()

    system.run(run())
    assert received == [b"\x02", b"\x03"]  # the second waited for the first's completion
    assert keyboard.leds == KeyboardLed.CAPS_LOCK | KeyboardLed.NUM_LOCK


def test_usbkbd_gets_the_keyboard_only_before_usbhid() -> None:
    with System() as machine:
        machine.add_controller()
        machine.modprobe("usbhid")
        machine.insmod("usbkbd")
        machine.plug(BootKeyboard(), "1-1")
        machine.settle()
        udev = machine.find_device("1-1")
        assert udev is not None
        intf = udev.interface(0)
        assert intf is not None and intf.driver is not None and intf.driver.name == "usbhid"
