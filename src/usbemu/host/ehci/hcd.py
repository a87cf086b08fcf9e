"""The EHCI-model host controller — counterpart of Linux's drivers/usb/host/ehci-hcd.c,
ehci-q.c, ehci-sched.c and ehci-pci.c, on virtual time.

`EhciHCD` (controller kind "ehci", bound as ehci-pci, named ehci_hcd) schedules URBs as
EHCI hardware and ehci-hcd do.  Control and bulk endpoints have queue heads on the
asynchronous schedule, a ring the controller serves round robin, one transaction per visit,
after the periodic work of each microframe; interrupt QHs sit in the periodic frame list at
their polling interval (S-mask microframe, C-mask for the complete-splits of a device behind
a TT), isochronous URBs become iTDs (high speed, one per frame) or siTDs (split).  Bandwidth
is reserved as ehci-sched reserves it (`usbemu.host.ehci.sched`): 100 of each 125 µs at
high speed, 900 µs of each frame of a TT, -ENOSPC for the URB that would not fit, and the
B: line of the devices file counts the linked QHs and streams.

Time on the wire follows the USB 2.0 protocol tables: a microframe carries 7500 byte times
at high speed, a full-speed frame 1500; a transaction costs its payload plus its protocol
overhead (55 bytes for a high-speed bulk, control or interrupt packet, 38 isochronous; 13
for full-speed bulk, control and interrupt, 9 isochronous; a low-speed byte is 8 full-speed
byte times), so a high-speed bulk endpoint moves at most 13 × 512 bytes per microframe
(53.248 MB/s) and a full-speed one 19 × 64 per frame (1.216 MB/s).  A full- or low-speed
device behind a high-speed hub (or behind this controller's own TT, `has_tt`) is served on
that TT's full-speed bus, single or multi as the hub says.  Each URB's data moves through
the device model when its queue head starts it (whole, like the in-process controller), and
the URB completes at the end of the (micro)frame in which its last packet would have
crossed the bus.  A NAKed IN or OUT waits for the model's `endpoint_ready`; the NAKs the
hardware would have collected meanwhile (NAK counter reload: 4 per microframe for a
high-speed asynchronous QH, one per poll for an interrupt QH) are counted, not simulated.
Short packets end a transfer (the rest of its qTDs are skipped), a STALL halts the queue
head until the driver clears it, and any error stops the queue until the completion has
run, as ehci-q.c's qh_completions does.

What it does not do: the register file, IAA and the unlink timers (an unlinked URB comes
back on the next pass), the high-speed cost of split transactions on the async schedule,
FSTNs, or per-packet costs shorter than a full packet (every transaction is charged its
endpoint's full packet).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final

from ...core.urb import IsoPacket, Urb, UrbFlag
from ...emulated.device import DeviceModel
from ...emulated.endpoint import Endpoint, Outcome
from ...errors import Errno
from ...kernel.vfs import Attr, Node
from ...spec.ch9 import EndpointType, Speed
from ..inproc import InProcessController, iso_packet
from ..roothub import EHCI_ROOT_HUB, RootHubKind
from .sched import DEFAULT_I_TDPS, Bandwidth, EhciTT, FrameList, PerSched, intr_params, iso_params

if TYPE_CHECKING:
    from ...core.usb import UsbDevice, UsbHostEndpoint
    from ...core.usbcore import UsbCore
    from ...kernel.device import Device

__all__ = ["EhciHCD", "EhciStats", "EndpointStats", "LaneStats", "qtd_lengths"]

#: Byte times of a high-speed microframe and of a full-speed frame (USB 2.0 §5.11.3).
HS_UFRAME_BYTES: Final = 7500
FS_FRAME_BYTES: Final = 1500
#: A low-speed byte lasts eight full-speed byte times.
LS_BYTE: Final = 8
#: Protocol overhead of one transaction, in byte times of its speed (USB 2.0 tables 5-4..5-10).
_OVERHEAD: Final = {
    (Speed.HIGH, EndpointType.CONTROL): 55, (Speed.HIGH, EndpointType.BULK): 55,
    (Speed.HIGH, EndpointType.INT): 55, (Speed.HIGH, EndpointType.ISOC): 38,
    (Speed.FULL, EndpointType.CONTROL): 13, (Speed.FULL, EndpointType.BULK): 13,
    (Speed.FULL, EndpointType.INT): 13, (Speed.FULL, EndpointType.ISOC): 9,
}
#: qTD buffer: five 4 KiB pages (page-aligned buffers).
QTD_MAX_BYTES: Final = 5 * 4096
#: EHCI_TUNE_RL_HS: NAKs a high-speed asynchronous QH takes per microframe before the
#: controller skips it until the counter reloads; split QHs reload 0 (no limit, the TT paces).
EHCI_TUNE_RL_HS: Final = 4
#: EHCI_TUNE_CERR: attempts at a transaction nobody answers before the qTD halts.
EHCI_TUNE_CERR: Final = 3
#: ehci-timer.c: an interrupt QH left empty is unlinked after this (EHCI_HRTIMER_START_UNLINK_INTR).
INTR_UNLINK_WAIT_S: Final = 0.005
UFRAME_S: Final = 0.000125
_PER_SECOND: Final = 8000
#: Virtual times are floats: a time within this many microframes of a boundary is on it.
_EPS: Final = 1e-4
_DIR_IN: Final = int(UrbFlag.DIR_IN)
_ZERO_PACKET: Final = int(UrbFlag.ZERO_PACKET)
_ISO_ASAP: Final = int(UrbFlag.ISO_ASAP)
_EMPTY: Final = memoryview(b"")
_NAK: Final = 1  # a segment that ends with the endpoint NAKing: the QH then waits
_NAK_READY: Final = 2  # ... and the endpoint said it is ready again meanwhile
_ASYNC: Final = frozenset({EndpointType.CONTROL, EndpointType.BULK})
_SPEED_CHAR: Final = {Speed.LOW: "l", Speed.FULL: "f", Speed.HIGH: "h"}
_HASH: Final = itertools.count(0x1F3A5)
_ORDER: Final = itertools.count()


def _fake_pointer() -> str:
    """A %p as Linux prints it (hashed, 16 hex digits), stable within a run."""
    return f"{(next(_HASH) * 2654435761) & 0xFFFFFFFF:016x}"


def qtd_lengths(urb: Urb, maxp: int) -> list[int]:
    """qh_urb_transaction(): the byte count of each qTD of a URB — for control the setup
    qTD, the data qTDs and the status qTD; data split at 20 KiB (a qTD that is not the last
    ends on a packet boundary); a zero-length qTD when an OUT transfer wants a ZLP.
    Context: atomic."""
    length = urb.transfer_buffer_length
    control = urb.setup_packet is not None
    out: list[int] = [8] if control else []
    step = QTD_MAX_BYTES - QTD_MAX_BYTES % maxp if maxp else QTD_MAX_BYTES
    out += [min(step, length - at) for at in range(0, length, step)]
    zlp = not urb.transfer_flags & _DIR_IN and urb.transfer_flags & _ZERO_PACKET
    if control or not length or (zlp and length % maxp == 0):
        out.append(0)
    return out


# -- buses: the high-speed bus and each TT's full-speed bus --------------------------------------


class _Lane:
    """One bus the controller puts transactions on: the high-speed bus, frame = one
    microframe, or a TT's full-speed bus, frame = eight.  Asynchronous QHs with packets to
    move wait in `ring` in ring order; `ptr` is the next one the round robin visits."""

    __slots__ = ("budget", "busy", "frame_uf", "frames", "label", "periodic_use", "ptr",
                 "recent", "ring", "tt")

    def __init__(self, label: str, frame_uf: int, budget: int, tt: object = None) -> None:
        self.label = label
        self.frame_uf = frame_uf
        self.budget = budget
        #: The usb_tt whose bus this is (kept, so that its identity stays this lane's).
        self.tt = tt
        self.ring: list[_Qh] = []
        self.ptr = 0
        self.busy = 0
        self.frames = 0
        #: Byte times of periodic transactions already put in a frame: frame → use.
        self.periodic_use: dict[int, int] = {}
        #: Use of the last 64 frames served, oldest first.
        self.recent: deque[int] = deque(maxlen=64)

    def first_frame(self, u: int) -> int:
        """The first frame not yet served when microframes before `u` are done."""
        return (u + self.frame_uf) // self.frame_uf - 1

    def frame_end(self, frame: int) -> int:
        """The microframe in which `frame` ends."""
        return frame * self.frame_uf + self.frame_uf - 1


# -- queue heads and isochronous streams ---------------------------------------------------------


class _Qh:
    """struct ehci_qh for one endpoint (and, for an isochronous endpoint, its
    ehci_iso_stream): its place on a bus, its current transfer and its counters."""

    __slots__ = (
        "bytes",
        "cost",
        "created",
        "due",
        "end",
        "ep_type",
        "gap_uf",
        "hep",
        "highspeed",
        "is_in",
        "iso_bandwidth",
        "lane",
        "linked",
        "maxp",
        "mult",
        "naks",
        "next_uframe",
        "offset_uf",
        "order",
        "packets",
        "pointer",
        "ps",
        "speed",
        "start",
        "stopped",
        "transactions",
        "udev",
        "unlink_timer",
        "uperiod",
        "urbs",
        "wait_since",
        "waiting",
    )

    def __init__(self, udev: UsbDevice, hep: UsbHostEndpoint, lane: _Lane, now_uf: int) -> None:
        self.udev = udev
        self.hep = hep
        self.lane = lane
        self.ep_type = EndpointType(hep.type)
        self.is_in = bool(hep.address & 0x80) or self.ep_type == EndpointType.CONTROL
        self.speed = udev.speed
        self.maxp = max(hep.maxp, 1)
        wmax = hep.desc.wMaxPacketSize
        self.mult = ((wmax >> 11) & 3) + 1 if self.speed == Speed.HIGH else 1
        self.cost = _transaction_cost(self.speed, self.ep_type, self.maxp)
        self.created = now_uf
        self.order = next(_ORDER)  # ties between QHs go to the older
        self.packets = 0  # transactions still to go in the current segment
        self.end = 0  # the status the segment ends with, or _NAK
        self.start = 0  # the microframe the segment joins its bus
        self.stopped = 0  # errors and unlinks whose completions have not run
        self.waiting = False
        self.wait_since = 0
        self.linked = False  # periodic: in the frame list
        self.ps: PerSched | None = None
        self.iso_bandwidth = 0  # what the B: line counts while the stream has URBs
        self.gap_uf = 0
        self.due = -1  # periodic: the microframe of the next transaction, -1 if none
        self.uperiod = 0  # periodic: microframes between transactions
        self.offset_uf = 0  # periodic: the microframe within the frame it runs in
        self.next_uframe = -1  # isochronous: the slot after the last packet queued
        self.highspeed = self.speed == Speed.HIGH
        self.unlink_timer: asyncio.TimerHandle | None = None
        self.pointer = _fake_pointer()
        self.bytes = 0
        self.transactions = 0
        self.naks = 0
        self.urbs = 0

    # -- the periodic file (PeriodicNode) ------------------------------------------------------

    @property
    def node_kind(self) -> str:
        return "qh"

    @property
    def node_period(self) -> int:
        return self.ps.period if self.ps is not None else 0

    def describe(self, first: bool) -> str:
        ps = self.ps
        mask = ps.cs_mask & 0xFFFF if ps is not None else 0
        text = f" qh{self.node_period}-{mask:04x}/{self.pointer}"
        if not first:
            return text
        qtds = sum(len(qtd_lengths(urb, self.maxp)) for urb in self.hep.urb_list)
        kind = ("in" if self.is_in else "out") if self.hep.urb_list else ""
        usecs, c_usecs = (ps.usecs, ps.c_usecs) if ps is not None else (0, 0)
        return (f"{text} ({_SPEED_CHAR.get(self.speed, '?')}{self.udev.devnum} "
                f"ep{self.hep.address & 0xF}{kind} [{usecs}/{c_usecs}] q{qtds} p{self.maxp})")


@dataclass(eq=False, slots=True)
class _IsoUrb:
    """An isochronous URB on its stream: its first slot, the next packet to move, and the
    iTDs / siTDs linked for it (frame, TD)."""

    urb: Urb
    start: int
    index: int
    tds: list[tuple[int, _IsoTd]]

    def slot(self, uperiod: int) -> int:
        return self.start + self.index * uperiod


class _IsoTd:
    """An iTD (one frame of a high-speed stream) or siTD (one split packet) linked into the
    frame list while its URB is pending."""

    __slots__ = ("pointer", "qh", "split")

    def __init__(self, qh: _Qh, split: bool) -> None:
        self.qh = qh
        self.split = split
        self.pointer = _fake_pointer()

    @property
    def node_kind(self) -> str:
        return "sitd" if self.split else "itd"

    @property
    def node_period(self) -> int:
        return 0

    def describe(self, first: bool) -> str:
        if not self.split:
            return f" itd/{self.pointer}"
        ps = self.qh.ps
        period, mask = (ps.period, ps.cs_mask & 0xFFFF) if ps is not None else (0, 0)
        return f" sitd{period}-{mask:04x}/{self.pointer}"


def _transaction_cost(speed: Speed, ep_type: EndpointType, payload: int) -> int:
    """Byte times of one full transaction on its bus (the high-speed bus for high-speed
    devices, the TT's full-speed bus for the others)."""
    if speed == Speed.LOW:
        return (payload + 13) * LS_BYTE
    return payload + _OVERHEAD[(Speed.HIGH if speed == Speed.HIGH else Speed.FULL, ep_type)]


def _ceil_uf(t: float) -> int:
    return int(-(-(t * _PER_SECOND - _EPS) // 1))


def _floor_uf(t: float) -> int:
    return int(t * _PER_SECOND + _EPS)


# -- statistics ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaneStats:
    """Use of one bus: `name` ("high-speed" or "TT 1-1 port 0"), frames served, the mean
    share of each frame that carried transactions, and the last 64 frames' shares."""

    name: str
    frames: int
    utilisation: float
    recent: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """One queue head's counters: bytes and transactions moved, NAKs, URBs completed and
    bytes per second since it was created."""

    device: str
    endpoint: int
    type: str
    bytes: int
    transactions: int
    naks: int
    urbs: int
    throughput: float


@dataclass(frozen=True, slots=True)
class EhciStats:
    """A snapshot of the controller: the frame number, microframes run, each bus and each
    endpoint."""

    frame_number: int
    uframes: int
    lanes: tuple[LaneStats, ...]
    endpoints: tuple[EndpointStats, ...]

    def text(self) -> str:
        """The statistics as `usbemu stats` and the shell's `stats` print them."""
        lines = [f"frame {self.frame_number}, {self.uframes} microframes "
                 f"({self.uframes / _PER_SECOND:.6f} s)"]
        lines += [f"{lane.name}: {lane.utilisation * 100:5.1f}% of {lane.frames} frames"
                  for lane in self.lanes]
        lines += [f"{ep.device} ep {ep.endpoint:02x} {ep.type:<4} {ep.bytes:>12} bytes "
                  f"{ep.transactions:>9} transactions {ep.naks:>9} NAKs {ep.urbs:>7} URBs "
                  f"{ep.throughput / 1e6:10.3f} MB/s" for ep in self.endpoints]
        return "\n".join(lines) + "\n"


# -- the controller --------------------------------------------------------------------------------


class EhciHCD(InProcessController):
    """An EHCI controller (ehci-pci, ehci_hcd) whose schedules run on virtual time.

    `nports` root ports (6 unless told, at most 15: HCS_N_PORTS); `has_tt` gives the root
    hub an integrated transaction translator so that full- and low-speed models work on
    root ports (without it they are handed to companion controllers, or stay unused);
    `uframe_periodic_max` is the periodic share of a microframe in µs (100 to 124).
    """

    description = "ehci_hcd"
    product_desc = "EHCI Host Controller"
    driver_name = "ehci-pci"
    rh_speed = Speed.HIGH
    root_hub_kind: ClassVar[RootHubKind] = EHCI_ROOT_HUB
    max_ports = 15
    debug_dir = "ehci"

    def __init__(self, core: UsbCore, controller: Device, nports: int = 6, *,
                 has_tt: bool = True, uframe_periodic_max: int = 100) -> None:
        if not 100 <= uframe_periodic_max <= 124:
            raise ValueError(f"uframe_periodic_max={uframe_periodic_max}: must be 100..124 µs")
        super().__init__(core, controller, nports)
        self.has_tt = has_tt
        self.bw = Bandwidth(uframe_periodic_max)
        self.frame_list = FrameList(DEFAULT_I_TDPS)
        self.hs = _Lane("high-speed", 1, HS_UFRAME_BYTES, None)
        self._tt_lanes: dict[tuple[int, int], _Lane] = {}
        self._qhs: dict[int, _Qh] = {}
        self._waiting: dict[tuple[int, int], _Qh] = {}
        self._joiners: list[_Qh] = []
        self._periodic: set[_Qh] = set()
        self._isoc: dict[int, deque[_IsoUrb]] = {}
        self._uf = _ceil_uf(self.loop.time())
        self._timer: asyncio.TimerHandle | None = None
        self._timer_uf = -1
        self._in_engine = False

    def start(self) -> int:
        """ehci_run(): "USB 2.0 started, EHCI 1.00".  Context: atomic."""
        self.core.log.dev_info(self.controller, "USB 2.0 started, EHCI 1.00")
        return 0

    def get_frame_number(self) -> int:
        """ehci_get_frame(): the frame index register's frame, modulo the frame list.
        Context: atomic."""
        return (_floor_uf(self.loop.time()) >> 3) % self.frame_list.size

    # -- the engine: simulated microframes ------------------------------------------------------

    def _now_uf(self) -> int:
        return _floor_uf(self.loop.time())

    def _sync(self) -> int:
        """Run every microframe that has ended; the microframe new work joins at."""
        t = self.loop.time()
        self._advance(_floor_uf(t))
        return max(_ceil_uf(t), self._uf)

    def _advance(self, target: int) -> None:
        """Simulate microframes [self._uf, target)."""
        if self._in_engine:
            return
        self._in_engine = True
        try:
            u = self._uf
            while u < target:
                self._add_joiners(u)
                nxt = min(target, self._next_periodic(), self._next_joiner())
                if nxt > u:
                    self._run_lanes(u, nxt)
                    u = nxt
                    continue
                self._serve_periodic(u)
                self._run_lanes(u, u + 1)
                u += 1
            self._uf = max(self._uf, target)
        finally:
            self._in_engine = False

    def _add_joiners(self, u: int) -> None:
        if not self._joiners:
            return
        keep = []
        for qh in self._joiners:
            if qh.start <= u:
                qh.lane.ring.append(qh)
            else:
                keep.append(qh)
        self._joiners = keep

    def _next_joiner(self) -> int:
        return min((qh.start for qh in self._joiners), default=1 << 62)

    def _next_periodic(self) -> int:
        return min((qh.due for qh in self._periodic if qh.due >= 0), default=1 << 62)

    def _lanes(self) -> list[_Lane]:
        return [self.hs, *self._tt_lanes.values()]

    def _run_lanes(self, u: int, v: int) -> None:
        for lane in self._lanes():
            first, last = lane.first_frame(u), v // lane.frame_uf
            if last > first:
                self._run_lane(lane, first, last)

    def _run_lane(self, lane: _Lane, frame: int, stop: int) -> None:
        """Serve the lane's frames [frame, stop)."""
        while frame < stop:
            ring = lane.ring
            if not ring:
                lane.frames += stop - frame
                lane.recent.extend([0] * min(stop - frame, 64))
                for f in [f for f in lane.periodic_use if f < stop]:
                    lane.busy += lane.periodic_use.pop(f)
                return
            span = self._even_span(lane, frame, stop)
            if span:
                frame += span
                continue
            self._serve_frame(lane, frame)
            frame += 1

    def _even_span(self, lane: _Lane, frame: int, stop: int) -> int:
        """Serve whole frames in one step while every QH on the ring has the same packet
        cost, no periodic transaction shares them and none of the QHs can finish; the
        frames served."""
        ring = lane.ring
        cost = ring[0].cost
        if any(qh.cost != cost for qh in ring) or any(f < stop for f in lane.periodic_use
                                                      if f >= frame):
            return 0
        k, per_frame = len(ring), lane.budget // cost
        share = -(-per_frame // k)
        span = min(stop - frame, (min(qh.packets for qh in ring) - 1) // share)
        if span <= 0:
            return 0
        total = span * per_frame
        ptr = lane.ptr % k
        for j in range(k):
            qh = ring[(ptr + j) % k]
            got = (total - j + k - 1) // k
            qh.packets -= got
            qh.transactions += got
        lane.ptr = (ptr + total) % k
        lane.busy += total * cost
        lane.frames += span
        lane.recent.extend([per_frame * cost] * min(span, 64))
        return span

    def _serve_frame(self, lane: _Lane, frame: int) -> None:
        """One frame of the lane, transaction by transaction in round-robin order."""
        used = lane.periodic_use.pop(frame, 0)
        left = lane.budget - used
        ring = lane.ring
        end_uf = lane.frame_end(frame)
        while ring:
            k = len(ring)
            lane.ptr %= k
            qh = ring[lane.ptr]
            if qh.cost > left:
                fits = [i for i in range(k) if ring[(lane.ptr + i) % k].cost <= left]
                if not fits:
                    break
                lane.ptr = (lane.ptr + fits[0]) % k
                continue
            left -= qh.cost
            used += qh.cost
            qh.packets -= 1
            qh.transactions += 1
            if qh.packets > 0:
                lane.ptr += 1
                continue
            self._segment_done(qh, end_uf)
            if qh.packets > 0 and qh in ring:
                lane.ptr += 1
            elif qh in ring:
                ring.remove(qh)
        lane.busy += used
        lane.frames += 1
        lane.recent.append(used)

    # -- the periodic schedule -------------------------------------------------------------------

    def _serve_periodic(self, u: int) -> None:
        """The periodic transactions due in microframe `u`, in frame-list order: slower
        periods first, then the order the QHs were made in."""
        for qh in sorted((qh for qh in self._periodic if qh.due == u),
                         key=lambda q: (-q.node_period, q.order)):
            if qh.ep_type == EndpointType.ISOC:
                self._iso_packet(qh, u)
            else:
                self._interrupt_transaction(qh, u)

    def _slot_after(self, qh: _Qh, u: int) -> int:
        """The first microframe ≥ `u` in which the periodic QH has a transaction."""
        ps = qh.ps
        assert ps is not None
        if qh.uperiod <= 1:
            return u
        base = ((ps.phase << 3) + qh.offset_uf) % qh.uperiod
        return u + (base - u) % qh.uperiod

    def _interrupt_transaction(self, qh: _Qh, u: int) -> None:
        hep = qh.hep
        if not hep.urb_list or hep.urb_list[0].unlinked or qh.stopped:
            qh.due = -1
            return
        urb = hep.urb_list[0]
        model = self._route(urb)
        ep = None if model is None else model.token_endpoint(hep.address)
        room = qh.maxp * qh.mult
        view = urb.buffer_view()[urb.actual_length:]
        if ep is None:
            outcome, n = Outcome.NO_RESPONSE, 0
        elif qh.is_in:
            outcome, n = ep.pull_in(view[:room])
        else:
            chunk = view[:room]
            outcome, n = ep.push_out(chunk, False)
        self._charge(qh, u, n)
        urb.actual_length += n
        qh.bytes += n
        if outcome is Outcome.NAK:
            qh.naks += n == 0
            self._watch(qh, model)
            self._begin_wait(qh, u + 1)
            return
        if outcome is Outcome.DONE and n == room and urb.actual_length < \
                urb.transfer_buffer_length:
            qh.due = self._slot_after(qh, u + 1)
            return
        self._giveback(qh, urb, self.outcome_status[outcome, qh.is_in])
        self._next_periodic_urb(qh, u + 1)

    def _charge(self, qh: _Qh, u: int, nbytes: int) -> None:
        """Put a periodic transaction's time into the frame its bus runs it in."""
        lane = qh.lane
        frame = u // lane.frame_uf
        cost = _transaction_cost(qh.speed, qh.ep_type, min(nbytes, qh.maxp * qh.mult))
        lane.periodic_use[frame] = lane.periodic_use.get(frame, 0) + cost
        qh.transactions += 1

    def _next_periodic_urb(self, qh: _Qh, u: int) -> None:
        if qh.hep.urb_list and not qh.stopped:
            qh.due = self._slot_after(qh, u)
        else:
            qh.due = -1
            self._unlink_later(qh)

    # -- moving a segment of an asynchronous QH ---------------------------------------------------

    def _start(self, qh: _Qh, join_uf: int | None) -> None:
        """Start the QH's head URB (or its rest after a NAK): move its data through the
        model and put its transactions on the bus from `join_uf` (None: at once, inside
        the frame being served)."""
        hep = qh.hep
        if not hep.urb_list or qh.stopped or qh.waiting or hep.urb_list[0].unlinked:
            return
        urb = hep.urb_list[0]
        model = self._route(urb)
        packets, end = self._move(qh, model, urb)
        if end == _NAK:
            self._watch(qh, model)
            if packets == 0:
                self._begin_wait(qh, join_uf if join_uf is not None else self._uf)
                return
        qh.packets, qh.end = packets, end
        if join_uf is None or join_uf <= self._uf:
            if qh not in qh.lane.ring:
                qh.lane.ring.append(qh)
        else:
            qh.start = join_uf
            self._joiners.append(qh)

    def _move(self, qh: _Qh, model: DeviceModel | None, urb: Urb) -> tuple[int, int]:
        """Move the URB's (remaining) data; (transactions it takes, how it ends)."""
        if qh.ep_type == EndpointType.CONTROL:
            if model is None:
                return EHCI_TUNE_CERR, -Errno.EPROTO
            status = self._control(model, urb)
            if status is None:
                return 0, _NAK
            data = -(-urb.actual_length // qh.maxp)
            qh.bytes += urb.actual_length
            return (2 + data if status != -Errno.EPROTO else EHCI_TUNE_CERR), status
        ep = None if model is None else model.token_endpoint(qh.hep.address)
        if ep is None:
            return EHCI_TUNE_CERR, -Errno.EPROTO
        view = urb.buffer_view()[urb.actual_length:]
        if qh.is_in:
            outcome, n = ep.pull_in(view)
            zlp = outcome is Outcome.DONE and n % qh.maxp == 0 and n < len(view)
        else:
            total = urb.transfer_buffer_length
            zlp = bool(urb.transfer_flags & _ZERO_PACKET) and total > 0 \
                and total % qh.maxp == 0
            outcome, n = ep.push_out(view, zlp)
            zlp = zlp and outcome is Outcome.DONE
        urb.actual_length += n
        qh.bytes += n
        packets = -(-n // qh.maxp) + int(zlp)
        if outcome is Outcome.NAK:
            return packets, _NAK
        if outcome is Outcome.DONE:
            return max(packets, 1), 0
        if outcome is Outcome.STALL:
            return packets + 1, -Errno.EPIPE
        return max(packets, 1), self.outcome_status[outcome, qh.is_in]

    def _segment_done(self, qh: _Qh, end_uf: int) -> None:
        """The QH's last transaction of the segment went out in microframe `end_uf`."""
        qh.packets = 0
        if qh.end == _NAK:
            self._begin_wait(qh, end_uf + 1)
            return
        if qh.end == _NAK_READY:
            self._start(qh, None)
            return
        urb = qh.hep.urb_list[0] if qh.hep.urb_list else None
        if urb is None or urb.unlinked:
            return
        self._giveback(qh, urb, qh.end)
        if not qh.stopped:
            self._start(qh, None)

    def _giveback(self, qh: _Qh, urb: Urb, status: int) -> None:
        self.unlink_urb_from_ep(urb)
        qh.urbs += 1
        if qh.ep_type == EndpointType.INT and self.bus is not None:
            self.bus.bandwidth_int_reqs -= 1
        self.giveback_urb(urb, status)
        if urb.status and qh.ep_type != EndpointType.ISOC:
            self._hold(qh)

    def _hold(self, qh: _Qh) -> None:
        """Halt the QH until the completions now pending have run (qh_completions)."""
        qh.stopped += 1
        self.after_giveback(functools.partial(self._resume_after_error, qh))

    def _resume_after_error(self, qh: _Qh) -> None:
        qh.stopped -= 1
        if qh.stopped or not qh.hep.urb_list:
            return
        self._kick(qh)
        self._arm()

    def _kick(self, qh: _Qh) -> None:
        """New work for an idle QH: start it on its bus or schedule its next poll."""
        if qh.waiting or qh.packets > 0 or qh in qh.lane.ring or qh in self._joiners:
            return
        join = self._sync()
        if qh.ep_type in _ASYNC:
            self._start(qh, join)
        elif qh.ep_type == EndpointType.INT:
            if qh.due < 0:
                qh.due = self._slot_after(qh, join)
        elif qh.due < 0:
            self._iso_arm(qh)

    # -- waiting on a NAKing endpoint -----------------------------------------------------------

    def _watch(self, qh: _Qh, model: DeviceModel | None) -> None:
        """The endpoint NAKed: be told when the model has data or room again."""
        if model is not None:
            self._waiting[(id(model), qh.hep.address)] = qh

    def _begin_wait(self, qh: _Qh, since: int) -> None:
        """The QH has nothing left to send before the NAK: it waits, polled by the
        hardware, until the model is ready."""
        qh.waiting = True
        qh.wait_since = since
        qh.due = -1

    def _count_naks(self, qh: _Qh, now_uf: int) -> None:
        """The NAKs the hardware collected while the QH waited."""
        waited = max(0, now_uf - qh.wait_since)
        if qh.ep_type == EndpointType.INT:
            qh.naks += waited // max(qh.uperiod, 1)
        elif qh.highspeed:
            qh.naks += waited * EHCI_TUNE_RL_HS
        else:
            qh.naks += waited // 8

    def endpoint_ready(self, device: DeviceModel, ep: Endpoint) -> None:
        qh = self._waiting.pop((id(device), ep.address), None)
        if qh is None:
            return
        if not qh.waiting:
            qh.end = _NAK_READY  # still sending what it had: go on once that is out
            return
        if self._in_engine:
            self.loop.call_soon(self._ready, qh)
            return
        self._ready(qh)

    def _ready(self, qh: _Qh) -> None:
        if not qh.waiting:
            return
        join = self._sync()
        qh.waiting = False
        self._count_naks(qh, join)
        if qh.ep_type == EndpointType.INT:
            qh.due = self._slot_after(qh, join) if qh.hep.urb_list else -1
        else:
            self._start(qh, join)
        self._arm()

    def device_disconnected(self, device: DeviceModel) -> None:
        """The transfers the device was NAKing get no handshake on their next poll: each
        such queue gives its head URB back with -EPROTO and stops."""
        key = id(device)
        for (owner, addr), qh in list(self._waiting.items()):
            if owner != key:
                continue
            del self._waiting[(owner, addr)]
            if not qh.waiting:
                qh.end = -Errno.EPROTO  # what it still had to send gets no handshake
                continue
            qh.waiting = False
            hep = qh.hep
            if hep.urb_list and not hep.urb_list[0].unlinked:
                self._giveback(qh, hep.urb_list[0], -Errno.EPROTO)
        self._arm()

    # -- the timer: wake at the end of the next microframe something ends in -------------------

    def _arm(self) -> None:
        if self._in_engine:
            return
        event = self._next_event()
        if event == self._timer_uf and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_uf = event
        if event < 0:
            return
        self._timer = self.loop.call_at((event + 1) / _PER_SECOND, self._tick)

    def _tick(self) -> None:
        event, self._timer, self._timer_uf = self._timer_uf, None, -1
        self._advance(max(self._now_uf(), event + 1))  # the microframe it was set for is over
        self._arm()

    def _next_event(self) -> int:
        """The earliest microframe a transfer could end in, -1 when nothing moves."""
        events = [qh.due for qh in self._periodic if qh.due >= 0]
        for lane in self._lanes():
            qhs = [*lane.ring, *(qh for qh in self._joiners if qh.lane is lane)]
            if not qhs:
                continue
            rate = max(1, lane.budget // min(qh.cost for qh in qhs))
            for qh in qhs:
                begin = lane.first_frame(max(self._uf, qh.start if qh in self._joiners else 0))
                frames = -(-max(qh.packets, 1) // rate)
                events.append(lane.frame_end(begin + frames - 1))
        return max(min(events), self._uf) if events else -1

    # -- hc_driver --------------------------------------------------------------------------------

    def urb_enqueue(self, urb: Urb) -> int:
        """Queue the URB on its endpoint's QH: an interrupt endpoint's first URB gets its
        periodic slot (qh_schedule), an isochronous URB its slots (iso_stream_schedule);
        -ENOSPC when the schedule has no room.  Context: atomic."""
        rc = self.link_urb_to_ep(urb)
        if rc:
            return rc
        hep, udev = urb.ep, urb.dev
        assert hep is not None and udev is not None
        qh = self._qh_for(udev, hep)
        if qh.ep_type == EndpointType.INT:
            rc = self._intr_submit(qh, urb)
        elif qh.ep_type == EndpointType.ISOC:
            rc = self._iso_submit(qh, urb)
        if rc:
            self.unlink_urb_from_ep(urb)
            return rc
        if len(hep.urb_list) == 1 or qh.ep_type == EndpointType.ISOC:
            self._kick(qh)
        self._arm()
        return 0

    def _qh_for(self, udev: UsbDevice, hep: UsbHostEndpoint) -> _Qh:
        qh = hep.hcpriv
        if isinstance(qh, _Qh) and qh.udev is udev:
            return qh
        qh = _Qh(udev, hep, self._lane_for(udev), self._now_uf())
        hep.hcpriv = qh
        self._qhs[id(qh)] = qh
        return qh

    def _lane_for(self, udev: UsbDevice) -> _Lane:
        """The bus the device's transactions run on: the high-speed bus, or the full-speed
        bus of its transaction translator (one per port of a multi-TT hub)."""
        from ...core.hub import UsbTT, usb_ttport

        if udev.speed == Speed.HIGH:
            return self.hs
        utt = udev.tt
        port = usb_ttport(udev) if isinstance(utt, UsbTT) and utt.multi else 0
        key = (id(utt), port)
        lane = self._tt_lanes.get(key)
        if lane is None:
            name = f"TT {utt.hub.name} port {port}" if isinstance(utt, UsbTT) else "full-speed"
            lane = self._tt_lanes[key] = _Lane(name, 8, FS_FRAME_BYTES, utt)
        return lane

    def _ehci_tt(self, udev: UsbDevice) -> EhciTT | None:
        from ...core.hub import UsbTT, usb_ttport

        utt = udev.tt
        if not isinstance(utt, UsbTT):
            return None
        return self.bw.find_tt(utt, utt.hub.name, utt.multi, usb_ttport(udev), utt.think_time)

    def _intr_submit(self, qh: _Qh, urb: Urb) -> int:
        """intr_submit(): schedule the QH if it is idle, link it, count the request."""
        udev, hep = qh.udev, qh.hep
        if qh.ps is None:
            tt = self._ehci_tt(udev)
            params = intr_params(udev.name, hep.address, udev.speed, hep.desc.wMaxPacketSize,
                                 hep.desc.bInterval, urb.interval,
                                 tt.think_time if tt else 0, self.frame_list.size)
            params.ps.tt = tt
            qh.ps, qh.gap_uf = params.ps, params.gap_uf
        ps = qh.ps
        rc = self.bw.qh_schedule(ps)
        if rc:
            self.core.log.dev_dbg(self.controller, f"ep {hep.address:02x}: no room for "
                                  f"{ps.usecs}/{ps.c_usecs} us every {ps.bw_uperiod} uframes")
            return rc
        urb.interval = ps.period << 3 if qh.highspeed else ps.period
        if qh.highspeed and ps.period == 0:
            urb.interval = 1
        self._link_periodic(qh)
        if self.bus is not None:
            self.bus.bandwidth_int_reqs += 1
        return 0

    def _link_periodic(self, qh: _Qh) -> None:
        """qh_link_periodic(): into the frame list; the B: line counts it."""
        if qh.unlink_timer is not None:
            qh.unlink_timer.cancel()
            qh.unlink_timer = None
        if qh.linked:
            return
        ps = qh.ps
        assert ps is not None
        qh.linked = True
        self.frame_list.link_qh(qh, ps.phase)
        self._periodic.add(qh)
        qh.uperiod = ps.period << 3 if ps.period else 1
        qh.offset_uf = ps.phase_uf if qh.highspeed else _last_cs_uframe(ps)
        if self.bus is not None:
            self.bus.bandwidth_allocated += _qh_bandwidth(ps)

    def _unlink_later(self, qh: _Qh) -> None:
        """start_unlink_intr_wait(): an empty interrupt QH leaves the schedule 5 ms on."""
        if qh.linked and qh.unlink_timer is None and qh.ep_type == EndpointType.INT:
            qh.unlink_timer = self.loop.call_later(INTR_UNLINK_WAIT_S, self._unlink_idle, qh)

    def _unlink_idle(self, qh: _Qh) -> None:
        qh.unlink_timer = None
        if not qh.hep.urb_list:
            self._unlink_periodic(qh)

    def _unlink_periodic(self, qh: _Qh) -> None:
        """qh_unlink_periodic()."""
        if qh.unlink_timer is not None:
            qh.unlink_timer.cancel()
            qh.unlink_timer = None
        if not qh.linked:
            return
        qh.linked = False
        self.frame_list.unlink(qh)
        self._periodic.discard(qh)
        qh.due = -1
        if self.bus is not None and qh.ps is not None:
            self.bus.bandwidth_allocated -= _qh_bandwidth(qh.ps)

    # -- isochronous streams (iTDs and siTDs) -----------------------------------------------------

    def _iso_submit(self, qh: _Qh, urb: Urb) -> int:
        """itd_submit / sitd_submit: place the URB's packets from the stream's next slot.
        A new stream gets its slot and bandwidth first (iso_stream_schedule); URB_ISO_ASAP,
        or a stream that ran dry, starts at the first slot past the scheduling threshold;
        otherwise packets whose slots have passed are skipped (-EXDEV, error_count)."""
        udev, hep = qh.udev, qh.hep
        if qh.ps is None:
            tt = self._ehci_tt(udev)
            params = iso_params(udev.name, hep.address, udev.speed, hep.desc.wMaxPacketSize,
                                hep.desc.bInterval, urb.interval, tt.think_time if tt else 0)
            params.ps.tt = tt
            qh.ps, qh.iso_bandwidth, qh.uperiod = params.ps, params.bandwidth, params.uperiod
        ps = qh.ps
        stream = self._isoc.setdefault(id(qh), deque())
        now = self._sync()
        threshold = (now + 2 + 7) & ~7  # a full-frame isochronous cache, as Intel's have
        if not ps.scheduled:
            start = self.bw.iso_schedule(ps, qh.uperiod, qh.highspeed)
            if start < 0:
                self.core.log.dev_dbg(self.controller, f"iso sched full {_fake_pointer()}")
                return start
            qh.offset_uf = start & 7 if qh.highspeed else _last_cs_uframe(ps)
            qh.next_uframe = -1
        base = (ps.phase << 3) + qh.offset_uf
        start = qh.next_uframe
        skip = 0
        if start < 0 or (not stream and (urb.transfer_flags & _ISO_ASAP or start < now)):
            start = threshold + (base - threshold) % qh.uperiod
        elif start < threshold:
            skip = min(-(-(threshold - start) // qh.uperiod), urb.number_of_packets)
        if not stream and self.bus is not None:
            self.bus.bandwidth_allocated += qh.iso_bandwidth
        if self.bus is not None:
            self.bus.bandwidth_isoc_reqs += 1
        frames = sorted({(start + i * qh.uperiod) >> 3 for i in range(urb.number_of_packets)})
        pending = _IsoUrb(urb, start, skip, [])
        for frame in frames[:self.frame_list.size]:
            td = _IsoTd(qh, not qh.highspeed)
            self.frame_list.link_td(frame, td)
            pending.tds.append((frame, td))
        stream.append(pending)
        qh.next_uframe = start + urb.number_of_packets * qh.uperiod
        mod = self.frame_list.size << 3
        urb.start_frame = start % mod if qh.highspeed else (start % mod) >> 3
        urb.actual_length = 0
        urb.error_count = skip
        for packet in urb.iso_frame_desc[:skip]:
            packet.actual_length, packet.status = 0, -Errno.EXDEV
        self._periodic.add(qh)
        return 0

    def _iso_arm(self, qh: _Qh) -> None:
        stream = self._isoc.get(id(qh))
        qh.due = stream[0].slot(qh.uperiod) if stream else -1

    def _iso_packet(self, qh: _Qh, u: int) -> None:
        """One packet of the stream's head URB in its slot; the URB completes after its
        last (itd_complete / sitd_complete)."""
        stream = self._isoc.get(id(qh))
        if not stream:
            qh.due = -1
            return
        pending = stream[0]
        urb = pending.urb
        if pending.index < urb.number_of_packets:
            packet = urb.iso_frame_desc[pending.index]
            self._iso_transfer(qh, urb, packet)
            self._charge(qh, u, packet.actual_length)
            pending.index += 1
        if pending.index < urb.number_of_packets:
            qh.due = pending.slot(qh.uperiod)
            return
        stream.popleft()
        self._iso_done(qh, pending, 0)

    def _iso_done(self, qh: _Qh, pending: _IsoUrb, status: int) -> None:
        """Give an isochronous URB back: its TDs leave the frame list, the stream's
        bandwidth leaves the B: line with its last URB."""
        for frame, td in pending.tds:
            self.frame_list.unlink_td(frame, td)
        stream = self._isoc.get(id(qh))
        if self.bus is not None:
            self.bus.bandwidth_isoc_reqs -= 1
            if not stream:
                self.bus.bandwidth_allocated -= qh.iso_bandwidth
        if not stream:
            qh.next_uframe = -1 if status else qh.next_uframe
        self.unlink_urb_from_ep(pending.urb)
        qh.urbs += 1
        self.giveback_urb(pending.urb, status)
        self._iso_arm(qh)

    def _iso_transfer(self, qh: _Qh, urb: Urb, packet: IsoPacket) -> None:
        """Move one packet; its errors stay in the packet (`iso_packet`)."""
        model = self._route(urb)
        ep = None if model is None else model.token_endpoint(qh.hep.address)
        iso_packet(ep, urb.buffer_view()[packet.offset:packet.offset + packet.length],
                   qh.is_in, packet)
        urb.error_count += packet.status != 0
        urb.actual_length += packet.actual_length
        qh.bytes += packet.actual_length

    # -- unlinking ---------------------------------------------------------------------------------

    def _giveback_unlinked(self, urb: Urb) -> None:
        """An unlinked URB comes back on the controller's next pass with the data it has
        moved; its queue stops until the completion has run."""
        hep = urb.ep
        if hep is None or urb not in hep.urb_list:
            return
        qh = hep.hcpriv
        if not isinstance(qh, _Qh):
            self.unlink_urb_from_ep(urb)
            self.giveback_urb(urb, urb.unlinked)
            return
        self._sync()
        head = hep.urb_list[0] is urb
        if head:
            self._drop_segment(qh)
        if qh.ep_type == EndpointType.ISOC:
            self._iso_unlink(qh, urb)
            return
        self.unlink_urb_from_ep(urb)
        qh.urbs += 1
        if qh.ep_type == EndpointType.INT and self.bus is not None:
            self.bus.bandwidth_int_reqs -= 1
        self.giveback_urb(urb, urb.unlinked)
        self._hold(qh)
        if qh.ep_type == EndpointType.INT and not hep.urb_list:
            qh.due = -1
            self._unlink_later(qh)
        self._arm()

    def _drop_segment(self, qh: _Qh) -> None:
        """Take the QH's current transfer off the bus."""
        qh.packets = 0
        if qh in qh.lane.ring:
            qh.lane.ring.remove(qh)
        if qh in self._joiners:
            self._joiners.remove(qh)
        if qh.waiting:
            qh.waiting = False
            self._waiting = {k: q for k, q in self._waiting.items() if q is not qh}

    def _iso_unlink(self, qh: _Qh, urb: Urb) -> None:
        stream = self._isoc.get(id(qh), deque())
        for pending in list(stream):
            if pending.urb is urb:
                stream.remove(pending)
                self._iso_done(qh, pending, urb.unlinked)
        self._arm()

    def endpoint_disable(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:
        """ehci_endpoint_disable(): the QH goes; its reserved bandwidth is released."""
        qh = hep.hcpriv
        if isinstance(qh, _Qh):
            self._drop_segment(qh)
            self._unlink_periodic(qh)
            self._periodic.discard(qh)
            ps = qh.ps
            if ps is not None:
                if qh.ep_type == EndpointType.ISOC:
                    self.bw.reserve_release_iso(ps, -1, qh.highspeed)
                    self._isoc.pop(id(qh), None)
                else:
                    self.bw.reserve_release_intr(ps, -1)
                if ps.tt is not None:
                    self.bw.drop_tt(ps.tt)
            self._qhs.pop(id(qh), None)
        hep.hcpriv = None
        self._arm()

    # -- debugfs, statistics -----------------------------------------------------------------------

    def debug_files(self) -> Mapping[str, Node]:
        """/sys/kernel/debug/usb/ehci/<bus>/: `bandwidth` and `periodic` (ehci-dbg.c).
        Context: atomic."""
        return {"bandwidth": Attr(self._bandwidth_text), "periodic": Attr(self._periodic_text)}

    def _bandwidth_text(self) -> str:
        self._sync()
        return self.bw.text(lambda ps: f"{ps.udev_name} ep {ps.ep_address:02x}:")

    def _periodic_text(self) -> str:
        self._sync()
        return self.frame_list.text()

    def statistics(self) -> EhciStats:
        """The frame number, each bus's use and each endpoint's counters, as of now.
        Context: atomic."""
        self._sync()
        now = self._uf
        lanes = tuple(LaneStats(lane.label, lane.frames,
                                lane.busy / (lane.frames * lane.budget) if lane.frames else 0.0,
                                tuple(x / lane.budget for x in lane.recent))
                      for lane in self._lanes())
        endpoints = tuple(
            EndpointStats(qh.udev.name, qh.hep.address, qh.ep_type.name.lower(), qh.bytes,
                          qh.transactions, qh.naks, qh.urbs,
                          qh.bytes * _PER_SECOND / (now - qh.created) if now > qh.created
                          else 0.0)
            for qh in self._qhs.values())
        return EhciStats(self.get_frame_number(), now, lanes, endpoints)


def _qh_bandwidth(ps: PerSched) -> int:
    """What qh_link_periodic adds to the bus's bandwidth_allocated."""
    return (ps.usecs + ps.c_usecs) // ps.bw_period if ps.bw_period else ps.usecs * 8


def _last_cs_uframe(ps: PerSched) -> int:
    """The microframe of a split transaction's last complete-split (or start-split for an
    OUT without complete-splits): when its result is back."""
    mask = (ps.cs_mask >> 8) & 0xFF or ps.cs_mask & 0xFF
    return mask.bit_length() - 1 if mask else ps.phase_uf

