"""The SCSI disk driver — counterpart of Linux's drivers/scsi/sd.c (and of
lib/string_helpers.c's string_get_size, which sd's capacity line uses).

`SdDriver` ("sd") binds the direct-access units of the scsi bus (types 0, 7, 0xe, 0x14).
Probing a unit names its disk ("sda", "sdb" … "sdaa", majors 8, 65–71, 128–135 with 16
minors each), adds /sys/class/scsi_disk/H:C:T:L, revalidates the disk and adds it through
the block layer, then says "[sda] Attached SCSI removable disk".  Revalidation is
sd_revalidate_disk's sequence and messages: TEST UNIT READY until the unit is ready
(spinning it up, or waiting for slow USB flash, as sd_spinup_disk does; a unit without a
medium ends it), READ CAPACITY (10) — or (16) first on SPC-3 units, and (16) after (10)
for disks of 2^32 blocks and more — then a read of block 0 on units that want it
(read_before_ms, as usb-storage sets), "[sda] 131072 512-byte logical blocks: (67.1
MB/64.0 MiB)", MODE SENSE for the write-protect bit ("Write Protect is off", "Mode Sense:
03 00 00 00") and the caching page ("No Caching mode page found", "Assuming drive cache:
write through", or "Write cache: enabled, read cache: enabled, doesn't support DPO or
FUA"), the I/O-hints mode page unless the unit skips it, the capacity into the disk.

The disk's queue executes block requests as READ/WRITE (10) (16 beyond 2^32 blocks or
65535 blocks, 6 when the unit refuses 10), splitting off the last blocks one at a time on
units with the last-sector bug, and SYNCHRONIZE CACHE for a flush when the write cache
is on; failures become block statuses through scsi_io_completion.  Opening the disk
checks for a medium change on removable units (TEST UNIT READY), refuses an empty drive
(-ENOMEDIUM) and writing a write-protected one (-EROFS), and locks the door of a
removable unit while it is open.  Removing it deletes the disk and, when the write cache
is on, says "Synchronizing SCSI cache" and flushes it.

Not modelled: protection information (DIF/DIX), zoned disks, discard/WRITE SAME, Opal,
runtime power management, the persistent-reservation and ioctl operations, writing
cache_type without "temporary ".
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Final

from ...errors import Errno
from ...spec.scsi import SAI_READ_CAPACITY_16, Opcode, SamStatus, Sense, SenseKey, rw_cdb
from ..block.blk_mq import RequestQueue
from ..block.blk_types import BlkOpen
from ..block.genhd import (
    BlockDeviceOperations,
    DiskEvent,
    Gendisk,
    add_disk,
    del_gendisk,
    disk_force_media_change,
    disk_name_for_index,
    set_capacity_and_notify,
    set_disk_ro,
)
from ..block.request import SECTOR_SHIFT, BlkStatus, ReqOp, Request
from ..devclass import DeviceClass
from ..printk import Level
from ..sysfs import SysAttr, ro, scan_int
from .constants import Blist, DeviceType, Disposition, ScsiLevel, hostbyte_string
from .scsi import Ida, ScsiCore
from .scsi_cmnd import DataDirection, HostByte, ScsiCmnd, host_byte
from .scsi_device import (
    ScsiDevice,
    ScsiDriver,
    SdevState,
    scsi_device_online,
    scsi_device_set_state,
)
from .scsi_error import scsi_block_when_processing_errors
from .scsi_lib import (
    SCMD_FAILURE_RESULT_ANY,
    SCMD_FAILURE_STAT_ANY,
    SCSI_QUEUE_DELAY_S,
    IoAction,
    ModeSenseResult,
    ScsiFailure,
    ScsiFailures,
    ScsiRequest,
    scsi_device_state_check,
    scsi_execute_cmd,
    scsi_execute_rq,
    scsi_io_completion,
    scsi_mode_sense,
    scsi_sense_valid,
    scsi_set_medium_removal,
    scsi_status_is_check_condition,
    scsi_status_is_good,
    scsi_test_unit_ready,
)
from .scsi_logging import scmd_printk, scsi_print_command, scsi_print_sense_hdr
from .scsi_sysfs import ScsiClassDevice, scsi_register_driver, scsi_unregister_driver

__all__ = [
    "SCSI_DISK_ATTRS",
    "SD_MAX_RETRIES",
    "SD_TIMEOUT_S",
    "ScsiDisk",
    "SdDriver",
    "exit_sd",
    "init_sd",
    "sd_major",
    "string_get_size",
]

#: SD_TIMEOUT: sd's commands and requests.
SD_TIMEOUT_S: Final = 30.0
#: SD_MAX_RETRIES.
SD_MAX_RETRIES: Final = 5
#: SD_BUF_SIZE: the buffer of the revalidation's commands.
SD_BUF_SIZE: Final = 512
#: SD_FLUSH_TIMEOUT_MULTIPLIER: a cache flush gets twice the timeout.
SD_FLUSH_TIMEOUT_MULTIPLIER: Final = 2
#: SD_MAX_MEDIUM_TIMEOUTS: medium-access timeouts before the disk goes offline.
SD_MAX_MEDIUM_TIMEOUTS: Final = 2
#: SD_LAST_BUGGY_SECTORS: the blocks a last-sector-bug unit reads one at a time.
SD_LAST_BUGGY_SECTORS: Final = 8
#: SD_MINORS: the minors of a disk (the disk and 15 partitions).
SD_MINORS: Final = 16
#: Transfer-length limits of the 16- and 10-byte CDBs (SD_MAX_XFER_BLOCKS, _DEF_).
SD_MAX_XFER_BLOCKS: Final = 0xFFFFFFFF
SD_DEF_XFER_BLOCKS: Final = 0xFFFF
#: READ_CAPACITY_RETRIES_ON_RESET.
READ_CAPACITY_RETRIES_ON_RESET: Final = 10
#: RC16_LEN: the bytes READ CAPACITY (16) asks for.
RC16_LEN: Final = 32
#: The majors of sd's disks: SCSI_DISK0_MAJOR, SCSI_DISK1..7_MAJOR, SCSI_DISK8..15_MAJOR.
_SD_MAJORS: Final = (8, 65, 66, 67, 68, 69, 70, 71, 128, 129, 130, 131, 132, 133, 134, 135)
#: The unit types sd takes.
_SD_TYPES: Final = frozenset({DeviceType.DISK, DeviceType.MOD, DeviceType.RBC, DeviceType.ZBC})

SD_CACHE_TYPES: Final = ("write through", "none", "write back", "write back, no read (daft)")

#: Operation codes that touch the medium (scsi_medium_access_command).
_MEDIUM_ACCESS: Final = frozenset({
    Opcode.READ_6, Opcode.READ_10, Opcode.READ_12, Opcode.READ_16, Opcode.WRITE_6,
    Opcode.WRITE_10, Opcode.WRITE_12, Opcode.WRITE_16, Opcode.VERIFY, 0xAF, 0x8F, 0x2E,
    0xAE, 0x8E, 0x41, 0x93, 0x42, Opcode.SYNCHRONIZE_CACHE, Opcode.SYNCHRONIZE_CACHE_16,
})


def sd_major(major_idx: int) -> int:
    """sd_major(): the block major of the disks with this index group (index >> 4 & 15).
    Context: atomic."""
    return _SD_MAJORS[major_idx & 0x0F]


# -- string_get_size (lib/string_helpers.c) -------------------------------------------------------

_UNITS: Final = {10: ("", "k", "M", "G", "T", "P", "E", "Z", "Y"),
                 2: ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")}
_ROUNDING: Final = (500, 50, 5)


def string_get_size(size: int, blk_size: int, units: int) -> str:
    """string_get_size(): `size` blocks of `blk_size` bytes with three significant digits
    in decimal (`units` 10: "67.1 MB") or binary units (2: "64.0 MiB"), rounded as Linux
    rounds (Napier's algorithm).  Raises ValueError for units other than 10 and 2.
    Context: atomic."""
    if units not in _UNITS:
        raise ValueError(f"units {units}: 10 or 2")
    divisor = 1000 if units == 10 else 1024
    i = 0
    remainder = 0
    tmp = ""
    if blk_size == 0:
        size = 0
    if size:
        while blk_size >> 32:
            blk_size //= divisor
            i += 1
        while size >> 32:
            size //= divisor
            i += 1
        size *= blk_size
        while size >= divisor:
            size, remainder = divmod(size, divisor)
            i += 1
        sf_cap = size
        j = 0
        while sf_cap * 10 < 1000:
            sf_cap *= 10
            j += 1
        if units == 2:
            remainder = (remainder * 1000) >> 10
        remainder += _ROUNDING[j]
        if remainder >= 1000:
            remainder -= 1000
            size += 1
        if j:
            tmp = f".{remainder:03d}"[:j + 1]
    unit = _UNITS[units][i] if i < len(_UNITS[units]) else "UNK"
    return f"{size}{tmp} {unit}B"


# -- one disk (struct scsi_disk) -----------------------------------------------------------------


def _sense_key_is(sense: Sense | None, key: SenseKey) -> bool:
    return sense is not None and sense.key == key


class ScsiDisk:
    """struct scsi_disk: sd's state of one disk — its unit, gendisk and queue, what the
    revalidation found (capacity in logical blocks, medium present, write protect, write
    cache WCE, read cache disabled RCD, DPO/FUA), and its scsi_disk class device.  It is
    the disk's BlockDriver (`queue_rq`) and block-device operations (`open`,
    `release`)."""

    def __init__(self, driver: SdDriver, sdev: ScsiDevice, index: int) -> None:
        self.driver = driver
        self.device = sdev
        self.index = index
        self.disk_name = disk_name_for_index("sd", index)
        self.capacity = 0
        self.physical_block_size = 512
        self.media_present = True
        self.write_prot = False
        self.cache_override = False
        self.WCE = False
        self.RCD = False
        self.DPOFUA = False
        self.ATO = False
        self.lbpme = False
        self.protection_type = 0
        self.first_scan = True
        self.max_retries = SD_MAX_RETRIES
        self.max_xfer_blocks = 0
        self.opt_xfer_blocks = 0
        self.rotational = True
        self.openers = 0
        self.medium_access_timed_out = 0
        self.max_medium_access_timeouts = SD_MAX_MEDIUM_TIMEOUTS
        self.ignore_medium_access_errors = False
        self.disk_dev: ScsiClassDevice | None = None
        self.queue = RequestQueue(self, logical_block_size=512,
                                  max_hw_sectors=max(sdev.max_hw_sectors, 1),
                                  queue_depth=max(sdev.queue_depth, 1))
        fops = BlockDeviceOperations(open=self.open, release=self.release)
        self.disk = Gendisk(self.disk_name, sd_major((index & 0xF0) >> 4),
                            ((index & 0x0F) << 4) | (index & 0xFFF00), SD_MINORS, fops,
                            self.queue, self)

    def __repr__(self) -> str:
        return f"<ScsiDisk {self.disk_name} {self.device.name}>"

    # -- messages (sd_printk, sd_first_printk, sd_print_result, sd_print_sense_hdr) ----------

    def printk(self, level: Level, text: str) -> None:
        """sd_printk(): "sd 0:0:0:0: [sda] text".  Context: atomic."""
        self.device.host.core.log.dev(level, self.device, f"[{self.disk_name}] {text}")

    def first_printk(self, level: Level, text: str) -> None:
        """sd_first_printk(): only during the first revalidation.  Context: atomic."""
        if self.first_scan:
            self.printk(level, text)

    def print_result(self, msg: str, result: int) -> None:
        """sd_print_result(): "[sda] <msg>: Result: hostbyte=… driverbyte=DRIVER_OK".
        Context: atomic."""
        name = hostbyte_string(result)
        hb = name if name is not None else f"0x{host_byte(result):02x}"
        self.printk(Level.INFO, f"{msg}: Result: hostbyte={hb} driverbyte=DRIVER_OK")

    def print_sense_hdr(self, sense: Sense) -> None:
        """sd_print_sense_hdr(): the sense-key and additional-sense lines with "[sda]".
        Context: atomic."""
        scsi_print_sense_hdr(self.device, self.disk_name, sense)

    # -- media (media_not_present, set_media_not_present) -------------------------------------

    def set_media_not_present(self) -> None:
        """set_media_not_present(): the unit changed; a removable one has no medium.
        Context: atomic."""
        if self.media_present:
            self.device.changed = True
        if self.device.removable:
            self.media_present = False
            self.capacity = 0

    def media_not_present(self, sense: Sense | None) -> bool:
        """media_not_present(): whether `sense` says MEDIUM NOT PRESENT (then the disk
        has none).  Context: atomic."""
        if sense is None or sense.key not in (SenseKey.UNIT_ATTENTION, SenseKey.NOT_READY):
            return False
        if sense.asc != 0x3A:
            return False
        self.set_media_not_present()
        return True

    # -- revalidation (sd_revalidate_disk) ------------------------------------------------------

    async def revalidate(self) -> None:
        """sd_revalidate_disk(): spin up, read the capacity, the write protection and the
        cache settings, and set the disk's size and limits.  An offline unit is left
        alone.  Context: may sleep."""
        sdp = self.device
        old_capacity = self.capacity
        if not scsi_device_online(sdp):
            return
        buffer = bytearray(SD_BUF_SIZE)
        await self._spinup_disk()
        if self.media_present:
            await self._read_capacity(buffer)
            if sdp.read_before_ms:
                await self._read_block_zero()
            self.rotational = True
            if _supports_vpd(sdp):
                await self._read_block_limits()
                await self._read_block_characteristics()
            self._print_capacity(old_capacity)
            await self._read_write_protect_flag(buffer)
            await self._read_cache_type(buffer)
            await self._read_io_hints(buffer)
            await self._read_write_same(buffer)
        self._set_flush_flag()
        self._set_limits()
        self.first_scan = False
        set_capacity_and_notify(self.disk, self.capacity * (sdp.sector_size >> SECTOR_SHIFT))

    async def _spinup_disk(self) -> None:
        """sd_spinup_disk(): TEST UNIT READY; a unit not ready is started (START STOP
        UNIT) and polled each second for up to 100 s; one that reports a medium change
        (USB flash with slow firmware) is polled for up to 5 s; "Unit Not Ready" with the
        sense for anything else; no medium stops it all."""
        sdp = self.device
        loop = asyncio.get_running_loop()
        failures = ScsiFailures([
            ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.UNIT_ATTENTION, 0x3A),
            ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.NOT_READY, 0x3A),
            ScsiFailure(SCMD_FAILURE_STAT_ANY, allowed=3),
            ScsiFailure(0),
        ])
        spinning: str | None = None
        expire = 0.0
        result = 0
        while True:
            was_present = self.media_present
            failures.reset_retries()
            res = await scsi_execute_cmd(sdp, bytes(6), timeout=SD_TIMEOUT_S,
                                         retries=self.max_retries, failures=failures)
            result, sense = res.result, res.sense
            if result > 0 and self.media_not_present(sense):
                if was_present:
                    self.printk(Level.NOTICE, "Media removed, stopped polling")
                return
            if not scsi_status_is_check_condition(result):
                if spinning is None and not scsi_status_is_good(result):
                    self.print_result("Test Unit Ready failed", result)
                break
            if sdp.no_start_on_add:
                break
            if _sense_key_is(sense, SenseKey.NOT_READY):
                assert sense is not None
                if sense.asc == 4 and sense.ascq in (0x03, 0x0B, 0x0C, 0x1B, 0x24, 0x25):
                    break
                if spinning is None:
                    spinning = "Spinning up disk..."
                    start = bytes([Opcode.START_STOP, 1, 0, 0,
                                   0x11 if sdp.start_stop_pwr_cond else 1, 0])
                    await scsi_execute_cmd(sdp, start, timeout=SD_TIMEOUT_S,
                                           retries=self.max_retries, failures=failures)
                    expire = loop.time() + 100.0
                await asyncio.sleep(1.0)
                spinning += "."
            elif _sense_key_is(sense, SenseKey.UNIT_ATTENTION) and sense is not None and \
                    sense.asc == 0x28:
                if spinning is None:
                    spinning = ""
                    expire = loop.time() + 5.0
                await asyncio.sleep(1.0)
            else:
                if spinning is None:
                    self.printk(Level.NOTICE, "Unit Not Ready")
                    if scsi_sense_valid(sense):
                        assert sense is not None
                        self.print_sense_hdr(sense)
                break
            if loop.time() > expire:
                break
        if spinning:
            ending = "ready" if scsi_status_is_good(result) else "not responding..."
            self.printk(Level.NOTICE, spinning + ending)

    def _capacity_failures(self, *first: ScsiFailure) -> ScsiFailures:
        """READ CAPACITY's retries: none for a missing medium, ten for the resets'
        UNIT ATTENTION, three for anything else (with `first` before them)."""
        return ScsiFailures([
            *first,
            ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.UNIT_ATTENTION, 0x3A),
            ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.NOT_READY, 0x3A),
            ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.UNIT_ATTENTION, 0x29,
                        allowed=READ_CAPACITY_RETRIES_ON_RESET),
            ScsiFailure(SCMD_FAILURE_RESULT_ANY, allowed=3),
            ScsiFailure(0),
        ])

    def _read_capacity_error(self, sense: Sense | None) -> None:
        """read_capacity_error()."""
        if sense is not None:
            self.print_sense_hdr(sense)
        else:
            self.printk(Level.NOTICE, "Sense not available.")
        if self.device.removable and _sense_key_is(sense, SenseKey.NOT_READY):
            self.set_media_not_present()
        self.capacity = 0

    async def _read_capacity_16(self, buffer: bytearray) -> int:
        """read_capacity_16(): the block size, or -ENODEV (no medium), -EINVAL."""
        sdp = self.device
        if sdp.no_read_capacity_16:
            return -Errno.EINVAL
        cdb = bytes([Opcode.SERVICE_ACTION_IN_16, SAI_READ_CAPACITY_16]) + bytes(8) + \
            RC16_LEN.to_bytes(4, "big") + bytes(2)
        data = memoryview(buffer)[:RC16_LEN]
        data[:] = bytes(RC16_LEN)
        failures = self._capacity_failures(
            ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.ILLEGAL_REQUEST, 0x20),
            ScsiFailure(SamStatus.CHECK_CONDITION, SenseKey.ILLEGAL_REQUEST, 0x24))
        res = await scsi_execute_cmd(sdp, cdb, DataDirection.FROM_DEVICE, data, SD_TIMEOUT_S,
                                     self.max_retries, failures=failures)
        sense = res.sense
        if res.result > 0:
            if self.media_not_present(sense):
                return -Errno.ENODEV
            if _sense_key_is(sense, SenseKey.ILLEGAL_REQUEST) and sense is not None and \
                    sense.asc in (0x20, 0x24) and sense.ascq == 0:
                return -Errno.EINVAL
        if res.result:
            self.print_result("Read Capacity(16) failed", res.result)
            self._read_capacity_error(sense)
            return -Errno.EINVAL
        lba, sector_size = struct.unpack_from(">QI", buffer)
        self.protection_type = 0
        self.physical_block_size = (1 << (buffer[13] & 0x0F)) * sector_size
        alignment = ((buffer[14] & 0x3F) << 8 | buffer[15]) * sector_size
        if alignment and self.first_scan:
            self.printk(Level.NOTICE, f"physical block alignment offset: {alignment}")
        self.lbpme = bool(buffer[14] & 0x80)
        self.capacity = lba + 1
        return int(sector_size)

    async def _read_capacity_10(self, buffer: bytearray) -> int:
        """read_capacity_10(): the block size, or -ENODEV (no medium), -EINVAL."""
        sdp = self.device
        data = memoryview(buffer)[:8]
        data[:] = bytes(8)
        res = await scsi_execute_cmd(sdp, bytes([Opcode.READ_CAPACITY]) + bytes(9),
                                     DataDirection.FROM_DEVICE, data, SD_TIMEOUT_S,
                                     self.max_retries, failures=self._capacity_failures())
        if res.result > 0 and self.media_not_present(res.sense):
            return -Errno.ENODEV
        if res.result:
            self.print_result("Read Capacity(10) failed", res.result)
            self._read_capacity_error(res.sense)
            return -Errno.EINVAL
        lba, sector_size = struct.unpack_from(">II", buffer)
        self.physical_block_size = sector_size
        self.capacity = 0 if sdp.no_read_capacity_16 and lba == 0xFFFFFFFF else lba + 1
        return int(sector_size)

    def _try_rc16_first(self) -> bool:
        """sd_try_rc16_first()."""
        sdp = self.device
        if sdp.host.max_cmd_len < 16 or sdp.try_rc_10_first:
            return False
        return sdp.scsi_level > ScsiLevel.SPC_2

    async def _read_capacity(self, buffer: bytearray) -> None:
        """sd_read_capacity(): READ CAPACITY (16) or (10) as the unit prefers, (16) again
        for a very big disk, the capacity adjustments, the block size checks."""
        sdp = self.device
        if self._try_rc16_first():
            sector_size = await self._read_capacity_16(buffer)
            if sector_size == -Errno.ENODEV:
                return
            if sector_size < 0:
                sector_size = await self._read_capacity_10(buffer)
            if sector_size < 0:
                return
        else:
            sector_size = await self._read_capacity_10(buffer)
            if sector_size < 0:
                return
            if self.capacity > 0xFFFFFFFF:
                old_sector_size = sector_size
                self.printk(Level.NOTICE, "Very big device. Trying to use READ "
                                          "CAPACITY(16).")
                sector_size = await self._read_capacity_16(buffer)
                if sector_size < 0:
                    self.printk(Level.NOTICE, "Using 0xffffffff as device size")
                    self.capacity = 1 + 0xFFFFFFFF
                    sector_size = old_sector_size
                else:
                    sdp.try_rc_10_first = False
            if sdp.fix_capacity or (sdp.guess_capacity and self.capacity & 1):
                self.printk(Level.INFO, f"Adjusting the sector count from its reported "
                                        f"value: {self.capacity}")
                self.capacity -= 1
        self._got_block_size(sector_size)

    def _got_block_size(self, sector_size: int) -> None:
        """The end of sd_read_capacity(): a block size sd supports, in the queue."""
        sdp = self.device
        if sector_size == 0:
            sector_size = 512
            self.printk(Level.NOTICE, "Sector size 0 reported, assuming 512.")
        if sector_size not in (512, 1024, 2048, 4096):
            self.printk(Level.NOTICE, f"Unsupported sector size {sector_size}.")
            self.capacity = 0
            sector_size = 512
        sdp.sector_size = sector_size
        self.queue.logical_block_size = sector_size
        self.queue.physical_block_size = max(self.physical_block_size, sector_size)
        if self.capacity > 0xFFFFFFFF:
            sdp.use_16_for_rw = True

    async def _read_block_zero(self) -> None:
        """sd_read_block_zero(): READ of block 0, for units (USB bridges) that fill in
        their mode pages only once the medium has been read."""
        sdp = self.device
        opcode = Opcode.READ_16 if sdp.use_16_for_rw else Opcode.READ_10
        await scsi_execute_cmd(sdp, rw_cdb(opcode, 0, 1), DataDirection.FROM_DEVICE,
                               bytearray(sdp.sector_size), SD_TIMEOUT_S, self.max_retries)

    def _print_capacity(self, old_capacity: int) -> None:
        """sd_print_capacity(): on the first scan and when the size changed."""
        if not self.first_scan and old_capacity == self.capacity:
            return
        size = self.device.sector_size
        self.printk(Level.NOTICE, f"{self.capacity} {size}-byte logical blocks: "
                                  f"({string_get_size(self.capacity, size, 10)}/"
                                  f"{string_get_size(self.capacity, size, 2)})")
        if self.physical_block_size != size:
            self.printk(Level.NOTICE, f"{self.physical_block_size}-byte physical blocks")

    async def _do_mode_sense(self, dbd: int, modepage: int, buffer: bytearray,
                             length: int) -> ModeSenseResult:
        """sd_do_mode_sense(): MODE SENSE into the first `length` bytes of `buffer` (at
        least 8 when the unit wants MODE SENSE(10))."""
        if self.device.use_10_for_ms and length < 8:
            length = 8
        return await scsi_mode_sense(self.device, dbd, modepage, 0,
                                     memoryview(buffer)[:length], SD_TIMEOUT_S,
                                     self.max_retries)

    async def _read_write_protect_flag(self, buffer: bytearray) -> None:
        """sd_read_write_protect_flag(): MODE SENSE of all pages (192 bytes on units that
        want it, else 4 bytes, page 0, then 255 bytes); the WP bit of the header."""
        sdp = self.device
        old_wp = self.write_prot
        set_disk_ro(self.disk, False)
        if sdp.skip_ms_page_3f:
            self.first_printk(Level.NOTICE, "Assuming Write Enabled")
            return
        if sdp.use_192_bytes_for_3f:
            res = await self._do_mode_sense(0, 0x3F, buffer, 192)
        else:
            res = await self._do_mode_sense(0, 0x3F, buffer, 4)
            if res.result < 0:
                res = await self._do_mode_sense(0, 0, buffer, 4)
            if res.result < 0:
                res = await self._do_mode_sense(0, 0x3F, buffer, 255)
        if res.result < 0:
            self.first_printk(Level.WARNING, "Test WP failed, assume Write Enabled")
            return
        self.write_prot = bool(res.data.device_specific & 0x80)
        set_disk_ro(self.disk, self.write_prot)
        if self.first_scan or old_wp != self.write_prot:
            self.printk(Level.NOTICE, f"Write Protect is {'on' if self.write_prot else 'off'}")
            header = " ".join(f"{b:02x}" for b in buffer[:4])
            self.device.host.core.log.log(
                Level.DEBUG, f"{self.device.driver_string()} {self.device.name}: "
                             f"[{self.disk_name}] Mode Sense: {header}", always=True)

    def _cache_page_defaults(self) -> None:
        """The defaults of sd_read_cache_type(): write back only if the unit says so."""
        if self.device.wce_default_on:
            self.first_printk(Level.NOTICE, "Assuming drive cache: write back")
            self.WCE = True
        else:
            self.first_printk(Level.ERR, "Assuming drive cache: write through")
            self.WCE = False
        self.RCD = False
        self.DPOFUA = False

    async def _read_cache_type(self, buffer: bytearray) -> None:
        """sd_read_cache_type(): MODE SENSE for the caching page (8, 6 on RBC units, or
        in all pages when page 8 must be skipped), then WCE, RCD and DPOFUA."""
        sdp = self.device
        if self.cache_override:
            return
        old = (self.WCE, self.RCD, self.DPOFUA)
        first_len = 4
        if sdp.skip_ms_page_8:
            if sdp.type == DeviceType.RBC or sdp.skip_ms_page_3f:
                self._cache_page_defaults()
                return
            modepage, dbd = 0x3F, 0
            if sdp.use_192_bytes_for_3f:
                first_len = 192
        elif sdp.type == DeviceType.RBC:
            modepage, dbd = 6, 8
        else:
            modepage, dbd = 8, 0
        res = await self._do_mode_sense(dbd, modepage, buffer, first_len)
        if res.result >= 0:
            if not res.data.header_length:
                modepage, first_len = 6, 0
                self.first_printk(Level.ERR, "Missing header in MODE_SENSE response")
            length = res.data.length
            if length >= 3:
                if length > SD_BUF_SIZE:
                    self.first_printk(Level.NOTICE, f"Truncating mode parameter data from "
                                                    f"{length} to {SD_BUF_SIZE} bytes")
                    length = SD_BUF_SIZE
                if modepage == 0x3F and sdp.use_192_bytes_for_3f:
                    length = 192
                if length > first_len:
                    res = await self._do_mode_sense(dbd, modepage, buffer, length)
                if res.result >= 0:
                    offset = res.data.header_length + res.data.block_descriptor_length
                    self._cache_page(buffer, offset, length, res.data.device_specific, old)
                    return
        sense = res.sense
        if sense is not None and sense.key == SenseKey.ILLEGAL_REQUEST and \
                (sense.asc, sense.ascq) == (0x24, 0):
            self.first_printk(Level.NOTICE, "Cache data unavailable")
        else:
            self.first_printk(Level.ERR, "Asking for cache data failed")
        self._cache_page_defaults()

    def _cache_page(self, buffer: bytearray, offset: int, length: int, device_specific: int,
                    old: tuple[bool, bool, bool]) -> None:
        """The page walk of sd_read_cache_type(): find page 8 (or 6) and read its bits."""
        while offset < length:
            page_code = buffer[offset] & 0x3F
            spf = buffer[offset] & 0x40
            if page_code in (8, 6):
                if length - offset <= 2:
                    self.first_printk(Level.ERR, "Incomplete mode parameter data")
                    self._cache_page_defaults()
                    return
                self._cache_bits(buffer, offset, page_code, device_specific, old)
                return
            if spf and length - offset > 3:
                offset += 4 + (buffer[offset + 2] << 8) + buffer[offset + 3]
            elif not spf and length - offset > 1:
                offset += 2 + buffer[offset + 1]
            else:
                self.first_printk(Level.ERR, "Incomplete mode parameter data")
                self._cache_page_defaults()
                return
        self.first_printk(Level.ERR, "No Caching mode page found")
        self._cache_page_defaults()

    def _cache_bits(self, buffer: bytearray, offset: int, page_code: int,
                    device_specific: int, old: tuple[bool, bool, bool]) -> None:
        """The bits of the caching page and the header's DPOFUA, and their message."""
        sdp = self.device
        if page_code == 8:
            self.WCE = bool(buffer[offset + 2] & 0x04)
            self.RCD = bool(buffer[offset + 2] & 0x01)
        else:
            self.WCE = not buffer[offset + 2] & 0x01
            self.RCD = False
        self.DPOFUA = bool(device_specific & 0x10)
        if sdp.broken_fua:
            self.first_printk(Level.NOTICE, "Disabling FUA")
            self.DPOFUA = False
        elif self.DPOFUA and not sdp.use_10_for_rw and not sdp.use_16_for_rw:
            self.first_printk(Level.NOTICE, "Uses READ/WRITE(6), disabling FUA")
            self.DPOFUA = False
        if self.WCE and self.write_prot:
            self.WCE = False
        if self.first_scan or old != (self.WCE, self.RCD, self.DPOFUA):
            write = "enabled" if self.WCE else "disabled"
            read = "disabled" if self.RCD else "enabled"
            fua = "supports DPO and FUA" if self.DPOFUA else "doesn't support DPO or FUA"
            self.printk(Level.NOTICE, f"Write cache: {write}, read cache: {read}, {fua}")

    async def _read_io_hints(self, buffer: bytearray) -> None:
        """sd_read_io_hints(): MODE SENSE of the I/O advice hints grouping page (0Ah/05h),
        unless the unit is flagged SKIP_IO_HINTS; no stream is used here."""
        if self.device.sdev_bflags & Blist.SKIP_IO_HINTS:
            return
        await scsi_mode_sense(self.device, 0x08, 0x0A, 0x05, bytearray(SD_BUF_SIZE),
                              SD_TIMEOUT_S, self.max_retries)

    async def _read_write_same(self, buffer: bytearray) -> None:
        """sd_read_write_same(): WRITE SAME is off on hosts that say so; a unit without
        REPORT SUPPORTED OPERATION CODES (SPC-2 and older) is asked for the ATA
        information VPD page, which turns it off too."""
        sdev = self.device
        if sdev.host.no_write_same:
            sdev.no_write_same = True
            return
        if sdev.no_report_opcodes or sdev.scsi_level < ScsiLevel.SPC_3:
            sdev.no_report_opcodes = True
            if await scsi_get_vpd_page(sdev, 0x89, bytearray(64)) == 0:
                sdev.no_write_same = True

    async def _read_block_limits(self) -> None:
        """sd_read_block_limits(): the Block Limits VPD page's transfer lengths."""
        page = bytearray(64)
        if await scsi_get_vpd_page(self.device, 0xB0, page):
            return
        self.max_xfer_blocks = int.from_bytes(page[8:12], "big")
        self.opt_xfer_blocks = int.from_bytes(page[12:16], "big")

    async def _read_block_characteristics(self) -> None:
        """sd_read_block_characteristics(): a medium rotation rate of 1 is flash."""
        page = bytearray(64)
        if await scsi_get_vpd_page(self.device, 0xB1, page):
            return
        if int.from_bytes(page[4:6], "big") == 1:
            self.rotational = False

    def _set_flush_flag(self) -> None:
        """sd_set_flush_flag(): flushes reach the unit when its write cache is on."""
        self.queue.write_cache = self.WCE

    def _set_limits(self) -> None:
        """The queue limits of sd_revalidate_disk(): the CDB's transfer-length limit,
        the unit's reported maximum, the host's max_sectors."""
        sdp = self.device
        dev_max = SD_MAX_XFER_BLOCKS if sdp.use_16_for_rw else SD_DEF_XFER_BLOCKS
        if self.max_xfer_blocks:
            dev_max = min(dev_max, self.max_xfer_blocks)
        dev_sectors = dev_max * (sdp.sector_size >> SECTOR_SHIFT)
        self.queue.max_hw_sectors = max(min(sdp.max_hw_sectors, dev_sectors),
                                        sdp.sector_size >> SECTOR_SHIFT)
        self.queue.rotational = self.rotational

    # -- block requests (sd_init_command, sd_done, scsi_io_completion) ------------------------

    async def queue_rq(self, req: Request) -> BlkStatus:
        """blk_mq_ops.queue_rq: execute one block request as SCSI commands; the block
        layer's status.  Context: may sleep."""
        cmd = ScsiCmnd(self.device, b"", allowed=self.max_retries,
                       timeout_s=self.device.timeout_s)
        rq = ScsiRequest(cmd, passthrough=False, quiet=False, disk_name=self.disk_name,
                         uld=self.driver)
        if req.op is ReqOp.FLUSH:
            return await self._flush(rq)
        sector, remaining, offset = req.sector, req.nr_sectors, 0
        while remaining > 0:
            if not scsi_device_state_check(rq):
                return BlkStatus.IOERR
            status = self._setup_rw(rq, req, sector, remaining, offset)
            if status is not BlkStatus.OK:
                return status
            await scsi_execute_rq(rq)
            completion = scsi_io_completion(rq, self._done(rq, sector),
                                            asyncio.get_running_loop().time())
            done_sectors = completion.good_bytes >> SECTOR_SHIFT
            sector += done_sectors
            remaining -= done_sectors
            offset += done_sectors << SECTOR_SHIFT
            if completion.action is IoAction.DONE and completion.status is not BlkStatus.OK:
                return completion.status
            if completion.action is IoAction.DELAYED_RETRY:
                await asyncio.sleep(SCSI_QUEUE_DELAY_S)
        return BlkStatus.OK

    def _setup_rw(self, rq: ScsiRequest, req: Request, sector: int, nr_sectors: int,
                  offset: int) -> BlkStatus:
        """sd_setup_read_write_cmnd(): the CDB for the part of `req` still to do."""
        sdp = self.device
        cmd = rq.cmd
        if not scsi_device_online(sdp) or sdp.changed:
            scmd_printk(Level.ERR, rq, "device offline or changed")
            return BlkStatus.IOERR
        if sector + nr_sectors > self.disk.capacity:
            scmd_printk(Level.ERR, rq, "access beyond end of device")
            return BlkStatus.IOERR
        shift = (sdp.sector_size >> SECTOR_SHIFT).bit_length() - 1
        mask = (1 << shift) - 1
        if sector & mask or nr_sectors & mask:
            scmd_printk(Level.ERR, rq, "request not aligned to the logical block size")
            return BlkStatus.IOERR
        lba, nr_blocks = sector >> shift, nr_sectors >> shift
        threshold = self.capacity - SD_LAST_BUGGY_SECTORS
        if sdp.last_sector_bug and lba + nr_blocks > threshold:
            nr_blocks = threshold - lba if lba < threshold else 1
        write = req.op is ReqOp.WRITE
        fua = "FUA" in req.flags
        if sdp.use_16_for_rw or nr_blocks > 0xFFFF:
            opcode = Opcode.WRITE_16 if write else Opcode.READ_16
        elif nr_blocks > 0xFF or lba > 0x1FFFFF or sdp.use_10_for_rw or fua:
            opcode = Opcode.WRITE_10 if write else Opcode.READ_10
        else:
            opcode = Opcode.WRITE_6 if write else Opcode.READ_6
        nbytes = nr_blocks * sdp.sector_size
        cmd.cmnd = rw_cdb(opcode, lba, nr_blocks, fua=fua)
        cmd.sc_data_direction = DataDirection.TO_DEVICE if write else DataDirection.FROM_DEVICE
        cmd.buffer = req.buffer[offset:offset + nbytes]
        cmd.underflow = nr_blocks << SECTOR_SHIFT
        cmd.allowed = self.max_retries
        cmd.timeout_s = sdp.timeout_s
        return BlkStatus.OK

    def _done(self, rq: ScsiRequest, sector: int) -> int:
        """sd_done(): the bytes of the command that completed well."""
        cmd = rq.cmd
        result = cmd.result
        good_bytes = 0 if result else cmd.bufflen
        size = self.device.sector_size
        if cmd.resid & (size - 1):
            self.printk(Level.INFO, f"Unaligned partial completion (resid={cmd.resid}, "
                                    f"sector_sz={size})")
            scsi_print_command(rq)
            cmd.resid = min(cmd.bufflen, -(-cmd.resid // size) * size)
        sense = Sense.parse(cmd.sense_buffer) if result else None
        self.medium_access_timed_out = 0
        if not scsi_status_is_check_condition(result) and (sense is None or sense.deferred):
            return good_bytes
        key = sense.key if sense is not None else SenseKey.NO_SENSE
        if key in (SenseKey.HARDWARE_ERROR, SenseKey.MEDIUM_ERROR):
            return self._completed_bytes(cmd, sense, sector)
        if key == SenseKey.RECOVERED_ERROR:
            return cmd.bufflen
        if key == SenseKey.NO_SENSE:
            cmd.result = 0
            cmd.sense_buffer[:] = bytes(len(cmd.sense_buffer))
        elif sense is not None and sense.asc == 0x10 and \
                key in (SenseKey.ABORTED_COMMAND, SenseKey.ILLEGAL_REQUEST):
            return self._completed_bytes(cmd, sense, sector)
        return good_bytes

    def _completed_bytes(self, cmd: ScsiCmnd, sense: Sense | None, sector: int) -> int:
        """sd_completed_bytes(): the blocks before the bad one the sense names."""
        size = self.device.sector_size
        if cmd.bufflen <= size or sense is None or sense.information is None:
            return 0
        start = sector // (size >> SECTOR_SHIFT)
        end = start + cmd.bufflen // size
        bad = sense.information
        if not start <= bad < end:
            return 0
        return min((bad - start) * size, cmd.bufflen - cmd.resid)

    async def _flush(self, rq: ScsiRequest) -> BlkStatus:
        """sd_setup_flush_cmnd(): SYNCHRONIZE CACHE of the whole unit (none needed
        without a write cache)."""
        if not self.WCE:
            return BlkStatus.OK
        if not scsi_device_state_check(rq):
            return BlkStatus.IOERR
        sdp = self.device
        cmd = rq.cmd
        cmd.cmnd = bytes([Opcode.SYNCHRONIZE_CACHE_16]) + bytes(15) if sdp.use_16_for_sync \
            else bytes([Opcode.SYNCHRONIZE_CACHE]) + bytes(9)
        cmd.timeout_s = sdp.timeout_s * SD_FLUSH_TIMEOUT_MULTIPLIER
        while True:
            await scsi_execute_rq(rq)
            completion = scsi_io_completion(rq, self._done(rq, 0),
                                            asyncio.get_running_loop().time())
            if completion.action is IoAction.DONE:
                return completion.status
            if completion.action is IoAction.DELAYED_RETRY:
                await asyncio.sleep(SCSI_QUEUE_DELAY_S)

    # -- block device operations (sd_open, sd_release, sd_check_events) -----------------------

    async def check_events(self) -> bool:
        """sd_check_events(): TEST UNIT READY tells whether the medium is there and was
        changed; True when it changed (either way) since last asked.  Context: may
        sleep."""
        sdp = self.device
        if not scsi_device_online(sdp):
            self.set_media_not_present()
        elif await scsi_block_when_processing_errors(sdp):
            res = await scsi_test_unit_ready(sdp, SD_TIMEOUT_S, self.max_retries)
            if res.result < 0 or host_byte(res.result):
                self.set_media_not_present()
            elif not self.media_not_present(res.sense):
                if not self.media_present:
                    sdp.changed = True
                self.media_present = True
        changed, sdp.changed = sdp.changed, False
        return changed

    async def _need_revalidate(self) -> bool:
        """sd_need_revalidate(): a medium change of a removable or write-protected disk,
        or a partition rescan due."""
        if (self.device.removable or self.write_prot) and await self.check_events():
            disk_force_media_change(self.disk)
            return True
        return self.disk.need_part_scan

    async def open(self, disk: Gendisk, mode: BlkOpen) -> int:
        """sd_open(): 0, -ENXIO (unit gone or offline), -ENOMEDIUM (empty removable
        drive, unless opened O_NDELAY), -EROFS (writing a write-protected disk); the first
        opener of a removable unit locks its door.  Context: may sleep."""
        sdev = self.device
        if sdev.sdev_state in (SdevState.DEL, SdevState.CANCEL):
            return -Errno.ENXIO
        if not await scsi_block_when_processing_errors(sdev):
            return -Errno.ENXIO
        if await self._need_revalidate():
            await self.revalidate()
        if sdev.removable and not self.media_present and not mode & BlkOpen.NDELAY:
            return -Errno.ENOMEDIUM
        if self.write_prot and mode & BlkOpen.WRITE:
            return -Errno.EROFS
        if not scsi_device_online(sdev):
            return -Errno.ENXIO
        self.openers += 1
        if self.openers == 1 and sdev.removable and \
                await scsi_block_when_processing_errors(sdev):
            await scsi_set_medium_removal(sdev, True)
        return 0

    async def release(self, disk: Gendisk) -> None:
        """sd_release(): the last closer of a removable unit unlocks its door.  Context:
        may sleep."""
        sdev = self.device
        self.openers -= 1
        if self.openers == 0 and sdev.removable and \
                await scsi_block_when_processing_errors(sdev):
            await scsi_set_medium_removal(sdev, False)

    # -- going away (sd_shutdown, sd_sync_cache) ----------------------------------------------

    async def sync_cache(self) -> int:
        """sd_sync_cache(): SYNCHRONIZE CACHE of the whole unit, allowed while the unit is
        being removed; 0, or -ENODEV, -EBUSY, -EIO.  Context: may sleep."""
        sdp = self.device
        if not scsi_device_online(sdp):
            return -Errno.ENODEV
        opcode = Opcode.SYNCHRONIZE_CACHE_16 if sdp.use_16_for_sync else Opcode.SYNCHRONIZE_CACHE
        cdb = bytes([opcode]) + bytes(15 if sdp.use_16_for_sync else 9)
        failures = ScsiFailures([ScsiFailure(SCMD_FAILURE_RESULT_ANY, allowed=3),
                                 ScsiFailure(0)])
        res = await scsi_execute_cmd(sdp, cdb, timeout=sdp.timeout_s *
                                     SD_FLUSH_TIMEOUT_MULTIPLIER, retries=self.max_retries,
                                     failures=failures, pm=True)
        if not res.result:
            return 0
        self.print_result("Synchronize Cache(10) failed", res.result)
        sense = res.sense
        if scsi_status_is_check_condition(res.result) and sense is not None:
            self.print_sense_hdr(sense)
            if sense.asc in (0x3A, 0x20) or (sense.asc, sense.ascq) == (0x74, 0x71):
                return 0
        hb = host_byte(res.result)
        if hb in (HostByte.DID_BAD_TARGET, HostByte.DID_NO_CONNECT):
            return 0
        if hb in (HostByte.DID_BUS_BUSY, HostByte.DID_IMM_RETRY, HostByte.DID_REQUEUE,
                  HostByte.DID_SOFT_ERROR):
            return -Errno.EBUSY
        return -Errno.EIO

    async def shutdown(self) -> None:
        """sd_shutdown(): "Synchronizing SCSI cache" and a flush of a write cache
        before the unit goes.  Context: may sleep."""
        if self.WCE and self.media_present:
            self.printk(Level.NOTICE, "Synchronizing SCSI cache")
            await self.sync_cache()


def _supports_vpd(sdev: ScsiDevice) -> bool:
    """scsi_device_supports_vpd(): SPC-2 and later units not told to skip VPD pages."""
    if sdev.try_vpd_pages:
        return True
    return sdev.scsi_level >= ScsiLevel.SPC_2 and not sdev.skip_vpd_pages


async def _vpd_inquiry(sdev: ScsiDevice, buffer: bytearray, page: int) -> int:
    """scsi_vpd_inquiry(): INQUIRY with EVPD; the page length + 4, or -EIO."""
    length = len(buffer)
    cdb = bytes([Opcode.INQUIRY, 1, page, length >> 8, length & 0xFF, 0])
    res = await scsi_execute_cmd(sdev, cdb, DataDirection.FROM_DEVICE, buffer, 30.0, 3)
    if res.result or buffer[1] != page:
        return -Errno.EIO
    size = int.from_bytes(buffer[2:4], "big")
    return size + 4 if size else -Errno.EIO


async def scsi_get_vpd_page(sdev: ScsiDevice, page: int, buffer: bytearray) -> int:
    """scsi_get_vpd_page(): the VPD page into `buffer` when the unit lists it in page
    00h; 0 or -EINVAL.  Context: may sleep."""
    if sdev.skip_vpd_pages or len(buffer) < 4:
        return -Errno.EINVAL
    listed = await _vpd_inquiry(sdev, buffer, 0)
    if listed < 4:
        return -Errno.EINVAL
    if page == 0:
        return 0
    pages = buffer[4:min(listed, len(buffer))]
    if page not in pages and not (listed > len(buffer)):
        return -Errno.EINVAL
    return 0 if await _vpd_inquiry(sdev, buffer, page) >= 0 else -Errno.EINVAL


# -- the driver ----------------------------------------------------------------------------------


class SdDriver(ScsiDriver):
    """sd_template: the "sd" driver of one machine, with its disk index allocator and
    the scsi_disk class.  Context: probe and remove may sleep."""

    def __init__(self, core: ScsiCore) -> None:
        super().__init__("sd")
        self.scsi = core
        self.index = Ida()
        self.disk_class = DeviceClass("scsi_disk")

    async def probe(self, sdev: ScsiDevice) -> int:
        """sd_probe(): a disk for a direct-access unit; -ENODEV for other types.  Context:
        may sleep."""
        if sdev.type not in _SD_TYPES:
            return -Errno.ENODEV
        index = self.index.alloc()
        sdkp = ScsiDisk(self, sdev, index)
        sdev.ioerr_cnt = 0
        sdkp.disk_dev = ScsiClassDevice(self.disk_class, sdev, sdev.name, sdkp,
                                        SCSI_DISK_ATTRS)
        try:
            await self.scsi.classes.device_register(sdkp.disk_dev)
        except OSError as exc:
            self.index.free(index)
            return -(exc.errno or Errno.EIO)
        sdev.driver_data = sdkp
        sdev.sector_size = 512
        await sdkp.revalidate()
        if sdev.removable:
            sdkp.disk.removable = True
            sdkp.disk.events |= DiskEvent.MEDIA_CHANGE
        error = await add_disk(sdkp.disk, sdev)
        if error:
            await self.scsi.classes.device_unregister(sdkp.disk_dev)
            self.index.free(index)
            sdev.driver_data = None
            return error
        sdkp.printk(Level.NOTICE, f"Attached SCSI {'removable ' if sdev.removable else ''}disk")
        return 0

    async def remove(self, sdev: ScsiDevice) -> None:
        """sd_remove(): the scsi_disk class device and the disk go, then the cache is
        flushed if it is a write-back one.  Context: may sleep."""
        sdkp = sdev.driver_data
        if not isinstance(sdkp, ScsiDisk):
            return
        if sdkp.disk_dev is not None:
            await self.scsi.classes.device_unregister(sdkp.disk_dev)
        await del_gendisk(sdkp.disk)
        await sdkp.shutdown()
        self.index.free(sdkp.index)

    async def rescan(self, sdev: ScsiDevice) -> None:
        """sd_rescan(): revalidate the disk.  Context: may sleep."""
        sdkp = sdev.driver_data
        if isinstance(sdkp, ScsiDisk):
            await sdkp.revalidate()

    def eh_reset(self, rq: ScsiRequest) -> None:
        """sd_eh_reset(): a new error-handler run counts medium-access timeouts anew.
        Context: atomic."""
        sdkp = rq.cmd.device.driver_data
        if isinstance(sdkp, ScsiDisk):
            sdkp.ignore_medium_access_errors = False

    def eh_action(self, rq: ScsiRequest, disposition: Disposition) -> Disposition:
        """sd_eh_action(): a unit that keeps timing out on medium access although TEST
        UNIT READY works goes offline after max_medium_access_timeouts ("Medium access
        timeout failure. Offlining disk!").  Context: atomic."""
        cmd = rq.cmd
        sdev = cmd.device
        sdkp = sdev.driver_data
        if not isinstance(sdkp, ScsiDisk) or not scsi_device_online(sdev) or \
                cmd.cmnd[0] not in _MEDIUM_ACCESS or \
                host_byte(cmd.result) != HostByte.DID_TIME_OUT or \
                disposition is not Disposition.SUCCESS:
            return disposition
        if not sdkp.ignore_medium_access_errors:
            sdkp.medium_access_timed_out += 1
            sdkp.ignore_medium_access_errors = True
        if sdkp.medium_access_timed_out >= sdkp.max_medium_access_timeouts:
            scmd_printk(Level.ERR, rq, "Medium access timeout failure. Offlining disk!")
            scsi_device_set_state(sdev, SdevState.OFFLINE)
            return Disposition.SUCCESS
        return disposition


async def init_sd(core: ScsiCore) -> None:
    """init_sd(): the scsi_disk class and the "sd" driver on the scsi bus (which binds
    the units already there).  Raises OSError(EBUSY) when sd is registered already.
    Context: may sleep."""
    if core.bus.find_driver("sd") is not None:
        raise OSError(Errno.EBUSY, "sd is registered already")
    driver = SdDriver(core)
    core.classes.class_register(driver.disk_class)
    await scsi_register_driver(core, driver)


async def exit_sd(core: ScsiCore) -> None:
    """exit_sd(): the driver leaves (its disks are removed) and its class goes.
    Context: may sleep."""
    driver = core.bus.find_driver("sd")
    if isinstance(driver, SdDriver):
        await scsi_unregister_driver(core, driver)
        core.classes.class_unregister(driver.disk_class)


# -- /sys/class/scsi_disk/H:C:T:L (sd_disk_attrs) -------------------------------------------------


def _show_cache_type(sdkp: ScsiDisk) -> str:
    return SD_CACHE_TYPES[int(sdkp.RCD) + 2 * int(sdkp.WCE)] + "\n"


async def _store_cache_type(sdkp: ScsiDisk, data: bytes) -> int:
    """cache_type_store(): "temporary <type>" overrides what the unit said; writing the
    unit's own caching page (MODE SELECT) is not offered (-EINVAL)."""
    text = data.decode("latin-1")
    if sdkp.device.type not in (DeviceType.DISK, DeviceType.ZBC):
        return -Errno.EINVAL
    temporary = text.startswith("temporary ")
    text = text.removeprefix("temporary ").removesuffix("\n")
    if not temporary or text not in SD_CACHE_TYPES:
        return -Errno.EINVAL
    ct = SD_CACHE_TYPES.index(text)
    sdkp.cache_override = True
    sdkp.RCD = bool(ct & 1)
    sdkp.WCE = bool(ct & 2) and not sdkp.write_prot
    sdkp.queue.write_cache = sdkp.WCE
    return len(data)


def _int_store(setter: Callable[[ScsiDisk, int], bool]) -> \
        Callable[[ScsiDisk, bytes], Awaitable[int]]:
    """A store of one decimal number that `setter` accepts or refuses (-EINVAL)."""
    async def store(sdkp: ScsiDisk, data: bytes) -> int:
        value = scan_int(data)
        if value is None or not setter(sdkp, value):
            return -Errno.EINVAL
        return len(data)
    return store


def _set_max_retries(sdkp: ScsiDisk, value: int) -> bool:
    if value < -1 or value > SD_MAX_RETRIES:
        sdkp.device.host.core.log.dev(Level.ERR, sdkp.device, f"max_retries must be "
                                                              f"between -1 and {SD_MAX_RETRIES}")
        return False
    sdkp.max_retries = value
    return True


def _set_max_medium_access_timeouts(sdkp: ScsiDisk, value: int) -> bool:
    if value < 0:
        return False
    sdkp.max_medium_access_timeouts = value
    return True


SCSI_DISK_ATTRS: Final[tuple[SysAttr[ScsiDisk], ...]] = (
    SysAttr("cache_type", _show_cache_type, _store_cache_type, 0o644),
    ro("FUA", lambda s: f"{int(s.DPOFUA)}\n"),
    ro("allow_restart", lambda s: f"{int(s.device.allow_restart)}\n"),
    ro("manage_start_stop", lambda s: f"{int(s.device.manage_start_stop)}\n"),
    ro("protection_type", lambda s: f"{s.protection_type}\n"),
    ro("protection_mode", lambda s: "none\n"),
    ro("app_tag_own", lambda s: f"{int(s.ATO)}\n"),
    ro("thin_provisioning", lambda s: f"{int(s.lbpme)}\n"),
    ro("provisioning_mode", lambda s: "full\n"),
    ro("zeroing_mode", lambda s: "write\n"),
    ro("max_write_same_blocks", lambda s: "0\n"),
    SysAttr("max_medium_access_timeouts", lambda s: f"{s.max_medium_access_timeouts}\n",
            _int_store(_set_max_medium_access_timeouts), 0o644),
    ro("zoned_cap", lambda s: "none\n"),
    SysAttr("max_retries", lambda s: f"{s.max_retries}\n", _int_store(_set_max_retries),
            0o644),
)
"""The files of /sys/class/scsi_disk/H:C:T:L besides uevent (sd_disk_attrs)."""

