"""A machine's file tree as a real FUSE filesystem — the emulation layer's mapping of device
access onto its host OS; on the host it is a FUSE daemon, the user-space half of fs/fuse.

`mount(system, "/mnt/emu")` mounts `system.vfs` (sysfs, debugfs, /dev …) at a directory of
the host, so any program can `cat /mnt/emu/sys/bus/usb/devices/usb1/idVendor` or
`echo 1-1 > …/unbind`.  It does not copy the tree: every lookup, read and write is answered
from the live kernel objects at the moment it is made, as sysfs answers.

Threads.  libfuse calls the operations below in its own threads.  They never touch a kernel
object: each one is a small coroutine handed to the machine's loop through `System.call`
(`run_coroutine_threadsafe`), the one thread-safe bridge of the design.  So while a tree is
mounted the machine's loop must be running in some thread: `mount` starts a *machine
thread* running `loop.run_forever()` unless the loop is already running elsewhere, and the
FUSE loop runs in a *FUSE thread*; with ``foreground=True`` the calling thread waits until
the tree is unmounted.  While mounted, drive the machine with `system.call(coro)` — not
`system.run()`, whose loop is busy in the machine thread.  `FuseMount.unmount()` (or leaving
its ``with`` block) first ends the device calls still waiting for their driver with ENODEV
(a read blocked in a driver would otherwise hold the unmount up for as long as the driver
sleeps; the driver's call itself goes on, on the machine), unmounts with ``fusermount3 -u``,
joins the FUSE thread, then stops and joins the machine thread it started; the machine is
then usable with `run()` again.  A machine on virtual time keeps its clock's rules in the
machine thread: idle, it waits for the next request; with timers pending it jumps to them
at once, so a machine that polls a device runs its clock ahead of the wall clock (and a
driver's 5000 ms timeout passes at once).  Outside programs usually want real time
(``System(virtual=False)``, as `run_mount` uses); tests are deterministic either way.

Errors.  What the driver or the attribute returns reaches the program as its errno — a
driver's -ETIMEDOUT as ETIMEDOUT ("Connection timed out"), as on Linux.  The bridge's own
failures are told apart at their cause: a request other than device I/O that the machine
does not answer within the mount's `timeout` (`DEFAULT_TIMEOUT`, 60 s) fails with
ETIMEDOUT too, and is logged as such; device I/O ended by the unmount fails with ENODEV; an
exception without an errno is logged and gives EIO.

The process around it.  libfuse's fuse_daemonize() moves the process to "/" even in the
foreground; the working directory is put back as soon as the mount is live.  libfuse also
takes SIGINT, SIGTERM and SIGHUP where they have their default action and turns them into
"leave the FUSE loop" — which waits for the requests in progress, however long a driver
keeps one.  So neither kind of mount leaves them to libfuse: `serve_forever` (the
foreground, as ``usbemu mount`` runs), in the main thread, catches all three itself and
unmounts as above, so Ctrl-C takes effect at once even while a read is blocked; a
background mount started from the main thread leaves them as they were, so SIGTERM still
ends a test run.  An exit handler unmounts whatever is still mounted, so a crash in the
caller leaves no dead mount ("Transport endpoint is not connected") behind.

What a program sees, and where it differs from Linux's sysfs:

- everything is owned by the user who mounted (sysfs: root);
- directories 0755; attribute files with their mode, ``st_size`` = the length of what
  ``show()`` gives now (sysfs says 4096; here the tree is read, so ``ls -l`` is exact) and
  direct I/O, so a read returns what ``show()`` gives.  One open file keeps the content of its
  first read (offset 0) for the reads that follow, as seq_file does; a read at offset 0
  shows the attribute again;
- each write(2) goes to the attribute's store whole, whatever its offset, as sysfs does
  (the store may sleep; its errno is what the writer gets); opening a file
  without a store for writing fails with EACCES, as sysfs does even for root; truncation
  (``O_TRUNC``, ``truncate(2)``) of a writable attribute is accepted and does nothing;
- symlinks read as the tree stores them; an absolute target is rewritten relative to the
  link so it stays inside the mount;
- device nodes.  The host kernel never sends the open of a character-device entry to a
  FUSE daemon: it opens the host's own driver for that number, or refuses on a ``nodev``
  mount (libfuse's default, kept here).  So where the machine has a char-device layer
  (`kernel.char_dev.CharDevices`, ``system.chrdev``) a device node is shown as a *regular
  file* with the node's permissions, and open, read, write and close on it are the
  char-device layer's calls on the emulated driver (``echo hi > DIR/dev/pen0``); the
  host's offset reaches the driver through its llseek, O_TRUNC is ignored as Linux ignores
  it for a device, and the calls wait as long as the driver makes them wait (a read of
  a tty waits for input, as on Linux; `cat DIR/dev/ttyUSB0` and `echo hi >
  DIR/dev/ttyUSB0` work).  poll, select and epoll get the driver's poll mask — a tty is
  readable when input is waiting and reports POLLHUP once hung up — and a program
  sleeping in them is woken when that changes (fuse_notify_poll, sent by a watcher on
  the machine).  ioctl is not served (FUSE passes a regular file's ioctl only with sizes
  known in advance), so termios settings are made with the shell's stty or through the
  pty bridge, not through the mount.  A block device node (/dev/sda1) is served the
  same way, through the block layer (kernel/block): a regular file whose size is the
  disk's or partition's, read and written at any offset, fsync flushing the disk's write
  cache — so ``mdir -i DIR/dev/sda1`` and ``mcopy`` work on the FAT filesystem in it.
  With ``device_files=False`` (or a machine without a char-device layer) a node is a
  character- or block-device entry with its ``st_rdev`` (``ls -l`` shows ``c 180, 0``)
  that cannot be opened (EACCES from the host kernel; ENXIO, "No such device or
  address", should the daemon ever be asked);
- the directories of ordinary files (`FileDir`: /etc/modprobe.d) are what they are on
  Linux: files there are created, read and written at any offset, appended to,
  truncated and removed (``echo "blacklist usbhid" > DIR/etc/modprobe.d/usbemu.conf``);
- elsewhere, creating, removing and renaming entries fail with EACCES / EPERM as in
  sysfs; chmod and chown fail with EPERM (the tree keeps no inode attributes);
  timestamps are those of the mountpoint directory before the mount (the tree keeps
  none).

The binding is mfusepy (``pip install 'usbemu[fuse]'``; ctypes over libfuse 3 or 2 — on
Debian ``apt-get install fuse3``).  `unavailable_reason()` says why FUSE cannot be used here,
or None.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import ctypes
import importlib
import itertools
import logging
import os
import platform
import posixpath
import shutil
import signal
import stat as stat_mod
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from ..errors import Errno
from ..kernel.char_dev import CharDevices
from ..kernel.fs import SEEK_SET, File, mkdev
from ..kernel.vfs import Attr, DevNode, FopsFile, RegularFile, Symlink, Vfs
from ..kernel.wait import DEFAULT_POLLMASK, Poll
from ..system import System

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a FUSE request other than device I/O waits for the machine before it fails
#: with ETIMEDOUT (device I/O waits as long as its driver).
DEFAULT_TIMEOUT = 60.0
#: How long `FuseMount.start` waits for the kernel's INIT request after mounting.
MOUNT_TIMEOUT = 10.0
#: How long `FuseMount.unmount` waits for the FUSE loop to end.
UNMOUNT_TIMEOUT = 30.0


class FuseUnavailable(RuntimeError):
    """FUSE cannot be used on this host; the message says why and what to install."""


# -- the binding, behind a small typed wrapper ------------------------------------------------


class _Binding:
    """The parts of mfusepy this module uses, with types (mfusepy ships none)."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module

    @property
    def libfuse_version(self) -> tuple[int, int]:
        major: int = self._module.fuse_version_major
        minor: int = self._module.fuse_version_minor
        return major, minor

    def error(self, code: int) -> OSError:
        """mfusepy's FuseOSError for a positive errno."""
        exc: OSError = self._module.FuseOSError(code)
        return exc

    def notify_poll(self, handle: object) -> None:
        """fuse_notify_poll(): tell the kernel a file polled with `handle` is ready."""
        self._module._libfuse.fuse_notify_poll(ctypes.c_void_p(handle))  # type: ignore[arg-type]

    def destroy_pollhandle(self, handle: object) -> None:
        """fuse_pollhandle_destroy(): a poll handle is no longer needed (None: nothing)."""
        if handle:
            self._module._libfuse.fuse_pollhandle_destroy(
                ctypes.c_void_p(handle))  # type: ignore[arg-type]

    def serve(self, operations: object, mountpoint: str, options: Mapping[str, object]) -> None:
        """Mount and run the FUSE loop in the calling thread until the tree is unmounted;
        raises RuntimeError if libfuse fails to mount."""
        self._module.FUSE(operations, mountpoint, foreground=True, **options)


_binding: _Binding | None = None
_binding_error: str | None = None


def _load_binding() -> _Binding:
    global _binding, _binding_error
    if _binding is not None:
        return _binding
    if _binding_error is None:
        try:
            _binding = _Binding(importlib.import_module("mfusepy"))
            return _binding
        except ImportError:
            _binding_error = ("the FUSE binding mfusepy is not installed "
                              "(pip install 'usbemu[fuse]')")
        except OSError as exc:
            _binding_error = (f"libfuse cannot be loaded ({exc}); on Debian/Ubuntu: "
                              "apt-get install fuse3")
    raise FuseUnavailable(_binding_error)


def _unmount_command() -> list[str] | None:
    for tool in ("fusermount3", "fusermount"):
        found = shutil.which(tool)
        if found:
            return [found, "-u"]
    if os.geteuid() == 0 and shutil.which("umount"):
        return ["umount"]
    return None


def unavailable_reason() -> str | None:
    """Why a FUSE mount cannot work on this host, or None when everything it needs is here
    (the kernel's /dev/fuse, libfuse, the binding, an unmount tool).  The mount itself can
    still be refused (a container without the right to mount); `mount` says so then."""
    if platform.system() != "Linux":
        return f"FUSE mounts are supported on Linux only, not {platform.system()}"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (fuse kernel module not loaded, or not in this container)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    try:
        _load_binding()
    except FuseUnavailable as exc:
        return str(exc)
    if _unmount_command() is None:
        return "neither fusermount3 nor fusermount is installed (apt-get install fuse3)"
    return None


# -- the operations, run in libfuse's threads --------------------------------------------------


@dataclass(frozen=True)
class _Raised:
    """What a call on the machine raised, carried back as a value (see `_await`)."""

    error: Exception


@dataclass
class _OpenFile:
    """One open(2) through the mount: an attribute (its canonical path and the content of
    its last read at offset 0, which seq_file keeps for the reads that follow) or a device
    node (the char-device layer's open file)."""

    path: str
    content: bytes | None = None
    device: File | None = None
    regular: bool = False


class VfsOperations:
    """The FUSE operations over one machine's Vfs.  Context: called in libfuse's threads;
    each operation crosses to the machine's loop once, through `System.call`."""

    use_ns = True  # timestamps in nanoseconds (mfusepy's non-deprecated convention)

    def __init__(self, system: System, *, chrdev: CharDevices | None = None,
                 timeout: float = DEFAULT_TIMEOUT,
                 times_ns: tuple[int, int, int] = (0, 0, 0)) -> None:
        self._system = system
        self._vfs: Vfs = system.vfs
        self._chrdev = chrdev
        self._timeout = timeout
        self._times_ns = times_ns
        self._uid = os.geteuid()
        self._gid = os.getegid()
        self._files: dict[int, _OpenFile] = {}
        self._files_guard = threading.Lock()
        self._next_fh = itertools.count(1)
        self._aborted = threading.Event()
        # the machine's loop only: the waits abort() cancels, and every call in progress
        # (asyncio keeps only a weak reference to a task, and a call abort() left behind
        # has no other owner until it ends)
        self._waits: set[asyncio.Task[Any]] = set()
        self._calls: set[asyncio.Task[Any]] = set()
        # the machine's loop only: per open device file, the task waiting to tell the
        # kernel that a poll may be answered again (see `poll`)
        self._watchers: dict[int, asyncio.Task[None]] = {}
        # held while a poll notification is sent, so that none is sent after abort()
        self._notify_guard = threading.Lock()
        self.ready = threading.Event()
        self.on_init: Callable[[], None] | None = None

    # -- crossing to the machine ---------------------------------------------------------------

    def _error(self, code: int) -> OSError:
        return _load_binding().error(abs(code))

    def _call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the machine's loop and return its result; OSErrors keep their errno,
        anything else is logged and becomes EIO."""

        async def on_loop() -> T:
            return fn()

        return self._await(on_loop())

    def _await(self, coro: Coroutine[Any, Any, T], *, wait: bool = False,
               abortable: bool = False) -> T:
        """Run `coro` on the machine's loop.  `wait`: no time limit (device I/O blocks as
        long as the driver makes it, as read(2) on a device does).  `abortable`: `abort()`
        ends the wait with ENODEV (a device's open, read and write: not its close, which
        the machine must see to drop its references)."""
        loop = self._system.loop
        if loop.is_closed() or not loop.is_running() or (abortable and self.aborted):
            coro.close()  # the machine is not running (a file kept open after unmount)
            raise self._error(Errno.ENODEV)

        async def boxed() -> T | _Raised:
            # On the machine's loop.  The call runs as a task of its own, shielded: abort()
            # cancels only this wait, never a driver half-way (the machine finishes or
            # shuts down what it started).  Whatever the call raises comes back as a value,
            # so an exception out of System.call is the bridge's own: the wait timed out
            # (TimeoutError), or abort() or the machine's shutdown cancelled it.
            task = asyncio.current_task()
            if abortable and task is not None:
                if self.aborted:
                    coro.close()
                    return _Raised(OSError(Errno.ENODEV, "No such device"))
                self._waits.add(task)
            call = asyncio.ensure_future(coro)
            self._calls.add(call)
            call.add_done_callback(self._call_done)
            try:
                return await asyncio.shield(call)
            except Exception as exc:
                return _Raised(exc)
            finally:
                if task is not None:
                    self._waits.discard(task)

        try:
            result = self._system.call(boxed(), None if wait else self._timeout)
        except TimeoutError:
            # The wait for the machine, not the call: an OSError(ETIMEDOUT) of a driver is
            # a TimeoutError too, but boxed() returned it.  The call goes on regardless.
            log.error("usbemu FUSE: the machine did not answer within %s s", self._timeout)
            raise self._error(Errno.ETIMEDOUT) from None
        except concurrent.futures.CancelledError:
            raise self._error(Errno.ENODEV) from None  # aborted: the machine is going away
        except Exception:
            log.exception("usbemu FUSE: the machine could not be reached")
            raise self._error(Errno.EIO) from None
        if not isinstance(result, _Raised):
            return result
        exc = result.error
        if isinstance(exc, OSError):
            if isinstance(exc.errno, int) and exc.errno > 0:
                raise self._error(exc.errno) from None
            log.error("usbemu FUSE: error without an errno", exc_info=exc)
            raise self._error(Errno.EIO) from None
        log.error("usbemu FUSE: operation failed on the machine", exc_info=exc)
        raise self._error(Errno.EIO) from None

    def _call_done(self, call: asyncio.Task[Any]) -> None:
        """A call ended (on the machine's loop).  Its exception is marked as seen: the
        outcome of a call that abort() left behind goes nowhere."""
        self._calls.discard(call)
        if not call.cancelled() and call.exception() is not None:
            log.debug("usbemu FUSE: a call ended with %r", call.exception())

    @property
    def aborted(self) -> bool:
        """`abort()` was called: device files' open, read and write fail with ENODEV."""
        return self._aborted.is_set()

    def abort(self) -> None:
        """End every open, read and write of a device file that waits for its driver now,
        and refuse those that follow, with ENODEV — the machine is going away (the mount is
        being taken down), and a read blocked in a driver must not hold the unmount up.
        The driver's call itself is not interrupted: the machine finishes it, or cancels
        it when it shuts down.  Attribute calls (bounded by the timeout) and closes go on
        while the machine runs.  Thread-safe; idempotent."""
        with self._notify_guard:
            self._aborted.set()
        loop = self._system.loop

        def cancel_waits() -> None:
            for task in [*self._waits, *self._watchers.values()]:
                task.cancel()

        with suppress(RuntimeError):  # a closed loop: nothing waits on it
            loop.call_soon_threadsafe(cancel_waits)

    # -- attributes ----------------------------------------------------------------------------

    def _mode(self, node: object, mode: int) -> int:
        """The mode the host sees: a device node is a regular file when the char-device
        layer serves it through the mount (the host kernel would not let it reach us as
        a character device)."""
        if isinstance(node, DevNode) and self._chrdev is not None:
            return stat_mod.S_IFREG | stat_mod.S_IMODE(mode)
        return mode

    def _attrs(self, path: str) -> dict[str, int]:
        """stat(2) of `path` without following a last symlink (runs on the machine's loop)."""
        _, node = self._vfs.resolve(path, follow=False)
        st = self._vfs.stat(path, follow=False)
        mode = self._mode(node, st.mode)
        size = st.size
        nlink = 1
        rdev = 0
        if isinstance(node, Attr):
            size = 0
            if node.show is not None:
                try:
                    size = len(self._vfs.read(path))
                except Exception:  # stat(2) does not fail for this; read(2) will say why
                    size = 0
        elif isinstance(node, Symlink):
            size = len(self._link_target(path, node.target))
        elif isinstance(node, DevNode):
            rdev = 0 if self._chrdev is not None else os.makedev(node.major, node.minor)
            if node.block and self._chrdev is not None:
                size = self._block_size(node)
        elif not isinstance(node, (RegularFile, FopsFile)):
            nlink = 2
        atime, mtime, ctime = self._times_ns
        return {"st_mode": mode, "st_nlink": nlink, "st_size": size,
                "st_uid": self._uid, "st_gid": self._gid, "st_rdev": rdev,
                "st_blksize": 4096, "st_atime": atime, "st_mtime": mtime, "st_ctime": ctime}

    def _block_size(self, node: DevNode) -> int:
        """The size in bytes of the block device behind `node` (0 when there is none)."""
        blocks = self._chrdev.block_devices if self._chrdev is not None else None
        size = None if blocks is None else blocks.blkdev_size(mkdev(node.major, node.minor))
        return size or 0

    @staticmethod
    def _link_target(path: str, target: str) -> str:
        """The target as the host must see it: absolute targets made relative to the link's
        directory, so they resolve inside the mount."""
        if not target.startswith("/"):
            return target
        return posixpath.relpath(posixpath.normpath(target), posixpath.dirname(path))

    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        return self._call(lambda: self._attrs(path))

    def readlink(self, path: str) -> str:
        def target() -> str:
            return self._link_target(path, self._vfs.readlink(path))

        return self._call(target)

    def readdir(self, path: str, fh: int) -> list[str | tuple[str, dict[str, int], int]]:
        def entries() -> list[str | tuple[str, dict[str, int], int]]:
            found: list[str | tuple[str, dict[str, int], int]] = [".", ".."]
            for name in self._vfs.listdir(path):
                child = posixpath.join(path, name)
                try:
                    node = self._vfs.resolve(child, follow=False)[1]
                    mode = self._mode(node, self._vfs.stat(child, follow=False).mode)
                except OSError:
                    continue  # gone between listing and looking: readdir skips it
                found.append((name, {"st_mode": stat_mod.S_IFMT(mode)}, 0))
            return found

        return self._call(entries)

    def access(self, path: str, amode: int) -> int:
        def check() -> int:
            _, node = self._vfs.resolve(path)
            denied = False
            if isinstance(node, Attr):
                denied = bool(amode & os.X_OK
                              or (amode & os.W_OK and node.store is None)
                              or (amode & os.R_OK and node.show is None))
            elif isinstance(node, (DevNode, RegularFile, FopsFile)):
                denied = bool(amode & os.X_OK)
            return -Errno.EACCES if denied else 0

        result = self._call(check)
        if result:
            raise self._error(result)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}

    # -- files ---------------------------------------------------------------------------------

    def open(self, path: str, flags: int) -> int:
        accmode = flags & os.O_ACCMODE

        async def do_open() -> _OpenFile:
            canonical, node = self._vfs.resolve(path)
            if isinstance(node, DevNode):
                if self._chrdev is None:  # no driver can be reached through this mount
                    raise OSError(Errno.ENXIO, "No such device or address", path)
                return _OpenFile(canonical,
                                 device=await self._chrdev.open_node(node, flags, path))
            if isinstance(node, FopsFile):  # a debugfs file with its own operations
                if self._chrdev is None:
                    raise OSError(Errno.ENXIO, "No such device or address", path)
                return _OpenFile(canonical,
                                 device=await self._chrdev.open_fops(node, flags, path))
            if isinstance(node, RegularFile):
                return _OpenFile(canonical, regular=True)
            if not isinstance(node, Attr):
                raise OSError(Errno.EISDIR, "Is a directory", path)
            if accmode in (os.O_WRONLY, os.O_RDWR) and node.store is None:
                raise OSError(Errno.EACCES, "Permission denied", path)
            if accmode in (os.O_RDONLY, os.O_RDWR) and node.show is None:
                raise OSError(Errno.EACCES, "Permission denied", path)
            return _OpenFile(canonical)

        opened = self._await(do_open(), wait=True, abortable=True)  # a driver's open may sleep
        fh = next(self._next_fh)
        with self._files_guard:
            self._files[fh] = opened
        return fh

    def _open_file(self, fh: int) -> _OpenFile:
        with self._files_guard:
            found = self._files.get(fh)
        if found is None:
            raise self._error(Errno.EBADF)
        return found

    async def _seek_device(self, file: File, offset: int) -> None:
        """Move a device file to the offset the host asks for (FUSE passes no lseek); a
        device that cannot seek reads and writes where it is."""
        assert self._chrdev is not None
        if offset != file.f_pos:
            result = await self._chrdev.llseek(file, offset, SEEK_SET)
            if result < 0 and result != -Errno.ESPIPE:
                raise OSError(-result, os.strerror(-result), file.f_path)

    def _read_device(self, file: File, size: int, offset: int) -> bytes:
        async def do_read() -> bytes:
            assert self._chrdev is not None
            await self._seek_device(file, offset)
            buf = bytearray(size)
            count = await self._chrdev.read(file, buf)
            if count < 0:
                raise OSError(-count, os.strerror(-count), file.f_path)
            return bytes(buf[:count])

        return self._await(do_read(), wait=True, abortable=True)

    def _write_device(self, file: File, data: bytes, offset: int) -> int:
        async def do_write() -> int:
            assert self._chrdev is not None
            await self._seek_device(file, offset)
            count = await self._chrdev.write(file, data)
            if count < 0:
                raise OSError(-count, os.strerror(-count), file.f_path)
            return count

        return self._await(do_write(), wait=True, abortable=True)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        handle = self._open_file(fh)
        if handle.device is not None:
            return self._read_device(handle.device, size, offset)
        if handle.regular:
            return self._call(lambda: self._vfs.read(handle.path)[offset:offset + size])
        content = handle.content
        if content is None or offset == 0:
            content = handle.content = self._call(lambda: self._vfs.read(handle.path))
        return content[offset:offset + size]

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        handle = self._open_file(fh)
        if handle.device is not None:
            return self._write_device(handle.device, data, offset)
        if handle.regular:
            return self._call(lambda: self._vfs.pwrite(handle.path, data, offset))
        handle.content = None
        written: int = self._await(self._vfs.write(handle.path, data))
        return written

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        def check() -> None:
            _, node = self._vfs.resolve(path)
            if isinstance(node, RegularFile):
                self._vfs.truncate(path, length)
                return
            if isinstance(node, Attr):
                if node.store is None:
                    raise OSError(Errno.EACCES, "Permission denied", path)
                return
            if isinstance(node, DevNode):
                return  # O_TRUNC means nothing to a device (Linux ignores it too)
            raise OSError(Errno.EISDIR, "Is a directory", path)

        self._call(check)
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        """fsync(2) of an open file: a device file's driver writes back (a disk flushes
        its write cache); other files have nothing to write back."""
        handle = self._open_file(fh)
        file = handle.device
        if file is None or self._chrdev is None:
            return 0
        chrdev = self._chrdev

        async def do_fsync() -> None:
            result = await chrdev.fsync(file, bool(datasync))
            if result < 0:
                raise OSError(-result, os.strerror(-result), file.f_path)

        self._await(do_fsync(), wait=True, abortable=True)
        return 0

    # -- poll ----------------------------------------------------------------------------------

    #: Every event a poll reply may carry.
    _ALL_EVENTS = (Poll.IN | Poll.PRI | Poll.OUT | Poll.RDNORM | Poll.RDBAND | Poll.WRNORM
                   | Poll.WRBAND | Poll.MSG | Poll.RDHUP)

    def poll(self, path: str, fh: int, ph: object, reventsp: Any) -> int:
        """poll(2), select(2) and epoll of an open file.  A device file is as ready as its
        driver's poll says (a tty: readable when input is there, POLLHUP after a hangup);
        when it is not yet readable or not yet writable and the kernel gave a poll handle
        `ph`, a watcher on the machine sends fuse_notify_poll once it is, so the program
        sleeping in poll wakes (one watcher per open file; the kernel asks again).  Other
        files are always readable and writable."""
        binding = _load_binding()
        handle = self._open_file(fh)
        file = handle.device
        if file is None or self._chrdev is None:
            binding.destroy_pollhandle(ph)
            reventsp[0] = int(DEFAULT_POLLMASK)
            return 0
        chrdev = self._chrdev

        async def look() -> Poll:
            mask = await chrdev.poll(file, self._ALL_EVENTS, 0)
            missing = (Poll.IN | Poll.OUT) & ~mask
            if ph and missing and not mask & (Poll.ERR | Poll.HUP | Poll.NVAL):
                self._watch(fh, file, missing, ph)
            else:
                binding.destroy_pollhandle(ph)
            return mask

        reventsp[0] = int(self._await(look()))
        return 0

    def _watch(self, fh: int, file: File, events: Poll, ph: object) -> None:
        """Wait on the machine until `file` has one of `events`, then notify the kernel
        through `ph` (replacing the watcher of an earlier poll of the same file)."""
        assert self._chrdev is not None
        chrdev, binding = self._chrdev, _load_binding()
        old = self._watchers.pop(fh, None)
        if old is not None:
            old.cancel()

        async def watch() -> None:
            try:
                await chrdev.poll(file, events, None)
                with self._notify_guard:
                    if not self.aborted:
                        binding.notify_poll(ph)
            finally:
                binding.destroy_pollhandle(ph)
                if self._watchers.get(fh) is task:
                    del self._watchers[fh]

        task = asyncio.get_running_loop().create_task(watch())
        self._watchers[fh] = task

    def _unwatch(self, fh: int) -> None:
        """A file is closed: its watcher (if any) ends without notifying."""
        loop = self._system.loop

        def cancel() -> None:
            task = self._watchers.pop(fh, None)
            if task is not None:
                task.cancel()

        with suppress(RuntimeError):
            loop.call_soon_threadsafe(cancel)

    def release(self, path: str, fh: int) -> int:
        with self._files_guard:
            handle = self._files.pop(fh, None)
        if handle is not None:
            self._unwatch(fh)
            self._close_on_machine(handle, wait=True)
        return 0

    def _close_on_machine(self, handle: _OpenFile, *, wait: bool) -> None:
        """The close of a device file, on the machine (its driver's release)."""
        if handle.device is None or self._chrdev is None:
            return
        chrdev, file = self._chrdev, handle.device

        async def do_close() -> None:
            await chrdev.close(file)

        try:
            self._await(do_close(), wait=wait)
        except OSError:
            log.warning("usbemu FUSE: %s was not closed on the machine", handle.path)

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        self._call(lambda: self._vfs.resolve(path, follow=False))
        return 0  # accepted, as sysfs accepts touch; the tree keeps no times

    # -- the directories of ordinary files (/etc/modprobe.d) -----------------------------------

    def create(self, path: str, mode: int) -> int:
        """open(O_CREAT) of a new file: made in a directory of ordinary files
        (`FileDir`); EACCES anywhere else, as sysfs refuses it."""
        def make() -> str:
            if self._vfs.parent_dir(path) is None:
                raise OSError(Errno.EACCES, "Permission denied", path)
            self._vfs.create(path)
            return self._vfs.resolve(path)[0]

        canonical = self._call(make)
        fh = next(self._next_fh)
        with self._files_guard:
            self._files[fh] = _OpenFile(canonical, regular=True)
        return fh

    def unlink(self, path: str) -> int:
        """unlink(2): a file of a directory of ordinary files goes; anything else is
        EPERM, as in sysfs."""
        self._call(lambda: self._vfs.unlink(path))
        return 0

    # -- what the tree does not allow ----------------------------------------------------------

    def mknod(self, path: str, mode: int, dev: int) -> int:
        raise self._error(Errno.EPERM)

    def mkdir(self, path: str, mode: int) -> int:
        raise self._error(Errno.EPERM)

    def rmdir(self, path: str) -> int:
        raise self._error(Errno.EPERM)

    def symlink(self, target: str, source: str) -> int:
        raise self._error(Errno.EPERM)

    def link(self, target: str, source: str) -> int:
        raise self._error(Errno.EPERM)

    def rename(self, old: str, new: str) -> int:
        raise self._error(Errno.EPERM)

    def chmod(self, path: str, mode: int) -> int:
        raise self._error(Errno.EPERM)

    def chown(self, path: str, uid: int, gid: int) -> int:
        raise self._error(Errno.EPERM)

    # -- lifetime ------------------------------------------------------------------------------

    def init(self, path: str) -> None:
        """The kernel's INIT request: the mount is live."""
        if self.on_init is not None:
            self.on_init()
        self.ready.set()

    def destroy(self, path: str) -> None:
        """The session ends (unmounted).  Device files whose RELEASE the host kernel did not
        send — a file closed as the tree was unmounted — are closed on the machine now, so
        the driver's release runs and its module is not held."""
        with self._files_guard:
            handles = list(self._files.values())
            self._files.clear()
        for handle in handles:
            self._close_on_machine(handle, wait=False)


# -- mounting ----------------------------------------------------------------------------------


def machine_char_devices(system: System) -> CharDevices | None:
    """The machine's char-device registry (`system.chrdev`), if it has one."""
    found = getattr(system, "chrdev", None)
    return found if isinstance(found, CharDevices) else None


class _MachineThread:
    """Runs the machine's loop in a thread of its own (`loop.run_forever()`) — unless it is
    already running somewhere, in which case there is nothing to do."""

    def __init__(self, system: System) -> None:
        self._loop = system.loop
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def start(self) -> None:
        if self._loop.is_closed():
            raise RuntimeError("the machine is shut down (its loop is closed)")
        if self._loop.is_running():
            return
        started = threading.Event()
        self._loop.call_soon(started.set)
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="usbemu-machine", daemon=True)
        self._thread.start()
        if not started.wait(MOUNT_TIMEOUT):
            raise RuntimeError("the machine's loop did not start")

    def stop(self) -> None:
        with self._guard:  # stop exactly once: a second loop.stop() would stop a later run
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        thread.join()


class _Cwd:
    """The process's working directory, to put back: libfuse's fuse_daemonize() changes it
    to "/" even in the foreground (after mounting, before its loop starts)."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            self._fd = None

    def restore(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.fchdir(fd)
            except OSError:
                log.warning("usbemu FUSE: could not return to the working directory")
            finally:
                os.close(fd)


def _default_action(signum: int, frame: object) -> None:
    """What SIG_DFL would have done: put it back and deliver the signal again."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@contextmanager
def _signals_left_alone() -> Iterator[None]:
    """Keep libfuse from taking SIGTERM and SIGHUP while it mounts in a background thread.

    libfuse installs its own handlers (which unmount instead of ending the process) for
    signals whose disposition is SIG_DFL.  For the time of the mount a stand-in handler
    with the default's effect is installed, so libfuse leaves them alone; then SIG_DFL
    is put back.  Only possible from the main thread (Python's rule for signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    replaced = [sig for sig in (signal.SIGTERM, signal.SIGHUP)
                if signal.getsignal(sig) == signal.SIG_DFL]
    for sig in replaced:
        signal.signal(sig, _default_action)
    try:
        yield
    finally:
        for sig in replaced:
            if signal.getsignal(sig) == _default_action:
                signal.signal(sig, signal.SIG_DFL)


#: Seconds between two looks at a stop signal while `serve_forever` waits.
_SIGNAL_POLL = 0.05
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _stop_signals_caught() -> Iterator[list[int]]:
    """Catch SIGINT, SIGTERM and SIGHUP for the time of the block: each only records its
    number in the list yielded, which the caller polls; the previous handlers are put back
    at the end.  Having handlers installed also keeps libfuse from taking these signals.
    Only in the main thread (Python's rule for signal handlers): elsewhere the list stays
    empty and the signals keep whatever action they have."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)  # the waiting loop sees it within _SIGNAL_POLL

    previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


_active: set[FuseMount] = set()
_active_guard = threading.Lock()


@atexit.register
def _unmount_all() -> None:
    """Do not leave a dead mount ("Transport endpoint is not connected") behind."""
    with _active_guard:
        mounts = list(_active)
    for fm in mounts:
        fm.unmount()


class FuseMount:
    """One machine's tree mounted at one host directory.  Use as a context manager, or
    `start()` … `unmount()`.  Context: called from outside the machine's loop."""

    def __init__(self, system: System, mountpoint: str | os.PathLike[str], *,
                 device_files: bool = True, allow_other: bool = False,
                 timeout: float = DEFAULT_TIMEOUT, debug: bool = False) -> None:
        self.system = system
        #: The char-device layer that serves device nodes as files, or None: nodes are
        #: character-device entries (`device_files=False`, or a machine without one).
        self.chrdev = machine_char_devices(system) if device_files else None
        self.mountpoint = os.path.abspath(os.fspath(mountpoint))
        self.allow_other = allow_other
        self.timeout = timeout
        self.debug = debug
        self._machine = _MachineThread(system)
        self._fuse_thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._served_out = False
        self._operations: VfsOperations | None = None
        self._mounted = False
        self._lock = threading.Lock()  # held for the whole of unmount()

    def __enter__(self) -> FuseMount:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount()

    @property
    def mounted(self) -> bool:
        """Mounted and served (False once unmounted, also from outside)."""
        thread = self._fuse_thread
        return self._mounted and (thread is None or thread.is_alive())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the tree is unmounted from outside (``fusermount3 -u DIR``) or
        `timeout` seconds pass; True if it was.  Call `unmount()` afterwards to join the
        machine thread."""
        thread = self._fuse_thread
        if thread is None:
            return not self._mounted
        thread.join(timeout)
        return not thread.is_alive()

    def _prepare(self) -> tuple[_Binding, VfsOperations, dict[str, object]]:
        reason = unavailable_reason()
        if reason is not None:
            raise FuseUnavailable(reason)
        binding = _load_binding()
        if not os.path.isdir(self.mountpoint):
            raise NotADirectoryError(Errno.ENOTDIR, "mountpoint is not a directory",
                                     self.mountpoint)
        if os.path.ismount(self.mountpoint):
            raise OSError(Errno.EBUSY, "something is already mounted there", self.mountpoint)
        before = os.stat(self.mountpoint)
        self._operations = VfsOperations(
            self.system, chrdev=self.chrdev, timeout=self.timeout,
            times_ns=(before.st_atime_ns, before.st_mtime_ns, before.st_ctime_ns))
        options: dict[str, object] = {
            "fsname": "usbemu", "subtype": "usbemu", "direct_io": True,
            # the tree changes under the kernel's feet (plug, unplug): cache nothing
            "entry_timeout": 0, "attr_timeout": 0, "negative_timeout": 0,
            "debug": self.debug,
        }
        if self.allow_other:
            options["allow_other"] = True
        if binding.libfuse_version[0] >= 3:
            # left unset, libfuse 3.14 complains "Ignoring invalid max threads value"
            options["max_idle_threads"] = 10
        return binding, self._operations, options

    def _serve(self, binding: _Binding, operations: VfsOperations,
               options: Mapping[str, object]) -> None:
        try:
            binding.serve(operations, self.mountpoint, options)
        except BaseException as exc:  # reported by start() or unmount()
            self._failure = exc
        finally:
            self._served_out = True
            operations.ready.set()  # wakes start() if libfuse never got as far as INIT

    def _failed(self, what: str) -> FuseUnavailable:
        detail = f": {self._failure}" if self._failure is not None else ""
        return FuseUnavailable(f"mounting {self.mountpoint} failed ({what}{detail}); "
                               "libfuse printed the reason on stderr")

    def start(self) -> FuseMount:
        """Mount, with the FUSE loop in a background thread, and return once the kernel
        has initialised the mount (at once if it is mounted already).  Raises
        FuseUnavailable if it cannot be mounted."""
        if self._mounted:
            return self
        binding, operations, options = self._prepare()
        self._machine.start()
        cwd = operations.on_init = _Cwd().restore
        try:
            self._fuse_thread = threading.Thread(
                target=self._serve, args=(binding, operations, options),
                name="usbemu-fuse", daemon=True)
            with _signals_left_alone():
                self._fuse_thread.start()
                ready = operations.ready.wait(MOUNT_TIMEOUT)
            if not ready or self._served_out:
                if not self._served_out:
                    self._mounted = True
                    self.unmount()
                    raise self._failed("the kernel sent no INIT request")
                self._fuse_thread.join()
                self._fuse_thread = None
                raise self._failed("libfuse gave up")
        except BaseException:
            self._machine.stop()
            raise
        finally:
            cwd()
        self._mounted = True
        with _active_guard:
            _active.add(self)
        return self

    def serve_forever(self) -> None:
        """Mount and serve until the tree is unmounted (``fusermount3 -u DIR``, or
        `unmount()` from another thread) or, when called in the main thread, SIGINT,
        SIGTERM or SIGHUP arrives; then unmount and return.  The FUSE loop runs in a
        thread of its own (as with `start`) and the calling thread waits for either, so a
        signal takes effect at once even while a request is blocked in a driver: the
        unmount ends such waits with ENODEV first (`VfsOperations.abort`)."""
        with _stop_signals_caught() as received:
            self.start()
            try:
                while not received and not self.wait(_SIGNAL_POLL):
                    pass
            finally:
                self.unmount()
        if received:
            log.debug("usbemu FUSE: %s: unmounted", signal.Signals(received[0]).name)

    def unmount(self) -> None:
        """Unmount, join the FUSE thread, stop the machine thread if this mount started it.
        Calls still waiting for the machine (a read blocked in a driver) end first, with
        ENODEV, so they do not hold the unmount up.  Idempotent; a second caller returns
        once the first is done.  (For a mount served by `serve_forever`, called from
        another thread: it unmounts, and `serve_forever` returns.)"""
        with self._lock:
            if not self._mounted:
                return
            self._mounted = False
            with _active_guard:
                _active.discard(self)
            if self._operations is not None:
                self._operations.abort()
            self._take_down()

    def _take_down(self) -> None:
        """fusermount3 -u (lazily if busy), join the FUSE thread, stop the machine's."""
        command = _unmount_command()
        thread = self._fuse_thread
        if command is not None and (thread is None or thread.is_alive()):
            done = subprocess.run([*command, self.mountpoint], capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0 and os.path.ismount(self.mountpoint):
                # busy (a process has its cwd or a file in it): detach now, free it later
                lazy = [*command[:-1], "-uz"] if command[-1] == "-u" else ["umount", "-l"]
                subprocess.run([*lazy, self.mountpoint], capture_output=True, check=False)
        if thread is None:
            return
        thread.join(UNMOUNT_TIMEOUT)
        if thread.is_alive():
            log.warning("usbemu FUSE: %s is still in use by some process; detached, its "
                        "FUSE thread ends when the last user lets go", self.mountpoint)
        else:
            self._fuse_thread = None
        self._machine.stop()
        failure, self._failure = self._failure, None
        if failure is not None and not isinstance(failure, RuntimeError):
            raise failure


def mount(system: System, mountpoint: str | os.PathLike[str], *, foreground: bool = False,
          device_files: bool = True, allow_other: bool = False,
          timeout: float = DEFAULT_TIMEOUT, debug: bool = False) -> FuseMount:
    """Mount `system`'s tree at `mountpoint`.

    In the background (default) it returns a started `FuseMount` — use it as a context
    manager or call `unmount()`; meanwhile reach the machine with `system.call()`.  With
    ``foreground=True`` the calling thread waits while the tree is served and `mount`
    returns (the unmounted `FuseMount`) once it is unmounted — in the main thread also on
    SIGINT, SIGTERM or SIGHUP, at once, even while a read is blocked in a driver.  Either
    way the machine's loop runs in a thread of its own while mounted, unless it is already
    running in another one.
    `device_files`: device nodes are files whose I/O reaches their drivers (False:
    character-device entries that cannot be opened through the mount).  `allow_other`:
    let other users in (FUSE's allow_other; needs user_allow_other in /etc/fuse.conf for
    a non-root mounter).  `timeout`: seconds an attribute request waits for the machine.
    Raises FuseUnavailable when FUSE cannot be used here (the message says why)."""
    fm = FuseMount(system, mountpoint, device_files=device_files, allow_other=allow_other,
                   timeout=timeout, debug=debug)
    if foreground:
        fm.serve_forever()
        return fm
    return fm.start()


def run_mount(mountpoint: str, setup: Callable[[System], None] | None = None) -> None:
    """What ``usbemu mount DIR`` does: boot a machine on real time (outside programs read
    it), let `setup` populate it (default: one EHCI controller, bus 1, six ports), mount
    its tree at `mountpoint` and serve in the foreground until the tree is unmounted
    (``fusermount3 -u DIR``) or the process gets SIGINT/SIGTERM/SIGHUP — at once, a read
    blocked in a driver ending with ENODEV; then shut the machine down.  Raises
    FuseUnavailable (print its message) when FUSE cannot be used here."""
    reason = unavailable_reason()
    if reason is not None:
        raise FuseUnavailable(reason)
    with System(virtual=False) as system:
        if setup is None:
            system.add_controller()
        else:
            setup(system)
        system.settle()
        mount(system, mountpoint, foreground=True)


__all__ = ["DEFAULT_TIMEOUT", "FuseMount", "FuseUnavailable", "VfsOperations", "mount",
           "run_mount", "unavailable_reason"]
