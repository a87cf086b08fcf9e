"""Fixtures of the device-side tests: the HID models' fake clock (hid_helpers.py, importable
as `usbemu_tests_hid_helpers`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_helpers() -> object:
    name = "usbemu_tests_hid_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).parent / "hid_helpers.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


helpers = _load_helpers()


@pytest.fixture
def clock() -> object:
    """A fresh FakeClock reading 0 s."""
    return helpers.FakeClock()  # type: ignore[attr-defined]
