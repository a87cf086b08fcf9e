"""The request queue — counterpart of Linux's block/blk-mq.c, with what blk-core.c
(submit_bio's checks, the partition remap, blk_print_req_error), blk-merge.c (splitting a
bio at max_sectors, back and front merges), blk-settings.c (the queue limits), blk-flush.c
(a flush is a no-op without a volatile write cache) and lib/ratelimit.c contribute to what
a disk driver sees.

A `RequestQueue` sits between the users of a disk (the block device files, the partition
scan, `blk_read`/`blk_write`/`blk_flush`) and its `BlockDriver` (sd), whose `queue_rq`
executes one `Request` and answers with a `BlkStatus`.  A bio larger than the queue's
`max_sectors` is split; bios submitted while the driver is busy, or in the same turn of
the event loop (the plug), wait in the queue, where a bio that continues or precedes a
waiting request of the same operation is merged into it up to `max_sectors`.  At most
`queue_depth` requests are in the driver at once, oldest first.  A request that fails is
reported as blk_update_request does ("I/O error, dev sda, sector 0 op 0x0:(READ) flags 0x0
phys_seg 1 prio class 0", rate-limited) unless its disk is gone.  The submission calls
raise OSError with the errno of the status (blk_status_to_errno).  Not modelled: I/O
schedulers other than FIFO dispatch, segments and DMA limits, request timeouts (the driver
owns its timeouts), discard and zone operations, REQ_FUA, I/O priorities.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from ...errors import Errno, strerror
from ..printk import Level
from .blk_types import OP_STAT_GROUP, BlockDevice
from .request import (
    BLK_STATUS_ERRNO,
    BLK_STATUS_STR,
    REQ_FLAG_BITS,
    REQ_OP_NUMBER,
    SECTOR_SHIFT,
    BlkStatus,
    ReqOp,
    Request,
    req_flags_value,
)

if TYPE_CHECKING:
    from .genhd import Gendisk

__all__ = [
    "BLKDEV_DEFAULT_RQ",
    "BLK_DEF_MAX_SECTORS_CAP",
    "BLK_SAFE_MAX_SECTORS",
    "Bio",
    "BlockDriver",
    "RequestQueue",
    "blk_flush",
    "blk_read",
    "blk_status_error",
    "blk_write",
    "blkdev_issue_flush",
    "submit_bio_wait",
]

#: The largest request of a driver that states no limit (max_hw_sectors), in sectors.
BLK_SAFE_MAX_SECTORS: Final = 255
#: The largest request the queue builds unless the user raises max_sectors_kb.
BLK_DEF_MAX_SECTORS_CAP: Final = 2560
#: BLKDEV_DEFAULT_RQ: nr_requests is twice the tag depth, at most twice this.
BLKDEV_DEFAULT_RQ: Final = 128
#: VM_READAHEAD_PAGES in KiB: what read_ahead_kb shows.
VM_READAHEAD_KB: Final = 128
PAGE_SIZE: Final = 4096
#: The process name in "…: attempt to access beyond end of device" (current->comm).
COMM: Final = "usbemu"


class BlockDriver(Protocol):
    """What a disk driver offers its queue (blk_mq_ops): `queue_rq` executes one request
    (reading into or writing from `req.buffer`) and returns its status.  Context: may
    sleep; called with at most `queue_depth` requests outstanding."""

    async def queue_rq(self, req: Request) -> BlkStatus: ...


@dataclass(eq=False, slots=True)
class Bio:
    """struct bio: `nr_sectors` sectors at `sector` of the disk (after the partition
    remap) for `bdev`, read into or written from `buffer`; `done` gets its status."""

    bdev: BlockDevice
    op: ReqOp
    sector: int
    nr_sectors: int
    buffer: memoryview
    flags: frozenset[str]
    done: asyncio.Future[BlkStatus]

    @property
    def end(self) -> int:
        return self.sector + self.nr_sectors


@dataclass(eq=False, slots=True)
class _QueuedRequest:
    """A request waiting in the queue or in the driver: its bios in sector order, and the
    block device it is accounted to (req->part: that of its first bio)."""

    op: ReqOp
    sector: int
    nr_sectors: int
    bios: list[Bio]
    part: BlockDevice
    start_ns: int
    flags: frozenset[str]

    @property
    def end(self) -> int:
        return self.sector + self.nr_sectors

    def request(self) -> Request:
        """The Request the driver sees: one buffer over all bios (the bio's own when there
        is one; a copy of the data for a merged write; a new buffer for a merged read)."""
        if len(self.bios) == 1:
            buffer = self.bios[0].buffer
        elif self.op is ReqOp.READ:
            buffer = memoryview(bytearray(self.nr_sectors << SECTOR_SHIFT))
        else:
            buffer = memoryview(b"".join(bio.buffer for bio in self.bios))
        return Request(self.op, self.sector, self.nr_sectors, buffer, self.flags)

    def complete(self, req: Request, status: BlkStatus) -> None:
        """End every bio with `status`; a merged read hands each bio its part of the data.
        Context: atomic."""
        if status is BlkStatus.OK and self.op is ReqOp.READ and len(self.bios) > 1:
            offset = 0
            for bio in self.bios:
                size = len(bio.buffer)
                bio.buffer[:] = req.buffer[offset:offset + size]
                offset += size
        for bio in self.bios:
            if not bio.done.done():
                bio.done.set_result(status)


def _now_ns() -> int:
    return int(asyncio.get_running_loop().time() * 1e9)


def _accounted(part: BlockDevice) -> tuple[BlockDevice, ...]:
    """part_stat_*(): a partition's statistics and its disk's."""
    return (part, part.whole) if part.is_partition else (part,)


@dataclass(eq=False)
class RequestQueue:
    """struct request_queue with its limits.  `max_hw_sectors` is what the driver takes
    at most (the `max_sectors` argument, 512-byte sectors: shost->max_sectors for SCSI);
    `max_sectors` what requests are built up to (max_sectors_kb, which the user may lower
    or raise up to max_hw_sectors_kb); `write_cache` says whether the device has a
    volatile cache that a flush must reach (blk_queue_write_cache).  Raises ValueError for
    a block size that is not a power of two from 512 to 4096, or a max_sectors smaller
    than a block.  Context: atomic; the submission calls may sleep."""

    driver: BlockDriver
    logical_block_size: int = 512
    max_hw_sectors: int = BLK_SAFE_MAX_SECTORS
    physical_block_size: int = 0
    queue_depth: int = 1
    rotational: bool = True
    write_cache: bool = False
    read_ahead_kb: int = VM_READAHEAD_KB
    #: max_sectors_kb written by the user, in sectors (0: the default).
    max_user_sectors: int = 0
    #: The disk this queue serves (set by the Gendisk).
    disk: Gendisk | None = field(default=None, repr=False)
    _pending: deque[_QueuedRequest] = field(default_factory=deque, repr=False)
    _by_start: dict[tuple[ReqOp, int], _QueuedRequest] = field(default_factory=dict,
                                                               repr=False)
    _by_end: dict[tuple[ReqOp, int], _QueuedRequest] = field(default_factory=dict, repr=False)
    _in_flight: int = field(default=0, repr=False)
    _kick_scheduled: bool = field(default=False, repr=False)
    _idle_waiters: list[asyncio.Future[None]] = field(default_factory=list, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        lbs = self.logical_block_size
        if lbs < 512 or lbs > PAGE_SIZE or lbs & (lbs - 1):
            raise ValueError(f"logical_block_size {lbs}: a power of two from 512 to "
                             f"{PAGE_SIZE}")
        self.physical_block_size = max(self.physical_block_size, lbs)
        if self.max_hw_sectors < lbs >> SECTOR_SHIFT:
            raise ValueError(f"max_sectors {self.max_hw_sectors}: at least one logical block "
                             f"({lbs >> SECTOR_SHIFT} sectors)")
        if self.queue_depth < 1:
            raise ValueError(f"queue_depth {self.queue_depth}: at least 1")

    # -- limits (blk-settings.c) ---------------------------------------------------------------

    @property
    def max_sectors(self) -> int:
        """The largest request built, in sectors (blk_validate_limits): the user's
        max_sectors_kb or the default cap, within max_hw_sectors, in whole blocks."""
        wanted = min(self.max_hw_sectors, self.max_user_sectors or BLK_DEF_MAX_SECTORS_CAP)
        return wanted - wanted % (self.logical_block_size >> SECTOR_SHIFT)

    @property
    def nr_requests(self) -> int:
        """Requests the scheduler holds: twice the tag depth (mq-deadline), at most 256."""
        return 2 * min(self.queue_depth, BLKDEV_DEFAULT_RQ)

    def set_max_sectors_kb(self, kb: int) -> int:
        """queue_max_sectors_store(): 0 goes back to the default; less than a page is
        -EINVAL.  Returns 0 or -EINVAL.  Context: atomic."""
        if kb and kb < PAGE_SIZE // 1024:
            return -Errno.EINVAL
        self.max_user_sectors = kb << 1
        return 0

    # -- queueing ------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Requests are waiting or in the driver."""
        return bool(self._pending or self._in_flight)

    def enqueue(self, bio: Bio) -> None:
        """Queue `bio` (at most max_sectors): merged into a waiting request it continues
        or precedes, else a request of its own; the driver gets it once the current turn
        of the loop is over and a slot is free.  `bio.done` gets the status.  Context:
        atomic."""
        if not self._merge(bio):
            rq = _QueuedRequest(bio.op, bio.sector, bio.nr_sectors, [bio], bio.bdev,
                                _now_ns(), bio.flags)
            self._pending.append(rq)
            self._index(rq)
        if not self._kick_scheduled:
            self._kick_scheduled = True
            asyncio.get_running_loop().call_soon(self._kick)

    def _index(self, rq: _QueuedRequest) -> None:
        if rq.op is not ReqOp.FLUSH:
            self._by_start[rq.op, rq.sector] = rq
            self._by_end[rq.op, rq.end] = rq

    def _unindex(self, rq: _QueuedRequest) -> None:
        if self._by_start.get((rq.op, rq.sector)) is rq:
            del self._by_start[rq.op, rq.sector]
        if self._by_end.get((rq.op, rq.end)) is rq:
            del self._by_end[rq.op, rq.end]

    def _merge(self, bio: Bio) -> bool:
        """blk_mq_sched_try_merge(): a back merge (the bio continues a waiting request) or
        a front merge (it ends where one starts), same operation and flags, no NOMERGE,
        within max_sectors; counted in the request's `merges`."""
        if bio.op is ReqOp.FLUSH or "NOMERGE" in bio.flags:
            return False
        limit = self.max_sectors
        for rq, back in ((self._by_end.get((bio.op, bio.sector)), True),
                         (self._by_start.get((bio.op, bio.end)), False)):
            if rq is None or rq.flags != bio.flags or rq.nr_sectors + bio.nr_sectors > limit:
                continue
            self._unindex(rq)
            if back:
                rq.bios.append(bio)
            else:
                rq.bios.insert(0, bio)
                rq.sector = bio.sector
            rq.nr_sectors += bio.nr_sectors
            self._index(rq)
            for part in _accounted(rq.part):
                part.stats.merges[OP_STAT_GROUP[bio.op]] += 1
            return True
        return False

    def _kick(self) -> None:
        """blk_mq_run_hw_queue(): hand waiting requests to the driver while it has room."""
        self._kick_scheduled = False
        loop = asyncio.get_running_loop()
        while self._pending and self._in_flight < self.queue_depth:
            rq = self._pending.popleft()
            self._unindex(rq)
            self._in_flight += 1
            task = loop.create_task(self._execute(rq))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _execute(self, rq: _QueuedRequest) -> None:
        """One request through the driver: accounting, the driver's queue_rq, the error
        report, the bios' completion; then the next request."""
        req = rq.request()
        parts = _accounted(rq.part)
        for part in parts:
            part.stats.start(rq.op, _now_ns())
        status = BlkStatus.IOERR
        cancelled = False
        try:
            status = await self._queue_rq(req)
        except asyncio.CancelledError:  # the machine shuts down: the bios fail quietly
            cancelled = True
            raise
        finally:
            now = _now_ns()
            for part in parts:
                part.stats.done(rq.op, rq.nr_sectors, rq.start_ns, now)
            if status is not BlkStatus.OK and not cancelled:
                self._print_req_error(rq, status)
            rq.complete(req, status)
            self._in_flight -= 1
            self._kick()
            if not self.busy:
                self._wake_idle()

    async def _queue_rq(self, req: Request) -> BlkStatus:
        """The driver's queue_rq, contained: an exception or a result that is no status
        is logged like an oops and becomes BLK_STS_IOERR."""
        disk = self.disk
        assert disk is not None and disk.core is not None
        what = f"queue_rq of {disk.disk_name} by {type(self.driver).__name__}"
        try:
            result = await self.driver.queue_rq(req)
        except BaseException as exc:
            disk.core.driver_core.contain(what, exc)
            return BlkStatus.IOERR
        try:
            return BlkStatus(result)
        except (ValueError, TypeError):
            disk.core.driver_core.oops(what, TypeError(f"returned {result!r}: return a "
                                                       "BlkStatus"))
            return BlkStatus.IOERR

    def _print_req_error(self, rq: _QueuedRequest, status: BlkStatus) -> None:
        """blk_print_req_error(), unless the disk is dead (GD_DEAD)."""
        disk = self.disk
        assert disk is not None and disk.core is not None
        if disk.dead:
            return
        core = disk.core
        if not core.req_error_ratelimit.allow(asyncio.get_running_loop().time(), core.log):
            return
        segments = 0 if rq.op is ReqOp.FLUSH else len(rq.bios)
        core.log.log(Level.ERR,
                     f"{BLK_STATUS_STR[status]} error, dev {disk.disk_name}, sector "
                     f"{rq.sector} op 0x{REQ_OP_NUMBER[rq.op]:x}:({rq.op.name}) flags "
                     f"0x{req_flags_value(rq.flags):x} phys_seg {segments} prio class 0")

    def _wake_idle(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        """blk_mq_freeze_queue_wait(): wait until no request waits or runs.  Context: may
        sleep."""
        while self.busy:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(waiter)
            await waiter


# -- submission (blk-core.c) ---------------------------------------------------------------------


def blk_status_error(status: BlkStatus, what: str = "") -> OSError:
    """The OSError for a failed status (blk_status_to_errno)."""
    code = -BLK_STATUS_ERRNO[status]
    return OSError(code, strerror(code), *((what,) if what else ()))


def _check_alignment(bdev: BlockDevice, sector: int, nbytes: int) -> None:
    lbs = bdev.bd_disk.queue.logical_block_size
    if sector < 0:
        raise ValueError(f"sector {sector}: sectors count from 0")
    if (sector << SECTOR_SHIFT) % lbs or nbytes % lbs:
        raise ValueError(f"sector {sector}, {nbytes} bytes: {bdev.name} has {lbs}-byte "
                         "logical blocks; I/O is in whole blocks")


def _report_bad_sector(bdev: BlockDevice, op: ReqOp, sector: int, nr: int) -> None:
    """handle_bad_sector(): "…: attempt to access beyond end of device"."""
    core = bdev.bd_disk.core
    assert core is not None
    if core.bad_sector_ratelimit.allow(asyncio.get_running_loop().time(), core.log):
        core.log.log(Level.INFO, f"{COMM}: attempt to access beyond end of device\n"
                                 f"{bdev.name}: rw={REQ_OP_NUMBER[op]}, sector={sector}, "
                                 f"nr_sectors = {nr} limit={bdev.nr_sectors}")


def _warn_read_only(bdev: BlockDevice) -> None:
    """bio_check_ro(): a write to a read-only device is warned about once (it still goes
    to the driver, which refuses it)."""
    core = bdev.bd_disk.core
    if not bdev.ro_warned and core is not None:
        bdev.ro_warned = True
        core.log.log(Level.WARNING, f"Trying to write to read-only block-device {bdev.name}")


async def submit_bio_wait(bdev: BlockDevice, op: ReqOp, sector: int,
                          buffer: memoryview | None = None,
                          flags: frozenset[str] = frozenset()) -> BlkStatus:
    """submit_bio_wait(): read `len(buffer)` bytes at `sector` of `bdev` (a partition's
    sectors count from its start) into `buffer`, or write them from it, or flush the
    device's write cache (`op` FLUSH, no buffer: a no-op without a volatile cache), and
    wait.  Returns the status: IOERR at once for a disk that is gone or I/O beyond the
    device's end ("attempt to access beyond end of device").  Raises ValueError for I/O
    that is not in whole logical blocks, for flags that are not REQ_FLAG_BITS names and
    for a disk that was never added.  Context: may sleep."""
    disk = bdev.bd_disk
    queue = disk.queue
    if disk.core is None:
        raise ValueError(f"disk {disk.disk_name!r} was not added (add_disk first)")
    unknown = flags - REQ_FLAG_BITS.keys()
    if unknown:
        raise ValueError(f"unknown request flags {sorted(unknown)}; known: "
                         f"{', '.join(REQ_FLAG_BITS)}")
    view = memoryview(b"") if buffer is None else memoryview(buffer).cast("B")
    if op is ReqOp.FLUSH:
        if disk.dead:
            return BlkStatus.IOERR
        if not queue.write_cache:
            return BlkStatus.OK
        return await _wait([_bio(bdev, op, 0, 0, view, flags)])
    _check_alignment(bdev, sector, len(view))
    nr = len(view) >> SECTOR_SHIFT
    if disk.dead:
        return BlkStatus.IOERR
    if not nr:
        return BlkStatus.OK
    if op is ReqOp.WRITE and bdev.read_only:
        _warn_read_only(bdev)
    if nr > bdev.nr_sectors or sector > bdev.nr_sectors - nr:
        _report_bad_sector(bdev, op, sector, nr)
        return BlkStatus.IOERR
    return await _wait(_split(bdev, op, sector + bdev.bd_start_sect, view, flags))


def _bio(bdev: BlockDevice, op: ReqOp, sector: int, nr: int, view: memoryview,
         flags: frozenset[str]) -> Bio:
    return Bio(bdev, op, sector, nr, view, flags, asyncio.get_running_loop().create_future())


def _split(bdev: BlockDevice, op: ReqOp, sector: int, view: memoryview,
           flags: frozenset[str]) -> list[Bio]:
    """bio_split_to_limits(): pieces of at most max_sectors."""
    step = bdev.bd_disk.queue.max_sectors
    total = len(view) >> SECTOR_SHIFT
    return [_bio(bdev, op, sector + at, min(step, total - at),
                 view[at << SECTOR_SHIFT:(at + min(step, total - at)) << SECTOR_SHIFT], flags)
            for at in range(0, total, step)]


async def _wait(bios: list[Bio]) -> BlkStatus:
    """Queue the bios and wait for all: the first failure, else OK (bio_endio of the
    parent of a split)."""
    queue = bios[0].bdev.bd_disk.queue
    for bio in bios:
        queue.enqueue(bio)
    results = await asyncio.gather(*(bio.done for bio in bios))
    return next((status for status in results if status is not BlkStatus.OK), BlkStatus.OK)


def _bdev_of(target: Gendisk | BlockDevice) -> BlockDevice:
    return target if isinstance(target, BlockDevice) else target.part0


async def _checked(target: Gendisk | BlockDevice, op: ReqOp, sector: int,
                   buffer: memoryview | None, flags: frozenset[str]) -> None:
    bdev = _bdev_of(target)
    status = await submit_bio_wait(bdev, op, sector, buffer, flags)
    if status is not BlkStatus.OK:
        raise blk_status_error(status, bdev.name)


async def blk_read(target: Gendisk | BlockDevice, sector: int, count: int,
                   flags: frozenset[str] = frozenset()) -> bytes:
    """Read `count` 512-byte sectors at `sector` of a disk or partition (whole logical
    blocks).  Returns the bytes; raises OSError with the errno of the failure (EIO for a
    disk that is gone or I/O beyond its end), ValueError for a negative count or
    misaligned I/O.  Context: may sleep."""
    if count < 0:
        raise ValueError(f"count {count}: a number of sectors >= 0")
    buffer = bytearray(count << SECTOR_SHIFT)
    await _checked(target, ReqOp.READ, sector, memoryview(buffer), flags)
    return bytes(buffer)


async def blk_write(target: Gendisk | BlockDevice, sector: int,
                    data: bytes | bytearray | memoryview,
                    flags: frozenset[str] = frozenset()) -> None:
    """Write `data` (whole logical blocks) at `sector` of a disk or partition.  Raises
    OSError with the errno of the failure, ValueError for misaligned I/O.  Context: may
    sleep."""
    await _checked(target, ReqOp.WRITE, sector, memoryview(data).cast("B"), flags)


async def blkdev_issue_flush(bdev: BlockDevice) -> int:
    """blkdev_issue_flush(): flush the device's volatile write cache; 0 or -errno.
    Context: may sleep."""
    return BLK_STATUS_ERRNO[await submit_bio_wait(bdev, ReqOp.FLUSH, 0)]


async def blk_flush(target: Gendisk | BlockDevice) -> None:
    """Flush a disk's volatile write cache (nothing to do without one).  Raises OSError
    with the errno of the failure.  Context: may sleep."""
    await _checked(target, ReqOp.FLUSH, 0, None, frozenset())

