"""The PC BIOS (MBR) partition table — counterpart of Linux's block/partitions/msdos.c.

Sector 0 with the 0x55AA signature holds four primary entries (partitions 1 to 4); an
extended entry (types 0x05, 0x0F, 0x85) is a chain of extended boot records whose data
entries are the logical partitions 5, 6 …, and is itself shown as a partition of one or
two sectors, with the logical ones between " <" and " >" in the scan's message.  A table
with a boot indicator other than 0x00/0x80 is no table — a FAT boot sector there is a
disk without partitions (" sda:"); an entry of type 0xEE leaves the disk to the GPT
parser.  Not modelled: AIX disks and the BSD, Solaris, Minix and UnixWare subpartitions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from .check import ADDPART_FLAG_RAID, ParsedPartitions

__all__ = ["MSDOS_LABEL_MAGIC", "PartitionEntry", "fat_boot_sector_valid", "msdos_partition"]

MSDOS_LABEL_MAGIC: Final = b"\x55\xaa"
#: Offset of the four entries in an MBR or EBR.
PARTITION_TABLE_OFFSET: Final = 0x1BE
DOS_EXTENDED_PARTITION: Final = 0x05
WIN98_EXTENDED_PARTITION: Final = 0x0F
LINUX_EXTENDED_PARTITION: Final = 0x85
EXTENDED_TYPES: Final = frozenset({DOS_EXTENDED_PARTITION, WIN98_EXTENDED_PARTITION,
                                   LINUX_EXTENDED_PARTITION})
LINUX_RAID_PARTITION: Final = 0xFD
EFI_PMBR_OSTYPE_EFI_GPT: Final = 0xEE
#: Types marked in the message after the partition ("[DM]", "[EZD]").
MARKED_TYPES: Final = {0x54: "[DM]", 0x55: "[EZD]"}
#: Logical partitions followed without finding data before the chain is given up.
MAX_EMPTY_LINKS: Final = 100


@dataclass(frozen=True)
class PartitionEntry:
    """struct msdos_partition: one 16-byte entry (boot_ind, CHS, sys_ind, start_sect,
    nr_sects)."""

    boot_ind: int
    sys_ind: int
    start_sect: int
    nr_sects: int

    @classmethod
    def parse(cls, sector: bytes, index: int) -> PartitionEntry:
        at = PARTITION_TABLE_OFFSET + 16 * index
        boot, sys_ind, start, size = struct.unpack_from("<B3xB3xII", sector, at)
        return cls(boot, sys_ind, start, size)

    @property
    def extended(self) -> bool:
        """is_extended_partition()."""
        return self.sys_ind in EXTENDED_TYPES


def _entries(sector: bytes) -> list[PartitionEntry]:
    return [PartitionEntry.parse(sector, i) for i in range(4)]


def fat_valid_media(media: int) -> bool:
    """fat_valid_media(): 0xF0 or 0xF8..0xFF."""
    return media >= 0xF8 or media == 0xF0


def fat_boot_sector_valid(sector: bytes) -> bool:
    """Whether sector 0 looks like a FAT boot sector (reserved sectors, FATs and a valid
    media byte: struct fat_boot_sector)."""
    reserved, fats = struct.unpack_from("<HB", sector, 14)
    return bool(reserved and fats and fat_valid_media(sector[21]))


async def _parse_extended(state: ParsedPartitions, first_sector: int, first_size: int) -> None:
    """parse_extended(): follow the chain of extended boot records from `first_sector`:
    each record's data entries are logical partitions (entries 3 and 4 only if they lie
    inside the extended partition), its first extended entry links to the next record."""
    sector_size = state.logical_block_size // 512
    this_sector, this_size = first_sector, first_size
    loopct = 0
    while True:
        loopct += 1
        if loopct > MAX_EMPTY_LINKS or state.next == state.limit:
            return
        data = await state.read_part_sector(this_sector)
        if data is None or data[510:512] != MSDOS_LABEL_MAGIC:
            return
        entries = _entries(data)
        for i, p in enumerate(entries):
            if not p.nr_sects or p.extended:
                continue
            offs, size = p.start_sect * sector_size, p.nr_sects * sector_size
            start = this_sector + offs
            if i >= 2 and (offs + size > this_size or start < first_sector
                           or start + size > first_sector + first_size):
                continue
            state.put_partition(state.next, start, size)
            if p.sys_ind == LINUX_RAID_PARTITION:
                state.part(state.next).flags = ADDPART_FLAG_RAID
            loopct = 0
            state.next += 1
            if state.next == state.limit:
                return
        link = next((p for p in entries if p.nr_sects and p.extended), None)
        if link is None:
            return
        this_sector = first_sector + link.start_sect * sector_size
        this_size = link.nr_sects * sector_size


async def msdos_partition(state: ParsedPartitions) -> int:
    """msdos_partition(): 1 when sector 0 holds a table (partitions recorded in `state`),
    0 when it does not, -1 when it cannot be read.  Context: may sleep."""
    sector_size = state.logical_block_size // 512
    data = await state.read_part_sector(0)
    if data is None:
        return -1
    if data[510:512] != MSDOS_LABEL_MAGIC:
        return 0
    entries = _entries(data)
    for slot, p in enumerate(entries, 1):
        if p.boot_ind not in (0, 0x80):
            if slot == 1 and fat_boot_sector_valid(data):
                state.pp_buf += "\n"
                return 1
            return 0
    if any(p.sys_ind == EFI_PMBR_OSTYPE_EFI_GPT for p in entries):
        return 0
    state.next = 5
    for slot, p in enumerate(entries, 1):
        start, size = p.start_sect * sector_size, p.nr_sects * sector_size
        if not size:
            continue
        if p.extended:
            # leave room for LILO: the extended partition itself is one or two sectors
            state.put_partition(slot, start, min(size, max(sector_size, 2)))
            state.pp_buf += " <"
            await _parse_extended(state, start, size)
            state.pp_buf += " >"
            continue
        state.put_partition(slot, start, size)
        if p.sys_ind == LINUX_RAID_PARTITION:
            state.part(slot).flags = ADDPART_FLAG_RAID
        state.pp_buf += MARKED_TYPES.get(p.sys_ind, "")
    state.pp_buf += "\n"
    return 1
