"""SCSI names and numbers of the mid-layer — counterpart of drivers/scsi/constants.c (the
command, sense-key, additional-sense and host-byte names the kernel prints),
drivers/scsi/scsi_common.c's scsi_device_type(), and the constants of include/scsi/scsi.h,
scsi_proto.h and scsi_devinfo.h the mid-layer uses (SCSI levels, peripheral device types,
dispositions, blacklist flags).

Data and lookups only: `opcode_name` gives what scsi_print_command prints for a CDB
("Read(10)", "Read capacity(16)", "opcode=0x61 (reserved)"), `sense_key_string`,
`extd_sense_string` and `hostbyte_string` the other words of the kernel's error lines.
The additional-sense table holds the codes of direct-access devices and their transports,
not the tape, changer and optical entries of constants.c (those print as
"ASC=0x.. ASCQ=0x.." here).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Final

from ...spec.scsi import KNOWN_ASCS
from .scsi_cmnd import HostByte

__all__ = [
    "Blist",
    "DeviceType",
    "Disposition",
    "ScsiLevel",
    "blist_names",
    "extd_sense_string",
    "hostbyte_string",
    "mlreturn_string",
    "opcode_name",
    "scsi_device_type",
    "sense_key_string",
]


class ScsiLevel(IntEnum):
    """sdev->scsi_level: the INQUIRY VERSION plus one (include/scsi/scsi.h)."""

    UNKNOWN = 0
    SCSI_1 = 1
    SCSI_1_CCS = 2
    SCSI_2 = 3
    SCSI_3 = 4
    SPC_2 = 5
    SPC_3 = 6
    SPC_4 = 7
    SPC_5 = 8
    SPC_6 = 14


class DeviceType(IntEnum):
    """Peripheral device types (scsi_proto.h TYPE_*)."""

    DISK = 0x00
    TAPE = 0x01
    PRINTER = 0x02
    PROCESSOR = 0x03
    WORM = 0x04
    ROM = 0x05
    SCANNER = 0x06
    MOD = 0x07
    MEDIUM_CHANGER = 0x08
    COMM = 0x09
    RAID = 0x0C
    ENCLOSURE = 0x0D
    RBC = 0x0E
    OSD = 0x11
    ZBC = 0x14
    WLUN = 0x1E
    NO_LUN = 0x7F


class Disposition(IntEnum):
    """enum scsi_disposition: what the mid-layer does with a finished command."""

    NEEDS_RETRY = 0x2001
    SUCCESS = 0x2002
    FAILED = 0x2003
    QUEUED = 0x2004
    SOFT_ERROR = 0x2005
    ADD_TO_MLQUEUE = 0x2006
    TIMEOUT_ERROR = 0x2007
    SCSI_RETURN_NOT_HANDLED = 0x2008
    FAST_IO_FAIL = 0x2009


_MLRETURN_NAMES: Final = {
    Disposition.NEEDS_RETRY: "NEEDS_RETRY", Disposition.SUCCESS: "SUCCESS",
    Disposition.FAILED: "FAILED", Disposition.QUEUED: "QUEUED",
    Disposition.SOFT_ERROR: "SOFT_ERROR", Disposition.ADD_TO_MLQUEUE: "ADD_TO_MLQUEUE",
    Disposition.TIMEOUT_ERROR: "TIMEOUT", Disposition.SCSI_RETURN_NOT_HANDLED: "NOT_HANDLED",
    Disposition.FAST_IO_FAIL: "FAST_IO_FAIL",
}


def mlreturn_string(disposition: int) -> str | None:
    """scsi_mlreturn_string(): "FAILED", "SUCCESS" … or None.  Context: atomic."""
    try:
        return _MLRETURN_NAMES[Disposition(disposition)]
    except ValueError:
        return None


class Blist(IntFlag):
    """Device quirks of the SCSI blacklist (scsi_devinfo.h BLIST_*), as sdev_bflags."""

    NOLUN = 1 << 0
    FORCELUN = 1 << 1
    BORKEN = 1 << 2
    KEY = 1 << 3
    SINGLELUN = 1 << 4
    NOTQ = 1 << 5
    SPARSELUN = 1 << 6
    MAX5LUN = 1 << 7
    ISROM = 1 << 8
    LARGELUN = 1 << 9
    INQUIRY_36 = 1 << 10
    NOSTARTONADD = 1 << 12
    REPORTLUN2 = 1 << 17
    NOREPORTLUN = 1 << 18
    NOT_LOCKABLE = 1 << 19
    NO_ULD_ATTACH = 1 << 20
    SELECT_NO_ATN = 1 << 21
    RETRY_HWERROR = 1 << 22
    MAX_512 = 1 << 23
    NO_DIF = 1 << 25
    SKIP_VPD_PAGES = 1 << 26
    TRY_VPD_PAGES = 1 << 28
    NO_RSOC = 1 << 29
    MAX_1024 = 1 << 30
    UNMAP_LIMIT_WS = 1 << 31
    RETRY_ITF = 1 << 32
    RETRY_ASC_C1 = 1 << 33
    IGN_MEDIA_CHANGE = 1 << 34
    NO_VPD_SIZE = 1 << 35
    SKIP_IO_HINTS = 1 << 36


def blist_names(flags: int) -> list[str]:
    """The names of the set flags, lowest bit first, as the `blacklist` attribute lists
    them ("(?)" for a bit without a name).  Context: atomic."""
    names = []
    for bit in range(64):
        if flags >> bit & 1:
            try:
                names.append(Blist(1 << bit).name or "(?)")
            except ValueError:
                names.append("(?)")
    return names


_DEVICE_TYPES: Final = (
    "Direct-Access    ", "Sequential-Access", "Printer          ", "Processor        ",
    "WORM             ", "CD-ROM           ", "Scanner          ", "Optical Device   ",
    "Medium Changer   ", "Communications   ", "ASC IT8          ", "ASC IT8          ",
    "RAID             ", "Enclosure        ", "Direct-Access-RBC", "Optical card     ",
    "Bridge controller", "Object storage   ", "Automation/Drive ", "Security Manager ",
    "Direct-Access-ZBC",
)


def scsi_device_type(type_: int) -> str:
    """scsi_device_type(): the 17-character name of a peripheral device type, as the
    scan's "scsi 0:0:0:0: Direct-Access     …" line prints it.  Context: atomic."""
    if type_ == 0x1E:
        return "Well-known LUN   "
    if type_ == 0x1F:
        return "No Device        "
    if not 0 <= type_ < len(_DEVICE_TYPES):
        return "Unknown          "
    return _DEVICE_TYPES[type_]


# -- command names (constants.c cdb_byte0_names, serv_in16) -------------------------------------

_CDB_NAMES: Final[dict[int, str]] = {
    0x00: "Test Unit Ready", 0x01: "Rezero Unit/Rewind", 0x03: "Request Sense",
    0x04: "Format Unit/Medium", 0x05: "Read Block Limits", 0x07: "Reassign Blocks",
    0x08: "Read(6)", 0x0A: "Write(6)", 0x0B: "Seek(6)", 0x0F: "Read Reverse",
    0x10: "Write Filemarks", 0x11: "Space", 0x12: "Inquiry", 0x13: "Verify(6)",
    0x14: "Recover Buffered Data", 0x15: "Mode Select(6)", 0x16: "Reserve(6)",
    0x17: "Release(6)", 0x18: "Copy", 0x19: "Erase", 0x1A: "Mode Sense(6)",
    0x1B: "Start/Stop Unit", 0x1C: "Receive Diagnostic", 0x1D: "Send Diagnostic",
    0x1E: "Prevent/Allow Medium Removal", 0x23: "Read Format Capacities",
    0x24: "Set Window", 0x25: "Read Capacity(10)", 0x28: "Read(10)",
    0x29: "Read Generation", 0x2A: "Write(10)", 0x2B: "Seek(10)", 0x2C: "Erase(10)",
    0x2D: "Read updated block", 0x2E: "Write Verify(10)", 0x2F: "Verify(10)",
    0x30: "Search High", 0x31: "Search Equal", 0x32: "Search Low", 0x33: "Set Limits",
    0x34: "Prefetch/Read Position", 0x35: "Synchronize Cache(10)",
    0x36: "Lock/Unlock Cache(10)", 0x37: "Read Defect Data(10)", 0x38: "Medium Scan",
    0x39: "Compare", 0x3A: "Copy Verify", 0x3B: "Write Buffer", 0x3C: "Read Buffer",
    0x3D: "Update Block", 0x3E: "Read Long(10)", 0x3F: "Write Long(10)",
    0x40: "Change Definition", 0x41: "Write Same(10)", 0x42: "Unmap/Read sub-channel",
    0x43: "Read TOC/PMA/ATIP", 0x44: "Read density support", 0x45: "Play audio(10)",
    0x46: "Get configuration", 0x47: "Play audio msf",
    0x48: "Sanitize/Play audio track/index", 0x49: "Play track relative(10)",
    0x4A: "Get event status notification", 0x4B: "Pause/resume", 0x4C: "Log Select",
    0x4D: "Log Sense", 0x4E: "Stop play/scan", 0x50: "Xdwrite",
    0x51: "Xpwrite, Read disk info", 0x52: "Xdread, Read track info",
    0x53: "Reserve track", 0x54: "Send OPC info", 0x55: "Mode Select(10)",
    0x56: "Reserve(10)", 0x57: "Release(10)", 0x58: "Repair track",
    0x59: "Read master cue", 0x5A: "Mode Sense(10)", 0x5B: "Close track/session",
    0x5C: "Read buffer capacity", 0x5D: "Send cue sheet", 0x5E: "Persistent reserve in",
    0x5F: "Persistent reserve out", 0x7E: "Extended CDB", 0x7F: "Variable length",
    0x80: "Xdwrite(16)", 0x81: "Rebuild(16)", 0x82: "Regenerate(16)",
    0x83: "Third party copy out", 0x84: "Third party copy in",
    0x85: "ATA command pass through(16)", 0x86: "Access control in",
    0x87: "Access control out", 0x88: "Read(16)", 0x89: "Compare and Write",
    0x8A: "Write(16)", 0x8B: "ORWrite", 0x8C: "Read attributes", 0x8D: "Write attributes",
    0x8E: "Write and verify(16)", 0x8F: "Verify(16)", 0x90: "Pre-fetch(16)",
    0x91: "Synchronize cache(16)", 0x92: "Lock/unlock cache(16)", 0x93: "Write same(16)",
    0x94: "ZBC zone out", 0x95: "ZBC zone in", 0x9E: "Service action in(16)",
    0x9F: "Service action out(16)", 0xA0: "Report luns",
    0xA1: "ATA command pass through(12)/Blank", 0xA2: "Security protocol in",
    0xA3: "Maintenance in", 0xA4: "Maintenance out", 0xA5: "Move medium/play audio(12)",
    0xA6: "Exchange medium", 0xA7: "Move medium attached", 0xA8: "Read(12)",
    0xA9: "Play track relative(12)", 0xAA: "Write(12)", 0xAC: "Erase(12), Get Performance",
    0xAD: "Read DVD structure", 0xAE: "Write and verify(12)", 0xAF: "Verify(12)",
    0xB0: "Search data high(12)", 0xB1: "Search data equal(12)",
    0xB2: "Search data low(12)", 0xB3: "Set limits(12)",
    0xB4: "Read element status attached", 0xB5: "Security protocol out",
    0xB6: "Send volume tag, set streaming", 0xB7: "Read defect data(12)",
    0xB8: "Read element status", 0xB9: "Read CD msf", 0xBA: "Redundancy group (in), Scan",
    0xBB: "Redundancy group (out), Set cd-rom speed", 0xBC: "Spare (in), Play cd",
    0xBD: "Spare (out), Mechanism status", 0xBE: "Volume set (in), Read cd",
    0xBF: "Volume set (out), Send DVD structure",
}

#: Commands whose service action (CDB byte 1, bits 0-4) names them (scsi_opcode_sa_name).
_SA_NAMES: Final[dict[int, dict[int, str]]] = {
    0x9E: {0x10: "Read capacity(16)", 0x11: "Read long(16)", 0x12: "Get LBA status",
           0x13: "Report referrals", 0x14: "Stream control", 0x15: "Background control",
           0x16: "Get stream status"},
    0x9F: {0x11: "Write long(16)"},
    0xA3: {0x05: "Report identifying information", 0x0A: "Report target port groups",
           0x0B: "Report aliases", 0x0C: "Report supported operation codes",
           0x0D: "Report supported task management functions", 0x0E: "Report priority",
           0x0F: "Report timestamp", 0x10: "Management protocol in"},
    0xA4: {0x06: "Set identifying information", 0x0A: "Set target port groups",
           0x0B: "Change aliases", 0x0C: "Remove I_T nexus", 0x0E: "Set priority",
           0x0F: "Set timestamp", 0x10: "Management protocol out"},
}

#: First vendor-specific operation code (VENDOR_SPECIFIC_CDB).
_VENDOR_SPECIFIC_CDB: Final = 0xC0


def opcode_name(cdb: bytes | bytearray | memoryview) -> str:
    """scsi_format_opcode_name(): the command's name as the "CDB: " line prints it.
    Context: atomic."""
    if not cdb:
        return "opcode=0x0"
    op = cdb[0]
    sa = cdb[1] & 0x1F if len(cdb) > 1 else 0
    by_sa = _SA_NAMES.get(op)
    name = _CDB_NAMES.get(op)
    if by_sa is not None:
        sa_name = by_sa.get(sa)
        if sa_name is not None:
            return sa_name
        return f"{name}, sa=0x{sa:x}" if name else f"opcode=0x{op:x}, sa=0x{sa:x}"
    if name is not None:
        return name
    if op >= _VENDOR_SPECIFIC_CDB:
        return f"opcode=0x{op:x} (vendor)"
    if 0x60 <= op < 0x7E:
        return f"opcode=0x{op:x} (reserved)"
    return f"opcode=0x{op:x}"


# -- sense (constants.c snstext, additional[]) ----------------------------------------------------

_SENSE_KEYS: Final = (
    "No Sense", "Recovered Error", "Not Ready", "Medium Error", "Hardware Error",
    "Illegal Request", "Unit Attention", "Data Protect", "Blank Check",
    "Vendor Specific(9)", "Copy Aborted", "Aborted Command", "Equal", "Volume Overflow",
    "Miscompare", "Completed",
)


def sense_key_string(key: int) -> str | None:
    """scsi_sense_key_string(): "Not Ready", "Medium Error" … or None.  Context: atomic."""
    return _SENSE_KEYS[key] if 0 <= key < len(_SENSE_KEYS) else None


#: Additional sense codes and qualifiers (asc << 8 | ascq) with their SPC names, for the
#: codes spec.scsi does not already name.
_ADDITIONAL: Final[dict[int, str]] = {
    0x0001: "Filemark detected", 0x0002: "End-of-partition/medium detected",
    0x0004: "Beginning-of-partition/medium detected", 0x0006: "I/O process terminated",
    0x0016: "Operation in progress", 0x0017: "Cleaning requested",
    0x001D: "ATA pass through information available",
    0x0100: "No index/sector signal", 0x0200: "No seek complete",
    0x0300: "Peripheral device write fault",
    0x0400: "Logical unit not ready, cause not reportable",
    0x0402: "Logical unit not ready, initializing command required",
    0x0403: "Logical unit not ready, manual intervention required",
    0x0404: "Logical unit not ready, format in progress",
    0x0405: "Logical unit not ready, rebuild in progress",
    0x0406: "Logical unit not ready, recalculation in progress",
    0x0407: "Logical unit not ready, operation in progress",
    0x0408: "Logical unit not ready, long write in progress",
    0x0409: "Logical unit not ready, self-test in progress",
    0x040A: "Logical unit not accessible, asymmetric access state transition",
    0x040B: "Logical unit not accessible, target port in standby state",
    0x040C: "Logical unit not accessible, target port in unavailable state",
    0x0411: "Logical unit not ready, notify (enable spinup) required",
    0x041B: "Logical unit not ready, sanitize in progress",
    0x0500: "Logical unit does not respond to selection",
    0x0800: "Logical unit communication failure",
    0x0801: "Logical unit communication time-out",
    0x0802: "Logical unit communication parity error",
    0x0C02: "Write error - auto reallocation failed",
    0x1000: "Id CRC or ECC error", 0x1101: "Read retries exhausted",
    0x1104: "Unrecovered read error - auto reallocate failed",
    0x1300: "Address mark not found for data field",
    0x1400: "Recorded entity not found", 0x1401: "Record not found",
    0x1500: "Random positioning error", 0x2101: "Invalid element address",
    0x2701: "Hardware write protected", 0x2702: "Logical unit software write protected",
    0x2801: "Import or export element accessed", 0x2901: "Power on occurred",
    0x2902: "SCSI bus reset occurred", 0x2903: "Bus device reset function occurred",
    0x2904: "Device internal reset", 0x2A00: "Parameters changed",
    0x2A01: "Mode parameters changed", 0x2A09: "Capacity data has changed",
    0x3000: "Incompatible medium installed", 0x3100: "Medium format corrupted",
    0x3A01: "Medium not present - tray closed", 0x3A02: "Medium not present - tray open",
    0x3F00: "Target operating conditions have changed",
    0x3F01: "Microcode has been changed", 0x3F03: "Inquiry data has changed",
    0x3F0E: "Reported luns data has changed", 0x4400: "Internal target failure",
    0x4700: "Scsi parity error", 0x4800: "Initiator detected error message received",
    0x4900: "Invalid message error", 0x4E00: "Overlapped commands attempted",
    0x5D00: "Failure prediction threshold exceeded", 0x5E00: "Low power condition on",
}


def extd_sense_string(asc: int, ascq: int) -> str | None:
    """scsi_extd_sense_format(): the name of an additional sense code, or None.
    Context: atomic."""
    known = KNOWN_ASCS.get((asc, ascq))
    if known is not None:
        return known.name
    return _ADDITIONAL.get(asc << 8 | ascq)


def hostbyte_string(result: int) -> str | None:
    """scsi_hostbyte_string(): "DID_OK", "DID_TIME_OUT" … for the host byte of a result
    word, or None.  Context: atomic."""
    try:
        return HostByte((result >> 16) & 0xFF).name
    except ValueError:
        return None
