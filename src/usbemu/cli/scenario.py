"""Scenario files — `usbemu run SCENARIO.toml`: a declared machine and a timeline of steps,
each step with expectations that are checked as it runs.

A scenario is a TOML file.  `[machine]` gives the boot options; the `[[module]]`s are loaded
and the `[[device]]`s plugged in order at the start, then the `[[bridge]]`s are started;
then the `[[step]]`s run in order.  A step does at most one action (plug, unplug, write,
read, run, sleep, load, unload) and checks any number of expectations (kernel log lines,
uevents, file contents, paths that exist or do not).  Actions, expectations and bridges are
tables (name → parser and runner, name → checker, type → starter), so a new one is one
entry and the runner does not change.  The format is documented in docs/scenarios.md.

`load_scenario` validates the whole file before anything runs and reports every mistake it
finds, each as `FILE:LINE: where: what was wrong; what is accepted` (`ScenarioError`);
`run_scenario` boots the machine, runs the timeline and stops at the first step that does
not do what the file says, reporting expected and actual.  The machine is the one the shell
and the one-shot commands build (`cli.machine`); nothing here knows a driver or a model.  It
has no loops, branches or variables — a scenario is a script of facts, not a program; tests
that need more are written with `usbemu.testing`.
"""

from __future__ import annotations

import asyncio
import datetime
import difflib
import io
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from ..emulated.models import available_models
from ..errors import Errno, errname
from ..kernel.device import Uevent
from ..system import System
from .machine import MachineError, boot, build_model, check_port_path, load_module, plug, unplug

if TYPE_CHECKING:
    from .shell import Shell

__all__ = ["ACTIONS", "BRIDGES", "CHECKS", "BridgeError", "Scenario", "ScenarioError",
           "Step", "load_scenario", "run_scenario"]

T = TypeVar("T")

#: What `expect` of a read step says to compare with the bytes the last write step wrote.
LAST_WRITE = "@last-write"
#: How much a read step asks for when it gives no `size`.
DEFAULT_READ_SIZE = 4096
#: How many of the last log lines or uevents a failed expectation shows.
SHOWN = 12


class ScenarioError(Exception):
    """A mistake in a scenario file; the message has one line per mistake, each starting
    with FILE:LINE, and says what would be accepted."""


class BridgeError(Exception):
    """A bridge cannot be started here; the message says why."""


class _Failed(Exception):
    """A step did not do what the file says.  `field` is the step's key the failure is
    about (for its line); the message says what was expected and what happened."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# -- where things are in the file ---------------------------------------------------------------

_KEY_PART = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*\]\]?\s*(?:#.*)?$")
_KEY_LINE = re.compile(rf"^\s*({_KEY_PART})(?:\s*\.\s*{_KEY_PART})*\s*=(.*)$")
_PART = re.compile(_KEY_PART)


def _unquote(part: str) -> str:
    return part[1:-1] if part[:1] in "\"'" else part


def _skip_string(text: str, i: int) -> int:
    """Index after the one-line string starting at text[i]."""
    if text[i] == "'":
        end = text.find("'", i + 1)
        return len(text) if end < 0 else end + 1
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == '"':
            return j + 1
        else:
            j += 1
    return len(text)


def _close_multiline(text: str, i: int, quote: str) -> int:
    """Index after the `quote` (three quotes) closing a multi-line string, or -1."""
    if quote == "'''":
        end = text.find(quote, i)
        return -1 if end < 0 else end + 3
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith(quote, i):
            return i + 3
        else:
            i += 1
    return -1


def _value_state(text: str, depth: int, quote: str | None) -> tuple[int, str | None]:
    """Bracket depth and the open multi-line string quote after reading `text`, a piece of
    a value, from the state before it."""
    i = 0
    while i < len(text):
        if quote is not None:
            end = _close_multiline(text, i, quote)
            if end < 0:
                return depth, quote
            i, quote = end, None
            continue
        if text.startswith(('"""', "'''"), i):
            quote, i = text[i:i + 3], i + 3
        elif text[i] in "\"'":
            i = _skip_string(text, i)
        elif text[i] == "#":
            break
        else:
            depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(text[i], 0)
            i += 1
    return max(depth, 0), quote


@dataclass
class _Block:
    """A [table] or [[array]] header of the file and the lines of the keys under it."""

    path: tuple[str, ...]
    line: int
    keys: dict[str, int] = field(default_factory=dict)


class Locator:
    """Line numbers of a TOML text's tables and keys, which tomllib does not give: the line
    of `key =` in the `index`-th [[section]] (or in [section]), of a [section.key] sub-table
    header, else of the section's header.  Multi-line strings and arrays are skipped."""

    def __init__(self, text: str) -> None:
        self.blocks = [_Block((), 1)]
        depth, quote = 0, None
        for number, line in enumerate(text.splitlines(), 1):
            if depth or quote:
                depth, quote = _value_state(line, depth, quote)
                continue
            header = _HEADER.match(line)
            if header:
                path = tuple(_unquote(p) for p in _PART.findall(header.group(2)))
                self.blocks.append(_Block(path, number))
                continue
            key = _KEY_LINE.match(line)
            if key:
                self.blocks[-1].keys.setdefault(_unquote(key.group(1)), number)
                depth, quote = _value_state(key.group(2), 0, None)

    def _entry(self, section: str, index: int | None) -> int | None:
        """Position in `blocks` of [section], or of the index-th (1-based) [[section]]."""
        if not section:
            return 0
        seen = 0
        for pos, block in enumerate(self.blocks):
            if block.path == (section,):
                seen += 1
                if index is None or seen == index:
                    return pos
        return None

    def line(self, section: str, index: int | None = None, key: str | None = None) -> int:
        """The line of `key` in that entry of `section` (the root table when `section` is
        empty), falling back to the entry's header, then to where the section is named."""
        pos = self._entry(section, index)
        if pos is None:
            return self.blocks[0].keys.get(section, 1)
        block = self.blocks[pos]
        if key is None:
            return block.line
        if key in block.keys:
            return block.keys[key]
        for sub in self.blocks[pos + 1:]:
            if len(sub.path) <= len(block.path) or sub.path[:len(block.path)] != block.path:
                break
            if sub.path[len(block.path)] == key:
                return sub.line
        return block.line


# -- reading values ------------------------------------------------------------------------------


class _WrongType(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


class _BadValue(Exception):
    """A value of the right type that is not accepted; the message says why."""


Conv = Callable[[object], T]

_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"), (dict, "table"),
    (list, "array"), (datetime.datetime, "date-time"), (datetime.date, "date"),
    (datetime.time, "time"))


def _toml_type(value: object) -> str:
    return next((name for kind, name in _TOML_TYPES if isinstance(value, kind)), "value")


def _string(expected: str = "a string") -> Conv[str]:
    def conv(value: object) -> str:
        if not isinstance(value, str):
            raise _WrongType(expected)
        return value
    return conv


def _integer(expected: str = "an integer", lo: int | None = None,
             hi: int | None = None) -> Conv[int]:
    def conv(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _WrongType(expected)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _BadValue(f"{value} is out of range; expected {expected}")
        return value
    return conv


def _number(expected: str) -> Conv[float]:
    def conv(value: object) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _WrongType(expected)
        if value < 0:
            raise _BadValue(f"{value} is negative; expected {expected}")
        return float(value)
    return conv


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _WrongType("true or false")
    return value


def _table(expected: str = "a table") -> Conv[dict[str, object]]:
    def conv(value: object) -> dict[str, object]:
        if not isinstance(value, dict):
            raise _WrongType(expected)
        return value
    return conv


def _strings(expected: str = "a string or an array of strings") -> Conv[tuple[str, ...]]:
    def conv(value: object) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, str) for item in items):
            raise _WrongType(expected)
        return tuple(str(item) for item in items)
    return conv


def _tables(expected: str) -> Conv[tuple[dict[str, object], ...]]:
    def conv(value: object) -> tuple[dict[str, object], ...]:
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, dict) for item in items):
            raise _WrongType(expected)
        return tuple(item for item in items if isinstance(item, dict))
    return conv


def _machine_path(value: object) -> str:
    """A path of the machine's tree: absolute."""
    if not isinstance(value, str):
        raise _WrongType('a path of the machine\'s tree, like "/dev/pen0"')
    if not value.startswith("/"):
        raise _BadValue(f"{value!r} is not an absolute path; paths of the machine's tree "
                        'start with /, like "/dev/pen0" or "/sys/bus/usb/devices/1-1"')
    return value


def _port_path(value: object) -> str:
    if not isinstance(value, str):
        raise _WrongType('a string like "1-1"')
    try:
        return check_port_path(value)
    except MachineError as exc:
        raise _BadValue(str(exc)) from None


def _hex_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise _WrongType('a string of hex bytes, like "00 01 ff"')
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _BadValue(f"{value!r} is not hex bytes; expected pairs of hex digits, like "
                        '"00 01 ff"') from None


def _regex(value: object) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise _WrongType("a regular expression (a string)")
    try:
        return re.compile(value, re.MULTILINE)
    except re.error as exc:
        raise _BadValue(f"{value!r} is not a valid regular expression: {exc}") from None


def _errno_name(value: object) -> str:
    if not isinstance(value, str):
        raise _WrongType('an errno name, like "EBUSY"')
    if value not in Errno.__members__:
        close = difflib.get_close_matches(value, list(Errno.__members__), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _BadValue(f"{value!r} is not an errno name{hint} (Linux's names: EBUSY, "
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
    raise _BadValue(f"parameter {name!r} must be an integer, a boolean, a string or an array "
                    f"of integers or strings (got {_toml_type(value)})")


def _module_args(value: object) -> tuple[str, ...]:
    params = _table("a table of module parameters, like { vendor = 0xffff }")(value)
    return tuple(f"{name}={_param_text(name, v)}" for name, v in params.items())


def _unknown(kind: str, key: str, accepted: Sequence[str],
             also: Sequence[str] = ()) -> str:
    """"unknown field 'writ'; did you mean 'write'? accepted: …" — the closest of
    `accepted` and `also` (names accepted elsewhere) suggested, `accepted` listed."""
    close = difflib.get_close_matches(key, [*accepted, *also], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return f"unknown {kind} {key!r}{hint} accepted: {', '.join(accepted)}"


class _Reader:
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


class _Entry:
    """One table of the file (the machine, a module, a device, a bridge, a step) while it
    is read: typed access to its fields, each mistake recorded with its line."""

    def __init__(self, reader: _Reader, section: str, index: int | None, where: str,
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

    def table(self, key: str, data: Mapping[str, object]) -> _Entry:
        """The inline table `data`, the value (or an item of the value) of field `key`."""
        items = self.data.get(key)
        item = next((n for n, t in enumerate(items, 1) if t is data), 0) \
            if isinstance(items, list) else 0
        where = f"{self.where}: {key}" + (f" item {item}" if item else "")
        return _Entry(self.reader, self.section, self.index, where, data, inside=key)

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
        except _WrongType as exc:
            self.error(key, f"{key!r} must be {exc.expected} (got {_toml_type(value)})")
        except _BadValue as exc:
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
                self.error(key, _unknown("field", key, accepted))

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


# -- the machine, modules, devices ---------------------------------------------------------------


@dataclass(frozen=True)
class MachineSpec:
    """[machine]: `cli.machine.boot`'s options."""

    real_time: bool = False
    seed: int | None = None
    controllers: int = 1
    ports: int = 6


@dataclass(frozen=True)
class ModuleSpec:
    """A [[module]]: loaded at the start as `load_module` loads it."""

    number: int
    line: int
    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class DeviceSpec:
    """A [[device]]: a model (short name or clone file) plugged in at the start."""

    number: int
    line: int
    model: str
    options: Mapping[str, object]
    at: str | None


@dataclass(frozen=True)
class BridgeSpec:
    """A [[bridge]]: its type and its fields, converted."""

    number: int
    line: int
    type: str
    config: Mapping[str, object]


def _read_machine(reader: _Reader, data: Mapping[str, object]) -> MachineSpec:
    e = _Entry(reader, "machine", None, "machine", data)
    e.only(("real_time", "seed", "controllers", "ports"))
    return MachineSpec(
        real_time=e.value("real_time", _boolean, False),
        seed=e.get("seed", _integer()),
        controllers=e.value("controllers", _integer("an integer from 0 to 16", 0, 16), 1),
        ports=e.value("ports", _integer("an integer from 1 to 31", 1, 31), 6))


def _module_name(e: _Entry, key: str) -> str | None:
    """A module name, or a driver file (a path, or a name ending in .py) relative to the
    scenario; a file must exist."""
    name = e.require(key, _string('a module name like "pen_driver", or a driver file'),
                     'the module to load, e.g. "pen_driver"')
    if name is None or not (name.endswith(".py") or "/" in name):
        return name
    path = e.reader.file(name)
    if not path.is_file():
        e.error(key, f"no driver file {name!r} (looked for {path}; a file is named "
                     "relative to the scenario's directory)")
        return None
    return str(path)


def _read_module(reader: _Reader, number: int, data: Mapping[str, object]) -> ModuleSpec | None:
    e = _Entry(reader, "module", number, f"module {number}", data)
    e.only(("name", "params"))
    name = _module_name(e, "name")
    args = e.get("params", _module_args) or ()
    return None if e.failed or name is None else ModuleSpec(number, e.line(), name, args)


def _model_spec(e: _Entry, key: str, value: str, *, clone: bool) -> str | None:
    """The `build_model` spec for a model name or a clone file (relative to the scenario):
    a model name wins unless `clone` says it is a file."""
    if not clone and value in available_models():
        return value
    path = e.reader.file(value)
    if path.is_file():
        return str(path)
    if clone:
        e.error(key, f"no clone file {value!r} (looked for {path}; a file is named relative "
                     "to the scenario's directory)")
    else:
        known = ", ".join(sorted(available_models()))
        e.error(key, f"no device model named {value!r} and no such file; known models: "
                     f"{known}; a clone file is named relative to the scenario's directory")
    return None


def _check_model(e: _Entry, key: str, spec: str, options: Mapping[str, object]) -> None:
    """Build the model once, so that a bad option is found before anything runs."""
    try:
        build_model(spec, options)
    except MachineError as exc:
        e.error("options" if "options" in e.data else key, str(exc))


def _read_device(reader: _Reader, number: int, data: Mapping[str, object]) -> DeviceSpec | None:
    e = _Entry(reader, "device", number, f"device {number}", data)
    e.only(("model", "clone", "at", "options"))
    at = e.get("at", _port_path)
    options = e.get("options", _table("a table of model options, like { ports = 4 }")) or {}
    key = e.one_of(("model", "clone"), "a model's short name, or a clone file")
    if key is None:
        return None
    value = e.get(key, _string("a clone file path" if key == "clone" else "a model name"))
    spec = _model_spec(e, key, value, clone=key == "clone") if value is not None else None
    if spec is None or e.failed:
        return None
    _check_model(e, key, spec, options)
    return None if e.failed else DeviceSpec(number, e.line(), spec, options, at)


# -- bridges -------------------------------------------------------------------------------------

Stop = Callable[[], None]


@dataclass(frozen=True)
class BridgeType:
    """One kind of [[bridge]]: its fields (name → converter, required or not), a check of
    the machine it needs (a message, or None), and its starter, which returns its stop."""

    fields: Mapping[str, tuple[Conv[object], bool]]
    needs: Callable[[MachineSpec], str | None]
    start: Callable[[System, Mapping[str, object]], Stop]
    #: Fields naming a file or directory of this host: relative to the scenario's directory.
    host_paths: tuple[str, ...] = ()


def _fuse_needs(machine: MachineSpec) -> str | None:
    if machine.real_time:
        return None
    return ("a fuse bridge needs real_time = true in [machine]: outside programs are served "
            "while the machine runs, and on virtual time a sleep step passes in no time")


def _start_fuse(system: System, config: Mapping[str, object]) -> Stop:
    """Mount the machine's tree (bridges.fuse).  The machine's loop is not given a thread
    of its own: it runs in this thread during every step (so requests from outside are
    served during steps, for as long as a sleep step lasts), which fuse.mount supports by
    leaving a loop that is already running alone.  It is mounted from inside the loop, in
    the main thread (libfuse's signal handling), and unmounted while the loop runs."""
    from ..bridges import fuse

    reason = fuse.unavailable_reason()
    if reason is not None:
        raise BridgeError(f"FUSE cannot be used here: {reason}")
    mountpoint = str(config["mountpoint"])

    async def mount() -> fuse.FuseMount:
        return fuse.mount(system, mountpoint)

    try:
        mounted = system.run(mount())
    except (fuse.FuseUnavailable, OSError, RuntimeError) as exc:
        raise BridgeError(f"cannot mount the machine's tree at {mountpoint}: {exc}") from None
    return lambda: system.run(asyncio.to_thread(mounted.unmount))


def _host_directory(value: object) -> object:
    if not isinstance(value, str) or not value:
        raise _WrongType("a directory of this host (relative to the scenario's directory)")
    return value


#: Bridge type → what it takes and how it starts.  A new bridge adds an entry.
BRIDGES: dict[str, BridgeType] = {
    "fuse": BridgeType(fields={"mountpoint": (_host_directory, True)}, needs=_fuse_needs,
                       start=_start_fuse, host_paths=("mountpoint",)),
}


def _read_bridge(reader: _Reader, number: int, data: Mapping[str, object],
                 machine: MachineSpec) -> BridgeSpec | None:
    e = _Entry(reader, "bridge", number, f"bridge {number}", data)
    kind = e.require("type", _string(f"one of {', '.join(BRIDGES)}"),
                     f"one of {', '.join(BRIDGES)}")
    if kind is None:
        return None
    bridge = BRIDGES.get(kind)
    if bridge is None:
        e.error("type", _unknown("bridge type", kind, list(BRIDGES)))
        return None
    e.only(("type", *bridge.fields))
    config: dict[str, object] = {}
    for name, (conv, required) in bridge.fields.items():
        found = e.require(name, conv, f"a {kind} bridge needs it") if required \
            else e.get(name, conv)
        if found is not None:
            config[name] = str(reader.file(str(found))) if name in bridge.host_paths else found
    problem = bridge.needs(machine)
    if problem is not None:
        e.error("type", problem)
    return None if e.failed else BridgeSpec(number, e.line(), kind, config)


# -- a run in progress ---------------------------------------------------------------------------


class _Run:
    """What a running scenario keeps: the machine, every kernel log line and uevent so far
    with how far expectations have matched them, the last bytes written, the shell."""

    def __init__(self, scenario: Scenario, system: System) -> None:
        self.scenario = scenario
        self.system = system
        self.dmesg: list[str] = system.log.lines()
        self.dmesg_seen = 0
        system.log.subscribe(lambda record: self.dmesg.append(record.text))
        self.events: list[Uevent] = []
        self.events_seen = 0
        system.driver_core.listeners.append(self.events.append)
        self.last_write: bytes | None = None
        self._shell: Shell | None = None
        self._out = io.StringIO()
        self._err = io.StringIO()

    def shell(self, line: str) -> tuple[int, str, str]:
        """Run a shell command line; (status, output, error output)."""
        if self._shell is None:
            from .shell import Shell

            self._shell = Shell(self.system, self._out, self._err)
        for stream in (self._out, self._err):
            stream.seek(0)
            stream.truncate()
        status = self._shell.execute(line)
        return status, self._out.getvalue(), self._err.getvalue()


# -- actions -------------------------------------------------------------------------------------


class Action(Protocol):
    """What a step does.  `perform` raises OSError or MachineError when the machine refuses
    (an expected failure if the step says so), `_Failed` when a result is not the one the
    step expects.  Context: outside the machine's loop; runs it."""

    def describe(self) -> str: ...

    def perform(self, run: _Run) -> None: ...


@dataclass(frozen=True)
class PlugAction:
    spec: str
    options: Mapping[str, object]
    at: str | None

    def describe(self) -> str:
        opts = " ".join(f"{k}={v}" for k, v in self.options.items())
        return " ".join(filter(None, ("plug", Path(self.spec).name, opts,
                                      f"at {self.at}" if self.at else "")))

    def perform(self, run: _Run) -> None:
        plug(run.system, self.spec, self.options, self.at)


@dataclass(frozen=True)
class UnplugAction:
    port: str

    def describe(self) -> str:
        return f"unplug {self.port}"

    def perform(self, run: _Run) -> None:
        unplug(run.system, self.port)


def _printable(data: bytes) -> bool:
    return data.isascii() and data.decode().isprintable()


def _shown(data: bytes) -> str:
    """Short printable data as a quoted string, anything else as its length."""
    if len(data) <= 32 and _printable(data):
        return repr(data.decode())
    return f"{len(data)} bytes"


@dataclass(frozen=True)
class WriteAction:
    path: str
    data: bytes | None
    random: int | None

    def describe(self) -> str:
        what = f"{self.random} random bytes" if self.data is None else _shown(self.data)
        return f"write {what} to {self.path}"

    def perform(self, run: _Run) -> None:
        data = self.data if self.data is not None else run.system.random.randbytes(
            self.random or 0)
        with run.system.open(self.path, "wb") as f:
            written = f.write(data)
        run.last_write = data
        if written != len(data):
            raise _Failed(f"write to {self.path} wrote {written} of {len(data)} bytes "
                          "(a short write)", "write")


@dataclass(frozen=True)
class ReadAction:
    path: str
    size: int
    expect: bytes | str | None  # the bytes, LAST_WRITE, or nothing to compare
    expect_key: str = "expect"  # the field that says what to expect

    def describe(self) -> str:
        return f"read {self.path}"

    def perform(self, run: _Run) -> None:
        with run.system.open(self.path, "rb") as f:
            data = f.read(self.size)
        expected = run.last_write if self.expect == LAST_WRITE else self.expect
        if not isinstance(expected, bytes) or data == expected:
            return
        raise _Failed(f"read {self.path} returned {_bytes_shown(data)}, expected "
                      f"{_bytes_shown(expected)}", self.expect_key)


def _bytes_shown(data: bytes) -> str:
    if len(data) <= 64:
        return repr(data.decode()) if _printable(data) else f"{len(data)} bytes: {data.hex(' ')}"
    return f"{len(data)} bytes starting {data[:16].hex(' ')} …"


def _unified(expected: str, actual: str) -> str:
    lines = list(difflib.unified_diff(expected.splitlines(keepends=True),
                                      actual.splitlines(keepends=True),
                                      "expected", "actual", n=2))
    lines = [line if line.endswith("\n") else line + "\n" for line in lines]
    if len(lines) > 60:
        lines = [*lines[:60], f"… ({len(lines) - 60} more diff lines)\n"]
    return "".join(lines).rstrip("\n")


@dataclass(frozen=True)
class RunAction:
    command: str
    status: int
    output: str | None
    contains: tuple[str, ...]
    matches: re.Pattern[str] | None

    def describe(self) -> str:
        return f"run {self.command}"

    def perform(self, run: _Run) -> None:
        status, out, err = run.shell(self.command)
        said = f"; it printed to stderr:\n{err.rstrip()}" if err else ""
        if status != self.status:
            raise _Failed(f"{self.command!r} exited with status {status}, expected "
                          f"{self.status}{said}", "status")
        if self.output is not None and out != self.output:
            raise _Failed(f"the output of {self.command!r} is not the expected output:\n"
                          f"{_unified(self.output, out)}", "expect_output")
        for text in self.contains:
            if text not in out:
                raise _Failed(f"the output of {self.command!r} does not contain {text!r}; "
                              f"it was:\n{out.rstrip()}", "output_contains")
        if self.matches is not None and not self.matches.search(out):
            raise _Failed(f"the output of {self.command!r} does not match "
                          f"/{self.matches.pattern}/; it was:\n{out.rstrip()}",
                          "output_matches")


@dataclass(frozen=True)
class SleepAction:
    ms: float

    def describe(self) -> str:
        return f"sleep {self.ms:g} ms"

    def perform(self, run: _Run) -> None:
        run.system.sleep(self.ms)


@dataclass(frozen=True)
class LoadAction:
    name: str
    args: tuple[str, ...]

    def describe(self) -> str:
        return " ".join(("load", Path(self.name).name, *self.args))

    def perform(self, run: _Run) -> None:
        load_module(run.system, self.name, self.args)


@dataclass(frozen=True)
class UnloadAction:
    name: str

    def describe(self) -> str:
        return f"unload {self.name}"

    def perform(self, run: _Run) -> None:
        run.system.rmmod(self.name)


def _parse_plug(e: _Entry, key: str) -> Action | None:
    value = e.get(key, _string("a device model name or a clone file"))
    at = e.get("at", _port_path)
    options = e.get("options", _table("a table of model options, like { ports = 4 }")) or {}
    spec = _model_spec(e, key, value, clone=False) if value is not None else None
    if spec is None or e.failed:
        return None
    _check_model(e, key, spec, options)
    return PlugAction(spec, options, at)


def _parse_unplug(e: _Entry, key: str) -> Action | None:
    port = e.get(key, _port_path)
    return None if port is None else UnplugAction(port)


def _parse_write(e: _Entry, key: str) -> Action | None:
    path = e.get(key, _machine_path)
    source = e.one_of(("data", "hex", "random"), "what to write", key)
    data: bytes | None = None
    count: int | None = None
    if source == "data":
        text = e.get("data", _string())
        data = None if text is None else text.encode()
    elif source == "hex":
        data = e.get("hex", _hex_bytes)
    elif source == "random":
        count = e.get("random", _integer("a byte count from 1 to 1048576", 1, 1 << 20))
    e.reader.writes += 1
    if path is None or (data is None and count is None):
        return None
    return WriteAction(path, data, count)


def _parse_read(e: _Entry, key: str) -> Action | None:
    path = e.get(key, _machine_path)
    size = e.value("size", _integer("a byte count from 1 to 1048576", 1, 1 << 20),
                   DEFAULT_READ_SIZE)
    expect: bytes | str | None = None
    if "expect" in e.data and "expect_hex" in e.data:
        e.error("expect_hex", "give 'expect' or 'expect_hex', not both")
    elif "expect_hex" in e.data:
        expect = e.get("expect_hex", _hex_bytes)
    elif "expect" in e.data:
        text = e.get("expect", _string(f'the text read, or "{LAST_WRITE}"'))
        if text == LAST_WRITE and not e.reader.writes:
            e.error("expect", f"'expect': \"{LAST_WRITE}\" needs a write step before this one")
        expect = text if text == LAST_WRITE or text is None else text.encode()
    expect_key = "expect_hex" if "expect_hex" in e.data else "expect"
    return None if path is None else ReadAction(path, size, expect, expect_key)


def _parse_run(e: _Entry, key: str) -> Action | None:
    command = e.get(key, _string('a shell command line, like "lsusb -t"'))
    status = e.value("status", _integer(), 0)
    output = e.get("expect_output", _string())
    contains = e.get("output_contains", _strings()) or ()
    matches = e.get("output_matches", _regex)
    if command is not None and not command.strip():
        e.error(key, "the command line is empty")
        return None
    return None if command is None else RunAction(command, status, output, contains, matches)


def _parse_sleep(e: _Entry, key: str) -> Action | None:
    ms = e.get(key, _number("milliseconds of machine time (0 or more)"))
    return None if ms is None else SleepAction(ms)


def _parse_load(e: _Entry, key: str) -> Action | None:
    name = _module_name(e, key)
    args = e.get("params", _module_args) or ()
    return None if name is None else LoadAction(name, args)


def _parse_unload(e: _Entry, key: str) -> Action | None:
    name = e.get(key, _string('a module name, like "pen_driver"'))
    return None if name is None else UnloadAction(name)


@dataclass(frozen=True)
class ActionType:
    """One action of a step: its parser, the fields that go with it, and whether the step
    may say it is expected to fail (`error`, `error_contains`)."""

    parse: Callable[[_Entry, str], Action | None]
    fields: tuple[str, ...] = ()
    may_fail: bool = True


#: Step action name → its parser and fields.  A new action adds an entry.
ACTIONS: dict[str, ActionType] = {
    "plug": ActionType(_parse_plug, ("at", "options")),
    "unplug": ActionType(_parse_unplug),
    "write": ActionType(_parse_write, ("data", "hex", "random")),
    "read": ActionType(_parse_read, ("size", "expect", "expect_hex")),
    "run": ActionType(_parse_run, ("expect_output", "output_contains", "output_matches",
                                   "status"), may_fail=False),
    "sleep": ActionType(_parse_sleep, may_fail=False),
    "load": ActionType(_parse_load, ("params",)),
    "unload": ActionType(_parse_unload),
}


# -- expected failures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedFailure:
    """`error = "EBUSY"` and/or `error_contains = "text"`: the action must fail so."""

    errno: str | None
    contains: str | None

    def describe(self) -> str:
        parts = [self.errno, f"an error containing {self.contains!r}" if self.contains else None]
        return " and ".join(p for p in parts if p)

    def mismatch(self, exc: Exception) -> str | None:
        """Why `exc` is not the expected failure, or None when it is."""
        code = exc.errno if isinstance(exc, OSError) else None
        wrong_errno = self.errno is not None and code != Errno[self.errno]
        wrong_text = self.contains is not None and self.contains not in str(exc)
        return f"it failed with {_error_text(exc)}" if wrong_errno or wrong_text else None


def _error_text(exc: Exception) -> str:
    """An OSError as `text (ENAME)`, with the tool's own line where it has one."""
    if isinstance(exc, OSError) and exc.errno:
        plain = type(exc).__str__ is OSError.__str__ and exc.strerror
        return f"{exc.strerror if plain else exc} ({errname(exc.errno)})"
    return str(exc) or type(exc).__name__


# -- expectations --------------------------------------------------------------------------------


class Check(Protocol):
    """An expectation of a step, checked after its action.  `check` raises `_Failed`."""

    def describe(self) -> str: ...

    def check(self, run: _Run) -> None: ...


def _tail(items: Sequence[str]) -> str:
    shown = items[-SHOWN:]
    more = f"  … {len(items) - len(shown)} earlier\n" if len(items) > len(shown) else ""
    return more + "".join(f"  {item}\n" for item in shown) if shown else "  (none)\n"


@dataclass(frozen=True)
class DmesgCheck:
    """Lines containing these texts, in this order, logged after the last line an earlier
    expect_dmesg matched (from boot for the first)."""

    texts: tuple[str, ...]

    def describe(self) -> str:
        return f"dmesg {self.texts[0]!r}" if len(self.texts) == 1 else \
            f"dmesg ({len(self.texts)} lines)"

    def check(self, run: _Run) -> None:
        for text in self.texts:
            seen = run.dmesg_seen
            found = next((i for i in range(seen, len(run.dmesg)) if text in run.dmesg[i]), None)
            if found is None:
                since = "after the previous match" if seen else "since boot"
                raise _Failed(f"expected a kernel log line containing {text!r}, but none was "
                              f"logged {since}; the lines since:\n"
                              f"{_tail(run.dmesg[seen:]).rstrip()}", "expect_dmesg")
            run.dmesg_seen = found + 1


_EVENT_FIELDS = ("action", "device", "devpath", "devpath_contains", "env")


@dataclass(frozen=True)
class EventPattern:
    """What a uevent must have: any of its action, kernel name (the last part of its
    devpath), devpath, a part of the devpath, and environment entries."""

    action: str | None = None
    device: str | None = None
    devpath: str | None = None
    devpath_contains: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def matches(self, event: Uevent) -> bool:
        return ((self.action is None or event.action == self.action)
                and (self.device is None or event.devpath.rsplit("/", 1)[-1] == self.device)
                and (self.devpath is None or event.devpath == self.devpath)
                and (self.devpath_contains is None or self.devpath_contains in event.devpath)
                and all(event.get(k) == v for k, v in self.env.items()))

    def describe(self) -> str:
        parts = [self.action or "any", self.device or self.devpath or
                 (f"*{self.devpath_contains}*" if self.devpath_contains else "")]
        parts += [f"{k}={v}" for k, v in self.env.items()]
        return " ".join(p for p in parts if p)


def _event_line(event: Uevent) -> str:
    product = event.get("PRODUCT")
    return f"{event.action} {event.devpath}" + (f" PRODUCT={product}" if product else "")


@dataclass(frozen=True)
class EventCheck:
    """Uevents like these, in this order, sent after the last one an earlier expect_event
    matched (from the start of the run for the first)."""

    patterns: tuple[EventPattern, ...]

    def describe(self) -> str:
        return f"uevent {self.patterns[0].describe()}" if len(self.patterns) == 1 else \
            f"uevents ({len(self.patterns)})"

    def check(self, run: _Run) -> None:
        for pattern in self.patterns:
            seen = run.events_seen
            found = next((i for i in range(seen, len(run.events))
                          if pattern.matches(run.events[i])), None)
            if found is None:
                since = "after the previous match" if seen else "since the start of the run"
                lines = [_event_line(e) for e in run.events[seen:]]
                raise _Failed(f"expected a uevent {pattern.describe()}, but none came {since}; "
                              f"the uevents since:\n{_tail(lines).rstrip()}", "expect_event")
            run.events_seen = found + 1


def _one_line(text: str) -> bool:
    return "\n" not in text.rstrip("\n")


@dataclass(frozen=True)
class FileCheck:
    """A file of the machine's tree read as text: all of it, a part of it, or a match."""

    path: str
    content: str | None = None
    contains: str | None = None
    matches: re.Pattern[str] | None = None

    def describe(self) -> str:
        return f"file {self.path}"

    def check(self, run: _Run) -> None:
        try:
            text = run.system.vfs.read(self.path).decode("utf-8", "replace")
        except OSError as exc:
            raise _Failed(f"expected to read {self.path}, but it failed: "
                          f"{_error_text(exc)}", "expect_file") from None
        if self.content is not None and text != self.content:
            if _one_line(text) and _one_line(self.content):
                raise _Failed(f"{self.path} reads {text!r}, expected {self.content!r}",
                              "expect_file")
            raise _Failed(f"{self.path} does not read as expected:\n"
                          f"{_unified(self.content, text)}", "expect_file")
        if self.contains is not None and self.contains not in text:
            raise _Failed(f"{self.path} does not contain {self.contains!r}; it reads "
                          f"{text!r}", "expect_file")
        if self.matches is not None and not self.matches.search(text):
            raise _Failed(f"{self.path} does not match /{self.matches.pattern}/; it reads "
                          f"{text!r}", "expect_file")


@dataclass(frozen=True)
class FileChecks:
    files: tuple[FileCheck, ...]

    def describe(self) -> str:
        return ", ".join(f.describe() for f in self.files)

    def check(self, run: _Run) -> None:
        for f in self.files:
            f.check(run)


@dataclass(frozen=True)
class ExistsCheck:
    """Paths of the machine's tree that must exist (`present`) or must not."""

    paths: tuple[str, ...]
    present: bool

    def describe(self) -> str:
        verb = ("exists" if len(self.paths) == 1 else "exist") if self.present else "absent"
        return f"{', '.join(self.paths)} {verb}"

    def check(self, run: _Run) -> None:
        for path in self.paths:
            if run.system.vfs.exists(path) != self.present:
                key = "expect_exists" if self.present else "expect_absent"
                raise _Failed(f"expected {path} to exist, but it does not" if self.present
                              else f"expected {path} to be absent, but it exists", key)


def _parse_dmesg(e: _Entry, key: str) -> Check | None:
    texts = e.get(key, _strings("a text, or an array of texts, of kernel log lines"))
    return None if texts is None else DmesgCheck(texts)


def _env(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _WrongType('a table of strings, like { PRODUCT = "58f/6387/100" }')
    return {str(k): str(v) for k, v in value.items()}


def _event_pattern(e: _Entry, key: str, table: Mapping[str, object]) -> EventPattern | None:
    sub = e.table(key, table)
    sub.only(_EVENT_FIELDS)
    text = _string()
    pattern = EventPattern(sub.get("action", text), sub.get("device", text),
                           sub.get("devpath", text), sub.get("devpath_contains", text),
                           sub.value("env", _env, {}))
    if not table:
        sub.error(None, f"say what the uevent has: {', '.join(_EVENT_FIELDS)}")
    e.failed = e.failed or sub.failed
    return None if sub.failed else pattern


def _parse_event(e: _Entry, key: str) -> Check | None:
    tables = e.get(key, _tables("a table like { action = \"remove\", device = \"1-1\" }, "
                                "or an array of them"))
    if tables is None:
        return None
    patterns = [_event_pattern(e, key, t) for t in tables]
    found = tuple(p for p in patterns if p is not None)
    return EventCheck(found) if len(found) == len(patterns) else None


_FILE_FIELDS = ("path", "content", "contains", "matches")


def _file_check(e: _Entry, key: str, table: Mapping[str, object]) -> FileCheck | None:
    sub = e.table(key, table)
    sub.only(_FILE_FIELDS)
    path = sub.require("path", _machine_path, "the file of the machine's tree to read")
    sub.one_of(("content", "contains", "matches"), "what the file must hold")
    check = FileCheck(path or "", sub.get("content", _string()), sub.get("contains", _string()),
                      sub.get("matches", _regex))
    e.failed = e.failed or sub.failed
    return None if sub.failed else check


def _parse_file(e: _Entry, key: str) -> Check | None:
    tables = e.get(key, _tables('a table like { path = "/sys/…/idVendor", content = '
                                '"058f\\n" }, or an array of them'))
    if tables is None:
        return None
    checks = [_file_check(e, key, t) for t in tables]
    found = tuple(c for c in checks if c is not None)
    return FileChecks(found) if len(found) == len(checks) else None


def _paths(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _WrongType("a path of the machine's tree, or an array of them")
    return tuple(_machine_path(item) for item in items)


def _parse_exists(e: _Entry, key: str) -> Check | None:
    paths = e.get(key, _paths)
    return None if paths is None else ExistsCheck(paths, present=True)


def _parse_absent(e: _Entry, key: str) -> Check | None:
    paths = e.get(key, _paths)
    return None if paths is None else ExistsCheck(paths, present=False)


#: Expectation name → its parser (the Check it returns does the checking).  A new
#: expectation adds an entry.
CHECKS: dict[str, Callable[[_Entry, str], Check | None]] = {
    "expect_dmesg": _parse_dmesg,
    "expect_event": _parse_event,
    "expect_file": _parse_file,
    "expect_exists": _parse_exists,
    "expect_absent": _parse_absent,
}

_STEP_FIELDS = ("name", "error", "error_contains")


# -- steps ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One [[step]]: at most one action, then its expectations in the file's order."""

    number: int
    line: int
    name: str | None
    action_key: str | None
    action: Action | None
    failure: ExpectedFailure | None
    checks: tuple[Check, ...]
    lines: Mapping[str, int]  #: the line of each of its fields

    @property
    def label(self) -> str:
        return f"step {self.number}" + (f" ({self.name})" if self.name else "")

    def line_of(self, key: str | None) -> int:
        """The line of field `key`, else of the step's action, else of its header."""
        for candidate in (key, self.action_key):
            if candidate is not None and candidate in self.lines:
                return self.lines[candidate]
        return self.line

    def describe(self) -> str:
        if self.action is not None:
            text = self.action.describe()
            return text + (f" (fails with {self.failure.describe()})" if self.failure else "")
        return "check " + "; ".join(c.describe() for c in self.checks)


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _step_kind(action: str | None) -> str:
    return f"{_a(action)} step" if action else "a step without an action"


def _step_fields(e: _Entry, actions: Sequence[str]) -> bool:
    """Every field of the step is an action, a field of its action, a common field or an
    expectation; a field of another action says whose it is (unless a field is unknown:
    then it may well be the misspelt action).  True when every field is known."""
    own = [f for action in actions for f in ACTIONS[action].fields]
    accepted = [*own, *ACTIONS, *_STEP_FIELDS, *CHECKS]
    owners = {f: name for name, kind in ACTIONS.items() for f in kind.fields}
    unknown = [key for key in e.data if key not in accepted and key not in owners]
    for key in unknown:
        e.error(key, _unknown("field", key, accepted, list(owners)))
    if unknown and not actions:
        return False
    for key in e.data:
        if key in owners and key not in accepted:
            told = _step_kind(actions[0] if actions else None)
            e.error(key, f"{key!r} goes with {owners[key]}, not with {told}")
    return not unknown


def _expected_failure(e: _Entry, action: str | None) -> ExpectedFailure | None:
    errno = e.get("error", _errno_name)
    contains = e.get("error_contains", _string())
    if errno is None and contains is None:
        return None
    key = "error" if "error" in e.data else "error_contains"
    if action is None or not ACTIONS[action].may_fail:
        told = _step_kind(action)
        more = "; a run step checks its exit status with status = N" if action == "run" else ""
        e.error(key, f"{key!r} does not apply to {told}: it says how the action fails{more}")
        return None
    return ExpectedFailure(errno, contains)


def _read_step(reader: _Reader, number: int, data: Mapping[str, object]) -> Step | None:
    e = _Entry(reader, "step", number, f"step {number}", data)
    name = e.get("name", _string())
    if name is not None:
        e.where = f"step {number} ({name})"
    actions = [key for key in data if key in ACTIONS]
    checks_given = [key for key in data if key in CHECKS]
    known = _step_fields(e, actions)
    if len(actions) > 1:
        e.error(actions[1], f"one action per step, got {' and '.join(actions)}; split it "
                            "into several steps")
    elif not actions and not checks_given and known:
        e.error(None, f"nothing to do: give an action ({', '.join(ACTIONS)}) and/or "
                      f"expectations ({', '.join(CHECKS)})")
    action_key = actions[0] if len(actions) == 1 else None
    action = ACTIONS[action_key].parse(e, action_key) if action_key else None
    failure = _expected_failure(e, action_key)
    checks = [CHECKS[key](e, key) for key in checks_given]
    if e.failed:
        return None
    found = tuple(c for c in checks if c is not None)
    return Step(number, e.line(), name, action_key, action, failure, found, e.lines())


# -- the file ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A parsed and validated scenario file."""

    path: Path
    machine: MachineSpec
    modules: tuple[ModuleSpec, ...]
    devices: tuple[DeviceSpec, ...]
    bridges: tuple[BridgeSpec, ...]
    steps: tuple[Step, ...]


_SECTIONS: dict[str, str] = {
    "machine": "a table ([machine])",
    "module": "an array of tables ([[module]])",
    "device": "an array of tables ([[device]])",
    "bridge": "an array of tables ([[bridge]])",
    "step": "an array of tables ([[step]])",
}

_TOML_ERROR = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$")


def _toml_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> ScenarioError:
    """tomllib's "message (at line L, column C)" as FILE:L:C: invalid TOML: message."""
    message = str(exc)
    found = _TOML_ERROR.match(message)
    if found:
        return ScenarioError(f"{path}:{found.group(2)}:{found.group(3)}: invalid TOML: "
                             f"{found.group(1)}")
    end = message.removesuffix(" (at end of document)")
    return ScenarioError(f"{path}:{text.count(chr(10)) + 1}: invalid TOML: {end}")


def _entries(reader: _Reader, data: Mapping[str, object], section: str) -> list[
        Mapping[str, object]]:
    """The tables of an array-of-tables section (none when absent or the wrong type)."""
    value = data.get(section, [])
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return [item for item in value if isinstance(item, dict)]
    reader.error(reader.locator.line(section), section,
                 f"{section!r} must be {_SECTIONS[section]} (got {_toml_type(value)})")
    return []


def _read_machine_section(reader: _Reader, data: Mapping[str, object]) -> MachineSpec:
    value = data.get("machine", {})
    if isinstance(value, dict):
        return _read_machine(reader, value)
    reader.error(reader.locator.line("machine"), "machine",
                 f"'machine' must be {_SECTIONS['machine']} (got {_toml_type(value)})")
    return MachineSpec()


def _numbered(items: Iterable[T | None]) -> tuple[T, ...]:
    return tuple(item for item in items if item is not None)


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file.  Raises ScenarioError listing every mistake in
    the file (in line order, at most one per field), or its TOML syntax error.  Builds each
    device model once to check its options; boots nothing."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, text, exc) from None
    reader = _Reader(path, text)
    for key in data:
        if key not in _SECTIONS:
            reader.error(reader.locator.line(key), "scenario", _unknown("table", key,
                                                                           list(_SECTIONS)))
    machine = _read_machine_section(reader, data)
    scenario = Scenario(
        path, machine,
        _numbered(_read_module(reader, n, d)
                  for n, d in enumerate(_entries(reader, data, "module"), 1)),
        _numbered(_read_device(reader, n, d)
                  for n, d in enumerate(_entries(reader, data, "device"), 1)),
        _numbered(_read_bridge(reader, n, d, machine)
                  for n, d in enumerate(_entries(reader, data, "bridge"), 1)),
        _numbered(_read_step(reader, n, d)
                  for n, d in enumerate(_entries(reader, data, "step"), 1)))
    if reader.errors:
        raise ScenarioError("\n".join(message for _, message in
                                      sorted(reader.errors, key=lambda e: e[0])))
    return scenario


# -- running -------------------------------------------------------------------------------------


class _Report:
    """What a run prints: a line per setup item and step, the failure, the summary."""

    def __init__(self, scenario: Scenario, console: Console) -> None:
        self.path = scenario.path
        self.console = console
        plain = not console.is_terminal
        self.ok = "ok" if plain else "✓"
        self.bad = "FAIL" if plain else "✗"

    def passed(self, label: str, text: str) -> None:
        self.console.print(Text.assemble((self.ok, "green"), f" {label}: {text}"),
                           highlight=False, soft_wrap=True)

    def failed(self, label: str, text: str, line: int, message: str) -> None:
        self.console.print(Text.assemble((self.bad, "bold red"), f" {label}: {text}"),
                           highlight=False, soft_wrap=True)
        self.console.print(Text(f"{self.path}:{line}: {label}: {message}", style="red"),
                           highlight=False, soft_wrap=True)

    @contextmanager
    def progress(self, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar over the timeline on a terminal (gone when the run ends); yields
        the function that advances it.  Plain output gets no bar."""
        if not self.console.is_terminal:
            yield lambda: None
            return
        bar = Progress(TextColumn("steps"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=self.console, transient=True,
                       auto_refresh=False)
        task = bar.add_task("steps", total=total)

        def advance() -> None:
            bar.advance(task)
            bar.refresh()

        with bar:
            yield advance

    def summary(self, text: str, good: bool) -> None:
        self.console.print(Text(text, style="bold green" if good else "bold red"),
                           highlight=False, soft_wrap=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class _StartBridge:
    """Setting a bridge up: start it and keep its stop for the end of the run."""

    bridge: BridgeSpec
    stops: list[tuple[str, Stop]]

    def describe(self) -> str:
        return f"start the {self.bridge.type} bridge"

    def perform(self, run: _Run) -> None:
        stop = BRIDGES[self.bridge.type].start(run.system, self.bridge.config)
        self.stops.append((f"bridge {self.bridge.number}", stop))


def _setup(run: _Run, report: _Report, stops: list[tuple[str, Stop]]) -> bool:
    """Load the modules, plug the devices, start the bridges; False (reported) at the first
    that fails."""
    scenario = run.scenario
    items: list[tuple[str, int, Action]] = [
        *((f"module {m.number}", m.line, LoadAction(m.name, m.args))
          for m in scenario.modules),
        *((f"device {d.number}", d.line, PlugAction(d.model, d.options, d.at))
          for d in scenario.devices),
        *((f"bridge {b.number}", b.line, _StartBridge(b, stops)) for b in scenario.bridges)]
    for label, line, action in items:
        try:
            action.perform(run)
        except (OSError, MachineError, BridgeError) as exc:
            report.failed(label, action.describe(), line, _error_text(exc))
            return False
        report.passed(label, action.describe())
    return True


def _run_step(run: _Run, step: Step) -> None:
    """Perform the step's action (settling the machine after it), then check its
    expectations in order.  Raises _Failed."""
    action, failure = step.action, step.failure
    if action is not None:
        try:
            action.perform(run)
        except (OSError, MachineError) as exc:
            if failure is None:
                raise _Failed(f"{action.describe()} failed: {_error_text(exc)}") from None
            mismatch = failure.mismatch(exc)
            if mismatch is not None:
                raise _Failed(f"expected {action.describe()} to fail with "
                              f"{failure.describe()}, but {mismatch}", "error") from None
        else:
            if failure is not None:
                raise _Failed(f"expected {action.describe()} to fail with "
                              f"{failure.describe()}, but it succeeded", "error")
        run.system.settle()
    for check in step.checks:
        check.check(run)


def _timeline(run: _Run, report: _Report, start: float) -> bool:
    steps = run.scenario.steps
    with report.progress(len(steps)) as advance:
        for step in steps:
            try:
                _run_step(run, step)
            except _Failed as exc:
                report.failed(step.label, step.describe(), step.line_of(exc.field), str(exc))
                report.summary(f"scenario failed at step {step.number} of {len(steps)} "
                               f"({run.system.time() - start:.3f} s of machine time)", False)
                return False
            advance()
            report.passed(step.label, step.describe())
    report.summary(f"scenario passed: {_plural(len(steps), 'step')}, "
                   f"{run.system.time() - start:.3f} s of machine time", True)
    return True


def _stop(report: _Report, stops: list[tuple[str, Stop]]) -> None:
    """Stop the bridges, last started first; a bridge that fails to stop is reported."""
    for label, stop in reversed(stops):
        try:
            stop()
        except (OSError, RuntimeError) as exc:
            report.console.print(f"{label}: could not be stopped: {_error_text(exc)}",
                                 highlight=False, markup=False, soft_wrap=True)


def run_scenario(scenario: Scenario, console: Console) -> bool:
    """Boot the scenario's machine, set it up, run its steps and print the report to
    `console`; True when every step did what the file says.  The machine is shut down
    afterwards (bridges stopped first).  Context: outside any event loop; runs the machine,
    for real time on a real_time machine."""
    m = scenario.machine
    system = boot(real_time=m.real_time, seed=m.seed, controllers=m.controllers,
                  ports=m.ports)
    report = _Report(scenario, console)
    stops: list[tuple[str, Stop]] = []
    try:
        start = system.time()
        run = _Run(scenario, system)
        return _setup(run, report, stops) and _timeline(run, report, start)
    finally:
        _stop(report, stops)
        system.close()
