"""Block devices as data — counterpart of Linux's struct block_device
(include/linux/blk_types.h) with the helpers of include/linux/blkdev.h that name and size
it (bdev_nr_sectors, bdev_read_only, bdev_is_partition, disk_name/%pg), the open modes of
blk_mode_t, and the I/O statistics of include/linux/part_stat.h.

A `BlockDevice` is the whole disk (partition 0, `disk.part0`) or one partition of it:
where it starts on the disk, how many 512-byte sectors it has, its device number, its
struct device in sysfs (`bd_device`, made when the disk or partition is added), how many
times it is open and what was done to it (`DiskStats`, the `stat` and `inflight` files).
Opening and closing one is bdev.py's, its files fops.py's, reading and writing it
blk_mq.py's.  No page cache, holders or bd_claim: every read and write goes to the
request queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Final

from ..fs import O_ACCMODE, O_EXCL, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY
from .request import SECTOR_SHIFT, ReqOp

if TYPE_CHECKING:
    from ..devclass import ClassDevice
    from .genhd import Gendisk

__all__ = ["BlkOpen", "BlockDevice", "DiskStats", "StatGroup", "disk_name", "file_to_blk_mode"]

NSEC_PER_MSEC: Final = 1_000_000


class BlkOpen(IntFlag):
    """blk_mode_t: how a block device is opened (BLK_OPEN_*)."""

    READ = 1 << 0
    WRITE = 1 << 1
    EXCL = 1 << 2
    NDELAY = 1 << 3
    NOWAIT = 1 << 4
    WRITE_IOCTL = 1 << 5
    RESTRICT_WRITES = 1 << 6
    STRICT_SCAN = 1 << 7


def file_to_blk_mode(flags: int) -> BlkOpen:
    """file_to_blk_mode(): the open mode of a block device file opened with `flags`
    (O_* bits): read and write as its access mode says, EXCL for O_EXCL, NDELAY for
    O_NONBLOCK, WRITE_IOCTL for access mode 3."""
    accmode = flags & O_ACCMODE
    mode = BlkOpen(0)
    if accmode in (O_RDONLY, O_RDWR):
        mode |= BlkOpen.READ
    if accmode in (O_WRONLY, O_RDWR):
        mode |= BlkOpen.WRITE
    if flags & O_EXCL:
        mode |= BlkOpen.EXCL
    if flags & O_NONBLOCK:
        mode |= BlkOpen.NDELAY
    if accmode == O_ACCMODE:
        mode |= BlkOpen.WRITE_IOCTL
    return mode


class StatGroup(IntEnum):
    """enum stat_group: the groups of the `stat` file."""

    READ = 0
    WRITE = 1
    DISCARD = 2
    FLUSH = 3


#: op_stat_group(): the group each operation is counted in.
OP_STAT_GROUP: Final = {ReqOp.READ: StatGroup.READ, ReqOp.WRITE: StatGroup.WRITE,
                        ReqOp.FLUSH: StatGroup.FLUSH}


@dataclass
class DiskStats:
    """struct disk_stats of one block device, summed: per group the requests done
    (`ios`), the bios merged into a request (`merges`), the sectors moved and the time
    the requests took; the time the device was busy (`io_ticks_ns`) and the requests in
    flight (reads, writes).  Times are machine time in nanoseconds."""

    ios: list[int] = field(default_factory=lambda: [0] * 4)
    merges: list[int] = field(default_factory=lambda: [0] * 4)
    sectors: list[int] = field(default_factory=lambda: [0] * 4)
    nsecs: list[int] = field(default_factory=lambda: [0] * 4)
    io_ticks_ns: int = 0
    in_flight: list[int] = field(default_factory=lambda: [0, 0])
    stamp_ns: int = 0

    def _update_io_ticks(self, now_ns: int) -> None:
        """update_io_ticks(): the time since the last stamp counts while busy."""
        if sum(self.in_flight):
            self.io_ticks_ns += now_ns - self.stamp_ns
        self.stamp_ns = now_ns

    def start(self, op: ReqOp, now_ns: int) -> None:
        """blk_account_io_start(): a request was started.  Context: atomic."""
        self._update_io_ticks(now_ns)
        self.in_flight[op is ReqOp.WRITE] += 1

    def done(self, op: ReqOp, nr_sectors: int, start_ns: int, now_ns: int) -> None:
        """blk_account_io_done(): a request ended.  Context: atomic."""
        self._update_io_ticks(now_ns)
        self.in_flight[op is ReqOp.WRITE] -= 1
        group = OP_STAT_GROUP[op]
        self.ios[group] += 1
        self.sectors[group] += nr_sectors
        self.nsecs[group] += now_ns - start_ns

    def show_stat(self) -> str:
        """part_stat_show(): the 17 fields of the `stat` file.  Context: atomic."""
        ms = [n // NSEC_PER_MSEC for n in self.nsecs]
        fields = (
            self.ios[0], self.merges[0], self.sectors[0], ms[0],
            self.ios[1], self.merges[1], self.sectors[1], ms[1],
            sum(self.in_flight), self.io_ticks_ns // NSEC_PER_MSEC,
            sum(self.nsecs) // NSEC_PER_MSEC,
            self.ios[2], self.merges[2], self.sectors[2], ms[2],
            self.ios[3], ms[3],
        )
        return " ".join(f"{value:8d}" for value in fields) + "\n"

    def show_inflight(self) -> str:
        """part_inflight_show(): reads and writes in flight.  Context: atomic."""
        return f"{self.in_flight[0]:8d} {self.in_flight[1]:8d}\n"


def disk_name(name: str, partno: int) -> str:
    """The name of partition `partno` of the disk `name` (disk_name(), %pg): the disk's
    own for 0, "sda1" — or "mmcblk0p1" after a name ending in a digit."""
    if not partno:
        return name
    return f"{name}p{partno}" if name[-1:].isdigit() else f"{name}{partno}"


class BlockDevice:
    """struct block_device: the whole disk (`bd_partno` 0) or one of its partitions.
    `bd_start_sect` and `nr_sectors` are in 512-byte sectors of the disk; `bd_dev` is
    the device number (0 until added); `bd_read_only` the BLKROSET policy of this device;
    `bd_openers` counts its opens; `volname` the partition's name (GPT), for PARTNAME."""

    def __init__(self, disk: Gendisk, partno: int, start: int = 0, nr_sectors: int = 0) -> None:
        self.bd_disk = disk
        self.bd_partno = partno
        self.bd_start_sect = start
        self.nr_sectors = nr_sectors
        self.bd_dev = 0
        self.bd_read_only = False
        self.bd_openers = 0
        self.bd_device: ClassDevice | None = None
        self.volname = ""
        self.stats = DiskStats()
        #: BD_RO_WARNED: "Trying to write to read-only block-device" was said once.
        self.ro_warned = False

    def __repr__(self) -> str:
        return f"<BlockDevice {self.name} start={self.bd_start_sect} size={self.nr_sectors}>"

    @property
    def name(self) -> str:
        """%pg: "sda", "sda1"."""
        return disk_name(self.bd_disk.disk_name, self.bd_partno)

    @property
    def is_partition(self) -> bool:
        """bdev_is_partition()."""
        return self.bd_partno != 0

    @property
    def whole(self) -> BlockDevice:
        """bdev_whole(): the disk's part0."""
        return self.bd_disk.part0

    @property
    def nr_bytes(self) -> int:
        """bdev_nr_bytes()."""
        return self.nr_sectors << SECTOR_SHIFT

    @property
    def read_only(self) -> bool:
        """bdev_read_only(): this device's policy, or the disk's."""
        return self.bd_read_only or self.bd_disk.ro
