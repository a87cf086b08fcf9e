"""Character devices (usbemu.kernel.char_dev): device-number regions with Linux's overlap
and dynamic-major rules and messages, and the cdev map's choice of the smallest, newest
range.  (Opening device numbers through chrdev_open: test_syscalls.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.errors import Errno
from usbemu.kernel.char_dev import Cdev
from usbemu.kernel.fs import FileOperations, dev_major, mkdev
from usbemu.kernel.printk import Level
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


# -- regions ---------------------------------------------------------------------------------


def test_regions_overlap_is_busy_and_adjacent_ranges_are_fine(system: System) -> None:
    chrdev = system.chrdev
    chrdev.register_chrdev_region(mkdev(200, 0), 16, "a")
    chrdev.register_chrdev_region(mkdev(200, 16), 16, "b")
    with pytest.raises(OSError) as info:
        chrdev.register_chrdev_region(mkdev(200, 10), 10, "c")
    assert info.value.errno == Errno.EBUSY and "Device or resource busy" in str(info.value)
    # a range over two majors is taken whole or not at all
    chrdev.register_chrdev_region(mkdev(201, 100), 1, "d")
    with pytest.raises(OSError):
        chrdev.register_chrdev_region(mkdev(200, (1 << 20) - 2), 200, "e")
    assert [r.name for r in chrdev.regions() if r.major in (200, 201)] == ["a", "b", "d"]
    chrdev.unregister_chrdev_region(mkdev(200, 10), 10)  # no such region: nothing happens
    chrdev.unregister_chrdev_region(mkdev(200, 0), 16)
    chrdev.register_chrdev_region(mkdev(200, 10), 6, "c")


def test_region_limits_are_einval_with_linux_messages(system: System) -> None:
    with pytest.raises(OSError) as info:
        system.chrdev.register_chrdev_region(mkdev(512, 0), 1, "big")
    assert info.value.errno == Errno.EINVAL
    with pytest.raises(OSError):
        system.chrdev.alloc_chrdev_region(1 << 20, 1, "wide")
    assert system.log.lines(Level.ERR)[-2:] == [
        'CHRDEV "big" major requested (512) is greater than the maximum (511)',
        'CHRDEV "wide" minor range requested (1048576-1048576) is out of range of maximum '
        "range (0-1048575) for a single major"]


def test_dynamic_majors_count_down_from_254_then_from_511(system: System) -> None:
    chrdev = system.chrdev
    assert dev_major(chrdev.alloc_chrdev_region(0, 4, "dyn")) == 254
    chrdev.register_chrdev_region(mkdev(253, 0), 1, "fixed")
    assert dev_major(chrdev.alloc_chrdev_region(5, 1, "dyn2")) == 252
    # 489 shares a hash slot with 234: once 252..235 are taken, 234 is not free
    chrdev.register_chrdev_region(mkdev(489, 0), 1, "slot")
    for major in range(251, 234, -1):
        chrdev.register_chrdev_region(mkdev(major, 0), 1, f"m{major}")
    assert dev_major(chrdev.alloc_chrdev_region(0, 1, "ext")) == 511
    assert system.chrdev.register_chrdev(0, "next", FileOperations()) == 510


# -- the cdev map ----------------------------------------------------------------------------


def test_cdev_map_prefers_the_smallest_newest_range(system: System) -> None:
    wide, narrow = Cdev(FileOperations(), name="wide"), Cdev(FileOperations(), name="narrow")
    system.chrdev.cdev_add(wide, mkdev(244, 0), 16)
    system.chrdev.cdev_add(narrow, mkdev(244, 4), 2)
    assert system.chrdev.lookup(mkdev(244, 5)) is narrow
    assert system.chrdev.lookup(mkdev(244, 6)) is wide
    assert system.chrdev.lookup(mkdev(244, 16)) is None
    system.chrdev.cdev_del(narrow)
    assert system.chrdev.lookup(mkdev(244, 5)) is wide
    with pytest.raises(ValueError):
        system.chrdev.cdev_add(narrow, mkdev(244, 0), 0)
