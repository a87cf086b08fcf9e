"""The actions of a step — plug, unplug, write, read, run, sleep, load, unload, fault: the
`ACTIONS` table (name → parser, the fields that go with it, whether the step may expect it
to fail), the `Action`s the parsers return, and `ExpectedFailure` (`error`,
`error_contains`).

A parser reads its fields from the step's `Entry` (recording mistakes) and returns an
action; the action describes itself and performs itself on a `Run`, raising `Failed` when
a result is not the one the step expects.  A new action is one entry of the table.  The
step's other fields and its expectations are read elsewhere (`load`, `checks`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...errors import Errno
from ...kernel.vtime import MAX_SLEEP_DAYS, MAX_SLEEP_MS
from ..faults import check_fault_words, fault_command
from ..machine import MachineError, load_module, plug, unplug
from .fields import (
    Entry,
    hex_bytes,
    integer,
    machine_path,
    module_args,
    number,
    port_path,
    regex,
    string,
    strings,
    table,
)
from .specs import check_model, model_spec, module_name
from .state import Failed, Run, error_text, unified

#: What `expect` of a read step says to compare with the bytes the last write step wrote.
LAST_WRITE = "@last-write"
#: How much a read step asks for when it gives no `size`.
DEFAULT_READ_SIZE = 4096


class Action(Protocol):
    """What a step does.  `perform` raises OSError or MachineError when the machine refuses
    (an expected failure if the step says so), `Failed` when a result is not the one the
    step expects.  Context: outside the machine's loop; runs it."""

    def describe(self) -> str: ...

    def perform(self, run: Run) -> None: ...


@dataclass(frozen=True)
class PlugAction:
    spec: str
    options: Mapping[str, object]
    at: str | None

    def describe(self) -> str:
        opts = " ".join(f"{k}={v}" for k, v in self.options.items())
        return " ".join(filter(None, ("plug", Path(self.spec).name, opts,
                                      f"at {self.at}" if self.at else "")))

    def perform(self, run: Run) -> None:
        plug(run.system, self.spec, self.options, self.at)


@dataclass(frozen=True)
class UnplugAction:
    port: str

    def describe(self) -> str:
        return f"unplug {self.port}"

    def perform(self, run: Run) -> None:
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

    def perform(self, run: Run) -> None:
        data = self.data if self.data is not None else run.system.random.randbytes(
            self.random or 0)
        with run.system.open(self.path, "wb") as f:
            written = f.write(data)
        run.last_write = data
        if written != len(data):
            raise Failed(f"write to {self.path} wrote {written} of {len(data)} bytes "
                         "(a short write)", "write")


@dataclass(frozen=True)
class ReadAction:
    path: str
    size: int
    expect: bytes | str | None  # the bytes, LAST_WRITE, or nothing to compare
    expect_key: str = "expect"  # the field that says what to expect

    def describe(self) -> str:
        return f"read {self.path}"

    def perform(self, run: Run) -> None:
        with run.system.open(self.path, "rb") as f:
            data = f.read(self.size)
        expected = run.last_write if self.expect == LAST_WRITE else self.expect
        if not isinstance(expected, bytes) or data == expected:
            return
        raise Failed(f"read {self.path} returned {_bytes_shown(data)}, expected "
                     f"{_bytes_shown(expected)}", self.expect_key)


def _bytes_shown(data: bytes) -> str:
    if len(data) <= 64:
        return repr(data.decode()) if _printable(data) else f"{len(data)} bytes: {data.hex(' ')}"
    return f"{len(data)} bytes starting {data[:16].hex(' ')} …"


@dataclass(frozen=True)
class RunAction:
    command: str
    status: int
    output: str | None
    contains: tuple[str, ...]
    matches: re.Pattern[str] | None

    def describe(self) -> str:
        return f"run {self.command}"

    def perform(self, run: Run) -> None:
        status, out, err = run.shell(self.command)
        said = f"; it printed to stderr:\n{err.rstrip()}" if err else ""
        if status != self.status:
            raise Failed(f"{self.command!r} exited with status {status}, expected "
                         f"{self.status}{said}", "status")
        if self.output is not None and out != self.output:
            raise Failed(f"the output of {self.command!r} is not the expected output:\n"
                         f"{unified(self.output, out)}", "expect_output")
        for text in self.contains:
            if text not in out:
                raise Failed(f"the output of {self.command!r} does not contain {text!r}; "
                             f"it was:\n{out.rstrip()}", "output_contains")
        if self.matches is not None and not self.matches.search(out):
            raise Failed(f"the output of {self.command!r} does not match "
                         f"/{self.matches.pattern}/; it was:\n{out.rstrip()}",
                         "output_matches")


@dataclass(frozen=True)
class SleepAction:
    ms: float

    def describe(self) -> str:
        return f"sleep {self.ms:g} ms"

    def perform(self, run: Run) -> None:
        run.system.sleep(self.ms)


@dataclass(frozen=True)
class LoadAction:
    name: str
    args: tuple[str, ...]

    def describe(self) -> str:
        return " ".join(("load", Path(self.name).name, *self.args))

    def perform(self, run: Run) -> None:
        load_module(run.system, self.name, self.args)


@dataclass(frozen=True)
class UnloadAction:
    name: str

    def describe(self) -> str:
        return f"unload {self.name}"

    def perform(self, run: Run) -> None:
        run.system.rmmod(self.name)


@dataclass(frozen=True)
class FaultAction:
    words: tuple[str, ...]

    def describe(self) -> str:
        return " ".join(("fault", *self.words))

    def perform(self, run: Run) -> None:
        fault_command(run.system, self.words)


def _parse_plug(e: Entry, key: str) -> Action | None:
    value = e.get(key, string("a device model name or a clone file"))
    at = e.get("at", port_path)
    options = e.get("options", table("a table of model options, like { ports = 4 }")) or {}
    spec = model_spec(e, key, value, clone=False) if value is not None else None
    if spec is None or e.failed:
        return None
    check_model(e, key, spec, options)
    return PlugAction(spec, options, at)


def _parse_unplug(e: Entry, key: str) -> Action | None:
    port = e.get(key, port_path)
    return None if port is None else UnplugAction(port)


def _parse_write(e: Entry, key: str) -> Action | None:
    path = e.get(key, machine_path)
    source = e.one_of(("data", "hex", "random"), "what to write", key)
    data: bytes | None = None
    count: int | None = None
    if source == "data":
        text = e.get("data", string())
        data = None if text is None else text.encode()
    elif source == "hex":
        data = e.get("hex", hex_bytes)
    elif source == "random":
        count = e.get("random", integer("a byte count from 1 to 1048576", 1, 1 << 20))
    e.reader.writes += 1
    if path is None or (data is None and count is None):
        return None
    return WriteAction(path, data, count)


def _parse_read(e: Entry, key: str) -> Action | None:
    path = e.get(key, machine_path)
    size = e.value("size", integer("a byte count from 1 to 1048576", 1, 1 << 20),
                   DEFAULT_READ_SIZE)
    expect: bytes | str | None = None
    if "expect" in e.data and "expect_hex" in e.data:
        e.error("expect_hex", "give 'expect' or 'expect_hex', not both")
    elif "expect_hex" in e.data:
        expect = e.get("expect_hex", hex_bytes)
    elif "expect" in e.data:
        text = e.get("expect", string(f'the text read, or "{LAST_WRITE}"'))
        if text == LAST_WRITE and not e.reader.writes:
            e.error("expect", f"'expect': \"{LAST_WRITE}\" needs a write step before this one")
        expect = text if text == LAST_WRITE or text is None else text.encode()
    expect_key = "expect_hex" if "expect_hex" in e.data else "expect"
    return None if path is None else ReadAction(path, size, expect, expect_key)


def _parse_run(e: Entry, key: str) -> Action | None:
    command = e.get(key, string('a shell command line, like "lsusb -t"'))
    status = e.value("status", integer(), 0)
    output = e.get("expect_output", string())
    contains = e.get("output_contains", strings()) or ()
    matches = e.get("output_matches", regex)
    if command is not None and not command.strip():
        e.error(key, "the command line is empty")
        return None
    return None if command is None else RunAction(command, status, output, contains, matches)


def _parse_sleep(e: Entry, key: str) -> Action | None:
    ms = e.get(key, number(f"milliseconds of machine time from 0 to {MAX_SLEEP_MS} "
                           f"({MAX_SLEEP_DAYS} days)", hi=MAX_SLEEP_MS))
    return None if ms is None else SleepAction(ms)


def _parse_load(e: Entry, key: str) -> Action | None:
    name = module_name(e, key)
    args = e.get("params", module_args) or ()
    return None if name is None else LoadAction(name, args)


def _parse_fault(e: Entry, key: str) -> Action | None:
    text = e.get(key, string('a port path and a fault, like "1-1 stall ep=0x81 count=1"'))
    if text is None:
        return None
    words = tuple(text.split())
    try:
        check_fault_words(words)
    except MachineError as exc:
        e.error(key, str(exc).removeprefix("fault: "))
        return None
    return FaultAction(words)


def _parse_unload(e: Entry, key: str) -> Action | None:
    name = e.get(key, string('a module name, like "pen_driver"'))
    return None if name is None else UnloadAction(name)


@dataclass(frozen=True)
class ActionType:
    """One action of a step: its parser, the fields that go with it, and whether the step
    may say it is expected to fail (`error`, `error_contains`)."""

    parse: Callable[[Entry, str], Action | None]
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
    "fault": ActionType(_parse_fault),
}


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
        return f"it failed with {error_text(exc)}" if wrong_errno or wrong_text else None
