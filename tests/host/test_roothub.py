"""The in-process controller's root hub (usbemu.host.roothub) against ehci-hub.c: always
powered ports with the shared port state machine, the hub descriptor, GetPortStatus and
the port features, when a change reaches the hub driver, and bus suspend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.emulated.models.mouse import BootMouse
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.port import DownstreamPort, PortState
from usbemu.errors import Errno
from usbemu.host.inproc import InProcessHCD
from usbemu.host.roothub import RootHub
from usbemu.spec.ch9 import DeviceState, SetupPacket
from usbemu.spec.hub import HubRequest, PortFeature, PortStatus
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller(nports=4)
        yield machine


@pytest.fixture
def root(system: System) -> RootHub:
    hcd = system.controllers[0]
    assert isinstance(hcd, InProcessHCD) and hcd.downstream is hcd.root_hub
    return hcd.root_hub


def request(root: RootHub, rtype: int, req: int, value: int, index: int,
            length: int = 0) -> tuple[int, bytes]:
    buf = bytearray(length)
    rc = root.control(SetupPacket(rtype, req, value, index, length), memoryview(buf))
    return rc, bytes(buf[:max(rc, 0)])


def port_status(root: RootHub, port1: int) -> PortStatus:
    rc, data = request(root, 0xA3, HubRequest.GET_STATUS, 0, port1, 4)
    assert rc == 4
    return PortStatus.unpack(data)


def test_root_ports_are_the_shared_port_machine_and_always_powered(root: RootHub) -> None:
    assert root.label == "root hub" and root.nports == 4 and root.hub_model is None
    assert all(isinstance(p, DownstreamPort) and p.state is PortState.DISCONNECTED
               and p.hub is None for p in root.ports)
    assert port_status(root, 1) == PortStatus(0x0100, 0)          # PORT_POWER only
    assert request(root, 0x23, HubRequest.CLEAR_FEATURE, PortFeature.POWER, 1) == (0, b"")
    assert root.hub_port(1).state is PortState.DISCONNECTED         # no power switching


def test_the_ehci_hub_descriptor(root: RootHub) -> None:
    rc, data = request(root, 0xA0, HubRequest.GET_DESCRIPTOR, 0x2900, 0, 15)
    assert (rc, data[:9]) == (15, bytes.fromhex("09 29 04 0a 00 0a 00 00 ff"))


def test_connect_reset_and_the_status_bits(system: System, root: RootHub) -> None:
    mouse = BootMouse()                       # a low-speed device, through the TT
    port = root.attach(2, mouse)
    assert port is root.hub_port(2) and mouse.port is port and mouse.host is root.hcd
    assert port_status(root, 2) == PortStatus(0x0301, 0x0001)     # low speed shows at once
    assert root.status_data() == bytes([0b100])
    assert request(root, 0x23, HubRequest.SET_FEATURE, PortFeature.RESET, 2) == (0, b"")
    assert port_status(root, 2) == PortStatus(0x0303, 0x0011)     # enabled, C_RESET
    assert mouse.state is DeviceState.DEFAULT


def test_without_a_tt_every_connected_port_reads_high_speed() -> None:
    """ehci_port_speed(): an EHCI port without an integrated TT has no speed bits, so a
    connected device shows USB_PORT_STAT_HIGH_SPEED before the reset, whatever its speed
    (Linux 6.12 on QEMU's EHCI: 0x0501); once enabled the port says the speed it runs at."""
    with System() as machine:
        machine.add_controller(nports=2, has_tt=False)
        hcd = machine.controllers[0]
        assert isinstance(hcd, InProcessHCD)
        root = hcd.root_hub
        root.attach(1, PenDrive())
        root.attach(2, BootMouse())
        assert port_status(root, 1) == PortStatus(0x0501, 0x0001)
        assert port_status(root, 2) == PortStatus(0x0501, 0x0001)   # not 0x0301
        request(root, 0x23, HubRequest.SET_FEATURE, PortFeature.RESET, 1)
        assert port_status(root, 1) == PortStatus(0x0503, 0x0011)


def test_a_connect_reaches_the_hub_driver_but_the_end_of_a_reset_does_not(
        root: RootHub, monkeypatch: pytest.MonkeyPatch) -> None:
    polls: list[int] = []
    monkeypatch.setattr(root.hcd, "poll_rh_status", lambda: polls.append(1))
    root.attach(1, PenDrive())
    assert polls == [1]                                           # port change interrupt
    request(root, 0x23, HubRequest.SET_FEATURE, PortFeature.RESET, 1)
    assert polls == [1]                                           # host-initiated: no IRQ
    root.detach(1)
    assert polls == [1, 1]


@pytest.mark.parametrize(("rtype", "req", "value", "index"), [
    (0x23, HubRequest.SET_FEATURE, PortFeature.RESET, 5),          # no port 5
    (0x23, HubRequest.SET_FEATURE, 0x77, 1),                       # no such feature
    (0xA3, HubRequest.GET_STATUS, 0, 0),                           # port 0
    (0x23, HubRequest.SET_FEATURE, PortFeature.TEST, 0x0601),      # bad test selector
])
def test_requests_the_root_hub_refuses_stall(root: RootHub, rtype: int, req: int, value: int,
                                             index: int) -> None:
    assert request(root, rtype, req, value, index, 4)[0] == -Errno.EPIPE


def test_bus_suspend_and_resume_reach_the_devices(system: System, root: RootHub) -> None:
    drive = PenDrive()
    system.plug(drive, "1-1")
    system.settle()
    assert root.hcd.bus_suspend() == 0
    assert root.asleep and drive.state is DeviceState.SUSPENDED
    assert root.hcd.bus_resume() == 0
    assert not root.asleep and drive.state is DeviceState.CONFIGURED


def test_a_change_waiting_for_the_hub_driver_is_pending(system: System,
                                                        root: RootHub) -> None:
    root.attach(3, PenDrive())
    assert root.change_pending()
    system.settle()
    assert not root.change_pending()
