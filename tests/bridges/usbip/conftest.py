"""Fixtures of the USB/IP server tests: a machine on real time (its loop does the socket
I/O) with one controller, usb-storage kept away from the pen drive's echo store; `run`,
which bounds every scenario; and `connect`, a minimal USB/IP client made of the codec and
asyncio streams (`Peer`) — a stand-in for `usbip attach` that waits for nothing without a
bound."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from usbemu.bridges.usbip.protocol import (
    CmdSubmit,
    CmdUnlink,
    Direction,
    Event,
    ExportedDevice,
    OpRepImport,
    OpReqImport,
    OpStatus,
    Role,
    UsbipConnection,
)
from usbemu.system import System
from usbemu.testing import blacklist

T = TypeVar("T")

#: Seconds of real time any one wait of a test may take.
WAIT_S = 5.0


class Peer:
    """One client connection: `send` messages, `recv` the server's, `submit` URBs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = UsbipConnection(Role.CLIENT)
        self.devid = 0
        self.seqnum = 0

    @classmethod
    async def connect(cls, port: int) -> Peer:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), WAIT_S)
        return cls(reader, writer)

    def send(self, event: Event) -> None:
        self.writer.write(self.conn.send(event))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def recv(self, timeout: float = WAIT_S) -> Event:
        """The server's next message (ConnectionClosed once it closed)."""
        async def next_event() -> Event:
            while True:
                event = self.conn.next_event()
                if event is not None:
                    return event
                self.conn.receive_data(await self.reader.read(1 << 20))
        return await asyncio.wait_for(next_event(), timeout)

    async def request(self, event: Event) -> Event:
        self.send(event)
        return await self.recv()

    async def eof(self, timeout: float = WAIT_S) -> bool:
        """Whether the server closes the connection within `timeout` (data before the
        end is read and dropped)."""
        async def drain() -> None:
            while await self.reader.read(1 << 20):
                pass
        try:
            await asyncio.wait_for(drain(), timeout)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return True

    async def import_device(self, busid: str) -> ExportedDevice:
        reply = await self.request(OpReqImport(busid))
        assert isinstance(reply, OpRepImport) and reply.status == OpStatus.OK, reply
        assert reply.device is not None
        self.devid = reply.device.devid
        return reply.device

    def submit(self, ep: int, direction: Direction, length: int, *, data: bytes = b"",
               setup: bytes = bytes(8), flags: int = 0, packets: int = 0,
               iso: tuple[Any, ...] = (), interval: int = 0) -> int:
        """Send a CMD_SUBMIT; returns its seqnum."""
        self.seqnum += 1
        if direction == Direction.IN:
            flags |= 0x0200
        self.send(CmdSubmit(self.seqnum, self.devid, direction, ep, flags, length,
                            number_of_packets=packets, interval=interval, setup=setup,
                            data=data, iso=iso))
        return self.seqnum

    def unlink(self, target: int) -> int:
        """Send a CMD_UNLINK of seqnum `target`; returns its own seqnum."""
        self.seqnum += 1
        self.send(CmdUnlink(self.seqnum, self.devid, 0, 0, target))
        return self.seqnum

    def close(self) -> None:
        self.writer.close()


Connect = Callable[[int], Awaitable[Peer]]
Run = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture
def machine() -> Iterator[System]:
    """A machine on real time with one controller (bus 1); usb-storage and uas are not
    autoloaded (the pen drive is an echo store here)."""
    system = System(virtual=False)
    try:
        system.boot()
        blacklist(system, "usb_storage", "uas")
        system.add_controller()
        yield system
    finally:
        system.close()


@pytest.fixture
def run(machine: System) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a scenario on the machine, failing it after 20 s of real time."""
    def run_bounded(coro: Coroutine[Any, Any, Any]) -> Any:
        return machine.run(asyncio.wait_for(coro, 20.0))
    return run_bounded


@pytest.fixture
def connect() -> Connect:
    """A new client connection to 127.0.0.1:PORT."""
    return Peer.connect
