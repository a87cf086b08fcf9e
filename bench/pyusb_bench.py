"""pyusb through usbemu's backend: 4 KiB bulk echoes per second (write 4096 bytes to
gadget zero's loopback OUT endpoint, read them back from IN, checked: two round trips, one
per call) with pyusb's own `Device.write` / `Device.read` — in-process on virtual time
(`UsbemuBackend(system)`), and over the Unix socket of `usbemu serve --pyusb` in another
process on real time (`UsbemuBackend.connect`).  Each figure is the median of three runs,
min and max beside it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import usb.core
import usb.util
from figures import Figure, machine, render

from usbemu.bridges.pyusb_backend import UsbemuBackend
from usbemu.emulated.models.zero import GadgetZero
from usbemu.system import System
from usbemu.testing import blacklist

SIZE = 4096
REPEATS = 3
ZERO = {"idVendor": 0x0525, "idProduct": 0xA4A0}


def _echo_rate(dev: usb.core.Device, seconds: float) -> float:
    payload = os.urandom(SIZE)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            dev.write(0x02, payload)
            if bytes(dev.read(0x81, SIZE)) != payload:
                raise RuntimeError("pyusb echo: data differs")
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _device(backend: UsbemuBackend) -> usb.core.Device:
    dev = usb.core.find(backend=backend, **ZERO)
    if dev is None:
        raise RuntimeError("pyusb bench: gadget zero not found")
    _detach(dev)              # usbtest holds interface 0 of the first configuration
    dev.set_configuration(2)
    _detach(dev)              # and binds the loopback configuration's once it is set
    return dev


def _detach(dev: usb.core.Device) -> None:
    if dev.is_kernel_driver_active(0):
        dev.detach_kernel_driver(0)


def _in_process(seconds: float) -> list[float]:
    with System() as system:
        system.add_controller("inproc")
        blacklist(system, "usbtest")
        system.plug(GadgetZero(loopdefault=True), "1-1")
        system.settle()
        backend = UsbemuBackend(system)
        dev = _device(backend)
        rates = [_echo_rate(dev, seconds) for _ in range(REPEATS)]
        usb.util.dispose_resources(dev)
        return rates


def _over_socket(seconds: float) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "usbemu.sock")
        proc = subprocess.Popen([sys.executable, "-m", "usbemu", "serve", "--plug", "zero",
                                 "--pyusb", sock], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            if not proc.stdout.readline().startswith("pyusb"):
                raise RuntimeError("usbemu serve --pyusb did not start")
            backend = UsbemuBackend.connect(sock)
            dev = _device(backend)
            rates = [_echo_rate(dev, seconds) for _ in range(REPEATS)]
            usb.util.dispose_resources(dev)
            backend.close()
            return rates
        finally:
            proc.terminate()
            proc.wait(10)


def figures(seconds: float) -> list[Figure]:
    """pyusb 4 KiB echoes per second, in-process and over the socket; each `write` and each
    `read` is a round trip (two per echo)."""
    section = f"pyusb through UsbemuBackend: {SIZE}-byte echoes (write then read, checked)"
    out = []
    for where, run in {"in-process": _in_process, "over the socket": _over_socket}.items():
        rates = run(seconds)
        median = statistics.median(rates)
        out.append(Figure(f"{where}", rates, "/s", section=section,
                          note=f"{2 * median:,.0f} round trips/s (each write, each read), "
                               f"{median * SIZE / 1e6:,.1f} MB/s each way"))
    return out


if __name__ == "__main__":
    print(render(machine(), figures(0.5 if "--quick" in sys.argv else 1.0)))
