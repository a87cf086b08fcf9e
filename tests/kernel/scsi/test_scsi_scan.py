"""Scanning (usbemu.kernel.scsi.scsi_scan): INQUIRY passes and retries, the unit line,
"no unit here" answers, sequential LUN scans and REPORT LUNS, scan modes, manual scans."""

from __future__ import annotations

import pytest
from usbemu_tests_scsikit import Answer, FakeLld, Machine, lun

from usbemu.emulated.scsi_target import ScsiTarget as DeviceTarget
from usbemu.kernel.scsi.hosts import ScsiHost
from usbemu.kernel.scsi.scsi_cmnd import HostByte, ScsiCmnd
from usbemu.kernel.scsi.scsi_scan import (
    SCAN_WILD_CARD,
    ScanMode,
    scsi_sanitize_inquiry_string,
    scsi_scan_host_selected,
    scsilun_to_int,
)
from usbemu.kernel.vfs import Attr
from usbemu.spec.scsi import POWER_ON_RESET, InquiryData, Sense, SenseKey


def inquiry(pdt: int = 0, qualifier: int = 0, version: int = 2, extra: int = 0,
            vendor: str = "USBemu", product: str = "Mass Storage") -> bytes:
    data = bytearray(InquiryData(pdt, True, version, 2, vendor, product, "1.00",
                                 qualifier).to_bytes())
    data[4] = 31 + extra
    return bytes(data) + bytes(range(extra))


def with_inquiry(lld: FakeLld, answers: dict[int, bytes | Answer]) -> None:
    """Answer INQUIRY (not VPD) for the LUNs in `answers`."""
    def hook(cmd: ScsiCmnd) -> Answer | None:
        if cmd.cmnd[0] == 0x12 and not cmd.cmnd[1] & 1 and cmd.lun in answers:
            answer = answers[cmd.lun]
            return answer if isinstance(answer, Answer) else Answer(data=answer)
        return None
    lld.hook = hook


def scan(machine: Machine, lld: FakeLld) -> ScsiHost:
    shost: ScsiHost = machine.system.run(machine.attach(lld))
    machine.system.settle()
    return shost


def inquiries(lld: FakeLld) -> list[tuple[int, str]]:
    return [(lun_, cdb.hex()) for lun_, cdb in lld.commands if cdb[0] == 0x12]


def test_scan_finds_lun_0_and_stops_at_lun_1(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    shost = scan(machine, lld)
    assert inquiries(lld) == [(0, "120000002400"), (1, "120000002400")]
    assert [s.name for s in shost.devices] == ["0:0:0:0"]
    sdev = shost.devices[0]
    assert (sdev.vendor, sdev.model, sdev.rev) == ("USBemu  ", "Mass Storage    ", "1.00")
    assert sdev.scsi_level == 3 and sdev.type == 0 and sdev.removable
    assert not sdev.lun_in_cdb  # no_scsi2_lun_in_cdb, as usb-storage sets it


def test_longer_inquiry_data_gets_a_second_pass(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]), usb=False)
    with_inquiry(lld, {0: inquiry(extra=20)})
    shost = scan(machine, lld)
    assert inquiries(lld)[:2] == [(0, "120000002400"), (0, "120000003800")]
    assert shost.devices[0].inquiry_len == 56
    assert len(shost.devices[0].inquiry) == 56


def test_usb_inquiry_len_caps_old_devices_at_36(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    with_inquiry(lld, {0: inquiry(extra=20)})
    shost = scan(machine, lld)
    assert inquiries(lld)[0] == (0, "120000002400")
    assert inquiries(lld)[1][0] == 1   # no second pass for LUN 0
    assert shost.devices[0].inquiry_len == 36


def test_unit_attention_on_inquiry_is_retried(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    answers: list[Answer] = [Answer(0x02, Sense.of(SenseKey.UNIT_ATTENTION,
                                                   POWER_ON_RESET).fixed())]

    def hook(cmd: ScsiCmnd) -> Answer | None:
        return answers.pop() if cmd.cmnd[0] == 0x12 and answers else None
    lld.hook = hook
    shost = scan(machine, lld)
    assert inquiries(lld)[:2] == [(0, "120000002400")] * 2
    assert len(shost.devices) == 1


def test_unprintable_inquiry_strings_are_sanitized() -> None:
    data = bytearray(b"AB\x01C\x00XYZ")
    scsi_sanitize_inquiry_string(data, 0, 8)
    assert bytes(data) == b"AB C    "


def test_peripheral_qualifier_3_is_no_unit(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    with_inquiry(lld, {0: inquiry(pdt=0x1F, qualifier=3)})
    shost = scan(machine, lld)
    assert shost.devices == []
    assert not any(line.startswith("scsi 0:0:0:0") for line in machine.log())
    assert machine.system.vfs.listdir("/sys/bus/scsi/devices") == ["host0"]


def test_qualifier_1_type_1f_is_no_unit(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    with_inquiry(lld, {0: inquiry(pdt=0x1F, qualifier=1)})
    assert scan(machine, lld).devices == []


def test_other_types_are_found_but_not_disks(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    with_inquiry(lld, {0: inquiry(pdt=5)})
    shost = scan(machine, lld)
    assert "scsi 0:0:0:0: CD-ROM            USBemu   Mass Storage     1.00 PQ: 0 ANSI: 2" \
        in machine.log()
    assert shost.devices[0].driver is None
    assert not machine.system.vfs.exists("/dev/sda")


def test_failed_lun_ends_the_sequential_scan(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun()]))
    with_inquiry(lld, {1: Answer(HostByte.DID_BAD_TARGET << 16)})
    scan(machine, lld)
    assert [lun_ for lun_, _ in inquiries(lld)] == [0, 1]


def test_sequential_scan_stops_at_lun_7_for_scsi_2(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun() for _ in range(10)]))
    shost = scan(machine, lld)
    assert [s.lun for s in shost.devices] == list(range(8))


def test_report_luns_on_scsi_3_targets_that_allow_it(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun(), lun(), lun()]), usb=False)
    with_inquiry(lld, {n: inquiry(version=5) for n in range(3)})
    shost = scan(machine, lld)
    assert [cdb[0] for _, cdb in lld.commands if cdb[0] == 0xA0] == [0xA0]
    assert [s.lun for s in shost.devices] == [0, 1, 2]
    standard = [lun_ for lun_, cdb in inquiries(lld) if cdb == "120000002400"]
    assert standard == [0, 1, 2]  # LUN 0 is not asked again after REPORT LUNS


def test_no_report_luns_means_sequential(machine: Machine) -> None:
    lld = FakeLld(DeviceTarget([lun(), lun()]))
    with_inquiry(lld, {n: inquiry(version=5) for n in range(2)})
    shost = scan(machine, lld)
    assert not any(cdb[0] == 0xA0 for _, cdb in lld.commands)
    assert [s.lun for s in shost.devices] == [0, 1]


def test_scsilun_to_int() -> None:
    assert scsilun_to_int(bytes([0, 1, 0, 0, 0, 0, 0, 0])) == 1
    assert scsilun_to_int(bytes([0x40, 0x05, 0, 0, 0, 0, 0, 0])) == 0x4005


def test_sync_scan_attaches_each_unit_as_found(machine: Machine) -> None:
    machine.system.scsi.scan = "sync"
    scan(machine, FakeLld(DeviceTarget([lun(), lun()])))
    lines = [line for line in machine.log() if line.startswith(("scsi 0", "sd 0"))]
    assert lines[0].startswith("scsi 0:0:0:0:")
    assert lines[1].startswith("sd 0:0:0:0:")
    assert lines.index(next(x for x in lines if x.startswith("scsi 0:0:0:1"))) > 1


def test_manual_scan_mode_scans_only_on_request(machine: Machine) -> None:
    machine.system.scsi.scan = "manual"
    lld = FakeLld(DeviceTarget([lun()]))
    shost = scan(machine, lld)
    assert lld.commands == [] and shost.devices == []
    path = "/sys/class/scsi_host/host0/scan"
    _, node = machine.system.vfs.resolve(path)
    assert isinstance(node, Attr) and node.store is not None
    assert machine.system.run(node.store(b"- - -\n")) == 6
    machine.system.settle()
    assert [s.name for s in shost.devices] == ["0:0:0:0"]
    assert machine.system.run(node.store(b"0 5 0\n")) < 0  # id 5 >= max_id 1


@pytest.mark.parametrize("args", [(1, SCAN_WILD_CARD, SCAN_WILD_CARD),
                                  (SCAN_WILD_CARD, 1, SCAN_WILD_CARD),
                                  (SCAN_WILD_CARD, SCAN_WILD_CARD, 8)])
def test_scan_beyond_the_host_limits_is_einval(machine: Machine,
                                               args: tuple[int, int, int]) -> None:
    shost = machine.system.run(machine.attach(FakeLld(DeviceTarget([lun()])), scan=False))
    assert machine.system.run(scsi_scan_host_selected(shost, *args, ScanMode.MANUAL)) == -22
