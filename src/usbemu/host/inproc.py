"""The in-process host controller — usbemu's counterpart of Linux's dummy_hcd
(drivers/usb/gadget/udc/dummy_hcd.c): a controller whose "wire" is a function call into
emulated device models.

URBs queue per endpoint, as on any controller; the head URB is moved at once when the
device can take it, else it waits (NAK) until the model says the endpoint is ready.  Data
moves a whole transfer at a time through `usbemu.emulated.endpoint`, which computes what
the packets would have done: short packets, ZLPs, babble, STALL.  Outcomes map to Linux's
status codes: STALL → -EPIPE, babble → -EOVERFLOW, no answer → -EPROTO, a transaction error
(CRC, bit stuffing: a fault plan's, `usbemu.emulated.faults`) → what the controller's
hardware reports (`outcome_status`: -EPROTO on EHCI), and a device that
vanished mid-transfer → -EPROTO (at once for the transfers it was NAKing: the controller's
next poll gets no handshake).  Isochronous URBs keep their errors per packet (babble
-EOVERFLOW, no answer -EPROTO, counted in error_count) and complete with status 0.  Queued
URBs run in batches; after an error or an unlink a bulk, interrupt or control queue stops
until the completion handler of that URB has run, as Linux's controllers do, and an
unlinked URB stays on its endpoint's list until the controller gives it back a moment later
(so a second unlink of it gets -EBUSY).

The root hub's ports are `usbemu.host.roothub.RootHub` (ehci-hub.c's behaviour, the port
state machine hub models share); bus suspend and resume act on the devices behind them.

Timing: there is no bus-time model here.  Periodic endpoints are the exception that keeps
time moving: an interrupt URB completes no sooner than one interval after the previous
completion on its endpoint, an isochronous URB takes one interval per packet, and a token
nobody answers costs a frame, so polling drivers advance the clock instead of spinning.

Addressing follows the wire: a URB goes to the model that answers to the pipe's address
through enabled ports (address 0 reaches the one device in the default state).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Final

from ..core.hcd import HostController
from ..core.urb import IsoPacket, Urb, UrbFlag, usb_pipedevice
from ..emulated.device import DeviceModel
from ..emulated.endpoint import Endpoint, Outcome
from ..errors import Errno
from ..spec.ch9 import DeviceState, EndpointType, SetupPacket, Speed
from .pci import pci_resources
from .roothub import EHCI_ROOT_HUB, RootHub, RootHubKind

if TYPE_CHECKING:
    from ..core.usb import UsbDevice, UsbHostEndpoint
    from ..core.usbcore import UsbCore
    from ..kernel.device import Device


def outcome_statuses(crc_in: int, crc_out: int,
                     bitstuff: int) -> Mapping[tuple[Outcome, bool], int]:
    """The URB status of each answer that ends a transfer, by (outcome, IN transfer?):
    STALL -EPIPE, babble -EOVERFLOW, no answer -EPROTO, and the transaction errors as a
    controller's hardware reports them — a CRC error on IN and on OUT (where the device
    drops the packet and never answers), a bit-stuffing error.  Context: atomic."""
    fixed = {Outcome.DONE: 0, Outcome.STALL: -Errno.EPIPE, Outcome.BABBLE: -Errno.EOVERFLOW,
             Outcome.NO_RESPONSE: -Errno.EPROTO, Outcome.BITSTUFF: bitstuff}
    table = {(outcome, is_in): status for outcome, status in fixed.items()
             for is_in in (True, False)}
    table[Outcome.CRC, True], table[Outcome.CRC, False] = crc_in, crc_out
    return table


#: ehci-q.c qtd_copy_status: a transaction error ("timeout, bad CRC, wrong PID, etc") is
#: -EPROTO once the three strikes are spent.
EHCI_STATUS: Final = outcome_statuses(-Errno.EPROTO, -Errno.EPROTO, -Errno.EPROTO)
FRAME: Final = 0.001
#: A timer may fire with the clock up to a nanosecond short of its float deadline (asyncio
#: takes a timer as due when `when < time() + clock_resolution`): a service time that
#: close counts as come, or the queue would re-arm the same timer for ever.
_TIMER_SLACK_S: Final = 1e-9
_DIR_IN: Final = int(UrbFlag.DIR_IN)
_ZERO_PACKET: Final = int(UrbFlag.ZERO_PACKET)
_XFER_BULK: Final = int(EndpointType.BULK)
_XFER_CONTROL: Final = int(EndpointType.CONTROL)
_XFER_ISOC: Final = int(EndpointType.ISOC)
_XFER_INT: Final = int(EndpointType.INT)
_EMPTY: Final = memoryview(b"")
_EPROTO: Final = -Errno.EPROTO
_DONE: Final = Outcome.DONE
_NAK: Final = Outcome.NAK


def iso_packet(ep: Endpoint | None, chunk: memoryview, is_in: bool, packet: IsoPacket) -> None:
    """Move one isochronous packet between `chunk` (its part of the URB's buffer) and the
    endpoint, setting the packet's status and actual_length: no answer -EPROTO, an IN
    packet larger than its buffer -EOVERFLOW with nothing stored (ehci-sched.c
    itd_complete).  Context: atomic."""
    packet.actual_length = 0
    if ep is None:
        packet.status = -Errno.EPROTO
        return
    if is_in:
        data = ep.iso_in(ep.maxpacket * ep.mult)
        if len(data) > len(chunk):
            packet.status = -Errno.EOVERFLOW
            return
        chunk[: len(data)] = data
        packet.actual_length = len(data)
    else:
        ep.iso_out(chunk)
        packet.actual_length = len(chunk)
    packet.status = 0


class _EndpointQueue:
    """Controller state of one host endpoint (its QH, in EHCI terms)."""

    __slots__ = ("hep", "next_service", "retry", "scheduled", "stopped", "udev", "waiting")

    def __init__(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:
        self.udev = udev
        self.hep = hep
        self.waiting = False
        self.scheduled = False
        #: Errors and unlinks whose completion handlers have not run yet: the queue is
        #: halted while this is not 0.
        self.stopped = 0
        self.next_service = 0.0
        self.retry: Urb | None = None


class InProcessController(HostController):
    """Base of controllers that hand URBs to device models in this process: it moves the
    data and owns the root hub's ports (`root_hub`, also the framework's `downstream`)
    that models plug into.  Subclasses give it a name and say which driver's root hub it
    has (`root_hub_kind`)."""

    root_hub_kind: ClassVar[RootHubKind] = EHCI_ROOT_HUB
    #: The most root ports the hardware presented has.
    max_ports: ClassVar[int] = 31
    #: The URB status of each device answer, as the hardware presented reports it.
    outcome_status: ClassVar[Mapping[tuple[Outcome, bool], int]] = EHCI_STATUS

    def __init__(self, core: UsbCore, controller: Device, nports: int) -> None:
        if not 1 <= nports <= self.max_ports:
            raise ValueError(f"nports={nports}: {self.root_hub_kind.name.upper()} root hubs "
                             f"have 1..{self.max_ports} ports")
        super().__init__(core, controller, nports)
        self.irq, self.rsrc_start = pci_resources(controller.name, memory=self.io_memory)
        self._waiters: dict[tuple[int, int], _EndpointQueue] = {}
        self.root_hub = RootHub(self, nports, self.root_hub_kind)
        self.downstream = self.root_hub

    # -- device models: who answers to an address ---------------------------------------------

    def root_models(self) -> list[DeviceModel]:
        """Models plugged into the root hub's ports."""
        return self.root_hub.models()

    def find_model(self, address: int) -> DeviceModel | None:
        """The model that answers tokens sent to `address` now, or None."""
        stack = list(self.root_models())
        while stack:
            model = stack.pop()
            if model.reachable:
                if model.address == address and (address or model.state is
                                                  DeviceState.DEFAULT):
                    return model
                stack.extend(child for _, child in model.children())
        return None

    def _route(self, urb: Urb) -> DeviceModel | None:
        """The model the URB's tokens reach: the one last found for its device while it
        still answers at that address; at address 0 the model in the default state where
        the device sits (through its parent hub's model, not a walk of the bus); else
        `find_model`."""
        udev = urb.dev
        assert udev is not None
        address = usb_pipedevice(urb.pipe)
        cached = udev.hcpriv
        if (isinstance(cached, DeviceModel) and cached.address == address and cached.reachable
                and (address or cached.state is DeviceState.DEFAULT)):
            return cached
        model = None if address else self._at_port(udev)
        if model is None or not model.reachable or model.address or \
                model.state is not DeviceState.DEFAULT:
            model = self.find_model(address)
        if model is not None:
            udev.hcpriv = model
        return model

    def _at_port(self, udev: UsbDevice) -> DeviceModel | None:
        """The model plugged in where `udev` sits: in a root port, or in a port of the
        model its parent hub's device last reached; None when that is not known."""
        parent = udev.usb_parent
        if parent is None:
            return None
        owner = self.root_hub if parent.usb_parent is None else \
            parent.hcpriv.downstream if isinstance(parent.hcpriv, DeviceModel) else None
        if owner is None or not 1 <= udev.portnum <= owner.nports:
            return None
        return owner.plugged(udev.portnum)

    # -- hc_driver ----------------------------------------------------------------------------

    def urb_enqueue(self, urb: Urb) -> int:
        rc = self.link_urb_to_ep(urb)
        if rc:
            return rc
        hep = urb.ep
        assert hep is not None and urb.dev is not None
        queue = hep.hcpriv
        if not isinstance(queue, _EndpointQueue) or queue.udev is not urb.dev:
            queue = hep.hcpriv = _EndpointQueue(urb.dev, hep)
        if len(hep.urb_list) == 1 and not queue.scheduled and not queue.stopped:
            if self.completing:   # resubmitted from a completion: moves on the next pass
                self._schedule(queue, 0.0)
            else:
                self._run(queue)
        return 0

    def urb_dequeue(self, urb: Urb, status: int) -> int:
        """Mark the URB unlinked now; the controller gives it back on its next pass (it
        stays on the endpoint's list until then, as on any real controller)."""
        rc = self.check_unlink_urb(urb, status)
        if rc:
            return rc
        self.loop.call_soon(self._giveback_unlinked, urb)
        return 0

    def _giveback_unlinked(self, urb: Urb) -> None:
        hep = urb.ep
        if hep is None or urb not in hep.urb_list:
            return
        self.unlink_urb_from_ep(urb)
        self.giveback_urb(urb, urb.unlinked)
        queue = hep.hcpriv
        if isinstance(queue, _EndpointQueue) and hep.type != _XFER_ISOC:
            self._stop(queue)

    def _stop(self, queue: _EndpointQueue) -> None:
        """Halt the queue until the completions now pending have run."""
        queue.stopped += 1
        self.after_giveback(functools.partial(self._after_error, queue))

    def endpoint_disable(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:
        queue = hep.hcpriv
        if isinstance(queue, _EndpointQueue):
            self._waiters = {k: q for k, q in self._waiters.items() if q is not queue}
        hep.hcpriv = None

    # -- the root hub -------------------------------------------------------------------------

    def hub_status_data(self) -> bytes:
        return self.root_hub.status_data()

    def hub_control(self, setup: SetupPacket, buf: memoryview) -> int:
        return self.root_hub.control(setup, buf)

    def bus_suspend(self) -> int:
        self.root_hub.suspend()
        return 0

    def bus_resume(self) -> int:
        self.root_hub.resume()
        return 0

    # -- DeviceHost: what models call --------------------------------------------------------

    def endpoint_ready(self, device: DeviceModel, ep: Endpoint) -> None:
        queue = self._waiters.pop((id(device), ep.address), None)
        if queue is not None:
            queue.waiting = False
            self._schedule(queue, 0.0)

    def remote_wakeup(self, device: DeviceModel) -> None:
        self.core.log.dev_dbg(self.controller, "remote wakeup from a device")

    def device_disconnected(self, device: DeviceModel) -> None:
        """The transfers the device was NAKing get no handshake on their next poll: each
        such queue gives its head URB back with -EPROTO now and stops."""
        key = id(device)
        for (owner, addr), queue in list(self._waiters.items()):
            if owner != key:
                continue
            del self._waiters[(owner, addr)]
            queue.waiting = False
            hep = queue.hep
            if hep.urb_list and not hep.urb_list[0].unlinked:
                urb = hep.urb_list[0]
                self.unlink_urb_from_ep(urb)
                self.giveback_urb(urb, -Errno.EPROTO)
                self._stop(queue)
            else:
                self._schedule(queue, FRAME)

    # -- moving URBs --------------------------------------------------------------------------

    def _schedule(self, queue: _EndpointQueue, delay: float) -> None:
        if queue.scheduled:
            return
        queue.scheduled = True
        now = self.loop.time()
        # A bulk queue the device made ready moves on the loop's next pass, without a
        # timer; periodic ones keep the timer's order (hub status URBs decide enumeration
        # order).
        if delay == 0 and queue.hep.type == _XFER_BULK:
            self.loop.call_soon(self._resume, queue)
            return
        self.loop.call_at(max(now + delay, queue.next_service), self._resume, queue)

    def _resume(self, queue: _EndpointQueue) -> None:
        queue.scheduled = False
        self._run(queue)

    def _run(self, queue: _EndpointQueue) -> None:
        """Move URBs at the head of the endpoint's queue until one must wait."""
        if queue.stopped:
            return
        hep = queue.hep
        while hep.urb_list:
            urb = hep.urb_list[0]
            if urb.unlinked:
                return
            if queue.next_service and queue.next_service - self.loop.time() > _TIMER_SLACK_S:
                self._schedule(queue, 0.0)
                return
            model = self._route(urb)
            status = self._transfer(queue, model, urb)
            if status is None:
                return
            if status == _EPROTO and queue.retry is not urb and _unanswered(model, hep):
                queue.retry = urb  # the controller's retries cost a frame
                self._schedule(queue, FRAME)
                return
            queue.retry = None
            self.unlink_urb_from_ep(urb)
            self.giveback_urb(urb, status)
            if urb.status and hep.type != _XFER_ISOC:  # -EREMOTEIO stops a queue too
                self._stop(queue)
                return

    def _after_error(self, queue: _EndpointQueue) -> None:
        queue.stopped -= 1
        if queue.hep.urb_list and not queue.scheduled:
            self._run(queue)

    def _transfer(self, queue: _EndpointQueue, model: DeviceModel | None,
                  urb: Urb) -> int | None:
        """Run (the rest of) one URB; its status, or None while it waits."""
        hep = queue.hep
        xfer = hep.type  # the endpoint's type decides the transaction, as its QH's does
        if xfer == _XFER_CONTROL:
            if model is None:
                return -Errno.EPROTO
            status = self._control(model, urb)
            if status is None:
                queue.waiting = True
                self._waiters[(id(model), hep.address)] = queue
            return status
        ep = None if model is None else model.token_endpoint(hep.address)
        if xfer == _XFER_ISOC:
            return self._isochronous(queue, ep, urb)
        if ep is None:
            return -Errno.EPROTO
        view = urb.buffer_view()
        done = urb.actual_length
        if done:
            view = view[done:]
        if urb.transfer_flags & _DIR_IN:
            outcome, n = ep.pull_in(view)
        else:
            total = urb.transfer_buffer_length
            zlp = bool(urb.transfer_flags & _ZERO_PACKET) and total > 0 \
                and total % ep.maxpacket == 0
            outcome, n = ep.push_out(view, zlp)
        urb.actual_length += n
        if outcome is _NAK:
            queue.waiting = True
            self._waiters[(id(model), ep.address)] = queue
            return None
        if ep.type == _XFER_INT and urb.interval:  # interrupt: next poll one interval on
            queue.next_service = self.loop.time() + self._interval_s(urb)
        return 0 if outcome is _DONE else self.outcome_status[outcome, ep.is_in]

    def _interval_s(self, urb: Urb) -> float:
        udev = urb.dev
        assert udev is not None
        unit = 0.000125 if udev.speed >= Speed.HIGH else FRAME
        return urb.interval * unit

    def _control(self, model: DeviceModel, urb: Urb) -> int | None:
        """Run one control URB through the model: its status, or None while the device
        NAKs it (then `endpoint_ready` for endpoint 0 retries it).  Context: atomic."""
        assert urb.setup_packet is not None
        view = urb.buffer_view()
        is_in = bool(urb.transfer_flags & _DIR_IN)
        if is_in:
            outcome, n = model.control(urb.setup_packet, _EMPTY, view)
        else:
            outcome, n = model.control(urb.setup_packet, view)
        urb.actual_length = n if outcome is Outcome.DONE else 0
        if outcome is _NAK:
            return None
        return self.outcome_status[outcome, is_in]

    def _isochronous(self, queue: _EndpointQueue, ep: Endpoint | None, urb: Urb) -> int:
        """One packet per interval; errors stay in the packets (ehci-sched.c
        itd_complete): no answer → -EPROTO, an IN packet larger than its buffer → babble,
        -EOVERFLOW with nothing stored.  The URB's own status is 0."""
        view = urb.buffer_view()
        is_in = bool(urb.transfer_flags & _DIR_IN)
        total = errors = 0
        for packet in urb.iso_frame_desc[: urb.number_of_packets]:
            iso_packet(ep, view[packet.offset:packet.offset + packet.length], is_in, packet)
            errors += packet.status != 0
            total += packet.actual_length
        urb.actual_length = total
        urb.error_count = errors
        urb.start_frame = self.get_frame_number()
        queue.next_service = self.loop.time() + urb.number_of_packets * self._interval_s(urb)
        return 0


def _unanswered(model: DeviceModel | None, hep: UsbHostEndpoint) -> bool:
    """Whether the token found nobody to answer it (the case the controller retries a
    frame later), rather than an answer that failed its checks."""
    if model is None:
        return True
    if hep.type == _XFER_CONTROL:
        return model.state < DeviceState.DEFAULT or model.state is DeviceState.SUSPENDED
    return model.endpoint(hep.address) is None


class InProcessHCD(InProcessController):
    """The in-process controller, presented as an EHCI PCI controller (ehci-pci, "EHCI Host
    Controller", ehci_hcd) — the built-in controller kind "inproc".

    `has_tt` makes the root hub a single-TT hub (like EHCI controllers with an integrated
    transaction translator), so that full- and low-speed models work on root ports; without
    it the root hub is byte for byte the plain EHCI one and such devices need a hub.
    """

    description = "ehci_hcd"
    product_desc = "EHCI Host Controller"
    driver_name = "ehci-pci"
    rh_speed = Speed.HIGH

    def __init__(self, core: UsbCore, controller: Device, nports: int = 6, *,
                 has_tt: bool = True) -> None:
        super().__init__(core, controller, nports)
        self.has_tt = has_tt

    def start(self) -> int:
        """ehci_run(): the controller runs; "USB 2.0 started, EHCI 1.00" (SBRN 0x20,
        HCIVERSION 0x0100).  Context: atomic."""
        self.core.log.dev_info(self.controller, "USB 2.0 started, EHCI 1.00")
        return 0
