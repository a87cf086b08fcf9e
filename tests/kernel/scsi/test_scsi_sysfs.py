"""The scsi bus in sysfs (usbemu.kernel.scsi.scsi_sysfs): the tree under the parent
interface, the bus and class directories, the unit's attributes and uevents, and the
writable delete, state and timeout files."""

from __future__ import annotations

import pytest
from usbemu_tests_scsikit import FakeLld, Machine, lun

from usbemu.emulated.scsi_target import ScsiTarget as DeviceTarget
from usbemu.errors import Errno
from usbemu.kernel.device import Uevent
from usbemu.kernel.scsi.hosts import ScsiHost
from usbemu.kernel.scsi.scsi_device import SdevState
from usbemu.kernel.vfs import Attr

UNIT = "/sys/devices/1-1:1.0/host0/target0:0:0/0:0:0:0"


def attach(machine: Machine) -> tuple[FakeLld, ScsiHost]:
    lld = FakeLld(DeviceTarget([lun()]))
    shost = machine.system.run(machine.attach(lld))
    machine.system.settle()
    return lld, shost


def store(machine: Machine, path: str, data: bytes) -> int:
    _, node = machine.system.vfs.resolve(path)
    assert isinstance(node, Attr) and node.store is not None
    result: int = machine.system.run(node.store(data))
    machine.system.settle()
    return result


def test_tree_under_the_interface(machine: Machine) -> None:
    attach(machine)
    vfs = machine.system.vfs
    assert vfs.exists(f"{UNIT}/block/sda")
    assert vfs.readlink("/sys/block/sda") == \
        "../devices/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda"
    assert set(vfs.listdir("/sys/devices/1-1:1.0/host0")) >= {
        "scsi_host", "subsystem", "target0:0:0", "uevent"}
    assert vfs.listdir(f"{UNIT}/scsi_device") == ["0:0:0:0"]
    assert vfs.listdir(f"{UNIT}/scsi_disk") == ["0:0:0:0"]


def test_bus_devices_and_driver(machine: Machine) -> None:
    attach(machine)
    vfs = machine.system.vfs
    assert sorted(vfs.listdir("/sys/bus/scsi/devices")) == ["0:0:0:0", "host0", "target0:0:0"]
    assert vfs.readlink("/sys/bus/scsi/devices/0:0:0:0") == \
        "../../../devices/1-1:1.0/host0/target0:0:0/0:0:0:0"
    assert vfs.readlink(f"{UNIT}/driver").endswith("bus/scsi/drivers/sd")
    assert "0:0:0:0" in vfs.listdir("/sys/bus/scsi/drivers/sd")


@pytest.mark.parametrize(("path", "text"), [
    ("/sys/devices/1-1:1.0/host0/uevent", "DEVTYPE=scsi_host\n"),
    ("/sys/devices/1-1:1.0/host0/target0:0:0/uevent", "DEVTYPE=scsi_target\n"),
    (f"{UNIT}/uevent", "DEVTYPE=scsi_device\nDRIVER=sd\nMODALIAS=scsi:t-0x00\n"),
    (f"{UNIT}/vendor", "USBemu  \n"),
    (f"{UNIT}/model", "Mass Storage    \n"),
    (f"{UNIT}/rev", "1.00\n"),
    (f"{UNIT}/type", "0\n"),
    (f"{UNIT}/scsi_level", "3\n"),
    (f"{UNIT}/state", "running\n"),
    (f"{UNIT}/timeout", "30\n"),
    (f"{UNIT}/eh_timeout", "10\n"),
    (f"{UNIT}/queue_depth", "1\n"),
    (f"{UNIT}/queue_type", "none\n"),
    (f"{UNIT}/device_blocked", "0\n"),
    (f"{UNIT}/device_busy", "0\n"),
    (f"{UNIT}/iocounterbits", "32\n"),
    (f"{UNIT}/ioerr_cnt", "0x1\n"),  # the power-on UNIT ATTENTION of sd's first TUR
    (f"{UNIT}/modalias", "scsi:t-0x00\n"),
    (f"{UNIT}/blacklist", "SKIP_IO_HINTS\n"),
    (f"{UNIT}/dh_state", "detached\n"),
    (f"{UNIT}/evt_media_change", "0\n"),
    ("/sys/class/scsi_host/host0/proc_name", "fake-storage\n"),
    ("/sys/class/scsi_host/host0/can_queue", "1\n"),
    ("/sys/class/scsi_host/host0/cmd_per_lun", "1\n"),
    ("/sys/class/scsi_host/host0/state", "running\n"),
    ("/sys/class/scsi_host/host0/host_busy", "0\n"),
    ("/sys/class/scsi_host/host0/supported_mode", "Initiator\n"),
    ("/sys/class/scsi_host/host0/eh_deadline", "off\n"),
    ("/sys/class/scsi_host/host0/uevent", ""),
    ("/sys/block/sda/removable", "1\n"),
    ("/sys/block/sda/queue/max_hw_sectors_kb", "120\n"),
])
def test_attributes(machine: Machine, path: str, text: str) -> None:
    attach(machine)
    assert machine.system.vfs.read_text(path) == text


def test_io_counters_count(machine: Machine) -> None:
    attach(machine)
    read = machine.system.vfs.read_text
    before = int(read(f"{UNIT}/iorequest_cnt"), 16)
    machine.system.run(machine.system.block.read("sda", 0, 8))
    assert int(read(f"{UNIT}/iorequest_cnt"), 16) == before + 1
    assert int(read(f"{UNIT}/iodone_cnt"), 16) == before + 1


def test_inquiry_is_binary(machine: Machine) -> None:
    attach(machine)
    data = machine.system.vfs.read(f"{UNIT}/inquiry")
    assert len(data) == 36 and data[8:36] == b"USBemu  Mass Storage    1.00"


def test_class_devices_have_no_device_node(machine: Machine) -> None:
    attach(machine)
    vfs = machine.system.vfs
    assert "dev" not in vfs.listdir("/sys/class/scsi_host/host0")
    assert "dev" not in vfs.listdir("/sys/class/scsi_device/0:0:0:0")
    assert sorted(vfs.listdir("/dev")).count("host0") == 0


def test_uevents_of_the_scan(machine: Machine) -> None:
    events: list[Uevent] = []
    machine.system.driver_core.listeners.append(events.append)
    attach(machine)
    adds = [(e.devpath.rsplit("/", 1)[-1], e.get("DEVTYPE")) for e in events
            if e.action == "add"]
    assert adds[:4] == [("host0", "scsi_host"), ("host0", None),
                        ("target0:0:0", "scsi_target"), ("0:0:0:0", "scsi_device")]
    unit_add = next(e for e in events if e.action == "add" and e.devpath.endswith("0:0:0:0"))
    assert unit_add.get("MODALIAS") == "scsi:t-0x00"
    assert any(e.action == "bind" and e.get("DRIVER") == "sd" for e in events)


def test_delete_removes_the_unit(machine: Machine) -> None:
    _, shost = attach(machine)
    assert store(machine, f"{UNIT}/delete", b"1\n") == 2
    vfs = machine.system.vfs
    assert not vfs.exists("/dev/sda")
    assert not vfs.exists(UNIT)
    assert not vfs.exists("/sys/devices/1-1:1.0/host0/target0:0:0")
    assert vfs.listdir("/sys/bus/scsi/devices") == ["host0"]
    assert shost.devices == []


def test_state_offline_and_back(machine: Machine) -> None:
    lld, shost = attach(machine)
    assert store(machine, f"{UNIT}/state", b"offline\n") == 8
    assert shost.devices[0].sdev_state is SdevState.OFFLINE
    with pytest.raises(OSError):
        machine.system.run(machine.system.block.read("sda", 0, 8))
    assert "sd 0:0:0:0: rejecting I/O to offline device" in machine.log()
    lld.commands.clear()
    assert store(machine, f"{UNIT}/state", b"running\n") == 8
    assert 0x25 in [cdb[0] for _, cdb in lld.commands]  # rescanned
    assert machine.system.run(machine.system.block.read("sda", 0, 8)) == bytes(4096)
    assert store(machine, f"{UNIT}/state", b"blocked\n") == -Errno.EINVAL


def test_timeout_is_writable(machine: Machine) -> None:
    _, shost = attach(machine)
    assert store(machine, f"{UNIT}/timeout", b"7\n") == 2
    assert shost.devices[0].timeout_s == 7.0
    assert store(machine, f"{UNIT}/timeout", b"x\n") == -Errno.EINVAL
