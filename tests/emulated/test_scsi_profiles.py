"""SCSI profiles (usbemu.emulated.scsi_profiles) on a ScsiLun: QEMU's scsi-disk INQUIRY and
MODE SENSE (pages, block descriptor, changeable values, DBD, MODE SENSE(10)), its IN data
zero-filled to the allocation length, no unit attention, and QEMU's geometry guess."""

from __future__ import annotations

import pytest

from usbemu.emulated.scsi_profiles import GADGET, QEMU_SCSI_DISK, hd_geometry_guess
from usbemu.emulated.scsi_target import MemoryMedium, ScsiLun
from usbemu.spec.scsi import SamStatus

MiB = 1 << 20


def qemu_disk(size: int = 16 * MiB) -> ScsiLun:
    return ScsiLun(MemoryMedium(size), removable=False, vendor="QEMU",
                   product="QEMU HARDDISK", revision="2.5+", profile=QEMU_SCSI_DISK)


def mode_sense_6(page: int, length: int = 192, *, dbd: bool = False) -> bytes:
    return bytes((0x1A, 0x08 if dbd else 0, page, 0, length, 0))


def mbr(end_head: int, end_sector: int) -> bytes:
    """Block 0 with one partition entry ending at (end_head, end_sector)."""
    block = bytearray(512)
    block[0x1BE:0x1CE] = bytes((0, 0x20, 0x21, 0, 0x83, end_head, end_sector, 0xFF)) \
        + (2048).to_bytes(4, "little") + (30720).to_bytes(4, "little")
    block[510:512] = b"\x55\xaa"
    return bytes(block)


def test_inquiry_pads_to_the_allocation_length_and_counts_it() -> None:
    lun = qemu_disk()
    assert lun.execute(bytes((0x12, 0, 0, 0, 36, 0))).data[:8] == \
        bytes.fromhex("000005121f000010")
    long = lun.execute(bytes((0x12, 0, 0, 0, 96, 0))).data
    assert len(long) == 96 and long[4] == 91 and long[36:] == bytes(60)
    longest = lun.execute(bytes((0x12, 0, 0, 1, 0x2C, 0))).data     # 300 bytes asked
    assert len(longest) == 300 and longest[4] == 251                # SCSI_MAX_INQUIRY_LEN


def test_no_unit_attention_at_power_on_or_after_a_reset() -> None:
    lun = qemu_disk()
    assert lun.unit_attention is None and lun.execute(bytes(6)).good
    lun.reset()
    assert lun.unit_attention is None
    gadget = ScsiLun(MemoryMedium(MiB), profile=GADGET)
    assert not gadget.execute(bytes(6)).good


def test_mode_pages_by_number_and_all_of_them() -> None:
    lun = qemu_disk()
    all_pages = lun.execute(mode_sense_6(0x3F)).data
    assert len(all_pages) == 192 and all_pages[:4] == bytes((0x63, 0, 0, 8))
    caching = lun.execute(mode_sense_6(0x08, 32)).data
    assert caching[:12] == bytes.fromhex("1f000008 00008000 00000200")
    assert caching[12:15] == bytes((0x08, 0x12, 0x04)) and len(caching) == 32
    assert lun.execute(mode_sense_6(0x04, 36)).data[12:18] == bytes.fromhex("041600002010")
    refused = lun.execute(mode_sense_6(0x1C))
    assert refused.status == SamStatus.CHECK_CONDITION


def test_dbd_drops_the_block_descriptor_and_changeable_values_are_masks() -> None:
    lun = qemu_disk()
    data = lun.execute(mode_sense_6(0x3F, 255, dbd=True)).data
    assert data[:4] == bytes((0x5B, 0, 0, 0)) and data[4:6] == bytes((0x01, 0x0A))
    changeable = lun.execute(bytes((0x1A, 0x08, 0x40 | 0x3F, 0, 255, 0))).data
    pages = changeable[4:0x5C]
    assert pages[2:12] == bytes(10)                       # nothing of 01h may change
    assert pages[-20:-17] == bytes((0x08, 0x12, 0x04))    # but WCE may
    ten = lun.execute(bytes((0x5A, 0, 0x08, 0, 0, 0, 0, 0, 40, 0))).data
    assert ten[:8] == bytes.fromhex("0022 00 00 0000 0008") and len(ten) == 40


@pytest.mark.parametrize(("size", "block0", "geometry"), [
    (16 * MiB, bytes(512), (32, 16, 63)),      # no partition table: 16 heads, 63 sectors
    (MiB, bytes(512), (2, 16, 63)),            # at least 2 cylinders
    (16 << 30, bytes(512), (16383, 16, 63)),   # at most 16383
    (16 * MiB, mbr(0xFE, 0xFF), (32, 16, 63)),  # 255 heads: a BIOS translation, ignored
    (16 * MiB, mbr(3, 32), (256, 4, 32)),      # 4 heads of 32 sectors: taken
])
def test_hd_geometry_guess(size: int, block0: bytes, geometry: tuple[int, int, int]) -> None:
    medium = MemoryMedium(size)
    medium.write(0, block0)
    assert hd_geometry_guess(medium) == geometry
    lun = ScsiLun(medium, profile=QEMU_SCSI_DISK)
    assert lun.geometry == geometry
