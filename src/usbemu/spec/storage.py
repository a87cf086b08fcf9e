"""USB mass storage, Bulk-Only Transport — counterpart of Linux's include/linux/usb/storage.h
and the wire structures of drivers/usb/storage/transport.h.

The class's subclass and protocol codes, its two class requests, and the Command Block
Wrapper and Command Status Wrapper as bytes: `Cbw.pack`/`Cbw.unpack` and
`Csw.pack`/`Csw.unpack` check signatures and lengths the way usb-storage and a device
check them.  Sans-I/O: no endpoint, no host.  Not covered: CBI and UAS wire formats.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

__all__ = ["CBW_LEN", "CBW_SIGNATURE", "CSW_LEN", "CSW_SIGNATURE", "BulkStatus", "Cbw", "Csw",
           "StorageProtocol", "StorageRequest", "StorageSubclass"]


class StorageSubclass(IntEnum):
    """bInterfaceSubClass of class 0x08 (USB_SC_*)."""

    RBC = 0x01
    SFF8020 = 0x02
    QIC = 0x03
    UFI = 0x04
    SFF8070 = 0x05
    SCSI = 0x06
    LOCKABLE = 0x07
    ISD200 = 0xF0
    CYP_ATACB = 0xF1
    DEVICE = 0xFF  #: use the interface descriptor's value (unusual_devs)


class StorageProtocol(IntEnum):
    """bInterfaceProtocol of class 0x08 (USB_PR_*)."""

    CBI = 0x00
    CB = 0x01
    BULK = 0x50
    UAS = 0x62
    DEVICE = 0xFF


class StorageRequest(IntEnum):
    """Bulk-Only class requests (to the interface)."""

    GET_MAX_LUN = 0xFE  #: bmRequestType 0xA1, one byte: the highest LUN
    RESET = 0xFF  #: bmRequestType 0x21, Bulk-Only Mass Storage Reset


CBW_SIGNATURE: Final = 0x43425355  # "USBC"
CSW_SIGNATURE: Final = 0x53425355  # "USBS"
CBW_LEN: Final = 31
CSW_LEN: Final = 13
#: bmCBWFlags: data from the device to the host.
CBW_FLAG_IN: Final = 0x80
#: The longest command block a CBW carries.
CBW_MAX_CB: Final = 16


class BulkStatus(IntEnum):
    """bCSWStatus (US_BULK_STAT_*)."""

    OK = 0
    FAIL = 1
    PHASE = 2


_CBW: Final = struct.Struct("<IIIBBB16s")
_CSW: Final = struct.Struct("<IIIB")


@dataclass(frozen=True, slots=True)
class Cbw:
    """A Command Block Wrapper: tag, expected data length, direction, LUN, command block."""

    tag: int
    data_transfer_length: int
    flags: int
    lun: int
    cb: bytes

    @property
    def is_in(self) -> bool:
        return bool(self.flags & CBW_FLAG_IN)

    def pack(self, signature: int = CBW_SIGNATURE) -> bytes:
        """The 31 bytes on the wire.  Raises ValueError for a command block longer than
        16 bytes or a LUN above 15."""
        if not 1 <= len(self.cb) <= CBW_MAX_CB:
            raise ValueError(f"a CBW carries 1..16 command bytes, not {len(self.cb)}")
        if not 0 <= self.lun <= 15:
            raise ValueError(f"LUN {self.lun}: a CBW has 4 bits for it")
        return _CBW.pack(signature, self.tag & 0xFFFFFFFF, self.data_transfer_length,
                         self.flags, self.lun, len(self.cb), self.cb)

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> Cbw:
        """A CBW from the wire; ValueError when it is not one a device may accept (length
        other than 31, wrong signature, bCBWCBLength outside 1..16, reserved bits set)."""
        raw = bytes(data)
        if len(raw) != CBW_LEN:
            raise ValueError(f"a CBW is {CBW_LEN} bytes, got {len(raw)}")
        sig, tag, length, flags, lun, cb_len, cb = _CBW.unpack(raw)
        if sig != CBW_SIGNATURE:
            raise ValueError(f"CBW signature {sig:#010x}, expected {CBW_SIGNATURE:#010x}")
        if not 1 <= cb_len <= CBW_MAX_CB or lun & 0xF0 or flags & 0x7F:
            raise ValueError(f"meaningless CBW: bCBWCBLength {cb_len}, bCBWLUN {lun:#x}, "
                             f"flags {flags:#x}")
        return cls(tag, length, flags, lun, cb[:cb_len])


@dataclass(frozen=True, slots=True)
class Csw:
    """A Command Status Wrapper: tag, data residue, status."""

    tag: int
    residue: int
    status: int

    def pack(self, signature: int = CSW_SIGNATURE) -> bytes:
        """The 13 bytes on the wire (`signature` lets a test device lie)."""
        return _CSW.pack(signature, self.tag & 0xFFFFFFFF, self.residue & 0xFFFFFFFF,
                         self.status & 0xFF)

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> tuple[int, Csw]:
        """(signature, CSW) from at least 13 bytes, unchecked: usb-storage decides what a
        bad signature or tag means (usb_stor_Bulk_transport).  Raises ValueError when
        fewer than 13 bytes came."""
        raw = bytes(data)
        if len(raw) < CSW_LEN:
            raise ValueError(f"a CSW is {CSW_LEN} bytes, got {len(raw)}")
        sig, tag, residue, status = _CSW.unpack_from(raw)
        return sig, cls(tag, residue, status)
