"""Running SCSI commands — counterpart of drivers/scsi/scsi_lib.c (scsi_queue_rq,
scsi_dispatch_cmd, scsi_complete, scsi_execute_cmd with its failure lists,
scsi_io_completion, scsi_mode_sense, scsi_test_unit_ready) and of
scsi_set_medium_removal from scsi_ioctl.c.

A `ScsiRequest` is the block request around a `ScsiCmnd`: internal commands
(`scsi_execute_cmd`: the scan's INQUIRY, sd's READ CAPACITY …) are "passthrough" and
quiet, sd's reads and writes are not.  `scsi_execute_rq` runs one to its end: it waits for
the unit's state to allow it and for the host to have room (can_queue, the unit's
queue_depth, no error recovery under way; first come, first served), hands it to the
driver's `queuecommand`, and waits for `scsi_done()` or the timeout; then
scsi_decide_disposition (scsi_error.py) says finish, retry, requeue after a delay, or
call the error handler, which may itself retry or finish it.  A driver answering
SCSI_MLQUEUE_HOST_BUSY or _DEVICE_BUSY is asked again 3 ms later.  `scsi_io_completion`
turns a finished block command into the block layer's status, with Linux's retry,
requeue and failure actions and its "FAILED Result:" / sense / "CDB:" lines.

Deviations: there is no block-layer request queue per unit here — commands wait on their
host in arrival order, which is what blk-mq gives a host with one hardware queue; the
host_blocked/device_blocked countdowns are a fixed 3 ms delay; a block command that ends
without error but moves no data is sent again only while its retries last (Linux requeues
it for ever, which a device answering at once would turn into a livelock here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final, NamedTuple

from ...errors import Errno
from ...spec.scsi import Opcode, SamStatus, Sense, SenseKey
from ..block.request import BlkStatus
from ..printk import Level
from .constants import Disposition
from .scsi_cmnd import (
    SCSI_MLQUEUE_DEVICE_BUSY,
    SCSI_MLQUEUE_HOST_BUSY,
    DataDirection,
    HostByte,
    ScsiCmnd,
    host_byte,
    status_byte,
)
from .scsi_device import ScsiDevice, ScsiDriver, SdevState, scsi_device_online
from .scsi_error import (
    ScsiMlStat,
    Verdict,
    scsi_cmd_retry_allowed,
    scsi_decide_disposition,
    scsi_host_queuecommand,
    scsi_ml_byte,
    scsi_noretry_cmd,
    scsi_timeout,
)
from .scsi_logging import scsi_print_command, scsi_print_result, scsi_print_sense, sdev_printk

if TYPE_CHECKING:
    from .hosts import ScsiHost

__all__ = [
    "SCMD_FAILURE_ASCQ_ANY",
    "SCMD_FAILURE_ASC_ANY",
    "SCMD_FAILURE_NO_LIMIT",
    "SCMD_FAILURE_RESULT_ANY",
    "SCMD_FAILURE_SENSE_ANY",
    "SCMD_FAILURE_STAT_ANY",
    "SCSI_QUEUE_DELAY_S",
    "ExecResult",
    "IoAction",
    "IoCompletion",
    "ModeData",
    "ModeSenseResult",
    "ScsiFailure",
    "ScsiFailures",
    "ScsiRequest",
    "scsi_check_passthrough",
    "scsi_device_state_check",
    "scsi_execute_cmd",
    "scsi_execute_rq",
    "scsi_io_completion",
    "scsi_mode_sense",
    "scsi_result_to_blk_status",
    "scsi_run_host_queues",
    "scsi_sense_valid",
    "scsi_set_medium_removal",
    "scsi_status_is_check_condition",
    "scsi_status_is_good",
    "scsi_test_unit_ready",
]

#: SCSI_QUEUE_DELAY: how long a command a busy driver refused waits before it is offered
#: again.
SCSI_QUEUE_DELAY_S: Final = 0.003
#: IOCTL_DEFAULT_TIMEOUT and NORMAL_RETRIES of scsi_ioctl.c.
IOCTL_DEFAULT_TIMEOUT_S: Final = 10.0
NORMAL_RETRIES: Final = 5


@dataclass(eq=False)
class ScsiRequest:
    """The request a command travels in (struct request + the mid-layer's part of struct
    scsi_cmnd).  `passthrough` and `quiet` are true for scsi_execute_cmd's commands;
    `pm` lets a command through a unit being removed (sd's cache flush); `disk_name` and
    `uld` are set for commands of an upper-level driver's disk (sd)."""

    cmd: ScsiCmnd
    passthrough: bool = True
    quiet: bool = True
    pm: bool = False
    disk_name: str | None = None
    uld: ScsiDriver | None = None
    #: The tag the host knew the command by when it was last dispatched (-1: never).
    tag: int = -1
    #: jiffies_at_alloc: when the request was first queued (machine time, seconds).
    alloc_time: float = 0.0
    #: SCSI_EH_ABORT_SCHEDULED: the timeout handler tried to abort this command.
    abort_scheduled: bool = False
    #: SCMD_STATE_COMPLETE: scsi_done or the timeout has claimed the current dispatch.
    complete: bool = True
    #: The error handler's verdict, while the command is in its hands.
    verdict: asyncio.Future[Verdict] | None = field(default=None, repr=False)


class ExecResult(NamedTuple):
    """What scsi_execute_cmd returns: the result word (host byte << 16 | SAM status,
    with the SCSI-ML byte in bits 24-31), the normalized sense (None without valid
    sense data), and the residue."""

    result: int
    sense: Sense | None
    resid: int = 0


# -- status helpers (include/scsi/scsi.h, scsi_common.c) ------------------------------------------


def scsi_status_is_good(result: int) -> bool:
    """scsi_status_is_good(): the status byte says GOOD, CONDITION MET or an
    intermediate status (the host byte is not looked at).  Context: atomic."""
    return status_byte(result) in (SamStatus.GOOD, SamStatus.CONDITION_MET, 0x10, 0x14)


def scsi_status_is_check_condition(result: int) -> bool:
    """scsi_status_is_check_condition(): a CHECK CONDITION status, any host byte.
    Context: atomic."""
    return result >= 0 and status_byte(result) == SamStatus.CHECK_CONDITION


def scsi_sense_valid(sense: Sense | None) -> bool:
    """scsi_sense_valid(): there is sense data (a 0x7x response code).  Context:
    atomic."""
    return sense is not None and (sense.response_code & 0x70) == 0x70


# -- failure lists of scsi_execute_cmd (include/scsi/scsi_device.h) -----------------------------

SCMD_FAILURE_RESULT_ANY: Final = 0x7FFFFFFF
SCMD_FAILURE_STAT_ANY: Final = 0xFF
SCMD_FAILURE_SENSE_ANY: Final = 0xFF
SCMD_FAILURE_ASC_ANY: Final = 0xFF
SCMD_FAILURE_ASCQ_ANY: Final = 0xFF
SCMD_FAILURE_NO_LIMIT: Final = -1


@dataclass
class ScsiFailure:
    """struct scsi_failure: a result (host byte << 16, a status, or an ANY value) and, for
    CHECK CONDITION, the sense key, ASC and ASCQ it must have; `allowed` retries of its
    own (0: the list's total_allowed)."""

    result: int
    sense: int = 0
    asc: int = 0
    ascq: int = 0
    allowed: int = 0
    retries: int = 0


@dataclass
class ScsiFailures:
    """struct scsi_failures: the failure definitions and a retry budget they share."""

    failure_definitions: Sequence[ScsiFailure]
    total_allowed: int = 0
    total_retries: int = 0

    def reset_retries(self) -> None:
        """scsi_failures_reset_retries()."""
        self.total_retries = 0
        for failure in self.failure_definitions:
            failure.retries = 0


def _failure_matches(failure: ScsiFailure, result: int, sense: Sense | None) -> bool | None:
    """Whether `failure` covers `result`; None when its sense cannot be judged (stop)."""
    if failure.result == SCMD_FAILURE_RESULT_ANY:
        return True
    if host_byte(result) and host_byte(result) == host_byte(failure.result):
        return True
    status = status_byte(result)
    if not status:
        return False
    if failure.result == SCMD_FAILURE_STAT_ANY and not scsi_status_is_good(result):
        return True
    if status != status_byte(failure.result):
        return False
    if status_byte(failure.result) != SamStatus.CHECK_CONDITION or \
            failure.sense == SCMD_FAILURE_SENSE_ANY:
        return True
    if not scsi_sense_valid(sense):
        return None
    assert sense is not None
    if failure.sense != sense.key:
        return False
    if failure.asc == SCMD_FAILURE_ASC_ANY:
        return True
    if failure.asc != sense.asc:
        return False
    return failure.ascq in (SCMD_FAILURE_ASCQ_ANY, sense.ascq)


def scsi_check_passthrough(result: int, sense: Sense | None,
                           failures: ScsiFailures | None) -> bool:
    """scsi_check_passthrough(): whether scsi_execute_cmd runs the command again — the
    first failure definition that covers `result` still has a retry to spend (its own,
    or the list's).  Context: atomic."""
    if not result or failures is None:
        return False
    for failure in failures.failure_definitions:
        if not failure.result:
            break
        matched = _failure_matches(failure, result, sense)
        if matched is None:
            return False
        if not matched:
            continue
        if failure.allowed:
            failure.retries += 1
            return (failure.allowed == SCMD_FAILURE_NO_LIMIT
                    or failure.retries <= failure.allowed)
        failures.total_retries += 1
        return (failures.total_allowed == SCMD_FAILURE_NO_LIMIT
                or failures.total_retries <= failures.total_allowed)
    return False


# -- the host's queue (scsi_queue_rq, scsi_host_queue_ready, scsi_dev_queue_ready) ----------------


class _StateCheck(Enum):
    OK = "ok"
    WAIT = "wait"
    REFUSE = "refuse"


def _device_state_check(sdev: ScsiDevice, rq: ScsiRequest | None) -> _StateCheck:
    """scsi_device_state_check(): whether a command may go to `sdev` now, must wait, or
    is refused (with the "rejecting I/O …" message)."""
    state = sdev.sdev_state
    if state in (SdevState.RUNNING, SdevState.CREATED):
        return _StateCheck.OK
    if state in (SdevState.OFFLINE, SdevState.TRANSPORT_OFFLINE):
        if rq is not None and not sdev.offline_already:
            sdev.offline_already = True
            sdev_printk(Level.ERR, sdev, "rejecting I/O to offline device")
        return _StateCheck.REFUSE
    if state is SdevState.DEL:
        if rq is not None:
            sdev_printk(Level.ERR, sdev, "rejecting I/O to dead device")
        return _StateCheck.REFUSE
    if state in (SdevState.BLOCK, SdevState.CREATED_BLOCK):
        return _StateCheck.WAIT
    pm = rq is None or rq.pm
    if state is SdevState.QUIESCE:
        return _StateCheck.OK if pm else _StateCheck.WAIT
    return _StateCheck.OK if pm else _StateCheck.REFUSE


def scsi_device_state_check(rq: ScsiRequest) -> bool:
    """The state check scsi_queue_rq makes before a command is prepared: False (with the
    "rejecting I/O to offline device" / "dead device" message) when the unit refuses
    commands now.  Context: atomic."""
    return _device_state_check(rq.cmd.device, rq) is not _StateCheck.REFUSE


def _can_take(shost: ScsiHost, sdev: ScsiDevice) -> bool:
    from .hosts import scsi_host_in_recovery

    return (not scsi_host_in_recovery(shost) and shost.host_busy < shost.can_queue
            and sdev.device_busy < sdev.queue_depth)


def _take(shost: ScsiHost, sdev: ScsiDevice) -> None:
    shost.host_busy += 1
    sdev.device_busy += 1


def scsi_run_host_queues(shost: ScsiHost) -> None:
    """scsi_run_host_queues(): give waiting commands the room the host has, in arrival
    order, and wake those whose unit refuses them now.  Context: atomic."""
    kept: list[tuple[ScsiDevice, asyncio.Future[bool]]] = []
    while shost.dispatch_waiters:
        sdev, fut = shost.dispatch_waiters.popleft()
        if fut.done():
            continue
        check = _device_state_check(sdev, None)
        if check is _StateCheck.REFUSE:
            fut.set_result(False)
        elif check is _StateCheck.OK and _can_take(shost, sdev):
            _take(shost, sdev)
            fut.set_result(True)
        else:
            kept.append((sdev, fut))
    shost.dispatch_waiters.extend(kept)


async def _get_slot(rq: ScsiRequest) -> bool:
    """Wait until the command may go to its host; False when its unit refuses it (the
    result says why)."""
    sdev = rq.cmd.device
    shost = sdev.host
    while True:
        check = _device_state_check(sdev, rq)
        if check is _StateCheck.REFUSE:
            online = scsi_device_online(sdev)
            rq.cmd.result = (HostByte.DID_ERROR if online else HostByte.DID_NO_CONNECT) << 16
            return False
        if check is _StateCheck.OK and not shost.dispatch_waiters and _can_take(shost, sdev):
            _take(shost, sdev)
            break
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        shost.dispatch_waiters.append((sdev, fut))
        try:
            taken = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.result():
                _untake(shost, sdev)
            raise
        if taken:
            break
    rq.tag = next(t for t in range(len(shost.busy_tags) + 1) if t not in shost.busy_tags)
    shost.busy_tags.add(rq.tag)
    return True


def _untake(shost: ScsiHost, sdev: ScsiDevice) -> None:
    shost.host_busy -= 1
    sdev.device_busy -= 1
    shost.eh.check_wakeup()
    scsi_run_host_queues(shost)


def _put_slot(rq: ScsiRequest) -> None:
    """scsi_device_unbusy(): the command leaves the host."""
    shost = rq.cmd.device.host
    shost.busy_tags.discard(rq.tag)
    _untake(shost, rq.cmd.device)


# -- dispatch and completion (scsi_dispatch_cmd, scsi_done, scsi_complete) -----------------------


class _Outcome(Enum):
    DONE = "done"
    TIMEOUT = "timeout"
    BUSY = "busy"


async def _dispatch(rq: ScsiRequest) -> _Outcome:
    """scsi_dispatch_cmd() and the wait for scsi_done() or the timeout."""
    from .hosts import ShostState

    cmd = rq.cmd
    sdev = cmd.device
    shost = sdev.host
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[_Outcome] = loop.create_future()
    timer: asyncio.TimerHandle | None = None

    def done(_: ScsiCmnd) -> None:
        if rq.complete:
            return
        rq.complete = True
        if timer is not None:
            timer.cancel()
        if not outcome.done():
            outcome.set_result(_Outcome.DONE)

    def timed_out() -> None:
        if rq.complete:
            return
        rq.complete = True
        if not outcome.done():
            outcome.set_result(_Outcome.TIMEOUT)

    cmd.result = 0
    cmd.resid = 0
    cmd.sense_buffer[:] = bytes(len(cmd.sense_buffer))
    rq.complete = False
    cmd.scsi_done_fn = done
    if sdev.lun_in_cdb and len(cmd.cmnd) > 1:
        cmd.cmnd = bytes([cmd.cmnd[0], (cmd.cmnd[1] & 0x1F) | ((sdev.lun << 5) & 0xE0)]) \
            + cmd.cmnd[2:]
    sdev.iorequest_cnt += 1
    if len(cmd.cmnd) > shost.max_cmd_len:
        cmd.result = HostByte.DID_ABORT << 16
        cmd.scsi_done()
    elif shost.shost_state is ShostState.DEL:
        cmd.result = HostByte.DID_NO_CONNECT << 16
        cmd.scsi_done()
    else:
        timer = loop.call_later(cmd.timeout_s, timed_out)
        rtn = scsi_host_queuecommand(shost, cmd)
        if rtn in (SCSI_MLQUEUE_HOST_BUSY, SCSI_MLQUEUE_DEVICE_BUSY):
            timer.cancel()
            rq.complete = True
            cmd.scsi_done_fn = None
            return _Outcome.BUSY
        sdev.device_blocked = 0
        shost.host_blocked = 0
    try:
        return await outcome
    finally:
        if timer is not None:
            timer.cancel()


def _runtime_exceeded(rq: ScsiRequest, now: float) -> bool:
    """scsi_cmd_runtime_exceeced(): the command has had (allowed + 1) × its timeout."""
    from .scsi_logging import scmd_printk

    cmd = rq.cmd
    if cmd.allowed == SCMD_FAILURE_NO_LIMIT:
        return False
    wait_for = (cmd.allowed + 1) * cmd.timeout_s
    if rq.alloc_time + wait_for < now:
        scmd_printk(Level.ERR, rq, f"timing out command, waited {int(wait_for)}s")
        return True
    return False


class _Next(Enum):
    FINISH = "finish"
    RETRY = "retry"
    DELAYED = "delayed"


async def _run_once(rq: ScsiRequest) -> _Next:
    """One dispatch of a command that holds a slot, up to what happens next."""
    cmd = rq.cmd
    sdev = cmd.device
    try:
        outcome = await _dispatch(rq)
        if outcome is _Outcome.BUSY:
            return _Next.DELAYED
        if outcome is _Outcome.TIMEOUT:
            verdict = await scsi_timeout(rq)
            return _Next.RETRY if verdict is Verdict.RETRY else _Next.FINISH
        sdev.iodone_cnt += 1
        if cmd.result:
            sdev.ioerr_cnt += 1
        disposition = scsi_decide_disposition(rq)
        if disposition is not Disposition.SUCCESS and \
                _runtime_exceeded(rq, asyncio.get_running_loop().time()):
            disposition = Disposition.SUCCESS
        if disposition is Disposition.SUCCESS:
            return _Next.FINISH
        if disposition is Disposition.NEEDS_RETRY:
            return _Next.RETRY
        if disposition is Disposition.ADD_TO_MLQUEUE:
            sdev.device_blocked = sdev.max_device_blocked
            return _Next.DELAYED
        verdict = await sdev.host.eh.add(rq)
        return _Next.RETRY if verdict is Verdict.RETRY else _Next.FINISH
    finally:
        _put_slot(rq)


async def scsi_execute_rq(rq: ScsiRequest) -> None:
    """blk_execute_rq() for a SCSI request: queue it, dispatch it, retry and recover as
    scsi_decide_disposition and the error handler say, until it is finished; its result,
    residue and sense are then in `rq.cmd`.  Context: may sleep."""
    loop = asyncio.get_running_loop()
    if not rq.alloc_time:
        rq.alloc_time = loop.time()
    while True:
        if not await _get_slot(rq):
            return
        step = await _run_once(rq)
        if step is _Next.FINISH:
            return
        if step is _Next.DELAYED:
            await asyncio.sleep(SCSI_QUEUE_DELAY_S)


# -- internal commands (scsi_execute_cmd) --------------------------------------------------------


async def scsi_execute_cmd(sdev: ScsiDevice, cdb: bytes,
                           direction: DataDirection = DataDirection.NONE,
                           buffer: bytearray | bytes | memoryview | None = None,
                           timeout: float = 30.0, retries: int = 3, *,
                           failures: ScsiFailures | None = None,
                           pm: bool = False) -> ExecResult:
    """scsi_execute_cmd(): run `cdb` on `sdev` as a quiet passthrough request, again
    while `failures` asks for it; `buffer` is filled (FROM_DEVICE, and what the device did
    not send is zeroed) or sent (TO_DEVICE); `timeout` in seconds, `retries` the
    mid-layer's own.  Returns (result, sense, resid).  Raises ValueError for a direction
    without a buffer.  Context: may sleep."""
    if direction in (DataDirection.FROM_DEVICE, DataDirection.TO_DEVICE) and buffer is None:
        raise ValueError(f"scsi_execute_cmd: {direction.name} needs a buffer")
    view = memoryview(buffer if buffer is not None else b"").cast("B")
    if direction is DataDirection.FROM_DEVICE and view.readonly:
        raise ValueError("scsi_execute_cmd: FROM_DEVICE needs a writable buffer")
    alloc_time = 0.0
    while True:
        cmd = ScsiCmnd(sdev, bytes(cdb), direction, view, allowed=retries, timeout_s=timeout)
        rq = ScsiRequest(cmd, pm=pm, alloc_time=alloc_time)
        await scsi_execute_rq(rq)
        alloc_time = rq.alloc_time
        sense = Sense.parse(cmd.sense_buffer)
        if not scsi_check_passthrough(cmd.result, sense, failures):
            break
    if direction is DataDirection.FROM_DEVICE and 0 < cmd.resid <= len(view):
        view[len(view) - cmd.resid:] = bytes(cmd.resid)
    return ExecResult(cmd.result, sense if scsi_sense_valid(sense) else None, cmd.resid)


async def scsi_test_unit_ready(sdev: ScsiDevice, timeout: float, retries: int) -> ExecResult:
    """scsi_test_unit_ready(): TEST UNIT READY, taken again while the unit answers
    UNIT ATTENTION and `retries` last; a removable unit's UNIT ATTENTION marks it
    changed.  Context: may sleep."""
    while True:
        res = await scsi_execute_cmd(sdev, bytes(6), timeout=timeout, retries=1)
        unit_attention = res.result > 0 and res.sense is not None and \
            res.sense.key == SenseKey.UNIT_ATTENTION
        if unit_attention and sdev.removable:
            sdev.changed = True
        retries -= 1
        if not unit_attention or retries <= 0:
            return res


async def scsi_set_medium_removal(sdev: ScsiDevice, prevent: bool) -> int:
    """scsi_set_medium_removal() through ioctl_internal_command(): PREVENT ALLOW MEDIUM
    REMOVAL on a removable, lockable unit; a unit that refuses it (ILLEGAL REQUEST) is
    lockable no more.  0 or the result word.  Context: may sleep."""
    if not sdev.removable or not sdev.lockable:
        return 0
    cdb = bytes([Opcode.ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1 if prevent else 0, 0])
    res = await scsi_execute_cmd(sdev, cdb, timeout=IOCTL_DEFAULT_TIMEOUT_S,
                                 retries=NORMAL_RETRIES)
    result = res.result
    sense = res.sense
    if sense is not None:
        if sense.key == SenseKey.ILLEGAL_REQUEST:
            sdev.lockable = False
        elif sense.key in (SenseKey.NOT_READY, SenseKey.UNIT_ATTENTION) and sdev.removable:
            if sense.key == SenseKey.UNIT_ATTENTION:
                sdev.changed = True
                result = 0
        else:
            from .scsi_logging import scsi_print_sense_hdr

            sdev_printk(Level.INFO, sdev, f"ioctl_internal_command return code = {result:x}")
            scsi_print_sense_hdr(sdev, None, sense)
    if result == 0:
        sdev.locked = prevent
    return result


# -- MODE SENSE (scsi_mode_sense) -----------------------------------------------------------------


@dataclass(frozen=True)
class ModeData:
    """struct scsi_mode_data: the mode parameter header."""

    length: int = 0
    block_descriptor_length: int = 0
    medium_type: int = 0
    device_specific: int = 0
    header_length: int = 0
    longlba: int = 0


class ModeSenseResult(NamedTuple):
    """scsi_mode_sense's answer: 0 or a negative errno, the header, the sense."""

    result: int
    data: ModeData
    sense: Sense | None


async def scsi_mode_sense(sdev: ScsiDevice, dbd: int, modepage: int, subpage: int,
                          buffer: bytearray | memoryview, timeout: float,
                          retries: int) -> ModeSenseResult:
    """scsi_mode_sense(): MODE SENSE(6), or (10) when the unit wants it or `buffer` is
    longer than 255 bytes, falling back from (10) to (6) on INVALID COMMAND OPERATION CODE;
    UNIT ATTENTIONs are retried.  The reply is in `buffer`; result 0, -EINVAL for a
    length the CDB cannot hold, -EIO when the command failed.  Context: may sleep."""
    failures = ScsiFailures([ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.UNIT_ATTENTION,
                                         SCMD_FAILURE_ASC_ANY, SCMD_FAILURE_ASCQ_ANY,
                                         allowed=retries), ScsiFailure(0)])
    length = len(buffer)
    dbd = 8 if sdev.set_dbd_for_ms else dbd
    while True:
        use_10 = sdev.use_10_for_ms or length > 255
        if use_10:
            if not 8 <= length <= 65535:
                return ModeSenseResult(-Errno.EINVAL, ModeData(), None)
            cdb = bytes([Opcode.MODE_SENSE_10, dbd & 0x18, modepage, subpage, 0, 0, 0,
                         length >> 8, length & 0xFF, 0])
            header_length = 8
        else:
            if length < 4:
                return ModeSenseResult(-Errno.EINVAL, ModeData(), None)
            cdb = bytes([Opcode.MODE_SENSE, dbd & 0x18, modepage, subpage, length, 0])
            header_length = 4
        buffer[:] = bytes(length)
        failures.reset_retries()
        res = await scsi_execute_cmd(sdev, cdb, DataDirection.FROM_DEVICE, buffer, timeout,
                                     retries, failures=failures)
        if scsi_status_is_good(res.result) and not host_byte(res.result):
            break
        sense = res.sense
        if use_10 and sense is not None and sense.key == SenseKey.ILLEGAL_REQUEST and \
                (sense.asc, sense.ascq) == (0x20, 0):
            if length > 255:
                return ModeSenseResult(-Errno.EIO, ModeData(), sense)
            sdev.use_10_for_ms = False
            continue
        return ModeSenseResult(-Errno.EIO, ModeData(), sense)
    if buffer[0] == 0x86 and buffer[1] == 0x0B and modepage in (6, 8):
        data = ModeData(length=13)
    elif use_10:
        data = ModeData((buffer[0] << 8 | buffer[1]) + 2, buffer[6] << 8 | buffer[7],
                        buffer[2], buffer[3], header_length, buffer[4] & 1)
    else:
        data = ModeData(buffer[0] + 1, buffer[3], buffer[1], buffer[2], header_length)
    return ModeSenseResult(0, data, res.sense)


# -- completion of block requests (scsi_io_completion) ------------------------------------------


_BLK_STATUS_BY_ML: Final[dict[int, BlkStatus]] = {
    ScsiMlStat.NOSPC: BlkStatus.NOSPC, ScsiMlStat.MED_ERROR: BlkStatus.MEDIUM,
    ScsiMlStat.TGT_FAILURE: BlkStatus.TARGET,
}


def scsi_result_to_blk_status(result: int) -> BlkStatus:
    """scsi_result_to_blk_status(): the SCSI-ML byte first (medium error, target failure,
    no space), then the host byte.  A reservation conflict or duration-limit timeout,
    whose block statuses the block layer here has no name for, is IOERR.  Context:
    atomic."""
    ml = scsi_ml_byte(result)
    if ml != ScsiMlStat.OK:
        return _BLK_STATUS_BY_ML.get(ml, BlkStatus.IOERR)
    hb = host_byte(result)
    if hb == HostByte.DID_OK:
        return BlkStatus.OK if scsi_status_is_good(result) else BlkStatus.IOERR
    if hb == HostByte.DID_TRANSPORT_FAILFAST:
        return BlkStatus.TRANSPORT
    return BlkStatus.IOERR


class IoAction(Enum):
    """What the block path does after a command: done, or the command again — at once
    (RETRY), after the busy delay (DELAYED_RETRY), rebuilt by the driver (REPREP, e.g.
    READ(6) after READ(10) was refused), or for the bytes still to move (REQUEUE)."""

    DONE = "done"
    RETRY = "retry"
    DELAYED_RETRY = "delayed-retry"
    REPREP = "reprep"
    REQUEUE = "requeue"


class IoCompletion(NamedTuple):
    """scsi_io_completion's decision: the action, the block status when DONE, and the
    bytes of the request that completed well."""

    action: IoAction
    status: BlkStatus
    good_bytes: int


#: NOT READY / 04/xx: the unit is busy becoming ready; the command waits and goes again.
_NOT_READY_RETRY_ASCQS: Final = frozenset({0x01, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x11,
                                           0x14, 0x1A, 0x1B, 0x1D, 0x24, 0x25})


def _nz_result(rq: ScsiRequest, result: int, sense: Sense | None) -> tuple[int, BlkStatus]:
    """scsi_io_completion_nz_result(): recovered errors are reported and count as
    success; a flush (no data) gets its status from the result."""
    cmd = rq.cmd
    status = BlkStatus.OK
    current = sense is None or not sense.deferred
    if cmd.bufflen == 0 and current:
        status = scsi_result_to_blk_status(result)
    if sense is not None and sense.key == SenseKey.RECOVERED_ERROR:
        if (sense.asc, sense.ascq) != (0, 0x1D) and not rq.quiet:
            scsi_print_sense(rq)
        return 0, BlkStatus.OK
    if result & 0xFF and scsi_status_is_good(result):
        return 0, BlkStatus.OK
    return result, status


def _completion_action(rq: ScsiRequest, result: int, sense: Sense | None) -> \
        tuple[IoAction | None, BlkStatus]:
    """The action table of scsi_io_completion_action(); None means fail."""
    sdev = rq.cmd.device
    status = scsi_result_to_blk_status(result)
    if host_byte(result) == HostByte.DID_RESET:
        return IoAction.RETRY, status
    if sense is None or sense.deferred:
        return None, status
    key, asc, ascq = sense.key, sense.asc, sense.ascq
    if key == SenseKey.UNIT_ATTENTION:
        if sdev.removable:
            sdev.changed = True
            return None, status
        return IoAction.RETRY, status
    if key == SenseKey.ILLEGAL_REQUEST:
        if sdev.use_10_for_rw and (asc, ascq) == (0x20, 0) and \
                rq.cmd.cmnd[0] in (Opcode.READ_10, Opcode.WRITE_10):
            sdev.use_10_for_rw = False
            return IoAction.REPREP, status
        if asc == 0x10:
            return None, BlkStatus.PROTECTION
        if asc in (0x20, 0x24):
            return None, BlkStatus.TARGET
        return None, status
    if key == SenseKey.ABORTED_COMMAND:
        return None, BlkStatus.PROTECTION if asc == 0x10 else status
    if key == SenseKey.NOT_READY and asc == 0x04:
        if ascq in _NOT_READY_RETRY_ASCQS:
            return IoAction.DELAYED_RETRY, status
        if ascq == 0x0A:
            return IoAction.REPREP, status
    return None, status


def scsi_io_completion(rq: ScsiRequest, good_bytes: int, now: float) -> IoCompletion:
    """scsi_io_completion(): the block layer's view of a finished command of
    `rq.cmd.bufflen` bytes of which the driver counts `good_bytes` good.  All good:
    DONE/OK.  No error but bytes left: REQUEUE (while the retries last when nothing
    moved: then DONE/IOERR).  An error: retry, wait, rebuild or fail
    as Linux's action table says (a command that has run longer than (allowed + 1)
    timeouts fails); a failure of a non-quiet request is reported ("FAILED Result:",
    the sense lines, "CDB:", rate-limited).  `now` is the machine's clock.  Context:
    atomic."""
    cmd = rq.cmd
    result = cmd.result
    sense = Sense.parse(cmd.sense_buffer)
    sense = sense if scsi_sense_valid(sense) else None
    status = BlkStatus.OK
    if result:
        result, status = _nz_result(rq, result, sense)
    total = cmd.bufflen
    if (total > 0 or status is BlkStatus.OK) and good_bytes >= total:
        return IoCompletion(IoAction.DONE, status, total)
    if status is not BlkStatus.OK and scsi_noretry_cmd(rq):
        return IoCompletion(IoAction.DONE, status, good_bytes)
    if result == 0:
        if good_bytes == 0 and not scsi_cmd_retry_allowed(cmd):
            return IoCompletion(IoAction.DONE, BlkStatus.IOERR, 0)
        return IoCompletion(IoAction.REQUEUE, BlkStatus.OK, good_bytes)
    action, status = _completion_action(rq, result, sense)
    wait_for = (cmd.allowed + 1) * cmd.timeout_s
    if action is not None and rq.alloc_time + wait_for < now:
        action = None
    if action is None:
        core = cmd.device.host.core
        if not rq.quiet and core.io_failure_ratelimit.allow(now, core.log):
            scsi_print_result(rq, None, Disposition.FAILED, now)
            if sense is not None:
                scsi_print_sense(rq)
            scsi_print_command(rq)
        return IoCompletion(IoAction.DONE, status, good_bytes)
    return IoCompletion(action, BlkStatus.OK, good_bytes)
