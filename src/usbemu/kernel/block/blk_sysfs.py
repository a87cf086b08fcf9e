"""The queue directory of a disk — counterpart of Linux's block/blk-sysfs.c:
/sys/block/sda/queue with the limits and settings of the disk's request queue.

Each file is one row of `QUEUE_ATTRS`, formatted from the live `RequestQueue`;
max_sectors_kb is writable (the user may lower requests below, or raise them up to,
max_hw_sectors_kb).  Not modelled: the scheduler, iosched/, the discard, zone, integrity
write-hint and segment files, and writes to the other settings.
"""

from __future__ import annotations

from typing import Final

from ...errors import Errno
from ..sysfs import SysAttr, attr_group, ro
from ..vfs import Node
from .blk_mq import RequestQueue

__all__ = ["QUEUE_ATTRS", "queue_files"]


async def _store_max_sectors_kb(queue: RequestQueue, data: bytes) -> int:
    """queue_max_sectors_store(): a decimal number of KiB (kstrtoul), 0 for the
    default; -EINVAL for anything else or less than a page."""
    text = data.decode("latin-1").removesuffix("\n")
    if not text.isdigit() or int(text) > 0xFFFFFFFF:
        return -Errno.EINVAL
    result = queue.set_max_sectors_kb(int(text))
    return result if result < 0 else len(data)


def _kb(sectors: int) -> str:
    return f"{sectors >> 1}\n"


QUEUE_ATTRS: Final[tuple[SysAttr[RequestQueue], ...]] = (
    ro("hw_sector_size", lambda q: f"{q.logical_block_size}\n"),
    ro("logical_block_size", lambda q: f"{q.logical_block_size}\n"),
    ro("physical_block_size", lambda q: f"{q.physical_block_size}\n"),
    ro("minimum_io_size", lambda q: f"{q.physical_block_size}\n"),
    ro("optimal_io_size", lambda q: "0\n"),
    ro("max_hw_sectors_kb", lambda q: _kb(q.max_hw_sectors)),
    SysAttr("max_sectors_kb", lambda q: _kb(q.max_sectors), _store_max_sectors_kb, 0o644),
    ro("nr_requests", lambda q: f"{q.nr_requests}\n"),
    ro("read_ahead_kb", lambda q: f"{q.read_ahead_kb}\n"),
    ro("rotational", lambda q: f"{int(q.rotational)}\n"),
    ro("write_cache", lambda q: "write back\n" if q.write_cache else "write through\n"),
    ro("iostats", lambda q: "1\n"),
    ro("nomerges", lambda q: "0\n"),
)
"""queue_attrs (blk-sysfs.c)."""


def queue_files(queue: RequestQueue) -> dict[str, Node]:
    """The files of a disk's queue/ directory.  Context: atomic."""
    return attr_group(queue, QUEUE_ATTRS)
