"""GUID partition tables (usbemu.kernel.block.partitions.efi): the protective MBR, the
primary and alternate headers with their CRCs, Linux's warnings when they disagree, the
entries and their names; random headers never break the scan."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from usbemu_tests_blockkit import GptPart, gpt_image, make_disks, mbr_entry

from usbemu.kernel.block.partitions.core import check_partition
from usbemu.kernel.block.partitions.efi import GptEntry, efi_crc32
from usbemu.kernel.printk import Level
from usbemu.system import System

TWO = [GptPart(2048, 4095, "boot"), GptPart(4096, 8191, "data")]


def test_a_valid_gpt(system: System, disks: Any) -> None:
    disk, _ram = disks.add(gpt_image(16384, TWO))
    assert system.log.lines(Level.INFO)[-1] == " sda: sda1 sda2"
    assert [(p.bd_start_sect, p.nr_sectors, p.volname) for p in disk.parts.values()] == \
        [(2048, 2048, "boot"), (4096, 4096, "data")]
    assert system.vfs.read_text("/sys/block/sda/sda2/uevent").endswith(
        "PARTN=2\nPARTNAME=data\n")
    assert not [line for line in system.log.lines(Level.WARNING) if "GPT" in line]


def test_a_hybrid_mbr_is_still_gpt(system: System, disks: Any) -> None:
    disks.add(gpt_image(16384, TWO, extra_mbr=mbr_entry(0x0C, 2048, 2048)))
    assert system.log.lines(Level.INFO)[-1] == " sda: sda1 sda2"


def test_an_image_copied_to_a_larger_disk(system: System, disks: Any) -> None:
    image = gpt_image(8192, TWO) + bytearray(8192 * 512)
    disks.add(image)
    assert system.log.lines()[-6:] == [
        "GPT:Primary header thinks Alt. header is not at the end of the disk.",
        "GPT:8191 != 16383",
        "GPT:Alternate GPT header not at the end of the disk.",
        "GPT:8191 != 16383",
        "GPT: Use GNU Parted to correct GPT errors.",
        " sda: sda1 sda2"]


def test_the_alternate_header_missing_or_different(system: System, disks: Any) -> None:
    disks.add(gpt_image(16384, TWO, alternate=False))
    assert system.log.lines()[-2:] == ["Alternate GPT is invalid, using primary GPT.",
                                       " sda: sda1 sda2"]
    image = gpt_image(16384, TWO)
    other = gpt_image(16384, [*TWO, GptPart(10000, 10999)])
    image[-33 * 512:] = other[-33 * 512:]   # the backup describes three partitions
    disks.add(image, name="sdb", index=1)
    crcs = [struct.unpack_from("<I", img, 512 + 88)[0] for img in (image, other)]
    assert system.log.lines()[-3:] == [
        f"GPT:partition_entry_array_crc32 values don't match: 0x{crcs[0]:x} != "
        f"0x{crcs[1]:x}",
        "GPT: Use GNU Parted to correct GPT errors.",
        " sdb: sdb1 sdb2"]


def test_broken_gpts_are_no_tables(system: System, disks: Any) -> None:
    system.log.debug = True
    bad_crc = gpt_image(16384, TWO)
    bad_crc[512 + 24] ^= 1                       # my_lba changed, header CRC not updated
    bad_entries = gpt_image(16384, TWO)
    bad_entries[2 * 512 + 40] ^= 1               # an entry changed, array CRC not updated
    no_pmbr = gpt_image(16384, TWO, pmbr_type=0x83)
    disks.add(bad_crc)
    disks.add(bad_entries, name="sdb", index=1)
    disks.add(no_pmbr, name="sdc", index=2)
    # without a protective MBR the disk is an MBR disk: its one entry is all there is
    assert [line for line in system.log.lines() if line.startswith(" sd")] == [" sdc: sdc1"]
    debug = system.log.lines(Level.DEBUG)
    assert any(line.startswith("GUID Partition Table Header CRC is wrong: ") for line in debug)
    assert "GUID Partition Entry Array CRC check failed." in debug


def test_entries_outside_the_disk_are_skipped(system: System, disks: Any) -> None:
    parts = [GptPart(2048, 4095), GptPart(4096, 20000), GptPart(0, 0, type_guid=bytes(16)),
             GptPart(5000, 5999, "x\x01y")]
    disk, _ = disks.add(gpt_image(16384, parts))
    assert system.log.lines(Level.INFO)[-1] == " sda: sda1 sda4"
    assert disk.parts[4].volname == "x!y"


def test_entry_names_are_seven_bit() -> None:
    raw = struct.pack("<16s16sQQQ72s", b"t" * 16, b"u" * 16, 1, 2, 0,
                      "é€ab".encode("utf-16-le"))
    assert GptEntry.parse(raw, 0).volname == "i,ab"
    assert efi_crc32(b"123456789") == 0xCBF43926


def test_random_headers_never_break_the_scan() -> None:
    with System() as system:
        disk, ram = make_disks(system).add(gpt_image(256, TWO[:1]))
        template = bytes(ram.data[512:1024])

        @settings(max_examples=60)
        @given(st.lists(st.tuples(st.integers(0, 91), st.integers(0, 255)), max_size=8))
        def scan(changes: list[tuple[int, int]]) -> None:
            header = bytearray(template)
            for at, value in changes:
                header[at] = value
            header[16:20] = bytes(4)
            struct.pack_into("<I", header, 16, efi_crc32(bytes(header[:92])))
            ram.data[512:1024] = header
            result = system.run(check_partition(disk))
            assert result is None or isinstance(result, int) or result.parts is not None

        scan()
