"""Wait queues (usbemu.kernel.wait): wait_event on virtual time, timed out and woken.
(poll_wait through the poll system call: test_syscalls.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from usbemu.kernel.wait import WaitQueueHead
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


def test_wait_event_times_out_and_wakes(system: System) -> None:
    wq = WaitQueueHead()
    state = {"ready": False}

    async def scenario() -> tuple[bool, bool]:
        timed_out = await wq.wait_event(lambda: state["ready"], timeout_ms=100)
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, lambda: (state.update(ready=True), wq.wake_up()))
        return timed_out, await wq.wait_event(lambda: state["ready"])

    assert system.run(scenario()) == (False, True)
