"""Bridges: the ways an emulated machine meets the world outside the process.

Bridges are found by name through a built-in table plus the `usbemu.bridges` entry-point
group (`usbemu.plugins`, the registry device models, driver modules and controller kinds
use too); nothing is imported until a bridge is asked about.  A bridge module says what it
is in its docstring's first line and, when it needs something of the host (a library, a
device node), answers `unavailable_reason()` with why it cannot be used here, or None.
Each bridge shipped with usbemu is one line of `BUILTIN_BRIDGES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..plugins import PluginRegistry

__all__ = ["BRIDGES", "BUILTIN_BRIDGES", "ENTRY_POINT_GROUP", "BridgeInfo",
           "available_bridges", "describe_bridge"]

ENTRY_POINT_GROUP: Final = "usbemu.bridges"

#: name → module of the bridges shipped with usbemu.
BUILTIN_BRIDGES: Final[dict[str, str]] = {
    "fuse": "usbemu.bridges.fuse",
    "pty": "usbemu.bridges.pty",
}

#: The bridge registry: built-in bridges and those of installed plugins.
BRIDGES: Final = PluginRegistry("bridge", ENTRY_POINT_GROUP, BUILTIN_BRIDGES)


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
    return {name: (plugin.module, plugin.origin)
            for name, plugin in BRIDGES.available().items()}


def _summary(doc: str) -> str:
    """The docstring's first paragraph up to its first dash or full stop."""
    first = " ".join(doc.strip().split("\n\n")[0].split())
    for stop in (" — ", ". "):
        first = first.split(stop)[0]
    return first.rstrip(".")


def describe_bridge(name: str) -> BridgeInfo:
    """Import bridge `name` and say what it is and whether it can be used here.  A bridge
    that fails to import is reported as unavailable with the error, never raised.  Raises
    PluginNotFound (a LookupError) for a name no bridge has."""
    plugin = BRIDGES.find(name)
    try:
        module = BRIDGES.load(name)
    except ImportError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        return BridgeInfo(name, plugin.module, "", plugin.origin,
                          f"cannot be imported: {cause}")
    summary = _summary(module.__doc__ or "")
    reason: Callable[[], str | None] | None = getattr(module, "unavailable_reason", None)
    try:
        unavailable = reason() if reason is not None else None
    except Exception as exc:
        unavailable = f"availability check failed: {exc}"
    return BridgeInfo(name, plugin.module, summary, plugin.origin, unavailable)
