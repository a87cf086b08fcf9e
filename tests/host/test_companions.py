"""An ICH9-style machine — EHCI at 0000:00:1d.7 with its UHCI companions at 1d.0 to 1d.2 —
against what Linux 6.12 prints and shows for the same topology (hcd.c usb_add_hcd,
uhci-pci.c, ehci-hub.c check_reset_complete, hub.c choose_devnum and hub_port_connect):
bus numbers in registration order, a full-speed device handed to the companion, the
device number its failed attempt consumed on the EHCI bus not reused at once, and the
devices file, sysfs and dmesg of every device."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from usbemu.emulated.models.mouse import BootMouse
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.serial import SerialConverter
from usbemu.host.roothub import RootHub
from usbemu.host.uhci import UhciHCD
from usbemu.system import CHIPSETS, System

_TIME = re.compile(r"^\[\s*\d+\.\d+\] ")


def messages(system: System, start: int = 0) -> list[str]:
    return [_TIME.sub("", line) for line in system.dmesg().splitlines()[start:]]


@pytest.fixture
def ich9() -> Iterator[System]:
    with System() as machine:
        machine.add_chipset("ich9")
        yield machine


def test_the_chipset_registers_ehci_first_then_its_companions(ich9: System) -> None:
    release = ich9.usb.uname.release
    expected = [
        "ehci-pci 0000:00:1d.7: EHCI Host Controller",
        "ehci-pci 0000:00:1d.7: new USB bus registered, assigned bus number 1",
        "ehci-pci 0000:00:1d.7: irq 23, io mem 0xf7f1dc00",
        "ehci-pci 0000:00:1d.7: USB 2.0 started, EHCI 1.00",
        "usb usb1: New USB device found, idVendor=1d6b, idProduct=0002, bcdDevice= 6.12",
        "usb usb1: New USB device strings: Mfr=3, Product=2, SerialNumber=1",
        "usb usb1: Product: EHCI Host Controller",
        f"usb usb1: Manufacturer: Linux {release} ehci_hcd",
        "usb usb1: SerialNumber: 0000:00:1d.7",
        "hub 1-0:1.0: USB hub found",
        "hub 1-0:1.0: 6 ports detected",
    ]
    for bus, (function, irq, port) in enumerate(((0, 23, 0xC500), (1, 19, 0xC520),
                                                 (2, 18, 0xC540)), start=2):
        pci = f"0000:00:1d.{function}"
        expected += [
            f"uhci_hcd {pci}: UHCI Host Controller",
            f"uhci_hcd {pci}: new USB bus registered, assigned bus number {bus}",
            f"uhci_hcd {pci}: detected 2 ports",
            f"uhci_hcd {pci}: irq {irq}, io port 0x{port:08x}",
            f"usb usb{bus}: New USB device found, idVendor=1d6b, idProduct=0001, "
            "bcdDevice= 6.12",
            f"usb usb{bus}: New USB device strings: Mfr=3, Product=2, SerialNumber=1",
            f"usb usb{bus}: Product: UHCI Host Controller",
            f"usb usb{bus}: Manufacturer: Linux {release} uhci_hcd",
            f"usb usb{bus}: SerialNumber: {pci}",
            f"hub {bus}-0:1.0: USB hub found",
            f"hub {bus}-0:1.0: 2 ports detected",
        ]
    assert [m for m in messages(ich9) if not m.startswith("usbcore:")] == expected
    assert [(c.bus.busnum if c.bus else 0, c.controller.name) for c in ich9.controllers] == [
        (1, "0000:00:1d.7"), (2, "0000:00:1d.0"), (3, "0000:00:1d.1"), (4, "0000:00:1d.2")]


UHCI_ROOT_BLOCK = """\
T:  Bus=03 Lev=00 Prnt=00 Port=00 Cnt=00 Dev#=  1 Spd=12   MxCh= 2
B:  Alloc=  0/900 us ( 0%), #Int=  0, #Iso=  0
D:  Ver= 1.10 Cls=09(hub  ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1
P:  Vendor=1d6b ProdID=0001 Rev= 6.12
S:  Manufacturer=Linux {release} uhci_hcd
S:  Product=UHCI Host Controller
S:  SerialNumber=0000:00:1d.1
C:* #Ifs= 1 Cfg#= 1 Atr=e0 MxPwr=  0mA
I:* If#= 0 Alt= 0 #EPs= 1 Cls=09(hub  ) Sub=00 Prot=00 Driver=hub
E:  Ad=81(I) Atr=03(Int.) MxPS=   2 Ivl=255ms
"""

SERIAL_BLOCK = """\
T:  Bus=03 Lev=01 Prnt=01 Port=00 Cnt=01 Dev#=  2 Spd=12   MxCh= 0
D:  Ver= 1.10 Cls=00(>ifc ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1
P:  Vendor=ffff ProdID=fff8 Rev= 1.00
C:* #Ifs= 1 Cfg#= 1 Atr=80 MxPwr=100mA
I:* If#= 0 Alt= 0 #EPs= 2 Cls=ff(vend.) Sub=00 Prot=00 Driver=(none)
E:  Ad=81(I) Atr=02(Bulk) MxPS=  64 Ivl=0ms
E:  Ad=01(O) Atr=02(Bulk) MxPS=  64 Ivl=0ms
"""


def test_a_full_speed_device_on_an_ehci_port_is_handed_to_its_companion(ich9: System) -> None:
    ich9.plug(PenDrive(), "1-1")
    ich9.settle()
    start = len(ich9.dmesg().splitlines())
    serial = SerialConverter()
    ich9.plug(serial, "1-3")  # EHCI port 3 is wired to port 1 of the UHCI at 1d.1
    ich9.settle()
    assert messages(ich9, start) == [
        "usb 3-1: new full-speed USB device number 2 using uhci_hcd",
        "usb 3-1: New USB device found, idVendor=ffff, idProduct=fff8, bcdDevice= 1.00",
        "usb 3-1: New USB device strings: Mfr=0, Product=0, SerialNumber=0",
    ]
    devices = ich9.vfs.read_text("/sys/kernel/debug/usb/devices")
    release = ich9.usb.uname.release
    assert UHCI_ROOT_BLOCK.format(release=release) + "\n" + SERIAL_BLOCK in devices
    sysfs = {name: ich9.vfs.read_text(f"/sys/bus/usb/devices/3-1/{name}").strip()
             for name in ("speed", "busnum", "devnum", "devpath", "version", "maxchild")}
    assert sysfs == {"speed": "12", "busnum": "3", "devnum": "2", "devpath": "1",
                     "version": "1.10", "maxchild": "0"}
    assert ich9.find_device("1-3") is None
    assert dict(ich9.models())["3-1"] is serial
    # The number the EHCI bus gave the failed attempt is not reused at once.
    start = len(ich9.dmesg().splitlines())
    ich9.plug(PenDrive(), "1-2")
    ich9.settle()
    assert messages(ich9, start)[0] == "usb 1-2: new high-speed USB device number 4 using ehci-pci"
    assert ich9.find_device("1-2") is not None and ich9.find_device("1-2").devnum == 4


def test_a_low_speed_device_goes_to_the_companion_without_a_reset(ich9: System) -> None:
    ich9.plug(BootMouse(), "1-6")  # EHCI port 6: port 2 of the UHCI at 1d.2
    ich9.settle()
    assert "usb 4-2: new low-speed USB device number 2 using uhci_hcd" in messages(ich9)
    assert ich9.vfs.read_text("/sys/bus/usb/devices/4-2/speed").strip() == "1.5"
    ehci = ich9.controllers[0].downstream
    assert isinstance(ehci, RootHub) and ehci.handed_over == {6}


def test_unplugging_gives_the_port_back_to_ehci(ich9: System) -> None:
    serial = SerialConverter()
    ich9.plug(serial, "1-1")
    ich9.settle()
    with pytest.raises(ValueError, match="already holds"):
        ich9.plug(PenDrive(), "1-1")
    assert ich9.unplug("1-1") is serial
    ich9.settle()
    assert "usb 2-1: USB disconnect, device number 2" in messages(ich9)
    drive = PenDrive()
    ich9.plug(drive, "1-1")
    ich9.settle()
    assert ich9.find_device("1-1") is not None
    # A companion port is the same connector: plugging there goes through EHCI first.
    other = SerialConverter()
    ich9.plug(other, "2-2")
    ich9.settle()
    assert dict(ich9.models())["2-2"] is other and ich9.unplug("2-2") is other
    ich9.settle()
    assert ich9.find_device("2-2") is None


def test_companions_are_wired_only_where_it_makes_sense() -> None:
    with System() as machine:
        ehci = machine.add_controller()  # an integrated TT: no companions
        with pytest.raises(ValueError, match="transaction translator"):
            machine.add_controller("uhci", companion_of=ehci)
        plain = machine.add_controller(nports=2, has_tt=False)
        machine.add_controller("uhci", companion_of=plain)
        with pytest.raises(ValueError, match="0 root port"):
            machine.add_controller("uhci", companion_of=plain)
    with System() as machine, pytest.raises(ValueError, match="unknown chipset 'i440'"):
        machine.add_chipset("i440")
    assert [spec.kind for spec in CHIPSETS["ich9"]] == ["inproc", "uhci", "uhci", "uhci"]


def test_uhci_reserves_periodic_bandwidth_as_uhci_q_does(ich9: System) -> None:
    ich9.plug(BootMouse(), "1-3")
    ich9.settle()
    hcd = ich9.controllers[2]
    assert isinstance(hcd, UhciHCD) and hcd.bus is not None

    def b_line() -> str:
        blocks = ich9.vfs.read_text("/sys/kernel/debug/usb/devices").split("\n\n")
        return next(b for b in blocks if "Bus=03 Lev=00" in b).splitlines()[1]

    assert b_line() == "B:  Alloc=  0/900 us ( 0%), #Int=  0, #Iso=  0"
    node = ich9.open("/dev/input/event0")
    ich9.sleep(100)
    # A low-speed 4-byte interrupt IN: 92,860 ns → 93 µs, period 8 (from 10 ms), in 4 of
    # the 32 phases: 372 / 32 = 11 µs a frame.
    assert b_line() == "B:  Alloc= 11/900 us ( 1%), #Int=  1, #Iso=  0"
    assert hcd.load[4::8] == [93] * 4 and sum(hcd.load) == 372
    node.close()
    ich9.sleep(100)
    assert b_line() == "B:  Alloc=  0/900 us ( 0%), #Int=  0, #Iso=  0"
