"""The shell's interpreter, `Shell`: runs one command line on a machine — parse, look the
command up in the table, run it with its output on the terminal or redirected into a file
of the machine, and turn whatever goes wrong into the tool's message and exit status — and
proposes completions for a partial line.  It is also what a command sees of the machine as
a process does: open(2), read(2), close(2), and machine time that passes only while a
command runs.

One line at a time: the loop over lines, the prompt and the history are the front end's
(`frontend`); the commands themselves are in the table (`commands`).
"""

from __future__ import annotations

import asyncio
import posixpath
import signal
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO, TypeVar

from ...bridges.usbmon import Capture
from ...errors import ModuleError, SettleTimeout
from ...kernel.syscalls import AsyncFile
from ...system import System
from ..machine import MachineError, free_ports
from .commands import COMMANDS, complete_commands
from .invocation import Invocation, Output, UsageError, abspath, strerror
from .syntax import WORD_START, ParsedLine, ShellSyntaxError, loose_split, parse_line

T = TypeVar("T")


class CommandTimedOut(Exception):
    """The machine time `timeout` gave a command has passed (see `Shell.run_with_deadline`)."""


@contextmanager
def _sigint_interrupts(system: System) -> Iterator[list[bool]]:
    """While the body runs, the first SIGINT cancels the machine's foreground work
    (`System.interrupt`) instead of raising KeyboardInterrupt wherever the main thread
    happens to be — inside hub_wq or a probe, say; the list yielded is non-empty once that
    has happened.  A SIGINT while nothing runs on the machine, or a second one, raises
    KeyboardInterrupt at once, as asyncio.run does.  Only in the main thread and when SIGINT
    has Python's default handler; otherwise nothing changes."""
    interrupted: list[bool] = []
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield interrupted
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if interrupted or not system.interrupt():
            raise KeyboardInterrupt
        interrupted.append(True)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Shell:
    """A command interpreter on `system`: `execute` runs one line, `complete` proposes
    words.  Output goes to `out`, messages to `err`.  Context: outside the machine's loop;
    `execute` may sleep (runs the machine).

    `error_prefix`, when set (`run_shell` sets "usbemu: line N: " for piped input), starts
    every error line; otherwise tools' messages are printed as the tools word them and the
    shell's own start "usbemu: ".  After `exit`, `exit_requested` holds the status."""

    def __init__(self, system: System, out: TextIO, err: TextIO) -> None:
        self.system = system
        self.out = out
        self.err = err
        self.error_prefix: str | None = None
        self.last_status = 0
        self.exit_requested: int | None = None
        self._deadline: float | None = None
        #: The usbmon capture file the `capture` command is writing, if any.
        self.capture: Capture | None = None

    # -- running lines ----------------------------------------------------------------------

    def execute(self, line: str) -> int:
        """Run one command line; output to out, error messages to err; returns the exit
        status (0 success).  Never raises for a user mistake or a failing command: a
        usage error prints the usage, an unexpected exception prints one line ending
        "(internal error: ExceptionType)".  Ctrl-C (KeyboardInterrupt) cancels what the
        command was doing on the machine and propagates.  May sleep."""
        try:
            parsed = parse_line(line)
        except ShellSyntaxError as exc:
            self.report(str(exc), shell_level=True)
            status = 2
        else:
            status = 0 if parsed is None else self._interruptible(parsed)
        self.last_status = status
        return status

    def _interruptible(self, parsed: ParsedLine) -> int:
        """Run a command line so that Ctrl-C cancels what it runs on the machine and then
        raises KeyboardInterrupt; the machine itself (hub_wq, probes, other I/O) is left
        alone and stays usable."""
        with _sigint_interrupts(self.system) as interrupted:
            try:
                status = self._dispatch(parsed)
            except asyncio.CancelledError:
                if not interrupted:
                    raise
                raise KeyboardInterrupt from None
            if interrupted:
                raise KeyboardInterrupt
            return status

    def _dispatch(self, parsed: ParsedLine) -> int:
        name, args = parsed.words[0], parsed.words[1:]
        command = COMMANDS.get(name)
        if command is None:
            self.report(f"{name}: command not found", shell_level=True)
            return 127
        if "--help" in args and not command.literal_args:
            self.out.write(f"Usage: {command.usage}\n{command.summary}\n")
            return 0
        if parsed.redirect is None:
            return self._invoke(Invocation(self, name, args, Output(self.out), command))
        return self._redirected(Invocation(self, name, args, Output(None), command),
                                *parsed.redirect)

    def _redirected(self, call: Invocation, op: str, target: str) -> int:
        """`command > FILE`: the file is opened first (nothing runs if that fails), the
        output written with as many write(2)s as the file takes, then closed."""
        try:
            afile = self.open(target, "ab" if op == ">>" else "wb")
        except OSError as exc:
            self.report(f"{target}: {strerror(exc)}", shell_level=True)
            return 1
        try:
            status = self._invoke(call)
            data = memoryview(bytes(call.out.captured))
            while data:
                data = data[self.run_on_machine(afile.write(data)):]
        except OSError as exc:
            call.error(f"{call.name}: write error: {strerror(exc)}")
            return 1
        finally:
            self.close(afile)
        return status

    def _invoke(self, call: Invocation) -> int:
        command = call.command
        try:
            return command.run(call)
        except UsageError as exc:
            call.error(f"{exc}\nUsage: {command.usage}")
            return command.usage_status
        except CommandTimedOut:
            raise
        except (MachineError, ModuleError, SettleTimeout) as exc:
            text = str(exc) if str(exc).startswith(f"{call.name}:") else f"{call.name}: {exc}"
            call.error("\n".join([text, *getattr(exc, "__notes__", [])]))
            return 1
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            call.error(f"{call.name}: {where}{strerror(exc)}")
            return 1
        except Exception as exc:
            detail = f"{exc} " if str(exc) else ""
            call.error(f"{call.name}: {detail}(internal error: {type(exc).__name__})")
            return 1
        finally:
            call.out.flush()

    def report(self, text: str, *, shell_level: bool = False) -> None:
        """Print an error message: with `error_prefix` on every line when one is set, else
        with "usbemu: " before a message of the shell's own (`shell_level`)."""
        self.out.flush()
        for number, line in enumerate(text.split("\n")):
            if self.error_prefix is not None:
                line = self.error_prefix + line
            elif shell_level and number == 0:
                line = "usbemu: " + line
            self.err.write(line + "\n")
        self.err.flush()

    # -- the machine, as a process sees it ---------------------------------------------------

    def run_on_machine(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the machine until it finishes; Ctrl-C cancels it (see `execute`).
        Under `timeout`, the command's deadline cancels it too, raising CommandTimedOut.
        May sleep."""
        if self._deadline is None:
            return self.system.run(coro)
        return self.system.run(self._before(self._deadline, coro))

    @staticmethod
    async def _before(deadline: float, coro: Coroutine[Any, Any, T]) -> T:
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                return await coro
        except TimeoutError:
            if timeout.expired():
                raise CommandTimedOut from None
            raise

    def run_with_deadline(self, seconds: float | None, call: Invocation) -> int:
        """Run the command `call` with `seconds` of machine time for what it does on the
        machine (reads, writes, sleeps; None: no limit of its own), as coreutils' timeout
        does: its status, or 124 when the time ran out (what it had printed stays
        printed).  May sleep."""
        outer = self._deadline
        deadline = outer if seconds is None else self.system.time() + seconds
        self._deadline = deadline if outer is None or deadline is None else min(outer,
                                                                                deadline)
        try:
            return self._invoke(call)
        except CommandTimedOut:
            if outer is not None and self._deadline == outer:
                raise
            return 124
        finally:
            self._deadline = outer

    def open(self, path: str, mode: str = "rb") -> AsyncFile:
        """open(2) of a path of the machine (relative to /).  Raises OSError.  May sleep."""
        return self.run_on_machine(self.system.aopen(abspath(path), mode))

    def close(self, afile: AsyncFile) -> None:
        """close(2); never cut short by `timeout` (a file is always closed)."""
        self.system.run(afile.close())

    def read_chunks(self, afile: AsyncFile, size: int) -> Iterator[bytes]:
        """read(2)s of up to `size` bytes until end of file.  Raises OSError."""
        while chunk := self.run_on_machine(afile.read(size)):
            yield chunk

    def plugged_ports(self) -> list[str]:
        """Port paths with a device model plugged in, hubs' ports included."""
        return [path for path, _ in self.system.models()]

    def free_ports(self) -> list[str]:
        """Port paths where a device could be plugged in: empty root-hub and hub ports."""
        return sorted(free_ports(self.system))

    # -- completion -----------------------------------------------------------------------

    def complete(self, line: str) -> list[str]:
        """Completion candidates for the last word of the partial `line` (each a whole
        word that replaces it; directories end in "/"): command names, then per command
        paths of the machine, model names, module names, port paths …"""
        start = WORD_START.search(line)
        assert start is not None
        word = line[start.start():].replace('"', "").replace("'", "")
        before = line[:start.start()]
        if before.rstrip().endswith(">"):
            return self.complete_path(word)
        words = loose_split(before)
        if not words:
            return complete_commands(self, [], word)
        command = COMMANDS.get(words[0])
        if command is None:
            return []
        return command.complete(self, words[1:], word)

    def complete_path(self, word: str) -> list[str]:
        """Entries of the machine's tree that `word` (a path, relative to /) starts,
        directories (and links to them) with a trailing "/"."""
        tail = word.rpartition("/")[2]
        prefix = word[:len(word) - len(tail)]
        directory = abspath(prefix) if prefix else "/"
        vfs = self.system.vfs
        try:
            names = vfs.listdir(directory)
        except OSError:
            return []
        found = []
        for name in names:
            if name.startswith(tail) and (tail.startswith(".") or not name.startswith(".")):
                try:
                    is_dir = vfs.stat(posixpath.join(directory, name)).is_dir
                except OSError:
                    is_dir = False
                found.append(prefix + name + ("/" if is_dir else ""))
        return found
