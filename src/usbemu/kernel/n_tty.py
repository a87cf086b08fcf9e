"""The N_TTY line discipline — counterpart of drivers/tty/n_tty.c.

`NTty` sits between a tty's flip buffer and the processes reading and writing it.  Input
arrives through `receive_buf2` (atomic, from the flush work) into a 4096-byte ring: in raw
mode whole slices are copied; otherwise each byte goes through input processing (ISTRIP,
IUCLC, INLCR, IGNCR, ICRNL), the error flags of the flip buffer (PARMRK, IGNPAR, INPCK,
IGNBRK, BRKINT), software flow control (IXON, IXANY: START and STOP stop and start the
output) and, in canonical mode, line editing (VERASE, VWERASE, VKILL, VEOF, VEOL, VEOL2,
VLNEXT, VREPRINT), with echo (ECHO, ECHOE, ECHOK, ECHOKE, ECHONL, ECHOCTL's ^X, ECHOPRT)
written through the driver.  When less than TTY_THRESHOLD_THROTTLE bytes of the ring are
free the driver is throttled, and unthrottled once a reader drained it.  `read` follows
n_tty_read to the letter for canonical lines and for the four VMIN/VTIME cases, on machine
time; `write` does the output processing of OPOST (ONLCR, OCRNL, ONOCR, ONLRET, OLCUC,
XTABS) and sleeps on the tty's write queue while the driver has no room.

There are no processes here: with ISIG the INTR, QUIT and SUSP characters flush the input
and output as Linux does (unless NOFLSH) and are echoed, but no signal is delivered; job
control (TOSTOP, background reads), packet mode and fasync are not modelled.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

from ..errors import Errno
from .fs import O_NONBLOCK, File
from .printk import Level
from .termios import (
    DISABLED_CHAR,
    TIOCINQ,
    TIOCOUTQ,
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
    VTIME,
    VWERASE,
    Iflag,
    Ktermios,
    Lflag,
    Oflag,
)
from .tty import (
    TTY_DO_WRITE_WAKEUP,
    TTY_HUPPING,
    TTY_LDISC_CHANGING,
    TTY_LDISC_HALTED,
    TTY_OTHER_CLOSED,
    TTY_THROTTLE_SAFE,
    TTY_UNTHROTTLE_SAFE,
    TtyDriverFlag,
    TtyStruct,
    start_tty,
    stop_tty,
    tty_hung_up_p,
    tty_io_nonblock,
    tty_msg,
    tty_put_char,
    wait_woken,
)
from .tty_buffer import (
    TTY_BREAK,
    TTY_FRAME,
    TTY_NORMAL,
    TTY_OVERRUN,
    TTY_PARITY,
    tty_buffer_flush_work,
    tty_buffer_restart_work,
)
from .tty_ioctl import (
    n_tty_ioctl_helper,
    put_user_int,
    tty_chars_in_buffer,
    tty_driver_flush_buffer,
    tty_throttle_safe,
    tty_unthrottle,
    tty_unthrottle_safe,
    tty_write_room,
)
from .wait import Poll, PollTable, poll_wait

__all__ = ["N_TTY", "N_TTY_BUF_SIZE", "TTY_THRESHOLD_THROTTLE", "TTY_THRESHOLD_UNTHROTTLE",
           "NTty"]

N_TTY: Final = 0
N_TTY_BUF_SIZE: Final = 4096
_MASK: Final = N_TTY_BUF_SIZE - 1
#: poll reports POLLOUT while fewer bytes than this wait in the driver.
WAKEUP_CHARS: Final = 256
#: Throttle when fewer bytes of the ring are free; unthrottle when at most this many wait.
TTY_THRESHOLD_THROTTLE: Final = 128
TTY_THRESHOLD_UNTHROTTLE: Final = 128

ECHO_OP_START: Final = 0xFF
ECHO_OP_MOVE_BACK_COL: Final = 0x80
ECHO_OP_SET_CANON_COL: Final = 0x81
ECHO_OP_ERASE_TAB: Final = 0x82
ECHO_COMMIT_WATERMARK: Final = 256
ECHO_BLOCK: Final = 256
ECHO_DISCARD_WATERMARK: Final = N_TTY_BUF_SIZE - (ECHO_BLOCK + 32)

# lib/ctype.c for the 8-bit range: control 0-31, 127, 128-159; upper 65-90, 192-222 but
# 215; lower 97-122, 223-255 but 247.
_CNTRL: Final = frozenset({*range(32), *range(127, 160)})
_UPPER: Final = frozenset({*range(65, 91), *range(192, 223)} - {215})
_LOWER: Final = frozenset({*range(97, 123), *range(223, 256)} - {247})
_ALNUM: Final = _UPPER | _LOWER | frozenset(range(48, 58))
_TOLOWER: Final = bytes(c + 32 if c in _UPPER else c for c in range(256))
_TOUPPER: Final = bytes(c - 32 if c in _LOWER else c for c in range(256))
#: Bytes that do not move the column: control characters, and UTF-8 continuation bytes
#: that are not control characters (the rest of 0x80-0xbf).
_NO_COLUMN: Final = bytes(sorted(_CNTRL))
_NO_COLUMN_UTF8: Final = bytes(sorted(_CNTRL | set(range(0xA0, 0xC0))))
#: Bytes that make process_output_block look closer.
_OUTPUT_SPECIAL: Final = re.compile(rb"[\n\r\t\b]")


def _driver_write(tty: TtyStruct, data: bytes) -> None:
    if tty.ops.write is not None:
        tty.ops.write(tty, memoryview(data))


def _is_continuation(c: int, utf8: bool) -> bool:
    return utf8 and (c & 0xC0) == 0x80


class _Modes:
    """The settings the per-byte paths test, read once when the settings change."""

    __slots__ = ("brkint", "echo", "echoctl", "echoe", "echok", "echoke", "echonl",
                 "echoprt", "eof", "eol", "eol2", "erase", "extproc", "icanon", "icrnl",
                 "iexten", "ignbrk", "igncr", "ignpar", "inlcr", "inpck", "intr", "isig",
                 "istrip", "iuclc", "iutf8", "ixany", "ixon", "kill", "lnext", "noflsh",
                 "ocrnl", "olcuc", "onlcr", "onlret", "onocr", "opost", "parmrk", "quit",
                 "reprint", "start", "stop", "susp", "time", "vmin", "werase", "xtabs")

    def __init__(self, t: Ktermios) -> None:
        i, o, lf = int(t.c_iflag), int(t.c_oflag), int(t.c_lflag)
        self.istrip, self.inlcr = bool(i & Iflag.ISTRIP), bool(i & Iflag.INLCR)
        self.igncr, self.icrnl = bool(i & Iflag.IGNCR), bool(i & Iflag.ICRNL)
        self.ixon, self.ixany = bool(i & Iflag.IXON), bool(i & Iflag.IXANY)
        self.parmrk, self.inpck = bool(i & Iflag.PARMRK), bool(i & Iflag.INPCK)
        self.ignpar, self.ignbrk = bool(i & Iflag.IGNPAR), bool(i & Iflag.IGNBRK)
        self.brkint, self.iutf8 = bool(i & Iflag.BRKINT), bool(i & Iflag.IUTF8)
        self.iexten = bool(lf & Lflag.IEXTEN)
        self.iuclc = bool(i & Iflag.IUCLC) and self.iexten
        self.isig, self.icanon = bool(lf & Lflag.ISIG), bool(lf & Lflag.ICANON)
        self.echo, self.echoe = bool(lf & Lflag.ECHO), bool(lf & Lflag.ECHOE)
        self.echok, self.echoke = bool(lf & Lflag.ECHOK), bool(lf & Lflag.ECHOKE)
        self.echonl, self.echoprt = bool(lf & Lflag.ECHONL), bool(lf & Lflag.ECHOPRT)
        self.echoctl, self.noflsh = bool(lf & Lflag.ECHOCTL), bool(lf & Lflag.NOFLSH)
        self.extproc = bool(lf & Lflag.EXTPROC)
        self.opost, self.onlcr = bool(o & Oflag.OPOST), bool(o & Oflag.ONLCR)
        self.ocrnl, self.onocr = bool(o & Oflag.OCRNL), bool(o & Oflag.ONOCR)
        self.onlret, self.olcuc = bool(o & Oflag.ONLRET), bool(o & Oflag.OLCUC)
        self.xtabs = o & Oflag.TABDLY == Oflag.XTABS
        cc = t.c_cc
        self.intr, self.quit, self.erase, self.kill = cc[VINTR], cc[VQUIT], cc[VERASE], cc[VKILL]
        self.eof, self.time, self.vmin, self.start = cc[VEOF], cc[VTIME], cc[VMIN], cc[VSTART]
        self.stop, self.susp, self.eol, self.reprint = cc[VSTOP], cc[VSUSP], cc[VEOL], cc[VREPRINT]
        self.werase, self.lnext, self.eol2 = cc[VWERASE], cc[VLNEXT], cc[VEOL2]


class NTty:
    """The N_TTY discipline of one tty (struct n_tty_data and n_tty_ops).  Context:
    `receive_buf2`, `lookahead_buf`, `poll`, `flush_buffer`, `set_termios` and
    `write_wakeup` are atomic; `read`, `write` and `ioctl` may sleep."""

    num = N_TTY
    name = "n_tty"

    def __init__(self) -> None:
        self.read_buf = bytearray(N_TTY_BUF_SIZE)
        self.read_flags = bytearray(N_TTY_BUF_SIZE)
        self.echo_buf = bytearray(N_TTY_BUF_SIZE)
        self.char_map = bytearray(256)
        self.read_head = self.commit_head = self.canon_head = self.read_tail = 0
        self.line_start = 0
        self.echo_head = self.echo_commit = self.echo_mark = self.echo_tail = 0
        self.lookahead_count = 0
        self.column = self.canon_column = 0
        self.num_overrun = 0
        self.overrun_time = 0.0
        self.no_room = False
        self.lnext = self.erasing = self.raw = self.real_raw = self.icanon = False
        self.push = False
        self.m = _Modes(Ktermios())
        self.atomic_read_lock = asyncio.Lock()

    # -- open, close, settings ---------------------------------------------------------------

    def open(self, tty: TtyStruct) -> int:
        """n_tty_open(): attach to `tty` with its settings; returns 0."""
        self.overrun_time = asyncio.get_running_loop().time()
        tty.closing = False
        tty.flags &= ~TTY_LDISC_HALTED
        self.set_termios(tty, None)
        tty_unthrottle(tty)
        return 0

    def close(self, tty: TtyStruct) -> None:
        """n_tty_close(): nothing is kept."""
        self._reset_buffer_flags()

    def set_termios(self, tty: TtyStruct, old: Ktermios | None) -> None:
        """n_tty_set_termios(): follow new settings — a change of ICANON or EXTPROC turns
        what was read into a line or back; the characters to act on and the raw paths are
        worked out; output stopped by IXON resumes when IXON goes off."""
        t = tty.termios
        lflag = int(t.c_lflag)
        if old is None or (int(old.c_lflag) ^ lflag) & (Lflag.ICANON | Lflag.EXTPROC):
            self.read_flags[:] = bytes(N_TTY_BUF_SIZE)
            self.line_start = self.read_tail
            if not lflag & Lflag.ICANON or not self._read_cnt():
                self.canon_head = self.read_tail
                self.push = False
            else:
                self.read_flags[(self.read_head - 1) & _MASK] = 1
                self.canon_head = self.read_head
                self.push = True
            self.commit_head = self.read_head
            self.erasing = self.lnext = False
        m = self.m = _Modes(t)
        self.icanon = m.icanon
        cooked = (m.istrip or bool(int(t.c_iflag) & Iflag.IUCLC) or m.igncr or m.icrnl
                  or m.inlcr or m.icanon or m.ixon or m.isig or m.echo or m.parmrk)
        if cooked:
            self._build_char_map(m)
            self.raw = self.real_raw = False
        else:
            self.raw = True
            self.real_raw = ((m.ignbrk or (not m.brkint and not m.parmrk))
                             and (m.ignpar or not m.inpck)
                             and bool(tty.driver.flags & TtyDriverFlag.REAL_RAW))
        if (not m.ixon and old is not None and int(old.c_iflag) & Iflag.IXON
                and not tty.flow.tco_stopped):
            start_tty(tty)
            self._process_echoes(tty)
        tty.write_wait.wake_up()
        tty.read_wait.wake_up()

    def _build_char_map(self, m: _Modes) -> None:
        special: list[int] = []
        if m.igncr or m.icrnl:
            special.append(ord("\r"))
        if m.inlcr:
            special.append(ord("\n"))
        if m.icanon:
            special += [m.erase, m.kill, m.eof, ord("\n"), m.eol]
            if m.iexten:
                special += [m.werase, m.lnext, m.eol2]
                if m.echo:
                    special.append(m.reprint)
        if m.ixon:
            special += [m.start, m.stop]
        if m.isig:
            special += [m.intr, m.quit, m.susp]
        self.char_map[:] = bytes(256)
        for c in special:
            self.char_map[c] = 1
        self.char_map[DISABLED_CHAR] = 0

    # -- the ring ---------------------------------------------------------------------------

    def _read_cnt(self) -> int:
        return self.read_head - self.read_tail

    def _put(self, c: int) -> None:
        """put_tty_queue()."""
        self.read_buf[self.read_head & _MASK] = c
        self.read_head += 1

    def _reset_buffer_flags(self) -> None:
        self.read_head = self.canon_head = self.read_tail = self.commit_head = 0
        self.line_start = 0
        self.erasing = False
        self.read_flags[:] = bytes(N_TTY_BUF_SIZE)
        self.push = False
        self.lookahead_count = 0

    def _chars_in_buffer(self) -> int:
        return (self.canon_head if self.icanon else self.commit_head) - self.read_tail

    def _kick_worker(self, tty: TtyStruct) -> None:
        """n_tty_kick_worker(): the flush work stopped for lack of room: restart it."""
        if self.no_room:
            self.no_room = False
            if tty.port is not None:
                tty_buffer_restart_work(tty.port)

    def flush_buffer(self, tty: TtyStruct) -> None:
        """n_tty_flush_buffer(): discard the input."""
        self._reset_buffer_flags()
        self._kick_worker(tty)

    def write_wakeup(self, tty: TtyStruct) -> None:
        """n_tty_write_wakeup()."""
        tty.flags &= ~TTY_DO_WRITE_WAKEUP

    # -- throttling ----------------------------------------------------------------------------

    def _check_throttle(self, tty: TtyStruct) -> None:
        """n_tty_check_throttle(): throttle the driver when little room is left (not in
        canonical mode without a complete line)."""
        if self.icanon and self.canon_head == self.read_tail:
            return
        while True:
            tty.flow_change = TTY_THROTTLE_SAFE
            if N_TTY_BUF_SIZE - self._read_cnt() >= TTY_THRESHOLD_THROTTLE:
                break
            if not tty_throttle_safe(tty):
                break
        tty.flow_change = 0

    def _check_unthrottle(self, tty: TtyStruct) -> None:
        """n_tty_check_unthrottle(): unthrottle once the reader drained the ring."""
        while True:
            tty.flow_change = TTY_UNTHROTTLE_SAFE
            if self._chars_in_buffer() > TTY_THRESHOLD_UNTHROTTLE:
                break
            self._kick_worker(tty)
            if not tty_unthrottle_safe(tty):
                break
        tty.flow_change = 0

    # -- echo ----------------------------------------------------------------------------------

    def _add_echo_byte(self, c: int) -> None:
        self.echo_buf[self.echo_head & _MASK] = c
        self.echo_head += 1

    def _echo_char_raw(self, c: int) -> None:
        if c == ECHO_OP_START:
            self._add_echo_byte(ECHO_OP_START)
        self._add_echo_byte(c)

    def _echo_char(self, c: int) -> None:
        """echo_char(): ECHOCTL shows control characters but TAB as ^X."""
        if c == ECHO_OP_START or (self.m.echoctl and c in _CNTRL and c != ord("\t")):
            self._add_echo_byte(ECHO_OP_START)
        self._add_echo_byte(c)

    def _echo_op(self, op: int) -> None:
        self._add_echo_byte(ECHO_OP_START)
        self._add_echo_byte(op)

    def _echo_erase_tab(self, num_chars: int, after_tab: bool) -> None:
        self._echo_op(ECHO_OP_ERASE_TAB)
        self._add_echo_byte((num_chars & 7) | (0x80 if after_tab else 0))

    def _finish_erasing(self) -> None:
        if self.erasing:
            self._echo_char_raw(ord("/"))
            self.erasing = False

    def _process_echo_op(self, tty: TtyStruct, tail: int, space: int) -> tuple[int, int]:
        """n_tty_process_echo_ops(): one echo operation at `tail`; (space left, new tail),
        with space -ENODATA when it is not all stored yet, -ENOSPC without room."""
        if (self.echo_commit & _MASK) == ((tail + 1) & _MASK):
            return -Errno.ENODATA, tail
        op = self.echo_buf[(tail + 1) & _MASK]
        if op == ECHO_OP_ERASE_TAB:
            if (self.echo_commit & _MASK) == ((tail + 2) & _MASK):
                return -Errno.ENODATA, tail
            num_chars = self.echo_buf[(tail + 2) & _MASK]
            if not num_chars & 0x80:
                num_chars += self.canon_column
            num_bs = 8 - (num_chars & 7)
            if num_bs > space:
                return -Errno.ENOSPC, tail
            for _ in range(num_bs):
                tty_put_char(tty, ord("\b"))
                self.column = max(self.column - 1, 0)
            return space - num_bs, tail + 3
        if op == ECHO_OP_SET_CANON_COL:
            self.canon_column = self.column
            return space, tail + 2
        if op == ECHO_OP_MOVE_BACK_COL:
            self.column = max(self.column - 1, 0)
            return space, tail + 2
        if op == ECHO_OP_START:
            if not space:
                return -Errno.ENOSPC, tail
            tty_put_char(tty, ECHO_OP_START)
            self.column += 1
            return space - 1, tail + 2
        if space < 2:
            return -Errno.ENOSPC, tail
        tty_put_char(tty, ord("^"))
        tty_put_char(tty, op ^ 0o100)
        self.column += 2
        return space - 2, tail + 2

    def _do_process_echoes(self, tty: TtyStruct) -> int:
        """__process_echoes(): write committed echoes while the driver has room; returns
        the room used."""
        old_space = space = tty_write_room(tty)
        tail = self.echo_tail
        while (self.echo_commit & _MASK) != (tail & _MASK):
            c = self.echo_buf[tail & _MASK]
            if c == ECHO_OP_START:
                ret, new_tail = self._process_echo_op(tty, tail, space)
                if ret == -Errno.ENODATA:
                    self.echo_tail = tail
                    return old_space - space
                if ret < 0:
                    break
                space, tail = ret, new_tail
                continue
            if self.m.opost:
                used = self._do_output_char(c, tty, space)
                if used < 0:
                    break
                space -= used
            else:
                if not space:
                    break
                tty_put_char(tty, c)
                space -= 1
            tail += 1
        while self.echo_commit > tail and self.echo_commit - tail >= ECHO_DISCARD_WATERMARK:
            if self.echo_buf[tail & _MASK] == ECHO_OP_START:
                tail += 3 if self.echo_buf[(tail + 1) & _MASK] == ECHO_OP_ERASE_TAB else 2
            else:
                tail += 1
        self.echo_tail = tail
        return old_space - space

    def _commit_echoes(self, tty: TtyStruct) -> None:
        """commit_echoes(): echoes go out in blocks of ECHO_BLOCK while receiving."""
        head = self.echo_head
        self.echo_mark = head
        old = self.echo_commit - self.echo_tail
        nr = head - self.echo_tail
        if nr < ECHO_COMMIT_WATERMARK or nr % ECHO_BLOCK > old % ECHO_BLOCK:
            return
        self.echo_commit = head
        if self._do_process_echoes(tty) and tty.ops.flush_chars is not None:
            tty.ops.flush_chars(tty)

    def _process_echoes(self, tty: TtyStruct) -> None:
        """process_echoes(): write the echoes marked so far."""
        if self.echo_mark == self.echo_tail:
            return
        self.echo_commit = self.echo_mark
        if self._do_process_echoes(tty) and tty.ops.flush_chars is not None:
            tty.ops.flush_chars(tty)

    def _flush_echoes(self, tty: TtyStruct) -> None:
        """flush_echoes(): at the end of a batch of input, all echoes go out."""
        if (not self.m.echo and not self.m.echonl) or self.echo_commit == self.echo_head:
            return
        self.echo_commit = self.echo_head
        self._do_process_echoes(tty)

    # -- line editing ---------------------------------------------------------------------------

    def _eraser(self, c: int, tty: TtyStruct) -> None:
        """eraser(): VERASE, VWERASE and VKILL in canonical mode, with their echo."""
        m = self.m
        if self.read_head == self.canon_head:
            return
        if c == m.erase:
            kill_type = "erase"
        elif c == m.werase:
            kill_type = "werase"
        else:
            if not m.echo:
                self.read_head = self.canon_head
                return
            if not m.echok or not m.echoke or not m.echoe:
                self.read_head = self.canon_head
                self._finish_erasing()
                self._echo_char(m.kill)
                if m.echok:
                    self._echo_char_raw(ord("\n"))
                return
            kill_type = "kill"
        seen_alnums = 0
        while (self.read_head & _MASK) != (self.canon_head & _MASK):
            head = self.read_head
            while True:
                head -= 1
                c = self.read_buf[head & _MASK]
                if not (_is_continuation(c, m.iutf8)
                        and (head & _MASK) != (self.canon_head & _MASK)):
                    break
            if _is_continuation(c, m.iutf8):
                break
            if kill_type == "werase":
                if c in _ALNUM or c == ord("_"):
                    seen_alnums += 1
                elif seen_alnums:
                    break
            cnt = self.read_head - head
            self.read_head = head
            if m.echo:
                self._echo_erased(c, cnt, head, kill_type)
            if kill_type == "erase":
                break
        if self.read_head == self.canon_head and m.echo:
            self._finish_erasing()

    def _echo_erased(self, c: int, cnt: int, head: int, kill_type: str) -> None:
        """The echo of one erased character (the body of eraser's echo branch)."""
        m = self.m
        if m.echoprt:
            if not self.erasing:
                self._echo_char_raw(ord("\\"))
                self.erasing = True
            self._echo_char(c)
            for _ in range(cnt - 1):
                head += 1
                self._echo_char_raw(self.read_buf[head & _MASK])
                self._echo_op(ECHO_OP_MOVE_BACK_COL)
        elif kill_type == "erase" and not m.echoe:
            self._echo_char(m.erase)
        elif c == ord("\t"):
            num_chars, after_tab = 0, False
            tail = self.read_head
            while (tail & _MASK) != (self.canon_head & _MASK):
                tail -= 1
                prev = self.read_buf[tail & _MASK]
                if prev == ord("\t"):
                    after_tab = True
                    break
                if prev in _CNTRL:
                    num_chars += 2 if m.echoctl else 0
                elif not _is_continuation(prev, m.iutf8):
                    num_chars += 1
            self._echo_erase_tab(num_chars, after_tab)
        else:
            rub_out = b"\b \b"
            if c in _CNTRL and m.echoctl:
                for b in rub_out:
                    self._echo_char_raw(b)
            if c not in _CNTRL or m.echoctl:
                for b in rub_out:
                    self._echo_char_raw(b)

    def _isig(self, tty: TtyStruct) -> None:
        """isig() without the signal: unless NOFLSH, the echoes, the driver's output and
        the input are discarded."""
        if self.m.noflsh:
            return
        self.echo_head = self.echo_tail = self.echo_mark = self.echo_commit = 0
        tty_driver_flush_buffer(tty)
        self._reset_buffer_flags()

    def _receive_break(self, tty: TtyStruct) -> None:
        """n_tty_receive_break()."""
        m = self.m
        if m.ignbrk:
            return
        if m.brkint:
            self._isig(tty)
            return
        if m.parmrk:
            self._put(0o377)
            self._put(0)
        self._put(0)

    def _receive_overrun(self, tty: TtyStruct) -> None:
        """n_tty_receive_overrun(): counted, reported at most once a second."""
        self.num_overrun += 1
        now = asyncio.get_running_loop().time()
        if now > self.overrun_time + 1.0:
            tty_msg(tty, Level.WARNING, f"{self.num_overrun} input overrun(s)")
            self.overrun_time = now
            self.num_overrun = 0

    def _receive_parity_error(self, c: int) -> None:
        """n_tty_receive_parity_error(): also for framing errors."""
        m = self.m
        if not m.inpck:
            self._put(c)
        elif m.ignpar:
            return
        elif m.parmrk:
            self._put(0o377)
            self._put(0)
            self._put(c)
        else:
            self._put(0)

    def _receive_char_flagged(self, tty: TtyStruct, c: int, flag: int) -> None:
        if flag == TTY_BREAK:
            self._receive_break(tty)
        elif flag in (TTY_PARITY, TTY_FRAME):
            self._receive_parity_error(c)
        elif flag == TTY_OVERRUN:
            self._receive_overrun(tty)
        else:
            tty_msg(tty, Level.ERR, f"unknown flag {flag}")

    def _receive_signal_char(self, tty: TtyStruct, c: int) -> None:
        self._isig(tty)
        if self.m.ixon:
            start_tty(tty)
        if self.m.echo:
            self._echo_char(c)
            self._commit_echoes(tty)
        else:
            self._process_echoes(tty)

    def _flow_ctrl(self, tty: TtyStruct, c: int, lookahead_done: bool) -> bool:
        """n_tty_receive_char_flow_ctrl(): START and STOP act on the output (unless the
        lookahead already did); True when `c` was one of them."""
        m = self.m
        if c != m.start and c != m.stop:
            return False
        if lookahead_done:
            return True
        if c == m.start:
            start_tty(tty)
            self._process_echoes(tty)
        else:
            stop_tty(tty)
        return True

    def _handle_newline(self, tty: TtyStruct, c: int) -> None:
        self.read_flags[self.read_head & _MASK] = 1
        self._put(c)
        self.canon_head = self.read_head
        tty.read_wait.wake_up()

    def _receive_char_canon(self, tty: TtyStruct, c: int) -> bool:
        """n_tty_receive_char_canon(): the line-editing characters; True when `c` was
        one."""
        m = self.m
        if c == m.erase or c == m.kill or (c == m.werase and m.iexten):
            self._eraser(c, tty)
            self._commit_echoes(tty)
            return True
        if c == m.lnext and m.iexten:
            self.lnext = True
            if m.echo:
                self._finish_erasing()
                if m.echoctl:
                    self._echo_char_raw(ord("^"))
                    self._echo_char_raw(ord("\b"))
                    self._commit_echoes(tty)
            return True
        if c == m.reprint and m.echo and m.iexten:
            self._finish_erasing()
            self._echo_char(c)
            self._echo_char_raw(ord("\n"))
            tail = self.canon_head
            while (tail & _MASK) != (self.read_head & _MASK):
                self._echo_char(self.read_buf[tail & _MASK])
                tail += 1
            self._commit_echoes(tty)
            return True
        if c == ord("\n"):
            if m.echo or m.echonl:
                self._echo_char_raw(ord("\n"))
                self._commit_echoes(tty)
            self._handle_newline(tty, c)
            return True
        if c == m.eof:
            self._handle_newline(tty, DISABLED_CHAR)
            return True
        if c == m.eol or (c == m.eol2 and m.iexten):
            if m.echo:
                if self.canon_head == self.read_head:
                    self._echo_op(ECHO_OP_SET_CANON_COL)
                self._echo_char(c)
                self._commit_echoes(tty)
            if c == 0o377 and m.parmrk:
                self._put(c)
            self._handle_newline(tty, c)
            return True
        return False

    def _receive_char_special(self, tty: TtyStruct, c: int, lookahead_done: bool) -> None:
        m = self.m
        if m.ixon and self._flow_ctrl(tty, c, lookahead_done):
            return
        if m.isig and (c == m.intr or c == m.quit or c == m.susp):
            self._receive_signal_char(tty, c)
            return
        if tty.flow.stopped and not tty.flow.tco_stopped and m.ixon and m.ixany:
            start_tty(tty)
            self._process_echoes(tty)
        if c == ord("\r"):
            if m.igncr:
                return
            if m.icrnl:
                c = ord("\n")
        elif c == ord("\n") and m.inlcr:
            c = ord("\r")
        if self.icanon and self._receive_char_canon(tty, c):
            return
        if m.echo:
            self._finish_erasing()
            if c == ord("\n"):
                self._echo_char_raw(ord("\n"))
            else:
                if self.canon_head == self.read_head:
                    self._echo_op(ECHO_OP_SET_CANON_COL)
                self._echo_char(c)
            self._commit_echoes(tty)
        if c == 0o377 and m.parmrk:
            self._put(c)
        self._put(c)

    def _receive_char(self, tty: TtyStruct, c: int) -> None:
        m = self.m
        if tty.flow.stopped and not tty.flow.tco_stopped and m.ixon and m.ixany:
            start_tty(tty)
            self._process_echoes(tty)
        if m.echo:
            self._finish_erasing()
            if self.canon_head == self.read_head:
                self._echo_op(ECHO_OP_SET_CANON_COL)
            self._echo_char(c)
            self._commit_echoes(tty)
        if c == 0o377 and m.parmrk:
            self._put(c)
        self._put(c)

    def _preops(self, c: int) -> int:
        if self.m.istrip:
            c &= 0x7F
        if self.m.iuclc:
            c = _TOLOWER[c]
        return c

    def _receive_standard(self, tty: TtyStruct, cp: memoryview, fp: memoryview | None,
                          lookahead_done: bool) -> None:
        """n_tty_receive_buf_standard(): byte by byte."""
        char_map = self.char_map
        extproc = self.m.extproc
        for i, c in enumerate(cp):
            flag = TTY_NORMAL if fp is None else fp[i]
            if self.lnext:
                self.lnext = False
                if flag == TTY_NORMAL:
                    self._receive_char(tty, self._preops(c))
                else:
                    self._receive_char_flagged(tty, c, flag)
                continue
            if flag != TTY_NORMAL:
                self._receive_char_flagged(tty, c, flag)
                continue
            c = self._preops(c)
            if extproc:
                self._put(c)
            elif char_map[c]:
                self._receive_char_special(tty, c, lookahead_done)
            else:
                self._receive_char(tty, c)

    def _receive_closing(self, tty: TtyStruct, cp: memoryview, fp: memoryview | None,
                         lookahead_done: bool) -> None:
        """n_tty_receive_buf_closing(): while closing only flow control is looked at."""
        m = self.m
        for i, c in enumerate(cp):
            if fp is not None and fp[i] != TTY_NORMAL:
                continue
            c = self._preops(c)
            if (m.ixon and not self._flow_ctrl(tty, c, lookahead_done) and tty.flow.stopped
                    and not tty.flow.tco_stopped and m.ixany
                    and c not in (m.intr, m.quit, m.susp)):
                start_tty(tty)
                self._process_echoes(tty)

    def _receive_copy(self, cp: memoryview) -> None:
        """n_tty_receive_buf_real_raw(): the bytes as they are, in at most two copies."""
        count = len(cp)
        head = self.read_head & _MASK
        first = min(count, N_TTY_BUF_SIZE - head)
        self.read_buf[head:head + first] = cp[:first]
        if count > first:
            self.read_buf[:count - first] = cp[first:]
        self.read_head += count

    def _receive_raw(self, tty: TtyStruct, cp: memoryview, fp: memoryview | None) -> None:
        """n_tty_receive_buf_raw(): flagged bytes still get their error handling."""
        if fp is None or fp.tobytes().count(0) == len(fp):
            self._receive_copy(cp)
            return
        for c, flag in zip(cp, fp, strict=True):
            if flag == TTY_NORMAL:
                self._put(c)
            else:
                self._receive_char_flagged(tty, c, flag)

    def _receive(self, tty: TtyStruct, cp: memoryview, fp: memoryview | None) -> None:
        """__receive_buf()."""
        m = self.m
        count = len(cp)
        la = min(self.lookahead_count, count)
        if self.real_raw:
            self._receive_copy(cp)
        elif self.raw or (m.extproc and not (m.istrip or m.iuclc)):
            self._receive_raw(tty, cp, fp)
        else:
            step = self._receive_closing if tty.closing and not m.extproc \
                else self._receive_standard
            if la:
                step(tty, cp[:la], None if fp is None else fp[:la], True)
            if count > la:
                step(tty, cp[la:], None if fp is None else fp[la:], False)
            if step == self._receive_standard:
                self._flush_echoes(tty)
                if tty.ops.flush_chars is not None:
                    tty.ops.flush_chars(tty)
        self.lookahead_count -= la
        if self.icanon and not m.extproc:
            return
        self.commit_head = self.read_head
        if self._read_cnt():
            tty.read_wait.wake_up()

    def receive_buf2(self, tty: TtyStruct, cp: memoryview, fp: memoryview | None,
                     count: int) -> int:
        """n_tty_receive_buf2(): take as much of `count` bytes (with their flags, or all
        TTY_NORMAL when `fp` is None) as the ring has room for; returns how many.  In
        canonical mode with no complete line an overflowing ring still takes bytes (they
        replace the last one), so that erase characters get through.  Context: atomic."""
        rcvd = 0
        room = 0
        while True:
            room = N_TTY_BUF_SIZE - (self.read_head - self.read_tail)
            if self.m.parmrk:
                room = -(-room // 3)
            room -= 1
            overflow = False
            if room <= 0:
                overflow = self.icanon and self.canon_head == self.read_tail
                if overflow and room < 0:
                    self.read_head -= 1
                room = int(overflow)
                self.no_room = not room
            n = min(count, room)
            if not n:
                break
            if not overflow or fp is None or fp[rcvd] != TTY_PARITY:
                self._receive(tty, cp[rcvd:rcvd + n],
                              None if fp is None else fp[rcvd:rcvd + n])
            count -= n
            rcvd += n
            if tty.flags & TTY_LDISC_CHANGING:
                break
        tty.receive_room = room
        self._check_throttle(tty)
        if self.no_room and not self._chars_in_buffer():
            self._kick_worker(tty)
        return rcvd

    def lookahead_buf(self, tty: TtyStruct, cp: memoryview, fp: memoryview | None,
                      count: int) -> None:
        """n_tty_lookahead_flow_ctrl(): START/STOP act even while the ring is full."""
        self.lookahead_count += count
        if not self.m.ixon:
            return
        for i, c in enumerate(cp):
            if fp is None or fp[i] == TTY_NORMAL:
                self._flow_ctrl(tty, c, False)

    # -- reading ------------------------------------------------------------------------------

    def _input_available(self, for_poll: bool) -> bool:
        m = self.m
        amt = m.vmin if for_poll and not m.time and m.vmin else 1
        if self.icanon and not m.extproc:
            return self.canon_head != self.read_tail
        return self.commit_head - self.read_tail >= amt

    def _copy_out(self, buf: memoryview, kb: int, n: int) -> None:
        """tty_copy(): n bytes from the read tail into buf[kb:], across the ring's end."""
        tail = self.read_tail & _MASK
        first = min(n, N_TTY_BUF_SIZE - tail)
        buf[kb:kb + first] = self.read_buf[tail:tail + first]
        if n > first:
            buf[kb + first:kb + n] = self.read_buf[:n - first]

    def _copy_from_read_buf(self, buf: memoryview, kb: int) -> int:
        """copy_from_read_buf(), both halves of the ring: the bytes copied."""
        n = min(self.commit_head - self.read_tail, len(buf) - kb)
        if n:
            self._copy_out(buf, kb, n)
            self.read_tail += n
        return n

    def _canon_copy_from_read_buf(self, buf: memoryview, kb: int) -> tuple[int, bool]:
        """canon_copy_from_read_buf(): up to the end of the line (the EOF character is
        consumed, not copied).  Returns (bytes copied, more of this line is left)."""
        nr = len(buf) - kb
        if not nr:
            return 0, False
        canon_head = self.canon_head
        n = min(nr, canon_head - self.read_tail)
        tail = self.read_tail & _MASK
        size = min(tail + n, N_TTY_BUF_SIZE)
        eol = self.read_flags.find(1, tail, size)
        eol = size if eol < 0 else eol
        more = n - (size - tail)
        if eol == N_TTY_BUF_SIZE and more:
            eol = self.read_flags.find(1, 0, more)
            eol = more if eol < 0 else eol
            found = eol != more
        else:
            found = eol != size
        n = eol - tail
        if n < 0:
            n += N_TTY_BUF_SIZE
        c = n + found
        if not found or self.read_buf[eol] != DISABLED_CHAR:
            n = c
        self._copy_out(buf, kb, n)
        if found:
            self.read_flags[eol] = 0
        self.read_tail += c
        if found:
            if not self.push:
                self.line_start = self.read_tail
            else:
                self.push = False
            return n, False
        return n, self.read_tail != canon_head

    def _canon_skip_eof(self) -> None:
        """canon_skip_eof(): a read that ended exactly before an EOF marker takes it."""
        tail = self.read_tail
        if tail == self.canon_head:
            return
        if not self.read_flags[tail & _MASK] or self.read_buf[tail & _MASK] != DISABLED_CHAR:
            return
        self.read_flags[tail & _MASK] = 0
        self.read_tail += 1

    async def read(self, tty: TtyStruct, file: File, buf: memoryview) -> int:
        """n_tty_read(): fill `buf` — in canonical mode with at most one line; otherwise
        per VMIN/VTIME: MIN 0 TIME 0 returns what is there, MIN 0 TIME t waits up to t
        tenths of a second for the first byte, MIN m TIME 0 waits for m bytes, MIN m TIME t
        for m bytes with an inter-byte timer of t started by the first byte.  Returns the
        bytes read, 0 at end of file (an EOF character, or a hangup), -EAGAIN for
        O_NONBLOCK with nothing to read, -EIO when the other side closed.  Context: may
        sleep."""
        if file.f_flags & O_NONBLOCK and self.atomic_read_lock.locked():
            return -Errno.EAGAIN
        async with self.atomic_read_lock:
            return await self._read(tty, file, buf)

    async def _read(self, tty: TtyStruct, file: File, buf: memoryview) -> int:
        nr = len(buf)
        minimum, time_s, timeout = 0, 0.0, None
        if not self.icanon:
            minimum = self.m.vmin
            if minimum:
                time_s = self.m.time / 10
            else:
                timeout = self.m.time / 10
                minimum = 1
        old_tail = self.read_tail
        kb = retval = 0
        while kb < nr:
            if not self._input_available(False):
                if tty.port is not None:
                    tty_buffer_flush_work(tty.port)
                if not self._input_available(False):
                    if tty.flags & TTY_OTHER_CLOSED:
                        retval = -Errno.EIO
                        break
                    if tty_hung_up_p(file) or tty.flags & TTY_HUPPING:
                        break
                    if timeout == 0:
                        break
                    if tty_io_nonblock(tty, file):
                        retval = -Errno.EAGAIN
                        break
                    timeout = await wait_woken(tty.read_wait, timeout)
                    continue
            if self.icanon and not self.m.extproc:
                n, more = self._canon_copy_from_read_buf(buf, kb)
                kb += n
                if more and kb == nr:
                    self._canon_skip_eof()
                self._check_unthrottle(tty)
                break
            kb += self._copy_from_read_buf(buf, kb)
            self._check_unthrottle(tty)
            if kb >= minimum:
                break
            if time_s:
                timeout = time_s
        if old_tail != self.read_tail:
            self._kick_worker(tty)
        return kb or retval

    # -- writing --------------------------------------------------------------------------------

    def _do_output_char(self, c: int, tty: TtyStruct, space: int) -> int:
        """do_output_char(): one byte with OPOST processing; the room used, or -1."""
        m = self.m
        if not space:
            return -1
        if c == 0x0A:
            if m.onlret:
                self.column = 0
            if m.onlcr:
                if space < 2:
                    return -1
                self.canon_column = self.column = 0
                _driver_write(tty, b"\r\n")
                return 2
            self.canon_column = self.column
        elif c == 0x0D:
            if m.onocr and self.column == 0:
                return 0
            if m.ocrnl:
                c = 0x0A
                if m.onlret:
                    self.canon_column = self.column = 0
            else:
                self.canon_column = self.column = 0
        elif c == 0x09:
            spaces = 8 - (self.column & 7)
            if m.xtabs:
                if space < spaces:
                    return -1
                self.column += spaces
                _driver_write(tty, b" " * spaces)
                return spaces
            self.column += spaces
        elif c == 0x08:
            self.column = max(self.column - 1, 0)
        elif c not in _CNTRL:
            if m.olcuc:
                c = _TOUPPER[c]
            if not _is_continuation(c, m.iutf8):
                self.column += 1
        tty_put_char(tty, c)
        return 1

    def _process_output(self, c: int, tty: TtyStruct) -> int:
        """process_output(): 0, or -1 when the driver has no room for it."""
        return 0 if self._do_output_char(c, tty, tty_write_room(tty)) >= 0 else -1

    def _scan_block(self, buf: memoryview, nr: int) -> int:
        """The loop of process_output_block(): how many bytes can go out as they are
        (the column followed), up to the first that needs do_output_char."""
        m = self.m
        if m.olcuc:
            return self._scan_block_bytewise(buf, nr)
        no_column = _NO_COLUMN_UTF8 if m.iutf8 else _NO_COLUMN
        pos = 0
        while pos < nr:
            found = _OUTPUT_SPECIAL.search(buf, pos, nr)
            end = nr if found is None else found.start()
            if end > pos:
                self.column += len(bytes(buf[pos:end]).translate(None, no_column))
            if found is None:
                return nr
            c = buf[end]
            if c == 0x0A:
                if m.onlret:
                    self.column = 0
                if m.onlcr:
                    return end
                self.canon_column = self.column
            elif c == 0x0D:
                if (m.onocr and self.column == 0) or m.ocrnl:
                    return end
                self.canon_column = self.column = 0
            elif c == 0x09:
                return end
            else:
                self.column = max(self.column - 1, 0)
            pos = end + 1
        return nr

    def _scan_block_bytewise(self, buf: memoryview, nr: int) -> int:
        m = self.m
        for i in range(nr):
            c = buf[i]
            if c == 0x0A:
                if m.onlret:
                    self.column = 0
                if m.onlcr:
                    return i
                self.canon_column = self.column
            elif c == 0x0D:
                if (m.onocr and self.column == 0) or m.ocrnl:
                    return i
                self.canon_column = self.column = 0
            elif c == 0x09:
                return i
            elif c == 0x08:
                self.column = max(self.column - 1, 0)
            elif c not in _CNTRL:
                return i
        return nr

    def _process_output_block(self, tty: TtyStruct, buf: memoryview) -> int:
        """process_output_block(): the leading bytes that need no processing, in one
        driver write; how many the driver took."""
        space = tty_write_room(tty)
        if space <= 0:
            return space
        nr = min(len(buf), space)
        i = self._scan_block(buf, nr)
        assert tty.ops.write is not None
        return tty.ops.write(tty, buf[:i])

    async def write(self, tty: TtyStruct, file: File, data: memoryview) -> int:
        """n_tty_write(): pending echoes first, then `data` with OPOST processing (or as
        it is), sleeping on the write queue while the driver has no room.  Returns the
        bytes taken; -EIO once the file is hung up, -EAGAIN for O_NONBLOCK when none
        could be taken.  Context: may sleep."""
        self._process_echoes(tty)
        b, nr, retval = 0, len(data), 0
        write = tty.ops.write
        assert write is not None
        while True:
            if tty_hung_up_p(file):
                retval = -Errno.EIO
                break
            if self.m.opost:
                while nr > 0:
                    num = self._process_output_block(tty, data[b:b + nr])
                    if num == -Errno.EAGAIN:
                        break
                    if num < 0:
                        return b or num
                    b += num
                    nr -= num
                    if nr == 0 or self._process_output(data[b], tty) < 0:
                        break
                    b += 1
                    nr -= 1
                if tty.ops.flush_chars is not None:
                    tty.ops.flush_chars(tty)
            else:
                while nr > 0:
                    num = write(tty, data[b:b + nr])
                    if num < 0:
                        return b or num
                    if not num:
                        break
                    b += num
                    nr -= num
            if not nr:
                break
            if tty_io_nonblock(tty, file):
                retval = -Errno.EAGAIN
                break
            await wait_woken(tty.write_wait, None)
        return b or retval

    # -- poll, ioctl ------------------------------------------------------------------------------

    def poll(self, tty: TtyStruct, file: File, table: PollTable | None) -> Poll:
        """n_tty_poll(): IN when a read would not block (a line in canonical mode; VMIN
        bytes when VTIME is 0), OUT when the driver has room and little queued, HUP once
        hung up."""
        poll_wait(file, tty.read_wait, table)
        poll_wait(file, tty.write_wait, table)
        mask = Poll(0)
        if self._input_available(True) or (
                tty.port is not None and tty_buffer_flush_work(tty.port)
                and self._input_available(True)):
            mask |= Poll.IN | Poll.RDNORM
        if tty.flags & TTY_OTHER_CLOSED or tty_hung_up_p(file):
            mask |= Poll.HUP
        if (tty.ops.write is not None and not tty.atomic_write_lock.locked()
                and tty_chars_in_buffer(tty) < WAKEUP_CHARS and tty_write_room(tty) > 0):
            mask |= Poll.OUT | Poll.WRNORM
        return mask

    def _inq_canon(self) -> int:
        """inq_canon(): bytes of complete lines, EOF markers not counted."""
        if self.canon_head == self.read_tail:
            return 0
        nr = self.canon_head - self.read_tail
        for pos in range(self.read_tail, self.canon_head):
            if self.read_flags[pos & _MASK] and self.read_buf[pos & _MASK] == DISABLED_CHAR:
                nr -= 1
        return nr

    async def ioctl(self, tty: TtyStruct, cmd: int, arg: Any) -> int:
        """n_tty_ioctl(): TIOCOUTQ (bytes queued in the driver), TIOCINQ/FIONREAD (bytes
        to read: of complete lines in canonical mode), else n_tty_ioctl_helper.
        Context: may sleep."""
        if cmd == TIOCOUTQ:
            return put_user_int(arg, tty_chars_in_buffer(tty))
        if cmd == TIOCINQ:
            canon = self.m.icanon and not self.m.extproc
            return put_user_int(arg, self._inq_canon() if canon else self._read_cnt())
        return await n_tty_ioctl_helper(tty, cmd, arg)
