"""Hypothesis against a live usbipd: hostile bytes, before an import and after one — random
bytes, and mutations of well-formed URB traffic — on real sockets.  Each connection
ends (closed by the server with a logged reason, or by the fuzzer) within a bounded time,
the device is free again for the next importer, and a well-behaved client on another
device of the same server keeps its echo working throughout."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usbemu.bridges.usbip.protocol import (
    CmdSubmit,
    Direction,
    OpRepDevlist,
    OpReqDevlist,
    OpReqImport,
    OpStatus,
    RetSubmit,
    encode,
)
from usbemu.bridges.usbip.server import UsbipServer
from usbemu.emulated.models.zero import GadgetZero
from usbemu.spec.ch9 import SetupPacket
from usbemu.system import System

from .conftest import WAIT_S, Connect, Peer, Run

LOOPBACK = bytes(SetupPacket(0x00, 0x09, 2))  # SET_CONFIGURATION 2: gadget zero's loopback


def _valid_traffic(devid: int) -> bytes:
    """Well-formed CMD_SUBMITs a fuzzer can cut and flip."""
    return b"".join((
        encode(CmdSubmit(1, devid, Direction.OUT, 0, 0, 0, setup=LOOPBACK)),
        encode(CmdSubmit(2, devid, Direction.OUT, 2, 0, 8, data=b"fuzzfuzz")),
        encode(CmdSubmit(3, devid, Direction.IN, 1, 0x200, 64)),
    ))


@st.composite
def hostile(draw: st.DrawFn) -> tuple[bool, bytes]:
    """(import first?, bytes to send): random bytes, or valid traffic with flipped bytes,
    a cut, or a length field that lies."""
    imported = draw(st.booleans())
    kind = draw(st.sampled_from(["random", "flip", "cut", "lie"]))
    if kind == "random":
        return imported, draw(st.binary(min_size=1, max_size=300))
    data = bytearray(_valid_traffic(0x10001))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    elif kind == "cut":
        data = data[:draw(st.integers(1, len(data) - 1))]
    else:
        at = draw(st.sampled_from([0x18, 48 + 0x18]))   # a transfer_buffer_length
        data[at:at + 4] = struct.pack(">i", draw(st.sampled_from([-1, 1 << 30, 0x7FFFFFFF,
                                                                   9, 100000])))
    return True, bytes(data)


def test_a_live_server_survives_hostile_peers(machine: System, run: Run,
                                              connect: Connect) -> None:
    for busid in ("1-1", "1-2"):
        machine.plug(GadgetZero(), busid)
    machine.settle()
    server: UsbipServer = run(UsbipServer.start(machine, ["1-1", "1-2"], port=0))
    good: Peer = run(connect(server.port))
    run(good.import_device("1-2"))
    good.submit(0, Direction.OUT, 0, setup=LOOPBACK)
    assert isinstance(run(good.recv()), RetSubmit)
    cases: list[Any] = []

    async def free_again() -> None:
        while machine.vfs.read_text("/sys/bus/usb/devices/1-1/usbip_status") != "1\n":
            await asyncio.sleep(0.01)

    async def one(imported: bool, data: bytes) -> None:
        peer = await connect(server.port)
        if imported:
            await asyncio.wait_for(free_again(), WAIT_S)
            await peer.import_device("1-1")
        peer.send_raw(data)
        closed = await peer.eof(timeout=0.1)   # closed by the server, or
        peer.close()                            # left hanging: we go away
        cases.append(closed)

    async def echo(n: int) -> bytes:
        payload = f"good client {n}".encode()
        good.submit(2, Direction.OUT, len(payload), data=payload)
        assert isinstance(await good.recv(), RetSubmit)
        good.submit(1, Direction.IN, 64)
        reply = await good.recv()
        assert isinstance(reply, RetSubmit) and reply.status == 0
        return bytes(reply.data)

    @settings(max_examples=15, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(hostile())
    def fuzz(case: tuple[bool, bytes]) -> None:
        run(one(*case))
        assert run(echo(len(cases))) == f"good client {len(cases)}".encode()

    try:
        fuzz()
        # usbipd still answers, the fuzzed device is free and works for a proper client
        listing = run(_devlist(connect, server.port))
        assert sorted(d.busid for d in listing.devices) == ["1-1", "1-2"]
        run(asyncio.wait_for(free_again(), WAIT_S))
        last = run(connect(server.port))
        run(last.import_device("1-1"))
        last.submit(0, Direction.OUT, 0, setup=LOOPBACK)
        assert isinstance(run(last.recv()), RetSubmit)
        last.close()
    finally:
        good.close()
        run(server.close())
    assert cases and "Traceback" not in machine.dmesg()


async def _devlist(connect: Connect, port: int) -> OpRepDevlist:
    peer = await connect(port)
    reply = await peer.request(OpReqDevlist())
    assert isinstance(reply, OpRepDevlist) and reply.status == OpStatus.OK
    peer.close()
    return reply


def test_an_import_of_the_device_a_fuzzer_holds_is_busy(machine: System, run: Run,
                                                      connect: Connect) -> None:
    machine.plug(GadgetZero(), "1-1")
    machine.settle()

    async def scenario() -> int:
        async with await UsbipServer.start(machine, ["1-1"], port=0) as server:
            holder = await connect(server.port)
            await holder.import_device("1-1")
            holder.send_raw(b"\x00" * 20)              # half a header: it waits for more
            other = await connect(server.port)
            reply = await other.request(OpReqImport("1-1"))
            holder.close()
            other.close()
            return reply.status  # type: ignore[union-attr]

    assert run(scenario()) == OpStatus.DEV_BUSY
