"""Wait queues and poll tables — counterpart of kernel/sched/wait.c, include/linux/wait.h
and the poll_wait() half of include/linux/poll.h and fs/select.c.

A `WaitQueueHead` is where process context sleeps until something atomic (a URB completion,
a timer, a disconnect) wakes it: `await wq.wait_event(condition, timeout_ms)` is
wait_event_interruptible_timeout(), `wq.wake_up()` is wake_up_interruptible().  A driver's
`poll` file operation registers the queues it would be woken on with `poll_wait()`; the
poll system call (`kernel.syscalls`) sleeps on all of them at once.  Everything runs on the
machine's event loop, so the classic lost-wakeup race cannot happen between a condition
check and the sleep that follows it (nothing else runs in between).

Not modelled: exclusive waits, wake-one semantics, signals (nothing interrupts a sleeper
but its wake-up or its timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import IntFlag
from typing import Any


class Poll(IntFlag):
    """Poll event bits (include/uapi/asm-generic/poll.h; EPOLL* have the same values)."""

    IN = 0x0001
    PRI = 0x0002
    OUT = 0x0004
    ERR = 0x0008
    HUP = 0x0010
    NVAL = 0x0020
    RDNORM = 0x0040
    RDBAND = 0x0080
    WRNORM = 0x0100
    WRBAND = 0x0200
    MSG = 0x0400
    RDHUP = 0x2000


#: What poll reports for a file whose driver has no poll operation (DEFAULT_POLLMASK).
DEFAULT_POLLMASK = Poll.IN | Poll.OUT | Poll.RDNORM | Poll.WRNORM


class WaitQueueHead:
    """wait_queue_head_t.  Context: `wake_up` is atomic; `wait_event` may sleep."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        return f"<WaitQueueHead waiters={len(self._waiters)}>"

    def waitqueue_active(self) -> bool:
        """Whether anyone sleeps on the queue now."""
        return any(not fut.done() for fut in self._waiters)

    def add_waiter(self) -> asyncio.Future[None]:
        """Enqueue a fresh waiter of the running loop; the caller awaits it (or discards it
        with `remove_waiter`).  Context: atomic, on the machine's loop."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return fut

    def remove_waiter(self, fut: asyncio.Future[None]) -> None:
        if fut in self._waiters:
            self._waiters.remove(fut)
        if not fut.done():
            fut.cancel()

    def wake_up(self) -> None:
        """wake_up_interruptible(): wake every sleeper.  Context: atomic (completion
        handlers call it)."""
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_event(self, condition: Callable[[], Any],
                         timeout_ms: float | None = None) -> bool:
        """wait_event_interruptible_timeout(): sleep until `condition()` is true, checked
        at once and after each wake-up.  Returns True when it is, False when `timeout_ms`
        of machine time passed first (None: no timeout).  Context: may sleep."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_ms is None else loop.time() + timeout_ms / 1000
        while not condition():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            fut = self.add_waiter()
            try:
                await asyncio.wait([fut], timeout=remaining)
            finally:
                self.remove_waiter(fut)
        return True


class PollTable:
    """poll_table: the wait queues one pass of a driver's `poll` registered (poll_wait).
    Context: registration is atomic; `sleep` may sleep."""

    def __init__(self) -> None:
        self._entries: list[tuple[WaitQueueHead, asyncio.Future[None]]] = []

    def add(self, wq: WaitQueueHead) -> None:
        self._entries.append((wq, wq.add_waiter()))

    async def sleep(self, timeout_s: float | None) -> bool:
        """Sleep until one of the registered queues is woken (True) or `timeout_s`
        seconds of machine time pass (False).  Always frees the table's entries."""
        try:
            if not self._entries:
                if timeout_s is not None:
                    await asyncio.sleep(timeout_s)
                return False
            done, _ = await asyncio.wait([fut for _, fut in self._entries],
                                         timeout=timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            return bool(done)
        finally:
            self.free()

    def free(self) -> None:
        """poll_freewait(): leave every queue."""
        for wq, fut in self._entries:
            wq.remove_waiter(fut)
        self._entries.clear()


def poll_wait(filp: object, wq: WaitQueueHead, table: PollTable | None) -> None:
    """poll_wait(filp, &wq, wait): register `wq` with the poll call running now.
    `table` is None when the caller only wants the current mask.  Context: atomic."""
    if table is not None:
        table.add(wq)
