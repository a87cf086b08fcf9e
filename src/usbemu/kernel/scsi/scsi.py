"""The SCSI core of one machine — counterpart of drivers/scsi/scsi.c (init_scsi, the
"SCSI subsystem initialized" line, the scsi_mod parameters) and of the bus and class
registration scsi_sysfs.c does at init (scsi_sysfs_register).

`ScsiCore` is created with the machine (`System.scsi`), like the tty and input layers,
hands out host numbers, and is found from driver code with `scsi_core_of()` (by the
running loop), as `tty_core_of()` finds the tty layer.  `init()` is scsi_mod's initcall,
which the first low-level driver (usb-storage's module init) or the first
`scsi_add_host` runs: it registers the "scsi" bus (/sys/bus/scsi) and the "scsi_host" and
"scsi_device" classes, as loading scsi_mod does, and the built-in sd driver.  Its `scan`,
`max_luns` and `inq_timeout` attributes are scsi_mod's parameters of those names.  Not
modelled: /proc/scsi (Debian's kernel has no CONFIG_SCSI_PROC_FS), sg, the SCSI logging
levels.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Coroutine
from typing import Any, Final

from ..devclass import DeviceClass, DeviceClasses
from ..device import DriverCore
from ..ratelimit import Ratelimit
from ..vfs import Vfs
from .scsi_sysfs import ScsiBusType

__all__ = ["Ida", "ScsiCore", "scsi_core_of"]

#: scsi_mod.scan's values: how hosts are scanned.
SCAN_TYPES: Final = ("sync", "async", "manual", "none")


class Ida:
    """An ID allocator handing out the lowest free number (lib/idr.c's ida).  Context:
    atomic."""

    def __init__(self) -> None:
        self._taken: set[int] = set()

    def alloc(self) -> int:
        """ida_alloc(): the lowest number not taken, now taken."""
        number = 0
        while number in self._taken:
            number += 1
        self._taken.add(number)
        return number

    def free(self, number: int) -> None:
        """ida_free(): `number` may be handed out again."""
        self._taken.discard(number)


class ScsiCore:
    """The SCSI mid-layer of one machine.  Context: construction is atomic; `init` may
    sleep."""

    def __init__(self, driver_core: DriverCore, classes: DeviceClasses, vfs: Vfs,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.driver_core = driver_core
        self.classes = classes
        self.vfs = vfs
        self.loop = loop
        self.log = driver_core.log
        #: scsi_mod.scan: "async" (Debian's default), "sync", "manual" or "none".
        self.scan = "async"
        #: scsi_mod.max_luns: the last LUN a sequential scan may try, plus one.
        self.max_luns = 512
        #: scsi_mod.inq_timeout: seconds an INQUIRY of the scan may take, plus 0.5.
        self.inq_timeout = 20
        self.initialized = False
        self.host_index = Ida()
        self.bus = ScsiBusType(self)
        self.shost_class = DeviceClass("scsi_host")
        self.sdev_class = DeviceClass("scsi_device")
        #: scsi_io_completion_action()'s static ratelimit_state for failure reports.
        self.io_failure_ratelimit = Ratelimit("scsi_io_completion_action")
        _cores[loop] = self

    def __repr__(self) -> str:
        return f"<ScsiCore devices={[d.name for d in self.bus.devices]}>"

    async def init(self) -> None:
        """init_scsi(), once: the scsi bus and the scsi_host and scsi_device classes
        appear (/sys/bus/scsi, /sys/class/scsi_host …), "SCSI subsystem initialized", then
        the built-in sd driver registers.  Raises the OSError of a failed registration.
        Context: may sleep."""
        if self.initialized:
            return
        self.initialized = True
        self.bus.register()
        self.classes.class_register(self.shost_class)
        self.classes.class_register(self.sdev_class)
        self.log.info("SCSI subsystem initialized")
        from .sd import init_sd

        await init_sd(self)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `coro` as work of the machine (the error-handler thread, a door lock after a
        reset); `System.settle` waits for it.  Context: atomic."""
        task = self.loop.create_task(coro)
        self.driver_core.pending.add(task)
        task.add_done_callback(self.driver_core.pending.discard)
        return task


#: The core of each machine, by its loop.  The machine holds its core; a weak value lets
#: a closed machine go (a weak key could not: the core holds the loop).
_cores: weakref.WeakValueDictionary[asyncio.AbstractEventLoop, ScsiCore] = \
    weakref.WeakValueDictionary()


def scsi_core_of(loop: asyncio.AbstractEventLoop | None = None) -> ScsiCore:
    """The SCSI core of the machine whose loop is `loop` (default: the running loop).
    Raises RuntimeError outside a machine.  Context: atomic."""
    try:
        found = _cores.get(loop or asyncio.get_running_loop())
    except RuntimeError:
        found = None
    if found is None:
        raise RuntimeError("no usbemu machine with a SCSI core is running here: call this "
                           "from code that runs on a System (System.run())")
    return found
