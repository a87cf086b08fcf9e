"""The kernel's spellings — a porting facade over usbemu's USB core.

A C driver from the Linux sources or from an article ports to Python line by line with these
names: `usb_register`, `usb_bulk_msg`, `usb_sndbulkpipe`, `USB_DEVICE(...)`,
`interface_to_usbdev`, `-ETIMEDOUT`, `printk(KERN_INFO "…")` and so on.  Everything here is
an alias or a small adapter over the Pythonic API (`usbemu.core`); nothing is implemented a
second time.  Where C passes a pointer for a result, the Python function returns it:
`retval, actual_length = await usb_bulk_msg(dev, pipe, buf, len, timeout)`.

Functions that may sleep in the kernel are coroutines here (`await usb_bulk_msg(...)`);
those that are atomic (`usb_submit_urb`, `usb_unlink_urb`) are plain functions, callable from
completion handlers.  `usb_register` and friends act on the machine the calling code runs on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .core import devtable as _devtable
from .core import driver as _driver
from .core import file as _file
from .core import hub as _hub
from .core import message as _message
from .core import urb as _urb
from .core import usb as _usb
from .core.devtable import UsbDeviceId as usb_device_id  # noqa: F401 — for drivers
from .core.driver import UsbDeviceDriver as usb_device_driver
from .core.driver import UsbDriver as usb_driver
from .core.urb import Urb as urb
from .core.urb import UsbAnchor as usb_anchor
from .core.usb import UsbDevice as usb_device
from .core.usb import UsbHostInterface as usb_host_interface
from .core.usb import UsbInterface as usb_interface
from .core.usbcore import current_usbcore
from .errors import Errno
from .kernel import char_dev as _char_dev
from .kernel import fs as _fs
from .kernel import input as _input
from .kernel import input_event_codes as _codes
from .kernel import module as _module
from .kernel import wait as _wait
from .kernel.char_dev import Cdev as cdev
from .kernel.fs import FileOperations as file_operations
from .kernel.printk import Level
from .kernel.wait import WaitQueueHead as wait_queue_head_t
from .spec.ch9 import SetupPacket as _SetupPacket
from .spec.descriptors import EndpointDescriptor as usb_endpoint_descriptor

# -- errno: EPERM … ENOTSUPP as plain ints (C writes -EPIPE) ------------------------------

EPERM = 1
ENOENT = 2
ESRCH = 3
EINTR = 4
EIO = 5
ENXIO = 6
E2BIG = 7
ENOEXEC = 8
EBADF = 9
ECHILD = 10
EAGAIN = 11
ENOMEM = 12
EACCES = 13
EFAULT = 14
EBUSY = 16
EEXIST = 17
EXDEV = 18
ENODEV = 19
ENOTDIR = 20
EISDIR = 21
EINVAL = 22
ENFILE = 23
EMFILE = 24
ENOTTY = 25
EFBIG = 27
ENOSPC = 28
ESPIPE = 29
EROFS = 30
EPIPE = 32
EDOM = 33
ERANGE = 34
ENOSYS = 38
ELOOP = 40
ENOMSG = 42
EIDRM = 43
EBADR = 53
EXFULL = 54
ENODATA = 61
ETIME = 62
ENOSR = 63
ECOMM = 70
EPROTO = 71
EBADMSG = 74
EOVERFLOW = 75
EILSEQ = 84
EMSGSIZE = 90
EPROTONOSUPPORT = 93
EOPNOTSUPP = 95
EADDRINUSE = 98
ENETDOWN = 100
ECONNRESET = 104
ENOBUFS = 105
ENOTCONN = 107
ESHUTDOWN = 108
ETIMEDOUT = 110
ECONNREFUSED = 111
EHOSTUNREACH = 113
EALREADY = 114
EINPROGRESS = 115
EREMOTEIO = 121
ERESTARTSYS = 512
EPROBE_DEFER = 517
ENOTSUPP = 524

# -- printk -----------------------------------------------------------------------------

KERN_SOH: Final = "\001"
KERN_EMERG, KERN_ALERT, KERN_CRIT, KERN_ERR = "\0010", "\0011", "\0012", "\0013"
KERN_WARNING, KERN_NOTICE, KERN_INFO, KERN_DEBUG = "\0014", "\0015", "\0016", "\0017"
KERN_DEFAULT: Final = KERN_WARNING


def printk(fmt: str, *args: object) -> None:
    """printk(KERN_INFO "text %d\\n", value): C `%` formatting, level from the prefix."""
    level = Level.WARNING
    if fmt.startswith(KERN_SOH) and len(fmt) > 1 and fmt[1].isdigit():
        level, fmt = Level(int(fmt[1])), fmt[2:]
    text = fmt % args if args else fmt
    current_usbcore().log.log(level, text.rstrip("\n"))


def pr_info(fmt: str, *args: object) -> None:
    printk(KERN_INFO + fmt, *args)


def pr_err(fmt: str, *args: object) -> None:
    printk(KERN_ERR + fmt, *args)


def _dev_printk(level: Level) -> Callable[..., None]:
    def dev_printk(dev: Any, fmt: str, *args: object) -> None:
        text = fmt % args if args else fmt
        current_usbcore().log.dev(level, dev, text.rstrip("\n"))
    return dev_printk


dev_err, dev_warn, dev_notice = (_dev_printk(Level.ERR), _dev_printk(Level.WARNING),
                                 _dev_printk(Level.NOTICE))
dev_info, dev_dbg = _dev_printk(Level.INFO), _dev_printk(Level.DEBUG)


def err(fmt: str, *args: object) -> None:
    """The old usb.h `err()` macro, `printk(KERN_ERR KBUILD_MODNAME ": " format "\n")`;
    KBUILD_MODNAME is the calling module's name (the last part of its `__name__`)."""
    modname = str(sys._getframe(1).f_globals.get("__name__", "")).rpartition(".")[2]
    printk(KERN_ERR + (f"{modname}: " if modname else "") + fmt, *args)


# -- memory flags are accepted and ignored ------------------------------------------------

GFP_KERNEL, GFP_ATOMIC, GFP_NOIO = 0x0CC0, 0x0820, 0x0C00

# -- id tables ------------------------------------------------------------------------------

USB_DEVICE = _devtable.usb_device
USB_DEVICE_VER = _devtable.usb_device_ver
USB_DEVICE_INTERFACE_CLASS = _devtable.usb_device_interface_class
USB_DEVICE_INTERFACE_PROTOCOL = _devtable.usb_device_interface_protocol
USB_DEVICE_INTERFACE_NUMBER = _devtable.usb_device_interface_number
USB_DEVICE_INFO = _devtable.usb_device_info
USB_INTERFACE_INFO = _devtable.usb_interface_info
USB_DEVICE_AND_INTERFACE_INFO = _devtable.usb_device_and_interface_info
USB_VENDOR_AND_INTERFACE_INFO = _devtable.usb_vendor_and_interface_info
USB_DEVICE_ID_MATCH_VENDOR = 0x1
USB_DEVICE_ID_MATCH_PRODUCT = 0x2
USB_DEVICE_ID_MATCH_DEV_LO = 0x4
USB_DEVICE_ID_MATCH_DEV_HI = 0x8
USB_DEVICE_ID_MATCH_DEV_CLASS = 0x10
USB_DEVICE_ID_MATCH_DEV_SUBCLASS = 0x20
USB_DEVICE_ID_MATCH_DEV_PROTOCOL = 0x40
USB_DEVICE_ID_MATCH_INT_CLASS = 0x80
USB_DEVICE_ID_MATCH_INT_SUBCLASS = 0x100
USB_DEVICE_ID_MATCH_INT_PROTOCOL = 0x200
USB_DEVICE_ID_MATCH_INT_NUMBER = 0x400


# -- modules (include/linux/module.h, moduleparam.h): recorded on the calling module ------------

MODULE_DEVICE_TABLE = _module.module_device_table   # MODULE_DEVICE_TABLE(usb, table) -> table
module_init = _module.module_init                   # module_init(pen_init)
module_exit = _module.module_exit                   # module_exit(pen_exit)
module_param = _module.module_param                 # module_param("debug", "bool", 0o644)
MODULE_PARM_DESC = _module.module_param_desc
MODULE_LICENSE = _module.module_license
MODULE_AUTHOR = _module.module_author
MODULE_DESCRIPTION = _module.module_description
MODULE_VERSION = _module.module_version
MODULE_ALIAS = _module.module_alias
MODULE_INFO = _module.module_info
try_module_get = _module.try_module_get
module_put = _module.module_put

if TYPE_CHECKING:
    #: THIS_MODULE: the module whose code reads it — its top level while it is loaded, its
    #: init or exit — as `kernel.module.this_module()` returns it (None elsewhere), so
    #: `usb_driver(..., owner=THIS_MODULE)` and `file_operations(owner=THIS_MODULE)`
    #: name the module the struct belongs to.
    THIS_MODULE: _module.Module | None
else:
    def __getattr__(name: str) -> object:
        """THIS_MODULE, read where it is used (PEP 562)."""
        if name == "THIS_MODULE":
            return _module.this_module()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- registration and binding ---------------------------------------------------------------


async def usb_register(driver: usb_driver) -> int:
    """usb_register(&driver): 0, or driver_register's -errno (-EBUSY, with "Error: Driver
    '%s' is already registered, aborting...", when a driver of that name exists)."""
    try:
        await _driver.usb_register(current_usbcore(), driver)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    return 0


async def usb_deregister(driver: usb_driver) -> None:
    await _driver.usb_deregister(current_usbcore(), driver)


async def usb_register_driver(driver: usb_driver, owner: _module.Module | None = None,
                              mod_name: str | None = None) -> int:
    """usb_register_driver(&driver, THIS_MODULE, KBUILD_MODNAME), what usb_register()
    expands to: `owner` (when not None) becomes the driver's owner, then as usb_register:
    0, or -errno.  `mod_name` names the module in sysfs, which the owner already does.
    Context: may sleep."""
    if owner is not None:
        driver.owner = owner
    return await usb_register(driver)


usb_deregister_driver = usb_deregister


async def usb_register_device_driver(driver: usb_device_driver, owner: object = None) -> int:
    """usb_register_device_driver(&driver, THIS_MODULE): 0 or -errno (-EBUSY for a name
    already registered)."""
    try:
        await _driver.usb_register_device_driver(current_usbcore(), driver)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    return 0


async def usb_deregister_device_driver(driver: usb_device_driver) -> None:
    await _driver.usb_deregister_device_driver(current_usbcore(), driver)


usb_driver_claim_interface = _driver.usb_driver_claim_interface
usb_driver_release_interface = _driver.usb_driver_release_interface
usb_interface_claimed = _driver.usb_interface_claimed
usb_match_id = _driver.usb_match_id


def interface_to_usbdev(intf: usb_interface) -> usb_device:
    return intf.usb_dev


def usb_get_intfdata(intf: usb_interface) -> Any:
    return intf.driver_data


def usb_set_intfdata(intf: usb_interface, data: Any) -> None:
    intf.driver_data = data


def usb_get_dev(dev: usb_device) -> usb_device:
    """Reference counts are Python's: returns `dev`."""
    return dev


def usb_put_dev(dev: usb_device) -> None:
    """Reference counts are Python's: nothing to release."""


def usb_ifnum_to_if(dev: usb_device, ifnum: int) -> usb_interface | None:
    return dev.interface(ifnum)


def usb_altnum_to_altsetting(intf: usb_interface, altnum: int) -> usb_host_interface | None:
    return intf.altsetting_by_number(altnum)


# -- char devices: usb_register_dev (drivers/usb/core/file.c), fs/char_dev.c, struct file -----

usb_class_driver = _file.UsbClassDriver
file = _fs.File
inode = _fs.Inode
loff_t = _fs.Loff
poll_table = _wait.PollTable

USB_MAJOR = _file.USB_MAJOR
usb_register_dev = _file.usb_register_dev
usb_deregister_dev = _file.usb_deregister_dev
usb_find_interface = _file.usb_find_interface

copy_to_user = _fs.copy_to_user
copy_from_user = _fs.copy_from_user
iminor, imajor = _fs.iminor, _fs.imajor
MKDEV, MAJOR, MINOR = _fs.mkdev, _fs.dev_major, _fs.dev_minor
noop_llseek, no_llseek = _fs.noop_llseek, _fs.no_llseek
default_llseek, fixed_size_llseek = _fs.default_llseek, _fs.fixed_size_llseek
nonseekable_open, stream_open = _fs.nonseekable_open, _fs.stream_open
_IO, _IOR, _IOW, _IOWR = _fs.io, _fs.ior, _fs.iow, _fs.iowr
ENOIOCTLCMD = _fs.ENOIOCTLCMD
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 0o3, 0o0, 0o1, 0o2
O_NONBLOCK, O_APPEND = _fs.O_NONBLOCK, _fs.O_APPEND
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
FMODE_READ, FMODE_WRITE = _fs.FMode.READ, _fs.FMode.WRITE
EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP = 0x1, 0x2, 0x4, 0x8, 0x10
EPOLLRDNORM, EPOLLWRNORM = 0x40, 0x100
POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP = EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP
POLLRDNORM, POLLWRNORM = EPOLLRDNORM, EPOLLWRNORM
poll_wait = _wait.poll_wait


def init_waitqueue_head(wq: wait_queue_head_t | None = None) -> wait_queue_head_t:
    """DECLARE_WAIT_QUEUE_HEAD / init_waitqueue_head: returns the queue."""
    return wait_queue_head_t() if wq is None else wq


def wake_up_interruptible(wq: wait_queue_head_t) -> None:
    wq.wake_up()


wake_up = wake_up_interruptible


async def wait_event_interruptible(wq: wait_queue_head_t, condition: Callable[[], Any]) -> int:
    """wait_event_interruptible(wq, condition): 0 once `condition()` is true (nothing
    interrupts a sleeper here, so never -ERESTARTSYS)."""
    await wq.wait_event(condition)
    return 0


def _chrdevs() -> _char_dev.CharDevices:
    return _file.usb_files_of(current_usbcore()).chrdev


def register_chrdev(major: int, name: str, fops: file_operations) -> int:
    """register_chrdev(major, name, &fops): 256 minors from 0 with a cdev; 0 (or the
    allocated major when `major` is 0) or -errno (-EBUSY, -EINVAL)."""
    try:
        got = _chrdevs().register_chrdev(major, name, fops)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    return 0 if major else got


def unregister_chrdev(major: int, name: str) -> None:
    _chrdevs().unregister_chrdev(major, name)


def register_chrdev_region(first: int, count: int, name: str) -> int:
    """register_chrdev_region(first, count, name): 0 or -errno."""
    try:
        _chrdevs().register_chrdev_region(first, count, name)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    return 0


def alloc_chrdev_region(baseminor: int, count: int, name: str) -> tuple[int, int]:
    """alloc_chrdev_region(&dev, baseminor, count, name): (0, dev) or (-errno, 0)."""
    try:
        return 0, _chrdevs().alloc_chrdev_region(baseminor, count, name)
    except OSError as exc:
        return -(exc.errno or Errno.EIO), 0


def unregister_chrdev_region(first: int, count: int) -> None:
    _chrdevs().unregister_chrdev_region(first, count)


def cdev_alloc() -> cdev:
    return cdev()


def cdev_init(c: cdev, fops: file_operations) -> None:
    c.ops = fops


def cdev_add(c: cdev, dev: int, count: int) -> int:
    _chrdevs().cdev_add(c, dev, count)
    return 0


def cdev_del(c: cdev) -> None:
    _chrdevs().cdev_del(c)


# -- pipes ------------------------------------------------------------------------------------

PIPE_ISOCHRONOUS, PIPE_INTERRUPT = _urb.PIPE_ISOCHRONOUS, _urb.PIPE_INTERRUPT
PIPE_CONTROL, PIPE_BULK = _urb.PIPE_CONTROL, _urb.PIPE_BULK
usb_pipein, usb_pipeout = _urb.usb_pipein, _urb.usb_pipeout
usb_pipedevice, usb_pipeendpoint, usb_pipetype = (_urb.usb_pipedevice, _urb.usb_pipeendpoint,
                                                  _urb.usb_pipetype)


def _pipe(ptype: int, is_in: bool) -> Callable[[usb_device, int], int]:
    def pipe(dev: usb_device, endpoint: int) -> int:
        return _urb.make_pipe(dev, ptype, endpoint, is_in)
    return pipe


usb_sndctrlpipe, usb_rcvctrlpipe = _pipe(PIPE_CONTROL, False), _pipe(PIPE_CONTROL, True)
usb_sndbulkpipe, usb_rcvbulkpipe = _pipe(PIPE_BULK, False), _pipe(PIPE_BULK, True)
usb_sndintpipe, usb_rcvintpipe = _pipe(PIPE_INTERRUPT, False), _pipe(PIPE_INTERRUPT, True)
usb_sndisocpipe, usb_rcvisocpipe = (_pipe(PIPE_ISOCHRONOUS, False),
                                    _pipe(PIPE_ISOCHRONOUS, True))

# -- URBs -------------------------------------------------------------------------------------

URB_SHORT_NOT_OK = 0x1
URB_ISO_ASAP = 0x2
URB_NO_TRANSFER_DMA_MAP = 0x4
URB_ZERO_PACKET = 0x40
URB_NO_INTERRUPT = 0x80
URB_FREE_BUFFER = 0x100
URB_DIR_IN = 0x200


def usb_alloc_urb(iso_packets: int, mem_flags: int = GFP_KERNEL) -> urb:
    return urb(iso_packets)


def usb_free_urb(u: urb | None) -> None:
    """URBs are garbage collected: nothing to free."""


def usb_fill_control_urb(u: urb, dev: usb_device, pipe: int, setup_packet: bytes,
                         transfer_buffer: Any, buffer_length: int,
                         complete_fn: _urb.Complete, context: Any) -> None:
    u.fill_control(dev, pipe, setup_packet, transfer_buffer, buffer_length, complete_fn,
                   context)


def usb_fill_bulk_urb(u: urb, dev: usb_device, pipe: int, transfer_buffer: Any,
                      buffer_length: int, complete_fn: _urb.Complete, context: Any) -> None:
    u.fill_bulk(dev, pipe, transfer_buffer, buffer_length, complete_fn, context)


def usb_fill_int_urb(u: urb, dev: usb_device, pipe: int, transfer_buffer: Any,
                     buffer_length: int, complete_fn: _urb.Complete, context: Any,
                     interval: int) -> None:
    u.fill_int(dev, pipe, transfer_buffer, buffer_length, complete_fn, context, interval)


def usb_submit_urb(u: urb, mem_flags: int = GFP_ATOMIC) -> int:
    return _urb.usb_submit_urb(u)


usb_unlink_urb = _urb.usb_unlink_urb
usb_kill_urb = _urb.usb_kill_urb
usb_poison_urb = _urb.usb_poison_urb
usb_unpoison_urb = _urb.usb_unpoison_urb
usb_block_urb = _urb.usb_block_urb


def init_usb_anchor(anchor: usb_anchor | None = None) -> usb_anchor:
    return usb_anchor() if anchor is None else anchor


def usb_anchor_urb(u: urb, anchor: usb_anchor) -> None:
    anchor.anchor(u)


def usb_unanchor_urb(u: urb) -> None:
    if u.anchor is not None:
        u.anchor.unanchor(u)


async def usb_kill_anchored_urbs(anchor: usb_anchor) -> None:
    await anchor.kill_all()


def usb_unlink_anchored_urbs(anchor: usb_anchor) -> None:
    anchor.unlink_all()


async def usb_wait_anchor_empty_timeout(anchor: usb_anchor, timeout: int) -> int:
    return 1 if await anchor.wait_empty(timeout) else 0


# -- synchronous messages ---------------------------------------------------------------------

USB_CTRL_GET_TIMEOUT = _message.USB_CTRL_GET_TIMEOUT
USB_CTRL_SET_TIMEOUT = _message.USB_CTRL_SET_TIMEOUT
usb_control_msg = _message.usb_control_msg
usb_bulk_msg = _message.usb_bulk_msg
usb_interrupt_msg = _message.usb_interrupt_msg
usb_get_descriptor = _message.usb_get_descriptor
usb_string = _message.usb_string
usb_clear_halt = _message.usb_clear_halt
usb_set_interface = _message.usb_set_interface
usb_set_configuration = _message.usb_set_configuration
usb_reset_device = _hub.usb_reset_device
usb_lock_device_for_reset = _usb.usb_lock_device_for_reset
usb_unlock_device = _usb.usb_unlock_device

# -- endpoint descriptor helpers (include/uapi/linux/usb/ch9.h) ------------------------------

USB_ENDPOINT_XFER_CONTROL, USB_ENDPOINT_XFER_ISOC = 0, 1
USB_ENDPOINT_XFER_BULK, USB_ENDPOINT_XFER_INT = 2, 3


def usb_endpoint_num(epd: usb_endpoint_descriptor) -> int:
    return epd.number


def usb_endpoint_type(epd: usb_endpoint_descriptor) -> int:
    return int(epd.type)


def usb_endpoint_maxp(epd: usb_endpoint_descriptor) -> int:
    return epd.maxpacket


def usb_endpoint_dir_in(epd: usb_endpoint_descriptor) -> bool:
    return epd.is_in


def usb_endpoint_dir_out(epd: usb_endpoint_descriptor) -> bool:
    return not epd.is_in


def usb_endpoint_xfer_bulk(epd: usb_endpoint_descriptor) -> bool:
    return epd.type == USB_ENDPOINT_XFER_BULK


def usb_endpoint_xfer_int(epd: usb_endpoint_descriptor) -> bool:
    return epd.type == USB_ENDPOINT_XFER_INT


def usb_endpoint_xfer_isoc(epd: usb_endpoint_descriptor) -> bool:
    return epd.type == USB_ENDPOINT_XFER_ISOC


def usb_endpoint_is_bulk_in(epd: usb_endpoint_descriptor) -> bool:
    return usb_endpoint_xfer_bulk(epd) and epd.is_in


def usb_endpoint_is_bulk_out(epd: usb_endpoint_descriptor) -> bool:
    return usb_endpoint_xfer_bulk(epd) and not epd.is_in


def usb_endpoint_is_int_in(epd: usb_endpoint_descriptor) -> bool:
    return usb_endpoint_xfer_int(epd) and epd.is_in


def usb_endpoint_is_int_out(epd: usb_endpoint_descriptor) -> bool:
    return usb_endpoint_xfer_int(epd) and not epd.is_in


# -- chapter 9 constants under their ch9.h names ------------------------------------------------

USB_DIR_OUT, USB_DIR_IN = 0x00, 0x80
USB_TYPE_STANDARD, USB_TYPE_CLASS, USB_TYPE_VENDOR = 0x00, 0x20, 0x40
USB_RECIP_DEVICE, USB_RECIP_INTERFACE, USB_RECIP_ENDPOINT, USB_RECIP_OTHER = 0, 1, 2, 3
USB_REQ_GET_STATUS = 0x0
USB_REQ_CLEAR_FEATURE = 0x1
USB_REQ_SET_FEATURE = 0x3
USB_REQ_SET_ADDRESS = 0x5
USB_REQ_GET_DESCRIPTOR = 0x6
USB_REQ_SET_DESCRIPTOR = 0x7
USB_REQ_GET_CONFIGURATION = 0x8
USB_REQ_SET_CONFIGURATION = 0x9
USB_REQ_GET_INTERFACE = 0xa
USB_REQ_SET_INTERFACE = 0xb
USB_REQ_SYNCH_FRAME = 0xc
USB_REQ_SET_SEL = 0x30
USB_REQ_SET_ISOCH_DELAY = 0x31
USB_DT_DEVICE = 0x1
USB_DT_CONFIG = 0x2
USB_DT_STRING = 0x3
USB_DT_INTERFACE = 0x4
USB_DT_ENDPOINT = 0x5
USB_DT_DEVICE_QUALIFIER = 0x6
USB_DT_OTHER_SPEED_CONFIG = 0x7
USB_DT_INTERFACE_POWER = 0x8
USB_DT_OTG = 0x9
USB_DT_DEBUG = 0xa
USB_DT_INTERFACE_ASSOCIATION = 0xb
USB_DT_SECURITY = 0xc
USB_DT_KEY = 0xd
USB_DT_ENCRYPTION_TYPE = 0xe
USB_DT_BOS = 0xf
USB_DT_DEVICE_CAPABILITY = 0x10
USB_DT_WIRELESS_ENDPOINT_COMP = 0x11
USB_DT_HID = 0x21
USB_DT_REPORT = 0x22
USB_DT_PHYSICAL = 0x23
USB_DT_CS_INTERFACE = 0x24
USB_DT_CS_ENDPOINT = 0x25
USB_DT_HUB = 0x29
USB_DT_SS_HUB = 0x2a
USB_DT_SS_ENDPOINT_COMP = 0x30
USB_DT_SSP_ISOC_ENDPOINT_COMP = 0x31
USB_CLASS_PER_INTERFACE = 0x0
USB_CLASS_AUDIO = 0x1
USB_CLASS_COMM = 0x2
USB_CLASS_HID = 0x3
USB_CLASS_PHYSICAL = 0x5
USB_CLASS_STILL_IMAGE = 0x6
USB_CLASS_PRINTER = 0x7
USB_CLASS_MASS_STORAGE = 0x8
USB_CLASS_HUB = 0x9
USB_CLASS_CDC_DATA = 0xa
USB_CLASS_CSCID = 0xb
USB_CLASS_CONTENT_SEC = 0xd
USB_CLASS_VIDEO = 0xe
USB_CLASS_PERSONAL_HEALTHCARE = 0xf
USB_CLASS_AUDIO_VIDEO = 0x10
USB_CLASS_BILLBOARD = 0x11
USB_CLASS_USB_TYPE_C_BRIDGE = 0x12
USB_CLASS_WIRELESS_CONTROLLER = 0xe0
USB_CLASS_MISC = 0xef
USB_CLASS_APP_SPEC = 0xfe
USB_CLASS_VENDOR_SPEC = 0xff
USB_SPEED_UNKNOWN = 0
USB_SPEED_LOW = 1
USB_SPEED_FULL = 2
USB_SPEED_HIGH = 3
USB_SPEED_WIRELESS = 4
USB_SPEED_SUPER = 5
USB_SPEED_SUPER_PLUS = 6
USB_STATE_NOTATTACHED = 0
USB_STATE_ATTACHED = 1
USB_STATE_POWERED = 2
USB_STATE_RECONNECTING = 3
USB_STATE_UNAUTHENTICATED = 4
USB_STATE_DEFAULT = 5
USB_STATE_ADDRESS = 6
USB_STATE_CONFIGURED = 7
USB_STATE_SUSPENDED = 8


# -- input devices (include/linux/input.h, include/uapi/linux/input-event-codes.h) -----------

input_dev = _input.InputDev
input_id = _codes.InputId
input_allocate_device = _input.input_allocate_device
input_free_device = _input.input_free_device
input_register_device = _input.input_register_device
input_unregister_device = _input.input_unregister_device
input_get_drvdata = _input.input_get_drvdata
input_set_drvdata = _input.input_set_drvdata
input_set_capability = _input.input_set_capability
input_set_abs_params = _input.input_set_abs_params
input_abs_set_res = _input.input_abs_set_res
input_event = _input.input_event
input_report_key = _input.input_report_key
input_report_rel = _input.input_report_rel
input_report_abs = _input.input_report_abs
input_sync = _input.input_sync

EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_MSC = (_codes.EV_SYN, _codes.EV_KEY, _codes.EV_REL,
                                          _codes.EV_ABS, _codes.EV_MSC)
EV_LED, EV_REP = _codes.EV_LED, _codes.EV_REP
SYN_REPORT = _codes.SYN_REPORT
KEY_RESERVED = _codes.KEY_RESERVED
BTN_MOUSE, BTN_LEFT, BTN_RIGHT, BTN_MIDDLE = (_codes.BTN_MOUSE, _codes.BTN_LEFT,
                                              _codes.BTN_RIGHT, _codes.BTN_MIDDLE)
BTN_SIDE, BTN_EXTRA = _codes.BTN_SIDE, _codes.BTN_EXTRA
REL_X, REL_Y, REL_HWHEEL, REL_WHEEL = (_codes.REL_X, _codes.REL_Y, _codes.REL_HWHEEL,
                                       _codes.REL_WHEEL)
LED_NUML, LED_CAPSL, LED_SCROLLL = _codes.LED_NUML, _codes.LED_CAPSL, _codes.LED_SCROLLL
LED_COMPOSE, LED_KANA = _codes.LED_COMPOSE, _codes.LED_KANA
BUS_USB = _codes.BUS_USB

# -- bits (include/linux/bits.h, bitops): usbemu's bitmaps are whole Python ints --------------


def BIT(nr: int) -> int:
    """BIT(nr): the bit of number `nr`."""
    return 1 << nr


#: BIT_MASK(nr): on usbemu's bitmaps (one int, not an array of longs) the bit itself, so
#: C's `bitmap[BIT_WORD(nr)] |= BIT_MASK(nr)` is `bitmap |= BIT_MASK(nr)`.
BIT_MASK = BIT


def test_bit(nr: int, bitmap: int) -> bool:
    """test_bit(nr, addr): whether bit `nr` of `bitmap` is set."""
    return bool(bitmap >> nr & 1)


def memscan(addr: bytes | bytearray | memoryview, c: int, size: int) -> int:
    """memscan(addr, c, size): the offset of the first byte `c` among the first `size`
    bytes of `addr`, or `size` when there is none (C returns addr + that offset)."""
    return next((i for i in range(size) if addr[i] == c), size)


def snprintf(size: int, fmt: str, *args: object) -> str:
    """snprintf(buf, size, fmt, ...): the formatted text, cut to `size` - 1 characters."""
    return (fmt % args if args else fmt)[:max(size - 1, 0)]


def strscpy(src: str, size: int) -> str:
    """strscpy(dst, src, size) (and strlcpy): `src` cut to `size` - 1 characters."""
    return src[:max(size - 1, 0)]


def strlcat(dst: str, src: str, size: int) -> str:
    """strlcat(dst, src, size): `dst` + `src` cut to `size` - 1 characters."""
    return (dst + src)[:max(size - 1, 0)]


def le16_to_cpu(value: int) -> int:
    """Descriptor fields are host integers here: the value itself."""
    return value


cpu_to_le16 = le16_to_cpu

# -- USB input devices (include/linux/usb/input.h, include/linux/usb.h, hid.h) -------------------

USB_INTERFACE_CLASS_HID = 3
USB_INTERFACE_SUBCLASS_BOOT = 1
USB_INTERFACE_PROTOCOL_KEYBOARD = 1
USB_INTERFACE_PROTOCOL_MOUSE = 2

usb_make_path = _usb.usb_make_path  # returns the path: phys = usb_make_path(dev)


def usb_to_input_id(dev: usb_device, id: _codes.InputId) -> None:
    """usb_to_input_id(dev, &input_dev->id): BUS_USB, idVendor, idProduct, bcdDevice."""
    desc = dev.descriptor
    id.bustype = BUS_USB
    id.vendor = desc.idVendor if desc is not None else 0
    id.product = desc.idProduct if desc is not None else 0
    id.version = desc.bcdDevice if desc is not None else 0


def usb_maxpacket(dev: usb_device, pipe: int) -> int:
    """usb_maxpacket(dev, pipe): the packet size of the endpoint `pipe` addresses, 0 when
    the device has no such endpoint."""
    hep = _urb.usb_pipe_endpoint(dev, pipe)
    return hep.maxp if hep is not None else 0


def usb_alloc_coherent(dev: usb_device, size: int, mem_flags: int) -> tuple[bytearray, int]:
    """usb_alloc_coherent(dev, size, mem_flags, &dma): (a zeroed buffer, its "DMA
    address" 0) — C's pointer result comes back as the second element."""
    return bytearray(size), 0


def usb_free_coherent(dev: usb_device, size: int, addr: bytearray | None, dma: int) -> None:
    """Buffers are garbage collected: nothing to free."""


@dataclass
class usb_ctrlrequest:
    """struct usb_ctrlrequest: a SETUP packet a driver fills field by field; bytes() packs
    it (usb_fill_control_urb takes it as it is then)."""

    bRequestType: int = 0
    bRequest: int = 0
    wValue: int = 0
    wIndex: int = 0
    wLength: int = 0

    def __bytes__(self) -> bytes:
        return bytes(_SetupPacket(self.bRequestType, self.bRequest, self.wValue, self.wIndex,
                                  self.wLength))


#: hid_info(hid, …), hid_warn, hid_err: dev_info & co. on the device given.
hid_info, hid_warn, hid_err = dev_info, dev_warn, dev_err


def module_usb_driver(driver: usb_driver) -> None:
    """module_usb_driver(driver): the calling module's init registers `driver` and its exit
    deregisters it."""
    async def init() -> int:
        return await usb_register(driver)

    async def exit() -> None:
        await usb_deregister(driver)

    _module.module_driver(init, exit, caller_depth=2)
