"""Cloning from a device's sysfs directory — what drivers/usb/core/sysfs.c (`descriptors`,
`speed`, the string attributes, `maxchild`, `bConfigurationValue`, an interface's
`interface`) and drivers/hid/hid-core.c (`report_descriptor` of each HID device) show of a
device, read back into a `CloneData`.

sysfs shows the device descriptor and configurations as Linux read them, the speed, the
manufacturer, product and serial strings, the active configuration's and interfaces'
strings, and the report descriptor of every bound HID interface
(/sys/bus/usb/devices/1-1/1-1:1.0/0003:VVVV:PPPP.NNNN/report_descriptor).  It does not
show the device qualifier, the other-speed configurations, the BOS descriptor, the LANGID
table, strings nobody asked for, strings in other languages, or a hub's hub descriptor: a
clone from sysfs has the LANGID table [0x0409] and, for a hub, the hub model's descriptor
with the port count of `maxchild`.  Every attribute is read up to a page, the
`descriptors` file up to the largest a device can have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from ...spec.ch9 import LANGID_EN_US, ClassCode, Speed
from ...spec.config import parse_descriptors_file
from ...spec.descriptors import ConfigDescriptor, DescriptorError
from ..models.hub import default_hub_descriptor
from .data import MAX_DESCRIPTORS_SIZE, SYSFS_SPEEDS, CloneData, CloneError
from .file import DUMP_LIMIT, read_limited

__all__ = ["clone_data_from_sysfs"]

#: A sysfs attribute shows at most a page.
_MAX_ATTRIBUTE_SIZE: Final = 4096
#: HID_MAX_DESCRIPTOR_SIZE: the largest report descriptor hid-core keeps.
_MAX_REPORT_DESCRIPTOR: Final = 4096
_DEVICE_STRINGS: Final = ((14, "manufacturer"), (15, "product"), (16, "serial"))


def _attribute(path: Path) -> str | None:
    """A sysfs attribute's text (at most a page) without its newline, None when the file
    is not there."""
    try:
        data = read_limited(path, _MAX_ATTRIBUTE_SIZE, "a sysfs attribute shows at most a page")
    except FileNotFoundError:
        return None
    return data.decode("utf-8", errors="replace").rstrip("\n")


def _number(path: Path, base: int = 10) -> int | None:
    text = _attribute(path)
    try:
        return None if text is None else int(text.strip(), base)
    except ValueError:
        return None


def _interface_dirs(base: Path) -> list[Path]:
    """The device's interface directories (1-1:1.0, …) of the active configuration."""
    return sorted(p for p in base.glob(f"{base.name}:*") if p.is_dir())


def _report_descriptor(interface: Path) -> bytes | None:
    for hid in sorted(interface.glob("[0-9A-F][0-9A-F][0-9A-F][0-9A-F]:*")):
        path = hid / "report_descriptor"
        if path.is_file():
            return read_limited(path, _MAX_REPORT_DESCRIPTOR, "a report descriptor is at "
                                "most 4096 bytes (HID_MAX_DESCRIPTOR_SIZE)")
    return None


def _interface_strings(interfaces: list[Path], config: ConfigDescriptor | None,
                       strings: dict[int, str]) -> None:
    """The `interface` attribute of each interface: the string of its current altsetting."""
    for directory in interfaces:
        number = _number(directory / "bInterfaceNumber", 16)
        alt_number = _number(directory / "bAlternateSetting") or 0
        text = _attribute(directory / "interface")
        alt = next((a for n, a in (config.numbered_interfaces() if config else ())
                    if n == number and a.bAlternateSetting == alt_number), None)
        if alt is not None and isinstance(alt.iInterface, int) and alt.iInterface and text:
            strings[alt.iInterface] = text


def _reports(interfaces: list[Path]) -> dict[int, bytes]:
    reports = {}
    for directory in interfaces:
        number = _number(directory / "bInterfaceNumber", 16)
        report = _report_descriptor(directory)
        if number is not None and report is not None:
            reports[number] = report
    return reports


def clone_data_from_sysfs(directory: str | Path) -> CloneData:
    """What the sysfs directory of a device (e.g. /sys/bus/usb/devices/1-1) shows of it.
    Raises CloneError (no `descriptors` file: not a device's directory; a dump that cannot
    be parsed; a hub whose `maxchild` is not a port count) or OSError."""
    base = Path(directory)
    try:
        dump = read_limited(base / "descriptors", MAX_DESCRIPTORS_SIZE, DUMP_LIMIT)
    except FileNotFoundError:
        raise CloneError(f"{base}: no descriptors file, so not a USB device's sysfs "
                         "directory (like /sys/bus/usb/devices/1-1)") from None
    speed_text = _attribute(base / "speed")
    speed = SYSFS_SPEEDS.get((speed_text or "").strip(), Speed.HIGH)
    if len(dump) < 18:
        raise CloneError(f"{base}/descriptors: {len(dump)} bytes, a device descriptor is 18")
    try:
        device, _ = parse_descriptors_file(dump, speed)
    except DescriptorError as exc:
        raise CloneError(f"{base}: {exc}") from None
    strings: dict[int, str] = {}
    for offset, name in _DEVICE_STRINGS:
        text = _attribute(base / name) if dump[offset] else None
        if text is not None:
            strings[dump[offset]] = text
    active = _number(base / "bConfigurationValue")
    config = next((c for c in device.configurations if c.bConfigurationValue == active), None)
    configuration = _attribute(base / "configuration")
    if config is not None and isinstance(config.iConfiguration, int) and configuration:
        strings[config.iConfiguration] = configuration
    interfaces = _interface_dirs(base)
    _interface_strings(interfaces, config, strings)
    return CloneData(dump, speed, (LANGID_EN_US,), {LANGID_EN_US: strings},
                     report_descriptors=_reports(interfaces),
                     hub_descriptor=_hub_descriptor(base, dump, speed))


def _hub_descriptor(base: Path, dump: bytes, speed: Speed) -> bytes | None:
    """For a USB 2.0 hub: the hub model's descriptor with `maxchild` ports."""
    if dump[4] != ClassCode.HUB or speed.is_superspeed:
        return None
    ports = _number(base / "maxchild")
    if ports is None:
        return None
    try:
        return default_hub_descriptor(ports, speed).to_bytes()
    except ValueError as exc:
        raise CloneError(f"{base}/maxchild: {exc}") from None
