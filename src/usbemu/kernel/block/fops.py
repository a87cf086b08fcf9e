"""The files of block devices — counterpart of Linux's block/fops.c (def_blk_fops:
blkdev_open, blkdev_release, blkdev_read_iter, blkdev_write_iter, blkdev_llseek,
blkdev_fsync; blkdev_ioctl is ioctl.py's).

/dev/sda and /dev/sda1 read and write at any byte offset: the bytes are moved in whole
logical blocks through the request queue, a block written in part is read first and
written whole (what the page cache does for a partial page), and writes to one disk are
serialised so that two of them never interleave their read-modify-write.  Reads stop at
the device's end (0 there); writes stop at it too, and one that starts there is -ENOSPC;
a device that is read-only (set_disk_ro, BLKROSET) refuses writes with -EPERM — its
driver may refuse a writable open (sd: -EROFS).  lseek is relative to the device's size;
fsync flushes the device's write cache.  Not modelled: the page cache itself (no data is
kept between calls), O_DIRECT's alignment rules, mmap.
"""

from __future__ import annotations

import stat as stat_mod
from typing import TYPE_CHECKING

from ...errors import Errno
from ..fs import File, FileOperations, Inode, Loff, fixed_size_llseek
from ..vfs import fs_error
from .bdev import bdev_open, bdev_release
from .blk_mq import blk_status_error, blkdev_issue_flush, submit_bio_wait
from .blk_types import BlockDevice, file_to_blk_mode
from .ioctl import blkdev_ioctl
from .request import SECTOR_SHIFT, BlkStatus, ReqOp

if TYPE_CHECKING:
    from ..syscalls import OpenFiles

__all__ = ["BLKDEV_FOPS", "bdev_pread", "bdev_pwrite", "blkdev_open"]


def _span(bdev: BlockDevice, pos: int, count: int) -> tuple[int, int]:
    """The whole logical blocks covering bytes pos..pos+count: (first byte, end byte)."""
    lbs = bdev.bd_disk.queue.logical_block_size
    return pos // lbs * lbs, -(-(pos + count) // lbs) * lbs


async def _io(bdev: BlockDevice, op: ReqOp, start: int, buffer: memoryview) -> None:
    status = await submit_bio_wait(bdev, op, start >> SECTOR_SHIFT, buffer)
    if status is not BlkStatus.OK:
        raise blk_status_error(status, bdev.name)


async def bdev_pread(bdev: BlockDevice, pos: int, count: int) -> bytes:
    """`count` bytes at byte `pos` of the device (inside it), read in whole blocks.
    Raises OSError with the errno of a failed read.  Context: may sleep."""
    start, end = _span(bdev, pos, count)
    buffer = bytearray(end - start)
    await _io(bdev, ReqOp.READ, start, memoryview(buffer))
    return bytes(buffer[pos - start:pos - start + count])


async def bdev_pwrite(bdev: BlockDevice, pos: int, data: memoryview) -> None:
    """Write `data` at byte `pos` of the device (inside it): blocks written in part are
    read first.  Raises OSError with the errno of a failed read or write.  Context: may
    sleep."""
    count = len(data)
    start, end = _span(bdev, pos, count)
    if start == pos and end == pos + count:
        await _io(bdev, ReqOp.WRITE, start, data)
        return
    lbs = bdev.bd_disk.queue.logical_block_size
    buffer = bytearray(end - start)
    view = memoryview(buffer)
    if pos != start:
        await _io(bdev, ReqOp.READ, start, view[:lbs])
    if pos + count != end and (end - lbs != start or pos == start):
        await _io(bdev, ReqOp.READ, end - lbs, view[-lbs:])
    view[pos - start:pos - start + count] = data
    await _io(bdev, ReqOp.WRITE, start, view)


def _bdev(file: File) -> BlockDevice:
    bdev: BlockDevice = file.private_data
    return bdev


async def blkdev_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    """blkdev_read_iter(): up to `count` bytes at the file position, none past the end.
    Context: may sleep."""
    bdev = _bdev(file)
    size = bdev.nr_bytes
    pos = ppos.pos
    if pos >= size or not count:
        return 0
    count = min(count, size - pos)
    try:
        data = await bdev_pread(bdev, pos, count)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    buf[:count] = data
    ppos.pos = pos + count
    return count


async def blkdev_write(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    """blkdev_write_iter(): -EPERM on a read-only device, -ENOSPC at its end, else up
    to `count` bytes at the file position.  Context: may sleep."""
    bdev = _bdev(file)
    if bdev.read_only:
        return -Errno.EPERM
    if not count:
        return 0
    size = bdev.nr_bytes
    pos = ppos.pos
    if pos >= size:
        return -Errno.ENOSPC
    count = min(count, size - pos)
    try:
        async with bdev.bd_disk.write_mutex:
            await bdev_pwrite(bdev, pos, buf[:count])
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    ppos.pos = pos + count
    return count


def blkdev_llseek(file: File, offset: int, whence: int) -> int:
    """blkdev_llseek(): positions 0 .. the device's size.  Context: atomic."""
    return fixed_size_llseek(file, offset, whence, _bdev(file).nr_bytes)


async def blkdev_fsync(file: File, start: int, end: int, datasync: bool) -> int:
    """blkdev_fsync(): flush the device's write cache (-EOPNOTSUPP counts as done).
    Context: may sleep."""
    ret = await blkdev_issue_flush(_bdev(file))
    return 0 if ret == -Errno.EOPNOTSUPP else ret


async def blkdev_release(inode: Inode, file: File) -> int:
    """blkdev_release(): undo the open.  Context: may sleep."""
    await bdev_release(_bdev(file))
    return 0


#: def_blk_fops: built into the kernel (no module owns them).
BLKDEV_FOPS = FileOperations(owner=None, release=blkdev_release, read=blkdev_read,
                             write=blkdev_write, unlocked_ioctl=blkdev_ioctl,
                             llseek=blkdev_llseek, fsync=blkdev_fsync)


async def blkdev_open(files: OpenFiles, bdev: BlockDevice | None, flags: int,
                      path: str) -> File:
    """blkdev_open(): open(2) of a block device node — -ENXIO when no device has the
    number (or it is gone), else bdev_open's answer — counted among the machine's open
    files (so that the device's removal revokes it).  Returns the File; raises OSError.
    Context: may sleep."""
    if bdev is None:
        raise fs_error(-Errno.ENXIO, path)
    ret = await bdev_open(bdev, file_to_blk_mode(flags))
    if ret < 0:
        raise fs_error(ret, path)
    inode = files.inode(bdev.bd_dev) or Inode(bdev.bd_dev, stat_mod.S_IFBLK | 0o600)
    inode.i_size = bdev.nr_bytes
    file = File(inode, flags, path, BLKDEV_FOPS)
    file.private_data = bdev
    files.fd_install(file)
    return file
