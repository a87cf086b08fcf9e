"""Fixtures of the HID tests: the fakes of hid_fakes.py (importable as
`usbemu_tests_hid_fakes` once this file is loaded) and machines with the hid module."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from usbemu.system import System


def _load_fakes() -> Any:
    name = "usbemu_tests_hid_fakes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "hid_fakes.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


hid_fakes = _load_fakes()


@pytest.fixture
def hid_machine() -> Iterator[System]:
    """A machine with the hid module loaded and udev's autoload off (no driver binds a
    hid device unless a test loads one)."""
    with System() as machine:
        machine.modules.autoload = False
        machine.modprobe("hid")
        yield machine


@pytest.fixture
def generic_machine(hid_machine: System) -> System:
    """`hid_machine` with hid_generic loaded."""
    hid_machine.modprobe("hid_generic")
    return hid_machine
