"""The HID core — counterpart of drivers/hid/hid-core.c and of the structures of
include/linux/hid.h.

It parses a report descriptor into reports and fields (`hid_open_report`, with hid-core's
limits and messages for descriptors that lie: "item fetching failed at offset %u/%u",
"unbalanced collection at end of report description", "invalid report_size %d", "report
is too long", push/pop overflow …), scans it for the device's group before the device is
added (`hid_scan_report`), turns the reports a transport delivers into field values and
events (`hid_input_report` → hid_report_raw_event → hidraw, the hid driver's hooks and
hid-input), builds output reports (`hid_set_field`, `hid_output_report`), and runs the
"hid" bus: devices named BBBB:VVVV:PPPP.NNNN (NNNN counts across the machine), their sysfs
files (report_descriptor, modalias, country while connected) and uevents (HID_ID,
HID_NAME, HID_PHYS, HID_UNIQ, MODALIAS), driver matching by `HidDeviceId` tables and
groups, probe and remove, hid_hw_start → hid_connect with its "input,hidraw0: USB HID
v1.11 Mouse [...] on ..." line.  A transport (usbhid) fills a `HidDevice` from
`hid_allocate_device`, gives it its `HidLlDriver` hooks and calls `hid_add_device`.

hid-input and hidraw are reached through the machine's `HidCore`: `hidinput` (a
`HidInputOps`, set when the hid module starts) and `hidraw` (drivers/hid/hidraw.py).
Not modelled: hiddev, hid-debug (debugfs), HID-BPF, the quirk tables (a device's quirks
are its `initial_quirks`), dynamic ids (new_id), battery and force-feedback hooks.  Field
sizes above 32 bits yield their low 32 bits as a 32-bit value (Linux's shifts are
undefined there).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Any, Final

from ...core.file import usb_files_of
from ...core.usbcore import UsbCore, current_usbcore
from ...errors import Errno
from ...kernel.device import BusType, Device, Driver
from ...kernel.module import module_driver
from ...kernel.printk import Level, Printk
from ...kernel.sysfs import (
    DEVICE_ATTRS,
    SysAttr,
    Sysfs,
    attr_group,
    device_create_file,
    device_path,
    device_remove_file,
    ro,
    sysfs_of,
)
from ...kernel.vfs import Node
from ...kernel.weak import WeakTable
from ...spec.hid import HidRequest

if TYPE_CHECKING:
    from .hidraw import Hidraw, HidrawCore

__all__ = [
    "BUS_AMD_SFH",
    "BUS_BLUETOOTH",
    "BUS_I2C",
    "BUS_INTEL_ISHTP",
    "BUS_USB",
    "BUS_VIRTUAL",
    "COUNTRY_ATTR",
    "HID_ANY_ID",
    "HID_BUS_ANY",
    "HID_DEFAULT_NUM_COLLECTIONS",
    "HID_DEV_ATTRS",
    "HID_DG_CONTACTID",
    "HID_FEATURE_REPORT",
    "HID_GD_JOYSTICK",
    "HID_GD_KEYBOARD",
    "HID_GD_MOUSE",
    "HID_GD_POINTER",
    "HID_GD_RESOLUTION_MULTIPLIER",
    "HID_GLOBAL_STACK_SIZE",
    "HID_GROUP_ANY",
    "HID_GROUP_GENERIC",
    "HID_GROUP_LOGITECH_27MHZ_DEVICE",
    "HID_GROUP_LOGITECH_DJ_DEVICE",
    "HID_GROUP_MULTITOUCH",
    "HID_GROUP_MULTITOUCH_WIN_8",
    "HID_GROUP_RMI",
    "HID_GROUP_SENSOR_HUB",
    "HID_GROUP_STEAM",
    "HID_GROUP_VIVALDI",
    "HID_GROUP_WACOM",
    "HID_INPUT_REPORT",
    "HID_ITEM_FORMAT_LONG",
    "HID_ITEM_FORMAT_SHORT",
    "HID_ITEM_TAG_LONG",
    "HID_MAX_BUFFER_SIZE",
    "HID_MAX_DESCRIPTOR_SIZE",
    "HID_MAX_FIELDS",
    "HID_MAX_IDS",
    "HID_MAX_USAGES",
    "HID_MIN_BUFFER_SIZE",
    "HID_OUTPUT_REPORT",
    "HID_REPORT_TYPES",
    "HID_TERMINATOR",
    "HID_UP_BUTTON",
    "HID_UP_CONSUMER",
    "HID_UP_DIGITIZER",
    "HID_UP_GENDESK",
    "HID_UP_GOOGLEVENDOR",
    "HID_UP_KEYBOARD",
    "HID_UP_LED",
    "HID_UP_MSVENDOR",
    "HID_UP_SENSOR",
    "HID_USAGE",
    "HID_USAGE_PAGE",
    "PM_HINT_FULLON",
    "PM_HINT_NORMAL",
    "USB_DEVICE_ID_MS_POWER_COVER",
    "USB_VENDOR_ID_MICROSOFT",
    "USB_VENDOR_ID_SYNAPTICS",
    "USB_VENDOR_ID_WACOM",
    "CollectionType",
    "GlobalTag",
    "HidBusType",
    "HidClaimed",
    "HidCollection",
    "HidConnect",
    "HidCore",
    "HidDevice",
    "HidDeviceId",
    "HidDriver",
    "HidField",
    "HidFieldEntry",
    "HidInputOps",
    "HidItem",
    "HidLlDriver",
    "HidQuirk",
    "HidReport",
    "HidReportEnum",
    "HidReportId",
    "HidStat",
    "HidUsage",
    "HidUsageId",
    "ItemType",
    "LocalTag",
    "MainItemFlag",
    "MainTag",
    "ReportType",
    "__hid_request",
    "current_hid_core",
    "fetch_item",
    "hid_add_device",
    "hid_alloc_report_buf",
    "hid_allocate_device",
    "hid_close_report",
    "hid_compare_device_paths",
    "hid_compute_report_size",
    "hid_connect",
    "hid_core_of",
    "hid_destroy_device",
    "hid_device",
    "hid_device_io_start",
    "hid_device_io_stop",
    "hid_device_probe",
    "hid_device_remove",
    "hid_disconnect",
    "hid_err",
    "hid_field_extract",
    "hid_get_drvdata",
    "hid_hw_close",
    "hid_hw_idle",
    "hid_hw_open",
    "hid_hw_output_report",
    "hid_hw_power",
    "hid_hw_raw_request",
    "hid_hw_request",
    "hid_hw_start",
    "hid_hw_stop",
    "hid_hw_wait",
    "hid_ignore",
    "hid_info",
    "hid_input_report",
    "hid_lookup_quirk",
    "hid_match_device",
    "hid_match_id",
    "hid_match_one_id",
    "hid_open_report",
    "hid_output_report",
    "hid_parse",
    "hid_parse_report",
    "hid_register_driver",
    "hid_register_report",
    "hid_report_len",
    "hid_report_raw_event",
    "hid_scan_report",
    "hid_set_drvdata",
    "hid_set_field",
    "hid_setup_resolution_multiplier",
    "hid_snto32",
    "hid_uevent",
    "hid_unregister_driver",
    "hid_usb_device",
    "hid_validate_values",
    "hid_warn",
    "item_sdata",
    "item_udata",
    "module_hid_driver",
]

# -- limits and constants (include/linux/hid.h, mod_devicetable.h, uapi/linux/input.h) ------------

HID_MAX_DESCRIPTOR_SIZE: Final = 4096
HID_MAX_USAGES: Final = 12288
HID_DEFAULT_NUM_COLLECTIONS: Final = 16
HID_MAX_FIELDS: Final = 256
HID_MAX_IDS: Final = 256
HID_MIN_BUFFER_SIZE: Final = 64
HID_MAX_BUFFER_SIZE: Final = 16384
HID_GLOBAL_STACK_SIZE: Final = 4
HID_REPORT_TYPES: Final = 3

HID_ITEM_FORMAT_SHORT: Final = 0
HID_ITEM_FORMAT_LONG: Final = 1
HID_ITEM_TAG_LONG: Final = 15

#: hid_device_id wildcards.
HID_BUS_ANY: Final = 0xFFFF
HID_GROUP_ANY: Final = 0x0000
HID_ANY_ID: Final = 0xFFFFFFFF
HID_TERMINATOR: Final = HID_ANY_ID - 1

#: Device groups (the `g` of a hid modalias).
HID_GROUP_GENERIC: Final = 0x0001
HID_GROUP_MULTITOUCH: Final = 0x0002
HID_GROUP_SENSOR_HUB: Final = 0x0003
HID_GROUP_MULTITOUCH_WIN_8: Final = 0x0004
HID_GROUP_RMI: Final = 0x0100
HID_GROUP_WACOM: Final = 0x0101
HID_GROUP_LOGITECH_DJ_DEVICE: Final = 0x0102
HID_GROUP_STEAM: Final = 0x0103
HID_GROUP_LOGITECH_27MHZ_DEVICE: Final = 0x0104
HID_GROUP_VIVALDI: Final = 0x0105

#: Bus types (struct input_id.bustype) a HID device can sit on.
BUS_USB: Final = 0x03
BUS_BLUETOOTH: Final = 0x05
BUS_VIRTUAL: Final = 0x06
BUS_I2C: Final = 0x18
BUS_INTEL_ISHTP: Final = 0x1F
BUS_AMD_SFH: Final = 0x20

#: hid_connect()'s name of each bus; others are "<UNKNOWN>".
_BUS_NAMES: Final = {BUS_USB: "USB", BUS_BLUETOOTH: "BLUETOOTH", BUS_I2C: "I2C",
                     BUS_VIRTUAL: "VIRTUAL", BUS_INTEL_ISHTP: "SENSOR HUB",
                     BUS_AMD_SFH: "SENSOR HUB"}
#: hid_connect()'s device type, by the usage of the first Generic Desktop application.
_CONNECT_TYPES: Final = ("Device", "Pointer", "Mouse", "Device", "Joystick", "Gamepad",
                         "Keyboard", "Keypad", "Multi-Axis Controller")

# Usage pages and usages (HID Usage Tables; hid.h HID_UP_*, HID_GD_*, HID_DG_*).
HID_USAGE_PAGE: Final = 0xFFFF0000
HID_USAGE: Final = 0x0000FFFF
HID_UP_GENDESK: Final = 0x00010000
HID_UP_KEYBOARD: Final = 0x00070000
HID_UP_LED: Final = 0x00080000
HID_UP_BUTTON: Final = 0x00090000
HID_UP_CONSUMER: Final = 0x000C0000
HID_UP_DIGITIZER: Final = 0x000D0000
HID_UP_SENSOR: Final = 0x00200000
HID_UP_MSVENDOR: Final = 0xFF000000
HID_UP_GOOGLEVENDOR: Final = 0xFFD10000
HID_GD_POINTER: Final = 0x00010001
HID_GD_MOUSE: Final = 0x00010002
HID_GD_JOYSTICK: Final = 0x00010004
HID_GD_KEYBOARD: Final = 0x00010006
HID_GD_RESOLUTION_MULTIPLIER: Final = 0x00010048
HID_DG_CONTACTID: Final = 0x000D0051

# Vendors and products hid_scan_report() treats specially (hid-ids.h).
USB_VENDOR_ID_MICROSOFT: Final = 0x045E
USB_DEVICE_ID_MS_POWER_COVER: Final = 0x07DA
USB_VENDOR_ID_WACOM: Final = 0x056A
USB_VENDOR_ID_SYNAPTICS: Final = 0x06CB

_U32: Final = 0xFFFFFFFF


class ReportType(IntEnum):
    """enum hid_report_type (one less than the wire value of GET/SET_REPORT)."""

    INPUT = 0
    OUTPUT = 1
    FEATURE = 2


HID_INPUT_REPORT: Final = ReportType.INPUT
HID_OUTPUT_REPORT: Final = ReportType.OUTPUT
HID_FEATURE_REPORT: Final = ReportType.FEATURE
_REPORT_NAMES: Final = ("HID_INPUT_REPORT", "HID_OUTPUT_REPORT", "HID_FEATURE_REPORT")


class ItemType(IntEnum):
    """Item type, bits 2–3 of the prefix (HID 1.11 §6.2.2.2)."""

    MAIN = 0
    GLOBAL = 1
    LOCAL = 2
    RESERVED = 3


class MainTag(IntEnum):
    """Main item tags (HID_MAIN_ITEM_TAG_*)."""

    INPUT = 8
    OUTPUT = 9
    BEGIN_COLLECTION = 10
    FEATURE = 11
    END_COLLECTION = 12


class GlobalTag(IntEnum):
    """Global item tags (HID_GLOBAL_ITEM_TAG_*)."""

    USAGE_PAGE = 0
    LOGICAL_MINIMUM = 1
    LOGICAL_MAXIMUM = 2
    PHYSICAL_MINIMUM = 3
    PHYSICAL_MAXIMUM = 4
    UNIT_EXPONENT = 5
    UNIT = 6
    REPORT_SIZE = 7
    REPORT_ID = 8
    REPORT_COUNT = 9
    PUSH = 10
    POP = 11


class LocalTag(IntEnum):
    """Local item tags (HID_LOCAL_ITEM_TAG_*)."""

    USAGE = 0
    USAGE_MINIMUM = 1
    USAGE_MAXIMUM = 2
    DESIGNATOR_INDEX = 3
    DESIGNATOR_MINIMUM = 4
    DESIGNATOR_MAXIMUM = 5
    STRING_INDEX = 7
    STRING_MINIMUM = 8
    STRING_MAXIMUM = 9
    DELIMITER = 10


class MainItemFlag(IntFlag):
    """The data bits of an Input, Output or Feature item (HID_MAIN_ITEM_*)."""

    CONSTANT = 0x001
    VARIABLE = 0x002
    RELATIVE = 0x004
    WRAP = 0x008
    NONLINEAR = 0x010
    NO_PREFERRED = 0x020
    NULL_STATE = 0x040
    VOLATILE = 0x080
    BUFFERED_BYTE = 0x100


class CollectionType(IntEnum):
    """Collection types (HID_COLLECTION_*); a descriptor may use other values."""

    PHYSICAL = 0
    APPLICATION = 1
    LOGICAL = 2
    NAMED_ARRAY = 4


class HidConnect(IntFlag):
    """What hid_hw_start() connects (HID_CONNECT_*)."""

    HIDINPUT = 0x01
    HIDINPUT_FORCE = 0x02
    HIDRAW = 0x04
    HIDDEV = 0x08
    HIDDEV_FORCE = 0x10
    FF = 0x20
    DRIVER = 0x40
    DEFAULT = HIDINPUT | HIDRAW | HIDDEV | FF


class HidClaimed(IntFlag):
    """Who listens to a device's reports (HID_CLAIMED_*)."""

    INPUT = 0x1
    HIDDEV = 0x2
    HIDRAW = 0x4
    DRIVER = 0x8


class HidStat(IntFlag):
    """hid_device.status bits (HID_STAT_*)."""

    ADDED = 0x1
    PARSED = 0x2
    DUP_DETECTED = 0x4
    REPROBED = 0x8


class HidQuirk(IntFlag):
    """Device quirks (HID_QUIRK_*)."""

    NOTOUCH = 1 << 1
    IGNORE = 1 << 2
    NOGET = 1 << 3
    HIDDEV_FORCE = 1 << 4
    BADPAD = 1 << 5
    MULTI_INPUT = 1 << 6
    HIDINPUT_FORCE = 1 << 7
    ALWAYS_POLL = 1 << 10
    INPUT_PER_APP = 1 << 11
    X_INVERT = 1 << 12
    Y_INVERT = 1 << 13
    SKIP_OUTPUT_REPORTS = 1 << 16
    SKIP_OUTPUT_REPORT_ID = 1 << 17
    NO_OUTPUT_REPORTS_ON_INTR_EP = 1 << 18
    HAVE_SPECIAL_DRIVER = 1 << 19
    INCREMENT_USAGE_ON_DUPLICATE = 1 << 20
    FULLSPEED_INTERVAL = 1 << 28
    NO_INIT_REPORTS = 1 << 29
    NO_IGNORE = 1 << 30
    NO_INPUT_SYNC = 1 << 31


class _ScanFlag(IntFlag):
    """HID_SCAN_FLAG_*: what hid_scan_report() noticed."""

    MT_WIN_8 = 0x1
    VENDOR_SPECIFIC = 0x2
    GD_POINTER = 0x4


#: hid_hw_power() levels.
PM_HINT_FULLON: Final = 1 << 5
PM_HINT_NORMAL: Final = 1 << 1


# -- integers as C sees them -----------------------------------------------------------------------


def _s32(value: int) -> int:
    """`value` stored in an s32."""
    value &= _U32
    return value - (1 << 32) if value & 0x80000000 else value


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def hid_snto32(value: int, n: int) -> int:
    """hid_snto32(): the n-bit two's-complement `value` as a signed 32-bit integer (0 for
    value or n 0; n above 32 counts as 32).  Context: atomic."""
    value &= _U32
    if not value or not n:
        return 0
    if n >= 32:
        return _s32(value)
    if value & (1 << (n - 1)):
        return _s32(value | (_U32 << n))
    return value


def _s32ton(value: int, n: int) -> int:
    """s32ton(): a signed value in n bits, saturated to the n-bit range."""
    if n >= 32:
        return value & _U32
    a = value >> (n - 1)
    if a not in (0, -1):
        return 1 << (n - 1) if value < 0 else (1 << (n - 1)) - 1
    return value & ((1 << n) - 1)


# -- the structures (include/linux/hid.h) ----------------------------------------------------------


@dataclass(slots=True)
class HidItem:
    """struct hid_item: one item of a report descriptor.  `data` is the short item's value
    as read (unsigned, `size` bytes: 0, 1, 2 or 4); a long item has `longdata`."""

    format: int
    size: int
    type: int
    tag: int
    data: int = 0
    longdata: bytes = b""


def item_udata(item: HidItem) -> int:
    """item_udata(): the data as an unsigned value of the item's size (0 unless 1, 2 or 4
    bytes).  Context: atomic."""
    return item.data if item.size in (1, 2, 4) else 0


def item_sdata(item: HidItem) -> int:
    """item_sdata(): the data sign-extended from the item's size.  Context: atomic."""
    if item.size not in (1, 2, 4):
        return 0
    bits = item.size * 8
    return item.data - (1 << bits) if item.data >> (bits - 1) else item.data


def fetch_item(rdesc: bytes | bytearray | memoryview, start: int) -> tuple[HidItem, int] | None:
    """fetch_item(): the item at offset `start` and the offset after it, or None when no
    whole item is left there.  A long item's data is `longdata`.  Context: atomic."""
    end = len(rdesc)
    if end - start <= 0:
        return None
    b = rdesc[start]
    start += 1
    type_, tag = (b >> 2) & 3, (b >> 4) & 15
    if tag == HID_ITEM_TAG_LONG:
        if end - start < 2:
            return None
        size, tag = rdesc[start], rdesc[start + 1]
        start += 2
        if end - start < size:
            return None
        return (HidItem(HID_ITEM_FORMAT_LONG, size, type_, tag,
                        longdata=bytes(rdesc[start:start + size])), start + size)
    size = (b & 3) if b & 3 != 3 else 4
    if end - start < size:
        return None
    data = int.from_bytes(rdesc[start:start + size], "little")
    return HidItem(HID_ITEM_FORMAT_SHORT, size, type_, tag, data), start + size


@dataclass(slots=True)
class HidCollection:
    """struct hid_collection: index of the parent in hid.collection (-1 at the top),
    type, usage and nesting level."""

    parent_idx: int
    type: int
    usage: int
    level: int


class HidUsage:
    """struct hid_usage: the 32-bit usage (page << 16 | id), the collection it was
    declared in and its index in the field; hid-input fills `type`, `code` and the rest."""

    __slots__ = ("code", "collection_index", "hat_dir", "hat_max", "hat_min", "hid",
                 "resolution_multiplier", "type", "usage_index", "wheel_accumulated",
                 "wheel_factor")

    def __init__(self, hid: int, collection_index: int, usage_index: int) -> None:
        self.hid = hid
        self.collection_index = collection_index
        self.usage_index = usage_index
        self.resolution_multiplier = 1
        self.wheel_factor = 0
        self.code = 0
        self.type = 0
        self.hat_min = 0
        self.hat_max = 0
        self.hat_dir = 0
        self.wheel_accumulated = 0

    def __repr__(self) -> str:
        return f"<HidUsage {self.hid:#010x}>"


class HidField:
    """struct hid_field: `report_count` values of `report_size` bits at bit
    `report_offset` of a report, with their usages (`usage`, at least report_count of
    them), logical and physical ranges, unit, main-item `flags` (MainItemFlag), the
    collections it sits in, and the last values seen (`value`)."""

    def __init__(self, report: HidReport, index: int, usages: int) -> None:
        self.report = report
        self.index = index
        self.physical = 0
        self.logical = 0
        self.application = 0
        self.usage: list[HidUsage] = []
        self.flags = 0
        self.report_offset = 0
        self.report_size = 0
        self.report_count = 0
        self.report_type = report.type
        self.value = [0] * usages
        self.new_value = [0] * usages
        #: Priority of each usage when a report is processed (hid-input sets them).
        self.usages_priorities = [0] * usages
        self.logical_minimum = 0
        self.logical_maximum = 0
        self.physical_minimum = 0
        self.physical_maximum = 0
        self.unit_exponent = 0
        self.unit = 0
        self.ignored = False
        #: hid-input's data: the hid_input this field feeds, the dpad code, the slot.
        self.hidinput: Any = None
        self.dpad = 0
        self.slot_idx = 0

    def __repr__(self) -> str:
        return (f"<HidField {ReportType(self.report_type).name} id={self.report.id} "
                f"#{self.index} {self.report_count}x{self.report_size} "
                f"@{self.report_offset}>")

    @property
    def maxusage(self) -> int:
        """The number of usages (field->maxusage)."""
        return len(self.usage)


@dataclass(slots=True)
class HidFieldEntry:
    """struct hid_field_entry: one variable usage (or a whole array field) in the order
    an input report is processed."""

    field: HidField
    index: int
    priority: int


class HidReport:
    """struct hid_report: report `id` of one `type`, its `field`s and its `size` in bits
    (without the report id byte); `application` is the usage of the application
    collection its first field was declared in."""

    def __init__(self, device: HidDevice, type_: ReportType, id_: int,
                 application: int) -> None:
        self.device = device
        self.type = type_
        self.id = id_
        self.application = application
        self.field: list[HidField] = []
        self.field_entry_list: list[HidFieldEntry] = []
        self.size = 0
        #: hid-input's state of a tablet tool.
        self.tool_active = False
        self.tool = 0

    def __repr__(self) -> str:
        return (f"<HidReport {self.type.name} id={self.id} {self.size} bits "
                f"{len(self.field)} fields>")

    @property
    def maxfield(self) -> int:
        return len(self.field)


@dataclass
class HidReportEnum:
    """struct hid_report_enum: the reports of one type, by id and in order; `numbered`
    when any has an id (reports then start with it)."""

    numbered: bool = False
    report_list: list[HidReport] = field(default_factory=list)
    report_id_hash: dict[int, HidReport] = field(default_factory=dict)


@dataclass(frozen=True)
class HidDeviceId:
    """struct hid_device_id: bus, group, vendor and product (HID_BUS_ANY, HID_GROUP_ANY,
    HID_ANY_ID match anything); an entry with bus 0 ends a table."""

    bus: int = 0
    group: int = HID_GROUP_ANY
    vendor: int = 0
    product: int = 0
    driver_data: object = 0


def hid_device(bus: int, group: int, vendor: int, product: int,
               driver_data: object = 0) -> HidDeviceId:
    """HID_DEVICE(bus, group, vendor, product).  Context: atomic."""
    return HidDeviceId(bus, group, vendor, product, driver_data)


def hid_usb_device(vendor: int, product: int, driver_data: object = 0) -> HidDeviceId:
    """HID_USB_DEVICE(vendor, product): BUS_USB, any group.  Context: atomic."""
    return HidDeviceId(BUS_USB, HID_GROUP_ANY, vendor, product, driver_data)


@dataclass(frozen=True)
class HidReportId:
    """struct hid_report_id: a report type whose reports a driver's raw_event sees
    (HID_ANY_ID: all; HID_TERMINATOR ends a table)."""

    report_type: int


@dataclass(frozen=True)
class HidUsageId:
    """struct hid_usage_id: the usages a driver's event sees (HID_ANY_ID fields match
    anything; usage_type HID_TERMINATOR ends a table)."""

    usage_hid: int
    usage_type: int
    usage_code: int


@dataclass(frozen=True)
class HidLlDriver:
    """struct hid_ll_driver: the hooks of a transport (usbhid, ...).

    - `start(hid)`, `stop(hid)`: at hid_hw_start / hid_hw_stop (0 or -errno; may sleep);
    - `open(hid)`, `close(hid)`: first user opens / last user closes (hid_hw_open/close);
    - `parse(hid)`: read the report descriptor and hand it to `hid_parse_report`;
    - `raw_request(hid, reportnum, buf, len, rtype, reqtype)`: GET_REPORT fills `buf`,
      SET_REPORT sends its first `len` bytes; returns the byte count or -errno
      (mandatory: hid_add_device refuses a transport without it);
    - `output_report(hid, data)`: send an output report on the interrupt channel
      (count or -errno);
    - `request(hid, report, reqtype)`: queue a GET/SET_REPORT of a parsed report (atomic);
    - `power`, `wait`, `idle`, `may_wakeup`: as Linux's; `max_buffer_size` overrides
      HID_MAX_BUFFER_SIZE.

    Every hook but `request` and `may_wakeup` may sleep."""

    start: Callable[[HidDevice], Awaitable[int]]
    stop: Callable[[HidDevice], Awaitable[None]]
    open: Callable[[HidDevice], Awaitable[int]]
    close: Callable[[HidDevice], Awaitable[None]]
    parse: Callable[[HidDevice], Awaitable[int]]
    raw_request: Callable[[HidDevice, int, bytearray, int, ReportType, HidRequest],
                          Awaitable[int]] | None = None
    output_report: Callable[[HidDevice, bytes], Awaitable[int]] | None = None
    request: Callable[[HidDevice, HidReport, HidRequest], None] | None = None
    power: Callable[[HidDevice, int], Awaitable[int]] | None = None
    wait: Callable[[HidDevice], Awaitable[int]] | None = None
    idle: Callable[[HidDevice, int, int, HidRequest], Awaitable[int]] | None = None
    may_wakeup: Callable[[HidDevice], bool] | None = None
    max_buffer_size: int = 0


@dataclass(frozen=True)
class HidInputOps:
    """hid-input as hid-core calls it (hidinput_connect, hidinput_disconnect,
    hidinput_hid_event, hidinput_report_event): `connect(hid, force)` returns 0 when it
    claims the device (may sleep), `disconnect(hid)` may sleep, `hid_event(hid, field,
    usage, value)` and `report_event(hid, report)` are atomic."""

    connect: Callable[[HidDevice, int], Awaitable[int]]
    disconnect: Callable[[HidDevice], Awaitable[None]]
    hid_event: Callable[[HidDevice, HidField, HidUsage, int], None]
    report_event: Callable[[HidDevice, HidReport], None]


class HidDriver(Driver):
    """struct hid_driver: a driver on the hid bus.

    `id_table` lists the devices it takes (`HidDeviceId`); `match(hid,
    ignore_special_driver)` may refuse one of them; `probe(hid, id)` (may sleep; 0 or
    -errno; None means 0) defaults to hid_parse + hid_hw_start(HID_CONNECT_DEFAULT), and
    `remove(hid)` (may sleep) to hid_hw_stop.  The atomic hooks: `raw_event(hid, report,
    data, size)` sees each report of a type in `report_table` before it is parsed (a
    negative result drops it), `event(hid, field, usage, value)` each value of a usage in
    `usage_table` (nonzero: consumed), `report(hid, report)` each parsed report;
    `report_fixup(hid, rdesc)` returns the descriptor to parse.  hid-input calls
    `input_mapping`, `input_mapped`, `input_configured` and `feature_mapping`."""

    def __init__(self, name: str, id_table: Sequence[HidDeviceId] = (), *,
                 match: Callable[[HidDevice, bool], bool] | None = None,
                 probe: Callable[[HidDevice, HidDeviceId], Awaitable[int | None]] | None = None,
                 remove: Callable[[HidDevice], Awaitable[None]] | None = None,
                 report_table: Sequence[HidReportId] | None = None,
                 raw_event: Callable[[HidDevice, HidReport, bytes, int], int] | None = None,
                 usage_table: Sequence[HidUsageId] | None = None,
                 event: Callable[[HidDevice, HidField, HidUsage, int], int] | None = None,
                 report: Callable[[HidDevice, HidReport], None] | None = None,
                 report_fixup: Callable[[HidDevice, bytes], bytes] | None = None,
                 input_mapping: Callable[..., int] | None = None,
                 input_mapped: Callable[..., int] | None = None,
                 input_configured: Callable[..., int] | None = None,
                 feature_mapping: Callable[..., None] | None = None) -> None:
        super().__init__(name)
        self.id_table = tuple(id_table)
        self.match = match
        self.probe = probe
        self.remove = remove
        self.report_table = report_table
        self.raw_event = raw_event
        self.usage_table = usage_table
        self.event = event
        self.report = report
        self.report_fixup = report_fixup
        self.input_mapping = input_mapping
        self.input_mapped = input_mapped
        self.input_configured = input_configured
        self.feature_mapping = feature_mapping


class HidDevice(Device):
    """struct hid_device.  Mind two names: `name` is the device's name on the bus
    ("0003:0627:0001.0001", set by hid_add_device) and `bus` its bus type, as for every
    device; Linux's hdev->name, hdev->bus are `hid_name` (the product name "QEMU QEMU USB
    Mouse") and `bustype` (BUS_USB …).

    A transport sets `parent`, `ll_driver`, `bustype`, `vendor`, `product`, `version`
    (bcdHID), `country`, `hid_name`, `phys`, `uniq` (and maybe `group`,
    `initial_quirks`) before `hid_add_device`; its parse hook hands the report
    descriptor to `hid_parse_report` (`dev_rdesc`).  Parsing fills `rdesc` (what was
    parsed), `report_enum` (one `HidReportEnum` per ReportType), `collection`,
    `maxapplication`; hid_connect sets `claimed` and `hidraw`; `hidinput` is hid-input's
    hooks while it is connected and `inputs` its input devices."""

    __slots__ = ("bustype", "claimed", "collection", "core", "country", "dev_rdesc",
                 "driver_input_locked", "group", "hid_name", "hidinput", "hidraw", "id",
                 "initial_quirks", "inputs", "io_started", "ll_driver", "ll_open_count",
                 "ll_open_lock", "log", "maxapplication", "phys", "product", "quirks", "rdesc",
                 "report_enum", "status", "type", "uniq", "vendor", "version")

    def __init__(self, bus: HidBusType) -> None:
        super().__init__("", None, bus)
        self.core = bus.hid_core
        self.log: Printk = bus.core.log
        self.dev_rdesc: bytes | None = None
        self.rdesc = b""
        self.collection: list[HidCollection] = []
        self.maxapplication = 0
        self.bustype = 0
        self.group = 0
        self.vendor = 0
        self.product = 0
        self.version = 0
        self.type = 0
        self.country = 0
        self.report_enum = [HidReportEnum() for _ in range(HID_REPORT_TYPES)]
        self.ll_driver: HidLlDriver | None = None
        self.ll_open_count = 0
        self.ll_open_lock = asyncio.Lock()
        self.status = HidStat(0)
        self.claimed = HidClaimed(0)
        self.quirks = 0
        self.initial_quirks = 0
        self.io_started = False
        #: driver_input_lock: held (reports refused with -EBUSY) during probe and remove.
        self.driver_input_locked = False
        self.hid_name = ""
        self.phys = ""
        self.uniq = ""
        self.id = 0
        self.inputs: list[Any] = []
        self.hidinput: HidInputOps | None = None
        self.hidraw: Hidraw | None = None

    def __repr__(self) -> str:
        return f"<HidDevice {self.name or '(unnamed)'} {self.hid_name!r}>"

    @property
    def dev_name(self) -> str:
        """dev_name(): "(null)" until hid_add_device names the device, as printk shows
        it."""
        return self.name or "(null)"

    @property
    def rsize(self) -> int:
        return len(self.rdesc)

    @property
    def dev_rsize(self) -> int:
        return len(self.dev_rdesc or b"")

    @property
    def maxcollection(self) -> int:
        return len(self.collection)

    @property
    def hid_driver(self) -> HidDriver | None:
        """hdev->driver: the hid driver bound (or probing), or None."""
        drv = self.driver
        return drv if isinstance(drv, HidDriver) else None

    @property
    def modalias(self) -> str:
        """hid:b%04Xg%04Xv%08Xp%08X (sysfs `modalias` without its newline, MODALIAS=)."""
        return (f"hid:b{self.bustype:04X}g{self.group:04X}v{self.vendor & _U32:08X}"
                f"p{self.product & _U32:08X}")


def hid_err(hid: HidDevice, text: str) -> None:
    """hid_err(): dev_err on the hid device.  Context: atomic."""
    hid.log.dev(Level.ERR, hid, text)


def hid_warn(hid: HidDevice, text: str) -> None:
    """hid_warn(): dev_warn on the hid device.  Context: atomic."""
    hid.log.dev(Level.WARNING, hid, text)


def hid_info(hid: HidDevice, text: str) -> None:
    """hid_info(): dev_info on the hid device.  Context: atomic."""
    hid.log.dev(Level.INFO, hid, text)


def hid_get_drvdata(hid: HidDevice) -> Any:
    """hid_get_drvdata(): the driver's data.  Context: atomic."""
    return hid.driver_data


def hid_set_drvdata(hid: HidDevice, data: Any) -> None:
    """hid_set_drvdata().  Context: atomic."""
    hid.driver_data = data


# -- the parser (hid_parser, hid_global, hid_local) ------------------------------------------------


@dataclass(slots=True)
class _Global:
    """struct hid_global: the state Push saves and Pop restores."""

    usage_page: int = 0
    logical_minimum: int = 0
    logical_maximum: int = 0
    physical_minimum: int = 0
    physical_maximum: int = 0
    unit_exponent: int = 0
    unit: int = 0
    report_id: int = 0
    report_size: int = 0
    report_count: int = 0


@dataclass(slots=True)
class _Local:
    """struct hid_local: the usages collected up to the next main item."""

    usage: list[int] = field(default_factory=list)
    usage_size: list[int] = field(default_factory=list)
    collection_index: list[int] = field(default_factory=list)
    usage_minimum: int = 0
    delimiter_depth: int = 0
    delimiter_branch: int = 0


class _Parser:
    """struct hid_parser."""

    __slots__ = ("collection_stack", "device", "global_", "global_stack", "local",
                 "scan_flags")

    def __init__(self, device: HidDevice) -> None:
        self.device = device
        self.global_ = _Global()
        self.global_stack: list[_Global] = []
        self.local = _Local()
        self.collection_stack: list[int] = []
        self.scan_flags = _ScanFlag(0)

    def lookup_collection(self, type_: int) -> int:
        """hid_lookup_collection(): the usage of the innermost open collection of
        `type_`, else 0."""
        collection = self.device.collection
        for index in reversed(self.collection_stack):
            if collection[index].type == type_:
                return collection[index].usage
        return 0

    def complete_usage(self, index: int) -> None:
        """complete_usage(): the usage page joins a 16-bit usage."""
        usage = self.local.usage
        usage[index] = (usage[index] & 0xFFFF) | (self.global_.usage_page & 0xFFFF) << 16

    def add_usages(self, usages: Sequence[int], size: int) -> int:
        """hid_add_usage() for each of `usages` (one Usage, or a Usage Min/Max range):
        "usage index exceeded" and -1 once HID_MAX_USAGES are collected."""
        local = self.local
        room = HID_MAX_USAGES - len(local.usage)
        taken = usages[:max(room, 0)]
        if size <= 2:
            page = (self.global_.usage_page & 0xFFFF) << 16
            local.usage.extend((u & 0xFFFF) | page for u in taken)
        else:
            local.usage.extend(taken)
        local.usage_size.extend([size] * len(taken))
        index = self.collection_stack[-1] if self.collection_stack else 0
        local.collection_index.extend([index] * len(taken))
        if len(taken) < len(usages):
            hid_err(self.device, "usage index exceeded")
            return -1
        return 0

    def concatenate_last_usage_page(self) -> None:
        """hid_concatenate_last_usage_page(): the last Usage Page before a main item
        applies to the usages declared before it (HID 1.11 §6.2.2.8)."""
        local = self.local
        page = self.global_.usage_page
        for i in range(len(local.usage) - 1, -1, -1):
            if local.usage_size[i] > 2:
                continue
            if local.usage[i] >> 16 == page:
                break
            self.complete_usage(i)


def _parser_global(parser: _Parser, item: HidItem) -> int:
    """hid_parser_global()."""
    glob = parser.global_
    tag = item.tag
    hid = parser.device
    if tag == GlobalTag.PUSH:
        if len(parser.global_stack) == HID_GLOBAL_STACK_SIZE:
            hid_err(hid, "global environment stack overflow")
            return -1
        parser.global_stack.append(replace(glob))
        return 0
    if tag == GlobalTag.POP:
        if not parser.global_stack:
            hid_err(hid, "global environment stack underflow")
            return -1
        parser.global_ = parser.global_stack.pop()
        return 0
    handler = _GLOBAL_SETTERS.get(tag)
    if handler is None:
        hid_err(hid, f"unknown global tag 0x{tag:x}")
        return -1
    return handler(parser, item)


def _set_usage_page(parser: _Parser, item: HidItem) -> int:
    parser.global_.usage_page = item_udata(item)
    return 0


def _set_logical_minimum(parser: _Parser, item: HidItem) -> int:
    parser.global_.logical_minimum = item_sdata(item)
    return 0


def _set_logical_maximum(parser: _Parser, item: HidItem) -> int:
    glob = parser.global_
    glob.logical_maximum = _s32(item_sdata(item) if glob.logical_minimum < 0
                                else item_udata(item))
    return 0


def _set_physical_minimum(parser: _Parser, item: HidItem) -> int:
    parser.global_.physical_minimum = item_sdata(item)
    return 0


def _set_physical_maximum(parser: _Parser, item: HidItem) -> int:
    glob = parser.global_
    glob.physical_maximum = _s32(item_sdata(item) if glob.physical_minimum < 0
                                 else item_udata(item))
    return 0


def _set_unit_exponent(parser: _Parser, item: HidItem) -> int:
    # Many devices give the exponent as a two's-complement nibble (a common misreading of
    # HID 1.11 §6.2.2.7); a value without bits above the nibble is taken that way.
    raw = item_sdata(item)
    parser.global_.unit_exponent = hid_snto32(raw, 4) if not raw & 0xFFFFFFF0 else raw
    return 0


def _set_unit(parser: _Parser, item: HidItem) -> int:
    parser.global_.unit = item_udata(item)
    return 0


def _set_report_size(parser: _Parser, item: HidItem) -> int:
    size = parser.global_.report_size = item_udata(item)
    if size > 256:
        hid_err(parser.device, f"invalid report_size {_s32(size)}")
        return -1
    return 0


def _set_report_count(parser: _Parser, item: HidItem) -> int:
    count = parser.global_.report_count = item_udata(item)
    if count > HID_MAX_USAGES:
        hid_err(parser.device, f"invalid report_count {_s32(count)}")
        return -1
    return 0


def _set_report_id(parser: _Parser, item: HidItem) -> int:
    report_id = parser.global_.report_id = item_udata(item)
    if report_id == 0 or report_id >= HID_MAX_IDS:
        hid_err(parser.device, f"report_id {report_id} is invalid")
        return -1
    return 0


_GLOBAL_SETTERS: Final[dict[int, Callable[[_Parser, HidItem], int]]] = {
    GlobalTag.USAGE_PAGE: _set_usage_page,
    GlobalTag.LOGICAL_MINIMUM: _set_logical_minimum,
    GlobalTag.LOGICAL_MAXIMUM: _set_logical_maximum,
    GlobalTag.PHYSICAL_MINIMUM: _set_physical_minimum,
    GlobalTag.PHYSICAL_MAXIMUM: _set_physical_maximum,
    GlobalTag.UNIT_EXPONENT: _set_unit_exponent,
    GlobalTag.UNIT: _set_unit,
    GlobalTag.REPORT_SIZE: _set_report_size,
    GlobalTag.REPORT_ID: _set_report_id,
    GlobalTag.REPORT_COUNT: _set_report_count,
}


def _parser_local(parser: _Parser, item: HidItem) -> int:
    """hid_parser_local(): usages (one, or a minimum/maximum range) and delimiters; other
    local items are ignored."""
    data = item_udata(item)
    local = parser.local
    tag = item.tag
    if tag == LocalTag.DELIMITER:
        if data:
            # Items before the first delimiter belong to every usage set; only the first
            # set is used.
            if local.delimiter_depth:
                hid_err(parser.device, "nested delimiters")
                return -1
            local.delimiter_depth += 1
            local.delimiter_branch += 1
        else:
            if local.delimiter_depth < 1:
                hid_err(parser.device, "bogus close delimiter")
                return -1
            local.delimiter_depth -= 1
        return 0
    if tag not in (LocalTag.USAGE, LocalTag.USAGE_MINIMUM, LocalTag.USAGE_MAXIMUM) \
            or local.delimiter_branch > 1:
        return 0
    if tag == LocalTag.USAGE:
        return parser.add_usages((data,), item.size)
    if tag == LocalTag.USAGE_MINIMUM:
        local.usage_minimum = data
        return 0
    return _usage_maximum(parser, item, data)


def _usage_maximum(parser: _Parser, item: HidItem, data: int) -> int:
    """Usage Maximum: the usages from the minimum up to `data`, cut at HID_MAX_USAGES
    ("ignoring exceeding usage max", not said while the device is still unnamed)."""
    local = parser.local
    count = (data - local.usage_minimum) & _U32
    if (count + len(local.usage)) & _U32 >= HID_MAX_USAGES:
        if parser.device.name:
            hid_warn(parser.device, "ignoring exceeding usage max")
        data = (HID_MAX_USAGES - len(local.usage) + local.usage_minimum - 1) & _U32
        if data == 0:
            hid_err(parser.device, "no more usage index available")
            return -1
    return parser.add_usages(range(local.usage_minimum, data + 1), item.size)


def _parser_main(parser: _Parser, item: HidItem) -> int:
    """hid_parser_main(): collections and fields; the local state is reset after each
    main item."""
    parser.concatenate_last_usage_page()
    data = item_udata(item)
    tag = item.tag
    if tag == MainTag.BEGIN_COLLECTION:
        ret = _open_collection(parser, data & 0xFF)
    elif tag == MainTag.END_COLLECTION:
        ret = _close_collection(parser)
    elif tag in _FIELD_TYPES:
        ret = _add_field(parser, _FIELD_TYPES[tag], data)
    else:
        hid_warn(parser.device, f"unknown main item tag 0x{tag:x}")
        ret = 0
    parser.local = _Local()
    return ret


_FIELD_TYPES: Final[dict[int, ReportType]] = {
    MainTag.INPUT: ReportType.INPUT, MainTag.OUTPUT: ReportType.OUTPUT,
    MainTag.FEATURE: ReportType.FEATURE}


def _parser_reserved(parser: _Parser, item: HidItem) -> int:
    """hid_parser_reserved(): reserved items are skipped."""
    return 0


def _open_collection(parser: _Parser, type_: int) -> int:
    """open_collection(): a new collection with the first usage, one level down."""
    device = parser.device
    usage = parser.local.usage[0] if parser.local.usage else 0
    level = len(parser.collection_stack)
    parent = parser.collection_stack[-1] if level else -1
    parser.collection_stack.append(len(device.collection))
    device.collection.append(HidCollection(parent, type_, usage, level))
    if type_ == CollectionType.APPLICATION:
        device.maxapplication += 1
    return 0


def _close_collection(parser: _Parser) -> int:
    """close_collection(): -EINVAL ("collection stack underflow") with none open."""
    if not parser.collection_stack:
        hid_err(parser.device, "collection stack underflow")
        return -Errno.EINVAL
    parser.collection_stack.pop()
    return 0


def hid_register_report(device: HidDevice, type_: ReportType, id_: int,
                        application: int) -> HidReport | None:
    """hid_register_report(): the report `id_` of `type_`, made if new; None for an id
    of HID_MAX_IDS or more.  Context: atomic."""
    if id_ >= HID_MAX_IDS:
        return None
    report_enum = device.report_enum[type_]
    report = report_enum.report_id_hash.get(id_)
    if report is not None:
        return report
    if id_ != 0:
        report_enum.numbered = True
    report = HidReport(device, type_, id_, application)
    report_enum.report_id_hash[id_] = report
    report_enum.report_list.append(report)
    return report


def _logical_range_invalid(glob: _Global) -> bool:
    """hid_add_field()'s check, signed or unsigned after the minimum's sign."""
    lmin, lmax = glob.logical_minimum, glob.logical_maximum
    if lmin < 0:
        return lmax < lmin
    return lmax & _U32 < lmin & _U32


def _add_field(parser: _Parser, report_type: ReportType, flags: int) -> int:
    """hid_add_field(): a field of the current report; padding (no usages) only grows
    the report."""
    glob = parser.global_
    local = parser.local
    device = parser.device
    application = parser.lookup_collection(CollectionType.APPLICATION)
    report = hid_register_report(device, report_type, glob.report_id, application)
    if report is None:
        hid_err(device, "hid_register_report failed")
        return -1
    if _logical_range_invalid(glob):
        return -1
    offset = report.size
    report.size += glob.report_size * glob.report_count
    # Total size check: allow for a possible report id byte.
    if report.size > (HID_MAX_BUFFER_SIZE - 1) << 3:
        hid_err(device, "report is too long")
        return -1
    if not local.usage:
        return 0
    if report.maxfield == HID_MAX_FIELDS:
        hid_err(device, "too many fields in report")
        return 0
    usages = max(len(local.usage), glob.report_count)
    fld = HidField(report, report.maxfield, usages)
    report.field.append(fld)
    fld.physical = parser.lookup_collection(CollectionType.PHYSICAL)
    fld.logical = parser.lookup_collection(CollectionType.LOGICAL)
    fld.application = application
    last = len(local.usage) - 1
    fld.usage = [HidUsage(local.usage[min(i, last)], local.collection_index[min(i, last)], i)
                 for i in range(usages)]
    fld.flags = flags
    fld.report_offset = offset
    fld.report_size = glob.report_size
    fld.report_count = glob.report_count
    fld.logical_minimum = glob.logical_minimum
    fld.logical_maximum = glob.logical_maximum
    fld.physical_minimum = glob.physical_minimum
    fld.physical_maximum = glob.physical_maximum
    fld.unit_exponent = glob.unit_exponent
    fld.unit = glob.unit
    return 0


_PARSE: Final[tuple[Callable[[_Parser, HidItem], int], ...]] = (
    _parser_main, _parser_global, _parser_local, _parser_reserved)


# -- scanning for the group (hid_scan_report) ------------------------------------------------------


def _scan_collection(parser: _Parser, type_: int) -> None:
    """hid_scan_collection()."""
    hid = parser.device
    page = (parser.global_.usage_page << 16) & _U32
    if page == HID_UP_SENSOR and type_ == CollectionType.PHYSICAL:
        hid.group = HID_GROUP_SENSOR_HUB
    if (hid.vendor, hid.product) == (USB_VENDOR_ID_MICROSOFT, USB_DEVICE_ID_MS_POWER_COVER) \
            and hid.group == HID_GROUP_MULTITOUCH:
        hid.group = HID_GROUP_GENERIC
    if page == HID_UP_GENDESK and HID_GD_POINTER in parser.local.usage:
        parser.scan_flags |= _ScanFlag.GD_POINTER
    if page >= HID_UP_MSVENDOR:
        parser.scan_flags |= _ScanFlag.VENDOR_SPECIFIC
    if page == HID_UP_GOOGLEVENDOR and HID_UP_GOOGLEVENDOR | 0x0001 in parser.local.usage:
        hid.group = HID_GROUP_VIVALDI


def _scan_main(parser: _Parser, item: HidItem) -> int:
    """hid_scan_main(): what the main items say about the device's group."""
    parser.concatenate_last_usage_page()
    data = item_udata(item)
    tag = item.tag
    usages = parser.local.usage
    if tag == MainTag.BEGIN_COLLECTION:
        _scan_collection(parser, data & 0xFF)
    elif tag == MainTag.INPUT and not data & MainItemFlag.CONSTANT:
        # constant inputs are ignored: hid-input ignores them
        if HID_DG_CONTACTID in usages:
            parser.device.group = HID_GROUP_MULTITOUCH
    elif tag == MainTag.FEATURE:
        glob = parser.global_
        for usage in usages:
            if (usage, glob.report_count, glob.report_size) in ((0xFF0000C5, 256, 8),
                                                               (0xFF0000C6, 1, 8)):
                parser.scan_flags |= _ScanFlag.MT_WIN_8
    parser.local = _Local()
    return 0


_SCAN: Final[tuple[Callable[[_Parser, HidItem], int], ...]] = (
    _scan_main, _parser_global, _parser_local, _parser_reserved)


def hid_scan_report(hid: HidDevice) -> int:
    """hid_scan_report(): set `hid.group` from the device's report descriptor before it
    is added (GENERIC unless it looks like a multitouch, sensor-hub, Wacom, RMI or
    Vivaldi device).  Errors do not stop the scan (hid_open_report reports them later),
    though the global-item messages appear, for a device still "(null)".  Returns 0.
    Context: atomic."""
    parser = _Parser(hid)
    hid.group = HID_GROUP_GENERIC
    rdesc = hid.dev_rdesc or b""
    pos = 0
    while (fetched := fetch_item(rdesc, pos)) is not None:
        item, pos = fetched
        _SCAN[item.type](parser, item)
    if parser.scan_flags & _ScanFlag.MT_WIN_8 and hid.group == HID_GROUP_MULTITOUCH:
        hid.group = HID_GROUP_MULTITOUCH_WIN_8
    if hid.vendor == USB_VENDOR_ID_WACOM:
        hid.group = HID_GROUP_WACOM
    elif hid.vendor == USB_VENDOR_ID_SYNAPTICS and hid.group == HID_GROUP_GENERIC \
            and parser.scan_flags & _ScanFlag.VENDOR_SPECIFIC \
            and parser.scan_flags & _ScanFlag.GD_POINTER:
        hid.group = HID_GROUP_RMI   # hid-rmi takes them, not hid-generic
    return 0


# -- opening and closing the report (hid_parse_report, hid_open_report, hid_close_report) ----------


def hid_parse_report(hid: HidDevice, rdesc: bytes | bytearray | memoryview) -> int:
    """hid_parse_report(): keep the report descriptor the transport read (`dev_rdesc`);
    call it from the ll driver's parse hook.  Returns 0.  Context: atomic."""
    hid.dev_rdesc = bytes(rdesc)
    return 0


def hid_close_report(device: HidDevice) -> None:
    """hid_close_report(): forget the parsed reports, collections and descriptor (the
    state before hid_open_report).  Context: atomic."""
    device.report_enum = [HidReportEnum() for _ in range(HID_REPORT_TYPES)]
    device.rdesc = b""
    device.collection = []
    device.maxapplication = 0
    device.status &= ~HidStat.PARSED


def hid_open_report(device: HidDevice) -> int:
    """hid_open_report(): parse the report descriptor (after the driver's report_fixup)
    into reports, fields and collections.  Returns 0, -EBUSY when parsed already, -ENODEV
    without a descriptor, -EINVAL for a descriptor hid-core rejects — after logging why
    ("item fetching failed at offset %u/%u", "unbalanced collection at end of report
    description", "item %u %u %u %u parsing failed" after the item's own complaint …);
    the device is then as before.  Context: atomic (call it from probe)."""
    if device.status & HidStat.PARSED:
        return -Errno.EBUSY
    if device.dev_rdesc is None:
        return -Errno.ENODEV
    rdesc = device.dev_rdesc
    hdrv = device.hid_driver
    if hdrv is not None and hdrv.report_fixup is not None:
        rdesc = bytes(hdrv.report_fixup(device, rdesc))
    device.rdesc = rdesc
    parser = _Parser(device)
    size = end = len(rdesc)
    pos = 0
    while (fetched := fetch_item(rdesc, pos)) is not None:
        item, pos = fetched
        if item.format != HID_ITEM_FORMAT_SHORT:
            hid_err(device, "unexpected long global item")
            break
        if _PARSE[item.type](parser, item):
            hid_err(device, f"item {item.format} {item.size} {item.type} {item.tag} "
                            "parsing failed")
            break
        if pos == end:
            if parser.collection_stack:
                hid_err(device, "unbalanced collection at end of report description")
                break
            if parser.local.delimiter_depth:
                hid_err(device, "unbalanced delimiter at end of report description")
                break
            hid_setup_resolution_multiplier(device)
            device.status |= HidStat.PARSED
            return 0
    else:
        hid_err(device, f"item fetching failed at offset {size - (end - pos)}/{size}")
    hid_close_report(device)
    return -Errno.EINVAL


def hid_parse(hid: HidDevice) -> int:
    """hid_parse(): hid_open_report, for a driver's probe.  Context: atomic."""
    return hid_open_report(hid)


# -- resolution multipliers (hid_setup_resolution_multiplier) --------------------------------------


def _calculate_multiplier(hid: HidDevice, multiplier: HidField) -> int:
    """hid_calculate_multiplier(): the effective multiplier of its current value."""
    v = multiplier.value[0] if multiplier.value else 0
    lmin, lmax = multiplier.logical_minimum, multiplier.logical_maximum
    pmin, pmax = multiplier.physical_minimum, multiplier.physical_maximum
    span = _s32(lmax - lmin)
    if span == 0:
        return 1
    m = _s32(_s32(_cdiv(_s32(v - lmin), span) * _s32(pmax - pmin)) + pmin)
    if multiplier.unit_exponent != 0:
        hid_warn(hid, f"unsupported Resolution Multiplier unit exponent "
                      f"{multiplier.unit_exponent}")
    if m == 0 or m > 255 or m < -255:
        hid_warn(hid, f"unsupported Resolution Multiplier {m}")
        m = 1
    return m


def _collection_at(hid: HidDevice, index: int) -> HidCollection:
    """hid.collection[index]; an index past the parsed collections (a field outside any
    collection) is a top-level collection."""
    if 0 <= index < len(hid.collection):
        return hid.collection[index]
    return HidCollection(-1, 0, 0, 0)


def _apply_multiplier(hid: HidDevice, multiplier: HidField) -> None:
    """hid_apply_multiplier(): the multiplier applies to the input fields of its logical
    collection (of all input fields when it sits in none)."""
    target: HidCollection | None = _collection_at(hid, multiplier.usage[0].collection_index)
    while target is not None and target.parent_idx != -1 \
            and target.type != CollectionType.LOGICAL:
        target = _collection_at(hid, target.parent_idx)
    if target is not None and target.parent_idx == -1 \
            and target.type != CollectionType.LOGICAL:
        target = None
    effective = _calculate_multiplier(hid, multiplier)
    for report in hid.report_enum[ReportType.INPUT].report_list:
        for fld in report.field:
            for usage in fld.usage:
                collection = _collection_at(hid, usage.collection_index)
                while collection.parent_idx != -1 and collection is not target:
                    collection = _collection_at(hid, collection.parent_idx)
                if collection.parent_idx != -1 or target is None:
                    usage.resolution_multiplier = effective


def hid_setup_resolution_multiplier(hid: HidDevice) -> None:
    """hid_setup_resolution_multiplier(): apply every Resolution Multiplier feature to
    the input usages it governs (usage.resolution_multiplier).  Context: atomic."""
    for report in hid.report_enum[ReportType.FEATURE].report_list:
        for fld in report.field:
            if fld.report_count < 1:
                continue
            for usage in fld.usage:
                if usage.hid == HID_GD_RESOLUTION_MULTIPLIER:
                    _apply_multiplier(hid, fld)


def hid_validate_values(hid: HidDevice, type_: int, id_: int, field_index: int,
                        report_counts: int) -> HidReport | None:
    """hid_validate_values(): the report (id 0: the first of its type) when it has a
    field `field_index` with at least `report_counts` values, else None after saying
    what is missing.  Context: atomic."""
    if type_ > ReportType.FEATURE:
        hid_err(hid, f"invalid HID report type {type_}")
        return None
    if id_ >= HID_MAX_IDS:
        hid_err(hid, f"invalid HID report id {id_}")
        return None
    report_enum = hid.report_enum[type_]
    report = (report_enum.report_list[0] if report_enum.report_list else None) if id_ == 0 \
        else report_enum.report_id_hash.get(id_)
    name = _REPORT_NAMES[type_]
    if report is None:
        hid_err(hid, f"missing {name} {id_}")
        return None
    if report.maxfield <= field_index:
        hid_err(hid, f"not enough fields in {name} {id_}")
        return None
    if report.field[field_index].report_count < report_counts:
        hid_err(hid, f"not enough values in {name} {id_} field {field_index}")
        return None
    return report


# -- reading fields out of reports -----------------------------------------------------------------


def _warn_wide_field(hid: HidDevice, n: int) -> None:
    """hid_warn_once() of hid_field_extract for a field wider than 32 bits (the
    interrupted task's name is that of the idle task, where reports arrive)."""
    if not hid.core.warned_wide_field:
        hid.core.warned_wide_field = True
        hid_warn(hid, f"hid_field_extract() called with n ({n}) > 32! (swapper/0)")


def hid_field_extract(hid: HidDevice, report: bytes | bytearray | memoryview, offset: int,
                      n: int) -> int:
    """hid_field_extract(): the unsigned `n`-bit value at bit `offset` of `report`
    (little endian; n above 32 is cut to 32, with a warning once).  Context: atomic."""
    if n > 32:
        _warn_wide_field(hid, n)
        n = 32
    first = offset >> 3
    last = (offset + n + 7) >> 3
    return (int.from_bytes(report[first:last], "little") >> (offset & 7)) & ((1 << n) - 1)


def _array_value_is_valid(fld: HidField, value: int) -> bool:
    """hid_array_value_is_valid(): value indexes the field's usages."""
    lmin = fld.logical_minimum
    return lmin <= value <= fld.logical_maximum and value - lmin < len(fld.usage)


def _fetch_field(hid: HidDevice, fld: HidField, bits: int) -> None:
    """hid_input_fetch_field(): the field's values into new_value; an array holding
    ErrorRollOver (keyboard usage 1) marks the field ignored for this report."""
    count, offset, size = fld.report_count, fld.report_offset, fld.report_size
    lmin = fld.logical_minimum
    width = size
    if size > 32:
        _warn_wide_field(hid, size)
        width = 32
    mask = (1 << width) - 1
    values = fld.new_value
    values[:count] = [0] * count
    fld.ignored = False
    is_array = not fld.flags & MainItemFlag.VARIABLE
    for n in range(count):
        raw = (bits >> (offset + n * size)) & mask
        value = values[n] = hid_snto32(raw, size) if lmin < 0 else _s32(raw)
        if is_array and _array_value_is_valid(fld, value) \
                and fld.usage[value - lmin].hid == HID_UP_KEYBOARD + 1:
            fld.ignored = True
            return


def _process_event(hid: HidDevice, fld: HidField, usage: HidUsage, value: int,
                   interrupt: int) -> None:
    """hid_process_event(): the driver's event hook, then hid-input."""
    hdrv = hid.hid_driver
    if hdrv is not None and hdrv.event is not None and _match_usage(hdrv, usage):
        ret = hdrv.event(hid, fld, usage, value)
        if ret != 0:
            if ret < 0:
                hid_err(hid, f"{hdrv.name}'s event failed with {ret}")
            return
    if hid.claimed & HidClaimed.INPUT and hid.hidinput is not None:
        hid.hidinput.hid_event(hid, fld, usage, value)


def _input_var_field(hid: HidDevice, fld: HidField, interrupt: int) -> None:
    """hid_input_var_field(): an event per value."""
    count = fld.report_count
    values = fld.new_value
    for n in range(count):
        _process_event(hid, fld, fld.usage[n], values[n], interrupt)
    fld.value[:count] = values[:count]


def _input_array_field(hid: HidDevice, fld: HidField, interrupt: int) -> None:
    """hid_input_array_field(): usages that left the array get value 0, usages that
    entered it value 1 (differential reporting)."""
    if fld.ignored:
        return
    count = fld.report_count
    lmin = fld.logical_minimum
    old, new = fld.value[:count], fld.new_value[:count]
    for n in range(count):
        if _array_value_is_valid(fld, old[n]) and old[n] not in new:
            _process_event(hid, fld, fld.usage[old[n] - lmin], 0, interrupt)
        if _array_value_is_valid(fld, new[n]) and new[n] not in old:
            _process_event(hid, fld, fld.usage[new[n] - lmin], 1, interrupt)
    fld.value[:count] = new


def _process_report(hid: HidDevice, report: HidReport, cdata: bytes, interrupt: int) -> None:
    """hid_process_report(): fetch every field, then process them — in hid-input's
    priority order once connected (`field_entry_list`), else field by field."""
    bits = int.from_bytes(cdata, "little")
    for fld in report.field:
        _fetch_field(hid, fld, bits)
    if report.field_entry_list:
        for entry in report.field_entry_list:
            fld = entry.field
            if fld.flags & MainItemFlag.VARIABLE:
                _process_event(hid, fld, fld.usage[entry.index], fld.new_value[entry.index],
                               interrupt)
            else:
                _input_array_field(hid, fld, interrupt)
        for fld in report.field:
            if fld.flags & MainItemFlag.VARIABLE:
                fld.value[:fld.report_count] = fld.new_value[:fld.report_count]
        return
    for fld in report.field:
        if fld.flags & MainItemFlag.VARIABLE:
            _input_var_field(hid, fld, interrupt)
        else:
            _input_array_field(hid, fld, interrupt)


def _process_ordering(hid: HidDevice) -> None:
    """hid_process_ordering(): each input report's variable usages and array fields,
    highest `usages_priorities` first, equal priorities in report order."""
    for report in hid.report_enum[ReportType.INPUT].report_list:
        entries = [HidFieldEntry(fld, index, fld.usages_priorities[index])
                   for fld in report.field
                   for index in (range(fld.report_count)
                                 if fld.flags & MainItemFlag.VARIABLE else (0,))]
        report.field_entry_list = sorted(entries, key=lambda entry: -entry.priority)


def _match_report(hdrv: HidDriver, report: HidReport) -> bool:
    """hid_match_report(): whether the driver's raw_event wants this report."""
    if hdrv.report_table is None:
        return True
    for rid in hdrv.report_table:
        if rid.report_type == HID_TERMINATOR:
            break
        if rid.report_type in (HID_ANY_ID, report.type):
            return True
    return False


def _match_usage(hdrv: HidDriver, usage: HidUsage) -> bool:
    """hid_match_usage(): whether the driver's event wants this usage."""
    if hdrv.usage_table is None:
        return True
    for uid in hdrv.usage_table:
        if uid.usage_type == HID_TERMINATOR:
            break
        if uid.usage_hid in (HID_ANY_ID, usage.hid) and uid.usage_type in (HID_ANY_ID,
                                                                           usage.type) \
                and uid.usage_code in (HID_ANY_ID, usage.code):
            return True
    return False


def _get_report(report_enum: HidReportEnum, data: bytes | bytearray | memoryview,
                size: int) -> HidReport | None:
    """hid_get_report(): the report a buffer holds (its first byte is the id when the
    reports are numbered)."""
    n = data[0] if report_enum.numbered and len(data) else 0
    return report_enum.report_id_hash.get(n)


def hid_compute_report_size(report: HidReport) -> int:
    """hid_compute_report_size(): the report's bytes without its id.  Context: atomic."""
    return ((report.size - 1) >> 3) + 1 if report.size else 0


def hid_report_len(report: HidReport) -> int:
    """hid_report_len(): the report's bytes with its id byte.  Context: atomic."""
    return (report.size + 7) // 8 + (report.id > 0)


def hid_report_raw_event(hid: HidDevice, type_: ReportType,
                         data: bytes | bytearray | memoryview, size: int,
                         interrupt: int) -> int:
    """hid_report_raw_event(): hand a raw report to hidraw, then (unless only hidraw
    listens) extract its fields — a short report reads as zero-padded — call the
    driver's report hook and hid-input.  Returns 0, or hidraw's error.  Context:
    atomic."""
    report_enum = hid.report_enum[type_]
    report = _get_report(report_enum, data, size)
    if report is None:
        return 0
    skip = 1 if report_enum.numbered else 0
    csize = max(size - skip, 0)
    rsize = hid_compute_report_size(report)
    max_buffer_size = _max_buffer_size(hid)
    if report_enum.numbered and rsize >= max_buffer_size:
        rsize = max_buffer_size - 1
    elif rsize > max_buffer_size:
        rsize = max_buffer_size
    cdata = bytes(data[skip:skip + csize])
    if len(cdata) < rsize:
        cdata += bytes(rsize - len(cdata))
    ret = 0
    if hid.claimed & HidClaimed.HIDRAW and hid.hidraw is not None:
        ret = hid.core.hidraw.report_event(hid, bytes(data[:size]))
        if ret:
            return ret
    if hid.claimed != HidClaimed.HIDRAW and report.field:
        _process_report(hid, report, cdata, interrupt)
        hdrv = hid.hid_driver
        if hdrv is not None and hdrv.report is not None:
            hdrv.report(hid, report)
    if hid.claimed & HidClaimed.INPUT and hid.hidinput is not None:
        hid.hidinput.report_event(hid, report)
    return ret


def hid_input_report(hid: HidDevice | None, type_: ReportType,
                     data: bytes | bytearray | memoryview, size: int,
                     interrupt: int) -> int:
    """hid_input_report(): a report from the transport (`size` bytes of `data`;
    `interrupt` 1 for the interrupt pipe, 0 for a GET_REPORT answer).  Returns 0, or:
    -ENODEV without a device or driver, -EBUSY while the driver probes or is removed
    (until hid_device_io_start), -1 for an empty report or an unknown report id, a
    driver's raw_event error.  Context: atomic (a URB completion)."""
    if hid is None:
        return -Errno.ENODEV
    if hid.driver_input_locked:
        return -Errno.EBUSY
    hdrv = hid.hid_driver
    if hdrv is None:
        return -Errno.ENODEV
    if not size:
        return -1
    report = _get_report(hid.report_enum[type_], data, size)
    if report is None:
        return -1
    if hdrv.raw_event is not None and _match_report(hdrv, report):
        ret = hdrv.raw_event(hid, report, bytes(data[:size]), size)
        if ret < 0:
            return ret
    return hid_report_raw_event(hid, type_, data, size, interrupt)


# -- building output reports -----------------------------------------------------------------------


def _implement(hid: HidDevice, data: bytearray, offset: int, n: int, value: int) -> None:
    """implement(): write the `n`-bit `value` at bit `offset` (little endian)."""
    value &= _U32
    if n > 32:
        hid_warn(hid, f"implement() called with n ({n}) > 32! (swapper/0)")
        n = 32
    elif n < 32 and value > (1 << n) - 1:
        hid_warn(hid, f"implement() called with too large value {_s32(value)} (n: {n})! "
                      "(swapper/0)")
        value &= (1 << n) - 1
    first = offset >> 3
    last = (offset + n + 7) >> 3
    shift = offset & 7
    chunk = int.from_bytes(data[first:last], "little")
    mask = ((1 << n) - 1) << shift
    chunk = (chunk & ~mask) | (value << shift & mask)
    data[first:last] = chunk.to_bytes(last - first, "little")


def hid_alloc_report_buf(report: HidReport) -> bytearray:
    """hid_alloc_report_buf(): a zeroed buffer for `hid_output_report` (the report's
    length and 7 bytes more).  Context: atomic."""
    return bytearray(hid_report_len(report) + 7)


def hid_output_report(report: HidReport, data: bytearray) -> None:
    """hid_output_report(): build the report from its fields' values into `data` (from
    `hid_alloc_report_buf`): the id byte when it has one, then every field — signed
    values saturated to their size.  Context: atomic."""
    pos = 0
    if report.id > 0:
        data[0] = report.id
        pos = 1
    size = hid_compute_report_size(report)
    data[pos:pos + size] = bytes(size)
    body = bytearray(data[pos:pos + size])
    for fld in report.field:
        signed = fld.logical_minimum < 0
        for n in range(fld.report_count):
            value = fld.value[n]
            _implement(report.device, body, fld.report_offset + n * fld.report_size,
                       fld.report_size,
                       _s32ton(value, fld.report_size) if signed else value)
    data[pos:pos + size] = body


def hid_set_field(fld: HidField | None, offset: int, value: int) -> int:
    """hid_set_field(): value `offset` of the field, for the next output report.  Returns
    0, or -1 ("offset (%d) exceeds report_count (%d)", "value %d is out of range" for a
    signed field).  Context: atomic."""
    if fld is None:
        return -1
    hid = fld.report.device
    size = fld.report_size
    if offset >= fld.report_count:
        hid_err(hid, f"offset ({offset}) exceeds report_count ({fld.report_count})")
        return -1
    if fld.logical_minimum < 0 and value != hid_snto32(_s32ton(value, size), size):
        hid_err(hid, f"value {value} is out of range")
        return -1
    fld.value[offset] = value
    return 0


# -- transport calls (hid_hw_*) -------------------------------------------------------------------


def _ll(hid: HidDevice) -> HidLlDriver:
    if hid.ll_driver is None:
        raise ValueError(f"{hid!r} has no ll_driver: the transport sets it before "
                         "hid_add_device")
    return hid.ll_driver


def _max_buffer_size(hid: HidDevice) -> int:
    ll = hid.ll_driver
    return ll.max_buffer_size if ll is not None and ll.max_buffer_size else \
        HID_MAX_BUFFER_SIZE


async def hid_hw_start(hid: HidDevice, connect_mask: int) -> int:
    """hid_hw_start(): start the transport, then connect the listeners `connect_mask`
    asks for (HidConnect); on a failed connect the transport is stopped again.  Returns
    0 or -errno.  Context: may sleep (call it from probe, after hid_parse)."""
    ll = _ll(hid)
    error = await ll.start(hid)
    if error:
        return error
    if connect_mask:
        error = await hid_connect(hid, connect_mask)
        if error:
            await ll.stop(hid)
            return error
    return 0


async def hid_hw_stop(hid: HidDevice) -> None:
    """hid_hw_stop(): disconnect the listeners and stop the transport.  Context: may
    sleep."""
    await hid_disconnect(hid)
    await _ll(hid).stop(hid)


async def hid_hw_open(hid: HidDevice) -> int:
    """hid_hw_open(): the first user makes the transport deliver reports (ll open).
    Returns 0 or the ll driver's error.  Context: may sleep."""
    async with hid.ll_open_lock:
        ret = 0
        hid.ll_open_count += 1
        if hid.ll_open_count == 1:
            ret = await _ll(hid).open(hid)
            if ret:
                hid.ll_open_count -= 1
        return ret


async def hid_hw_close(hid: HidDevice) -> None:
    """hid_hw_close(): the last user gone, the transport stops delivering (ll close).
    Context: may sleep."""
    async with hid.ll_open_lock:
        hid.ll_open_count -= 1
        if hid.ll_open_count == 0:
            await _ll(hid).close(hid)


async def hid_hw_power(hid: HidDevice, level: int) -> int:
    """hid_hw_power(): the ll driver's power hook, else 0.  Context: may sleep."""
    ll = _ll(hid)
    return await ll.power(hid, level) if ll.power is not None else 0


async def hid_hw_idle(hid: HidDevice, report: int, idle: int, reqtype: HidRequest) -> int:
    """hid_hw_idle(): the ll driver's idle hook, else 0.  Context: may sleep."""
    ll = _ll(hid)
    return await ll.idle(hid, report, idle, reqtype) if ll.idle is not None else 0


async def hid_hw_wait(hid: HidDevice) -> None:
    """hid_hw_wait(): wait for the transport's queued requests.  Context: may sleep."""
    ll = _ll(hid)
    if ll.wait is not None:
        await ll.wait(hid)


async def __hid_request(hid: HidDevice, report: HidReport, reqtype: HidRequest) -> int:
    """__hid_request(): a GET/SET_REPORT of `report` through raw_request; a GET's answer
    is processed as an input report.  Returns 0 or -errno.  Context: may sleep."""
    buf = hid_alloc_report_buf(report)
    length = hid_report_len(report)
    if reqtype == HidRequest.SET_REPORT:
        hid_output_report(report, buf)
    raw_request = _ll(hid).raw_request
    if raw_request is None:
        return -Errno.ENOSYS
    ret = await raw_request(hid, report.id, buf, length, report.type, reqtype)
    if ret < 0:
        return ret
    if reqtype == HidRequest.GET_REPORT:
        hid_input_report(hid, report.type, buf, ret, 0)
    return 0


async def hid_hw_request(hid: HidDevice, report: HidReport, reqtype: HidRequest) -> None:
    """hid_hw_request(): GET_REPORT or SET_REPORT of a parsed report — queued by the
    transport's request hook, else done now.  Context: may sleep."""
    ll = _ll(hid)
    if ll.request is not None:
        ll.request(hid, report, reqtype)
        return
    await __hid_request(hid, report, reqtype)


async def hid_hw_raw_request(hid: HidDevice, reportnum: int, buf: bytearray, length: int,
                             rtype: ReportType, reqtype: HidRequest) -> int:
    """hid_hw_raw_request(): GET_REPORT (fills `buf`) or SET_REPORT (sends its first
    `length` bytes) of report `reportnum`.  Returns the byte count or -errno (-EINVAL for
    a length outside 1..max_buffer_size).  Context: may sleep."""
    if length < 1 or length > _max_buffer_size(hid):
        return -Errno.EINVAL
    raw_request = _ll(hid).raw_request
    if raw_request is None:
        return -Errno.ENOSYS
    return await raw_request(hid, reportnum, buf, length, rtype, reqtype)


async def hid_hw_output_report(hid: HidDevice, buf: bytes | bytearray | memoryview,
                               length: int) -> int:
    """hid_hw_output_report(): send `length` bytes of `buf` as an output report on the
    interrupt channel.  Returns the byte count or -errno (-EINVAL for a bad length,
    -ENOSYS when the transport cannot).  Context: may sleep."""
    if length < 1 or length > _max_buffer_size(hid):
        return -Errno.EINVAL
    output_report = _ll(hid).output_report
    if output_report is None:
        return -Errno.ENOSYS
    return await output_report(hid, bytes(buf[:length]))


def hid_device_io_start(hid: HidDevice) -> None:
    """hid_device_io_start(): let reports reach the driver during probe or remove.
    Context: atomic."""
    if hid.io_started:
        hid.log.dev(Level.WARNING, hid, "io already started")
        return
    hid.io_started = True
    hid.driver_input_locked = False


def hid_device_io_stop(hid: HidDevice) -> None:
    """hid_device_io_stop(): refuse reports again until probe or remove is over.
    Context: atomic."""
    if not hid.io_started:
        hid.log.dev(Level.WARNING, hid, "io already stopped")
        return
    hid.io_started = False
    hid.driver_input_locked = True


# -- connecting listeners (hid_connect, hid_disconnect) --------------------------------------------


def _show_country(hid: HidDevice) -> str:
    return f"{hid.country & 0xFF:02x}\n"


COUNTRY_ATTR: Final[SysAttr[HidDevice]] = ro("country", _show_country)
"""dev_attr_country: created by hid_connect, removed by hid_disconnect."""


def _connect_type(hid: HidDevice) -> str:
    """hid_connect()'s type: the first Generic Desktop application it knows."""
    for col in hid.collection:
        usage_id = col.usage & HID_USAGE
        if col.type == CollectionType.APPLICATION \
                and col.usage & HID_USAGE_PAGE == HID_UP_GENDESK \
                and usage_id < len(_CONNECT_TYPES):
            return _CONNECT_TYPES[usage_id]
    return "Device"


async def hid_connect(hid: HidDevice, connect_mask: int) -> int:
    """hid_connect(): connect hid-input and hidraw as `connect_mask` asks, then log
    "<listeners>: <bus> HID v<x.yy> <type> [<name>] on <phys>".  Returns 0, or -ENODEV
    ("device has no listeners, quitting") when nothing claimed the device and its driver
    has no raw_event.  Context: may sleep."""
    hdrv = hid.hid_driver
    core = hid.core
    if hid.quirks & HidQuirk.HIDINPUT_FORCE:
        connect_mask |= HidConnect.HIDINPUT_FORCE
    hidinput = core.hidinput
    if connect_mask & HidConnect.HIDINPUT and hidinput is not None \
            and not await hidinput.connect(hid, connect_mask & HidConnect.HIDINPUT_FORCE):
        hid.hidinput = hidinput
        hid.claimed |= HidClaimed.INPUT
    if connect_mask & HidConnect.HIDRAW and not await core.hidraw.connect(hid):
        hid.claimed |= HidClaimed.HIDRAW
    if connect_mask & HidConnect.DRIVER:
        hid.claimed |= HidClaimed.DRIVER
    if not hid.claimed and (hdrv is None or hdrv.raw_event is None):
        hid_err(hid, "device has no listeners, quitting")
        return -Errno.ENODEV
    _process_ordering(hid)
    listeners = []
    if hid.claimed & HidClaimed.INPUT:
        listeners.append("input")
    if hid.claimed & HidClaimed.HIDRAW and hid.hidraw is not None:
        listeners.append(f"hidraw{hid.hidraw.minor}")
    ret = device_create_file(hid, COUNTRY_ATTR)
    if ret:
        hid_warn(hid, f"can't create sysfs country code attribute err: {ret}")
    bus = _BUS_NAMES.get(hid.bustype, "<UNKNOWN>")
    hid_info(hid, f"{','.join(listeners)}: {bus} HID v{hid.version >> 8:x}."
                  f"{hid.version & 0xFF:02x} {_connect_type(hid)} [{hid.hid_name}] "
                  f"on {hid.phys}")
    return 0


async def hid_disconnect(hid: HidDevice) -> None:
    """hid_disconnect(): the country file goes, hid-input and hidraw let go.  Context:
    may sleep."""
    device_remove_file(hid, COUNTRY_ATTR)
    if hid.claimed & HidClaimed.INPUT and hid.hidinput is not None:
        await hid.hidinput.disconnect(hid)
    if hid.claimed & HidClaimed.HIDRAW:
        await hid.core.hidraw.disconnect(hid)
    hid.claimed = HidClaimed(0)
    hid.hidinput = None


# -- the hid bus: matching, probe, remove, uevents -------------------------------------------------


def hid_match_one_id(hid: HidDevice, id_: HidDeviceId) -> bool:
    """hid_match_one_id().  Context: atomic."""
    return (id_.bus in (HID_BUS_ANY, hid.bustype)
            and id_.group in (HID_GROUP_ANY, hid.group)
            and id_.vendor in (HID_ANY_ID, hid.vendor)
            and id_.product in (HID_ANY_ID, hid.product))


def hid_match_id(hid: HidDevice, table: Sequence[HidDeviceId]) -> HidDeviceId | None:
    """hid_match_id(): the first entry of `table` (up to one with bus 0) matching the
    device, or None.  Context: atomic."""
    for id_ in table:
        if not id_.bus:
            break
        if hid_match_one_id(hid, id_):
            return id_
    return None


def hid_match_device(hid: HidDevice, hdrv: HidDriver) -> HidDeviceId | None:
    """hid_match_device(): the driver's id for the device, or None.  Context: atomic."""
    return hid_match_id(hid, hdrv.id_table)


def hid_lookup_quirk(hid: HidDevice) -> int:
    """hid_lookup_quirk(): the device's quirks (its initial ones; Linux's quirk tables
    are not modelled).  Context: atomic."""
    return hid.initial_quirks


def hid_ignore(hid: HidDevice) -> bool:
    """hid_ignore(): the quirks say no driver may have the device.  Context: atomic."""
    return bool(hid.quirks & HidQuirk.IGNORE) and not hid.quirks & HidQuirk.NO_IGNORE


def _check_device_match(hid: HidDevice, hdrv: HidDriver) -> HidDeviceId | None:
    """hid_check_device_match(): the id, when the driver's match agrees."""
    id_ = hid_match_device(hid, hdrv)
    if id_ is None:
        return None
    ignore = hid.core.ignore_special_drivers()
    if hdrv.match is not None:
        return id_ if hdrv.match(hid, ignore) else None
    return None if ignore else id_


async def hid_device_probe(hid: HidDevice, hdrv: HidDriver) -> int:
    """hid_device_probe(): the driver's probe (or hid_parse + hid_hw_start) with reports
    held back meanwhile; a failure forgets the parsed report.  Returns 0 or -errno
    (-ENODEV when the driver's match refuses).  Context: may sleep."""
    hid.driver_input_locked = True
    hid.io_started = False
    hid.status &= ~HidStat.REPROBED
    try:
        id_ = _check_device_match(hid, hdrv)
        if id_ is None:
            return -Errno.ENODEV
        hid.quirks = hid_lookup_quirk(hid)
        if hdrv.probe is not None:
            ret = await hdrv.probe(hid, id_) or 0
        else:
            ret = hid_open_report(hid)
            if not ret:
                ret = await hid_hw_start(hid, HidConnect.DEFAULT)
        if ret:
            hid_close_report(hid)
        return ret
    except BaseException:
        hid_close_report(hid)
        raise
    finally:
        if not hid.io_started:
            hid.driver_input_locked = False


async def hid_device_remove(hid: HidDevice) -> None:
    """hid_device_remove(): the driver's remove (or hid_hw_stop), then the parsed report
    goes.  Context: may sleep."""
    hid.driver_input_locked = True
    hid.io_started = False
    try:
        hdrv = hid.hid_driver
        if hdrv is not None:
            if hdrv.remove is not None:
                await hdrv.remove(hid)
            else:
                await hid_hw_stop(hid)
            hid_close_report(hid)
    finally:
        if not hid.io_started:
            hid.driver_input_locked = False


def hid_uevent(hid: HidDevice) -> list[tuple[str, str]]:
    """hid_uevent(): HID_ID, HID_NAME, HID_PHYS, HID_UNIQ and MODALIAS.  Context: atomic."""
    return [("HID_ID", f"{hid.bustype:04X}:{hid.vendor & _U32:08X}:{hid.product & _U32:08X}"),
            ("HID_NAME", hid.hid_name), ("HID_PHYS", hid.phys), ("HID_UNIQ", hid.uniq),
            ("MODALIAS", hid.modalias)]


class HidBusType(BusType):
    """hid_bus_type: the bus "hid" of one machine."""

    def __init__(self, hid_core: HidCore) -> None:
        super().__init__("hid", hid_core.driver_core)
        self.hid_core = hid_core

    def match(self, dev: Device, drv: Driver) -> bool:
        """hid_bus_match().  Context: atomic."""
        return isinstance(dev, HidDevice) and isinstance(drv, HidDriver) \
            and hid_match_device(dev, drv) is not None

    async def probe(self, dev: Device, drv: Driver) -> int:
        if not isinstance(dev, HidDevice) or not isinstance(drv, HidDriver):
            return -Errno.ENODEV
        return await hid_device_probe(dev, drv)

    async def remove(self, dev: Device, drv: Driver) -> None:
        if isinstance(dev, HidDevice):
            await hid_device_remove(dev)

    def uevent(self, dev: Device) -> list[tuple[str, str]]:
        return hid_uevent(dev) if isinstance(dev, HidDevice) else []


def _show_modalias(hid: HidDevice) -> str:
    return f"{hid.modalias}\n"


def _read_report_descriptor(hid: HidDevice) -> bytes:
    """read_report_descriptor(): the descriptor parsed now (empty while unbound)."""
    return hid.rdesc


HID_DEV_ATTRS: Final[tuple[SysAttr[HidDevice], ...]] = (
    ro("modalias", _show_modalias),
    SysAttr("report_descriptor", _read_report_descriptor, binary=True),
)
"""hid_dev_groups: the files of every hid device's directory (besides uevent)."""


def _device_entries(sysfs: Sysfs, hid: HidDevice) -> dict[str, Node]:
    """A hid device's sysfs directory: uevent, modalias, report_descriptor, the links,
    its children (hidraw/hidrawN, input/inputN) and country while connected."""
    found = attr_group(hid, DEVICE_ATTRS)
    found.update(attr_group(hid, HID_DEV_ATTRS))
    found.update(sysfs.common(hid, device_path(hid)))
    return found


# -- the machine's HID core ------------------------------------------------------------------------

#: Weak both ways (`WeakTable`): a closed machine goes, though each value refers to
#: its key.
_cores: WeakTable[UsbCore, HidCore] = WeakTable()


class HidCore:
    """The HID core of one machine: the hid bus, hidraw, the device counter behind the
    NNNN of device names, and hid-input's hooks (`hidinput`, None without hid-input).
    Create it with `await HidCore.start(usb)` (the hid module's init).  Context: lookups
    are atomic; start and stop may sleep."""

    def __init__(self, usb: UsbCore,
                 ignore_special_drivers: Callable[[], bool] = lambda: False) -> None:
        self.usb = usb
        self.driver_core = usb.driver_core
        self.log = usb.log
        self.ignore_special_drivers = ignore_special_drivers
        self.bus = HidBusType(self)
        self.last_id = 0
        self.hidinput: HidInputOps | None = None
        self.warned_wide_field = False
        self.hidraw: HidrawCore

    @classmethod
    async def start(cls, usb: UsbCore, *,
                    ignore_special_drivers: Callable[[], bool] = lambda: False,
                    hidinput: HidInputOps | None = None) -> HidCore:
        """hid_init(): register the hid bus, its sysfs files and hidraw.  Raises OSError:
        EBUSY when the machine has a HID core already, or hidraw's error.  Context: may
        sleep."""
        from .hidraw import HidrawCore

        if usb in _cores:
            raise OSError(Errno.EBUSY, "the HID core is already running")
        core = cls(usb, ignore_special_drivers)
        core.hidinput = hidinput
        usb.driver_core.add_bus(core.bus)
        sysfs = sysfs_of(usb.driver_core)
        if sysfs is not None:
            sysfs.register_device_dir(HidDevice, functools.partial(_device_entries, sysfs))
        files = usb_files_of(usb)
        core.hidraw = HidrawCore(core, files.chrdev, files.classes)
        try:
            core.hidraw.init()
        except OSError:
            usb.driver_core.remove_bus(core.bus)
            raise
        _cores[usb] = core
        return core

    async def stop(self) -> None:
        """hid_exit(): hidraw and the bus go.  Context: may sleep."""
        self.hidraw.exit()
        self.driver_core.remove_bus(self.bus)
        _cores.pop(self.usb, None)

    def next_id(self) -> int:
        """hid_add_device()'s counter: 1, 2, 3 … for this machine.  Context: atomic."""
        self.last_id += 1
        return self.last_id


def hid_core_of(usb: UsbCore) -> HidCore:
    """The HID core of the machine whose USB subsystem is `usb`.  Raises RuntimeError
    when the hid module is not loaded there.  Context: atomic."""
    core = _cores.get(usb)
    if core is None:
        raise RuntimeError("the hid module is not loaded on this machine (modprobe hid)")
    return core


def current_hid_core() -> HidCore:
    """The HID core of the machine whose code runs now (see `current_usbcore`).  Raises
    RuntimeError outside a machine or without the hid module.  Context: atomic."""
    return hid_core_of(current_usbcore())


# -- devices: allocate, add, destroy ---------------------------------------------------------------


def hid_allocate_device() -> HidDevice:
    """hid_allocate_device(): a fresh hid device on the running machine's hid bus, for a
    transport to fill in.  Raises RuntimeError without the hid module.  Context: atomic."""
    hid = HidDevice(current_hid_core().bus)
    hid_close_report(hid)
    return hid


async def hid_add_device(hid: HidDevice) -> int:
    """hid_add_device(): read the report descriptor (ll parse), scan it for the group,
    name the device BBBB:VVVV:PPPP.NNNN and add it to the hid bus, where a driver may
    bind it.  Returns 0, or -EBUSY (added already), -ENODEV (ignored by quirk, or no
    descriptor), -EINVAL (the transport has no raw_request: "transport driver missing
    .raw_request()"), the parse hook's error.  A driver refusing the device does not
    fail this.  Context: may sleep."""
    if hid.status & HidStat.ADDED:
        return -Errno.EBUSY
    hid.quirks = hid_lookup_quirk(hid)
    if hid_ignore(hid):
        return -Errno.ENODEV
    ll = _ll(hid)
    if ll.raw_request is None:
        hid_err(hid, "transport driver missing .raw_request()")
        return -Errno.EINVAL
    ret = await ll.parse(hid)
    if ret:
        return ret
    if hid.dev_rdesc is None:
        return -Errno.ENODEV
    core = hid.core
    if core.ignore_special_drivers():
        hid.group = HID_GROUP_GENERIC
    elif not hid.group and not hid.quirks & HidQuirk.HAVE_SPECIAL_DRIVER:
        ret = hid_scan_report(hid)
        if ret:
            hid_warn(hid, f"bad device descriptor ({ret})")
    hid.id = core.next_id()
    hid.name = (f"{hid.bustype:04X}:{hid.vendor & _U32:04X}:{hid.product & _U32:04X}."
                f"{hid.id:04X}")
    await core.driver_core.device_add(hid)
    hid.status |= HidStat.ADDED
    return 0


async def hid_destroy_device(hid: HidDevice) -> None:
    """hid_destroy_device(): remove the device from the bus (its driver lets go first)
    and free what was parsed.  Context: may sleep."""
    if hid.status & HidStat.ADDED:
        await hid.core.driver_core.device_del(hid)
        hid.status &= ~HidStat.ADDED
    hid.dev_rdesc = None
    hid_close_report(hid)


# -- drivers -------------------------------------------------------------------------------------


async def _reprobe_given_up(core: HidCore) -> None:
    """__hid_bus_driver_added(): a device whose driver's match now refuses it (a
    specific driver arrived) is offered to the drivers again."""
    bus = core.bus
    for drv in tuple(bus.drivers):
        if not isinstance(drv, HidDriver) or drv.match is None:
            continue
        for dev in tuple(bus.devices):
            if not isinstance(dev, HidDevice) or dev.driver is not drv:
                continue
            if drv.match(dev, core.ignore_special_drivers()) \
                    or dev.status & HidStat.REPROBED:
                continue
            dev.status |= HidStat.REPROBED
            await core.driver_core.device_release_driver(dev)
            await core.driver_core.device_attach(dev)


async def _rescan_devices(core: HidCore) -> None:
    """bus_rescan_devices(): every unbound device is offered to the drivers."""
    for dev in tuple(core.bus.devices):
        if dev.driver is None and dev.registered:
            await core.driver_core.device_attach(dev)


async def hid_register_driver(hdrv: HidDriver) -> int:
    """hid_register_driver(): put the driver on the running machine's hid bus, bind the
    devices it matches, and take back those a generic driver holds that it wants.
    Returns 0, -ENODEV without the hid module, -EBUSY for a name taken.  Context: may
    sleep (module init)."""
    try:
        core = current_hid_core()
    except RuntimeError:
        return -Errno.ENODEV
    hdrv.bus = core.bus
    try:
        await core.driver_core.driver_register(hdrv)
    except OSError as exc:
        return -(exc.errno or Errno.EINVAL)
    await _reprobe_given_up(core)
    return 0


async def hid_unregister_driver(hdrv: HidDriver) -> None:
    """hid_unregister_driver(): unbind and remove the driver; the devices it had are
    offered to the others.  Context: may sleep (module exit)."""
    bus = hdrv.bus
    if not isinstance(bus, HidBusType):
        return
    await bus.core.driver_unregister(hdrv)
    await _rescan_devices(bus.hid_core)


def module_hid_driver(hdrv: HidDriver) -> None:
    """module_hid_driver(hdrv): the calling module's init registers the driver and its
    exit unregisters it.  Context: import time."""
    async def init() -> int:
        return await hid_register_driver(hdrv)

    async def exit() -> None:
        await hid_unregister_driver(hdrv)

    module_driver(init, exit, caller_depth=2)


def hid_compare_device_paths(a: HidDevice, b: HidDevice, separator: str) -> bool:
    """hid_compare_device_paths(): both phys strings share the part before their last
    `separator` (and have one).  Context: atomic."""
    n1, n2 = a.phys.rfind(separator), b.phys.rfind(separator)
    if n1 != n2 or n1 <= 0:
        return False
    return a.phys[:n1] == b.phys[:n2]
