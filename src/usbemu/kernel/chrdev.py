"""Character devices and open files — counterpart of fs/char_dev.c, of `struct inode`,
`struct file` and `struct file_operations` (include/linux/fs.h), and of the system calls
that reach them: open/close (fs/open.c), read/write/lseek (fs/read_write.c), ioctl
(fs/ioctl.c) and poll (fs/select.c).

`CharDevices` is one machine's char-device registry: regions of device numbers
(register_chrdev_region, alloc_chrdev_region — majors, minors, and Linux's "Device or
resource busy" for a range that overlaps one already registered), the cdev map (cdev_add,
cdev_del) and register_chrdev for the common case.  Opening a device number finds its cdev
(chrdev_open: -ENXIO when there is none), takes references on the modules owning the cdev
and the file operations (so a module with open files cannot be unloaded), and calls the
driver's `open`.  A driver's file operations are plain functions or coroutines: open,
release, read, write, unlocked_ioctl and llseek run in process context and may sleep;
`poll` is atomic and registers its wait queues with `poll_wait`.  A driver operation that
raises OSError fails the call with that errno; anything else it raises is logged like an
oops (with the traceback) and the call fails with -EIO — the machine goes on.

The system-call methods (`open`, `read`, `write`, `ioctl`, `poll`, `llseek`, `close`)
return what the kernel returns (a count or a negative errno).  `AsyncFile` and `SyncFile`
are what an application holds: file objects whose methods raise OSError with Linux's errno,
opened by path through `System.aopen()` / `System.open()` (the emulation layer's
opn_dev/cls_dev).  Device nodes, sysfs attributes and directories can be opened.

One deliberate difference from Linux: when the device behind a device number is removed
(its `remove` uevent — usb_deregister_dev in a disconnect, for instance), the files open on
it are revoked: every later read, write, ioctl and lseek gets -ENODEV and poll reports
POLLERR | POLLHUP without calling the driver; close still calls `release`.  Linux keeps
calling the driver's operations and leaves it to each driver to notice the disconnect
(usb-skeleton's `disconnected` flag returns -ENODEV); usbemu gives every driver that
behaviour, so a driver that forgets (the article's pen driver) is never called for a dead
device.  Not modelled: file-descriptor tables, dup and fork, locks, mmap, fasync, splice,
compat ioctls, permission checks (the caller is root), /proc/devices.
"""

from __future__ import annotations

import asyncio
import inspect
import stat as stat_mod
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Any, Final, Protocol, TypeAlias, TypeVar

from ..errors import Errno, strerror
from .device import DriverCore, Uevent
from .module import this_module
from .printk import Level
from .vfs import Attr, DevNode, Symlink, Vfs, fs_error
from .wait import DEFAULT_POLLMASK, Poll, PollTable, WaitQueueHead, poll_wait

# -- device numbers (include/linux/kdev_t.h, fs/char_dev.c) ------------------------------------

MINORBITS: Final = 20
MINORMASK: Final = (1 << MINORBITS) - 1
CHRDEV_MAJOR_MAX: Final = 512
CHRDEV_MAJOR_HASH_SIZE: Final = 255
#: Dynamic majors: 254 down to 234, then 511 down to 384 (find_dynamic_major).
CHRDEV_MAJOR_DYN_END: Final = 234
CHRDEV_MAJOR_DYN_EXT_START: Final = 511
CHRDEV_MAJOR_DYN_EXT_END: Final = 384


def mkdev(major: int, minor: int) -> int:
    """MKDEV(major, minor): a dev_t."""
    return major << MINORBITS | minor


def dev_major(dev: int) -> int:
    """MAJOR(dev)."""
    return dev >> MINORBITS


def dev_minor(dev: int) -> int:
    """MINOR(dev)."""
    return dev & MINORMASK


def format_dev(dev: int) -> str:
    """print_dev_t(): "major:minor", as a sysfs `dev` file shows it (without the newline)."""
    return f"{dev_major(dev)}:{dev_minor(dev)}"


# -- open flags, file modes, seek, ioctl numbers (uapi fcntl.h, fs.h, ioctl.h) ------------------

O_ACCMODE: Final = 0o3
O_RDONLY: Final = 0o0
O_WRONLY: Final = 0o1
O_RDWR: Final = 0o2
O_CREAT: Final = 0o100
O_EXCL: Final = 0o200
O_NOCTTY: Final = 0o400
O_TRUNC: Final = 0o1000
O_APPEND: Final = 0o2000
O_NONBLOCK: Final = 0o4000
O_SYNC: Final = 0o4010000
O_CLOEXEC: Final = 0o2000000

SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE = 0, 1, 2, 3, 4
SEEK_MAX: Final = SEEK_HOLE

#: The ioctl a driver returns for "not mine" (-ENOIOCTLCMD); user space sees -ENOTTY.
ENOIOCTLCMD: Final = 515
_RESTART_CODES: Final = frozenset({512, 513, 514, 516})  # ERESTARTSYS … ERESTART_RESTARTBLOCK
#: The most one read or write moves (MAX_RW_COUNT = INT_MAX & PAGE_MASK).
MAX_RW_COUNT: Final = 0x7FFFF000

FIONBIO: Final = 0x5421
FIONCLEX: Final = 0x5450
FIOCLEX: Final = 0x5451

_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2


def ioc(direction: int, type: int | str, nr: int, size: int) -> int:
    """_IOC(dir, type, nr, size): dir in bits 30–31, size 16–29, type 8–15, nr 0–7."""
    code = ord(type) if isinstance(type, str) else type
    if not (0 <= nr < 256 and 0 <= code < 256 and 0 <= size < 1 << 14 and 0 <= direction < 4):
        raise ValueError(f"_IOC({direction}, {type!r}, {nr}, {size}): a field is out of range")
    return direction << 30 | size << 16 | code << 8 | nr


def io(type: int | str, nr: int) -> int:
    """_IO(type, nr)."""
    return ioc(_IOC_NONE, type, nr, 0)


def ior(type: int | str, nr: int, size: int) -> int:
    """_IOR(type, nr, sizeof(arg)): the driver writes `size` bytes to user space."""
    return ioc(_IOC_READ, type, nr, size)


def iow(type: int | str, nr: int, size: int) -> int:
    """_IOW(type, nr, sizeof(arg)): the driver reads `size` bytes from user space."""
    return ioc(_IOC_WRITE, type, nr, size)


def iowr(type: int | str, nr: int, size: int) -> int:
    """_IOWR(type, nr, sizeof(arg))."""
    return ioc(_IOC_READ | _IOC_WRITE, type, nr, size)


class FMode(IntFlag):
    """fmode_t bits of a struct file (kernel-internal)."""

    READ = 0x1
    WRITE = 0x2
    LSEEK = 0x4
    PREAD = 0x8
    PWRITE = 0x10
    STREAM = 0x200000


# -- module references --------------------------------------------------------------------------


class ModuleOwner(Protocol):
    """What `owner` of a cdev or of file operations must offer (struct module's reference
    count): try_module_get() fails while the module is going away."""

    def try_module_get(self) -> bool: ...

    def module_put(self) -> None: ...


def try_module_get(owner: ModuleOwner | None) -> bool:
    """try_module_get(): True when `owner` is None (built in) or granted a reference."""
    return owner is None or owner.try_module_get()


def module_put(owner: ModuleOwner | None) -> None:
    """module_put(): give back a reference taken with `try_module_get`."""
    if owner is not None:
        owner.module_put()


# -- inodes, files, file operations -------------------------------------------------------------

Buffer: TypeAlias = bytes | bytearray | memoryview


class Inode:
    """struct inode of a device node: its device number (`i_rdev`), the cdev it was
    opened through (`i_cdev`), and how many files are open on it (`open_count`)."""

    def __init__(self, rdev: int = 0, mode: int = stat_mod.S_IFCHR | 0o600) -> None:
        self.i_rdev = rdev
        self.i_mode = mode
        self.i_cdev: Cdev | None = None
        self.i_size = 0
        self.i_private: Any = None
        self.open_count = 0

    def __repr__(self) -> str:
        return f"<Inode {format_dev(self.i_rdev)} open={self.open_count}>"


def iminor(inode: Inode) -> int:
    """iminor(inode): the minor of the device node."""
    return dev_minor(inode.i_rdev)


def imajor(inode: Inode) -> int:
    """imajor(inode): the major of the device node."""
    return dev_major(inode.i_rdev)


@dataclass
class Loff:
    """`loff_t *ppos` of read, write: the position the call works at.  A driver reads
    `ppos.pos` and advances it (`*ppos += n` in C); the file's f_pos follows."""

    pos: int = 0


OpenOp: TypeAlias = "Callable[[Inode, File], int | Awaitable[int | None] | None]"
ReadOp: TypeAlias = "Callable[[File, memoryview, int, Loff], int | Awaitable[int]]"
WriteOp: TypeAlias = "Callable[[File, memoryview, int, Loff], int | Awaitable[int]]"
IoctlOp: TypeAlias = "Callable[[File, int, Any], int | Awaitable[int | None] | None]"
PollOp: TypeAlias = "Callable[[File, PollTable | None], int]"
LlseekOp: TypeAlias = "Callable[[File, int, int], int | Awaitable[int]]"


@dataclass(frozen=True, eq=False)
class FileOperations:
    """struct file_operations: what a driver does for open files; every member optional.

    - `open(inode, file)`, `release(inode, file)`: 0 / None or a negative errno (may sleep).
    - `read(file, buf, count, ppos)`: fill the user buffer `buf` (a writable memoryview of
      `count` bytes; `copy_to_user`) and return the bytes read, or a negative errno.
    - `write(file, buf, count, ppos)`: take bytes from `buf` (read-only memoryview;
      `copy_from_user`), return the bytes written or a negative errno.
    - `unlocked_ioctl(file, cmd, arg)`: `arg` is what the application passed (an int or a
      mutable buffer); a value >= 0 or a negative errno (-ENOIOCTLCMD: not mine).
    - `poll(file, table)`: atomic; call `poll_wait(file, wq, table)` for each queue that
      a change would be announced on and return the current mask (`Poll` bits).
    - `llseek(file, offset, whence)`: the new position or a negative errno
      (`noop_llseek`, `default_llseek`, `fixed_size_llseek` are ready-made).

    Without `read` (`write`) a read (write) is -EINVAL, without `unlocked_ioctl` an
    ioctl is -ENOTTY, without `poll` the file is always readable and writable, without
    `llseek` lseek is -ESPIPE.  `owner` is the module whose reference an open file holds
    (so that rmmod fails with -EBUSY meanwhile); operations built by a module's code get
    that module (THIS_MODULE) unless `owner` is given.
    """

    owner: ModuleOwner | None = field(default_factory=this_module)
    open: OpenOp | None = None
    release: OpenOp | None = None
    read: ReadOp | None = None
    write: WriteOp | None = None
    unlocked_ioctl: IoctlOp | None = None
    poll: PollOp | None = None
    llseek: LlseekOp | None = None


class File:
    """struct file: one open of a node — position (`f_pos`), flags (`f_flags`, the open
    flags), mode (`f_mode`, FMode bits), the driver's file operations (`f_op`) and its
    `private_data`.  `gone` is set when the device behind it is removed."""

    def __init__(self, inode: Inode, flags: int, path: str, fops: FileOperations) -> None:
        self.f_inode = inode
        self.f_path = path
        self.f_flags = flags
        # OPEN_FMODE(flags): O_RDONLY → read, O_WRONLY → write, O_RDWR → both, 3 → neither
        self.f_mode = FMode((flags + 1) & O_ACCMODE) | FMode.LSEEK | FMode.PREAD | FMode.PWRITE
        self.f_op = fops
        self.f_pos = 0
        self.private_data: Any = None
        self.gone = False
        self.closed = False
        #: Woken when the file is revoked, so that a sleeping poll notices.
        self.hangup = WaitQueueHead()
        self._cdev: Cdev | None = None
        self._busy = 0
        self._released = False

    def __repr__(self) -> str:
        state = "closed" if self.closed else "gone" if self.gone else "open"
        return f"<File {self.f_path or format_dev(self.f_inode.i_rdev)} {state}>"


def file_inode(file: File) -> Inode:
    return file.f_inode


def fops_get(fops: FileOperations | None) -> FileOperations | None:
    """fops_get(): `fops` with a reference on its owner, or None (no fops, or the owner is
    going away)."""
    if fops is None or not try_module_get(fops.owner):
        return None
    return fops


def fops_put(fops: FileOperations | None) -> None:
    if fops is not None:
        module_put(fops.owner)


def replace_fops(file: File, fops: FileOperations) -> None:
    """replace_fops(): switch `file` to `fops` (already taken with `fops_get`), dropping
    the reference on the old ones — what usb_open and other multiplexers do in open."""
    fops_put(file.f_op)
    file.f_op = fops


def nonseekable_open(inode: Inode, file: File) -> int:
    """nonseekable_open(): lseek, pread and pwrite fail with -ESPIPE on this file."""
    file.f_mode &= ~(FMode.LSEEK | FMode.PREAD | FMode.PWRITE)
    return 0


def stream_open(inode: Inode, file: File) -> int:
    """stream_open(): a stream — no position at all (reads and writes ignore f_pos)."""
    file.f_mode = (file.f_mode & ~(FMode.LSEEK | FMode.PREAD | FMode.PWRITE)) | FMode.STREAM
    return 0


def noop_llseek(file: File, offset: int, whence: int) -> int:
    """noop_llseek(): lseek succeeds and leaves the position where it is."""
    return file.f_pos


def no_llseek(file: File, offset: int, whence: int) -> int:
    """no_llseek(): -ESPIPE."""
    return -Errno.ESPIPE


def default_llseek(file: File, offset: int, whence: int) -> int:
    """default_llseek(): SEEK_SET/CUR/END (END relative to the inode's size, 0 for a
    device), SEEK_DATA/HOLE; a negative result is -EINVAL."""
    size = file.f_inode.i_size
    if whence == SEEK_END:
        offset += size
    elif whence == SEEK_CUR:
        if offset == 0:
            return file.f_pos
        offset += file.f_pos
    elif whence in (SEEK_DATA, SEEK_HOLE):
        if offset >= size:
            return -Errno.ENXIO
        if whence == SEEK_HOLE:
            offset = size
    if offset < 0:
        return -Errno.EINVAL
    file.f_pos = offset
    return offset


def fixed_size_llseek(file: File, offset: int, whence: int, size: int) -> int:
    """fixed_size_llseek(): a device of `size` bytes; positions outside 0..size are
    -EINVAL, SEEK_DATA/HOLE as for a file without holes."""
    if whence == SEEK_CUR:
        offset += file.f_pos
    elif whence == SEEK_END:
        offset += size
    elif whence in (SEEK_DATA, SEEK_HOLE):
        if offset < 0 or offset >= size:
            return -Errno.ENXIO
        if whence == SEEK_HOLE:
            offset = size
    elif whence != SEEK_SET:
        return -Errno.EINVAL
    if offset < 0 or offset > size:
        return -Errno.EINVAL
    file.f_pos = offset
    return offset


def copy_to_user(to: bytearray | memoryview, frm: Buffer, n: int) -> int:
    """copy_to_user(to, from, n): copy `n` bytes of kernel data `frm` into the user buffer
    `to`.  Returns the number of bytes that could NOT be copied (0 on success): a user
    buffer shorter than `n` is a bad user address, copied up to its end.  Raises ValueError
    when `frm` holds fewer than the bytes to copy (a driver bug).  Context: may sleep."""
    if n < 0:
        raise ValueError(f"copy_to_user: negative length {n}")
    k = min(n, len(to))
    if len(frm) < k:
        raise ValueError(f"copy_to_user: {n} bytes asked, the kernel buffer holds {len(frm)}")
    memoryview(to).cast("B")[:k] = memoryview(frm).cast("B")[:k]
    return n - k


def copy_from_user(to: bytearray | memoryview, frm: Buffer, n: int) -> int:
    """copy_from_user(to, from, n): copy `n` bytes of the user buffer `frm` into kernel
    memory `to`.  Returns the bytes NOT copied (0 on success; a short user buffer is a bad
    address).  Raises ValueError when `to` has no room for them (a driver bug)."""
    if n < 0:
        raise ValueError(f"copy_from_user: negative length {n}")
    k = min(n, len(frm))
    if len(to) < k:
        raise ValueError(f"copy_from_user: {n} bytes asked, the kernel buffer holds {len(to)}")
    memoryview(to).cast("B")[:k] = memoryview(frm).cast("B")[:k]
    return n - k


# -- cdevs and regions ----------------------------------------------------------------------------


class Cdev:
    """struct cdev: file operations reachable through a range of device numbers once
    `cdev_add`ed.  `owner` is the module pinned while a file is open through it."""

    def __init__(self, ops: FileOperations | None = None, owner: ModuleOwner | None = None,
                 name: str = "") -> None:
        self.ops = ops
        self.owner = owner
        self.name = name
        self.dev = 0
        self.count = 0

    def __repr__(self) -> str:
        return f"<Cdev {self.name or '?'} {format_dev(self.dev)}+{self.count}>"


@dataclass
class CharRegion:
    """struct char_device_struct: minors baseminor..baseminor+minorct-1 of one major,
    registered under a name; `cdev` when made by register_chrdev."""

    major: int
    baseminor: int
    minorct: int
    name: str
    cdev: Cdev | None = None


def _error(code: int, detail: str = "") -> OSError:
    return OSError(abs(code), strerror(code) + (f": {detail}" if detail else ""))


def _where(file: File) -> str:
    return file.f_path or repr(file)


def _name_of(fn: object) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or fn)


_T = TypeVar("_T")


class CharDevices:
    """The char-device registry of one machine (fs/char_dev.c) and the system calls on
    open files.  Context: registration is atomic; `open`, `read`, `write`, `ioctl`,
    `poll`, `llseek` and `close` may sleep (they call the driver)."""

    def __init__(self, driver_core: DriverCore) -> None:
        self._driver_core = driver_core
        self.log = driver_core.log
        self._regions: list[CharRegion] = []
        #: kobj_map: (first dev, range, cdev), smallest range first, newest first among equals.
        self._map: list[tuple[int, int, Cdev]] = []
        self._inodes: dict[int, Inode] = {}
        self._files: dict[int, set[File]] = {}
        driver_core.listeners.append(self._on_uevent)

    # -- regions (register_chrdev_region & co.) --------------------------------------------------

    def regions(self) -> list[CharRegion]:
        """The registered regions, by major then first minor."""
        return sorted(self._regions, key=lambda r: (r.major, r.baseminor))

    def _find_dynamic_major(self) -> int:
        used = {r.major for r in self._regions}
        slots = {m % CHRDEV_MAJOR_HASH_SIZE for m in used}
        for i in range(CHRDEV_MAJOR_HASH_SIZE - 1, CHRDEV_MAJOR_DYN_END - 1, -1):
            if i not in slots:
                return i
        for i in range(CHRDEV_MAJOR_DYN_EXT_START, CHRDEV_MAJOR_DYN_EXT_END - 1, -1):
            if i not in used:
                return i
        return -Errno.EBUSY

    def _register_region(self, major: int, baseminor: int, minorct: int,
                         name: str) -> CharRegion:
        """__register_chrdev_region(): major 0 asks for a dynamic one.  Raises OSError:
        EINVAL for a major >= 512 or a range beyond the minors of one major, EBUSY for an
        overlap or when no dynamic major is left."""
        if major >= CHRDEV_MAJOR_MAX or major < 0:
            self.log.log(Level.ERR, f'CHRDEV "{name}" major requested ({major}) is greater '
                                    f"than the maximum ({CHRDEV_MAJOR_MAX - 1})")
            raise _error(-Errno.EINVAL, f"major {major}")
        if minorct <= 0 or baseminor < 0 or minorct > MINORMASK + 1 - baseminor:
            self.log.log(Level.ERR, f'CHRDEV "{name}" minor range requested ({baseminor}-'
                                    f"{baseminor + minorct - 1}) is out of range of maximum "
                                    f"range (0-{MINORMASK}) for a single major")
            raise _error(-Errno.EINVAL, f"minors {baseminor}+{minorct}")
        if major == 0:
            found = self._find_dynamic_major()
            if found < 0:
                self.log.log(Level.ERR, f'CHRDEV "{name}" dynamic allocation region is full')
                raise _error(found, "no dynamic major left")
            major = found
        for region in self._regions:
            if region.major == major and region.baseminor < baseminor + minorct \
                    and baseminor < region.baseminor + region.minorct:
                raise _error(-Errno.EBUSY, f"{major}:{baseminor}+{minorct} overlaps "
                                           f"{region.name!r}")
        region = CharRegion(major, baseminor, minorct, name)
        self._regions.append(region)
        return region

    def _unregister_region(self, major: int, baseminor: int, minorct: int) -> CharRegion | None:
        for region in self._regions:
            if (region.major, region.baseminor, region.minorct) == (major, baseminor, minorct):
                self._regions.remove(region)
                return region
        return None

    def register_chrdev_region(self, first: int, count: int, name: str) -> None:
        """register_chrdev_region(first, count, name): the device numbers first ..
        first+count-1 (which may span majors).  Raises OSError (EBUSY, EINVAL) and then
        holds none of them."""
        to = first + count
        done: list[tuple[int, int, int]] = []
        n = first
        try:
            while n < to:
                nxt = min(mkdev(dev_major(n) + 1, 0), to)
                self._register_region(dev_major(n), dev_minor(n), nxt - n, name)
                done.append((dev_major(n), dev_minor(n), nxt - n))
                n = nxt
        except OSError:
            for args in done:
                self._unregister_region(*args)
            raise

    def alloc_chrdev_region(self, baseminor: int, count: int, name: str) -> int:
        """alloc_chrdev_region(): `count` minors from `baseminor` of a dynamic major;
        returns the first dev_t.  Raises OSError(EBUSY) when no major is left."""
        region = self._register_region(0, baseminor, count, name)
        return mkdev(region.major, region.baseminor)

    def unregister_chrdev_region(self, first: int, count: int) -> None:
        """unregister_chrdev_region(): give back what register_chrdev_region took."""
        to = first + count
        n = first
        while n < to:
            nxt = min(mkdev(dev_major(n) + 1, 0), to)
            self._unregister_region(dev_major(n), dev_minor(n), nxt - n)
            n = nxt

    def register_chrdev(self, major: int, name: str, fops: FileOperations,
                        baseminor: int = 0, count: int = 256) -> int:
        """__register_chrdev(): a region plus a cdev with `fops` (owner fops.owner) for
        minors baseminor..baseminor+count-1; major 0 allocates one.  Returns the major.
        Raises OSError as `register_chrdev_region`."""
        region = self._register_region(major, baseminor, count, name)
        cdev = Cdev(fops, fops.owner, name)
        self.cdev_add(cdev, mkdev(region.major, baseminor), count)
        region.cdev = cdev
        return region.major

    def unregister_chrdev(self, major: int, name: str, baseminor: int = 0,
                          count: int = 256) -> None:
        """__unregister_chrdev(): the region and its cdev."""
        region = self._unregister_region(major, baseminor, count)
        if region is not None and region.cdev is not None:
            self.cdev_del(region.cdev)

    # -- the cdev map --------------------------------------------------------------------------

    def cdev_add(self, cdev: Cdev, dev: int, count: int) -> None:
        """cdev_add(): make `cdev` reachable through dev..dev+count-1 (live at once).
        Raises ValueError for a count < 1."""
        if count < 1:
            raise ValueError(f"cdev_add: count {count} (at least one minor)")
        cdev.dev, cdev.count = dev, count
        at = next((i for i, (_, rng, _) in enumerate(self._map) if rng >= count),
                  len(self._map))
        self._map.insert(at, (dev, count, cdev))

    def cdev_del(self, cdev: Cdev) -> None:
        """cdev_del(): no new opens through `cdev`; files already open keep working."""
        self._map = [entry for entry in self._map if entry[2] is not cdev]

    def lookup(self, dev: int) -> Cdev | None:
        """kobj_lookup(): the cdev that an open of `dev` reaches, or None."""
        return next((cdev for first, rng, cdev in self._map if first <= dev < first + rng),
                    None)

    # -- files ---------------------------------------------------------------------------------

    def open_files(self, dev: int) -> list[File]:
        """The files open on device number `dev`."""
        return list(self._files.get(dev, ()))

    def inode(self, dev: int) -> Inode | None:
        """The inode of `dev` while files are open on it."""
        return self._inodes.get(dev)

    def revoke(self, dev: int) -> None:
        """The device behind `dev` is gone: every file open on it fails its next call with
        -ENODEV (see the module docstring).  Context: atomic."""
        for file in self._files.get(dev, ()):
            file.gone = True
            file.hangup.wake_up()

    def _on_uevent(self, event: Uevent) -> None:
        if event.action != "remove":
            return
        major, minor = event.get("MAJOR"), event.get("MINOR")
        if major is not None and minor is not None:
            self.revoke(mkdev(int(major), int(minor)))

    async def call_op(self, file: File, what: str, fn: Callable[..., Any], *args: Any) -> int:
        """Run a driver operation: its int result, -errno for an OSError, -EIO after an
        oops (any other exception, or a result that is not an int)."""
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
        except OSError as exc:
            return -(exc.errno or Errno.EIO)
        except Exception as exc:
            self._driver_core.oops(f"{what} of {_where(file)} by {_name_of(fn)}", exc)
            return -Errno.EIO
        if result is None:
            return 0
        if isinstance(result, bool) or not isinstance(result, int):
            self._driver_core.oops(f"{what} of {_where(file)} by {_name_of(fn)}",
                                   TypeError(f"returned {result!r}: return a count or a "
                                             "negative errno"))
            return -Errno.EIO
        return result

    async def open(self, dev: int, flags: int = O_RDWR, path: str = "") -> File:
        """open(2) of a character device node (chrdev_open): find the cdev (-ENXIO when
        none is mapped or its owner is going away), take the file operations (-ENXIO),
        call the driver's open.  Returns the File; raises OSError with the errno.  Context:
        may sleep."""
        cdev = self.lookup(dev)
        if cdev is None or not try_module_get(cdev.owner):
            raise fs_error(-Errno.ENXIO, path)
        fops = fops_get(cdev.ops)
        if fops is None:
            module_put(cdev.owner)
            raise fs_error(-Errno.ENXIO, path)
        inode = self._inodes.get(dev) or Inode(dev)
        inode.i_cdev = cdev
        file = File(inode, flags, path, fops)
        file._cdev = cdev
        ret = 0 if fops.open is None else await self.call_op(file, "open", fops.open, inode,
                                                            file)
        if ret < 0:
            fops_put(file.f_op)
            module_put(cdev.owner)
            raise fs_error(self._user_errno(ret), path)
        if file.f_op.llseek is None:
            file.f_mode &= ~FMode.LSEEK
        inode.open_count += 1
        self._inodes[dev] = inode
        self._files.setdefault(dev, set()).add(file)
        return file

    @staticmethod
    def _user_errno(ret: int) -> int:
        """What a system call returns for a driver's result: the restart codes become
        -EINTR (no signal restarts a call here)."""
        return -Errno.EINTR if -ret in _RESTART_CODES else ret

    async def read(self, file: File, buf: bytearray | memoryview) -> int:
        """read(2) into `buf` (len(buf) bytes at most): the count read or -errno (EBADF:
        closed or not open for reading, ENODEV: device gone, EINVAL: no read operation).
        Context: may sleep."""
        if file.closed or not file.f_mode & FMode.READ:
            return -Errno.EBADF
        if file.gone:
            return -Errno.ENODEV
        op = file.f_op.read
        if op is None:
            return -Errno.EINVAL
        view = memoryview(buf).cast("B")
        count = min(len(view), MAX_RW_COUNT)
        return await self._rw(file, "read", op, view[:count], count)

    async def write(self, file: File, data: Buffer) -> int:
        """write(2) of `data`: the count written or -errno (as `read`)."""
        if file.closed or not file.f_mode & FMode.WRITE:
            return -Errno.EBADF
        if file.gone:
            return -Errno.ENODEV
        op = file.f_op.write
        if op is None:
            return -Errno.EINVAL
        view = memoryview(data).cast("B").toreadonly()
        count = min(len(view), MAX_RW_COUNT)
        return await self._rw(file, "write", op, view[:count], count)

    async def _rw(self, file: File, what: str, op: Callable[..., Any], view: memoryview,
                  count: int) -> int:
        stream = bool(file.f_mode & FMode.STREAM)
        ppos = Loff(0 if stream else file.f_pos)
        ret = await self._guarded(file, what, op, file, view, count, ppos)
        if ret >= 0 and not stream:
            file.f_pos = ppos.pos
        return self._user_errno(ret)

    async def _guarded(self, file: File, what: str, op: Callable[..., Any],
                       *args: Any) -> int:
        """Call a driver operation while counting it as in flight, so that a close in the
        middle defers `release` until it returns (as fput does)."""
        file._busy += 1
        try:
            return await self.call_op(file, what, op, *args)
        finally:
            file._busy -= 1
            if file.closed and not file._busy:
                await self._release(file)

    async def ioctl(self, file: File, cmd: int, arg: Any = 0) -> int:
        """ioctl(2): FIOCLEX/FIONCLEX/FIONBIO are the VFS's own; anything else goes to the
        driver's unlocked_ioctl (-ENOTTY without one, or for -ENOIOCTLCMD).  Returns the
        driver's value or -errno.  Context: may sleep."""
        if file.closed:
            return -Errno.EBADF
        if cmd in (FIOCLEX, FIONCLEX):
            return 0
        if cmd == FIONBIO:
            on = arg[0] if isinstance(arg, bytes | bytearray | memoryview) and len(arg) else arg
            file.f_flags = file.f_flags | O_NONBLOCK if on else file.f_flags & ~O_NONBLOCK
            return 0
        if file.gone:
            return -Errno.ENODEV
        op = file.f_op.unlocked_ioctl
        if op is None:
            return -Errno.ENOTTY
        ret = await self._guarded(file, "ioctl", op, file, cmd, arg)
        return -Errno.ENOTTY if ret == -ENOIOCTLCMD else self._user_errno(ret)

    async def poll(self, file: File, events: int = Poll.IN | Poll.OUT,
                   timeout_ms: float | None = None) -> Poll:
        """poll(2) of one file: the ready events among `events` (POLLERR, POLLHUP and
        POLLNVAL are always reported), waiting up to `timeout_ms` of machine time (None:
        until something is ready; 0: just look).  A closed file is POLLNVAL, a revoked one
        POLLERR | POLLHUP.  Context: may sleep."""
        if file.closed:
            return Poll.NVAL
        loop = asyncio.get_running_loop()
        deadline = None if timeout_ms is None else loop.time() + timeout_ms / 1000
        wanted = Poll(events) | Poll.ERR | Poll.HUP | Poll.NVAL
        while True:
            table = PollTable()
            mask = self._poll_once(file, table) & wanted
            remaining = None if deadline is None else deadline - loop.time()
            if mask or (remaining is not None and remaining <= 0):
                table.free()
                return mask
            await table.sleep(remaining)

    def _poll_once(self, file: File, table: PollTable) -> Poll:
        if file.closed:
            return Poll.NVAL
        if file.gone:
            return Poll.ERR | Poll.HUP
        poll_wait(file, file.hangup, table)
        op = file.f_op.poll
        if op is None:
            return DEFAULT_POLLMASK
        try:
            return Poll(int(op(file, table)) & 0xFFFF)
        except Exception as exc:
            self._driver_core.oops(f"poll of {_where(file)} by {_name_of(op)}", exc)
            return Poll.ERR

    async def llseek(self, file: File, offset: int, whence: int = SEEK_SET) -> int:
        """lseek(2): the new position or -errno (EINVAL for a bad whence, ESPIPE for a
        file that cannot seek, ENODEV when the device is gone).  Context: may sleep."""
        if file.closed:
            return -Errno.EBADF
        if not 0 <= whence <= SEEK_MAX:
            return -Errno.EINVAL
        if file.gone:
            return -Errno.ENODEV
        op = file.f_op.llseek
        if not file.f_mode & FMode.LSEEK or op is None:
            return -Errno.ESPIPE
        return self._user_errno(await self._guarded(file, "llseek", op, file, offset, whence))

    async def close(self, file: File) -> int:
        """close(2): 0, or -EBADF when already closed.  The driver's release runs now, or
        when the last call still in flight on the file returns; its result is ignored, as
        Linux ignores it.  Context: may sleep."""
        if file.closed:
            return -Errno.EBADF
        file.closed = True
        file.hangup.wake_up()
        if not file._busy:
            await self._release(file)
        return 0

    async def _release(self, file: File) -> None:
        """__fput(): release, then drop the module references and the inode's count."""
        if file._released:
            return
        file._released = True
        inode = file.f_inode
        if file.f_op.release is not None:
            await self.call_op(file, "release", file.f_op.release, inode, file)
        fops_put(file.f_op)
        if file._cdev is not None:
            module_put(file._cdev.owner)
        dev = inode.i_rdev
        files = self._files.get(dev)
        if files is not None and file in files:
            files.discard(file)
            inode.open_count -= 1
            if not files:
                del self._files[dev]
            if inode.open_count <= 0 and self._inodes.get(dev) is inode:
                del self._inodes[dev]

    # -- opening a path -------------------------------------------------------------------------

    async def open_path(self, vfs: Vfs, path: str, mode: str | int = "rb") -> AsyncFile:
        """Open `path` of the machine's file tree as an application does: a device node
        through its driver, a sysfs-style attribute (read shows it, write stores), a
        directory read-only.  `mode` is a Python mode ("rb", "rb+", "wb", "ab") or
        O_* flags.  Raises OSError with Linux's errno (ENOENT, ENXIO, ENODEV, EACCES,
        EISDIR, EEXIST or what the driver's open returned); ValueError for a bad mode.
        Context: may sleep."""
        flags = open_flags(mode)
        _, node = vfs.resolve(path)
        if flags & O_CREAT and flags & O_EXCL:
            raise fs_error(-Errno.EEXIST, path)
        accmode = flags & O_ACCMODE
        if isinstance(node, DevNode):
            file = await self.open(mkdev(node.major, node.minor), flags, path)
        elif isinstance(node, Attr):
            file = _open_attr(node, flags, path)
        elif isinstance(node, Symlink):  # resolve() follows links; nothing else is left
            raise fs_error(-Errno.ELOOP, path)
        else:
            if accmode != O_RDONLY:
                raise fs_error(-Errno.EISDIR, path)
            file = File(Inode(0, stat_mod.S_IFDIR | 0o755), flags, path,
                        FileOperations(read=_read_dir))
        return AsyncFile(self, file, path, mode if isinstance(mode, str) else "")


def _read_dir(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    """generic_read_dir(): a directory is not read with read(2)."""
    return -Errno.EISDIR


def _open_attr(attr: Attr, flags: int, path: str) -> File:
    """kernfs_fop_open() for an attribute: EACCES when the access mode asks for what the
    attribute cannot do.  Reads show the value as of the read at position 0."""
    accmode = (flags + 1) & O_ACCMODE
    if (accmode & FMode.READ and attr.show is None) or (accmode & FMode.WRITE
                                                        and attr.store is None):
        raise fs_error(-Errno.EACCES, path)
    show, store = attr.show, attr.store

    def read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        if ppos.pos == 0 or file.private_data is None:
            assert show is not None
            value = show()
            file.private_data = value.encode() if isinstance(value, str) else bytes(value)
        data: bytes = file.private_data[ppos.pos:ppos.pos + count]
        buf[:len(data)] = data
        ppos.pos += len(data)
        return len(data)

    async def write(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        assert store is not None
        return await store(bytes(buf[:count]))

    inode = Inode(0, stat_mod.S_IFREG | attr.mode)
    inode.i_size = 4096
    return File(inode, flags, path, FileOperations(read=read if show else None,
                                                   write=write if store else None,
                                                   llseek=default_llseek))


def open_flags(mode: str | int) -> int:
    """O_* flags for a Python open() mode ("r", "rb", "r+b", "w", "a", "x" …; always
    binary) or the flags themselves.  Raises ValueError for anything else."""
    if isinstance(mode, int):
        return mode
    chars = set(mode)
    kinds = [c for c in mode if c in "rwax"]
    if len(kinds) != 1 or len(chars) != len(mode) or not chars <= set("rwax+b"):
        raise ValueError(f"invalid mode {mode!r}: one of r, w, a, x, then optional b and +"
                         " (device files are binary)")
    base = {"r": O_RDONLY, "w": O_WRONLY | O_CREAT | O_TRUNC,
            "a": O_WRONLY | O_CREAT | O_APPEND, "x": O_WRONLY | O_CREAT | O_EXCL}[kinds[0]]
    if "+" in mode:
        base = (base & ~O_ACCMODE) | O_RDWR
    return base


# -- what an application holds ---------------------------------------------------------------


class AsyncFile:
    """An open file as an application sees it: each method is one system call and raises
    OSError (errno, Linux's message, the path) where the call fails.  Context: coroutine
    methods run on the machine's loop (`await system.aopen(...)`)."""

    def __init__(self, chrdev: CharDevices, file: File, path: str, mode: str = "") -> None:
        self._chrdev = chrdev
        self.file = file
        self.name = path
        self.mode = mode

    def __repr__(self) -> str:
        return f"<AsyncFile {self.name!r} mode={self.mode!r}{' closed' if self.closed else ''}>"

    @property
    def closed(self) -> bool:
        return self.file.closed

    def _check(self, result: int) -> int:
        if result < 0:
            raise fs_error(result, self.name)
        return result

    async def read(self, size: int = 4096) -> bytes:
        """One read(2) of up to `size` bytes (b"" at end of file), like os.read."""
        if size < 0:
            raise ValueError("read(size): a device read needs a size >= 0")
        buf = bytearray(size)
        n = self._check(await self._chrdev.read(self.file, buf))
        return bytes(buf[:min(n, size)])

    async def readinto(self, buf: bytearray | memoryview) -> int:
        """One read(2) into `buf`; the count."""
        return self._check(await self._chrdev.read(self.file, buf))

    async def write(self, data: Buffer) -> int:
        """One write(2) of `data`; the count taken (maybe fewer bytes), like os.write."""
        return self._check(await self._chrdev.write(self.file, data))

    async def ioctl(self, request: int, arg: Any = 0) -> int:
        """ioctl(2), like fcntl.ioctl: `arg` an int or a mutable buffer the driver may
        fill; returns the driver's non-negative result."""
        return self._check(await self._chrdev.ioctl(self.file, request, arg))

    async def poll(self, events: int = Poll.IN | Poll.OUT,
                   timeout_ms: float | None = None) -> Poll:
        """poll(2) on this file: the ready events (0 after `timeout_ms` of machine time)."""
        return await self._chrdev.poll(self.file, events, timeout_ms)

    async def seek(self, offset: int, whence: int = SEEK_SET) -> int:
        """lseek(2); the new position."""
        return self._check(await self._chrdev.llseek(self.file, offset, whence))

    def tell(self) -> int:
        return self.file.f_pos

    async def close(self) -> None:
        """close(2); closing a closed file does nothing (as Python files)."""
        if not self.file.closed:
            await self._chrdev.close(self.file)

    async def __aenter__(self) -> AsyncFile:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Runner(Protocol):
    """Runs a coroutine on the machine from outside its loop (`System.run`)."""

    def __call__(self, coro: Coroutine[Any, Any, _T], /) -> _T: ...


class SyncFile:
    """`AsyncFile` for synchronous callers outside the machine's loop: each method runs
    the system call on the machine (`run`) and returns when it is done."""

    def __init__(self, afile: AsyncFile, run: Runner) -> None:
        self.afile = afile
        self._run = run

    def __repr__(self) -> str:
        return f"<SyncFile {self.name!r}{' closed' if self.closed else ''}>"

    @property
    def name(self) -> str:
        return self.afile.name

    @property
    def closed(self) -> bool:
        return self.afile.closed

    def read(self, size: int = 4096) -> bytes:
        return self._run(self.afile.read(size))

    def readinto(self, buf: bytearray | memoryview) -> int:
        return self._run(self.afile.readinto(buf))

    def write(self, data: Buffer) -> int:
        return self._run(self.afile.write(data))

    def ioctl(self, request: int, arg: Any = 0) -> int:
        return self._run(self.afile.ioctl(request, arg))

    def poll(self, events: int = Poll.IN | Poll.OUT, timeout_ms: float | None = None) -> Poll:
        return self._run(self.afile.poll(events, timeout_ms))

    def seek(self, offset: int, whence: int = SEEK_SET) -> int:
        return self._run(self.afile.seek(offset, whence))

    def tell(self) -> int:
        return self.afile.tell()

    def close(self) -> None:
        if not self.closed:
            self._run(self.afile.close())

    def __enter__(self) -> SyncFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
