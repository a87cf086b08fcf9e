"""Block device files (usbemu.kernel.block.fops, bdev, ioctl): open through system.open,
reads and writes at any offset, lseek, fsync, the BLK* ioctls, read-only devices, the
driver's open and release, rereading the partition table."""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import pytest
from usbemu_tests_blockkit import image_with, mbr, mbr_entry

from usbemu.errors import Errno
from usbemu.kernel.block.blk_types import BlkOpen, BlockDevice
from usbemu.kernel.block.genhd import BlockDeviceOperations, Gendisk, set_disk_ro
from usbemu.kernel.block.ioctl import (
    BLKBSZGET,
    BLKFLSBUF,
    BLKGETDISKSEQ,
    BLKGETSIZE,
    BLKGETSIZE64,
    BLKPBSZGET,
    BLKROGET,
    BLKROSET,
    BLKRRPART,
    BLKSECTGET,
    BLKSSZGET,
)
from usbemu.kernel.block.request import ReqOp
from usbemu.kernel.fs import SEEK_END, SEEK_SET
from usbemu.kernel.printk import Level
from usbemu.kernel.vfs import DevNode
from usbemu.system import System

IMAGE = image_with(8192, (0, mbr(mbr_entry(0x0C, 2048, 4096), mbr_entry(0x83, 6144, 2048))))


def test_read_and_write_at_any_offset(system: System, disks: Any) -> None:
    _disk, ram = disks.add(IMAGE)
    base = 2048 * 512
    ram.data[base:base + 4096] = bytes(range(256)) * 16
    with system.open("/dev/sda1", "rb+") as f:
        assert f.read(10) == bytes(range(10))
        assert f.seek(700) == 700
        assert f.read(100) == (bytes(range(256)) * 2)[700 - 512:800 - 512]
        ram.requests.clear()
        f.seek(510)
        assert f.write(b"XYZW") == 4                        # across a block boundary
        assert ram.requests == [(ReqOp.READ, 2048, 1), (ReqOp.READ, 2049, 1),
                                (ReqOp.WRITE, 2048, 2)]
        assert ram.data[base + 508:base + 516] == bytes([252, 253]) + b"XYZW" + bytes([2, 3])
        ram.requests.clear()
        f.seek(1024)
        assert f.write(b"\xaa" * 1024) == 1024              # whole blocks: no reads
        assert ram.requests == [(ReqOp.WRITE, 2050, 2)]
        ram.requests.clear()
        f.seek(3 * 512 + 10)
        f.write(b"q")                                       # inside one block: one read
        assert ram.requests == [(ReqOp.READ, 2051, 1), (ReqOp.WRITE, 2051, 1)]
        size = 4096 * 512
        assert f.seek(0, SEEK_END) == size
        assert f.read(10) == b""
        with pytest.raises(OSError) as info:
            f.write(b"x")
        assert info.value.errno == Errno.ENOSPC
        f.seek(size - 3)
        assert f.write(b"123456") == 3
        assert ram.data[base + size - 3:base + size + 1] == b"123\0"
        with pytest.raises(OSError) as info:
            f.seek(size + 1, SEEK_SET)
        assert info.value.errno == Errno.EINVAL


def test_stat_and_ioctls(system: System, disks: Any) -> None:
    _disk, _ = disks.add(IMAGE)
    with system.open("/dev/sda2", "rb") as f:
        answers = {}
        for name, cmd, size in (("size64", BLKGETSIZE64, 8), ("size", BLKGETSIZE, 8),
                                ("ssz", BLKSSZGET, 4), ("ro", BLKROGET, 4),
                                ("pbsz", BLKPBSZGET, 4), ("bsz", BLKBSZGET, 4),
                                ("sect", BLKSECTGET, 2), ("seq", BLKGETDISKSEQ, 8)):
            buf = bytearray(size)
            assert f.ioctl(cmd, buf) == 0
            answers[name] = int.from_bytes(buf, "little")
        assert answers == {"size64": 2048 * 512, "size": 2048, "ssz": 512, "ro": 0,
                           "pbsz": 512, "bsz": 4096, "sect": 240, "seq": 1}
        assert f.ioctl(BLKFLSBUF) == 0
        with pytest.raises(OSError) as info:
            f.ioctl(BLKGETSIZE64, 0)
        assert info.value.errno == Errno.EFAULT
        with pytest.raises(OSError) as info:
            f.ioctl(0x1234, bytearray(4))
        assert info.value.errno == Errno.ENOTTY
        with pytest.raises(OSError) as info:
            f.ioctl(BLKRRPART)
        assert info.value.errno == Errno.EINVAL


def test_read_only_devices(system: System, disks: Any) -> None:
    disk, _ = disks.add(IMAGE)
    with system.open("/dev/sda1", "rb+") as f:
        assert f.ioctl(BLKROSET, bytearray(struct.pack("<i", 1))) == 0
        buf = bytearray(4)
        f.ioctl(BLKROGET, buf)
        assert buf == b"\1\0\0\0"
        with pytest.raises(OSError) as info:
            f.write(b"no")
        assert info.value.errno == Errno.EPERM
        assert system.vfs.read_text("/sys/block/sda/sda1/ro") == "1\n"
        assert system.vfs.read_text("/sys/block/sda/ro") == "0\n"
        f.ioctl(BLKROSET, bytearray(4))
        assert f.write(b"ok") == 2
    set_disk_ro(disk, True)
    with system.open("/dev/sda2", "wb") as f, pytest.raises(OSError) as info:
        f.write(b"x")
    assert info.value.errno == Errno.EPERM


class Driver:
    """Block device operations that count opens and can refuse them."""

    def __init__(self) -> None:
        self.opens: list[BlkOpen] = []
        self.releases = 0
        self.refuse = 0
        self.ioctls: list[int] = []
        self.ops = BlockDeviceOperations(owner=None, open=self.open, release=self.release,
                                         ioctl=self.ioctl)

    async def open(self, disk: Gendisk, mode: BlkOpen) -> int:
        self.opens.append(mode)
        if self.refuse and mode & BlkOpen.WRITE:
            return -self.refuse
        return 0

    def release(self, disk: Gendisk) -> None:
        self.releases += 1

    def ioctl(self, bdev: BlockDevice, mode: BlkOpen, cmd: int, arg: Any) -> int:
        self.ioctls.append(cmd)
        return 7


def test_the_drivers_open_release_and_ioctl(system: System, disks: Any) -> None:
    driver = Driver()
    disk, _ = disks.add(IMAGE, ops=driver.ops)
    assert driver.opens == [BlkOpen.READ] and driver.releases == 1  # add_disk's scan
    driver.refuse = Errno.EROFS
    with pytest.raises(OSError) as info:
        system.open("/dev/sda1", "rb+")
    assert info.value.errno == Errno.EROFS
    assert driver.opens[-1] == BlkOpen.READ | BlkOpen.WRITE
    f = system.open("/dev/sda1", os.O_RDONLY | os.O_NONBLOCK)
    assert driver.opens[-1] == BlkOpen.READ | BlkOpen.NDELAY
    assert disk.open_partitions == 1 and disk.part0.bd_openers == 1
    assert f.ioctl(0x5401, 0) == 7 and driver.ioctls == [0x5401]
    f.close()
    assert driver.releases == 2 and disk.open_partitions == 0 and disk.part0.bd_openers == 0


def test_rereading_the_partition_table(system: System, disks: Any) -> None:
    driver = Driver()
    disk, ram = disks.add(IMAGE, ops=driver.ops)
    ram.data[0x1BE + 32:0x1BE + 48] = mbr_entry(0x83, 7000, 100)  # a third partition
    held = system.open("/dev/sda1", "rb")
    with system.open("/dev/sda", "rb") as whole:
        with pytest.raises(OSError) as info:
            whole.ioctl(BLKRRPART)
        assert info.value.errno == Errno.EBUSY
        held.close()
        assert whole.ioctl(BLKRRPART) == 0
    assert system.log.lines(Level.INFO)[-1] == " sda: sda1 sda2 sda3"
    assert sorted(disk.parts) == [1, 2, 3] and system.vfs.exists("/dev/sda3")
    ram.data[510] = 0                                              # no table at all
    with system.open("/dev/sda", "rb") as whole:
        assert whole.ioctl(BLKRRPART) == 0
    assert disk.parts == {} and not system.vfs.exists("/dev/sda1")


def test_fsync_flushes_a_write_cache(system: System, disks: Any) -> None:
    _disk, ram = disks.add(IMAGE, write_cache=True)
    with system.open("/dev/sda2", "wb") as f:
        f.write(b"data")
        ram.requests.clear()
        f.fsync()
        assert ram.requests == [(ReqOp.FLUSH, 0, 0)]
    with system.open("/sys/block/sda/size", "rb") as attr, pytest.raises(OSError) as info:
        attr.fsync()
    assert info.value.errno == Errno.EINVAL


def test_concurrent_partial_writes_do_not_lose_bytes(system: System, disks: Any) -> None:
    _disk, ram = disks.add(IMAGE)

    async def both() -> None:
        files = [await system.aopen("/dev/sda", "rb+") for _ in range(2)]
        await asyncio.gather(files[0].seek(100), files[1].seek(300))
        await asyncio.gather(files[0].write(b"A" * 10), files[1].write(b"B" * 10))
        for f in files:
            await f.close()

    system.run(both())
    assert ram.data[100:110] == b"A" * 10 and ram.data[300:310] == b"B" * 10


def test_nodes_without_a_device(system: System, disks: Any) -> None:
    system.vfs.mount("/dev/sdq", DevNode(8, 240, 0o600, block=True))
    with pytest.raises(OSError) as info:
        system.open("/dev/sdq", "rb")
    assert info.value.errno == Errno.ENXIO
    assert system.vfs.stat("/dev/sdq").is_blk
    system.chrdev.block_devices = None
    with pytest.raises(OSError) as info:
        system.open("/dev/sdq", "rb")
    assert info.value.errno == Errno.ENXIO


def test_large_transfer_through_the_file(system: System, disks: Any) -> None:
    _disk, ram = disks.add(8192)
    payload = bytes(i * 7 & 0xFF for i in range(1 << 20)) + b"tail"
    with system.open("/dev/sda", "rb+") as f:
        f.seek(333)
        assert f.write(payload) == len(payload)
        f.seek(333)
        assert f.read(len(payload)) == payload
    assert max(n for _, _, n in ram.requests) == 240
