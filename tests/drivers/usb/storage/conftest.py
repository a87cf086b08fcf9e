"""Fixtures of the usb-storage tests: a machine per host-controller kind (usb-storage and
uas are installed modules, udev autoloads them), and the helpers of storage_helpers.py
(importable as `usbemu_tests_storage_helpers`)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from usbemu.emulated.models.storage import MassStorage
from usbemu.system import System


def _load_helpers() -> Any:
    name = "usbemu_tests_storage_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).parent / "storage_helpers.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


helpers = _load_helpers()


@pytest.fixture
def system(hcd_kind: str) -> Iterator[System]:
    with System() as machine:
        machine.add_controller(hcd_kind)
        yield machine


@pytest.fixture
def stor(system: System) -> Any:
    return helpers.Harness(system)


@pytest.fixture
def disk(stor: Any) -> MassStorage:
    """A 1 MiB MassStorage plugged in at 1-1 and scanned."""
    model: MassStorage = stor.plug(MassStorage(size=1 << 20))
    return model
