"""SCSI as mass-storage devices speak it — counterpart of Linux's include/scsi/scsi_proto.h,
scsi_status.h and the sense-data helpers of drivers/scsi/scsi_common.c.

Numbers and byte layouts both sides of a disk need: operation codes, status bytes, sense
keys and the additional sense codes usb-storage devices report, fixed- and descriptor-format
sense data (built and parsed), the READ/WRITE CDBs of 6, 10 and 16 bytes, READ CAPACITY
(10)/(16) data and standard INQUIRY data.  Pure data and codecs: no I/O, no device or host
state.  It does not cover SCSI commands USB disks do not use (persistent reservations,
tape, changers) or variable-length CDBs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

__all__ = [
    "SENSE_BUFFERSIZE",
    "TYPE_DISK",
    "Asc",
    "InquiryData",
    "Opcode",
    "ReadCapacity",
    "SamStatus",
    "Sense",
    "SenseKey",
    "capacity_10",
    "capacity_16",
    "rw_cdb",
    "rw_range",
]


class Opcode(IntEnum):
    """SCSI operation codes (scsi_proto.h)."""

    TEST_UNIT_READY = 0x00
    REQUEST_SENSE = 0x03
    READ_6 = 0x08
    WRITE_6 = 0x0A
    INQUIRY = 0x12
    MODE_SELECT = 0x15
    MODE_SENSE = 0x1A
    START_STOP = 0x1B
    SEND_DIAGNOSTIC = 0x1D
    ALLOW_MEDIUM_REMOVAL = 0x1E
    READ_FORMAT_CAPACITIES = 0x23
    READ_CAPACITY = 0x25
    READ_10 = 0x28
    WRITE_10 = 0x2A
    VERIFY = 0x2F
    SYNCHRONIZE_CACHE = 0x35
    WRITE_BUFFER = 0x3B
    READ_BUFFER = 0x3C
    MODE_SELECT_10 = 0x55
    MODE_SENSE_10 = 0x5A
    ATA_16 = 0x85
    READ_16 = 0x88
    WRITE_16 = 0x8A
    SYNCHRONIZE_CACHE_16 = 0x91
    SERVICE_ACTION_IN_16 = 0x9E
    REPORT_LUNS = 0xA0
    ATA_12 = 0xA1
    MAINTENANCE_IN = 0xA3
    READ_12 = 0xA8
    WRITE_12 = 0xAA


#: SERVICE ACTION IN (16) service actions.
SAI_READ_CAPACITY_16: Final = 0x10
#: Peripheral device type of a direct-access block device.
TYPE_DISK: Final = 0x00
#: Peripheral qualifier + type of "no device at this LUN".
TYPE_NO_LUN: Final = 0x7F
#: SCSI_SENSE_BUFFERSIZE.
SENSE_BUFFERSIZE: Final = 96


class SamStatus(IntEnum):
    """SAM status codes (scsi_proto.h enum sam_status)."""

    GOOD = 0x00
    CHECK_CONDITION = 0x02
    CONDITION_MET = 0x04
    BUSY = 0x08
    RESERVATION_CONFLICT = 0x18
    TASK_SET_FULL = 0x28
    ACA_ACTIVE = 0x30
    TASK_ABORTED = 0x40


class SenseKey(IntEnum):
    """Sense keys (scsi_proto.h)."""

    NO_SENSE = 0x00
    RECOVERED_ERROR = 0x01
    NOT_READY = 0x02
    MEDIUM_ERROR = 0x03
    HARDWARE_ERROR = 0x04
    ILLEGAL_REQUEST = 0x05
    UNIT_ATTENTION = 0x06
    DATA_PROTECT = 0x07
    BLANK_CHECK = 0x08
    COPY_ABORTED = 0x0A
    ABORTED_COMMAND = 0x0B
    VOLUME_OVERFLOW = 0x0D
    MISCOMPARE = 0x0E


@dataclass(frozen=True, slots=True)
class Asc:
    """An additional sense code and qualifier, with its name from SPC's table."""

    asc: int
    ascq: int
    name: str


#: The additional sense codes USB disks report (SPC-4 Annex D), by what they mean.
NO_ADDITIONAL_SENSE: Final = Asc(0x00, 0x00, "No additional sense information")
NOT_READY_BECOMING_READY: Final = Asc(0x04, 0x01, "Logical unit is in process of becoming ready")
WRITE_ERROR: Final = Asc(0x0C, 0x00, "Write error")
UNRECOVERED_READ_ERROR: Final = Asc(0x11, 0x00, "Unrecovered read error")
PARAMETER_LIST_LENGTH_ERROR: Final = Asc(0x1A, 0x00, "Parameter list length error")
INVALID_COMMAND_OPCODE: Final = Asc(0x20, 0x00, "Invalid command operation code")
LBA_OUT_OF_RANGE: Final = Asc(0x21, 0x00, "Logical block address out of range")
INVALID_FIELD_IN_CDB: Final = Asc(0x24, 0x00, "Invalid field in cdb")
LUN_NOT_SUPPORTED: Final = Asc(0x25, 0x00, "Logical unit not supported")
INVALID_FIELD_IN_PARAMETER_LIST: Final = Asc(0x26, 0x00, "Invalid field in parameter list")
WRITE_PROTECTED: Final = Asc(0x27, 0x00, "Write protected")
MEDIUM_MAY_HAVE_CHANGED: Final = Asc(0x28, 0x00,
                                     "Not ready to ready change, medium may have changed")
POWER_ON_RESET: Final = Asc(0x29, 0x00, "Power on, reset, or bus device reset occurred")
SAVING_PARAMETERS_NOT_SUPPORTED: Final = Asc(0x39, 0x00, "Saving parameters not supported")
MEDIUM_NOT_PRESENT: Final = Asc(0x3A, 0x00, "Medium not present")
MEDIUM_REMOVAL_PREVENTED: Final = Asc(0x53, 0x02, "Medium removal prevented")

KNOWN_ASCS: Final[dict[tuple[int, int], Asc]] = {
    (a.asc, a.ascq): a for a in (
        NO_ADDITIONAL_SENSE, NOT_READY_BECOMING_READY, WRITE_ERROR, UNRECOVERED_READ_ERROR,
        PARAMETER_LIST_LENGTH_ERROR, INVALID_COMMAND_OPCODE, LBA_OUT_OF_RANGE,
        INVALID_FIELD_IN_CDB, LUN_NOT_SUPPORTED, INVALID_FIELD_IN_PARAMETER_LIST,
        WRITE_PROTECTED, MEDIUM_MAY_HAVE_CHANGED, POWER_ON_RESET, MEDIUM_NOT_PRESENT,
        MEDIUM_REMOVAL_PREVENTED, SAVING_PARAMETERS_NOT_SUPPORTED)
}


@dataclass(frozen=True, slots=True)
class Sense:
    """Sense data reduced to what a host acts on (struct scsi_sense_hdr): response code,
    sense key, ASC, ASCQ, and the INFORMATION field of fixed-format data when valid."""

    key: int
    asc: int = 0
    ascq: int = 0
    response_code: int = 0x70
    information: int | None = None

    @classmethod
    def of(cls, key: SenseKey, code: Asc = NO_ADDITIONAL_SENSE,
           information: int | None = None) -> Sense:
        """Current, fixed-format sense for `key` and additional sense `code`."""
        return cls(int(key), code.asc, code.ascq, 0x70, information)

    def fixed(self) -> bytes:
        """The 18 bytes of fixed-format sense data (SPC-4 §4.5.3): response code 0x70
        (0xF0 with the VALID bit when INFORMATION is set), the key, the information field,
        additional length 10, ASC and ASCQ."""
        valid = 0x80 if self.information is not None else 0
        info = (self.information or 0) & 0xFFFFFFFF
        return struct.pack(">BBBIB4xBB4x", (self.response_code & 0x7F) | valid, 0,
                           self.key & 0x0F, info, 10, self.asc, self.ascq)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Sense | None:
        """scsi_normalize_sense(): the key and codes of fixed- (0x70/0x71) or descriptor-
        format (0x72/0x73) sense data; None when `data` holds no valid sense."""
        raw = bytes(data)
        if len(raw) < 1:
            return None
        code = raw[0] & 0x7F
        if code in (0x70, 0x71):
            if len(raw) < 3:
                return None
            asc = raw[12] if len(raw) > 12 else 0
            ascq = raw[13] if len(raw) > 13 else 0
            info = struct.unpack_from(">I", raw, 3)[0] if raw[0] & 0x80 and len(raw) >= 7 \
                else None
            return cls(raw[2] & 0x0F, asc, ascq, code, info)
        if code in (0x72, 0x73):
            if len(raw) < 4:
                return None
            return cls(raw[1] & 0x0F, raw[2], raw[3], code)
        return None

    @property
    def deferred(self) -> bool:
        return self.response_code in (0x71, 0x73)

    def describe(self) -> str:
        """"Medium not present" and its like, as scsi_extd_sense_format() names the codes
        (the raw pair when the code is not in KNOWN_ASCS)."""
        known = KNOWN_ASCS.get((self.asc, self.ascq))
        if known is not None:
            return known.name
        return f"ASC=0x{self.asc:x} ASCQ=0x{self.ascq:x}"


# -- READ and WRITE ----------------------------------------------------------------------------

_RW_OPCODES: Final = {Opcode.READ_6, Opcode.READ_10, Opcode.READ_12, Opcode.READ_16,
                      Opcode.WRITE_6, Opcode.WRITE_10, Opcode.WRITE_12, Opcode.WRITE_16}


def rw_cdb(opcode: Opcode, lba: int, blocks: int, *, fua: bool = False) -> bytes:
    """The CDB of READ/WRITE (6), (10) or (16) for `blocks` blocks at `lba`, as sd.c builds
    it (sd_setup_rw6/10/16_cmnd).  Raises ValueError for a range the CDB cannot hold."""
    flags = 0x08 if fua else 0
    if opcode in (Opcode.READ_6, Opcode.WRITE_6):
        if lba > 0x1FFFFF or not 0 < blocks <= 256:
            raise ValueError(f"lba {lba} / {blocks} blocks do not fit a 6-byte CDB")
        return struct.pack(">BBHBB", opcode, (lba >> 16) & 0x1F, lba & 0xFFFF, blocks & 0xFF, 0)
    if opcode in (Opcode.READ_10, Opcode.WRITE_10):
        if lba > 0xFFFFFFFF or blocks > 0xFFFF:
            raise ValueError(f"lba {lba} / {blocks} blocks do not fit a 10-byte CDB")
        return struct.pack(">BBIBHB", opcode, flags, lba, 0, blocks, 0)
    if opcode in (Opcode.READ_12, Opcode.WRITE_12):
        return struct.pack(">BBIIBB", opcode, flags, lba, blocks, 0, 0)
    if opcode in (Opcode.READ_16, Opcode.WRITE_16):
        return struct.pack(">BBQIBB", opcode, flags, lba, blocks, 0, 0)
    raise ValueError(f"{opcode!r} is not a READ or WRITE")


def rw_range(cdb: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(lba, blocks) of a READ/WRITE (6/10/12/16) CDB; a 6-byte CDB's 0 blocks means 256.
    Raises ValueError for another command or a CDB too short for its opcode."""
    raw = bytes(cdb)
    if not raw or raw[0] not in _RW_OPCODES:
        raise ValueError(f"not a READ or WRITE CDB: {raw[:1].hex() or 'empty'}")
    op = raw[0]
    need = {0: 6, 1: 10, 5: 12, 4: 16}[op >> 5]
    if len(raw) < need:
        raise ValueError(f"{Opcode(op).name} CDB of {len(raw)} bytes, needs {need}")
    if need == 6:
        lba = ((raw[1] & 0x1F) << 16) | (raw[2] << 8) | raw[3]
        return lba, raw[4] or 256
    if need == 10:
        lba, blocks = struct.unpack_from(">I", raw, 2)[0], struct.unpack_from(">H", raw, 7)[0]
        return lba, blocks
    if need == 12:
        lba, blocks = struct.unpack_from(">II", raw, 2)
        return lba, blocks
    lba, blocks = struct.unpack_from(">QI", raw, 2)
    return lba, blocks


# -- READ CAPACITY -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadCapacity:
    """What READ CAPACITY reports: the last LBA and the logical block length."""

    last_lba: int
    block_length: int

    @property
    def blocks(self) -> int:
        return self.last_lba + 1

    @classmethod
    def parse_10(cls, data: bytes | bytearray | memoryview) -> ReadCapacity:
        """READ CAPACITY (10) data (8 bytes).  Raises ValueError when short."""
        if len(data) < 8:
            raise ValueError(f"READ CAPACITY(10) data of {len(data)} bytes, needs 8")
        return cls(*struct.unpack_from(">II", bytes(data)))

    @classmethod
    def parse_16(cls, data: bytes | bytearray | memoryview) -> ReadCapacity:
        """READ CAPACITY (16) data (at least 12 of its 32 bytes).  Raises ValueError."""
        if len(data) < 12:
            raise ValueError(f"READ CAPACITY(16) data of {len(data)} bytes, needs 12")
        return cls(*struct.unpack_from(">QI", bytes(data)))


def capacity_10(blocks: int, block_length: int) -> bytes:
    """READ CAPACITY (10) data; a disk of more than 2^32 blocks reports 0xFFFFFFFF."""
    return struct.pack(">II", min(blocks - 1, 0xFFFFFFFF), block_length)


def capacity_16(blocks: int, block_length: int) -> bytes:
    """READ CAPACITY (16) data (32 bytes, no protection, one block per physical block)."""
    return struct.pack(">QI20x", blocks - 1, block_length)


# -- INQUIRY -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InquiryData:
    """Standard INQUIRY data (SPC-4 §6.4.2): the fields a host reads."""

    device_type: int = TYPE_DISK
    removable: bool = False
    version: int = 0x04  # SPC-2
    response_format: int = 2
    vendor: str = ""
    product: str = ""
    revision: str = ""
    qualifier: int = 0

    def to_bytes(self) -> bytes:
        """36 bytes: vendor 8, product 16 and revision 4, space padded."""
        head = bytes([(self.qualifier << 5) | self.device_type,
                      0x80 if self.removable else 0, self.version,
                      self.response_format, 31, 0, 0, 0])
        text = (self.vendor.ljust(8)[:8] + self.product.ljust(16)[:16]
                + self.revision.ljust(4)[:4]).encode("ascii", "replace")
        return head + text

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> InquiryData:
        """The fields of INQUIRY data of at least 36 bytes (shorter data gives what it
        has, space padded, as scsi_scan.c accepts).  Raises ValueError for fewer than 5."""
        raw = bytes(data)
        if len(raw) < 5:
            raise ValueError(f"INQUIRY data of {len(raw)} bytes, needs at least 5")
        text = raw[8:36].ljust(28, b" ").decode("ascii", "replace")
        return cls(raw[0] & 0x1F, bool(raw[1] & 0x80), raw[2], raw[3] & 0x0F, text[:8],
                   text[8:24], text[24:28], raw[0] >> 5)
