"""Files as drivers see them — counterpart of include/linux/fs.h (`struct inode`,
`struct file`, `struct file_operations`, fops_get/replace_fops, the FMODE bits),
include/linux/kdev_t.h (MKDEV, MAJOR, MINOR), the uapi open flags and ioctl-number macros
(fcntl.h, fs.h, ioctl.h), the llseek helpers of fs/read_write.c (noop_llseek,
default_llseek, fixed_size_llseek), nonseekable_open and stream_open of fs/open.c, and
copy_to_user/copy_from_user (include/linux/uaccess.h).

A driver's file operations are plain functions or coroutines: open, release, read, write,
unlocked_ioctl and llseek run in process context and may sleep; `poll` is atomic and
registers its wait queues with `poll_wait`.  The `owner` of file operations (and of a
cdev) is the module an open file holds a reference on, so that a module with open files
cannot be unloaded.  Nothing here calls an operation: the system calls that do live in
kernel/syscalls.py, the device-number map that finds a driver's operations in
kernel/char_dev.py.  Not modelled: mmap, fasync, splice, compat ioctls.
"""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntFlag
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias

from ..errors import Errno
from .module import this_module
from .wait import PollTable, WaitQueueHead

if TYPE_CHECKING:
    from .char_dev import Cdev

# -- device numbers (include/linux/kdev_t.h) ----------------------------------------------------

MINORBITS: Final = 20
MINORMASK: Final = (1 << MINORBITS) - 1


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
FsyncOp: TypeAlias = "Callable[[File, int, int, bool], int | Awaitable[int]]"


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
    - `fsync(file, start, end, datasync)`: write back what the file holds for bytes
      start..end (fsync(2) passes 0 .. LLONG_MAX) to the device; 0 or a negative errno.

    Without `read` (`write`) a read (write) is -EINVAL, without `unlocked_ioctl` an
    ioctl is -ENOTTY, without `poll` the file is always readable and writable, without
    `llseek` lseek is -ESPIPE, without `fsync` fsync is -EINVAL.  `owner` is the module
    whose reference an open file holds (so that rmmod fails with -EBUSY meanwhile);
    operations built by a module's code get that module (THIS_MODULE) unless `owner` is
    given.
    """

    owner: ModuleOwner | None = field(default_factory=this_module)
    open: OpenOp | None = None
    release: OpenOp | None = None
    read: ReadOp | None = None
    write: WriteOp | None = None
    unlocked_ioctl: IoctlOp | None = None
    poll: PollOp | None = None
    llseek: LlseekOp | None = None
    fsync: FsyncOp | None = None


class File:
    """struct file: one open of a node — position (`f_pos`), flags (`f_flags`, the open
    flags), mode (`f_mode`, FMode bits), the driver's file operations (`f_op`) and its
    `private_data`.  `gone` is set when the device behind it is removed.

    The system calls keep their bookkeeping here: `cdev` is the cdev the file was opened
    through (chrdev_open), whose owner stays referenced until the file is released;
    `in_flight` counts the calls still running in the driver (a close defers `release`
    until it is 0, as fput does); `released` is set once `release` has run.
    `revoke_on_remove` (default True) says whether the removal of the device revokes the
    file (kernel/syscalls.py); the tty layer clears it, as a tty's files are hung up
    instead and keep their hung-up operations."""

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
        self.cdev: Cdev | None = None
        self.in_flight = 0
        self.released = False
        self.revoke_on_remove = True

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

