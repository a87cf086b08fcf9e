"""The usbemu command (click's test runner, no subprocess)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from usbemu.cli.main import main
from usbemu.emulated.models import BUILTIN_MODELS


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_list_devices_names_every_builtin_model() -> None:
    code, out = invoke("list", "devices")
    assert code == 0
    assert {line.split()[0] for line in out.splitlines()[1:]} == set(BUILTIN_MODELS)
    assert "pendrive  058f:6387  high-speed" in out


def test_list_devices_json() -> None:
    code, out = invoke("list", "devices", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and rows["serial"]["idProduct"] == "fff8"


def test_describe_shows_tree_bytes_and_strings() -> None:
    code, out = invoke("describe", "pendrive")
    assert code == 0
    assert "12 01 00 02 00 00 00 40 8f 05 87 63 00 01 01 02 03 01" in out
    assert "endpoint 0x82 IN bulk wMaxPacketSize 512" in out
    assert "'Mass Storage'" in out


def test_describe_unknown_model_is_a_clear_error() -> None:
    code, out = invoke("describe", "toaster")
    assert code == 2
    assert "no device model named 'toaster'" in out and "pendrive" in out


def test_clone_of_a_model_reloads_identically(tmp_path: Path) -> None:
    code, text = invoke("clone", "mouse")
    assert code == 0 and text.startswith("# usbemu device clone")
    path = tmp_path / "mouse.toml"
    path.write_text(text)
    code, again = invoke("clone", str(path))
    assert code == 0 and again == text


def test_clone_of_a_broken_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("speed = 'high'\n")
    code, out = invoke("clone", str(path))
    assert (code, out) == (2, f"usbemu: error: Invalid value for SOURCE: {path}: descriptors "
                              "= '''hex bytes''' is required\n")


def test_demo_tells_the_whole_story() -> None:
    code, out = invoke("demo")
    assert code == 0, out
    for line in ("usbcore: registered new interface driver pen_driver",
                 "usb 1-1: new high-speed USB device number 2 using ehci-pci",
                 "Pen drive (058F:6387) plugged",
                 "usb 1-4.1: New USB device found, idVendor=0525, idProduct=a4a0",
                 "Minor obtained: 0",
                 "crw------- 1 root root 180, 0 /dev/pen0",
                 "write(/dev/pen0) returned 38; read(/dev/pen0) returned 38",
                 "ls: cannot access '/dev/pen0': No such file or directory",
                 "usb 1-1: USB disconnect, device number 2",
                 "Pen drive removed",
                 "usbcore: deregistering interface driver pen_driver",
                 "    |__ Port 004: Dev 005, If 0, Class=",
                 "  1-4     05e3:0608 USB2.0 Hub             1-4:1.0 → hub",
                 "hid-generic 0003:046D:C077.0001: input,hidraw0: USB HID v1.11 Mouse "
                 "[Logitech USB Optical Mouse] on usb-0000:00:1d.1-1/input0",
                 "crw------- 1 root root 13, 64 /dev/input/event0",
                 "type 2 (EV_REL), code 0 (REL_X), value 10",
                 "type 1 (EV_KEY), code 272 (BTN_LEFT), value 1",
                 "usb 4-1: FTDI USB Serial Device converter now attached to ttyUSB0",
                 "usb 2-2: new full-speed USB device number 2 using uhci_hcd",
                 "usb 3-1: new low-speed USB device number 2 using uhci_hcd",
                 "usb 1-4: new high-speed USB device number 5 using ehci-pci",
                 "crw------- 1 root root 188, 0 /dev/ttyUSB0",
                 "write(/dev/ttyUSB0) returned 54; read(/dev/ttyUSB0) returned 54",
                 "the FT232R got divisor 0x001a (115385 baud), 8 data bits, DTR on, RTS on",
                 "ftdi_sio ttyUSB0: FTDI USB Serial Device converter now disconnected from "
                 "ttyUSB0",
                 "9 USB devices on the bus"):
        assert line in out
    assert "not as Linux does it" not in out


def test_colour_on_a_terminal_and_off_with_no_color() -> None:
    scenario = str(Path(__file__).parents[2] / "examples" / "sysfs_bind.toml")
    coloured = CliRunner().invoke(main, ["run", scenario], env={"FORCE_COLOR": "1"})
    assert coloured.exit_code == 0 and "\x1b[32m✓" in coloured.output
    plain = CliRunner().invoke(main, ["run", scenario],
                               env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert plain.exit_code == 0 and "✓" in plain.output
    assert not re.search(r"\x1b\[(3\d|9\d)m", plain.output)
    piped = CliRunner().invoke(main, ["run", scenario], env={"FORCE_COLOR": None})
    assert "\x1b[" not in piped.output and "ok step 1" in piped.output
