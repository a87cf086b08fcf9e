"""The shell on a tty: stty on /dev/ttyUSB0 (a generic converter, on virtual time), echo and
cat through the tty layer, timeout, Ctrl-C and an unplug under a running cat, and the
completion of stty and timeout."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from usbemu.cli.machine import boot, load_module, plug
from usbemu.cli.shell import Shell
from usbemu.emulated.models.serial import SerialConverter
from usbemu.system import System


class Session:
    """A Shell whose output and messages are collected per command."""

    def __init__(self, system: System) -> None:
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
    """A generic converter (no loopback) on ttyUSB0, and a pen drive on /dev/pen0."""
    system = boot()
    try:
        load_module(system, "usbserial", ["vendor=0xffff", "product=0xfff8"])
        plug(system, "serial")
        yield system
    finally:
        system.close()


@pytest.fixture
def sh(machine: System) -> Session:
    return Session(machine)


def model_of(machine: System) -> SerialConverter:
    found = dict(machine.models())["1-1"]
    assert isinstance(found, SerialConverter)
    return found


# -- stty ------------------------------------------------------------------------------------------


def test_stty_shows_a_fresh_ttyusb_as_linux_does(sh: Session) -> None:
    assert sh("stty -F /dev/ttyUSB0") == (0, "speed 9600 baud; line = 0;\n-brkint -imaxbel\n",
                                          "")
    status, out, _ = sh("stty -a -F /dev/ttyUSB0")
    assert status == 0
    assert out.splitlines()[0] == "speed 9600 baud; rows 0; columns 0; line = 0;"
    assert out.splitlines()[4] == "-parenb -parodd -cmspar cs8 hupcl -cstopb cread clocal " \
                                  "-crtscts"
    assert sh("stty --file=/dev/ttyUSB0 -g")[1] == (
        "500:5:cbd:8a3b:3:1c:7f:15:4:0:1:0:11:13:1a:0:12:f:17:16:0" + ":0" * 15 + "\n")


def test_stty_raw_minus_echo_and_back(sh: Session) -> None:
    assert sh("stty -F /dev/ttyUSB0 raw -echo") == (0, "", "")
    assert sh("stty -F/dev/ttyUSB0") == (0, "speed 9600 baud; line = 0;\nmin = 1; time = 0;\n"
                                            "-brkint -icrnl -imaxbel\n-opost\n"
                                            "-isig -icanon -echo\n", "")
    assert sh("stty -F /dev/ttyUSB0 sane")[0] == 0
    assert sh("stty -F /dev/ttyUSB0") == (0, "speed 9600 baud; line = 0;\n", "")
    # the settings outlive the open, as Linux keeps them for the next one
    assert sh("stty -F /dev/ttyUSB0 -icanon min 0 time 5 intr ^X -clocal")[0] == 0
    out = sh("stty -a -F /dev/ttyUSB0")[1]
    assert "intr = ^X;" in out and "min = 0; time = 5;" in out
    assert "-parenb -parodd -cmspar cs8 hupcl -cstopb cread -clocal -crtscts" in out


def test_a_speed_the_generic_driver_cannot_set_is_reported(sh: Session) -> None:
    # the generic driver has no set_termios: the tty layer keeps the old speed (Linux's
    # tty_termios_copy_hw), and stty notices, as on Linux
    for setting in ("115200", "cs7", "parenb", "crtscts"):
        assert sh(f"stty -F /dev/ttyUSB0 {setting}") == (
            1, "", "stty: /dev/ttyUSB0: unable to perform all requested operations\n")
    assert sh("stty -F /dev/ttyUSB0 speed") == (0, "9600\n", "")
    # the window size is the open tty's: gone with the last close, as on Linux
    assert sh("stty -F /dev/ttyUSB0 rows 24 cols 80 size") == (0, "24 80\n", "")
    assert sh("stty -F /dev/ttyUSB0 size") == (0, "0 0\n", "")


@pytest.mark.parametrize(("line", "message"), [
    ("stty", "stty: 'standard input': Inappropriate ioctl for device"),
    ("stty -F /dev/ttyUSB7", "stty: /dev/ttyUSB7: No such file or directory"),
    ("stty -F /sys/bus/usb/devices/usb1/idVendor",
     "stty: /sys/bus/usb/devices/usb1/idVendor: Inappropriate ioctl for device"),
    ("stty -F /dev/ttyUSB0 bogus", "stty: invalid argument 'bogus'\n"
                                   "Try 'stty --help' for more information."),
    ("stty -F /dev/ttyUSB0 -cs8", "stty: invalid argument '-cs8'\n"
                                  "Try 'stty --help' for more information."),
    ("stty -F /dev/ttyUSB0 intr", "stty: missing argument to 'intr'\n"
                                  "Try 'stty --help' for more information."),
    ("stty -F /dev/ttyUSB0 min 300", "stty: invalid integer argument '300'\n"
                                     "Try 'stty --help' for more information."),
    ("stty -F /dev/ttyUSB0 -a raw", "stty: when specifying an output style, modes may not be "
                                    "set"),
    ("stty -F /dev/ttyUSB0 -a -g", "stty: the options for verbose and stty-readable output "
                                   "styles are\nmutually exclusive"),
    ("stty -F /dev/ttyUSB0 -F /dev/ttyUSB0", "stty: only one device may be specified"),
])
def test_stty_mistakes_are_gnu_styys(sh: Session, line: str, message: str) -> None:
    assert sh(line) == (1, "", message + "\n")


# -- echo, cat, timeout ----------------------------------------------------------------------------


def test_echo_goes_out_through_the_tty_layer(machine: System, sh: Session) -> None:
    port = model_of(machine).serial_port(0)
    assert sh("echo hi > /dev/ttyUSB0") == (0, "", "")
    assert port.received() == b"hi\r\n"              # opost onlcr, as a fresh tty has
    sh("stty -F /dev/ttyUSB0 raw")
    assert sh("echo -n 'raw\nbytes' >> /dev/ttyUSB0") == (0, "", "")
    assert port.received() == b"raw\nbytes"


def test_cat_reads_lines_until_the_timeout(machine: System, sh: Session) -> None:
    port = model_of(machine).serial_port(0)
    sh("stty -F /dev/ttyUSB0 -echo")
    machine.loop.call_later(0.5, port.send, b"first line\nsecond ")
    machine.loop.call_later(1.5, port.send, b"line\rnot a line yet")     # icrnl
    start = machine.time()
    assert sh("timeout 3 cat /dev/ttyUSB0") == (124, "first line\nsecond line\n", "")
    assert machine.time() - start == pytest.approx(3.0)
    # the tty was closed: the driver's module is free
    assert sh("rmmod usbserial") == (0, "", "")


def test_timeout_gives_the_commands_status_when_it_is_done_in_time(sh: Session) -> None:
    assert sh("timeout 2s stty -F /dev/ttyUSB0 speed") == (0, "9600\n", "")
    assert sh("timeout 0 sleep 10")[0] == 0            # 0: no timeout at all
    assert sh("timeout 1m sleep 10")[0] == 0
    assert sh("timeout 0.5 sleep 1000") == (124, "", "")
    assert sh("timeout 1 stty") == (
        1, "", "stty: 'standard input': Inappropriate ioctl for device\n")


@pytest.mark.parametrize(("line", "status", "message"), [
    ("timeout", 125, "timeout: missing operand\nUsage: timeout DURATION COMMAND [ARG...]"),
    ("timeout 5", 125, "timeout: missing operand\nUsage: timeout DURATION COMMAND [ARG...]"),
    ("timeout x cat /dev/ttyUSB0", 125,
     "timeout: invalid time interval 'x'\nUsage: timeout DURATION COMMAND [ARG...]"),
    ("timeout -1 cat", 125,
     "timeout: invalid time interval '-1'\nUsage: timeout DURATION COMMAND [ARG...]"),
    ("timeout 1 nope", 127, "timeout: failed to run command 'nope': No such file or "
                            "directory"),
])
def test_timeout_mistakes(sh: Session, line: str, status: int, message: str) -> None:
    assert sh(line) == (status, "", message + "\n")


def test_ctrl_c_ends_cat_of_a_tty(machine: System, sh: Session) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    port = model_of(machine).serial_port(0)
    sh("stty -F /dev/ttyUSB0 raw -echo")
    machine.loop.call_later(0.2, port.send, b"partial")
    machine.loop.call_later(1.0, interrupt)
    with pytest.raises(KeyboardInterrupt):
        sh("cat /dev/ttyUSB0")
    assert sh.out.getvalue() == "partial"
    assert sh("rmmod usbserial") == (0, "", "")        # closed after all


def test_an_unplug_ends_cat_with_end_of_file(machine: System, sh: Session) -> None:
    port = model_of(machine).serial_port(0)
    sh("stty -F /dev/ttyUSB0 raw -echo")
    machine.loop.call_later(0.2, port.send, b"bye")
    machine.loop.call_later(0.5, machine.unplug, "1-1")
    assert sh("timeout 10 cat /dev/ttyUSB0") == (0, "bye", "")


# -- completion ------------------------------------------------------------------------------------


def test_stty_and_timeout_complete(sh: Session) -> None:
    complete = sh.shell.complete
    assert complete("stty -F /dev/tty") == ["/dev/ttyUSB0"]
    assert complete("stty -F ") == ["/dev/ttyUSB0"]
    assert complete("stty -F /dev/ttyUSB0 -ech") == ["-echo", "-echoctl", "-echoe", "-echok",
                                                      "-echoke", "-echonl", "-echoprt"]
    assert complete("stty -F /dev/ttyUSB0 115") == ["115200"]
    assert complete("stty --f") == []
    assert complete("timeout 1 ca") == ["capture", "cat"]
    assert complete("timeout 1 stty -F /dev/tt") == ["/dev/ttyUSB0"]
    assert complete("timeout ") == []
