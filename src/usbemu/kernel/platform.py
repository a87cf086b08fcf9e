"""Platform devices — counterpart of drivers/base/platform.c as sysfs shows it.

A platform device is a device on no bus that can be enumerated: a driver module creates it
(platform_device_alloc, platform_device_add) and binds its platform driver to it, as
vhci-hcd does with vhci_hcd.0.  `PlatformDevice` sits at /sys/devices/platform/<name>;
`install_platform_sysfs(vfs, sysfs)` mounts

    /sys/devices/platform/<device>/{subsystem,driver,<child>/}
    /sys/bus/platform/devices/<device>            -> the device's directory
    /sys/bus/platform/drivers/<driver>/<device>   -> the device's directory

for the devices its providers supply (the USB core supplies its host controllers), laid
out as kernel/pci_sysfs.py lays out PCI functions.  Not modelled: the platform bus as a
driver-core bus (matching, probing, modalias, driver_override), the bus's own files, the
devices of /sys/devices/platform that no provider supplies (serial8250, pcspkr …).
"""

from __future__ import annotations

from typing import Final

from .device import Device
from .pci_sysfs import PciSysfs
from .sysfs import Sysfs
from .vfs import Vfs
from .weak import WeakTable

__all__ = ["BUS_PLATFORM", "PLATFORM_ROOT", "PlatformDevice", "PlatformSysfs",
           "install_platform_sysfs"]

PLATFORM_ROOT: Final = "/sys/devices/platform"
BUS_PLATFORM: Final = "/sys/bus/platform"


class PlatformDevice(Device):
    """struct platform_device: a device of a driver's own making (vhci_hcd.0)."""

    def sysfs_path(self) -> str:
        return f"/devices/platform/{self.name}"


class PlatformSysfs(PciSysfs):
    """The platform directories of one machine's sysfs: the devices the providers supply
    (`function_providers`) whose directory is in /sys/devices/platform.  Context: listings
    and reads are atomic."""

    root = PLATFORM_ROOT
    bus = BUS_PLATFORM


#: Weak both ways (`WeakTable`): a closed machine goes, though each value refers to
#: its key.
_INSTALLED: WeakTable[Sysfs, PlatformSysfs] = WeakTable()


def install_platform_sysfs(vfs: Vfs, sysfs: Sysfs) -> PlatformSysfs:
    """Mount the platform directories into `vfs` (once per machine: the view already
    mounted for `sysfs` is returned).  Context: atomic."""
    view = _INSTALLED.get(sysfs)
    if view is None:
        view = _INSTALLED[sysfs] = PlatformSysfs(sysfs)
        view.mount(vfs)
    return view
