"""What the partition parsers share — counterpart of Linux's block/partitions/check.h
(struct parsed_partitions, put_partition) and read_part_sector() of core.c.

A parser reads sectors of the whole disk with `read_part_sector` — a page (8 sectors) at a
time through the request queue, as the page cache of the disk's inode reads them, each
page once per scan — and records what it finds with `put_partition`, which also writes the
" sda1" of the scan's message (`pp_buf`).  A read past the disk's end returns None and
sets `access_beyond_eod`; a failed read returns None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..blk_mq import submit_bio_wait
from ..request import SECTOR_SHIFT, SECTOR_SIZE, BlkStatus, ReqOp

if TYPE_CHECKING:
    from ..genhd import Gendisk

__all__ = ["ADDPART_FLAG_RAID", "DISK_MAX_PARTS", "PAGE_SECTORS", "ParsedPartition",
           "ParsedPartitions"]

#: The most partitions (and minors) a disk has (DISK_MAX_PARTS).
DISK_MAX_PARTS: Final = 256
#: Sectors in a page of the page cache.
PAGE_SECTORS: Final = 8
#: The partition holds a Linux RAID member (ADDPART_FLAG_RAID).
ADDPART_FLAG_RAID: Final = 1


@dataclass
class ParsedPartition:
    """One slot of parsed_partitions.parts: first sector and size in 512-byte sectors,
    flags, and the partition's name (GPT) for PARTNAME."""

    start: int = 0
    size: int = 0
    flags: int = 0
    volname: str = ""


class ParsedPartitions:
    """struct parsed_partitions: the disk being scanned, its partitions by number, the
    next number for logical partitions (`next`), the limit, and the message being built."""

    def __init__(self, disk: Gendisk) -> None:
        self.disk = disk
        name = disk.disk_name
        #: The prefix of partition names in the message: "sda", or "p" after a digit.
        self.name = "p" if name[-1:].isdigit() else name
        self.limit = DISK_MAX_PARTS
        self.parts: dict[int, ParsedPartition] = {}
        self.next = 0
        self.access_beyond_eod = False
        self.pp_buf = f" {name}:"
        self._pages: dict[int, bytes | None] = {}

    def reset(self) -> None:
        """Forget the slots a parser filled (before the next parser runs)."""
        self.parts.clear()

    def put_partition(self, n: int, start: int, size: int) -> None:
        """put_partition(): record partition `n` and add " sda<n>" to the message."""
        if n < self.limit:
            self.parts[n] = ParsedPartition(start, size)
            self.pp_buf += f" {self.name}{n}"

    def part(self, n: int) -> ParsedPartition:
        """The slot of partition `n` (an empty one when nothing was put there)."""
        return self.parts.setdefault(n, ParsedPartition())

    @property
    def logical_block_size(self) -> int:
        return self.disk.queue.logical_block_size

    async def read_part_sector(self, n: int) -> bytes | None:
        """read_part_sector(): the 512 bytes of sector `n` of the disk, or None (beyond
        the end: `access_beyond_eod` is set; or the read failed).  Context: may sleep."""
        capacity = self.disk.capacity
        if n >= capacity:
            self.access_beyond_eod = True
            return None
        index = n // PAGE_SECTORS
        if index not in self._pages:
            first = index * PAGE_SECTORS
            count = min(PAGE_SECTORS, capacity - first)
            buffer = bytearray(count << SECTOR_SHIFT)
            status = await submit_bio_wait(self.disk.part0, ReqOp.READ, first,
                                           memoryview(buffer))
            self._pages[index] = bytes(buffer) if status is BlkStatus.OK else None
        page = self._pages[index]
        if page is None:
            return None
        offset = (n % PAGE_SECTORS) << SECTOR_SHIFT
        return page[offset:offset + SECTOR_SIZE]
