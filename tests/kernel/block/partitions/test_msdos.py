"""MBR partition tables (usbemu.kernel.block.partitions.msdos and core.py): primaries,
extended chains, the scan's message, tables that are not tables, partitions beyond the
disk's end, unreadable tables; random sectors never break the scan."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from usbemu_tests_blockkit import image_with, make_disks, mbr, mbr_entry

from usbemu.kernel.block.partitions.core import check_partition
from usbemu.kernel.block.request import BlkStatus
from usbemu.kernel.printk import Level
from usbemu.system import System


def parts_of(disk: Any) -> dict[int, tuple[int, int]]:
    return {n: (p.bd_start_sect, p.nr_sectors) for n, p in sorted(disk.parts.items())}


def test_primaries_and_an_extended_chain(system: System, disks: Any) -> None:
    image = image_with(
        16384,
        (0, mbr(mbr_entry(0x05, 4096, 8192), mbr_entry(0x83, 2048, 1000, 0x80))),
        (4096, mbr(mbr_entry(0x83, 63, 1000), mbr_entry(0x05, 2048, 2048))),   # EBR 1
        (6144, mbr(mbr_entry(0x82, 63, 500))))                                # EBR 2
    disk, _ = disks.add(image)
    assert system.log.lines(Level.INFO)[-1] == " sda: sda1 < sda5 sda6 > sda2"
    assert parts_of(disk) == {1: (4096, 2), 2: (2048, 1000), 5: (4159, 1000), 6: (6207, 500)}
    assert system.vfs.stat("/dev/sda6").rdev == (8, 6)


def test_a_looping_chain_ends(system: System, disks: Any) -> None:
    image = image_with(4096, (0, mbr(mbr_entry(0x0F, 2048, 2048))),
                       (2048, mbr(mbr_entry(0x83, 0, 0), mbr_entry(0x85, 0, 2048))))
    disk, ram = disks.add(image)
    assert system.log.lines(Level.INFO)[-1] == " sda: sda1 < >"
    assert parts_of(disk) == {1: (2048, 2)}
    assert len(ram.requests) == 2  # sector 0's page and the EBR's, read once each


def test_what_is_not_a_table(system: System, disks: Any) -> None:
    disks.add(image_with(2048, (0, mbr(mbr_entry(0x83, 1, 100), signature=b"\0\0"))))
    disks.add(image_with(2048, (0, mbr(mbr_entry(0x83, 1, 100, 0x12)))), name="sdb", index=1)
    disks.add(image_with(2048, (0, mbr(mbr_entry(0xEE, 1, 2047)))), name="sdc", index=2)
    assert not [line for line in system.log.lines() if line.startswith(" sd")]
    assert system.vfs.listdir("/sys/dev/block") == ["8:0", "8:16", "8:32"]


def test_partitions_beyond_the_end_are_cut(system: System, disks: Any) -> None:
    image = image_with(4096, (0, mbr(mbr_entry(0x83, 5000, 10), mbr_entry(0x83, 2048, 3000),
                                     mbr_entry(0x55, 100, 100))))
    disk, _ = disks.add(image)
    assert system.log.lines()[-3:] == [" sda: sda1 sda2 sda3[EZD]",
                                       "sda: p1 start 5000 is beyond EOD, truncated",
                                       "sda: p2 size 3000 extends beyond EOD, truncated"]
    assert parts_of(disk) == {2: (2048, 2048), 3: (100, 100)}


def test_an_unreadable_table(system: System, disks: Any) -> None:
    image = image_with(2048, (0, mbr(mbr_entry(0x83, 100, 100))))
    disk, _ = disks.add(image, fail=lambda req: BlkStatus.IOERR)
    assert system.log.lines()[-2:] == [
        "I/O error, dev sda, sector 0 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
        " sda: unable to read partition table"]
    assert disk.parts == {}


def test_names_ending_in_a_digit(system: System, disks: Any) -> None:
    disk, _ = disks.add(image_with(2048, (0, mbr(mbr_entry(0x83, 100, 100),
                                                 mbr_entry(0x83, 300, 100)))),
                        name="mmcblk0")
    assert system.log.lines(Level.INFO)[-1] == " mmcblk0: p1 p2"
    assert sorted(p.name for p in disk.parts.values()) == ["mmcblk0p1", "mmcblk0p2"]
    assert system.vfs.exists("/dev/mmcblk0p2")


def test_random_sectors_never_break_the_scan() -> None:
    with System() as system:
        disk, ram = make_disks(system).add(64)

        @settings(max_examples=60)
        @given(st.binary(min_size=512, max_size=512), st.binary(min_size=512, max_size=512),
               st.integers(0, 3))
        def scan(sector0: bytes, other: bytes, boot: int) -> None:
            data = bytearray(sector0)
            data[510:512] = b"\x55\xaa"
            data[0x1BE + 16 * boot] = 0
            ram.data[:512] = data
            ram.data[512:1024] = other
            result = system.run(check_partition(disk))
            assert result is None or isinstance(result, int) or result.parts is not None

        scan()
