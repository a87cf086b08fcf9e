"""The one-shot commands: `usbemu lsusb`, `usbemu devices`, `usbemu list drivers|devices|
bridges` with --json, the machine options they share, and `usbemu mount`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from usbemu.bridges.fuse import unavailable_reason
from usbemu.cli.main import main


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


TOPOLOGY = ("--load", "pen_driver", "--plug", "pendrive", "--plug", "hub ports=4 at 1-4",
            "--plug", "mouse at 1-4.2")


def test_lsusb_lists_the_plugged_devices_in_usbutils_format() -> None:
    code, out = invoke("lsusb", *TOPOLOGY)
    assert code == 0
    # names come from the device's strings or, where the host has one, usb.ids
    assert [line[:33] for line in out.splitlines()] == [
        "Bus 001 Device 001: ID 1d6b:0002 ",
        "Bus 001 Device 002: ID 058f:6387 ",
        "Bus 001 Device 003: ID 05e3:0608 ",
        "Bus 001 Device 004: ID 046d:c077 ",
    ]


def test_lsusb_t_shows_the_driver_the_load_option_bound() -> None:
    code, out = invoke("lsusb", "-t", *TOPOLOGY)
    assert code == 0
    assert re.search(r"\|__ Port 001: Dev 002, If 0, Class=.*, Driver=pen_driver, 480M\n", out)
    assert re.search(r" {8}\|__ Port 002: Dev 004, If 0, Class=.*, Driver=usbhid, 1.5M\n",
                     out)


def test_lsusb_v_decodes_descriptors() -> None:
    code, out = invoke("lsusb", "-v", "--plug", "pendrive")
    assert code == 0 and "idVendor           0x058f" in out
    assert "bEndpointAddress     0x82  EP 2 IN" in out


def test_lsusb_json() -> None:
    code, out = invoke("lsusb", "--json", *TOPOLOGY)
    rows = json.loads(out)
    assert code == 0
    assert [(r["path"], r["devnum"], r["idVendor"]) for r in rows] == [
        ("usb1", 1, "1d6b"), ("1-1", 2, "058f"), ("1-4", 3, "05e3"), ("1-4.2", 4, "046d")]
    assert rows[1]["interfaces"] == [{"name": "1-1:1.0", "class": "08",
                                      "driver": "pen_driver"}]
    assert rows[3]["speed"] == "low-speed"


def test_devices_prints_the_debugfs_devices_file() -> None:
    code, out = invoke("devices", "--plug", "pendrive", "--ports", "2")
    assert code == 0
    assert out.startswith("\nT:  Bus=01 Lev=00 Prnt=00 Port=00 Cnt=00 Dev#=  1 Spd=480  MxCh= 2\n"
                          "B:  Alloc=  0/800 us ( 0%), #Int=  0, #Iso=  0\n")
    assert "P:  Vendor=058f ProdID=6387 Rev= 1.00\n" in out


@pytest.mark.parametrize(("args", "message"), [
    (("--plug", "hub port=3"), "Invalid value for --plug: model 'hub' has no option 'port'; "
                               "accepted: ports (int)"),
    (("--plug", "nosuch"), "no device model named 'nosuch' and no such file; known models:"),
    (("--plug", "mouse at 1-9"), "root hub port 9 does not exist (ports 1..6)"),
    (("--plug", "mouse at one"), "'one' is not a port path; expected BUS-PORT[.PORT...]"),
    (("--load", "nosuch"), "modprobe: FATAL: Module nosuch not found in directory "
                           "/lib/modules/6.12.0"),
    (("--load", "pen_driver", "--load", "pen_driver"),
     "insmod: ERROR: could not insert module"),
])
def test_a_bad_machine_option_is_a_usage_error_naming_it(args: tuple[str, ...],
                                                          message: str) -> None:
    result = CliRunner().invoke(main, ["lsusb", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_list_drivers_names_drivers_by_their_linux_names() -> None:
    code, out = invoke("list", "drivers", "--json")
    rows = {(r["driver"], r["module"]): r for r in json.loads(out)}
    assert code == 0
    assert rows["usb", "usbcore"]["kind"] == "device"
    assert rows["hub", "usbcore"]["kind"] == "interface"
    assert rows["pen_driver", "pen_driver"] == {
        "driver": "pen_driver", "module": "pen_driver", "kind": "interface", "ids": 1,
        "origin": "example", "error": None}


def test_list_drivers_plain_is_a_table_with_a_header() -> None:
    code, out = invoke("list", "drivers")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["DRIVER", "MODULE", "KIND", "IDS", "ORIGIN",
                                              "ERROR"]
    assert lines[1:] and any(line.split()[:2] == ["pen_driver", "pen_driver"]
                             for line in lines[1:])


def test_list_bridges_says_whether_each_can_run_here() -> None:
    code, out = invoke("list", "bridges", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    assert rows["fuse"]["origin"] == "built-in"
    assert rows["fuse"]["available"] == (unavailable_reason() is None)
    assert rows["fuse"]["summary"] == "A machine's file tree as a real FUSE filesystem"


def test_list_devices_plain_is_a_table() -> None:
    code, out = invoke("list", "devices")
    assert code == 0 and out.splitlines()[0].split() == ["MODEL", "ID", "SPEED",
                                                        "IMPLEMENTATION"]
    assert "pendrive  058f:6387  high-speed" in out


needs_fuse = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=f"FUSE cannot be used: {unavailable_reason()}")


@needs_fuse
def test_mount_serves_the_machine_until_sigterm(tmp_path: Path) -> None:
    mnt = tmp_path / "emu"
    mnt.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "usbemu", "mount", "--load", "pen_driver", "--plug", "pendrive",
         str(mnt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if os.path.ismount(mnt) or proc.poll() is not None:
                break
            threading.Event().wait(0.05)
        if not os.path.ismount(mnt):
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"usbemu mount did not mount: {out}{err}")
        vendor = (mnt / "sys/bus/usb/devices/1-1/idVendor").read_text()
        assert vendor == "058f\n"
        subprocess.run(["sh", "-c", f"printf hello > '{mnt}/dev/pen0'"], check=True, timeout=30)
        cat = subprocess.run(["cat", str(mnt / "dev/pen0")], capture_output=True, timeout=30)
        assert cat.stdout == b"hello"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert not os.path.ismount(mnt)


def test_mount_without_fuse_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    import usbemu.bridges.fuse as fuse

    monkeypatch.setattr(fuse, "unavailable_reason", lambda: "libfuse cannot be loaded")
    code, out = invoke("mount", str(tmp_path))
    assert code == 1
    assert out == "usbemu: error: libfuse cannot be loaded\n"


PLUGIN_DRIVER = '''"""plugdrv: a driver module of an installed plugin package."""
from usbemu.linux import (MODULE_DEVICE_TABLE, USB_DEVICE, module_exit, module_init,
                          usb_deregister, usb_device_id, usb_driver, usb_register)

async def probe(interface, id):
    return 0

async def disconnect(interface):
    pass

table = [USB_DEVICE(0x1234, 0x5678), usb_device_id()]
MODULE_DEVICE_TABLE("usb", table)
driver = usb_driver(name="plug_drv", probe=probe, disconnect=disconnect, id_table=table)

async def init():
    return await usb_register(driver)

async def exit_():
    await usb_deregister(driver)

module_init(init)
module_exit(exit_)
'''

PLUGIN_MODEL = '''"""A device model of an installed plugin package."""
from usbemu.emulated.models.serial import SerialConverter

class Gizmo(SerialConverter):
    """A serial converter under another name."""
'''

PLUGIN_BRIDGE = '''"""A bridge to nowhere, from an installed plugin package."""

def unavailable_reason():
    return "needs a nowhere device"
'''


PLUGIN_CONTROLLER = '''"""A controller kind from an installed plugin package."""

from usbemu.host.inproc import InProcessController


class ToyHC(InProcessController):
    description = "toy_hcd"
    product_desc = "Toy Host Controller"
    driver_name = "toy-hcd"
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution installed on sys.path as pip leaves it, with a driver module, a
    device model and a bridge in usbemu's entry-point groups."""
    package = tmp_path / "usbemu_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugdrv.py").write_text(PLUGIN_DRIVER)
    (package / "gizmo.py").write_text(PLUGIN_MODEL)
    (package / "nowhere.py").write_text(PLUGIN_BRIDGE)
    (package / "toyhc.py").write_text(PLUGIN_CONTROLLER)
    info = tmp_path / "usbemu_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: usbemu-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[usbemu.drivers]\nplugdrv = usbemu_plugin.plugdrv\n\n"
        "[usbemu.devices]\ngizmo = usbemu_plugin.gizmo:Gizmo\n\n"
        "[usbemu.bridges]\nnowhere = usbemu_plugin.nowhere\n\n"
        "[usbemu.hcds]\ntoyhc = usbemu_plugin.toyhc:ToyHC\nbadhc = usbemu_plugin.nope:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [n for n in sys.modules if n.split(".")[0] == "usbemu_plugin"]:
        monkeypatch.delitem(sys.modules, name)
    return tmp_path


def test_list_commands_include_installed_plugins(plugin: Path) -> None:
    _, out = invoke("list", "drivers", "--json")
    assert {"driver": "plug_drv", "module": "plugdrv", "kind": "interface", "ids": 1,
            "origin": "entry point", "error": None} in json.loads(out)
    _, out = invoke("list", "devices", "--json")
    gizmo = next(r for r in json.loads(out) if r["name"] == "gizmo")
    assert (gizmo["id"], gizmo["class"]) == ("ffff:fff8", "usbemu_plugin.gizmo:Gizmo")
    _, out = invoke("list", "bridges", "--json")
    nowhere = next(r for r in json.loads(out) if r["name"] == "nowhere")
    assert nowhere == {"name": "nowhere", "summary": "A bridge to nowhere, from an installed "
                       "plugin package", "origin": "plugin", "module": "usbemu_plugin.nowhere",
                       "available": False, "unavailable_reason": "needs a nowhere device"}
    _, out = invoke("list", "controllers", "--json")
    kinds = {r["name"]: r for r in json.loads(out)}
    assert kinds["inproc"]["origin"] == "built-in"
    assert (kinds["toyhc"]["driver"], kinds["toyhc"]["origin"]) == ("toy-hcd", "plugin")
    assert kinds["badhc"]["error"].startswith("host controller kind 'badhc' "
                                              "(usbemu_plugin.nope:X) failed to load: ")
    code, out = invoke("lsusb", "--plug", "gizmo")
    assert code == 0 and "ID ffff:fff8" in out


def test_a_plugin_driver_that_fails_to_load_is_a_row_with_its_error(plugin: Path) -> None:
    (plugin / "usbemu_plugin" / "plugdrv.py").write_text("raise ImportError('broken')\n")
    code, out = invoke("list", "drivers", "--json")
    row = next(r for r in json.loads(out) if r["module"] == "plugdrv")
    assert code == 0 and row["driver"] is None
    assert row["error"] == "insmod: ERROR: could not insert module plugdrv: Invalid module format"


def test_plug_option_words_are_split_as_the_shell_splits_them() -> None:
    code, out = invoke("lsusb", "--json", "--plug", "pendrive 'serial=A B' at 1-2")
    rows = {r["path"]: r for r in json.loads(out)}
    assert code == 0 and rows["1-2"]["serial"] == "A B"
    result = CliRunner().invoke(main, ["lsusb", "--plug", "pendrive 'serial=A"])
    assert result.exit_code == 2 and "No closing quotation" in result.output
