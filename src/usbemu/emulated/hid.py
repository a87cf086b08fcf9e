"""HID devices, the device side — counterpart of QEMU's hw/usb/dev-hid.c (HID class requests
and the interrupt IN endpoint) and hw/input/hid.c (the report queue and the idle timer), and
of the device side of Linux's drivers/usb/gadget/function/f_hid.c.

`HidDevice` is what the mouse, keyboard and tablet models share: one HID interface (number
0) whose `extra` bytes hold the HID descriptor, a report descriptor, and interrupt IN 0x81
carrying input reports.  It answers the HID class requests of HID 1.11 §7: GET_DESCRIPTOR
(HID, REPORT) to the interface, GET_REPORT, SET_REPORT (output reports, for a model that
has them), SET/GET_IDLE and — on a boot interface — SET/GET_PROTOCOL; anything else
STALLs.  A subclass keeps its own report queue (how motion merges, how keys roll over) and
turns script actions into calls of its immediate API.  `qemu_hid_device` builds the
descriptors QEMU's HID devices share (0627:0001, the string table `QEMU_HID_STRINGS`, a
full-speed and a high-speed variant).

Timing, on the machine's clock (`DeviceModel.clock`, given when the model is plugged in):

- The firmware prepares at most one report per service interval of the endpoint (its
  bInterval, decoded for its speed): a poll sooner than that after the last report NAKs,
  and the host is woken when the interval is over.  (Linux polls a full-speed endpoint at
  bInterval rounded down to a power of two — every 8 ms for bInterval 10 —: such a device
  NAKs the poll at 8 ms and answers the host woken at 10 ms, so reports stay 10 ms apart.)
- A nonzero idle rate (SET_IDLE, in 4 ms units) repeats the current report when nothing
  changed for that long since the last report or the SET_IDLE, as QEMU's idle timer does;
  rate 0 reports only on change.
- `play(script)` runs a `usbemu.emulated.hid_script.Script`: each step's action happens at
  its offset from the moment the script starts (or from the plug-in, for a script given to
  a model not yet plugged in); steps due are applied before every poll and at their time,
  so a suspended device signals remote wakeup when it has something to say.  Unplugging
  ends the scripts.

A model without a clock (driven by a test double that keeps no time) reports on every poll
that finds something queued, never repeats, and holds its scripts until it is plugged in.
What it does not do: report IDs (every model has one unnumbered report of each kind),
interrupt OUT endpoints, physical descriptors or feature reports.
"""

from __future__ import annotations

import heapq
import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import replace
from enum import IntEnum
from types import MappingProxyType
from typing import ClassVar, Final, TypeAlias

from ..spec.ch9 import ClassCode, DeviceState, SetupPacket, Speed
from ..spec.descriptors import (
    ConfigDescriptor,
    DescriptorSet,
    DeviceDescriptor,
    DeviceQualifier,
    InterfaceDescriptor,
)
from ..spec.hid import (
    HID_DESCRIPTOR_SIZE,
    HID_IDLE_UNIT_MS,
    HidDescriptorType,
    HidProtocol,
    HidReportType,
    HidRequest,
)
from .device import DeviceModel, ModelTimer, endpoint_in, request
from .endpoint import Endpoint, Stall
from .hid_script import Action, Script

__all__ = ["INTERRUPT_IN", "QEMU_HID_STRINGS", "HidDevice", "QemuString", "Thunk",
           "qemu_hid_device"]

#: The endpoint every HID model sends its input reports on.
INTERRUPT_IN: Final = 0x81

_INTERFACE: Final = 0
_CLASS_OUT: Final = 0x21  # host-to-device, class, interface
_CLASS_IN: Final = 0xA1  # device-to-host, class, interface
_STD_IN_INTERFACE: Final = 0x81  # device-to-host, standard, interface
_GET_DESCRIPTOR: Final = 0x06
_PROTOCOLS: Final = frozenset(int(p) for p in HidProtocol)
#: Times closer than this count as equal: deadlines are sums of floats.
_SLACK_S: Final = 1e-6
_NEVER: Final = math.inf

Thunk: TypeAlias = Callable[[], None]
"""A script action made ready to perform: a call of a model's immediate API."""


class QemuString(IntEnum):
    """String indexes of QEMU's HID devices (hw/usb/dev-hid.c, enum STR_*)."""

    MANUFACTURER = 1
    PRODUCT_MOUSE = 2
    PRODUCT_TABLET = 3
    PRODUCT_KEYBOARD = 4
    SERIAL_COMPAT = 5
    CONFIG_MOUSE = 6
    CONFIG_TABLET = 7
    CONFIG_KEYBOARD = 8
    SERIAL_MOUSE = 9
    SERIAL_TABLET = 10
    SERIAL_KEYBOARD = 11


QEMU_HID_STRINGS: Final[Mapping[int, str]] = MappingProxyType({
    QemuString.MANUFACTURER: "QEMU",
    QemuString.PRODUCT_MOUSE: "QEMU USB Mouse",
    QemuString.PRODUCT_TABLET: "QEMU USB Tablet",
    QemuString.PRODUCT_KEYBOARD: "QEMU USB Keyboard",
    QemuString.SERIAL_COMPAT: "42",
    QemuString.CONFIG_MOUSE: "HID Mouse",
    QemuString.CONFIG_TABLET: "HID Tablet",
    QemuString.CONFIG_KEYBOARD: "HID Keyboard",
    QemuString.SERIAL_MOUSE: "89126",
    QemuString.SERIAL_TABLET: "28754",
    QemuString.SERIAL_KEYBOARD: "68284",
})
"""The string table QEMU's mouse, tablet and keyboard share (desc_strings).  QEMU appends
the device's bus path to the serial number (usb_desc_create_serial: "68284-0000:00:02.0-1");
a model does not know where it is plugged in, so it keeps the bare number."""

_QEMU_FULL_SPEED_QUALIFIER: Final = DeviceQualifier(0x0100, bMaxPacketSize0=8)


def qemu_hid_device(usb_version: int, *, product: QemuString, serial: QemuString,
                    configuration: QemuString,
                    interface: Callable[[int], InterfaceDescriptor],
                    intervals: tuple[int, int],
                    serial_number: str | None = None) -> tuple[DeviceDescriptor, Speed]:
    """The descriptors of one of QEMU's HID devices (0627:0001, bcdDevice 0) and its speed.

    `usb_version` 1 is QEMU's full-speed device (bcdUSB 1.00, bMaxPacketSize0 8); 2 its
    high-speed one (bcdUSB 2.00, bMaxPacketSize0 64), whose device qualifier and other-speed
    configuration describe the full-speed one.  `interface(bInterval)` builds the HID
    interface; `intervals` is bInterval at full and at high speed; `serial_number` is
    QEMU's `serial` property, the whole iSerialNumber string (None: the bare number of the
    string table).  One configuration, bus powered with remote wakeup, 100 mA.  Context:
    pure function.  Raises ValueError for another `usb_version`.
    """
    def config(interval: int) -> ConfigDescriptor:
        return ConfigDescriptor(interfaces=(interface(interval),), iConfiguration=configuration,
                                bmAttributes=0xA0, bMaxPower=50)

    full = DeviceDescriptor(
        idVendor=0x0627, idProduct=0x0001, bcdDevice=0x0000, bcdUSB=0x0100,
        bMaxPacketSize0=8, iManufacturer=QemuString.MANUFACTURER, iProduct=product,
        iSerialNumber=serial, configurations=(config(intervals[0]),),
        strings=QEMU_HID_STRINGS if serial_number is None
        else {**QEMU_HID_STRINGS, serial: serial_number})
    if usb_version == 1:
        return full, Speed.FULL
    if usb_version == 2:
        return replace(full, bcdUSB=0x0200, bMaxPacketSize0=64,
                       configurations=(config(intervals[1]),),
                       other_speed_configurations=full.configurations,
                       qualifier=_QEMU_FULL_SPEED_QUALIFIER), Speed.HIGH
    raise ValueError(f"usb_version={usb_version!r}: QEMU's HID devices are USB 1 (full "
                     "speed) or USB 2 (high speed)")


def _hid_descriptor_of(descriptors: DescriptorSet) -> bytes:
    """The HID descriptor in the `extra` bytes of the first HID interface."""
    for config in descriptors.configurations:
        for intf in config.interfaces:
            extra = intf.extra
            if (intf.bInterfaceClass == ClassCode.HID and len(extra) >= HID_DESCRIPTOR_SIZE
                    and extra[1] == HidDescriptorType.HID):
                return extra[:extra[0]]
    raise ValueError("a HID model needs a HID interface with its HID descriptor in `extra`")


class HidDevice(DeviceModel, ABC):
    """A HID interface with input reports on interrupt IN 0x81, timed by the machine's clock.

    Subclasses set `report_descriptor` (and `boot_interface` False for a device that is not
    a boot device) and provide their reports: `current_report`, `pending_reports`,
    `clear_reports`, `_take_report`, and `_action` for scripts; they call `_reports_added`
    after queueing reports.  State visible to tests: `protocol` (REPORT after reset),
    `idle_rate` (4 ms units, 0 = report only on change), `steps_pending`.
    """

    #: The report descriptor GET_DESCRIPTOR(REPORT) returns.
    report_descriptor: ClassVar[bytes] = b""
    #: A boot interface answers SET/GET_PROTOCOL; other HID devices STALL them.
    boot_interface: ClassVar[bool] = True

    __slots__ = ("_held", "_idle_from", "_next_report_at", "_order", "_steps", "_timer",
                 "_timer_at", "_waiting", "hid_descriptor", "idle_rate", "protocol")

    def __init__(self, descriptors: DeviceDescriptor | DescriptorSet | None = None, *,
                 speed: Speed | None = None) -> None:
        super().__init__(descriptors, speed=speed)
        self.hid_descriptor = _hid_descriptor_of(self.descriptors)
        self.protocol = HidProtocol.REPORT
        self.idle_rate = 0
        self._steps: list[tuple[float, int, Thunk]] = []  # heap of (due, order, action)
        self._held: list[tuple[float, Thunk]] = []  # scripts waiting for a clock
        self._order = itertools.count()
        self._timer: ModelTimer | None = None
        self._timer_at = _NEVER
        self._waiting = False
        self._next_report_at = -_NEVER
        self._idle_from = 0.0

    # -- what a subclass provides -------------------------------------------------------------

    @abstractmethod
    def current_report(self) -> bytes:
        """The input report for the present state (GET_REPORT, idle repeats)."""

    @property
    @abstractmethod
    def pending_reports(self) -> int:
        """Reports queued and not yet read by the host."""

    @abstractmethod
    def clear_reports(self) -> None:
        """Drop every queued report (the state — buttons held, keys down — stays)."""

    @abstractmethod
    def _take_report(self) -> bytes | None:
        """The next queued report, removed from the queue; None when nothing is queued."""

    @abstractmethod
    def _action(self, action: Action) -> Thunk:
        """Check `action` now and return what performs it at its time.  Raises ValueError
        for an action the device cannot perform or a name it does not know."""

    def set_output_report(self, data: bytes) -> None:
        """SET_REPORT(Output): the device has no output report, so the request STALLs."""
        raise Stall

    def output_report(self) -> bytes:
        """GET_REPORT(Output): the device has no output report, so the request STALLs."""
        raise Stall

    # -- scripts ------------------------------------------------------------------------------

    def play(self, script: Script) -> None:
        """Start `script` now (or when the model is plugged in, if it has no clock yet).
        Scripts played one after another overlap: their steps are merged by time.

        Context: atomic.  Raises ValueError, before anything happens, for a step the
        device cannot perform (a keyboard asked to move, an unknown key or button name).
        """
        compiled = [(step.at_ms / 1000, self._action(step.action)) for step in script.steps]
        if self.clock is None:
            self._held.extend(compiled)
            return
        self._schedule(compiled, self.now())

    def stop(self) -> None:
        """Drop the steps of every script not yet performed.  Context: atomic."""
        self._steps.clear()
        self._held.clear()
        self._arm(self._time())

    @property
    def steps_pending(self) -> int:
        """Script steps not yet performed."""
        return len(self._steps) + len(self._held)

    def _schedule(self, compiled: list[tuple[float, Thunk]], start: float) -> None:
        for offset, thunk in compiled:
            heapq.heappush(self._steps, (start + offset, next(self._order), thunk))
        self._play_due(start)
        self._arm(start)

    def _play_due(self, now: float | None) -> None:
        """Perform the steps due by `now`, in time order."""
        if now is None:
            return
        due: list[Thunk] = []
        while self._steps and self._steps[0][0] <= now + _SLACK_S:
            due.append(heapq.heappop(self._steps)[2])
        for thunk in due:
            thunk()

    # -- time ---------------------------------------------------------------------------------

    def _time(self) -> float | None:
        return None if self.clock is None else self.clock.time()

    def _period_s(self) -> float:
        ep = self.endpoint(INTERRUPT_IN)
        return 0.0 if ep is None else ep.period_us / 1_000_000

    def _idle_at(self) -> float:
        """When the current report is repeated (never with idle rate 0)."""
        if not self.idle_rate:
            return _NEVER
        return self._idle_from + self.idle_rate * HID_IDLE_UNIT_MS / 1000

    def _ready(self, now: float | None) -> bool:
        """A poll now would get a report."""
        if now is None:
            return self.pending_reports > 0
        if now + _SLACK_S < self._next_report_at:
            return False
        return self.pending_reports > 0 or now + _SLACK_S >= self._idle_at()

    def _arm(self, now: float | None) -> None:
        """Keep one timer at the next moment something happens: a script step, or — while
        the host waits — the end of the interval or the idle repeat."""
        if now is None:
            return
        when = self._steps[0][0] if self._steps else _NEVER
        if self._waiting:
            when = min(when, max(self._next_report_at,
                                 now if self.pending_reports else self._idle_at()))
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, _NEVER
        if when < _NEVER:
            self._timer, self._timer_at = self.call_at(when, self._on_timer), when

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, _NEVER
        now = self._time()
        self._play_due(now)
        self._wake_host(now)
        self._arm(now)

    def _wake_host(self, now: float | None) -> None:
        if self._waiting and self.state is not DeviceState.SUSPENDED and self._ready(now):
            self._waiting = False
            ep = self.endpoint(INTERRUPT_IN)
            if ep is not None:
                ep.notify_ready()

    def _reports_added(self) -> None:
        """A subclass queued reports: wake a suspended bus (remote wakeup, if the host
        enabled it) or a host waiting on the endpoint.  Context: atomic."""
        if self.state is DeviceState.SUSPENDED:
            self.signal_remote_wakeup()
        now = self._time()
        self._wake_host(now)
        self._arm(now)

    # -- the interrupt endpoint ---------------------------------------------------------------

    @endpoint_in(INTERRUPT_IN)
    def _report_in(self, ep: Endpoint, room: int) -> bytes | None:
        now = self._time()
        self._waiting = False  # the host is polling now
        self._play_due(now)
        report = self._report_due(now)
        if report is None:
            self._waiting = True
        elif now is not None:
            self._next_report_at = now + ep.period_us / 1_000_000
            self._idle_from = now
        self._arm(now)
        return report

    def _report_due(self, now: float | None) -> bytes | None:
        if now is not None and now + _SLACK_S < self._next_report_at:
            return None
        report = self._take_report()
        if report is None and now is not None and now + _SLACK_S >= self._idle_at():
            return self.current_report()
        return report

    # -- plugging -----------------------------------------------------------------------------

    def on_connect(self) -> None:
        """Start the scripts held for want of a clock."""
        if self._held and self.clock is not None:
            held, self._held = self._held, []
            self._schedule(held, self.now())

    def on_disconnect(self) -> None:
        """Unplugged: scripts end, the timer goes."""
        self._steps.clear()
        self._held.clear()
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, _NEVER
        self._waiting = False

    def resume(self) -> None:
        """Resume from suspend, and wake a host that waits for a report queued meanwhile."""
        super().resume()
        now = self._time()
        self._wake_host(now)
        self._arm(now)

    def on_reset(self) -> None:
        """HID 1.11 §7.2.6: a reset device returns to the report protocol; idle rate 0."""
        self.protocol = HidProtocol.REPORT
        self.idle_rate = 0
        self._waiting = False
        self._next_report_at = -_NEVER
        self._arm(self._time())

    # -- HID class requests (HID 1.11 §7) -----------------------------------------------------

    def _check_interface(self, setup: SetupPacket) -> None:
        if self.state is not DeviceState.CONFIGURED or setup.wIndex != _INTERFACE:
            raise Stall

    @request(_STD_IN_INTERFACE, _GET_DESCRIPTOR)
    def _get_class_descriptor(self, setup: SetupPacket, data: bytes) -> bytes:
        """GET_DESCRIPTOR to the interface: HID (0x21) or REPORT (0x22), index 0."""
        self._check_interface(setup)
        if setup.wValue == HidDescriptorType.HID << 8:
            return self.hid_descriptor
        if setup.wValue == HidDescriptorType.REPORT << 8:
            return self.report_descriptor
        raise Stall

    @request(_CLASS_IN, HidRequest.GET_REPORT)
    def _get_report(self, setup: SetupPacket, data: bytes) -> bytes:
        self._check_interface(setup)
        self._play_due(self._time())
        if setup.wValue == HidReportType.INPUT << 8:
            return self.current_report()
        if setup.wValue == HidReportType.OUTPUT << 8:
            return self.output_report()
        raise Stall

    @request(_CLASS_OUT, HidRequest.SET_REPORT)
    def _set_report(self, setup: SetupPacket, data: bytes) -> None:
        self._check_interface(setup)
        if setup.wValue != HidReportType.OUTPUT << 8:
            raise Stall
        self.set_output_report(bytes(data))

    @request(_CLASS_OUT, HidRequest.SET_IDLE)
    def _set_idle(self, setup: SetupPacket, data: bytes) -> None:
        self._check_interface(setup)
        if setup.wLength or setup.wValue & 0xFF:
            raise Stall
        self.idle_rate = setup.wValue >> 8
        now = self._time()
        if now is not None:
            self._idle_from = now
        self._wake_host(now)
        self._arm(now)

    @request(_CLASS_IN, HidRequest.GET_IDLE)
    def _get_idle(self, setup: SetupPacket, data: bytes) -> bytes:
        self._check_interface(setup)
        if setup.wValue:
            raise Stall
        return bytes((self.idle_rate,))

    @request(_CLASS_OUT, HidRequest.SET_PROTOCOL)
    def _set_protocol(self, setup: SetupPacket, data: bytes) -> None:
        self._check_interface(setup)
        if not self.boot_interface or setup.wLength or setup.wValue not in _PROTOCOLS:
            raise Stall
        self.protocol = HidProtocol(setup.wValue)

    @request(_CLASS_IN, HidRequest.GET_PROTOCOL)
    def _get_protocol(self, setup: SetupPacket, data: bytes) -> bytes:
        self._check_interface(setup)
        if not self.boot_interface or setup.wValue:
            raise Stall
        return bytes((self.protocol,))
