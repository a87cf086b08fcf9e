"""The machine option --hcd KIND: the controller kind of every command that boots a
machine, the kind's own port count unless --ports says, and its mistakes as one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from usbemu.cli.main import main

KNOWN_KINDS = "known host controller kinds: ehci, inproc, ohci, uhci, vhci"


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.output


def one_line_error(*args: str) -> str:
    code, out = invoke(*args)
    assert code == 2, out
    assert out.startswith("usbemu: error: ") and out.count("\n") == 1, out
    return out.removeprefix("usbemu: error: ").rstrip("\n")


def test_hcd_ehci_boots_the_ehci_model() -> None:
    code, out = invoke("shell", "--hcd", "ehci", "--plug", "zero",
                       stdin="ls /sys/kernel/debug/usb/ehci\nlsusb\ndmesg\n")
    assert code == 0, out
    lines = out.splitlines()     # names come from usb.ids when the host has it
    assert [lines[0], *(line[:33] for line in lines[1:3])] == [
        "0000:00:1d.0", "Bus 001 Device 001: ID 1d6b:0002 ", "Bus 001 Device 002: ID 0525:a4a0 "]
    assert "ehci-pci 0000:00:1d.0: new USB bus registered, assigned bus number 1" in out


def test_the_default_is_the_in_process_controller() -> None:
    code, out = invoke("shell", stdin="ls /sys/kernel/debug/usb/ehci\nstats\n")
    assert code == 0, out
    assert out == ("Bus 001: ehci-pci 0000:00:1d.0: no schedule statistics (controller "
                   "kind inproc)\n")


def test_devices_of_an_ehci_machine() -> None:
    code, out = invoke("devices", "--hcd", "ehci", "--plug", "zero")
    assert code == 0, out
    assert out.startswith("\nT:  Bus=01 Lev=00 Prnt=00 Port=00 Cnt=00 Dev#=  1 Spd=480  "
                          "MxCh= 6\n")
    assert "P:  Vendor=0525 ProdID=a4a0 " in out


@pytest.mark.parametrize(("args", "maxchild"), [
    ((), " 6"), (("--hcd", "ehci"), " 6"), (("--hcd", "uhci"), " 2"), (("--hcd", "ohci"), " 3"),
    (("--hcd", "uhci", "--ports", "4"), " 4"), (("--hcd", "ehci", "--ports", "15"), "15"),
])
def test_ports_are_the_kinds_own_unless_given(args: tuple[str, ...], maxchild: str) -> None:
    code, out = invoke("devices", *args)
    assert code == 0, out
    assert out.splitlines()[1].endswith(f"MxCh={maxchild}")


def test_a_full_speed_kind_has_a_usb1_root_hub() -> None:
    code, out = invoke("lsusb", "--hcd", "uhci", "--plug", "mouse")
    assert code == 0, out
    assert out.startswith("Bus 001 Device 001: ID 1d6b:0001 ")


@pytest.mark.parametrize("command", [("lsusb",), ("devices",), ("shell",), ("stats",),
                                     ("serve", "--pty", "ttyUSB0")])
def test_an_unknown_kind_is_one_line(command: tuple[str, ...]) -> None:
    assert one_line_error(*command, "--hcd", "bogus") == (
        f"Invalid value for '--hcd': no host controller kind named 'bogus'; {KNOWN_KINDS}")


def test_an_unknown_kind_fails_before_mount_starts(tmp_path: Path) -> None:
    assert one_line_error("mount", "--hcd", "bogus", str(tmp_path)).startswith(
        "Invalid value for '--hcd': no host controller kind named 'bogus'; ")


def test_more_ports_than_the_kind_has_is_one_line_naming_ports() -> None:
    assert one_line_error("lsusb", "--hcd", "ehci", "--ports", "16") == (
        "Invalid value for --ports: nports=16: EHCI root hubs have 1..15 ports")
    assert one_line_error("devices", "--hcd", "uhci", "--ports", "8").startswith(
        "Invalid value for --ports: ")


def test_help_names_the_option_and_its_default() -> None:
    code, out = invoke("lsusb", "--help")
    assert code == 0
    assert "--hcd KIND" in out and "[default: inproc]" in out
