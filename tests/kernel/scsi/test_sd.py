"""The SCSI disk driver (usbemu.kernel.scsi.sd): the probe's messages for disks of every
size, write protection, the caching page, an empty drive, I/O through the block layer
(READ/WRITE (10) and (16), the last-sector split, flushes), medium changes, removal,
disk names and the scsi_disk attributes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from usbemu_tests_scsikit import Answer, FakeLld, Machine, MiB, lun, make_machine

from usbemu.emulated.scsi_target import MemoryMedium, ScsiLun
from usbemu.emulated.scsi_target import ScsiTarget as DeviceTarget
from usbemu.errors import Errno
from usbemu.kernel.block.bdev import bdev_open, bdev_release
from usbemu.kernel.block.blk_types import BlkOpen
from usbemu.kernel.printk import Level
from usbemu.kernel.scsi.hosts import ScsiHost, scsi_host_put, scsi_remove_host
from usbemu.kernel.scsi.scsi_cmnd import ScsiCmnd
from usbemu.kernel.scsi.sd import ScsiDisk, sd_major, string_get_size
from usbemu.kernel.vfs import Attr
from usbemu.spec.scsi import Sense, SenseKey
from usbemu.system import System


def attach(machine: Machine, *luns: ScsiLun, usb: bool = True) -> tuple[FakeLld, ScsiHost]:
    lld = FakeLld(DeviceTarget(list(luns)), usb=usb)
    shost = machine.system.run(machine.attach(lld))
    machine.system.settle()
    return lld, shost


def scsi_lines(machine: Machine) -> list[str]:
    return [line for line in machine.log() if line.startswith(("scsi", "sd "))]


def disk_of(shost: ScsiHost, lun: int = 0) -> ScsiDisk:
    sdkp = next(s for s in shost.devices if s.lun == lun).driver_data
    assert isinstance(sdkp, ScsiDisk)
    return sdkp


def opcodes(lld: FakeLld) -> list[int]:
    return [cdb[0] for _, cdb in lld.commands]


# -- string_get_size -----------------------------------------------------------------------------


@pytest.mark.parametrize(("blocks", "size", "decimal", "binary"), [
    (131072, 512, "67.1 MB", "64.0 MiB"),
    (32768, 512, "16.8 MB", "16.0 MiB"),        # the reference capture's 16 MiB disk
    (1953125, 512, "1.00 GB", "954 MiB"),
    (6442450944, 512, "3.30 TB", "3.00 TiB"),
    (16384, 4096, "67.1 MB", "64.0 MiB"),
    (1, 512, "512 B", "512 B"),
    (0, 512, "0 B", "0 B"),
    (3, 512, "1.54 kB", "1.50 KiB"),
])
def test_string_get_size(blocks: int, size: int, decimal: str, binary: str) -> None:
    assert string_get_size(blocks, size, 10) == decimal
    assert string_get_size(blocks, size, 2) == binary


def test_string_get_size_rejects_other_units() -> None:
    with pytest.raises(ValueError, match="10 or 2"):
        string_get_size(1, 512, 8)


def test_majors_of_disk_groups() -> None:
    assert [sd_major(i) for i in (0, 1, 7, 8, 15)] == [8, 65, 71, 128, 135]


# -- the probe's messages ------------------------------------------------------------------------


def test_64mib_removable_disk_messages(machine: Machine) -> None:
    attach(machine, lun())
    assert scsi_lines(machine) == [
        "scsi host0: fake-storage 1-1:1.0",
        "scsi 0:0:0:0: Direct-Access     USBemu   Mass Storage     1.00 PQ: 0 ANSI: 2",
        "sd 0:0:0:0: [sda] 131072 512-byte logical blocks: (67.1 MB/64.0 MiB)",
        "sd 0:0:0:0: [sda] Write Protect is off",
        "sd 0:0:0:0: [sda] Mode Sense: 03 00 00 00",
        "sd 0:0:0:0: [sda] No Caching mode page found",
        "sd 0:0:0:0: [sda] Assuming drive cache: write through",
        "sd 0:0:0:0: [sda] Attached SCSI removable disk",
    ]


def test_mode_sense_line_is_a_debug_record_kept_without_debug(machine: Machine) -> None:
    attach(machine, lun())
    assert "sd 0:0:0:0: [sda] Mode Sense: 03 00 00 00" in machine.system.log.lines(Level.DEBUG)
    assert "sd 0:0:0:0: [sda] Mode Sense: 03 00 00 00" not in \
        machine.system.log.lines(Level.INFO)


def test_the_probe_commands_are_usb_storage_disk_probe(machine: Machine) -> None:
    lld, _ = attach(machine, lun(removable=False))
    first = [cdb.hex() for _, cdb in lld.commands[:8]]
    assert first == [
        "120000002400",                         # INQUIRY, 36 bytes
        "120000002400",                         # LUN 1: nothing there (PQ 3)
        "000000000000", "000000000000",         # TUR: power-on UNIT ATTENTION, then ready
        "25000000000000000000",                 # READ CAPACITY(10)
        "28000000000000000100",                 # READ(10) of block 0 (read_before_ms)
        "1a003f00c000", "1a003f00c000",         # MODE SENSE(6), all pages, 192 bytes ×2
    ]
    assert [lun_ for lun_, _ in lld.commands[:2]] == [0, 1]


def test_non_removable_disk_says_disk(machine: Machine) -> None:
    attach(machine, lun(removable=False))
    assert scsi_lines(machine)[-1] == "sd 0:0:0:0: [sda] Attached SCSI disk"


def test_1gb_disk(machine: Machine) -> None:
    attach(machine, lun(10 ** 9))
    assert "sd 0:0:0:0: [sda] 1953125 512-byte logical blocks: (1.00 GB/954 MiB)" in \
        scsi_lines(machine)
    assert machine.system.vfs.read_text("/sys/block/sda/size") == "1953125\n"


def test_3tib_disk_uses_read_capacity_16_and_read_16(machine: Machine) -> None:
    lld, shost = attach(machine, lun(3 << 40))
    lines = scsi_lines(machine)
    assert "sd 0:0:0:0: [sda] Very big device. Trying to use READ CAPACITY(16)." in lines
    assert "sd 0:0:0:0: [sda] 6442450944 512-byte logical blocks: (3.30 TB/3.00 TiB)" in lines
    assert next(cdb.hex() for _, cdb in lld.commands if cdb[0] == 0x9E) == \
        "9e100000000000000000000000200000"
    assert disk_of(shost).device.use_16_for_rw
    lld.commands.clear()
    data = machine.system.run(machine.system.block.read("sda", (1 << 32) + 8, 8))
    assert data == bytes(4096)
    assert [cdb.hex() for _, cdb in lld.commands] == ["8800" + "0000000100000008" +
                                                     "00000008" + "0000"]


def test_4096_byte_blocks(machine: Machine) -> None:
    attach(machine, lun(64 * MiB, block_size=4096))
    assert "sd 0:0:0:0: [sda] 16384 4096-byte logical blocks: (67.1 MB/64.0 MiB)" in \
        scsi_lines(machine)
    assert machine.system.vfs.read_text("/sys/block/sda/queue/logical_block_size") == "4096\n"
    assert machine.system.vfs.read_text("/sys/block/sda/size") == "131072\n"


def test_write_protect_on(machine: Machine) -> None:
    _, shost = attach(machine, lun(write_protect=True))
    lines = scsi_lines(machine)
    assert "sd 0:0:0:0: [sda] Write Protect is on" in lines
    assert "sd 0:0:0:0: [sda] Mode Sense: 03 00 80 00" in machine.system.log.lines()
    assert machine.system.vfs.read_text("/sys/block/sda/ro") == "1\n"
    disk = disk_of(shost).disk
    assert machine.system.run(bdev_open(disk.part0, BlkOpen.READ | BlkOpen.WRITE)) == \
        -Errno.EROFS


def test_caching_page_found(machine: Machine) -> None:
    attach(machine, lun(report_caching_page=True))
    lines = scsi_lines(machine)
    assert "sd 0:0:0:0: [sda] Write cache: disabled, read cache: enabled, doesn't support " \
           "DPO or FUA" in lines
    assert not any("Caching mode page" in line or "Assuming drive cache" in line
                   for line in lines)


def test_caching_page_asked_by_number_without_the_usb_quirks(machine: Machine) -> None:
    lld, _ = attach(machine, lun(), usb=False)
    assert any(cdb.hex() == "1a0008000400" for _, cdb in lld.commands)  # page 8, 4 bytes
    assert "sd 0:0:0:0: [sda] Write cache: disabled, read cache: enabled, doesn't support " \
           "DPO or FUA" in scsi_lines(machine)


def test_empty_drive_at_scan(machine: Machine) -> None:
    _, shost = attach(machine, lun(medium=None))
    assert scsi_lines(machine)[2:] == [
        "sd 0:0:0:0: [sda] Media removed, stopped polling",
        "sd 0:0:0:0: [sda] Attached SCSI removable disk",
    ]
    assert machine.system.vfs.read_text("/sys/block/sda/size") == "0\n"
    disk = disk_of(shost).disk
    assert machine.system.run(bdev_open(disk.part0, BlkOpen.READ)) == -Errno.ENOMEDIUM
    assert machine.system.run(bdev_open(disk.part0, BlkOpen.READ | BlkOpen.NDELAY)) == 0


def test_medium_inserted_later_is_found_at_open(machine: Machine) -> None:
    unit = lun(medium=None)
    _, shost = attach(machine, unit)
    unit.insert(MemoryMedium(64 * MiB))
    disk = disk_of(shost).disk
    assert machine.system.run(bdev_open(disk.part0, BlkOpen.READ)) == 0
    lines = machine.log()
    assert "sda: detected capacity change from 0 to 131072" in lines
    assert "sd 0:0:0:0: [sda] 131072 512-byte logical blocks: (67.1 MB/64.0 MiB)" in lines
    assert disk.capacity == 131072
    assert unit.prevented  # the first opener locks the door
    machine.system.run(bdev_release(disk.part0))
    assert not unit.prevented


def test_medium_ejected_fails_reads_with_sense(machine: Machine) -> None:
    unit = lun()
    attach(machine, unit)
    assert unit.eject()
    machine.system.log.clear()
    with pytest.raises(OSError) as failure:
        machine.system.run(machine.system.block.read("sda", 0, 8))
    assert failure.value.errno == Errno.EIO
    assert machine.log() == [
        "sd 0:0:0:0: [sda] tag#0 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK "
        "cmd_age=0s",
        "sd 0:0:0:0: [sda] tag#0 Sense Key : Not Ready [current] ",
        "sd 0:0:0:0: [sda] tag#0 Add. Sense: Medium not present",
        "sd 0:0:0:0: [sda] tag#0 CDB: Read(10) 28 00 00 00 00 00 00 00 08 00",
        "I/O error, dev sda, sector 0 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
    ]


# -- I/O -------------------------------------------------------------------------------------------


def test_writes_and_reads_reach_the_medium_in_240_sector_commands(machine: Machine) -> None:
    unit = lun()
    lld, _ = attach(machine, unit)
    lld.commands.clear()
    data = bytes(range(256)) * 4096  # 1 MiB
    machine.system.run(machine.system.block.write("sda", 100, data))
    assert unit.medium is not None and unit.medium.read(100, 2048) == data
    writes = [cdb for _, cdb in lld.commands if cdb[0] == 0x2A]
    assert [int.from_bytes(c[7:9], "big") for c in writes] == [240] * 8 + [128]
    assert [int.from_bytes(c[2:6], "big") for c in writes][:2] == [100, 340]
    assert machine.system.run(machine.system.block.read("sda", 100, 2048)) == data


def test_last_sectors_are_read_one_at_a_time(machine: Machine) -> None:
    lld, _ = attach(machine, lun())
    lld.commands.clear()
    machine.system.run(machine.system.block.read("sda", 131072 - 16, 16))
    reads = [(int.from_bytes(c[2:6], "big"), int.from_bytes(c[7:9], "big"))
             for _, c in lld.commands if c[0] == 0x28]
    assert reads == [(131056, 8)] + [(131064 + i, 1) for i in range(8)]


def test_read_beyond_the_end_never_reaches_the_unit(machine: Machine) -> None:
    lld, _ = attach(machine, lun())
    lld.commands.clear()
    with pytest.raises(OSError):
        machine.system.run(machine.system.block.read("sda", 131072, 8))
    assert lld.commands == []


def test_flush_sends_synchronize_cache_only_with_a_write_cache(machine: Machine) -> None:
    lld, shost = attach(machine, lun())
    lld.commands.clear()
    machine.system.run(machine.system.block.flush("sda"))
    assert lld.commands == []
    _write_attr(machine, "/sys/class/scsi_disk/0:0:0:0/cache_type", b"temporary write back\n")
    assert machine.system.vfs.read_text("/sys/class/scsi_disk/0:0:0:0/cache_type") == \
        "write back\n"
    machine.system.run(machine.system.block.flush("sda"))
    assert [cdb.hex() for _, cdb in lld.commands] == ["35000000000000000000"]
    assert disk_of(shost).WCE


def _write_attr(machine: Machine, path: str, data: bytes) -> int:
    _, node = machine.system.vfs.resolve(path)
    assert isinstance(node, Attr) and node.store is not None
    return machine.system.run(node.store(data))


def test_cache_type_accepts_only_temporary_types(machine: Machine) -> None:
    attach(machine, lun())
    path = "/sys/class/scsi_disk/0:0:0:0/cache_type"
    assert _write_attr(machine, path, b"write back\n") == -Errno.EINVAL
    assert _write_attr(machine, path, b"temporary sideways\n") == -Errno.EINVAL
    assert machine.system.vfs.read_text(path) == "write through\n"


def test_scsi_disk_attributes(machine: Machine) -> None:
    attach(machine, lun())
    base = "/sys/class/scsi_disk/0:0:0:0"
    read = machine.system.vfs.read_text
    assert read(f"{base}/FUA") == "0\n"
    assert read(f"{base}/allow_restart") == "1\n"
    assert read(f"{base}/max_retries") == "5\n"
    assert read(f"{base}/protection_mode") == "none\n"
    assert _write_attr(machine, f"{base}/max_retries", b"2\n") == 2
    assert read(f"{base}/max_retries") == "2\n"
    assert _write_attr(machine, f"{base}/max_retries", b"9\n") == -Errno.EINVAL
    assert "sd 0:0:0:0: max_retries must be between -1 and 5" in machine.log()
    assert "dev" not in machine.system.vfs.listdir(base)


# -- names, removal -------------------------------------------------------------------------------


def test_two_hosts_get_sda_and_sdb(machine: Machine) -> None:
    attach(machine, lun())
    attach(machine, lun())
    lines = scsi_lines(machine)
    assert "scsi host1: fake-storage 1-1:1.0" in lines
    assert "sd 1:0:0:0: [sdb] Attached SCSI removable disk" in lines
    assert machine.system.vfs.stat("/dev/sdb").rdev == (8, 16)


def test_two_luns_get_two_disks(machine: Machine) -> None:
    attach(machine, lun(), lun(16 * MiB))
    lines = scsi_lines(machine)
    assert lines[1:3] == [
        "scsi 0:0:0:0: Direct-Access     USBemu   Mass Storage     1.00 PQ: 0 ANSI: 2",
        "scsi 0:0:0:1: Direct-Access     USBemu   Mass Storage     1.00 PQ: 0 ANSI: 2",
    ]  # an asynchronous scan shows both units before either disk
    assert "sd 0:0:0:1: [sdb] 32768 512-byte logical blocks: (16.8 MB/16.0 MiB)" in lines


def test_remove_host_takes_the_disk_away(machine: Machine) -> None:
    _, shost = attach(machine, lun())
    vfs = machine.system.vfs
    assert vfs.exists("/dev/sda")
    machine.system.run(scsi_remove_host(shost))
    machine.system.settle()
    assert not vfs.exists("/dev/sda")
    assert not vfs.exists("/sys/block/sda")
    assert vfs.listdir("/sys/bus/scsi/devices") == []
    assert not vfs.exists("/sys/devices/1-1:1.0/host0")
    assert "Synchronizing SCSI cache" not in " ".join(machine.log())
    scsi_host_put(shost)
    attach(machine, lun())
    assert "sd 0:0:0:0: [sda] Attached SCSI removable disk" in scsi_lines(machine)[-1:]


def test_remove_with_write_cache_synchronizes(machine: Machine) -> None:
    lld, shost = attach(machine, lun())
    _write_attr(machine, "/sys/class/scsi_disk/0:0:0:0/cache_type", b"temporary write back\n")
    lld.commands.clear()
    machine.system.run(scsi_remove_host(shost))
    assert "sd 0:0:0:0: [sda] Synchronizing SCSI cache" in machine.log()
    assert [cdb[0] for _, cdb in lld.commands] == [0x35]


def test_rescan_attribute_revalidates(machine: Machine) -> None:
    lld, _ = attach(machine, lun())
    lld.commands.clear()
    _write_attr(machine, "/sys/bus/scsi/devices/0:0:0:0/rescan", b"1\n")
    assert 0x25 in opcodes(lld)


def test_unit_attention_on_a_removable_disk_fails_io_until_reopened(machine: Machine) -> None:
    unit = lun()
    _, shost = attach(machine, unit)
    unit.insert(MemoryMedium(64 * MiB))  # a new medium: UNIT ATTENTION 28/00
    with pytest.raises(OSError):
        machine.system.run(machine.system.block.read("sda", 0, 8))
    assert shost.devices[0].changed
    with pytest.raises(OSError):
        machine.system.run(machine.system.block.read("sda", 0, 8))
    assert "sd 0:0:0:0: [sda] device offline or changed" in machine.log()
    disk = disk_of(shost).disk
    assert machine.system.run(bdev_open(disk.part0, BlkOpen.READ)) == 0
    machine.system.run(bdev_release(disk.part0))
    assert machine.system.run(machine.system.block.read("sda", 0, 8)) == bytes(4096)


def test_unit_attention_on_a_fixed_disk_is_retried(machine: Machine) -> None:
    unit = lun(removable=False)
    lld, _ = attach(machine, unit)
    unit.reset()  # power-on UNIT ATTENTION pending
    lld.commands.clear()
    assert machine.system.run(machine.system.block.read("sda", 0, 8)) == bytes(4096)
    assert opcodes(lld) == [0x28, 0x28]



def test_unit_not_ready_is_spun_up(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    started = [False]

    def hook(cmd: ScsiCmnd) -> Answer | None:
        if cmd.cmnd[0] == 0x1B:
            started[0] = True
        if cmd.cmnd[0] == 0x00 and not started[0]:
            return Answer(0x02, Sense(SenseKey.NOT_READY, 0x04, 0x02).fixed())
        return None
    lld.hook = hook
    start = machine.system.time()
    machine.system.run(machine.attach(lld))
    assert "sd 0:0:0:0: [sda] Spinning up disk....ready" in machine.log()
    assert [cdb.hex() for _, cdb in lld.commands if cdb[0] == 0x1B] == ["1b0100000100"]
    assert machine.system.time() - start >= 1.0


def test_unit_not_ready_for_another_reason(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    lld.hook = lambda cmd: Answer(0x02, Sense(SenseKey.HARDWARE_ERROR, 0x44, 0).fixed()) \
        if cmd.cmnd[0] == 0x00 else None
    machine.system.run(machine.attach(lld))
    lines = machine.log()
    at = lines.index("sd 0:0:0:0: [sda] Unit Not Ready")
    assert lines[at + 1:at + 3] == ["sd 0:0:0:0: [sda] Sense Key : Hardware Error [current] ",
                                    "sd 0:0:0:0: [sda] Add. Sense: Internal target failure"]


def test_read_capacity_failure_is_reported(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun(removable=False)]))
    lld.hook = lambda cmd: Answer(0x02, Sense(SenseKey.MEDIUM_ERROR, 0x11, 0).fixed()) \
        if cmd.cmnd[0] == 0x25 else None
    machine.system.run(machine.attach(lld))
    lines = machine.log()
    assert "sd 0:0:0:0: [sda] Read Capacity(10) failed: Result: hostbyte=DID_OK " \
           "driverbyte=DRIVER_OK" in lines
    assert "sd 0:0:0:0: [sda] Add. Sense: Unrecovered read error" in lines
    assert [cdb[0] for _, cdb in lld.commands].count(0x25) == 4  # once and 3 retries
    assert "sd 0:0:0:0: [sda] Attached SCSI disk" in lines


@settings(max_examples=40)
@given(opcode=st.sampled_from([0x12, 0x00, 0x25, 0x9E, 0x1A, 0x28]),
       status=st.sampled_from([0x00, 0x02, 0x18, 0x22, 0x40]),
       data=st.binary(max_size=96), sense=st.binary(max_size=24))
def test_any_answer_to_a_probe_command_is_survived(opcode: int, status: int, data: bytes,
                                                   sense: bytes) -> None:
    """Garbage data, sense and statuses (BUSY aside: see test_scsi_lib) never crash the
    probe or hang it."""
    with System() as system:
        machine = make_machine(system)
        lld = FakeLld(DeviceTarget([lun()]))
        lld.hook = lambda cmd: Answer(status, sense, data) if cmd.cmnd[0] == opcode else None
        system.run(machine.attach(lld))
        system.settle()
        assert not any("BUG" in line for line in system.log.lines())
