"""Module autoloading — counterpart of udev's 80-drivers.rules (on "add" with a MODALIAS,
`kmod load $MODALIAS`) and of what `udevadm trigger` replays for devices already present.

A uevent "add" whose MODALIAS matches an alias of a module that is not loaded (and not
blacklisted in /etc/modprobe.d) makes udev's modprobe load it — as a tracked task of the
driver core, so `settle()` waits for it — and the new driver binds the device (coldplug).
Failures are recorded in `autoload_errors`, as udev's log would show them; they never
reach device_add.  Nothing else of udev is here: the aliases come from depmod and
/etc/modprobe.d, the loading from modprobe (kernel/kmod.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Errno, ModuleError

if TYPE_CHECKING:
    from .device import DriverCore, Uevent
    from .kmod import KernelModules

__all__ = ["Udev"]


class Udev:
    """udev of one machine, as far as modules go: a uevent listener that loads the modules
    a new device's MODALIAS asks for.  Context: the listener is atomic; `coldplug` may
    sleep."""

    def __init__(self, driver_core: DriverCore, modules: KernelModules, *,
                 autoload: bool = True) -> None:
        self.driver_core = driver_core
        self.modules = modules
        #: udev loads modules for the MODALIAS of "add" uevents.
        self.autoload = autoload
        #: (MODALIAS, error) for each autoload that failed, as udev's log would show.
        self.autoload_errors: list[tuple[str, ModuleError]] = []
        driver_core.listeners.append(self.uevent)

    def uevent(self, event: Uevent) -> None:
        """udev's 80-drivers.rules: on "add" with a MODALIAS, `kmod load $MODALIAS` —
        started as a driver-core task when a matching module is not loaded.  Context:
        atomic (a uevent listener)."""
        if event.action == "add" and self.autoload:
            modalias = event.get("MODALIAS")
            if modalias:
                self._kmod_load(modalias)

    def _kmod_load(self, modalias: str) -> None:
        try:
            names = self.modules.autoload_targets(modalias)
        except Exception as exc:   # a broken installed package must not stop device_add
            error = ModuleError(-Errno.EIO, f"udev: kmod load {modalias}: {exc}", modalias)
            self.autoload_errors.append((modalias, error))
            return
        if any(self.modules.get(name) is None for name in names):
            self.driver_core.spawn(self._autoload(modalias))

    async def _autoload(self, modalias: str) -> None:
        try:
            await self.modules.autoload_modalias(modalias)
        except ModuleError as exc:
            self.autoload_errors.append((modalias, exc))

    async def coldplug(self) -> None:
        """What `udevadm trigger` makes udev do for devices already present: load the
        modules their MODALIAS asks for (say, after `install()`); failures are recorded
        in `autoload_errors`.  Context: may sleep (the modules' init runs)."""
        for bus in tuple(self.driver_core.buses.values()):
            for dev in tuple(bus.devices):
                modalias = dict(bus.uevent(dev)).get("MODALIAS")
                if modalias:
                    await self._autoload(modalias)
