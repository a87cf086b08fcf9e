"""The bridge table: the kinds of `[[bridge]]` a scenario may start — for each, its fields,
what it needs of the machine, and its starter, which returns its stop.

A new bridge is one entry of `BRIDGES`; `read_bridge` validates a [[bridge]] against its
entry, and the runner starts and stops bridges through it without knowing any of them.
Only FUSE exists today (`bridges.fuse`, imported when a FUSE bridge starts).  This module
does not run the timeline or report anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ...system import System
from .fields import Conv, Entry, Reader, WrongType, string, unknown
from .specs import MachineSpec

#: What a bridge's starter returns: stops the bridge.  Context: outside the machine's loop.
Stop = Callable[[], None]


class BridgeError(Exception):
    """A bridge cannot be started here; the message says why."""


@dataclass(frozen=True)
class BridgeSpec:
    """A [[bridge]]: its type and its fields, converted."""

    number: int
    line: int
    type: str
    config: Mapping[str, object]


@dataclass(frozen=True)
class BridgeType:
    """One kind of [[bridge]]: its fields (name → converter, required or not), a check of
    the machine it needs (a message, or None), and its starter, which returns its stop."""

    fields: Mapping[str, tuple[Conv[object], bool]]
    needs: Callable[[MachineSpec], str | None]
    start: Callable[[System, Mapping[str, object]], Stop]
    #: Fields naming a file or directory of this host: relative to the scenario's directory.
    host_paths: tuple[str, ...] = ()


def _fuse_needs(machine: MachineSpec) -> str | None:
    if machine.real_time:
        return None
    return ("a fuse bridge needs real_time = true in [machine]: outside programs are served "
            "while the machine runs, and on virtual time a sleep step passes in no time")


def _start_fuse(system: System, config: Mapping[str, object]) -> Stop:
    """Mount the machine's tree (bridges.fuse).  The machine's loop is not given a thread
    of its own: it runs in this thread during every step (so requests from outside are
    served during steps, for as long as a sleep step lasts), which fuse.mount supports by
    leaving a loop that is already running alone.  It is mounted from inside the loop, in
    the main thread (libfuse's signal handling), and unmounted while the loop runs."""
    from ...bridges import fuse

    reason = fuse.unavailable_reason()
    if reason is not None:
        raise BridgeError(f"FUSE cannot be used here: {reason}")
    mountpoint = str(config["mountpoint"])

    async def mount() -> fuse.FuseMount:
        return fuse.mount(system, mountpoint)

    try:
        mounted = system.run(mount())
    except (fuse.FuseUnavailable, OSError, RuntimeError) as exc:
        raise BridgeError(f"cannot mount the machine's tree at {mountpoint}: {exc}") from None
    return lambda: system.run(asyncio.to_thread(mounted.unmount))


def _host_directory(value: object) -> object:
    if not isinstance(value, str) or not value:
        raise WrongType("a directory of this host (relative to the scenario's directory)")
    return value


#: Bridge type → what it takes and how it starts.  A new bridge adds an entry.
BRIDGES: dict[str, BridgeType] = {
    "fuse": BridgeType(fields={"mountpoint": (_host_directory, True)}, needs=_fuse_needs,
                       start=_start_fuse, host_paths=("mountpoint",)),
}


def read_bridge(reader: Reader, number: int, data: Mapping[str, object],
                machine: MachineSpec) -> BridgeSpec | None:
    e = Entry(reader, "bridge", number, f"bridge {number}", data)
    kind = e.require("type", string(f"one of {', '.join(BRIDGES)}"),
                     f"one of {', '.join(BRIDGES)}")
    if kind is None:
        return None
    bridge = BRIDGES.get(kind)
    if bridge is None:
        e.error("type", unknown("bridge type", kind, list(BRIDGES)))
        return None
    e.only(("type", *bridge.fields))
    config: dict[str, object] = {}
    for name, (conv, required) in bridge.fields.items():
        found = e.require(name, conv, f"a {kind} bridge needs it") if required \
            else e.get(name, conv)
        if found is not None:
            config[name] = str(reader.file(str(found))) if name in bridge.host_paths else found
    problem = bridge.needs(machine)
    if problem is not None:
        e.error("type", problem)
    return None if e.failed else BridgeSpec(number, e.line(), kind, config)
