"""Fixtures of the SCSI tests: a machine with a parent device for hosts, and the fake
low-level driver of scsikit.py (importable as `usbemu_tests_scsikit` once this file is
loaded)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from usbemu.system import System


def _load_kit() -> Any:
    name = "usbemu_tests_scsikit"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "scsikit.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


scsikit = _load_kit()


@pytest.fixture
def machine() -> Iterator[Any]:
    """A booted machine and the parent device hosts are added under."""
    with System() as system:
        yield scsikit.make_machine(system)
