"""Figures of the layers above the host stack and of the EHCI model: serial through the tty
layer and through a host pty, usb-storage's sequential MB/s, the EHCI model's cost against
the bus it models.
"""

from __future__ import annotations

import asyncio
import sys
import time

from figures import Figure

from usbemu.bridges.pty import PtyBridge
from usbemu.bridges.pty import unavailable_reason as pty_unavailable
from usbemu.core.urb import PIPE_BULK, Urb, make_pipe, usb_submit_urb
from usbemu.emulated.models.serial import SerialConverter
from usbemu.emulated.models.zero import GadgetZero
from usbemu.kernel.termios import TCSANOW, cfmakeraw, tcgetattr, tcsetattr
from usbemu.system import System


def _serial_system(virtual: bool) -> System:
    """A machine with the generic converter (loopback) on ttyUSB0."""
    system = System(virtual=virtual)
    system.boot()
    system.add_controller()
    system.modprobe("usbserial", vendor=0xFFFF, product=0xFFF8)
    system.plug(SerialConverter(loopback=True), "1-1")
    system.settle()
    return system


def serial_tty(size: int) -> float:
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

    start = time.perf_counter()
    got = system.run(run())
    secs = time.perf_counter() - start
    system.close()
    return float(got) / secs / 1e6


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


def serial_pty(size: int) -> float:
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
    system.close()
    return size / secs / 1e6


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


def ehci_saturated(seconds: float, size: int = 65536) -> tuple[float, float, float, float]:
    """The EHCI model's cost: gadget zero's bulk sink kept saturated on an `ehci`
    controller for `seconds` of machine time: (machine seconds per wall second, the bus
    rate the model gave in MB/s — 53.248 is the USB 2.0 maximum —, its wall-clock MB/s, and
    the same stream's wall-clock MB/s on the in-process controller)."""
    moved, machine, wall = _saturate("ehci", seconds, size)
    fast, _, fast_wall = _saturate("inproc", seconds, size)
    return machine / wall, moved / machine / 1e6, moved / wall / 1e6, fast / fast_wall / 1e6


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


def figures(scale: int) -> list[Figure]:
    """Every figure of this module; `scale` 1 is the quick run."""
    out: list[Figure] = []
    section = "serial: bytes each way through a loopback converter on ttyUSB0 (raw)"
    size = (1 if scale == 1 else 4) << 20
    out.append(Figure(f"tty layer: {size >> 20} MiB each way through /dev/ttyUSB0",
                      [serial_tty(size) for _ in range(3)], "MB/s", section=section))
    if pty_unavailable() is None:
        out.append(Figure(f"pty bridge: {size >> 20} MiB each way, a program in another "
                          "process", [serial_pty(size) for _ in range(3)], "MB/s",
                          section=section))
    section = "usb-storage: sequential 1 MiB requests through block, sd, usb-storage"
    size = (8 if scale == 1 else 32) << 20
    inproc = [_storage_rates("inproc", size) for _ in range(3)]
    ehci = [_storage_rates("ehci", size) for _ in range(3)]
    out += [Figure("write, in-process controller", [r[0] for r in inproc], "MB/s",
                   section=section),
            Figure("read, in-process controller", [r[1] for r in inproc], "MB/s",
                   section=section),
            Figure("write, EHCI model, machine time", [r[2] for r in ehci], "MB/s",
                   section=section, note="the bus allows 53.2 MB/s"),
            Figure("read, EHCI model, machine time", [r[3] for r in ehci], "MB/s",
                   section=section)]
    section = "EHCI model: gadget zero's bulk sink saturated, four 64 KiB URBs in flight"
    runs = [ehci_saturated(2.0 if scale == 1 else 10.0) for _ in range(3)]
    out += [Figure("machine seconds per wall second", [r[0] for r in runs], "x",
                   section=section),
            Figure("its bus rate on machine time", [r[1] for r in runs], "MB/s",
                   section=section, note="53.248 MB/s is USB 2.0's maximum"),
            Figure("the same stream, wall-clock rate", [r[2] for r in runs], "MB/s",
                   section=section),
            Figure("in-process controller, the same stream, wall-clock", [r[3] for r in runs],
                   "MB/s", section=section)]
    return out
