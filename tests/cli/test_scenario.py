"""Scenario files (`usbemu run`): the examples pass; every mistake in a file is reported with
its file, line and field and what is accepted; a step that does not do what the file says
stops the run with expected and actual; bridges start and stop around the timeline."""

from __future__ import annotations

import errno
import io
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from usbemu.bridges import fuse
from usbemu.cli.main import main
from usbemu.cli.scenario import ScenarioError, load_scenario, run_scenario
from usbemu.cli.scenario import bridges as scenario_mod
from usbemu.cli.scenario.locator import Locator
from usbemu.emulated.clone import dump_clone
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.system import System

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
FIXTURES = Path(__file__).resolve().parent / "scenarios"

PEN = """\
[[module]]
name = "pen_driver"

[[device]]
model = "pendrive"
at = "1-1"
"""


def run_file(path: Path, *, terminal: bool = False) -> tuple[bool, str]:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=terminal, highlight=False)
    passed = run_scenario(load_scenario(path), console)
    return passed, out.getvalue()


@pytest.fixture
def scenario(tmp_path: Path) -> Callable[[str], tuple[bool, str]]:
    """Write a scenario text to a file and run it: (passed, report)."""
    def run(text: str) -> tuple[bool, str]:
        path = tmp_path / "s.toml"
        path.write_text(text)
        return run_file(path)
    return run


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value).splitlines()


def fixture_errors(name: str) -> list[str]:
    prefix = f"{FIXTURES / name}:"
    return [line.removeprefix(prefix) for line in errors_of(FIXTURES / name)]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# -- the examples --------------------------------------------------------------------------------


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"pen_driver.toml", "hub_topology.toml",
                                          "sysfs_bind.toml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_passes(path: Path) -> None:
    passed, report = run_file(path)
    assert passed, report
    assert "scenario passed:" in report


# -- the command ---------------------------------------------------------------------------------


def test_cli_run_passes_with_a_line_per_step_and_a_summary() -> None:
    code, out, err = invoke("run", str(ROOT / "examples" / "pen_driver.toml"))
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "ok module 1: load pen_driver"
    assert lines[1] == "ok device 1: plug pendrive at 1-1"
    assert "ok step 2 (write): write 'hello, pen drive' to /dev/pen0" in lines
    assert "ok step 6 (nothing to read): read /dev/pen0 (fails with ETIMEDOUT)" in lines
    assert lines[-1] == "scenario passed: 8 steps, 5.430 s of machine time"
    assert "\x1b[" not in out  # plain when not a terminal


def test_cli_run_with_a_mistake_exits_2_with_the_message_on_stderr() -> None:
    code, out, err = invoke("run", str(FIXTURES / "wrong_type.toml"))
    assert code == 2 and out == ""
    assert err == (f"{FIXTURES / 'wrong_type.toml'}:4: device 1: 'at' must be a string like "
                   '"1-1" (got integer)\n')


def test_cli_run_with_a_failed_expectation_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(PEN + '[[step]]\nexpect_absent = "/dev/pen0"\n')
    code, out, _ = invoke("run", str(path))
    assert code == 1
    assert f"{path}:8: step 1: expected /dev/pen0 to be absent, but it exists" in out


def test_cli_run_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = invoke("run", str(tmp_path / "nope.toml"))
    assert code == 2 and "does not exist" in err


def test_on_a_terminal_steps_are_ticked_and_crossed() -> None:
    passed, report = run_file(ROOT / "examples" / "sysfs_bind.toml", terminal=True)
    assert passed and "\x1b[32m✓\x1b[0m step 1 (bound)" in report
    assert "ok step" not in re.sub(r"\x1b\[[0-9;]*m", "", report)
    passed, report = run_file(FIXTURES / "fail.toml", terminal=True)
    assert not passed and "✗\x1b[0m step 3 (node gone)" in report


def test_on_a_terminal_a_progress_bar_follows_the_steps_and_goes() -> None:
    passed, report = run_file(ROOT / "examples" / "pen_driver.toml", terminal=True)
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", report)
    assert passed and re.search(r"steps ━+ 0/8", plain) and re.search(r"steps ━+ 8/8", plain)
    passed, report = run_file(ROOT / "examples" / "pen_driver.toml", terminal=False)
    assert passed and "━" not in report and "0/8" not in report


# -- mistakes in the file ------------------------------------------------------------------------


def test_toml_syntax_error_names_file_line_and_column() -> None:
    assert fixture_errors("syntax.toml") == [
        "5:21: invalid TOML: Expected newline or end of document after a statement"]


def test_unknown_field_suggests_the_closest_and_lists_the_accepted() -> None:
    assert fixture_errors("unknown_field.toml") == [
        "8: step 1: unknown field 'writ'; did you mean 'write'? accepted: plug, unplug, "
        "write, read, run, sleep, load, unload, fault, name, error, error_contains, expect_dmesg, "
        "expect_event, expect_file, expect_exists, expect_absent"]


def test_wrong_type_names_the_field_what_it_takes_and_what_it_got() -> None:
    assert fixture_errors("wrong_type.toml") == [
        "4: device 1: 'at' must be a string like \"1-1\" (got integer)"]


def test_unknown_model_lists_the_models() -> None:
    assert fixture_errors("unknown_model.toml") == [
        "2: device 1: no device model named 'toaster' and no such file; known models: acm, "
        "ft2232h, ftdi, hub, keyboard, mouse, pendrive, serial, serial2, serial8, storage, "
        "tablet, zero; "
        "a clone file is named relative to the scenario's directory"]


def test_bad_model_option_points_at_the_options_and_lists_the_accepted() -> None:
    assert fixture_errors("bad_option.toml") == [
        "4: device 1: model 'hub' has no option 'colour'; accepted: ports (int), speed (one "
        "of unknown, low, full, high, wireless, super, super_plus), multi_tt (bool)"]


def test_missing_clone_file_says_where_it_looked() -> None:
    assert fixture_errors("missing_clone.toml") == [
        f"2: device 1: no clone file 'clones/my-device.toml' (looked for "
        f"{FIXTURES / 'clones' / 'my-device.toml'}; a file is named relative to the "
        "scenario's directory)"]


def test_a_step_has_one_action_and_something_to_do() -> None:
    assert fixture_errors("two_actions.toml") == [
        "4: step 1: one action per step, got write and read; split it into several steps",
        "6: step 2 (empty): nothing to do: give an action (plug, unplug, write, read, run, "
        "sleep, load, unload, fault) and/or expectations (expect_dmesg, expect_event, expect_file, "
        "expect_exists, expect_absent)"]


def test_bad_values_every_one_reported_in_line_order() -> None:
    assert fixture_errors("bad_values.toml") == [
        "2: step 1: 'read': 'dev/pen0' is not an absolute path; paths of the machine's tree "
        'start with /, like "/dev/pen0" or "/sys/bus/usb/devices/1-1"',
        "3: step 1: 'expect': \"@last-write\" needs a write step before this one",
        "4: step 1: 'error': 'EBUSSY' is not an errno name; did you mean 'EBUSY'? (Linux's "
        "names: EBUSY, ENOENT, ENODEV, ETIMEDOUT …)",
        "8: step 2: 'hex': '00 0g' is not hex bytes; expected pairs of hex digits, like "
        '"00 01 ff"',
        "12: step 3: 'output_matches': 'Bus (001' is not a valid regular expression: missing ), "
        "unterminated subpattern at position 4"]


def test_fields_of_another_action_and_errors_of_actions_that_cannot_fail() -> None:
    assert fixture_errors("misplaced.toml") == [
        "3: step 1: 'size' goes with read, not with an unplug step",
        "7: step 2: 'error' does not apply to a sleep step: it says how the action fails"]


def test_unknown_tables() -> None:
    assert fixture_errors("unknown_table.toml") == [
        "1: scenario: unknown table 'machin'; did you mean 'machine'? accepted: machine, "
        "module, device, bridge, step",
        "4: scenario: unknown table 'steps'; did you mean 'step'? accepted: machine, module, "
        "device, bridge, step"]


def test_bridges_fuse_needs_real_time_and_types_are_listed() -> None:
    assert fixture_errors("fuse_virtual.toml") == [
        "2: bridge 1: a fuse bridge needs real_time = true in [machine]: outside programs are "
        "served while the machine runs, and on virtual time a sleep step passes in no time",
        "6: bridge 2: unknown bridge type 'usbipd'; accepted: fuse"]


NO_STEPS = ("scenario: no steps; a scenario needs at least one [[step]] (an action and/or "
            "expectations), or it checks nothing")


def test_a_file_without_steps_is_a_mistake_not_a_pass() -> None:
    assert fixture_errors("no_steps.toml") == [f"1: {NO_STEPS}"]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "[machine]\nports = 2\n",
                                  "step = []\n[[module]]\nname = 'pen_driver'\n"])
def test_an_empty_file_fails_with_no_steps_and_its_name(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.toml"
    path.write_text(text)
    code, out, err = invoke("run", str(path))
    assert (code, out, err) == (2, "", f"{path}:1: {NO_STEPS}\n")


def test_no_steps_is_reported_only_when_nothing_else_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[[device]]\nmodel = 'toaster'\n")
    assert len(errors_of(path)) == 1 and "toaster" in errors_of(path)[0]
    path.write_text("step = []\n")
    assert errors_of(path) == [f"{path}:1: {NO_STEPS}"]


def test_load_scenario_takes_a_str_or_a_path() -> None:
    example = ROOT / "examples" / "pen_driver.toml"
    assert load_scenario(str(example)).path == load_scenario(example).path == example
    with pytest.raises(ScenarioError, match=r"no_steps\.toml:1: scenario: no steps"):
        load_scenario(str(FIXTURES / "no_steps.toml"))


def test_expectation_tables_are_checked_field_by_field() -> None:
    assert fixture_errors("expectations.toml") == [
        "2: step 1: expect_event: unknown field 'devpth'; did you mean 'devpath'? accepted: "
        "action, device, devpath, devpath_contains, env",
        "3: step 1: expect_file item 1: give exactly one of content, contains, matches (what "
        "the file must hold); got none",
        "3: step 1: expect_file item 2: unknown field 'paht'; did you mean 'path'? accepted: "
        "path, content, contains, matches",
        "3: step 1: expect_file item 2: 'path' is required: the file of the machine's tree to "
        "read",
        "4: step 1: 'expect_exists' must be a path of the machine's tree, like \"/dev/pen0\" "
        "(got integer)"]


@pytest.mark.parametrize(("text", "message"), [
    ("[machine]\nports = 40\n", "2: machine: 'ports': 40 is out of range; expected an integer "
                                "from 1 to 31"),
    ("[machine]\nseeds = 1\n", "2: machine: unknown field 'seeds'; did you mean 'seed'? "
                               "accepted: real_time, seed, controllers, hcd, ports"),
    ("[[machine]]\nseed = 1\n", "1: machine: 'machine' must be a table ([machine]) "
                                "(got array)"),
    ("[machine]\nhcd = 'ehcy'\n", "2: machine: 'hcd': no host controller kind named 'ehcy'; "
                                 "known host controller kinds: ehci, inproc, ohci, uhci, vhci"),
    ("[machine]\nhcd = 2\n", "2: machine: 'hcd' must be a host controller kind, like "
                             '"inproc" or "ehci" (got integer)'),
    ("[step]\nsleep = 1\n", "1: step: 'step' must be an array of tables ([[step]]) "
                            "(got table)"),
    ("[[module]]\nparams = {}\n", "1: module 1: 'name' is required: the module to load, "
                                  'e.g. "pen_driver"'),
    ("[[module]]\nname = 'nope.py'\n", "2: module 1: no driver file 'nope.py' (looked for "),
    ("[[module]]\nname = 'x'\nparams = { f = 1.5 }\n",
     "3: module 1: 'params': parameter 'f' must be an integer, a boolean, a string or an "
     "array of integers or strings (got float)"),
    ("[[device]]\nat = '1-1'\n", "1: device 1: give exactly one of model, clone (a model's "
                                 "short name, or a clone file); got none"),
    ("[[device]]\nmodel = 'hub'\noptions = { ports = 'many' }\n",
     "3: device 1: ports='many': expected an integer (42, 0x2a)"),
    ("[[device]]\nmodel = 'pendrive'\nat = '1.1'\n",
     "3: device 1: 'at': '1.1' is not a port path; expected BUS-PORT[.PORT...], e.g. 1-1 or "
     "1-4.2"),
    ("[[step]]\nwrite = '/dev/pen0'\n", "2: step 1: give exactly one of data, hex, random "
                                        "(what to write); got none"),
    ("[[step]]\nwrite = '/dev/pen0'\ndata = 'a'\nhex = '00'\n",
     "4: step 1: give exactly one of data, hex, random (what to write); got data and hex"),
    ("[[step]]\nsleep = -1\n", "2: step 1: 'sleep': -1 is negative; expected milliseconds of "
                               "machine time from 0 to 2592000000 (30 days)"),
    ("[[step]]\nsleep = true\n", "2: step 1: 'sleep' must be milliseconds of machine time "
                                 "from 0 to 2592000000 (30 days) (got boolean)"),
    ("[[step]]\nsleep = 2592000001\n", "2: step 1: 'sleep': 2592000001 is out of range; "
                                       "expected milliseconds of machine time from 0 to "
                                       "2592000000 (30 days)"),
    ("[[step]]\nsleep = 1e300\n", "2: step 1: 'sleep': 1e+300 is out of range; expected "
                                  "milliseconds of machine time from 0 to 2592000000 (30 days)"),
    ("[[step]]\nsleep = inf\n", "2: step 1: 'sleep': inf is out of range; expected "
                                "milliseconds of machine time from 0 to 2592000000 (30 days)"),
    ("[[step]]\nsleep = -inf\n", "2: step 1: 'sleep': -inf is negative; expected "
                                 "milliseconds of machine time from 0 to 2592000000 (30 days)"),
    ("[[step]]\nsleep = nan\n", "2: step 1: 'sleep': nan is not a number; expected "
                                "milliseconds of machine time from 0 to 2592000000 (30 days)"),
    ("[[step]]\nrun = ' '\n", "2: step 1: the command line is empty"),
    ("[[step]]\nexpect_dmesg = []\n", "2: step 1: 'expect_dmesg' must be a text, or an array "
                                      "of texts, of kernel log lines (got array)"),
    ("[[step]]\nexpect_event = {}\n", "2: step 1: expect_event: say what the uevent has: "
                                      "action, device, devpath, devpath_contains, env"),
    ("[[step]]\nexpect_event = { env = { BUSNUM = 1 } }\n",
     "2: step 1: expect_event: 'env' must be a table of strings, like { PRODUCT = "
     '"58f/6387/100" } (got table)'),
    ("[[step]]\nname = 'x'\nread = '/dev/pen0'\nexpect = 'a'\nexpect_hex = '61'\n",
     "5: step 1 (x): give 'expect' or 'expect_hex', not both"),
    ("[[step]]\nrun = 'lsusb'\nerror = 'EIO'\n",
     "3: step 1: 'error' does not apply to a run step: it says how the action fails; a run "
     "step checks its exit status with status = N"),
    ("[[step]]\nplug = 'hub'\nat = '1-1'\noptions = { ports = 99 }\n",
     "4: step 1: model 'hub': a hub has 1..15 ports, got 99"),
    ("[[bridge]]\nmountpoint = 'x'\n", "1: bridge 1: 'type' is required: one of fuse"),
    ("[[bridge]]\ntype = 'fuse'\n[machine]\nreal_time = true\n",
     "1: bridge 1: 'mountpoint' is required: a fuse bridge needs it"),
])
def test_each_mistake_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    found = [line.removeprefix(f"{path}:") for line in errors_of(path)]
    assert len(found) == 1 and found[0].startswith(message), found


def test_an_absurd_sleep_fails_validation_before_the_machine_runs(tmp_path: Path) -> None:
    """`usbemu run` in a real process: both absurd sleeps are named with their lines and
    the limit, and nothing runs.  (Before the limit, these froze virtual time.)"""
    path = tmp_path / "s.toml"
    path.write_text("[[step]]\nsleep = 1e300\n[[step]]\nsleep = inf\n"
                    "[[step]]\nsleep = 2592000000\n")
    proc = subprocess.run([sys.executable, "-m", "usbemu", "run", str(path)],
                          capture_output=True, text=True, timeout=60)
    expected = "is out of range; expected milliseconds of machine time from 0 to 2592000000 " \
               "(30 days)"
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (f"{path}:2: step 1: 'sleep': 1e+300 {expected}\n"
                           f"{path}:4: step 2: 'sleep': inf {expected}\n")


def test_an_unreadable_file_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(b"\xff\xfe")
    assert errors_of(path)[0].startswith(f"{path}: cannot read the scenario: ")


def test_a_truncated_file_reports_its_last_line(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[[step]]\nexpect_output = """\nnever closed\n')
    (line,) = errors_of(path)
    assert line.startswith(f"{path}:4") and "invalid TOML: " in line


def test_model_options_are_checked_by_building_the_model_before_anything_runs(
        tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[[step]]\nsleep = 1\n[[step]]\nplug = 'pendrive'\n"
                    "options = { capacity = 0 }\n")
    assert [e.removeprefix(f"{path}:") for e in errors_of(path)] == [
        "5: step 2: model 'pendrive': capacity=0 must be positive"]


def _documented(section: str) -> list[str]:
    """The lines of docs/scenarios.md's `section` that quote FILE.toml:LINE messages."""
    text = (ROOT / "docs" / "scenarios.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in body.splitlines() if re.match(r"^[a-z_]+\.toml:\d", line)]


def test_the_documented_mistakes_are_the_fixtures_messages(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    documented = _documented("Mistakes in the file")
    assert len(documented) == 21
    for line in documented:
        relative = Path("tests/cli/scenarios") / line.split(":", 1)[0]
        assert line in [e.removeprefix("tests/cli/scenarios/") for e in errors_of(relative)]


def test_the_documented_failing_run_is_the_fixtures_run(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.chdir(FIXTURES)
    passed, report = run_file(Path("fail.toml"))
    assert not passed
    text = (ROOT / "docs" / "scenarios.md").read_text()
    console = text.split("$ usbemu run fail.toml\n", 1)[1].split("```", 1)[0]
    assert report == console
    assert _documented("When a step fails")[0] in report


# -- the line locator ----------------------------------------------------------------------------


def test_locator_finds_keys_of_tables_array_entries_and_inline_tables() -> None:
    text = "\n".join([
        "# comment",                              # 1
        "[machine]",                              # 2
        "seed = 1",                               # 3
        "[[step]]",                               # 4
        'expect_output = """',                    # 5
        "[[step]]",                               # 6  (inside a string)
        'write = "x"',                            # 7  (inside a string)
        '"""',                                    # 8
        "[[step]]",                               # 9
        "expect_dmesg = [",                       # 10
        '  "a", # [[step]]',                      # 11
        "  ['b'],",                               # 12
        "]",                                      # 13
        "options = { ports = 4 }",                # 14
        "'quoted key' = 1",                       # 15
        "data.part = 2",                          # 16
        "[step.env]",                             # 17
        "A = 'b'",                                # 18
        "[[step]]",                               # 19
        "sleep = 1",                              # 20
    ])
    loc = Locator(text)
    assert loc.line("machine", None, "seed") == 3
    assert loc.line("step", 1) == 4 and loc.line("step", 1, "expect_output") == 5
    assert loc.line("step", 1, "write") == 4          # not the line inside the string
    assert loc.line("step", 2, "expect_dmesg") == 10
    assert loc.line("step", 2, "options") == 14
    assert loc.line("step", 2, "quoted key") == 15
    assert loc.line("step", 2, "data") == 16
    assert loc.line("step", 2, "env") == 17           # a [step.env] sub-table
    assert loc.line("step", 3, "sleep") == 20
    assert loc.line("step", 3, "missing") == 19       # falls back to the header
    assert loc.line("nothing", None) == 1


def test_locator_for_inline_arrays_of_tables_points_at_the_key() -> None:
    loc = Locator("a = 1\nstep = [\n  { sleep = 1 },\n]\n")
    assert loc.line("step", 1, "sleep") == 2


# -- a run ---------------------------------------------------------------------------------------


def test_a_failed_expectation_stops_the_run_naming_file_line_step(scenario: Callable[
        [str], tuple[bool, str]]) -> None:
    passed, report = scenario(PEN + """
[[step]]
name = "node gone"
unplug = "1-1"
expect_absent = "/dev/pen0"
expect_exists = "/dev/pen0"

[[step]]
sleep = 1
""")
    assert not passed
    lines = report.splitlines()
    assert "FAIL step 1 (node gone): unplug 1-1" in lines
    assert any(line.endswith("s.toml:12: step 1 (node gone): expected /dev/pen0 to exist, "
                             "but it does not") for line in lines)
    assert lines[-1].startswith("scenario failed at step 1 of 2 (")
    assert "step 2" not in report


def test_unexpected_failure_of_an_action_fails_the_step(scenario: Callable[
        [str], tuple[bool, str]]) -> None:
    passed, report = scenario(PEN + '[[step]]\nunplug = "1-3"\n')
    assert not passed
    assert "s.toml:8: step 1: unplug 1-3 failed: unplug: nothing is plugged in at 1-3" in report


def test_expected_errors(scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario(PEN + """
[[step]]
load = "pen_driver"
error = "EEXIST"
error_contains = "could not insert module pen_driver: File exists"
[[step]]
unload = "usbcore"
error_contains = "builtin"
[[step]]
write = "/dev/pen9"
data = "x"
error = "ENOENT"
[[step]]
unplug = "1-3"
error_contains = "nothing is plugged in at 1-3"
""")
    assert passed, report
    assert "ok step 1: load pen_driver (fails with EEXIST and an error containing" in report


def test_an_expected_error_that_does_not_come(scenario: Callable[[str], tuple[bool, str]]
                                              ) -> None:
    passed, report = scenario(PEN + '[[step]]\nunload = "pen_driver"\nerror = "EBUSY"\n')
    assert not passed
    assert ("s.toml:9: step 1: expected unload pen_driver to fail with EBUSY, but it "
            "succeeded") in report


def test_a_different_error_than_expected(scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario(PEN + '[[step]]\nread = "/dev/pen0"\nerror = "EIO"\n')
    assert not passed
    assert ("s.toml:9: step 1: expected read /dev/pen0 to fail with EIO, but it failed with "
            "Connection timed out (ETIMEDOUT)") in report


def test_read_compares_text_hex_and_the_last_write(scenario: Callable[[str], tuple[bool, str]]
                                                   ) -> None:
    passed, report = scenario(PEN + """
[[step]]
write = "/dev/pen0"
hex = "00 01 ff"
[[step]]
read = "/dev/pen0"
expect = "@last-write"
[[step]]
write = "/dev/pen0"
data = "abc"
[[step]]
read = "/dev/pen0"
size = 2
expect = "abc"
""")
    assert not passed
    assert "s.toml:20: step 4: read /dev/pen0 returned 'ab', expected 'abc'" in report
    passed, report = scenario(PEN + """
[[step]]
write = "/dev/pen0"
data = "abc"
[[step]]
read = "/dev/pen0"
expect_hex = "61 62 00"
""")
    assert "s.toml:13: step 2: read /dev/pen0 returned 'abc', expected 3 bytes: 61 62 00" \
        in report


def _random_bytes(scenario: Callable[[str], tuple[bool, str]], seed: int) -> str:
    _, report = scenario(f"[machine]\nseed = {seed}\n" + PEN + """
[[step]]
write = "/dev/pen0"
random = 8
[[step]]
read = "/dev/pen0"
expect = "x"
""")
    return report.split("returned ")[1].split(",")[0]


def test_random_bytes_come_from_the_seeded_machine(scenario: Callable[[str], tuple[bool, str]]
                                                   ) -> None:
    first = _random_bytes(scenario, 1)
    assert first.startswith("8 bytes: ")
    assert _random_bytes(scenario, 1) == first
    assert _random_bytes(scenario, 2) != first


def test_a_short_write_fails(scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario(PEN + '[[step]]\nwrite = "/dev/pen0"\nrandom = 600\n')
    assert not passed
    assert ("s.toml:8: step 1: write to /dev/pen0 wrote 512 of 600 bytes (a short write)"
            in report)


def test_dmesg_lines_match_in_order_each_once(scenario: Callable[[str], tuple[bool, str]]
                                              ) -> None:
    passed, report = scenario(PEN + """
[[step]]
expect_dmesg = ["Pen drive (058F:6387) plugged", "Minor obtained: 0"]
[[step]]
expect_dmesg = "Minor obtained: 0"
""")
    assert not passed
    # udev autoloads usb-storage for the pen drive after pen_driver has claimed it
    assert ("s.toml:11: step 2: expected a kernel log line containing 'Minor obtained: 0', but "
            "none was logged after the previous match; the lines since:\n"
            "  SCSI subsystem initialized\n"
            "  usbcore: registered new interface driver usb-storage\n"
            "  usbcore: registered new interface driver uas\n") in report
    passed, report = scenario(PEN + """
[[step]]
expect_dmesg = ["Minor obtained: 0", "Pen drive (058F:6387) plugged"]
""")
    assert not passed
    assert "containing 'Pen drive (058F:6387) plugged', but none was logged" in report


def test_dmesg_after_a_replug_matches_the_new_line(scenario: Callable[[str], tuple[bool, str]]
                                                   ) -> None:
    passed, report = scenario(PEN + """
[[step]]
expect_dmesg = "Minor obtained: 0"
[[step]]
unplug = "1-1"
[[step]]
plug = "pendrive"
expect_dmesg = ["usb 1-1: new high-speed USB device number 3", "Minor obtained: 0"]
""")
    assert passed, report


def test_dmesg_failure_shows_the_lines_since_the_previous_match(scenario: Callable[
        [str], tuple[bool, str]]) -> None:
    passed, report = scenario(PEN + """
[[step]]
expect_dmesg = "Minor obtained: 0"
[[step]]
unplug = "1-1"
expect_dmesg = "Pen drive unplugged"
""")
    assert not passed
    assert ("the lines since:\n"
            "  SCSI subsystem initialized\n"
            "  usbcore: registered new interface driver usb-storage\n"
            "  usbcore: registered new interface driver uas\n"
            "  usb 1-1: USB disconnect, device number 2\n"
            "  Pen drive removed\n") in report


def test_uevents_match_in_order_with_env(scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario(PEN + """
[[step]]
unplug = "1-1"
expect_event = [
    { action = "unbind", device = "1-1:1.0" },
    { action = "remove", devpath_contains = "/usb1/1-1", env = { DEVTYPE = "usb_device" } },
]
[[step]]
plug = "pendrive"
at = "1-2"
expect_event = { action = "add", devpath = "/devices/pci0000:00/0000:00:1d.0/usb1/1-2" }
""")
    assert passed, report
    passed, report = scenario(PEN + """
[[step]]
unplug = "1-1"
expect_event = { action = "remove", device = "1-1", env = { PRODUCT = "58f/6387/101" } }
""")
    assert not passed
    assert ("s.toml:10: step 1: expected a uevent remove 1-1 PRODUCT=58f/6387/101, but none "
            "came since the start of the run; the uevents since:\n") in report
    assert "  remove /devices/pci0000:00/0000:00:1d.0/usb1/1-1 PRODUCT=58f/6387/100" in report


def test_expect_file_content_contains_matches_and_unreadable(scenario: Callable[
        [str], tuple[bool, str]]) -> None:
    passed, report = scenario(PEN + """
[[step]]
expect_file = [
    { path = "/sys/bus/usb/devices/1-1/idProduct", content = "6387\\n" },
    { path = "/sys/bus/usb/devices/1-1/uevent", contains = "PRODUCT=58f/6387/100" },
    { path = "/sys/bus/usb/devices/1-1/speed", matches = "^480$" },
]
""")
    assert passed, report
    for check, message in [
        ('content = "6388\\n"', "/sys/bus/usb/devices/1-1/idProduct reads '6387\\n', expected "
                                "'6388\\n'"),
        ('contains = "63 87"', "/sys/bus/usb/devices/1-1/idProduct does not contain '63 87'; "
                               "it reads '6387\\n'"),
        ('matches = "^63$"', "/sys/bus/usb/devices/1-1/idProduct does not match /^63$/; it "
                             "reads '6387\\n'"),
    ]:
        passed, report = scenario(PEN + "[[step]]\nexpect_file = { path = "
                                  f'"/sys/bus/usb/devices/1-1/idProduct", {check} }}\n')
        assert not passed and f"s.toml:8: step 1: {message}" in report
    passed, report = scenario(PEN + '[[step]]\nexpect_file = { path = "/sys/nope", '
                                    'content = "" }\n')
    assert ("s.toml:8: step 1: expected to read /sys/nope, but it failed: No such file or "
            "directory (ENOENT)") in report


def test_expect_file_shows_a_diff_for_several_lines(scenario: Callable[[str], tuple[bool, str]]
                                                    ) -> None:
    passed, report = scenario(PEN + """
[[step]]
expect_file = { path = "/sys/bus/usb/devices/1-1/uevent", content = "MAJOR=189\\nMINOR=9\\n" }
""")
    assert not passed
    assert "does not read as expected:\n--- expected\n+++ actual\n" in report
    assert "\n-MINOR=9\n+MINOR=1\n" in report


def test_sleep_passes_machine_time(scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario("[[step]]\nsleep = 1500\n[[step]]\nsleep = 250.5\n")
    assert passed
    assert report.splitlines()[-1] == "scenario passed: 2 steps, 1.750 s of machine time"
    assert "ok step 1: sleep 1500 ms" in report and "ok step 2: sleep 250.5 ms" in report


def test_plug_takes_the_first_free_port_and_clone_files(tmp_path: Path) -> None:
    (tmp_path / "clones").mkdir()
    (tmp_path / "clones" / "pen.toml").write_text(dump_clone(PenDrive()))
    path = tmp_path / "s.toml"
    path.write_text("""
[[device]]
clone = "clones/pen.toml"
[[step]]
plug = "clones/pen.toml"
expect_file = [
    { path = "/sys/bus/usb/devices/1-1/idVendor", content = "058f\\n" },
    { path = "/sys/bus/usb/devices/1-2/idVendor", content = "058f\\n" },
]
""")
    passed, report = run_file(path)
    assert passed, report
    assert "ok device 1: plug pen.toml" in report and "ok step 1: plug pen.toml" in report


def test_modules_from_files_with_parameters() -> None:
    passed, report = run_file(FIXTURES / "params.toml")
    assert passed, report
    assert "ok module 1: load gizmo.py vendor=4660 debug=Y name=widget" in report


def test_machine_controllers_and_ports(scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario("""
[machine]
controllers = 2
ports = 2
[[device]]
model = "mouse"
at = "2-2"
[[step]]
expect_file = { path = "/sys/bus/usb/devices/usb2/maxchild", content = "2\\n" }
expect_exists = "/sys/bus/usb/devices/2-2"
[[step]]
plug = "mouse"
at = "1-3"
error_contains = "port"
""")
    assert passed, report


def test_machine_hcd_boots_controllers_of_that_kind(
        scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario("""
[machine]
controllers = 2
hcd = "ehci"
[[device]]
model = "zero"
[[step]]
run = "stats"
output_matches = '^Bus 001: ehci-pci 0000:00:1d.0\\nframe \\d+, \\d+ microframes'
[[step]]
run = "stats 2"
output_contains = "Bus 002: ehci-pci 0000:00:1e.0\\nframe "
[[step]]
expect_file = { path = "/sys/bus/usb/devices/usb1/maxchild", content = "6\\n" }
""")
    assert passed, report


def test_machine_ports_default_to_the_kinds_own(
        scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario("""
[machine]
hcd = "uhci"
[[step]]
expect_file = { path = "/sys/bus/usb/devices/usb1/maxchild", content = "2\\n" }
""")
    assert passed, report


def test_ports_the_kind_has_not_fail_at_the_machine(
        scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario('[machine]\nhcd = "ehci"\nports = 16\n[[step]]\nsleep = 1\n')
    assert not passed
    lines = report.splitlines()
    assert lines[0] == "FAIL machine: boot 1 ehci controller of 16 ports"
    assert lines[1].endswith("s.toml:3: machine: nports=16: EHCI root hubs have 1..15 ports")
    assert len(lines) == 2


def test_module_parameters_are_given_as_insmod_takes_them(
        scenario: Callable[[str], tuple[bool, str]]) -> None:
    gizmo = ROOT / "tests" / "kernel" / "fixtures" / "gizmo.py"
    passed, report = scenario(f"[[module]]\nname = '{gizmo}'\n"
                              "params = { ids = [1, 2], tag = 'a b', on = false }\n"
                              "[[step]]\nexpect_dmesg = 'gizmo'\n")
    assert passed, report  # unknown parameters are ignored with a warning, as Linux does
    assert "ok module 1: load gizmo.py ids=1,2 tag=a b on=N" in report


def test_a_setup_failure_names_the_entry(scenario: Callable[[str], tuple[bool, str]]) -> None:
    passed, report = scenario("[[device]]\nmodel = 'mouse'\nat = '1-4.1'\n[[step]]\nsleep = 1\n")
    assert not passed
    assert ("s.toml:1: device 1: '1-4.1': no hub is plugged in at 1-4" in report)
    assert "step 1" not in report
    passed, report = scenario("[[module]]\nname = 'no_such_driver'\n[[step]]\nsleep = 1\n")
    assert not passed
    assert "s.toml:1: module 1: modprobe: FATAL: Module no_such_driver not found" in report


# -- run steps (through the shell) ---------------------------------------------------------------


def test_run_checks_status_output_and_stderr(scenario: Callable[[str], tuple[bool, str]]
                                             ) -> None:
    passed, report = scenario(PEN + """
[[step]]
run = "cat /sys/bus/usb/devices/1-1/idVendor"
expect_output = "058f\\n"
output_contains = ["058"]
output_matches = "^05"
[[step]]
run = "ls /nope"
status = 2
""")
    assert passed, report
    passed, report = scenario(PEN + '[[step]]\nrun = "cat /nope"\n')
    assert not passed
    assert "s.toml:8: step 1: 'cat /nope' exited with status 1, expected 0; it printed to " \
           "stderr:\ncat: /nope: No such file or directory" in report


def test_each_run_step_sees_only_its_own_output(scenario: Callable[[str], tuple[bool, str]]
                                                ) -> None:
    passed, report = scenario(PEN + """
[[step]]
run = "cat /sys/bus/usb/devices/1-1/idVendor"
[[step]]
run = "cat /sys/bus/usb/devices/1-1/idProduct"
expect_output = "6387\\n"
""")
    assert passed, report


def test_run_output_mismatch_shows_a_unified_diff(scenario: Callable[[str], tuple[bool, str]]
                                                  ) -> None:
    passed, report = scenario(PEN + """
[[step]]
run = "cat /sys/bus/usb/devices/1-1/idVendor"
expect_output = "058e\\n"
""")
    assert not passed
    assert ("s.toml:10: step 1: the output of 'cat /sys/bus/usb/devices/1-1/idVendor' is not "
            "the expected output:\n--- expected\n+++ actual\n@@ -1 +1 @@\n-058e\n+058f") in report


def test_run_output_contains_and_matches_failures(scenario: Callable[[str], tuple[bool, str]]
                                                  ) -> None:
    passed, report = scenario(PEN + '[[step]]\nrun = "lsusb"\noutput_contains = "ffff:"\n')
    assert not passed
    assert "s.toml:9: step 1: the output of 'lsusb' does not contain 'ffff:'; it was:\nBus " \
        in report
    passed, report = scenario(PEN + '[[step]]\nrun = "lsusb"\noutput_matches = "^Bus 002"\n')
    assert "s.toml:9: step 1: the output of 'lsusb' does not match /^Bus 002/" in report


# -- bridges -------------------------------------------------------------------------------------


def test_an_unavailable_bridge_fails_with_the_reason(
        scenario: Callable[[str], tuple[bool, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fuse, "unavailable_reason", lambda: "/dev/fuse does not exist")
    passed, report = scenario("[machine]\nreal_time = true\n[[bridge]]\ntype = 'fuse'\n"
                              "mountpoint = 'mnt'\n[[step]]\nsleep = 1\n")
    assert not passed
    assert ("s.toml:3: bridge 1: FUSE cannot be used here: /dev/fuse does not exist"
            in report)
    assert "step 1" not in report


def test_a_bridge_is_one_entry_of_the_table(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def start(system: System, config: Mapping[str, object]) -> Callable[[], None]:
        calls.append(f"start {config}")

        def stop() -> None:
            calls.append("stop")
            raise OSError(errno.EIO, "Input/output error")
        return stop

    echo = scenario_mod.BridgeType(
        fields={"socket": (lambda v: v, True), "port": (lambda v: v, False)},
        needs=lambda machine: None if machine.seed else "an echo bridge needs a seed",
        start=start, host_paths=("socket",))
    monkeypatch.setitem(scenario_mod.BRIDGES, "echo", echo)
    path = tmp_path / "s.toml"
    path.write_text("[[bridge]]\ntype = 'echo'\nsocket = 'echo.sock'\n")
    assert [e.removeprefix(f"{path}:") for e in errors_of(path)] == [
        "2: bridge 1: an echo bridge needs a seed"]
    path.write_text("[machine]\nseed = 1\n[[bridge]]\ntype = 'echo'\nsocket = 'echo.sock'\n"
                    "[[step]]\nexpect_exists = '/nope'\n")
    passed, report = run_file(path)
    assert not passed
    assert calls == [f"start {{'socket': '{tmp_path / 'echo.sock'}'}}", "stop"]
    assert "ok bridge 1: start the echo bridge" in report
    assert report.splitlines()[-1] == ("bridge 1: could not be stopped: Input/output error "
                                       "(EIO)")


@pytest.mark.skipif(fuse.unavailable_reason() is not None,
                    reason=f"FUSE cannot be used: {fuse.unavailable_reason()}")
def test_fuse_bridge_serves_outside_programs_while_steps_run(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    path = tmp_path / "s.toml"
    path.write_text(PEN.replace("[[module]]", "[machine]\nreal_time = true\n\n[[module]]") + """
[[bridge]]
type = "fuse"
mountpoint = "mnt"

[[step]]
sleep = 2000
""")
    seen: list[str] = []

    def outside() -> None:
        for _ in range(400):
            if os.path.ismount(mnt):
                with open(mnt / "sys/bus/usb/devices/1-1/idVendor") as f:
                    seen.append(f.read())
                return
            threading.Event().wait(0.01)

    reader = threading.Thread(target=outside)
    reader.start()
    try:
        passed, report = run_file(path)
    finally:
        reader.join()
    assert passed, report
    assert "ok bridge 1: start the fuse bridge" in report
    assert seen == ["058f\n"]
    assert not os.path.ismount(mnt)


def test_any_file_loads_or_gets_a_scenario_error(tmp_path: Path) -> None:
    """Random and half-right files: load_scenario returns a Scenario or raises ScenarioError
    whose every line names the file and a line — nothing else escapes."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    fragments = st.sampled_from([
        "[machine]", "[[module]]", "[[device]]", "[[bridge]]", "[[step]]", "[step]",
        "[step.x]", "name = \"pen_driver\"", "model = \"pendrive\"", "model = 3",
        "clone = \"nope.toml\"", "at = \"1-1\"", "at = \"x\"", "at = 1", "options = { ports = 2 }",
        "options = { bogus = 1 }", "params = { a = 1 }", "type = \"fuse\"",
        "mountpoint = \"m\"", "write = \"/dev/pen0\"", "data = \"x\"", "hex = \"zz\"",
        "random = -1", "read = \"/dev/pen0\"", "size = 0", "expect = \"@last-write\"",
        "run = \"lsusb\"", "output_matches = \"(\"", "status = 300", "sleep = -5",
        "sleep = 1e400", "plug = \"hub\"", "unplug = \"1-9\"", "load = \"x\"", "unload = 1",
        "error = \"ENOPE\"", "expect_dmesg = []", "expect_event = { action = 1 }",
        "expect_file = { path = \"/x\" }", "expect_exists = [1]", "expect_absent = \"rel\"",
        "real_time = \"yes\"", "seed = 1.5", "ports = 0", "controllers = 99", "= 1", "x =",
        "'''", "\"", "[[", "a.b.c = 1", "steps = [{ plug = \"hub\" }]"])
    texts = st.lists(st.one_of(fragments, st.text(max_size=10)), max_size=12).map("\n".join)
    path = tmp_path / "fuzz.toml"

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(texts)
    def load(text: str) -> None:
        path.write_text(text)
        try:
            load_scenario(path)
        except ScenarioError as exc:
            for line in str(exc).splitlines():
                assert re.match(rf"{re.escape(str(path))}:\d+(:\d+)?: ", line), line

    load()
