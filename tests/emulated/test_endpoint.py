"""Tests for usbemu.emulated.endpoint: packetisation, handshakes, toggles, handlers, iso."""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usbemu.emulated.device import DeviceModel
from usbemu.emulated.endpoint import Endpoint, Outcome, Stall
from usbemu.spec.ch9 import EndpointType, Speed
from usbemu.spec.descriptors import DeviceDescriptor, EndpointDescriptor
from usbemu.testing import pull, push

# -- helpers ------------------------------------------------------------------------------------


@dataclass
class FakeHost:
    """Records the DeviceHost callbacks.  Unlike `usbemu.testing.RecordingHost` it keeps
    the (model, endpoint) pair of each endpoint_ready, which these tests check."""

    ready: list[tuple[DeviceModel, Endpoint]] = field(default_factory=list)
    wakeups: list[DeviceModel] = field(default_factory=list)
    disconnected: list[DeviceModel] = field(default_factory=list)

    def endpoint_ready(self, device: DeviceModel, ep: Endpoint) -> None:
        self.ready.append((device, ep))

    def remote_wakeup(self, device: DeviceModel) -> None:
        self.wakeups.append(device)

    def device_disconnected(self, device: DeviceModel) -> None:
        self.disconnected.append(device)


def bulk_in(maxp: int = 8, model: DeviceModel | None = None) -> Endpoint:
    return Endpoint(model, EndpointDescriptor.bulk(0x81, maxp))


def bulk_out(maxp: int = 8, model: DeviceModel | None = None) -> Endpoint:
    return Endpoint(model, EndpointDescriptor.bulk(0x02, maxp))


def hosted_model() -> tuple[DeviceModel, FakeHost]:
    model = DeviceModel(DeviceDescriptor(0x1234, 0x5678))
    host = FakeHost()
    model.host = host
    return model, host


A8, B8 = b"A" * 8, b"B" * 8


# -- IN: NAK, short packets, streams, ZLPs --------------------------------------------------------


def test_empty_queue_naks_without_touching_the_toggle() -> None:
    ep = bulk_in()
    assert pull(ep, 64) == (Outcome.NAK, b"")
    assert ep.toggle == 0 and ep.queued == 0


def test_short_packet_ends_the_transfer() -> None:
    ep = bulk_in()
    ep.write(b"abc")
    ep.write(b"def")
    assert pull(ep, 64) == (Outcome.DONE, b"abc")
    assert pull(ep, 64) == (Outcome.DONE, b"def")
    assert pull(ep, 64) == (Outcome.NAK, b"")


def test_short_last_packet_after_full_ones_ends_the_transfer() -> None:
    ep = bulk_in()
    ep.write(A8 * 2 + b"xyz")
    ep.write(b"next")
    assert pull(ep, 64) == (Outcome.DONE, A8 * 2 + b"xyz")
    assert ep.queued == 4


def test_exact_multiple_without_zlp_continues_into_the_next_write() -> None:
    ep = bulk_in()
    ep.write(A8 * 2)
    ep.write(B8)
    ep.write(b"tail")
    ep.write(b"other")
    assert pull(ep, 64) == (Outcome.DONE, A8 * 2 + B8 + b"tail")
    assert pull(ep, 64) == (Outcome.DONE, b"other")


def test_exact_multiple_then_empty_queue_naks_with_bytes_moved() -> None:
    ep = bulk_in()
    ep.write(A8 * 2)
    assert pull(ep, 64) == (Outcome.NAK, A8 * 2)
    ep.write(b"end")
    assert pull(ep, 64 - 16) == (Outcome.DONE, b"end")


def test_zlp_flag_ends_an_exact_multiple_with_a_zero_length_packet() -> None:
    ep = bulk_in()
    ep.write(A8 * 2, zlp=True)
    ep.write(b"next")
    assert pull(ep, 64) == (Outcome.DONE, A8 * 2)
    assert ep.toggle == 1  # two data packets and the ZLP
    assert pull(ep, 64) == (Outcome.DONE, b"next")


def test_zlp_flag_on_a_short_transfer_adds_nothing() -> None:
    ep = bulk_in()
    ep.write(b"abc", zlp=True)
    assert pull(ep, 64) == (Outcome.DONE, b"abc")
    assert ep.toggle == 1
    assert pull(ep, 64) == (Outcome.NAK, b"")


def test_write_of_nothing_is_a_zlp() -> None:
    ep = bulk_in()
    ep.write(b"")
    ep.write(b"")
    assert ep.queued == 0
    assert pull(ep, 64) == (Outcome.DONE, b"")
    assert ep.toggle == 1
    assert pull(ep, 64) == (Outcome.DONE, b"")
    assert ep.toggle == 0
    assert pull(ep, 64) == (Outcome.NAK, b"")


def test_zlp_after_exact_multiple_ends_a_stream() -> None:
    ep = bulk_in()
    ep.write(A8)
    ep.write(b"")
    ep.write(B8)
    assert pull(ep, 64) == (Outcome.DONE, A8)
    assert pull(ep, 64) == (Outcome.NAK, B8)


def test_full_host_buffer_of_whole_packets_leaves_the_rest_queued() -> None:
    ep = bulk_in()
    ep.write(bytes(range(38)))
    assert pull(ep, 16) == (Outcome.DONE, bytes(range(16)))
    assert ep.queued == 22
    assert pull(ep, 16) == (Outcome.DONE, bytes(range(16, 32)))
    assert pull(ep, 16) == (Outcome.DONE, bytes(range(32, 38)))
    assert ep.queued == 0


def test_host_buffer_filled_exactly_at_the_end_of_a_zlp_write_keeps_the_zlp() -> None:
    ep = bulk_in()
    ep.write(A8 * 2, zlp=True)
    ep.write(b"next")
    assert pull(ep, 16) == (Outcome.DONE, A8 * 2)
    assert pull(ep, 16) == (Outcome.DONE, b"")  # the ZLP, as its own transfer (dummy_hcd)
    assert pull(ep, 16) == (Outcome.DONE, b"next")


def test_host_buffer_ending_on_a_short_packet_is_done() -> None:
    ep = bulk_in()
    ep.write(A8 + b"xyz")
    assert pull(ep, 11) == (Outcome.DONE, A8 + b"xyz")


def test_host_buffer_full_in_the_middle_of_a_stream() -> None:
    ep = bulk_in()
    ep.write(A8)
    ep.write(B8)
    ep.write(b"c")
    assert pull(ep, 8) == (Outcome.DONE, A8)
    assert pull(ep, 8) == (Outcome.DONE, B8)
    assert pull(ep, 8) == (Outcome.DONE, b"c")


# -- IN: babble ---------------------------------------------------------------------------------


def test_babble_when_the_first_packet_does_not_fit() -> None:
    ep = bulk_in()
    ep.write(b"0123456789")
    assert pull(ep, 5) == (Outcome.BABBLE, b"01234")
    assert ep.toggle == 1


def test_babble_delivers_the_full_packets_and_the_bytes_that_fit() -> None:
    ep = bulk_in()
    ep.write(bytes(range(30)))
    assert pull(ep, 12) == (Outcome.BABBLE, bytes(range(12)))
    assert ep.toggle == 0  # two packets went out


def test_babble_on_a_short_last_packet() -> None:
    ep = bulk_in()
    ep.write(A8 + b"xyz")
    assert pull(ep, 10) == (Outcome.BABBLE, A8 + b"xy")
    assert ep.queued == 0


def test_short_packet_that_fits_exactly_is_not_babble() -> None:
    ep = bulk_in()
    ep.write(b"xyz")
    assert pull(ep, 3) == (Outcome.DONE, b"xyz")


def test_zero_length_in_transfer_with_data_queued_is_babble() -> None:
    ep = bulk_in()
    ep.write(b"abc")
    assert pull(ep, 0) == (Outcome.BABBLE, b"")


def test_zero_length_in_transfer_takes_a_queued_zlp() -> None:
    ep = bulk_in()
    ep.write(b"")
    assert pull(ep, 0) == (Outcome.DONE, b"")
    assert pull(ep, 0) == (Outcome.NAK, b"")


def test_babble_completes_the_device_side_transfer() -> None:
    ep = bulk_in()
    ep.write(bytes(range(20)))
    ep.write(b"next")
    assert pull(ep, 12)[0] is Outcome.BABBLE
    assert pull(ep, 64) == (Outcome.DONE, b"next")


# -- halt and toggles ---------------------------------------------------------------------------


def test_halted_endpoint_stalls_and_keeps_its_data() -> None:
    ep = bulk_in()
    ep.write(b"abc")
    ep.halt()
    assert ep.halted
    assert pull(ep, 64) == (Outcome.STALL, b"")
    assert ep.queued == 3
    ep.clear_halt()
    assert pull(ep, 64) == (Outcome.DONE, b"abc")


def test_halted_out_endpoint_stalls_and_takes_nothing() -> None:
    ep = bulk_out()
    ep.halt()
    assert push(ep, b"abc") == (Outcome.STALL, 0)
    assert ep.pending_out() == 0 and ep.read() is None


def test_halted_endpoint_does_not_call_its_in_handler() -> None:
    ep = bulk_in()
    calls: list[int] = []

    def source(_ep: Endpoint, room: int) -> bytes | None:
        calls.append(room)
        return b"x"

    ep.in_handler = source
    ep.halt()
    assert pull(ep, 64) == (Outcome.STALL, b"")
    assert calls == []


def test_halt_wakes_a_waiting_host() -> None:
    model, host = hosted_model()
    ep = bulk_in(model=model)
    assert pull(ep, 64)[0] is Outcome.NAK
    ep.halt()
    assert host.ready == [(model, ep)]


def test_clear_halt_resets_the_toggle_even_when_not_halted() -> None:
    ep = bulk_in()
    ep.write(b"x")
    pull(ep, 64)
    assert ep.toggle == 1 and not ep.halted
    ep.clear_halt()
    assert ep.toggle == 0 and not ep.halted


def test_reset_toggle() -> None:
    ep = bulk_out()
    push(ep, b"x")
    assert ep.toggle == 1
    ep.reset_toggle()
    assert ep.toggle == 0


@pytest.mark.parametrize(
    ("length", "zlp", "packets"),
    [(0, False, 1), (1, False, 1), (7, False, 1), (8, False, 1), (8, True, 2), (9, False, 2),
     (16, False, 2), (16, True, 3), (17, True, 3), (24, True, 4), (63, False, 8)],
)
def test_in_toggle_parity_follows_the_packet_count(length: int, zlp: bool,
                                                   packets: int) -> None:
    ep = bulk_in()
    ep.write(b"z" * length, zlp=zlp)
    outcome, data = pull(ep, 1024)
    assert data == b"z" * length
    if length % 8 or length == 0 or zlp:
        assert outcome is Outcome.DONE
    assert ep.toggle == packets % 2


@pytest.mark.parametrize(
    ("length", "zlp", "packets"),
    [(0, False, 1), (1, False, 1), (8, False, 1), (8, True, 2), (9, False, 2), (16, True, 3),
     (17, True, 3), (63, False, 8)],
)
def test_out_toggle_parity_follows_the_packet_count(length: int, zlp: bool,
                                                    packets: int) -> None:
    queued = bulk_out()
    assert push(queued, b"z" * length, zlp) == (Outcome.DONE, length)
    assert queued.toggle == packets % 2
    handled = bulk_out()
    handled.out_handler = lambda _ep, _data: None
    push(handled, b"z" * length, zlp)
    assert handled.toggle == packets % 2
    per_packet = bulk_out()
    per_packet.out_handler, per_packet.out_packets = (lambda _ep, _data: None), True
    push(per_packet, b"z" * length, zlp)
    assert per_packet.toggle == packets % 2


def test_toggle_accumulates_over_transfers() -> None:
    ep = bulk_in()
    for _ in range(3):
        ep.write(b"abc")
        pull(ep, 64)
    assert ep.toggle == 1
    ep.write(A8 * 3 + b"x")  # four packets
    pull(ep, 64)
    assert ep.toggle == 1


# -- IN handler ---------------------------------------------------------------------------------


def test_in_handler_is_asked_with_the_room_left() -> None:
    ep = bulk_in()
    rooms: list[int] = []

    def source(_ep: Endpoint, room: int) -> bytes | None:
        rooms.append(room)
        return b"hello"

    ep.in_handler = source
    assert pull(ep, 64) == (Outcome.DONE, b"hello")
    assert rooms == [64]


def test_in_handler_none_naks() -> None:
    ep = bulk_in()
    ep.in_handler = lambda _ep, _room: None
    assert pull(ep, 64) == (Outcome.NAK, b"")
    assert not ep.halted


def test_in_handler_stall_halts_the_endpoint() -> None:
    ep = bulk_in()

    def refuse(_ep: Endpoint, _room: int) -> bytes | None:
        raise Stall

    ep.in_handler = refuse
    assert pull(ep, 64) == (Outcome.STALL, b"")
    assert ep.halted


def test_in_handler_full_packets_continue_the_transfer() -> None:
    ep = bulk_in()
    answers: deque[bytes | None] = deque([A8, B8, b"c", b"never"])
    rooms: list[int] = []

    def source(_ep: Endpoint, room: int) -> bytes | None:
        rooms.append(room)
        return answers.popleft()

    ep.in_handler = source
    assert pull(ep, 64) == (Outcome.DONE, A8 + B8 + b"c")
    assert rooms == [64, 56, 48]


def test_in_handler_stall_after_full_packets_reports_the_bytes_moved() -> None:
    ep = bulk_in()
    answers: deque[bytes | None] = deque([A8])

    def source(_ep: Endpoint, _room: int) -> bytes | None:
        if answers:
            return answers.popleft()
        raise Stall

    ep.in_handler = source
    assert pull(ep, 64) == (Outcome.STALL, A8)
    assert ep.halted


def test_in_handler_empty_answer_is_a_zlp() -> None:
    ep = bulk_in()
    ep.in_handler = lambda _ep, _room: b""
    assert pull(ep, 64) == (Outcome.DONE, b"")
    assert ep.toggle == 1


def test_in_handler_is_not_asked_while_data_is_queued() -> None:
    ep = bulk_in()
    calls: list[int] = []

    def source(_ep: Endpoint, room: int) -> bytes | None:
        calls.append(room)
        return None

    ep.in_handler = source
    ep.write(b"queued")
    assert pull(ep, 64) == (Outcome.DONE, b"queued")
    assert calls == []


def test_in_handler_may_return_bytearray_or_memoryview() -> None:
    ep = bulk_in()
    ep.in_handler = lambda _ep, _room: bytearray(b"ba")
    assert pull(ep, 64) == (Outcome.DONE, b"ba")
    ep.in_handler = lambda _ep, _room: memoryview(array("H", [0x4241]))
    assert pull(ep, 64) == (Outcome.DONE, b"AB")


# -- OUT ----------------------------------------------------------------------------------------


def test_default_out_queue_keeps_transfers_in_order() -> None:
    ep = bulk_out()
    assert push(ep, b"one") == (Outcome.DONE, 3)
    assert push(ep, A8 * 4) == (Outcome.DONE, 32)
    assert push(ep, b"") == (Outcome.DONE, 0)
    assert ep.pending_out() == 3
    assert ep.read() == b"one"
    assert ep.read() == A8 * 4
    assert ep.read() == b""
    assert ep.read() is None
    assert ep.pending_out() == 0


def test_default_out_queue_copies_the_host_buffer() -> None:
    ep = bulk_out()
    buf = bytearray(b"abc")
    ep.push_out(memoryview(buf))
    buf[:] = b"xyz"
    assert ep.read() == b"abc"


def test_out_limit_naks_until_the_model_reads() -> None:
    model, host = hosted_model()
    ep = bulk_out(model=model)
    ep.out_limit = 2
    assert push(ep, b"1") == (Outcome.DONE, 1)
    assert push(ep, b"2") == (Outcome.DONE, 1)
    assert push(ep, b"3") == (Outcome.NAK, 0)
    assert ep.toggle == 0  # the NAKed transfer did not flip it
    assert host.ready == []
    assert ep.read() == b"1"
    assert host.ready == [(model, ep)]
    assert push(ep, b"3") == (Outcome.DONE, 1)
    assert [ep.read(), ep.read(), ep.read()] == [b"2", b"3", None]


def test_out_handler_sees_the_whole_transfer() -> None:
    ep = bulk_out()
    seen: list[bytes] = []
    ep.out_handler = lambda _ep, data: seen.append(bytes(data))
    assert push(ep, A8 * 3 + b"x") == (Outcome.DONE, 25)
    assert push(ep, b"") == (Outcome.DONE, 0)
    assert seen == [A8 * 3 + b"x", b""]
    assert ep.pending_out() == 0


def test_out_handler_nak_takes_nothing() -> None:
    ep = bulk_out()
    ep.out_handler = lambda _ep, _data: Outcome.NAK
    assert push(ep, A8 * 2) == (Outcome.NAK, 0)
    assert ep.toggle == 0 and not ep.halted


def test_out_handler_stall_halts() -> None:
    ep = bulk_out()

    def refuse(_ep: Endpoint, _data: memoryview) -> Outcome | None:
        raise Stall

    ep.out_handler = refuse
    assert push(ep, b"abc") == (Outcome.STALL, 0)
    assert ep.halted
    assert push(ep, b"abc") == (Outcome.STALL, 0)


def test_out_handler_in_packets_mode_sees_one_packet_at_a_time() -> None:
    ep = bulk_out()
    seen: list[bytes] = []
    ep.out_handler, ep.out_packets = (lambda _ep, data: seen.append(bytes(data))), True
    data = bytes(range(20))
    assert push(ep, data) == (Outcome.DONE, 20)
    assert seen == [data[:8], data[8:16], data[16:]]
    seen.clear()
    assert push(ep, A8 * 2, zlp=True) == (Outcome.DONE, 16)
    assert seen == [A8, A8, b""]
    seen.clear()
    assert push(ep, b"") == (Outcome.DONE, 0)
    assert seen == [b""]


def test_out_packets_mode_nak_part_way_returns_the_bytes_accepted() -> None:
    ep = bulk_out()
    seen: list[bytes] = []

    def sink(_ep: Endpoint, data: memoryview) -> Outcome | None:
        if len(seen) == 2:
            return Outcome.NAK
        seen.append(bytes(data))
        return None

    ep.out_handler, ep.out_packets = sink, True
    data = bytes(range(30))
    assert push(ep, data) == (Outcome.NAK, 16)
    assert ep.toggle == 0  # two packets ACKed
    seen.append(b"")  # let the rest through
    assert push(ep, data[16:]) == (Outcome.DONE, 14)
    assert b"".join(seen) == data


def test_out_packets_mode_stall_part_way_halts() -> None:
    ep = bulk_out()
    count = 0

    def sink(_ep: Endpoint, _data: memoryview) -> Outcome | None:
        nonlocal count
        count += 1
        if count == 3:
            raise Stall
        return None

    ep.out_handler, ep.out_packets = sink, True
    assert push(ep, bytes(40)) == (Outcome.STALL, 16)
    assert ep.halted
    assert ep.toggle == 0


def test_write_on_an_out_endpoint_is_an_error() -> None:
    with pytest.raises(ValueError, match="0x02 is OUT"):
        bulk_out().write(b"x")


def test_write_accepts_any_buffer() -> None:
    ep = bulk_in()
    ep.write(bytearray(b"ab"))
    ep.write(memoryview(b"cd"))
    ep.write(array("H", [0x6665]))  # type: ignore[arg-type]  # any buffer works at runtime
    assert ep.queued == 6
    assert [pull(ep, 64)[1] for _ in range(3)] == [b"ab", b"cd", b"ef"]


def test_queued_counts_bytes_not_yet_taken() -> None:
    ep = bulk_in()
    ep.write(bytes(20))
    ep.write(bytes(3))
    assert ep.queued == 23
    pull(ep, 8)
    assert ep.queued == 15


def test_flush_drops_in_and_out_data() -> None:
    ep = bulk_in()
    ep.write(bytes(20))
    pull(ep, 8)
    ep.flush()
    assert ep.queued == 0
    assert pull(ep, 64) == (Outcome.NAK, b"")
    out = bulk_out()
    push(out, b"abc")
    out.flush()
    assert out.pending_out() == 0 and out.read() is None


# -- notify_ready -------------------------------------------------------------------------------


def test_write_notifies_the_host() -> None:
    model, host = hosted_model()
    ep = bulk_in(model=model)
    ep.write(b"x")
    ep.write(b"")
    assert host.ready == [(model, ep), (model, ep)]


def test_read_notifies_only_when_something_was_read() -> None:
    model, host = hosted_model()
    ep = bulk_out(model=model)
    assert ep.read() is None
    assert host.ready == []
    push(ep, b"x")
    assert host.ready == []
    ep.read()
    assert host.ready == [(model, ep)]


def test_notify_ready_without_model_or_host_is_harmless() -> None:
    bulk_in().write(b"x")
    model = DeviceModel(DeviceDescriptor(1, 2))
    Endpoint(model, EndpointDescriptor.bulk(0x81, 8)).notify_ready()
    model_with_host, host = hosted_model()
    ep = bulk_in(model=model_with_host)
    ep.notify_ready()
    assert host.ready == [(model_with_host, ep)]


# -- attributes ---------------------------------------------------------------------------------


def test_attributes_come_from_the_descriptor() -> None:
    desc = EndpointDescriptor.interrupt(0x83, 0x0800 | 64, 4)
    ep = Endpoint(None, desc, Speed.HIGH)
    assert (ep.address, ep.is_in, ep.type, ep.maxpacket, ep.mult) == (
        0x83, True, EndpointType.INT, 64, 2)
    assert ep.desc is desc and ep.model is None
    assert ep.in_handler is None and ep.out_handler is None
    assert not ep.out_packets and ep.out_limit is None
    assert repr(ep) == "<Endpoint 0x83 int maxp=64>"
    assert repr(bulk_out(512)) == "<Endpoint 0x02 bulk maxp=512>"


def test_high_bandwidth_multiplier_only_at_high_speed() -> None:
    desc = EndpointDescriptor.isochronous(0x81, 0x1000 | 1024)
    assert Endpoint(None, desc, Speed.HIGH).mult == 3
    assert Endpoint(None, desc, Speed.FULL).mult == 1
    assert Endpoint(None, desc, Speed.SUPER).mult == 1


@pytest.mark.parametrize(
    ("desc", "speed", "period"),
    [
        (EndpointDescriptor.bulk(0x81, 64), Speed.FULL, 0),
        (EndpointDescriptor.bulk(0x81, 512, bInterval=4), Speed.HIGH, 0),
        (EndpointDescriptor.bulk(0x02, 512, bInterval=4), Speed.HIGH, 500),  # NAK rate
        (EndpointDescriptor.bulk(0x02, 64, bInterval=4), Speed.FULL, 0),
        (EndpointDescriptor.interrupt(0x81, 8, 10), Speed.FULL, 10_000),
        (EndpointDescriptor.interrupt(0x81, 8, 10), Speed.LOW, 10_000),
        (EndpointDescriptor.interrupt(0x81, 8, 4), Speed.HIGH, 1_000),
        (EndpointDescriptor.interrupt(0x81, 8, 1), Speed.HIGH, 125),
        (EndpointDescriptor.interrupt(0x81, 8, 0), Speed.HIGH, 125),  # clamped to 1
        (EndpointDescriptor.interrupt(0x81, 8, 20), Speed.HIGH, 125 << 15),  # clamped to 16
        (EndpointDescriptor.interrupt(0x81, 8, 4), Speed.SUPER, 1_000),
        (EndpointDescriptor.isochronous(0x81, 192, 1), Speed.FULL, 1_000),
        (EndpointDescriptor.isochronous(0x81, 192, 4), Speed.FULL, 8_000),
        (EndpointDescriptor.isochronous(0x81, 1024, 4), Speed.HIGH, 1_000),
    ],
)
def test_period_us_as_usb_decode_interval(desc: EndpointDescriptor, speed: Speed,
                                          period: int) -> None:
    assert Endpoint(None, desc, speed).period_us == period


# -- isochronous --------------------------------------------------------------------------------


def iso(address: int, wmaxp: int = 64, speed: Speed = Speed.FULL) -> Endpoint:
    return Endpoint(None, EndpointDescriptor.isochronous(address, wmaxp), speed)


def test_iso_in_one_write_per_packet() -> None:
    ep = iso(0x81)
    assert ep.iso_in(64) == b""
    ep.write(b"first")
    ep.write(b"second")
    assert ep.iso_in(64) == b"first"
    assert ep.iso_in(64) == b"second"
    assert ep.iso_in(64) == b""
    assert ep.toggle == 0


def test_iso_in_is_cut_to_the_packet_limit_and_the_rest_is_lost() -> None:
    ep = iso(0x81, 16)
    ep.write(bytes(range(40)))
    ep.write(b"next")
    assert ep.iso_in(1024) == bytes(range(16))
    assert ep.iso_in(1024) == b"next"
    ep.write(bytes(range(10)))
    assert ep.iso_in(4) == bytes(range(4))
    assert ep.iso_in(4) == b""


def test_iso_in_high_bandwidth_packet() -> None:
    ep = iso(0x81, 0x0800 | 1024, Speed.HIGH)
    ep.write(bytes(3000))
    assert len(ep.iso_in(4096)) == 2048


def test_iso_in_asks_the_handler_with_the_packet_limit() -> None:
    ep = iso(0x81, 16)
    rooms: list[int] = []

    def source(_ep: Endpoint, room: int) -> bytes | None:
        rooms.append(room)
        return bytes(range(room))

    ep.in_handler = source
    assert ep.iso_in(100) == bytes(range(16))
    assert ep.iso_in(10) == bytes(range(10))
    assert rooms == [16, 10]
    ep.in_handler = lambda _ep, _room: None
    assert ep.iso_in(100) == b""


def test_iso_in_handler_stall_yields_nothing() -> None:
    ep = iso(0x81)

    def refuse(_ep: Endpoint, _room: int) -> bytes | None:
        raise Stall

    ep.in_handler = refuse
    assert ep.iso_in(64) == b""


def test_iso_out_queues_and_drops_when_full() -> None:
    ep = iso(0x02)
    ep.out_limit = 2
    for packet in (b"1", b"2", b"3"):
        ep.iso_out(memoryview(packet))
    assert [ep.read(), ep.read(), ep.read()] == [b"1", b"2", None]
    unlimited = iso(0x02)
    for _ in range(100):
        unlimited.iso_out(memoryview(b"x"))
    assert unlimited.pending_out() == 100
    assert unlimited.toggle == 0


def test_iso_out_handler_and_stall_is_lost_silently() -> None:
    ep = iso(0x02)
    seen: list[bytes] = []

    def sink(_ep: Endpoint, data: memoryview) -> Outcome | None:
        seen.append(bytes(data))
        if bytes(data) == b"bad":
            raise Stall
        return Outcome.NAK

    ep.out_handler = sink
    ep.iso_out(memoryview(b"ok"))
    ep.iso_out(memoryview(b"bad"))
    ep.iso_out(memoryview(b"more"))
    assert seen == [b"ok", b"bad", b"more"]
    assert not ep.halted
    assert ep.pending_out() == 0


# -- properties: no data lost or duplicated -----------------------------------------------------


def reference_packets(data: bytes, zlp: bool, maxp: int) -> list[bytes]:
    """The packets one device-side IN transfer goes out as."""
    packets = [data[i:i + maxp] for i in range(0, len(data), maxp)]
    if not data or (zlp and len(data) % maxp == 0):
        packets.append(b"")
    return packets


def reference_pull(packets: deque[bytes], room: int, maxp: int) -> tuple[Outcome, bytes, int]:
    """What one IN transfer of `room` bytes gets, packet by packet: (outcome, data, packets)."""
    out, count = bytearray(), 0
    while packets:
        packet = packets.popleft()
        count += 1
        if len(packet) > room:
            return Outcome.BABBLE, bytes(out + packet[:room]), count
        out += packet
        room -= len(packet)
        if len(packet) < maxp or room == 0:
            return Outcome.DONE, bytes(out), count
    return Outcome.NAK, bytes(out), count


writes_st = st.tuples(st.binary(max_size=40), st.booleans())
ops_st = st.lists(st.one_of(st.tuples(st.just("write"), writes_st),
                            st.tuples(st.just("pull"), st.integers(1, 50))), max_size=30)


@settings(deadline=None, max_examples=300)
@given(st.sampled_from([1, 8, 16]), ops_st)
def test_in_transfers_match_a_packet_by_packet_model(maxp: int,
                                                     ops: list[tuple[str, object]]) -> None:
    ep = bulk_in(maxp)
    packets: deque[bytes] = deque()
    toggle = 0
    written, delivered = bytearray(), bytearray()
    for kind, arg in ops:
        if kind == "write":
            assert isinstance(arg, tuple)
            data, zlp = arg
            ep.write(data, zlp=zlp)
            packets.extend(reference_packets(data, zlp, maxp))
            written += data
            continue
        assert isinstance(arg, int)
        expected_outcome, expected_data, count = reference_pull(packets, arg, maxp)
        toggle ^= count & 1
        assert pull(ep, arg) == (expected_outcome, expected_data)
        assert ep.toggle == toggle
        if expected_outcome is Outcome.BABBLE:
            return  # what follows babble is tested on its own
        delivered += expected_data
    while True:
        outcome, data = pull(ep, 64)
        delivered += data
        if outcome is Outcome.NAK and not data:
            break
    assert bytes(delivered) == bytes(written)
    assert ep.queued == 0


@settings(deadline=None, max_examples=200)
@given(st.sampled_from([1, 8, 64]), st.lists(writes_st, max_size=20),
       st.lists(st.integers(1, 200), min_size=1, max_size=10))
def test_no_in_data_is_lost_or_duplicated_unless_babble(maxp: int,
                                                        writes: list[tuple[bytes, bool]],
                                                        rooms: list[int]) -> None:
    ep = bulk_in(maxp)
    for data, zlp in writes:
        ep.write(data, zlp=zlp)
    delivered, babble = bytearray(), False
    for i in range(10_000):
        outcome, data = pull(ep, rooms[i % len(rooms)])
        delivered += data
        babble |= outcome is Outcome.BABBLE
        if ep.queued == 0 and outcome is not Outcome.DONE:
            break
    if not babble:
        assert bytes(delivered) == b"".join(d for d, _ in writes)
    else:
        assert len(delivered) <= sum(len(d) for d, _ in writes)


@settings(deadline=None, max_examples=200)
@given(st.sampled_from([1, 8, 64]), st.lists(writes_st, max_size=20),
       st.lists(st.booleans(), min_size=1, max_size=16))
def test_no_out_data_is_lost_or_duplicated_across_naks(maxp: int,
                                                       transfers: list[tuple[bytes, bool]],
                                                       naks: list[bool]) -> None:
    ep = bulk_out(maxp)
    accepted = bytearray()
    decisions = deque(naks)
    last_nak = False

    def sink(_ep: Endpoint, data: memoryview) -> Outcome | None:
        nonlocal last_nak
        decisions.rotate(-1)
        if decisions[0] and not last_nak:
            last_nak = True
            return Outcome.NAK
        last_nak = False
        accepted.extend(data)
        return None

    ep.out_handler, ep.out_packets = sink, True
    packets = 0
    for data, zlp in transfers:
        offset = 0
        while True:
            outcome, n = push(ep, data[offset:], zlp)
            offset += n
            if outcome is Outcome.DONE:
                break
            assert outcome is Outcome.NAK
        assert offset == len(data)
        full, rest = divmod(len(data), maxp)
        packets += full + (1 if rest or not data or zlp else 0)
    assert bytes(accepted) == b"".join(d for d, _ in transfers)
    assert ep.toggle == packets % 2


@settings(deadline=None, max_examples=100)
@given(st.lists(writes_st, max_size=20))
def test_default_out_queue_keeps_every_transfer(transfers: list[tuple[bytes, bool]]) -> None:
    ep = bulk_out()
    for data, zlp in transfers:
        assert push(ep, data, zlp) == (Outcome.DONE, len(data))
    assert [ep.read() for _ in transfers] == [d for d, _ in transfers]
    assert ep.read() is None


def test_out_handler_returning_stall_halts_the_endpoint() -> None:
    for packets in (False, True):
        ep = bulk_out()
        ep.out_handler = lambda _ep, _data: Outcome.STALL
        ep.out_packets = packets
        assert push(ep, b"abc")[0] is Outcome.STALL
        assert ep.halted


def test_write_copies_a_mutable_buffer() -> None:
    ep = bulk_in()
    data = bytearray(b"abc")
    ep.write(data)
    data[:] = b"xyz"
    assert pull(ep, 8) == (Outcome.DONE, b"abc")
