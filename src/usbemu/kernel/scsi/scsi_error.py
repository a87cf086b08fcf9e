"""SCSI error handling — counterpart of drivers/scsi/scsi_error.c.

`scsi_decide_disposition` reads a finished command's host byte, status and sense
(`scsi_check_sense`: UNIT ATTENTION after a reset of ours is retried, "becoming ready" is
retried, data-protect and unrecoverable medium errors mark the result for the block layer,
a missing medium is passed up) and answers SUCCESS, NEEDS_RETRY, ADD_TO_MLQUEUE or
FAILED.  A command that times out is aborted with the driver's eh_abort_handler (after
10 ms, as the abort work runs) and retried or finished; when there is no abort handler or
the abort fails, or a command FAILED, it goes to the host's error handler
(`ScsiErrorHandler`, the scsi_eh_N thread): the host enters SHOST_RECOVERY, and once every
command the host holds has failed, scsi_unjam_host runs — REQUEST SENSE for CHECK
CONDITIONs without sense, then START STOP UNIT for units that may be restarted, then the
escalation of scsi_eh_ready_devs: device reset, target reset, bus reset (10 s settle
unless the driver skips it), host reset, each followed by a TEST UNIT READY of the units
it touched, and finally "Device offlined - not ready after error recovery".  Commands it
recovered are retried if their retries allow, the others finish with DID_TIME_OUT; then
the host runs again and a door that was locked before a reset is locked again.

Handlers a driver does not override count as missing (a NULL pointer in Linux).  Not
modelled: eh_deadline, the transport classes' eh_timed_out hooks, device handlers
(scsi_dh), queue ramp-up and the SCSI logging messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Final

from ...spec.scsi import Opcode, SamStatus, Sense, SenseKey
from ..printk import Level
from .constants import Disposition
from .scsi_cmnd import SUCCESS, DataDirection, HostByte, ScsiCmnd, ScsiHostTemplate, host_byte
from .scsi_device import ScsiDevice, SdevState, scsi_device_online, scsi_device_set_state
from .scsi_logging import sdev_printk

if TYPE_CHECKING:
    from .hosts import ScsiHost
    from .scsi_lib import ScsiRequest

__all__ = [
    "BUS_RESET_SETTLE_TIME_S",
    "HOST_RESET_SETTLE_TIME_S",
    "ScsiErrorHandler",
    "ScsiMlStat",
    "Verdict",
    "scsi_block_when_processing_errors",
    "scsi_check_sense",
    "scsi_cmd_retry_allowed",
    "scsi_decide_disposition",
    "scsi_host_queuecommand",
    "scsi_ml_byte",
    "scsi_noretry_cmd",
    "scsi_timeout",
    "set_scsi_ml_byte",
]

#: Settle times after a successful bus or host reset (skipped with skip_settle_delay).
BUS_RESET_SETTLE_TIME_S: Final = 10.0
HOST_RESET_SETTLE_TIME_S: Final = 10.0
#: SENSE_TIMEOUT: the error handler's REQUEST SENSE.
SENSE_TIMEOUT_S: Final = 10.0
#: How long after the timeout the abort work runs (HZ / 100).
ABORT_DELAY_S: Final = 0.01
#: How long the error handler waits before offering a command a busy driver refused
#: again (HZ / 10).
EH_STALL_S: Final = 0.1


class ScsiMlStat(IntEnum):
    """The SCSI-ML byte (bits 24-31 of a result): what the mid-layer concluded."""

    OK = 0x00
    RESV_CONFLICT = 0x01
    NOSPC = 0x02
    MED_ERROR = 0x03
    TGT_FAILURE = 0x04
    DL_TIMEOUT = 0x05


def scsi_ml_byte(result: int) -> int:
    """scsi_ml_byte().  Context: atomic."""
    return (result >> 24) & 0xFF


def set_scsi_ml_byte(cmd: ScsiCmnd, status: ScsiMlStat) -> None:
    """set_scsi_ml_byte().  Context: atomic."""
    cmd.result = (cmd.result & 0x00FFFFFF) | (status << 24)


class Verdict(Enum):
    """What becomes of a command the timeout handler or the error handler had: sent
    again, or finished with its result."""

    RETRY = "retry"
    FINISH = "finish"


def _sense(cmd: ScsiCmnd) -> Sense | None:
    return Sense.parse(cmd.sense_buffer)


def scsi_check_sense(cmd: ScsiCmnd, *, eh_submitted: bool = False) -> Disposition:
    """scsi_check_sense(): the disposition the sense data of a CHECK CONDITION calls for;
    FAILED without valid sense.  A TEST UNIT READY of the mid-layer's users is passed up
    as it is; the error handler's own (`eh_submitted`) is judged.  May mark the result
    with an ML byte (target failure, medium error).  Context: atomic."""
    sense = _sense(cmd)
    if sense is None:
        return Disposition.FAILED
    sdev = cmd.device
    if sense.deferred:
        return Disposition.NEEDS_RETRY
    if cmd.cmnd[0] == Opcode.TEST_UNIT_READY and not eh_submitted:
        return Disposition.SUCCESS
    if sense.response_code == 0x70 and cmd.sense_buffer[2] & 0xE0:
        return Disposition.SUCCESS
    key = sense.key
    if key in (SenseKey.NO_SENSE, SenseKey.RECOVERED_ERROR, SenseKey.ILLEGAL_REQUEST):
        return Disposition.SUCCESS
    if key == SenseKey.ABORTED_COMMAND:
        return Disposition.SUCCESS if sense.asc == 0x10 else Disposition.NEEDS_RETRY
    if key in (SenseKey.NOT_READY, SenseKey.UNIT_ATTENTION):
        return _check_not_ready(sdev, sense)
    if key in (SenseKey.COPY_ABORTED, SenseKey.VOLUME_OVERFLOW, SenseKey.MISCOMPARE,
               SenseKey.BLANK_CHECK, SenseKey.DATA_PROTECT):
        set_scsi_ml_byte(cmd, ScsiMlStat.TGT_FAILURE)
        return Disposition.SUCCESS
    if key == SenseKey.MEDIUM_ERROR:
        if sense.asc in (0x11, 0x13, 0x14):
            set_scsi_ml_byte(cmd, ScsiMlStat.MED_ERROR)
            return Disposition.SUCCESS
        return Disposition.NEEDS_RETRY
    if key == SenseKey.HARDWARE_ERROR:
        if sdev.retry_hwerror:
            return Disposition.ADD_TO_MLQUEUE
        set_scsi_ml_byte(cmd, ScsiMlStat.TGT_FAILURE)
    return Disposition.SUCCESS


def _check_not_ready(sdev: ScsiDevice, sense: Sense) -> Disposition:
    """The NOT READY / UNIT ATTENTION branch of scsi_check_sense()."""
    if sdev.expecting_cc_ua and (sense.asc, sense.ascq) != (0x28, 0):
        sdev.expecting_cc_ua = False
        return Disposition.NEEDS_RETRY
    if sdev.sdev_target.expecting_lun_change and (sense.asc, sense.ascq) == (0x3F, 0x0E):
        return Disposition.NEEDS_RETRY
    if (sense.asc, sense.ascq) == (0x04, 0x01):
        return Disposition.NEEDS_RETRY
    if sdev.allow_restart and (sense.asc, sense.ascq) == (0x04, 0x02):
        return Disposition.FAILED
    return Disposition.SUCCESS


def scsi_cmd_retry_allowed(cmd: ScsiCmnd) -> bool:
    """scsi_cmd_retry_allowed(): count one more retry; whether it is within `allowed`
    (-1: no limit).  Context: atomic."""
    if cmd.allowed == -1:
        return True
    cmd.retries += 1
    return cmd.retries <= cmd.allowed


def scsi_noretry_cmd(rq: ScsiRequest) -> bool:
    """scsi_noretry_cmd(): whether the failed command must not be retried — a
    passthrough command that timed out or got a CHECK CONDITION (its caller decides).
    Context: atomic."""
    result = rq.cmd.result
    hb = host_byte(result)
    if hb == HostByte.DID_TIME_OUT:
        return rq.passthrough
    if hb != HostByte.DID_OK:
        return False
    if scsi_ml_byte(result) == ScsiMlStat.DL_TIMEOUT:
        return True
    if (result & 0xFF) != SamStatus.CHECK_CONDITION:
        return False
    return rq.passthrough


def _maybe_retry(rq: ScsiRequest) -> Disposition:
    if scsi_cmd_retry_allowed(rq.cmd) and not scsi_noretry_cmd(rq):
        return Disposition.NEEDS_RETRY
    return Disposition.SUCCESS


#: scsi_decide_disposition's answers by host byte (None: look at the status).
_BY_HOST_BYTE: Final[dict[int, Disposition | None]] = {
    HostByte.DID_OK: None,
    HostByte.DID_NO_CONNECT: Disposition.SUCCESS,
    HostByte.DID_BAD_TARGET: Disposition.SUCCESS,
    HostByte.DID_IMM_RETRY: Disposition.NEEDS_RETRY,
    HostByte.DID_REQUEUE: Disposition.ADD_TO_MLQUEUE,
    HostByte.DID_TRANSPORT_FAILFAST: Disposition.SUCCESS,
    HostByte.DID_RESET: Disposition.SUCCESS,
}
_RETRY_HOST_BYTES: Final = frozenset({HostByte.DID_SOFT_ERROR, HostByte.DID_TRANSPORT_DISRUPTED,
                                      HostByte.DID_BUS_BUSY, HostByte.DID_PARITY})


def scsi_decide_disposition(rq: ScsiRequest) -> Disposition:
    """scsi_decide_disposition(): what to do with a command the driver finished.
    Context: atomic."""
    cmd = rq.cmd
    if not scsi_device_online(cmd.device):
        return Disposition.SUCCESS
    hb = host_byte(cmd.result)
    if hb == HostByte.DID_PASSTHROUGH:
        cmd.result &= 0xFF00FFFF
        return Disposition.SUCCESS
    if hb == HostByte.DID_ABORT:
        if rq.abort_scheduled:
            cmd.set_host_byte(HostByte.DID_TIME_OUT)
        return Disposition.SUCCESS
    if hb == HostByte.DID_ERROR and (cmd.result & 0xFF) == SamStatus.RESERVATION_CONFLICT:
        hb = HostByte.DID_OK
    elif hb in _RETRY_HOST_BYTES or hb == HostByte.DID_ERROR:
        return _maybe_retry(rq)
    elif hb == HostByte.DID_TIME_OUT:
        if cmd.cmnd[0] in (Opcode.TEST_UNIT_READY, Opcode.INQUIRY):
            return Disposition.SUCCESS
        return Disposition.FAILED
    elif hb not in _BY_HOST_BYTE:
        return Disposition.FAILED
    elif _BY_HOST_BYTE[hb] is not None:
        answer = _BY_HOST_BYTE[hb]
        assert answer is not None
        return answer
    return _decide_by_status(rq)


def _decide_by_status(rq: ScsiRequest) -> Disposition:
    """The status-byte half of scsi_decide_disposition()."""
    cmd = rq.cmd
    status = cmd.result & 0xFF
    if status in (SamStatus.TASK_SET_FULL, SamStatus.BUSY):
        return Disposition.ADD_TO_MLQUEUE
    if status == SamStatus.GOOD:
        if cmd.cmnd[0] == Opcode.REPORT_LUNS:
            cmd.device.sdev_target.expecting_lun_change = False
        if _sense(cmd) is not None:
            scsi_check_sense(cmd)
        return Disposition.SUCCESS
    if status == 0x22:  # COMMAND TERMINATED
        return Disposition.SUCCESS
    if status == SamStatus.TASK_ABORTED:
        return _maybe_retry(rq)
    if status == SamStatus.CHECK_CONDITION:
        rtn = scsi_check_sense(cmd)
        return _maybe_retry(rq) if rtn is Disposition.NEEDS_RETRY else rtn
    if status in (SamStatus.CONDITION_MET, 0x10, 0x14, SamStatus.ACA_ACTIVE):
        return Disposition.SUCCESS
    if status == SamStatus.RESERVATION_CONFLICT:
        sdev_printk(Level.INFO, cmd.device, "reservation conflict")
        set_scsi_ml_byte(cmd, ScsiMlStat.RESV_CONFLICT)
        return Disposition.SUCCESS
    return Disposition.FAILED


# -- calling the driver's handlers ----------------------------------------------------------------

Handler = Callable[[ScsiCmnd], Awaitable[int]]


def _provided(hostt: ScsiHostTemplate, name: str) -> bool:
    """Whether the driver has the error-handling operation `name` (overrides the
    template's "no such handler" default)."""
    return getattr(type(hostt), name) is not getattr(ScsiHostTemplate, name)


async def _try_handler(shost: ScsiHost, name: str, cmd: ScsiCmnd) -> Disposition:
    """Call the driver's handler `name`, contained: SUCCESS, FAST_IO_FAIL, or FAILED
    (also when it is missing, answers anything else, or raises — an oops)."""
    if not _provided(shost.hostt, name):
        return Disposition.FAILED
    handler: Handler = getattr(shost.hostt, name)
    try:
        rtn = await handler(cmd)
    except BaseException as exc:
        shost.core.driver_core.contain(f"{name} of {cmd.device.name} by {shost.hostt.name}",
                                       exc)
        return Disposition.FAILED
    if rtn in (Disposition.SUCCESS, Disposition.FAST_IO_FAIL):
        return Disposition(rtn)
    return Disposition.FAILED


def scsi_host_queuecommand(shost: ScsiHost, cmd: ScsiCmnd) -> int:
    """The driver's queuecommand, contained: a driver that raises fails the command with
    DID_NO_CONNECT after an oops (0 is returned: the command is over).  Context:
    atomic."""
    try:
        return shost.hostt.queuecommand(shost, cmd)
    except BaseException as exc:
        shost.core.driver_core.contain(f"queuecommand of {cmd.device.name} by "
                                       f"{shost.hostt.name}", exc)
        cmd.result = HostByte.DID_NO_CONNECT << 16
        cmd.scsi_done()
        return 0


def _report_device_reset(sdev: ScsiDevice) -> None:
    """__scsi_report_device_reset(): the unit will report a UNIT ATTENTION we caused."""
    sdev.was_reset = True
    sdev.expecting_cc_ua = True


async def _try_bus_device_reset(shost: ScsiHost, cmd: ScsiCmnd) -> Disposition:
    rtn = await _try_handler(shost, "eh_device_reset_handler", cmd)
    if rtn == SUCCESS:
        _report_device_reset(cmd.device)
    return rtn


async def _try_target_reset(shost: ScsiHost, cmd: ScsiCmnd) -> Disposition:
    rtn = await _try_handler(shost, "eh_target_reset_handler", cmd)
    if rtn == SUCCESS:
        for sdev in cmd.device.sdev_target.devices:
            _report_device_reset(sdev)
    return rtn


async def _try_reset(shost: ScsiHost, name: str, cmd: ScsiCmnd,
                     settle: float) -> Disposition:
    """scsi_try_bus_reset() / scsi_try_host_reset(): the handler, the settle time, and
    every unit on the channel told to expect a UNIT ATTENTION."""
    rtn = await _try_handler(shost, name, cmd)
    if rtn == SUCCESS:
        if not shost.hostt.skip_settle_delay:
            await asyncio.sleep(settle)
        for sdev in shost.devices:
            if sdev.channel == cmd.device.channel:
                _report_device_reset(sdev)
    return rtn


async def _abort_eh_cmnd(shost: ScsiHost, cmd: ScsiCmnd) -> None:
    """scsi_abort_eh_cmnd(): abort, then reset ever wider, until one works."""
    if await _try_handler(shost, "eh_abort_handler", cmd) == SUCCESS:
        return
    if await _try_bus_device_reset(shost, cmd) == SUCCESS:
        return
    if await _try_target_reset(shost, cmd) == SUCCESS:
        return
    if await _try_reset(shost, "eh_bus_reset_handler", cmd, BUS_RESET_SETTLE_TIME_S) == \
            SUCCESS:
        return
    await _try_reset(shost, "eh_host_reset_handler", cmd, HOST_RESET_SETTLE_TIME_S)


# -- the timeout (scsi_timeout, scsi_abort_command, scmd_eh_abort_handler) ------------------------


async def scsi_timeout(rq: ScsiRequest) -> Verdict:
    """scsi_timeout(): a command that did not finish in its timeout.  With an abort
    handler (and no abort tried before), abort it 10 ms later; aborted, it is retried if
    it may be, else finished with DID_TIME_OUT.  Otherwise it goes to the error handler.
    Context: may sleep."""
    cmd = rq.cmd
    sdev = cmd.device
    shost = sdev.host
    sdev.iotmo_cnt += 1
    sdev.iodone_cnt += 1
    if not _provided(shost.hostt, "eh_abort_handler") or rq.abort_scheduled:
        cmd.set_host_byte(HostByte.DID_TIME_OUT)
        return await shost.eh.add(rq)
    rq.abort_scheduled = True
    await asyncio.sleep(ABORT_DELAY_S)
    if await _try_handler(shost, "eh_abort_handler", cmd) != SUCCESS:
        return await shost.eh.add(rq)
    cmd.set_host_byte(HostByte.DID_TIME_OUT)
    if not scsi_noretry_cmd(rq) and scsi_cmd_retry_allowed(cmd):
        return Verdict.RETRY
    return Verdict.FINISH


# -- the error handler (scsi_error_handler, scsi_unjam_host) -------------------------------------


class ScsiErrorHandler:
    """The error handler of one host (the scsi_eh_N thread).  Failed commands wait in
    `cmd_q`; the handler runs as a machine task once all the host's commands have
    failed.  Context: `add` may sleep, the rest is atomic."""

    def __init__(self, shost: ScsiHost) -> None:
        self.shost = shost
        self.cmd_q: list[ScsiRequest] = []
        self.task: asyncio.Task[None] | None = None
        #: Waiting in scsi_block_when_processing_errors (shost->host_wait).
        self.host_wait: list[asyncio.Future[None]] = []

    async def add(self, rq: ScsiRequest) -> Verdict:
        """scsi_eh_scmd_add(): hand a failed command to the error handler (the host
        enters recovery) and wait for its verdict.  Context: may sleep."""
        from .hosts import ShostState, scsi_host_set_state

        shost = self.shost
        if scsi_host_set_state(shost, ShostState.RECOVERY):
            scsi_host_set_state(shost, ShostState.CANCEL_RECOVERY)
        if rq.uld is not None and not rq.passthrough:
            rq.uld.eh_reset(rq)
        rq.verdict = asyncio.get_running_loop().create_future()
        self.cmd_q.append(rq)
        shost.host_failed += 1
        self.check_wakeup()
        try:
            return await rq.verdict
        finally:
            rq.verdict = None

    def check_wakeup(self) -> None:
        """scsi_eh_wakeup(): start the handler when every busy command has failed.
        Context: atomic."""
        shost = self.shost
        if self.task is None and shost.host_failed and shost.host_busy == shost.host_failed:
            self.task = shost.core.spawn(self._run())

    async def _run(self) -> None:
        shost = self.shost
        try:
            while self.cmd_q and shost.host_busy == shost.host_failed:
                work = self.cmd_q
                self.cmd_q = []
                handled = list(work)
                done: list[ScsiRequest] = []
                await _unjam_host(shost, work, done)
                shost.host_failed -= len(handled)
                _flush_done_q(done + work)
                _restart_operations(shost)
        finally:
            self.task = None
            self.wake_host_waiters()

    def wake_host_waiters(self) -> None:
        """wake_up(&shost->host_wait): the host left recovery.  Context: atomic."""
        waiters, self.host_wait = self.host_wait, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


async def scsi_block_when_processing_errors(sdev: ScsiDevice) -> bool:
    """scsi_block_when_processing_errors(): wait until the unit's host is out of error
    recovery; whether the unit is online then.  Context: may sleep."""
    from .hosts import scsi_host_in_recovery

    shost = sdev.host
    while scsi_host_in_recovery(shost):
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        shost.eh.host_wait.append(waiter)
        await waiter
    return scsi_device_online(sdev)


def _set_verdict(rq: ScsiRequest, verdict: Verdict) -> None:
    if rq.verdict is not None and not rq.verdict.done():
        rq.verdict.set_result(verdict)


def _flush_done_q(done: list[ScsiRequest]) -> None:
    """scsi_eh_flush_done_q(): retry what may be retried, finish the rest (with
    DID_TIME_OUT when the command has no result of its own)."""
    for rq in done:
        cmd = rq.cmd
        if scsi_device_online(cmd.device) and not scsi_noretry_cmd(rq) and \
                scsi_cmd_retry_allowed(cmd):
            _set_verdict(rq, Verdict.RETRY)
            continue
        if not cmd.result:
            cmd.set_host_byte(HostByte.DID_TIME_OUT)
        _set_verdict(rq, Verdict.FINISH)


def _restart_operations(shost: ScsiHost) -> None:
    """scsi_restart_operations(): lock doors a reset unlocked, run the host again."""
    from .hosts import ShostState, scsi_host_set_state
    from .scsi_lib import scsi_run_host_queues, scsi_set_medium_removal

    for sdev in list(shost.devices):
        if scsi_device_online(sdev) and sdev.was_reset and sdev.locked:
            sdev.was_reset = False
            shost.core.spawn(_lock_door(sdev, scsi_set_medium_removal))
    if scsi_host_set_state(shost, ShostState.RUNNING) and \
            scsi_host_set_state(shost, ShostState.CANCEL):
        scsi_host_set_state(shost, ShostState.DEL)
    scsi_run_host_queues(shost)


async def _lock_door(sdev: ScsiDevice, set_removal: Callable[[ScsiDevice, bool],
                                                             Awaitable[int]]) -> None:
    """scsi_eh_lock_door()."""
    await set_removal(sdev, True)


def _completes(finished: asyncio.Future[None]) -> Callable[[ScsiCmnd], None]:
    """scsi_eh_done(): the error handler's command is back."""
    def done(_: ScsiCmnd) -> None:
        if not finished.done():
            finished.set_result(None)
    return done


async def _send_eh_cmnd(rq: ScsiRequest, cdb: bytes, timeout: float,
                        buffer: bytearray | None = None) -> Disposition:
    """scsi_send_eh_cmnd(): the error handler's own command to the failed command's unit,
    straight to the driver; a command the driver does not finish in `timeout` is
    aborted (scsi_abort_eh_cmnd) and FAILED."""
    sdev = rq.cmd.device
    shost = sdev.host
    loop = asyncio.get_running_loop()
    if sdev.scsi_level <= 3 and sdev.scsi_level != 0 and len(cdb) > 1:
        cdb = bytes([cdb[0], (cdb[1] & 0x1F) | ((sdev.lun << 5) & 0xE0)]) + cdb[2:]
    direction = DataDirection.FROM_DEVICE if buffer is not None else DataDirection.NONE
    cmd = ScsiCmnd(sdev, cdb, direction, memoryview(buffer if buffer is not None else b""),
                   timeout_s=timeout)
    deadline = loop.time() + timeout
    while True:
        finished: asyncio.Future[None] = loop.create_future()
        cmd.scsi_done_fn = _completes(finished)
        if not scsi_host_queuecommand(shost, cmd):
            break
        cmd.scsi_done_fn = None
        if deadline - loop.time() <= EH_STALL_S:
            return Disposition.FAILED
        await asyncio.sleep(EH_STALL_S)
    try:
        await asyncio.wait_for(asyncio.shield(finished), max(deadline - loop.time(), 0))
    except TimeoutError:
        cmd.scsi_done_fn = None
        await _abort_eh_cmnd(shost, cmd)
        return Disposition.FAILED
    rtn = _eh_completed_normally(cmd)
    if rtn is Disposition.ADD_TO_MLQUEUE:
        return Disposition.NEEDS_RETRY
    if rtn in (Disposition.SUCCESS, Disposition.NEEDS_RETRY, Disposition.FAILED):
        if buffer is not None and rtn is Disposition.SUCCESS:
            rq.cmd.sense_buffer[:len(buffer)] = buffer[:len(rq.cmd.sense_buffer)]
        return rtn
    return Disposition.FAILED


def _eh_completed_normally(cmd: ScsiCmnd) -> Disposition:
    """scsi_eh_completed_normally()."""
    hb = host_byte(cmd.result)
    if hb == HostByte.DID_RESET:
        return scsi_check_sense(cmd, eh_submitted=True)
    if hb != HostByte.DID_OK:
        return Disposition.FAILED
    status = cmd.result & 0xFF
    if status == SamStatus.GOOD:
        if _sense(cmd) is not None:
            scsi_check_sense(cmd, eh_submitted=True)
        return Disposition.SUCCESS
    if status == SamStatus.CHECK_CONDITION:
        return scsi_check_sense(cmd, eh_submitted=True)
    if status in (0x22, SamStatus.CONDITION_MET, 0x10, 0x14):
        return Disposition.SUCCESS
    if status == SamStatus.RESERVATION_CONFLICT:
        return Disposition.SUCCESS if cmd.cmnd[0] == Opcode.TEST_UNIT_READY \
            else Disposition.FAILED
    if status in (SamStatus.TASK_SET_FULL, SamStatus.BUSY):
        return Disposition.NEEDS_RETRY
    return Disposition.FAILED


async def _eh_tur(rq: ScsiRequest) -> bool:
    """scsi_eh_tur(): True when the unit answers TEST UNIT READY (one retry)."""
    for _ in range(2):
        rtn = await _send_eh_cmnd(rq, bytes(6), rq.cmd.device.eh_timeout_s)
        if rtn is not Disposition.NEEDS_RETRY:
            return rtn is Disposition.SUCCESS
    return True


async def _eh_try_stu(rq: ScsiRequest) -> bool:
    """scsi_eh_try_stu(): True when a unit that may be restarted took START STOP UNIT."""
    sdev = rq.cmd.device
    if not sdev.allow_restart:
        return False
    rtn = Disposition.NEEDS_RETRY
    for _ in range(2):
        if rtn is not Disposition.NEEDS_RETRY:
            break
        rtn = await _send_eh_cmnd(rq, bytes([Opcode.START_STOP, 0, 0, 0, 1, 0]),
                                  sdev.eh_timeout_s)
    return rtn is Disposition.SUCCESS


def _eh_action(rq: ScsiRequest, rtn: Disposition) -> Disposition:
    """scsi_eh_action(): the upper-level driver's say on its own commands."""
    if not rq.passthrough and rq.uld is not None:
        return rq.uld.eh_action(rq, rtn)
    return rtn


def _live_devices(shost: ScsiHost) -> list[ScsiDevice]:
    """shost_for_each_device(): the units that can be held (not cancelled or gone)."""
    return [s for s in shost.devices if s.sdev_state not in (SdevState.DEL, SdevState.CANCEL)]


def _finish(rq: ScsiRequest, work: list[ScsiRequest], done: list[ScsiRequest]) -> None:
    """scsi_eh_finish_cmd()."""
    if rq in work:
        work.remove(rq)
    done.append(rq)


async def _eh_get_sense(work: list[ScsiRequest], done: list[ScsiRequest]) -> bool:
    """scsi_eh_get_sense(): REQUEST SENSE for CHECK CONDITIONs that came without sense;
    True when no command is left."""
    for rq in list(work):
        cmd = rq.cmd
        if rq.abort_scheduled or _sense(cmd) is not None or \
                (cmd.result & 0xFF) != SamStatus.CHECK_CONDITION:
            continue
        sense = bytearray(len(cmd.sense_buffer))
        cdb = bytes([Opcode.REQUEST_SENSE, 0, 0, 0, len(sense), 0])
        if await _send_eh_cmnd(rq, cdb, SENSE_TIMEOUT_S, sense) is not Disposition.SUCCESS:
            continue
        rtn = scsi_decide_disposition(rq)
        if rtn is Disposition.SUCCESS:
            cmd.retries = cmd.allowed
        elif rtn is not Disposition.NEEDS_RETRY:
            continue
        _finish(rq, work, done)
    return not work


async def _eh_stu(shost: ScsiHost, work: list[ScsiRequest], done: list[ScsiRequest]) -> bool:
    """scsi_eh_stu(): START STOP UNIT to units whose sense asks for it."""
    for sdev in _live_devices(shost):
        stu = next((rq for rq in work if rq.cmd.device is sdev and _sense(rq.cmd) is not None
                    and scsi_check_sense(rq.cmd) is Disposition.FAILED), None)
        if stu is None or not await _eh_try_stu(stu):
            continue
        if not scsi_device_online(sdev) or await _eh_tur(stu):
            for rq in [r for r in work if r.cmd.device is sdev]:
                if _eh_action(rq, Disposition.SUCCESS) is Disposition.SUCCESS:
                    _finish(rq, work, done)
    return not work


async def _eh_bus_device_reset(shost: ScsiHost, work: list[ScsiRequest],
                               done: list[ScsiRequest]) -> bool:
    """scsi_eh_bus_device_reset(): reset each unit with failed commands; those that then
    answer TEST UNIT READY have their commands finished."""
    for sdev in _live_devices(shost):
        bdr = next((rq for rq in work if rq.cmd.device is sdev), None)
        if bdr is None:
            continue
        rtn = await _try_bus_device_reset(shost, bdr.cmd)
        if rtn not in (SUCCESS, Disposition.FAST_IO_FAIL):
            continue
        if not scsi_device_online(sdev) or rtn == Disposition.FAST_IO_FAIL or \
                await _eh_tur(bdr):
            for rq in [r for r in work if r.cmd.device is sdev]:
                if _eh_action(rq, rtn) is not Disposition.FAILED:
                    _finish(rq, work, done)
    return not work


async def _eh_test_devices(check: list[ScsiRequest], work: list[ScsiRequest],
                           done: list[ScsiRequest], try_stu: bool) -> bool:
    """scsi_eh_test_devices(): after a reset, a TEST UNIT READY per unit decides whether
    its commands are finished or go on to the next step."""
    while check:
        sdev = check[0].cmd.device
        first = check[0]
        finish = not scsi_device_online(sdev)
        if not finish and try_stu and await _eh_try_stu(first):
            finish = await _eh_tur(first)
        if not finish:
            finish = await _eh_tur(first)
        for rq in [r for r in check if r.cmd.device is sdev]:
            check.remove(rq)
            if finish and (try_stu or _eh_action(rq, Disposition.SUCCESS)
                           is Disposition.SUCCESS):
                done.append(rq)
            else:
                work.append(rq)
    return not work


async def _eh_target_reset(shost: ScsiHost, work: list[ScsiRequest],
                           done: list[ScsiRequest]) -> bool:
    """scsi_eh_target_reset(): reset each target with failed commands."""
    pending = list(work)
    work.clear()
    check: list[ScsiRequest] = []
    while pending:
        target = pending[0].cmd.device.sdev_target
        rtn = await _try_target_reset(shost, pending[0].cmd)
        for rq in [r for r in pending if r.cmd.device.sdev_target is target]:
            pending.remove(rq)
            if rtn == SUCCESS:
                check.append(rq)
            elif rtn == Disposition.FAST_IO_FAIL:
                done.append(rq)
            else:
                work.append(rq)
    return await _eh_test_devices(check, work, done, False)


async def _eh_bus_reset(shost: ScsiHost, work: list[ScsiRequest],
                        done: list[ScsiRequest]) -> bool:
    """scsi_eh_bus_reset(): reset each channel with failed commands."""
    check: list[ScsiRequest] = []
    for channel in range(shost.max_channel + 1):
        chan = next((rq for rq in work if rq.cmd.device.channel == channel), None)
        if chan is None:
            continue
        rtn = await _try_reset(shost, "eh_bus_reset_handler", chan.cmd,
                               BUS_RESET_SETTLE_TIME_S)
        if rtn not in (SUCCESS, Disposition.FAST_IO_FAIL):
            continue
        for rq in [r for r in work if r.cmd.device.channel == channel]:
            work.remove(rq)
            (done if rtn == Disposition.FAST_IO_FAIL else check).append(rq)
    return await _eh_test_devices(check, work, done, False)


async def _eh_host_reset(shost: ScsiHost, work: list[ScsiRequest],
                         done: list[ScsiRequest]) -> bool:
    """scsi_eh_host_reset(): reset the host adapter."""
    check: list[ScsiRequest] = []
    if work:
        rtn = await _try_reset(shost, "eh_host_reset_handler", work[0].cmd,
                               HOST_RESET_SETTLE_TIME_S)
        if rtn == SUCCESS:
            check.extend(work)
            work.clear()
        elif rtn == Disposition.FAST_IO_FAIL:
            done.extend(work)
            work.clear()
    return await _eh_test_devices(check, work, done, True)


def _eh_offline_sdevs(work: list[ScsiRequest], done: list[ScsiRequest]) -> None:
    """scsi_eh_offline_sdevs(): what no reset recovered goes offline."""
    for rq in list(work):
        sdev = rq.cmd.device
        sdev_printk(Level.INFO, sdev, "Device offlined - not ready after error recovery")
        scsi_device_set_state(sdev, SdevState.OFFLINE)
        _finish(rq, work, done)


#: scsi_eh_ready_devs(): the escalation, gentlest first.
_ESCALATION: Final = (_eh_stu, _eh_bus_device_reset, _eh_target_reset, _eh_bus_reset,
                      _eh_host_reset)


async def _unjam_host(shost: ScsiHost, work: list[ScsiRequest],
                      done: list[ScsiRequest]) -> None:
    """scsi_unjam_host(): sense, then the escalation, then offline."""
    if await _eh_get_sense(work, done):
        return
    for step in _ESCALATION:
        if await step(shost, work, done):
            return
    _eh_offline_sdevs(work, done)
