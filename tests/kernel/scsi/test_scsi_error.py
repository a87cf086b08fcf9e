"""Error handling (usbemu.kernel.scsi.scsi_error): dispositions and sense checks, the
timeout's abort, the error handler's escalation to offline, recovery by a device reset,
and sd's medium-access-timeout limit."""

from __future__ import annotations

import asyncio

import pytest
from usbemu_tests_scsikit import Answer, FakeLld, Machine, NoHandlersLld, lun

from usbemu.emulated.scsi_target import ScsiTarget as DeviceTarget
from usbemu.kernel.scsi.constants import Disposition
from usbemu.kernel.scsi.hosts import ScsiHost, ShostState
from usbemu.kernel.scsi.scsi_cmnd import SUCCESS, HostByte, ScsiCmnd, ScsiHostTemplate
from usbemu.kernel.scsi.scsi_device import ScsiDevice, SdevState
from usbemu.kernel.scsi.scsi_error import ScsiMlStat, scsi_decide_disposition, scsi_ml_byte
from usbemu.kernel.scsi.scsi_lib import ScsiRequest, scsi_execute_cmd
from usbemu.spec.scsi import SamStatus, Sense, SenseKey


def attach(machine: Machine, lld: FakeLld) -> ScsiHost:
    shost: ScsiHost = machine.system.run(machine.attach(lld))
    machine.system.settle()
    return shost


def hang_reads(lld: FakeLld, times: int = 1_000_000) -> None:
    """Leave the first `times` READs unanswered."""
    left = [times]

    def hook(cmd: ScsiCmnd) -> str | None:
        if cmd.cmnd[0] == 0x28 and left[0] > 0:
            left[0] -= 1
            return "hang"
        return None
    lld.hook = hook


def read_fails(machine: Machine) -> OSError:
    with pytest.raises(OSError) as failure:
        machine.system.run(machine.system.block.read("sda", 0, 8))
    return failure.value


# -- dispositions ---------------------------------------------------------------------------------


def request(sdev: ScsiDevice, cdb: bytes, result: int, sense: Sense | None = None,
            passthrough: bool = False) -> ScsiRequest:
    cmd = ScsiCmnd(sdev, cdb)
    cmd.result = result
    if sense is not None:
        fixed = sense.fixed()
        cmd.sense_buffer[:len(fixed)] = fixed
    return ScsiRequest(cmd, passthrough=passthrough)


READ10 = bytes([0x28]) + bytes(9)
CC = SamStatus.CHECK_CONDITION


@pytest.mark.parametrize(("cdb", "result", "sense", "expected"), [
    (READ10, 0, None, Disposition.SUCCESS),
    (READ10, HostByte.DID_BAD_TARGET << 16, None, Disposition.SUCCESS),
    (READ10, HostByte.DID_NO_CONNECT << 16, None, Disposition.SUCCESS),
    (READ10, HostByte.DID_SOFT_ERROR << 16, None, Disposition.NEEDS_RETRY),
    (READ10, HostByte.DID_ERROR << 16, None, Disposition.NEEDS_RETRY),
    (READ10, HostByte.DID_IMM_RETRY << 16, None, Disposition.NEEDS_RETRY),
    (READ10, HostByte.DID_REQUEUE << 16, None, Disposition.ADD_TO_MLQUEUE),
    (READ10, HostByte.DID_TIME_OUT << 16, None, Disposition.FAILED),
    (bytes([0x12, 0, 0, 0, 36, 0]), HostByte.DID_TIME_OUT << 16, None, Disposition.SUCCESS),
    (READ10, SamStatus.BUSY, None, Disposition.ADD_TO_MLQUEUE),
    (READ10, CC, None, Disposition.FAILED),                      # no sense: ask for it
    (READ10, CC, Sense(SenseKey.NOT_READY, 0x04, 0x01), Disposition.NEEDS_RETRY),
    (READ10, CC, Sense(SenseKey.NOT_READY, 0x3A, 0), Disposition.SUCCESS),
    (READ10, CC, Sense(SenseKey.UNIT_ATTENTION, 0x28, 0), Disposition.SUCCESS),
    (READ10, CC, Sense(SenseKey.ILLEGAL_REQUEST, 0x24, 0), Disposition.SUCCESS),
    (READ10, CC, Sense(SenseKey.ABORTED_COMMAND, 0x47, 0), Disposition.NEEDS_RETRY),
    (READ10, CC, Sense(SenseKey.MEDIUM_ERROR, 0x11, 0), Disposition.SUCCESS),
    (READ10, CC, Sense(SenseKey.MEDIUM_ERROR, 0x0C, 0), Disposition.NEEDS_RETRY),
])
def test_decide_disposition(machine: Machine, cdb: bytes, result: int, sense: Sense | None,
                            expected: Disposition) -> None:
    sdev = attach(machine, FakeLld(DeviceTarget([lun()]), usb=False)).devices[0]
    assert scsi_decide_disposition(request(sdev, cdb, result, sense)) is expected


def test_sense_marks_the_result_for_the_block_layer(machine: Machine) -> None:
    sdev = attach(machine, FakeLld(DeviceTarget([lun()]), usb=False)).devices[0]
    medium = request(sdev, READ10, CC, Sense(SenseKey.MEDIUM_ERROR, 0x11, 0))
    scsi_decide_disposition(medium)
    assert scsi_ml_byte(medium.cmd.result) == ScsiMlStat.MED_ERROR
    protect = request(sdev, READ10, CC, Sense(SenseKey.DATA_PROTECT, 0x27, 0))
    assert scsi_decide_disposition(protect) is Disposition.SUCCESS
    assert scsi_ml_byte(protect.cmd.result) == ScsiMlStat.TGT_FAILURE


def test_hardware_errors_are_requeued_on_usb_units(machine: Machine) -> None:
    sdev = attach(machine, FakeLld(DeviceTarget([lun()]))).devices[0]
    assert sdev.retry_hwerror
    hw = request(sdev, READ10, CC, Sense(SenseKey.HARDWARE_ERROR, 0x44, 0))
    assert scsi_decide_disposition(hw) is Disposition.ADD_TO_MLQUEUE


def test_expected_unit_attention_after_a_reset_is_retried(machine: Machine) -> None:
    sdev = attach(machine, FakeLld(DeviceTarget([lun()]), usb=False)).devices[0]
    sdev.expecting_cc_ua = True
    ua = request(sdev, READ10, CC, Sense(SenseKey.UNIT_ATTENTION, 0x29, 0))
    assert scsi_decide_disposition(ua) is Disposition.NEEDS_RETRY
    assert not sdev.expecting_cc_ua


def test_passthrough_check_condition_is_not_retried(machine: Machine) -> None:
    sdev = attach(machine, FakeLld(DeviceTarget([lun()]), usb=False)).devices[0]
    busy = request(sdev, READ10, CC, Sense(SenseKey.ABORTED_COMMAND, 0x47, 0), True)
    assert scsi_decide_disposition(busy) is Disposition.SUCCESS


def test_retries_run_out(machine: Machine) -> None:
    sdev = attach(machine, FakeLld(DeviceTarget([lun()]), usb=False)).devices[0]
    rq = request(sdev, READ10, HostByte.DID_SOFT_ERROR << 16)
    rq.cmd.allowed = 2
    assert [scsi_decide_disposition(rq) for _ in range(3)] == \
        [Disposition.NEEDS_RETRY, Disposition.NEEDS_RETRY, Disposition.SUCCESS]


# -- timeouts and the error handler ----------------------------------------------------------


def test_timeout_aborted_and_retried(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    shost = attach(machine, lld)
    lld.handler_results["abort"] = SUCCESS
    hang_reads(lld, 1)
    start = machine.system.time()
    assert machine.system.run(machine.system.block.read("sda", 0, 8)) == bytes(4096)
    assert lld.calls == ["abort"]
    assert 30.0 < machine.system.time() - start < 31.0
    sdev = shost.devices[0]
    assert sdev.iotmo_cnt == 1
    assert machine.system.vfs.read_text("/sys/bus/scsi/devices/0:0:0:0/iotmo_cnt") == "0x1\n"
    assert shost.shost_state is ShostState.RUNNING


def test_escalation_to_offline_when_nothing_helps(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    shost = attach(machine, lld)
    hang_reads(lld)
    machine.system.log.clear()
    assert read_fails(machine).errno == 5
    assert lld.calls == ["abort", "device reset", "target reset", "bus reset", "host reset"]
    assert machine.log() == [
        "sd 0:0:0:0: Device offlined - not ready after error recovery",
        "sd 0:0:0:0: [sda] tag#0 FAILED Result: hostbyte=DID_TIME_OUT driverbyte=DRIVER_OK "
        "cmd_age=30s",
        "sd 0:0:0:0: [sda] tag#0 CDB: Read(10) 28 00 00 00 00 00 00 00 08 00",
        "I/O error, dev sda, sector 0 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
    ]
    sdev = shost.devices[0]
    assert sdev.sdev_state is SdevState.OFFLINE
    assert shost.shost_state is ShostState.RUNNING
    machine.system.log.clear()
    lld.commands.clear()
    read_fails(machine)
    assert lld.commands == []
    assert machine.log()[:1] == ["sd 0:0:0:0: rejecting I/O to offline device"]


def test_host_in_recovery_holds_other_commands(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    shost = attach(machine, lld)
    lld.handler_delays["bus reset"] = 5.0
    hang_reads(lld)
    seen: list[tuple[ShostState, int]] = []

    async def tur_during_recovery() -> float:
        await asyncio.sleep(32.0)           # the READ timed out at 30 s; bus reset runs
        seen.append((shost.shost_state, len(lld.commands)))
        await scsi_execute_cmd(shost.devices[0], bytes(6))
        return machine.system.time()

    async def both() -> float:
        tur = asyncio.ensure_future(tur_during_recovery())
        with pytest.raises(OSError):
            await machine.system.block.read("sda", 0, 8)
        return await tur

    start = machine.system.time()
    lld.commands.clear()
    finished = machine.system.run(both())
    assert seen == [(ShostState.RECOVERY, 1)]
    assert finished - start >= 35.0        # the TUR went out after the handler was done


def test_device_reset_recovers_and_the_command_is_retried(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    shost = attach(machine, lld)
    lld.handler_results["device reset"] = SUCCESS
    hang_reads(lld, 1)
    lld.commands.clear()
    assert machine.system.run(machine.system.block.read("sda", 0, 8)) == bytes(4096)
    assert lld.calls == ["abort", "device reset"]
    assert [cdb[0] for _, cdb in lld.commands] == [0x28, 0x00, 0x28]  # TUR after the reset
    assert shost.devices[0].was_reset
    assert shost.devices[0].sdev_state is SdevState.RUNNING


def test_host_without_handlers_goes_straight_to_offline(machine: Machine) -> None:
    lld = NoHandlersLld(DeviceTarget([lun()]))
    shost = attach(machine, lld)
    hang_reads(lld)
    start = machine.system.time()
    read_fails(machine)
    assert lld.calls == []
    assert machine.system.time() - start == pytest.approx(30.0)
    assert shost.devices[0].sdev_state is SdevState.OFFLINE


def test_passthrough_timeout_is_not_retried(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    shost = attach(machine, lld)
    lld.handler_results["abort"] = SUCCESS
    lld.hook = lambda cmd: "hang" if cmd.cmnd[0] == 0 else None
    lld.commands.clear()
    res = machine.system.run(scsi_execute_cmd(shost.devices[0], bytes(6), timeout=5.0,
                                              retries=3))
    assert res.result == HostByte.DID_TIME_OUT << 16
    assert len(lld.commands) == 1 and lld.calls == ["abort"]


class NoAbortLld(FakeLld):
    """A driver that can reset a device but not abort a command."""

    eh_abort_handler = ScsiHostTemplate.eh_abort_handler  # type: ignore[assignment]


def test_medium_access_timeouts_offline_the_disk(machine: Machine) -> None:
    lld = NoAbortLld(DeviceTarget([lun()]))
    shost = attach(machine, lld)
    lld.handler_results["device reset"] = SUCCESS
    hang_reads(lld)
    read_fails(machine)
    assert lld.calls == ["device reset", "device reset"]
    assert "sd 0:0:0:0: [sda] Medium access timeout failure. Offlining disk!" in machine.log()
    assert shost.devices[0].sdev_state is SdevState.OFFLINE


def test_busy_driver_is_asked_again_3ms_later(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    attach(machine, lld)
    busy = [2]

    def hook(cmd: ScsiCmnd) -> str | Answer | None:
        if cmd.cmnd[0] == 0x28 and busy[0]:
            busy[0] -= 1
            return "busy"
        return None
    lld.hook = hook
    lld.commands.clear()
    start = machine.system.time()
    assert machine.system.run(machine.system.block.read("sda", 0, 8)) == bytes(4096)
    assert [cdb[0] for _, cdb in lld.commands] == [0x28] * 3
    assert machine.system.time() - start == pytest.approx(0.006)
