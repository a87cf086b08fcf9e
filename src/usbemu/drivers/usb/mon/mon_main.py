"""usbmon's core — counterpart of drivers/usb/mon/mon_main.c and usb_mon.h.

One `UsbMon` per machine attaches to the HCD framework's usbmon hooks
(`UsbCore.add_monitor`) while at least one reader is open, and hands each URB's
submission, submission error and giveback to the readers of the URB's bus and to those of
the pseudo-bus 0, which sees every bus (struct mon_bus, mon_bus0).  It counts the events
each bus saw and the text events its readers lost.  It formats nothing: the readers
(`mon_text`, `mon_bin`, a capture file) do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol

from ....core.hcd import UsbBus
from ....core.urb import Urb
from ....core.usbcore import UsbCore
from ....errors import Errno
from ....kernel.weak import WeakTable

__all__ = ["EINPROGRESS", "MonBus", "MonReader", "UsbMon", "usbmon_of"]

#: The status usbmon reports for a submission (S events).
EINPROGRESS: Final = -Errno.EINPROGRESS


class MonReader(Protocol):
    """struct mon_reader: what a reader does with each event.  Every hook is atomic and
    must not raise; the URB belongs to the core while it runs and must not be changed."""

    def rnf_submit(self, busnum: int, urb: Urb) -> None:
        """The URB is about to reach the controller.  Context: atomic."""

    def rnf_error(self, busnum: int, urb: Urb, error: int) -> None:
        """Its submission failed with `error` (a negative errno).  Context: atomic."""

    def rnf_complete(self, busnum: int, urb: Urb, status: int) -> None:
        """It is given back with `status`.  Context: atomic."""


@dataclass(eq=False)
class MonBus:
    """struct mon_bus: the readers of one bus number (0: all buses) and its counters
    (`cnt_events`: events seen while a reader was open; `cnt_text_lost`: text events
    dropped because a reader's queue was full)."""

    busnum: int
    readers: list[MonReader] = field(default_factory=list)
    cnt_events: int = 0
    cnt_text_lost: int = 0

    @property
    def nreaders(self) -> int:
        return len(self.readers)


class UsbMon:
    """mon_main: the buses' readers and the one hook on the USB core.  Context: atomic."""

    def __init__(self, usbcore: UsbCore) -> None:
        self.usbcore = usbcore
        self.buses: dict[int, MonBus] = {0: MonBus(0)}
        self._attached = False

    def bus(self, busnum: int) -> MonBus:
        """The mon_bus of `busnum` (0: all buses), made on first use.  Raises ValueError
        for a negative number.  Context: atomic."""
        if busnum < 0:
            raise ValueError(f"busnum={busnum} must be ≥ 0")
        mbus = self.buses.get(busnum)
        if mbus is None:
            mbus = self.buses[busnum] = MonBus(busnum)
        return mbus

    def reader_add(self, mbus: MonBus, reader: MonReader) -> None:
        """mon_reader_add(): `reader` sees `mbus`'s events from now on; the first reader
        of the machine attaches the hooks.  Context: atomic."""
        mbus.readers.append(reader)
        if not self._attached:
            self._attached = True
            self.usbcore.add_monitor(self)

    def reader_del(self, mbus: MonBus, reader: MonReader) -> None:
        """mon_reader_del(): `reader` sees no more events; the last one detaches the hooks.
        Raises ValueError if it was not added.  Context: atomic."""
        mbus.readers.remove(reader)
        if self._attached and not any(b.readers for b in self.buses.values()):
            self._attached = False
            self.usbcore.remove_monitor(self)

    def _targets(self, busnum: int) -> tuple[MonBus, ...]:
        own = self.buses.get(busnum)
        all_buses = self.buses[0]
        return (all_buses,) if own is None or not own.readers else (own, all_buses)

    # -- UsbMonitor (mon_bus_submit, mon_bus_submit_error, mon_bus_complete) -------------------

    def urb_submit(self, bus: UsbBus, urb: Urb) -> None:
        """usbmon_urb_submit.  Context: atomic."""
        for mbus in self._targets(bus.busnum):
            if mbus.readers:
                mbus.cnt_events += 1
                for reader in tuple(mbus.readers):
                    reader.rnf_submit(bus.busnum, urb)

    def urb_submit_error(self, bus: UsbBus, urb: Urb, status: int) -> None:
        """usbmon_urb_submit_error.  Context: atomic."""
        for mbus in self._targets(bus.busnum):
            if mbus.readers:
                mbus.cnt_events += 1
                for reader in tuple(mbus.readers):
                    reader.rnf_error(bus.busnum, urb, status)

    def urb_complete(self, bus: UsbBus, urb: Urb, status: int) -> None:
        """usbmon_urb_complete.  Context: atomic."""
        for mbus in self._targets(bus.busnum):
            if mbus.readers:
                mbus.cnt_events += 1
                for reader in tuple(mbus.readers):
                    reader.rnf_complete(bus.busnum, urb, status)


#: Weak both ways (`WeakTable`): a closed machine goes, though each value refers to
#: its key.
_MONITORS: Final[WeakTable[UsbCore, UsbMon]] = WeakTable()


def usbmon_of(usbcore: UsbCore) -> UsbMon:
    """The machine's usbmon (made on first use).  Context: atomic."""
    mon = _MONITORS.get(usbcore)
    if mon is None:
        mon = _MONITORS[usbcore] = UsbMon(usbcore)
    return mon
