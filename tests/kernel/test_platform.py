"""Platform devices in sysfs (usbemu.kernel.platform): a controller that is no PCI function
(vhci_hcd.0) under /sys/devices/platform and /sys/bus/platform, the PCI functions where they
were, neither in the other's directories."""

from __future__ import annotations

from usbemu.kernel.platform import PlatformDevice
from usbemu.system import System


def test_platform_devices_and_pci_functions_each_in_their_own_directories() -> None:
    with System() as system:
        system.add_controller()
        system.add_controller("vhci")
        vfs = system.vfs
        assert PlatformDevice("vhci_hcd.0").sysfs_path() == "/devices/platform/vhci_hcd.0"
        assert vfs.listdir("/sys/devices/platform") == ["vhci_hcd.0"]
        assert vfs.listdir("/sys/devices/pci0000:00") == ["0000:00:1d.0"]
        assert vfs.listdir("/sys/bus/platform/devices") == ["vhci_hcd.0"]
        assert vfs.listdir("/sys/bus/pci/devices") == ["0000:00:1d.0"]
        assert vfs.listdir("/sys/bus/platform/drivers") == ["vhci_hcd"]
        assert vfs.listdir("/sys/bus/pci/drivers") == ["ehci-pci"]
        assert vfs.readlink("/sys/bus/platform/drivers/vhci_hcd/vhci_hcd.0") == \
            "../../../../devices/platform/vhci_hcd.0"
        assert vfs.readlink("/sys/devices/platform/vhci_hcd.0/subsystem") == \
            "../../../bus/platform"
        assert "usb2" in vfs.listdir("/sys/devices/platform/vhci_hcd.0")
