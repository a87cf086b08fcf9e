"""usb-storage's SCSI glue (scsiglue.py): the host template and what the mid-layer sees
of it in sysfs, queuecommand's refusals, the settings of each unit found (slave_alloc,
slave_configure, target_alloc), the max_sectors attribute, and the device and bus reset
handlers the error handler escalates to."""

from __future__ import annotations

from typing import Any

import pytest
from usbemu_tests_storage_helpers import Harness, Stick, wire  # type: ignore[import-not-found]

from usbemu.core.sysfs import USB_QUIRK_RESET
from usbemu.drivers.usb.storage.scsiglue import (
    UsbStorHostTemplate,
    usb_stor_host_template,
    usb_stor_sense_invalidCDB,
)
from usbemu.drivers.usb.storage.us_data import UsFlag, UsFlidx
from usbemu.emulated.models.storage import BULK_IN, BULK_OUT, MassStorage, StorageFault
from usbemu.errors import Errno
from usbemu.kernel.scsi.constants import Blist
from usbemu.kernel.scsi.scsi_cmnd import (
    FAILED,
    SCSI_MLQUEUE_HOST_BUSY,
    SUCCESS,
    DataDirection,
    HostByte,
    ScsiCmnd,
)
from usbemu.spec.scsi import INVALID_FIELD_IN_CDB, Opcode, SamStatus, Sense, SenseKey
from usbemu.system import System

_UNIT = "/sys/bus/scsi/devices/0:0:0:0"


def test_the_host_template_is_linuxs() -> None:
    t = usb_stor_host_template
    assert isinstance(t, UsbStorHostTemplate)
    assert (t.name, t.proc_name, t.can_queue, t.cmd_per_lun, t.this_id) == (
        "usb-storage", "usb-storage", 1, 1, -1)
    assert (t.max_sectors, t.emulated, t.skip_settle_delay) == (240, True, True)
    assert [a.name for a in t.sdev_attrs] == ["max_sectors"]
    assert Sense.parse(usb_stor_sense_invalidCDB) == Sense.of(SenseKey.ILLEGAL_REQUEST,
                                                               INVALID_FIELD_IN_CDB)
    assert len(usb_stor_sense_invalidCDB) == 18


def test_the_host_in_sysfs(stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    vfs = stor.system.vfs
    assert vfs.read_text("/sys/class/scsi_host/host0/proc_name") == "usb-storage\n"
    assert vfs.read_text("/sys/class/scsi_host/host0/can_queue") == "1\n"
    assert vfs.read_text(f"{_UNIT}/max_sectors") == "240\n"
    assert vfs.read_text(f"{_UNIT}/blacklist") == "SKIP_IO_HINTS\n"    # as the capture


def test_max_sectors_is_writable_as_sscanf_reads_it(stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    system = stor.system
    sdkp = stor.sdev().driver_data
    for text, value in ((b"64\n", 64), (b"  128 sectors", 128), (b"0", 255),
                        (b"65600", 64)):
        with system.open(f"{_UNIT}/max_sectors", "wb") as f:
            f.write(text)
        assert system.vfs.read_text(f"{_UNIT}/max_sectors") == f"{value}\n"
        assert stor.sdev().max_hw_sectors == value == sdkp.queue.max_hw_sectors
    for text in (b"lots", b"7", b"65537"):               # 65537 is 1: less than a page
        with pytest.raises(OSError) as info, \
                system.open(f"{_UNIT}/max_sectors", "wb") as f:
            f.write(text)
        assert info.value.errno == Errno.EINVAL
    assert stor.sdev().max_hw_sectors == 64


def test_a_unit_gets_what_a_usb_disk_needs(stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    sdev = stor.sdev()
    assert sdev.inquiry_len == 36
    assert sdev.sdev_bflags & Blist.SKIP_IO_HINTS and not sdev.sdev_bflags & Blist.FORCELUN
    for flag in ("use_192_bytes_for_3f", "skip_ms_page_8", "no_report_opcodes",
                 "no_write_same", "try_rc_10_first", "retry_hwerror", "allow_restart",
                 "last_sector_bug", "skip_vpd_pages"):
        assert getattr(sdev, flag), flag
    for flag in ("use_10_for_ms", "skip_ms_page_3f", "fix_capacity", "guess_capacity",
                 "no_read_capacity_16", "wce_default_on", "broken_fua"):
        assert not getattr(sdev, flag), flag
    assert sdev.sdev_target.no_report_luns and not sdev.sdev_target.pdt_1f_for_no_lun
    us = stor.us()
    assert us.use_last_sector_hacks and not us.fflags & UsFlag.SANE_SENSE   # ANSI 2


def test_several_luns_force_the_lun_scan(stor: Harness) -> None:
    stor.plug(Stick(luns=2))
    assert stor.sdev(0).sdev_bflags & Blist.FORCELUN


@pytest.mark.parametrize(("letters", "attr", "value"), [
    ("m", "max_hw_sectors", 64), ("w", "skip_ms_page_3f", True),
    ("l", "lockable", False), ("c", "fix_capacity", True),
    ("e", "no_read_capacity_16", True), ("p", "wce_default_on", True),
])
def test_quirks_reach_the_unit(system: System, stor: Harness, letters: str, attr: str,
                               value: Any) -> None:
    system.modprobe("usb-storage", quirks=f"1234:5678:{letters}")
    stor.plug(Stick())
    assert getattr(stor.sdev(), attr) == value


def test_always_sync_skips_the_mode_pages_and_assumes_a_cache(system: System,
                                                              stor: Harness) -> None:
    system.modprobe("usb-storage", quirks="1234:5678:y")
    stor.plug(Stick())
    sdev = stor.sdev()
    assert sdev.skip_ms_page_8 and sdev.skip_ms_page_3f and sdev.wce_default_on


def test_a_ufi_target_takes_pdt_1f_for_no_lun(stor: Harness) -> None:
    stor.plug(Stick(subclass=0x04))
    target = stor.sdev().sdev_target
    assert target.pdt_1f_for_no_lun and target.no_report_luns
    assert stor.sdev().use_10_for_ms                 # not transparent SCSI


def _queue(stor: Harness, cmd: ScsiCmnd) -> int:
    host = stor.host()

    async def queue() -> int:
        return host.hostt.queuecommand(host, cmd)

    return stor.system.run(queue())


def test_queuecommand_refuses_a_second_command(stor: Harness) -> None:
    model = stor.plug(MassStorage(size=1 << 20))
    us = stor.us()
    model.inject(StorageFault.NO_CSW)
    first, done = stor.start(bytes(6))
    stor.system.sleep(10)
    second = ScsiCmnd(stor.sdev(), bytes(6))
    assert _queue(stor, second) == SCSI_MLQUEUE_HOST_BUSY
    assert any(line.startswith("usb-storage 1-1:1.0: Error in queuecommand_lck: us->srb = ")
               for line in stor.lines())
    assert us.srb is first and not done.done()


def test_queuecommand_fails_commands_during_a_disconnect(stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    recorder = stor.record()
    stor.us().dflags |= UsFlidx.DISCONNECTING
    try:
        cmd = stor.command(bytes(6))
    finally:
        stor.us().dflags &= ~UsFlidx.DISCONNECTING
    assert cmd.result == HostByte.DID_NO_CONNECT << 16 and wire(recorder) == []


def test_ata_pass_through_is_refused_for_no_ata_1x(system: System, stor: Harness) -> None:
    system.modprobe("usb-storage", quirks="0525:a4a5:t")
    stor.plug(MassStorage(size=1 << 20))
    recorder = stor.record()
    cmd = stor.command(bytes([Opcode.ATA_16]) + bytes(15))
    assert cmd.result == SamStatus.CHECK_CONDITION
    assert bytes(cmd.sense_buffer[:18]) == usb_stor_sense_invalidCDB
    assert wire(recorder) == []


def test_the_device_reset_handler_sends_the_bulk_only_reset(stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    recorder = stor.record()
    cmd = ScsiCmnd(stor.sdev(), bytes(6), DataDirection.NONE)
    host = stor.host()

    async def reset() -> int:
        return await host.hostt.eh_device_reset_handler(cmd)

    assert stor.system.run(reset()) == SUCCESS
    assert wire(recorder) == ["CTRL 21 ff 0000 0000", f"CTRL 02 01 0000 {BULK_IN:04x}",
                              f"CTRL 02 01 0000 {BULK_OUT:04x}"]


def test_the_bus_reset_handler_resets_the_port(stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    recorder = stor.record()
    cmd = ScsiCmnd(stor.sdev(), bytes(6), DataDirection.NONE)
    host = stor.host()

    async def reset() -> int:
        return await host.hostt.eh_bus_reset_handler(cmd)

    assert stor.system.run(reset()) == SUCCESS
    assert any("reset high-speed USB device number 2" in line for line in stor.lines())
    assert "CTRL 00 09 0001 0000" in wire(recorder)
    sdev = stor.sdev()
    assert sdev.was_reset and sdev.expecting_cc_ua          # usb_stor_post_reset said so
    stor.us().pusb_dev.quirks |= USB_QUIRK_RESET
    assert stor.system.run(reset()) == FAILED
