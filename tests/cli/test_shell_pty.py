"""The interactive `usbemu shell` on a pseudo-terminal (pexpect): banner and prompt, TAB
completion, the history file, Ctrl-C on a line and on a running command, `exit` and Ctrl-D.

The timeouts only bound how long a process may take to start; nothing here measures speed.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pexpect
import pytest

PROMPT = "usbemu#"      # prompt_toolkit draws the trailing space as a cursor move


def spawn(state_home: Path, *args: str) -> pexpect.spawn:
    env = dict(os.environ, TERM="xterm", XDG_STATE_HOME=str(state_home),
               PROMPT_TOOLKIT_NO_CPR="1")   # nothing on a pty answers cursor position queries
    try:
        child = pexpect.spawn(sys.executable, ["-m", "usbemu", "shell", *args], env=env,
                              dimensions=(24, 120), encoding="utf-8", timeout=60)
    except (OSError, pexpect.ExceptionPexpect) as exc:
        pytest.skip(f"cannot run a process on a pseudo-terminal here: {exc}")
    return child


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None
    return int(child.exitstatus)


def test_completion_commands_history_and_exit(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--plug", "pendrive")
    child.expect_exact("usbemu shell: bus 1 (ehci-pci), 6 ports; virtual time; 'help' lists "
                       "commands")
    child.expect_exact(PROMPT)
    child.send("lsus\t")
    child.expect_exact("b")                 # TAB completed lsus to lsusb
    child.send("\r")
    child.expect_exact("ID 058f:6387 ")
    child.expect_exact(PROMPT)
    child.send("cat /sys/bus/usb/devices/1-1/idVen\t")
    child.expect_exact("dor")
    child.send("\r")
    child.expect_exact("058f\r\n")
    child.expect_exact(PROMPT)
    child.send("exit\r")
    assert finish(child) == 0
    history = (tmp_path / "usbemu" / "history").read_text()
    assert "\n+lsusb \n" in history
    assert "\n+cat /sys/bus/usb/devices/1-1/idVendor \n" in history
    assert "\n+exit\n" in history


def test_ctrl_c_cancels_a_line_and_a_running_command(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--real-time", "--load", "pen_driver", "--plug", "pendrive")
    seen = io.StringIO()
    child.logfile_read = seen
    child.expect_exact(PROMPT)
    child.send("frobnicate\x03")            # the line is dropped, not run
    child.expect_exact(PROMPT)
    # the escape makes what cat prints differ from what was typed
    child.send("echo -e -n 'ready\\x21' > /dev/pen0\r")
    child.expect_exact(PROMPT)
    child.send("cat /dev/pen0\r")           # "ready!", then a read that waits up to 5 s
    child.expect_exact("ready!")
    child.sendintr()
    child.expect_exact(PROMPT)
    child.send("exit\r")
    assert finish(child) == 130             # the status of the interrupted command
    assert "timed out" not in seen.getvalue() and "not found" not in seen.getvalue()


def test_ctrl_d_leaves_and_history_falls_back_to_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    child = spawn(blocked)
    child.expect_exact("usbemu: history is kept in memory only")
    child.expect_exact(PROMPT)
    child.send("lsmod\r")
    child.expect_exact("Module                  Size  Used by")
    child.expect_exact(PROMPT)
    child.sendeof()
    assert finish(child) == 0
