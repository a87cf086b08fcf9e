"""The root hub of a controller whose wire reaches device models — counterpart of
drivers/usb/host/ehci-hub.c (ehci_hub_status_data, ehci_hub_descriptor, ehci_hub_control,
ehci_bus_suspend / ehci_bus_resume).

`RootHub` holds the controller's root ports, each a `usbemu.emulated.port.DownstreamPort`
(the port state machine a hub model's ports use too), and is their `PortOwner`: device
models are plugged into the root hub with `attach` and pulled out with `detach`, and a
change on a port makes the controller's framework poll the root hub (`poll_rh_status`).  It
answers the hub-class requests the HCD framework hands the controller (`hub_control`) as an
EHCI root hub does: its hub descriptor (no power switching, per-port over-current), the
hub status (always zero), and GetPortStatus and Set/ClearPortFeature through the shared
port feature table.  Bus suspend suspends the devices on enabled ports, as the end of SOFs
does; bus resume wakes them.

What it does not do: port power switching (the ports are always powered, as on an EHCI
controller without HCS_PPC: PORT_POWER requests are accepted and change nothing), port
routing to companion controllers, or over-current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..emulated.endpoint import Stall
from ..emulated.port import DownstreamPort, PortOwner, PortState, port_feature
from ..errors import Errno
from ..spec.ch9 import SetupPacket
from ..spec.hub import HubDescriptor, HubRequest, PortChange, PortFeature, status_change_bitmap

if TYPE_CHECKING:
    from ..emulated.device import DeviceHost, DeviceModel, ModelClock
    from .inproc import InProcessController

__all__ = ["RootHub"]

#: wHubCharacteristics of ehci_hub_descriptor: no power switching (0x0002), per-port
#: over-current protection (0x0008).
_EHCI_HUB_CHARACTERISTICS: Final = 0x0008 | 0x0002
_HUB_DESCRIPTOR_SIZE: Final = 15  # sizeof(struct usb_hub_descriptor)

_GET_HUB_DESCRIPTOR: Final = (0xA0, HubRequest.GET_DESCRIPTOR)
_GET_HUB_STATUS: Final = (0xA0, HubRequest.GET_STATUS)
_HUB_FEATURES: Final = frozenset({(0x20, HubRequest.SET_FEATURE),
                                  (0x20, HubRequest.CLEAR_FEATURE)})
_GET_PORT_STATUS: Final = (0xA3, HubRequest.GET_STATUS)
_SET_PORT_FEATURE: Final = (0x23, HubRequest.SET_FEATURE)
_CLEAR_PORT_FEATURE: Final = (0x23, HubRequest.CLEAR_FEATURE)


class RootHub(PortOwner):
    """The root ports of `hcd`, always powered.  Context: every method is atomic."""

    def __init__(self, hcd: InProcessController, nports: int) -> None:
        self.hcd = hcd
        self.speed = hcd.rh_speed
        self.suspended = False
        self.ports = tuple(DownstreamPort(self, n) for n in range(1, nports + 1))
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

    def change_pending(self) -> bool:
        """A port's change bit is set and the bus is awake: the hub driver has yet to take
        it (a controller may give the status URB back later than at once)."""
        return not self.suspended and any(port.change for port in self.ports)

    def models(self) -> list[DeviceModel]:
        """The models plugged into the root ports."""
        return [model for _, model in self.children()]

    # -- hub_status_data and hub_control ------------------------------------------------------

    def status_data(self) -> bytes:
        """ehci_hub_status_data(): bit N set for each port with a change bit."""
        changed = [port.port1 for port in self.ports if port.change]
        return status_change_bitmap(changed, False, len(self.ports))

    def hub_descriptor(self) -> HubDescriptor:
        """ehci_hub_descriptor(): no power switching, per-port over-current."""
        return HubDescriptor(len(self.ports), wHubCharacteristics=_EHCI_HUB_CHARACTERISTICS,
                             bPwrOn2PwrGood=10)

    def control(self, setup: SetupPacket, buf: memoryview) -> int:
        """ehci_hub_control(): bytes written to `buf`, or -EPIPE (STALL) for a request,
        port or feature the root hub does not have."""
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
            return _put(buf, port.port_status().pack(), 4)
        if key not in (_SET_PORT_FEATURE, _CLEAR_PORT_FEATURE):
            return -Errno.EPIPE
        if setup.wValue == PortFeature.POWER:
            return 0  # no port power control: the ports stay powered
        try:
            port_feature(port, key == _SET_PORT_FEATURE, setup.wValue, setup.wIndex >> 8)
        except Stall:
            return -Errno.EPIPE
        return 0

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
