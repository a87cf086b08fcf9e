"""The shell's front ends: `run_shell` reads lines from piped input like `sh -e` (no
prompt, stop at the first failing command, errors prefixed with the line number) or, on a
terminal, interactively with prompt_toolkit (banner, prompt, TAB completion, a history
file, Ctrl-C and Ctrl-D as bash treats them).

The loop only: each line is run by `Shell.execute` and completed by `Shell.complete`.
prompt_toolkit is imported only when a terminal session starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ...kernel.device import Driver
from ...system import System
from .capture import stop_capture
from .interpreter import Shell
from .invocation import strerror
from .syntax import WORD_START

PROMPT = "usbemu# "


def history_path() -> Path:
    """Where the interactive shell keeps its history: $XDG_STATE_HOME/usbemu/history
    (~/.local/state/usbemu/history when unset or not absolute, as the XDG spec says)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "usbemu" / "history"


def _driver_name(driver: Driver | None) -> str:
    return driver.name if driver is not None else "no driver"


def banner(system: System) -> str:
    """The line the interactive shell starts with: buses, controllers, ports, clock."""
    buses = [f"bus {hcd.bus.busnum} ({_driver_name(hcd.controller.driver)}), "
             f"{hcd.nports} ports" for hcd in system.controllers if hcd.bus is not None]
    clock = "virtual time" if system.virtual else "real time"
    return (f"usbemu shell: {'; '.join(buses) or 'no USB bus'}; {clock}; "
            "'help' lists commands")


def run_shell(system: System, stdin: TextIO, stdout: TextIO, stderr: TextIO,
              *, interactive: bool | None = None) -> int:
    """Run a shell on `system` until exit, end of input or the first failing command of
    piped input; returns the exit status.  `interactive` None means: stdin.isatty() and
    stdout.isatty().  Interactive: prompt, completion, history, Ctrl-C cancels the line
    (or the running command), Ctrl-D leaves with 0.  Piped: like `sh -e` — no prompt,
    empty lines and comments skipped, stop at the first failing command with its status,
    its errors prefixed "usbemu: line N: ".  May sleep (runs the machine)."""
    if interactive is None:
        interactive = stdin.isatty() and stdout.isatty()
    shell = Shell(system, stdout, stderr)
    try:
        if interactive:
            return _interactive(shell, stdin, stdout)
        return _piped(shell, stdin)
    finally:
        stop_capture(shell)  # leaving the shell closes its capture file


def _piped(shell: Shell, stdin: TextIO) -> int:
    for number, line in enumerate(stdin, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        shell.error_prefix = f"usbemu: line {number}: "
        try:
            status = shell.execute(line.rstrip("\n"))
        except KeyboardInterrupt:
            return 130
        if shell.exit_requested is not None:
            return shell.exit_requested
        if status:
            return status
    return 0


@dataclass
class _Session:
    """What the interactive loop needs of prompt_toolkit (imported only when used)."""

    prompt: Callable[[], str]
    history_note: str | None = None


def _prompt_session(shell: Shell, stdin: TextIO, stdout: TextIO) -> _Session:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.input import create_input
    from prompt_toolkit.output import create_output
    from prompt_toolkit.shortcuts import CompleteStyle

    class ShellCompleter(Completer):
        def get_completions(self, document: Document,
                            complete_event: CompleteEvent) -> Iterator[Completion]:
            text = document.text_before_cursor
            match = WORD_START.search(text)
            start = -(len(text) - match.start()) if match is not None else 0
            for word in shell.complete(text):
                end = "" if word.endswith(("/", "=")) else " "
                yield Completion(word + end, start_position=start, display=word)

    path = history_path()
    history: History
    note = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
        history = FileHistory(str(path))
    except OSError as exc:
        history = InMemoryHistory()
        note = f"usbemu: history is kept in memory only ({path}: {strerror(exc)})"
    session: PromptSession[str] = PromptSession(
        history=history, completer=ShellCompleter(), complete_while_typing=False,
        complete_style=CompleteStyle.READLINE_LIKE, input=create_input(stdin),
        output=create_output(stdout))
    return _Session(lambda: session.prompt(PROMPT), note)


def _interactive(shell: Shell, stdin: TextIO, stdout: TextIO) -> int:
    session = _prompt_session(shell, stdin, stdout)
    stdout.write(banner(shell.system) + "\n")
    if session.history_note:
        shell.report(session.history_note)
    while True:
        try:
            line = session.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        try:
            shell.execute(line)
        except KeyboardInterrupt:
            stdout.write("\n")
            shell.last_status = 130
        stdout.flush()
        if shell.exit_requested is not None:
            return shell.exit_requested
