"""Fixtures shared by the test directories: the machine of the reference capture, and a
wall-clock bound for tests whose failure would be a hang; hypothesis' profiles.

Property tests are repeatable by default (`make test`: derandomized, no deadline, so CI
gives the same answer every run); `USBEMU_HYPOTHESIS=fuzz` (`make fuzz`) draws new
examples each run and `USBEMU_FUZZ_EXAMPLES` sets how many the fuzz tests try."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from usbemu.system import System

settings.register_profile("repeatable", derandomize=True, deadline=None)
settings.register_profile("fuzz", deadline=None)
settings.load_profile(os.environ.get("USBEMU_HYPOTHESIS", "repeatable"))


def _load_capture_module() -> object:
    name = "usbemu_tests_capture_machine"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).parent / "core" / "capture_machine.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


capture_module = _load_capture_module()


@pytest.fixture
def capture() -> Iterator[System]:
    """The machine of the reference capture (see capture_machine.py)."""
    system: System = capture_module.capture_machine()  # type: ignore[attr-defined]
    try:
        yield system
    finally:
        system.close()


#: Wall-clock seconds a test may run before it fails (`hang_guard`).
HANG_GUARD_S = 30.0


class Hung(SystemExit):
    """Raised by `hang_guard` in a test still running after HANG_GUARD_S seconds.  A
    SystemExit, because asyncio hands any Exception raised in a callback or a task to its
    exception handler: only SystemExit and KeyboardInterrupt get out of a spinning loop, and
    pytest reports a SystemExit as the test's failure (KeyboardInterrupt ends the session)."""


@pytest.fixture(autouse=True)
def hang_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail instead of hanging: SIGALRM raises `Hung` in the main thread after HANG_GUARD_S
    seconds of wall-clock time, then every second until the test and the fixtures set up
    after this one are torn down (a machine whose clock is stuck also hangs in close()).
    Every test has it (autouse); a test that names it (`@pytest.mark.usefixtures(
    "hang_guard")`) has it set up before its other fixtures.
    `@pytest.mark.hang_guard_s(SECONDS)` sets another bound."""
    marker = request.node.get_closest_marker("hang_guard_s")
    bound = float(marker.args[0]) if marker is not None else HANG_GUARD_S

    def expired(signum: int, frame: object) -> None:
        raise Hung(f"still running after {bound:g} s of wall-clock time: the "
                   "machine's clock is stuck")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, bound, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: The controller kinds the driver tests run on: the fast in-process default and the
#: EHCI model that schedules on virtual time.
DRIVER_HCD_KINDS = ("inproc", "ehci")


@pytest.fixture(params=DRIVER_HCD_KINDS)
def hcd_kind(request: pytest.FixtureRequest) -> str:
    """A host controller kind: tests that take it run once on each of DRIVER_HCD_KINDS."""
    kind: str = request.param
    return kind
