"""Device fuzzing — hostile descriptor sets and behaviours enumerated on the emulated bus,
the harness side of what syzkaller does to Linux with raw-gadget
(drivers/usb/gadget/legacy/raw_gadget.c) against drivers/usb/core/hub.c and config.c.

A `FuzzCase` is what one hostile device answers: its device descriptor, configurations,
strings, BOS and qualifier as raw bytes (nothing checks them), the reply it gives class and
vendor requests, the data its IN endpoints send, and `Fault`s — STALL, no answer, short
answers, babble, corrupted bytes, an unplug mid-request — on chosen requests.
`HostileDevice` is the model that serves a case.  `random_case` draws cases from a
`random.Random` (valid sets, sets mutated from the built-in models, and sets built field
by field with hostile values, then byte flips, truncation, lying lengths and wrong types);
`fuzz_cases()` is the same generator as a hypothesis strategy.  `fuzz_one` plugs a case
next to a well-behaved witness behind a hub on a machine from `fuzz_machine()`, lets the
hub driver enumerate it, and checks the rule: no exception escapes and no oops is logged,
the machine settles within a bound of machine time, the hostile device ends rejected,
addressed or configured, the witness still answers, the device nodes its drivers made
survive a write, a read and an unplug while open, and after the unplug no task, device
number or device is left behind.  `minimise` shrinks a failing case; `run_campaign`
(``python -m usbemu.testing.fuzz``) runs many cases, writes each failure as a JSON repro
file and prints its figures.  What it does not do: SuperSpeed devices, or faults on data
endpoints other than what they send.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..core.message import usb_get_descriptor
from ..emulated.device import DeviceModel
from ..emulated.endpoint import Outcome as Handshake
from ..emulated.endpoint import Stall
from ..emulated.models import BUILTIN_MODELS, load_model
from ..emulated.models.hub import Hub
from ..emulated.models.mouse import BOOT_MOUSE_REPORT_DESCRIPTOR
from ..emulated.models.zero import GadgetZero
from ..errors import SettleTimeout
from ..kernel.printk import LogRecord
from ..kernel.syscalls import AsyncFile
from ..spec.ch9 import DescriptorSize, DescriptorType, DeviceState, Request, SetupPacket, Speed
from ..spec.config import parse_configuration, parse_device
from ..spec.descriptors import (
    ConfigDescriptor,
    DescriptorError,
    DescriptorSet,
    DeviceDescriptor,
    EndpointDescriptor,
    StringTable,
)
from ..system import System

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from ..core.usb import UsbDevice

__all__ = [
    "ENUMERATION_BOUND_S", "HOSTILE_PORT", "HUB_PORT", "IO_BOUND_S", "WITNESS_PORT",
    "Action", "CampaignReport", "Fault", "FuzzCase", "HostileDevice", "Outcome", "Target",
    "fuzz_cases", "fuzz_machine", "fuzz_one", "main", "minimise", "random_case", "replay",
    "request_target", "run_campaign", "seed_cases",
]

#: Where `fuzz_machine` puts the hub, the witness and the hostile device.
HUB_PORT: Final = "1-1"
WITNESS_PORT: Final = "1-1.1"
HOSTILE_PORT: Final = "1-1.2"
#: Machine time the plug (and the unplug) of one case may take before it counts as a hang:
#: longer than anything Linux's timeouts add up to for one device (four enumeration
#: attempts, usb-storage's command timeouts and resets).
ENUMERATION_BOUND_S: Final = 900.0
#: Machine time the witness has to answer its transfer.
WITNESS_TIMEOUT_S: Final = 10.0
#: Machine time the opens, writes and reads of the device's nodes may take together
#: (a block device's open reads the partition table through usb-storage's timeouts).
IO_BOUND_S: Final = 600.0
#: What is written to each node the device's drivers create.
_IO_PROBE: Final = b"\x00\xffusbemu fuzz\r\n"

_STD_IN_DEVICE: Final = 0x80
_STD_IN_INTERFACE: Final = 0x81
_REQUEST_TYPE_MASK: Final = 0x60
_TYPE_STANDARD: Final = 0x00
#: Log lines that mean a bug in the stack (an oops) or a task blocked for good.
_TROUBLE: Final = ("BUG:", "blocked for more than", "shutdown did not finish")


# -- what a hostile device does ------------------------------------------------------------------


class Target(Enum):
    """The requests a `Fault` applies to."""

    DEVICE = "device"                #: GET_DESCRIPTOR(DEVICE)
    CONFIG = "config"                #: GET_DESCRIPTOR(CONFIG)
    STRING = "string"                #: GET_DESCRIPTOR(STRING)
    BOS = "bos"                      #: GET_DESCRIPTOR(BOS)
    QUALIFIER = "qualifier"          #: GET_DESCRIPTOR(DEVICE_QUALIFIER)
    SET_ADDRESS = "set-address"
    SET_CONFIGURATION = "set-configuration"
    CLASS = "class"                  #: class and vendor requests, interface GET_DESCRIPTOR
    ANY = "any"                      #: every control request


class Action(Enum):
    """What the device does to a request a `Fault` matches."""

    STALL = "stall"                  #: STALL handshake (-EPIPE at the host)
    SILENT = "no-response"           #: no handshake at all (-EPROTO at the host)
    SHORT = "short"                  #: answers at most `Fault.length` bytes
    BABBLE = "babble"                #: sends more than the host asked for (-EOVERFLOW)
    CORRUPT = "corrupt"              #: answers with byte `Fault.length` (mod size) inverted
    DISCONNECT = "disconnect"        #: no answer, and the device is unplugged at once


@dataclass(frozen=True)
class Fault:
    """One misbehaviour: `action` on the requests of `target` — every one of them when
    `nth` is 0, else only the nth (1-based) since the device was plugged in."""

    target: Target
    action: Action
    nth: int = 0
    length: int = 0


_GET_DESCRIPTOR_TARGETS: Final[dict[int, Target]] = {
    DescriptorType.DEVICE: Target.DEVICE, DescriptorType.CONFIG: Target.CONFIG,
    DescriptorType.STRING: Target.STRING, DescriptorType.BOS: Target.BOS,
    DescriptorType.DEVICE_QUALIFIER: Target.QUALIFIER,
}
_STANDARD_TARGETS: Final[dict[tuple[int, int], Target]] = {
    (0x00, Request.SET_ADDRESS): Target.SET_ADDRESS,
    (0x00, Request.SET_CONFIGURATION): Target.SET_CONFIGURATION,
}


def request_target(setup: SetupPacket) -> Target:
    """The `Target` a control request belongs to (ANY for standard requests that have no
    target of their own).  Context: pure function."""
    if setup.bmRequestType & _REQUEST_TYPE_MASK != _TYPE_STANDARD \
            or setup.bmRequestType == _STD_IN_INTERFACE:
        return Target.CLASS
    if setup.bmRequestType == _STD_IN_DEVICE and setup.bRequest == Request.GET_DESCRIPTOR:
        return _GET_DESCRIPTOR_TARGETS.get(setup.wValue >> 8, Target.ANY)
    return _STANDARD_TARGETS.get((setup.bmRequestType, setup.bRequest), Target.ANY)


@dataclass(frozen=True)
class FuzzCase:
    """Everything one hostile device answers, as raw bytes.

    `device` answers GET_DESCRIPTOR(DEVICE); `configs[i]` GET_DESCRIPTOR(CONFIG, i);
    `strings[i]` GET_DESCRIPTOR(STRING, i) in every language (index 0 is the LANGID table);
    `bos` and `qualifier` their requests (None: STALL).  `class_reply` answers every class
    or vendor request and GET_DESCRIPTOR to an interface (None: STALL); `in_data` is sent
    once on each IN endpoint when it is created (then it NAKs).  `speed` is the device's
    speed (low, full or high), `faults` its misbehaviours.
    """

    device: bytes
    configs: tuple[bytes, ...] = ()
    strings: tuple[bytes, ...] = ()
    bos: bytes | None = None
    qualifier: bytes | None = None
    class_reply: bytes | None = None
    in_data: bytes = b""
    speed: Speed = Speed.HIGH
    faults: tuple[Fault, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The case as JSON-ready data (bytes as hex text)."""
        def hexed(raw: bytes | None) -> str | None:
            return None if raw is None else raw.hex()
        return {
            "device": self.device.hex(), "configs": [c.hex() for c in self.configs],
            "strings": [s.hex() for s in self.strings], "bos": hexed(self.bos),
            "qualifier": hexed(self.qualifier), "class_reply": hexed(self.class_reply),
            "in_data": self.in_data.hex(), "speed": self.speed.name.lower(),
            "faults": [{"target": f.target.value, "action": f.action.value, "nth": f.nth,
                        "length": f.length} for f in self.faults],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FuzzCase:
        """The case `to_json` gave.  Raises ValueError or KeyError naming what is wrong."""
        def unhex(text: str | None) -> bytes | None:
            return None if text is None else bytes.fromhex(text)
        return cls(
            device=bytes.fromhex(data["device"]),
            configs=tuple(bytes.fromhex(c) for c in data.get("configs", ())),
            strings=tuple(bytes.fromhex(s) for s in data.get("strings", ())),
            bos=unhex(data.get("bos")), qualifier=unhex(data.get("qualifier")),
            class_reply=unhex(data.get("class_reply")),
            in_data=bytes.fromhex(data.get("in_data", "")),
            speed=Speed[str(data.get("speed", "high")).upper()],
            faults=tuple(Fault(Target(f["target"]), Action(f["action"]), int(f.get("nth", 0)),
                               int(f.get("length", 0))) for f in data.get("faults", ())),
        )


# -- the hostile model ---------------------------------------------------------------------------

#: A device's physical ep0 maxpacket, whatever its descriptor claims.
_EP0_SIZES: Final = (8, 16, 32, 64)
#: The packet size an endpoint has on the wire when its descriptor claims 0.
_FALLBACK_MAXPACKET: Final = 8


def _own_device(case: FuzzCase) -> DeviceDescriptor:
    """The device descriptor the model works with: the case's as Linux decodes it, with a
    real ep0 size; a placeholder when the case's cannot be decoded."""
    try:
        device = parse_device(case.device)
    except DescriptorError:
        device = DeviceDescriptor(0, 0)
    claimed = device.bMaxPacketSize0
    maxp0 = 8 if case.speed == Speed.LOW else (claimed if claimed in _EP0_SIZES else 64)
    return replace(device, bMaxPacketSize0=maxp0, bLength=None, configurations=())


def _wire_endpoint(ep: EndpointDescriptor) -> EndpointDescriptor:
    if ep.maxpacket:
        return ep
    return replace(ep, wMaxPacketSize=ep.wMaxPacketSize | _FALLBACK_MAXPACKET)


def _own_configs(case: FuzzCase) -> tuple[ConfigDescriptor, ...]:
    """The configurations the model can be set to: each one Linux can parse, with a
    packet size on every endpoint."""
    configs = []
    for index, raw in enumerate(case.configs):
        try:
            config = parse_configuration(raw, index, case.speed).config
        except DescriptorError:
            continue
        interfaces = tuple(replace(alt, endpoints=tuple(_wire_endpoint(ep)
                                                        for ep in alt.endpoints))
                           for alt in config.interfaces)
        configs.append(replace(config, interfaces=interfaces))
    return tuple(configs)


def _indexed(items: tuple[bytes, ...], index: int) -> bytes | None:
    return items[index] if index < len(items) else None


#: What a hostile device answers to GET_DESCRIPTOR(type, index); None: STALL.
_ANSWERS: Final[dict[int, Callable[[FuzzCase, int], bytes | None]]] = {
    DescriptorType.DEVICE: lambda case, index: case.device,
    DescriptorType.CONFIG: lambda case, index: _indexed(case.configs, index),
    DescriptorType.STRING: lambda case, index: _indexed(case.strings, index),
    DescriptorType.BOS: lambda case, index: case.bos,
    DescriptorType.DEVICE_QUALIFIER: lambda case, index: case.qualifier,
}


class HostileDevice(DeviceModel):
    """A device model that serves a `FuzzCase`: raw descriptor bytes, its class reply, its
    IN data and its faults; the chapter 9 state machine and SET_CONFIGURATION work on the
    configurations that parse (as Linux parses them).  `requests` counts the control
    requests seen per `Target`."""

    model_name = "hostile"

    def __init__(self, case: FuzzCase) -> None:
        self.case = case
        device = replace(_own_device(case), configurations=_own_configs(case))
        descriptors = DescriptorSet(device=device, device_bytes=case.device,
                                    config_bytes=case.configs, strings=StringTable((), {}))
        super().__init__(descriptors, speed=case.speed)
        self.requests: dict[Target, int] = {}
        #: Called (atomic context) when a DISCONNECT fault fires: whoever plugged the
        #: device in unplugs it, once the transfer in progress has had its answer.
        self.unplug: Callable[[], object] | None = None

    @property
    def link_descriptors(self) -> DescriptorSet:
        """The case's descriptors, at whatever speed the link runs.  Context: atomic."""
        return self.descriptors

    def _fault(self, setup: SetupPacket) -> Fault | None:
        target = request_target(setup)
        counts = self.requests
        counts[target] = counts.get(target, 0) + 1
        counts[Target.ANY] = counts.get(Target.ANY, 0) + (target is not Target.ANY)
        for fault in self.case.faults:
            if fault.target in (target, Target.ANY) and fault.nth in (0, counts[fault.target]):
                return fault
        return None

    def control(self, setup: SetupPacket | bytes, data: bytes | memoryview = b"",
                dst: memoryview | None = None) -> tuple[Handshake, int]:
        """One control transfer, with the case's faults applied.  Context: atomic."""
        if self.state < DeviceState.DEFAULT or self.state is DeviceState.SUSPENDED:
            return Handshake.NO_RESPONSE, 0
        packet = setup if isinstance(setup, SetupPacket) else SetupPacket.unpack(setup)
        fault = self._fault(packet)
        if fault is None:
            return super().control(packet, data, dst)
        return _FAULTS[fault.action](self, packet, data, dst, fault)

    def control_request(self, setup: SetupPacket, data: bytes) -> bytes | None:
        """GET_DESCRIPTOR from the case's bytes; class and vendor requests get
        `class_reply` (or STALL); the rest as any device."""
        if request_target(setup) is Target.CLASS:
            reply = self.case.class_reply
            if reply is None:
                raise Stall
            return reply if setup.bmRequestType & 0x80 else None
        if setup.bmRequestType == _STD_IN_DEVICE and setup.bRequest == Request.GET_DESCRIPTOR:
            return self._descriptor(setup.wValue >> 8, setup.wValue & 0xFF)
        return super().control_request(setup, data)

    def _descriptor(self, dtype: int, index: int) -> bytes:
        answer = _ANSWERS.get(dtype)
        found = None if answer is None else answer(self.case, index)
        if found is None:
            raise Stall
        return found

    def on_configuration(self, config: ConfigDescriptor | None) -> None:
        """IN endpoints of the new configuration get `in_data` once."""
        self._send_in_data()

    def on_interface(self, interface: int, alt: int) -> None:
        """IN endpoints of the new altsetting get `in_data` once."""
        self._send_in_data()

    def _send_in_data(self) -> None:
        if self.case.in_data:
            for ep in self.endpoints():
                if ep.is_in and not ep.queued:
                    ep.write(self.case.in_data)


FaultAction = Callable[[HostileDevice, SetupPacket, "bytes | memoryview", "memoryview | None",
                        Fault], "tuple[Handshake, int]"]


def _stall(dev: HostileDevice, setup: SetupPacket, data: bytes | memoryview,
           dst: memoryview | None, fault: Fault) -> tuple[Handshake, int]:
    return Handshake.STALL, 0


def _silent(dev: HostileDevice, setup: SetupPacket, data: bytes | memoryview,
            dst: memoryview | None, fault: Fault) -> tuple[Handshake, int]:
    return Handshake.NO_RESPONSE, 0


def _short(dev: HostileDevice, setup: SetupPacket, data: bytes | memoryview,
           dst: memoryview | None, fault: Fault) -> tuple[Handshake, int]:
    cut = None if dst is None else dst[:fault.length]
    return DeviceModel.control(dev, setup, data, cut)


def _babble(dev: HostileDevice, setup: SetupPacket, data: bytes | memoryview,
            dst: memoryview | None, fault: Fault) -> tuple[Handshake, int]:
    if dst is None or not setup.bmRequestType & 0x80:
        return Handshake.STALL, 0
    outcome, n = DeviceModel.control(dev, setup, data, dst)
    return (Handshake.BABBLE, n) if outcome is Handshake.DONE else (outcome, n)


def _corrupt(dev: HostileDevice, setup: SetupPacket, data: bytes | memoryview,
             dst: memoryview | None, fault: Fault) -> tuple[Handshake, int]:
    outcome, n = DeviceModel.control(dev, setup, data, dst)
    if dst is not None and n:
        dst[fault.length % n] ^= 0xFF
    return outcome, n


def _disconnect(dev: HostileDevice, setup: SetupPacket, data: bytes | memoryview,
                dst: memoryview | None, fault: Fault) -> tuple[Handshake, int]:
    unplug, dev.unplug = dev.unplug, None
    if unplug is not None:
        unplug()
    return Handshake.NO_RESPONSE, 0


_FAULTS: Final[dict[Action, FaultAction]] = {
    Action.STALL: _stall, Action.SILENT: _silent, Action.SHORT: _short,
    Action.BABBLE: _babble, Action.CORRUPT: _corrupt, Action.DISCONNECT: _disconnect,
}


# -- generating cases ----------------------------------------------------------------------------

#: The speeds a case runs at, with their weights.
_SPEEDS: Final = ((Speed.HIGH, 6), (Speed.FULL, 3), (Speed.LOW, 1))
_CLASSES: Final = (0x00, 0xFF, 0x02, 0x03, 0x08, 0x09, 0x0A, 0xEF, 0xDC, 0xE0, 0x07, 0x01)
_MAXP: Final = (0, 8, 16, 32, 64, 512, 1023, 1024, 0x1400, 0x1C00, 0x7FF, 0xFFFF)
_INTERVALS: Final = (0, 1, 4, 8, 10, 16, 17, 32, 255)
_JUNK_TYPES: Final = (0x21, 0x22, 0x24, 0x25, 0x29, 0x30, 0x0B, 0x0F, 0x01, 0x02, 0x04, 0x05,
                      0x00, 0xFF)
_LANGID_TABLE: Final = b"\x04\x03\x09\x04"


def _u16(value: int) -> bytes:
    return (value & 0xFFFF).to_bytes(2, "little")


def _odd(rng: random.Random, p: float = 0.1) -> bool:
    """True with probability `p`: time for a hostile value."""
    return rng.random() < p


def _endpoint(rng: random.Random, speed: Speed, taken: list[int]) -> bytes:
    kind = rng.randrange(4)
    free = [a for a in range(1, 16) if a not in taken and a | 0x80 not in taken]
    number = rng.choice(free) if free else rng.randint(1, 15)
    address = number | (0x80 if rng.random() < 0.5 else 0)
    if taken and _odd(rng, 0.05):
        address = rng.choice(taken)                       # a duplicate
    elif _odd(rng, 0.05):
        address = rng.choice((0x00, 0x80, 0x70, 0xF0, rng.randrange(256)))
    taken.append(address)
    attributes = kind | (rng.randrange(256) & 0x3C if _odd(rng) else 0)
    sizes = {Speed.LOW: 8, Speed.FULL: 64}.get(speed, 512 if kind == 2 else 1024)
    maxp = rng.choice(_MAXP) if _odd(rng, 0.2) else rng.choice((8, 16, 32, 64, sizes))
    interval = rng.choice(_INTERVALS) if _odd(rng, 0.2) else rng.choice((1, 4, 8, 10))
    length = 9 if _odd(rng, 0.05) else 7                  # an audio endpoint
    return bytes((length, DescriptorType.ENDPOINT, address, attributes)) + _u16(maxp) \
        + bytes((interval,)) + bytes(length - 7)


def _class_junk(rng: random.Random) -> bytes:
    kind = rng.choice(_JUNK_TYPES)
    body = rng.randbytes(rng.randrange(0, 12))
    if kind == 0x21 and rng.random() < 0.5:               # a HID descriptor
        body = b"\x11\x01\x00\x01\x22" + _u16(rng.choice((0, 52, 4096, 65535)))
    length = 2 + len(body)
    if _odd(rng):
        length = rng.randrange(256)
    return bytes((length & 0xFF, kind)) + body


def _interface(rng: random.Random, speed: Speed, number: int, alt: int) -> bytes:
    count = rng.choice((0, 1, 2, 2, 3, 4))
    if _odd(rng, 0.02):
        count = rng.randint(16, 33)                       # too many endpoints
    klass = rng.choice(_CLASSES)
    sub, proto = rng.randrange(8), rng.randrange(8)
    if klass == 0x08:
        sub, proto = rng.choice(((6, 0x50), (6, 0x62), (5, 0x50), (sub, proto)))
    if klass == 0x03:
        sub, proto = rng.choice(((1, 1), (1, 2), (0, 0), (sub, proto)))
    declared = count if not _odd(rng) else rng.randrange(256)
    parts = [bytes((9, DescriptorType.INTERFACE, number, alt, declared, klass, sub, proto,
                    rng.randrange(4)))]
    parts += [_class_junk(rng) for _ in range(rng.choice((0, 0, 0, 1, 2)))]
    taken: list[int] = []
    for _ in range(count):
        parts.append(_endpoint(rng, speed, taken))
        if _odd(rng):
            parts.append(_class_junk(rng))
    return b"".join(parts)


def _configuration(rng: random.Random, speed: Speed, value: int) -> bytes:
    count = rng.choice((1, 1, 1, 2, 2, 3, 4))
    if _odd(rng, 0.02):
        count = rng.randint(30, 40)                       # too many interfaces
    body: list[bytes] = []
    numbers = list(range(count))
    if _odd(rng):
        numbers = [rng.choice((0, 1, 2, 31, 32, 255)) for _ in numbers]
    for number in numbers:
        if _odd(rng, 0.05):
            body.append(bytes((8, DescriptorType.INTERFACE_ASSOCIATION, number, 2, 2, 2, 0, 0)))
        alts = 130 if _odd(rng, 0.01) else rng.choice((1, 1, 1, 2, 3))
        for alt in range(alts):
            setting = alt if not _odd(rng, 0.05) else rng.randrange(256)
            body.append(_interface(rng, speed, number, setting))
    if _odd(rng, 0.05):
        body.insert(rng.randrange(len(body) + 1), _class_junk(rng))
    payload = b"".join(body)
    declared = count if not _odd(rng) else rng.randrange(256)
    attributes = rng.choice((0x80, 0xC0, 0xA0, 0xE0)) if not _odd(rng) else rng.randrange(256)
    total = 9 + len(payload)
    return bytes((9, DescriptorType.CONFIG)) + _u16(total) + bytes(
        (declared, value, rng.randrange(4), attributes, rng.randrange(256))) + payload


def _string(rng: random.Random) -> bytes:
    text = "".join(rng.choice("Linux USB fuzz 0123456789 äöü€\u4e2d") for _ in
                   range(rng.randrange(0, 20)))
    raw = text.encode("utf-16-le")
    if _odd(rng, 0.2):
        raw += rng.choice((b"\x00\xd8", b"\x00\xdc", b"\xff", b"\x00\x00", b"\x41"))
    if _odd(rng, 0.05):
        raw = rng.randbytes(253)
    length = 2 + len(raw)
    if _odd(rng, 0.2):
        length = rng.choice((0, 1, 2, 3, 255, length + 1, max(0, length - 1)))
    dtype = DescriptorType.STRING if not _odd(rng, 0.05) else rng.randrange(256)
    return bytes((length & 0xFF, dtype)) + raw[:253]


def _bos(rng: random.Random) -> bytes:
    caps = [b"\x07\x10\x02" + _u16(rng.choice((0x02, 0x06, 0x1E, 0xF1E))) + b"\x00\x00"]
    if rng.random() < 0.3:
        caps.append(bytes((rng.randrange(256), DescriptorType.DEVICE_CAPABILITY,
                           rng.randrange(16))) + rng.randbytes(rng.randrange(24)))
    body = b"".join(caps)
    total = 5 + len(body) if not _odd(rng) else rng.randrange(65536)
    count = len(caps) if not _odd(rng) else rng.randrange(256)
    return bytes((5, DescriptorType.BOS)) + _u16(total) + bytes((count,)) + body


def _device(rng: random.Random, speed: Speed, configs: int, strings: int) -> bytes:
    bcd = rng.choice((0x0110, 0x0200, 0x0200, 0x0201, 0x0210, rng.randrange(65536)))
    maxp0 = {Speed.LOW: 8}.get(speed, rng.choice((8, 16, 32, 64, 64)))
    if _odd(rng):
        maxp0 = rng.choice((0, 7, 9, 65, 255))
    klass = rng.choice((0x00, 0x00, 0x00, 0xEF, 0xFF, 0x02, 0x09))
    count = configs if not _odd(rng) else rng.choice((0, 1, 2, 9, 255))

    def index() -> int:
        return rng.randrange(strings + 1) if not _odd(rng, 0.05) else rng.randrange(256)
    return bytes((18, DescriptorType.DEVICE)) + _u16(bcd) + bytes(
        (klass, rng.randrange(4), rng.randrange(4), maxp0)) + _u16(rng.randrange(65536)) \
        + _u16(rng.randrange(65536)) + _u16(rng.randrange(65536)) + bytes(
        (index(), index(), index(), count))


def _mutate_bytes(rng: random.Random, raw: bytes) -> bytes:
    """One hostile edit: flipped bytes, a cut, junk added, a lying bLength,
    wTotalLength or bDescriptorType."""
    data = bytearray(raw)
    edit = rng.randrange(6)
    if not data:
        return rng.randbytes(rng.randrange(20))
    if edit == 0:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif edit == 1:
        del data[rng.randrange(len(data)):]
    elif edit == 2:
        data[rng.randrange(len(data) + 1):0] = rng.randbytes(rng.randint(1, 16))
    elif edit == 3:
        data[_descriptor_offset(rng, data)] = rng.choice((0, 1, 2, 8, 9, 255, rng.randrange(256)))
    elif edit == 4 and len(data) >= 4:
        data[2:4] = _u16(rng.choice((0, 4, 8, 9, len(data) - 1, len(data) + 1, 0xFFFF)))
    else:
        data[min(_descriptor_offset(rng, data) + 1, len(data) - 1)] = rng.randrange(256)
    return bytes(data)


def _descriptor_offset(rng: random.Random, data: bytearray) -> int:
    """The offset of one descriptor of a chain (walking bLength), or of any byte."""
    offsets, pos = [], 0
    while pos < len(data) - 1 and data[pos] >= 2:
        offsets.append(pos)
        pos += data[pos]
    return rng.choice(offsets) if offsets else rng.randrange(len(data))


def _faults(rng: random.Random) -> tuple[Fault, ...]:
    if rng.random() < 0.6:
        return ()
    return tuple(Fault(rng.choice(list(Target)), rng.choice(list(Action)),
                       rng.choice((0, 1, 1, 2, 3, 4, 6)), rng.choice((0, 1, 2, 4, 7, 8, 9, 17)))
                 for _ in range(rng.randint(1, 3)))


def _class_reply(rng: random.Random) -> bytes | None:
    pick = rng.random()
    if pick < 0.5:
        return None
    if pick < 0.6:
        return BOOT_MOUSE_REPORT_DESCRIPTOR
    if pick < 0.7:                                        # a hub descriptor
        return bytes((9, 0x29, rng.randrange(256), 0xE9, 0, 0x32, 0x64, 0, 0xFF))
    return rng.randbytes(rng.randrange(0, 64))


@cache
def seed_cases() -> tuple[FuzzCase, ...]:
    """The descriptors of every built-in model that can be made without arguments, as
    well-behaved cases (the seeds mutations start from).  Context: pure function."""
    seeds = []
    for name in BUILTIN_MODELS:
        try:
            model = load_model(name)()
        except (TypeError, ValueError):
            continue
        table = model.descriptors
        count = max(table.strings.primary() or [0]) + 1
        langid = table.strings.langids[0] if table.strings.langids else 0
        strings = tuple(table.strings.descriptor(i, langid) or b"" for i in range(count))
        seeds.append(FuzzCase(table.device_bytes, table.config_bytes, strings,
                              table.bos_bytes, table.qualifier_bytes, speed=model.speed))
    return tuple(seeds)


def _generated(rng: random.Random) -> FuzzCase:
    speed = rng.choices([s for s, _ in _SPEEDS], [w for _, w in _SPEEDS])[0]
    nconfigs = rng.choice((1, 1, 1, 1, 2, 3)) if not _odd(rng, 0.03) else 9
    nstrings = rng.choice((0, 1, 3, 4))
    configs = tuple(_configuration(rng, speed, i + 1 if not _odd(rng) else rng.randrange(256))
                    for i in range(nconfigs))
    strings: tuple[bytes, ...] = ()
    if nstrings or rng.random() < 0.5:
        langids = _LANGID_TABLE if not _odd(rng) else _string(rng)
        strings = (langids, *(_string(rng) for _ in range(nstrings)))
    device = _device(rng, speed, nconfigs, nstrings)
    bos = _bos(rng) if device[2:4] >= b"\x01\x02" or rng.random() < 0.1 else None
    qualifier = (bytes((10, DescriptorType.DEVICE_QUALIFIER)) + device[2:8] + bytes(
        (nconfigs, 0)) if rng.random() < 0.2 else None)
    return FuzzCase(device, configs, strings, bos, qualifier, speed=speed)


def random_case(rng: random.Random) -> FuzzCase:
    """Draw one case: a built-in model's descriptors or a set built field by field (with
    hostile values now and then), usually mutated at the byte level, with a class reply,
    IN data and faults drawn too.  Context: pure function of `rng`'s state."""
    if rng.random() < 0.3:
        case = rng.choice(seed_cases())
        speed = case.speed if rng.random() < 0.8 else rng.choice([s for s, _ in _SPEEDS])
        case = replace(case, speed=speed)
    else:
        case = _generated(rng)
    if rng.random() < 0.5:
        fields = ["device", "configs", "strings", "bos"]
        for _ in range(rng.randint(1, 3)):
            case = _mutate_field(rng, case, rng.choice(fields))
    in_data = rng.randbytes(rng.randrange(1, 80)) if rng.random() < 0.3 else b""
    return replace(case, class_reply=_class_reply(rng), in_data=in_data, faults=_faults(rng))


def _with(case: FuzzCase, name: str, value: object) -> FuzzCase:
    """`case` with field `name` set to `value`."""
    fields: dict[str, Any] = {name: value}
    return replace(case, **fields)


def _mutate_field(rng: random.Random, case: FuzzCase, name: str) -> FuzzCase:
    if name in ("configs", "strings"):
        items = list(getattr(case, name))
        if not items:
            return case
        i = rng.randrange(len(items))
        items[i] = _mutate_bytes(rng, items[i])
        return _with(case, name, tuple(items))
    raw: bytes | None = getattr(case, name)
    if raw is None:
        return case
    return _with(case, name, _mutate_bytes(rng, raw))


def fuzz_cases() -> SearchStrategy[FuzzCase]:
    """`random_case` as a hypothesis strategy: hypothesis draws the seed (it shrinks to
    smaller seeds, not smaller cases: `minimise` does that).  Needs hypothesis installed."""
    from hypothesis import strategies as st
    return st.integers(0, 2**64 - 1).map(lambda seed: random_case(random.Random(seed)))


# -- one case on the bus -------------------------------------------------------------------------


@dataclass
class Outcome:
    """What `fuzz_one` saw.  `verdict` is how enumeration ended ("configured",
    "addressed": registered without a configuration, "rejected", "re-enumerating": a
    driver kept resetting a device that Linux then sees as changed and enumerates anew, or
    "resetting": a hub the hub driver kept resetting for errors; "hang" or "exception"
    when it did not end); `failures` the
    broken rules, each "kind: detail"; `log` the kernel messages of the case;
    `machine_s` the machine time it took; `nodes` the device nodes its drivers made (each
    opened, written to and read from, and left open across the unplug)."""

    verdict: str
    failures: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    machine_s: float = 0.0
    nodes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def kind(self) -> str:
        """The kind of the first failure ("" when none): what `minimise` keeps."""
        return self.failures[0].split(":", 1)[0] if self.failures else ""


def fuzz_machine(seed: int | None = None, kind: str = "inproc") -> System:
    """A machine on virtual time for `fuzz_one`: one controller of `kind` (a registered
    controller kind: inproc, ehci, uhci, ohci …), a hub at HUB_PORT and gadget zero (the
    witness) at WITNESS_PORT, enumerated.  The caller closes it.  Context: outside any
    loop."""
    system = System(seed=seed)
    system.boot()
    system.add_controller(kind)
    system.plug(Hub(), HUB_PORT)
    system.plug(GadgetZero(), WITNESS_PORT)
    system.settle()
    return system


class _Watch:
    """What the machine does during one case: its log lines and the exceptions its
    loop's handler is given."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._unsubscribe = system.log.subscribe(self._record)
        self._previous = system.loop.get_exception_handler()
        system.loop.set_exception_handler(self._exception)

    def _record(self, record: LogRecord) -> None:
        self.lines.append(record.text)

    def _exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self.errors.append(f"{context.get('message', '')}: {exc!r}")

    def close(self) -> None:
        self._unsubscribe()
        self.system.loop.set_exception_handler(self._previous)


def _pending_tasks(system: System) -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks(system.loop) if not t.done()}


def _settle(system: System, what: str, failures: list[str],
            cycling: Callable[[], bool] = lambda: False) -> bool:
    """Settle within ENUMERATION_BOUND_S; a timeout is a hang unless `cycling()` says the
    device was re-enumerated the way Linux re-enumerates it (then False, no failure)."""
    try:
        system.run(system.asettle(timeout_s=ENUMERATION_BOUND_S))
    except SettleTimeout as exc:
        if not cycling():
            failures.append(f"hang: {what}: {exc}")
        return False
    except Exception as exc:  # anything escaping the stack breaks the rule
        failures.append(f"exception: {what}: {type(exc).__name__}: {exc}")
        return False
    return True


def _verdict(system: System, failures: list[str]) -> str:
    udev = system.find_device(HOSTILE_PORT)
    if udev is None:
        return "rejected"
    if udev.state is DeviceState.CONFIGURED:
        if udev.actconfig is None or udev.actconfig not in udev.config:
            failures.append("state: configured without one of its configurations active")
        return "configured"
    if udev.state is DeviceState.ADDRESS:
        return "addressed"
    failures.append(f"state: the device was left {udev.state.linux_name}")
    return udev.state.linux_name


async def _witness_answers(witness: UsbDevice, expected: bytes) -> str | None:
    buf = bytearray(DescriptorSize.DEVICE)
    try:
        async with asyncio.timeout(WITNESS_TIMEOUT_S):
            got = await usb_get_descriptor(witness, DescriptorType.DEVICE, 0, buf, len(buf))
    except TimeoutError:
        return "no answer"
    if got != len(expected) or bytes(buf) != expected:
        return f"GET_DESCRIPTOR(DEVICE) gave {got}: {bytes(buf[:max(got, 0)]).hex()}"
    return None


def _check_witness(system: System, witness: UsbDevice, expected: bytes,
                   failures: list[str]) -> None:
    now = system.find_device(WITNESS_PORT)
    if now is not witness or witness.state is not DeviceState.CONFIGURED:
        failures.append(f"witness: {WITNESS_PORT} is gone or unconfigured: {now!r}")
        return
    try:
        problem = system.run(_witness_answers(witness, expected))
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        failures.append(f"witness: {problem}")


def fuzz_one(system: System, case: FuzzCase) -> Outcome:
    """Plug `case` as a `HostileDevice` at HOSTILE_PORT of a machine from `fuzz_machine`,
    let the hub driver enumerate it, check the rule, open each device node its drivers
    made (read-write, non-blocking: one write, one read), unplug it with the files open,
    close them and check again.

    The rule: nothing raises out of the machine and its loop's exception handler is
    given nothing, no oops or blocked task is logged, the machine settles within
    ENUMERATION_BOUND_S of machine time after the plug and after the unplug (or the device
    is in one of the endless cycles Linux would be in with it: `_cycle`), the device ends
    rejected, addressed or configured (with one of its configurations), the witness
    answers GET_DESCRIPTOR(DEVICE), the system calls on the nodes end within IO_BOUND_S,
    and after the unplug no task, device number or device is left.  Returns the
    `Outcome`.  Context: outside the machine's loop.  Raises ValueError when the machine
    has no witness (not made by `fuzz_machine`).
    """
    witness = system.find_device(WITNESS_PORT)
    if witness is None:
        raise ValueError(f"no witness at {WITNESS_PORT}: make the machine with fuzz_machine()")
    witness_model = next(m for path, m in system.models() if path == WITNESS_PORT)
    expected = witness_model.descriptors.device_bytes
    bus = witness.usb_bus
    devmap, tasks = set(bus.devmap), len(_pending_tasks(system))
    start = system.time()
    nodes = _dev_nodes(system)
    watch = _Watch(system)
    failures: list[str] = []
    hostile = HostileDevice(case)
    hostile.unplug = lambda: system.loop.call_soon(_unplug, system, hostile)
    try:
        system.plug(hostile, HOSTILE_PORT)
        if _settle(system, "enumeration", failures,
                   lambda: _cycle(watch.lines) is not None):
            verdict = _verdict(system, failures)
        else:
            verdict = failures[-1].split(":", 1)[0] if failures else \
                _cycle(watch.lines) or "hang"
        files: list[AsyncFile] = []
        made: list[str] = []
        if verdict not in ("hang", "exception"):
            _check_witness(system, witness, expected, failures)
            made = sorted(_dev_nodes(system) - nodes)
            files = _exercise_nodes(system, made, failures)
        _unplug(system, hostile)
        if _settle(system, "unplug", failures):
            _close_all(system, files, failures)
            _check_leaks(system, devmap, tasks, failures)
    finally:
        watch.close()
    failures += [f"exception: loop handler: {e}" for e in watch.errors]
    failures += [f"oops: {line}" for line in watch.lines if any(t in line for t in _TROUBLE)]
    return Outcome(verdict, failures, watch.lines, system.time() - start, made)


#: What Linux logs when a device it reset comes back with other descriptors (hub.c,
#: usb_reset_and_verify_device): it is enumerated anew.
_FIRMWARE_CHANGED: Final = f"usb {HOSTILE_PORT}: device firmware changed"
_DISCONNECTED: Final = f"usb {HOSTILE_PORT}: USB disconnect, device number "
#: What hub.c logs when it resets a device, and when it binds a hub.
_RESET: Final = f"usb {HOSTILE_PORT}: reset "
_HUB_FOUND: Final = f"hub {HOSTILE_PORT}:"


def _cycle(lines: Sequence[str]) -> str | None:
    """The endless cycle the device is in, as Linux would be with it, seen at least twice;
    None when there is none.  "re-enumerating": a driver resets it, it "changed" (Linux
    stores bNumConfigurations clamped to 8, or chopped after a STALL, and compares the
    device descriptor read after the reset with that), and it is disconnected and
    enumerated again.  "resetting": a hub whose status endpoint keeps failing is reset by
    hub_wq after ten errors in a row (hub->error), and again after the next ten.  Either
    lasts as long as the device is plugged in, in Linux too."""
    changed = sum(line == _FIRMWARE_CHANGED for line in lines)
    if changed >= 2 and sum(line.startswith(_DISCONNECTED) for line in lines) >= 2:
        return "re-enumerating"
    hub = any(line.startswith(_HUB_FOUND) and line.endswith(": USB hub found")
              for line in lines)
    if hub and sum(line.startswith(_RESET) for line in lines) >= 2:
        return "resetting"
    return None


def _dev_nodes(system: System) -> set[str]:
    """The device nodes under /dev."""
    return {f"{top}/{name}" for top, _, names in system.vfs.walk("/dev") for name in names}


async def _open_and_poke(system: System, paths: Sequence[str], files: list[AsyncFile]) -> None:
    for path in paths:
        try:
            file = await system.aopen(path, os.O_RDWR | os.O_NONBLOCK)
        except OSError:
            continue
        files.append(file)
        with contextlib.suppress(OSError):
            await file.write(_IO_PROBE)
        with contextlib.suppress(OSError):
            await file.read(64)


def _exercise_nodes(system: System, paths: Sequence[str],
                    failures: list[str]) -> list[AsyncFile]:
    """Open each node the device's drivers created (read-write, non-blocking), write a
    few bytes and read once; the files stay open for the unplug.  A system call that does
    not return within IO_BOUND_S, or an exception that is not an OSError, breaks the rule."""
    files: list[AsyncFile] = []

    async def run() -> None:
        async with asyncio.timeout(IO_BOUND_S):
            await _open_and_poke(system, paths, files)
    try:
        system.run(run())
    except TimeoutError:
        failures.append(f"hang: I/O on {paths} did not end within {IO_BOUND_S:g} s")
    except Exception as exc:
        failures.append(f"exception: I/O on {paths}: {type(exc).__name__}: {exc}")
    return files


def _close_all(system: System, files: Sequence[AsyncFile], failures: list[str]) -> None:
    """Close the files the device's nodes were opened as, after the unplug."""
    async def run() -> None:
        async with asyncio.timeout(IO_BOUND_S):
            for file in files:
                with contextlib.suppress(OSError):
                    await file.close()
    try:
        system.run(run())
        system.settle()
    except (TimeoutError, SettleTimeout):
        failures.append(f"hang: closing {[f.name for f in files]} after the unplug")
    except Exception as exc:
        failures.append(f"exception: closing after the unplug: {type(exc).__name__}: {exc}")


def _unplug(system: System, hostile: HostileDevice) -> None:
    """Unplug the hostile device if it is still plugged in (a DISCONNECT fault may have
    unplugged it already)."""
    if hostile.port is not None:
        system.unplug(HOSTILE_PORT)


def _check_leaks(system: System, devmap: set[int], tasks: int, failures: list[str]) -> None:
    bus = system.usb.buses[1]
    if bus.devmap != devmap:
        failures.append(f"leak: device numbers {sorted(bus.devmap ^ devmap)} "
                        "taken after the unplug")
    left = _pending_tasks(system)
    if len(left) > tasks:
        names = sorted(t.get_name() for t in left)
        failures.append(f"leak: {len(left) - tasks} task(s) left after the unplug: {names}")
    if system.find_device(HOSTILE_PORT) is not None:
        failures.append(f"leak: {HOSTILE_PORT} still registered after the unplug")


# -- minimising ----------------------------------------------------------------------------------


def _smaller_bytes(raw: bytes) -> Iterator[bytes]:
    """Candidates smaller than `raw`: halves cut out, then smaller and smaller chunks."""
    size = (len(raw) + 1) // 2
    while size >= 1:
        for start in range(0, len(raw), size):
            yield raw[:start] + raw[start + size:]
        size //= 2


def _candidates(case: FuzzCase) -> Iterator[FuzzCase]:
    for i in range(len(case.faults)):
        yield replace(case, faults=case.faults[:i] + case.faults[i + 1:])
    for name in ("bos", "qualifier", "class_reply"):
        if getattr(case, name) is not None:
            yield _with(case, name, None)
    if case.in_data:
        yield replace(case, in_data=b"")
    for name in ("configs", "strings"):
        items: tuple[bytes, ...] = getattr(case, name)
        for i in range(len(items) - 1, -1, -1):
            yield _with(case, name, items[:i] + items[i + 1:])
    for name in ("configs", "strings"):
        items = getattr(case, name)
        for i, raw in enumerate(items):
            for smaller in _smaller_bytes(raw):
                yield _with(case, name, (*items[:i], smaller, *items[i + 1:]))
    for name in ("device", "bos", "class_reply", "in_data"):
        raw_field: bytes | None = getattr(case, name)
        if raw_field:
            for smaller in _smaller_bytes(raw_field):
                yield _with(case, name, smaller)


def minimise(case: FuzzCase, fails: Callable[[FuzzCase], bool], budget: int = 400) -> FuzzCase:
    """Shrink `case` while `fails` holds: faults, optional descriptors and whole
    configurations and strings dropped, then chunks of bytes cut out, for at most `budget`
    tries.  Returns the smallest failing case found.  Context: as `fails`."""
    tries = 0
    progress = True
    while progress and tries < budget:
        progress = False
        for candidate in _candidates(case):
            tries += 1
            if fails(candidate):
                case, progress = candidate, True
                break
            if tries >= budget:
                break
    return case


# -- campaigns -----------------------------------------------------------------------------------


@dataclass
class CampaignReport:
    """The figures of a campaign: cases run, failing cases, their kinds, the repro files
    written, the verdicts counted, wall-clock seconds."""

    cases: int = 0
    failures: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    repros: list[str] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        """The figures as text, one line each."""
        rate = self.cases / self.seconds if self.seconds else 0.0
        lines = [f"cases: {self.cases}", f"failures: {self.failures}",
                 f"cases/s: {rate:.1f}", f"wall-clock s: {self.seconds:.1f}"]
        lines += [f"verdict {name}: {n}" for name, n in sorted(self.verdicts.items())]
        lines += [f"failure kind {name}: {n}" for name, n in sorted(self.kinds.items())]
        lines += [f"repro: {path}" for path in self.repros]
        return "\n".join(lines)


class _WallClockExpired(Exception):
    """A case ran longer than the campaign's wall-clock bound (a loop that never lets
    machine time pass)."""


@dataclass
class _Runner:
    """Runs cases on machines it replaces every `batch` cases and after a failure, each
    new machine with the next controller kind of `kinds`."""

    seed: int
    batch: int
    wall_s: float
    kinds: Sequence[str] = ("inproc",)
    system: System | None = None
    used: int = 0
    machines: int = 0

    @property
    def kind(self) -> str:
        """The controller kind of the current (or next) machine."""
        return self.kinds[max(self.machines - 1, 0) % len(self.kinds)]

    def run(self, case: FuzzCase) -> Outcome:
        if self.system is None or self.used >= self.batch:
            self.close()
            self.machines += 1
            self.system = fuzz_machine(self.seed, self.kind)
            self.used = 0
        self.used += 1
        previous = signal.signal(signal.SIGALRM, _expired)
        signal.setitimer(signal.ITIMER_REAL, self.wall_s)
        try:
            outcome = fuzz_one(self.system, case)
        except _WallClockExpired:
            outcome = Outcome("hang", [f"hang: still running after {self.wall_s:g} s of "
                                       "wall-clock time"])
        except Exception as exc:
            outcome = Outcome("error", [f"exception: fuzz_one: {type(exc).__name__}: {exc}"])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if not outcome.ok:
            self.close()
        return outcome

    def close(self) -> None:
        if self.system is not None:
            system, self.system = self.system, None
            with contextlib.suppress(Exception):  # a machine a failing case broke
                system.close()


def _expired(signum: int, frame: object) -> None:
    raise _WallClockExpired


def _write_repro(directory: Path, number: int, case: FuzzCase, outcome: Outcome,
                 kind: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"case-{number:08d}.json"
    path.write_text(json.dumps({"failures": outcome.failures, "verdict": outcome.verdict,
                                "hcd": kind, "log": outcome.log[-60:],
                                "case": case.to_json()}, indent=1) + "\n", encoding="utf-8")
    return str(path)


def run_campaign(cases: int, seed: int = 0, *, out: Path | None = None, batch: int = 200,
                 kinds: Sequence[str] = ("inproc",), wall_s: float = 30.0,
                 minimise_budget: int = 200,
                 progress: Callable[[CampaignReport], None] | None = None,
                 every: int = 1000) -> CampaignReport:
    """Run `cases` cases drawn from `random.Random(seed)`, `batch` to a machine, the
    machines' controllers taking the `kinds` in turn.  A failing case is minimised (at
    most `minimise_budget` reruns on its controller kind, keeping the failure's kind) and
    written as JSON under `out` (when given); `progress` is called every `every` cases.
    Returns the report.  Context: outside any loop, main thread (SIGALRM bounds each case
    to `wall_s` seconds of wall-clock time).  Raises ValueError for an empty `kinds`."""
    if not kinds:
        raise ValueError("run_campaign(kinds=...): name at least one controller kind")
    rng = random.Random(seed)
    report = CampaignReport()
    runner = _Runner(seed, batch, wall_s, tuple(kinds))
    began = time.perf_counter()
    try:
        for number in range(cases):
            case = random_case(rng)
            outcome = runner.run(case)
            report.cases += 1
            report.verdicts[outcome.verdict] = report.verdicts.get(outcome.verdict, 0) + 1
            if not outcome.ok:
                report.failures += 1
                report.kinds[outcome.kind] = report.kinds.get(outcome.kind, 0) + 1
                kind = runner.kind
                small = _minimised(case, outcome.kind, seed, wall_s, minimise_budget, kind)
                final = _Runner(seed, 1, wall_s, (kind,))
                try:
                    last = final.run(small)
                finally:
                    final.close()
                if out is not None:
                    report.repros.append(_write_repro(out, number, small,
                                                      last if not last.ok else outcome, kind))
            if progress is not None and report.cases % every == 0:
                report.seconds = time.perf_counter() - began
                progress(report)
    finally:
        runner.close()
        report.seconds = time.perf_counter() - began
    return report


def _minimised(case: FuzzCase, kind: str, seed: int, wall_s: float, budget: int,
               hcd: str) -> FuzzCase:
    runner = _Runner(seed, budget, wall_s, (hcd,))   # a new machine after each failure

    def fails(candidate: FuzzCase) -> bool:
        return runner.run(candidate).kind == kind
    try:
        return minimise(case, fails, budget)
    finally:
        runner.close()


def replay(path: str | Path) -> Outcome:
    """Run the case of a repro file (as `run_campaign` writes it) on a fresh machine with
    the controller kind it names (inproc when it names none).  Context: outside any loop."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    system = fuzz_machine(kind=str(data.get("hcd", "inproc")))
    try:
        return fuzz_one(system, FuzzCase.from_json(data["case"]))
    finally:
        system.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m usbemu.testing.fuzz --cases N --seed S [--jobs J] [--out DIR]``: run a
    campaign (J processes, seeds S, S+1, …), print its figures; exit status 1 when a case
    failed.  ``--replay FILE`` runs one repro file instead."""
    parser = argparse.ArgumentParser(prog="python -m usbemu.testing.fuzz",
                                     description="Enumerate hostile USB devices.")
    parser.add_argument("--cases", type=int, default=10_000, help="cases to run (per job)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first job")
    parser.add_argument("--jobs", type=int, default=1, help="processes")
    parser.add_argument("--out", type=Path, default=Path("fuzz-repros"),
                        help="directory for the repro files of failing cases")
    parser.add_argument("--batch", type=int, default=200, help="cases per machine")
    parser.add_argument("--hcd", default="inproc",
                        help="controller kinds the machines take in turn, comma-separated "
                             "(e.g. inproc,ehci,uhci,ohci)")
    parser.add_argument("--replay", type=Path, help="run one repro file and print its outcome")
    args = parser.parse_args(argv)
    if args.replay is not None:
        outcome = replay(args.replay)
        print(f"verdict: {outcome.verdict}")
        print("\n".join(outcome.failures or ["no failure"]))
        return 0 if outcome.ok else 1
    kinds = tuple(k for k in args.hcd.split(",") if k)
    if args.cases < 0 or args.jobs < 1 or args.batch < 1 or not kinds:
        parser.error("--cases must be >= 0, --jobs and --batch >= 1, --hcd not empty")
    jobs = [(args.cases, args.seed + j, args.out, args.batch, kinds) for j in range(args.jobs)]
    if args.jobs == 1:
        reports = [_job(*jobs[0])]
    else:
        from multiprocessing import Pool
        with Pool(args.jobs) as pool:
            reports = pool.starmap(_job, jobs)
    total = _combined(reports)
    print(total.summary())
    return 1 if total.failures else 0


def _job(cases: int, seed: int, out: Path, batch: int, kinds: tuple[str, ...]
         ) -> CampaignReport:
    def show(report: CampaignReport) -> None:
        rate = report.cases / report.seconds if report.seconds else 0.0
        print(f"seed {seed}: {report.cases} cases, {report.failures} failures, "
              f"{rate:.1f} cases/s", file=sys.stderr, flush=True)
    return run_campaign(cases, seed, out=out, batch=batch, kinds=kinds, progress=show)


def _combined(reports: Sequence[CampaignReport]) -> CampaignReport:
    total = CampaignReport()
    for report in reports:
        total.cases += report.cases
        total.failures += report.failures
        total.repros += report.repros
        total.seconds = max(total.seconds, report.seconds)
        for name, n in report.kinds.items():
            total.kinds[name] = total.kinds.get(name, 0) + n
        for name, n in report.verdicts.items():
            total.verdicts[name] = total.verdicts.get(name, 0) + n
    return total


if __name__ == "__main__":
    sys.exit(main())
