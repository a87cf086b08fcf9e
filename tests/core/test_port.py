"""Hub port devices (usbemu.core.port) and what the hub driver does with their knobs:
`early_stop` (hub_port_stop_enumerate) and `quirks` (USB_PORT_QUIRK_OLD_SCHEME,
USB_PORT_QUIRK_FAST_ENUM), against Linux 6.12's hub.c."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.emulated.device import DeviceModel, request
from usbemu.emulated.endpoint import Stall
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.spec.ch9 import Request, SetupPacket, Speed
from usbemu.spec.descriptors import ConfigDescriptor, DeviceDescriptor
from usbemu.system import System
from usbemu.testing import UrbRecorder

PORT1 = "/sys/bus/usb/devices/usb1/1-0:1.0/usb1-port1"


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


def write(system: System, path: str, text: str) -> None:
    with system.open(path, "w") as f:
        f.write(text.encode())


class StallingDevice(DeviceModel):
    """Answers nothing but SET_ADDRESS: every GET_DESCRIPTOR STALLs."""

    speed = Speed.HIGH
    descriptor = DeviceDescriptor(idVendor=0x1234, idProduct=0x0001,
                                  configurations=(ConfigDescriptor(),))

    @request(0x80, Request.GET_DESCRIPTOR)
    def _stall(self, setup: SetupPacket, data: bytes) -> bytes:
        raise Stall


def address0_reads(rec: UrbRecorder) -> int:
    return sum(1 for e in rec.submitted()
               if e.devnum == 0 and str(e.setup_packet).startswith("80 06 0100"))


def test_without_early_stop_a_failing_device_is_tried_four_times(system: System) -> None:
    with UrbRecorder(system) as rec:
        system.plug(StallingDevice(), "1-1")
        system.settle()
    assert "usb usb1-port1: unable to enumerate USB device" in system.log.lines()
    assert address0_reads(rec) == 12  # 3 reads × 2 tries × 2 new-scheme attempts


def test_early_stop_gives_up_after_the_first_try_and_then_ignores_the_port(
        system: System) -> None:
    write(system, f"{PORT1}/early_stop", "1\n")
    assert system.vfs.read_text(f"{PORT1}/early_stop") == "yes\n"
    system.log.clear()
    with UrbRecorder(system) as rec:
        system.plug(StallingDevice(), "1-1")
        system.settle()
    assert system.log.lines() == [
        "usb 1-1: new high-speed USB device number 2 using ehci-pci",
        "usb 1-1: device descriptor read/64, error -32"]   # no "unable to enumerate"
    assert address0_reads(rec) == 3
    # the port is ignored now: a good device is not even looked at ...
    system.unplug("1-1")
    system.plug(PenDrive(), "1-1")
    system.settle()
    assert system.find_device("1-1") is None
    # ... until early_stop is cleared and the port changes again
    write(system, f"{PORT1}/early_stop", "0")
    system.unplug("1-1")
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None and udev.actconfig is not None


def test_the_old_scheme_quirk_starts_with_set_address(system: System) -> None:
    write(system, f"{PORT1}/quirks", "1")
    assert system.vfs.read_text(f"{PORT1}/quirks") == "00000001\n"
    with UrbRecorder(system) as rec:
        system.plug(PenDrive(), "1-1")
        system.settle()
    first = next(e for e in rec.submitted() if e.devnum in (0, 2) and e.setup is not None
                 and e.setup_packet is not None and e.setup_packet.bmRequestType != 0x23
                 and e.setup_packet.bmRequestType != 0xA3)
    assert str(first.setup_packet) == "00 05 0002 0000 0000"   # SET_ADDRESS, no 64-byte read
    assert address0_reads(rec) == 0


@pytest.mark.parametrize(("quirks", "recovery_ms"), [("0", 50), ("2", 10)])
def test_the_fast_enum_quirk_shortens_the_reset_recovery(system: System, quirks: str,
                                                         recovery_ms: int) -> None:
    write(system, f"{PORT1}/quirks", quirks)
    with UrbRecorder(system) as rec:
        system.plug(PenDrive(), "1-1")
        system.settle()
    events = rec.submitted()
    end_of_reset = next(i for i, e in enumerate(events)
                        if str(e.setup_packet) == "23 01 0014 0001 0000")  # C_PORT_RESET
    after = events[end_of_reset + 1]
    assert round((after.time - events[end_of_reset].time) * 1000) == recovery_ms
