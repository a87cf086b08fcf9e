"""Every snippet of the documentation runs as written.

- Every fenced ```python block of README.md and docs/*.md runs, in order, in one namespace
  per document (a block may use what an earlier one defined), in a fresh working
  directory.  The only block not run is one right after an HTML comment
  ``<!-- not run: REASON -->`` (an excerpt or a fragment, said so in the markdown).  A
  block right after ``<!-- file: NAME -->`` is a file the text talks about: it is written
  to NAME in that working directory before the document's Python runs (and, if Python,
  run as well).
- README.md's shell sessions that show output — indented lines starting with ``$ ``,
  followed by what the command prints — run through ``sh`` with ``usbemu`` on PATH, and
  print exactly that (stdout and stderr together).  docs/user-space.md's sessions too.
  ``usbemu mount DIR … &`` runs in the background on a directory of the test's own (DIR
  is replaced everywhere in the session); the next command waits for the mount.
- The kernel log that README.md shows for ``make demo`` is what ``usbemu demo`` prints.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Documents whose shell sessions run (README's, and the user-space page's FUSE session).
SESSION_DOCS = [ROOT / "README.md", ROOT / "docs" / "user-space.md"]
COMMAND_TIMEOUT = 60.0  # seconds for one command of a session (a pen_read timeout is 5)

MARKER = re.compile(r"<!--\s*(not run|file):\s*(.*?)\s*-->")


@dataclass(frozen=True)
class Block:
    """One fenced block of a markdown document."""

    doc: Path
    line: int  # the line of its first content line (1-based)
    lang: str
    text: str
    marker: tuple[str, str] | None  # ("not run", reason) or ("file", name), or None

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def fenced_blocks(doc: Path) -> list[Block]:
    """The fenced blocks of `doc`, each with the marker comment right before it (blank
    lines between them allowed), if any."""
    lines = doc.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = re.match(r"^```(\S*)\s*$", lines[i])
        if opening is None:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        found = MARKER.fullmatch(lines[before].strip()) if before >= 0 else None
        marker = (found.group(1), found.group(2)) if found else None
        blocks.append(Block(doc, i + 2, opening.group(1), "\n".join(lines[i + 1:end]) + "\n",
                            marker))
        i = end + 1
    return blocks


def doc_id(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


# -- the Python blocks ---------------------------------------------------------------------------


def test_markers_stand_right_before_a_block() -> None:
    """A marker that is not right before a fenced block would silently do nothing."""
    for doc in DOCS:
        text = doc.read_text()
        markers = len(MARKER.findall(text))
        used = sum(1 for block in fenced_blocks(doc) if block.marker is not None)
        assert markers == used, f"{doc_id(doc)}: a marker comment not followed by a block"
        for block in fenced_blocks(doc):
            if block.marker is not None and block.marker[0] == "not run":
                assert block.lang == "python" and block.marker[1], block.where
            if block.marker is not None and block.marker[0] == "file":
                assert re.fullmatch(r"[\w.-]+", block.marker[1]), block.where


def test_every_document_with_python_is_covered() -> None:
    python = {doc_id(doc) for doc in DOCS if any(b.lang == "python" for b in fenced_blocks(doc))}
    assert {"README.md", "docs/user-space.md", "docs/host-stack.md"} <= python


@pytest.mark.usefixtures("hang_guard")
@pytest.mark.parametrize("doc", [d for d in DOCS if any(
    b.lang == "python" for b in fenced_blocks(d))], ids=doc_id)
def test_python_blocks_run(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    blocks = fenced_blocks(doc)
    for block in blocks:
        if block.marker is not None and block.marker[0] == "file":
            (tmp_path / block.marker[1]).write_text(block.text)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__doc_snippet__"}
    ran = 0
    for block in blocks:
        if block.lang != "python" or (block.marker is not None
                                      and block.marker[0] == "not run"):
            continue
        # line numbers of a traceback are the markdown's
        code = compile("\n" * (block.line - 1) + block.text, str(block.doc), "exec")
        try:
            exec(code, namespace)
        except Exception as exc:
            raise AssertionError(f"the Python block at {block.where} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
        ran += 1
    assert ran
    capsys.readouterr()  # what the blocks printed (dmesg, lsusb …) is theirs to print


# -- shell sessions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    line: str  # as written after "$ "
    output: str  # what the document shows it printing


@dataclass(frozen=True)
class Session:
    doc: Path
    line: int
    commands: tuple[Command, ...]

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def sessions(doc: Path) -> list[Session]:
    """The indented (4 spaces) blocks of `doc` whose first line starts with ``$ ``."""
    found: list[Session] = []
    lines = doc.read_text().splitlines()
    in_fence = False
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            in_fence = not in_fence
        if in_fence or not lines[i].startswith("    $ ") or (
                i > 0 and lines[i - 1].startswith("    ")):
            i += 1
            continue
        start = i
        commands: list[Command] = []
        while i < len(lines) and lines[i].startswith("    "):
            command = lines[i][6:]
            i += 1
            output = ""
            while i < len(lines) and lines[i].startswith("    ") \
                    and not lines[i].startswith("    $ "):
                output += lines[i][4:] + "\n"
                i += 1
            commands.append(Command(command, output))
        found.append(Session(doc, start + 1, tuple(commands)))
    return found


def all_sessions() -> list[Session]:
    return [s for doc in SESSION_DOCS for s in sessions(doc)]


def test_the_sessions_are_found() -> None:
    shown = {s.where.split(":")[0] for s in all_sessions() if any(c.output for c in s.commands)}
    assert shown == {"README.md", "docs/user-space.md"}
    assert any("usbemu mount" in c.line for s in all_sessions() for c in s.commands)


def mounted_at(path: str) -> bool:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if line.split()[4].replace("\\040", " ") == path:
            return True
    return False


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """An environment with this Python's ``usbemu`` first on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "usbemu"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m usbemu \"$@\"\n")
    shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize("session", all_sessions(), ids=lambda s: s.where)
def test_shell_session_prints_what_it_shows(session: Session, tmp_path: Path,
                                            shell_env: dict[str, str]) -> None:
    mounts = {where: str(tmp_path / f"mnt{n}") for n, where in enumerate(dict.fromkeys(
        m for c in session.commands for m in re.findall(r"usbemu mount (\S+)", c.line)))}
    if mounts:
        from usbemu.bridges.fuse import unavailable_reason

        reason = unavailable_reason()
        if reason is not None:
            pytest.skip(f"FUSE cannot be used: {reason}")

    def here(text: str) -> str:
        for where, mine in mounts.items():
            text = text.replace(where, mine)
        return text

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    background: list[subprocess.Popen[str]] = []
    try:
        for command in session.commands:
            line = here(command.line)
            if line.rstrip().endswith("&"):
                assert not command.output, f"{session.where}: output of a background command"
                proc = subprocess.Popen(["sh", "-c", line.rstrip()[:-1]], cwd=cwd,
                                        env=shell_env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
                background.append(proc)
                deadline = time.monotonic() + 30
                for where in re.findall(r"usbemu mount (\S+)", line):
                    while not mounted_at(where) and proc.poll() is None \
                            and time.monotonic() < deadline:
                        time.sleep(0.05)
                    if not mounted_at(where):
                        os.killpg(proc.pid, signal.SIGKILL)
                        pytest.fail(f"{session.where}: $ {command.line}: not mounted: "
                                    f"{proc.communicate()[0]}")
                continue
            done = subprocess.run(["sh", "-c", line], cwd=cwd, env=shell_env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=COMMAND_TIMEOUT, check=False)
            assert done.stdout == here(command.output), f"{session.where}: $ {command.line}"
        for proc in background:  # the session ended them (fusermount3 -u)
            out, _ = proc.communicate(timeout=30)
            assert (proc.returncode, out) == (0, ""), f"{session.where}: background command"
    finally:
        for proc in background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        for mine in mounts.values():
            if mounted_at(mine):
                subprocess.run(["fusermount3", "-uz", mine], check=False)


# -- the demo's kernel log -----------------------------------------------------------------------


def test_the_demo_prints_the_kernel_log_the_readme_shows() -> None:
    text = (ROOT / "README.md").read_text()
    shown = re.search(r"printing the kernel log as Linux would print it:\n\n((?:    .*\n)+)", text)
    assert shown is not None
    lines = [line[4:] for line in shown.group(1).splitlines() if line.strip() != "..."]
    assert len(lines) >= 2
    done = subprocess.run([sys.executable, "-m", "usbemu", "demo"], capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT)
    assert done.returncode == 0, done.stderr
    printed = iter(done.stdout.splitlines())
    for line in lines:  # in this order, with anything between them
        assert any(line == out for out in printed), f"make demo does not print {line!r}"
