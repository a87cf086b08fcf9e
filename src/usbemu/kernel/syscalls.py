"""System calls on open files — counterpart of open and close (fs/open.c, with __fput of
fs/file_table.c), read, write and lseek (fs/read_write.c), ioctl (fs/ioctl.c) and poll
(fs/select.c), and of what an application holds: its open files.

The system-call methods of `OpenFiles` (`open`, `read`, `write`, `ioctl`, `poll`, `llseek`,
`fsync`, `close`) return what the kernel returns (a count or a negative errno).  They call the
driver's file operations (kernel/fs.py): a driver operation that raises OSError fails the
call with that errno; anything else it raises is logged like an oops (with the traceback)
and the call fails with -EIO — the machine goes on.  `AsyncFile` and `SyncFile` are what an
application holds: file objects whose methods raise OSError with Linux's errno, opened by
path through `System.aopen()` / `System.open()` (the emulation layer's opn_dev/cls_dev).
Device nodes (character nodes through the char-device map of kernel/char_dev.py, whose
`CharDevices` extends `OpenFiles`; block nodes through the block layer installed as
`block_devices`, kernel/block), sysfs attributes and directories can be opened.

One deliberate difference from Linux: when the device behind a device number is removed
(its `remove` uevent — usb_deregister_dev in a disconnect, for instance), the files open on
it are revoked: every later read, write, ioctl and lseek gets -ENODEV and poll reports
POLLERR | POLLHUP without calling the driver; close still calls `release` (a tty's files
are the exception: its driver hangs them up instead, `File.revoke_on_remove`).  Linux keeps
calling the driver's operations and leaves it to each driver to notice the disconnect
(usb-skeleton's `disconnected` flag returns -ENODEV); usbemu gives every driver that
behaviour, so a driver that forgets (the article's pen driver) is never called for a dead
device.  Not modelled: file-descriptor tables, dup and fork, locks, permission checks (the
caller is root).
"""

from __future__ import annotations

import asyncio
import inspect
import stat as stat_mod
from collections.abc import Callable, Coroutine
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from ..errors import Errno
from .fs import (
    ENOIOCTLCMD,
    FIOCLEX,
    FIONBIO,
    FIONCLEX,
    MAX_RW_COUNT,
    O_ACCMODE,
    O_APPEND,
    O_CREAT,
    O_EXCL,
    O_NONBLOCK,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    SEEK_MAX,
    SEEK_SET,
    Buffer,
    File,
    FileOperations,
    FMode,
    Inode,
    Loff,
    default_llseek,
    fops_get,
    fops_put,
    mkdev,
    module_put,
)
from .vfs import Attr, DevNode, FopsFile, RegularFile, Symlink, Vfs, fs_error
from .wait import DEFAULT_POLLMASK, Poll, PollTable, poll_wait

if TYPE_CHECKING:
    from .device import DriverCore, Uevent

__all__ = ["AsyncFile", "BlockDeviceFiles", "OpenFiles", "Runner", "SyncFile", "open_flags"]

_RESTART_CODES: Final = frozenset({512, 513, 514, 516})  # ERESTARTSYS … ERESTART_RESTARTBLOCK
#: LLONG_MAX: the end of the range fsync(2) writes back.
LLONG_MAX: Final = (1 << 63) - 1


def _where(file: File) -> str:
    return file.f_path or repr(file)


def _name_of(fn: object) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or fn)


_T = TypeVar("_T")


class BlockDeviceFiles(Protocol):
    """What the block layer offers the system calls (def_blk_fops behind a block node):
    `blkdev_open` opens block device number `dev` with O_* `flags` (the File, counted
    with `OpenFiles.fd_install`; OSError with the errno) and may sleep; `blkdev_size` is
    the size in bytes of the device with that number, None when there is none (atomic)."""

    async def blkdev_open(self, dev: int, flags: int, path: str) -> File: ...

    def blkdev_size(self, dev: int) -> int | None: ...


class OpenFiles:
    """The files open on one machine and the system calls on them.  Context: `open`,
    `read`, `write`, `ioctl`, `poll`, `llseek`, `fsync` and `close` may sleep (they call
    the driver); `revoke` and the lookups are atomic."""

    def __init__(self, driver_core: DriverCore) -> None:
        self._driver_core = driver_core
        self.log = driver_core.log
        self._inodes: dict[int, Inode] = {}
        self._files: dict[int, set[File]] = {}
        #: The block layer that opens block device nodes (None: every one is -ENXIO).
        self.block_devices: BlockDeviceFiles | None = None
        driver_core.listeners.append(self._on_uevent)

    # -- the open files ------------------------------------------------------------------------

    def open_files(self, dev: int) -> list[File]:
        """The files open on device number `dev`."""
        return list(self._files.get(dev, ()))

    def all_open_files(self) -> list[File]:
        """Every file open on the machine, device number by device number.
        Context: atomic."""
        return [file for files in self._files.values() for file in files]

    def inode(self, dev: int) -> Inode | None:
        """The inode of `dev` while files are open on it."""
        return self._inodes.get(dev)

    def revoke(self, dev: int) -> None:
        """The device behind `dev` is gone: every file open on it fails its next call with
        -ENODEV (see the module docstring), except files whose `revoke_on_remove` is
        False (a tty's: its driver hangs them up instead); sleeping polls are woken either
        way.  Context: atomic."""
        for file in self._files.get(dev, ()):
            if file.revoke_on_remove:
                file.gone = True
            file.hangup.wake_up()

    def _on_uevent(self, event: Uevent) -> None:
        if event.action != "remove":
            return
        major, minor = event.get("MAJOR"), event.get("MINOR")
        if major is not None and minor is not None:
            self.revoke(mkdev(int(major), int(minor)))

    # -- the system calls ----------------------------------------------------------------------

    async def call_op(self, file: File, what: str, fn: Callable[..., Any], *args: Any) -> int:
        """Run a driver operation: its int result, -errno for an OSError, -EIO after an
        oops (any other exception, or a result that is not an int)."""
        try:
            result = fn(*args)
            if type(result) is CoroutineType or inspect.isawaitable(result):
                result = await result
        except OSError as exc:
            return -(exc.errno or Errno.EIO)
        except BaseException as exc:
            self._driver_core.contain(f"{what} of {_where(file)} by {_name_of(fn)}", exc)
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
        """open(2) of the character device number `dev`.  Where no char device is mapped
        no driver is behind any number: -ENXIO, as chrdev_open says for an empty map
        (`CharDevices.open` finds the driver).  Raises OSError.  Context: may sleep."""
        raise fs_error(-Errno.ENXIO, path)

    async def open_node(self, node: DevNode, flags: int = O_RDWR, path: str = "") -> File:
        """open(2) of a device node: a character node through `open` (chrdev_open), a
        block node through the block layer (blkdev_open; -ENXIO without one).  Raises
        OSError.  Context: may sleep."""
        dev = mkdev(node.major, node.minor)
        if not node.block:
            return await self.open(dev, flags, path)
        if self.block_devices is None:
            raise fs_error(-Errno.ENXIO, path)
        return await self.block_devices.blkdev_open(dev, flags, path)

    async def open_fops(self, node: FopsFile, flags: int = O_RDONLY, path: str = "") -> File:
        """open(2) of a file with its own operations (a debugfs file): a fresh inode whose
        i_private is the node's, then the operations' open.  Raises OSError with the errno
        the open returned (ENXIO when the operations' module is going away).  Context: may
        sleep."""
        fops = fops_get(node.fops)
        if fops is None:
            raise fs_error(-Errno.ENXIO, path)
        inode = Inode(0, stat_mod.S_IFREG | node.mode)
        inode.i_private = node.private
        file = File(inode, flags, path, fops)
        ret = 0 if fops.open is None else await self.call_op(file, "open", fops.open, inode,
                                                            file)
        if ret < 0:
            fops_put(fops)
            raise fs_error(self._user_errno(ret), path)
        if fops.llseek is None:
            file.f_mode &= ~FMode.LSEEK
        return file

    def fd_install(self, file: File) -> None:
        """fd_install(): count `file`, just opened, among the files open on its device
        number (`open_files`, the inode's `open_count`).  Context: atomic."""
        inode = file.f_inode
        dev = inode.i_rdev
        inode.open_count += 1
        self._inodes[dev] = inode
        self._files.setdefault(dev, set()).add(file)

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
        file.in_flight += 1
        try:
            return await self.call_op(file, what, op, *args)
        finally:
            file.in_flight -= 1
            if file.closed and not file.in_flight:
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
        except BaseException as exc:
            self._driver_core.contain(f"poll of {_where(file)} by {_name_of(op)}", exc)
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

    async def fsync(self, file: File, datasync: bool = False) -> int:
        """fsync(2) (fdatasync(2) with `datasync`): 0 or -errno (EBADF: closed, ENODEV:
        device gone, EINVAL: no fsync operation).  Context: may sleep."""
        if file.closed:
            return -Errno.EBADF
        if file.gone:
            return -Errno.ENODEV
        op = file.f_op.fsync
        if op is None:
            return -Errno.EINVAL
        return self._user_errno(await self._guarded(file, "fsync", op, file, 0, LLONG_MAX,
                                                    datasync))

    async def close(self, file: File) -> int:
        """close(2): 0, or -EBADF when already closed.  The driver's release runs now, or
        when the last call still in flight on the file returns; its result is ignored, as
        Linux ignores it.  Context: may sleep."""
        if file.closed:
            return -Errno.EBADF
        file.closed = True
        file.hangup.wake_up()
        if not file.in_flight:
            await self._release(file)
        return 0

    async def _release(self, file: File) -> None:
        """__fput(): release, then drop the module references and the inode's count."""
        if file.released:
            return
        file.released = True
        inode = file.f_inode
        if file.f_op.release is not None:
            await self.call_op(file, "release", file.f_op.release, inode, file)
        fops_put(file.f_op)
        if file.cdev is not None:
            module_put(file.cdev.owner)
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
        if flags & O_CREAT and not vfs.exists(path) and vfs.parent_dir(path) is not None:
            node: object = vfs.create(path)
        else:
            _, node = vfs.resolve(path)
            if flags & O_CREAT and flags & O_EXCL:
                raise fs_error(-Errno.EEXIST, path)
        accmode = flags & O_ACCMODE
        if isinstance(node, RegularFile):
            file = _open_regular(vfs, node, flags, path)
        elif isinstance(node, DevNode):
            file = await self.open_node(node, flags, path)
        elif isinstance(node, Attr):
            file = _open_attr(node, flags, path)
        elif isinstance(node, FopsFile):
            file = await self.open_fops(node, flags, path)
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


def _open_regular(vfs: Vfs, node: RegularFile, flags: int, path: str) -> File:
    """An ordinary file of a tmpfs-like directory (shmem_file_operations): O_TRUNC
    empties it at open, reads and writes work at the file position, O_APPEND writes at
    the end; each change is announced to the directory's reader."""
    if flags & O_TRUNC and flags & O_ACCMODE != O_RDONLY:
        vfs.truncate(path, 0)

    def read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        data = node.data[ppos.pos:ppos.pos + count]
        buf[:len(data)] = data
        ppos.pos += len(data)
        return len(data)

    def write(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        start = len(node.data) if file.f_flags & O_APPEND else ppos.pos
        node.data[start:start + count] = bytes(buf[:count])
        ppos.pos = start + count
        file.f_inode.i_size = len(node.data)
        parent = vfs.parent_dir(path)
        if parent is not None:
            parent[0].changed()
        return count

    inode = Inode(0, stat_mod.S_IFREG | node.mode)
    inode.i_size = len(node.data)
    return File(inode, flags, path, FileOperations(read=read, write=write,
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

    def __init__(self, chrdev: OpenFiles, file: File, path: str, mode: str = "") -> None:
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

    async def fsync(self, datasync: bool = False) -> None:
        """fsync(2) (fdatasync(2) with `datasync`), like os.fsync."""
        self._check(await self._chrdev.fsync(self.file, datasync))

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

    def fsync(self, datasync: bool = False) -> None:
        self._run(self.afile.fsync(datasync))

    def tell(self) -> int:
        return self.afile.tell()

    def close(self) -> None:
        if not self.closed:
            self._run(self.afile.close())

    def __enter__(self) -> SyncFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
