"""The hung-task detector — counterpart of kernel/hung_task.c (khungtaskd).

Work of the driver core that waits on a driver — a probe, a remove or disconnect — runs
inside `watch()`.  If it is still running `HUNG_TASK_TIMEOUT_S` seconds of machine time
later, the detector logs what Linux logs for a task stuck in uninterruptible sleep, once
per watched piece of work: "INFO: task <name> blocked for more than 120 seconds.", the line
that says how to silence it, and the call trace of the blocked task — here the chain of
coroutines from the task down to the await it is stuck in.  `busy()` says what is being
waited for and for how long, so that `System.settle()` can name it when it gives up.

Not modelled: the `/proc/sys/kernel/hung_task_*` files, panicking on a hung task, pids,
taint flags and scheduler state; the task's name is its asyncio name ("hub_wq …").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Final

from .printk import Level, Printk

__all__ = ["HUNG_TASK_TIMEOUT_S", "HungTaskDetector", "coroutine_stack"]

#: hung_task_timeout_secs' default (CONFIG_DEFAULT_HUNG_TASK_TIMEOUT).
HUNG_TASK_TIMEOUT_S: Final = 120


@dataclass
class _Watched:
    what: str
    task: asyncio.Task[Any] | None
    since: float
    reported: bool = False


def coroutine_stack(task: asyncio.Task[Any]) -> list[FrameType]:
    """The frames of a suspended task, outermost first, following each coroutine down to
    the one it awaits (asyncio's own `get_stack` stops at the first).  Context: atomic."""
    frames: list[FrameType] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return frames


class HungTaskDetector:
    """khungtaskd for one machine.  Context: every method is atomic."""

    def __init__(self, log: Printk, timeout_s: float = HUNG_TASK_TIMEOUT_S) -> None:
        self.log = log
        self.timeout_s = timeout_s
        self._watched: list[_Watched] = []

    @contextmanager
    def watch(self, what: str) -> Iterator[None]:
        """Run the body as work that must not block: reported if it is still running
        `timeout_s` seconds of machine time from now.  `what` says what it is ("probe of
        1-1:1.0 by driver x")."""
        loop = asyncio.get_running_loop()
        entry = _Watched(what, asyncio.current_task(), loop.time())
        self._watched.append(entry)
        timer = loop.call_later(self.timeout_s, self._check, entry)
        try:
            yield
        finally:
            timer.cancel()
            self._watched.remove(entry)

    def busy(self, now: float) -> list[str]:
        """What is being waited for now, with for how long ("probe of … (for 180 s)"):
        for each task, the innermost watched work (the interface probe that the device
        probe is waiting for)."""
        return [f"{entry.what} (for {now - entry.since:g} s)" for entry in self._watched
                if self._innermost(entry) is entry]

    def _innermost(self, entry: _Watched) -> _Watched:
        return next(other for other in reversed(self._watched) if other.task is entry.task)

    def _check(self, entry: _Watched) -> None:
        if entry.reported or entry not in self._watched:
            return
        entry.reported = True
        if self._innermost(entry) is not entry:     # reported by the work it waits for
            return
        name = entry.task.get_name() if entry.task is not None else "swapper"
        err = Level.ERR
        self.log.log(err, f"INFO: task {name} blocked for more than "
                          f"{self.timeout_s:g} seconds.")
        self.log.log(err, '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables '
                          "this message.")
        self.log.log(Level.INFO, f"task:{name:<15.15} state:D ({entry.what})")
        self.log.log(Level.WARNING, "Call Trace:")
        self.log.log(Level.WARNING, " <TASK>")
        frames = coroutine_stack(entry.task) if entry.task is not None else []
        for frame in frames:
            code = frame.f_code
            self.log.log(Level.WARNING, f" {code.co_name} ({code.co_filename}:"
                                        f"{frame.f_lineno})")
        self.log.log(Level.WARNING, " </TASK>")
