"""The shell's `fault` command: fault plans on the devices plugged in (`cli.faults` reads
the words, as it does for scenario files), and its completer — port paths, then the fault
kinds and list, clear, seed, then the option names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...emulated.faults import FAULT_OPTIONS, FaultKind
from ..faults import fault_command
from .completion import starting
from .invocation import Invocation

if TYPE_CHECKING:
    from .interpreter import Shell


def do_fault(call: Invocation) -> int:
    call.out.write(fault_command(call.system, call.args))
    return 0


def complete_fault(shell: Shell, args: list[str], word: str) -> list[str]:
    if not args:
        return starting(word, shell.plugged_ports())
    if len(args) == 1:
        return starting(word, [*(k.value for k in FaultKind), "list", "clear", "seed"])
    if args[1] in ("list", "clear", "seed"):
        return []
    return starting(word, [f"{name}=" for name in FAULT_OPTIONS])
