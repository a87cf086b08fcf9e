"""A block I/O request — counterpart of Linux's include/linux/blk_types.h (`enum req_op`,
`blk_status_t`) and the part of struct request a driver sees.

A `Request` asks for `nr_sectors` 512-byte sectors at `sector` to be read into or written
from `buffer` (or a cache flush); its driver answers with a `BlkStatus`.  The request queue
that merges and splits requests lives in the sibling modules; this module is the contract
between it and the drivers below (sd).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Final

__all__ = ["BLK_STATUS_STR", "REQ_FLAG_BITS", "REQ_OP_NUMBER", "SECTOR_SHIFT", "SECTOR_SIZE",
           "BlkStatus", "ReqOp", "Request", "req_flags_value"]

SECTOR_SHIFT: Final = 9
SECTOR_SIZE: Final = 1 << SECTOR_SHIFT


class ReqOp(Enum):
    """enum req_op: what a request does."""

    READ = "read"
    WRITE = "write"
    FLUSH = "flush"


class BlkStatus(IntEnum):
    """blk_status_t, with the errno each becomes (blk_status_to_errno)."""

    OK = 0
    NOTSUPP = 1  # -EOPNOTSUPP
    TIMEOUT = 2  # -ETIMEDOUT
    NOSPC = 3  # -ENOSPC
    TRANSPORT = 4  # -ENOLINK
    TARGET = 5  # -EREMOTEIO
    MEDIUM = 7  # -ENODATA
    PROTECTION = 8  # -EILSEQ
    RESOURCE = 9  # -ENOMEM
    IOERR = 10  # -EIO


#: blk_status_to_errno().
BLK_STATUS_ERRNO: Final = {
    BlkStatus.OK: 0, BlkStatus.NOTSUPP: -95, BlkStatus.TIMEOUT: -110, BlkStatus.NOSPC: -28,
    BlkStatus.TRANSPORT: -67, BlkStatus.TARGET: -121, BlkStatus.MEDIUM: -61,
    BlkStatus.PROTECTION: -84, BlkStatus.RESOURCE: -12, BlkStatus.IOERR: -5,
}


#: The number of each operation (enum req_op: REQ_OP_READ 0, REQ_OP_WRITE 1, REQ_OP_FLUSH 2)
#: and its name (blk_op_str).
REQ_OP_NUMBER: Final = {ReqOp.READ: 0, ReqOp.WRITE: 1, ReqOp.FLUSH: 2}

#: What blk_status_to_str() says of each status ("I/O error, dev sda, …").
BLK_STATUS_STR: Final = {
    BlkStatus.OK: "", BlkStatus.NOTSUPP: "operation not supported", BlkStatus.TIMEOUT: "timeout",
    BlkStatus.NOSPC: "critical space allocation", BlkStatus.TRANSPORT: "recoverable transport",
    BlkStatus.TARGET: "critical target", BlkStatus.MEDIUM: "critical medium",
    BlkStatus.PROTECTION: "protection", BlkStatus.RESOURCE: "kernel resource",
    BlkStatus.IOERR: "I/O",
}

#: enum req_flag_bits: the bit of each request flag by name (REQ_SYNC is 1 << 11); the op
#: takes the low REQ_OP_BITS (8) bits of cmd_flags.
REQ_FLAG_BITS: Final = {name: 1 << bit for bit, name in enumerate(
    ("FAILFAST_DEV", "FAILFAST_TRANSPORT", "FAILFAST_DRIVER", "SYNC", "META", "PRIO",
     "NOMERGE", "IDLE", "INTEGRITY", "FUA", "PREFLUSH", "RAHEAD", "BACKGROUND", "NOWAIT",
     "POLLED", "ALLOC_CACHE", "SWAP", "DRV", "FS_PRIVATE", "ATOMIC", "NOUNMAP"), start=8)}


def req_flags_value(flags: frozenset[str]) -> int:
    """cmd_flags & ~REQ_OP_MASK for a set of flag names.  Raises ValueError for a name
    that is not in REQ_FLAG_BITS."""
    try:
        return sum(REQ_FLAG_BITS[name] for name in flags)
    except KeyError as exc:
        raise ValueError(f"unknown request flag {exc.args[0]!r}; known: "
                         f"{', '.join(REQ_FLAG_BITS)}") from None


@dataclass(eq=False)
class Request:
    """struct request as its driver sees it: the operation, the first 512-byte sector,
    the sector count and the data (`buffer`, len = nr_sectors × 512; empty for FLUSH).
    `rq_flags` holds REQ_FUA and its kin by name."""

    op: ReqOp
    sector: int = 0
    nr_sectors: int = 0
    buffer: memoryview = field(default_factory=lambda: memoryview(b""))
    flags: frozenset[str] = frozenset()

    @property
    def nbytes(self) -> int:
        return self.nr_sectors << SECTOR_SHIFT
