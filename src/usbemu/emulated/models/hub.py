"""An external USB 2.0 hub — counterpart of QEMU's hw/usb/dev-hub.c (USB 2.0 chapter 11,
device side).

`Hub` is a device model with downstream ports: it answers the hub class requests
(GetHubDescriptor, Get/Set/ClearHubFeature, GetHubStatus, GetPortStatus,
Set/ClearPortFeature and the TT requests), reports port changes on its status-change
endpoint 0x81, and carries other models plugged into its ports (`attach` / `detach`).  Each
`HubPort` is the `UpstreamPort` of the model plugged into it and moves through the port
state machine of USB 2.0 figure 11-10 (powered-off, disconnected, disabled, resetting,
enabled, suspended, testing) by one transition function.

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

import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

from ...errors import IllegalPortTransition
from ...spec.ch9 import (
    ClassCode,
    ConfigAttributes,
    DescriptorType,
    DeviceState,
    SetupPacket,
    Speed,
    TestSelector,
)
from ...spec.descriptors import (
    ConfigDescriptor,
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
    HubLed,
    HubProtocol,
    HubRequest,
    HubRequestType,
    HubStat,
    HubStatus,
    OverCurrentProtection,
    PortChange,
    PortFeature,
    PortStat,
    PortStatus,
    PortStatusType,
    PowerSwitching,
    TtThinkTime,
    hub_bitmap_len,
    speed_status_bits,
    status_change_bitmap,
)
from ..device import DeviceModel, endpoint_in, request
from ..endpoint import Endpoint, Stall

STATUS_ENDPOINT: Final = 0x81
MAX_PORTS: Final = 15

# -- the downstream port state machine (USB 2.0 §11.5, figure 11-10) ----------------------------


class PortState(Enum):
    """Host-visible states of a downstream facing port."""

    POWERED_OFF = "powered-off"
    DISCONNECTED = "disconnected"
    DISABLED = "disabled"
    RESETTING = "resetting"
    ENABLED = "enabled"
    SUSPENDED = "suspended"
    TESTING = "testing"


P = PortState
_PORT_TRANSITIONS: Final[Mapping[PortState, frozenset[PortState]]] = {
    P.POWERED_OFF: frozenset({P.DISCONNECTED}),
    P.DISCONNECTED: frozenset({P.POWERED_OFF, P.DISABLED, P.TESTING}),
    P.DISABLED: frozenset({P.POWERED_OFF, P.DISCONNECTED, P.RESETTING, P.TESTING}),
    P.RESETTING: frozenset({P.POWERED_OFF, P.DISCONNECTED, P.ENABLED}),
    P.ENABLED: frozenset({P.POWERED_OFF, P.DISCONNECTED, P.DISABLED, P.RESETTING,
                          P.SUSPENDED}),
    P.SUSPENDED: frozenset({P.POWERED_OFF, P.DISCONNECTED, P.DISABLED, P.RESETTING,
                            P.ENABLED, P.TESTING}),
    P.TESTING: frozenset({P.POWERED_OFF}),  # only power (or a hub reset) ends test mode
}

#: wPortStatus bits each state implies; CONNECTION, speed and INDICATOR are added per port.
_STATE_BITS: Final[Mapping[PortState, PortStat]] = {
    P.POWERED_OFF: PortStat(0),
    P.DISCONNECTED: PortStat.POWER,
    P.DISABLED: PortStat.POWER,
    P.RESETTING: PortStat.POWER | PortStat.RESET,
    P.ENABLED: PortStat.POWER | PortStat.ENABLE,
    P.SUSPENDED: PortStat.POWER | PortStat.ENABLE | PortStat.SUSPEND,
    P.TESTING: PortStat.POWER | PortStat.TEST,
}

#: States in which the hub has detected the device (leaving them sets C_PORT_CONNECTION).
_LINKED: Final = frozenset({P.DISABLED, P.RESETTING, P.ENABLED, P.SUSPENDED})
_RESETTABLE: Final = frozenset({P.DISABLED, P.ENABLED, P.SUSPENDED})
_ENABLED: Final = frozenset({P.ENABLED, P.SUSPENDED})


#: Models plugged into some hub port, powered or not (a model can be in one place only).
#: Both sides are weak: the port refers to its model, which must not keep a hub tree alive.
_plugged: weakref.WeakKeyDictionary[DeviceModel, weakref.ref[HubPort]] = (
    weakref.WeakKeyDictionary())


class HubPort:
    """One downstream port of a `Hub`, and the `UpstreamPort` of the model plugged into it.

    `status` and `change` are the port's wPortStatus and wPortChange; `device` is the
    model physically plugged in (powered or not); `port1` is the 1-based port number.  The
    operations mirror the port feature requests and do what the hub does for them, ignoring
    a request the port's state does not allow as figure 11-10 does.  Context: every method
    is atomic and never blocks.
    """

    __slots__ = ("__weakref__", "_hub", "change", "device", "indicator", "port1", "state",
                 "test_selector")

    def __init__(self, hub: Hub, port1: int) -> None:
        self._hub = hub
        self.port1 = port1
        self.state = PortState.POWERED_OFF
        self.change = PortChange(0)
        self.device: DeviceModel | None = None
        self.indicator = HubLed.AUTO
        self.test_selector: TestSelector | None = None

    def __repr__(self) -> str:
        return (f"<HubPort {self.port1} {self.state.value} status={self.status:#06x} "
                f"change={self.change:#06x}>")

    # -- UpstreamPort -------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """PORT_ENABLE: traffic passes (enabled, or suspended with the device asleep)."""
        return self.state in _ENABLED

    @property
    def hub(self) -> Hub:
        return self._hub

    # -- state --------------------------------------------------------------------------------

    def set_state(self, new: PortState) -> None:
        """The one transition function of the port state machine.

        Raises IllegalPortTransition for a change figure 11-10 does not allow.
        """
        if new not in _PORT_TRANSITIONS[self.state]:
            raise IllegalPortTransition(
                f"hub port {self.port1}: {self.state.value} -> {new.value}")
        self.state = new

    def can_become(self, new: PortState) -> bool:
        """True when `set_state(new)` would be legal now."""
        return new in _PORT_TRANSITIONS[self.state]

    @property
    def powered(self) -> bool:
        return self.state is not PortState.POWERED_OFF

    @property
    def connected(self) -> bool:
        """PORT_CONNECTION: a device is plugged in and the port gives it power."""
        return self.device is not None and self.powered

    @property
    def speed(self) -> Speed | None:
        """Speed the attached device runs at here: its own, capped to the hub's."""
        device = self.device
        return None if device is None else min(device.speed, self._hub.speed)

    @property
    def status(self) -> PortStat:
        """wPortStatus.  LOW_SPEED shows on connect, HIGH_SPEED once the reset's chirp
        handshake enabled the port, as a real hub reports them."""
        bits = _STATE_BITS[self.state]
        speed = self.speed
        if speed is not None and self.powered:
            speed_bits = speed_status_bits(speed)
            if not bits & PortStat.ENABLE:
                speed_bits &= ~PortStat.HIGH_SPEED
            bits |= PortStat.CONNECTION | speed_bits
        if self.indicator is not HubLed.AUTO:
            bits |= PortStat.INDICATOR
        return bits

    def port_status(self) -> PortStatus:
        """The GetPortStatus reply for this port."""
        return PortStatus(self.status, self.change)

    # -- operations (the port feature requests) -----------------------------------------------

    def power_on(self) -> None:
        """SetPortFeature(PORT_POWER): the port leaves powered-off and detects an attached
        device (which gets power: POWERED), setting C_PORT_CONNECTION."""
        if self.state is PortState.POWERED_OFF:
            self.set_state(PortState.DISCONNECTED)
            self._detect()

    def power_off(self) -> None:
        """ClearPortFeature(PORT_POWER): the attached device loses power (it is
        disconnected), the port's change bits and test mode are cleared."""
        if self.state is PortState.POWERED_OFF:
            return
        if self.device is not None:
            self.device.disconnect()
        self.set_state(PortState.POWERED_OFF)
        self.change = PortChange(0)
        self.test_selector = None

    def reset(self) -> None:
        """SetPortFeature(PORT_RESET): reset the attached device (DEFAULT, address 0) and
        enable the port at once, setting C_PORT_RESET.  Without a connected device, or in
        a state that cannot reset, nothing happens and the port stays disabled."""
        device = self.device
        if device is None or self.state not in _RESETTABLE:
            return
        self.set_state(PortState.RESETTING)
        device.bus_reset()
        self.set_state(PortState.ENABLED)
        self._raise_change(PortChange.C_RESET)

    def disable(self) -> None:
        """ClearPortFeature(PORT_ENABLE): no traffic passes until the next reset; the
        device keeps its state.  C_PORT_ENABLE is not set: only errors set it."""
        if self.state in _ENABLED:
            self.set_state(PortState.DISABLED)

    def suspend(self) -> None:
        """SetPortFeature(PORT_SUSPEND): selective suspend of an enabled port's device."""
        if self.state is PortState.ENABLED:
            self.set_state(PortState.SUSPENDED)
            if self.device is not None:
                self.device.suspend()

    def resume(self) -> None:
        """ClearPortFeature(PORT_SUSPEND): resume the device, then C_PORT_SUSPEND tells
        the host that the resume completed."""
        if self.state is PortState.SUSPENDED:
            self.set_state(PortState.ENABLED)
            if self.device is not None:
                self.device.resume()
            self._raise_change(PortChange.C_SUSPEND)

    def set_indicator(self, led: HubLed) -> None:
        """Set/ClearPortFeature(PORT_INDICATOR): AUTO gives the indicator back to the hub."""
        self.indicator = led

    def set_test(self, selector: TestSelector) -> None:
        """SetPortFeature(PORT_TEST): enter test mode (from disconnected, disabled or
        suspended only; raises IllegalPortTransition otherwise)."""
        self.set_state(PortState.TESTING)
        self.test_selector = selector

    def clear_change(self, bits: PortChange) -> None:
        """ClearPortFeature(C_PORT_*): acknowledge change bits."""
        self.change &= ~bits

    def remote_wakeup(self) -> bool:
        """The attached device signals resume (remote wakeup) on this port.

        A selectively suspended port resumes (C_PORT_SUSPEND); a port that sleeps because
        the whole hub is suspended passes the signal upstream when the hub may wake the
        host.  Returns True when the signal was acted on.
        """
        if self.state is PortState.SUSPENDED:
            self.resume()
            return True
        if self.state is PortState.ENABLED and self._hub.state is DeviceState.SUSPENDED:
            return self._hub.signal_remote_wakeup()
        return False

    # -- plugging (driven by Hub.attach / Hub.detach) -----------------------------------------

    def _plug(self, device: DeviceModel) -> None:
        self.device = device
        self._detect()

    def _unplug(self) -> DeviceModel:
        device = self.device
        assert device is not None
        self.device = None
        if self.powered:
            device.disconnect()
            if self.state in _LINKED:
                self.set_state(PortState.DISCONNECTED)
                self._raise_change(PortChange.C_CONNECTION)
        return device

    def _detect(self) -> None:
        """Give a plugged device power; a disconnected port then sees it connect."""
        device = self.device
        if device is None or not self.powered:
            return
        device.connect(self, self._hub.host)
        if self.state is PortState.DISCONNECTED:
            self.set_state(PortState.DISABLED)
            self._raise_change(PortChange.C_CONNECTION)

    def _raise_change(self, bits: PortChange) -> None:
        self.change |= bits
        self._hub.status_changed()


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


_PROFILES: Final[Mapping[Speed, _Profile]] = {
    # Genesys Logic GL850G "USB2.0 Hub" (05e3:0608), single TT, bInterval 12 = 256 ms.
    Speed.HIGH: _Profile(0x05E3, 0x0608, 0x7763, 0x0200, HubProtocol.HS_SINGLE_TT, 64,
                         "USB2.0 Hub", 12,
                         HubCharacteristics(PowerSwitching.PER_PORT,
                                            OverCurrentProtection.PER_PORT,
                                            TtThinkTime.BITS_32, port_indicators=True),
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


def _config(nports: int, interval: int) -> ConfigDescriptor:
    status = EndpointDescriptor.interrupt(STATUS_ENDPOINT, hub_bitmap_len(nports), interval)
    return ConfigDescriptor(
        interfaces=(InterfaceDescriptor(ClassCode.HUB, 0, 0, endpoints=(status,)),),
        bmAttributes=_HUB_CONFIG_ATTRIBUTES, bMaxPower=50)


def _device_descriptor(profile: _Profile, nports: int) -> DeviceDescriptor:
    other = profile.other_speed_interval
    return DeviceDescriptor(
        idVendor=profile.idVendor, idProduct=profile.idProduct, bcdDevice=profile.bcdDevice,
        bcdUSB=profile.bcdUSB, bDeviceClass=ClassCode.HUB,
        bDeviceProtocol=profile.bDeviceProtocol, bMaxPacketSize0=profile.bMaxPacketSize0,
        iProduct=profile.product, configurations=(_config(nports, profile.bInterval),),
        other_speed_configurations=() if other is None else (_config(nports, other),),
        qualifier=None if other is None else DeviceQualifier(
            profile.bcdUSB, ClassCode.HUB, 0, HubProtocol.FS, profile.bMaxPacketSize0, 1))


# -- request tables -----------------------------------------------------------------------------

_HUB_CHANGE_FEATURES: Final[Mapping[int, HubChange]] = {
    HubFeature.C_HUB_LOCAL_POWER: HubChange.C_LOCAL_POWER,
    HubFeature.C_HUB_OVER_CURRENT: HubChange.C_OVERCURRENT,
}

_PORT_CHANGE_FEATURES: Final[Mapping[int, PortChange]] = {
    PortFeature.C_CONNECTION: PortChange.C_CONNECTION,
    PortFeature.C_ENABLE: PortChange.C_ENABLE,
    PortFeature.C_SUSPEND: PortChange.C_SUSPEND,
    PortFeature.C_OVER_CURRENT: PortChange.C_OVERCURRENT,
    PortFeature.C_RESET: PortChange.C_RESET,
}

#: States from which PORT_TEST is accepted: those the transition table lets enter testing
#: (no enabled, awake port — the host suspends or disables ports before test mode).
_TEST_FROM: Final = frozenset(s for s, targets in _PORT_TRANSITIONS.items()
                              if P.TESTING in targets)


def _led(selector: int) -> HubLed:
    try:
        return HubLed(selector)
    except ValueError:
        raise Stall from None


def _test(port: HubPort, selector: int) -> None:
    try:
        mode = TestSelector(selector)
    except ValueError:
        raise Stall from None
    if port.state not in _TEST_FROM:
        raise Stall
    port.set_test(mode)


PortAction = Callable[[HubPort, int], None]
"""(port, selector from the high byte of wIndex) → None; raises Stall to refuse."""


def _acknowledge(bit: PortChange) -> PortAction:
    return lambda port, _: port.clear_change(bit)


_SET_PORT_FEATURE: Final[Mapping[int, PortAction]] = {
    PortFeature.POWER: lambda port, _: port.power_on(),
    PortFeature.RESET: lambda port, _: port.reset(),
    PortFeature.SUSPEND: lambda port, _: port.suspend(),
    PortFeature.INDICATOR: lambda port, selector: port.set_indicator(_led(selector)),
    PortFeature.TEST: _test,
}

_CLEAR_PORT_FEATURE: Final[Mapping[int, PortAction]] = {
    PortFeature.ENABLE: lambda port, _: port.disable(),
    PortFeature.SUSPEND: lambda port, _: port.resume(),
    PortFeature.POWER: lambda port, _: port.power_off(),
    PortFeature.INDICATOR: lambda port, _: port.set_indicator(HubLed.AUTO),
    **{feature: _acknowledge(bit) for feature, bit in _PORT_CHANGE_FEATURES.items()},
}

_HUB_DESCRIPTOR_VALUES: Final = frozenset({DescriptorType.HUB << 8, 0x0000})

RT = HubRequestType
R = HubRequest


class Hub(DeviceModel):
    """An external USB 2.0 hub with `ports` downstream ports (1..15).

    High speed (the default) gives a single-TT Genesys Logic GL850G look-alike; `speed=
    Speed.FULL` a USB 1.1 hub.  Plug models in with `attach`, pull them with `detach`;
    `hub_port(port1)` and `children()` show the ports (`port`, inherited, is the hub's own
    upstream port).  Raises ValueError for a port count or speed a hub cannot have.
    """

    model_name = "hub"

    def __init__(self, ports: int = 4, *, speed: Speed = Speed.HIGH) -> None:
        if isinstance(ports, bool) or not isinstance(ports, int):
            raise TypeError(f"Hub(ports=...) takes an int, got {ports!r}")
        if not 1 <= ports <= MAX_PORTS:
            raise ValueError(f"a hub has 1..{MAX_PORTS} ports, got {ports}")
        profile = _PROFILES.get(speed)
        if profile is None:
            raise ValueError(f"a USB 2.0 hub runs at high or full speed, not {speed.name}")
        super().__init__(_device_descriptor(profile, ports), speed=speed)
        self.nports = ports
        self.hub_descriptor = HubDescriptor(
            ports, int(profile.characteristics), bPwrOn2PwrGood=50, bHubContrCurrent=100)
        self.hub_status = HubStat(0)
        self.hub_change = HubChange(0)
        self._ports = tuple(HubPort(self, n) for n in range(1, ports + 1))

    # -- topology -----------------------------------------------------------------------------

    def hub_port(self, port1: int) -> HubPort:
        """Port `port1` (1-based).  Raises ValueError for a number the hub does not have."""
        if not 1 <= port1 <= self.nports:
            raise ValueError(f"{self!r} has ports 1..{self.nports}, not {port1}")
        return self._ports[port1 - 1]

    def children(self) -> Iterator[tuple[int, DeviceModel]]:
        """(port1, model) for every model plugged in, powered or not, in port order."""
        for port in self._ports:
            if port.device is not None:
                yield port.port1, port.device

    def attach(self, port1: int, model: DeviceModel) -> HubPort:
        """Plug `model` into port `port1` at run time.  Context: atomic, never blocks.

        On a powered port the model gets power (POWERED), the port sees the connection and
        sets C_PORT_CONNECTION, and the host is told to poll the status-change endpoint;
        on an unpowered port nothing shows until the port is powered.  Returns the port.
        Raises ValueError for a bad or occupied port, or a model plugged in elsewhere.
        """
        port = self.hub_port(port1)
        if port.device is not None:
            raise ValueError(f"port {port1} of {self!r} already holds {port.device!r}: "
                             "detach it first")
        self._check_pluggable(model)
        _plugged[model] = weakref.ref(port)
        port._plug(model)
        return port

    def detach(self, port1: int) -> DeviceModel:
        """Unplug the model on port `port1` at run time.  Context: atomic, never blocks.

        The model is disconnected (NOTATTACHED, with everything below it when it is a
        hub); a port that had detected it becomes disconnected with C_PORT_CONNECTION set
        (USB 2.0 §11.24.2.7.2.1 — no C_PORT_ENABLE: a disconnect is not a port error).
        Returns the model.  Raises ValueError for a bad or empty port.
        """
        port = self.hub_port(port1)
        if port.device is None:
            raise ValueError(f"port {port1} of {self!r} is empty")
        _plugged.pop(port.device, None)
        return port._unplug()

    def _check_pluggable(self, model: DeviceModel) -> None:
        ref = _plugged.get(model)
        where = None if ref is None else ref()
        if where is not None:
            raise ValueError(f"{model!r} is already plugged into port {where.port1} of "
                             f"{where.hub!r}: detach it first")
        if model.state is not DeviceState.NOTATTACHED or model.port is not None:
            raise ValueError(f"{model!r} is already connected: disconnect it first")
        if model is self or (isinstance(model, Hub) and self in model.descendants()):
            raise ValueError(f"plugging {model!r} into {self!r} would make a loop")

    def descendants(self) -> Iterator[DeviceModel]:
        """Every model plugged in below this hub, depth first."""
        for _, child in self.children():
            yield child
            if isinstance(child, Hub):
                yield from child.descendants()

    # -- hub status ---------------------------------------------------------------------------

    def set_local_power(self, lost: bool) -> None:
        """The hub's local power supply is lost (True) or good again (False): updates
        HUB_STATUS_LOCAL_POWER and sets C_HUB_LOCAL_POWER.  Context: atomic."""
        if bool(self.hub_status & HubStat.LOCAL_POWER) == lost:
            return
        self.hub_status ^= HubStat.LOCAL_POWER
        self.hub_change |= HubChange.C_LOCAL_POWER
        self.status_changed()

    def status_changed(self) -> None:
        """A change bit was set: make the host poll the status-change endpoint, or signal
        remote wakeup while suspended.  Context: atomic; nothing happens unconfigured."""
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
                                       or any(port.change for port in self._ports))

    @endpoint_in(STATUS_ENDPOINT)
    def _status_change(self, ep: Endpoint, room: int) -> bytes | None:
        """The status-change bitmap, computed at each poll; None (NAK) when nothing
        changed (USB 2.0 §11.12.4)."""
        changed = [port.port1 for port in self._ports if port.change]
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
        return [p.device for p in self._ports if p.state is state and p.device is not None]

    def _power_off_ports(self) -> None:
        for port in self._ports:
            port.power_off()
        self.hub_status = HubStat(0)
        self.hub_change = HubChange(0)

    # -- hub class requests (USB 2.0 §11.24.2) ------------------------------------------------

    def _addressed_port(self, wIndex: int) -> HubPort:
        port1 = wIndex & 0xFF
        if not 1 <= port1 <= self.nports:
            raise Stall
        return self._ports[port1 - 1]

    @request(RT.HUB_IN, R.GET_DESCRIPTOR)
    def _get_hub_descriptor(self, setup: SetupPacket, data: bytes) -> bytes:
        """GetHubDescriptor: wValue 0x2900, or 0x0000 as USB 1.0 hosts ask."""
        if setup.wValue not in _HUB_DESCRIPTOR_VALUES:
            raise Stall
        return self.hub_descriptor.to_bytes()

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
        port = self._addressed_port(setup.wIndex)
        table = (_SET_PORT_FEATURE if setup.bRequest == R.SET_FEATURE
                 else _CLEAR_PORT_FEATURE)
        action = table.get(setup.wValue)
        if action is None:
            raise Stall
        action(port, setup.wIndex >> 8)

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
        if self.speed != Speed.HIGH or setup.wIndex & 0xFF != 1:
            raise Stall

