"""Kernel taint — counterpart of the taint part of kernel/panic.c (taint_flags,
add_taint, test_taint), of proc_taint() in kernel/sysctl.c (/proc/sys/kernel/tainted) and
of module_flags_taint() in kernel/module/main.c (a module's own taint letters).

`KernelTaint` is one machine's `tainted_mask`: bits are only ever added, until the
machine is rebooted (a new `System`), and /proc/sys/kernel/tainted shows the mask in
decimal; writing a number adds its bits, as root's write does.  The module loader taints
the kernel when it loads an out-of-tree or unsigned module and keeps the module's own
taints for /proc/modules and /sys/module/<name>/taint.  Not modelled: the "Tainted:"
line of oops reports, lockdep, panic_on_taint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Final

from ..errors import Errno
from .vfs import Attr

__all__ = ["TAINT_FLAGS_COUNT", "KernelTaint", "Taint", "module_flags_taint"]


class Taint(IntEnum):
    """The TAINT_* bit numbers of include/linux/panic.h."""

    PROPRIETARY_MODULE = 0
    FORCED_MODULE = 1
    CPU_OUT_OF_SPEC = 2
    FORCED_RMMOD = 3
    MACHINE_CHECK = 4
    BAD_PAGE = 5
    USER = 6
    DIE = 7
    OVERRIDDEN_ACPI_TABLE = 8
    WARN = 9
    CRAP = 10
    FIRMWARE_WORKAROUND = 11
    OOT_MODULE = 12
    UNSIGNED_MODULE = 13
    SOFTLOCKUP = 14
    LIVEPATCH = 15
    AUX = 16
    RANDSTRUCT = 17
    TEST = 18


TAINT_FLAGS_COUNT: Final = len(Taint)

#: taint_flags[]: the letter of each taint, and whether a module can carry it.
TAINT_LETTERS: Final[dict[Taint, tuple[str, bool]]] = {
    Taint.PROPRIETARY_MODULE: ("P", True),
    Taint.FORCED_MODULE: ("F", True),
    Taint.CPU_OUT_OF_SPEC: ("S", False),
    Taint.FORCED_RMMOD: ("R", False),
    Taint.MACHINE_CHECK: ("M", False),
    Taint.BAD_PAGE: ("B", False),
    Taint.USER: ("U", False),
    Taint.DIE: ("D", False),
    Taint.OVERRIDDEN_ACPI_TABLE: ("A", False),
    Taint.WARN: ("W", False),
    Taint.CRAP: ("C", True),
    Taint.FIRMWARE_WORKAROUND: ("I", False),
    Taint.OOT_MODULE: ("O", True),
    Taint.UNSIGNED_MODULE: ("E", True),
    Taint.SOFTLOCKUP: ("L", False),
    Taint.LIVEPATCH: ("K", True),
    Taint.AUX: ("X", True),
    Taint.RANDSTRUCT: ("T", True),
    Taint.TEST: ("N", True),
}


def module_flags_taint(taints: int) -> str:
    """module_flags_taint(): the letters of the module taints set in `taints`, in bit
    order ("OE" for an out-of-tree, unsigned module).  Context: atomic."""
    return "".join(letter for flag, (letter, of_module) in TAINT_LETTERS.items()
                   if of_module and taints & (1 << flag))


class KernelTaint:
    """tainted_mask of one machine.  Context: atomic."""

    def __init__(self) -> None:
        self.mask = 0

    def add(self, flag: Taint) -> None:
        """add_taint(): set `flag`; it stays set until the machine is rebooted."""
        self.mask |= 1 << flag

    def test(self, flag: Taint) -> bool:
        """test_taint(): whether `flag` is set."""
        return bool(self.mask & (1 << flag))

    def show(self) -> str:
        """/proc/sys/kernel/tainted: the mask in decimal and a newline."""
        return f"{self.mask}\n"

    def attr(self) -> Attr:
        """The /proc/sys/kernel/tainted file (0644): reading gives `show()`; writing a
        decimal number adds its bits below TAINT_FLAGS_COUNT, anything else is -EINVAL."""
        return Attr(self.show, self._store(), mode=0o644)

    def _store(self) -> Callable[[bytes], Awaitable[int]]:
        async def store(data: bytes) -> int:
            text = data.decode("ascii", errors="replace").strip()
            if not text.isdigit():
                return -Errno.EINVAL
            value = int(text)
            for flag in Taint:
                if value & (1 << flag):
                    self.add(flag)
            return len(data)
        return store
