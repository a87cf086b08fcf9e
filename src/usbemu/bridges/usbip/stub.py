"""usbip-host — counterpart of drivers/usb/usbip/stub_main.c, stub_dev.c, stub_rx.c and
stub_tx.c of Linux 6.12, with the parts of usbip_common.c and usbip_event.c they use: the
module `usbip_host`, whose device driver "usbip-host" holds the devices a USB/IP server
exports and runs their URBs for the remote client that imported them.

Binding is Linux's.  The driver has neither an id table nor a match function, so the
generic driver keeps every device until user space asks (`usbip bind -b 1-1`): the bus id
goes into the driver's `match_busid` table ("add 1-1"), the device is unbound from its
driver and written to usbip-host's `bind` file; the probe accepts only bus ids of the
table ("1-2 is not in match_busid table... skip!" otherwise), never hubs, logs "usbip-host:
register new device (bus 1 dev 2)", claims the device's hub port (so that no interface
driver binds the interfaces the client configures) and gives the device the files
usbip_status, usbip_sockfd and usbip_debug.  `usbip unbind` undoes it: unbind, "del 1-1"
and the driver's `rebind` file, which hands the device back to the generic driver; module
removal rebinds the same way.

The URB engine is stub_rx and stub_tx on one connection per device.  usbipd writes the
descriptor of an imported device's connection to usbip_sockfd ("stub up"; sockfd.py finds
the socket); the status goes AVAILABLE → USED and stub_rx, fed by the socket as bytes
arrive, turns each USBIP_CMD_SUBMIT into a URB on the device — the pipe from the
endpoint's type, direction and number, the setup packet, transfer flags masked as
masking_bogus_flags() masks them, isochronous packets, interval — and submits it;
SET_CONFIGURATION, SET_INTERFACE, CLEAR_FEATURE(ENDPOINT_HALT) and a hub port reset are
done with the core's own calls instead (tweak_special_requests) and answered without a
second submission; receiving waits for them, reading from the peer paused.  Each
completion is written at once as USBIP_RET_SUBMIT, so many URBs are in flight and answers
leave in completion order.  USBIP_CMD_UNLINK unlinks a URB still in flight, whose
completion then answers USBIP_RET_UNLINK with the URB's status (-ECONNRESET) and no
RET_SUBMIT; a URB already answered gets RET_UNLINK with status 0.  Any failure — the peer
closing ("recv a header, 0"), breaking the protocol, a request for another device, a
refused submission, a peer that stops reading for SO_SNDTIMEO — queues an event for the
device's event handler, which shuts the connection down (URBs killed), resets the device
("device reset") and makes it AVAILABLE for the next importer; `usbip_sockfd` "-1" does
the same ("stub down").  What Linux treats as a failed allocation (a scatter-gather
transfer of no length) leaves the device unusable (ERROR) until it is bound again.

Not modelled: splitting a scatter-gather transfer into several URBs (every transfer is one
URB, as on a controller with sg support), the usbip_debug output (the flag is kept),
suspend and resume hooks.  Where the sans-I/O codec refuses a packet before the stub sees
it, the kernel log gets the codec's reason instead of Linux's message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any, Final

from usbemu.core.driver import (
    UsbDeviceDriver,
    usb_deregister_device_driver,
    usb_register_device_driver,
)
from usbemu.core.hub import usb_hub_to_struct_hub, usb_reset_device
from usbemu.core.message import usb_clear_halt, usb_set_configuration, usb_set_interface
from usbemu.core.port import UsbPort
from usbemu.core.urb import (
    PIPE_CONTROL,
    PIPE_TO_XFER,
    USB_DIR_IN,
    Urb,
    UrbFlag,
    make_pipe,
    usb_kill_urb,
    usb_pipe_endpoint,
    usb_pipeendpoint,
    usb_pipein,
    usb_submit_urb,
    usb_unlink_urb,
)
from usbemu.core.usb import UsbDevice, usb_lock_device_for_reset, usb_unlock_device
from usbemu.core.usbcore import current_usbcore
from usbemu.errors import Errno, IllegalStateTransition
from usbemu.kernel.module import (
    module_author,
    module_description,
    module_exit,
    module_init,
    module_license,
)
from usbemu.kernel.printk import Level
from usbemu.kernel.sysfs import (
    SysAttr,
    device_create_file,
    device_remove_file,
    driver_create_file,
    driver_remove_file,
    scan_int,
)
from usbemu.spec.ch9 import (
    USB_ENDPOINT_NUMBER_MASK,
    ClassCode,
    DeviceState,
    EndpointType,
    Feature,
    Recipient,
    Request,
    SetupPacket,
)
from usbemu.spec.hub import USB_RT_PORT, PortFeature

from .protocol import (
    USBIP_MAX_ISO_PACKETS,
    CmdSubmit,
    CmdUnlink,
    ConnectionClosed,
    Direction,
    Phase,
    ProtocolError,
    RetSubmit,
    RetUnlink,
)
from .protocol import IsoPacket as WireIsoPacket
from .sockfd import UsbipSocket, sockfd_lookup

__all__ = [
    "BUSID_SIZE",
    "DRIVER_ATTRS",
    "DRIVER_DESC",
    "MAX_BUSID",
    "MAX_INFLIGHT_BYTES",
    "SDEV_EVENT_DOWN",
    "SDEV_EVENT_ERROR_MALLOC",
    "SDEV_EVENT_ERROR_SUBMIT",
    "SDEV_EVENT_ERROR_TCP",
    "SDEV_EVENT_REMOVED",
    "USBIP_ATTRS",
    "BusIdPriv",
    "BusidStatus",
    "SdevStatus",
    "StubDevice",
    "StubDriver",
    "StubPriv",
    "UsbipEvent",
    "mask_transfer_flags",
    "stub_driver",
    "usb_hub_claim_port",
    "usb_hub_release_port",
]

KBUILD_MODNAME: Final = "usbip_host"
DRIVER_AUTHOR: Final = "Takahiro Hirofuchi"
DRIVER_DESC: Final = "USB/IP Host Driver"

#: Bus ids match_busid holds, and the size of one with its terminating zero.
MAX_BUSID: Final = 16
BUSID_SIZE: Final = 32
#: Transfer-buffer bytes of a device's URBs in flight above which the receiving side stops
#: reading commands until completions bring them down (the memory bound of one device).
MAX_INFLIGHT_BYTES: Final = 64 << 20
#: URB_DMA_MAP_SG (USBIP_URB_DMA_MAP_SG): the client's buffer is a scatter-gather list.
URB_DMA_MAP_SG: Final = 0x00040000


class SdevStatus(IntEnum):
    """enum usbip_device_status, the stub's half (usbip_status shows the number)."""

    AVAILABLE = 0x01  #: bound and free for an importer
    USED = 0x02  #: a client has imported it
    ERROR = 0x03  #: unusable after a fatal error, until it is bound again


#: The status moves usbip-host makes: stub up (AVAILABLE → USED), the event handler's reset
#: (back to AVAILABLE, or ERROR when it fails) and its "unusable" (ERROR, for good).
_STATUS_NEXT: Final = {
    SdevStatus.AVAILABLE: frozenset({SdevStatus.AVAILABLE, SdevStatus.USED, SdevStatus.ERROR}),
    SdevStatus.USED: frozenset({SdevStatus.USED, SdevStatus.AVAILABLE, SdevStatus.ERROR}),
    SdevStatus.ERROR: frozenset({SdevStatus.ERROR}),
}


class BusidStatus(IntEnum):
    """STUB_BUSID_* of stub.h: where a match_busid entry stands."""

    OTHER = 0  #: free, or handed back to other drivers
    REMOV = 1  #: deleted while its device is bound
    ADDED = 2  #: added, device not bound
    ALLOC = 3  #: its device is bound to usbip-host


class UsbipEvent(IntFlag):
    """USBIP_EH_*: what the event handler does with a device."""

    SHUTDOWN = 1 << 0
    BYE = 1 << 1
    RESET = 1 << 2
    UNUSABLE = 1 << 3


SDEV_EVENT_REMOVED: Final = UsbipEvent.SHUTDOWN | UsbipEvent.BYE
SDEV_EVENT_DOWN: Final = UsbipEvent.SHUTDOWN | UsbipEvent.RESET
SDEV_EVENT_ERROR_TCP: Final = UsbipEvent.SHUTDOWN | UsbipEvent.RESET
SDEV_EVENT_ERROR_SUBMIT: Final = UsbipEvent.SHUTDOWN | UsbipEvent.RESET
SDEV_EVENT_ERROR_MALLOC: Final = UsbipEvent.SHUTDOWN | UsbipEvent.UNUSABLE
_HANDLED: Final = UsbipEvent.SHUTDOWN | UsbipEvent.RESET | UsbipEvent.UNUSABLE

#: usbip_debug: the module's debug flags (usbip_debug_flag); kept, no debug lines.
usbip_debug_flag = 0

# -- transfer flags (masking_bogus_flags) ----------------------------------------------------------

_ALWAYS: Final = int(UrbFlag.NO_TRANSFER_DMA_MAP | UrbFlag.NO_INTERRUPT | UrbFlag.DIR_IN
                     | UrbFlag.FREE_BUFFER)
#: The flags a URB keeps, by (endpoint type, OUT data stage): the simple/standard policy.
_ALLOWED_FLAGS: Final[dict[tuple[int, bool], int]] = {
    (EndpointType.CONTROL, True): _ALWAYS,
    (EndpointType.CONTROL, False): _ALWAYS | UrbFlag.SHORT_NOT_OK,
    (EndpointType.BULK, True): _ALWAYS | UrbFlag.ZERO_PACKET,
    (EndpointType.BULK, False): _ALWAYS | UrbFlag.SHORT_NOT_OK,
    (EndpointType.INT, True): _ALWAYS,
    (EndpointType.INT, False): _ALWAYS | UrbFlag.SHORT_NOT_OK,
    (EndpointType.ISOC, True): _ALWAYS | UrbFlag.ISO_ASAP,
    (EndpointType.ISOC, False): _ALWAYS | UrbFlag.ISO_ASAP,
}
#: USB_ENDPOINT_XFER_* → PIPE_*.
_XFER_TO_PIPE: Final = {int(xfer): ptype for ptype, xfer in enumerate(PIPE_TO_XFER)}
_CONTROL: Final = int(EndpointType.CONTROL)
_ISOC: Final = int(EndpointType.ISOC)
_UNAUTHENTICATED: Final = int(DeviceState.UNAUTHENTICATED)

#: stub_complete()'s line for a URB that did not complete normally, by status.
_COMPLETION_NOTES: Final = {
    -Errno.ECONNRESET: "unlinked by a call to usb_unlink_urb()",
    -Errno.ESHUTDOWN: "device removed?",
}


def _signed(value: int) -> int:
    """A 32-bit field read as the kernel's int."""
    return value - (1 << 32) if value & 0x80000000 else value


def mask_transfer_flags(urb: Urb) -> None:
    """masking_bogus_flags(): keep the transfer flags the endpoint's type allows (the
    simple/standard policy), judging a control transfer's direction by its setup packet.
    A URB in flight, without a completion, on a device not yet there or on an endpoint
    the device does not have is left alone.  Context: atomic."""
    dev = urb.dev
    if urb.hcpriv is not None or urb.complete is None or dev is None \
            or dev.state < _UNAUTHENTICATED:
        return
    hep = usb_pipe_endpoint(dev, urb.pipe)
    if hep is None:
        return
    if hep.type == _CONTROL:
        if not urb.setup_packet:
            return
        setup = SetupPacket.unpack(urb.setup_packet)
        is_out = not setup.bmRequestType & USB_DIR_IN or not setup.wLength
    else:
        is_out = not hep.address & USB_DIR_IN
    urb.transfer_flags &= _ALLOWED_FLAGS[hep.type, is_out]


# -- hub port ownership (hub.c usb_hub_claim_port / usb_hub_release_port) --------------------------


def _port_owner_slot(udev: UsbDevice) -> tuple[int, UsbPort | None]:
    """find_port_owner(): (0, the port) or (-errno, None) for the device's hub port."""
    hdev = udev.usb_parent
    if hdev is None or hdev.state is DeviceState.NOTATTACHED:
        return -Errno.ENODEV, None
    hub = usb_hub_to_struct_hub(hdev)
    if hub is None or not 1 <= udev.portnum <= hdev.maxchild:
        return -Errno.EINVAL, None
    return 0, hub.port(udev.portnum)


def usb_hub_claim_port(udev: UsbDevice, owner: object) -> int:
    """usb_hub_claim_port() of the port `udev` is plugged into: 0, -EBUSY when someone
    owns it, -ENODEV (the hub is gone) or -EINVAL.  Context: atomic."""
    rc, port = _port_owner_slot(udev)
    if port is None:
        return rc
    if port.port_owner is not None:
        return -Errno.EBUSY
    port.port_owner = owner
    return 0


def usb_hub_release_port(udev: UsbDevice, owner: object) -> int:
    """usb_hub_release_port(): 0, -ENOENT when `owner` does not own the port, -ENODEV or
    -EINVAL.  Context: atomic."""
    rc, port = _port_owner_slot(udev)
    if port is None:
        return rc
    if port.port_owner is not owner:
        return -Errno.ENOENT
    port.port_owner = None
    return 0


# -- one URB of the connection -------------------------------------------------------------------


class StubPriv:
    """struct stub_priv: a CMD_SUBMIT's URB from its arrival to its answer.  `seqnum` is
    the submit's until an unlink takes the URB over (then the unlink's); `packets` is
    number_of_packets as the client sent it, echoed in RET_SUBMIT; `length` the bytes of
    its transfer buffer."""

    __slots__ = ("length", "packets", "seqnum", "unlinking", "urb")

    def __init__(self, seqnum: int, urb: Urb, packets: int, length: int) -> None:
        self.seqnum = seqnum
        self.urb = urb
        self.packets = packets
        self.length = length
        self.unlinking = False


# -- the device ----------------------------------------------------------------------------------


class StubDevice:
    """struct stub_device: an exported device, its status, its connection and the URBs in
    flight on it.  Context: the URB completion is atomic; the receive loop and the event
    handler are tasks."""

    def __init__(self, udev: UsbDevice) -> None:
        self.udev = udev
        #: busnum << 16 | devnum when bound; a reset does not change it.
        self.devid = (udev.busnum << 16) | udev.devnum
        self.status = SdevStatus.AVAILABLE
        self.event = UsbipEvent(0)
        self.socket: UsbipSocket | None = None
        self.sockfd = -1
        #: priv_init: submitted URBs not yet completed, in submission order.
        self.priv_init: dict[StubPriv, None] = {}
        #: Transfer-buffer bytes of priv_init.
        self.inflight = 0
        self.log = udev.usb_bus.core.log
        self._loop = udev.usb_bus.core.loop
        #: stub_rx: the connection read from; a wait it must finish before it goes on
        #: (a core call for a special request, or the peer taking what was sent);
        #: whether it waits for room (bytes in flight above MAX_INFLIGHT_BYTES); a read
        #: error the stream ended with.
        self._rx_sock: UsbipSocket | None = None
        self._rx_wait: asyncio.Task[None] | None = None
        self._rx_busy = False      # in a core call (a tweak): let it finish, never cancel
        self._rx_room = False
        self._rx_running = False
        self._rx_paused = False
        self._rx_error: BaseException | None = None
        self._eh: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._written = 0          # bytes handed to the transport
        self._complete_cb = self._complete

    def __repr__(self) -> str:
        return f"<StubDevice {self.udev.name} {self.status.name}>"

    def set_status(self, new: SdevStatus) -> None:
        """The one transition function of the status; raises IllegalStateTransition for a
        move usbip-host never makes (anything out of ERROR).  Context: atomic."""
        if new not in _STATUS_NEXT[self.status]:
            raise IllegalStateTransition(f"usbip-host {self.udev.name}: "
                                         f"{self.status.name} -> {new.name}")
        self.status = new

    # -- usbip_sockfd (stub_dev.c usbip_sockfd_store) -------------------------------------------

    def stub_up(self, fd: int) -> int:
        """Take the connection user space knows as descriptor `fd` and serve it: "stub
        up", then 0, or -EINVAL ("not ready" unless AVAILABLE; an unknown descriptor).
        Context: atomic (the receive task starts on the machine's loop)."""
        self.log.dev_info(self.udev, "stub up")
        if self.status != SdevStatus.AVAILABLE:
            self.log.dev_err(self.udev, "not ready")
            return -Errno.EINVAL
        sock = sockfd_lookup(self.udev.usb_bus.core, fd)
        if sock is None:
            self.log.dev_err(self.udev, "failed to lookup sock")
            return -Errno.EINVAL
        self.socket, self.sockfd = sock, fd
        self.set_status(SdevStatus.USED)
        self._rx_start(sock)
        return 0

    def stub_down(self) -> int:
        """usbip_sockfd "-1": "stub down", and the event handler closes the connection and
        resets the device; 0, or -EINVAL when the device is not in use.  Context: atomic."""
        self.log.dev_info(self.udev, "stub down")
        if self.status != SdevStatus.USED:
            return -Errno.EINVAL
        self.event_add(SDEV_EVENT_DOWN)
        return 0

    # -- the event handler (usbip_event.c, stub_dev.c eh_ops) ------------------------------------

    def event_add(self, event: UsbipEvent) -> None:
        """usbip_event_add(): note `event` and run the handler unless the device is going
        away (BYE).  The receive loop stops at once.  Context: atomic."""
        if self.event & UsbipEvent.BYE:
            return
        self.event |= event
        if self._eh is None or self._eh.done():
            self._eh = self._loop.create_task(self._event_handler(),
                                              name=f"usbip_eh {self.udev.name}")

    def in_event_handler(self) -> bool:
        """usbip_in_eh(current).  Context: atomic."""
        return self._eh is not None and asyncio.current_task() is self._eh

    async def stop_event_handler(self) -> None:
        """usbip_stop_eh(): wait until every event but BYE is handled.  Context: may sleep."""
        while self.event & _HANDLED and self._eh is not None and not self.in_event_handler():
            await asyncio.shield(self._eh)

    async def _event_handler(self) -> None:
        """event_handler(): shutdown first, then reset, then unusable, until no event is
        left."""
        while self.event & _HANDLED:
            if self.event & UsbipEvent.SHUTDOWN:
                await self._shutdown_connection()
                self.event &= ~UsbipEvent.SHUTDOWN
            if self.event & UsbipEvent.RESET:
                await self._device_reset()
                self.event &= ~UsbipEvent.RESET
            if self.event & UsbipEvent.UNUSABLE:
                self.set_status(SdevStatus.ERROR)
                self.event &= ~UsbipEvent.UNUSABLE

    async def _shutdown_connection(self) -> None:
        """stub_shutdown_connection(): close the socket, stop the receive task, kill the
        URBs in flight."""
        sock = self.socket
        if sock is not None:
            self.log.dev_dbg(self.udev, f"shutdown sockfd {self.sockfd}")
            sock.close()
        await self._stop_rx()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.socket, self.sockfd = None, -1
        await self.cleanup_urbs()

    async def _stop_rx(self) -> None:
        """Stop receiving: a core call under way finishes first, a wait for the peer is
        cancelled."""
        sock, self._rx_sock = self._rx_sock, None
        if sock is not None:
            sock.reader.set_sink(None)
        task = self._rx_wait
        if task is None or task is asyncio.current_task():
            return
        if not self._rx_busy:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def cleanup_urbs(self) -> None:
        """stub_device_cleanup_urbs(): kill every URB in flight (their completions see
        -ENOENT) and forget them.  Context: may sleep."""
        self.log.dev_dbg(self.udev, "Stub device cleaning up urbs")
        for priv in list(self.priv_init):
            self.log.dev_dbg(self.udev, f"free urb seqnum {priv.seqnum}")
            await usb_kill_urb(priv.urb)
        self.priv_init.clear()
        self.inflight = 0

    async def _device_reset(self) -> None:
        """stub_device_reset(): reset the device for the next importer ("device reset");
        AVAILABLE again, or ERROR when it cannot be reset."""
        udev = self.udev
        self.log.dev_dbg(udev, "device reset")
        if await usb_lock_device_for_reset(udev, None) < 0:
            self.log.dev_err(udev, "lock for reset")
            self.set_status(SdevStatus.ERROR)
            return
        try:
            ret = await usb_reset_device(udev)
        finally:
            usb_unlock_device(udev)
        if ret:
            self.log.dev_err(udev, "device reset")
            self.set_status(SdevStatus.ERROR)
        else:
            self.log.dev_info(udev, "device reset")
            self.set_status(SdevStatus.AVAILABLE)

    # -- stub_rx ----------------------------------------------------------------------------

    def _rx_start(self, sock: UsbipSocket) -> None:
        """Receive from `sock`: every arrival is handled in the transport's callback."""
        self._rx_sock, self._rx_error = sock, None
        self._rx_room = self._rx_paused = False
        sock.reader.set_sink(self._rx_data, self._rx_end)

    def _rx_data(self, data: bytes) -> None:
        sock = self._rx_sock
        if sock is not None:
            sock.conn.receive_data(data)
            self._rx_run()

    def _rx_end(self, exc: BaseException | None) -> None:
        sock = self._rx_sock
        if sock is None:
            return
        if exc is None:
            sock.conn.receive_data(b"")
        else:
            self._rx_error = exc
        self._rx_run()

    def _rx_run(self) -> None:
        """stub_rx_loop(): handle the commands received so far, one after the other,
        until one has to wait (a core call, room for more URBs, the peer taking what was
        sent), more bytes are needed, or an event stops the receiving.  Reading from the
        peer is paused while it waits.  Context: atomic."""
        sock = self._rx_sock
        if sock is None or self._rx_running or self._rx_wait is not None or self._rx_room:
            return
        self._rx_running = True
        try:
            self._rx_commands(sock)
        finally:
            self._rx_running = False

    def _rx_commands(self, sock: UsbipSocket) -> None:
        conn = sock.conn
        while not self.event:
            if self.inflight > MAX_INFLIGHT_BYTES:
                self._rx_room = True          # _complete makes room and goes on
                self._pause_rx(sock)
                return
            if sock.unsent() > sock.write_high:
                self._rx_await(sock, self._drain(sock))
                return
            try:
                pdu = conn.next_event()
            except ProtocolError as exc:
                self._rx_failed(exc.reason)
                return
            if pdu is None:
                self._rx_more(sock)
                return
            if isinstance(pdu, ConnectionClosed):
                self._rx_failed("recv a header, 0")
                return
            if not isinstance(pdu, (CmdSubmit, CmdUnlink)):
                self._rx_failed("unknown pdu")
                return
            if pdu.devid != self.devid or self.status != SdevStatus.USED:
                self._rx_failed("recv invalid request")
                return
            if isinstance(pdu, CmdUnlink):
                self._recv_cmd_unlink(sock, pdu)
            else:
                special = self._recv_cmd_submit(pdu)
                if special is not None:
                    self._rx_await(sock, special)
                    return

    def _rx_more(self, sock: UsbipSocket) -> None:
        """Everything received is handled: read on, or fail as the read did."""
        error = self._rx_error
        if error is not None:
            errno = error.errno if isinstance(error, OSError) else None
            self._rx_failed(f"recv a header, {-(errno or Errno.ECONNRESET)}")
        elif self._rx_paused:
            self._rx_paused = False
            sock.resume_reading()

    def _pause_rx(self, sock: UsbipSocket) -> None:
        if not self._rx_paused:
            self._rx_paused = True
            sock.pause_reading()

    def _rx_await(self, sock: UsbipSocket, wait: Awaitable[None]) -> None:
        """Pause receiving until `wait` is done, then go on with the next command."""
        self._pause_rx(sock)
        task = self._loop.create_task(self._rx_waiting(wait), name=f"stub_rx {self.udev.name}")
        self._rx_wait = task

    async def _rx_waiting(self, wait: Awaitable[None]) -> None:
        try:
            await wait
        finally:
            self._rx_wait = None
        self._rx_run()

    async def _drain(self, sock: UsbipSocket) -> None:
        """Wait for the peer to take what was sent (a failed send ends the connection,
        as a failed receive does)."""
        try:
            await sock.writer.drain()
        except OSError as exc:
            self._rx_failed(f"recv a header, {-(exc.errno or Errno.ECONNRESET)}")

    def _rx_failed(self, reason: str) -> None:
        """dev_err() the reason, and SDEV_EVENT_ERROR_TCP."""
        self.log.dev_err(self.udev, reason)
        self.event_add(SDEV_EVENT_ERROR_TCP)

    def _wake_room(self) -> None:
        if self._rx_room and self.inflight <= MAX_INFLIGHT_BYTES:
            self._rx_room = False
            self._loop.call_soon(self._rx_run)

    def _recv_cmd_unlink(self, sock: UsbipSocket, pdu: CmdUnlink) -> None:
        """stub_recv_cmd_unlink(): unlink the URB if it is still in flight (its completion
        answers), else answer RET_UNLINK with status 0 at once."""
        for priv in self.priv_init:
            if priv.seqnum != pdu.unlink_seqnum:
                continue
            priv.unlinking = True
            priv.seqnum = pdu.seqnum
            ret = usb_unlink_urb(priv.urb)
            if ret != -Errno.EINPROGRESS:
                self.log.dev_err(self.udev, f"failed to unlink 1/1 urb of seqnum "
                                            f"{priv.seqnum}, ret {ret}")
            return
        self._send(sock, RetUnlink(pdu.seqnum, 0))

    def _get_pipe(self, pdu: CmdSubmit) -> tuple[int, int] | None:
        """get_pipe(): the pipe of the endpoint the command names and the endpoint's type,
        or None (logged) when the device has no such endpoint or an isochronous packet
        count is out of range."""
        udev, epnum = self.udev, pdu.ep
        is_in = pdu.direction == Direction.IN
        hep = (udev.ep_in if is_in else udev.ep_out)[epnum] if 0 <= epnum <= 15 else None
        if hep is None:
            self.log.dev_err(udev, f"CMD_SUBMIT: invalid epnum {epnum}")
            return None
        if hep.type == _ISOC:
            packets = _signed(pdu.number_of_packets)
            if not 0 <= packets <= USBIP_MAX_ISO_PACKETS:
                self.log.dev_err(udev, f"CMD_SUBMIT: isoc invalid num packets {packets}")
                return None
        return make_pipe(udev, _XFER_TO_PIPE[hep.type], epnum, is_in), hep.type

    def _setup_urb(self, pdu: CmdSubmit) -> StubPriv | None:
        """stub_recv_cmd_submit() up to the submission: the URB, its buffer and packets,
        entered in priv_init; None when the command is dropped (logged)."""
        found = self._get_pipe(pdu)
        if found is None:
            return None
        pipe, xfer = found
        length = pdu.transfer_buffer_length
        if pdu.transfer_flags & URB_DMA_MAP_SG and not length:
            self.log.dev_err(self.udev, "sg buffer with zero length")
            self.event_add(SDEV_EVENT_ERROR_MALLOC)
            return None
        packets = _signed(pdu.number_of_packets) if xfer == _ISOC else 0
        urb = Urb(packets)
        if length == 0:
            buffer: Any = None
        elif xfer == _CONTROL:   # the setup packet, not the pipe, says which way data goes
            buffer = bytearray(pdu.data) if pdu.data else bytearray(length)
        elif usb_pipein(pipe):
            buffer = bytearray(length)
        else:
            buffer = pdu.data
        urb.dev = self.udev
        urb.pipe = pipe
        urb.transfer_buffer = buffer
        urb.transfer_buffer_length = length
        urb.transfer_flags = pdu.transfer_flags
        urb.start_frame = pdu.start_frame
        urb.interval = pdu.interval
        if xfer == _CONTROL:
            urb.setup_packet = bytes(pdu.setup)
        urb.complete = self._complete_cb
        priv = StubPriv(pdu.seqnum, urb, pdu.number_of_packets, length)
        urb.context = priv
        self.priv_init[priv] = None
        self.inflight += length
        if packets and not self._recv_iso(urb, pdu):
            return None
        return priv

    def _recv_iso(self, urb: Urb, pdu: CmdSubmit) -> bool:
        """usbip_recv_iso(): the packet descriptors into the URB; their actual lengths
        must add up to the URB's (0)."""
        total = 0
        for frame, wire in zip(urb.iso_frame_desc, pdu.iso, strict=False):
            frame.offset, frame.length = wire.offset, wire.length
            frame.actual_length, frame.status = wire.actual_length, wire.status
            total += wire.actual_length
        if total != urb.actual_length:
            self.log.dev_err(self.udev, f"total length of iso packets {total} not equal to "
                                        f"actual length of buffer {urb.actual_length}")
            self.event_add(SDEV_EVENT_ERROR_TCP)
            return False
        return True

    def _recv_cmd_submit(self, pdu: CmdSubmit) -> Awaitable[None] | None:
        """stub_recv_cmd_submit(): set the URB up and submit it with masked flags; a
        special request goes to the core instead, and what is returned is that call,
        which receiving waits for.  Context: atomic."""
        priv = self._setup_urb(pdu)
        if priv is None:
            return None
        urb = priv.urb
        if urb.setup_packet is not None and urb.setup_packet[:2] in _SPECIAL:
            return self._submit_special(urb)
        self._submit(urb)
        return None

    async def _submit_special(self, urb: Urb) -> None:
        """A special request: answered at once when the core did it, else submitted."""
        if await self._tweak_special_request(urb):
            urb.status = 0       # done by the core: not submitted a second time
            self._complete(urb)
        else:
            self._submit(urb)

    def _submit(self, urb: Urb) -> None:
        mask_transfer_flags(urb)
        ret = usb_submit_urb(urb)
        if ret:
            self.log.dev_err(self.udev, f"submit_urb error, {ret}")
            self.event_add(SDEV_EVENT_ERROR_SUBMIT)

    async def _tweak_special_request(self, urb: Urb) -> bool:
        """tweak_special_requests(): whether the core did the control request itself (a
        tweak that fails leaves it to the device)."""
        assert urb.setup_packet is not None
        special = _SPECIAL.get(urb.setup_packet[:2])
        if special is None:
            return False
        setup = SetupPacket.unpack(urb.setup_packet)
        if special.wValue is not None and setup.wValue != special.wValue:
            return False
        self._rx_busy = True
        try:
            return await special.tweak(self, setup) == 0
        finally:
            self._rx_busy = False

    # -- stub_tx ----------------------------------------------------------------------------

    def _complete(self, urb: Urb) -> None:
        """stub_complete(): answer the URB — RET_UNLINK when it was unlinked, RET_SUBMIT
        otherwise — unless the connection is gone.  A URB killed by the cleanup is left to
        it.  Context: atomic."""
        priv: StubPriv = urb.context
        status = urb.status
        if status:
            if status == -Errno.ENOENT:
                self.log.dev_info(self.udev, "stopped by a call to usb_kill_urb() because "
                                             "of cleaning up a virtual connection")
                return
            self._note(urb, status)
        if priv in self.priv_init:
            del self.priv_init[priv]
            self.inflight -= priv.length
            if self._rx_room:
                self._wake_room()
        sock = self.socket
        if sock is None or self.event or sock.conn.phase is not Phase.URB:
            return     # ignore urb for closed connection
        if priv.unlinking:
            self._send(sock, RetUnlink(priv.seqnum, status))
        else:
            self._send_ret_submit(sock, priv, urb)

    def _note(self, urb: Urb, status: int) -> None:
        """stub_complete()'s line about a URB that did not complete normally."""
        if status == -Errno.EPIPE:
            text = f"endpoint {usb_pipeendpoint(urb.pipe)} is stalled"
        else:
            text = _COMPLETION_NOTES.get(status,
                                         f"urb completion with non-zero status {status}")
        self.log.dev_info(self.udev, text)

    def _send_ret_submit(self, sock: UsbipSocket, priv: StubPriv, urb: Urb) -> None:
        """stub_send_ret_submit(): the header, the IN data (an isochronous URB's packets
        back to back, without the gaps between them), the packet descriptors."""
        actual = urb.actual_length
        data: bytes | memoryview = b""
        iso: tuple[WireIsoPacket, ...] = ()
        is_in = usb_pipein(urb.pipe)
        if urb.iso_frame_desc:
            frames = urb.iso_frame_desc[:urb.number_of_packets]
            if is_in:
                view = memoryview(urb.transfer_buffer or b"")
                data = b"".join(view[f.offset:f.offset + f.actual_length] for f in frames)
                if len(data) != actual:
                    self.log.dev_err(self.udev, f"actual length of urb {actual} does not "
                                                f"match iso packet sizes {len(data)}")
                    self.event_add(SDEV_EVENT_ERROR_TCP)
                    return
            iso = tuple(WireIsoPacket(f.offset, f.length, f.actual_length, f.status)
                        for f in frames)
        elif is_in and actual:
            data = memoryview(urb.transfer_buffer)[:actual]
        self._send(sock, RetSubmit(priv.seqnum, urb.status, actual, urb.start_frame,
                                   priv.packets, urb.error_count, data, iso))

    def _send(self, sock: UsbipSocket, pdu: RetSubmit | RetUnlink) -> None:
        """kernel_sendmsg() of one answer; a closed connection fails the send ("sendmsg
        failed!", SDEV_EVENT_ERROR_TCP).  Unsent data above the high-water mark starts
        the send timeout."""
        data = sock.conn.send(pdu)
        if sock.closing():
            self.log.dev_err(self.udev, f"sendmsg failed!, retval {-Errno.EPIPE} for "
                                        f"{len(data)}")
            self.event_add(SDEV_EVENT_ERROR_TCP)
            return
        sock.writer.write(data)
        self._written += len(data)
        if self._watchdog is None and sock.unsent() > sock.write_high:
            self._arm_watchdog(sock)

    def _arm_watchdog(self, sock: UsbipSocket) -> None:
        mark = (self._written, sock.unsent())
        self._watchdog = self._loop.call_later(sock.send_timeout_s, self._send_stalled,
                                               sock, mark)

    def _send_stalled(self, sock: UsbipSocket, mark: tuple[int, int]) -> None:
        """SO_SNDTIMEO: the peer took nothing of what was unsent for the send timeout:
        the send fails with -EAGAIN.  Some progress re-arms the timer."""
        self._watchdog = None
        if sock is not self.socket or self.event:
            return
        written, unsent = mark
        unsent_now = sock.unsent()
        if unsent_now <= sock.write_high:
            return
        if unsent + (self._written - written) - unsent_now > 0:
            self._arm_watchdog(sock)
            return
        self.log.dev_err(self.udev, f"sendmsg failed!, retval {-Errno.EAGAIN} for "
                                    f"{unsent_now}")
        self.event_add(SDEV_EVENT_ERROR_TCP)


# -- the special requests (stub_rx.c tweak_*) ----------------------------------------------------

Tweak = Callable[[StubDevice, SetupPacket], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class _Special:
    """A request stub_rx hands to the core instead of the device: the wValue it needs
    (None: any) and the tweak that does it (0 when done)."""

    wValue: int | None
    tweak: Tweak


async def _tweak_clear_halt(sdev: StubDevice, setup: SetupPacket) -> int:
    """tweak_clear_halt_cmd(): usb_clear_halt() on the endpoint wIndex names (through a
    control pipe of that number, as Linux builds it)."""
    udev = sdev.udev
    target_endp = setup.wIndex & USB_ENDPOINT_NUMBER_MASK
    target_in = bool(setup.wIndex & USB_DIR_IN)
    ret = await usb_clear_halt(udev, make_pipe(udev, PIPE_CONTROL, target_endp, target_in))
    if ret < 0:
        sdev.log.dev_err(udev, f"usb_clear_halt error: devnum {udev.devnum} endp "
                               f"{target_endp} ret {ret}")
    else:
        sdev.log.dev_info(udev, f"usb_clear_halt done: devnum {udev.devnum} endp "
                                f"{target_endp}")
    return ret


async def _tweak_set_interface(sdev: StubDevice, setup: SetupPacket) -> int:
    """tweak_set_interface_cmd(): usb_set_interface(wIndex, wValue)."""
    udev = sdev.udev
    alternate, interface = setup.wValue, setup.wIndex
    ret = await usb_set_interface(udev, interface, alternate)
    if ret < 0:
        sdev.log.dev_err(udev, f"usb_set_interface error: inf {interface} alt {alternate} "
                               f"ret {ret}")
    else:
        sdev.log.dev_info(udev, f"usb_set_interface done: inf {interface} alt {alternate}")
    return ret


async def _tweak_set_configuration(sdev: StubDevice, setup: SetupPacket) -> int:
    """tweak_set_configuration_cmd(): usb_set_configuration(wValue)."""
    udev = sdev.udev
    config = setup.wValue
    err = await usb_set_configuration(udev, config)
    if err and err != -Errno.ENODEV:
        sdev.log.dev_err(udev, f"can't set config #{config}, error {err}")
    return err


async def _tweak_reset_device(sdev: StubDevice, setup: SetupPacket) -> int:
    """tweak_reset_device_cmd(): SetPortFeature(PORT_RESET) becomes usb_reset_device()."""
    udev = sdev.udev
    sdev.log.dev_info(udev, "usb_queue_reset_device")
    err = await usb_lock_device_for_reset(udev, None)
    if err < 0:
        sdev.log.dev_err(udev, "could not obtain lock to reset device")
        return err
    try:
        return await usb_reset_device(udev)
    finally:
        usb_unlock_device(udev)


#: is_clear_halt_cmd, is_set_interface_cmd, is_set_configuration_cmd, is_reset_device_cmd:
#: the first two bytes of the setup packet (bRequestType, bRequest) → the wValue it needs
#: and its tweak.
_SPECIAL: Final[dict[bytes, _Special]] = {
    bytes((Recipient.ENDPOINT, Request.CLEAR_FEATURE)): _Special(Feature.ENDPOINT_HALT,
                                                                 _tweak_clear_halt),
    bytes((Recipient.INTERFACE, Request.SET_INTERFACE)): _Special(None, _tweak_set_interface),
    bytes((Recipient.DEVICE, Request.SET_CONFIGURATION)): _Special(None,
                                                                   _tweak_set_configuration),
    bytes((USB_RT_PORT, Request.SET_FEATURE)): _Special(PortFeature.RESET, _tweak_reset_device),
}


# -- the device's files (stub_dev.c usbip_groups, usbip_common.c usbip_debug) ---------------------


def _sdev_of(udev: UsbDevice) -> StubDevice | None:
    sdev = udev.driver_data
    return sdev if isinstance(sdev, StubDevice) else None


def _show_status(udev: UsbDevice) -> str:
    """usbip_status_show(): the status number."""
    sdev = _sdev_of(udev)
    return f"{int(sdev.status)}\n" if sdev is not None else ""


async def _store_sockfd(udev: UsbDevice, data: bytes) -> int:
    """usbip_sockfd_store(): a descriptor brings the stub up, -1 takes it down."""
    sdev = _sdev_of(udev)
    if sdev is None:
        udev.usb_bus.core.log.dev_err(udev, "sdev is null")
        return -Errno.ENODEV
    fd = scan_int(data)
    if fd is None:
        return -Errno.EINVAL
    ret = sdev.stub_up(fd) if fd != -1 else sdev.stub_down()
    return ret if ret < 0 else len(data)


def _show_debug(udev: UsbDevice) -> str:
    return f"{usbip_debug_flag:x}\n"


def _scan_hex(data: bytes) -> int | None:
    """sscanf(buf, "%lx"): white space, an optional sign and 0x, hex digits."""
    text = data.decode("latin-1").lstrip(" \t\n\v\f\r")
    sign = -1 if text[:1] == "-" else 1
    text = text[1:] if text[:1] in "+-" and text else text
    if text[:2].lower() == "0x" and text[2:3] and text[2] in "0123456789abcdefABCDEF":
        text = text[2:]
    digits = ""
    for char in text:
        if char not in "0123456789abcdefABCDEF":
            break
        digits += char
    return (sign * int(digits, 16)) & 0xFFFFFFFFFFFFFFFF if digits else None


async def _store_debug(udev: UsbDevice, data: bytes) -> int:
    global usbip_debug_flag
    value = _scan_hex(data)
    if value is None:
        return -Errno.EINVAL
    usbip_debug_flag = value
    return len(data)


USBIP_ATTRS: Final[tuple[SysAttr[UsbDevice], ...]] = (
    SysAttr("usbip_status", _show_status),
    SysAttr("usbip_sockfd", None, _store_sockfd, 0o200),
    SysAttr("usbip_debug", _show_debug, _store_debug, 0o644),
)
"""The files of a device bound to usbip-host (usbip_groups)."""


# -- the driver (stub_main.c, stub_dev.c) ---------------------------------------------------------


@dataclass
class BusIdPriv:
    """struct bus_id_priv: one entry of the match_busid table."""

    name: str = ""
    status: BusidStatus = BusidStatus.OTHER
    sdev: StubDevice | None = None
    udev: UsbDevice | None = None
    shutdown_busid: bool = False


class StubDriver(UsbDeviceDriver):
    """stub_driver: the device driver "usbip-host", with its match_busid table.  It has no
    id table and no match function: the driver core offers it any device, and its probe
    takes those of the table."""

    supports_autosuspend = False

    def __init__(self) -> None:
        super().__init__("usbip-host")
        self.busid_table = [BusIdPriv() for _ in range(MAX_BUSID)]

    # -- the table ------------------------------------------------------------------------

    def get_busid_priv(self, busid: str) -> BusIdPriv | None:
        """get_busid_priv(): the entry named `busid`, or None.  Context: atomic."""
        return next((b for b in self.busid_table if b.name and b.name == busid[:BUSID_SIZE]),
                    None)

    def add_match_busid(self, busid: str) -> int:
        """add_match_busid(): 0 (also when it is there already), -1 when the table is
        full.  Context: atomic."""
        if self.get_busid_priv(busid) is not None:
            return 0
        for bid in self.busid_table:
            if not bid.name:
                bid.name = busid
                if bid.status not in (BusidStatus.ALLOC, BusidStatus.REMOV):
                    bid.status = BusidStatus.ADDED
                return 0
        return -1

    def del_match_busid(self, busid: str) -> int:
        """del_match_busid(): an entry handed back is freed, one whose device is bound is
        marked REMOV; 0, or -1 when there is no such entry.  Context: atomic."""
        bid = self.get_busid_priv(busid)
        if bid is None:
            return -1
        if bid.status == BusidStatus.OTHER:
            bid.name = ""
        if bid.status not in (BusidStatus.OTHER, BusidStatus.ADDED):
            bid.status = BusidStatus.REMOV
        return 0

    def show_match_busid(self) -> str:
        """match_busid_show(): each name followed by a space, then a newline."""
        return "".join(f"{b.name} " for b in self.busid_table if b.name) + "\n"

    async def store_match_busid(self, data: bytes) -> int:
        """match_busid_store(): "add BUSID" or "del BUSID" (taken as written, a newline
        included); the bytes written, -EINVAL, -ENOMEM (table full) or -ENODEV."""
        if len(data) < 5:
            return -Errno.EINVAL
        busid = data[4:].split(b"\0", 1)[0].decode("utf-8", errors="surrogateescape")
        if len(busid.encode("utf-8", errors="surrogateescape")) >= BUSID_SIZE:
            return -Errno.EINVAL
        if data[:4] == b"add ":
            return -Errno.ENOMEM if self.add_match_busid(busid) < 0 else len(data)
        if data[:4] == b"del ":
            return -Errno.ENODEV if self.del_match_busid(busid) < 0 else len(data)
        return -Errno.EINVAL

    async def do_rebind(self, bid: BusIdPriv) -> int:
        """do_rebind(): offer the entry's device to the drivers again; 0 or -ENODEV
        (logged "rebind failed") when there is no device to offer."""
        udev = bid.udev
        if udev is None or udev.bus is None or not udev.registered:
            if udev is not None:
                udev.usb_bus.core.log.dev_err(udev, "rebind failed")
            return -Errno.ENODEV
        await udev.bus.core.device_attach(udev)
        return 0

    async def store_rebind(self, data: bytes) -> int:
        """rebind_store(): hand the device of bus id `data` (as written) back to the other
        drivers and drop its entry; the bytes written, -EINVAL or -ENODEV."""
        raw = data.split(b"\0", 1)[0]
        if len(raw) >= BUSID_SIZE:
            return -Errno.EINVAL
        bid = self.get_busid_priv(raw.decode("utf-8", errors="surrogateescape"))
        if bid is None:
            return -Errno.ENODEV
        bid.status = BusidStatus.OTHER
        ret = await self.do_rebind(bid)
        if ret < 0:
            return ret
        self.del_match_busid(bid.name)
        return len(data)

    async def device_rebind(self) -> None:
        """stub_device_rebind(): on module removal, the devices it let go are offered to
        the other drivers.  Context: may sleep."""
        released = [b for b in self.busid_table if b.name and b.shutdown_busid]
        for bid in released:
            bid.status = BusidStatus.OTHER
        for bid in released:
            await self.do_rebind(bid)

    # -- probe and disconnect -------------------------------------------------------------

    async def probe(self, udev: UsbDevice) -> int:
        """stub_probe(): take a device of the match_busid table that is neither a hub
        nor on a vhci controller; claim its port.  0 or -ENODEV (-EBUSY and others from
        the port claim).  Context: may sleep."""
        log, name = udev.usb_bus.core.log, udev.name
        log.dev_dbg(udev, "Enter probe")
        bid = self.get_busid_priv(name)
        if bid is None or bid.status in (BusidStatus.REMOV, BusidStatus.OTHER):
            log.dev_info(udev, f"{name} is not in match_busid table... skip!")
            return -Errno.ENODEV
        if udev.descriptor is not None and udev.descriptor.bDeviceClass == ClassCode.HUB:
            log.dev_dbg(udev, f"{name} is a usb hub device... skip!")
            return -Errno.ENODEV
        if udev.usb_bus.bus_name == "vhci_hcd":
            log.dev_dbg(udev, f"{name} is attached on vhci_hcd... skip!")
            return -Errno.ENODEV
        sdev = StubDevice(udev)
        log.dev_info(udev, f"usbip-host: register new device (bus {udev.busnum} dev "
                           f"{udev.devnum})")
        bid.shutdown_busid = False
        udev.driver_data = sdev
        bid.sdev, bid.udev = sdev, udev
        saved, bid.status = bid.status, BusidStatus.ALLOC
        rc = usb_hub_claim_port(udev, udev)
        if rc:
            log.dev_dbg(udev, "unable to claim port")
            udev.driver_data = None
            bid.sdev, bid.status = None, saved
            return rc
        for attr in USBIP_ATTRS:
            device_create_file(udev, attr)
        return 0

    async def disconnect(self, udev: UsbDevice) -> None:
        """stub_disconnect(): the files go, the port is released, the connection is shut
        down (its URBs killed) and the entry is ADDED again.  Context: may sleep."""
        log = udev.usb_bus.core.log
        log.dev_dbg(udev, "Enter disconnect")
        bid = self.get_busid_priv(udev.name)
        sdev = _sdev_of(udev)
        if bid is None or sdev is None:
            log.dev_err(udev, "could not get device")
            return
        udev.driver_data = None
        for attr in USBIP_ATTRS:
            device_remove_file(udev, attr)
        rc = usb_hub_release_port(udev, udev)
        if rc and rc != -Errno.ENODEV:
            log.dev_dbg(udev, f"unable to release port ({rc})")
            return
        if sdev.in_event_handler():
            return
        bid.shutdown_busid = True
        sdev.event_add(SDEV_EVENT_REMOVED)   # shutdown_busid()
        await sdev.stop_event_handler()
        bid.sdev = None
        if bid.status == BusidStatus.ALLOC:
            bid.status = BusidStatus.ADDED


stub_driver = StubDriver()


DRIVER_ATTRS: Final[tuple[SysAttr[StubDriver], ...]] = (
    SysAttr("match_busid", StubDriver.show_match_busid, StubDriver.store_match_busid, 0o644),
    SysAttr("rebind", None, StubDriver.store_rebind, 0o200),
)
"""The files of /sys/bus/usb/drivers/usbip-host besides the driver core's."""


# -- init / exit ----------------------------------------------------------------------------------


async def usbip_host_init() -> int:
    """usbip_host_init(): register the driver, then its match_busid and rebind files.
    0 or -errno.  Context: may sleep."""
    usb = current_usbcore()
    try:
        await usb_register_device_driver(usb, stub_driver)
    except OSError as exc:
        ret = -(exc.errno or Errno.EIO)
        usb.log.log(Level.ERR, f"{KBUILD_MODNAME}: usb_register failed {ret}")
        return ret
    for attr in DRIVER_ATTRS:
        if driver_create_file(stub_driver, attr):
            usb.log.log(Level.ERR, f"{KBUILD_MODNAME}: driver_create_file failed")
            await usb_deregister_device_driver(usb, stub_driver)
            return -Errno.EEXIST
    return 0


async def usbip_host_exit() -> None:
    """usbip_host_exit(): the files go, the driver is deregistered (every device
    disconnected) and the devices it let go are rebound.  Context: may sleep."""
    for attr in DRIVER_ATTRS:
        driver_remove_file(stub_driver, attr)
    await usb_deregister_device_driver(current_usbcore(), stub_driver)
    await stub_driver.device_rebind()


module_init(usbip_host_init)
module_exit(usbip_host_exit)

module_author(DRIVER_AUTHOR)
module_description(DRIVER_DESC)
module_license("GPL")
