"""`usbemu shell` — a login shell on an emulated machine, with the user-space tools a Linux
user reaches for when a USB device comes and goes.

The commands mirror bash's builtins (echo, help, exit), coreutils (cat, ls, readlink,
sleep), util-linux (dmesg, hexdump), usbutils (lsusb) and kmod (insmod, rmmod, modprobe,
lsmod): their options, output formats, messages and exit statuses, reading the machine's
files and calling its kernel where the real tool does.  `plug` and `unplug` are usbemu's own
hands on the hardware.  A line is split as sh splits it (shlex: quotes, backslashes, `#`
comments), and `> FILE` or `>> FILE` sends a command's output into a node of the machine —
a sysfs attribute such as a driver's `unbind`, or a device node such as /dev/pen0.

It is not a full shell: no pipes, lists, variables, globbing, job control or cd (the working
directory is /, so relative paths start there).  Machine time advances only while a command
runs; between commands the machine stands still, on real time as on virtual time.

`Shell` runs command lines; `run_shell` drives it interactively (prompt_toolkit, completion,
history) or over piped input like `sh -e`.  `COMMANDS` is the table of commands.
"""

from __future__ import annotations

import asyncio
import getopt
import os
import posixpath
import re
import shlex
import shutil
import stat as stat_mod
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from ..bridges.lsusb import lsusb as lsusb_list
from ..bridges.lsusb import lsusb_t, lsusb_v
from ..emulated.models import available_models, load_model
from ..errors import ModuleError, PluginNotFound
from ..kernel.chrdev import AsyncFile
from ..kernel.device import Driver
from ..kernel.module import EXAMPLE_MODULES
from ..kernel.vfs import Stat
from ..system import System
from .machine import (
    MachineError,
    free_ports,
    model_options,
    parse_plug,
    plug,
    plugged_models,
    unplug,
)

__all__ = ["COMMANDS", "PROMPT", "Command", "Invocation", "ParsedLine", "Shell",
           "ShellSyntaxError", "banner", "columns", "hexdump_canonical", "hexdump_words",
           "history_path", "parse_line", "run_shell"]

T = TypeVar("T")

PROMPT = "usbemu# "
_READ_SIZE_CAT = 128 * 1024   # coreutils' io_blksize
_READ_SIZE_STDIO = 4096       # what stdio's fread asks of a character device
_OLD_DATE = "Jan  1  1970"    # ls -l of a file older than six months: the machine has no RTC


class _UsageError(Exception):
    """The user typed a command wrongly; the message says how, the usage line follows."""


class ShellSyntaxError(ValueError):
    """A line the shell cannot split into one command; the message says why."""


# -- splitting a line ---------------------------------------------------------------------------

_UNSUPPORTED = "|;&<()`"


@dataclass(frozen=True)
class ParsedLine:
    """One command: its words, and where its output goes (None: standard output)."""

    words: list[str]
    redirect: tuple[str, str] | None = None   # (">" or ">>", path)


def _scan(line: str) -> list[tuple[str, str]]:
    """Cut `line` at its unquoted `>` and `>>` (and at an unquoted comment): the command's
    text, then (operator, text) for each redirection.  Raises ShellSyntaxError for the operators
    this shell does not have and for an unclosed quote."""
    pieces: list[tuple[str, str]] = []
    op, start, quote, i = "", 0, "", 0
    while i < len(line):
        char = line[i]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                i += 1
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            break
        elif char in _UNSUPPORTED:
            raise ShellSyntaxError(f"`{char}' is not supported: one command per line, output "
                               "redirected with > FILE or >> FILE")
        elif char == ">":
            if re.search(r"(^|\s)\d+$", line[start:i]):
                raise ShellSyntaxError("only standard output can be redirected (> FILE, >> FILE)")
            pieces.append((op, line[start:i]))
            op = ">>" if line[i + 1:i + 2] == ">" else ">"
            i += len(op)
            start = i
            continue
        i += 1
    if quote:
        raise ShellSyntaxError(f"unexpected end of line while looking for matching `{quote}'")
    pieces.append((op, line[start:i]))
    return pieces


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:       # a backslash at the end of the line
        raise ShellSyntaxError(f"syntax error: {exc}") from None


def parse_line(line: str) -> ParsedLine | None:
    """Split a command line as sh does (quotes, backslashes, `#` comments, `> FILE`,
    `>> FILE`); None for an empty line or a comment.  Raises ShellSyntaxError."""
    (_, text), *redirects = _scan(line)
    words = _split(text)
    if len(redirects) > 1:
        raise ShellSyntaxError("only one output redirection per command")
    redirect = None
    for op, target_text in redirects:
        target = _split(target_text)
        if not target:
            raise ShellSyntaxError("syntax error near unexpected token `newline'")
        redirect = (op, target[0])
        words.extend(target[1:])
    if not words:
        if redirect is not None:
            raise ShellSyntaxError("a redirection needs a command")
        return None
    return ParsedLine(words, redirect)


# -- what a command writes to ---------------------------------------------------------------------


class _Output:
    """A command's standard output: a text stream (bytes go to its binary buffer when it
    has one), or a buffer that the shell writes to a file afterwards."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.captured = bytearray()

    def write(self, text: str) -> None:
        if self.stream is None:
            self.captured += text.encode()
        else:
            self.stream.write(text)

    def write_bytes(self, data: bytes) -> None:
        if self.stream is None:
            self.captured += data
            return
        buffer = getattr(self.stream, "buffer", None)
        if buffer is None:
            self.stream.write(data.decode("utf-8", errors="replace"))
            return
        self.stream.flush()
        buffer.write(data)
        buffer.flush()

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()


@dataclass
class Invocation:
    """One run of a command: the shell, the command's name and arguments, its output."""

    shell: Shell
    name: str
    args: list[str]
    out: _Output
    command: Command

    @property
    def system(self) -> System:
        return self.shell.system

    def error(self, text: str) -> None:
        """Print a message on the shell's error stream, as the tool words it."""
        self.shell.report(text, shell_level=self.command.builtin)


def _strerror(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _abspath(path: str) -> str:
    """The working directory is /."""
    return path if path.startswith("/") else "/" + path


def _options(call: Invocation, shortopts: str) -> tuple[list[tuple[str, str]], list[str]]:
    """getopt_long's parse (options may follow operands), with its messages."""
    try:
        return getopt.gnu_getopt(call.args, shortopts)
    except getopt.GetoptError as exc:
        if exc.msg.startswith("option --"):
            raise _UsageError(f"{call.name}: unrecognized option '--{exc.opt}'") from None
        if "requires argument" in exc.msg:
            raise _UsageError(f"{call.name}: option requires an argument -- "
                              f"'{exc.opt}'") from None
        raise _UsageError(f"{call.name}: invalid option -- '{exc.opt}'") from None


def _flags(opts: Iterable[tuple[str, str]]) -> set[str]:
    return {opt.lstrip("-") for opt, _ in opts}


# -- hexdump (util-linux) -------------------------------------------------------------------------


def _hexdump(data: bytes, line: Callable[[int, bytes], str], offset_digits: int) -> str:
    """hexdump's display loop: 16-byte blocks, a repeat of the block before shown once as
    `*`, then the final offset; nothing at all for no data."""
    if not data:
        return ""
    out: list[str] = []
    previous: bytes | None = None
    starred = False
    for offset in range(0, len(data), 16):
        block = data[offset:offset + 16]
        if len(block) == 16 and block == previous:
            if not starred:
                out.append("*\n")
                starred = True
            continue
        previous, starred = block, False
        out.append(line(offset, block))
    out.append(f"{len(data):0{offset_digits}x}\n")
    return "".join(out)


def _canonical_line(offset: int, block: bytes) -> str:
    """`"%08.8_ax  " 8/1 "%02x " "  " 8/1 "%02x "` then `"  |" 16/1 "%_p" "|\\n"`."""
    cells = [f"{b:02x}" for b in block] + ["  "] * (16 - len(block))
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in block)
    return f"{offset:08x}  {' '.join(cells[:8])}  {' '.join(cells[8:])}  |{text}|\n"


def _words_line(offset: int, block: bytes) -> str:
    """`"%07.7_ax " 8/2 "%04x "`: 16-bit words in the host's (little-endian) order, the
    last odd byte zero-padded, missing words as blanks."""
    padded = block + b"\0" * (len(block) % 2)
    cells = [f"{padded[i] | padded[i + 1] << 8:04x}" if i < len(block) else "    "
             for i in range(0, 16, 2)]
    return f"{offset:07x} {' '.join(cells)}\n"


def hexdump_canonical(data: bytes) -> str:
    """What util-linux `hexdump -C` prints for `data`."""
    return _hexdump(data, _canonical_line, 8)


def hexdump_words(data: bytes) -> str:
    """What util-linux `hexdump` (no options) prints for `data` on a little-endian host."""
    return _hexdump(data, _words_line, 7)


# -- ls (coreutils) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    name: str   # as ls prints it
    path: str   # absolute, in the machine's tree
    stat: Stat


def _nlink(call: Invocation, entry: _Entry) -> int:
    """A directory's link count: 2 plus its subdirectories (not links to them)."""
    if not entry.stat.is_dir:
        return 1
    vfs = call.system.vfs
    try:
        return 2 + sum(vfs.stat(posixpath.join(entry.path, name), follow=False).is_dir
                       for name in vfs.listdir(entry.path))
    except OSError:
        return 2


def _long_lines(call: Invocation, entries: list[_Entry]) -> list[str]:
    """ls -l: mode, links, owner, group, size (or `major, minor`), date, name, `-> target`,
    with coreutils' column widths."""
    links = [_nlink(call, e) for e in entries]
    devices = [e.stat.rdev for e in entries if e.stat.is_chr and e.stat.rdev]
    major_w = max((len(str(d[0])) for d in devices), default=0)
    minor_w = max((len(str(d[1])) for d in devices), default=0)
    size_w = max([len(str(e.stat.size)) for e in entries if not e.stat.is_chr]
                 + ([major_w + 2 + minor_w] if devices else []), default=1)
    links_w = max((len(str(n)) for n in links), default=1)
    lines = []
    for entry, nlink in zip(entries, links, strict=True):
        st = entry.stat
        if st.is_chr and st.rdev:
            pad = major_w + max(0, size_w - (major_w + 2 + minor_w))
            size = f"{st.rdev[0]:>{pad}}, {st.rdev[1]:>{minor_w}}"
        else:
            size = f"{st.size:>{size_w}}"
        target = ""
        if st.is_link:
            try:
                target = " -> " + call.system.vfs.readlink(entry.path)
            except OSError:
                target = ""
        lines.append(f"{stat_mod.filemode(st.mode)} {nlink:>{links_w}} root root {size} "
                     f"{_OLD_DATE} {entry.name}{target}\n")
    return lines


def columns(names: list[str], width: int) -> str:
    """ls -C on a terminal `width` columns wide (coreutils' calculate_columns and
    print_many_per_line): names down the columns, as many columns as fit in less than
    `width`, each at least 3 wide and as wide as its longest name plus two spaces (the last
    column without them)."""
    if not names:
        return ""
    count = len(names)
    for cols in range(min(count, max(1, width // 3)), 0, -1):
        rows = (count + cols - 1) // cols
        widths = [3] * cols
        for index, name in enumerate(names):
            col = index // rows
            widths[col] = max(widths[col], len(name) + (0 if col == cols - 1 else 2))
        if sum(widths) < width or cols == 1:
            break
    lines = []
    for row in range(rows):
        cells = names[row::rows]
        line = "".join(name.ljust(widths[col]) for col, name in enumerate(cells[:-1]))
        lines.append(line + cells[-1] + "\n")
    return "".join(lines)


def _listing(call: Invocation, entries: list[_Entry], flags: set[str]) -> str:
    if "l" in flags:
        return "".join(_long_lines(call, entries))
    names = [e.name for e in entries]
    if "1" in flags or not call.out.isatty():
        return "".join(f"{name}\n" for name in names)
    return columns(names, shutil.get_terminal_size().columns)


def _directory(call: Invocation, path: str, flags: set[str]) -> list[_Entry]:
    vfs = call.system.vfs
    names = vfs.listdir(path)
    if "a" in flags:
        names = sorted([".", "..", *names])
    else:
        names = [n for n in names if not n.startswith(".")]
    return [_Entry(n, posixpath.join(path, n),
                   vfs.stat(posixpath.join(path, n), follow=n in (".", "..")))
            for n in names]


def _operand(call: Invocation, operand: str, follow: bool) -> _Entry:
    """stat of a command-line operand: a symlink to a directory is followed unless -l or
    -d (or the operand ends in /, which always follows)."""
    vfs = call.system.vfs
    path = _abspath(operand)
    st = vfs.stat(path, follow=False)
    if st.is_link and follow:
        try:
            target = vfs.stat(path)
        except OSError:
            target = st
        if target.is_dir:
            st = target
    return _Entry(operand, path, st)


# -- the commands ---------------------------------------------------------------------------------


def _parse_bus_dev(value: str) -> tuple[int | None, int | None]:
    """lsusb -s [[bus]:][devnum]."""
    bus_text, _, dev_text = value.rpartition(":")
    try:
        bus = int(bus_text, 10) if bus_text else None
        dev = int(dev_text, 10) if dev_text else None
    except ValueError:
        raise _UsageError(f"lsusb: invalid -s argument '{value}': expected "
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
        raise _UsageError(f"lsusb: invalid -d argument '{value}': expected "
                          "[vendor]:[product] in hexadecimal") from None
    return vendor, product


_BUS_LINE = re.compile(r"^Bus (\d{3}) Device (\d{3}): ID ([0-9a-f]{4}):([0-9a-f]{4})", re.M)


def _device_chunks(text: str, verbose: bool) -> list[str]:
    """lsusb's output cut per device (with -v, each device's blank line goes with it)."""
    starts = [m.start() - (1 if verbose else 0) for m in _BUS_LINE.finditer(text)]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _lsusb(call: Invocation) -> int:
    opts, operands = _options(call, "tvs:d:")
    if operands:
        raise _UsageError(f"lsusb: unexpected argument '{operands[0]}'")
    verbose = sum(opt == "-v" for opt, _ in opts)
    bus = dev = vendor = product = None
    for opt, value in opts:
        if opt == "-s":
            bus, dev = _parse_bus_dev(value)
        elif opt == "-d":
            vendor, product = _parse_ids(value)
    if "t" in _flags(opts):
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


def _dmesg(call: Invocation) -> int:
    opts, operands = _options(call, "cC")
    if operands:
        raise _UsageError(f"dmesg: bad usage: unexpected argument '{operands[0]}'")
    flags = _flags(opts)
    if "C" not in flags:
        call.out.write(call.system.dmesg())
    if flags & {"c", "C"}:
        call.system.log.clear()
    return 0


def _cat(call: Invocation) -> int:
    _, paths = _options(call, "")
    if not paths:
        raise _UsageError("cat: missing operand")
    status = 0
    for path in paths:
        try:
            afile = call.shell.open(path, "rb")
            try:
                for chunk in call.shell.read_chunks(afile, _READ_SIZE_CAT):
                    call.out.write_bytes(chunk)
            finally:
                call.shell.close(afile)
        except OSError as exc:
            call.error(f"cat: {path}: {_strerror(exc)}")
            status = 1
    return status


def _ls(call: Invocation) -> int:
    opts, operands = _options(call, "1adl")
    flags = _flags(opts)
    follow = not flags & {"l", "d"}
    files: list[_Entry] = []
    dirs: list[_Entry] = []
    status = 0
    for operand in operands or ["."]:
        try:
            entry = _operand(call, operand, follow)
        except OSError as exc:
            call.error(f"ls: cannot access '{operand}': {_strerror(exc)}")
            status = 2
            continue
        (dirs if entry.stat.is_dir and "d" not in flags else files).append(entry)
    sections = []
    if files:
        sections.append(_listing(call, sorted(files, key=lambda e: e.name), flags))
    for entry in sorted(dirs, key=lambda e: e.name):
        try:
            listing = _directory(call, entry.path, flags)
        except OSError as exc:
            call.error(f"ls: cannot open directory '{entry.name}': {_strerror(exc)}")
            status = 2
            continue
        head = f"{entry.name}:\n" if len(operands) > 1 else ""
        total = "total 0\n" if "l" in flags else ""
        sections.append(head + total + _listing(call, listing, flags))
    call.out.write("\n".join(sections))
    return status


def _readlink(call: Invocation) -> int:
    opts, paths = _options(call, "f")
    if not paths:
        raise _UsageError("readlink: missing operand")
    vfs = call.system.vfs
    status = 0
    for path in paths:
        try:
            if "f" in _flags(opts):
                call.out.write(vfs.resolve(_abspath(path))[0] + "\n")
            else:
                call.out.write(vfs.readlink(_abspath(path)) + "\n")
        except OSError:
            status = 1
    return status


_ESCAPE = re.compile(r"\\(?:([abeEfnrtv\\])|0([0-7]{0,3})|x([0-9a-fA-F]{1,2})"
                     r"|u([0-9a-fA-F]{1,4})|U([0-9a-fA-F]{1,8})|(c))")
_SIMPLE_ESCAPES = {"a": b"\a", "b": b"\b", "e": b"\x1b", "E": b"\x1b", "f": b"\f",
                   "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v", "\\": b"\\"}


def _echo_escapes(text: str) -> tuple[bytes, bool]:
    """echo -e: the bytes of `text` with bash's escapes interpreted, and whether `\\c`
    stopped the output."""
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        out += text[position:match.start()].encode()
        position = match.end()
        simple, octal, hex_, u4, u8, stop = match.groups()
        if stop:
            return bytes(out), True
        if simple:
            out += _SIMPLE_ESCAPES[simple]
        elif octal is not None:
            out.append(int(octal or "0", 8) & 0xFF)
        elif hex_:
            out.append(int(hex_, 16))
        else:
            out += chr(min(int(u4 or u8, 16), 0x10FFFF)).encode(errors="surrogatepass")
    out += text[position:].encode()
    return bytes(out), False


def _echo(call: Invocation) -> int:
    args = call.args
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for flag in args[0][1:]:
            if flag == "n":
                newline = False
            else:
                escapes = flag == "e"
        args = args[1:]
    text = " ".join(args)
    data, stopped = _echo_escapes(text) if escapes else (text.encode(), False)
    call.out.write_bytes(data + (b"\n" if newline and not stopped else b""))
    return 0


def _hexdump_cmd(call: Invocation) -> int:
    opts, paths = _options(call, "C")
    if not paths:
        raise _UsageError("hexdump: missing operand")
    data = bytearray()
    failed = 0
    for path in paths:
        try:
            afile = call.shell.open(path, "rb")
        except OSError as exc:
            call.error(f"hexdump: {path}: {_strerror(exc)}")
            failed += 1
            continue
        try:
            for chunk in call.shell.read_chunks(afile, _READ_SIZE_STDIO):
                data += chunk
        except OSError as exc:      # a read error ends this file; hexdump only warns
            call.error(f"hexdump: {path}: {_strerror(exc)}")
        finally:
            call.shell.close(afile)
    if failed == len(paths):
        call.error("hexdump: all input file arguments failed")
    dump = hexdump_canonical if "C" in _flags(opts) else hexdump_words
    call.out.write(dump(bytes(data)))
    return 1 if failed else 0


def _insmod(call: Invocation) -> int:
    if not call.args:
        raise _UsageError("insmod: ERROR: missing filename.")
    name, *params = call.args
    call.system.insmod(name, *params)
    return 0


def _rmmod(call: Invocation) -> int:
    _, names = _options(call, "")
    if not names:
        raise _UsageError("rmmod: ERROR: missing module name.")
    status = 0
    for name in names:
        try:
            call.system.rmmod(name)
        except ModuleError as exc:
            call.error(str(exc))
            status = 1
    return status


def _modprobe(call: Invocation) -> int:
    opts, operands = _options(call, "r")
    if not operands:
        raise _UsageError("modprobe: ERROR: missing parameters.")
    if "r" not in _flags(opts):
        name, *params = operands
        call.system.modprobe(name, *params)
        return 0
    status = 0
    for name in operands:
        try:
            call.shell.run_on_machine(call.system.modules.modprobe_remove(name))
        except ModuleError as exc:
            call.error(str(exc))
            status = 1
    return status


def _lsmod(call: Invocation) -> int:
    if call.args:
        raise _UsageError("lsmod: takes no arguments")
    call.out.write(call.system.lsmod())
    return 0


def _plug(call: Invocation) -> int:
    spec, options, port = parse_plug(call.args)
    path = plug(call.system, spec, options, port)
    call.out.write(f"plugged {spec} at {path}\n")
    return 0


def _unplug(call: Invocation) -> int:
    if len(call.args) != 1:
        raise _UsageError("unplug: expected one port path, e.g. unplug 1-1")
    unplug(call.system, call.args[0])
    return 0


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)?")


def _sleep(call: Invocation) -> int:
    match = _DURATION.fullmatch(call.args[0]) if len(call.args) == 1 else None
    if match is None:
        raise _UsageError("sleep: expected one duration: milliseconds (250, 250ms) or "
                          "seconds (2s)")
    seconds = float(match[1]) / (1 if match[2] == "s" else 1000)
    call.shell.run_on_machine(asyncio.sleep(seconds))
    return 0


def _help(call: Invocation) -> int:
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


def _exit(call: Invocation) -> int:
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


# -- completion -----------------------------------------------------------------------------------

ArgCompleter = Callable[["Shell", list[str], str], list[str]]


def _starting(word: str, candidates: Iterable[str]) -> list[str]:
    return sorted({c for c in candidates if c.startswith(word)})


def _complete_nothing(shell: Shell, args: list[str], word: str) -> list[str]:
    return []


def _complete_commands(shell: Shell, args: list[str], word: str) -> list[str]:
    return _starting(word, COMMANDS)


def _complete_vfs(shell: Shell, args: list[str], word: str) -> list[str]:
    if word.startswith("-"):
        return []
    return shell.complete_path(word)


def _complete_host(word: str) -> list[str]:
    """Paths of the host's filesystem (module files, clone files)."""
    head, slash, tail = word.rpartition("/")
    prefix = head + slash
    directory = Path(prefix or ".")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return _starting(word, (prefix + n + ("/" if (directory / n).is_dir() else "")
                            for n in names if tail.startswith(".") or not n.startswith(".")))


def _module_names(shell: Shell) -> set[str]:
    modules = shell.system.modules
    return {*modules.available(), *EXAMPLE_MODULES, *(m.name for m in modules.loaded)}


def _loaded_names(shell: Shell) -> set[str]:
    return {m.name for m in shell.system.modules.loaded}


def _complete_insmod(shell: Shell, args: list[str], word: str) -> list[str]:
    if args:
        return []
    if "/" in word:
        return _complete_host(word)
    return _starting(word, _module_names(shell))


def _complete_modprobe(shell: Shell, args: list[str], word: str) -> list[str]:
    operands = [a for a in args if not a.startswith("-")]
    if "-r" in args:
        return _starting(word, _loaded_names(shell))
    if operands or word.startswith("-"):
        return []
    return _starting(word, _module_names(shell))


def _complete_rmmod(shell: Shell, args: list[str], word: str) -> list[str]:
    return _starting(word, _loaded_names(shell))


def _complete_plug(shell: Shell, args: list[str], word: str) -> list[str]:
    if not args:
        if "/" in word:
            return _complete_host(word)
        return _starting(word, available_models())
    if args[-1] == "at":
        return _starting(word, shell.free_ports())
    if "at" in args:
        return []
    try:
        accepted = model_options(load_model(args[0]))
    except (PluginNotFound, ImportError):
        accepted = {}
    return _starting(word, [f"{name}=" for name in accepted] + ["at"])


def _complete_unplug(shell: Shell, args: list[str], word: str) -> list[str]:
    return [] if args else _starting(word, shell.plugged_ports())


def _complete_help(shell: Shell, args: list[str], word: str) -> list[str]:
    return _starting(word, COMMANDS)


# -- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A shell command: its handler, usage line, one-line help, how its arguments complete,
    the status of a usage error, and whether bash has it built in (its messages then start
    `usbemu: `, as bash's start `-bash: `)."""

    run: Callable[[Invocation], int]
    usage: str
    summary: str
    complete: ArgCompleter = _complete_nothing
    usage_status: int = 1
    builtin: bool = False
    literal_args: bool = False   # --help is an argument like any other (echo)


COMMANDS: dict[str, Command] = {
    "lsusb": Command(_lsusb, "lsusb [-t] [-v] [-s [[bus]:][devnum]] [-d [vendor]:[product]]",
                     "list USB devices (usbutils' formats; -t tree, -v descriptors)"),
    "dmesg": Command(_dmesg, "dmesg [-c | -C]",
                     "print the kernel log (-c: then clear it, -C: only clear it)"),
    "cat": Command(_cat, "cat FILE...", "print files of the machine (sysfs, /proc, /dev)",
                   _complete_vfs),
    "ls": Command(_ls, "ls [-1adl] [FILE...]",
                  "list directories of the machine (-l: modes, device numbers, links)",
                  _complete_vfs, usage_status=2),
    "readlink": Command(_readlink, "readlink [-f] FILE...",
                        "print a symbolic link's target (-f: the canonical path)",
                        _complete_vfs),
    "echo": Command(_echo, "echo [-neE] [WORD...] [> FILE | >> FILE]",
                    "print words, or write them to a file (a sysfs attribute, /dev/pen0)",
                    _complete_nothing, builtin=True, literal_args=True),
    "hexdump": Command(_hexdump_cmd, "hexdump [-C] FILE...",
                       "dump files in hex (util-linux; -C: bytes and ASCII)", _complete_vfs),
    "insmod": Command(_insmod, "insmod NAME|FILE [PARAM=VALUE...]",
                      "load a module (kmod; examples such as pen_driver by name)",
                      _complete_insmod),
    "rmmod": Command(_rmmod, "rmmod NAME...", "unload modules (kmod)", _complete_rmmod),
    "modprobe": Command(_modprobe, "modprobe NAME [PARAM=VALUE...] | modprobe -r NAME...",
                        "load an installed module and what it needs, or remove (-r)",
                        _complete_modprobe),
    "lsmod": Command(_lsmod, "lsmod", "list loaded modules (kmod)"),
    "plug": Command(_plug, "plug MODEL|CLONE-FILE [NAME=VALUE...] [at PORT-PATH]",
                    "plug a device model in (the first free root-hub port by default)",
                    _complete_plug),
    "unplug": Command(_unplug, "unplug PORT-PATH", "unplug the device at a port, e.g. 1-1",
                      _complete_unplug),
    "sleep": Command(_sleep, "sleep MILLISECONDS | sleep SECONDSs",
                     "let machine time pass (instant on virtual time)"),
    "help": Command(_help, "help [COMMAND...]", "list commands, or show a command's usage",
                    _complete_help, usage_status=2, builtin=True),
    "exit": Command(_exit, "exit [N]", "leave the shell with status N (default: the last "
                    "command's)", usage_status=2, builtin=True),
    "quit": Command(_exit, "quit [N]", "the same as exit", usage_status=2, builtin=True),
}


# -- the shell ------------------------------------------------------------------------------------


_WORD_START = re.compile(r"[^\s<>|;&]*$")


def _loose_split(text: str) -> list[str]:
    """Words of a partial line for completion: shlex when it can, else by white space."""
    try:
        return shlex.split(text.replace(">", " > "))
    except ValueError:
        return text.replace(">", " > ").split()


class Shell:
    """A command interpreter on `system`: `execute` runs one line, `complete` proposes
    words.  Output goes to `out`, messages to `err`.  Context: outside the machine's loop;
    `execute` may sleep (runs the machine).

    `error_prefix`, when set (`run_shell` sets "usbemu: line N: " for piped input), starts
    every error line; otherwise tools' messages are printed as the tools word them and the
    shell's own start "usbemu: ".  After `exit`, `exit_requested` holds the status."""

    def __init__(self, system: System, out: TextIO, err: TextIO) -> None:
        self.system = system
        self.out = out
        self.err = err
        self.error_prefix: str | None = None
        self.last_status = 0
        self.exit_requested: int | None = None

    # -- running lines ----------------------------------------------------------------------

    def execute(self, line: str) -> int:
        """Run one command line; output to out, error messages to err; returns the exit
        status (0 success).  Never raises for a user mistake or a failing command: a
        usage error prints the usage, an unexpected exception prints one line ending
        "(internal error: ExceptionType)".  Ctrl-C (KeyboardInterrupt) cancels what the
        command was doing on the machine and propagates.  May sleep."""
        try:
            parsed = parse_line(line)
        except ShellSyntaxError as exc:
            self.report(str(exc), shell_level=True)
            status = 2
        else:
            status = 0 if parsed is None else self._dispatch(parsed)
        self.last_status = status
        return status

    def _dispatch(self, parsed: ParsedLine) -> int:
        name, args = parsed.words[0], parsed.words[1:]
        command = COMMANDS.get(name)
        if command is None:
            self.report(f"{name}: command not found", shell_level=True)
            return 127
        if "--help" in args and not command.literal_args:
            self.out.write(f"Usage: {command.usage}\n{command.summary}\n")
            return 0
        if parsed.redirect is None:
            return self._invoke(Invocation(self, name, args, _Output(self.out), command))
        return self._redirected(Invocation(self, name, args, _Output(None), command),
                                *parsed.redirect)

    def _redirected(self, call: Invocation, op: str, target: str) -> int:
        """`command > FILE`: the file is opened first (nothing runs if that fails), the
        output written with as many write(2)s as the file takes, then closed."""
        try:
            afile = self.open(target, "ab" if op == ">>" else "wb")
        except OSError as exc:
            self.report(f"{target}: {_strerror(exc)}", shell_level=True)
            return 1
        try:
            status = self._invoke(call)
            data = memoryview(bytes(call.out.captured))
            while data:
                data = data[self.run_on_machine(afile.write(data)):]
        except OSError as exc:
            call.error(f"{call.name}: write error: {_strerror(exc)}")
            return 1
        finally:
            self.close(afile)
        return status

    def _invoke(self, call: Invocation) -> int:
        command = call.command
        try:
            return command.run(call)
        except _UsageError as exc:
            call.error(f"{exc}\nUsage: {command.usage}")
            return command.usage_status
        except (MachineError, ModuleError) as exc:
            text = str(exc) if str(exc).startswith(f"{call.name}:") else f"{call.name}: {exc}"
            call.error("\n".join([text, *getattr(exc, "__notes__", [])]))
            return 1
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            call.error(f"{call.name}: {where}{_strerror(exc)}")
            return 1
        except Exception as exc:
            detail = f"{exc} " if str(exc) else ""
            call.error(f"{call.name}: {detail}(internal error: {type(exc).__name__})")
            return 1
        finally:
            call.out.flush()

    def report(self, text: str, *, shell_level: bool = False) -> None:
        """Print an error message: with `error_prefix` on every line when one is set, else
        with "usbemu: " before a message of the shell's own (`shell_level`)."""
        self.out.flush()
        for number, line in enumerate(text.split("\n")):
            if self.error_prefix is not None:
                line = self.error_prefix + line
            elif shell_level and number == 0:
                line = "usbemu: " + line
            self.err.write(line + "\n")
        self.err.flush()

    # -- the machine, as a process sees it ---------------------------------------------------

    def run_on_machine(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the machine until it finishes.  On Ctrl-C it is cancelled (a read
        waiting for a device gives up) before KeyboardInterrupt propagates.  May sleep."""
        tasks: list[asyncio.Task[Any]] = []

        async def tracked() -> T:
            task = asyncio.current_task()
            if task is not None:
                tasks.append(task)
            return await coro

        try:
            return self.system.run(tracked())
        except KeyboardInterrupt:
            for task in tasks:
                task.cancel()
            if tasks:
                self.system.loop.run_until_complete(
                    asyncio.gather(*tasks, return_exceptions=True))
            raise

    def open(self, path: str, mode: str = "rb") -> AsyncFile:
        """open(2) of a path of the machine (relative to /).  Raises OSError.  May sleep."""
        return self.run_on_machine(self.system.aopen(_abspath(path), mode))

    def close(self, afile: AsyncFile) -> None:
        self.run_on_machine(afile.close())

    def read_chunks(self, afile: AsyncFile, size: int) -> Iterator[bytes]:
        """read(2)s of up to `size` bytes until end of file.  Raises OSError."""
        while chunk := self.run_on_machine(afile.read(size)):
            yield chunk

    def plugged_ports(self) -> list[str]:
        """Port paths with a device model plugged in, hubs' ports included."""
        return [path for path, _ in plugged_models(self.system)]

    def free_ports(self) -> list[str]:
        """Port paths where a device could be plugged in: empty root-hub and hub ports."""
        return sorted(free_ports(self.system))

    # -- completion -----------------------------------------------------------------------

    def complete(self, line: str) -> list[str]:
        """Completion candidates for the last word of the partial `line` (each a whole
        word that replaces it; directories end in "/"): command names, then per command
        paths of the machine, model names, module names, port paths …"""
        start = _WORD_START.search(line)
        assert start is not None
        word = line[start.start():].replace('"', "").replace("'", "")
        before = line[:start.start()]
        if before.rstrip().endswith(">"):
            return self.complete_path(word)
        words = _loose_split(before)
        if not words:
            return _complete_commands(self, [], word)
        command = COMMANDS.get(words[0])
        if command is None:
            return []
        return command.complete(self, words[1:], word)

    def complete_path(self, word: str) -> list[str]:
        """Entries of the machine's tree that `word` (a path, relative to /) starts,
        directories (and links to them) with a trailing "/"."""
        tail = word.rpartition("/")[2]
        prefix = word[:len(word) - len(tail)]
        directory = _abspath(prefix) if prefix else "/"
        vfs = self.system.vfs
        try:
            names = vfs.listdir(directory)
        except OSError:
            return []
        found = []
        for name in names:
            if name.startswith(tail) and (tail.startswith(".") or not name.startswith(".")):
                try:
                    is_dir = vfs.stat(posixpath.join(directory, name)).is_dir
                except OSError:
                    is_dir = False
                found.append(prefix + name + ("/" if is_dir else ""))
        return found


# -- running it -----------------------------------------------------------------------------------


def history_path() -> Path:
    """Where the interactive shell keeps its history: $XDG_STATE_HOME/usbemu/history
    (~/.local/state/usbemu/history when unset or not absolute, as the XDG spec says)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "usbemu" / "history"


def _driver_name(driver: Driver | None) -> str:
    return driver.name if driver is not None else "no driver"


def banner(system: System) -> str:
    """The line the interactive shell starts with: buses, controllers, ports, clock."""
    buses = [f"bus {hcd.bus.busnum} ({_driver_name(hcd.controller.driver)}), "
             f"{hcd.nports} ports" for hcd in system.controllers if hcd.bus is not None]
    clock = "virtual time" if system.virtual else "real time"
    return (f"usbemu shell: {'; '.join(buses) or 'no USB bus'}; {clock}; "
            "'help' lists commands")


def run_shell(system: System, stdin: TextIO, stdout: TextIO, stderr: TextIO,
              *, interactive: bool | None = None) -> int:
    """Run a shell on `system` until exit, end of input or the first failing command of
    piped input; returns the exit status.  `interactive` None means: stdin.isatty() and
    stdout.isatty().  Interactive: prompt, completion, history, Ctrl-C cancels the line
    (or the running command), Ctrl-D leaves with 0.  Piped: like `sh -e` — no prompt,
    empty lines and comments skipped, stop at the first failing command with its status,
    its errors prefixed "usbemu: line N: ".  May sleep (runs the machine)."""
    if interactive is None:
        interactive = stdin.isatty() and stdout.isatty()
    shell = Shell(system, stdout, stderr)
    if interactive:
        return _interactive(shell, stdin, stdout)
    return _piped(shell, stdin)


def _piped(shell: Shell, stdin: TextIO) -> int:
    for number, line in enumerate(stdin, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        shell.error_prefix = f"usbemu: line {number}: "
        try:
            status = shell.execute(line.rstrip("\n"))
        except KeyboardInterrupt:
            return 130
        if shell.exit_requested is not None:
            return shell.exit_requested
        if status:
            return status
    return 0


@dataclass
class _Session:
    """What the interactive loop needs of prompt_toolkit (imported only when used)."""

    prompt: Callable[[], str]
    history_note: str | None = None


def _prompt_session(shell: Shell, stdin: TextIO, stdout: TextIO) -> _Session:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.input import create_input
    from prompt_toolkit.output import create_output
    from prompt_toolkit.shortcuts import CompleteStyle

    class ShellCompleter(Completer):
        def get_completions(self, document: Document,
                            complete_event: CompleteEvent) -> Iterator[Completion]:
            text = document.text_before_cursor
            match = _WORD_START.search(text)
            start = -(len(text) - match.start()) if match is not None else 0
            for word in shell.complete(text):
                end = "" if word.endswith(("/", "=")) else " "
                yield Completion(word + end, start_position=start, display=word)

    path = history_path()
    history: History
    note = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
        history = FileHistory(str(path))
    except OSError as exc:
        history = InMemoryHistory()
        note = f"usbemu: history is kept in memory only ({path}: {_strerror(exc)})"
    session: PromptSession[str] = PromptSession(
        history=history, completer=ShellCompleter(), complete_while_typing=False,
        complete_style=CompleteStyle.READLINE_LIKE, input=create_input(stdin),
        output=create_output(stdout))
    return _Session(lambda: session.prompt(PROMPT), note)


def _interactive(shell: Shell, stdin: TextIO, stdout: TextIO) -> int:
    session = _prompt_session(shell, stdin, stdout)
    stdout.write(banner(shell.system) + "\n")
    if session.history_note:
        shell.report(session.history_note)
    while True:
        try:
            line = session.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        try:
            shell.execute(line)
        except KeyboardInterrupt:
            stdout.write("\n")
            shell.last_status = 130
        stdout.flush()
        if shell.exit_requested is not None:
            return shell.exit_requested
