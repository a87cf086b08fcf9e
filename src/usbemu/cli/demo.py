"""`usbemu demo`: the articles' story on an emulated machine, told as Linux would show it.

Boots a machine on virtual time with an EHCI-like controller at 0000:00:1d.0, loads the
pen_driver example, plugs the classic devices (the pen drive, a two-port serial converter, a
mouse, and a hub with devices behind it), writes to /dev/pen0 and reads it back as an
application does, then unplugs the pen (the node goes) and unloads the driver; plugs the
pen drive again as the mass-storage stick it really is (usb-storage, sd, /dev/sda, a
partition table and /dev/sda1, written and read back); reads the
mouse's events (usbhid and hid-generic bound it) while a script moves it; then plugs
an FTDI converter (ftdi_sio loads by its alias, ttyUSB0 appears), sets it raw at 115200
baud and sends data through the tty layer and back through the chip's loopback, and
unplugs it — printing dmesg, the device tree and a short account.
"""

from __future__ import annotations

import stat
import struct
from collections.abc import Callable

from rich.console import Console

from ..bridges.lsusb import lsusb_t
from ..emulated.hid_script import Script
from ..emulated.models.ftdi import FT232R
from ..emulated.models.hub import Hub
from ..emulated.models.mouse import BootMouse
from ..emulated.models.pendrive import PenDrive
from ..emulated.models.serial import SerialConverter, TwoPortSerialConverter
from ..emulated.models.zero import GadgetZero
from ..kernel.block.ioctl import BLKRRPART
from ..kernel.evdev import read_events
from ..kernel.input_event_codes import EV_REL, REL_X, REL_Y, InputEvent
from ..kernel.syscalls import SyncFile
from ..kernel.termios import TCSANOW, cfmakeraw, cfsetspeed, tcgetattr, tcsetattr
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


def _read_back(tty: SyncFile, count: int) -> bytes:
    """Reads of a raw tty until `count` bytes came (each returns what is there)."""
    got = b""
    for _ in range(count):
        chunk = tty.read(count - len(got))
        got += chunk
        if not chunk or len(got) >= count:
            break
    return got


def serial_story(system: System, step: Callable[[str], None], show: Callable[[str], None],
                 show_new_log: Callable[[int], int], check: Callable[[bool, str], None],
                 seen: int) -> int:
    """An FTDI converter: ftdi_sio autoloads, ttyUSB0 appears, stty raw -echo 115200 reaches
    the chip as a baud-rate divisor, data goes out and comes back through its loopback, the
    unplug takes ttyUSB0 away.  Returns the log lines seen.  May sleep (runs the machine)."""
    step("plug an FTDI FT232R at 1-5 (full speed: it comes up as 4-1, on the UHCI wired to "
         "that port): udev loads ftdi_sio, ttyUSB0 appears")
    chip = FT232R(loopback=True)
    system.plug(chip, "1-5")
    system.settle()
    seen = show_new_log(seen)
    show(node_line(system, "/dev/ttyUSB0"))
    check(system.vfs.exists("/dev/ttyUSB0"), "ftdi_sio attached the FT232R to ttyUSB0")

    step("stty raw -echo 115200, then write and read back through /dev/ttyUSB0")
    message = b"Hello from usbemu, through ftdi_sio and the tty layer!"
    with system.open("/dev/ttyUSB0", "rb+") as tty:
        settings = system.run(tcgetattr(tty.afile))
        cfmakeraw(settings)
        cfsetspeed(settings, 115200)
        system.run(tcsetattr(tty.afile, TCSANOW, settings))
        wrote = tty.write(message)
        got = _read_back(tty, len(message))
        port = chip.serial_port(0)
        chip_state = (f"the FT232R got divisor {port.divisor:#06x} ({port.baud} baud), "
                      f"{port.data_bits} data bits, DTR {'on' if port.dtr else 'off'}, "
                      f"RTS {'on' if port.rts else 'off'}")
    show(f"write(/dev/ttyUSB0) returned {wrote}; read(/dev/ttyUSB0) returned {len(got)}: "
         f"{got!r}")
    show(chip_state)
    check(wrote == len(message) and got == message, "the data comes back through the tty")
    check(port.divisor == 0x1A, "115200 baud is divisor 0x1a on an FT232R")

    step("unplug 1-5")
    system.unplug("1-5")
    system.settle()
    seen = show_new_log(seen)
    check(not system.vfs.exists("/dev/ttyUSB0"), "/dev/ttyUSB0 is gone after unplug")
    return seen


def _dos_label(start: int, sectors: int) -> bytes:
    """The first sector of a disk with a DOS partition table of one FAT16 (LBA) partition,
    as fdisk writes it."""
    entry = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x0E, b"\0\0\0", start, sectors)
    return bytes(446) + entry + bytes(48) + b"\x55\xaa"


def storage_story(system: System, step: Callable[[str], None], show: Callable[[str], None],
                  show_new_log: Callable[[int], int], check: Callable[[bool, str], None],
                  seen: int) -> int:
    """The pen drive again, as the mass-storage stick it really is: usb-storage (loaded
    when the pen drive first came) binds it, sd attaches sda; a partition table written
    through /dev/sda and BLKRRPART make /dev/sda1, which takes a write read back from the
    disk; the unplug takes them away.  Returns the log lines seen.  May sleep."""
    step("plug the pen drive at 1-1 again, as the stick it really is (pendrive "
         "storage=memory size=64M): usb-storage binds it, sd attaches sda")
    system.plug(PenDrive(storage="memory", size=64 << 20), "1-1")
    system.settle()
    seen = show_new_log(seen)
    show(node_line(system, "/dev/sda"))
    show("/sys/block/sda/size: " + system.vfs.read_text("/sys/block/sda/size").strip())
    check(system.vfs.exists("/dev/sda"), "sd attached the stick as sda")

    step("fdisk: one FAT16 partition from sector 2048; BLKRRPART; /dev/sda1 appears")
    with system.open("/dev/sda", "rb+") as disk:
        disk.write(_dos_label(2048, (64 << 11) - 2048))
        disk.fsync()
        status = disk.ioctl(BLKRRPART)
    seen = show_new_log(seen)
    show(f"ioctl(/dev/sda, BLKRRPART) returned {status}")
    show(node_line(system, "/dev/sda1"))
    check(status == 0 and system.vfs.exists("/dev/sda1"), "the partition scan found sda1")

    step("write to /dev/sda1, fsync, read sector 2048 of /dev/sda")
    message = b"Hello from usbemu, through usb-storage, sd and the block layer!"
    with system.open("/dev/sda1", "rb+") as part:
        wrote = part.write(message)
        part.fsync()
    got = system.run(system.block.read("sda", 2048, 1))[:len(message)]
    show(f"write(/dev/sda1) returned {wrote}; sector 2048 of sda holds {got!r}")
    check(got == message, "what went into sda1 is at sda's sector 2048")

    step("unplug 1-1")
    system.unplug("1-1")
    system.settle()
    seen = show_new_log(seen)
    check(not system.vfs.exists("/dev/sda"), "/dev/sda is gone after unplug")
    return seen


def mouse_story(system: System, mouse: BootMouse, step: Callable[[str], None],
                show: Callable[[str], None], check: Callable[[bool, str], None]) -> None:
    """The mouse (3-1, plugged at 1-3), bound by usbhid and hid-generic at plug time:
    /dev/input/event0, then a scripted move and click read back as evtest prints them.
    May sleep (runs the machine)."""
    step("the mouse at 3-1: usbhid + hid-generic, input0, /dev/input/event0; evtest")
    show(node_line(system, "/dev/input/event0"))
    show("/sys/class/input/input0/name: "
         + system.vfs.read_text("/sys/class/input/input0/name").strip())

    async def watch() -> list[InputEvent]:
        events: list[InputEvent] = []
        node = await system.aopen("/dev/input/event0", "rb")
        try:
            mouse.play(Script.parse("wait 100\nmove 10 -5\nclick left"))
            while len(events) < 9:
                events += await read_events(node)
        finally:
            await node.close()
        return events

    events = system.run(watch())
    for event in events:
        show(str(event))
    moved = [(e.code, e.value) for e in events if e.type == EV_REL]
    check(moved == [(REL_X, 10), (REL_Y, -5)], "the move arrives as REL_X 10, REL_Y -5")


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
        step("boot: usbcore, an ICH9 chipset: EHCI at 0000:00:1d.7 (bus 1) and its UHCI "
             "companions at 1d.0-1d.2 (buses 2-4)")
        system.add_chipset("ich9")
        seen = show_new_log(0)

        step("insmod pen_driver; lsmod")
        system.insmod("pen_driver")
        seen = show_new_log(seen)
        show(system.lsmod())
        show(node_line(system, "/dev/pen0"))

        step("plug: pen drive 1-1, serial 1-2, mouse 1-3, hub 1-4 (+ zero 1-4.1, serial 1-4.2);"
             " EHCI hands the full-speed serial (2-2) and the low-speed mouse (3-1) to their "
             "companions")
        system.plug(PenDrive(), "1-1")
        system.plug(TwoPortSerialConverter(), "1-2")
        mouse = BootMouse()
        system.plug(mouse, "1-3")
        system.plug(Hub(ports=4), "1-4")
        system.settle()
        system.plug(GadgetZero(), "1-4.1")
        system.plug(SerialConverter(), "1-4.2")
        system.settle()
        seen = show_new_log(seen)
        check(len(system.usb_devices()) == 10, "four root hubs and six devices enumerated")
        check(system.find_device("2-2") is not None and system.find_device("3-1") is not None,
              "the full- and low-speed devices are on the UHCI buses")

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

        seen = storage_story(system, step, show, show_new_log, check, seen)
        mouse_story(system, mouse, step, show, check)
        seen = serial_story(system, step, show, show_new_log, check, seen)

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
