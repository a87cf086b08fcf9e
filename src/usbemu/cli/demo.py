"""`usbemu demo`: the articles' story on an emulated machine, told as Linux would show it.

Boots a machine on virtual time with an EHCI-like controller at 0000:00:1d.0, loads the
pen_driver example, plugs the classic devices (the pen drive, a two-port serial converter, a
mouse, and a hub with devices behind it), writes to /dev/pen0 and reads it back as an
application does, then unplugs the pen (the node goes) and unloads the driver — printing
dmesg, the device tree and a short account.
"""

from __future__ import annotations

import stat

from rich.console import Console

from ..bridges.lsusb import lsusb_t
from ..emulated.models.hub import Hub
from ..emulated.models.mouse import BootMouse
from ..emulated.models.pendrive import PenDrive
from ..emulated.models.serial import SerialConverter, TwoPortSerialConverter
from ..emulated.models.zero import GadgetZero
from ..system import System


def node_line(system: System, path: str) -> str:
    """`ls -l`-style line for a device node, or that it is gone."""
    if not system.vfs.exists(path):
        return f"ls: cannot access '{path}': No such file or directory"
    st = system.vfs.stat(path)
    major, minor = st.rdev or (0, 0)
    return f"{stat.filemode(st.mode)} 1 root root {major}, {minor} {path}"


def _account(system: System) -> list[str]:
    """A line per device: where it is, what it is, and which driver has each interface."""
    lines = []
    for dev in system.usb_devices():
        d = dev.descriptor
        ids = f"{d.idVendor:04x}:{d.idProduct:04x}" if d is not None else "????:????"
        drivers = ", ".join(f"{intf.name} → {intf.driver.name if intf.driver else '(none)'}"
                            for intf in dev.interfaces())
        lines.append(f"  {dev.name:7} {ids} {dev.product or '':22} {drivers}")
    return lines


def run_demo(console: Console) -> int:
    """Run the story; returns the exit status (0 when every step did what Linux does).
    May sleep (runs the machine)."""
    failures: list[str] = []

    def step(title: str) -> None:
        console.rule(f"[bold cyan]{title}")

    def show(text: str) -> None:
        console.print(text.rstrip("\n"), markup=False, highlight=False)

    def show_new_log(start: int) -> int:
        lines = system.log.dmesg().splitlines()
        for line in lines[start:]:
            show(line)
        return len(lines)

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)
            console.print(f"[red]not as Linux does it: {what}[/red]")

    with System() as system:
        step("boot: usbcore, an EHCI controller at 0000:00:1d.0")
        system.add_controller()
        seen = show_new_log(0)

        step("insmod pen_driver; lsmod")
        system.insmod("pen_driver")
        seen = show_new_log(seen)
        show(system.lsmod())
        show(node_line(system, "/dev/pen0"))

        step("plug: pen drive 1-1, serial 1-2, mouse 1-3, hub 1-4 (+ zero 1-4.1, serial 1-4.2)")
        system.plug(PenDrive(), "1-1")
        system.plug(TwoPortSerialConverter(), "1-2")
        system.plug(BootMouse(), "1-3")
        system.plug(Hub(ports=4), "1-4")
        system.settle()
        system.plug(GadgetZero(), "1-4.1")
        system.plug(SerialConverter(), "1-4.2")
        system.settle()
        seen = show_new_log(seen)
        check(len(system.usb_devices()) == 7, "the root hub and six devices enumerated")

        step("lsusb -t")
        show(lsusb_t(system))

        step("/dev/pen0: the node pen_probe's usb_register_dev made")
        show(node_line(system, "/dev/pen0"))
        show("/sys/class/usbmisc/pen0/dev: "
             + system.vfs.read_text("/sys/class/usbmisc/pen0/dev").strip())

        step("write, then read back through /dev/pen0 (usb_bulk_msg on 0x01 and 0x82)")
        message = b"Hello from usbemu, through pen_driver!"
        with system.open("/dev/pen0", "rb+") as node:
            wrote = node.write(message)
            got = node.read(512)
        show(f"write(/dev/pen0) returned {wrote}; read(/dev/pen0) returned {len(got)}: {got!r}")
        check(wrote == len(message) and got == message, "the data comes back unchanged")

        step("unplug 1-1; rmmod pen_driver")
        system.unplug("1-1")
        system.settle()
        system.rmmod("pen_driver")
        seen = show_new_log(seen)
        show(node_line(system, "/dev/pen0"))
        check(not system.vfs.exists("/dev/pen0"), "/dev/pen0 is gone after unplug")
        show(system.lsmod())

        step("lsusb -t")
        show(lsusb_t(system))

        step("account")
        for line in _account(system):
            show(line)
        show(f"{len(system.usb_devices())} USB devices on the bus, "
             f"{system.time():.3f} s of machine time (virtual), "
             f"{len(system.log.lines())} kernel messages.")
        if failures:
            console.print(f"[red]{len(failures)} step(s) did not do what Linux does[/red]")
    return 1 if failures else 0
