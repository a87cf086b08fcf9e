"""URBs (usbemu.core.urb with the HCD framework and the in-process controller) against
Linux 6.12's drivers/usb/core/urb.c and hcd.c: usb_submit_urb's checks in their order and
with their codes (reference §4.4), completion exactly once in atomic context, the status
codes of §4.6, unlink/kill/poison and anchors (§4.7), endpoint queues that stop after an
error, isochronous packets, and interrupt polling in virtual time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from usbemu.core.message import usb_control_msg, usb_set_interface
from usbemu.core.urb import (
    INT_MAX,
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    PIPE_ISOCHRONOUS,
    Urb,
    UrbFlag,
    UsbAnchor,
    make_pipe,
    usb_block_urb,
    usb_kill_urb,
    usb_poison_urb,
    usb_submit_urb,
    usb_unlink_urb,
    usb_unpoison_urb,
)
from usbemu.core.usb import UsbDevice
from usbemu.emulated.device import DeviceModel, endpoint_in, endpoint_out
from usbemu.emulated.endpoint import Endpoint
from usbemu.emulated.models.zero import GadgetZero, pattern_bytes
from usbemu.errors import Errno
from usbemu.kernel.printk import Level
from usbemu.spec.ch9 import DeviceState, SetupPacket, Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.system import System

BULK_IN, BULK_OUT, INT_POLL, INT_NAK, BULK_MAXP0, ISO_IN = 0x81, 0x02, 0x83, 0x84, 0x05, 0x86


def probe_descriptor(speed: Speed, int_interval: int) -> DeviceDescriptor:
    """A vendor-specific device: bulk IN/OUT, an interrupt IN that always has a report,
    one that always NAKs, a bulk OUT with wMaxPacketSize 0 and an isochronous IN (maxp 0
    in altsetting 0 is legal for isochronous endpoints; altsetting 1 gives it 64 bytes)."""
    bulk = 512 if speed == Speed.HIGH else 64
    endpoints = (EndpointDescriptor.bulk(BULK_IN, bulk), EndpointDescriptor.bulk(BULK_OUT, bulk),
                 EndpointDescriptor.interrupt(INT_POLL, 8, int_interval),
                 EndpointDescriptor.interrupt(INT_NAK, 8, int_interval),
                 EndpointDescriptor.bulk(BULK_MAXP0, 0))
    return DeviceDescriptor(
        0x1234, 0x5678, bDeviceClass=0xFF, bcdUSB=0x0200 if speed == Speed.HIGH else 0x0110,
        configurations=(ConfigDescriptor(interfaces=(
            InterfaceDescriptor(0xFF, endpoints=(*endpoints,
                                                 EndpointDescriptor.isochronous(ISO_IN, 0, 1))),
            InterfaceDescriptor(0xFF, endpoints=(*endpoints,
                                                 EndpointDescriptor.isochronous(ISO_IN, 64, 1)),
                                bAlternateSetting=1))),))


class Probe(DeviceModel):
    """The device above: bulk IN serves what the test queues (NAK when empty), bulk OUT
    records each packet, interrupt 0x83 always answers with a 4-byte report, 0x84 never."""

    descriptor: ClassVar[DeviceDescriptor] = probe_descriptor(Speed.FULL, 1)

    def __init__(self, speed: Speed = Speed.FULL, int_interval: int = 1) -> None:
        super().__init__(probe_descriptor(speed, int_interval), speed=speed)
        self.packets: list[bytes] = []
        self.polls = 0

    @endpoint_out(BULK_OUT, packets=True)
    def _sink(self, ep: Endpoint, data: memoryview) -> None:
        self.packets.append(bytes(data))

    @endpoint_in(INT_POLL)
    def _report(self, ep: Endpoint, room: int) -> bytes:
        self.polls += 1
        return self.polls.to_bytes(4, "little")

    @endpoint_in(INT_NAK)
    def _silent(self, ep: Endpoint, room: int) -> None:
        return None

    def queue_in(self, data: bytes) -> None:
        ep = self.endpoint(BULK_IN)
        assert ep is not None
        ep.write(data)


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


def attach(system: System, model: DeviceModel, path: str = "1-1") -> UsbDevice:
    system.plug(model, path)
    system.settle()
    udev = system.find_device(path)
    assert udev is not None and udev.state is DeviceState.CONFIGURED
    return udev


@pytest.fixture
def probe(system: System) -> Probe:
    return Probe()


@pytest.fixture
def udev(system: System, probe: Probe) -> UsbDevice:
    return attach(system, probe)


class Recorder:
    """A completion handler that records (status, actual_length) per call and whether an
    asyncio task was current (it must not be: completions run in atomic context)."""

    def __init__(self, then: Callable[[Urb], None] | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.in_task: list[bool] = []
        self.then = then

    def __call__(self, urb: Urb) -> None:
        self.calls.append((urb.status, urb.actual_length))
        try:
            self.in_task.append(asyncio.current_task() is not None)
        except RuntimeError:
            self.in_task.append(False)
        if self.then is not None:
            self.then(urb)

    @property
    def statuses(self) -> list[int]:
        return [status for status, _ in self.calls]


def bulk_urb(dev: UsbDevice, address: int, length: int, complete: Callable[[Urb], None],
             buffer: Any = None) -> Urb:
    is_in = bool(address & 0x80)
    buf = buffer if buffer is not None else (bytearray(length) if is_in else bytes(length))
    return Urb().fill_bulk(dev, make_pipe(dev, PIPE_BULK, address & 0xF, is_in), buf, length,
                           complete)


def int_urb(dev: UsbDevice, address: int, complete: Callable[[Urb], None],
            interval: int) -> Urb:
    return Urb().fill_int(dev, make_pipe(dev, PIPE_INTERRUPT, address & 0xF, True),
                          bytearray(8), 8, complete, None, interval)


def get_status_urb(dev: UsbDevice, complete: Callable[[Urb], None]) -> Urb:
    setup = SetupPacket(0x80, 0, 0, 0, 2)  # GET_STATUS(device)
    return Urb().fill_control(dev, make_pipe(dev, PIPE_CONTROL, 0, True), setup, bytearray(2),
                              2, complete)


def dmesg_warnings(system: System) -> list[str]:
    return [r.text for r in system.log.records() if r.level == Level.WARNING]


# -- usb_submit_urb: the checks, in order -----------------------------------------------------


def _unconfigured(urb: Urb) -> None:
    assert urb.dev is not None
    urb.dev.state = DeviceState.ADDRESS


def _not_attached(urb: Urb) -> None:
    assert urb.dev is not None
    urb.dev.state = DeviceState.NOTATTACHED


def _busy(urb: Urb) -> None:
    urb.hcpriv = object()  # what an HCD leaves on a URB it owns


def _no_setup(urb: Urb) -> None:
    urb.pipe = make_pipe(urb.dev, PIPE_CONTROL, 0, True)  # type: ignore[arg-type]


def _missing_endpoint(urb: Urb) -> None:
    urb.pipe = make_pipe(urb.dev, PIPE_BULK, 7, True)  # type: ignore[arg-type]


def _maxp0(urb: Urb) -> None:
    urb.pipe = make_pipe(urb.dev, PIPE_BULK, BULK_MAXP0, False)  # type: ignore[arg-type]
    urb.transfer_buffer = bytes(urb.transfer_buffer_length)


def _huge(urb: Urb) -> None:
    urb.transfer_buffer_length = INT_MAX + 1


def _interrupt(interval: int) -> Callable[[Urb], None]:
    def mutate(urb: Urb) -> None:
        urb.pipe = make_pipe(urb.dev, PIPE_INTERRUPT, INT_NAK, True)  # type: ignore[arg-type]
        urb.interval = interval
    return mutate


def _killing(urb: Urb) -> None:
    usb_block_urb(urb)


def _hc_stopped(urb: Urb) -> None:
    assert urb.dev is not None
    urb.dev.usb_bus.hcd.running = False


def _ep_disabled(urb: Urb) -> None:
    assert urb.dev is not None
    hep = urb.dev.endpoint(BULK_IN)
    assert hep is not None
    hep.enabled = False


def _no_complete(urb: Urb) -> None:
    urb.complete = None


def _no_dev(urb: Urb) -> None:
    urb.dev = None


SUBMIT_CASES: list[tuple[str, list[Callable[[Urb], None]], int]] = [
    ("no completion handler", [_no_complete], -Errno.EINVAL),
    ("no completion beats no device", [_no_dev, _no_complete], -Errno.EINVAL),
    ("already queued", [_busy], -Errno.EBUSY),
    ("queued beats no device", [_no_dev, _busy], -Errno.EBUSY),
    ("no device", [_no_dev], -Errno.ENODEV),
    ("device not attached", [_not_attached], -Errno.ENODEV),
    ("not attached beats no endpoint", [_missing_endpoint, _not_attached], -Errno.ENODEV),
    ("no endpoint for the pipe", [_missing_endpoint], -Errno.ENOENT),
    ("control without setup packet", [_no_setup], -Errno.ENOEXEC),
    ("unconfigured device, data endpoint", [_unconfigured], -Errno.ENODEV),
    ("unconfigured beats maxpacket 0", [_maxp0, _unconfigured], -Errno.ENODEV),
    ("maxpacket 0", [_maxp0], -Errno.EMSGSIZE),
    ("length above INT_MAX", [_huge], -Errno.EMSGSIZE),
    ("interval 0", [_interrupt(0)], -Errno.EINVAL),
    ("full-speed interrupt interval 256", [_interrupt(256)], -Errno.EINVAL),
    ("length checked before interval", [_interrupt(0), _huge], -Errno.EMSGSIZE),
    ("interval checked before the kill flag", [_interrupt(0), _killing], -Errno.EINVAL),
    ("being killed", [_killing], -Errno.EPERM),
    ("killed beats a disabled endpoint", [_ep_disabled, _killing], -Errno.EPERM),
    ("endpoint disabled", [_ep_disabled], -Errno.ENOENT),
    ("disabled beats a stopped controller", [_hc_stopped, _ep_disabled], -Errno.ENOENT),
    ("controller not running", [_hc_stopped], -Errno.ESHUTDOWN),
]


@pytest.mark.parametrize(("mutations", "expected"), [c[1:] for c in SUBMIT_CASES],
                         ids=[c[0] for c in SUBMIT_CASES])
def test_submit_checks_in_linux_order(system: System, udev: UsbDevice,
                                      mutations: list[Callable[[Urb], None]],
                                      expected: int) -> None:
    done = Recorder()
    urb = bulk_urb(udev, BULK_IN, 64, done)
    for mutate in mutations:
        mutate(urb)
    assert usb_submit_urb(urb) == expected
    system.sleep(5)
    assert done.calls == []  # a refused URB never completes
    assert urb.use_count == 0


def test_submit_none_is_einval() -> None:
    assert usb_submit_urb(None) == -Errno.EINVAL


def test_status_is_set_only_once_the_endpoint_is_found(system: System, udev: UsbDevice) -> None:
    """urb->status = -EINPROGRESS and actual_length = 0 come right after the endpoint
    lookup: a URB refused for its pipe keeps its old values, one refused later does not."""
    urb = bulk_urb(udev, BULK_IN, 64, Recorder())
    urb.status, urb.actual_length = 7, 9
    _missing_endpoint(urb)
    assert usb_submit_urb(urb) == -Errno.ENOENT
    assert (urb.status, urb.actual_length) == (7, 9)
    _no_setup(urb)
    assert usb_submit_urb(urb) == -Errno.ENOEXEC
    assert (urb.status, urb.actual_length) == (-Errno.EINPROGRESS, 0)


def test_control_wlength_must_match_the_buffer(system: System, udev: UsbDevice) -> None:
    done = Recorder()
    urb = Urb().fill_control(udev, make_pipe(udev, PIPE_CONTROL, 0, True),
                             SetupPacket(0x80, 0, 0, 0, 2), bytearray(4), 4, done)
    assert usb_submit_urb(urb) == -Errno.EBADR
    urb.transfer_buffer_length = 2
    assert usb_submit_urb(urb) == 0
    system.sleep(1)
    assert done.calls == [(0, 2)]


def test_control_direction_mismatch_only_warns_once(system: System, udev: UsbDevice) -> None:
    """A GET_STATUS sent on an OUT control pipe: dev_WARN_ONCE, and the request still runs
    in the direction bRequestType gives."""
    done = Recorder()
    for _ in range(2):
        urb = Urb().fill_control(udev, make_pipe(udev, PIPE_CONTROL, 0, False),
                                 SetupPacket(0x80, 0, 0, 0, 2), bytearray(2), 2, done)
        assert usb_submit_urb(urb) == 0
        system.sleep(1)
    pipe = make_pipe(udev, PIPE_CONTROL, 0, False)
    warning = f"usb 1-1: BOGUS control dir, pipe {pipe:x} doesn't match bRequestType 80"
    assert dmesg_warnings(system).count(warning) == 1
    assert done.calls == [(0, 2), (0, 2)]


def test_iso_packet_checks(system: System) -> None:
    """-EINVAL without packets; -EMSGSIZE for a packet above maxpacket × mult, with the
    packets before it preset to -EXDEV and the ones after untouched."""
    zero = GadgetZero()
    udev = attach(system, zero)
    assert system.run(usb_set_interface(udev, 0, 1)) == 0
    done = Recorder()
    pipe = make_pipe(udev, PIPE_ISOCHRONOUS, 3, True)
    empty = Urb(0)
    empty.fill_bulk(udev, pipe, bytearray(0), 0, done)
    empty.interval = 8
    assert usb_submit_urb(empty) == -Errno.EINVAL

    urb = Urb(3)
    urb.fill_bulk(udev, pipe, bytearray(4096), 4096, done)
    urb.interval, urb.transfer_flags = 8, UrbFlag.ISO_ASAP
    for i, length in enumerate((1024, 1025, 1024)):
        urb.iso_frame_desc[i].offset, urb.iso_frame_desc[i].length = i * 1024, length
        urb.iso_frame_desc[i].status = 99
    assert usb_submit_urb(urb) == -Errno.EMSGSIZE
    assert [p.status for p in urb.iso_frame_desc] == [-Errno.EXDEV, 99, 99]
    urb.iso_frame_desc[1].length = 1024
    assert usb_submit_urb(urb) == 0
    system.sleep(10)
    assert done.statuses == [0]


@pytest.mark.parametrize(("speed", "xfer", "interval", "normalised"), [
    (Speed.FULL, PIPE_INTERRUPT, 10, 8),
    (Speed.FULL, PIPE_INTERRUPT, 255, 128),
    (Speed.FULL, PIPE_INTERRUPT, 1, 1),
    (Speed.FULL, PIPE_ISOCHRONOUS, 5000, 1024),
    (Speed.FULL, PIPE_ISOCHRONOUS, 3, 2),
    (Speed.HIGH, PIPE_INTERRUPT, 100, 64),
    (Speed.HIGH, PIPE_INTERRUPT, 20000, 8192),
    (Speed.HIGH, PIPE_INTERRUPT, 300, 256),
])
def test_interval_normalisation(system: System, speed: Speed, xfer: int, interval: int,
                                normalised: int) -> None:
    """Rounded down to a power of two, at most 128 frames (FS interrupt), 1024 frames (FS
    isochronous) or 8192 microframes (high speed, where larger values are clamped)."""
    probe = Probe(speed)
    udev = attach(system, probe)
    if xfer == PIPE_ISOCHRONOUS:
        assert system.run(usb_set_interface(udev, 0, 1)) == 0
        urb = Urb(1)
        urb.fill_bulk(udev, make_pipe(udev, PIPE_ISOCHRONOUS, ISO_IN & 0xF, True),
                      bytearray(64), 64, Recorder())
        urb.iso_frame_desc[0].length = 64
    else:
        urb = int_urb(udev, INT_NAK, Recorder(), 1)
    urb.interval = interval
    assert usb_submit_urb(urb) == 0
    assert urb.interval == normalised
    system.run(usb_kill_urb(urb))


def test_fill_int_urb_converts_bInterval_at_high_speed(system: System) -> None:
    udev = attach(system, Probe(Speed.HIGH))
    assert int_urb(udev, INT_NAK, Recorder(), 4).interval == 8    # 2^(4-1) microframes
    assert int_urb(udev, INT_NAK, Recorder(), 20).interval == 1 << 15  # bInterval clamped to 16
    full = attach(system, Probe(Speed.FULL), "1-2")
    assert int_urb(full, INT_NAK, Recorder(), 4).interval == 4


def test_bogus_flags_and_pipe_type_warn_but_submit(system: System, udev: UsbDevice,
                                                   probe: Probe) -> None:
    """Linux's dev_WARNs: the values are printed in hex (flags; PIPE_* numbers) and the URB
    goes ahead unchanged."""
    done = Recorder()
    urb = bulk_urb(udev, BULK_IN, 64, done)
    urb.transfer_flags = UrbFlag.ZERO_PACKET | UrbFlag.ISO_ASAP  # OUT-only, ISO-only
    probe.queue_in(b"x" * 64)
    assert usb_submit_urb(urb) == 0
    assert urb.transfer_flags == UrbFlag.ZERO_PACKET | UrbFlag.ISO_ASAP | UrbFlag.DIR_IN
    system.sleep(1)
    assert done.calls == [(0, 64)]

    urb = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, INT_POLL & 0xF, True), bytearray(8),
                          8, done)  # a bulk pipe to an interrupt endpoint
    urb.interval = 1
    assert usb_submit_urb(urb) == 0
    system.sleep(5)
    assert dmesg_warnings(system) == ["usb 1-1: BOGUS urb flags, 242 --> 200",
                                      "usb 1-1: BOGUS urb xfer, pipe 3 != type 1"]
    assert done.calls[1][0] == 0


def test_bogus_short_not_ok_on_out_still_applies(system: System, udev: UsbDevice) -> None:
    """URB_SHORT_NOT_OK is only "allowed" on IN, but Linux keeps the flag (warning) and
    __usb_hcd_giveback_urb applies it without looking at the direction."""
    done = Recorder()
    urb = bulk_urb(udev, BULK_OUT, 64, done)
    urb.transfer_flags = UrbFlag.SHORT_NOT_OK
    assert usb_submit_urb(urb) == 0
    system.sleep(1)
    assert done.calls == [(0, 64)]
    assert "usb 1-1: BOGUS urb flags, 1 --> 0" in dmesg_warnings(system)


# -- completion: exactly once, later, in atomic context ---------------------------------------


def test_completion_runs_once_after_submit_returned(system: System, udev: UsbDevice,
                                                    probe: Probe) -> None:
    """The device answers at once, yet the handler does not run inside usb_submit_urb's
    call stack, and it runs outside any task (atomic context)."""
    probe.queue_in(b"hello")
    order: list[str] = []
    done = Recorder(lambda urb: order.append("complete"))
    urb = bulk_urb(udev, BULK_IN, 64, done)

    async def submit() -> None:
        assert usb_submit_urb(urb) == 0
        order.append("submit returned")
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    system.run(submit())
    system.sleep(10)
    assert order == ["submit returned", "complete"]
    assert done.calls == [(0, 5)]
    assert done.in_task == [False]
    assert bytes(urb.transfer_buffer[:5]) == b"hello"
    assert urb.hcpriv is None and urb.use_count == 0


def test_short_read_with_short_not_ok_is_eremoteio(system: System, udev: UsbDevice,
                                                   probe: Probe) -> None:
    done = Recorder()
    probe.queue_in(b"12345")
    strict = bulk_urb(udev, BULK_IN, 64, done)
    strict.transfer_flags = UrbFlag.SHORT_NOT_OK
    assert usb_submit_urb(strict) == 0
    probe.queue_in(b"12345")
    assert usb_submit_urb(bulk_urb(udev, BULK_IN, 64, done)) == 0
    probe.queue_in(b"x" * 64)
    full = bulk_urb(udev, BULK_IN, 64, done)
    full.transfer_flags = UrbFlag.SHORT_NOT_OK
    assert usb_submit_urb(full) == 0
    system.sleep(5)
    assert done.calls == [(-Errno.EREMOTEIO, 5), (0, 5), (0, 64)]


def test_stall_is_epipe(system: System, udev: UsbDevice, probe: Probe) -> None:
    ep = probe.endpoint(BULK_IN)
    assert ep is not None
    ep.halt()
    done = Recorder()
    assert usb_submit_urb(bulk_urb(udev, BULK_IN, 64, done)) == 0
    system.sleep(1)
    assert done.calls == [(-Errno.EPIPE, 0)]


def test_babble_is_eoverflow(system: System, udev: UsbDevice, probe: Probe) -> None:
    """The device sends a full 64-byte packet into a 10-byte buffer."""
    probe.queue_in(bytes(range(64)))
    done = Recorder()
    urb = bulk_urb(udev, BULK_IN, 10, done)
    assert usb_submit_urb(urb) == 0
    system.sleep(1)
    assert done.statuses == [-Errno.EOVERFLOW]
    assert bytes(urb.transfer_buffer) == bytes(range(10))


@pytest.mark.parametrize(("flags", "length", "packets"), [
    (UrbFlag.ZERO_PACKET, 128, [64, 64, 0]),
    (0, 128, [64, 64]),
    (UrbFlag.ZERO_PACKET, 100, [64, 36]),
])
def test_zero_packet_flag(system: System, udev: UsbDevice, probe: Probe, flags: int,
                          length: int, packets: list[int]) -> None:
    done = Recorder()
    urb = bulk_urb(udev, BULK_OUT, length, done)
    urb.transfer_flags = flags
    assert usb_submit_urb(urb) == 0
    system.sleep(1)
    assert done.calls == [(0, length)]
    assert [len(p) for p in probe.packets] == packets


# -- unlink, kill, poison ---------------------------------------------------------------------


def test_unlink_is_asynchronous(system: System, udev: UsbDevice) -> None:
    done = Recorder()
    urb = bulk_urb(udev, BULK_IN, 64, done)  # the device NAKs: the URB stays queued
    assert usb_submit_urb(urb) == 0
    system.sleep(3)
    assert usb_unlink_urb(urb) == -Errno.EINPROGRESS
    assert done.calls == []  # not from inside usb_unlink_urb
    assert usb_unlink_urb(urb) == -Errno.EBUSY  # already being unlinked
    system.sleep(1)
    assert done.calls == [(-Errno.ECONNRESET, 0)]
    assert usb_unlink_urb(urb) == -Errno.EIDRM  # completed: nothing to unlink
    hep = udev.endpoint(BULK_IN)
    assert hep is not None and len(hep.urb_list) == 0


def test_unlink_argument_checks(system: System, udev: UsbDevice) -> None:
    assert usb_unlink_urb(None) == -Errno.EINVAL
    assert usb_unlink_urb(Urb()) == -Errno.ENODEV
    assert usb_unlink_urb(bulk_urb(udev, BULK_IN, 64, Recorder())) == -Errno.EIDRM


def test_kill_waits_for_the_handler_and_refuses_resubmission(system: System,
                                                             udev: UsbDevice) -> None:
    resubmits: list[int] = []
    done = Recorder(lambda urb: resubmits.append(usb_submit_urb(urb)))
    urb = bulk_urb(udev, BULK_IN, 64, done)
    assert usb_submit_urb(urb) == 0

    async def kill() -> list[tuple[int, int]]:
        await usb_kill_urb(urb)
        return list(done.calls)  # what had happened when usb_kill_urb returned

    assert system.run(kill()) == [(-Errno.ENOENT, 0)]
    assert resubmits == [-Errno.EPERM]
    assert urb.reject == 0 and urb.use_count == 0
    done.then = None
    assert usb_submit_urb(urb) == 0  # after the kill, the URB may be used again
    system.run(usb_kill_urb(urb))
    assert done.statuses == [-Errno.ENOENT, -Errno.ENOENT]


def test_kill_of_an_idle_urb_returns_at_once(system: System, udev: UsbDevice,
                                             probe: Probe) -> None:
    done = Recorder()
    urb = bulk_urb(udev, BULK_IN, 64, done)
    system.run(usb_kill_urb(None))
    system.run(usb_kill_urb(urb))  # never submitted
    probe.queue_in(b"data")
    assert usb_submit_urb(urb) == 0
    system.sleep(1)
    start = system.time()
    system.run(usb_kill_urb(urb))  # completed already
    assert system.time() == start
    assert done.calls == [(0, 4)]


def test_poison_and_unpoison(system: System, udev: UsbDevice) -> None:
    done = Recorder()
    urb = bulk_urb(udev, BULK_IN, 64, done)
    assert usb_submit_urb(urb) == 0
    system.run(usb_poison_urb(urb))
    assert done.statuses == [-Errno.ENOENT]
    assert usb_submit_urb(urb) == -Errno.EPERM
    assert usb_submit_urb(urb) == -Errno.EPERM
    usb_unpoison_urb(urb)
    assert usb_submit_urb(urb) == 0
    system.run(usb_kill_urb(urb))
    assert done.statuses == [-Errno.ENOENT, -Errno.ENOENT]


def test_poison_of_an_idle_urb_still_blocks_it(system: System, udev: UsbDevice) -> None:
    urb = bulk_urb(udev, BULK_IN, 64, Recorder())
    system.run(usb_poison_urb(urb))
    assert usb_submit_urb(urb) == -Errno.EPERM
    usb_unpoison_urb(urb)
    assert usb_submit_urb(urb) == 0
    system.run(usb_kill_urb(urb))


# -- anchors ----------------------------------------------------------------------------------


def anchored(udev: UsbDevice, anchor: UsbAnchor, count: int,
             done: Recorder) -> list[Urb]:
    urbs = []
    for _ in range(count):
        urb = bulk_urb(udev, BULK_IN, 64, done)
        anchor.anchor(urb)
        assert usb_submit_urb(urb) == 0
        urbs.append(urb)
    return urbs


def test_kill_anchored_urbs_newest_first(system: System, udev: UsbDevice) -> None:
    anchor = UsbAnchor()
    order: list[int] = []
    done = Recorder(lambda urb: order.append(urbs.index(urb)))
    urbs = anchored(udev, anchor, 3, done)
    system.run(anchor.kill_all())
    assert len(anchor) == 0
    assert done.statuses == [-Errno.ENOENT] * 3
    assert order == [2, 1, 0]


def test_unlink_anchored_urbs_empties_the_anchor_at_once(system: System,
                                                         udev: UsbDevice) -> None:
    anchor = UsbAnchor()
    done = Recorder()
    urbs = anchored(udev, anchor, 3, done)
    anchor.unlink_all()
    assert len(anchor) == 0 and all(u.anchor is None for u in urbs)
    assert done.calls == []
    system.sleep(1)
    assert done.statuses == [-Errno.ECONNRESET] * 3


def test_anchor_is_left_before_the_handler_runs(system: System, udev: UsbDevice,
                                                probe: Probe) -> None:
    anchor = UsbAnchor()
    seen: list[object] = []
    done = Recorder(lambda urb: seen.append((urb.anchor, len(anchor))))
    probe.queue_in(b"ok")
    anchored(udev, anchor, 1, done)
    system.sleep(1)
    assert seen == [(None, 0)]


def test_wait_anchor_empty_timeout(system: System, udev: UsbDevice, probe: Probe) -> None:
    anchor = UsbAnchor()
    anchored(udev, anchor, 2, Recorder())

    async def wait(timeout_ms: int) -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        result = await anchor.wait_empty(timeout_ms)
        return result, loop.time() - start

    result, elapsed = system.run(wait(250))
    assert result is False
    assert elapsed == pytest.approx(0.250, abs=1e-6)

    async def feed_later() -> None:
        await asyncio.sleep(0.040)
        probe.queue_in(b"a")
        probe.queue_in(b"b")

    async def wait_while_fed() -> tuple[bool, float]:
        feeder = asyncio.ensure_future(feed_later())
        outcome = await wait(1000)
        await feeder
        return outcome

    result, elapsed = system.run(wait_while_fed())
    assert result is True
    assert elapsed == pytest.approx(0.040, abs=0.002)
    assert system.run(anchor.wait_empty(0)) is True


def test_several_waiters_on_one_anchor(system: System, udev: UsbDevice,
                                       probe: Probe) -> None:
    anchor = UsbAnchor()
    anchored(udev, anchor, 1, Recorder())

    async def scenario() -> list[bool]:
        waits = [asyncio.ensure_future(anchor.wait_empty(timeout)) for timeout in (50, 500)]
        await asyncio.sleep(0.1)
        probe.queue_in(b"done")
        return list(await asyncio.gather(*waits))

    assert system.run(scenario()) == [False, True]


def test_get_from_anchor_takes_the_oldest(system: System, udev: UsbDevice) -> None:
    anchor = UsbAnchor()
    urbs = anchored(udev, anchor, 3, Recorder())
    assert anchor.get_urb() is urbs[0]
    assert urbs[0].anchor is None and len(anchor) == 2
    assert anchor.get_urb() is urbs[1]
    system.run(anchor.kill_all())
    assert anchor.get_urb() is None
    system.run(usb_kill_urb(urbs[0]))
    system.run(usb_kill_urb(urbs[1]))


def test_poisoned_anchor_refuses_new_urbs(system: System, udev: UsbDevice) -> None:
    anchor = UsbAnchor()
    done = Recorder()
    anchored(udev, anchor, 1, done)
    system.run(anchor.poison_all())
    urb = bulk_urb(udev, BULK_IN, 64, done)
    anchor.anchor(urb)
    assert usb_submit_urb(urb) == -Errno.EPERM
    anchor.unpoison_all()
    assert usb_submit_urb(urb) == 0
    system.run(anchor.kill_all())
    assert done.statuses == [-Errno.ENOENT, -Errno.ENOENT]


# -- endpoint queues after an error -----------------------------------------------------------


def test_queue_waits_for_the_failed_urbs_handler(system: System, udev: UsbDevice,
                                                 probe: Probe) -> None:
    """URBs queued behind a STALLed one are not moved until its completion handler has
    returned: here the handler sees the next URB untouched, then lets the device recover,
    and the next URB succeeds."""
    ep = probe.endpoint(BULK_IN)
    assert ep is not None
    ep.halt()
    seen: list[int] = []

    def recover(urb: Urb) -> None:
        if urb is first:
            seen.append(second.status)
            ep.clear_halt()
            probe.queue_in(b"after")

    done = Recorder(recover)
    first = bulk_urb(udev, BULK_IN, 64, done)
    second = bulk_urb(udev, BULK_IN, 64, done)
    assert usb_submit_urb(first) == 0
    assert usb_submit_urb(second) == 0
    system.sleep(5)
    assert seen == [-Errno.EINPROGRESS]
    assert done.calls == [(-Errno.EPIPE, 0), (0, 5)]


def test_failed_urbs_handler_can_unlink_the_rest(system: System, udev: UsbDevice,
                                                 probe: Probe) -> None:
    ep = probe.endpoint(BULK_IN)
    assert ep is not None
    ep.halt()
    unlinks: list[int] = []

    def cancel_rest(urb: Urb) -> None:
        if urb is urbs[0]:
            unlinks.extend(usb_unlink_urb(u) for u in urbs[1:])

    done = Recorder(cancel_rest)
    urbs = [bulk_urb(udev, BULK_IN, 64, done) for _ in range(3)]
    for urb in urbs:
        assert usb_submit_urb(urb) == 0
    system.sleep(5)
    assert unlinks == [-Errno.EINPROGRESS, -Errno.EINPROGRESS]
    assert done.statuses == [-Errno.EPIPE, -Errno.ECONNRESET, -Errno.ECONNRESET]
    assert ep.halted  # the unlinked URBs never reached the device
    # a URB submitted before the failed one's handler ran still waits for it
    ep.clear_halt()
    probe.queue_in(b"z")
    late = Recorder()
    assert usb_submit_urb(bulk_urb(udev, BULK_IN, 64, late)) == 0
    system.sleep(1)
    assert late.calls == [(0, 1)]


def test_urb_submitted_behind_a_failure_waits(system: System, udev: UsbDevice,
                                              probe: Probe) -> None:
    """Even a URB submitted after the failure (before its handler ran) is held back."""
    ep = probe.endpoint(BULK_IN)
    assert ep is not None
    ep.halt()
    observed: list[int] = []
    later: list[Urb] = []
    done = Recorder(lambda urb: observed.append(later[0].status) if urb is failing else None)
    failing = bulk_urb(udev, BULK_IN, 64, done)
    assert usb_submit_urb(failing) == 0  # STALLs inside submit; its handler runs later
    later.append(bulk_urb(udev, BULK_IN, 64, done))
    assert usb_submit_urb(later[0]) == 0
    assert later[0].status == -Errno.EINPROGRESS
    system.sleep(5)
    assert observed == [-Errno.EINPROGRESS]
    assert done.statuses == [-Errno.EPIPE, -Errno.EPIPE]  # still halted when it ran


def test_raising_completion_handler_is_an_oops(system: System, udev: UsbDevice,
                                               probe: Probe) -> None:
    def broken(urb: Urb) -> None:
        raise ValueError("boom in atomic context")

    probe.queue_in(b"1")
    urb = bulk_urb(udev, BULK_IN, 64, broken)
    assert usb_submit_urb(urb) == 0
    system.sleep(1)
    text = system.dmesg()
    assert "BUG: exception in URB completion handler" in text
    assert "ValueError: boom in atomic context" in text
    assert "Traceback (most recent call last):" in text
    assert urb.use_count == 0
    # the machine goes on: the same endpoint and the hub driver still work
    done = Recorder()
    probe.queue_in(b"2")
    assert usb_submit_urb(bulk_urb(udev, BULK_IN, 64, done)) == 0
    system.sleep(1)
    assert done.calls == [(0, 1)]
    system.plug(Probe(), "1-2")
    system.settle()
    assert system.find_device("1-2") is not None


# -- isochronous ------------------------------------------------------------------------------


def test_iso_in_packets_on_gadget_zero(system: System) -> None:
    """Per-packet results: a packet with a smaller buffer than the device's 1024-byte
    packet is babble (-EOVERFLOW, nothing stored, counted in error_count); the URB's own
    status stays 0."""
    zero = GadgetZero(pattern=1)
    udev = attach(system, zero)
    assert system.run(usb_set_interface(udev, 0, 1)) == 0
    done = Recorder()
    lengths = (1024, 1024, 100, 1024)
    urb = Urb(len(lengths))
    urb.fill_bulk(udev, make_pipe(udev, PIPE_ISOCHRONOUS, 3, True), bytearray(4096), 4096,
                  done)
    urb.interval, urb.transfer_flags = 8, UrbFlag.ISO_ASAP
    for i, length in enumerate(lengths):
        urb.iso_frame_desc[i].offset, urb.iso_frame_desc[i].length = i * 1024, length
    assert usb_submit_urb(urb) == 0
    system.sleep(10)
    assert done.calls == [(0, 3072)]
    assert [p.actual_length for p in urb.iso_frame_desc] == [1024, 1024, 0, 1024]
    assert [p.status for p in urb.iso_frame_desc] == [0, 0, -Errno.EOVERFLOW, 0]
    assert urb.error_count == 1
    assert bytes(urb.transfer_buffer[:1024]) == pattern_bytes(1, 1024, 1024)


def test_iso_out_and_stream_timing(system: System) -> None:
    """Isochronous OUT on gadget zero's sink: every packet is taken; back-to-back URBs of
    4 packets at 8 microframes (1 ms) keep a 4 ms cadence."""
    udev = attach(system, GadgetZero())
    assert system.run(usb_set_interface(udev, 0, 1)) == 0
    times: list[float] = []
    done = Recorder(lambda urb: times.append(system.time()))
    urbs = []
    for _ in range(3):
        urb = Urb(4)
        urb.fill_bulk(udev, make_pipe(udev, PIPE_ISOCHRONOUS, 4, False), bytes(2048), 2048,
                      done)
        urb.interval, urb.transfer_flags = 8, UrbFlag.ISO_ASAP
        for i in range(4):
            urb.iso_frame_desc[i].offset, urb.iso_frame_desc[i].length = i * 512, 512
        assert usb_submit_urb(urb) == 0
        urbs.append(urb)
    system.sleep(20)
    assert done.calls == [(0, 2048)] * 3
    assert all(p.status == 0 and p.actual_length == 512 for u in urbs for p in u.iso_frame_desc)
    assert [round(t - times[0], 6) for t in times] == [0.0, 0.004, 0.008]


def test_iso_packets_to_an_absent_endpoint_fail_one_by_one(system: System) -> None:
    """Nobody answers (the device's endpoint is not active): every packet -EPROTO,
    error_count = number_of_packets, the URB's status 0."""
    udev = attach(system, GadgetZero())
    assert system.run(usb_set_interface(udev, 0, 1)) == 0
    # SET_INTERFACE(alt 0) behind usbcore's back: the device drops its iso endpoints
    assert system.run(usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, False), 0x0B,
                                      0x01, 0, 0, None, 0, 5000)) == 0
    done = Recorder()
    urb = Urb(3)
    urb.fill_bulk(udev, make_pipe(udev, PIPE_ISOCHRONOUS, 3, True), bytearray(3072), 3072,
                  done)
    urb.interval = 8
    for i in range(3):
        urb.iso_frame_desc[i].offset, urb.iso_frame_desc[i].length = i * 1024, 1024
    assert usb_submit_urb(urb) == 0
    system.sleep(10)
    assert done.calls == [(0, 0)]
    assert [p.status for p in urb.iso_frame_desc] == [-Errno.EPROTO] * 3
    assert urb.error_count == 3


# -- interrupt polling in virtual time --------------------------------------------------------


@pytest.mark.parametrize(("binterval", "polls", "elapsed"), [
    (1, 1000, 0.999),  # 1 ms endpoint: 1000 polls span 999 frames
    (10, 10, 0.072),   # bInterval 10 is served every 8 frames
])
def test_resubmitted_interrupt_urb_polls_at_its_interval(system: System, binterval: int,
                                                         polls: int, elapsed: float) -> None:
    probe = Probe(Speed.FULL, int_interval=binterval)
    udev = attach(system, probe)
    times: list[float] = []

    def again(urb: Urb) -> None:
        times.append(system.time())
        if len(times) < polls:
            assert usb_submit_urb(urb) == 0

    urb = int_urb(udev, INT_POLL, Recorder(again), binterval)
    assert usb_submit_urb(urb) == 0
    system.sleep(elapsed * 1000 + 50)
    assert len(times) == polls
    assert times[-1] - times[0] == pytest.approx(elapsed, abs=1e-6)
    assert probe.polls == polls
    assert int.from_bytes(urb.transfer_buffer[:4], "little") == polls
