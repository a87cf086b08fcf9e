"""The console's keyboard handler (usbemu.kernel.vt_keyboard) against keyboard.c: it is
registered at boot, connects to keyboards and to devices that beep but not to mice, opens
what it connects to (a USB keyboard is polled from its probe on), and closes it when the
device goes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.drivers.usb.mon.mon_text import MON_DIR
from usbemu.emulated.models.keyboard import BootKeyboard
from usbemu.emulated.models.mouse import BootMouse
from usbemu.errors import Errno
from usbemu.kernel.fs import O_NONBLOCK, O_RDONLY
from usbemu.kernel.input import (
    InputDev,
    input_register_device,
    input_set_capability,
    input_unregister_device,
)
from usbemu.kernel.input_event_codes import (
    BTN_LEFT,
    EV_KEY,
    EV_REL,
    EV_SND,
    KEY_A,
    KEY_BRL_DOT3,
    REL_X,
    SND_BELL,
)
from usbemu.kernel.vt_keyboard import kbd_handler, kbd_match
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


def device(*caps: tuple[int, int]) -> InputDev:
    dev = InputDev("test device")
    for type_, code in caps:
        input_set_capability(dev, type_, code)
    return dev


@pytest.mark.parametrize(("caps", "matches"), [
    (((EV_KEY, KEY_A),), True),                       # a key below BTN_MISC
    (((EV_KEY, KEY_BRL_DOT3),), True),                # a Braille dot
    (((EV_SND, SND_BELL),), True),                    # a beeper
    (((EV_KEY, BTN_LEFT), (EV_REL, REL_X)), False),   # a mouse: buttons only
])
def test_kbd_match(caps: tuple[tuple[int, int], ...], matches: bool) -> None:
    assert kbd_match(kbd_handler(), device(*caps)) is matches


def test_registered_at_boot_before_evdev(system: System) -> None:
    assert system.vfs.read_text("/proc/bus/input/handlers").startswith(
        "N: Number=0 Name=kbd\nN: Number=1 Name=evdev")


def test_it_opens_a_keyboard_and_closes_it_when_it_goes(system: System) -> None:
    calls: list[str] = []
    dev = device((EV_KEY, KEY_A))

    def open_(d: InputDev) -> int:
        calls.append("open")
        return 0

    dev.open = open_
    dev.close = lambda d: calls.append("close")
    assert system.run(input_register_device(dev)) == 0
    assert [h.name for h in dev.h_list] == ["kbd", "event0"] and dev.users == 1
    assert calls == ["open"]
    system.run(input_unregister_device(dev))
    assert calls == ["open", "close"]


def test_a_failed_open_leaves_no_handle(system: System) -> None:
    dev = device((EV_KEY, KEY_A))
    dev.open = lambda d: -Errno.EIO
    assert system.run(input_register_device(dev)) == 0
    assert [h.name for h in dev.h_list] == ["event0"] and dev.users == 0


def interrupt_submissions(model: BootKeyboard | BootMouse) -> list[str]:
    """The interrupt-IN submissions to `model` usbmon sees while it is plugged in and bound
    (the root hub's own status URB aside)."""
    with System() as machine:
        machine.add_controller()
        machine.settle()
        mon = machine.open(f"{MON_DIR}/1u", O_RDONLY | O_NONBLOCK)
        machine.plug(model, "1-1")
        machine.settle()
        lines: list[str] = []
        while True:
            try:
                lines.append(mon.read(4096).decode())
            except BlockingIOError:
                return [line.split()[3] for line in lines if " S Ii:1:002:" in line]


def test_a_usb_keyboard_is_polled_from_its_probe_a_mouse_is_not() -> None:
    assert interrupt_submissions(BootKeyboard()) == ["Ii:1:002:1"]
    assert interrupt_submissions(BootMouse()) == []
