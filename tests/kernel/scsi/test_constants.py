"""SCSI names (usbemu.kernel.scsi.constants) and the message formats of scsi_logging."""

from __future__ import annotations

import pytest

from usbemu.kernel.scsi.constants import (
    Blist,
    Disposition,
    blist_names,
    extd_sense_string,
    hostbyte_string,
    mlreturn_string,
    opcode_name,
    scsi_device_type,
    sense_key_string,
)
from usbemu.kernel.scsi.scsi_cmnd import HostByte
from usbemu.kernel.scsi.scsi_logging import (
    scsi_format_extd_sense,
    scsi_format_sense_hdr,
    sdev_format_header,
)
from usbemu.spec.scsi import Sense


@pytest.mark.parametrize(("type_", "name"), [
    (0x00, "Direct-Access    "), (0x05, "CD-ROM           "), (0x0E, "Direct-Access-RBC"),
    (0x14, "Direct-Access-ZBC"), (0x1E, "Well-known LUN   "), (0x1F, "No Device        "),
    (0x15, "Unknown          "),
])
def test_device_type_names_are_17_wide(type_: int, name: str) -> None:
    assert scsi_device_type(type_) == name and len(name) == 17


@pytest.mark.parametrize(("cdb", "name"), [
    (bytes([0x28, 0]), "Read(10)"),
    (bytes([0x2A, 0]), "Write(10)"),
    (bytes([0x00, 0]), "Test Unit Ready"),
    (bytes([0x1A, 0]), "Mode Sense(6)"),
    (bytes([0x35, 0]), "Synchronize Cache(10)"),
    (bytes([0x9E, 0x10]), "Read capacity(16)"),
    (bytes([0x9E, 0x1F]), "Service action in(16), sa=0x1f"),
    (bytes([0x61, 0]), "opcode=0x61 (reserved)"),
    (bytes([0xC5, 0]), "opcode=0xc5 (vendor)"),
    (bytes([0x02, 0]), "opcode=0x2"),
])
def test_opcode_names(cdb: bytes, name: str) -> None:
    assert opcode_name(cdb) == name


def test_sense_and_host_names() -> None:
    assert sense_key_string(2) == "Not Ready"
    assert sense_key_string(0xF) == "Completed"
    assert sense_key_string(16) is None
    assert extd_sense_string(0x3A, 0) == "Medium not present"
    assert extd_sense_string(0x04, 0x02) == \
        "Logical unit not ready, initializing command required"
    assert extd_sense_string(0x99, 0x99) is None
    assert hostbyte_string(HostByte.DID_TIME_OUT << 16) == "DID_TIME_OUT"
    assert hostbyte_string(0x30 << 16) is None
    assert mlreturn_string(Disposition.FAILED) == "FAILED"
    assert mlreturn_string(Disposition.TIMEOUT_ERROR) == "TIMEOUT"
    assert mlreturn_string(7) is None


def test_blacklist_names() -> None:
    assert blist_names(Blist.SKIP_IO_HINTS | Blist.NOLUN) == ["NOLUN", "SKIP_IO_HINTS"]
    assert blist_names(1 << 11) == ["(?)"]
    assert blist_names(0) == []


def test_sense_lines() -> None:
    assert scsi_format_sense_hdr(Sense(2, 0x3A, 0)) == "Sense Key : Not Ready [current] "
    assert scsi_format_sense_hdr(Sense(3, 0x11, 0, 0x71)) == \
        "Sense Key : Medium Error [deferred] "
    assert scsi_format_sense_hdr(Sense(6, 0x29, 0, 0x72)) == \
        "Sense Key : Unit Attention [current] [descriptor] "
    assert scsi_format_extd_sense(0x3A, 0) == "Add. Sense: Medium not present"
    assert scsi_format_extd_sense(0x80, 0x81) == "<<vendor>>ASC=0x80 <<vendor>>ASCQ=0x81 "
    assert scsi_format_extd_sense(0x70, 0x01) == "ASC=0x70 ASCQ=0x1 "
    assert sdev_format_header("sda", 0) == "[sda] tag#0 "
    assert sdev_format_header(None, -1) == ""
