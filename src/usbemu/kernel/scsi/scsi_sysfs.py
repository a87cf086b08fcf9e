"""The scsi bus and the sysfs of SCSI devices — counterpart of drivers/scsi/scsi_sysfs.c.

`ScsiBusType` is scsi_bus_type: hosts ("host0"), targets ("target0:0:0") and logical
units ("0:0:0:0") are its devices (/sys/bus/scsi/devices), only logical units meet
drivers (scsi_bus_match: a connected unit, peripheral qualifier 0, not marked
no_uld_attach), and a unit's uevent carries MODALIAS=scsi:t-0x%02x.  A unit's directory
holds scsi_sysfs.c's attributes (vendor, model, rev, type, scsi_level, state, timeout,
queue_depth, the I/O counters, inquiry, blacklist, modalias; delete, rescan, state and
timeout are writable) and its low-level driver's (`ScsiHostTemplate.sdev_attrs`).
`scsi_sysfs_add_sdev` makes a scanned unit visible (its target first, then the unit, whose
driver probes, then its scsi_device class device) and `scsi_remove_device` takes it away
(the driver's remove runs while the unit is in SDEV_CANCEL, so sd can still synchronize
the cache).  `ScsiClassDevice` is a class device without a device number, as
/sys/class/scsi_host/host0 and /sys/class/scsi_device/0:0:0:0 are.

Not modelled: the VPD page files (vpd_pg80 …), wwid, the device-handler attributes other
than dh_state, the power/ directories, bsg.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from ...errors import Errno
from ..devclass import ClassDevice, DeviceClass
from ..device import BusType, Device, Driver
from ..sysfs import DEVICE_ATTRS, SysAttr, attr_group, device_path, ro, scan_int, sysfs_of
from ..vfs import Node
from .constants import blist_names
from .scsi_device import (
    ScsiDevice,
    ScsiDriver,
    ScsiTarget,
    SdevState,
    StargetState,
    scsi_device_set_state,
)

if TYPE_CHECKING:
    from .scsi import ScsiCore

__all__ = [
    "SDEV_ATTRS",
    "ScsiBusType",
    "ScsiClassDevice",
    "scsi_register_driver",
    "scsi_remove_device",
    "scsi_remove_device_locked",
    "scsi_sysfs_add_sdev",
    "scsi_target_add",
    "scsi_target_reap",
    "scsi_unregister_driver",
]


class ScsiBusType(BusType):
    """scsi_bus_type.  Context: match and uevent are atomic; probe and remove may sleep."""

    def __init__(self, core: ScsiCore) -> None:
        super().__init__("scsi", core.driver_core)
        self.scsi = core

    def register(self) -> None:
        """bus_register() and the unit directories' attribute tables.  Context: atomic."""
        self.core.add_bus(self)
        sysfs = sysfs_of(self.core)
        if sysfs is not None:
            sysfs.register_device_dir(ScsiDevice, self._sdev_entries)

    def match(self, dev: Device, drv: Driver) -> bool:
        """scsi_bus_match(): a logical unit with peripheral qualifier 0 (connected), not
        kept from upper-level drivers."""
        return (isinstance(dev, ScsiDevice) and isinstance(drv, ScsiDriver)
                and not dev.no_uld_attach and dev.inq_periph_qual == 0)

    async def probe(self, dev: Device, drv: Driver) -> int:
        assert isinstance(dev, ScsiDevice) and isinstance(drv, ScsiDriver)
        return await drv.probe(dev)

    async def remove(self, dev: Device, drv: Driver) -> None:
        assert isinstance(dev, ScsiDevice) and isinstance(drv, ScsiDriver)
        await drv.remove(dev)

    def uevent(self, dev: Device) -> list[tuple[str, str]]:
        """scsi_bus_uevent(): MODALIAS for logical units only."""
        if isinstance(dev, ScsiDevice):
            return [("MODALIAS", _modalias(dev))]
        return []

    def _sdev_entries(self, sdev: ScsiDevice) -> dict[str, Node]:
        entries = attr_group(sdev, DEVICE_ATTRS)
        entries.update(attr_group(sdev, SDEV_ATTRS))
        entries.update(attr_group(sdev, sdev.host.hostt.sdev_attrs))
        sysfs = sysfs_of(self.core)
        if sysfs is not None:
            entries.update(sysfs.common(sdev, device_path(sdev)))
        return entries


async def scsi_register_driver(core: ScsiCore, drv: ScsiDriver) -> None:
    """scsi_register_driver(): `drv` joins the scsi bus and probes the units it matches.
    Raises OSError(EBUSY) for a name already registered.  Context: may sleep."""
    drv.bus = core.bus
    await core.driver_core.driver_register(drv)


async def scsi_unregister_driver(core: ScsiCore, drv: ScsiDriver) -> None:
    """driver_unregister() of an upper-level driver: its units are released first.
    Context: may sleep."""
    await core.driver_core.driver_unregister(drv)


def _modalias(sdev: ScsiDevice) -> str:
    return f"scsi:t-0x{sdev.type & 0xFF:02x}"


# -- class devices without a device number -----------------------------------------------------


class ScsiClassDevice(ClassDevice):
    """A class device with no /dev node (shost_dev, sdev_dev, sd's disk_dev): its uevent
    has no MAJOR/MINOR/DEVNAME and its directory no `dev` file, only `uevent` and the
    attributes of `attrs`."""

    def __init__(self, cls: DeviceClass, parent: Device, name: str, drvdata: object,
                 attrs: Sequence[SysAttr[Any]] = ()) -> None:
        super().__init__(cls, parent, 0, drvdata, name)
        self.attrs = tuple(attrs)

    def uevent_env(self) -> list[tuple[str, str]]:
        return Device.uevent_env(self)

    def sysfs_files(self) -> dict[str, Node]:
        files = attr_group(self, _UEVENT_ONLY)
        files.update(attr_group(self.driver_data, self.attrs))
        return files


_UEVENT_ONLY: Final[tuple[SysAttr[ClassDevice], ...]] = (
    SysAttr("uevent", lambda dev: "", ClassDevice._store_uevent, 0o644),
)


# -- logical-unit attributes (scsi_sdev_attrs) --------------------------------------------------


async def _store_delete(sdev: ScsiDevice, data: bytes) -> int:
    """sdev_store_delete(): the unit goes (scsi_remove_device)."""
    await scsi_remove_device(sdev)
    return len(data)


async def _store_rescan(sdev: ScsiDevice, data: bytes) -> int:
    """store_rescan_field(): scsi_rescan_device()."""
    from .scsi_scan import scsi_rescan_device

    await scsi_rescan_device(sdev)
    return len(data)


_WRITABLE_STATES: Final = (SdevState.RUNNING, SdevState.OFFLINE)


async def _store_state(sdev: ScsiDevice, data: bytes) -> int:
    """store_state_field(): "running" or "offline", from one of those two states; going
    back to running rescans the unit.  -EINVAL otherwise."""
    text = data.decode("latin-1").strip()
    state = next((s for s in _WRITABLE_STATES if s.value == text), None)
    if state is None or sdev.sdev_state not in _WRITABLE_STATES:
        return -Errno.EINVAL
    if sdev.sdev_state is state:
        return len(data)
    if scsi_device_set_state(sdev, state):
        return -Errno.EINVAL
    if state is SdevState.RUNNING:
        from .scsi_lib import scsi_run_host_queues
        from .scsi_scan import scsi_rescan_device

        scsi_run_host_queues(sdev.host)
        await scsi_rescan_device(sdev)
    return len(data)


async def _store_timeout(sdev: ScsiDevice, data: bytes) -> int:
    """sdev_store_timeout(): the request timeout in seconds."""
    value = scan_int(data)
    if value is None:
        return -Errno.EINVAL
    sdev.timeout_s = float(value)
    return len(data)


async def _store_eh_timeout(sdev: ScsiDevice, data: bytes) -> int:
    """sdev_store_eh_timeout(): the error handler's command timeout in seconds."""
    value = scan_int(data)
    if value is None or value < 0:
        return -Errno.EINVAL
    sdev.eh_timeout_s = float(value)
    return len(data)


def _show_blacklist(sdev: ScsiDevice) -> str:
    names = blist_names(sdev.sdev_bflags)
    return " ".join(names) + "\n" if names else ""


def _evt(name: str) -> SysAttr[ScsiDevice]:
    """REF_EVT(): an event-notification switch; no event is reported here, so 0."""
    return SysAttr(f"evt_{name}", lambda sdev: "0\n", _store_evt, 0o644)


async def _store_evt(sdev: ScsiDevice, data: bytes) -> int:
    return len(data) if scan_int(data) is not None else -Errno.EINVAL


SDEV_ATTRS: Final[tuple[SysAttr[ScsiDevice], ...]] = (
    ro("device_blocked", lambda s: f"{s.device_blocked}\n"),
    ro("type", lambda s: f"{s.type}\n"),
    ro("scsi_level", lambda s: f"{s.scsi_level}\n"),
    ro("device_busy", lambda s: f"{s.device_busy}\n"),
    ro("vendor", lambda s: f"{s.vendor[:8]}\n"),
    ro("model", lambda s: f"{s.model[:16]}\n"),
    ro("rev", lambda s: f"{s.rev[:4]}\n"),
    SysAttr("rescan", None, _store_rescan, 0o200),
    SysAttr("delete", None, _store_delete, 0o200),
    SysAttr("state", lambda s: f"{s.sdev_state.value}\n", _store_state, 0o644),
    SysAttr("timeout", lambda s: f"{int(s.timeout_s)}\n", _store_timeout, 0o644),
    SysAttr("eh_timeout", lambda s: f"{int(s.eh_timeout_s)}\n", _store_eh_timeout, 0o644),
    ro("iocounterbits", lambda s: "32\n"),
    ro("iorequest_cnt", lambda s: f"0x{s.iorequest_cnt:x}\n"),
    ro("iodone_cnt", lambda s: f"0x{s.iodone_cnt:x}\n"),
    ro("ioerr_cnt", lambda s: f"0x{s.ioerr_cnt:x}\n"),
    ro("iotmo_cnt", lambda s: f"0x{s.iotmo_cnt:x}\n"),
    ro("modalias", lambda s: _modalias(s) + "\n"),
    ro("queue_depth", lambda s: f"{s.queue_depth}\n"),
    ro("queue_type", lambda s: "simple\n" if s.simple_tags else "none\n"),
    ro("blacklist", _show_blacklist),
    ro("dh_state", lambda s: "detached\n"),
    ro("cdl_supported", lambda s: "0\n"),
    ro("cdl_enable", lambda s: "0\n"),
    SysAttr("inquiry", lambda s: bytes(s.inquiry), binary=True),
    _evt("media_change"),
    _evt("inquiry_change_reported"),
    _evt("capacity_change_reported"),
    _evt("soft_threshold_reached"),
    _evt("mode_parameter_change_reported"),
    _evt("lun_change_reported"),
)
"""The files of a logical unit's directory (scsi_sdev_attrs, scsi_sdev_bin_attrs)."""


# -- making units and targets visible (scsi_sysfs_add_sdev, scsi_target_add) --------------------


async def scsi_target_add(starget: ScsiTarget) -> None:
    """scsi_target_add(): the target's directory appears the first time one of its units
    does.  Context: may sleep."""
    if starget.state is not StargetState.CREATED:
        return
    await starget.host.core.driver_core.device_add(starget)
    starget.state = StargetState.RUNNING


async def scsi_target_reap(starget: ScsiTarget) -> None:
    """scsi_target_reap(): drop one hold on the target; the last one takes it out of
    sysfs (if it was ever shown) and off its host.  Context: may sleep."""
    starget.reap_ref -= 1
    if starget.reap_ref > 0:
        return
    if starget.state not in (StargetState.CREATED, StargetState.CREATED_REMOVE):
        await starget.host.core.driver_core.device_del(starget)
    starget.state = StargetState.DEL
    if starget in starget.host.targets:
        starget.host.targets.remove(starget)


async def scsi_sysfs_add_sdev(sdev: ScsiDevice) -> int:
    """scsi_sysfs_add_sdev(): show the unit — its target, then the unit itself (its
    driver probes now), then /sys/class/scsi_device/<name>.  0 or -errno.  Context: may
    sleep."""
    core = sdev.host.core
    await scsi_target_add(sdev.sdev_target)
    await core.driver_core.device_add(sdev)
    sdev.sdev_dev = ScsiClassDevice(core.sdev_class, sdev, sdev.name, sdev)
    try:
        await core.classes.device_register(sdev.sdev_dev)
    except OSError as exc:
        core.log.dev_info(sdev, f"failed to add class device: {-(exc.errno or Errno.EIO)}")
        await core.driver_core.device_del(sdev)
        return -(exc.errno or Errno.EIO)
    sdev.is_visible = True
    return 0


async def scsi_remove_device_locked(sdev: ScsiDevice) -> None:
    """__scsi_remove_device(): the unit goes — SDEV_CANCEL while its class device and the
    unit itself are taken out of sysfs (the driver's remove runs then), SDEV_DEL after,
    the low-level driver's hold let go, the target reaped.  The caller holds the host's
    scan_mutex.  Context: may sleep."""
    from .scsi_lib import scsi_run_host_queues

    if sdev.sdev_state is SdevState.DEL:
        return
    core = sdev.host.core
    if sdev.is_visible:
        if scsi_device_set_state(sdev, SdevState.CANCEL) and \
                scsi_device_set_state(sdev, SdevState.DEL):
            return
        if sdev.sdev_dev is not None:
            await core.classes.device_unregister(sdev.sdev_dev)
        await core.driver_core.device_del(sdev)
        sdev.is_visible = False
    scsi_device_set_state(sdev, SdevState.DEL)
    scsi_run_host_queues(sdev.host)
    host = sdev.host
    if sdev in host.devices:
        host.devices.remove(sdev)
    if sdev in sdev.sdev_target.devices:
        sdev.sdev_target.devices.remove(sdev)
    await scsi_target_reap(sdev.sdev_target)


async def scsi_remove_device(sdev: ScsiDevice) -> None:
    """scsi_remove_device(): `scsi_remove_device_locked` under the host's scan_mutex.
    Context: may sleep."""
    async with sdev.host.scan_mutex:
        await scsi_remove_device_locked(sdev)
