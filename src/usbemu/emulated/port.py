"""Downstream ports of hubs, as the hardware behind them behaves — USB 2.0 §11.5 and §11.24.2
(the port state machine of figure 11-10 and the port feature requests), the device side
of Linux's drivers/usb/core/hub.c.

One state machine serves every port a device model can be plugged into: the ports of a hub
model (`usbemu.emulated.models.hub`) and the root-hub ports of a controller whose wire
reaches device models (`usbemu.host.roothub`).  A `DownstreamPort` moves through powered-off,
disconnected, disabled, resetting, enabled, suspended and testing by one transition function
that refuses a move figure 11-10 does not allow; its wPortStatus is computed from that state
and the model plugged in, its wPortChange is kept, and the feature requests
(`port_feature`) act on it as a hub does, ignoring a request the state does not allow.

A `PortOwner` is whatever has such ports — a hub model or a root hub — and is also the one
interface through which device models are plugged in (with the host and the machine's clock
they are given: `downstream_host`, `downstream_clock`) and pulled out (`attach`, `detach`),
looked up (`hub_port`, `children`) and walked (`DeviceModel.downstream` is a model's own
ports, None for a device that is not a hub; a controller's `downstream` is its root hub's).
A model can be plugged into one port at a time, and a hub cannot be plugged in below itself.

What it does not do: keep time (a reset finishes at once; the host sees it finished on its
first GetPortStatus), over-current, or SuperSpeed link states.  Power loss is modelled as an
unplug: a device on a port whose power goes off is disconnected (`DeviceModel.disconnect`)
and connected again (`DeviceModel.connect`) when power returns.
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Final

from ..errors import IllegalPortTransition
from ..spec.ch9 import DeviceState, Speed, TestSelector
from ..spec.hub import (
    HubLed,
    PortChange,
    PortFeature,
    PortStat,
    PortStatus,
    speed_status_bits,
)
from .endpoint import Stall

if TYPE_CHECKING:
    from .device import DeviceHost, DeviceModel, ModelClock

__all__ = ["DownstreamPort", "PortOwner", "PortState", "port_feature"]


class PortState(Enum):
    """Host-visible states of a downstream facing port (USB 2.0 figure 11-10)."""

    POWERED_OFF = "powered-off"
    DISCONNECTED = "disconnected"
    DISABLED = "disabled"
    RESETTING = "resetting"
    ENABLED = "enabled"
    SUSPENDED = "suspended"
    TESTING = "testing"


P = PortState
PORT_TRANSITIONS: Final[Mapping[PortState, frozenset[PortState]]] = {
    P.POWERED_OFF: frozenset({P.DISCONNECTED}),
    P.DISCONNECTED: frozenset({P.POWERED_OFF, P.DISABLED, P.TESTING}),
    P.DISABLED: frozenset({P.POWERED_OFF, P.DISCONNECTED, P.RESETTING, P.TESTING}),
    # A reset that finds no high-speed device on an EHCI port wired to a companion
    # controller leaves the port disabled (the device is then handed over).
    P.RESETTING: frozenset({P.POWERED_OFF, P.DISCONNECTED, P.ENABLED, P.DISABLED}),
    P.ENABLED: frozenset({P.POWERED_OFF, P.DISCONNECTED, P.DISABLED, P.RESETTING,
                          P.SUSPENDED}),
    P.SUSPENDED: frozenset({P.POWERED_OFF, P.DISCONNECTED, P.DISABLED, P.RESETTING,
                            P.ENABLED, P.TESTING}),
    P.TESTING: frozenset({P.POWERED_OFF}),  # only power (or a hub reset) ends test mode
}
"""Every legal move of the port state machine."""

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
#: States from which PORT_TEST is accepted: those the transition table lets enter testing
#: (no enabled, awake port — the host suspends or disables ports before test mode).
_TEST_FROM: Final = frozenset(s for s, targets in PORT_TRANSITIONS.items()
                              if P.TESTING in targets)

#: Models plugged into some port, powered or not (a model can be in one place only).  Both
#: sides are weak: a port refers to its model, which must not keep a hub tree alive.
_plugged: weakref.WeakKeyDictionary[DeviceModel, weakref.ref[DownstreamPort]] = (
    weakref.WeakKeyDictionary())


class DownstreamPort:
    """One downstream port, and the `UpstreamPort` of the model plugged into it.

    `status` and `change` are the port's wPortStatus and wPortChange; `device` is the
    model physically plugged in (powered or not); `port1` is the 1-based port number.  The
    operations mirror the port feature requests and do what the hub does for them, ignoring
    a request the port's state does not allow as figure 11-10 does.  Context: every method
    is atomic and never blocks.
    """

    __slots__ = ("__weakref__", "change", "device", "enabled", "hub", "indicator", "owner",
                 "port1", "state", "test_selector")

    def __init__(self, owner: PortOwner, port1: int) -> None:
        self.owner = owner
        #: The hub model owning the port; None for a root-hub port (`UpstreamPort.hub`).
        self.hub: DeviceModel | None = owner.hub_model
        self.port1 = port1
        self.state = PortState.POWERED_OFF
        #: PORT_ENABLE: traffic passes (enabled, or suspended with the device asleep);
        #: kept by `set_state` for the routing of every transfer (`UpstreamPort.enabled`).
        self.enabled = False
        self.change = PortChange(0)
        self.device: DeviceModel | None = None
        self.indicator = HubLed.AUTO
        self.test_selector: TestSelector | None = None

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.port1} {self.state.value} "
                f"status={self.status:#06x} change={self.change:#06x}>")

    # -- state --------------------------------------------------------------------------------

    def set_state(self, new: PortState) -> None:
        """The one transition function of the port state machine.

        Raises IllegalPortTransition for a change figure 11-10 does not allow.
        """
        if new not in PORT_TRANSITIONS[self.state]:
            raise IllegalPortTransition(
                f"port {self.port1}: {self.state.value} -> {new.value}")
        self.state = new
        self.enabled = new in _ENABLED

    def can_become(self, new: PortState) -> bool:
        """True when `set_state(new)` would be legal now."""
        return new in PORT_TRANSITIONS[self.state]

    @property
    def powered(self) -> bool:
        return self.state is not PortState.POWERED_OFF

    @property
    def connected(self) -> bool:
        """PORT_CONNECTION: a device is plugged in and the port gives it power."""
        return self.device is not None and self.powered

    @property
    def speed(self) -> Speed | None:
        """Speed the attached device runs at here: its own, capped to what the port can
        run at (`PortOwner.port_speed`)."""
        device = self.device
        return None if device is None else min(device.speed, self.owner.port_speed)

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
        enable the port at once — unless the owner does not enable it for this device
        (`PortOwner.enables`) — setting C_PORT_RESET.  Without a connected device, or in
        a state that cannot reset, nothing happens and the port stays disabled."""
        device = self.device
        if device is None or self.state not in _RESETTABLE:
            return
        self.set_state(PortState.RESETTING)
        device.bus_reset(self.owner.port_speed)
        self.set_state(PortState.ENABLED if self.owner.enables(device) else PortState.DISABLED)
        self._raise_change(PortChange.C_RESET, host_initiated=True)

    def disable(self) -> None:
        """ClearPortFeature(PORT_ENABLE): no traffic passes until the next reset; the
        device keeps its state.  C_PORT_ENABLE is not set: only errors set it."""
        if self.enabled:
            self.set_state(PortState.DISABLED)

    def suspend(self) -> None:
        """SetPortFeature(PORT_SUSPEND): selective suspend of an enabled port's device."""
        if self.state is PortState.ENABLED:
            self.set_state(PortState.SUSPENDED)
            if self.device is not None:
                self.device.suspend()

    def resume(self, *, host_initiated: bool = True) -> None:
        """ClearPortFeature(PORT_SUSPEND) (or a device's remote wakeup, with
        `host_initiated` False): resume the device, then C_PORT_SUSPEND tells the host that
        the resume completed."""
        if self.state is PortState.SUSPENDED:
            self.set_state(PortState.ENABLED)
            if self.device is not None:
                self.device.resume()
            self._raise_change(PortChange.C_SUSPEND, host_initiated=host_initiated)

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
        its whole hub (or bus) is suspended passes the signal upstream.  Returns True when
        the signal was acted on.
        """
        if self.state is PortState.SUSPENDED:
            self.resume(host_initiated=False)
            return True
        if self.state is PortState.ENABLED and self.owner.asleep:
            return self.owner.wake_upstream()
        return False

    def hand_over(self, companion: DownstreamPort) -> None:
        """Route the attached device to `companion`, another controller's port wired to
        this one (EHCI's PORT_OWNER): this port sees it disconnect (C_PORT_CONNECTION),
        the companion sees it connect.  The device keeps VBUS but is reset and enumerated
        afresh by the companion's host.  Raises ValueError when there is no device or the
        companion port is taken."""
        device = self.device
        if device is None:
            raise ValueError(f"port {self.port1} has no device to hand over")
        if companion.device is not None:
            raise ValueError(f"companion port {companion.port1} already holds "
                             f"{companion.device!r}")
        self.device = None
        if self.state in _LINKED:
            self.set_state(PortState.DISCONNECTED)
            self._raise_change(PortChange.C_CONNECTION)
        _plugged[device] = weakref.ref(companion)
        companion._plug(device)

    # -- plugging (driven by PortOwner.attach / detach) -----------------------------------------

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
        device.connect(self, self.owner.downstream_host, self.owner.downstream_clock)
        if self.state is PortState.DISCONNECTED:
            self.set_state(PortState.DISABLED)
            self._raise_change(PortChange.C_CONNECTION)

    def _raise_change(self, bits: PortChange, *, host_initiated: bool = False) -> None:
        self.change |= bits
        self.owner.status_changed(bits, host_initiated=host_initiated)


class PortOwner(ABC):
    """Something with downstream ports device models plug into: a hub model or a root hub.

    A subclass provides the ports (`ports`, numbered from 1) and says how the ports reach
    upstream: `speed` (a device runs no faster than its port), `downstream_host` (what a
    connecting device is told about), `hub_model` (the hub model the ports belong to, None
    for a root hub), `status_changed()` (a change bit was set), `asleep` and
    `wake_upstream()` (remote wakeup through a suspended hub).  Context: every method is
    atomic and never blocks.
    """

    ports: tuple[DownstreamPort, ...]
    speed: Speed

    @property
    def port_speed(self) -> Speed:
        """The fastest a device plugged into these ports can run: the root hub's speed,
        or — for a hub model — the speed its own upstream link runs at."""
        return self.speed

    @property
    @abstractmethod
    def downstream_host(self) -> DeviceHost | None:
        """The host a device plugged into these ports talks to."""

    @property
    @abstractmethod
    def hub_model(self) -> DeviceModel | None:
        """The hub model owning the ports; None for a root hub."""

    @property
    def downstream_clock(self) -> ModelClock | None:
        """The machine's clock, handed to a device plugged into these ports: a hub model
        passes on its own (`DeviceModel.clock`); a root hub gives its controller's."""
        hub = self.hub_model
        return None if hub is None else hub.clock

    @abstractmethod
    def status_changed(self, bits: PortChange, *, host_initiated: bool = False) -> None:
        """Change bits were set on a port — by the end of something the host started (a
        reset, a resume: `host_initiated`) or by the port itself (a connect or disconnect,
        a remote wakeup): let the host know as the hardware would."""

    @property
    def asleep(self) -> bool:
        """The whole hub is suspended (its ports pass remote wakeup upstream)."""
        return False

    def enables(self, device: DeviceModel) -> bool:
        """Whether a reset enables a port for `device` (an EHCI root port wired to a
        companion controller does not enable one that cannot run at high speed)."""
        return True

    def wake_upstream(self) -> bool:
        """Pass a device's remote wakeup upstream; True when it was acted on."""
        return False

    def change_pending(self) -> bool:
        """A change bit waits for the host to notice it."""
        return False

    # -- topology -----------------------------------------------------------------------------

    @property
    def nports(self) -> int:
        return len(self.ports)

    @property
    def label(self) -> str:
        """How messages name these ports' owner ("root hub", or the hub model)."""
        return repr(self)

    def hub_port(self, port1: int) -> DownstreamPort:
        """Port `port1` (1-based).  Raises ValueError for a number it does not have."""
        if not 1 <= port1 <= len(self.ports):
            raise ValueError(f"{self.label} port {port1} does not exist "
                             f"(ports 1..{len(self.ports)})")
        return self.ports[port1 - 1]

    def plugged(self, port1: int) -> DeviceModel | None:
        """The model in port `port1` (None: empty).  Raises ValueError for a number it
        does not have."""
        return self.hub_port(port1).device

    def children(self) -> Iterator[tuple[int, DeviceModel]]:
        """(port1, model) for every model plugged in, powered or not, in port order."""
        for port in self.ports:
            if port.device is not None:
                yield port.port1, port.device

    def descendants(self) -> Iterator[DeviceModel]:
        """Every model plugged in below these ports, depth first."""
        for _, child in self.children():
            yield child
            below = child.downstream
            if below is not None:
                yield from below.descendants()

    def attach(self, port1: int, model: DeviceModel) -> DownstreamPort:
        """Plug `model` into port `port1`.

        On a powered port the model gets power (POWERED), the port sees the connection and
        sets C_PORT_CONNECTION, and the host is told; on an unpowered port nothing shows
        until the port is powered.  Returns the port.  Raises ValueError for a bad or
        occupied port, a model plugged in elsewhere, or a hub plugged in below itself.
        """
        port = self.hub_port(port1)
        if port.device is not None:
            raise ValueError(f"{self.label} port {port1} already holds {port.device!r}: "
                             "unplug it first")
        self._check_pluggable(model)
        _plugged[model] = weakref.ref(port)
        port._plug(model)
        return port

    def detach(self, port1: int) -> DeviceModel:
        """Unplug the model on port `port1`.

        The model is disconnected (NOTATTACHED, with everything below it when it is a
        hub); a port that had detected it becomes disconnected with C_PORT_CONNECTION set
        (USB 2.0 §11.24.2.7.2.1 — no C_PORT_ENABLE: a disconnect is not a port error).
        Returns the model.  Raises ValueError for a bad or empty port.
        """
        port = self.hub_port(port1)
        if port.device is None:
            raise ValueError(f"{self.label} port {port1} is empty")
        _plugged.pop(port.device, None)
        return port._unplug()

    def _check_pluggable(self, model: DeviceModel) -> None:
        ref = _plugged.get(model)
        where = None if ref is None else ref()
        if where is not None:
            raise ValueError(f"{model!r} is already plugged into {where.owner.label} port "
                             f"{where.port1}: unplug it first")
        if model.state is not DeviceState.NOTATTACHED or model.port is not None:
            raise ValueError(f"{model!r} is already connected: disconnect it first")
        below = model.downstream
        if below is not None and (below is self or any(
                d.downstream is self for d in below.descendants())):
            raise ValueError(f"plugging {model!r} into {self!r} would make a loop")


PortAction = Callable[[DownstreamPort, int], None]
"""(port, selector from the high byte of wIndex) → None; raises Stall to refuse."""


def _led(selector: int) -> HubLed:
    try:
        return HubLed(selector)
    except ValueError:
        raise Stall from None


def _test(port: DownstreamPort, selector: int) -> None:
    try:
        mode = TestSelector(selector)
    except ValueError:
        raise Stall from None
    if port.state not in _TEST_FROM:
        raise Stall
    port.set_test(mode)


def _acknowledge(bit: PortChange) -> PortAction:
    return lambda port, _: port.clear_change(bit)


PORT_CHANGE_FEATURES: Final[Mapping[int, PortChange]] = {
    PortFeature.C_CONNECTION: PortChange.C_CONNECTION,
    PortFeature.C_ENABLE: PortChange.C_ENABLE,
    PortFeature.C_SUSPEND: PortChange.C_SUSPEND,
    PortFeature.C_OVER_CURRENT: PortChange.C_OVERCURRENT,
    PortFeature.C_RESET: PortChange.C_RESET,
}
"""C_PORT_* feature selector → the wPortChange bit it acknowledges."""

SET_PORT_FEATURE: Final[Mapping[int, PortAction]] = {
    PortFeature.POWER: lambda port, _: port.power_on(),
    PortFeature.RESET: lambda port, _: port.reset(),
    PortFeature.SUSPEND: lambda port, _: port.suspend(),
    PortFeature.INDICATOR: lambda port, selector: port.set_indicator(_led(selector)),
    PortFeature.TEST: _test,
}
"""SetPortFeature, by feature selector."""

CLEAR_PORT_FEATURE: Final[Mapping[int, PortAction]] = {
    PortFeature.ENABLE: lambda port, _: port.disable(),
    PortFeature.SUSPEND: lambda port, _: port.resume(),
    PortFeature.POWER: lambda port, _: port.power_off(),
    PortFeature.INDICATOR: lambda port, _: port.set_indicator(HubLed.AUTO),
    **{feature: _acknowledge(bit) for feature, bit in PORT_CHANGE_FEATURES.items()},
}
"""ClearPortFeature, by feature selector."""


def port_feature(port: DownstreamPort, set_feature: bool, feature: int, selector: int) -> None:
    """Set/ClearPortFeature(`feature`) on `port` with the selector of wIndex's high byte.
    Raises Stall for a feature the table does not have or a selector it refuses.
    Context: atomic."""
    action = (SET_PORT_FEATURE if set_feature else CLEAR_PORT_FEATURE).get(feature)
    if action is None:
        raise Stall
    action(port, selector)
