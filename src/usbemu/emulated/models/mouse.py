"""A HID boot-protocol mouse — counterpart of QEMU's hw/usb/dev-hid.c "usb-mouse" (whose report
descriptor it uses) and of the device side of Linux's drivers/usb/gadget/function/f_hid.c,
with the descriptors of a Logitech M105 (046d:c077) as lsusb shows them.

A low-speed device (bMaxPacketSize0 8) with one HID interface, boot subclass, mouse protocol:
the HID descriptor sits in the interface's `extra` bytes, and interrupt IN 0x81 (4 bytes,
bInterval 10) carries 4-byte reports: buttons (bit 0 left … bit 4 extra), X, Y and wheel as
signed bytes — the boot layout Linux's usbmouse decodes, in boot and report protocol alike.
Tests and bridges script it: `move`, `press`, `release`, `click` queue reports, and each poll
of the endpoint returns one, or NAKs when none is queued.  The HID class requests are
answered: GET_DESCRIPTOR(HID / REPORT), GET_REPORT (input), SET/GET_IDLE and
SET/GET_PROTOCOL.

What it does not do: the idle rate is stored and reported but never acted on — the model
behaves as with rate 0 (a report only on change, no repeats), which is what Linux asks of a
mouse; it has no output or feature reports (SET_REPORT STALLs).  Reports queued while the
bus has the device suspended signal remote wakeup if the host enabled it.
"""

from __future__ import annotations

import struct
from collections import deque
from enum import IntFlag
from typing import ClassVar, Final

from ...spec.ch9 import ClassCode, DeviceState, SetupPacket, Speed
from ...spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from ...spec.hid import (
    HidBootProtocol,
    HidDescriptorType,
    HidProtocol,
    HidReportType,
    HidRequest,
    HidSubclass,
    hid_descriptor,
)
from ..device import DeviceModel, endpoint_in, request
from ..endpoint import Endpoint, Stall


class MouseButton(IntFlag):
    """Button bits of byte 0 of a boot report (usbmouse: BTN_LEFT … BTN_EXTRA)."""

    LEFT = 0x01
    RIGHT = 0x02
    MIDDLE = 0x04
    SIDE = 0x08
    EXTRA = 0x10


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
"""Five buttons, X, Y, wheel: QEMU's usb-mouse report descriptor (52 bytes)."""

INTERRUPT_IN: Final = 0x81
REPORT_SIZE: Final = 4
MAX_DELTA: Final = 127

_INTERFACE: Final = 0
_REPORT: Final = struct.Struct("<Bbbb")
_CLASS_OUT: Final = 0x21  # host-to-device, class, interface
_CLASS_IN: Final = 0xA1  # device-to-host, class, interface
_STD_IN_INTERFACE: Final = 0x81  # device-to-host, standard, interface


def _steps(delta: int) -> int:
    """Reports needed to carry `delta` in steps of at most MAX_DELTA."""
    return -(-abs(delta) // MAX_DELTA)


def _clamp(delta: int) -> int:
    return max(-MAX_DELTA, min(MAX_DELTA, delta))


class BootMouse(DeviceModel):
    """Logitech-style boot mouse (046d:c077, low speed) driven from Python.

    State visible to tests: `buttons` (held now), `protocol` (HidProtocol, REPORT after
    reset), `idle_rate` (SET_IDLE duration in 4 ms units, 0 = indefinite) and
    `pending_reports`.
    """

    model_name: ClassVar[str] = "mouse"
    speed = Speed.LOW
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
        self.protocol = HidProtocol.REPORT
        self.idle_rate = 0
        self._reports: deque[bytes] = deque()
        self._in_waiting = False

    # -- scripting ------------------------------------------------------------------------

    def move(self, dx: int, dy: int, wheel: int = 0) -> int:
        """Queue a relative move (X right, Y down, wheel up positive) with the buttons held.

        Deltas beyond ±127 are split over as many reports as needed, each clamped to
        -127..127, so the sums are exact.  Returns the number of reports queued.
        Context: atomic, never blocks.
        """
        count = max(1, _steps(dx), _steps(dy), _steps(wheel))
        buttons = self.buttons
        for _ in range(count):
            x, y, w = _clamp(dx), _clamp(dy), _clamp(wheel)
            dx, dy, wheel = dx - x, dy - y, wheel - w
            self._reports.append(_REPORT.pack(buttons, x, y, w))
        self._reports_added()
        return count

    def press(self, buttons: MouseButton) -> None:
        """Hold `buttons` down (added to those held) and queue one report.
        Context: atomic, never blocks."""
        self.buttons |= buttons
        self._queue_state()

    def release(self, buttons: MouseButton) -> None:
        """Let `buttons` go and queue one report.  Context: atomic, never blocks."""
        self.buttons &= ~buttons
        self._queue_state()

    def click(self, button: MouseButton = MouseButton.LEFT) -> None:
        """Press then release `button`: two reports.  Context: atomic, never blocks."""
        self.press(button)
        self.release(button)

    @property
    def pending_reports(self) -> int:
        """Reports queued and not yet read by the host."""
        return len(self._reports)

    def clear_reports(self) -> None:
        """Drop every queued report (the held buttons stay held)."""
        self._reports.clear()

    def current_report(self) -> bytes:
        """The input report for the present state: held buttons, no motion."""
        return _REPORT.pack(self.buttons, 0, 0, 0)

    def _queue_state(self) -> None:
        self._reports.append(self.current_report())
        self._reports_added()

    def _reports_added(self) -> None:
        if self.state is DeviceState.SUSPENDED:
            self.signal_remote_wakeup()
        if self._in_waiting:
            self._in_waiting = False
            ep = self.endpoint(INTERRUPT_IN)
            if ep is not None:
                ep.notify_ready()

    # -- the interrupt endpoint -----------------------------------------------------------

    @endpoint_in(INTERRUPT_IN)
    def _report_in(self, ep: Endpoint, room: int) -> bytes | None:
        if self._reports:
            return self._reports.popleft()
        self._in_waiting = True
        return None

    # -- HID class requests (HID 1.11 §7) -------------------------------------------------

    def on_reset(self) -> None:
        """HID 1.11 §7.2.6: a reset device returns to the report protocol."""
        self.protocol = HidProtocol.REPORT
        self.idle_rate = 0

    def _check_interface(self, setup: SetupPacket) -> None:
        if self.state is not DeviceState.CONFIGURED or setup.wIndex != _INTERFACE:
            raise Stall

    @request(_STD_IN_INTERFACE, 0x06)
    def _get_class_descriptor(self, setup: SetupPacket, data: bytes) -> bytes:
        """GET_DESCRIPTOR to the interface: HID (0x21) or REPORT (0x22), index 0."""
        self._check_interface(setup)
        reply = _CLASS_DESCRIPTORS.get(setup.wValue)
        if reply is None:
            raise Stall
        return reply

    @request(_CLASS_IN, HidRequest.GET_REPORT)
    def _get_report(self, setup: SetupPacket, data: bytes) -> bytes:
        self._check_interface(setup)
        if setup.wValue != HidReportType.INPUT << 8:
            raise Stall
        return self.current_report()

    @request(_CLASS_OUT, HidRequest.SET_IDLE)
    def _set_idle(self, setup: SetupPacket, data: bytes) -> None:
        self._check_interface(setup)
        if setup.wLength or setup.wValue & 0xFF:
            raise Stall
        self.idle_rate = setup.wValue >> 8

    @request(_CLASS_IN, HidRequest.GET_IDLE)
    def _get_idle(self, setup: SetupPacket, data: bytes) -> bytes:
        self._check_interface(setup)
        if setup.wValue:
            raise Stall
        return bytes((self.idle_rate,))

    @request(_CLASS_OUT, HidRequest.SET_PROTOCOL)
    def _set_protocol(self, setup: SetupPacket, data: bytes) -> None:
        self._check_interface(setup)
        if setup.wLength or setup.wValue not in _PROTOCOLS:
            raise Stall
        self.protocol = HidProtocol(setup.wValue)

    @request(_CLASS_IN, HidRequest.GET_PROTOCOL)
    def _get_protocol(self, setup: SetupPacket, data: bytes) -> bytes:
        self._check_interface(setup)
        if setup.wValue:
            raise Stall
        return bytes((self.protocol,))


_PROTOCOLS: Final = frozenset(int(p) for p in HidProtocol)
_CLASS_DESCRIPTORS: Final[dict[int, bytes]] = {
    HidDescriptorType.HID << 8: hid_descriptor(len(BOOT_MOUSE_REPORT_DESCRIPTOR)),
    HidDescriptorType.REPORT << 8: BOOT_MOUSE_REPORT_DESCRIPTOR,
}
