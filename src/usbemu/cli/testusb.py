"""testusb — counterpart of Linux's tools/usb/testusb.c: runs the usbtest driver's test cases
(drivers/usb/misc/usbtest.py) on a machine's test devices through usbfs, as `usbemu
testusb` and the shell's `testusb` do.

It walks /dev/bus/usb (or the directory given with -A), recognises test devices from the
device descriptor each node reads back (gadget zero 0525:a4a0 and the other ids testusb.c
knows; for the FunctionFS and user-mode gadgets, the first vendor-specific interface with
two endpoints), lists each on the error stream as testusb does ("unknown speed\\tPATH\\tIFNUM":
USBDEVFS_CONNECTINFO does not say the speed), then opens each node read-write and issues
USBDEVFS_IOCTL with USBTEST_REQUEST on the interface for every test case 0..29 (or the one
-t names), skipping silently those the driver answers with EOPNOTSUPP.  Each result is one
line: "PATH test N,    S.UUUUUU secs" or "PATH test N --> ERRNO (strerror)".  Several
devices run side by side, as testusb's threads do.  The exit status is testusb's: 0 once
tests ran, whatever their results; 1 when a node cannot be opened.

Not here: -l (loop forever), which never ends on a machine whose clock is virtual; the
`DEVICE` environment variable (the device is given with -D).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from ..core.devio import USBDEVFS_IOCTL, UsbdevfsIoctl
from ..drivers.usb.misc.usbtest import TEST_CASES, USBTEST_REQUEST, UsbtestParam
from ..errors import Errno
from .machine import MachineError, check_hcd_kind

if TYPE_CHECKING:
    from ..system import System

__all__ = ["USAGE", "TestDev", "TestusbOptions", "find_testdevs", "options_from", "run_testusb",
           "testdev_ifnum", "testusb", "testusb_options"]

_F = TypeVar("_F", bound=Callable[..., Any])

USB_DIR: Final = "/dev/bus/usb"

USAGE: Final = ("usage: testusb [options]\n"
                "Options:\n"
                "\t-D dev\t\tonly test specific device\n"
                "\t-A usb-dir\n"
                "\t-a\t\ttest all recognized devices\n"
                "\t-t testnum\tonly run specified case\n"
                "\t-n\t\tno test running, show devices to be tested\n"
                "Case arguments:\n"
                "\t-c iterations\t\tdefault 1000\n"
                "\t-s transfer length\tdefault 512\n"
                "\t-g sglen\t\tdefault 32\n"
                "\t-v vary\t\t\tdefault 512\n")

#: Devices testusb.c tests on interface 0, by (idVendor, idProduct).
_IFNUM_0: Final = frozenset({
    (0x0547, 0x1002),  # FX2 with (tweaked) bulksrc firmware
    (0x0547, 0x2235),  # generic EZ-USB FX controller
    (0x04B4, 0x8613),  # generic EZ-USB FX2 controller
    (0x0547, 0x0080),  # CY3671 development board with EZ-USB FX
    (0x06CD, 0x010B),  # Keyspan 19Qi uses an21xx (original EZ-USB)
    (0x0525, 0xA4A0),  # "gadget zero", Linux-USB test software
    (0x0525, 0xA4A3),  # iso version of usermode code
    (0xFFF0, 0xFFF0),  # some GPL'd test firmware uses these IDs
    (0x0B62, 0x0059),  # iBOT2 high speed webcam
})
_USER_MODE: Final = (0x0525, 0xA4A4)
_FUNCTIONFS: Final = (0x0525, 0xA4AC)
_DT_DEVICE: Final = 0x01
_DT_INTERFACE: Final = 0x04
_CLASS_PER_INTERFACE: Final = 0x00
_CLASS_VENDOR_SPEC: Final = 0xFF


@dataclass
class TestusbOptions:
    """testusb's command line: the device (-D) or all (-a), the directory (-A), one test
    (-t, -1 for all), -n, and the test parameters (-c, -s, -v, -g) with testusb.c's
    defaults."""

    device: str | None = None
    all: bool = False
    usb_dir: str | None = None
    test: int = -1
    list_only: bool = False
    iterations: int = 1000
    length: int = 512
    vary: int = 512
    sglen: int = 32


@dataclass
class TestDev:
    """struct testdev: a usbfs node and the interface its tests run on."""

    name: str
    ifnum: int
    results: list[str] = field(default_factory=list)


def _ffs_ifnum(data: bytes) -> int:
    """testdev_ffs_ifnum(): the first interface descriptor that is vendor-specific with
    two endpoints and subclass/protocol 0, in the descriptors after the device's."""
    at = 0
    while at < len(data) and data[at] >= 2 and at + data[at] <= len(data):
        d = data[at:at + data[at]]
        if (len(d) == 9 and d[1] == _DT_INTERFACE and d[4] == 2
                and d[5] == _CLASS_VENDOR_SPEC and d[6] == 0 and d[7] == 0):
            return d[2]
        at += data[at]
    return -1


def testdev_ifnum(data: bytes) -> int:
    """testdev_ifnum(): the interface to test on, from what a usbfs node reads back (the
    device descriptor, then the configurations), or -1 when it is no test device.
    Context: pure function."""
    if len(data) < 18 or data[0] != 18 or data[1] != _DT_DEVICE:
        return -1
    ids = (int.from_bytes(data[8:10], "little"), int.from_bytes(data[10:12], "little"))
    if ids in _IFNUM_0:
        return 0
    if ids == _USER_MODE or (ids == _FUNCTIONFS
                             and data[4] in (_CLASS_PER_INTERFACE, _CLASS_VENDOR_SPEC)):
        return _ffs_ifnum(data[18:])
    return -1


async def _read_node(system: System, path: str) -> bytes:
    async with await system.aopen(path, "rb") as f:
        chunks = []
        while chunk := await f.read(4096):
            chunks.append(chunk)
        return b"".join(chunks)


async def find_testdevs(system: System, usb_dir: str = USB_DIR,
                        err: Callable[[str], None] = lambda line: None) -> list[TestDev]:
    """The test devices under `usb_dir` (ftw of testusb.c, in name order), each listed on
    `err` as testusb lists it.  Context: may sleep."""
    found = []
    for path in _walk(system, usb_dir.rstrip("/") or "/"):
        try:
            ifnum = testdev_ifnum(await _read_node(system, path))
        except OSError as exc:
            err(f"{path}: {os.strerror(exc.errno or Errno.EIO)}")
            continue
        if ifnum < 0:
            continue
        err(f"unknown speed\t{path}\t{ifnum}")
        found.append(TestDev(path, ifnum))
    return found


def _walk(system: System, directory: str) -> list[str]:
    """The files under `directory`, depth first in name order (ftw's FTW_F entries)."""
    files: list[str] = []
    try:
        names = sorted(system.vfs.listdir(directory))
    except OSError:
        return files
    for name in names:
        path = f"{directory.rstrip('/')}/{name}"
        try:
            st = system.vfs.stat(path, follow=False)
        except OSError:
            continue
        if st.is_dir:
            files += _walk(system, path)
        elif not st.is_link:
            files.append(path)
    return files


def _line(dev: TestDev, test: int, param: UsbtestParam, error: OSError | None) -> str:
    if error is None:
        return (f"{dev.name} test {test}, {param.duration_sec:4d}."
                f"{param.duration_usec:06d} secs")
    code = error.errno or Errno.EIO
    return f"{dev.name} test {test} --> {code} ({os.strerror(code)})"


async def handle_testdev(system: System, dev: TestDev, opts: TestusbOptions,
                         out: Callable[[str], None], err: Callable[[str], None]) -> bool:
    """handle_testdev(): open the node read-write and run the tests on it, one line each
    on `out`.  False when the node cannot be opened.  Context: may sleep."""
    try:
        f = await system.aopen(dev.name, "rb+")
    except OSError as exc:
        err(f"can't open dev file r/w: {os.strerror(exc.errno or Errno.EIO)}")
        return False
    async with f:
        for test in range(TEST_CASES):
            if opts.test not in (-1, test):
                continue
            param = UsbtestParam(test, opts.iterations, opts.length, opts.vary, opts.sglen)
            error = None
            try:
                await f.ioctl(USBDEVFS_IOCTL, UsbdevfsIoctl(dev.ifnum, USBTEST_REQUEST, param))
            except OSError as exc:
                if exc.errno == Errno.EOPNOTSUPP:
                    continue
                error = exc
            line = _line(dev, test, param, error)
            dev.results.append(line)
            out(line)
    return True


async def testusb(system: System, opts: TestusbOptions, out: Callable[[str], None],
                  err: Callable[[str], None]) -> int:
    """main() of testusb.c on `system`: find the test devices, then test the one -D names
    (or the only one found), else all side by side.  Returns the exit status: 1 for a
    missing device choice or directory, no device, or a node that cannot be opened, else
    0 (test failures do not change it).  Context: may sleep."""
    if not opts.all and not opts.device:
        err("must specify '-a' or '-D dev', or DEVICE=/dev/bus/usb/BBB/DDD in env")
        err(USAGE.rstrip("\n"))
        return 1
    usb_dir = opts.usb_dir or USB_DIR
    if not system.vfs.exists(usb_dir):
        err("USB device files are missing")
        return 255
    testdevs = await find_testdevs(system, usb_dir, err)
    if not testdevs and not opts.device:
        err("no test devices recognized")
        return 255
    if opts.list_only:
        return 0
    device = opts.device
    if len(testdevs) == 1 and not device:
        device = testdevs[0].name
    if device:
        entry = next((d for d in testdevs if d.name == device), None)
        if entry is None:
            err(f"testusb: {device} may see only control tests")
            entry = TestDev(device, 0)
        return 0 if await handle_testdev(system, entry, opts, out, err) else 1
    await asyncio.gather(*(handle_testdev(system, d, opts, out, err) for d in testdevs))
    return 0


def parse_num(text: str) -> int:
    """parse_num(): strtoul(str, 0) — decimal, 0x hex or 0 octal — up to UINT_MAX; raises
    ValueError otherwise."""
    value = int(text, 0) if not (text.startswith("0") and text[1:2].isdigit()) \
        else int(text, 8)
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{text!r} is not an unsigned int")
    return value


# -- `usbemu testusb`: the command-line options --------------------------------------------------


def _num_option(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """-c, -s, -v, -g: parse_num() as testusb does, a usage error otherwise."""
    if value is None:
        return None
    try:
        return parse_num(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an unsigned number", ctx, param) \
            from None


def _controller_option(ctx: click.Context, param: click.Parameter,
                       value: str | None) -> str | None:
    """--controller: a registered controller kind, checked before a machine boots."""
    try:
        return None if value is None else check_hcd_kind(value)
    except MachineError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def testusb_options(fn: _F) -> _F:
    """testusb's options, and --controller (the host controller kind; the same as --hcd)."""
    options = [
        click.option("--controller", metavar="KIND", default=None,
                     callback=_controller_option,
                     help="Kind of the host controller (the same as --hcd)."),
        click.option("-D", "device", metavar="PATH", help="Only test this device "
                     "(/dev/bus/usb/BBB/DDD)."),
        click.option("-A", "usb_dir", metavar="DIR", help="Use all devices under DIR."),
        click.option("-a", "all_", is_flag=True, help="Test all recognized devices."),
        click.option("-n", "list_only", is_flag=True,
                     help="No test running, show devices to be tested."),
        click.option("-t", "test", type=click.IntRange(min=0), default=None,
                     help="Only run this test case (0..29)."),
        click.option("-c", "iterations", metavar="N", callback=_num_option,
                     help="Iterations (default 1000)."),
        click.option("-s", "length", metavar="N", callback=_num_option,
                     help="Transfer length (default 512)."),
        click.option("-v", "vary", metavar="N", callback=_num_option,
                     help="Vary the length by N (default 512)."),
        click.option("-g", "sglen", metavar="N", callback=_num_option,
                     help="Scatter-gather entries / queue depth (default 32)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def options_from(device: str | None, usb_dir: str | None, all_: bool, list_only: bool,
                 test: int | None, **numbers: int | None) -> TestusbOptions:
    """The TestusbOptions of the parsed command line (-A implies -a, as in testusb.c)."""
    opts = TestusbOptions(device=None if usb_dir or all_ else device,
                          all=all_ or usb_dir is not None, usb_dir=usb_dir,
                          test=-1 if test is None else test, list_only=list_only)
    for name, value in numbers.items():
        if value is not None:
            setattr(opts, name, value)
    return opts


def run_testusb(system: System, opts: TestusbOptions) -> int:
    """Run testusb on a booted machine, its lines on stdout and stderr; the exit status.
    Context: outside the machine's loop (runs it)."""
    return system.run(testusb(system, opts, click.echo,
                              lambda line: click.echo(line, err=True)))
