"""The shell's `capture` command: a usbmon capture file on the host written while the
session runs — started, asked about, stopped (or closed by leaving the shell), with the
format by suffix or -f, and one-line mistakes."""

from __future__ import annotations

import io
from pathlib import Path

from usbemu.cli.machine import boot
from usbemu.cli.shell import run_shell


def shell(script: str) -> tuple[int, str, str]:
    system = boot()
    try:
        out, err = io.StringIO(), io.StringIO()
        status = run_shell(system, io.StringIO(script), out, err, interactive=False)
        return status, out.getvalue(), err.getvalue()
    finally:
        system.close()


def test_capture_start_status_and_stop(tmp_path: Path) -> None:
    path = tmp_path / "zero.txt"
    status, out, err = shell(f"capture -w {path}\nplug zero\ncapture\ncapture stop\n")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "plugged zero at 1-1"
    count = int(lines[1].rsplit(": ", 1)[1].split()[0])
    assert lines[1] == f"writing {path} (text): {count} events"
    assert lines[2] == f"{count} events written to {path} (text)"
    text = path.read_text().splitlines()
    assert len(text) == count
    assert any(" Ci:1:002:0 s 80 06 0100 0000 0012 " in line for line in text)


def test_leaving_the_shell_closes_the_file_and_pcapng_is_the_default(tmp_path: Path) -> None:
    path = tmp_path / "boot.cap"
    status, _, err = shell(f"capture -w {path} -b 1\nplug mouse\n")
    assert (status, err) == (0, "")
    data = path.read_bytes()
    assert data[:4] == b"\x0a\x0d\x0d\x0a" and len(data) > 200


def test_mistakes(tmp_path: Path) -> None:
    assert shell("capture stop\n")[2] == "usbemu: line 1: capture: no capture is running\n"
    status, _, err = shell("capture -f nope -w x\n")
    assert status == 2 and err.startswith("usbemu: line 1: capture: -f nope: use one of "
                                          "pcapng, pcap, text")
    status, _, err = shell(f"capture -w {tmp_path}/a.txt\ncapture -w {tmp_path}/b.txt\n")
    assert status == 1 and "capture: already writing" in err
    status, _, err = shell(f"capture -w {tmp_path}/missing/a.txt\n")
    assert status == 1 and "No such file or directory" in err
