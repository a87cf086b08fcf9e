"""A tty through the FUSE mount: /dev/ttyUSB0 of a machine with a generic converter, read
and written by ordinary programs through the host kernel — a read that waits for input,
select() that sleeps until input arrives (the bridge's poll and its notification), a
write that reaches the device, and `cat` ending at the unplug.  No ioctl is needed for any
of it.  Skipped, with the reason, where FUSE cannot be used."""

from __future__ import annotations

import os
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.bridges.fuse import FuseMount, FuseUnavailable, mount, unavailable_reason
from usbemu.emulated.models.serial import SerialConverter
from usbemu.kernel.termios import TCSANOW, cfmakeraw, tcgetattr, tcsetattr
from usbemu.system import System

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"FUSE cannot be used: {REASON}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[System, SerialConverter, Path, FuseMount]]:
    model = SerialConverter()
    with System(virtual=False) as system:
        system.add_controller()
        system.modprobe("usbserial", vendor=0xFFFF, product=0xFFF8)
        system.plug(model, "1-1")
        system.settle()
        with system.open("/dev/ttyUSB0", "rb") as tty:    # stty raw -echo: kept for later
            termios = system.run(tcgetattr(tty.afile))
            cfmakeraw(termios)
            system.run(tcsetattr(tty.afile, TCSANOW, termios))
        where = tmp_path / "mnt"
        where.mkdir()
        try:
            fm = mount(system, where)
        except FuseUnavailable as exc:
            pytest.skip(f"the kernel refused the FUSE mount: {exc}")
        try:
            yield system, model, where, fm
        finally:
            fm.unmount()


def send(system: System, model: SerialConverter, data: bytes) -> None:
    """The device sends `data` (on the machine's loop, which runs in its own thread)."""
    async def on_machine() -> None:
        model.serial_port(0).send(data)

    system.call(on_machine(), 10)


def received(system: System, model: SerialConverter) -> bytes:
    async def on_machine() -> bytes:
        return model.serial_port(0).received()

    return system.call(on_machine(), 10)


@pytest.mark.hang_guard_s(60)
def test_select_sleeps_until_input_and_read_gets_it(
        served: tuple[System, SerialConverter, Path, FuseMount]) -> None:
    system, model, mnt, _ = served
    fd = os.open(mnt / "dev" / "ttyUSB0", os.O_RDWR)
    try:
        assert select.select([fd], [], [], 0.3) == ([], [], [])       # nothing to read yet
        assert select.select([], [fd], [], 5)[1] == [fd]              # room to write
        assert os.write(fd, b"out through FUSE") == 16
        send(system, model, b"in through FUSE")
        assert select.select([fd], [], [], 10)[0] == [fd]             # woken by the notify
        assert os.read(fd, 100) == b"in through FUSE"
        assert received(system, model) == b"out through FUSE"
    finally:
        os.close(fd)


@pytest.mark.hang_guard_s(60)
def test_cat_waits_for_input_and_ends_at_the_unplug(
        served: tuple[System, SerialConverter, Path, FuseMount]) -> None:
    system, model, mnt, _ = served
    cat = subprocess.Popen(["cat", str(mnt / "dev" / "ttyUSB0")], stdout=subprocess.PIPE)
    try:
        assert cat.stdout is not None
        send(system, model, b"first ")
        assert cat.stdout.read(6) == b"first "
        send(system, model, b"last")

        async def unplug() -> None:
            system.unplug("1-1")

        assert cat.stdout.read(4) == b"last"
        system.call(unplug(), 10)
        assert cat.wait(20) == 0                     # end of file: the tty hung up
        assert cat.stdout.read() == b""
    finally:
        if cat.poll() is None:
            cat.kill()
            cat.wait()


@pytest.mark.hang_guard_s(60)
def test_shell_echo_through_the_mount(served: tuple[System, SerialConverter, Path,
                                                   FuseMount]) -> None:
    system, model, mnt, _ = served
    done = subprocess.run(["sh", "-c", f"echo hello > {mnt}/dev/ttyUSB0"], timeout=30,
                          capture_output=True)
    assert done.returncode == 0, done.stderr
    assert received(system, model) == b"hello\n"       # raw: no onlcr
