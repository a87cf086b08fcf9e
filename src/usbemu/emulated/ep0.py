"""Endpoint 0 — the control pipe's SETUP / DATA / STATUS state machine, sans I/O.

Counterpart of QEMU's `do_token_setup/in/out` in hw/usb/core.c and of the ep0 handling a
Linux gadget controller driver does before calling the gadget's `setup()`.  The host side
feeds tokens (`setup`, `token_in`, `token_out`); the machine answers with `Outcome`s and
data, and calls its `ControlHandler` once per request: at the SETUP stage for IN and
no-data requests, at the status stage for OUT requests (so the status handshake carries
the request's result), and `control_complete` once the status stage is ACKed (SET_ADDRESS
takes effect then, as chapter 9 requires).  Every (stage, token) pair that the table below
does not list is a protocol STALL, cleared by the next SETUP.

What it does not do: decide what requests mean (that is `DeviceModel`), or time anything.
"""

from __future__ import annotations

from enum import Enum
from typing import Final, Protocol

from ..spec.ch9 import SetupPacket
from .endpoint import Outcome, Stall


class Stage(Enum):
    IDLE = "idle"
    DATA_IN = "data-in"  #: device sends the reply; an OUT token is the status stage
    DATA_OUT = "data-out"  #: host sends data; an IN token is the status stage
    STATUS_IN = "status-in"  #: no-data request: the host's IN token is the status stage
    STALLED = "stalled"  #: protocol or request stall until the next SETUP


class Token(Enum):
    IN = "in"
    OUT = "out"


class ControlHandler(Protocol):
    def control_request(self, setup: SetupPacket, data: bytes) -> bytes | None:
        """Answer one request: bytes for IN requests; raise Stall to refuse it."""

    def control_complete(self, setup: SetupPacket) -> None:
        """Called after the status stage of a successful request."""


_NO_DATA: Final = memoryview(b"")

_ACTIONS: Final[dict[tuple[Stage, Token], str]] = {
    (Stage.DATA_IN, Token.IN): "_send_data",
    (Stage.DATA_IN, Token.OUT): "_status_after_in",
    (Stage.DATA_OUT, Token.OUT): "_receive_data",
    (Stage.DATA_OUT, Token.IN): "_status_after_out",
    (Stage.STATUS_IN, Token.IN): "_status_no_data",
}


class ControlPipe:
    """The control endpoint of one device.  Context: atomic, never blocks."""

    __slots__ = ("_buffer", "_reply", "_sent", "handler", "maxpacket", "request", "stage")

    def __init__(self, handler: ControlHandler, maxpacket: int = 64) -> None:
        self.handler = handler
        self.maxpacket = maxpacket
        self.stage = Stage.IDLE
        self.request: SetupPacket | None = None
        self._reply: bytes = b""
        self._sent = 0
        self._buffer = bytearray()

    def reset(self) -> None:
        """Bus reset: forget any request in progress."""
        self.stage = Stage.IDLE
        self.request = None
        self._reply = b""
        self._buffer = bytearray()

    # -- tokens -------------------------------------------------------------------------------

    def setup(self, packet: SetupPacket | bytes) -> Outcome:
        """SETUP stage.  Always ACKed by the device (a new SETUP aborts any request in
        progress); a request that fails leaves the pipe STALLED for its data/status stage.
        Returns DONE, or STALL to tell the caller at once that the request was refused."""
        setup = packet if isinstance(packet, SetupPacket) else SetupPacket.unpack(packet)
        self.request = setup
        self._sent = 0
        self._buffer = bytearray()
        if setup.is_in and setup.wLength:
            return self._dispatch(setup, b"", Stage.DATA_IN)
        if setup.wLength:
            self.stage = Stage.DATA_OUT
            return Outcome.DONE
        return self._dispatch(setup, b"", Stage.STATUS_IN)

    def token_in(self, dst: memoryview) -> tuple[Outcome, int]:
        """An IN token: data-stage packets of an IN request, or the status stage of an OUT or
        no-data request.  Returns (outcome, bytes written to `dst`)."""
        action = _ACTIONS.get((self.stage, Token.IN))
        if action is None:
            return self._protocol_stall(), 0
        result: tuple[Outcome, int] = getattr(self, action)(dst)
        return result

    def token_out(self, src: memoryview) -> Outcome:
        """An OUT token: data-stage packets of an OUT request, or the status stage (a ZLP)
        of an IN request."""
        action = _ACTIONS.get((self.stage, Token.OUT))
        if action is None:
            return self._protocol_stall()
        outcome: Outcome = getattr(self, action)(src)
        return outcome

    # -- whole transfers ----------------------------------------------------------------------

    def transfer(self, setup: SetupPacket | bytes, data: bytes | memoryview = b"",
                 dst: memoryview | None = None) -> tuple[Outcome, int]:
        """Run SETUP, DATA and STATUS of one control transfer.

        IN requests fill `dst` (a buffer of wLength bytes, allocated if not given — read it
        back with `last_reply`); OUT requests send `data`.  Returns (outcome, bytes moved).
        """
        # The stage actions are called directly: the same sequence the tokens would run
        # through `_ACTIONS` from the stage `setup` leaves.
        if self.setup(setup) is Outcome.STALL:
            return Outcome.STALL, 0
        request = self.request
        assert request is not None
        stage = self.stage
        if stage is Stage.DATA_IN:
            _, n = self._send_data(dst if dst is not None
                                   else memoryview(bytearray(request.wLength)))
            return self._complete(), n
        if stage is Stage.DATA_OUT:
            outcome = self._receive_data(memoryview(data) if not isinstance(data, memoryview)
                                         else data)
            if outcome is not Outcome.DONE:
                return outcome, 0
            outcome, _ = self._status_after_out(_NO_DATA)
            return outcome, len(data)
        return self._complete(), 0

    @property
    def last_reply(self) -> bytes:
        """The data of the last IN request's reply (already cut to wLength)."""
        return self._reply

    # -- stage actions ------------------------------------------------------------------------

    def _dispatch(self, setup: SetupPacket, data: bytes, next_stage: Stage) -> Outcome:
        try:
            reply = self.handler.control_request(setup, data)
        except Stall:
            self.stage = Stage.STALLED
            return Outcome.STALL
        self._reply = bytes(reply[: setup.wLength]) if reply else b""
        self.stage = next_stage
        return Outcome.DONE

    def _send_data(self, dst: memoryview) -> tuple[Outcome, int]:
        chunk = self._reply[self._sent:self._sent + len(dst)]
        dst[: len(chunk)] = chunk
        self._sent += len(chunk)
        return Outcome.DONE, len(chunk)

    def _status_after_in(self, src: memoryview) -> Outcome:
        if len(src):
            return self._protocol_stall()
        return self._complete()

    def _receive_data(self, src: memoryview) -> Outcome:
        request = self.request
        assert request is not None
        if len(self._buffer) + len(src) > request.wLength:
            return self._protocol_stall()
        self._buffer += src
        return Outcome.DONE

    def _status_after_out(self, dst: memoryview) -> tuple[Outcome, int]:
        request = self.request
        assert request is not None
        if self._dispatch(request, bytes(self._buffer), Stage.STATUS_IN) is Outcome.STALL:
            return Outcome.STALL, 0
        return self._complete(), 0

    def _status_no_data(self, dst: memoryview) -> tuple[Outcome, int]:
        return self._complete(), 0

    def _complete(self) -> Outcome:
        request = self.request
        assert request is not None
        self.stage = Stage.IDLE
        self.handler.control_complete(request)
        return Outcome.DONE

    def _protocol_stall(self) -> Outcome:
        self.stage = Stage.STALLED
        return Outcome.STALL
