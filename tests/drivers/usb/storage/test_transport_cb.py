"""The Control/Bulk and Control/Bulk/Interrupt transports (transport.py
usb_stor_CB_transport, usb_stor_CB_reset) against a small CB[I] device: the command block
by ADSC, the data on the bulk pipes, the CBI status on the interrupt endpoint (for UFI,
ASC and ASCQ), the bulk pipe cleared after a failed data command, the auto-sense a CB
device needs after every command without data-in, and the SEND DIAGNOSTIC reset."""

from __future__ import annotations

from usbemu_tests_storage_helpers import (  # type: ignore[import-not-found]
    CBI_IN,
    CBI_OUT,
    CbiStick,
    Harness,
    wire,
)

from usbemu.drivers.usb.storage.us_data import UsFlag
from usbemu.kernel.scsi.scsi_cmnd import SUCCESS, DataDirection, ScsiCmnd
from usbemu.spec.scsi import LBA_OUT_OF_RANGE, Opcode, SamStatus, Sense, SenseKey
from usbemu.spec.storage import StorageProtocol, StorageSubclass
from usbemu.system import System

_ADSC = "CTRL 21 00 0000 0000"
_SINGLE_LUN = "1234:0cb1:s"


def _plug(system: System, stor: Harness, **options: object) -> CbiStick:
    system.modprobe("usb-storage", quirks=_SINGLE_LUN)
    model: CbiStick = stor.plug(CbiStick(**options))   # type: ignore[arg-type]
    stor.command(bytes(6))                              # the power-on attention
    stor.record()
    return model


def test_cbi_moves_data_and_reads_its_status_from_the_interrupt_pipe(
        system: System, stor: Harness) -> None:
    model = _plug(system, stor)
    us = stor.us()
    assert (us.transport_name, us.protocol_name) == ("Control/Bulk/Interrupt",
                                                     "Transparent SCSI")
    data = bytes(range(256)) * 16
    assert stor.write10(2, data).result == SamStatus.GOOD
    assert model.unit.medium is not None and model.unit.medium.read(2, 8) == data
    read = stor.read10(2, 8)
    assert read.result == SamStatus.GOOD and bytes(read.buffer) == data
    assert stor.recorder is not None
    assert wire(stor.recorder) == [_ADSC, "OUT 4096", "INT 2", _ADSC, "IN 4096", "INT 2"]
    assert model.adsc[-1] == bytes([Opcode.READ_10, 0, 0, 0, 0, 2, 0, 0, 8, 0])


def test_a_failed_cbi_command_clears_the_pipe_and_gets_sense(system: System,
                                                             stor: Harness) -> None:
    model = _plug(system, stor)
    cmd = stor.read10(2048, 1)
    assert cmd.result == SamStatus.CHECK_CONDITION
    sense = Sense.parse(cmd.sense_buffer)
    assert sense is not None and (sense.key, sense.asc) == (SenseKey.ILLEGAL_REQUEST,
                                                            LBA_OUT_OF_RANGE.asc)
    assert stor.recorder is not None
    assert wire(stor.recorder) == [_ADSC, "IN 512:-121", "INT 2",
                                   f"CTRL 02 01 0000 {CBI_IN:04x}",
                                   _ADSC, "IN 18", "INT 2"]
    assert model.adsc[-1] == bytes([Opcode.REQUEST_SENSE, 0, 0, 0, 18, 0])


def test_cb_asks_for_sense_after_every_command_without_data_in(system: System,
                                                               stor: Harness) -> None:
    model = _plug(system, stor, protocol=StorageProtocol.CB)
    assert stor.us().transport_name == "Control/Bulk"
    cmd = stor.command(bytes(6))
    assert cmd.result == SamStatus.GOOD and cmd.sense_buffer[0] == 0   # empty: good
    read = stor.read10(0, 1)
    assert read.result == SamStatus.GOOD
    assert stor.recorder is not None
    assert wire(stor.recorder) == [_ADSC, _ADSC, "IN 18", _ADSC, "IN 512"]
    assert [cdb[0] for cdb in model.adsc[-3:]] == [Opcode.TEST_UNIT_READY,
                                                   Opcode.REQUEST_SENSE, Opcode.READ_10]


def test_ufi_reports_its_asc_on_the_interrupt_pipe(system: System, stor: Harness) -> None:
    model = _plug(system, stor, subclass=StorageSubclass.UFI)
    us = stor.us()
    assert us.protocol_name == "Uniform Floppy Interface (UFI)"
    cmd = stor.read10(4096, 1)
    assert cmd.result == SamStatus.CHECK_CONDITION
    assert model.adsc[-1] == bytes([Opcode.REQUEST_SENSE, 0, 0, 0, 18]) + bytes(7)
    inquiry = stor.command(bytes([Opcode.INQUIRY, 0, 0, 0, 96, 0]), data_in=96)
    assert inquiry.result == SamStatus.GOOD and inquiry.resid == 60
    assert model.adsc[-1][:5] == bytes([Opcode.INQUIRY, 0, 0, 0, 36])
    assert len(model.adsc[-1]) == 12


def test_a_cb_device_has_up_to_eight_luns_unless_single_lun(system: System,
                                                            stor: Harness) -> None:
    system.modprobe("usb-storage")
    stor.plug(CbiStick())
    assert stor.us().max_lun == 7 and not stor.us().fflags & UsFlag.SINGLE_LUN
    assert sorted(d.lun for d in stor.host().devices) == list(range(8))


def test_the_cb_reset_is_a_send_diagnostic_then_two_clear_halts(system: System,
                                                                stor: Harness) -> None:
    model = _plug(system, stor)
    cmd = ScsiCmnd(stor.sdev(), bytes(6), DataDirection.NONE)
    host = stor.host()

    async def reset() -> int:
        return await host.hostt.eh_device_reset_handler(cmd)

    before = system.time()
    assert system.run(reset()) == SUCCESS
    assert system.time() - before >= 6.0
    assert model.adsc[-1] == bytes([Opcode.SEND_DIAGNOSTIC, 0x04]) + b"\xff" * 10
    assert stor.recorder is not None
    assert wire(stor.recorder) == [_ADSC, f"CTRL 02 01 0000 {CBI_IN:04x}",
                                   f"CTRL 02 01 0000 {CBI_OUT:04x}"]
