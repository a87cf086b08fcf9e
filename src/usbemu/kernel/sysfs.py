"""sysfs of the driver model — counterpart of fs/sysfs (attribute groups; kernfs's relative
symlinks, fs/kernfs/symlink.c) and of the sysfs side of drivers/base: core.c (a device's
directory, its `uevent` file, its `driver` and `subsystem` links), bus.c (the bus's
`devices/`, `drivers/`, `drivers_probe`, `drivers_autoprobe` and `uevent`; a driver's
`bind`, `unbind`, `uevent` and `module` link) and dd.c (the driver's link per bound device).

`install_sysfs(vfs, driver_core)` mounts, for every bus registered with the driver core —
now or later: both directories are computed from `driver_core.buses` when listed —

    /sys/bus/<bus>/devices/<dev>                  -> the device's directory
    /sys/bus/<bus>/drivers/<drv>/{bind,unbind,uevent,module,<dev>}
    /sys/bus/<bus>/{drivers_probe,drivers_autoprobe,uevent}
    /sys/devices/<dev>/{uevent,driver,subsystem,<child>/}  bus devices without a parent

A device's directory holds its child devices (the registered devices of any bus whose
parent it is), its `driver` and `subsystem` links and what `child_providers` add (class
devices such as usbmisc/pen0, from kernel/devclass.py).  A subsystem gives its own device
types their own files with `register_device_dir` (USB's device and interface attribute
tables, core/sysfs.py) and its bus's drivers extra files with `register_driver_files`
(USB's new_id/remove_id); a driver adds files to one device's directory with
`device_create_file` (cdc-acm's bmCapabilities on its interface) and takes them away with
`device_remove_file`, and to its own directory with `driver_create_file` (usbip-host's
match_busid); everything else is the same for every bus.  Attributes are rows of
tables (`SysAttr`, bound to an object by `attr_group`), as the kernel declares them with
DEVICE_ATTR_RO/RW and is_visible; writes are parsed as the kernel parses them (`kstrtobool`,
`scan_int`) and fail with its negative errno.

Nothing is copied: every directory is listed and every file formatted from the live objects
when it is read.  Nothing here knows a particular bus.  A device on no bus has a directory
only where its subsystem puts one (a USB port in its hub's interface, a class device through
a child provider, a PCI function in kernel/pci_sysfs.py).  Not modelled: the `power/`
directory of devices whose subsystem adds none, the `dev` file and /sys/dev of devices
outside device classes, `online`, `removable`, device links (`waiting_for_supplier`,
`consumer:`/`supplier:`), and bus `dev_root`s (a bus device without a parent sits directly
in /sys/devices).
"""

from __future__ import annotations

import functools
import posixpath
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from ..errors import Errno
from .device import BusType, Device, Driver, DriverCore, Uevent
from .vfs import Attr, Node, StaticDir, Symlink, Vfs
from .weak import WeakTable

__all__ = [
    "BUS_ATTRS",
    "DEVICE_ATTRS",
    "DRIVER_ATTRS",
    "KOBJECT_ACTIONS",
    "ChildProvider",
    "SysAttr",
    "Sysfs",
    "attr_group",
    "device_create_file",
    "device_path",
    "device_remove_file",
    "driver_create_file",
    "driver_remove_file",
    "install_sysfs",
    "kernfs_link",
    "kstrtobool",
    "ro",
    "scan_int",
    "store_filtered_uevent",
    "store_uevent",
    "sysfs_link",
    "sysfs_of",
    "uevent_text",
]

T = TypeVar("T")
D = TypeVar("D", bound=Device)

KOBJECT_ACTIONS: Final = frozenset({"add", "remove", "change", "move", "online", "offline",
                                    "bind", "unbind"})
"""kobject_actions[]: the actions a write to a `uevent` file may name."""


# -- parsing writes (lib/kstrtox.c, lib/vsprintf.c, lib/string.c) -------------------------------


def kstrtobool(data: bytes) -> bool | None:
    """kstrtobool(): y/Y/t/T/1 → True, n/N/f/F/0 → False, on/off; anything else None.
    Context: atomic."""
    if not data:
        return None
    first = chr(data[0])
    if first in "yYtT1":
        return True
    if first in "nNfF0":
        return False
    if first in "oO" and len(data) > 1:
        second = chr(data[1])
        if second in "nN":
            return True
        if second in "fF":
            return False
    return None


def scan_int(data: bytes) -> int | None:
    """sscanf(buf, "%d"): leading white space, an optional sign, decimal digits; None when
    there are no digits.  Context: atomic."""
    text = data.decode("latin-1").lstrip(" \t\n\v\f\r")
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    digits = ""
    for char in text:
        if not char.isdigit() or not char.isascii():
            break
        digits += char
    return sign * int(digits) if digits else None


def _written_name(data: bytes) -> str:
    """The device name written to bind/unbind/drivers_probe, compared as sysfs_streq does
    (one trailing newline ignored)."""
    text = data.decode("utf-8", errors="surrogateescape")
    return text[:-1] if text.endswith("\n") else text


def _action(data: bytes) -> str | None:
    """The kobject action a write to a `uevent` file names (kobject_action_type), or None."""
    words = data.decode("utf-8", errors="replace").split()
    return words[0] if words and words[0] in KOBJECT_ACTIONS else None


# -- paths and links (fs/kernfs/symlink.c) --------------------------------------------------------


def device_path(dev: Device) -> str:
    """The absolute sysfs directory of a device (/sys/devices/...).  Context: atomic."""
    return "/sys" + dev.sysfs_path()


def kernfs_link(link_dir: str, target: str) -> str:
    """The relative target sysfs gives a symlink in directory `link_dir` pointing at
    `target` (both absolute /sys paths), as kernfs_get_target_path() computes it: up from
    the link's directory until reaching an ancestor of the target's parent, then down.
    Context: atomic."""
    base = [p for p in link_dir.split("/") if p][1:]      # below /sys
    dest = [p for p in target.split("/") if p][1:]
    up = 0
    while base and dest[:-1][:len(base)] != base:
        base = base[:-1]
        up += 1
    return "../" * up + "/".join(dest[len(base):])


def sysfs_link(link_dir: str, target: str) -> Symlink:
    """sysfs_create_link(): a symlink in `link_dir` to `target` (absolute /sys paths).
    Context: atomic."""
    return Symlink(kernfs_link(link_dir, target))


# -- attribute tables (fs/sysfs/group.c, include/linux/device.h DEVICE_ATTR_*) --------------------

Show = Callable[[T], str | bytes]
Store = Callable[[T, bytes], Awaitable[int]]


@dataclass(frozen=True)
class SysAttr(Generic[T]):
    """One sysfs attribute: `show` formats it from the object (text with its newline, or
    bytes for a binary attribute), `store` handles a write (may sleep; bytes consumed or
    -errno), `visible` says whether the file exists for that object (is_visible)."""

    name: str
    show: Show[T] | None
    store: Store[T] | None = None
    mode: int = 0o444
    visible: Callable[[T], bool] | None = None
    binary: bool = False


def ro(name: str, show: Show[T], visible: Callable[[T], bool] | None = None) -> SysAttr[T]:
    """A read-only attribute (DEVICE_ATTR_RO): mode 0444.  Context: atomic."""
    return SysAttr(name, show, visible=visible)


def attr_group(obj: T, table: Iterable[SysAttr[T]]) -> dict[str, Node]:
    """The files of `table` for `obj` (sysfs_create_group): each visible row becomes an
    `Attr` whose show and store are bound to `obj`.  Context: atomic."""
    entries: dict[str, Node] = {}
    for attr in table:
        if attr.visible is not None and not attr.visible(obj):
            continue
        show = None if attr.show is None else _bind_show(attr.show, obj)
        store = None if attr.store is None else _bind_store(attr.store, obj)
        entries[attr.name] = Attr(show, store, attr.mode, attr.binary)
    return entries


def _bind_show(show: Show[T], obj: T) -> Callable[[], str | bytes]:
    return lambda: show(obj)


def _bind_store(store: Store[T], obj: T) -> Callable[[bytes], Awaitable[int]]:
    return lambda data: store(obj, data)


# -- a device's files (drivers/base/core.c) ------------------------------------------------------


def uevent_text(dev: Device) -> str:
    """What a device's `uevent` file shows (uevent_show → dev_uevent): the environment
    without ACTION/DEVPATH/SUBSYSTEM; empty for a device on no bus (ports, endpoints),
    which dev_uevent_filter drops.  Context: atomic."""
    if dev.bus is None:
        return ""
    env = [*dev.uevent_env(), *dev.bus.uevent(dev)]
    return "".join(f"{key}={value}\n" for key, value in env)


async def store_uevent(dev: Device, data: bytes) -> int:
    """uevent_store() → kobject_synth_uevent(): re-announce the device with the action
    written ("add" is what `udevadm trigger` writes); -EINVAL for an unknown action; a
    device on no bus is filtered (nothing announced).  Context: may sleep."""
    action = _action(data)
    if action is None:
        return -Errno.EINVAL
    if dev.bus is not None and dev.registered:
        dev.bus.core.uevent(dev, action)
    return len(data)


async def store_filtered_uevent(obj: object, data: bytes) -> int:
    """uevent_store() of a kobject that dev_uevent_filter drops (a port, an endpoint):
    the action is checked, nothing is announced.  Context: may sleep."""
    return len(data) if _action(data) is not None else -Errno.EINVAL


DEVICE_ATTRS: Final[tuple[SysAttr[Device], ...]] = (
    SysAttr("uevent", uevent_text, store_uevent, 0o644),
)
"""Files of every device directory that no subsystem builds itself (core.c)."""


#: The files drivers added to devices' directories (device_create_file), by device.
_CREATED_FILES: weakref.WeakKeyDictionary[Device, dict[str, SysAttr[Any]]] = \
    weakref.WeakKeyDictionary()


def device_create_file(dev: Device, attr: SysAttr[Any]) -> int:
    """device_create_file(): add `attr` to `dev`'s directory, shown and stored with `dev`
    as its object (a driver's files on the device it is bound to, such as cdc-acm's
    bmCapabilities on its interface), until `device_remove_file`.  0, or -EEXIST when
    the device already has a file of that name from here.  Context: atomic."""
    files = _CREATED_FILES.setdefault(dev, {})
    if attr.name in files:
        return -Errno.EEXIST
    files[attr.name] = attr
    return 0


def device_remove_file(dev: Device, attr: SysAttr[Any]) -> None:
    """device_remove_file(): the file `device_create_file` added goes (nothing happens
    when it is not there).  Context: atomic."""
    files = _CREATED_FILES.get(dev)
    if files is not None and files.get(attr.name) is attr:
        del files[attr.name]


#: The files drivers added to their own directories (driver_create_file), by driver.
_DRIVER_CREATED_FILES: weakref.WeakKeyDictionary[Driver, dict[str, SysAttr[Any]]] = \
    weakref.WeakKeyDictionary()


def driver_create_file(drv: Driver, attr: SysAttr[Any]) -> int:
    """driver_create_file(): add `attr` to the directory of `drv` (/sys/bus/<bus>/drivers/
    <name>), shown and stored with `drv` as its object (usbip-host's match_busid), until
    `driver_remove_file`.  0, or -EEXIST when the driver already has a file of that name
    from here.  Context: atomic."""
    files = _DRIVER_CREATED_FILES.setdefault(drv, {})
    if attr.name in files:
        return -Errno.EEXIST
    files[attr.name] = attr
    return 0


def driver_remove_file(drv: Driver, attr: SysAttr[Any]) -> None:
    """driver_remove_file(): the file `driver_create_file` added goes (nothing happens when
    it is not there).  Context: atomic."""
    files = _DRIVER_CREATED_FILES.get(drv)
    if files is not None and files.get(attr.name) is attr:
        del files[attr.name]


# -- bus and driver files (drivers/base/bus.c) ---------------------------------------------------


def _synth(core: DriverCore, devpath: str, data: bytes) -> int:
    """kobject_synth_uevent() for a kobject that is not a device (a bus, a driver)."""
    action = _action(data)
    if action is None:
        return -Errno.EINVAL
    event = Uevent(action, devpath)
    for listener in tuple(core.listeners):
        listener(event)
    return len(data)


async def _store_bus_uevent(bus: BusType, data: bytes) -> int:
    return _synth(bus.core, f"/bus/{bus.name}", data)


async def _store_drivers_autoprobe(bus: BusType, data: bytes) -> int:
    """drivers_autoprobe_store(): "0…" switches autoprobing off, anything else on."""
    bus.drivers_autoprobe = not data.startswith(b"0")
    return len(data)


async def _store_drivers_probe(bus: BusType, data: bytes) -> int:
    """drivers_probe_store(): -ENODEV for an unknown device; an unbound one is offered
    to the bus's drivers (device_attach)."""
    dev = bus.find_device(_written_name(data))
    if dev is None:
        return -Errno.ENODEV
    if dev.driver is None:
        await bus.core.device_attach(dev)
    return len(data)


BUS_ATTRS: Final[tuple[SysAttr[BusType], ...]] = (
    SysAttr("drivers_autoprobe", lambda bus: f"{int(bus.drivers_autoprobe)}\n",
            _store_drivers_autoprobe, 0o644),
    SysAttr("drivers_probe", None, _store_drivers_probe, 0o200),
    SysAttr("uevent", None, _store_bus_uevent, 0o200),
)
"""Files of /sys/bus/<bus> besides devices/ and drivers/ (bus_attrs, bus.c)."""


async def _store_driver_uevent(drv: Driver, data: bytes) -> int:
    bus = drv.bus
    if bus is None:
        return -Errno.ENODEV
    return _synth(bus.core, f"/bus/{bus.name}/drivers/{drv.name}", data)


async def _store_bind(drv: Driver, data: bytes) -> int:
    """bind_store(): -ENODEV unless the named device exists and the driver matches it,
    -EBUSY when it is bound, a failed probe's -errno (-EAGAIN for a deferral)."""
    bus = drv.bus
    dev = bus.find_device(_written_name(data)) if bus is not None else None
    if dev is None or bus is None or not bus.match(dev, drv):
        return -Errno.ENODEV
    result = await bus.core.bind(dev, drv)
    if result == -Errno.EPROBE_DEFER:
        return -Errno.EAGAIN
    return result if result < 0 else len(data)


async def _store_unbind(drv: Driver, data: bytes) -> int:
    """unbind_store(): -ENODEV unless the named device is bound to this driver."""
    bus = drv.bus
    dev = bus.find_device(_written_name(data)) if bus is not None else None
    if dev is None or bus is None or dev.driver is not drv:
        return -Errno.ENODEV
    await bus.core.device_release_driver(dev)
    return len(data)


def _has_bind_files(drv: Driver) -> bool:
    """add_bind_files(): bind and unbind exist unless the driver suppresses them."""
    return not drv.suppress_bind_attrs


DRIVER_ATTRS: Final[tuple[SysAttr[Driver], ...]] = (
    SysAttr("uevent", None, _store_driver_uevent, 0o200),
    SysAttr("bind", None, _store_bind, 0o200, _has_bind_files),
    SysAttr("unbind", None, _store_unbind, 0o200, _has_bind_files),
)
"""Files of every driver's directory (driver_attr_uevent, add_bind_files, bus.c)."""


# -- the tree ------------------------------------------------------------------------------------

ChildProvider = Callable[[Device], Mapping[str, Node]]
"""Adds entries to a device's directory (a class device's `<class>/<name>` …)."""
DriverFiles = Callable[[Driver], Mapping[str, Node]]
"""Adds a bus's own files to each of its drivers' directories (USB's new_id)."""


class Sysfs:
    """The driver core's part of one machine's sysfs.  Context: directory listings and
    reads are atomic (computed from live objects); stores may sleep."""

    def __init__(self, driver_core: DriverCore) -> None:
        self.driver_core = driver_core
        #: Functions adding entries to a device's directory (class devices, tty ports …).
        self.child_providers: list[ChildProvider] = []
        self._device_dirs: dict[type, Callable[[Any], Mapping[str, Node]]] = {}
        self._driver_files: dict[str, DriverFiles] = {}

    # -- what subsystems plug in -------------------------------------------------------------

    def register_device_dir(self, cls: type[D],
                            entries: Callable[[D], Mapping[str, Node]]) -> None:
        """Let `entries(dev)` build the directory of every device of type `cls` (and of
        its subclasses without their own) instead of the generic one; it should include
        `common(dev, directory)`.  Context: atomic."""
        self._device_dirs[cls] = entries

    def register_driver_files(self, bus: str, files: DriverFiles) -> None:
        """Add `files(drv)` to the directory of every driver of the bus named `bus`
        (bus_type drv_groups, usb_create_newid_files).  Context: atomic."""
        self._driver_files[bus] = files

    # -- device directories (core.c) ---------------------------------------------------------

    def device_dir(self, dev: Device) -> StaticDir:
        """The directory of `dev`, computed each time it is listed.  Context: atomic."""
        return StaticDir(compute=lambda: self.device_entries(dev))

    def device_entries(self, dev: Device) -> Mapping[str, Node]:
        """The entries of `dev`'s directory: its subsystem's (`register_device_dir`), else
        the generic files, links and children.  Context: atomic."""
        for cls in type(dev).__mro__:
            entries = self._device_dirs.get(cls)
            if entries is not None:
                return entries(dev)
        found = attr_group(dev, DEVICE_ATTRS)
        found.update(self.common(dev, device_path(dev)))
        return found

    def common(self, dev: Device, directory: str) -> dict[str, Node]:
        """What every device directory at `directory` holds: the `driver` link
        (driver_sysfs_add) and the `subsystem` link (bus_add_device) of a device on a bus,
        the directories of the device's children on any bus, the entries of
        `child_providers` and the files of `device_create_file`.  Context: atomic."""
        entries: dict[str, Node] = {}
        drv = dev.driver
        if drv is not None and drv.bus is not None and dev.bus is not None:
            entries["driver"] = sysfs_link(directory,
                                           f"/sys/bus/{drv.bus.name}/drivers/{drv.name}")
        if dev.bus is not None:
            entries["subsystem"] = sysfs_link(directory, f"/sys/bus/{dev.bus.name}")
        for child in self.children(dev):
            entries[child.name] = self.device_dir(child)
        for provider in self.child_providers:
            entries.update(provider(dev))
        entries.update(attr_group(dev, _CREATED_FILES.get(dev, {}).values()))
        return entries

    def children(self, parent: Device | None) -> list[Device]:
        """The registered devices of every bus whose parent is `parent` (None: the
        devices directly in /sys/devices).  Context: atomic."""
        return [dev for bus in self.driver_core.buses.values() for dev in bus.devices
                if dev.parent is parent and dev.registered
                and (parent is not None or posixpath.dirname(dev.sysfs_path()) == "/devices")]

    def _devices_root(self) -> dict[str, Node]:
        return {dev.name: self.device_dir(dev) for dev in self.children(None)}

    # -- /sys/bus (bus.c) ----------------------------------------------------------------------

    def _buses(self) -> dict[str, Node]:
        return {name: StaticDir(compute=functools.partial(self._bus_entries, bus))
                for name, bus in self.driver_core.buses.items()}

    def _bus_entries(self, bus: BusType) -> dict[str, Node]:
        entries = attr_group(bus, BUS_ATTRS)
        entries["devices"] = StaticDir(compute=lambda: self._bus_devices(bus))
        entries["drivers"] = StaticDir(compute=lambda: self._bus_drivers(bus))
        return entries

    def _bus_devices(self, bus: BusType) -> dict[str, Node]:
        directory = f"/sys/bus/{bus.name}/devices"
        return {dev.name: sysfs_link(directory, device_path(dev))
                for dev in bus.devices if dev.registered}

    def _bus_drivers(self, bus: BusType) -> dict[str, Node]:
        return {drv.name: StaticDir(compute=functools.partial(self._driver_entries, bus, drv))
                for drv in bus.drivers}

    def _driver_entries(self, bus: BusType, drv: Driver) -> dict[str, Node]:
        """A driver's directory: uevent, bind/unbind (unless suppress_bind_attrs), the
        bus's own files, the driver's own (`driver_create_file`), the module link, and a
        link per bound device."""
        directory = f"/sys/bus/{bus.name}/drivers/{drv.name}"
        entries = attr_group(drv, DRIVER_ATTRS)
        files = self._driver_files.get(bus.name)
        if files is not None:
            entries.update(files(drv))
        entries.update(attr_group(drv, _DRIVER_CREATED_FILES.get(drv, {}).values()))
        owner_name = getattr(drv.owner, "name", None)
        if isinstance(owner_name, str) and owner_name:
            entries["module"] = sysfs_link(directory, f"/sys/module/{owner_name}")
        for dev in drv.bound_devices():
            if dev.registered:
                entries[dev.name] = sysfs_link(directory, device_path(dev))
        return entries

    def mount(self, vfs: Vfs) -> None:
        """Attach /sys/bus and /sys/devices to `vfs`, keeping what is mounted below them.
        Context: atomic."""
        _mount_computed(vfs, "/sys/bus", self._buses)
        _mount_computed(vfs, "/sys/devices", self._devices_root)


def _mount_computed(vfs: Vfs, path: str, compute: Callable[[], Mapping[str, Node]]) -> None:
    """Mount a computed directory at `path`; entries mounted below it stay."""
    try:
        _, node = vfs.resolve(path)
    except OSError:
        node = None
    kept = node.children if isinstance(node, StaticDir) else {}
    vfs.mount(path, StaticDir(kept, compute))


# -- installation --------------------------------------------------------------------------------

#: Weak both ways (`WeakTable`): a closed machine goes, though each value refers to
#: its key.
_INSTALLED: WeakTable[Vfs, Sysfs] = WeakTable()


def sysfs_of(driver_core: DriverCore) -> Sysfs | None:
    """The sysfs showing `driver_core`'s devices (installed with `install_sysfs`), or None
    when no tree shows them.  Context: atomic."""
    return next((s for s in _INSTALLED.values() if s.driver_core is driver_core), None)


def install_sysfs(vfs: Vfs, driver_core: DriverCore) -> Sysfs:
    """Mount the driver core's sysfs (/sys/bus, /sys/devices) into `vfs`, or return the one
    already mounted there.  Raises ValueError when `vfs` shows another driver core's.
    Context: atomic."""
    sysfs = _INSTALLED.get(vfs)
    if sysfs is None:
        sysfs = _INSTALLED[vfs] = Sysfs(driver_core)
        sysfs.mount(vfs)
    elif sysfs.driver_core is not driver_core:
        raise ValueError("this vfs already shows another driver core's sysfs")
    return sysfs
