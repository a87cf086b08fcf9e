"""Fixtures of the kernel tests: the loopback tty driver (tty_loopback.py, importable as
`usbemu_tests_tty_loopback` once this file is loaded) on a machine of its own."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from usbemu.system import System


def _load_loopback() -> Any:
    name = "usbemu_tests_tty_loopback"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).parent / "tty_loopback.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


tty_loopback = _load_loopback()


@pytest.fixture
def tty_machine() -> Iterator[System]:
    """A machine for the tty tests."""
    with System() as machine:
        yield machine


@pytest.fixture
def loopback(tty_machine: System) -> Any:
    """Two ttyLP lines of the loopback driver, registered without a parent
    (/sys/devices/virtual/tty/ttyLP0)."""
    lb = tty_loopback.Loopback(2)
    tty_machine.run(lb.register())
    return lb
