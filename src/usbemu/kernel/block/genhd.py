"""Disks — counterpart of Linux's block/genhd.c: struct gendisk and its operations
(include/linux/blkdev.h), add_disk (device_add_disk), del_gendisk, set_capacity,
set_capacity_and_notify, set_disk_ro, disk_force_media_change, the disk's sysfs files and
uevent, /sys/block, /sys/dev/block and /proc/partitions, and sd's sd_format_disk_name
(`disk_name_for_index`).

A driver describes a disk with a `Gendisk` — name, device numbers (major, first_minor and
the minors its partitions use), `BlockDeviceOperations`, a `RequestQueue` — and adds it
under its parent device: the disk appears in class "block" below the parent
(…/0:0:0:0/block/sda) with /dev/sda (b 8:0), /sys/block/sda and /sys/dev/block/8:0, and its
partition table is read (partitions/).  `del_gendisk` takes it and its partitions away:
their remove uevents delete the nodes and revoke the files open on them, new I/O fails
with EIO, and the call returns once the requests still queued are done.  A disk moves
ALLOCATED → LIVE → DEAD, one way only.  `BlockCore` is the block layer of one machine
(`block_core_of()`), with the Python API: `disk(name)`, `bdev(name)`, `read`, `write`,
`flush`.  Not modelled: the bdi, disk events polling, badblocks, /proc/diskstats,
hidden disks, integrity.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntFlag
from typing import TYPE_CHECKING, Any, Final

from ...errors import Errno, IllegalStateTransition
from ..devclass import ClassDevice, DeviceClass, DeviceClasses
from ..device import Device, DriverCore, Uevent
from ..fs import MINORMASK, File, ModuleOwner, dev_major, dev_minor, format_dev, mkdev
from ..module import this_module
from ..printk import Level
from ..ratelimit import Ratelimit
from ..sysfs import SysAttr, attr_group, kernfs_link, ro
from ..vfs import Attr, Node, StaticDir, Symlink, Vfs
from .bdev import disk_scan_partitions
from .blk_mq import RequestQueue, blk_flush, blk_read, blk_write
from .blk_sysfs import queue_files
from .blk_types import BlkOpen, BlockDevice
from .fops import blkdev_open
from .partitions.check import DISK_MAX_PARTS
from .partitions.core import delete_partition

if TYPE_CHECKING:
    from ..syscalls import OpenFiles

__all__ = [
    "BLOCK_EXT_MAJOR",
    "DISK_ATTRS",
    "SCSI_DISK0_MAJOR",
    "BlockCore",
    "BlockDeviceOperations",
    "DiskDevice",
    "DiskEvent",
    "DiskState",
    "Gendisk",
    "add_disk",
    "alloc_disk",
    "block_core_of",
    "del_gendisk",
    "disk_force_media_change",
    "disk_name_for_index",
    "set_capacity",
    "set_capacity_and_notify",
    "set_disk_ro",
]

#: The major of partitions beyond a disk's minors (and of disks without a major).
BLOCK_EXT_MAJOR: Final = 259
#: sd's first major: sda is 8:0, sda1 8:1, sdb 8:16.
SCSI_DISK0_MAJOR: Final = 8


class DiskState(Enum):
    """Where a disk is in its life: allocated, added (GENHD_FL_UP: live), deleted
    (GD_DEAD)."""

    ALLOCATED = "allocated"
    LIVE = "live"
    DEAD = "dead"


_DISK_TRANSITIONS: Final = {DiskState.ALLOCATED: {DiskState.LIVE},
                            DiskState.LIVE: {DiskState.DEAD}, DiskState.DEAD: set()}


class DiskEvent(IntFlag):
    """DISK_EVENT_*: the events a disk reports (the `events` file)."""

    MEDIA_CHANGE = 1 << 0
    EJECT_REQUEST = 1 << 1


#: disk_events_strs[].
DISK_EVENT_NAMES: Final = {DiskEvent.MEDIA_CHANGE: "media_change",
                           DiskEvent.EJECT_REQUEST: "eject_request"}


@dataclass(frozen=True, eq=False)
class BlockDeviceOperations:
    """struct block_device_operations: what a disk driver does for its disk; every
    member optional, each a plain function or a coroutine (may sleep).

    - `open(disk, mode)`: the disk or one of its partitions is opened (`BlkOpen` bits);
      0 / None, or -errno to refuse (sd: -ENOMEDIUM, -EROFS for a writable open of a
      write-protected disk).
    - `release(disk)`: one open is over.
    - `ioctl(bdev, mode, cmd, arg)`: a command the block layer does not know; a value or
      -errno (-ENOTTY, -ENOIOCTLCMD: not mine).
    - `set_read_only(bdev, ro)`: BLKROSET asks; 0, or -errno to refuse.

    `owner` is the module pinned while the disk is open (THIS_MODULE by default)."""

    owner: ModuleOwner | None = field(default_factory=this_module)
    open: Callable[[Gendisk, BlkOpen], int | Awaitable[int | None] | None] | None = None
    release: Callable[[Gendisk], Awaitable[None] | None] | None = None
    ioctl: Callable[[BlockDevice, BlkOpen, int, Any], int | Awaitable[int]] | None = None
    set_read_only: Callable[[BlockDevice, bool], int | Awaitable[int]] | None = None


class Gendisk:
    """struct gendisk.  `disk_name` ("sda"), `major`, `first_minor` and `minors` (the
    numbers of the disk and its first partitions: sd uses 8, 16·n and 16), `fops`, the
    request queue and the driver's `private_data`; `removable` (GENHD_FL_REMOVABLE),
    `no_part` (GENHD_FL_NO_PART: never scanned for partitions), `events` (DiskEvent).
    `part0` is the whole disk as a block device, `parts` its partitions by number.
    Raises ValueError when the queue already serves another disk."""

    def __init__(self, disk_name: str, major: int, first_minor: int, minors: int,
                 fops: BlockDeviceOperations, queue: RequestQueue,
                 private_data: Any = None) -> None:
        if queue.disk is not None:
            raise ValueError(f"the queue already serves disk {queue.disk.disk_name!r}")
        self.disk_name: str = disk_name
        self.major: int = major
        self.first_minor: int = first_minor
        self.minors: int = minors
        self.fops: BlockDeviceOperations = fops
        self.queue: RequestQueue = queue
        queue.disk = self
        self.private_data: Any = private_data
        self.removable: bool = False
        self.no_part: bool = False
        self.events: DiskEvent = DiskEvent(0)
        self.diskseq: int = 0
        self.part0: BlockDevice = BlockDevice(self, 0)
        self.parts: dict[int, BlockDevice] = {}
        self.state: DiskState = DiskState.ALLOCATED
        #: GD_READ_ONLY (set_disk_ro).
        self.read_only: bool = False
        #: GD_NEED_PART_SCAN: the next open reads the partition table.
        self.need_part_scan: bool = False
        self.open_partitions: int = 0
        self.open_mutex = asyncio.Lock()
        #: Serialises the read-modify-write of the block device files (the page lock).
        self.write_mutex = asyncio.Lock()
        #: The machine's block layer, from add_disk on.
        self.core: BlockCore | None = None
        #: The struct device (disk_to_dev), from add_disk on.
        self.device: DiskDevice | None = None
        #: Uevents held back while add_disk reads the partition table.
        self.uevent_suppress: bool = False

    def __repr__(self) -> str:
        return f"<Gendisk {self.disk_name or '?'} {self.state.value} {self.capacity} sectors>"

    def set_state(self, new: DiskState) -> None:
        """Move to `new`; raises IllegalStateTransition for a move back."""
        if new not in _DISK_TRANSITIONS[self.state]:
            raise IllegalStateTransition(f"disk {self.disk_name}: {self.state.value} -> "
                                         f"{new.value}")
        self.state = new

    @property
    def live(self) -> bool:
        """disk_live(): added and not deleted."""
        return self.state is DiskState.LIVE

    @property
    def dead(self) -> bool:
        """GD_DEAD: deleted (or its medium is gone for good)."""
        return self.state is DiskState.DEAD

    @property
    def capacity(self) -> int:
        """get_capacity(): the size in 512-byte sectors."""
        return self.part0.nr_sectors

    @property
    def ro(self) -> bool:
        """get_disk_ro(): the whole disk's BLKROSET policy or set_disk_ro."""
        return self.part0.bd_read_only or self.read_only

    @property
    def devt(self) -> int:
        """disk_devt(): the whole disk's device number."""
        return mkdev(self.major, self.first_minor)

    @property
    def has_partscan(self) -> bool:
        """disk_has_partscan()."""
        return not self.no_part

    def uevent_change(self, *extra: tuple[str, str]) -> None:
        """kobject_uevent_env(KOBJ_CHANGE) of the disk, with `extra` variables first
        (RESIZE=1, DISK_RO=1 …); nothing before add_disk or while suppressed.  Context:
        atomic."""
        if self.core is not None and self.device is not None and self.device.registered \
                and not self.uevent_suppress:
            self.core.uevent(self.device, "change", extra)


# -- the disk's struct device ---------------------------------------------------------------------


def _show_capability(dev: DiskDevice) -> str:
    """disk_capability_show(): deprecated, 0 (warned about once)."""
    core = dev.disk.core
    if core is not None and not core.capability_warned:
        core.capability_warned = True
        core.log.dev(Level.WARNING, dev, "the capability attribute has been deprecated.")
    return "0\n"


def _show_events(dev: DiskDevice) -> str:
    """disk_events_show(): the names of the disk's events."""
    return " ".join(name for event, name in DISK_EVENT_NAMES.items()
                    if dev.disk.events & event) + "\n"


class DiskDevice(ClassDevice):
    """The struct device of a disk (disk_type): sda in class "block" below its parent,
    DEVTYPE=disk and DISKSEQ in its uevent."""

    devtype = "disk"

    def __init__(self, cls: DeviceClass, parent: Device | None, disk: Gendisk) -> None:
        super().__init__(cls, parent, disk.devt, disk, disk.disk_name)
        self.disk: Gendisk = disk

    def uevent_env(self) -> list[tuple[str, str]]:
        """dev_uevent's MAJOR, MINOR, DEVNAME, DEVTYPE and block_uevent's DISKSEQ."""
        return [*super().uevent_env(), ("DISKSEQ", str(self.disk.diskseq))]

    def sysfs_files(self) -> dict[str, Node]:
        """disk_attrs, dev, uevent, queue/ and the empty holders/ and slaves/.  Context:
        atomic."""
        files = attr_group(self, DISK_ATTRS)
        files["queue"] = StaticDir(compute=lambda: queue_files(self.disk.queue))
        files["holders"] = StaticDir()
        files["slaves"] = StaticDir()
        return files

    def show_uevent(self) -> str:
        """The `uevent` file: the whole uevent environment.  Context: atomic."""
        return "".join(f"{key}={value}\n" for key, value in self.uevent_env())


DISK_ATTRS: Final[tuple[SysAttr[DiskDevice], ...]] = (
    ro("range", lambda d: f"{d.disk.minors}\n"),
    ro("ext_range", lambda d: f"{1 if d.disk.no_part else DISK_MAX_PARTS}\n"),
    ro("removable", lambda d: f"{int(d.disk.removable)}\n"),
    ro("hidden", lambda d: "0\n"),
    ro("ro", lambda d: f"{int(d.disk.ro)}\n"),
    ro("size", lambda d: f"{d.disk.capacity}\n"),
    ro("alignment_offset", lambda d: "0\n"),
    ro("discard_alignment", lambda d: "0\n"),
    ro("capability", _show_capability),
    ro("stat", lambda d: d.disk.part0.stats.show_stat()),
    ro("inflight", lambda d: d.disk.part0.stats.show_inflight()),
    ro("events", _show_events),
    ro("events_async", lambda d: "\n"),
    ro("events_poll_msecs", lambda d: "-1\n"),
    ro("diskseq", lambda d: f"{d.disk.diskseq}\n"),
    ro("partscan", lambda d: f"{int(d.disk.has_partscan)}\n"),
    ro("dev", lambda d: f"{format_dev(d.devt)}\n"),
    SysAttr("uevent", DiskDevice.show_uevent, ClassDevice._store_uevent, 0o644),
)
"""disk_attrs (genhd.c) and the dev/uevent files of every device."""


# -- the kernel API ----------------------------------------------------------------------------


def alloc_disk(queue: RequestQueue, fops: BlockDeviceOperations | None = None, *,
               private_data: Any = None) -> Gendisk:
    """blk_mq_alloc_disk(): a disk on `queue` with no name and no numbers yet, which the
    driver sets before add_disk (as sd does).  Raises ValueError when the queue serves
    another disk.  Context: atomic."""
    return Gendisk("", 0, 0, 0, fops if fops is not None else BlockDeviceOperations(),
                   queue, private_data)


def _check_numbers(disk: Gendisk, core: BlockCore) -> int:
    """device_add_disk()'s checks of major and minors; 0 or -EINVAL.  A disk without a
    major gets an extended number."""
    if disk.major:
        if not disk.minors:
            return -Errno.EINVAL
        if disk.minors > DISK_MAX_PARTS:
            core.log.log(Level.ERR, f"block: can't allocate more than {DISK_MAX_PARTS} "
                                    "partitions")
            disk.minors = DISK_MAX_PARTS
        if disk.first_minor + disk.minors > MINORMASK + 1:
            return -Errno.EINVAL
        return 0
    if disk.minors:
        return -Errno.EINVAL
    devt = core.alloc_ext_devt()
    disk.major, disk.first_minor = dev_major(devt), dev_minor(devt)
    return 0


async def add_disk(disk: Gendisk, parent: Device | None) -> int:
    """device_add_disk(): register `disk` below `parent` (None: /sys/devices/virtual/
    block): its add uevent makes /dev/<name>; then, when it has a capacity, its partition
    table is read through its driver's open (" sda: sda1").  Returns 0, -EINVAL (a disk
    added twice, bad numbers) or -EEXIST (the name is taken).  Raises ValueError for a
    disk without a name, RuntimeError outside a machine.  Context: may sleep."""
    if not disk.disk_name:
        raise ValueError("add_disk: the disk has no disk_name (sd names it \"sda\" …)")
    core = block_core_of()
    if disk.state is not DiskState.ALLOCATED:
        return -Errno.EINVAL
    ret = _check_numbers(disk, core)
    if ret:
        return ret
    disk.core = core
    if not disk.diskseq:
        disk.diskseq = core.next_diskseq()
    disk.part0.bd_dev = disk.devt
    device = DiskDevice(core.block_class, parent, disk)
    disk.device = device
    disk.part0.bd_device = device
    try:
        await core.classes.device_register(device)
    except OSError as exc:
        disk.device = disk.part0.bd_device = None
        core.free_ext_devt(disk.devt)
        return -(exc.errno or Errno.EIO)
    core.bdev_add(disk.part0)
    core.disks.append(disk)
    disk.set_state(DiskState.LIVE)
    if disk.capacity:
        disk.uevent_suppress = True
        try:
            await disk_scan_partitions(disk, BlkOpen.READ)
        finally:
            disk.uevent_suppress = False
    return 0


async def del_gendisk(disk: Gendisk) -> None:
    """del_gendisk(): the disk is dead (new I/O fails with EIO, new opens with ENXIO);
    its partitions and then the disk are unregistered (remove uevents: nodes deleted, open
    files revoked); returns once the requests already queued are done.  Does nothing for
    a disk that is not live.  Context: may sleep."""
    core = disk.core
    if not disk.live or core is None:
        return
    disk.set_state(DiskState.DEAD)
    core.bdev_remove(disk.part0)
    async with disk.open_mutex:
        for partno in sorted(disk.parts):
            await delete_partition(disk.parts[partno])
    if disk.device is not None:
        await core.classes.device_unregister(disk.device)
    if disk in core.disks:
        core.disks.remove(disk)
    core.free_ext_devt(disk.devt)
    await disk.queue.drain()


def set_capacity(disk: Gendisk, sectors: int) -> None:
    """set_capacity(): the disk's size in 512-byte sectors, silently (as Linux's; sd
    uses set_capacity_and_notify, which tells).  Raises ValueError for a negative size.
    Context: atomic."""
    if sectors < 0:
        raise ValueError(f"set_capacity: {sectors} sectors (a size >= 0)")
    disk.part0.nr_sectors = sectors


def set_capacity_and_notify(disk: Gendisk, size: int) -> bool:
    """set_capacity_and_notify(): set the size; on a live disk whose size changes, log
    "sda: detected capacity change from X to Y" and — unless either is 0 — send a change
    uevent with RESIZE=1.  Returns whether a uevent was sent.  Context: atomic."""
    capacity = disk.capacity
    set_capacity(disk, size)
    if size == capacity or not disk.live or disk.core is None:
        return False
    disk.core.log.info(f"{disk.disk_name}: detected capacity change from {capacity} to "
                       f"{size}")
    if not capacity or not size:
        return False
    disk.uevent_change(("RESIZE", "1"))
    return True


def set_disk_ro(disk: Gendisk, read_only: bool) -> None:
    """set_disk_ro(): make the whole disk read-only or writable (GD_READ_ONLY); a change
    is announced with a change uevent carrying DISK_RO=1 or DISK_RO=0.  Context: atomic."""
    if disk.read_only == read_only:
        return
    disk.read_only = read_only
    disk.uevent_change(("DISK_RO", str(int(read_only))))


def disk_force_media_change(disk: Gendisk) -> None:
    """disk_force_media_change(): the medium changed — a change uevent with
    DISK_MEDIA_CHANGE=1, a new diskseq, and the partition table is read again at the
    next open.  Context: atomic."""
    disk.uevent_change(("DISK_MEDIA_CHANGE", "1"))
    if disk.core is not None:
        disk.diskseq = disk.core.next_diskseq()
    disk.need_part_scan = True


def disk_name_for_index(prefix: str, index: int) -> str:
    """sd_format_disk_name(): `prefix` and index in base 26 written with letters,
    "sda" for 0, "sdz" for 25, "sdaa" for 26, "sdzz" for 701, "sdaaa" for 702.  Raises
    ValueError for a negative index."""
    if index < 0:
        raise ValueError(f"disk index {index}: indexes count from 0")
    letters = ""
    while index >= 0:
        letters = chr(ord("a") + index % 26) + letters
        index = index // 26 - 1
    return prefix + letters


# -- the block layer of a machine -------------------------------------------------------------


class BlockCore:
    """The block layer of one machine: class "block", the block devices by number (the
    bdev inode hash), the disks, /sys/block, /sys/dev/block and /proc/partitions, and
    the opening of block device nodes for the system calls (`OpenFiles.block_devices`).
    Context: lookups are atomic; `read`, `write` and `flush` may sleep."""

    def __init__(self, driver_core: DriverCore, files: OpenFiles, classes: DeviceClasses,
                 vfs: Vfs, loop: asyncio.AbstractEventLoop) -> None:
        self.driver_core = driver_core
        self.log = driver_core.log
        self.files = files
        self.classes = classes
        self.loop = loop
        self.block_class = DeviceClass("block")
        classes.class_register(self.block_class)
        #: The added disks, oldest first.
        self.disks: list[Gendisk] = []
        self._bdevs: dict[int, BlockDevice] = {}
        self._ext_minors: set[int] = set()
        self._diskseq = 0
        self.req_error_ratelimit = Ratelimit("blk_print_req_error")
        self.bad_sector_ratelimit = Ratelimit("handle_bad_sector")
        #: "the capability attribute has been deprecated." was logged (dev_warn_once).
        self.capability_warned = False
        vfs.mount("/sys/block", StaticDir(compute=self._sys_block))
        vfs.mount("/sys/dev/block", StaticDir(compute=self._sys_dev_block))
        vfs.mount("/proc/partitions", Attr(show=self.show_partitions))
        files.block_devices = self
        _cores[loop] = self

    def __repr__(self) -> str:
        return f"<BlockCore disks={[d.disk_name for d in self.disks]}>"

    # -- numbers and lookups ------------------------------------------------------------------

    def next_diskseq(self) -> int:
        """inc_diskseq(): the next disk sequence number (1 first).  Context: atomic."""
        self._diskseq += 1
        return self._diskseq

    def alloc_ext_devt(self) -> int:
        """blk_alloc_ext_minor(): the lowest free number of major 259.  Context: atomic."""
        minor = next(m for m in range(len(self._ext_minors) + 1) if m not in self._ext_minors)
        self._ext_minors.add(minor)
        return mkdev(BLOCK_EXT_MAJOR, minor)

    def free_ext_devt(self, devt: int) -> None:
        """blk_free_ext_minor(): give back a number of major 259 (others are ignored)."""
        if dev_major(devt) == BLOCK_EXT_MAJOR:
            self._ext_minors.discard(dev_minor(devt))

    def bdev_add(self, bdev: BlockDevice) -> None:
        """bdev_add(): `bdev` can be opened through its number.  Context: atomic."""
        self._bdevs[bdev.bd_dev] = bdev

    def bdev_remove(self, bdev: BlockDevice) -> None:
        """bdev_unhash(): no new opens through its number (a partition's extended number
        is given back).  Context: atomic."""
        if self._bdevs.get(bdev.bd_dev) is bdev:
            del self._bdevs[bdev.bd_dev]
        if bdev.is_partition:
            self.free_ext_devt(bdev.bd_dev)

    def lookup(self, devt: int) -> BlockDevice | None:
        """The block device with number `devt`, or None.  Context: atomic."""
        return self._bdevs.get(devt)

    def disk(self, name: str) -> Gendisk:
        """The added disk called `name` ("sda").  Raises ValueError naming the disks
        there are."""
        found = next((d for d in self.disks if d.disk_name == name), None)
        if found is None:
            raise ValueError(f"no disk {name!r}; disks: "
                             f"{', '.join(d.disk_name for d in self.disks) or 'none'}")
        return found

    def bdev(self, name: str) -> BlockDevice:
        """The disk or partition called `name` ("sda", "sda1").  Raises ValueError naming
        the block devices there are."""
        for disk in self.disks:
            for bdev in (disk.part0, *disk.parts.values()):
                if bdev.name == name:
                    return bdev
        names = [b.name for d in self.disks for b in (d.part0, *d.parts.values())]
        raise ValueError(f"no block device {name!r}; there are: {', '.join(names) or 'none'}")

    # -- the Python API -------------------------------------------------------------------------

    async def read(self, name: str, sector: int, count: int) -> bytes:
        """Read `count` sectors at `sector` of the disk or partition `name` (partition
        sectors count from its start).  Raises ValueError (unknown name, misaligned),
        OSError (the I/O failed).  Context: may sleep."""
        return await blk_read(self.bdev(name), sector, count)

    async def write(self, name: str, sector: int, data: bytes | bytearray | memoryview) -> None:
        """Write `data` (whole blocks) at `sector` of the disk or partition `name`.
        Raises ValueError, OSError as `read`.  Context: may sleep."""
        await blk_write(self.bdev(name), sector, data)

    async def flush(self, name: str) -> None:
        """Flush the write cache of the disk holding `name`.  Raises ValueError, OSError
        as `read`.  Context: may sleep."""
        await blk_flush(self.bdev(name))

    # -- the system calls' hook (def_blk_fops) --------------------------------------------------

    async def blkdev_open(self, dev: int, flags: int, path: str) -> File:
        """open(2) of block device number `dev` (fops.blkdev_open).  Context: may sleep."""
        return await blkdev_open(self.files, self.lookup(dev), flags, path)

    def blkdev_size(self, dev: int) -> int | None:
        """The size in bytes of block device `dev`, None when there is none.  Context:
        atomic."""
        bdev = self.lookup(dev)
        return None if bdev is None else bdev.nr_bytes

    # -- uevents, sysfs, procfs -----------------------------------------------------------------

    def uevent(self, dev: Device, action: str, extra: tuple[tuple[str, str], ...] = ()) -> None:
        """kobject_uevent_env(): a uevent of `dev` with `extra` variables before the
        device's own.  Context: atomic."""
        event = Uevent(action, dev.sysfs_path(), (*extra, *dev.uevent_env()))
        for listener in tuple(self.driver_core.listeners):
            listener(event)

    def _registered(self) -> list[BlockDevice]:
        return [bdev for disk in self.disks
                for bdev in (disk.part0, *(disk.parts[n] for n in sorted(disk.parts)))
                if bdev.bd_device is not None and bdev.bd_device.registered]

    def _sys_block(self) -> Mapping[str, Node]:
        """/sys/block: a link per disk to its directory (block_depr)."""
        return {disk.disk_name: Symlink(kernfs_link("/sys/block",
                                                    "/sys" + disk.device.sysfs_path()))
                for disk in self.disks if disk.device is not None}

    def _sys_dev_block(self) -> Mapping[str, Node]:
        """/sys/dev/block: "major:minor" links to each disk's and partition's directory."""
        return {format_dev(bdev.bd_dev): Symlink(kernfs_link(
                    "/sys/dev/block", "/sys" + bdev.bd_device.sysfs_path()))
                for bdev in self._registered() if bdev.bd_device is not None}

    def show_partitions(self) -> str:
        """/proc/partitions (show_partition): each disk with a capacity and its
        partitions, sizes in KiB.  Context: atomic."""
        lines = ["major minor  #blocks  name\n\n"]
        for disk in self.disks:
            if not disk.capacity:
                continue
            for bdev in (disk.part0, *(disk.parts[n] for n in sorted(disk.parts))):
                if bdev.nr_sectors:
                    lines.append(f"{dev_major(bdev.bd_dev):4d}  {dev_minor(bdev.bd_dev):7d} "
                                 f"{bdev.nr_sectors >> 1:10d} {bdev.name}\n")
        return "".join(lines)


#: The core of each machine, by its loop.  The machine holds its core; a weak value lets
#: a closed machine go (a weak key could not: the core holds the loop).
_cores: weakref.WeakValueDictionary[asyncio.AbstractEventLoop, BlockCore] = \
    weakref.WeakValueDictionary()


def block_core_of(loop: asyncio.AbstractEventLoop | None = None) -> BlockCore:
    """The block layer of the machine whose loop is `loop` (default: the running loop).
    Raises RuntimeError outside a machine.  Context: atomic."""
    try:
        found = _cores.get(loop or asyncio.get_running_loop())
    except RuntimeError:
        found = None
    if found is None:
        raise RuntimeError("no usbemu machine with a block layer is running here: call "
                           "this from code that runs on a System (System.run())")
    return found

