"""`usbemu attach`: HOST[:PORT] as the user writes it, a run against a machine exporting a
device (its own thread and loop, on real time) with the kernel log printed as it goes and
the device detached at the end, and the one-line mistakes."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from usbemu.bridges.usbip.server import UsbipServer
from usbemu.cli.attach import Server
from usbemu.cli.main import main
from usbemu.cli.usage import CommandError
from usbemu.emulated.models.zero import GadgetZero
from usbemu.system import System


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@contextmanager
def exporting(*busids: str) -> Iterator[int]:
    """A machine on real time, in a thread of its own, exporting Gadget Zero at 1-1 on a
    free port of 127.0.0.1 (yielded)."""
    with System(virtual=False) as system:
        system.add_controller()
        system.plug(GadgetZero(), "1-1")
        system.settle()
        server = system.run(UsbipServer.start(system, busids or ("1-1",), port=0))
        thread = threading.Thread(target=system.loop.run_forever, daemon=True)
        thread.start()
        try:
            yield server.port
        finally:
            system.loop.call_soon_threadsafe(system.loop.stop)
            thread.join(5)
            system.run(asyncio.wait_for(server.close(), 5))


@pytest.mark.parametrize(("text", "host", "port"), [
    ("192.168.1.10", "192.168.1.10", 3240),
    ("localhost:3241", "localhost", 3241),
    ("[::1]:3250", "::1", 3250),
    ("[::1]", "::1", 3240),
    ("fe80::1", "fe80::1", 3240),
])
def test_a_server_as_the_user_names_it(text: str, host: str, port: int) -> None:
    server = Server.parse(text)
    assert (server.host, server.port) == (host, port)
    assert Server.parse(str(server)) == server


@pytest.mark.parametrize(("text", "message"), [
    (":3240", "the host is empty"),
    ("host:0", "the port must be a number from 1 to 65535"),
    ("host:http", "the port must be a number from 1 to 65535"),
    ("[::1]x", "expected [ADDRESS] or [ADDRESS]:PORT"),
])
def test_a_server_name_that_is_wrong(text: str, message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        Server.parse(text)


def test_attach_prints_the_kernel_log_and_detaches_at_the_end() -> None:
    with exporting() as port:
        code, out = invoke("attach", f"127.0.0.1:{port}", "1-1", "--hcd", "vhci",
                           "--for", "0.6")
    assert code == 0, out
    lines = [line.split("] ", 1)[1] for line in out.splitlines()]
    assert lines[0] == "usbcore: registered new interface driver usbfs"
    attached = lines.index("vhci_hcd vhci_hcd.0: Device attached")
    assert re.fullmatch(r"vhci_hcd vhci_hcd\.0: pdev\(0\) rhport\(0\) sockfd\(\d+\)",
                        lines[attached - 2])
    assert lines[attached - 1] == \
        "vhci_hcd vhci_hcd.0: devid(65538) speed(3) speed_str(high-speed)"
    assert "usb 1-1: new high-speed USB device number 2 using vhci_hcd" in lines
    assert lines[-4:] == ["vhci_hcd: stop threads", "vhci_hcd: release socket",
                          "vhci_hcd: disconnect device", "usb 1-1: USB disconnect, device number 2"]


def test_an_import_the_server_refuses_is_one_line() -> None:
    with exporting() as port:
        code, out = invoke("attach", f"127.0.0.1:{port}", "1-7", "--hcd", "vhci")
    assert code == 1
    assert out.splitlines()[-1] == (f"usbemu: error: attach 127.0.0.1:{port} 1-7: Attach "
                                    "Request for 1-7 failed - Device not found")


def test_attach_needs_a_bus_id_and_a_good_server() -> None:
    assert invoke("attach", "localhost") == (
        2, "usbemu: error: Missing argument 'BUSID...'. Usage: usbemu attach [OPTIONS] "
           "HOST[:PORT] BUSID...\n")
    assert invoke("attach", "localhost:99999", "1-1") == (
        2, "usbemu: error: 'localhost:99999': the port must be a number from 1 to 65535\n")
