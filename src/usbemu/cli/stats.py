"""The schedule statistics of a machine's host controllers, bus by bus, as `usbemu stats`
and the shell's `stats` print them.

An EHCI controller (`usbemu.host.ehci.EhciHCD`) keeps what its schedules did — the frame
number, each bus's share of its frames, each endpoint's bytes, transactions, NAKs and URBs —
and gives it as an `EhciStats` snapshot; Linux's ehci-hcd shows the same schedules through
its debugfs files (ehci-dbg.c: periodic, async, bandwidth).  This module takes one snapshot
per bus, heads it with the bus's number, PCI driver and PCI address, and renders it as text
or as JSON-ready data.  A controller of another kind keeps no statistics and gets one line
that says so.  It runs no machine time; callers let the machine run first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..errors import PluginLoadError
from ..host import HCD_KINDS, load_hcd_kind
from ..host.ehci import EhciHCD, EhciStats
from .machine import MachineError

if TYPE_CHECKING:
    from ..core.hcd import HostController
    from ..system import System

__all__ = ["BusStatistics", "bus_statistics", "controller_kind"]

#: The fields of a snapshot, null for a bus whose controller keeps none.
_STATS_FIELDS: Final = tuple(field.name for field in dataclasses.fields(EhciStats))


def controller_kind(hcd: HostController) -> str:
    """The name `hcd`'s class is registered under (`usbemu list controllers`), or the
    class's own name when no kind is registered for it.  Context: atomic (may import)."""
    cls = type(hcd)
    for name in HCD_KINDS.available():
        try:
            if load_hcd_kind(name) is cls:
                return name
        except PluginLoadError:
            continue
    return cls.__name__


@dataclass(frozen=True, slots=True)
class BusStatistics:
    """One bus: its number, its controller's PCI driver ("ehci-pci"), PCI address
    ("0000:00:1d.0") and kind ("ehci"), and the controller's snapshot, None when the kind
    keeps no statistics."""

    busnum: int
    driver: str
    bus_name: str
    kind: str
    statistics: EhciStats | None

    @property
    def heading(self) -> str:
        """"Bus 001: ehci-pci 0000:00:1d.0"."""
        return f"Bus {self.busnum:03d}: {self.driver} {self.bus_name}"

    def text(self) -> str:
        """The heading, then the snapshot's text (`EhciStats.text`); for a controller
        without statistics one line that says so and names its kind."""
        if self.statistics is None:
            return f"{self.heading}: no schedule statistics (controller kind {self.kind})\n"
        return f"{self.heading}\n{self.statistics.text()}"

    def as_dict(self) -> dict[str, object]:
        """The bus as JSON-ready data: bus, driver, bus_name, kind, then the fields of
        `EhciStats` (`dataclasses.asdict`; each null without statistics)."""
        head: dict[str, object] = {"bus": self.busnum, "driver": self.driver,
                                   "bus_name": self.bus_name, "kind": self.kind}
        if self.statistics is None:
            return head | dict.fromkeys(_STATS_FIELDS)
        return head | dataclasses.asdict(self.statistics)


def _bus_statistics(busnum: int, hcd: HostController) -> BusStatistics:
    snapshot = hcd.statistics() if isinstance(hcd, EhciHCD) else None
    return BusStatistics(busnum, hcd.driver_name, hcd.controller.name, controller_kind(hcd),
                         snapshot)


def bus_statistics(system: System, busnum: int | None = None) -> list[BusStatistics]:
    """A snapshot of every bus of `system` in bus order, or of bus `busnum` only.  Raises
    MachineError for a bus the machine does not have, naming the buses it has.
    Context: atomic."""
    buses = system.usb.buses
    if busnum is None:
        return [_bus_statistics(n, bus.hcd) for n, bus in sorted(buses.items())]
    bus = buses.get(busnum)
    if bus is None:
        there = ", ".join(str(n) for n in sorted(buses)) or "none"
        raise MachineError(f"no bus {busnum}; the machine's buses: {there}")
    return [_bus_statistics(busnum, bus.hcd)]
