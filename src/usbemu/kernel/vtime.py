"""Virtual time — the clock of an emulated machine, standing in for jiffies and ktime.

`VirtualTimeLoop` is an asyncio event loop whose `time()` is a number it advances itself:
whenever nothing is ready to run, instead of sleeping until the next timer it jumps the
clock straight to it (trio's `MockClock(autojump_threshold=0)` does the same).  A 5000 ms
USB timeout or a 1000-frame polling run therefore costs no wall-clock time, and a run is
deterministic.  File descriptors still work: ready I/O is polled before the clock moves
(and every BUSY_POLL-th pass while work is ready), and when no timer is pending at all the
loop waits for real I/O or another thread's `call_soon_threadsafe`, like any loop.

The clock is an integer count of nanoseconds (`time_ns()`), so it never loses a tick
however long a machine runs; `time()` gives asyncio the float nearest to it, in seconds.
asyncio's deadlines are floats (`call_later` computes `time() + delay`).  Two rules make
every timer fire at its deadline, whatever the clock reads, with `time() >= when` when it
runs — so code that re-arms a timer while `when > time()` always sees the clock move:

- When idle, the clock jumps straight to the earliest deadline: to the nanosecond nearest
  to it, or the next one when that one's `time()` still reads below it.  In one step, not
  in asyncio's one-day select timeouts, and without a float subtraction that could fall
  short.
- asyncio takes a timer as due when `when < time() + _clock_resolution`.  With the standard
  resolution (1 ns) that sum stops changing once the clock passes 2**24 s (194 days), so a
  timer due now is never taken and the loop spins; below that, a timer is taken up to a
  nanosecond early.  Here the resolution is the gap from `time()` to the next float
  (`math.ulp`), so the sum is that next float and a timer is due exactly when
  `time() >= when`.

Limits.  The clock is exact at every value it may take, and every deadline up to its end
is reached.  Its end is Linux's: KTIME_MAX, 2**63 - 1 ns (about 292 years), the largest
ktime_t.  A timer due later — `call_at`, `call_later`, `asyncio.sleep`, `wait_for`, the
timeout of every kernel sleep, which all arm loop timers — is refused with a ValueError
naming its deadline and the limit, and so are a start or an `advance` past it; a deadline
of +inf is "forever" (MAX_SCHEDULE_TIMEOUT): it never fires, and the loop then waits for
real I/O, as with no timer.  Inside that range a float deadline is placed to the nanosecond
while the clock is below 2**23 s (97 days) and to within 2 us up to the end, so a 125 us
microframe timer keeps its meaning; beyond it a 1 ms poll could no longer move the clock.
`sleep_ns` (System.sleep, the shell's sleep) takes its deadline from the exact clock, so
such a sleep lasts exactly its nanoseconds while the clock is below 2**23 s;
`asyncio.sleep` adds two floats and can be a nanosecond off sooner.  User-facing sleeps are
capped at `MAX_SLEEP_MS`.

Loops that never let time pass.  On virtual time the clock moves only when the loop is
idle, so a task that waits for time to pass while keeping the loop busy — `while not done:
await asyncio.sleep(0)`, two tasks waking each other forever — would stop the clock and
hang the process, where on a real machine the time would run on.  The loop counts its
passes with work ready since the clock last moved; after `stall_passes` of them
(`STALL_PASSES`, 2**22: 20 to 40 s of wall-clock time for a bare spinning task, about
Linux's soft-lockup threshold, and hundreds of times what the busiest legitimate burst of
this stack takes without the clock moving) while a timer waits, it cancels the tasks that
are ready to run and raises `VirtualTimeStall` naming them, out of `run_until_complete`.
A count rather than a wall-clock watchdog keeps the verdict deterministic: the same run
stalls at the same pass every time.  It costs one increment per pass that has work.

It does not make blocking code fast: code that calls `time.sleep()` or blocks in a syscall
blocks the whole machine, and a single callback that loops without returning is not seen
(nothing in one thread can stop it).  Nothing in usbemu does; everything asks the loop for
the time.  The loop leans on two attributes of asyncio's `BaseEventLoop`, the timer heap
`_scheduled` and `_clock_resolution`, used the same way by `_run_once` in CPython 3.11 to
3.13 (and on `_ready`, its queue of callbacks, to name the tasks of a stall).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import importlib
import importlib.util
import math
import os
import selectors
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVarTuple

_Ts = TypeVarTuple("_Ts")

#: Nanoseconds per second.
NS_PER_S: Final = 1_000_000_000

#: The end of the clock: KTIME_MAX (include/linux/ktime.h), the largest ktime_t, in
#: nanoseconds — 9,223,372,036.854775807 s, about 292 years — and the last float deadline
#: before it (9223372036.854774 s; the float nearest to KTIME_MAX is 575 ns past it).
KTIME_MAX_NS: Final = 2**63 - 1
KTIME_MAX_S: Final = math.nextafter(KTIME_MAX_NS / NS_PER_S, 0.0)

#: Passes of the loop with work ready and the clock standing still, while a timer waits,
#: after which the loop declares a stall (see the module docstring).
STALL_PASSES: Final = 2**22
#: While work is ready the loop polls real I/O on every BUSY_POLL-th pass (a system call
#: each); whenever it would wait, it polls first.
BUSY_POLL: Final = 4


class VirtualTimeStall(RuntimeError):
    """Virtual time stopped: the loop kept running ready work for `passes` passes without
    going idle, so the clock could not move while timers waited.  `tasks` are the names of
    the tasks that were ready to run at the end (they are cancelled)."""

    def __init__(self, message: str, passes: int, tasks: tuple[str, ...]) -> None:
        super().__init__(message)
        self.passes = passes
        self.tasks = tasks


def _check_deadline(when: float) -> None:
    """Raise ValueError for a finite deadline past KTIME_MAX (NaN and +inf pass)."""
    if KTIME_MAX_S < when < math.inf:
        raise ValueError(f"a timer due at {when!r} s of machine time is past the end of "
                         f"the virtual clock, KTIME_MAX = {KTIME_MAX_NS} ns (about 292 "
                         "years); use math.inf (no timeout) to wait forever")

#: The longest sleep a user may ask for — `System.sleep`, the shell's `sleep` and a
#: scenario's `sleep` step refuse more, as they refuse NaN, infinities and negative
#: durations: 30 days of machine time, 2,592,000,000 ms, a whole number of nanoseconds
#: that the clock holds exactly.  No test needs a longer one.
MAX_SLEEP_DAYS: Final = 30
MAX_SLEEP_MS: Final = MAX_SLEEP_DAYS * 24 * 3600 * 1000


def to_ns(value: float, unit_ns: int = NS_PER_S) -> int:
    """`value` units of `unit_ns` nanoseconds each (seconds by default) in whole
    nanoseconds, rounded to the nearest (half up), computed exactly from the float's binary
    value.  `value` must be finite."""
    num, den = value.as_integer_ratio()
    return (2 * num * unit_ns + den) // (2 * den)


def sleep_duration_ns(ms: float) -> int:
    """A user's sleep of `ms` milliseconds, in whole nanoseconds (the nearest).  Raises
    ValueError, naming the limit, for NaN, an infinity, a negative duration or one longer
    than MAX_SLEEP_MS."""
    if not 0 <= ms <= MAX_SLEEP_MS:          # NaN fails every comparison
        raise ValueError(f"cannot sleep {ms} ms: a sleep is 0 to {MAX_SLEEP_MS} ms "
                         f"({MAX_SLEEP_DAYS} days) of machine time")
    return to_ns(ms, 1_000_000)


async def sleep_ns(ns: int) -> None:
    """Let `ns` (0 or more) nanoseconds of machine time pass on the running loop.  On
    virtual time the deadline is taken from the exact clock (`time_ns() + ns`, not
    `time() + seconds`), so the clock then reads exactly `ns` later while it is below
    2**23 s, and to within the float spacing of the clock beyond (15 ns at 1e8 s).
    Context: may sleep."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        await asyncio.sleep(ns / NS_PER_S)
        return
    waiter = loop.create_future()
    timer = loop.call_at((loop.time_ns() + ns) / NS_PER_S, _wake, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _AutojumpSelector(selectors.BaseSelector):
    """Wraps the real selector: polls it without blocking, and where the loop would sleep
    until its next timer, jumps the loop's clock to that timer's deadline instead."""

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
        loop = self._loop
        if timeout == 0:                     # work is ready: a busy pass
            loop.busy_passes += 1
            if loop.busy_passes > loop.stall_passes:
                loop.stalled()
            # no clock moves while work is ready: real I/O is polled every BUSY_POLL passes
            return [] if loop.busy_passes % BUSY_POLL else self._real.select(0)
        loop.busy_passes = 0
        events = self._real.select(0)
        if events:
            return events
        # asyncio passes a timeout only when a timer is pending (capped at one day, and
        # computed in floats); the loop jumps to the timer itself, not by the timeout.
        if timeout is not None and self._loop.jump_to_next_timer():
            return []
        return self._real.select(None)

    def close(self) -> None:
        self._real.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time, starting at `start` seconds (finite, 0 or more).
    Context: like any event loop, one thread runs it; `time()`, `time_ns()` and `advance()`
    are called from that thread."""

    # BaseEventLoop's heap of pending timers and queue of ready callbacks (not in typeshed).
    _scheduled: list[asyncio.TimerHandle]
    _ready: collections.deque[asyncio.Handle]

    def __init__(self, start: float = 0.0, *, stall_passes: int = STALL_PASSES) -> None:
        super().__init__(selectors.DefaultSelector())
        if not 0 <= start <= KTIME_MAX_S:
            self.close()
            raise ValueError(f"a virtual clock starts at 0 s or later, finite and at most "
                             f"KTIME_MAX ({KTIME_MAX_NS} ns) (got {start})")
        #: Busy passes after which the loop declares a stall (`VirtualTimeStall`).
        self.stall_passes = stall_passes
        #: Busy passes since the clock last moved or the loop was last idle.
        self.busy_passes = 0
        self._selector: selectors.BaseSelector = _AutojumpSelector(self._selector, self)
        self._set_clock(to_ns(start))

    def call_at(self, when: float, callback: Callable[[*_Ts], object],
                *args: *_Ts,
                context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        """asyncio's call_at, refusing a finite deadline past KTIME_MAX with a ValueError
        that names it (+inf: never fires).  Context: from the thread running the loop."""
        _check_deadline(when)
        return super().call_at(when, callback, *args, context=context)

    def stalled(self) -> None:
        """The busy-pass budget ran out.  With a timer waiting, cancel the tasks ready to
        run and raise VirtualTimeStall naming them; with none, nothing waits for the
        clock (a long computation): start counting again.  Called by the selector."""
        passes, self.busy_passes = self.busy_passes, 0
        if not any(timer.when() < math.inf for timer in self._scheduled):
            return
        tasks = list(dict.fromkeys(
            task for task in (getattr(getattr(handle, "_callback", None), "__self__", None)
                              for handle in self._ready)
            if isinstance(task, asyncio.Task) and not task.done()))
        where = ", ".join(_describe(task) for task in tasks) or \
            ", ".join(repr(handle) for handle in list(self._ready)[:3])
        for task in tasks:
            task.cancel(f"virtual time stalled: cancelled after {passes} busy passes")
        raise VirtualTimeStall(
            f"virtual time stalled at {self.time():.9f} s: {passes} passes of the loop ran "
            f"ready work without it going idle, so the clock could not move while timers "
            f"waited; still spinning: {where} (cancelled)", passes,
            tuple(task.get_name() for task in tasks))

    def time(self) -> float:
        """The clock in seconds: the float nearest to `time_ns()`."""
        return self._now

    def time_ns(self) -> int:
        """The clock in whole nanoseconds, exact at any value."""
        return self._now_ns

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`, rounded to the nearest nanosecond; timers
        now due run on the next pass.  Raises ValueError for a negative or non-finite
        duration: virtual time never goes backward."""
        if not 0 <= seconds < math.inf:
            raise ValueError(f"virtual time moves forward by a finite duration "
                             f"(got {seconds} s)")
        target = self._now_ns + to_ns(seconds)
        if target > KTIME_MAX_NS:
            raise ValueError(f"advancing by {seconds} s would take the virtual clock past "
                             f"KTIME_MAX ({KTIME_MAX_NS} ns, about 292 years)")
        self._set_clock(target)

    def advance_if_idle(self, ns: int) -> bool:
        """What sleeping `ns` nanoseconds would do when nothing else is ready to run and no
        timer is due before then, done at once: move the clock `ns` forward and return
        True.  Otherwise leave it and return False (the caller then sleeps, letting the
        rest run first).  Context: from a task or callback on this loop."""
        target = self._now_ns + ns
        if target > KTIME_MAX_NS:            # the caller's timer will say why
            return False
        # `not >`: a timer due by then, or a NaN deadline (due at once), keeps the loop busy
        if self._ready or (self._scheduled
                           and not self._scheduled[0].when() > target / NS_PER_S):
            return False
        self._set_clock(target)
        return True

    def jump_to_next_timer(self) -> bool:
        """The loop is idle: move the clock to the earliest pending deadline — the
        nanosecond nearest to it, or the next one when that one's `time()` still reads below
        it — where that timer is due.  Returns False when there is nothing to jump to: no
        timer, or only deadlines at +inf.  Called by the selector only."""
        if not self._scheduled:
            return False
        when = self._scheduled[0].when()
        if math.isnan(when):                 # due at once: NaN compares false with all
            return True
        if when == math.inf:
            return False
        target = to_ns(when)
        if target / NS_PER_S < when:
            target += 1
        if target > self._now_ns:
            self._set_clock(target)
        return True

    def _set_clock(self, ns: int) -> None:
        self.busy_passes = 0
        self._now_ns = ns
        self._now = ns / NS_PER_S            # int / int: correctly rounded at any size
        # asyncio takes a timer as due when `when < time() + _clock_resolution`: with the
        # gap to the next float (an exact sum), that is `when <= time()` at every value.
        self._clock_resolution = math.ulp(self._now)


#: Which loop runs real time: "uvloop", "asyncio", or unset for uvloop when it is installed.
LOOP_ENV: Final = "USBEMU_LOOP"


def real_time_loop_kind() -> str:
    """The loop a real-time machine gets: $USBEMU_LOOP ("uvloop" or "asyncio"), else
    "uvloop" when the package is installed (the `fast` extra), else "asyncio".  Raises
    ValueError for another value of the variable and ImportError when it asks for a
    uvloop that is not installed."""
    chosen = os.environ.get(LOOP_ENV, "")
    if chosen not in ("", "uvloop", "asyncio"):
        raise ValueError(f"{LOOP_ENV}={chosen!r}: use 'uvloop' or 'asyncio'")
    if chosen:
        if chosen == "uvloop":
            importlib.import_module("uvloop")
        return chosen
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


_ASYNCIO_DIR: Final = os.path.dirname(asyncio.__file__)


def _describe(task: asyncio.Task[Any]) -> str:
    """A task's name and where it is suspended — the innermost coroutine outside asyncio,
    following each one down to the one it awaits: "'name' (function at file:line)"."""
    where = None
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        if not frame.f_code.co_filename.startswith(_ASYNCIO_DIR):
            where = frame
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    if where is None:
        return repr(task.get_name())
    code = where.f_code
    return f"{task.get_name()!r} ({code.co_name} at {code.co_filename}:{where.f_lineno})"


def new_event_loop(virtual: bool) -> asyncio.AbstractEventLoop:
    """A loop on virtual time, or for real (monotonic) time uvloop's or asyncio's default
    loop, as `real_time_loop_kind` chooses.  Virtual time always has its own loop."""
    if virtual:
        return VirtualTimeLoop()
    if real_time_loop_kind() == "uvloop":
        loop: asyncio.AbstractEventLoop = importlib.import_module("uvloop").new_event_loop()
        return loop
    return asyncio.new_event_loop()
