"""PCI in sysfs — counterpart of the directories drivers/pci/probe.c and bus.c give PCI
functions (/sys/devices/pci0000:00/<function>, /sys/bus/pci/devices and drivers) and of the
driver links drivers/base makes for them.

usbemu has no PCI bus: its PCI functions are the devices host controllers sit on
(0000:00:1d.0), each with the driver the controller is presented as (ehci-pci), and are
supplied by whoever owns them through `function_providers` (the USB core supplies its
controllers).  `install_pci_sysfs(vfs, sysfs)` mounts

    /sys/devices/pci0000:00/<function>/{subsystem,driver,<child>/}
    /sys/bus/pci/devices/<function>               -> the function's directory
    /sys/bus/pci/drivers/<driver>/<function>      -> the function's directory

A function's directory holds its child devices (a root hub, usb1) as every device directory
does (`Sysfs.common`).  Not modelled: configuration space and every PCI attribute (vendor,
device, class, resource, config …), the host bridge's own files, the pci bus's
drivers_probe/drivers_autoprobe/uevent files and its drivers' bind/unbind/new_id.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable, Iterable
from typing import Final

from .device import Device
from .sysfs import Sysfs, device_path, sysfs_link
from .vfs import Node, StaticDir, Vfs
from .weak import WeakTable

__all__ = ["BUS_PCI", "PCI_ROOT", "PciSysfs", "install_pci_sysfs"]

BUS_PCI: Final = "/sys/bus/pci"
PCI_ROOT: Final = "/sys/devices/pci0000:00"

FunctionProvider = Callable[[], Iterable[Device]]
"""Supplies PCI functions (the devices host controllers sit on)."""


class PciSysfs:
    """The PCI directories of one machine's sysfs.  Context: listings and reads are
    atomic, computed from the functions the providers supply."""

    #: The directory of the functions and the bus directory their links live in.
    root: str = PCI_ROOT
    bus: str = BUS_PCI

    def __init__(self, sysfs: Sysfs) -> None:
        self.sysfs = sysfs
        #: Functions returning PCI functions (the USB core's host controllers …).
        self.function_providers: list[FunctionProvider] = []

    def functions(self) -> list[Device]:
        """Every function the providers supply whose directory is in `root`, provider by
        provider.  Context: atomic."""
        return [fn for provider in self.function_providers for fn in provider()
                if posixpath.dirname(device_path(fn)) == self.root]

    def _root(self) -> dict[str, Node]:
        return {fn.name: StaticDir(compute=functools.partial(self._function_entries, fn))
                for fn in self.functions()}

    def _function_entries(self, fn: Device) -> dict[str, Node]:
        directory = device_path(fn)
        entries: dict[str, Node] = {"subsystem": sysfs_link(directory, self.bus)}
        if fn.driver is not None:
            entries["driver"] = sysfs_link(directory, f"{self.bus}/drivers/{fn.driver.name}")
        entries.update(self.sysfs.common(fn, directory))
        return entries

    def _devices(self) -> dict[str, Node]:
        return {fn.name: sysfs_link(f"{self.bus}/devices", device_path(fn))
                for fn in self.functions()}

    def _drivers(self) -> dict[str, Node]:
        by_driver: dict[str, list[Device]] = {}
        for fn in self.functions():
            if fn.driver is not None:
                by_driver.setdefault(fn.driver.name, []).append(fn)
        return {name: StaticDir({fn.name: sysfs_link(f"{self.bus}/drivers/{name}",
                                                     device_path(fn))
                                 for fn in fns})
                for name, fns in by_driver.items()}

    def mount(self, vfs: Vfs) -> None:
        """Attach `root` (/sys/devices/pci0000:00) and `bus` (/sys/bus/pci) to `vfs`.
        Context: atomic."""
        vfs.mount(self.root, StaticDir(compute=self._root))
        vfs.mount(f"{self.bus}/devices", StaticDir(compute=self._devices))
        vfs.mount(f"{self.bus}/drivers", StaticDir(compute=self._drivers))


#: Weak both ways (`WeakTable`): a closed machine goes, though each value refers to
#: its key.
_INSTALLED: WeakTable[Sysfs, PciSysfs] = WeakTable()


def install_pci_sysfs(vfs: Vfs, sysfs: Sysfs) -> PciSysfs:
    """Mount the PCI directories into `vfs` (once per machine: the view already mounted
    for `sysfs` is returned).  Context: atomic."""
    view = _INSTALLED.get(sysfs)
    if view is None:
        view = _INSTALLED[sysfs] = PciSysfs(sysfs)
        view.mount(vfs)
    return view
