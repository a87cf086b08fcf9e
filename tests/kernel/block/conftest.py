"""Fixtures of the block-layer tests: a machine, and the parent device its RAM disks are
added under (blockkit.py, importable as `usbemu_tests_blockkit` once this file is
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
    name = "usbemu_tests_blockkit"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "blockkit.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


blockkit = _load_kit()


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


@pytest.fixture
def disks(system: System) -> Any:
    """Adds RAM disks under 0:0:0:0 (blockkit.Disks)."""
    return blockkit.make_disks(system)
