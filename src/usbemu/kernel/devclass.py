"""Device classes, class devices and device nodes — counterpart of drivers/base/class.c,
of device_create()/device_destroy() in drivers/base/core.c, and of drivers/base/devtmpfs.c.

`DeviceClasses` holds one machine's classes (`/sys/class/<class>`) and the devices made
with `device_create`: a `ClassDevice` is a struct device with a device number, a parent
(the interface or device it serves) and no bus.  Adding one emits its `add` uevent with
MAJOR, MINOR and DEVNAME; removing it, its `remove` uevent.  `Devtmpfs` listens to those
uevents — of class devices and of any other device that carries a device number, such as
usb_device's /dev/bus/usb/BBB/DDD — and keeps the machine's /dev in step: the node appears
when the device is added and vanishes (with the directories it needed, as devtmpfs's
delete_path does) when it is removed.  A node name already taken stays with its first
owner, and a removal deletes a node only if it still has the removed device's number.
The devices of the block class — whose uevents say DEVTYPE=disk or DEVTYPE=partition —
get block device nodes (is_blockdev), every other device a character device node.

sysfs: `/sys/class/<class>/<name>` is a symlink to the device's directory below
/sys/devices (`<parent>/<class>/<name>`, or /sys/devices/virtual/<class>/<name> for a
device without a parent) when the machine's sysfs tree shows that directory, else the
directory itself; it holds `dev` ("%u:%u\\n"), `uevent` (MAJOR, MINOR,
DEVNAME), and the `device` and `subsystem` links, with relative targets computed as kernfs
computes them (`kernfs_link`, kernel/sysfs.py, whose attribute tables it uses too); a class
device's directory below its parent's comes from `sysfs_children`, one of the driver core's
child providers.  Not modelled: the `power/` directory, /sys/dev/char,
DEVMODE/uid/gid from devnode callbacks (every node is 0600, owned by root), synthetic
uevents other than "change".
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Final

from ..errors import Errno, strerror
from .device import Device, DriverCore, Uevent
from .fs import dev_major, dev_minor, format_dev
from .printk import Level
from .sysfs import SysAttr, attr_group, device_path, kernfs_link, ro, sysfs_link
from .vfs import DevNode, Node, StaticDir, Symlink, Vfs

Devnode = Callable[["ClassDevice"], "str | None"]


class DeviceClass:
    """struct class: a name under /sys/class and an optional `devnode` hook naming the
    /dev node of its devices (None: the device's own name)."""

    def __init__(self, name: str, *, devnode: Devnode | None = None) -> None:
        self.name = name
        self.devnode = devnode
        self.devices: list[ClassDevice] = []

    def __repr__(self) -> str:
        return f"<DeviceClass {self.name} devices={len(self.devices)}>"


class ClassDevice(Device):
    """A device of a class with a device number, as device_create() makes it; its
    `driver_data` is the drvdata passed to device_create."""

    def __init__(self, cls: DeviceClass, parent: Device | None, devt: int, drvdata: object,
                 name: str) -> None:
        super().__init__(name, parent, None)
        self.cls = cls
        self.devt = devt
        self.driver_data = drvdata
        self._classes: DeviceClasses | None = None

    def __repr__(self) -> str:
        return f"<ClassDevice {self.cls.name}/{self.name} {format_dev(self.devt)}>"

    def sysfs_path(self) -> str:
        """`<parent>/<class>/<name>`, `<parent>/<name>` below a parent that is itself a
        class device (input0/event0), or /devices/virtual/<class>/<name> without a parent
        (get_device_parent)."""
        if self.parent is None:
            return f"/devices/virtual/{self.cls.name}/{self.name}"
        if isinstance(self.parent, ClassDevice):
            return f"{self.parent.sysfs_path()}/{self.name}"
        return f"{self.parent.sysfs_path()}/{self.cls.name}/{self.name}"

    def driver_string(self) -> str:
        """dev_driver_string(): driver, else bus, else class name."""
        return super().driver_string() or self.cls.name

    @property
    def devnode_name(self) -> str:
        """The node's path below /dev: the class's devnode hook, else the device name."""
        name = self.cls.devnode(self) if self.cls.devnode is not None else None
        return name or self.name

    def uevent_env(self) -> list[tuple[str, str]]:
        return [("MAJOR", str(dev_major(self.devt))), ("MINOR", str(dev_minor(self.devt))),
                ("DEVNAME", self.devnode_name), *super().uevent_env()]

    def sysfs_dir(self, location: str) -> StaticDir:
        """The device's sysfs directory as seen at `location` (an absolute /sys path): its
        files (`sysfs_files`), the device and subsystem links relative to it, and the
        directories of the class devices whose parent it is.  Context: atomic."""
        children = self.sysfs_files()
        children["subsystem"] = sysfs_link(location, f"/sys/class/{self.cls.name}")
        if self.parent is not None:
            children["device"] = sysfs_link(location, device_path(self.parent))
        if self._classes is not None:
            for child in self._classes.devices_of(self):
                children[child.name] = child.sysfs_dir(f"{location}/{child.name}")
        return StaticDir(children)

    def sysfs_files(self) -> dict[str, Node]:
        """The files of the device's directory: dev and uevent; a device type with
        attributes of its own returns them instead.  Context: atomic."""
        return attr_group(self, CLASS_DEVICE_ATTRS)

    def _show_uevent(self) -> str:
        """The `uevent` file: MAJOR, MINOR and DEVNAME.  Context: atomic."""
        env = [(k, v) for k, v in self.uevent_env() if k in ("MAJOR", "MINOR", "DEVNAME")]
        return "".join(f"{k}={v}\n" for k, v in env)

    async def _store_uevent(self, data: bytes) -> int:
        """Writing "change" synthesizes a change uevent; other actions are -EINVAL here.
        Context: may sleep."""
        action = data.decode(errors="replace").strip().split(" ")[0]
        if action != "change" or self._classes is None or not self.registered:
            return -Errno.EINVAL
        self._classes.driver_core.uevent(self, "change")
        return len(data)


CLASS_DEVICE_ATTRS: Final[tuple[SysAttr[ClassDevice], ...]] = (
    ro("dev", lambda dev: f"{format_dev(dev.devt)}\n"),
    SysAttr("uevent", ClassDevice._show_uevent, ClassDevice._store_uevent, 0o644),
)
"""Files of a class device's directory besides its links (core.c dev_attr_dev, uevent)."""


class DeviceClasses:
    """The device classes of one machine and their devices (/sys/class).  Context:
    registering classes is atomic; creating and destroying devices may sleep (uevents,
    device locks)."""

    def __init__(self, driver_core: DriverCore, vfs: Vfs) -> None:
        self.driver_core = driver_core
        self.vfs = vfs
        self.classes: dict[str, DeviceClass] = {}
        vfs.mount("/sys/devices/virtual", StaticDir(compute=self._virtual_entries))

    def class_register(self, cls: DeviceClass) -> None:
        """class_register(): /sys/class/<name> appears.  Raises OSError(EEXIST) for a
        name already registered."""
        if cls.name in self.classes:
            raise OSError(Errno.EEXIST, f"{strerror(Errno.EEXIST)}: class {cls.name!r}")
        self.classes[cls.name] = cls
        self.vfs.mount(f"/sys/class/{cls.name}",
                       StaticDir(compute=lambda: self._class_entries(cls)))

    def class_unregister(self, cls: DeviceClass) -> None:
        """class_unregister(): /sys/class/<name> goes (its devices should be gone)."""
        if self.classes.get(cls.name) is not cls:
            return
        del self.classes[cls.name]
        try:
            _, parent = self.vfs.resolve("/sys/class")
        except OSError:
            return
        if isinstance(parent, StaticDir):
            parent.children.pop(cls.name, None)

    def _class_entries(self, cls: DeviceClass) -> Mapping[str, Node]:
        entries: dict[str, Node] = {}
        here = f"/sys/class/{cls.name}"
        for dev in cls.devices:
            real = f"/sys{dev.sysfs_path()}"
            if self._shown(real):
                entries[dev.name] = Symlink(kernfs_link(here, real))
            else:
                entries[dev.name] = dev.sysfs_dir(f"{here}/{dev.name}")
        return entries

    def _virtual_entries(self) -> Mapping[str, Node]:
        """/sys/devices/virtual: <class>/<name> for the class devices without a parent."""
        entries: dict[str, Node] = {}
        for cls in self.classes.values():
            devices: dict[str, Node] = {d.name: d.sysfs_dir(f"/sys{d.sysfs_path()}")
                                        for d in cls.devices if d.parent is None}
            if devices:
                entries[cls.name] = StaticDir(devices)
        return entries

    def _shown(self, path: str) -> bool:
        """Whether the sysfs tree shows `path` as a directory (without looking through
        /sys/class, which would ask us again)."""
        if path.startswith("/sys/class/"):
            return False
        try:
            return self.vfs.stat(path).is_dir
        except (OSError, ValueError):
            return False

    def find_device(self, cls: DeviceClass, devt: int) -> ClassDevice | None:
        return next((d for d in cls.devices if d.devt == devt), None)

    def devices_of(self, parent: Device) -> list[ClassDevice]:
        """The class devices whose parent is `parent` (for its sysfs directory, where
        each appears as `<class>/<name>`)."""
        return [d for c in self.classes.values() for d in c.devices if d.parent is parent]

    def sysfs_children(self, parent: Device) -> Mapping[str, Node]:
        """The entries class devices add to their parent's sysfs directory: one
        directory per class, holding each device's directory (`usbmisc/pen0`)."""
        by_class: dict[str, dict[str, Node]] = {}
        for dev in self.devices_of(parent):
            by_class.setdefault(dev.cls.name, {})[dev.name] = \
                dev.sysfs_dir(f"/sys{dev.sysfs_path()}")
        return {name: StaticDir(children) for name, children in by_class.items()}

    async def device_create(self, cls: DeviceClass, parent: Device | None, devt: int,
                            drvdata: object, name: str) -> ClassDevice:
        """device_create(): register a device `name` of class `cls` with number `devt`
        under `parent`; its uevent makes the /dev node.  Raises OSError: EINVAL for an
        unregistered class or an empty name, EEXIST for a name the class already has
        ("sysfs: cannot create duplicate filename").  Context: may sleep."""
        dev = ClassDevice(cls, parent, devt, drvdata, name)
        await self.device_register(dev)
        return dev

    async def device_register(self, dev: ClassDevice) -> None:
        """device_register() of a class device built by its subsystem (an input device):
        the checks and errors of `device_create`, then the device is added.  Context: may
        sleep."""
        cls, name = dev.cls, dev.name
        if self.classes.get(cls.name) is not cls or not name:
            raise OSError(Errno.EINVAL, f"{strerror(Errno.EINVAL)}: device {name!r} of "
                                        f"class {cls.name!r}")
        if any(d.name == name for d in cls.devices):
            self.driver_core.log.log(Level.ERR, f"sysfs: cannot create duplicate filename "
                                                f"'/class/{cls.name}/{name}'")
            raise OSError(Errno.EEXIST, f"{strerror(Errno.EEXIST)}: /sys/class/{cls.name}/"
                                        f"{name}")
        dev._classes = self
        cls.devices.append(dev)
        await self.driver_core.device_add(dev)

    async def device_unregister(self, dev: ClassDevice) -> None:
        """device_unregister(): the class device goes (its remove uevent deletes its node
        and revokes the files open on it).  Context: may sleep."""
        await self.driver_core.device_del(dev)
        if dev in dev.cls.devices:
            dev.cls.devices.remove(dev)

    async def device_destroy(self, cls: DeviceClass, devt: int) -> None:
        """device_destroy(): unregister the class device with number `devt` (its remove
        uevent deletes the node and revokes the files open on it).  Context: may sleep."""
        dev = self.find_device(cls, devt)
        if dev is not None:
            await self.device_unregister(dev)


#: The DEVTYPEs of the block class's devices (disk_type, part_type): their nodes are
#: block device nodes.
BLOCK_DEVTYPES: Final = frozenset({"disk", "partition"})


class Devtmpfs:
    """/dev, kept by the uevents of devices with a device number (devtmpfs).  Context:
    atomic (a uevent listener)."""

    def __init__(self, vfs: Vfs, driver_core: DriverCore) -> None:
        self.root = StaticDir()
        vfs.mount("/dev", self.root)
        driver_core.listeners.append(self._on_uevent)

    def _on_uevent(self, event: Uevent) -> None:
        major, minor, name = event.get("MAJOR"), event.get("MINOR"), event.get("DEVNAME")
        if major is None or minor is None or not name:
            return
        block = event.get("DEVTYPE") in BLOCK_DEVTYPES
        if event.action == "add":
            self.create_node(name, int(major), int(minor), block=block)
        elif event.action == "remove":
            self.delete_node(name, int(major), int(minor), block=block)

    def _parts(self, name: str) -> list[str]:
        return [p for p in posixpath.normpath("/" + name).split("/") if p]

    def create_node(self, name: str, major: int, minor: int, mode: int = 0o600, *,
                    block: bool = False) -> bool:
        """Make /dev/<name> (c major:minor, or b major:minor when `block`) with the
        directories it needs; False when the name is already taken (the node stays as it
        was)."""
        parts = self._parts(name)
        if not parts:
            return False
        parent = self.root
        for part in parts[:-1]:
            child = parent.children.get(part)
            if child is None:
                child = parent.children[part] = StaticDir()
            if not isinstance(child, StaticDir):
                return False
            parent = child
        if parts[-1] in parent.children:
            return False
        parent.children[parts[-1]] = DevNode(major, minor, mode, block)
        return True

    def delete_node(self, name: str, major: int, minor: int, *, block: bool = False) -> bool:
        """Remove /dev/<name> if it is c major:minor (b major:minor when `block`), then
        the directories it leaves empty; False when there was no such node."""
        parts = self._parts(name)
        chain: list[StaticDir] = [self.root]
        for part in parts[:-1]:
            child = chain[-1].children.get(part)
            if not isinstance(child, StaticDir):
                return False
            chain.append(child)
        node = chain[-1].children.get(parts[-1]) if parts else None
        if not isinstance(node, DevNode) or (node.major, node.minor, node.block) != (
                major, minor, block):
            return False
        del chain[-1].children[parts[-1]]
        for depth in range(len(chain) - 1, 0, -1):
            if chain[depth].children:
                break
            del chain[depth - 1].children[parts[depth - 1]]
        return True
