"""An external USB 2.0 hub — counterpart of QEMU's hw/usb/dev-hub.c (USB 2.0 chapter 11,
device side).

`Hub` is a device model with downstream ports: it answers the hub class requests
(GetHubDescriptor, Get/Set/ClearHubFeature, GetHubStatus, GetPortStatus,
Set/ClearPortFeature and the TT requests), reports port changes on its status-change
endpoint 0x81, and carries other models plugged into its ports (`attach` / `detach`).  Its
ports are `usbemu.emulated.port.DownstreamPort`s — the state machine of USB 2.0 figure
11-10 that root-hub ports share — and the hub is their `PortOwner`.

What it does not do: keep time (a port reset finishes at once, since the model has no clock,
and Linux's hub driver sees it finished on its first GetPortStatus poll), translate
transactions (the TT requests are accepted and do nothing; the host controller routes full
and low speed traffic to the device directly), report over-current, or act as a SuperSpeed
hub.  Ports switch power individually (the GL850G it imitates gangs them) so that a host's
per-port power control is observable.  Power loss is modelled as an unplug: a device on a
port whose power goes off (ClearPortFeature(PORT_POWER), a hub reset, the hub unplugged or
deconfigured) is disconnected (`DeviceModel.disconnect`, NOTATTACHED: everything volatile is
lost) and reconnected (`DeviceModel.connect`, ATTACHED then POWERED) when power returns —
`DeviceModel` has no power-loss transition of its own to the chapter 9 ATTACHED state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ...spec.ch9 import (
    ClassCode,
    ConfigAttributes,
    DescriptorType,
    DeviceState,
    SetupPacket,
    Speed,
)
from ...spec.descriptors import (
    ConfigDescriptor,
    DescriptorSet,
    DeviceDescriptor,
    DeviceQualifier,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from ...spec.hub import (
    HubChange,
    HubCharacteristics,
    HubDescriptor,
    HubFeature,
    HubProtocol,
    HubRequest,
    HubRequestType,
    HubStat,
    HubStatus,
    OverCurrentProtection,
    PortChange,
    PortStatusType,
    PowerSwitching,
    TtThinkTime,
    hub_bitmap_len,
    status_change_bitmap,
)
from ..device import DeviceHost, DeviceModel, endpoint_in, request
from ..endpoint import Endpoint, Stall
from ..port import DownstreamPort, PortOwner, PortState, port_feature

STATUS_ENDPOINT: Final = 0x81
MAX_PORTS: Final = 15

# -- descriptors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    """Identity and descriptor values of the hub at one speed."""

    idVendor: int
    idProduct: int
    bcdDevice: int
    bcdUSB: int
    bDeviceProtocol: int
    bMaxPacketSize0: int
    product: str
    bInterval: int
    characteristics: HubCharacteristics
    other_speed_interval: int | None  # None: a USB 1.1 device, no other speed


#: The key of the multi-TT profile beside the per-speed ones.
_MULTI_TT: Final = "multi-tt"

_PROFILES: Final[Mapping[Speed | str, _Profile]] = {
    # Genesys Logic GL850G "USB2.0 Hub" (05e3:0608), single TT, bInterval 12 = 256 ms.
    Speed.HIGH: _Profile(0x05E3, 0x0608, 0x7763, 0x0200, HubProtocol.HS_SINGLE_TT, 64,
                         "USB2.0 Hub", 12,
                         HubCharacteristics(PowerSwitching.PER_PORT,
                                            OverCurrentProtection.PER_PORT,
                                            TtThinkTime.BITS_32, port_indicators=True),
                         255),
    # Terminus Technology FE 1.1s "USB 2.0 Hub [MTT]" (1a40:0201): a transaction
    # translator per port, 8 FS bit times of TT think time.
    _MULTI_TT: _Profile(0x1A40, 0x0201, 0x0100, 0x0200, HubProtocol.HS_MULTI_TT, 64,
                        "USB 2.0 Hub [MTT]", 12,
                        HubCharacteristics(PowerSwitching.PER_PORT,
                                           OverCurrentProtection.PER_PORT,
                                           TtThinkTime.BITS_8, port_indicators=True),
                        255),
    # Texas Instruments TUSB2046 (0451:2046), a USB 1.1 full-speed hub, 255 ms polling.
    Speed.FULL: _Profile(0x0451, 0x2046, 0x0100, 0x0110, HubProtocol.FS, 8,
                         "USB1.1 Hub", 255,
                         HubCharacteristics(PowerSwitching.PER_PORT,
                                            OverCurrentProtection.PER_PORT,
                                            port_indicators=True),
                         None),
}

_HUB_CONFIG_ATTRIBUTES: Final = (ConfigAttributes.ONE | ConfigAttributes.SELF_POWERED
                                 | ConfigAttributes.REMOTE_WAKEUP)


def _config(nports: int, interval: int, multi_tt: bool = False) -> ConfigDescriptor:
    """The hub's one configuration; a multi-TT hub has a second altsetting whose protocol
    (2) switches on a TT per port (hub_configure's usb_set_interface(hdev, 0, 1))."""
    status = EndpointDescriptor.interrupt(STATUS_ENDPOINT, hub_bitmap_len(nports), interval)
    alts: tuple[InterfaceDescriptor, ...] = (
        InterfaceDescriptor(ClassCode.HUB, 0, int(multi_tt), endpoints=(status,)),)
    if multi_tt:
        alts += (InterfaceDescriptor(ClassCode.HUB, 0, HubProtocol.HS_MULTI_TT,
                                     endpoints=(status,), bInterfaceNumber=0,
                                     bAlternateSetting=1),)
    return ConfigDescriptor(interfaces=alts, bmAttributes=_HUB_CONFIG_ATTRIBUTES, bMaxPower=50)


def _device_descriptor(profile: _Profile, nports: int) -> DeviceDescriptor:
    other = profile.other_speed_interval
    multi = profile.bDeviceProtocol == HubProtocol.HS_MULTI_TT
    return DeviceDescriptor(
        idVendor=profile.idVendor, idProduct=profile.idProduct, bcdDevice=profile.bcdDevice,
        bcdUSB=profile.bcdUSB, bDeviceClass=ClassCode.HUB,
        bDeviceProtocol=profile.bDeviceProtocol, bMaxPacketSize0=profile.bMaxPacketSize0,
        iProduct=profile.product, configurations=(_config(nports, profile.bInterval, multi),),
        other_speed_configurations=() if other is None else (_config(nports, other),),
        qualifier=None if other is None else DeviceQualifier(
            profile.bcdUSB, ClassCode.HUB, 0, HubProtocol.FS, profile.bMaxPacketSize0, 1))


def _profile(speed: Speed, multi_tt: bool = False) -> _Profile:
    if multi_tt and speed != Speed.HIGH:
        raise ValueError("a multi-TT hub is a high-speed hub")
    profile = _PROFILES.get(_MULTI_TT if multi_tt else speed)
    if profile is None:
        raise ValueError(f"a USB 2.0 hub runs at high or full speed, not {speed.name}")
    return profile


def default_hub_descriptor(ports: int, speed: Speed = Speed.HIGH,
                           multi_tt: bool = False) -> HubDescriptor:
    """The hub descriptor of `Hub(ports, speed=speed, multi_tt=multi_tt)`: the
    characteristics of the hub it imitates, 100 ms from power-on to power-good, 100 mA for
    the hub controller.  Context: pure function.  Raises ValueError for a speed a USB 2.0
    hub cannot run at."""
    return HubDescriptor(ports, int(_profile(speed, multi_tt).characteristics),
                         bPwrOn2PwrGood=50, bHubContrCurrent=100)


# -- request tables -----------------------------------------------------------------------------

_HUB_CHANGE_FEATURES: Final[Mapping[int, HubChange]] = {
    HubFeature.C_HUB_LOCAL_POWER: HubChange.C_LOCAL_POWER,
    HubFeature.C_HUB_OVER_CURRENT: HubChange.C_OVERCURRENT,
}

_HUB_DESCRIPTOR_VALUES: Final = frozenset({DescriptorType.HUB << 8, 0x0000})

RT = HubRequestType
R = HubRequest


class Hub(PortOwner, DeviceModel):
    """An external USB 2.0 hub with `ports` downstream ports (1..15).

    High speed (the default) gives a single-TT Genesys Logic GL850G look-alike, `multi_tt=
    True` a Terminus FE 1.1s with a transaction translator per port; `speed=Speed.FULL` a
    USB 1.1 hub.  Plug models in with `attach`, pull them with `detach`;
    `hub_port(port1)` and `children()` show the ports (`port`, inherited, is the hub's own
    upstream port).  A subclass may answer with descriptors of its own
    (`hub_device_descriptors`, `hub_descriptor_bytes`), as the cloned hub does.  Raises
    ValueError for a port count or speed a hub cannot have.
    """

    model_name = "hub"

    def __init__(self, ports: int = 4, *, speed: Speed = Speed.HIGH,
                 multi_tt: bool = False) -> None:
        if isinstance(ports, bool) or not isinstance(ports, int):
            raise TypeError(f"Hub(ports=...) takes an int, got {ports!r}")
        if not 1 <= ports <= MAX_PORTS:
            raise ValueError(f"a hub has 1..{MAX_PORTS} ports, got {ports}")
        self.multi_tt = multi_tt
        super().__init__(self.hub_device_descriptors(ports, speed), speed=speed)
        self.hub_descriptor = default_hub_descriptor(ports, speed, multi_tt)
        self.hub_status = HubStat(0)
        self.hub_change = HubChange(0)
        self.ports = tuple(DownstreamPort(self, n) for n in range(1, ports + 1))

    # -- where the descriptors come from ------------------------------------------------------

    def hub_device_descriptors(self, ports: int,
                               speed: Speed) -> DeviceDescriptor | DescriptorSet:
        """The standard descriptors the hub answers with (called once, by the constructor,
        before anything else is set up): those of the hub it imitates at `speed`, with a
        status-change endpoint sized for `ports`.  A subclass with descriptors of its own
        (a cloned hub) returns them.  Raises ValueError for a speed a USB 2.0 hub cannot
        run at."""
        return _device_descriptor(_profile(speed, self.multi_tt), ports)

    def hub_descriptor_bytes(self) -> bytes:
        """What GetHubDescriptor answers: `hub_descriptor` as bytes.  A subclass that
        carries the bytes of a real hub (a cloned hub) answers with them.  Context: atomic."""
        return self.hub_descriptor.to_bytes()

    # -- PortOwner ----------------------------------------------------------------------------

    @property
    def downstream(self) -> PortOwner:
        """The hub's own ports."""
        return self

    @property
    def downstream_host(self) -> DeviceHost | None:
        """Devices behind the hub talk to the hub's host."""
        return self.host

    @property
    def hub_model(self) -> DeviceModel:
        return self

    @property
    def port_speed(self) -> Speed:
        """A hub running at full speed (a high-speed hub on a full-speed port included)
        repeats full- and low-speed traffic only."""
        return self.link_speed

    @property
    def asleep(self) -> bool:
        return self.state is DeviceState.SUSPENDED

    def wake_upstream(self) -> bool:
        """A device behind the suspended hub signals resume: the hub passes it on when
        the host lets it wake the host."""
        return self.signal_remote_wakeup()

    # -- hub status ---------------------------------------------------------------------------

    def set_local_power(self, lost: bool) -> None:
        """The hub's local power supply is lost (True) or good again (False): updates
        HUB_STATUS_LOCAL_POWER and sets C_HUB_LOCAL_POWER.  Context: atomic."""
        if bool(self.hub_status & HubStat.LOCAL_POWER) == lost:
            return
        self.hub_status ^= HubStat.LOCAL_POWER
        self.hub_change |= HubChange.C_LOCAL_POWER
        self.status_changed(HubChange.C_LOCAL_POWER)

    def status_changed(self, bits: PortChange | HubChange, *,
                       host_initiated: bool = False) -> None:
        """A change bit was set (whoever caused it): make the host poll the status-change
        endpoint, or signal remote wakeup while suspended.  Context: atomic; nothing
        happens unconfigured."""
        if self.state is DeviceState.SUSPENDED:
            self.signal_remote_wakeup()
            return
        ep = self.endpoint(STATUS_ENDPOINT)
        if ep is not None:
            ep.notify_ready()

    def change_pending(self) -> bool:
        """True while a change bit waits for the host's next status-change poll."""
        return self.endpoint(STATUS_ENDPOINT) is not None and self.state is not \
            DeviceState.SUSPENDED and (bool(self.hub_change)
                                       or any(port.change for port in self.ports))

    @endpoint_in(STATUS_ENDPOINT)
    def _status_change(self, ep: Endpoint, room: int) -> bytes | None:
        """The status-change bitmap, computed at each poll; None (NAK) when nothing
        changed (USB 2.0 §11.12.4)."""
        changed = [port.port1 for port in self.ports if port.change]
        if not changed and not self.hub_change:
            return None
        return status_change_bitmap(changed, bool(self.hub_change), self.nports)

    # -- chapter 9 events that reach the ports ------------------------------------------------

    def on_disconnect(self) -> None:
        """Unplugged: ports lose power, so everything below is disconnected."""
        self._power_off_ports()

    def on_reset(self) -> None:
        """Bus reset: a hub in the default state has all ports powered off (§11.11)."""
        self._power_off_ports()

    def on_configuration(self, config: ConfigDescriptor | None) -> None:
        """SET_CONFIGURATION(0): an unconfigured hub powers its ports off (§11.11)."""
        if config is None:
            self._power_off_ports()

    def suspend(self) -> None:
        """Suspend the hub; devices behind its enabled ports see no SOFs and suspend too.
        Context: atomic."""
        if self.state is DeviceState.SUSPENDED:
            return
        super().suspend()
        for device in self._devices_on(PortState.ENABLED):
            device.suspend()

    def resume(self) -> None:
        """Resume the hub and the devices on its enabled (not selectively suspended) ports.
        Context: atomic."""
        if self.state is not DeviceState.SUSPENDED:
            return
        super().resume()
        for device in self._devices_on(PortState.ENABLED):
            device.resume()

    def _devices_on(self, state: PortState) -> list[DeviceModel]:
        return [p.device for p in self.ports if p.state is state and p.device is not None]

    def _power_off_ports(self) -> None:
        for port in self.ports:
            port.power_off()
        self.hub_status = HubStat(0)
        self.hub_change = HubChange(0)

    # -- hub class requests (USB 2.0 §11.24.2) ------------------------------------------------

    def _addressed_port(self, wIndex: int) -> DownstreamPort:
        port1 = wIndex & 0xFF
        if not 1 <= port1 <= self.nports:
            raise Stall
        return self.ports[port1 - 1]

    @request(RT.HUB_IN, R.GET_DESCRIPTOR)
    def _get_hub_descriptor(self, setup: SetupPacket, data: bytes) -> bytes:
        """GetHubDescriptor: wValue 0x2900, or 0x0000 as USB 1.0 hosts ask."""
        if setup.wValue not in _HUB_DESCRIPTOR_VALUES:
            raise Stall
        return self.hub_descriptor_bytes()

    @request(RT.HUB_IN, R.GET_STATUS)
    def _get_hub_status(self, setup: SetupPacket, data: bytes) -> bytes:
        return HubStatus(self.hub_status, self.hub_change).pack()

    @request(RT.HUB_OUT, R.SET_FEATURE)
    @request(RT.HUB_OUT, R.CLEAR_FEATURE)
    def _hub_feature(self, setup: SetupPacket, data: bytes) -> None:
        """Both hub features are change bits: clearing acknowledges, setting does nothing."""
        bit = _HUB_CHANGE_FEATURES.get(setup.wValue)
        if bit is None:
            raise Stall
        if setup.bRequest == R.CLEAR_FEATURE:
            self.hub_change &= ~bit

    @request(RT.PORT_IN, R.GET_STATUS)
    def _get_port_status(self, setup: SetupPacket, data: bytes) -> bytes:
        if setup.wValue != PortStatusType.STATUS:
            raise Stall
        return self._addressed_port(setup.wIndex).port_status().pack()

    @request(RT.PORT_OUT, R.SET_FEATURE)
    @request(RT.PORT_OUT, R.CLEAR_FEATURE)
    def _port_feature(self, setup: SetupPacket, data: bytes) -> None:
        """Set/ClearPortFeature, dispatched on the feature selector; a hub that is not
        configured has its ports powered off and refuses them."""
        self._require(DeviceState.CONFIGURED)
        port_feature(self._addressed_port(setup.wIndex), setup.bRequest == R.SET_FEATURE,
                     setup.wValue, setup.wIndex >> 8)

    @request(RT.PORT_OUT, R.CLEAR_TT_BUFFER)
    @request(RT.PORT_OUT, R.RESET_TT)
    @request(RT.PORT_OUT, R.STOP_TT)
    def _tt_request(self, setup: SetupPacket, data: bytes) -> None:
        """The TT has no buffers to clear or stop: accepted for TT port 1 (single TT)."""
        self._check_tt(setup)

    @request(RT.PORT_IN, R.GET_TT_STATE)
    def _get_tt_state(self, setup: SetupPacket, data: bytes) -> bytes:
        """GetTTState: the vendor-specific state of an idle TT, all zeros."""
        self._check_tt(setup)
        return bytes(setup.wLength)

    def _check_tt(self, setup: SetupPacket) -> None:
        self._require(DeviceState.CONFIGURED)
        if self.link_speed != Speed.HIGH or setup.wIndex & 0xFF != 1:
            raise Stall

