"""A HID boot-protocol mouse — counterpart of QEMU's hw/usb/dev-hid.c "usb-mouse" (whose report
descriptor it uses, and whose hw/input/hid.c motion merging it follows) and of the device
side of Linux's drivers/usb/gadget/function/f_hid.c, with the descriptors of a Logitech M105
(046d:c077) as lsusb shows them.

A low-speed device (bMaxPacketSize0 8) with one HID interface, boot subclass, mouse protocol:
the HID descriptor sits in the interface's `extra` bytes, and interrupt IN 0x81 (4 bytes,
bInterval 10) carries 4-byte reports: buttons (bit 0 left … bit 4 extra), X, Y and wheel as
signed bytes — the boot layout Linux's usbmouse decodes, in boot and report protocol alike.
The HID class requests are those of `usbemu.emulated.hid.HidDevice`; SET_REPORT STALLs (no
output report).

Tests, scripts and bridges drive it: `move`, `wheel`, `press`, `release`, `click` at once,
or `play(script)` on the machine's clock.  Motion queued between two polls merges into one
report as the firmware merges it: dx, dy and wheel add up, each report carries at most ±127
per axis and the rest goes into the next report; a button change is never merged away — it
starts a new report, so a press and a release between two polls still give two reports, and
motion after a change rides on the report of that change.  At most one report goes out per
10 ms of machine time (`HidDevice`), and with a nonzero idle rate the current buttons are
repeated without motion.

`LOGITECH_M105_REPORT_DESCRIPTOR` is the report descriptor the real M105 sends, for host-side
tests; the model itself keeps QEMU's (five buttons), as it always has.
"""

from __future__ import annotations

import struct
from typing import ClassVar, Final

from ...spec.ch9 import ClassCode, Speed
from ...spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from ...spec.hid import HidBootProtocol, HidSubclass, MouseButton, hid_descriptor
from ..hid import INTERRUPT_IN, HidDevice, Thunk
from ..hid_script import Action, Click, Move, Press, Release, Wheel, parse_buttons

__all__ = ["BOOT_MOUSE_REPORT_DESCRIPTOR", "INTERRUPT_IN", "LOGITECH_M105_REPORT_DESCRIPTOR",
           "MAX_DELTA", "QEMU_MOUSE_REPORT_DESCRIPTOR", "REPORT_SIZE", "BootMouse", "MouseButton"]

BOOT_MOUSE_REPORT_DESCRIPTOR: Final = bytes((
    0x05, 0x01,  # Usage Page (Generic Desktop)
    0x09, 0x02,  # Usage (Mouse)
    0xA1, 0x01,  # Collection (Application)
    0x09, 0x01,  #   Usage (Pointer)
    0xA1, 0x00,  #   Collection (Physical)
    0x05, 0x09,  #     Usage Page (Button)
    0x19, 0x01,  #     Usage Minimum (1)
    0x29, 0x05,  #     Usage Maximum (5)
    0x15, 0x00,  #     Logical Minimum (0)
    0x25, 0x01,  #     Logical Maximum (1)
    0x95, 0x05,  #     Report Count (5)
    0x75, 0x01,  #     Report Size (1)
    0x81, 0x02,  #     Input (Data, Variable, Absolute): 5 buttons
    0x95, 0x01,  #     Report Count (1)
    0x75, 0x03,  #     Report Size (3)
    0x81, 0x01,  #     Input (Constant): 3 bits padding
    0x05, 0x01,  #     Usage Page (Generic Desktop)
    0x09, 0x30,  #     Usage (X)
    0x09, 0x31,  #     Usage (Y)
    0x09, 0x38,  #     Usage (Wheel)
    0x15, 0x81,  #     Logical Minimum (-127)
    0x25, 0x7F,  #     Logical Maximum (127)
    0x75, 0x08,  #     Report Size (8)
    0x95, 0x03,  #     Report Count (3)
    0x81, 0x06,  #     Input (Data, Variable, Relative): X, Y, wheel
    0xC0,        #   End Collection
    0xC0,        # End Collection
))
"""Five buttons, X, Y, wheel: QEMU's usb-mouse report descriptor (hw/usb/dev-hid.c
qemu_mouse_hid_report_descriptor, five-button version; 52 bytes)."""

#: The same bytes under QEMU's name.
QEMU_MOUSE_REPORT_DESCRIPTOR: Final = BOOT_MOUSE_REPORT_DESCRIPTOR

LOGITECH_M105_REPORT_DESCRIPTOR: Final = bytes((
    0x05, 0x01,  # Usage Page (Generic Desktop)
    0x09, 0x02,  # Usage (Mouse)
    0xA1, 0x01,  # Collection (Application)
    0x09, 0x01,  #   Usage (Pointer)
    0xA1, 0x00,  #   Collection (Physical)
    0x05, 0x09,  #     Usage Page (Button)
    0x19, 0x01,  #     Usage Minimum (1)
    0x29, 0x03,  #     Usage Maximum (3)
    0x15, 0x00,  #     Logical Minimum (0)
    0x25, 0x01,  #     Logical Maximum (1)
    0x95, 0x08,  #     Report Count (8): 3 buttons, the last usage repeated for bits 3..7
    0x75, 0x01,  #     Report Size (1)
    0x81, 0x02,  #     Input (Data, Variable, Absolute)
    0x05, 0x01,  #     Usage Page (Generic Desktop)
    0x09, 0x30,  #     Usage (X)
    0x09, 0x31,  #     Usage (Y)
    0x09, 0x38,  #     Usage (Wheel)
    0x15, 0x81,  #     Logical Minimum (-127)
    0x25, 0x7F,  #     Logical Maximum (127)
    0x75, 0x08,  #     Report Size (8)
    0x95, 0x03,  #     Report Count (3)
    0x81, 0x06,  #     Input (Data, Variable, Relative): X, Y, wheel
    0xC0,        #   End Collection
    0xC0,        # End Collection
))
"""The report descriptor of a real Logitech M105 (046d:c077, 46 bytes), as two independent
dumps show it: hidapi's test data (windows/test/data/046D_C077_0002_0001_real.rpt_desc) and
Linux's /sys/kernel/debug/hid/0003:046D:C077.0001/rdesc.  Same 4-byte report layout as the
boot mouse, but three buttons, and Linux's parser gives bits 3..7 the usage Button 3."""

REPORT_SIZE: Final = 4
MAX_DELTA: Final = 127

_REPORT: Final = struct.Struct("<Bbbb")


def _clamp(delta: int) -> int:
    return max(-MAX_DELTA, min(MAX_DELTA, delta))


def _steps(delta: int) -> int:
    """Reports needed to carry `delta` in steps of at most MAX_DELTA."""
    return -(-abs(delta) // MAX_DELTA)


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r}: give a whole number of counts")
    return value


class _Motion:
    """One report's worth of queued state: the buttons it shows and the motion still to
    send with them (a remainder carried over from a clamped report included)."""

    __slots__ = ("buttons", "dx", "dy", "wheel")

    def __init__(self, buttons: MouseButton) -> None:
        self.buttons = buttons
        self.dx = self.dy = self.wheel = 0

    @property
    def reports(self) -> int:
        return max(1, _steps(self.dx), _steps(self.dy), _steps(self.wheel))


class BootMouse(HidDevice):
    """Logitech-style boot mouse (046d:c077, low speed) driven from Python or by a script.

    State visible to tests: `buttons` (held now), `protocol` (HidProtocol, REPORT after
    reset), `idle_rate` (SET_IDLE duration in 4 ms units, 0 = indefinite),
    `pending_reports` and `steps_pending`.  Script actions: Move, Wheel, Press, Release,
    Click (button names "left", "right", "middle", "side", "extra", joined by "+").
    """

    model_name: ClassVar[str] = "mouse"
    speed = Speed.LOW
    report_descriptor: ClassVar[bytes] = BOOT_MOUSE_REPORT_DESCRIPTOR
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        idVendor=0x046D, idProduct=0xC077, bcdDevice=0x7200, bcdUSB=0x0200,
        bMaxPacketSize0=8, iManufacturer="Logitech", iProduct="USB Optical Mouse",
        configurations=(ConfigDescriptor(
            interfaces=(InterfaceDescriptor(
                ClassCode.HID, HidSubclass.BOOT, HidBootProtocol.MOUSE,
                endpoints=(EndpointDescriptor.interrupt(INTERRUPT_IN, REPORT_SIZE, 10),),
                extra=hid_descriptor(len(BOOT_MOUSE_REPORT_DESCRIPTOR))),),
            bmAttributes=0xA0, bMaxPower=50),),
    )

    def __init__(self) -> None:
        super().__init__()
        self.buttons = MouseButton(0)
        self._queue: list[_Motion] = []

    # -- the immediate API ----------------------------------------------------------------

    def move(self, dx: int, dy: int, wheel: int = 0) -> None:
        """Move by dx (right), dy (down) and turn the wheel (up positive), with the buttons
        held.  Merges with the motion not yet reported; a zero move changes nothing.
        Context: atomic, never blocks.  Raises TypeError for a count that is not an int."""
        dx, dy, wheel = _whole("dx", dx), _whole("dy", dy), _whole("wheel", wheel)
        if not (dx or dy or wheel):
            return
        if not self._queue:
            self._queue.append(_Motion(self.buttons))
        tail = self._queue[-1]
        tail.dx += dx
        tail.dy += dy
        tail.wheel += wheel
        self._reports_added()

    def wheel(self, amount: int) -> None:
        """Turn the wheel `amount` detents (up positive).  Context: atomic."""
        self.move(0, 0, amount)

    def press(self, buttons: MouseButton | int | str) -> None:
        """Hold `buttons` down (added to those held): a new report when that changes the
        buttons.  Context: atomic.  Raises ValueError for an unknown button."""
        self._set_buttons(self.buttons | parse_buttons(buttons))

    def release(self, buttons: MouseButton | int | str) -> None:
        """Let `buttons` go: a new report when that changes the buttons.  Context: atomic.
        Raises ValueError for an unknown button."""
        self._set_buttons(self.buttons & ~parse_buttons(buttons))

    def click(self, button: MouseButton | int | str = MouseButton.LEFT) -> None:
        """Press then release `button`: two reports.  Context: atomic."""
        self.press(button)
        self.release(button)

    def _set_buttons(self, buttons: MouseButton) -> None:
        if buttons == self.buttons:
            return
        self.buttons = buttons
        self._queue.append(_Motion(buttons))
        self._reports_added()

    # -- reports ----------------------------------------------------------------------------

    @property
    def pending_reports(self) -> int:
        """Reports the queued changes and motion still take."""
        return sum(motion.reports for motion in self._queue)

    def clear_reports(self) -> None:
        """Drop every queued report (the held buttons stay held)."""
        self._queue.clear()

    def current_report(self) -> bytes:
        """The input report for the present state: held buttons, no motion."""
        return _REPORT.pack(self.buttons, 0, 0, 0)

    def _take_report(self) -> bytes | None:
        if not self._queue:
            return None
        head = self._queue[0]
        x, y, w = _clamp(head.dx), _clamp(head.dy), _clamp(head.wheel)
        head.dx, head.dy, head.wheel = head.dx - x, head.dy - y, head.wheel - w
        if not (head.dx or head.dy or head.wheel):
            del self._queue[0]
        return _REPORT.pack(head.buttons, x, y, w)

    def _action(self, action: Action) -> Thunk:
        match action:
            case Move(dx, dy):
                return lambda: self.move(dx, dy)
            case Wheel(amount):
                return lambda: self.wheel(amount)
            case Press(what):
                pressed = parse_buttons(what)
                return lambda: self.press(pressed)
            case Release(what):
                released = parse_buttons(what)
                return lambda: self.release(released)
            case Click(what):
                clicked = parse_buttons(what)
                return lambda: self.click(clicked)
        raise ValueError(f"a mouse cannot perform {action!r}: it moves, turns its wheel "
                         "and presses, releases and clicks buttons")
