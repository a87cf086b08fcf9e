"""Running a scenario: `run_scenario` boots the machine a `Scenario` declares, loads its
modules, plugs its devices and starts its bridges, then runs the steps in order — each
action, the machine settled, then its expectations — stopping at the first step that does
not do what the file says; the bridges are stopped and the machine shut down at the end.

The runner knows no particular action, expectation or bridge (they are the tables of
`actions`, `checks` and `bridges`) and prints nothing itself (`report` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console

from ...errors import SettleTimeout
from ..machine import MachineError, boot
from .actions import Action, LoadAction, PlugAction
from .bridges import BRIDGES, BridgeError, BridgeSpec, Stop
from .load import Scenario, Step
from .report import Report
from .state import Failed, Run, error_text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class _StartBridge:
    """Setting a bridge up: start it and keep its stop for the end of the run."""

    bridge: BridgeSpec
    stops: list[tuple[str, Stop]]

    def describe(self) -> str:
        return f"start the {self.bridge.type} bridge"

    def perform(self, run: Run) -> None:
        stop = BRIDGES[self.bridge.type].start(run.system, self.bridge.config)
        self.stops.append((f"bridge {self.bridge.number}", stop))


def _setup(run: Run, scenario: Scenario, report: Report,
           stops: list[tuple[str, Stop]]) -> bool:
    """Load the modules, plug the devices, start the bridges; False (reported) at the first
    that fails."""
    items: list[tuple[str, int, Action]] = [
        *((f"module {m.number}", m.line, LoadAction(m.name, m.args))
          for m in scenario.modules),
        *((f"device {d.number}", d.line, PlugAction(d.model, d.options, d.at))
          for d in scenario.devices),
        *((f"bridge {b.number}", b.line, _StartBridge(b, stops)) for b in scenario.bridges)]
    for label, line, action in items:
        try:
            action.perform(run)
        except (OSError, MachineError, BridgeError, SettleTimeout) as exc:
            report.failed(label, action.describe(), line, error_text(exc))
            return False
        report.passed(label, action.describe())
    return True


def _run_step(run: Run, step: Step) -> None:
    """Perform the step's action (settling the machine after it), then check its
    expectations in order.  Raises Failed."""
    action, failure = step.action, step.failure
    if action is not None:
        try:
            action.perform(run)
        except (OSError, MachineError) as exc:
            if failure is None:
                raise Failed(f"{action.describe()} failed: {error_text(exc)}") from None
            mismatch = failure.mismatch(exc)
            if mismatch is not None:
                raise Failed(f"expected {action.describe()} to fail with "
                             f"{failure.describe()}, but {mismatch}", "error") from None
        except SettleTimeout as exc:        # a probe that never returns, say
            raise Failed(f"{action.describe()}: {exc}") from None
        else:
            if failure is not None:
                raise Failed(f"expected {action.describe()} to fail with "
                             f"{failure.describe()}, but it succeeded", "error")
        try:
            run.system.settle()
        except SettleTimeout as exc:
            raise Failed(f"after {action.describe()}: {exc}") from None
    for check in step.checks:
        check.check(run)


def _timeline(run: Run, steps: Sequence[Step], report: Report, start: float) -> bool:
    """Run the steps in order; False (reported) at the first that fails."""
    with report.progress(len(steps)) as advance:
        for step in steps:
            try:
                _run_step(run, step)
            except Failed as exc:
                report.failed(step.label, step.describe(), step.line_of(exc.field), str(exc))
                report.summary(f"scenario failed at step {step.number} of {len(steps)} "
                               f"({run.system.time() - start:.3f} s of machine time)", False)
                return False
            advance()
            report.passed(step.label, step.describe())
    report.summary(f"scenario passed: {_plural(len(steps), 'step')}, "
                   f"{run.system.time() - start:.3f} s of machine time", True)
    return True


def _stop(report: Report, stops: list[tuple[str, Stop]]) -> None:
    """Stop the bridges, last started first; a bridge that fails to stop is reported."""
    for label, stop in reversed(stops):
        try:
            stop()
        except (OSError, RuntimeError) as exc:
            report.note(f"{label}: could not be stopped: {error_text(exc)}")


def run_scenario(scenario: Scenario, console: Console) -> bool:
    """Boot the scenario's machine, set it up, run its steps and print the report to
    `console`; True when every step did what the file says, False (reported) when a step
    did not or the machine cannot be built as [machine] says (a port count the controller
    kind does not have).  The machine is shut down
    afterwards (bridges stopped first).  Context: outside any event loop; runs the machine,
    for real time on a real_time machine."""
    m = scenario.machine
    report = Report(scenario.path, console)
    try:
        system = boot(real_time=m.real_time, seed=m.seed, controllers=m.controllers,
                      hcd=m.hcd, ports=m.ports)
    except MachineError as exc:
        report.failed("machine", m.describe(), m.line, str(exc))
        return False
    stops: list[tuple[str, Stop]] = []
    try:
        start = system.time()
        run = Run(system)
        return (_setup(run, scenario, report, stops)
                and _timeline(run, scenario.steps, report, start))
    finally:
        _stop(report, stops)
        system.close()
