"""The package as users get it: a wheel built from the repository and installed into a fresh
virtual environment runs `usbemu demo` and a piped `usbemu shell` that loads the pen driver
by name, from a directory outside the repository — and no file of the source tree is read.

The wheel is built by pip with the dev extras' hatchling (no build isolation, so no
network; without hatchling, pip fetches it as pyproject.toml's build-system asks) and
installed with --no-deps, by the dev environment's pip (`pip --python`), into a venv made
with `python -m venv --without-pip`.  That venv sees the dev environment's site-packages
through a .pth file, for click, prompt_toolkit and rich only: a path in a .pth file is not
a site directory, so the editable install's own .pth there (which points at src/) is never
processed, and usbemu comes from the wheel, as `usbemu.__file__` shows.  A second .pth file
installs an audit hook that records every file opened and every directory listed under the
repository, outside the dev site-packages; each test requires that record to be empty.  A
few seconds of wall-clock time (about 3 s on the development machine), most of it building,
installing and starting interpreters.  Marked `wheel` (`pytest -m "not wheel"` leaves it
out); `make test` runs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

pytestmark = pytest.mark.wheel

ROOT: Final = Path(__file__).resolve().parents[1]
TIMEOUT: Final = 120  # seconds for one command; the whole module takes a few

#: Installed into the test venv's site-packages and imported by a .pth file at start-up:
#: with USBEMU_WHEEL_GUARD set, every open, listdir and scandir of a path under
#: `forbidden` but under none of `allowed` is appended to `log`.
GUARD: Final = '''\
"""Records reads of the source tree (tests/test_wheel.py)."""

from __future__ import annotations

import json
import os
import sys


def _install() -> None:
    config = os.environ.get("USBEMU_WHEEL_GUARD")
    if not config:
        return
    settings = json.loads(config)
    forbidden: str = settings["forbidden"]
    allowed: list[str] = settings["allowed"]
    log = os.open(settings["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    busy = False

    def inside(path: str, root: str) -> bool:
        return path == root or path.startswith(root + os.sep)

    def hook(event: str, args: tuple[object, ...]) -> None:
        nonlocal busy
        if busy or event not in ("open", "os.listdir", "os.scandir"):
            return
        target = args[0] if args else None
        if not isinstance(target, (str, bytes, os.PathLike)):
            return
        busy = True
        try:
            path = os.path.realpath(os.fsdecode(target))
            if inside(path, forbidden) and not any(inside(path, a) for a in allowed):
                os.write(log, f"{event} {path}\\n".encode())
        finally:
            busy = False

    sys.addaudithook(hook)


_install()
'''


@dataclass(frozen=True)
class Installed:
    """A venv with usbemu installed from a wheel built from the repository."""

    wheel: Path
    venv: Path
    site_packages: Path
    elsewhere: Path      # a working directory outside the repository
    reads_log: Path      # what the guard recorded
    env: Mapping[str, str]

    def run(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run a program of the venv's bin/ from `elsewhere`, guarded."""
        return subprocess.run([str(self.venv / "bin" / argv[0]), *argv[1:]], input=stdin,
                              capture_output=True, text=True, cwd=self.elsewhere,
                              env=dict(self.env), timeout=TIMEOUT, check=False)

    def source_tree_reads(self) -> list[str]:
        """What the guard recorded since the last call (so each test sees its own)."""
        if not self.reads_log.exists():
            return []
        found = self.reads_log.read_text().splitlines()
        self.reads_log.unlink()
        return found


def _pip(*args: str) -> None:
    """pip of the running (dev) interpreter; fails the test with pip's own output."""
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                             *args], capture_output=True, text=True, timeout=TIMEOUT,
                            check=False)
    assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stdout}{result.stderr}"


def _dev_site_packages() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({str(Path(paths[key]).resolve()) for key in ("purelib", "platlib")})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT), "the venv must be outside the repository"
    dist = base / "dist"
    if importlib.util.find_spec("hatchling") is not None:
        _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
             "-w", str(dist), str(ROOT))
    else:   # pip fetches the build backend pyproject.toml names
        _pip("wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT))
    (wheel,) = dist.glob("usbemu-*.whl")

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=TIMEOUT)
    _pip("--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index",
         "--quiet", str(wheel))
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=TIMEOUT).stdout.strip()
    site_packages = Path(purelib)
    (site_packages / "_usbemu_wheel_guard.py").write_text(GUARD)
    (site_packages / "00_usbemu_wheel_guard.pth").write_text("import _usbemu_wheel_guard\n")
    (site_packages / "zz_usbemu_dev_dependencies.pth").write_text(
        "".join(f"{path}\n" for path in _dev_site_packages()))

    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    reads_log = base / "source-tree-reads.log"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PYTHON") and key != "VIRTUAL_ENV"}
    env.update(PYTHONNOUSERSITE="1", NO_COLOR="1", COLUMNS="120",
               USBEMU_WHEEL_GUARD=json.dumps({"forbidden": str(ROOT),
                                              "allowed": _dev_site_packages(),
                                              "log": str(reads_log)}))
    return Installed(wheel, venv, site_packages.resolve(), elsewhere, reads_log, env)


def test_the_wheel_holds_the_package_with_the_pen_driver(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert {"usbemu/__init__.py", "usbemu/py.typed", "usbemu/drivers/__init__.py",
            "usbemu/drivers/usb/__init__.py", "usbemu/drivers/usb/misc/__init__.py",
            "usbemu/drivers/usb/misc/pen_driver.py", "usbemu/cli/main.py"} <= names
    assert not [name for name in names if name.startswith("examples/") or "__pycache__" in name]


def test_the_wheel_installs_the_pyusb_start_up_hook(installed: Installed) -> None:
    assert "usbemu_pyusb.pth" in zipfile.ZipFile(installed.wheel).namelist()
    assert (installed.site_packages / "usbemu_pyusb.pth").is_file()
    check = ("import sys; "
             "print('usbemu.bridges.pyusb_hook' in sys.modules, 'usb' in sys.modules)")
    assert installed.run("python", "-c", check).stdout == "False False\n"
    hooked = subprocess.run([str(installed.venv / "bin" / "python"), "-c", check],
                            capture_output=True, text=True, cwd=installed.elsewhere,
                            env={**installed.env, "USBEMU_PYUSB": "/nonexistent/usbemu.sock"},
                            timeout=TIMEOUT, check=False)
    assert hooked.stdout.startswith("True "), hooked.stderr
    assert installed.source_tree_reads() == []


def test_usbemu_comes_from_the_wheel(installed: Installed) -> None:
    result = installed.run("python", "-c", "\n".join([
        "import click, usbemu, usbemu.drivers.usb.misc.pen_driver as pen",
        "print(usbemu.__file__); print(pen.__file__); print(click.__file__)"]))
    assert result.returncode == 0, result.stderr
    usbemu_file, pen_file, click_file = map(Path, result.stdout.splitlines())
    assert usbemu_file == installed.site_packages / "usbemu" / "__init__.py"
    assert pen_file == installed.site_packages / "usbemu/drivers/usb/misc/pen_driver.py"
    assert str(click_file.parent.parent.resolve()) in _dev_site_packages()
    assert installed.source_tree_reads() == []


def test_usbemu_demo_runs_from_the_wheel(installed: Installed) -> None:
    result = installed.run("usbemu", "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for expected in ["[    0.020000] pen_driver: loading out-of-tree module taints kernel.",
                     "[    0.020000] pen_driver: module verification failed: signature "
                     "and/or required key missing - tainting kernel",
                     "[    0.020000] usbcore: registered new interface driver pen_driver",
                     "pen_driver             12288  0",
                     "[    0.350000] Pen drive (058F:6387) plugged",
                     "[    0.350000] Minor obtained: 0",
                     "crw------- 1 root root 180, 0 /dev/pen0",
                     "/sys/class/usbmisc/pen0/dev: 180:0",
                     "write(/dev/pen0) returned 38; read(/dev/pen0) returned 38: "
                     "b'Hello from usbemu, through pen_driver!'",
                     "[    3.120000] Pen drive removed",
                     "[    4.550000] sd 0:0:0:0: [sda] 131072 512-byte logical blocks: "
                     "(67.1 MB/64.0 MiB)",
                     "[    4.550000]  sda: sda1",
                     "9 USB devices on the bus, 5.980 s of machine time (virtual), "
                     "128 kernel messages."]:
        assert expected in lines
    assert "not as Linux does it" not in result.stdout
    assert installed.source_tree_reads() == []


def test_a_piped_shell_loads_the_pen_driver_by_name(installed: Installed) -> None:
    result = installed.run("usbemu", "shell", stdin="insmod pen_driver\nplug pendrive\n"
                                                    "cat /sys/class/usbmisc/pen0/dev\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["plugged pendrive at 1-1", "180:0"]
    assert installed.source_tree_reads() == []


def test_the_guard_sees_a_read_of_the_source_tree(installed: Installed) -> None:
    """The check above is real: opening a file of the repository is recorded."""
    readme = ROOT / "README.md"
    result = installed.run("python", "-c", f"open({str(readme)!r}).close()")
    assert result.returncode == 0, result.stderr
    assert installed.source_tree_reads() == [f"open {readme}"]
