"""Finding the logical units of a host — counterpart of drivers/scsi/scsi_scan.c.

`scsi_scan_host` scans every channel and target id of a host (not the host's own id)
and, for each target, LUN 0 first: INQUIRY of 36 bytes (or the length the low-level
driver set in sdev.inquiry_len), again with the longer length the device says it has,
each pass retried on the UNIT ATTENTIONs of a reset or medium change and once on a
timeout; the vendor, product and revision strings are cleaned of non-printing bytes.
Peripheral qualifier 3, or qualifier 1 (or a UFI target's any) with type 0x1f, means "no
unit here, but a target".  A unit found is logged the way scsi_add_lun logs it,

    scsi 0:0:0:0: Direct-Access     USBemu   Mass Storage     1.00 PQ: 0 ANSI: 2

configured by the low-level driver (slave_configure) and made visible — at the end of the
host's scan with scan=async (Debian's default, and scsi_mod's `scan` here), at once with
scan=sync.  Further LUNs come from REPORT LUNS on SCSI-3 targets that do not refuse it
(usb-storage sets no_report_luns in target_alloc), else from a sequential scan of LUN 1,
2, … that stops at the first LUN without a unit (at LUN 7 for SCSI-2 devices, at the
host's max_lun and scsi_mod.max_luns).

Deviation: an async scan runs in the caller's task (scsi_scan_host returns when the host
is scanned), so its units appear in the same order without an async domain.  Not
modelled: the scsi_devinfo table (only the flags the low-level driver puts in
sdev_bflags apply), BLIST_KEY devices, transports' target parents.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any, Final

from ...errors import Errno
from ...spec.scsi import Opcode, SamStatus, SenseKey
from ..printk import Level
from .constants import Blist, DeviceType, ScsiLevel, scsi_device_type
from .hosts import scsi_host_scan_allowed, shost_printk
from .scsi_cmnd import DataDirection, HostByte
from .scsi_device import ScsiDevice, ScsiTarget, SdevState, StargetState, scsi_device_set_state
from .scsi_lib import (
    SCMD_FAILURE_ASC_ANY,
    SCMD_FAILURE_ASCQ_ANY,
    SCMD_FAILURE_RESULT_ANY,
    SCMD_FAILURE_SENSE_ANY,
    ScsiFailure,
    ScsiFailures,
    scsi_execute_cmd,
)
from .scsi_logging import sdev_printk
from .scsi_sysfs import scsi_remove_device_locked, scsi_sysfs_add_sdev, scsi_target_reap

if TYPE_CHECKING:
    from .hosts import ScsiHost

__all__ = [
    "SCAN_WILD_CARD",
    "ScanMode",
    "ScanResult",
    "scsi_add_device",
    "scsi_forget_host",
    "scsi_rescan_device",
    "scsi_sanitize_inquiry_string",
    "scsi_scan_host",
    "scsi_scan_host_selected",
    "scsi_scan_target",
]

#: "Every channel / id / LUN" in a scan request (SCAN_WILD_CARD).
SCAN_WILD_CARD: Final = -1
#: SCSI_TIMEOUT: the floptical unlock and similar scan commands.
SCSI_TIMEOUT_S: Final = 2.0
#: SCSI_REPORT_LUNS_TIMEOUT.
SCSI_REPORT_LUNS_TIMEOUT_S: Final = 30.0
#: REPORT LUNS asks for the header and 511 LUNs first.
_REPORT_LUNS_FIRST_LEN: Final = (511 + 1) * 8
#: The buffer scsi_probe_and_add_lun reads INQUIRY data into.
_INQUIRY_BUFFER_LEN: Final = 256
#: Well-known LUNs (SCSI_W_LUN_BASE, in the LUN's second byte).
_SCSI_W_LUN_BASE: Final = 0xC100


class ScanMode(Enum):
    """enum scsi_scan_mode."""

    INITIAL = "initial"
    RESCAN = "rescan"
    MANUAL = "manual"


class ScanResult(IntEnum):
    """What probing a LUN found (SCSI_SCAN_*)."""

    NO_RESPONSE = 0
    TARGET_PRESENT = 1
    LUN_PRESENT = 2


def scsi_sanitize_inquiry_string(data: bytearray, start: int, length: int) -> None:
    """scsi_sanitize_inquiry_string(): non-printing and non-ASCII bytes become spaces, and
    everything after a NUL too.  Context: atomic."""
    terminated = False
    for i in range(start, min(start + length, len(data))):
        terminated = terminated or data[i] == 0
        if terminated or not 0x20 <= data[i] <= 0x7E:
            data[i] = 0x20


def _is_wlun(lun: int) -> bool:
    return (lun & 0xFF00) == _SCSI_W_LUN_BASE


# -- targets and units --------------------------------------------------------------------------


def _find_target(shost: ScsiHost, channel: int, id: int) -> ScsiTarget | None:
    return next((t for t in shost.targets if t.channel == channel and t.id == id
                 and t.state is not StargetState.DEL), None)


def scsi_alloc_target(shost: ScsiHost, channel: int, id: int) -> ScsiTarget | None:
    """scsi_alloc_target(): the existing target at channel:id (one more hold on it), or
    a new one the low-level driver's target_alloc accepted.  Context: atomic."""
    found = _find_target(shost, channel, id)
    if found is not None:
        found.reap_ref += 1
        return found
    starget = ScsiTarget(shost, channel, id)
    shost.targets.append(starget)
    error = _call_hook(shost, "target_alloc", starget)
    if error:
        if error != -Errno.ENXIO:
            shost.core.log.dev_err(starget, f"target allocation failed, error {error}")
        shost.targets.remove(starget)
        starget.state = StargetState.DEL
        return None
    return starget


def _call_hook(shost: ScsiHost, name: str, arg: Any) -> int:
    """A template hook (target_alloc, slave_alloc, slave_configure), contained: -EIO
    after an oops."""
    try:
        return int(getattr(shost.hostt, name)(arg))
    except BaseException as exc:
        shost.core.driver_core.contain(f"{name} by {shost.hostt.name}", exc)
        return -Errno.EIO


async def scsi_alloc_sdev(starget: ScsiTarget, lun: int, hostdata: Any = None) -> \
        ScsiDevice | None:
    """scsi_alloc_sdev(): a new unit on `starget` in SDEV_CREATED, given to the low-level
    driver's slave_alloc; None (with the allocation-failure message unless the driver
    said -ENXIO) when it refuses.  Context: may sleep."""
    shost = starget.host
    sdev = ScsiDevice(starget, lun, hostdata)
    shost.devices.append(sdev)
    starget.devices.append(sdev)
    starget.reap_ref += 1
    ret = _call_hook(shost, "slave_alloc", sdev)
    if ret:
        await scsi_remove_device_locked(sdev)
        if ret != -Errno.ENXIO:
            shost.core.log.log(Level.ERR, "scsi_alloc_sdev: Allocation failure during SCSI "
                                          "scanning, some SCSI devices might not be configured")
        return None
    return sdev


def scsi_device_lookup_by_target(starget: ScsiTarget, lun: int) -> ScsiDevice | None:
    """scsi_device_lookup_by_target(): the unit `lun` of the target, unless it is going
    away.  Context: atomic."""
    return next((s for s in starget.devices if s.lun == lun
                 and s.sdev_state not in (SdevState.DEL, SdevState.CANCEL)), None)


# -- INQUIRY (scsi_probe_lun) -------------------------------------------------------------------


def _inquiry_failures() -> ScsiFailures:
    """The retries of the scan's INQUIRY: the UNIT ATTENTIONs of a medium change or reset,
    one timeout; three in all."""
    return ScsiFailures([
        ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.UNIT_ATTENTION, 0x28),
        ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.UNIT_ATTENTION, 0x29),
        ScsiFailure(HostByte.DID_TIME_OUT << 16, allowed=1),
        ScsiFailure(0),
    ], total_allowed=3)


def _device_flags(sdev: ScsiDevice) -> Blist:
    """scsi_get_device_flags(): no devinfo table here, so what the low-level driver put
    in sdev_bflags."""
    return sdev.sdev_bflags


async def scsi_probe_lun(sdev: ScsiDevice, inq: bytearray) -> tuple[int, Blist]:
    """scsi_probe_lun(): INQUIRY in up to three passes (the first length, the length the
    device says it has, the first length again); the data lands in `inq`.  Returns (0 or
    -EIO, the device flags) and sets the unit's inquiry_len and SCSI level.  Context:
    may sleep."""
    shost = sdev.host
    first_len = sdev.inquiry_len or 36
    try_len = first_len
    response_len = 0
    bflags = Blist(0)
    failures = _inquiry_failures()
    timeout = 0.5 + shost.core.inq_timeout
    pass_ = 1
    while True:
        failures.reset_retries()
        result = 0
        for _ in range(3):
            inq[:try_len] = bytes(try_len)
            cdb = bytes([Opcode.INQUIRY, 0, 0, 0, try_len & 0xFF, 0])
            res = await scsi_execute_cmd(sdev, cdb, DataDirection.FROM_DEVICE,
                                         memoryview(inq)[:try_len], timeout, 3,
                                         failures=failures)
            result = res.result
            if result != 0 or res.resid != try_len:
                break
        if result == 0:
            for start, length in ((8, 8), (16, 16), (32, 4)):
                scsi_sanitize_inquiry_string(inq, start, length)
            response_len = inq[4] + 5
            if response_len > 255:
                response_len = first_len
            bflags = _device_flags(sdev)
            if pass_ == 1:
                if bflags & Blist.INQUIRY_36:
                    next_len = 36
                elif sdev.inquiry_len and response_len > sdev.inquiry_len and \
                        (inq[2] & 0x7) < 6:
                    next_len = sdev.inquiry_len
                else:
                    next_len = response_len
                if next_len > try_len:
                    try_len = next_len
                    pass_ = 2
                    continue
        elif pass_ == 2:
            sdev_printk(Level.INFO, sdev, f"scsi scan: {try_len} byte inquiry failed.  "
                                          "Consider BLIST_INQUIRY_36 for this device")
            try_len = first_len
            pass_ = 3
            continue
        break
    if result:
        return -Errno.EIO, bflags
    sdev.inquiry_len = min(try_len, response_len)
    if sdev.inquiry_len < 36:
        if not shost.short_inquiry:
            shost_printk(Level.INFO, shost, f"scsi scan: INQUIRY result too short "
                                            f"({sdev.inquiry_len}), using 36")
            shost.short_inquiry = True
        sdev.inquiry_len = 36
    level = inq[2] & 0x0F
    if level >= 2 or (level == 1 and (inq[3] & 0x0F) == 1):
        level += 1
    sdev.scsi_level = level
    sdev.sdev_target.scsi_level = level
    sdev.lun_in_cdb = (level <= ScsiLevel.SCSI_2 and level != ScsiLevel.UNKNOWN
                       and not shost.no_scsi2_lun_in_cdb)
    return 0, bflags


# -- a unit found (scsi_add_lun) -----------------------------------------------------------------


def _inquiry_string(inq: bytearray, start: int, length: int) -> str:
    return inq[start:start + length].decode("ascii", "replace")


def _apply_bflags(sdev: ScsiDevice, bflags: Blist) -> None:
    """The device-flag settings of scsi_add_lun()."""
    sdev.borken = bool(bflags & Blist.BORKEN)
    sdev.no_uld_attach = bool(bflags & Blist.NO_ULD_ATTACH)
    if bflags & Blist.MAX_512:
        sdev.max_hw_sectors = 512
    elif bflags & Blist.MAX_1024:
        sdev.max_hw_sectors = 1024
    sdev.no_start_on_add = bool(bflags & Blist.NOSTARTONADD)
    if bflags & Blist.SINGLELUN:
        sdev.sdev_target.single_lun = True
    sdev.use_10_for_rw = True
    sdev.no_report_opcodes = bool(bflags & Blist.NO_RSOC)


def _apply_late_bflags(sdev: ScsiDevice, bflags: Blist) -> None:
    """The flags scsi_add_lun() applies once the unit runs."""
    if bflags & Blist.NOT_LOCKABLE:
        sdev.lockable = False
    if bflags & Blist.RETRY_HWERROR:
        sdev.retry_hwerror = True
    if bflags & Blist.IGN_MEDIA_CHANGE:
        sdev.ignore_media_change = True
    if bflags & Blist.TRY_VPD_PAGES:
        sdev.try_vpd_pages = True
    elif bflags & Blist.SKIP_VPD_PAGES:
        sdev.skip_vpd_pages = True


async def scsi_add_lun(sdev: ScsiDevice, inq: bytearray, bflags: Blist,
                       async_scan: bool) -> ScanResult:
    """scsi_add_lun(): take what INQUIRY said, log the unit, run it, let the low-level
    driver configure it, and (unless the scan is asynchronous) make it visible.
    Context: may sleep."""
    shost = sdev.host
    sdev.inquiry = bytes(inq[:max(sdev.inquiry_len, 36)])
    sdev.vendor = _inquiry_string(inq, 8, 8)
    sdev.model = _inquiry_string(inq, 16, 16)
    sdev.rev = _inquiry_string(inq, 32, 4)
    if sdev.vendor == "ATA     ":
        sdev.allow_restart = True
    if bflags & Blist.ISROM:
        sdev.type = DeviceType.ROM
        sdev.removable = True
    else:
        sdev.type = inq[0] & 0x1F
        sdev.removable = bool(inq[1] & 0x80)
    if sdev.type in (DeviceType.RBC, DeviceType.ROM) and not bflags & Blist.REPORTLUN2:
        bflags |= Blist.NOREPORTLUN
    sdev.inq_periph_qual = (inq[0] >> 5) & 7
    sdev.lockable = sdev.removable
    sdev.soft_reset = bool(inq[7] & 1) and (inq[3] & 7) == 2
    ccs = " CCS" if (inq[3] & 0x0F) == 1 else ""
    sdev_printk(Level.NOTICE, sdev, f"{scsi_device_type(sdev.type)} {sdev.vendor} "
                                    f"{sdev.model} {sdev.rev} PQ: {sdev.inq_periph_qual} "
                                    f"ANSI: {inq[2] & 0x07}{ccs}")
    if sdev.scsi_level >= ScsiLevel.SCSI_2 and inq[7] & 2 and not bflags & Blist.NOTQ:
        sdev.tagged_supported = True
        sdev.simple_tags = True
    _apply_bflags(sdev, bflags)
    if scsi_device_set_state(sdev, SdevState.RUNNING) and \
            scsi_device_set_state(sdev, SdevState.BLOCK):
        sdev_printk(Level.ERR, sdev, f"in wrong state {sdev.sdev_state.value} to complete "
                                     "scan")
        return ScanResult.NO_RESPONSE
    _apply_late_bflags(sdev, bflags)
    ret = _call_hook(shost, "slave_configure", sdev)
    if ret:
        if ret != -Errno.ENXIO:
            sdev_printk(Level.ERR, sdev, "failed to configure device")
        return ScanResult.NO_RESPONSE
    sdev.max_queue_depth = sdev.queue_depth
    sdev.sdev_bflags = bflags
    if not async_scan and await scsi_sysfs_add_sdev(sdev) != 0:
        return ScanResult.NO_RESPONSE
    return ScanResult.LUN_PRESENT


async def _probe_and_add_lun(starget: ScsiTarget, lun: int, rescan: ScanMode,
                             hostdata: Any = None) -> tuple[ScanResult, Blist]:
    """scsi_probe_and_add_lun(): INQUIRY the LUN and add the unit it finds."""
    sdev = scsi_device_lookup_by_target(starget, lun)
    if sdev is not None:
        if rescan is not ScanMode.INITIAL or sdev.sdev_state is not SdevState.CREATED:
            return ScanResult.LUN_PRESENT, _device_flags(sdev)
    else:
        sdev = await scsi_alloc_sdev(starget, lun, hostdata)
        if sdev is None:
            return ScanResult.NO_RESPONSE, Blist(0)
    inq = bytearray(_INQUIRY_BUFFER_LEN)
    error, bflags = await scsi_probe_lun(sdev, inq)
    qualifier, pdt = inq[0] >> 5, inq[0] & 0x1F
    no_lun = (qualifier == 1 or starget.pdt_1f_for_no_lun) and pdt == 0x1F and \
        not _is_wlun(lun)
    if error:
        res = ScanResult.NO_RESPONSE
    elif qualifier == 3 or no_lun:
        res = ScanResult.TARGET_PRESENT
    else:
        res = await scsi_add_lun(sdev, inq, bflags, sdev.host.async_scan)
    if res is not ScanResult.LUN_PRESENT:
        await scsi_remove_device_locked(sdev)
    return res, bflags


# -- LUN discovery (scsi_sequential_lun_scan, scsi_report_lun_scan) ------------------------------


async def _sequential_lun_scan(starget: ScsiTarget, bflags: Blist, scsi_level: int,
                               rescan: ScanMode) -> None:
    """scsi_sequential_lun_scan(): LUN 1, 2, … until one has no unit."""
    shost = starget.host
    max_dev_lun = min(shost.core.max_luns, shost.max_lun)
    sparse = bool(bflags & Blist.SPARSELUN)
    if sparse or bflags & Blist.FORCELUN:
        max_dev_lun = shost.max_lun
    if bflags & Blist.MAX5LUN:
        max_dev_lun = min(5, max_dev_lun)
    if scsi_level < ScsiLevel.SCSI_3 and not bflags & Blist.LARGELUN:
        max_dev_lun = min(8, max_dev_lun)
    else:
        max_dev_lun = min(256, max_dev_lun)
    for lun in range(1, max_dev_lun):
        res, _ = await _probe_and_add_lun(starget, lun, rescan)
        if res is not ScanResult.LUN_PRESENT and not sparse:
            return


def scsilun_to_int(entry: bytes) -> int:
    """scsilun_to_int(): an 8-byte LUN of REPORT LUNS as Linux numbers it.  Context:
    atomic."""
    lun = 0
    for i in range(0, 8, 2):
        lun |= (entry[i] << ((i + 1) * 8)) | (entry[i + 1] << (i * 8))
    return lun


def _report_luns_failures() -> ScsiFailures:
    """The retries of REPORT LUNS: three in all, UNIT ATTENTIONs, other CHECK CONDITIONs
    and any other failure sharing them (scsi_report_lun_scan's list)."""
    return ScsiFailures([
        ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.UNIT_ATTENTION, SCMD_FAILURE_ASC_ANY,
                    SCMD_FAILURE_ASCQ_ANY),
        ScsiFailure(SamStatus.CHECK_CONDITION, SCMD_FAILURE_SENSE_ANY),
        ScsiFailure(SCMD_FAILURE_RESULT_ANY),
        ScsiFailure(0),
    ], total_allowed=3)


def _report_luns_refused(starget: ScsiTarget, bflags: Blist) -> int | None:
    """The reasons scsi_report_lun_scan() does not run: 1 (scan sequentially), 0 (scan
    nothing more), None (run it)."""
    if bflags & Blist.NOREPORTLUN:
        return 1
    level = starget.scsi_level
    if level < ScsiLevel.SCSI_2 and level != ScsiLevel.UNKNOWN:
        return 1
    if level < ScsiLevel.SCSI_3 and (not bflags & Blist.REPORTLUN2 or
                                     starget.host.max_lun <= 8):
        return 1
    if bflags & Blist.NOLUN:
        return 0
    if starget.no_report_luns:
        return 1
    return None


async def _report_lun_scan(starget: ScsiTarget, bflags: Blist, rescan: ScanMode) -> int:
    """scsi_report_lun_scan(): 0 when REPORT LUNS scanned the target, 1 when it could
    not (the caller scans sequentially)."""
    refused = _report_luns_refused(starget, bflags)
    if refused is not None:
        return refused
    sdev = scsi_device_lookup_by_target(starget, 0)
    if sdev is None:
        sdev = await scsi_alloc_sdev(starget, 0)
        if sdev is None:
            return 0
    ret = await _report_luns_into(sdev, starget, rescan)
    if sdev.sdev_state is SdevState.CREATED:
        await scsi_remove_device_locked(sdev)
    return ret


async def _report_luns_into(sdev: ScsiDevice, starget: ScsiTarget, rescan: ScanMode) -> int:
    shost = starget.host
    length = _REPORT_LUNS_FIRST_LEN
    while True:
        data = bytearray(length)
        cdb = bytes([Opcode.REPORT_LUNS, 0, 0, 0, 0, 0]) + length.to_bytes(4, "big") + \
            bytes(2)
        res = await scsi_execute_cmd(sdev, cdb, DataDirection.FROM_DEVICE, data,
                                     SCSI_REPORT_LUNS_TIMEOUT_S, 3,
                                     failures=_report_luns_failures())
        if res.result:
            return 1
        list_len = int.from_bytes(data[:4], "big")
        if list_len + 8 <= length:
            break
        length = list_len + 8
    for offset in range(8, 8 + list_len // 8 * 8, 8):
        lun = scsilun_to_int(bytes(data[offset:offset + 8]))
        if lun > shost.max_lun:
            sdev_printk(Level.WARNING, sdev, f"lun{lun} has a LUN larger than allowed by "
                                             "the host adapter")
            continue
        found, _ = await _probe_and_add_lun(starget, lun, rescan)
        if found is ScanResult.NO_RESPONSE:
            sdev_printk(Level.ERR, sdev, f"Unexpected response from lun {lun} while "
                                         "scanning, scan aborted")
            break
    return 0


# -- scanning hosts and targets ------------------------------------------------------------------


async def _scan_target(shost: ScsiHost, channel: int, id: int, lun: int,
                       rescan: ScanMode) -> None:
    """__scsi_scan_target(): LUN 0, then REPORT LUNS or a sequential scan."""
    if shost.this_id == id:
        return
    starget = scsi_alloc_target(shost, channel, id)
    if starget is None:
        return
    if lun != SCAN_WILD_CARD:
        await _probe_and_add_lun(starget, lun, rescan)
    else:
        res, bflags = await _probe_and_add_lun(starget, 0, rescan)
        if res in (ScanResult.LUN_PRESENT, ScanResult.TARGET_PRESENT) and \
                await _report_lun_scan(starget, bflags, rescan) != 0:
            await _sequential_lun_scan(starget, bflags, starget.scsi_level, rescan)
    await scsi_target_reap(starget)


async def scsi_scan_target(shost: ScsiHost, channel: int, id: int, lun: int,
                           rescan: ScanMode) -> None:
    """scsi_scan_target(): scan one target (and one LUN or all) under the scan mutex,
    unless scsi_mod.scan is "none" (or "manual" for anything but a manual scan).
    Context: may sleep."""
    scan = shost.core.scan
    if scan == "none" or (scan == "manual" and rescan is not ScanMode.MANUAL):
        return
    async with shost.scan_mutex:
        if scsi_host_scan_allowed(shost):
            await _scan_target(shost, channel, id, lun, rescan)


async def _scan_channel(shost: ScsiHost, channel: int, id: int, lun: int,
                        rescan: ScanMode) -> None:
    """scsi_scan_channel(): every target id, or one."""
    if id != SCAN_WILD_CARD:
        await _scan_target(shost, channel, id, lun, rescan)
        return
    for order in range(shost.max_id):
        target_id = shost.max_id - order - 1 if shost.reverse_ordering else order
        await _scan_target(shost, channel, target_id, lun, rescan)


async def scsi_scan_host_selected(shost: ScsiHost, channel: int, id: int, lun: int,
                                  rescan: ScanMode) -> int:
    """scsi_scan_host_selected(): scan a channel/id/LUN of the host, any of them
    SCAN_WILD_CARD; -EINVAL for one beyond the host's limits, else 0.  Context: may
    sleep."""
    if (channel != SCAN_WILD_CARD and channel > shost.max_channel) or \
            (id != SCAN_WILD_CARD and id >= shost.max_id) or \
            (lun != SCAN_WILD_CARD and lun >= shost.max_lun):
        return -Errno.EINVAL
    async with shost.scan_mutex:
        if scsi_host_scan_allowed(shost):
            channels = range(shost.max_channel + 1) if channel == SCAN_WILD_CARD \
                else (channel,)
            for chan in channels:
                await _scan_channel(shost, chan, id, lun, rescan)
    return 0


async def _add_scanned_devices(shost: ScsiHost) -> None:
    """scsi_sysfs_add_devices(): the units an asynchronous scan found become visible."""
    for sdev in list(shost.devices):
        if sdev.sdev_state is SdevState.DEL or sdev.is_visible:
            continue
        if not scsi_host_scan_allowed(shost) or await scsi_sysfs_add_sdev(sdev) != 0:
            await scsi_remove_device_locked(sdev)


async def scsi_scan_host(shost: ScsiHost) -> None:
    """scsi_scan_host(): scan the whole host (scsi_mod.scan: "async" shows the units
    when the scan is over, "sync" as each is found, "manual" and "none" scan nothing).
    Context: may sleep."""
    scan = shost.core.scan
    if scan in ("none", "manual"):
        return
    if scan != "async":
        await scsi_scan_host_selected(shost, SCAN_WILD_CARD, SCAN_WILD_CARD, SCAN_WILD_CARD,
                                      ScanMode.INITIAL)
        return
    async with shost.scan_mutex:
        shost.async_scan = True
    try:
        await scsi_scan_host_selected(shost, SCAN_WILD_CARD, SCAN_WILD_CARD, SCAN_WILD_CARD,
                                      ScanMode.INITIAL)
    finally:
        async with shost.scan_mutex:
            shost.async_scan = False
            await _add_scanned_devices(shost)


async def scsi_add_device(shost: ScsiHost, channel: int, id: int, lun: int) -> int:
    """scsi_add_device(): probe one unit and add it; 0 or -ENODEV.  Context: may sleep."""
    if shost.core.scan == "none":
        return -Errno.ENODEV
    async with shost.scan_mutex:
        starget = scsi_alloc_target(shost, channel, id)
        if starget is None:
            return -Errno.ENOMEM
        res = ScanResult.NO_RESPONSE
        if scsi_host_scan_allowed(shost):
            res, _ = await _probe_and_add_lun(starget, lun, ScanMode.RESCAN)
        await scsi_target_reap(starget)
    return 0 if res is ScanResult.LUN_PRESENT else -Errno.ENODEV


async def scsi_rescan_device(sdev: ScsiDevice) -> int:
    """scsi_rescan_device(): the unit's driver looks at it again (sd revalidates);
    -EWOULDBLOCK unless the unit runs.  Context: may sleep."""
    from .scsi_device import ScsiDriver

    async with sdev.lock:
        if sdev.sdev_state is not SdevState.RUNNING:
            return -Errno.EAGAIN
        drv = sdev.driver
        if isinstance(drv, ScsiDriver):
            await drv.rescan(sdev)
    return 0


async def scsi_forget_host(shost: ScsiHost) -> None:
    """scsi_forget_host(): remove every unit of the host (the caller holds its scan
    mutex).  Context: may sleep."""
    for sdev in list(shost.devices):
        if sdev.sdev_state is not SdevState.DEL:
            await scsi_remove_device_locked(sdev)

