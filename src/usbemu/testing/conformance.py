"""The host controller conformance suite: one call checks a controller kind against the URB
contract every Linux host controller driver keeps (include/linux/usb.h, Documentation/
driver-api/usb/URB.rst, drivers/usb/core/hcd.c) — in the spirit of trio.testing's
`check_two_way_stream`.

    from usbemu.testing import check_host_controller
    check_host_controller("inproc")              # raises ConformanceError with a report

Each check boots a fresh machine on virtual time with one controller of the kind, plugs the
`ConformanceDevice` into its first root port, lets it enumerate, and drives URBs at it
directly (no class driver): status codes of good transfers, short packets with and without
URB_SHORT_NOT_OK, babble, ZLPs, completion order on one endpoint (asynchronous URBs and a
synchronous message behind them), unlink and kill with their codes and with resubmission
refused during a kill, halt and clear-halt, a control STALL, unplug with URBs in flight,
interrupt polling no faster than the endpoint's interval, and isochronous packets.  Every
URB must complete exactly once, in atomic context.  A check that fails, raises or does not
finish within its machine-time limit is a failure in the report; the others still run.

What it does not check: bandwidth refusal (a controller that schedules may refuse what
another accepts), SuperSpeed streams, scatter-gather, or real-time behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, ClassVar, Final

from ..core.hcd import HostController
from ..core.message import usb_bulk_msg, usb_clear_halt, usb_control_msg
from ..core.urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    PIPE_ISOCHRONOUS,
    Urb,
    UrbFlag,
    make_pipe,
    usb_kill_urb,
    usb_submit_urb,
    usb_unlink_urb,
)
from ..core.usb import UsbDevice
from ..emulated.device import DeviceModel, endpoint_in, endpoint_out, request
from ..emulated.endpoint import Endpoint, Stall
from ..errors import Errno, errname
from ..spec.ch9 import Speed
from ..spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from ..system import System

__all__ = ["CheckResult", "ConformanceDevice", "ConformanceError", "ConformanceReport",
           "check_host_controller", "run_conformance"]

BULK_OUT, BULK_IN, HALT_IN, INT_IN, ISO_IN, ZLP_OUT = 0x01, 0x81, 0x82, 0x83, 0x84, 0x02
MAXP: Final = 512
INT_INTERVAL_MS: Final = 8  # bInterval 7 at high speed: 2**6 microframes
ISO_PACKET: Final = 64
#: Machine time each check may take before it counts as hung.
CHECK_TIMEOUT_S: Final = 30.0
#: Statuses a URB in flight may end with when its device is unplugged.
UNPLUG_STATUSES: Final = frozenset({-Errno.EPROTO, -Errno.ESHUTDOWN, -Errno.ENODEV,
                                    -Errno.EILSEQ, -Errno.ETIME, -Errno.ENOENT,
                                    -Errno.ECONNRESET})


class ConformanceDevice(DeviceModel):
    """The device the suite talks to (high speed, vendor class 1209:c0fe):

    0x01 bulk OUT records each transfer in `received`; 0x81 bulk IN sends what the test
    queues (NAK when empty); 0x82 bulk IN is halted by `halt_in()`; 0x02 bulk OUT records
    the length of every packet in `packets` (to see ZLPs); 0x83 interrupt IN answers every
    poll with a 4-byte count; 0x84 isochronous IN gives 64 bytes per packet; vendor request
    0xC0/0x01 returns b"ok" and 0x40/0x02 stalls."""

    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        idVendor=0x1209, idProduct=0xC0FE, bcdUSB=0x0200, bDeviceClass=0xFF,
        iManufacturer="usbemu", iProduct="HCD conformance",
        configurations=(ConfigDescriptor(interfaces=(InterfaceDescriptor(0xFF, endpoints=(
            EndpointDescriptor.bulk(BULK_OUT, MAXP),
            EndpointDescriptor.bulk(BULK_IN, MAXP),
            EndpointDescriptor.bulk(HALT_IN, MAXP),
            EndpointDescriptor.bulk(ZLP_OUT, MAXP),
            EndpointDescriptor.interrupt(INT_IN, 4, 7),
            EndpointDescriptor.isochronous(ISO_IN, ISO_PACKET, 1),
        )),)),),
    )

    def __init__(self) -> None:
        super().__init__()
        self.received: list[bytes] = []
        self.packets: list[int] = []
        self.polls = 0

    def queue_in(self, data: bytes) -> None:
        """Queue one IN transfer on 0x81."""
        ep = self.endpoint(BULK_IN)
        assert ep is not None, "the device is not configured"
        ep.write(data)

    def halt_in(self) -> None:
        """Halt endpoint 0x82."""
        ep = self.endpoint(HALT_IN)
        assert ep is not None, "the device is not configured"
        ep.halt()

    @endpoint_out(BULK_OUT)
    def _bulk_out(self, ep: Endpoint, data: memoryview) -> None:
        self.received.append(bytes(data))

    @endpoint_out(ZLP_OUT, packets=True)
    def _zlp_out(self, ep: Endpoint, data: memoryview) -> None:
        self.packets.append(len(data))

    @endpoint_in(INT_IN)
    def _interrupt(self, ep: Endpoint, room: int) -> bytes:
        self.polls += 1
        return self.polls.to_bytes(4, "little")

    @endpoint_in(ISO_IN)
    def _iso(self, ep: Endpoint, room: int) -> bytes:
        return bytes(range(ISO_PACKET))

    @request(0xC0, 0x01)
    def _hello(self, setup: object, data: bytes) -> bytes:
        return b"ok"

    @request(0x40, 0x02)
    def _refuse(self, setup: object, data: bytes) -> None:
        raise Stall


class CheckFailed(AssertionError):
    """One expectation of a check did not hold."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _status(code: int) -> str:
    return f"{code} ({errname(code)})" if code else "0"


@dataclass
class Bench:
    """What a check works with: the machine, the device as usbcore sees it, the model."""

    system: System
    udev: UsbDevice
    model: ConformanceDevice
    completions: dict[int, int] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def urb(self, ptype: int, address: int, length: int, tag: str,
            *, data: bytes | None = None, on_complete: Callable[[Urb], None] | None = None,
            iso_packets: int = 0) -> Urb:
        """A URB on endpoint `address` whose completion is counted and logged as `tag`."""
        is_in = bool(address & 0x80)
        urb = Urb(iso_packets)
        buffer: Any = bytearray(length) if is_in else (data or bytes(length))
        pipe = make_pipe(self.udev, ptype, address & 0xF, is_in)

        def complete(u: Urb) -> None:
            self.completions[id(u)] = self.completions.get(id(u), 0) + 1
            self.order.append(tag)
            if on_complete is not None:
                on_complete(u)

        urb.fill_bulk(self.udev, pipe, buffer, length, complete)
        return urb

    def submit(self, urb: Urb) -> None:
        rc = usb_submit_urb(urb)
        expect(rc == 0, f"usb_submit_urb returned {_status(rc)}, expected 0")

    async def drain(self, ms: float = 5) -> None:
        """Let `ms` of machine time pass so that completions run."""
        await asyncio.sleep(ms / 1000)

    def once(self, *urbs: Urb) -> None:
        for urb in urbs:
            count = self.completions.get(id(urb), 0)
            expect(count == 1, f"a URB completed {count} times, expected exactly once")


Check = Callable[[Bench], Awaitable[None]]


# -- the checks -----------------------------------------------------------------------------------


async def check_bulk_status(b: Bench) -> None:
    """A bulk OUT and a bulk IN that the device answers complete with status 0 and the
    right actual_length, the data intact."""
    out = b.urb(PIPE_BULK, BULK_OUT, 100, "out", data=bytes(range(100)))
    b.submit(out)
    b.model.queue_in(b"\x5a" * 300)
    in_ = b.urb(PIPE_BULK, BULK_IN, MAXP, "in")
    b.submit(in_)
    await b.drain()
    b.once(out, in_)
    expect(out.status == 0 and out.actual_length == 100,
           f"bulk OUT: status {_status(out.status)}, actual_length {out.actual_length}; "
           "expected 0 and 100")
    expect(b.model.received == [bytes(range(100))], "bulk OUT: the device got other data")
    expect(in_.status == 0 and in_.actual_length == 300,
           f"bulk IN: status {_status(in_.status)}, actual_length {in_.actual_length}; "
           "expected 0 and 300 (a short packet ends the transfer)")
    expect(bytes(in_.transfer_buffer[:300]) == b"\x5a" * 300, "bulk IN: data corrupted")


async def check_short_not_ok(b: Bench) -> None:
    """A short IN transfer with URB_SHORT_NOT_OK completes with -EREMOTEIO."""
    b.model.queue_in(b"abc")
    urb = b.urb(PIPE_BULK, BULK_IN, MAXP, "in")
    urb.transfer_flags |= UrbFlag.SHORT_NOT_OK
    b.submit(urb)
    await b.drain()
    b.once(urb)
    expect(urb.status == -Errno.EREMOTEIO and urb.actual_length == 3,
           f"short IN with URB_SHORT_NOT_OK: status {_status(urb.status)}, actual_length "
           f"{urb.actual_length}; expected -121 (-EREMOTEIO) and 3")


async def check_babble(b: Bench) -> None:
    """A device packet larger than the room left in the URB is babble: -EOVERFLOW."""
    b.model.queue_in(b"x" * 200)
    urb = b.urb(PIPE_BULK, BULK_IN, 100, "in")
    b.submit(urb)
    await b.drain()
    b.once(urb)
    expect(urb.status == -Errno.EOVERFLOW,
           f"babble: status {_status(urb.status)}, expected -75 (-EOVERFLOW)")


async def check_zero_packet(b: Bench) -> None:
    """URB_ZERO_PACKET adds a zero-length packet after an OUT transfer of a whole number
    of packets; without it there is none."""
    plain = b.urb(PIPE_BULK, ZLP_OUT, MAXP, "plain")
    b.submit(plain)
    await b.drain()
    zlp = b.urb(PIPE_BULK, ZLP_OUT, MAXP, "zlp")
    zlp.transfer_flags |= UrbFlag.ZERO_PACKET
    b.submit(zlp)
    await b.drain()
    b.once(plain, zlp)
    expect(plain.status == 0 and zlp.status == 0,
           f"OUT transfers: statuses {_status(plain.status)}, {_status(zlp.status)}")
    expect(b.model.packets == [MAXP, MAXP, 0],
           f"packets the device saw: {b.model.packets}, expected [512, 512, 0]")


async def check_order(b: Bench) -> None:
    """URBs queued on one endpoint complete in submission order, each with its own data."""
    urbs = [b.urb(PIPE_BULK, BULK_IN, MAXP, f"u{n}") for n in range(8)]
    for urb in urbs:
        b.submit(urb)
    for n in range(8):
        b.model.queue_in(bytes([n]) * (n + 1))
    await b.drain()
    b.once(*urbs)
    expect(b.order == [f"u{n}" for n in range(8)],
           f"completion order {b.order}, expected u0 … u7")
    got = [bytes(u.transfer_buffer[:u.actual_length]) for u in urbs]
    expect(got == [bytes([n]) * (n + 1) for n in range(8)], "data went to the wrong URBs")


async def check_sync_after_async(b: Bench) -> None:
    """An asynchronous URB submitted before a synchronous message on the same endpoint
    completes before the message returns."""
    b.model.queue_in(b"first")
    b.model.queue_in(b"second")
    first = b.urb(PIPE_BULK, BULK_IN, MAXP, "async")
    b.submit(first)
    buf = bytearray(MAXP)
    rc, n = await usb_bulk_msg(b.udev, make_pipe(b.udev, PIPE_BULK, 1, True), buf, MAXP, 1000)
    b.order.append("sync")
    await b.drain()
    expect(rc == 0 and bytes(buf[:n]) == b"second", f"usb_bulk_msg: {_status(rc)}, "
                                                    f"{bytes(buf[:n])!r}")
    expect(b.order == ["async", "sync"],
           f"order {b.order}: the synchronous message returned before the URB queued ahead "
           "of it completed")


async def check_unlink(b: Bench) -> None:
    """usb_unlink_urb on a URB waiting for data: -EINPROGRESS, a second unlink -EBUSY,
    one completion with -ECONNRESET."""
    urb = b.urb(PIPE_BULK, BULK_IN, MAXP, "in")
    b.submit(urb)
    await b.drain()
    expect(not b.completions, "an IN URB completed although the device had no data (NAK)")
    rc = usb_unlink_urb(urb)
    expect(rc == -Errno.EINPROGRESS, f"usb_unlink_urb: {_status(rc)}, expected -115")
    rc2 = usb_unlink_urb(urb)
    expect(rc2 in (-Errno.EBUSY, -Errno.EIDRM),
           f"second usb_unlink_urb: {_status(rc2)}, expected -16 (-EBUSY)")
    await b.drain()
    b.once(urb)
    expect(urb.status == -Errno.ECONNRESET,
           f"unlinked URB: status {_status(urb.status)}, expected -104 (-ECONNRESET)")
    b.model.queue_in(b"after")
    again = b.urb(PIPE_BULK, BULK_IN, MAXP, "again")
    b.submit(again)
    await b.drain()
    expect(again.status == 0 and again.actual_length == 5,
           f"the endpoint after an unlink: status {_status(again.status)}, expected 0")


async def check_kill(b: Bench) -> None:
    """usb_kill_urb returns after the completion ran (-ENOENT); a resubmission from that
    completion is refused with -EPERM."""
    seen: list[int] = []
    resubmitted: list[int] = []

    def complete(u: Urb) -> None:
        seen.append(u.status)
        resubmitted.append(usb_submit_urb(u))

    urb = b.urb(PIPE_BULK, BULK_IN, MAXP, "in", on_complete=complete)
    b.submit(urb)
    await b.drain()
    await usb_kill_urb(urb)
    b.once(urb)
    expect(seen == [-Errno.ENOENT],
           f"killed URB: status {[_status(s) for s in seen]}, expected -2 (-ENOENT)")
    expect(resubmitted == [-Errno.EPERM],
           f"resubmission during the kill returned {resubmitted}, expected [-1] (-EPERM)")
    expect(urb.use_count == 0, "the killed URB is still in use after usb_kill_urb")


async def check_halt(b: Bench) -> None:
    """A halted endpoint STALLs (-EPIPE) until usb_clear_halt; then it works again."""
    b.model.halt_in()
    urb = b.urb(PIPE_BULK, HALT_IN, MAXP, "in")
    b.submit(urb)
    await b.drain()
    b.once(urb)
    expect(urb.status == -Errno.EPIPE, f"halted endpoint: {_status(urb.status)}, "
                                       "expected -32 (-EPIPE)")
    rc = await usb_clear_halt(b.udev, make_pipe(b.udev, PIPE_BULK, 2, True))
    expect(rc == 0, f"usb_clear_halt: {_status(rc)}")
    ep = b.model.endpoint(HALT_IN)
    assert ep is not None
    ep.write(b"ok")
    after = b.urb(PIPE_BULK, HALT_IN, MAXP, "after")
    b.submit(after)
    await b.drain()
    expect(after.status == 0 and after.actual_length == 2,
           f"after clear-halt: status {_status(after.status)}, expected 0 with 2 bytes")


async def check_control(b: Bench) -> None:
    """Control transfers: an answered request returns its data; a refused one is -EPIPE
    and endpoint 0 goes on working."""
    pipe_in = make_pipe(b.udev, PIPE_CONTROL, 0, True)
    pipe_out = make_pipe(b.udev, PIPE_CONTROL, 0, False)
    buf = bytearray(8)
    n = await usb_control_msg(b.udev, pipe_in, 0x01, 0xC0, 0, 0, buf, 8, 1000)
    expect(n == 2 and bytes(buf[:2]) == b"ok", f"vendor IN request: {n}, {bytes(buf[:n])!r}")
    rc = await usb_control_msg(b.udev, pipe_out, 0x02, 0x40, 0, 0, None, 0, 1000)
    expect(rc == -Errno.EPIPE, f"refused request: {_status(rc)}, expected -32 (-EPIPE)")
    n = await usb_control_msg(b.udev, pipe_in, 0x01, 0xC0, 0, 0, buf, 8, 1000)
    expect(n == 2, f"endpoint 0 after a STALL: {_status(n)}, expected 2 bytes")


async def check_unplug_in_flight(b: Bench) -> None:
    """URBs in flight when the device is unplugged each complete once with an error."""
    urbs = [b.urb(PIPE_BULK, BULK_IN, MAXP, f"u{n}") for n in range(3)]
    for urb in urbs:
        b.submit(urb)
    await b.drain()
    b.system.unplug(b.udev.name)
    await b.system.asettle()
    await b.drain(20)
    b.once(*urbs)
    statuses = [u.status for u in urbs]
    expect(all(s in UNPLUG_STATUSES for s in statuses),
           f"statuses after unplug {[_status(s) for s in statuses]}: expected errors such as "
           "-71 (-EPROTO) or -108 (-ESHUTDOWN)")


async def check_interrupt_interval(b: Bench) -> None:
    """An interrupt URB resubmitted from its completion is serviced no more often than the
    endpoint's interval (8 ms here)."""
    times: list[float] = []
    loop = asyncio.get_running_loop()

    def again(u: Urb) -> None:
        times.append(loop.time())
        if len(times) < 10:
            usb_submit_urb(u)

    urb = b.urb(PIPE_INTERRUPT, INT_IN, 4, "int", on_complete=again)
    urb.interval = 1 << 6  # microframes, as usb_fill_int_urb computes it from bInterval 7
    b.submit(urb)
    await b.drain(200)
    expect(len(times) == 10, f"{len(times)} interrupt completions in 200 ms, expected 10")
    gaps = [round((later - earlier) * 1000, 3) for earlier, later in pairwise(times)]
    expect(all(gap >= INT_INTERVAL_MS - 1e-6 for gap in gaps),
           f"interrupt completions {gaps} ms apart, expected at least {INT_INTERVAL_MS} ms")
    expect(urb.status == 0, f"interrupt URB: status {_status(urb.status)}")


async def check_isochronous(b: Bench) -> None:
    """Isochronous IN URBs of 4 packets each, queued back to back: status 0, every
    packet's status and length, and each URB one interval per packet after the one before
    (8 microframes here)."""
    loop = asyncio.get_running_loop()
    done: list[float] = []
    urbs = []
    for n in range(3):
        urb = b.urb(PIPE_ISOCHRONOUS, ISO_IN, 4 * ISO_PACKET, f"iso{n}", iso_packets=4,
                    on_complete=lambda u: done.append(loop.time()))
        urb.interval = 8
        urb.transfer_flags |= UrbFlag.ISO_ASAP
        for i, packet in enumerate(urb.iso_frame_desc):
            packet.offset, packet.length = i * ISO_PACKET, ISO_PACKET
        b.submit(urb)
        urbs.append(urb)
    await b.drain(30)
    b.once(*urbs)
    expect(b.order == ["iso0", "iso1", "iso2"], f"isochronous completion order {b.order}")
    for urb in urbs:
        expect(urb.status == 0, f"isochronous URB: status {_status(urb.status)}")
        bad = [(p.status, p.actual_length) for p in urb.iso_frame_desc
               if p.status or p.actual_length != ISO_PACKET]
        expect(not bad, f"isochronous packets (status, length) {bad}, expected (0, 64) each")
        expect(urb.actual_length == 4 * ISO_PACKET and urb.error_count == 0,
               f"actual_length {urb.actual_length}, error_count {urb.error_count}")
    gaps = [round((later - earlier) * 1000, 6) for earlier, later in pairwise(done)]
    expect(all(gap >= 4 - 1e-6 for gap in gaps),
           f"isochronous URBs completed {gaps} ms apart, expected at least 4 ms (4 packets "
           "at 1 ms)")


CHECKS: Final[tuple[tuple[str, Check], ...]] = (
    ("bulk status and data", check_bulk_status),
    ("short packet with URB_SHORT_NOT_OK", check_short_not_ok),
    ("babble", check_babble),
    ("zero-length packets", check_zero_packet),
    ("completion order on one endpoint", check_order),
    ("synchronous message behind an asynchronous URB", check_sync_after_async),
    ("unlink", check_unlink),
    ("kill", check_kill),
    ("halt and clear-halt", check_halt),
    ("control transfers and STALL", check_control),
    ("unplug with URBs in flight", check_unplug_in_flight),
    ("interrupt interval", check_interrupt_interval),
    ("isochronous packets", check_isochronous),
)
"""Every check of the suite, with the name the report gives it."""


# -- running the suite ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome: `error` is None when it passed, else what went wrong."""

    name: str
    error: str | None


@dataclass(frozen=True, slots=True)
class ConformanceReport:
    """The suite's results for one controller kind."""

    kind: str
    results: tuple[CheckResult, ...]

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.error is not None]

    def text(self) -> str:
        """A report a person can read: one line per check, failures explained."""
        lines = [f"host controller kind {self.kind!r}: "
                 f"{len(self.results) - len(self.failures)} of {len(self.results)} checks "
                 "passed"]
        for result in self.results:
            mark = "ok  " if result.error is None else "FAIL"
            lines.append(f"  {mark} {result.name}")
            if result.error is not None:
                lines.append(f"       {result.error}")
        return "\n".join(lines)


class ConformanceError(AssertionError):
    """A controller kind failed the conformance suite; the message is the report."""

    def __init__(self, report: ConformanceReport) -> None:
        super().__init__(report.text())
        self.report = report


Kind = str | type[HostController]


def _machine(kind: Kind, options: dict[str, Any]) -> tuple[System, UsbDevice,
                                                           ConformanceDevice]:
    system = System()
    system.boot()
    hcd = system.add_controller(kind, **options)
    assert hcd.bus is not None
    model = ConformanceDevice()
    path = f"{hcd.bus.busnum}-1"
    system.plug(model, path)
    system.settle()
    udev = system.find_device(path)
    if udev is None or udev.actconfig is None:
        system.close()
        raise CheckFailed(f"the conformance device did not enumerate on {path} (dmesg:\n"
                          f"{system.dmesg()})")
    return system, udev, model


def _run_one(kind: Kind, options: dict[str, Any], check: Check) -> str | None:
    try:
        system, udev, model = _machine(kind, options)
    except CheckFailed as exc:
        return str(exc)
    bench = Bench(system, udev, model)
    try:
        system.run(asyncio.wait_for(check(bench), CHECK_TIMEOUT_S))
    except CheckFailed as exc:
        return str(exc)
    except TimeoutError:
        return f"did not finish within {CHECK_TIMEOUT_S:g} s of machine time"
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"
    finally:
        system.close()
    trouble = [line for line in system.log.lines()
               if "BUG:" in line or "shutdown did not finish" in line]
    return f"the machine logged: {trouble[0]}" if trouble else None


def run_conformance(kind: Kind, **options: Any) -> ConformanceReport:
    """Run every check on controller `kind` (a registered kind's name, or a HostController
    subclass) with `options` for System.add_controller; returns the report.  Context: from
    outside any machine's loop (each check runs its own machine)."""
    name = kind if isinstance(kind, str) else f"{kind.__module__}.{kind.__qualname__}"
    results = tuple(CheckResult(label, _run_one(kind, options, check))
                    for label, check in CHECKS)
    return ConformanceReport(name, results)


def check_host_controller(kind: Kind, **options: Any) -> None:
    """Run the conformance suite on `kind`; raises ConformanceError (an AssertionError)
    whose message is the report when any check fails.  Context: as run_conformance."""
    report = run_conformance(kind, **options)
    if report.failures:
        raise ConformanceError(report)
