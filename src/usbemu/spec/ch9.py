"""USB 2.0 chapter 9 constants and the setup packet — counterpart of include/uapi/linux/usb/ch9.h.

Every number a USB device and its host agree on without class knowledge: request types and
codes, descriptor types, feature selectors, class codes, speeds, endpoint types and the
chapter 9 device states, with Linux's names and values.  `SetupPacket` packs and unpacks the
8-byte SETUP stage.  Nothing here does I/O or knows about hosts or devices; the descriptor
structures live in `usbemu.spec.descriptors`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from functools import lru_cache
from typing import ClassVar, Final

# -- bmRequestType (USB 2.0 §9.3.1) -----------------------------------------------------------


class Direction(IntEnum):
    """Data-stage direction, bit 7 of bmRequestType and of bEndpointAddress."""

    OUT = 0x00
    IN = 0x80


class RequestType(IntEnum):
    """Bits 6..5 of bmRequestType."""

    STANDARD = 0x00
    CLASS = 0x20
    VENDOR = 0x40
    RESERVED = 0x60


class Recipient(IntEnum):
    """Bits 4..0 of bmRequestType."""

    DEVICE = 0x00
    INTERFACE = 0x01
    ENDPOINT = 0x02
    OTHER = 0x03


USB_DIR_MASK: Final = 0x80
USB_TYPE_MASK: Final = 0x60
USB_RECIP_MASK: Final = 0x1F


class Request(IntEnum):
    """Standard bRequest codes (USB 2.0 table 9-4, USB 3.2 table 9-5)."""

    GET_STATUS = 0x00
    CLEAR_FEATURE = 0x01
    SET_FEATURE = 0x03
    SET_ADDRESS = 0x05
    GET_DESCRIPTOR = 0x06
    SET_DESCRIPTOR = 0x07
    GET_CONFIGURATION = 0x08
    SET_CONFIGURATION = 0x09
    GET_INTERFACE = 0x0A
    SET_INTERFACE = 0x0B
    SYNCH_FRAME = 0x0C
    SET_SEL = 0x30
    SET_ISOCH_DELAY = 0x31


class DescriptorType(IntEnum):
    """bDescriptorType values (USB 2.0 table 9-5 and ch9.h)."""

    DEVICE = 0x01
    CONFIG = 0x02
    STRING = 0x03
    INTERFACE = 0x04
    ENDPOINT = 0x05
    DEVICE_QUALIFIER = 0x06
    OTHER_SPEED_CONFIG = 0x07
    INTERFACE_POWER = 0x08
    OTG = 0x09
    DEBUG = 0x0A
    INTERFACE_ASSOCIATION = 0x0B
    SECURITY = 0x0C
    KEY = 0x0D
    ENCRYPTION_TYPE = 0x0E
    BOS = 0x0F
    DEVICE_CAPABILITY = 0x10
    WIRELESS_ENDPOINT_COMP = 0x11
    HID = 0x21
    REPORT = 0x22
    PHYSICAL = 0x23
    CS_INTERFACE = 0x24
    CS_ENDPOINT = 0x25
    HUB = 0x29
    SS_HUB = 0x2A
    SS_ENDPOINT_COMP = 0x30
    SSP_ISOC_ENDPOINT_COMP = 0x31


class DescriptorSize(IntEnum):
    """Sizes of the standard descriptors (USB_DT_*_SIZE)."""

    DEVICE = 18
    CONFIG = 9
    INTERFACE = 9
    ENDPOINT = 7
    ENDPOINT_AUDIO = 9
    INTERFACE_ASSOCIATION = 8
    BOS = 5
    DEVICE_QUALIFIER = 10
    SS_ENDPOINT_COMP = 6
    USB_EXT_CAP = 7
    SS_CAP = 10
    CONTAINER_ID = 20


class Feature(IntEnum):
    """Standard feature selectors (USB 2.0 table 9-6)."""

    ENDPOINT_HALT = 0
    DEVICE_REMOTE_WAKEUP = 1
    TEST_MODE = 2
    B_HNP_ENABLE = 3
    A_HNP_SUPPORT = 4
    A_ALT_HNP_SUPPORT = 5
    FUNCTION_SUSPEND = 0
    U1_ENABLE = 48
    U2_ENABLE = 49
    LTM_ENABLE = 50


class DeviceStatus(IntFlag):
    """GET_STATUS(device) bits (USB 2.0 figure 9-4)."""

    SELF_POWERED = 0x0001
    REMOTE_WAKEUP = 0x0002


class EndpointStatus(IntFlag):
    """GET_STATUS(endpoint) bits (USB 2.0 figure 9-6)."""

    HALT = 0x0001


class ClassCode(IntEnum):
    """bDeviceClass / bInterfaceClass values (ch9.h USB_CLASS_*)."""

    PER_INTERFACE = 0x00
    AUDIO = 0x01
    COMM = 0x02
    HID = 0x03
    PHYSICAL = 0x05
    STILL_IMAGE = 0x06
    PRINTER = 0x07
    MASS_STORAGE = 0x08
    HUB = 0x09
    CDC_DATA = 0x0A
    CSCID = 0x0B
    CONTENT_SEC = 0x0D
    VIDEO = 0x0E
    PERSONAL_HEALTHCARE = 0x0F
    AUDIO_VIDEO = 0x10
    BILLBOARD = 0x11
    USB_TYPE_C_BRIDGE = 0x12
    WIRELESS_CONTROLLER = 0xE0
    MISC = 0xEF
    APP_SPEC = 0xFE
    VENDOR_SPEC = 0xFF


class EndpointType(IntEnum):
    """bmAttributes bits 1..0 of an endpoint (USB_ENDPOINT_XFER_*)."""

    CONTROL = 0
    ISOC = 1
    BULK = 2
    INT = 3


USB_ENDPOINT_NUMBER_MASK: Final = 0x0F
USB_ENDPOINT_DIR_MASK: Final = 0x80
USB_ENDPOINT_XFERTYPE_MASK: Final = 0x03
USB_ENDPOINT_SYNCTYPE: Final = 0x0C
USB_ENDPOINT_USAGE_MASK: Final = 0x30
USB_ENDPOINT_MAXP_MASK: Final = 0x07FF
USB_ENDPOINT_MAXP_MULT_SHIFT: Final = 11
USB_ENDPOINT_MAXP_MULT_MASK: Final = 3 << USB_ENDPOINT_MAXP_MULT_SHIFT


class ConfigAttributes(IntFlag):
    """Configuration bmAttributes (USB 2.0 table 9-10)."""

    ONE = 0x80  # must be set
    SELF_POWERED = 0x40
    REMOTE_WAKEUP = 0x20
    BATTERY = 0x10


class Speed(IntEnum):
    """enum usb_device_speed, with Linux's values."""

    UNKNOWN = 0
    LOW = 1
    FULL = 2
    HIGH = 3
    WIRELESS = 4
    SUPER = 5
    SUPER_PLUS = 6

    @property
    def linux_name(self) -> str:
        """`usb_speed_string()`: "high-speed", "full-speed", …"""
        return _SPEED_STRINGS[self]

    @property
    def is_superspeed(self) -> bool:
        return self >= Speed.SUPER


_SPEED_STRINGS: Final = {
    Speed.UNKNOWN: "UNKNOWN",
    Speed.LOW: "low-speed",
    Speed.FULL: "full-speed",
    Speed.HIGH: "high-speed",
    Speed.WIRELESS: "wireless",
    Speed.SUPER: "super-speed",
    Speed.SUPER_PLUS: "super-speed-plus",
}


class DeviceState(IntEnum):
    """enum usb_device_state (chapter 9 visible device states), with Linux's values."""

    NOTATTACHED = 0
    ATTACHED = 1
    POWERED = 2
    RECONNECTING = 3
    UNAUTHENTICATED = 4
    DEFAULT = 5
    ADDRESS = 6
    CONFIGURED = 7
    SUSPENDED = 8

    @property
    def linux_name(self) -> str:
        """`usb_state_string()`: "not attached", "addressed", …"""
        return _STATE_STRINGS[self]


_STATE_STRINGS: Final = {
    DeviceState.NOTATTACHED: "not attached",
    DeviceState.ATTACHED: "attached",
    DeviceState.POWERED: "powered",
    DeviceState.RECONNECTING: "reconnecting",
    DeviceState.UNAUTHENTICATED: "unauthenticated",
    DeviceState.DEFAULT: "default",
    DeviceState.ADDRESS: "addressed",
    DeviceState.CONFIGURED: "configured",
    DeviceState.SUSPENDED: "suspended",
}


class TestSelector(IntEnum):
    """TEST_MODE selectors (USB 2.0 table 9-7), sent in the high byte of wIndex."""

    __test__ = False  # not a pytest test class

    TEST_J = 1
    TEST_K = 2
    TEST_SE0_NAK = 3
    TEST_PACKET = 4
    TEST_FORCE_ENABLE = 5


LANGID_EN_US: Final = 0x0409

# Limits from include/linux/usb.h and drivers/usb/core/config.c.
USB_MAXCONFIG: Final = 8
USB_MAXINTERFACES: Final = 32
USB_MAXIADS: Final = USB_MAXINTERFACES // 2
USB_MAXALTSETTING: Final = 128
USB_MAXENDPOINTS: Final = 30
USB_MAX_ADDRESS: Final = 127


# -- the SETUP packet (USB 2.0 §9.3) ----------------------------------------------------------

_SETUP: Final = struct.Struct("<BBHHH")


@dataclass(frozen=True, slots=True)
class SetupPacket:
    """The 8-byte SETUP stage of a control transfer, with the spec's field names.

    `bytes(setup)` packs it little-endian; `SetupPacket.unpack(data)` is the inverse.
    """

    bmRequestType: int
    bRequest: int
    wValue: int = 0
    wIndex: int = 0
    wLength: int = 0

    SIZE: ClassVar[int] = 8

    def __post_init__(self) -> None:
        if (0 <= self.bmRequestType <= 0xFF and 0 <= self.bRequest <= 0xFF
                and 0 <= self.wValue <= 0xFFFF and 0 <= self.wIndex <= 0xFFFF
                and 0 <= self.wLength <= 0xFFFF):
            return
        for name, limit in (("bmRequestType", 0xFF), ("bRequest", 0xFF), ("wValue", 0xFFFF),
                            ("wIndex", 0xFFFF), ("wLength", 0xFFFF)):
            value = getattr(self, name)
            if not 0 <= value <= limit:
                raise ValueError(f"SetupPacket.{name}={value!r} is outside 0..{limit:#x}")

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> SetupPacket:
        """Decode 8 bytes; raises ValueError when `data` is not exactly 8 bytes long.
        Immutable bytes decode through a cache: the same packet comes back for the same
        8 bytes."""
        if len(data) != 8:
            raise ValueError(f"a SETUP packet is 8 bytes, got {len(data)}")
        if type(data) is bytes and cls is SetupPacket:
            return _unpack_bytes(data)
        return cls(*_SETUP.unpack(data))

    @staticmethod
    def pack_fields(bmRequestType: int, bRequest: int, wValue: int = 0, wIndex: int = 0,
                    wLength: int = 0) -> bytes:
        """The 8 bytes of a SETUP packet with these fields, without building one.  Raises
        ValueError, naming the field, when a value does not fit."""
        try:
            return _SETUP.pack(bmRequestType, bRequest, wValue, wIndex, wLength)
        except struct.error:
            SetupPacket(bmRequestType, bRequest, wValue, wIndex, wLength)   # names the field
            raise

    @classmethod
    def build(cls, direction: Direction, rtype: RequestType, recipient: Recipient,
              request: int, value: int = 0, index: int = 0, length: int = 0) -> SetupPacket:
        """Compose bmRequestType from its three parts."""
        return cls(direction | rtype | recipient, request, value, index, length)

    def __bytes__(self) -> bytes:
        return _SETUP.pack(self.bmRequestType, self.bRequest, self.wValue, self.wIndex,
                           self.wLength)

    pack = __bytes__

    @property
    def direction(self) -> Direction:
        return Direction(self.bmRequestType & USB_DIR_MASK)

    @property
    def type(self) -> RequestType:
        return RequestType(self.bmRequestType & USB_TYPE_MASK)

    @property
    def recipient(self) -> int:
        """Recipient bits; values above 3 are reserved and kept as plain ints."""
        return self.bmRequestType & USB_RECIP_MASK

    @property
    def is_in(self) -> bool:
        return bool(self.bmRequestType & USB_DIR_MASK)

    def __str__(self) -> str:
        """usbmon's notation: `80 06 0100 0000 0012`."""
        return (f"{self.bmRequestType:02x} {self.bRequest:02x} {self.wValue:04x} "
                f"{self.wIndex:04x} {self.wLength:04x}")


@lru_cache(maxsize=1024)
def _unpack_bytes(data: bytes) -> SetupPacket:
    return SetupPacket(*_SETUP.unpack(data))


def endpoint_number(address: int) -> int:
    """Endpoint number (0..15) of a bEndpointAddress."""
    return address & USB_ENDPOINT_NUMBER_MASK


def endpoint_is_in(address: int) -> bool:
    return bool(address & USB_DIR_MASK)


def maxp_packet(wMaxPacketSize: int) -> int:
    """Bytes per packet: wMaxPacketSize without the high-bandwidth multiplier bits."""
    return wMaxPacketSize & USB_ENDPOINT_MAXP_MASK


def maxp_mult(wMaxPacketSize: int) -> int:
    """Transactions per microframe for high-bandwidth high-speed periodic endpoints (1..3)."""
    return ((wMaxPacketSize & USB_ENDPOINT_MAXP_MULT_MASK) >> USB_ENDPOINT_MAXP_MULT_SHIFT) + 1
