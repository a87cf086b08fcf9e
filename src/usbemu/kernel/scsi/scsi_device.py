"""SCSI targets and logical units — counterpart of Linux's include/scsi/scsi_device.h and
include/scsi/scsi_driver.h, with the state machines of scsi_lib.c
(scsi_device_set_state) and scsi_scan.c (the target states).

A `ScsiTarget` ("target0:0:0") is a device on the scsi bus under its host; a `ScsiDevice`
("0:0:0:0") is a logical unit under its target, with what INQUIRY said of it (vendor,
model, revision, type, removable, SCSI level), the flags its low-level driver and the
blacklist set (MODE SENSE and READ CAPACITY variants, restart, last-sector handling), its
queue depth and I/O counters.  A `ScsiDriver` is an upper-level driver on the scsi bus
(sd).  Scanning, sysfs and command execution are in the sibling modules; this module
holds the objects and their state transitions only.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ...errors import Errno
from ..device import Device, Driver
from .constants import Blist, Disposition, ScsiLevel

if TYPE_CHECKING:
    from .hosts import ScsiHost
    from .scsi_lib import ScsiRequest
    from .scsi_sysfs import ScsiClassDevice

__all__ = [
    "SCSI_DEFAULT_DEVICE_BLOCKED",
    "SCSI_DEFAULT_EH_TIMEOUT_S",
    "SCSI_DEFAULT_TIMEOUT_S",
    "ScsiDevice",
    "ScsiDriver",
    "ScsiTarget",
    "SdevState",
    "StargetState",
    "scsi_device_online",
    "scsi_device_set_state",
]

#: max_device_blocked: dispatch attempts a busy device sits out (scsi_device.h).
SCSI_DEFAULT_DEVICE_BLOCKED: Final = 3
#: sdev->eh_timeout: the error handler's own commands (TEST UNIT READY …), 10 s.
SCSI_DEFAULT_EH_TIMEOUT_S: Final = 10.0
#: The request timeout of a SCSI queue (blk-mq's 30 s; sd keeps it).
SCSI_DEFAULT_TIMEOUT_S: Final = 30.0


class SdevState(Enum):
    """enum scsi_device_state, valued as the `state` attribute shows it."""

    CREATED = "created"
    RUNNING = "running"
    CANCEL = "cancel"
    DEL = "deleted"
    QUIESCE = "quiesce"
    OFFLINE = "offline"
    TRANSPORT_OFFLINE = "transport-offline"
    BLOCK = "blocked"
    CREATED_BLOCK = "created-blocked"


_S = SdevState
#: scsi_device_set_state(): the states a device may come from, by the state it goes to.
SDEV_TRANSITIONS: Final[dict[SdevState, frozenset[SdevState]]] = {
    _S.CREATED: frozenset({_S.CREATED_BLOCK}),
    _S.RUNNING: frozenset({_S.CREATED, _S.OFFLINE, _S.TRANSPORT_OFFLINE, _S.QUIESCE,
                           _S.BLOCK}),
    _S.QUIESCE: frozenset({_S.RUNNING, _S.OFFLINE, _S.TRANSPORT_OFFLINE}),
    _S.OFFLINE: frozenset({_S.CREATED, _S.RUNNING, _S.QUIESCE, _S.BLOCK}),
    _S.TRANSPORT_OFFLINE: frozenset({_S.CREATED, _S.RUNNING, _S.QUIESCE, _S.BLOCK}),
    _S.BLOCK: frozenset({_S.RUNNING, _S.CREATED_BLOCK}),
    _S.CREATED_BLOCK: frozenset({_S.CREATED}),
    _S.CANCEL: frozenset({_S.CREATED, _S.RUNNING, _S.QUIESCE, _S.OFFLINE,
                          _S.TRANSPORT_OFFLINE}),
    _S.DEL: frozenset({_S.CREATED, _S.RUNNING, _S.OFFLINE, _S.TRANSPORT_OFFLINE,
                       _S.CANCEL, _S.BLOCK, _S.CREATED_BLOCK}),
}


class StargetState(Enum):
    """enum scsi_target_state."""

    CREATED = "created"
    RUNNING = "running"
    REMOVE = "remove"
    CREATED_REMOVE = "created-remove"
    DEL = "deleted"


class ScsiTarget(Device):
    """struct scsi_target: "target<host>:<channel>:<id>" on the scsi bus below its host.
    `reap_ref` counts the scans and devices holding it; when it drops to zero the target
    leaves sysfs (scsi_target_reap)."""

    devtype: ClassVar[str] = "scsi_target"

    def __init__(self, host: ScsiHost, channel: int, id: int) -> None:
        super().__init__(f"target{host.host_no}:{channel}:{id}", host, host.bus)
        self.host = host
        self.channel = channel
        self.id = id
        self.state = StargetState.CREATED
        self.scsi_level = ScsiLevel.SCSI_2.value
        self.devices: list[ScsiDevice] = []
        self.reap_ref = 1
        #: The low-level driver asks for a sequential scan instead of REPORT LUNS.
        self.no_report_luns = False
        #: Peripheral device type 0x1f alone means "no LUN" (UFI devices).
        self.pdt_1f_for_no_lun = False
        self.single_lun = False
        self.expecting_lun_change = False
        self.hostdata: Any = None


class ScsiDevice(Device):
    """struct scsi_device: one logical unit, "<host>:<channel>:<id>:<lun>" on the scsi
    bus below its target.  The flags are the low-level driver's to set in slave_alloc /
    slave_configure (usb-storage sets use_192_bytes_for_3f, skip_ms_page_8, allow_restart,
    last_sector_bug, try_rc_10_first …); `max_hw_sectors` is the queue limit it may
    lower."""

    devtype: ClassVar[str] = "scsi_device"

    def __init__(self, target: ScsiTarget, lun: int, hostdata: Any = None) -> None:
        host = target.host
        super().__init__(f"{host.host_no}:{target.channel}:{target.id}:{lun}", target,
                         host.bus)
        self.host: ScsiHost = host
        self.sdev_target: ScsiTarget = target
        self.channel: int = target.channel
        self.id: int = target.id
        self.lun: int = lun
        self.hostdata: Any = hostdata
        self.sdev_state: SdevState = SdevState.CREATED
        self.offline_already: bool = False
        self.is_visible: bool = False
        #: The sdev_dev class device (/sys/class/scsi_device/H:C:T:L), once visible.
        self.sdev_dev: ScsiClassDevice | None = None
        # what INQUIRY said (scsi_add_lun)
        self.inquiry: bytes = b""
        self.inquiry_len: int = 0
        self.vendor: str = "nullnull"
        self.model: str = "nullnullnullnull"
        self.rev: str = "null"
        self.type: int = -1
        self.scsi_level: int = ScsiLevel.UNKNOWN.value
        self.inq_periph_qual: int = 0
        self.removable: bool = False
        self.lockable: bool = False
        self.locked: bool = False
        self.soft_reset: bool = False
        self.tagged_supported: bool = False
        self.simple_tags: bool = False
        self.borken: bool = True
        self.lun_in_cdb: bool = False
        self.sdev_bflags: Blist = Blist(0)
        # the queue (scsi_alloc_sdev, scsi_change_queue_depth)
        self.queue_depth: int = max(host.cmd_per_lun, 1)
        self.max_queue_depth: int = self.queue_depth
        self.device_busy: int = 0
        self.device_blocked: int = 0
        self.max_device_blocked: int = SCSI_DEFAULT_DEVICE_BLOCKED
        self.timeout_s: float = SCSI_DEFAULT_TIMEOUT_S
        self.eh_timeout_s: float = SCSI_DEFAULT_EH_TIMEOUT_S
        self.max_hw_sectors: int = host.max_sectors
        self.sector_size: int = 512
        # counters shown in sysfs
        self.iorequest_cnt: int = 0
        self.iodone_cnt: int = 0
        self.ioerr_cnt: int = 0
        self.iotmo_cnt: int = 0
        # error-handling state
        self.changed: bool = False
        self.was_reset: bool = False
        self.expecting_cc_ua: bool = False
        # flags of the low-level driver and the blacklist
        self.use_10_for_rw: bool = True
        self.use_10_for_ms: bool = False
        self.use_16_for_rw: bool = False
        self.use_16_for_sync: bool = False
        self.set_dbd_for_ms: bool = False
        self.skip_ms_page_8: bool = False
        self.skip_ms_page_3f: bool = False
        self.use_192_bytes_for_3f: bool = False
        self.no_start_on_add: bool = False
        self.allow_restart: bool = False
        self.start_stop_pwr_cond: bool = False
        self.no_uld_attach: bool = False
        self.retry_hwerror: bool = False
        self.fix_capacity: bool = False
        self.guess_capacity: bool = False
        self.no_read_capacity_16: bool = False
        self.try_rc_10_first: bool = False
        self.last_sector_bug: bool = False
        self.no_read_disc_info: bool = False
        self.no_write_same: bool = False
        self.no_report_opcodes: bool = False
        self.skip_vpd_pages: bool = False
        self.try_vpd_pages: bool = False
        self.wce_default_on: bool = False
        self.broken_fua: bool = False
        self.manage_start_stop: bool = False
        self.ignore_media_change: bool = False
        #: Read block 0 before MODE SENSE (USB bridges fill their mode pages then).
        self.read_before_ms: bool = False

    @property
    def sdev_gendev(self) -> ScsiDevice:
        """The device on the scsi bus (struct device sdev_gendev): the object itself."""
        return self


def scsi_device_online(sdev: ScsiDevice) -> bool:
    """scsi_device_online(): not offline and not deleted.  Context: atomic."""
    return sdev.sdev_state not in (SdevState.OFFLINE, SdevState.TRANSPORT_OFFLINE,
                                   SdevState.DEL)


def scsi_device_set_state(sdev: ScsiDevice, state: SdevState) -> int:
    """scsi_device_set_state(): move `sdev` to `state` when SDEV_TRANSITIONS allows it;
    0 (also when it is in `state` already), or -EINVAL and the state stays.  Context:
    atomic."""
    if sdev.sdev_state is state:
        return 0
    if sdev.sdev_state not in SDEV_TRANSITIONS[state]:
        return -Errno.EINVAL
    sdev.offline_already = False
    sdev.sdev_state = state
    return 0


class ScsiDriver(Driver):
    """struct scsi_driver: an upper-level driver on the scsi bus (sd).  `probe` returns 0
    or a negative errno (-ENODEV: not this driver's device type); the error-handling hooks
    see the commands the driver issued through the block layer."""

    async def probe(self, sdev: ScsiDevice) -> int:
        """Take `sdev`; 0 or -errno.  Context: may sleep."""
        return -Errno.ENODEV

    async def remove(self, sdev: ScsiDevice) -> None:
        """`sdev` is going away.  Context: may sleep."""

    async def rescan(self, sdev: ScsiDevice) -> None:
        """The `rescan` attribute was written: look at the device again.  Context: may
        sleep."""

    def eh_reset(self, rq: ScsiRequest) -> None:
        """The error handler starts on a command of this driver.  Context: atomic."""

    def eh_action(self, rq: ScsiRequest, disposition: Disposition) -> Disposition:
        """The error handler's verdict on a command of this driver after its TEST UNIT
        READY; the driver may change it.  Context: atomic."""
        return disposition
