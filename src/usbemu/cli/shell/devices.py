"""The shell's commands on the machine's devices and clock: lsusb (usbutils, with -t, -v,
-s and -d), dmesg (util-linux, -c and -C), plug and unplug (usbemu's hands on the
hardware), sleep (machine time passes) and stats (the host controllers' schedule
statistics), with the completers of plug, unplug and stats.

lsusb's formats and its -s/-d filter come from `bridges.lsusb`, as `usbemu lsusb`'s do;
plugging goes through `cli.machine`, as the one-shot commands and scenarios do, and the
statistics through `cli.stats`, as `usbemu stats`'s do.  Usage lines and help texts are in
the command table.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...bridges.lsusb import DeviceFilter, lsusb_t, lsusb_v
from ...bridges.lsusb import lsusb as lsusb_list
from ...emulated.models import available_models, load_model
from ...errors import PluginNotFound
from ...kernel.vtime import MAX_SLEEP_DAYS, MAX_SLEEP_MS, NS_PER_S, sleep_ns, to_ns
from ..machine import model_options, parse_plug, plug, unplug
from ..stats import bus_statistics
from .completion import complete_host, starting
from .invocation import Invocation, UsageError, flag_set, parse_options

if TYPE_CHECKING:
    from .interpreter import Shell


def do_lsusb(call: Invocation) -> int:
    opts, operands = parse_options(call, "tvs:d:")
    if operands:
        raise UsageError(f"lsusb: unexpected argument '{operands[0]}'")
    verbose = sum(opt == "-v" for opt, _ in opts)
    values = {opt: value for opt, value in opts}
    try:
        only = DeviceFilter.parse(values.get("-s"), values.get("-d"))
    except ValueError as exc:
        raise UsageError(f"lsusb: {exc}") from None
    if "t" in flag_set(opts):
        call.out.write(lsusb_t(call.system, verbose=min(verbose, 2)))
        return 0
    text = (lsusb_v if verbose else lsusb_list)(call.system, only=only)
    call.out.write(text)
    return 0 if text else 1


def do_dmesg(call: Invocation) -> int:
    opts, operands = parse_options(call, "cC")
    if operands:
        raise UsageError(f"dmesg: bad usage: unexpected argument '{operands[0]}'")
    flags = flag_set(opts)
    if "C" not in flags:
        call.out.write(call.system.dmesg())
    if flags & {"c", "C"}:
        call.system.log.clear()
    return 0


def do_plug(call: Invocation) -> int:
    spec, options, port = parse_plug(call.args)
    path = plug(call.system, spec, options, port)
    call.out.write(f"plugged {spec} at {path}\n")
    return 0


def do_unplug(call: Invocation) -> int:
    if len(call.args) != 1:
        raise UsageError("unplug: expected one port path, e.g. unplug 1-1")
    unplug(call.system, call.args[0])
    return 0


_BUSNUM = re.compile(r"[0-9]+")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)?")


def do_sleep(call: Invocation) -> int:
    match = _DURATION.fullmatch(call.args[0]) if len(call.args) == 1 else None
    if match is None:
        raise UsageError("sleep: expected one duration, in milliseconds (250, 250ms) or "
                         f"seconds (2s), of at most {MAX_SLEEP_MS} ms ({MAX_SLEEP_DAYS} days)")
    number = float(match[1])                 # inf for a number too long for a float
    in_seconds = match[2] == "s"
    if (number * 1000 if in_seconds else number) > MAX_SLEEP_MS:
        call.error(f"sleep: invalid time interval '{call.args[0]}': the longest sleep is "
                   f"{MAX_SLEEP_MS} ms ({MAX_SLEEP_DAYS} days) of machine time")
        return 1
    call.shell.run_on_machine(sleep_ns(to_ns(number, NS_PER_S if in_seconds else 1_000_000)))
    return 0


def do_stats(call: Invocation) -> int:
    if len(call.args) > 1:
        raise UsageError(f"stats: unexpected argument '{call.args[1]}'")
    busnum = None
    if call.args:
        if _BUSNUM.fullmatch(call.args[0]) is None:
            raise UsageError(f"stats: '{call.args[0]}' is not a bus number (decimal, as "
                             "lsusb shows it: 1 or 001)")
        busnum = int(call.args[0], 10)
    call.out.write("\n".join(bus.text() for bus in bus_statistics(call.system, busnum)))
    return 0


def complete_plug(shell: Shell, args: list[str], word: str) -> list[str]:
    if not args:
        if "/" in word:
            return complete_host(word)
        return starting(word, available_models())
    if args[-1] == "at":
        return starting(word, shell.free_ports())
    if "at" in args:
        return []
    try:
        accepted = model_options(load_model(args[0]))
    except (PluginNotFound, ImportError):
        accepted = {}
    return starting(word, [f"{name}=" for name in accepted] + ["at"])


def complete_unplug(shell: Shell, args: list[str], word: str) -> list[str]:
    return [] if args else starting(word, shell.plugged_ports())


def complete_stats(shell: Shell, args: list[str], word: str) -> list[str]:
    return [] if args else starting(word, (str(n) for n in shell.system.usb.buses))
