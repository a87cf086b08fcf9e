"""`usbemu shell` (usbemu.cli.shell): every command against a live machine on virtual time,
the line syntax, errors and statuses, hexdump's and ls's formats against util-linux and
coreutils, completion, and piped mode through click's runner and a real process.  The
interactive mode under a pty is in test_shell_pty.py."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from usbemu.cli.machine import boot, load_module, plug
from usbemu.cli.main import main
from usbemu.cli.shell import Shell, run_shell
from usbemu.cli.shell import frontend as shell_mod
from usbemu.cli.shell.commands import COMMANDS, Command
from usbemu.cli.shell.files import columns
from usbemu.cli.shell.frontend import banner, history_path
from usbemu.cli.shell.hexdump import hexdump_canonical, hexdump_words
from usbemu.cli.shell.syntax import parse_line
from usbemu.kernel.vfs import Attr, DevNode
from usbemu.kernel.vtime import VirtualTimeLoop
from usbemu.system import System
from usbemu.testing import blacklist

FIXTURES = Path(__file__).parents[1] / "kernel" / "fixtures"

#: 40 x "A", "0123456789abcdefghij", then bytes 0, 7, 14 … 252: a repeated line, printable
#: and unprintable bytes, a short last line.
SAMPLE = b"A" * 40 + b"0123456789abcdefghij" + bytes(range(0, 256, 7))

#: `hexdump -C` and `hexdump` of SAMPLE, as util-linux 2.38 prints them.
SAMPLE_C = """\
00000000  41 41 41 41 41 41 41 41  41 41 41 41 41 41 41 41  |AAAAAAAAAAAAAAAA|
*
00000020  41 41 41 41 41 41 41 41  30 31 32 33 34 35 36 37  |AAAAAAAA01234567|
00000030  38 39 61 62 63 64 65 66  67 68 69 6a 00 07 0e 15  |89abcdefghij....|
00000040  1c 23 2a 31 38 3f 46 4d  54 5b 62 69 70 77 7e 85  |.#*18?FMT[bipw~.|
00000050  8c 93 9a a1 a8 af b6 bd  c4 cb d2 d9 e0 e7 ee f5  |................|
00000060  fc                                                |.|
00000061
"""
SAMPLE_WORDS = ("0000000 4141 4141 4141 4141 4141 4141 4141 4141\n"
                "*\n"
                "0000020 4141 4141 4141 4141 3130 3332 3534 3736\n"
                "0000030 3938 6261 6463 6665 6867 6a69 0700 150e\n"
                "0000040 231c 312a 3f38 4d46 5b54 6962 7770 857e\n"
                "0000050 938c a19a afa8 bdb6 cbc4 d9d2 e7e0 f5ee\n"
                "0000060 00fc" + " " * 35 + "\n"     # the last line is padded to full width
                "0000061\n")


class Session:
    """A Shell on a machine whose output and messages are collected per command."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.shell = Shell(system, self.out, self.err)

    def __call__(self, line: str) -> tuple[int, str, str]:
        for stream in (self.out, self.err):
            stream.seek(0)
            stream.truncate()
        status = self.shell.execute(line)
        return status, self.out.getvalue(), self.err.getvalue()


@pytest.fixture
def machine() -> Iterator[System]:
    """Bus 1 with the pen drive at 1-1, bound to pen_driver (/dev/pen0), usb-storage
    blacklisted as the article's readers do."""
    system = boot()
    try:
        blacklist(system, "usb_storage", "uas")
        load_module(system, "pen_driver")
        plug(system, "pendrive")
        yield system
    finally:
        system.close()


@pytest.fixture
def sh(machine: System) -> Session:
    return Session(machine)


# -- lsusb, dmesg ---------------------------------------------------------------------------------


def test_lsusb_lists_the_devices(sh: Session) -> None:
    status, out, err = sh("lsusb")
    assert status == 0 and err == ""
    assert [line[:33] for line in out.splitlines()] == [
        "Bus 001 Device 001: ID 1d6b:0002 ", "Bus 001 Device 002: ID 058f:6387 "]


def test_lsusb_tree_and_verbose(sh: Session) -> None:
    status, out, _ = sh("lsusb -t")
    assert status == 0
    assert "|__ Port 001: Dev 002, If 0, Class=Mass Storage, Driver=pen_driver, 480M" in out
    status, out, _ = sh("lsusb -v")
    assert status == 0 and "idVendor           0x058f" in out
    assert "bEndpointAddress     0x82  EP 2 IN" in out


@pytest.mark.parametrize(("args", "ids"), [
    ("-s 1:2", ["058f:6387"]), ("-s 2", ["058f:6387"]), ("-s 1:", ["1d6b:0002", "058f:6387"]),
    ("-d 058f:", ["058f:6387"]), ("-d :0002", ["1d6b:0002"]), ("-d 058f:6387", ["058f:6387"]),
])
def test_lsusb_filters_by_bus_device_and_ids(sh: Session, args: str, ids: list[str]) -> None:
    status, out, _ = sh(f"lsusb {args}")
    assert status == 0
    assert [line.split()[5] for line in out.splitlines()] == ids


def test_lsusb_verbose_filter_keeps_whole_devices(sh: Session) -> None:
    status, out, _ = sh("lsusb -v -d 058f:")
    assert status == 0
    assert out.startswith("\nBus 001 Device 002: ID 058f:6387 ")
    assert "1d6b" not in out and out.count("Device Descriptor:") == 1


def test_lsusb_filter_without_a_match_fails_quietly(sh: Session) -> None:
    assert sh("lsusb -d 1234:5678") == (1, "", "")


@pytest.mark.parametrize("args", ["-s x", "-d 058f", "-d 10000:", "-q", "extra"])
def test_lsusb_bad_usage_shows_the_usage(sh: Session, args: str) -> None:
    status, out, err = sh(f"lsusb {args}")
    assert status == 1 and out == ""
    assert err.endswith("Usage: lsusb [-t] [-v] [-s [[bus]:][devnum]] [-d [vendor]:[product]]\n")


def test_dmesg_prints_clears_and_reads_clear(sh: Session) -> None:
    status, out, _ = sh("dmesg")
    assert status == 0
    assert "] Minor obtained: 0\n" in out and out.startswith("[    0.000000] usbcore: ")
    assert sh("dmesg -c")[1] == out
    assert sh("dmesg") == (0, "", "")
    sh("plug mouse")
    assert sh("dmesg -C") == (0, "", "")
    assert sh("dmesg") == (0, "", "")


# -- files: cat, ls, readlink, echo, hexdump ------------------------------------------------------


def test_cat_prints_sysfs_attributes(sh: Session) -> None:
    assert sh("cat /sys/bus/usb/devices/1-1/idVendor") == (0, "058f\n", "")
    assert sh("cat sys/bus/usb/devices/1-1/idProduct /sys/bus/usb/devices/1-1/product") == \
        (0, "6387\nMass Storage\n", "")


@pytest.mark.parametrize(("path", "message"), [
    ("/sys/nope", "No such file or directory"), ("/sys", "Is a directory"),
    ("/sys/bus/usb/drivers/pen_driver/unbind", "Permission denied"),
])
def test_cat_errors_are_worded_as_cat_words_them(sh: Session, path: str, message: str) -> None:
    assert sh(f"cat {path}") == (1, "", f"cat: {path}: {message}\n")


def test_cat_goes_on_after_a_missing_file(sh: Session) -> None:
    status, out, err = sh("cat /nope /sys/bus/usb/devices/1-1/idVendor")
    assert (status, out, err) == (1, "058f\n", "cat: /nope: No such file or directory\n")


def test_ls_lists_a_directory(sh: Session) -> None:
    assert sh("ls /dev") == (0, "bus\npen0\n", "")
    assert sh("ls -a /dev") == (0, ".\n..\nbus\npen0\n", "")
    assert sh("ls")[1] == "dev\netc\nlib\nproc\nsys\n"


def test_ls_l_shows_modes_device_numbers_and_links(sh: Session) -> None:
    assert sh("ls -l /dev") == (0, "total 0\n"
                                   "drwxr-xr-x 3 root root      0 Jan  1  1970 bus\n"
                                   "crw------- 1 root root 180, 0 Jan  1  1970 pen0\n", "")
    status, out, _ = sh("ls -l /sys/bus/usb/devices")
    assert status == 0
    assert ("lrwxrwxrwx 1 root root 49 Jan  1  1970 1-1 -> "
            "../../../devices/pci0000:00/0000:00:1d.0/usb1/1-1\n") in out
    status, out, _ = sh("ls -l /sys/bus/usb/devices/1-1/")
    assert "-r--r--r-- 1 root root 4096 Jan  1  1970 idVendor\n" in out
    assert "--w------- 1 root root 4096 Jan  1  1970 remove\n" in out


def test_ls_l_shows_the_numbers_of_a_block_device(sh: Session) -> None:
    sh.system.vfs.mount("/dev/sdq", DevNode(8, 256 - 16, 0o660, block=True))
    assert sh("ls -l /dev/sdq") == (0, "brw-rw---- 1 root root 8, 240 Jan  1  1970 /dev/sdq\n",
                                    "")


def test_ls_follows_a_link_to_a_directory_unless_l_or_d(sh: Session) -> None:
    assert "idVendor\n" in sh("ls /sys/bus/usb/devices/1-1")[1]
    assert sh("ls -d /sys/bus/usb/devices/1-1")[1] == "/sys/bus/usb/devices/1-1\n"
    assert sh("ls -l /sys/bus/usb/devices/1-1")[1].startswith("lrwxrwxrwx 1 root root 49 ")


def test_ls_with_several_operands_names_each_directory(sh: Session) -> None:
    status, out, err = sh("ls /sys/bus/usb/devices/1-1/idVendor /nope /dev")
    assert status == 2
    assert err == "ls: cannot access '/nope': No such file or directory\n"
    assert out == "/sys/bus/usb/devices/1-1/idVendor\n\n/dev:\nbus\npen0\n"


def test_ls_bad_option(sh: Session) -> None:
    assert sh("ls -x /dev") == (2, "", "ls: invalid option -- 'x'\nUsage: ls [-1adl] [FILE...]\n")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ls_on_a_terminal_prints_columns(machine: System,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = Terminal()
    assert Shell(machine, out, io.StringIO()).execute("ls /sys/bus/usb/devices/1-1") == 0
    # LC_ALL=C ls -C -w 80 -T 0 of a directory with these names
    assert out.getvalue() == (
        "1-1:1.0              bMaxPower           dev          manufacturer  rx_lanes\n"
        "authorized           bNumConfigurations  devnum       maxchild      serial\n"
        "avoid_reset_quirk    bNumInterfaces      devpath      port          speed\n"
        "bConfigurationValue  bcdDevice           driver       power         subsystem\n"
        "bDeviceClass         bmAttributes        ep_00        product       tx_lanes\n"
        "bDeviceProtocol      busnum              idProduct    quirks        uevent\n"
        "bDeviceSubClass      configuration       idVendor     removable     urbnum\n"
        "bMaxPacketSize0      descriptors         ltm_capable  remove        version\n")
    out = Terminal()
    Shell(machine, out, io.StringIO()).execute("ls -1 /dev")
    assert out.getvalue() == "bus\npen0\n"


@pytest.mark.skipif(shutil.which("ls") is None, reason="coreutils ls is not installed")
@pytest.mark.parametrize("width", [20, 80, 131])
def test_columns_lay_out_names_as_coreutils_ls_does(tmp_path: Path, width: int) -> None:
    names = ["1-1:1.0", "authorized", "bConfigurationValue", "busnum", "dev", "ep_00",
             "idVendor", "port", "power", "x", "speed", "uevent", "a-rather-long-name"]
    for name in names:
        (tmp_path / name).touch()
    real = subprocess.run(["ls", "-C", "-w", str(width), "-T", "0", str(tmp_path)],
                          capture_output=True, text=True, env={"LC_ALL": "C"}, check=True)
    assert columns(sorted(names), width) == real.stdout


def test_readlink(sh: Session) -> None:
    assert sh("readlink /sys/bus/usb/devices/1-1:1.0/driver") == \
        (0, "../../../../../../bus/usb/drivers/pen_driver\n", "")
    assert sh("readlink -f /sys/bus/usb/devices/1-1") == \
        (0, "/sys/devices/pci0000:00/0000:00:1d.0/usb1/1-1\n", "")
    assert sh("readlink /sys/bus/usb/devices/1-1/idVendor") == (1, "", "")


def test_echo_prints_words(sh: Session) -> None:
    assert sh("echo hello   'USB world'") == (0, "hello USB world\n", "")
    assert sh("echo -n no newline") == (0, "no newline", "")
    # bash's echo: octal only after \0; \c ends the output
    assert sh(r"echo -e 'a\x41\tb\0101\101\c ignored'") == (0, "aA\tbA\\101", "")
    assert sh(r"echo -E 'a\tb' -n") == (0, "a\\tb -n\n", "")
    assert sh("echo --help") == (0, "--help\n", "")


def test_echo_into_the_pen_drive_and_read_it_back(sh: Session) -> None:
    assert sh("echo -n hello > /dev/pen0") == (0, "", "")
    # pen_driver's read is one bulk IN; the next one times out (5000 ms, no wall time)
    assert sh("cat /dev/pen0") == (1, "hello", "cat: /dev/pen0: Connection timed out\n")
    assert sh("echo -n hello >/dev/pen0") == (0, "", "")
    status, out, err = sh("hexdump -C /dev/pen0")
    assert status == 0        # hexdump only warns about a read error
    assert out == ("00000000  68 65 6c 6c 6f                                    |hello|\n"
                   "00000005\n")
    assert err == "hexdump: /dev/pen0: Connection timed out\n"


def test_echo_to_unbind_and_bind_moves_the_driver(sh: Session) -> None:
    assert sh("echo 1-1:1.0 > /sys/bus/usb/drivers/pen_driver/unbind") == (0, "", "")
    assert sh("ls /dev") == (0, "bus\n", "")
    assert "Pen drive removed" in sh("dmesg")[1]
    assert sh("readlink /sys/bus/usb/devices/1-1:1.0/driver")[0] == 1
    assert sh("echo 1-1:1.0 >> /sys/bus/usb/drivers/pen_driver/bind") == (0, "", "")
    assert sh("ls /dev") == (0, "bus\npen0\n", "")


def test_redirection_errors_are_the_shells(sh: Session) -> None:
    assert sh("echo x > /sys/bus/usb/devices/1-1/idVendor") == \
        (1, "", "usbemu: /sys/bus/usb/devices/1-1/idVendor: Permission denied\n")
    assert sh("echo x > /sys/nope") == (1, "", "usbemu: /sys/nope: No such file or directory\n")
    assert sh("echo 1-9:1.0 > /sys/bus/usb/drivers/pen_driver/unbind") == \
        (1, "", "usbemu: echo: write error: No such device\n")
    assert sh("cat /sys/bus/usb/devices/1-1/idVendor > /sys/bus/usb/drivers/pen_driver/bind") \
        == (1, "", "cat: write error: No such device\n")


def test_redirection_goes_around_the_words(sh: Session) -> None:
    assert sh("echo a>/dev/pen0 b") == (0, "", "")
    assert sh("cat /dev/pen0")[1] == "a b\n"


def test_hexdump_of_a_file_matches_util_linux(machine: System, sh: Session) -> None:
    machine.vfs.mount("/tmp/sample", Attr(lambda: SAMPLE, binary=True))
    assert sh("hexdump -C /tmp/sample") == (0, SAMPLE_C, "")
    assert sh("hexdump /tmp/sample") == (0, SAMPLE_WORDS, "")


def test_hexdump_concatenates_its_files_and_reports_missing_ones(sh: Session) -> None:
    status, out, err = sh("hexdump -C /sys/bus/usb/devices/1-1/idVendor /nope "
                          "/sys/bus/usb/devices/1-1/idProduct")
    assert status == 1
    assert out == ("00000000  30 35 38 66 0a 36 33 38  37 0a                    "
                   "|058f.6387.|\n0000000a\n")
    assert err == "hexdump: /nope: No such file or directory\n"
    assert sh("hexdump /nope") == (1, "", "hexdump: /nope: No such file or directory\n"
                                          "hexdump: all input file arguments failed\n")


@pytest.mark.parametrize("data", [b"", b"a", b"hello", b"A" * 32, b"A" * 33, b"\0" * 100 + b"x",
                                  bytes(range(256)), SAMPLE])
def test_hexdump_formats_equal_util_linux(data: bytes) -> None:
    if data == SAMPLE:
        assert (hexdump_canonical(data), hexdump_words(data)) == (SAMPLE_C, SAMPLE_WORDS)
    if shutil.which("hexdump") is None:
        pytest.skip("util-linux hexdump is not installed to compare with")
    for args, ours in ((["-C"], hexdump_canonical(data)), ([], hexdump_words(data))):
        real = subprocess.run(["hexdump", *args], input=data, capture_output=True, check=True)
        assert ours == real.stdout.decode()


# -- modules --------------------------------------------------------------------------------------


def test_rmmod_while_the_device_is_open(machine: System, sh: Session) -> None:
    pen = machine.open("/dev/pen0", "rb")
    assert sh("rmmod pen_driver") == (1, "", "rmmod: ERROR: Module pen_driver is in use\n")
    pen.close()
    assert sh("lsmod")[1].splitlines()[1].split()[::2] == ["pen_driver", "0"]
    assert sh("rmmod pen_driver") == (0, "", "")
    assert sh("lsmod") == (0, "Module                  Size  Used by\n", "")
    assert sh("ls /dev") == (0, "bus\n", "")


def test_insmod_loads_and_refuses_a_second_time(machine: System, sh: Session) -> None:
    assert sh("rmmod pen_driver")[0] == 0
    assert sh("insmod pen_driver") == (0, "", "")
    assert sh("ls /dev")[1] == "bus\npen0\n"          # the driver bound the pen drive again
    assert sh("insmod pen_driver") == \
        (1, "", "insmod: ERROR: could not insert module pen_driver: File exists\n")
    assert sh("insmod") == (1, "", "insmod: ERROR: missing filename.\n"
                                   "Usage: insmod NAME|FILE [PARAM=VALUE...]\n")
    assert sh("rmmod nope") == (1, "", "rmmod: ERROR: Module nope is not currently loaded\n")


def test_modprobe_loads_and_removes_with_dependencies(machine: System, sh: Session) -> None:
    machine.modules.install("gizmo", str(FIXTURES / "gizmo.py"))
    machine.modules.install(FIXTURES / "needs_gizmo.py")
    assert sh("modprobe needs_gizmo") == (0, "", "")
    assert [m.name for m in machine.modules.loaded][:2] == ["needs_gizmo", "gizmo"]
    assert sh("modprobe -r gizmo") == (1, "", "modprobe: FATAL: Module gizmo is in use.\n")
    assert sh("modprobe -r needs_gizmo") == (0, "", "")     # and gizmo, now unused
    assert [m.name for m in machine.modules.loaded] == ["pen_driver"]
    assert sh("modprobe -r gizmo") == (1, "", "modprobe: FATAL: Module gizmo is not in kernel.\n")


@pytest.mark.parametrize(("line", "message"), [
    ("modprobe pen_driver", "modprobe: FATAL: Module pen_driver not found in directory "
                            "/lib/modules/6.12.0"),
    ("modprobe -r usbcore", "modprobe: FATAL: Module usbcore is builtin."),
    ("modprobe -r nope", "modprobe: FATAL: Module nope not found."),
    ("modprobe", "modprobe: ERROR: missing parameters.\n"
                 "Usage: modprobe NAME [PARAM=VALUE...] | modprobe -r NAME..."),
])
def test_modprobe_errors(sh: Session, line: str, message: str) -> None:
    assert sh(line) == (1, "", message + "\n")


# -- plug, unplug, sleep --------------------------------------------------------------------------


def test_plug_and_unplug(sh: Session) -> None:
    assert sh("plug hub ports=4 at 1-4") == (0, "plugged hub at 1-4\n", "")
    assert sh("plug mouse at 1-4.2") == (0, "plugged mouse at 1-4.2\n", "")
    assert sh("plug zero") == (0, "plugged zero at 1-2\n", "")
    assert "ID 046d:c077 " in sh("lsusb")[1]
    assert sh("unplug 1-4.2") == (0, "", "")
    assert "046d:c077" not in sh("lsusb")[1]
    assert "usb 1-4.2: USB disconnect, device number 4" in sh("dmesg")[1]


@pytest.mark.parametrize(("line", "message"), [
    ("plug nope", "plug: no device model named 'nope' and no such file; known models: "),
    ("plug hub colour=red", "plug: model 'hub' has no option 'colour'; accepted: ports (int)"),
    ("plug mouse at 1-1", "plug: '1-1': "),
    ("plug", "plug: missing MODEL; usage: plug MODEL [NAME=VALUE ...] [at PORT-PATH]"),
    ("unplug 1-5", "unplug: nothing is plugged in at 1-5"),
    ("unplug x", "unplug: 'x' is not a port path; expected BUS-PORT[.PORT...]"),
    ("unplug", "unplug: expected one port path, e.g. unplug 1-1\nUsage: unplug PORT-PATH"),
])
def test_plug_and_unplug_mistakes(sh: Session, line: str, message: str) -> None:
    status, out, err = sh(line)
    assert (status, out) == (1, "")
    assert err.startswith(message)


def test_sleep_lets_machine_time_pass(machine: System, sh: Session) -> None:
    start = machine.time()
    assert sh("sleep 5000") == (0, "", "")
    assert machine.time() - start == pytest.approx(5.0)
    assert sh("sleep 2s") == (0, "", "") and sh("sleep 250ms") == (0, "", "")
    assert machine.time() - start == pytest.approx(7.25)
    status, _, err = sh("sleep soon")
    assert status == 1 and err.endswith("Usage: sleep MILLISECONDS | sleep SECONDSs\n")


@pytest.mark.usefixtures("hang_guard")
def test_sleep_up_to_the_limit_and_not_beyond(machine: System, sh: Session) -> None:
    """30 days of machine time is the longest sleep; more is one line of error (status 1,
    as coreutils' sleep for an invalid interval) and no time passes; what is not a
    duration at all (inf, nan, -1) is a usage error that names the limit."""
    assert isinstance(machine.loop, VirtualTimeLoop)
    start = machine.loop.time_ns()
    assert sh("sleep 2592000000") == (0, "", "")
    assert sh("sleep 0.000001") == (0, "", "")
    assert machine.loop.time_ns() - start == 2_592_000_000_000_001
    limit = "the longest sleep is 2592000000 ms (30 days) of machine time\n"
    for word in ("100000000000", "2592000000.001", "2592001s", "9" * 400):
        assert sh(f"sleep {word}") == (1, "", f"sleep: invalid time interval '{word}': {limit}")
    for word in ("inf", "nan", "-1", "1e300"):
        status, out, err = sh(f"sleep {word}")
        assert (status, out) == (1, "") and "of at most 2592000000 ms (30 days)\n" in err
    assert machine.loop.time_ns() - start == 2_592_000_000_000_001


def test_ctrl_c_cancels_what_the_command_was_doing(machine: System, sh: Session) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    sh("echo -n hi > /dev/pen0")
    start = machine.time()
    machine.loop.call_later(1.0, interrupt)       # during the second read of /dev/pen0
    with pytest.raises(KeyboardInterrupt):
        sh("cat /dev/pen0")
    assert sh.out.getvalue() == "hi"
    assert machine.time() - start == pytest.approx(1.0)
    assert sh("sleep 10000") == (0, "", "")
    # the read was cancelled, not left to time out later, and the file was closed
    assert "Bulk message returned" not in sh("dmesg")[1]
    assert sh("rmmod pen_driver") == (0, "", "")


def _register_pen_probe(machine: System, probe: object) -> None:
    from usbemu.core.devtable import usb_device
    from usbemu.core.driver import UsbDriver, usb_register

    machine.run(usb_register(machine.usb, UsbDriver(
        "misfit", id_table=[usb_device(0x0525, 0xA4A0)], probe=probe)))


@pytest.mark.usefixtures("hang_guard")
def test_ctrl_c_during_a_probe_cancels_the_command_and_not_the_probe(machine: System,
                                                                      sh: Session) -> None:
    """A real SIGINT while `plug` waits for the hub driver: the wait is cancelled; the probe
    it arrived in finishes undisturbed (no oops) and the machine stays usable."""
    import signal

    from usbemu.kernel.vtime import sleep_ns

    async def probe(intf: object, id: object) -> int:
        signal.raise_signal(signal.SIGINT)      # the user presses Ctrl-C now
        await sleep_ns(1_000_000)
        return 0

    _register_pen_probe(machine, probe)
    with pytest.raises(KeyboardInterrupt):
        sh("plug zero at 1-2")
    assert sh("sleep 100") == (0, "", "")
    dmesg = sh("dmesg")[1]
    assert "Traceback" not in dmesg and "KeyboardInterrupt" not in dmesg
    assert "\nDRIVER=misfit\n" in sh("cat /sys/bus/usb/devices/1-2:3.0/uevent")[1]
    assert sh("plug pendrive at 1-3") == (0, "plugged pendrive at 1-3\n", "")


@pytest.mark.usefixtures("hang_guard")
def test_a_plug_whose_probe_never_returns_is_reported_and_ctrl_c_still_works(
        machine: System, sh: Session) -> None:
    async def probe(intf: object, id: object) -> int:
        await asyncio.Event().wait()
        return 0

    _register_pen_probe(machine, probe)
    status, _, err = sh("plug zero at 1-2")
    assert status == 1
    assert err.startswith("plug: the machine did not settle within 180 s: ")
    assert "probe of 1-2:3.0 by driver misfit" in err
    assert "INFO: task hub_wq blocked for more than 120 seconds." in sh("dmesg")[1]
    assert sh("cat /sys/bus/usb/devices/1-1/idVendor") == (0, "058f\n", "")


# -- the shell: help, exit, syntax, errors --------------------------------------------------------


def test_help_lists_every_command(sh: Session) -> None:
    status, out, _ = sh("help")
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()[1:len(COMMANDS) + 1]] == list(COMMANDS)
    assert sh("help ls") == (0, "Usage: ls [-1adl] [FILE...]\n" + COMMANDS["ls"].summary + "\n",
                             "")
    assert sh("cat --help") == sh("help cat")
    assert sh("help nope") == (1, "", "usbemu: help: no help topics match `nope'.  Try `help' "
                                      "for the list.\n")


def test_exit_sets_the_status(sh: Session) -> None:
    assert sh("exit 1 2") == (1, "", "usbemu: exit: too many arguments\n")
    assert sh.shell.exit_requested is None
    assert sh("exit") == (1, "", "")                 # the last command's status
    assert sh.shell.exit_requested == 1
    assert sh("exit 300")[0] == 44 and sh.shell.exit_requested == 44
    assert sh("quit soon") == (2, "", "usbemu: quit: soon: numeric argument required\n")


@pytest.mark.parametrize(("line", "status", "message"), [
    ("frobnicate now", 127, "usbemu: frobnicate: command not found"),
    ("echo 'open", 2, "usbemu: unexpected end of line while looking for matching `''"),
    ("lsusb | grep 058f", 2, "usbemu: `|' is not supported: one command per line, output "
                             "redirected with > FILE or >> FILE"),
    ("lsusb; lsmod", 2, "usbemu: `;' is not supported"),
    ("lsusb 2>/dev/null", 2, "usbemu: only standard output can be redirected"),
    ("echo x >", 2, "usbemu: syntax error near unexpected token `newline'"),
    ("echo x > a > b", 2, "usbemu: only one output redirection per command"),
    ("> /dev/pen0", 2, "usbemu: a redirection needs a command"),
    ("echo trailing\\", 2, "usbemu: syntax error: No escaped character"),
])
def test_mistakes_in_the_line(sh: Session, line: str, status: int, message: str) -> None:
    got, out, err = sh(line)
    assert (got, out) == (status, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_parse_line_splits_as_sh_does() -> None:
    assert parse_line("  # a comment") is None and parse_line("") is None
    line = parse_line("echo 'a > b' \"c|d\" e\\;f x#y # comment")
    assert line is not None and line.words == ["echo", "a > b", "c|d", "e;f", "x#y"]
    line = parse_line("echo 1-1:1.0>>/sys/bus/usb/drivers/pen_driver/bind")
    assert line is not None and line.redirect == (">>", "/sys/bus/usb/drivers/pen_driver/bind")
    assert line.words == ["echo", "1-1:1.0"]


def test_an_internal_error_is_one_line_and_the_shell_goes_on(
        sh: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(call: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setitem(COMMANDS, "lsmod", Command(broken, "lsmod", "list loaded modules"))
    assert sh("lsmod") == (1, "", "lsmod: boom (internal error: RuntimeError)\n")
    assert sh("lsusb")[0] == 0


def test_error_prefix_starts_every_error_line(sh: Session) -> None:
    sh.shell.error_prefix = "usbemu: line 7: "
    assert sh("cat /nope")[2] == "usbemu: line 7: cat: /nope: No such file or directory\n"
    assert sh("frob")[2] == "usbemu: line 7: frob: command not found\n"
    assert sh("ls -x")[2] == ("usbemu: line 7: ls: invalid option -- 'x'\n"
                              "usbemu: line 7: Usage: ls [-1adl] [FILE...]\n")


# -- completion -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "candidates"), [
    ("", list(COMMANDS)),
    ("lsu", ["lsusb"]),
    ("ls", ["ls", "lsmod", "lsusb"]),
    ("cat /sys/bus/usb/devices/1-1/idVen", ["/sys/bus/usb/devices/1-1/idVendor"]),
    ("ls /sys/bus/usb/dev", ["/sys/bus/usb/devices/"]),
    ("ls /sys/bus/usb/devices/1-", ["/sys/bus/usb/devices/1-0:1.0/",
                                    "/sys/bus/usb/devices/1-1/",
                                    "/sys/bus/usb/devices/1-1:1.0/"]),
    ("hexdump -C sys/k", ["sys/kernel/"]),
    ("cat '/sys/bus/u", ["/sys/bus/usb/"]),
    ("echo 1-1:1.0 > /sys/bus/usb/drivers/pen_driver/un",
     ["/sys/bus/usb/drivers/pen_driver/unbind"]),
    ("echo 1-1:1.0 >/sys/bus/usb/drivers/pen_driver/b", ["/sys/bus/usb/drivers/pen_driver/bind"]),
    ("plug mo", ["mouse"]),
    ("plug hub ", ["at", "multi_tt=", "ports=", "speed="]),
    ("plug hub at 1-", ["1-2", "1-3", "1-4", "1-5", "1-6"]),
    ("insmod pen", ["pen_driver"]),
    ("rmmod ", ["pen_driver"]),
    ("rmmod pen_driver ", []),             # named already: rmmod removes each once
    ("rmmod pen_driver p", []),
    ("modprobe -r pen_driver ", []),
    ("modprobe -r p", ["pen_driver"]),
    ("unplug ", ["1-1"]),
    ("help ls", ["ls", "lsmod", "lsusb"]),
    ("nope ", []),
    ("lsmod ", []),
])
def test_completion_candidates(sh: Session, line: str, candidates: list[str]) -> None:
    assert sh.shell.complete(line) == sorted(candidates)


def test_completion_of_ports_behind_a_hub(sh: Session) -> None:
    sh("plug hub ports=2 at 1-3")
    sh("plug mouse at 1-3.1")
    assert sh.shell.complete("unplug 1-") == ["1-1", "1-3", "1-3.1"]
    assert sh.shell.complete("plug zero at 1-3") == ["1-3.2"]


def test_completion_of_module_files_on_the_host(sh: Session,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES.parent)
    assert sh.shell.complete("insmod fixtures/giz") == ["fixtures/gizmo.py"]
    assert sh.shell.complete("insmod fixt") == []      # names without / are module names
    assert sh.shell.complete("insmod ./fixt") == ["./fixtures/"]


# -- running: piped, banner, history --------------------------------------------------------------


def test_run_shell_piped_runs_every_line(machine: System) -> None:
    out, err = io.StringIO(), io.StringIO()
    script = io.StringIO("# list\n\nlsusb -d 058f:\n  cat /sys/bus/usb/devices/1-1/idVendor\n")
    assert run_shell(machine, script, out, err, interactive=False) == 0
    # the name is usb.ids's when the host has it, else the device's own strings
    assert re.search(r"ID 058f:6387 .+\n058f\n\Z", out.getvalue()) and err.getvalue() == ""


def test_run_shell_piped_stops_at_the_first_failure(machine: System) -> None:
    out, err = io.StringIO(), io.StringIO()
    script = io.StringIO("lsmod\n\nrmmod nope\nplug mouse\n")
    assert run_shell(machine, script, out, err, interactive=False) == 1
    assert err.getvalue() == "usbemu: line 3: rmmod: ERROR: Module nope is not currently loaded\n"
    assert machine.find_device("1-2") is None           # plug mouse did not run


def test_shell_command_piped_through_click() -> None:
    result = CliRunner().invoke(main, ["shell", "--plug", "pendrive", "--load", "pen_driver"],
                                input="lsusb\nls /dev\n")
    assert result.exit_code == 0, result.output
    assert "ID 058f:6387 " in result.stdout and result.stdout.endswith("bus\npen0\n")
    assert result.stderr == ""


@pytest.mark.parametrize(("script", "code", "stderr", "ran", "not_ran"), [
    ("lsusb\nfrob\nlsmod\n", 127, "usbemu: line 2: frob: command not found\n", "Bus 001",
     "Module"),
    ("lsusb\ncat /nope\nlsmod\n", 1, "usbemu: line 2: cat: /nope: No such file or directory\n",
     "Bus 001", "Module"),
    ("lsmod\nexit 4\nlsusb\n", 4, "", "Module", "Bus 001"),
    ("ls -x\nlsmod\n", 2, "usbemu: line 1: ls: invalid option -- 'x'\n"
                          "usbemu: line 1: Usage: ls [-1adl] [FILE...]\n", "", "Module"),
])
def test_shell_command_piped_exit_status(script: str, code: int, stderr: str, ran: str,
                                         not_ran: str) -> None:
    result = CliRunner().invoke(main, ["shell"], input=script)
    assert result.exit_code == code
    assert result.stderr == stderr
    assert ran in result.stdout and not_ran not in result.stdout


def test_shell_in_a_real_process_stops_at_the_first_failure() -> None:
    script = "lsusb\ncat /sys/bus/usb/devices/1-1/idVendor\ncat /sys/nope\nlsmod\n"
    proc = subprocess.run([sys.executable, "-m", "usbemu", "shell", "--plug", "pendrive"],
                          input=script, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == "usbemu: line 3: cat: /sys/nope: No such file or directory\n"
    assert re.search(r"ID 058f:6387 .+\n058f\n\Z", proc.stdout)    # lsmod did not run
    ok = subprocess.run([sys.executable, "-m", "usbemu", "shell"], input="lsusb\nexit\n",
                        capture_output=True, text=True, timeout=120)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.startswith("Bus 001 Device 001: ID 1d6b:0002 ")


def test_a_piped_shell_refuses_an_absurd_sleep_at_once() -> None:
    """The error, and nothing after it runs: a piped shell stops at the first failure.
    (Before the limit, this sleep froze virtual time and the process never ended.)"""
    proc = subprocess.run([sys.executable, "-m", "usbemu", "shell"],
                          input="sleep 100000000000\necho ok\n", capture_output=True,
                          text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == ("usbemu: line 1: sleep: invalid time interval '100000000000': "
                           "the longest sleep is 2592000000 ms (30 days) of machine time\n")
    ok = subprocess.run([sys.executable, "-m", "usbemu", "shell"],
                        input="sleep 2592000000\necho ok\n", capture_output=True, text=True,
                        timeout=60)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "ok\n", "")


def test_banner_names_the_buses_and_the_clock(machine: System) -> None:
    assert banner(machine) == ("usbemu shell: bus 1 (ehci-pci), 6 ports; virtual time; "
                               "'help' lists commands")


def test_history_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "usbemu" / "history"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for value in ("", "relative/dir"):
        monkeypatch.setenv("XDG_STATE_HOME", value)
        assert history_path() == tmp_path / "home" / ".local" / "state" / "usbemu" / "history"


def test_run_shell_decides_interactive_from_the_streams(machine: System,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(shell_mod, "_interactive", lambda *a: seen.append("tty") or 0)
    monkeypatch.setattr(shell_mod, "_piped", lambda *a: seen.append("piped") or 0)
    run_shell(machine, Terminal(), Terminal(), io.StringIO())
    run_shell(machine, Terminal(), io.StringIO(), io.StringIO())
    run_shell(machine, io.StringIO(), Terminal(), io.StringIO())
    assert seen == ["tty", "piped", "piped"]


def test_no_command_line_crashes_the_shell() -> None:
    """Whatever is typed, a command returns a status and says what was wrong; nothing
    escapes as an exception or reaches the user as an internal error."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    words = st.one_of(
        st.sampled_from([*COMMANDS, "-t", "-v", "-C", "-l", "-r", "-s", "-d", "1-1", "1-1.2",
                         "at", ">", ">>", "/dev/pen0", "/sys/bus/usb/devices/1-1/idVendor",
                         "/sys/bus/usb/drivers/pen_driver/unbind", "/proc/modules", "/",
                         "pendrive", "hub", "ports=2", "ports=x", "pen_driver", "usbcore",
                         "1-1:1.0", "0x10", "-1", "'", '"', "\\", "#", "..", ""]),
        st.text(max_size=12))
    lines = st.lists(words, min_size=1, max_size=6).map(" ".join)

    system = boot()
    try:
        load_module(system, "pen_driver")
        plug(system, "pendrive", None, "1-1")
        out, err = io.StringIO(), io.StringIO()
        shell = Shell(system, out, err)

        @settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(lines)
        def run(line: str) -> None:
            status = shell.execute(line)
            assert isinstance(status, int) and 0 <= status <= 255
            assert "internal error" not in err.getvalue(), (line, err.getvalue())

        run()
    finally:
        system.close()
