"""Built-in device models and the device-model registry.

Models are found by short name through a built-in table plus the `usbemu.devices` entry-point
group (python-can's interface table is the model): the table maps a name to "module:Class",
entry points extend it, and nothing is imported until a model is asked for.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Final

from ..device import DeviceModel

ENTRY_POINT_GROUP: Final = "usbemu.devices"

BUILTIN_MODELS: Final[dict[str, str]] = {
    "pendrive": "usbemu.emulated.models.pendrive:PenDrive",
    "zero": "usbemu.emulated.models.zero:GadgetZero",
    "serial": "usbemu.emulated.models.serial:SerialConverter",
    "serial2": "usbemu.emulated.models.serial:TwoPortSerialConverter",
    "serial8": "usbemu.emulated.models.serial:EightPortSerialConverter",
    "mouse": "usbemu.emulated.models.mouse:BootMouse",
    "hub": "usbemu.emulated.models.hub:Hub",
}


class ModelNotFound(LookupError):
    """No built-in or installed device model has that name."""


def available_models() -> dict[str, str]:
    """name → "module:Class" for built-in models and those of installed plugins."""
    found = dict(BUILTIN_MODELS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def load_model(name: str) -> type[DeviceModel]:
    """Import and return the model class registered as `name`.

    Raises ModelNotFound (listing the known names) or ImportError with its cause.
    """
    target = available_models().get(name)
    if target is None:
        known = ", ".join(sorted(available_models()))
        raise ModelNotFound(f"no device model named {name!r}; known models: {known}")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"device model {name!r} ({target}) failed to load: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, DeviceModel)):
        raise ImportError(f"device model {name!r} ({target}) is not a DeviceModel subclass")
    return cls
