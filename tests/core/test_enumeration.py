"""Enumeration (usbemu.core.hub + config + generic) against Linux 6.12.

The requests are recorded where the host controller receives them and printed as usbmon's
text lines ("S Ci:1:000:0 s 80 06 0100 0000 0040 64 <"), then compared line by line with
the sequence of reference §3.3 and with the real capture in
tests/golden/linux-6.12-ehci-kbd-storage/usbmon.txt.  Everything runs on virtual time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from usbemu.core.urb import PIPE_CONTROL, PIPE_INTERRUPT
from usbemu.core.usbcore import Uname
from usbemu.emulated.device import DeviceModel, request
from usbemu.emulated.endpoint import Stall
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.serial import SerialConverter
from usbemu.host.inproc import InProcessHCD
from usbemu.kernel.device import Driver
from usbemu.spec.ch9 import DeviceState, Request, SetupPacket, Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    DeviceQualifier,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.system import PciDevice, System
from usbemu.testing import blacklist
from usbemu.testing.monitor import UrbEvent, UrbRecorder

# -- a usbmon-style recorder ----------------------------------------------------------------------


class Trace:
    """The usbmon 1u "S" lines (without the URB tag and timestamp) of every URB submission
    the controllers accept, with the machine time of each, recorded through the HCD
    framework's usbmon hooks."""

    def __init__(self, system: System) -> None:
        self.recorder = UrbRecorder(system)

    @property
    def lines(self) -> list[str]:
        return [self.format(event) for event in self.recorder.submitted()]

    @property
    def times(self) -> list[float]:
        return [event.time for event in self.recorder.submitted()]

    @staticmethod
    def format(event: UrbEvent) -> str:
        kind = {PIPE_CONTROL: "C", PIPE_INTERRUPT: "I"}.get(event.pipe_type, "B")
        direction = "i" if event.is_in else "o"
        where = f"{kind}{direction}:{event.busnum}:{event.devnum:03d}:{event.endpoint}"
        setup = event.setup_packet
        if setup is not None:
            data = f"{event.length} <" if setup.is_in else f"{event.length}"
            return f"S {where} s {setup} {data}"
        return f"S {where} -115:{event.interval} {event.length} <"

    def since(self, start: int) -> list[str]:
        return self.lines[start:]

    def time_of(self, line: str, after: int = 0) -> float:
        return self.times[self.lines.index(line, after)]


def dmesg_lines(system: System) -> list[str]:
    return system.log.lines()


@pytest.fixture
def system() -> Iterator[System]:
    """A machine whose udev does not autoload usb-storage: the traces here are the hub
    driver's and the generic driver's alone, and the pen drive's raw echo speaks no
    Bulk-Only Transport."""
    with System() as machine:
        blacklist(machine, "usb_storage", "uas")
        yield machine


# -- the real capture: QEMU's usb-kbd and usb-storage on EHCI ----------------------------------

# Descriptors copied from usbmon-longdata.txt / usbmon.txt (the devices' replies).
QEMU_KBD = DeviceDescriptor(
    idVendor=0x0627, idProduct=0x0001, bcdDevice=0x0000, bcdUSB=0x0200, bMaxPacketSize0=64,
    iManufacturer=1, iProduct=4, iSerialNumber=11,
    strings={1: "QEMU", 4: "QEMU USB Keyboard", 11: "68284-0000:00:02.0-1", 8: "HID Keyboard"},
    configurations=(ConfigDescriptor(
        interfaces=(InterfaceDescriptor(
            3, 1, 1, bInterfaceNumber=0,
            extra=bytes.fromhex("092111010001223f00"),
            endpoints=(EndpointDescriptor.interrupt(0x81, 8, 7),)),),
        bConfigurationValue=1, iConfiguration=8, bmAttributes=0xA0, bMaxPower=50),),
)
QEMU_STORAGE = DeviceDescriptor(
    idVendor=0x46F4, idProduct=0x0001, bcdDevice=0x0000, bcdUSB=0x0200, bMaxPacketSize0=64,
    iManufacturer=1, iProduct=2, iSerialNumber=3,
    strings={1: "QEMU", 2: "QEMU USB HARDDRIVE", 3: "1-0000:00:02.0-2",
             5: "High speed config (usb 2.0)"},
    configurations=(ConfigDescriptor(
        interfaces=(InterfaceDescriptor(
            8, 6, 0x50, bInterfaceNumber=0,
            endpoints=(EndpointDescriptor.bulk(0x81, 512), EndpointDescriptor.bulk(0x02, 512))),),
        bConfigurationValue=1, iConfiguration=5, bmAttributes=0xC0, bMaxPower=0),),
)

# usbmon.txt, every "S" line of bus 1 from the controller's registration to the storage
# device's iConfiguration string, minus the usbhid driver's own requests on device 2 (its
# serial-number read, SET_IDLE, report descriptor, interrupt URB and SET_REPORT).
CAPTURE = """\
S Ci:1:001:0 s 80 06 0100 0000 0012 18 <
S Ci:1:001:0 s 80 06 0200 0000 0009 9 <
S Ci:1:001:0 s 80 06 0200 0000 0019 25 <
S Ci:1:001:0 s 80 06 0300 0000 00ff 255 <
S Ci:1:001:0 s 80 06 0302 0409 00ff 255 <
S Ci:1:001:0 s 80 06 0303 0409 00ff 255 <
S Ci:1:001:0 s 80 06 0301 0409 00ff 255 <
S Co:1:001:0 s 00 09 0001 0000 0000 0
S Ci:1:001:0 s a0 06 2900 0000 000f 15 <
S Ci:1:001:0 s 80 00 0000 0000 0002 2 <
S Ci:1:001:0 s a0 00 0000 0000 0004 4 <
S Co:1:001:0 s 23 03 0008 0001 0000 0
S Co:1:001:0 s 23 03 0008 0002 0000 0
S Co:1:001:0 s 23 03 0008 0003 0000 0
S Co:1:001:0 s 23 03 0008 0004 0000 0
S Co:1:001:0 s 23 03 0008 0005 0000 0
S Co:1:001:0 s 23 03 0008 0006 0000 0
S Ci:1:001:0 s a3 00 0000 0001 0004 4 <
S Co:1:001:0 s 23 01 0010 0001 0000 0
S Ci:1:001:0 s a3 00 0000 0002 0004 4 <
S Co:1:001:0 s 23 01 0010 0002 0000 0
S Ci:1:001:0 s a3 00 0000 0003 0004 4 <
S Ci:1:001:0 s a3 00 0000 0004 0004 4 <
S Ci:1:001:0 s a3 00 0000 0005 0004 4 <
S Ci:1:001:0 s a3 00 0000 0006 0004 4 <
S Ii:1:001:1 -115:2048 4 <
S Ci:1:001:0 s a3 00 0000 0001 0004 4 <
S Co:1:001:0 s 23 03 0004 0001 0000 0
S Ci:1:001:0 s a3 00 0000 0001 0004 4 <
S Co:1:001:0 s 23 01 0014 0001 0000 0
S Ci:1:000:0 s 80 06 0100 0000 0040 64 <
S Co:1:001:0 s 23 03 0004 0001 0000 0
S Ci:1:001:0 s a3 00 0000 0001 0004 4 <
S Co:1:001:0 s 23 01 0014 0001 0000 0
S Co:1:000:0 s 00 05 0002 0000 0000 0
S Ci:1:002:0 s 80 06 0100 0000 0012 18 <
S Ci:1:002:0 s 80 06 0200 0000 0009 9 <
S Ci:1:002:0 s 80 06 0200 0000 0022 34 <
S Ci:1:002:0 s 80 06 0300 0000 00ff 255 <
S Ci:1:002:0 s 80 06 0304 0409 00ff 255 <
S Ci:1:002:0 s 80 06 0301 0409 00ff 255 <
S Ci:1:002:0 s 80 06 030b 0409 00ff 255 <
S Co:1:002:0 s 00 09 0001 0000 0000 0
S Ci:1:002:0 s 80 06 0308 0409 00ff 255 <
S Ci:1:001:0 s a3 00 0000 0002 0004 4 <
S Co:1:001:0 s 23 03 0004 0002 0000 0
S Ci:1:001:0 s a3 00 0000 0002 0004 4 <
S Co:1:001:0 s 23 01 0014 0002 0000 0
S Ci:1:000:0 s 80 06 0100 0000 0040 64 <
S Co:1:001:0 s 23 03 0004 0002 0000 0
S Ci:1:001:0 s a3 00 0000 0002 0004 4 <
S Co:1:001:0 s 23 01 0014 0002 0000 0
S Co:1:000:0 s 00 05 0003 0000 0000 0
S Ci:1:003:0 s 80 06 0100 0000 0012 18 <
S Ci:1:003:0 s 80 06 0200 0000 0009 9 <
S Ci:1:003:0 s 80 06 0200 0000 0020 32 <
S Ci:1:003:0 s 80 06 0300 0000 00ff 255 <
S Ci:1:003:0 s 80 06 0302 0409 00ff 255 <
S Ci:1:003:0 s 80 06 0301 0409 00ff 255 <
S Ci:1:003:0 s 80 06 0303 0409 00ff 255 <
S Co:1:003:0 s 00 09 0001 0000 0000 0
S Ci:1:003:0 s 80 06 0305 0409 00ff 255 <
""".splitlines()

# dmesg-usb.txt, the lines of usbcore and the EHCI driver (the class drivers' lines are
# left out: udev's autoload is off here).
CAPTURE_DMESG = """\
usbcore: registered new interface driver usbfs
usbcore: registered new interface driver hub
usbcore: registered new device driver usb
ehci-pci 0000:00:02.0: EHCI Host Controller
ehci-pci 0000:00:02.0: new USB bus registered, assigned bus number 1
ehci-pci 0000:00:02.0: irq 10, io mem 0xfebff000
ehci-pci 0000:00:02.0: USB 2.0 started, EHCI 1.00
usb usb1: New USB device found, idVendor=1d6b, idProduct=0002, bcdDevice= 6.12
usb usb1: New USB device strings: Mfr=3, Product=2, SerialNumber=1
usb usb1: Product: EHCI Host Controller
usb usb1: Manufacturer: Linux 6.12.117+deb12-amd64 ehci_hcd
usb usb1: SerialNumber: 0000:00:02.0
hub 1-0:1.0: USB hub found
hub 1-0:1.0: 6 ports detected
usb 1-1: new high-speed USB device number 2 using ehci-pci
usb 1-1: New USB device found, idVendor=0627, idProduct=0001, bcdDevice= 0.00
usb 1-1: New USB device strings: Mfr=1, Product=4, SerialNumber=11
usb 1-1: Product: QEMU USB Keyboard
usb 1-1: Manufacturer: QEMU
usb 1-1: SerialNumber: 68284-0000:00:02.0-1
usb 1-2: new high-speed USB device number 3 using ehci-pci
usb 1-2: New USB device found, idVendor=46f4, idProduct=0001, bcdDevice= 0.00
usb 1-2: New USB device strings: Mfr=1, Product=2, SerialNumber=3
usb 1-2: Product: QEMU USB HARDDRIVE
usb 1-2: Manufacturer: QEMU
usb 1-2: SerialNumber: 1-0000:00:02.0-2
""".splitlines()


def boot_capture_machine() -> tuple[System, InProcessHCD, Trace]:
    """The capture's machine: QEMU's EHCI at 0000:00:02.0 (no TT), both devices already
    plugged in when the controller driver loads."""
    system = System(uname=Uname(release="6.12.117+deb12-amd64"))
    system.modules.autoload = False  # usbcore's requests only: no class driver loads
    system.boot()
    pci = PciDevice("0000:00:02.0")
    pci.driver = Driver("ehci-pci")
    hcd = InProcessHCD(system.usb, pci, 6, has_tt=False)
    hcd.root_hub.attach(1, DeviceModel(QEMU_KBD, speed=Speed.HIGH))
    hcd.root_hub.attach(2, DeviceModel(QEMU_STORAGE, speed=Speed.HIGH))
    trace = Trace(system)
    system.run(system.usb.add_hcd(hcd))
    system.settle()
    return system, hcd, trace


def test_boot_with_two_devices_matches_the_real_capture_request_by_request() -> None:
    system, _, trace = boot_capture_machine()
    try:
        assert trace.lines == CAPTURE
    finally:
        system.close()


def test_boot_with_two_devices_logs_what_linux_logged() -> None:
    system, _, _ = boot_capture_machine()
    try:
        assert dmesg_lines(system) == CAPTURE_DMESG
    finally:
        system.close()


def test_capture_timing_power_good_debounce_reset_recovery() -> None:
    """The delays between requests are Linux's: bPwrOn2PwrGood (10 → 20 ms) before the
    port scan, 100 ms debounce before the status URB, 60 ms root-port reset polling,
    50 ms reset recovery, 10 ms after SET_ADDRESS."""
    system, _, trace = boot_capture_machine()
    try:
        t = trace.time_of
        power_on = t("S Co:1:001:0 s 23 03 0008 0006 0000 0")
        scan = t("S Ci:1:001:0 s a3 00 0000 0001 0004 4 <")
        assert scan - power_on == pytest.approx(0.020)
        assert t("S Ii:1:001:1 -115:2048 4 <") - scan == pytest.approx(0.100)
        reset = t("S Co:1:001:0 s 23 03 0004 0001 0000 0")
        polled = trace.times[trace.lines.index("S Co:1:001:0 s 23 03 0004 0001 0000 0") + 1]
        assert polled - reset == pytest.approx(0.060)
        cleared = t("S Co:1:001:0 s 23 01 0014 0001 0000 0")
        assert t("S Ci:1:000:0 s 80 06 0100 0000 0040 64 <") - cleared == pytest.approx(0.050)
        assert t("S Ci:1:002:0 s 80 06 0100 0000 0012 18 <") \
            - t("S Co:1:000:0 s 00 05 0002 0000 0000 0") == pytest.approx(0.010)
    finally:
        system.close()


# -- hot plug of a high-speed and a full-speed device (reference §3.3) -------------------------


def hotplug_prefix(port: int) -> list[str]:
    """hub_irq resubmits the status URB; port_event reads the port and acknowledges
    C_PORT_CONNECTION; the debounce reads it every 25 ms until stable for 100 ms; two
    resets around the 64-byte read at address 0."""
    status = f"S Ci:1:001:0 s a3 00 0000 000{port} 0004 4 <"
    reset = [f"S Co:1:001:0 s 23 03 0004 000{port} 0000 0", status,
             f"S Co:1:001:0 s 23 01 0014 000{port} 0000 0"]
    return ["S Ii:1:001:1 -115:2048 4 <", status,
            f"S Co:1:001:0 s 23 01 0010 000{port} 0000 0",
            *[status] * 5,
            *reset,
            "S Ci:1:000:0 s 80 06 0100 0000 0040 64 <",
            *reset]


def test_high_speed_pen_drive_enumeration_trace(system: System) -> None:
    system.add_controller()
    trace = Trace(system)
    system.plug(PenDrive(), "1-1")
    system.settle()
    assert trace.lines == [
        *hotplug_prefix(1),
        "S Co:1:000:0 s 00 05 0002 0000 0000 0",
        "S Ci:1:002:0 s 80 06 0100 0000 0012 18 <",
        "S Ci:1:002:0 s 80 06 0200 0000 0009 9 <",
        "S Ci:1:002:0 s 80 06 0200 0000 0020 32 <",
        "S Ci:1:002:0 s 80 06 0300 0000 00ff 255 <",   # LANGID table
        "S Ci:1:002:0 s 80 06 0302 0409 00ff 255 <",   # iProduct
        "S Ci:1:002:0 s 80 06 0301 0409 00ff 255 <",   # iManufacturer
        "S Ci:1:002:0 s 80 06 0303 0409 00ff 255 <",   # iSerialNumber
        "S Co:1:002:0 s 00 09 0001 0000 0000 0",        # the generic driver's choice
    ]


def test_full_speed_serial_converter_enumeration_trace(system: System) -> None:
    system.add_controller()
    trace = Trace(system)
    system.plug(SerialConverter(manufacturer="usbemu", product="Serial", serial="S1"), "1-3")
    system.settle()
    assert trace.lines == [
        *hotplug_prefix(3),
        "S Co:1:000:0 s 00 05 0002 0000 0000 0",
        "S Ci:1:002:0 s 80 06 0100 0000 0012 18 <",
        "S Ci:1:002:0 s 80 06 0200 0000 0009 9 <",
        "S Ci:1:002:0 s 80 06 0200 0000 0020 32 <",
        "S Ci:1:002:0 s 80 06 0300 0000 00ff 255 <",
        "S Ci:1:002:0 s 80 06 0302 0409 00ff 255 <",
        "S Ci:1:002:0 s 80 06 0301 0409 00ff 255 <",
        "S Ci:1:002:0 s 80 06 0303 0409 00ff 255 <",
        "S Co:1:002:0 s 00 09 0001 0000 0000 0",
    ]
    udev = system.find_device("1-3")
    assert udev is not None and udev.speed == Speed.FULL
    assert "usb 1-3: new full-speed USB device number 2 using ehci-pci" in dmesg_lines(system)


def test_the_whole_story_in_dmesg(system: System) -> None:
    system.add_controller()
    system.plug(PenDrive(), "1-1")
    system.settle()
    system.unplug("1-1")
    system.settle()
    assert dmesg_lines(system) == [
        "usbcore: registered new interface driver usbfs",
        "usbcore: registered new interface driver hub",
        "usbcore: registered new device driver usb",
        "ehci-pci 0000:00:1d.0: EHCI Host Controller",
        "ehci-pci 0000:00:1d.0: new USB bus registered, assigned bus number 1",
        "ehci-pci 0000:00:1d.0: irq 23, io mem 0xf7f1d000",
        "ehci-pci 0000:00:1d.0: USB 2.0 started, EHCI 1.00",
        "usb usb1: New USB device found, idVendor=1d6b, idProduct=0002, bcdDevice= 6.12",
        "usb usb1: New USB device strings: Mfr=3, Product=2, SerialNumber=1",
        "usb usb1: Product: EHCI Host Controller",
        "usb usb1: Manufacturer: Linux 6.12.0 ehci_hcd",
        "usb usb1: SerialNumber: 0000:00:1d.0",
        "hub 1-0:1.0: USB hub found",
        "hub 1-0:1.0: 6 ports detected",
        "usb 1-1: new high-speed USB device number 2 using ehci-pci",
        "usb 1-1: New USB device found, idVendor=058f, idProduct=6387, bcdDevice= 1.00",
        "usb 1-1: New USB device strings: Mfr=1, Product=2, SerialNumber=3",
        "usb 1-1: Product: Mass Storage",
        "usb 1-1: Manufacturer: Generic",
        "usb 1-1: SerialNumber: 6E5C7D12",
        "usb 1-1: USB disconnect, device number 2",
    ]


def test_enumerated_device_state(system: System) -> None:
    system.add_controller()
    model = PenDrive()
    system.plug(model, "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    assert (udev.devnum, udev.state, udev.speed, udev.level) == (2, DeviceState.CONFIGURED,
                                                                  Speed.HIGH, 1)
    assert udev.product == "Mass Storage" and udev.serial == "6E5C7D12"
    assert udev.driver is not None and udev.driver.name == "usb"
    assert udev.actconfig is not None and udev.actconfig.value == 1
    assert [i.name for i in udev.interfaces()] == ["1-1:1.0"]
    assert udev.rawdescriptors == [model.descriptors.config_bytes[0]]
    assert udev.ep0.desc.maxpacket == 64
    root = system.find_device("usb1")
    assert root is not None and root.children == {1: udev}
    assert model.state is DeviceState.CONFIGURED and model.address == 2


def test_unplug_releases_everything(system: System) -> None:
    hcd = system.add_controller()
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    interfaces = list(udev.interfaces())
    system.unplug("1-1")
    system.settle()
    assert udev.state is DeviceState.NOTATTACHED and not udev.registered
    assert udev.devnum == -1 and hcd.bus is not None and hcd.bus.devmap == {1}
    assert system.find_device("1-1") is None
    assert udev.actconfig is None and interfaces and not any(i.registered for i in interfaces)


# -- devnum allocation --------------------------------------------------------------------------


def test_devnum_round_robin_after_unplug_and_replug(system: System) -> None:
    system.add_controller()
    seen = []
    for _ in range(3):
        system.plug(PenDrive(), "1-1")
        system.settle()
        udev = system.find_device("1-1")
        assert udev is not None
        seen.append(udev.devnum)
        system.unplug("1-1")
        system.settle()
    assert seen == [2, 3, 4]


def test_devnum_wraps_from_127_to_the_lowest_free(system: System) -> None:
    hcd = system.add_controller()
    assert hcd.bus is not None
    system.plug(PenDrive(), "1-1")
    system.settle()
    hcd.bus.devnum_next = 127
    system.plug(PenDrive(serial="B"), "1-2")
    system.plug(PenDrive(serial="C"), "1-3")
    system.settle()
    numbers = {d.name: d.devnum for d in system.usb_devices()}
    assert numbers == {"usb1": 1, "1-1": 2, "1-2": 127, "1-3": 3}


# -- devices that fail --------------------------------------------------------------------------


class StallingDevice(DeviceModel):
    """Answers nothing but SET_ADDRESS: every GET_DESCRIPTOR STALLs."""

    speed = Speed.HIGH
    descriptor = DeviceDescriptor(idVendor=0x1234, idProduct=0x0001,
                                  configurations=(ConfigDescriptor(),))

    @request(0x80, Request.GET_DESCRIPTOR)
    def _stall(self, setup: SetupPacket, data: bytes) -> bytes:
        raise Stall


def expected_failure(error: int) -> list[str]:
    """Four attempts: two new-scheme (read/64), a power cycle, two old-scheme (read/8),
    each attempt with a new device number and two descriptor tries."""
    return [
        "usb 1-1: new high-speed USB device number 2 using ehci-pci",
        f"usb 1-1: device descriptor read/64, error {error}",
        f"usb 1-1: device descriptor read/64, error {error}",
        "usb 1-1: new high-speed USB device number 3 using ehci-pci",
        f"usb 1-1: device descriptor read/64, error {error}",
        f"usb 1-1: device descriptor read/64, error {error}",
        "usb usb1-port1: attempt power cycle",
        "usb 1-1: new high-speed USB device number 4 using ehci-pci",
        f"usb 1-1: device descriptor read/8, error {error}",
        f"usb 1-1: device descriptor read/8, error {error}",
        "usb 1-1: new high-speed USB device number 5 using ehci-pci",
        f"usb 1-1: device descriptor read/8, error {error}",
        f"usb 1-1: device descriptor read/8, error {error}",
        "usb usb1-port1: unable to enumerate USB device",
    ]


def test_stalling_device_goes_through_both_schemes_and_is_given_up(system: System) -> None:
    hcd = system.add_controller()
    system.log.clear()
    trace = Trace(system)
    system.plug(StallingDevice(), "1-1")
    system.settle()
    assert dmesg_lines(system) == expected_failure(-32)
    # 3 tries of the 64-byte read per descriptor try, 2 tries, 2 new-scheme attempts
    assert trace.lines.count("S Ci:1:000:0 s 80 06 0100 0000 0040 64 <") == 12
    # old scheme: SET_ADDRESS once per attempt, then 3 × 2 eight-byte reads at the address
    assert "S Co:1:000:0 s 00 05 0004 0000 0000 0" in trace.lines
    assert trace.lines.count("S Ci:1:004:0 s 80 06 0100 0000 0008 8 <") == 6
    # the port is left disabled, no number is held
    assert hcd.root_hub.hub_port(1).status & 0x0002 == 0
    assert hcd.bus is not None and hcd.bus.devmap == {1}
    assert system.find_device("1-1") is None


def test_bad_ep0_maxpacket_is_a_protocol_error(system: System) -> None:
    system.add_controller()
    system.log.clear()
    bad = DeviceDescriptor(idVendor=0x1234, idProduct=0x0002, bMaxPacketSize0=7,
                           configurations=(ConfigDescriptor(),))
    system.plug(DeviceModel(bad, speed=Speed.HIGH), "1-1")
    system.settle()
    assert dmesg_lines(system) == expected_failure(-71)


def test_high_speed_ep0_maxpacket_fixup_is_announced(system: System) -> None:
    system.add_controller()
    desc = replace(PenDrive.descriptor, bMaxPacketSize0=32)
    system.plug(DeviceModel(desc, speed=Speed.HIGH), "1-1")
    system.settle()
    lines = dmesg_lines(system)
    assert "usb 1-1: Using ep0 maxpacket: 32" in lines
    udev = system.find_device("1-1")
    assert udev is not None and udev.ep0.desc.maxpacket == 32


def test_invalid_ep0_maxpacket_value_9_at_high_speed(system: System) -> None:
    system.add_controller()
    system.log.clear()
    desc = replace(PenDrive.descriptor, bMaxPacketSize0=9)
    system.plug(DeviceModel(desc, speed=Speed.HIGH), "1-1")
    system.settle()
    lines = dmesg_lines(system)
    assert lines.count("usb 1-1: Invalid ep0 maxpacket: 9") == 4
    assert lines[-1] == "usb usb1-port1: unable to enumerate USB device"


def test_full_speed_device_on_a_root_hub_without_tt(system: System) -> None:
    system.add_controller(has_tt=False)
    system.log.clear()
    system.plug(SerialConverter(), "1-1")
    system.settle()
    lines = dmesg_lines(system)
    assert lines.count("usb 1-1: parent hub has no TT") == 4
    assert lines[-1] == "usb usb1-port1: unable to enumerate USB device"


def test_full_speed_usb2_device_with_a_qualifier_is_told_to_use_a_high_speed_hub(
        system: System) -> None:
    system.add_controller()
    trace = Trace(system)
    desc = DeviceDescriptor(idVendor=0x1234, idProduct=0x0003, bcdUSB=0x0200,
                            qualifier=DeviceQualifier(),
                            configurations=(ConfigDescriptor(interfaces=(
                                InterfaceDescriptor(0xFF, endpoints=(
                                    EndpointDescriptor.bulk(0x81, 64),)),)),))
    system.plug(DeviceModel(desc, speed=Speed.FULL), "1-1")
    system.settle()
    assert "usb 1-1: not running at top speed; connect to a high speed hub" \
        in dmesg_lines(system)
    qualifier = trace.lines.index("S Ci:1:002:0 s 80 06 0600 0000 000a 10 <")
    assert trace.lines[qualifier - 1] == "S Ci:1:002:0 s 80 06 0100 0000 0012 18 <"


def test_usb21_device_bos_is_read_after_the_device_descriptor(system: System) -> None:
    from usbemu.spec.descriptors import BosDescriptor, usb20_extension

    system.add_controller()
    trace = Trace(system)
    desc = replace(PenDrive.descriptor, bcdUSB=0x0210,
                   bos=BosDescriptor((usb20_extension(),)))
    system.plug(DeviceModel(desc, speed=Speed.HIGH), "1-1")
    system.settle()
    start = trace.lines.index("S Ci:1:002:0 s 80 06 0100 0000 0012 18 <")
    assert trace.lines[start + 1:start + 4] == [
        "S Ci:1:002:0 s 80 06 0f00 0000 0005 5 <",
        "S Ci:1:002:0 s 80 06 0f00 0000 000c 12 <",
        "S Ci:1:002:0 s 80 06 0200 0000 0009 9 <",
    ]
    udev = system.find_device("1-1")
    assert udev is not None and udev.bos == BosDescriptor((usb20_extension(),))


def test_usb21_device_without_bos_gets_a_notice(system: System) -> None:
    system.add_controller()
    desc = replace(PenDrive.descriptor, bcdUSB=0x0201)
    system.plug(DeviceModel(desc, speed=Speed.HIGH), "1-1")
    system.settle()
    lines = dmesg_lines(system)
    assert "usb 1-1: unable to get BOS descriptor or descriptor too short" in lines
    assert system.find_device("1-1") is not None


def test_old_scheme_first_parameter(system: System) -> None:
    from usbemu.core.hub import HubDriver

    system.add_controller()
    driver = system.usb.bus_type.find_driver("hub")
    assert isinstance(driver, HubDriver)
    driver.params.old_scheme_first = True
    trace = Trace(system)
    system.plug(PenDrive(), "1-1")
    system.settle()
    reset_done = trace.lines.index("S Co:1:001:0 s 23 01 0014 0001 0000 0")
    assert trace.lines[reset_done + 1:reset_done + 4] == [
        "S Co:1:000:0 s 00 05 0002 0000 0000 0",
        "S Ci:1:002:0 s 80 06 0100 0000 0008 8 <",
        "S Ci:1:002:0 s 80 06 0100 0000 0012 18 <",
    ]


def test_low_speed_mouse_enumerates_through_the_tt(system: System) -> None:
    from usbemu.core.hub import UsbTT, usb_ttport
    from usbemu.emulated.models.mouse import BootMouse

    system.add_controller()
    system.plug(BootMouse(), "1-4")
    system.settle()
    udev = system.find_device("1-4")
    root = system.find_device("usb1")
    assert udev is not None and udev.speed == Speed.LOW
    assert isinstance(udev.tt, UsbTT) and udev.tt.hub is root and usb_ttport(udev) == 4
    assert "usb 1-4: new low-speed USB device number 2 using ehci-pci" in dmesg_lines(system)


def test_no_task_left_behind(system: System) -> None:
    system.add_controller()
    system.plug(PenDrive(), "1-1")
    system.settle()
    system.unplug("1-1")
    system.settle()

    async def tasks() -> list[str]:
        current = asyncio.current_task()
        return sorted(t.get_name() for t in asyncio.all_tasks() if t is not current)

    assert system.run(tasks()) == []   # hub_wq runs a task per hub event, none when idle
