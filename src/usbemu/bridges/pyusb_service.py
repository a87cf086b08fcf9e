"""The machine side of the pyusb backend — counterpart of libusb's libusb/os/linux_usbfs.c,
the user-space library code that drives usbfs on Linux.

`PyusbService` is what a libusb-style library does on a Linux host, done from inside the
machine: it enumerates /sys/bus/usb/devices (busnum, devnum, devpath, speed and the
`descriptors` file, as libusb's sysfs scan does), opens /dev/bus/usb/BBB/DDD read-write and
turns each backend call into the USBDEVFS_* ioctl libusb uses: synchronous CONTROL and
BULK (interrupt endpoints too, as usbfs allows), a SUBMITURB / poll / REAPURBNDELAY cycle
for isochronous transfers (DISCARDURB when the timeout runs out), GETDRIVER and the
USBDEVFS_IOCTL DISCONNECT / CONNECT pair for the kernel-driver calls.  Every call is a
coroutine on the machine's loop with plain values in and out (ints, str, bytes), so the
same object serves an in-process backend and a socket (`serve_pyusb`, the thin adapter
at the end of this module, speaking `pyusb_rpc` frames).  Failures raise OSError with
Linux's errno; the pyusb-side mapping to USBError is the backend's.  It does not model
libusb's hotplug callbacks, bulk streams or its splitting of large transfers into 16 KiB
URBs (usbfs here takes a transfer whole).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ..core import devio as d
from ..kernel.syscalls import AsyncFile
from ..kernel.wait import Poll
from .pyusb_rpc import Decoder, ProtocolError, Value, encode

if TYPE_CHECKING:
    from ..system import System

__all__ = ["DeviceInfo", "PyusbServer", "PyusbService", "check_call", "serve_pyusb"]

SYSFS_USB: Final = "/sys/bus/usb/devices"


@dataclass(frozen=True)
class DeviceInfo:
    """What enumeration tells of one device: its sysfs name ("1-1.2", "usb1"), bus and
    device numbers, devpath ("1.2"; "0" for a root hub), speed as sysfs writes it
    ("480") and the `descriptors` file (device descriptor, then each raw configuration)."""

    name: str
    busnum: int
    devnum: int
    devpath: str
    speed: str
    descriptors: bytes

    def to_wire(self) -> list[Value]:
        """The fields as one list, in declaration order.  Context: atomic."""
        return [self.name, self.busnum, self.devnum, self.devpath, self.speed,
                self.descriptors]

    @classmethod
    def from_wire(cls, value: Value) -> DeviceInfo:
        """The inverse of `to_wire`.  Raises ProtocolError for a malformed list."""
        if not isinstance(value, list) or len(value) != 6:
            raise ProtocolError("device info is a list of 6 values")
        name, busnum, devnum, devpath, speed, descriptors = value
        if not (isinstance(name, str) and isinstance(busnum, int) and isinstance(devnum, int)
                and isinstance(devpath, str) and isinstance(speed, str)
                and isinstance(descriptors, bytes)):
            raise ProtocolError(f"device info has fields of the wrong types: {value!r:.200}")
        return cls(name, busnum, devnum, devpath, speed, descriptors)


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@dataclass
class _Handle:
    """One open of a device's usbfs node."""

    name: str
    file: AsyncFile


@dataclass
class PyusbService:
    """The backend's calls on one machine.  Handles are small ints naming an open usbfs
    file.  Context: every coroutine runs on the machine's loop and may sleep."""

    system: System
    _handles: dict[int, _Handle] = field(default_factory=dict)
    _next: int = 1

    # -- enumeration -------------------------------------------------------------------------

    def _attr(self, name: str, attr: str) -> str:
        return self.system.vfs.read_text(f"{SYSFS_USB}/{name}/{attr}").strip()

    def _info(self, name: str) -> DeviceInfo:
        if "/" in name or name in ("", ".", "..") or ":" in name:
            raise _oserror(errno.ENODEV)   # not a device's sysfs name
        try:
            return DeviceInfo(name, int(self._attr(name, "busnum")),
                              int(self._attr(name, "devnum")), self._attr(name, "devpath"),
                              self._attr(name, "speed"),
                              self.system.vfs.read(f"{SYSFS_USB}/{name}/descriptors"))
        except (OSError, ValueError):
            raise _oserror(errno.ENODEV) from None

    async def enumerate(self) -> list[DeviceInfo]:
        """Every USB device of the machine (root hubs included, interfaces not), sorted by
        bus and device number.  Context: may sleep."""
        found = []
        for name in self.system.vfs.listdir(SYSFS_USB):
            if ":" in name:
                continue
            with contextlib.suppress(OSError):
                found.append(self._info(name))
        return sorted(found, key=lambda i: (i.busnum, i.devnum))

    async def device(self, name: str) -> DeviceInfo:
        """The device named `name`.  Raises OSError(ENODEV) when there is none.  Context:
        may sleep."""
        return self._info(name)

    # -- handles -----------------------------------------------------------------------------

    async def open(self, name: str) -> int:
        """Open `name`'s /dev/bus/usb/BBB/DDD read-write; returns the handle.  Raises
        OSError (ENODEV for a device that is gone).  Context: may sleep."""
        info = self._info(name)
        afile = await self.system.aopen(f"/dev/bus/usb/{info.busnum:03d}/{info.devnum:03d}",
                                        "rb+")
        handle = self._next
        self._next += 1
        self._handles[handle] = _Handle(name, afile)
        return handle

    def _file(self, handle: int) -> AsyncFile:
        entry = self._handles.get(handle)
        if entry is None:
            raise _oserror(errno.EBADF)
        return entry.file

    async def close(self, handle: int) -> None:
        """Close a handle (its claims are released and its URBs killed, as close(2) of a
        usbfs file does).  Raises OSError(EBADF) for an unknown handle.  Context: may
        sleep."""
        entry = self._handles.pop(handle, None)
        if entry is None:
            raise _oserror(errno.EBADF)
        await entry.file.close()

    async def close_all(self, handles: set[int] | None = None) -> None:
        """Close `handles` (every handle when None), ignoring unknown ones.  Context: may
        sleep."""
        for handle in list(self._handles if handles is None else handles):
            with contextlib.suppress(OSError):
                await self.close(handle)

    # -- configuration, interfaces, kernel drivers -------------------------------------------

    async def get_configuration(self, handle: int) -> int:
        """bConfigurationValue of the active configuration, 0 when unconfigured (read from
        sysfs, as libusb does).  Context: may sleep."""
        entry = self._handles.get(handle)
        if entry is None:
            raise _oserror(errno.EBADF)
        try:
            text = self._attr(entry.name, "bConfigurationValue")
        except OSError:
            raise _oserror(errno.ENODEV) from None
        return int(text) if text else 0

    async def ioctl(self, handle: int, request: str, arg: int) -> int:
        """One of the simple ioctls by name — "setconfiguration", "claim", "release",
        "clear_halt", "reset", "disconnect", "connect" — with its int argument; returns
        the ioctl's result.  Raises ValueError for another name, OSError for its errno.
        Context: may sleep."""
        build = _SIMPLE.get(request)
        if build is None:
            raise ValueError(f"unknown ioctl {request!r}; one of {', '.join(_SIMPLE)}")
        cmd, value = build(arg)
        return await self._file(handle).ioctl(cmd, value)

    async def set_interface(self, handle: int, interface: int, altsetting: int) -> None:
        """USBDEVFS_SETINTERFACE.  Context: may sleep."""
        await self._file(handle).ioctl(d.USBDEVFS_SETINTERFACE,
                                       d.SetInterface(interface, altsetting))

    async def getdriver(self, handle: int, interface: int) -> str:
        """The name of the driver bound to `interface`; raises OSError(ENODATA) when none
        is.  Context: may sleep."""
        gd = d.GetDriver(interface)
        await self._file(handle).ioctl(d.USBDEVFS_GETDRIVER, gd)
        return gd.driver

    # -- transfers ---------------------------------------------------------------------------

    async def control(self, handle: int, request_type: int, request: int, value: int,
                      index: int, data: bytes | int, timeout: int) -> bytes | int:
        """USBDEVFS_CONTROL.  For an IN request `data` is the length wanted and the bytes
        read are returned; for OUT it is the data and the count sent is returned.
        Context: may sleep."""
        if request_type & 0x80:
            size = int(data) if isinstance(data, int) else len(data)
            buf = bytearray(size)
            n = await self._file(handle).ioctl(d.USBDEVFS_CONTROL, d.CtrlTransfer(
                request_type, request, value, index, size, timeout, buf))
            return bytes(buf[:n])
        out = b"" if isinstance(data, int) else data
        return await self._file(handle).ioctl(d.USBDEVFS_CONTROL, d.CtrlTransfer(
            request_type, request, value, index, len(out), timeout, out))

    async def bulk(self, handle: int, endpoint: int, data: bytes | int,
                   timeout: int) -> bytes | int:
        """USBDEVFS_BULK on a bulk or interrupt endpoint: for IN `data` is the length
        wanted and the bytes read are returned; for OUT the count sent.  Context: may
        sleep."""
        afile = self._file(handle)
        if endpoint & 0x80:
            size = int(data) if isinstance(data, int) else len(data)
            buf = bytearray(size)
            n = await afile.ioctl(d.USBDEVFS_BULK, d.BulkTransfer(endpoint, size, timeout, buf))
            return bytes(buf) if n == size else bytes(buf[:n])
        out = b"" if isinstance(data, int) else data
        return await afile.ioctl(d.USBDEVFS_BULK, d.BulkTransfer(endpoint, len(out), timeout,
                                                                 out))

    def _iso_packet_size(self, handle: int, endpoint: int, interface: int) -> int:
        entry = self._handles.get(handle)
        if entry is None:
            raise _oserror(errno.EBADF)
        config = self._attr(entry.name, "bConfigurationValue")
        path = f"{entry.name}:{config}.{interface}/ep_{endpoint:02x}"
        try:
            maxp = int(self._attr(path, "wMaxPacketSize"), 16)
        except (OSError, ValueError):
            raise _oserror(errno.ENOENT) from None
        return (maxp & 0x7FF) * (1 + ((maxp >> 11) & 3))

    async def iso(self, handle: int, endpoint: int, interface: int, data: bytes | int,
                  timeout: int) -> bytes | int:
        """One isochronous URB (ISO_ASAP) of wMaxPacketSize packets: for IN `data` is the
        length wanted and the packets' bytes are returned back to back; for OUT the count
        sent.  Raises OSError(ETIMEDOUT) when it does not complete within `timeout` ms (0:
        no limit; the URB is discarded), or the URB's status as an errno.  Context: may
        sleep."""
        afile = self._file(handle)
        psize = self._iso_packet_size(handle, endpoint, interface)
        is_in = bool(endpoint & 0x80)
        buffer: bytes | bytearray
        if is_in:
            buffer = bytearray(data if isinstance(data, int) else len(data))
        else:
            buffer = data if isinstance(data, bytes) else b""
        length = len(buffer)
        if psize == 0 or length == 0:
            raise _oserror(errno.EINVAL)
        sizes = [min(psize, length - off) for off in range(0, length, psize)]
        urb = d.UsbdevfsUrb(d.UrbType.ISO, endpoint, flags=d.UsbdevfsUrbFlag.ISO_ASAP,
                            buffer=buffer, buffer_length=length, number_of_packets=len(sizes),
                            iso_frame_desc=[d.IsoPacketDesc(n) for n in sizes])
        await afile.ioctl(d.USBDEVFS_SUBMITURB, urb)
        await self._reap(afile, urb, timeout)
        if urb.status < 0:
            raise _oserror(-urb.status)
        if not is_in:
            return sum(p.actual_length for p in urb.iso_frame_desc)
        view = memoryview(buffer)
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        return b"".join(bytes(view[off:off + p.actual_length])
                        for off, p in zip(offsets, urb.iso_frame_desc, strict=True))

    @staticmethod
    async def _reap(afile: AsyncFile, urb: d.UsbdevfsUrb, timeout: int) -> None:
        ref = d.UrbRef()
        mask = await afile.poll(Poll.OUT, timeout if timeout > 0 else None)
        if not mask & Poll.OUT:
            await afile.ioctl(d.USBDEVFS_DISCARDURB, urb)
            await afile.ioctl(d.USBDEVFS_REAPURB, ref)
            raise _oserror(errno.ETIMEDOUT)
        await afile.ioctl(d.USBDEVFS_REAPURBNDELAY, ref)

    # -- the RPC face ------------------------------------------------------------------------

    async def dispatch(self, method: str, args: list[Value]) -> Value:
        """Run the call named `method` with `args` (of the types `check_call` accepts);
        returns its result as a wire value.  Raises ProtocolError for an unknown method,
        OSError for the call's errno.  Context: may sleep."""
        call = _METHODS.get(method)
        if call is None:
            raise ProtocolError(f"unknown method {method!r}")
        return await call(self, *args)


def _uint(cmd: int) -> Callable[[int], tuple[int, Any]]:
    return lambda arg: (cmd, arg)


def _usbfs_ioctl(code: int) -> Callable[[int], tuple[int, Any]]:
    return lambda arg: (d.USBDEVFS_IOCTL, d.UsbdevfsIoctl(arg, code))


_SIMPLE: Final[dict[str, Callable[[int], tuple[int, Any]]]] = {
    "setconfiguration": _uint(d.USBDEVFS_SETCONFIGURATION),
    "claim": _uint(d.USBDEVFS_CLAIMINTERFACE),
    "release": _uint(d.USBDEVFS_RELEASEINTERFACE),
    "clear_halt": _uint(d.USBDEVFS_CLEAR_HALT),
    "reset": _uint(d.USBDEVFS_RESET),
    "disconnect": _usbfs_ioctl(d.USBDEVFS_DISCONNECT),
    "connect": _usbfs_ioctl(d.USBDEVFS_CONNECT),
}


def _typed(*types: type | tuple[type, ...]) -> Callable[[list[Value]], None]:
    def check(args: list[Value]) -> None:
        if len(args) != len(types) or not all(
                isinstance(a, t) and not isinstance(a, bool) for a, t in zip(args, types,
                                                                             strict=True)):
            raise ProtocolError(f"arguments {args!r:.200} do not match {types!r}")
    return check


async def _wire_enumerate(service: PyusbService) -> Value:
    return [info.to_wire() for info in await service.enumerate()]


async def _wire_device(service: PyusbService, name: str) -> Value:
    return (await service.device(name)).to_wire()


async def _wire_none(result: Awaitable[None]) -> Value:
    await result
    return None


_METHODS: Final[dict[str, Callable[..., Awaitable[Value]]]] = {
    "enumerate": _wire_enumerate,
    "device": _wire_device,
    "open": PyusbService.open,
    "close": lambda s, h: _wire_none(s.close(h)),
    "get_configuration": PyusbService.get_configuration,
    "ioctl": PyusbService.ioctl,
    "set_interface": lambda s, h, i, a: _wire_none(s.set_interface(h, i, a)),
    "getdriver": PyusbService.getdriver,
    "control": PyusbService.control,
    "bulk": PyusbService.bulk,
    "iso": PyusbService.iso,
}

_SIGNATURES: Final[dict[str, Callable[[list[Value]], None]]] = {
    "enumerate": _typed(),
    "device": _typed(str),
    "open": _typed(str),
    "close": _typed(int),
    "get_configuration": _typed(int),
    "ioctl": _typed(int, str, int),
    "set_interface": _typed(int, int, int),
    "getdriver": _typed(int, int),
    "control": _typed(int, int, int, int, int, (bytes, int), int),
    "bulk": _typed(int, int, (bytes, int), int),
    "iso": _typed(int, int, int, (bytes, int), int),
}


# -- the socket adapter ----------------------------------------------------------------------


@dataclass
class PyusbServer:
    """A listening pyusb socket of a machine (`serve_pyusb`)."""

    path: str
    server: asyncio.AbstractServer
    service: PyusbService
    #: The connected clients, each with the task serving it.
    clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = field(default_factory=dict)

    async def close(self) -> None:
        """Stop listening, hang up on the clients (each one's calls end as when it goes
        away), remove the socket file and close every handle the clients left open.
        Context: may sleep."""
        self.server.close()
        for writer in list(self.clients):
            writer.close()
        await asyncio.gather(*self.clients.values(), return_exceptions=True)
        await self.server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        await self.service.close_all()


def check_call(message: list[Value]) -> tuple[str, list[Value]]:
    """A call off the wire as (method, args), its arguments of the method's types.
    Raises ProtocolError otherwise.  Context: atomic."""
    if not message or not isinstance(message[0], str):
        raise ProtocolError("a call starts with its method name")
    method, args = message[0], message[1:]
    check = _SIGNATURES.get(method)
    if check is None:
        raise ProtocolError(f"unknown method {method!r}")
    check(args)
    return method, args


async def _answer(service: PyusbService, message: list[Value], opened: set[int]) -> bytes:
    method, args = check_call(message)
    try:
        result = await service.dispatch(method, args)
    except OSError as exc:
        return encode(["err", exc.errno or errno.EIO, exc.strerror or str(exc)])
    except ValueError as exc:
        return encode(["err", errno.EINVAL, str(exc)])
    if method == "open" and isinstance(result, int):
        opened.add(result)
    elif method == "close" and isinstance(args[0], int):
        opened.discard(args[0])
    return encode(["ok", result])


async def _serve_client(service: PyusbService, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
    decoder = Decoder()
    opened: set[int] = set()
    try:
        while data := await reader.read(1 << 16):
            for message in decoder.feed(data):
                writer.write(await _answer(service, message, opened))
            await writer.drain()
    except (ProtocolError, ConnectionError) as exc:
        with contextlib.suppress(ConnectionError):
            writer.write(encode(["err", errno.EPROTO, str(exc)]))
    finally:
        await service.close_all(opened)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _remove_stale_socket(path: str) -> None:
    """Remove a socket file nobody listens on; raise OSError(EADDRINUSE) for one a
    server still answers on.  Anything else at `path` is left for bind() to refuse."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)
            return
    raise OSError(errno.EADDRINUSE, f"{os.strerror(errno.EADDRINUSE)} (a server answers "
                                    "there)", path)


async def serve_pyusb(system: System, path: str) -> PyusbServer:
    """Listen on the Unix socket `path` (replacing a stale socket file there) for
    `UsbemuBackend.connect(path)` clients; each connection's calls run in order on the
    machine, and its handles are closed when it goes away.  Returns the server; close it
    with `PyusbServer.close()`.  Raises OSError when the socket cannot be made (EADDRINUSE
    while another server answers on `path`).  Context:
    on the machine's loop; may sleep."""
    _remove_stale_socket(path)
    service = PyusbService(system)
    clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        clients[writer] = task
        try:
            await _serve_client(service, reader, writer)
        finally:
            del clients[writer]

    server = await asyncio.start_unix_server(accept, path)
    return PyusbServer(path, server, service, clients)
