"""A pyusb backend for emulated machines — counterpart of pyusb's usb/backend/libusb1.py on
top of libusb's libusb/os/linux_usbfs.c, with usbfs (core/devio.py) underneath.

`UsbemuBackend` is a `usb.backend.IBackend` whose every call becomes what libusb does on
Linux: enumeration from sysfs, descriptors parsed from each device's `descriptors` file
(libusb's rules: a descriptor that is neither interface nor endpoint goes to the
`extra_descriptors` of the configuration, interface or endpoint before it), and the
USBDEVFS_* ioctls on /dev/bus/usb/BBB/DDD for the rest (`bridges.pyusb_service`).  Errors
reach the program exactly as libusb1.py raises them: a usbfs errno becomes libusb's error
code as linux_usbfs.c maps it for that call, then `USBError(libusb's message, code,
errno)`, or `USBTimeoutError` for LIBUSB_ERROR_TIMEOUT.

Where the machine is.  `UsbemuBackend(system)` talks to a machine of the same process.  A
call runs on the machine's loop.  While nothing runs that loop, the program's thread drives
the machine for the duration of the call, on the machine's clock (virtual time stays
virtual): the call's first step inline, as the loop would run it — a transfer the device
answers at once never enters the loop — and the rest, if it sleeps, by `System.run`.  While
another thread runs the loop, the call goes through `System.call`
(`run_coroutine_threadsafe`).  A call from a coroutine on the machine's own loop is a
RuntimeError (it would wait for the loop it blocks), and so is a call from a second
thread while a first one runs the machine for its own call (a program that calls from
several threads at once runs the loop in a thread of its own, `loop.run_forever()`).

`UsbemuBackend.connect(path)` talks to a machine of another process that serves the Unix
socket `path` (`serve_pyusb`, ``usbemu serve --pyusb PATH``), one call at a time per
backend.  `get_backend()` gives a backend for ``USBEMU_PYUSB``'s socket, as pyusb's own
backends expose `get_backend`.

Not supported: pyusb's `get_parent` of a device that went away (None), libusb's async and
hotplug APIs (pyusb does not use them), and isochronous data laid out per packet: an
isochronous read returns the packets' bytes back to back.
"""

from __future__ import annotations

import array
import asyncio
import contextvars
import errno
import functools
import os
import socket
import struct
import threading
import types
from collections.abc import Coroutine, Generator, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol, TypeVar

import usb.backend
import usb.core

from ..core.usbcore import set_current_usbcore
from .pyusb_rpc import Decoder, ProtocolError, Value, encode
from .pyusb_service import DeviceInfo, PyusbService

if TYPE_CHECKING:
    from ..system import System

__all__ = ["ENV_VAR", "TransportLost", "UsbemuBackend", "get_backend", "libusb_error"]

T = TypeVar("T")

#: The environment variable naming the socket of the machine `get_backend()` talks to.
ENV_VAR: Final = "USBEMU_PYUSB"

# -- libusb's error codes and how linux_usbfs.c reaches them -------------------------------------

LIBUSB_ERROR_IO: Final = -1
LIBUSB_ERROR_INVALID_PARAM: Final = -2
LIBUSB_ERROR_ACCESS: Final = -3
LIBUSB_ERROR_NO_DEVICE: Final = -4
LIBUSB_ERROR_NOT_FOUND: Final = -5
LIBUSB_ERROR_BUSY: Final = -6
LIBUSB_ERROR_TIMEOUT: Final = -7
LIBUSB_ERROR_OVERFLOW: Final = -8
LIBUSB_ERROR_PIPE: Final = -9
LIBUSB_ERROR_INTERRUPTED: Final = -10
LIBUSB_ERROR_NO_MEM: Final = -11
LIBUSB_ERROR_NOT_SUPPORTED: Final = -12
LIBUSB_ERROR_OTHER: Final = -99

#: libusb_strerror() (English), the message of every USBError.
_STRERROR: Final = {
    LIBUSB_ERROR_IO: "Input/output error",
    LIBUSB_ERROR_INVALID_PARAM: "Invalid parameter",
    LIBUSB_ERROR_ACCESS: "Access denied (insufficient permissions)",
    LIBUSB_ERROR_NO_DEVICE: "No such device (it may have been disconnected)",
    LIBUSB_ERROR_NOT_FOUND: "Entity not found",
    LIBUSB_ERROR_BUSY: "Resource busy",
    LIBUSB_ERROR_TIMEOUT: "Operation timed out",
    LIBUSB_ERROR_OVERFLOW: "Overflow",
    LIBUSB_ERROR_PIPE: "Pipe error",
    LIBUSB_ERROR_INTERRUPTED: "System call interrupted (perhaps due to signal)",
    LIBUSB_ERROR_NO_MEM: "Insufficient memory",
    LIBUSB_ERROR_NOT_SUPPORTED: "Operation not supported or unimplemented on this platform",
    LIBUSB_ERROR_OTHER: "Unknown error",
}

#: The errno pyusb's libusb1 backend attaches to each code (_libusb_errno).
_CODE_ERRNO: Final[dict[int, int | None]] = {
    LIBUSB_ERROR_IO: errno.EIO,
    LIBUSB_ERROR_INVALID_PARAM: errno.EINVAL,
    LIBUSB_ERROR_ACCESS: errno.EACCES,
    LIBUSB_ERROR_NO_DEVICE: errno.ENODEV,
    LIBUSB_ERROR_NOT_FOUND: errno.ENOENT,
    LIBUSB_ERROR_BUSY: errno.EBUSY,
    LIBUSB_ERROR_TIMEOUT: errno.ETIMEDOUT,
    LIBUSB_ERROR_OVERFLOW: errno.EOVERFLOW,
    LIBUSB_ERROR_PIPE: errno.EPIPE,
    LIBUSB_ERROR_INTERRUPTED: errno.EINTR,
    LIBUSB_ERROR_NO_MEM: errno.ENOMEM,
    LIBUSB_ERROR_NOT_SUPPORTED: errno.ENOSYS,
    LIBUSB_ERROR_OTHER: None,
}

_NO_DEVICE: Final = {errno.ENODEV: LIBUSB_ERROR_NO_DEVICE}
#: A transfer's errno as libusb reports it: a submission that fails is NO_DEVICE, NO_MEM
#: or IO (submit_bulk_transfer), a completed URB's status a transfer status
#: (handle_bulk_completion: -EPIPE a stall, -EOVERFLOW an overflow, -ENODEV and
#: -ESHUTDOWN a device gone, -EPROTO, -EILSEQ … an error), and the timeout TIMEOUT.
_TRANSFER: Final = {errno.ENODEV: LIBUSB_ERROR_NO_DEVICE, errno.ESHUTDOWN: LIBUSB_ERROR_NO_DEVICE,
                    errno.ENOMEM: LIBUSB_ERROR_NO_MEM, errno.EPIPE: LIBUSB_ERROR_PIPE,
                    errno.EOVERFLOW: LIBUSB_ERROR_OVERFLOW, errno.ETIMEDOUT: LIBUSB_ERROR_TIMEOUT}

#: Per call, usbfs errno → libusb code as linux_usbfs.c maps it, and the code of any other
#: errno (LIBUSB_ERROR_OTHER for the ioctls, LIBUSB_ERROR_IO for transfers).
_LIBUSB_ERRORS: Final[dict[str, tuple[dict[int, int], int]]] = {
    "enumerate": (_NO_DEVICE, LIBUSB_ERROR_OTHER),
    "device": (_NO_DEVICE, LIBUSB_ERROR_OTHER),
    "open": ({errno.EACCES: LIBUSB_ERROR_ACCESS, errno.ENOENT: LIBUSB_ERROR_NO_DEVICE,
              errno.ENODEV: LIBUSB_ERROR_NO_DEVICE}, LIBUSB_ERROR_IO),
    "close": (_NO_DEVICE, LIBUSB_ERROR_OTHER),
    "get_configuration": (_NO_DEVICE, LIBUSB_ERROR_OTHER),
    "setconfiguration": ({errno.EINVAL: LIBUSB_ERROR_NOT_FOUND, errno.EBUSY: LIBUSB_ERROR_BUSY,
                          errno.ENODEV: LIBUSB_ERROR_NO_DEVICE}, LIBUSB_ERROR_OTHER),
    "claim": ({errno.ENOENT: LIBUSB_ERROR_NOT_FOUND, errno.EBUSY: LIBUSB_ERROR_BUSY,
               errno.ENODEV: LIBUSB_ERROR_NO_DEVICE}, LIBUSB_ERROR_OTHER),
    "release": (_NO_DEVICE, LIBUSB_ERROR_OTHER),
    "set_interface": ({errno.EINVAL: LIBUSB_ERROR_NOT_FOUND,
                       errno.ENODEV: LIBUSB_ERROR_NO_DEVICE}, LIBUSB_ERROR_OTHER),
    "clear_halt": ({errno.ENOENT: LIBUSB_ERROR_NOT_FOUND,
                    errno.ENODEV: LIBUSB_ERROR_NO_DEVICE}, LIBUSB_ERROR_OTHER),
    "reset": ({errno.ENODEV: LIBUSB_ERROR_NOT_FOUND}, LIBUSB_ERROR_OTHER),
    "getdriver": ({errno.ENODATA: LIBUSB_ERROR_NOT_FOUND,
                   errno.ENODEV: LIBUSB_ERROR_NO_DEVICE}, LIBUSB_ERROR_OTHER),
    "disconnect": ({errno.ENODATA: LIBUSB_ERROR_NOT_FOUND, errno.EINVAL:
                    LIBUSB_ERROR_INVALID_PARAM, errno.ENODEV: LIBUSB_ERROR_NO_DEVICE},
                   LIBUSB_ERROR_OTHER),
    "connect": ({errno.ENODATA: LIBUSB_ERROR_NOT_FOUND, errno.EINVAL:
                 LIBUSB_ERROR_INVALID_PARAM, errno.ENODEV: LIBUSB_ERROR_NO_DEVICE,
                 errno.EBUSY: LIBUSB_ERROR_BUSY}, LIBUSB_ERROR_OTHER),
    "control": (_TRANSFER, LIBUSB_ERROR_IO),
    "bulk": (_TRANSFER, LIBUSB_ERROR_IO),
    "iso": ({**_TRANSFER, errno.EINVAL: LIBUSB_ERROR_INVALID_PARAM,
             errno.EMSGSIZE: LIBUSB_ERROR_INVALID_PARAM}, LIBUSB_ERROR_IO),
}

#: sysfs `speed` → enum libusb_speed (pyusb's usb.util.SPEED_*).
_SPEEDS: Final = {"1.5": 1, "12": 2, "480": 3, "5000": 4, "10000": 5, "20000": 6}


def libusb_error(code: int) -> usb.core.USBError:
    """The exception pyusb's libusb1 backend raises for libusb error `code`:
    USBTimeoutError for LIBUSB_ERROR_TIMEOUT, USBError otherwise, with
    `backend_error_code` = code and libusb's errno.  Context: atomic."""
    message = _STRERROR.get(code, _STRERROR[LIBUSB_ERROR_OTHER])
    cls = usb.core.USBTimeoutError if code == LIBUSB_ERROR_TIMEOUT else usb.core.USBError
    error: usb.core.USBError = cls(message, code, _CODE_ERRNO.get(code))
    return error


def _raise(call: str, exc: OSError) -> NoReturn:
    table, other = _LIBUSB_ERRORS.get(call, ({}, LIBUSB_ERROR_OTHER))
    raise libusb_error(table.get(exc.errno or 0, other)) from None


# -- descriptors ----------------------------------------------------------------------------------

_DEVICE = struct.Struct("<BBHBBBBHHHBBBB")
_CONFIG = struct.Struct("<BBHBBBBB")
_INTERFACE = struct.Struct("<BBBBBBBBB")
_ENDPOINT = struct.Struct("<BBBBHB")
USB_DT_INTERFACE: Final = 4
USB_DT_ENDPOINT: Final = 5


@dataclass
class DeviceDescriptor:
    """libusb_device_descriptor plus what pyusb asks beside it (bus, address, port number
    and numbers, speed)."""

    bLength: int
    bDescriptorType: int
    bcdUSB: int
    bDeviceClass: int
    bDeviceSubClass: int
    bDeviceProtocol: int
    bMaxPacketSize0: int
    idVendor: int
    idProduct: int
    bcdDevice: int
    iManufacturer: int
    iProduct: int
    iSerialNumber: int
    bNumConfigurations: int
    bus: int | None = None
    address: int | None = None
    port_number: int | None = None
    port_numbers: tuple[int, ...] | None = None
    speed: int | None = None


@dataclass
class EndpointDescriptor:
    """libusb_endpoint_descriptor with its `extra_descriptors`."""

    bLength: int
    bDescriptorType: int
    bEndpointAddress: int
    bmAttributes: int
    wMaxPacketSize: int
    bInterval: int
    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: list[int] = field(default_factory=list)


@dataclass
class InterfaceDescriptor:
    """libusb_interface_descriptor with its endpoints and `extra_descriptors`."""

    bLength: int
    bDescriptorType: int
    bInterfaceNumber: int
    bAlternateSetting: int
    bNumEndpoints: int
    bInterfaceClass: int
    bInterfaceSubClass: int
    bInterfaceProtocol: int
    iInterface: int
    endpoints: list[EndpointDescriptor] = field(default_factory=list)
    extra_descriptors: list[int] = field(default_factory=list)


@dataclass
class ConfigurationDescriptor:
    """libusb_config_descriptor: its interfaces (each a list of altsettings, in the order
    they appear) and `extra_descriptors`."""

    bLength: int
    bDescriptorType: int
    wTotalLength: int
    bNumInterfaces: int
    bConfigurationValue: int
    iConfiguration: int
    bmAttributes: int
    bMaxPower: int
    interfaces: list[list[InterfaceDescriptor]] = field(default_factory=list)
    extra_descriptors: list[int] = field(default_factory=list)


def _chunks(raw: bytes, start: int) -> Iterator[bytes]:
    pos = start
    while pos + 2 <= len(raw):
        length = raw[pos]
        if length < 2 or pos + length > len(raw):
            return
        yield raw[pos:pos + length]
        pos += length


def parse_configuration(raw: bytes) -> ConfigurationDescriptor:
    """A raw configuration descriptor (with everything wTotalLength covers) as libusb
    parses it.  Raises ValueError for fewer than 9 bytes.  Context: atomic."""
    if len(raw) < _CONFIG.size:
        raise ValueError(f"configuration descriptor of {len(raw)} bytes; at least 9 needed")
    config = ConfigurationDescriptor(*_CONFIG.unpack_from(raw))
    by_number: dict[int, list[InterfaceDescriptor]] = {}
    owner: ConfigurationDescriptor | InterfaceDescriptor | EndpointDescriptor = config
    intf: InterfaceDescriptor | None = None
    for chunk in _chunks(raw, max(raw[0], 2)):
        kind = chunk[1]
        if kind == USB_DT_INTERFACE and len(chunk) >= _INTERFACE.size:
            intf = InterfaceDescriptor(*_INTERFACE.unpack_from(chunk))
            by_number.setdefault(intf.bInterfaceNumber, []).append(intf)
            owner = intf
        elif kind == USB_DT_ENDPOINT and len(chunk) >= _ENDPOINT.size and intf is not None:
            fields: Any = _ENDPOINT.unpack_from(chunk)
            endpoint = EndpointDescriptor(*fields)
            if len(chunk) >= 9:
                endpoint.bRefresh, endpoint.bSynchAddress = chunk[7], chunk[8]
            intf.endpoints.append(endpoint)
            owner = endpoint
        else:
            owner.extra_descriptors.extend(chunk)
    config.interfaces = list(by_number.values())
    return config


@dataclass
class DeviceRef:
    """One enumerated device, the `dev` pyusb hands back to the backend."""

    info: DeviceInfo
    descriptor: DeviceDescriptor
    configs: list[ConfigurationDescriptor]

    @classmethod
    def from_info(cls, info: DeviceInfo) -> DeviceRef:
        """Parse `info`'s descriptors.  Raises ValueError for a device descriptor shorter
        than 18 bytes.  Context: atomic."""
        raw = info.descriptors
        if len(raw) < _DEVICE.size:
            raise ValueError(f"{info.name}: device descriptor of {len(raw)} bytes")
        ports = tuple(int(p) for p in info.devpath.split(".")) if info.devpath != "0" else ()
        fields: Any = _DEVICE.unpack_from(raw)
        desc = replace(DeviceDescriptor(*fields), bus=info.busnum, address=info.devnum,
                       port_number=ports[-1] if ports else 0, port_numbers=ports or None,
                       speed=_SPEEDS.get(info.speed, 0))
        configs = []
        pos = _DEVICE.size
        while pos + 4 <= len(raw):
            total = int.from_bytes(raw[pos + 2:pos + 4], "little")
            if total < _CONFIG.size:
                break
            configs.append(parse_configuration(raw[pos:pos + total]))
            pos += total
        return cls(info, desc, configs)

    def __repr__(self) -> str:
        return f"<DeviceRef {self.info.name} {self.info.busnum:03d}/{self.info.devnum:03d}>"


def parent_name(name: str) -> str | None:
    """The sysfs name of the hub `name` hangs off ("1-1.2" → "1-1", "1-1" → "usb1"); None
    for a root hub.  Context: atomic."""
    if name.startswith("usb"):
        return None
    bus, _, path = name.partition("-")
    head, dot, _ = path.rpartition(".")
    return f"{bus}-{head}" if dot else f"usb{bus}"


# -- transports -----------------------------------------------------------------------------------


class Transport(Protocol):
    """How a backend reaches the machine: one call of `PyusbService.dispatch`."""

    def call(self, method: str, *args: Value) -> Value:
        """Run `method`; returns its wire result, raises OSError with its errno."""

    def close(self) -> None:
        """Let go of the machine."""


@types.coroutine
def _resume(coro: Coroutine[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    """Hand the awaitable a coroutine suspended on to the running task, then go on
    with the coroutine where it stopped: what the task sends or throws (a future's
    exception, a cancellation) goes to the coroutine, as `await` would pass it."""
    value = pending
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            step = functools.partial(coro.throw, exc)
        else:
            step = functools.partial(coro.send, sent)
        try:
            value = step()
        except StopIteration as done:
            result: T = done.value
            return result


class LocalTransport:
    """Calls on a machine of this process (see the module docstring for which thread
    runs its loop)."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.service = PyusbService(system)
        self.context = contextvars.copy_context()
        self.context.run(set_current_usbcore, system.usb)
        #: Held while a call of this thread runs the idle machine.
        self.driving = threading.Lock()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self.system.loop
        if asyncio._get_running_loop() is loop:
            coro.close()
            raise RuntimeError("a pyusb call from a coroutine on the machine's own loop "
                               "would block that loop; call it from another thread")
        if not self.driving.acquire(blocking=False):
            coro.close()
            raise RuntimeError("another thread is running the machine for a pyusb call of "
                               "this backend; to call it from several threads at once, run "
                               "the machine's loop in a thread of its own "
                               "(loop.run_forever())")
        try:
            if not loop.is_running():
                return self._drive(coro)
        finally:
            self.driving.release()
        return self.system.call(coro)

    def _drive(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the idle machine: its first step inline, as the machine's loop
        (a transfer the device answers at once never suspends, see usb_bulk_msg), the
        rest, if it suspends, by `System.run`."""
        outer = asyncio._get_running_loop()
        asyncio.events._set_running_loop(self.system.loop)
        try:
            pending = self.context.run(coro.send, None)
        except StopIteration as done:
            result: T = done.value
            return result
        except BaseException:
            coro.close()
            raise
        finally:
            asyncio.events._set_running_loop(outer)
        return self.system.run(_resume(coro, pending))

    def call(self, method: str, *args: Value) -> Value:
        """Run `method` on the machine.  Raises OSError with its errno — ENODEV once the
        machine is shut down, except for closing a handle or releasing an interface,
        which shutdown has done already.  Context: outside the machine's loop; blocks."""
        if self.system.loop.is_closed():
            if method == "close" or args[1:2] == ("release",):
                return None if method == "close" else 0
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        return self._run(self.service.dispatch(method, list(args)))

    def close(self) -> None:
        """Close the handles still open.  Context: outside the machine's loop."""
        if not self.system.loop.is_closed():
            self._run(self.service.close_all())


class TransportLost(Exception):
    """The machine on the other end of a socket went away or answered garbage."""


class SocketTransport:
    """Calls over a Unix socket served by `serve_pyusb`, one at a time."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.decoder = Decoder()
        self.lock = threading.Lock()

    def call(self, method: str, *args: Value) -> Value:
        """Send `method` and wait for its reply.  Raises OSError with the machine's
        errno, or TransportLost when the machine went away or answered garbage.
        Context: blocks."""
        with self.lock:
            try:
                self.sock.sendall(encode([method, *args]))
                reply = self._receive()
            except OSError as exc:
                raise TransportLost(f"{self.path}: {exc}") from exc
        if reply[:1] == ["ok"] and len(reply) == 2:
            return reply[1]
        if len(reply) == 3 and reply[0] == "err" and isinstance(reply[1], int):
            raise OSError(reply[1], str(reply[2]))
        raise TransportLost(f"{self.path}: malformed reply {reply!r:.200}")

    def _receive(self) -> list[Value]:
        while True:
            data = self.sock.recv(1 << 16)
            if not data:
                raise TransportLost(f"{self.path}: the machine closed the connection")
            try:
                messages = self.decoder.feed(data)
            except ProtocolError as exc:
                raise TransportLost(f"{self.path}: {exc}") from None
            if messages:
                return messages[0]

    def close(self) -> None:
        """Close the connection (the machine closes this backend's handles)."""
        self.sock.close()


# -- the backend ----------------------------------------------------------------------------------


@dataclass(eq=False)
class DeviceHandle:
    """What open_device returns."""

    handle: int
    dev: DeviceRef


def _as_bytes(data: Any) -> bytes:
    return data.tobytes() if isinstance(data, array.array) else bytes(data)


def _fill(buff: Any, data: bytes) -> int:
    view = memoryview(buff).cast("B")
    view[:len(data)] = data
    return len(data)


def _index(items: list[T], i: int, what: str) -> T:
    if not 0 <= i < len(items):
        raise IndexError(f"{what} index {i} out of range (0..{len(items) - 1})")
    return items[i]


class UsbemuBackend(usb.backend.IBackend):  # type: ignore[misc]
    """pyusb's IBackend on an emulated machine.  Construct it with the machine of this
    process (`UsbemuBackend(system)`), or `UsbemuBackend.connect(path)` for one served on
    a Unix socket; pass it as ``usb.core.find(backend=...)``.  Each method raises what
    libusb1.py raises (USBError, USBTimeoutError).  Context: outside
    the machine's loop; every call blocks until the machine answers."""

    def __init__(self, system: System | None = None, *,
                 transport: Transport | None = None) -> None:
        if (system is None) == (transport is None):
            raise TypeError("UsbemuBackend takes a System, or transport=; use "
                            "UsbemuBackend.connect(path) for a machine on a socket")
        self.transport: Transport = transport if transport is not None else \
            LocalTransport(system)  # type: ignore[arg-type]

    @classmethod
    def connect(cls, path: str | os.PathLike[str], timeout: float | None = None
                ) -> UsbemuBackend:
        """A backend for the machine serving the Unix socket `path` (`serve_pyusb`,
        ``usbemu serve --pyusb PATH``); `timeout` bounds each socket operation in
        seconds (None: none).  Raises OSError when nothing listens there.  Context:
        blocks."""
        return cls(transport=SocketTransport(os.fspath(path), timeout))

    def close(self) -> None:
        """Close every handle of this backend and let go of the machine."""
        self.transport.close()

    def _call(self, method: str, *args: Value) -> Value:
        try:
            return self.transport.call(method, *args)
        except TransportLost as exc:
            raise libusb_error(LIBUSB_ERROR_NO_DEVICE) from exc
        except OSError as exc:
            _raise(str(args[1]) if method == "ioctl" else method, exc)

    # -- enumeration and descriptors ----------------------------------------------------------

    def enumerate_devices(self) -> list[DeviceRef]:
        """Every device of the machine, root hubs included."""
        found = self._call("enumerate")
        if not isinstance(found, list):
            raise libusb_error(LIBUSB_ERROR_OTHER)
        return [DeviceRef.from_info(DeviceInfo.from_wire(item)) for item in found]

    def get_parent(self, dev: DeviceRef) -> DeviceRef | None:
        """The hub `dev` is plugged into; None for a root hub or a hub that is gone."""
        name = parent_name(dev.info.name)
        if name is None:
            return None
        try:
            return DeviceRef.from_info(DeviceInfo.from_wire(self._call("device", name)))
        except usb.core.USBError:
            return None

    def get_device_descriptor(self, dev: DeviceRef) -> DeviceDescriptor:
        """The device descriptor with bus, address, port number(s) and speed."""
        return dev.descriptor

    def get_configuration_descriptor(self, dev: DeviceRef, config: int
                                     ) -> ConfigurationDescriptor:
        """Configuration number `config` (an index).  Raises IndexError past the last."""
        return _index(dev.configs, config, "configuration")

    def get_interface_descriptor(self, dev: DeviceRef, intf: int, alt: int, config: int
                                 ) -> InterfaceDescriptor:
        """Altsetting index `alt` of interface index `intf`.  Raises IndexError."""
        cfg = self.get_configuration_descriptor(dev, config)
        return _index(_index(cfg.interfaces, intf, "interface"), alt, "altsetting")

    def get_endpoint_descriptor(self, dev: DeviceRef, ep: int, intf: int, alt: int,
                                config: int) -> EndpointDescriptor:
        """Endpoint index `ep` of an altsetting.  Raises IndexError."""
        return _index(self.get_interface_descriptor(dev, intf, alt, config).endpoints, ep,
                      "endpoint")

    # -- handles, configuration, interfaces ----------------------------------------------------

    def open_device(self, dev: DeviceRef) -> DeviceHandle:
        """Open the device's usbfs node."""
        handle = self._call("open", dev.info.name)
        assert isinstance(handle, int)
        return DeviceHandle(handle, dev)

    def close_device(self, dev_handle: DeviceHandle) -> None:
        """Close it: its interfaces are released."""
        self._call("close", dev_handle.handle)

    def _ioctl(self, dev_handle: DeviceHandle, request: str, arg: int = 0) -> int:
        result = self._call("ioctl", dev_handle.handle, request, arg)
        assert isinstance(result, int)
        return result

    def set_configuration(self, dev_handle: DeviceHandle, config_value: int) -> None:
        """USBDEVFS_SETCONFIGURATION (-1 or 0: unconfigured)."""
        self._ioctl(dev_handle, "setconfiguration", max(int(config_value), 0))

    def get_configuration(self, dev_handle: DeviceHandle) -> int:
        """The active bConfigurationValue, 0 when unconfigured."""
        value = self._call("get_configuration", dev_handle.handle)
        assert isinstance(value, int)
        return value

    def set_interface_altsetting(self, dev_handle: DeviceHandle, intf: int,
                                 altsetting: int) -> None:
        """USBDEVFS_SETINTERFACE."""
        self._call("set_interface", dev_handle.handle, int(intf), int(altsetting))

    def claim_interface(self, dev_handle: DeviceHandle, intf: int) -> None:
        """USBDEVFS_CLAIMINTERFACE; LIBUSB_ERROR_BUSY while a kernel driver holds it."""
        self._ioctl(dev_handle, "claim", int(intf))

    def release_interface(self, dev_handle: DeviceHandle, intf: int) -> None:
        """USBDEVFS_RELEASEINTERFACE."""
        self._ioctl(dev_handle, "release", int(intf))

    def is_kernel_driver_active(self, dev_handle: DeviceHandle, intf: int) -> bool:
        """Whether a driver other than usbfs is bound to the interface (GETDRIVER)."""
        try:
            driver = self._call("getdriver", dev_handle.handle, int(intf))
        except usb.core.USBError as exc:
            if exc.backend_error_code == LIBUSB_ERROR_NOT_FOUND:
                return False
            raise
        return driver != "usbfs"

    def detach_kernel_driver(self, dev_handle: DeviceHandle, intf: int) -> None:
        """USBDEVFS_IOCTL(USBDEVFS_DISCONNECT); LIBUSB_ERROR_NOT_FOUND when no kernel
        driver is bound (usbfs itself included, as libusb refuses to detach it)."""
        if self._call("getdriver", dev_handle.handle, int(intf)) == "usbfs":
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)
        self._ioctl(dev_handle, "disconnect", int(intf))

    def attach_kernel_driver(self, dev_handle: DeviceHandle, intf: int) -> None:
        """USBDEVFS_IOCTL(USBDEVFS_CONNECT): let the kernel bind a driver again;
        LIBUSB_ERROR_NOT_FOUND when no driver took the interface."""
        if self._ioctl(dev_handle, "connect", int(intf)) == 0:
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)

    def clear_halt(self, dev_handle: DeviceHandle, ep: int) -> None:
        """USBDEVFS_CLEAR_HALT."""
        self._ioctl(dev_handle, "clear_halt", int(ep))

    def reset_device(self, dev_handle: DeviceHandle) -> None:
        """USBDEVFS_RESET."""
        self._ioctl(dev_handle, "reset")

    # -- transfers ---------------------------------------------------------------------------

    def ctrl_transfer(self, dev_handle: DeviceHandle, bmRequestType: int, bRequest: int,
                      wValue: int, wIndex: int, data: Any, timeout: int) -> int:
        """A control transfer on endpoint 0; returns the bytes moved (an IN request fills
        `data`)."""
        if bmRequestType & 0x80:
            size = len(data) * data.itemsize
            got = self._call("control", dev_handle.handle, bmRequestType, bRequest, wValue,
                             wIndex, size, int(timeout))
            assert isinstance(got, bytes)
            return _fill(data, got)
        sent = self._call("control", dev_handle.handle, bmRequestType, bRequest, wValue,
                          wIndex, _as_bytes(data), int(timeout))
        assert isinstance(sent, int)
        return sent

    def _write(self, dev_handle: DeviceHandle, ep: int, data: Any, timeout: int) -> int:
        sent = self._call("bulk", dev_handle.handle, int(ep), _as_bytes(data), int(timeout))
        assert isinstance(sent, int)
        return sent

    def _read(self, dev_handle: DeviceHandle, ep: int, buff: Any, timeout: int) -> int:
        got = self._call("bulk", dev_handle.handle, int(ep), len(buff) * buff.itemsize,
                         int(timeout))
        assert isinstance(got, bytes)
        return _fill(buff, got)

    def bulk_write(self, dev_handle: DeviceHandle, ep: int, intf: int, data: Any,
                   timeout: int) -> int:
        """USBDEVFS_BULK out; returns the bytes written."""
        return self._write(dev_handle, ep, data, timeout)

    def bulk_read(self, dev_handle: DeviceHandle, ep: int, intf: int, buff: Any,
                  timeout: int) -> int:
        """USBDEVFS_BULK in, into `buff`; returns the bytes read."""
        return self._read(dev_handle, ep, buff, timeout)

    def intr_write(self, dev_handle: DeviceHandle, ep: int, intf: int, data: Any,
                   timeout: int) -> int:
        """An interrupt OUT transfer (USBDEVFS_BULK on an interrupt endpoint)."""
        return self._write(dev_handle, ep, data, timeout)

    def intr_read(self, dev_handle: DeviceHandle, ep: int, intf: int, buff: Any,
                  timeout: int) -> int:
        """An interrupt IN transfer into `buff`."""
        return self._read(dev_handle, ep, buff, timeout)

    def iso_write(self, dev_handle: DeviceHandle, ep: int, intf: int, data: Any,
                  timeout: int) -> int:
        """One isochronous URB of wMaxPacketSize packets; returns the bytes sent."""
        sent = self._call("iso", dev_handle.handle, int(ep), int(intf), _as_bytes(data),
                          int(timeout))
        assert isinstance(sent, int)
        return sent

    def iso_read(self, dev_handle: DeviceHandle, ep: int, intf: int, buff: Any,
                 timeout: int) -> int:
        """One isochronous URB into `buff`, packets back to back; returns the bytes."""
        got = self._call("iso", dev_handle.handle, int(ep), int(intf),
                         len(buff) * buff.itemsize, int(timeout))
        assert isinstance(got, bytes)
        return _fill(buff, got)


def get_backend(path: str | None = None) -> UsbemuBackend | None:
    """A backend for the machine on the socket `path`, or ``$USBEMU_PYUSB`` when None; None
    (as pyusb's backends answer when their library is missing) when neither names a
    socket that answers.  Context: blocks."""
    target = path if path is not None else os.environ.get(ENV_VAR)
    if not target:
        return None
    try:
        return UsbemuBackend.connect(target)
    except OSError:
        return None
