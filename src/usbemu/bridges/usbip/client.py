"""The importing side of USB/IP — counterpart of tools/usb/usbip's `usbip attach`, `usbip
detach`, `usbip list -r` and `usbip port` (usbip_attach.c, usbip_detach.c, usbip_list.c,
usbip_port.c, libsrc/vhci_driver.c) and of the socket work of drivers/usb/usbip/vhci_tx.c
and vhci_rx.c.

`attach(system, host, busid)` connects to a USB/IP server on the machine's loop (TCP_NODELAY),
imports the device (OP_REQ_IMPORT) and connects it to a free port of the machine's vhci
controller (`usbemu.host.vhci`), which it adds first, as `modprobe vhci-hcd` would, when the
machine has none.  The connection, a `UsbipLink`, is that port's transport: it encodes each
CMD_SUBMIT and CMD_UNLINK the port hands it and writes what one pass of the loop produced
in one go, with any number of URBs in flight (vhci_tx), and hands every RET_SUBMIT and
RET_UNLINK to the port as its bytes arrive (vhci_rx).  The end of the stream, a reset, a peer
that breaks the protocol, or one that takes nothing of a full send buffer (more than
`UsbipSocket.write_high` bytes) for `send_timeout_s` ends the attachment with the reason in
the kernel log ("vhci_hcd: connection closed", "vhci_hcd: sendmsg failed!, ret=-11 for …"),
and the hub driver sees the device unplugged.  `detach` ends one on
purpose, `attachments` lists the machine's (`usbip port`), `list_remote` asks a server what
it exports (OP_REQ_DEVLIST).  Attachments to any number of servers run side by side.

What it does not do: the files `usbip attach` records in /var/run/vhci_hcd (the machine
keeps its `Attachment`s), SuperSpeedPlus devices (vhci_hcd refuses them, as in Linux: a
SuperSpeed device goes to a port of its SuperSpeed root hub), the UDC import of
`usbip attach -d`.  The operation phase waits OP_TIMEOUT_S on the machine's clock, so a
machine that talks to other processes runs on real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ...core.urb import PIPE_ISOCHRONOUS, Urb, UrbFlag, usb_pipeendpoint, usb_pipein, usb_pipetype
from ...errors import Errno
from ...host.vhci import VdevStatus, VhciDevice, VhciHCD
from ...kernel.printk import Level
from .protocol import (
    USBIP_PORT,
    CmdSubmit,
    CmdUnlink,
    ConnectionClosed,
    Direction,
    Event,
    ExportedDevice,
    IsoPacket,
    OpRepDevlist,
    OpRepImport,
    OpReqDevlist,
    OpReqImport,
    OpStatus,
    ProtocolError,
    RetSubmit,
    RetUnlink,
    Role,
    UsbipConnection,
)
from .sockfd import UsbipSocket, open_usbip_connection

if TYPE_CHECKING:
    from ...system import System

__all__ = [
    "OP_TIMEOUT_S",
    "Attachment",
    "UsbipError",
    "UsbipLink",
    "attach",
    "attachments",
    "cmd_submit",
    "detach",
    "list_remote",
    "op_status_string",
    "vhci_controller",
]

#: Seconds of machine time the server may take to answer an operation.
OP_TIMEOUT_S: Final = 10.0
#: Bytes asked of the socket per read.
READ_CHUNK: Final = 256 << 10
#: How often a full send buffer is looked at for progress, in seconds.
STALL_POLL_S: Final = 1.0

#: usbip_op_common_status_string(), by OpStatus.
_OP_STATUS_STRINGS: Final = (
    "Request Completed Successfully",
    "Request Failed",
    "Device busy (exported)",
    "Device in error state",
    "Device not found",
    "Unexpected response",
)
#: tweak_transfer_flags(): the flag vhci never sends.
_NO_TRANSFER_DMA_MAP: Final = int(UrbFlag.NO_TRANSFER_DMA_MAP)


class UsbipError(Exception):
    """A server refused an operation or broke the protocol, or the machine cannot take the
    device; the message says which, in usbip's words where it has them."""


def op_status_string(status: int) -> str:
    """usbip_op_common_status_string(): the text of an operation's status.  Context:
    atomic."""
    if 0 <= status < len(_OP_STATUS_STRINGS):
        return _OP_STATUS_STRINGS[status]
    return "Unknown Op Common Status"


@dataclass(frozen=True)
class Attachment:
    """One imported device: the vhci port it is on, the server and bus id it came from
    (what `usbip attach` records for `usbip port`), and the device as the server
    described it."""

    port: int
    host: str
    tcp_port: int
    busid: str
    device: ExportedDevice


def cmd_submit(seqnum: int, devid: int, urb: Urb) -> CmdSubmit:
    """setup_cmd_submit_pdu(): the CMD_SUBMIT that carries `urb` (OUT data and isochronous
    packet descriptors included; URB_NO_TRANSFER_DMA_MAP left out).  Context: atomic."""
    is_in = usb_pipein(urb.pipe)
    length = urb.transfer_buffer_length
    iso: tuple[IsoPacket, ...] = ()
    if usb_pipetype(urb.pipe) == PIPE_ISOCHRONOUS:
        iso = tuple(IsoPacket(p.offset, p.length, p.actual_length, p.status)
                    for p in urb.iso_frame_desc[:urb.number_of_packets])
    return CmdSubmit(
        seqnum, devid, Direction.IN if is_in else Direction.OUT, usb_pipeendpoint(urb.pipe),
        urb.transfer_flags & ~_NO_TRANSFER_DMA_MAP, length, urb.start_frame,
        urb.number_of_packets, urb.interval, urb.setup_packet or bytes(8),
        b"" if is_in or not length else urb.buffer_view(), iso)


class UsbipLink:
    """The client end of one USB/IP connection past its import: the `VhciTransport` of
    the vhci port it is attached to.  `closed` is set once it is shut down.  Made on the
    machine's loop; every method but `run` is atomic."""

    def __init__(self, sock: UsbipSocket, device: ExportedDevice) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.device = device
        self.vdev: VhciDevice | None = None
        self.closed = asyncio.Event()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        #: Bytes handed to the socket so far, and the stall check armed while more than
        #: `sock.write_high` of them wait to go out.
        self._written = 0
        self._stall: asyncio.TimerHandle | None = None
        #: (bytes the server had taken, when that was last seen to grow).
        self._progress = (0, 0.0)

    def __repr__(self) -> str:
        return f"<UsbipLink {self.sock.peer}/{self.device.busid}>"

    def start(self, vdev: VhciDevice) -> None:
        """Begin handing the server's answers to `vdev`'s port as they arrive (vhci_rx).
        Context: atomic."""
        self.vdev = vdev
        self.sock.reader.set_sink(self._received, self._ended)

    # -- VhciTransport ------------------------------------------------------------------------

    def submit(self, seqnum: int, urb: Urb) -> None:
        """Send `urb` as CMD_SUBMIT `seqnum` (written with the rest of this pass).
        Context: atomic."""
        if not self.closed.is_set():
            self._queue(self.sock.conn.send(cmd_submit(seqnum, self.device.devid, urb)))

    def unlink(self, seqnum: int, unlink_seqnum: int) -> None:
        """Send CMD_UNLINK `seqnum` for the URB of `unlink_seqnum` (vhci_send_cmd_unlink:
        direction and endpoint 0).  Context: atomic."""
        if not self.closed.is_set():
            self._queue(self.sock.conn.send(
                CmdUnlink(seqnum, self.device.devid, Direction.OUT, 0, unlink_seqnum)))

    def shutdown(self) -> None:
        """Stop reading and close the connection (kernel_sock_shutdown): at once when
        nothing written is waiting to go out, else once it has (`UsbipSocket.close`).
        Context: atomic."""
        if self.closed.is_set():
            return
        self.closed.set()
        self._flush()
        if self._stall is not None:
            self._stall.cancel()
        self.sock.reader.set_sink(None)
        if self.sock.unsent():
            self.sock.close()
        else:
            self.sock.writer.close()

    # -- vhci_tx: writing ---------------------------------------------------------------------

    def _queue(self, data: bytes) -> None:
        """vhci_send_cmd_submit()'s send: at once when it is the only URB in flight (a
        synchronous caller waits for nothing else), else batched with the other messages
        of this pass of the loop (fewer, larger sends while many URBs are in flight)."""
        self._out.append(data)
        if self._flush_scheduled:
            return
        if len(self._out) == 1 and self.sock.conn.in_flight <= 1 and not self.sock.unsent():
            self._flush()
            return
        self._flush_scheduled = True
        self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        if not out or self.sock.closing():
            return
        self.sock.writer.writelines(out)
        self._written += sum(len(data) for data in out)
        if self._stall is None and self.sock.unsent() > self.sock.write_high:
            self._arm_stall_check()

    def _arm_stall_check(self) -> None:
        self._progress = (self._written - self.sock.unsent(), self.loop.time())
        self._stall = self.loop.call_later(STALL_POLL_S, self._check_stall)

    def _check_stall(self) -> None:
        """A server that takes nothing of a full send buffer for `send_timeout_s` breaks
        the connection, as a send that times out does ("sendmsg failed!").  Looked at
        every STALL_POLL_S while more than `write_high` bytes wait."""
        self._stall = None
        unsent = self.sock.unsent()
        if self.closed.is_set() or unsent <= self.sock.write_high:
            return
        sent, since = self._progress
        now = self.loop.time()
        if self._written - unsent > sent:
            self._progress = (self._written - unsent, now)
        elif now - since >= self.sock.send_timeout_s:
            assert self.vdev is not None
            self.vdev.connection_lost(f"sendmsg failed!, ret={-Errno.EAGAIN} for {unsent}",
                                      Level.ERR)
            return
        self._stall = self.loop.call_later(STALL_POLL_S, self._check_stall)

    # -- vhci_rx: reading ---------------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        """vhci_rx_loop(): hand every whole answer that arrived to the port; a protocol
        error ends the connection (KERN_ERR).  Context: atomic (the transport's
        callback)."""
        conn = self.sock.conn
        conn.receive_data(data)
        try:
            while (event := conn.next_event()) is not None and not self.closed.is_set():
                if isinstance(event, ConnectionClosed):
                    self._lost("connection closed")
                    return
                assert self.vdev is not None
                _deliver(self.vdev, event)
        except ProtocolError as exc:
            self._lost(exc.reason, Level.ERR)

    def _ended(self, exc: BaseException | None) -> None:
        """The stream ended: what was whole is handed over first, then the port is told
        why ("connection closed", a reset, a failed read).  Context: atomic."""
        if self.closed.is_set():
            return
        if exc is None:
            self._received(b"")     # ends in ConnectionClosed or a ProtocolError
        elif isinstance(exc, ConnectionResetError):
            self._lost("connection reset by peer")
        else:
            errno = exc.errno if isinstance(exc, OSError) else None
            self._lost(f"xmit failed {-(errno or Errno.EIO)}")

    def _lost(self, reason: str, level: Level = Level.INFO) -> None:
        """Stop reading and tell the port why the connection is gone."""
        self.sock.reader.set_sink(None)
        assert self.vdev is not None
        self.vdev.connection_lost(reason, level)


def _deliver(vdev: VhciDevice, event: Event) -> None:
    """vhci_recv_ret_submit / vhci_recv_ret_unlink."""
    if isinstance(event, RetSubmit):
        vdev.ret_submit(event.seqnum, event.status, event.actual_length, event.data,
                        start_frame=event.start_frame, error_count=event.error_count,
                        iso=[(p.actual_length, p.status) for p in event.iso])
    elif isinstance(event, RetUnlink):
        vdev.ret_unlink(event.seqnum, event.status)


# -- the machine's side ------------------------------------------------------------------------

#: Each machine's attachments by vhci port, with their links.
_ATTACHED: weakref.WeakKeyDictionary[System, dict[int, tuple[Attachment, UsbipLink]]] = \
    weakref.WeakKeyDictionary()
#: Serialises adding the vhci controller (two attaches at once add one).
_MODPROBE: weakref.WeakKeyDictionary[System, asyncio.Lock] = weakref.WeakKeyDictionary()


def _find_vhci(system: System) -> VhciHCD | None:
    return next((hcd for hcd in system.controllers if isinstance(hcd, VhciHCD)), None)


async def vhci_controller(system: System) -> VhciHCD:
    """The machine's vhci controller, added (bus and root hub registered, "created sysfs
    vhci_hcd.0") when it has none.  Context: may sleep, on the machine's loop."""
    lock = _MODPROBE.setdefault(system, asyncio.Lock())
    async with lock:
        hcd = _find_vhci(system)
        if hcd is None:
            added = await system.aadd_controller("vhci")
            assert isinstance(added, VhciHCD)
            hcd = added
    return hcd


async def _connect(host: str, port: int) -> UsbipSocket:
    """usbip_net_tcp_connect(): a TCP connection with TCP_NODELAY, as a client's socket."""
    reader, writer = await open_usbip_connection(host, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return UsbipSocket(reader, writer, UsbipConnection(Role.CLIENT))


@contextlib.asynccontextmanager
async def _connection(host: str, port: int) -> AsyncIterator[UsbipSocket]:
    """A connection to the server, dropped at once when the block raises."""
    sock = await _connect(host, port)
    try:
        yield sock
    except BaseException:
        sock.abort()
        raise


async def _reply(sock: UsbipSocket, what: str) -> Event:
    """The server's answer to the operation just sent, within OP_TIMEOUT_S.  Raises
    UsbipError when it closes, breaks the protocol or says nothing."""
    conn = sock.conn
    try:
        async with asyncio.timeout(OP_TIMEOUT_S):
            while True:
                event = conn.next_event()
                if event is not None:
                    break
                conn.receive_data(await sock.reader.read(READ_CHUNK))
    except ProtocolError as exc:
        raise UsbipError(f"{sock.peer}: {what}: {exc.reason}") from None
    except TimeoutError:
        raise UsbipError(f"{sock.peer}: {what}: no answer within {OP_TIMEOUT_S:g} s") from None
    if isinstance(event, ConnectionClosed):
        raise UsbipError(f"{sock.peer}: {what}: the server closed the connection")
    return event


async def list_remote(host: str, port: int = USBIP_PORT) -> list[ExportedDevice]:
    """`usbip list -r HOST`: the devices the server exports, with their interfaces.
    Raises OSError when it cannot be reached, UsbipError when it refuses or breaks the
    protocol.  Context: may sleep, on any event loop."""
    async with _connection(host, port) as sock:
        sock.writer.write(sock.conn.send(OpReqDevlist()))
        reply = await _reply(sock, "recv op_common")
        sock.writer.close()
    assert isinstance(reply, OpRepDevlist)
    if reply.status != OpStatus.OK:
        raise UsbipError(f"failed to get device list from {host}: "
                         f"{op_status_string(reply.status)}")
    return list(reply.devices)


async def _import(sock: UsbipSocket, busid: str) -> ExportedDevice:
    """query_import_device(): OP_REQ_IMPORT and the server's device."""
    sock.writer.write(sock.conn.send(OpReqImport(busid)))
    reply = await _reply(sock, f"Attach Request for {busid} failed")
    assert isinstance(reply, OpRepImport)
    if reply.status != OpStatus.OK or reply.device is None:
        raise UsbipError(f"Attach Request for {busid} failed - "
                         f"{op_status_string(reply.status)}")
    if reply.device.busid != busid:
        raise UsbipError(f"recv different busid {reply.device.busid}")
    return reply.device


def _import_device(hcd: VhciHCD, link: UsbipLink) -> int:
    """import_device(): the first free port, tried again while one is taken meanwhile."""
    device = link.device
    fd = link.sock.fileno()
    for _ in range(len(hcd.vdevs)):
        port = hcd.free_port(device.speed)
        if port is None:
            raise UsbipError("no free port")
        hcd.sockets[fd] = link
        try:
            rc = hcd.attach_device(port, fd, device.devid, device.speed)
        finally:
            del hcd.sockets[fd]
        if rc == 0:
            return port
        if rc != -Errno.EBUSY:
            raise UsbipError(f"import device: {os.strerror(-rc)}")
    raise UsbipError("no free port")


async def attach(system: System, host: str, busid: str, port: int = USBIP_PORT) -> int:
    """`usbip attach -r HOST -b BUSID`: import the device `busid` from the server at
    `host`:`port` onto a free port of the machine's vhci controller (added if the machine
    has none); the hub driver then enumerates it.  Returns the vhci port number (as
    `usbip port` shows it).  Raises OSError when the server cannot be reached,
    UsbipError when it refuses the import ("Attach Request for 1-1 failed - Device busy
    (exported)"), breaks the protocol, or the device cannot be taken (no
    free port, a speed vhci_hcd refuses).  Context: may sleep, on the machine's loop."""
    hcd = await vhci_controller(system)
    async with _connection(host, port) as sock:
        device = await _import(sock, busid)
        link = UsbipLink(sock, device)
        vport = _import_device(hcd, link)
    link.start(hcd.device(vport))
    _ATTACHED.setdefault(system, {})[vport] = (
        Attachment(vport, host, port, busid, device), link)
    return vport


def attachments(system: System) -> list[Attachment]:
    """`usbip port`: the machine's imported devices that are still connected, by port.
    Context: atomic."""
    table = _ATTACHED.get(system, {})
    for vport in [p for p, (_, link) in table.items() if link.closed.is_set()]:
        del table[vport]
    return [attachment for _, (attachment, _) in sorted(table.items())]


async def detach(system: System, port: int) -> None:
    """`usbip detach -p PORT`: end the attachment on vhci port `port`; returns once its
    connection is shut down and the port is free (the hub driver sees the unplug).
    Raises ValueError for a port the machine does not have or one with nothing attached.
    Context: may sleep, on the machine's loop."""
    hcd = _find_vhci(system)
    if hcd is None:
        raise ValueError(f"port {port}: the machine has no vhci_hcd controller, nothing is "
                         "attached")
    vdev = hcd.device(port)
    if vdev.status is VdevStatus.NULL:
        raise ValueError(f"Port {port} is already detached!")
    transport = vdev.transport
    rc = hcd.detach_device(port)
    if rc:
        raise ValueError(f"port {port}: {os.strerror(-rc)}")
    if isinstance(transport, UsbipLink):
        await transport.closed.wait()
    else:
        await asyncio.sleep(0)       # the event handler, queued before this task resumes
