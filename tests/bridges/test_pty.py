"""The pty bridge, for real: a machine on real time with an emulated converter on ttyUSB0,
served as a host pty, and pyserial on the slave in a separate process (as a real program
would be: in-process threads would share the interpreter with the machine).  Data both
ways through the tty layer, the usb-serial driver and its URBs; the program's line
settings reaching an FTDI model; backpressure both ways with nothing lost; the link;
unplugging under an open port; close.  Skipped only where os.openpty cannot exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.bridges import describe_bridge
from usbemu.bridges.pty import PtyBridge, PtyLinkExists, unavailable_reason
from usbemu.bridges.pty_link import LinkState
from usbemu.emulated.models.cdc_acm import CdcAcm
from usbemu.emulated.models.ftdi import FT232R, divisor_232bm
from usbemu.emulated.models.serial import SerialConverter
from usbemu.emulated.uart import FlowControl, StopBits
from usbemu.kernel.printk import Level
from usbemu.kernel.termios import Cflag, tcgetattr
from usbemu.system import System

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no pty here: {REASON}")

pytest.importorskip("serial", reason="pyserial is in the dev extra")


def machine(model: object, *modules: tuple[str, dict[str, int]]) -> System:
    system = System(virtual=False)
    system.boot()
    system.add_controller()
    for name, params in modules:
        system.modprobe(name, **params)
    system.plug(model, "1-1")  # type: ignore[arg-type]
    system.settle()
    return system


GENERIC = ("usbserial", {"vendor": 0xFFFF, "product": 0xFFF8})


@pytest.fixture
def loopback() -> Iterator[tuple[System, SerialConverter]]:
    model = SerialConverter(loopback=True)
    system = machine(model, GENERIC)
    try:
        yield system, model
    finally:
        system.close()


class Client:
    """A Python program using pyserial on the pty, in a subprocess: `script` gets the slave
    path (or link) as sys.argv[1]; it talks with the test in lines on stdin/stdout."""

    PRELUDE = "import os, sys, time, hashlib, serial\n"

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, script: str, *args: str) -> Client:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-u", "-c", cls.PRELUDE + textwrap.dedent(script), *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        return cls(proc)

    async def line(self, timeout: float = 20) -> str:
        assert self.proc.stdout is not None
        text = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not text:
            assert self.proc.stderr is not None
            raise AssertionError("the client ended: "
                                 + (await self.proc.stderr.read()).decode())
        return text.decode().strip()

    async def say(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def finish(self, timeout: float = 20) -> str:
        out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        assert self.proc.returncode == 0, err.decode()
        return out.decode()


ECHO_BOTH_WAYS = """
    import threading
    n = int(sys.argv[2])
    s = serial.Serial(sys.argv[1], 115200, timeout=10)
    data = os.urandom(n)
    got = bytearray()
    def reader():
        while len(got) < n:
            chunk = s.read(min(1 << 16, n - len(got)))
            if not chunk:
                break
            got.extend(chunk)
    t = threading.Thread(target=reader)
    t.start()
    start = time.perf_counter()
    s.write(data)
    s.flush()
    t.join()
    took = time.perf_counter() - start
    print(hashlib.sha256(data).hexdigest(), hashlib.sha256(got).hexdigest(), len(got),
          f"{took:.2f}")
"""


def echo_both_ways(system: System, path: str, size: int) -> tuple[str, str, int, float]:
    async def run() -> str:
        client = await Client.start(ECHO_BOTH_WAYS, path, str(size))
        return await client.finish(timeout=120)

    sent, got, count, took = system.run(run()).split()
    return sent, got, int(count), float(took)


# -- data ------------------------------------------------------------------------------------------


def test_the_bridge_is_registered() -> None:
    info = describe_bridge("pty")
    assert info.summary == "An emulated tty as a real pty of the host"
    assert info.unavailable is None and info.origin == "built-in"


@pytest.mark.hang_guard_s(60)
def test_pyserial_sends_and_reads_back_a_megabyte(loopback: tuple[System, SerialConverter],
                                                   tmp_path: Path) -> None:
    system, _ = loopback
    bridge = system.run(PtyBridge.open(system, "/dev/ttyUSB0", tmp_path / "ttyUSB0"))
    sent, got, count, _ = echo_both_ways(system, str(tmp_path / "ttyUSB0"), 1 << 20)
    assert (count, got) == (1 << 20, sent)
    assert bridge.moved == (1 << 20, 1 << 20)
    system.run(bridge.close())
    assert not system.log.lines(Level.ERR)


@pytest.mark.slow            # 7 to 20 s on two busy cores: `make slow`
@pytest.mark.hang_guard_s(120)
def test_pyserial_sends_and_reads_back_ten_megabytes(
        loopback: tuple[System, SerialConverter]) -> None:
    system, _ = loopback
    bridge = system.run(PtyBridge.open(system, "ttyUSB0"))
    sent, got, count, _ = echo_both_ways(system, bridge.slave_path, 10 << 20)
    assert (count, got) == (10 << 20, sent)
    system.run(bridge.close())


@pytest.mark.hang_guard_s(60)
def test_nothing_is_lost_when_the_device_is_slow(tmp_path: Path) -> None:
    """The converter's buffer is small and nobody drains it: the program's writes stop
    (EAGAIN) instead of vanishing; drained later, every byte arrives in order."""
    model = SerialConverter(buffer_size=4096)
    system = machine(model, GENERIC)
    try:
        bridge = system.run(PtyBridge.open(system, "ttyUSB0", high_water=8192))
        script = """
            s = serial.Serial(sys.argv[1], 9600, timeout=1)   # its fd is non-blocking
            data = bytes(range(256)) * 4096          # 1 MiB
            sent = 0
            try:
                while sent < len(data):
                    sent += os.write(s.fd, data[sent:sent + 65536])
            except BlockingIOError:
                pass
            print(sent, flush=True)
            sys.stdin.readline()
            s.write(data[sent:])
            s.flush()
            print("done", flush=True)
            sys.stdin.readline()
        """

        async def run() -> tuple[int, bytes]:
            client = await Client.start(script, bridge.slave_path)
            stalled = int(await client.line())
            received = bytearray(model.serial_port(0).received())
            await client.say("go on")
            done = asyncio.ensure_future(client.line(60))
            while len(received) < 1 << 20:
                await asyncio.sleep(0.001)
                received += model.serial_port(0).received()
            assert await done == "done"
            await client.say("bye")
            await client.finish()
            return stalled, bytes(received)

        stalled, received = system.run(run())
        assert 0 < stalled < 1 << 20
        assert received == bytes(range(256)) * 4096
        system.run(bridge.close())
    finally:
        system.close()


@pytest.mark.hang_guard_s(60)
def test_nothing_is_lost_when_the_program_is_slow(loopback: tuple[System,
                                                                  SerialConverter]) -> None:
    """The device sends a megabyte while the program reads nothing: the bridge stops
    reading the tty (which throttles, and the driver stops reading the device); when the
    program reads, all of it arrives in order."""
    system, model = loopback
    model.serial_port(0).loopback = False
    bridge = system.run(PtyBridge.open(system, "ttyUSB0", high_water=4096))
    payload = os.urandom(1 << 20)
    script = """
        s = serial.Serial(sys.argv[1], 115200, timeout=10)
        print("open", flush=True)
        sys.stdin.readline()
        got = s.read(1 << 20)
        print(len(got), hashlib.sha256(got).hexdigest(), flush=True)
    """

    async def run() -> str:
        client = await Client.start(script, bridge.slave_path)
        assert await client.line() == "open"
        port = model.serial_port(0)
        port.send(payload)
        await asyncio.sleep(0.3)
        assert port.pending_in > 0          # the device holds what nobody has room for
        assert bridge.moved[1] < len(payload)
        await client.say("read")
        return await client.finish(60)

    assert system.run(run()) == f"{1 << 20} {hashlib.sha256(payload).hexdigest()}\n"
    system.run(bridge.close())


# -- line settings ---------------------------------------------------------------------------------


@pytest.fixture
def ftdi() -> Iterator[tuple[System, FT232R]]:
    model = FT232R()
    system = machine(model)       # ftdi_sio is loaded by its alias when the device appears
    try:
        yield system, model
    finally:
        system.close()


SETTINGS_STEPS = """
    s = serial.Serial(sys.argv[1], 115200, timeout=1)
    print("115200", flush=True)
    sys.stdin.readline()
    s.baudrate = 250000
    print("250000", flush=True)
    sys.stdin.readline()
    s.stopbits = serial.STOPBITS_TWO
    s.rtscts = True
    try:
        s.bytesize = serial.SEVENBITS    # a pty keeps CS8: ignored, or refused (EINVAL)
    except Exception:
        pass
    print("7N2", flush=True)
    sys.stdin.readline()
"""


def settings_steps(system: System, model: FT232R, extproc: bool) -> None:
    bridge = system.run(PtyBridge.open(system, "ttyUSB0", extproc=extproc,
                                       poll_interval=0.05))
    port = model.serial_port(0)

    async def until(check: object) -> None:
        for _ in range(1000):
            if check():  # type: ignore[operator]
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"never reached: {port.settings}, divisor {port.divisor:#x}")

    async def run() -> None:
        client = await Client.start(SETTINGS_STEPS, bridge.slave_path)
        assert await client.line() == "115200"
        await until(lambda: port.divisor == divisor_232bm(115200) == 0x1A
                    and port.baud == 115385)        # 3 MHz / 26, as the chip runs
        await client.say("")
        assert await client.line() == "250000"
        await until(lambda: port.divisor == divisor_232bm(250000) == 12
                    and port.baud == 250000)
        await client.say("")
        assert await client.line() == "7N2"
        await until(lambda: port.stop_bits is StopBits.TWO
                    and port.flow is FlowControl.RTS_CTS)
        assert port.data_bits == 8          # a pty keeps CS8 (see the module docstring)
        await client.say("")
        await client.finish()

    system.run(run())
    assert bridge.settings is not None and bridge.settings.describe() == \
        "250000 8N2 crtscts clocal hupcl"
    system.run(bridge.close())


@pytest.mark.hang_guard_s(60)
def test_pyserials_settings_reach_the_ftdi_chip(ftdi: tuple[System, FT232R]) -> None:
    system, model = ftdi
    settings_steps(system, model, extproc=True)


@pytest.mark.hang_guard_s(60)
def test_without_extproc_the_settings_are_still_seen(ftdi: tuple[System, FT232R]) -> None:
    system, model = ftdi
    settings_steps(system, model, extproc=False)


@pytest.mark.hang_guard_s(60)
def test_a_cdc_acm_tty_gets_the_line_coding() -> None:
    model = CdcAcm(loopback=True)
    system = machine(model)       # cdc_acm is loaded by its alias
    try:
        bridge = system.run(PtyBridge.open(system, "/dev/ttyACM0"))
        script = """
            s = serial.Serial(sys.argv[1], 57600, timeout=5)
            s.stopbits = serial.STOPBITS_TWO
            s.write(b"through ttyACM0")
            print(s.read(15).decode(), flush=True)
        """

        async def run() -> str:
            client = await Client.start(script, bridge.slave_path)
            return await client.finish()

        assert system.run(run()) == "through ttyACM0\n"
        port = model.serial_port(0)
        assert (port.baud, port.stop_bits) == (57600, StopBits.TWO)
        system.run(bridge.close())
    finally:
        system.close()


def test_the_emulated_tty_runs_raw_with_the_slaves_line(loopback: tuple[System,
                                                                        SerialConverter]
                                                        ) -> None:
    system, _ = loopback

    async def run() -> tuple[int, int, int]:
        bridge = await PtyBridge.open(system, "ttyUSB0")
        other = await system.aopen("/dev/ttyUSB0", "rb")
        t = await tcgetattr(other)
        await other.close()
        await bridge.close()
        return int(t.c_lflag), int(t.c_oflag), int(t.c_cflag)

    lflag, oflag, cflag = system.run(run())
    assert lflag & 0o2 == 0 and oflag & 1 == 0               # -icanon, -opost
    assert cflag & Cflag.CSIZE == Cflag.CS8 and cflag & Cflag.CREAD


# -- the link --------------------------------------------------------------------------------------


def test_the_link_is_made_replaced_and_removed(loopback: tuple[System, SerialConverter],
                                               tmp_path: Path) -> None:
    system, _ = loopback
    link = tmp_path / "serial"
    link.symlink_to("/nowhere")
    bridge = system.run(PtyBridge.open(system, "ttyUSB0", link))
    assert bridge.link == link and os.readlink(link) == bridge.slave_path
    assert bridge.slave_path.startswith("/dev/")
    system.run(bridge.close())
    assert not os.path.lexists(link) and bridge.closed
    assert bridge.state is LinkState.CLOSED


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_file_or_directory_in_the_way_is_refused(loopback: tuple[System, SerialConverter],
                                                   tmp_path: Path, kind: str) -> None:
    system, _ = loopback
    link = tmp_path / "serial"
    link.mkdir() if kind == "dir" else link.write_text("keep me")
    with pytest.raises(PtyLinkExists, match="not a symbolic link") as info:
        system.run(PtyBridge.open(system, "ttyUSB0", link))
    assert info.value.filename == str(link)
    assert link.is_dir() if kind == "dir" else link.read_text() == "keep me"
    # nothing stays open: the tty can be bridged again
    bridge = system.run(PtyBridge.open(system, "ttyUSB0"))
    system.run(bridge.close())


def test_a_link_someone_else_replaced_is_left_alone(loopback: tuple[System, SerialConverter],
                                                    tmp_path: Path) -> None:
    system, _ = loopback
    link = tmp_path / "serial"
    bridge = system.run(PtyBridge.open(system, "ttyUSB0", link))
    link.unlink()
    link.symlink_to("/dev/null")
    system.run(bridge.close())
    assert os.readlink(link) == "/dev/null"


def test_opening_what_is_not_there_or_not_a_tty_fails(loopback: tuple[System,
                                                                      SerialConverter]
                                                      ) -> None:
    system, _ = loopback
    with pytest.raises(FileNotFoundError):
        system.run(PtyBridge.open(system, "ttyUSB7"))
    with pytest.raises(ValueError, match="poll_interval"):
        system.run(PtyBridge.open(system, "ttyUSB0", poll_interval=0))


# -- the end ---------------------------------------------------------------------------------------


@pytest.mark.hang_guard_s(60)
def test_unplug_ends_the_programs_read_after_it_has_everything(
        loopback: tuple[System, SerialConverter], tmp_path: Path) -> None:
    system, model = loopback
    model.serial_port(0).loopback = False
    link = tmp_path / "ttyUSB0"
    bridge = system.run(PtyBridge.open(system, "ttyUSB0", link))
    script = """
        s = serial.Serial(sys.argv[1], 115200, timeout=None)
        print("open", flush=True)
        sys.stdin.readline()
        got = bytearray()
        try:
            while True:
                got += s.read(1)
        except serial.SerialException as exc:
            print(bytes(got).decode(), "|", type(exc).__name__, flush=True)
        try:
            s.write(b"x")
            print("wrote")
        except (serial.SerialException, OSError) as exc:
            print("write failed", getattr(exc, "errno", None))
    """

    async def run() -> list[str]:
        client = await Client.start(script, str(link))
        assert await client.line() == "open"
        model.serial_port(0).send(b"last words before the unplug")
        while bridge.moved[1] < 28:        # on its way to the program, acknowledged
            await asyncio.sleep(0.005)
        system.unplug("1-1")
        await client.say("read now")
        await bridge.wait_closed()
        return (await client.finish()).splitlines()

    lines = system.run(run())
    assert lines[0] == "last words before the unplug | SerialException"
    assert lines[1].startswith("write failed")
    assert f"pty: ttyUSB0 hung up, closing {bridge.slave_path}" in "\n".join(
        system.log.lines())
    assert not os.path.lexists(link) and bridge.state is LinkState.CLOSED
    assert not system.log.lines(Level.ERR)


def test_unplug_with_no_program_closes_after_a_while(loopback: tuple[System,
                                                                     SerialConverter]
                                                     ) -> None:
    system, model = loopback
    model.serial_port(0).loopback = False
    bridge = system.run(PtyBridge.open(system, "ttyUSB0"))
    model.serial_port(0).send(b"nobody reads this")

    async def run() -> None:
        while bridge.moved[1] < 17:
            await asyncio.sleep(0.005)
        system.unplug("1-1")
        await asyncio.wait_for(bridge.wait_closed(), 10)

    system.run(run())
    assert bridge.closed and bridge.state is LinkState.CLOSED


def test_close_gives_everything_back(loopback: tuple[System, SerialConverter]) -> None:
    system, _ = loopback
    bridge = system.run(PtyBridge.open(system, "ttyUSB0"))
    system.run(bridge.close())
    system.run(bridge.close())                         # idempotent
    assert bridge.closed
    # the emulated tty is closed: the driver's module is free to go
    system.rmmod("usbserial")


# -- flushes ---------------------------------------------------------------------------------------


@pytest.mark.hang_guard_s(60)
def test_a_flush_of_the_programs_output_drops_what_waits_for_the_device() -> None:
    model = SerialConverter(buffer_size=4096)
    system = machine(model, GENERIC)
    try:
        bridge = system.run(PtyBridge.open(system, "ttyUSB0"))
        script = """
            s = serial.Serial(sys.argv[1], 9600, timeout=1)
            sent = 0
            for _ in range(20):                      # until the bridge holds a queue too
                try:
                    while True:
                        sent += os.write(s.fd, b"x" * 4096)
                except BlockingIOError:
                    time.sleep(0.05)
            print(sent, flush=True)
            sys.stdin.readline()
            s.reset_output_buffer()                  # tcflush(TCOFLUSH)
            s.write(b"after the flush")
            print("done", flush=True)
            sys.stdin.readline()
        """

        async def run() -> tuple[int, bytes]:
            client = await Client.start(script, bridge.slave_path)
            sent = int(await client.line())
            assert bridge.queued[0] > 32 * 1024
            await client.say("")
            assert await client.line() == "done"
            received = bytearray()
            for _ in range(2000):
                received += model.serial_port(0).received()
                if received.endswith(b"after the flush"):
                    break
                await asyncio.sleep(0.005)
            await client.say("")
            await client.finish()
            return sent, bytes(received)

        sent, received = system.run(run())
        assert received.endswith(b"x" * 100 + b"after the flush")
        assert len(received) < sent - 32 * 1024      # the bridge's queue went with the flush
        system.run(bridge.close())
    finally:
        system.close()


@pytest.mark.hang_guard_s(60)
def test_a_flush_of_the_programs_input_drops_what_waits_for_it(
        loopback: tuple[System, SerialConverter]) -> None:
    system, model = loopback
    port = model.serial_port(0)
    port.loopback = False
    bridge = system.run(PtyBridge.open(system, "ttyUSB0"))
    script = """
        s = serial.Serial(sys.argv[1], 9600, timeout=5)
        print("open", flush=True)
        sys.stdin.readline()
        s.reset_input_buffer()                       # tcflush(TCIFLUSH)
        print("flushed", flush=True)
        sys.stdin.readline()
        got = bytearray()
        while not got.endswith(b"fresh"):
            got += s.read(max(1, s.in_waiting))
        print(len(got), flush=True)
    """

    async def run() -> int:
        client = await Client.start(script, bridge.slave_path)
        assert await client.line() == "open"
        port.send(b"y" * (200 * 1024))
        for _ in range(2000):                       # the bridge holds a queue for it
            if bridge.queued[1] >= 32 * 1024:
                break
            await asyncio.sleep(0.005)
        await client.say("")
        assert await client.line() == "flushed"
        await asyncio.sleep(0.1)
        port.send(b"fresh")
        await client.say("")
        return int((await client.finish()).strip())

    got = system.run(run())
    assert got < 200 * 1024 + 5 - 32 * 1024          # the bridge's queue went too
    system.run(bridge.close())


# -- the host's termios ----------------------------------------------------------------------------


def test_the_portable_termios_path_reads_what_tcgets2_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hosts without Linux's termios ABI go through termios.tcgetattr with the flags
    translated by name; on Linux both paths must agree on the line settings."""
    import usbemu.bridges.pty as pty_mod
    from usbemu.bridges.pty_link import LineSettings
    from usbemu.kernel.termios import Ktermios

    master, slave = os.openpty()
    try:
        t = pty_mod.read_host_termios(slave)
        LineSettings(int(Cflag.CS8 | Cflag.CSTOPB | Cflag.CRTSCTS | Cflag.CLOCAL
                         | Cflag.CREAD), 57600, 57600).apply(t)
        pty_mod.write_host_termios(slave, t)
        linux = LineSettings.of(pty_mod.read_host_termios(slave))
        monkeypatch.setattr(pty_mod, "_LINUX_ABI", False)
        assert LineSettings.of(pty_mod.read_host_termios(slave)) == linux
        assert linux.describe() == "57600 8N2 crtscts clocal"
        pty_mod.write_host_termios(slave, Ktermios(c_cflag=Cflag.CS8, c_ospeed=115200))
        raw = pty_mod.read_host_termios(slave)
        assert LineSettings.of(raw).ospeed == 115200
        assert int(raw.c_cflag) & Cflag.CSIZE == Cflag.CS8
    finally:
        os.close(slave)
        os.close(master)


def test_a_machine_shut_down_under_an_open_bridge_gives_the_pty_back(tmp_path: Path) -> None:
    system = machine(SerialConverter(loopback=True), GENERIC)
    link = tmp_path / "ttyUSB0"
    bridge = system.run(PtyBridge.open(system, "ttyUSB0", link))
    system.close()
    assert bridge.closed and not os.path.lexists(link)

