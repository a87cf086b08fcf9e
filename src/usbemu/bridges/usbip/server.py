"""usbipd — counterpart of tools/usb/usbip/src/usbipd.c, with usbip_host_common.c and
usbip_common.c (the exported devices as sysfs shows them) and usbip_bind.c /
usbip_unbind.c (handing devices to usbip-host and back), on asyncio streams in the
machine's loop.

`await UsbipServer.start(system, ["1-1"])` loads usbip_host, binds each bus id to it as
`usbip bind -b 1-1` does (match_busid, unbind from its driver, bind) and listens on
127.0.0.1:3240 unless told otherwise (port 0: any free port, `server.port` says which).
Exporting a device model is plugging it in (`system.plug(model, "1-1")`) and exporting its
bus id.  Like usbipd, each connection carries one operation: OP_REQ_DEVLIST is answered
with the exported devices read from sysfs — path, bus id, speed, ids, classes, the active
configuration's interfaces (none until a client has configured the device, as usbip-host
leaves it unconfigured) — and the connection closes; OP_REQ_IMPORT is answered ST_NODEV for
a bus id not exported, ST_DEV_BUSY when another client has the device, ST_DEV_ERR when it
is unusable, else the descriptor of the connection is written to the device's usbip_sockfd
file and the reply OK goes out: from then on the connection is usbip-host's
(bridges/usbip/stub.py), which logs in the kernel log.  usbipd's own lines go to Python
logging ("usbemu.usbipd").  Every socket gets TCP_NODELAY; a peer that breaks the
protocol in the operation phase or goes away is dropped with a logged reason, the others
are unaffected.  `close()` stops listening, drops connections and unbinds the devices it
bound (their importers' connections are shut down by usbip-host), so the generic driver
has them again.

Needs a machine on real time (System(virtual=False)): its loop does the socket I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterable
from typing import Final

from ...system import System
from .protocol import (
    USBIP_PORT,
    ConnectionClosed,
    ExportedDevice,
    ExportedInterface,
    OpCode,
    OpRepDevlist,
    OpRepImport,
    OpReqDevlist,
    OpReqImport,
    OpStatus,
    ProtocolError,
    Role,
    UsbipConnection,
)
from .sockfd import (
    SEND_TIMEOUT_S,
    UsbipReader,
    UsbipSocket,
    install_socket,
    release_socket,
    start_usbip_server,
)

__all__ = [
    "USBIP_HOST_DRV_NAME",
    "UsbipServer",
    "exported_device",
    "usbip_bind",
    "usbip_unbind",
]

logger = logging.getLogger("usbemu.usbipd")

USBIP_HOST_DRV_NAME: Final = "usbip-host"
USBIP_VHCI_DRV_NAME: Final = "vhci_hcd"
_DRIVERS: Final = "/sys/bus/usb/drivers"
_DEVICES: Final = "/sys/bus/usb/devices"
#: SDEV_ST_* as usbip_status shows them.
SDEV_ST_AVAILABLE: Final = 0x01
SDEV_ST_USED: Final = 0x02
SDEV_ST_ERROR: Final = 0x03
#: usbip_export_device(): the reply for a device that is not available, by its status.
_NOT_AVAILABLE: Final = {SDEV_ST_USED: OpStatus.DEV_BUSY, SDEV_ST_ERROR: OpStatus.DEV_ERR}
#: read_attr_speed(): the `speed` file's text → enum usb_device_speed (anything else,
#: SuperSpeed Plus included, is USB_SPEED_UNKNOWN, as in the tools).
_SPEEDS: Final = {"1.5": 1, "12": 2, "480": 3, "53.3-480": 4, "5000": 5}
_HUB_CLASS: Final = 0x09
#: Bytes a connection's reader buffers before the transport stops reading.
READ_LIMIT: Final = 1 << 20


# -- the exported devices as sysfs shows them (usbip_common.c read_usb_device) ------------------


def _scan(text: str, base: int) -> int | None:
    """sscanf "%x" / "%d" of an attribute: white space, then digits; None without any."""
    text = text.lstrip()
    digits = "0123456789abcdefABCDEF"[:16 if base == 16 else 10]
    end = 0
    while end < len(text) and text[end] in digits:
        end += 1
    return int(text[:end], base) if end else None


def _attr(system: System, directory: str, name: str, base: int = 16) -> int:
    """read_attr_value(): the number in `directory/name`, 0 when it cannot be read (an
    unconfigured device's bConfigurationValue and bNumInterfaces are empty)."""
    try:
        value = _scan(system.vfs.read_text(f"{directory}/{name}"), base)
    except OSError:
        return 0
    return value if value is not None else 0


def _interface(system: System, busid: str, config: int, number: int) -> ExportedInterface:
    """read_usb_interface(): the class triple of interface `number` of the configuration
    (zeros, logged, for an interface sysfs does not have)."""
    directory = f"{_DEVICES}/{busid}:{config}.{number}"
    if not system.vfs.exists(directory):
        logger.error("udev_device_new_from_subsystem_sysname %s:%d.%d failed", busid,
                     config, number)
        return ExportedInterface(0, 0, 0)
    return ExportedInterface(_attr(system, directory, "bInterfaceClass"),
                             _attr(system, directory, "bInterfaceSubClass"),
                             _attr(system, directory, "bInterfaceProtocol"))


def exported_device(system: System, busid: str) -> ExportedDevice:
    """usbip_exported_device_new(): the device at `busid` as usbipd describes it, from its
    sysfs files (the path is its sysfs directory, /sys/devices/...).  Raises OSError
    (ENOENT) when there is no such device.  Context: atomic."""
    directory = system.vfs.resolve(f"{_DEVICES}/{busid}")[0]
    try:
        speed = _SPEEDS.get(system.vfs.read_text(f"{directory}/speed").strip(), 0)
    except OSError:
        speed = 0
    config = _attr(system, directory, "bConfigurationValue")
    count = _attr(system, directory, "bNumInterfaces")
    busnum = _scan(busid, 10) or 0
    return ExportedDevice(
        directory, busid, busnum, _attr(system, directory, "devnum", 10), speed,
        _attr(system, directory, "idVendor"), _attr(system, directory, "idProduct"),
        _attr(system, directory, "bcdDevice"), _attr(system, directory, "bDeviceClass"),
        _attr(system, directory, "bDeviceSubClass"),
        _attr(system, directory, "bDeviceProtocol"), config,
        _attr(system, directory, "bNumConfigurations"), count,
        tuple(_interface(system, busid, config, i) for i in range(count)))


def _driver_of(system: System, busid: str) -> str | None:
    """The name of the driver bound to the device at `busid`, None when there is none."""
    try:
        return system.vfs.readlink(f"{_DEVICES}/{busid}/driver").rsplit("/", 1)[-1]
    except OSError:
        return None


def _status(system: System, busid: str) -> int:
    """read_attr_usbip_status(): the device's usbip_status, -1 when it has none."""
    try:
        return int(system.vfs.read_text(f"{_DEVICES}/{busid}/usbip_status"))
    except (OSError, ValueError):
        return -1


# -- usbip bind / usbip unbind (usbip_bind.c, usbip_unbind.c) -------------------------------------


def _check_device(system: System, busid: str) -> None:
    if not system.vfs.exists(f"{_DEVICES}/{busid}") or ":" in busid:
        raise ValueError(f"{busid!r}: device with the specified bus ID does not exist")


async def _write(system: System, path: str, text: str) -> None:
    """write_sysfs_attribute(); raises OSError naming the file."""
    await system.vfs.write(path, text)


async def usbip_bind(system: System, busid: str) -> bool:
    """`usbip bind -b BUSID`: unbind the device from its driver, add its bus id to
    usbip-host's match_busid and bind it there.  Returns True when it bound the device,
    False when usbip-host had it already.  Raises ValueError for a bus id that names no
    device or a device on vhci_hcd, OSError (the sysfs write's errno) when usbip-host does
    not take it (a hub, say).  Context: may sleep (usbip_host must be loaded)."""
    _check_device(system, busid)
    directory = system.vfs.resolve(f"{_DEVICES}/{busid}")[0]
    if USBIP_VHCI_DRV_NAME in directory:
        raise ValueError(f"bind loop detected: device: {directory} is attached to "
                         f"{USBIP_VHCI_DRV_NAME}")
    driver = _driver_of(system, busid)
    if driver == USBIP_HOST_DRV_NAME:
        return False
    if driver is not None and _attr(system, directory, "bDeviceClass") != _HUB_CLASS:
        await _write(system, f"{_DRIVERS}/{driver}/unbind", busid)
    await _write(system, f"{_DRIVERS}/{USBIP_HOST_DRV_NAME}/match_busid", f"add {busid}")
    try:
        await _write(system, f"{_DRIVERS}/{USBIP_HOST_DRV_NAME}/bind", busid)
    except OSError as exc:
        await _write(system, f"{_DRIVERS}/{USBIP_HOST_DRV_NAME}/match_busid", f"del {busid}")
        raise OSError(exc.errno, f"{busid}: could not bind device to {USBIP_HOST_DRV_NAME}: "
                                 f"{exc.strerror}") from None
    logger.info("bind device on busid %s: complete", busid)
    return True


async def usbip_unbind(system: System, busid: str) -> None:
    """`usbip unbind -b BUSID`: unbind the device from usbip-host (an importer's
    connection is shut down), drop its match_busid entry and let the other drivers have
    it (`rebind`).  Raises ValueError for a bus id that names no device or one not bound
    to usbip-host, OSError when a sysfs write fails.  Context: may sleep."""
    _check_device(system, busid)
    if _driver_of(system, busid) != USBIP_HOST_DRV_NAME:
        raise ValueError(f"{busid}: device is not bound to {USBIP_HOST_DRV_NAME} driver")
    await _write(system, f"{_DRIVERS}/{USBIP_HOST_DRV_NAME}/unbind", busid)
    await _write(system, f"{_DRIVERS}/{USBIP_HOST_DRV_NAME}/match_busid", f"del {busid}")
    await _write(system, f"{_DRIVERS}/{USBIP_HOST_DRV_NAME}/rebind", busid)
    logger.info("unbind device on busid %s: complete", busid)


# -- the daemon ----------------------------------------------------------------------------------


def _set_nodelay(writer: asyncio.StreamWriter) -> None:
    """usbip_net_set_nodelay()."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class UsbipServer:
    """usbipd for one machine: the bus ids it exports, its listening socket and its
    connections.  Context: every method runs on the machine's loop."""

    def __init__(self, system: System, busids: tuple[str, ...], bound: tuple[str, ...],
                 send_timeout_s: float) -> None:
        self.system = system
        #: The bus ids served, in the order given.
        self.busids = busids
        self._bound = bound
        self._send_timeout_s = send_timeout_s
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._sockets: list[UsbipSocket] = []
        self._closed = False

    @classmethod
    async def start(cls, system: System, busids: Iterable[str], host: str = "127.0.0.1",
                    port: int = USBIP_PORT, *,
                    send_timeout_s: float = SEND_TIMEOUT_S) -> UsbipServer:
        """Load usbip_host, bind each bus id to it (`usbip_bind`) and listen on
        `host`:`port` (0: a free port).  `send_timeout_s` is how long an importer may
        stop reading before usbip-host drops it.  Raises ValueError for a bus id that
        names no device (or none given), OSError when a device cannot be bound or the
        address cannot be listened on.  Context: may sleep."""
        wanted = tuple(dict.fromkeys(busids))
        if not wanted:
            raise ValueError("no bus id to export; give at least one, e.g. '1-1'")
        if send_timeout_s <= 0:
            raise ValueError(f"send_timeout_s={send_timeout_s!r} must be positive")
        for busid in wanted:
            _check_device(system, busid)
        await system.amodprobe("usbip_host")
        bound = [busid for busid in wanted if await usbip_bind(system, busid)]
        server = cls(system, wanted, tuple(bound), send_timeout_s)
        try:
            await server._listen(host, port)
        except BaseException:
            await server.close()
            raise
        return server

    async def _listen(self, host: str, port: int) -> None:
        self._server = await start_usbip_server(self._accept, host, port, limit=READ_LIMIT)
        for sock in self._server.sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            logger.info("listening on %s:%d", *sock.getsockname()[:2])

    @property
    def port(self) -> int:
        """The TCP port listened on (the one chosen when started with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    def devices(self) -> list[ExportedDevice]:
        """usbip_refresh_device_list(): the exported devices now bound to usbip-host, as
        OP_REP_DEVLIST lists them (the tools' order: newest list entry first).
        Context: atomic."""
        found = [exported_device(self.system, busid) for busid in self.busids
                 if _driver_of(self.system, busid) == USBIP_HOST_DRV_NAME]
        return sorted(found, key=lambda dev: dev.path, reverse=True)

    # -- connections ------------------------------------------------------------------------

    async def _accept(self, reader: UsbipReader,
                      writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        _set_nodelay(writer)
        sock = UsbipSocket(reader, writer, UsbipConnection(Role.SERVER),
                           send_timeout_s=self._send_timeout_s)
        self._sockets.append(sock)
        logger.info("connection from %s", sock.peer)
        handed = False
        try:
            handed = await self._serve(sock)
        except ProtocolError as exc:
            logger.warning("%s: %s", sock.peer, exc.reason)
        except OSError as exc:
            logger.warning("%s: %s", sock.peer, exc)
        finally:
            self._handlers.discard(task)
            if not handed:
                sock.close()
                self._sockets.remove(sock)

    async def _serve(self, sock: UsbipSocket) -> bool:
        """recv_pdu(): one operation; True when the connection went to usbip-host."""
        request = await self._recv_request(sock)
        if request is None:
            return False
        code = OpCode.REQ_DEVLIST if isinstance(request, OpReqDevlist) else OpCode.REQ_IMPORT
        fd = sock.fileno()
        logger.info("received request: %#x(%d)", int(code), fd)
        if isinstance(request, OpReqDevlist):
            sock.writer.write(sock.conn.send(OpRepDevlist(tuple(self.devices()))))
            handed, ok = False, True
        else:
            handed = await self._import(sock, request.busid)
            ok = handed
        logger.info("request %#x(%d): %s", int(code), fd, "complete" if ok else "failed")
        return handed

    async def _recv_request(self, sock: UsbipSocket) -> OpReqDevlist | OpReqImport | None:
        """usbip_net_recv_op_common(): the operation, None when the peer closed first."""
        conn = sock.conn
        while True:
            event = conn.next_event()
            if isinstance(event, (OpReqDevlist, OpReqImport)):
                return event
            if isinstance(event, ConnectionClosed):
                logger.info("%s: closed before a request", sock.peer)
                return None
            if event is not None:
                raise ProtocolError(f"{type(event).__name__} in the operation phase")
            conn.receive_data(await sock.reader.read(READ_LIMIT))

    async def _import(self, sock: UsbipSocket, busid: str) -> bool:
        """recv_request_import(): the device goes to usbip-host with this connection and
        the reply OK follows; else the reply says why not.  True when handed over."""
        device = next((d for d in self.devices() if d.busid == busid), None)
        if device is None:
            logger.info("requested device not found: %s", busid)
            status: int = OpStatus.NODEV
        else:
            logger.info("found requested device: %s", busid)
            status = await self._export(sock, busid)
        if status != OpStatus.OK:
            sock.writer.write(sock.conn.send(OpRepImport(status)))
            logger.info("import request busid %s: failed", busid)
            return False
        # usbip-host reads from this connection from now on; nothing was awaited since
        # it took the socket, so the reply is the first thing its peer gets.
        sock.writer.write(sock.conn.send(OpRepImport(OpStatus.OK, device)))
        return True

    async def _export(self, sock: UsbipSocket, busid: str) -> int:
        """usbip_export_device(): write the connection's descriptor to usbip_sockfd when
        the device is available; the reply's status."""
        state = _status(self.system, busid)
        if state != SDEV_ST_AVAILABLE:
            logger.info("device not available: %s", busid)
            return _NOT_AVAILABLE.get(state, OpStatus.NA)
        usb = self.system.usb
        fd = install_socket(usb, sock)
        try:
            await _write(self.system, f"{_DEVICES}/{busid}/usbip_sockfd", f"{fd}\n")
        except OSError as exc:
            logger.error("write_sysfs_attribute failed: sockfd %d to %s/%s/usbip_sockfd: %s",
                         fd, _DEVICES, busid, exc.strerror)
            return OpStatus.NA
        finally:
            release_socket(usb, fd)
        logger.info("connect: %s", busid)
        return OpStatus.OK

    # -- shutdown ---------------------------------------------------------------------------

    async def close(self, *, unbind: bool = True) -> None:
        """Stop listening and drop the connections; with `unbind` the devices the server
        bound go back to their drivers (`usbip_unbind`: their importers are cut off),
        without it each device in use is taken down ("stub down") and stays with
        usbip-host.  Failures are logged.  Context: may sleep."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for busid in self.busids:
            await self._release(busid, unbind and busid in self._bound)
        for sock in self._sockets:
            sock.abort()
        self._sockets.clear()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), self._send_timeout_s)

    async def _release(self, busid: str, unbind: bool) -> None:
        if not self.system.vfs.exists(f"{_DEVICES}/{busid}"):
            return      # unplugged: usbip-host let it go then
        try:
            if unbind:
                await usbip_unbind(self.system, busid)
            elif _status(self.system, busid) == SDEV_ST_USED:
                await _write(self.system, f"{_DEVICES}/{busid}/usbip_sockfd", "-1\n")
        except (OSError, ValueError) as exc:
            logger.warning("%s", exc)

    async def __aenter__(self) -> UsbipServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

