"""Block devices through the FUSE bridge: /dev/sda1 of a machine is a regular file of the
partition's size in the mount, read and written at any offset by ordinary programs, and
mtools (mformat, mcopy, mdir, mtype) keep a FAT filesystem in it.

Skipped, with the reason, where FUSE cannot be used; the mtools test also where mtools is
not installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from usbemu.bridges.fuse import FuseUnavailable, mount, unavailable_reason
from usbemu.kernel.block.genhd import block_core_of
from usbemu.kernel.block.request import ReqOp
from usbemu.system import System

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"FUSE cannot be used: {REASON}")

DISK_SECTORS = 16384          # 8 MiB
PART_START, PART_SECTORS = 2048, 12288


def _kit() -> Any:
    name = "usbemu_tests_blockkit"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "kernel" / "block" / "blockkit.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def machine() -> Iterator[tuple[System, Any]]:
    kit = _kit()
    with System() as system:
        image = kit.image_with(DISK_SECTORS,
                               (0, kit.mbr(kit.mbr_entry(0x0C, PART_START, PART_SECTORS))))
        _, ram = kit.make_disks(system).add(image, write_cache=True)
        yield system, ram


@pytest.fixture
def mnt(machine: tuple[System, Any], tmp_path: Path) -> Iterator[Path]:
    system, _ = machine
    where = tmp_path / "mnt"
    where.mkdir()
    try:
        fm = mount(system, where)
    except FuseUnavailable as exc:
        pytest.skip(f"the kernel refused the FUSE mount: {exc}")
    try:
        yield where
    finally:
        fm.unmount()


def test_a_partition_is_a_file_of_its_size(machine: tuple[System, Any], mnt: Path) -> None:
    _system, ram = machine
    st = os.stat(mnt / "dev/sda1")
    assert stat.S_ISREG(st.st_mode) and st.st_size == PART_SECTORS * 512
    assert os.stat(mnt / "dev/sda").st_size == DISK_SECTORS * 512
    fd = os.open(mnt / "dev/sda1", os.O_RDWR)
    try:
        assert os.pwrite(fd, b"hello, disk", 1000) == 11
        assert os.pread(fd, 11, 1000) == b"hello, disk"
        ram.requests.clear()
        os.fsync(fd)
        assert (ReqOp.FLUSH, 0, 0) in ram.requests
        assert os.pread(fd, 10, PART_SECTORS * 512) == b""
    finally:
        os.close(fd)
    at = (PART_START * 512) + 1000
    assert ram.data[at:at + 11] == b"hello, disk"


@pytest.mark.skipif(shutil.which("mformat") is None, reason="mtools is not installed")
def test_mtools_keep_a_fat_filesystem_in_a_partition(machine: tuple[System, Any],
                                                     mnt: Path, tmp_path: Path) -> None:
    system, ram = machine
    node = str(mnt / "dev/sda1")
    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(i * 13 & 0xFF for i in range(300_000)))
    subprocess.run(["mformat", "-i", node, "::"], check=True)
    subprocess.run(["mcopy", "-i", node, str(payload), "::/PAYLOAD.BIN"], check=True)
    listing = subprocess.run(["mdir", "-i", node, "::"], check=True, capture_output=True,
                             text=True).stdout
    assert "PAYLOAD  BIN" in listing and "300 000" in listing
    back = subprocess.run(["mtype", "-i", node, "::/PAYLOAD.BIN"], check=True,
                          capture_output=True).stdout
    assert back == payload.read_bytes()
    boot = system.call(block_core_of(system.loop).read("sda1", 0, 1))
    assert boot[510:512] == b"\x55\xaa" and boot[54:57] == b"FAT"
    assert ram.data[PART_START * 512 + 510:PART_START * 512 + 512] == b"\x55\xaa"
