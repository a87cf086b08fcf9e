"""Downstream ports and their owners (usbemu.emulated.port): one state machine and one
interface for plugging, whoever owns the ports."""

from __future__ import annotations

from typing import ClassVar

import pytest

from usbemu.emulated.device import DeviceHost, DeviceModel
from usbemu.emulated.endpoint import Stall
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.port import DownstreamPort, PortOwner, PortState, port_feature
from usbemu.errors import IllegalPortTransition
from usbemu.spec.ch9 import DeviceState, Speed
from usbemu.spec.descriptors import ConfigDescriptor, DeviceDescriptor
from usbemu.spec.hub import PortChange, PortFeature
from usbemu.testing import RecordingHost


class Bench(PortOwner):
    """A root-hub-like owner: always powered ports, changes counted."""

    def __init__(self, nports: int = 2) -> None:
        self.speed = Speed.HIGH
        self.host = RecordingHost()
        self.changes: list[tuple[PortChange, bool]] = []
        self.ports = tuple(DownstreamPort(self, n) for n in range(1, nports + 1))
        for port in self.ports:
            port.power_on()

    @property
    def downstream_host(self) -> DeviceHost:
        return self.host

    @property
    def hub_model(self) -> None:
        return None

    def status_changed(self, bits: PortChange, *, host_initiated: bool = False) -> None:
        self.changes.append((bits, host_initiated))


class Gadget(DeviceModel):
    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        idVendor=0x1234, idProduct=0x5678, configurations=(ConfigDescriptor(),))


def test_a_bench_owner_plugs_resets_and_unplugs_through_the_shared_machine() -> None:
    owner = Bench()
    gadget = Gadget()
    port = owner.attach(1, gadget)
    assert (port.state, gadget.state, gadget.port) == (PortState.DISABLED,
                                                       DeviceState.POWERED, port)
    assert owner.changes == [(PortChange.C_CONNECTION, False)]
    port_feature(port, True, PortFeature.RESET, 0)
    assert port.enabled and gadget.state is DeviceState.DEFAULT and gadget.reachable
    assert owner.changes[-1] == (PortChange.C_RESET, True)       # the host started it
    assert owner.detach(1) is gadget and gadget.state is DeviceState.NOTATTACHED
    assert port.state is PortState.DISCONNECTED and not port.enabled


def test_unknown_features_stall_and_illegal_moves_raise() -> None:
    port = Bench().hub_port(1)
    with pytest.raises(Stall):
        port_feature(port, True, 0x42, 0)
    with pytest.raises(IllegalPortTransition, match="port 1: disconnected -> enabled"):
        port.set_state(PortState.ENABLED)


def test_a_model_is_in_one_place_whoever_owns_the_ports() -> None:
    root, hub = Bench(), Hub()
    gadget = Gadget()
    root.attach(1, gadget)
    with pytest.raises(ValueError,
                       match=r"already plugged into <.*Bench object at .*> port 1: unplug"):
        hub.attach(1, gadget)
    root.detach(1)
    hub.attach(1, gadget)
    assert list(hub.children()) == [(1, gadget)] and list(root.children()) == []


def test_a_hub_cannot_go_below_itself() -> None:
    outer, inner = Hub(), Hub()
    outer.attach(1, inner)
    with pytest.raises(ValueError, match="would make a loop"):
        inner.attach(1, outer)
    with pytest.raises(ValueError, match="would make a loop"):
        outer.attach(2, outer)


def test_walking_the_tree_through_downstream() -> None:
    root, hub, gadget = Bench(), Hub(), Gadget()
    hub.attach(3, gadget)
    root.attach(2, hub)
    assert hub.downstream is hub and gadget.downstream is None
    assert list(root.descendants()) == [hub, gadget]   # plugged in, powered or not
    assert list(hub.descendants()) == [gadget]
