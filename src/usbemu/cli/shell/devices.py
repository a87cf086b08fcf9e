"""The shell's commands on the machine's devices and clock: lsusb (usbutils, with -t, -v,
-s and -d), dmesg (util-linux, -c and -C), plug and unplug (usbemu's hands on the
hardware) and sleep (machine time passes), with the completers of plug and unplug.

lsusb's formats come from `bridges.lsusb`; plugging goes through `cli.machine`, as the
one-shot commands and scenarios do.  Usage lines and help texts are in the command table.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from ...bridges.lsusb import lsusb as lsusb_list
from ...bridges.lsusb import lsusb_t, lsusb_v
from ...emulated.models import available_models, load_model
from ...errors import PluginNotFound
from ..machine import model_options, parse_plug, plug, unplug
from .completion import complete_host, starting
from .invocation import Invocation, UsageError, flag_set, parse_options

if TYPE_CHECKING:
    from .interpreter import Shell


def _parse_bus_dev(value: str) -> tuple[int | None, int | None]:
    """lsusb -s [[bus]:][devnum]."""
    bus_text, _, dev_text = value.rpartition(":")
    try:
        bus = int(bus_text, 10) if bus_text else None
        dev = int(dev_text, 10) if dev_text else None
    except ValueError:
        raise UsageError(f"lsusb: invalid -s argument '{value}': expected "
                         "[[bus]:][devnum] in decimal") from None
    return bus, dev


def _parse_ids(value: str) -> tuple[int | None, int | None]:
    """lsusb -d [vendor]:[product]."""
    vendor_text, colon, product_text = value.partition(":")
    try:
        if not colon:
            raise ValueError(value)
        vendor = int(vendor_text, 16) if vendor_text else None
        product = int(product_text, 16) if product_text else None
        if max(vendor or 0, product or 0) > 0xFFFF:
            raise ValueError(value)
    except ValueError:
        raise UsageError(f"lsusb: invalid -d argument '{value}': expected "
                         "[vendor]:[product] in hexadecimal") from None
    return vendor, product


_BUS_LINE = re.compile(r"^Bus (\d{3}) Device (\d{3}): ID ([0-9a-f]{4}):([0-9a-f]{4})", re.M)


def _device_chunks(text: str, verbose: bool) -> list[str]:
    """lsusb's output cut per device (with -v, each device's blank line goes with it)."""
    starts = [m.start() - (1 if verbose else 0) for m in _BUS_LINE.finditer(text)]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def do_lsusb(call: Invocation) -> int:
    opts, operands = parse_options(call, "tvs:d:")
    if operands:
        raise UsageError(f"lsusb: unexpected argument '{operands[0]}'")
    verbose = sum(opt == "-v" for opt, _ in opts)
    bus = dev = vendor = product = None
    for opt, value in opts:
        if opt == "-s":
            bus, dev = _parse_bus_dev(value)
        elif opt == "-d":
            vendor, product = _parse_ids(value)
    if "t" in flag_set(opts):
        call.out.write(lsusb_t(call.system, verbose=min(verbose, 2)))
        return 0
    text = lsusb_v(call.system) if verbose else lsusb_list(call.system)
    wanted = (bus, dev, vendor, product)
    shown = []
    for chunk in _device_chunks(text, bool(verbose)):
        match = _BUS_LINE.search(chunk)
        if match is None:
            continue
        found = (int(match[1]), int(match[2]), int(match[3], 16), int(match[4], 16))
        if all(w is None or w == f for w, f in zip(wanted, found, strict=True)):
            shown.append(chunk)
    call.out.write("".join(shown))
    return 0 if shown else 1


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


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)?")


def do_sleep(call: Invocation) -> int:
    match = _DURATION.fullmatch(call.args[0]) if len(call.args) == 1 else None
    if match is None:
        raise UsageError("sleep: expected one duration: milliseconds (250, 250ms) or "
                         "seconds (2s)")
    seconds = float(match[1]) / (1 if match[2] == "s" else 1000)
    call.shell.run_on_machine(asyncio.sleep(seconds))
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
