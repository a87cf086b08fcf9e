"""MassStorage (0525:a4a5) driven through its endpoints as a host would: descriptors, GET MAX
LUN and the Bulk-Only reset, CBW/CSW, the thirteen cases of BOT §6.7, invalid CBWs, several
LUNs, media, images and injected faults."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from usbemu_tests_capture_machine import (  # type: ignore[import-not-found]
    STORAGE,
    STORAGE_STRINGS,
)

from usbemu.cli.machine import build_model
from usbemu.emulated.bulk_only import BotPhase
from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.models import load_model
from usbemu.emulated.models.storage import (
    DEFAULT_SERIAL,
    PRESETS,
    MassStorage,
    StorageFault,
    open_medium,
)
from usbemu.emulated.scsi_target import ImageMedium, MemoryMedium
from usbemu.errors import IllegalStateTransition
from usbemu.spec.ch9 import SetupPacket, Speed
from usbemu.spec.descriptors import string_descriptor
from usbemu.spec.scsi import Opcode, Sense, SenseKey, rw_cdb
from usbemu.spec.storage import CBW_SIGNATURE, CSW_SIGNATURE, BulkStatus, Cbw, Csw
from usbemu.testing import RecordingHost, control_in, enumerate_model, get_descriptor, pull, push

MiB = 1 << 20
TUR = bytes(6)
INQUIRY = bytes((0x12, 0, 0, 0, 36, 0))
REQUEST_SENSE = bytes((0x03, 0, 0, 0, 18, 0))
GET_MAX_LUN = SetupPacket(0xA1, 0xFE, 0, 0, 1)
RESET = SetupPacket(0x21, 0xFF, 0, 0, 0)


def clear_halt(model: MassStorage, address: int) -> None:
    assert model.control(SetupPacket(0x02, 0x01, 0, address)) == (Outcome.DONE, 0)


def halted(model: MassStorage, address: int) -> bool:
    return control_in(model, SetupPacket(0x82, 0x00, 0, address, 2)) == b"\x01\x00"


@dataclass
class Exchange:
    """What one command got: the data stage's outcome and bytes, whether the status stage
    met a STALL first, and the CSW (signature, wrapper)."""

    data_outcome: Outcome | None
    data: bytes
    status_stalled: bool
    signature: int
    csw: Csw


class Host:
    """A Bulk-Only host in the manner of usb-storage's usb_stor_Bulk_transport: CBW, data
    stage, CSW, clearing a halted bulk-in pipe before reading the CSW again."""

    def __init__(self, model: MassStorage, *, bulk_in: int = 0x81, bulk_out: int = 0x01,
                 host: RecordingHost | None = None, configured: bool = False) -> None:
        self.model = model if configured else enumerate_model(model, host=host)
        self.bulk_in, self.bulk_out = bulk_in, bulk_out
        self.tag = 0

    def cbw(self, cb: bytes, length: int = 0, *, data_in: bool = True, lun: int = 0) -> int:
        self.tag += 1
        raw = Cbw(self.tag, length, 0x80 if data_in else 0, lun, cb).pack()
        assert push(self.model.endpoint(self.bulk_out), raw) == (Outcome.DONE, 31)
        return self.tag

    def status(self) -> tuple[bool, int, Csw]:
        outcome, raw = pull(self.model.endpoint(self.bulk_in), 13)
        stalled = outcome is Outcome.STALL
        if stalled:
            clear_halt(self.model, self.bulk_in)
            outcome, raw = pull(self.model.endpoint(self.bulk_in), 13)
        assert outcome is Outcome.DONE and len(raw) == 13, (outcome, raw)
        signature, csw = Csw.unpack(raw)
        return stalled, signature, csw

    def run(self, cb: bytes, length: int = 0, *, data_in: bool = True, data: bytes = b"",
            lun: int = 0) -> Exchange:
        tag = self.cbw(cb, length, data_in=data_in, lun=lun)
        outcome: Outcome | None = None
        got = b""
        if length and data_in:
            outcome, got = pull(self.model.endpoint(self.bulk_in), length)
            if outcome is Outcome.STALL:
                clear_halt(self.model, self.bulk_in)
        elif length:
            outcome, _ = push(self.model.endpoint(self.bulk_out), data)
            if outcome is Outcome.STALL:
                clear_halt(self.model, self.bulk_out)
        stalled, signature, csw = self.status()
        exchange = Exchange(outcome, got, stalled, signature, csw)
        assert signature != CSW_SIGNATURE or csw.tag == tag or csw.tag == tag + 1
        return exchange

    def sense(self, lun: int = 0) -> tuple[int, int, int]:
        reply = self.run(REQUEST_SENSE, 18, lun=lun)
        sense = Sense.parse(reply.data)
        assert sense is not None and reply.csw.status == BulkStatus.OK
        return sense.key, sense.asc, sense.ascq


def ready_host(model: MassStorage | None = None, *, host: RecordingHost | None = None) -> Host:
    """A host (of a 64 MiB memory disk unless told) that has taken the power-on unit
    attention of every LUN."""
    host = Host(model if model is not None else MassStorage(), host=host)
    for n in range(len(host.model.target.luns)):
        host.run(TUR, lun=n)
    return host


# -- descriptors -------------------------------------------------------------------------------

GOLDEN_DEVICE = bytes((
    0x12,        # bLength
    0x01,        # bDescriptorType (DEVICE)
    0x00, 0x02,  # bcdUSB 2.00
    0x00,        # bDeviceClass (per interface)
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x40,        # bMaxPacketSize0 64
    0x25, 0x05,  # idVendor 0x0525 (NetChip)
    0xA5, 0xA4,  # idProduct 0xa4a5 (Linux-USB File-backed Storage Gadget)
    0x12, 0x06,  # bcdDevice 6.12 (get_default_bcdDevice() of Linux 6.12)
    0x01,        # iManufacturer
    0x02,        # iProduct
    0x03,        # iSerialNumber
    0x01,        # bNumConfigurations
))

GOLDEN_CONFIG = bytes((
    0x09,        # bLength
    0x02,        # bDescriptorType (CONFIGURATION)
    0x20, 0x00,  # wTotalLength 32
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x00,        # iConfiguration
    0xC0,        # bmAttributes (self powered)
    0x01,        # bMaxPower 1 = 2 mA
    # interface 0
    0x09,        # bLength
    0x04,        # bDescriptorType (INTERFACE)
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x02,        # bNumEndpoints
    0x08,        # bInterfaceClass (mass storage)
    0x06,        # bInterfaceSubClass (SCSI transparent)
    0x50,        # bInterfaceProtocol (bulk-only)
    0x04,        # iInterface ("Mass Storage")
    # endpoint 0x81
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x81,        # bEndpointAddress (IN 1)
    0x02,        # bmAttributes (bulk)
    0x00, 0x02,  # wMaxPacketSize 512
    0x00,        # bInterval
    # endpoint 0x01
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x01,        # bEndpointAddress (OUT 1)
    0x02,        # bmAttributes (bulk)
    0x00, 0x02,  # wMaxPacketSize 512
    0x00,        # bInterval
))


def test_registry_name_speed_and_descriptors() -> None:
    assert load_model("storage") is MassStorage
    disk = MassStorage()
    assert disk.speed is Speed.HIGH
    disk.connect(None, None)
    disk.bus_reset()
    assert get_descriptor(disk, 0x01, length=0x40) == GOLDEN_DEVICE
    assert get_descriptor(disk, 0x02) == GOLDEN_CONFIG
    assert get_descriptor(disk, 0x03, 1, 0x0409) == string_descriptor(
        "Linux 6.12.0 with dummy_udc")
    assert get_descriptor(disk, 0x03, 2, 0x0409) == string_descriptor(
        "File-backed Storage Gadget")
    assert get_descriptor(disk, 0x03, 3, 0x0409) == string_descriptor(DEFAULT_SERIAL)
    assert get_descriptor(disk, 0x03, 4, 0x0409) == string_descriptor("Mass Storage")
    assert get_descriptor(disk, 0x07)[22:24] == b"\x40\x00"  # full speed: 64-byte packets


def test_full_speed_and_serial_options() -> None:
    disk = MassStorage(speed=Speed.FULL, serial="ABC123")
    assert disk.speed is Speed.FULL
    disk.connect(None, None)
    disk.bus_reset()
    assert get_descriptor(disk, 0x02)[22:24] == b"\x40\x00"
    assert disk.control(SetupPacket(0x80, 0x06, 0x0600, 0, 10))[0] is Outcome.STALL
    assert get_descriptor(disk, 0x03, 3, 0x0409) == string_descriptor("ABC123")
    enumerate_model(disk)
    ep = disk.endpoint(0x81)
    assert ep is not None and ep.maxpacket == 64
    with pytest.raises(ValueError, match="speed"):
        MassStorage(speed=Speed.SUPER)


def test_the_command_line_builds_it() -> None:
    disk = build_model("storage", {"size": "0x100000", "read_only": "yes", "speed": "full"})
    assert isinstance(disk, MassStorage)
    assert disk.lun().medium is not None and disk.lun().medium.size == MiB
    assert disk.lun().write_protected and disk.speed is Speed.FULL


# -- the QEMU preset ----------------------------------------------------------------------------

#: usbmon-longdata.txt of the reference capture: MODE SENSE(6) of all pages, 192 bytes asked,
#: QEMU's 100 bytes of mode data zero-filled to 192 (residue 0), on the 16 MiB disk.
QEMU_MODE_SENSE_3F = bytes.fromhex(
    "63000008 00008000 00000200"                                  # header, block descriptor
    "010a 80000000 00000000 0000"                                 # 01h: AWRE
    "0416 000020 10 000020 000020 00c8 ffffff 000000 1518 0000"   # 04h: 32 cyl, 16 heads
    "051e 1388 10 3f 0200 0020 0020 0020 0001 01 0001 01 01 00000000000000 1518 0000"
    "0812 04") + bytes(109)                                        # 08h: WCE; then zeros


def test_the_qemu_preset_is_qemus_usb_storage() -> None:
    disk = MassStorage(preset="qemu", size=16 * MiB, serial="1-0000:00:02.0-2")
    assert disk.preset is PRESETS["qemu"]
    disk.connect(None, None)
    disk.bus_reset()
    assert get_descriptor(disk, 0x01, length=18) + get_descriptor(disk, 0x02) == STORAGE
    for index, text in STORAGE_STRINGS.items():
        assert get_descriptor(disk, 0x03, index, 0x0409) == string_descriptor(text)
    assert get_descriptor(disk, 0x03, 4, 0x0409) == string_descriptor(
        "Full speed config (usb 1.1)")
    assert get_descriptor(disk, 0x06, length=10)[7] == 8      # its full-speed self: ep0 of 8
    assert get_descriptor(disk, 0x07)[22:24] == b"\x40\x00"
    bare = MassStorage(preset="qemu", size=MiB)
    bare.connect(None, None)
    bare.bus_reset()
    assert get_descriptor(bare, 0x03, 3, 0x0409) == string_descriptor("1")
    full = MassStorage(preset="qemu", size=MiB, speed=Speed.FULL)
    full.connect(None, None)
    full.bus_reset()
    assert get_descriptor(full, 0x01, length=18)[7] == 8
    assert get_descriptor(full, 0x02)[6] == 4 and get_descriptor(full, 0x02)[22:24] == b"\x40\x00"


def test_the_qemu_preset_answers_as_the_reference_capture() -> None:
    """No unit attention, INQUIRY "QEMU     QEMU HARDDISK   2.5+" (SPC-3, HiSup, CmdQue,
    fixed), READ CAPACITY 0x7fff/512, MODE SENSE of all pages 192 bytes with residue 0."""
    disk = MassStorage(preset="qemu", size=16 * MiB)
    host = Host(disk, bulk_out=0x02)
    reply = host.run(INQUIRY, 36)
    assert reply.data == bytes.fromhex("000005121f000010") + b"QEMU    QEMU HARDDISK   2.5+"
    assert host.run(TUR).csw == Csw(2, 0, BulkStatus.OK)
    assert host.run(bytes((0x25,)) + bytes(9), 8).data == bytes.fromhex("00007fff00000200")
    reply = host.run(bytes((0x1A, 0, 0x3F, 0, 192, 0)), 192)
    assert reply.data == QEMU_MODE_SENSE_3F
    assert not reply.status_stalled and reply.csw == Csw(host.tag, 0, BulkStatus.OK)
    disk.bus_reset()                                        # a USB reset leaves the disk alone
    host = Host(disk, bulk_out=0x02)
    assert host.run(TUR).csw.status == BulkStatus.OK


def test_presets_are_checked_and_the_command_line_picks_one() -> None:
    with pytest.raises(ValueError, match="preset='floppy': one of gadget, qemu"):
        MassStorage(preset="floppy")
    disk = build_model("storage", {"preset": "qemu", "size": "0x1000000"})
    assert isinstance(disk, MassStorage) and disk.preset.name == "qemu"
    lun = disk.lun()
    assert (lun.vendor, lun.product, lun.revision, lun.removable) == \
        ("QEMU", "QEMU HARDDISK", "2.5+", False)
    assert MassStorage(preset="qemu", vendor="ACME", removable=True).lun().removable


# -- class requests ---------------------------------------------------------------------------


def test_get_max_lun() -> None:
    disk = enumerate_model(MassStorage())
    assert control_in(disk, GET_MAX_LUN) == b"\x00"
    three = enumerate_model(MassStorage(luns=[MemoryMedium(MiB), None, MemoryMedium(MiB)]))
    assert control_in(three, GET_MAX_LUN) == b"\x02"
    for bad in (SetupPacket(0xA1, 0xFE, 1, 0, 1), SetupPacket(0xA1, 0xFE, 0, 1, 1),
                SetupPacket(0xA1, 0xFE, 0, 0, 2)):
        assert disk.control(bad)[0] is Outcome.STALL
    assert disk.unhandled == []


def test_get_max_lun_can_stall_as_some_sticks_do() -> None:
    host = Host(MassStorage(stall_get_max_lun=True))
    assert host.model.control(GET_MAX_LUN)[0] is Outcome.STALL
    assert host.model.unhandled == []
    assert host.run(INQUIRY, 36).csw.status == BulkStatus.OK  # it works all the same


def test_class_requests_need_the_configured_state() -> None:
    disk = enumerate_model(MassStorage(), configuration=None)
    assert disk.control(GET_MAX_LUN)[0] is Outcome.STALL
    assert disk.control(RESET)[0] is Outcome.STALL


# -- commands ----------------------------------------------------------------------------------


def test_inquiry_and_the_power_on_unit_attention() -> None:
    host = Host(MassStorage())
    reply = host.run(INQUIRY, 36)
    assert reply.data == bytes((0, 0x80, 2, 2, 31, 0, 0, 0)) + b"USBemu  Mass Storage    1.00"
    assert (reply.status_stalled, reply.signature) == (False, CSW_SIGNATURE)
    assert reply.csw == Csw(1, 0, BulkStatus.OK)
    assert host.run(TUR).csw == Csw(2, 0, BulkStatus.FAIL)
    assert host.sense() == (SenseKey.UNIT_ATTENTION, 0x29, 0)
    assert host.run(TUR).csw == Csw(4, 0, BulkStatus.OK)


def test_a_bus_reset_brings_the_unit_attention_back() -> None:
    host = ready_host()
    host.model.bus_reset()
    host = Host(host.model)
    assert host.run(TUR).csw.status == BulkStatus.FAIL
    assert host.sense() == (SenseKey.UNIT_ATTENTION, 0x29, 0)


def test_read_capacity_and_mode_sense() -> None:
    host = ready_host()
    assert host.run(bytes((0x25,)) + bytes(9), 8).data == bytes.fromhex("0001ffff00000200")
    reply = host.run(bytes((0x1A, 0, 0x3F, 0, 192, 0)), 192)  # as sd asks on USB
    assert reply.data == bytes((3, 0, 0, 0))
    assert reply.status_stalled and reply.csw == Csw(host.tag, 188, BulkStatus.OK)


def test_write_and_read_back_through_the_endpoints() -> None:
    host = ready_host()
    data = os.urandom(64 * 1024)
    write = host.run(rw_cdb(Opcode.WRITE_10, 100, 128), len(data), data_in=False, data=data)
    assert write.data_outcome is Outcome.DONE and write.csw == Csw(host.tag, 0, BulkStatus.OK)
    read = host.run(rw_cdb(Opcode.READ_10, 100, 128), len(data))
    assert read.data == data and read.csw == Csw(host.tag, 0, BulkStatus.OK)
    assert not read.status_stalled


def test_write_data_in_several_transfers() -> None:
    host = ready_host()
    data = bytes(range(256)) * 16  # 8 blocks
    host.cbw(rw_cdb(Opcode.WRITE_10, 0, 8), len(data), data_in=False)
    for offset in range(0, len(data), 1024):
        assert push(host.model.endpoint(0x01), data[offset:offset + 1024]) == (Outcome.DONE,
                                                                               1024)
    assert host.status()[2] == Csw(host.tag, 0, BulkStatus.OK)
    assert host.model.lun().medium is not None
    assert host.model.lun().medium.read(0, 8) == data


def test_a_failing_command_and_its_sense() -> None:
    host = ready_host()
    reply = host.run(rw_cdb(Opcode.READ_10, 1 << 20, 1), 512)
    assert reply.data_outcome is Outcome.DONE and reply.data == b""  # a zero-length packet
    assert reply.status_stalled and reply.csw == Csw(host.tag, 512, BulkStatus.FAIL)
    assert host.sense() == (SenseKey.ILLEGAL_REQUEST, 0x21, 0)


def test_sixty_four_mebibytes_through_the_endpoints() -> None:
    host = ready_host()
    block = hashlib.sha256(b"usbemu").digest() * 2048  # 64 KiB
    expected = hashlib.sha256()
    for n in range(1024):
        chunk = bytes([n & 0xFF]) + block[1:]
        expected.update(chunk)
        reply = host.run(rw_cdb(Opcode.WRITE_10, n * 128, 128), len(chunk), data_in=False,
                         data=chunk)
        assert reply.csw.status == BulkStatus.OK
    got = hashlib.sha256()
    for n in range(1024):
        got.update(host.run(rw_cdb(Opcode.READ_10, n * 128, 128), 65536).data)
    assert got.digest() == expected.digest()


# -- the thirteen cases (BOT §6.7) ---------------------------------------------------------


def test_case_1_hn_equals_dn() -> None:
    host = ready_host()
    assert host.run(TUR).csw == Csw(host.tag, 0, BulkStatus.OK)


def test_case_2_hn_less_than_di_is_a_phase_error() -> None:
    host = ready_host()
    reply = host.run(INQUIRY, 0)
    assert reply.csw == Csw(host.tag, 0, BulkStatus.PHASE) and not reply.status_stalled


def test_case_3_hn_less_than_do_is_a_phase_error_and_writes_nothing() -> None:
    host = ready_host()
    assert host.run(rw_cdb(Opcode.WRITE_10, 0, 1), 0).csw == Csw(host.tag, 0, BulkStatus.PHASE)
    assert host.model.bulk_only is not None and host.model.bulk_only.phase is BotPhase.COMMAND


def test_case_4_hi_greater_than_dn() -> None:
    host = ready_host()
    reply = host.run(TUR, 512)
    assert (reply.data_outcome, reply.data) == (Outcome.DONE, b"")  # a zero-length packet
    assert reply.status_stalled  # then the bulk-in pipe stalls
    assert reply.csw == Csw(host.tag, 512, BulkStatus.OK)


def test_case_5_hi_greater_than_di() -> None:
    host = ready_host()
    reply = host.run(INQUIRY, 512)  # a short packet ends the data
    assert len(reply.data) == 36 and reply.status_stalled
    assert reply.csw == Csw(host.tag, 476, BulkStatus.OK)
    host.model.lun().medium.write(0, b"z" * 512)  # type: ignore[union-attr]
    reply = host.run(rw_cdb(Opcode.READ_10, 0, 1), 1024)  # whole packets, then a ZLP
    assert (reply.data_outcome, reply.data) == (Outcome.DONE, b"z" * 512)
    assert reply.status_stalled and reply.csw == Csw(host.tag, 512, BulkStatus.OK)


def test_case_5_ends_whole_packets_with_a_zero_length_packet() -> None:
    host = ready_host()
    host.cbw(rw_cdb(Opcode.READ_10, 0, 1), 1024)
    bulk_in = host.model.endpoint(0x81)
    assert pull(bulk_in, 512) == (Outcome.DONE, bytes(512))
    assert pull(bulk_in, 512) == (Outcome.DONE, b"")  # the ZLP
    assert pull(bulk_in, 13) == (Outcome.STALL, b"")
    assert host.status() == (True, CSW_SIGNATURE, Csw(host.tag, 512, BulkStatus.OK))


def test_case_6_hi_equals_di() -> None:
    host = ready_host()
    reply = host.run(rw_cdb(Opcode.READ_10, 0, 8), 4096)
    assert len(reply.data) == 4096 and not reply.status_stalled
    assert reply.csw == Csw(host.tag, 0, BulkStatus.OK)


def test_case_7_hi_less_than_di_sends_what_fits_then_a_phase_error() -> None:
    host = ready_host()
    host.model.lun().medium.write(0, b"a" * 512 + b"b" * 512)  # type: ignore[union-attr]
    reply = host.run(rw_cdb(Opcode.READ_10, 0, 2), 512)
    assert reply.data == b"a" * 512 and not reply.status_stalled
    assert reply.csw == Csw(host.tag, 0, BulkStatus.PHASE)


def test_case_8_hi_against_do_is_a_phase_error() -> None:
    host = ready_host()
    reply = host.run(rw_cdb(Opcode.WRITE_10, 0, 1), 512)
    assert (reply.data_outcome, reply.data) == (Outcome.DONE, b"")
    assert reply.status_stalled and reply.csw == Csw(host.tag, 512, BulkStatus.PHASE)


def test_case_9_ho_greater_than_dn_discards_the_data() -> None:
    host = ready_host()
    reply = host.run(TUR, 512, data_in=False, data=bytes(512))
    assert reply.data_outcome is Outcome.DONE
    assert reply.csw == Csw(host.tag, 512, BulkStatus.OK)


def test_case_10_ho_against_di_is_a_phase_error() -> None:
    host = ready_host()
    reply = host.run(INQUIRY, 36, data_in=False, data=bytes(36))
    assert reply.data_outcome is Outcome.DONE
    assert reply.csw == Csw(host.tag, 36, BulkStatus.PHASE)


def test_case_11_ho_greater_than_do_takes_what_the_command_needs() -> None:
    host = ready_host()
    reply = host.run(rw_cdb(Opcode.WRITE_10, 3, 1), 1024, data_in=False,
                     data=b"k" * 512 + b"!" * 512)
    assert reply.csw == Csw(host.tag, 512, BulkStatus.OK)
    medium = host.model.lun().medium
    assert medium is not None and medium.read(3, 2) == b"k" * 512 + bytes(512)


def test_case_12_ho_equals_do() -> None:
    host = ready_host()
    reply = host.run(rw_cdb(Opcode.WRITE_10, 0, 1), 512, data_in=False, data=b"q" * 512)
    assert reply.csw == Csw(host.tag, 0, BulkStatus.OK) and not reply.status_stalled


def test_case_13_ho_less_than_do_is_a_phase_error_and_writes_nothing() -> None:
    host = ready_host()
    reply = host.run(rw_cdb(Opcode.WRITE_10, 0, 2), 512, data_in=False, data=b"q" * 512)
    assert reply.data_outcome is Outcome.DONE
    assert reply.csw == Csw(host.tag, 512, BulkStatus.PHASE)
    medium = host.model.lun().medium
    assert medium is not None and medium.read(0, 1) == bytes(512)


def test_a_failing_write_reports_the_whole_length_as_residue() -> None:
    host = ready_host(MassStorage(read_only=True))
    reply = host.run(rw_cdb(Opcode.WRITE_10, 0, 1), 512, data_in=False, data=bytes(512))
    assert reply.data_outcome is Outcome.DONE  # the data is taken and dropped
    assert reply.csw == Csw(host.tag, 512, BulkStatus.FAIL)
    assert host.sense() == (SenseKey.DATA_PROTECT, 0x27, 0)


def test_a_command_block_shorter_than_its_command_is_a_phase_error() -> None:
    host = ready_host()
    assert host.run(bytes((0x28, 0, 0, 0)), 512).csw.status == BulkStatus.PHASE


# -- flow control -------------------------------------------------------------------------------


def test_bulk_in_naks_until_there_is_something_and_the_host_is_woken() -> None:
    recorder = RecordingHost()
    host = ready_host(host=recorder)
    assert pull(host.model.endpoint(0x81), 13) == (Outcome.NAK, b"")
    recorder.ready.clear()
    host.cbw(TUR)
    assert recorder.ready == [0x81]
    assert host.status()[2] == Csw(host.tag, 0, BulkStatus.OK)


def test_bulk_out_naks_while_the_reply_is_pending() -> None:
    recorder = RecordingHost()
    host = ready_host(host=recorder)
    host.cbw(TUR)
    next_cbw = Cbw(99, 0, 0, 0, TUR).pack()
    assert push(host.model.endpoint(0x01), next_cbw) == (Outcome.NAK, 0)
    recorder.ready.clear()
    assert host.status()[2].tag == host.tag
    assert recorder.ready == [0x01]  # the NAKed CBW may go now
    assert push(host.model.endpoint(0x01), next_cbw) == (Outcome.DONE, 31)
    assert host.status()[2].tag == 99


# -- invalid CBWs, resets --------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    Cbw(1, 0, 0, 0, TUR).pack()[:30],  # 30 bytes: not valid
    Cbw(1, 0, 0, 0, TUR).pack() + b"\0",  # 32 bytes
    Cbw(1, 0, 0, 0, TUR).pack(signature=CSW_SIGNATURE),  # wrong signature
    Cbw(1, 0, 0x40, 0, TUR).pack(),  # reserved flag bits: not meaningful
    Cbw(1, 0, 0, 0, TUR).pack()[:14] + b"\x00" + bytes(16),  # bCBWCBLength 0
    Cbw(1, 0, 0, 0, TUR).pack()[:14] + b"\x11" + bytes(16),  # bCBWCBLength 17
    b"hello, pen drive",  # what pen_driver would write
], ids=["short", "long", "signature", "flags", "cb-length-0", "cb-length-17", "raw-text"])
def test_an_invalid_cbw_stalls_both_pipes_until_a_reset(raw: bytes) -> None:
    host = ready_host()
    disk = host.model
    assert push(disk.endpoint(0x01), raw) == (Outcome.DONE, len(raw))
    assert halted(disk, 0x81) and halted(disk, 0x01)
    clear_halt(disk, 0x81)
    clear_halt(disk, 0x01)  # a clear alone does not end it
    assert pull(disk.endpoint(0x81), 13) == (Outcome.STALL, b"")
    assert push(disk.endpoint(0x01), Cbw(2, 0, 0, 0, TUR).pack()) == (Outcome.STALL, 0)
    assert disk.control(RESET) == (Outcome.DONE, 0)
    assert halted(disk, 0x81) and halted(disk, 0x01)  # the reset keeps the halts (§5.3.4)
    clear_halt(disk, 0x81)
    clear_halt(disk, 0x01)
    assert host.run(TUR).csw == Csw(host.tag, 0, BulkStatus.OK)


def test_a_reset_drops_the_command_under_way() -> None:
    host = ready_host()
    host.cbw(rw_cdb(Opcode.READ_10, 0, 8), 4096)
    assert pull(host.model.endpoint(0x81), 512)[0] is Outcome.DONE
    assert host.model.control(RESET) == (Outcome.DONE, 0)
    assert pull(host.model.endpoint(0x81), 4096) == (Outcome.NAK, b"")
    assert host.run(TUR).csw == Csw(host.tag, 0, BulkStatus.OK)


def test_a_reset_in_the_middle_of_the_data_out_stage() -> None:
    host = ready_host()
    host.cbw(rw_cdb(Opcode.WRITE_10, 0, 4), 2048, data_in=False)
    push(host.model.endpoint(0x01), b"w" * 1024)
    assert host.model.control(RESET) == (Outcome.DONE, 0)
    assert host.run(TUR).csw == Csw(host.tag, 0, BulkStatus.OK)
    medium = host.model.lun().medium
    assert medium is not None and medium.read(0, 4) == bytes(2048)


def test_the_reset_request_is_checked() -> None:
    disk = enumerate_model(MassStorage())
    for bad in (SetupPacket(0x21, 0xFF, 1, 0, 0), SetupPacket(0x21, 0xFF, 0, 1, 0)):
        assert disk.control(bad)[0] is Outcome.STALL


def test_a_reset_leaves_the_units_scsi_state_alone() -> None:
    host = Host(MassStorage())
    assert host.model.control(RESET) == (Outcome.DONE, 0)
    assert host.run(TUR).csw.status == BulkStatus.FAIL  # the power-on unit attention stays


def test_the_transport_state_machine_refuses_illegal_moves() -> None:
    host = ready_host()
    bot = host.model.bulk_only
    assert bot is not None
    with pytest.raises(IllegalStateTransition, match="command -> hung"):
        bot._set_phase(BotPhase.HUNG)


# -- several LUNs ---------------------------------------------------------------------------------


def test_several_luns() -> None:
    first, second = MemoryMedium(MiB), MemoryMedium(2 * MiB, block_size=4096)
    second.write(1, b"\x42" * 4096)
    host = ready_host(MassStorage(luns=[first, second, None]))
    assert host.run(bytes((0x25,)) + bytes(9), 8, lun=1).data == bytes.fromhex(
        "000001ff00001000")
    assert host.run(rw_cdb(Opcode.READ_10, 1, 1), 4096, lun=1).data == b"\x42" * 4096
    assert host.run(TUR, lun=2).csw.status == BulkStatus.FAIL  # an empty slot
    assert host.sense(lun=2) == (SenseKey.NOT_READY, 0x3A, 0)
    serials = [host.model.lun(n).serial for n in range(3)]
    assert serials == [DEFAULT_SERIAL, DEFAULT_SERIAL + "1", DEFAULT_SERIAL + "2"]


def test_a_lun_the_device_does_not_have() -> None:
    host = ready_host()
    reply = host.run(INQUIRY, 36, lun=5)
    assert reply.data[0] == 0x7F and reply.csw.status == BulkStatus.OK
    assert host.run(TUR, lun=5).csw.status == BulkStatus.FAIL
    assert host.sense(lun=5) == (SenseKey.ILLEGAL_REQUEST, 0x25, 0)


# -- media --------------------------------------------------------------------------------------


def test_eject_and_insert() -> None:
    host = ready_host()
    disk = host.model
    assert disk.eject() is True
    assert host.run(TUR).csw.status == BulkStatus.FAIL
    assert host.sense() == (SenseKey.NOT_READY, 0x3A, 0)
    disk.insert(MemoryMedium(2 * MiB))
    assert host.run(TUR).csw.status == BulkStatus.FAIL
    assert host.sense() == (SenseKey.UNIT_ATTENTION, 0x28, 0)
    assert host.run(bytes((0x25,)) + bytes(9), 8).data == bytes.fromhex("00000fff00000200")


def test_the_host_can_prevent_removal() -> None:
    host = ready_host()
    assert host.run(bytes((0x1E, 0, 0, 0, 1, 0))).csw.status == BulkStatus.OK
    assert host.model.eject() is False
    assert host.run(bytes((0x1B, 0, 0, 0, 2, 0))).csw.status == BulkStatus.FAIL
    assert host.sense() == (SenseKey.ILLEGAL_REQUEST, 0x53, 0x02)


def test_an_image_is_created_sparse_and_written_through(tmp_path: Path) -> None:
    path = tmp_path / "stick.img"
    host = ready_host(MassStorage(str(path)))
    assert path.stat().st_size == 64 * MiB and path.stat().st_blocks * 512 < MiB
    host.run(rw_cdb(Opcode.WRITE_10, 1, 1), 512, data_in=False, data=b"\x55" * 512)
    assert path.read_bytes()[512:1024] == b"\x55" * 512
    assert host.run(bytes((0x35,)) + bytes(9)).csw.status == BulkStatus.OK
    again = MassStorage(path)  # an existing image keeps its size
    assert again.lun().medium is not None and again.lun().medium.size == 64 * MiB


def test_image_options(tmp_path: Path) -> None:
    path = tmp_path / "small.img"
    disk = MassStorage(path, size=MiB)
    assert path.stat().st_size == MiB
    medium = disk.lun().medium
    assert isinstance(medium, ImageMedium) and not medium.read_only
    ro = MassStorage(path, read_only=True)
    medium = ro.lun().medium
    assert isinstance(medium, ImageMedium) and medium.read_only and ro.lun().write_protected
    with pytest.raises(ValueError, match="image="):
        MassStorage(tmp_path)  # a directory
    with pytest.raises(ValueError, match="image="):
        MassStorage(tmp_path / "missing.img", read_only=True)
    with pytest.raises(ValueError, match="excludes"):
        MassStorage(path, luns=[MemoryMedium(MiB)])
    with pytest.raises(TypeError, match="luns"):
        MassStorage(luns="disk.img")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="luns\\[1\\]"):
        MassStorage(luns=[None, "disk.img"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="1 to 16"):
        MassStorage(luns=[None] * 17)
    assert isinstance(open_medium(None, 2 * MiB), MemoryMedium)


def test_the_command_line_plugs_an_image(tmp_path: Path) -> None:
    path = tmp_path / "cli.img"
    disk = build_model("storage", {"image": str(path), "size": str(MiB)})
    assert isinstance(disk, MassStorage) and path.stat().st_size == MiB


# -- faults ---------------------------------------------------------------------------------------


def test_bad_signature() -> None:
    host = ready_host()
    host.model.inject(StorageFault.BAD_SIGNATURE)
    reply = host.run(TUR)
    assert reply.signature == CBW_SIGNATURE and reply.csw.tag == host.tag
    assert host.run(TUR).signature == CSW_SIGNATURE  # one shot


def test_bad_tag() -> None:
    host = ready_host()
    host.model.inject(StorageFault.BAD_TAG, 2)
    assert host.run(TUR).csw.tag == host.tag + 1
    assert host.run(TUR).csw.tag == host.tag + 1
    assert host.run(TUR).csw.tag == host.tag


def test_phase_error_fault() -> None:
    host = ready_host()
    host.model.inject(StorageFault.PHASE_ERROR)
    reply = host.run(rw_cdb(Opcode.WRITE_10, 0, 1), 512, data_in=False, data=b"p" * 512)
    assert reply.csw == Csw(host.tag, 0, BulkStatus.PHASE)
    medium = host.model.lun().medium
    assert medium is not None and medium.read(0, 1) == b"p" * 512  # the command ran


def test_stall_on_the_data_in_stage() -> None:
    host = ready_host()
    host.model.inject(StorageFault.STALL_DATA)
    assert host.run(TUR).csw == Csw(host.tag, 0, BulkStatus.OK)  # no data stage: not yet
    host.cbw(rw_cdb(Opcode.READ_10, 0, 1), 512)
    assert pull(host.model.endpoint(0x81), 512) == (Outcome.STALL, b"")
    assert pull(host.model.endpoint(0x81), 13) == (Outcome.STALL, b"")  # until cleared
    stalled, _, csw = host.status()
    assert stalled and csw == Csw(host.tag, 512, BulkStatus.OK)
    assert host.run(rw_cdb(Opcode.READ_10, 0, 1), 512).data == bytes(512)


def test_stall_on_the_data_out_stage() -> None:
    host = ready_host()
    host.model.inject(StorageFault.STALL_DATA)
    reply = host.run(rw_cdb(Opcode.WRITE_10, 0, 1), 512, data_in=False, data=b"s" * 512)
    assert reply.data_outcome is Outcome.STALL
    assert reply.csw == Csw(host.tag, 512, BulkStatus.OK)
    medium = host.model.lun().medium
    assert medium is not None and medium.read(0, 1) == bytes(512)  # nothing was written


def test_lying_residue() -> None:
    host = ready_host()
    host.model.inject(StorageFault.LYING_RESIDUE)
    reply = host.run(rw_cdb(Opcode.READ_10, 0, 1), 512)
    assert reply.data == bytes(512) and reply.csw == Csw(host.tag, 1024, BulkStatus.OK)


def test_no_csw_until_a_reset() -> None:
    host = ready_host()
    disk = host.model
    disk.inject(StorageFault.NO_CSW)
    host.cbw(rw_cdb(Opcode.READ_10, 0, 1), 512)
    assert pull(disk.endpoint(0x81), 512) == (Outcome.DONE, bytes(512))
    for _ in range(3):
        assert pull(disk.endpoint(0x81), 13) == (Outcome.NAK, b"")
    assert disk.bulk_only is not None and disk.bulk_only.phase is BotPhase.HUNG
    assert push(disk.endpoint(0x01), Cbw(50, 0, 0, 0, TUR).pack()) == (Outcome.NAK, 0)
    assert disk.control(RESET) == (Outcome.DONE, 0)
    assert host.run(TUR).csw == Csw(host.tag, 0, BulkStatus.OK)


def test_no_csw_after_a_data_out_stage() -> None:
    host = ready_host()
    host.model.inject(StorageFault.NO_CSW)
    host.cbw(rw_cdb(Opcode.WRITE_10, 0, 1), 512, data_in=False)
    assert push(host.model.endpoint(0x01), b"n" * 512) == (Outcome.DONE, 512)
    assert pull(host.model.endpoint(0x81), 13) == (Outcome.NAK, b"")
    medium = host.model.lun().medium
    assert medium is not None and medium.read(0, 1) == b"n" * 512  # done; no status comes


def test_inject_checks_its_arguments() -> None:
    disk = MassStorage()
    with pytest.raises(TypeError, match="StorageFault"):
        disk.inject("no-csw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        disk.inject(StorageFault.NO_CSW, 0)
    disk.inject(StorageFault.BAD_TAG)
    disk.inject(StorageFault.BAD_TAG, 2)
    assert disk.bulk_only is not None
    assert disk.bulk_only.faults == {StorageFault.BAD_TAG: 3}


# -- hostile hosts ---------------------------------------------------------------------------


@settings(deadline=None, max_examples=150)
@given(st.lists(st.one_of(st.binary(max_size=64).map(lambda raw: ("out", raw)),
                          st.integers(0, 1024).map(lambda room: ("in", room)),
                          st.sampled_from([("reset", 0), ("clear", 0x81), ("clear", 0x01)])),
                max_size=20),
       st.lists(st.sampled_from(list(StorageFault)), max_size=2))
def test_whatever_a_host_sends_the_device_answers(steps: list[tuple[str, object]],
                                                  faults: list[StorageFault]) -> None:
    disk = enumerate_model(MassStorage(size=MiB))
    for fault in faults:
        disk.inject(fault)
    for kind, arg in steps:
        if kind == "out":
            assert isinstance(arg, bytes)
            outcome, _ = push(disk.endpoint(0x01), arg)
        elif kind == "in":
            assert isinstance(arg, int)
            outcome, _ = pull(disk.endpoint(0x81), arg)
        elif kind == "reset":
            outcome, _ = disk.control(RESET)
        else:
            assert isinstance(arg, int)
            outcome, _ = disk.control(SetupPacket(0x02, 0x01, 0, arg))
        assert outcome in (Outcome.DONE, Outcome.NAK, Outcome.STALL, Outcome.BABBLE)
    disk.control(RESET)
    clear_halt(disk, 0x81)
    clear_halt(disk, 0x01)
    assert disk.bulk_only is not None
    if not disk.bulk_only.faults:  # a reset recovery always brings the device back
        host = Host(disk, configured=True)
        assert host.run(INQUIRY, 36).csw == Csw(1, 0, BulkStatus.OK)
