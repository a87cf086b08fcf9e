"""USB major 180 and the usbmisc class — counterpart of drivers/usb/core/file.c (with
usb_devio_init()'s major-189 region of devio.c and usb_find_interface() of usb.c).

Drivers that want a /dev node without a subsystem of their own (the pen driver of the
article, usb-skeleton, usblp, legousbtower …) call `usb_register_dev(intf, class_driver)`
from probe: usbcore takes the first free minor of major 180 from the class driver's
`minor_base` up (0 with CONFIG_USB_DYNAMIC_MINORS), names the device with the class
driver's printf-style name and the minor's offset from minor_base (`"usb/pen%d"` →
`pen0`: the text after the last '/'), and creates it in the usbmisc class — so
/sys/class/usbmisc/pen0 (dev = 180:0) and /dev/pen0 appear, or /dev/usb/lp0 when the class
driver's devnode hook says so.  An open of the node reaches usb_open(), which switches the
file to the class driver's file operations.  `usb_deregister_dev` in disconnect undoes it
all.  The rules and return codes are file.c's: -EINVAL without fops, -EADDRINUSE when the
interface already has a minor, -EXFULL when no minor is free.

`UsbFiles` is that state for one machine; building it registers the "usb" chrdev (180,
256 minors), the usbmisc class, and the "usb_device" region (189, 128 minors per bus) as
usb_init() does.  The /dev/bus/usb/BBB/DDD nodes themselves come from devtmpfs, from each
usb_device's uevent (MAJOR=189, MINOR, DEVNAME=bus/usb/BBB/DDD); behind them are usbfs's
file operations (devio.py's usbdev_file_operations), mapped here as usb_devio_init() does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..errors import Errno
from ..kernel.char_dev import Cdev, CharDevices
from ..kernel.devclass import ClassDevice, DeviceClass, DeviceClasses
from ..kernel.fs import (
    File,
    FileOperations,
    Inode,
    fops_get,
    iminor,
    mkdev,
    noop_llseek,
    replace_fops,
)
from ..kernel.weak import WeakTable
from .devio import usbdev_file_operations
from .usb import USB_DEVICE_MAJOR, UsbInterface
from .usbcore import USB_MAXBUS

if TYPE_CHECKING:
    from .driver import UsbDriver
    from .usbcore import UsbCore

USB_MAJOR: Final = 180
MAX_USB_MINORS: Final = 256
#: Minors of major 189: 128 device numbers for each of the 64 possible buses.
USB_DEVICE_MAX: Final = USB_MAXBUS * 128
_NAME_SIZE: Final = 20  # char name[20] in usb_register_dev

UsbDevnode = Callable[[ClassDevice], "str | None"]


@dataclass
class UsbClassDriver:
    """struct usb_class_driver: the node name format (`"usb/pen%d"`), the file operations
    behind the node, the first minor to try, and an optional devnode hook returning the
    path below /dev (e.g. `lambda dev: f"usb/{dev.name}"`)."""

    name: str = ""
    fops: FileOperations | None = None
    minor_base: int = 0
    devnode: UsbDevnode | None = None


def _snprintf(fmt: str, value: int) -> str:
    """snprintf(buf, 20, fmt, value) for a printf-style node name: at most 19 characters;
    a format without a conversion is printed as is."""
    try:
        text = fmt % value
    except (TypeError, ValueError):
        try:
            text = fmt % ()
        except (TypeError, ValueError):
            text = fmt
    return text[:_NAME_SIZE - 1]


def _kbasename(path: str) -> str:
    """kbasename(): the text after the last '/'."""
    return path.rpartition("/")[2]


#: Weak both ways (`WeakTable`): a closed machine goes, though each value refers to
#: its key.
_by_core: WeakTable[UsbCore, UsbFiles] = WeakTable()


class UsbFiles:
    """usbcore's char-device state of one machine: which minor of major 180 holds which
    file operations, and the usbmisc class.  Context: construction is atomic;
    `register_dev` and `deregister_dev` may sleep."""

    def __init__(self, core: UsbCore, chrdev: CharDevices, classes: DeviceClasses, *,
                 dynamic_minors: bool = False) -> None:
        self.core = core
        self.chrdev = chrdev
        self.classes = classes
        #: CONFIG_USB_DYNAMIC_MINORS: every scan starts at minor 0.
        self.dynamic_minors = dynamic_minors
        self.minors: list[FileOperations | None] = [None] * MAX_USB_MINORS
        self.usbmisc = DeviceClass("usbmisc", devnode=self._usb_devnode)
        # usb_init(): usb_major_init, class_register(&usbmisc_class), usb_devio_init
        chrdev.register_chrdev(USB_MAJOR, "usb",
                               FileOperations(open=self._usb_open, llseek=noop_llseek))
        classes.class_register(self.usbmisc)
        chrdev.register_chrdev_region(mkdev(USB_DEVICE_MAJOR, 0), USB_DEVICE_MAX,
                                      "usb_device")
        chrdev.cdev_add(Cdev(usbdev_file_operations(core), None, "usb_device"),
                        mkdev(USB_DEVICE_MAJOR, 0), USB_DEVICE_MAX)
        _by_core[core] = self

    def _usb_devnode(self, dev: ClassDevice) -> str | None:
        """usb_devnode(): the class driver's devnode hook, if it has one."""
        drv = dev.driver_data
        if isinstance(drv, UsbClassDriver) and drv.devnode is not None:
            return drv.devnode(dev)
        return None

    async def _usb_open(self, inode: Inode, file: File) -> int:
        """usb_open(): switch the file to the operations registered for its minor and
        call their open; -ENODEV when the minor is free or the operations have no open
        ("NULL ->open() as 'no device'")."""
        fops = fops_get(self.minors[iminor(inode)])
        if fops is None:
            return -Errno.ENODEV
        replace_fops(file, fops)
        if fops.open is None:
            return -Errno.ENODEV
        return await self.chrdev.call_op(file, "open", fops.open, inode, file)

    def class_device(self, intf: UsbInterface) -> ClassDevice | None:
        """The usbmisc device of an interface that holds a minor, or None.
        Context: atomic."""
        if intf.minor < 0:
            return None
        return self.classes.find_device(self.usbmisc, mkdev(USB_MAJOR, intf.minor))

    async def register_dev(self, intf: UsbInterface, class_driver: UsbClassDriver) -> int:
        """usb_register_dev(): 0, or -EINVAL (no fops), -EADDRINUSE (the interface has a
        minor), -EXFULL (no free minor from minor_base up), or the class device's error
        (-EEXIST for a name taken).  Raises ValueError for a negative minor_base.
        Context: may sleep; call it from probe."""
        minor_base = 0 if self.dynamic_minors else class_driver.minor_base
        if minor_base < 0:
            raise ValueError(f"usb_class_driver {class_driver.name!r}: minor_base "
                             f"{minor_base} (0..{MAX_USB_MINORS - 1})")
        if class_driver.fops is None:
            return -Errno.EINVAL
        if intf.minor >= 0:
            return -Errno.EADDRINUSE
        log = self.core.log
        log.dev_dbg(intf, f"looking for a minor, starting at {minor_base}")
        minor = next((m for m in range(minor_base, MAX_USB_MINORS) if self.minors[m] is None),
                     None)
        if minor is None:
            return -Errno.EXFULL
        self.minors[minor] = class_driver.fops
        intf.minor = minor
        name = _kbasename(_snprintf(class_driver.name, minor - minor_base))
        try:
            await self.classes.device_create(self.usbmisc, intf, mkdev(USB_MAJOR, minor),
                                             class_driver, name)
        except OSError as exc:
            self.minors[minor] = None
            intf.minor = -1
            return -(exc.errno or Errno.EINVAL)
        return 0

    async def deregister_dev(self, intf: UsbInterface, class_driver: UsbClassDriver) -> None:
        """usb_deregister_dev(): remove the class device (and so the node; files still
        open on it get -ENODEV from now on), free the minor.  Nothing when the interface
        has none.  Context: may sleep; call it from disconnect."""
        if intf.minor == -1:
            return
        self.core.log.dev_dbg(intf, f"removing {intf.minor} minor")
        await self.classes.device_destroy(self.usbmisc, mkdev(USB_MAJOR, intf.minor))
        if 0 <= intf.minor < MAX_USB_MINORS:
            self.minors[intf.minor] = None
        intf.minor = -1


def usb_files_of(core: UsbCore) -> UsbFiles:
    """The char-device state of the machine whose usbcore is `core`.  Raises RuntimeError
    when that machine was built without one.  Context: atomic."""
    files = _by_core.get(core)
    if files is None:
        raise RuntimeError("this machine has no char-device layer (build it with System)")
    return files


async def usb_register_dev(intf: UsbInterface, class_driver: UsbClassDriver) -> int:
    """usb_register_dev(intf, &class_driver): a minor of major 180 and its node for the
    interface; 0 or a negative errno (see `UsbFiles.register_dev`).
    Context: may sleep; call it from probe."""
    return await usb_files_of(intf.usb_dev.usb_bus.core).register_dev(intf, class_driver)


async def usb_deregister_dev(intf: UsbInterface, class_driver: UsbClassDriver) -> None:
    """usb_deregister_dev(intf, &class_driver): give the minor and the node back.
    Context: may sleep; call it from disconnect."""
    await usb_files_of(intf.usb_dev.usb_bus.core).deregister_dev(intf, class_driver)


def usb_find_interface(drv: UsbDriver, minor: int) -> UsbInterface | None:
    """usb_find_interface(): the interface bound to `drv` that holds `minor` (what an
    open routine uses to find its device), or None.  Context: atomic."""
    bus = drv.bus
    if bus is None:
        return None
    return next((dev for dev in bus.devices if isinstance(dev, UsbInterface)
                 and dev.driver is drv and dev.minor == minor), None)
