"""Fetching configurations and BOS (usbemu.core.config): the two reads per configuration,
the limits, and every message usb_get_configuration / usb_get_bos_descriptor log while
fetching, with Linux 6.12's wording and level."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from usbemu.core.config import usb_get_bos_descriptor, usb_get_configuration
from usbemu.emulated.device import DeviceModel, request
from usbemu.emulated.endpoint import Stall
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno
from usbemu.kernel.printk import Level
from usbemu.spec.ch9 import DescriptorType, DeviceState, Request, SetupPacket, Speed
from usbemu.spec.descriptors import (
    BosDescriptor,
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    usb20_extension,
)
from usbemu.system import System
from usbemu.testing import UrbRecorder

Reply = Callable[[int, int, bytes], bytes | None]
"""(descriptor index, wLength, the real descriptor) → reply, or None to STALL."""


class Scripted(DeviceModel):
    """A device whose GET_DESCRIPTOR answers for one descriptor type are scripted."""

    speed = Speed.HIGH

    def __init__(self, desc: DeviceDescriptor, dtype: int, reply: Reply) -> None:
        super().__init__(desc)
        self.dtype, self.reply = dtype, reply

    @request(0x80, Request.GET_DESCRIPTOR)
    def _get_descriptor(self, setup: SetupPacket, data: bytes) -> bytes | None:
        dtype, index = setup.wValue >> 8, setup.wValue & 0xFF
        if dtype != self.dtype:
            return self.standard_request(setup, data)
        real = self.descriptors.get(dtype, index) or b""
        answer = self.reply(index, setup.wLength, real)
        if answer is None:
            raise Stall
        return answer


def vendor_config() -> ConfigDescriptor:
    return ConfigDescriptor(interfaces=(InterfaceDescriptor(
        0xFF, endpoints=(EndpointDescriptor.bulk(0x81, 512),)),))


def device(configs: int = 1, **fields: object) -> DeviceDescriptor:
    return DeviceDescriptor(0x1234, 0x4321, configurations=tuple(
        vendor_config() for _ in range(configs)), **fields)  # type: ignore[arg-type]


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        machine.log.clear()
        yield machine


def config_reads(system: System) -> UrbRecorder:
    """Records the URBs the controllers accept, through the usbmon hooks."""
    return UrbRecorder(system)


def config_lines(rec: UrbRecorder) -> list[str]:
    """The GET_DESCRIPTOR(CONFIG) requests recorded, as text."""
    return [str(setup) for e in rec.submitted() if (setup := e.setup_packet) is not None
            and setup.bRequest == Request.GET_DESCRIPTOR and setup.wValue >> 8 == 2]


def first_attempt(system: System) -> list[str]:
    """The messages of the first enumeration attempt, after "new … device number 2"."""
    lines = system.log.lines()
    start = lines.index("usb 1-1: new high-speed USB device number 2 using ehci-pci") + 1
    end = lines.index("usb 1-1: new high-speed USB device number 3 using ehci-pci")
    return lines[start:end]


def plug(system: System, model: DeviceModel) -> None:
    system.plug(model, "1-1")
    system.settle()


# -- successful fetches ----------------------------------------------------------------------------


def test_each_configuration_is_read_twice(system: System) -> None:
    reads = config_reads(system)
    model = DeviceModel(device(configs=2), speed=Speed.HIGH)
    plug(system, model)
    assert config_lines(reads) == ["80 06 0200 0000 0009", "80 06 0200 0000 0019",
                     "80 06 0201 0000 0009", "80 06 0201 0000 0019"]
    udev = system.find_device("1-1")
    assert udev is not None
    assert udev.rawdescriptors == list(model.descriptors.config_bytes)
    assert [c.value for c in udev.config] == [1, 2]
    assert [c.raw for c in udev.config] == udev.rawdescriptors


def test_too_many_configurations_are_clamped_to_8(system: System) -> None:
    reads = config_reads(system)
    plug(system, DeviceModel(device(configs=9), speed=Speed.HIGH))
    assert "usb 1-1: too many configurations: 9, using maximum allowed: 8" \
        in system.log.lines(Level.NOTICE)
    assert "usb 1-1: too many configurations: 9, using maximum allowed: 8" \
        not in system.log.lines(Level.WARNING)
    assert config_lines(reads)[-2:] == ["80 06 0207 0000 0009", "80 06 0207 0000 0019"]
    assert len(config_lines(reads)) == 16
    udev = system.find_device("1-1")
    assert udev is not None and udev.descriptor is not None
    assert udev.descriptor.bNumConfigurations == 8 and len(udev.config) == 8


def test_short_full_read_is_tolerated(system: System) -> None:
    def overstated(index: int, length: int, real: bytes) -> bytes:
        return real[:2] + (len(real) + 8).to_bytes(2, "little") + real[4:]

    plug(system, Scripted(device(), DescriptorType.CONFIG, overstated))
    assert "usb 1-1: config index 0 descriptor too short (expected 33, got 25)" \
        in system.log.lines(Level.NOTICE)
    udev = system.find_device("1-1")
    assert udev is not None and udev.state is DeviceState.CONFIGURED
    assert udev.config[0].desc.wTotalLength == 25


def test_parser_notices_are_logged_on_the_device(system: System) -> None:
    desc = device()
    config = desc.configurations[0]
    odd = DeviceDescriptor(0x1234, 0x4321, configurations=(
        ConfigDescriptor(interfaces=config.interfaces, bNumInterfaces=2),))
    plug(system, DeviceModel(odd, speed=Speed.HIGH))
    assert "usb 1-1: config 1 has 1 interface, different from the descriptor's value: 2" \
        in system.log.lines(Level.NOTICE)
    udev = system.find_device("1-1")
    assert udev is not None and udev.state is DeviceState.CONFIGURED


def test_usb_get_configuration_directly(system: System) -> None:
    plug(system, PenDrive())
    udev = system.find_device("1-1")
    assert udev is not None
    before = list(udev.rawdescriptors)
    assert system.run(usb_get_configuration(udev)) == 0
    assert udev.rawdescriptors == before and len(udev.config) == 1


# -- fatal fetch errors ----------------------------------------------------------------------------


def test_no_configurations(system: System) -> None:
    plug(system, DeviceModel(device(configs=0), speed=Speed.HIGH))
    assert first_attempt(system) == ["usb 1-1: no configurations",
                                     "usb 1-1: can't read configurations, error -22"]
    assert system.log.lines()[-1] == "usb usb1-port1: unable to enumerate USB device"
    assert system.find_device("1-1") is None


def test_stalled_header_chops_the_configurations(system: System) -> None:
    """Linux 6.12 logs "chopping to %d config(s)" and still returns -EPIPE, so the
    device does not enumerate."""
    def second_stalls(index: int, length: int, real: bytes) -> bytes | None:
        return None if index == 1 else real

    plug(system, Scripted(device(configs=2), DescriptorType.CONFIG, second_stalls))
    assert first_attempt(system) == [
        "usb 1-1: unable to read config index 1 descriptor/start: -32",
        "usb 1-1: chopping to 1 config(s)",
        "usb 1-1: can't read configurations, error -32",
    ]
    lines = system.log.lines(Level.ERR)
    assert "usb 1-1: chopping to 1 config(s)" not in lines   # dev_notice
    assert "usb 1-1: unable to read config index 1 descriptor/start: -32" in lines


def test_other_header_errors_are_fatal_without_chopping(system: System) -> None:
    def wrong_type(index: int, length: int, real: bytes) -> bytes:
        return bytes((9, 5)) + real[2:]

    plug(system, Scripted(device(), DescriptorType.CONFIG, wrong_type))
    assert first_attempt(system) == [
        "usb 1-1: unable to read config index 0 descriptor/start: -61",
        "usb 1-1: can't read configurations, error -61",
    ]


def test_header_shorter_than_4_bytes(system: System) -> None:
    plug(system, Scripted(device(), DescriptorType.CONFIG, lambda i, n, real: real[:3]))
    assert first_attempt(system) == [
        "usb 1-1: config index 0 descriptor too short (expected 9, got 3)",
        "usb 1-1: can't read configurations, error -22",
    ]


def test_full_read_failure(system: System) -> None:
    def only_the_header(index: int, length: int, real: bytes) -> bytes | None:
        return real if length == 9 else None

    plug(system, Scripted(device(), DescriptorType.CONFIG, only_the_header))
    assert first_attempt(system) == [
        "usb 1-1: unable to read config index 0 descriptor/all",
        "usb 1-1: can't read configurations, error -32",
    ]


def test_invalid_configuration_descriptor(system: System) -> None:
    def short_blength(index: int, length: int, real: bytes) -> bytes:
        return bytes((7,)) + real[1:]

    plug(system, Scripted(device(), DescriptorType.CONFIG, short_blength))
    assert first_attempt(system) == [
        "usb 1-1: invalid descriptor for config index 0: type = 0x2, length = 7",
        "usb 1-1: can't read configurations, error -22",
    ]


def test_full_read_shorter_than_a_configuration_descriptor(system: System) -> None:
    def tiny(index: int, length: int, real: bytes) -> bytes:
        return real if length == 9 else real[:5]

    plug(system, Scripted(device(), DescriptorType.CONFIG, tiny))
    assert first_attempt(system) == [
        "usb 1-1: config index 0 descriptor too short (expected 25, got 5)",
        "usb 1-1: invalid descriptor for config index 0: type = 0x2, length = 9",
        "usb 1-1: can't read configurations, error -22",
    ]


# -- BOS ---------------------------------------------------------------------------------------


def bos_device() -> DeviceDescriptor:
    return device(bcdUSB=0x0210, bos=BosDescriptor((usb20_extension(),)))


def test_bos_is_read_and_parsed(system: System) -> None:
    plug(system, DeviceModel(bos_device(), speed=Speed.HIGH))
    udev = system.find_device("1-1")
    assert udev is not None and udev.bos == BosDescriptor((usb20_extension(),))


def test_bos_set_shorter_than_announced(system: System) -> None:
    def short_set(index: int, length: int, real: bytes) -> bytes:
        return real[:length] if length == 5 else real[:7]

    plug(system, Scripted(bos_device(), DescriptorType.BOS, short_set))
    assert "usb 1-1: unable to get BOS descriptor set" in system.log.lines(Level.NOTICE)
    udev = system.find_device("1-1")
    assert udev is not None and udev.bos is None and udev.state is DeviceState.CONFIGURED


def test_bos_total_length_below_blength(system: System) -> None:
    plug(system, DeviceModel(bos_device(), speed=Speed.HIGH))
    udev = system.find_device("1-1")
    assert udev is not None
    model = Scripted(bos_device(), DescriptorType.BOS,
                     lambda i, n, real: bytes((5, 0x0F, 3, 0, 1)))
    system.unplug("1-1")
    system.settle()
    plug(system, model)
    udev = system.find_device("1-1")
    assert udev is not None and udev.bos is None
    assert system.run(usb_get_bos_descriptor(udev)) == -Errno.EINVAL


def test_bos_header_stall(system: System) -> None:
    plug(system, Scripted(bos_device(), DescriptorType.BOS, lambda i, n, real: None))
    assert "usb 1-1: unable to get BOS descriptor or descriptor too short" \
        in system.log.lines(Level.NOTICE)
    udev = system.find_device("1-1")
    assert udev is not None and udev.bos is None
    assert system.run(usb_get_bos_descriptor(udev)) == -Errno.EPIPE
