"""The shell's stty, without a machine: its formats and settings against the real GNU stty
on a host pty (skipped where there is no stty or no pty), and against golden text."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from usbemu.bridges.pty import read_host_termios
from usbemu.cli.shell.stty import (
    COMBINATIONS,
    CONTROL_CHARS,
    MODES,
    REV,
    display_all,
    display_changed,
    display_recoverable,
    recover_mode,
    set_mode,
    visible,
)
from usbemu.kernel.termios import TTY_STD_TERMIOS, Cflag, Ktermios, Winsize

STTY = shutil.which("stty")


def _gnu_stty_9() -> bool:
    if STTY is None or not hasattr(os, "openpty"):
        return False
    version = subprocess.run([STTY, "--version"], capture_output=True, text=True).stdout
    return "GNU coreutils" in version


needs_gnu_stty = pytest.mark.skipif(not _gnu_stty_9(),
                                    reason="needs GNU stty and a host pty to compare with")


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    try:
        yield slave, os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def real(path: str, *args: str, columns: int = 80) -> str:
    assert STTY is not None
    done = subprocess.run([STTY, "-F", path, *args], capture_output=True, text=True,
                          env={"COLUMNS": str(columns), "PATH": os.environ.get("PATH", "")})
    return done.stdout + done.stderr


def random_g(rng: random.Random) -> str:
    """A -g string with random flag words (speeds standard) and control characters."""
    words = [rng.getrandbits(32) for _ in range(4)]
    words[2] = (words[2] & ~Cflag.CBAUD & 0xFFFFFFFF) | rng.choice([0xD, 0xF, 0x1002, 0x1005])
    words[2] &= ~Cflag.CIBAUD & 0xFFFFFFFF
    cc = [rng.choice([0, 1, 3, 28, 127, 200, 255, ord("x")]) for _ in range(17)] + [0] * 15
    return ":".join(f"{v:x}" for v in (*words, *cc))


# -- against the real stty -------------------------------------------------------------------------


@needs_gnu_stty
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("columns", [80, 71, 40])
def test_the_three_displays_are_gnu_stty_s(pty: tuple[int, str], seed: int,
                                           columns: int) -> None:
    fd, path = pty
    real(path, random_g(random.Random(seed)))
    t = read_host_termios(fd)
    assert display_all(t, Winsize(0, 0), columns) == real(path, "-a", columns=columns)
    assert display_changed(t, columns) == real(path, columns=columns)
    assert display_recoverable(t) == real(path, "-g")


@needs_gnu_stty
@pytest.mark.parametrize("setting", [
    *(m.name for m in MODES), *(f"-{m.name}" for m in MODES if m.flags & REV)])
def test_each_setting_does_what_gnu_stty_does(pty: tuple[int, str], setting: str) -> None:
    fd, path = pty
    for start in (random_g(random.Random(1)), random_g(random.Random(2))):
        real(path, start)
        ours = read_host_termios(fd)
        mode = next(m for m in MODES if m.name == setting.lstrip("-"))
        assert set_mode(ours, mode, setting.startswith("-"))
        real(path, setting)
        theirs = read_host_termios(fd)
        # the pty keeps CS8, CREAD and no parity whatever is asked (pty_set_termios)
        pty_forced = Cflag.CSIZE | Cflag.PARENB | Cflag.ADDRB | Cflag.CREAD
        ours.c_cflag = int(ours.c_cflag) & ~pty_forced | int(theirs.c_cflag) & pty_forced
        assert ours == theirs, setting


@needs_gnu_stty
@pytest.mark.parametrize(("name", "arg"), [
    ("intr", "^X"), ("erase", "^?"), ("kill", "^-"), ("eof", "undef"), ("quit", "q"),
    ("min", "5"), ("time", "0x10"), ("start", "017"), ("stop", "")])
def test_control_characters_are_parsed_as_gnu_stty_does(pty: tuple[int, str], name: str,
                                                        arg: str) -> None:
    from usbemu.cli.shell.stty import _control_value
    fd, path = pty
    real(path, name, arg)
    index = next(i for n, _, i in CONTROL_CHARS if n == name)
    assert read_host_termios(fd).c_cc[index] == _control_value(name, arg)


# -- golden ----------------------------------------------------------------------------------------


def usb_serial_termios() -> Ktermios:
    """usb-serial's init_termios: B9600 | CS8 | CREAD | HUPCL | CLOCAL, 9600 baud."""
    t = TTY_STD_TERMIOS.copy()
    t.c_cflag = 0xD | Cflag.CS8 | Cflag.CREAD | Cflag.HUPCL | Cflag.CLOCAL
    t.c_ispeed = t.c_ospeed = 9600
    return t


def test_all_of_a_fresh_ttyusb() -> None:
    assert display_all(usb_serial_termios(), Winsize(0, 0), 80) == (
        "speed 9600 baud; rows 0; columns 0; line = 0;\n"
        "intr = ^C; quit = ^\\; erase = ^?; kill = ^U; eof = ^D; eol = <undef>;\n"
        "eol2 = <undef>; swtch = <undef>; start = ^Q; stop = ^S; susp = ^Z; rprnt = ^R;\n"
        "werase = ^W; lnext = ^V; discard = ^O; min = 1; time = 0;\n"
        "-parenb -parodd -cmspar cs8 hupcl -cstopb cread clocal -crtscts\n"
        "-ignbrk -brkint -ignpar -parmrk -inpck -istrip -inlcr -igncr icrnl ixon -ixoff\n"
        "-iuclc -ixany -imaxbel -iutf8\n"
        "opost -olcuc -ocrnl onlcr -onocr -onlret -ofill -ofdel nl0 cr0 tab0 bs0 vt0 ff0\n"
        "isig icanon iexten echo echoe echok -echonl -noflsh -xcase -tostop -echoprt\n"
        "echoctl echoke -flusho -extproc\n")


def test_changed_after_raw_minus_echo_and_a_bother_speed() -> None:
    t = usb_serial_termios()
    for setting in ("raw", "-echo"):
        set_mode(t, next(m for m in MODES if m.name == setting.lstrip("-")),
                 setting.startswith("-"))
    t.c_cflag = (int(t.c_cflag) & ~Cflag.CBAUD) | Cflag.BOTHER
    t.c_ispeed = t.c_ospeed = 250000
    assert display_changed(t, 80) == ("speed 250000 baud; line = 0;\n"
                                      "min = 1; time = 0;\n"
                                      "-brkint -icrnl -imaxbel\n"
                                      "-opost\n"
                                      "-isig -icanon -echo\n")


def test_split_speeds_and_visible_characters() -> None:
    t = usb_serial_termios()
    t.c_cflag = int(t.c_cflag) | 0x1002 << 16
    t.c_ispeed = 115200
    assert display_changed(t, 80).startswith("ispeed 115200 baud; ospeed 9600 baud;")
    assert [visible(c) for c in (0, 3, 65, 127, 128 + 3, 128 + 65, 255)] == [
        "<undef>", "^C", "A", "^?", "M-^C", "M-A", "M-^?"]


def test_g_round_trips_and_refuses_what_is_not_one() -> None:
    t = usb_serial_termios()
    text = display_recoverable(t).strip()
    assert text == ("500:5:cbd:8a3b:3:1c:7f:15:4:0:1:0:11:13:1a:0:12:f:17:16:0" + ":0" * 15)
    back = Ktermios()
    assert recover_mode(text, back)
    assert (back.c_iflag, back.c_oflag, back.c_cflag, back.c_lflag, back.c_cc) == (
        t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag, t.c_cc)
    for bad in ("500:5:cbd", text + ":0", "x:" + text, text.replace(":3:", ":300:", 1)):
        assert not recover_mode(bad, Ktermios())


def test_sane_restores_what_gnu_sane_restores() -> None:
    t = Ktermios(c_iflag=0xFFFFFFFF, c_oflag=0xFFFFFFFF, c_cflag=0, c_lflag=0xFFFFFFFF)
    COMBINATIONS["sane"](t, False)
    assert display_recoverable(t).split(":")[:4] == ["ffffa53e", "ffff0005", "80",
                                                      "fffeea3b"]
