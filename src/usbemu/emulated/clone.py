"""Cloning a real device's identity from a descriptor dump.

Linux exposes every device's descriptors, exactly as the kernel read them, in the sysfs
binary file `/sys/bus/usb/devices/<dev>/descriptors`: the 18-byte device descriptor followed
by each configuration (see drivers/usb/core/sysfs.c, `descriptors_read`).  This module turns
such a dump, plus an optional string table, into a `DeviceModel` that answers GET_DESCRIPTOR
with the very same bytes — hostile or quirky ones included — so the host stack (ours, or a
real kernel over USB/IP) sees the original device.  It also reads and writes the clone file
format (TOML, below) and can build one from a sysfs device directory.

A clone has the descriptors and chapter 9 behaviour of the original, not its function: its
data endpoints queue what the host writes and NAK reads until something is queued.

The clone file::

    # usbemu device clone
    speed = "high"                   # low, full, high, super, super-plus
    languages = [0x0409]             # optional LANGID table (default: 0x0409)
    descriptors = '''
    12 01 00 02 00 00 00 40 8f 05 87 63 00 01 01 02 03 01
    09 02 20 00 01 01 00 80 32 ...
    '''
    [strings]                        # optional: index = text (first language)
    1 = "Generic"
    2 = "Mass Storage"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from ..spec.ch9 import LANGID_EN_US, Speed
from ..spec.config import ParsedConfig, parse_descriptors_file
from ..spec.descriptors import DescriptorError, DescriptorSet, StringTable
from .device import DeviceModel

SPEED_NAMES: Final[Mapping[str, Speed]] = {
    "low": Speed.LOW, "full": Speed.FULL, "high": Speed.HIGH,
    "super": Speed.SUPER, "super-plus": Speed.SUPER_PLUS,
}
#: The sysfs `speed` attribute's values (drivers/usb/core/sysfs.c, speed_show).
SYSFS_SPEEDS: Final[Mapping[str, Speed]] = {
    "1.5": Speed.LOW, "12": Speed.FULL, "480": Speed.HIGH, "5000": Speed.SUPER,
    "10000": Speed.SUPER_PLUS, "20000": Speed.SUPER_PLUS,
}


class CloneError(ValueError):
    """A clone file or dump that cannot be used; the message names the file and field."""


class ClonedDevice(DeviceModel):
    """A device model whose descriptors are the exact bytes of a dump."""

    model_name = "clone"

    def __init__(self, dump: bytes, strings: Mapping[int, str] | None = None, *,
                 speed: Speed = Speed.HIGH, languages: Sequence[int] = (LANGID_EN_US,)) -> None:
        device, configs = parse_descriptors_file(dump, speed)
        self.parsed_configs: tuple[ParsedConfig, ...] = configs
        texts = dict(strings or {})
        table = StringTable(tuple(languages), {lang: texts for lang in languages})
        descriptors = DescriptorSet(
            device=replace(device, strings=texts),
            device_bytes=bytes(dump[: device.bLength or 18]),
            config_bytes=tuple(c.raw for c in configs),
            strings=table,
        )
        super().__init__(descriptors, speed=speed)

    @property
    def notices(self) -> list[str]:
        """What Linux would log while parsing these configurations."""
        return [n.message for c in self.parsed_configs for n in c.notices]


def parse_hex(text: str) -> bytes:
    """Hex bytes separated by any whitespace (an optional `0x` before each byte)."""
    cleaned = re.sub(r"0x", "", text, flags=re.IGNORECASE)
    digits = "".join(cleaned.split())
    if len(digits) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", digits):
        raise ValueError("expected hex bytes separated by whitespace")
    return bytes.fromhex(digits)


def _speed(value: object, source: str) -> Speed:
    if not isinstance(value, str) or value not in SPEED_NAMES:
        choices = ", ".join(SPEED_NAMES)
        raise CloneError(f"{source}: speed = {value!r} is not one of: {choices}")
    return SPEED_NAMES[value]


def _strings(value: object, source: str) -> dict[int, str]:
    if not isinstance(value, dict):
        raise CloneError(f"{source}: [strings] must be a table of index = \"text\"")
    table: dict[int, str] = {}
    for key, text in value.items():
        if not (str(key).isdigit() and 1 <= int(key) <= 255) or not isinstance(text, str):
            raise CloneError(f"{source}: strings.{key} must be an index 1..255 with text")
        table[int(key)] = text
    return table


def clone_from_toml(text: str, source: str = "<clone>") -> ClonedDevice:
    """Build a clone from the TOML clone format; CloneError names the field at fault."""
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CloneError(f"{source}: {exc}") from exc
    unknown = set(doc) - {"speed", "languages", "descriptors", "strings"}
    if unknown:
        raise CloneError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}; expected "
                         "speed, languages, descriptors, strings")
    if not isinstance(doc.get("descriptors"), str):
        raise CloneError(f"{source}: descriptors = '''hex bytes''' is required")
    try:
        dump = parse_hex(doc["descriptors"])
    except ValueError as exc:
        raise CloneError(f"{source}: descriptors: {exc}") from exc
    languages = doc.get("languages", [LANGID_EN_US])
    if not (isinstance(languages, list) and languages
            and all(isinstance(x, int) and 0 <= x <= 0xFFFF for x in languages)):
        raise CloneError(f"{source}: languages must be a non-empty list of LANGIDs")
    return _make(dump, _strings(doc.get("strings", {}), source),
                 _speed(doc.get("speed", "high"), source), languages, source)


def _make(dump: bytes, strings: Mapping[int, str], speed: Speed, languages: Sequence[int],
          source: str) -> ClonedDevice:
    try:
        return ClonedDevice(dump, strings, speed=speed, languages=languages)
    except DescriptorError as exc:
        raise CloneError(f"{source}: {exc}") from exc


def load_clone(path: str | Path) -> ClonedDevice:
    """Load a clone from a TOML clone file, a hex text dump, or a raw binary
    `descriptors` file copied from sysfs.  Raises CloneError or OSError."""
    file = Path(path)
    data = file.read_bytes()
    if data[:1] == b"\x12" and len(data) >= 18 and data[1] == 1:
        return _make(data, {}, Speed.HIGH, (LANGID_EN_US,), str(file))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CloneError(f"{file}: neither a binary descriptors dump nor text") from exc
    if re.fullmatch(r"[\s0-9a-fA-Fx]*", text):
        return _make(parse_hex(text), {}, Speed.HIGH, (LANGID_EN_US,), str(file))
    return clone_from_toml(text, str(file))


def clone_from_sysfs(directory: str | Path) -> ClonedDevice:
    """Clone the device whose sysfs directory is given (e.g. /sys/bus/usb/devices/1-1):
    its `descriptors`, `speed`, and the manufacturer/product/serial strings."""
    base = Path(directory)
    dump = (base / "descriptors").read_bytes()
    speed_file = base / "speed"
    speed = (SYSFS_SPEEDS.get(speed_file.read_text().strip(), Speed.HIGH)
             if speed_file.exists() else Speed.HIGH)
    if len(dump) < 18:
        raise CloneError(f"{base}/descriptors: {len(dump)} bytes, a device descriptor is 18")
    strings: dict[int, str] = {}
    for offset, name in ((14, "manufacturer"), (15, "product"), (16, "serial")):
        index, attr = dump[offset], base / name
        if index and attr.exists():
            strings[index] = attr.read_text().rstrip("\n")
    return _make(dump, strings, speed, (LANGID_EN_US,), str(base))


def dump_clone(model: DeviceModel) -> str:
    """The clone file text for any model: its descriptors file and first-language strings."""
    raw = model.descriptors.descriptors_file()
    rows = [" ".join(f"{b:02x}" for b in raw[i:i + 16]) for i in range(0, len(raw), 16)]
    speed = {s: name for name, s in SPEED_NAMES.items()}.get(model.speed, "full")
    langs = ", ".join(f"0x{x:04x}" for x in model.descriptors.strings.langids)
    lines = ["# usbemu device clone", f'speed = "{speed}"', f"languages = [{langs}]",
             "descriptors = '''", *rows, "'''"]
    strings = model.descriptors.strings.primary()
    if strings:
        lines.append("\n[strings]")
        lines += [f"{i} = {_toml_str(t)}" for i, t in sorted(strings.items())]
    return "\n".join(lines) + "\n"


def _toml_str(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'
