"""Emulated USB devices — the device side, counterpart of QEMU's hw/usb/desc.c and
hw/usb/core.c (and of what a Linux gadget's composite.c answers on endpoint 0).

A `DeviceModel` is a descriptor tree plus small handlers.  It answers every standard
request from its descriptors (GET_DESCRIPTOR of every kind, SET_ADDRESS, SET/GET_
CONFIGURATION, SET/GET_INTERFACE, GET_STATUS, SET/CLEAR_FEATURE), enforces the chapter 9
states a real device goes through (attached → powered → default → address → configured,
and suspended), creates its data endpoints when configured, and sends class and vendor
requests to methods decorated with `@request`.  Anything unhandled STALLs and is recorded
in `unhandled`.  Data endpoints get their handlers from `@endpoint_in` / `@endpoint_out`.

A model imports only `usbemu.spec`: it does not know which host it is plugged into.  The
host side (an in-process controller, a USB/IP server) drives it through `connect`,
`bus_reset`, `control` and `token_endpoint` (the last two go through the fault plan a
model may carry, `usbemu.emulated.faults`), and is told through the `DeviceHost` callback
when a NAKed endpoint may make progress.  Whoever plugs a model in also hands it the machine's
clock (`ModelClock`, `DeviceModel.clock`): a model that acts at a time — an input device
playing a script, an idle rate — reads `now()` and sets timers with `call_at`; a model
that never asks keeps no time at all.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol, TypeVar

from ..errors import IllegalStateTransition
from ..spec.ch9 import (
    USB_MAX_ADDRESS,
    DeviceState,
    DeviceStatus,
    Feature,
    Request,
    SetupPacket,
    Speed,
)
from ..spec.descriptors import (
    ConfigDescriptor,
    DescriptorSet,
    DeviceDescriptor,
    InterfaceDescriptor,
    build_descriptors,
)
from .endpoint import Endpoint, Outcome, Stall
from .ep0 import ControlPipe

if TYPE_CHECKING:
    from .faults import FaultPlan
    from .port import PortOwner


class DeviceHost(Protocol):
    """What a model calls on the host it is plugged into.  Both calls are atomic."""

    def endpoint_ready(self, device: DeviceModel, ep: Endpoint) -> None:
        """IN data became available on `ep`, or it can take OUT data again."""

    def remote_wakeup(self, device: DeviceModel) -> None:
        """The device signals resume (only when the host enabled remote wakeup)."""

    def device_disconnected(self, device: DeviceModel) -> None:
        """The device was unplugged: transfers waiting on it will never be answered."""


class ModelTimer(Protocol):
    """A callback `ModelClock.call_at` has scheduled."""

    def cancel(self) -> None:
        """Do not run the callback (nothing happens when it already ran)."""


class ModelClock(Protocol):
    """The machine's clock as a plugged-in model sees it: seconds that never go back, and
    callbacks at a time on them.  An asyncio event loop is one (`loop.time()`,
    `loop.call_at()`), on real or virtual time alike."""

    def time(self) -> float:
        """Seconds on the machine's clock."""

    def call_at(self, when: float, callback: Callable[[], object]) -> ModelTimer:
        """Run `callback` (atomic context) once the clock reads `when`."""


class UpstreamPort(Protocol):
    """The port a model is plugged into: a root-hub port or a port of a hub model."""

    @property
    def enabled(self) -> bool: ...

    @property
    def hub(self) -> DeviceModel | None:
        """The hub model owning the port; None for a root-hub port."""


# -- handler declarations -------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])

_REQUEST_ATTR: Final = "__usb_request__"
_IN_ATTR: Final = "__usb_endpoint_in__"
_OUT_ATTR: Final = "__usb_endpoint_out__"


def request(bmRequestType: int, bRequest: int) -> Callable[[F], F]:
    """Declare a method as the handler of one control request.

    The method is called as `handler(setup, data)`; `data` is the OUT data stage (b"" for IN
    requests).  It returns the reply for IN requests (cut to wLength by the core) and None
    for the others; it raises `Stall` to refuse.  Context: atomic, never blocks.
    """
    def mark(func: F) -> F:
        keys = getattr(func, _REQUEST_ATTR, ())
        setattr(func, _REQUEST_ATTR, (*keys, (bmRequestType, bRequest)))
        return func
    return mark


def endpoint_in(*addresses: int) -> Callable[[F], F]:
    """Declare `handler(ep, room) -> bytes | None` as the data source of the IN endpoints
    `addresses`; it is asked when the host polls and nothing is queued (None → NAK)."""
    for address in addresses:
        if not address & 0x80:
            raise ValueError(f"endpoint_in({address:#04x}): an IN address has bit 7 set")

    def mark(func: F) -> F:
        setattr(func, _IN_ATTR, (*getattr(func, _IN_ATTR, ()), *addresses))
        return func
    return mark


def endpoint_out(*addresses: int, packets: bool = False) -> Callable[[F], F]:
    """Declare `handler(ep, data) -> None | Outcome.NAK` as the sink of the OUT endpoints
    `addresses`; with `packets=True` it sees one packet at a time, else one transfer."""
    for address in addresses:
        if address & 0x80:
            raise ValueError(f"endpoint_out({address:#04x}): an OUT address has bit 7 clear")

    def mark(func: F) -> F:
        specs = tuple((address, packets) for address in addresses)
        setattr(func, _OUT_ATTR, (*getattr(func, _OUT_ATTR, ()), *specs))
        return func
    return mark


# -- chapter 9 device states ------------------------------------------------------------------

S = DeviceState
_ANY_ATTACHED: Final = frozenset({S.ATTACHED, S.NOTATTACHED})
_TRANSITIONS: Final[Mapping[DeviceState, frozenset[DeviceState]]] = {
    S.NOTATTACHED: frozenset({S.ATTACHED}),
    S.ATTACHED: frozenset({S.POWERED, S.NOTATTACHED}),
    S.POWERED: _ANY_ATTACHED | {S.DEFAULT, S.SUSPENDED},
    S.DEFAULT: _ANY_ATTACHED | {S.POWERED, S.DEFAULT, S.ADDRESS, S.SUSPENDED},
    S.ADDRESS: _ANY_ATTACHED | {S.POWERED, S.DEFAULT, S.ADDRESS, S.CONFIGURED, S.SUSPENDED},
    S.CONFIGURED: _ANY_ATTACHED | {S.POWERED, S.DEFAULT, S.ADDRESS, S.CONFIGURED,
                                   S.SUSPENDED},
    S.SUSPENDED: _ANY_ATTACHED | {S.POWERED, S.DEFAULT, S.ADDRESS, S.CONFIGURED},
}


# -- standard requests ------------------------------------------------------------------------

_STD_OUT_DEV, _STD_IN_DEV = 0x00, 0x80
_STD_OUT_INTF, _STD_IN_INTF = 0x01, 0x81
_STD_OUT_EP, _STD_IN_EP = 0x02, 0x82


class DeviceModel:
    """An emulated USB device: descriptors, chapter 9 behaviour, handlers.

    Subclasses usually set `descriptor` (a declarative `DeviceDescriptor`) and `speed` as
    class attributes, and add `@request` / `@endpoint_in` / `@endpoint_out` methods.  An
    instance may instead be given descriptors (a tree or a built `DescriptorSet`) directly.
    """

    descriptor: ClassVar[DeviceDescriptor | None] = None
    #: `descriptor` as built by `class_descriptors`, with the tree it was built from.
    _class_built: ClassVar[tuple[DeviceDescriptor, DescriptorSet] | None] = None
    speed: Speed = Speed.FULL
    #: Short name for the device registry and the command line (e.g. "pendrive").
    model_name: ClassVar[str] = ""

    _requests: ClassVar[dict[tuple[int, int], str]] = {}
    _in_handlers: ClassVar[dict[int, str]] = {}
    _out_handlers: ClassVar[dict[int, tuple[str, bool]]] = {}

    # The state every model has lives in slots (a device's __dict__ of them took 1.5 KiB);
    # "__dict__" keeps every other attribute — a subclass's own, `speed` — as usual.
    __slots__ = ("__dict__", "__weakref__", "_eps", "_other_speed", "_resume_state",
                 "address", "alt_settings", "clock", "configuration", "descriptors", "ep0",
                 "faults", "host", "link_speed", "port", "remote_wakeup_enabled", "state",
                 "test_mode", "unhandled")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        requests = dict(cls._requests)
        ins = dict(cls._in_handlers)
        outs = dict(cls._out_handlers)
        for name, value in vars(cls).items():
            for key in getattr(value, _REQUEST_ATTR, ()):
                requests[key] = name
            for addr in getattr(value, _IN_ATTR, ()):
                ins[addr] = name
            for addr, packets in getattr(value, _OUT_ATTR, ()):
                outs[addr] = (name, packets)
        cls._requests, cls._in_handlers, cls._out_handlers = requests, ins, outs

    def __init__(self, descriptors: DeviceDescriptor | DescriptorSet | None = None, *,
                 speed: Speed | None = None) -> None:
        self.descriptors = (type(self).class_descriptors() if descriptors is None
                            else descriptors if isinstance(descriptors, DescriptorSet)
                            else build_descriptors(descriptors))
        if speed is not None:
            self.speed = speed
        #: The speed the link runs at, settled by the last bus reset (the chirp handshake
        #: of a high-speed device succeeds only on a port that can run at high speed).
        self.link_speed: Speed = self.speed
        self._other_speed: tuple[DescriptorSet, DescriptorSet | None] | None = None
        self.state = DeviceState.NOTATTACHED
        self.address = 0
        self.configuration: ConfigDescriptor | None = None
        self.alt_settings: dict[int, int] = {}
        self.remote_wakeup_enabled = False
        self.test_mode = 0
        self.host: DeviceHost | None = None
        self.port: UpstreamPort | None = None
        #: The machine's clock while the model is plugged in (None: unplugged, or plugged
        #: into a host that keeps no time, such as a bare test double).
        self.clock: ModelClock | None = None
        self.unhandled: list[SetupPacket] = []
        #: The fault plan the host's transfers go through (`usbemu.emulated.faults`);
        #: None: they reach the model directly.
        self.faults: FaultPlan | None = None
        self.ep0 = ControlPipe(self, self.device_descriptor.bMaxPacketSize0)
        self._eps: dict[int, Endpoint] = {}
        self._resume_state = DeviceState.NOTATTACHED

    @classmethod
    def class_descriptors(cls) -> DescriptorSet:
        """The class attribute `descriptor` built, once per class: every instance that takes
        it shares the one DescriptorSet (immutable).  Context: atomic.  Raises ValueError
        when the class has no `descriptor`."""
        source, built = cls.descriptor, cls.__dict__.get("_class_built")
        if source is None:
            raise ValueError(f"{cls.__name__} has no descriptors: set the class "
                             "attribute `descriptor` or pass them to the constructor")
        if built is None or built[0] is not source:
            built = cls._class_built = (source, build_descriptors(source))
        return built[1]

    def __repr__(self) -> str:
        d = self.device_descriptor
        return (f"<{type(self).__name__} {d.idVendor:04x}:{d.idProduct:04x} "
                f"{self.state.linux_name} addr={self.address}>")

    @property
    def device_descriptor(self) -> DeviceDescriptor:
        """The resolved device descriptor (string indexes and counts filled in)."""
        return self.descriptors.device

    @property
    def link_descriptors(self) -> DescriptorSet:
        """The descriptors the device answers with at its link speed: its own
        (`descriptors`), or — for a high-speed device running at full speed — the same
        set seen from the other speed (`DescriptorSet.at_other_speed`: the full-speed
        configurations, and a qualifier and other-speed configurations that describe high
        speed).  A high-speed device without other-speed descriptors answers with its own.
        Context: atomic."""
        if self.link_speed == self.speed or self.speed != Speed.HIGH:
            return self.descriptors
        cached = self._other_speed
        if cached is None or cached[0] is not self.descriptors:
            cached = self._other_speed = (self.descriptors, self.descriptors.at_other_speed())
        return cached[1] or self.descriptors

    # -- state --------------------------------------------------------------------------------

    def set_state(self, new: DeviceState) -> None:
        """The one transition function of the chapter 9 state machine.

        Raises IllegalStateTransition for a change chapter 9 does not allow.
        """
        if new not in _TRANSITIONS[self.state]:
            raise IllegalStateTransition(
                f"{type(self).__name__}: {self.state.linux_name} -> {new.linux_name}")
        self.state = new

    @property
    def reachable(self) -> bool:
        """True when tokens can reach the device: powered, reset, not suspended, and every
        port up to the root enabled."""
        if self.state < DeviceState.DEFAULT or self.state is DeviceState.SUSPENDED:
            return False
        port = self.port
        while port is not None:
            if not port.enabled:
                return False
            hub = port.hub
            if hub is None:
                return True
            if hub.state < DeviceState.DEFAULT or hub.state is DeviceState.SUSPENDED:
                return False
            port = hub.port
        return False

    # -- the host's side: attach, reset, suspend --------------------------------------------

    def connect(self, port: UpstreamPort | None, host: DeviceHost | None,
                clock: ModelClock | None = None) -> None:
        """Plug into a powered port: ATTACHED then POWERED, with the machine's `clock`
        (None: the host keeps no time).  A device that was powered before loses its address
        and configuration (a power cycle).  Context: atomic."""
        self._deconfigure()
        self.ep0.reset()
        self.address = 0
        self.remote_wakeup_enabled = False
        self.test_mode = 0
        self.port, self.host, self.clock = port, host, clock
        self.set_state(DeviceState.ATTACHED)
        self.set_state(DeviceState.POWERED)
        self.on_connect()

    def disconnect(self) -> None:
        """Unplug: NOTATTACHED, endpoints gone, queued data dropped.  Context: atomic."""
        if self.host is not None:
            self.host.device_disconnected(self)
        self._deconfigure()
        self.ep0.reset()
        self.address = 0
        if self.state is not DeviceState.NOTATTACHED:
            self.set_state(DeviceState.NOTATTACHED)
        self.on_disconnect()
        self.port, self.host, self.clock = None, None, None

    def bus_reset(self, port_speed: Speed | None = None) -> None:
        """USB reset signalling on the port: DEFAULT state at address 0, unconfigured.  The
        link then runs at the device's speed, or at `port_speed` when the port is slower
        (a high-speed device's chirp goes unanswered on a full-speed port).
        Context: atomic."""
        self.link_speed = self.speed if port_speed is None else min(self.speed, port_speed)
        self._deconfigure()
        self.ep0.reset()
        self.address = 0
        self.remote_wakeup_enabled = False
        self.test_mode = 0
        self.set_state(DeviceState.DEFAULT)
        self.on_reset()

    def suspend(self) -> None:
        """Port suspend: the device stops answering until resumed."""
        if self.state is not DeviceState.SUSPENDED:
            self._resume_state = self.state
            self.set_state(DeviceState.SUSPENDED)

    def resume(self) -> None:
        if self.state is DeviceState.SUSPENDED:
            self.set_state(self._resume_state)

    def signal_remote_wakeup(self) -> bool:
        """The suspended device wants the host to resume it; returns False (and sends
        nothing) when it is not suspended or the host has not enabled remote wakeup."""
        if (not self.remote_wakeup_enabled or self.host is None
                or self.state is not DeviceState.SUSPENDED):
            return False
        self.host.remote_wakeup(self)
        return True

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds on the machine's clock.  Context: atomic.  Raises RuntimeError when the
        model has no clock (unplugged, or its host keeps no time)."""
        return self._clock().time()

    def call_at(self, when: float, callback: Callable[[], object]) -> ModelTimer:
        """Run `callback` (atomic context) once the machine's clock reads `when` seconds;
        returns the timer, which the model cancels when it is unplugged (`on_disconnect`).
        Context: atomic.  Raises RuntimeError when the model has no clock."""
        return self._clock().call_at(when, callback)

    def _clock(self) -> ModelClock:
        clock = self.clock
        if clock is None:
            raise RuntimeError(f"{type(self).__name__} has no clock: it keeps time only while "
                               "plugged into a machine (System.plug, or connect(..., clock=))")
        return clock

    # -- the host's side: transfers -----------------------------------------------------------

    def control(self, setup: SetupPacket | bytes, data: bytes | memoryview = b"",
                dst: memoryview | None = None) -> tuple[Outcome, int]:
        """One whole control transfer on endpoint 0 from the host; see
        `ControlPipe.transfer`.  With a fault plan attached (`faults`) the plan answers
        (and may NAK: the host retries when told `endpoint_ready` for endpoint 0)."""
        if self.state < DeviceState.DEFAULT or self.state is DeviceState.SUSPENDED:
            return Outcome.NO_RESPONSE, 0
        if self.faults is not None:
            return self.faults.control(self, setup, data, dst)
        return self.ep0.transfer(setup, data, dst)

    def endpoint(self, address: int) -> Endpoint | None:
        """The active data endpoint with this bEndpointAddress, or None.  Data endpoints
        exist only in the CONFIGURED state.  The model's own handlers use this one."""
        return self._eps.get(address)

    def token_endpoint(self, address: int) -> Endpoint | None:
        """The endpoint the host's tokens to `address` reach, or None (no answer): the
        active data endpoint, seen through the fault plan when one is attached
        (`faults`).  Host controllers move data through this one.  Context: atomic."""
        ep = self._eps.get(address)
        if self.faults is None or ep is None:
            return ep
        return self.faults.endpoint(ep)

    def endpoints(self) -> Iterator[Endpoint]:
        return iter(self._eps.values())

    @property
    def downstream(self) -> PortOwner | None:
        """The model's own downstream ports (a hub is their `PortOwner`); None for a
        device that is not a hub."""
        return None

    def children(self) -> Iterator[tuple[int, DeviceModel]]:
        """(port number, model) of devices plugged into this one's ports, if it has any."""
        below = self.downstream
        return below.children() if below is not None else iter(())

    # -- hooks for subclasses -----------------------------------------------------------------

    def on_connect(self) -> None:
        """Called after the model was plugged in."""

    def on_disconnect(self) -> None:
        """Called after the model was unplugged."""

    def on_reset(self) -> None:
        """Called after a bus reset."""

    def on_configuration(self, config: ConfigDescriptor | None) -> None:
        """Called after SET_CONFIGURATION (None: unconfigured) once endpoints exist."""

    def on_interface(self, interface: int, alt: int) -> None:
        """Called after SET_INTERFACE selected altsetting `alt` of `interface`."""

    # -- ControlHandler -----------------------------------------------------------------------

    def control_request(self, setup: SetupPacket, data: bytes) -> bytes | None:
        """Dispatch a request: the model's `@request` handlers first, then the standard
        requests, else STALL and record it in `unhandled`."""
        key = (setup.bmRequestType, setup.bRequest)
        name = self._requests.get(key)
        if name is not None:
            result: bytes | None = getattr(self, name)(setup, data)
            return result
        return self.standard_request(setup, data)

    def standard_request(self, setup: SetupPacket, data: bytes) -> bytes | None:
        """Answer a chapter 9 request from the descriptors (a model's own handler for a
        standard request may fall back to this)."""
        handler = _STANDARD.get((setup.bmRequestType, setup.bRequest))
        if handler is None:
            self.unhandled.append(setup)
            raise Stall
        return handler(self, setup)

    def control_complete(self, setup: SetupPacket) -> None:
        """After the status stage: SET_ADDRESS and TEST_MODE take effect only now."""
        if (setup.bmRequestType, setup.bRequest, setup.wValue) == (
                _STD_OUT_DEV, Request.SET_FEATURE, Feature.TEST_MODE):
            self.test_mode = setup.wIndex >> 8
        if (setup.bmRequestType, setup.bRequest) == (_STD_OUT_DEV, Request.SET_ADDRESS):
            self.address = setup.wValue
            if setup.wValue:
                if self.state is DeviceState.DEFAULT:
                    self.set_state(DeviceState.ADDRESS)
            elif self.state is DeviceState.ADDRESS:
                self.set_state(DeviceState.DEFAULT)

    # -- standard request implementations -----------------------------------------------------

    def _get_descriptor(self, setup: SetupPacket) -> bytes:
        dtype, index = setup.wValue >> 8, setup.wValue & 0xFF
        reply = self.link_descriptors.get(dtype, index, setup.wIndex)
        if reply is None:
            raise Stall
        return reply

    def _set_address(self, setup: SetupPacket) -> None:
        if setup.wValue > USB_MAX_ADDRESS or setup.wIndex or self.state not in (
                DeviceState.DEFAULT, DeviceState.ADDRESS):
            raise Stall

    def _get_configuration(self, setup: SetupPacket) -> bytes:
        self._require(DeviceState.ADDRESS, DeviceState.CONFIGURED)
        config = self.configuration
        return bytes((0 if config is None else config.bConfigurationValue or 0,))

    def _set_configuration(self, setup: SetupPacket) -> None:
        self._require(DeviceState.ADDRESS, DeviceState.CONFIGURED)
        value = setup.wValue & 0xFF
        if value == 0:
            self._deconfigure()
            self.set_state(DeviceState.ADDRESS)
            self.on_configuration(None)
            return
        config = next((c for c in self.link_descriptors.configurations
                       if c.bConfigurationValue == value), None)
        if config is None:
            raise Stall
        self._deconfigure()
        self.configuration = config
        for number, alt in _first_altsettings(config).items():
            self._activate(number, alt)
        self.set_state(DeviceState.CONFIGURED)
        self.on_configuration(config)

    def _get_status_device(self, setup: SetupPacket) -> bytes:
        status = DeviceStatus(0)
        if self.self_powered:
            status |= DeviceStatus.SELF_POWERED
        if self.remote_wakeup_enabled:
            status |= DeviceStatus.REMOTE_WAKEUP
        return struct.pack("<H", status)

    def _get_status_interface(self, setup: SetupPacket) -> bytes:
        self._require(DeviceState.CONFIGURED)
        if setup.wIndex & 0xFF not in self.alt_settings:
            raise Stall
        return b"\0\0"

    def _get_status_endpoint(self, setup: SetupPacket) -> bytes:
        address = setup.wIndex & 0xFF
        if address & 0x7F == 0:
            return b"\0\0"
        self._require(DeviceState.CONFIGURED)
        ep = self._eps.get(address)
        if ep is None:
            raise Stall
        return struct.pack("<H", 1 if ep.halted else 0)

    def _feature_device(self, setup: SetupPacket) -> None:
        enable = setup.bRequest == Request.SET_FEATURE
        if setup.wValue == Feature.DEVICE_REMOTE_WAKEUP and self._wakeup_capable():
            self.remote_wakeup_enabled = enable
        elif setup.wValue == Feature.TEST_MODE and enable and self.link_speed == Speed.HIGH:
            pass  # entered after the status stage (control_complete)
        else:
            raise Stall

    def _feature_endpoint(self, setup: SetupPacket) -> None:
        if setup.wValue != Feature.ENDPOINT_HALT:
            raise Stall
        address = setup.wIndex & 0xFF
        if address & 0x7F == 0:
            if setup.bRequest == Request.SET_FEATURE:
                raise Stall
            return
        self._require(DeviceState.CONFIGURED)
        ep = self._eps.get(address)
        if ep is None:
            raise Stall
        if setup.bRequest == Request.SET_FEATURE:
            ep.halt()
        else:
            ep.clear_halt()

    def _get_interface(self, setup: SetupPacket) -> bytes:
        self._require(DeviceState.CONFIGURED)
        alt = self.alt_settings.get(setup.wIndex & 0xFF)
        if alt is None:
            raise Stall
        return bytes((alt,))

    def _set_interface(self, setup: SetupPacket) -> None:
        self._require(DeviceState.CONFIGURED)
        number, alt = setup.wIndex & 0xFF, setup.wValue
        desc = self.find_altsetting(number, alt)
        if desc is None or number not in self.alt_settings:
            raise Stall
        self._deactivate(number)
        self._activate(number, desc)
        self.on_interface(number, alt)

    # -- helpers ------------------------------------------------------------------------------

    def _require(self, *states: DeviceState) -> None:
        if self.state not in states:
            raise Stall

    @property
    def self_powered(self) -> bool:
        config = self.configuration or next(iter(self.descriptors.configurations), None)
        return config is not None and config.self_powered

    def _wakeup_capable(self) -> bool:
        config = self.configuration or next(iter(self.descriptors.configurations), None)
        return config is not None and config.remote_wakeup

    def find_altsetting(self, number: int, alt: int) -> InterfaceDescriptor | None:
        """The altsetting `alt` of interface `number` in the active configuration."""
        if self.configuration is None:
            return None
        for desc in self.configuration.interfaces:
            if desc.bInterfaceNumber == number and desc.bAlternateSetting == alt:
                return desc
        return None

    def _activate(self, number: int, alt: InterfaceDescriptor) -> None:
        self.alt_settings[number] = alt.bAlternateSetting
        for desc in alt.endpoints:
            ep = Endpoint(self, desc, self.link_speed)
            address = desc.bEndpointAddress
            if (name := self._in_handlers.get(address)) is not None and ep.is_in:
                ep.in_handler = getattr(self, name)
            if (spec := self._out_handlers.get(address)) is not None and not ep.is_in:
                ep.out_handler, ep.out_packets = getattr(self, spec[0]), spec[1]
            self._eps[address] = ep

    def _deactivate(self, number: int) -> None:
        alt = self.find_altsetting(number, self.alt_settings.get(number, 0))
        if alt is not None:
            for desc in alt.endpoints:
                ep = self._eps.pop(desc.bEndpointAddress, None)
                if ep is not None:
                    ep.flush()
                    ep.model = None

    def _deconfigure(self) -> None:
        for ep in self._eps.values():
            ep.flush()
            ep.model = None
        self._eps.clear()
        self.alt_settings.clear()
        self.configuration = None


_STANDARD: Final[Mapping[tuple[int, int], Callable[[DeviceModel, SetupPacket], bytes | None]]] = {
    (_STD_IN_DEV, Request.GET_STATUS): DeviceModel._get_status_device,
    (_STD_IN_INTF, Request.GET_STATUS): DeviceModel._get_status_interface,
    (_STD_IN_EP, Request.GET_STATUS): DeviceModel._get_status_endpoint,
    (_STD_OUT_DEV, Request.CLEAR_FEATURE): DeviceModel._feature_device,
    (_STD_OUT_DEV, Request.SET_FEATURE): DeviceModel._feature_device,
    (_STD_OUT_EP, Request.CLEAR_FEATURE): DeviceModel._feature_endpoint,
    (_STD_OUT_EP, Request.SET_FEATURE): DeviceModel._feature_endpoint,
    (_STD_OUT_DEV, Request.SET_ADDRESS): DeviceModel._set_address,
    (_STD_IN_DEV, Request.GET_DESCRIPTOR): DeviceModel._get_descriptor,
    (_STD_IN_DEV, Request.GET_CONFIGURATION): DeviceModel._get_configuration,
    (_STD_OUT_DEV, Request.SET_CONFIGURATION): DeviceModel._set_configuration,
    (_STD_IN_INTF, Request.GET_INTERFACE): DeviceModel._get_interface,
    (_STD_OUT_INTF, Request.SET_INTERFACE): DeviceModel._set_interface,
}

def _first_altsettings(config: ConfigDescriptor) -> dict[int, InterfaceDescriptor]:
    """Altsetting 0 of every interface (the first one listed if 0 is missing)."""
    chosen: dict[int, InterfaceDescriptor] = {}
    for number, alt in config.numbered_interfaces():
        if number not in chosen or alt.bAlternateSetting == 0 != chosen[number].bAlternateSetting:
            chosen[number] = alt
    return chosen
