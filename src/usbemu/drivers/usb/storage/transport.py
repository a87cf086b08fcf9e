"""Transports — counterpart of drivers/usb/storage/transport.c and transport.h (Linux 6.12).

How usb-storage moves one SCSI command over USB and recovers when a device misbehaves.
All URBs of a queued command go through `usb_stor_msg_common`, so that an abort
(`usb_stor_stop_transport`) can cancel the one in flight.  The Bulk-Only transport
(`usb_stor_Bulk_transport`) sends the CBW with the next tag, moves the data stage, reads
the CSW (a stall is cleared and the CSW read once more; a zero-length CSW is read again),
checks the tag, the status and — learnt from the first CSW, as Linux does — the signature,
and fixes up a residue it cannot believe.  The Control/Bulk(/Interrupt) transport sends
the command block with ADSC and takes its status from the interrupt endpoint.
`usb_stor_invoke_transport` runs a transport, asks REQUEST SENSE after a failed command
(auto-sense), and on a transport error resets the device: a USB port reset, or if that is
refused the class reset (`usb_stor_Bulk_reset`: Bulk-Only Mass Storage Reset, then clear
halt on both bulk pipes).  The codes are Linux's: USB_STOR_XFER_* for one transfer,
USB_STOR_TRANSPORT_* for a command.  Not here: scatter-gather lists (a command's data is
one buffer, so the data stage is one URB), the DPCM and vendor transports of the
subdrivers, and the debug dump of every command and sense (usb_stor_show_command).
"""

from __future__ import annotations

import asyncio
import struct
from enum import Enum
from typing import Final

from usbemu.core.hcd import usb_hcd_reset_endpoint
from usbemu.core.hub import usb_reset_device
from usbemu.core.message import start_wait_urb
from usbemu.core.sysfs import USB_QUIRK_RESET
from usbemu.core.urb import (
    PIPE_CONTROL,
    UrbFlag,
    usb_pipeendpoint,
    usb_pipein,
    usb_pipetype,
    usb_unlink_urb,
)
from usbemu.core.usb import usb_lock_device_for_reset, usb_unlock_device
from usbemu.errors import Errno
from usbemu.kernel.scsi.scsi_cmnd import DataDirection, HostByte, ScsiCmnd
from usbemu.kernel.scsi.sd import ScsiDisk
from usbemu.spec.ch9 import Feature, Recipient, Request, SetupPacket
from usbemu.spec.scsi import SENSE_BUFFERSIZE, Opcode, SamStatus, Sense, SenseKey
from usbemu.spec.storage import (
    CBW_FLAG_IN,
    CBW_SIGNATURE,
    CSW_LEN,
    CSW_SIGNATURE,
    BulkStatus,
    StorageProtocol,
    StorageRequest,
    StorageSubclass,
)

from .scsiglue import usb_stor_report_device_reset, usb_stor_sense_invalidCDB
from .us_data import UsData, UsFlag, UsFlidx

__all__ = [
    "USB_STOR_TRANSPORT_ERROR",
    "USB_STOR_TRANSPORT_FAILED",
    "USB_STOR_TRANSPORT_GOOD",
    "USB_STOR_TRANSPORT_NO_SENSE",
    "USB_STOR_XFER_ERROR",
    "USB_STOR_XFER_GOOD",
    "USB_STOR_XFER_LONG",
    "USB_STOR_XFER_SHORT",
    "USB_STOR_XFER_STALLED",
    "US_BULK_MAX_LUN_LIMIT",
    "US_CBI_ADSC",
    "US_SENSE_SIZE",
    "usb_stor_Bulk_max_lun",
    "usb_stor_Bulk_reset",
    "usb_stor_Bulk_transport",
    "usb_stor_CB_reset",
    "usb_stor_CB_transport",
    "usb_stor_bulk_srb",
    "usb_stor_bulk_transfer_buf",
    "usb_stor_clear_halt",
    "usb_stor_control_msg",
    "usb_stor_ctrl_transfer",
    "usb_stor_invoke_transport",
    "usb_stor_port_reset",
    "usb_stor_stop_transport",
]

# -- transport.h ----------------------------------------------------------------------------

#: The result of one transfer (usb_stor_*_transfer*).
USB_STOR_XFER_GOOD: Final = 0  #: good transfer
USB_STOR_XFER_SHORT: Final = 1  #: transferred less than expected
USB_STOR_XFER_STALLED: Final = 2  #: endpoint stalled
USB_STOR_XFER_LONG: Final = 3  #: device tried to send too much
USB_STOR_XFER_ERROR: Final = 4  #: transfer died in the middle

#: The result of a command (us->transport).
USB_STOR_TRANSPORT_GOOD: Final = 0  #: transport good, command good
USB_STOR_TRANSPORT_FAILED: Final = 1  #: transport good, command failed
USB_STOR_TRANSPORT_NO_SENSE: Final = 2  #: command failed, no auto-sense
USB_STOR_TRANSPORT_ERROR: Final = 3  #: transport bad (i.e. device dead)

#: CBI accept device specific command.
US_CBI_ADSC: Final = 0
#: The highest LUN GET MAX LUN may report (include/linux/usb/storage.h).
US_BULK_MAX_LUN_LIMIT: Final = 0x0F
#: The sense data usb-storage asks for unless the device is known to give more (usb.h).
US_SENSE_SIZE: Final = 18
#: CB_RESET_CMD_SIZE: the SEND DIAGNOSTIC block of a CB[I] reset.
_CB_RESET_CMD_SIZE: Final = 12

_CLASS_INTERFACE_OUT: Final = 0x21  # USB_TYPE_CLASS | USB_RECIP_INTERFACE
_CLASS_INTERFACE_IN: Final = 0xA1   # USB_DIR_IN | USB_TYPE_CLASS | USB_RECIP_INTERFACE
_DIR_IN: Final = 0x80
_GET_MAX_LUN_TIMEOUT_MS: Final = 10_000
_CLEAR_HALT_TIMEOUT_MS: Final = 3_000
_RESET_TIMEOUT_MS: Final = 5_000
#: usb_stor_reset_common(): the time a device gets to recover from a reset (HZ*6).
_RESET_RECOVERY_MS: Final = 6_000
#: US_FL_GO_SLOW: usleep_range(125, 150) between the command and data stages.
_GO_SLOW_S: Final = 125e-6
_CSW: Final = struct.Struct("<IIIB")
_CBW: Final = struct.Struct("<IIIBBB16s")


# -- data transfer routines -----------------------------------------------------------------


async def usb_stor_msg_common(us: UsData, timeout_ms: int) -> int:
    """usb_stor_msg_common(): submit `us.current_urb` (filled by the caller) and wait for
    it, `timeout_ms` at most (0: for ever), in a way an abort can cancel.  Returns the
    URB's status, -EIO while an abort is in progress.  Context: may sleep."""
    if us.dflags & UsFlidx.ABORTING:
        return -Errno.EIO
    us.dflags |= UsFlidx.URB_ACTIVE
    try:
        status, _ = await start_wait_urb(us.current_urb, timeout_ms)
    finally:
        us.dflags &= ~UsFlidx.URB_ACTIVE
    return status


async def usb_stor_control_msg(us: UsData, pipe: int, request: int, requesttype: int,
                               value: int, index: int, data: bytearray | None, size: int,
                               timeout_ms: int) -> int:
    """usb_stor_control_msg(): one control message with a timeout that an abort can cut
    short.  Returns the bytes transferred or a negative errno (not a USB_STOR_XFER_*
    code).  Context: may sleep."""
    if us.log.debug:
        us.dbg(f"rq={request:02x} rqtype={requesttype:02x} value={value:04x} "
               f"index={index:02x} len={size}")
    setup = SetupPacket(requesttype, request, value, index, size)
    buffer = data if data is not None else bytearray(0)
    us.current_urb.fill_control(us.pusb_dev, pipe, setup, buffer, size,
                                usb_stor_blocking_completion)
    us.current_urb.transfer_flags = 0
    status = await usb_stor_msg_common(us, timeout_ms)
    return us.current_urb.actual_length if status == 0 else status


def usb_stor_blocking_completion(urb: object) -> None:
    """usb_stor_blocking_completion(): the completion usb-storage's URBs are filled with.
    The wait of usb_stor_msg_common (message.py's usb_start_wait_urb) installs its own
    waiter's completion at submission, which is what wakes the control thread; this one
    is never called.  Context: atomic."""


async def usb_stor_clear_halt(us: UsData, pipe: int) -> int:
    """usb_stor_clear_halt(): CLEAR_FEATURE(ENDPOINT_HALT) for the pipe's endpoint,
    without reading the status back (some devices crash when asked), then reset the host
    side's toggle.  Returns the control message's result.  Context: may sleep."""
    endp = usb_pipeendpoint(pipe) | (_DIR_IN if usb_pipein(pipe) else 0)
    result = await usb_stor_control_msg(us, us.send_ctrl_pipe, Request.CLEAR_FEATURE,
                                        Recipient.ENDPOINT, Feature.ENDPOINT_HALT, endp,
                                        None, 0, _CLEAR_HALT_TIMEOUT_MS)
    if result >= 0:
        hep = us.pusb_dev.endpoint(endp)
        if hep is not None:
            usb_hcd_reset_endpoint(us.pusb_dev, hep)   # usb_reset_endpoint()
    if us.log.debug:
        us.dbg(f"result = {result}")
    return result


async def interpret_urb_result(us: UsData, pipe: int, length: int, result: int,
                               partial: int) -> int:
    """interpret_urb_result(): a URB status as a USB_STOR_XFER_* code; a stalled bulk or
    interrupt endpoint has its halt cleared here.  Context: may sleep."""
    if result == 0:
        return USB_STOR_XFER_SHORT if partial != length else USB_STOR_XFER_GOOD
    if result == -Errno.EPIPE:
        if usb_pipetype(pipe) == PIPE_CONTROL:   # a failed CB[I] command
            return USB_STOR_XFER_STALLED
        if us.log.debug:
            us.dbg(f"clearing endpoint halt for pipe 0x{pipe:x}")
        if await usb_stor_clear_halt(us, pipe) < 0:
            return USB_STOR_XFER_ERROR
        return USB_STOR_XFER_STALLED
    if result == -Errno.EOVERFLOW:              # babble
        return USB_STOR_XFER_LONG
    if result == -Errno.EREMOTEIO:              # short read of a SHORT_NOT_OK transfer
        return USB_STOR_XFER_SHORT
    # -ECONNRESET (cancelled), -EIO (abort or disconnect in progress), anything else
    return USB_STOR_XFER_ERROR


async def usb_stor_ctrl_transfer(us: UsData, pipe: int, request: int, requesttype: int,
                                 value: int, index: int, data: bytearray | bytes,
                                 size: int) -> int:
    """usb_stor_ctrl_transfer(): one control message without a timeout; a
    USB_STOR_XFER_* code.  Context: may sleep."""
    setup = SetupPacket(requesttype, request, value, index, size)
    us.current_urb.fill_control(us.pusb_dev, pipe, setup, data, size, usb_stor_blocking_completion)
    us.current_urb.transfer_flags = 0
    result = await usb_stor_msg_common(us, 0)
    return await interpret_urb_result(us, pipe, size, result,
                                      us.current_urb.actual_length)


async def usb_stor_intr_transfer(us: UsData, buf: bytearray, length: int) -> int:
    """usb_stor_intr_transfer(): read up to one packet from the interrupt endpoint; a
    USB_STOR_XFER_* code.  Context: may sleep."""
    pipe = us.recv_intr_pipe
    hep = us.pusb_dev.endpoint(usb_pipeendpoint(pipe) | _DIR_IN)
    maxp = min(hep.maxp if hep is not None else length, length)
    us.current_urb.fill_int(us.pusb_dev, pipe, buf, maxp, usb_stor_blocking_completion, None,
                            us.ep_bInterval)
    us.current_urb.transfer_flags = 0
    result = await usb_stor_msg_common(us, 0)
    return await interpret_urb_result(us, pipe, length, result,
                                      us.current_urb.actual_length)


async def usb_stor_bulk_transfer_buf(us: UsData, pipe: int, buf: bytearray | memoryview,
                                     length: int) -> tuple[int, int]:
    """usb_stor_bulk_transfer_buf(): one bulk transfer without a timeout, a stall cleared
    on the way.  Returns (USB_STOR_XFER_* code, bytes moved).  Context: may sleep."""
    us.current_urb.fill_bulk(us.pusb_dev, pipe, buf, length, usb_stor_blocking_completion)
    us.current_urb.transfer_flags = 0
    result = await usb_stor_msg_common(us, 0)
    actual = us.current_urb.actual_length
    return await interpret_urb_result(us, pipe, length, result, actual), actual


async def usb_stor_bulk_srb(us: UsData, pipe: int, srb: ScsiCmnd) -> int:
    """usb_stor_bulk_srb(): the whole data stage of `srb` as usb_sg_init() submits it — one
    URB, SHORT_NOT_OK when reading — and the command's residue from what moved.  Returns
    a USB_STOR_XFER_* code.  Context: may sleep."""
    length = srb.bufflen
    partial = 0
    if us.dflags & UsFlidx.ABORTING:
        result = USB_STOR_XFER_ERROR
    else:
        urb = us.current_urb
        urb.fill_bulk(us.pusb_dev, pipe, srb.buffer, length, usb_stor_blocking_completion)
        urb.transfer_flags = int(UrbFlag.SHORT_NOT_OK) if usb_pipein(pipe) else 0
        us.dflags |= UsFlidx.SG_ACTIVE
        try:
            status, partial = await start_wait_urb(urb, 0)
        finally:
            us.dflags &= ~UsFlidx.SG_ACTIVE
        result = await interpret_urb_result(us, pipe, length, status, partial)
    srb.resid = length - partial
    return result


# -- invoking a transport ------------------------------------------------------------------


async def usb_stor_invoke_transport(srb: ScsiCmnd, us: UsData) -> None:
    """usb_stor_invoke_transport(): run the transport for `srb` and set its result: GOOD,
    CHECK CONDITION with sense (auto-sense after a failed command; fake or empty sense
    handled as Linux does), DID_ABORT when the mid-layer aborted it, DID_ERROR after a
    transport error — which resets the device first (port reset, else the transport's
    reset).  Context: may sleep; the caller holds `us.dev_mutex`."""
    assert us.transport is not None   # usb_stor_probe2() refuses a device without one
    srb.resid = 0
    result = await us.transport(srb, us)
    if us.dflags & UsFlidx.TIMED_OUT:
        us.dbg("-- command was aborted")
        srb.result = HostByte.DID_ABORT << 16
        await _handle_errors(srb, us)
        return
    if result == USB_STOR_TRANSPORT_ERROR:
        us.dbg("-- transport indicates error, resetting")
        srb.result = HostByte.DID_ERROR << 16
        await _handle_errors(srb, us)
        return
    if result == USB_STOR_TRANSPORT_NO_SENSE:
        srb.result = SamStatus.CHECK_CONDITION
        _last_sector_hacks(us, srb)
        return
    srb.result = SamStatus.GOOD
    if _needs_auto_sense(srb, us, result):
        after = await _auto_sense(srb, us, result)
        if after is _AfterSense.RESET:
            await _handle_errors(srb, us)
            return
        if after is _AfterSense.FINISHED:
            return
    _initial_read10(srb, us)
    if ((srb.result == SamStatus.GOOD or srb.sense_buffer[2] == 0)
            and srb.bufflen - srb.resid < srb.underflow):
        srb.result = HostByte.DID_ERROR << 16
    _last_sector_hacks(us, srb)


def _needs_auto_sense(srb: ScsiCmnd, us: UsData, result: int) -> bool:
    """The cases of usb_stor_invoke_transport() that issue REQUEST SENSE: a CB device
    (it has no status of its own) after anything but a data-in command, a Kindle after
    SYNCHRONIZE CACHE, and any failed command; an ATA pass-through command that worked
    shows the device speaks SAT (SANE_SENSE)."""
    need = False
    if (us.protocol == StorageProtocol.CB
            and srb.sc_data_direction != DataDirection.FROM_DEVICE):
        us.dbg("-- CB transport device requiring auto-sense")
        need = True
    if us.fflags & UsFlag.SENSE_AFTER_SYNC and srb.cmnd[0] == Opcode.SYNCHRONIZE_CACHE:
        us.dbg("-- sense after SYNC CACHE")
        need = True
    if result == USB_STOR_TRANSPORT_FAILED:
        us.dbg("-- transport indicates command failure")
        need = True
    if (srb.cmnd[0] in (Opcode.ATA_16, Opcode.ATA_12) and result == USB_STOR_TRANSPORT_GOOD
            and not us.fflags & (UsFlag.SANE_SENSE | UsFlag.BAD_SENSE)
            and not srb.cmnd[2] & 0x20):
        us.dbg("-- SAT supported, increasing auto-sense")
        us.fflags |= UsFlag.SANE_SENSE
    return need


class _AfterSense(Enum):
    """How usb_stor_invoke_transport() goes on after its auto-sense."""

    CONTINUE = "continue"  #: the result is set from the sense
    RESET = "reset"  #: aborted, or the sense failed: reset the device (Handle_Errors)
    FINISHED = "finished"  #: the sense failed on a multi-target bridge: DID_ERROR, done


async def _auto_sense(srb: ScsiCmnd, us: UsData, result: int) -> _AfterSense:
    """The auto-sense block of usb_stor_invoke_transport(): REQUEST SENSE into the
    command's sense buffer (retried small when a big one fails), then the result from
    the sense.  A sense that failed leaves DID_ERROR (a multi-target bridge's failure is
    no reason to reset the device: some of its targets have no sense to give)."""
    sense_size = SENSE_BUFFERSIZE if us.fflags & UsFlag.SANE_SENSE else US_SENSE_SIZE
    while True:
        us.dbg("Issuing auto-REQUEST_SENSE")
        temp_result = await _request_sense(srb, us, sense_size)
        if us.dflags & UsFlidx.TIMED_OUT:
            us.dbg("-- auto-sense aborted")
            srb.result = HostByte.DID_ABORT << 16
            if sense_size != US_SENSE_SIZE:
                us.fflags = (us.fflags & ~UsFlag.SANE_SENSE) | UsFlag.BAD_SENSE
            return _AfterSense.RESET
        if temp_result == USB_STOR_TRANSPORT_FAILED and sense_size != US_SENSE_SIZE:
            us.dbg("-- auto-sense failure, retry small sense")
            sense_size = US_SENSE_SIZE
            us.fflags = (us.fflags & ~UsFlag.SANE_SENSE) | UsFlag.BAD_SENSE
            continue
        break
    if temp_result != USB_STOR_TRANSPORT_GOOD:
        us.dbg("-- auto-sense failure")
        srb.result = HostByte.DID_ERROR << 16
        return _AfterSense.FINISHED if us.fflags & UsFlag.SCM_MULT_TARG else _AfterSense.RESET
    sense = srb.sense_buffer
    if (sense[7] > US_SENSE_SIZE - 8 and not us.fflags & (UsFlag.SANE_SENSE | UsFlag.BAD_SENSE)
            and sense[0] & 0x7C == 0x70):
        us.dbg("-- SANE_SENSE support enabled")
        us.fflags |= UsFlag.SANE_SENSE
        us.dbg(f"-- Sense data truncated to {US_SENSE_SIZE} from {sense[7] + 8}")
        sense[7] = US_SENSE_SIZE - 8
    _result_from_sense(srb, result)
    return _AfterSense.CONTINUE


def _result_from_sense(srb: ScsiCmnd, result: int) -> None:
    """CHECK CONDITION with the sense just read — unless it is empty: then the command
    worked (a GOOD command's unsolicited sense is dropped), or, for a failed one, becomes
    DID_ERROR with a HARDWARE ERROR key so that the mid-layer does not retry for ever."""
    sense = srb.sense_buffer
    srb.result = SamStatus.CHECK_CONDITION
    parsed = Sense.parse(sense)
    key, asc, ascq, code = ((parsed.key, parsed.asc, parsed.ascq, parsed.response_code)
                            if parsed is not None else (0, 0, 0, 0))
    fm_ili = _fm_ili(sense)
    if key or asc or ascq or fm_ili:
        return
    if result == USB_STOR_TRANSPORT_GOOD:
        srb.result = SamStatus.GOOD
        sense[0] = 0
    elif srb.cmnd[0] not in (Opcode.ATA_16, Opcode.ATA_12):
        srb.result = HostByte.DID_ERROR << 16
        if code & 0x72 == 0x72:
            sense[1] = SenseKey.HARDWARE_ERROR
        else:
            sense[2] = SenseKey.HARDWARE_ERROR


def _fm_ili(sense: bytearray) -> int:
    """The FILEMARK and ILI bits: from the stream-commands descriptor (type 4) of
    descriptor-format sense (scsi_sense_desc_find), else byte 2 of fixed format."""
    if sense[0] & 0x7F in (0x72, 0x73):
        end = min(8 + sense[7], len(sense))
        at = 8
        while at + 1 < end:
            if sense[at] == 4 and at + 3 < end:
                return sense[at + 3] & 0xA0
            at += 2 + sense[at + 1]
        return 0
    return sense[2] & 0xA0


async def _request_sense(srb: ScsiCmnd, us: UsData, sense_size: int) -> int:
    """scsi_eh_prep_cmnd() + the transport + scsi_eh_restore_cmnd(): REQUEST SENSE of
    `sense_size` bytes (at most SCSI_SENSE_BUFFERSIZE) into `srb.sense_buffer`, run in
    `srb`'s place; its CDB is 6 bytes for the SCSI-like protocols, else padded to 12.
    Returns the transport's result."""
    saved = (srb.cmnd, srb.sc_data_direction, srb.buffer, srb.resid, srb.underflow)
    length = min(SENSE_BUFFERSIZE, sense_size)
    cdb = bytearray(16)
    cdb[0] = Opcode.REQUEST_SENSE
    cdb[4] = length
    level = srb.device.scsi_level
    if 0 < level <= _SCSI_2:
        cdb[1] = (srb.device.lun << 5) & 0xE0
    cmd_len = 6 if us.subclass in _SIX_BYTE_SENSE_SUBCLASSES else 12
    srb.sense_buffer[:] = bytes(len(srb.sense_buffer))
    srb.cmnd = bytes(cdb[:cmd_len])
    srb.sc_data_direction = DataDirection.FROM_DEVICE
    srb.buffer = memoryview(srb.sense_buffer)[:length]
    srb.underflow = 0
    srb.resid = 0
    assert us.transport is not None
    try:
        return await us.transport(srb, us)
    finally:
        srb.cmnd, srb.sc_data_direction, srb.buffer, srb.resid, srb.underflow = saved


#: scsi_level of a SCSI-2 device (SCSI_2 in scsi.h); at or below it, scsi_eh_prep_cmnd
#: puts the LUN in CDB byte 1.
_SCSI_2: Final = 3
_SIX_BYTE_SENSE_SUBCLASSES: Final = frozenset({StorageSubclass.RBC, StorageSubclass.SCSI,
                                               StorageSubclass.CYP_ATACB})


def _initial_read10(srb: ScsiCmnd, us: UsData) -> None:
    """US_FL_INITIAL_READ10: a READ(10) that fails after one that worked is retried at
    once (DID_IMM_RETRY), as is the first READ(10) of the device."""
    if not us.fflags & UsFlag.INITIAL_READ10 or srb.cmnd[0] != Opcode.READ_10:
        return
    if srb.result == SamStatus.GOOD:
        us.dflags |= UsFlidx.READ10_WORKED
    elif us.dflags & UsFlidx.READ10_WORKED:
        us.dflags = (us.dflags & ~UsFlidx.READ10_WORKED) | UsFlidx.REDO_READ10
    if us.dflags & UsFlidx.REDO_READ10:
        us.dflags &= ~UsFlidx.REDO_READ10
        srb.result = HostByte.DID_IMM_RETRY << 16
        srb.sense_buffer[0] = 0


#: "Medium Error: Record Not Found" (last_sector_hacks).
_RECORD_NOT_FOUND: Final = Sense(SenseKey.MEDIUM_ERROR, 0x14, 0x00).fixed()


def _last_sector_hacks(us: UsData, srb: ScsiCmnd) -> None:
    """last_sector_hacks(): a device that may report one sector too many and fails when
    it is read: after three failed READ(10)/WRITE(10)s of sd's last sector, answer
    "Medium Error: Record Not Found" so that the mid-layer gives up; one that works shows
    the device has no such bug."""
    if not us.use_last_sector_hacks:
        return
    sdkp = srb.device.driver_data
    if srb.cmnd[0] in (Opcode.READ_10, Opcode.WRITE_10) and isinstance(sdkp, ScsiDisk) \
            and int.from_bytes(srb.cmnd[2:6], "big") + 1 == sdkp.capacity:
        if srb.result == SamStatus.GOOD and srb.resid == 0:
            us.use_last_sector_hacks = False
        else:
            us.last_sector_retries += 1
            if us.last_sector_retries < 3:
                return
            srb.result = SamStatus.CHECK_CONDITION
            srb.sense_buffer[:len(_RECORD_NOT_FOUND)] = _RECORD_NOT_FOUND
    if srb.cmnd[0] != Opcode.TEST_UNIT_READY:
        us.last_sector_retries = 0


async def _handle_errors(srb: ScsiCmnd, us: UsData) -> None:
    """Handle_Errors: resynchronise with the device by a USB port reset, or — when that is
    refused — by the transport's own reset, with the device lock released meanwhile."""
    us.dflags = (us.dflags | UsFlidx.RESETTING) & ~UsFlidx.ABORTING
    us.dev_mutex.release()
    try:
        result = await usb_stor_port_reset(us)
    finally:
        await us.dev_mutex.acquire()
    if result < 0 and us.transport_reset is not None:
        usb_stor_report_device_reset(us)
        await us.transport_reset(us)
    us.dflags &= ~UsFlidx.RESETTING
    _last_sector_hacks(us, srb)


def usb_stor_stop_transport(us: UsData) -> None:
    """usb_stor_stop_transport(): cancel the URB (or data-stage URB) in flight, once.
    Context: atomic."""
    if us.dflags & UsFlidx.URB_ACTIVE:
        us.dflags &= ~UsFlidx.URB_ACTIVE
        us.dbg("-- cancelling URB")
        usb_unlink_urb(us.current_urb)
    if us.dflags & UsFlidx.SG_ACTIVE:
        us.dflags &= ~UsFlidx.SG_ACTIVE
        us.dbg("-- cancelling sg request")
        usb_unlink_urb(us.current_urb)


# -- Control/Bulk and Control/Bulk/Interrupt transport -------------------------------------


async def usb_stor_CB_transport(srb: ScsiCmnd, us: UsData) -> int:
    """usb_stor_CB_transport(): the command block by ADSC on the control pipe (a stall
    fails the command), the data stage on a bulk pipe, and for CBI the two-byte status
    from the interrupt endpoint (UFI: ASC/ASCQ).  A USB_STOR_TRANSPORT_* code.
    Context: may sleep."""
    cdb = bytes(srb.cmnd)
    result = await usb_stor_ctrl_transfer(us, us.send_ctrl_pipe, US_CBI_ADSC,
                                          _CLASS_INTERFACE_OUT, 0, us.ifnum, cdb, len(cdb))
    if result == USB_STOR_XFER_STALLED:
        return USB_STOR_TRANSPORT_FAILED
    if result != USB_STOR_XFER_GOOD:
        return USB_STOR_TRANSPORT_ERROR
    pipe = 0
    if srb.bufflen:
        pipe = (us.recv_bulk_pipe if srb.sc_data_direction == DataDirection.FROM_DEVICE
                else us.send_bulk_pipe)
        result = await usb_stor_bulk_srb(us, pipe, srb)
        if result == USB_STOR_XFER_STALLED:
            return USB_STOR_TRANSPORT_FAILED
        if result > USB_STOR_XFER_STALLED:
            return USB_STOR_TRANSPORT_ERROR
    if us.protocol != StorageProtocol.CBI:
        return USB_STOR_TRANSPORT_GOOD
    result = await usb_stor_intr_transfer(us, us.iobuf, 2)
    if result != USB_STOR_XFER_GOOD:
        return USB_STOR_TRANSPORT_ERROR
    return await _cbi_status(srb, us, pipe)


async def _cbi_status(srb: ScsiCmnd, us: UsData, pipe: int) -> int:
    """The interrupt data of a CBI command: for UFI the ASC (non-zero: failed, except
    after REQUEST SENSE and INQUIRY, which do not touch the sense); otherwise byte 0 must
    be 0 and the low nibble of byte 1 is pass (0) or fail (1).  The CBI spec wants the
    bulk pipe cleared after a failed data command."""
    iobuf = us.iobuf
    if us.subclass == StorageSubclass.UFI:
        if srb.cmnd[0] in (Opcode.REQUEST_SENSE, Opcode.INQUIRY) or not iobuf[0]:
            return USB_STOR_TRANSPORT_GOOD
    elif not iobuf[0]:
        status = iobuf[1] & 0x0F
        if status == 0x00:
            return USB_STOR_TRANSPORT_GOOD
        if status != 0x01:
            return USB_STOR_TRANSPORT_ERROR
    else:
        us.dbg(f"CBI IRQ data showed reserved bType 0x{iobuf[0]:x}")
    if pipe:
        await usb_stor_clear_halt(us, pipe)
    return USB_STOR_TRANSPORT_FAILED


# -- Bulk-Only transport ----------------------------------------------------------------------


async def usb_stor_Bulk_max_lun(us: UsData) -> int:
    """usb_stor_Bulk_max_lun(): GET MAX LUN (10 s timeout).  A device that stalls it,
    answers nothing or answers more than 15 has one LUN: returns 0 ("Max LUN %d is not
    valid, using 0 instead" for the last).  Context: may sleep."""
    us.iobuf[0] = 0
    result = await usb_stor_control_msg(us, us.recv_ctrl_pipe, StorageRequest.GET_MAX_LUN,
                                        _CLASS_INTERFACE_IN, 0, us.ifnum, us.iobuf, 1,
                                        _GET_MAX_LUN_TIMEOUT_MS)
    us.dbg(f"GetMaxLUN command result is {result}, data is {us.iobuf[0]}")
    if result > 0:
        if us.iobuf[0] <= US_BULK_MAX_LUN_LIMIT:
            return int(us.iobuf[0])
        us.log.dev_info(us.pusb_intf, f"Max LUN {us.iobuf[0]} is not valid, using 0 "
                                      "instead")
    return 0


async def usb_stor_Bulk_transport(srb: ScsiCmnd, us: UsData) -> int:
    """usb_stor_Bulk_transport(): CBW, data stage, CSW, and what the CSW means.  A
    USB_STOR_TRANSPORT_* code; `srb.resid` holds the residue.  Context: may sleep."""
    transfer_length = srb.bufflen
    cbwlen = us.cbw_len
    us.tag = (us.tag + 1) & 0xFFFFFFFF
    lun = srb.device.lun | (srb.device.id << 4 if us.fflags & UsFlag.SCM_MULT_TARG else 0)
    is_in = srb.sc_data_direction == DataDirection.FROM_DEVICE
    cdb = bytes(srb.cmnd[:16])
    cbw = us.cbw_buf
    _CBW.pack_into(cbw, 0, CBW_SIGNATURE, us.tag, transfer_length,
                   CBW_FLAG_IN if is_in else 0, lun & 0xFF, len(cdb), cdb)
    result, _ = await usb_stor_bulk_transfer_buf(us, us.send_bulk_pipe, cbw, cbwlen)
    if result != USB_STOR_XFER_GOOD:
        return USB_STOR_TRANSPORT_ERROR
    if us.fflags & UsFlag.GO_SLOW:
        await asyncio.sleep(_GO_SLOW_S)
    fake_sense = False
    csw: bytes | None = None
    if transfer_length:
        pipe = us.recv_bulk_pipe if is_in else us.send_bulk_pipe
        result = await usb_stor_bulk_srb(us, pipe, srb)
        if result == USB_STOR_XFER_ERROR:
            return USB_STOR_TRANSPORT_ERROR
        fake_sense = result == USB_STOR_XFER_LONG
        csw = _skipped_data_phase(srb, us, result, is_in)
    if csw is None:
        csw = await _read_csw(us)
        if csw is None:
            return USB_STOR_TRANSPORT_ERROR
    return _check_csw(srb, us, csw, fake_sense)


def _skipped_data_phase(srb: ScsiCmnd, us: UsData, result: int, is_in: bool) -> bytes | None:
    """A device that skipped the data phase and sent its CSW instead: a short IN data
    stage of exactly 13 bytes that carry the CSW signature is the CSW, and no data came."""
    moved = srb.bufflen - srb.resid
    if result != USB_STOR_XFER_SHORT or not is_in or moved != CSW_LEN:
        return None
    head = bytes(srb.buffer[:CSW_LEN])
    if int.from_bytes(head[:4], "little") != CSW_SIGNATURE:
        return None
    us.dbg("Device skipped data phase")
    srb.resid = srb.bufflen
    return head


async def _read_csw(us: UsData) -> bytes | None:
    """Read the CSW: a zero-length one is read again, a stalled one once more after the
    halt is cleared.  The 13 bytes, or None when the status stage failed."""
    buf = us.csw_buf
    result, cswlen = await usb_stor_bulk_transfer_buf(us, us.recv_bulk_pipe, buf, CSW_LEN)
    if result == USB_STOR_XFER_SHORT and cswlen == 0:
        us.dbg("Received 0-length CSW; retrying...")
        result, cswlen = await usb_stor_bulk_transfer_buf(us, us.recv_bulk_pipe, buf,
                                                          CSW_LEN)
    if result == USB_STOR_XFER_STALLED:
        us.dbg("Attempting to get CSW (2nd try)...")
        result, cswlen = await usb_stor_bulk_transfer_buf(us, us.recv_bulk_pipe, buf,
                                                          CSW_LEN)
    if us.log.debug:
        us.dbg(f"Bulk status result = {result}")
    return bytes(buf) if result == USB_STOR_XFER_GOOD else None


def _check_csw(srb: ScsiCmnd, us: UsData, raw: bytes, fake_sense: bool) -> int:
    """The CSW checks of usb_stor_Bulk_transport(): tag (unless BULK_IGNORE_TAG) and
    status are a "Bulk logical error" when wrong; the signature is learnt from the first
    CSW and must not change; a residue is believed only within reason."""
    signature, tag, residue, status = _CSW.unpack(raw)
    if us.log.debug:
        us.dbg(f"Bulk Status S 0x{signature:x} T 0x{tag:x} R {residue} Stat 0x{status:x}")
    if (tag != us.tag and not us.fflags & UsFlag.BULK_IGNORE_TAG) or status > BulkStatus.PHASE:
        us.dbg("Bulk logical error")
        return USB_STOR_TRANSPORT_ERROR
    if not us.bcs_signature:
        us.bcs_signature = signature
        if signature != CSW_SIGNATURE:
            us.dbg(f"Learnt BCS signature 0x{signature:08X}")
    elif signature != us.bcs_signature:
        us.dbg(f"Signature mismatch: got {signature:08X}, expecting "
               f"{us.bcs_signature:08X}")
        return USB_STOR_TRANSPORT_ERROR
    if residue and not us.fflags & UsFlag.IGNORE_RESIDUE:
        _fix_residue(srb, us, residue, status)
    if status == BulkStatus.OK:
        if fake_sense:
            srb.sense_buffer[:len(usb_stor_sense_invalidCDB)] = usb_stor_sense_invalidCDB
            return USB_STOR_TRANSPORT_NO_SENSE
        return USB_STOR_TRANSPORT_GOOD
    if status == BulkStatus.FAIL:
        return USB_STOR_TRANSPORT_FAILED
    return USB_STOR_TRANSPORT_ERROR      # phase error: invoke_transport resets


def _fix_residue(srb: ScsiCmnd, us: UsData, residue: int, status: int) -> None:
    """A device that reports a residue for a full 36-byte INQUIRY or 8-byte READ CAPACITY
    makes up residues: ignore them from now on.  Otherwise the residue counts, at most
    the transfer length, and never less than what the data stage itself lacked."""
    transfer_length = srb.bufflen
    if (status == BulkStatus.OK and srb.resid == 0
            and ((srb.cmnd[0] == Opcode.INQUIRY and transfer_length == 36)
                 or (srb.cmnd[0] == Opcode.READ_CAPACITY and transfer_length == 8))):
        us.fflags |= UsFlag.IGNORE_RESIDUE
        return
    srb.resid = max(srb.resid, min(residue, transfer_length))


# -- reset routines -------------------------------------------------------------------------


async def usb_stor_reset_common(us: UsData, request: int, requesttype: int, value: int,
                                index: int, data: bytearray | None, size: int) -> int:
    """usb_stor_reset_common(): the class reset request (5 s timeout), six seconds for the
    device to recover (cut short by a disconnect), then clear halt on bulk-in and bulk-out.
    0 or a negative errno; -EIO during a disconnect.  Context: may sleep."""
    if us.dflags & UsFlidx.DISCONNECTING:
        us.dbg("No reset during disconnect")
        return -Errno.EIO
    result = await usb_stor_control_msg(us, us.send_ctrl_pipe, request, requesttype, value,
                                        index, data, size, _RESET_TIMEOUT_MS)
    if result < 0:
        us.dbg(f"Soft reset failed: {result}")
        return result
    await us.delay_wait.wait_event(lambda: bool(us.dflags & UsFlidx.DISCONNECTING),
                                   _RESET_RECOVERY_MS)
    if us.dflags & UsFlidx.DISCONNECTING:
        us.dbg("Reset interrupted by disconnect")
        return -Errno.EIO
    us.dbg("Soft reset: clearing bulk-in endpoint halt")
    result = await usb_stor_clear_halt(us, us.recv_bulk_pipe)
    us.dbg("Soft reset: clearing bulk-out endpoint halt")
    result2 = await usb_stor_clear_halt(us, us.send_bulk_pipe)
    if result >= 0:
        result = result2
    us.dbg("Soft reset failed" if result < 0 else "Soft reset done")
    return min(result, 0)


async def usb_stor_CB_reset(us: UsData) -> int:
    """usb_stor_CB_reset(): SEND DIAGNOSTIC with the self-test bit as a CB[I] command
    block (the rest 0xFF).  Context: may sleep."""
    block = bytearray(b"\xff" * _CB_RESET_CMD_SIZE)
    block[0] = Opcode.SEND_DIAGNOSTIC
    block[1] = 4
    return await usb_stor_reset_common(us, US_CBI_ADSC, _CLASS_INTERFACE_OUT, 0, us.ifnum,
                                       block, _CB_RESET_CMD_SIZE)


async def usb_stor_Bulk_reset(us: UsData) -> int:
    """usb_stor_Bulk_reset(): Bulk-Only Mass Storage Reset, then the halts it may leave.
    Context: may sleep."""
    return await usb_stor_reset_common(us, StorageRequest.RESET, _CLASS_INTERFACE_OUT, 0,
                                       us.ifnum, None, 0)


async def usb_stor_port_reset(us: UsData) -> int:
    """usb_stor_port_reset(): reset the device's USB port (usb_reset_device, under the
    device lock).  0, or a negative errno: -EPERM for a device with USB_QUIRK_RESET
    (avoid_reset_quirk: the class reset must do), -EIO during a disconnect, or what
    usb_lock_device_for_reset / usb_reset_device return.  The caller must not hold
    `us.dev_mutex` (our pre_reset takes it).  Context: may sleep."""
    udev = us.pusb_dev
    if udev.quirks & USB_QUIRK_RESET:
        return -Errno.EPERM
    result = await usb_lock_device_for_reset(udev, us.pusb_intf)
    if result < 0:
        us.dbg(f"unable to lock device for reset: {result}")
        return result
    try:
        if us.dflags & UsFlidx.DISCONNECTING:
            us.dbg("No reset during disconnect")
            return -Errno.EIO
        result = await usb_reset_device(udev)
        us.dbg(f"usb_reset_device returns {result}")
        return result
    finally:
        usb_unlock_device(udev)

