"""Cloning a real device's identity: a model that answers a host with the bytes the
original sent — the device side of what drivers/usb/core (hub.c, config.c, message.c) and
the class drivers (usbhid, hub) read from a device.

A clone carries (`CloneData`) the sysfs `descriptors` dump (device descriptor and
configurations), the speed, the device qualifier, the other-speed configurations, the BOS
descriptor, the LANGID table and every string in every language, the HID report
descriptor of each interface and a hub's hub descriptor.  It comes from a clone file (TOML,
`file`), a descriptors dump, a device's sysfs directory (`sysfs`), the device itself
through a control-transfer callable (`reader`; pyusb in `usbemu.bridges.pyusb_clone`) or
any model (`dump_clone`).  The model (`model`) is a `ClonedDevice`, or a working
`ClonedHub` for a hub.  A clone has the descriptors and chapter 9 behaviour of the
original, not its function: its data endpoints queue what the host writes and NAK reads
until something is queued.

    stick = load_clone("mystick.toml")       # a clone file, hex text or binary dump
    text = dump_clone(Hub())                 # the clone file of any model
"""

from __future__ import annotations

from pathlib import Path

from ...spec.ch9 import Speed
from ..device import DeviceModel
from .data import (
    MAX_CLONE_SOURCE_SIZE,
    MAX_DESCRIPTORS_SIZE,
    SPEED_NAMES,
    SYSFS_SPEEDS,
    CloneData,
    CloneError,
)
from .file import clone_data_from_toml, format_clone, load_clone_data, parse_hex, read_limited
from .model import ClonedDevice, ClonedHub, ParsedClone, clone_model, parse_clone
from .reader import (
    ControlTransfer,
    clone_data_of_model,
    model_control,
    on_bench,
    read_device,
)
from .sysfs import clone_data_from_sysfs

__all__ = [
    "MAX_CLONE_SOURCE_SIZE", "MAX_DESCRIPTORS_SIZE", "SPEED_NAMES", "SYSFS_SPEEDS",
    "CloneData", "CloneError", "ClonedDevice", "ClonedHub", "ControlTransfer", "ParsedClone",
    "clone_data_from_sysfs", "clone_data_from_toml", "clone_data_of", "clone_from_control",
    "clone_from_sysfs", "clone_from_toml", "clone_model", "dump_clone", "format_clone",
    "load_clone", "load_clone_data", "model_control", "on_bench", "parse_clone",
    "parse_hex", "read_device", "read_limited",
]


def clone_from_toml(text: str, source: str = "<clone>") -> ClonedDevice | ClonedHub:
    """The model of a clone file's text (`clone_model`).  Raises CloneError naming
    `source` and the field at fault."""
    return clone_model(clone_data_from_toml(text, source), source)


def load_clone(path: str | Path) -> ClonedDevice | ClonedHub:
    """The model of a TOML clone file, a hex text dump or a raw binary `descriptors` file
    copied from sysfs, reading at most MAX_CLONE_SOURCE_SIZE bytes.  Raises CloneError
    naming the file and what is wrong with it, or OSError when it cannot be read."""
    return clone_model(load_clone_data(path), str(path))


def clone_from_sysfs(directory: str | Path) -> ClonedDevice | ClonedHub:
    """The model of the device whose sysfs directory is given (e.g.
    /sys/bus/usb/devices/1-1): what `clone_data_from_sysfs` reads.  Raises CloneError or
    OSError."""
    return clone_model(clone_data_from_sysfs(directory), str(directory))


def clone_from_control(control: ControlTransfer, speed: Speed,
                       source: str = "<device>") -> ClonedDevice | ClonedHub:
    """The model of the device behind a control-transfer callable, running at `speed`,
    read as a host reads it (`read_device`).  Context: as `control`.  Raises CloneError
    naming `source`, and what `control` raises for a failure other than a STALL."""
    try:
        data = read_device(control, speed)
    except CloneError as exc:
        raise CloneError(f"{source}: {exc}") from None
    return clone_model(data, source)


def clone_data_of(model: DeviceModel) -> CloneData:
    """Everything a clone of `model` carries: a clone's own data, else what
    `clone_data_of_model` reads from the model on a bench.  Raises ValueError for a model
    that is plugged in (a clone's data aside)."""
    if isinstance(model, ClonedDevice | ClonedHub):
        return model.clone
    return clone_data_of_model(model)


def dump_clone(model: DeviceModel) -> str:
    """The clone file text for any model (`clone_data_of`, `format_clone`).  Raises
    ValueError for a model that is plugged in (a clone aside)."""
    return format_clone(clone_data_of(model))
