"""The shell's kmod commands — insmod, rmmod, modprobe (and modprobe -r), lsmod — with
kmod's messages, and their completers (module names known to the machine, loaded ones
for removal, driver files of the host for insmod).

The machine's module loader does the work (`System.insmod`, `modprobe`, `rmmod`); these
are its command-line faces.  Usage lines and help texts are in the command table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import ModuleError
from ...kernel.kmod import EXAMPLE_MODULES
from .completion import complete_host, starting
from .invocation import Invocation, UsageError, flag_set, parse_options

if TYPE_CHECKING:
    from .interpreter import Shell


def do_insmod(call: Invocation) -> int:
    if not call.args:
        raise UsageError("insmod: ERROR: missing filename.")
    name, *params = call.args
    call.system.insmod(name, *params)
    return 0


def do_rmmod(call: Invocation) -> int:
    _, names = parse_options(call, "")
    if not names:
        raise UsageError("rmmod: ERROR: missing module name.")
    status = 0
    for name in names:
        try:
            call.system.rmmod(name)
        except ModuleError as exc:
            call.error(str(exc))
            status = 1
    return status


def do_modprobe(call: Invocation) -> int:
    opts, operands = parse_options(call, "r")
    if not operands:
        raise UsageError("modprobe: ERROR: missing parameters.")
    for message in call.system.modules.modprobe_config().errors:
        call.error(f"modprobe: ERROR: {message}")
    if "r" not in flag_set(opts):
        name, *params = operands
        call.system.modprobe(name, *params)
        return 0
    status = 0
    for name in operands:
        try:
            call.shell.run_on_machine(call.system.modules.modprobe_remove(name))
        except ModuleError as exc:
            call.error(str(exc))
            status = 1
    return status


def do_lsmod(call: Invocation) -> int:
    if call.args:
        raise UsageError("lsmod: takes no arguments")
    call.out.write(call.system.lsmod())
    return 0


def _module_names(shell: Shell) -> set[str]:
    modules = shell.system.modules
    return {*modules.available(), *EXAMPLE_MODULES, *(m.name for m in modules.loaded)}


def _loaded_names(shell: Shell) -> set[str]:
    return {m.name for m in shell.system.modules.loaded}


def complete_insmod(shell: Shell, args: list[str], word: str) -> list[str]:
    if args:
        return []
    if "/" in word:
        return complete_host(word)
    return starting(word, _module_names(shell))


def complete_modprobe(shell: Shell, args: list[str], word: str) -> list[str]:
    operands = [a for a in args if not a.startswith("-")]
    if "-r" in args:
        return starting(word, _loaded_names(shell) - set(operands))
    if operands or word.startswith("-"):
        return []
    return starting(word, _module_names(shell))


def complete_rmmod(shell: Shell, args: list[str], word: str) -> list[str]:
    """Loaded modules not named already (`rmmod a b` removes each once)."""
    if word.startswith("-"):
        return []
    return starting(word, _loaded_names(shell) - set(args))
