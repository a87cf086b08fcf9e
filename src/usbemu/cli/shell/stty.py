"""The shell's stty — GNU coreutils 9.1's stty on Linux: `stty -F DEVICE` (the speed and
the settings that differ from `sane`), `stty -a -F DEVICE` (everything), `stty -g -F
DEVICE` (the settings as one argument that stty takes back) and `stty -F DEVICE
SETTING...` (raw, sane, cooked, cbreak, evenp/oddp, [-]echo, [-]icanon, [-]crtscts,
[-]clocal, [-]hupcl, cs5…cs8, [-]parenb, [-]parodd, [-]cstopb, speeds, control characters,
min and time, rows and cols …), with its formats, wrapping, messages and exit statuses.

The settings are data: `MODES` is coreutils' mode_info table for Linux (name, flag word,
sane behaviour, bits), `CONTROL_CHARS` its control_info, and the combination settings are
`COMBINATIONS`.  The device is opened as stty opens it (O_RDONLY | O_NONBLOCK, then
blocking) and read and set through the tty layer's ioctls (`kernel.termios`'s tcgetattr and
tcsetattr, TIOCGWINSZ/TIOCSWINSZ) — so a setting the driver cannot do comes back changed and
stty says "unable to perform all requested operations", as on Linux.  Speeds are shown and
taken as numbers of any value (BOTHER, as coreutils does with glibc 2.42); -g prints
glibc's 32 control characters, the 13 past Linux's 19 as 0.  Without -F the shell has no
terminal to act on: "'standard input': Inappropriate ioctl for device".
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Final

from ...kernel.fs import FIONBIO, O_NONBLOCK, O_RDONLY
from ...kernel.syscalls import AsyncFile
from ...kernel.termios import (
    BAUD_CODES,
    IBSHIFT,
    NCCS,
    TCSADRAIN,
    TIOCGWINSZ,
    TIOCSWINSZ,
    VDISCARD,
    VEOF,
    VEOL,
    VEOL2,
    VERASE,
    VINTR,
    VKILL,
    VLNEXT,
    VMIN,
    VQUIT,
    VREPRINT,
    VSTART,
    VSTOP,
    VSUSP,
    VSWTC,
    VTIME,
    VWERASE,
    Cflag,
    Iflag,
    Ktermios,
    Lflag,
    Oflag,
    Winsize,
    cfsetspeed,
    tcgetattr,
    tcsetattr,
    tty_termios_baud_rate,
    tty_termios_input_baud_rate,
)
from .completion import starting
from .invocation import Invocation, UsageError, abspath, strerror

if TYPE_CHECKING:
    from .interpreter import Shell

__all__ = ["COMBINATIONS", "CONTROL_CHARS", "MODES", "Mode", "complete_stty", "display_all",
           "display_changed", "display_recoverable", "do_stty"]

#: glibc's NCCS: the control characters `stty -g` prints and takes.
GLIBC_NCCS: Final = 32


class Word(Enum):
    """Which flag word of the termios a mode changes (COMBINATION: several)."""

    CONTROL = "c_cflag"
    INPUT = "c_iflag"
    OUTPUT = "c_oflag"
    LOCAL = "c_lflag"
    COMBINATION = ""


SANE_SET, SANE_UNSET, REV, OMIT = 1, 2, 4, 8


@dataclass(frozen=True)
class Mode:
    """One entry of mode_info: `bits` to set, within `mask` (0: the bits themselves);
    SANE_SET / SANE_UNSET: what `sane` does with it; REV: takes a leading "-"; OMIT: never
    displayed."""

    name: str
    word: Word
    flags: int
    bits: int = 0
    mask: int = 0


_C, _I, _O, _L, _X = Word.CONTROL, Word.INPUT, Word.OUTPUT, Word.LOCAL, Word.COMBINATION

#: coreutils 9.1's mode_info on Linux, in its order (the display order).
MODES: Final[tuple[Mode, ...]] = (
    Mode("parenb", _C, REV, Cflag.PARENB),
    Mode("parodd", _C, REV, Cflag.PARODD),
    Mode("cmspar", _C, REV, Cflag.CMSPAR),
    Mode("cs5", _C, 0, Cflag.CS5, Cflag.CSIZE),
    Mode("cs6", _C, 0, Cflag.CS6, Cflag.CSIZE),
    Mode("cs7", _C, 0, Cflag.CS7, Cflag.CSIZE),
    Mode("cs8", _C, 0, Cflag.CS8, Cflag.CSIZE),
    Mode("hupcl", _C, REV, Cflag.HUPCL),
    Mode("hup", _C, REV | OMIT, Cflag.HUPCL),
    Mode("cstopb", _C, REV, Cflag.CSTOPB),
    Mode("cread", _C, SANE_SET | REV, Cflag.CREAD),
    Mode("clocal", _C, REV, Cflag.CLOCAL),
    Mode("crtscts", _C, REV, Cflag.CRTSCTS),
    Mode("ignbrk", _I, SANE_UNSET | REV, Iflag.IGNBRK),
    Mode("brkint", _I, SANE_SET | REV, Iflag.BRKINT),
    Mode("ignpar", _I, REV, Iflag.IGNPAR),
    Mode("parmrk", _I, REV, Iflag.PARMRK),
    Mode("inpck", _I, REV, Iflag.INPCK),
    Mode("istrip", _I, REV, Iflag.ISTRIP),
    Mode("inlcr", _I, SANE_UNSET | REV, Iflag.INLCR),
    Mode("igncr", _I, SANE_UNSET | REV, Iflag.IGNCR),
    Mode("icrnl", _I, SANE_SET | REV, Iflag.ICRNL),
    Mode("ixon", _I, REV, Iflag.IXON),
    Mode("ixoff", _I, SANE_UNSET | REV, Iflag.IXOFF),
    Mode("tandem", _I, REV | OMIT, Iflag.IXOFF),
    Mode("iuclc", _I, SANE_UNSET | REV, Iflag.IUCLC),
    Mode("ixany", _I, SANE_UNSET | REV, Iflag.IXANY),
    Mode("imaxbel", _I, SANE_SET | REV, Iflag.IMAXBEL),
    Mode("iutf8", _I, SANE_UNSET | REV, Iflag.IUTF8),
    Mode("opost", _O, SANE_SET | REV, Oflag.OPOST),
    Mode("olcuc", _O, SANE_UNSET | REV, Oflag.OLCUC),
    Mode("ocrnl", _O, SANE_UNSET | REV, Oflag.OCRNL),
    Mode("onlcr", _O, SANE_SET | REV, Oflag.ONLCR),
    Mode("onocr", _O, SANE_UNSET | REV, Oflag.ONOCR),
    Mode("onlret", _O, SANE_UNSET | REV, Oflag.ONLRET),
    Mode("ofill", _O, SANE_UNSET | REV, Oflag.OFILL),
    Mode("ofdel", _O, SANE_UNSET | REV, Oflag.OFDEL),
    Mode("nl1", _O, SANE_UNSET, 0x0100, Oflag.NLDLY),
    Mode("nl0", _O, SANE_SET, 0, Oflag.NLDLY),
    Mode("cr3", _O, SANE_UNSET, 0x0600, Oflag.CRDLY),
    Mode("cr2", _O, SANE_UNSET, 0x0400, Oflag.CRDLY),
    Mode("cr1", _O, SANE_UNSET, 0x0200, Oflag.CRDLY),
    Mode("cr0", _O, SANE_SET, 0, Oflag.CRDLY),
    Mode("tab3", _O, SANE_UNSET, 0x1800, Oflag.TABDLY),
    Mode("tab2", _O, SANE_UNSET, 0x1000, Oflag.TABDLY),
    Mode("tab1", _O, SANE_UNSET, 0x0800, Oflag.TABDLY),
    Mode("tab0", _O, SANE_SET, 0, Oflag.TABDLY),
    Mode("bs1", _O, SANE_UNSET, 0x2000, Oflag.BSDLY),
    Mode("bs0", _O, SANE_SET, 0, Oflag.BSDLY),
    Mode("vt1", _O, SANE_UNSET, 0x4000, Oflag.VTDLY),
    Mode("vt0", _O, SANE_SET, 0, Oflag.VTDLY),
    Mode("ff1", _O, SANE_UNSET, 0x8000, Oflag.FFDLY),
    Mode("ff0", _O, SANE_SET, 0, Oflag.FFDLY),
    Mode("isig", _L, SANE_SET | REV, Lflag.ISIG),
    Mode("icanon", _L, SANE_SET | REV, Lflag.ICANON),
    Mode("iexten", _L, SANE_SET | REV, Lflag.IEXTEN),
    Mode("echo", _L, SANE_SET | REV, Lflag.ECHO),
    Mode("echoe", _L, SANE_SET | REV, Lflag.ECHOE),
    Mode("crterase", _L, REV | OMIT, Lflag.ECHOE),
    Mode("echok", _L, SANE_SET | REV, Lflag.ECHOK),
    Mode("echonl", _L, SANE_UNSET | REV, Lflag.ECHONL),
    Mode("noflsh", _L, SANE_UNSET | REV, Lflag.NOFLSH),
    Mode("xcase", _L, SANE_UNSET | REV, Lflag.XCASE),
    Mode("tostop", _L, SANE_UNSET | REV, Lflag.TOSTOP),
    Mode("echoprt", _L, SANE_UNSET | REV, Lflag.ECHOPRT),
    Mode("prterase", _L, REV | OMIT, Lflag.ECHOPRT),
    Mode("echoctl", _L, SANE_SET | REV, Lflag.ECHOCTL),
    Mode("ctlecho", _L, REV | OMIT, Lflag.ECHOCTL),
    Mode("echoke", _L, SANE_SET | REV, Lflag.ECHOKE),
    Mode("crtkill", _L, REV | OMIT, Lflag.ECHOKE),
    Mode("flusho", _L, SANE_UNSET | REV, Lflag.FLUSHO),
    Mode("extproc", _L, SANE_UNSET | REV, Lflag.EXTPROC),
    *(Mode(name, _X, REV | OMIT) for name in ("evenp", "parity", "oddp", "nl")),
    Mode("ek", _X, OMIT),
    Mode("sane", _X, OMIT),
    *(Mode(name, _X, REV | OMIT) for name in ("cooked", "raw", "pass8", "litout", "cbreak",
                                                 "decctlq", "tabs", "lcase", "LCASE")),
    Mode("crt", _X, OMIT),
    Mode("dec", _X, OMIT),
)
_MODES_BY_NAME: Final = {mode.name: mode for mode in MODES}


def _ctrl(key: str) -> int:
    return ord(key) & 0x1F


#: control_info: (name, value `sane` gives it, index in c_cc), in display order.
CONTROL_CHARS: Final[tuple[tuple[str, int, int], ...]] = (
    ("intr", _ctrl("c"), VINTR), ("quit", 28, VQUIT), ("erase", 127, VERASE),
    ("kill", _ctrl("u"), VKILL), ("eof", _ctrl("d"), VEOF), ("eol", 0, VEOL),
    ("eol2", 0, VEOL2), ("swtch", 0, VSWTC), ("start", _ctrl("q"), VSTART),
    ("stop", _ctrl("s"), VSTOP), ("susp", _ctrl("z"), VSUSP),
    ("rprnt", _ctrl("r"), VREPRINT), ("werase", _ctrl("w"), VWERASE),
    ("lnext", _ctrl("v"), VLNEXT), ("discard", _ctrl("o"), VDISCARD),
    ("min", 1, VMIN), ("time", 0, VTIME),
)
_CONTROL_BY_NAME: Final = {name: (sane, index) for name, sane, index in CONTROL_CHARS}

_U32: Final = 0xFFFFFFFF


def _set(t: Ktermios, word: Word, on: int = 0, off: int = 0) -> None:
    """Clear `off` then set `on` in one flag word of `t`."""
    value = int(getattr(t, word.value))
    setattr(t, word.value, ((value & ~int(off)) | int(on)) & _U32)


# -- the combination settings ---------------------------------------------------------------------


def _evenp(t: Ktermios, rev: bool) -> None:
    if rev:
        _set(t, _C, Cflag.CS8, Cflag.PARENB | Cflag.CSIZE)
    else:
        _set(t, _C, Cflag.PARENB | Cflag.CS7, Cflag.PARODD | Cflag.CSIZE)


def _oddp(t: Ktermios, rev: bool) -> None:
    if rev:
        _set(t, _C, Cflag.CS8, Cflag.PARENB | Cflag.CSIZE)
    else:
        _set(t, _C, Cflag.CS7 | Cflag.PARODD | Cflag.PARENB, Cflag.CSIZE)


def _nl(t: Ktermios, rev: bool) -> None:
    if rev:
        _set(t, _I, Iflag.ICRNL, Iflag.INLCR | Iflag.IGNCR)
        _set(t, _O, Oflag.ONLCR, Oflag.OCRNL | Oflag.ONLRET)
    else:
        _set(t, _I, 0, Iflag.ICRNL)
        _set(t, _O, 0, Oflag.ONLCR)


def _ek(t: Ktermios, rev: bool) -> None:
    t.c_cc[VERASE] = 127
    t.c_cc[VKILL] = _ctrl("u")


def sane(t: Ktermios, rev: bool = False) -> None:
    """stty sane: every control character (min 1 and time 0 too: on Linux VMIN is not
    VEOF) and every SANE_SET/UNSET mode."""
    for _, value, index in CONTROL_CHARS:
        t.c_cc[index] = value
    for mode in MODES:
        if mode.flags & SANE_SET:
            _set(t, mode.word, mode.bits, mode.mask)
        elif mode.flags & SANE_UNSET:
            _set(t, mode.word, 0, mode.mask | mode.bits)


def _cooked(t: Ktermios, rev: bool) -> None:
    _raw(t, not rev)


def _raw(t: Ktermios, rev: bool) -> None:
    if rev:   # cooked
        _set(t, _I, Iflag.BRKINT | Iflag.IGNPAR | Iflag.ISTRIP | Iflag.ICRNL | Iflag.IXON)
        _set(t, _O, Oflag.OPOST)
        _set(t, _L, Lflag.ISIG | Lflag.ICANON)
    else:
        t.c_iflag = 0
        _set(t, _O, 0, Oflag.OPOST)
        _set(t, _L, 0, Lflag.ISIG | Lflag.ICANON | Lflag.XCASE)
        t.c_cc[VMIN], t.c_cc[VTIME] = 1, 0


def _pass8(t: Ktermios, rev: bool) -> None:
    if rev:
        _set(t, _C, Cflag.CS7 | Cflag.PARENB, Cflag.CSIZE)
        _set(t, _I, Iflag.ISTRIP)
    else:
        _set(t, _C, Cflag.CS8, Cflag.PARENB | Cflag.CSIZE)
        _set(t, _I, 0, Iflag.ISTRIP)


def _litout(t: Ktermios, rev: bool) -> None:
    _pass8(t, rev)
    _set(t, _O, *((Oflag.OPOST, 0) if rev else (0, Oflag.OPOST)))


def _cbreak(t: Ktermios, rev: bool) -> None:
    _set(t, _L, *((Lflag.ICANON, 0) if rev else (0, Lflag.ICANON)))


def _decctlq(t: Ktermios, rev: bool) -> None:
    _set(t, _I, *((Iflag.IXANY, 0) if rev else (0, Iflag.IXANY)))


def _tabs(t: Ktermios, rev: bool) -> None:
    _set(t, _O, 0x1800 if rev else 0, Oflag.TABDLY)


def _lcase(t: Ktermios, rev: bool) -> None:
    if rev:
        _set(t, _L, 0, Lflag.XCASE)
        _set(t, _I, 0, Iflag.IUCLC)
        _set(t, _O, 0, Oflag.OLCUC)
    else:
        _set(t, _L, Lflag.XCASE)
        _set(t, _I, Iflag.IUCLC)
        _set(t, _O, Oflag.OLCUC)


def _crt(t: Ktermios, rev: bool) -> None:
    _set(t, _L, Lflag.ECHOE | Lflag.ECHOCTL | Lflag.ECHOKE)


def _dec(t: Ktermios, rev: bool) -> None:
    t.c_cc[VINTR], t.c_cc[VERASE], t.c_cc[VKILL] = 3, 127, 21
    _crt(t, rev)
    _set(t, _I, 0, Iflag.IXANY)


#: The combination settings: name → what it does (the second argument: given with "-").
COMBINATIONS: Final[dict[str, Callable[[Ktermios, bool], None]]] = {
    "evenp": _evenp, "parity": _evenp, "oddp": _oddp, "nl": _nl, "ek": _ek, "sane": sane,
    "cooked": _cooked, "raw": _raw, "pass8": _pass8, "litout": _litout, "cbreak": _cbreak,
    "decctlq": _decctlq, "tabs": _tabs, "lcase": _lcase, "LCASE": _lcase, "crt": _crt,
    "dec": _dec,
}


def set_mode(t: Ktermios, mode: Mode, reversed_: bool) -> bool:
    """Apply one mode (or combination) to `t`; False when "-" was given to a mode that
    takes none."""
    if reversed_ and not mode.flags & REV:
        return False
    if mode.word is _X:
        COMBINATIONS[mode.name](t, reversed_)
    elif reversed_:
        _set(t, mode.word, 0, mode.mask | mode.bits)
    else:
        _set(t, mode.word, mode.bits, mode.mask)
    return True


# -- display ---------------------------------------------------------------------------------------


class _Wrapped:
    """wrapf(): items separated by a space, a new line before one that would not fit in
    `max_col` (coreutils' rule: it fits while max_col - current_col >= its length)."""

    def __init__(self, max_col: int) -> None:
        self.max_col = max_col
        self.col = 0
        self.text: list[str] = []

    def item(self, text: str) -> None:
        if self.col > 0:
            if self.max_col - self.col < len(text):
                self.text.append("\n")
                self.col = 0
            else:
                self.text.append(" ")
                self.col += 1
        self.text.append(text)
        self.col += len(text)

    def newline(self) -> None:
        self.text.append("\n")
        self.col = 0

    def __str__(self) -> str:
        return "".join(self.text)


def visible(ch: int) -> str:
    """How stty shows a control character: <undef>, ^X, ^?, M-x, M-^X."""
    if ch == 0:
        return "<undef>"
    prefix = ""
    if ch >= 128:
        prefix, ch = "M-", ch - 128
    if ch < 32:
        return f"{prefix}^{chr(ch + 64)}"
    return f"{prefix}^?" if ch == 127 else prefix + chr(ch)


def _speed(out: _Wrapped, t: Ktermios) -> None:
    probe = t.copy()
    ispeed, ospeed = tty_termios_input_baud_rate(probe), tty_termios_baud_rate(probe)
    if ispeed in (0, ospeed):
        out.item(f"speed {ospeed} baud;")
    else:
        out.item(f"ispeed {ispeed} baud; ospeed {ospeed} baud;")


def _flag_word(t: Ktermios, mode: Mode) -> int:
    return int(getattr(t, mode.word.value))


def _modes(out: _Wrapped, t: Ktermios, show: Callable[[Mode, bool], str | None]) -> None:
    """The mode lines, one per flag word, each mode as `show(mode, is set)` says."""
    word = _C
    empty = True
    for mode in MODES:
        if mode.flags & OMIT:
            continue
        if mode.word is not word:
            if not empty:
                out.newline()
                empty = True
            word = mode.word
        is_set = _flag_word(t, mode) & (mode.mask or mode.bits) == mode.bits
        text = show(mode, is_set)
        if text is not None:
            out.item(text)
            empty = False
    if not empty:
        out.newline()


def display_all(t: Ktermios, winsize: Winsize | None, max_col: int) -> str:
    """`stty -a`: speed, window size (when the tty has one), line, every control
    character, min and time, then every mode, one line per flag word."""
    out = _Wrapped(max_col)
    _speed(out, t)
    if winsize is not None:
        out.item(f"rows {winsize.ws_row}; columns {winsize.ws_col};")
    out.item(f"line = {t.c_line};")
    out.newline()
    for name, _, index in CONTROL_CHARS[:-2]:
        out.item(f"{name} = {visible(t.c_cc[index])};")
    out.item(f"min = {t.c_cc[VMIN]}; time = {t.c_cc[VTIME]};")
    out.newline()

    def every(mode: Mode, is_set: bool) -> str | None:
        if is_set:
            return mode.name
        return f"-{mode.name}" if mode.flags & REV else None

    _modes(out, t, every)
    return str(out)


def display_changed(t: Ktermios, max_col: int) -> str:
    """`stty` without settings: the speed and line, the control characters that differ
    from `sane` (min and time when -icanon), and the modes that differ from `sane`."""
    out = _Wrapped(max_col)
    _speed(out, t)
    out.item(f"line = {t.c_line};")
    out.newline()
    empty = True
    for name, value, index in CONTROL_CHARS[:-2]:
        if t.c_cc[index] != value:
            out.item(f"{name} = {visible(t.c_cc[index])};")
            empty = False
    if not int(t.c_lflag) & Lflag.ICANON:
        out.item(f"min = {t.c_cc[VMIN]}; time = {t.c_cc[VTIME]};")
        out.newline()
    elif not empty:
        out.newline()

    def differing(mode: Mode, is_set: bool) -> str | None:
        if is_set:
            return mode.name if mode.flags & SANE_UNSET else None
        return f"-{mode.name}" if mode.flags & SANE_SET and mode.flags & REV else None

    _modes(out, t, differing)
    return str(out)


def display_recoverable(t: Ktermios) -> str:
    """`stty -g`: the four flag words and glibc's 32 control characters in hex."""
    cc = [*t.c_cc, *([0] * (GLIBC_NCCS - NCCS))]
    words = (t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag)
    return ":".join(f"{int(v):x}" for v in (*words, *cc)) + "\n"


_HEX_FIELDS: Final = re.compile(r"[0-9a-fA-F]+(?::[0-9a-fA-F]+)*")


def recover_mode(text: str, t: Ktermios) -> bool:
    """Take back a `stty -g` string: four words then 32 control characters, in hex."""
    if not _HEX_FIELDS.fullmatch(text):
        return False
    fields = [int(part, 16) for part in text.split(":")]
    if len(fields) != 4 + GLIBC_NCCS or any(v > _U32 for v in fields[:4]) \
            or any(v > 0xFF for v in fields[4:]):
        return False
    t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag = fields[:4]
    t.c_cc[:] = fields[4:4 + NCCS]
    return True


# -- the command -----------------------------------------------------------------------------------

_TRY: Final = "Try 'stty --help' for more information."
_SPEED: Final = re.compile(r"[0-9]+|134\.5|exta|extb")
_SPEED_ALIASES: Final = {"exta": 19200, "extb": 38400, "134.5": 134}


class _Failed(Exception):
    """stty gives up: the message (without "stty: "), exit status 1."""


def _integer(text: str, maxval: int) -> int:
    """coreutils' integer_arg: decimal, 0x hex or 0 octal, at most `maxval`."""
    try:
        value = int(text, 0) if not re.fullmatch(r"0[0-7]+", text) else int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= maxval:
        raise _Failed(f"invalid integer argument '{text}'\n{_TRY}")
    return value


def _control_value(name: str, arg: str) -> int:
    """set_control_char(): a character, ^X, ^?, ^- or undef, or a number."""
    if name in ("min", "time"):
        return _integer(arg, 0xFF)
    if len(arg) <= 1:
        return ord(arg) & 0xFF if arg else 0
    if arg in ("^-", "undef"):
        return 0
    if arg[0] == "^":
        return 127 if arg[1] == "?" else ord(arg[1]) & ~0o140 & 0xFF
    return _integer(arg, 0xFF)


def _baud(text: str) -> int | None:
    if not _SPEED.fullmatch(text):
        return None
    return _SPEED_ALIASES.get(text, int(text) if text.isdigit() else 0)


@dataclass
class _Request:
    """What the command line asks: the device, the output style, the settings."""

    device: str | None = None
    style: str | None = None        # "all", "save" or None
    settings: list[str] | None = None


def _parse(args: list[str]) -> _Request:
    request = _Request(settings=[])
    assert request.settings is not None
    words = list(args)
    styles: set[str] = set()
    while words:
        word = words.pop(0)
        if word in ("-a", "--all"):
            styles.add("all")
        elif word in ("-g", "--save"):
            styles.add("save")
        elif word in ("-F", "--file") or word.startswith(("-F", "--file=")):
            if word in ("-F", "--file"):
                if not words:
                    raise UsageError("stty: option requires an argument -- 'F'")
                device = words.pop(0)
            else:
                device = word.split("=", 1)[1] if word.startswith("--") else word[2:]
            if request.device is not None:
                raise _Failed("only one device may be specified")
            request.device = device
        else:
            request.settings.append(word)
    if len(styles) > 1:
        raise _Failed("the options for verbose and stty-readable output styles are\n"
                      "mutually exclusive")
    if styles and request.settings:
        raise _Failed("when specifying an output style, modes may not be set")
    request.style = next(iter(styles), None)
    return request


def _screen_columns(call: Invocation) -> int:
    """Where stty wraps: the terminal's width, else $COLUMNS, else 80."""
    if call.out.isatty():
        return shutil.get_terminal_size().columns
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return 80
    return columns if columns > 0 else 80


class _Device:
    """The open device and the ioctls stty makes on it."""

    def __init__(self, call: Invocation, path: str) -> None:
        self.call = call
        self.path = path
        shell = call.shell
        self.afile: AsyncFile = shell.run_on_machine(
            call.system.aopen(abspath(path), O_RDONLY | O_NONBLOCK))
        try:
            shell.run_on_machine(self.afile.ioctl(FIONBIO, 0))
        except OSError as exc:
            self.close()
            raise _Failed(f"{path}: couldn't reset non-blocking mode") from exc

    def close(self) -> None:
        self.call.shell.close(self.afile)

    def get(self) -> Ktermios:
        return self.call.shell.run_on_machine(tcgetattr(self.afile))

    def set(self, t: Ktermios) -> None:
        self.call.shell.run_on_machine(tcsetattr(self.afile, TCSADRAIN, t))

    def winsize(self) -> Winsize:
        buf = bytearray(Winsize.SIZE)
        self.call.shell.run_on_machine(self.afile.ioctl(TIOCGWINSZ, buf))
        return Winsize.unpack(buf)

    def set_winsize(self, rows: int | None, cols: int | None) -> None:
        size = self.winsize()
        size.ws_row = size.ws_row if rows is None else rows
        size.ws_col = size.ws_col if cols is None else cols
        self.call.shell.run_on_machine(self.afile.ioctl(TIOCSWINSZ, bytearray(size.pack())))


def _apply(device: _Device, t: Ktermios, settings: list[str], out: list[str]) -> tuple[bool,
                                                                                        bool]:
    """Apply the settings to `t` (window size and `speed`/`size` at once, on the device);
    returns (a termios setting was given, a speed was given).  Raises _Failed."""
    require = speed_set = False
    k = 0

    def argument(name: str) -> str:
        if k + 1 >= len(settings):
            raise _Failed(f"missing argument to '{name}'\n{_TRY}")
        return settings[k + 1]

    while k < len(settings):
        arg = settings[k]
        reversed_ = arg.startswith("-")
        name = arg[1:] if reversed_ else arg
        mode = _MODES_BY_NAME.get(name)
        if mode is not None and set_mode(t, mode, reversed_):
            require = True
        elif reversed_:
            raise _Failed(f"invalid argument '{arg}'\n{_TRY}")
        elif name in _CONTROL_BY_NAME:
            t.c_cc[_CONTROL_BY_NAME[name][1]] = _control_value(name, argument(name))
            k += 1
            require = True
        elif name in ("ispeed", "ospeed"):
            baud = _baud(argument(name))
            if baud is None:
                raise _Failed(f"invalid {name} '{settings[k + 1]}'")
            _set_speed(t, name, baud)
            k += 1
            require = speed_set = True
        elif name in ("rows", "cols", "columns"):
            value = _integer(argument(name), 0xFFFF)
            device.set_winsize(value if name == "rows" else None,
                               None if name == "rows" else value)
            k += 1
        elif name == "size":
            size = device.winsize()
            out.append(f"{size.ws_row} {size.ws_col}\n")
        elif name == "line":
            t.c_line = _integer(argument(name), 0xFF)
            k += 1
            require = True
        elif name == "speed":
            probe = t.copy()
            ispeed, ospeed = tty_termios_input_baud_rate(probe), tty_termios_baud_rate(probe)
            out.append(f"{ospeed}\n" if ispeed in (0, ospeed) else f"{ispeed} {ospeed}\n")
        elif (baud := _baud(name)) is not None:
            cfsetspeed(t, baud)
            require = speed_set = True
        elif recover_mode(name, t):
            require = True
        else:
            raise _Failed(f"invalid argument '{arg}'\n{_TRY}")
        k += 1
    return require, speed_set


def _set_speed(t: Ktermios, which: str, baud: int) -> None:
    """ispeed N / ospeed N (cfsetispeed, cfsetospeed): one direction, as a B-code when
    standard, else BOTHER with the number; an input speed of 0 is "as the output"."""
    code = BAUD_CODES.get(baud, Cflag.BOTHER)
    cflag = int(t.c_cflag)
    if which == "ospeed":
        t.c_cflag = (cflag & ~int(Cflag.CBAUD) & _U32) | code
        t.c_ospeed = baud
    else:
        t.c_cflag = (cflag & ~int(Cflag.CIBAUD) & _U32) | code << IBSHIFT
        t.c_ispeed = baud


def do_stty(call: Invocation) -> int:
    try:
        return _stty(call)
    except _Failed as exc:
        call.error(f"stty: {exc}")
        return 1


def _stty(call: Invocation) -> int:
    request = _parse(call.args)
    if request.device is None:
        raise _Failed("'standard input': Inappropriate ioctl for device")
    path = request.device
    try:
        device = _Device(call, path)
    except OSError as exc:
        raise _Failed(f"{path}: {strerror(exc)}") from None
    try:
        return _run(call, device, request)
    except OSError as exc:
        raise _Failed(f"{path}: {strerror(exc)}") from None
    finally:
        device.close()


def _run(call: Invocation, device: _Device, request: _Request) -> int:
    t = device.get()
    settings = request.settings or []
    if request.style == "save":
        call.out.write(display_recoverable(t))
        return 0
    if request.style == "all":
        call.out.write(display_all(t, device.winsize(), _screen_columns(call)))
        return 0
    if not settings:
        call.out.write(display_changed(t, _screen_columns(call)))
        return 0
    printed: list[str] = []
    require, speed_set = _apply(device, t, settings, printed)
    call.out.write("".join(printed))
    if require:
        device.set(t)
        now = device.get()
        if now != t:
            cibaud_only = now.copy()
            cibaud_only.c_cflag = int(cibaud_only.c_cflag) & ~int(Cflag.CIBAUD) & _U32
            cibaud_only.c_ispeed = t.c_ispeed
            if speed_set or cibaud_only != t:
                raise _Failed(f"{device.path}: unable to perform all requested operations")
    return 0


#: Speeds offered by completion (any number is accepted).
_COMMON_SPEEDS: Final = ("9600", "19200", "38400", "57600", "115200", "230400", "460800",
                         "921600")


def complete_stty(shell: Shell, args: list[str], word: str) -> list[str]:
    """After -F a path (the machine's ttys first), else options, settings, control
    characters and the common speeds."""
    if args and args[-1] in ("-F", "--file"):
        return shell.complete_path(word or "/dev/tty")
    names = [mode.name for mode in MODES]
    names += [f"-{mode.name}" for mode in MODES if mode.flags & REV]
    names += [name for name, _, _ in CONTROL_CHARS]
    names += ["-F", "-a", "-g", "cols", "columns", "ispeed", "line", "ospeed", "rows",
              "size", "speed", *_COMMON_SPEEDS]
    return starting(word, names)
