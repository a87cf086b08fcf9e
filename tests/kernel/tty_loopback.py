"""A software tty driver for the tty layer's tests: "ttyLP<n>" lines whose output goes
through a 4096-byte transmit FIFO and a "wire" back into the line's own flip buffer
(loopback) or to the far end (`sent`), with a modem-line model (DTR/RTS set by the host,
CTS/DSR/CD/RI by the test), configurable write room and activate result, TIOCMIWAIT on
delta_msr_wait, and a log of the calls it got.

Loaded by tests/kernel/conftest.py as module `usbemu_tests_tty_loopback`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from usbemu.errors import Errno
from usbemu.kernel.fs import ENOIOCTLCMD, File
from usbemu.kernel.termios import (
    TIOCM_CAR,
    TIOCM_CTS,
    TIOCM_DSR,
    TIOCM_DTR,
    TIOCM_RNG,
    TIOCM_RTS,
    TIOCMIWAIT,
    Cflag,
    Ktermios,
    SerialIcounter,
    SerialStruct,
)
from usbemu.kernel.tty import TtyDriver, TtyDriverFlag, TtyOperations, TtyStruct
from usbemu.kernel.tty_buffer import (
    TTY_NORMAL,
    tty_flip_buffer_push,
    tty_insert_flip_string_fixed_flag,
)
from usbemu.kernel.tty_io import tty_register_driver, tty_unregister_driver
from usbemu.kernel.tty_port import (
    TtyPort,
    TtyPortOperations,
    tty_port_close,
    tty_port_hangup,
    tty_port_install,
    tty_port_open,
    tty_port_register_device,
    tty_port_tty_hangup,
    tty_port_tty_wakeup,
)

FIFO_SIZE = 4096


class Line:
    """One line: its TtyPort, transmit FIFO, wire and modem lines."""

    def __init__(self, lb: Loopback, index: int) -> None:
        self.lb = lb
        self.index = index
        self.port = TtyPort(TtyPortOperations(
            carrier_raised=self.carrier_raised, dtr_rts=self.dtr_rts,
            activate=self.activate, shutdown=self.port_shutdown))
        self.port.driver_data = self
        self.loop_back = True
        self.sent = bytearray()
        self.fifo = bytearray()
        #: The bytes the driver still takes (None: what the FIFO has room for).
        self.room: int | None = None
        self.chunk = 512
        self.pump_delay: float | None = None
        self.mctrl = TIOCM_CAR | TIOCM_DSR | TIOCM_CTS
        self.throttled = self.stopped = False
        self.activate_result = 0
        self.breaks: list[tuple[int, float]] = []
        self.termios_changes: list[tuple[Ktermios, Ktermios]] = []
        self._pump_handle: asyncio.Handle | None = None

    # -- the device side -------------------------------------------------------------------

    def receive(self, data: bytes, flag: int = TTY_NORMAL) -> int:
        """Bytes arriving on the line."""
        n = tty_insert_flip_string_fixed_flag(self.port, data, flag)
        self.port.icount.rx += n
        tty_flip_buffer_push(self.port)
        return n

    def set_modem(self, **lines: bool) -> None:
        """The device changes CTS, DSR, CD (cd) or RI (ri): counted, delta_msr_wait woken;
        carrier up wakes open_wait, carrier down hangs up unless CLOCAL."""
        bits = {"cts": (TIOCM_CTS, "cts"), "dsr": (TIOCM_DSR, "dsr"),
                "cd": (TIOCM_CAR, "dcd"), "ri": (TIOCM_RNG, "rng")}
        for name, on in lines.items():
            bit, counter = bits[name]
            if bool(self.mctrl & bit) == on:
                continue
            self.mctrl = self.mctrl | bit if on else self.mctrl & ~bit
            setattr(self.port.icount, counter, getattr(self.port.icount, counter) + 1)
            if name == "cd":
                if on:
                    self.port.open_wait.wake_up()
                else:
                    tty_port_tty_hangup(self.port, True)
        self.port.delta_msr_wait.wake_up()

    def _kick(self) -> None:
        if (self._pump_handle is not None or not self.fifo or self.throttled
                or self.stopped):
            return
        loop = asyncio.get_running_loop()
        self._pump_handle = (loop.call_soon(self._pump) if self.pump_delay is None
                             else loop.call_later(self.pump_delay, self._pump))

    def _pump(self) -> None:
        self._pump_handle = None
        if self.throttled or self.stopped:
            return
        data = bytes(self.fifo[:self.chunk])
        if self.loop_back:
            n = tty_insert_flip_string_fixed_flag(self.port, data, TTY_NORMAL)
            self.port.icount.rx += n
            tty_flip_buffer_push(self.port)
        else:
            self.sent += data
            n = len(data)
        del self.fifo[:n]
        self.port.icount.tx += n
        tty_port_tty_wakeup(self.port)
        self._kick()

    # -- port operations --------------------------------------------------------------------

    def carrier_raised(self, port: TtyPort) -> bool:
        return bool(self.mctrl & TIOCM_CAR)

    def dtr_rts(self, port: TtyPort, active: bool) -> None:
        self.lb.calls.append(f"dtr_rts {self.index} {int(active)}")
        both = TIOCM_DTR | TIOCM_RTS
        self.mctrl = self.mctrl | both if active else self.mctrl & ~both

    async def activate(self, port: TtyPort, tty: TtyStruct) -> int:
        self.lb.calls.append(f"activate {self.index}")
        return self.activate_result

    async def port_shutdown(self, port: TtyPort) -> None:
        self.lb.calls.append(f"shutdown {self.index}")
        self.fifo.clear()

    # -- tty operations (the driver dispatches here) -------------------------------------------

    def write(self, data: memoryview) -> int:
        n = min(len(data), self.write_room())
        if self.room is not None:
            self.room -= n
        self.fifo += data[:n]
        self._kick()
        return n

    def write_room(self) -> int:
        return self.room if self.room is not None else FIFO_SIZE - len(self.fifo)

    def unthrottle(self) -> None:
        self.throttled = False
        self._kick()

    def start(self) -> None:
        self.stopped = False
        self._kick()


def _line(tty: TtyStruct) -> Line:
    line = tty.driver_data
    assert isinstance(line, Line)
    return line


class Loopback:
    """The driver: `lines[i]` is ttyLP<i>.  `calls` logs the operations."""

    def __init__(self, num: int = 2, *, major: int = 0, flags: int = 0,
                 ops: dict[str, Callable[..., Any]] | None = None) -> None:
        self.calls: list[str] = []
        self.lines = [Line(self, i) for i in range(num)]
        table: dict[str, Callable[..., Any]] = {
            "install": self.install, "open": self.open, "close": self.close,
            "write": lambda tty, data: _line(tty).write(data),
            "write_room": lambda tty: _line(tty).write_room(),
            "chars_in_buffer": lambda tty: len(_line(tty).fifo),
            "throttle": self.throttle, "unthrottle": self.unthrottle,
            "stop": self.stop, "start": self.start, "hangup": self.hangup,
            "break_ctl": self.break_ctl, "flush_buffer": lambda tty: _line(tty).fifo.clear(),
            "tiocmget": lambda tty: _line(tty).mctrl, "tiocmset": self.tiocmset,
            "get_icount": self.get_icount, "ioctl": self.ioctl,
            "set_termios": self.set_termios, "cleanup": self.cleanup,
            "shutdown": lambda tty: self.calls.append(f"tty shutdown {tty.index}"),
            "get_serial": self.get_serial, "set_serial": self.set_serial,
            "proc_show": lambda driver: "loopinfo:1.0\n" + "".join(
                f"{line.index}: tx:{line.port.icount.tx} rx:{line.port.icount.rx}\n"
                for line in self.lines),
        }
        table.update(ops or {})
        self.driver = TtyDriver("loopback", "ttyLP", num=num, major=major,
                                flags=TtyDriverFlag.REAL_RAW | TtyDriverFlag.DYNAMIC_DEV | flags,
                                ops=TtyOperations(**table), owner=None)

    async def register(self, parent: Any = None) -> None:
        """Register the driver and a device per line."""
        await tty_register_driver(self.driver)
        for line in self.lines:
            await tty_port_register_device(line.port, self.driver, line.index, parent)

    async def unregister(self) -> None:
        await tty_unregister_driver(self.driver)

    # -- operations ------------------------------------------------------------------------------

    async def install(self, driver: TtyDriver, tty: TtyStruct) -> int:
        self.calls.append(f"install {tty.index}")
        tty.driver_data = self.lines[tty.index]
        return tty_port_install(self.lines[tty.index].port, driver, tty)

    async def open(self, tty: TtyStruct, file: File) -> int:
        self.calls.append(f"open {tty.index}")
        return await tty_port_open(_line(tty).port, tty, file)

    async def close(self, tty: TtyStruct, file: File) -> None:
        self.calls.append(f"close {tty.index}")
        await tty_port_close(_line(tty).port, tty, file)

    def throttle(self, tty: TtyStruct) -> None:
        self.calls.append("throttle")
        _line(tty).throttled = True

    def unthrottle(self, tty: TtyStruct) -> None:
        self.calls.append("unthrottle")
        _line(tty).unthrottle()

    def stop(self, tty: TtyStruct) -> None:
        self.calls.append("stop")
        _line(tty).stopped = True

    def start(self, tty: TtyStruct) -> None:
        self.calls.append("start")
        _line(tty).start()

    async def hangup(self, tty: TtyStruct) -> None:
        self.calls.append(f"hangup {tty.index}")
        await tty_port_hangup(_line(tty).port)

    async def break_ctl(self, tty: TtyStruct, state: int) -> int:
        _line(tty).breaks.append((state, asyncio.get_running_loop().time()))
        return 0

    async def tiocmset(self, tty: TtyStruct, set_: int, clear: int) -> int:
        line = _line(tty)
        line.mctrl = (line.mctrl | set_) & ~clear
        return 0

    async def get_icount(self, tty: TtyStruct, icount: SerialIcounter) -> int:
        for name in ("cts", "dsr", "rng", "dcd", "rx", "tx", "frame", "overrun", "parity",
                     "brk", "buf_overrun"):
            setattr(icount, name, getattr(_line(tty).port.icount, name))
        return 0

    async def ioctl(self, tty: TtyStruct, cmd: int, arg: Any) -> int:
        """TIOCMIWAIT: sleep until one of the lines in `arg` changes (as usb-serial's
        generic tiocmiwait)."""
        if cmd != TIOCMIWAIT:
            return -ENOIOCTLCMD
        port = _line(tty).port
        before = port.icount.copy()
        watched = {"rng": TIOCM_RNG, "dsr": TIOCM_DSR, "dcd": TIOCM_CAR, "cts": TIOCM_CTS}

        def changed() -> bool:
            return port.tty is None or any(
                arg & bit and getattr(port.icount, name) != getattr(before, name)
                for name, bit in watched.items())

        await port.delta_msr_wait.wait_event(changed)
        return -Errno.EIO if port.tty is None else 0

    async def set_termios(self, tty: TtyStruct, old: Ktermios) -> None:
        self.calls.append("set_termios")
        _line(tty).termios_changes.append((old.copy(), tty.termios.copy()))
        tty.termios.c_cflag = int(tty.termios.c_cflag) & ~Cflag.CMSPAR

    def cleanup(self, tty: TtyStruct) -> None:
        self.calls.append(f"cleanup {tty.index}")

    async def get_serial(self, tty: TtyStruct, ss: SerialStruct) -> int:
        ss.line = tty.index
        ss.closing_wait = _line(tty).port.closing_wait // 10
        return 0

    async def set_serial(self, tty: TtyStruct, ss: SerialStruct) -> int:
        _line(tty).port.closing_wait = ss.closing_wait * 10
        return 0
