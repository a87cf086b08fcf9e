"""Running commands (usbemu.kernel.scsi.scsi_lib): scsi_execute_cmd and its failure
lists, one command at a time per host, residues, refused units, MODE SENSE, the door
lock, and scsi_io_completion's statuses and reports."""

from __future__ import annotations

import asyncio

import pytest
from usbemu_tests_scsikit import Answer, FakeLld, Machine, lun

from usbemu.emulated.scsi_target import ScsiTarget as DeviceTarget
from usbemu.kernel.block.request import BlkStatus
from usbemu.kernel.scsi.scsi_cmnd import DataDirection, HostByte, ScsiCmnd
from usbemu.kernel.scsi.scsi_device import ScsiDevice, SdevState
from usbemu.kernel.scsi.scsi_error import ScsiMlStat
from usbemu.kernel.scsi.scsi_lib import (
    SCMD_FAILURE_ASCQ_ANY,
    SCMD_FAILURE_RESULT_ANY,
    SCMD_FAILURE_SENSE_ANY,
    SCMD_FAILURE_STAT_ANY,
    IoAction,
    ScsiFailure,
    ScsiFailures,
    ScsiRequest,
    scsi_check_passthrough,
    scsi_execute_cmd,
    scsi_io_completion,
    scsi_mode_sense,
    scsi_result_to_blk_status,
    scsi_set_medium_removal,
)
from usbemu.spec.scsi import INVALID_COMMAND_OPCODE, SamStatus, Sense, SenseKey

CC = SamStatus.CHECK_CONDITION


def unit(machine: Machine, lld: FakeLld | None = None) -> tuple[FakeLld, ScsiDevice]:
    lld = lld or FakeLld(DeviceTarget([lun()]))
    shost = machine.system.run(machine.attach(lld))
    machine.system.settle()
    return lld, shost.devices[0]


# -- failure lists (ported from drivers/scsi/scsi_lib_test.c) --------------------------------------


def sense(key: int, asc: int, ascq: int) -> Sense:
    return Sense(key, asc, ascq)


def test_passthrough_multiple_sense() -> None:
    failures = ScsiFailures([
        ScsiFailure(CC, SenseKey.DATA_PROTECT, 0x1, 0x1),
        ScsiFailure(CC, SenseKey.UNIT_ATTENTION, 0x11, 0x0, allowed=3),
        ScsiFailure(CC, SenseKey.NOT_READY, 0x11, 0x22, allowed=3),
        ScsiFailure(CC, SenseKey.ABORTED_COMMAND, 0x11, SCMD_FAILURE_ASCQ_ANY, allowed=3),
        ScsiFailure(CC, SenseKey.HARDWARE_ERROR, 0xFF, allowed=3),
        ScsiFailure(CC, SenseKey.ILLEGAL_REQUEST, 0x91, 0x36, allowed=3),
        ScsiFailure(0),
    ])
    assert not scsi_check_passthrough(0, None, failures)
    assert not scsi_check_passthrough(CC, sense(5, 0x91, 0x36), None)
    assert scsi_check_passthrough(CC, sense(5, 0x91, 0x36), failures)
    assert scsi_check_passthrough(CC, sense(6, 0x11, 0x0), failures)
    assert not scsi_check_passthrough(CC, sense(0xE, 0x11, 0x11), failures)
    assert scsi_check_passthrough(CC, sense(0xB, 0x11, 0x22), failures)
    assert not scsi_check_passthrough(CC, sense(0xB, 0x22, 0x22), failures)
    assert scsi_check_passthrough(CC, sense(4, 0x11, 0x22), failures)
    assert not scsi_check_passthrough(SamStatus.RESERVATION_CONFLICT, None, failures)
    for _ in range(3):
        assert scsi_check_passthrough(CC, sense(2, 0x11, 0x22), failures)
    assert not scsi_check_passthrough(CC, sense(2, 0x11, 0x22), failures)
    failures.reset_retries()
    assert not scsi_check_passthrough(CC, sense(7, 0x1, 0x1), failures)  # no retries allowed


def test_passthrough_any_and_host_bytes() -> None:
    assert scsi_check_passthrough(CC, sense(3, 0x11, 0x22), ScsiFailures(
        [ScsiFailure(SCMD_FAILURE_SENSE_ANY, allowed=3), ScsiFailure(0)]))
    hosts = ScsiFailures([ScsiFailure(HostByte.DID_TIME_OUT << 16, allowed=3),
                          ScsiFailure(0)])
    assert not scsi_check_passthrough(HostByte.DID_NO_CONNECT << 16, None, hosts)
    assert scsi_check_passthrough(HostByte.DID_TIME_OUT << 16, None, hosts)
    assert scsi_check_passthrough(HostByte.DID_TRANSPORT_FAILFAST << 16, None, ScsiFailures(
        [ScsiFailure(SCMD_FAILURE_RESULT_ANY, allowed=3), ScsiFailure(0)]))
    assert scsi_check_passthrough(SamStatus.RESERVATION_CONFLICT, None, ScsiFailures(
        [ScsiFailure(SCMD_FAILURE_STAT_ANY, allowed=3), ScsiFailure(0)]))


def test_passthrough_total_allowed_mixed() -> None:
    failures = ScsiFailures([
        ScsiFailure(CC, SenseKey.UNIT_ATTENTION, 0x28),
        ScsiFailure(CC, SenseKey.UNIT_ATTENTION, 0x29),
        ScsiFailure(HostByte.DID_TIME_OUT << 16, allowed=1),
        ScsiFailure(0),
    ], total_allowed=5)
    for _ in range(5):
        assert scsi_check_passthrough(CC, sense(6, 0x28, 0), failures)
    assert scsi_check_passthrough(HostByte.DID_TIME_OUT << 16, None, failures)
    assert not scsi_check_passthrough(CC, sense(6, 0x29, 0), failures)


# -- scsi_execute_cmd ---------------------------------------------------------------------------


def test_execute_inquiry_and_zero_the_residue(machine: Machine) -> None:
    _, sdev = unit(machine)
    buffer = bytearray(b"\xff" * 64)
    res = machine.system.run(scsi_execute_cmd(sdev, bytes([0x12, 0, 0, 0, 64, 0]),
                                              DataDirection.FROM_DEVICE, buffer))
    assert res.result == 0 and res.sense is None and res.resid == 28
    assert buffer[8:16] == b"USBemu  " and buffer[36:] == bytes(28)


def test_execute_returns_the_sense(machine: Machine) -> None:
    _, sdev = unit(machine)
    res = machine.system.run(scsi_execute_cmd(sdev, bytes([0xFF, 0, 0, 0, 0, 0])))
    assert res.result == CC
    assert res.sense is not None and (res.sense.key, res.sense.asc) == (5, 0x20)


def test_execute_needs_a_writable_buffer_for_data_in(machine: Machine) -> None:
    _, sdev = unit(machine)
    with pytest.raises(ValueError, match="writable"):
        machine.system.run(scsi_execute_cmd(sdev, bytes(6), DataDirection.FROM_DEVICE, b"x"))
    with pytest.raises(ValueError, match="needs a buffer"):
        machine.system.run(scsi_execute_cmd(sdev, bytes(6), DataDirection.TO_DEVICE))


def test_one_command_at_a_time_per_host(machine: Machine) -> None:
    lld, sdev = unit(machine)
    outstanding: list[int] = [0]
    peak: list[int] = [0]

    def hook(cmd: ScsiCmnd) -> None:
        outstanding[0] += 1
        peak[0] = max(peak[0], outstanding[0])
        done = cmd.scsi_done_fn
        assert done is not None

        def finished(c: ScsiCmnd) -> None:
            outstanding[0] -= 1
            done(c)
        cmd.scsi_done_fn = finished
        return None
    lld.hook = hook

    async def many() -> list[int]:
        runs = [scsi_execute_cmd(sdev, bytes(6)) for _ in range(5)]
        return [r.result for r in await asyncio.gather(*runs)]

    assert machine.system.run(many()) == [0] * 5
    assert peak[0] == 1
    assert sdev.host.host_busy == 0


def test_commands_to_a_deleted_unit_are_refused(machine: Machine) -> None:
    lld, sdev = unit(machine)
    sdev.sdev_state = SdevState.DEL
    lld.commands.clear()
    res = machine.system.run(scsi_execute_cmd(sdev, bytes(6)))
    assert res.result == HostByte.DID_NO_CONNECT << 16
    assert lld.commands == []
    assert "sd 0:0:0:0: rejecting I/O to dead device" in machine.log()


def test_unit_attention_retried_by_failure_list(machine: Machine) -> None:
    lld, sdev = unit(machine)
    target_unit = lld.target.lun(0)
    target_unit.reset()
    failures = ScsiFailures([ScsiFailure(CC, SenseKey.UNIT_ATTENTION, 0x29), ScsiFailure(0)],
                            total_allowed=1)
    lld.commands.clear()
    res = machine.system.run(scsi_execute_cmd(sdev, bytes(6), failures=failures))
    assert res.result == 0 and len(lld.commands) == 2


def test_mode_sense_10_falls_back_to_6(machine: Machine) -> None:
    lld, sdev = unit(machine)
    sdev.use_10_for_ms = True

    def hook(cmd: ScsiCmnd) -> Answer | None:
        if cmd.cmnd[0] == 0x5A:
            return Answer(CC, Sense.of(SenseKey.ILLEGAL_REQUEST,
                                       INVALID_COMMAND_OPCODE).fixed())
        return None
    lld.hook = hook
    lld.commands.clear()
    res = machine.system.run(scsi_mode_sense(sdev, 0, 0x3F, 0, bytearray(192), 30.0, 3))
    assert res.result == 0 and res.data.length == 4 and res.data.header_length == 4
    assert [cdb[0] for _, cdb in lld.commands] == [0x5A, 0x1A]
    assert not sdev.use_10_for_ms


def test_medium_removal_of_a_unit_that_refuses_it(machine: Machine) -> None:
    lld, sdev = unit(machine)
    assert machine.system.run(scsi_set_medium_removal(sdev, True)) == 0
    assert sdev.locked and lld.target.lun(0).prevented
    lld.hook = lambda cmd: Answer(CC, Sense(SenseKey.ILLEGAL_REQUEST, 0x20, 0).fixed()) \
        if cmd.cmnd[0] == 0x1E else None
    machine.system.run(scsi_set_medium_removal(sdev, False))
    assert not sdev.lockable
    lld.commands.clear()
    assert machine.system.run(scsi_set_medium_removal(sdev, True)) == 0
    assert lld.commands == []


# -- block completions -------------------------------------------------------------------------


def completion(sdev: ScsiDevice, result: int, sense_: Sense | None, good: int | None = None,
               nbytes: int = 4096) -> tuple[IoAction, BlkStatus]:
    """scsi_io_completion of a READ(10) of `nbytes`, `good` of them good (sd_done's count:
    all for a clean result, none otherwise, by default)."""
    cmd = ScsiCmnd(sdev, bytes([0x28]) + bytes(9), DataDirection.FROM_DEVICE,
                   memoryview(bytearray(nbytes)))
    cmd.result = result
    if sense_ is not None:
        fixed = sense_.fixed()
        cmd.sense_buffer[:len(fixed)] = fixed
    rq = ScsiRequest(cmd, passthrough=False, quiet=True, disk_name="sda")
    done = scsi_io_completion(rq, (nbytes if result == 0 else 0) if good is None else good,
                              0.0)
    return done.action, done.status


@pytest.mark.parametrize(("result", "sense_", "expected"), [
    (0, None, (IoAction.DONE, BlkStatus.OK)),
    (CC, Sense(SenseKey.UNIT_ATTENTION, 0x29, 0), (IoAction.RETRY, BlkStatus.OK)),
    (CC, Sense(SenseKey.NOT_READY, 0x04, 0x01), (IoAction.DELAYED_RETRY, BlkStatus.OK)),
    (CC, Sense(SenseKey.NOT_READY, 0x3A, 0), (IoAction.DONE, BlkStatus.IOERR)),
    (CC, Sense(SenseKey.ILLEGAL_REQUEST, 0x24, 0), (IoAction.DONE, BlkStatus.TARGET)),
    (CC, Sense(SenseKey.ILLEGAL_REQUEST, 0x20, 0), (IoAction.REPREP, BlkStatus.OK)),
    (HostByte.DID_RESET << 16, None, (IoAction.RETRY, BlkStatus.OK)),
    (HostByte.DID_NO_CONNECT << 16, None, (IoAction.DONE, BlkStatus.IOERR)),
    (ScsiMlStat.MED_ERROR << 24 | CC, Sense(SenseKey.MEDIUM_ERROR, 0x11, 0),
     (IoAction.DONE, BlkStatus.MEDIUM)),
])
def test_io_completion_actions(machine: Machine, result: int, sense_: Sense | None,
                               expected: tuple[IoAction, BlkStatus]) -> None:
    _, sdev = unit(machine, FakeLld(DeviceTarget([lun(removable=False)])))
    assert completion(sdev, result, sense_) == expected


def test_io_completion_of_a_removable_unit_attention_fails_and_marks_changed(
        machine: Machine) -> None:
    _, sdev = unit(machine)
    assert completion(sdev, CC, Sense(SenseKey.UNIT_ATTENTION, 0x28, 0)) == \
        (IoAction.DONE, BlkStatus.IOERR)
    assert sdev.changed


def test_recovered_error_is_success(machine: Machine) -> None:
    _, sdev = unit(machine)
    assert completion(sdev, CC, Sense(SenseKey.RECOVERED_ERROR, 0x17, 0), good=4096) == \
        (IoAction.DONE, BlkStatus.OK)


def test_partial_completion_requeues_the_rest(machine: Machine) -> None:
    _, sdev = unit(machine)
    assert completion(sdev, 0, None, good=1024) == (IoAction.REQUEUE, BlkStatus.OK)


@pytest.mark.parametrize(("result", "status"), [
    (0, BlkStatus.OK), (CC, BlkStatus.IOERR), (HostByte.DID_TIME_OUT << 16, BlkStatus.IOERR),
    (HostByte.DID_TRANSPORT_FAILFAST << 16, BlkStatus.TRANSPORT),
    (ScsiMlStat.TGT_FAILURE << 24, BlkStatus.TARGET),
    (ScsiMlStat.NOSPC << 24, BlkStatus.NOSPC),
])
def test_result_to_blk_status(result: int, status: BlkStatus) -> None:
    assert scsi_result_to_blk_status(result) is status


def test_write_to_a_protected_unit_is_a_target_error(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun(write_protect=True)]))
    unit(machine, lld)
    machine.system.log.clear()
    with pytest.raises(OSError):
        machine.system.run(machine.system.block.write("sda", 0, bytes(4096)))
    lines = machine.log()
    assert "sd 0:0:0:0: [sda] tag#0 Sense Key : Data Protect [current] " in lines
    assert "sd 0:0:0:0: [sda] tag#0 Add. Sense: Write protected" in lines
    assert "critical target error, dev sda, sector 0 op 0x1:(WRITE) flags 0x0 phys_seg 1 " \
           "prio class 0" in lines


def test_a_unit_busy_for_ever_times_out_after_allowed_plus_one_timeouts(
        machine: Machine) -> None:
    lld, _ = unit(machine)
    lld.hook = lambda cmd: Answer(SamStatus.BUSY) if cmd.cmnd[0] == 0x28 else None
    machine.system.log.clear()
    start = machine.system.time()
    with pytest.raises(OSError):
        machine.system.run(machine.system.block.read("sda", 0, 8))
    assert machine.system.time() - start == pytest.approx(180.0, abs=0.01)
    assert machine.log()[:2] == [
        "sd 0:0:0:0: [sda] timing out command, waited 180s",
        "sd 0:0:0:0: [sda] tag#0 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK "
        "cmd_age=180s"]
