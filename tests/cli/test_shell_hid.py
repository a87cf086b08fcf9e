"""The shell's input commands on virtual time: mouse, keyboard, type and tablet acting on the
plugged HID models, evtest and cat of /dev/input/eventN printing evtest's lines, and the
mistakes (no model, several models, an unknown action, a node that is not an event
device)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from usbemu.cli.machine import boot, plug
from usbemu.cli.shell import Shell
from usbemu.system import System


class Session:
    """A Shell whose output and messages are collected per command."""

    def __init__(self, system: System) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.shell = Shell(system, self.out, self.err)

    def __call__(self, line: str) -> tuple[int, str, str]:
        for stream in (self.out, self.err):
            stream.seek(0)
            stream.truncate()
        status = self.shell.execute(line)
        return status, self.out.getvalue(), self.err.getvalue()


@pytest.fixture
def machine() -> Iterator[System]:
    system = boot()
    try:
        yield system
    finally:
        system.close()


@pytest.fixture
def sh(machine: System) -> Session:
    return Session(machine)


def events_of(text: str) -> list[str]:
    """The event lines of evtest's output, without their times."""
    return [line.split(", ", 1)[1] for line in text.splitlines()
            if line.startswith("Event: time")]


def test_a_mouse_moved_from_the_shell_shows_in_evtest(machine: System, sh: Session) -> None:
    plug(machine, "mouse")
    assert sh("mouse wait 100 move 10 -5")[0] == 0
    assert sh("mouse wait 120 click right")[0] == 0
    status, out, err = sh("timeout 0.3 evtest /dev/input/event0")
    assert status == 124 and not err
    assert out.startswith("Input driver version is 1.0.1\n"
                          "Input device ID: bus 0x3 vendor 0x46d product 0xc077 version 0x111\n"
                          'Input device name: "Logitech USB Optical Mouse"\n')
    assert "Testing ... (interrupt to exit)\nEvent: time" in out
    assert events_of(out) == [
        "type 2 (EV_REL), code 0 (REL_X), value 10",
        "type 2 (EV_REL), code 1 (REL_Y), value -5",
        "-------------- SYN_REPORT ------------",
        "type 4 (EV_MSC), code 4 (MSC_SCAN), value 90002",
        "type 1 (EV_KEY), code 273 (BTN_RIGHT), value 1",
        "-------------- SYN_REPORT ------------",
        "type 4 (EV_MSC), code 4 (MSC_SCAN), value 90002",
        "type 1 (EV_KEY), code 273 (BTN_RIGHT), value 0",
        "-------------- SYN_REPORT ------------",
    ]


def test_cat_of_an_event_node_prints_decoded_events(machine: System, sh: Session) -> None:
    plug(machine, "mouse")
    sh("mouse wait 100 wheel -1")
    status, out, _ = sh("timeout 0.2 cat /dev/input/event0")
    assert status == 124
    assert out.startswith("Event: time 0.")
    assert "type 2 (EV_REL), code 8 (REL_WHEEL), value -1" in events_of(out)


def test_typing_on_the_keyboard(machine: System, sh: Session) -> None:
    plug(machine, "keyboard")
    assert sh("type wait 100 Hi")[0] == 0
    _, out, _ = sh("timeout 0.5 evtest /dev/input/event0")
    keys = [line for line in events_of(out) if line.startswith("type 1 ")]
    assert keys == [
        "type 1 (EV_KEY), code 42 (KEY_LEFTSHIFT), value 1",
        "type 1 (EV_KEY), code 35 (KEY_H), value 1",
        "type 1 (EV_KEY), code 35 (KEY_H), value 0",
        "type 1 (EV_KEY), code 42 (KEY_LEFTSHIFT), value 0",
        "type 1 (EV_KEY), code 23 (KEY_I), value 1",
        "type 1 (EV_KEY), code 23 (KEY_I), value 0",
    ]


def test_the_tablet_moves_to_absolute_positions(machine: System, sh: Session) -> None:
    plug(machine, "tablet")
    assert sh("tablet wait 100 move-to 16384 8192")[0] == 0
    _, out, _ = sh("timeout 0.3 evtest /dev/input/event0")
    assert "type 3 (EV_ABS), code 0 (ABS_X), value 16384" in events_of(out)
    assert "type 3 (EV_ABS), code 1 (ABS_Y), value 8192" in events_of(out)


def test_mistakes_say_what_to_do(machine: System, sh: Session) -> None:
    assert sh("mouse move 1 1") == (1, "", "mouse: no mouse is plugged in (plug mouse)\n")
    plug(machine, "mouse")
    plug(machine, "mouse")
    assert sh("mouse move 1 1") == (
        1, "", "mouse: 2 mice are plugged in (1-1, 1-2): say which with -p PORT\n")
    assert sh("mouse -p 1-2 move 1 1")[0] == 0
    assert sh("mouse -p 1-3 move 1 1")[2] == \
        "mouse: no mouse is plugged in at 1-3 (mice: 1-1, 1-2)\n"
    status, _, err = sh("mouse fly 1 1")
    assert status == 1 and err.startswith("mouse: unknown action 'fly' (a mouse takes move, "
                                          "wheel, press, release, click)\n")
    status, _, err = sh("mouse -p 1-1 move ten 1")
    assert status == 1 and "whole numbers" in err
    status, _, err = sh("evtest /dev/null")
    assert status == 1 and err.startswith("evtest: /dev/null: ")
    status, _, err = sh("evtest /sys/bus/usb/devices/1-1/idVendor")
    assert (status, err) == (1, "evtest: /sys/bus/usb/devices/1-1/idVendor: not an event "
                                "device (/dev/input/eventN)\n")


def test_completion_offers_the_actions_and_ports(machine: System, sh: Session) -> None:
    plug(machine, "mouse")
    assert sh.shell.complete("mouse cl") == ["click"]
    assert sh.shell.complete("mouse -p ") == ["1-1"]
    assert sh.shell.complete("keyboard t") == ["tap", "type"]
