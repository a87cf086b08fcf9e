"""Reading one table of a scenario file: typed fields, each mistake recorded with its line.

A converter (`string()`, `integer(...)`, `machine_path` …) turns a TOML value into what a
scenario needs, or raises `WrongType` (the type that was expected) or `BadValue` (why the
value is not accepted).  `Reader` holds what one file's validation needs (its path, its
`Locator`, the mistakes so far); `Entry` is one table of the file while it is read, and
words every mistake as `FILE:LINE: where: what was wrong; what is accepted`, suggesting
the closest accepted name for an unknown one (`unknown`).

Nothing here knows the sections of a scenario, its steps or its actions; they are read with
these pieces by `specs`, `bridges`, `actions`, `checks` and `load`.
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from ...errors import Errno
from ..machine import MachineError, check_port_path
from .locator import Locator

T = TypeVar("T")


class WrongType(Exception):
    """A value of the wrong TOML type; `expected` says what was expected."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


class BadValue(Exception):
    """A value of the right type that is not accepted; the message says why."""


#: A converter: a TOML value → what the scenario needs; raises WrongType or BadValue.
Conv = Callable[[object], T]

_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"), (dict, "table"),
    (list, "array"), (datetime.datetime, "date-time"), (datetime.date, "date"),
    (datetime.time, "time"))


def toml_type(value: object) -> str:
    """The TOML name of a value's type ("string", "array" …), for "(got …)"."""
    return next((name for kind, name in _TOML_TYPES if isinstance(value, kind)), "value")


def string(expected: str = "a string") -> Conv[str]:
    def conv(value: object) -> str:
        if not isinstance(value, str):
            raise WrongType(expected)
        return value
    return conv


def integer(expected: str = "an integer", lo: int | None = None,
            hi: int | None = None) -> Conv[int]:
    def conv(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise WrongType(expected)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise BadValue(f"{value} is out of range; expected {expected}")
        return value
    return conv


def number(expected: str, hi: float = math.inf) -> Conv[float]:
    """A finite integer or float from 0 to `hi`: TOML's nan and ±inf are refused too."""
    def conv(value: object) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise WrongType(expected)
        if math.isnan(value):
            raise BadValue(f"{value} is not a number; expected {expected}")
        if value < 0:
            raise BadValue(f"{value} is negative; expected {expected}")
        if value > hi or math.isinf(value):
            raise BadValue(f"{value} is out of range; expected {expected}")
        return float(value)
    return conv


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise WrongType("true or false")
    return value


def table(expected: str = "a table") -> Conv[dict[str, object]]:
    def conv(value: object) -> dict[str, object]:
        if not isinstance(value, dict):
            raise WrongType(expected)
        return value
    return conv


def strings(expected: str = "a string or an array of strings") -> Conv[tuple[str, ...]]:
    def conv(value: object) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, str) for item in items):
            raise WrongType(expected)
        return tuple(str(item) for item in items)
    return conv


def tables(expected: str) -> Conv[tuple[dict[str, object], ...]]:
    def conv(value: object) -> tuple[dict[str, object], ...]:
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, dict) for item in items):
            raise WrongType(expected)
        return tuple(item for item in items if isinstance(item, dict))
    return conv


def machine_path(value: object) -> str:
    """A path of the machine's tree: absolute."""
    if not isinstance(value, str):
        raise WrongType('a path of the machine\'s tree, like "/dev/pen0"')
    if not value.startswith("/"):
        raise BadValue(f"{value!r} is not an absolute path; paths of the machine's tree "
                       'start with /, like "/dev/pen0" or "/sys/bus/usb/devices/1-1"')
    return value


def port_path(value: object) -> str:
    if not isinstance(value, str):
        raise WrongType('a string like "1-1"')
    try:
        return check_port_path(value)
    except MachineError as exc:
        raise BadValue(str(exc)) from None


def hex_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise WrongType('a string of hex bytes, like "00 01 ff"')
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise BadValue(f"{value!r} is not hex bytes; expected pairs of hex digits, like "
                       '"00 01 ff"') from None


def regex(value: object) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise WrongType("a regular expression (a string)")
    try:
        return re.compile(value, re.MULTILINE)
    except re.error as exc:
        raise BadValue(f"{value!r} is not a valid regular expression: {exc}") from None


def errno_name(value: object) -> str:
    if not isinstance(value, str):
        raise WrongType('an errno name, like "EBUSY"')
    if value not in Errno.__members__:
        close = difflib.get_close_matches(value, list(Errno.__members__), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BadValue(f"{value!r} is not an errno name{hint} (Linux's names: EBUSY, "
                       "ENOENT, ENODEV, ETIMEDOUT …)")
    return value


def _param_text(name: str, value: object) -> str:
    """A module parameter as insmod takes it: "Y"/"N", a number, text, or a comma list."""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list) and value and all(
            isinstance(v, int | str) and not isinstance(v, bool) for v in value):
        return ",".join(str(v) for v in value)
    raise BadValue(f"parameter {name!r} must be an integer, a boolean, a string or an array "
                   f"of integers or strings (got {toml_type(value)})")


def module_args(value: object) -> tuple[str, ...]:
    """A table of module parameters as insmod's NAME=VALUE arguments."""
    params = table("a table of module parameters, like { vendor = 0xffff }")(value)
    return tuple(f"{name}={_param_text(name, v)}" for name, v in params.items())


def unknown(kind: str, key: str, accepted: Sequence[str],
            also: Sequence[str] = ()) -> str:
    """"unknown field 'writ'; did you mean 'write'? accepted: …" — the closest of
    `accepted` and `also` (names accepted elsewhere) suggested, `accepted` listed."""
    close = difflib.get_close_matches(key, [*accepted, *also], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return f"unknown {kind} {key!r}{hint} accepted: {', '.join(accepted)}"


class Reader:
    """Everything one file's validation needs: its path, its lines, the mistakes found."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.base = path.parent
        self.locator = Locator(text)
        self.errors: list[tuple[int, str]] = []
        self.writes = 0  # write steps read so far (for expect = "@last-write")

    def error(self, line: int, where: str, message: str) -> None:
        self.errors.append((line, f"{self.path}:{line}: {where}: {message}"))

    def file(self, name: str) -> Path:
        """A file named in the scenario: relative to the scenario's directory."""
        return self.base / name


class Entry:
    """One table of the file (the machine, a module, a device, a bridge, a step) while it
    is read: typed access to its fields, each mistake recorded with its line."""

    def __init__(self, reader: Reader, section: str, index: int | None, where: str,
                 data: Mapping[str, object], inside: str | None = None) -> None:
        self.reader = reader
        self.section = section
        self.index = index
        self.where = where
        self.data = data
        #: For an inline table: the field of the entry it is the value of, whose line
        #: every field of the inline table reports.
        self.inside = inside
        self.failed = False

    def line(self, key: str | None = None) -> int:
        return self.reader.locator.line(self.section, self.index, self.inside or key)

    def table(self, key: str, data: Mapping[str, object]) -> Entry:
        """The inline table `data`, the value (or an item of the value) of field `key`."""
        items = self.data.get(key)
        item = next((n for n, t in enumerate(items, 1) if t is data), 0) \
            if isinstance(items, list) else 0
        where = f"{self.where}: {key}" + (f" item {item}" if item else "")
        return Entry(self.reader, self.section, self.index, where, data, inside=key)

    def lines(self) -> dict[str, int]:
        return {key: self.line(key) for key in self.data}

    def error(self, key: str | None, message: str) -> None:
        self.failed = True
        self.reader.error(self.line(key), self.where, message)

    def get(self, key: str, conv: Conv[T]) -> T | None:
        """The field converted by `conv`; None when it is absent or wrong (recorded)."""
        if key not in self.data:
            return None
        value = self.data[key]
        try:
            return conv(value)
        except WrongType as exc:
            self.error(key, f"{key!r} must be {exc.expected} (got {toml_type(value)})")
        except BadValue as exc:
            self.error(key, f"{key!r}: {exc}")
        return None

    def value(self, key: str, conv: Conv[T], default: T) -> T:
        found = self.get(key, conv)
        return default if found is None else found

    def require(self, key: str, conv: Conv[T], what: str) -> T | None:
        if key not in self.data:
            self.error(None, f"{key!r} is required: {what}")
            return None
        return self.get(key, conv)

    def only(self, accepted: Sequence[str]) -> None:
        for key in self.data:
            if key not in accepted:
                self.error(key, unknown("field", key, accepted))

    def one_of(self, keys: Sequence[str], what: str, owner: str | None = None) -> str | None:
        """The one of `keys` the entry gives; an error (at the second one given, or at the
        `owner` field when none is) when it gives none or several."""
        given = [k for k in keys if k in self.data]
        if len(given) != 1:
            told = "none" if not given else " and ".join(given)
            self.error(given[1] if len(given) > 1 else owner,
                       f"give exactly one of {', '.join(keys)} ({what}); got {told}")
            return None
        return given[0]
