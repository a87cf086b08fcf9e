"""The pyusb backend's wire protocol (bridges/pyusb_rpc.py): frames round-trip, arrive in
any split, and anything malformed is refused with a ProtocolError naming it."""

from __future__ import annotations

import struct

import pytest

from usbemu.bridges.pyusb_rpc import MAX_DEPTH, MAX_FRAME, Decoder, ProtocolError, encode

MESSAGE = ["bulk", 3, -7, "é", b"\x00\xff" * 100, None, [1, [b"", "x"]], True]


def test_round_trip_byte_by_byte() -> None:
    frame = encode(MESSAGE)
    decoder = Decoder()
    got = []
    for i in range(len(frame)):
        got += decoder.feed(frame[i:i + 1])
    assert got == [["bulk", 3, -7, "é", b"\x00\xff" * 100, None, [1, [b"", "x"]], 1]]
    assert decoder.pending == 0


def test_several_frames_in_one_read() -> None:
    assert Decoder().feed(encode(["a"]) + encode(["b", 2]) + encode(["c"])[:3]) == [
        ["a"], ["b", 2]]


def test_encode_refuses_what_it_cannot_send() -> None:
    with pytest.raises(TypeError, match="cannot send a float"):
        encode([1.5])  # type: ignore[list-item]
    deep: list[object] = []
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match="MAX_DEPTH"):
        encode(deep)  # type: ignore[arg-type]


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize(("data", "message"), [
    (frame(b"X"), "unknown tag b'X'"),
    (frame(b"I\x00"), "frame ends inside a value"),
    (frame(b"L\x00\x00\x00\x01NN"), "1 bytes left over"),
    (frame(b"S\x00\x00\x00\x02\xff\xfe"), "not UTF-8"),
    (frame(b"B\xff\xff\xff\xff"), "runs past the frame"),
    (frame(b"N"), "a message is a list"),
    (struct.pack(">I", MAX_FRAME + 1), "exceeds MAX_FRAME"),
    (frame(b"L\x00\x00\x00\x01" * (MAX_DEPTH + 2) + b"N"), "nest deeper"),
])
def test_malformed_frames(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        Decoder().feed(data)
