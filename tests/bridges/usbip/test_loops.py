"""USB/IP on either loop a real-time machine can run on (usbemu.kernel.vtime: asyncio's, or
uvloop's when installed): a device exported by the machine and imported back into it
carries bulk data both ways, URBs one at a time and many in flight."""

from __future__ import annotations

import asyncio
import importlib.util
import os

import pytest

from usbemu.bridges.usbip.client import attach, detach
from usbemu.bridges.usbip.server import UsbipServer
from usbemu.core.message import usb_bulk_msg, usb_set_configuration
from usbemu.core.urb import Urb, usb_submit_urb
from usbemu.emulated.models.zero import GadgetZero
from usbemu.kernel.vtime import LOOP_ENV
from usbemu.linux import usb_rcvbulkpipe, usb_sndbulkpipe
from usbemu.system import System

pytestmark = pytest.mark.usefixtures("hang_guard")

LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(
    importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed"))]


async def echo_through_usbip(system: System) -> tuple[list[bytes], list[bytes]]:
    server = await UsbipServer.start(system, ["1-1"], port=0)
    try:
        vport = await attach(system, "127.0.0.1", "1-1", server.port)
        async with asyncio.timeout(10):
            while (udev := system.find_device("2-1")) is None or udev.actconfig is None:
                await asyncio.sleep(0.01)
        assert await usb_set_configuration(udev, 2) == 0        # loopback
        out_pipe, in_pipe = usb_sndbulkpipe(udev, 0x02), usb_rcvbulkpipe(udev, 0x81)
        sent = [os.urandom(4096) for _ in range(8)]
        got = []
        for data in sent[:4]:                                   # one at a time
            assert (await usb_bulk_msg(udev, out_pipe, data, len(data), 5000))[0] == 0
            buf = bytearray(4096)
            rc, n = await usb_bulk_msg(udev, in_pipe, buf, len(buf), 5000)
            assert rc == 0
            got.append(bytes(buf[:n]))
        done: asyncio.Queue[Urb] = asyncio.Queue()
        urbs = [Urb().fill_bulk(udev, out_pipe, data, len(data), done.put_nowait)
                for data in sent[4:]]
        urbs += [Urb().fill_bulk(udev, in_pipe, bytearray(4096), 4096, done.put_nowait)
                 for _ in sent[4:]]
        for urb in urbs:                                        # all in flight at once
            assert usb_submit_urb(urb) == 0
        for _ in urbs:
            assert (await done.get()).status == 0
        got += [bytes(urb.transfer_buffer[:urb.actual_length]) for urb in urbs[4:]]
        await detach(system, vport)
        return sent, got
    finally:
        await server.close()


@pytest.mark.parametrize("kind", LOOPS)
def test_usbip_round_trips_on_each_real_time_loop(kind: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOP_ENV, kind)
    with System(virtual=False) as system:
        assert type(system.loop).__module__.split(".")[0] == kind
        system.add_controller()
        system.plug(GadgetZero(), "1-1")
        system.settle()
        sent, got = system.run(echo_through_usbip(system))
    assert got == sent


def test_the_loop_variable_names_what_it_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOP_ENV, "tokio")
    with pytest.raises(ValueError, match="USBEMU_LOOP='tokio': use 'uvloop' or 'asyncio'"):
        System(virtual=False)


def test_virtual_time_keeps_its_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOP_ENV, "uvloop")
    with System() as system:
        assert type(system.loop).__name__ == "VirtualTimeLoop"
