"""Files as drivers see them (usbemu.kernel.fs): device numbers, the llseek helpers
(noop_llseek, default_llseek, fixed_size_llseek, nonseekable_open) and copy_to_user /
copy_from_user.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.errors import Errno
from usbemu.kernel.fs import (
    MINORMASK,
    O_RDONLY,
    SEEK_CUR,
    SEEK_END,
    SEEK_SET,
    File,
    FileOperations,
    Inode,
    copy_from_user,
    copy_to_user,
    default_llseek,
    dev_major,
    dev_minor,
    fixed_size_llseek,
    format_dev,
    mkdev,
    nonseekable_open,
    noop_llseek,
)
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


# -- device numbers --------------------------------------------------------------------------


def test_device_numbers() -> None:
    dev = mkdev(180, 3)
    assert dev == 180 << 20 | 3 and (dev_major(dev), dev_minor(dev)) == (180, 3)
    assert format_dev(mkdev(189, 130)) == "189:130"
    assert MINORMASK == 0xFFFFF


# -- llseek helpers --------------------------------------------------------------------------


def test_llseek_helpers(system: System) -> None:
    file = File(Inode(0), O_RDONLY, "", FileOperations())
    file.f_pos = 7
    assert noop_llseek(file, 100, SEEK_SET) == 7
    assert fixed_size_llseek(file, 3, SEEK_END, 16) == -Errno.EINVAL
    assert fixed_size_llseek(file, -4, SEEK_END, 16) == 12 and file.f_pos == 12
    assert fixed_size_llseek(file, 17, SEEK_SET, 16) == -Errno.EINVAL
    assert default_llseek(file, 5, SEEK_SET) == 5 and default_llseek(file, 0, SEEK_CUR) == 5
    assert default_llseek(file, 0, 3) == -Errno.ENXIO  # SEEK_DATA at/after the end
    assert nonseekable_open(file.f_inode, file) == 0

    async def plain_open(inode: Inode, f: File) -> int:
        return nonseekable_open(inode, f)

    system.chrdev.register_chrdev(242, "pipe", FileOperations(open=plain_open,
                                                              llseek=noop_llseek))
    system.devtmpfs.create_node("pipe", 242, 0)
    with system.open("/dev/pipe") as f:
        with pytest.raises(OSError) as info:
            f.seek(0)
        assert info.value.errno == Errno.ESPIPE
    with pytest.raises(OSError) as info:
        system.open("/dev/pipe").seek(0, 9)
    assert info.value.errno == Errno.EINVAL


# -- uaccess ---------------------------------------------------------------------------------


def test_copy_user_helpers() -> None:
    user = bytearray(4)
    assert copy_to_user(user, b"abcdef", 3) == 0 and user == b"abc\x00"
    assert copy_to_user(user, b"abcdef", 6) == 2 and user == b"abcd"  # the user buffer ends
    kernel = bytearray(8)
    assert copy_from_user(kernel, b"xy", 2) == 0 and kernel[:2] == b"xy"
    assert copy_from_user(kernel, b"xy", 5) == 3
    with pytest.raises(ValueError):
        copy_to_user(bytearray(8), b"ab", 4)
    with pytest.raises(ValueError):
        copy_from_user(bytearray(1), b"abc", 3)
