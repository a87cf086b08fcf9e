"""`usbemu clone --usb`: a device of this machine through pyusb (usbemu.bridges.pyusb_clone),
as the command wires it: its arguments, its output and its one-line errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from usbemu.bridges import pyusb_clone
from usbemu.bridges.pyusb_clone import UsbAccessError
from usbemu.cli.main import main
from usbemu.emulated.clone import ClonedDevice, CloneError, clone_data_of, dump_clone
from usbemu.emulated.models.keyboard import BootKeyboard


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_clone_usb_prints_the_clone_file_of_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, bool]] = []

    def clone_from_usb(spec: str, *, detach: bool = False) -> ClonedDevice:
        calls.append((spec, detach))
        return ClonedDevice(clone_data_of(BootKeyboard()))
    monkeypatch.setattr(pyusb_clone, "clone_from_usb", clone_from_usb)
    assert invoke("clone", "--usb", "0627:0001") == (0, dump_clone(BootKeyboard()), "")
    assert invoke("clone", "--usb", "1:4", "--detach")[0] == 0
    assert calls == [("0627:0001", False), ("1:4", True)]


@pytest.mark.parametrize(("error", "status", "message"), [
    (LookupError("no USB device 1234:5678 on this machine (lsusb lists them)"), 2,
     "usbemu: error: Invalid value for --usb: no USB device 1234:5678 on this machine "
     "(lsusb lists them)"),
    (UsbAccessError("pyusb found no libusb backend: install libusb 1.0"), 1,
     "usbemu: error: 1234:5678: pyusb found no libusb backend: install libusb 1.0"),
    (CloneError("usb 001:004: device descriptor: 8 bytes; a device sends 18 bytes"), 1,
     "usbemu: error: usb 001:004: device descriptor: 8 bytes; a device sends 18 bytes"),
    (TimeoutError(110, "Connection timed out"), 1,
     "usbemu: error: 1234:5678: [Errno 110] Connection timed out"),
])
def test_clone_usb_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, error: Exception,
                                       status: int, message: str) -> None:
    def clone_from_usb(spec: str, *, detach: bool = False) -> ClonedDevice:
        raise error
    monkeypatch.setattr(pyusb_clone, "clone_from_usb", clone_from_usb)
    assert invoke("clone", "--usb", "1234:5678") == (status, "", message + "\n")


@pytest.mark.parametrize(("args", "message"), [
    (("clone", "mouse", "--usb", "1:2"),
     "Give either SOURCE or --usb DEVICE. Usage: usbemu clone [OPTIONS] [SOURCE]"),
    (("clone", "mouse", "--detach"),
     "--detach goes with --usb. Usage: usbemu clone [OPTIONS] [SOURCE]"),
    (("clone", "--usb", "1:2:3"),
     "Invalid value for --usb: '1:2:3' is neither VVVV:PPPP (vendor:product, four hex "
     "digits each, e.g. 0627:0001) nor BUS:DEVNUM (decimal, e.g. 1:4 or 001:004)"),
])
def test_clone_usb_mistakes(args: tuple[str, ...], message: str) -> None:
    assert invoke(*args) == (2, "", f"usbemu: error: {message}\n")


def test_clone_usb_without_a_backend_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("usb.core", reason="pyusb (the clone extra) is not installed")
    for module in ("libusb1", "openusb", "libusb0"):
        monkeypatch.setattr(f"usb.backend.{module}.get_backend", lambda *a, **k: None)
    assert invoke("clone", "--usb", "1:2") == (
        1, "", "usbemu: error: 1:2: pyusb found no libusb backend: install libusb 1.0 "
               "(Debian: apt install libusb-1.0-0)\n")
