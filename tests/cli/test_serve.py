"""`usbemu serve`: ptys for the machine's ttys, their lines, a program talking through one
while the command serves, the one-line mistakes, and SIGTERM ending it cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from usbemu.bridges.pty import unavailable_reason
from usbemu.cli.main import main

pytestmark = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=f"no pty here: {unavailable_reason()}")

GENERIC = ["--load", "usbserial vendor=0xffff product=0xfff8"]
LOOPBACK = ["--plug", "serial loopback=true"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def wait_for(path: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not os.path.lexists(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.01)


@pytest.mark.hang_guard_s(60)
def test_serve_prints_each_pty_and_a_program_talks_through_it(tmp_path: Path) -> None:
    serial = pytest.importorskip("serial")
    link = tmp_path / "ttyUSB0"
    heard: list[bytes] = []

    def program() -> None:
        wait_for(link)
        with serial.Serial(str(link), 115200, timeout=5) as port:
            port.write(b"hello through serve")
            heard.append(port.read(19))

    talker = threading.Thread(target=program)
    talker.start()
    code, out = invoke("serve", *GENERIC, *LOOPBACK, "--pty", f"ttyUSB0={link}",
                       "--pty", "/dev/ttyUSB1", "--plug", "serial loopback=true",
                       "--for", "3")
    talker.join()
    assert code == 0, out
    lines = out.splitlines()
    assert re.fullmatch(rf"ttyUSB0 → (/dev/pts/\d+) \(link {re.escape(str(link))}\)",
                        lines[0])
    assert re.fullmatch(r"ttyUSB1 → /dev/pts/\d+", lines[1]) and len(lines) == 2
    assert heard == [b"hello through serve"]
    assert not os.path.lexists(link)              # removed at the end


@pytest.mark.parametrize(("args", "message"), [
    ((), "serve: nothing to serve; give --pty TTY[=LINK], e.g. --pty ttyUSB0=./ttyUSB0, "
         "or --pyusb PATH"),
    (("--pty", ""), "--pty '': expected TTY or TTY=LINK, e.g. ttyUSB0 or ttyUSB0=./ttyUSB0"),
    (("--pty", "ttyUSB0="), "--pty 'ttyUSB0=': the link after '=' is empty; give a path or "
                            "leave out '='"),
    (("--pty", "ttyUSB3", *GENERIC, *LOOPBACK),
     "--pty ttyUSB3: the machine has no /dev/ttyUSB3; its ttys: ttyUSB0"),
    (("--pty", "ttyUSB0"), "--pty ttyUSB0: the machine has no /dev/ttyUSB0; its ttys: none "
                           "(plug a converter and load its driver)"),
    (("--pty", "ttyUSB0", "--pty", "ttyUSB0", *GENERIC, *LOOPBACK),
     "--pty ttyUSB0: given twice; one pty per tty"),
    (("--pty", "ttyUSB0", "--for", "0"),
     "Invalid value for '--for': 0.0 is not in the range x>0."),
])
def test_mistakes_are_one_line(args: tuple[str, ...], message: str) -> None:
    code, out = invoke("serve", *args)
    assert (code, out) == (2, f"usbemu: error: {message}\n")


def test_a_link_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    code, out = invoke("serve", *GENERIC, *LOOPBACK, "--pty", f"ttyUSB0={missing}",
                       "--for", "1")
    assert (code, out) == (2, f"usbemu: error: --pty ttyUSB0={missing}: {missing}: No such "
                              "file or directory\n")
    taken = tmp_path / "taken"
    taken.write_text("mine")
    code, out = invoke("serve", *GENERIC, *LOOPBACK, "--pty", f"ttyUSB0={taken}",
                       "--for", "1")
    assert (code, out) == (2, f"usbemu: error: --pty ttyUSB0={taken}: {taken}: a file is in "
                              "the way (not a symbolic link); not replacing it\n")
    assert taken.read_text() == "mine"


@pytest.mark.hang_guard_s(60)
def test_sigterm_ends_serve_and_cleans_up(tmp_path: Path) -> None:
    link = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "usbemu", "serve", *GENERIC, *LOOPBACK, "--pty",
         f"ttyUSB0={link}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("ttyUSB0 → /dev/pts/"), proc.stderr.read() if proc.stderr \
            else ""
        slave = first.split()[2]
        assert os.readlink(link) == slave
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not os.path.lexists(link)
