"""/etc/modprobe.d through the FUSE mount: a real program creates, writes, appends to,
overwrites at an offset, truncates, lists and removes the files, and modprobe reads what
it wrote; elsewhere the tree still takes no new files."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.bridges.fuse import FuseUnavailable, mount, unavailable_reason
from usbemu.kernel.modprobe_d import ModprobeConfig
from usbemu.system import System

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"FUSE cannot be used: {REASON}")


@pytest.fixture
def machine() -> Iterator[System]:
    with System() as system:
        system.add_controller()
        yield system


@pytest.fixture
def mnt(machine: System, tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "mnt"
    where.mkdir()
    try:
        fm = mount(machine, where)
    except FuseUnavailable as exc:
        pytest.skip(f"the kernel refused the FUSE mount: {exc}")
    try:
        yield where
    finally:
        fm.unmount()


def config(machine: System) -> ModprobeConfig:
    async def read() -> ModprobeConfig:
        return machine.modules.modprobe_config()

    return machine.call(read())


def test_files_are_created_written_and_removed(machine: System, mnt: Path) -> None:
    conf = mnt / "etc/modprobe.d/usbemu.conf"
    conf.write_text("blacklist usbhid\n")
    with open(conf, "a") as out:
        out.write("options usbhid mousepoll=4\n")
    assert os.listdir(mnt / "etc/modprobe.d") == ["usbemu.conf"]
    assert conf.read_text() == "blacklist usbhid\noptions usbhid mousepoll=4\n"
    st = os.stat(conf)
    assert stat.S_ISREG(st.st_mode) and st.st_size == 44 and st.st_nlink == 1
    assert config(machine).blacklist == ["usbhid"]
    assert config(machine).module_options("usbhid") == "mousepoll=4"
    with open(conf, "r+b") as out:
        out.seek(0)
        out.write(b"#")
    assert config(machine).blacklist == []
    os.truncate(conf, 17)
    assert conf.read_text() == "#lacklist usbhid\n"
    conf.write_text("blacklist hid\n")
    assert config(machine).blacklist == ["hid"]
    os.unlink(conf)
    assert os.listdir(mnt / "etc/modprobe.d") == []
    assert config(machine).blacklist == []


def test_elsewhere_nothing_is_created_or_removed(mnt: Path) -> None:
    with pytest.raises(PermissionError):
        (mnt / "proc/newfile").write_text("x")
    with pytest.raises(OSError) as err:
        os.unlink(mnt / "proc/modules")
    assert err.value.errno == errno.EPERM
