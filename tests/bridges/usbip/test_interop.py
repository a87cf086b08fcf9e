"""USB/IP with real peers on this machine: the Debian `usbip` tool lists what usbemu exports;
the PyPI `usbip` package's host API drives a device usbemu exports, and usbemu imports a
device that package serves; three exporting `usbemu export` processes and one importing
machine.  Real sockets on 127.0.0.1, machines on real time, every wait bounded."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from usbemu.bridges.usbip.client import attach, detach
from usbemu.bridges.usbip.server import UsbipServer
from usbemu.core.message import usb_bulk_msg, usb_set_configuration
from usbemu.core.usb import UsbDevice
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.zero import GadgetZero
from usbemu.linux import usb_rcvbulkpipe, usb_sndbulkpipe
from usbemu.system import System
from usbemu.testing import blacklist

pytestmark = pytest.mark.hang_guard_s(60)

USBIP_TOOL = shutil.which("usbip") or ("/usr/sbin/usbip" if Path("/usr/sbin/usbip").exists()
                                       else None)
TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def exporting_machine(*models: object) -> Iterator[tuple[System, UsbipServer]]:
    """A real-time machine with `models` plugged at 1-1, 1-2 … and exported on a free
    port of 127.0.0.1."""
    with System(virtual=False) as system:
        blacklist(system, "usb_storage", "uas")
        system.add_controller()
        busids = [f"1-{n}" for n in range(1, len(models) + 1)]
        for model, busid in zip(models, busids, strict=True):
            system.plug(model, busid)  # type: ignore[arg-type]
        system.settle()
        server = system.run(UsbipServer.start(system, busids, port=0))
        try:
            yield system, server
        finally:
            system.run(server.close())


async def echo(udev: UsbDevice, out_ep: int, in_ep: int, payload: bytes) -> bytes:
    """Write `payload` to bulk `out_ep` and read it back from `in_ep`, through usbemu's
    core (usb_bulk_msg), with 5 s timeouts."""
    status, sent = await usb_bulk_msg(udev, usb_sndbulkpipe(udev, out_ep), payload,
                                      len(payload), 5000)
    assert (status, sent) == (0, len(payload))
    buf = bytearray(4096)
    status, got = await usb_bulk_msg(udev, usb_rcvbulkpipe(udev, in_ep), buf, len(buf), 5000)
    assert status == 0
    return bytes(buf[:got])


# -- the Debian usbip tool ---------------------------------------------------------------------


@pytest.mark.skipif(USBIP_TOOL is None, reason="the usbip tool (Debian's usbip) is not installed")
def test_the_usbip_tool_lists_our_exported_devices() -> None:
    with exporting_machine(GadgetZero(), PenDrive()) as (system, server):
        async def usbip_list() -> tuple[int | None, str]:
            assert USBIP_TOOL is not None
            proc = await asyncio.create_subprocess_exec(
                USBIP_TOOL, "--tcp-port", str(server.port), "list", "-r", "127.0.0.1",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
            return proc.returncode, out.decode()

        rc, out = system.run(usbip_list())
    assert rc == 0, out
    assert "Exportable USB devices" in out
    assert re.search(r"^\s+1-1: .*\(0525:a4a0\)$", out, re.M), out
    assert re.search(r"^\s+1-2: .*\(058f:6387\)$", out, re.M), out
    assert re.search(r"^\s+: /sys/devices/pci0000:00/0000:00:1d\.0/usb1/1-2$", out, re.M), out
    # the device classes: gadget zero's is per interface (00/00/00), so is the pen drive's
    assert re.search(r"\(00/00/00\)$", out, re.M), out


# -- the PyPI usbip package --------------------------------------------------------------------


def test_the_pypi_usbip_host_api_drives_a_device_we_export() -> None:
    usbip = pytest.importorskip("usbip")
    payload = bytes(range(256)) * 2
    with exporting_machine(GadgetZero()) as (system, server):
        def drive() -> tuple[bytes, bytes]:
            transport = usbip.USBIP("127.0.0.1", server.port)
            with usbip.open(busid="1-1", transport=transport, set_config=2) as handle:
                descriptor = bytes(handle.control(0x80, 6, 0x0100, 0, 18))
                handle.bulk_out(0x02, payload)            # loopback: what goes out
                back = bytes(handle.bulk_in(0x81, 512))   # comes back
            return descriptor, back

        descriptor, back = system.run(asyncio.wait_for(asyncio.to_thread(drive), TIMEOUT))
    assert descriptor[:2] == b"\x12\x01" and descriptor[8:12] == bytes.fromhex("2505a0a4")
    assert back == payload


def test_usbemu_imports_a_device_the_pypi_usbip_package_serves() -> None:
    usbip = pytest.importorskip("usbip")

    class VendorBulk(usbip.Interface):  # type: ignore[misc, name-defined]
        bInterfaceClass = 0xFF
        bulk_out = usbip.Out(0x01, "bulk", mps=64)
        bulk_in = usbip.In(0x81, "bulk", mps=64)

    port = free_port()
    dev = usbip.USBDevice(0x1209, 0x0004, manufacturer="USB over IP", product="Echo",
                          serial="0004")
    fn = dev.add(VendorBulk())
    transport = usbip.USBIP("127.0.0.1", port)
    dev.plug(via=transport)
    stop = threading.Event()

    def echo_loop() -> None:
        while not stop.is_set():
            data = fn.bulk_out.read(timeout=0.05)
            if data:
                fn.bulk_in.write(data)

    pump = threading.Thread(target=echo_loop, daemon=True)
    pump.start()
    try:
        with System(virtual=False) as system:
            async def run() -> tuple[str, bytes]:
                vport = await attach(system, "127.0.0.1", "1-1", port)
                for _ in range(200):
                    udev = next((d for d in system.usb_devices()
                                 if d.descriptor is not None
                                 and d.descriptor.idVendor == 0x1209
                                 and d.actconfig is not None), None)
                    if udev is not None:
                        break
                    await asyncio.sleep(0.05)
                assert udev is not None, system.dmesg()
                back = await echo(udev, 0x01, 0x81, b"hello through two stacks")
                await detach(system, vport)
                return udev.product or "", back

            product, back = system.run(asyncio.wait_for(run(), TIMEOUT))
            log = system.dmesg()
    finally:
        stop.set()
        pump.join(5)
        transport.stop(dev)
    assert product == "Echo" and back == b"hello through two stacks"
    assert re.search(r"usb \d+-1: new (full|high)-speed USB device number \d+ using vhci_hcd",
                     log), log


# -- several servers, one client ---------------------------------------------------------------


def test_one_machine_imports_from_three_exporting_processes() -> None:
    async def start_exporter() -> tuple[asyncio.subprocess.Process, int]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "usbemu", "export", "zero", "--port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
            assert line, "usbemu export ended before it listened"
            found = re.search(r"127\.0\.0\.1:(\d+)", line)
            if found:
                return proc, int(found.group(1))

    with System(virtual=False) as system:
        async def run() -> list[bytes]:
            exporters = await asyncio.gather(*(start_exporter() for _ in range(3)))
            try:
                for _, port in exporters:
                    await attach(system, "127.0.0.1", "1-1", port)
                zeros: list[UsbDevice] = []
                for _ in range(400):
                    zeros = [d for d in system.usb_devices() if d.descriptor is not None
                             and d.descriptor.idProduct == 0xA4A0 and d.actconfig is not None]
                    if len(zeros) == 3:
                        break
                    await asyncio.sleep(0.05)
                assert len(zeros) == 3, system.dmesg()
                for udev in zeros:          # loopback configuration, as testusb uses it
                    assert await usb_set_configuration(udev, 2) == 0
                return list(await asyncio.gather(*(
                    echo(udev, 0x02, 0x81, f"to exporter {n}".encode())
                    for n, udev in enumerate(zeros))))
            finally:
                for proc, _ in exporters:
                    proc.terminate()
                for proc, _ in exporters:
                    await asyncio.wait_for(proc.wait(), TIMEOUT)

        backs = system.run(asyncio.wait_for(run(), 3 * TIMEOUT))
    assert sorted(backs) == [f"to exporter {n}".encode() for n in range(3)]
