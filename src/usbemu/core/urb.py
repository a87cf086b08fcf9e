"""URBs — counterpart of drivers/usb/core/urb.c and the pipe macros of include/linux/usb.h.

A `Urb` is one USB transfer request: allocated, filled, submitted to the core, owned by the
host controller until its completion handler runs — exactly once, in atomic context (a
plain `def`, which cannot sleep) — and then the driver's again.  `usb_submit_urb` checks
everything, in Linux's order and with Linux's error codes, before a controller sees the URB
(§4.4 of the reference); `usb_unlink_urb` cancels asynchronously (-ECONNRESET) and
`usb_kill_urb` waits (-ENOENT).  Anchors group URBs for bulk cancellation.

The controller side — queueing, giveback, the root hub — is `hcd.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntFlag
from typing import TYPE_CHECKING, Any, Final

from ..errors import Errno
from ..spec.ch9 import DeviceState, EndpointType, SetupPacket, Speed

if TYPE_CHECKING:
    from .usb import UsbDevice, UsbHostEndpoint

# -- pipes (include/linux/usb.h) ------------------------------------------------------------

PIPE_ISOCHRONOUS: Final = 0
PIPE_INTERRUPT: Final = 1
PIPE_CONTROL: Final = 2
PIPE_BULK: Final = 3
USB_DIR_IN: Final = 0x80

#: PIPE_* type → USB_ENDPOINT_XFER_* type.
PIPE_TO_XFER: Final = (EndpointType.ISOC, EndpointType.INT, EndpointType.CONTROL,
                       EndpointType.BULK)


def create_pipe(devnum: int, endpoint: int) -> int:
    """__create_pipe(): the device and endpoint bits of a pipe (no type, no direction).
    Context: atomic."""
    return (devnum << 8) | (endpoint << 15)


def usb_pipein(pipe: int) -> bool:
    """usb_pipein(): whether `pipe` is an IN (device-to-host) pipe.  Context: atomic."""
    return bool(pipe & USB_DIR_IN)


def usb_pipeout(pipe: int) -> bool:
    """usb_pipeout(): whether `pipe` is an OUT (host-to-device) pipe.  Context: atomic."""
    return not pipe & USB_DIR_IN


def usb_pipedevice(pipe: int) -> int:
    """usb_pipedevice(): the device address (0..127) of `pipe`.  Context: atomic."""
    return (pipe >> 8) & 0x7F


def usb_pipeendpoint(pipe: int) -> int:
    """usb_pipeendpoint(): the endpoint number (0..15) of `pipe`.  Context: atomic."""
    return (pipe >> 15) & 0xF


def usb_pipetype(pipe: int) -> int:
    """usb_pipetype(): the PIPE_* transfer type of `pipe`.  Context: atomic."""
    return (pipe >> 30) & 3


def usb_pipe_endpoint(dev: UsbDevice, pipe: int) -> UsbHostEndpoint | None:
    """usb_pipe_endpoint(): the device's host endpoint that `pipe` addresses, or None.
    Context: atomic."""
    return (dev.ep_in if pipe & USB_DIR_IN else dev.ep_out)[(pipe >> 15) & 0xF]


def make_pipe(dev: UsbDevice, ptype: int, endpoint: int, is_in: bool) -> int:
    """A pipe for `endpoint` (number, 0..15) of `dev`, of PIPE_* type `ptype`.
    Context: atomic."""
    return (ptype << 30) | create_pipe(dev.devnum, endpoint & 0xF) | (USB_DIR_IN if is_in else 0)


def pipe_for_endpoint(dev: UsbDevice, address: int, etype: EndpointType) -> int:
    """The pipe of the endpoint with bEndpointAddress `address` and the given type.
    Context: atomic."""
    ptype = PIPE_TO_XFER.index(etype)
    return make_pipe(dev, ptype, address & 0xF, bool(address & 0x80))


# -- transfer flags -------------------------------------------------------------------------


class UrbFlag(IntFlag):
    SHORT_NOT_OK = 0x0001
    ISO_ASAP = 0x0002
    NO_TRANSFER_DMA_MAP = 0x0004
    ZERO_PACKET = 0x0040
    NO_INTERRUPT = 0x0080
    FREE_BUFFER = 0x0100
    DIR_IN = 0x0200


_ALLOWED_ALL: Final = (UrbFlag.NO_TRANSFER_DMA_MAP | UrbFlag.NO_INTERRUPT | UrbFlag.DIR_IN
                       | UrbFlag.FREE_BUFFER)
INT_MAX: Final = 0x7FFFFFFF


@dataclass(slots=True)
class IsoPacket:
    """struct usb_iso_packet_descriptor."""

    offset: int = 0
    length: int = 0
    actual_length: int = 0
    status: int = 0


Complete = Callable[["Urb"], None]
_NO_PACKETS: Final[tuple[IsoPacket, ...]] = ()


class Urb:
    """struct urb.  Fields keep Linux's names; see include/linux/usb.h for each one.

    Ownership: from a successful submit until its completion handler is called the URB
    belongs to the core and the controller; the driver must not change it then.
    """

    __slots__ = ("actual_length", "anchor", "complete", "complete_inline", "context", "dev",
                 "ep", "error_count", "hcpriv", "interval", "iso_frame_desc",
                 "number_of_packets", "pipe", "reject", "setup_packet", "start_frame", "status",
                 "stream_id", "transfer_buffer", "transfer_buffer_length", "transfer_flags",
                 "unlinked", "use_count")

    def __init__(self, iso_packets: int = 0) -> None:
        """usb_alloc_urb(iso_packets).  Raises ValueError for a negative count."""
        if iso_packets:
            if iso_packets < 0:
                raise ValueError(f"iso_packets={iso_packets} must be ≥ 0")
            self.iso_frame_desc: Sequence[IsoPacket] = [IsoPacket()
                                                        for _ in range(iso_packets)]
        else:
            self.iso_frame_desc = _NO_PACKETS
        self.dev: UsbDevice | None = None
        self.ep: UsbHostEndpoint | None = None
        self.pipe = 0
        self.stream_id = 0
        self.status = 0
        self.transfer_flags = 0
        self.transfer_buffer: Any = None
        self.transfer_buffer_length = 0
        self.actual_length = 0
        self.setup_packet: bytes | None = None
        self.start_frame = 0
        self.number_of_packets = iso_packets
        self.interval = 0
        self.error_count = 0
        self.context: Any = None
        self.complete: Complete | None = None
        self.hcpriv: Any = None
        self.unlinked = 0
        self.use_count = 0
        self.reject = 0
        #: The anchor the URB is on (usb_anchor_urb), or None.
        self.anchor: UsbAnchor | None = None
        #: The completion is usbcore's own synchronous waiter, which only records the
        #: result: the framework may run it inside the giveback instead of the bottom half
        #: when no earlier completion is pending (set by `message.py`, never by drivers).
        self.complete_inline = False

    def __repr__(self) -> str:
        return (f"<Urb pipe={self.pipe:#010x} len={self.transfer_buffer_length} "
                f"status={self.status}>")

    # -- usb_fill_*_urb ---------------------------------------------------------------------

    def fill_control(self, dev: UsbDevice, pipe: int, setup: SetupPacket | bytes,
                     buffer: Any, length: int, complete: Complete, context: Any = None) -> Urb:
        """usb_fill_control_urb().  Context: atomic."""
        self._fill(dev, pipe, buffer, length, complete, context)
        self.setup_packet = bytes(setup)
        return self

    def fill_bulk(self, dev: UsbDevice, pipe: int, buffer: Any, length: int,
                  complete: Complete, context: Any = None) -> Urb:
        """usb_fill_bulk_urb().  Context: atomic."""
        self.dev, self.pipe, self.transfer_buffer = dev, pipe, buffer
        self.transfer_buffer_length, self.complete, self.context = length, complete, context
        return self

    def fill_int(self, dev: UsbDevice, pipe: int, buffer: Any, length: int,
                 complete: Complete, context: Any, interval: int) -> Urb:
        """usb_fill_int_urb(): `interval` is bInterval; at high and SuperSpeed it is the
        exponent of a (micro)frame count, as Linux converts it.  Context: atomic."""
        self._fill(dev, pipe, buffer, length, complete, context)
        if dev.speed in (Speed.HIGH, Speed.SUPER, Speed.SUPER_PLUS):
            self.interval = 1 << (min(max(interval, 1), 16) - 1)
        else:
            self.interval = interval
        self.start_frame = -1
        return self

    def _fill(self, dev: UsbDevice, pipe: int, buffer: Any, length: int, complete: Complete,
              context: Any) -> Urb:
        self.dev, self.pipe, self.transfer_buffer = dev, pipe, buffer
        self.transfer_buffer_length, self.complete, self.context = length, complete, context
        return self

    @property
    def is_in(self) -> bool:
        return bool(self.transfer_flags & UrbFlag.DIR_IN)

    def buffer_view(self) -> memoryview:
        """The transfer buffer as bytes, cut to transfer_buffer_length.  Context: atomic."""
        buf = self.transfer_buffer
        view = memoryview(buf if buf is not None else b"")
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        length = self.transfer_buffer_length
        return view if view.nbytes == length else view[:length]


# -- submit ---------------------------------------------------------------------------------


def _check_control(urb: Urb, dev: UsbDevice) -> int | bool:
    """Checks of a control URB; returns -errno or the direction (True = IN).  The data
    stage's direction comes from bRequestType and wLength; a pipe that disagrees only
    warns (once per bus, as dev_WARN_ONCE does)."""
    if urb.setup_packet is None or len(urb.setup_packet) != 8:
        return -Errno.ENOEXEC
    setup = urb.setup_packet
    wlength = setup[6] | setup[7] << 8
    is_in = bool(setup[0] & USB_DIR_IN) and wlength > 0
    if bool(urb.pipe & USB_DIR_IN) != is_in:
        hcd = dev.usb_bus.hcd
        if "control dir" not in hcd.warned_once:
            hcd.warned_once.add("control dir")
            dev.usb_bus.core.log.dev_warn(
                dev, f"BOGUS control dir, pipe {urb.pipe:x} doesn't match bRequestType "
                     f"{setup[0]:x}")
    if wlength != urb.transfer_buffer_length:
        return -Errno.EBADR
    return is_in


def _allowed_flags(xfertype: EndpointType, is_in: bool) -> int:
    allowed = _ALLOWED_ALL
    if xfertype in (EndpointType.BULK, EndpointType.INT) and not is_in:
        allowed |= UrbFlag.ZERO_PACKET
    if xfertype != EndpointType.ISOC and is_in:
        allowed |= UrbFlag.SHORT_NOT_OK
    if xfertype == EndpointType.ISOC:
        allowed |= UrbFlag.ISO_ASAP
    return int(allowed)


def _check_interval(urb: Urb, dev: UsbDevice, xfertype: EndpointType) -> int:
    """Validate and normalise urb.interval (rounded down to a power of two); -EINVAL for
    an interval out of range or a device of unknown speed."""
    if urb.interval <= 0:
        return -Errno.EINVAL
    speed = dev.speed
    if speed in (Speed.SUPER, Speed.SUPER_PLUS):  # units are 125 µs
        if urb.interval > 1 << 15:
            return -Errno.EINVAL
        limit = 1 << 15
    elif speed == Speed.HIGH:  # microframes
        urb.interval = min(urb.interval, 1024 * 8)
        limit = 1024 * 8
    elif speed in (Speed.FULL, Speed.LOW):  # frames
        if xfertype == EndpointType.INT:
            if urb.interval > 255:
                return -Errno.EINVAL
            limit = 128
        else:
            urb.interval = min(urb.interval, 1024)
            limit = 1024
    else:
        return -Errno.EINVAL
    urb.interval = min(limit, 1 << (urb.interval.bit_length() - 1))
    return 0


def _check_iso(urb: Urb, dev: UsbDevice, hep: UsbHostEndpoint) -> int:
    if urb.number_of_packets <= 0:
        return -Errno.EINVAL
    maxp = hep.desc.maxpacket
    if dev.speed == Speed.HIGH:
        maxp *= hep.desc.mult
    for packet in urb.iso_frame_desc[: urb.number_of_packets]:
        if not 0 <= packet.length <= maxp:
            return -Errno.EMSGSIZE
        packet.status, packet.actual_length = -Errno.EXDEV, 0
    return 0


_DIR_IN: Final = int(UrbFlag.DIR_IN)
_XFER_CONTROL: Final = int(EndpointType.CONTROL)
_XFER_ISOC: Final = int(EndpointType.ISOC)
_PERIODIC: Final = (int(EndpointType.INT), int(EndpointType.ISOC))
_PIPE_XFER: Final = tuple(int(x) for x in PIPE_TO_XFER)
_UNAUTHENTICATED: Final = int(DeviceState.UNAUTHENTICATED)
_CONFIGURED: Final = int(DeviceState.CONFIGURED)
#: Transfer flags a URB of each endpoint type may not have, [OUT, IN].
_DISALLOWED: Final = tuple((~_allowed_flags(EndpointType(t), False),
                            ~_allowed_flags(EndpointType(t), True))
                           for t in range(4))
_NOT_DIR_IN: Final = ~_DIR_IN
_EINPROGRESS: Final = -int(Errno.EINPROGRESS)


def usb_submit_urb(urb: Urb | None) -> int:
    """Queue a URB for transfer; 0, or a negative errno and the URB is not queued.

    Context: atomic, never blocks (callable from a completion handler).  On success the
    completion handler will be called exactly once, later, with urb.status set.
    """
    if urb is None or urb.complete is None:
        return -Errno.EINVAL
    if urb.hcpriv is not None:
        return -Errno.EBUSY
    dev = urb.dev
    if dev is None or dev.state < _UNAUTHENTICATED:
        return -Errno.ENODEV
    pipe = urb.pipe
    # usb_pipe_endpoint() and usb_pipetype() are written out on this path
    hep = (dev.ep_in if pipe & USB_DIR_IN else dev.ep_out)[(pipe >> 15) & 0xF]
    if hep is None:
        return -Errno.ENOENT
    urb.ep = hep
    urb.status = _EINPROGRESS
    urb.actual_length = 0
    xfertype = hep.type
    if xfertype == _XFER_CONTROL:
        direction = _check_control(urb, dev)
        if not isinstance(direction, bool):
            return direction
        is_in = direction
    else:
        is_in = bool(pipe & USB_DIR_IN)
    flags = int(urb.transfer_flags)
    urb.transfer_flags = flags = (flags | _DIR_IN) if is_in else (flags & _NOT_DIR_IN)
    if xfertype != _XFER_CONTROL and dev.state < _CONFIGURED:
        return -Errno.ENODEV
    if hep.maxp <= 0:
        return -Errno.EMSGSIZE
    if xfertype == _XFER_ISOC and (rc := _check_iso(urb, dev, hep)):
        return rc
    if not 0 <= urb.transfer_buffer_length <= INT_MAX:
        return -Errno.EMSGSIZE
    if _PIPE_XFER[(pipe >> 30) & 3] != xfertype or flags & _DISALLOWED[xfertype][is_in]:
        _warn_bogus(urb, dev, EndpointType(xfertype), is_in)
    if xfertype in _PERIODIC and (rc := _check_interval(urb, dev, EndpointType(xfertype))):
        return rc
    if is_in and urb.transfer_buffer_length and isinstance(urb.transfer_buffer, bytes):
        raise TypeError("an IN URB needs a writable transfer_buffer (bytearray, memoryview "
                        "of one, array …), not bytes")
    return dev.usb_bus.hcd.submit_urb(urb)


def _warn_bogus(urb: Urb, dev: UsbDevice, xfertype: EndpointType, is_in: bool) -> None:
    """The dev_WARNs of usb_submit_urb for "stuff that drivers shouldn't do, but which
    shouldn't cause problems": both print PIPE_* numbers and flags in hex, and neither
    changes the URB (the submission goes ahead as it is)."""
    log = dev.usb_bus.core.log
    ptype = usb_pipetype(urb.pipe)
    if PIPE_TO_XFER[ptype] != xfertype:
        log.dev_warn(dev, f"BOGUS urb xfer, pipe {ptype:x} != type "
                          f"{PIPE_TO_XFER.index(xfertype):x}")
    allowed = _allowed_flags(xfertype, is_in) & urb.transfer_flags
    if allowed != urb.transfer_flags:
        log.dev_warn(dev, f"BOGUS urb flags, {urb.transfer_flags:x} --> {allowed:x}")


# -- cancel ---------------------------------------------------------------------------------


def usb_unlink_urb(urb: Urb | None) -> int:
    """Cancel a URB asynchronously: -EINPROGRESS when the unlink started (the completion
    will see -ECONNRESET); -EINVAL, -ENODEV, -EIDRM (not queued) or -EBUSY otherwise.

    Context: atomic, never blocks.
    """
    if urb is None:
        return -Errno.EINVAL
    if urb.dev is None:
        return -Errno.ENODEV
    if urb.ep is None:
        return -Errno.EIDRM
    return urb.dev.usb_bus.hcd.unlink_urb(urb, -Errno.ECONNRESET)


async def usb_kill_urb(urb: Urb | None) -> None:
    """Cancel a URB and wait until its completion handler has returned (status -ENOENT).
    Resubmissions meanwhile fail with -EPERM.  Returns at once for an idle URB.

    Context: may sleep; never from a completion handler.
    """
    if urb is None or urb.dev is None or urb.ep is None:
        return
    urb.reject += 1
    try:
        hcd = urb.dev.usb_bus.hcd
        hcd.unlink_urb(urb, -Errno.ENOENT)
        await hcd.wait_idle(urb)
    finally:
        urb.reject -= 1


async def usb_poison_urb(urb: Urb | None) -> None:
    """Like usb_kill_urb, but the URB keeps refusing submissions (-EPERM) until
    usb_unpoison_urb.  Context: may sleep."""
    if urb is None:
        return
    urb.reject += 1
    if urb.dev is None or urb.ep is None:
        return
    hcd = urb.dev.usb_bus.hcd
    hcd.unlink_urb(urb, -Errno.ENOENT)
    await hcd.wait_idle(urb)


def usb_unpoison_urb(urb: Urb | None) -> None:
    """usb_unpoison_urb(): undo one usb_poison_urb (or usb_block_urb); the URB is accepted
    again once every one is undone.  Context: atomic."""
    if urb is not None and urb.reject > 0:
        urb.reject -= 1


def usb_block_urb(urb: Urb | None) -> None:
    """Refuse submissions from now on without cancelling what is queued.
    Context: atomic."""
    if urb is not None:
        urb.reject += 1


# -- anchors --------------------------------------------------------------------------------


class UsbAnchor:
    """struct usb_anchor: URBs submitted together and cancelled together.  An anchored URB
    leaves its anchor when its completion handler has run."""

    def __init__(self) -> None:
        self.urb_list: list[Urb] = []
        self.poisoned = False
        self._waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self.urb_list)

    def anchor(self, urb: Urb) -> None:
        """usb_anchor_urb().  Context: atomic."""
        if urb.anchor is not None:
            urb.anchor.unanchor(urb)
        self.urb_list.append(urb)
        urb.anchor = self
        if self.poisoned:
            urb.reject += 1

    def unanchor(self, urb: Urb) -> None:
        """usb_unanchor_urb().  Context: atomic."""
        if urb.anchor is self:
            self.urb_list.remove(urb)
            urb.anchor = None
            if not self.urb_list:
                waiters, self._waiters = self._waiters, []
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(None)

    async def kill_all(self) -> None:
        """usb_kill_anchored_urbs(): kill from the newest to the oldest.  Context: may sleep."""
        while self.urb_list:
            await usb_kill_urb(self.urb_list[-1])
            if self.urb_list and self.urb_list[-1].hcpriv is None:
                self.unanchor(self.urb_list[-1])

    async def poison_all(self) -> None:
        """usb_poison_anchored_urbs(): like kill_all, and refuse future submissions.
        Context: may sleep."""
        self.poisoned = True
        for urb in list(reversed(self.urb_list)):
            await usb_poison_urb(urb)

    def unpoison_all(self) -> None:
        """usb_unpoison_anchored_urbs(): undo poison_all for the anchor and every URB in it.
        Context: atomic."""
        self.poisoned = False
        for urb in self.urb_list:
            usb_unpoison_urb(urb)

    def unlink_all(self) -> None:
        """usb_unlink_anchored_urbs(): take every URB out of the anchor (oldest first)
        and unlink it asynchronously; their completions see -ECONNRESET.  Context: atomic."""
        while (urb := self.get_urb()) is not None:
            usb_unlink_urb(urb)

    async def wait_empty(self, timeout_ms: int) -> bool:
        """usb_wait_anchor_empty_timeout(): True when the anchor emptied in time.
        Context: may sleep."""
        if not self.urb_list:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout_ms / 1000)
        except TimeoutError:
            return False
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)
        return True

    def get_urb(self) -> Urb | None:
        """usb_get_from_anchor(): take the oldest URB out of the anchor, or None when it is
        empty.  Context: atomic."""
        if not self.urb_list:
            return None
        urb = self.urb_list[0]
        self.unanchor(urb)
        return urb

    def scuttle(self) -> None:
        """usb_scuttle_anchored_urbs(): forget every URB (they must be idle).
        Context: atomic."""
        for urb in list(self.urb_list):
            self.unanchor(urb)
