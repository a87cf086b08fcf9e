"""The host stack's figures, each beside its yardstick: echo round trips by every path a
driver takes (synchronous, Pythonic, pipelined, the IN URB queued first), bulk MB/s per
direction and URB size, control transfers, enumeration, memory per device, concurrent
streams — and the PyPI `usbip` package doing the same in-process (its Loopback transport:
device and host in one process over a socketpair), measured in turns with usbemu's runs.

Everything runs on virtual time on gadget zero's loopback configuration, on the in-process
controller; the floors run on the same loop.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from figures import Figure, interleave, rate, repeat

from usbemu.core.message import bulk_transfer, usb_bulk_msg, usb_control_msg
from usbemu.core.urb import Urb, usb_submit_urb
from usbemu.core.usb import UsbDevice
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.mouse import BootMouse
from usbemu.emulated.models.zero import GadgetZero
from usbemu.kernel.vtime import VirtualTimeLoop
from usbemu.linux import usb_rcvbulkpipe, usb_rcvctrlpipe, usb_sndbulkpipe
from usbemu.system import System
from usbemu.testing import blacklist

OUT_EP, IN_EP = 0x02, 0x81
SIZES = (64, 4096, 65536)


def _machine(**zero: Any) -> tuple[System, UsbDevice]:
    system = System()
    system.boot()
    system.add_controller("inproc")
    blacklist(system, "usbtest")
    system.plug(GadgetZero(loopdefault=True, **zero), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None and udev.actconfig is not None
    return system, udev


# -- floors: what the loop alone costs for the same shape of work ---------------------------


def _on_loop(work: Callable[[], Any]) -> float:
    loop = VirtualTimeLoop()
    try:
        return float(loop.run_until_complete(work()))
    finally:
        loop.close()


def floor_await(n: int) -> float:
    """Two awaits of a coroutine that returns at once per round trip: the synchronous
    path's floor (a message answered at once never suspends its caller)."""
    async def nothing() -> None:
        return None

    async def run() -> float:
        async def loop() -> int:
            for _ in range(n):
                await nothing()
                await nothing()
            return n
        return await rate_async(loop)
    return _on_loop(run)


async def rate_async(work: Callable[[], Awaitable[int]]) -> float:
    """Units of `work` per wall-clock second, `work` being a coroutine function."""
    start = time.perf_counter()
    done = await work()
    return done / (time.perf_counter() - start)


def floor_future(n: int) -> float:
    """Two futures resolved through the loop (call_soon, await) per round trip: the floor of
    a path that suspends."""
    async def run() -> float:
        async def loop() -> int:
            ev = asyncio.get_running_loop()
            for _ in range(2 * n):
                fut = ev.create_future()
                ev.call_soon(fut.set_result, None)
                await fut
            return n
        return await rate_async(loop)
    return _on_loop(run)


def floor_callbacks(n: int) -> float:
    """Two callbacks through the loop per round trip: the floor of completions that
    resubmit (no task resumes)."""
    async def run() -> float:
        async def chain() -> int:
            ev = asyncio.get_running_loop()
            done = ev.create_future()

            def step(left: int) -> None:
                if left:
                    ev.call_soon(step, left - 1)
                else:
                    done.set_result(None)
            step(2 * n)
            await done
            return n
        return await rate_async(chain)
    return _on_loop(run)


# -- echo round trips -----------------------------------------------------------------------


def echo_sync(system: System, udev: UsbDevice, n: int, size: int = 64) -> float:
    """usb_bulk_msg OUT then IN, checked."""
    out_pipe, in_pipe = usb_sndbulkpipe(udev, OUT_EP), usb_rcvbulkpipe(udev, IN_EP)
    data, buf = os.urandom(size), bytearray(size)

    async def loop() -> int:
        for _ in range(n):
            rc, _ = await usb_bulk_msg(udev, out_pipe, data, size, 5000)
            rc2, got = await usb_bulk_msg(udev, in_pipe, buf, size, 5000)
            if rc or rc2 or got != size:
                raise RuntimeError(f"echo failed: {rc} {rc2} {got}")
        if buf != data:
            raise RuntimeError("echo: the data came back changed")
        return n
    return float(system.run(rate_async(loop)))


def echo_pythonic(system: System, udev: UsbDevice, n: int) -> float:
    """bulk_transfer OUT then IN (the Pythonic calls: exceptions, not status codes)."""
    data, buf = os.urandom(64), bytearray(64)

    async def loop() -> int:
        for _ in range(n):
            await bulk_transfer(udev, OUT_EP, data)
            await bulk_transfer(udev, IN_EP, buf)
        if buf != data:
            raise RuntimeError("echo: the data came back changed")
        return n
    return float(system.run(rate_async(loop)))


def echo_in_first(system: System, udev: UsbDevice, n: int) -> float:
    """The IN URB queued first (it waits for data), then the OUT by usb_bulk_msg, then the
    IN's completion awaited: the path that suspends."""
    out_pipe, in_pipe = usb_sndbulkpipe(udev, OUT_EP), usb_rcvbulkpipe(udev, IN_EP)
    data, buf = os.urandom(64), bytearray(64)

    async def loop() -> int:
        ev = asyncio.get_running_loop()
        waiter: list[asyncio.Future[None]] = []
        urb = Urb().fill_bulk(udev, in_pipe, buf, 64, lambda u: waiter[0].set_result(None))
        for _ in range(n):
            waiter[:] = [ev.create_future()]
            if usb_submit_urb(urb):
                raise RuntimeError("IN submission failed")
            rc, _ = await usb_bulk_msg(udev, out_pipe, data, 64, 5000)
            await waiter[0]
            if rc or urb.status or urb.actual_length != 64:
                raise RuntimeError(f"echo failed: {rc} {urb.status}")
        if buf != data:
            raise RuntimeError("echo: the data came back changed")
        return n
    return float(system.run(rate_async(loop)))


def echo_pipelined(system: System, udev: UsbDevice, n: int, window: int = 16) -> float:
    """`window` OUT and `window` IN URBs in flight; each completion resubmits its URB; the
    IN data is checked against what went out, in order."""
    out_pipe, in_pipe = usb_sndbulkpipe(udev, OUT_EP), usb_rcvbulkpipe(udev, IN_EP)
    payloads = [os.urandom(64) for _ in range(window)]

    async def run() -> int:
        ev = asyncio.get_running_loop()
        done = ev.create_future()
        count = {"out": 0, "in": 0}

        def out_done(urb: Urb) -> None:
            count["out"] += 1
            if urb.status:
                done.set_exception(RuntimeError(f"OUT status {urb.status}"))
            elif count["out"] + window <= n:
                urb.transfer_buffer = payloads[(count["out"] + window - 1) % window]
                usb_submit_urb(urb)

        def in_done(urb: Urb) -> None:
            if done.done():
                return
            if urb.status or urb.transfer_buffer != payloads[count["in"] % window]:
                done.set_exception(RuntimeError(f"IN status {urb.status} or data"))
                return
            count["in"] += 1
            if count["in"] == n:
                done.set_result(None)
            elif count["in"] + window <= n:
                usb_submit_urb(urb)

        for k in range(window):
            usb_submit_urb(Urb().fill_bulk(udev, out_pipe, payloads[k], 64, out_done))
            usb_submit_urb(Urb().fill_bulk(udev, in_pipe, bytearray(64), 64, in_done))
        await done
        return n
    return float(system.run(rate_async(run)))


def control(system: System, udev: UsbDevice, n: int) -> float:
    """GET_DESCRIPTOR(DEVICE) by usb_control_msg."""
    pipe, buf = usb_rcvctrlpipe(udev, 0), bytearray(18)

    async def loop() -> int:
        for _ in range(n):
            got = await usb_control_msg(udev, pipe, 0x06, 0x80, 0x0100, 0, buf, 18, 5000)
            if got != 18:
                raise RuntimeError(f"GET_DESCRIPTOR failed: {got}")
        return n
    return float(system.run(rate_async(loop)))


def bulk_direction(size: int, n: int) -> tuple[float, float]:
    """MB/s OUT and MB/s IN with `size`-byte URBs of random data, checked on arrival: 16
    written, then the 16 read back, over and over (gadget zero holds them, `buflen` =
    `size`)."""
    system, udev = _machine(buflen=size, qlen=16)
    out_pipe, in_pipe = usb_sndbulkpipe(udev, OUT_EP), usb_rcvbulkpipe(udev, IN_EP)
    batch = [os.urandom(size) for _ in range(16)]
    buf = bytearray(size)

    async def run() -> tuple[float, float]:
        t_out = t_in = 0.0
        for _ in range(max(1, n // 16)):
            start = time.perf_counter()
            for data in batch:
                rc, wrote = await usb_bulk_msg(udev, out_pipe, data, size, 5000)
                if rc or wrote != size:
                    raise RuntimeError(f"OUT failed: {rc} {wrote}")
            middle = time.perf_counter()
            for data in batch:
                rc, got = await usb_bulk_msg(udev, in_pipe, buf, size, 5000)
                if rc or buf[:got] != data:
                    raise RuntimeError(f"IN failed or data changed: {rc} {got}")
            t_out += middle - start
            t_in += time.perf_counter() - middle
        moved = max(1, n // 16) * 16 * size / 1e6
        return moved / t_out, moved / t_in
    try:
        result: tuple[float, float] = system.run(run())
        return result
    finally:
        system.close()


# -- enumeration, memory, streams -----------------------------------------------------------


def _hubbed(system: System, devices: int) -> list[str]:
    """Port paths for `devices` devices: the root hub's six ports, each turned into a
    7-port hub's ports, breadth first, until there are enough."""
    ports = [f"1-{port}" for port in range(1, 7)]
    while len(ports) < devices:
        path = ports.pop(0)
        system.plug(Hub(ports=7), path)
        ports += [f"{path}.{port}" for port in range(1, 8)]
    system.settle()
    return ports[:devices]


def enumerations(devices: int, rounds: int) -> float:
    """Devices per second through plug → enumerate → probe (a bound configuration) →
    unplug, `devices` at a time; the hubs they sit behind stay.  One device is plugged
    and unplugged first, untimed: the machine's first device runs depmod and modprobe."""
    with System() as system:
        system.add_controller("inproc")
        blacklist(system, "usbtest")
        paths = _hubbed(system, devices)
        system.plug(GadgetZero(), paths[0])
        system.settle()
        system.unplug(paths[0])
        system.settle()

        def work() -> int:
            for _ in range(rounds):
                for path in paths:
                    system.plug(GadgetZero(), path)
                system.settle()
                if len(system.usb_devices()) < devices:
                    raise RuntimeError("a device did not enumerate")
                for path in paths:
                    system.unplug(path)
                system.settle()
            return devices * rounds
        return rate(work)


def memory_per_device(devices: int = 100) -> float:
    """KiB of Python heap per plugged, enumerated and bound boot mouse (tracemalloc).  One
    mouse is plugged and unplugged first, untraced: the first loads usbhid, hid-generic
    and evdev."""
    with System() as system:
        system.add_controller("inproc")
        paths = _hubbed(system, devices)
        system.plug(BootMouse(), paths[0])
        system.settle()
        system.unplug(paths[0])
        system.settle()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for path in paths:
            system.plug(BootMouse(), path)
        system.settle()
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        return grown / devices / 1024


def streams(count: int, n: int) -> tuple[float, float]:
    """`count` tasks doing 64-byte echo round trips at once, one gadget zero each: total
    round trips per second, and per stream."""
    with System() as system:
        system.add_controller("inproc")
        blacklist(system, "usbtest")
        paths = _hubbed(system, count)
        for path in paths:
            system.plug(GadgetZero(loopdefault=True), path)
        system.settle()
        udevs = [system.find_device(path) for path in paths]

        async def one(udev: UsbDevice) -> int:
            out_pipe, in_pipe = usb_sndbulkpipe(udev, OUT_EP), usb_rcvbulkpipe(udev, IN_EP)
            data, buf = os.urandom(64), bytearray(64)
            for _ in range(n):
                rc, _ = await usb_bulk_msg(udev, out_pipe, data, 64, 5000)
                rc2, got = await usb_bulk_msg(udev, in_pipe, buf, 64, 5000)
                if rc or rc2 or buf != data:
                    raise RuntimeError(f"echo failed: {rc} {rc2} {got}")
            return n

        async def run() -> int:
            return sum(await asyncio.gather(*(one(u) for u in udevs if u is not None)))
        total = float(system.run(rate_async(run)))
        return total, total / count


# -- the PyPI usbip package in-process ------------------------------------------------------


class PypiLoopback:
    """The PyPI package's echo device served over its Loopback transport, a thread of its
    own pumping OUT data back to IN, and its host API on the other end."""

    def __init__(self) -> None:
        import usbip

        class Echo(usbip.Interface):  # type: ignore[misc]
            bInterfaceClass = 0xFF
            bulk_out = usbip.Out(0x01, "bulk", mps=512)
            bulk_in = usbip.In(0x81, "bulk", mps=512)

        dev = usbip.USBDevice(0x1209, 0x0004, product="Echo")
        dev.set_speed(usbip.SPEED_HIGH)
        fn = dev.add(Echo())
        self.transport = usbip.Loopback()
        dev.plug(via=self.transport)
        self.stop = threading.Event()

        def pump() -> None:
            while not self.stop.is_set():
                data = fn.bulk_out.read(timeout=0.2)
                if data:
                    fn.bulk_in.write(data)
        threading.Thread(target=pump, daemon=True).start()
        self.handle = usbip.open(busid="1-1", transport=self.transport)

    def echo(self, n: int, size: int) -> float:
        def work() -> int:
            data = os.urandom(size)
            for _ in range(n):
                self.handle.bulk_out(0x01, data)
                got = b""
                while len(got) < size:
                    got += bytes(self.handle.bulk_in(0x81, size - len(got)))
                if got != data:
                    raise RuntimeError("usbip package echo failed")
            return n
        return rate(work)

    def control(self, n: int) -> float:
        def work() -> int:
            for _ in range(n):
                self.handle.control(0x80, 0x06, 0x0100, 0, 18)
            return n
        return rate(work)

    def close(self) -> None:
        self.stop.set()
        self.handle.close()


def _pypi() -> PypiLoopback | None:
    try:
        return PypiLoopback()
    except ImportError:
        print("usbip (PyPI) is not installed: pip install 'usbemu[bench]' to compare")
        return None


# -- the figures ----------------------------------------------------------------------------


def figures(scale: int) -> list[Figure]:
    """Every figure of this module; `scale` multiplies the work of each run."""
    n = 4000 * scale
    out: list[Figure] = []
    section = "echo round trips, 64 bytes (OUT then IN), one device"
    system, udev = _machine()
    pypi = _pypi()
    try:
        f_await = Figure("floor: two awaits that do not suspend", repeat(
            lambda: floor_await(5 * n)), "/s", section=section)
        f_future = Figure("floor: two futures through the loop", repeat(
            lambda: floor_future(5 * n)), "/s", section=section)
        f_calls = Figure("floor: two callbacks through the loop", repeat(
            lambda: floor_callbacks(5 * n)), "/s", section=section)
        contenders: dict[str, Callable[[], float]] = {"sync": lambda: echo_sync(system, udev, n)}
        if pypi is not None:
            contenders["pypi"] = lambda: pypi.echo(n // 10, 64)
        runs = interleave(contenders)
        pypi_echo = (Figure("PyPI usbip: the same echo, in-process (Loopback)", runs["pypi"],
                            "/s", section=section),) if pypi is not None else ()
        sync = Figure("usb_bulk_msg, one at a time", runs["sync"], "/s",
                      (f_await, *pypi_echo), section=section)
        out += [f_await, sync,
                Figure("bulk_transfer (Pythonic), one at a time",
                       repeat(lambda: echo_pythonic(system, udev, n)), "/s", (f_await,),
                       section=section),
                f_future,
                Figure("IN URB queued first, OUT by usb_bulk_msg",
                       repeat(lambda: echo_in_first(system, udev, n)), "/s", (f_future,),
                       section=section),
                f_calls,
                Figure("16 URBs in flight each way, completions resubmit",
                       repeat(lambda: echo_pipelined(system, udev, n)), "/s", (f_calls,),
                       section=section)]
        out += pypi_echo

        section = "bulk echo, larger transfers (OUT then IN), checked"
        for size in SIZES[1:]:
            big_system, big_udev = _machine(buflen=size)
            try:
                contenders = {"ours": partial(echo_sync, big_system, big_udev, n // 4, size)}
                if pypi is not None:
                    contenders["pypi"] = partial(pypi.echo, n // 40, size)
                runs = interleave(contenders)
            finally:
                big_system.close()
            theirs = (Figure(f"PyPI usbip: {size} bytes, in-process", runs["pypi"], "/s",
                             section=section,
                             note=f"{statistics_mb(runs['pypi'], size)} MB/s each way"),
                      ) if pypi is not None else ()
            out += [Figure(f"usb_bulk_msg, {size} bytes", runs["ours"], "/s", theirs,
                           section=section,
                           note=f"{statistics_mb(runs['ours'], size)} MB/s each way"),
                    *theirs]

        section = "bulk MB/s per direction, random data checked on arrival"
        for size in (512, 4096, 65536):
            pairs = [bulk_direction(size, max(64, n * 64 // size)) for _ in range(3)]
            out += [Figure(f"OUT, {size}-byte URBs", [p[0] for p in pairs], "MB/s",
                           section=section),
                    Figure(f"IN, {size}-byte URBs", [p[1] for p in pairs], "MB/s",
                           section=section)]

        section = "control transfers (GET_DESCRIPTOR of the device)"
        contenders = {"ours": lambda: control(system, udev, n)}
        if pypi is not None:
            contenders["pypi"] = lambda: pypi.control(n // 10)
        runs = interleave(contenders)
        theirs = (Figure("PyPI usbip: control, in-process", runs["pypi"], "/s",
                         section=section),) if pypi is not None else ()
        out += [Figure("usb_control_msg", runs["ours"], "/s", (f_await, *theirs),
                       section=section), *theirs]
    finally:
        system.close()
        if pypi is not None:
            pypi.close()

    section = "enumeration: plug, enumerate, probe, unplug"
    for devices in (1, 10, 100):
        rounds = max(1, (20 * scale) // devices)
        out.append(Figure(f"{devices} device{'s' if devices > 1 else ''} at a time",
                          repeat(partial(enumerations, devices, rounds)),
                          "devices/s",
                          section=section))
    out.append(Figure("memory per plugged boot mouse (100 plugged)",
                      repeat(memory_per_device, 1), "KiB", section=section))

    section = "concurrent 64-byte echo streams, one device each"
    for count in (1, 4, 16, 64):
        pairs = [streams(count, max(50, n // count // 2)) for _ in range(3)]
        out += [Figure(f"{count} stream{'s' if count > 1 else ''}, total",
                       [p[0] for p in pairs], "/s", section=section),
                Figure(f"{count} stream{'s' if count > 1 else ''}, each",
                       [p[1] for p in pairs], "/s", section=section)]
    return out


def statistics_mb(rates: list[float], size: int) -> str:
    return f"{statistics.median(rates) * size / 1e6:,.1f}"
