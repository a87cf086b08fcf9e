"""Virtual time — the clock of an emulated machine, standing in for jiffies and ktime.

`VirtualTimeLoop` is an asyncio event loop whose `time()` is a number it advances itself:
whenever nothing is ready to run, instead of sleeping until the next timer it jumps the
clock straight to it (trio's `MockClock(autojump_threshold=0)` does the same).  A 5000 ms
USB timeout or a 1000-frame polling run therefore costs no wall-clock time, and a run is
deterministic.  File descriptors still work: ready I/O is always polled first, and when no
timer is pending at all the loop waits for real I/O or another thread's
`call_soon_threadsafe`, like any loop.

It does not make blocking code fast: code that calls `time.sleep()` or blocks in a syscall
blocks the whole machine.  Nothing in usbemu does; everything asks the loop for the time.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Mapping
from typing import Any


class _AutojumpSelector(selectors.BaseSelector):
    """Wraps the real selector: polls it without blocking, and where the loop would sleep
    for `timeout` seconds, advances the loop's clock by that much instead."""

    def __init__(self, real: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._real = real
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            return self._real.select(None)
        self._loop.advance(timeout)
        return []

    def close(self) -> None:
        self._real.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time, starting at `start` seconds."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__(selectors.DefaultSelector())
        self._now_ns = round(start * 1e9)
        self._selector: selectors.BaseSelector = _AutojumpSelector(self._selector, self)

    def time(self) -> float:
        return self._now_ns / 1e9

    def advance(self, seconds: float) -> None:
        """Move the clock forward (never backward), in whole nanoseconds (at least one, so
        that a pending timer is always reached).  Timers now due run on the next pass."""
        if seconds < 0:
            raise ValueError(f"virtual time cannot go backward ({seconds} s)")
        self._now_ns += max(1, round(seconds * 1e9))


def new_event_loop(virtual: bool) -> asyncio.AbstractEventLoop:
    """A loop on virtual time, or asyncio's default loop on real (monotonic) time."""
    return VirtualTimeLoop() if virtual else asyncio.new_event_loop()
