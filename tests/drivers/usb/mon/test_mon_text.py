"""usbmon's text interface (usbemu.drivers.usb.mon.mon_text) against Linux 6.12's capture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.core.urb import Urb
from usbemu.core.usbcore import Uname
from usbemu.drivers.usb.mon.mon_text import (
    EVENT_MAX,
    MON_DIR,
    format_u,
    mon_text_error_event,
    mon_text_event,
    mon_timestamp,
)
from usbemu.emulated.models.keyboard import BootKeyboard
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.storage import MassStorage
from usbemu.emulated.scsi_target import MemoryMedium
from usbemu.host.inproc import InProcessHCD
from usbemu.kernel.device import Driver
from usbemu.kernel.fs import O_NONBLOCK, O_RDONLY
from usbemu.system import PciDevice, System

REFERENCE = Path(__file__).parents[3] / "golden" / "linux-6.12-ehci-kbd-storage"
GOLDEN = REFERENCE / "usbmon.txt"
LONGDATA = REFERENCE / "usbmon-longdata.txt"


def fields(line: str) -> list[str]:
    """A 1u line without its URB tag and timestamp."""
    return line.split()[2:]


def read_all(system: System, path: str) -> list[str]:
    return [line for line in drain(system, system.open(path, O_RDONLY | O_NONBLOCK))]


def drain(system: System, f: object) -> list[str]:
    lines: list[str] = []
    while True:
        try:
            chunk = f.read(4096)  # type: ignore[attr-defined]
        except BlockingIOError:
            return lines
        lines.append(chunk.decode())


def reference_disk() -> MemoryMedium:
    """The reference machine's 16 MiB disk as far as the capture shows it, from the long
    data: block 0 (an MS-DOS partition table: one Linux partition from LBA 2048) and the
    first bytes of LBA 2048 ("RIG-DISK-MARKER at 1 MiB (LBA 2048)")."""
    disk = MemoryMedium(16 << 20)
    payloads = [line.split(" = ")[1].split()[0] for line in LONGDATA.read_text().splitlines()
                if " len_urb=512 " in line or " len_urb=4096 " in line]
    disk.write(0, bytes.fromhex(payloads[0]))
    disk.write(2048, bytes.fromhex(payloads[-1]))
    return disk


def capture_reference_machine() -> list[list[str]]:
    """The reference machine on our side, captured as its README says it was: usbhid,
    hid-generic and usb-storage loaded, then the EHCI controller at 0000:00:02.0 with
    QEMU's high-speed usb-kbd on port 1 and usb-storage (the 16 MiB disk) on port 2; `cat
    0u` from before the controller to the end; after the enumeration, user space reads
    the first 4 KiB of sda1 (the capture's last block, at 12.496 s).  Returns each line's
    fields after the URB tag and timestamp."""
    system = System(uname=Uname(release="6.12.117+deb12-amd64"))
    system.modules.autoload = False
    system.boot()
    try:
        for module in ("usbhid", "hid_generic", "usb-storage"):
            system.modprobe(module)
        reader = system.run(system.aopen(f"{MON_DIR}/0u", O_RDONLY))
        text: list[bytes] = []

        async def cat() -> None:
            while True:
                text.append(await reader.read(4096))

        cat_task = system.loop.create_task(cat())
        pci = PciDevice("0000:00:02.0")
        pci.driver = Driver("ehci-pci")
        hcd = InProcessHCD(system.usb, pci, 6, has_tt=False)
        hcd.root_hub.attach(1, BootKeyboard(usb_version=2, serial="68284-0000:00:02.0-1"))
        hcd.root_hub.attach(2, MassStorage(luns=[reference_disk()], preset="qemu",
                                           serial="1-0000:00:02.0-2"))
        system.run(system.usb.add_hcd(hcd))
        system.settle()
        marker = system.open("/dev/sda1", O_RDONLY).read(4096)
        assert marker.startswith(b"RIG-DISK-MARKER at 1 MiB (LBA 2048)")
        system.settle()
        cat_task.cancel()
        return [fields(line) for line in b"".join(text).decode().splitlines()]
    finally:
        system.close()


def test_the_reference_machine_matches_the_real_capture_line_for_line() -> None:
    """All 208 lines of Linux 6.12's capture, URB tags and timestamps aside: the root hub,
    the hub driver's port handling, the keyboard's enumeration and usbhid's requests (serial
    number, SET_IDLE, report descriptor, the LED SET_REPORT with the interrupt URB the
    console's kbd handler starts before it completes), the disk's enumeration, GET MAX
    LUN, and the SCSI commands of scsi_scan and sd over Bulk-Only (INQUIRY, TEST UNIT
    READY, READ CAPACITY(10), READ(10) of block 0, MODE SENSE(6) of all pages twice, the
    second revalidate, the partition scan's 4 KiB read), then user space's read of sda1."""
    golden = [fields(line) for line in GOLDEN.read_text().splitlines()]
    ours = capture_reference_machine()
    assert len(golden) == 208
    for n, (mine, real) in enumerate(zip(ours, golden, strict=False), 1):
        assert mine == real, f"line {n}"
    assert len(ours) == len(golden)


def one_s_and_one_c_per_urb(lines: list[str]) -> None:
    open_tags: dict[str, str] = {}
    for line in lines:
        tag, _, kind = line.split()[:3]
        if kind == "S":
            assert tag not in open_tags
            open_tags[tag] = line
        else:
            assert kind in "CE"
            assert open_tags.pop(tag)
    assert not open_tags


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.modules.autoload = False
        machine.add_controller()
        yield machine


def test_bus_files_and_pairs(system: System) -> None:
    assert system.vfs.listdir(MON_DIR) == ["0s", "0t", "0u", "1s", "1t", "1u"]
    f1 = system.open(f"{MON_DIR}/1u", O_RDONLY | O_NONBLOCK)
    ft = system.open(f"{MON_DIR}/1t", O_RDONLY | O_NONBLOCK)
    system.plug(PenDrive(), "1-1")
    system.settle()
    system.unplug("1-1")
    system.settle()
    lines = drain(system, f1)
    assert lines and all(line.endswith("\n") for line in lines)
    assert any(" Ci:1:002:0 s 80 06 0100 0000 0012 18 <" in line for line in lines)
    # the root hub's interrupt URB is unlinked and given back when the machine stops: pairs
    # are checked on the control traffic, which is complete
    one_s_and_one_c_per_urb([line for line in lines if ":0 " in line.split(" ", 4)[3] + " "
                             or line.split()[3].endswith(":0")])
    t_lines = drain(system, ft)
    assert any(" Ci:002:00 s 80 06 0100 0000 0012 18 <" in line for line in t_lines)
    stats = system.vfs.read_text(f"{MON_DIR}/1s")
    assert stats.startswith("nreaders 2 events ")


def test_error_event_line(system: System) -> None:
    system.plug(PenDrive(), "1-1")
    system.settle()
    dev = system.find_device("1-1")
    assert dev is not None
    urb = Urb()
    urb.fill_bulk(dev, (3 << 30) | (dev.devnum << 8) | (2 << 15), bytearray(4), 4,
                  lambda u: None)
    line = format_u(mon_text_error_event(1, urb, -19, 42))
    assert line == f"{id(urb):x} 42 E Bo:1:002:2 -19 0\n"
    line = format_u(mon_text_event(1, urb, "S", -115, 7))
    assert line == f"{id(urb):x} 7 S Bo:1:002:2 -115 4 = 00000000\n"


def test_queue_is_bounded_and_lost_events_counted(system: System) -> None:
    f = system.open(f"{MON_DIR}/0u", O_RDONLY | O_NONBLOCK)
    for port in range(1, 3):
        system.plug(PenDrive(), f"1-{port}")
    system.settle()
    lines = drain(system, f)
    assert len(lines) == EVENT_MAX
    lost = int(system.vfs.read_text(f"{MON_DIR}/0s").split()[-1])
    assert lost > 0


def test_partial_reads_continue_the_line(system: System) -> None:
    f = system.open(f"{MON_DIR}/1u", O_RDONLY | O_NONBLOCK)
    system.plug(PenDrive(), "1-1")
    system.settle()
    head = f.read(10)
    rest = f.read(4096)
    assert len(head) == 10 and rest.endswith(b"\n") and b"\n" not in head + rest[:-1]


def test_timestamps_are_machine_time() -> None:
    assert mon_timestamp(1.5) == 1_500_000
    assert mon_timestamp(4096.25) == 250_000
    with System() as machine:
        machine.add_controller()
        f = machine.open(f"{MON_DIR}/0u", O_RDONLY | O_NONBLOCK)
        machine.sleep(3000)
        machine.plug(PenDrive(), "1-1")
        machine.settle()
        stamps = [int(line.split()[1]) for line in drain(machine, f)]
        assert stamps == sorted(stamps) and stamps[0] >= 3_000_000
