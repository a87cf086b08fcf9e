"""The driver core's sysfs (usbemu.kernel.sysfs) and the PCI directories
(usbemu.kernel.pci_sysfs), on a bus that is not USB: a tiny "gizmo" bus registered with a
bare driver core gets /sys/bus/gizmo with its devices' links, its drivers' directories and
working bind/unbind/drivers_probe/uevent files, and its devices get directories with their
driver and subsystem links — with no USB code imported at all.
"""

from __future__ import annotations

import ast
import asyncio
import errno
import stat
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from usbemu.kernel.device import BusType, Device, Driver, DriverCore, Uevent
from usbemu.kernel.pci_sysfs import install_pci_sysfs
from usbemu.kernel.printk import Printk
from usbemu.kernel.sysfs import (
    SysAttr,
    Sysfs,
    device_create_file,
    device_remove_file,
    install_sysfs,
    kstrtobool,
    scan_int,
    sysfs_link,
)
from usbemu.kernel.vfs import Attr, StaticDir, Vfs
from usbemu.kernel.vtime import new_event_loop
from usbemu.system import System

T = TypeVar("T")

BUS = "/sys/bus/gizmo"


class GizmoDriver(Driver):
    """Binds the gizmos whose name starts with its prefix; probe returns `result`."""

    def __init__(self, name: str, bus: BusType, prefix: str = "gizmo", result: int = 0) -> None:
        super().__init__(name, bus)
        self.prefix = prefix
        self.result = result
        self.probed: list[str] = []
        self.removed: list[str] = []


class GizmoBus(BusType):
    """A bus of gizmos: nothing of USB."""

    def __init__(self, core: DriverCore, name: str = "gizmo") -> None:
        super().__init__(name, core)

    def match(self, dev: Device, drv: Driver) -> bool:
        return isinstance(drv, GizmoDriver) and dev.name.startswith(drv.prefix)

    async def probe(self, dev: Device, drv: Driver) -> int:
        assert isinstance(drv, GizmoDriver)
        drv.probed.append(dev.name)
        return drv.result

    async def remove(self, dev: Device, drv: Driver) -> None:
        assert isinstance(drv, GizmoDriver)
        drv.removed.append(dev.name)

    def uevent(self, dev: Device) -> list[tuple[str, str]]:
        return [("GIZMO", dev.name.upper())]


class Machine:
    """A driver core, a vfs with the driver core's sysfs, a gizmo bus, a driver and a
    device — and nothing else."""

    def __init__(self) -> None:
        self.loop = new_event_loop(True)
        self.core = DriverCore(Printk(self.loop.time))
        self.vfs = Vfs()
        self.sysfs: Sysfs = install_sysfs(self.vfs, self.core)
        self.bus = self.core.add_bus(GizmoBus(self.core))
        self.events: list[Uevent] = []
        self.core.listeners.append(self.events.append)
        self.drv = GizmoDriver("gizmo_drv", self.bus)
        self.run(self.core.driver_register(self.drv))
        self.dev = Device("gizmo0", None, self.bus)
        self.run(self.core.device_add(self.dev))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def write(self, path: str, data: str) -> int:
        return self.run(self.vfs.write(path, data))

    def write_error(self, path: str, data: str) -> int | None:
        with pytest.raises(OSError) as info:
            self.write(path, data)
        return info.value.errno

    def read(self, path: str) -> str:
        return self.vfs.read_text(path)


@pytest.fixture
def machine() -> Iterator[Machine]:
    m = Machine()
    try:
        yield m
    finally:
        m.loop.close()


# -- /sys/bus/<bus> -------------------------------------------------------------------------------


def test_a_bus_registered_with_the_driver_core_gets_its_directory(machine: Machine) -> None:
    vfs = machine.vfs
    assert vfs.listdir("/sys/bus") == ["gizmo"]
    assert vfs.listdir(BUS) == ["devices", "drivers", "drivers_autoprobe", "drivers_probe",
                                "uevent"]
    assert vfs.listdir(f"{BUS}/devices") == ["gizmo0"]
    assert vfs.readlink(f"{BUS}/devices/gizmo0") == "../../../devices/gizmo0"
    assert vfs.resolve(f"{BUS}/devices/gizmo0")[0] == "/sys/devices/gizmo0"
    assert vfs.listdir(f"{BUS}/drivers") == ["gizmo_drv"]
    # a bus added later is there as soon as it is registered
    machine.core.add_bus(GizmoBus(machine.core, "widget"))
    assert vfs.listdir("/sys/bus") == ["gizmo", "widget"]
    assert vfs.listdir("/sys/bus/widget/devices") == []


def test_driver_directory(machine: Machine) -> None:
    drv = f"{BUS}/drivers/gizmo_drv"
    assert machine.vfs.listdir(drv) == ["bind", "gizmo0", "uevent", "unbind"]
    for name in ("bind", "unbind", "uevent"):
        assert stat.S_IMODE(machine.vfs.stat(f"{drv}/{name}").mode) == 0o200
        with pytest.raises(PermissionError):
            machine.vfs.read(f"{drv}/{name}")
    assert machine.vfs.readlink(f"{drv}/gizmo0") == "../../../../devices/gizmo0"


def test_device_directory_with_driver_and_subsystem_links(machine: Machine) -> None:
    dev = "/sys/devices/gizmo0"
    assert machine.vfs.listdir("/sys/devices") == ["gizmo0"]
    assert machine.vfs.listdir(dev) == ["driver", "subsystem", "uevent"]
    assert machine.vfs.readlink(f"{dev}/driver") == "../../bus/gizmo/drivers/gizmo_drv"
    assert machine.vfs.readlink(f"{dev}/subsystem") == "../../bus/gizmo"
    assert machine.vfs.resolve(f"{BUS}/devices/gizmo0/driver")[0] == \
        "/sys/bus/gizmo/drivers/gizmo_drv"
    assert machine.read(f"{dev}/uevent") == "DRIVER=gizmo_drv\nGIZMO=GIZMO0\n"


def test_unbind_and_bind(machine: Machine) -> None:
    drv = f"{BUS}/drivers/gizmo_drv"
    assert [e.action for e in machine.events] == ["add", "bind"]
    machine.events.clear()
    assert machine.write(f"{drv}/unbind", "gizmo0\n") == 7
    assert machine.drv.removed == ["gizmo0"]
    assert machine.dev.driver is None
    assert machine.vfs.listdir("/sys/devices/gizmo0") == ["subsystem", "uevent"]
    assert "gizmo0" not in machine.vfs.listdir(drv)
    assert machine.write_error(f"{drv}/unbind", "gizmo0") == errno.ENODEV
    assert machine.write_error(f"{drv}/bind", "nothing") == errno.ENODEV
    assert machine.write(f"{drv}/bind", "gizmo0") == 6
    assert machine.drv.probed == ["gizmo0", "gizmo0"]
    assert machine.vfs.readlink("/sys/devices/gizmo0/driver") == \
        "../../bus/gizmo/drivers/gizmo_drv"
    assert machine.write_error(f"{drv}/bind", "gizmo0") == errno.EBUSY
    assert [e.action for e in machine.events] == ["unbind", "bind"]


def test_bind_errors_of_match_and_probe(machine: Machine) -> None:
    picky = GizmoDriver("picky", machine.bus, prefix="widget")
    failing = GizmoDriver("failing", machine.bus, result=-errno.EIO)
    deferring = GizmoDriver("deferring", machine.bus, result=-517)   # -EPROBE_DEFER
    for drv in (picky, failing, deferring):
        machine.run(machine.core.driver_register(drv))
    machine.write(f"{BUS}/drivers/gizmo_drv/unbind", "gizmo0")
    assert machine.write_error(f"{BUS}/drivers/picky/bind", "gizmo0") == errno.ENODEV
    assert machine.write_error(f"{BUS}/drivers/failing/bind", "gizmo0") == errno.EIO
    assert machine.write_error(f"{BUS}/drivers/deferring/bind", "gizmo0") == errno.EAGAIN
    assert machine.dev.driver is None


def test_drivers_autoprobe_and_drivers_probe(machine: Machine) -> None:
    assert machine.read(f"{BUS}/drivers_autoprobe") == "1\n"
    machine.write(f"{BUS}/drivers_autoprobe", "0")
    assert machine.bus.drivers_autoprobe is False
    other = Device("gizmo1", None, machine.bus)
    machine.run(machine.core.device_add(other))
    assert machine.vfs.listdir("/sys/devices/gizmo1") == ["subsystem", "uevent"]
    assert machine.write(f"{BUS}/drivers_probe", "gizmo1\n") == 7
    assert machine.vfs.readlink("/sys/devices/gizmo1/driver") == \
        "../../bus/gizmo/drivers/gizmo_drv"
    assert machine.write_error(f"{BUS}/drivers_probe", "gizmo9") == errno.ENODEV
    machine.write(f"{BUS}/drivers_autoprobe", "yes")
    assert machine.read(f"{BUS}/drivers_autoprobe") == "1\n"


def test_uevent_files_synthesize_events(machine: Machine) -> None:
    machine.events.clear()
    machine.write("/sys/devices/gizmo0/uevent", "change")
    machine.write(f"{BUS}/uevent", "add")
    machine.write(f"{BUS}/drivers/gizmo_drv/uevent", "remove")
    assert [(e.action, e.devpath, e.get("GIZMO")) for e in machine.events] == [
        ("change", "/devices/gizmo0", "GIZMO0"), ("add", "/bus/gizmo", None),
        ("remove", "/bus/gizmo/drivers/gizmo_drv", None)]
    for path in ("/sys/devices/gizmo0/uevent", f"{BUS}/uevent",
                 f"{BUS}/drivers/gizmo_drv/uevent"):
        assert machine.write_error(path, "explode") == errno.EINVAL


def test_child_devices_and_child_providers(machine: Machine) -> None:
    child = Device("gizmo0.1", machine.dev, machine.bus)
    machine.run(machine.core.device_add(child))
    machine.sysfs.child_providers.append(
        lambda dev: {"extra": StaticDir({"dev": Attr(lambda: "1:2\n")})}
        if dev is child else {})
    assert machine.vfs.listdir("/sys/devices") == ["gizmo0"]
    assert machine.vfs.readlink(f"{BUS}/devices/gizmo0.1") == \
        "../../../devices/gizmo0/gizmo0.1"
    assert machine.vfs.listdir("/sys/devices/gizmo0/gizmo0.1") == [
        "driver", "extra", "subsystem", "uevent"]
    assert machine.read("/sys/devices/gizmo0/gizmo0.1/extra/dev") == "1:2\n"
    assert machine.vfs.readlink("/sys/devices/gizmo0/gizmo0.1/subsystem") == \
        "../../../bus/gizmo"
    machine.run(machine.core.device_del(child))
    assert machine.vfs.listdir("/sys/devices/gizmo0") == ["driver", "subsystem", "uevent"]
    assert machine.vfs.listdir(f"{BUS}/devices") == ["gizmo0"]


def test_device_create_file_adds_a_file_until_it_is_removed(machine: Machine) -> None:
    shown = SysAttr[Device]("caps", lambda dev: f"{dev.name}:6")
    assert device_create_file(machine.dev, shown) == 0
    assert device_create_file(machine.dev, shown) == -errno.EEXIST
    assert machine.read("/sys/devices/gizmo0/caps") == "gizmo0:6"
    device_remove_file(machine.dev, shown)
    assert machine.vfs.listdir("/sys/devices/gizmo0") == ["driver", "subsystem", "uevent"]


class Owner:
    name = "gizmo_mod"


def test_subsystem_hooks_module_link_and_suppressed_bind_files(machine: Machine) -> None:
    async def store_reset(data: bytes) -> int:
        return len(data)

    machine.sysfs.register_driver_files("gizmo", lambda drv: {
        "reset": Attr(store=store_reset, mode=0o200)})
    machine.sysfs.register_device_dir(Device, lambda dev: {"only": Attr(lambda: "me\n")})
    quiet = GizmoDriver("quiet", machine.bus, prefix="none")
    quiet.suppress_bind_attrs = True
    quiet.owner = Owner()
    machine.run(machine.core.driver_register(quiet))
    assert machine.vfs.listdir(f"{BUS}/drivers/quiet") == ["module", "reset", "uevent"]
    assert machine.vfs.readlink(f"{BUS}/drivers/quiet/module") == \
        "../../../../module/gizmo_mod"
    assert "reset" in machine.vfs.listdir(f"{BUS}/drivers/gizmo_drv")
    assert machine.vfs.listdir("/sys/devices/gizmo0") == ["only"]


def test_pci_functions_without_usb(machine: Machine) -> None:
    class Function(Device):
        def sysfs_path(self) -> str:
            return f"/devices/pci0000:00/{self.name}"

    fn = Function("0000:00:04.0")
    fn.driver = Driver("gizmo-pci")
    below = Device("gizmo7", fn, machine.bus)
    machine.run(machine.core.device_add(below))
    install_pci_sysfs(machine.vfs, machine.sysfs).function_providers.append(lambda: [fn])
    vfs = machine.vfs
    assert vfs.listdir("/sys/bus") == ["gizmo", "pci"]
    assert vfs.listdir("/sys/devices") == ["gizmo0", "pci0000:00"]
    assert vfs.readlink("/sys/bus/pci/devices/0000:00:04.0") == \
        "../../../devices/pci0000:00/0000:00:04.0"
    assert vfs.listdir("/sys/bus/pci/drivers/gizmo-pci") == ["0000:00:04.0"]
    base = "/sys/devices/pci0000:00/0000:00:04.0"
    assert vfs.listdir(base) == ["driver", "gizmo7", "subsystem"]
    assert vfs.readlink(f"{base}/driver") == "../../../bus/pci/drivers/gizmo-pci"
    assert vfs.readlink(f"{base}/subsystem") == "../../../bus/pci"
    assert vfs.resolve(f"{BUS}/devices/gizmo7/driver")[0] == "/sys/bus/gizmo/drivers/gizmo_drv"
    assert install_pci_sysfs(machine.vfs, machine.sysfs).functions() == [fn]


def test_install_is_once_per_vfs(machine: Machine) -> None:
    assert install_sysfs(machine.vfs, machine.core) is machine.sysfs
    with pytest.raises(ValueError, match="another driver core"):
        install_sysfs(machine.vfs, DriverCore(Printk(machine.loop.time)))


def test_mounting_keeps_what_is_mounted_below() -> None:
    vfs = Vfs()
    vfs.mount("/sys/devices/virtual", StaticDir())
    loop = asyncio.new_event_loop()
    try:
        install_sysfs(vfs, DriverCore(Printk(loop.time)))
    finally:
        loop.close()
    assert vfs.listdir("/sys/devices") == ["virtual"]


# -- on a whole machine -----------------------------------------------------------------------


def test_a_second_bus_on_a_machine_beside_usb() -> None:
    """A device of another bus below a USB interface shows in the interface's directory,
    and its bus in /sys/bus beside usb, through the same driver core sysfs."""
    from usbemu.emulated.models import load_model

    with System() as system:
        system.add_controller()
        system.plug(load_model("pendrive")(), "1-1")
        system.settle()
        bus = system.driver_core.add_bus(GizmoBus(system.driver_core))
        drv = GizmoDriver("gizmo_drv", bus)
        system.run(system.driver_core.driver_register(drv))
        parent = next(d for d in system.usb.bus_type.devices if d.name == "1-1:1.0")
        dev = Device("gizmo0", parent, bus)
        system.run(system.driver_core.device_add(dev))
        # scsi: usb-storage, autoloaded for the pen drive, brought the SCSI mid-layer
        assert system.vfs.listdir("/sys/bus") == ["gizmo", "pci", "platform", "scsi", "usb"]
        target = system.vfs.resolve(f"{BUS}/devices/gizmo0")[0]
        assert target == "/sys/devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/gizmo0"
        assert system.vfs.readlink(f"{target}/driver") == \
            "../../../../../../../bus/gizmo/drivers/gizmo_drv"
        assert "gizmo0" in system.vfs.listdir("/sys/devices/pci0000:00/0000:00:1d.0/usb1/"
                                              "1-1/1-1:1.0")
        system.run(system.vfs.write(f"{BUS}/drivers/gizmo_drv/unbind", "gizmo0"))
        assert dev.driver is None
        assert "driver" not in system.vfs.listdir(target)


# -- no USB in the driver core's sysfs ----------------------------------------------------------

SRC = Path(__file__).resolve().parents[2] / "src" / "usbemu"
ALLOWED = ("usbemu.spec", "usbemu.errors", "usbemu.plugins", "usbemu.kernel")


@pytest.mark.parametrize("module", ["sysfs.py", "pci_sysfs.py", "devclass.py"])
def test_imports_only_what_kernel_may(module: str) -> None:
    tree = ast.parse((SRC / "kernel" / module).read_text())
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            base = "usbemu.kernel" if node.level == 1 else "usbemu" if node.level == 2 else ""
            imported.append(f"{base}.{node.module}" if base else node.module)
        elif isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
    ours = [name for name in imported if name.startswith("usbemu")]
    assert ours
    assert all(name.startswith(ALLOWED) for name in ours), ours


def test_no_usb_module_is_imported() -> None:
    code = ("import sys, usbemu.kernel.sysfs, usbemu.kernel.pci_sysfs, usbemu.kernel.devclass;"
            "print(sorted(m for m in sys.modules if m.startswith('usbemu.') "
            "and not m.startswith(('usbemu.kernel', 'usbemu.errors', 'usbemu.spec', "
            "'usbemu.plugins'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# -- parsing writes ---------------------------------------------------------------------------


def test_kstrtobool_and_scan_int() -> None:
    assert [kstrtobool(b) for b in (b"1", b"on", b"Off", b"n", b"", b"o", b"2")] == \
        [True, True, False, False, None, None, None]
    assert [scan_int(b) for b in (b"1", b" -5x", b"+7\n", b"\t12", b"abc", b"-", b"")] == \
        [1, -5, 7, 12, None, None, None]


def test_sysfs_link_is_relative_as_kernfs_makes_it() -> None:
    assert sysfs_link("/sys/bus/gizmo/devices", "/sys/devices/gizmo0").target == \
        "../../../devices/gizmo0"
    # a link to an ancestor goes up past it (kernfs), not to ".." (posixpath.relpath)
    assert sysfs_link("/sys/devices/a/b/c", "/sys/devices/a").target == "../../../a"
