"""The expectations of a step — expect_dmesg, expect_event, expect_file, expect_exists,
expect_absent: the `CHECKS` table (name → parser) and the `Check`s the parsers return.

A check describes itself and checks the machine of a `Run` after the step's action,
raising `Failed` with what was expected and what the machine shows (the last log lines or
uevents, a diff of a file).  Log lines and uevents are matched in order, each expectation
after the last one matched.  A new expectation is one entry of the table.  Actions are in
`actions`; this module changes nothing on the machine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ...kernel.device import Uevent
from .fields import Entry, WrongType, machine_path, regex, string, strings, tables
from .state import Failed, Run, error_text, unified

#: How many of the last log lines or uevents a failed expectation shows.
SHOWN = 12


class Check(Protocol):
    """An expectation of a step, checked after its action.  `check` raises `Failed`."""

    def describe(self) -> str: ...

    def check(self, run: Run) -> None: ...


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

    def check(self, run: Run) -> None:
        for text in self.texts:
            seen = run.dmesg_seen
            found = next((i for i in range(seen, len(run.dmesg)) if text in run.dmesg[i]), None)
            if found is None:
                since = "after the previous match" if seen else "since boot"
                raise Failed(f"expected a kernel log line containing {text!r}, but none was "
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

    def check(self, run: Run) -> None:
        for pattern in self.patterns:
            seen = run.events_seen
            found = next((i for i in range(seen, len(run.events))
                          if pattern.matches(run.events[i])), None)
            if found is None:
                since = "after the previous match" if seen else "since the start of the run"
                lines = [_event_line(e) for e in run.events[seen:]]
                raise Failed(f"expected a uevent {pattern.describe()}, but none came {since}; "
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

    def check(self, run: Run) -> None:
        try:
            text = run.system.vfs.read(self.path).decode("utf-8", "replace")
        except OSError as exc:
            raise Failed(f"expected to read {self.path}, but it failed: "
                         f"{error_text(exc)}", "expect_file") from None
        if self.content is not None and text != self.content:
            if _one_line(text) and _one_line(self.content):
                raise Failed(f"{self.path} reads {text!r}, expected {self.content!r}",
                             "expect_file")
            raise Failed(f"{self.path} does not read as expected:\n"
                         f"{unified(self.content, text)}", "expect_file")
        if self.contains is not None and self.contains not in text:
            raise Failed(f"{self.path} does not contain {self.contains!r}; it reads "
                         f"{text!r}", "expect_file")
        if self.matches is not None and not self.matches.search(text):
            raise Failed(f"{self.path} does not match /{self.matches.pattern}/; it reads "
                         f"{text!r}", "expect_file")


@dataclass(frozen=True)
class FileChecks:
    files: tuple[FileCheck, ...]

    def describe(self) -> str:
        return ", ".join(f.describe() for f in self.files)

    def check(self, run: Run) -> None:
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

    def check(self, run: Run) -> None:
        for path in self.paths:
            if run.system.vfs.exists(path) != self.present:
                key = "expect_exists" if self.present else "expect_absent"
                raise Failed(f"expected {path} to exist, but it does not" if self.present
                             else f"expected {path} to be absent, but it exists", key)


def _parse_dmesg(e: Entry, key: str) -> Check | None:
    texts = e.get(key, strings("a text, or an array of texts, of kernel log lines"))
    return None if texts is None else DmesgCheck(texts)


def _env(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise WrongType('a table of strings, like { PRODUCT = "58f/6387/100" }')
    return {str(k): str(v) for k, v in value.items()}


def _event_pattern(e: Entry, key: str, table: Mapping[str, object]) -> EventPattern | None:
    sub = e.table(key, table)
    sub.only(_EVENT_FIELDS)
    text = string()
    pattern = EventPattern(sub.get("action", text), sub.get("device", text),
                           sub.get("devpath", text), sub.get("devpath_contains", text),
                           sub.value("env", _env, {}))
    if not table:
        sub.error(None, f"say what the uevent has: {', '.join(_EVENT_FIELDS)}")
    e.failed = e.failed or sub.failed
    return None if sub.failed else pattern


def _parse_event(e: Entry, key: str) -> Check | None:
    items = e.get(key, tables("a table like { action = \"remove\", device = \"1-1\" }, "
                              "or an array of them"))
    if items is None:
        return None
    patterns = [_event_pattern(e, key, t) for t in items]
    found = tuple(p for p in patterns if p is not None)
    return EventCheck(found) if len(found) == len(patterns) else None


_FILE_FIELDS = ("path", "content", "contains", "matches")


def _file_check(e: Entry, key: str, table: Mapping[str, object]) -> FileCheck | None:
    sub = e.table(key, table)
    sub.only(_FILE_FIELDS)
    path = sub.require("path", machine_path, "the file of the machine's tree to read")
    sub.one_of(("content", "contains", "matches"), "what the file must hold")
    check = FileCheck(path or "", sub.get("content", string()), sub.get("contains", string()),
                      sub.get("matches", regex))
    e.failed = e.failed or sub.failed
    return None if sub.failed else check


def _parse_file(e: Entry, key: str) -> Check | None:
    items = e.get(key, tables('a table like { path = "/sys/…/idVendor", content = '
                              '"058f\\n" }, or an array of them'))
    if items is None:
        return None
    checks = [_file_check(e, key, t) for t in items]
    found = tuple(c for c in checks if c is not None)
    return FileChecks(found) if len(found) == len(checks) else None


def _paths(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise WrongType("a path of the machine's tree, or an array of them")
    return tuple(machine_path(item) for item in items)


def _parse_exists(e: Entry, key: str) -> Check | None:
    paths = e.get(key, _paths)
    return None if paths is None else ExistsCheck(paths, present=True)


def _parse_absent(e: Entry, key: str) -> Check | None:
    paths = e.get(key, _paths)
    return None if paths is None else ExistsCheck(paths, present=False)


#: Expectation name → its parser (the Check it returns does the checking).  A new
#: expectation adds an entry.
CHECKS: dict[str, Callable[[Entry, str], Check | None]] = {
    "expect_dmesg": _parse_dmesg,
    "expect_event": _parse_event,
    "expect_file": _parse_file,
    "expect_exists": _parse_exists,
    "expect_absent": _parse_absent,
}
