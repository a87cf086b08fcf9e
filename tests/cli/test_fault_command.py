"""Fault plans from the shell (`fault`) and from scenario files (a `fault` step): the same
words arm, list and clear faults on the device at a port path, and mistakes are named."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from usbemu.cli.machine import boot, load_module, plug
from usbemu.cli.scenario import ScenarioError, load_scenario, run_scenario
from usbemu.cli.shell import Shell
from usbemu.emulated.faults import FaultKind
from usbemu.system import System
from usbemu.testing import blacklist

pytestmark = pytest.mark.usefixtures("hang_guard")


@pytest.fixture
def machine() -> Iterator[System]:
    """The pen drive at 1-1 bound to pen_driver (/dev/pen0): bulk OUT 0x01, bulk IN 0x82."""
    system = boot()
    try:
        blacklist(system, "usb_storage", "uas")
        load_module(system, "pen_driver")
        plug(system, "pendrive")
        yield system
    finally:
        system.close()


def run(system: System, line: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = Shell(system, out, err).execute(line)
    return status, out.getvalue(), err.getvalue()


def test_fault_arms_lists_and_clears(machine: System) -> None:
    assert run(machine, "fault 1-1 crc ep=0x82 count=1") == (0, "fault 0: crc ep=0x82\n", "")
    assert run(machine, "fault 1-1 list") == (
        0, "seed 0\n0: crc ep=0x82 (hit 0 times)\n", "")
    assert run(machine, "echo hi > /dev/pen0")[0] == 0
    status, _, err = run(machine, "cat /dev/pen0")
    assert (status, err) == (1, "cat: /dev/pen0: Protocol error\n")
    status, out, _ = run(machine, "fault 1-1 list")
    lines = out.splitlines()
    assert lines[:2] == ["seed 0", "0: crc ep=0x82 (hit 1 time)"]
    assert lines[2].endswith("fault 0: crc on ep 0x82 IN (occurrence 1)")
    assert run(machine, "fault 1-1 clear") == (0, "", "")
    assert run(machine, "fault 1-1 list")[1].startswith("seed 0\nno faults armed\n")


def test_fault_seed_starts_a_new_plan(machine: System) -> None:
    run(machine, "fault 1-1 stall ep=0x82")
    assert run(machine, "fault 1-1 seed 0x10") == (0, "", "")
    assert run(machine, "fault 1-1 list") == (0, "seed 16\nno faults armed\n", "")
    model = dict(machine.models())["1-1"]
    assert model.faults is not None and model.faults.seed == 16


def test_a_fault_on_a_device_without_a_plan_lists_nothing(machine: System) -> None:
    assert run(machine, "fault 1-1 list") == (0, "no faults\n", "")


@pytest.mark.parametrize(("line", "message"), [
    ("fault 1-1 wobble", "fault: no fault kind 'wobble'; known kinds: stall, nak, "),
    ("fault 1-1 stall ep=x", "fault: ep='x': give a number (decimal or 0x hex)"),
    ("fault 1-1 stall 0x81", "fault: '0x81': expected option as NAME=VALUE"),
    ("fault 1-9 list", "fault: nothing is plugged in at 1-9"),
    ("fault 1-1", "fault: expected a port path and what to do: fault PORT-PATH KIND"),
    ("fault 1-1 clear now", "fault: clear takes no arguments"),
    ("fault 1-1 seed x", "fault: seed 'x' is not a number"),
    ("fault 1-1 babble ep=0x01", "fault: babble happens on IN transfers; ep=0x01 is OUT"),
])
def test_fault_mistakes(machine: System, line: str, message: str) -> None:
    status, out, err = run(machine, line)
    assert (status, out) == (1, "")
    assert err.startswith(message)


def test_fault_completes_ports_kinds_and_options(machine: System) -> None:
    shell = Shell(machine, io.StringIO(), io.StringIO())
    assert shell.complete("fault 1-") == ["1-1"]
    assert shell.complete("fault 1-1 nak") == ["nak", "nak_forever"]
    assert shell.complete("fault 1-1 cl") == ["clear"]
    assert shell.complete("fault 1-1 stall co") == ["count="]
    assert shell.complete("fault 1-1 list ") == []


def test_help_lists_fault(machine: System) -> None:
    status, out, _ = run(machine, "help fault")
    assert status == 0 and out.startswith("Usage: fault PORT-PATH KIND [NAME=VALUE...]")


# -- scenario files -------------------------------------------------------------------------------


SCENARIO = """\
[[module]]
name = "pen_driver"

[[device]]
model = "pendrive"
at = "1-1"

[[step]]
name = "arm"
fault = "1-1 crc ep=0x82"

[[step]]
write = "/dev/pen0"
data = "hi"

[[step]]
read = "/dev/pen0"
error = "EPROTO"

[[step]]
fault = "1-1 clear"

[[step]]
run = "fault 1-1 list"
output_contains = ["crc on ep 0x82 IN (occurrence 1)"]
"""


def scenario_report(tmp_path: Path, text: str) -> tuple[bool, str]:
    path = tmp_path / "s.toml"
    path.write_text(text)
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False, highlight=False)
    return run_scenario(load_scenario(path), console), out.getvalue()


def test_a_fault_step(tmp_path: Path) -> None:
    passed, report = scenario_report(tmp_path, SCENARIO)
    assert passed, report
    assert "ok step 1 (arm): fault 1-1 crc ep=0x82" in report
    assert "ok step 3: read /dev/pen0 (fails with EPROTO)" in report
    assert "ok step 4: fault 1-1 clear" in report


def test_a_bad_fault_step_is_reported_before_anything_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[[step]]\nfault = "1-1 stall ep=0x81 port=2"\n\n'
                    '[[step]]\nfault = 3\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "s.toml:2: step 1: unknown fault option 'port'; known options: ep, " in text
    assert "s.toml:5: step 2: 'fault'" in text


def test_kinds_are_the_documented_ones() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "faults.md").read_text()
    for kind in FaultKind:
        assert f"`{kind.value}`" in doc
