"""Scenario files — `usbemu run SCENARIO.toml`: a declared machine and a timeline of steps,
each step with expectations that are checked as it runs.

A scenario is a TOML file.  `[machine]` gives the boot options; the `[[module]]`s are loaded
and the `[[device]]`s plugged in order at the start, then the `[[bridge]]`s are started;
then the `[[step]]`s run in order.  A step does at most one action (plug, unplug, write,
read, run, sleep, load, unload, fault) and checks any number of expectations (kernel log lines,
uevents, file contents, paths that exist or do not).  Actions, expectations and bridges are
tables (name → parser and runner, name → checker, type → starter), so a new one is one
entry and the runner does not change.  The format is documented in docs/scenarios.md.

`load_scenario` validates the whole file before anything runs and reports every mistake it
finds, each as `FILE:LINE: where: what was wrong; what is accepted` (`ScenarioError`);
`run_scenario` boots the machine, runs the timeline and stops at the first step that does
not do what the file says, reporting expected and actual.  The machine is the one the shell
and the one-shot commands build (`cli.machine`); nothing here knows a driver or a model.  It
has no loops, branches or variables — a scenario is a script of facts, not a program; tests
that need more are written with `usbemu.testing`.

The package, one responsibility a module:

- `locator`: line numbers of a TOML text's tables and keys (tomllib gives none);
- `fields`: typed reading of one table of the file, each mistake recorded with its line;
- `specs`: the machine a scenario declares — [machine], [[module]], [[device]];
- `bridges`: the bridge table ([[bridge]] types: fields, needs, starter);
- `state`: a run in progress as actions and expectations see it, and how a step fails;
- `actions`: the step actions (the `ACTIONS` table: parser, fields, performer);
- `checks`: the step expectations (the `CHECKS` table: parser, checker);
- `load`: the whole file — sections, steps, `load_scenario`;
- `report`: what a run prints, and its progress bar on a terminal;
- `runner`: `run_scenario` — boot, set up, run the timeline, stop.

This module is the entry point: it holds no code of its own.
"""

from .load import Scenario, ScenarioError, Step, load_scenario
from .runner import run_scenario

__all__ = ["Scenario", "ScenarioError", "Step", "load_scenario", "run_scenario"]
