"""SCSI logical units, media and targets (usbemu.emulated.scsi_target): every command a USB
disk answers and the sense data of every error, driven through ScsiLun.execute."""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usbemu.emulated.scsi_target import (
    CHUNK_SIZE,
    DataPhase,
    ImageMedium,
    Medium,
    MemoryMedium,
    ScsiLun,
    ScsiResult,
    ScsiTarget,
    cdb_length,
    data_phase,
    descriptor_sense,
)
from usbemu.errors import Errno
from usbemu.spec.scsi import LBA_OUT_OF_RANGE, Opcode, SamStatus, Sense, SenseKey, rw_cdb

MiB = 1 << 20


def ready(medium: Medium | None = None, **options: Any) -> ScsiLun:
    """A unit (on a 1 MiB memory disk unless told) whose power-on unit attention was taken."""
    lun = ScsiLun(MemoryMedium(MiB) if medium is None else medium, **options)
    lun.execute(bytes(6))
    return lun


def check(result: ScsiResult, key: int, asc: int, ascq: int = 0) -> None:
    """CHECK CONDITION with this sense, which is also what REQUEST SENSE returns."""
    assert result.status == SamStatus.CHECK_CONDITION
    assert result.data == b""
    assert result.sense is not None
    assert (result.sense.key, result.sense.asc, result.sense.ascq) == (key, asc, ascq)


def sense_of(lun: ScsiLun) -> tuple[int, int, int]:
    result = lun.execute(bytes((0x03, 0, 0, 0, 18, 0)), expected_in=18)
    assert result.good and len(result.data) == 18
    sense = Sense.parse(result.data)
    assert sense is not None
    return sense.key, sense.asc, sense.ascq


TUR = bytes(6)
INQUIRY = bytes((0x12, 0, 0, 0, 36, 0))


def read10(lba: int, blocks: int) -> bytes:
    return rw_cdb(Opcode.READ_10, lba, blocks)


def write10(lba: int, blocks: int) -> bytes:
    return rw_cdb(Opcode.WRITE_10, lba, blocks)


def mode_sense6(page: int = 0x3F, *, pc: int = 0, dbd: bool = False, subpage: int = 0,
                length: int = 192) -> bytes:
    return bytes((0x1A, 0x08 if dbd else 0, pc << 6 | page, subpage, length, 0))


def mode_sense10(page: int = 0x3F, *, length: int = 192) -> bytes:
    return struct.pack(">BBBB3xHB", 0x5A, 0, page, 0, length, 0)


# -- MemoryMedium -------------------------------------------------------------------------------


def test_memory_medium_reads_zeros_and_allocates_only_what_is_written() -> None:
    disk = MemoryMedium(4 << 30)  # 4 GiB: nothing allocated until written
    assert (disk.blocks, disk.block_size, disk.size) == (8 << 20, 512, 4 << 30)
    assert disk.allocated == 0
    assert disk.read(1000, 3) == bytes(1536)
    disk.write(0, bytes(CHUNK_SIZE * 2))  # zeros into absent chunks stay absent
    assert disk.allocated == 0
    disk.write(5, b"\x01" * 512)
    assert disk.allocated == CHUNK_SIZE
    assert disk.read(4, 3) == bytes(512) + b"\x01" * 512 + bytes(512)


def test_memory_medium_round_trips_across_chunk_boundaries() -> None:
    disk = MemoryMedium(MiB)
    data = bytes(range(256)) * 2 * 300  # blocks 100..399: bytes 51200..204799, 4 chunks
    disk.write(100, data)
    assert disk.read(100, 300) == data
    assert disk.read(99, 1) == bytes(512)
    assert disk.allocated == 4 * CHUNK_SIZE
    disk.write(100, memoryview(bytearray(512)))  # zeros into an allocated chunk are written
    assert disk.read(100, 1) == bytes(512)


def test_memory_medium_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="size"):
        MemoryMedium(1000)
    with pytest.raises(ValueError, match="size"):
        MemoryMedium(0)
    with pytest.raises(ValueError, match="block_size"):
        MemoryMedium(MiB, block_size=1000)
    disk = MemoryMedium(MiB, block_size=4096)
    assert disk.blocks == 256
    with pytest.raises(ValueError, match="blocks"):
        disk.read(255, 2)
    with pytest.raises(ValueError, match="whole blocks"):
        disk.write(0, bytes(512))
    with pytest.raises(ValueError, match="blocks"):
        disk.write(256, bytes(4096))


def test_read_only_memory_medium_refuses_writes() -> None:
    disk = MemoryMedium(MiB, read_only=True)
    with pytest.raises(PermissionError) as info:
        disk.write(0, bytes(512))
    assert info.value.errno == Errno.EROFS
    disk.flush()


# -- ImageMedium ----------------------------------------------------------------------------------


def test_image_medium_creates_a_sparse_file(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    disk = ImageMedium(path, size=64 * MiB)
    info = os.stat(path)
    assert info.st_size == 64 * MiB
    assert info.st_blocks * 512 < MiB  # sparse: (almost) nothing allocated
    assert disk.blocks == 131072
    disk.write(2, b"\xAA" * 1024)
    assert path.read_bytes()[1024:2048] == b"\xAA" * 1024  # straight into the file
    assert disk.read(1, 4) == bytes(512) + b"\xAA" * 1024 + bytes(512)
    disk.close()


def test_image_medium_extends_a_short_file_and_keeps_a_long_one(tmp_path: Path) -> None:
    short = tmp_path / "short.img"
    short.write_bytes(b"\x11" * 1024)
    disk = ImageMedium(short, size=MiB)
    assert short.stat().st_size == MiB and disk.blocks == 2048
    assert disk.read(0, 3) == b"\x11" * 1024 + bytes(512)
    long = tmp_path / "long.img"
    long.write_bytes(bytes(4096))
    assert ImageMedium(long, size=2048).blocks == 4
    assert long.stat().st_size == 4096
    assert ImageMedium(long).blocks == 8  # without size: the file's own size


def test_image_medium_refuses_what_it_cannot_be(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give size="):
        ImageMedium(tmp_path / "missing.img")
    assert not (tmp_path / "missing.img").exists()
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="hold no block"):
        ImageMedium(empty)
    with pytest.raises(FileNotFoundError):
        ImageMedium(tmp_path / "missing.img", read_only=True)
    with pytest.raises(ValueError, match="read-only"):
        ImageMedium(empty, size=MiB, read_only=True)
    with pytest.raises(ValueError, match="size"):
        ImageMedium(empty, size=100)


def test_read_only_image_is_opened_read_only_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "ro.img"
    path.write_bytes(b"\x22" * 4096)
    disk = ImageMedium(path, read_only=True)
    assert fcntl.fcntl(disk._fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    assert disk.read(7, 1) == b"\x22" * 512
    with pytest.raises(PermissionError):
        disk.write(0, bytes(512))
    assert path.read_bytes() == b"\x22" * 4096
    lun = ready(disk)
    check(lun.execute(write10(0, 1), bytes(512)), SenseKey.DATA_PROTECT, 0x27)
    assert lun.execute(mode_sense6(), expected_in=192).data == b"\x03\x00\x80\x00"


def test_image_medium_flush_is_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    disk = ImageMedium(tmp_path / "d.img", size=MiB)
    lun = ready(disk)
    assert lun.execute(bytes((0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0))).good
    assert lun.execute(bytes((0x91,)) + bytes(15)).good
    assert synced == [disk._fd, disk._fd]


# -- unit attention, sense ----------------------------------------------------------------------


def test_power_on_unit_attention_is_reported_once() -> None:
    lun = ScsiLun(MemoryMedium(MiB))
    assert lun.execute(INQUIRY, expected_in=36).good  # INQUIRY neither reports nor clears it
    check(lun.execute(TUR), SenseKey.UNIT_ATTENTION, 0x29)
    assert sense_of(lun) == (SenseKey.UNIT_ATTENTION, 0x29, 0)  # kept for REQUEST SENSE
    assert lun.execute(TUR).good
    assert sense_of(lun) == (SenseKey.NO_SENSE, 0, 0)


def test_request_sense_reports_a_pending_unit_attention_and_clears_it() -> None:
    lun = ScsiLun(MemoryMedium(MiB))
    assert sense_of(lun) == (SenseKey.UNIT_ATTENTION, 0x29, 0)
    assert lun.unit_attention is None
    assert lun.execute(TUR).good


def test_a_unit_attention_comes_before_an_unknown_opcode() -> None:
    lun = ScsiLun(MemoryMedium(MiB))
    check(lun.execute(bytes((0xC7, 0, 0, 0, 0, 0))), SenseKey.UNIT_ATTENTION, 0x29)
    check(lun.execute(bytes((0xC7, 0, 0, 0, 0, 0))), SenseKey.ILLEGAL_REQUEST, 0x20)


def test_request_sense_returns_and_clears_the_pending_sense() -> None:
    lun = ready()
    check(lun.execute(read10(5000, 1), expected_in=512), SenseKey.ILLEGAL_REQUEST, 0x21)
    assert lun.pending_sense == Sense.of(SenseKey.ILLEGAL_REQUEST, LBA_OUT_OF_RANGE)
    result = lun.execute(bytes((0x03, 0, 0, 0, 18, 0)), expected_in=18)
    assert result.data == bytes((0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x21, 0,
                                 0, 0, 0, 0))
    assert sense_of(lun) == (SenseKey.NO_SENSE, 0, 0)


def test_any_other_command_drops_the_pending_sense() -> None:
    lun = ready()
    check(lun.execute(read10(5000, 1), expected_in=512), SenseKey.ILLEGAL_REQUEST, 0x21)
    assert lun.execute(TUR).good
    assert sense_of(lun) == (SenseKey.NO_SENSE, 0, 0)


def test_request_sense_in_descriptor_format() -> None:
    lun = ready()
    lun.eject()
    check(lun.execute(TUR), SenseKey.NOT_READY, 0x3A)
    result = lun.execute(bytes((0x03, 0x01, 0, 0, 252, 0)), expected_in=252)
    assert result.data == bytes((0x72, 0x02, 0x3A, 0x00, 0, 0, 0, 0))
    check(lun.execute(bytes((0x03, 0x02, 0, 0, 18, 0)), expected_in=18),
          SenseKey.ILLEGAL_REQUEST, 0x24)


def test_descriptor_sense_carries_the_information_field() -> None:
    sense = Sense(SenseKey.MEDIUM_ERROR, 0x11, 0, information=0x1234)
    assert descriptor_sense(sense) == bytes((0x72, 0x03, 0x11, 0, 0, 0, 0, 12, 0x00, 0x0A,
                                             0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34))


# -- INQUIRY ------------------------------------------------------------------------------------


def test_standard_inquiry_data() -> None:
    lun = ScsiLun(MemoryMedium(MiB))
    result = lun.execute(INQUIRY, expected_in=36)
    assert result.data == (bytes((
        0x00,  # peripheral qualifier 0, direct-access block device
        0x80,  # RMB: removable
        0x02,  # version: ANSI SCSI level 2
        0x02,  # response data format 2
        31,    # additional length
        0, 0, 0)) + b"USBemu  " + b"Mass Storage    " + b"1.00")
    fixed = ScsiLun(None, removable=False, vendor="ACME", product="Disk", revision="9")
    assert fixed.execute(INQUIRY, expected_in=36).data[:12] == b"\x00\x00\x02\x02\x1f\x00" \
        b"\x00\x00ACME"
    assert lun.execute(INQUIRY, expected_in=5).data == b"\x00\x80\x02\x02\x1f"


def test_inquiry_vpd_pages() -> None:
    lun = ready(serial="0123456789AB")
    def page(code: int) -> bytes:
        result = lun.execute(bytes((0x12, 0x01, code, 0, 255, 0)), expected_in=255)
        assert result.good
        return result.data
    assert page(0x00) == bytes((0, 0x00, 0, 3, 0x00, 0x80, 0x83))
    assert page(0x80) == bytes((0, 0x80, 0, 12)) + b"0123456789AB"
    ident = b"USBemu  Mass Storage    0123456789AB"
    assert page(0x83) == bytes((0, 0x83, 0, 4 + len(ident), 0x02, 0x01, 0, len(ident))) + ident


@pytest.mark.parametrize("cdb", [
    bytes((0x12, 0x01, 0xB0, 0, 255, 0)),  # an unsupported VPD page
    bytes((0x12, 0x02, 0x00, 0, 255, 0)),  # CmdDt
    bytes((0x12, 0x00, 0x80, 0, 255, 0)),  # a page code without EVPD
])
def test_inquiry_invalid_field(cdb: bytes) -> None:
    check(ready().execute(cdb, expected_in=255), SenseKey.ILLEGAL_REQUEST, 0x24)


# -- TEST UNIT READY, READ CAPACITY ------------------------------------------------------------


def test_test_unit_ready_needs_a_medium() -> None:
    lun = ready()
    assert lun.execute(TUR).good
    empty = ScsiLun(None)
    check(empty.execute(TUR), SenseKey.UNIT_ATTENTION, 0x29)
    check(empty.execute(TUR), SenseKey.NOT_READY, 0x3A)


def test_read_capacity_10() -> None:
    lun = ready(MemoryMedium(64 * MiB))
    cdb = bytes((0x25,)) + bytes(9)
    assert lun.execute(cdb, expected_in=8).data == bytes.fromhex("0001ffff00000200")
    check(lun.execute(bytes((0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0)), expected_in=8),
          SenseKey.ILLEGAL_REQUEST, 0x24)  # an LBA without PMI
    assert lun.execute(bytes((0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0)), expected_in=8).good
    huge = ready(MemoryMedium(4 << 40))  # 2^33 blocks: too many for 32 bits
    assert huge.execute(cdb, expected_in=8).data == bytes.fromhex("ffffffff00000200")


def test_read_capacity_16() -> None:
    lun = ready(MemoryMedium(4 << 40, block_size=4096))
    cdb = bytes((0x9E, 0x10)) + bytes(8) + struct.pack(">I", 32) + bytes(2)
    result = lun.execute(cdb, expected_in=32)
    assert result.data == struct.pack(">QI", (1 << 30) - 1, 4096) + bytes(20)
    short = cdb[:10] + struct.pack(">I", 12) + bytes(2)
    assert lun.execute(short, expected_in=12).data == result.data[:12]
    check(lun.execute(bytes((0x9E, 0x11)) + cdb[2:], expected_in=32),
          SenseKey.ILLEGAL_REQUEST, 0x24)


# -- READ, WRITE, VERIFY ----------------------------------------------------------------------


@pytest.mark.parametrize(("read_op", "write_op"), [
    (Opcode.READ_6, Opcode.WRITE_6), (Opcode.READ_10, Opcode.WRITE_10),
    (Opcode.READ_12, Opcode.WRITE_12), (Opcode.READ_16, Opcode.WRITE_16)])
def test_write_then_read_back(read_op: Opcode, write_op: Opcode) -> None:
    lun = ready()
    data = bytes(range(256)) * 6
    assert lun.execute(rw_cdb(write_op, 17, 3), data).good
    assert lun.execute(rw_cdb(read_op, 17, 3), expected_in=1536).data == data
    assert lun.medium is not None and lun.medium.read(17, 3) == data


def test_read_6_of_zero_blocks_means_256() -> None:
    lun = ready()
    assert data_phase(bytes((0x08, 0, 0, 0, 0, 0))) == (DataPhase.IN, 256 * 512)
    assert len(lun.execute(bytes((0x08, 0, 0, 0, 0, 0))).data) == 256 * 512


def test_read_of_zero_blocks_moves_nothing() -> None:
    lun = ready()
    assert lun.execute(read10(0, 0), expected_in=0) == ScsiResult(SamStatus.GOOD)
    assert lun.execute(write10(0, 0), b"").good


def test_read_is_cut_to_what_the_caller_expects() -> None:
    lun = ready()
    lun.execute(write10(0, 2), b"a" * 512 + b"b" * 512)
    assert lun.execute(read10(0, 2), expected_in=700).data == b"a" * 512 + b"b" * 188


def test_lba_out_of_range() -> None:
    lun = ready()  # 2048 blocks
    check(lun.execute(read10(2047, 2), expected_in=1024), SenseKey.ILLEGAL_REQUEST, 0x21)
    check(lun.execute(read10(2048, 0)), SenseKey.ILLEGAL_REQUEST, 0x21)
    check(lun.execute(write10(2048, 1), bytes(512)), SenseKey.ILLEGAL_REQUEST, 0x21)
    assert lun.execute(read10(2047, 1), expected_in=512).good


def test_read_and_write_without_a_medium() -> None:
    lun = ready()
    lun.eject()
    check(lun.execute(read10(0, 1), expected_in=512), SenseKey.NOT_READY, 0x3A)
    check(lun.execute(write10(0, 1), bytes(512)), SenseKey.NOT_READY, 0x3A)


def test_write_protect_switch_refuses_writes() -> None:
    lun = ready(write_protect=True)
    check(lun.execute(write10(0, 1), b"x" * 512), SenseKey.DATA_PROTECT, 0x27)
    assert lun.medium is not None and lun.medium.read(0, 1) == bytes(512)
    assert lun.execute(read10(0, 1), expected_in=512).good


def test_protection_fields_are_invalid() -> None:
    """RDPROTECT / WRPROTECT of a 16-byte CDB; in 6-, 10- and 12-byte CDBs those bits are
    the SCSI-2 LUN field Linux fills in for an ANSI 2 device, and are ignored."""
    lun = ready()
    read16, write16 = rw_cdb(Opcode.READ_16, 0, 1), rw_cdb(Opcode.WRITE_16, 0, 1)
    check(lun.execute(read16[:1] + b"\x20" + read16[2:], expected_in=512),
          SenseKey.ILLEGAL_REQUEST, 0x24)
    check(lun.execute(write16[:1] + b"\x20" + write16[2:], bytes(512)),
          SenseKey.ILLEGAL_REQUEST, 0x24)
    scsi2_lun = lun.execute(bytes((0x28, 0x20)) + read10(0, 1)[2:], expected_in=512)
    assert scsi2_lun.status == SamStatus.GOOD and len(scsi2_lun.data) == 512


class FailingMedium(MemoryMedium):
    def read(self, lba: int, count: int) -> bytes:
        raise OSError(Errno.EIO, "I/O error")

    def write(self, lba: int, data: bytes | bytearray | memoryview) -> None:
        raise OSError(Errno.EIO, "I/O error")

    def flush(self) -> None:
        raise OSError(Errno.EIO, "I/O error")


def test_a_failing_medium_gives_medium_errors() -> None:
    lun = ready(FailingMedium(MiB))
    check(lun.execute(read10(0, 1), expected_in=512), SenseKey.MEDIUM_ERROR, 0x11)
    check(lun.execute(write10(0, 1), bytes(512)), SenseKey.MEDIUM_ERROR, 0x0C)
    check(lun.execute(bytes((0x35,)) + bytes(9)), SenseKey.MEDIUM_ERROR, 0x0C)


def test_verify() -> None:
    lun = ready()
    assert lun.execute(bytes((0x2F, 0, 0, 0, 0, 0, 0, 0, 8, 0))).good
    assert lun.execute(bytes((0x2F, 0x10, 0, 0, 0, 0, 0, 0, 8, 0))).good  # DPO
    check(lun.execute(bytes((0x2F, 0, 0, 0, 0x07, 0xFF, 0, 0, 2, 0))),
          SenseKey.ILLEGAL_REQUEST, 0x21)
    check(lun.execute(bytes((0x2F, 0x02, 0, 0, 0, 0, 0, 0, 1, 0))),  # BYTCHK
          SenseKey.ILLEGAL_REQUEST, 0x24)


# -- MODE SENSE, MODE SELECT --------------------------------------------------------------------


def test_mode_sense_all_pages_is_the_header_alone() -> None:
    lun = ready()
    assert lun.execute(mode_sense6(), expected_in=192).data == bytes((3, 0, 0, 0))
    assert lun.execute(mode_sense6(dbd=True), expected_in=192).data == bytes((3, 0, 0, 0))
    assert lun.execute(mode_sense6(subpage=0xFF), expected_in=192).good
    assert lun.execute(mode_sense10(), expected_in=192).data == bytes((0, 6, 0, 0, 0, 0, 0, 0))


def test_mode_sense_write_protect_bit() -> None:
    assert ready(write_protect=True).execute(mode_sense6(), expected_in=192).data == \
        bytes((3, 0, 0x80, 0))
    assert ready(write_protect=True).execute(mode_sense10(), expected_in=192).data == \
        bytes((0, 6, 0, 0x80, 0, 0, 0, 0))


CACHING = bytes((0x08, 0x12, 0x00)) + bytes(17)  # WCE off (write through), RCD off


def test_mode_sense_caching_page() -> None:
    lun = ready()
    assert lun.execute(mode_sense6(0x08), expected_in=192).data == bytes((23, 0, 0, 0)) + CACHING
    assert lun.execute(mode_sense6(0x08, pc=1), expected_in=192).data[4:] == \
        bytes((0x08, 0x12)) + bytes(18)  # nothing changeable
    assert lun.execute(mode_sense10(0x08), expected_in=192).data == \
        bytes((0, 26, 0, 0, 0, 0, 0, 0)) + CACHING
    both = ready(report_caching_page=True)
    assert both.execute(mode_sense6(), expected_in=192).data == bytes((23, 0, 0, 0)) + CACHING


def test_mode_sense_errors() -> None:
    lun = ready()
    check(lun.execute(mode_sense6(pc=3), expected_in=192), SenseKey.ILLEGAL_REQUEST, 0x39)
    check(lun.execute(mode_sense6(0x1C), expected_in=192), SenseKey.ILLEGAL_REQUEST, 0x24)
    check(lun.execute(mode_sense6(0x08, subpage=1), expected_in=192),
          SenseKey.ILLEGAL_REQUEST, 0x24)
    check(lun.execute(bytes((0x1A, 0x01, 0x3F, 0, 192, 0)), expected_in=192),
          SenseKey.ILLEGAL_REQUEST, 0x24)


def test_mode_sense_works_without_a_medium() -> None:
    lun = ready()
    lun.eject()
    assert lun.execute(mode_sense6(), expected_in=192).data == bytes((3, 0, 0, 0))


def test_mode_select_is_accepted_and_ignored() -> None:
    lun = ready()
    params = bytes((0, 0, 0, 0)) + CACHING
    assert lun.execute(bytes((0x15, 0x10, 0, 0, len(params), 0)), params).good
    assert lun.execute(bytes((0x15, 0x10, 0, 0, 0, 0))).good
    ten = bytes(8) + CACHING
    assert lun.execute(struct.pack(">BB5xHB", 0x55, 0x10, len(ten), 0), ten).good
    check(lun.execute(bytes((0x15, 0x11, 0, 0, len(params), 0)), params),  # SP
          SenseKey.ILLEGAL_REQUEST, 0x24)
    check(lun.execute(bytes((0x15, 0x10, 0, 0, 2, 0)), b"\0\0"),
          SenseKey.ILLEGAL_REQUEST, 0x1A)
    with pytest.raises(ValueError, match="data_out"):
        lun.execute(bytes((0x15, 0x10, 0, 0, 4, 0)), b"\0\0")


# -- removable media ---------------------------------------------------------------------------


PREVENT = bytes((0x1E, 0, 0, 0, 1, 0))
ALLOW = bytes((0x1E, 0, 0, 0, 0, 0))
EJECT = bytes((0x1B, 0, 0, 0, 0x02, 0))
LOAD = bytes((0x1B, 0, 0, 0, 0x03, 0))


def test_start_stop_unit_ejects_and_loads() -> None:
    lun = ready()
    assert lun.execute(EJECT).good
    assert lun.medium is None
    check(lun.execute(TUR), SenseKey.NOT_READY, 0x3A)
    assert lun.execute(LOAD).good
    assert lun.execute(TUR).good
    assert lun.execute(bytes((0x1B, 1, 0, 0, 0x01, 0))).good  # start, immediate
    assert lun.execute(bytes((0x1B, 0, 0, 0, 0x00, 0))).good  # stop: the medium stays
    assert lun.medium is not None


def test_start_stop_unit_errors() -> None:
    lun = ready()
    lun.eject()
    check(lun.execute(LOAD), SenseKey.NOT_READY, 0x3A)  # nothing to load
    check(lun.execute(bytes((0x1B, 0, 0, 0, 0x01, 0))), SenseKey.NOT_READY, 0x3A)
    check(lun.execute(bytes((0x1B, 0, 0, 0, 0x12, 0))), SenseKey.ILLEGAL_REQUEST, 0x24)
    check(lun.execute(bytes((0x1B, 0x02, 0, 0, 0x02, 0))), SenseKey.ILLEGAL_REQUEST, 0x24)
    fixed = ready(removable=False)
    check(fixed.execute(EJECT), SenseKey.ILLEGAL_REQUEST, 0x24)
    assert fixed.execute(bytes((0x1B, 0, 0, 0, 0x01, 0))).good


class CountingMedium(MemoryMedium):
    flushes = 0

    def flush(self) -> None:
        self.flushes += 1


def test_prevent_medium_removal() -> None:
    medium = CountingMedium(MiB)
    lun = ready(medium)
    assert lun.execute(PREVENT).good and lun.prevented
    check(lun.execute(EJECT), SenseKey.ILLEGAL_REQUEST, 0x53, 0x02)
    assert lun.eject() is False
    assert lun.medium is medium
    assert lun.execute(ALLOW).good and not lun.prevented
    assert medium.flushes == 1  # allowing removal writes out what was cached
    assert lun.execute(EJECT).good
    assert medium.flushes == 2


def test_forced_eject_ignores_prevention() -> None:
    lun = ready()
    lun.execute(PREVENT)
    assert lun.eject(force=True) is True
    assert lun.medium is None


def test_prevent_allow_errors() -> None:
    check(ready().execute(bytes((0x1E, 0, 0, 0, 3, 0))), SenseKey.ILLEGAL_REQUEST, 0x24)
    check(ready(removable=False).execute(PREVENT), SenseKey.ILLEGAL_REQUEST, 0x20)


def test_inserting_a_medium_gives_a_unit_attention_once() -> None:
    lun = ready()
    lun.eject()
    new = MemoryMedium(2 * MiB, block_size=4096)
    lun.insert(new)
    assert lun.medium is new
    check(lun.execute(TUR), SenseKey.UNIT_ATTENTION, 0x28)
    assert lun.execute(TUR).good
    assert lun.execute(bytes((0x25,)) + bytes(9), expected_in=8).data == \
        bytes.fromhex("000001ff00001000")
    assert data_phase(read10(0, 2), 4096) == lun.data_phase(read10(0, 2)) == (DataPhase.IN,
                                                                               8192)
    with pytest.raises(TypeError, match="Medium"):
        lun.insert("disk.img")  # type: ignore[arg-type]


def test_a_power_on_unit_attention_outranks_a_medium_change() -> None:
    lun = ScsiLun(MemoryMedium(MiB))
    lun.insert(MemoryMedium(MiB))
    check(lun.execute(TUR), SenseKey.UNIT_ATTENTION, 0x29)
    assert lun.execute(TUR).good


def test_reset_raises_a_unit_attention_and_allows_removal() -> None:
    lun = ready()
    lun.execute(PREVENT)
    check(lun.execute(read10(9999, 1), expected_in=512), SenseKey.ILLEGAL_REQUEST, 0x21)
    lun.reset()
    assert not lun.prevented and lun.pending_sense is None
    check(lun.execute(TUR), SenseKey.UNIT_ATTENTION, 0x29)


# -- SYNCHRONIZE CACHE, READ FORMAT CAPACITIES, REPORT LUNS ---------------------------------------


def test_synchronize_cache_flushes() -> None:
    medium = CountingMedium(MiB)
    lun = ready(medium)
    assert lun.execute(bytes((0x35,)) + bytes(9)).good
    assert lun.execute(bytes((0x91,)) + bytes(15)).good
    assert medium.flushes == 2
    check(lun.execute(bytes((0x35, 0, 0, 0, 0x08, 0, 0, 0, 1, 0))), SenseKey.ILLEGAL_REQUEST,
          0x21)
    lun.eject()
    check(lun.execute(bytes((0x35,)) + bytes(9)), SenseKey.NOT_READY, 0x3A)


def test_read_format_capacities() -> None:
    lun = ready(MemoryMedium(64 * MiB))
    cdb = bytes((0x23, 0, 0, 0, 0, 0, 0, 0, 0xFC, 0))
    assert lun.execute(cdb, expected_in=252).data == bytes.fromhex("00000008" "00020000"
                                                                   "02000200")
    lun.eject()
    check(lun.execute(cdb, expected_in=252), SenseKey.NOT_READY, 0x3A)


def test_report_luns() -> None:
    cdb = bytes((0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0))
    lun = ready()
    assert lun.execute(cdb, expected_in=256).data == bytes.fromhex("00000008 00000000"
                                                                   "0000000000000000")
    check(lun.execute(bytes((0xA0,)) + bytes(5) + bytes((0, 0, 0, 8, 0, 0)), expected_in=8),
          SenseKey.ILLEGAL_REQUEST, 0x24)  # allocation length under 16


def test_an_unknown_opcode_is_invalid() -> None:
    check(ready().execute(bytes((0x04, 0, 0, 0, 0, 0))), SenseKey.ILLEGAL_REQUEST, 0x20)


def test_a_cdb_shorter_than_its_command() -> None:
    lun = ready()
    check(lun.execute(bytes((0x28, 0, 0, 0))), SenseKey.ILLEGAL_REQUEST, 0x24)
    assert data_phase(bytes((0x28, 0, 0, 0))) is None


def test_execute_checks_its_arguments() -> None:
    lun = ready()
    with pytest.raises(ValueError, match="empty"):
        lun.execute(b"")
    with pytest.raises(ValueError, match="WRITE_10 moves 512 bytes, data_out has 3"):
        lun.execute(write10(0, 1), b"abc")
    with pytest.raises(ValueError, match="expected_in"):
        lun.execute(TUR, expected_in=-1)
    with pytest.raises(ValueError, match="vendor"):
        ScsiLun(None, vendor="TOO LONG VENDOR")
    with pytest.raises(TypeError, match="Medium"):
        ScsiLun("disk.img")  # type: ignore[arg-type]


# -- data phases ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("cdb", "expected"), [
    (TUR, (DataPhase.NONE, 0)),
    (INQUIRY, (DataPhase.IN, 36)),
    (bytes((0x03, 0, 0, 0, 18, 0)), (DataPhase.IN, 18)),
    (bytes((0x25,)) + bytes(9), (DataPhase.IN, 8)),
    (bytes((0x9E, 0x10)) + bytes(8) + bytes((0, 0, 0, 32, 0, 0)), (DataPhase.IN, 32)),
    (rw_cdb(Opcode.READ_16, 0, 8), (DataPhase.IN, 4096)),
    (rw_cdb(Opcode.WRITE_12, 0, 3), (DataPhase.OUT, 1536)),
    (mode_sense6(), (DataPhase.IN, 192)),
    (mode_sense10(length=0x200), (DataPhase.IN, 0x200)),
    (bytes((0x15, 0x10, 0, 0, 24, 0)), (DataPhase.OUT, 24)),
    (bytes((0x23, 0, 0, 0, 0, 0, 0, 0, 0xFC, 0)), (DataPhase.IN, 252)),
    (bytes((0xA0,)) + bytes(5) + bytes((0, 0, 1, 0, 0, 0)), (DataPhase.IN, 256)),
    (EJECT, (DataPhase.NONE, 0)),
    (read10(0, 0), (DataPhase.NONE, 0)),
    (bytes((0xC7,)), (DataPhase.NONE, 0)),  # unknown: no data
])
def test_data_phase(cdb: bytes, expected: tuple[DataPhase, int]) -> None:
    assert data_phase(cdb) == expected


def test_cdb_length_by_group() -> None:
    assert [cdb_length(op) for op in (0x00, 0x28, 0x5A, 0x88, 0xA8, 0x7F, 0xC0)] == \
        [6, 10, 10, 16, 12, 1, 1]


# -- the target ---------------------------------------------------------------------------------


def test_target_routes_commands_to_its_units() -> None:
    a, b = ready(), ready(MemoryMedium(2 * MiB))
    target = ScsiTarget([a, b])
    assert target.max_lun == 1 and target.lun(1) is b
    assert target.execute(1, bytes((0x25,)) + bytes(9), expected_in=8).data == \
        bytes.fromhex("00000fff00000200")
    assert target.data_phase(1, read10(0, 1)) == (DataPhase.IN, 512)
    report = bytes((0xA0,)) + bytes(5) + bytes((0, 0, 1, 0, 0, 0))
    listing = bytes.fromhex("00000010 00000000" "0000000000000000" "0001000000000000")
    assert target.execute(0, report, expected_in=256).data == listing
    assert target.execute(7, report, expected_in=256).data == listing
    with pytest.raises(IndexError, match="LUN 2"):
        target.lun(2)


def test_a_missing_unit_answers_as_f_mass_storage_does() -> None:
    target = ScsiTarget([ready()])
    inquiry = target.execute(3, INQUIRY, expected_in=36)
    assert inquiry.good and inquiry.data == bytes((0x7F, 0, 0, 0, 31)) + bytes(31)
    sense = target.execute(3, bytes((0x03, 0, 0, 0, 18, 0)), expected_in=18)
    assert sense.good and Sense.parse(sense.data) == Sense(SenseKey.ILLEGAL_REQUEST, 0x25)
    check(target.execute(3, TUR), SenseKey.ILLEGAL_REQUEST, 0x25)
    assert target.data_phase(3, read10(0, 1)) == (DataPhase.IN, 512)


def test_target_checks_its_units_and_resets_them() -> None:
    with pytest.raises(ValueError, match="1 to 16"):
        ScsiTarget([])
    with pytest.raises(ValueError, match="1 to 16"):
        ScsiTarget([ScsiLun(None) for _ in range(17)])
    with pytest.raises(TypeError, match="luns\\[0\\]"):
        ScsiTarget([MemoryMedium(MiB)])  # type: ignore[list-item]
    units = [ready(), ready()]
    target = ScsiTarget(units)
    target.reset()
    assert all(unit.unit_attention is not None for unit in units)


# -- hostile command blocks --------------------------------------------------------------------


@settings(deadline=None, max_examples=300)
@given(cdb=st.binary(min_size=1, max_size=16), lun=st.integers(0, 3))
def test_any_command_block_gets_an_answer(cdb: bytes, lun: int) -> None:
    target = ScsiTarget([ready(), ScsiLun(None)])
    phase = target.data_phase(lun, cdb)
    size = phase[1] if phase is not None and phase[0] is DataPhase.OUT else 0
    result = target.execute(lun, cdb, bytes(min(size, 1 << 20)) if size else None, 4096) \
        if size <= 1 << 20 else ScsiResult(SamStatus.GOOD)
    assert result.status in (SamStatus.GOOD, SamStatus.CHECK_CONDITION)
    assert len(result.data) <= 4096
    assert (result.sense is None) == (result.status == SamStatus.GOOD)
