"""The generic device driver (usbemu.core.generic): usb_choose_configuration's rules as a
table, and the probe/disconnect behaviour of the driver "usb" on live devices."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest

from usbemu.core.driver import UsbDeviceDriver
from usbemu.core.generic import GenericDriver, generic_driver, usb_choose_configuration
from usbemu.core.hub import usb_hub_to_struct_hub
from usbemu.core.usb import UsbDevice, UsbHostConfig
from usbemu.emulated.device import DeviceModel, request
from usbemu.emulated.endpoint import Stall
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.kernel.printk import Level
from usbemu.spec.ch9 import DeviceState, Request, SetupPacket, Speed
from usbemu.spec.config import parse_configuration, parse_device
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    build_descriptors,
)
from usbemu.system import System
from usbemu.testing import UrbRecorder


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        machine.log.clear()
        yield machine


def cfg(cls: int, sub: int = 0, proto: int = 0, power: int = 50) -> ConfigDescriptor:
    """A configuration whose first interface has the class triple given; bMaxPower in
    2 mA units."""
    ep = EndpointDescriptor.bulk(0x81, 512)
    return ConfigDescriptor(interfaces=(InterfaceDescriptor(cls, sub, proto, (ep,)),),
                            bMaxPower=power)


def offline_device(system: System, configs: list[ConfigDescriptor], *, device_class: int = 0,
                   bus_mA: int = 500, speed: Speed = Speed.HIGH) -> UsbDevice:
    """A usb_device with its configurations read and parsed as usb_get_configuration
    would, bound (on paper) to the generic driver, not registered."""
    built = build_descriptors(DeviceDescriptor(0x1234, 0x5678, bDeviceClass=device_class,
                                               configurations=tuple(configs)))
    bus = system.usb.buses[1]
    udev = UsbDevice(bus, bus.root_hub, 6)
    udev.descriptor = parse_device(built.device_bytes)
    udev.config = [UsbHostConfig(parse_configuration(raw, i, speed).config, raw)
                   for i, raw in enumerate(built.config_bytes)]
    udev.speed, udev.bus_mA = speed, bus_mA
    udev.driver = GenericDriver()
    return udev


@dataclass
class Case:
    name: str
    configs: list[ConfigDescriptor]
    chosen: int
    messages: list[str] = field(default_factory=list)
    device_class: int = 0
    bus_mA: int = 500


RNDIS = cfg(2, 2, 0xFF)
CASES = [
    Case("one class configuration", [cfg(8)], 1),
    Case("first non-vendor-specific wins", [cfg(0xFF), cfg(3), cfg(8)], 2),
    Case("all vendor-specific: the first", [cfg(0xFF), cfg(0xFF)], 1),
    Case("vendor-specific device class: the first", [cfg(8), cfg(3)], 1, device_class=0xFF),
    Case("a configuration drawing too much is skipped", [cfg(8, power=250), cfg(3)], 2,
         ["usb 1-6: rejected 1 configuration due to insufficient available bus power"],
         bus_mA=100),
    Case("nothing fits the power budget", [cfg(8, power=250), cfg(3, power=100)], -1,
         ["usb 1-6: rejected 2 configurations due to insufficient available bus power",
          "usb 1-6: no configuration chosen from 2 choices"], bus_mA=100),
    Case("exactly the budget fits", [cfg(8, power=50)], 1, bus_mA=100),
    Case("UAC3 audio is preferred", [cfg(1, 1, 0x20), cfg(1, 1, 0x30)], 2),
    Case("audio without UAC3: the first", [cfg(1, 1, 0x20), cfg(1, 1, 0x20)], 1),
    Case("audio first, a class config later wins", [cfg(1, 1, 0), cfg(3)], 2),
    Case("RNDIS first, CDC ECM second", [RNDIS, cfg(2, 6, 0)], 2),
    Case("RNDIS first, vendor second: RNDIS is kept", [RNDIS, cfg(0xFF)], 1),
    Case("ActiveSync as the only config", [cfg(0xEF, 1, 1)], 1),
    Case("RNDIS as the only config", [RNDIS], 1),
    Case("a configuration without interfaces", [ConfigDescriptor()], 1),
    Case("vendor device class, all too hungry", [cfg(0xFF, power=250)], -1,
         ["usb 1-6: rejected 1 configuration due to insufficient available bus power",
          "usb 1-6: no configuration chosen from 1 choice"], device_class=0xFF, bus_mA=100),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_choose_configuration_rules(system: System, case: Case) -> None:
    udev = offline_device(system, case.configs, device_class=case.device_class,
                          bus_mA=case.bus_mA)
    assert usb_choose_configuration(udev) == case.chosen
    assert system.log.lines() == case.messages


def test_choose_configuration_debug_line(system: System) -> None:
    system.log.debug = True
    udev = offline_device(system, [cfg(0xFF), cfg(3)])
    assert usb_choose_configuration(udev) == 2
    assert system.log.lines() == ["usb 1-6: configuration #2 chosen from 2 choices"]


def test_superspeed_power_is_counted_in_8_ma_units(system: System) -> None:
    udev = offline_device(system, [cfg(8, power=100)], bus_mA=500)   # 100 × 2 mA
    assert usb_choose_configuration(udev) == 1
    udev.speed = Speed.SUPER                                        # 100 × 8 mA
    assert usb_choose_configuration(udev) == -1


def test_no_driver_means_no_configuration(system: System) -> None:
    udev = offline_device(system, [cfg(8)])
    udev.driver = None
    assert usb_choose_configuration(udev) == -1


def test_the_drivers_own_choice_wins(system: System) -> None:
    udev = offline_device(system, [cfg(8), cfg(3)])
    udev.driver = UsbDeviceDriver("special", choose_configuration=lambda d: 2)
    assert usb_choose_configuration(udev) == 2
    udev.driver = UsbDeviceDriver("special", choose_configuration=lambda d: -1)
    assert usb_choose_configuration(udev) == 1


def test_a_port_owned_by_usbfs_gets_configuration_0(system: System) -> None:
    udev = offline_device(system, [cfg(8)])
    hub = usb_hub_to_struct_hub(udev.usb_parent)
    assert hub is not None
    hub.port(6).port_owner = object()
    assert usb_choose_configuration(udev) == 0


def test_generic_driver_instance() -> None:
    drv = generic_driver()
    assert isinstance(drv, GenericDriver) and drv.name == "usb" and drv.supports_autosuspend


# -- probe and disconnect on live devices --------------------------------------------------------


def record_setups(system: System) -> UrbRecorder:
    """Records the URBs the controllers accept, through the usbmon hooks."""
    return UrbRecorder(system)


def setup_lines(rec: UrbRecorder) -> list[str]:
    """The setup packets of the control URBs recorded, as text."""
    return [str(e.setup_packet) for e in rec.submitted() if e.setup is not None]


class RefusesConfiguration(PenDrive):
    @request(0x00, Request.SET_CONFIGURATION)
    def _refuse(self, setup: SetupPacket, data: bytes) -> None:
        raise Stall


def test_failing_set_configuration_is_logged_and_the_device_stays_bound(
        system: System) -> None:
    system.plug(RefusesConfiguration(), "1-1")
    system.settle()
    assert "usb 1-1: can't set config #1, error -32" in system.log.lines(Level.ERR)
    udev = system.find_device("1-1")
    assert udev is not None and udev.driver is not None and udev.driver.name == "usb"
    assert udev.state is DeviceState.ADDRESS and udev.actconfig is None


def test_vendor_configuration_first_means_set_configuration_2(system: System) -> None:
    setups = record_setups(system)
    desc = DeviceDescriptor(0x1234, 0x0001, configurations=(cfg(0xFF), cfg(8)))
    system.plug(DeviceModel(desc, speed=Speed.HIGH), "1-2")
    system.settle()
    lines = setup_lines(setups)
    assert "00 09 0002 0000 0000" in lines and "00 09 0001 0000 0000" not in lines
    udev = system.find_device("1-2")
    assert udev is not None and udev.actconfig is not None and udev.actconfig.value == 2


def test_unbinding_the_generic_driver_unconfigures_the_device(system: System) -> None:
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    interfaces = list(udev.interfaces())
    setups = record_setups(system)
    system.run(system.driver_core.device_release_driver(udev))
    assert setup_lines(setups) == ["00 09 0000 0000 0000"]
    assert udev.state is DeviceState.ADDRESS and udev.actconfig is None
    assert not any(i.registered for i in interfaces)
    system.run(system.driver_core.device_attach(udev))
    assert udev.state is DeviceState.CONFIGURED
    assert setup_lines(setups)[-1] == "00 09 0001 0000 0000"


def test_unauthorized_device_is_not_configured(system: System) -> None:
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    system.run(system.driver_core.device_release_driver(udev))
    udev.authorized = False
    system.log.clear()
    system.run(system.driver_core.device_attach(udev))
    assert system.log.lines() == ["usb 1-1: Device is not authorized for usage"]
    assert udev.driver is not None and udev.actconfig is None


def test_unplug_does_not_send_set_configuration_0(system: System) -> None:
    system.plug(PenDrive(), "1-1")
    system.settle()
    setups = record_setups(system)
    system.unplug("1-1")
    system.settle()
    assert not any(s.startswith("00 09") for s in setup_lines(setups))


def test_not_enough_power_for_any_configuration_leaves_the_device_unconfigured(
        system: System) -> None:
    desc = replace(PenDrive.descriptor, configurations=(
        replace(PenDrive.descriptor.configurations[0], bMaxPower=251),))
    system.plug(DeviceModel(desc, speed=Speed.HIGH), "1-1")
    system.settle()
    lines = system.log.lines()
    assert lines[-2:] == [
        "usb 1-1: rejected 1 configuration due to insufficient available bus power",
        "usb 1-1: no configuration chosen from 1 choice",
    ]
    udev = system.find_device("1-1")
    assert udev is not None and udev.state is DeviceState.ADDRESS
