"""Raw HID devices — counterpart of drivers/hid/hidraw.c, include/linux/hidraw.h and
include/uapi/linux/hidraw.h.

Every HID device hid_connect() connects gets /dev/hidrawN (class "hidraw", a dynamic major
from alloc_chrdev_region, minors 0–63, the lowest free one; a minor stays taken while a
file of an unplugged device is still open).  Each open file keeps its own ring of
HIDRAW_BUFFER_SIZE (64) slots — 63 reports; a report that finds the ring full is dropped
for that reader — and a read returns one whole report (cut to the reader's buffer).  The
first open starts the transport (hid_hw_open), the last close stops it.  A write sends an
output report (the first byte is the report id; SET_REPORT on the control channel when
the transport cannot send on the interrupt one), and the ioctls are hidraw's:
HIDIOCGRDESCSIZE, HIDIOCGRDESC, HIDIOCGRAWINFO, HIDIOCGRAWNAME/PHYS/UNIQ(len),
HIDIOCS/GFEATURE(len), HIDIOCS/GINPUT(len), HIDIOCS/GOUTPUT(len).  After an unplug, a
reader waiting gets -EIO and poll says POLLERR | POLLHUP, as Linux has it; the files'
later calls get the -ENODEV of kernel/syscalls.py's revocation.  The "pid %d passed too
short report" warnings name this process.  Not modelled: fasync, HIDIOCREVOKE.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from ...errors import Errno
from ...kernel.char_dev import Cdev, CharDevices
from ...kernel.devclass import ClassDevice, DeviceClass, DeviceClasses
from ...kernel.fs import (
    O_NONBLOCK,
    File,
    FileOperations,
    Inode,
    Loff,
    copy_from_user,
    copy_to_user,
    dev_major,
    iminor,
    ioc,
    ior,
    mkdev,
    noop_llseek,
)
from ...kernel.printk import Level
from ...kernel.wait import Poll, PollTable, WaitQueueHead, poll_wait
from ...spec.hid import HidRequest
from .hid_core import (
    HID_MAX_BUFFER_SIZE,
    HID_MAX_DESCRIPTOR_SIZE,
    PM_HINT_FULLON,
    PM_HINT_NORMAL,
    HidDevice,
    HidQuirk,
    ReportType,
    hid_hw_close,
    hid_hw_open,
    hid_hw_output_report,
    hid_hw_power,
    hid_hw_raw_request,
    hid_warn,
)

if TYPE_CHECKING:
    from .hid_core import HidCore

__all__ = [
    "HIDIOCGFEATURE",
    "HIDIOCGINPUT",
    "HIDIOCGOUTPUT",
    "HIDIOCGRAWINFO",
    "HIDIOCGRAWNAME",
    "HIDIOCGRAWPHYS",
    "HIDIOCGRAWUNIQ",
    "HIDIOCGRDESC",
    "HIDIOCGRDESCSIZE",
    "HIDIOCSFEATURE",
    "HIDIOCSINPUT",
    "HIDIOCSOUTPUT",
    "HIDRAW_BUFFER_SIZE",
    "HIDRAW_FIRST_MINOR",
    "HIDRAW_MAX_DEVICES",
    "Hidraw",
    "HidrawCore",
    "HidrawList",
]

HIDRAW_FIRST_MINOR: Final = 0
HIDRAW_MAX_DEVICES: Final = 64
#: Slots of a reader's ring (one stays free: 63 reports wait at most).
HIDRAW_BUFFER_SIZE: Final = 64

_IOC_WRITE, _IOC_READ = 1, 2
_IOC_NRMASK, _IOC_TYPEMASK, _IOC_SIZEMASK = 0xFF, 0xFF, 0x3FFF
_IOC_TYPESHIFT, _IOC_SIZESHIFT, _IOC_DIRSHIFT = 8, 16, 30

#: struct hidraw_devinfo: __u32 bustype; __s16 vendor; __s16 product.
_DEVINFO: Final = struct.Struct("<Ihh")

HIDIOCGRDESCSIZE: Final = ior("H", 0x01, 4)
HIDIOCGRDESC: Final = ior("H", 0x02, 4 + HID_MAX_DESCRIPTOR_SIZE)
HIDIOCGRAWINFO: Final = ior("H", 0x03, _DEVINFO.size)


def HIDIOCGRAWNAME(length: int) -> int:
    """HIDIOCGRAWNAME(len): the device's name, NUL-terminated, in `len` bytes at most."""
    return ioc(_IOC_READ, "H", 0x04, length)


def HIDIOCGRAWPHYS(length: int) -> int:
    """HIDIOCGRAWPHYS(len): the device's physical path."""
    return ioc(_IOC_READ, "H", 0x05, length)


def HIDIOCSFEATURE(length: int) -> int:
    """HIDIOCSFEATURE(len): send a feature report (first byte: the report id)."""
    return ioc(_IOC_WRITE | _IOC_READ, "H", 0x06, length)


def HIDIOCGFEATURE(length: int) -> int:
    """HIDIOCGFEATURE(len): get a feature report (first byte in: the report id)."""
    return ioc(_IOC_WRITE | _IOC_READ, "H", 0x07, length)


def HIDIOCGRAWUNIQ(length: int) -> int:
    """HIDIOCGRAWUNIQ(len): the device's unique id (its serial number)."""
    return ioc(_IOC_READ, "H", 0x08, length)


def HIDIOCSINPUT(length: int) -> int:
    """HIDIOCSINPUT(len): send an input report."""
    return ioc(_IOC_WRITE | _IOC_READ, "H", 0x09, length)


def HIDIOCGINPUT(length: int) -> int:
    """HIDIOCGINPUT(len): get an input report."""
    return ioc(_IOC_WRITE | _IOC_READ, "H", 0x0A, length)


def HIDIOCSOUTPUT(length: int) -> int:
    """HIDIOCSOUTPUT(len): send an output report."""
    return ioc(_IOC_WRITE | _IOC_READ, "H", 0x0B, length)


def HIDIOCGOUTPUT(length: int) -> int:
    """HIDIOCGOUTPUT(len): get an output report."""
    return ioc(_IOC_WRITE | _IOC_READ, "H", 0x0C, length)


#: The report requests by ioctl number: (report type, SET or GET).
_REPORT_IOCTLS: Final[dict[int, tuple[ReportType, HidRequest]]] = {
    0x06: (ReportType.FEATURE, HidRequest.SET_REPORT),
    0x07: (ReportType.FEATURE, HidRequest.GET_REPORT),
    0x09: (ReportType.INPUT, HidRequest.SET_REPORT),
    0x0A: (ReportType.INPUT, HidRequest.GET_REPORT),
    0x0B: (ReportType.OUTPUT, HidRequest.SET_REPORT),
    0x0C: (ReportType.OUTPUT, HidRequest.GET_REPORT),
}


class Hidraw:
    """struct hidraw: the raw node of one HID device — its minor, whether the device is
    still there (`exist`), how many files are open (`open`), the wait queue readers sleep
    on and the open files' rings (`list`)."""

    def __init__(self, hid: HidDevice, minor: int) -> None:
        self.hid = hid
        self.minor = minor
        self.exist = True
        self.open = 0
        self.wait = WaitQueueHead()
        self.list: list[HidrawList] = []
        self.dev: ClassDevice | None = None

    def __repr__(self) -> str:
        return f"<Hidraw hidraw{self.minor} open={self.open}{'' if self.exist else ' gone'}>"


class HidrawList:
    """struct hidraw_list: one open file's ring of reports."""

    def __init__(self, hidraw: Hidraw) -> None:
        self.hidraw = hidraw
        self.buffer: deque[bytes] = deque()


class HidrawCore:
    """hidraw's state in one machine: its major, cdev and class, and the minors in use
    (hidraw_table).  Context: `init`, `exit` and `report_event` are atomic; connect,
    disconnect and the file operations may sleep."""

    def __init__(self, hid_core: HidCore, chrdev: CharDevices, classes: DeviceClasses) -> None:
        self.hid_core = hid_core
        self.log = hid_core.log
        self.chrdev = chrdev
        self.classes = classes
        self.major = 0
        self.table: list[Hidraw | None] = [None] * HIDRAW_MAX_DEVICES
        self.hidraw_class = DeviceClass("hidraw")
        fops = FileOperations(open=self._open, release=self._release, read=self._read,
                              write=self._write, poll=self._poll, unlocked_ioctl=self._ioctl,
                              llseek=noop_llseek)
        self.cdev = Cdev(fops, fops.owner, "hidraw")

    # -- hidraw_init / hidraw_exit -------------------------------------------------------------

    def init(self) -> None:
        """hidraw_init(): a dynamic major with HIDRAW_MAX_DEVICES minors, the class,
        the cdev; "hid: raw HID events driver (C) Jiri Kosina".  Raises OSError when no
        major is left ("hid: can't get major number")."""
        try:
            dev_id = self.chrdev.alloc_chrdev_region(HIDRAW_FIRST_MINOR, HIDRAW_MAX_DEVICES,
                                                     "hidraw")
        except OSError:
            self.log.log(Level.WARNING, "hid: can't get major number")
            raise
        self.major = dev_major(dev_id)
        self.classes.class_register(self.hidraw_class)
        self.chrdev.cdev_add(self.cdev, dev_id, HIDRAW_MAX_DEVICES)
        self.log.info("hid: raw HID events driver (C) Jiri Kosina")

    def exit(self) -> None:
        """hidraw_exit(): the cdev, the class and the region go."""
        self.chrdev.cdev_del(self.cdev)
        self.classes.class_unregister(self.hidraw_class)
        self.chrdev.unregister_chrdev_region(mkdev(self.major, 0), HIDRAW_MAX_DEVICES)

    # -- connecting devices ----------------------------------------------------------------------

    async def connect(self, hid: HidDevice) -> int:
        """hidraw_connect(): the lowest free minor and its class device "hidrawN" below
        the hid device (so /dev/hidrawN).  Returns 0, -EINVAL when all minors are taken,
        or the class device's error.  Context: may sleep."""
        minor = next((m for m, used in enumerate(self.table) if used is None), None)
        if minor is None:
            return -Errno.EINVAL
        dev = self.table[minor] = Hidraw(hid, minor)
        try:
            dev.dev = await self.classes.device_create(
                self.hidraw_class, hid, mkdev(self.major, minor), None, f"hidraw{minor}")
        except OSError as exc:
            self.table[minor] = None
            return -(exc.errno or Errno.EINVAL)
        hid.hidraw = dev
        return 0

    async def disconnect(self, hid: HidDevice) -> None:
        """hidraw_disconnect(): the device is gone — readers are woken, the node goes;
        the minor stays taken until the last file on it is closed.  Context: may
        sleep."""
        if hid.hidraw is not None:
            await self._drop_ref(hid.hidraw, exists_bit=True)

    async def _drop_ref(self, hidraw: Hidraw, exists_bit: bool) -> None:
        """drop_ref(): the device's or a file's reference."""
        if exists_bit:
            hidraw.exist = False
            if hidraw.open:
                await hid_hw_close(hidraw.hid)
                hidraw.wait.wake_up()
            await self.classes.device_destroy(self.hidraw_class,
                                              mkdev(self.major, hidraw.minor))
        else:
            hidraw.open -= 1
        if not hidraw.open:
            if not hidraw.exist:
                if self.table[hidraw.minor] is hidraw:
                    self.table[hidraw.minor] = None
            else:
                # the last reader closes the device
                await hid_hw_close(hidraw.hid)
                await hid_hw_power(hidraw.hid, PM_HINT_NORMAL)

    def report_event(self, hid: HidDevice, data: bytes) -> int:
        """hidraw_report_event(): a copy of the raw report for every open file whose ring
        has room, then the readers are woken.  Returns 0.  Context: atomic."""
        dev = hid.hidraw
        if dev is None:
            return 0
        for lst in dev.list:
            if len(lst.buffer) < HIDRAW_BUFFER_SIZE - 1:
                lst.buffer.append(data)
        dev.wait.wake_up()
        return 0

    # -- file operations ---------------------------------------------------------------------------

    def _hidraw_of(self, inode: Inode) -> Hidraw | None:
        minor = iminor(inode)
        return self.table[minor] if 0 <= minor < HIDRAW_MAX_DEVICES else None

    async def _open(self, inode: Inode, file: File) -> int:
        """hidraw_open(): -ENODEV for a minor without a (present) device; the first open
        powers the transport up and opens it."""
        dev = self._hidraw_of(inode)
        if dev is None or not dev.exist:
            return -Errno.ENODEV
        dev.open += 1
        if dev.open == 1:
            err = await hid_hw_power(dev.hid, PM_HINT_FULLON)
            if err < 0:
                dev.open -= 1
                return err
            err = await hid_hw_open(dev.hid)
            if err < 0:
                await hid_hw_power(dev.hid, PM_HINT_NORMAL)
                dev.open -= 1
                return err
        lst = HidrawList(dev)
        dev.list.append(lst)
        file.private_data = lst
        return 0

    async def _release(self, inode: Inode, file: File) -> int:
        """hidraw_release(): the file's ring goes; the last one closes the device."""
        lst = file.private_data
        if not isinstance(lst, HidrawList):
            return 0
        if lst in lst.hidraw.list:
            lst.hidraw.list.remove(lst)
        await self._drop_ref(lst.hidraw, exists_bit=False)
        return 0

    async def _read(self, file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        """hidraw_read(): the oldest report (its first `count` bytes); waits for one
        unless O_NONBLOCK (-EAGAIN); -EIO once the device is gone."""
        lst: HidrawList = file.private_data
        dev = lst.hidraw
        while True:
            if not lst.buffer:
                if not dev.exist:
                    return -Errno.EIO
                if file.f_flags & O_NONBLOCK:
                    return -Errno.EAGAIN
                await dev.wait.wait_event(lambda: bool(lst.buffer) or not dev.exist)
                continue
            report = lst.buffer.popleft()
            length = min(len(report), count)
            if copy_to_user(buf, report, length):
                return -Errno.EFAULT
            if length:
                return length

    def _poll(self, file: File, table: PollTable | None) -> int:
        """hidraw_poll(): always writable; readable with a report waiting; POLLERR |
        POLLHUP once the device is gone."""
        lst: HidrawList = file.private_data
        poll_wait(file, lst.hidraw.wait, table)
        mask = Poll.OUT | Poll.WRNORM
        if lst.buffer:
            mask |= Poll.IN | Poll.RDNORM
        if not lst.hidraw.exist:
            mask |= Poll.ERR | Poll.HUP
        return mask

    def _present(self, file: File) -> HidDevice | None:
        dev = self._hidraw_of(file.f_inode)
        return dev.hid if dev is not None and dev.exist else None

    def _check_length(self, hid: HidDevice, count: int) -> int:
        """The size checks of hidraw_send_report / hidraw_get_report: 0 or -EINVAL."""
        if count > HID_MAX_BUFFER_SIZE:
            hid_warn(hid, f"pid {os.getpid()} passed too large report")
            return -Errno.EINVAL
        if count < 2:
            hid_warn(hid, f"pid {os.getpid()} passed too short report")
            return -Errno.EINVAL
        return 0

    async def _send_report(self, file: File, data: bytes | bytearray | memoryview,
                           count: int, report_type: ReportType) -> int:
        """hidraw_send_report(): an output report goes on the interrupt channel when the
        transport can (else, and for other types, SET_REPORT); the first byte is the
        report id.  Returns the bytes sent or -errno."""
        hid = self._present(file)
        if hid is None:
            return -Errno.ENODEV
        ret = self._check_length(hid, count)
        if ret:
            return ret
        if len(data) < count:
            return -Errno.EFAULT
        buf = bytearray(data[:count])
        if report_type == ReportType.OUTPUT \
                and not hid.quirks & HidQuirk.NO_OUTPUT_REPORTS_ON_INTR_EP:
            ret = await hid_hw_output_report(hid, buf, count)
            # a transport that cannot send output reports on the interrupt channel
            # falls back to SET_REPORT
            if ret != -Errno.ENOSYS:
                return ret
        return await hid_hw_raw_request(hid, buf[0], buf, count, report_type,
                                        HidRequest.SET_REPORT)

    async def _get_report(self, file: File, user: Any, count: int,
                          report_type: ReportType) -> int:
        """hidraw_get_report(): GET_REPORT of the report whose id is the first byte of
        the user buffer, answered into it.  Returns the bytes read or -errno."""
        hid = self._present(file)
        if hid is None or hid.ll_driver is None or hid.ll_driver.raw_request is None:
            return -Errno.ENODEV
        ret = self._check_length(hid, count)
        if ret:
            return ret
        if not isinstance(user, bytearray | memoryview) or not len(user):
            return -Errno.EFAULT
        buf = bytearray(count)
        ret = await hid_hw_raw_request(hid, user[0], buf, count, report_type,
                                       HidRequest.GET_REPORT)
        if ret < 0:
            return ret
        length = min(ret, count)
        if copy_to_user(user, buf, length):
            return -Errno.EFAULT
        return length

    async def _write(self, file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        """hidraw_write(): an output report."""
        return await self._send_report(file, buf, count, ReportType.OUTPUT)

    async def _ioctl(self, file: File, cmd: int, arg: Any) -> int:
        """hidraw_ioctl()."""
        dev = self._hidraw_of(file.f_inode)
        if dev is None or not dev.exist:
            return -Errno.ENODEV
        hid = dev.hid
        if cmd == HIDIOCGRDESCSIZE:
            return _put(arg, struct.pack("<i", hid.rsize))
        if cmd == HIDIOCGRDESC:
            return _get_rdesc(hid, arg)
        if cmd == HIDIOCGRAWINFO:
            return _put(arg, _DEVINFO.pack(hid.bustype & 0xFFFFFFFF, _s16(hid.vendor),
                                           _s16(hid.product)))
        if (cmd >> _IOC_TYPESHIFT) & _IOC_TYPEMASK != ord("H"):
            return -Errno.EINVAL
        nr, size = cmd & _IOC_NRMASK, (cmd >> _IOC_SIZESHIFT) & _IOC_SIZEMASK
        request = _REPORT_IOCTLS.get(nr)
        if request is not None:
            report_type, reqtype = request
            if reqtype == HidRequest.SET_REPORT:
                data = bytes(arg[:size]) if isinstance(arg, bytes | bytearray | memoryview) \
                    else b""
                return await self._send_report(file, data, size, report_type)
            return await self._get_report(file, arg, size, report_type)
        if cmd >> _IOC_DIRSHIFT != _IOC_READ:
            return -Errno.EINVAL
        attr = _STRINGS.get(nr)
        if attr is None:
            return -Errno.ENOTTY
        value = str(getattr(hid, attr)).encode() + b"\0"
        length = min(len(value), size)
        return -Errno.EFAULT if _put(arg, value[:length]) else length


_STRINGS: Final[dict[int, str]] = {0x04: "hid_name", 0x05: "phys", 0x08: "uniq"}
"""HIDIOCGRAWNAME, HIDIOCGRAWPHYS, HIDIOCGRAWUNIQ: the HidDevice string each returns."""


def _s16(value: int) -> int:
    value &= 0xFFFF
    return value - 0x10000 if value & 0x8000 else value


def _put(arg: Any, data: bytes) -> int:
    """put_user / copy_to_user into the user buffer `arg`: 0, or -EFAULT when it is not
    a writable buffer of that size."""
    if not isinstance(arg, bytearray | memoryview) or len(arg) < len(data):
        return -Errno.EFAULT
    copy_to_user(arg, data, len(data))
    return 0


def _get_rdesc(hid: HidDevice, arg: Any) -> int:
    """HIDIOCGRDESC: `arg` is struct hidraw_report_descriptor — the caller's `size`
    (at most HID_MAX_DESCRIPTOR_SIZE - 1, else -EINVAL), then the descriptor's first
    `size` bytes are copied after it."""
    if not isinstance(arg, bytearray | memoryview) or len(arg) < 4:
        return -Errno.EFAULT
    header = bytearray(4)
    copy_from_user(header, arg, 4)
    (length,) = struct.unpack("<I", header)
    if length > HID_MAX_DESCRIPTOR_SIZE - 1:
        return -Errno.EINVAL
    n = min(hid.rsize, length)
    if len(arg) < 4 + n:
        return -Errno.EFAULT
    copy_to_user(memoryview(arg)[4:], hid.rdesc, n)
    return 0
