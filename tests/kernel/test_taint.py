"""Kernel taint (usbemu.kernel.taint) and the module loader's taints: an out-of-tree,
unsigned module prints what a Debian kernel prints, once per boot, and
/proc/sys/kernel/tainted, /proc/modules and /sys/module/<name>/taint show the taints."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.errors import Errno
from usbemu.kernel.printk import Level
from usbemu.kernel.taint import TAINT_FLAGS_COUNT, KernelTaint, Taint, module_flags_taint
from usbemu.system import System

FIXTURES = Path(__file__).parent / "fixtures"
GIZMO = str(FIXTURES / "gizmo.py")
OOT = "pen_driver: loading out-of-tree module taints kernel."
UNSIGNED = ("pen_driver: module verification failed: signature and/or required key missing "
            "- tainting kernel")

SLOW_INIT = '''\
import asyncio

from usbemu.kernel.module import module_exit, module_init


@module_init
async def slow_init():
    await asyncio.sleep(1)
    return 0


@module_exit
async def slow_exit():
    pass
'''


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


def tainted(system: System) -> int:
    return int(system.vfs.read_text("/proc/sys/kernel/tainted"))


def test_the_taint_bits_and_letters() -> None:
    assert (Taint.OOT_MODULE, Taint.UNSIGNED_MODULE, TAINT_FLAGS_COUNT) == (12, 13, 19)
    assert module_flags_taint(1 << 12 | 1 << 13) == "OE"
    assert module_flags_taint(1 << 13 | 1 << 0 | 1 << 10) == "PCE"
    assert module_flags_taint(1 << Taint.WARN | 1 << Taint.USER) == ""  # not module taints
    taint = KernelTaint()
    assert taint.show() == "0\n" and not taint.test(Taint.OOT_MODULE)
    taint.add(Taint.OOT_MODULE)
    taint.add(Taint.OOT_MODULE)
    assert taint.test(Taint.OOT_MODULE) and taint.show() == "4096\n"


def test_an_out_of_tree_module_taints_the_kernel(system: System) -> None:
    assert tainted(system) == 0
    system.insmod("pen_driver")
    records = [(r.level, r.text) for r in system.log.records()]
    start = records.index((Level.WARNING, OOT))
    assert records[start:start + 3] == [
        (Level.WARNING, OOT), (Level.NOTICE, UNSIGNED),
        (Level.INFO, "usbcore: registered new interface driver pen_driver")]
    assert tainted(system) == 4096 + 8192
    assert system.vfs.read_text("/proc/modules").endswith(" Live 0x0000000000000000 (OE)\n")
    assert system.vfs.read_text("/sys/module/pen_driver/taint") == "OE\n"


def test_the_messages_come_once_per_boot(system: System) -> None:
    system.insmod("pen_driver")
    system.rmmod("pen_driver")
    assert tainted(system) == 12288          # taints stay after the module is gone
    system.insmod("pen_driver.ko")
    gizmo = system.insmod(GIZMO)
    lines = system.log.lines()
    assert lines.count(OOT) == 1 and lines.count(UNSIGNED) == 1
    assert not any(line.startswith("gizmo: ") and "taint" in line for line in lines)
    assert system.vfs.read_text("/sys/module/gizmo/taint") == "OE\n"
    assert gizmo.taints == 12288
    with System() as rebooted:
        rebooted.add_controller()
        assert tainted(rebooted) == 0
        rebooted.insmod(GIZMO)
        assert "gizmo: loading out-of-tree module taints kernel." in rebooted.log.lines()


def test_an_in_tree_module_does_not_taint(system: System) -> None:
    system.modprobe("usbserial")
    assert tainted(system) == 0
    assert "taint" not in system.dmesg()
    assert system.vfs.read_text("/proc/modules").startswith("usbserial ")
    assert "(" not in system.vfs.read_text("/proc/modules")
    assert system.vfs.read_text("/sys/module/usbserial/taint") == "\n"


def test_installing_an_example_keeps_it_out_of_tree(system: System) -> None:
    system.modules.install("pen_driver")
    system.modprobe("pen_driver")
    assert OOT in system.log.lines() and tainted(system) == 12288


def test_a_module_being_loaded_shows_a_plus(system: System, tmp_path: Path) -> None:
    path = tmp_path / "slow.py"
    path.write_text(SLOW_INIT)

    async def scenario() -> tuple[str, str]:
        load = asyncio.ensure_future(system.modules.insmod(str(path)))
        await asyncio.sleep(0.5)
        during = system.vfs.read_text("/proc/modules")
        await load
        return during, system.vfs.read_text("/proc/modules")

    during, after = system.run(scenario())
    assert during.startswith("slow ") and during.endswith(" Loading 0x0000000000000000 (OE+)\n")
    assert after.endswith(" Live 0x0000000000000000 (OE)\n")


def test_writing_proc_sys_kernel_tainted_adds_bits(system: System) -> None:
    system.run(system.vfs.write("/proc/sys/kernel/tainted", "64\n"))
    assert tainted(system) == 64
    system.run(system.vfs.write("/proc/sys/kernel/tainted", str(1 << 12 | 1 << 40)))
    assert tainted(system) == 64 + 4096       # bits past TAINT_FLAGS_COUNT are ignored
    system.run(system.vfs.write("/proc/sys/kernel/tainted", "0"))
    assert tainted(system) == 4160            # nothing is ever cleared
    with pytest.raises(OSError) as caught:
        system.run(system.vfs.write("/proc/sys/kernel/tainted", "lots"))
    assert caught.value.errno == Errno.EINVAL
