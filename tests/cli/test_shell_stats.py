"""The shell's `stats [BUS]`: every bus or one, an EHCI controller's statistics under its
bus line, one line for a controller without them, the shell's usual errors, completion and
help; and `usbemu shell --hcd ehci` piped."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from usbemu.cli.machine import boot, plug
from usbemu.cli.main import main
from usbemu.cli.shell import Shell
from usbemu.cli.shell.commands import COMMANDS
from usbemu.system import System


class Session:
    """A Shell on a machine; each call gives (status, output, messages)."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.shell = Shell(system, self.out, self.err)

    def __call__(self, line: str) -> tuple[int, str, str]:
        for stream in (self.out, self.err):
            stream.seek(0)
            stream.truncate()
        status = self.shell.execute(line)
        return status, self.out.getvalue(), self.err.getvalue()


@pytest.fixture
def sh() -> Iterator[Session]:
    """Bus 1: EHCI with gadget zero at 1-1; bus 2: UHCI (0000:00:1e.0)."""
    system = boot(hcd="ehci")
    try:
        system.add_controller("uhci")
        plug(system, "zero")
        yield Session(system)
    finally:
        system.close()


EHCI_BLOCK = re.compile(
    r"Bus 001: ehci-pci 0000:00:1d\.0\n"
    r"frame \d+, (\d+) microframes \(\d+\.\d{6} s\)\n"
    r"high-speed: +\d+\.\d% of \d+ frames\n"
    r"1-1 ep 00 control +\d+ bytes +\d+ transactions +0 NAKs +\d+ URBs +\d+\.\d{3} MB/s\n")
UHCI_LINE = "Bus 002: uhci_hcd 0000:00:1e.0: no schedule statistics (controller kind uhci)\n"


def test_stats_shows_every_bus(sh: Session) -> None:
    status, out, err = sh("stats")
    assert (status, err) == (0, "")
    found = EHCI_BLOCK.match(out)
    assert found is not None, out
    assert out[found.end():] == "\n" + UHCI_LINE


def test_stats_of_one_bus(sh: Session) -> None:
    status, out, _ = sh("stats 1")
    assert status == 0 and EHCI_BLOCK.fullmatch(out), out
    assert sh("stats 002") == (0, UHCI_LINE, "")


def test_stats_counts_the_machine_time_that_passed(sh: Session) -> None:
    before = EHCI_BLOCK.match(sh("stats 1")[1])
    sh("sleep 1s")
    after = EHCI_BLOCK.match(sh("stats 1")[1])
    assert before is not None and after is not None
    assert int(after[1]) - int(before[1]) == 8000


def test_stats_on_an_inproc_machine_says_there_are_none() -> None:
    system = boot()
    try:
        plug(system, "zero")
        assert Session(system)("stats") == (
            0, "Bus 001: ehci-pci 0000:00:1d.0: no schedule statistics (controller kind "
               "inproc)\n", "")
    finally:
        system.close()


@pytest.mark.parametrize(("line", "message"), [
    ("stats 3", "stats: no bus 3; the machine's buses: 1, 2\n"),
    ("stats 0", "stats: no bus 0; the machine's buses: 1, 2\n"),
    ("stats x", "stats: 'x' is not a bus number (decimal, as lsusb shows it: 1 or 001)\n"
                "Usage: stats [BUS]\n"),
    ("stats -1", "stats: '-1' is not a bus number (decimal, as lsusb shows it: 1 or 001)\n"
                 "Usage: stats [BUS]\n"),
    ("stats 1 2", "stats: unexpected argument '2'\nUsage: stats [BUS]\n"),
])
def test_a_bad_bus_is_the_shells_usual_error(sh: Session, line: str, message: str) -> None:
    assert sh(line) == (1, "", message)


def test_stats_completes_bus_numbers_and_has_help(sh: Session) -> None:
    assert sh.shell.complete("stats ") == ["1", "2"]
    assert sh.shell.complete("stats 2") == ["2"]
    assert sh.shell.complete("stats 1 ") == []
    assert "stats" in sh.shell.complete("st")
    status, out, _ = sh("help")
    assert status == 0 and f"  stats     {COMMANDS['stats'].summary}\n" in out
    assert sh("help stats") == (0, f"Usage: stats [BUS]\n{COMMANDS['stats'].summary}\n", "")


def test_the_shell_command_with_hcd_ehci_and_gadget_zero() -> None:
    result = CliRunner().invoke(main, ["shell", "--hcd", "ehci", "--plug", "zero"],
                                input="stats\ndmesg\n")
    assert result.exit_code == 0, result.output
    assert EHCI_BLOCK.match(result.output), result.output
    assert "ehci-pci 0000:00:1d.0: EHCI Host Controller" in result.output
