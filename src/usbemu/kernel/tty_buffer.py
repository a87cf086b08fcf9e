"""The flip buffer — counterpart of drivers/tty/tty_buffer.c and include/linux/tty_flip.h.

A tty port's flip buffer is where a driver puts received bytes (and a flag byte per
character when one is not TTY_NORMAL) from atomic context: `tty_insert_flip_string`,
`tty_insert_flip_char`, `tty_insert_flip_string_fixed_flag`, then `tty_flip_buffer_push`,
which queues `flush_to_ldisc` as a work item on the machine's loop (never inline).  The
work hands the data to the port's client (the line discipline of the open tty) as far as it
takes it and keeps the rest until the discipline asks again (`tty_buffer_restart_work`).
Buffers are chunks of up to TTY_BUFFER_PAGE (1792) characters, sized in multiples of 256,
with Linux's accounting: once more than `mem_limit` bytes (TTYB_DEFAULT_MEM_LIMIT, 640 KiB)
are held, an insert takes fewer bytes than offered.  All of it is atomic.  Not modelled:
the flip buffer's own locks (one loop runs everything).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from ..errors import Errno
from .tty import tty_contain

if TYPE_CHECKING:
    from .tty import TtyLdisc, TtyStruct
    from .tty_port import TtyPort

__all__ = [
    "TTYB_DEFAULT_MEM_LIMIT",
    "TTY_BREAK",
    "TTY_BUFFER_PAGE",
    "TTY_FRAME",
    "TTY_NORMAL",
    "TTY_OVERRUN",
    "TTY_PARITY",
    "TtyBufHead",
    "TtyBuffer",
    "flush_to_ldisc",
    "tty_buffer_cancel_work",
    "tty_buffer_flush",
    "tty_buffer_flush_work",
    "tty_buffer_request_room",
    "tty_buffer_restart_work",
    "tty_buffer_set_limit",
    "tty_buffer_space_avail",
    "tty_flip_buffer_push",
    "tty_insert_flip_char",
    "tty_insert_flip_string",
    "tty_insert_flip_string_fixed_flag",
    "tty_insert_flip_string_flags",
    "tty_prepare_flip_string",
]

#: Per-character flags (include/linux/tty_flip.h … tty.h).
TTY_NORMAL, TTY_BREAK, TTY_FRAME, TTY_PARITY, TTY_OVERRUN = 0, 1, 2, 3, 4

MIN_TTYB_SIZE: Final = 256
TTYB_ALIGN_MASK: Final = 0xFF
#: Bytes of buffers a port may hold before inserts are cut short (the real limit is more
#: than twice this: the check comes before each allocation).
TTYB_DEFAULT_MEM_LIMIT: Final = 640 * 1024
#: sizeof(struct tty_buffer) on x86-64: the characters and flags of a buffer fill a page.
_TTY_BUFFER_HEADER: Final = 32
TTY_BUFFER_PAGE: Final = ((4096 - _TTY_BUFFER_HEADER) // 2) & ~TTYB_ALIGN_MASK


class TtyBuffer:
    """struct tty_buffer: `size` characters (and as many flag bytes when `flags`; a buffer
    without flags holds 2 × size characters) in `data`; `used` filled, `commit` pushed,
    `read` taken by the line discipline, `lookahead` looked at ahead of it."""

    __slots__ = ("commit", "data", "flags", "lookahead", "next", "read", "size", "used")

    def __init__(self, size: int) -> None:
        self.data = bytearray(2 * size)
        self.reset(size)

    def reset(self, size: int) -> None:
        """tty_buffer_reset().  Context: atomic."""
        self.size = size
        self.used = self.commit = self.lookahead = self.read = 0
        self.next: TtyBuffer | None = None
        self.flags = True


class TtyBufHead:
    """struct tty_bufhead: the chain of buffers from `head` (the line discipline reads
    there) to `tail` (the driver writes there), the small buffers kept for reuse, the bytes
    held (`mem_used`) and the limit, and the flush work."""

    def __init__(self) -> None:
        self.sentinel = TtyBuffer(0)
        self.head = self.tail = self.sentinel
        self.free: list[TtyBuffer] = []
        self.mem_used = 0
        self.mem_limit = TTYB_DEFAULT_MEM_LIMIT
        #: Exclusive users (tty_buffer_lock_exclusive): the work stays away meanwhile.
        self.priority = 0
        #: The queued flush work, if any.
        self.work: asyncio.Handle | None = None


def _alloc(buf: TtyBufHead, size: int) -> TtyBuffer | None:
    """tty_buffer_alloc(): a buffer of `size` rounded up to 256, None past the limit."""
    size = (size + TTYB_ALIGN_MASK) & ~TTYB_ALIGN_MASK
    if size <= MIN_TTYB_SIZE and buf.free:
        found = buf.free.pop()
    elif buf.mem_used > buf.mem_limit:
        return None
    else:
        found = TtyBuffer(size)
    found.reset(size)
    buf.mem_used += size
    return found


def _free(buf: TtyBufHead, b: TtyBuffer) -> None:
    """tty_buffer_free(): small buffers are kept for reuse."""
    buf.mem_used -= b.size
    if 0 < b.size <= MIN_TTYB_SIZE:
        buf.free.append(b)


def tty_buffer_space_avail(port: TtyPort) -> int:
    """tty_buffer_space_avail(): the bytes a driver can insert before the limit (not a
    promise that they fit).  Context: atomic."""
    return max(port.buf.mem_limit - port.buf.mem_used, 0)


def tty_buffer_set_limit(port: TtyPort, limit: int) -> int:
    """tty_buffer_set_limit(): 0, or -EINVAL below 256 bytes.  Context: atomic."""
    if limit < MIN_TTYB_SIZE:
        return -Errno.EINVAL
    port.buf.mem_limit = limit
    return 0


def tty_buffer_free_all(port: TtyPort) -> None:
    """tty_buffer_free_all(): drop every buffer (the port is no longer used).  Context: atomic."""
    buf = port.buf
    buf.sentinel.reset(0)
    buf.head = buf.tail = buf.sentinel
    buf.free.clear()
    buf.mem_used = 0


def _request_room(buf: TtyBufHead, size: int, flags: bool) -> int:
    """__tty_buffer_request_room(): `size` contiguous places at the tail (a new buffer
    when the tail is full, or has no flags and flags are needed); fewer past the limit."""
    b = buf.tail
    left = (1 if b.flags else 2) * b.size - b.used
    change = flags and not b.flags
    if not change and left >= size:
        return size
    n = _alloc(buf, size)
    if n is None:
        return 0 if change else left
    n.flags = flags
    buf.tail = n
    b.commit = b.used
    b.next = n
    return size


def tty_buffer_request_room(port: TtyPort, size: int) -> int:
    """tty_buffer_request_room(): make `size` places (with flags) available at the tail;
    returns how many there are.  Context: atomic."""
    return _request_room(port.buf, size, True)


def _insert(port: TtyPort, chars: memoryview, flag: int, flags: memoryview | None) -> int:
    """__tty_insert_flip_string_flags(): copy `chars` in, each with `flag` or its byte of
    `flags`; returns the bytes taken."""
    buf = port.buf
    size = len(chars)
    need_flags = flags is not None or flag != TTY_NORMAL
    copied = 0
    while True:
        space = _request_room(buf, min(size - copied, TTY_BUFFER_PAGE), need_flags)
        if space == 0:
            break
        tb = buf.tail
        used = tb.used
        tb.data[used:used + space] = chars[copied:copied + space]
        if flags is not None:
            tb.data[tb.size + used:tb.size + used + space] = flags[copied:copied + space]
        elif tb.flags:
            tb.data[tb.size + used:tb.size + used + space] = bytes((flag,)) * space
        tb.used = used + space
        copied += space
        if copied >= size:
            break
    return copied


def _bytes(data: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def tty_insert_flip_string(port: TtyPort, data: bytes | bytearray | memoryview) -> int:
    """tty_insert_flip_string(): queue received bytes (TTY_NORMAL); returns how many were
    taken (fewer past the memory limit).  Context: atomic."""
    return _insert(port, _bytes(data), TTY_NORMAL, None)


def tty_insert_flip_string_fixed_flag(port: TtyPort, data: bytes | bytearray | memoryview,
                                      flag: int, size: int | None = None) -> int:
    """tty_insert_flip_string_fixed_flag(): queue the first `size` bytes of `data` (all
    by default), each with `flag`; returns how many were taken.  Context: atomic."""
    chars = _bytes(data)
    return _insert(port, chars if size is None else chars[:size], flag, None)


def tty_insert_flip_string_flags(port: TtyPort, data: bytes | bytearray | memoryview,
                                 flags: bytes | bytearray | memoryview) -> int:
    """tty_insert_flip_string_flags(): queue bytes, each with its own flag byte.  Raises
    ValueError when `flags` is shorter than `data`.  Context: atomic."""
    chars, flag_view = _bytes(data), _bytes(flags)
    if len(flag_view) < len(chars):
        raise ValueError(f"{len(chars)} bytes need as many flags, got {len(flag_view)}")
    return _insert(port, chars, TTY_NORMAL, flag_view)


def tty_insert_flip_char(port: TtyPort, ch: int, flag: int = TTY_NORMAL) -> int:
    """tty_insert_flip_char(): queue one byte with its flag; 1, or 0 past the limit.
    Context: atomic."""
    tb = port.buf.tail
    if (tb.flags or flag == TTY_NORMAL) and tb.used < tb.size:
        if tb.flags:
            tb.data[tb.size + tb.used] = flag
        tb.data[tb.used] = ch
        tb.used += 1
        return 1
    return _insert(port, memoryview(bytes((ch,))), flag, None)


def tty_prepare_flip_string(port: TtyPort, size: int) -> memoryview:
    """tty_prepare_flip_string(): room for up to `size` TTY_NORMAL bytes that the caller
    fills itself — the writable view returned (empty past the limit) counts as inserted.
    Context: atomic."""
    buf = port.buf
    space = _request_room(buf, size, False)
    if not space:
        return memoryview(bytearray())
    tb = buf.tail
    if tb.flags:
        tb.data[tb.size + tb.used:tb.size + tb.used + space] = bytes(space)
    view = memoryview(tb.data)[tb.used:tb.used + space]
    tb.used += space
    return view


def tty_flip_buffer_push(port: TtyPort) -> None:
    """tty_flip_buffer_push(): commit what was inserted and queue the flush to the line
    discipline (a work item on the machine's loop).  Context: atomic, on the machine's
    loop."""
    buf = port.buf
    buf.tail.commit = buf.tail.used
    _queue_work(port)


def _queue_work(port: TtyPort) -> None:
    buf = port.buf
    if buf.work is None:
        buf.work = asyncio.get_running_loop().call_soon(_flush_work, port)


def _flush_work(port: TtyPort) -> None:
    port.buf.work = None
    try:
        flush_to_ldisc(port)
    except BaseException as exc:
        tty_contain(f"flush_to_ldisc of {port!r}", exc)


def tty_buffer_restart_work(port: TtyPort) -> None:
    """tty_buffer_restart_work(): queue the flush again (the line discipline has room
    now).  Context: atomic."""
    _queue_work(port)


def tty_buffer_cancel_work(port: TtyPort) -> None:
    """tty_buffer_cancel_work(): forget a queued flush.  Context: atomic."""
    if port.buf.work is not None:
        port.buf.work.cancel()
        port.buf.work = None


def tty_buffer_flush_work(port: TtyPort) -> bool:
    """tty_buffer_flush_work(): a queued flush runs now (flush_work waits for it); True
    when there was one.  Context: atomic."""
    if port.buf.work is None:
        return False
    tty_buffer_cancel_work(port)
    _flush_work(port)
    return True


def tty_buffer_lock_exclusive(port: TtyPort) -> None:
    """tty_buffer_lock_exclusive(): keep the flush work away from the line discipline
    (while its settings change); drivers may still insert.  Context: atomic."""
    port.buf.priority += 1


def tty_buffer_unlock_exclusive(port: TtyPort) -> None:
    """tty_buffer_unlock_exclusive(): the work is queued again if data waits.  Context: atomic."""
    buf = port.buf
    buf.priority -= 1
    if buf.head.commit != buf.head.read or buf.head.next is not None:
        _queue_work(port)


def _views(head: TtyBuffer, start: int, count: int) -> tuple[memoryview, memoryview | None]:
    data = memoryview(head.data)
    flags = data[head.size + start:head.size + start + count] if head.flags else None
    return data[start:start + count], flags


def _lookahead_bufs(port: TtyPort, head: TtyBuffer | None) -> None:
    """lookahead_bufs(): show the client what waits beyond what it took (n_tty acts on
    START/STOP characters there)."""
    assert head is not None
    head.lookahead = max(head.lookahead, head.read)
    while head is not None:
        count = head.commit - head.lookahead
        if count:
            if port.client_ops.lookahead_buf is not None:
                chars, flags = _views(head, head.lookahead, count)
                port.client_ops.lookahead_buf(port, chars, flags, count)
            head.lookahead += count
        head = head.next


def flush_to_ldisc(port: TtyPort) -> None:
    """flush_to_ldisc(): hand the pushed data to the port's client as far as it takes it;
    a buffer read to its end is freed.  Context: atomic (the flush work)."""
    buf = port.buf
    while not buf.priority:
        head = buf.head
        nxt = head.next
        count = head.commit - head.read
        if not count:
            if nxt is None:
                break
            buf.head = nxt
            _free(buf, head)
            continue
        chars, flags = _views(head, head.read, count)
        rcvd = port.client_ops.receive_buf(port, chars, flags, count)
        head.read += rcvd
        if rcvd < count:
            _lookahead_bufs(port, head)
        if not rcvd:
            break


def tty_buffer_flush(tty: TtyStruct, ld: TtyLdisc | None) -> None:
    """tty_buffer_flush(): discard every pushed byte not yet taken, then the line
    discipline's own input (`ld`, if given).  Context: atomic."""
    port = tty.port
    if port is None:
        return
    buf = port.buf
    while buf.head.next is not None:
        nxt = buf.head.next
        _free(buf, buf.head)
        buf.head = nxt
    buf.head.read = buf.head.commit
    buf.head.lookahead = buf.head.read
    if ld is not None:
        ld.flush_buffer(tty)
