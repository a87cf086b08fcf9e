"""A SCSI command on its way to a host — counterpart of Linux's include/scsi/scsi_cmnd.h,
the result-word helpers of include/scsi/scsi.h and the host template of
include/scsi/scsi_host.h.

`ScsiCmnd` carries the CDB, the data buffer and direction, the result word (host byte <<
16 | SAM status), the residue and the sense buffer; a low-level driver finishes it with
`scsi_done()`.  `ScsiHostTemplate` is what a low-level driver (usb-storage, uas) fills in:
its name, queue limits and the `queuecommand` and error-handler operations the mid-layer
calls.  The mid-layer itself (hosts, scanning, error handling, sd) is in the sibling
modules.  No DMA mapping, scatter-gather lists or tags: the buffer is one memoryview.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ...spec.scsi import SENSE_BUFFERSIZE
from ..sysfs import SysAttr

if TYPE_CHECKING:
    from .hosts import ScsiHost
    from .scsi_device import ScsiDevice, ScsiTarget

__all__ = ["FAILED", "SCSI_MLQUEUE_DEVICE_BUSY", "SCSI_MLQUEUE_HOST_BUSY", "SUCCESS",
           "DataDirection", "HostByte", "ScsiCmnd", "ScsiHostTemplate", "host_byte",
           "status_byte"]

#: Error-handler verdicts (scsi.h).
SUCCESS: Final = 0x2002
FAILED: Final = 0x2003
#: queuecommand's "try again later" answers.
SCSI_MLQUEUE_HOST_BUSY: Final = 0x1055
SCSI_MLQUEUE_DEVICE_BUSY: Final = 0x1056


class DataDirection(IntEnum):
    """enum dma_data_direction as sc_data_direction uses it."""

    BIDIRECTIONAL = 0
    TO_DEVICE = 1
    FROM_DEVICE = 2
    NONE = 3


class HostByte(IntEnum):
    """The host byte of a command's result (enum scsi_host_status)."""

    DID_OK = 0x00
    DID_NO_CONNECT = 0x01
    DID_BUS_BUSY = 0x02
    DID_TIME_OUT = 0x03
    DID_BAD_TARGET = 0x04
    DID_ABORT = 0x05
    DID_PARITY = 0x06
    DID_ERROR = 0x07
    DID_RESET = 0x08
    DID_BAD_INTR = 0x09
    DID_PASSTHROUGH = 0x0A
    DID_SOFT_ERROR = 0x0B
    DID_IMM_RETRY = 0x0C
    DID_REQUEUE = 0x0D
    DID_TRANSPORT_DISRUPTED = 0x0E
    DID_TRANSPORT_FAILFAST = 0x0F


def host_byte(result: int) -> int:
    """host_byte(): bits 16..23 of a result word."""
    return (result >> 16) & 0xFF


def status_byte(result: int) -> int:
    """The SAM status in the low byte of a result word."""
    return result & 0xFF


@dataclass(eq=False)
class ScsiCmnd:
    """struct scsi_cmnd.  `buffer` is the data (written into for FROM_DEVICE); `result` is
    `host byte << 16 | SAM status`; `resid` the bytes not transferred; `sense_buffer` the
    sense data of a CHECK CONDITION.  The mid-layer sets `scsi_done_fn`; the low-level
    driver calls `scsi_done()` exactly once when the command is over.  `host_scribble`
    is the low-level driver's own."""

    device: ScsiDevice
    cmnd: bytes
    sc_data_direction: DataDirection = DataDirection.NONE
    buffer: memoryview = field(default_factory=lambda: memoryview(b""))
    result: int = 0
    resid: int = 0
    sense_buffer: bytearray = field(default_factory=lambda: bytearray(SENSE_BUFFERSIZE))
    retries: int = 0
    allowed: int = 5
    #: The fewest bytes the command may move without being an error (sd: the blocks it
    #: asks for); a low-level driver compares it with what moved.
    underflow: int = 0
    timeout_s: float = 30.0
    scsi_done_fn: Callable[[ScsiCmnd], None] | None = None
    host_scribble: Any = None

    @property
    def bufflen(self) -> int:
        """scsi_bufflen(): the bytes the command means to move."""
        return len(self.buffer)

    @property
    def lun(self) -> int:
        return self.device.lun

    def set_host_byte(self, byte: int) -> None:
        """set_host_byte()."""
        self.result = (self.result & 0xFF00FFFF) | ((byte & 0xFF) << 16)

    def set_status(self, status: int) -> None:
        """set_status_byte()."""
        self.result = (self.result & ~0xFF) | (status & 0xFF)

    def scsi_done(self) -> None:
        """scsi_done(): give the finished command back to the mid-layer.  Context: atomic."""
        done, self.scsi_done_fn = self.scsi_done_fn, None
        if done is not None:
            done(self)


class ScsiHostTemplate(ABC):
    """struct scsi_host_template: a low-level driver's description and operations.

    Subclasses set the class attributes and implement `queuecommand`; the error-handler
    operations default to FAILED (no such handler), as a NULL pointer does; the
    mid-layer tells an overridden handler from a missing one (scsi_error.py).
    """

    name: ClassVar[str] = "scsi"
    proc_name: ClassVar[str] = "scsi"
    #: Commands the host takes at once.
    can_queue: ClassVar[int] = 1
    cmd_per_lun: ClassVar[int] = 1
    this_id: ClassVar[int] = -1
    #: Largest transfer in 512-byte sectors (shost->max_sectors).
    max_sectors: ClassVar[int] = 1024
    #: The host is emulated, not real hardware (usb-storage says so).
    emulated: ClassVar[bool] = False
    #: No settle delay after a bus reset.
    skip_settle_delay: ClassVar[bool] = False
    #: Attributes the driver adds to each of its devices' sysfs directories (sdev_groups).
    sdev_attrs: ClassVar[tuple[SysAttr[Any], ...]] = ()

    def info(self, host: ScsiHost) -> str:
        """The host's description: "scsi host0: <info>".  Context: atomic."""
        return self.name

    @abstractmethod
    def queuecommand(self, host: ScsiHost, cmnd: ScsiCmnd) -> int:
        """Take `cmnd`; 0, or SCSI_MLQUEUE_HOST_BUSY / SCSI_MLQUEUE_DEVICE_BUSY to be asked
        again later.  The driver calls `cmnd.scsi_done()` when it is over.
        Context: atomic."""

    async def eh_abort_handler(self, cmnd: ScsiCmnd) -> int:
        """Abort `cmnd`; SUCCESS or FAILED.  Context: may sleep."""
        return FAILED

    async def eh_device_reset_handler(self, cmnd: ScsiCmnd) -> int:
        """Reset the device `cmnd` went to; SUCCESS or FAILED.  Context: may sleep."""
        return FAILED

    async def eh_bus_reset_handler(self, cmnd: ScsiCmnd) -> int:
        """Reset the bus; SUCCESS or FAILED.  Context: may sleep."""
        return FAILED

    async def eh_target_reset_handler(self, cmnd: ScsiCmnd) -> int:
        """Reset the target `cmnd` went to; SUCCESS or FAILED.  Context: may sleep."""
        return FAILED

    async def eh_host_reset_handler(self, cmnd: ScsiCmnd) -> int:
        """Reset the host adapter; SUCCESS or FAILED.  Context: may sleep."""
        return FAILED

    def target_alloc(self, starget: ScsiTarget) -> int:
        """A target is being scanned (usb-storage sets no_report_luns here); 0 or -errno.
        Context: atomic."""
        return 0

    def slave_alloc(self, sdev: ScsiDevice) -> int:
        """A device is being scanned; 0 or -errno.  Context: atomic."""
        return 0

    def slave_configure(self, sdev: ScsiDevice) -> int:
        """A device was found; set its limits.  0 or -errno.  Context: atomic."""
        return 0
