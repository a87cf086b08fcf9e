"""The tty core (usbemu.kernel.tty_io, tty_ioctl): driver and device registration (char
regions, /dev and /sys/class/tty nodes, /proc/tty/drivers and /proc/tty/driver in Linux's
format), opens and closes through the device node, TIOCEXCL, settings ioctls and the
application helpers, modem lines and TIOCMIWAIT, TIOCGICOUNT, breaks on machine time,
window size and serial info, hangups (blocked readers, writers and pollers, the hung-up
file operations, release), device removal, and drivers that raise.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from usbemu_tests_tty_loopback import Loopback  # type: ignore[import-not-found]

from usbemu.errors import Errno
from usbemu.kernel import termios as T
from usbemu.kernel.fs import O_NONBLOCK, O_RDWR, mkdev
from usbemu.kernel.printk import Level
from usbemu.kernel.syscalls import AsyncFile
from usbemu.kernel.termios import (
    TCSADRAIN,
    TCSAFLUSH,
    TCSANOW,
    Cflag,
    Ktermios,
    Lflag,
    SerialIcounter,
    SerialStruct,
    Winsize,
    cfmakeraw,
    cfsetspeed,
    tcdrain,
    tcgetattr,
    tcsendbreak,
    tcsetattr,
)
from usbemu.kernel.tty import (
    PtyType,
    TtyDriver,
    TtyDriverFlag,
    TtyDriverType,
    TtyOperations,
    TtyStruct,
)
from usbemu.kernel.tty_io import (
    tty_alloc_driver,
    tty_core_of,
    tty_driver_kref_put,
    tty_register_device,
    tty_register_driver,
    tty_unregister_device,
    tty_unregister_driver,
    tty_vhangup,
)
from usbemu.kernel.tty_port import PortState, tty_port_tty_vhangup
from usbemu.kernel.wait import Poll
from usbemu.system import System

DEV = "/dev/ttyLP0"


def tty_of(f: AsyncFile) -> TtyStruct:
    tty: TtyStruct = f.file.private_data.tty
    return tty


async def ioctl_int(f: AsyncFile, cmd: int, value: int = 0) -> int:
    buf = bytearray(value.to_bytes(4, "little", signed=True))
    await f.ioctl(cmd, buf)
    return int.from_bytes(buf, "little", signed=True)


def run(system: System, scenario: Any) -> Any:
    return system.run(scenario())


async def errno_of(call: Any) -> int:
    try:
        await call
    except OSError as exc:
        return exc.errno or 0
    return 0


# -- registration ---------------------------------------------------------------------------------


def test_registration_makes_region_nodes_sysfs_and_proc(tty_machine: System,
                                                         loopback: Loopback) -> None:
    vfs = tty_machine.vfs
    region = next(r for r in tty_machine.chrdev.regions() if r.name == "ttyLP")
    assert (region.major, region.baseminor, region.minorct) == (254, 0, 2)
    assert vfs.stat("/dev/ttyLP1").rdev == (254, 1)
    assert vfs.read_text("/sys/class/tty/ttyLP0/dev") == "254:0\n"
    assert vfs.readlink("/sys/class/tty/ttyLP0") == "../../devices/virtual/tty/ttyLP0"
    assert sorted(vfs.listdir("/sys/class/tty/ttyLP0")) == ["dev", "subsystem", "uevent"]
    assert vfs.read_text("/sys/class/tty/ttyLP0/uevent") == \
        "MAJOR=254\nMINOR=0\nDEVNAME=ttyLP0\n"
    assert vfs.read_text("/proc/tty/drivers") == \
        "loopback             /dev/ttyLP    254 0-1 serial\n"
    assert vfs.read_text("/proc/tty/driver/loopback") == "loopinfo:1.0\n0: tx:0 rx:0\n" \
                                                         "1: tx:0 rx:0\n"
    assert vfs.read_text("/proc/tty/ldiscs") == "n_tty       0\n"


def test_proc_tty_drivers_format_newest_first(tty_machine: System) -> None:
    usbserial = TtyDriver("usbserial", "ttyUSB", num=512, major=188, owner=None,
                          flags=TtyDriverFlag.DYNAMIC_DEV)
    single = TtyDriver("", "ttyX", num=1, major=200, minor_start=7, owner=None,
                       type=TtyDriverType.CONSOLE)
    wide = TtyDriver("pty_slave", "pts", num=(1 << 20) + 2, major=136, owner=None,
                     type=TtyDriverType.PTY, subtype=PtyType.SLAVE, flags=TtyDriverFlag.DYNAMIC_DEV)
    for driver in (usbserial, single, wide):
        tty_machine.run(tty_register_driver(driver))
    assert tty_machine.vfs.read_text("/proc/tty/drivers") == (
        "pty_slave            /dev/pts      136 0-1048575 pty:slave\n"
        "pty_slave            /dev/pts      137 0-1 pty:slave\n"
        "unknown              /dev/ttyX     200       7 console\n"
        "usbserial            /dev/ttyUSB   188 0-511 serial\n")
    assert tty_machine.vfs.listdir("/proc/tty/driver") == []      # no proc_show
    tty_machine.run(tty_unregister_driver(single))
    assert "ttyX" not in tty_machine.vfs.read_text("/proc/tty/drivers")
    assert not any(r.name == "ttyX" for r in tty_machine.chrdev.regions())


def test_registering_taken_numbers_fails_and_holds_nothing(tty_machine: System) -> None:
    tty_machine.chrdev.register_chrdev_region(mkdev(188, 10), 1, "squatter")
    driver = TtyDriver("usbserial", "ttyUSB", num=512, major=188, owner=None)
    with pytest.raises(OSError) as info:
        tty_machine.run(tty_register_driver(driver))
    assert info.value.errno == Errno.EBUSY
    assert tty_machine.vfs.read_text("/proc/tty/drivers") == ""
    assert [r.name for r in tty_machine.chrdev.regions() if r.major == 188] == ["squatter"]


def test_a_driver_without_dynamic_dev_gets_every_device_and_loses_them_on_last_put(
        tty_machine: System) -> None:
    driver = tty_alloc_driver(3, owner=None)
    driver.driver_name, driver.name, driver.major = "fixed", "ttyF", 230
    driver.ops = TtyOperations(proc_show=lambda d: "fixedinfo\n")
    tty_machine.run(tty_register_driver(driver))
    assert [n for n in tty_machine.vfs.listdir("/dev") if n.startswith("ttyF")] == \
        ["ttyF0", "ttyF1", "ttyF2"]
    assert tty_machine.vfs.read_text("/proc/tty/driver/fixed") == "fixedinfo\n"
    tty_machine.run(tty_unregister_driver(driver))
    assert tty_machine.vfs.exists("/proc/tty/driver/fixed")     # until the last reference
    tty_driver_kref_put(driver)
    tty_machine.settle()
    assert not tty_machine.vfs.exists("/proc/tty/driver/fixed")
    assert not any(n.startswith("ttyF") for n in tty_machine.vfs.listdir("/dev"))
    with pytest.raises(ValueError, match="lines"):
        tty_alloc_driver(0)


def test_register_device_checks_the_line_and_takes_a_parent(tty_machine: System,
                                                            loopback: Loopback) -> None:
    with pytest.raises(OSError) as info:
        tty_machine.run(tty_register_device(loopback.driver, 5, None))
    assert info.value.errno == Errno.EINVAL
    assert tty_machine.log.lines(Level.ERR)[-1] == \
        "ttyLP: Attempt to register invalid tty line number (5)"
    tty_machine.run(tty_unregister_device(loopback.driver, 1))
    assert not tty_machine.vfs.exists("/dev/ttyLP1")
    assert not tty_machine.vfs.exists("/sys/class/tty/ttyLP1")


def test_tty_core_of_outside_a_machine() -> None:
    with pytest.raises(RuntimeError, match="no usbemu machine"):
        tty_core_of()


# -- open and close ------------------------------------------------------------------------------


def test_opens_are_counted_and_the_last_close_releases(tty_machine: System,
                                                       loopback: Loopback) -> None:
    port = loopback.lines[0].port

    async def scenario() -> list[Any]:
        seen: list[Any] = [port.state]
        a = await tty_machine.aopen(DEV, "rb+")
        b = await tty_machine.aopen(DEV, "rb")
        tty = tty_of(a)
        seen += [port.state, tty.count, port.count, tty is tty_of(b), port.tty is tty]
        await a.close()
        seen += [port.state, tty.count, port.count]
        await b.close()
        seen += [port.state, tty.count, port.tty, loopback.driver.ttys[0]]
        await asyncio.sleep(0)
        return seen

    assert run(tty_machine, scenario) == [PortState.CLOSED, PortState.ACTIVE, 2, 2, True,
                                          True, PortState.ACTIVE, 1, 1, PortState.CLOSED, 0,
                                          None, None]
    assert loopback.calls == ["install 0", "open 0", "activate 0", "dtr_rts 0 1", "open 0",
                              "dtr_rts 0 1", "close 0", "close 0", "dtr_rts 0 0",
                              "shutdown 0", "tty shutdown 0", "cleanup 0"]


def test_open_errors(tty_machine: System, loopback: Loopback) -> None:
    loopback.lines[1].activate_result = -Errno.EIO

    async def scenario() -> list[int]:
        codes = [await errno_of(tty_machine.aopen("/dev/ttyLP1", "rb+"))]
        codes.append(int(loopback.lines[1].port.state is PortState.CLOSED))
        await tty_unregister_driver(loopback.driver)     # the node stays, the driver goes
        codes.append(await errno_of(tty_machine.aopen(DEV, "rb+")))
        return codes

    assert run(tty_machine, scenario) == [Errno.EIO, 1, Errno.ENODEV]


def test_tiocexcl_keeps_further_opens_out_unless_privileged(tty_machine: System,
                                                            loopback: Loopback) -> None:
    async def scenario() -> list[int]:
        a = await tty_machine.aopen(DEV, "rb+")
        await a.ioctl(T.TIOCEXCL)
        codes = [await ioctl_int(a, T.TIOCGEXCL)]
        codes.append(await errno_of(tty_machine.aopen(DEV, "rb")))
        tty_machine.tty.privileged = True
        b = await tty_machine.aopen(DEV, "rb")
        tty_machine.tty.privileged = False
        await a.ioctl(T.TIOCNXCL)
        c = await tty_machine.aopen(DEV, "rb")
        codes.append(tty_of(a).count)
        for f in (a, b, c):
            await f.close()
        return codes

    assert run(tty_machine, scenario) == [1, Errno.EBUSY, 3]


def test_open_waits_for_carrier_unless_clocal_or_nonblock(tty_machine: System,
                                                          loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.set_modem(cd=False)

    async def scenario() -> list[Any]:
        loop = asyncio.get_running_loop()
        seen: list[Any] = []
        opener = asyncio.ensure_future(tty_machine.aopen(DEV, "rb+"))
        await asyncio.sleep(1)
        seen += [opener.done(), line.port.state, line.port.blocked_open,
                 bool(line.mctrl & T.TIOCM_DTR)]          # DTR raised while it waits
        nb = await tty_machine.aopen(DEV, O_RDWR | O_NONBLOCK)   # does not wait
        loop.call_later(2, lambda: line.set_modem(cd=True))
        f = await opener
        seen += [loop.time(), line.port.state, line.port.count, line.port.blocked_open]
        await settings_clocal(f)
        await f.close()
        await nb.close()
        line.set_modem(cd=False)
        f = await tty_machine.aopen(DEV, "rb+")           # CLOCAL was kept for the line
        seen.append(line.port.state)
        await f.close()
        return seen

    assert run(tty_machine, scenario) == [False, PortState.INITIALIZED, 1, True, 3.0,
                                          PortState.ACTIVE, 2, 0, PortState.ACTIVE]


async def settings_clocal(f: AsyncFile) -> None:
    t = await tcgetattr(f)
    t.c_cflag |= Cflag.CLOCAL
    await tcsetattr(f, TCSANOW, t)


def test_settings_are_kept_between_opens_unless_reset_termios(tty_machine: System) -> None:
    kept, reset = Loopback(1), Loopback(1, flags=TtyDriverFlag.RESET_TERMIOS)
    reset.driver.name = "ttyRS"
    tty_machine.run(kept.register())
    tty_machine.run(reset.register())

    async def speed_after_reopen(path: str) -> int:
        f = await tty_machine.aopen(path, "rb+")
        t = await tcgetattr(f)
        cfsetspeed(t, 115200)
        await tcsetattr(f, TCSANOW, t)
        await f.close()
        f = await tty_machine.aopen(path, "rb+")
        speed = (await tcgetattr(f)).c_ospeed
        await f.close()
        return speed

    assert tty_machine.run(speed_after_reopen("/dev/ttyLP0")) == 115200
    assert tty_machine.run(speed_after_reopen("/dev/ttyRS0")) == 38400


# -- settings -------------------------------------------------------------------------------------


def test_tcsets_calls_set_termios_with_the_old_settings(tty_machine: System,
                                                        loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        t = await tcgetattr(f)
        cfmakeraw(t)
        cfsetspeed(t, 57600)
        t.c_cflag |= Cflag.CMSPAR
        buf = bytearray(t.to_termios())
        await f.ioctl(T.TCSETS, buf)                 # the old ABI: speed from the B-code
        got = Ktermios.from_termios(await get(f, T.TCGETS, 36), None)
        got2 = await tcgetattr(f)
        cfsetspeed(t, 250000)
        await tcsetattr(f, TCSANOW, t)
        got3 = await tcgetattr(f)
        await f.close()
        return [got.c_lflag, got2.c_ospeed, got3.c_ospeed, got3.c_cflag & Cflag.CBAUD,
                got2.c_cflag & Cflag.CMSPAR]

    raw_lflag = Lflag.ECHOE | Lflag.ECHOK | Lflag.ECHOCTL | Lflag.ECHOKE
    assert run(tty_machine, scenario) == [raw_lflag, 57600, 250000, Cflag.BOTHER, 0]
    (old, new), *_ = line.termios_changes
    assert old.c_lflag == T.TTY_STD_TERMIOS.c_lflag and old.c_ospeed == 38400
    assert new.c_ospeed == 57600 and new.c_lflag == raw_lflag


async def get(f: AsyncFile, cmd: int, size: int) -> bytes:
    buf = bytearray(size)
    await f.ioctl(cmd, buf)
    return bytes(buf)


def test_tcsetsw_waits_for_the_output_and_tcsetsf_flushes_input(tty_machine: System,
                                                                loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        t = await tcgetattr(f)
        line.stopped = True
        await f.write(b"pending")
        setter = asyncio.ensure_future(tcsetattr(f, TCSADRAIN, t))
        await asyncio.sleep(1)
        seen: list[Any] = [setter.done()]
        line.start()                                  # the output drains: it goes on
        await setter
        seen.append(bytes(line.sent))
        line.receive(b"unread\n")
        await asyncio.sleep(0)
        await tcsetattr(f, TCSAFLUSH, t)
        seen.append(await ioctl_int(f, T.FIONREAD))
        await tcdrain(f)
        await f.close()
        return seen

    assert run(tty_machine, scenario) == [False, b"pending", 0]


def test_locked_termios_and_softcar(tty_machine: System, loopback: Loopback) -> None:
    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        lock = Ktermios(c_lflag=Lflag.ICANON)
        seen: list[Any] = [await errno_of(f.ioctl(T.TIOCSLCKTRMIOS,
                                                  bytearray(lock.to_termios())))]
        tty_machine.tty.privileged = True
        await f.ioctl(T.TIOCSLCKTRMIOS, bytearray(lock.to_termios()))
        t = await tcgetattr(f)
        cfmakeraw(t)
        await tcsetattr(f, TCSANOW, t)
        seen.append(bool((await tcgetattr(f)).c_lflag & Lflag.ICANON))   # locked on
        seen.append(Ktermios.from_termios(await get(f, T.TIOCGLCKTRMIOS, 36)).c_lflag)
        await f.ioctl(T.TIOCSSOFTCAR, bytearray((1).to_bytes(4, "little")))
        seen.append(await ioctl_int(f, T.TIOCGSOFTCAR))
        seen.append(await errno_of(f.ioctl(T.TCGETS, bytearray(10))))    # a short buffer
        seen.append(await errno_of(f.ioctl(0x54FF)))
        await f.close()
        return seen

    assert run(tty_machine, scenario) == [Errno.EPERM, True, Lflag.ICANON, 1, Errno.EFAULT,
                                          Errno.ENOTTY]


# -- modem lines, counters, breaks ---------------------------------------------------------------


def test_modem_lines(tty_machine: System, loopback: Loopback) -> None:
    async def scenario() -> list[int]:
        f = await tty_machine.aopen(DEV, "rb+")
        seen = [await ioctl_int(f, T.TIOCMGET)]
        await ioctl_int(f, T.TIOCMBIC, T.TIOCM_DTR | T.TIOCM_CTS)   # CTS is not settable
        seen.append(await ioctl_int(f, T.TIOCMGET))
        await ioctl_int(f, T.TIOCMBIS, T.TIOCM_LOOP | T.TIOCM_DTR)
        seen.append(await ioctl_int(f, T.TIOCMGET))
        await ioctl_int(f, T.TIOCMSET, T.TIOCM_RTS)
        seen.append(await ioctl_int(f, T.TIOCMGET))
        await f.close()
        return seen

    lines = T.TIOCM_CAR | T.TIOCM_DSR | T.TIOCM_CTS
    assert run(tty_machine, scenario) == [
        lines | T.TIOCM_DTR | T.TIOCM_RTS, lines | T.TIOCM_RTS,
        lines | T.TIOCM_RTS | T.TIOCM_DTR | T.TIOCM_LOOP, lines | T.TIOCM_RTS]


def test_tiocmiwait_sleeps_until_a_line_changes_and_tiocgicount_counts(
        tty_machine: System, loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        loop = asyncio.get_running_loop()
        loop.call_later(1, lambda: line.set_modem(ri=True))      # not waited for
        loop.call_later(2, lambda: line.set_modem(cts=False))
        await f.ioctl(T.TIOCMIWAIT, T.TIOCM_CTS | T.TIOCM_CAR)
        seen: list[Any] = [loop.time()]
        line.receive(b"abc")
        await f.write(b"xy")
        await asyncio.sleep(0.01)
        seen.append(SerialIcounter.unpack(await get(f, T.TIOCGICOUNT, 80)))
        await f.close()
        return seen

    when, icount = run(tty_machine, scenario)
    assert when == 2.0
    assert (icount.cts, icount.rng, icount.dsr, icount.rx, icount.tx) == (1, 1, 0, 3, 5)


def test_breaks_last_250_ms_or_the_tenths_asked_for(tty_machine: System,
                                                   loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def scenario() -> float:
        f = await tty_machine.aopen(DEV, "rb+")
        start = asyncio.get_running_loop().time()
        await f.ioctl(T.TCSBRK, 0)
        await tcsendbreak(f, 3)
        await f.ioctl(T.TIOCSBRK)
        await f.ioctl(T.TIOCCBRK)
        await f.ioctl(T.TCSBRK, 1)                          # tcdrain: no break
        await f.close()
        return start

    start = run(tty_machine, scenario)
    assert [(state, round(t - start, 6)) for state, t in line.breaks] == \
        [(-1, 0.0), (0, 0.25), (-1, 0.25), (0, 0.55), (-1, 0.55), (0, 0.55)]


def test_hardware_break_gets_the_duration(tty_machine: System) -> None:
    lb = Loopback(1, flags=TtyDriverFlag.HARDWARE_BREAK)
    tty_machine.run(lb.register())

    async def scenario() -> None:
        f = await tty_machine.aopen(DEV, "rb+")
        await tcsendbreak(f, 0)
        await f.close()

    run(tty_machine, scenario)
    assert [state for state, _ in lb.lines[0].breaks] == [250]


def test_window_size_and_serial_info(tty_machine: System, loopback: Loopback) -> None:
    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        await f.ioctl(T.TIOCSWINSZ, bytearray(Winsize(24, 80).pack()))
        seen: list[Any] = [Winsize.unpack(await get(f, T.TIOCGWINSZ, 8))]
        ss = SerialStruct.unpack(await get(f, T.TIOCGSERIAL, 72))
        seen.append((ss.line, ss.closing_wait))
        ss.closing_wait = 500
        await f.ioctl(T.TIOCSSERIAL, bytearray(ss.pack()))
        seen.append(loopback.lines[0].port.closing_wait)
        seen.append(await ioctl_int(f, T.TIOCGDEV))
        await f.close()
        return seen

    assert run(tty_machine, scenario) == [Winsize(24, 80), (0, 3000), 5000, 254 << 8]


# -- hangup ------------------------------------------------------------------------------------


def test_hangup_wakes_readers_writers_and_pollers(tty_machine: System,
                                                  loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        g = await tty_machine.aopen(DEV, "rb+")
        t = await tcgetattr(f)
        cfmakeraw(t)
        await tcsetattr(f, TCSANOW, t)
        line.room = 0
        reader = asyncio.ensure_future(f.read(10))
        writer = asyncio.ensure_future(g.write(b"blocked"))
        poller = asyncio.ensure_future(g.poll(Poll.IN))
        await asyncio.sleep(1)
        seen: list[Any] = [reader.done(), writer.done(), poller.done()]
        line.set_modem(cd=False)                      # carrier lost, no CLOCAL: hangup
        await tty_machine.asettle()
        seen += [await reader, await errno_of(writer), await poller]
        seen += [await f.read(10), await errno_of(f.write(b"x")),
                 await errno_of(f.ioctl(T.TIOCMGET, bytearray(4))),
                 await errno_of(f.ioctl(T.TIOCSPGRP, bytearray(4))),
                 await f.poll(timeout_ms=0), line.port.state, tty_of(f).hung_up]
        await f.close()
        await g.close()
        return seen

    everything = Poll.IN | Poll.OUT | Poll.ERR | Poll.HUP
    assert run(tty_machine, scenario) == [
        False, False, False, b"", Errno.EIO, Poll.IN | Poll.ERR | Poll.HUP,
        b"", Errno.EIO, Errno.EIO, Errno.ENOTTY, everything, PortState.HUNG_UP, True]
    assert "hangup 0" in loopback.calls and loopback.calls[-1] == "cleanup 0"
    assert tty_machine.log.lines(Level.WARNING) == []


def test_a_new_open_after_a_hangup_works(tty_machine: System, loopback: Loopback) -> None:
    async def scenario() -> list[Any]:
        old = await tty_machine.aopen(DEV, "rb+")
        tty_machine.tty.privileged = True
        await old.ioctl(T.TIOCVHANGUP)
        new = await tty_machine.aopen(DEV, "rb+")
        loopback.lines[0].receive(b"fresh\n")
        seen = [await new.read(10), await old.read(10), loopback.lines[0].port.state]
        await old.close()
        seen.append(tty_of(new).count)
        await new.close()
        return seen

    assert run(tty_machine, scenario) == [b"fresh\n", b"", PortState.ACTIVE, 1]


def test_tiocvhangup_needs_privilege(tty_machine: System, loopback: Loopback) -> None:
    async def scenario() -> int:
        f = await tty_machine.aopen(DEV, "rb+")
        code = await errno_of(f.ioctl(T.TIOCVHANGUP))
        await f.close()
        return code

    assert run(tty_machine, scenario) == Errno.EPERM


def test_a_hangup_while_an_open_waits_for_carrier_starts_it_over(tty_machine: System,
                                                                 loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.set_modem(cd=False)

    async def scenario() -> list[Any]:
        opener = asyncio.ensure_future(tty_machine.aopen(DEV, "rb+"))
        await asyncio.sleep(1)
        port_tty = line.port.itty
        await tty_vhangup(port_tty)
        await asyncio.sleep(1)
        seen: list[Any] = [opener.done(), line.port.state]
        line.set_modem(cd=True)
        f = await opener
        seen += [line.port.state, tty_of(f).count]
        await f.close()
        return seen

    assert run(tty_machine, scenario) == [False, PortState.INITIALIZED, PortState.ACTIVE, 1]
    assert loopback.calls.count("activate 0") == 2


def test_removing_the_device_leaves_open_files_to_the_hangup(tty_machine: System,
                                                             loopback: Loopback) -> None:
    line = loopback.lines[0]

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        await tty_unregister_device(loopback.driver, 0)
        line.receive(b"still here\n")
        seen: list[Any] = [tty_machine.vfs.exists(DEV), await f.read(20)]
        await tty_vhangup(tty_of(f))
        seen.append(await errno_of(f.write(b"x")))
        await f.close()
        return seen

    assert run(tty_machine, scenario) == [False, b"still here\n", Errno.EIO]


# -- drivers that raise ----------------------------------------------------------------------


def test_a_driver_that_raises_is_contained(tty_machine: System) -> None:
    def bad_write(tty: TtyStruct, data: memoryview) -> int:
        raise RuntimeError("write went wrong")

    async def bad_install(driver: TtyDriver, tty: TtyStruct) -> int:
        if tty.index == 1:
            raise KeyError("no such line")
        return await lb.install(driver, tty)

    lb = Loopback(2, ops={"write": bad_write, "install": bad_install})
    tty_machine.run(lb.register())

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        seen: list[Any] = [await errno_of(f.write(b"boom"))]
        seen.append(await errno_of(tty_machine.aopen("/dev/ttyLP1", "rb+")))
        lb.lines[0].receive(b"alive\n")
        seen.append(await f.read(10))
        await f.close()
        seen.append(lb.driver.ttys)
        return seen

    assert run(tty_machine, scenario) == [Errno.EIO, Errno.EIO, b"alive\n", [None, None]]
    oopses = [line for line in tty_machine.log.lines(Level.ALERT) if "BUG" in line]
    assert oopses[0] == "BUG: exception in write of /dev/ttyLP0 by tty_write: " \
                        "RuntimeError: write went wrong"
    assert "install of ttyLP1 by tty driver loopback: KeyError" in oopses[1]
    assert oopses[2].startswith("BUG: exception in flush_to_ldisc")   # the echo's write


def test_an_open_without_an_open_method_is_enodev(tty_machine: System) -> None:
    lb = Loopback(1, ops={"open": None})
    tty_machine.run(lb.register())
    assert run(tty_machine, lambda: errno_of(tty_machine.aopen(DEV, "rb+"))) == Errno.ENODEV
    assert lb.driver.ttys == [None]


def test_open_files_hold_the_drivers_module(tty_machine: System) -> None:
    class Owner:
        refs = 0

        def try_module_get(self) -> bool:
            self.refs += 1
            return True

        def module_put(self) -> None:
            self.refs -= 1

    lb = Loopback(1)
    owner = Owner()
    lb.driver.owner = owner
    tty_machine.run(lb.register())

    async def scenario() -> list[int]:
        f = await tty_machine.aopen(DEV, "rb+")
        held = [owner.refs]
        await f.close()
        await asyncio.sleep(0)
        held.append(owner.refs)
        return held

    assert run(tty_machine, scenario) == [2, 0]      # the cdev's and the tty's


def test_applications_outside_the_loop_use_the_node_like_a_file(tty_machine: System,
                                                               loopback: Loopback) -> None:
    line = loopback.lines[0]
    line.loop_back = False
    with tty_machine.open(DEV, "rb+") as f:
        assert f.write(b"AT\n") == 3
        tty_machine.sleep(10)
        async def device_answers() -> None:
            line.receive(b"OK\r")
        tty_machine.run(device_answers())
        assert f.read(100) == b"OK\n"
        assert f.poll(Poll.IN, timeout_ms=0) == Poll(0)
        with pytest.raises(OSError) as info:
            f.seek(0)
        assert info.value.errno == Errno.ESPIPE
    assert bytes(line.sent) == b"AT\r\nOK\r\n"          # the output, then the echo


def test_the_termio_ioctls(tty_machine: System, loopback: Loopback) -> None:
    async def scenario() -> tuple[bytes, Ktermios]:
        f = await tty_machine.aopen(DEV, "rb+")
        termio = await get(f, T.TCGETA, 18)
        t = await tcgetattr(f)
        t.c_lflag &= ~Lflag.ECHO
        t.c_cc[T.VINTR] = 0x7E
        await f.ioctl(T.TCSETAW, bytearray(t.to_termio()))
        after = await tcgetattr(f)
        await f.close()
        return termio, after

    termio, after = run(tty_machine, scenario)
    assert termio == T.TTY_STD_TERMIOS.to_termio()
    assert not after.c_lflag & Lflag.ECHO and after.c_cc[T.VINTR] == 0x7E
    assert after.c_ospeed == 38400


def test_tty_port_tty_vhangup_hangs_up_the_open_tty(tty_machine: System,
                                                    loopback: Loopback) -> None:

    async def scenario() -> list[Any]:
        f = await tty_machine.aopen(DEV, "rb+")
        await tty_port_tty_vhangup(loopback.lines[0].port)
        await tty_port_tty_vhangup(loopback.lines[1].port)      # nothing open: nothing
        seen = [await f.read(10), loopback.lines[0].port.state]
        await f.close()
        return seen

    assert run(tty_machine, scenario) == [b"", PortState.HUNG_UP]
