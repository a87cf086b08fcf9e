"""Sockets that user space hands to the kernel — counterpart of sockfd_lookup() and
sockfd_put() of net/socket.c, for the one kind of socket usbemu's kernel takes: an
established USB/IP connection.

usbipd gives an imported device's connection to usbip-host by writing the socket's file
descriptor to the device's `usbip_sockfd` file; the kernel finds the socket by that number
in the writing process's file table.  Here the server enters its connection, a
`UsbipSocket`, in the machine's table under the real descriptor of the TCP socket
(`install_socket`), writes that number, and forgets the entry again (`release_socket`, the
server closing its copy of the descriptor); `sockfd_lookup` is the stub's side.  A
`UsbipSocket` bundles the asyncio streams with the connection's protocol state, which the
server has already used for the operation phase, and the send timeout (SO_SNDTIMEO) and
buffer limits the kernel side keeps to.  It does no I/O itself.

In the operation phase both ends read with `await reader.read()`.  The URB phase is the
kernel's receive thread (stub_rx, vhci_rx): there a `UsbipReader` hands every arrival to a
sink, straight from the transport's callback (`set_sink`), so a command is submitted, or an
answer given back, in the same pass of the loop its bytes arrived in; the sink's owner
pauses and resumes reading itself.  `open_usbip_connection` and `start_usbip_server` are
asyncio's `open_connection` and `start_server` with such a reader.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from ...core.usbcore import UsbCore
from .protocol import UsbipConnection

__all__ = [
    "SEND_TIMEOUT_S",
    "WRITE_HIGH",
    "WRITE_LOW",
    "UsbipReader",
    "UsbipSocket",
    "install_socket",
    "open_usbip_connection",
    "release_socket",
    "sockfd_lookup",
    "start_usbip_server",
]

#: Seconds a send may wait for a peer that does not read before it fails (SO_SNDTIMEO).
SEND_TIMEOUT_S: Final = 30.0
#: Unsent bytes above which the receiving side stops reading from the peer, and below
#: which it reads again (the transport's write-buffer limits).
WRITE_HIGH: Final = 4 << 20
WRITE_LOW: Final = 1 << 20


#: What a sink is told: the bytes that arrived, and how the stream ended (None: the peer
#: closed its end; an exception: the connection broke).
DataSink = Callable[[bytes], None]
EndSink = Callable[[BaseException | None], None]


class UsbipReader(asyncio.StreamReader):
    """A StreamReader that, once given a sink, hands every arrival to it at once instead
    of buffering it for `read()`."""

    _data_sink: DataSink | None = None
    _end_sink: EndSink | None = None

    def set_sink(self, data: DataSink | None, end: EndSink | None = None) -> None:
        """Hand arrivals to `data` and the end of the stream to `end` from now on (bytes
        already buffered first, an end already seen at once); None goes back to
        buffering.  Context: atomic."""
        self._data_sink, self._end_sink = data, end
        if data is None:
            return
        buffered: bytearray = self._buffer  # type: ignore[attr-defined]  # asyncio's own
        if buffered:
            chunk = bytes(buffered)
            buffered.clear()
            self._maybe_resume_transport()  # type: ignore[attr-defined]
            data(chunk)
        ended = self.at_eof() or self.exception() is not None
        if self._data_sink is data and end is not None and ended:
            end(self.exception())

    def feed_data(self, data: bytes) -> None:  # type: ignore[override]
        sink = self._data_sink
        if sink is None:
            super().feed_data(data)
        else:
            sink(data)

    def feed_eof(self) -> None:
        super().feed_eof()
        if self._end_sink is not None:
            self._end_sink(None)

    def set_exception(self, exc: Exception) -> None:
        super().set_exception(exc)
        if self._end_sink is not None:
            self._end_sink(exc)


async def open_usbip_connection(host: str, port: int, *, limit: int = 1 << 16
                                ) -> tuple[UsbipReader, asyncio.StreamWriter]:
    """asyncio.open_connection() with a `UsbipReader`.  Raises OSError as it does.
    Context: may sleep."""
    loop = asyncio.get_running_loop()
    reader = UsbipReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def start_usbip_server(
        accept: Callable[[UsbipReader, asyncio.StreamWriter], Awaitable[None]],
        host: str, port: int, *, limit: int) -> asyncio.Server:
    """asyncio.start_server() with a `UsbipReader` per connection (reuse_address on).
    Raises OSError as it does.  Context: may sleep."""
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = UsbipReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, accept, loop=loop)  # type: ignore[arg-type]

    return await loop.create_server(factory, host, port, reuse_address=True)


@dataclass(eq=False)
class UsbipSocket:
    """An established TCP connection of the USB/IP protocol: its streams, its protocol
    state (`conn`, a server's, past the operation phase once a device is imported) and
    `send_timeout_s`, how long unsent data may stay above `write_high` bytes before a
    send counts as failed."""

    reader: UsbipReader
    writer: asyncio.StreamWriter
    conn: UsbipConnection
    send_timeout_s: float = SEND_TIMEOUT_S
    write_high: int = WRITE_HIGH
    write_low: int = WRITE_LOW
    peer: str = field(default="")

    def __post_init__(self) -> None:
        transport = self.writer.transport
        if isinstance(transport, asyncio.WriteTransport):
            transport.set_write_buffer_limits(high=self.write_high, low=self.write_low)
        if not self.peer:
            name = self.writer.get_extra_info("peername")
            self.peer = f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name)
        #: Whether the connection is gone (connection_lost has run): the transport then
        #: holds no loop, and an abort of it would fail.
        self.gone = False
        asyncio.ensure_future(self.writer.wait_closed()).add_done_callback(self._lost)

    def _lost(self, done: asyncio.Future[None]) -> None:
        self.gone = True
        if not done.cancelled():
            done.exception()  # a reset is an ordinary end here

    def fileno(self) -> int:
        """The descriptor of the TCP socket, -1 once it is closed.  Context: atomic."""
        sock = self.writer.get_extra_info("socket")
        return -1 if sock is None else int(sock.fileno())

    def unsent(self) -> int:
        """Bytes written and not yet taken by the peer's TCP stack.  Context: atomic."""
        return self.writer.transport.get_write_buffer_size()

    def pause_reading(self) -> None:
        """Stop taking bytes from the peer (its sends back up).  Context: atomic."""
        if not self.writer.transport.is_closing():
            self.writer.transport.pause_reading()  # type: ignore[attr-defined]

    def resume_reading(self) -> None:
        """Take bytes from the peer again.  Context: atomic."""
        if not self.writer.transport.is_closing():
            self.writer.transport.resume_reading()  # type: ignore[attr-defined]

    def closing(self) -> bool:
        """Whether the connection is closed or being closed.  Context: atomic."""
        return self.writer.transport.is_closing()

    def close(self) -> None:
        """kernel_sock_shutdown(SHUT_RDWR): what is buffered still goes out, then the
        connection closes; a peer that does not take it within `send_timeout_s` gets the
        connection reset.  Context: atomic."""
        transport = self.writer.transport
        if transport.is_closing():
            return
        transport.close()
        asyncio.get_running_loop().call_later(self.send_timeout_s, self.abort)

    def abort(self) -> None:
        """Drop the connection at once, unsent data with it (nothing to do once it is
        gone).  Context: atomic."""
        if not self.gone:
            self.writer.transport.abort()


#: The sockets user space has made known to each machine's kernel, by descriptor.
_TABLES: weakref.WeakKeyDictionary[UsbCore, dict[int, UsbipSocket]] = \
    weakref.WeakKeyDictionary()


def install_socket(usb: UsbCore, sock: UsbipSocket) -> int:
    """Enter `sock` in the machine's table under its descriptor; returns the descriptor.
    Raises ValueError for a socket that is already closed.  Context: atomic."""
    fd = sock.fileno()
    if fd < 0:
        raise ValueError(f"the connection from {sock.peer} is closed: it has no descriptor")
    _TABLES.setdefault(usb, {})[fd] = sock
    return fd


def release_socket(usb: UsbCore, fd: int) -> None:
    """Forget descriptor `fd` (user space closed its copy; the kernel keeps the socket it
    looked up).  Context: atomic."""
    _TABLES.get(usb, {}).pop(fd, None)


def sockfd_lookup(usb: UsbCore, fd: int) -> UsbipSocket | None:
    """sockfd_lookup(): the connection user space knows as descriptor `fd` on this machine,
    or None (the caller fails with -EINVAL, as usbip_sockfd_store does).
    Context: atomic."""
    return _TABLES.get(usb, {}).get(fd)
