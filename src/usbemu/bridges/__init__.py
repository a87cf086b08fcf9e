"""Bridges: the ways an emulated machine meets the world outside the process.

Bridges are found by name through a built-in table plus the `usbemu.bridges` entry-point
group, as device models and driver modules are; nothing is imported until a bridge is
asked about.  A bridge module says what it is in its docstring's first line and, when it
needs something of the host (a library, a device node), answers `unavailable_reason()`
with why it cannot be used here, or None.  Later bridges (USB/IP, pyusb, ptys, usbmon)
add a line to the table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Final

__all__ = ["BUILTIN_BRIDGES", "ENTRY_POINT_GROUP", "BridgeInfo", "available_bridges",
           "describe_bridge"]

ENTRY_POINT_GROUP: Final = "usbemu.bridges"

#: name → module of the bridges shipped with usbemu.
BUILTIN_BRIDGES: Final[dict[str, str]] = {
    "fuse": "usbemu.bridges.fuse",
}


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    """What `usbemu list bridges` shows of one bridge."""

    name: str
    module: str
    summary: str
    origin: str  #: "built-in" or "plugin"
    unavailable: str | None  #: why it cannot be used on this machine, or None


def available_bridges() -> dict[str, tuple[str, str]]:
    """name → (module, origin) for the built-in bridges and those of installed plugins.
    Atomic, imports nothing."""
    found = {name: (module, "built-in") for name, module in BUILTIN_BRIDGES.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, (ep.value.partition(":")[0], "plugin"))
    return found


def _summary(doc: str) -> str:
    """The docstring's first paragraph up to its first dash or full stop."""
    first = " ".join(doc.strip().split("\n\n")[0].split())
    for stop in (" — ", ". "):
        first = first.split(stop)[0]
    return first.rstrip(".")


def describe_bridge(name: str) -> BridgeInfo:
    """Import bridge `name` and say what it is and whether it can be used here.  A bridge
    that fails to import is reported as unavailable with the error, never raised.  Raises
    KeyError for a name no bridge has."""
    module_name, origin = available_bridges()[name]
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        return BridgeInfo(name, module_name, "", origin, f"cannot be imported: {exc}")
    summary = _summary(module.__doc__ or "")
    reason: Callable[[], str | None] | None = getattr(module, "unavailable_reason", None)
    try:
        unavailable = reason() if reason is not None else None
    except Exception as exc:
        unavailable = f"availability check failed: {exc}"
    return BridgeInfo(name, module_name, summary, origin, unavailable)
