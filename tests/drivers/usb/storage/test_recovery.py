"""usb-storage under sd and the block layer: 64 MiB written and read back through the whole
stack with a checksum, and every misbehaviour the mass-storage model can inject recovered
from as Linux recovers — the block read succeeds with the right bytes, after usb-storage's
reset and the mid-layer's retries (and, for a CSW that never comes, after the 30-second
command timeout and the abort)."""

from __future__ import annotations

import hashlib
import os

import pytest
from usbemu_tests_storage_helpers import Harness, wire  # type: ignore[import-not-found]

from usbemu.emulated.models.storage import MassStorage, StorageFault
from usbemu.kernel.block.blk_mq import blk_read, blk_write
from usbemu.kernel.block.genhd import Gendisk
from usbemu.kernel.scsi.sd import ScsiDisk

_PORT_RESET = "usb 1-1: reset high-speed USB device number 2 using ehci-pci"


def _disk(stor: Harness) -> Gendisk:
    sdkp = stor.sdev().driver_data
    assert isinstance(sdkp, ScsiDisk)
    return sdkp.disk


def test_64_mib_through_the_stack(stor: Harness) -> None:
    model = stor.plug(MassStorage(size=64 << 20))
    disk = _disk(stor)
    data = os.urandom(64 << 20)
    stor.system.run(blk_write(disk, 0, data))
    medium = model.lun(0).medium
    assert medium is not None
    assert hashlib.sha256(medium.read(0, medium.blocks)).digest() == \
        hashlib.sha256(data).digest()
    back = stor.system.run(blk_read(disk, 0, len(data) >> 9))
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    assert stor.us().tag >= 2 * (64 << 20) // (240 * 512)      # 120 KiB per command


@pytest.mark.parametrize(("fault", "reset", "seconds"), [
    (StorageFault.BAD_SIGNATURE, True, 0.0),
    (StorageFault.BAD_TAG, True, 0.0),
    (StorageFault.PHASE_ERROR, True, 0.0),
    (StorageFault.NO_CSW, True, 30.0),
    (StorageFault.STALL_DATA, False, 0.0),
    (StorageFault.LYING_RESIDUE, False, 0.0),
])
def test_a_read_recovers_from(stor: Harness, fault: StorageFault, reset: bool,
                              seconds: float) -> None:
    model = stor.plug(MassStorage(size=1 << 20))
    disk = _disk(stor)
    data = os.urandom(8192)
    system = stor.system
    system.run(blk_write(disk, 8, data))
    recorder = stor.record()
    model.inject(fault)
    before = system.time()
    assert system.run(blk_read(disk, 8, 16)) == data
    assert system.time() - before >= seconds
    assert (_PORT_RESET in system.log.lines()) == reset
    trace = wire(recorder)
    assert trace[-3:] == ["CBW", "IN 8192", "CSW"]          # the read that worked
    assert trace.count("CBW") > 1


def test_a_write_recovers_from_a_phase_error(stor: Harness) -> None:
    model = stor.plug(MassStorage(size=1 << 20))
    disk = _disk(stor)
    model.inject(StorageFault.PHASE_ERROR)
    data = os.urandom(4096)
    stor.system.run(blk_write(disk, 100, data))
    medium = model.lun(0).medium
    assert medium is not None and medium.read(100, 8) == data
    assert _PORT_RESET in stor.lines()
