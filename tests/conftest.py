"""Fixtures shared by the test directories: the machine of the reference capture."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.system import System


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
