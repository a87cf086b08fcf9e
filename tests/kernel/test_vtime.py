"""Virtual time (usbemu.kernel.vtime): an integer clock that stays exact at any value,
timers that fire at their deadline however far the clock has run, jumps that take one step
however long the wait, the limit on a user's sleep, the end of the clock (KTIME_MAX) and
the stall detector that stops a loop that never lets time pass.

A regression here is a hang (a loop that spins without its clock moving), so every test
runs under `hang_guard`: it fails after a bounded wall-clock time instead.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usbemu.kernel.vtime import (
    BUSY_POLL,
    KTIME_MAX_NS,
    KTIME_MAX_S,
    MAX_SLEEP_MS,
    NS_PER_S,
    VirtualTimeLoop,
    VirtualTimeStall,
    sleep_duration_ns,
    sleep_ns,
    to_ns,
)

pytestmark = pytest.mark.usefixtures("hang_guard")

MAX_SLEEP_NS = MAX_SLEEP_MS * 1_000_000
#: Below this clock value (2**23 s, 97 days) a float deadline is placed to the nanosecond.
FINE_NS = 2**23 * NS_PER_S


def run(loop: VirtualTimeLoop, main: Callable[[], object]) -> None:
    """Run the coroutine function `main` on `loop`, then close the loop."""
    try:
        loop.run_until_complete(main())  # type: ignore[arg-type]
    finally:
        loop.close()


def loop_at(ns: int) -> VirtualTimeLoop:
    """A loop whose clock reads exactly `ns` nanoseconds (ns < 2**53 s)."""
    loop = VirtualTimeLoop(float(ns // NS_PER_S))
    loop.advance(ns % NS_PER_S / NS_PER_S)
    assert loop.time_ns() == ns
    return loop


# -- timers fire at their deadline at any clock value ----------------------------------------


@pytest.mark.parametrize("clock", [0.0, 1e7, 2.0**24, 1e8, 1e9, 2.0**33, 9.2e9])
def test_timers_fire_at_their_deadline_at_any_clock_value(clock: float) -> None:
    """The clock gets there in one jump (not in asyncio's one-day steps), then a timer due
    now, one a quarter second later and one a millisecond later each fire exactly at their
    deadline: at 2**24 s and beyond, `time() + 1e-9` no longer changes the float, and a
    standard resolution would leave the first one pending forever.  9.2e9 s is just before
    the end of the clock."""
    loop = VirtualTimeLoop()
    fired: dict[str, tuple[float, int]] = {}
    handles: dict[str, asyncio.TimerHandle] = {}

    def record(name: str) -> None:
        fired[name] = (loop.time(), loop.time_ns())

    async def main() -> None:
        await asyncio.sleep(clock)
        assert (loop.time(), loop.time_ns()) == (clock, int(clock) * NS_PER_S)
        handles["now"] = loop.call_at(loop.time(), record, "now")
        handles["quarter"] = loop.call_later(0.25, record, "quarter")
        handles["ms"] = loop.call_later(0.001, record, "ms")
        await asyncio.sleep(0.5)

    run(loop, main)
    clock_ns = int(clock) * NS_PER_S
    assert fired["now"] == (clock, clock_ns)
    assert fired["quarter"] == (clock + 0.25, clock_ns + 250_000_000)
    # a millisecond is rounded to the float grid of the clock (1.9 us at 9.2e9 s); the
    # timer fires at the nanosecond of that deadline, reading it
    assert fired["ms"][1] == to_ns(handles["ms"].when())
    assert fired["ms"][0] == handles["ms"].when()


@pytest.mark.parametrize("clock", [1e8, 9e9])
def test_a_periodic_timer_keeps_ticking_after_years_of_machine_time(clock: float) -> None:
    """A 1 ms poll (a USB frame) 1000 times over, once the clock is far past 1e8 s."""
    loop = VirtualTimeLoop(clock)
    ticks: list[float] = []
    done = loop.create_future()

    def tick() -> None:
        ticks.append(loop.time())
        if len(ticks) == 1000:
            done.set_result(None)
        else:
            loop.call_later(0.001, tick)

    async def main() -> None:
        loop.call_later(0.001, tick)
        await done

    run(loop, main)
    assert all(a < b for a, b in itertools.pairwise(ticks))
    assert 0.9 < ticks[-1] - clock < 1.1


def test_deadlines_one_float_apart_fire_in_order_at_2_33_s() -> None:
    """At 2**33 s (272 years) one float spans 2**-19 s (1.9 us): deadlines one float apart
    are distinct instants, each reached at the nanosecond nearest to it."""
    base = 2.0**33
    loop = VirtualTimeLoop(base)
    fired: list[tuple[float, int]] = []

    async def main() -> None:
        for step in (3, 1, 2):
            loop.call_at(base + step * 2.0**-19, lambda: fired.append(
                (loop.time(), loop.time_ns())))
        await asyncio.sleep(1)

    run(loop, main)
    assert fired == [(base + k * 2.0**-19, 2**33 * NS_PER_S + round(k * 2**-19 * NS_PER_S))
                     for k in (1, 2, 3)]


def test_a_timer_never_fires_before_its_deadline() -> None:
    """Deadlines a fraction of a nanosecond apart (2**-32 s ~ 0.23 ns) after 1 s: each
    fires at the first nanosecond at which the clock reads it — not before, as asyncio's
    1 ns slack would have it."""
    loop = VirtualTimeLoop(1.0)
    fired: dict[int, int] = {}

    def record(k: int) -> None:
        fired[k] = loop.time_ns()

    async def main() -> None:
        for k in range(9):
            loop.call_at(1.0 + k * 2**-32, record, k)
        await asyncio.sleep(0.01)

    run(loop, main)
    assert [fired[k] - NS_PER_S for k in range(9)] == [0, 1, 1, 1, 1, 2, 2, 2, 2]


@settings(max_examples=200, deadline=None)
@given(clock_ns=st.integers(0, KTIME_MAX_NS - 10_000), offset=st.integers(-4, 4),
       unit=st.sampled_from(["ulp", "ns", "half-ns"]))
def test_a_timer_is_due_exactly_when_the_clock_reads_its_deadline(clock_ns: int, offset: int,
                                                                  unit: str) -> None:
    """For any clock value and a deadline near it: the timer is taken at once exactly when
    time() reads the deadline or later; otherwise the idle loop jumps to the nanosecond
    nearest the deadline (the next one if that one reads below it) and fires it there, so
    that time() >= when whenever a timer runs."""
    loop = loop_at(clock_ns)
    now = loop.time()
    if unit == "ulp":
        when = now
        for _ in range(abs(offset)):
            when = math.nextafter(when, math.copysign(math.inf, offset))
    elif unit == "ns":
        when = (clock_ns + offset) / NS_PER_S
    else:
        when = (2 * clock_ns + 2 * offset + 1) / (2 * NS_PER_S)
    due_now = when <= now
    landing = to_ns(when)
    if landing / NS_PER_S < when:
        landing += 1
    fired: list[tuple[float, int]] = []

    async def main() -> None:
        done: asyncio.Future[None] = loop.create_future()

        def record() -> None:
            fired.append((loop.time(), loop.time_ns()))
            done.set_result(None)

        loop.call_at(when, record)
        await asyncio.sleep(0)          # the next pass takes what is due, after this task
        await asyncio.sleep(0)
        assert [ns for _, ns in fired] == ([clock_ns] if due_now else [])
        await done                      # idle: the clock jumps

    run(loop, main)
    assert [ns for _, ns in fired] == [clock_ns if due_now else landing]
    assert fired[0][0] >= when


def test_a_deadline_at_infinity_never_fires_and_the_loop_waits_for_io() -> None:
    """With only a +inf timer the loop waits for real I/O (here another thread's
    call_soon_threadsafe) and leaves the clock alone; it does not count days forever."""
    loop = VirtualTimeLoop()
    fired: list[bool] = []
    loop.call_later(math.inf, fired.append, True)
    waker = threading.Timer(0.05, loop.call_soon_threadsafe, (loop.stop,))
    waker.start()
    try:
        loop.run_forever()
    finally:
        waker.join()
        loop.close()
    assert fired == [] and loop.time_ns() == 0


def test_the_clock_only_moves_forward_by_finite_steps() -> None:
    for start in (-1.0, math.nan, math.inf, 1e12):
        with pytest.raises(ValueError, match="starts at 0 s or later"):
            VirtualTimeLoop(start)
    loop = VirtualTimeLoop()
    try:
        for step in (-1e-9, math.nan, math.inf):
            with pytest.raises(ValueError, match="finite duration"):
                loop.advance(step)
        loop.advance(0.1)
        loop.advance(0)
        assert (loop.time(), loop.time_ns()) == (0.1, 100_000_000)
    finally:
        loop.close()


# -- sleeps: exact, and bounded -----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_sleep_ns_lasts_exactly_its_nanoseconds_below_97_days(data: st.DataObject) -> None:
    """From any clock below 2**23 s, a sleep of up to the limit that ends below it too
    leaves the clock exactly that many nanoseconds later (asyncio.sleep would add floats)."""
    length = data.draw(st.integers(0, MAX_SLEEP_NS), label="sleep")
    start = data.draw(st.integers(0, FINE_NS - 1 - length), label="clock")
    loop = loop_at(start)
    run(loop, lambda: sleep_ns(length))
    assert loop.time_ns() == start + length


def test_sleeps_up_to_the_limit_from_an_odd_clock_are_exact() -> None:
    """From 1.5 days and some nanoseconds to 91.5 days, where `time() + seconds` in floats
    would end the third sleep one nanosecond short."""
    start = 132_762_829_599_804
    loop = loop_at(start)

    async def main() -> None:
        for _ in range(2):
            await sleep_ns(sleep_duration_ns(MAX_SLEEP_MS))
        await sleep_ns(sleep_duration_ns(MAX_SLEEP_MS - 0.001))

    run(loop, main)
    assert loop.time_ns() == start + 3 * MAX_SLEEP_NS - 1_000


@pytest.mark.parametrize(("ms", "ns"), [
    (0, 0), (0.000001, 1), (250.5, 250_500_000), (MAX_SLEEP_MS - 0.001, MAX_SLEEP_NS - 1_000),
    (MAX_SLEEP_MS, 2_592_000_000_000_000)])
def test_a_sleep_up_to_30_days_is_accepted(ms: float, ns: int) -> None:
    assert MAX_SLEEP_MS == 30 * 24 * 3600 * 1000
    assert sleep_duration_ns(ms) == ns


@pytest.mark.parametrize("ms", [math.nan, math.inf, -math.inf, -1, -1e-9,
                                MAX_SLEEP_MS + 0.001, 1e11, 1e300, 10**400])
def test_an_absurd_sleep_is_refused_naming_the_limit(ms: float) -> None:
    with pytest.raises(ValueError, match=r"a sleep is 0 to 2592000000 ms \(30 days\) of "
                                         r"machine time"):
        sleep_duration_ns(ms)


# -- the end of the clock: KTIME_MAX ----------------------------------------------------------


def test_the_clock_ends_at_ktime_max() -> None:
    assert KTIME_MAX_NS == 2**63 - 1
    assert to_ns(KTIME_MAX_S) <= KTIME_MAX_NS < to_ns(math.nextafter(KTIME_MAX_S, math.inf))


@pytest.mark.parametrize("delay", [KTIME_MAX_S + 1, 1e15, 1e300, math.nextafter(math.inf, 0)])
def test_a_timer_past_the_end_of_the_clock_is_refused_naming_the_limit(delay: float) -> None:
    loop = VirtualTimeLoop()
    message = r"past the end of the virtual clock, KTIME_MAX = 9223372036854775807 ns"

    async def main() -> None:
        with pytest.raises(ValueError, match=message):
            loop.call_later(delay, print)
        with pytest.raises(ValueError, match=message):
            await asyncio.sleep(delay)
        with pytest.raises(ValueError, match=message):
            await asyncio.wait_for(loop.create_future(), delay)
        assert not loop._scheduled

    run(loop, main)


def test_a_timer_at_the_end_of_the_clock_fires_there_and_advance_stops_at_it() -> None:
    loop = VirtualTimeLoop(KTIME_MAX_S - 1)
    fired: list[int] = []

    async def main() -> None:
        loop.call_at(KTIME_MAX_S, lambda: fired.append(loop.time_ns()))
        await asyncio.sleep(1)

    try:
        loop.run_until_complete(main())
        with pytest.raises(ValueError, match="past KTIME_MAX"):
            loop.advance(1)
    finally:
        loop.close()
    assert fired and fired[0] <= KTIME_MAX_NS


def test_forever_is_infinity_and_is_allowed() -> None:
    """+inf is MAX_SCHEDULE_TIMEOUT: accepted, never fires (as before)."""
    loop = VirtualTimeLoop()
    try:
        handle = loop.call_later(math.inf, print)
        assert handle.when() == math.inf
        handle.cancel()
    finally:
        loop.close()


# -- loops that never let time pass -------------------------------------------------------------


def test_a_task_that_spins_without_letting_time_pass_is_stopped_naming_it() -> None:
    """`while not done: await asyncio.sleep(0)` waiting for a timer would stop the clock
    forever: the loop gives up after its budget of busy passes, cancels the task and
    raises VirtualTimeStall naming it and where it spins."""
    loop = VirtualTimeLoop(stall_passes=10_000)
    done: list[bool] = []

    async def spin_until_done() -> None:
        loop.call_later(0.001, done.append, True)
        while not done:
            await asyncio.sleep(0)

    task = loop.create_task(spin_until_done(), name="spinner")
    try:
        with pytest.raises(VirtualTimeStall, match=r"stalled at 0\.000000000 s: 10001 passes.*"
                           r"'spinner' \(spin_until_done at .*test_vtime\.py:\d+\)") as info:
            loop.run_until_complete(task)
        assert info.value.tasks == ("spinner",) and info.value.passes == 10_001
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        assert task.cancelled()
    finally:
        loop.close()


def test_two_tasks_waking_each_other_forever_are_both_named() -> None:
    loop = VirtualTimeLoop(stall_passes=5_000)

    async def ping(mine: asyncio.Queue[int], other: asyncio.Queue[int]) -> None:
        while True:
            other.put_nowait(await mine.get())

    async def main() -> None:
        a: asyncio.Queue[int] = asyncio.Queue()
        b: asyncio.Queue[int] = asyncio.Queue()
        loop.call_later(1, print)                      # something waits for the clock
        tasks = [loop.create_task(ping(a, b), name="ping"),
                 loop.create_task(ping(b, a), name="pong")]
        a.put_nowait(1)
        await asyncio.gather(*tasks)

    try:
        with pytest.raises(VirtualTimeStall) as info:
            loop.run_until_complete(main())
        assert set(info.value.tasks) <= {"ping", "pong"} and info.value.tasks
    finally:
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.close()


def test_busy_work_that_lets_the_clock_move_is_not_a_stall() -> None:
    """Far more busy passes than the budget in all, but the clock moves in between (a
    1 us sleep every 100 passes), and a long computation with no timer waiting: neither
    is a stall."""
    loop = VirtualTimeLoop(stall_passes=1_000)

    async def main() -> None:
        for n in range(50_000):
            await asyncio.sleep(0)
            if n % 100 == 0:
                await asyncio.sleep(1e-6)
        loop.call_later(math.inf, print)               # a timer that is no deadline
        for _ in range(5_000):
            await asyncio.sleep(0)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def test_while_work_is_ready_real_io_is_polled_every_busy_poll_passes() -> None:
    """A task that keeps the loop busy still sees a socket become readable, within
    BUSY_POLL passes, though the loop asks the kernel only on every BUSY_POLL-th pass."""
    loop = VirtualTimeLoop()
    left, right = socket.socketpair()
    polls = 0
    real = loop._selector._real                     # type: ignore[attr-defined]
    real_select = real.select

    def counting(timeout: float | None = None) -> list[Any]:
        nonlocal polls
        polls += 1
        return real_select(timeout)
    real.select = counting
    seen: list[int] = []
    passes = 0

    async def spin() -> None:
        nonlocal passes
        for passes in range(1, 101):
            if passes == 10:
                right.send(b"x")
            await asyncio.sleep(0)

    loop.add_reader(left.fileno(), lambda: seen.append(passes) if not seen else None)
    try:
        loop.run_until_complete(spin())
    finally:
        loop.remove_reader(left.fileno())
        left.close()
        right.close()
        loop.close()
    assert seen and 10 <= seen[0] <= 10 + BUSY_POLL
    assert polls <= 100 // BUSY_POLL + 2
