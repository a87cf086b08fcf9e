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
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Final

from ...core.usbcore import UsbCore
from .protocol import UsbipConnection

__all__ = [
    "SEND_TIMEOUT_S",
    "WRITE_HIGH",
    "WRITE_LOW",
    "UsbipSocket",
    "install_socket",
    "release_socket",
    "sockfd_lookup",
]

#: Seconds a send may wait for a peer that does not read before it fails (SO_SNDTIMEO).
SEND_TIMEOUT_S: Final = 30.0
#: Unsent bytes above which the receiving side stops reading from the peer, and below
#: which it reads again (the transport's write-buffer limits).
WRITE_HIGH: Final = 4 << 20
WRITE_LOW: Final = 1 << 20


@dataclass(eq=False)
class UsbipSocket:
    """An established TCP connection of the USB/IP protocol: its streams, its protocol
    state (`conn`, a server's, past the operation phase once a device is imported) and
    `send_timeout_s`, how long unsent data may stay above `write_high` bytes before a
    send counts as failed."""

    reader: asyncio.StreamReader
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
