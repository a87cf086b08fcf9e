"""The block-layer test kit: a RAM disk driver that records the requests it executes,
disks added under a parent device, and builders of MBR and GPT images.  conftest.py
loads it as `usbemu_tests_blockkit`."""

from __future__ import annotations

import asyncio
import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from usbemu.kernel.block.blk_mq import RequestQueue
from usbemu.kernel.block.genhd import (
    SCSI_DISK0_MAJOR,
    BlockDeviceOperations,
    Gendisk,
    add_disk,
    set_capacity,
)
from usbemu.kernel.block.request import SECTOR_SIZE, BlkStatus, ReqOp, Request
from usbemu.kernel.device import BusType, Device
from usbemu.system import System


@dataclass
class RamDisk:
    """A BlockDriver over a bytearray: it records (op, sector, nr_sectors) of each
    request; `fail` picks requests to fail with a status; `gate`, when set, holds every
    request until it is set."""

    data: bytearray
    requests: list[tuple[ReqOp, int, int]] = field(default_factory=list)
    fail: Callable[[Request], BlkStatus | None] | None = None
    gate: asyncio.Event | None = None

    async def queue_rq(self, req: Request) -> BlkStatus:
        self.requests.append((req.op, req.sector, req.nr_sectors))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            status = self.fail(req)
            if status is not None:
                return status
        start = req.sector * SECTOR_SIZE
        if req.op is ReqOp.READ:
            req.buffer[:] = self.data[start:start + req.nbytes]
        elif req.op is ReqOp.WRITE:
            self.data[start:start + req.nbytes] = req.buffer
        return BlkStatus.OK


class ParentBus(BusType):
    """A bus for the disks' parent device."""


@dataclass
class Disks:
    """Adds RAM disks under a parent device of a machine."""

    system: System
    parent: Device
    ops: BlockDeviceOperations = field(default_factory=lambda: BlockDeviceOperations(owner=None))

    def add(self, image: bytes | bytearray | int, *, name: str = "sda", index: int = 0,
            logical_block_size: int = 512, max_sectors: int = 240,
            write_cache: bool = False, removable: bool = False,
            ops: BlockDeviceOperations | None = None,
            fail: Callable[[Request], BlkStatus | None] | None = None,
            ) -> tuple[Gendisk, RamDisk]:
        """A RAM disk of `image` (bytes, or a number of zeroed sectors) added as `name`
        (8:16·index); `fail` is set before add_disk reads its table."""
        data = bytearray(image * SECTOR_SIZE) if isinstance(image, int) else bytearray(image)
        ram = RamDisk(data, fail=fail)
        queue = RequestQueue(ram, logical_block_size, max_sectors, write_cache=write_cache)
        disk = Gendisk(name, SCSI_DISK0_MAJOR, index * 16, 16, ops or self.ops, queue)
        disk.removable = removable
        set_capacity(disk, len(data) // SECTOR_SIZE)
        assert self.system.run(add_disk(disk, self.parent)) == 0
        return disk, ram




def make_disks(system: System) -> Disks:
    """A parent device (0:0:0:0 on a bus of its own) of `system`, to add disks under."""
    bus = system.driver_core.add_bus(ParentBus("testbus", system.driver_core))
    parent = Device("0:0:0:0", None, bus)
    system.run(system.driver_core.device_add(parent))
    return Disks(system, parent)


# -- images ---------------------------------------------------------------------------------------


def mbr_entry(sys_ind: int, start: int, size: int, boot: int = 0) -> bytes:
    """One 16-byte MBR entry (CHS fields zero)."""
    return struct.pack("<B3xB3xII", boot, sys_ind, start, size)


def mbr(*entries: bytes, signature: bytes = b"\x55\xaa", disksig: int = 0x12345678) -> bytes:
    """An MBR sector with up to four entries."""
    table = b"".join(entries).ljust(64, b"\0")
    return bytes(440) + struct.pack("<I", disksig) + bytes(2) + table + signature


def image_with(size_sectors: int, *sectors: tuple[int, bytes]) -> bytearray:
    """A disk image of `size_sectors` with the given sectors written."""
    data = bytearray(size_sectors * SECTOR_SIZE)
    for lba, content in sectors:
        data[lba * SECTOR_SIZE:lba * SECTOR_SIZE + len(content)] = content
    return data


LINUX_FS_GUID = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4").bytes_le


@dataclass
class GptPart:
    start: int
    end: int
    name: str = ""
    type_guid: bytes = LINUX_FS_GUID


def gpt_header(my_lba: int, alternate: int, first: int, last: int, entries_lba: int,
               entries: bytes, num: int = 128, disk_guid: bytes = b"G" * 16) -> bytes:
    """A GPT header block (512 bytes) with correct CRCs."""
    array_crc = zlib.crc32(entries) & 0xFFFFFFFF
    fields = [0x5452415020494645, 0x00010000, 92, 0, 0, my_lba, alternate, first, last,
              disk_guid, entries_lba, num, 128, array_crc]
    header = struct.pack("<QIIIIQQQQ16sQIII", *fields)
    crc = zlib.crc32(header) & 0xFFFFFFFF
    fields[3] = crc
    return struct.pack("<QIIIIQQQQ16sQIII", *fields).ljust(512, b"\0")


def gpt_entries(parts: list[GptPart], num: int = 128) -> bytes:
    out = b""
    for i, part in enumerate(parts):
        name = part.name.encode("utf-16-le").ljust(72, b"\0")
        out += struct.pack("<16s16sQQQ72s", part.type_guid, uuid.UUID(int=i + 1).bytes_le,
                           part.start, part.end, 0, name)
    return out.ljust(num * 128, b"\0")


def gpt_image(size_sectors: int, parts: list[GptPart], *, alternate: bool = True,
              alternate_lba: int | None = None, pmbr_type: int = 0xEE,
              extra_mbr: bytes = b"") -> bytearray:
    """A disk image with a protective MBR, a primary GPT at LBA 1 (entries at LBA 2) and,
    with `alternate`, the backup at the end (or where `alternate_lba` says)."""
    last = size_sectors - 1
    alt = last if alternate_lba is None else alternate_lba
    entries = gpt_entries(parts)
    pmbr = mbr(mbr_entry(pmbr_type, 1, min(size_sectors - 1, 0xFFFFFFFF)), extra_mbr)
    data = image_with(size_sectors, (0, pmbr),
                      (1, gpt_header(1, alt, 34, last - 33, 2, entries)), (2, entries))
    if alternate:
        data[(alt - 32) * 512:alt * 512] = entries
        data[alt * 512:(alt + 1) * 512] = gpt_header(alt, 1, 34, last - 33, alt - 32, entries)
    return data
