"""The whole scenario file: `load_scenario` reads the TOML, checks its sections, reads each
entry and step with the tables of `specs`, `bridges`, `actions` and `checks`, and returns a
validated `Scenario` — or raises `ScenarioError` listing every mistake in line order.

A step (`Step`) is read here: its action, its expectations, its common fields (`name`,
`error`, `error_contains`), and the mistakes that concern the step as a whole (two
actions, a field of another action, nothing to do).  Nothing here boots a machine or runs
a step; see `runner`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .actions import ACTIONS, Action, ExpectedFailure
from .bridges import BridgeSpec, read_bridge
from .checks import CHECKS, Check
from .fields import Entry, Reader, errno_name, string, toml_type, unknown
from .specs import DeviceSpec, MachineSpec, ModuleSpec, read_device, read_machine, read_module

T = TypeVar("T")


class ScenarioError(Exception):
    """A mistake in a scenario file; the message has one line per mistake, each starting
    with FILE:LINE, and says what would be accepted."""


_STEP_FIELDS = ("name", "error", "error_contains")


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


def _step_fields(e: Entry, actions: Sequence[str]) -> bool:
    """Every field of the step is an action, a field of its action, a common field or an
    expectation; a field of another action says whose it is (unless a field is unknown:
    then it may well be the misspelt action).  True when every field is known."""
    own = [f for action in actions for f in ACTIONS[action].fields]
    accepted = [*own, *ACTIONS, *_STEP_FIELDS, *CHECKS]
    owners = {f: name for name, kind in ACTIONS.items() for f in kind.fields}
    strangers = [key for key in e.data if key not in accepted and key not in owners]
    for key in strangers:
        e.error(key, unknown("field", key, accepted, list(owners)))
    if strangers and not actions:
        return False
    for key in e.data:
        if key in owners and key not in accepted:
            told = _step_kind(actions[0] if actions else None)
            e.error(key, f"{key!r} goes with {owners[key]}, not with {told}")
    return not strangers


def _expected_failure(e: Entry, action: str | None) -> ExpectedFailure | None:
    errno = e.get("error", errno_name)
    contains = e.get("error_contains", string())
    if errno is None and contains is None:
        return None
    key = "error" if "error" in e.data else "error_contains"
    if action is None or not ACTIONS[action].may_fail:
        told = _step_kind(action)
        more = "; a run step checks its exit status with status = N" if action == "run" else ""
        e.error(key, f"{key!r} does not apply to {told}: it says how the action fails{more}")
        return None
    return ExpectedFailure(errno, contains)


def _read_step(reader: Reader, number: int, data: Mapping[str, object]) -> Step | None:
    e = Entry(reader, "step", number, f"step {number}", data)
    name = e.get("name", string())
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


def _entries(reader: Reader, data: Mapping[str, object], section: str) -> list[
        Mapping[str, object]]:
    """The tables of an array-of-tables section (none when absent or the wrong type)."""
    value = data.get(section, [])
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return [item for item in value if isinstance(item, dict)]
    reader.error(reader.locator.line(section), section,
                 f"{section!r} must be {_SECTIONS[section]} (got {toml_type(value)})")
    return []


def _read_machine_section(reader: Reader, data: Mapping[str, object]) -> MachineSpec:
    value = data.get("machine", {})
    if isinstance(value, dict):
        return read_machine(reader, value)
    reader.error(reader.locator.line("machine"), "machine",
                 f"'machine' must be {_SECTIONS['machine']} (got {toml_type(value)})")
    return MachineSpec()


def _numbered(items: Iterable[T | None]) -> tuple[T, ...]:
    return tuple(item for item in items if item is not None)


def _no_steps(reader: Reader, data: Mapping[str, object]) -> None:
    """A file without a step would pass having checked nothing: that is a mistake (at
    `step = []`, or at line 1 when there is no step at all), reported when the file has
    no other — one still being written gets the mistakes in what it has."""
    if not reader.errors and data.get("step", []) == []:
        reader.error(reader.locator.line("step"), "scenario",
                     "no steps; a scenario needs at least one [[step]] (an action and/or "
                     "expectations), or it checks nothing")


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate the scenario file at `path` (a str or a Path).  Raises
    ScenarioError listing every mistake in the file (in line order, at most one per
    field; a file without steps when there is no other), or its TOML syntax error.
    Builds each device model once to check its options; boots nothing."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, text, exc) from None
    reader = Reader(path, text)
    for key in data:
        if key not in _SECTIONS:
            reader.error(reader.locator.line(key), "scenario", unknown("table", key,
                                                                      list(_SECTIONS)))
    machine = _read_machine_section(reader, data)
    scenario = Scenario(
        path, machine,
        _numbered(read_module(reader, n, d)
                  for n, d in enumerate(_entries(reader, data, "module"), 1)),
        _numbered(read_device(reader, n, d)
                  for n, d in enumerate(_entries(reader, data, "device"), 1)),
        _numbered(read_bridge(reader, n, d, machine)
                  for n, d in enumerate(_entries(reader, data, "bridge"), 1)),
        _numbered(_read_step(reader, n, d)
                  for n, d in enumerate(_entries(reader, data, "step"), 1)))
    _no_steps(reader, data)
    if reader.errors:
        raise ScenarioError("\n".join(message for _, message in
                                      sorted(reader.errors, key=lambda e: e[0])))
    return scenario
