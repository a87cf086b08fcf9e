"""The tty core — counterpart of drivers/tty/tty_io.c, the line-discipline handling of
tty_ldisc.c that N_TTY needs, the tty_mutex, and fs/proc/proc_tty.c.

`TtyCore` is one machine's tty layer: the "tty" device class, the registered tty drivers
(newest first, as the kernel's list is), /proc/tty/drivers, /proc/tty/ldiscs and
/proc/tty/driver/<driver_name>.  `tty_register_driver` takes the driver's device numbers
(a char-device region named after its node name) and, unless the driver adds its devices
itself (TTY_DRIVER_DYNAMIC_DEV), registers a device per line; `tty_register_device` makes
the class device (/sys/class/tty/ttyUSB0 with `dev` "188:0", /dev/ttyUSB0) and the cdev
whose file operations are the tty's.  Opening the node (tty_open) finds the driver by
device number, reuses or creates the line's `TtyStruct` (the driver's install, or
tty_standard_install, then N_TTY), and calls the driver's open; read, write, poll and ioctl
go through N_TTY and tty_ioctl.c's helpers as in Linux; the last close releases the line.
A hangup (`tty_hangup` queues it, `tty_vhangup` does it now) switches every file open on
the tty to the hung-up file operations — read gives end of file, write and ioctl -EIO,
poll everything including POLLHUP, release still works — wakes whoever sleeps in the tty
and calls the driver's hangup.  Driver operations that raise are contained like an oops
(the call fails with -EIO).

Deliberate differences: there are no processes, so no controlling tty, job control,
sessions or signals; the caller of the system calls is an ordinary user allowed to open
the node (`TtyCore.privileged` False: TIOCEXCL keeps further opens out with -EBUSY,
TIOCVHANGUP and TIOCSLCKTRMIOS are -EPERM; set it to act as root).  Not registered: the
/dev/tty, /dev/console and /dev/ptmx pseudo-drivers (so /proc/tty/drivers lists only real
drivers), ptys, consoles and TIOCSTI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Final

from ..errors import Errno
from .char_dev import Cdev, CharDevices
from .devclass import ClassDevice, DeviceClass, DeviceClasses
from .device import Device, DriverCore
from .fs import (
    ENOIOCTLCMD,
    O_NONBLOCK,
    File,
    FileOperations,
    Inode,
    Loff,
    ModuleOwner,
    dev_major,
    dev_minor,
    mkdev,
    module_put,
    nonseekable_open,
    try_module_get,
)
from .n_tty import NTty
from .printk import Level
from .termios import (
    TCFLSH,
    TCIFLUSH,
    TCIOFLUSH,
    TCSBRK,
    TCSBRKP,
    TIOCCBRK,
    TIOCEXCL,
    TIOCGDEV,
    TIOCGEXCL,
    TIOCGICOUNT,
    TIOCGSERIAL,
    TIOCGWINSZ,
    TIOCM_SETTABLE,
    TIOCMBIC,
    TIOCMBIS,
    TIOCMGET,
    TIOCMSET,
    TIOCNXCL,
    TIOCSBRK,
    TIOCSETD,
    TIOCSSERIAL,
    TIOCSWINSZ,
    TIOCVHANGUP,
    SerialIcounter,
    SerialStruct,
    Winsize,
    tty_termios_baud_rate,
    tty_termios_copy_hw,
    tty_termios_encode_baud_rate,
    tty_termios_hw_change,
    tty_termios_input_baud_rate,
)
from .tty import (
    HZ,
    TTY_DO_WRITE_WAKEUP,
    TTY_EXCLUSIVE,
    TTY_HUPPED,
    TTY_HUPPING,
    TTY_LDISC_OPEN,
    TTY_NO_WRITE_SPLIT,
    TTY_THROTTLED,
    PtyType,
    SerialType,
    SystemType,
    TtyDriver,
    TtyDriverFlag,
    TtyDriverType,
    TtyFilePrivate,
    TtyFlag,
    TtyOperations,
    TtyStruct,
    call_tty_op,
    hung_up_tty_ioctl,
    hung_up_tty_poll,
    hung_up_tty_read,
    hung_up_tty_write,
    register_tty_core,
    start_tty,
    stop_tty,
    tty_core_of,
    tty_encode_baud_rate,
    tty_get_baud_rate,
    tty_hung_up_p,
    tty_io_error,
    tty_kref_get,
    tty_kref_put,
    tty_line_name,
    tty_lock,
    tty_msg,
    tty_name,
    tty_put_char,
    tty_send_xchar,
    tty_unlock,
    tty_wakeup,
    tty_write_lock,
    tty_write_unlock,
)
from .tty_buffer import tty_buffer_cancel_work, tty_buffer_flush
from .tty_ioctl import (
    copy_from_user_arg,
    copy_to_user_arg,
    get_user_int,
    put_user_int,
    tty_chars_in_buffer,
    tty_driver_flush_buffer,
    tty_set_termios,
    tty_wait_until_sent,
    tty_write_room,
)
from .vfs import Attr, Node, StaticDir, Vfs

if TYPE_CHECKING:
    from .wait import PollTable

__all__ = [
    "HUNG_UP_TTY_FOPS",
    "TTY_FOPS",
    "PtyType",
    "SerialType",
    "SystemType",
    "TtyCore",
    "TtyDriver",
    "TtyDriverFlag",
    "TtyDriverType",
    "TtyFlag",
    "TtyOperations",
    "TtyStruct",
    "copy_from_user_arg",
    "copy_to_user_arg",
    "get_user_int",
    "put_user_int",
    "start_tty",
    "stop_tty",
    "tty_alloc_driver",
    "tty_chars_in_buffer",
    "tty_core_of",
    "tty_devnum",
    "tty_driver_flush_buffer",
    "tty_driver_kref_get",
    "tty_driver_kref_put",
    "tty_encode_baud_rate",
    "tty_get_baud_rate",
    "tty_hangup",
    "tty_hung_up_p",
    "tty_kref_get",
    "tty_kref_put",
    "tty_ldisc_flush",
    "tty_lock",
    "tty_name",
    "tty_put_char",
    "tty_register_device",
    "tty_register_driver",
    "tty_send_xchar",
    "tty_set_termios",
    "tty_standard_install",
    "tty_termios_baud_rate",
    "tty_termios_copy_hw",
    "tty_termios_encode_baud_rate",
    "tty_termios_hw_change",
    "tty_termios_input_baud_rate",
    "tty_unlock",
    "tty_unregister_device",
    "tty_unregister_driver",
    "tty_vhangup",
    "tty_wait_until_sent",
    "tty_wakeup",
    "tty_write_room",
]

#: The length of a break for TCSBRK 0 and TCSBRKP 0, in ms.
BREAK_DURATION_MS: Final = 250


# -- the machine's tty layer --------------------------------------------------------------------


class TtyCore:
    """The tty layer of one machine.  Context: construction is atomic; registering
    drivers and devices may sleep."""

    def __init__(self, driver_core: DriverCore, chrdev: CharDevices, classes: DeviceClasses,
                 vfs: Vfs, loop: asyncio.AbstractEventLoop) -> None:
        self.driver_core = driver_core
        self.chrdev = chrdev
        self.classes = classes
        self.vfs = vfs
        self.loop = loop
        self.log = driver_core.log
        #: The registered drivers, newest first (tty_drivers).
        self.drivers: list[TtyDriver] = []
        #: The drivers with a /proc/tty/driver file (until their last reference goes).
        self.proc_drivers: list[TtyDriver] = []
        self.tty_mutex = asyncio.Lock()
        #: Whether callers have CAP_SYS_ADMIN (see the module docstring).
        self.privileged = False
        self.tty_class = DeviceClass("tty")
        classes.class_register(self.tty_class)
        vfs.mount("/proc/tty/drivers", Attr(show=self.show_drivers))
        vfs.mount("/proc/tty/ldiscs", Attr(show=lambda: f"{NTty.name:<10} {NTty.num:2d}\n"))
        vfs.mount("/proc/tty/driver", StaticDir(compute=self._driver_entries))
        register_tty_core(loop, self)

    def __repr__(self) -> str:
        return f"<TtyCore drivers={[d.driver_name for d in self.drivers]}>"

    # -- work items, contained driver calls ----------------------------------------------------

    def schedule(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """schedule_work(): run `coro` as a task of the machine (settle waits for it).
        Context: atomic."""
        task = self.loop.create_task(coro)
        self.driver_core.pending.add(task)
        task.add_done_callback(self.driver_core.pending.discard)
        return task

    async def call(self, tty: TtyStruct, what: str, fn: Callable[..., Any],
                   *args: Any) -> int:
        """Run a driver operation of `tty`: its int result (None: 0), -errno for an
        OSError, -EIO after anything else it raised (logged like an oops).  Context: may
        sleep."""
        try:
            result = await call_tty_op(fn, *args)
        except OSError as exc:
            return -(exc.errno or Errno.EIO)
        except BaseException as exc:
            self.driver_core.contain(f"{what} of {tty.name} by tty driver "
                                     f"{tty.driver.driver_name}", exc)
            return -Errno.EIO
        if result is None:
            return 0
        if isinstance(result, bool) or not isinstance(result, int):
            self.driver_core.oops(f"{what} of {tty.name} by tty driver "
                                  f"{tty.driver.driver_name}",
                                  TypeError(f"returned {result!r}: return 0, a value or a "
                                            "negative errno"))
            return -Errno.EIO
        return result

    def queue_release_one_tty(self, tty: TtyStruct) -> None:
        """queue_release_one_tty(): the last reference to `tty` is gone.  Context: atomic."""
        self.schedule(self._release_one_tty(tty))

    async def _release_one_tty(self, tty: TtyStruct) -> None:
        """release_one_tty(): the driver's cleanup, then the tty's hold on the driver and
        its module go."""
        driver = tty.driver
        if tty.ops.cleanup is not None:
            await self.call(tty, "cleanup", tty.ops.cleanup, tty)
        tty_driver_kref_put(driver)
        module_put(driver.owner)
        tty.tty_files.clear()

    # -- drivers ----------------------------------------------------------------------------

    def lookup_driver(self, device: int) -> tuple[TtyDriver, int] | None:
        """get_tty_driver(): the driver of device number `device` and the line.  Context: atomic."""
        for driver in self.drivers:
            base = mkdev(driver.major, driver.minor_start)
            if base <= device < base + driver.num:
                return driver, device - base
        return None

    async def register_driver(self, driver: TtyDriver) -> None:
        """tty_register_driver(): see the module function.  Context: may sleep."""
        if driver.major == 0:
            dev = self.chrdev.alloc_chrdev_region(driver.minor_start, driver.num, driver.name)
            driver.major, driver.minor_start = dev_major(dev), dev_minor(dev)
        else:
            dev = mkdev(driver.major, driver.minor_start)
            self.chrdev.register_chrdev_region(dev, driver.num, driver.name)
        if driver.flags & TtyDriverFlag.DYNAMIC_ALLOC:
            driver.cdevs[0] = self._cdev_add(driver, dev, driver.num, driver.name)
        self.drivers.insert(0, driver)
        driver.core = self
        if not driver.flags & TtyDriverFlag.DYNAMIC_DEV:
            done = 0
            try:
                for done in range(driver.num):
                    await self.register_device(driver, done, None)
            except BaseException:
                for index in range(done - 1, -1, -1):
                    await self.unregister_device(driver, index)
                self.drivers.remove(driver)
                driver.core = None
                if driver.flags & TtyDriverFlag.DYNAMIC_ALLOC and driver.cdevs[0]:
                    self.chrdev.cdev_del(driver.cdevs[0])
                self.chrdev.unregister_chrdev_region(dev, driver.num)
                raise
        driver.proc_entry = bool(driver.driver_name and driver.ops.proc_show)
        if driver.proc_entry:
            self.proc_drivers.append(driver)
        driver.flags |= TtyDriverFlag.INSTALLED

    def unregister_driver(self, driver: TtyDriver) -> None:
        """tty_unregister_driver(): see the module function.  Context: atomic."""
        self.chrdev.unregister_chrdev_region(mkdev(driver.major, driver.minor_start),
                                             driver.num)
        if driver in self.drivers:
            self.drivers.remove(driver)

    def _cdev_add(self, driver: TtyDriver, dev: int, count: int, name: str) -> Cdev:
        """tty_cdev_add(): a cdev with the tty file operations, owned by the driver's
        module."""
        cdev = Cdev(TTY_FOPS, driver.owner, name)
        self.chrdev.cdev_add(cdev, dev, count)
        return cdev

    async def register_device(self, driver: TtyDriver, index: int, parent: Device | None,
                              drvdata: object = None) -> ClassDevice:
        """tty_register_device_attr(): see tty_register_device.  Context: may sleep."""
        if not 0 <= index < driver.num:
            self.log.log(Level.ERR, f"{driver.name}: Attempt to register invalid tty line "
                                    f"number ({index})")
            raise OSError(Errno.EINVAL, f"{driver.name}: no line {index}")
        devt = mkdev(driver.major, driver.minor_start) + index
        name = tty_line_name(driver, index)
        cdev = None
        if not driver.flags & TtyDriverFlag.DYNAMIC_ALLOC:
            driver.termios[index] = None
            cdev = driver.cdevs[index] = self._cdev_add(driver, devt, 1, name)
        try:
            return await self.classes.device_create(self.tty_class, parent, devt, drvdata,
                                                    name)
        except BaseException:
            if cdev is not None:
                self.chrdev.cdev_del(cdev)
                driver.cdevs[index] = None
            raise

    async def unregister_device(self, driver: TtyDriver, index: int) -> None:
        """tty_unregister_device(): see the module function.  Context: may sleep."""
        await self.classes.device_destroy(self.tty_class,
                                          mkdev(driver.major, driver.minor_start) + index)
        if not driver.flags & TtyDriverFlag.DYNAMIC_ALLOC:
            cdev = driver.cdevs[index]
            if cdev is not None:
                self.chrdev.cdev_del(cdev)
            driver.cdevs[index] = None

    def destruct_driver(self, driver: TtyDriver) -> None:
        """destruct_tty_driver(): the last reference to an installed driver is gone — its
        saved settings, its devices (unless DYNAMIC_DEV; in a work item), its proc file
        and its cdev go.  Context: atomic."""
        if not driver.flags & TtyDriverFlag.INSTALLED:
            return
        driver.termios = [None] * driver.num
        if not driver.flags & TtyDriverFlag.DYNAMIC_DEV:
            self.schedule(self._unregister_devices(driver))
        driver.proc_entry = False
        if driver in self.proc_drivers:
            self.proc_drivers.remove(driver)
        if driver.flags & TtyDriverFlag.DYNAMIC_ALLOC and driver.cdevs[0] is not None:
            self.chrdev.cdev_del(driver.cdevs[0])
            driver.cdevs[0] = None

    async def _unregister_devices(self, driver: TtyDriver) -> None:
        for index in range(driver.num):
            await self.unregister_device(driver, index)

    # -- /proc/tty ----------------------------------------------------------------------------

    def show_drivers(self) -> str:
        """/proc/tty/drivers (show_tty_driver): a line per driver and major.  Context: atomic."""
        lines: list[str] = []
        for driver in self.drivers:
            start = mkdev(driver.major, driver.minor_start)
            end = start + driver.num
            while dev_major(start) < dev_major(end):
                nxt = mkdev(dev_major(start) + 1, 0)
                lines.append(_tty_range(driver, start, nxt - start))
                start = nxt
            if start != end:
                lines.append(_tty_range(driver, start, end - start))
        return "".join(lines)

    def _driver_entries(self) -> Mapping[str, Node]:
        """/proc/tty/driver: the proc_show text of each driver that has one."""
        return {d.driver_name: Attr(show=_proc_show(d), mode=0o444)
                for d in self.proc_drivers}


def _proc_show(driver: TtyDriver) -> Callable[[], str]:
    def show() -> str:
        assert driver.ops.proc_show is not None
        return driver.ops.proc_show(driver)
    return show


_SUBTYPES: Final[dict[tuple[TtyDriverType, int], str]] = {
    (TtyDriverType.SYSTEM, SystemType.TTY): "system:/dev/tty",
    (TtyDriverType.SYSTEM, SystemType.SYSCONS): "system:console",
    (TtyDriverType.SYSTEM, SystemType.CONSOLE): "system:vtmaster",
    (TtyDriverType.PTY, PtyType.MASTER): "pty:master",
    (TtyDriverType.PTY, PtyType.SLAVE): "pty:slave",
}
_TYPES: Final[dict[TtyDriverType, str]] = {
    TtyDriverType.SYSTEM: "system",
    TtyDriverType.CONSOLE: "console",
    TtyDriverType.SERIAL: "serial",
    TtyDriverType.PTY: "pty",
}


def _tty_range(driver: TtyDriver, start: int, num: int) -> str:
    """show_tty_range(): "%-20s /dev/%-8s %3d %d-%d <type>" (one minor: "%3d %7d")."""
    head = f"{driver.driver_name or 'unknown':<20} /dev/{driver.name:<8} "
    major, minor = dev_major(start), dev_minor(start)
    numbers = (f"{major:3d} {minor}-{minor + num - 1} " if driver.num > 1
               else f"{major:3d} {minor:7d} ")
    kind = _SUBTYPES.get((driver.type, driver.subtype)) or _TYPES.get(driver.type) \
        or f"type:{int(driver.type)}.{driver.subtype}"
    return f"{head}{numbers}{kind}\n"


# -- drivers, devices (module functions on the running machine) ------------------------------------


def tty_alloc_driver(lines: int, flags: int = 0,
                     owner: ModuleOwner | EllipsisType | None = ...) -> TtyDriver:
    """tty_alloc_driver(): a driver of `lines` lines to fill in (driver_name, name,
    major, type, ops …) before tty_register_driver.  Raises ValueError for 0 lines, or
    more than one with UNNUMBERED_NODE.  Context: atomic."""
    return TtyDriver("", "", num=lines, flags=flags, owner=owner)


async def tty_register_driver(driver: TtyDriver) -> None:
    """tty_register_driver(): take major:minor_start .. +num-1 as a char-device region
    named `driver.name` (major 0: a dynamic major, written back), list the driver, register
    a device per line unless TTY_DRIVER_DYNAMIC_DEV, and /proc/tty/driver/<driver_name>
    when ops.proc_show is set.  Raises OSError like Linux (EBUSY: the numbers are taken,
    EINVAL) and then holds nothing.  Context: may sleep, on a machine."""
    await tty_core_of().register_driver(driver)


async def tty_unregister_driver(driver: TtyDriver) -> None:
    """tty_unregister_driver(): give back the device numbers and unlist the driver (its
    devices and proc file go with its last reference, tty_driver_kref_put).  Context: may
    sleep."""
    (driver.core or tty_core_of()).unregister_driver(driver)


def tty_driver_kref_get(driver: TtyDriver) -> TtyDriver:
    """tty_driver_kref_get().  Context: atomic."""
    driver.kref += 1
    return driver


def tty_driver_kref_put(driver: TtyDriver) -> None:
    """tty_driver_kref_put(): the last reference destructs an installed driver (devices,
    proc file, cdev).  Context: atomic."""
    driver.kref -= 1
    if driver.kref == 0 and driver.core is not None:
        driver.core.destruct_driver(driver)


async def tty_register_device(driver: TtyDriver, index: int,
                              parent: Device | None, drvdata: object = None) -> ClassDevice:
    """tty_register_device(): line `index` of a registered driver appears — the class
    device "<name><index>" of class tty under `parent` (devt major:minor_start+index; its
    uevent makes /dev/<name><index>) and its cdev with the tty file operations.  Settings
    saved from an earlier device on the line are forgotten.  Raises OSError: EINVAL for an
    index out of range (logged as Linux does), EEXIST for a name taken.  Context: may
    sleep."""
    return await (driver.core or tty_core_of()).register_device(driver, index, parent,
                                                                 drvdata)


async def tty_unregister_device(driver: TtyDriver, index: int) -> None:
    """tty_unregister_device(): the class device goes (its remove uevent deletes the
    node; files open on it stay, to be hung up by the driver), then the cdev.  Context:
    may sleep."""
    await (driver.core or tty_core_of()).unregister_device(driver, index)


def tty_devnum(tty: TtyStruct) -> int:
    """tty_devnum(): the device number of the tty's line.  Context: atomic."""
    return mkdev(tty.driver.major, tty.driver.minor_start) + tty.index


def tty_init_termios(tty: TtyStruct) -> None:
    """tty_init_termios(): the driver's init_termios, or the line's settings saved at the
    last close (without TTY_DRIVER_RESET_TERMIOS); speeds recomputed.  Context: atomic."""
    driver = tty.driver
    saved = driver.termios[tty.index]
    if driver.flags & TtyDriverFlag.RESET_TERMIOS or saved is None:
        tty.termios = driver.init_termios.copy()
    else:
        tty.termios = saved.copy()
        tty.termios.c_line = driver.init_termios.c_line
    tty.termios.c_ispeed = tty_termios_input_baud_rate(tty.termios)
    tty.termios.c_ospeed = tty_termios_baud_rate(tty.termios)


def tty_standard_install(driver: TtyDriver, tty: TtyStruct) -> int:
    """tty_standard_install(): the settings, a reference on the driver, the first open
    counted, the line's tty set.  Returns 0.  Context: may sleep."""
    tty_init_termios(tty)
    tty_driver_kref_get(driver)
    tty.count += 1
    driver.ttys[tty.index] = tty
    return 0


def tty_save_termios(tty: TtyStruct) -> None:
    """tty_save_termios(): keep the settings for the next open of the line.  Context: atomic."""
    if not tty.driver.flags & TtyDriverFlag.RESET_TERMIOS:
        tty.driver.termios[tty.index] = tty.termios.copy()


# -- line disciplines (tty_ldisc.c) ---------------------------------------------------------------


def _ldisc_open(tty: TtyStruct) -> None:
    """tty_ldisc_setup()/tty_ldisc_reinit(): a fresh N_TTY on the tty."""
    ld = NTty()
    ld.open(tty)
    tty.ldisc = ld
    tty.flags |= TTY_LDISC_OPEN


def _ldisc_kill(tty: TtyStruct) -> None:
    """tty_ldisc_kill()/tty_ldisc_release(): close the discipline; the tty has none."""
    if tty.ldisc is not None:
        tty.ldisc.close(tty)
        tty.ldisc = None
    tty.flags &= ~TTY_LDISC_OPEN


def tty_ldisc_flush(tty: TtyStruct) -> None:
    """tty_ldisc_flush(): discard the input in the flip buffer and the line discipline.
    Context: atomic."""
    tty_buffer_flush(tty, tty.ldisc)


def tty_reset_termios(tty: TtyStruct) -> None:
    """tty_reset_termios(): back to the driver's init_termios.  Context: atomic."""
    tty.termios = tty.driver.init_termios.copy()
    tty.termios.c_ispeed = tty_termios_input_baud_rate(tty.termios)
    tty.termios.c_ospeed = tty_termios_baud_rate(tty.termios)


def _ldisc_hangup(tty: TtyStruct) -> None:
    """tty_ldisc_hangup(): flush input and the driver's output, wake every sleeper, then
    the discipline is closed (a reopen makes a new one)."""
    ld = tty.ldisc
    if ld is not None:
        ld.flush_buffer(tty)
        tty_driver_flush_buffer(tty)
        if tty.flags & TTY_DO_WRITE_WAKEUP:
            ld.write_wakeup(tty)
    tty.write_wait.wake_up()
    tty.read_wait.wake_up()
    if tty.driver.flags & TtyDriverFlag.RESET_TERMIOS:
        tty_reset_termios(tty)
    _ldisc_kill(tty)


# -- hangup --------------------------------------------------------------------------------------


async def _do_tty_hangup(tty: TtyStruct) -> None:
    """__tty_hangup()."""
    await tty_lock(tty)
    try:
        if tty.flags & TTY_HUPPED:
            return
        tty.flags |= TTY_HUPPING
        for priv in list(tty.tty_files):
            if priv.file.f_op is TTY_FOPS:
                priv.file.f_op = HUNG_UP_TTY_FOPS
                priv.file.hangup.wake_up()
        _ldisc_hangup(tty)
        tty.flags &= ~(TTY_THROTTLED | TTY_DO_WRITE_WAKEUP)
        if tty.ops.hangup is not None and tty.core is not None:
            await tty.core.call(tty, "hangup", tty.ops.hangup, tty)
        tty.flags = (tty.flags | TTY_HUPPED) & ~TTY_HUPPING
    finally:
        tty_unlock(tty)


def tty_hangup(tty: TtyStruct) -> None:
    """tty_hangup(): queue a hangup of `tty` (the hangup work; once while pending).
    Context: atomic."""
    if tty.hangup_work is not None and not tty.hangup_work.done():
        return
    core = tty.core or tty_core_of()
    tty.hangup_work = core.schedule(_do_tty_hangup(tty))


async def tty_vhangup(tty: TtyStruct) -> None:
    """tty_vhangup(): hang `tty` up now: its files switch to the hung-up operations,
    sleepers are woken, the driver's hangup runs.  Context: may sleep."""
    await _do_tty_hangup(tty)


# -- open and release ----------------------------------------------------------------------------


def file_tty(file: File) -> TtyStruct:
    """file_tty(): the tty a file is open on.  Context: atomic."""
    priv = file.private_data
    assert isinstance(priv, TtyFilePrivate)
    return priv.tty


def _reopen(core: TtyCore, tty: TtyStruct) -> int:
    """tty_reopen(): another open of an open line."""
    if not tty.count:
        return -Errno.EAGAIN
    if tty.flags & TTY_EXCLUSIVE and not core.privileged:
        return -Errno.EBUSY
    if tty.ldisc is None:
        _ldisc_open(tty)
    tty.count += 1
    return 0


async def _init_dev(core: TtyCore, driver: TtyDriver, index: int) -> TtyStruct | int:
    """tty_init_dev(): a new tty for the line, installed, with its port and N_TTY;
    returned locked."""
    if not try_module_get(driver.owner):
        return -Errno.ENODEV
    tty = TtyStruct(driver, index, core)
    tty.dev = core.classes.find_device(core.tty_class, tty_devnum(tty))
    await tty_lock(tty)
    if driver.ops.install is not None:
        retval = await core.call(tty, "install", driver.ops.install, driver, tty)
    else:
        retval = tty_standard_install(driver, tty)
    if retval < 0:
        tty_unlock(tty)
        module_put(driver.owner)
        return retval
    if tty.port is None:
        tty.port = driver.ports[index]
    if tty.port is None:
        core.log.log(Level.WARNING, f"tty_init_dev: {driver.name} driver does not set "
                                    "tty->port. This would crash the kernel. Fix the driver!")
        tty_unlock(tty)
        await _release_tty(tty, index)
        return -Errno.EINVAL
    tty.port.itty = tty
    _ldisc_open(tty)
    return tty


async def _open_by_driver(core: TtyCore, device: int) -> TtyStruct | int:
    """tty_open_by_driver(): the line's tty, reopened or new; returned locked."""
    async with core.tty_mutex:
        found = core.lookup_driver(device)
        if found is None:
            return -Errno.ENODEV
        driver, index = found
        tty = driver.ttys[index]
        if tty is None:
            return await _init_dev(core, driver, index)
    await tty_lock(tty)
    retval = _reopen(core, tty)
    if retval < 0:
        tty_unlock(tty)
        return retval
    return tty


async def tty_open(inode: Inode, file: File) -> int:
    """tty_open(): open a tty line (the file operation): -ENODEV when no driver has the
    number (or the driver has no open), -EBUSY for TIOCEXCL, -EIO / -ENXIO / others as the
    driver's install and open return; a hangup while the open waits for carrier makes it
    start over.  Context: may sleep."""
    core = tty_core_of()
    nonseekable_open(inode, file)
    file.revoke_on_remove = False
    saved_flags = file.f_flags
    while True:
        found = await _open_by_driver(core, inode.i_rdev)
        if isinstance(found, int):
            if found != -Errno.EAGAIN:
                return found
            await asyncio.sleep(0)
            continue
        tty = found
        priv = TtyFilePrivate(tty, file)
        file.private_data = priv
        tty.tty_files.append(priv)
        if tty.ops.open is not None:
            retval = await core.call(tty, "open", tty.ops.open, tty, file)
        else:
            retval = -Errno.ENODEV
        file.f_flags = saved_flags
        if not retval:
            tty.flags &= ~TTY_HUPPED
            tty_unlock(tty)
            return 0
        tty_unlock(tty)
        await tty_release(inode, file)
        if retval != -Errno.ERESTARTSYS:
            return retval
        await asyncio.sleep(0)
        if tty_hung_up_p(file):
            file.f_op = TTY_FOPS


async def _wake_sleepers(tty: TtyStruct) -> None:
    """The last close wakes whoever still sleeps on the tty and gives them time to go;
    sleepers that stay are reported (a woken poll of the closing file goes by itself)."""
    timeout, warned = 0, False
    while tty.count <= 1:
        queues = [wq for wq in (tty.read_wait, tty.write_wait) if wq.waitqueue_active()]
        if not queues:
            return
        for wq in queues:
            wq.wake_up()
        if timeout and not warned:
            warned = True
            tty_msg(tty, Level.WARNING, "read/write wait queue active!")
        await asyncio.sleep(timeout / HZ)
        timeout = 2 * timeout + 1 if timeout < 120 * HZ else timeout


async def _release_tty(tty: TtyStruct, index: int) -> None:
    """release_tty(): the driver's shutdown, settings saved, the line freed, the port
    let go, the tty's reference dropped."""
    core = tty.core
    if tty.ops.shutdown is not None and core is not None:
        await core.call(tty, "shutdown", tty.ops.shutdown, tty)
    tty_save_termios(tty)
    if tty.ops.remove is not None and core is not None:
        await core.call(tty, "remove", tty.ops.remove, tty.driver, tty)
    else:
        tty.driver.ttys[index] = None
    if tty.port is not None:
        tty.port.itty = None
        tty_buffer_cancel_work(tty.port)
    tty_kref_put(tty)


async def tty_release(inode: Inode, file: File) -> int:
    """tty_release(): a file on the tty is closed — the driver's close; on the last, the
    line discipline is closed, pending hangup work finished and the tty released (the
    driver's shutdown, then, once nothing refers to it, its cleanup).  Returns 0.
    Context: may sleep."""
    priv = file.private_data
    if not isinstance(priv, TtyFilePrivate):
        return 0
    tty = priv.tty
    core = tty.core
    await tty_lock(tty)
    index = tty.index
    if not 0 <= index < tty.driver.num or tty.driver.ttys[index] is not tty:
        tty_unlock(tty)
        return 0
    if tty.ops.close is not None and core is not None:
        await core.call(tty, "close", tty.ops.close, tty, file)
    await _wake_sleepers(tty)
    tty.count -= 1
    if tty.count < 0:
        tty_msg(tty, Level.WARNING, f"tty_release: bad tty->count ({tty.count})")
        tty.count = 0
    if priv in tty.tty_files:
        tty.tty_files.remove(priv)
    file.private_data = None
    final = tty.count == 0
    tty_unlock(tty)
    if final:
        _ldisc_kill(tty)
        work = tty.hangup_work
        if work is not None and not work.done() and work is not asyncio.current_task():
            await asyncio.wait([work])
        if core is not None:
            async with core.tty_mutex:
                await _release_tty(tty, index)
    return 0


# -- read, write, poll ---------------------------------------------------------------------------


async def tty_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    """tty_read(): read through the line discipline; -EIO on an I/O error, 0 without a
    discipline (hung up).  Context: may sleep."""
    tty = file_tty(file)
    if tty_io_error(tty):
        return -Errno.EIO
    ld = tty.ldisc
    if ld is None:
        return 0
    return await ld.read(tty, file, buf[:count])


async def tty_write(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    """tty_write(): write through the line discipline in chunks of 2048 bytes (65536
    with TTY_NO_WRITE_SPLIT), one writer at a time (O_NONBLOCK: -EAGAIN while another
    writes).  Returns the bytes written, or -EIO (no write method, an I/O error, hung
    up).  Context: may sleep."""
    tty = file_tty(file)
    if tty.ops.write is None or tty_io_error(tty):
        return -Errno.EIO
    if tty.ops.write_room is None:
        tty_msg(tty, Level.ERR, "missing write_room method")
    ld = tty.ldisc
    if ld is None:
        return -Errno.EIO
    ret = await tty_write_lock(tty, bool(file.f_flags & O_NONBLOCK))
    if ret < 0:
        return ret
    try:
        chunk = 65536 if tty.flags & TTY_NO_WRITE_SPLIT else 2048
        data = buf[:count]
        written = 0
        while True:
            size = min(chunk, count - written)
            ret = await ld.write(tty, file, data[written:written + size])
            if ret <= 0:
                break
            written += ret
            if ret > size or written == count:
                break
        return written or ret
    finally:
        tty_write_unlock(tty)


def tty_poll(file: File, table: PollTable | None) -> int:
    """tty_poll(): the line discipline's poll (hung up: everything).  Context: atomic."""
    tty = file_tty(file)
    if tty.ldisc is None:
        return hung_up_tty_poll(file, table)
    return int(tty.ldisc.poll(tty, file, table))


# -- ioctl ---------------------------------------------------------------------------------------

#: A tty_ioctl case that goes on to the driver and the line discipline (TCFLSH).
_PASS_ON: Final = -(1 << 40)


async def _send_break(tty: TtyStruct, duration: int) -> int:
    """send_break(): break on, `duration` ms, break off (or the driver times it with
    TTY_DRIVER_HARDWARE_BREAK); -EOPNOTSUPP from the driver counts as done."""
    op, core = tty.ops.break_ctl, tty.core
    if op is None or core is None:
        return 0
    if tty.driver.flags & TtyDriverFlag.HARDWARE_BREAK:
        return await core.call(tty, "break_ctl", op, tty, duration)
    await tty_write_lock(tty, False)
    try:
        retval = await core.call(tty, "break_ctl", op, tty, -1)
        if not retval:
            await asyncio.sleep(duration / HZ)
            retval = await core.call(tty, "break_ctl", op, tty, 0)
        elif retval == -Errno.EOPNOTSUPP:
            retval = 0
        return retval
    finally:
        tty_write_unlock(tty)


async def _break_ctl(tty: TtyStruct, state: int) -> int:
    if tty.ops.break_ctl is None or tty.core is None:
        return 0
    return await tty.core.call(tty, "break_ctl", tty.ops.break_ctl, tty, state)


async def _tcsbrk(tty: TtyStruct, file: File, arg: Any) -> int:
    """TCSBRK: 0 sends a break of 250 ms; anything else only waits for the output
    (tcdrain)."""
    return await _send_break(tty, BREAK_DURATION_MS) if arg == 0 else 0


async def _tcsbrkp(tty: TtyStruct, file: File, arg: Any) -> int:
    """TCSBRKP: a break of `arg` tenths of a second (0: 250 ms)."""
    if not isinstance(arg, int):
        return -Errno.EINVAL
    return await _send_break(tty, arg * 100 if arg else BREAK_DURATION_MS)


async def _tiocmget(tty: TtyStruct, file: File, arg: Any) -> int:
    if tty.ops.tiocmget is None or tty.core is None:
        return -Errno.ENOTTY
    retval = await tty.core.call(tty, "tiocmget", tty.ops.tiocmget, tty)
    return put_user_int(arg, retval) if retval >= 0 else retval


def _tiocmset(cmd: int) -> Callable[[TtyStruct, File, Any], Awaitable[int]]:
    """TIOCMBIS, TIOCMBIC, TIOCMSET: the settable lines (DTR, RTS, OUT1, OUT2, LOOP)
    through the driver's tiocmset."""
    async def handler(tty: TtyStruct, file: File, arg: Any) -> int:
        if tty.ops.tiocmset is None or tty.core is None:
            return -Errno.ENOTTY
        val = get_user_int(arg)
        if val is None:
            return -Errno.EFAULT
        val &= 0xFFFFFFFF
        set_, clear = {TIOCMBIS: (val, 0), TIOCMBIC: (0, val),
                       TIOCMSET: (val, ~val & 0xFFFFFFFF)}[cmd]
        return await tty.core.call(tty, "tiocmset", tty.ops.tiocmset, tty,
                                   set_ & TIOCM_SETTABLE, clear & TIOCM_SETTABLE)
    return handler


async def _tiocgicount(tty: TtyStruct, file: File, arg: Any) -> int:
    if tty.ops.get_icount is None or tty.core is None:
        return -Errno.ENOTTY
    icount = SerialIcounter()
    retval = await tty.core.call(tty, "get_icount", tty.ops.get_icount, tty, icount)
    if retval:
        return retval
    return -Errno.EFAULT if copy_to_user_arg(arg, icount.pack()) else 0


async def _tiocgserial(tty: TtyStruct, file: File, arg: Any) -> int:
    if tty.ops.get_serial is None or tty.core is None:
        return -Errno.ENOTTY
    ss = SerialStruct()
    retval = await tty.core.call(tty, "get_serial", tty.ops.get_serial, tty, ss)
    if retval:
        return retval
    return -Errno.EFAULT if copy_to_user_arg(arg, ss.pack()) else 0


async def _tiocsserial(tty: TtyStruct, file: File, arg: Any) -> int:
    data = copy_from_user_arg(arg, SerialStruct.SIZE)
    if data is None:
        return -Errno.EFAULT
    if tty.ops.set_serial is None or tty.core is None:
        return -Errno.ENOTTY
    return await tty.core.call(tty, "set_serial", tty.ops.set_serial, tty,
                               SerialStruct.unpack(data))


async def _tiocgwinsz(tty: TtyStruct, file: File, arg: Any) -> int:
    return -Errno.EFAULT if copy_to_user_arg(arg, tty.winsize.pack()) else 0


async def _tiocswinsz(tty: TtyStruct, file: File, arg: Any) -> int:
    """TIOCSWINSZ: the driver's resize, else tty_do_resize (no SIGWINCH: no processes)."""
    data = copy_from_user_arg(arg, Winsize.SIZE)
    if data is None:
        return -Errno.EFAULT
    ws = Winsize.unpack(data)
    if tty.ops.resize is not None and tty.core is not None:
        return await tty.core.call(tty, "resize", tty.ops.resize, tty, ws)
    tty.winsize = ws
    return 0


async def _exclusive(tty: TtyStruct, on: bool) -> int:
    tty.flags = tty.flags | TTY_EXCLUSIVE if on else tty.flags & ~TTY_EXCLUSIVE
    return 0


async def _tiocvhangup(tty: TtyStruct, file: File, arg: Any) -> int:
    if tty.core is not None and not tty.core.privileged:
        return -Errno.EPERM
    await tty_vhangup(tty)
    return 0


def _new_encode_dev(dev: int) -> int:
    major, minor = dev_major(dev), dev_minor(dev)
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


async def _tcflsh(tty: TtyStruct, file: File, arg: Any) -> int:
    """TCFLSH: the flip buffer is emptied here; the driver and the discipline do the
    rest."""
    if arg in (TCIFLUSH, TCIOFLUSH):
        tty_buffer_flush(tty, None)
    return _PASS_ON


_TtyIoctl = Callable[[TtyStruct, File, Any], Awaitable[int]]

_TTY_IOCTLS: Final[dict[int, _TtyIoctl]] = {
    TIOCGWINSZ: _tiocgwinsz,
    TIOCSWINSZ: _tiocswinsz,
    TIOCEXCL: lambda tty, file, arg: _exclusive(tty, True),
    TIOCNXCL: lambda tty, file, arg: _exclusive(tty, False),
    TIOCGEXCL: lambda tty, file, arg: _put(arg, int(bool(tty.flags & TTY_EXCLUSIVE))),
    TIOCVHANGUP: _tiocvhangup,
    TIOCGDEV: lambda tty, file, arg: _put(arg, _new_encode_dev(tty_devnum(tty))),
    TIOCSBRK: lambda tty, file, arg: _break_ctl(tty, -1),
    TIOCCBRK: lambda tty, file, arg: _break_ctl(tty, 0),
    TCSBRK: _tcsbrk,
    TCSBRKP: _tcsbrkp,
    TIOCMGET: _tiocmget,
    TIOCMSET: _tiocmset(TIOCMSET),
    TIOCMBIC: _tiocmset(TIOCMBIC),
    TIOCMBIS: _tiocmset(TIOCMBIS),
    TIOCGICOUNT: _tiocgicount,
    TCFLSH: _tcflsh,
    TIOCSSERIAL: _tiocsserial,
    TIOCGSERIAL: _tiocgserial,
}
"""tty_ioctl()'s own cases."""


async def _put(arg: Any, value: int) -> int:
    return put_user_int(arg, value)


#: Commands that wait for the output to drain first (TIOCCBRK does not).
_DRAIN_FIRST: Final = frozenset({TIOCSETD, TIOCSBRK, TCSBRK, TCSBRKP})


async def tty_ioctl(file: File, cmd: int, arg: Any) -> int:
    """tty_ioctl(): the tty's own ioctls (window size, TIOCEXCL, breaks on machine time,
    modem lines, TIOCGICOUNT, serial info …), else the driver's ioctl, else the line
    discipline's (settings, FIONREAD, TIOCOUTQ, TCXONC, TCFLSH); -ENOTTY when nobody
    knows the command.  Context: may sleep."""
    tty = file_tty(file)
    if cmd in _DRAIN_FIRST:
        await tty_wait_until_sent(tty, 0)
    handler = _TTY_IOCTLS.get(cmd)
    if handler is not None:
        retval = await handler(tty, file, arg)
        if retval != _PASS_ON:
            return retval
    if tty.ops.ioctl is not None and tty.core is not None:
        retval = await tty.core.call(tty, "ioctl", tty.ops.ioctl, tty, cmd, arg)
        if retval != -ENOIOCTLCMD:
            return retval
    ld = tty.ldisc
    if ld is None:
        return hung_up_tty_ioctl(file, cmd, arg)
    retval = await ld.ioctl(tty, cmd, arg)
    return -Errno.ENOTTY if retval == -ENOIOCTLCMD else retval


#: tty_fops: the file operations of every tty device node.
TTY_FOPS: Final = FileOperations(owner=None, open=tty_open, release=tty_release,
                                 read=tty_read, write=tty_write, unlocked_ioctl=tty_ioctl,
                                 poll=tty_poll)
#: hung_up_tty_fops: what a file of a hung-up tty is switched to.
HUNG_UP_TTY_FOPS: Final = FileOperations(owner=None, release=tty_release,
                                         read=hung_up_tty_read, write=hung_up_tty_write,
                                         unlocked_ioctl=hung_up_tty_ioctl,
                                         poll=hung_up_tty_poll)
