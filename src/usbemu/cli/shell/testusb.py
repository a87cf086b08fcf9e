"""The shell's `testusb` command — tools/usb/testusb.c run as a process of the machine: the
usbtest driver's test cases on its test devices, through usbfs (`usbemu.cli.testusb`).

Options are testusb's (-a, -A DIR, -D PATH, -t N, -c N, -s N, -v N, -g N, -n); results go
to standard output and the device list to the error stream, worded as testusb words them.
"""

from __future__ import annotations

from ..testusb import TestusbOptions, parse_num, testusb
from .invocation import Invocation, UsageError, parse_options

__all__ = ["TESTUSB_USAGE", "do_testusb"]

TESTUSB_USAGE = "testusb [-a | -A DIR | -D PATH] [-n] [-t N] [-c N] [-s N] [-v N] [-g N]"

#: -c, -s, -v, -g: TestusbOptions fields parsed with parse_num().
_NUMBERS = {"-c": "iterations", "-s": "length", "-v": "vary", "-g": "sglen"}


def _options(call: Invocation) -> TestusbOptions:
    opts_given, rest = parse_options(call, "D:aA:c:g:ns:t:v:")
    if rest:
        raise UsageError(f"testusb: unexpected argument '{rest[0]}'")
    opts = TestusbOptions()
    for opt, value in opts_given:
        if opt == "-D":
            opts.device = value
        elif opt in ("-a", "-A"):
            opts.device, opts.all = None, True
            opts.usb_dir = value if opt == "-A" else opts.usb_dir
        elif opt == "-n":
            opts.list_only = True
        elif opt == "-t":
            if not value.lstrip("-").isdigit() or int(value) < 0:
                raise UsageError(f"testusb: -t {value}: a test number is 0 or more")
            opts.test = int(value)
        else:
            try:
                setattr(opts, _NUMBERS[opt], parse_num(value))
            except ValueError:
                raise UsageError(f"testusb: {opt} {value}: not an unsigned number") from None
    return opts


def do_testusb(call: Invocation) -> int:
    """testusb on the shell's machine; its exit status.  May sleep."""
    opts = _options(call)
    return call.shell.run_on_machine(
        testusb(call.system, opts, lambda line: call.out.write(line + "\n"),
                call.shell.report))
