"""The root hub of a controller whose wire reaches device models — counterpart of
drivers/usb/host/ehci-hub.c, uhci-hub.c and ohci-hub.c (hub_status_data, the hub
descriptor, hub_control, bus suspend and resume).

`RootHub` holds the controller's root ports, each a `usbemu.emulated.port.DownstreamPort`
(the port state machine a hub model's ports use too), and is their `PortOwner`: device
models are plugged into the root hub with `attach` and pulled out with `detach`, and a
change on a port makes the controller's framework poll the root hub (`poll_rh_status`).  It
answers the hub-class requests the HCD framework hands the controller (`hub_control`) as
the controller's driver does, with the differences each one has kept in a `RootHubKind`:
its hub descriptor, whether a finished reset shows C_PORT_RESET (UHCI's does not), and
whether ClearPortFeature(PORT_POWER) is refused (UHCI has no power switching and says so).
Bus suspend suspends the devices on enabled ports, as the end of SOFs does; bus resume
wakes them.

Companion controllers (EHCI on a PC chipset): `add_companion` routes the next root ports of
an EHCI root hub to the ports of a full-speed root hub (UHCI or OHCI), as the chipset wires
them.  A device that cannot run at high speed is then handed over as ehci-hub.c does it: a
low-speed device at once when the host asks for a reset ("port %d low speed --> companion");
a full-speed one after a reset that found no high-speed device — the GetPortStatus that
ends the reset still shows it connected but not enabled, and sets PORT_OWNER, so that the
EHCI port then reads disconnected and the device connects on the companion's port.
Unplugging it gives the port back to EHCI.  A device is always plugged into and unplugged
from the physical port, whichever controller's number it is reached by: `attach` and
`detach` on a companion port go through the EHCI port it is wired to.

What it does not do: port power switching (the ports are always powered, as on
controllers without power switching: PORT_POWER requests change nothing), over-current,
or hand every port to the companions when the EHCI controller stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..emulated.endpoint import Stall
from ..emulated.port import DownstreamPort, PortOwner, PortState, port_feature
from ..errors import Errno
from ..spec.ch9 import SetupPacket, Speed
from ..spec.hub import (
    HubDescriptor,
    HubRequest,
    PortChange,
    PortFeature,
    PortStat,
    PortStatus,
    status_change_bitmap,
)

if TYPE_CHECKING:
    from ..emulated.device import DeviceHost, DeviceModel, ModelClock
    from .inproc import InProcessController

__all__ = ["EHCI_ROOT_HUB", "OHCI_ROOT_HUB", "UHCI_ROOT_HUB", "RootHub", "RootHubKind"]


@dataclass(frozen=True)
class RootHubKind:
    """What one controller driver's root hub says of itself: its hub descriptor's
    wHubCharacteristics and bPwrOn2PwrGood, whether GetPortStatus reports C_PORT_RESET at
    the end of a reset, whether ClearPortFeature(PORT_POWER) is refused, and whether a
    controller without a transaction translator reports every connected port at high speed
    (`connected_high_speed`)."""

    name: str
    wHubCharacteristics: int
    bPwrOn2PwrGood: int
    reports_reset_change: bool = True
    refuses_power_off: bool = False
    connected_high_speed: bool = False


#: ehci_hub_descriptor: no power switching (0x0002), per-port over-current (0x0008), 20 ms.
#: ehci_port_speed(): an EHCI port without an integrated TT (not ehci_is_TDI) has no speed
#: bits to read, so GetPortStatus says USB_PORT_STAT_HIGH_SPEED for any connected device,
#: before the reset too (Linux 6.12 on QEMU's EHCI: 0x0501 after the connect).
EHCI_ROOT_HUB: Final = RootHubKind("ehci", 0x0008 | 0x0002, 10, connected_high_speed=True)
#: uhci-hub.c root_hub_hub_des: per-port over-current, no power switching, 2 ms; no
#: C_PORT_RESET ("UHCI doesn't support C_RESET"); no power switching to clear.
UHCI_ROOT_HUB: Final = RootHubKind("uhci", 0x0008 | 0x0002, 1, reports_reset_change=False,
                                   refuses_power_off=True)
#: ohci_hub_descriptor of a controller whose RhDescriptorA has NPS and neither PSM nor
#: OCPM (QEMU's OHCI): no power switching, global over-current, bPwrOn2PwrGood 0.
OHCI_ROOT_HUB: Final = RootHubKind("ohci", 0x0002, 0)
_HUB_DESCRIPTOR_SIZE: Final = 15  # sizeof(struct usb_hub_descriptor)

_GET_HUB_DESCRIPTOR: Final = (0xA0, HubRequest.GET_DESCRIPTOR)
_GET_HUB_STATUS: Final = (0xA0, HubRequest.GET_STATUS)
_HUB_FEATURES: Final = frozenset({(0x20, HubRequest.SET_FEATURE),
                                  (0x20, HubRequest.CLEAR_FEATURE)})
_GET_PORT_STATUS: Final = (0xA3, HubRequest.GET_STATUS)
_SET_PORT_FEATURE: Final = (0x23, HubRequest.SET_FEATURE)
_CLEAR_PORT_FEATURE: Final = (0x23, HubRequest.CLEAR_FEATURE)


class RootHub(PortOwner):
    """The root ports of `hcd`, always powered, answering as a `kind` of root hub does.
    Context: every method is atomic."""

    def __init__(self, hcd: InProcessController, nports: int,
                 kind: RootHubKind = EHCI_ROOT_HUB) -> None:
        self.hcd = hcd
        self.kind = kind
        self.speed = hcd.rh_speed
        self.suspended = False
        self.ports = tuple(DownstreamPort(self, n) for n in range(1, nports + 1))
        #: EHCI port number → the companion port it is wired to.
        self.companion_ports: dict[int, DownstreamPort] = {}
        #: Companion port → (the EHCI root hub, its port number) wired to it.
        self.wired_from: dict[DownstreamPort, tuple[RootHub, int]] = {}
        #: EHCI ports whose device the companion owns now (PORT_OWNER set).
        self.handed_over: set[int] = set()
        self._handoff_pending: set[int] = set()
        for port in self.ports:
            port.power_on()

    def __repr__(self) -> str:
        return f"<RootHub of {self.hcd!r}>"

    @property
    def label(self) -> str:
        return "root hub"

    # -- PortOwner ----------------------------------------------------------------------------

    @property
    def downstream_host(self) -> DeviceHost:
        return self.hcd

    @property
    def hub_model(self) -> None:
        return None

    @property
    def downstream_clock(self) -> ModelClock:
        """The machine's clock: the controller's event loop."""
        return self.hcd.loop

    def status_changed(self, bits: PortChange, *, host_initiated: bool = False) -> None:
        """A connect or enable change, or a remote wakeup, raises EHCI's port change
        interrupt: usb_hcd_poll_rh_status() hands it to the hub driver's status URB.  The
        end of a reset or resume the host started raises none (the host polls the port)."""
        if not host_initiated:
            self.hcd.poll_rh_status()

    @property
    def asleep(self) -> bool:
        return self.suspended


    def models(self) -> list[DeviceModel]:
        """The models plugged into the root ports."""
        return [model for _, model in self.children()]

    # -- companion controllers --------------------------------------------------------------

    def add_companion(self, companion: RootHub) -> None:
        """Wire the next EHCI root ports not yet wired to the ports of `companion` (a
        full-speed root hub), in order, as a chipset wires N_PCC ports to each companion.
        Raises ValueError when this root hub has a TT (an integrated TT leaves nobody to
        hand over to), the companion is not a full-speed root hub, or too few ports are
        left."""
        if self.hcd.has_tt:
            raise ValueError(f"{self.hcd!r} has a transaction translator of its own: its "
                             "ports are never handed to a companion")
        if companion.speed != Speed.FULL or companion is self:
            raise ValueError(f"{companion.hcd!r} is not a full-speed root hub")
        free = [p for p in self.ports if p.port1 not in self.companion_ports]
        if len(free) < len(companion.ports):
            raise ValueError(f"{self.hcd!r} has {len(free)} root port(s) left to route, "
                             f"{companion.hcd!r} has {len(companion.ports)}")
        for port, target in zip(free, companion.ports, strict=False):
            self.companion_ports[port.port1] = target
            companion.wired_from[target] = (self, port.port1)

    def enables(self, device: DeviceModel) -> bool:
        """A reset enables the port for a device that can chirp, or on any port that is
        not wired to a companion."""
        return device.speed >= Speed.HIGH or not self.companion_ports

    def _hand_over(self, port: DownstreamPort, why: str) -> None:
        """Set PORT_OWNER: the device is the companion's now."""
        self.hcd.core.log.dev_dbg(self.hcd.controller, f"port {port.port1} {why} --> companion")
        target = self.companion_ports[port.port1]
        self._handoff_pending.discard(port.port1)
        self.handed_over.add(port.port1)
        port.hand_over(target)

    def given_back(self, port1: int) -> None:
        """The device handed over from EHCI port `port1` was unplugged: the port is
        EHCI's again."""
        self.handed_over.discard(port1)

    # -- plugging: always through the physical port --------------------------------------------

    def attach(self, port1: int, model: DeviceModel) -> DownstreamPort:
        wired = self.wired_from.get(self.hub_port(port1))
        if wired is not None:
            ehci, ehci_port1 = wired
            return ehci.attach(ehci_port1, model)
        if port1 in self.handed_over:
            target = self.companion_ports[port1]
            raise ValueError(f"{self.label} port {port1} already holds {target.device!r} "
                             f"(on its companion): unplug it first")
        return super().attach(port1, model)

    def detach(self, port1: int) -> DeviceModel:
        port = self.hub_port(port1)
        wired = self.wired_from.get(port)
        if wired is not None and port.device is not None:
            ehci, ehci_port1 = wired
            ehci.given_back(ehci_port1)
        if port1 in self.handed_over:
            self.handed_over.discard(port1)
            target = self.companion_ports[port1]
            return target.owner.detach(target.port1)
        self._handoff_pending.discard(port1)
        return super().detach(port1)

    def plugged(self, port1: int) -> DeviceModel | None:
        """The model in the physical port `port1`, whichever controller owns it now."""
        if port1 in self.handed_over:
            return self.companion_ports[port1].device
        return super().plugged(port1)

    # -- hub_status_data and hub_control ------------------------------------------------------

    def _change(self, port: DownstreamPort) -> PortChange:
        """wPortChange as this controller reports it."""
        if self.kind.reports_reset_change:
            return port.change
        return port.change & ~PortChange.C_RESET

    def status_data(self) -> bytes:
        """hub_status_data(): bit N set for each port with a change bit."""
        changed = [port.port1 for port in self.ports if self._change(port)]
        return status_change_bitmap(changed, False, len(self.ports))

    def change_pending(self) -> bool:
        """A port's change bit is set and the bus is awake: the hub driver has yet to take
        it (a controller may give the status URB back later than at once)."""
        return not self.suspended and any(self._change(port) for port in self.ports)

    def hub_descriptor(self) -> HubDescriptor:
        """The controller's root hub descriptor (`RootHubKind`)."""
        return HubDescriptor(len(self.ports), wHubCharacteristics=self.kind.wHubCharacteristics,
                             bPwrOn2PwrGood=self.kind.bPwrOn2PwrGood)

    def control(self, setup: SetupPacket, buf: memoryview) -> int:
        """hub_control(): bytes written to `buf`, or -EPIPE (STALL) for a request, port or
        feature the root hub does not have."""
        key = (setup.bmRequestType, setup.bRequest)
        if key == _GET_HUB_DESCRIPTOR:
            raw = self.hub_descriptor().to_bytes().ljust(_HUB_DESCRIPTOR_SIZE, b"\0")
            return _put(buf, raw, _HUB_DESCRIPTOR_SIZE)
        if key == _GET_HUB_STATUS:
            return _put(buf, bytes(4), 4)
        if key in _HUB_FEATURES:
            return 0
        if not 1 <= setup.wIndex & 0xFF <= len(self.ports):
            return -Errno.EPIPE
        port = self.ports[(setup.wIndex & 0xFF) - 1]
        if key == _GET_PORT_STATUS:
            return _put(buf, self._port_status(port).pack(), 4)
        if key not in (_SET_PORT_FEATURE, _CLEAR_PORT_FEATURE):
            return -Errno.EPIPE
        return self._port_feature(port, key == _SET_PORT_FEATURE, setup.wValue,
                                  setup.wIndex >> 8)

    def _port_status(self, port: DownstreamPort) -> PortStatus:
        """GetPortStatus; the read that ends a reset which enabled nothing on a port
        wired to a companion hands the device over (ehci-hub.c check_reset_complete)."""
        bits = port.status
        if self.kind.connected_high_speed and not self.hcd.has_tt \
                and bits & PortStat.CONNECTION and not bits & PortStat.ENABLE:
            bits = (bits & ~PortStat.LOW_SPEED) | PortStat.HIGH_SPEED
        status = PortStatus(bits, self._change(port))
        if port.port1 in self._handoff_pending and port.device is not None:
            self._hand_over(port, "full speed")
        return status

    def _port_feature(self, port: DownstreamPort, set_feature: bool, feature: int,
                      selector: int) -> int:
        if feature == PortFeature.POWER:
            # no port power control: the ports stay powered
            return -Errno.EPIPE if self.kind.refuses_power_off and not set_feature else 0
        if set_feature and port.port1 in self.handed_over:
            return 0  # PORT_OWNER: the companion drives the port
        if set_feature and feature == PortFeature.RESET and self._routes_now(port):
            return 0
        try:
            port_feature(port, set_feature, feature, selector)
        except Stall:
            return -Errno.EPIPE
        if set_feature and feature == PortFeature.RESET and port.device is not None \
                and port.state is PortState.DISABLED:
            self._handoff_pending.add(port.port1)
        return 0

    def _routes_now(self, port: DownstreamPort) -> bool:
        """SetPortFeature(PORT_RESET) on a port wired to a companion whose line state
        shows a low-speed device: "low speed --> companion", no reset."""
        device = port.device
        if port.port1 not in self.companion_ports or device is None or port.enabled \
                or device.speed != Speed.LOW:
            return False
        self._hand_over(port, "low speed")
        return True

    # -- bus suspend ----------------------------------------------------------------------------

    def suspend(self) -> None:
        """ehci_bus_suspend(): no more SOFs, so the devices on enabled ports suspend."""
        self.suspended = True
        for port in self.ports:
            if port.state is PortState.ENABLED and port.device is not None:
                port.device.suspend()

    def resume(self) -> None:
        """ehci_bus_resume(): SOFs again; the devices on enabled ports resume."""
        self.suspended = False
        for port in self.ports:
            if port.state is PortState.ENABLED and port.device is not None:
                port.device.resume()


def _put(buf: memoryview, data: bytes, length: int) -> int:
    n = min(length, len(buf), len(data))
    buf[:n] = data[:n]
    return n
