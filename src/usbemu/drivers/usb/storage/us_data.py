"""usb-storage's per-device state — counterpart of drivers/usb/storage/usb.h (struct
us_data, struct us_unusual_dev, the US_FLIDX_* state bits) and of the US_FL_* quirk flags
of include/linux/usb_usual.h (Linux 6.12).

`UsData` is what every part of usb-storage shares about one interface: the USB device and
interface, the pipes, the transport and protocol chosen at probe, the quirks, the CBW tag
and learnt CSW signature, the command being executed (`srb`), the state bits that abort,
reset and disconnect coordinate through, and the control thread's wake-ups.  The SCSI
host's `hostdata` is the UsData.  Nothing here does any I/O; usb.py fills it at probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntFlag
from typing import TYPE_CHECKING, Final

from usbemu.core.urb import Urb
from usbemu.core.usb import UsbDevice, UsbInterface
from usbemu.kernel.printk import Printk
from usbemu.kernel.scsi.scsi_cmnd import ScsiCmnd
from usbemu.kernel.wait import WaitQueueHead
from usbemu.spec.storage import CBW_LEN, CSW_LEN, StorageProtocol, StorageSubclass

if TYPE_CHECKING:
    from usbemu.kernel.scsi.hosts import ScsiHost

__all__ = [
    "US_IOBUF_SIZE",
    "InitFunction",
    "ProtoHandler",
    "Transport",
    "TransportReset",
    "UsData",
    "UsFlag",
    "UsFlidx",
    "UsUnusualDev",
]

#: Size of the DMA-mapped I/O buffer (CBW, CSW, GET MAX LUN, CBI status).
US_IOBUF_SIZE: Final = 64


class UsFlag(IntFlag):
    """US_FL_*: the quirks of a device (include/linux/usb_usual.h US_DO_ALL_FLAGS)."""

    SINGLE_LUN = 0x00000001  #: allow access to only LUN 0
    NEED_OVERRIDE = 0x00000002  #: unusual_devs entry is necessary
    SCM_MULT_TARG = 0x00000004  #: supports multiple targets
    FIX_INQUIRY = 0x00000008  #: INQUIRY response needs faking
    FIX_CAPACITY = 0x00000010  #: READ CAPACITY response too big
    IGNORE_RESIDUE = 0x00000020  #: reported residue is wrong
    BULK32 = 0x00000040  #: uses 32-byte CBW length
    NOT_LOCKABLE = 0x00000080  #: PREVENT/ALLOW not supported
    GO_SLOW = 0x00000100  #: need delay after Command phase
    NO_WP_DETECT = 0x00000200  #: don't check for write-protect
    MAX_SECTORS_64 = 0x00000400  #: sets max_sectors to 64
    IGNORE_DEVICE = 0x00000800  #: don't claim device
    CAPACITY_HEURISTICS = 0x00001000  #: sometimes sizes is too big
    MAX_SECTORS_MIN = 0x00002000  #: sets max_sectors to arch min
    BULK_IGNORE_TAG = 0x00004000  #: ignore tag mismatch in bulk operations
    SANE_SENSE = 0x00008000  #: sane sense (> 18 bytes)
    CAPACITY_OK = 0x00010000  #: READ CAPACITY response is correct
    BAD_SENSE = 0x00020000  #: bad sense (never more than 18 bytes)
    NO_READ_DISC_INFO = 0x00040000  #: cannot handle READ_DISC_INFO
    NO_READ_CAPACITY_16 = 0x00080000  #: cannot handle READ_CAPACITY_16
    INITIAL_READ10 = 0x00100000  #: initial READ(10) (and others) must be retried
    WRITE_CACHE = 0x00200000  #: write cache status is not available
    NEEDS_CAP16 = 0x00400000  #: cannot handle READ_CAPACITY_10
    IGNORE_UAS = 0x00800000  #: device advertises UAS but it is broken
    BROKEN_FUA = 0x01000000  #: cannot handle FUA in WRITE or READ CDBs
    NO_ATA_1X = 0x02000000  #: cannot handle ATA_12 or ATA_16 CDBs
    NO_REPORT_OPCODES = 0x04000000  #: cannot handle MI_REPORT_SUPPORTED_OPERATION_CODES
    MAX_SECTORS_240 = 0x08000000  #: sets max_sectors to 240
    NO_REPORT_LUNS = 0x10000000  #: cannot handle REPORT_LUNS
    ALWAYS_SYNC = 0x20000000  #: lies about caching, so always sync
    NO_SAME = 0x40000000  #: cannot handle WRITE_SAME
    SENSE_AFTER_SYNC = 0x80000000  #: do REQUEST_SENSE after SYNCHRONIZE_CACHE


class UsFlidx(IntFlag):
    """The bits of us->dflags (US_FLIDX_*): what is going on with the device now."""

    URB_ACTIVE = 1 << 0  #: current_urb is in use
    SG_ACTIVE = 1 << 1  #: the data-stage URB is in use
    ABORTING = 1 << 2  #: abort is in progress
    DISCONNECTING = 1 << 3  #: disconnect in progress
    RESETTING = 1 << 4  #: device reset in progress
    TIMED_OUT = 1 << 5  #: SCSI midlayer timed out
    SCAN_PENDING = 1 << 6  #: scanning not yet done
    REDO_READ10 = 1 << 7  #: redo READ(10) command
    READ10_WORKED = 1 << 8  #: previous READ(10) succeeded


#: us_unusual_dev.initFunction: run once before the control thread starts; 0 or -errno.
InitFunction = Callable[["UsData"], Awaitable[int]]
#: us->transport: run one command; a USB_STOR_TRANSPORT_* code.
Transport = Callable[[ScsiCmnd, "UsData"], Awaitable[int]]
#: us->transport_reset: the transport's own device reset; 0 or -errno.
TransportReset = Callable[["UsData"], Awaitable[int]]
#: us->proto_handler: translate (or not) the command and invoke the transport.
ProtoHandler = Callable[[ScsiCmnd, "UsData"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UsUnusualDev:
    """struct us_unusual_dev: the names a FIX_INQUIRY device answers with, the protocol
    (subclass, `useProtocol`) and transport (`useTransport`) to use — 0xff: the
    interface descriptor's — and the initialisation function."""

    vendorName: str | None = None
    productName: str | None = None
    useProtocol: int = StorageSubclass.DEVICE
    useTransport: int = StorageProtocol.DEVICE
    initFunction: InitFunction | None = None


class UsData:
    """struct us_data for the interface `intf`.  Context: the fields are read and written
    by the control thread, queuecommand and the error handlers, all on the machine's
    loop; `dev_mutex` serialises the device's commands, resets and suspend."""

    def __init__(self, intf: UsbInterface, log: Printk) -> None:
        udev: UsbDevice = intf.usb_dev
        self.pusb_dev = udev
        self.pusb_intf = intf
        self.log = log
        self.ifnum = intf.number
        self.unusual_dev = UsUnusualDev()
        self.fflags = UsFlag(0)
        self.dflags = UsFlidx(0)
        self.subclass = 0
        self.protocol = 0
        self.send_bulk_pipe = 0
        self.recv_bulk_pipe = 0
        self.send_ctrl_pipe = 0
        self.recv_ctrl_pipe = 0
        self.recv_intr_pipe = 0
        self.ep_bInterval = 0
        self.transport_name = ""
        self.protocol_name = ""
        #: Chosen by get_transport / get_protocol; probe2 refuses a device without them.
        self.transport: Transport | None = None
        self.transport_reset: TransportReset | None = None
        self.proto_handler: ProtoHandler | None = None
        self.max_lun = 0
        self.tag = 0
        self.bcs_signature = 0
        self.use_last_sector_hacks = False
        self.last_sector_retries = 0
        self.scsi_name = ""
        self.host: ScsiHost | None = None
        self.srb: ScsiCmnd | None = None
        self.current_urb = Urb()
        self.iobuf = bytearray(US_IOBUF_SIZE)
        self.cbw_buf = bytearray(32)
        self.csw_buf = bytearray(CSW_LEN)
        self.dev_mutex = asyncio.Lock()
        #: complete(&us->cmnd_ready) wakes the control thread: a command, or exit.
        self.cmnd_ready = asyncio.Semaphore(0)
        #: complete(&us->notify): an aborted command is over.
        self.notify = asyncio.Semaphore(0)
        #: Reset delays sleep here; a disconnect cuts them short.
        self.delay_wait = WaitQueueHead()
        self.ctl_thread: asyncio.Task[None] | None = None
        self.scan_dwork: asyncio.Task[None] | None = None
        self.scan_started = False

    def __repr__(self) -> str:
        return f"<UsData {self.pusb_intf.name} {self.transport_name or '?'}>"

    def dbg(self, text: str) -> None:
        """usb_stor_dbg(): a debug line under the interface's name, logged only while the
        log keeps debug messages (CONFIG_USB_STORAGE_DEBUG).  Context: atomic."""
        if self.log.debug:
            self.log.dev_dbg(self.pusb_intf, text)

    @property
    def cbw_len(self) -> int:
        """The CBW as sent: 31 bytes, or 32 for a BULK32 device."""
        return 32 if self.fflags & UsFlag.BULK32 else CBW_LEN
