"""/etc/modprobe.d from the shell: `echo … > FILE` and `>> FILE` write it, cat and ls
show it, rm removes it, modprobe prints kmod's messages for bad lines, and the article's
advice in its modern form: `blacklist usbhid`, plug a mouse, `insmod usbmouse`."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from usbemu.cli.machine import boot
from usbemu.cli.shell import Shell
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
    system = boot()
    try:
        yield system
    finally:
        system.close()


@pytest.fixture
def sh(machine: System) -> Session:
    return Session(machine)


def bound_driver(machine: System) -> str | None:
    dev = machine.find_device("1-1")
    assert dev is not None
    intf = dev.interface(0)
    assert intf is not None
    return None if intf.driver is None else intf.driver.name


def test_blacklist_usbhid_then_insmod_usbmouse(machine: System, sh: Session) -> None:
    assert sh('echo "blacklist usbhid" > /etc/modprobe.d/usbemu.conf') == (0, "", "")
    assert sh("cat /etc/modprobe.d/usbemu.conf") == (0, "blacklist usbhid\n", "")
    assert sh("plug mouse at 1-1")[0] == 0
    machine.settle()
    assert "usbhid" not in sh("lsmod")[1]
    assert bound_driver(machine) is None
    assert sh("insmod usbmouse") == (0, "", "")
    machine.settle()
    assert bound_driver(machine) == "usbmouse"


def test_append_list_and_remove(machine: System, sh: Session) -> None:
    assert sh("echo 'options usbhid mousepoll=4' > /etc/modprobe.d/a.conf")[0] == 0
    assert sh("echo 'options usbhid kbpoll=2' >> /etc/modprobe.d/a.conf")[0] == 0
    assert sh("ls /etc/modprobe.d") == (0, "a.conf\n", "")
    assert sh("ls -l /etc/modprobe.d/a.conf") == \
        (0, "-rw-r--r-- 1 root root 51 Jan  1  1970 /etc/modprobe.d/a.conf\n", "")
    assert sh("modprobe usbhid mousepoll=8") == (0, "", "")
    assert sh("cat /sys/module/usbhid/parameters/mousepoll /sys/module/usbhid/parameters/"
              "kbpoll") == (0, "8\n2\n", "")
    assert sh("rm /etc/modprobe.d/a.conf") == (0, "", "")
    assert sh("ls /etc/modprobe.d") == (0, "", "")
    assert sh("rm /etc/modprobe.d/a.conf") == \
        (1, "", "rm: cannot remove '/etc/modprobe.d/a.conf': No such file or directory\n")
    assert sh("rm -f /etc/modprobe.d/a.conf") == (0, "", "")
    assert sh("rm /proc/modules") == \
        (1, "", "rm: cannot remove '/proc/modules': Operation not permitted\n")


def test_files_cannot_be_created_outside_modprobe_d(sh: Session) -> None:
    assert sh("echo x > /proc/newfile") == \
        (1, "", "usbemu: /proc/newfile: No such file or directory\n")
    assert "newfile" not in sh("ls /proc")[1]


def test_modprobe_prints_kmods_messages_for_bad_lines(sh: Session) -> None:
    assert sh("echo 'blacklist' > /etc/modprobe.d/bad.conf")[0] == 0
    assert sh("modprobe usbhid") == (0, "", "modprobe: ERROR: /etc/modprobe.d/bad.conf line 1: "
                                            "ignoring bad line starting with 'blacklist'\n")
