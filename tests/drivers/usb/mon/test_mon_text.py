"""usbmon's text interface (usbemu.drivers.usb.mon.mon_text) against Linux 6.12's capture."""

from __future__ import annotations

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
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.host.inproc import InProcessHCD
from usbemu.kernel.device import Driver
from usbemu.kernel.fs import O_NONBLOCK, O_RDONLY
from usbemu.spec.ch9 import Speed
from usbemu.system import PciDevice, System

GOLDEN = Path(__file__).parents[3] / "golden" / "linux-6.12-ehci-kbd-storage" / "usbmon.txt"


def fields(line: str) -> list[str]:
    """A 1u line without its URB tag and timestamp."""
    return line.split()[2:]


def read_all(system: System, path: str) -> list[str]:
    return [line for line in drain(system, system.open(path, O_RDONLY | O_NONBLOCK))]


def drain(system: System, f: object) -> list[str]:
    lines = []
    while True:
        try:
            chunk = f.read(4096)  # type: ignore[attr-defined]
        except BlockingIOError:
            return lines
        lines.append(chunk.decode())


def test_root_hub_enumeration_matches_the_real_capture() -> None:
    from tests.core.test_enumeration import QEMU_KBD, QEMU_STORAGE

    system = System(uname=Uname(release="6.12.117+deb12-amd64"))
    system.modules.autoload = False
    system.boot()
    try:
        reader = system.open(f"{MON_DIR}/0u", O_RDONLY | O_NONBLOCK)
        pci = PciDevice("0000:00:02.0")
        pci.driver = Driver("ehci-pci")
        hcd = InProcessHCD(system.usb, pci, 6, has_tt=False)
        hcd.root_hub.attach(1, DeviceModel(QEMU_KBD, speed=Speed.HIGH))
        hcd.root_hub.attach(2, DeviceModel(QEMU_STORAGE, speed=Speed.HIGH))
        system.run(system.usb.add_hcd(hcd))
        system.settle()
        ours = [fields(line) for line in drain(system, reader)]
        golden = [fields(line) for line in GOLDEN.read_text().splitlines()]
        # the root hub's own enumeration: descriptors, strings, config, hub descriptor
        assert ours[:22] == golden[:22]
        lines = [" ".join(f) for f in ours]
        for expected in ("C Ci:1:002:0 0 18 = 12010002 00000040 27060100 00000104 0b01",
                         "S Co:1:000:0 s 00 05 0002 0000 0000 0"):
            assert expected in lines
    finally:
        system.close()


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
def system() -> System:
    with System() as machine:
        machine.modules.autoload = False
        machine.add_controller()
        yield machine  # type: ignore[misc]


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
