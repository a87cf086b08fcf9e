"""Helpers of the usb-storage tests (importable as `usbemu_tests_storage_helpers`): a
configurable Bulk-Only stick built from the storage model's parts (any ids, subclass, LUN
count, an extra UAS altsetting), a Control/Bulk(/Interrupt) device, and a harness that
plugs one in and talks to usb-storage: its UsData, its SCSI host and units, commands
handed straight to queuecommand (as the mid-layer does) and the URBs on the wire."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from usbemu.core.urb import PIPE_BULK, PIPE_CONTROL, PIPE_INTERRUPT
from usbemu.drivers.usb.storage.us_data import UsData
from usbemu.emulated.bulk_only import BulkOnlyDevice, BulkOnlyTransport
from usbemu.emulated.device import DeviceModel, endpoint_out, request
from usbemu.emulated.endpoint import Endpoint
from usbemu.emulated.scsi_target import (
    DataPhase,
    Medium,
    MemoryMedium,
    ScsiLun,
    ScsiResult,
    ScsiTarget,
)
from usbemu.kernel.scsi.hosts import ScsiHost
from usbemu.kernel.scsi.scsi_cmnd import DataDirection, ScsiCmnd
from usbemu.kernel.scsi.scsi_device import ScsiDevice
from usbemu.spec.ch9 import ClassCode, SetupPacket, Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.spec.scsi import Opcode, rw_cdb
from usbemu.spec.storage import StorageProtocol, StorageSubclass
from usbemu.system import System
from usbemu.testing.monitor import UrbEvent, UrbRecorder

STICK_IN = 0x81
STICK_OUT = 0x02
#: A UAS altsetting's endpoints: (address, bPipeID) with their Pipe Usage descriptors.
UAS_PIPES = ((0x04, 1), (0x83, 2), (0x85, 3), (0x06, 4))


def _uas_altsetting(maxpacket: int) -> InterfaceDescriptor:
    return InterfaceDescriptor(
        ClassCode.MASS_STORAGE, StorageSubclass.SCSI, StorageProtocol.UAS,
        bAlternateSetting=1,
        endpoints=tuple(EndpointDescriptor.bulk(address, maxpacket,
                                                extra=bytes((4, 0x24, pipe, 0)))
                        for address, pipe in UAS_PIPES))


class Stick(BulkOnlyDevice):
    """A Bulk-Only stick with any ids and subclass, `luns` memory disks of `size` bytes,
    bulk IN 0x81 / OUT 0x02, and with `uas` a UAS altsetting 1 as UAS bridges have."""

    speed = Speed.HIGH

    def __init__(self, *, vid: int = 0x1234, pid: int = 0x5678, bcd: int = 0x0100,
                 subclass: int = StorageSubclass.SCSI, luns: int = 1, size: int = 1 << 20,
                 uas: bool = False, stall_get_max_lun: bool = False,
                 media: Sequence[Medium] | None = None) -> None:
        bot = InterfaceDescriptor(
            ClassCode.MASS_STORAGE, subclass, StorageProtocol.BULK,
            endpoints=(EndpointDescriptor.bulk(STICK_IN, 512),
                       EndpointDescriptor.bulk(STICK_OUT, 512)))
        alts = (bot, _uas_altsetting(512)) if uas else (bot,)
        desc = DeviceDescriptor(idVendor=vid, idProduct=pid, bcdDevice=bcd, bcdUSB=0x0200,
                                bMaxPacketSize0=64, iManufacturer="Test",
                                iProduct="Stick", iSerialNumber="0123456789AB",
                                configurations=(ConfigDescriptor(interfaces=alts,
                                                                 bMaxPower=50),))
        super().__init__(desc)
        disks = list(media) if media is not None else [MemoryMedium(size)
                                                        for _ in range(luns)]
        self.stall_get_max_lun = stall_get_max_lun
        self.bulk_only = BulkOnlyTransport(self, ScsiTarget([ScsiLun(m) for m in disks]),
                                           bulk_in=STICK_IN, bulk_out=STICK_OUT)


CBI_IN = 0x81
CBI_OUT = 0x02
CBI_INT = 0x83


class CbiStick(DeviceModel):
    """A Control/Bulk(/Interrupt) device (protocol 0x00 CBI, 0x01 CB) in front of one
    ScsiLun: the command block comes by ADSC on the control pipe, data on bulk IN 0x81 /
    OUT 0x02, and a CBI device's status as two bytes on interrupt IN 0x83 — 00 00 pass,
    00 01 fail, or for UFI the ASC and ASCQ.  It has one LUN and ignores the LUN bits of
    the command blocks, as such devices do.  `adsc` keeps every command block received."""

    speed = Speed.FULL

    def __init__(self, *, protocol: int = StorageProtocol.CBI,
                 subclass: int = StorageSubclass.SCSI, size: int = 1 << 20) -> None:
        eps = [EndpointDescriptor.bulk(CBI_IN, 64), EndpointDescriptor.bulk(CBI_OUT, 64)]
        if protocol == StorageProtocol.CBI:
            eps.append(EndpointDescriptor.interrupt(CBI_INT, 2, 32))
        intf = InterfaceDescriptor(ClassCode.MASS_STORAGE, subclass, protocol,
                                   endpoints=tuple(eps))
        desc = DeviceDescriptor(idVendor=0x1234, idProduct=0xCB1, bcdDevice=0x0100,
                                bcdUSB=0x0110, bMaxPacketSize0=64,
                                configurations=(ConfigDescriptor(interfaces=(intf,)),))
        super().__init__(desc)
        self.unit = ScsiLun(MemoryMedium(size))
        self.cbi = protocol == StorageProtocol.CBI
        self.ufi = subclass == StorageSubclass.UFI
        self.adsc: list[bytes] = []
        self._out: tuple[bytes, int] | None = None

    @request(0x21, 0x00)
    def _accept_device_specific_command(self, setup: SetupPacket, data: bytes) -> None:
        self.adsc.append(bytes(data))
        cdb = bytearray(data)
        if len(cdb) > 1:
            cdb[1] &= 0x1F
        cdb = bytes(cdb)
        phase = self.unit.data_phase(cdb)
        if phase is not None and phase[0] is DataPhase.OUT:
            self._out = (cdb, phase[1])
            return
        want = phase[1] if phase is not None and phase[0] is DataPhase.IN else 0
        result = self.unit.execute(cdb, None, want)
        if want:
            ep = self.endpoint(CBI_IN)
            assert ep is not None
            ep.write(result.data)
        self._status(result)

    @endpoint_out(CBI_OUT)
    def _bulk_out(self, ep: Endpoint, data: memoryview) -> None:
        assert self._out is not None, "data without a command"
        cdb, length = self._out
        self._out = None
        self._status(self.unit.execute(cdb, bytes(data[:length]), 0))

    def _status(self, result: ScsiResult) -> None:
        if not self.cbi:
            return
        ep = self.endpoint(CBI_INT)
        assert ep is not None
        if self.ufi:
            sense = result.sense
            ep.write(bytes((sense.asc, sense.ascq)) if sense is not None else bytes(2))
        else:
            ep.write(bytes((0, 0 if result.good else 1)))


class Harness:
    """One machine with usb-storage, seen from the tests."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.recorder: UrbRecorder | None = None

    # -- set-up -------------------------------------------------------------------------

    def plug(self, model: Any, path: str = "1-1") -> Any:
        self.system.plug(model, path)
        self.system.settle()
        return model

    def record(self) -> UrbRecorder:
        """Start recording the URBs from now on."""
        self.recorder = UrbRecorder(self.system)
        return self.recorder

    # -- what usb-storage made ----------------------------------------------------------

    def us(self, path: str = "1-1") -> UsData:
        udev = self.system.find_device(path)
        assert udev is not None, f"nothing enumerated at {path}"
        intf = udev.interface(0)
        assert intf is not None
        us = intf.driver_data
        assert isinstance(us, UsData), f"{intf.name} is bound to {intf.driver!r}"
        return us

    def host(self, path: str = "1-1") -> ScsiHost:
        host = self.us(path).host
        assert host is not None
        return host

    def sdev(self, lun: int = 0, path: str = "1-1") -> ScsiDevice:
        for sdev in self.host(path).devices:
            if sdev.lun == lun:
                return sdev
        raise AssertionError(f"no LUN {lun} on {path}: "
                             f"{[d.name for d in self.host(path).devices]}")

    def lines(self) -> list[str]:
        return self.system.log.lines()

    # -- commands -----------------------------------------------------------------------

    def start(self, cdb: bytes, *, data_in: int = 0, data_out: bytes | None = None,
              lun: int = 0, path: str = "1-1") -> tuple[ScsiCmnd, asyncio.Future[ScsiCmnd]]:
        """Hand a command to queuecommand (from outside the loop); its future resolves at
        scsi_done."""
        sdev = self.sdev(lun, path)
        host = sdev.host
        if data_out is not None:
            direction, buffer = DataDirection.TO_DEVICE, memoryview(bytes(data_out))
        elif data_in:
            direction, buffer = DataDirection.FROM_DEVICE, memoryview(bytearray(data_in))
        else:
            direction, buffer = DataDirection.NONE, memoryview(b"")
        cmd = ScsiCmnd(sdev, bytes(cdb), direction, buffer)
        done: asyncio.Future[ScsiCmnd] = self.system.loop.create_future()
        cmd.scsi_done_fn = done.set_result

        async def queue() -> int:
            return host.hostt.queuecommand(host, cmd)

        assert self.system.run(queue()) == 0
        return cmd, done

    def wait(self, done: asyncio.Future[ScsiCmnd], timeout_s: float = 60.0) -> ScsiCmnd:
        async def waiting() -> ScsiCmnd:
            return await asyncio.wait_for(asyncio.shield(done), timeout_s)
        return self.system.run(waiting())

    def command(self, cdb: bytes, **kw: Any) -> ScsiCmnd:
        """A command run to its end (60 s of machine time at most)."""
        _, done = self.start(cdb, **kw)
        return self.wait(done)

    def read10(self, lba: int, blocks: int, **kw: Any) -> ScsiCmnd:
        return self.command(rw_cdb(Opcode.READ_10, lba, blocks), data_in=blocks * 512, **kw)

    def write10(self, lba: int, data: bytes, **kw: Any) -> ScsiCmnd:
        return self.command(rw_cdb(Opcode.WRITE_10, lba, len(data) // 512), data_out=data,
                            **kw)


# -- the wire ---------------------------------------------------------------------------------


def wire(recorder: UrbRecorder, devnum: int = 2) -> list[str]:
    """The recorded submissions to device `devnum` with their outcomes, one word each:
    "CBW", "IN 512" / "OUT 512" for a data stage, "CSW", "CTRL <bmRequestType> <bRequest>
    <wValue> <wIndex>" — each followed by ":<status>" when it did not end with 0."""
    words: list[str] = []
    for event in recorder.completed():
        if event.devnum != devnum:
            continue
        words.append(_word(event))
    return words


def _word(event: UrbEvent) -> str:
    suffix = "" if event.status == 0 else f":{event.status}"
    if event.pipe_type == PIPE_CONTROL:
        setup = event.setup_packet
        assert setup is not None
        return (f"CTRL {setup.bmRequestType:02x} {setup.bRequest:02x} {setup.wValue:04x} "
                f"{setup.wIndex:04x}{suffix}")
    if event.pipe_type == PIPE_INTERRUPT:
        return f"INT {event.length}{suffix}"
    if event.pipe_type == PIPE_BULK:
        if not event.is_in and event.length == 31:
            return f"CBW{suffix}"
        if event.is_in and event.length == 13:
            return f"CSW{suffix}"
        return f"{'IN' if event.is_in else 'OUT'} {event.length}{suffix}"
    return f"URB {event.pipe:#x}{suffix}"
