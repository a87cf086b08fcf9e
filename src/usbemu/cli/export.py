"""`usbemu export`: device models served over USB/IP from a machine on real time — usbipd
and usbip-host (`bridges.usbip.server`) — for `usbip attach` on a real Linux host, or for
`usbemu attach`, until Ctrl-C or SIGTERM.

    usbemu export 'pendrive storage=memory' zero --port 3240

Each MODEL is plugged in as `--plug` plugs it (the first free root-hub port, the port of
the matching `--at`, or the `at PORT-PATH` in its words) and its bus id exported; the
command prints one line per bus id ("exporting 1-1: zero (0525:a4a0)"), the address it
listens on, then the machine's kernel log as it comes ("usbip-host 1-1: stub up" …).  On
SIGINT or SIGTERM (or after `--for SECONDS` of real time) it closes the server, which hands
the devices back to their drivers, and the machine shuts down.  Mistakes are one line
(`cli.usage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from ..bridges.usbip.server import UsbipServer
from ..system import System
from .machine import MachineError, parse_plug, plug
from .serve import stop_on_signals
from .usage import CommandError, CommandFailure

#: How long `usbemu export` waits for its models to enumerate, in seconds of real time.
ENUMERATION_TIMEOUT_S: Final = 10.0

__all__ = ["ExportRequest", "parse_exports", "run_export"]


@dataclass(frozen=True)
class ExportRequest:
    """One MODEL argument: the model (or clone file), its options and where to plug it
    (None: the first free root-hub port), with the text as the user wrote it."""

    spec: str
    options: dict[str, str]
    port: str | None
    text: str


def parse_exports(models: Sequence[str], ats: Sequence[str]) -> list[ExportRequest]:
    """The MODEL arguments with the `--at` options, the i-th `--at` for the i-th model.
    Raises CommandError for a malformed model, more `--at` than models, or a model given
    a port twice."""
    if not models:
        raise CommandError("export: nothing to export; give a MODEL, e.g. zero or "
                           "'pendrive storage=memory'")
    if len(ats) > len(models):
        raise CommandError(f"export: {len(ats)} --at for {len(models)} MODEL(s); give at "
                           "most one --at per model, in the models' order")
    requests = []
    for i, text in enumerate(models):
        try:
            spec, options, port = parse_plug(shlex.split(text))
        except (MachineError, ValueError) as exc:
            raise CommandError(f"export {text!r}: {exc}") from None
        if i < len(ats):
            if port is not None:
                raise CommandError(f"export {text!r}: a port is given twice, with 'at' and "
                                   f"with --at {ats[i]}")
            port = ats[i]
        requests.append(ExportRequest(spec, options, port, text))
    return requests


def _plug_all(system: System, requests: Sequence[ExportRequest]) -> list[str]:
    """Plug every model in and wait until the hub driver has enumerated them; the port
    path of each is the bus id it is exported as.  Drivers that bound meanwhile are not
    waited for: `usbip bind` takes the devices from them (a mass-storage model is not
    scanned first, nor is the echo pen drive that usb-storage would spend 40 s on)."""
    busids = []
    for request in requests:
        try:
            busids.append(plug(system, request.spec, request.options, request.port,
                               settle=False))
        except MachineError as exc:
            raise CommandError(f"export {request.text!r}: {exc}") from None
    try:
        system.run(_enumerated(system, busids))
    except TimeoutError:
        missing = [busid for busid in busids if system.find_device(busid) is None]
        raise CommandFailure(f"export: {', '.join(missing)} did not enumerate within "
                             f"{ENUMERATION_TIMEOUT_S:g} s:\n{system.dmesg()}") from None
    return busids


async def _enumerated(system: System, busids: Sequence[str]) -> None:
    """Wait until a device is registered at each of `busids` and hub_wq is idle.  Raises
    TimeoutError after ENUMERATION_TIMEOUT_S.  Context: may sleep."""
    async with asyncio.timeout(ENUMERATION_TIMEOUT_S):
        while not all(system.find_device(busid) is not None for busid in busids):
            await asyncio.sleep(0.01)
        await system.usb.hub_wq.wait_idle()


def _describe(system: System, busid: str, request: ExportRequest) -> str:
    udev = system.find_device(busid)
    desc = udev.descriptor if udev is not None else None
    ids = f" ({desc.idVendor:04x}:{desc.idProduct:04x})" if desc is not None else ""
    return f"exporting {busid}: {request.text}{ids}"


async def _export(system: System, requests: Sequence[ExportRequest], busids: Sequence[str],
                  host: str, port: int, seconds: float | None,
                  echo: Callable[[str], None]) -> None:
    stop = asyncio.Event()
    shown = system.log.subscribe(lambda record: echo(record.format()))
    try:
        with stop_on_signals(asyncio.get_running_loop(), stop):
            try:
                server = await UsbipServer.start(system, busids, host, port)
            except (OSError, ValueError) as exc:
                raise CommandFailure(f"export: {exc}") from None
            try:
                for busid, request in zip(busids, requests, strict=True):
                    echo(_describe(system, busid, request))
                echo(f"usbipd listening on {host}:{server.port}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), seconds)
            finally:
                await server.close(unbind=False)  # the machine shuts down next
    finally:
        shown()


def run_export(system: System, requests: Sequence[ExportRequest], host: str, port: int,
               seconds: float | None, echo: Callable[[str], None]) -> None:
    """Plug `requests` into `system` (booted on real time), export their bus ids on
    `host`:`port` and print the kernel log until SIGINT or SIGTERM, or for `seconds` of
    real time when given; `echo` prints a line.  Raises CommandError for a model that
    cannot be plugged, CommandFailure when the server cannot start.  Context: outside the
    machine's loop; runs it."""
    busids = _plug_all(system, requests)
    system.run(_export(system, requests, busids, host, port, seconds, echo))
