"""`usbemu attach`: a machine on real time that imports devices from a USB/IP server
(`bridges.usbip.client`: usbipd, `usbip`'s exported devices, `usbemu export`) and shows its
kernel log as it goes, as `dmesg -w` does, until Ctrl-C or SIGTERM (or after `--for
SECONDS` of real time); then it detaches them and shuts the machine down.

    usbemu attach 192.168.1.10 1-1
    usbemu attach localhost:3241 1-1 1-2 --load usb_storage

The log shows what Linux shows for `usbip attach`: vhci_hcd's "Device attached", the hub
driver's "new high-speed USB device number 2 using vhci_hcd", the drivers binding.  Booting
and populating the machine are `cli.main`'s; this module parses HOST[:PORT], attaches, follows
the log and detaches.  A server that cannot be reached or refuses an import is one line
(`cli.usage`); the devices attached before it are detached again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..bridges.usbip.client import UsbipError, attach, detach
from ..bridges.usbip.protocol import USBIP_PORT
from ..kernel.printk import LogRecord
from ..system import System
from .serve import stop_on_signals
from .usage import CommandError, CommandFailure

__all__ = ["Server", "run_attach"]


@dataclass(frozen=True)
class Server:
    """A USB/IP server as the user named it: host and TCP port."""

    host: str
    port: int = USBIP_PORT

    @classmethod
    def parse(cls, text: str) -> Server:
        """HOST, HOST:PORT, [IPV6] or [IPV6]:PORT (an IPv6 address without brackets takes
        the default port).  Raises CommandError for an empty host or a bad port."""
        host, port_text = text, ""
        if text.startswith("["):
            host, bracket, rest = text[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise CommandError(f"{text!r}: expected [ADDRESS] or [ADDRESS]:PORT")
            port_text = rest[1:]
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
        if not host:
            raise CommandError(f"{text!r}: the host is empty; expected HOST[:PORT], e.g. "
                               "192.168.1.10 or localhost:3240")
        if not port_text:
            return cls(host)
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise CommandError(f"{text!r}: the port must be a number from 1 to 65535")
        return cls(host, int(port_text))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


async def _attach_all(system: System, server: Server, busids: Sequence[str],
                      attached: list[int]) -> None:
    for busid in busids:
        try:
            attached.append(await attach(system, server.host, busid, server.port))
        except (OSError, UsbipError) as exc:
            raise CommandFailure(f"attach {server} {busid}: {exc}") from None


async def _run(system: System, server: Server, busids: Sequence[str], seconds: float | None,
               echo: Callable[[str], None]) -> None:
    for record in system.log.records():
        echo(record.format())

    def follow(record: LogRecord) -> None:
        echo(record.format())

    unsubscribe = system.log.subscribe(follow)
    attached: list[int] = []
    stop = asyncio.Event()
    try:
        with stop_on_signals(asyncio.get_running_loop(), stop):
            try:
                await _attach_all(system, server, busids, attached)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), seconds)
            finally:
                for port in attached:
                    with contextlib.suppress(ValueError):
                        await detach(system, port)
                await system.asettle()
    finally:
        unsubscribe()


def run_attach(system: System, server: Server, busids: Sequence[str], seconds: float | None,
               echo: Callable[[str], None]) -> None:
    """Attach `busids` from `server` to `system` (booted on real time), print its kernel
    log (`echo`, one line each, what is there first), until SIGINT or SIGTERM or for
    `seconds` of real time; then detach them.  Raises CommandError for no bus id,
    CommandFailure for a server that cannot be reached or refuses an import.  Context:
    outside the machine's loop; runs it."""
    if not busids:
        raise CommandError("attach: no device to attach; give one or more BUSIDs, e.g. 1-1")
    system.run(_run(system, server, busids, seconds, echo))
