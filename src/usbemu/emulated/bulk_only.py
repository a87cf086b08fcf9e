"""Bulk-Only Transport, device side — counterpart of the transport half of Linux's
drivers/usb/gadget/function/f_mass_storage.c and of QEMU's hw/usb/dev-storage.c.

`BulkOnlyTransport` runs the USB Mass Storage Class Bulk-Only Transport 1.0 over a model's
bulk OUT and bulk IN endpoints, in front of a `ScsiTarget`: it takes a CBW, checks that it
is valid (31 bytes, signature) and meaningful (flags, LUN, command length), compares the
host's expectation (Hn, Hi, Ho and dCBWDataTransferLength) with the command's (Dn, Di, Do
from `data_phase`) as the thirteen cases of BOT §6.7 require, moves the data, ends a short
IN data stage with a short packet and a STALL of the bulk-in pipe, answers a phase error
with bCSWStatus 2, and sends the CSW with the CBW's tag and the residue.  An invalid CBW
stalls both pipes until a Bulk-Only Mass Storage Reset (a CLEAR_FEATURE(HALT) alone does
not end it); the reset readies the device for the next CBW and keeps the halts, which the
host clears (BOT §5.3.4).  `BulkOnlyDevice` is the base of models with such an interface:
it answers GET MAX LUN and the reset, and binds the transport when configured.  One-shot
faults (`StorageFault`) make the device answer wrong on purpose, for host-side tests.

What it does not do: CBI or UAS, or time anything — a command is carried out the moment its
CBW (or its last OUT data) arrives, and the reply waits for the host's IN tokens.
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import TYPE_CHECKING, Final

from ..errors import IllegalStateTransition
from ..spec.ch9 import DeviceState, SetupPacket
from ..spec.storage import (
    CBW_SIGNATURE,
    CSW_SIGNATURE,
    BulkStatus,
    Cbw,
    Csw,
    StorageRequest,
)
from .device import DeviceModel, request
from .endpoint import Endpoint, Outcome, Stall
from .scsi_target import Buffer, DataPhase, Medium, ScsiLun, ScsiResult, ScsiTarget

if TYPE_CHECKING:
    from ..spec.descriptors import ConfigDescriptor

__all__ = ["BotPhase", "BulkOnlyDevice", "BulkOnlyTransport", "StorageFault"]


class StorageFault(Enum):
    """Ways a device answers wrong, injected for the next command(s)
    (`BulkOnlyTransport.inject`).  STALL_DATA stalls the data stage's pipe at once: nothing
    moves and the command does not run; the CSW (status 0, the whole length as residue)
    follows once the host clears the halt.  It waits for the next command that has a data
    stage.  NO_CSW runs the command, but the status stage never comes: bulk IN NAKs until a
    Bulk-Only Mass Storage Reset or a bus reset."""

    BAD_SIGNATURE = "bad-signature"  #: the CSW says "USBC" instead of "USBS"
    BAD_TAG = "bad-tag"  #: the CSW carries the CBW's tag plus one
    PHASE_ERROR = "phase-error"  #: the command runs; its CSW says phase error (status 2)
    STALL_DATA = "stall-data"  #: the data stage stalls (see above)
    LYING_RESIDUE = "lying-residue"  #: the CSW's residue is the transfer length plus 512
    NO_CSW = "no-csw"  #: no CSW until a reset (see above)


class BotPhase(Enum):
    """Where the transport is between a CBW and its CSW."""

    COMMAND = "command"  #: waiting for a CBW on bulk OUT
    DATA_OUT = "data-out"  #: taking the host's data
    REPLY = "reply"  #: the data, a stall and the CSW wait for the host's IN tokens
    HUNG = "hung"  #: the CSW is withheld (NO_CSW): bulk IN NAKs until a reset
    INVALID = "invalid"  #: an invalid CBW: both pipes stall until a reset


_P = BotPhase
_TRANSITIONS: Final[dict[BotPhase, frozenset[BotPhase]]] = {
    _P.COMMAND: frozenset({_P.COMMAND, _P.DATA_OUT, _P.REPLY, _P.INVALID}),
    _P.DATA_OUT: frozenset({_P.COMMAND, _P.REPLY}),
    _P.REPLY: frozenset({_P.COMMAND, _P.HUNG}),
    _P.HUNG: frozenset({_P.COMMAND}),
    _P.INVALID: frozenset({_P.COMMAND}),
}


class _Step(Enum):
    STALL = "stall"  #: halt the bulk-in pipe (after the data before it was taken)


#: What LYING_RESIDUE adds to the transfer length.
_LIE: Final = 512
_MAX_U32: Final = 0xFFFFFFFF


class BulkOnlyTransport:
    """The Bulk-Only Transport of one interface: `target`'s LUNs behind the model's
    endpoints `bulk_in` and `bulk_out`.

    The owning model calls `bind` once a configuration created the endpoints and `reset`
    for a Bulk-Only Mass Storage Reset.  Context: every method is atomic.
    """

    def __init__(self, model: DeviceModel, target: ScsiTarget, *, bulk_in: int,
                 bulk_out: int, interface: int = 0) -> None:
        if not bulk_in & 0x80 or bulk_out & 0x80:
            raise ValueError(f"bulk_in={bulk_in:#04x} must be an IN address and "
                             f"bulk_out={bulk_out:#04x} an OUT one")
        self.model = model
        self.target = target
        self.bulk_in = bulk_in
        self.bulk_out = bulk_out
        self.interface = interface
        self._phase = BotPhase.COMMAND
        self._faults: dict[StorageFault, int] = {}
        self._clear()

    def __repr__(self) -> str:
        return f"<BulkOnlyTransport {self._phase.value} luns={len(self.target.luns)}>"

    def _clear(self) -> None:
        self._set_phase(BotPhase.COMMAND)
        self._cbw: Cbw | None = None
        self._active: frozenset[StorageFault] = frozenset()
        self._steps: deque[Buffer | _Step] = deque()
        self._csw: bytes | None = None
        self._in_waiting = False
        self._out_waiting = False
        # DATA_OUT: bytes the host still sends, bytes of them the command takes, the part
        # of those already in, and the status and residue the CSW will carry.
        self._out_left = 0
        self._out_take = 0
        self._out_buffer = bytearray()
        self._stall_out = False
        self._status = BulkStatus.OK
        self._residue = 0

    @property
    def phase(self) -> BotPhase:
        """Where the transport is (`_set_phase` is the only way it moves)."""
        return self._phase

    def _set_phase(self, new: BotPhase) -> None:
        """The one transition function of the transport.  Raises IllegalStateTransition
        for a move the table does not allow."""
        if new not in _TRANSITIONS[self._phase]:
            raise IllegalStateTransition(f"bulk-only: {self._phase.value} -> {new.value}")
        self._phase = new

    # -- the owning model's side --------------------------------------------------------------

    def bind(self) -> None:
        """Take over the model's bulk endpoints (after SET_CONFIGURATION or SET_INTERFACE
        created them) and wait for a CBW."""
        self._clear()
        ep_in, ep_out = self.model.endpoint(self.bulk_in), self.model.endpoint(self.bulk_out)
        if ep_in is not None:
            ep_in.in_handler = self.serve_in
        if ep_out is not None:
            ep_out.out_handler, ep_out.out_packets = self.accept_out, False

    def reset(self) -> None:
        """Bulk-Only Mass Storage Reset: whatever command was under way is dropped, queued
        data goes, an invalid-CBW state ends, and the device waits for a CBW.  Endpoint
        halts and data toggles stay as they are (BOT §5.3.4).  The LUNs' SCSI state is
        not touched (QEMU's usb-storage does the same)."""
        waiting = self._out_waiting
        self._clear()
        for address in (self.bulk_in, self.bulk_out):
            ep = self.model.endpoint(address)
            if ep is not None:
                ep.flush()
        if waiting:
            self._notify(self.bulk_out)

    def inject(self, fault: StorageFault, count: int = 1) -> None:
        """Make the next `count` commands (those with a data stage, for STALL_DATA) answer
        with `fault`.  Raises TypeError for a fault that is not a StorageFault, ValueError
        for a count under 1."""
        if not isinstance(fault, StorageFault):
            raise TypeError(f"inject() takes a StorageFault, not {type(fault).__name__}")
        if count < 1:
            raise ValueError(f"count={count}: must be at least 1")
        self._faults[fault] = self._faults.get(fault, 0) + count

    @property
    def faults(self) -> dict[StorageFault, int]:
        """Injected faults still to come, with how many commands each will hit."""
        return dict(self._faults)

    # -- endpoint handlers --------------------------------------------------------------------

    def serve_in(self, ep: Endpoint, room: int) -> Buffer | None:
        """Bulk IN handler: the next piece of the reply (data, a zero-length packet, a
        STALL, the CSW), or None to NAK."""
        phase = self._phase
        if phase is BotPhase.INVALID:
            raise Stall
        if phase is BotPhase.REPLY:
            if self._steps:
                step = self._steps.popleft()
                if step is _Step.STALL:
                    raise Stall
                return step
            csw = self._csw
            if csw is not None:
                self._csw = None
                self._set_phase(BotPhase.COMMAND)
                if self._out_waiting:
                    self._out_waiting = False
                    self._notify(self.bulk_out)
                return csw
            self._set_phase(BotPhase.HUNG)
        self._in_waiting = True
        return None

    def accept_out(self, ep: Endpoint, data: memoryview) -> Outcome | None:
        """Bulk OUT handler: a CBW, or the data of the command under way; NAK while the
        reply is still going out; STALL while an invalid CBW is pending."""
        phase = self._phase
        if phase is BotPhase.COMMAND:
            self._command(data)
            return None
        if phase is BotPhase.DATA_OUT:
            return self._data_out(data)
        if phase is BotPhase.INVALID:
            return Outcome.STALL
        self._out_waiting = True
        return Outcome.NAK

    # -- a command --------------------------------------------------------------------------

    def _command(self, data: memoryview) -> None:
        try:
            cbw = Cbw.unpack(data)
        except ValueError:
            self._invalid()
            return
        length = cbw.data_transfer_length
        self._cbw = cbw
        self._active = self._take_faults(length > 0)
        wanted = self.target.data_phase(cbw.lun, cbw.cb)
        if length == 0:
            self._no_data(cbw, wanted)
        elif cbw.is_in:
            self._data_in(cbw, wanted)
        else:
            self._expect_out(cbw, wanted)

    def _invalid(self) -> None:
        """BOT §6.6.1: STALL bulk IN, and bulk OUT too, until a Reset Recovery."""
        self._set_phase(BotPhase.INVALID)
        for address in (self.bulk_in, self.bulk_out):
            ep = self.model.endpoint(address)
            if ep is not None:
                ep.halt()

    def _take_faults(self, has_data: bool) -> frozenset[StorageFault]:
        active = set()
        for fault, count in list(self._faults.items()):
            if fault is StorageFault.STALL_DATA and not has_data:
                continue
            active.add(fault)
            if count > 1:
                self._faults[fault] = count - 1
            else:
                del self._faults[fault]
        return frozenset(active)

    def _no_data(self, cbw: Cbw, wanted: tuple[DataPhase, int] | None) -> None:
        """Case 1 (Hn = Dn); cases 2 and 3 (Hn < Di, Hn < Do) are phase errors."""
        if wanted is None or wanted[0] is not DataPhase.NONE:
            self._reply(BulkStatus.PHASE, 0)
            return
        result = self.target.execute(cbw.lun, cbw.cb, None, 0)
        self._reply(_status_of(result), 0)

    def _data_in(self, cbw: Cbw, wanted: tuple[DataPhase, int] | None) -> None:
        """Cases 4-6 (Hi > Dn, Hi > Di, Hi = Di), 7 (Hi < Di: the first Hi bytes, then a
        phase error) and 8 (Hi <> Do: a phase error, nothing sent)."""
        length = cbw.data_transfer_length
        if StorageFault.STALL_DATA in self._active:
            self._steps.append(_Step.STALL)
            self._reply(BulkStatus.OK, length)
            return
        if wanted is None or wanted[0] is DataPhase.OUT:
            self._send(b"", length)
            self._reply(BulkStatus.PHASE, length)
            return
        result = self.target.execute(cbw.lun, cbw.cb, None, length)
        status = BulkStatus.PHASE if wanted[1] > length else _status_of(result)
        self._send(result.data, length)
        self._reply(status, length - len(result.data))

    def _send(self, data: bytes, length: int) -> None:
        """Queue IN data for a host expecting `length` bytes: less ends with a short
        packet (a zero-length one after whole packets) and a STALL, as f_mass_storage's
        finish_reply() does."""
        if data:
            self._steps.append(data)
        if len(data) < length:
            ep = self.model.endpoint(self.bulk_in)
            maxp = ep.maxpacket if ep is not None else 512
            if len(data) % maxp == 0:
                self._steps.append(b"")
            self._steps.append(_Step.STALL)

    def _expect_out(self, cbw: Cbw, wanted: tuple[DataPhase, int] | None) -> None:
        """Cases 9 (Ho > Dn: the command runs, the data is discarded), 10 (Ho <> Di) and
        13 (Ho < Do) — phase errors, the data discarded — and 11, 12 (Ho >= Do: the
        command takes its Do bytes, the rest is discarded)."""
        length = cbw.data_transfer_length
        self._out_left, self._out_take = length, 0
        self._out_buffer = bytearray()
        self._stall_out = StorageFault.STALL_DATA in self._active
        self._set_phase(BotPhase.DATA_OUT)
        if self._stall_out:
            self._status, self._residue = BulkStatus.OK, length
        elif wanted is None or wanted[0] is DataPhase.IN or (
                wanted[0] is DataPhase.OUT and wanted[1] > length):
            self._status, self._residue = BulkStatus.PHASE, length
        elif wanted[0] is DataPhase.NONE:
            result = self.target.execute(cbw.lun, cbw.cb, None, 0)
            self._status, self._residue = _status_of(result), length
        else:
            self._out_take = wanted[1]

    def _data_out(self, data: memoryview) -> Outcome | None:
        if self._stall_out:
            self._stall_out = False
            self._reply(self._status, self._residue)
            return Outcome.STALL
        chunk = data[:self._out_left]
        self._out_left -= len(chunk)
        take = self._out_take
        if take:
            want = take - len(self._out_buffer)
            part = chunk[:want]
            if len(part) == take:
                self._run_out(part)
            else:
                self._out_buffer += part
                if len(self._out_buffer) == take:
                    self._run_out(self._out_buffer)
        if self._out_left == 0:
            self._reply(self._status, self._residue)
        return None

    def _run_out(self, data: Buffer) -> None:
        """Carry out the command with its Do bytes; the CSW reports Ho - Do left over, or
        the whole length when the command failed."""
        cbw = self._cbw
        assert cbw is not None
        take = self._out_take
        result = self.target.execute(cbw.lun, cbw.cb, data, 0)
        self._out_take, self._out_buffer = 0, bytearray()
        self._status = _status_of(result)
        length = cbw.data_transfer_length
        self._residue = length - take if result.good else length

    def _reply(self, status: BulkStatus, residue: int) -> None:
        """Queue the CSW after the steps already queued, as the active faults shape it,
        and wake a host waiting on bulk IN."""
        cbw = self._cbw
        assert cbw is not None
        faults = self._active
        self._set_phase(BotPhase.REPLY)
        if StorageFault.NO_CSW in faults:
            self._csw = None
        else:
            if StorageFault.PHASE_ERROR in faults:
                status = BulkStatus.PHASE
            if StorageFault.LYING_RESIDUE in faults:
                residue = min(cbw.data_transfer_length + _LIE, _MAX_U32)
            tag = cbw.tag + 1 if StorageFault.BAD_TAG in faults else cbw.tag
            signature = CBW_SIGNATURE if StorageFault.BAD_SIGNATURE in faults \
                else CSW_SIGNATURE
            self._csw = Csw(tag, residue, status).pack(signature)
        if self._in_waiting:
            self._in_waiting = False
            self._notify(self.bulk_in)

    def _notify(self, address: int) -> None:
        ep = self.model.endpoint(address)
        if ep is not None:
            ep.notify_ready()


def _status_of(result: ScsiResult) -> BulkStatus:
    return BulkStatus.OK if result.good else BulkStatus.FAIL


# -- the device side's class requests --------------------------------------------------------

_CLASS_IN_INTF: Final = 0xA1
_CLASS_OUT_INTF: Final = 0x21


class BulkOnlyDevice(DeviceModel):
    """Base of device models with a Bulk-Only mass-storage interface.

    A subclass sets `bulk_only` (None: the interface does not speak Bulk-Only, and its
    class requests STALL as unhandled ones).  This base answers GET MAX LUN (the highest
    LUN; a STALL when `stall_get_max_lun` is set, as some single-LUN sticks do, which
    Linux takes as LUN 0 only) and the Bulk-Only Mass Storage Reset, binds the transport
    whenever a configuration or altsetting creates the endpoints, resets the LUNs (power-on
    unit attention) on a bus reset, and offers the LUN, media and fault calls.
    Context: every method is atomic.
    """

    bulk_only: BulkOnlyTransport | None = None
    stall_get_max_lun: bool = False

    # -- class requests (BOT §3.1, §3.2) ----------------------------------------------------

    @request(_CLASS_IN_INTF, StorageRequest.GET_MAX_LUN)
    def _get_max_lun(self, setup: SetupPacket, data: bytes) -> bytes | None:
        bot = self.bulk_only
        if bot is None:
            return self.standard_request(setup, data)
        self._require(DeviceState.CONFIGURED)
        if (self.stall_get_max_lun or setup.wValue or setup.wLength != 1
                or setup.wIndex != bot.interface):
            raise Stall
        return bytes((bot.target.max_lun,))

    @request(_CLASS_OUT_INTF, StorageRequest.RESET)
    def _mass_storage_reset(self, setup: SetupPacket, data: bytes) -> bytes | None:
        bot = self.bulk_only
        if bot is None:
            return self.standard_request(setup, data)
        self._require(DeviceState.CONFIGURED)
        if setup.wValue or setup.wLength or setup.wIndex != bot.interface:
            raise Stall
        bot.reset()
        return None

    # -- hooks ----------------------------------------------------------------------------

    def on_configuration(self, config: ConfigDescriptor | None) -> None:
        if config is not None and self.bulk_only is not None:
            self.bulk_only.bind()

    def on_interface(self, interface: int, alt: int) -> None:
        bot = self.bulk_only
        if bot is not None and interface == bot.interface:
            bot.bind()

    def on_reset(self) -> None:
        if self.bulk_only is not None:
            self.bulk_only.target.reset()

    # -- LUNs, media, faults ----------------------------------------------------------------

    def _transport(self) -> BulkOnlyTransport:
        bot = self.bulk_only
        if bot is None:
            raise RuntimeError(f"{type(self).__name__} has no mass storage (its bulk "
                               "endpoints do not speak Bulk-Only)")
        return bot

    @property
    def target(self) -> ScsiTarget:
        """The LUNs behind the interface.  Raises RuntimeError without mass storage."""
        return self._transport().target

    def lun(self, n: int = 0) -> ScsiLun:
        """LUN `n`.  Raises IndexError past the last, RuntimeError without mass storage."""
        return self._transport().target.lun(n)

    def eject(self, lun: int = 0, *, force: bool = False) -> bool:
        """Take the medium out of LUN `lun` (`ScsiLun.eject`): False while the host
        prevents removal, unless `force`."""
        return self.lun(lun).eject(force=force)

    def insert(self, medium: Medium, lun: int = 0) -> None:
        """Put `medium` into LUN `lun` (`ScsiLun.insert`: a unit attention follows)."""
        self.lun(lun).insert(medium)

    def inject(self, fault: StorageFault, count: int = 1) -> None:
        """Answer the next `count` commands with `fault` (`BulkOnlyTransport.inject`)."""
        self._transport().inject(fault, count)
