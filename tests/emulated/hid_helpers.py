"""Shared by the HID model tests (imported through tests/emulated/conftest.py): a clock that
moves only when a test says so, and a helper that plugs a model into a recording host with
that clock and enumerates it, as a host would."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from usbemu.emulated.device import DeviceModel
from usbemu.emulated.endpoint import Outcome
from usbemu.spec.ch9 import Request, SetupPacket
from usbemu.testing import RecordingHost, control_out, pull


class Timer:
    """A callback of `FakeClock`; `cancel()` keeps it from running."""

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A `ModelClock` whose time moves only through `advance` / `advance_to`, which run the
    callbacks that come due in time order, each with the clock reading its time."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        timer = Timer(when, callback)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        return timer

    @property
    def pending(self) -> list[float]:
        """Deadlines of the callbacks not cancelled, earliest first."""
        return sorted(when for when, _, timer in self._heap if not timer.cancelled)

    def advance(self, ms: float) -> None:
        self.advance_to(self.now + ms / 1000)

    def advance_to(self, when: float) -> None:
        while self._heap and self._heap[0][0] <= when:
            due, _, timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                self.now = max(self.now, due)
                timer.callback()
        self.now = max(self.now, when)


def plug(model: DeviceModel, clock: FakeClock | None = None,
         host: RecordingHost | None = None) -> DeviceModel:
    """Connect `model` to a recording host with `clock`, reset it, give it address 2 and
    select configuration 1.  Returns the model."""
    model.connect(None, host if host is not None else RecordingHost(), clock)
    model.bus_reset()
    assert control_out(model, SetupPacket(0x00, Request.SET_ADDRESS, 2)) is Outcome.DONE
    assert control_out(model, SetupPacket(0x00, Request.SET_CONFIGURATION, 1)) is Outcome.DONE
    return model


def poll(model: DeviceModel, room: int | None = None) -> bytes | None:
    """One interrupt IN transfer on 0x81 into a buffer of `room` bytes (wMaxPacketSize, as
    usbmouse and usbkbd size theirs): the report, or None for a NAK."""
    ep = model.endpoint(0x81)
    assert ep is not None
    outcome, data = pull(ep, ep.maxpacket if room is None else room)
    if outcome is Outcome.NAK:
        assert data == b""
        return None
    assert outcome is Outcome.DONE, outcome
    return data


def poll_every(model: DeviceModel, clock: FakeClock, ms: float, count: int,
               room: int | None = None) -> list[tuple[float, bytes]]:
    """Poll every `ms` milliseconds of `clock`, `count` times, starting now: (time in ms,
    report) for each poll that got one."""
    got = []
    for n in range(count):
        if n:
            clock.advance(ms)
        report = poll(model, room)
        if report is not None:
            got.append((round(clock.now * 1000, 6), report))
    return got
