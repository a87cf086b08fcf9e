"""Fault plans from words — what the shell's `fault` command and a scenario's `fault` step
say, turned into `usbemu.emulated.faults` calls on the model at a port path.

The words are the same in both places: `PORT-PATH KIND [NAME=VALUE...]` arms a fault
(`stall ep=0x81 count=1`), `PORT-PATH list` prints the armed faults and what they hit,
`PORT-PATH clear` disarms them, `PORT-PATH seed N` starts a new plan with seed N.  A model
gets a plan (seed 0) the first time a fault is armed on it.  Nothing here runs the machine's
loop: arming a fault is atomic on the device side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from ..emulated.device import DeviceModel
from ..emulated.faults import Fault, FaultPlan, inject_faults, parse_fault
from ..system import System
from .machine import MachineError, check_port_path, parse_assignments

__all__ = ["FAULT_USAGE", "check_fault_words", "fault_command"]

FAULT_USAGE: Final = ("fault PORT-PATH KIND [NAME=VALUE...] | fault PORT-PATH list | "
                      "fault PORT-PATH clear | fault PORT-PATH seed N")


def _plan(model: DeviceModel) -> FaultPlan:
    plan = model.faults
    if plan is None:
        plan = FaultPlan()
        inject_faults(model, plan)
    return plan


def _list(model: DeviceModel, args: Sequence[str]) -> str:
    plan = model.faults
    if plan is None:
        return "no faults\n"
    armed = plan.describe() or "no faults armed\n"
    return f"seed {plan.seed}\n{armed}" + "".join(f"{hit}\n" for hit in plan.record)


def _clear(model: DeviceModel, args: Sequence[str]) -> str:
    if model.faults is not None:
        model.faults.clear()
    return ""


def _seed(model: DeviceModel, args: Sequence[str]) -> str:
    inject_faults(model, FaultPlan(seed=_seed_value(args)))
    return ""


def _seed_value(args: Sequence[str]) -> int:
    if len(args) != 1:
        raise MachineError("fault: seed takes one number, e.g. fault 1-1 seed 7")
    try:
        return int(args[0], 0)
    except ValueError:
        raise MachineError(f"fault: seed {args[0]!r} is not a number") from None


def _arm(model: DeviceModel, kind: str, args: Sequence[str]) -> str:
    fault = _fault(kind, args)
    index = _plan(model).add(fault)
    return f"fault {index}: {fault}\n"


def _fault(kind: str, args: Sequence[str]) -> Fault:
    try:
        return parse_fault(kind, parse_assignments(args))
    except ValueError as exc:
        raise MachineError(f"fault: {exc}") from None


_VERBS: Final[Mapping[str, Callable[[DeviceModel, Sequence[str]], str]]] = {
    "list": _list,
    "clear": _clear,
    "seed": _seed,
}


def check_fault_words(words: Sequence[str]) -> None:
    """Check `PORT-PATH KIND|list|clear|seed [ARG...]` without a machine.  Raises
    MachineError naming the word to fix."""
    if len(words) < 2:
        raise MachineError(f"fault: expected a port path and what to do: {FAULT_USAGE}")
    check_port_path(words[0])
    verb, args = words[1], words[2:]
    if verb == "seed":
        _seed_value(args)
    elif verb not in _VERBS:
        _fault(verb, args)
    elif verb != "seed" and args:
        raise MachineError(f"fault: {verb} takes no arguments")


def fault_command(system: System, words: Sequence[str]) -> str:
    """Run `PORT-PATH KIND|list|clear|seed [ARG...]` on the model at the port path;
    returns what to print.  Raises MachineError for bad words or an empty port."""
    check_fault_words(words)
    path, verb, args = words[0], words[1], words[2:]
    model = dict(system.models()).get(path)
    if model is None:
        raise MachineError(f"fault: nothing is plugged in at {path}")
    action = _VERBS.get(verb)
    if action is not None:
        return action(model, args)
    return _arm(model, verb, args)
