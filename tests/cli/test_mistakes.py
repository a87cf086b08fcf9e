"""Every mistake a new user makes with the `usbemu` command is one line, `usbemu: error: …`,
naming what was wrong and what is accepted, with exit status 2: click's usage errors of
every command, the sources `usbemu clone` cannot use (missing, a directory that is not a
device's, not a dump, empty, endless), names longer than a file name may be, a missing
mount point, port suggestions; and the commands that take what --plug takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from usbemu.cli.main import main
from usbemu.emulated.clone import dump_clone
from usbemu.emulated.models import load_model

KNOWN = ("known models: acm, ft2232h, ftdi, hub, keyboard, mouse, pendrive, serial, serial2, "
         "serial8, storage, tablet, zero")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def one_line_error(*args: str) -> str:
    """The command's message, after checking that it is one line with exit status 2."""
    code, out = invoke(*args)
    assert code == 2, out
    assert out.startswith("usbemu: error: ") and out.count("\n") == 1, out
    return out.removeprefix("usbemu: error: ").rstrip("\n")


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


COMMANDS = _commands(main)


# -- click's usage errors, of every command -------------------------------------------------------


def test_every_command_and_subcommand_is_covered() -> None:
    assert {" ".join(c) for c in COMMANDS} >= {
        "clone", "demo", "describe", "devices", "list", "list bridges", "list controllers",
        "list devices", "list drivers", "lsusb", "mount", "run", "serve", "shell", "stats"}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unknown_option_is_one_line_listing_the_options(command: tuple[str, ...]) -> None:
    message = one_line_error(*command, "--nosuch")
    assert message.startswith(f"No such option '--nosuch'. Options of usbemu "
                              f"{' '.join(command)}: ")
    assert message.endswith("-h/--help.")


def test_the_options_listed_are_the_commands_own() -> None:
    assert one_line_error("lsusb", "--plu", "x") == (
        "No such option '--plu'. Did you mean '--plug'? Options of usbemu lsusb: --real-time, "
        "--seed, --hcd, --ports, --load, --plug, -t, -v, -s, -d, --json, -h/--help.")


@pytest.mark.parametrize(("args", "message"), [
    (("clone",), "Missing argument 'SOURCE' or option '--usb'. Usage: usbemu clone [OPTIONS] "
                 "[SOURCE]"),
    (("run",), "Missing argument 'SCENARIO'. Usage: usbemu run [OPTIONS] SCENARIO"),
    (("mount",), "Missing argument 'DIRECTORY'. Usage: usbemu mount [OPTIONS] DIRECTORY"),
    (("clone", "mouse", "extra"),
     "Got unexpected extra argument (extra). Usage: usbemu clone [OPTIONS] [SOURCE]"),
    (("nosuch",), "No such command 'nosuch'. Commands of usbemu: attach, capture, clone, "
                  "demo, describe, devices, export, list, lsusb, mount, run, serve, shell, "
                  "stats, testusb."),
    (("list", "drivrs"), "No such command 'drivrs'. Did you mean 'drivers'? Commands of "
                         "usbemu list: bridges, controllers, devices, drivers."),
    (("lsusb", "--ports", "x"), "Invalid value for '--ports': 'x' is not a valid integer "
                                "range."),
    (("devices", "--ports", "0"), "Invalid value for '--ports': 0 is not in the range "
                                  "1<=x<=31."),
    (("shell", "--seed", "one"), "Invalid value for '--seed': 'one' is not a valid integer."),
    (("lsusb", "--plug"), "Option '--plug' requires an argument."),
    (("lsusb", "--plug", "nosuch"),
     f"Invalid value for --plug: no device model named 'nosuch' and no such file; {KNOWN}"),
])
def test_usage_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    assert one_line_error(*args) == message


def test_help_is_still_click_help() -> None:
    code, out = invoke("lsusb", "--help")
    assert code == 0 and out.startswith("Usage: usbemu lsusb [OPTIONS]\n")
    code, out = invoke()
    assert code == 0 and "Commands:" in out and "usbemu: error" not in out


def test_a_real_process_prints_the_line_on_stderr() -> None:
    proc = subprocess.run([sys.executable, "-m", "usbemu", "lsusb", "--bogus"],
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith("usbemu: error: No such option '--bogus'. ")
    assert proc.stderr.count("\n") == 1


# -- usbemu clone SOURCE --------------------------------------------------------------------------


def test_clone_of_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert one_line_error("clone", str(missing)) == (
        f"Invalid value for SOURCE: no device model named '{missing}' and no such file; "
        f"{KNOWN}")


def test_clone_of_a_directory_without_descriptors(tmp_path: Path) -> None:
    assert one_line_error("clone", str(tmp_path)) == (
        f"Invalid value for SOURCE: {tmp_path}: no descriptors file, so not a USB device's "
        "sysfs directory (like /sys/bus/usb/devices/1-1)")


def test_clone_of_a_text_file_that_is_not_a_clone(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    assert one_line_error("clone", str(passwd)) == (
        f"Invalid value for SOURCE: {passwd}: not a clone file or descriptors dump: invalid "
        "TOML: Expected '=' after a key in a key/value pair (at line 1, column 5)")


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="no /etc/passwd")
def test_clone_of_etc_passwd() -> None:
    assert "/etc/passwd: not a clone file or descriptors dump: " in one_line_error(
        "clone", "/etc/passwd")


def test_clone_of_dev_null_is_empty() -> None:
    assert one_line_error("clone", "/dev/null") == (
        "Invalid value for SOURCE: /dev/null: empty; expected a clone file (usbemu clone) or "
        "a descriptors dump")


def test_clone_of_dev_zero_stops_at_the_limit() -> None:
    """Read in a real process with a timeout: without the limit it never returns."""
    proc = subprocess.run([sys.executable, "-m", "usbemu", "clone", "/dev/zero"],
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        "usbemu: error: Invalid value for SOURCE: /dev/zero: more than 67108864 bytes; a "
        "clone file or descriptors dump is at most 64 MiB (the largest dump, 18 + 255 × "
        "65535 bytes, as hex text)\n")


LONG = "x" * 300
LONG_SHOWN = f"no device model named '{'x' * 60}'… (300 characters) and no such file; {KNOWN}"


@pytest.mark.parametrize(("args", "hint"), [
    (("describe", LONG), "MODEL"), (("clone", LONG), "SOURCE"),
    (("lsusb", "--plug", LONG), "--plug"), (("lsusb", "--plug", f"{LONG} at 1-1"), "--plug"),
])
def test_a_name_longer_than_a_file_name_is_an_error_line(args: tuple[str, ...],
                                                         hint: str) -> None:
    assert one_line_error(*args) == f"Invalid value for {hint}: {LONG_SHOWN}"


def test_a_long_model_name_in_a_scenario_is_a_scenario_mistake(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f"[[device]]\nmodel = '{LONG}'\n[[step]]\nsleep = 1\n")
    code, out = invoke("run", str(path))
    assert code == 2 and out.startswith(f"{path}:2: device 1: no device model named ")


# -- usbemu describe takes what --plug takes ------------------------------------------------------


def test_describe_a_clone_file(tmp_path: Path) -> None:
    path = tmp_path / "mouse.toml"
    path.write_text(dump_clone(load_model("mouse")()))
    code, out = invoke("describe", str(path))
    assert code == 0, out
    assert out.splitlines()[0].startswith(f"{path}  046d:c077")
    _, original = invoke("describe", "mouse")
    assert out.splitlines()[1:] == original.splitlines()[1:]


def test_describe_a_broken_clone_file_says_what_plug_says(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("speed = 'high'\n")
    described = one_line_error("describe", str(path))
    plugged = one_line_error("lsusb", "--plug", str(path))
    assert described.removeprefix("Invalid value for MODEL: ") == \
        plugged.removeprefix("Invalid value for --plug: ") == \
        f"{path}: descriptors = '''hex bytes''' is required"


# -- usbemu mount DIR -----------------------------------------------------------------------------


def test_mount_on_a_missing_directory_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "emu"
    assert one_line_error("mount", str(missing)) == (
        f"Invalid value for 'DIRECTORY': Directory '{missing}' does not exist.")
    assert not missing.exists()


# -- usbemu lsusb -s and -d -----------------------------------------------------------------------


TOPOLOGY = ("--plug", "pendrive", "--plug", "hub ports=4 at 1-4", "--plug", "mouse at 1-4.2")


@pytest.mark.parametrize(("args", "ids"), [
    (("-s", "1:2"), ["058f:6387"]), (("-s", "4"), ["046d:c077"]),
    (("-s", "1:"), ["1d6b:0002", "058f:6387", "05e3:0608", "046d:c077"]),
    (("-d", "058f:"), ["058f:6387"]), (("-d", ":0002"), ["1d6b:0002"]),
    (("-d", "046D:C077"), ["046d:c077"]), (("-s", "1:3", "-d", "05e3:"), ["05e3:0608"]),
])
def test_lsusb_filters_as_usbutils(args: tuple[str, ...], ids: list[str]) -> None:
    code, out = invoke("lsusb", *args, *TOPOLOGY)
    assert code == 0, out
    assert [line.split()[5] for line in out.splitlines()] == ids


def test_lsusb_filter_verbose_and_json() -> None:
    code, out = invoke("lsusb", "-v", "-d", "046d:", *TOPOLOGY)
    assert code == 0 and out.startswith("\nBus 001 Device 004: ID 046d:c077 ")
    assert out.count("\nDevice Descriptor:") == 1
    assert "Negotiated speed: Low Speed (1Mbps)\nDevice Descriptor:\n" in out
    code, out = invoke("lsusb", "--json", "-s", "2", *TOPOLOGY)
    assert code == 0 and [row["path"] for row in json.loads(out)] == ["1-1"]


def test_lsusb_tree_shows_everything_whatever_the_filter() -> None:
    assert invoke("lsusb", "-t", "-d", "1234:", *TOPOLOGY) == invoke("lsusb", "-t", *TOPOLOGY)


@pytest.mark.parametrize("args", [("-d", "1234:5678"), ("-s", "2:"), ("-v", "-s", "9")])
def test_lsusb_without_a_match_prints_nothing_and_exits_1(args: tuple[str, ...]) -> None:
    assert invoke("lsusb", *args, *TOPOLOGY) == (1, "")
    code, out = invoke("lsusb", "--json", *args, *TOPOLOGY)
    assert code == 1 and json.loads(out) == []


@pytest.mark.parametrize(("args", "message"), [
    (("-s", "x"), "invalid -s argument 'x': expected [[bus]:][devnum] in decimal"),
    (("-s", "1:2:3"), "invalid -s argument '1:2:3': expected [[bus]:][devnum] in decimal"),
    (("-d", "058f"), "invalid -d argument '058f': expected [vendor]:[product] in hexadecimal"),
    (("-d", "10000:"), "invalid -d argument '10000:': expected [vendor]:[product] in "
                       "hexadecimal"),
])
def test_lsusb_bad_filters_are_one_line(args: tuple[str, ...], message: str) -> None:
    assert one_line_error("lsusb", *args) == message


def test_the_shell_and_the_command_share_the_filter() -> None:
    from usbemu.cli.shell import devices

    assert not hasattr(devices, "_parse_bus_dev") and not hasattr(devices, "_parse_ids")
    result = CliRunner().invoke(main, ["shell", *TOPOLOGY], input="lsusb -s 1:2 -d 058f:\n")
    assert result.exit_code == 0
    assert result.output == invoke("lsusb", "-s", "1:2", "-d", "058f:", *TOPOLOGY)[1]


# -- port suggestions -----------------------------------------------------------------------------


def test_a_taken_or_missing_port_lists_the_free_ports_and_no_absent_hub() -> None:
    assert one_line_error("lsusb", "--ports", "2", "--plug", "mouse at 1-2.1") == (
        "Invalid value for --plug: '1-2.1': no hub is plugged in at 1-2; free ports: 1-1, 1-2")
    assert one_line_error("lsusb", "--ports", "2", "--plug", "pendrive",
                          "--plug", "mouse at 1-1") == (
        "Invalid value for --plug: '1-1': root hub port 1 already holds <PenDrive 058f:6387 "
        "configured addr=2>: unplug it first; free ports: 1-2")


def test_full_root_hub_suggests_a_port_of_a_plugged_hub_only() -> None:
    full = ("--ports", "1", "--plug", "pendrive", "--plug", "mouse")
    assert one_line_error("lsusb", *full) == (
        "Invalid value for --plug: every root-hub port is taken and no hub has a free port; "
        "unplug a device first")
    hub = ("--ports", "1", "--plug", "hub ports=2")
    assert one_line_error("lsusb", *hub, "--plug", "mouse") == (
        "Invalid value for --plug: every root-hub port is taken; say where: plug MODEL at "
        "1-1.1 (free hub ports: 1-1.1, 1-1.2)")
    assert one_line_error("lsusb", *hub, "--plug", "pendrive at 1-1.1", "--plug",
                          "serial at 1-1.2", "--plug", "mouse") == (
        "Invalid value for --plug: every root-hub port is taken and no hub has a free port; "
        "unplug a device first")


# -- a driver whose probe never returns -----------------------------------------------------------

HUNG_DRIVER = '''
import asyncio
from usbemu.linux import (MODULE_LICENSE, USB_DEVICE, module_exit, module_init,
                          usb_deregister, usb_driver, usb_register)

MODULE_LICENSE("GPL")

async def hung_probe(interface, id):
    await asyncio.Event().wait()          # firmware that never comes

hung = usb_driver(name="hung", probe=hung_probe, id_table=[USB_DEVICE(0x058F, 0x6387)])
module_init(lambda: usb_register(hung))
module_exit(lambda: usb_deregister(hung))
'''


@pytest.mark.usefixtures("hang_guard")
def test_a_probe_that_never_returns_is_one_line_with_status_1(tmp_path: Path) -> None:
    driver = tmp_path / "hung.py"
    driver.write_text(HUNG_DRIVER)
    code, out = invoke("lsusb", "--load", str(driver), "--plug", "pendrive")
    assert code == 1, out
    assert out.startswith("usbemu: error: the machine did not settle within 180 s: ")
    assert "probe of 1-1:1.0 by driver hung" in out and out.count("\n") == 1


@pytest.mark.usefixtures("hang_guard")
def test_a_scenario_step_whose_probe_never_returns_fails_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "hung.py").write_text(HUNG_DRIVER)
    scenario = tmp_path / "hung.toml"
    scenario.write_text('[[module]]\nname = "hung.py"\n\n[[step]]\nplug = "pendrive"\n'
                        '\n[[step]]\nplug = "mouse"\n')
    code, out = invoke("run", str(scenario))
    assert code == 1, out
    assert ("hung.toml:5: step 1: plug pendrive: the machine did not settle within 180 s: "
            "hub_wq is handling hub 1-0:1.0; probe of 1-1:1.0 by driver hung (for ") in out
    assert "scenario failed at step 1 of 2" in out and "Traceback" not in out
