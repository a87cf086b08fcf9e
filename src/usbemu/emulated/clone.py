"""Cloning a real device's identity from a descriptor dump.

Linux exposes every device's descriptors, exactly as the kernel read them, in the sysfs
binary file `/sys/bus/usb/devices/<dev>/descriptors`: the 18-byte device descriptor followed
by each configuration (see drivers/usb/core/sysfs.c, `descriptors_read`).  This module turns
such a dump, plus an optional string table, into a `DeviceModel` that answers GET_DESCRIPTOR
with the very same bytes — hostile or quirky ones included — so the host stack (ours, or a
real kernel over USB/IP) sees the original device.  It also reads and writes the clone file
format (TOML, below) and can build one from a sysfs device directory.  Files are read up
to a limit that any real dump fits in (`MAX_DESCRIPTORS_SIZE`, `MAX_CLONE_SOURCE_SIZE`), so
an endless one such as /dev/zero is an error, not a hang.

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


#: The largest `descriptors` file there can be: the 18-byte device descriptor, then 255
#: configurations (bNumConfigurations is a byte) of 65535 bytes each (wTotalLength is 16
#: bits) — 16,711,443 bytes.
MAX_DESCRIPTORS_SIZE: Final = 18 + 255 * 65535
#: The most `load_clone` reads of a file: room for the largest descriptors dump written as
#: hex text ("xx " a byte and a line break every 16 bytes: 51.2 MB) and its strings.
#: Anything longer (/dev/zero) is not a clone file or a dump.
MAX_CLONE_SOURCE_SIZE: Final = 64 * 1024 * 1024
#: A sysfs attribute shows at most a page.
_MAX_ATTRIBUTE_SIZE: Final = 4096
_DUMP_LIMIT: Final = (f"a descriptors dump is at most {MAX_DESCRIPTORS_SIZE} bytes "
                      "(18 + 255 × 65535)")
_SOURCE_LIMIT: Final = ("a clone file or descriptors dump is at most 64 MiB (the largest "
                        "dump, 18 + 255 × 65535 bytes, as hex text)")


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
    return _clone_from_doc(doc, source)


def _clone_from_doc(doc: dict[str, Any], source: str) -> ClonedDevice:
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
    if len(dump) > MAX_DESCRIPTORS_SIZE:
        raise CloneError(f"{source}: descriptors: {len(dump)} bytes; {_DUMP_LIMIT}")
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


def read_limited(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the file at `path`, read up to `limit` (an endless file such as
    /dev/zero ends there).  Raises CloneError, naming the file and saying `what` (the
    limit and why), when there is more; OSError when it cannot be read."""
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise CloneError(f"{path}: more than {limit} bytes; {what}")
    return data


def load_clone(path: str | Path) -> ClonedDevice:
    """Load a clone from a TOML clone file, a hex text dump, or a raw binary
    `descriptors` file copied from sysfs, reading at most MAX_CLONE_SOURCE_SIZE bytes.
    Raises CloneError naming the file and what is wrong with it (empty, too large, not a
    clone file or dump, a field at fault), or OSError when it cannot be read."""
    file = Path(path)
    data = read_limited(file, MAX_CLONE_SOURCE_SIZE, _SOURCE_LIMIT)
    if not data.strip():
        raise CloneError(f"{file}: empty; expected a clone file (usbemu clone) or a "
                         "descriptors dump")
    if data[:1] == b"\x12" and len(data) >= 18 and data[1] == 1:
        if len(data) > MAX_DESCRIPTORS_SIZE:
            raise CloneError(f"{file}: {len(data)} bytes; {_DUMP_LIMIT}")
        return _make(data, {}, Speed.HIGH, (LANGID_EN_US,), str(file))
    not_a_clone = f"{file}: not a clone file or descriptors dump"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CloneError(f"{not_a_clone}: binary data that does not start with a device "
                         "descriptor (12 01)") from None
    if re.fullmatch(r"[\s0-9a-fA-Fx]*", text):
        try:
            dump = parse_hex(text)
        except ValueError as exc:
            raise CloneError(f"{file}: {exc}") from None
        if len(dump) > MAX_DESCRIPTORS_SIZE:
            raise CloneError(f"{file}: {len(dump)} bytes; {_DUMP_LIMIT}")
        return _make(dump, {}, Speed.HIGH, (LANGID_EN_US,), str(file))
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CloneError(f"{not_a_clone}: invalid TOML: {exc}") from None
    return _clone_from_doc(doc, str(file))


def _attribute(path: Path) -> str | None:
    """A sysfs attribute's text (at most a page), None when the file is not there."""
    try:
        data = read_limited(path, _MAX_ATTRIBUTE_SIZE, "a sysfs attribute shows at most a page")
    except FileNotFoundError:
        return None
    return data.decode("utf-8", errors="replace")


def clone_from_sysfs(directory: str | Path) -> ClonedDevice:
    """Clone the device whose sysfs directory is given (e.g. /sys/bus/usb/devices/1-1):
    its `descriptors` (at most MAX_DESCRIPTORS_SIZE bytes), `speed`, and the
    manufacturer/product/serial strings.  Raises CloneError (no `descriptors` file: not a
    device's directory; a dump that cannot be used) or OSError."""
    base = Path(directory)
    try:
        dump = read_limited(base / "descriptors", MAX_DESCRIPTORS_SIZE, _DUMP_LIMIT)
    except FileNotFoundError:
        raise CloneError(f"{base}: no descriptors file, so not a USB device's sysfs "
                         "directory (like /sys/bus/usb/devices/1-1)") from None
    speed_text = _attribute(base / "speed")
    speed = (SYSFS_SPEEDS.get(speed_text.strip(), Speed.HIGH)
             if speed_text is not None else Speed.HIGH)
    if len(dump) < 18:
        raise CloneError(f"{base}/descriptors: {len(dump)} bytes, a device descriptor is 18")
    strings: dict[int, str] = {}
    for offset, name in ((14, "manufacturer"), (15, "product"), (16, "serial")):
        index = dump[offset]
        text = _attribute(base / name) if index else None
        if text is not None:
            strings[index] = text.rstrip("\n")
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
