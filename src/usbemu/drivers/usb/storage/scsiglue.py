"""SCSI layer glue — counterpart of drivers/usb/storage/scsiglue.c (Linux 6.12).

usb-storage's face to the SCSI mid-layer: the host template (`usb_stor_host_template`:
name and proc_name "usb-storage", one command at a time, 240-sector transfers, an
emulated host), `queuecommand`, which hands the command to the device's control thread
(or fails it at once during a disconnect), the per-device settings made when a LUN is
found (slave_alloc / slave_configure: 36-byte INQUIRY, transfer limits, the sd quirks a
USB disk needs), and the error handlers the mid-layer escalates through — abort (stop
the URB in flight and wait for the command to end), device reset (the transport's reset)
and bus reset (a USB port reset).  Not here: /proc/scsi/usb-storage (show_info).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Final

from usbemu.errors import Errno
from usbemu.kernel.block.blk_mq import BLK_SAFE_MAX_SECTORS, PAGE_SIZE
from usbemu.kernel.block.request import SECTOR_SHIFT
from usbemu.kernel.scsi.constants import Blist, ScsiLevel
from usbemu.kernel.scsi.scsi_cmnd import (
    FAILED,
    SCSI_MLQUEUE_HOST_BUSY,
    SUCCESS,
    HostByte,
    ScsiCmnd,
    ScsiHostTemplate,
)
from usbemu.kernel.scsi.sd import ScsiDisk
from usbemu.kernel.sysfs import SysAttr
from usbemu.spec.ch9 import Speed
from usbemu.spec.scsi import INVALID_FIELD_IN_CDB, TYPE_DISK, Opcode, SamStatus, Sense, SenseKey
from usbemu.spec.storage import StorageProtocol, StorageSubclass

from .us_data import UsData, UsFlag, UsFlidx

if TYPE_CHECKING:
    from usbemu.kernel.scsi.hosts import ScsiHost
    from usbemu.kernel.scsi.scsi_device import ScsiDevice, ScsiTarget

__all__ = [
    "UsbStorHostTemplate",
    "command_abort_matching",
    "host_to_us",
    "usb_stor_host_template",
    "usb_stor_report_bus_reset",
    "usb_stor_report_device_reset",
    "usb_stor_sense_invalidCDB",
]

#: "Illegal Request: Invalid Field in CDB", the sense usb-storage makes up itself.
usb_stor_sense_invalidCDB: Final = Sense.of(SenseKey.ILLEGAL_REQUEST,
                                            INVALID_FIELD_IN_CDB).fixed()

#: Vendors whose devices all have the READ CAPACITY bug (Nokia, Nikon, Pentax, Motorola).
_CAPACITY_BUG_VENDORS: Final = frozenset({0x0421, 0x04B0, 0x0A17, 0x22B8})
#: US_FL_MAX_SECTORS_MIN: PAGE_SIZE >> 9.
_MAX_SECTORS_MIN: Final = 4096 >> 9


def host_to_us(host: ScsiHost) -> UsData:
    """host_to_us(): the UsData a usb-storage host carries.  Context: atomic."""
    us = host.hostdata
    assert isinstance(us, UsData), f"{host!r} is not a usb-storage host"
    return us


def _queuecommand(us: UsData, srb: ScsiCmnd) -> int:
    """queuecommand_lck(): hand `srb` to the control thread, or finish it at once."""
    if us.srb is not None:
        us.log.dev_err(us.pusb_intf, f"Error in queuecommand_lck: us->srb = "
                                     f"{id(us.srb) & 0xFFFFFFFFFFFFFFFF:016x}")
        return SCSI_MLQUEUE_HOST_BUSY
    if us.dflags & UsFlidx.DISCONNECTING:
        us.dbg("Fail command during disconnect")
        srb.result = HostByte.DID_NO_CONNECT << 16
        srb.scsi_done()
        return 0
    if us.fflags & UsFlag.NO_ATA_1X and srb.cmnd[0] in (Opcode.ATA_12, Opcode.ATA_16):
        srb.sense_buffer[:len(usb_stor_sense_invalidCDB)] = usb_stor_sense_invalidCDB
        srb.result = SamStatus.CHECK_CONDITION
        srb.scsi_done()
        return 0
    us.srb = srb
    us.cmnd_ready.release()
    return 0


async def command_abort_matching(us: UsData, srb_match: ScsiCmnd | None) -> int:
    """command_abort_matching(): abort the command in progress (if it is `srb_match`, when
    given): mark it timed out, stop its URB unless a reset is running, and wait until the
    control thread has finished with it.  SUCCESS or FAILED.  Context: may sleep."""
    from .transport import usb_stor_stop_transport

    if us.srb is None:
        us.dbg("-- nothing to abort")
        return SUCCESS
    if srb_match is not None and us.srb is not srb_match:
        us.dbg("-- pending command mismatch")
        return FAILED
    us.dflags |= UsFlidx.TIMED_OUT
    if not us.dflags & UsFlidx.RESETTING:
        us.dflags |= UsFlidx.ABORTING
        usb_stor_stop_transport(us)
    await us.notify.acquire()
    return SUCCESS


_HU: Final = re.compile(rb"\s*([+-]?\d+)")


async def max_sectors_store(sdev: ScsiDevice, data: bytes) -> int:
    """max_sectors_store(): sscanf("%hu") — leading digits, modulo 65536 — becomes the
    unit's transfer limit, checked as blk_validate_limits does (0 is the safe 255 sectors;
    less than a page or than a logical block is -EINVAL; rounded down to whole blocks) and
    given to sd's queue.  The bytes consumed, or -EINVAL.  Context: may sleep."""
    match = _HU.match(data)
    if match is None:
        return -Errno.EINVAL
    sectors = int(match.group(1)) & 0xFFFF or BLK_SAFE_MAX_SECTORS
    sdkp = sdev.driver_data
    queue = sdkp.queue if isinstance(sdkp, ScsiDisk) else None
    block = (queue.logical_block_size if queue is not None else 512) >> SECTOR_SHIFT
    if sectors < PAGE_SIZE >> SECTOR_SHIFT or sectors < block:
        return -Errno.EINVAL
    sectors -= sectors % block
    sdev.max_hw_sectors = sectors
    if queue is not None:
        queue.max_hw_sectors = sectors
    return len(data)


def _report_reset(host: ScsiHost, channel: int, target: int | None) -> None:
    """scsi_report_device_reset() (a target) / scsi_report_bus_reset() (all of a
    channel): each unit is marked reset and expecting the UNIT ATTENTION that follows."""
    for sdev in host.devices:
        if sdev.channel == channel and (target is None or sdev.id == target):
            sdev.was_reset = True
            sdev.expecting_cc_ua = True


def usb_stor_report_device_reset(us: UsData) -> None:
    """usb_stor_report_device_reset(): tell the mid-layer its devices were reset (target
    0, every target of a multi-target bridge), so that it expects a UNIT ATTENTION.
    Context: atomic."""
    host = us.host
    if host is None:
        return
    _report_reset(host, 0, 0)
    if us.fflags & UsFlag.SCM_MULT_TARG:
        for target in range(1, host.max_id):
            _report_reset(host, 0, target)


def usb_stor_report_bus_reset(us: UsData) -> None:
    """usb_stor_report_bus_reset(): tell the mid-layer the bus (the USB port) was reset.
    Context: atomic."""
    if us.host is not None:
        _report_reset(us.host, 0, None)


class UsbStorHostTemplate(ScsiHostTemplate):
    """usb_stor_host_template (usb_stor_host_template_init gives the subdrivers the same
    with their own name)."""

    name: ClassVar[str] = "usb-storage"
    proc_name: ClassVar[str] = "usb-storage"
    #: Queue commands only, only one command per LUN.
    can_queue: ClassVar[int] = 1
    cmd_per_lun: ClassVar[int] = 1
    #: Unknown initiator id.
    this_id: ClassVar[int] = -1
    #: 120 KB: many devices choke on anything larger (Windows 7 uses 128 sectors, macOS
    #: 256 on USB 2); slave_configure changes it for some.
    max_sectors: ClassVar[int] = 240
    emulated: ClassVar[bool] = True
    #: usb-storage does its own delay after a device or bus reset.
    skip_settle_delay: ClassVar[bool] = True
    #: usb_sdev_groups: the device's transfer limit, readable and writable.
    sdev_attrs: ClassVar[tuple[SysAttr[Any], ...]] = (
        SysAttr("max_sectors", lambda sdev: f"{sdev.max_hw_sectors}\n",
                lambda sdev, data: max_sectors_store(sdev, data), 0o644),)

    def info(self, host: ScsiHost) -> str:
        """host_info(): "usb-storage <interface>", as "scsi host0: usb-storage 1-1:1.0"
        shows.  Context: atomic."""
        return host_to_us(host).scsi_name

    def queuecommand(self, host: ScsiHost, cmnd: ScsiCmnd) -> int:
        """queuecommand(): 0 (the control thread has it, or it is finished already) or
        SCSI_MLQUEUE_HOST_BUSY.  Context: atomic."""
        return _queuecommand(host_to_us(host), cmnd)

    async def eh_abort_handler(self, cmnd: ScsiCmnd) -> int:
        """command_abort().  Context: may sleep."""
        us = host_to_us(cmnd.device.host)
        us.dbg("command_abort called")
        return await command_abort_matching(us, cmnd)

    async def eh_device_reset_handler(self, cmnd: ScsiCmnd) -> int:
        """device_reset(): abort whatever runs, then the transport's reset (Bulk-Only
        Mass Storage Reset) under the device lock.  Context: may sleep."""
        us = host_to_us(cmnd.device.host)
        us.dbg("device_reset called")
        await command_abort_matching(us, None)
        async with us.dev_mutex:
            result = -1 if us.transport_reset is None else await us.transport_reset(us)
        return FAILED if result < 0 else SUCCESS

    async def eh_bus_reset_handler(self, cmnd: ScsiCmnd) -> int:
        """bus_reset(): simulate a SCSI bus reset by resetting the USB port.
        Context: may sleep."""
        from .transport import usb_stor_port_reset

        us = host_to_us(cmnd.device.host)
        us.dbg("bus_reset called")
        return FAILED if await usb_stor_port_reset(us) < 0 else SUCCESS

    def target_alloc(self, starget: ScsiTarget) -> int:
        """target_alloc(): no REPORT LUNS (many USB drives fail it whatever SCSI level they
        claim: scan sequentially), and for UFI devices, which leave the peripheral
        qualifier 0, a peripheral type of 0x1f alone means "no LUN".  Context: atomic."""
        us = host_to_us(starget.host)
        starget.no_report_luns = True
        if us.subclass == StorageSubclass.UFI:
            starget.pdt_1f_for_no_lun = True
        return 0

    def slave_alloc(self, sdev: ScsiDevice) -> int:
        """slave_alloc(): INQUIRY transfers of 36 bytes (many devices choke on others),
        force scanning of every LUN when GET MAX LUN said there are several, and skip the
        IO advice hints mode page (some devices reset when asked).  Context: atomic."""
        us = host_to_us(sdev.host)
        sdev.inquiry_len = 36
        if us.protocol == StorageProtocol.BULK and us.max_lun > 0:
            sdev.sdev_bflags |= Blist.FORCELUN
        sdev.sdev_bflags |= Blist.SKIP_IO_HINTS
        return 0

    def slave_configure(self, sdev: ScsiDevice) -> int:
        """slave_configure() (device_configure in 6.12): the transfer limit (64 sectors for
        MAX_SECTORS_64, 8 for MAX_SECTORS_MIN, 2048 at SuperSpeed) and, for a disk, what
        sd must and must not ask a USB device.  Context: atomic."""
        us = host_to_us(sdev.host)
        _limit_sectors(us, sdev)
        if sdev.type == TYPE_DISK:
            _configure_disk(us, sdev)
        else:
            sdev.use_10_for_ms = True
            if us.fflags & UsFlag.NO_READ_DISC_INFO:
                sdev.no_read_disc_info = True
        if (us.protocol in (StorageProtocol.CB, StorageProtocol.CBI)
                and sdev.scsi_level == ScsiLevel.UNKNOWN):
            us.max_lun = 0
        if us.fflags & UsFlag.NOT_LOCKABLE:
            sdev.lockable = False
        return 0


#: TYPE_TAPE: tapes get the largest transfers.
_TYPE_TAPE: Final = 0x01


def _limit_sectors(us: UsData, sdev: ScsiDevice) -> None:
    if us.fflags & (UsFlag.MAX_SECTORS_64 | UsFlag.MAX_SECTORS_MIN):
        limit = _MAX_SECTORS_MIN if us.fflags & UsFlag.MAX_SECTORS_MIN else 64
        sdev.max_hw_sectors = min(sdev.max_hw_sectors, limit)
    elif sdev.type == _TYPE_TAPE:
        sdev.max_hw_sectors = 0x7FFFFF
    elif us.pusb_dev.speed >= Speed.SUPER:
        sdev.max_hw_sectors = 2048


def _configure_disk(us: UsData, sdev: ScsiDevice) -> None:
    """The TYPE_DISK half of device_configure()."""
    d = us.pusb_dev.descriptor
    if (d is not None and d.idVendor in _CAPACITY_BUG_VENDORS
            and not us.fflags & (UsFlag.FIX_CAPACITY | UsFlag.CAPACITY_OK)):
        us.fflags |= UsFlag.CAPACITY_HEURISTICS
    if us.subclass not in (StorageSubclass.SCSI, StorageSubclass.CYP_ATACB):
        sdev.use_10_for_ms = True
    sdev.use_192_bytes_for_3f = True
    # Some devices report generic values until the media has been accessed: a READ(10)
    # comes before the device's characteristics are asked for.
    sdev.read_before_ms = True
    if us.fflags & UsFlag.NO_WP_DETECT:
        sdev.skip_ms_page_3f = True
    sdev.skip_ms_page_8 = True
    sdev.skip_vpd_pages = not sdev.try_vpd_pages
    sdev.no_report_opcodes = True
    sdev.no_write_same = True
    if us.fflags & UsFlag.FIX_CAPACITY:
        sdev.fix_capacity = True
    if us.fflags & UsFlag.CAPACITY_HEURISTICS:
        sdev.guess_capacity = True
    if us.fflags & UsFlag.NO_READ_CAPACITY_16:
        sdev.no_read_capacity_16 = True
    if not us.fflags & UsFlag.NEEDS_CAP16:
        sdev.try_rc_10_first = True
    if sdev.scsi_level > ScsiLevel.SPC_2 and not us.fflags & UsFlag.BAD_SENSE:
        us.fflags |= UsFlag.SANE_SENSE
    sdev.retry_hwerror = True
    sdev.allow_restart = True
    sdev.last_sector_bug = True
    if (not us.fflags & (UsFlag.FIX_CAPACITY | UsFlag.CAPACITY_OK | UsFlag.SCM_MULT_TARG)
            and us.protocol == StorageProtocol.BULK):
        us.use_last_sector_hacks = True
    if us.fflags & UsFlag.WRITE_CACHE:
        sdev.wce_default_on = True
    if us.fflags & UsFlag.BROKEN_FUA:
        sdev.broken_fua = True
    if us.fflags & UsFlag.ALWAYS_SYNC:
        sdev.skip_ms_page_8 = True
        sdev.skip_ms_page_3f = True
        sdev.wce_default_on = True


#: The host template every usb-storage host is allocated with.
usb_stor_host_template: Final = UsbStorHostTemplate()
