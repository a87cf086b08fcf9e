"""Hub class constants and descriptor — counterpart of include/uapi/linux/usb/ch11.h.

The numbers a hub and its host agree on (USB 2.0 chapter 11, USB 3.2 chapter 10): class
request codes and request types, hub and port feature selectors, the wPortStatus /
wPortChange and wHubStatus / wHubChange bits, the wHubCharacteristics fields and the hub
device protocols, with Linux's names and values.  `HubDescriptor` builds and decodes the
USB 2.0 hub descriptor (type 0x29), `PortStatus` / `HubStatus` pack and unpack the 4-byte
GET_STATUS replies, and `status_change_bitmap` builds what the status-change endpoint sends.
Nothing here does I/O or keeps port state: the hub device model is
`usbemu.emulated.models.hub`, the host's hub driver lives in `usbemu.core`.  The SuperSpeed
hub descriptor (type 0x2A) is not modelled, only its constants.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import ClassVar, Final

from .ch9 import DescriptorType, Speed
from .descriptors import DescriptorError

# -- requests (USB 2.0 §11.24.1, tables 11-15 and 11-16) ----------------------------------------

USB_RT_HUB: Final = 0x20
"""bmRequestType of a hub-recipient class request (USB_TYPE_CLASS | USB_RECIP_DEVICE)."""
USB_RT_PORT: Final = 0x23
"""bmRequestType of a port-recipient class request (USB_TYPE_CLASS | USB_RECIP_OTHER)."""


class HubRequestType(IntEnum):
    """The four bmRequestType values hub class requests use (IN adds USB_DIR_IN)."""

    HUB_OUT = USB_RT_HUB
    PORT_OUT = USB_RT_PORT
    HUB_IN = 0x80 | USB_RT_HUB
    PORT_IN = 0x80 | USB_RT_PORT


class HubRequest(IntEnum):
    """Hub class bRequest codes (USB 2.0 table 11-16, USB 3.2 table 10-8)."""

    GET_STATUS = 0
    CLEAR_FEATURE = 1
    SET_FEATURE = 3
    GET_DESCRIPTOR = 6
    SET_DESCRIPTOR = 7
    CLEAR_TT_BUFFER = 8
    RESET_TT = 9
    GET_TT_STATE = 10
    STOP_TT = 11
    SET_DEPTH = 12  # SuperSpeed
    GET_PORT_ERR_COUNT = 13  # SuperSpeed


class PortStatusType(IntEnum):
    """wValue of GetPortStatus (HUB_PORT_STATUS …); only STATUS exists before USB 3.1."""

    STATUS = 0
    PD_STATUS = 1
    EXT_STATUS = 2


# -- feature selectors (USB 2.0 table 11-17, USB 3.2 table 10-9) --------------------------------


class HubFeature(IntEnum):
    """Hub feature selectors for Set/ClearHubFeature."""

    C_HUB_LOCAL_POWER = 0
    C_HUB_OVER_CURRENT = 1


class PortFeature(IntEnum):
    """USB 2.0 port feature selectors for Set/ClearPortFeature (USB_PORT_FEAT_*)."""

    CONNECTION = 0
    ENABLE = 1
    SUSPEND = 2  # L2 suspend
    OVER_CURRENT = 3
    RESET = 4
    L1 = 5  # L1 suspend (LPM ECN)
    POWER = 8
    LOWSPEED = 9  # should never be used
    C_CONNECTION = 16
    C_ENABLE = 17
    C_SUSPEND = 18
    C_OVER_CURRENT = 19
    C_RESET = 20
    TEST = 21
    INDICATOR = 22
    C_PORT_L1 = 23


class SsPortFeature(IntEnum):
    """Port feature selectors added by USB 3.0 (values 5 and 23 differ from USB 2.0)."""

    LINK_STATE = 5
    U1_TIMEOUT = 23
    U2_TIMEOUT = 24
    C_PORT_LINK_STATE = 25
    C_PORT_CONFIG_ERROR = 26
    REMOTE_WAKE_MASK = 27
    BH_PORT_RESET = 28
    C_BH_PORT_RESET = 29
    FORCE_LINKPM_ACCEPT = 30


class HubLed(IntEnum):
    """Port indicator selectors, high byte of wIndex in SetPortFeature(PORT_INDICATOR)."""

    AUTO = 0
    AMBER = 1
    GREEN = 2
    OFF = 3


# -- status words (USB 2.0 tables 11-19 … 11-22, USB 3.2 tables 10-10, 10-11) -------------------


class PortStat(IntFlag):
    """wPortStatus bits of a USB 2.0 port (USB_PORT_STAT_*)."""

    CONNECTION = 0x0001
    ENABLE = 0x0002
    SUSPEND = 0x0004
    OVERCURRENT = 0x0008
    RESET = 0x0010
    L1 = 0x0020
    POWER = 0x0100
    LOW_SPEED = 0x0200
    HIGH_SPEED = 0x0400
    TEST = 0x0800
    INDICATOR = 0x1000


class PortChange(IntFlag):
    """wPortChange bits of a USB 2.0 port (USB_PORT_STAT_C_*)."""

    C_CONNECTION = 0x0001
    C_ENABLE = 0x0002
    C_SUSPEND = 0x0004
    C_OVERCURRENT = 0x0008
    C_RESET = 0x0010
    C_L1 = 0x0020


class SsPortChange(IntFlag):
    """wPortChange bits that only SuperSpeed ports report (0x20 means C_L1 on USB 2.0)."""

    C_BH_RESET = 0x0020
    C_LINK_STATE = 0x0040
    C_CONFIG_ERROR = 0x0080


# The same bits as plain ints under hub.c's names, for code that tests status words (an
# IntFlag operand builds a flag object for each & and |).
USB_PORT_STAT_CONNECTION: Final = PortStat.CONNECTION.value
USB_PORT_STAT_ENABLE: Final = PortStat.ENABLE.value
USB_PORT_STAT_SUSPEND: Final = PortStat.SUSPEND.value
USB_PORT_STAT_OVERCURRENT: Final = PortStat.OVERCURRENT.value
USB_PORT_STAT_RESET: Final = PortStat.RESET.value
USB_PORT_STAT_POWER: Final = PortStat.POWER.value
USB_PORT_STAT_LOW_SPEED: Final = PortStat.LOW_SPEED.value
USB_PORT_STAT_HIGH_SPEED: Final = PortStat.HIGH_SPEED.value
USB_PORT_STAT_C_CONNECTION: Final = PortChange.C_CONNECTION.value
USB_PORT_STAT_C_ENABLE: Final = PortChange.C_ENABLE.value
USB_PORT_STAT_C_SUSPEND: Final = PortChange.C_SUSPEND.value
USB_PORT_STAT_C_OVERCURRENT: Final = PortChange.C_OVERCURRENT.value
USB_PORT_STAT_C_RESET: Final = PortChange.C_RESET.value
USB_PORT_STAT_LINK_STATE: Final = 0x01E0
USB_SS_PORT_STAT_POWER: Final = 0x0200
USB_SS_PORT_STAT_SPEED: Final = 0x1C00
USB_PORT_STAT_SPEED_5GBPS: Final = 0x0000
USB_SS_PORT_STAT_MASK: Final = (PortStat.CONNECTION | PortStat.ENABLE | PortStat.OVERCURRENT
                                | PortStat.RESET)


class SsLinkState(IntEnum):
    """PORT_LINK_STATE values, bits 8..5 of a SuperSpeed wPortStatus (USB_SS_PORT_LS_*)."""

    U0 = 0x0000
    U1 = 0x0020
    U2 = 0x0040
    U3 = 0x0060
    SS_DISABLED = 0x0080
    RX_DETECT = 0x00A0
    SS_INACTIVE = 0x00C0
    POLLING = 0x00E0
    RECOVERY = 0x0100
    HOT_RESET = 0x0120
    COMP_MOD = 0x0140
    LOOPBACK = 0x0160


class HubStat(IntFlag):
    """wHubStatus bits (HUB_STATUS_*): LOCAL_POWER set means the local supply is lost."""

    LOCAL_POWER = 0x0001
    OVERCURRENT = 0x0002


class HubChange(IntFlag):
    """wHubChange bits (HUB_CHANGE_*)."""

    C_LOCAL_POWER = 0x0001
    C_OVERCURRENT = 0x0002


# -- hub descriptor fields (USB 2.0 table 11-13) ------------------------------------------------

HUB_CHAR_LPSM: Final = 0x0003
HUB_CHAR_COMPOUND: Final = 0x0004
HUB_CHAR_OCPM: Final = 0x0018
HUB_CHAR_TTTT: Final = 0x0060
HUB_CHAR_PORTIND: Final = 0x0080


class PowerSwitching(IntEnum):
    """wHubCharacteristics bits 1..0, Logical Power Switching Mode (HUB_CHAR_*_LPSM)."""

    GANGED = 0x0000
    PER_PORT = 0x0001
    NONE = 0x0002  # 0x0003 is read the same way ("1X": USB 1.0 hubs)


class OverCurrentProtection(IntEnum):
    """wHubCharacteristics bits 4..3, Over-Current Protection Mode (HUB_CHAR_*_OCPM)."""

    GLOBAL = 0x0000
    PER_PORT = 0x0008
    NONE = 0x0010  # 0x0018 is read the same way


class TtThinkTime(IntEnum):
    """wHubCharacteristics bits 6..5, TT think time in full-speed bit times (HUB_TTTT_*)."""

    BITS_8 = 0x0000
    BITS_16 = 0x0020
    BITS_24 = 0x0040
    BITS_32 = 0x0060


class HubProtocol(IntEnum):
    """bDeviceProtocol / bInterfaceProtocol of hubs (USB_HUB_PR_*)."""

    FS = 0
    HS_NO_TT = 0
    HS_SINGLE_TT = 1
    HS_MULTI_TT = 2
    SS = 3


@dataclass(frozen=True, slots=True)
class HubCharacteristics:
    """wHubCharacteristics as named fields; `int()` packs them, `from_int` decodes."""

    power_switching: PowerSwitching = PowerSwitching.PER_PORT
    over_current: OverCurrentProtection = OverCurrentProtection.PER_PORT
    tt_think_time: TtThinkTime = TtThinkTime.BITS_8
    compound: bool = False
    port_indicators: bool = False

    def __int__(self) -> int:
        return (self.power_switching | self.over_current | self.tt_think_time
                | (HUB_CHAR_COMPOUND if self.compound else 0)
                | (HUB_CHAR_PORTIND if self.port_indicators else 0))

    @classmethod
    def from_int(cls, value: int) -> HubCharacteristics:
        """Decode a wHubCharacteristics word; reserved bits are ignored."""
        lpsm = value & HUB_CHAR_LPSM
        ocpm = value & HUB_CHAR_OCPM
        return cls(PowerSwitching.NONE if lpsm & 0x2 else PowerSwitching(lpsm),
                   (OverCurrentProtection.NONE if ocpm & 0x10
                    else OverCurrentProtection(ocpm)),
                   TtThinkTime(value & HUB_CHAR_TTTT),
                   bool(value & HUB_CHAR_COMPOUND), bool(value & HUB_CHAR_PORTIND))


USB_DT_HUB_NONVAR_SIZE: Final = 7
USB_DT_SS_HUB_SIZE: Final = 12
USB_MAXCHILDREN: Final = 31
"""Most ports Linux handles on one hub (hub.c refuses more: "hub has too many ports!")."""
USB_SS_MAXPORTS: Final = 15


def hub_bitmap_len(nports: int) -> int:
    """Bytes of a per-port bitmap with bit 0 reserved: ⌈(nports + 1) / 8⌉."""
    return (nports + 8) // 8


def _check(name: str, value: int, limit: int) -> None:
    if not 0 <= value <= limit:
        raise ValueError(f"{name}={value!r} is outside 0..{limit:#x}")


_HUB_FIXED: Final = struct.Struct("<BBBHBB")


@dataclass(frozen=True, slots=True)
class HubDescriptor:
    """The USB 2.0 hub descriptor (USB 2.0 §11.23.2.1, type 0x29).

    `DeviceRemovable` and `PortPwrCtrlMask` are the raw bitmaps, ⌈(bNbrPorts + 1) / 8⌉
    bytes each, bit 0 reserved and bit N for port N; a set DeviceRemovable bit means the
    device on that port is *not* removable.  Left empty they take the spec's defaults: all
    removable (zeros) and PortPwrCtrlMask all ones (USB 1.0 compatibility).  `bDescLength`
    None means the real length; a value overrides it (the bytes are cut or zero-padded), as
    hostile-device tests need.  Raises ValueError naming the field that does not fit.
    """

    bNbrPorts: int
    wHubCharacteristics: int = 0
    bPwrOn2PwrGood: int = 0
    bHubContrCurrent: int = 0
    DeviceRemovable: bytes = b""
    PortPwrCtrlMask: bytes = b""
    bDescLength: int | None = None
    #: Bytes after the bitmaps, in a descriptor longer than they need.
    trailing: bytes = b""

    bDescriptorType: ClassVar[int] = DescriptorType.HUB

    def __post_init__(self) -> None:
        for name, limit in (("bNbrPorts", 0xFF), ("wHubCharacteristics", 0xFFFF),
                            ("bPwrOn2PwrGood", 0xFF), ("bHubContrCurrent", 0xFF)):
            _check(name, getattr(self, name), limit)
        if self.bDescLength is not None:
            _check("bDescLength", self.bDescLength, 0xFF)
        size = hub_bitmap_len(self.bNbrPorts)
        for name, default in (("DeviceRemovable", 0x00), ("PortPwrCtrlMask", 0xFF)):
            value = bytes(getattr(self, name)) or bytes((default,)) * size
            if len(value) != size:
                raise ValueError(f"{name} of a {self.bNbrPorts}-port hub is {size} bytes, "
                                 f"got {len(value)}")
            object.__setattr__(self, name, value)

    @property
    def size(self) -> int:
        """bDescLength: 7 fixed bytes plus both bitmaps unless overridden."""
        if self.bDescLength is not None:
            return self.bDescLength
        return USB_DT_HUB_NONVAR_SIZE + 2 * hub_bitmap_len(self.bNbrPorts) + len(self.trailing)

    @property
    def characteristics(self) -> HubCharacteristics:
        """wHubCharacteristics decoded into its fields."""
        return HubCharacteristics.from_int(self.wHubCharacteristics)

    def removable(self, port1: int) -> bool:
        """True when DeviceRemovable says the device on `port1` (1-based) is removable."""
        if not 1 <= port1 <= self.bNbrPorts:
            raise ValueError(f"port {port1} is outside 1..{self.bNbrPorts}")
        return not self.DeviceRemovable[port1 // 8] & (1 << (port1 % 8))

    def to_bytes(self) -> bytes:
        """The descriptor as GetHubDescriptor returns it."""
        length = self.size
        raw = (_HUB_FIXED.pack(length, self.bDescriptorType, self.bNbrPorts,
                               self.wHubCharacteristics, self.bPwrOn2PwrGood,
                               self.bHubContrCurrent)
               + self.DeviceRemovable + self.PortPwrCtrlMask + self.trailing)
        return raw[:length].ljust(length, b"\0")

    __bytes__ = to_bytes

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> HubDescriptor:
        """Decode a hub descriptor the way hub.c accepts one.

        bDescLength bounds the data; the fixed part and DeviceRemovable must be present.
        What bDescLength covers but the data lacks reads as zeros (hub.c's buffer is
        zeroed); a PortPwrCtrlMask beyond bDescLength takes its default, and bytes after
        the bitmaps are kept in `trailing`, so `to_bytes()` gives back the data.  Raises
        DescriptorError on short data or a bDescriptorType other than 0x29.
        """
        if len(data) < USB_DT_HUB_NONVAR_SIZE:
            raise DescriptorError(f"hub descriptor needs at least {USB_DT_HUB_NONVAR_SIZE} "
                                  f"bytes, got {len(data)}")
        if data[1] != DescriptorType.HUB:
            raise DescriptorError(f"hub descriptor has bDescriptorType {data[1]:#04x}, "
                                  f"expected {DescriptorType.HUB:#04x}")
        length, _, nports, chars, pwr_good, current = _HUB_FIXED.unpack_from(data)
        size = hub_bitmap_len(nports)
        end = min(length, len(data))
        if end < USB_DT_HUB_NONVAR_SIZE + size:
            raise DescriptorError(f"hub descriptor of a {nports}-port hub needs "
                                  f"{USB_DT_HUB_NONVAR_SIZE + size} bytes, got {end}")
        mask_at, tail_at = USB_DT_HUB_NONVAR_SIZE + size, USB_DT_HUB_NONVAR_SIZE + 2 * size
        described = bytes(data[:length]).ljust(length, b"\0")
        mask = described[mask_at:tail_at].ljust(size, b"\xff") if length > mask_at else b""
        return cls(nports, chars, pwr_good, current, described[USB_DT_HUB_NONVAR_SIZE:mask_at],
                   mask, bDescLength=length, trailing=described[tail_at:])


# -- GET_STATUS replies -------------------------------------------------------------------------

_STATUS: Final = struct.Struct("<HH")


def _unpack_words(data: bytes | bytearray | memoryview, what: str) -> tuple[int, int]:
    if len(data) != _STATUS.size:
        raise ValueError(f"a {what} reply is {_STATUS.size} bytes, got {len(data)}")
    status, change = _STATUS.unpack(data)
    return status, change


@dataclass(frozen=True, slots=True)
class PortStatus:
    """GetPortStatus reply (struct usb_port_status): wPortStatus then wPortChange, LE.

    `bytes(status)` / `pack()` encode it; `unpack(data)` decodes exactly 4 bytes and raises
    ValueError otherwise.  `str()` gives lsusb's `change.status` notation, e.g. `0000.0503`.
    """

    wPortStatus: int
    wPortChange: int = 0

    def __post_init__(self) -> None:
        _check("wPortStatus", self.wPortStatus, 0xFFFF)
        _check("wPortChange", self.wPortChange, 0xFFFF)

    def __bytes__(self) -> bytes:
        return _STATUS.pack(self.wPortStatus, self.wPortChange)

    pack = __bytes__

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> PortStatus:
        return cls(*_unpack_words(data, "GetPortStatus"))

    @property
    def status(self) -> PortStat:
        return PortStat(self.wPortStatus)

    @property
    def change(self) -> PortChange:
        return PortChange(self.wPortChange)

    def __str__(self) -> str:
        return f"{self.wPortChange:04x}.{self.wPortStatus:04x}"


@dataclass(frozen=True, slots=True)
class HubStatus:
    """GetHubStatus reply (struct usb_hub_status): wHubStatus then wHubChange, LE."""

    wHubStatus: int = 0
    wHubChange: int = 0

    def __post_init__(self) -> None:
        _check("wHubStatus", self.wHubStatus, 0xFFFF)
        _check("wHubChange", self.wHubChange, 0xFFFF)

    def __bytes__(self) -> bytes:
        return _STATUS.pack(self.wHubStatus, self.wHubChange)

    pack = __bytes__

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> HubStatus:
        return cls(*_unpack_words(data, "GetHubStatus"))

    @property
    def status(self) -> HubStat:
        return HubStat(self.wHubStatus)

    @property
    def change(self) -> HubChange:
        return HubChange(self.wHubChange)


# -- status-change endpoint (USB 2.0 §11.12.4) --------------------------------------------------


def status_change_bitmap(changed_ports: Iterable[int], hub_changed: bool, nports: int) -> bytes:
    """The status-change endpoint's data: bit 0 = hub, bit N = port N, LSB first,
    ⌈(nports + 1) / 8⌉ bytes.  Raises ValueError for a port outside 1..nports."""
    bits = int(hub_changed)
    for port1 in changed_ports:
        if not 1 <= port1 <= nports:
            raise ValueError(f"port {port1} is outside 1..{nports}")
        bits |= 1 << port1
    return bits.to_bytes(hub_bitmap_len(nports), "little")


# -- speed in wPortStatus (hub.c hub_port_init) -------------------------------------------------


def port_speed(wPortStatus: int) -> Speed:
    """Speed of the device on a USB 2.0 port, read as hub.c does after a reset."""
    if wPortStatus & PortStat.HIGH_SPEED:
        return Speed.HIGH
    if wPortStatus & PortStat.LOW_SPEED:
        return Speed.LOW
    return Speed.FULL


_SPEED_BITS: Final = {Speed.LOW: PortStat.LOW_SPEED, Speed.HIGH: PortStat.HIGH_SPEED}


def speed_status_bits(speed: Speed) -> PortStat:
    """The wPortStatus speed bits that report `speed` (none for full speed)."""
    return _SPEED_BITS.get(speed, PortStat(0))
