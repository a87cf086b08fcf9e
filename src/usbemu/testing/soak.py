"""Soak: thousands of plug / unplug cycles with I/O in flight, on virtual time.

The machine has a hub with a serial converter (FT232R, /dev/ttyUSB0 open in raw mode,
written, drained and read), a pen drive with a memory disk (/dev/sda open and written,
read back) and a mouse (moving) behind it, and gadget zero in its loopback configuration
on a root port, driven by `SoakZeroDriver` — a small interface driver that holds a usb
minor (/dev/soak0) and keeps bulk URBs in flight.  Each cycle plugs back what the
previous one pulled, checks that the machine is as it was at the first cycle (the same
/dev names — ttyUSB0, sda, usb/soak0 — and the same numbers of tasks, usb minors, device
numbers, tty minors, open files, disks and device nodes), runs the I/O for a seeded while,
pulls a seeded choice (one device, or the hub with three devices behind it) with the I/O
running, waits for the I/O to fail and the machine to settle, and checks the data: every
byte of a serial write covered by a successful tcdrain came out of the converter's UART
in order, every block write that returned is in the disk's medium, every byte read back
is what was sent.  A usbmon reader (`UrbLedger`) counts every URB submission and giveback
and flags a URB given back twice or never; the kernel log is scanned for oopses and hung
tasks and then cleared (dmesg -C) each cycle.  At the end everything is unplugged: no URB
may be in flight but the root hub's, no task may be left, every minor, device number,
disk and node must be back, and the memory traced by tracemalloc after the warm-up cycles
and at the end (both after a garbage collection) must not differ by more than a bound.

    report = soak(cycles=1000, seed=1)
    print(report)            # cycles, unplugs, URBs, bytes, memory delta, problems
    report.check()           # raises SoakFailure naming every problem

From the shell: ``python -m usbemu.testing.soak --cycles 10000 --seed 1``.  What it does
not do: real time, other controller kinds than the one the machine is built with, suspend
and resume, or fault injection in the device models.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import struct
import sys
import tracemalloc
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Final

from ..core.devtable import UsbDeviceId, usb_device
from ..core.driver import UsbDriver, usb_deregister, usb_register
from ..core.file import UsbClassDriver, usb_deregister_dev, usb_register_dev
from ..core.hcd import UsbBus
from ..core.urb import Urb, UsbAnchor, pipe_for_endpoint, usb_submit_urb
from ..core.usb import UsbInterface
from ..drivers.usb.serial.usb_serial import usb_serial_core_of
from ..emulated.device import DeviceModel
from ..emulated.models.ftdi import FT232R
from ..emulated.models.hub import Hub
from ..emulated.models.mouse import BootMouse
from ..emulated.models.pendrive import PenDrive
from ..emulated.models.zero import BULK_IN, BULK_OUT, GadgetZero
from ..emulated.scsi_target import Medium
from ..emulated.uart import Uart
from ..kernel.fs import FileOperations
from ..kernel.hung_task import coroutine_stack
from ..kernel.printk import LogRecord
from ..kernel.syscalls import AsyncFile
from ..kernel.termios import TCSANOW, cfmakeraw, tcdrain, tcgetattr, tcsetattr
from ..spec.ch9 import EndpointType
from ..system import System

__all__ = [
    "DEFAULT_MEMORY_BOUND",
    "SoakFailure",
    "SoakReport",
    "SoakZeroDriver",
    "UrbLedger",
    "main",
    "soak",
]

#: The largest growth of traced memory (bytes) between the end of the warm-up cycles and
#: the end of the run that passes: what a machine that leaks nothing still moves around
#: (dict and free-list sizes, the log between two clears), with room to spare.  A leak of
#: one small object per cycle crosses it within a few thousand cycles.
DEFAULT_MEMORY_BOUND: Final = 512 * 1024
#: Cycles run before the first memory sample (caches, interned strings, the first
#: allocation of every kind of object).
WARMUP_CYCLES: Final = 10

#: Port paths of the machine the soak builds on bus 1.
HUB_PATH: Final = "1-1"
SERIAL_PATH: Final = "1-1.1"
PEN_PATH: Final = "1-1.2"
MOUSE_PATH: Final = "1-1.3"
ZERO_PATH: Final = "1-2"
#: The pen drive's memory disk: 1 MiB, 2048 blocks of 512 bytes.
DISK_BYTES: Final = 1 << 20
BLOCK: Final = 512

#: Machine time a cycle runs its I/O before the unplug: 0 to this many ms, seeded.
MAX_IO_MS: Final = 30
#: Machine time the I/O of the devices still plugged runs on after the unplug, in ms.
AFTER_UNPLUG_MS: Final = 5
#: Machine time a cycle may take before the soak gives up on the machine (a settle gives
#: up after 180 s, a writer after 30 s: only a wedge that nothing else bounds reaches it).
CYCLE_TIMEOUT_S: Final = 600.0
#: Machine time between two writes of a writer (an application writing every millisecond).
WRITE_PERIOD_S: Final = 0.001
#: Machine time a writer may take to finish its call once told to stop, in seconds.
STOP_TIMEOUT_S: Final = 30.0

_ZERO_ID: Final = usb_device(0x0525, 0xA4A0)
#: Bytes per OUT transfer to gadget zero: not a multiple of 512, so each comes back as one
#: short IN transfer.
_ZERO_CHUNK: Final = 500
_ZERO_IN_URBS: Final = 2
_ZERO_OUT_URBS: Final = 2
_ZERO_PERIOD_S: Final = 0.005

#: Kernel log texts that are always a problem: an oops and a hung task.
_BAD_LOG: Final = ("BUG: ", "blocked for more than")

_PERIOD: Final = 251
_PATTERN: Final = bytes((i * 31 + 7) & 0xFF for i in range(_PERIOD)) * 40


def pattern(offset: int, length: int) -> bytes:
    """`length` bytes (at most 9,000) of the periodic test stream from byte `offset` on:
    byte i is (i mod 251) * 31 + 7, modulo 256.  Context: atomic."""
    start = offset % _PERIOD
    return _PATTERN[start:start + length]


def block_pattern(write_id: int, block: int) -> bytes:
    """The 512 bytes write number `write_id` puts in disk block `block`.  Context: atomic."""
    return struct.pack("<II", write_id, block) * (BLOCK // 8)


class SoakFailure(AssertionError):
    """A soak run found problems; the message lists them with the report."""


# -- URB accounting -------------------------------------------------------------------------------


class UrbLedger:
    """A usbmon reader that counts URBs: every accepted submission must be given back
    exactly once.  A giveback of a URB not in flight (a second giveback, or one without a
    submission) is a problem, and so is a URB still in flight when it should not be.  The
    URBs queued on the machine's endpoints when it attaches (the root hubs' status URBs)
    count as in flight.  Context: the hooks are atomic; attach and detach from outside the
    loop or on it."""

    def __init__(self, system: System) -> None:
        self.submitted = 0
        self.completed = 0
        self.submit_errors = 0
        self.problems: list[str] = []
        self._in_flight: dict[Urb, int] = {}
        self._system = system
        for dev in system.usb_devices():
            for hep in {id(ep): ep for ep in dev.ep_in + dev.ep_out if ep is not None}.values():
                for urb in hep.urb_list:
                    self._in_flight[urb] = 1
        system.usb.add_monitor(self)

    def close(self) -> None:
        """Detach from the machine.  Raises ValueError when already detached."""
        self._system.usb.remove_monitor(self)

    def in_flight(self) -> list[Urb]:
        """The URBs submitted and not given back yet."""
        return list(self._in_flight)

    # -- UsbMonitor ----------------------------------------------------------------------------

    def urb_submit(self, bus: UsbBus, urb: Urb) -> None:
        self.submitted += 1
        self._in_flight[urb] = self._in_flight.get(urb, 0) + 1

    def urb_submit_error(self, bus: UsbBus, urb: Urb, status: int) -> None:
        self.submitted -= 1
        self.submit_errors += 1
        self._take(urb, f"submission error {status} for {urb!r}, which was not submitted")

    def urb_complete(self, bus: UsbBus, urb: Urb, status: int) -> None:
        self.completed += 1
        self._take(urb, f"{urb!r} given back with status {status} while not in flight "
                        "(a second giveback)")

    def _take(self, urb: Urb, problem: str) -> None:
        count = self._in_flight.get(urb, 0)
        if count == 0:
            self.problems.append(problem)
        elif count == 1:
            del self._in_flight[urb]
        else:
            self._in_flight[urb] = count - 1


# -- gadget zero's driver -------------------------------------------------------------------------


@dataclass
class _ZeroState:
    """One bound interface of `SoakZeroDriver`: its URBs and its streams."""

    intf: UsbInterface
    anchor: UsbAnchor = field(default_factory=UsbAnchor)
    timer: asyncio.TimerHandle | None = None
    sent: int = 0
    looped: int = 0
    outs_busy: int = 0
    stopped: bool = False


class SoakZeroDriver(UsbDriver):
    """An interface driver for gadget zero in its loopback configuration (0525:a4a0):
    probe takes a usb minor ("usb/soak%d"), keeps `_ZERO_IN_URBS` bulk IN URBs waiting on
    0x81 and sends a 500-byte OUT transfer of the test stream on 0x02 every 5 ms (at most
    two in flight); every byte that comes back is checked against the stream.  Disconnect
    kills its URBs and gives the minor back.  `bytes_looped` and `mismatches` are the
    totals over every device it was bound to."""

    name = "soak_zero"
    id_table: Sequence[UsbDeviceId] = (_ZERO_ID,)

    def __init__(self) -> None:
        super().__init__()
        self.class_driver = UsbClassDriver(name="usb/soak%d", fops=FileOperations())
        self.bound: dict[UsbInterface, _ZeroState] = {}
        self.bytes_looped = 0
        self.mismatches = 0
        self.resubmit_errors = 0

    async def probe(self, intf: UsbInterface, id: UsbDeviceId) -> int:
        """Take a minor and start the loop.  0, or -errno when no minor is free.
        Context: may sleep."""
        rc = await usb_register_dev(intf, self.class_driver)
        if rc < 0:
            return rc
        state = _ZeroState(intf)
        self.bound[intf] = state
        for _ in range(_ZERO_IN_URBS):
            urb = Urb()
            dev = intf.usb_dev
            urb.fill_bulk(dev, pipe_for_endpoint(dev, BULK_IN, EndpointType.BULK),
                          bytearray(4096), 4096, self._in_complete, state)
            self._submit(state, urb)
        self._arm(state)
        return 0

    async def disconnect(self, intf: UsbInterface) -> None:
        """Stop the loop, kill the URBs, give the minor back.  Context: may sleep."""
        state = self.bound.pop(intf)
        state.stopped = True
        if state.timer is not None:
            state.timer.cancel()
        await state.anchor.kill_all()
        await usb_deregister_dev(intf, self.class_driver)

    def _submit(self, state: _ZeroState, urb: Urb) -> bool:
        state.anchor.anchor(urb)
        if usb_submit_urb(urb) == 0:
            return True
        state.anchor.unanchor(urb)
        self.resubmit_errors += 1
        return False

    def _arm(self, state: _ZeroState) -> None:
        loop = state.intf.usb_dev.usb_bus.hcd.loop
        state.timer = loop.call_later(_ZERO_PERIOD_S, self._send, state)

    def _send(self, state: _ZeroState) -> None:
        if state.stopped:
            return
        if state.outs_busy < _ZERO_OUT_URBS:
            dev = state.intf.usb_dev
            urb = Urb()
            urb.fill_bulk(dev, pipe_for_endpoint(dev, BULK_OUT, EndpointType.BULK),
                          pattern(state.sent, _ZERO_CHUNK), _ZERO_CHUNK, self._out_complete,
                          state)
            if self._submit(state, urb):
                state.outs_busy += 1
                state.sent += _ZERO_CHUNK
        self._arm(state)

    def _out_complete(self, urb: Urb) -> None:
        state: _ZeroState = urb.context
        state.outs_busy -= 1

    def _in_complete(self, urb: Urb) -> None:
        state: _ZeroState = urb.context
        if urb.status:
            return
        data = bytes(urb.transfer_buffer[:urb.actual_length])
        if data != pattern(state.looped, len(data)):
            self.mismatches += 1
        state.looped += len(data)
        self.bytes_looped += len(data)
        if not state.stopped:
            self._submit(state, urb)


# -- the report -----------------------------------------------------------------------------------


@dataclass
class SoakReport:
    """What a soak run did and found.  `problems` is empty when it passed."""

    seed: int
    cycles: int = 0
    unplugs: int = 0
    urbs_submitted: int = 0
    urbs_completed: int = 0
    urb_submit_errors: int = 0
    serial_written: int = 0
    serial_acknowledged: int = 0
    serial_transmitted: int = 0
    serial_read: int = 0
    blocks_written: int = 0
    blocks_acknowledged: int = 0
    blocks_verified: int = 0
    zero_looped: int = 0
    mouse_moves: int = 0
    machine_seconds: float = 0.0
    memory_start: int = 0
    memory_end: int = 0
    memory_bound: int = DEFAULT_MEMORY_BOUND
    problems: list[str] = field(default_factory=list)

    @property
    def memory_delta(self) -> int:
        """Traced bytes at the end minus after the warm-up cycles."""
        return self.memory_end - self.memory_start

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self) -> None:
        """Raise SoakFailure, with the report, when the run found problems."""
        if self.problems:
            raise SoakFailure(str(self))

    def __str__(self) -> str:
        lines = [
            f"soak: {self.cycles} cycles, seed {self.seed}, {self.unplugs} unplugs, "
            f"{self.machine_seconds:.3f} s of machine time",
            f"  URBs: {self.urbs_submitted} submitted, {self.urbs_completed} given back, "
            f"{self.urb_submit_errors} refused at submission",
            f"  serial: {self.serial_written} bytes written, {self.serial_acknowledged} "
            f"acknowledged by tcdrain, {self.serial_transmitted} out of the UART, "
            f"{self.serial_read} read",
            f"  storage: {self.blocks_written} blocks written, {self.blocks_acknowledged} "
            f"acknowledged, {self.blocks_verified} verified in the medium",
            f"  gadget zero: {self.zero_looped} bytes looped back; mouse: "
            f"{self.mouse_moves} moves",
            f"  memory: {self.memory_start} -> {self.memory_end} bytes traced, delta "
            f"{self.memory_delta:+d} (bound {self.memory_bound})",
        ]
        if self.problems:
            lines.append(f"  FAILED, {len(self.problems)} problem(s):")
            lines += [f"    {problem}" for problem in self.problems[:50]]
        else:
            lines.append("  passed: every URB given back once, nothing leaked, "
                         "no acknowledged byte lost")
        return "\n".join(lines)


# -- the devices' workers -------------------------------------------------------------------------


@dataclass
class _SerialSession:
    """One open of /dev/ttyUSB0: what was written, drained, transmitted, sent and read."""

    uart: Uart
    file: AsyncFile
    salt: int
    written: int = 0
    acknowledged: int = 0
    transmitted: int = 0
    sent: int = 0
    read: int = 0
    problems: list[str] = field(default_factory=list)

    def take_transmitted(self) -> None:
        """The far end: take what the UART transmitted and check it against the stream."""
        data = self.uart.received()
        if data and data != pattern(self.salt + self.transmitted, len(data)):
            self.problems.append(f"serial: bytes {self.transmitted}..{self.transmitted + len(data)}"
                                 " out of the UART are not the bytes written")
        self.transmitted += len(data)

    def finish(self) -> None:
        """The session is over: the far end takes the last bytes and the settings changes
        the UART keeps for it (`Uart.changes`), and the counts are checked."""
        self.take_transmitted()
        self.uart.changes.clear()
        if self.transmitted < self.acknowledged:
            self.problems.append(f"serial: {self.acknowledged} bytes acknowledged by tcdrain, "
                                 f"only {self.transmitted} came out of the UART")
        if self.transmitted > self.written:
            self.problems.append(f"serial: {self.transmitted} bytes out of the UART, only "
                                 f"{self.written} written")


#: A block of the disk whose content is unknown: a write to it failed or was cut short.
_UNKNOWN: Final = 0xFFFFFFFF


class _DiskState:
    """What the storage path acknowledged: for each block, the write that put it there
    (0: none yet, the medium's zeros; `_UNKNOWN`), in a table of fixed size."""

    def __init__(self, medium: Medium) -> None:
        self.medium = medium
        self.acknowledged = array("I", bytes(4 * (DISK_BYTES // BLOCK)))
        self.next_write = 1

    def known(self) -> list[int]:
        return [block for block, write in enumerate(self.acknowledged) if write != _UNKNOWN]

    def verify(self, blocks: Sequence[int] | None = None) -> list[str]:
        """Compare acknowledged blocks (all, or `blocks`) with the medium."""
        check = self.known() if blocks is None else blocks
        bad = [block for block in check if self.acknowledged[block] != _UNKNOWN
               and self.medium.read(block, 1) != self.expected(block)]
        return [f"storage: acknowledged block {block} (write {self.acknowledged[block]}) "
                "is not in the medium" for block in bad[:5]]

    def expected(self, block: int) -> bytes:
        write_id = self.acknowledged[block]
        return block_pattern(write_id, block) if write_id else bytes(BLOCK)


@dataclass
class _Slot:
    """A port path and the model that belongs there: `plugged` while it is in its port
    (a hub pulled keeps the models plugged into it), `online` while the host sees it."""

    path: str
    model: DeviceModel
    plugged: bool = False
    online: bool = False


class _Soak:
    """One soak run on `system` (booted, bus 1 with free root ports 1 and 2)."""

    def __init__(self, system: System, cycles: int, seed: int, memory_bound: int,
                 on_cycle: Callable[[System, int], Awaitable[None]] | None) -> None:
        self.system = system
        self.cycles = cycles
        self.rng = Random(seed)
        self.on_cycle = on_cycle
        self.report = SoakReport(seed=seed, memory_bound=memory_bound)
        self.serial = FT232R()
        self.pen = PenDrive(storage="memory", size=DISK_BYTES)
        self.mouse = BootMouse()
        self.zero = GadgetZero(loopdefault=True)
        self.hub = Hub(4)
        lun = self.pen.bulk_only.target.luns[0] if self.pen.bulk_only is not None else None
        medium = lun.medium if lun is not None else None
        assert medium is not None, "the pen drive in storage mode has a medium"
        self.disk = _DiskState(medium)
        self.slots = [_Slot(HUB_PATH, self.hub), _Slot(SERIAL_PATH, self.serial),
                      _Slot(PEN_PATH, self.pen), _Slot(MOUSE_PATH, self.mouse),
                      _Slot(ZERO_PATH, self.zero)]
        self.driver = SoakZeroDriver()
        self.ledger = UrbLedger(system)
        self.baseline: dict[str, int] = {}
        self.idle: dict[str, int] = {}
        self.idle_urbs = 0
        self.stop = False
        self.bad_log: list[str] = []
        self._unsubscribe = system.log.subscribe(self._on_log)

    def _on_log(self, record: LogRecord) -> None:
        if any(text in record.text for text in _BAD_LOG) and len(self.bad_log) < 20:
            self.bad_log.append(record.text)

    def problem(self, cycle: int, text: str) -> None:
        self.report.problems.append(f"cycle {cycle}: {text}")

    # -- the counts that must come back ---------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """What a leak would raise: tasks, minors, device numbers, files, disks, nodes."""
        system = self.system
        try:
            tty_minors = len(usb_serial_core_of(system.usb).minors)
        except RuntimeError:
            tty_minors = 0
        return {
            "asyncio tasks": len([t for t in asyncio.all_tasks(system.loop) if not t.done()]),
            "usb minors": sum(fops is not None for fops in system.usb_files.minors),
            "usb device numbers": sum(len(bus.devmap) for bus in system.usb.buses.values()),
            "usb devices": len(system.usb_devices()),
            "ttyUSB minors": tty_minors,
            "open files": len(system.chrdev.all_open_files()),
            "disks": len(system.vfs.listdir("/sys/block")),
            "device nodes": sum(len(files) for _, _, files in system.vfs.walk("/dev")),
        }

    def compare(self, cycle: int, expected: dict[str, int], when: str) -> None:
        now = self.counts()
        for name, value in expected.items():
            if now[name] != value:
                self.problem(cycle, f"{when}: {name} {now[name]}, expected {value}")

    # -- plugging ----------------------------------------------------------------------------------

    async def plug_missing(self) -> None:
        for slot in self.slots:
            if not slot.plugged:
                self.system.plug(slot.model, slot.path)
                slot.plugged = True
                if slot.model is self.hub:
                    await self.system.asettle()
        await self.system.asettle()
        for slot in self.slots:
            slot.online = True

    def slot_of(self, model: DeviceModel) -> _Slot:
        return next(slot for slot in self.slots if slot.model is model)

    def unplug(self, slot: _Slot) -> None:
        self.system.unplug(slot.path)
        self.report.unplugs += 1
        slot.plugged = False
        for other in self.slots:
            if other.path == slot.path or other.path.startswith(slot.path + "."):
                other.online = False

    # -- workers ---------------------------------------------------------------------------------

    async def serial_writer(self, session: _SerialSession, rng: Random) -> None:
        try:
            while not self.stop:
                size = rng.randint(1, 512)
                n = await session.file.write(pattern(session.salt + session.written, size))
                session.written += n
                if rng.random() < 0.3:
                    target = session.written
                    await tcdrain(session.file)
                    # A drain that returns after the unplug proves nothing (the port then
                    # has no characters in its buffer, as in Linux): only count it before.
                    if self.slot_of(self.serial).online:
                        session.acknowledged = target
                await asyncio.sleep(WRITE_PERIOD_S)
        except OSError:
            return

    async def serial_reader(self, session: _SerialSession) -> None:
        try:
            while not self.stop:
                data = await session.file.read(4096)
                if not data:
                    return
                if data != pattern(session.salt * 3 + session.read, len(data)):
                    session.problems.append(f"serial: bytes {session.read}.."
                                            f"{session.read + len(data)} read are not the "
                                            "bytes the far end sent")
                session.read += len(data)
        except OSError:
            return

    async def far_end(self, session: _SerialSession, rng: Random) -> None:
        """The serial line's far end: until cancelled, take what the UART transmits and
        send it bytes to read, every millisecond."""
        while True:
            session.take_transmitted()
            if session.uart.pending_in < 256:
                size = rng.randint(1, 128)
                session.uart.send(pattern(session.salt * 3 + session.sent, size))
                session.sent += size
            await asyncio.sleep(0.001)

    async def disk_writer(self, file: AsyncFile, rng: Random, written: list[int]) -> None:
        disk, blocks = self.disk, DISK_BYTES // BLOCK
        try:
            while not self.stop:
                count = rng.randint(1, 8)
                first = rng.randrange(blocks - count + 1)
                span = range(first, first + count)
                write_id = disk.next_write
                disk.next_write += 1
                for block in span:       # unknown until acknowledged
                    disk.acknowledged[block] = _UNKNOWN
                data = b"".join(block_pattern(write_id, block) for block in span)
                await file.seek(first * BLOCK)
                self.report.blocks_written += count
                await file.write(data)
                for block in span:
                    disk.acknowledged[block] = write_id
                written.extend(span)
                self.report.blocks_acknowledged += count
                if rng.random() < 0.25:
                    await self.read_back(file, rng)
                await asyncio.sleep(WRITE_PERIOD_S)
        except OSError:
            return

    async def read_back(self, file: AsyncFile, rng: Random) -> None:
        block = rng.randrange(DISK_BYTES // BLOCK)
        if self.disk.acknowledged[block] == _UNKNOWN:
            return
        await file.seek(block * BLOCK)
        data = await file.read(BLOCK)
        if data != self.disk.expected(block):
            self.report.problems.append(f"storage: block {block} read back through /dev/sda "
                                        "is not what was written")

    async def mouse_mover(self) -> None:
        while not self.stop:
            self.mouse.move(1, -1)
            self.report.mouse_moves += 1
            await asyncio.sleep(0.004)

    # -- one cycle -------------------------------------------------------------------------------

    async def open_serial(self, cycle: int) -> _SerialSession | None:
        try:
            file = await self.system.aopen("/dev/ttyUSB0", "rb+")
        except OSError as exc:
            self.problem(cycle, f"cannot open /dev/ttyUSB0: {exc}")
            return None
        termios = await tcgetattr(file)
        cfmakeraw(termios)
        await tcsetattr(file, TCSANOW, termios)
        return _SerialSession(self.serial.serial_port(0), file, salt=cycle * 17)

    async def open_disk(self, cycle: int) -> AsyncFile | None:
        try:
            return await self.system.aopen("/dev/sda", "rb+")
        except OSError as exc:
            self.problem(cycle, f"cannot open /dev/sda: {exc}")
            return None

    async def cycle(self, cycle: int) -> None:
        system = self.system
        await self.plug_missing()
        if not system.vfs.exists("/dev/soak0"):
            self.problem(cycle, "/dev/soak0 is missing (gadget zero's usb minor 0)")
        if cycle == 0:
            self.baseline = self.counts()
        else:
            self.compare(cycle, self.baseline, "with every device plugged in")
        if cycle == min(WARMUP_CYCLES, self.cycles - 1):
            self.report.memory_start = _traced_memory()
        session = await self.open_serial(cycle)
        disk_file = await self.open_disk(cycle)
        if self.on_cycle is not None:
            await self.on_cycle(system, cycle)
        rng = Random(self.rng.getrandbits(64))
        self.stop = False
        written: list[int] = []
        start = asyncio.get_running_loop().create_task
        writers: list[asyncio.Task[None]] = []
        helpers = [start(self.mouse_mover(), name="soak mouse")]
        if session is not None:
            writers.append(start(self.serial_writer(session, Random(rng.random())),
                                 name="soak ttyUSB0 writer"))
            helpers += [start(self.serial_reader(session), name="soak ttyUSB0 reader"),
                        start(self.far_end(session, Random(rng.random())),
                              name="soak ttyUSB0 far end")]
        if disk_file is not None:
            writers.append(start(self.disk_writer(disk_file, Random(rng.random()), written),
                                 name="soak sda writer"))
        await asyncio.sleep(rng.uniform(0, MAX_IO_MS) / 1000)
        self.unplug(rng.choice(self.slots))
        await asyncio.sleep(AFTER_UNPLUG_MS / 1000)
        self.stop = True
        await self.stop_workers(cycle, writers, helpers)
        if session is not None:
            await session.file.close()
            session.finish()
            self.account_serial(cycle, session)
        if disk_file is not None:
            await disk_file.close()
        await system.asettle()
        for text in self.disk.verify(written):
            self.problem(cycle, text)
        self.check_urbs(cycle)
        self.check_log(cycle)

    async def stop_workers(self, cycle: int, writers: list[asyncio.Task[None]],
                           helpers: list[asyncio.Task[None]]) -> None:
        """Let the writers finish the call they are in (the far end still takes what the
        converter transmits), then cancel the readers, the far end and the mouse."""
        pending: set[asyncio.Task[None]] = set()
        if writers:
            _, pending = await asyncio.wait(writers, timeout=STOP_TIMEOUT_S)
        for task in pending:
            where = " < ".join(frame.f_code.co_name for frame in coroutine_stack(task))
            self.problem(cycle, f"{task.get_name()} still blocked {STOP_TIMEOUT_S:g} s after "
                                f"it was told to stop, in {where}")
        for task in [*pending, *helpers]:
            task.cancel()
        await asyncio.wait([*writers, *helpers])
        for task in [*writers, *helpers]:
            if not task.cancelled() and task.exception() is not None:
                self.problem(cycle, f"a worker failed: {task.exception()!r}")

    def account_serial(self, cycle: int, session: _SerialSession) -> None:
        report = self.report
        report.serial_written += session.written
        report.serial_acknowledged += session.acknowledged
        report.serial_transmitted += session.transmitted
        report.serial_read += session.read
        for text in session.problems[:5]:
            self.problem(cycle, text)

    def check_urbs(self, cycle: int) -> None:
        present = set(self.system.usb_devices())
        stale = [urb for urb in self.ledger.in_flight() if urb.dev not in present]
        if stale:
            self.problem(cycle, f"{len(stale)} URB(s) in flight for devices that are gone: "
                                f"{stale[:3]!r}")
        for text in self.ledger.problems:
            self.problem(cycle, text)
        self.ledger.problems.clear()

    def check_log(self, cycle: int) -> None:
        for text in self.bad_log:
            self.problem(cycle, f"kernel log: {text}")
        self.bad_log.clear()
        self.system.log.clear()

    # -- the run ---------------------------------------------------------------------------------

    async def run(self) -> SoakReport:
        system = self.system
        await usb_register(system.usb, self.driver)
        await system.asettle()
        self.idle = self.counts()
        self.idle_urbs = len(self.ledger.in_flight())
        start = system.loop.time()
        for cycle in range(self.cycles):
            try:
                async with asyncio.timeout(CYCLE_TIMEOUT_S):
                    await self.cycle(cycle)
            except Exception as exc:        # the machine failed (did not settle …): stop
                self.problem(cycle, f"the cycle failed: {type(exc).__name__}: {exc}")
                self.check_urbs(cycle)
                self.check_log(cycle)
                self.finish(system.loop.time() - start)
                return self.report
            self.report.cycles += 1
        await self.plug_missing()
        self.compare(self.cycles, self.baseline, "at the end, every device plugged in")
        self.report.memory_end = _traced_memory()
        for slot in self.slots:
            if "." not in slot.path:             # on a root port: the rest goes with it
                self.unplug(slot)
        await system.asettle()
        for text in self.disk.verify():
            self.problem(self.cycles, text)
        self.report.blocks_verified = len(self.disk.known())
        self.check_urbs(self.cycles)
        self.check_log(self.cycles)
        self.compare(self.cycles, self.idle, "at the end, everything unplugged")
        in_flight = len(self.ledger.in_flight())
        if in_flight != self.idle_urbs:
            self.problem(self.cycles, f"at the end, everything unplugged: {in_flight} URBs in "
                                      f"flight, expected {self.idle_urbs} (the root hubs')")
        await usb_deregister(system.usb, self.driver)
        self.finish(system.loop.time() - start)
        return self.report

    def finish(self, seconds: float) -> None:
        report, ledger = self.report, self.ledger
        self._unsubscribe()
        ledger.close()
        report.urbs_submitted = ledger.submitted
        report.urbs_completed = ledger.completed
        report.urb_submit_errors = ledger.submit_errors
        report.zero_looped = self.driver.bytes_looped
        report.machine_seconds = seconds
        if self.driver.mismatches:
            report.problems.append(f"gadget zero: {self.driver.mismatches} IN transfer(s) "
                                   "did not bring back the bytes sent")
        if report.memory_delta > report.memory_bound:
            report.problems.append(f"memory grew by {report.memory_delta} bytes between "
                                   f"cycle {min(WARMUP_CYCLES, self.cycles - 1)} and the end "
                                   f"(bound {report.memory_bound})")


def _traced_memory() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _machine() -> System:
    system = System()
    system.boot()
    system.add_controller("inproc")
    return system


def soak(machine: System | Callable[[], System] | None = None, *, cycles: int = 100,
         seed: int = 0, memory_bound: int = DEFAULT_MEMORY_BOUND,
         on_cycle: Callable[[System, int], Awaitable[None]] | None = None) -> SoakReport:
    """Run `cycles` plug / unplug cycles (see the module docstring) with choices drawn
    from `seed`, on `machine` — a booted System whose bus 1 has root ports 1 and 2 free, or
    a function that builds one — or on a new virtual-time machine with one in-process
    controller, which is closed at the end.  `on_cycle(system, cycle)` is awaited in each
    cycle with every device plugged in and its files open, before the counts are compared
    (tests inject leaks with it).  Memory is traced with tracemalloc (started and stopped
    here unless already tracing).  Returns the SoakReport; it does not raise for problems
    found (`report.check()` does).  Raises ValueError for a cycle count below 1 or a
    negative memory bound.  Context: outside the machine's loop (it runs the machine)."""
    if cycles < 1:
        raise ValueError(f"cycles={cycles!r}: a soak runs 1 cycle or more")
    if memory_bound < 0:
        raise ValueError(f"memory_bound={memory_bound!r} must be 0 or more bytes")
    own = machine is None or not isinstance(machine, System)
    system = _machine() if machine is None else machine() if callable(machine) else machine
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        return system.run(_Soak(system, cycles, seed, memory_bound, on_cycle).run())
    finally:
        if not tracing:
            tracemalloc.stop()
        if own:
            system.close()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m usbemu.testing.soak [--cycles N] [--seed S] [--memory-bound BYTES]`:
    run a soak on a new machine and print the report.  Returns 0 when it passed, 1 when
    it found problems."""
    parser = argparse.ArgumentParser(prog="python -m usbemu.testing.soak",
                                     description="Plug / unplug soak on virtual time.")
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-bound", type=int, default=DEFAULT_MEMORY_BOUND,
                        metavar="BYTES")
    args = parser.parse_args(argv)
    try:
        report = soak(cycles=args.cycles, seed=args.seed, memory_bound=args.memory_bound)
    except ValueError as exc:
        parser.error(str(exc))
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
