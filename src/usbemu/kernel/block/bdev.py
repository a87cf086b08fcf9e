"""Opening and closing block devices — counterpart of Linux's block/bdev.c (bdev_open,
blkdev_get_whole, blkdev_get_part, bdev_release, block_size) and disk_scan_partitions()
of block/genhd.c.

Opening a disk calls its driver's `open` (sd's checks the medium and write protection)
and, when the partition table must be read again (a new disk, a changed medium,
BLKRRPART), rescans it; opening a partition opens the whole disk first and fails with
-ENXIO for a partition of size 0.  The owner module of the disk's operations is pinned
while the device is open.  Everything runs under the disk's open mutex.  Not modelled:
exclusive openers and holders (BLK_OPEN_EXCL is accepted and means nothing more).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ...errors import Errno
from ..fs import module_put, try_module_get
from .blk_mq import PAGE_SIZE
from .blk_types import BlkOpen, BlockDevice
from .partitions.core import bdev_disk_changed

if TYPE_CHECKING:
    from .genhd import Gendisk

__all__ = ["bdev_open", "bdev_release", "block_size", "call_disk_op", "disk_scan_partitions"]


async def call_disk_op(disk: Gendisk, what: str, fn: Any, *args: Any) -> int:
    """Call one of the disk's block_device_operations (`what` names it in the log),
    contained: its int result (None: 0), -errno for an OSError, -EIO after anything else
    (logged like an oops).  Context: may sleep."""
    assert disk.core is not None
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    except BaseException as exc:
        disk.core.driver_core.contain(f"{what} of {disk.disk_name}", exc)
        return -Errno.EIO
    if result is None:
        return 0
    if isinstance(result, bool) or not isinstance(result, int):
        disk.core.driver_core.oops(f"{what} of {disk.disk_name}",
                                   TypeError(f"returned {result!r}: return 0 or -errno"))
        return -Errno.EIO
    return result


async def _get_whole(bdev: BlockDevice, mode: BlkOpen) -> int:
    """blkdev_get_whole(): the driver's open, then a partition scan if one is due."""
    disk = bdev.bd_disk
    if disk.fops.open is not None:
        ret = await call_disk_op(disk, "open", disk.fops.open, disk, mode)
        if ret:
            if ret == -Errno.ENOMEDIUM and disk.need_part_scan:
                await bdev_disk_changed(disk, True)  # no ghost partitions on a removed medium
            return ret
    bdev.bd_openers += 1
    if disk.need_part_scan:
        ret = await bdev_disk_changed(disk, False)
        if ret and mode & BlkOpen.STRICT_SCAN:
            await _put_whole(bdev)
            return ret
    return 0


async def _put_whole(bdev: BlockDevice) -> None:
    """blkdev_put_whole(): one opener less; the driver's release."""
    disk = bdev.bd_disk
    bdev.bd_openers -= 1
    if disk.fops.release is not None:
        await call_disk_op(disk, "release", disk.fops.release, disk)


async def _get_part(part: BlockDevice, mode: BlkOpen) -> int:
    """blkdev_get_part(): the whole disk first; a partition of size 0 is -ENXIO."""
    disk = part.bd_disk
    ret = await _get_whole(part.whole, mode)
    if ret:
        return ret
    if not part.nr_sectors:
        await _put_whole(part.whole)
        return -Errno.ENXIO
    if not part.bd_openers:
        disk.open_partitions += 1
    part.bd_openers += 1
    return 0


async def bdev_open(bdev: BlockDevice, mode: BlkOpen) -> int:
    """bdev_open(): open a disk or partition; 0, or -ENXIO (the disk is gone, or its
    driver's module is going away, or an empty partition) or the driver's -errno.
    Context: may sleep."""
    disk = bdev.bd_disk
    async with disk.open_mutex:
        if not disk.live or not try_module_get(disk.fops.owner):
            return -Errno.ENXIO
        ret = await (_get_part(bdev, mode) if bdev.is_partition else _get_whole(bdev, mode))
        if ret:
            module_put(disk.fops.owner)
        return ret


async def bdev_release(bdev: BlockDevice) -> None:
    """bdev_release(): undo one bdev_open.  Context: may sleep."""
    disk = bdev.bd_disk
    async with disk.open_mutex:
        if bdev.is_partition:
            bdev.bd_openers -= 1
            if not bdev.bd_openers:
                disk.open_partitions -= 1
        await _put_whole(bdev.whole)
        module_put(disk.fops.owner)


async def disk_scan_partitions(disk: Gendisk, mode: BlkOpen = BlkOpen.READ) -> int:
    """disk_scan_partitions(): read the partition table again by opening the disk with a
    scan due.  0 or -errno: -EINVAL for a disk without partitions, -EBUSY while a
    partition is open, the open's error (with BLK_OPEN_STRICT_SCAN, the scan's).
    Context: may sleep."""
    if not disk.has_partscan:
        return -Errno.EINVAL
    if disk.open_partitions:
        return -Errno.EBUSY
    disk.need_part_scan = True
    ret = await bdev_open(disk.part0, mode & ~BlkOpen.EXCL)
    if not ret:
        await bdev_release(disk.part0)
    disk.need_part_scan = False
    return ret


def block_size(bdev: BlockDevice) -> int:
    """block_size() as set_init_blocksize() sets it at the first open: the logical block
    size, doubled up to a page while it divides the device's size."""
    size = bdev.nr_bytes
    bsize = bdev.bd_disk.queue.logical_block_size
    while bsize < PAGE_SIZE and not size & bsize:
        bsize <<= 1
    return bsize
