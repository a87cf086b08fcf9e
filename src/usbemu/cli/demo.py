"""`usbemu demo`: the articles' story on an emulated machine, told as Linux would show it.

Boots a machine on virtual time with an EHCI-like controller at 0000:00:1d.0, loads the
pen_driver example, plugs the classic devices (the pen drive, a two-port serial converter, a
mouse, and a hub with devices behind it), writes to /dev/pen0 and reads it back as an
application does, then unplugs the pen (the node goes) and unloads the driver — printing
dmesg, the device tree and a short account.
"""

from __future__ import annotations

import importlib.util
import stat
import sys
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.tree import Tree

from ..core.usb import UsbDevice
from ..emulated.models.hub import Hub
from ..emulated.models.mouse import BootMouse
from ..emulated.models.pendrive import PenDrive
from ..emulated.models.serial import SerialConverter, TwoPortSerialConverter
from ..emulated.models.zero import GadgetZero
from ..system import System

_SPEED = {1: "1.5M", 2: "12M", 3: "480M", 5: "5000M"}


def example_path(name: str) -> Path:
    """Where the example `name`.py lives: packaged with usbemu, or in the source tree."""
    here = Path(__file__).resolve()
    for base in (here.parents[1] / "examples", here.parents[3] / "examples"):
        candidate = base / f"{name}.py"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"example {name}.py is not installed with usbemu")


def load_example(name: str) -> ModuleType:
    """Import an example driver module by file, as insmod loads a .ko by path."""
    path = example_path(name)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def device_tree(system: System) -> Tree:
    """The USB device tree with drivers, like a short `lsusb -t`."""
    root = Tree("[bold]USB devices[/bold]")

    def add(node: Tree, dev: UsbDevice) -> None:
        d = dev.descriptor
        ids = f"{d.idVendor:04x}:{d.idProduct:04x}" if d else "????:????"
        label = f"{dev.name}  {ids}  {_SPEED.get(dev.speed, '?')}  {dev.product or ''}"
        branch = node.add(label.rstrip())
        for intf in dev.interfaces():
            drv = intf.driver.name if intf.driver else "(none)"
            alt = intf.cur_altsetting.desc
            branch.add(f"{intf.name}  class {alt.bInterfaceClass:02x}  driver={drv}")
        for port1 in sorted(dev.children):
            add(branch, dev.children[port1])

    for busnum in sorted(system.usb.buses):
        hub = system.usb.buses[busnum].root_hub
        if hub is not None:
            add(root, hub)
    return root


def node_line(system: System, path: str) -> str:
    """`ls -l`-style line for a device node, or that it is gone."""
    if not system.vfs.exists(path):
        return f"ls: cannot access '{path}': No such file or directory"
    st = system.vfs.stat(path)
    major, minor = st.rdev or (0, 0)
    return f"{stat.filemode(st.mode)} 1 root root {major}, {minor} {path}"


def run_demo(console: Console) -> int:
    """Run the story; returns the exit status (0 when every step did what Linux does)."""
    failures = 0

    def step(title: str) -> None:
        console.rule(f"[bold cyan]{title}")

    def show_new_log(start: int) -> int:
        lines = system.log.dmesg().splitlines()
        for line in lines[start:]:
            console.print(line, markup=False, highlight=False)
        return len(lines)

    with System() as system:
        seen = 0
        step("boot: usbcore, an EHCI controller at 0000:00:1d.0")
        system.add_controller()
        seen = show_new_log(seen)

        step("insmod pen_driver")
        pen = load_example("pen_driver")
        system.run(pen.pen_init())
        seen = show_new_log(seen)
        console.print(node_line(system, "/dev/pen0"), markup=False)

        step("plug: pen drive 1-1, serial 1-2, mouse 1-3, hub 1-4 (+ zero 1-4.1, serial 1-4.2)")
        drive = PenDrive()
        hub = Hub(ports=4)
        system.plug(drive, "1-1")
        system.plug(TwoPortSerialConverter(), "1-2")
        system.plug(BootMouse(), "1-3")
        system.plug(hub, "1-4")
        system.settle()
        system.plug(GadgetZero(), "1-4.1")
        system.plug(SerialConverter(), "1-4.2")
        system.settle()
        seen = show_new_log(seen)
        console.print(device_tree(system))

        step("/dev/pen0: the node pen_probe's usb_register_dev made")
        console.print(node_line(system, "/dev/pen0"), markup=False)
        console.print("/sys/class/usbmisc/pen0/dev: "
                      f"{system.vfs.read_text('/sys/class/usbmisc/pen0/dev').strip()}",
                      markup=False)

        step("write, then read back through /dev/pen0 (usb_bulk_msg on 0x01 and 0x82)")
        message = b"Hello from usbemu, through pen_driver!"
        with system.open("/dev/pen0", "rb+") as node:
            wrote = node.write(message)
            got = node.read(512)
        console.print(f"write(/dev/pen0) returned {wrote}; read(/dev/pen0) returned "
                      f"{len(got)}: {got!r}", markup=False)
        if wrote != len(message) or got != message:
            failures += 1
            console.print("[red]the data did not come back unchanged[/red]")

        step("unplug 1-1, rmmod pen_driver")
        system.unplug("1-1")
        system.settle()
        seen = show_new_log(seen)
        console.print(node_line(system, "/dev/pen0"), markup=False)
        if system.vfs.exists("/dev/pen0"):
            failures += 1
        system.run(pen.pen_exit())
        seen = show_new_log(seen)
        console.print(device_tree(system))

        step("account")
        devices = system.usb_devices()
        bound = sum(1 for d in devices for i in d.interfaces() if i.driver is not None)
        console.print(f"{len(devices)} USB devices on the bus ({bound} interfaces bound), "
                      f"{system.time():.3f} s of machine time (virtual), "
                      f"{len(system.log.lines())} kernel messages.")
    return 1 if failures else 0
