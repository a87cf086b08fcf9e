"""The in-process controller presented as a UHCI controller — counterpart of Linux's
drivers/usb/host/uhci-pci.c, uhci-hcd.c and uhci-hub.c as a machine sees them.

`UhciHCD` (controller kind "uhci") moves data as every in-process controller does
(`usbemu.host.inproc`); what makes it UHCI is what the host sees of it: a full-speed root
hub (1d6b:0001, "UHCI Host Controller", bcdUSB 1.10) with the ports uhci_pci_init counts
(2 on every Intel chipset, at most 7), the driver named `uhci_hcd` in messages, its start-up
lines ("detected 2 ports", "irq N, io port 0x..."), and its root hub's answers
(`usbemu.host.roothub.UHCI_ROOT_HUB`: no C_PORT_RESET, no power switching).  On a PC chipset
UHCI controllers are the companions of an EHCI controller (`System.add_chipset("ich9")`).

Periodic bandwidth is reserved as uhci-q.c reserves it: an interrupt or isochronous
endpoint's load (`usb_calc_bus_time` in microseconds, plus one) is added to the 32 phases
of the frame schedule its period and phase cover when its first URB is submitted (an
interrupt interval rounds down to a power of two, at most 128 frames, and the URB's
interval becomes that period; an isochronous endpoint takes the least loaded phase), a
submission that would load a frame beyond 900 µs fails with -ENOSPC, and the load is
released once the endpoint's queue is empty after a completion.  The bus's
`bandwidth_allocated` is the total load over 32 frames, as the devices file's B: line shows.

What it does not do: the frame list, QH skeleton and TD scheduling of uhci-q.c, or FSBR;
a transfer takes no bus time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final

from ..core.hcd import FRAME_TIME_MAX_USECS_ALLOC, usb_calc_bus_time
from ..core.urb import Urb
from ..errors import Errno
from ..spec.ch9 import EndpointType, Speed
from .inproc import InProcessController, outcome_statuses
from .roothub import UHCI_ROOT_HUB, RootHubKind

if TYPE_CHECKING:
    from ..core.usb import UsbDevice, UsbHostEndpoint
    from ..core.usbcore import UsbCore
    from ..kernel.device import Device

__all__ = ["MAX_PHASE", "UHCI_NUMFRAMES", "UHCI_RH_MAXCHILD", "UhciHCD"]

#: uhci-hcd.c: anything above 7 ports is "port count misdetected".
UHCI_RH_MAXCHILD: Final = 7
#: Phases of the periodic schedule whose load is tracked (uhci-hcd.h MAX_PHASE).
MAX_PHASE: Final = 32
UHCI_NUMFRAMES: Final = 1024
_PERIODIC: Final = frozenset({EndpointType.INT, EndpointType.ISOC})


@dataclass
class _PeriodicQh:
    """The bandwidth side of one periodic endpoint's QH: load (µs), period, phase."""

    load: int
    is_isoc: bool
    period: int = 0
    phase: int = -1
    reserved: bool = False


class UhciHCD(InProcessController):
    """A UHCI controller (uhci_hcd) with `nports` root ports (2 unless told, at most 7)."""

    description = "uhci_hcd"
    product_desc = "UHCI Host Controller"
    driver_name = "uhci_hcd"
    rh_speed = Speed.FULL
    io_memory = False
    default_nports = 2
    root_hub_kind: ClassVar[RootHubKind] = UHCI_ROOT_HUB
    #: uhci-q.c uhci_map_status: CRC/timeout -EILSEQ on IN, -EPROTO on OUT; bit stuffing
    #: -EPROTO.
    outcome_status = outcome_statuses(-Errno.EILSEQ, -Errno.EPROTO, -Errno.EPROTO)

    max_ports = UHCI_RH_MAXCHILD

    def __init__(self, core: UsbCore, controller: Device, nports: int = 2) -> None:
        super().__init__(core, controller, nports)
        self.__init_schedule()

    def __init_schedule(self) -> None:
        self.load = [0] * MAX_PHASE
        self.total_load = 0
        self._periodic: dict[int, _PeriodicQh] = {}

    def reset(self) -> int:
        """uhci_pci_init(): count the ports ("detected %d ports", printed with uhci_hcd's
        debug parameter at 1, its value on a kernel with dynamic debug).
        Context: atomic."""
        self.core.log.dev_info(self.controller, f"detected {self.nports} ports")
        return 0

    # -- periodic bandwidth (uhci-q.c) -----------------------------------------------------------

    def urb_enqueue(self, urb: Urb) -> int:
        """Reserve the endpoint's periodic bandwidth with its first URB (uhci_submit_interrupt,
        uhci_submit_isochronous), then queue it.  -ENOSPC when no phase has room, -EINVAL
        for an interval the reservation cannot serve.  Context: atomic."""
        hep = urb.ep
        if hep is not None and hep.type in _PERIODIC:
            rc = self._reserve_for(urb, hep)
            if rc:
                return rc
        rc = super().urb_enqueue(urb)
        if rc and hep is not None:
            self._release_if_idle(hep)
        return rc

    def giveback_urb(self, urb: Urb, status: int) -> None:
        """Give back; once the completion handlers ran, an endpoint left with no URB
        gives its bandwidth up (uhci_giveback_urb).  Context: atomic."""
        super().giveback_urb(urb, status)
        hep = urb.ep
        if hep is not None and id(hep) in self._periodic:
            self.after_giveback(functools.partial(self._release_if_idle, hep))

    def endpoint_disable(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:
        self._release_if_idle(hep, force=True)
        super().endpoint_disable(udev, hep)

    def _reserve_for(self, urb: Urb, hep: UsbHostEndpoint) -> int:
        qh = self._periodic.get(id(hep))
        if qh is None:
            assert urb.dev is not None
            is_isoc = hep.type == EndpointType.ISOC
            qh = _PeriodicQh(usb_calc_bus_time(urb.dev.speed, bool(hep.address & 0x80),
                                               is_isoc, hep.maxp) // 1000 + 1, is_isoc)
            self._periodic[id(hep)] = qh
        if qh.is_isoc:
            return self._reserve_isochronous(qh, urb)
        return self._reserve_interrupt(qh, urb)

    def _reserve_interrupt(self, qh: _PeriodicQh, urb: Urb) -> int:
        if qh.reserved:
            return -Errno.EINVAL if qh.period > urb.interval else self._use_period(qh, urb)
        exponent = next((e for e in range(7, -1, -1) if 1 << e <= urb.interval), -1)
        while exponent >= 0:
            qh.period = 1 << exponent
            qh.phase = (qh.period // 2) & (MAX_PHASE - 1)
            if self._check_bandwidth(qh) == 0:
                self._reserve(qh)
                return self._use_period(qh, urb)
            exponent -= 1
        return -Errno.EINVAL if urb.interval < 1 else -Errno.ENOSPC

    @staticmethod
    def _use_period(qh: _PeriodicQh, urb: Urb) -> int:
        urb.interval = qh.period
        return 0

    def _reserve_isochronous(self, qh: _PeriodicQh, urb: Urb) -> int:
        if urb.interval >= UHCI_NUMFRAMES or urb.number_of_packets >= UHCI_NUMFRAMES:
            return -Errno.EFBIG
        if qh.reserved:
            return 0 if qh.period == urb.interval else -Errno.EINVAL
        qh.period, qh.phase = urb.interval, -1
        rc = self._check_bandwidth(qh)
        if rc == 0:
            self._reserve(qh)
        return rc

    def _highest_load(self, phase: int, period: int) -> int:
        return max(self.load[phase:MAX_PHASE:period])

    def _check_bandwidth(self, qh: _PeriodicQh) -> int:
        """uhci_check_bandwidth(): 0, or -ENOSPC when the busiest frame the QH would use
        could not take its load within 900 µs."""
        if qh.phase < 0:
            phases = range(min(MAX_PHASE, qh.period))
            qh.phase = min(phases, key=lambda p: self._highest_load(p, qh.period))
        minimax = self._highest_load(qh.phase, qh.period)
        if minimax + qh.load > FRAME_TIME_MAX_USECS_ALLOC:
            self.core.log.dev_dbg(self.controller, f"bandwidth allocation failed: period "
                                                   f"{qh.period}, phase {qh.phase}, "
                                                   f"{minimax} + {qh.load} us")
            return -Errno.ENOSPC
        return 0

    def _reserve(self, qh: _PeriodicQh) -> None:
        self._account(qh, qh.load)
        qh.reserved = True

    def _release_if_idle(self, hep: UsbHostEndpoint, *, force: bool = False) -> None:
        qh = self._periodic.get(id(hep))
        if qh is None or (hep.urb_list and not force):
            return
        del self._periodic[id(hep)]
        if qh.reserved:
            self._account(qh, -qh.load)
            qh.reserved = False

    def _account(self, qh: _PeriodicQh, load: int) -> None:
        """uhci_reserve_bandwidth / uhci_release_bandwidth: add `load` to each phase the
        QH uses; the bus shows the average per frame and counts the QH."""
        for phase in range(qh.phase, MAX_PHASE, qh.period):
            self.load[phase] += load
            self.total_load += load
        bus = self.bus
        if bus is None:
            return
        bus.bandwidth_allocated = self.total_load // MAX_PHASE
        step = 1 if load > 0 else -1
        if qh.is_isoc:
            bus.bandwidth_isoc_reqs += step
        else:
            bus.bandwidth_int_reqs += step
