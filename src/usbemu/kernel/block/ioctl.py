"""ioctls of block devices — counterpart of Linux's block/ioctl.c (blkdev_ioctl,
blkdev_common_ioctl) and the BLK* numbers of include/uapi/linux/fs.h.

The queries write their answer into the caller's buffer (`arg`, a bytearray the size of
the C type: BLKGETSIZE64 a u64, BLKSSZGET an int …); BLKROSET reads an int from it.
BLKRRPART rereads the partition table of a whole disk (-EINVAL on a partition, -EBUSY
while one is open); BLKFLSBUF writes back and drops cached data, of which there is none
here.  Anything else goes to the disk driver's ioctl, and is -ENOTTY without one.  The
caller is root (CAP_SYS_ADMIN).  Not modelled: HDIO_GETGEO, BLKPG, discard, zone,
persistent-reservation and trace ioctls, read-ahead settings.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from ...errors import Errno
from ..fs import ENOIOCTLCMD, File, io, ior
from .bdev import block_size, call_disk_op, disk_scan_partitions
from .blk_types import BlkOpen, BlockDevice, file_to_blk_mode

__all__ = [
    "BLKBSZGET",
    "BLKFLSBUF",
    "BLKGETDISKSEQ",
    "BLKGETSIZE",
    "BLKGETSIZE64",
    "BLKIOMIN",
    "BLKIOOPT",
    "BLKPBSZGET",
    "BLKROGET",
    "BLKROSET",
    "BLKROTATIONAL",
    "BLKRRPART",
    "BLKSECTGET",
    "BLKSSZGET",
    "blkdev_ioctl",
]

BLKROSET: Final = io(0x12, 93)
BLKROGET: Final = io(0x12, 94)
BLKRRPART: Final = io(0x12, 95)
BLKGETSIZE: Final = io(0x12, 96)
BLKFLSBUF: Final = io(0x12, 97)
BLKSECTGET: Final = io(0x12, 103)
BLKSSZGET: Final = io(0x12, 104)
BLKBSZGET: Final = ior(0x12, 112, 8)
BLKGETSIZE64: Final = ior(0x12, 114, 8)
BLKIOMIN: Final = io(0x12, 120)
BLKIOOPT: Final = io(0x12, 121)
BLKPBSZGET: Final = io(0x12, 123)
BLKROTATIONAL: Final = io(0x12, 126)
BLKGETDISKSEQ: Final = ior(0x12, 128, 8)

#: The queries: command → (struct format of the answer, its value for a block device).
QUERIES: Final[dict[int, tuple[str, Callable[[BlockDevice], int]]]] = {
    BLKGETSIZE: ("<Q", lambda b: b.nr_sectors),  # unsigned long
    BLKGETSIZE64: ("<Q", lambda b: b.nr_bytes),
    BLKBSZGET: ("<i", block_size),
    BLKROGET: ("<i", lambda b: int(b.read_only)),
    BLKSSZGET: ("<i", lambda b: b.bd_disk.queue.logical_block_size),
    BLKPBSZGET: ("<I", lambda b: b.bd_disk.queue.physical_block_size),
    BLKIOMIN: ("<I", lambda b: b.bd_disk.queue.physical_block_size),
    BLKIOOPT: ("<I", lambda b: 0),
    BLKSECTGET: ("<H", lambda b: min(0xFFFF, b.bd_disk.queue.max_sectors)),
    BLKROTATIONAL: ("<H", lambda b: int(b.bd_disk.queue.rotational)),
    BLKGETDISKSEQ: ("<Q", lambda b: b.bd_disk.diskseq),
}


def put_user(arg: Any, fmt: str, value: int) -> int:
    """put_user(): `value` packed as `fmt` into the caller's buffer; 0 or -EFAULT (no
    writable buffer that large).  Context: atomic."""
    if not isinstance(arg, bytearray | memoryview):
        return -Errno.EFAULT
    view = memoryview(arg).cast("B")
    if view.readonly or len(view) < struct.calcsize(fmt):
        return -Errno.EFAULT
    struct.pack_into(fmt, view, 0, value)
    return 0


def get_user_int(arg: Any) -> int | None:
    """get_user() of an int from the caller's buffer; None for -EFAULT."""
    if not isinstance(arg, bytes | bytearray | memoryview) or len(arg) < 4:
        return None
    value: int = struct.unpack_from("<i", memoryview(arg).cast("B"))[0]
    return value


async def _roset(bdev: BlockDevice, arg: Any) -> int:
    """blkdev_roset(): the driver's set_read_only may refuse; then the device's policy."""
    value = get_user_int(arg)
    if value is None:
        return -Errno.EFAULT
    disk = bdev.bd_disk
    if disk.fops.set_read_only is not None:
        ret = await call_disk_op(disk, "set_read_only", disk.fops.set_read_only, bdev,
                                 bool(value))
        if ret:
            return ret
    bdev.bd_read_only = bool(value)
    return 0


async def _common_ioctl(bdev: BlockDevice, mode: BlkOpen, cmd: int, arg: Any) -> int:
    """blkdev_common_ioctl() and blkdev_ioctl()'s own commands."""
    query = QUERIES.get(cmd)
    if query is not None:
        fmt, value = query
        return put_user(arg, fmt, value(bdev))
    if cmd == BLKFLSBUF:
        return 0
    if cmd == BLKROSET:
        return await _roset(bdev, arg)
    if cmd == BLKRRPART:
        if bdev.is_partition:
            return -Errno.EINVAL
        return await disk_scan_partitions(bdev.bd_disk, mode | BlkOpen.STRICT_SCAN)
    return -ENOIOCTLCMD


async def blkdev_ioctl(file: File, cmd: int, arg: Any) -> int:
    """blkdev_ioctl(): the block layer's commands, else the driver's.  Returns 0 / the
    driver's value, or -errno.  Context: may sleep."""
    bdev: BlockDevice = file.private_data
    mode = file_to_blk_mode(file.f_flags)
    ret = await _common_ioctl(bdev, mode, cmd, arg)
    if ret != -ENOIOCTLCMD:
        return ret
    disk = bdev.bd_disk
    if disk.fops.ioctl is None:
        return -Errno.ENOTTY
    return await call_disk_op(disk, "ioctl", disk.fops.ioctl, bdev, mode, cmd, arg)
