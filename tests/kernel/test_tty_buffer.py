"""The flip buffer (usbemu.kernel.tty_buffer): pushes are work items, never inline; Linux's
memory accounting and limit (640 KiB of buffers, more than twice that in characters without
flags); what the line discipline cannot take waits, including START/STOP seen ahead;
TCIFLUSH; the insert variants.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from usbemu_tests_tty_loopback import Loopback  # type: ignore[import-not-found]

from usbemu.errors import Errno
from usbemu.kernel import termios as T
from usbemu.kernel.n_tty import NTty
from usbemu.kernel.syscalls import AsyncFile
from usbemu.kernel.termios import TCSANOW, Iflag, cfmakeraw, tcflush, tcgetattr, tcsetattr
from usbemu.kernel.tty import TtyStruct
from usbemu.kernel.tty_buffer import (
    TTY_BUFFER_PAGE,
    TTY_PARITY,
    TTYB_DEFAULT_MEM_LIMIT,
    tty_buffer_request_room,
    tty_buffer_set_limit,
    tty_buffer_space_avail,
    tty_flip_buffer_push,
    tty_insert_flip_char,
    tty_insert_flip_string,
    tty_insert_flip_string_fixed_flag,
    tty_insert_flip_string_flags,
    tty_prepare_flip_string,
)
from usbemu.kernel.tty_port import TtyPort
from usbemu.system import System

DEV = "/dev/ttyLP0"


def tty_of(f: AsyncFile) -> TtyStruct:
    tty: TtyStruct = f.file.private_data.tty
    return tty


async def raw(f: AsyncFile, iflag: int = 0) -> None:
    t = await tcgetattr(f)
    cfmakeraw(t)
    t.c_iflag = iflag
    await tcsetattr(f, TCSANOW, t)


def test_constants() -> None:
    assert (TTY_BUFFER_PAGE, TTYB_DEFAULT_MEM_LIMIT) == (1792, 655360)


def test_a_push_reaches_the_line_discipline_only_from_the_loop(tty_machine: System,
                                                              loopback: Loopback) -> None:
    port = loopback.lines[0].port

    async def scenario() -> list[int]:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f)
        ld = tty_of(f).ldisc
        assert isinstance(ld, NTty)
        tty_insert_flip_string(port, b"abc")
        tty_flip_buffer_push(port)
        counts = [ld.read_head]
        await asyncio.sleep(0)
        counts.append(ld.read_head)
        await f.close()
        return counts

    assert tty_machine.run(scenario()) == [0, 3]


def test_the_memory_limit_cuts_inserts_short() -> None:
    port = TtyPort()
    assert tty_insert_flip_string(port, bytes(2 << 20)) == 366 * 2 * TTY_BUFFER_PAGE
    assert tty_buffer_space_avail(port) == 0
    assert tty_insert_flip_char(port, 0x41) == 0
    assert tty_buffer_set_limit(port, 100) == -Errno.EINVAL
    assert tty_buffer_set_limit(port, 2 << 20) == 0
    assert tty_insert_flip_string(port, b"more") == 4
    flagged = TtyPort()                      # with flags a buffer holds half as many
    assert tty_insert_flip_string_fixed_flag(flagged, bytes(1 << 20), TTY_PARITY) == \
        366 * TTY_BUFFER_PAGE
    small = TtyPort()
    assert tty_buffer_request_room(small, 10) == 10 and small.buf.mem_used == 256


def test_insert_variants() -> None:
    port = TtyPort()
    assert tty_insert_flip_string_flags(port, b"ab", bytes((0, TTY_PARITY))) == 2
    with pytest.raises(ValueError, match="flags"):
        tty_insert_flip_string_flags(port, b"abc", b"\x00")
    assert tty_insert_flip_string_fixed_flag(port, b"xyz", 0, 2) == 2
    view = tty_prepare_flip_string(port, 3)
    view[:] = b"123"
    tail = port.buf.tail
    assert bytes(tail.data[tail.used - 7:tail.used]) == b"abxy123"
    assert bytes(tail.data[tail.size + tail.used - 7:tail.size + tail.used]) == \
        bytes((0, TTY_PARITY, 0, 0, 0, 0, 0))


def test_what_the_discipline_cannot_take_waits_and_comes_in_order(
        tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]
    data = bytes(range(256)) * 40

    async def scenario() -> tuple[int, int, bytes]:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f)
        line.receive(data)
        await asyncio.sleep(0)
        ld = tty_of(f).ldisc
        assert isinstance(ld, NTty)
        in_ring = ld.read_head
        waiting = line.port.buf.mem_used
        got = b""
        while len(got) < len(data):
            got += await f.read(100000)
        await f.close()
        return in_ring, waiting, got

    in_ring, waiting, got = tty_machine.run(scenario())
    assert in_ring == 4095 and waiting > 0 and got == data


def test_start_and_stop_act_even_while_the_ring_is_full(tty_machine: System,
                                                        loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> tuple[list[str], bytes]:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f, Iflag.IXON)
        line.receive(b"x" * 5000)
        await asyncio.sleep(0)
        line.receive(b"\x13tail")                 # beyond the full ring
        await asyncio.sleep(0)
        stopped = [c for c in loopback.calls if c in ("stop", "start")]
        got = b""
        while len(got) < 5004:
            got += await f.read(100000)
        stopped += [c for c in loopback.calls if c in ("stop", "start")][len(stopped):]
        await f.close()
        return stopped, got[-4:]

    calls, tail = tty_machine.run(scenario())
    assert calls == ["stop"] and tail == b"tail"     # acted on once, never queued


def test_tciflush_discards_what_waits_in_the_flip_buffer(tty_machine: System,
                                                        loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def scenario() -> Any:
        f = await tty_machine.aopen(DEV, "rb+")
        await raw(f)
        line.receive(b"y" * 6000)
        await asyncio.sleep(0)
        await tcflush(f, T.TCIFLUSH)
        line.receive(b"fresh")
        got = await f.read(100)
        await f.close()
        return got, loopback.calls.count("unthrottle")

    assert tty_machine.run(scenario()) == (b"fresh", 1)
