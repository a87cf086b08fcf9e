"""Fault injection (usbemu.emulated.faults): every fault kind, seen from the host as Linux
sees it — URB statuses per controller kind, hub.c's and config.c's messages during
enumeration — seeded reproducibility, matching, and the untouched path without a plan."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.core.hub import usb_reset_device
from usbemu.core.message import usb_bulk_msg, usb_clear_halt
from usbemu.core.urb import PIPE_BULK, make_pipe
from usbemu.core.usb import UsbDevice
from usbemu.emulated.device import DeviceModel, endpoint_out
from usbemu.emulated.endpoint import Endpoint, Outcome
from usbemu.emulated.faults import (
    Fault,
    FaultKind,
    FaultPlan,
    Match,
    inject_faults,
    parse_fault,
)
from usbemu.errors import Errno
from usbemu.spec.ch9 import Request, SetupPacket, Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.system import System
from usbemu.testing import RecordingHost, enumerate_model

pytestmark = pytest.mark.usefixtures("hang_guard")


def echo_descriptor(maxp: int) -> DeviceDescriptor:
    return DeviceDescriptor(idVendor=0x1209, idProduct=0x0001, configurations=(
        ConfigDescriptor(interfaces=(InterfaceDescriptor(0xFF, endpoints=(
            EndpointDescriptor.bulk(0x81, maxp), EndpointDescriptor.bulk(0x01, maxp))),)),))


class Echo(DeviceModel):
    """Bulk OUT 0x01 comes back on bulk IN 0x81."""

    speed = Speed.HIGH
    descriptor = echo_descriptor(512)

    @endpoint_out(0x01)
    def rx(self, ep: Endpoint, data: memoryview) -> None:
        target = self.endpoint(0x81)
        assert target is not None
        target.write(bytes(data))


class FullSpeedEcho(Echo):
    speed = Speed.FULL
    descriptor = echo_descriptor(64)


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


def plugged(system: System, plan: FaultPlan | None = None,
            model: DeviceModel | None = None) -> tuple[DeviceModel, UsbDevice | None]:
    model = model or Echo()
    inject_faults(model, plan)
    system.plug(model, "1-1")
    system.settle()
    return model, system.find_device("1-1")


def pipes(udev: UsbDevice) -> tuple[int, int]:
    return make_pipe(udev, PIPE_BULK, 1, False), make_pipe(udev, PIPE_BULK, 1, True)


def echo(system: System, udev: UsbDevice, data: bytes = b"ping",
         room: int = 512) -> tuple[int, bytes]:
    """Write `data`, read it back: (status of the read, bytes read)."""
    out_pipe, in_pipe = pipes(udev)
    assert system.run(usb_bulk_msg(udev, out_pipe, data, len(data), 1000)) == (0, len(data))
    buf = bytearray(room)
    status, n = system.run(usb_bulk_msg(udev, in_pipe, buf, room, 1000))
    return status, bytes(buf[:n])


def read(system: System, udev: UsbDevice, room: int = 512) -> tuple[int, bytes]:
    buf = bytearray(room)
    status, n = system.run(usb_bulk_msg(udev, pipes(udev)[1], buf, room, 1000))
    return status, bytes(buf[:n])


def with_fault(kind: FaultKind, **kw: object) -> FaultPlan:
    match = Match(ep=kw.pop("ep", 0x81))  # type: ignore[arg-type]
    return FaultPlan([Fault(kind, match, **kw)])  # type: ignore[arg-type]


# -- no plan --------------------------------------------------------------------------------------


def test_without_a_plan_the_host_reaches_the_endpoint_itself() -> None:
    model = enumerate_model(Echo())
    assert model.faults is None
    assert model.token_endpoint(0x81) is model.endpoint(0x81)
    assert model.token_endpoint(0x82) is None


def test_without_a_plan_echo_works(system: System) -> None:
    _, udev = plugged(system)
    assert udev is not None and echo(system, udev) == (0, b"ping")


# -- data endpoints -------------------------------------------------------------------------------


def test_stall_halts_the_endpoint_until_the_host_clears_it(system: System) -> None:
    plan = with_fault(FaultKind.STALL)
    _, udev = plugged(system, plan)
    assert udev is not None
    assert echo(system, udev) == (-Errno.EPIPE, b"")
    assert read(system, udev) == (-Errno.EPIPE, b"")  # still halted: count=1 was enough
    assert system.run(usb_clear_halt(udev, pipes(udev)[1])) == 0
    assert read(system, udev) == (0, b"ping")
    assert [(h.kind, h.transfer) for h in plan.record] == [(FaultKind.STALL, "ep 0x81 IN")]


def test_nak_for_a_time_delays_the_answer(system: System) -> None:
    _, udev = plugged(system, with_fault(FaultKind.NAK, ms=300))
    assert udev is not None
    start = system.time()
    assert echo(system, udev) == (0, b"ping")
    assert system.time() - start == pytest.approx(0.3, abs=0.002)


def test_delay_longer_than_the_timeout_times_out(system: System) -> None:
    _, udev = plugged(system, with_fault(FaultKind.DELAY, ms=1500))
    assert udev is not None
    assert echo(system, udev) == (-Errno.ETIMEDOUT, b"")
    system.sleep(600)
    assert read(system, udev) == (0, b"ping")  # the data waited in the device


def test_nak_forever_ends_when_the_plan_is_cleared(system: System) -> None:
    plan = with_fault(FaultKind.NAK_FOREVER)
    _, udev = plugged(system, plan)
    assert udev is not None
    assert echo(system, udev) == (-Errno.ETIMEDOUT, b"")
    assert read(system, udev) == (-Errno.ETIMEDOUT, b"")
    plan.clear()
    assert read(system, udev) == (0, b"ping")
    assert len(plan.record) == 1  # the record stays


@pytest.mark.parametrize(("kind", "status"), [
    (FaultKind.BABBLE, -Errno.EOVERFLOW),
    (FaultKind.CRC, -Errno.EPROTO),
    (FaultKind.BITSTUFF, -Errno.EPROTO),
])
def test_errors_on_in_become_linux_statuses_on_ehci(system: System, kind: FaultKind,
                                                    status: int) -> None:
    _, udev = plugged(system, with_fault(kind))
    assert udev is not None
    assert echo(system, udev) == (status, b"")
    assert read(system, udev) == (0, b"ping")  # one bad transfer; the data is still there


@pytest.mark.parametrize(("hcd", "ep", "kind", "status"), [
    ("ehci", 0x81, FaultKind.CRC, -Errno.EPROTO),
    ("uhci", 0x81, FaultKind.CRC, -Errno.EILSEQ),
    ("uhci", 0x01, FaultKind.CRC, -Errno.EPROTO),
    ("uhci", 0x81, FaultKind.BITSTUFF, -Errno.EPROTO),
    ("ohci", 0x81, FaultKind.CRC, -Errno.EILSEQ),
    ("ohci", 0x01, FaultKind.CRC, -Errno.ETIME),
    ("ohci", 0x81, FaultKind.BITSTUFF, -Errno.EPROTO),
])
def test_transaction_errors_as_each_controller_reports_them(hcd: str, ep: int, kind: FaultKind,
                                                           status: int) -> None:
    with System() as system:
        system.add_controller(hcd)
        _, udev = plugged(system, with_fault(kind, ep=ep), FullSpeedEcho())
        assert udev is not None
        out_pipe, in_pipe = pipes(udev)
        sent = system.run(usb_bulk_msg(udev, out_pipe, b"ping", 4, 1000))
        buf = bytearray(64)
        got = system.run(usb_bulk_msg(udev, in_pipe, buf, 64, 1000))
        assert (sent if ep == 0x01 else got)[0] == status


def test_short_and_zlp_answer_less_than_the_device_has(system: System) -> None:
    plan = FaultPlan([Fault(FaultKind.SHORT, Match(ep=0x81), length=2),
                      Fault(FaultKind.ZLP, Match(ep=0x81, nth=2))])
    _, udev = plugged(system, plan)
    assert udev is not None
    assert echo(system, udev) == (0, b"pi")  # a short packet; the rest is lost
    assert echo(system, udev) == (0, b"")  # a zero-length packet; the data stays queued
    assert read(system, udev) == (0, b"ping")


def test_short_without_a_length_delivers_half(system: System) -> None:
    _, udev = plugged(system, with_fault(FaultKind.SHORT))
    assert udev is not None and echo(system, udev, b"12345678") == (0, b"1234")


def test_disconnect_mid_transfer(system: System) -> None:
    plan = with_fault(FaultKind.DISCONNECT)
    model, udev = plugged(system, plan)
    assert udev is not None
    assert echo(system, udev) == (-Errno.EPROTO, b"")
    system.settle()
    assert "usb 1-1: USB disconnect, device number 2" in system.dmesg()
    assert system.find_device("1-1") is None and model.port is None


def test_disconnect_after_some_bytes_keeps_what_arrived(system: System) -> None:
    _, udev = plugged(system, with_fault(FaultKind.DISCONNECT, length=2))
    assert udev is not None
    assert echo(system, udev) == (-Errno.EPROTO, b"pi")


@pytest.mark.parametrize("hcd", ["ehci", "uhci"])
def test_nak_and_disconnect_on_other_controllers(hcd: str) -> None:
    with System() as system:
        system.add_controller(hcd)
        plan = FaultPlan([Fault(FaultKind.NAK, Match(ep=0x81), ms=50),
                          Fault(FaultKind.DISCONNECT, Match(ep=0x81, nth=2))])
        _, udev = plugged(system, plan, FullSpeedEcho())
        assert udev is not None
        assert echo(system, udev, room=64) == (0, b"ping")
        assert echo(system, udev, room=64) == (-Errno.EPROTO, b"")


def test_the_fault_is_on_the_device_side_only() -> None:
    """The model's own view of its endpoint is not the plan's: its handlers write to the
    real queue, the host's tokens go through the plan."""
    model = enumerate_model(Echo(), host=RecordingHost())
    inject_faults(model, with_fault(FaultKind.ZLP))
    ep = model.endpoint(0x81)
    token = model.token_endpoint(0x81)
    assert ep is not None and token is not None and token is not ep
    ep.write(b"abc")
    assert token.pull_in(memoryview(bytearray(64))) == (Outcome.DONE, 0)
    assert token.pull_in(memoryview(bytearray(64))) == (Outcome.DONE, 3)
    assert model.token_endpoint(0x81) is token  # one view per endpoint, kept


# -- endpoint 0 and enumeration -------------------------------------------------------------------


def enumerate_with(system: System, *faults: Fault, seed: int = 0) -> FaultPlan:
    plan = FaultPlan(faults, seed=seed)
    plugged(system, plan)
    return plan


def test_nak_forever_on_ep0_times_out_as_hub_c_says(system: System) -> None:
    enumerate_with(system, Fault(FaultKind.NAK_FOREVER, Match(ep=0)))
    dmesg = system.dmesg()
    assert "usb 1-1: device descriptor read/64, error -110" in dmesg
    assert "usb 1-1: device not accepting address 5, error -110" in dmesg
    assert "usb usb1-port1: unable to enumerate USB device" in dmesg
    assert system.find_device("1-1") is None


def test_a_delayed_set_address_is_waited_for(system: System) -> None:
    plan = enumerate_with(system, Fault(FaultKind.DELAY, Match(bRequest=Request.SET_ADDRESS),
                                        ms=400))
    udev = system.find_device("1-1")
    assert udev is not None and udev.actconfig is not None
    assert [h.transfer for h in plan.record] == ["ep 0x00 SET_ADDRESS 00 05 0002 0000 0"]


def test_ep0_delay_on_the_ehci_model() -> None:
    with System() as system:
        system.add_controller("ehci")
        enumerate_with(system, Fault(FaultKind.DELAY, Match(descriptor=2), ms=100))
        udev = system.find_device("1-1")
        assert udev is not None and udev.actconfig is not None


def test_a_stalled_request_is_retried_by_usb_get_descriptor(system: System) -> None:
    """usb_get_descriptor tries three times: one STALL is not seen, three are."""
    enumerate_with(system, Fault(FaultKind.STALL, Match(descriptor=2)))
    assert system.find_device("1-1") is not None
    assert "unable to read config" not in system.dmesg()
    system.unplug("1-1")
    system.settle()
    enumerate_with(system, Fault(FaultKind.STALL, Match(descriptor=2), count=3))
    dmesg = system.dmesg()
    assert "usb 1-1: unable to read config index 0 descriptor/start: -32" in dmesg
    assert "usb 1-1: chopping to 0 config(s)" in dmesg


def test_babble_and_crc_on_the_device_descriptor(system: System) -> None:
    enumerate_with(system, Fault(FaultKind.BABBLE, Match(descriptor=1), count=0))
    assert "usb 1-1: device descriptor read/64, error -75" in system.dmesg()
    assert "usb 1-1: device descriptor read/8, error -75" in system.dmesg()


def test_a_short_or_empty_device_descriptor(system: System) -> None:
    enumerate_with(system, Fault(FaultKind.SHORT, Match(descriptor=1, nth=2), count=0))
    assert "usb 1-1: device descriptor read/all, error -90" in system.dmesg()
    system.unplug("1-1")
    system.settle()
    enumerate_with(system, Fault(FaultKind.ZLP, Match(descriptor=1), count=0))
    assert "usb 1-1: device descriptor read/64, error -71" in system.dmesg()
    assert system.find_device("1-1") is None


def test_disconnect_mid_enumeration(system: System) -> None:
    plan = enumerate_with(system, Fault(FaultKind.DISCONNECT, Match(descriptor=2)))
    dmesg = system.dmesg()
    assert "usb 1-1: unable to read config index 0 descriptor/start: -71" in dmesg
    assert "usb 1-1: can't read configurations, error -71" in dmesg
    assert system.find_device("1-1") is None
    assert len(plan.record) == 1


def test_wrong_descriptor_type_of_the_device_descriptor(system: System) -> None:
    enumerate_with(system, Fault(FaultKind.WRONG_DESCRIPTOR_TYPE, Match(descriptor=1),
                                 count=0))
    assert "usb 1-1: device descriptor read/64, error -71" in system.dmesg()
    assert system.find_device("1-1") is None


def test_wrong_descriptor_type_of_the_full_configuration(system: System) -> None:
    """The 9-byte read is right, the full read says type 3: config.c refuses it."""
    enumerate_with(system, Fault(FaultKind.WRONG_DESCRIPTOR_TYPE,
                                 Match(descriptor=2, nth=2, every=1), count=3, value=3))
    assert "usb 1-1: unable to read config index 0 descriptor/all" in system.dmesg()


def test_wrong_type_on_a_9_byte_read_is_enodata(system: System) -> None:
    enumerate_with(system, Fault(FaultKind.WRONG_DESCRIPTOR_TYPE, Match(descriptor=2),
                                 count=3))
    assert "usb 1-1: unable to read config index 0 descriptor/start: -61" in system.dmesg()


def test_lying_total_length_bigger(system: System) -> None:
    enumerate_with(system, Fault(FaultKind.LYING_TOTAL_LENGTH, count=0))
    assert "usb 1-1: config index 0 descriptor too short (expected 96, got 32)" \
        in system.dmesg()
    assert system.find_device("1-1") is not None


def test_lying_total_length_smaller(system: System) -> None:
    enumerate_with(system, Fault(FaultKind.LYING_TOTAL_LENGTH, value=18))
    assert ("usb 1-1: config 1 interface 0 altsetting 0 has 0 endpoint descriptors, "
            "different from the interface descriptor's value: 2") in system.dmesg()


def test_descriptors_that_change_between_the_two_config_reads(system: System) -> None:
    plan = enumerate_with(system, Fault(FaultKind.CHANGING_DESCRIPTORS,
                                        Match(descriptor=2, nth=2)))
    assert ("usb 1-1: config 1 has 1 interface, different from the descriptor's value: 2"
            in system.dmesg())
    assert [h.transfer for h in plan.record] == [
        "ep 0x00 GET_DESCRIPTOR 80 06 0200 0000 32"]


def test_a_changed_device_descriptor_is_firmware_changed_at_reset(system: System) -> None:
    model, udev = plugged(system)
    assert udev is not None
    inject_faults(model, FaultPlan([Fault(FaultKind.CHANGING_DESCRIPTORS,
                                          Match(descriptor=1, nth=2), count=0)]))
    system.run(usb_reset_device(udev))
    system.settle()
    assert "usb 1-1: device firmware changed" in system.dmesg()


def test_corruption_is_seeded(system: System) -> None:
    def run(seed: int) -> tuple[list[str], bytes]:
        model = enumerate_model(Echo())
        inject_faults(model, FaultPlan([Fault(FaultKind.CORRUPT_DESCRIPTOR, count=0,
                                              flips=3)], seed=seed))
        buf = memoryview(bytearray(32))
        outcome, n = model.control(SetupPacket(0x80, Request.GET_DESCRIPTOR, 0x0200, 0, 32),
                                   dst=buf)
        assert outcome is Outcome.DONE and n == 32
        assert model.faults is not None
        return [str(h) for h in model.faults.record], bytes(buf)

    real = bytes(Echo().descriptors.get(2, 0) or b"")
    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first[1] != real and other[1] != first[1]
    assert sum(a != b for a, b in zip(first[1], real, strict=True)) in (1, 2, 3)


# -- matching and the seed ------------------------------------------------------------------------


def pull_outcomes(plan: FaultPlan, transfers: int) -> list[Outcome]:
    model = enumerate_model(Echo(), host=RecordingHost())
    inject_faults(model, plan)
    ep, token = model.endpoint(0x81), model.token_endpoint(0x81)
    assert ep is not None and token is not None
    result = []
    for _ in range(transfers):
        ep.write(b"x")
        result.append(token.pull_in(memoryview(bytearray(64)))[0])
        ep.flush()
    return result


def test_nth_and_every() -> None:
    plan = FaultPlan([Fault(FaultKind.BABBLE, Match(ep=0x81, nth=2, every=3), count=0)])
    outcomes = pull_outcomes(plan, 9)
    assert [i + 1 for i, o in enumerate(outcomes) if o is Outcome.BABBLE] == [2, 5, 8]
    assert [h.occurrence for h in plan.record] == [2, 5, 8]


def test_count_limits_the_hits() -> None:
    plan = FaultPlan([Fault(FaultKind.CRC, Match(ep=0x81), count=2)])
    assert pull_outcomes(plan, 4) == [Outcome.CRC, Outcome.CRC, Outcome.DONE, Outcome.DONE]
    assert plan.hits(0) == 2


def test_the_same_seed_gives_the_same_run() -> None:
    def run(seed: int) -> list[Outcome]:
        return pull_outcomes(FaultPlan([Fault(FaultKind.CRC, Match(probability=0.5),
                                              count=0)], seed=seed), 40)

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert 5 < first.count(Outcome.CRC) < 35


def test_the_first_fault_that_hits_wins_and_others_still_count() -> None:
    plan = FaultPlan([Fault(FaultKind.BABBLE, Match(ep=0x81)),
                      Fault(FaultKind.CRC, Match(ep=0x81, nth=2))])
    assert pull_outcomes(plan, 3) == [Outcome.BABBLE, Outcome.CRC, Outcome.DONE]


def test_in_only_faults_pass_over_out_transfers() -> None:
    model = enumerate_model(Echo(), host=RecordingHost())
    inject_faults(model, FaultPlan([Fault(FaultKind.BABBLE)]))
    token = model.token_endpoint(0x01)
    assert token is not None
    assert token.push_out(memoryview(b"hi")) == (Outcome.DONE, 2)


def test_replacing_a_plan_releases_what_the_old_one_held(system: System) -> None:
    model, udev = plugged(system, with_fault(FaultKind.NAK_FOREVER))
    assert udev is not None
    assert echo(system, udev) == (-Errno.ETIMEDOUT, b"")
    old = inject_faults(model, None)
    assert old is not None and model.faults is None
    assert read(system, udev) == (0, b"ping")


# -- faults from words, and mistakes --------------------------------------------------------------


def test_parse_fault_reads_the_shell_words() -> None:
    fault = parse_fault("stall", {"ep": "0x81", "count": "2", "nth": "3"})
    assert fault == Fault(FaultKind.STALL, Match(ep=0x81, nth=3), count=2)
    assert str(fault) == "stall ep=0x81 nth=3 count=2"
    assert parse_fault("corrupt-descriptor", {"descriptor": "config"}).match == Match(
        descriptor=2)
    assert parse_fault("corrupt_descriptor", {}).match == Match(
        bmRequestType=0x80, bRequest=Request.GET_DESCRIPTOR)
    assert parse_fault("lying_total_length", {}).match == Match(descriptor=2)
    assert parse_fault("delay", {"request": "set_address", "ms": "250ms"}) == Fault(
        FaultKind.DELAY, Match(bRequest=5), ms=250)


@pytest.mark.parametrize(("kind", "options", "message"), [
    ("wobble", {}, "no fault kind 'wobble'; known kinds: stall, nak"),
    ("stall", {"port": "1"}, "unknown fault option 'port'"),
    ("stall", {"ep": "eighty"}, "ep='eighty': give a number"),
    ("babble", {"ep": "0x01"}, "babble happens on IN transfers; ep=0x01 is OUT"),
    ("nak", {}, "nak needs ms > 0"),
    ("stall", {"ep": "0x300"}, "Match.ep=768 is outside 0..0xff"),
    ("stall", {"nth": "0"}, "both count from 1"),
    ("crc", {"p": "2"}, "Match.probability=2.0 is outside 0..1"),
])
def test_mistakes_are_named(kind: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_fault(kind, options)


def test_a_plan_takes_faults_only() -> None:
    with pytest.raises(TypeError, match="give a Fault"):
        FaultPlan().add("stall")  # type: ignore[arg-type]
