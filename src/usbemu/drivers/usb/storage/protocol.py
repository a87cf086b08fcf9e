"""Protocol handlers — counterpart of drivers/usb/storage/protocol.c (Linux 6.12).

The subclass of a mass-storage interface says which command set its device speaks; the
protocol handler adapts the mid-layer's SCSI command to it before invoking the transport:
transparent SCSI and RBC pass it as it is, the ATAPI-like sets (SFF-8020i, QIC-157,
SFF-8070i) want 12-byte command blocks, and UFI floppies want 12-byte blocks with fixed
allocation lengths for INQUIRY, MODE SENSE(10) and REQUEST SENSE.  The scatter-gather
copy helpers of protocol.c are not needed: a command's data is one buffer.
"""

from __future__ import annotations

from typing import Final

from usbemu.kernel.scsi.scsi_cmnd import ScsiCmnd
from usbemu.spec.scsi import Opcode

from .transport import usb_stor_invoke_transport
from .us_data import UsData

__all__ = [
    "usb_stor_pad12_command",
    "usb_stor_transparent_scsi_command",
    "usb_stor_ufi_command",
]

_ATAPI_CDB_LEN: Final = 12
#: UFI devices answer INQUIRY with 36 bytes, REQUEST SENSE with 18, MODE SENSE(10) with
#: the 8-byte header: (byte of the allocation length, value), per opcode.
_UFI_LENGTHS: Final[dict[int, tuple[tuple[int, int], ...]]] = {
    Opcode.INQUIRY: ((4, 36),),
    Opcode.MODE_SENSE_10: ((7, 0), (8, 8)),
    Opcode.REQUEST_SENSE: ((4, 18),),
}


def _pad12(cmnd: bytes) -> bytes:
    """The command block zero-padded to 12 bytes (left alone when it is longer)."""
    return cmnd.ljust(_ATAPI_CDB_LEN, b"\0")


async def usb_stor_pad12_command(srb: ScsiCmnd, us: UsData) -> None:
    """usb_stor_pad12_command(): the ATAPI-like command sets take 12-byte blocks.
    Context: may sleep."""
    srb.cmnd = _pad12(bytes(srb.cmnd))
    await usb_stor_invoke_transport(srb, us)


async def usb_stor_ufi_command(srb: ScsiCmnd, us: UsData) -> None:
    """usb_stor_ufi_command(): exactly 12-byte blocks, and the allocation lengths UFI
    devices insist on.  Context: may sleep."""
    cdb = bytearray(_pad12(bytes(srb.cmnd))[:_ATAPI_CDB_LEN])
    for at, value in _UFI_LENGTHS.get(cdb[0], ()):
        cdb[at] = value
    srb.cmnd = bytes(cdb)
    await usb_stor_invoke_transport(srb, us)


async def usb_stor_transparent_scsi_command(srb: ScsiCmnd, us: UsData) -> None:
    """usb_stor_transparent_scsi_command(): the command as it is.  Context: may sleep."""
    await usb_stor_invoke_transport(srb, us)
