"""The request queue (usbemu.kernel.block.blk_mq): what the driver sees of merged and
split requests, the submission checks, error statuses and their messages, flushes, and
the statistics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from usbemu_tests_blockkit import image_with, mbr, mbr_entry

from usbemu.errors import Errno
from usbemu.kernel.block.blk_mq import (
    RequestQueue,
    blk_flush,
    blk_read,
    blk_write,
    submit_bio_wait,
)
from usbemu.kernel.block.genhd import Gendisk, del_gendisk, set_disk_ro
from usbemu.kernel.block.request import BlkStatus, ReqOp, Request
from usbemu.kernel.printk import Level
from usbemu.system import System

R, W, F = ReqOp.READ, ReqOp.WRITE, ReqOp.FLUSH


def pattern(sectors: int, seed: int = 0) -> bytes:
    return bytes((seed + i) & 0xFF for i in range(sectors * 512))


async def read_many(disk: Gendisk, ranges: list[tuple[int, int]]) -> list[bytes]:
    return list(await asyncio.gather(*(blk_read(disk, s, n) for s, n in ranges)))


def test_contiguous_bios_of_one_turn_merge(system: System, disks: Any) -> None:
    image = pattern(2048)
    disk, ram = disks.add(image)
    ram.requests.clear()
    got = system.run(read_many(disk, [(0, 8), (8, 8), (16, 8), (24, 8)]))
    assert ram.requests == [(R, 0, 32)]
    assert got == [image[i * 4096:(i + 1) * 4096] for i in range(4)]
    ram.requests.clear()
    got = system.run(read_many(disk, [(72, 8), (64, 8), (100, 4)]))  # a front merge
    assert ram.requests == [(R, 64, 16), (R, 100, 4)]
    assert got[0] == image[72 * 512:80 * 512] and got[2] == image[100 * 512:104 * 512]
    stat = system.vfs.read_text("/sys/block/sda/stat").split()
    assert stat[:3] == ["4", "4", str(8 + 32 + 16 + 4)]  # ios, merges, sectors read


def test_merges_stop_at_max_sectors_and_big_bios_are_split(system: System,
                                                           disks: Any) -> None:
    disk, ram = disks.add(pattern(2048))
    ram.requests.clear()
    system.run(read_many(disk, [(i * 8, 8) for i in range(40)]))
    assert ram.requests == [(R, 0, 240), (R, 240, 80)]
    ram.requests.clear()
    assert system.run(blk_read(disk, 0, 600)) == pattern(2048)[:600 * 512]
    assert ram.requests == [(R, 0, 240), (R, 240, 240), (R, 480, 120)]
    ram.requests.clear()
    system.run(system.vfs.write("/sys/block/sda/queue/max_sectors_kb", "16"))
    system.run(blk_read(disk, 0, 64))
    assert ram.requests == [(R, 0, 32), (R, 32, 32)]


def test_bios_merge_while_the_driver_is_busy(system: System, disks: Any) -> None:
    disk, ram = disks.add(2048)
    ram.requests.clear()
    ram.gate = asyncio.Event()

    async def scenario() -> None:
        first = asyncio.ensure_future(blk_write(disk, 0, b"a" * 512))
        await asyncio.sleep(0.001)  # the first request is in the driver
        later = [asyncio.ensure_future(blk_write(disk, 100 + i, bytes([i]) * 512))
                 for i in range(3)]
        await asyncio.sleep(0.001)
        assert ram.gate is not None
        ram.gate.set()
        await asyncio.gather(first, *later)

    system.run(scenario())
    assert ram.requests == [(W, 0, 1), (W, 100, 3)]
    assert ram.data[100 * 512:103 * 512] == b"\0" * 512 + b"\1" * 512 + b"\2" * 512


def test_no_merge_across_operations_or_with_nomerge(system: System, disks: Any) -> None:
    disk, ram = disks.add(2048)
    ram.requests.clear()

    async def mixed() -> None:
        await asyncio.gather(blk_read(disk, 0, 8), blk_write(disk, 8, bytes(4096)),
                             blk_read(disk, 16, 8, frozenset({"NOMERGE"})),
                             blk_read(disk, 24, 8))
    system.run(mixed())
    assert ram.requests == [(R, 0, 8), (W, 8, 8), (R, 16, 8), (R, 24, 8)]


def test_failures_raise_and_are_reported(system: System, disks: Any) -> None:
    disk, ram = disks.add(2048)
    statuses = {0: BlkStatus.IOERR, 8: BlkStatus.MEDIUM, 16: BlkStatus.TRANSPORT,
                24: BlkStatus.TIMEOUT}
    ram.fail = lambda req: statuses.get(req.sector)
    expected = {0: Errno.EIO, 8: Errno.ENODATA, 16: Errno.ENOLINK, 24: Errno.ETIMEDOUT}
    for sector, errno in expected.items():
        with pytest.raises(OSError) as info:
            system.run(blk_read(disk, sector, 8) if sector != 8 else
                       blk_write(disk, sector, bytes(4096), frozenset({"SYNC"})))
        assert info.value.errno == errno
        assert info.value.filename == "sda"
    assert system.log.lines(Level.ERR)[-4:] == [
        "I/O error, dev sda, sector 0 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
        "critical medium error, dev sda, sector 8 op 0x1:(WRITE) flags 0x800 phys_seg 1 "
        "prio class 0",
        "recoverable transport error, dev sda, sector 16 op 0x0:(READ) flags 0x0 phys_seg 1 "
        "prio class 0",
        "timeout error, dev sda, sector 24 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"]


def test_error_messages_are_rate_limited(system: System, disks: Any) -> None:
    disk, ram = disks.add(2048)
    ram.fail = lambda req: BlkStatus.IOERR

    async def fail(n: int) -> None:
        for i in range(n):
            with pytest.raises(OSError):
                await blk_read(disk, i, 1)

    system.run(fail(12))
    assert sum("I/O error, dev sda" in line for line in system.log.lines()) == 10
    system.sleep(6000)
    system.run(fail(1))
    lines = system.log.lines()
    assert lines[-2:] == ["blk_print_req_error: 2 callbacks suppressed",
                          "I/O error, dev sda, sector 0 op 0x0:(READ) flags 0x0 phys_seg 1 "
                          "prio class 0"]


def test_merged_request_failure_fails_every_bio(system: System, disks: Any) -> None:
    disk, ram = disks.add(2048)
    ram.fail = lambda req: BlkStatus.IOERR if req.sector == 0 else None

    async def both() -> list[object]:
        return await asyncio.gather(blk_read(disk, 0, 8), blk_read(disk, 8, 8),
                                    return_exceptions=True)
    results = system.run(both())
    assert all(isinstance(r, OSError) and r.errno == Errno.EIO for r in results)
    assert "phys_seg 2 prio class 0" in system.log.lines(Level.ERR)[-1]


def test_io_beyond_the_end_and_misaligned_io(system: System, disks: Any) -> None:
    disk, _ram = disks.add(image_with(2048, (0, mbr(mbr_entry(0x83, 1024, 512)))))
    with pytest.raises(OSError) as info:
        system.run(blk_read(disk, 2047, 2))
    assert info.value.errno == Errno.EIO
    assert system.log.lines(Level.INFO)[-2:] == [
        "usbemu: attempt to access beyond end of device",
        "sda: rw=0, sector=2047, nr_sectors = 2 limit=2048"]
    part = disk.parts[1]
    with pytest.raises(OSError):
        system.run(blk_write(part, 511, bytes(1024)))
    assert system.log.lines(Level.INFO)[-1] == "sda1: rw=1, sector=511, nr_sectors = 2 limit=512"
    with pytest.raises(ValueError, match="whole blocks"):
        system.run(blk_write(disk, 0, bytes(100)))
    with pytest.raises(ValueError, match="count"):
        system.run(blk_read(disk, 0, -1))
    with pytest.raises(ValueError, match="from 0"):
        system.run(blk_read(disk, -1, 1))
    with pytest.raises(ValueError, match="unknown request flags"):
        system.run(blk_read(disk, 0, 1, frozenset({"BOGUS"})))
    assert system.run(blk_read(disk, 0, 0)) == b""
    big, _ = disks.add(64, name="sdb", index=1, logical_block_size=4096)
    with pytest.raises(ValueError, match="4096-byte logical blocks"):
        system.run(blk_read(big, 1, 8))


def test_partition_io_is_remapped(system: System, disks: Any) -> None:
    disk, ram = disks.add(image_with(2048, (0, mbr(mbr_entry(0x83, 1024, 512)))))
    ram.requests.clear()
    system.run(blk_write(disk.parts[1], 3, b"p" * 512))
    assert ram.requests == [(W, 1027, 1)]
    assert ram.data[1027 * 512:1028 * 512] == b"p" * 512
    assert system.vfs.read_text("/sys/block/sda/sda1/stat").split()[4:7] == ["1", "0", "1"]
    assert system.vfs.read_text("/sys/block/sda/stat").split()[4:7] == ["1", "0", "1"]


def test_flush_reaches_only_a_write_cache(system: System, disks: Any) -> None:
    disk, ram = disks.add(2048)
    ram.requests.clear()
    system.run(blk_flush(disk))
    assert ram.requests == []
    cached, ram2 = disks.add(2048, name="sdb", index=1, write_cache=True)
    ram2.requests.clear()
    system.run(blk_flush(cached))
    assert ram2.requests == [(F, 0, 0)]
    assert system.vfs.read_text("/sys/block/sdb/queue/write_cache") == "write back\n"
    assert system.vfs.read_text("/sys/block/sdb/stat").split()[15] == "1"  # flush ios
    ram2.fail = lambda req: BlkStatus.IOERR
    with pytest.raises(OSError) as info:
        system.run(blk_flush(cached))
    assert info.value.errno == Errno.EIO
    assert system.log.lines(Level.ERR)[-1] == \
        "I/O error, dev sdb, sector 0 op 0x2:(FLUSH) flags 0x0 phys_seg 0 prio class 0"


def test_a_faulty_driver_is_contained(system: System, disks: Any) -> None:
    disk, ram = disks.add(2048)

    def explode(req: Request) -> BlkStatus:
        raise RuntimeError("driver bug")

    ram.fail = explode
    with pytest.raises(OSError) as info:
        system.run(blk_read(disk, 0, 1))
    assert info.value.errno == Errno.EIO
    assert any(line.startswith("BUG: exception in queue_rq of sda by RamDisk: RuntimeError")
               for line in system.log.lines(Level.ALERT))
    ram.fail = lambda req: "fine"  # type: ignore[return-value,arg-type]
    with pytest.raises(OSError):
        system.run(blk_read(disk, 0, 1))
    assert "returned 'fine': return a BlkStatus" in system.log.dmesg()


def test_write_to_a_read_only_disk_is_warned_once(system: System, disks: Any) -> None:
    disk, ram = disks.add(2048)
    set_disk_ro(disk, True)
    ram.requests.clear()
    system.run(blk_write(disk, 0, bytes(512)))
    system.run(blk_write(disk, 1, bytes(512)))
    assert ram.requests == [(W, 0, 1), (W, 1, 1)]  # the device decides
    assert system.log.lines(Level.WARNING).count(
        "Trying to write to read-only block-device sda") == 1


def test_dead_disk_fails_at_once_and_drain_waits(system: System, disks: Any) -> None:
    disk, ram = disks.add(2048)
    ram.gate = asyncio.Event()

    async def scenario() -> tuple[BlkStatus, BlkStatus, bool]:
        pending = asyncio.ensure_future(submit_bio_wait(disk.part0, R, 0,
                                                        memoryview(bytearray(512))))
        await asyncio.sleep(0.001)
        deleting = asyncio.ensure_future(del_gendisk(disk))
        await asyncio.sleep(0.001)
        late = await submit_bio_wait(disk.part0, R, 0, memoryview(bytearray(512)))
        still = not deleting.done()
        assert ram.gate is not None
        ram.gate.set()
        await deleting
        return await pending, late, still

    first, late, waited = system.run(scenario())
    assert first is BlkStatus.OK and late is BlkStatus.IOERR and waited
    assert not any("error, dev sda" in line for line in system.log.lines())


def test_queue_limits_are_checked(disks: Any) -> None:
    ram = disks.add(8)[1]
    with pytest.raises(ValueError, match="power of two"):
        RequestQueue(ram, 1000)
    with pytest.raises(ValueError, match="at least one logical block"):
        RequestQueue(ram, 4096, 4)
    with pytest.raises(ValueError, match="queue_depth"):
        RequestQueue(ram, queue_depth=0)
    queue = RequestQueue(ram, 512, 4000)
    assert queue.max_sectors == 2560 and queue.set_max_sectors_kb(3) == -Errno.EINVAL
    assert queue.set_max_sectors_kb(100000) == 0 and queue.max_sectors == 4000
    assert RequestQueue(ram, 4096, 255).max_sectors == 248
