"""The shell's command table, `COMMANDS`: for each command its handler, usage line,
one-line help, argument completer, usage-error status and whether bash has it built in —
the one place a command's help text and completion are declared.  A new command is one
entry.  It also holds the commands about the table and the session: help, exit and quit,
and timeout, which runs another command of the table with a deadline.

The handlers live with their kind (`files`, `modules`, `devices`); running a line and
choosing a completer is the interpreter's (`Shell`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..faults import FAULT_USAGE
from .capture import do_capture
from .completion import ArgCompleter, complete_nothing, complete_vfs, starting
from .devices import (
    complete_plug,
    complete_stats,
    complete_unplug,
    do_dmesg,
    do_lsusb,
    do_plug,
    do_sleep,
    do_stats,
    do_unplug,
)
from .faults import complete_fault, do_fault
from .files import do_cat, do_echo, do_hexdump, do_ls, do_readlink, do_rm
from .hid import do_evtest, do_hid, do_type, hid_completer
from .invocation import Invocation, UsageError
from .modules import (
    complete_insmod,
    complete_modprobe,
    complete_rmmod,
    do_insmod,
    do_lsmod,
    do_modprobe,
    do_rmmod,
)
from .stty import complete_stty, do_stty
from .testusb import TESTUSB_USAGE, do_testusb

if TYPE_CHECKING:
    from .interpreter import Shell


@dataclass(frozen=True)
class Command:
    """A shell command: its handler, usage line, one-line help, how its arguments complete,
    the status of a usage error, and whether bash has it built in (its messages then start
    `usbemu: `, as bash's start `-bash: `)."""

    run: Callable[[Invocation], int]
    usage: str
    summary: str
    complete: ArgCompleter = complete_nothing
    usage_status: int = 1
    builtin: bool = False
    literal_args: bool = False   # --help is an argument like any other (echo)


def complete_commands(shell: Shell, args: list[str], word: str) -> list[str]:
    """Command names: the first word of a line, and help's arguments."""
    return starting(word, COMMANDS)


def do_help(call: Invocation) -> int:
    if not call.args:
        call.out.write(_help_text())
        return 0
    status = 0
    for name in call.args:
        command = COMMANDS.get(name)
        if command is None:
            call.error(f"help: no help topics match `{name}'.  Try `help' for the list.")
            status = 1
            continue
        call.out.write(f"Usage: {command.usage}\n{command.summary}\n")
    return status


def _help_text() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["Commands ('help COMMAND' for its usage; COMMAND --help too):\n"]
    lines += [f"  {name:<{width}}  {cmd.summary}\n" for name, cmd in COMMANDS.items()]
    lines.append("Lines are split as sh splits them: quotes, backslashes, # comments; "
                 "> FILE and >> FILE\nwrite a command's output into a file of the machine. "
                 "No pipes, variables or globbing.\n")
    return "".join(lines)


def do_exit(call: Invocation) -> int:
    shell = call.shell
    if len(call.args) > 1:
        call.error(f"{call.name}: too many arguments")
        return 1
    status = shell.last_status
    if call.args:
        try:
            status = int(call.args[0], 10)
        except ValueError:
            call.error(f"{call.name}: {call.args[0]}: numeric argument required")
            status = 2
    shell.exit_requested = status & 0xFF
    return status & 0xFF


_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _duration(text: str) -> float | None:
    """coreutils timeout's DURATION: a number, then s, m, h or d (seconds by default)."""
    unit = text[-1:] if text[-1:] in _DURATION_UNITS else ""
    try:
        value = float(text[:len(text) - len(unit)]) * _DURATION_UNITS[unit]
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def do_timeout(call: Invocation) -> int:
    if len(call.args) < 2:
        raise UsageError("timeout: missing operand")
    seconds = _duration(call.args[0])
    if seconds is None:
        raise UsageError(f"timeout: invalid time interval '{call.args[0]}'")
    name, args = call.args[1], call.args[2:]
    command = COMMANDS.get(name)
    if command is None:
        call.error(f"timeout: failed to run command '{name}': No such file or directory")
        return 127
    inner = Invocation(call.shell, name, args, call.out, command)
    # coreutils: a duration of 0 disables the timeout
    return call.shell.run_with_deadline(seconds or None, inner)


def complete_timeout(shell: Shell, args: list[str], word: str) -> list[str]:
    """The duration, then a command and its arguments as that command completes them."""
    if not args:
        return []
    if len(args) == 1:
        return complete_commands(shell, [], word)
    command = COMMANDS.get(args[1])
    return command.complete(shell, args[2:], word) if command is not None else []



#: Command name → handler, usage, help, completion.  `help` lists them in this order.
COMMANDS: dict[str, Command] = {
    "lsusb": Command(do_lsusb, "lsusb [-t] [-v] [-s [[bus]:][devnum]] [-d [vendor]:[product]]",
                     "list USB devices (usbutils' formats; -t tree, -v descriptors)"),
    "dmesg": Command(do_dmesg, "dmesg [-c | -C]",
                     "print the kernel log (-c: then clear it, -C: only clear it)"),
    "cat": Command(do_cat, "cat FILE...", "print files of the machine (sysfs, /proc, /dev)",
                   complete_vfs),
    "ls": Command(do_ls, "ls [-1adl] [FILE...]",
                  "list directories of the machine (-l: modes, device numbers, links)",
                  complete_vfs, usage_status=2),
    "readlink": Command(do_readlink, "readlink [-f] FILE...",
                        "print a symbolic link's target (-f: the canonical path)",
                        complete_vfs),
    "rm": Command(do_rm, "rm [-f] FILE...",
                  "remove files (those of /etc/modprobe.d; sysfs and /dev files stay)",
                  complete_vfs),
    "echo": Command(do_echo, "echo [-neE] [WORD...] [> FILE | >> FILE]",
                    "print words, or write them to a file (a sysfs attribute, /dev/pen0)",
                    complete_nothing, builtin=True, literal_args=True),
    "hexdump": Command(do_hexdump, "hexdump [-C] FILE...",
                       "dump files in hex (util-linux; -C: bytes and ASCII)", complete_vfs),
    "insmod": Command(do_insmod, "insmod NAME|FILE [PARAM=VALUE...]",
                      "load a module (kmod; examples such as pen_driver by name)",
                      complete_insmod),
    "rmmod": Command(do_rmmod, "rmmod NAME...", "unload modules (kmod)", complete_rmmod),
    "modprobe": Command(do_modprobe, "modprobe NAME [PARAM=VALUE...] | modprobe -r NAME...",
                        "load an installed module and what it needs, or remove (-r)",
                        complete_modprobe),
    "lsmod": Command(do_lsmod, "lsmod", "list loaded modules (kmod)"),
    "plug": Command(do_plug, "plug MODEL|CLONE-FILE [NAME=VALUE...] [at PORT-PATH]",
                    "plug a device model in (the first free root-hub port by default)",
                    complete_plug),
    "unplug": Command(do_unplug, "unplug PORT-PATH", "unplug the device at a port, e.g. 1-1",
                      complete_unplug),
    "fault": Command(do_fault, FAULT_USAGE,
                     "inject faults into a device (stall, nak, crc, disconnect, descriptor "
                     "corruption …), list them and what they hit, clear them", complete_fault),
    "evtest": Command(do_evtest, "evtest /dev/input/eventN",
                      "describe an input device and print its events until stopped (Ctrl-C, "
                      "timeout)", complete_vfs),
    "mouse": Command(do_hid, "mouse [-p PORT] [wait MS] move DX DY | wheel N | "
                     "click|press|release [BUTTONS]",
                     "move or click the plugged mouse (buttons: left, right, middle, side, "
                     "extra, joined by +)", hid_completer("mouse")),
    "keyboard": Command(do_hid, "keyboard [-p PORT] [wait MS] type TEXT | "
                        "tap|press|release KEYS",
                        "type on the plugged keyboard, or tap a combination (ctrl+alt+del)",
                        hid_completer("keyboard")),
    "type": Command(do_type, "type [-p PORT] [wait MS] TEXT...",
                    "type text on the plugged keyboard (the same as keyboard type)"),
    "tablet": Command(do_hid, "tablet [-p PORT] [wait MS] move-to X Y | move DX DY | "
                      "wheel N | click|press|release [BUTTONS]",
                      "move or click the plugged tablet (X and Y in its logical units, "
                      "0..32767)", hid_completer("tablet")),
    "sleep": Command(do_sleep, "sleep MILLISECONDS | sleep SECONDSs",
                     "let machine time pass (instant on virtual time)"),
    "stats": Command(do_stats, "stats [BUS]",
                     "the host controllers' schedule statistics, per bus (ehci: frames, bus "
                     "use, endpoints)", complete_stats),
    "capture": Command(do_capture, "capture -w FILE [-f pcapng|pcap|text] [-b BUS] "
                       "[-s SNAPLEN] | capture stop | capture",
                       "write every URB to a capture file on the host (usbmon; Wireshark "
                       "reads pcap and pcapng), stop it, or say what is being written",
                       usage_status=2),
    "stty": Command(do_stty, "stty -F DEVICE [-a | -g | SETTING...]",
                    "print or change a tty's settings (GNU stty: -a, raw, -echo, 115200 …)",
                    complete_stty),
    "testusb": Command(do_testusb, TESTUSB_USAGE,
                       "run the usbtest driver's test cases on test devices (gadget zero) "
                       "through usbfs, as tools/usb/testusb does"),
    "timeout": Command(do_timeout, "timeout DURATION COMMAND [ARG...]",
                       "run a command for at most DURATION (seconds; s, m, h, d) of machine "
                       "time; status 124 when it ran out", complete_timeout, usage_status=125),
    "help": Command(do_help, "help [COMMAND...]", "list commands, or show a command's usage",
                    complete_commands, usage_status=2, builtin=True),
    "exit": Command(do_exit, "exit [N]", "leave the shell with status N (default: the last "
                    "command's)", usage_status=2, builtin=True),
    "quit": Command(do_exit, "quit [N]", "the same as exit", usage_status=2, builtin=True),
}
