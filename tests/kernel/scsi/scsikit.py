"""The SCSI test kit: a low-level driver whose units are the device side's `ScsiLun`s
(usbemu.emulated.scsi_target) answering in the next turn of the loop — configured as
usb-storage configures its hosts and units — with switches to make it hang, refuse, or
fail its error handlers, and a parent device on a bus of its own to add hosts under.
conftest.py loads it as `usbemu_tests_scsikit`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from usbemu.emulated.scsi_target import Medium, MemoryMedium, ScsiLun
from usbemu.emulated.scsi_target import ScsiTarget as DeviceTarget
from usbemu.kernel.device import BusType, Device
from usbemu.kernel.scsi.constants import Blist
from usbemu.kernel.scsi.hosts import ScsiHost, scsi_add_host, scsi_host_alloc
from usbemu.kernel.scsi.scsi_cmnd import (
    FAILED,
    SCSI_MLQUEUE_HOST_BUSY,
    DataDirection,
    HostByte,
    ScsiCmnd,
    ScsiHostTemplate,
)
from usbemu.kernel.scsi.scsi_device import ScsiDevice, ScsiTarget
from usbemu.kernel.scsi.scsi_scan import scsi_scan_host
from usbemu.system import System

MiB = 1 << 20


@dataclass
class Answer:
    """What a hook makes the driver answer instead of the unit: a result word, sense
    bytes, IN data."""

    result: int = 0
    sense: bytes = b""
    data: bytes = b""


class FakeLld(ScsiHostTemplate):
    """A low-level driver in front of a device-side target.  `commands` records (lun,
    CDB) of every command; `hook(cmd)` may return an Answer (answered instead of the
    unit), "hang" (the command is never finished) or "busy" (queuecommand refuses it);
    `calls` records the error handlers' calls, which take `handler_delays[name]` seconds
    and answer `handler_results[name]` (FAILED by default)."""

    name = "fake-storage"
    proc_name = "fake-storage"
    can_queue = 1
    max_sectors = 240
    emulated = True
    skip_settle_delay = True

    def __init__(self, target: DeviceTarget, *, usb: bool = True) -> None:
        self.target = target
        self.usb = usb
        self.commands: list[tuple[int, bytes]] = []
        self.hook: Callable[[ScsiCmnd], Answer | str | None] | None = None
        self.calls: list[str] = []
        self.handler_results: dict[str, int] = {}
        self.handler_delays: dict[str, float] = {}
        self.held: list[ScsiCmnd] = []

    def info(self, host: ScsiHost) -> str:
        return "fake-storage 1-1:1.0"

    def queuecommand(self, host: ScsiHost, cmnd: ScsiCmnd) -> int:
        self.commands.append((cmnd.lun, bytes(cmnd.cmnd)))
        answer = self.hook(cmnd) if self.hook is not None else None
        if answer == "hang":
            self.held.append(cmnd)
            return 0
        if answer == "busy":
            return SCSI_MLQUEUE_HOST_BUSY
        asyncio.get_running_loop().call_soon(self._finish, cmnd, answer)
        return 0

    def _finish(self, cmnd: ScsiCmnd, answer: object) -> None:
        if isinstance(answer, Answer):
            data = answer.data[:cmnd.bufflen]
            if data:
                cmnd.buffer[:len(data)] = data
            cmnd.result = answer.result
            cmnd.sense_buffer[:len(answer.sense)] = answer.sense
            cmnd.resid = cmnd.bufflen - len(data)
        elif cmnd.lun > self.target.max_lun and cmnd.cmnd[0] != 0x12:
            cmnd.result = HostByte.DID_BAD_TARGET << 16
        else:
            self._execute(cmnd)
        cmnd.scsi_done()

    def _execute(self, cmnd: ScsiCmnd) -> None:
        to_device = cmnd.sc_data_direction is DataDirection.TO_DEVICE
        from_device = cmnd.sc_data_direction is DataDirection.FROM_DEVICE
        res = self.target.execute(cmnd.lun, cmnd.cmnd, bytes(cmnd.buffer) if to_device
                                  else None, cmnd.bufflen if from_device else 0)
        if from_device:
            cmnd.buffer[:len(res.data)] = res.data
            cmnd.resid = cmnd.bufflen - len(res.data)
        cmnd.result = res.status
        if res.sense is not None:
            sense = res.sense.fixed()
            cmnd.sense_buffer[:len(sense)] = sense

    # -- usb-storage's configuration (scsiglue.c) ------------------------------------------

    def target_alloc(self, starget: ScsiTarget) -> int:
        starget.no_report_luns = self.usb
        return 0

    def slave_alloc(self, sdev: ScsiDevice) -> int:
        if self.usb:
            sdev.inquiry_len = 36
            sdev.sdev_bflags |= Blist.SKIP_IO_HINTS
        return 0

    def slave_configure(self, sdev: ScsiDevice) -> int:
        if self.usb and sdev.type == 0:
            sdev.use_192_bytes_for_3f = True
            sdev.skip_ms_page_8 = True
            sdev.skip_vpd_pages = True
            sdev.no_report_opcodes = True
            sdev.no_write_same = True
            sdev.try_rc_10_first = True
            sdev.retry_hwerror = True
            sdev.allow_restart = True
            sdev.last_sector_bug = True
            sdev.read_before_ms = True
        return 0

    # -- error handlers ------------------------------------------------------------------------

    async def _handler(self, name: str) -> int:
        self.calls.append(name)
        await asyncio.sleep(self.handler_delays.get(name, 0.0))
        return self.handler_results.get(name, FAILED)

    async def eh_abort_handler(self, cmnd: ScsiCmnd) -> int:
        return await self._handler("abort")

    async def eh_device_reset_handler(self, cmnd: ScsiCmnd) -> int:
        return await self._handler("device reset")

    async def eh_target_reset_handler(self, cmnd: ScsiCmnd) -> int:
        return await self._handler("target reset")

    async def eh_bus_reset_handler(self, cmnd: ScsiCmnd) -> int:
        return await self._handler("bus reset")

    async def eh_host_reset_handler(self, cmnd: ScsiCmnd) -> int:
        return await self._handler("host reset")


class NoHandlersLld(FakeLld):
    """A driver without error handlers (every one of them a NULL pointer)."""

    eh_abort_handler = ScsiHostTemplate.eh_abort_handler  # type: ignore[assignment]
    eh_device_reset_handler = ScsiHostTemplate.eh_device_reset_handler  # type: ignore[assignment]
    eh_target_reset_handler = ScsiHostTemplate.eh_target_reset_handler  # type: ignore[assignment]
    eh_bus_reset_handler = ScsiHostTemplate.eh_bus_reset_handler  # type: ignore[assignment]
    eh_host_reset_handler = ScsiHostTemplate.eh_host_reset_handler  # type: ignore[assignment]


def lun(size: int = 64 * MiB, *, block_size: int = 512, removable: bool = True,
        medium: Medium | bool | None = True, **kwargs: object) -> ScsiLun:
    """A unit with a memory medium of `size` bytes (medium=None: an empty drive)."""
    if medium is True:
        medium = MemoryMedium(size, block_size=block_size)
    return ScsiLun(medium if isinstance(medium, Medium) else None, removable=removable,
                   **kwargs)  # type: ignore[arg-type]


@dataclass
class Machine:
    """A machine with a parent device (1-1:1.0 on bus "fakebus") to add hosts under."""

    system: System
    parent: Device
    hosts: list[ScsiHost] = field(default_factory=list)

    async def attach(self, lld: FakeLld, *, scan: bool = True) -> ScsiHost:
        """usb_stor_probe: allocate, add (max_id 1, 16-byte CDBs), scan."""
        shost = scsi_host_alloc(lld, None, self.system.scsi)
        shost.max_id = 1
        shost.max_cmd_len = 16
        shost.no_scsi2_lun_in_cdb = lld.usb
        assert await scsi_add_host(shost, self.parent) == 0
        if scan:
            await scsi_scan_host(shost)
        self.hosts.append(shost)
        return shost

    def log(self) -> list[str]:
        return self.system.log.lines()


def make_machine(system: System) -> Machine:
    bus = BusType("fakebus", system.driver_core)
    system.driver_core.add_bus(bus)
    parent = Device("1-1:1.0", None, bus)
    system.run(system.driver_core.device_add(parent))
    return Machine(system, parent)
