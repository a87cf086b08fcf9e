"""The shell's input commands: `evtest DEVICE` (evtest's header and event lines for
/dev/input/eventN; `cat` of such a node prints the same event lines), and the hands on the
HID device models: `mouse`, `keyboard` and `tablet` play one
action of a script (the words of `emulated.hid_script.Script.parse`: move 10 -5, click
right, wheel -1, type "hello", tap ctrl+c, move-to 16384 16384) on a plugged model of that
kind, and `type TEXT` types on the keyboard.

The model is the one of its kind that is plugged in, or the one at `-p PORT` when there are
several.  The action is queued on the model at once, or after `wait MS` of machine time;
the host sees it when it next polls the interrupt endpoint, which happens while something
reads the device: a reader of /dev/input/eventN opens the input device, and the driver
then submits its URB.  usbhid, as Linux's, drops what the device reports in the first 50 ms
after that open (events nobody was listening for), so a reader started after the action
misses it; `mouse wait 100 move 10 -5` followed by `timeout 1 evtest /dev/input/event0`
shows the move.
Usage lines and help texts are in the command table.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Final

from ...emulated.hid import HidDevice
from ...emulated.hid_script import Script
from ...emulated.models.keyboard import BootKeyboard
from ...emulated.models.mouse import BootMouse
from ...emulated.models.tablet import Tablet
from ...kernel.evdev import EVDEV_MINOR_BASE, evtest_header
from ...kernel.fs import dev_major, dev_minor
from ...kernel.input import INPUT_MAJOR
from ...kernel.input_event_codes import INPUT_EVENT_SIZE, decode_events
from ...kernel.syscalls import AsyncFile
from .completion import ArgCompleter, starting
from .invocation import Invocation, UsageError

if TYPE_CHECKING:
    from .interpreter import Shell

#: Command name → the model class it drives and the plural used in messages.
KINDS: Final[dict[str, tuple[type[HidDevice], str]]] = {
    "mouse": (BootMouse, "mice"),
    "keyboard": (BootKeyboard, "keyboards"),
    "tablet": (Tablet, "tablets"),
}

#: The actions each kind takes (the rest of Script.parse's words do nothing useful on it).
ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "mouse": ("move", "wheel", "press", "release", "click"),
    "keyboard": ("type", "press", "release", "tap"),
    "tablet": ("move-to", "move", "wheel", "press", "release", "click"),
}


class _NoModel(Exception):
    """No model (or no single one) to drive; the message says what to do."""


def _port_and_words(call: Invocation) -> tuple[str | None, list[str]]:
    """`-p PORT` may come first; everything after is the action (so `move 10 -5`'s -5 is
    a number, not an option)."""
    args = list(call.args)
    port = None
    if args[:1] == ["-p"]:
        if len(args) < 2:
            raise UsageError(f"{call.name}: option requires an argument -- 'p'")
        port, args = args[1], args[2:]
    elif args[:1] and args[0].startswith("-p") and len(args[0]) > 2:
        port, args = args[0][2:], args[1:]
    return port, args


def find_model(shell: Shell, kind: str, port: str | None) -> tuple[str, HidDevice]:
    """(port path, model) of the plugged model of `kind`, the one at `port` if given.
    Raises _NoModel saying what is plugged instead."""
    cls, plural = KINDS[kind]
    found = [(path, model) for path, model in shell.system.models()
             if isinstance(model, cls)]
    if port is not None:
        for path, model in found:
            if path == port:
                return path, model
        where = ", ".join(path for path, _ in found) or "none"
        raise _NoModel(f"no {kind} is plugged in at {port} ({plural}: {where})")
    if not found:
        raise _NoModel(f"no {kind} is plugged in (plug {kind})")
    if len(found) > 1:
        where = ", ".join(path for path, _ in found)
        raise _NoModel(f"{len(found)} {plural} are plugged in ({where}): say which with "
                       f"-p PORT")
    return found[0]


def _delay(call: Invocation, words: list[str]) -> tuple[list[str], list[str]]:
    """A leading `wait MS` (the action starts MS milliseconds of machine time from now):
    (its script line, the rest)."""
    if words[:1] != ["wait"]:
        return [], words
    if len(words) < 3:
        raise UsageError(f"{call.name}: wait takes milliseconds, then an action")
    return words[:2], words[2:]


def _play(call: Invocation, kind: str, port: str | None, words: list[str]) -> int:
    delay, words = _delay(call, words)
    verb = words[0].lower()
    if verb not in ACTIONS[kind]:
        raise UsageError(f"{call.name}: unknown action '{words[0]}' (a {kind} takes "
                         f"{', '.join(ACTIONS[kind])})")
    try:
        lines = [shlex.join(line) for line in (delay, words) if line]
        script = Script.parse("\n".join(lines))
        _, model = find_model(call.shell, kind, port)
        model.play(script)
    except _NoModel as exc:
        call.error(f"{call.name}: {exc}")
        return 1
    except ValueError as exc:
        raise UsageError(f"{call.name}: {str(exc).split(': ', 2)[-1]}") from None
    return 0


def do_hid(call: Invocation) -> int:
    """mouse, keyboard, tablet: one action on the model of that kind."""
    port, words = _port_and_words(call)
    if not words:
        raise UsageError(f"{call.name}: missing action ({', '.join(ACTIONS[call.name])})")
    return _play(call, call.name, port, words)


def do_type(call: Invocation) -> int:
    """type [wait MS] TEXT...: the words, joined by spaces, typed on the keyboard."""
    port, words = _port_and_words(call)
    delay, words = _delay(call, words)
    if not words:
        raise UsageError("type: missing text")
    return _play(call, "keyboard", port, [*delay, "type", " ".join(words)])


def hid_completer(kind: str) -> ArgCompleter:
    """Completion for `kind`'s command: its actions, or the ports of its models after
    -p."""
    cls = KINDS[kind][0]

    def complete(shell: Shell, args: list[str], word: str) -> list[str]:
        if args == ["-p"]:
            return starting(word, [path for path, model in shell.system.models()
                                   if isinstance(model, cls)])
        if not args or (args[0] == "-p" and len(args) == 2):
            return starting(word, ACTIONS[kind])
        return []

    return complete


# -- evtest ---------------------------------------------------------------------------------------

#: Events asked for by one read (evtest reads 64 at a time).
_EVENTS_PER_READ: Final = 64


def is_evdev(afile: AsyncFile) -> bool:
    """Whether an open file is an evdev node (major 13, minor 64 and up)."""
    rdev = afile.file.f_inode.i_rdev
    return dev_major(rdev) == INPUT_MAJOR and dev_minor(rdev) >= EVDEV_MINOR_BASE


def print_events(call: Invocation, afile: AsyncFile) -> None:
    """evtest's line for every event read from `afile` until end of file, an error or the
    command is stopped (Ctrl-C, timeout).  Raises OSError (ENODEV once the device is
    gone)."""
    for chunk in call.shell.read_chunks(afile, _EVENTS_PER_READ * INPUT_EVENT_SIZE):
        call.out.write("".join(f"{event}\n" for event in decode_events(chunk)))


def do_evtest(call: Invocation) -> int:
    """evtest DEVICE: the device's description, then its events as they come."""
    if len(call.args) != 1:
        raise UsageError("evtest: expected one device, e.g. evtest /dev/input/event0")
    path = call.args[0]
    try:
        afile = call.shell.open(path, "rb")
        try:
            if not is_evdev(afile):
                call.error(f"evtest: {path}: not an event device (/dev/input/eventN)")
                return 1
            header = call.shell.run_on_machine(evtest_header(afile))
            call.out.write(header if header.endswith("\n") else header + "\n")
            print_events(call, afile)
        finally:
            call.shell.close(afile)
    except OSError as exc:
        call.error(f"evtest: {path}: {exc.strerror}")
        return 1
    return 0
