"""udev's module autoload (usbemu.kernel.udev): an installed package's driver (entry
point) loaded when its device is plugged, no autoload when the alias does not match or
autoload is off, failures recorded, coldplug and `udevadm trigger` for devices already
present, and remove uevents for devices no driver claimed.  Everything runs on virtual
time.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno
from usbemu.kernel.device import Uevent
from usbemu.kernel.module import ModuleState
from usbemu.system import System
from usbemu.testing import blacklist

FIXTURES = Path(__file__).parent / "fixtures"
GIZMO = str(FIXTURES / "gizmo.py")
LIB = "/lib/modules/6.12.0"


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        blacklist(machine, "usb_storage", "uas")
        yield machine


# -- udev: autoload, coldplug, remove events -------------------------------------------------------


@pytest.fixture
def installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution installed on sys.path as pip would leave it: the package and a
    *.dist-info directory whose entry_points.txt puts `autodrv` in `usbemu.drivers`."""
    package = tmp_path / "autodrv_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(FIXTURES / "autodrv.py", package / "autodrv.py")
    info = tmp_path / "autodrv_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: autodrv-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[usbemu.drivers]\nautodrv = autodrv_pkg.autodrv\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_plugging_a_device_autoloads_the_installed_driver(installed_package: Path) -> None:
    with System() as system:
        system.add_controller()
        source = system.modules.available()["autodrv"]
        assert (source.origin, source.target) == ("entry point", "autodrv_pkg.autodrv")
        assert system.modules.get("autodrv") is None
        blacklist(system, "usb_storage", "uas")
        assert "alias usb:v058Fp6387d01*dc*dsc*dp*ic*isc*ip*in* autodrv\n" in \
            system.vfs.read_text(f"{LIB}/modules.alias")
        system.plug(PenDrive(), "1-1")
        system.settle()
        mod = system.modules.get("autodrv")
        assert mod is not None and mod.state is ModuleState.LIVE
        lines = system.log.lines()
        found = lines.index("usb 1-1: SerialNumber: 6E5C7D12")
        # a plugin's module is out of tree; driver_register binds the waiting interface
        # before usb_register says so
        assert lines[found + 1:] == [
            "autodrv: loading out-of-tree module taints kernel.",
            "autodrv: module verification failed: signature and/or required key missing - "
            "tainting kernel",
            "autodrv: 1-1 bound",
            "usbcore: registered new interface driver autodrv"]
        intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
        assert intf is not None and intf.driver is not None
        assert intf.driver.name == "autodrv" and intf.driver.owner is mod
        assert mod.pymodule is not None and mod.pymodule.probed == ["1-1:1.0"]
        assert system.modules.autoload_errors == []
        # a second device of the kind: the module is loaded, the driver binds it
        system.plug(PenDrive(serial="2"), "1-2")
        system.settle()
        assert mod.pymodule.probed == ["1-1:1.0", "1-2:1.0"]
        assert [m.name for m in system.modules.loaded] == ["autodrv"]


def test_no_autoload_when_bcd_is_out_of_range(installed_package: Path) -> None:
    class NewerPen(PenDrive):
        descriptor = replace(PenDrive.descriptor, bcdDevice=0x0200)

    with System() as system:
        system.add_controller()
        system.plug(NewerPen(), "1-1")
        system.settle()
        assert system.modules.get("autodrv") is None


def test_autoload_can_be_turned_off(installed_package: Path) -> None:
    with System() as system:
        system.modules.autoload = False
        system.add_controller()
        system.plug(PenDrive(), "1-1")
        system.settle()
        assert system.modules.get("autodrv") is None


def test_autoload_failures_are_recorded(system: System) -> None:
    system.modules.install("gizmo", GIZMO)
    gizmo_pen = replace(PenDrive.descriptor, idVendor=0x0403, idProduct=0x6001)

    class Converter(PenDrive):
        descriptor = gizmo_pen

    system.modules.install(FIXTURES / "notamodule.py")
    system.plug(Converter(), "1-1")
    system.settle()
    assert system.modules.get("gizmo") is not None        # gizmo matched 0403:6001
    system.plug(PenDrive(), "1-2")                        # notamodule matches 058f:6387
    system.settle()
    assert [(alias[:14], err.errno) for alias, err in system.modules.autoload_errors] == \
        [("usb:v058Fp6387", Errno.ENOEXEC)]


def test_coldplug_binds_devices_present_before_the_driver(system: System) -> None:
    system.plug(PenDrive(), "1-1")
    system.settle()
    intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
    assert intf is not None and intf.driver is None
    mod = system.insmod(FIXTURES / "autodrv.py")    # registering the driver binds it
    assert intf.driver is not None and intf.driver.owner is mod
    assert mod.pymodule is not None and mod.pymodule.probed == ["1-1:1.0"]
    system.rmmod("autodrv")
    assert intf.driver is None and mod.pymodule.probed == []


def test_udev_trigger_loads_modules_for_present_devices(system: System) -> None:
    system.plug(PenDrive(), "1-1")
    system.settle()
    system.modules.install(FIXTURES / "autodrv.py")   # installed after the device came
    system.run(system.modules.coldplug())
    mod = system.modules.get("autodrv")
    assert mod is not None and mod.pymodule is not None
    assert mod.pymodule.probed == ["1-1:1.0"]


def test_remove_uevents_reach_listeners_for_unclaimed_devices(system: System) -> None:
    events: list[Uevent] = []
    system.driver_core.listeners.append(events.append)
    system.plug(PenDrive(), "1-1")
    system.settle()
    intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
    assert intf is not None and intf.driver is None       # nobody claims it
    devpath = intf.sysfs_path()
    added = [e for e in events if e.devpath == devpath]
    assert [e.action for e in added] == ["add"]
    assert added[0].get("MODALIAS") == "usb:v058Fp6387d0100dc00dsc00dp00ic08isc06ip50in00"
    events.clear()
    system.unplug("1-1")
    system.settle()
    removed = [(e.action, e.devpath) for e in events]
    assert ("remove", devpath) in removed
    udev_path = devpath.rsplit("/", 1)[0]
    assert ("remove", udev_path) in removed
    assert removed.index(("remove", devpath)) < removed.index(("remove", udev_path))
    gone = next(e for e in events if e.devpath == devpath)
    assert gone.get("DRIVER") is None and gone.get("MODALIAS") is not None
