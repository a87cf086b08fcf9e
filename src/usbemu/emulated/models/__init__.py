"""Built-in device models and the device-model registry.

Models are found by short name through a built-in table plus the `usbemu.devices` entry-point
group (`usbemu.plugins`): the table maps a name to "module:Class", entry points extend it,
and nothing is imported until a model is asked for.
"""

from __future__ import annotations

from typing import Final

from ...plugins import PluginRegistry
from ..device import DeviceModel

__all__ = ["BUILTIN_MODELS", "DEVICE_MODELS", "ENTRY_POINT_GROUP", "available_models",
           "load_model"]

ENTRY_POINT_GROUP: Final = "usbemu.devices"

BUILTIN_MODELS: Final[dict[str, str]] = {
    "pendrive": "usbemu.emulated.models.pendrive:PenDrive",
    "zero": "usbemu.emulated.models.zero:GadgetZero",
    "serial": "usbemu.emulated.models.serial:SerialConverter",
    "serial2": "usbemu.emulated.models.serial:TwoPortSerialConverter",
    "serial8": "usbemu.emulated.models.serial:EightPortSerialConverter",
    "mouse": "usbemu.emulated.models.mouse:BootMouse",
    "keyboard": "usbemu.emulated.models.keyboard:BootKeyboard",
    "tablet": "usbemu.emulated.models.tablet:Tablet",
    "hub": "usbemu.emulated.models.hub:Hub",
    "ftdi": "usbemu.emulated.models.ftdi:FT232R",
    "ft2232h": "usbemu.emulated.models.ftdi:FT2232H",
    "acm": "usbemu.emulated.models.cdc_acm:CdcAcm",
    "storage": "usbemu.emulated.models.storage:MassStorage",
}

#: The device-model registry: built-in models and those of installed plugins.
DEVICE_MODELS: Final = PluginRegistry("device model", ENTRY_POINT_GROUP, BUILTIN_MODELS,
                                      base=DeviceModel)


def available_models() -> dict[str, str]:
    """name → "module:Class" for built-in models and those of installed plugins."""
    return {name: plugin.target for name, plugin in DEVICE_MODELS.available().items()}


def load_model(name: str) -> type[DeviceModel]:
    """Import and return the model class registered as `name`.  Raises PluginNotFound
    (listing the known names) or PluginLoadError with its cause."""
    cls: type[DeviceModel] = DEVICE_MODELS.load(name)
    return cls
