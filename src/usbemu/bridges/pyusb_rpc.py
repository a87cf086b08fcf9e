"""The pyusb backend's wire protocol — usbemu's own, no Linux counterpart (the nearest is
libusb's client side of usbfs, carried across a process boundary).

A program's `UsbemuBackend.connect(path)` and a machine's `serve_pyusb(system, path)` talk
over a local stream socket in frames: a 4-byte big-endian payload length, then one
message, a list of tagged values (None, int, str, bytes and nested lists).  A call is
``[method, *args]``; its reply is ``["ok", value]`` or ``["err", errno, message]``.
This module is sans-I/O: `encode` turns a message into bytes, `Decoder.feed` turns bytes
into messages and raises ProtocolError (naming what is wrong) on anything malformed — an
unknown tag, a length past `MAX_FRAME`, nesting deeper than `MAX_DEPTH`, bytes left over
in a frame — so a hostile peer is refused, never trusted.  It knows nothing of sockets
or of the calls themselves.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, TypeAlias

__all__ = ["MAX_DEPTH", "MAX_FRAME", "Decoder", "ProtocolError", "Value", "encode"]

Value: TypeAlias = "int | str | bytes | list[Value] | None"

#: The largest payload a frame may announce (a 64 MiB transfer plus its header).
MAX_FRAME: Final = 64 * 1024 * 1024 + 4096
#: How deeply lists may nest.
MAX_DEPTH: Final = 8

_HEADER: Final = struct.Struct(">I")
_INT: Final = struct.Struct(">q")
_LEN: Final = struct.Struct(">I")


class ProtocolError(ValueError):
    """A frame that is not a well-formed message."""


def _encode_value(value: Value, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"message nests deeper than MAX_DEPTH={MAX_DEPTH}")
    if value is None:
        out.append(b"N")
    elif isinstance(value, bool | int):
        out.append(b"I" + _INT.pack(int(value)))
    elif isinstance(value, str):
        raw = value.encode()
        out.append(b"S" + _LEN.pack(len(raw)))
        out.append(raw)
    elif isinstance(value, bytes | bytearray | memoryview):
        out.append(b"B" + _LEN.pack(len(value)))
        out.append(bytes(value))
    elif isinstance(value, list | tuple):
        out.append(b"L" + _LEN.pack(len(value)))
        for item in value:
            _encode_value(item, out, depth + 1)
    else:
        raise TypeError(f"cannot send a {type(value).__name__}: values are None, int, str, "
                        "bytes or lists of them")


def encode(message: Sequence[Value]) -> bytes:
    """One frame holding `message`.  Raises TypeError for a value of another type and
    ValueError for a message too large or nested too deeply.  Context: atomic."""
    parts: list[bytes] = []
    _encode_value(list(message), parts, 0)
    payload = b"".join(parts)
    if len(payload) > MAX_FRAME:
        raise ValueError(f"message of {len(payload)} bytes exceeds MAX_FRAME={MAX_FRAME}")
    return _HEADER.pack(len(payload)) + payload


class _Reader:
    """A cursor over one frame's payload."""

    def __init__(self, payload: bytes) -> None:
        self.data = payload
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ProtocolError(f"frame ends inside a value (needs {n} bytes at {self.pos})")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def length(self) -> int:
        n: int = _LEN.unpack(self.take(4))[0]
        if n > len(self.data) - self.pos:
            raise ProtocolError(f"length {n} at {self.pos} runs past the frame")
        return n

    def value(self, depth: int) -> Value:
        if depth > MAX_DEPTH:
            raise ProtocolError(f"lists nest deeper than {MAX_DEPTH}")
        tag = self.take(1)
        if tag == b"N":
            return None
        if tag == b"I":
            number: int = _INT.unpack(self.take(8))[0]
            return number
        if tag == b"S":
            try:
                return self.take(self.length()).decode()
            except UnicodeDecodeError as exc:
                raise ProtocolError(f"string is not UTF-8: {exc}") from None
        if tag == b"B":
            return self.take(self.length())
        if tag == b"L":
            return [self.value(depth + 1) for _ in range(self.length())]
        raise ProtocolError(f"unknown tag {tag!r} at {self.pos - 1}")


class Decoder:
    """Bytes in, messages out: `feed` keeps a partial frame for the next call."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[list[Value]]:
        """The messages completed by `data`.  Raises ProtocolError for a malformed
        frame (the stream is then unusable).  Context: atomic."""
        self._buffer += data
        messages: list[list[Value]] = []
        while len(self._buffer) >= _HEADER.size:
            size: int = _HEADER.unpack_from(self._buffer)[0]
            if size > MAX_FRAME:
                raise ProtocolError(f"frame of {size} bytes exceeds MAX_FRAME={MAX_FRAME}")
            if len(self._buffer) < _HEADER.size + size:
                break
            payload = bytes(self._buffer[_HEADER.size:_HEADER.size + size])
            del self._buffer[:_HEADER.size + size]
            messages.append(self._message(payload))
        return messages

    @staticmethod
    def _message(payload: bytes) -> list[Value]:
        reader = _Reader(payload)
        message = reader.value(0)
        if reader.pos != len(payload):
            raise ProtocolError(f"{len(payload) - reader.pos} bytes left over in a frame")
        if not isinstance(message, list):
            raise ProtocolError("a message is a list")
        return message

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held."""
        return len(self._buffer)
