"""PenDrive (058f:6387) driven with raw setup packets and bulk transfers, as a host would."""

from __future__ import annotations

from pathlib import Path

import pytest

from usbemu.cli.machine import build_model
from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.models import load_model
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.spec.ch9 import DeviceState, SetupPacket, Speed
from usbemu.spec.descriptors import string_descriptor
from usbemu.spec.storage import BulkStatus, Cbw, Csw
from usbemu.testing import RecordingHost, control_in, enumerate_model, get_descriptor, pull, push

GOLDEN_DEVICE = bytes((
    0x12,        # bLength
    0x01,        # bDescriptorType (DEVICE)
    0x00, 0x02,  # bcdUSB 2.00
    0x00,        # bDeviceClass (per interface)
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x40,        # bMaxPacketSize0 64
    0x8F, 0x05,  # idVendor 0x058f (Alcor Micro)
    0x87, 0x63,  # idProduct 0x6387 (flash drive)
    0x00, 0x01,  # bcdDevice 1.00
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
    0x80,        # bmAttributes (bus powered)
    0x32,        # bMaxPower 50 = 100 mA
    # interface 0
    0x09,        # bLength
    0x04,        # bDescriptorType (INTERFACE)
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x02,        # bNumEndpoints
    0x08,        # bInterfaceClass (mass storage)
    0x06,        # bInterfaceSubClass (SCSI transparent)
    0x50,        # bInterfaceProtocol (bulk-only)
    0x00,        # iInterface
    # endpoint 0x01
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x01,        # bEndpointAddress (OUT 1)
    0x02,        # bmAttributes (bulk)
    0x00, 0x02,  # wMaxPacketSize 512
    0x00,        # bInterval
    # endpoint 0x82
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x82,        # bEndpointAddress (IN 2)
    0x02,        # bmAttributes (bulk)
    0x00, 0x02,  # wMaxPacketSize 512
    0x00,        # bInterval
))

GOLDEN_QUALIFIER = bytes((
    0x0A,        # bLength
    0x06,        # bDescriptorType (DEVICE_QUALIFIER)
    0x00, 0x02,  # bcdUSB 2.00
    0x00,        # bDeviceClass
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x40,        # bMaxPacketSize0 64
    0x01,        # bNumConfigurations
    0x00,        # bReserved
))

GOLDEN_OTHER_SPEED = bytes((
    0x09,        # bLength
    0x07,        # bDescriptorType (OTHER_SPEED_CONFIGURATION)
    0x20, 0x00,  # wTotalLength 32
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x00,        # iConfiguration
    0x80,        # bmAttributes
    0x32,        # bMaxPower
    0x09, 0x04, 0x00, 0x00, 0x02, 0x08, 0x06, 0x50, 0x00,  # interface 0, as above
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x01,        # bEndpointAddress (OUT 1)
    0x02,        # bmAttributes (bulk)
    0x40, 0x00,  # wMaxPacketSize 64 (full speed)
    0x00,        # bInterval
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x82,        # bEndpointAddress (IN 2)
    0x02,        # bmAttributes (bulk)
    0x40, 0x00,  # wMaxPacketSize 64 (full speed)
    0x00,        # bInterval
))

GOLDEN_LANGIDS = bytes((
    0x04,        # bLength
    0x03,        # bDescriptorType (STRING)
    0x09, 0x04,  # wLANGID[0] 0x0409 (en-US)
))

GOLDEN_MANUFACTURER = bytes((
    0x10,        # bLength 16
    0x03,        # bDescriptorType (STRING)
)) + "Generic".encode("utf-16-le")


def write(drive: PenDrive, data: bytes) -> tuple[Outcome, int]:
    """One bulk OUT transfer to the drive (endpoint 0x01)."""
    return push(drive.endpoint(0x01), data)


def read(drive: PenDrive, size: int) -> tuple[Outcome, bytes]:
    """One bulk IN transfer from the drive (endpoint 0x82) into `size` bytes of room."""
    return pull(drive.endpoint(0x82), size)


# -- descriptors --------------------------------------------------------------------------------


def test_registry_name_and_speed() -> None:
    assert load_model("pendrive") is PenDrive
    assert PenDrive.model_name == "pendrive"
    assert PenDrive().speed is Speed.HIGH


def test_golden_descriptors() -> None:
    drive = PenDrive()
    drive.connect(None, None)
    drive.bus_reset()
    assert get_descriptor(drive, 0x01, length=0x40) == GOLDEN_DEVICE
    assert get_descriptor(drive, 0x02, length=9) == GOLDEN_CONFIG[:9]
    assert get_descriptor(drive, 0x02) == GOLDEN_CONFIG
    assert get_descriptor(drive, 0x06) == GOLDEN_QUALIFIER
    assert get_descriptor(drive, 0x07) == GOLDEN_OTHER_SPEED


def test_golden_strings() -> None:
    drive = PenDrive()
    drive.connect(None, None)
    drive.bus_reset()
    assert get_descriptor(drive, 0x03, 0) == GOLDEN_LANGIDS
    assert get_descriptor(drive, 0x03, 1, 0x0409) == GOLDEN_MANUFACTURER
    assert get_descriptor(drive, 0x03, 2, 0x0409) == string_descriptor("Mass Storage")
    assert get_descriptor(drive, 0x03, 3, 0x0409) == bytes((0x12, 0x03)) + (
        "6E5C7D12".encode("utf-16-le"))
    assert drive.control(SetupPacket(0x80, 0x06, 0x0304, 0x0409, 0xFF))[0] is Outcome.STALL


def test_serial_is_an_option() -> None:
    drive = PenDrive(serial="ABC")
    drive.connect(None, None)
    drive.bus_reset()
    assert get_descriptor(drive, 0x03, 3, 0x0409) == string_descriptor("ABC")
    nameless = PenDrive(serial="")
    assert nameless.descriptors.device_bytes[16] == 0  # iSerialNumber
    with pytest.raises(ValueError, match="capacity"):
        PenDrive(capacity=0)


def test_endpoints_exist_only_when_configured() -> None:
    drive = PenDrive()
    drive.connect(None, None)
    drive.bus_reset()
    assert drive.endpoint(0x01) is None and drive.endpoint(0x82) is None
    enumerate_model(drive)
    assert drive.state is DeviceState.CONFIGURED
    bulk_out, bulk_in = drive.endpoint(0x01), drive.endpoint(0x82)
    assert bulk_out is not None and bulk_out.maxpacket == 512
    assert bulk_in is not None and bulk_in.maxpacket == 512


# -- the echo store -------------------------------------------------------------------------------


def test_read_with_nothing_stored_naks() -> None:
    drive = PenDrive()
    enumerate_model(drive)
    assert read(drive, 512) == (Outcome.NAK, b"")


def test_written_data_comes_back_in_order() -> None:
    drive = PenDrive()
    enumerate_model(drive)
    assert write(drive, b"hello") == (Outcome.DONE, 5)
    assert write(drive, b", world") == (Outcome.DONE, 7)
    assert drive.stored == 12
    assert read(drive, 512) == (Outcome.DONE, b"hello")
    assert read(drive, 512) == (Outcome.DONE, b", world")
    assert read(drive, 512) == (Outcome.NAK, b"")
    assert drive.stored == 0


def test_small_reads_take_whole_packets_of_a_large_write() -> None:
    drive = PenDrive()
    enumerate_model(drive)
    data = bytes(range(256)) * 8  # 2048 bytes = 4 packets
    assert write(drive, data) == (Outcome.DONE, 2048)
    assert read(drive, 512) == (Outcome.DONE, data[:512])
    assert read(drive, 1024) == (Outcome.DONE, data[512:1536])
    assert read(drive, 512) == (Outcome.DONE, data[1536:])
    assert read(drive, 512) == (Outcome.NAK, b"")


def test_read_larger_than_a_packet_multiple_ends_with_zlp() -> None:
    drive = PenDrive()
    enumerate_model(drive)
    write(drive, bytes(512))
    # 512 bytes into a 4096-byte buffer: one full packet then a ZLP ends the transfer.
    assert read(drive, 4096) == (Outcome.DONE, bytes(512))
    assert read(drive, 4096) == (Outcome.NAK, b"")


def test_read_smaller_than_a_packet_babbles() -> None:
    drive = PenDrive()
    enumerate_model(drive)
    write(drive, b"x" * 100)
    outcome, data = read(drive, 13)
    assert outcome is Outcome.BABBLE and data == b"x" * 13


def test_full_store_naks_writes_until_a_read_makes_room() -> None:
    host = RecordingHost()
    drive = PenDrive(capacity=1024)
    enumerate_model(drive, host=host)
    assert write(drive, bytes(1024)) == (Outcome.DONE, 1024)
    assert write(drive, b"more") == (Outcome.NAK, 0)
    assert read(drive, 512) == (Outcome.DONE, bytes(512))
    assert host.ready == [0x01]  # the NAKed writer is told to retry
    assert write(drive, b"more") == (Outcome.DONE, 4)
    assert host.wakeups == []  # the pen drive never signals remote wakeup


def test_waiting_reader_is_woken_by_a_write() -> None:
    host = RecordingHost()
    drive = PenDrive()
    enumerate_model(drive, host=host)
    assert read(drive, 512)[0] is Outcome.NAK
    write(drive, b"data")
    assert host.ready == [0x82]
    write(drive, b"again")  # nobody waits any more: no second wake-up
    assert host.ready == [0x82]
    assert host.wakeups == []


def test_halt_and_clear_halt_on_bulk_in() -> None:
    drive = PenDrive()
    enumerate_model(drive)
    write(drive, b"kept")
    assert drive.control(SetupPacket(0x02, 0x03, 0, 0x82)) == (Outcome.DONE, 0)
    assert read(drive, 512) == (Outcome.STALL, b"")
    assert control_in(drive, SetupPacket(0x82, 0x00, 0, 0x82, 2)) == b"\x01\x00"
    assert drive.control(SetupPacket(0x02, 0x01, 0, 0x82)) == (Outcome.DONE, 0)
    assert read(drive, 512) == (Outcome.DONE, b"kept")


def test_mass_storage_class_requests_stall() -> None:
    drive = PenDrive()
    enumerate_model(drive)
    # Get Max LUN (0xa1 0xfe) is not implemented by the echo store.
    assert drive.control(SetupPacket(0xA1, 0xFE, 0, 0, 1))[0] is Outcome.STALL
    assert drive.unhandled[-1] == SetupPacket(0xA1, 0xFE, 0, 0, 1)


# -- storage mode -----------------------------------------------------------------------------


def stick(**options: object) -> PenDrive:
    drive = PenDrive(**options)  # type: ignore[arg-type]
    return enumerate_model(drive)  # type: ignore[return-value]


def command(drive: PenDrive, cb: bytes, length: int) -> tuple[bytes, Csw]:
    """One Bulk-Only command with an IN data stage on 0x01/0x82: (data, CSW)."""
    assert write(drive, Cbw(7, length, 0x80, 0, cb).pack()) == (Outcome.DONE, 31)
    _, data = read(drive, length) if length else (Outcome.DONE, b"")
    outcome, raw = read(drive, 13)
    if outcome is Outcome.STALL:
        drive.control(SetupPacket(0x02, 0x01, 0, 0x82))
        outcome, raw = read(drive, 13)
    return data, Csw.unpack(raw)[1]


def test_storage_mode_speaks_bulk_only_with_the_same_descriptors() -> None:
    drive = stick(storage="memory")
    assert control_in(drive, SetupPacket(0xA1, 0xFE, 0, 0, 1)) == b"\x00"
    assert drive.descriptors.descriptors_file() == PenDrive().descriptors.descriptors_file()
    data, csw = command(drive, bytes((0x12, 0, 0, 0, 36, 0)), 36)
    assert data[8:] == b"Generic Flash Disk      8.07"
    assert csw == Csw(7, 0, BulkStatus.OK)
    assert drive.lun().medium is not None and drive.lun().medium.size == 64 << 20
    assert drive.lun().serial == "6E5C7D12"


def test_storage_mode_raw_reads_time_out_and_raw_writes_stall() -> None:
    drive = stick(storage="mem")
    assert read(drive, 512) == (Outcome.NAK, b"")  # no CSW is due: the read waits
    assert write(drive, b"hello") == (Outcome.DONE, 5)  # not a CBW
    assert read(drive, 512) == (Outcome.STALL, b"")
    assert write(drive, b"again") == (Outcome.STALL, 0)
    assert drive.stored == 0


def test_storage_mode_on_an_image(tmp_path: Path) -> None:
    image = tmp_path / "pen.img"
    drive = stick(storage=str(image), size=1 << 20)
    assert image.stat().st_size == 1 << 20
    assert command(drive, bytes(6), 0)[1].status == BulkStatus.FAIL  # power-on attention
    data, csw = command(drive, bytes((0x25,)) + bytes(9), 8)
    assert data == bytes.fromhex("000007ff00000200") and csw.status == BulkStatus.OK


def test_storage_mode_from_the_command_line(tmp_path: Path) -> None:
    image = tmp_path / "cli.img"
    drive = build_model("pendrive", {"storage": str(image)})
    assert isinstance(drive, PenDrive) and drive.bulk_only is not None
    assert image.stat().st_size == 64 << 20


def test_storage_options_are_checked() -> None:
    with pytest.raises(ValueError, match="storage=''"):
        PenDrive(storage="")
    with pytest.raises(ValueError, match="give storage="):
        PenDrive(size=1 << 20)
    with pytest.raises(RuntimeError, match="no mass storage"):
        PenDrive().lun()
