"""Tests for usbemu.emulated.ep0: the SETUP / DATA / STATUS state machine of the control pipe."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usbemu.emulated.endpoint import Outcome, Stall
from usbemu.emulated.ep0 import ControlPipe, Stage
from usbemu.spec.ch9 import SetupPacket

# -- helpers ------------------------------------------------------------------------------------


@dataclass
class FakeHandler:
    """A ControlHandler that records what the pipe asks of it."""

    reply: bytes | None = b""
    stall: bool = False
    requests: list[tuple[SetupPacket, bytes]] = field(default_factory=list)
    completed: list[SetupPacket] = field(default_factory=list)

    def control_request(self, setup: SetupPacket, data: bytes) -> bytes | None:
        self.requests.append((setup, data))
        if self.stall:
            raise Stall
        return self.reply

    def control_complete(self, setup: SetupPacket) -> None:
        self.completed.append(setup)


IN_REQ = SetupPacket(0xC0, 0x01, 0x0000, 0x0000, 20)  # vendor IN, 20 bytes
OUT_REQ = SetupPacket(0x40, 0x02, 0x1234, 0x0000, 12)  # vendor OUT, 12 bytes
NODATA_REQ = SetupPacket(0x40, 0x03, 0x0001, 0x0000, 0)  # vendor, no data stage
ZLP = memoryview(b"")


def pipe_with(reply: bytes | None = b"", stall: bool = False,
              maxpacket: int = 8) -> tuple[ControlPipe, FakeHandler]:
    handler = FakeHandler(reply, stall)
    return ControlPipe(handler, maxpacket), handler


def token_in(pipe: ControlPipe, room: int) -> tuple[Outcome, bytes]:
    buf = bytearray(room)
    outcome, n = pipe.token_in(memoryview(buf))
    return outcome, bytes(buf[:n])


def stalled(pipe: ControlPipe) -> bool:
    return pipe.stage is Stage.STALLED


# -- IN requests --------------------------------------------------------------------------------


def test_in_request_is_dispatched_at_setup() -> None:
    pipe, handler = pipe_with(bytes(range(20)))
    assert pipe.stage is Stage.IDLE and pipe.request is None
    assert pipe.setup(IN_REQ) is Outcome.DONE
    assert handler.requests == [(IN_REQ, b"")]
    assert pipe.stage is Stage.DATA_IN
    assert pipe.request == IN_REQ
    assert handler.completed == []


def test_in_data_stage_in_several_packets_then_status() -> None:
    reply = bytes(range(20))
    pipe, handler = pipe_with(reply)
    pipe.setup(IN_REQ)
    assert token_in(pipe, 8) == (Outcome.DONE, reply[:8])
    assert token_in(pipe, 8) == (Outcome.DONE, reply[8:16])
    assert token_in(pipe, 8) == (Outcome.DONE, reply[16:])
    assert handler.completed == []
    assert pipe.stage is Stage.DATA_IN
    assert pipe.token_out(ZLP) is Outcome.DONE
    assert handler.completed == [IN_REQ]
    assert pipe.stage is Stage.IDLE
    assert len(handler.requests) == 1


def test_in_data_stage_after_the_reply_is_exhausted_sends_zlps() -> None:
    pipe, _ = pipe_with(bytes(16))
    pipe.setup(SetupPacket(0xC0, 0x01, 0, 0, 64))
    assert token_in(pipe, 8) == (Outcome.DONE, bytes(8))
    assert token_in(pipe, 8) == (Outcome.DONE, bytes(8))
    assert token_in(pipe, 8) == (Outcome.DONE, b"")  # the ZLP that ends a short reply


def test_in_status_stage_completes_exactly_once() -> None:
    pipe, handler = pipe_with(b"abc")
    pipe.setup(IN_REQ)
    token_in(pipe, 64)
    assert pipe.token_out(ZLP) is Outcome.DONE
    assert pipe.token_out(ZLP) is Outcome.STALL
    assert token_in(pipe, 64) == (Outcome.STALL, b"")
    assert handler.completed == [IN_REQ]


def test_host_may_end_the_in_data_stage_early() -> None:
    pipe, handler = pipe_with(bytes(range(20)))
    pipe.setup(IN_REQ)
    assert token_in(pipe, 8) == (Outcome.DONE, bytes(range(8)))
    assert pipe.token_out(ZLP) is Outcome.DONE
    assert handler.completed == [IN_REQ]


def test_in_status_stage_with_data_is_a_protocol_stall() -> None:
    pipe, handler = pipe_with(b"abc")
    pipe.setup(IN_REQ)
    token_in(pipe, 64)
    assert pipe.token_out(memoryview(b"x")) is Outcome.STALL
    assert stalled(pipe)
    assert handler.completed == []


@pytest.mark.parametrize("wlength", [1, 5, 19, 20])
def test_in_reply_is_cut_to_wlength(wlength: int) -> None:
    pipe, _ = pipe_with(bytes(range(40)))
    pipe.setup(SetupPacket(0xC0, 0x01, 0, 0, wlength))
    assert pipe.last_reply == bytes(range(wlength))
    assert token_in(pipe, 255) == (Outcome.DONE, bytes(range(wlength)))


def test_in_reply_shorter_than_wlength_is_a_short_answer() -> None:
    pipe, _ = pipe_with(b"short")
    assert pipe.transfer(SetupPacket(0xC0, 0x01, 0, 0, 255)) == (Outcome.DONE, 5)
    assert pipe.last_reply == b"short"


def test_in_reply_none_is_an_empty_data_stage() -> None:
    pipe, handler = pipe_with(None)
    pipe.setup(IN_REQ)
    assert token_in(pipe, 64) == (Outcome.DONE, b"")
    assert pipe.token_out(ZLP) is Outcome.DONE
    assert handler.completed == [IN_REQ]


def test_in_reply_may_be_bytearray_or_memoryview() -> None:
    pipe, _ = pipe_with()
    pipe.handler = FakeHandler(bytearray(b"abc"))  # type: ignore[arg-type]
    pipe.setup(IN_REQ)
    assert pipe.last_reply == b"abc" and isinstance(pipe.last_reply, bytes)
    pipe.handler = FakeHandler(memoryview(b"xyz"))  # type: ignore[arg-type]
    pipe.setup(IN_REQ)
    assert pipe.last_reply == b"xyz"


def test_in_request_with_wlength_zero_is_a_no_data_request() -> None:
    pipe, handler = pipe_with(b"ignored")
    setup = SetupPacket(0xC0, 0x01, 0, 0, 0)
    assert pipe.setup(setup) is Outcome.DONE
    assert pipe.stage is Stage.STATUS_IN
    assert handler.requests == [(setup, b"")]
    assert token_in(pipe, 64) == (Outcome.DONE, b"")
    assert handler.completed == [setup]
    assert pipe.last_reply == b""


# -- OUT requests -------------------------------------------------------------------------------


def test_out_request_is_dispatched_at_the_status_stage_with_the_data() -> None:
    pipe, handler = pipe_with()
    assert pipe.setup(OUT_REQ) is Outcome.DONE
    assert pipe.stage is Stage.DATA_OUT
    assert handler.requests == []
    assert pipe.token_out(memoryview(b"01234567")) is Outcome.DONE
    assert pipe.token_out(memoryview(b"89ab")) is Outcome.DONE
    assert handler.requests == []
    assert token_in(pipe, 0) == (Outcome.DONE, b"")
    assert handler.requests == [(OUT_REQ, b"0123456789ab")]
    assert handler.completed == [OUT_REQ]
    assert pipe.stage is Stage.IDLE


def test_out_request_data_stage_may_include_zlps() -> None:
    pipe, handler = pipe_with()
    pipe.setup(OUT_REQ)
    assert pipe.token_out(ZLP) is Outcome.DONE
    pipe.token_out(memoryview(b"abc"))
    token_in(pipe, 0)
    assert handler.requests == [(OUT_REQ, b"abc")]


def test_out_request_with_too_much_data_stalls() -> None:
    pipe, handler = pipe_with()
    pipe.setup(OUT_REQ)
    assert pipe.token_out(memoryview(b"01234567")) is Outcome.DONE
    assert pipe.token_out(memoryview(b"89abc")) is Outcome.STALL
    assert stalled(pipe)
    assert token_in(pipe, 0) == (Outcome.STALL, b"")
    assert handler.requests == [] and handler.completed == []


def test_out_request_with_less_data_dispatches_what_arrived() -> None:
    pipe, handler = pipe_with()
    pipe.setup(OUT_REQ)
    pipe.token_out(memoryview(b"abc"))
    assert token_in(pipe, 0) == (Outcome.DONE, b"")
    assert handler.requests == [(OUT_REQ, b"abc")]


def test_out_request_refused_at_the_status_stage() -> None:
    pipe, handler = pipe_with(stall=True)
    pipe.setup(OUT_REQ)
    assert pipe.token_out(memoryview(bytes(12))) is Outcome.DONE
    assert token_in(pipe, 0) == (Outcome.STALL, b"")
    assert stalled(pipe)
    assert handler.requests == [(OUT_REQ, bytes(12))]
    assert handler.completed == []


def test_out_status_completes_exactly_once() -> None:
    pipe, handler = pipe_with()
    pipe.setup(OUT_REQ)
    pipe.token_out(memoryview(bytes(12)))
    assert token_in(pipe, 0) == (Outcome.DONE, b"")
    assert token_in(pipe, 0) == (Outcome.STALL, b"")
    assert handler.completed == [OUT_REQ]
    assert len(handler.requests) == 1


# -- no-data requests ---------------------------------------------------------------------------


def test_no_data_request_dispatch_and_status() -> None:
    pipe, handler = pipe_with()
    assert pipe.setup(NODATA_REQ) is Outcome.DONE
    assert handler.requests == [(NODATA_REQ, b"")]
    assert pipe.stage is Stage.STATUS_IN
    assert handler.completed == []
    assert token_in(pipe, 64) == (Outcome.DONE, b"")
    assert handler.completed == [NODATA_REQ]
    assert pipe.stage is Stage.IDLE


def test_no_data_out_token_is_a_protocol_stall() -> None:
    pipe, handler = pipe_with()
    pipe.setup(NODATA_REQ)
    assert pipe.token_out(ZLP) is Outcome.STALL
    assert stalled(pipe)
    assert handler.completed == []


# -- stalls -------------------------------------------------------------------------------------


@pytest.mark.parametrize("setup", [IN_REQ, NODATA_REQ])
def test_stall_at_setup_leaves_the_pipe_stalled_until_the_next_setup(
        setup: SetupPacket) -> None:
    pipe, handler = pipe_with(stall=True)
    assert pipe.setup(setup) is Outcome.STALL
    assert stalled(pipe)
    for _ in range(3):
        assert token_in(pipe, 64) == (Outcome.STALL, b"")
        assert pipe.token_out(ZLP) is Outcome.STALL
        assert pipe.token_out(memoryview(b"data")) is Outcome.STALL
    assert handler.completed == []
    handler.stall = False
    assert pipe.setup(NODATA_REQ) is Outcome.DONE
    assert token_in(pipe, 0) == (Outcome.DONE, b"")
    assert handler.completed == [NODATA_REQ]


@pytest.mark.parametrize("token", ["in", "out", "out-data"])
def test_tokens_while_idle_are_protocol_stalls(token: str) -> None:
    pipe, handler = pipe_with()
    if token == "in":
        assert token_in(pipe, 64) == (Outcome.STALL, b"")
    else:
        data = memoryview(b"x" if token == "out-data" else b"")
        assert pipe.token_out(data) is Outcome.STALL
    assert stalled(pipe)
    assert handler.requests == [] and handler.completed == []


@pytest.mark.parametrize(
    ("setup", "token", "allowed"),
    [
        (IN_REQ, "in", True),  # data stage
        (IN_REQ, "out", True),  # status stage
        (OUT_REQ, "out", True),  # data stage
        (OUT_REQ, "in", True),  # status stage
        (NODATA_REQ, "in", True),  # status stage
        (NODATA_REQ, "out", False),
    ],
)
def test_token_table(setup: SetupPacket, token: str, allowed: bool) -> None:
    pipe, _ = pipe_with(b"reply")
    pipe.setup(setup)
    if token == "in":
        outcome, _ = pipe.token_in(memoryview(bytearray(64)))
    else:
        outcome = pipe.token_out(ZLP)
    assert (outcome is Outcome.DONE) is allowed
    assert stalled(pipe) is not allowed


def test_new_setup_aborts_an_in_request() -> None:
    pipe, handler = pipe_with(bytes(range(20)))
    pipe.setup(IN_REQ)
    token_in(pipe, 8)
    handler.reply = b"second"
    second = SetupPacket(0xC0, 0x05, 0, 0, 6)
    assert pipe.setup(second) is Outcome.DONE
    assert token_in(pipe, 64) == (Outcome.DONE, b"second")  # starts from the beginning
    pipe.token_out(ZLP)
    assert handler.completed == [second]


def test_new_setup_aborts_an_out_request_and_drops_its_data() -> None:
    pipe, handler = pipe_with()
    pipe.setup(OUT_REQ)
    pipe.token_out(memoryview(b"01234567"))
    assert pipe.setup(OUT_REQ) is Outcome.DONE
    pipe.token_out(memoryview(b"new"))
    token_in(pipe, 0)
    assert handler.requests == [(OUT_REQ, b"new")]
    assert handler.completed == [OUT_REQ]


def test_new_setup_aborts_a_no_data_request_before_its_status() -> None:
    pipe, handler = pipe_with()
    pipe.setup(NODATA_REQ)
    pipe.setup(IN_REQ)
    assert pipe.stage is Stage.DATA_IN
    assert handler.completed == []


def test_setup_accepts_raw_bytes() -> None:
    pipe, handler = pipe_with(b"x")
    assert pipe.setup(bytes(IN_REQ)) is Outcome.DONE
    assert handler.requests == [(IN_REQ, b"")]
    with pytest.raises(ValueError, match="8 bytes"):
        pipe.setup(b"\x80\x06")


def test_reset_forgets_the_request_in_progress() -> None:
    pipe, handler = pipe_with(b"abc")
    pipe.setup(IN_REQ)
    pipe.reset()
    assert pipe.stage is Stage.IDLE and pipe.request is None
    assert pipe.last_reply == b""
    assert pipe.token_out(ZLP) is Outcome.STALL
    assert handler.completed == []


def test_maxpacket_and_handler_are_kept() -> None:
    handler = FakeHandler()
    assert ControlPipe(handler).maxpacket == 64
    pipe = ControlPipe(handler, 8)
    assert pipe.maxpacket == 8 and pipe.handler is handler


# -- transfer() ---------------------------------------------------------------------------------


def test_transfer_in_fills_dst_and_completes() -> None:
    pipe, handler = pipe_with(bytes(range(20)))
    buf = bytearray(20)
    assert pipe.transfer(IN_REQ, dst=memoryview(buf)) == (Outcome.DONE, 20)
    assert bytes(buf) == bytes(range(20))
    assert handler.completed == [IN_REQ]
    assert pipe.stage is Stage.IDLE


def test_transfer_in_without_dst_keeps_the_reply() -> None:
    pipe, _ = pipe_with(b"abc")
    assert pipe.transfer(bytes(IN_REQ)) == (Outcome.DONE, 3)
    assert pipe.last_reply == b"abc"


def test_transfer_in_into_a_smaller_dst_ends_the_data_stage_early() -> None:
    pipe, handler = pipe_with(bytes(range(20)))
    buf = bytearray(4)
    assert pipe.transfer(IN_REQ, dst=memoryview(buf)) == (Outcome.DONE, 4)
    assert bytes(buf) == bytes(range(4))
    assert handler.completed == [IN_REQ]


def test_transfer_out_and_no_data() -> None:
    pipe, handler = pipe_with()
    assert pipe.transfer(OUT_REQ, b"hello world!") == (Outcome.DONE, 12)
    assert pipe.transfer(OUT_REQ, memoryview(b"mv")) == (Outcome.DONE, 2)
    assert pipe.transfer(NODATA_REQ) == (Outcome.DONE, 0)
    assert handler.requests == [(OUT_REQ, b"hello world!"), (OUT_REQ, b"mv"),
                                (NODATA_REQ, b"")]
    assert handler.completed == [OUT_REQ, OUT_REQ, NODATA_REQ]


def test_transfer_stalls() -> None:
    pipe, handler = pipe_with(stall=True)
    assert pipe.transfer(IN_REQ) == (Outcome.STALL, 0)
    assert pipe.transfer(NODATA_REQ) == (Outcome.STALL, 0)
    # An OUT request is refused at its status stage, after the data stage was ACKed.
    outcome, _ = pipe.transfer(OUT_REQ, b"x" * 12)
    assert outcome is Outcome.STALL
    assert handler.completed == []
    handler.stall = False
    assert pipe.transfer(OUT_REQ, b"x" * 13) == (Outcome.STALL, 0)
    assert handler.requests[-1][0] == OUT_REQ and len(handler.requests) == 3


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=300), st.integers(1, 0xFFFF), st.sampled_from([8, 16, 64]))
def test_in_data_stage_by_packets_reassembles_the_cut_reply(reply: bytes, wlength: int,
                                                            maxp: int) -> None:
    pipe, handler = pipe_with(reply, maxpacket=maxp)
    pipe.setup(SetupPacket(0x80, 0x06, 0x0100, 0, wlength))
    got = bytearray()
    while True:
        outcome, data = token_in(pipe, maxp)
        assert outcome is Outcome.DONE
        got += data
        if len(data) < maxp or len(got) == wlength:
            break
    assert bytes(got) == reply[:wlength]
    assert pipe.token_out(ZLP) is Outcome.DONE
    assert len(handler.completed) == 1


@settings(deadline=None, max_examples=100)
@given(st.lists(st.binary(max_size=16), max_size=8), st.integers(0, 200))
def test_out_data_stage_by_packets(packets: list[bytes], wlength: int) -> None:
    pipe, handler = pipe_with()
    setup = SetupPacket(0x40, 0x02, 0, 0, max(wlength, 1))
    pipe.setup(setup)
    total = 0
    for packet in packets:
        total += len(packet)
        outcome = pipe.token_out(memoryview(packet))
        if total > setup.wLength:
            assert outcome is Outcome.STALL
            assert token_in(pipe, 0)[0] is Outcome.STALL
            assert handler.requests == []
            return
        assert outcome is Outcome.DONE
    assert token_in(pipe, 0) == (Outcome.DONE, b"")
    assert handler.requests == [(setup, b"".join(packets))]
    assert handler.completed == [setup]
