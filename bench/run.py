"""usbemu benchmarks: print figures for the paths users feel (DESIGN.md §8).

    make bench            # or: .venv/bin/python bench/run.py [--quick]

Each figure is wall-clock time on this machine for work done on virtual time (the pty
figure: on real time, with a program in another process).  Nothing here is asserted; the
README quotes the output.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable

from usbemu.bridges.pty import PtyBridge
from usbemu.bridges.pty import unavailable_reason as pty_unavailable
from usbemu.core.message import usb_bulk_msg
from usbemu.core.urb import PIPE_BULK, Urb, make_pipe, usb_submit_urb
from usbemu.core.usb import UsbDevice
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.serial import SerialConverter
from usbemu.emulated.models.zero import GadgetZero
from usbemu.kernel.termios import TCSANOW, cfmakeraw, tcgetattr, tcsetattr
from usbemu.spec.ch9 import SetupPacket
from usbemu.system import System


def _rate(label: str, count: int, seconds: float, unit: str = "/s") -> None:
    print(f"{label:58} {count / seconds:14,.0f} {unit}")


def _timed(func: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    count = func()
    return count, time.perf_counter() - start


def bench_loop_baseline(n: int) -> None:
    """What the event loop alone costs (DESIGN.md §8's first figure): two awaits of a bare
    future per round trip, no USB work — the yardstick for the echo figure below."""
    async def run() -> int:
        loop = asyncio.get_running_loop()
        for _ in range(n):
            for _ in range(2):
                fut = loop.create_future()
                loop.call_soon(fut.set_result, None)
                await fut
        return n

    count, secs = _timed(lambda: asyncio.run(run()))
    _rate("asyncio alone: two-await round trips (no USB work)", count, secs)


def bench_model_echo(n: int) -> None:
    """Device side only: 64-byte loopback through gadget zero's endpoints."""
    zero = GadgetZero(loopdefault=True)
    zero.connect(None, None)
    zero.bus_reset()
    zero.control(SetupPacket(0x00, 0x05, 2))
    zero.control(SetupPacket(0x00, 0x09, zero.descriptors.configurations[0]
                             .bConfigurationValue or 1))
    out_ep = next(ep for ep in zero.endpoints() if not ep.is_in)
    in_ep = next(ep for ep in zero.endpoints() if ep.is_in)
    payload, buf = memoryview(bytes(64)), memoryview(bytearray(512))

    def run() -> int:
        for _ in range(n):
            out_ep.push_out(payload)
            in_ep.pull_in(buf)
        return n

    count, secs = _timed(run)
    _rate("device model: 64-byte loopback (OUT + IN)", count, secs)


def _loopback_system() -> tuple[System, UsbDevice, int, int]:
    system = System()
    system.boot()
    system.add_controller()
    system.plug(GadgetZero(loopdefault=True), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None and udev.actconfig is not None
    eps = [h.desc for i in udev.interfaces() for h in i.cur_altsetting.endpoint
           if h.desc.type == 2]
    out_addr = next(e.bEndpointAddress for e in eps if not e.is_in)
    in_addr = next(e.bEndpointAddress for e in eps if e.is_in)
    return system, udev, out_addr, in_addr


def bench_sync_echo(n: int) -> None:
    """Full stack: usb_bulk_msg OUT 64 bytes then IN, gadget zero loopback."""
    system, udev, out_addr, in_addr = _loopback_system()
    out_pipe = make_pipe(udev, PIPE_BULK, out_addr & 0xF, False)
    in_pipe = make_pipe(udev, PIPE_BULK, in_addr & 0xF, True)
    data, buf = bytes(64), bytearray(512)

    async def run() -> int:
        for _ in range(n):
            rc, _ = await usb_bulk_msg(udev, out_pipe, data, 64, 5000)
            rc2, got = await usb_bulk_msg(udev, in_pipe, buf, 512, 5000)
            if rc or rc2 or got != 64:
                raise RuntimeError(f"echo failed: {rc} {rc2} {got}")
        return n

    count, secs = _timed(lambda: system.run(run()))
    _rate("usb_bulk_msg: 64-byte echo round trips (OUT + IN)", count, secs)
    system.close()


def bench_concurrent_streams(streams: int, n: int) -> None:
    """Full stack: `streams` tasks doing 64-byte echo round trips at once, one gadget zero
    each on its own root or hub port; the figure is the total round trips per second."""
    system = System()
    system.boot()
    system.add_controller()
    system.plug(Hub(ports=7), "1-1")
    system.plug(Hub(ports=7), "1-2")
    system.plug(Hub(ports=7), "1-3")
    system.settle()
    paths = [f"1-{hub}.{port}" for hub in (1, 2, 3) for port in range(1, 8)][:streams]
    for path in paths:
        system.plug(GadgetZero(loopdefault=True), path)
    system.settle()
    pipes = []
    for path in paths:
        udev = system.find_device(path)
        assert udev is not None
        eps = [h.desc for i in udev.interfaces() for h in i.cur_altsetting.endpoint
               if h.desc.type == 2]
        out_addr = next(e.bEndpointAddress for e in eps if not e.is_in)
        in_addr = next(e.bEndpointAddress for e in eps if e.is_in)
        pipes.append((udev, make_pipe(udev, PIPE_BULK, out_addr & 0xF, False),
                      make_pipe(udev, PIPE_BULK, in_addr & 0xF, True)))

    async def stream(udev: UsbDevice, out_pipe: int, in_pipe: int) -> int:
        data, buf = bytes(64), bytearray(512)
        for _ in range(n):
            rc, _ = await usb_bulk_msg(udev, out_pipe, data, 64, 5000)
            rc2, got = await usb_bulk_msg(udev, in_pipe, buf, 512, 5000)
            if rc or rc2 or got != 64:
                raise RuntimeError(f"echo failed: {rc} {rc2} {got}")
        return n

    async def run() -> int:
        counts = await asyncio.gather(*(stream(*p) for p in pipes))
        return sum(counts)

    count, secs = _timed(lambda: system.run(run()))
    _rate(f"usb_bulk_msg: {streams} concurrent echo streams, total", count, secs)
    system.close()


def bench_throughput(n: int, size: int = 65536) -> None:
    """Full stack: usb_bulk_msg with 64 KiB buffers, OUT then IN (loopback)."""
    system, udev, out_addr, in_addr = _loopback_system()
    out_pipe = make_pipe(udev, PIPE_BULK, out_addr & 0xF, False)
    in_pipe = make_pipe(udev, PIPE_BULK, in_addr & 0xF, True)
    data, buf = bytes(size), bytearray(size)

    async def run() -> int:
        moved = 0
        for _ in range(n):
            rc, wrote = await usb_bulk_msg(udev, out_pipe, data, size, 5000)
            rc2, got = await usb_bulk_msg(udev, in_pipe, buf, size, 5000)
            if rc or rc2:
                raise RuntimeError(f"transfer failed: {rc} {rc2}")
            moved += wrote + got
        return moved

    moved, secs = _timed(lambda: system.run(run()))
    print(f"{'usb_bulk_msg: 64 KiB transfers, OUT + IN':58} "
          f"{moved / secs / 1e9:14.2f} GB/s")
    system.close()


def _serial_system(virtual: bool) -> System:
    """A machine with the generic converter (loopback) on ttyUSB0."""
    system = System(virtual=virtual)
    system.boot()
    system.add_controller()
    system.modprobe("usbserial", vendor=0xFFFF, product=0xFFF8)
    system.plug(SerialConverter(loopback=True), "1-1")
    system.settle()
    return system


def bench_serial_tty(size: int) -> None:
    """The tty layer in process: `size` bytes written to /dev/ttyUSB0 (raw) and read back
    at the same time, through n_tty, the generic usb-serial driver's 64-byte URBs and the
    converter's loopback."""
    system = _serial_system(virtual=True)
    chunk = bytes(range(256)) * 16

    async def run() -> int:
        tty = await system.aopen("/dev/ttyUSB0", "rb+")
        settings = await tcgetattr(tty)
        cfmakeraw(settings)
        await tcsetattr(tty, TCSANOW, settings)

        async def write() -> None:
            left = size
            while left > 0:
                left -= await tty.write(chunk[:min(left, len(chunk))])

        async def read() -> int:
            got, buf = 0, bytearray(65536)
            while got < size:
                got += await tty.readinto(buf)
            return got

        _, got = await asyncio.gather(write(), read())
        await tty.close()
        return got

    got, secs = _timed(lambda: system.run(run()))
    print(f"{f'serial: {size >> 20} MiB each way through /dev/ttyUSB0 (tty layer)':58} "
          f"{got / secs / 1e6:14.2f} MB/s")
    system.close()


_PTY_CLIENT = """
import os, sys, threading, time, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
size = int(sys.argv[2])
data = bytes(range(256)) * (size // 256 + 1)
got = 0
def read():
    global got
    while got < size:
        got += len(os.read(fd, 65536))
reader = threading.Thread(target=read)
start = time.perf_counter()
reader.start()
sent = 0
while sent < size:
    sent += os.write(fd, data[sent:size])
reader.join()
print(time.perf_counter() - start)
"""


def bench_serial_pty(size: int) -> None:
    """The pty bridge: a program in another process writes `size` bytes to the pty of
    ttyUSB0 and reads them back (both raw), on real time — the figure programs such as
    pyserial see."""
    system = _serial_system(virtual=False)

    async def run() -> float:
        bridge = await PtyBridge.open(system, "ttyUSB0")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _PTY_CLIENT, bridge.slave_path, str(size),
            stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        await bridge.close()
        return float(out)

    secs = system.run(run())
    print(f"{f'serial: {size >> 20} MiB each way through a host pty (pty bridge)':58} "
          f"{size / secs / 1e6:14.2f} MB/s")
    system.close()


def bench_enumeration(hubs: int) -> None:
    """Plug `hubs` 7-port hubs each with 6 devices behind it, time enumeration."""
    system = System()
    system.boot()
    system.add_controller()

    def run() -> int:
        for h in range(1, hubs + 1):
            system.plug(Hub(ports=7), f"1-{h}")
        system.settle()
        for h in range(1, hubs + 1):
            for port in range(1, 7):
                system.plug(GadgetZero(), f"1-{h}.{port}")
        system.settle()
        return len(system.usb_devices()) - 1

    count, secs = _timed(run)
    _rate(f"enumeration: {count} devices (hubs + devices), configured", count, secs)
    print(f"{'   machine time for it (virtual)':58} {system.time():14.3f} s")
    system.close()


def _saturate(kind: str, seconds: float, size: int) -> tuple[int, float, float]:
    """Gadget zero's bulk sink kept busy with four `size`-byte URBs in flight on a `kind`
    controller until a saturated high-speed bus would have moved `seconds` worth; (bytes,
    machine seconds, wall seconds)."""
    system = System()
    system.boot()
    system.add_controller(kind)
    system.plug(GadgetZero(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    pipe = make_pipe(udev, PIPE_BULK, 2, False)
    budget = int(seconds * 53_248_000) // size

    async def run() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        start, done, urbs = loop.time(), asyncio.Event(), [0]

        def again(urb: Urb) -> None:
            urbs[0] += 1
            if urbs[0] + 4 <= budget:
                usb_submit_urb(urb)
            elif urbs[0] == budget:
                done.set()

        for _ in range(4):
            usb_submit_urb(Urb().fill_bulk(udev, pipe, bytes(size), size, again))
        await done.wait()
        return urbs[0] * size, loop.time() - start

    wall = time.perf_counter()
    moved, machine = system.run(run())
    wall = time.perf_counter() - wall
    system.close()
    return moved, machine, wall


def bench_ehci_saturated(seconds: float, size: int = 65536) -> None:
    """The EHCI model's cost: gadget zero's bulk sink kept saturated on an `ehci`
    controller for `seconds` of machine time; prints the machine seconds per wall second,
    the bus rate the model gave (53.248 MB/s is the USB 2.0 maximum) and, beside it, the
    same stream on the in-process controller."""
    moved, machine, wall = _saturate("ehci", seconds, size)
    print(f"{'ehci model: saturated high-speed bulk, machine s per wall s':58} "
          f"{machine / wall:14,.1f} x")
    print(f"{'ehci model: its bus rate on machine time':58} {moved / machine / 1e6:14,.3f} MB/s")
    print(f"{'ehci: the same stream, wall-clock rate':58} {moved / wall / 1e6:14,.1f} MB/s")
    moved, _, wall = _saturate("inproc", seconds, size)
    print(f"{'inproc: the same stream, wall-clock rate':58} {moved / wall / 1e6:14,.1f} MB/s")


def _storage_rates(kind: str, size: int) -> tuple[float, float, float, float]:
    """Sequential write then read of `size` bytes in 1 MiB requests through /dev/sda's block
    layer, sd, usb-storage and a memory-backed storage model on a `kind` controller:
    (write MB/s, read MB/s) of wall time, then of machine time."""
    from usbemu.emulated.models.storage import MassStorage

    system = System()
    system.boot()
    system.add_controller(kind)
    system.modules.install("usb_storage", "usbemu.drivers.usb.storage.usb")
    system.plug(MassStorage(size=size + (1 << 20)), "1-1")
    system.settle()
    data = bytes(range(256)) * (size // 256)
    chunk = 1 << 20

    async def write() -> float:
        start = asyncio.get_running_loop().time()
        for at in range(0, size, chunk):
            await system.block.write("sda", at // 512, data[at:at + chunk])
        return asyncio.get_running_loop().time() - start

    async def read() -> float:
        start = asyncio.get_running_loop().time()
        for at in range(0, size, chunk):
            if await system.block.read("sda", at // 512, chunk // 512) != data[at:at + chunk]:
                raise RuntimeError("the disk gave back other data")
        return asyncio.get_running_loop().time() - start

    wall = time.perf_counter()
    machine_w = system.run(write())
    wall_w, wall = time.perf_counter() - wall, time.perf_counter()
    machine_r = system.run(read())
    wall_r = time.perf_counter() - wall
    system.close()
    mb = size / 1e6
    return mb / wall_w, mb / wall_r, mb / max(machine_w, 1e-9), mb / max(machine_r, 1e-9)


def bench_storage(size: int) -> None:
    """Sequential MB/s through usb-storage, on the in-process controller (wall time) and on
    the EHCI model (machine time, which the USB 2.0 bus bounds, and wall time)."""
    w, r, _, _ = _storage_rates("inproc", size)
    print(f"{'storage: sequential write / read through usb-storage (inproc)':58} "
          f"{w:7,.0f} / {r:,.0f} MB/s")
    w, r, mw, mr = _storage_rates("ehci", size)
    print(f"{'storage: the same on the ehci model, machine time':58} "
          f"{mw:7,.1f} / {mr:,.1f} MB/s")
    print(f"{'storage: the same on the ehci model, wall time':58} {w:7,.0f} / {r:,.0f} MB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    scale = 1 if args.quick else 5
    print(f"{'benchmark':58} {'figure':>14}")
    bench_loop_baseline(20000 * scale)
    bench_model_echo(20000 * scale)
    bench_sync_echo(4000 * scale)
    bench_concurrent_streams(16, 250 * scale)
    bench_throughput(400 * scale)
    bench_enumeration(6)
    bench_ehci_saturated(2.0 if args.quick else 10.0)
    bench_storage((8 if args.quick else 32) << 20)
    bench_serial_tty((1 if args.quick else 4) << 20)
    if pty_unavailable() is None:
        bench_serial_pty((1 if args.quick else 4) << 20)
    from usbip_bench import bench_usbip  # bench/ is the script's directory

    bench_usbip(0.5 if args.quick else 1.0)
    from pyusb_bench import bench_pyusb

    bench_pyusb(0.5 if args.quick else 1.0)


if __name__ == "__main__":
    main()
