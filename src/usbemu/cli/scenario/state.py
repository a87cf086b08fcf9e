"""A scenario run in progress, as actions and expectations see it: `Run` (the machine, every
kernel log line and uevent so far with how far expectations have matched them, the last
bytes written, a shell for run steps), and how a step says it did not do what the file
says: `Failed`, worded with `error_text` and `unified`.

It is the contract between the runner and the `actions` and `checks` tables; it performs
no action and checks nothing itself.
"""

from __future__ import annotations

import difflib
import io
from typing import TYPE_CHECKING

from ...errors import errname
from ...kernel.device import Uevent
from ...system import System

if TYPE_CHECKING:
    from ..shell.interpreter import Shell


class Failed(Exception):
    """A step did not do what the file says.  `field` is the step's key the failure is
    about (for its line); the message says what was expected and what happened."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Run:
    """What a running scenario keeps: the machine, every kernel log line and uevent so far
    with how far expectations have matched them, the last bytes written, the shell."""

    def __init__(self, system: System) -> None:
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
            from ..shell.interpreter import Shell

            self._shell = Shell(self.system, self._out, self._err)
        for stream in (self._out, self._err):
            stream.seek(0)
            stream.truncate()
        status = self._shell.execute(line)
        return status, self._out.getvalue(), self._err.getvalue()


def error_text(exc: Exception) -> str:
    """An OSError as `text (ENAME)`, with the tool's own line where it has one."""
    if isinstance(exc, OSError) and exc.errno:
        plain = type(exc).__str__ is OSError.__str__ and exc.strerror
        return f"{exc.strerror if plain else exc} ({errname(exc.errno)})"
    return str(exc) or type(exc).__name__


def unified(expected: str, actual: str) -> str:
    """A unified diff from `expected` to `actual` (at most 60 lines), for a failure."""
    lines = list(difflib.unified_diff(expected.splitlines(keepends=True),
                                      actual.splitlines(keepends=True),
                                      "expected", "actual", n=2))
    lines = [line if line.endswith("\n") else line + "\n" for line in lines]
    if len(lines) > 60:
        lines = [*lines[:60], f"… ({len(lines) - 60} more diff lines)\n"]
    return "".join(lines).rstrip("\n")
