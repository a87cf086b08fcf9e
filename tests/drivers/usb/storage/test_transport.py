"""The Bulk-Only transport and its recovery (transport.py), driven through usb-storage's
queuecommand against the mass-storage model: the CBW as sent (signature, tag, length,
direction, LUN, command block), READ and WRITE moving real blocks, auto-sense after a
failed command, and each misbehaviour the model can inject getting Linux's answer —
a bad CSW signature or tag and a phase error reset the port; a stalled data stage is
cleared and the CSW read; a lying residue is cut to the transfer length (or, on a full
INQUIRY, makes usb-storage ignore residues from then on); a CSW that never comes waits
for the mid-layer's abort.  When the port may not be reset, the Bulk-Only Mass Storage
Reset and two clear-halts do it.  Each case checks the requests on the wire."""

from __future__ import annotations

import struct
from typing import Any

from usbemu_tests_storage_helpers import (  # type: ignore[import-not-found]
    STICK_IN,
    STICK_OUT,
    Harness,
    Stick,
    wire,
)

from usbemu.core.sysfs import USB_QUIRK_RESET
from usbemu.drivers.usb.storage.transport import US_SENSE_SIZE
from usbemu.drivers.usb.storage.us_data import UsFlag, UsFlidx
from usbemu.emulated.models.storage import BULK_IN, BULK_OUT, MassStorage, StorageFault
from usbemu.emulated.scsi_target import MemoryMedium
from usbemu.kernel.scsi.scsi_cmnd import FAILED, SUCCESS, HostByte
from usbemu.spec.scsi import (
    LBA_OUT_OF_RANGE,
    Opcode,
    SamStatus,
    Sense,
    SenseKey,
    rw_cdb,
)
from usbemu.spec.storage import CBW_SIGNATURE, CSW_SIGNATURE
from usbemu.system import System

_PORT_RESET = "reset high-speed USB device number 2 using ehci-pci"
_SET_CONFIG = "CTRL 00 09 0001 0000"
_BULK_RESET = "CTRL 21 ff 0000 0000"
_INQUIRY_36 = bytes([Opcode.INQUIRY, 0, 0, 0, 36, 0])
_TUR = bytes(6)


def _ready(stor: Harness, model: Any) -> Any:
    """Plugged in, scanned, and its power-on UNIT ATTENTION taken (sd's TEST UNIT READY
    took it already); the recorder starts now."""
    stor.plug(model)
    assert stor.command(_TUR).result == SamStatus.GOOD
    stor.record()
    return model


def _spy_cbws(model: Any) -> list[bytes]:
    """Every CBW the model receives from now on (its transport's OUT handler wrapped)."""
    seen: list[bytes] = []
    bot = model.bulk_only
    take = bot.accept_out

    def spy(ep: Any, data: memoryview) -> Any:
        if bot.phase.value == "command":
            seen.append(bytes(data))
        return take(ep, data)

    address = bot.bulk_out
    model.endpoint(address).out_handler = spy
    return seen


def _reset_happened(stor: Harness) -> bool:
    return any(_PORT_RESET in line for line in stor.lines())


# -- commands on the wire -----------------------------------------------------------------


def test_a_write_then_a_read_move_the_blocks(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    data = bytes(range(256)) * 16
    cbws = _spy_cbws(model)
    wrote = stor.write10(4, data)
    assert (wrote.result, wrote.resid) == (SamStatus.GOOD, 0)
    assert model.lun(0).medium.read(4, 8) == data
    read = stor.read10(4, 8)
    assert (read.result, read.resid) == (SamStatus.GOOD, 0)
    assert bytes(read.buffer) == data
    assert stor.recorder is not None
    assert wire(stor.recorder) == ["CBW", "OUT 4096", "CSW", "CBW", "IN 4096", "CSW"]
    tags = []
    for raw, (flags, cb) in zip(cbws, ((0x00, rw_cdb(Opcode.WRITE_10, 4, 8)),
                                       (0x80, rw_cdb(Opcode.READ_10, 4, 8))), strict=True):
        sig, tag, length, got_flags, lun, cb_len = struct.unpack_from("<IIIBBB", raw)
        assert (sig, length, got_flags, lun, cb_len) == (CBW_SIGNATURE, 4096, flags, 0, 10)
        assert raw[15:15 + cb_len] == cb and raw[15 + cb_len:] == bytes(16 - cb_len)
        tags.append(tag)
    assert tags[1] == tags[0] + 1 == stor.us().tag


def test_the_tag_counts_from_one_across_the_scan(stor: Harness) -> None:
    model = MassStorage(size=1 << 20)
    cbws = _spy_cbws_before_plug(model)
    stor.plug(model)
    tags = [struct.unpack_from("<I", raw, 4)[0] for raw in cbws]
    assert tags == list(range(1, len(tags) + 1)) and stor.us().tag == len(tags)
    assert cbws[0][15] == Opcode.INQUIRY and cbws[0][8:12] == (36).to_bytes(4, "little")


def _spy_cbws_before_plug(model: MassStorage) -> list[bytes]:
    seen: list[bytes] = []
    bot = model.bulk_only
    assert bot is not None
    take = bot.accept_out

    def spy(ep: Any, data: memoryview) -> Any:
        if bot.phase.value == "command":
            seen.append(bytes(data))
        return take(ep, data)

    bot.accept_out = spy  # type: ignore[method-assign]
    return seen


def test_a_command_to_lun_2_carries_it_in_the_cbw(stor: Harness) -> None:
    model = stor.plug(MassStorage(luns=[MemoryMedium(1 << 20) for _ in range(3)]))
    cbws = _spy_cbws(model)
    stor.command(_TUR, lun=2)
    assert cbws[-1][13] == 2


def test_a_failed_command_gets_its_sense_by_auto_sense(stor: Harness) -> None:
    _ready(stor, MassStorage(size=1 << 20))
    cmd = stor.read10(2048, 1)                   # one past the end
    assert cmd.result == SamStatus.CHECK_CONDITION
    sense = Sense.parse(cmd.sense_buffer)
    assert sense is not None
    assert (sense.key, sense.asc, sense.ascq) == (SenseKey.ILLEGAL_REQUEST,
                                                  LBA_OUT_OF_RANGE.asc, LBA_OUT_OF_RANGE.ascq)
    assert cmd.resid == 512 and bytes(cmd.cmnd) == rw_cdb(Opcode.READ_10, 2048, 1)
    assert stor.recorder is not None
    # the short data stage ends with a stall: the CSW read stalls, is cleared, read again
    assert wire(stor.recorder) == ["CBW", "IN 512:-121", "CSW:-32", "CTRL 02 01 0000 0081",
                                   "CSW", "CBW", f"IN {US_SENSE_SIZE}", "CSW"]


def test_auto_sense_asks_18_bytes_with_a_six_byte_request_sense(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    cbws = _spy_cbws(model)
    stor.read10(4096, 1)
    request_sense = cbws[-1]
    assert request_sense[8:12] == (18).to_bytes(4, "little") and request_sense[12] == 0x80
    assert request_sense[14] == 6 and request_sense[15:21] == bytes([3, 0, 0, 0, 18, 0])


# -- misbehaving devices ----------------------------------------------------------------------


def test_a_bad_csw_signature_resets_the_port(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    model.inject(StorageFault.BAD_SIGNATURE)
    cmd = stor.read10(0, 8)
    assert cmd.result == HostByte.DID_ERROR << 16
    assert stor.recorder is not None
    trace = wire(stor.recorder)
    assert trace[:3] == ["CBW", "IN 4096", "CSW"]
    assert _SET_CONFIG in trace[3:] and _BULK_RESET not in trace
    assert _reset_happened(stor)
    assert stor.us().bcs_signature == CSW_SIGNATURE       # learnt from the first CSW
    again = stor.read10(0, 8)                              # the reset's UNIT ATTENTION
    assert again.result == SamStatus.CHECK_CONDITION
    assert stor.read10(0, 8).result == SamStatus.GOOD


def test_a_bad_csw_tag_is_a_bulk_logical_error(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    stor.system.log.debug = True
    model.inject(StorageFault.BAD_TAG)
    cmd = stor.command(_TUR)
    assert cmd.result == HostByte.DID_ERROR << 16
    assert "usb-storage 1-1:1.0: Bulk logical error" in stor.lines()
    assert stor.recorder is not None
    assert wire(stor.recorder)[:2] == ["CBW", "CSW"] and _reset_happened(stor)


def test_bulk_ignore_tag_devices_may_get_the_tag_wrong(stor: Harness) -> None:
    model = _ready(stor, Stick(vid=0x177F, pid=0x0400, bcd=0x0000))   # Yarvik PMP400
    assert stor.us().fflags & UsFlag.BULK_IGNORE_TAG
    model.inject(StorageFault.BAD_TAG)
    assert stor.read10(0, 8).result == SamStatus.GOOD
    assert not _reset_happened(stor)


def test_a_phase_error_resets_the_port(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    model.inject(StorageFault.PHASE_ERROR)
    cmd = stor.write10(0, bytes(4096))
    assert cmd.result == HostByte.DID_ERROR << 16
    assert stor.recorder is not None
    trace = wire(stor.recorder)
    assert trace[:3] == ["CBW", "OUT 4096", "CSW"] and _SET_CONFIG in trace
    assert _reset_happened(stor)


def test_a_stalled_data_in_stage_is_cleared_and_the_csw_read(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    model.inject(StorageFault.STALL_DATA)
    cmd = stor.read10(0, 8)
    assert (cmd.result, cmd.resid) == (SamStatus.GOOD, 4096)
    assert stor.recorder is not None
    assert wire(stor.recorder) == ["CBW", "IN 4096:-32", f"CTRL 02 01 0000 {BULK_IN:04x}",
                                   "CSW"]
    assert not _reset_happened(stor)


def test_a_stalled_data_out_stage_is_cleared_and_the_csw_read(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    model.inject(StorageFault.STALL_DATA)
    cmd = stor.write10(8, b"\xaa" * 4096)
    assert (cmd.result, cmd.resid) == (SamStatus.GOOD, 4096)
    assert model.lun(0).medium.read(8, 8) == bytes(4096)      # nothing was written
    assert stor.recorder is not None
    assert wire(stor.recorder) == ["CBW", "OUT 4096:-32", f"CTRL 02 01 0000 {BULK_OUT:04x}",
                                   "CSW"]


def test_a_lying_residue_is_cut_to_the_transfer_length(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    model.inject(StorageFault.LYING_RESIDUE)
    cmd = stor.read10(0, 8)                 # the CSW says 4608 bytes were not moved
    assert (cmd.result, cmd.resid) == (SamStatus.GOOD, 4096)
    assert not stor.us().fflags & UsFlag.IGNORE_RESIDUE
    assert stor.read10(0, 8).resid == 0


def test_a_residue_on_a_full_inquiry_makes_residues_ignored(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    model.inject(StorageFault.LYING_RESIDUE)
    cmd = stor.command(_INQUIRY_36, data_in=36)
    assert (cmd.result, cmd.resid) == (SamStatus.GOOD, 0)
    assert stor.us().fflags & UsFlag.IGNORE_RESIDUE
    model.inject(StorageFault.LYING_RESIDUE)
    assert stor.read10(0, 8).resid == 0


def test_ignore_residue_from_the_quirks_parameter(system: System, stor: Harness) -> None:
    system.modprobe("usb_storage", quirks="0525:a4a5:r")
    model = _ready(stor, MassStorage(size=1 << 20))
    assert "usb-storage 1-1:1.0: Quirks match for vid 0525 pid a4a5: 20" in stor.lines()
    model.inject(StorageFault.LYING_RESIDUE)
    assert stor.read10(0, 8).resid == 0


def test_a_csw_that_never_comes_waits_for_the_abort(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    model.inject(StorageFault.NO_CSW)
    cmd, done = stor.start(rw_cdb(Opcode.READ_10, 0, 8), data_in=4096)
    stor.system.sleep(10_000)
    assert not done.done()                       # usb-storage has no timeout of its own
    host = stor.host()

    async def abort() -> int:
        return await host.hostt.eh_abort_handler(cmd)

    assert stor.system.run(abort()) == SUCCESS
    assert not done.done() and cmd.result == HostByte.DID_ABORT << 16
    us = stor.us()
    assert not us.dflags & (UsFlidx.ABORTING | UsFlidx.TIMED_OUT) and us.srb is None
    assert stor.recorder is not None
    trace = wire(stor.recorder)
    assert trace[:3] == ["CBW", "IN 4096", "CSW:-104"]       # unlinked: -ECONNRESET
    assert _SET_CONFIG in trace and _reset_happened(stor)
    stor.command(_TUR)                                         # the reset's attention
    assert stor.read10(0, 8).result == SamStatus.GOOD


def test_without_a_port_reset_the_bulk_only_reset_recovers(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    stor.us().pusb_dev.quirks |= USB_QUIRK_RESET          # avoid_reset_quirk
    model.inject(StorageFault.PHASE_ERROR)
    before = stor.system.time()
    cmd = stor.read10(0, 8)
    assert cmd.result == HostByte.DID_ERROR << 16
    assert stor.system.time() - before >= 6.0            # the device's time to recover
    assert stor.recorder is not None
    assert wire(stor.recorder) == ["CBW", "IN 4096", "CSW", _BULK_RESET,
                                   f"CTRL 02 01 0000 {BULK_IN:04x}",
                                   f"CTRL 02 01 0000 {BULK_OUT:04x}"]
    assert not _reset_happened(stor)
    assert stor.sdev().was_reset and stor.sdev().expecting_cc_ua
    assert stor.read10(0, 8).result == SamStatus.GOOD     # the class reset keeps the unit


def test_the_bulk_only_reset_ends_a_hung_status_stage(stor: Harness) -> None:
    model = _ready(stor, Stick())
    stor.us().pusb_dev.quirks |= USB_QUIRK_RESET
    model.inject(StorageFault.NO_CSW)
    cmd, _ = stor.start(_TUR)
    stor.system.sleep(1000)

    async def abort() -> int:
        return await stor.host().hostt.eh_abort_handler(cmd)

    assert stor.system.run(abort()) == SUCCESS
    assert stor.recorder is not None
    assert wire(stor.recorder) == ["CBW", "CSW:-104", _BULK_RESET,
                                   f"CTRL 02 01 0000 {STICK_IN:04x}",
                                   f"CTRL 02 01 0000 {STICK_OUT:04x}"]
    assert stor.command(_TUR).result == SamStatus.GOOD


def test_an_abort_with_nothing_running_succeeds_a_mismatch_fails(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    host = stor.host()
    finished = stor.command(_TUR)

    async def abort(cmd: Any) -> int:
        return await host.hostt.eh_abort_handler(cmd)

    assert stor.system.run(abort(finished)) == SUCCESS          # nothing to abort
    model.inject(StorageFault.NO_CSW)
    hung, done = stor.start(_TUR)
    stor.system.sleep(100)
    assert stor.system.run(abort(finished)) == FAILED           # not the one running
    assert stor.us().srb is hung and not done.done()
    assert stor.system.run(abort(hung)) == SUCCESS
    assert stor.us().srb is None


def test_empty_sense_after_a_failure_is_a_hardware_error(stor: Harness) -> None:
    model = _ready(stor, MassStorage(size=1 << 20))
    model.eject(force=True)
    model.inject(StorageFault.STALL_DATA)          # REQUEST SENSE's data stage stalls
    cmd = stor.command(_TUR)
    assert cmd.result == HostByte.DID_ERROR << 16
    assert cmd.sense_buffer[2] == SenseKey.HARDWARE_ERROR
    assert stor.recorder is not None
    assert wire(stor.recorder) == ["CBW", "CSW", "CBW", "IN 18:-32",
                                   f"CTRL 02 01 0000 {BULK_IN:04x}", "CSW"]
    assert not _reset_happened(stor)
    sense = stor.command(_TUR)                     # the real sense this time
    assert sense.result == SamStatus.CHECK_CONDITION
    parsed = Sense.parse(sense.sense_buffer)
    assert parsed is not None and parsed.key == SenseKey.NOT_READY
