"""SCSI hosts — counterpart of drivers/scsi/hosts.c and the host attributes of
scsi_sysfs.c.

A low-level driver gets a `ScsiHost` from `scsi_host_alloc(template, hostdata, core)`:
the next free host number ("host0", "host1" … as the kernel's ida hands them out), the
template's limits (can_queue, cmd_per_lun, max_sectors, this_id) and the kernel's
defaults (max_channel 0, max_id 8, max_lun 8, max_cmd_len 12) for the driver to adjust.
`core` is the machine's `ScsiCore` (kernel/scsi/scsi.py): `System.scsi`, or
`scsi_core_of()` from code running on the machine — the same way drivers reach the tty
layer with `tty_core_of()`; None means `scsi_core_of()`.  `scsi_add_host(shost, parent)`
logs "scsi host0: <template.info()>", registers the host as device "host0" on the scsi
bus under `parent` (the USB interface) and its /sys/class/scsi_host/host0 directory
(proc_name, can_queue, state, scan …), and moves it to SHOST_RUNNING.
`scsi_remove_host` cancels it, removes its logical units (their drivers' remove first)
and takes it out of sysfs; `scsi_host_put` gives its number back.

The host state machine (`ShostState`, `scsi_host_set_state`) is hosts.c's table.  Not
modelled: transport classes, DMA devices, the eh_deadline parameter (always "off"),
runtime PM, the tag set.
"""

from __future__ import annotations

import asyncio
from collections import deque
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ...errors import Errno
from ..device import Device
from ..printk import Level
from ..sysfs import SysAttr, ro
from .scsi import ScsiCore, scsi_core_of
from .scsi_cmnd import ScsiHostTemplate
from .scsi_error import ScsiErrorHandler
from .scsi_sysfs import ScsiClassDevice

if TYPE_CHECKING:
    from .scsi_device import ScsiDevice, ScsiTarget

__all__ = [
    "SCSI_DEFAULT_HOST_BLOCKED",
    "SCSI_DEFAULT_MAX_SECTORS",
    "SG_ALL",
    "SHOST_ATTRS",
    "ScsiHost",
    "ShostState",
    "scsi_add_host",
    "scsi_host_alloc",
    "scsi_host_in_recovery",
    "scsi_host_put",
    "scsi_host_scan_allowed",
    "scsi_host_set_state",
    "scsi_remove_host",
]

#: max_host_blocked when the template sets none.
SCSI_DEFAULT_HOST_BLOCKED: Final = 7
#: shost->max_sectors when the template sets none.
SCSI_DEFAULT_MAX_SECTORS: Final = 1024
#: sg_tablesize of a host without a scatter-gather limit (SG_CHUNK_SIZE).
SG_ALL: Final = 128


class ShostState(Enum):
    """enum scsi_host_state, valued as /sys/class/scsi_host/hostN/state shows it."""

    CREATED = "created"
    RUNNING = "running"
    CANCEL = "cancel"
    DEL = "deleted"
    RECOVERY = "recovery"
    CANCEL_RECOVERY = "cancel/recovery"
    DEL_RECOVERY = "deleted/recovery"


_H = ShostState
#: scsi_host_set_state(): the states a host may come from, by the state it goes to.
SHOST_TRANSITIONS: Final[dict[ShostState, frozenset[ShostState]]] = {
    _H.CREATED: frozenset(),
    _H.RUNNING: frozenset({_H.CREATED, _H.RECOVERY}),
    _H.RECOVERY: frozenset({_H.RUNNING}),
    _H.CANCEL: frozenset({_H.CREATED, _H.RUNNING, _H.CANCEL_RECOVERY}),
    _H.DEL: frozenset({_H.CANCEL, _H.DEL_RECOVERY}),
    _H.CANCEL_RECOVERY: frozenset({_H.CANCEL, _H.RECOVERY}),
    _H.DEL_RECOVERY: frozenset({_H.CANCEL_RECOVERY}),
}

_RECOVERY_STATES: Final = frozenset({_H.RECOVERY, _H.CANCEL_RECOVERY, _H.DEL_RECOVERY})


class ScsiHost(Device):
    """struct Scsi_Host: "host<N>" on the scsi bus.  `hostdata` is the low-level driver's
    (usb-storage's us_data); the limits below are its to adjust between scsi_host_alloc
    and scsi_add_host.  `host_busy` counts the commands the driver holds or the error
    handler works on, `host_failed` those waiting for the error handler."""

    devtype: ClassVar[str] = "scsi_host"

    def __init__(self, core: ScsiCore, hostt: ScsiHostTemplate, hostdata: Any,
                 host_no: int) -> None:
        super().__init__(f"host{host_no}", None, core.bus)
        self.core = core
        self.hostt = hostt
        self.hostdata = hostdata
        self.host_no = host_no
        self.shost_state = ShostState.CREATED
        self.max_channel = 0
        self.max_id = 8
        self.max_lun = 8
        self.max_cmd_len = 12
        self.this_id = hostt.this_id
        self.can_queue = hostt.can_queue
        self.cmd_per_lun = hostt.cmd_per_lun
        self.max_sectors = hostt.max_sectors or SCSI_DEFAULT_MAX_SECTORS
        self.sg_tablesize = SG_ALL
        self.unique_id = 0
        self.no_scsi2_lun_in_cdb = False
        self.no_write_same = False
        self.short_inquiry = False
        self.reverse_ordering = False
        #: A scan is under way whose units become visible when it ends (scan=async).
        self.async_scan = False
        self.max_host_blocked = SCSI_DEFAULT_HOST_BLOCKED
        self.host_blocked = 0
        self.host_busy = 0
        self.host_failed = 0
        self.targets: list[ScsiTarget] = []
        self.devices: list[ScsiDevice] = []
        self.scan_mutex = asyncio.Lock()
        #: Commands waiting for the host to take them (the blk-mq dispatch list), FIFO:
        #: each waiter's unit and the future `scsi_run_host_queues` resolves (True: a
        #: slot is taken for it; False: look at the unit's state again).
        self.dispatch_waiters: deque[tuple[ScsiDevice, asyncio.Future[bool]]] = deque()
        #: The tags of the commands the driver holds (blk-mq's tag numbers, from 0).
        self.busy_tags: set[int] = set()
        self.shost_dev: ScsiClassDevice | None = None
        self.eh = ScsiErrorHandler(self)
        self.released = False

    def __repr__(self) -> str:
        return f"<ScsiHost {self.name} {self.hostt.name} {self.shost_state.value}>"

    @property
    def shost_gendev(self) -> ScsiHost:
        """The host's device on the scsi bus (struct device shost_gendev): itself."""
        return self


def scsi_host_set_state(shost: ScsiHost, state: ShostState) -> int:
    """scsi_host_set_state(): move `shost` to `state` when SHOST_TRANSITIONS allows it;
    0 (also when it is in `state` already), or -EINVAL and the state stays.  Context:
    atomic."""
    if shost.shost_state is state:
        return 0
    if shost.shost_state not in SHOST_TRANSITIONS[state]:
        return -Errno.EINVAL
    shost.shost_state = state
    return 0


def scsi_host_in_recovery(shost: ScsiHost) -> bool:
    """scsi_host_in_recovery(): the error handler owns the host.  Context: atomic."""
    return shost.shost_state in _RECOVERY_STATES


def scsi_host_scan_allowed(shost: ScsiHost) -> bool:
    """scsi_host_scan_allowed(): running or recovering.  Context: atomic."""
    return shost.shost_state in (ShostState.RUNNING, ShostState.RECOVERY)


def scsi_host_alloc(template: ScsiHostTemplate, hostdata: Any = None,
                    core: ScsiCore | None = None) -> ScsiHost:
    """scsi_host_alloc(): a new host of `template` with the lowest free host number, in
    SHOST_CREATED, not yet in sysfs.  `core` defaults to the running machine's
    (`scsi_core_of`).  Raises TypeError for a template that is not a ScsiHostTemplate,
    RuntimeError outside a machine.  Context: atomic."""
    if not isinstance(template, ScsiHostTemplate):
        raise TypeError(f"scsi_host_alloc needs a ScsiHostTemplate, not {template!r}")
    core = core if core is not None else scsi_core_of()
    return ScsiHost(core, template, hostdata, core.host_index.alloc())


def shost_printk(level: Level, shost: ScsiHost, text: str) -> None:
    """shost_printk(): "scsi host0: text".  Context: atomic."""
    shost.core.log.dev(level, shost, text)


async def scsi_add_host(shost: ScsiHost, parent: Device) -> int:
    """scsi_add_host(): "scsi host0: <info>", the host device under `parent`, its
    scsi_host class device, SHOST_RUNNING.  0, or -EINVAL for a host that takes no
    commands (can_queue 0) or another -errno.  Context: may sleep."""
    core = shost.core
    await core.init()
    shost_printk(Level.INFO, shost, shost.hostt.info(shost))
    if shost.can_queue <= 0:
        shost_printk(Level.ERR, shost, "can_queue = 0 no longer supported")
        return -Errno.EINVAL
    shost.cmd_per_lun = min(shost.cmd_per_lun, shost.can_queue)
    shost.parent = parent
    await core.driver_core.device_add(shost)
    scsi_host_set_state(shost, ShostState.RUNNING)
    shost.shost_dev = ScsiClassDevice(core.shost_class, shost, shost.name, shost,
                                      SHOST_ATTRS)
    try:
        await core.classes.device_register(shost.shost_dev)
    except OSError as exc:
        await core.driver_core.device_del(shost)
        return -(exc.errno or Errno.EIO)
    return 0


async def scsi_remove_host(shost: ScsiHost) -> None:
    """scsi_remove_host(): SHOST_CANCEL (or CANCEL_RECOVERY while the error handler
    runs), every logical unit removed (scsi_forget_host, under the scan mutex so a scan
    finishes first), then SHOST_DEL and the host leaves sysfs.  A host already cancelled
    is left alone.  Context: may sleep."""
    from .scsi_scan import scsi_forget_host

    async with shost.scan_mutex:
        if scsi_host_set_state(shost, ShostState.CANCEL) and \
                scsi_host_set_state(shost, ShostState.CANCEL_RECOVERY):
            return
        await scsi_forget_host(shost)
    if scsi_host_set_state(shost, ShostState.DEL):
        scsi_host_set_state(shost, ShostState.DEL_RECOVERY)
    core = shost.core
    if shost.shost_dev is not None:
        await core.classes.device_unregister(shost.shost_dev)
    await core.driver_core.device_del(shost)


def scsi_host_put(shost: ScsiHost) -> None:
    """scsi_host_put(): the low-level driver lets go of the host; its number is free
    again (the last reference, as usb-storage's release path drops it).  Context:
    atomic."""
    if not shost.released:
        shost.released = True
        shost.core.host_index.free(shost.host_no)


# -- /sys/class/scsi_host/hostN (scsi_sysfs_shost_attrs) -----------------------------------------


async def _store_scan(shost: ScsiHost, data: bytes) -> int:
    """store_scan(): "CHANNEL ID LUN", each a number or "-" for all."""
    from .scsi_scan import SCAN_WILD_CARD, ScanMode, scsi_scan_host_selected

    fields = data.decode("latin-1").split()
    if len(fields) != 3:
        return -Errno.EINVAL
    try:
        channel, id_, lun = (SCAN_WILD_CARD if f == "-" else int(f, 0) for f in fields)
    except ValueError:
        return -Errno.EINVAL
    result = await scsi_scan_host_selected(shost, channel, id_, lun, ScanMode.MANUAL)
    return result if result < 0 else len(data)


async def _store_host_reset(shost: ScsiHost, data: bytes) -> int:
    """store_host_reset(): the template has no host_reset operation here."""
    return -Errno.EOPNOTSUPP


SHOST_ATTRS: Final[tuple[SysAttr[ScsiHost], ...]] = (
    ro("use_blk_mq", lambda h: "1\n"),
    ro("unique_id", lambda h: f"{h.unique_id}\n"),
    ro("host_busy", lambda h: f"{h.host_busy}\n"),
    ro("cmd_per_lun", lambda h: f"{h.cmd_per_lun}\n"),
    ro("can_queue", lambda h: f"{h.can_queue}\n"),
    ro("sg_tablesize", lambda h: f"{h.sg_tablesize}\n"),
    ro("sg_prot_tablesize", lambda h: "0\n"),
    ro("proc_name", lambda h: f"{h.hostt.proc_name}\n"),
    SysAttr("scan", None, _store_scan, 0o200),
    ro("state", lambda h: f"{h.shost_state.value}\n"),
    ro("supported_mode", lambda h: "Initiator\n"),
    ro("active_mode", lambda h: "Initiator\n"),
    ro("prot_capabilities", lambda h: "0\n"),
    ro("prot_guard_type", lambda h: "0\n"),
    SysAttr("host_reset", None, _store_host_reset, 0o200),
    ro("eh_deadline", lambda h: "off\n"),
    ro("nr_hw_queues", lambda h: "1\n"),
)
"""The files of /sys/class/scsi_host/hostN besides uevent (scsi_sysfs_shost_attrs)."""
