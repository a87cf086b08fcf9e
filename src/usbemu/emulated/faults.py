"""Fault injection for device models — counterpart of Linux's lib/fault-inject.c (a fault
attribute's `probability`, `interval` and `times`, here `probability`, `every` and
`count`) applied to what broken USB hardware does on the wire.

A `FaultPlan` is data: `Fault`s, each a `FaultKind` (stall, NAK for a time or for ever,
babble, CRC and bit-stuff errors, short and zero-length packets, a delay, a disconnect,
descriptor corruption, a wrong bDescriptorType, a lying wTotalLength, descriptors that
change between reads) and a `Match` (a data endpoint or a control request, the n-th
occurrence, every k-th after it, a probability drawn from the plan's own seeded random
generator).  Attached to a model (`inject_faults`, or `DeviceModel.faults`), it is consulted
where the host's transactions enter the model — `DeviceModel.control` and
`DeviceModel.token_endpoint` — and nowhere else; a model without a plan pays one attribute
test per transfer.  Every fault that hits is logged in the plan's `record` with the
transfer it hit, and the same seed over the same traffic gives the same run.

The plan speaks in `Outcome`s, as a model does; the host controller turns them into the
URB status its hardware reports (CRC and bit-stuff errors: -EPROTO on EHCI, -EILSEQ or
-EPROTO on UHCI and OHCI; babble -EOVERFLOW; STALL -EPIPE).  A NAK or delay holds the
endpoint (control requests included) until it expires; a disconnect pulls the model out of
its port just after the transfer it hit.  What it does not do: fault isochronous packets
(they pass untouched), or corrupt OUT data on its way in (the host's data is the host's).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Final

from ..spec.ch9 import DescriptorType, Request, SetupPacket
from ..spec.descriptors import EndpointDescriptor
from .endpoint import Endpoint, Outcome

if TYPE_CHECKING:
    from .device import DeviceModel

__all__ = ["FAULT_OPTIONS", "Fault", "FaultHit", "FaultKind", "FaultPlan", "Match",
           "inject_faults", "parse_fault"]


class FaultKind(Enum):
    """What a device does wrong when a fault hits (docs/faults.md: what the host sees)."""

    STALL = "stall"  #: STALL; a data endpoint stays halted until the host clears it
    NAK = "nak"  #: NAK for `ms` milliseconds, then answer
    NAK_FOREVER = "nak_forever"  #: NAK until the plan is cleared
    DELAY = "delay"  #: the answer comes `ms` milliseconds late (NAKs meanwhile)
    BABBLE = "babble"  #: IN: a packet longer than the host's room (-EOVERFLOW)
    CRC = "crc"  #: the packet's CRC is wrong on every retry
    BITSTUFF = "bitstuff"  #: a bit-stuffing violation on every retry
    SHORT = "short"  #: IN: only `length` bytes (default half), then a short packet
    ZLP = "zlp"  #: IN: a zero-length packet where data was expected
    DISCONNECT = "disconnect"  #: the cable is pulled after `length` bytes (default 0)
    CORRUPT_DESCRIPTOR = "corrupt_descriptor"  #: `flips` seeded bytes of the reply flipped
    WRONG_DESCRIPTOR_TYPE = "wrong_descriptor_type"  #: bDescriptorType `value` (default +1)
    LYING_TOTAL_LENGTH = "lying_total_length"  #: wTotalLength `value` (default real + 64)
    CHANGING_DESCRIPTORS = "changing_descriptors"  #: each hit answers a newer version


_IN_ONLY: Final = frozenset({FaultKind.BABBLE, FaultKind.SHORT, FaultKind.ZLP,
                             FaultKind.CORRUPT_DESCRIPTOR, FaultKind.WRONG_DESCRIPTOR_TYPE,
                             FaultKind.LYING_TOTAL_LENGTH, FaultKind.CHANGING_DESCRIPTORS})
_TIMED: Final = frozenset({FaultKind.NAK, FaultKind.DELAY})
#: What a descriptor fault watches when its match names no request: GET_DESCRIPTOR, of a
#: configuration for the one fault that only a configuration can carry.
_DEFAULT_MATCH: Final[Mapping[FaultKind, Mapping[str, int]]] = {
    FaultKind.CORRUPT_DESCRIPTOR: {"bmRequestType": 0x80, "bRequest": Request.GET_DESCRIPTOR},
    FaultKind.WRONG_DESCRIPTOR_TYPE: {"bmRequestType": 0x80,
                                      "bRequest": Request.GET_DESCRIPTOR},
    FaultKind.LYING_TOTAL_LENGTH: {"descriptor": DescriptorType.CONFIG},
    FaultKind.CHANGING_DESCRIPTORS: {"bmRequestType": 0x80,
                                     "bRequest": Request.GET_DESCRIPTOR},
}
#: Descriptors that carry a wTotalLength (at offset 2).
_TOTAL_LENGTH_TYPES: Final = frozenset({DescriptorType.CONFIG,
                                        DescriptorType.OTHER_SPEED_CONFIG,
                                        DescriptorType.BOS})
#: The byte a newer version of a descriptor differs in: bcdDevice's low byte of a device
#: descriptor, bNumInterfaces of a configuration; the last byte of anything else.
_CHANGING_OFFSET: Final[Mapping[int, int]] = {
    DescriptorType.DEVICE: 12,
    DescriptorType.CONFIG: 4,
    DescriptorType.OTHER_SPEED_CONFIG: 4,
}


@dataclass(frozen=True)
class Match:
    """Which transfers a fault watches, and which of them it hits.

    `ep` is a bEndpointAddress (0: endpoint 0); `bmRequestType`, `bRequest`, `wValue` and
    `descriptor` (the type a GET_DESCRIPTOR asks for) narrow it to control requests.  With
    none of them every transfer is watched.  Of the watched transfers the `nth` (1-based)
    is hit, then every `every`-th after it, each with `probability`.
    """

    ep: int | None = None
    bmRequestType: int | None = None
    bRequest: int | None = None
    wValue: int | None = None
    descriptor: int | None = None
    nth: int = 1
    every: int = 1
    probability: float = 1.0

    def __post_init__(self) -> None:
        for name, limit in (("ep", 0xFF), ("bmRequestType", 0xFF), ("bRequest", 0xFF),
                            ("wValue", 0xFFFF), ("descriptor", 0xFF)):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= limit:
                raise ValueError(f"Match.{name}={value!r} is outside 0..{limit:#x}")
        if self.ep is not None and self.ep & 0x70:
            raise ValueError(f"Match.ep={self.ep:#04x}: an endpoint address is 0x00..0x0f "
                             "or 0x80..0x8f")
        if self.nth < 1 or self.every < 1:
            raise ValueError(f"Match: nth={self.nth}, every={self.every}: both count from 1")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"Match.probability={self.probability!r} is outside 0..1")

    @property
    def control_only(self) -> bool:
        """True when only control requests can match."""
        return (self.ep is not None and self.ep & 0x0F == 0) or any(
            v is not None for v in (self.bmRequestType, self.bRequest, self.wValue,
                                    self.descriptor))

    def watches(self, address: int, setup: SetupPacket | None) -> bool:
        """Whether a transfer to endpoint `address` (0 with `setup` for control) is one
        this match counts.  Context: atomic."""
        if setup is None:
            return not self.control_only and (self.ep is None or self.ep == address)
        return ((self.ep is None or self.ep & 0x0F == 0)
                and self.bmRequestType in (None, setup.bmRequestType)
                and self.bRequest in (None, setup.bRequest)
                and self.wValue in (None, setup.wValue)
                and (self.descriptor is None or (
                    setup.bRequest == Request.GET_DESCRIPTOR
                    and setup.wValue >> 8 == self.descriptor)))

    def __str__(self) -> str:
        parts = [_OPTION_TEXT[name](getattr(self, name)) for name in _MATCH_FIELDS
                 if getattr(self, name) != _MATCH_DEFAULTS[name]]
        return " ".join(parts)


@dataclass(frozen=True)
class Fault:
    """One fault: its kind, the transfers it hits, and how often (`count` hits; 0: every
    match for as long as the plan holds it).  `ms` is the hold of a NAK or delay;
    `length` the bytes a short answer carries or that move before a disconnect; `value`
    the wrong bDescriptorType or the lying wTotalLength; `flips` the corrupted bytes.

    Raises ValueError for a combination that cannot happen (an IN-only kind on an OUT
    endpoint, a NAK without a duration).  Descriptor kinds watch GET_DESCRIPTOR unless
    the match names another request.
    """

    kind: FaultKind
    match: Match = Match()
    count: int = 1
    ms: float = 0.0
    length: int | None = None
    value: int | None = None
    flips: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.kind, FaultKind):
            raise TypeError(f"Fault.kind={self.kind!r}: give a FaultKind")
        kind, ep = self.kind, self.match.ep
        if kind in _IN_ONLY and ep is not None and ep & 0x0F and not ep & 0x80:
            raise ValueError(f"{kind.value} happens on IN transfers; ep={ep:#04x} is OUT")
        if kind in _DEFAULT_MATCH and self.match.bRequest is None \
                and self.match.descriptor is None:
            object.__setattr__(self, "match", replace(self.match, **_DEFAULT_MATCH[kind]))
        if kind in _TIMED and not 0 < self.ms < math.inf:
            raise ValueError(f"{kind.value} needs ms > 0 (how long the device holds off)")
        if self.count < 0 or self.flips < 1 or (self.length is not None and self.length < 0):
            raise ValueError(f"{kind.value}: count ≥ 0, flips ≥ 1 and length ≥ 0, got "
                             f"count={self.count}, flips={self.flips}, length={self.length}")
        if self.value is not None and not 0 <= self.value <= 0xFFFF:
            raise ValueError(f"{kind.value}: value={self.value} is outside 0..0xffff")

    def __str__(self) -> str:
        extra = [f"{name}={getattr(self, name):g}" if name == "ms"
                 else f"{name}={getattr(self, name)}" for name in _FAULT_FIELDS
                 if getattr(self, name) != _FAULT_DEFAULTS[name]]
        return " ".join(filter(None, (self.kind.value, str(self.match), *extra)))


_MATCH_FIELDS: Final = tuple(f.name for f in fields(Match))
_MATCH_DEFAULTS: Final = {f.name: f.default for f in fields(Match)}
_FAULT_FIELDS: Final = ("count", "ms", "length", "value", "flips")
_FAULT_DEFAULTS: Final = {f.name: f.default for f in fields(Fault) if f.name in _FAULT_FIELDS}
_OPTION_TEXT: Final[Mapping[str, Callable[[object], str]]] = {
    "ep": lambda v: f"ep={v:#04x}",
    "bmRequestType": lambda v: f"bmRequestType={v:#04x}",
    "bRequest": lambda v: f"bRequest={v:#04x}",
    "wValue": lambda v: f"wValue={v:#06x}",
    "descriptor": lambda v: f"descriptor={v:#04x}",
    "nth": lambda v: f"nth={v}",
    "every": lambda v: f"every={v}",
    "probability": lambda v: f"probability={v:g}",
}


@dataclass(frozen=True)
class FaultHit:
    """One fault that hit: when (machine seconds; None without a clock), which fault (its
    index in the plan), what it did, the transfer it hit and its occurrence number."""

    when: float | None
    index: int
    kind: FaultKind
    transfer: str
    occurrence: int

    def __str__(self) -> str:
        when = "-" if self.when is None else f"{self.when:.6f}"
        return (f"[{when}] fault {self.index}: {self.kind.value} on {self.transfer} "
                f"(occurrence {self.occurrence})")


@dataclass
class _Armed:
    fault: Fault
    seen: int = 0
    hits: int = 0

    @property
    def spent(self) -> bool:
        return bool(self.fault.count) and self.hits >= self.fault.count


@dataclass
class _Hold:
    """An endpoint the plan NAKs for: until a timer releases it, or for ever."""

    released: bool = False


@dataclass
class _Transfer:
    """One transfer as the plan sees it: the model, endpoint, direction, setup packet
    (control), the IN buffer (`reply`) and `run(limit)`, which moves it as the model
    would, at most `limit` bytes of it (None: all)."""

    model: DeviceModel
    address: int
    is_in: bool
    setup: SetupPacket | None
    reply: memoryview | None
    run: Callable[[int | None], tuple[Outcome, int]]
    ready: Callable[[], None]

    def describe(self) -> str:
        setup = self.setup
        if setup is None:
            direction = "IN" if self.is_in else "OUT"
            return f"ep {self.address:#04x} {direction}"
        name = _REQUEST_NAMES.get(setup.bRequest, f"request {setup.bRequest:#04x}")
        return (f"ep 0x00 {name} {setup.bmRequestType:02x} {setup.bRequest:02x} "
                f"{setup.wValue:04x} {setup.wIndex:04x} {setup.wLength}")


_REQUEST_NAMES: Final = {int(r): r.name for r in Request}

Action = Callable[["FaultPlan", _Transfer, _Armed], tuple[Outcome, int]]


class FaultPlan:
    """A seeded, declarative list of faults for one device model.

    `add` arms a fault, `clear` disarms every fault and ends every NAK it holds, `record`
    lists the hits.  The plan is consulted by the model it is attached to
    (`inject_faults`); consulting it is atomic and never blocks.
    """

    def __init__(self, faults: Iterable[Fault] = (), *, seed: int = 0) -> None:
        self.seed = seed
        self.random = random.Random(seed)
        self.record: list[FaultHit] = []
        self._armed: list[_Armed] = []
        self._holds: dict[int, _Hold] = {}
        self._held: dict[int, Callable[[], None]] = {}
        self._proxies: dict[int, _FaultyEndpoint] = {}
        self._ep0: Endpoint | None = None
        for fault in faults:
            self.add(fault)

    def __repr__(self) -> str:
        return f"<FaultPlan seed={self.seed} faults={len(self._armed)} hits={len(self.record)}>"

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The armed faults, in the order they are tried."""
        return tuple(armed.fault for armed in self._armed)

    def hits(self, index: int) -> int:
        """How often fault `index` has hit.  Context: atomic.  Raises IndexError for no
        such fault."""
        return self._armed[index].hits

    def add(self, fault: Fault) -> int:
        """Arm `fault` after the others; returns its index.  Context: atomic.  Raises
        TypeError for anything but a Fault."""
        if not isinstance(fault, Fault):
            raise TypeError(f"FaultPlan.add({fault!r}): give a Fault")
        self._armed.append(_Armed(fault))
        return len(self._armed) - 1

    def clear(self) -> None:
        """Disarm every fault and let every held endpoint answer again (the transfers it
        NAKed are retried).  The record stays.  Context: atomic."""
        self._armed.clear()
        holds, self._holds = self._holds, {}
        wakers, self._held = self._held, {}
        for hold in holds.values():
            hold.released = True
        for wake in wakers.values():
            wake()

    def describe(self) -> str:
        """The armed faults, one line each: index, fault, hits so far.  Context: atomic."""
        return "".join(f"{i}: {a.fault} (hit {a.hits} time{'' if a.hits == 1 else 's'})\n"
                       for i, a in enumerate(self._armed))

    # -- the model's entry points --------------------------------------------------------------

    def control(self, model: DeviceModel, setup: SetupPacket | bytes, data: bytes | memoryview,
                dst: memoryview | None) -> tuple[Outcome, int]:
        """A control transfer through the plan (`DeviceModel.control`); returns what the
        model's endpoint 0 answers, or what a fault makes of it.  Context: atomic."""
        packet = setup if isinstance(setup, SetupPacket) else SetupPacket.unpack(setup)
        reply = dst
        if packet.is_in and reply is None:
            reply = memoryview(bytearray(packet.wLength))

        def run(limit: int | None) -> tuple[Outcome, int]:
            return model.ep0.transfer(packet, data, reply)

        return self._consult(_Transfer(model, 0, packet.is_in, packet, reply, run,
                                       lambda: self._wake_ep0(model)))

    def endpoint(self, ep: Endpoint) -> Endpoint:
        """The endpoint the host's tokens reach while the plan is attached
        (`DeviceModel.token_endpoint`): `ep` as the plan lets it answer (one view per
        endpoint, kept while the endpoint lives).  Context: atomic."""
        proxy = self._proxies.get(ep.address)
        if proxy is None or proxy.inner is not ep:
            proxy = self._proxies[ep.address] = _FaultyEndpoint(self, ep)
        return proxy

    def _pull_in(self, ep: Endpoint, dst: memoryview) -> tuple[Outcome, int]:
        model = ep.model
        if model is None:
            return ep.pull_in(dst)

        def run(limit: int | None) -> tuple[Outcome, int]:
            return ep.pull_in(dst if limit is None else dst[:limit])

        return self._consult(_Transfer(model, ep.address, True, None, dst, run,
                                       ep.notify_ready))

    def _push_out(self, ep: Endpoint, src: memoryview, zlp: bool) -> tuple[Outcome, int]:
        model = ep.model
        if model is None:
            return ep.push_out(src, zlp)

        def run(limit: int | None) -> tuple[Outcome, int]:
            return ep.push_out(src, zlp) if limit is None else ep.push_out(src[:limit])

        return self._consult(_Transfer(model, ep.address, False, None, None, run,
                                       ep.notify_ready))

    # -- deciding ------------------------------------------------------------------------------

    def _consult(self, transfer: _Transfer) -> tuple[Outcome, int]:
        hold = self._holds.get(transfer.address)
        if hold is not None:
            if not hold.released:
                self._held[transfer.address] = transfer.ready
                return Outcome.NAK, 0
            del self._holds[transfer.address]
            return transfer.run(None)  # the held transfer, answered at last
        armed = self._pick(transfer)
        if armed is None:
            return transfer.run(None)
        action: Action = _ACTIONS[armed.fault.kind]
        return action(self, transfer, armed)

    def _pick(self, transfer: _Transfer) -> _Armed | None:
        """Count the transfer for every fault watching it; the first that hits wins."""
        chosen: _Armed | None = None
        for index, armed in enumerate(self._armed):
            fault = armed.fault
            match = fault.match
            if armed.spent or not match.watches(transfer.address, transfer.setup):
                continue
            if fault.kind in _IN_ONLY and not transfer.is_in:
                continue
            armed.seen += 1
            due = armed.seen >= match.nth and (armed.seen - match.nth) % match.every == 0
            if not due or chosen is not None:
                continue
            if match.probability < 1.0 and self.random.random() >= match.probability:
                continue
            armed.hits += 1
            chosen = armed
            self.record.append(FaultHit(_now(transfer.model), index, fault.kind,
                                        transfer.describe(), armed.seen))
        return chosen

    # -- holding an endpoint: NAK, delay ------------------------------------------------------

    def _hold(self, transfer: _Transfer, ms: float | None) -> None:
        """NAK transfers to the endpoint until `ms` have passed (None, or a model that
        keeps no time: until cleared)."""
        hold = self._holds[transfer.address] = _Hold()
        self._held[transfer.address] = transfer.ready
        clock = transfer.model.clock
        if ms is None or clock is None:
            return

        def release() -> None:
            if hold.released or self._holds.get(transfer.address) is not hold:
                return
            hold.released = True
            wake = self._held.pop(transfer.address, None)
            if wake is not None:
                wake()

        clock.call_at(clock.time() + ms / 1000, release)

    def _wake_ep0(self, model: DeviceModel) -> None:
        host = model.host
        if host is None:
            return
        ep0 = self._ep0
        if ep0 is None or ep0.maxpacket != model.ep0.maxpacket:
            ep0 = self._ep0 = Endpoint(None, EndpointDescriptor(0, 0, model.ep0.maxpacket))
        host.endpoint_ready(model, ep0)

    def _unplug(self, model: DeviceModel) -> bool:
        """Pull the model out of its port just after the current transfer; False when it
        has no clock to do it after (then it is pulled out now)."""
        port = model.port
        owner = getattr(port, "owner", None)
        port1 = getattr(port, "port1", None)

        def pull() -> None:
            if model.port is port and owner is not None and port1 is not None:
                owner.detach(port1)
            elif model.port is port:
                model.disconnect()

        clock = model.clock
        if clock is None:
            pull()
            return False
        clock.call_at(clock.time(), pull)
        return True


def _now(model: DeviceModel) -> float | None:
    clock = model.clock
    return None if clock is None else clock.time()


class _FaultyEndpoint(Endpoint):
    """A data endpoint as the host's tokens see it while a plan is attached: transfers
    go through the plan, isochronous packets straight to the endpoint."""

    __slots__ = ("inner", "plan")

    def __init__(self, plan: FaultPlan, inner: Endpoint) -> None:
        super().__init__(inner.model, inner.desc)
        self.mult, self.period_us = inner.mult, inner.period_us
        self.inner, self.plan = inner, plan

    def pull_in(self, dst: memoryview) -> tuple[Outcome, int]:
        return self.plan._pull_in(self.inner, dst)

    def push_out(self, src: memoryview, zlp: bool = False) -> tuple[Outcome, int]:
        return self.plan._push_out(self.inner, src, zlp)

    def iso_in(self, length: int) -> bytes:
        return self.inner.iso_in(length)

    def iso_out(self, data: memoryview) -> None:
        self.inner.iso_out(data)


# -- what each kind does ------------------------------------------------------------------------

def _stall(plan: FaultPlan, t: _Transfer, armed: _Armed) -> tuple[Outcome, int]:
    if t.setup is None:
        ep = t.model.endpoint(t.address)
        if ep is not None:
            ep.halted = True  # ENDPOINT_HALT: until the host's CLEAR_FEATURE
    return Outcome.STALL, 0


def _nak_for(plan: FaultPlan, t: _Transfer, armed: _Armed) -> tuple[Outcome, int]:
    plan._hold(t, armed.fault.ms)
    return Outcome.NAK, 0


def _nak_forever(plan: FaultPlan, t: _Transfer, armed: _Armed) -> tuple[Outcome, int]:
    plan._hold(t, None)
    return Outcome.NAK, 0


def _answer(outcome: Outcome) -> Action:
    def act(plan: FaultPlan, t: _Transfer, armed: _Armed) -> tuple[Outcome, int]:
        return outcome, 0
    return act


def _short(plan: FaultPlan, t: _Transfer, armed: _Armed) -> tuple[Outcome, int]:
    outcome, n = t.run(None)
    if outcome is not Outcome.DONE:
        return outcome, n
    length = armed.fault.length
    return Outcome.DONE, min(n, n // 2 if length is None else length)


def _zlp(plan: FaultPlan, t: _Transfer, armed: _Armed) -> tuple[Outcome, int]:
    return Outcome.DONE, 0


def _disconnect(plan: FaultPlan, t: _Transfer, armed: _Armed) -> tuple[Outcome, int]:
    length = armed.fault.length
    n = t.run(length)[1] if length and t.setup is None else 0
    if not plan._unplug(t.model):
        return Outcome.NO_RESPONSE, n
    return Outcome.NAK, n


def _edit(change: Callable[[FaultPlan, memoryview, _Armed], None]) -> Action:
    """A descriptor fault: the model answers, then the reply is changed."""
    def act(plan: FaultPlan, t: _Transfer, armed: _Armed) -> tuple[Outcome, int]:
        outcome, n = t.run(None)
        if outcome is Outcome.DONE and t.reply is not None and n >= 2:
            change(plan, t.reply[:n], armed)
        return outcome, n
    return act


def _corrupt(plan: FaultPlan, reply: memoryview, armed: _Armed) -> None:
    for _ in range(armed.fault.flips):
        reply[plan.random.randrange(len(reply))] ^= plan.random.randrange(1, 256)


def _wrong_type(plan: FaultPlan, reply: memoryview, armed: _Armed) -> None:
    value = armed.fault.value
    reply[1] = (reply[1] + 1) & 0xFF if value is None else value & 0xFF


def _lying_length(plan: FaultPlan, reply: memoryview, armed: _Armed) -> None:
    if reply[1] not in _TOTAL_LENGTH_TYPES or len(reply) < 4:
        return
    value = armed.fault.value
    total = min(reply[2] | reply[3] << 8, 0xFFFF - 64) + 64 if value is None else value
    reply[2], reply[3] = total & 0xFF, total >> 8


def _changing(plan: FaultPlan, reply: memoryview, armed: _Armed) -> None:
    offset = _CHANGING_OFFSET.get(reply[1], len(reply) - 1)
    if offset < len(reply):
        reply[offset] = (reply[offset] + armed.hits) & 0xFF


_ACTIONS: Final[Mapping[FaultKind, Action]] = {
    FaultKind.STALL: _stall,
    FaultKind.NAK: _nak_for,
    FaultKind.DELAY: _nak_for,
    FaultKind.NAK_FOREVER: _nak_forever,
    FaultKind.BABBLE: _answer(Outcome.BABBLE),
    FaultKind.CRC: _answer(Outcome.CRC),
    FaultKind.BITSTUFF: _answer(Outcome.BITSTUFF),
    FaultKind.SHORT: _short,
    FaultKind.ZLP: _zlp,
    FaultKind.DISCONNECT: _disconnect,
    FaultKind.CORRUPT_DESCRIPTOR: _edit(_corrupt),
    FaultKind.WRONG_DESCRIPTOR_TYPE: _edit(_wrong_type),
    FaultKind.LYING_TOTAL_LENGTH: _edit(_lying_length),
    FaultKind.CHANGING_DESCRIPTORS: _edit(_changing),
}


# -- attaching, and faults from words ----------------------------------------------------------

def inject_faults(model: DeviceModel, plan: FaultPlan | None) -> FaultPlan | None:
    """Attach `plan` to `model` (None: detach).  A plan that is replaced is cleared first,
    so the transfers it held are answered.  Returns the plan attached before.
    Context: atomic."""
    old = model.faults
    if old is not None and old is not plan:
        old.clear()
    model.faults = plan
    return old


def _number(text: str, what: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"{what}={text!r}: give a number (decimal or 0x hex)") from None


def _named(enum: type[Request] | type[DescriptorType]) -> Callable[[str, str], int]:
    def conv(text: str, what: str) -> int:
        member = enum.__members__.get(text.upper())
        return int(member) if member is not None else _number(text, what)
    return conv


def _fraction(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what}={text!r}: give a number from 0 to 1") from None


def _millis(text: str, what: str) -> float:
    try:
        return float(text.removesuffix("ms"))
    except ValueError:
        raise ValueError(f"{what}={text!r}: give milliseconds, like 250") from None


#: option name → (the Fault or Match field, converter).
_OPTIONS: Final[Mapping[str, tuple[str, Callable[[str, str], int | float]]]] = {
    "ep": ("ep", _number),
    "bmRequestType": ("bmRequestType", _number),
    "bRequest": ("bRequest", _named(Request)),
    "request": ("bRequest", _named(Request)),
    "wValue": ("wValue", _number),
    "descriptor": ("descriptor", _named(DescriptorType)),
    "nth": ("nth", _number),
    "every": ("every", _number),
    "probability": ("probability", _fraction),
    "p": ("probability", _fraction),
    "count": ("count", _number),
    "ms": ("ms", _millis),
    "length": ("length", _number),
    "value": ("value", _number),
    "flips": ("flips", _number),
}
FAULT_OPTIONS: Final = tuple(_OPTIONS)
"""The option names `parse_fault` accepts."""


def parse_fault(kind: str, options: Mapping[str, str]) -> Fault:
    """A fault from words, as the shell and scenario files give it: a kind name
    ("stall", "nak", … `FaultKind` values) and NAME=VALUE options (`FAULT_OPTIONS`:
    numbers in decimal or 0x hex; bRequest and descriptor also by name, GET_DESCRIPTOR,
    CONFIG).  Raises ValueError naming the word to fix."""
    try:
        fault_kind = FaultKind(kind.lower().replace("-", "_"))
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"no fault kind {kind!r}; known kinds: {known}") from None
    match_args: dict[str, int | float] = {}
    fault_args: dict[str, int | float] = {}
    for name, text in options.items():
        entry = _OPTIONS.get(name)
        if entry is None:
            raise ValueError(f"unknown fault option {name!r}; known options: "
                             f"{', '.join(FAULT_OPTIONS)}")
        target, conv = entry
        (match_args if target in _MATCH_DEFAULTS else fault_args)[target] = conv(text, name)
    return Fault(fault_kind, Match(**match_args), **fault_args)  # type: ignore[arg-type]
