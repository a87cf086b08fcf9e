"""What a shell command is given when it runs: an `Invocation` (the shell, the command's
name and arguments, its standard output as an `Output`), and the helpers every command
uses the same way — getopt_long's option parsing with its messages (`parse_options`,
`flag_set`), `UsageError` for a command typed wrongly, `strerror`, `abspath`.

It is the interface between the interpreter and the commands; it runs no command and
knows none.
"""

from __future__ import annotations

import getopt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from ...system import System

if TYPE_CHECKING:
    from .commands import Command
    from .interpreter import Shell


class UsageError(Exception):
    """The user typed a command wrongly; the message says how, the usage line follows."""


class Output:
    """A command's standard output: a text stream (bytes go to its binary buffer when it
    has one), or a buffer that the shell writes to a file afterwards."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.captured = bytearray()

    def write(self, text: str) -> None:
        if self.stream is None:
            self.captured += text.encode()
        else:
            self.stream.write(text)

    def write_bytes(self, data: bytes) -> None:
        if self.stream is None:
            self.captured += data
            return
        buffer = getattr(self.stream, "buffer", None)
        if buffer is None:
            self.stream.write(data.decode("utf-8", errors="replace"))
            return
        self.stream.flush()
        buffer.write(data)
        buffer.flush()

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()


@dataclass
class Invocation:
    """One run of a command: the shell, the command's name and arguments, its output."""

    shell: Shell
    name: str
    args: list[str]
    out: Output
    command: Command

    @property
    def system(self) -> System:
        return self.shell.system

    def error(self, text: str) -> None:
        """Print a message on the shell's error stream, as the tool words it."""
        self.shell.report(text, shell_level=self.command.builtin)


def strerror(exc: OSError) -> str:
    """strerror(3) of the error, as a tool prints it after `NAME: `."""
    return exc.strerror or str(exc)


def abspath(path: str) -> str:
    """The working directory is /."""
    return path if path.startswith("/") else "/" + path


def parse_options(call: Invocation, shortopts: str) -> tuple[list[tuple[str, str]], list[str]]:
    """getopt_long's parse (options may follow operands), with its messages; raises
    UsageError."""
    try:
        return getopt.gnu_getopt(call.args, shortopts)
    except getopt.GetoptError as exc:
        if exc.msg.startswith("option --"):
            raise UsageError(f"{call.name}: unrecognized option '--{exc.opt}'") from None
        if "requires argument" in exc.msg:
            raise UsageError(f"{call.name}: option requires an argument -- "
                             f"'{exc.opt}'") from None
        raise UsageError(f"{call.name}: invalid option -- '{exc.opt}'") from None


def flag_set(opts: Iterable[tuple[str, str]]) -> set[str]:
    """The letters of the options given (`-l -a` → {"l", "a"})."""
    return {opt.lstrip("-") for opt, _ in opts}
