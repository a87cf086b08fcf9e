"""What `usbemu list …` and `usbemu lsusb --json` report, as rows of plain data (JSON-ready):
device models, driver modules and the drivers they register, bridges, and the devices of a
running machine.  Rendering is the caller's.
"""

from __future__ import annotations

from typing import Any

from ..bridges import available_bridges, describe_bridge
from ..bridges.lsusb import EVERY_DEVICE, DeviceFilter
from ..core.devtable import UsbDeviceId, is_terminator
from ..core.driver import UsbDeviceDriver
from ..core.usb import UsbDevice
from ..emulated.models import available_models, load_model
from ..host import HCD_KINDS, load_hcd_kind
from ..kernel.kmod import EXAMPLE_MODULES
from ..system import System

__all__ = ["bridge_rows", "controller_rows", "device_rows", "driver_rows", "model_rows"]

Row = dict[str, Any]


def model_rows() -> list[Row]:
    """One row per device model (built in and from plugins): short name, ids, speed and
    the class that implements it.  Builds each model once."""
    rows = []
    for name, target in sorted(available_models().items()):
        model = load_model(name)()
        d = model.device_descriptor
        rows.append({"name": name, "id": f"{d.idVendor:04x}:{d.idProduct:04x}",
                     "idVendor": f"{d.idVendor:04x}",
                     "idProduct": f"{d.idProduct:04x}", "speed": model.speed.linux_name,
                     "class": target})
    return rows


def _ends_table(entry: object) -> bool:
    """Whether an id-table entry is the terminating one: usb's all-zero entry, or an
    entry of another bus with bus 0 (hid_device_id)."""
    if isinstance(entry, UsbDeviceId):
        return is_terminator(entry)
    return getattr(entry, "bus", None) == 0


def _driver_row(drv: Any, module: str, origin: str) -> Row:
    """A driver's row: its kind ("device" or "interface" on the usb bus, else the name of
    its bus: "usb-serial", "hid") and how many ids its table holds."""
    bus = getattr(drv.bus, "name", "usb")
    usb_kind = "device" if isinstance(drv, UsbDeviceDriver) else "interface"
    kind = usb_kind if bus == "usb" else bus
    table = getattr(drv, "id_table", None) or ()
    ids = sum(1 for entry in table if not _ends_table(entry))
    return {"driver": drv.name, "module": module, "kind": kind, "ids": ids,
            "origin": origin, "error": None}


def driver_rows() -> list[Row]:
    """One row per USB driver: those built into usbcore, then those each available module
    (installed, from plugins, or an example such as pen_driver) registers — found by
    loading each module in turn on a scratch machine and unloading it.  A module that
    fails to load is a row with its error.  May sleep (runs a machine)."""
    rows: list[Row] = []
    with System() as system:
        for drv in system.usb.bus_type.drivers:
            rows.append(_driver_row(drv, "usbcore", "built-in"))
        sources = {name: source.origin for name, source in system.modules.available().items()}
        sources.update({name: "example" for name in EXAMPLE_MODULES if name not in sources})
        for name, origin in sorted(sources.items()):
            rows.extend(_module_drivers(system, name, origin))
    return rows


def _module_drivers(system: System, name: str, origin: str) -> list[Row]:
    """The drivers module `name` registers, loaded after the modules it depends on (as
    modprobe loads them), then everything unloaded again."""
    before = {module.name for module in system.modules.loaded}
    try:
        _load_with_depends(system, name)
    except Exception as exc:
        _unload_since(system, before)
        return [{"driver": None, "module": name, "kind": None, "ids": 0, "origin": origin,
                 "error": str(exc)}]
    module = system.modules.get(name)
    drivers = system.modules.drivers_of(module) if module is not None else []
    rows = [_driver_row(drv, name, origin) for drv in drivers]
    error = _unload_since(system, before)
    if error is not None:
        for row in rows:
            row["error"] = f"rmmod: {error}"
    return rows


def _load_with_depends(system: System, name: str) -> None:
    """insmod `name`, after modprobe of each module its `depends` names (a module whose
    code cannot even be read fails in insmod, with insmod's message)."""
    source = system.modules.resolve(name)
    try:
        depends = system.modules.loader.read_module(source).info.depends if source else []
    except Exception:
        depends = []
    for dep in depends:
        system.modprobe(dep)
    system.insmod(name)


def _unload_since(system: System, before: set[str]) -> Exception | None:
    """rmmod every module loaded since `before`, users first; the last error, if some
    module would not go."""
    error: Exception | None = None
    for _ in range(len(system.modules.loaded)):
        extra = [m.name for m in system.modules.loaded if m.name not in before]
        if not extra:
            return None
        for mod in extra:
            try:
                system.rmmod(mod)
            except Exception as exc:
                error = exc
    return error


def controller_rows() -> list[Row]:
    """One row per host controller kind: name, the PCI driver and product it presents, its
    root hub's speed and where it comes from.  Imports each kind; one that fails to load
    is a row with its error."""
    rows: list[Row] = []
    for name, plugin in sorted(HCD_KINDS.available().items()):
        row: Row = {"name": name, "driver": None, "product": None, "speed": None,
                    "origin": plugin.origin, "class": plugin.target, "error": None}
        try:
            cls = load_hcd_kind(name)
        except ImportError as exc:
            row["error"] = str(exc)
        else:
            row.update(driver=cls.driver_name, product=cls.product_desc,
                       speed=cls.rh_speed.linux_name)
        rows.append(row)
    return rows


def bridge_rows() -> list[Row]:
    """One row per bridge: name, what it does, where it comes from, and whether this host
    can run it (and why not).  Imports each bridge module."""
    rows = []
    for name in sorted(available_bridges()):
        info = describe_bridge(name)
        rows.append({"name": info.name, "summary": info.summary, "origin": info.origin,
                     "module": info.module, "available": info.unavailable is None,
                     "unavailable_reason": info.unavailable})
    return rows


def _device_row(dev: UsbDevice) -> Row:
    d = dev.descriptor
    assert d is not None, "registered devices have their device descriptor"
    return {
        "bus": dev.busnum, "devnum": dev.devnum, "path": dev.name,
        "idVendor": f"{d.idVendor:04x}", "idProduct": f"{d.idProduct:04x}",
        "speed": dev.speed.linux_name, "manufacturer": dev.manufacturer,
        "product": dev.product, "serial": dev.serial,
        "interfaces": [{"name": intf.name,
                        "class": f"{intf.cur_altsetting.desc.bInterfaceClass:02x}",
                        "driver": intf.driver.name if intf.driver is not None else None}
                       for intf in dev.interfaces()],
    }


def device_rows(system: System, *, only: DeviceFilter = EVERY_DEVICE) -> list[Row]:
    """One row per USB device of `system` that `only` (lsusb's -s and -d) matches, in tree
    order (root hubs included), as `lsusb --json` prints them.  Atomic."""
    rows = [_device_row(dev) for dev in system.usb_devices()]
    return [row for row in rows if only.matches(row["bus"], row["devnum"],
                                                int(row["idVendor"], 16),
                                                int(row["idProduct"], 16))]
