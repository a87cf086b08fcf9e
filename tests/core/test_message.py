"""Synchronous messages (usbemu.core.message) against Linux 6.12's drivers/usb/core/message.c
(reference §4.8): usb_control_msg / usb_bulk_msg / usb_interrupt_msg results, timeouts on
virtual time, usb_get_descriptor's retries, usb_string and the LANGID rules, clear_halt,
set_interface, and the Pythonic helpers with their exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, ClassVar, TypeVar

import pytest

from usbemu.core.message import (
    bulk_transfer,
    check,
    control_transfer,
    usb_bulk_msg,
    usb_clear_halt,
    usb_control_msg,
    usb_get_descriptor,
    usb_interrupt_msg,
    usb_set_interface,
    usb_string,
)
from usbemu.core.urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    Urb,
    make_pipe,
    usb_submit_urb,
)
from usbemu.core.usb import UsbDevice
from usbemu.emulated.device import DeviceModel, endpoint_in, request
from usbemu.emulated.endpoint import Endpoint, Stall
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno, UsbError, UsbNoDevice, UsbStall, UsbTimeout
from usbemu.kernel.printk import Level
from usbemu.spec.ch9 import DeviceState, SetupPacket, Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.system import System
from usbemu.testing import UrbRecorder

T = TypeVar("T")

BULK_IN, BULK_OUT, INT_IN = 0x81, 0x02, 0x83


def _endpoints(iso_maxp: int) -> tuple[EndpointDescriptor, ...]:
    return (EndpointDescriptor.bulk(BULK_IN, 512), EndpointDescriptor.bulk(BULK_OUT, 512),
            EndpointDescriptor.interrupt(INT_IN, 8, 4),
            EndpointDescriptor.isochronous(0x84, iso_maxp, 1))


class Gadget(DeviceModel):
    """A high-speed device with two altsettings (the isochronous endpoint has bandwidth
    only in altsetting 1), an interrupt endpoint that answers after `int_reports`, and a
    GET_DESCRIPTOR handler that can be scripted per (type, index)."""

    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        0x1234, 0x4321, bDeviceClass=0xFF, iManufacturer="usbemu", iProduct="Gadget",
        strings={9: "Hi!"},
        configurations=(ConfigDescriptor(interfaces=(
            InterfaceDescriptor(0xFF, endpoints=_endpoints(0)),
            InterfaceDescriptor(0xFF, endpoints=_endpoints(64), bAlternateSetting=1))),))

    def __init__(self, descriptor: DeviceDescriptor | None = None) -> None:
        super().__init__(descriptor)
        self.scripted: dict[tuple[int, int], list[bytes | None]] = {}
        self.requests: list[SetupPacket] = []
        self.refuse_set_interface = False
        self.int_reports: list[bytes] = []

    @request(0x80, 0x06)
    def _get_descriptor(self, setup: SetupPacket, data: bytes) -> bytes | None:
        self.requests.append(setup)
        script = self.scripted.get((setup.wValue >> 8, setup.wValue & 0xFF))
        if script:
            reply = script.pop(0) if len(script) > 1 else script[0]
            if reply is None:
                raise Stall
            return reply
        return self.standard_request(setup, data)

    @request(0x01, 0x0B)
    def _set_interface(self, setup: SetupPacket, data: bytes) -> None:
        self.requests.append(setup)
        if self.refuse_set_interface:
            raise Stall
        self.standard_request(setup, data)

    @request(0x02, 0x01)
    def _clear_feature(self, setup: SetupPacket, data: bytes) -> None:
        self.requests.append(setup)
        self.standard_request(setup, data)

    @endpoint_in(INT_IN)
    def _report(self, ep: Endpoint, room: int) -> bytes | None:
        return self.int_reports.pop(0) if self.int_reports else None

    def queue_in(self, data: bytes) -> None:
        ep = self.endpoint(BULK_IN)
        assert ep is not None
        ep.write(data)


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


@pytest.fixture
def gadget() -> Gadget:
    return Gadget()


def attach(system: System, model: DeviceModel, path: str = "1-1") -> UsbDevice:
    system.plug(model, path)
    system.settle()
    udev = system.find_device(path)
    assert udev is not None
    return udev


@pytest.fixture
def udev(system: System, gadget: Gadget) -> UsbDevice:
    return attach(system, gadget)


def timed(system: System, coro: Coroutine[Any, Any, T]) -> tuple[T, float]:
    """Run `coro` on the machine; its result and the machine time it took."""
    async def run() -> tuple[T, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        result = await coro
        return result, loop.time() - start
    return system.run(run())


class Submitted:
    """Every URB the controller accepts (to look at what a helper did with it), seen
    through the HCD framework's usbmon hooks."""

    def __init__(self, system: System) -> None:
        self.recorder = UrbRecorder(system)

    @property
    def urbs(self) -> list[Urb]:
        return [event.urb for event in self.recorder.submitted()]


def rcvbulk(dev: UsbDevice, address: int) -> int:
    return make_pipe(dev, PIPE_BULK, address & 0xF, True)


def sndbulk(dev: UsbDevice, address: int) -> int:
    return make_pipe(dev, PIPE_BULK, address & 0xF, False)


def rcvctrl(dev: UsbDevice) -> int:
    return make_pipe(dev, PIPE_CONTROL, 0, True)


def sndctrl(dev: UsbDevice) -> int:
    return make_pipe(dev, PIPE_CONTROL, 0, False)


# -- usb_control_msg ----------------------------------------------------------------------


def test_control_msg_returns_the_bytes_transferred(system: System, udev: UsbDevice,
                                                   gadget: Gadget) -> None:
    buf = bytearray(64)
    assert system.run(usb_control_msg(udev, rcvctrl(udev), 0x06, 0x80, 0x0100, 0, buf, 64,
                                      5000)) == 18
    assert bytes(buf[:18]) == gadget.descriptors.device_bytes
    status = bytearray(2)
    assert system.run(usb_control_msg(udev, rcvctrl(udev), 0x00, 0x80, 0, 0, status, 2,
                                      5000)) == 2
    # SET_FEATURE(DEVICE_REMOTE_WAKEUP) is refused: the config lacks the attribute
    assert system.run(usb_control_msg(udev, sndctrl(udev), 0x03, 0x00, 1, 0, None, 0,
                                      5000)) == -Errno.EPIPE
    # an OUT request without data: 0 bytes
    assert system.run(usb_control_msg(udev, sndctrl(udev), 0x01, 0x02, 0, BULK_IN, None, 0,
                                      5000)) == 0


def test_control_msg_to_a_gone_device(system: System, udev: UsbDevice) -> None:
    system.unplug("1-1")
    system.settle()
    assert system.run(usb_control_msg(udev, rcvctrl(udev), 0x00, 0x80, 0, 0, bytearray(2), 2,
                                      5000)) == -Errno.ENODEV


# -- usb_bulk_msg / usb_interrupt_msg -------------------------------------------------------


def test_bulk_msg_returns_status_and_actual_length(system: System, udev: UsbDevice,
                                                   gadget: Gadget) -> None:
    gadget.queue_in(b"abc")
    buf = bytearray(512)
    assert system.run(usb_bulk_msg(udev, rcvbulk(udev, BULK_IN), buf, 512, 5000)) == (0, 3)
    assert bytes(buf[:3]) == b"abc"
    assert system.run(usb_bulk_msg(udev, sndbulk(udev, BULK_OUT), b"x" * 700, 700,
                                   5000)) == (0, 700)
    ep = gadget.endpoint(BULK_IN)
    assert ep is not None
    ep.halt()
    assert system.run(usb_bulk_msg(udev, rcvbulk(udev, BULK_IN), buf, 512, 5000)) == \
        (-Errno.EPIPE, 0)


def test_bulk_msg_argument_errors(system: System, udev: UsbDevice) -> None:
    buf = bytearray(8)
    assert system.run(usb_bulk_msg(udev, rcvbulk(udev, 0x85), buf, 8, 5000)) == \
        (-Errno.EINVAL, 0)  # no such endpoint
    assert system.run(usb_bulk_msg(udev, rcvbulk(udev, BULK_IN), buf, -1, 5000)) == \
        (-Errno.EINVAL, 0)


def test_bulk_msg_times_out_after_exactly_the_timeout(system: System, udev: UsbDevice,
                                                      gadget: Gadget) -> None:
    """One packet arrives, then the device NAKs forever: -ETIMEDOUT after 5000 ms of
    machine time, with the partial data counted, and the URB killed (-ENOENT) and off
    its endpoint."""
    trace = Submitted(system)
    gadget.queue_in(b"p" * 512)
    buf = bytearray(1024)
    result, elapsed = timed(system, usb_bulk_msg(udev, rcvbulk(udev, BULK_IN), buf, 1024,
                                                 5000))
    assert result == (-Errno.ETIMEDOUT, 512)
    assert elapsed == pytest.approx(5.0, abs=1e-6)
    urb = trace.urbs[-1]
    assert urb.status == -Errno.ENOENT and urb.use_count == 0
    hep = udev.endpoint(BULK_IN)
    assert hep is not None and len(hep.urb_list) == 0
    gadget.queue_in(b"later")  # nobody is reading any more
    system.sleep(10)
    assert gadget.endpoint(BULK_IN).queued == 5  # type: ignore[union-attr]


def test_timeout_zero_waits_forever_and_cancellation_kills(system: System, udev: UsbDevice,
                                                           gadget: Gadget) -> None:
    trace = Submitted(system)

    async def scenario() -> tuple[bool, float]:
        task = asyncio.ensure_future(usb_bulk_msg(udev, rcvbulk(udev, BULK_IN),
                                                  bytearray(64), 64, 0))
        await asyncio.sleep(3600)  # an hour of machine time
        still_waiting = not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return still_waiting, asyncio.get_running_loop().time()

    still_waiting, _ = system.run(scenario())
    assert still_waiting
    urb = trace.urbs[-1]
    assert urb.status == -Errno.ENOENT and urb.use_count == 0
    hep = udev.endpoint(BULK_IN)
    assert hep is not None and len(hep.urb_list) == 0


def test_the_synchronous_messages_reuse_an_idle_urb(system: System, udev: UsbDevice,
                                                    gadget: Gadget) -> None:
    """A message takes the URB the last one on its endpoint used, once that one is idle
    (it keeps no reference to the caller's buffer); two at once on one endpoint get two;
    a URB a timeout killed is taken again and works."""
    trace = Submitted(system)
    out = sndbulk(udev, BULK_OUT)
    for data in (b"a" * 10, b"b" * 20):
        assert system.run(usb_bulk_msg(udev, out, data, len(data), 5000)) == (0, len(data))
    first, second = trace.urbs[-2:]
    assert first is second and first.transfer_buffer is None
    hep = udev.endpoint(BULK_IN)
    assert hep is not None

    async def two_reads() -> list[tuple[int, int]]:
        reads = [asyncio.ensure_future(usb_bulk_msg(udev, rcvbulk(udev, BULK_IN),
                                                    bytearray(512), 512, 0))
                 for _ in range(2)]
        await asyncio.sleep(0.01)
        gadget.queue_in(b"x")
        gadget.queue_in(b"y")
        return list(await asyncio.gather(*reads))
    assert system.run(two_reads()) == [(0, 1), (0, 1)]
    assert trace.urbs[-2] is not trace.urbs[-1]
    assert system.run(usb_bulk_msg(udev, rcvbulk(udev, BULK_IN), bytearray(512), 512,
                                   100)) == (-Errno.ETIMEDOUT, 0)
    killed = trace.urbs[-1]
    gadget.queue_in(b"z")
    buf = bytearray(512)
    assert system.run(usb_bulk_msg(udev, rcvbulk(udev, BULK_IN), buf, 512, 100)) == (0, 1)
    assert trace.urbs[-1] is killed and buf[:1] == b"z" and killed.status == 0
    assert system.run(usb_control_msg(udev, rcvctrl(udev), 0x06, 0x80, 0x0100, 0,
                                      bytearray(18), 18, 5000)) == 18
    assert system.run(usb_control_msg(udev, rcvctrl(udev), 0x06, 0x80, 0x0100, 0,
                                      bytearray(18), 18, 5000)) == 18
    assert trace.urbs[-1] is trace.urbs[-2]


def test_interrupt_msg_builds_an_interrupt_urb(system: System, udev: UsbDevice,
                                               gadget: Gadget) -> None:
    """usb_bulk_msg on an interrupt endpoint makes an interrupt URB with the endpoint's
    bInterval (as 2^(bInterval-1) microframes at high speed); no BOGUS warning."""
    trace = Submitted(system)
    gadget.int_reports.append(b"\x01\x02")
    buf = bytearray(8)
    assert system.run(usb_interrupt_msg(udev, rcvbulk(udev, INT_IN), buf, 8, 1000)) == (0, 2)
    urb = trace.urbs[-1]
    assert urb.pipe >> 30 & 3 == PIPE_INTERRUPT
    assert urb.interval == 8
    assert not [r for r in system.log.records() if r.level <= Level.WARNING]
    result, elapsed = timed(system, usb_interrupt_msg(udev, rcvbulk(udev, INT_IN), buf, 8, 250))
    assert result == (-Errno.ETIMEDOUT, 0)
    assert elapsed == pytest.approx(0.25, abs=1e-6)


# -- usb_get_descriptor -------------------------------------------------------------------


def test_get_descriptor_retries_empty_replies(system: System, udev: UsbDevice,
                                              gadget: Gadget) -> None:
    qualifier = bytes((10, 6, 0, 2, 0xFF, 0, 0, 64, 1, 0))
    gadget.scripted[(6, 0)] = [b"", b"", qualifier]
    buf = bytearray(10)
    gadget.requests.clear()
    assert system.run(usb_get_descriptor(udev, 6, 0, buf, 10)) == 10
    assert bytes(buf) == qualifier
    assert len(gadget.requests) == 3


def test_get_descriptor_wrong_type_is_enodata_after_three_tries(system: System,
                                                                udev: UsbDevice,
                                                                gadget: Gadget) -> None:
    gadget.scripted[(6, 0)] = [bytes((10, 2, 0, 2, 0, 0, 0, 64, 1, 0))]
    gadget.requests.clear()
    assert system.run(usb_get_descriptor(udev, 6, 0, bytearray(10), 10)) == -Errno.ENODATA
    assert len(gadget.requests) == 3


def test_get_descriptor_stall_and_bad_size(system: System, udev: UsbDevice,
                                           gadget: Gadget) -> None:
    gadget.scripted[(0x0F, 0)] = [None]
    gadget.requests.clear()
    assert system.run(usb_get_descriptor(udev, 0x0F, 0, bytearray(5), 5)) == -Errno.EPIPE
    assert len(gadget.requests) == 3
    gadget.requests.clear()
    assert system.run(usb_get_descriptor(udev, 1, 0, bytearray(5), 0)) == -Errno.EINVAL
    assert gadget.requests == []


# -- usb_string ---------------------------------------------------------------------------


def test_usb_string_reads_in_the_first_language(system: System, udev: UsbDevice) -> None:
    assert system.run(usb_string(udev, 2)) == "Gadget"
    assert udev.string_langid == 0x0409 and udev.have_langid
    assert system.run(usb_string(udev, 9, size=3)) == "Hi"  # room for 2 bytes + NUL
    assert system.run(usb_string(udev, 0)) == -Errno.EINVAL
    assert system.run(usb_string(udev, 256)) == -Errno.EINVAL
    assert system.run(usb_string(udev, 77)) == -Errno.EPIPE  # no such string: STALL


@pytest.mark.parametrize(("reply", "text"), [
    (bytes((7, 3)) + "Hi!".encode("utf-16-le"), "Hi"),      # odd bLength: forced even
    (bytes((6, 3)) + "Hi!!".encode("utf-16-le"), "Hi"),     # junk after bLength
    (bytes((8, 3)) + "Hi!".encode("utf-16-le")[:5], "Hi"),  # odd number of bytes sent
])
def test_usb_string_odd_lengths(system: System, udev: UsbDevice, gadget: Gadget,
                                reply: bytes, text: str) -> None:
    gadget.scripted[(3, 9)] = [reply]
    assert system.run(usb_string(udev, 9)) == text


def test_usb_string_with_blength_zero_is_einval(system: System, udev: UsbDevice,
                                                gadget: Gadget) -> None:
    """usb_string_sub cuts the length to bLength: a descriptor claiming 0 bytes (but with
    the right type) has no text, whatever follows it."""
    gadget.scripted[(3, 9)] = [bytes((0, 3)) + "Hi".encode("utf-16-le")]
    assert system.run(usb_string(udev, 9)) == -Errno.EINVAL


def test_usb_string_of_the_wrong_type_is_enodata(system: System, udev: UsbDevice,
                                                 gadget: Gadget) -> None:
    gadget.scripted[(3, 9)] = [bytes((4, 5, 0x41, 0))]
    assert system.run(usb_string(udev, 9)) == -Errno.ENODATA


def test_broken_langid_table_defaults_to_english(system: System) -> None:
    """String descriptor 0 with no LANGID in it (bLength 2): Linux logs the message and
    uses 0x0409, so the strings still read."""
    gadget = Gadget()
    gadget.scripted[(3, 0)] = [bytes((2, 3))]
    udev = attach(system, gadget)
    assert ("usb 1-1: language id specifier not provided by device, defaulting to English"
            in system.log.lines(Level.ERR))
    assert udev.product == "Gadget"
    assert system.run(usb_string(udev, 9)) == "Hi!"


def test_stalled_langid_table_means_no_strings(system: System) -> None:
    """A device that STALLs string descriptor 0 gets string_langid -1: "string descriptor
    0 read error: -32" once, and no string is read after that."""
    gadget = Gadget(DeviceDescriptor(
        0x1234, 0x4321, iProduct="Gadget", languages=(),
        configurations=(ConfigDescriptor(interfaces=(InterfaceDescriptor(0xFF),)),)))
    udev = attach(system, gadget)
    assert system.log.lines().count("usb 1-1: string descriptor 0 read error: -32") == 1
    assert udev.product is None and udev.string_langid == -1
    gadget.requests.clear()
    assert system.run(usb_string(udev, 2)) == -Errno.EPIPE
    assert gadget.requests == []


def test_usb_string_while_suspended(system: System, udev: UsbDevice) -> None:
    udev.set_state(DeviceState.SUSPENDED)
    assert system.run(usb_string(udev, 2)) == -Errno.EHOSTUNREACH
    udev.set_state(DeviceState.CONFIGURED)


# -- usb_clear_halt -----------------------------------------------------------------------


def endpoint_status(system: System, udev: UsbDevice, address: int) -> int:
    buf = bytearray(2)
    assert system.run(usb_control_msg(udev, rcvctrl(udev), 0x00, 0x82, 0, address, buf, 2,
                                      5000)) == 2
    return buf[0] | buf[1] << 8


def test_clear_halt(system: System, udev: UsbDevice, gadget: Gadget) -> None:
    ep = gadget.endpoint(BULK_IN)
    assert ep is not None
    ep.halt()
    buf = bytearray(512)
    assert system.run(usb_bulk_msg(udev, rcvbulk(udev, BULK_IN), buf, 512, 5000))[0] == \
        -Errno.EPIPE
    assert endpoint_status(system, udev, BULK_IN) == 1
    gadget.requests.clear()
    assert system.run(usb_clear_halt(udev, rcvbulk(udev, BULK_IN))) == 0
    assert [(r.bmRequestType, r.bRequest, r.wValue, r.wIndex) for r in gadget.requests] == \
        [(0x02, 0x01, 0, 0x81)]
    assert endpoint_status(system, udev, BULK_IN) == 0
    gadget.queue_in(b"ok")
    assert system.run(usb_bulk_msg(udev, rcvbulk(udev, BULK_IN), buf, 512, 5000)) == (0, 2)
    # the device refuses a clear for an endpoint it does not have
    assert system.run(usb_clear_halt(udev, rcvbulk(udev, 0x8E))) == -Errno.EPIPE


# -- usb_set_interface --------------------------------------------------------------------


def test_set_interface_switches_endpoints_and_flushes_old_urbs(system: System,
                                                               udev: UsbDevice,
                                                               gadget: Gadget) -> None:
    """Linux 6.12 flushes the old altsetting's URBs (-ESHUTDOWN) before SET_INTERFACE
    goes out, then installs the new altsetting's endpoints."""
    old_bulk, old_iso = udev.endpoint(BULK_IN), udev.endpoint(0x84)
    assert old_bulk is not None and old_iso is not None and old_iso.maxp == 0
    seen: list[tuple[int, int]] = []

    def complete(urb: Urb) -> None:
        seen.append((urb.status, gadget.alt_settings[0]))

    urb = Urb().fill_bulk(udev, rcvbulk(udev, BULK_IN), bytearray(512), 512, complete)
    assert usb_submit_urb(urb) == 0  # the device NAKs
    assert system.run(usb_set_interface(udev, 0, 1)) == 0
    assert seen == [(-Errno.ESHUTDOWN, 0)]  # flushed while the device was still in alt 0
    intf = udev.interface(0)
    assert intf is not None and intf.cur_altsetting.desc.bAlternateSetting == 1
    new_bulk, new_iso = udev.endpoint(BULK_IN), udev.endpoint(0x84)
    assert new_bulk is not None and new_bulk is not old_bulk and new_bulk.enabled
    assert new_iso is not None and new_iso.maxp == 64
    assert not old_bulk.enabled
    assert gadget.alt_settings[0] == 1
    assert usb_submit_urb(urb) == 0  # the same pipe now reaches the new endpoint
    assert urb.ep is new_bulk
    system.run(usb_set_interface(udev, 0, 0))
    assert seen[-1] == (-Errno.ESHUTDOWN, 1)


def test_set_interface_invalid_altsetting(system: System, udev: UsbDevice,
                                          gadget: Gadget) -> None:
    gadget.requests.clear()
    assert system.run(usb_set_interface(udev, 0, 5)) == -Errno.EINVAL
    assert "usb 1-1: selecting invalid altsetting 5" in system.log.lines(Level.WARNING)
    assert system.run(usb_set_interface(udev, 3, 0)) == -Errno.EINVAL
    assert gadget.requests == []
    assert udev.endpoint(BULK_IN) is not None


def test_refused_set_interface_leaves_old_endpoints_disabled(system: System,
                                                             udev: UsbDevice,
                                                             gadget: Gadget) -> None:
    """With several altsettings a STALL is an error: the old endpoints were already
    disabled (Linux 6.12 does that first) and stay so — new URBs get -ENOENT."""
    gadget.refuse_set_interface = True
    assert system.run(usb_set_interface(udev, 0, 1)) == -Errno.EPIPE
    intf = udev.interface(0)
    assert intf is not None and intf.cur_altsetting.desc.bAlternateSetting == 0
    urb = Urb().fill_bulk(udev, rcvbulk(udev, BULK_IN), bytearray(8), 8, lambda u: None)
    assert usb_submit_urb(urb) == -Errno.ENOENT


def test_set_interface_stalled_with_one_altsetting_is_done_by_hand(system: System) -> None:
    """9.4.10: a device may STALL SET_INTERFACE for an interface with one altsetting;
    usbcore then clears the halt of each of its endpoints instead."""
    gadget = Gadget(DeviceDescriptor(
        0x1234, 0x4321, configurations=(ConfigDescriptor(interfaces=(
            InterfaceDescriptor(0xFF, endpoints=(EndpointDescriptor.bulk(0x81, 512),
                                                 EndpointDescriptor.bulk(0x02, 512))),)),)))
    udev = attach(system, gadget)
    gadget.refuse_set_interface = True
    gadget.requests.clear()
    assert system.run(usb_set_interface(udev, 0, 0)) == 0
    assert [(r.bmRequestType, r.bRequest, r.wValue, r.wIndex) for r in gadget.requests] == [
        (0x01, 0x0B, 0, 0), (0x02, 0x01, 0, 0x81), (0x02, 0x01, 0, 0x02)]
    assert udev.endpoint(0x81) is not None and udev.endpoint(0x02) is not None


# -- the Pythonic helpers and check() -------------------------------------------------------


def test_control_transfer(system: System, udev: UsbDevice, gadget: Gadget) -> None:
    data = system.run(control_transfer(udev, SetupPacket(0x80, 0x06, 0x0100, 0, 18)))
    assert data == gadget.descriptors.device_bytes
    assert system.run(control_transfer(udev, SetupPacket(0x02, 0x01, 0, BULK_IN, 0))) == b""
    with pytest.raises(UsbStall) as stall:
        system.run(control_transfer(udev, SetupPacket(0xC0, 0x42, 0, 0, 4)))
    assert stall.value.errno == Errno.EPIPE and stall.value.actual_length == 0
    with pytest.raises(ValueError, match="wLength is 4"):
        system.run(control_transfer(udev, SetupPacket(0x40, 0x42, 0, 0, 4), b"ab"))


def test_bulk_transfer_and_its_exceptions(system: System, udev: UsbDevice,
                                          gadget: Gadget) -> None:
    gadget.queue_in(b"q" * 512)
    buf = bytearray(1024)
    with pytest.raises(UsbTimeout) as timeout:
        system.run(bulk_transfer(udev, BULK_IN, buf, timeout_ms=100))
    assert timeout.value.errno == Errno.ETIMEDOUT
    assert timeout.value.actual_length == 512
    assert isinstance(timeout.value, TimeoutError) and isinstance(timeout.value, OSError)
    gadget.queue_in(b"z" * 600)
    with pytest.raises(UsbError) as babble:
        system.run(bulk_transfer(udev, BULK_IN, bytearray(10)))
    assert type(babble.value) is UsbError and babble.value.errno == Errno.EOVERFLOW
    assert system.run(bulk_transfer(udev, BULK_OUT, b"hello", zero_packet=True)) == 5
    with pytest.raises(ValueError, match="no endpoint 0x85"):
        system.run(bulk_transfer(udev, 0x85, bytearray(4)))
    system.unplug("1-1")
    system.settle()
    with pytest.raises(UsbNoDevice) as gone:
        system.run(bulk_transfer(udev, BULK_OUT, b"x"))
    assert gone.value.errno == Errno.ENODEV


def test_check_maps_each_status_once() -> None:
    assert check(0) == 0 and check(7) == 7
    with pytest.raises(UsbTimeout) as timeout:
        check(-Errno.ETIMEDOUT, 3)
    assert timeout.value.actual_length == 3
    assert timeout.value.strerror == "Connection timed out"
    for code, cls in ((-Errno.EPIPE, UsbStall), (-Errno.ENODEV, UsbNoDevice),
                      (-Errno.ESHUTDOWN, UsbNoDevice), (-Errno.EPROTO, UsbError)):
        with pytest.raises(cls) as info:
            check(code)
        assert type(info.value) is cls and info.value.errno == -code


def test_pen_drive_round_trip_with_the_pythonic_helpers(system: System) -> None:
    udev = attach(system, PenDrive())
    assert system.run(bulk_transfer(udev, 0x01, b"round trip")) == 10
    buf = bytearray(512)
    assert system.run(bulk_transfer(udev, 0x82, buf)) == 10
    assert bytes(buf[:10]) == b"round trip"


# -- the order of interfaces --------------------------------------------------------------------


def test_interfaces_are_added_in_the_order_the_configuration_lists_them(
        system: System) -> None:
    """config.c keeps interfaces in the order of their first appearance and
    usb_set_configuration adds them in that order: interface 1, listed first, is probed
    first, and the devices file lists it first too."""
    from usbemu.core.devtable import usb_device
    from usbemu.core.driver import UsbDriver, usb_register

    probed: list[str] = []

    class Both(UsbDriver):
        id_table = (usb_device(0x1234, 0x4321),)

        async def probe(self, intf: Any, id: Any) -> int:
            probed.append(intf.name)
            return 0

    system.run(usb_register(system.usb, Both("both")))
    desc = DeviceDescriptor(0x1234, 0x4321, configurations=(ConfigDescriptor(interfaces=(
        InterfaceDescriptor(0xFF, bInterfaceNumber=1),
        InterfaceDescriptor(0xFF, bInterfaceNumber=0),
    )),))
    udev = attach(system, DeviceModel(desc, speed=Speed.HIGH))
    assert probed == ["1-1:1.1", "1-1:1.0"]
    assert [i.number for i in udev.interfaces()] == [1, 0]
    devices = system.vfs.read_text("/sys/kernel/debug/usb/devices")
    block = devices[devices.index("P:  Vendor=1234 ProdID=4321"):]
    assert block.index("I:* If#= 1") < block.index("I:* If#= 0")
