"""HID class constants — counterpart of include/linux/hid.h and of the HID 1.11 specification.

The numbers a HID device and its host agree on beyond chapter 9: class request codes (HID 1.11
§7.2), the class descriptor types (§7.1), the boot interface subclass and protocol codes
(§4.2, §4.3), the report types carried in GET_REPORT / SET_REPORT, and `hid_descriptor()`, which
builds the 9-byte HID descriptor (§6.2.1) a device puts after its interface descriptor.  As
`usbemu.spec.descriptors` says, class-specific descriptors travel as raw `extra` bytes, so
the builder returns bytes.  Report descriptors are not parsed here.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Final


class HidRequest(IntEnum):
    """Class-specific bRequest codes (HID 1.11 §7.2, hid.h HID_REQ_*)."""

    GET_REPORT = 0x01
    GET_IDLE = 0x02
    GET_PROTOCOL = 0x03
    SET_REPORT = 0x09
    SET_IDLE = 0x0A
    SET_PROTOCOL = 0x0B


class HidDescriptorType(IntEnum):
    """Class descriptor types (HID 1.11 §7.1, hid.h HID_DT_*): USB_TYPE_CLASS | 1..3."""

    HID = 0x21
    REPORT = 0x22
    PHYSICAL = 0x23


class HidSubclass(IntEnum):
    """bInterfaceSubClass of a HID interface (HID 1.11 §4.2)."""

    NONE = 0
    BOOT = 1  #: USB_INTERFACE_SUBCLASS_BOOT


class HidBootProtocol(IntEnum):
    """bInterfaceProtocol of a boot interface (HID 1.11 §4.3, USB_INTERFACE_PROTOCOL_*)."""

    NONE = 0
    KEYBOARD = 1
    MOUSE = 2


class HidProtocol(IntEnum):
    """wValue of SET_PROTOCOL and the byte GET_PROTOCOL returns (HID 1.11 §7.2.5/§7.2.6;
    hid.h HID_BOOT_PROTOCOL / HID_REPORT_PROTOCOL)."""

    BOOT = 0
    REPORT = 1


class HidReportType(IntEnum):
    """Report type in the high byte of wValue of GET_REPORT / SET_REPORT (HID 1.11 §7.2.1).

    These are the wire values; Linux's `enum hid_report_type` (HID_INPUT_REPORT = 0 …) is
    one less, and usbhid adds one when it builds the request.
    """

    INPUT = 1
    OUTPUT = 2
    FEATURE = 3


HID_DESCRIPTOR_SIZE: Final = 9
#: SET_IDLE / GET_IDLE duration unit: wValue's high byte counts 4 ms steps, 0 = indefinite.
HID_IDLE_UNIT_MS: Final = 4

_HID_DESC: Final = struct.Struct("<BBHBBBH")


def hid_descriptor(report_len: int, country: int = 0, bcdHID: int = 0x0111) -> bytes:
    """The 9-byte HID descriptor (HID 1.11 §6.2.1) announcing one report descriptor of
    `report_len` bytes; goes in the interface's `extra` bytes.

    Context: pure function.  Raises ValueError when a field does not fit its size.
    """
    if not 0 <= report_len <= 0xFFFF:
        raise ValueError(f"report_len={report_len!r} does not fit wDescriptorLength (16 bits)")
    if not 0 <= country <= 0xFF:
        raise ValueError(f"country={country!r} does not fit bCountryCode (one byte)")
    if not 0 <= bcdHID <= 0xFFFF:
        raise ValueError(f"bcdHID={bcdHID!r} does not fit two bytes")
    return _HID_DESC.pack(HID_DESCRIPTOR_SIZE, HidDescriptorType.HID, bcdHID, country, 1,
                          HidDescriptorType.REPORT, report_len)
