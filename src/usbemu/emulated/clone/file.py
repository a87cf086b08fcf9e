"""The clone file — a TOML text of everything a clone carries (`CloneData`), and the other
files a clone is loaded from: the sysfs `descriptors` dump as Linux writes it
(drivers/usb/core/sysfs.c, `descriptors_read`) in binary or as hex text.

Every byte field is hex text, whitespace free-form; a field that is missing is something
the device does not have (or that its source could not show).  Files written before the
qualifier, other-speed, BOS, per-language strings, report descriptors and hub descriptor
existed load as they did.  Files are read up to `MAX_CLONE_SOURCE_SIZE`, so an endless one
such as /dev/zero is an error, not a hang; every mistake is a CloneError naming the file
and the field.

    # usbemu device clone
    speed = "high"                   # low, full, high, super, super-plus
    languages = [0x0409, 0x0407]     # the LANGID table, in the device's order
    descriptors = '''
    12 01 00 02 00 00 00 40 8f 05 87 63 00 01 01 02 03 01
    09 02 20 00 01 01 00 80 32 ...
    '''
    qualifier = '0a 06 00 02 00 00 00 40 01 00'
    other_speed = ['''
    09 07 20 00 01 01 00 80 32 ...
    ''']
    bos = '05 0f 0c 00 01 07 10 02 02 00 00 00'
    hub_descriptor = '09 29 04 e9 00 32 64 00 ff'   # a hub's, verbatim

    [strings]                        # the first language: index = text
    1 = "Generic"

    [strings.0x0407]                 # another language (absent: as the first)
    1 = "Allgemein"

    [report_descriptors]             # interface number = HID report descriptor
    0 = '''
    05 01 09 06 a1 01 ...
    '''
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ...spec.ch9 import LANGID_EN_US, Speed
from .data import (
    MAX_CLONE_SOURCE_SIZE,
    MAX_DESCRIPTORS_SIZE,
    SPEED_NAMES,
    CloneData,
    CloneError,
)

__all__ = ["DUMP_LIMIT", "clone_data_from_toml", "format_clone", "load_clone_data",
           "parse_hex", "read_limited"]

DUMP_LIMIT: Final = (f"a descriptors dump is at most {MAX_DESCRIPTORS_SIZE} bytes "
                     "(18 + 255 × 65535)")
_SOURCE_LIMIT: Final = ("a clone file or descriptors dump is at most 64 MiB (the largest "
                        "dump, 18 + 255 × 65535 bytes, as hex text)")
_FIELDS: Final = ("speed", "languages", "descriptors", "qualifier", "other_speed", "bos",
                  "hub_descriptor", "strings", "report_descriptors")
_LANGID_KEY: Final = re.compile(r"0[xX][0-9a-fA-F]{1,4}")
_ROW: Final = 16  # bytes per line of hex text
_ONE_LINE: Final = 24  # fields this long or shorter stay on their line


def parse_hex(text: str) -> bytes:
    """Hex bytes separated by any whitespace (an optional `0x` before each byte).  Raises
    ValueError for anything else."""
    cleaned = re.sub(r"0x", "", text, flags=re.IGNORECASE)
    digits = "".join(cleaned.split())
    if len(digits) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", digits):
        raise ValueError("expected hex bytes separated by whitespace")
    return bytes.fromhex(digits)


def read_limited(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the file at `path`, read up to `limit` (an endless file such as
    /dev/zero ends there).  Raises CloneError, naming the file and saying `what` (the
    limit and why), when there is more; OSError when it cannot be read."""
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise CloneError(f"{path}: more than {limit} bytes; {what}")
    return data


# -- reading ------------------------------------------------------------------------------------


def _hex_field(value: object, field: str, source: str) -> bytes:
    if not isinstance(value, str):
        raise CloneError(f"{source}: {field} must be hex bytes in a string ('''12 01 …''')")
    try:
        return parse_hex(value)
    except ValueError as exc:
        raise CloneError(f"{source}: {field}: {exc}") from None


def _optional_hex(doc: Mapping[str, Any], field: str, source: str) -> bytes | None:
    return _hex_field(doc[field], field, source) if field in doc else None


def _speed(value: object, source: str) -> Speed:
    if not isinstance(value, str) or value not in SPEED_NAMES:
        choices = ", ".join(SPEED_NAMES)
        raise CloneError(f"{source}: speed = {value!r} is not one of: {choices}")
    return SPEED_NAMES[value]


def _languages(value: object, source: str) -> tuple[int, ...]:
    if not (isinstance(value, list)
            and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 0xFFFF
                    for x in value)):
        raise CloneError(f"{source}: languages must be a list of LANGIDs (0x0000..0xffff)")
    if len(value) > 126:
        raise CloneError(f"{source}: languages: {len(value)} LANGIDs, at most 126 fit in "
                         "string descriptor 0")
    return tuple(value)


def _string_table(value: Mapping[str, Any], where: str, source: str) -> dict[int, str]:
    table: dict[int, str] = {}
    for key, text in value.items():
        if not (key.isdigit() and 1 <= int(key) <= 255) or not isinstance(text, str):
            raise CloneError(f"{source}: {where}.{key} must be an index 1..255 with text")
        table[int(key)] = text
    return table


def _strings(value: object, languages: Sequence[int],
             source: str) -> dict[int, dict[int, str]]:
    """[strings]: index = text in the first language, and [strings.0xLLLL] tables for
    the others."""
    if not isinstance(value, dict):
        raise CloneError(f"{source}: [strings] must be a table of index = \"text\"")
    first = languages[0] if languages else None
    texts = {k: v for k, v in value.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in value.items() if isinstance(v, dict)}
    strings: dict[int, dict[int, str]] = {}
    if texts:
        if first is None:
            raise CloneError(f"{source}: strings: a device with an empty LANGID table "
                             "(languages = []) has no strings")
        strings[first] = _string_table(texts, "strings", source)
    for key, table in tables.items():
        if not _LANGID_KEY.fullmatch(key):
            raise CloneError(f"{source}: strings.{key} must be a LANGID such as 0x0407")
        langid = int(key, 16)
        if langid not in languages:
            raise CloneError(f"{source}: strings.{key}: LANGID {key} is not in languages")
        if langid == first:
            raise CloneError(f"{source}: strings.{key}: the first language's strings are "
                             "[strings] itself")
        strings[langid] = _string_table(table, f"strings.{key}", source)
    return strings


def _other_speed(value: object, source: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise CloneError(f"{source}: other_speed must be a list of hex strings, one "
                         "OTHER_SPEED_CONFIGURATION each")
    return tuple(_hex_field(v, f"other_speed[{i}]", source) for i, v in enumerate(value))


def _report_descriptors(value: object, source: str) -> dict[int, bytes]:
    if not isinstance(value, dict):
        raise CloneError(f"{source}: [report_descriptors] must be a table of interface "
                         "number = hex bytes")
    reports: dict[int, bytes] = {}
    for key, raw in value.items():
        if not (key.isdigit() and 0 <= int(key) <= 255):
            raise CloneError(f"{source}: report_descriptors.{key}: an interface number is "
                             "0..255")
        reports[int(key)] = _hex_field(raw, f"report_descriptors.{key}", source)
    return reports


def clone_data_from_toml(text: str, source: str = "<clone>") -> CloneData:
    """Read the TOML clone format.  Context: pure function.  Raises CloneError naming
    `source` and the field at fault."""
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CloneError(f"{source}: {exc}") from exc
    return _data_from_doc(doc, source)


def _data_from_doc(doc: Mapping[str, Any], source: str) -> CloneData:
    unknown = set(doc) - set(_FIELDS)
    if unknown:
        raise CloneError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}; expected "
                         f"{', '.join(_FIELDS)}")
    if not isinstance(doc.get("descriptors"), str):
        raise CloneError(f"{source}: descriptors = '''hex bytes''' is required")
    dump = _hex_field(doc["descriptors"], "descriptors", source)
    if len(dump) > MAX_DESCRIPTORS_SIZE:
        raise CloneError(f"{source}: descriptors: {len(dump)} bytes; {DUMP_LIMIT}")
    languages = _languages(doc.get("languages", [LANGID_EN_US]), source)
    return CloneData(
        descriptors=dump,
        speed=_speed(doc.get("speed", "high"), source),
        languages=languages,
        strings=_strings(doc.get("strings", {}), languages, source),
        qualifier=_optional_hex(doc, "qualifier", source),
        other_speed=_other_speed(doc.get("other_speed", []), source),
        bos=_optional_hex(doc, "bos", source),
        report_descriptors=_report_descriptors(doc.get("report_descriptors", {}), source),
        hub_descriptor=_optional_hex(doc, "hub_descriptor", source))


def _dump_data(dump: bytes, path: Path) -> CloneData:
    if len(dump) > MAX_DESCRIPTORS_SIZE:
        raise CloneError(f"{path}: {len(dump)} bytes; {DUMP_LIMIT}")
    return CloneData(dump)


def load_clone_data(path: str | Path) -> CloneData:
    """What a clone file, a hex text dump or a raw binary `descriptors` file copied from
    sysfs holds, reading at most MAX_CLONE_SOURCE_SIZE bytes.  Raises CloneError naming
    the file and what is wrong with it (empty, too large, not a clone file or dump, a
    field at fault), or OSError when it cannot be read."""
    file = Path(path)
    data = read_limited(file, MAX_CLONE_SOURCE_SIZE, _SOURCE_LIMIT)
    if not data.strip():
        raise CloneError(f"{file}: empty; expected a clone file (usbemu clone) or a "
                         "descriptors dump")
    if data[:1] == b"\x12" and len(data) >= 18 and data[1] == 1:
        return _dump_data(data, file)
    not_a_clone = f"{file}: not a clone file or descriptors dump"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CloneError(f"{not_a_clone}: binary data that does not start with a device "
                         "descriptor (12 01)") from None
    if re.fullmatch(r"[\s0-9a-fA-Fx]*", text):
        try:
            return _dump_data(parse_hex(text), file)
        except ValueError as exc:
            raise CloneError(f"{file}: {exc}") from None
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CloneError(f"{not_a_clone}: invalid TOML: {exc}") from None
    return _data_from_doc(doc, str(file))


# -- writing ------------------------------------------------------------------------------------


def _hex(raw: bytes) -> str:
    """A byte field as TOML: one line for a short one, else 16 bytes a line."""
    if len(raw) <= _ONE_LINE:
        return "'" + " ".join(f"{b:02x}" for b in raw) + "'"
    rows = [" ".join(f"{b:02x}" for b in raw[i:i + _ROW]) for i in range(0, len(raw), _ROW)]
    return "'''\n" + "\n".join(rows) + "\n'''"


def _toml_escape(char: str) -> str:
    """A character as a TOML basic string holds it: itself when printable, else escaped."""
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _toml_str(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(_toml_escape(c) for c in escaped) + '"'


def _string_lines(table: Mapping[int, str]) -> list[str]:
    return [f"{i} = {_toml_str(t)}" for i, t in sorted(table.items())]


def _byte_fields(data: CloneData) -> list[str]:
    lines = [f"descriptors = {_hex(data.descriptors)}"]
    if data.qualifier is not None:
        lines.append(f"qualifier = {_hex(data.qualifier)}")
    if data.other_speed:
        lines.append("other_speed = [" + ", ".join(_hex(c) for c in data.other_speed) + "]")
    if data.bos is not None:
        lines.append(f"bos = {_hex(data.bos)}")
    if data.hub_descriptor is not None:
        lines.append(f"hub_descriptor = {_hex(data.hub_descriptor)}")
    return lines


def _string_tables(data: CloneData) -> list[str]:
    primary = data.primary_strings()
    lines = ["", "[strings]", *_string_lines(primary)] if primary else []
    for langid in dict.fromkeys(data.languages[1:]):
        table = data.strings.get(langid)
        if table is not None and table != primary:
            lines += ["", f"[strings.0x{langid:04x}]", *_string_lines(table)]
    return lines


def format_clone(data: CloneData) -> str:
    """The clone file text of `data`; reading it back (`clone_data_from_toml`) gives the
    same data.  Context: pure function."""
    speed = {s: name for name, s in SPEED_NAMES.items()}.get(data.speed, "full")
    langs = ", ".join(f"0x{x:04x}" for x in data.languages)
    lines = ["# usbemu device clone", f'speed = "{speed}"', f"languages = [{langs}]",
             *_byte_fields(data), *_string_tables(data)]
    if data.report_descriptors:
        lines += ["", "[report_descriptors]"]
        lines += [f"{n} = {_hex(raw)}" for n, raw in sorted(data.report_descriptors.items())]
    return "\n".join(lines) + "\n"
