"""Test doubles for the HID core without USB: a transport whose `HidLlDriver` hooks record
what the core asks of them, a stand-in for hid-input that records the events the core
hands it, the report descriptors of the devices the tests parse (the models' for QEMU's
devices and the M105, golden bytes for the others), and `add_device`, which makes a hid
device the way a transport does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from usbemu.drivers.hid.hid_core import (
    BUS_USB,
    HidCore,
    HidDevice,
    HidField,
    HidInputOps,
    HidLlDriver,
    HidReport,
    HidUsage,
    ReportType,
    hid_add_device,
    hid_allocate_device,
    hid_core_of,
    hid_parse_report,
)
from usbemu.emulated.models.keyboard import QEMU_KEYBOARD_REPORT_DESCRIPTOR
from usbemu.emulated.models.mouse import (
    BOOT_MOUSE_REPORT_DESCRIPTOR,
    LOGITECH_M105_REPORT_DESCRIPTOR,
)
from usbemu.emulated.models.tablet import QEMU_TABLET_REPORT_DESCRIPTOR
from usbemu.spec.hid import HidRequest
from usbemu.system import System

# The report descriptors the device models send (byte-exact copies of QEMU's and of a real
# M105, checked against golden bytes by the models' own tests).
QEMU_MOUSE: Final = BOOT_MOUSE_REPORT_DESCRIPTOR
"""QEMU's usb-mouse (hw/usb/dev-hid.c, five buttons; 52 bytes)."""
QEMU_KEYBOARD: Final = QEMU_KEYBOARD_REPORT_DESCRIPTOR
"""QEMU's usb-kbd (hw/usb/dev-hid.c; 63 bytes)."""
QEMU_TABLET: Final = QEMU_TABLET_REPORT_DESCRIPTOR
"""QEMU's usb-tablet (hw/usb/dev-hid.c, five buttons; 74 bytes)."""
LOGITECH_M105: Final = LOGITECH_M105_REPORT_DESCRIPTOR
"""A real Logitech M105 (046d:c077; 46 bytes)."""

MI_DONGLE_MOUSE: Final = bytes((
    0x05, 0x01,        # Usage Page (Generic Desktop)
    0x09, 0x02,        # Usage (Mouse)
    0xA1, 0x01,        # Collection (Application)
    0x85, 0x01,        #   Report ID (1)
    0x09, 0x01,        #   Usage (Pointer)
    0xA1, 0x00,        #   Collection (Physical)
    0x95, 0x05,        #     Report Count (5)
    0x75, 0x01,        #     Report Size (1)
    0x05, 0x09,        #     Usage Page (Button)
    0x19, 0x01,        #     Usage Minimum (1)
    0x29, 0x05,        #     Usage Maximum (5)
    0x15, 0x00,        #     Logical Minimum (0)
    0x25, 0x01,        #     Logical Maximum (1)
    0x81, 0x02,        #     Input (Data, Variable, Absolute)
    0x95, 0x01,        #     Report Count (1)
    0x75, 0x03,        #     Report Size (3)
    0x81, 0x01,        #     Input (Constant)
    0x75, 0x08,        #     Report Size (8)
    0x95, 0x01,        #     Report Count (1)
    0x05, 0x01,        #     Usage Page (Generic Desktop)
    0x09, 0x38,        #     Usage (Wheel)
    0x15, 0x81,        #     Logical Minimum (-127)
    0x25, 0x7F,        #     Logical Maximum (127)
    0x81, 0x06,        #     Input (Data, Variable, Relative)
    0x05, 0x0C,        #     Usage Page (Consumer)
    0x0A, 0x38, 0x02,  #     Usage (AC Pan)
    0x95, 0x01,        #     Report Count (1)
    0x81, 0x06,        #     Input (Data, Variable, Relative)
    0xC0,              #   End Collection
    0x85, 0x02,        #   Report ID (2)
    0x09, 0x01,        #   Usage (Consumer Control)
    0xA1, 0x00,        #   Collection (Physical)
    0x75, 0x0C,        #     Report Size (12)
    0x95, 0x02,        #     Report Count (2)
    0x05, 0x01,        #     Usage Page (Generic Desktop)
    0x09, 0x30,        #     Usage (X)
    0x09, 0x31,        #     Usage (Y)
    0x16, 0x01, 0xF8,  #     Logical Minimum (-2047)
    0x26, 0xFF, 0x07,  #     Logical Maximum (2047)
    0x81, 0x06,        #     Input (Data, Variable, Relative)
    0xC0,              #   End Collection
    0xC0,              # End Collection
    0x05, 0x0C,        # Usage Page (Consumer)
    0x09, 0x01,        # Usage (Consumer Control)
    0xA1, 0x01,        # Collection (Application)
    0x85, 0x03,        #   Report ID (3)
    0x15, 0x00,        #   Logical Minimum (0)
    0x25, 0x01,        #   Logical Maximum (1)
    0x75, 0x01,        #   Report Size (1)
    0x95, 0x01,        #   Report Count (1)
    0x09, 0xCD,        #   Usage (Play/Pause)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0x0A, 0x83, 0x01,  #   Usage (AL Consumer Control Config)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0x09, 0xB5,        #   Usage (Scan Next Track)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0x09, 0xB6,        #   Usage (Scan Previous Track)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0x09, 0xEA,        #   Usage (Volume Down)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0x09, 0xE9,        #   Usage (Volume Up)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0x0A, 0x25, 0x02,  #   Usage (AC Forward)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0x0A, 0x24, 0x02,  #   Usage (AC Back)
    0x81, 0x06,        #   Input (Data, Variable, Relative)
    0xC0,              # End Collection
))
"""A real MI Dongle MI Wireless Mouse (2717:003b; Linux's selftests
tools/testing/selftests/hid/tests/test_mouse.py): three numbered reports, 12-bit signed
axes, 16-bit consumer usages."""

VENDOR_DEVICE: Final = bytes((
    0x06, 0x00, 0xFF,  # Usage Page (Vendor Defined 0xFF00)
    0x09, 0x01,        # Usage (1)
    0xA1, 0x01,        # Collection (Application)
    0x85, 0x01,        #   Report ID (1)
    0x15, 0x00,        #   Logical Minimum (0)
    0x26, 0xFF, 0x00,  #   Logical Maximum (255)
    0x75, 0x08,        #   Report Size (8)
    0x95, 0x04,        #   Report Count (4)
    0x09, 0x02,        #   Usage (2)
    0x81, 0x02,        #   Input (Data, Variable, Absolute)
    0x09, 0x03,        #   Usage (3)
    0x91, 0x02,        #   Output (Data, Variable, Absolute)
    0x85, 0x02,        #   Report ID (2)
    0x95, 0x02,        #   Report Count (2)
    0x09, 0x04,        #   Usage (4)
    0xB1, 0x02,        #   Feature (Data, Variable, Absolute)
    0xC0,              # End Collection
))
"""A vendor-defined device: numbered input, output and feature reports."""


@dataclass
class FakeTransport:
    """A transport without USB: `ll()` gives `HidLlDriver` hooks that record each call in
    `calls` ("start", "open", ...), raw requests in `raw_requests` (report number, the
    bytes sent, length, type, request), interrupt output reports in `outputs`.  GET_REPORT
    answers come from `answers` (by report type and number); the `*_error` results fail
    the hooks; `output_report=False` leaves that hook out (-ENOSYS)."""

    rdesc: bytes
    output_report: bool = True
    parse_error: int = 0
    start_error: int = 0
    open_error: int = 0
    calls: list[str] = field(default_factory=list)
    raw_requests: list[tuple[int, bytes, int, ReportType, HidRequest]] = field(
        default_factory=list)
    outputs: list[bytes] = field(default_factory=list)
    answers: dict[tuple[ReportType, int], bytes] = field(default_factory=dict)

    async def start(self, hid: HidDevice) -> int:
        self.calls.append("start")
        return self.start_error

    async def stop(self, hid: HidDevice) -> None:
        self.calls.append("stop")

    async def open(self, hid: HidDevice) -> int:
        self.calls.append("open")
        return self.open_error

    async def close(self, hid: HidDevice) -> None:
        self.calls.append("close")

    async def parse(self, hid: HidDevice) -> int:
        self.calls.append("parse")
        if self.parse_error:
            return self.parse_error
        return hid_parse_report(hid, self.rdesc)

    async def power(self, hid: HidDevice, level: int) -> int:
        self.calls.append(f"power {level:#x}")
        return 0

    async def raw_request(self, hid: HidDevice, reportnum: int, buf: bytearray, length: int,
                          rtype: ReportType, reqtype: HidRequest) -> int:
        self.raw_requests.append((reportnum, bytes(buf[:length]), length, rtype, reqtype))
        if reqtype == HidRequest.GET_REPORT:
            answer = self.answers.get((rtype, reportnum), b"")
            buf[:len(answer)] = answer
            return len(answer)
        return length

    async def send_output(self, hid: HidDevice, data: bytes) -> int:
        self.outputs.append(data)
        return len(data)

    def ll(self) -> HidLlDriver:
        return HidLlDriver(start=self.start, stop=self.stop, open=self.open, close=self.close,
                           parse=self.parse, raw_request=self.raw_request, power=self.power,
                           output_report=self.send_output if self.output_report else None)


@dataclass
class FakeHidInput:
    """hid-input's part as the core sees it: `connect` claims a device (unless `refuse`),
    each value the core hands it is recorded in `events` as (usage, value) and each report
    in `reports` as its id.  `priorities` (usage → priority) are set on the fields at
    connect, as hid-input sets them."""

    refuse: bool = False
    priorities: dict[int, int] = field(default_factory=dict)
    connected: list[str] = field(default_factory=list)
    events: list[tuple[int, int]] = field(default_factory=list)
    reports: list[int] = field(default_factory=list)

    async def connect(self, hid: HidDevice, force: int) -> int:
        if self.refuse:
            return -1
        for report in hid.report_enum[ReportType.INPUT].report_list:
            for fld in report.field:
                for index, usage in enumerate(fld.usage):
                    fld.usages_priorities[index] = self.priorities.get(usage.hid, 0)
        self.connected.append(hid.name)
        return 0

    async def disconnect(self, hid: HidDevice) -> None:
        self.connected.remove(hid.name)

    def hid_event(self, hid: HidDevice, fld: HidField, usage: HidUsage, value: int) -> None:
        self.events.append((usage.hid, value))

    def report_event(self, hid: HidDevice, report: HidReport) -> None:
        self.reports.append(report.id)

    def ops(self) -> HidInputOps:
        return HidInputOps(self.connect, self.disconnect, self.hid_event, self.report_event)

    def install(self, system: System) -> HidCore:
        """Make this the machine's hid-input; returns the HID core."""
        core = hid_core_of(system.usb)
        core.hidinput = self.ops()
        return core


async def add_device(rdesc: bytes, *, transport: FakeTransport | None = None,
                     vendor: int = 0x0627, product: int = 0x0001, version: int = 0x0111,
                     bustype: int = BUS_USB, name: str = "QEMU QEMU USB Mouse",
                     phys: str = "usb-0000:00:1d.7-1/input0", uniq: str = "",
                     country: int = 0) -> tuple[HidDevice, FakeTransport, int]:
    """What a transport's probe does: allocate, fill in, hid_add_device.  Returns the
    device, its transport and hid_add_device's result.  Run it on the machine."""
    transport = transport or FakeTransport(rdesc)
    hid = hid_allocate_device()
    hid.ll_driver = transport.ll()
    hid.bustype, hid.vendor, hid.product, hid.version = bustype, vendor, product, version
    hid.hid_name, hid.phys, hid.uniq, hid.country = name, phys, uniq, country
    ret = await hid_add_device(hid)
    return hid, transport, ret
