"""The SCSI layer's kernel messages — counterpart of drivers/scsi/scsi_logging.c and the
printk macros of include/scsi/scsi_device.h (sdev_printk, sdev_prefix_printk,
scmd_printk).

Messages about a logical unit go through its device, so they read "sd 0:0:0:0: …" once
sd is bound and "scsi 0:0:0:0: …" before.  The error lines are scsi_logging.c's formats:

    sd 0:0:0:0: [sda] tag#0 FAILED Result: hostbyte=DID_TIME_OUT driverbyte=DRIVER_OK cmd_age=30s
    sd 0:0:0:0: [sda] tag#0 Sense Key : Medium Error [current]
    sd 0:0:0:0: [sda] tag#0 Add. Sense: Unrecovered read error
    sd 0:0:0:0: [sda] tag#0 CDB: Read(10) 28 00 00 00 00 00 00 00 08 00

(the sense-key line ends in a space after "[current]", as Linux's does).  Not modelled: the
scsi_logging_level bit fields (SCSI_LOG_*), so none of the messages they guard appear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec.scsi import Sense
from ..printk import Level
from .constants import (
    extd_sense_string,
    hostbyte_string,
    mlreturn_string,
    opcode_name,
    sense_key_string,
)

if TYPE_CHECKING:
    from .scsi_device import ScsiDevice
    from .scsi_lib import ScsiRequest

__all__ = [
    "scmd_printk",
    "scsi_format_extd_sense",
    "scsi_format_sense_hdr",
    "scsi_print_command",
    "scsi_print_result",
    "scsi_print_sense",
    "scsi_print_sense_hdr",
    "sdev_format_header",
    "sdev_printk",
]


def sdev_printk(level: Level, sdev: ScsiDevice, text: str) -> None:
    """sdev_printk(): "<driver or bus> H:C:T:L: text".  Context: atomic."""
    sdev.host.core.log.dev(level, sdev, text)


def scmd_printk(level: Level, rq: ScsiRequest, text: str) -> None:
    """scmd_printk(): sdev_printk with the disk's "[sda] " before the text when the
    command came through a disk (scmd_name).  Context: atomic."""
    prefix = f"[{rq.disk_name}] " if rq.disk_name else ""
    sdev_printk(level, rq.cmd.device, prefix + text)


def sdev_format_header(name: str | None, tag: int) -> str:
    """sdev_format_header(): "[sda] " and "tag#0 " when there are a name and a tag.
    Context: atomic."""
    return (f"[{name}] " if name else "") + (f"tag#{tag} " if tag >= 0 else "")


def scsi_format_sense_hdr(sense: Sense) -> str:
    """scsi_format_sense_hdr(): "Sense Key : Not Ready [current] " (and "[descriptor] "
    for descriptor-format sense).  Context: atomic."""
    key = sense_key_string(sense.key)
    text = "Sense Key : " + (f"{key} " if key is not None else f"0x{sense.key:x} ")
    text += "[deferred] " if sense.deferred else "[current] "
    if sense.response_code >= 0x72:
        text += "[descriptor] "
    return text


def scsi_format_extd_sense(asc: int, ascq: int) -> str:
    """scsi_format_extd_sense(): "Add. Sense: Medium not present", or the raw codes
    ("ASC=0x80 ASCQ=0x1 " with "<<vendor>>" before vendor-specific ones).  Context:
    atomic."""
    name = extd_sense_string(asc, ascq)
    if name is not None:
        return f"Add. Sense: {name}"
    text = "<<vendor>>" if asc >= 0x80 else ""
    text += f"ASC=0x{asc:x} "
    text += "<<vendor>>" if ascq >= 0x80 else ""
    return text + f"ASCQ=0x{ascq:x} "


def _log_sense_hdr(sdev: ScsiDevice, name: str | None, tag: int, sense: Sense) -> None:
    header = sdev_format_header(name, tag)
    sdev_printk(Level.INFO, sdev, header + scsi_format_sense_hdr(sense))
    sdev_printk(Level.INFO, sdev, header + scsi_format_extd_sense(sense.asc, sense.ascq))


def scsi_print_sense_hdr(sdev: ScsiDevice, name: str | None, sense: Sense) -> None:
    """scsi_print_sense_hdr(): the two sense lines, with "[name] " when given (sd passes
    its disk name).  Context: atomic."""
    _log_sense_hdr(sdev, name, -1, sense)


def scsi_print_sense(rq: ScsiRequest) -> None:
    """scsi_print_sense(): the sense lines of a command ("[sda] tag#0 Sense Key : …"),
    or its raw sense bytes when they are not sense data.  Context: atomic."""
    sense = Sense.parse(rq.cmd.sense_buffer)
    if sense is not None:
        _log_sense_hdr(rq.cmd.device, rq.disk_name, rq.tag, sense)
        return
    header = sdev_format_header(rq.disk_name, rq.tag)
    raw = bytes(rq.cmd.sense_buffer).rstrip(b"\0") or bytes(rq.cmd.sense_buffer[:1])
    for offset in range(0, len(raw), 16):
        chunk = " ".join(f"{b:02x}" for b in raw[offset:offset + 16])
        sdev_printk(Level.INFO, rq.cmd.device, f"{header}Sense: {chunk}")


def scsi_print_result(rq: ScsiRequest, msg: str | None, disposition: int,
                      now: float) -> None:
    """scsi_print_result(): "[sda] tag#0 FAILED Result: hostbyte=DID_OK
    driverbyte=DRIVER_OK cmd_age=0s" (`now` on the machine's clock gives the age).
    Context: atomic."""
    text = sdev_format_header(rq.disk_name, rq.tag)
    if msg:
        text += f"{msg}: "
    ml = mlreturn_string(disposition)
    text += f"{ml} " if ml is not None else f"UNKNOWN(0x{disposition:02x}) "
    hb = hostbyte_string(rq.cmd.result)
    text += "Result: " + (f"hostbyte={hb} " if hb is not None
                          else f"hostbyte=0x{(rq.cmd.result >> 16) & 0xFF:02x} ")
    text += f"driverbyte=DRIVER_OK cmd_age={int(now - rq.alloc_time)}s"
    sdev_printk(Level.INFO, rq.cmd.device, text)


def scsi_print_command(rq: ScsiRequest) -> None:
    """scsi_print_command(): "[sda] tag#0 CDB: Read(10) 28 00 …".  Context: atomic."""
    cdb = rq.cmd.cmnd
    text = sdev_format_header(rq.disk_name, rq.tag) + "CDB: " + opcode_name(cdb)
    text += " " + " ".join(f"{b:02x}" for b in cdb)
    sdev_printk(Level.INFO, rq.cmd.device, text)
