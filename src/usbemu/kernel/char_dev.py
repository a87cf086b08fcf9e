"""Character devices — counterpart of fs/char_dev.c: regions of device numbers
(register_chrdev_region, alloc_chrdev_region — majors, minors, and Linux's "Device or
resource busy" for a range that overlaps one already registered), the cdev map (cdev_add,
cdev_del), register_chrdev for the common case, and chrdev_open.

`CharDevices` is one machine's char-device registry.  Opening a device number finds its
cdev (chrdev_open: -ENXIO when there is none), takes references on the modules owning the
cdev and the file operations (so a module with open files cannot be unloaded), and calls
the driver's `open`.  The system calls on the files it opens (read, write, ioctl, poll,
llseek, close) and their revocation when the device goes away are those of
kernel/syscalls.py's `OpenFiles`, which `CharDevices` extends; the file operations
themselves are kernel/fs.py's.  Not modelled: /proc/devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..errors import Errno, strerror
from .fs import (
    MINORMASK,
    O_RDWR,
    File,
    FileOperations,
    FMode,
    Inode,
    ModuleOwner,
    dev_major,
    dev_minor,
    fops_get,
    fops_put,
    format_dev,
    mkdev,
    module_put,
    try_module_get,
)
from .printk import Level
from .syscalls import OpenFiles
from .vfs import fs_error

if TYPE_CHECKING:
    from .device import DriverCore

__all__ = [
    "CHRDEV_MAJOR_DYN_END",
    "CHRDEV_MAJOR_DYN_EXT_END",
    "CHRDEV_MAJOR_DYN_EXT_START",
    "CHRDEV_MAJOR_HASH_SIZE",
    "CHRDEV_MAJOR_MAX",
    "Cdev",
    "CharDevices",
    "CharRegion",
]

CHRDEV_MAJOR_MAX: Final = 512
CHRDEV_MAJOR_HASH_SIZE: Final = 255
#: Dynamic majors: 254 down to 234, then 511 down to 384 (find_dynamic_major).
CHRDEV_MAJOR_DYN_END: Final = 234
CHRDEV_MAJOR_DYN_EXT_START: Final = 511
CHRDEV_MAJOR_DYN_EXT_END: Final = 384


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


class CharDevices(OpenFiles):
    """The char-device registry of one machine (fs/char_dev.c), with the system calls on
    the files opened through it (`OpenFiles`).  Context: registration is atomic; `open`,
    `read`, `write`, `ioctl`, `poll`, `llseek` and `close` may sleep (they call the
    driver)."""

    def __init__(self, driver_core: DriverCore) -> None:
        super().__init__(driver_core)
        self._regions: list[CharRegion] = []
        #: kobj_map: (first dev, range, cdev), smallest range first, newest first among equals.
        self._map: list[tuple[int, int, Cdev]] = []

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

    # -- chrdev_open ---------------------------------------------------------------------------

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
        inode = self.inode(dev) or Inode(dev)
        inode.i_cdev = cdev
        file = File(inode, flags, path, fops)
        file.cdev = cdev
        ret = 0 if fops.open is None else await self.call_op(file, "open", fops.open, inode,
                                                            file)
        if ret < 0:
            fops_put(file.f_op)
            module_put(cdev.owner)
            raise fs_error(self._user_errno(ret), path)
        if file.f_op.llseek is None:
            file.f_mode &= ~FMode.LSEEK
        self.fd_install(file)
        return file

