"""`usbemu serve`: a machine on real time whose emulated ttys are served as host ptys
(`bridges.pty`), for programs outside — pyserial, picocom, screen — and whose devices are
served to pyusb programs on a Unix socket (`--pyusb PATH`, `bridges.pyusb_service`), until
Ctrl-C or SIGTERM.

    usbemu serve --load 'usbserial vendor=0xffff product=0xfff8' \\
                 --plug 'serial loopback=true' --pty ttyUSB0=./ttyUSB0
    usbemu serve --plug zero --pyusb ./usbemu.sock

It prints one line per pty ("ttyUSB0 → /dev/pts/7 (link ./ttyUSB0)") and one for the pyusb
socket ("pyusb → ./usbemu.sock"), then serves; on
SIGINT or SIGTERM (or after `--for SECONDS` of real time) it closes the ptys, removes the
links and shuts the machine down.  Booting and populating the machine are `cli.main`'s;
this module parses --pty, checks that the ttys exist once the machine has settled, and
runs the bridges.  Mistakes are one line (`cli.usage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ..bridges.pty import PtyBridge, unavailable_reason
from ..bridges.pyusb_service import PyusbServer, serve_pyusb
from ..system import System
from .usage import CommandError, CommandFailure

__all__ = ["PtyRequest", "check_ttys", "parse_requests", "run_serve", "stop_on_signals"]


@dataclass(frozen=True)
class PtyRequest:
    """One --pty: the emulated tty ("ttyUSB0") and the link to make, as the user wrote it
    (None: print the slave's path only)."""

    tty: str
    link: str | None

    @classmethod
    def parse(cls, text: str) -> PtyRequest:
        """`TTY[=LINK]`, TTY with or without /dev/.  Raises CommandError."""
        name, eq, link = text.partition("=")
        name = name.removeprefix("/dev/")
        if not name or "/" in name:
            raise CommandError(f"--pty {text!r}: expected TTY or TTY=LINK, e.g. ttyUSB0 or "
                               "ttyUSB0=./ttyUSB0")
        if eq and not link:
            raise CommandError(f"--pty {text!r}: the link after '=' is empty; give a path "
                               "or leave out '='")
        return cls(name, link if eq else None)

    @property
    def path(self) -> str:
        return f"/dev/{self.tty}"


def parse_requests(texts: Sequence[str], pyusb: str | None = None) -> list[PtyRequest]:
    """The --pty options, checked before a machine boots: at least one unless a `pyusb`
    socket is served, each well formed, and ptys available on this host.  Raises
    CommandError, or CommandFailure where no pty can be opened."""
    if not texts:
        if pyusb is not None:
            return []
        raise CommandError("serve: nothing to serve; give --pty TTY[=LINK], e.g. "
                           "--pty ttyUSB0=./ttyUSB0, or --pyusb PATH")
    requests = [PtyRequest.parse(text) for text in texts]
    reason = unavailable_reason()
    if reason is not None:
        raise CommandFailure(f"serve: ptys cannot be used here: {reason}")
    return requests


def _ttys(system: System) -> list[str]:
    """The machine's tty nodes (/dev/tty*)."""
    return sorted(n for n in system.vfs.listdir("/dev") if n.startswith("tty"))


def check_ttys(system: System, requests: Sequence[PtyRequest]) -> None:
    """Every requested tty exists on the settled machine, and none twice.  Raises
    CommandError naming the missing one and the ttys there are."""
    seen: set[str] = set()
    for request in requests:
        if request.tty in seen:
            raise CommandError(f"--pty {request.tty}: given twice; one pty per tty")
        seen.add(request.tty)
        if not system.vfs.exists(request.path):
            there = ", ".join(_ttys(system)) or "none (plug a converter and load its driver)"
            raise CommandError(f"--pty {request.tty}: the machine has no {request.path}; "
                               f"its ttys: {there}")


@contextlib.contextmanager
def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` while the block runs (main thread only; elsewhere
    they keep their actions)."""
    caught: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                caught.append(sig)
    try:
        yield
    finally:
        for sig in caught:
            loop.remove_signal_handler(sig)


def _line(request: PtyRequest, bridge: PtyBridge) -> str:
    link = f" (link {request.link})" if request.link is not None else ""
    return f"{request.tty} → {bridge.slave_path}{link}"


async def _serve(system: System, requests: Sequence[PtyRequest], seconds: float | None,
                 echo: Callable[[str], None], pyusb: str | None = None) -> None:
    bridges: list[PtyBridge] = []
    server: PyusbServer | None = None
    stop = asyncio.Event()
    with stop_on_signals(asyncio.get_running_loop(), stop):
        try:
            for request in requests:
                bridges.append(await _open(system, request))
                echo(_line(request, bridges[-1]))
            if pyusb is not None:
                server = await _serve_pyusb(system, pyusb)
                echo(f"pyusb → {pyusb}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
        finally:
            for bridge in bridges:
                await bridge.close()
            if server is not None:
                await server.close()


async def _serve_pyusb(system: System, path: str) -> PyusbServer:
    """The --pyusb socket; one that cannot be made is the user's mistake."""
    try:
        return await serve_pyusb(system, path)
    except OSError as exc:
        raise CommandError(f"--pyusb {path}: {exc.strerror or exc}") from None


async def _open(system: System, request: PtyRequest) -> PtyBridge:
    """The bridge of one --pty; a link that cannot be made is the user's mistake."""
    try:
        return await PtyBridge.open(system, request.path, request.link)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        given = f"={request.link}" if request.link is not None else ""
        raise CommandError(f"--pty {request.tty}{given}: {where}{exc.strerror or exc}"
                           ) from None


def run_serve(system: System, requests: Sequence[PtyRequest], seconds: float | None,
              echo: Callable[[str], None], pyusb: str | None = None) -> None:
    """Serve `requests` (and the pyusb socket `pyusb` when given) on `system` (booted on
    real time and settled) until SIGINT or SIGTERM, or for `seconds` of real time when
    given; `echo` prints a line.  Raises CommandError for a tty that is not there or a
    link or socket that cannot be made.  Context: outside the machine's loop; runs it."""
    check_ttys(system, requests)
    system.run(_serve(system, requests, seconds, echo, pyusb))
