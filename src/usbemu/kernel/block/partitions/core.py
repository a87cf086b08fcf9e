"""Partitions of a disk — counterpart of Linux's block/partitions/core.c: the scan
(check_partition: GPT, then MBR, and the " sda: sda1 sda2" line), adding the partitions it
found (with Linux's warnings for one beyond the disk's end), deleting them, rescanning
(bdev_disk_changed), and the partition's struct device with its sysfs files and uevent.

A partition is a `BlockDevice` whose `PartDevice` sits below the disk's in sysfs
(…/block/sda/sda1) and in class "block"; its device number is the disk's major with
first_minor + number while the number is below the disk's minors, else one of major 259
(BLOCK_EXT_MAJOR).  Its add and remove uevents make and remove /dev/sda1.  Not modelled:
BLKPG (adding, deleting and resizing partitions by hand), md autodetection, holders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from ....errors import Errno
from ...devclass import ClassDevice, DeviceClass
from ...device import Device
from ...fs import format_dev
from ...printk import Level
from ...sysfs import SysAttr, attr_group, ro
from ...vfs import Node, StaticDir
from ..blk_types import BlockDevice
from .check import DISK_MAX_PARTS, ParsedPartitions
from .efi import efi_partition
from .msdos import msdos_partition

if TYPE_CHECKING:
    from ..genhd import Gendisk

__all__ = ["CHECK_PART", "PART_ATTRS", "PartDevice", "add_partition", "bdev_disk_changed",
           "blk_add_partitions", "check_partition", "delete_partition"]

#: check_part[]: the parsers tried in order; GPT comes before the MBR.
CHECK_PART: Final[tuple[Callable[[ParsedPartitions], Awaitable[int]], ...]] = (
    efi_partition, msdos_partition)


class PartDevice(ClassDevice):
    """The struct device of a partition (part_type): sda1 below its disk's directory,
    DEVTYPE=partition, with DISKSEQ, PARTN and PARTNAME in its uevent."""

    devtype = "partition"

    def __init__(self, cls: DeviceClass, parent: Device, bdev: BlockDevice) -> None:
        super().__init__(cls, parent, bdev.bd_dev, bdev, bdev.name)
        self.bdev = bdev

    def uevent_env(self) -> list[tuple[str, str]]:
        """dev_uevent: MAJOR, MINOR, DEVNAME, DEVTYPE; block_uevent: DISKSEQ;
        part_uevent: PARTN and PARTNAME (a named GPT partition)."""
        env = [*super().uevent_env(), ("DISKSEQ", str(self.bdev.bd_disk.diskseq)),
               ("PARTN", str(self.bdev.bd_partno))]
        if self.bdev.volname:
            env.append(("PARTNAME", self.bdev.volname))
        return env

    def sysfs_dir(self, location: str) -> StaticDir:
        """The partition's directory: no `device` link (device_add_class_symlinks leaves
        it out for partitions)."""
        directory = super().sysfs_dir(location)
        directory.children.pop("device", None)
        return directory

    def sysfs_files(self) -> dict[str, Node]:
        """part_attrs, dev, uevent and the empty holders/ directory.  Context: atomic."""
        files = attr_group(self, PART_ATTRS)
        files["holders"] = StaticDir()
        return files

    def show_uevent(self) -> str:
        """The `uevent` file: the whole uevent environment.  Context: atomic."""
        return "".join(f"{key}={value}\n" for key, value in self.uevent_env())


PART_ATTRS: Final[tuple[SysAttr[PartDevice], ...]] = (
    ro("partition", lambda p: f"{p.bdev.bd_partno}\n"),
    ro("start", lambda p: f"{p.bdev.bd_start_sect}\n"),
    ro("size", lambda p: f"{p.bdev.nr_sectors}\n"),
    ro("ro", lambda p: f"{int(p.bdev.read_only)}\n"),
    ro("alignment_offset", lambda p: "0\n"),
    ro("discard_alignment", lambda p: "0\n"),
    ro("stat", lambda p: p.bdev.stats.show_stat()),
    ro("inflight", lambda p: p.bdev.stats.show_inflight()),
    ro("dev", lambda p: f"{format_dev(p.devt)}\n"),
    SysAttr("uevent", PartDevice.show_uevent, ClassDevice._store_uevent, 0o644),
)
"""part_attrs (core.c) and the dev/uevent files of every device."""


def _log(disk: Gendisk, level: Level, text: str) -> None:
    assert disk.core is not None
    disk.core.log.log(level, text)


async def check_partition(disk: Gendisk) -> ParsedPartitions | int | None:
    """check_partition(): run the parsers until one recognises the disk; log the
    " sda: sda1 sda2" line and return its partitions.  None: no table; a negative number:
    no table and a read failed (" sda: unable to read partition table"; -ENOSPC when a
    read was past the end).  Context: may sleep."""
    state = ParsedPartitions(disk)
    res = err = 0
    for check in CHECK_PART:
        state.reset()
        res = await check(state)
        if res < 0:
            err, res = res, 0
        if res:
            break
    if res > 0:
        _log(disk, Level.INFO, state.pp_buf.removesuffix("\n"))
        return state
    if state.access_beyond_eod:
        err = -Errno.ENOSPC
    if err:
        _log(disk, Level.INFO, state.pp_buf + " unable to read partition table")
        return err
    return None


def _partition_devt(disk: Gendisk, partno: int) -> int:
    """The device number of partition `partno`: in the disk's range, else an extended
    one (blk_alloc_ext_minor)."""
    assert disk.core is not None
    if partno < disk.minors:
        return disk.devt + partno
    return disk.core.alloc_ext_devt()


async def add_partition(disk: Gendisk, partno: int, start: int, length: int,
                        volname: str = "") -> BlockDevice | int:
    """add_partition(): partition `partno` of `length` sectors at `start`, registered
    (its add uevent makes /dev/sdaN).  Returns it, or -EINVAL (number too large), -EBUSY
    (number taken), -EEXIST (its name is taken).  Context: may sleep."""
    core = disk.core
    assert core is not None and disk.device is not None
    if partno >= DISK_MAX_PARTS:
        return -Errno.EINVAL
    if partno in disk.parts:
        return -Errno.EBUSY
    part = BlockDevice(disk, partno, start, length)
    part.volname = volname
    part.bd_dev = _partition_devt(disk, partno)
    device = PartDevice(core.block_class, disk.device, part)
    part.bd_device = device
    disk.parts[partno] = part
    core.bdev_add(part)
    try:
        await core.classes.device_register(device)
    except OSError as exc:
        del disk.parts[partno]
        core.bdev_remove(part)
        return -(exc.errno or Errno.EIO)
    return part


async def delete_partition(part: BlockDevice) -> None:
    """delete_partition() / drop_partition(): the partition goes (its remove uevent
    removes /dev/sdaN and revokes the files open on it).  Context: may sleep."""
    disk = part.bd_disk
    core = disk.core
    assert core is not None
    disk.parts.pop(part.bd_partno, None)
    core.bdev_remove(part)
    if isinstance(part.bd_device, ClassDevice):
        await core.classes.device_unregister(part.bd_device)


async def _blk_add_partition(disk: Gendisk, state: ParsedPartitions, p: int) -> None:
    """blk_add_partition(): add slot `p`, cut to the disk's end (warned about)."""
    slot = state.parts.get(p)
    if slot is None or not slot.size:
        return
    capacity = disk.capacity
    size = slot.size
    if slot.start >= capacity:
        _log(disk, Level.WARNING,
             f"{disk.disk_name}: p{p} start {slot.start} is beyond EOD, truncated")
        return
    if slot.start + size > capacity:
        _log(disk, Level.WARNING,
             f"{disk.disk_name}: p{p} size {size} extends beyond EOD, truncated")
        size = capacity - slot.start
    result = await add_partition(disk, p, slot.start, size, slot.volname)
    if isinstance(result, int) and result != -Errno.ENXIO:
        _log(disk, Level.ERR, f" {disk.disk_name}: p{p} could not be added: {-result}")


async def blk_add_partitions(disk: Gendisk) -> int:
    """blk_add_partitions(): scan the table and add its partitions; a change uevent
    tells user space the table may have changed.  0, or -EIO when the table could not
    be read.  Context: may sleep."""
    if not disk.has_partscan:
        return 0
    state = await check_partition(disk)
    if state is None:
        return 0
    if isinstance(state, int):
        if state == -Errno.ENOSPC:
            _log(disk, Level.WARNING,
                 f"{disk.disk_name}: partition table beyond EOD, truncated")
        return -Errno.EIO
    if state.access_beyond_eod:
        _log(disk, Level.WARNING,
             f"{disk.disk_name}: partition table partially beyond EOD, truncated")
    disk.uevent_change()
    for p in range(1, state.limit):
        await _blk_add_partition(disk, state, p)
    return 0


async def bdev_disk_changed(disk: Gendisk, invalidate: bool) -> int:
    """bdev_disk_changed(): drop the partitions and scan again (with `invalidate`, the
    medium is gone: the capacity becomes 0 and no scan is made).  0, -ENXIO for a disk
    that is gone, -EBUSY while a partition is open, or the scan's -EIO.  Context: may
    sleep."""
    if not disk.live:
        return -Errno.ENXIO
    if disk.open_partitions:
        return -Errno.EBUSY
    for partno in sorted(disk.parts):
        await delete_partition(disk.parts[partno])
    disk.need_part_scan = False
    if invalidate and (disk.has_partscan or not disk.removable):
        disk.part0.nr_sectors = 0
    if disk.capacity:
        return await blk_add_partitions(disk)
    if invalidate:
        disk.uevent_change()
    return 0
