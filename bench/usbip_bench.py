"""USB/IP over loopback TCP: bulk echo round trips through usbemu's client and server, and
the same workload through the PyPI `usbip` package, interleaved in one run.

An echo is two URBs, each a USB/IP round trip (CMD_SUBMIT answered by RET_SUBMIT): OUT n
bytes, then IN n bytes.  Beside usbemu's synchronous echo stands its floor: the same
messages (48-byte headers, n bytes of data) bounced between two processes over TCP on the
same event loop with nothing else done, one at a time.

usbemu: `usbemu export zero` in another process (gadget zero, loopback configuration) and
a real-time machine here that imports it through its vhci controller and drives it with
usb_bulk_msg: OUT n bytes, then IN n bytes, checked.  The PyPI package: its device API
serving a bulk echo device in another process, its host API (`usbip.open`) here doing the
same OUT and IN.  Each figure is the median of three runs, min and max beside it.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from functools import partial

from figures import Figure, interleave, machine, render

from usbemu.bridges.usbip.client import attach, detach
from usbemu.core.message import usb_bulk_msg, usb_set_configuration
from usbemu.core.urb import Urb, usb_kill_urb, usb_submit_urb
from usbemu.core.usb import UsbDevice
from usbemu.kernel.vtime import new_event_loop, real_time_loop_kind
from usbemu.linux import usb_rcvbulkpipe, usb_sndbulkpipe
from usbemu.system import System

SIZES = (64, 4096, 65536)

#: The PyPI package's device side: a vendor interface that echoes bulk OUT on bulk IN.
PYPI_DEVICE = textwrap.dedent("""
    import sys, threading, time, usbip
    class Echo(usbip.Interface):
        bInterfaceClass = 0xFF
        bulk_out = usbip.Out(0x01, "bulk", mps=512)
        bulk_in = usbip.In(0x81, "bulk", mps=512)
    dev = usbip.USBDevice(0x1209, 0x0004, product="Echo")
    dev.set_speed(usbip.SPEED_HIGH)
    fn = dev.add(Echo())
    dev.plug(via=usbip.USBIP("127.0.0.1", int(sys.argv[1])))
    print("listening", flush=True)
    while True:
        data = fn.bulk_out.read(timeout=1.0)
        if data:
            fn.bulk_in.write(data)
""")


#: The floor's server: each message is a 48-byte header whose first two words say how many
#: bytes follow it and how many to answer after a 48-byte header; it answers at once.
FLOOR_SERVER = textwrap.dedent("""
    import asyncio, socket
    from usbemu.kernel.vtime import new_event_loop
    class Bounce(asyncio.Protocol):
        def connection_made(self, transport):
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                          socket.TCP_NODELAY, 1)
            self.transport, self.pending = transport, bytearray()
        def data_received(self, data):
            self.pending += data
            while len(self.pending) >= 48:
                sent, answer = (int.from_bytes(self.pending[i:i + 4], "big") for i in (0, 4))
                if len(self.pending) < 48 + sent:
                    break
                del self.pending[:48 + sent]
                self.transport.write(bytes(48 + answer))
    loop = new_event_loop(False)
    server = loop.run_until_complete(loop.create_server(Bounce, "127.0.0.1", 0))
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    loop.run_forever()
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(args: list[str], ready: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=os.environ | {"PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    for line in proc.stdout:
        if ready in line:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep it drained
            return proc, line
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError(f"{args[:4]} did not start")


class UsbemuPeer:
    """usbemu export in another process, imported by a real-time machine here."""

    def __init__(self) -> None:
        self.proc, line = _spawn([sys.executable, "-m", "usbemu", "export", "zero", "--port",
                                  "0"], "listening on")
        found = re.search(r":(\d+)", line)
        assert found is not None
        self.system = System(virtual=False)
        self.system.boot()
        self.system.run(self._attach(int(found.group(1))))

    async def _attach(self, port: int) -> None:
        self.port = await attach(self.system, "127.0.0.1", "1-1", port)
        for _ in range(400):
            udev = next((d for d in self.system.usb_devices() if d.descriptor is not None
                         and d.descriptor.idProduct == 0xA4A0 and d.actconfig is not None),
                        None)
            if udev is not None:
                break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError(f"the imported device did not come:\n{self.system.dmesg()}")
        if await usb_set_configuration(udev, 2):  # loopback
            raise RuntimeError("SET_CONFIGURATION 2 failed")
        self.udev: UsbDevice = udev

    def echo(self, size: int, seconds: float) -> float:
        udev = self.udev
        out_pipe, in_pipe = usb_sndbulkpipe(udev, 0x02), usb_rcvbulkpipe(udev, 0x81)
        data, buf = os.urandom(size), bytearray(size)

        async def run() -> float:
            count, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                rc, _ = await usb_bulk_msg(udev, out_pipe, data, size, 5000)
                rc2, got = await usb_bulk_msg(udev, in_pipe, buf, size, 5000)
                if rc or rc2 or buf[:got] != data:
                    raise RuntimeError(f"usbemu echo failed: {rc} {rc2} {got}")
                count += 1
            return count / elapsed

        return self.system.run(run())

    def pipelined(self, size: int, seconds: float, window: int = 16) -> float:
        """Echo round trips per second with `window` OUT and `window` IN URBs in flight:
        each completion submits the next URB of its direction until the time is up; the
        IN data must come back in the order it went out."""
        udev = self.udev
        out_pipe, in_pipe = usb_sndbulkpipe(udev, 0x02), usb_rcvbulkpipe(udev, 0x81)
        payloads = [os.urandom(size) for _ in range(window)]
        done = asyncio.Event()
        count = {"out": 0, "in": 0}
        errors: list[str] = []
        deadline = time.perf_counter() + seconds

        def stop(error: str = "") -> None:
            if error and not done.is_set():
                errors.append(error)
            done.set()

        def out_done(urb: Urb) -> None:
            if done.is_set():
                return
            if urb.status:
                return stop(f"OUT status {urb.status}")
            count["out"] += 1
            urb.transfer_buffer = payloads[(count["out"] + window - 1) % window]
            if time.perf_counter() >= deadline or usb_submit_urb(urb):
                stop()

        def in_done(urb: Urb) -> None:
            if done.is_set():
                return
            expect = payloads[count["in"] % window]
            if urb.status or urb.transfer_buffer[:urb.actual_length] != expect:
                return stop(f"IN status {urb.status}, {urb.actual_length} bytes")
            count["in"] += 1
            if usb_submit_urb(urb):
                stop("IN resubmission failed")

        async def run() -> float:
            urbs = []
            start = time.perf_counter()
            for n in range(window):
                urbs += [Urb().fill_bulk(udev, out_pipe, payloads[n], size, out_done),
                         Urb().fill_bulk(udev, in_pipe, bytearray(size), size, in_done)]
                usb_submit_urb(urbs[-2])
                usb_submit_urb(urbs[-1])
            await done.wait()
            elapsed = time.perf_counter() - start
            for urb in urbs:
                await usb_kill_urb(urb)
            await usb_set_configuration(udev, 2)  # empties the loopback queue
            if errors:
                raise RuntimeError(f"pipelined echo failed: {errors[0]}")
            return count["in"] / elapsed

        return self.system.run(run())

    def close(self) -> None:
        self.system.run(detach(self.system, self.port))
        self.system.close()
        self.proc.terminate()
        self.proc.wait(10)


class FloorPeer:
    """The floor: usbemu's echo as bare messages between two processes on the real-time
    loop (`usbemu.kernel.vtime.real_time_loop_kind`), nothing done with them."""

    def __init__(self) -> None:
        self.proc, line = _spawn([sys.executable, "-c", FLOOR_SERVER], "listening")
        self.port = int(line.split()[1])
        self.loop = new_event_loop(False)

    def echo(self, size: int, seconds: float) -> float:
        out = size.to_bytes(4, "big") + bytes(44) + os.urandom(size)   # OUT, answered 48
        ask = bytes(4) + size.to_bytes(4, "big") + bytes(40)          # IN, answered 48 + n

        async def run() -> float:
            loop = asyncio.get_running_loop()
            waiter: list[asyncio.Future[None]] = []
            want = [0]
            got = bytearray()

            class Client(asyncio.Protocol):
                def data_received(self, data: bytes) -> None:
                    got.extend(data)
                    if len(got) >= want[0]:
                        del got[:want[0]]
                        waiter[0].set_result(None)

            transport, _ = await loop.create_connection(Client, "127.0.0.1", self.port)
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                          socket.TCP_NODELAY, 1)

            async def round_trip(message: bytes, answer: int) -> None:
                waiter[:] = [loop.create_future()]
                want[0] = answer
                transport.write(message)  # type: ignore[attr-defined]
                await waiter[0]

            count, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                await round_trip(out, 48)
                await round_trip(ask, 48 + size)
                count += 1
            transport.close()
            return count / elapsed

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        self.loop.close()
        self.proc.terminate()
        self.proc.wait(10)


class PypiPeer:
    """The PyPI usbip package: its device API in another process, its host API here."""

    def __init__(self) -> None:
        import usbip

        port = _free_port()
        self.proc, _ = _spawn([sys.executable, "-c", PYPI_DEVICE, str(port)], "listening")
        self.handle = usbip.open(busid="1-1", transport=usbip.USBIP("127.0.0.1", port))

    def echo(self, size: int, seconds: float) -> float:
        data = os.urandom(size)
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            self.handle.bulk_out(0x01, data)
            got = b""
            while len(got) < size:
                got += bytes(self.handle.bulk_in(0x81, size - len(got)))
            if got != data:
                raise RuntimeError("usbip package echo failed")
            count += 1
        return count / elapsed

    def close(self) -> None:
        self.handle.close()
        self.proc.terminate()
        self.proc.wait(10)


def figures(seconds: float) -> list[Figure]:
    """Echoes per second (two URB round trips each, MB/s each way in the note): usbemu one
    URB at a time beside its floor and the PyPI package, then usbemu with 16 URBs in flight
    each way."""
    section = (f"USB/IP over loopback TCP, two processes, echoes (OUT then IN: two round "
               f"trips), on {real_time_loop_kind()}")
    peers: dict[str, Callable[[], object]] = {"usbemu": UsbemuPeer, "floor": FloorPeer}
    try:
        import usbip  # noqa: F401
        peers["pypi"] = PypiPeer
    except ImportError:
        print("usbip (PyPI) is not installed: pip install 'usbemu[bench]' to compare")
    live = {name: make() for name, make in peers.items()}
    out: list[Figure] = []

    def each_way(runs: list[float], size: int) -> str:
        median = statistics.median(runs)
        return f"{2 * median:,.0f} URB round trips/s, {median * size / 1e6:,.2f} MB/s each way"

    try:
        for size in SIZES:
            runs = interleave({name: partial(peer.echo, size, seconds)  # type: ignore[attr-defined]
                               for name, peer in live.items()})
            floor = Figure(f"floor: {size}-byte messages bounced, nothing done", runs["floor"],
                           "/s", section=section, note=each_way(runs["floor"], size))
            theirs = (Figure(f"PyPI usbip: {size} bytes, one at a time", runs["pypi"], "/s",
                             section=section, note=each_way(runs["pypi"], size)),
                      ) if "pypi" in runs else ()
            out += [floor, Figure(f"usbemu, {size} bytes, one URB at a time", runs["usbemu"],
                                  "/s", (floor, *theirs), section=section,
                                  note=each_way(runs["usbemu"], size)), *theirs]
            usbemu = live["usbemu"]
            assert isinstance(usbemu, UsbemuPeer)
            piped = [usbemu.pipelined(size, seconds) for _ in range(3)]
            out.append(Figure(f"usbemu, {size} bytes, 16 URBs in flight each way", piped, "/s",
                              section=section, note=each_way(piped, size)))
    finally:
        for peer in live.values():
            peer.close()  # type: ignore[attr-defined]
    return out


if __name__ == "__main__":
    print(render(machine(), figures(0.5 if "--quick" in sys.argv else 1.0)))
