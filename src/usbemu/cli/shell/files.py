"""The shell's commands on the machine's file tree: cat, ls, readlink, rm (coreutils), echo
(bash's builtin) and hexdump (util-linux), with their options, formats and messages —
`ls -l`'s columns and `ls`'s many-per-line layout (`columns`) as coreutils prints them.

Files are opened and read through the shell (`Shell.open`, `read_chunks`), as a process
does with open(2) and read(2); `echo > FILE` is the shell's redirection, not echo's.
hexdump's formats are in `hexdump`; the usage lines and help texts are in the command
table (`commands`).
"""

from __future__ import annotations

import posixpath
import re
import shutil
import stat as stat_mod
from dataclasses import dataclass

from ...errors import Errno
from ...kernel.vfs import Stat
from .hexdump import hexdump_canonical, hexdump_words
from .hid import is_evdev, print_events
from .invocation import Invocation, UsageError, abspath, flag_set, parse_options, strerror

_READ_SIZE_CAT = 128 * 1024   # coreutils' io_blksize
_READ_SIZE_STDIO = 4096       # what stdio's fread asks of a character device
_OLD_DATE = "Jan  1  1970"    # ls -l of a file older than six months: the machine has no RTC


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


def _is_device(st: Stat) -> bool:
    """A character or block device node: ls -l shows its `major, minor`."""
    return st.is_chr or st.is_blk


def _long_lines(call: Invocation, entries: list[_Entry]) -> list[str]:
    """ls -l: mode, links, owner, group, size (or `major, minor`), date, name, `-> target`,
    with coreutils' column widths."""
    links = [_nlink(call, e) for e in entries]
    devices = [e.stat.rdev for e in entries if _is_device(e.stat) and e.stat.rdev]
    major_w = max((len(str(d[0])) for d in devices), default=0)
    minor_w = max((len(str(d[1])) for d in devices), default=0)
    size_w = max([len(str(e.stat.size)) for e in entries if not _is_device(e.stat)]
                 + ([major_w + 2 + minor_w] if devices else []), default=1)
    links_w = max((len(str(n)) for n in links), default=1)
    lines = []
    for entry, nlink in zip(entries, links, strict=True):
        st = entry.stat
        if _is_device(st) and st.rdev:
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
    path = abspath(operand)
    st = vfs.stat(path, follow=False)
    if st.is_link and follow:
        try:
            target = vfs.stat(path)
        except OSError:
            target = st
        if target.is_dir:
            st = target
    return _Entry(operand, path, st)


def do_cat(call: Invocation) -> int:
    _, paths = parse_options(call, "")
    if not paths:
        raise UsageError("cat: missing operand")
    status = 0
    for path in paths:
        try:
            afile = call.shell.open(path, "rb")
            try:
                if is_evdev(afile):
                    print_events(call, afile)
                    continue
                for chunk in call.shell.read_chunks(afile, _READ_SIZE_CAT):
                    call.out.write_bytes(chunk)
            finally:
                call.shell.close(afile)
        except OSError as exc:
            call.error(f"cat: {path}: {strerror(exc)}")
            status = 1
    return status


def do_ls(call: Invocation) -> int:
    opts, operands = parse_options(call, "1adl")
    flags = flag_set(opts)
    follow = not flags & {"l", "d"}
    files: list[_Entry] = []
    dirs: list[_Entry] = []
    status = 0
    for operand in operands or ["."]:
        try:
            entry = _operand(call, operand, follow)
        except OSError as exc:
            call.error(f"ls: cannot access '{operand}': {strerror(exc)}")
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
            call.error(f"ls: cannot open directory '{entry.name}': {strerror(exc)}")
            status = 2
            continue
        head = f"{entry.name}:\n" if len(operands) > 1 else ""
        total = "total 0\n" if "l" in flags else ""
        sections.append(head + total + _listing(call, listing, flags))
    call.out.write("\n".join(sections))
    return status


def do_readlink(call: Invocation) -> int:
    opts, paths = parse_options(call, "f")
    if not paths:
        raise UsageError("readlink: missing operand")
    vfs = call.system.vfs
    status = 0
    for path in paths:
        try:
            if "f" in flag_set(opts):
                call.out.write(vfs.resolve(abspath(path))[0] + "\n")
            else:
                call.out.write(vfs.readlink(abspath(path)) + "\n")
        except OSError:
            status = 1
    return status


def do_rm(call: Invocation) -> int:
    opts, paths = parse_options(call, "f")
    force = "f" in flag_set(opts)
    if not paths and not force:
        raise UsageError("rm: missing operand")
    status = 0
    for path in paths:
        try:
            call.system.vfs.unlink(abspath(path))
        except OSError as exc:
            if force and exc.errno == Errno.ENOENT:
                continue
            call.error(f"rm: cannot remove '{path}': {strerror(exc)}")
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


def do_echo(call: Invocation) -> int:
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


def do_hexdump(call: Invocation) -> int:
    opts, paths = parse_options(call, "C")
    if not paths:
        raise UsageError("hexdump: missing operand")
    data = bytearray()
    failed = 0
    for path in paths:
        try:
            afile = call.shell.open(path, "rb")
        except OSError as exc:
            call.error(f"hexdump: {path}: {strerror(exc)}")
            failed += 1
            continue
        try:
            for chunk in call.shell.read_chunks(afile, _READ_SIZE_STDIO):
                data += chunk
        except OSError as exc:      # a read error ends this file; hexdump only warns
            call.error(f"hexdump: {path}: {strerror(exc)}")
        finally:
            call.shell.close(afile)
    if failed == len(paths):
        call.error("hexdump: all input file arguments failed")
    dump = hexdump_canonical if "C" in flag_set(opts) else hexdump_words
    call.out.write(dump(bytes(data)))
    return 1 if failed else 0
