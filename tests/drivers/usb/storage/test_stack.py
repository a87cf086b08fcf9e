"""The whole mass-storage stack on each controller kind: a disk image behind the storage
model, usb-storage, the SCSI mid-layer and sd, the block layer — 64 MiB written and read
back with a checksum, a FAT filesystem kept with mtools through the FUSE mount of
/dev/sda1, and an unplug in the middle of writes."""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from usbemu.bridges.fuse import FuseUnavailable, mount, unavailable_reason
from usbemu.emulated.models.storage import MassStorage
from usbemu.system import System

MIB = 1 << 20


def _plug(system: System, model: MassStorage) -> None:
    system.plug(model, "1-1")
    system.settle()
    assert system.vfs.exists("/dev/sda"), system.dmesg()


def test_64_mib_through_the_stack_arrive_in_the_image(system: System, tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    _plug(system, MassStorage(str(image), size=80 * MIB))
    data = random.Random(15).randbytes(64 * MIB)

    async def run() -> bytes:
        await system.block.write("sda", 2048, data)
        await system.block.flush("sda")
        return await system.block.read("sda", 2048, len(data) // 512)

    back = system.run(run())
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    with image.open("rb") as f:
        f.seek(2048 * 512)
        assert hashlib.sha256(f.read(len(data))).digest() == hashlib.sha256(data).digest()


def _mbr(start: int, sectors: int) -> bytes:
    """A DOS partition table with one FAT16 (LBA) partition."""
    entry = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x0E, b"\0\0\0", start, sectors)
    return bytes(446) + entry + bytes(48) + b"\x55\xaa"


@pytest.mark.skipif(unavailable_reason() is not None,
                    reason=f"FUSE cannot be used: {unavailable_reason()}")
@pytest.mark.skipif(shutil.which("mcopy") is None, reason="mtools is not installed")
def test_mtools_copy_files_through_the_fuse_node_of_sda1(system: System,
                                                        tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(_mbr(2048, 32768 - 2048))
    _plug(system, MassStorage(str(image), size=16 * MIB))
    assert system.vfs.exists("/dev/sda1")
    where = tmp_path / "mnt"
    where.mkdir()
    payload = tmp_path / "payload.bin"
    payload.write_bytes(random.Random(3).randbytes(1_000_000))
    try:
        fm = mount(system, where)
    except FuseUnavailable as exc:
        pytest.skip(f"the kernel refused the FUSE mount: {exc}")
    node = str(where / "dev/sda1")
    try:
        subprocess.run(["mformat", "-i", node, "::"], check=True)
        subprocess.run(["mcopy", "-i", node, str(payload), "::/PAYLOAD.BIN"], check=True)
        back = subprocess.run(["mtype", "-i", node, "::/PAYLOAD.BIN"], check=True,
                              capture_output=True).stdout
    finally:
        fm.unmount()
    assert back == payload.read_bytes()
    system.unplug("1-1")
    system.settle()
    # What the stack wrote is in the image: mtools read it there, without usbemu.
    direct = subprocess.run(["mtype", "-i", f"{image}@@{2048 * 512}", "::/PAYLOAD.BIN"],
                            check=True, capture_output=True).stdout
    assert direct == payload.read_bytes()


def test_an_unplug_during_writes_keeps_every_acknowledged_block(system: System,
                                                               tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    _plug(system, MassStorage(str(image), size=16 * MIB))
    chunk = 64 * 1024
    done: list[int] = []

    async def writer() -> BaseException | None:
        for n in range(200):
            try:
                await system.block.write("sda", n * chunk // 512,
                                         bytes([n % 251 + 1]) * chunk)
            except OSError as exc:
                return exc
            done.append(n)
        return None

    async def run() -> BaseException | None:
        task = asyncio.ensure_future(writer())
        while len(done) < 20:
            await asyncio.sleep(0.0001)
        system.unplug("1-1")
        return await asyncio.wait_for(task, 60)

    failure = system.run(run())
    system.settle()
    assert isinstance(failure, OSError)
    assert not system.vfs.exists("/dev/sda")
    contents = image.read_bytes()
    for n in done:
        assert contents[n * chunk:(n + 1) * chunk] == bytes([n % 251 + 1]) * chunk, n
