"""Disks (usbemu.kernel.block.genhd): add_disk's nodes, sysfs tree, uevents and partition
scan; del_gendisk; capacity and read-only changes; names; the block layer's Python API."""

from __future__ import annotations

from typing import Any

import pytest
from usbemu_tests_blockkit import GptPart, gpt_image, image_with, mbr, mbr_entry

from usbemu.errors import Errno, IllegalStateTransition
from usbemu.kernel.block.blk_mq import RequestQueue, blk_read
from usbemu.kernel.block.genhd import (
    BlockDeviceOperations,
    DiskEvent,
    DiskState,
    Gendisk,
    add_disk,
    alloc_disk,
    block_core_of,
    del_gendisk,
    disk_force_media_change,
    disk_name_for_index,
    set_capacity,
    set_capacity_and_notify,
    set_disk_ro,
)
from usbemu.kernel.block.request import ReqOp
from usbemu.kernel.device import Uevent
from usbemu.kernel.printk import Level
from usbemu.system import System

TWO_PARTS = image_with(16384, (0, mbr(mbr_entry(0x83, 2048, 4096, 0x80),
                                      mbr_entry(0x0C, 6144, 2048))))


def events_of(system: System) -> list[Uevent]:
    events: list[Uevent] = []
    system.driver_core.listeners.append(events.append)
    return events


def test_add_disk_makes_nodes_sysfs_and_partitions(system: System, disks: Any) -> None:
    events = events_of(system)
    disk, ram = disks.add(TWO_PARTS)
    vfs = system.vfs
    assert " sda: sda1 sda2" in system.log.lines(Level.INFO)
    assert ram.requests == [(ReqOp.READ, 0, 8)]  # one page holds both parsers' sector 0
    assert [(e.action, e.devpath) for e in events] == [
        ("add", "/devices/0:0:0:0/block/sda"),
        ("add", "/devices/0:0:0:0/block/sda/sda1"),
        ("add", "/devices/0:0:0:0/block/sda/sda2")]
    assert events[0].env == (("MAJOR", "8"), ("MINOR", "0"), ("DEVNAME", "sda"),
                             ("DEVTYPE", "disk"), ("DISKSEQ", "1"))
    assert events[1].env == (("MAJOR", "8"), ("MINOR", "1"), ("DEVNAME", "sda1"),
                             ("DEVTYPE", "partition"), ("DISKSEQ", "1"), ("PARTN", "1"))
    for name, minor in (("sda", 0), ("sda1", 1), ("sda2", 2)):
        st = vfs.stat(f"/dev/{name}")
        assert st.is_blk and not st.is_chr and st.rdev == (8, minor)
    assert vfs.readlink("/sys/block/sda") == "../devices/0:0:0:0/block/sda"
    assert vfs.readlink("/sys/class/block/sda1") == "../../devices/0:0:0:0/block/sda/sda1"
    assert vfs.readlink("/sys/dev/block/8:2") == "../../devices/0:0:0:0/block/sda/sda2"
    assert vfs.readlink("/sys/block/sda/device") == "../../../0:0:0:0"
    assert vfs.readlink("/sys/block/sda/subsystem") == "../../../../class/block"
    assert vfs.listdir("/sys/devices/0:0:0:0/block") == ["sda"]
    expected = {"size": "16384", "ro": "0", "removable": "0", "range": "16",
                "ext_range": "256", "dev": "8:0", "hidden": "0", "diskseq": "1",
                "partscan": "1", "alignment_offset": "0", "discard_alignment": "0",
                "events": "", "events_async": "", "events_poll_msecs": "-1",
                "inflight": "       0        0"}
    for attr, value in expected.items():
        assert vfs.read_text(f"/sys/block/sda/{attr}") == value + "\n", attr
    assert vfs.read_text("/sys/block/sda/stat").split() == \
        ["1", "0", "8", "0"] + ["0"] * 13
    assert vfs.read_text("/sys/block/sda/uevent") == \
        "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\nDISKSEQ=1\n"
    assert {"queue", "holders", "slaves", "sda1", "sda2", "stat", "capability"} <= \
        set(vfs.listdir("/sys/block/sda"))
    part = "/sys/block/sda/sda1"
    assert [vfs.read_text(f"{part}/{a}") for a in ("partition", "start", "size", "ro", "dev")] \
        == ["1\n", "2048\n", "4096\n", "0\n", "8:1\n"]
    assert vfs.read_text(f"{part}/uevent") == \
        "MAJOR=8\nMINOR=1\nDEVNAME=sda1\nDEVTYPE=partition\nDISKSEQ=1\nPARTN=1\n"
    assert "device" not in vfs.listdir(part) and "holders" in vfs.listdir(part)
    assert vfs.read_text("/proc/partitions") == (
        "major minor  #blocks  name\n\n"
        "   8        0       8192 sda\n"
        "   8        1       2048 sda1\n"
        "   8        2       1024 sda2\n")
    assert disk.state is DiskState.LIVE and block_core_of(system.loop).disk("sda") is disk
    assert not system.devtmpfs.delete_node("sda", 8, 0)  # a char node's removal: not this one
    assert system.vfs.stat("/dev/sda").is_blk


def test_queue_files(system: System, disks: Any) -> None:
    disks.add(2048)
    queue = "/sys/block/sda/queue"
    values = {name: system.vfs.read_text(f"{queue}/{name}").strip()
              for name in system.vfs.listdir(queue)}
    assert values == {"hw_sector_size": "512", "logical_block_size": "512",
                      "physical_block_size": "512", "minimum_io_size": "512",
                      "optimal_io_size": "0", "max_hw_sectors_kb": "120",
                      "max_sectors_kb": "120", "nr_requests": "2", "read_ahead_kb": "128",
                      "rotational": "1", "write_cache": "write through", "iostats": "1",
                      "nomerges": "0"}
    assert system.run(system.vfs.write(f"{queue}/max_sectors_kb", "64\n")) == 3
    assert system.vfs.read_text(f"{queue}/max_sectors_kb") == "64\n"
    for bad in ("2", "x", "-1"):
        with pytest.raises(OSError) as info:
            system.run(system.vfs.write(f"{queue}/max_sectors_kb", bad))
        assert info.value.errno == Errno.EINVAL
    assert system.run(system.vfs.write(f"{queue}/max_sectors_kb", "0")) == 1
    assert system.vfs.read_text(f"{queue}/max_sectors_kb") == "120\n"


def test_capability_is_deprecated_and_said_once(system: System, disks: Any) -> None:
    disks.add(2048)
    assert system.vfs.read_text("/sys/block/sda/capability") == "0\n"
    assert system.vfs.read_text("/sys/block/sda/capability") == "0\n"
    warning = "block sda: the capability attribute has been deprecated."
    assert system.log.lines(Level.WARNING).count(warning) == 1


def test_removable_disk_reports_media_change_events(system: System, disks: Any) -> None:
    disk, _ = disks.add(2048, removable=True)
    disk.events = DiskEvent.MEDIA_CHANGE
    assert system.vfs.read_text("/sys/block/sda/removable") == "1\n"
    assert system.vfs.read_text("/sys/block/sda/events") == "media_change\n"


def test_disk_without_a_table_and_a_fat_superfloppy(system: System, disks: Any) -> None:
    disks.add(2048)
    assert not any(line.startswith(" sda") for line in system.log.lines())
    assert system.vfs.listdir("/sys/dev/block") == ["8:0"]
    fat = bytearray(512)
    fat[14:17] = b"\x01\x00\x02"  # one reserved sector, two FATs
    fat[21] = 0xF8                # fixed-disk media byte
    fat[0x1BE] = 0xEB             # boot code where the first entry's boot indicator is
    fat[510:512] = b"\x55\xaa"
    disks.add(image_with(2048, (0, bytes(fat))), name="sdb", index=1)
    assert " sdb:" in system.log.lines(Level.INFO)
    assert "sdb1" not in system.vfs.listdir("/sys/block/sdb")


def test_empty_disk_is_not_scanned(system: System, disks: Any) -> None:
    disk, ram = disks.add(0)
    assert ram.requests == [] and disk.capacity == 0
    assert system.vfs.read_text("/proc/partitions") == "major minor  #blocks  name\n\n"


def test_partitions_beyond_the_minors_get_major_259(system: System, disks: Any) -> None:
    parts = [GptPart(0, 0, type_guid=bytes(16))] * 19 + [GptPart(100, 199, "twenty")]
    disks.add(gpt_image(4096, parts))
    assert " sda: sda20" in system.log.lines(Level.INFO)
    assert system.vfs.stat("/dev/sda20").rdev == (259, 0)
    assert system.vfs.read_text("/sys/block/sda/sda20/uevent").endswith(
        "PARTN=20\nPARTNAME=twenty\n")


def test_add_disk_refusals(system: System, disks: Any) -> None:
    disk, _ = disks.add(2048)
    assert system.run(add_disk(disk, disks.parent)) == -Errno.EINVAL
    ops = BlockDeviceOperations(owner=None)
    twin = Gendisk("sda", 8, 16, 16, ops, RequestQueue(disks.add(8, name="sdb", index=2)[1]))
    assert system.run(add_disk(twin, disks.parent)) == -Errno.EEXIST
    assert "sysfs: cannot create duplicate filename '/class/block/sda'" in system.log.lines()
    nameless = alloc_disk(RequestQueue(disks.add(8, name="sdc", index=3)[1]))
    with pytest.raises(ValueError, match="disk_name"):
        system.run(add_disk(nameless, None))
    with pytest.raises(ValueError, match="already serves"):
        Gendisk("sdd", 8, 48, 16, ops, disk.queue)
    bad = Gendisk("sde", 8, 64, 0, ops, RequestQueue(disks.add(8, name="sdf", index=5)[1]))
    assert system.run(add_disk(bad, None)) == -Errno.EINVAL
    with pytest.raises(IllegalStateTransition):
        disk.set_state(DiskState.ALLOCATED)


def test_disk_without_a_major_gets_an_extended_number(system: System, disks: Any) -> None:
    ram = disks.add(8, name="sdz", index=9)[1]
    disk = alloc_disk(RequestQueue(ram))
    disk.disk_name = "vda"
    set_capacity(disk, 64)
    assert system.run(add_disk(disk, None)) == 0
    assert system.vfs.stat("/dev/vda").rdev == (259, 0)
    assert system.vfs.readlink("/sys/block/vda") == "../devices/virtual/block/vda"
    assert system.vfs.read_text("/sys/block/vda/ext_range") == "256\n"
    system.run(del_gendisk(disk))
    assert system.vfs.listdir("/sys/block") == ["sdz"]


def test_del_gendisk_removes_everything(system: System, disks: Any) -> None:
    disk, _ = disks.add(TWO_PARTS)
    file = system.open("/dev/sda1", "rb")
    events = events_of(system)
    system.run(del_gendisk(disk))
    assert [(e.action, e.devpath.rsplit("/", 1)[1]) for e in events] == [
        ("remove", "sda1"), ("remove", "sda2"), ("remove", "sda")]
    assert disk.state is DiskState.DEAD
    assert [n for n in system.vfs.listdir("/dev") if n.startswith("sd")] == []
    assert system.vfs.listdir("/sys/block") == [] and system.vfs.listdir("/sys/dev/block") == []
    assert system.vfs.listdir("/sys/class/block") == []
    with pytest.raises(OSError) as info:
        file.read(512)
    assert info.value.errno == Errno.ENODEV
    file.close()
    with pytest.raises(OSError) as info:
        system.run(blk_read(disk, 0, 1))
    assert info.value.errno == Errno.EIO
    with pytest.raises(OSError) as info:
        system.open("/dev/sda", "rb")
    assert info.value.errno == Errno.ENOENT
    system.run(del_gendisk(disk))  # a second time does nothing
    with pytest.raises(ValueError, match="no disk 'sda'; disks: none"):
        block_core_of(system.loop).disk("sda")


def test_capacity_change_is_told(system: System, disks: Any) -> None:
    disk, _ = disks.add(2048)
    events = events_of(system)
    assert set_capacity_and_notify(disk, 4096)
    assert system.log.lines(Level.INFO)[-1] == "sda: detected capacity change from 2048 to 4096"
    assert events[-1].action == "change" and events[-1].env[0] == ("RESIZE", "1")
    assert system.vfs.read_text("/sys/block/sda/size") == "4096\n"
    assert not set_capacity_and_notify(disk, 0)
    assert system.log.lines(Level.INFO)[-1] == "sda: detected capacity change from 4096 to 0"
    assert not set_capacity_and_notify(disk, 0)
    assert len(events) == 1
    with pytest.raises(ValueError):
        set_capacity(disk, -1)


def test_set_disk_ro(system: System, disks: Any) -> None:
    disk, _ = disks.add(TWO_PARTS)
    events = events_of(system)
    set_disk_ro(disk, True)
    set_disk_ro(disk, True)
    assert [e.env[0] for e in events] == [("DISK_RO", "1")]
    assert system.vfs.read_text("/sys/block/sda/ro") == "1\n"
    assert system.vfs.read_text("/sys/block/sda/sda2/ro") == "1\n"
    set_disk_ro(disk, False)
    assert events[-1].env[0] == ("DISK_RO", "0")
    assert system.vfs.read_text("/sys/block/sda/ro") == "0\n"


def test_media_change_rescans_at_next_open(system: System, disks: Any) -> None:
    disk, ram = disks.add(TWO_PARTS)
    events = events_of(system)
    ram.data[0x1CE:0x1DE] = bytes(16)  # the medium now has one partition
    disk_force_media_change(disk)
    assert events[-1].env[0] == ("DISK_MEDIA_CHANGE", "1") and disk.diskseq == 2
    system.open("/dev/sda", "rb").close()
    assert system.log.lines(Level.INFO)[-1] == " sda: sda1"
    assert [(e.action, e.devpath.rsplit("/", 1)[1]) for e in events[1:]] == [
        ("remove", "sda1"), ("remove", "sda2"), ("change", "sda"), ("add", "sda1")]
    assert system.vfs.read_text("/sys/block/sda/diskseq") == "2\n"


def test_disk_name_for_index() -> None:
    assert [disk_name_for_index("sd", i) for i in (0, 25, 26, 51, 701, 702, 18277)] == \
        ["sda", "sdz", "sdaa", "sdaz", "sdzz", "sdaaa", "sdzzz"]
    with pytest.raises(ValueError):
        disk_name_for_index("sd", -1)


def test_python_api(system: System, disks: Any) -> None:
    disks.add(TWO_PARTS)
    core = block_core_of(system.loop)
    system.run(core.write("sda2", 0, b"\x42" * 1024))
    assert system.run(core.read("sda", 6144, 2)) == b"\x42" * 1024
    assert system.run(core.read("sda2", 1, 1)) == b"\x42" * 512
    system.run(core.flush("sda1"))
    assert core.bdev("sda2").bd_start_sect == 6144
    with pytest.raises(ValueError, match="there are: sda, sda1, sda2"):
        core.bdev("sdb")
    with pytest.raises(RuntimeError):
        block_core_of()
