"""EHCI periodic bandwidth — counterpart of the bandwidth and TT management of Linux's
drivers/usb/host/ehci-sched.c, the periodic part of qh_make in ehci-q.c, the periodic
frame list of ehci.h, and the `bandwidth` and `periodic` views of ehci-dbg.c.

Sans-I/O bookkeeping, as ehci-hcd keeps it: the high-speed budget of the 64 microframes
EHCI_BANDWIDTH_SIZE covers (100 µs of each 125, `uframe_periodic_max`), the full/low-speed
budget of each transaction translator (900 µs of each frame, with the per-microframe
carry-over of compute_tt_budget and tt_available: CONFIG_USB_EHCI_TT_NEWSCHED), the
scheduling parameters of an interrupt QH (`intr_params`) or an isochronous stream
(`iso_params`), first-fit slot search with Linux's `random_frame` rotation
(`Bandwidth.qh_schedule`, `Bandwidth.iso_schedule`), reservation and release, and the
frame list of 1024 entries where iTDs and siTDs come first and interrupt QHs follow,
sorted slow to fast so that branches share their tail (qh_link_periodic).

It does not move data or keep time: the controller (`usbemu.host.ehci.hcd`) does, asking
this module where an endpoint may go and whether it fits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from ...core.hcd import ns_to_us, usb_calc_bus_time
from ...errors import Errno
from ...spec.ch9 import Speed

__all__ = [
    "DEFAULT_I_TDPS", "EHCI_BANDWIDTH_FRAMES", "EHCI_BANDWIDTH_SIZE", "NO_FRAME",
    "QH_SMASK", "UFRAME_PERIODIC_MAX", "Bandwidth", "EhciTT", "FrameList", "PerSched",
    "PeriodicNode", "hs_usecs", "hs_usecs_iso", "intr_params", "iso_params",
]

#: Microframes (8 frames) the bandwidth tables cover (ehci.h).
EHCI_BANDWIDTH_SIZE: Final = 64
EHCI_BANDWIDTH_FRAMES: Final = EHCI_BANDWIDTH_SIZE >> 3
#: Entries of the periodic frame list (ehci.h DEFAULT_I_TDPS).
DEFAULT_I_TDPS: Final = 1024
#: µs of each 125 µs microframe periodic transfers may reserve (80 %).
UFRAME_PERIODIC_MAX: Final = 100
#: A TT's full-speed frame may carry 900 µs of periodic transactions.
TT_FRAME_MAX_USECS: Final = 900
#: ehci.h NO_FRAME: "not scheduled yet".
NO_FRAME: Final = 29999
#: S-mask of a QH polled in every microframe.
QH_SMASK: Final = 0x00FF
#: How much of each microframe a TT's downstream bus may use (max_tt_usecs).
MAX_TT_USECS: Final = (125, 125, 125, 125, 125, 125, 30, 0)
_SMASK_OUT: Final = (0x01, 0x03, 0x07, 0x0F, 0x1F, 0x3F)
#: ehci-dbg.c DBG_SCHED_LIMIT: QHs the periodic file remembers as already shown.
_DBG_SCHED_LIMIT: Final = 64
_U32: Final = 0xFFFFFFFF


def hs_usecs(bytecount: int) -> int:
    """HS_USECS(): µs of a high-speed interrupt transaction.  Context: atomic."""
    return ns_to_us(usb_calc_bus_time(Speed.HIGH, False, False, bytecount))


def hs_usecs_iso(bytecount: int) -> int:
    """HS_USECS_ISO(): µs of a high-speed isochronous transaction.  Context: atomic."""
    return ns_to_us(usb_calc_bus_time(Speed.HIGH, False, True, bytecount))


def _rounddown_pow_of_two(n: int) -> int:
    return 1 << (n.bit_length() - 1) if n > 0 else 0


@dataclass(eq=False)
class EhciTT:
    """struct ehci_tt: the periodic load on one transaction translator's full-speed bus.
    `port` is tt_port (0 for a single TT, the 0-based hub port for one of a multi-TT)."""

    hub_name: str
    port: int
    multi: bool
    think_time: int
    #: The usb_tt it belongs to (kept, so that its identity stays this TT's).
    owner: object = None
    bandwidth: list[int] = field(default_factory=lambda: [0] * EHCI_BANDWIDTH_FRAMES)
    ps_list: list[PerSched] = field(default_factory=list)


@dataclass(eq=False)
class PerSched:
    """struct ehci_per_sched: where a periodic endpoint sits in the schedule and what it
    costs.  `period` is in frames (0: every microframe), `phase` the first frame
    (NO_FRAME until scheduled), `phase_uf` the microframe, `cs_mask` the S-mask (low
    byte) and C-mask (high byte); `usecs`, `c_usecs`, `tt_usecs` the start-split (or
    whole), complete-split and full-speed-bus costs."""

    udev_name: str
    ep_address: int
    usecs: int
    c_usecs: int = 0
    tt_usecs: int = 0
    period: int = 0
    phase: int = NO_FRAME
    bw_phase: int = 0
    phase_uf: int = 0
    bw_period: int = 0
    bw_uperiod: int = 0
    cs_mask: int = 0
    tt: EhciTT | None = None

    @property
    def scheduled(self) -> bool:
        return self.phase != NO_FRAME


@dataclass(frozen=True, slots=True)
class IntrParams:
    """What qh_make works out for an interrupt endpoint: its PerSched, the URB interval
    it rewrites (microframes at high speed, frames below), and the split gap."""

    ps: PerSched
    interval: int
    gap_uf: int


def intr_params(udev_name: str, ep_address: int, speed: Speed, wmaxpacket: int,
                binterval: int, interval: int, think_time: int = 0,
                periodic_size: int = DEFAULT_I_TDPS) -> IntrParams:
    """qh_make()'s periodic part for an interrupt endpoint of a device at `speed`, with the
    URB's (already normalised) `interval`.  Context: atomic."""
    is_in = bool(ep_address & 0x80)
    maxp, mult = wmaxpacket & 0x7FF, ((wmaxpacket >> 11) & 3) + 1
    usecs = ns_to_us(usb_calc_bus_time(Speed.HIGH, is_in, False, mult * maxp))
    binterval = max(binterval, 1)
    if speed == Speed.HIGH:
        if 1 < interval < 8:
            interval = 1
        interval = min(interval, periodic_size << 3)
        bw_uperiod = min(min(EHCI_BANDWIDTH_SIZE, 1 << min(binterval - 1, 15)), interval)
        ps = PerSched(udev_name, ep_address, usecs, period=interval >> 3,
                      bw_uperiod=bw_uperiod, bw_period=bw_uperiod >> 3)
        return IntrParams(ps, interval, 0)
    fs_ns = usb_calc_bus_time(speed, is_in, False, maxp)
    if is_in:
        usecs, c_usecs = hs_usecs(1), usecs + hs_usecs(0)
    else:
        usecs, c_usecs = usecs + hs_usecs(1), hs_usecs(0)
    interval = min(interval, periodic_size)
    bw_period = min(_rounddown_pow_of_two(min(EHCI_BANDWIDTH_FRAMES, binterval)), interval)
    ps = PerSched(udev_name, ep_address, usecs, c_usecs, ns_to_us(think_time + fs_ns),
                  period=interval, bw_period=bw_period, bw_uperiod=bw_period << 3)
    return IntrParams(ps, interval, 1 + fs_ns // (125 * 1000))


@dataclass(frozen=True, slots=True)
class IsoParams:
    """What iso_stream_init works out: the PerSched, the stream's period in microframes
    (`uperiod`), the packet size (maxp × mult at high speed) and the bandwidth the B: line
    counts while the stream has transfers queued."""

    ps: PerSched
    uperiod: int
    maxp: int
    bandwidth: int
    highspeed: bool


def iso_params(udev_name: str, ep_address: int, speed: Speed, wmaxpacket: int,
               binterval: int, interval: int, think_time: int = 0) -> IsoParams:
    """iso_stream_init() for an isochronous endpoint and the URB's `interval`
    (microframes at high speed, frames below).  Context: atomic."""
    is_in = bool(ep_address & 0x80)
    maxp = wmaxpacket & 0x7FF
    binterval = max(binterval, 1)
    if speed == Speed.HIGH:
        maxp *= ((wmaxpacket >> 11) & 3) + 1
        usecs = hs_usecs_iso(maxp)
        bw_uperiod = min(min(EHCI_BANDWIDTH_SIZE, 1 << min(binterval - 1, 15)), interval)
        ps = PerSched(udev_name, ep_address, usecs, period=interval >> 3,
                      bw_uperiod=bw_uperiod)
        return IsoParams(ps, interval, maxp, usecs * 8 // bw_uperiod, True)
    usecs = hs_usecs_iso(maxp)
    tt_usecs = ns_to_us(think_time + usb_calc_bus_time(speed, is_in, True, maxp))
    hs_transfers = max(1, (maxp + 187) // 188)
    if is_in:
        c_usecs, usecs = usecs, hs_usecs_iso(1)
        cs_mask = 1 | (((1 << (hs_transfers + 2)) - 1) << (8 + 2))
    else:
        c_usecs, cs_mask = 0, _SMASK_OUT[min(hs_transfers, len(_SMASK_OUT)) - 1]
    bw_period = min(min(EHCI_BANDWIDTH_FRAMES, 1 << min(binterval - 1, 15)), interval)
    ps = PerSched(udev_name, ep_address, usecs, c_usecs, tt_usecs, period=interval,
                  bw_period=bw_period, bw_uperiod=bw_period << 3, cs_mask=cs_mask)
    return IsoParams(ps, interval << 3, maxp, (usecs + c_usecs) // bw_period, False)


def _carryover(tt_usecs: list[int]) -> None:
    """carryover_tt_bandwidth(): full-speed time past a microframe's share runs on."""
    for i in range(7):
        if MAX_TT_USECS[i] < tt_usecs[i]:
            tt_usecs[i + 1] += tt_usecs[i] - MAX_TT_USECS[i]
            tt_usecs[i] = MAX_TT_USECS[i]


class Bandwidth:
    """The periodic bandwidth of one EHCI controller (ehci->bandwidth, ehci->tt_list,
    ehci->random_frame).  Context: every method is atomic."""

    def __init__(self, uframe_periodic_max: int = UFRAME_PERIODIC_MAX) -> None:
        self.uframe_periodic_max = uframe_periodic_max
        self.bandwidth = [0] * EHCI_BANDWIDTH_SIZE
        self.tt_list: list[EhciTT] = []
        self._tts: dict[tuple[int, int], EhciTT] = {}
        self.random_frame = 0
        self._tt_budget = [0] * EHCI_BANDWIDTH_SIZE

    # -- transaction translators --------------------------------------------------------------

    def find_tt(self, key: object, hub_name: str, multi: bool, ttport: int,
                think_time: int) -> EhciTT:
        """find_tt(): the ehci_tt of the usb_tt `key` (one per port of a multi-TT hub),
        created on first use."""
        port = ttport - 1 if multi else 0
        tt = self._tts.get((id(key), port))
        if tt is None:
            tt = self._tts[(id(key), port)] = EhciTT(hub_name, port, multi, think_time, key)
            self.tt_list.append(tt)
        return tt

    def drop_tt(self, tt: EhciTT) -> None:
        """drop_tt(): forget a TT no endpoint uses any more."""
        if tt.ps_list:
            return
        for key, known in list(self._tts.items()):
            if known is tt:
                del self._tts[key]
                self.tt_list.remove(tt)

    @staticmethod
    def compute_tt_budget(tt: EhciTT) -> list[int]:
        """compute_tt_budget(): per microframe, the full-speed µs the TT's endpoints use,
        each pushed forward into later microframes past 125 µs."""
        budget = [0] * EHCI_BANDWIDTH_SIZE
        for ps in tt.ps_list:
            for uframe in range(ps.bw_phase << 3, EHCI_BANDWIDTH_SIZE, ps.bw_uperiod):
                x = ps.tt_usecs
                for uf in range(ps.phase_uf, 8):
                    x += budget[uframe + uf]
                    if x <= 125:
                        budget[uframe + uf] = x
                        break
                    budget[uframe + uf] = 125
                    x -= 125
        return budget

    def tt_available(self, ps: PerSched, tt: EhciTT, frame: int, uframe: int) -> bool:
        """tt_available(): whether the TT's bus can start `ps`'s transaction in `uframe`
        of `frame` and each frame its period repeats in."""
        period, usecs = ps.bw_period, ps.tt_usecs
        if period == 0 or uframe >= 7:
            return False
        for f in range(frame & (period - 1), EHCI_BANDWIDTH_FRAMES, period):
            if tt.bandwidth[f] + usecs > TT_FRAME_MAX_USECS:
                return False
            tt_usecs = self._tt_budget[f << 3:(f << 3) + 8]
            if MAX_TT_USECS[uframe] <= tt_usecs[uframe]:
                return False
            if usecs > 125 and any(tt_usecs[i] > 0
                                   for i in range(uframe, min(uframe + usecs // 125, 8))):
                return False
            tt_usecs[uframe] += usecs
            _carryover(tt_usecs)
            if MAX_TT_USECS[7] < tt_usecs[7]:
                return False
        return True

    # -- interrupt QHs --------------------------------------------------------------------------

    def check_period(self, frame: int, uframe: int, uperiod: int, usecs: int) -> bool:
        """check_period(): room for `usecs` more in `uframe` of every period from `frame`."""
        if uframe >= 8:
            return False
        limit = self.uframe_periodic_max - usecs
        return all(self.bandwidth[u] <= limit
                   for u in range(uframe + (frame << 3), EHCI_BANDWIDTH_SIZE, uperiod))

    def check_intr_schedule(self, ps: PerSched, frame: int, uframe: int,
                            tt: EhciTT | None) -> int | None:
        """check_intr_schedule(): the C-mask (0 for high speed) if `ps` fits with its
        start in `uframe` of `frame`, else None."""
        if ps.c_usecs and uframe >= 6:
            return None
        if not self.check_period(frame, uframe, ps.bw_uperiod, ps.usecs):
            return None
        if not ps.c_usecs:
            return 0
        if tt is None or not self.tt_available(ps, tt, frame, uframe):
            return None
        mask = 0
        for i in range(uframe + 2, min(8, uframe + 5)):
            if not self.check_period(frame, i, ps.bw_uperiod, ps.c_usecs):
                return None
            mask |= 1 << i
        return mask

    def qh_schedule(self, ps: PerSched) -> int:
        """qh_schedule(): first fit for a new interrupt QH, starting at Linux's rotating
        `random_frame`; sets phase, microframe and masks and reserves.  0, or -ENOSPC
        when no slot has room (the schedule is kept if it was set before)."""
        if ps.scheduled:
            return 0
        tt = ps.tt
        if tt is not None:
            self._tt_budget = self.compute_tt_budget(tt)
        found: tuple[int, int] | None = None
        if ps.bw_period:
            for _ in range(ps.bw_period):
                self.random_frame = (self.random_frame + 1) & _U32
                frame = self.random_frame & (ps.bw_period - 1)
                found = next(((uf, c) for uf in range(8)
                              if (c := self.check_intr_schedule(ps, frame, uf, tt))
                              is not None), None)
                if found is not None:
                    break
        elif (c_mask := self.check_intr_schedule(ps, 0, 0, tt)) is not None:
            found = (0, c_mask)
        if found is None:
            return -Errno.ENOSPC
        uframe, c_mask = found
        ps.phase = self.random_frame & (ps.period - 1) if ps.period else 0
        ps.bw_phase = ps.phase & ((ps.bw_period - 1) & _U32)
        ps.phase_uf = uframe
        ps.cs_mask = (c_mask << 8) | (1 << uframe) if ps.period else QH_SMASK
        self.reserve_release_intr(ps, 1)
        return 0

    def reserve_release_intr(self, ps: PerSched, sign: int) -> None:
        """reserve_release_intr_bandwidth(): add (`sign` 1) or take back (-1) the QH's
        microframe and TT time."""
        if not ps.scheduled:
            return
        start_uf = ps.bw_phase << 3
        for i in range(start_uf + ps.phase_uf, EHCI_BANDWIDTH_SIZE, ps.bw_uperiod):
            self.bandwidth[i] += sign * ps.usecs
        if ps.c_usecs:
            for i in range(start_uf, EHCI_BANDWIDTH_SIZE, ps.bw_uperiod):
                for j in range(2, 8):
                    if ps.cs_mask & (1 << (j + 8)):
                        self.bandwidth[i + j] += sign * ps.c_usecs
        self._reserve_tt(ps, sign, start_uf >> 3)

    def _reserve_tt(self, ps: PerSched, sign: int, first_frame: int) -> None:
        tt = ps.tt
        if not ps.tt_usecs or tt is None:
            return
        if sign > 0:
            tt.ps_list.append(ps)
        elif ps in tt.ps_list:
            tt.ps_list.remove(ps)
        for i in range(first_frame, EHCI_BANDWIDTH_FRAMES, ps.bw_period):
            tt.bandwidth[i] += sign * ps.tt_usecs

    # -- isochronous streams --------------------------------------------------------------------

    def itd_slot_ok(self, ps: PerSched, uframe: int) -> bool:
        """itd_slot_ok(): room for a high-speed stream starting in `uframe`."""
        limit = self.uframe_periodic_max - ps.usecs
        return all(self.bandwidth[u] <= limit for u in
                   range(uframe & (ps.bw_uperiod - 1), EHCI_BANDWIDTH_SIZE, ps.bw_uperiod))

    def sitd_slot_ok(self, ps: PerSched, uframe: int, tt: EhciTT) -> bool:
        """sitd_slot_ok(): room on the TT and for the splits of a full-speed stream
        starting in `uframe`; shifts the stream's masks into place when there is."""
        shift = uframe & 7
        if ((ps.cs_mask & 0xFF) << shift) >= 1 << 7 or (ps.cs_mask << shift) & ~0xFFFF:
            return False
        uframe &= ps.bw_uperiod - 1
        if not self.tt_available(ps, tt, uframe >> 3, uframe & 7):
            return False
        while uframe < EHCI_BANDWIDTH_SIZE:
            limit = self.uframe_periodic_max - ps.usecs
            starts = ps.cs_mask & 0xFF
            uf = uframe
            while starts:
                if self.bandwidth[uf] > limit:
                    return False
                starts >>= 1
                uf += 1
            if ps.c_usecs:
                limit = self.uframe_periodic_max - ps.c_usecs
                base = uframe & ~7
                for i in range((uframe & 7) + 2, 8):
                    if ps.cs_mask & (1 << (i + 8 - (uframe & 7))) and \
                            self.bandwidth[base + i] > limit:
                        return False
            uframe += ps.bw_uperiod
        ps.cs_mask <<= shift
        return True

    def iso_schedule(self, ps: PerSched, uperiod: int, highspeed: bool) -> int:
        """The new-stream part of iso_stream_schedule(): the start microframe of the first
        slot with room, searched backwards from Linux's rotating start, with the stream's
        phase set and its bandwidth reserved; -ENOSPC when nothing fits ("iso sched
        full")."""
        tt = ps.tt
        if tt is not None:
            self._tt_budget = self.compute_tt_budget(tt)
        self.random_frame = (self.random_frame + 1) & _U32
        start = ((-self.random_frame) << 3) & (uperiod - 1)
        stop = start
        start += uperiod
        done = False
        while True:
            start -= 1
            if highspeed:
                done = self.itd_slot_ok(ps, start)
            elif start % 8 < 6 and tt is not None:
                done = self.sitd_slot_ok(ps, start, tt)
            if done or start <= stop:
                break
        if not done:
            return -Errno.ENOSPC
        ps.phase = (start >> 3) & ((ps.period - 1) & _U32)
        ps.bw_phase = ps.phase & ((ps.bw_period - 1) & _U32)
        ps.phase_uf = start & 7
        self.reserve_release_iso(ps, 1, highspeed)
        return start

    def reserve_release_iso(self, ps: PerSched, sign: int, highspeed: bool) -> None:
        """reserve_release_iso_bandwidth()."""
        if not ps.scheduled:
            return
        uframe = ps.bw_phase << 3
        if highspeed:
            for i in range(uframe + ps.phase_uf, EHCI_BANDWIDTH_SIZE, ps.bw_uperiod):
                self.bandwidth[i] += sign * ps.usecs
            return
        s_mask, c_mask = ps.cs_mask & 0xFF, (ps.cs_mask >> 8) & 0xFF
        for i in range(uframe, EHCI_BANDWIDTH_SIZE, ps.bw_uperiod):
            for j in range(ps.phase_uf, 8):
                if s_mask & (1 << j):
                    self.bandwidth[i + j] += sign * ps.usecs
                elif c_mask & (1 << j):
                    self.bandwidth[i + j] += sign * ps.c_usecs
        self._reserve_tt(ps, sign, uframe >> 3)

    # -- debugfs ----------------------------------------------------------------------------

    def text(self, describe: Callable[[PerSched], str]) -> str:
        """fill_bandwidth_buffer(): the `bandwidth` file; `describe(ps)` gives the
        "dev ep xx:" head of each TT endpoint line (dev_name and bEndpointAddress)."""
        lines = ["HS bandwidth allocation (us per microframe)\n"]
        lines += _table(self.bandwidth)
        for tt in self.tt_list:
            lines.append(f"\nTT {tt.hub_name} port {tt.port + int(tt.multi)}  "
                         "FS/LS bandwidth allocation (us per frame)\n")
            lines.append("  " + "".join(f"{n:5d}" for n in tt.bandwidth) + "\n")
            lines.append("FS/LS budget (us per microframe)\n")
            lines += _table(self.compute_tt_budget(tt))
            lines += [f"{describe(ps)}  {ps.tt_usecs:4d} @ {ps.bw_phase:2d}.{ps.phase_uf}"
                      f"+{ps.bw_period} mask {ps.cs_mask:04x}\n" for ps in tt.ps_list]
        return "".join(lines)


def _table(values: list[int]) -> list[str]:
    return [f"{i:2d}: " + "".join(f"{v:4d}" for v in values[i:i + 8]) + "\n"
            for i in range(0, EHCI_BANDWIDTH_SIZE, 8)]


# -- the periodic frame list --------------------------------------------------------------------


class PeriodicNode(Protocol):
    """What the frame list holds: an interrupt QH, an iTD or an siTD."""

    @property
    def node_kind(self) -> str:
        """"qh", "itd" or "sitd"."""

    @property
    def node_period(self) -> int:
        """The period in frames a QH is sorted by (0: every microframe)."""

    def describe(self, first: bool) -> str:
        """The periodic file's text for this node (fill_periodic_buffer); `first` is
        True the first time a QH is shown."""


class FrameList:
    """ehci->periodic / ehci->pshadow: `size` frames, each a chain of nodes with the
    isochronous descriptors first and interrupt QHs after them sorted from the slowest
    period to the fastest, shared between the frames whose branches meet
    (qh_link_periodic, itd_link, periodic_unlink).  Context: atomic."""

    def __init__(self, size: int = DEFAULT_I_TDPS) -> None:
        self.size = size
        self.frames: list[list[PeriodicNode]] = [[] for _ in range(size)]

    def link_qh(self, qh: PeriodicNode, phase: int) -> None:
        """qh_link_periodic(): into frame `phase` and every period after it."""
        for frame in range(phase, self.size, qh.node_period or 1):
            chain = self.frames[frame]
            if qh in chain:
                continue
            at = len(chain)
            for i, node in enumerate(chain):
                if node.node_kind == "qh" and qh.node_period > node.node_period:
                    at = i
                    break
            chain.insert(at, qh)

    def unlink(self, node: PeriodicNode) -> None:
        """periodic_unlink() from every frame holding the node."""
        for chain in self.frames:
            if node in chain:
                chain.remove(node)

    def link_td(self, frame: int, td: PeriodicNode) -> None:
        """itd_link(): an iTD after the frame's isochronous descriptors, ahead of its
        interrupt QHs; sitd_link(): an siTD at the head of the frame."""
        chain = self.frames[frame % self.size]
        at = 0 if td.node_kind == "sitd" else next(
            (i for i, node in enumerate(chain) if node.node_kind == "qh"), len(chain))
        chain.insert(at, td)

    def unlink_td(self, frame: int, td: PeriodicNode) -> None:
        chain = self.frames[frame % self.size]
        if td in chain:
            chain.remove(td)

    def nodes(self) -> Iterator[PeriodicNode]:
        """Every distinct node linked anywhere."""
        seen: set[int] = set()
        for chain in self.frames:
            for node in chain:
                if id(node) not in seen:
                    seen.add(id(node))
                    yield node

    def text(self) -> str:
        """fill_periodic_buffer(): "size = N" then each non-empty frame's chain; the first
        DBG_SCHED_LIMIT QHs are shown in full once only."""
        out = [f"size = {self.size}\n"]
        seen: set[int] = set()
        for frame, chain in enumerate(self.frames):
            if not chain:
                continue
            parts = [f"{frame:4d}: "]
            for i, node in enumerate(chain):
                first = id(node) not in seen
                parts.append(node.describe(first))
                if node.node_kind != "qh":
                    continue
                if first:
                    if len(seen) < _DBG_SCHED_LIMIT:
                        seen.add(id(node))
                elif i + 1 < len(chain):
                    parts.append(" ...")
            out.append("".join(parts) + "\n")
        return "".join(out)
