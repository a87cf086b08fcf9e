"""The shell's `capture` command: usbmon capture files written while the session runs.

`capture -w FILE [-f pcapng|pcap|text] [-b BUS] [-s SNAPLEN]` starts writing every URB of
the machine (bus 0: all buses) to FILE on the host, as `usbemu capture` does; `capture
stop` closes the file and says how many events it holds; `capture` alone says what is
being written.  One capture runs at a time; leaving the shell closes it.
"""

from __future__ import annotations

import getopt
from typing import TYPE_CHECKING, Final

from ...bridges.usbmon import DEFAULT_SNAPLEN, FORMATS, Capture, capture
from .invocation import Invocation, UsageError, strerror

if TYPE_CHECKING:
    from .interpreter import Shell

__all__ = ["do_capture", "stop_capture"]

#: A file's format by its suffix, as `usbemu capture` chooses it (pcapng otherwise).
SUFFIX_FORMATS: Final = {".pcap": "pcap", ".txt": "text", ".mon": "text"}


def _format_of(path: str) -> str:
    dot = path.rfind(".")
    return SUFFIX_FORMATS.get(path[dot:].lower(), "pcapng") if dot > 0 else "pcapng"


def _number(call: Invocation, option: str, text: str) -> int:
    if not text.isdigit():
        raise UsageError(f"{call.name}: {option} needs a number, not '{text}'")
    return int(text)


def _describe(cap: Capture) -> str:
    return f"{cap.packets} events written to {cap.path} ({cap.fmt})"


def stop_capture(shell: Shell) -> str | None:
    """Close the session's capture, if any; what it wrote, or None.  Context: atomic."""
    cap = shell.capture
    if cap is None:
        return None
    cap.stop()
    shell.capture = None
    return _describe(cap)


def do_capture(call: Invocation) -> int:
    shell = call.shell
    if call.args == ["stop"]:
        said = stop_capture(shell)
        if said is None:
            call.error("capture: no capture is running")
            return 1
        call.out.write(said + "\n")
        return 0
    if not call.args:
        cap = shell.capture
        call.out.write(f"writing {cap.path} ({cap.fmt}): {cap.packets} events\n"
                       if cap is not None else "no capture is running\n")
        return 0
    try:
        options, rest = getopt.getopt(call.args, "w:f:b:s:")
    except getopt.GetoptError as exc:
        raise UsageError(f"capture: {exc.msg}") from None
    if rest:
        raise UsageError(f"capture: unexpected argument '{rest[0]}'")
    given = dict(options)
    path = given.get("-w")
    if path is None:
        raise UsageError("capture: give the file to write with -w FILE")
    fmt = given.get("-f", _format_of(path))
    if fmt not in FORMATS:
        raise UsageError(f"capture: -f {fmt}: use one of {', '.join(FORMATS)}")
    bus = _number(call, "-b", given["-b"]) if "-b" in given else 0
    snaplen = _number(call, "-s", given["-s"]) if "-s" in given else DEFAULT_SNAPLEN
    if shell.capture is not None:
        call.error(f"capture: already writing {shell.capture.path}; capture stop first")
        return 1
    try:
        shell.capture = capture(call.system, path, bus=bus or None, snaplen=snaplen,
                                fmt=fmt).start()  # type: ignore[arg-type]
    except ValueError as exc:
        raise UsageError(f"capture: {exc}") from None
    except OSError as exc:
        call.error(f"capture: {path}: {strerror(exc)}")
        return 1
    return 0
