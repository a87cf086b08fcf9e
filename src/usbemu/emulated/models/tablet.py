"""An absolute pointing device — counterpart of QEMU's hw/usb/dev-hid.c "usb-tablet" (its
descriptors and report descriptor) and hw/input/hid.c (hid_pointer_poll for HID_TABLET).

QEMU's tablet, 0627:0001 "QEMU USB Tablet": full speed (bMaxPacketSize0 8, bcdUSB 1.00) by
default, or QEMU's high-speed variant with `usb_version=2` (bcdUSB 2.00, bMaxPacketSize0 64,
bInterval 4 = 1 ms).  One HID interface that is not a boot interface (subclass 0, protocol
0: SET/GET_PROTOCOL STALL), with QEMU's HID descriptor — bcdHID 0x0001, so Linux calls it
"USB HID v0.01 Mouse" — and a report descriptor of 74 bytes; interrupt IN 0x81 of 8 bytes,
bInterval 10 at full speed.

Input reports are 6 bytes: buttons (bit 0 left … bit 4 extra), X and Y as little-endian
16-bit absolute positions 0..32767 in both logical and physical units, and the wheel as a
signed byte (relative).  As in QEMU, changes between two polls merge: the last position
wins, wheel detents add up (at most ±127 a report, the rest carried to the next), and a
button change starts a new report.  At most one report goes out per 10 ms of machine time
(`usbemu.emulated.hid.HidDevice`); with a nonzero idle rate the current state is repeated.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import ClassVar, Final

from ...spec.ch9 import ClassCode
from ...spec.descriptors import EndpointDescriptor, InterfaceDescriptor
from ...spec.hid import HidBootProtocol, HidSubclass, MouseButton, hid_descriptor
from ..hid import INTERRUPT_IN, HidDevice, QemuString, Thunk, qemu_hid_device
from ..hid_script import Action, Click, Move, MoveTo, Press, Release, Wheel, parse_buttons

__all__ = ["INTERRUPT_IN", "MAX_COORDINATE", "QEMU_TABLET_REPORT_DESCRIPTOR", "REPORT_SIZE",
           "Tablet"]

QEMU_TABLET_REPORT_DESCRIPTOR: Final = bytes((
    0x05, 0x01,        # Usage Page (Generic Desktop)
    0x09, 0x02,        # Usage (Mouse)
    0xA1, 0x01,        # Collection (Application)
    0x09, 0x01,        #   Usage (Pointer)
    0xA1, 0x00,        #   Collection (Physical)
    0x05, 0x09,        #     Usage Page (Button)
    0x19, 0x01,        #     Usage Minimum (1)
    0x29, 0x05,        #     Usage Maximum (5)
    0x15, 0x00,        #     Logical Minimum (0)
    0x25, 0x01,        #     Logical Maximum (1)
    0x95, 0x05,        #     Report Count (5)
    0x75, 0x01,        #     Report Size (1)
    0x81, 0x02,        #     Input (Data, Variable, Absolute): 5 buttons
    0x95, 0x01,        #     Report Count (1)
    0x75, 0x03,        #     Report Size (3)
    0x81, 0x01,        #     Input (Constant): 3 bits padding
    0x05, 0x01,        #     Usage Page (Generic Desktop)
    0x09, 0x30,        #     Usage (X)
    0x09, 0x31,        #     Usage (Y)
    0x15, 0x00,        #     Logical Minimum (0)
    0x26, 0xFF, 0x7F,  #     Logical Maximum (32767)
    0x35, 0x00,        #     Physical Minimum (0)
    0x46, 0xFF, 0x7F,  #     Physical Maximum (32767)
    0x75, 0x10,        #     Report Size (16)
    0x95, 0x02,        #     Report Count (2)
    0x81, 0x02,        #     Input (Data, Variable, Absolute): X, Y
    0x05, 0x01,        #     Usage Page (Generic Desktop)
    0x09, 0x38,        #     Usage (Wheel)
    0x15, 0x81,        #     Logical Minimum (-127)
    0x25, 0x7F,        #     Logical Maximum (127)
    0x35, 0x00,        #     Physical Minimum (same as logical)
    0x45, 0x00,        #     Physical Maximum (same as logical)
    0x75, 0x08,        #     Report Size (8)
    0x95, 0x01,        #     Report Count (1)
    0x81, 0x06,        #     Input (Data, Variable, Relative): wheel
    0xC0,              #   End Collection
    0xC0,              # End Collection
))
"""QEMU's usb-tablet report descriptor (hw/usb/dev-hid.c qemu_tablet_hid_report_descriptor,
five-button version; 74 bytes)."""

REPORT_SIZE: Final = 6
MAX_COORDINATE: Final = 0x7FFF
MAX_WHEEL: Final = 127
#: bcdHID of QEMU's tablet (and mouse): 0x0001, not 1.11.
_QEMU_BCD_HID: Final = 0x0001

_REPORT: Final = struct.Struct("<BHHb")


def _interface(interval: int) -> InterfaceDescriptor:
    return InterfaceDescriptor(
        ClassCode.HID, HidSubclass.NONE, HidBootProtocol.NONE,
        endpoints=(EndpointDescriptor.interrupt(INTERRUPT_IN, 8, interval),),
        extra=hid_descriptor(len(QEMU_TABLET_REPORT_DESCRIPTOR), bcdHID=_QEMU_BCD_HID))


def _coordinate(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r}: give a whole number of logical units")
    if not 0 <= value <= MAX_COORDINATE:
        raise ValueError(f"{name}={value}: the tablet's logical range is 0..{MAX_COORDINATE}")
    return value


class _Pointer:
    """One report's worth of queued state: buttons, position, wheel detents still to send."""

    __slots__ = ("buttons", "wheel", "x", "y")

    def __init__(self, buttons: MouseButton, x: int, y: int) -> None:
        self.buttons, self.x, self.y, self.wheel = buttons, x, y, 0

    @property
    def reports(self) -> int:
        return max(1, -(-abs(self.wheel) // MAX_WHEEL))


class Tablet(HidDevice):
    """QEMU's USB tablet (0627:0001) driven from Python or by a script.

    State visible to tests: `buttons`, `x`, `y` (the position now), `idle_rate`,
    `pending_reports`, `steps_pending`.  Script actions: MoveTo, Move (relative, kept in
    range), Wheel, Press, Release, Click.
    """

    model_name: ClassVar[str] = "tablet"
    report_descriptor: ClassVar[bytes] = QEMU_TABLET_REPORT_DESCRIPTOR
    boot_interface: ClassVar[bool] = False

    def __init__(self, *, usb_version: int = 1) -> None:
        descriptor, speed = qemu_hid_device(
            usb_version, product=QemuString.PRODUCT_TABLET, serial=QemuString.SERIAL_TABLET,
            configuration=QemuString.CONFIG_TABLET, interface=_interface, intervals=(10, 4))
        super().__init__(descriptor, speed=speed)
        self.buttons = MouseButton(0)
        self.x = self.y = 0
        self._queue: deque[_Pointer] = deque()

    # -- the immediate API ----------------------------------------------------------------

    def move_to(self, x: int, y: int) -> None:
        """Put the pointer at (x, y) in logical units (0..32767 each).  A position not yet
        reported is replaced; the same position again changes nothing.  Context: atomic.
        Raises ValueError for a coordinate out of range, TypeError for one not an int."""
        x, y = _coordinate("x", x), _coordinate("y", y)
        if (x, y) == (self.x, self.y):
            return
        self.x, self.y = x, y
        tail = self._tail()
        tail.x, tail.y = x, y
        self._reports_added()

    def move(self, dx: int, dy: int) -> None:
        """Move the pointer by (dx, dy) logical units, stopping at the edges.
        Context: atomic."""
        self.move_to(max(0, min(MAX_COORDINATE, self.x + dx)),
                     max(0, min(MAX_COORDINATE, self.y + dy)))

    def wheel(self, amount: int) -> None:
        """Turn the wheel `amount` detents (up positive); detents not yet reported add up.
        Context: atomic."""
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"amount={amount!r}: give a whole number of detents")
        if amount:
            self._tail().wheel += amount
            self._reports_added()

    def press(self, buttons: MouseButton | int | str) -> None:
        """Hold `buttons` down: a new report when that changes the buttons.
        Context: atomic.  Raises ValueError for an unknown button."""
        self._set_buttons(self.buttons | parse_buttons(buttons))

    def release(self, buttons: MouseButton | int | str) -> None:
        """Let `buttons` go: a new report when that changes the buttons.  Context: atomic."""
        self._set_buttons(self.buttons & ~parse_buttons(buttons))

    def click(self, button: MouseButton | int | str = MouseButton.LEFT) -> None:
        """Press then release `button` where the pointer is: two reports.  Context: atomic."""
        self.press(button)
        self.release(button)

    def _tail(self) -> _Pointer:
        if not self._queue:
            self._queue.append(_Pointer(self.buttons, self.x, self.y))
        return self._queue[-1]

    def _set_buttons(self, buttons: MouseButton) -> None:
        if buttons == self.buttons:
            return
        self.buttons = buttons
        self._queue.append(_Pointer(buttons, self.x, self.y))
        self._reports_added()

    # -- reports ----------------------------------------------------------------------------

    @property
    def pending_reports(self) -> int:
        return sum(pointer.reports for pointer in self._queue)

    def clear_reports(self) -> None:
        """Drop every queued report (buttons and position stay)."""
        self._queue.clear()

    def current_report(self) -> bytes:
        """The input report for the present state: buttons, position, no wheel motion."""
        return _REPORT.pack(self.buttons, self.x, self.y, 0)

    def _take_report(self) -> bytes | None:
        if not self._queue:
            return None
        head = self._queue[0]
        wheel = max(-MAX_WHEEL, min(MAX_WHEEL, head.wheel))
        head.wheel -= wheel
        if not head.wheel:
            self._queue.popleft()
        return _REPORT.pack(head.buttons, head.x, head.y, wheel)

    def _action(self, action: Action) -> Thunk:
        match action:
            case MoveTo(x, y):
                x, y = _coordinate("x", x), _coordinate("y", y)
                return lambda: self.move_to(x, y)
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
        raise ValueError(f"a tablet cannot perform {action!r}: it moves to a position, "
                         "turns its wheel and presses, releases and clicks buttons")
