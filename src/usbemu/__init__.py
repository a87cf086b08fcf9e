"""usbemu: the Linux USB subsystem rebuilt in Python, with emulated devices and bridges.

`import usbemu` gives the public API; every name below is loaded the first time it is used,
so importing the package (or any module in it) stays cheap:

- the machine: `System` (`usbemu.system`);
- device models: `DeviceModel` with its handler decorators `request`, `endpoint_in` and
  `endpoint_out`, `Endpoint`, `Outcome` and `Stall` (`usbemu.emulated`);
- descriptors, declared as data: `DeviceDescriptor`, `ConfigDescriptor`,
  `InterfaceDescriptor`, `EndpointDescriptor`, `InterfaceAssociation`, `DeviceQualifier`,
  `BosDescriptor`, and `SetupPacket`, `Speed` (`usbemu.spec`);
- drivers in the Pythonic API: `UsbDriver`, `UsbDeviceId`, `Urb`, `bulk_transfer`,
  `control_transfer` (`usbemu.core`; the kernel spellings live in `usbemu.linux`);
- the errors (`usbemu.errors`): `Errno`, `UsbError`, `UsbTimeout`, `UsbStall`, `UsbNoDevice`,
  `ProbeDeclined`, `ModuleError`, `IllegalStateTransition`, `PluginNotFound`,
  `PluginLoadError`, `DescriptorError`, `SettleTimeout`;
- the test kit's entry points (`usbemu.testing`): `virtual_machine`, `UrbRecorder`,
  `check_host_controller`.

The package's own modules never import the test kit or the command line (`usbemu.cli`);
this table only names the test kit's entry points for users.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

__version__ = "0.1.0"

#: name → module it lives in.
_EXPORTS: Final[dict[str, str]] = {
    "System": "usbemu.system",
    "DeviceModel": "usbemu.emulated.device",
    "request": "usbemu.emulated.device",
    "endpoint_in": "usbemu.emulated.device",
    "endpoint_out": "usbemu.emulated.device",
    "Endpoint": "usbemu.emulated.endpoint",
    "Outcome": "usbemu.emulated.endpoint",
    "Stall": "usbemu.emulated.endpoint",
    "DeviceDescriptor": "usbemu.spec.descriptors",
    "ConfigDescriptor": "usbemu.spec.descriptors",
    "InterfaceDescriptor": "usbemu.spec.descriptors",
    "EndpointDescriptor": "usbemu.spec.descriptors",
    "InterfaceAssociation": "usbemu.spec.descriptors",
    "DeviceQualifier": "usbemu.spec.descriptors",
    "BosDescriptor": "usbemu.spec.descriptors",
    "SetupPacket": "usbemu.spec.ch9",
    "Speed": "usbemu.spec.ch9",
    "UsbDriver": "usbemu.core.driver",
    "UsbDeviceId": "usbemu.core.devtable",
    "Urb": "usbemu.core.urb",
    "bulk_transfer": "usbemu.core.message",
    "control_transfer": "usbemu.core.message",
    "Errno": "usbemu.errors",
    "UsbError": "usbemu.errors",
    "UsbTimeout": "usbemu.errors",
    "UsbStall": "usbemu.errors",
    "UsbNoDevice": "usbemu.errors",
    "ProbeDeclined": "usbemu.errors",
    "ModuleError": "usbemu.errors",
    "IllegalStateTransition": "usbemu.errors",
    "PluginNotFound": "usbemu.errors",
    "PluginLoadError": "usbemu.errors",
    "DescriptorError": "usbemu.errors",
    "SettleTimeout": "usbemu.errors",
    "virtual_machine": "usbemu.testing",
    "UrbRecorder": "usbemu.testing",
    "check_host_controller": "usbemu.testing",
}

__all__ = [
    "BosDescriptor",
    "ConfigDescriptor",
    "DescriptorError",
    "DeviceDescriptor",
    "DeviceModel",
    "DeviceQualifier",
    "Endpoint",
    "EndpointDescriptor",
    "Errno",
    "IllegalStateTransition",
    "InterfaceAssociation",
    "InterfaceDescriptor",
    "ModuleError",
    "Outcome",
    "PluginLoadError",
    "PluginNotFound",
    "ProbeDeclined",
    "SettleTimeout",
    "SetupPacket",
    "Speed",
    "Stall",
    "System",
    "Urb",
    "UrbRecorder",
    "UsbDeviceId",
    "UsbDriver",
    "UsbError",
    "UsbNoDevice",
    "UsbStall",
    "UsbTimeout",
    "bulk_transfer",
    "check_host_controller",
    "control_transfer",
    "endpoint_in",
    "endpoint_out",
    "request",
    "virtual_machine",
]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'usbemu' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from .core.devtable import UsbDeviceId
    from .core.driver import UsbDriver
    from .core.message import bulk_transfer, control_transfer
    from .core.urb import Urb
    from .emulated.device import DeviceModel, endpoint_in, endpoint_out, request
    from .emulated.endpoint import Endpoint, Outcome, Stall
    from .errors import (
        DescriptorError,
        Errno,
        IllegalStateTransition,
        ModuleError,
        PluginLoadError,
        PluginNotFound,
        ProbeDeclined,
        SettleTimeout,
        UsbError,
        UsbNoDevice,
        UsbStall,
        UsbTimeout,
    )
    from .spec.ch9 import SetupPacket, Speed
    from .spec.descriptors import (
        BosDescriptor,
        ConfigDescriptor,
        DeviceDescriptor,
        DeviceQualifier,
        EndpointDescriptor,
        InterfaceAssociation,
        InterfaceDescriptor,
    )
    from .system import System
    from .testing import UrbRecorder, check_host_controller, virtual_machine
