"""Link speed is negotiated, not declared (USB 2.0 §9.2.6.6, §9.6.2, §9.6.4): a high-speed
device on a port that cannot run at high speed runs at full speed and answers from the
other side of its descriptors; the host sees full speed everywhere and says "not running
at top speed" (hub.c check_highspeed); a full-speed-only device STALLs the qualifier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.core.message import usb_get_descriptor
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.serial import SerialConverter
from usbemu.spec.ch9 import DescriptorType, SetupPacket, Speed
from usbemu.system import System


def get(model: DeviceModel, dtype: int, index: int = 0, length: int = 255) -> bytes | None:
    buf = memoryview(bytearray(length))
    outcome, n = model.control(SetupPacket(0x80, 6, dtype << 8 | index, 0, length),
                               dst=buf)
    return bytes(buf[:n]) if outcome is Outcome.DONE else None


def test_the_other_speed_view_swaps_as_chapter_9_says() -> None:
    native = PenDrive().descriptors
    other = native.at_other_speed()
    assert other is not None and native.qualifier_bytes is not None
    dev, qual = native.device_bytes, native.qualifier_bytes
    assert other.device_bytes == dev[:4] + qual[4:8] + dev[8:17] + qual[8:9]
    assert other.qualifier_bytes == qual[:2] + dev[2:8] + dev[17:18] + qual[9:]
    assert [c[1] for c in other.config_bytes] == [DescriptorType.CONFIG]
    assert other.config_bytes[0][2:] == native.other_speed_bytes[0][2:]
    assert other.other_speed_bytes[0] == bytes([9, 7]) + native.config_bytes[0][2:]
    assert other.configurations == native.device.other_speed_configurations
    back = other.at_other_speed()
    assert back is not None
    assert (back.device_bytes, back.config_bytes, back.qualifier_bytes,
            back.other_speed_bytes) == (native.device_bytes, native.config_bytes,
                                        native.qualifier_bytes, native.other_speed_bytes)
    assert SerialConverter().descriptors.at_other_speed() is None


@pytest.mark.parametrize("port_speed", [Speed.HIGH, Speed.FULL])
def test_a_high_speed_model_answers_at_the_speed_its_reset_settled(port_speed: Speed) -> None:
    drive = PenDrive()
    drive.connect(None, None)
    drive.bus_reset(port_speed)
    assert drive.link_speed == port_speed
    native = drive.descriptors
    answers = native if port_speed == Speed.HIGH else native.at_other_speed()
    assert answers is not None
    assert get(drive, DescriptorType.DEVICE) == answers.device_bytes
    assert get(drive, DescriptorType.CONFIG) == answers.config_bytes[0]
    assert get(drive, DescriptorType.DEVICE_QUALIFIER) == answers.qualifier_bytes
    assert get(drive, DescriptorType.OTHER_SPEED_CONFIG) == answers.other_speed_bytes[0]
    bulk = 512 if port_speed == Speed.HIGH else 64
    drive.control(SetupPacket(0x00, 5, 2, 0, 0))
    drive.control(SetupPacket(0x00, 9, 1, 0, 0))
    assert {ep.maxpacket for ep in drive.endpoints()} == {bulk}


def test_a_full_speed_only_model_stalls_the_qualifier_and_other_speed() -> None:
    serial = SerialConverter()
    serial.connect(None, None)
    serial.bus_reset(Speed.HIGH)
    assert serial.link_speed == Speed.FULL
    assert get(serial, DescriptorType.DEVICE_QUALIFIER, length=10) is None
    assert get(serial, DescriptorType.OTHER_SPEED_CONFIG) is None


@pytest.fixture
def machine() -> Iterator[System]:
    with System() as system:
        system.add_controller()  # a high-speed root hub: check_highspeed has a hub to name
        system.plug(Hub(speed=Speed.FULL), "1-1")
        system.settle()
        yield system


def test_a_high_speed_model_on_a_full_speed_port_enumerates_at_full_speed(
        machine: System) -> None:
    drive = PenDrive()
    machine.plug(drive, "1-1.2")
    machine.settle()
    lines = machine.dmesg()
    assert "usb 1-1.2: new full-speed USB device number 3 using ehci-pci" in lines
    assert "usb 1-1.2: not running at top speed; connect to a high speed hub" in lines
    udev = machine.find_device("1-1.2")
    assert udev is not None and udev.speed == Speed.FULL and drive.link_speed == Speed.FULL
    at_full = drive.descriptors.at_other_speed()
    assert at_full is not None
    read = machine.vfs.read_text
    assert read("/sys/bus/usb/devices/1-1.2/speed").strip() == "12"
    assert machine.vfs.read("/sys/bus/usb/devices/1-1.2/descriptors") == \
        at_full.device_bytes + at_full.config_bytes[0]
    block = next(b for b in read("/sys/kernel/debug/usb/devices").split("\n\n")
                 if "Dev#=  3" in b)
    assert "Spd=12 " in block and "MxPS=  64" in block and "MxPS= 512" not in block

    async def read_descriptors() -> tuple[bytes, bytes]:
        qual, other = bytearray(10), bytearray(32)
        n = await usb_get_descriptor(udev, DescriptorType.DEVICE_QUALIFIER, 0, qual, 10)
        m = await usb_get_descriptor(udev, DescriptorType.OTHER_SPEED_CONFIG, 0, other, 32)
        return bytes(qual[:n]), bytes(other[:m])

    qual, other = machine.run(read_descriptors())
    assert qual == at_full.qualifier_bytes and qual[4:8] == drive.descriptors.device_bytes[4:8]
    assert other == at_full.other_speed_bytes[0] and other[1] == DescriptorType.OTHER_SPEED_CONFIG
    assert b"\x07\x05\x82\x02\x00\x02" in other  # the high-speed bulk IN: 512 bytes


def test_a_high_speed_hub_on_a_full_speed_port_repeats_full_speed_only(
        machine: System) -> None:
    hub = Hub()
    machine.plug(hub, "1-1.1")
    machine.settle()
    machine.plug(PenDrive(), "1-1.1.1")
    machine.settle()
    assert hub.link_speed == Speed.FULL and hub.port_speed == Speed.FULL
    for path in ("1-1.1", "1-1.1.1"):
        assert machine.vfs.read_text(f"/sys/bus/usb/devices/{path}/speed").strip() == "12"
