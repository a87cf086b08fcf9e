"""`usbemu shell` — a login shell on an emulated machine, with the user-space tools a Linux
user reaches for when a USB device comes and goes.

The commands mirror bash's builtins (echo, help, exit), coreutils (cat, ls, readlink,
sleep, stty, timeout), util-linux (dmesg, hexdump), usbutils (lsusb) and kmod (insmod,
rmmod, modprobe, lsmod): their options, output formats, messages and exit statuses, reading
the machine's files and calling its kernel where the real tool does.  `plug` and `unplug`
are usbemu's own hands on the hardware, `stats` its view of what the host controllers'
schedules did.  A line is split as sh splits it (shlex: quotes, backslashes, `#`
comments), and `> FILE` or `>> FILE` sends a command's output into a node of the machine —
a sysfs attribute such as a driver's `unbind`, or a device node such as /dev/pen0 or
/dev/ttyUSB0.

It is not a full shell: no pipes, lists, variables, globbing, job control or cd (the working
directory is /, so relative paths start there).  Machine time advances only while a command
runs; between commands the machine stands still, on real time as on virtual time.

The package, one responsibility a module:

- `syntax`: splitting a line into words and a redirection, as sh does;
- `invocation`: what a command is given — arguments, output, error messages, getopt;
- `commands`: the command table (`COMMANDS`: handler, usage, help, completion), help, exit,
  timeout;
- `files`: cat, ls, readlink, echo, hexdump — the machine's file tree;
- `hexdump`: util-linux hexdump's output formats;
- `stty`: GNU stty on the machine's ttys — its settings table, formats and messages;
- `modules`: insmod, rmmod, modprobe, lsmod (kmod);
- `devices`: lsusb, dmesg, plug, unplug, sleep, stats — the machine's devices and clock;
- `completion`: what the argument completers of the commands share;
- `interpreter`: `Shell` — runs one line, proposes completions;
- `frontend`: `run_shell` — piped input like `sh -e`, or interactive (prompt_toolkit).

This module is the entry point: it holds no code of its own.
"""

from .frontend import run_shell
from .interpreter import Shell

__all__ = ["Shell", "run_shell"]
