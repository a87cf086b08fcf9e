"""The N_TTY line discipline (usbemu.kernel.n_tty) on the loopback tty driver: canonical
lines and line editing (VERASE, VWERASE, VKILL, VEOF, VEOL, VLNEXT, VREPRINT), input
processing and error flags, echo through the driver, OPOST output processing, raw reads
with the four VMIN/VTIME cases on virtual time, O_NONBLOCK, throttling at the kernel's
thresholds with nothing lost under a slow reader, write blocking and wakeup, poll,
IXON/IXANY and TCXONC, ISIG flushing, FIONREAD and TIOCOUTQ.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from usbemu_tests_tty_loopback import Line, Loopback  # type: ignore[import-not-found]

from usbemu.errors import Errno
from usbemu.kernel import termios as T
from usbemu.kernel.fs import O_NONBLOCK, O_RDWR
from usbemu.kernel.n_tty import NTty
from usbemu.kernel.printk import Level
from usbemu.kernel.syscalls import AsyncFile
from usbemu.kernel.termios import (
    TCSANOW,
    Iflag,
    Ktermios,
    Lflag,
    Oflag,
    cfmakeraw,
    tcflow,
    tcflush,
    tcgetattr,
    tcsetattr,
)
from usbemu.kernel.tty import TtyDriverFlag, TtyStruct
from usbemu.kernel.tty_buffer import TTY_BREAK, TTY_FRAME, TTY_NORMAL, TTY_OVERRUN, TTY_PARITY
from usbemu.kernel.tty_port import tty_port_tty_wakeup
from usbemu.kernel.wait import Poll
from usbemu.system import System

DEV = "/dev/ttyLP0"


def tty_of(f: AsyncFile) -> TtyStruct:
    tty: TtyStruct = f.file.private_data.tty
    return tty


async def settings(f: AsyncFile, change: Callable[[Ktermios], Any]) -> None:
    t = await tcgetattr(f)
    change(t)
    await tcsetattr(f, TCSANOW, t)


async def raw(f: AsyncFile, vmin: int = 1, vtime: int = 0) -> None:
    def change(t: Ktermios) -> None:
        cfmakeraw(t)
        t.c_cc[T.VMIN], t.c_cc[T.VTIME] = vmin, vtime
    await settings(f, change)


async def ioctl_int(f: AsyncFile, cmd: int) -> int:
    buf = bytearray(4)
    await f.ioctl(cmd, buf)
    return int.from_bytes(buf, "little", signed=True)


def run(system: System, scenario: Callable[[], Any]) -> Any:
    return system.run(scenario())


# -- canonical mode ----------------------------------------------------------------------------


def test_canonical_reads_return_one_line_at_a_time(tty_machine: System,
                                                   loopback: Loopback) -> None:
    line: Line = loopback.lines[0]

    async def scenario() -> list[bytes]:
        f = await tty_machine.aopen(DEV, "rb+")
        line.receive(b"hello\rworld\npart")        # ICRNL: \r ends a line too
        got = [await f.read(100), await f.read(3), await f.read(100)]
        assert await ioctl_int(f, T.FIONREAD) == 0        # "part" is no line yet
        line.receive(b"ial\n")
        got.append(await f.read(100))
        await f.close()
        return got

    assert run(tty_machine, scenario) == [b"hello\n", b"wor", b"ld\n", b"partial\n"]


@pytest.mark.parametrize(("typed", "read"), [
    (b"abc\x7fd\n", b"abd\n"),                   # VERASE
    (b"foo bar\x17baz\n", b"foo baz\n"),         # VWERASE (IEXTEN)
    (b"junk\x15ok\n", b"ok\n"),                  # VKILL
    (b"\x16\x15\n", b"\x15\n"),                  # VLNEXT quotes the next character
    (b"\x7f\x7fx\n", b"x\n"),                    # erasing an empty line does nothing
    (b"ab\x04", b"ab"),                          # VEOF ends a line without a newline
    (b"\x04", b""),                              # … and at its start is end of file
    (b"\xff\n", b"\xff\n"),
])
def test_line_editing(tty_machine: System, loopback: Loopback, typed: bytes,
                      read: bytes) -> None:
    async def scenario() -> bytes:
        f = await tty_machine.aopen(DEV, "rb+")
        loopback.lines[0].receive(typed)
        data = await f.read(100)
        await f.close()
        return data

    assert run(tty_machine, scenario) == read


def test_veol_and_input_processing(tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def scenario() -> list[bytes]:
        f = await tty_machine.aopen(DEV, "rb+")

        def change(t: Ktermios) -> None:
            t.c_cc[T.VEOL] = ord(";")
            t.c_iflag = (t.c_iflag & ~Iflag.ICRNL) | Iflag.IGNCR | Iflag.ISTRIP
        await settings(f, change)
        line.receive(b"a\rb;\xe1\n")
        got = [await f.read(10), await f.read(10)]

        def inlcr(t: Ktermios) -> None:
            t.c_iflag = Iflag.INLCR
            t.c_lflag &= ~Lflag.ICANON
        await settings(f, inlcr)
        line.receive(b"x\ny")
        got.append(await f.read(10))
        await f.close()
        return got

    assert run(tty_machine, scenario) == [b"ab;", b"a\n", b"x\ry"]


def test_a_read_that_ends_before_an_eof_marker_takes_it(tty_machine: System,
                                                        loopback: Loopback) -> None:
    async def scenario() -> list[bytes]:
        f = await tty_machine.aopen(DEV, "rb+")
        loopback.lines[0].receive(b"abc\x04xy\n")
        got = [await f.read(3), await f.read(10)]
        await f.close()
        return got

    assert run(tty_machine, scenario) == [b"abc", b"xy\n"]


def test_switching_to_raw_makes_a_partial_line_readable(tty_machine: System,
                                                        loopback: Loopback) -> None:
    async def scenario() -> bytes:
        f = await tty_machine.aopen(DEV, "rb+")
        loopback.lines[0].receive(b"no newline")
        await asyncio.sleep(0)
        await raw(f, vmin=0)
        data = await f.read(100)
        await f.close()
        return data

    assert run(tty_machine, scenario) == b"no newline"


# -- echo and output processing ------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "echo"), [
    (b"ab\r", b"ab\r\n"),                               # ONLCR applies to the echo
    (b"abc\x7f", b"abc\b \b"),                          # ECHOE
    (b"abc\x15", b"abc" + b"\b \b" * 3),                # ECHOKE
    (b"foo bar\x17", b"foo bar" + b"\b \b" * 3),
    (b"\x01\x7f", b"^A\b \b\b \b"),                     # ECHOCTL and its erase
    (b"a\tb\x7f\x7f", b"a\tb\b \b" + b"\b" * 7),         # erasing a tab: back to column 1
    (b"ab\x12", b"ab^R\r\nab"),                         # VREPRINT
    (b"\x16\x03", b"^\b^C"),                            # VLNEXT shows ^ then the char
])
def test_echo(tty_machine: System, loopback: Loopback, typed: bytes, echo: bytes) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> bytes:
        f = await tty_machine.aopen(DEV, "rb+")
        line.receive(typed)
        await asyncio.sleep(0.01)
        await f.close()
        return bytes(line.sent)

    assert run(tty_machine, scenario) == echo


def test_echo_variants(tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> list[bytes]:
        f = await tty_machine.aopen(DEV, "rb+")
        out = []
        for lflag, typed in [(Lflag.ECHO | Lflag.ECHOK, b"ab\x15"),     # kill: ^U, newline
                             (Lflag.ECHO, b"ab\x7f"),                   # no ECHOE: ^?
                             (Lflag.ECHONL, b"secret\n"),               # only the newline
                             (Lflag.ECHO | Lflag.ECHOPRT, b"ab\x7f\x7fc\n")]:
            def change(t: Ktermios, lflag: int = lflag) -> None:
                t.c_lflag = Lflag.ICANON | Lflag.IEXTEN | Lflag.ECHOCTL | lflag
            await settings(f, change)
            line.sent.clear()
            line.receive(typed)
            await asyncio.sleep(0.01)
            out.append(bytes(line.sent))
            await tcflush(f, T.TCIFLUSH)
        await f.close()
        return out

    assert run(tty_machine, scenario) == [b"ab^U\r\n", b"ab^?", b"\r\n", b"ab\\ba/c\r\n"]


@pytest.mark.parametrize(("oflag", "written", "sent"), [
    (Oflag.OPOST | Oflag.ONLCR, b"a\nb\n", b"a\r\nb\r\n"),
    (Oflag.ONLCR, b"a\nb\r", b"a\nb\r"),                       # no OPOST: as it is
    (Oflag.OPOST | Oflag.OCRNL, b"a\rb", b"a\nb"),
    (Oflag.OPOST | Oflag.ONOCR, b"\rx\r\r", b"x\r"),           # no CR at column 0
    (Oflag.OPOST | Oflag.XTABS, b"ab\tc\td", b"ab" + b" " * 6 + b"c" + b" " * 7 + b"d"),
    (Oflag.OPOST | Oflag.OLCUC, b"abc\n", b"ABC\n"),
    (Oflag.OPOST | Oflag.ONLRET | Oflag.ONOCR, b"ab\n\rc", b"ab\nc"),
])
def test_output_processing(tty_machine: System, loopback: Loopback, oflag: int,
                           written: bytes, sent: bytes) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> bytes:
        f = await tty_machine.aopen(DEV, "rb+")

        def change(t: Ktermios) -> None:
            t.c_oflag = oflag
            t.c_lflag = 0
        await settings(f, change)
        assert await f.write(written) == len(written)
        await asyncio.sleep(0.01)
        await f.close()
        return bytes(line.sent)

    assert run(tty_machine, scenario) == sent


def test_output_processing_of_a_long_write_follows_the_column(tty_machine: System,
                                                              loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False
    text = (b"x" * 100 + b"\b\t|\n") * 50

    async def scenario() -> tuple[bytes, int]:
        f = await tty_machine.aopen(DEV, "rb+")
        await settings(f, lambda t: setattr(t, "c_oflag", Oflag.OPOST | Oflag.ONLCR
                                            | Oflag.XTABS))
        await f.write(text)
        await asyncio.sleep(0.1)
        ld = tty_of(f).ldisc
        assert isinstance(ld, NTty)
        column = ld.column
        await f.close()
        return bytes(line.sent), column

    sent, column = run(tty_machine, scenario)
    # column 100, back to 99, a tab to 104, "|" at 104: the tab is 5 spaces
    assert sent == (b"x" * 100 + b"\b" + b" " * 5 + b"|\r\n") * 50 and column == 0


# -- raw reads: VMIN and VTIME -------------------------------------------------------------------


def _arrivals(line: Line, times_data: list[tuple[float, bytes]]) -> None:
    loop = asyncio.get_running_loop()
    for at, data in times_data:
        if at:
            loop.call_later(at, line.receive, data)
        else:
            line.receive(data)


@pytest.mark.parametrize(("vmin", "vtime", "arrivals", "result", "elapsed"), [
    (0, 0, [], b"", 0.0),                                          # polling read
    (0, 0, [(0.0, b"ab")], b"ab", 0.0),
    (0, 5, [], b"", 0.5),                                          # times out
    (0, 5, [(0.2, b"a"), (0.3, b"b")], b"a", 0.2),                 # the first byte ends it
    (3, 0, [(0.1, b"a"), (0.2, b"b"), (0.3, b"cd")], b"abcd", 0.3),  # waits for MIN
    (5, 2, [(1.0, b"a"), (1.1, b"b")], b"ab", 1.3),                # inter-byte timer
    (2, 2, [(1.0, b"a"), (1.15, b"b"), (1.3, b"c")], b"ab", 1.15),
])
def test_vmin_vtime(tty_machine: System, loopback: Loopback, vmin: int, vtime: int,
                    arrivals: list[tuple[float, bytes]], result: bytes,
                    elapsed: float) -> None:
    async def scenario() -> tuple[bytes, float]:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f, vmin, vtime)
        _arrivals(loopback.lines[0], arrivals)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(0)
        data = await f.read(100)
        took = loop.time() - start
        await f.close()
        return data, took

    data, took = run(tty_machine, scenario)
    assert data == result and took == pytest.approx(elapsed, abs=1e-6)


def test_vmin_with_vtime_waits_for_the_first_byte_without_limit(tty_machine: System,
                                                                 loopback: Loopback) -> None:
    async def scenario() -> bool:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f, 1, 1)
        try:
            await asyncio.wait_for(f.read(10), 60)
        except TimeoutError:
            return True
        finally:
            await f.close()
        return False

    assert run(tty_machine, scenario)


def test_nonblocking_read_and_write(tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, O_RDWR | O_NONBLOCK)
        await raw(f)
        got: list[Any] = []
        try:
            await f.read(10)
        except OSError as exc:
            got.append(exc.errno)
        line.room = 3
        line.loop_back = False
        got.append(await f.write(b"hello"))
        line.room = 0
        try:
            await f.write(b"lo")
        except OSError as exc:
            got.append(exc.errno)
        await f.close()
        return got

    assert run(tty_machine, scenario) == [Errno.EAGAIN, 3, Errno.EAGAIN]


# -- flow control --------------------------------------------------------------------------------


def test_throttle_and_unthrottle_at_the_thresholds(tty_machine: System,
                                                   loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def scenario() -> list[list[str]]:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f)
        seen = []

        def calls() -> list[str]:
            return [c for c in loopback.calls if c.endswith("throttle")]

        line.receive(b"x" * 3968)                 # 128 bytes of the ring left: not yet
        await asyncio.sleep(0)
        seen.append(calls())
        line.receive(b"y")                        # 127 left
        await asyncio.sleep(0)
        seen.append(calls())
        line.receive(b"z" * 500)                  # only 126 more fit; nothing lost
        await asyncio.sleep(0)
        seen.append(calls())
        assert len(await f.read(3969 - 129)) == 3840     # 129 + 126 left: still throttled
        seen.append(calls())
        rest = await f.read(100000)
        seen.append(calls())
        rest += await f.read(100000)
        assert rest == b"x" * 128 + b"y" + b"z" * 500
        await f.close()
        return seen

    assert run(tty_machine, scenario) == [[], ["throttle"], ["throttle"], ["throttle"],
                                          ["throttle", "unthrottle"]]


def test_a_megabyte_through_a_slow_reader_throttles_and_loses_nothing(
        tty_machine: System, loopback: Loopback) -> None:
    data = bytes(range(256)) * 4096

    async def scenario() -> tuple[bytes, list[str]]:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f)
        writer = asyncio.ensure_future(f.write(data))
        got = bytearray()
        while len(got) < len(data):
            got += await f.read(4096)
            await asyncio.sleep(0.001)
        assert await writer == len(data)
        await f.close()
        return bytes(got), [c for c in loopback.calls if c.endswith("throttle")]

    got, calls = run(tty_machine, scenario)
    assert got == data
    assert calls and calls[0] == "throttle"
    assert all(a != b for a, b in itertools.pairwise(calls))   # once per change


def test_write_blocks_until_the_driver_has_room(tty_machine: System,
                                               loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False
    line.room = 0

    async def scenario() -> tuple[bool, int, bytes]:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f)
        writer = asyncio.ensure_future(f.write(b"0123456789"))
        await asyncio.sleep(1)
        blocked = not writer.done()
        line.room = None
        tty_port_tty_wakeup(line.port)              # the driver has room again
        n = await writer
        await asyncio.sleep(0.01)
        await f.close()
        return blocked, n, bytes(line.sent)

    assert run(tty_machine, scenario) == (True, 10, b"0123456789")


def test_ixon_stop_start_and_ixany(tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        await settings(f, lambda t: setattr(t, "c_lflag", 0))
        out: list[Any] = []
        line.receive(b"\x13")                               # ^S: output stops
        await asyncio.sleep(0.01)
        await f.write(b"held")
        await asyncio.sleep(0.01)
        out += [bytes(line.sent), await ioctl_int(f, T.TIOCOUTQ)]
        line.receive(b"\x11")                               # ^Q: it resumes
        await asyncio.sleep(0.01)
        out.append(bytes(line.sent))
        await settings(f, lambda t: setattr(t, "c_iflag", Iflag.IXON | Iflag.IXANY))
        line.receive(b"\x13")
        await asyncio.sleep(0.01)
        await f.write(b"!")
        line.receive(b"k")                                  # IXANY: any key restarts
        await asyncio.sleep(0.01)
        out.append(bytes(line.sent))
        await tcflow(f, T.TCOOFF)                           # TCOOFF holds it
        line.receive(b"\x11")
        await f.write(b"?")
        await asyncio.sleep(0.01)
        out.append(bytes(line.sent))
        await tcflow(f, T.TCOON)
        await asyncio.sleep(0.01)
        out.append(bytes(line.sent))
        await tcflow(f, T.TCIOFF)                           # sends STOP
        await asyncio.sleep(0.01)
        out.append(bytes(line.sent))
        assert await f.read(10) == b"k"                     # START/STOP were not input
        await f.close()
        return out

    assert run(tty_machine, scenario) == [b"", 4, b"held", b"held!", b"held!",
                                          b"held!?", b"held!?\x13"]
    assert loopback.calls.count("stop") == 3


def test_isig_characters_flush_and_echo_but_signal_nobody(tty_machine: System,
                                                          loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> tuple[bytes, bytes]:
        f = await tty_machine.aopen(DEV, "rb+")
        line.receive(b"discarded")
        await asyncio.sleep(0.01)
        line.receive(b"\x03kept\n")
        data = await f.read(100)
        await asyncio.sleep(0.01)
        await settings(f, lambda t: setattr(t, "c_lflag", t.c_lflag | Lflag.NOFLSH))
        line.receive(b"a\x1cb\n")                           # ^\ with NOFLSH: nothing lost
        data += await f.read(100)
        await f.close()
        return data, bytes(line.sent)

    data, echo = run(tty_machine, scenario)
    assert data == b"kept\nab\n"
    assert echo == b"discarded^Ckept\r\na^\\b\r\n"


# -- error flags ------------------------------------------------------------------------------


@pytest.mark.parametrize(("iflag", "flag", "data", "result"), [
    (Iflag.INPCK | Iflag.PARMRK, TTY_PARITY, b"x", b"\xff\x00x"),
    (Iflag.INPCK, TTY_FRAME, b"x", b"\x00"),
    (Iflag.INPCK | Iflag.IGNPAR, TTY_PARITY, b"x", b""),
    (0, TTY_PARITY, b"x", b"x"),                   # no INPCK: the byte as it came
    (Iflag.PARMRK, TTY_BREAK, b"\x00", b"\xff\x00\x00"),
    (0, TTY_BREAK, b"\x00", b"\x00"),
    (Iflag.IGNBRK, TTY_BREAK, b"\x00", b""),
    (Iflag.PARMRK, TTY_NORMAL, b"\xff", b"\xff\xff"),   # PARMRK doubles a real \377
])
def test_error_flags(tty_machine: System, loopback: Loopback, iflag: int, flag: int,
                     data: bytes, result: bytes) -> None:
    async def scenario() -> bytes:
        f = await tty_machine.aopen(DEV, "rb+")

        def change(t: Ktermios) -> None:
            t.c_iflag, t.c_lflag = iflag, Lflag.ISIG
            t.c_cc[T.VMIN] = 0
        await settings(f, change)
        loopback.lines[0].receive(data, flag)
        got = await f.read(10)
        await f.close()
        return got

    assert run(tty_machine, scenario) == result


def test_real_raw_mode_ignores_the_flags(tty_machine: System, loopback: Loopback) -> None:
    async def scenario() -> bytes:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f, vmin=0)
        await settings(f, lambda t: setattr(t, "c_iflag", Iflag.IGNBRK | Iflag.IGNPAR))
        loopback.lines[0].receive(b"\x00", TTY_BREAK)
        loopback.lines[0].receive(b"p", TTY_PARITY)
        got = await f.read(10)
        await f.close()
        return got

    assert run(tty_machine, scenario) == b"\x00p"


def test_brkint_flushes_and_overruns_are_reported_once_a_second(tty_machine: System,
                                                                loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def scenario() -> bytes:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f, vmin=0)
        await settings(f, lambda t: setattr(t, "c_iflag", Iflag.BRKINT))
        line.receive(b"lost")
        await asyncio.sleep(0)
        line.receive(b"\x00", TTY_BREAK)
        line.receive(b"kept")
        await asyncio.sleep(0)
        data = await f.read(10)
        line.receive(b"\x00", TTY_OVERRUN)                  # within a second of the open
        await asyncio.sleep(2)
        line.receive(b"\x00\x00", TTY_OVERRUN)
        await asyncio.sleep(0.01)
        await f.close()
        return data

    assert run(tty_machine, scenario) == b"kept"
    assert tty_machine.log.lines(Level.WARNING)[-1:] == ["ttyLP ttyLP0: 2 input overrun(s)"]


# -- poll, FIONREAD, TIOCOUTQ ---------------------------------------------------------------------


def test_poll(tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> list[Poll]:
        f = await tty_machine.aopen(DEV, "rb+")
        masks = [await f.poll(timeout_ms=0)]
        line.receive(b"half")
        masks.append(await f.poll(Poll.IN, timeout_ms=0))
        asyncio.get_running_loop().call_later(0.5, line.receive, b" line\n")
        masks.append(await f.poll(Poll.IN, timeout_ms=1000))
        line.room = 0
        masks.append(await f.poll(Poll.OUT, timeout_ms=0))
        await raw(f, vmin=5)
        await f.read(100)
        line.receive(b"abcd")
        masks.append(await f.poll(Poll.IN, timeout_ms=0))  # VMIN 5, VTIME 0: not yet
        line.receive(b"e")
        masks.append(await f.poll(Poll.IN, timeout_ms=0))
        await f.close()
        return masks

    assert run(tty_machine, scenario) == [Poll.OUT, Poll(0), Poll.IN, Poll(0), Poll(0),
                                          Poll.IN]


def test_fionread_counts_complete_lines_and_tiocoutq_the_driver_queue(
        tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def scenario() -> list[int]:
        f = await tty_machine.aopen(DEV, "rb+")
        line.loop_back = False
        line.receive(b"ab\n\x04cd")
        await asyncio.sleep(0)
        counts = [await ioctl_int(f, T.FIONREAD)]
        await raw(f)
        counts.append(await ioctl_int(f, T.TIOCINQ))
        await asyncio.sleep(0.01)                           # the echo went out
        line.stopped = True
        await f.write(b"queued")
        counts.append(await ioctl_int(f, T.TIOCOUTQ))
        await f.close()
        return counts

    assert run(tty_machine, scenario) == [3, 6, 6]


def test_raw_mode_without_real_raw_still_copies(tty_machine: System) -> None:
    lb = Loopback(1)
    lb.driver.flags &= ~TtyDriverFlag.REAL_RAW
    tty_machine.run(lb.register())

    async def scenario() -> tuple[bytes, bool]:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f)
        ld = tty_of(f).ldisc
        assert isinstance(ld, NTty)
        lb.lines[0].receive(bytes(range(256)) * 20)
        data = b""
        while len(data) < 5120:
            data += await f.read(10000)
        await f.close()
        return data, ld.real_raw

    data, real_raw = run(tty_machine, scenario)
    assert data == bytes(range(256)) * 20 and not real_raw
