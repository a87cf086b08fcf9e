"""Tests for usbemu.spec.config — Linux's configuration, BOS and device descriptor parsing.

Every rule of drivers/usb/core/config.c has a test checking both the fix-up and the exact
message; the golden bytes are a real Linux 6.12 capture (QEMU keyboard, QEMU disk, EHCI root
hub) and hand-written SuperSpeed/IAD configurations; hypothesis checks the exact round trip
of valid trees and that random or mutated bytes give a ParsedConfig or a DescriptorError.
"""

from __future__ import annotations

import struct
import uuid
from collections import Counter
from itertools import combinations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usbemu.spec.ch9 import EndpointType, Speed
from usbemu.spec.config import (
    ConfigQuirk,
    Notice,
    ParsedConfig,
    parse_bos,
    parse_configuration,
    parse_descriptors_file,
    parse_device,
)
from usbemu.spec.descriptors import (
    BosDescriptor,
    ConfigDescriptor,
    DescriptorError,
    DeviceCapability,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceAssociation,
    InterfaceDescriptor,
    SsEndpointCompanion,
    build_descriptors,
    container_id,
    superspeed_capability,
    usb20_extension,
)

CONTROL, ISOC, BULK, INT = (int(t) for t in EndpointType)
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROUND_TRIP = settings(max_examples=100, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow,
                                             HealthCheck.data_too_large])


# -- raw descriptor builders (deliberately independent of descriptors.py) -----------------------


def cfg(*body: bytes, nintf: int = 1, value: int = 1, total: int | None = None,
        length: int = 9, dtype: int = 2) -> bytes:
    payload = b"".join(body)
    size = length + len(payload) if total is None else total
    head = struct.pack("<BBHBBBBB", length, dtype, size, nintf, value, 0, 0x80, 50)
    return head[:length].ljust(length, b"\0") + payload


def intf(num: int = 0, alt: int = 0, neps: int = 0, cls: int = 0xFF, length: int = 9) -> bytes:
    return bytes([length, 4, num, alt, neps, cls, 0, 0, 0])[:length].ljust(length, b"\0")


def ep(addr: int, attrs: int = BULK, maxp: int = 512, interval: int = 0,
       length: int = 7) -> bytes:
    raw = struct.pack("<BBBBHB", length, 5, addr, attrs, maxp, interval)
    return raw[:length].ljust(length, b"\0")


def comp(burst: int = 0, attrs: int = 0, bpi: int = 0, length: int = 6) -> bytes:
    raw = struct.pack("<BBBBH", length, 0x30, burst, attrs, bpi)
    return raw[:length].ljust(length, b"\0")


def iad(first: int, count: int = 1, cls: int = 2, length: int = 8) -> bytes:
    return bytes([length, 0x0B, first, count, cls, 0, 0, 0])[:length].ljust(length, b"\0")


def cs(dtype: int = 0x24, payload: bytes = b"") -> bytes:
    return bytes([2 + len(payload), dtype]) + payload


def said(parsed: ParsedConfig) -> list[str]:
    """The non-debug messages, in order."""
    return [n.message for n in parsed.notices if n.level != "debug"]


def debug(parsed: ParsedConfig) -> list[str]:
    return [n.message for n in parsed.notices if n.level == "debug"]


def one_alt(parsed: ParsedConfig) -> InterfaceDescriptor:
    (alt,) = parsed.config.interfaces
    return alt


def one_ep(parsed: ParsedConfig) -> EndpointDescriptor:
    (endpoint,) = one_alt(parsed).endpoints
    return endpoint


A00 = "config 1 interface 0 altsetting 0"


# -- golden: a real Linux 6.12 capture ----------------------------------------------------------

# /sys/bus/usb/devices/1-1/descriptors of QEMU's usb-kbd, as captured (hex dump).
KEYBOARD_CAPTURE = bytes.fromhex("""
    12 01 00 02 00 00 00 40 27 06 01 00 00 00 01 04
    0b 01 09 02 22 00 01 01 08 a0 32 09 04 00 00 01
    03 01 01 00 09 21 11 01 00 01 22 3f 00 07 05 81
    03 08 00 07""")

KEYBOARD_DEVICE = bytes([
    0x12,        # bLength
    0x01,        # bDescriptorType: DEVICE
    0x00, 0x02,  # bcdUSB: 2.00
    0x00,        # bDeviceClass: per interface
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x40,        # bMaxPacketSize0: 64
    0x27, 0x06,  # idVendor: 0x0627
    0x01, 0x00,  # idProduct: 0x0001
    0x00, 0x00,  # bcdDevice: 0.00
    0x01,        # iManufacturer
    0x04,        # iProduct
    0x0B,        # iSerialNumber
    0x01,        # bNumConfigurations
])

KEYBOARD_CONFIG = bytes([
    0x09,        # bLength
    0x02,        # bDescriptorType: CONFIGURATION
    0x22, 0x00,  # wTotalLength: 34
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x08,        # iConfiguration
    0xA0,        # bmAttributes: bus powered, remote wakeup
    0x32,        # bMaxPower: 100 mA
    # -- interface 0
    0x09,        # bLength
    0x04,        # bDescriptorType: INTERFACE
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x01,        # bNumEndpoints
    0x03,        # bInterfaceClass: HID
    0x01,        # bInterfaceSubClass: boot interface
    0x01,        # bInterfaceProtocol: keyboard
    0x00,        # iInterface
    # -- HID descriptor: class-specific, kept in the interface's extra
    0x09,        # bLength
    0x21,        # bDescriptorType: HID
    0x11, 0x01,  # bcdHID: 1.11
    0x00,        # bCountryCode
    0x01,        # bNumDescriptors
    0x22,        # bDescriptorType: REPORT
    0x3F, 0x00,  # wDescriptorLength: 63
    # -- endpoint 1 IN
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x81,        # bEndpointAddress: IN 1
    0x03,        # bmAttributes: interrupt
    0x08, 0x00,  # wMaxPacketSize: 8
    0x07,        # bInterval: 2^(7-1) microframes = 8 ms
])

KEYBOARD_TREE = ConfigDescriptor(
    interfaces=(InterfaceDescriptor(
        3, 1, 1, (EndpointDescriptor(0x81, INT, 8, 7),), bInterfaceNumber=0,
        extra=KEYBOARD_CONFIG[18:27], bNumEndpoints=1),),
    bConfigurationValue=1, iConfiguration=8, bmAttributes=0xA0, bMaxPower=50,
    wTotalLength=34, bNumInterfaces=1)

# /sys/bus/usb/devices/1-2/descriptors of QEMU's usb-storage.
DISK_CAPTURE = bytes.fromhex("""
    12 01 00 02 00 00 00 40 f4 46 01 00 00 00 01 02
    03 01 09 02 20 00 01 01 05 c0 00 09 04 00 00 02
    08 06 50 00 07 05 81 02 00 02 00 07 05 02 02 00
    02 00""")

DISK_CONFIG = bytes([
    0x09,        # bLength
    0x02,        # bDescriptorType: CONFIGURATION
    0x20, 0x00,  # wTotalLength: 32
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x05,        # iConfiguration
    0xC0,        # bmAttributes: self powered
    0x00,        # bMaxPower: 0 mA
    # -- interface 0
    0x09,        # bLength
    0x04,        # bDescriptorType: INTERFACE
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x02,        # bNumEndpoints
    0x08,        # bInterfaceClass: mass storage
    0x06,        # bInterfaceSubClass: SCSI transparent
    0x50,        # bInterfaceProtocol: bulk-only
    0x00,        # iInterface
    # -- endpoint 1 IN
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x81,        # bEndpointAddress: IN 1
    0x02,        # bmAttributes: bulk
    0x00, 0x02,  # wMaxPacketSize: 512
    0x00,        # bInterval
    # -- endpoint 2 OUT
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x02,        # bEndpointAddress: OUT 2
    0x02,        # bmAttributes: bulk
    0x00, 0x02,  # wMaxPacketSize: 512
    0x00,        # bInterval
])

# /sys/bus/usb/devices/usb1/descriptors: the EHCI root hub.
ROOT_HUB_CAPTURE = bytes.fromhex("""
    12 01 00 02 09 00 00 40 6b 1d 02 00 12 06 03 02
    01 01 09 02 19 00 01 01 00 e0 00 09 04 00 00 01
    09 00 00 00 07 05 81 03 04 00 0c""")


def test_golden_keyboard_bytes_are_the_capture() -> None:
    assert KEYBOARD_DEVICE + KEYBOARD_CONFIG == KEYBOARD_CAPTURE
    assert DISK_CAPTURE[18:] == DISK_CONFIG


def test_golden_keyboard_descriptors_file() -> None:
    device, (parsed,) = parse_descriptors_file(KEYBOARD_CAPTURE)
    assert (device.idVendor, device.idProduct, device.bcdUSB) == (0x0627, 0x0001, 0x0200)
    assert (device.iManufacturer, device.iProduct, device.iSerialNumber) == (1, 4, 11)
    assert device.bLength is None and device.bNumConfigurations == 1
    assert device.configurations == (KEYBOARD_TREE,)
    assert parsed.config == KEYBOARD_TREE
    assert parsed.raw == KEYBOARD_CONFIG
    assert parsed.notices == (Notice("debug", "skipped 1 descriptor after interface"),)
    assert parsed.config.to_bytes() == KEYBOARD_CONFIG
    assert device.header() == KEYBOARD_DEVICE


def test_golden_disk_descriptors_file() -> None:
    device, (parsed,) = parse_descriptors_file(DISK_CAPTURE)
    assert (device.idVendor, device.iSerialNumber) == (0x46F4, 3)
    alt = one_alt(parsed)
    assert (alt.bInterfaceClass, alt.bInterfaceSubClass, alt.bInterfaceProtocol) == (8, 6, 0x50)
    assert alt.endpoints == (EndpointDescriptor(0x81, BULK, 512),
                             EndpointDescriptor(0x02, BULK, 512))
    assert parsed.notices == ()
    assert parsed.config.to_bytes() == DISK_CONFIG


def test_golden_root_hub_descriptors_file() -> None:
    device, (parsed,) = parse_descriptors_file(ROOT_HUB_CAPTURE)
    assert (device.bDeviceClass, device.idVendor, device.bcdDevice) == (9, 0x1D6B, 0x0612)
    assert one_ep(parsed) == EndpointDescriptor(0x81, INT, 4, 12)  # 256 ms, Ivl=256ms in devices
    assert parsed.config.bmAttributes == 0xE0 and parsed.notices == ()
    assert parsed.config.to_bytes() == ROOT_HUB_CAPTURE[18:]


# -- golden: hand-written SuperSpeed and IAD configurations ---------------------------------------

SS_DISK_CONFIG = bytes([
    0x09,        # bLength
    0x02,        # bDescriptorType: CONFIGURATION
    0x2C, 0x00,  # wTotalLength: 44
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x00,        # iConfiguration
    0x80,        # bmAttributes: bus powered
    0x70,        # bMaxPower: 112 * 8 mA = 896 mA
    # -- interface 0
    0x09,        # bLength
    0x04,        # bDescriptorType: INTERFACE
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x02,        # bNumEndpoints
    0x08,        # bInterfaceClass: mass storage
    0x06,        # bInterfaceSubClass: SCSI transparent
    0x50,        # bInterfaceProtocol: bulk-only
    0x00,        # iInterface
    # -- endpoint 1 IN
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x81,        # bEndpointAddress: IN 1
    0x02,        # bmAttributes: bulk
    0x00, 0x04,  # wMaxPacketSize: 1024
    0x00,        # bInterval
    # -- its SuperSpeed companion
    0x06,        # bLength
    0x30,        # bDescriptorType: SS_ENDPOINT_COMP
    0x0F,        # bMaxBurst: 16 packets
    0x00,        # bmAttributes: no streams
    0x00, 0x00,  # wBytesPerInterval
    # -- endpoint 2 OUT
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x02,        # bEndpointAddress: OUT 2
    0x02,        # bmAttributes: bulk
    0x00, 0x04,  # wMaxPacketSize: 1024
    0x00,        # bInterval
    # -- its SuperSpeed companion
    0x06,        # bLength
    0x30,        # bDescriptorType: SS_ENDPOINT_COMP
    0x0F,        # bMaxBurst: 16 packets
    0x04,        # bmAttributes: 2^4 streams
    0x00, 0x00,  # wBytesPerInterval
])


def test_golden_superspeed_disk() -> None:
    parsed = parse_configuration(SS_DISK_CONFIG, speed=Speed.SUPER)
    assert one_alt(parsed).endpoints == (
        EndpointDescriptor(0x81, BULK, 1024, companion=SsEndpointCompanion(15, 0, 0)),
        EndpointDescriptor(0x02, BULK, 1024, companion=SsEndpointCompanion(15, 4, 0)))
    assert said(parsed) == []
    # Linux counts the companion among the descriptors it skips into endpoint->extra.
    assert debug(parsed) == ["skipped 1 descriptor after endpoint"] * 2
    assert parsed.config.to_bytes() == SS_DISK_CONFIG
    assert parsed.config.max_power_ma(Speed.SUPER) == 896


def test_golden_superspeed_disk_at_high_speed_keeps_companions_raw() -> None:
    parsed = parse_configuration(SS_DISK_CONFIG, speed=Speed.HIGH)
    first, second = one_alt(parsed).endpoints
    assert first.companion is None and first.extra == SS_DISK_CONFIG[25:31]
    assert second.extra == SS_DISK_CONFIG[38:44]
    assert said(parsed) == [f"{A00} bulk endpoint 0x81 has invalid maxpacket 1024",
                            f"{A00} bulk endpoint 0x2 has invalid maxpacket 1024"]
    assert parsed.config.to_bytes() == SS_DISK_CONFIG


ACM_CONFIG = bytes([
    0x09,        # bLength
    0x02,        # bDescriptorType: CONFIGURATION
    0x4B, 0x00,  # wTotalLength: 75
    0x02,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x00,        # iConfiguration
    0xC0,        # bmAttributes: self powered
    0x01,        # bMaxPower: 2 mA
    # -- interface association: interfaces 0 and 1 form one CDC function
    0x08,        # bLength
    0x0B,        # bDescriptorType: INTERFACE_ASSOCIATION
    0x00,        # bFirstInterface
    0x02,        # bInterfaceCount
    0x02,        # bFunctionClass: communications
    0x02,        # bFunctionSubClass: ACM
    0x01,        # bFunctionProtocol: AT commands
    0x04,        # iFunction
    # -- interface 0: communications
    0x09,        # bLength
    0x04,        # bDescriptorType: INTERFACE
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x01,        # bNumEndpoints
    0x02,        # bInterfaceClass: communications
    0x02,        # bInterfaceSubClass: ACM
    0x01,        # bInterfaceProtocol: AT commands
    0x00,        # iInterface
    # -- CDC header functional descriptor
    0x05,        # bLength
    0x24,        # bDescriptorType: CS_INTERFACE
    0x00,        # bDescriptorSubtype: header
    0x10, 0x01,  # bcdCDC: 1.10
    # -- CDC call management functional descriptor
    0x05,        # bLength
    0x24,        # bDescriptorType: CS_INTERFACE
    0x01,        # bDescriptorSubtype: call management
    0x00,        # bmCapabilities
    0x01,        # bDataInterface
    # -- CDC ACM functional descriptor
    0x04,        # bLength
    0x24,        # bDescriptorType: CS_INTERFACE
    0x02,        # bDescriptorSubtype: ACM
    0x02,        # bmCapabilities: line coding and serial state
    # -- CDC union functional descriptor
    0x05,        # bLength
    0x24,        # bDescriptorType: CS_INTERFACE
    0x06,        # bDescriptorSubtype: union
    0x00,        # bControlInterface
    0x01,        # bSubordinateInterface0
    # -- endpoint 3 IN: notifications
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x83,        # bEndpointAddress: IN 3
    0x03,        # bmAttributes: interrupt
    0x0A, 0x00,  # wMaxPacketSize: 10
    0x20,        # bInterval: 32 ms (full speed)
    # -- interface 1: CDC data
    0x09,        # bLength
    0x04,        # bDescriptorType: INTERFACE
    0x01,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x02,        # bNumEndpoints
    0x0A,        # bInterfaceClass: CDC data
    0x00,        # bInterfaceSubClass
    0x00,        # bInterfaceProtocol
    0x00,        # iInterface
    # -- endpoint 1 IN
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x81,        # bEndpointAddress: IN 1
    0x02,        # bmAttributes: bulk
    0x40, 0x00,  # wMaxPacketSize: 64
    0x00,        # bInterval
    # -- endpoint 2 OUT
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x02,        # bEndpointAddress: OUT 2
    0x02,        # bmAttributes: bulk
    0x40, 0x00,  # wMaxPacketSize: 64
    0x00,        # bInterval
])


def test_golden_acm_with_interface_association() -> None:
    parsed = parse_configuration(ACM_CONFIG, speed=Speed.FULL)
    comm, data = parsed.config.interfaces
    assert comm.association == InterfaceAssociation(2, 2, 2, 1, 4, bFirstInterface=0)
    assert comm.extra == ACM_CONFIG[26:45] and parsed.config.extra == b""
    assert comm.endpoints == (EndpointDescriptor(0x83, INT, 10, 32),)
    assert data.association is None and data.bInterfaceNumber == 1
    assert [e.bEndpointAddress for e in data.endpoints] == [0x81, 0x02]
    assert said(parsed) == []
    assert debug(parsed) == ["skipped 1 descriptor after configuration",  # the IAD
                             "skipped 4 descriptors after interface"]
    assert parsed.config.to_bytes() == ACM_CONFIG


# -- fatal cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "cfgidx", "message"), [
    (cfg(intf(), dtype=7), 0, "invalid descriptor for config index 0: type = 0x7, length = 9"),
    (cfg(intf(), length=8), 2, "invalid descriptor for config index 2: type = 0x2, length = 8"),
    (cfg(total=9, length=12), 1, "invalid descriptor for config index 1: type = 0x2, length = 12"),
    (bytes([9, 2, 9, 0, 1]), 0, "invalid descriptor for config index 0: type = 0x2, length = 9"),
    (bytes([9, 2, 9]), 3, "config index 3 descriptor too short (expected 9, got 3)"),
    (b"", 0, "config index 0 descriptor too short (expected 9, got 0)"),
])
def test_fatal_configuration_header(data: bytes, cfgidx: int, message: str) -> None:
    with pytest.raises(DescriptorError) as info:
        parse_configuration(data, cfgidx)
    assert str(info.value) == message


# -- how much is read: wTotalLength ------------------------------------------------------------


def test_wtotallength_larger_than_data_parses_what_arrived() -> None:
    data = cfg(intf(), total=40)
    parsed = parse_configuration(data)
    assert parsed.notices[0] == Notice(
        "notice", "config index 0 descriptor too short (expected 40, got 18)")
    assert parsed.raw == data and parsed.config.wTotalLength == 18
    assert len(parsed.config.interfaces) == 1


def test_wtotallength_smaller_than_data_reads_no_further() -> None:
    data = cfg(intf(neps=1), ep(0x81), total=18)
    parsed = parse_configuration(data)
    assert parsed.raw == data[:18]
    assert one_alt(parsed).endpoints == ()
    assert said(parsed) == [f"{A00} has 0 endpoint descriptors, different from the "
                            "interface descriptor's value: 1"]


def test_wtotallength_below_nine_reads_the_header() -> None:
    parsed = parse_configuration(cfg(intf(), total=4))
    assert parsed.raw == cfg(total=4) and parsed.config.interfaces == ()
    assert said(parsed) == ["config 1 has 0 interfaces, different from the descriptor's value: 1"]


def test_walked_length_replaces_wtotallength() -> None:
    parsed = parse_configuration(cfg(intf(), cs(payload=b"\1\2"), b"\x00"))
    assert parsed.config.wTotalLength == 22 and len(parsed.raw) == 23


# -- first pass: lengths and counts --------------------------------------------------------------


def test_excess_byte() -> None:
    parsed = parse_configuration(cfg(intf(), b"\x07"))
    assert said(parsed) == ["config 1 descriptor has 1 excess byte, ignoring"]
    assert parsed.config.wTotalLength == 18


@pytest.mark.parametrize(("junk", "length"), [
    (b"\x00\x24\x01" + intf(1), 0),  # bLength < 2
    (b"\x01\x24" + intf(1), 1),
    (b"\x0C\x24\x01" + intf(1)[:8], 12),  # runs past the end
])
def test_invalid_descriptor_length_skips_remainder(junk: bytes, length: int) -> None:
    parsed = parse_configuration(cfg(intf(), junk, nintf=1))
    assert said(parsed) == [f"config 1 has an invalid descriptor of length {length}, "
                            "skipping remainder of the config"]
    assert parsed.config.wTotalLength == 18 and len(parsed.config.interfaces) == 1


def test_short_interface_descriptor_is_skipped() -> None:
    parsed = parse_configuration(cfg(intf(1, length=8), intf(0)))
    assert said(parsed) == ["config 1 has an invalid interface descriptor of length 8, skipping"]
    assert [a.bInterfaceNumber for a in parsed.config.interfaces] == [0]


def test_interface_number_out_of_range_is_kept() -> None:
    parsed = parse_configuration(cfg(intf(0), intf(1), nintf=1))
    assert said(parsed) == [
        "config 1 has an invalid interface number: 1 but max is 0",
        "config 1 has 2 interfaces, different from the descriptor's value: 1",
    ]
    assert parsed.config.bNumInterfaces == 2
    assert [a.bInterfaceNumber for a in parsed.config.interfaces] == [0, 1]


def test_honor_bnuminterfaces_quirk_ignores_extra_interfaces() -> None:
    parsed = parse_configuration(cfg(intf(0), intf(1), nintf=1),
                                 quirks=ConfigQuirk.HONOR_BNUMINTERFACES)
    assert said(parsed) == ["config 1 has more interface descriptors, than it declares in "
                            "bNumInterfaces, ignoring interface number: 1"]
    assert [a.bInterfaceNumber for a in parsed.config.interfaces] == [0]


def test_too_many_interfaces_declared() -> None:
    parsed = parse_configuration(cfg(intf(0), nintf=33))
    assert said(parsed) == [
        "config 1 has too many interfaces: 33, using maximum allowed: 32",
        "config 1 has 1 interface, different from the descriptor's value: 33",
    ]
    assert parsed.config.bNumInterfaces == 1


def test_only_32_interfaces_are_stored() -> None:
    parsed = parse_configuration(cfg(*(intf(i) for i in range(33)), nintf=33))
    assert said(parsed) == ["config 1 has too many interfaces: 33, using maximum allowed: 32"]
    assert parsed.config.bNumInterfaces == 32
    assert [a.bInterfaceNumber for a in parsed.config.interfaces] == list(range(32))


def test_no_interfaces() -> None:
    parsed = parse_configuration(cfg(nintf=0))
    assert said(parsed) == ["config 1 has no interfaces?"]
    assert parsed.config.bNumInterfaces == 0


def test_missing_interface_number() -> None:
    parsed = parse_configuration(cfg(intf(0), intf(2), nintf=2))
    assert said(parsed) == ["config 1 has an invalid interface number: 2 but max is 1",
                            "config 1 has no interface number 1"]


def test_too_many_altsettings() -> None:
    parsed = parse_configuration(cfg(*(intf(0, a) for a in range(129))))
    assert said(parsed) == ["too many alternate settings for config 1 interface 0: 129, using "
                            "maximum allowed: 128"]
    assert [a.bAlternateSetting for a in parsed.config.interfaces] == list(range(128))


def test_short_iad_is_skipped_and_stays_raw() -> None:
    short = iad(0, length=7)
    parsed = parse_configuration(cfg(short, intf(0)))
    assert said(parsed) == ["config 1 has an invalid interface association descriptor of "
                            "length 7, skipping"]
    assert one_alt(parsed).association is None and parsed.config.extra == short


def test_more_than_16_iads() -> None:
    body = [iad(i) + intf(i) for i in range(17)]
    parsed = parse_configuration(cfg(*body, nintf=17))
    assert said(parsed) == ["found more Interface Association Descriptors than allocated for "
                            "in configuration 1"]
    alts = parsed.config.interfaces
    assert [a.association is not None for a in alts] == [True] * 16 + [False]
    assert alts[15].extra == iad(16)  # Linux keeps it in the previous descriptor's extra
    assert parsed.config.to_bytes() == cfg(*body, nintf=17)


@pytest.mark.parametrize(("embedded", "dtype"), [(KEYBOARD_DEVICE, 1), (cfg(nintf=0), 2)])
def test_embedded_device_or_config_descriptor(embedded: bytes, dtype: int) -> None:
    parsed = parse_configuration(cfg(intf(), embedded))
    assert said(parsed) == [f"config 1 contains an unexpected descriptor of type 0x{dtype:X}, "
                            "skipping"]
    assert one_alt(parsed).extra == embedded  # "skipping" means: not parsed; Linux keeps it


# -- interfaces and altsettings -----------------------------------------------------------------


def test_duplicate_altsetting_is_skipped_with_its_endpoints() -> None:
    parsed = parse_configuration(cfg(intf(0, 0, 1), ep(0x81), intf(0, 0, 1), ep(0x82)))
    assert said(parsed) == ["Duplicate descriptor for config 1 interface 0 altsetting 0, "
                            "skipping"]
    assert one_ep(parsed).bEndpointAddress == 0x81


def test_missing_altsetting() -> None:
    parsed = parse_configuration(cfg(intf(0, 0), intf(0, 2)))
    assert said(parsed) == ["config 1 interface 0 has no altsetting 1"]
    assert len(parsed.config.interfaces) == 2


def test_too_many_endpoints() -> None:
    addresses = [n | d for d in (0x80, 0) for n in range(1, 16)] + [0x81]
    parsed = parse_configuration(cfg(intf(neps=31), *(ep(a, INT, 8, 1) for a in addresses)))
    assert said(parsed) == ["too many endpoints for config 1 interface 0 altsetting 0: 31, "
                            "using maximum allowed: 30"]
    assert one_alt(parsed).bNumEndpoints == 30


def test_endpoint_count_mismatch() -> None:
    parsed = parse_configuration(cfg(intf(neps=2), ep(0x81)))
    assert said(parsed) == [f"{A00} has 1 endpoint descriptor, different from the interface "
                            "descriptor's value: 2"]
    assert one_alt(parsed).bNumEndpoints == 1


def test_no_room_for_undeclared_endpoints() -> None:
    parsed = parse_configuration(cfg(intf(neps=0), ep(0x81), ep(0x02)))
    assert said(parsed) == [f"{A00} has 2 endpoint descriptors, different from the interface "
                            "descriptor's value: 0"]
    assert one_alt(parsed).endpoints == () and one_alt(parsed).bNumEndpoints == 0


# -- endpoints ---------------------------------------------------------------------------------


def test_short_endpoint_descriptor() -> None:
    parsed = parse_configuration(cfg(intf(neps=2), ep(0x82, length=6), ep(0x81)))
    assert said(parsed)[0] == f"{A00} has an invalid endpoint descriptor of length 6, skipping"
    assert one_ep(parsed).bEndpointAddress == 0x81


@pytest.mark.parametrize("address", [0x00, 0x80, 0x70, 0xF0])
def test_endpoint_zero_is_skipped(address: int) -> None:
    parsed = parse_configuration(cfg(intf(neps=1), ep(address)))
    assert said(parsed) == [f"{A00} has an invalid descriptor for endpoint zero, skipping"]
    assert one_alt(parsed).endpoints == ()


def test_reserved_address_bits_are_cleared() -> None:
    parsed = parse_configuration(cfg(intf(neps=1), ep(0xF1)))
    assert said(parsed) == [f"{A00} has an endpoint descriptor with address 0xF1, changing to "
                            "0x81"]
    assert one_ep(parsed).bEndpointAddress == 0x81


def test_duplicate_endpoint_in_same_altsetting() -> None:
    parsed = parse_configuration(cfg(intf(neps=2), ep(0x81), ep(0x81, INT, 8, 1)))
    assert said(parsed) == [f"{A00} has a duplicate endpoint with address 0x81, skipping"]
    assert one_ep(parsed).type == EndpointType.BULK


def test_duplicate_after_clearing_reserved_bits() -> None:
    parsed = parse_configuration(cfg(intf(neps=2), ep(0x81), ep(0x91)))
    assert said(parsed) == [
        f"{A00} has an endpoint descriptor with address 0x91, changing to 0x81",
        f"{A00} has a duplicate endpoint with address 0x81, skipping",
    ]


def test_duplicate_endpoint_in_other_interface() -> None:
    parsed = parse_configuration(cfg(intf(0, neps=1), ep(0x81), intf(1, neps=1), ep(0x81),
                                     nintf=2))
    assert said(parsed) == ["config 1 interface 1 altsetting 0 has a duplicate endpoint with "
                            "address 0x81, skipping"]
    assert parsed.config.interfaces[1].endpoints == ()


def test_other_altsettings_of_one_interface_share_addresses() -> None:
    parsed = parse_configuration(cfg(intf(0, 0, 1), ep(0x81), intf(0, 1, 1), ep(0x81)))
    assert said(parsed) == []
    assert [len(a.endpoints) for a in parsed.config.interfaces] == [1, 1]


def test_control_endpoints_clash_on_number() -> None:
    parsed = parse_configuration(cfg(intf(0, neps=1), ep(0x01, CONTROL, 64), intf(1, neps=1),
                                     ep(0x81), nintf=2))
    assert said(parsed) == ["config 1 interface 1 altsetting 0 has a duplicate endpoint with "
                            "address 0x81, skipping"]


def test_ignored_endpoint_quirk() -> None:
    seen: list[tuple[int, int]] = []

    def ignored(alt: InterfaceDescriptor, address: int) -> bool:
        seen.append((alt.bInterfaceNumber or 0, address))
        return address == 0x02

    data = cfg(intf(neps=2), ep(0x81), ep(0x02))
    parsed = parse_configuration(data, quirks=ConfigQuirk.ENDPOINT_IGNORE,
                                 endpoint_ignored=ignored)
    assert said(parsed) == [f"{A00} has an ignored endpoint with address 0x2, skipping"]
    assert one_ep(parsed).bEndpointAddress == 0x81 and seen == [(0, 0x81), (0, 0x02)]
    assert len(one_alt(parse_configuration(data, endpoint_ignored=ignored)).endpoints) == 2


# bInterval: (speed, type, bInterval as read, bInterval stored; None = unchanged)
INTERVALS = [
    (Speed.HIGH, INT, 0, 7),
    (Speed.HIGH, INT, 1, None),
    (Speed.HIGH, INT, 16, None),
    (Speed.HIGH, INT, 17, 8),  # fls(17 * 8): a millisecond value converted
    (Speed.HIGH, INT, 32, 9),
    (Speed.SUPER, INT, 255, 11),
    (Speed.SUPER_PLUS, INT, 0, 7),
    (Speed.FULL, INT, 0, 10),
    (Speed.FULL, INT, 255, None),
    (Speed.LOW, INT, 0, 10),
    (Speed.WIRELESS, INT, 0, 10),
    (Speed.HIGH, ISOC, 0, 7),
    (Speed.HIGH, ISOC, 17, 7),
    (Speed.FULL, ISOC, 0, 4),
    (Speed.FULL, ISOC, 16, None),
    (Speed.FULL, ISOC, 20, 4),
    (Speed.SUPER, ISOC, 0, 4),  # Linux's default branch: 4 at SuperSpeed too
    (Speed.HIGH, BULK, 255, None),
    (Speed.FULL, CONTROL, 200, None),
]


@pytest.mark.parametrize(("speed", "kind", "interval", "fixed"), INTERVALS)
def test_binterval_fixups(speed: Speed, kind: int, interval: int, fixed: int | None) -> None:
    maxp = {CONTROL: 8, ISOC: 8, BULK: 64, INT: 8}[kind]
    parsed = parse_configuration(cfg(intf(0, 1, 1), ep(0x81, kind, maxp, interval)), speed=speed)
    stored = one_ep(parsed).bInterval
    interval_notes = [m for m in said(parsed) if "bInterval" in m]
    if fixed is None:
        assert stored == interval and interval_notes == []
    else:
        assert stored == fixed
        assert interval_notes == [f"config 1 interface 0 altsetting 1 endpoint 0x81 has an "
                                  f"invalid bInterval {interval}, changing to {fixed}"]


@pytest.mark.parametrize(("quirk", "interval", "fixed"), [
    (ConfigQuirk.LINEAR_FRAME_INTR_BINTERVAL, 8, 7),  # 8 ms -> 2^(7-1) microframes
    (ConfigQuirk.LINEAR_FRAME_INTR_BINTERVAL, 0, 3),
    (ConfigQuirk.LINEAR_FRAME_INTR_BINTERVAL, 255, 11),
    (ConfigQuirk.LINEAR_UFRAME_INTR_BINTERVAL, 64, 7),  # 64 microframes -> 2^(7-1)
    (ConfigQuirk.LINEAR_UFRAME_INTR_BINTERVAL, 7, 3),
    (ConfigQuirk.LINEAR_UFRAME_INTR_BINTERVAL, 0, 1),
])
def test_linear_interval_quirks(quirk: ConfigQuirk, interval: int, fixed: int) -> None:
    data = cfg(intf(neps=1), ep(0x81, INT, 8, interval))
    parsed = parse_configuration(data, quirks=quirk)
    assert one_ep(parsed).bInterval == fixed
    assert said(parsed) == [f"{A00} endpoint 0x81 has an invalid bInterval {interval}, "
                            f"changing to {fixed}"]
    full = parse_configuration(data, speed=Speed.FULL, quirks=quirk)
    assert one_ep(full).bInterval == (interval or 10)  # quirks only touch exponent speeds


def test_linear_interval_quirk_keeps_matching_value() -> None:
    parsed = parse_configuration(cfg(intf(neps=1), ep(0x81, INT, 8, 7)),
                                 quirks=ConfigQuirk.LINEAR_FRAME_INTR_BINTERVAL)
    assert one_ep(parsed).bInterval == 6  # fls(7) + 3
    parsed = parse_configuration(cfg(intf(neps=1), ep(0x81, INT, 8, 6)),
                                 quirks=ConfigQuirk.LINEAR_FRAME_INTR_BINTERVAL)
    assert one_ep(parsed).bInterval == 6 and said(parsed) == []


@pytest.mark.parametrize(("attrs", "maxp", "stored_maxp"), [
    (BULK, 64, 8), (BULK, 8, 8), (BULK | 0x0C, 4, 4), (BULK, 0x1040, 8),
])
def test_low_speed_bulk_becomes_interrupt(attrs: int, maxp: int, stored_maxp: int) -> None:
    parsed = parse_configuration(cfg(intf(neps=1), ep(0x81, attrs, maxp, 0)), speed=Speed.LOW)
    assert one_ep(parsed) == EndpointDescriptor(0x81, INT, stored_maxp, 1)
    assert said(parsed) == [f"{A00} endpoint 0x81 is Bulk; changing to Interrupt"]


def test_zero_wmaxpacketsize() -> None:
    parsed = parse_configuration(cfg(intf(neps=1), ep(0x81, BULK, 0)))
    assert said(parsed) == [f"{A00} endpoint 0x81 has invalid wMaxPacketSize 0",
                            f"{A00} bulk endpoint 0x81 has invalid maxpacket 0"]
    assert one_ep(parsed).wMaxPacketSize == 0


def test_zero_maxpacket_isoc_allowed_in_altsetting_zero_only() -> None:
    data = cfg(intf(0, 0, 1), ep(0x81, ISOC, 0, 1), intf(0, 1, 1), ep(0x81, ISOC, 0, 1))
    parsed = parse_configuration(data)
    assert said(parsed) == ["config 1 interface 0 altsetting 1 endpoint 0x81 has invalid "
                            "wMaxPacketSize 0"]


# maxpacket limits per speed, indexed by type: control, isoc, bulk, int (config.c tables)
LIMITS = {
    Speed.LOW: (8, 0, 0, 8),
    Speed.FULL: (64, 1023, 64, 64),
    Speed.HIGH: (64, 1024, 1024, 1024),
    Speed.SUPER: (512, 1024, 1024, 1024),
    Speed.SUPER_PLUS: (512, 1024, 1024, 1024),
    Speed.UNKNOWN: (64, 1024, 1024, 1024),
}


@pytest.mark.parametrize(("speed", "kind"), [
    (s, k) for s in LIMITS for k in (CONTROL, ISOC, BULK, INT)
    if not (s == Speed.LOW and k == BULK)
])
def test_maxpacket_limits(speed: Speed, kind: int) -> None:
    limit = LIMITS[speed][kind]
    ok = parse_configuration(cfg(intf(0, 1, 1), ep(0x81, kind, limit, 1)), speed=speed)
    assert one_ep(ok).wMaxPacketSize == limit
    assert not [m for m in said(ok) if "setting to" in m]
    big = parse_configuration(cfg(intf(0, 1, 1), ep(0x81, kind, limit + 1, 1)), speed=speed)
    assert one_ep(big).wMaxPacketSize == limit
    assert (f"config 1 interface 0 altsetting 1 endpoint 0x81 has invalid maxpacket "
            f"{limit + 1}, setting to {limit}") in said(big)


@pytest.mark.parametrize(("speed", "kind", "wmax", "shown", "stored"), [
    (Speed.HIGH, INT, 0x1400, None, 0x1400),  # 2 extra transactions x 1024: legal
    (Speed.HIGH, ISOC, 0x1401, 1025, 0x1400),  # mult bits kept, size clamped
    (Speed.HIGH, BULK, 0x0A00, 2560, 1024),  # mult bits are size bits for bulk
    (Speed.HIGH, INT, 0x2040, 8256, 0x400),  # bit 13 is no mult bit
    (Speed.FULL, INT, 0x0840, 2112, 64),
    (Speed.SUPER, INT, 0x1400, 5120, 1024),
    (Speed.UNKNOWN, INT, 0x1400, 5120, 1024),
])
def test_high_bandwidth_bits(speed: Speed, kind: int, wmax: int, shown: int | None,
                             stored: int) -> None:
    parsed = parse_configuration(cfg(intf(0, 1, 1), ep(0x81, kind, wmax, 1)), speed=speed)
    assert one_ep(parsed).wMaxPacketSize == stored
    clamps = [m for m in said(parsed) if "setting to" in m]
    if shown is None:
        assert clamps == []
    else:
        limit = LIMITS[speed][kind]
        assert clamps == [f"config 1 interface 0 altsetting 1 endpoint 0x81 has invalid "
                          f"maxpacket {shown}, setting to {limit}"]


@pytest.mark.parametrize("maxp", [64, 1024, 256])
def test_high_speed_bulk_not_512_is_only_a_warning(maxp: int) -> None:
    parsed = parse_configuration(cfg(intf(neps=1), ep(0x02, BULK, maxp)))
    assert said(parsed) == [f"{A00} bulk endpoint 0x2 has invalid maxpacket {maxp}"]
    assert one_ep(parsed).wMaxPacketSize == maxp


def test_audio_endpoint_keeps_refresh_and_synch_address() -> None:
    data = cfg(intf(neps=1), ep(0x81, ISOC | 0x04, 192, 1, length=9)[:7] + b"\x03\x82")
    parsed = parse_configuration(data, speed=Speed.FULL)
    endpoint = one_ep(parsed)
    assert (endpoint.bRefresh, endpoint.bSynchAddress, endpoint.bLength) == (3, 0x82, None)
    assert parsed.config.to_bytes() == data


def test_oversized_descriptors_keep_blength_and_lose_trailing_bytes() -> None:
    data = cfg(intf(neps=1, length=11)[:9] + b"\x55\x66", ep(0x81, length=8)[:7] + b"\x77")
    parsed = parse_configuration(data)
    alt = one_alt(parsed)
    assert alt.bLength == 11 and alt.extra == b""
    assert one_ep(parsed).bLength == 8 and one_ep(parsed).bRefresh is None
    out = parsed.config.to_bytes()
    assert len(out) == len(data) and out[18:20] == b"\0\0" and out[27] == 0


# -- SuperSpeed endpoint companions ----------------------------------------------------------


def ss(*body: bytes, neps: int = 1) -> ParsedConfig:
    return parse_configuration(cfg(intf(neps=neps), *body), speed=Speed.SUPER)


def ss_ep(parsed: ParsedConfig) -> tuple[EndpointDescriptor, list[str]]:
    return one_ep(parsed), said(parsed)


EP81 = "config 1 interface 0 altsetting 0 ep 129"


def test_missing_companion_gets_minimum_values() -> None:
    parsed = ss(ep(0x81, INT, 64, 1), cs(0x24, b"\0" * 6), ep(0x02, BULK, 1024), comp(),
                neps=2)
    first, second = one_alt(parsed).endpoints
    assert first.companion == SsEndpointCompanion(0, 0, 64)  # interrupt: one packet
    assert first.extra == cs(0x24, b"\0" * 6)
    assert second.companion == SsEndpointCompanion()
    assert said(parsed) == ["No SuperSpeed endpoint companion for config 1  interface 0 "
                            "altsetting 0 ep 129: using minimum values"]


def test_missing_companion_for_bulk_has_zero_bytes_per_interval() -> None:
    endpoint, _ = ss_ep(ss(ep(0x81, BULK, 1024), cs(0x24, b"\0" * 6)))
    assert endpoint.companion == SsEndpointCompanion(0, 0, 0)


@pytest.mark.parametrize(("tail", "size"), [(b"", 0), (cs(0x24, b"\1\2"), 4)])
def test_companion_space_too_short(tail: bytes, size: int) -> None:
    endpoint, notes = ss_ep(ss(ep(0x81, BULK, 1024), tail))
    assert endpoint.companion is None and endpoint.extra == tail
    assert notes == [f"invalid SuperSpeed endpoint companion descriptor of length {size}, "
                     "skipping"]


@pytest.mark.parametrize(("endpoint", "companion", "fixed", "message"), [
    (ep(0x81, BULK, 1024), comp(16, 0, 0), SsEndpointCompanion(15, 0, 0),
     f"Endpoint with bMaxBurst = 16 in {EP81}: setting to 15"),
    (ep(0x81, BULK, 1024), comp(0, 17, 0), SsEndpointCompanion(0, 16, 0),
     f"Bulk endpoint with more than 65536 streams in {EP81}: setting to max"),
    (ep(0x81, INT, 64, 1), comp(0, 1, 64), SsEndpointCompanion(0, 0, 64),
     f"Bulk endpoint with bmAttributes = 1 in {EP81}: setting to zero"),  # sic
    (ep(0x81, ISOC, 1024, 1), comp(0, 3, 1024), SsEndpointCompanion(0, 2, 1024),
     f"Isoc endpoint has Mult of 4 in {EP81}: setting to 3"),
    (ep(0x81, INT, 64, 1), comp(1, 0, 200), SsEndpointCompanion(1, 0, 128),
     f"Int endpoint with wBytesPerInterval of 200 in {EP81}: setting to 128"),
    (ep(0x81, ISOC, 1024, 1), comp(0, 0, 2048), SsEndpointCompanion(0, 0, 1024),
     f"Isoc endpoint with wBytesPerInterval of 2048 in {EP81}: setting to 1024"),
])
def test_companion_fixups(endpoint: bytes, companion: bytes, fixed: SsEndpointCompanion,
                          message: str) -> None:
    stored, notes = ss_ep(ss(endpoint, companion))
    assert stored.companion == fixed
    assert notes == [message]


def test_control_endpoint_companion() -> None:
    stored, notes = ss_ep(ss(ep(0x01, CONTROL, 512), comp(3, 1, 0)))
    assert stored.companion == SsEndpointCompanion(0, 0, 0)
    where = "config 1 interface 0 altsetting 0 ep 1"
    assert notes == [f"Control endpoint with bMaxBurst = 3 in {where}: setting to zero",
                     f"Control endpoint with bmAttributes = 1 in {where}: setting to zero"]


def test_bytes_per_interval_limit_uses_the_values_as_read() -> None:
    stored, notes = ss_ep(ss(ep(0x81, ISOC, 100, 1), comp(0, 3, 450)))
    assert stored.companion == SsEndpointCompanion(0, 2, 400)  # 4 x 100, not 3 x 100
    assert notes == [f"Isoc endpoint has Mult of 4 in {EP81}: setting to 3",
                     f"Isoc endpoint with wBytesPerInterval of 450 in {EP81}: setting to 400"]


def test_superspeed_plus_isoc_companion() -> None:
    ssp = bytes([8, 0x31, 0, 0]) + struct.pack("<I", 4096)
    stored, notes = ss_ep(ss(ep(0x81, ISOC, 1024, 1), comp(0, 0x80, 0), ssp))
    assert notes == [] and stored.companion == SsEndpointCompanion(0, 0x80, 0)
    assert stored.extra == ssp  # no field for it: kept raw, as in endpoint->extra
    stored, notes = ss_ep(ss(ep(0x81, ISOC, 1024, 1), comp(0, 0x83, 0)))
    assert notes == ["Invalid SuperSpeedPlus isoc endpoint companionfor config 1 interface 0 "
                     "altsetting 0 ep 129."]
    assert stored.companion == SsEndpointCompanion(0, 0x83, 0)  # no Mult fix with SSP bit


def test_companion_with_odd_blength_round_trips() -> None:
    data = cfg(intf(neps=2), ep(0x81, BULK, 1024), comp(2, length=8)[:6] + b"\xAA\xBB",
               ep(0x02, BULK, 1024), comp(length=2), cs(0x24, b"\0\0"))
    parsed = parse_configuration(data, speed=Speed.SUPER)
    first, second = one_alt(parsed).endpoints
    assert first.companion == SsEndpointCompanion(2, 0, 0, bLength=8)
    assert first.extra == b"\xAA\xBB"
    # bLength 2: Linux copies 6 bytes anyway, so the fields come from the next descriptor
    # (bMaxBurst 4, bmAttributes 0x24), and are fixed up as such.
    assert second.companion == SsEndpointCompanion(4, 16, 0, bLength=2)
    assert second.extra == cs(0x24, b"\0\0")
    assert said(parsed) == ["Bulk endpoint with more than 65536 streams in config 1 interface "
                            "0 altsetting 0 ep 2: setting to max"]
    assert parsed.config.to_bytes() == data


# -- extra bytes and interface associations -----------------------------------------------------


def test_class_descriptors_go_to_the_extra_they_follow() -> None:
    otg, hid, cs_ep = cs(0x09, b"\x03"), cs(0x21, b"\1\2\3"), cs(0x25, b"\1\1")
    parsed = parse_configuration(cfg(otg, otg, intf(neps=1), hid, ep(0x81), cs_ep))
    assert parsed.config.extra == otg + otg
    assert one_alt(parsed).extra == hid and one_ep(parsed).extra == cs_ep
    assert debug(parsed) == ["skipped 2 descriptors after configuration",
                             "skipped 1 descriptor after interface",
                             "skipped 1 descriptor after endpoint"]


def test_iad_not_directly_before_an_interface_stays_raw() -> None:
    data = cfg(iad(0), cs(0x24, b"\0"), intf(0))
    parsed = parse_configuration(data)
    assert one_alt(parsed).association is None
    assert parsed.config.extra == iad(0) + cs(0x24, b"\0")
    assert parsed.config.to_bytes() == data


def test_iad_that_cannot_be_reencoded_stays_raw() -> None:
    odd = iad(0, length=9)[:8] + b"\x01"
    parsed = parse_configuration(cfg(odd, intf(0)))
    assert one_alt(parsed).association is None and parsed.config.extra == odd
    padded = iad(0, length=9)  # trailing zero byte: representable
    assert one_alt(parse_configuration(cfg(padded, intf(0)))).association == (
        InterfaceAssociation(1, 2, bFirstInterface=0, bLength=9))


def test_iad_after_an_endpoint_leaves_the_endpoint_extra() -> None:
    data = cfg(intf(0, neps=1), ep(0x81), cs(0x25, b"\1"), iad(1), intf(1), nintf=2)
    parsed = parse_configuration(data)
    first, second = parsed.config.interfaces
    assert first.endpoints[0].extra == cs(0x25, b"\1")
    assert second.association == InterfaceAssociation(1, 2, bFirstInterface=1)
    assert parsed.config.to_bytes() == data


def test_iad_before_a_skipped_interface_stays_raw() -> None:
    data = cfg(intf(0), iad(0), intf(0))
    parsed = parse_configuration(data)
    assert said(parsed) == ["Duplicate descriptor for config 1 interface 0 altsetting 0, "
                            "skipping"]
    assert one_alt(parsed).extra == iad(0) and one_alt(parsed).association is None


# -- BOS ---------------------------------------------------------------------------------------

BOS = bytes([
    0x05,        # bLength
    0x0F,        # bDescriptorType: BOS
    0x16, 0x00,  # wTotalLength: 22
    0x02,        # bNumDeviceCaps
    # -- USB 2.0 extension
    0x07,        # bLength
    0x10,        # bDescriptorType: DEVICE_CAPABILITY
    0x02,        # bDevCapabilityType: USB 2.0 extension
    0x02, 0x00, 0x00, 0x00,  # bmAttributes: LPM
    # -- SuperSpeed USB
    0x0A,        # bLength
    0x10,        # bDescriptorType: DEVICE_CAPABILITY
    0x03,        # bDevCapabilityType: SuperSpeed USB
    0x00,        # bmAttributes
    0x0E, 0x00,  # wSpeedsSupported: full, high, super
    0x01,        # bFunctionalitySupport: full speed
    0x0A,        # bU1DevExitLat: 10 us
    0xFF, 0x07,  # wU2DevExitLat: 2047 us
])


def test_bos_golden() -> None:
    bos, notices = parse_bos(BOS + b"\xEE\xEE")  # bytes past wTotalLength are not read
    assert bos == BosDescriptor((usb20_extension(), superspeed_capability()))
    assert notices == () and bos.to_bytes() == BOS


def test_bos_round_trip_with_container_id() -> None:
    declared = BosDescriptor((usb20_extension(), container_id(uuid.UUID(int=0x1234))))
    assert parse_bos(declared.to_bytes()) == (declared, ())


@pytest.mark.parametrize("data", [
    b"", BOS[:4], bytes([4, 0x0F, 5, 0, 0]), bytes([5, 0x02, 5, 0, 0]),
])
def test_bos_header_rejected(data: bytes) -> None:
    with pytest.raises(DescriptorError, match=r"^unable to get BOS descriptor or descriptor "
                                              r"too short$"):
        parse_bos(data)


def test_bos_rejected_when_total_below_length_or_data_short() -> None:
    with pytest.raises(DescriptorError, match="wTotalLength 4 is less than its bLength 5"):
        parse_bos(bytes([5, 0x0F, 4, 0, 0]))
    with pytest.raises(DescriptorError, match=r"^unable to get BOS descriptor set$"):
        parse_bos(BOS[:-1])


def test_bos_capability_past_the_end_stops_the_walk() -> None:
    data = bytearray(BOS)
    data[4] = 3  # claims a third capability that is not there
    bos, notices = parse_bos(bytes(data))
    assert bos.capabilities == BosDescriptor((usb20_extension(), superspeed_capability())
                                             ).capabilities
    assert (bos.bNumDeviceCaps, bos.wTotalLength, notices) == (None, None, ())


def test_bos_capability_shorter_than_its_type_stops_the_walk() -> None:
    short_ext = bytes([6, 0x10, 0x02, 0x02, 0, 0])
    data = bytes([5, 0x0F, 21, 0, 2]) + short_ext + BOS[12:]
    bos, notices = parse_bos(data)
    assert bos == BosDescriptor(()) and notices == ()  # Linux stores 0 caps, 5 bytes
    assert bos.to_bytes() == bytes([5, 0x0F, 5, 0, 0])


def test_bos_capability_with_wrong_type_is_stepped_over() -> None:
    data = bytearray(BOS)
    data[6] = 0x24
    bos, notices = parse_bos(bytes(data))
    assert notices == (Notice("notice", "descriptor type invalid, skip"),)
    assert bos.capabilities == (superspeed_capability(),)
    assert (bos.bNumDeviceCaps, bos.wTotalLength) == (2, 22)


def test_bos_unknown_capability_is_kept() -> None:
    platform = DeviceCapability(0x05, bytes(range(17)))
    bos, _ = parse_bos(BosDescriptor((platform,)).to_bytes())
    assert bos.capability(0x05) == platform


# -- device descriptor and the sysfs descriptors file --------------------------------------------


def test_notice_prints_as_its_message() -> None:
    assert str(Notice("notice", "config 1 has no interfaces?")) == "config 1 has no interfaces?"


def test_parse_device() -> None:
    device = parse_device(KEYBOARD_DEVICE)
    assert (device.bMaxPacketSize0, device.bNumConfigurations, device.bLength) == (64, 1, None)
    assert parse_device(bytes([17]) + KEYBOARD_DEVICE[1:]).bLength == 17  # not checked
    with pytest.raises(DescriptorError, match="device descriptor needs 18 bytes, got 17"):
        parse_device(KEYBOARD_DEVICE[:17])
    with pytest.raises(DescriptorError, match="bDescriptorType 0x02, expected 0x01"):
        parse_device(bytes([18, 2]) + KEYBOARD_DEVICE[2:])


def test_descriptors_file_with_two_configurations() -> None:
    tree = DeviceDescriptor(0x1234, 0x5678, configurations=(
        ConfigDescriptor((InterfaceDescriptor(8, 6, 0x50, (
            EndpointDescriptor.bulk(0x81, 512), EndpointDescriptor.bulk(0x02, 512))),)),
        ConfigDescriptor((InterfaceDescriptor(0xFF, endpoints=(
            EndpointDescriptor.interrupt(0x83, 16, 4),)),), bMaxPower=250),
    ))
    built = build_descriptors(tree)
    device, configs = parse_descriptors_file(built.descriptors_file())
    assert device.configurations == built.device.configurations
    assert tuple(c.raw for c in configs) == built.config_bytes
    assert device.header() == built.device_bytes


def test_descriptors_file_of_a_device_overstating_wtotallength() -> None:
    """The device sends 3 junk bytes after its descriptors; Linux walks 34 of 37 bytes and
    the sysfs file holds those 34, under a header that still says 37."""
    sent = cfg(KEYBOARD_CONFIG[9:], b"\x09\x24\x00", value=1)
    linux = parse_configuration(sent)
    assert said(linux) == ["config 1 has an invalid descriptor of length 9, skipping "
                           "remainder of the config"]
    _, (parsed,) = parse_descriptors_file(KEYBOARD_DEVICE + sent[:34])
    assert parsed.config == linux.config and parsed.config.wTotalLength == 34
    assert said(parsed) == ["config index 0 descriptor too short (expected 37, got 34)"]


@pytest.mark.parametrize(("data", "message"), [
    (KEYBOARD_DEVICE[:10], "descriptors file: device descriptor needs 18 bytes, got 10"),
    (KEYBOARD_DEVICE + KEYBOARD_CONFIG[:5], "descriptors file: configuration 0 at offset 18 "
     "is truncated: 5 bytes left, its header needs 9"),
    (KEYBOARD_DEVICE + intf(), "descriptors file: configuration 0 at offset 18 has an invalid "
     "header: type = 0x4, length = 9, wTotalLength = 0"),
    (KEYBOARD_CAPTURE + bytes([12]) + KEYBOARD_CONFIG[1:9] + b"\x0c\x02", "descriptors file: "
     "configuration 1 at offset 52 has an invalid header: type = 0x2, length = 12, "
     "wTotalLength = 34"),
    (KEYBOARD_CAPTURE + b"\x01", "descriptors file: configuration 1 at offset 52 is "
     "truncated: 1 byte left, its header needs 9"),
])
def test_descriptors_file_errors_name_the_part(data: bytes, message: str) -> None:
    with pytest.raises(DescriptorError) as info:
        parse_descriptors_file(data)
    assert str(info.value) == message


# -- hypothesis: valid trees round-trip exactly ----------------------------------------------------

SPEEDS = [Speed.LOW, Speed.FULL, Speed.HIGH, Speed.SUPER, Speed.SUPER_PLUS]
CLASS_TYPES = [0x09, 0x21, 0x22, 0x24, 0x25, 0x41, 0xFF]

class_descriptors = st.lists(
    st.tuples(st.sampled_from(CLASS_TYPES), st.binary(max_size=8)), max_size=2,
).map(lambda items: b"".join(bytes([2 + len(p), t]) + p for t, p in items))


def _valid_maxpacket(speed: Speed, kind: int) -> st.SearchStrategy[int]:
    if speed == Speed.LOW:
        return st.integers(1, 8)
    if speed == Speed.FULL:
        limits = {BULK: st.sampled_from([8, 16, 32, 64]), INT: st.integers(1, 64)}
        return limits.get(kind, st.integers(1, 1023))
    if kind == BULK:
        return st.just(512 if speed == Speed.HIGH else 1024)
    if speed == Speed.HIGH:
        return st.builds(lambda size, mult: size | mult << 11, st.integers(1, 1024),
                         st.integers(0, 2))
    return st.integers(1, 1024)


def _valid_interval(speed: Speed, kind: int) -> st.SearchStrategy[int]:
    if kind == BULK:
        return st.integers(0, 255)
    if kind == INT and speed in (Speed.LOW, Speed.FULL):
        return st.integers(1, 255)
    return st.integers(1, 16)


@st.composite
def _valid_companion(draw: st.DrawFn, kind: int, maxp: int) -> SsEndpointCompanion:
    burst = draw(st.integers(0, 15))
    if kind == BULK:
        return SsEndpointCompanion(burst, draw(st.integers(0, 16)), draw(st.integers(0, 65535)))
    attrs = draw(st.integers(0, 2)) if kind == ISOC else 0
    limit = min(65535, (burst + 1) * (attrs + 1) * (maxp & 0x7FF))
    return SsEndpointCompanion(burst, attrs, draw(st.integers(0, limit)))


@st.composite
def _valid_endpoint(draw: st.DrawFn, speed: Speed, address: int) -> EndpointDescriptor:
    kind = INT if speed == Speed.LOW else draw(st.sampled_from([BULK, INT, ISOC]))
    maxp = draw(_valid_maxpacket(speed, kind))
    attrs = kind | (draw(st.integers(0, 15)) << 2 if kind == ISOC else 0)
    audio = kind == ISOC and draw(st.booleans())
    refresh, synch = (draw(st.integers(0, 255)), draw(st.integers(0, 255))) if audio else (
        None, None)
    companion = draw(_valid_companion(kind, maxp)) if speed.is_superspeed else None
    return EndpointDescriptor(address, attrs, maxp, draw(_valid_interval(speed, kind)), refresh,
                              synch, companion, draw(class_descriptors))


@st.composite
def _valid_interface(draw: st.DrawFn, speed: Speed, number: int,
                     pool: list[int]) -> list[InterfaceDescriptor]:
    alts = []
    for setting in range(draw(st.integers(1, 3))):
        used = pool[:draw(st.integers(0, len(pool)))]
        endpoints = tuple(draw(_valid_endpoint(speed, a)) for a in used)
        iad_ = None
        if setting == 0 and draw(st.booleans()):
            iad_ = InterfaceAssociation(draw(st.integers(1, 4)), draw(st.integers(0, 255)),
                                        iFunction=draw(st.integers(0, 255)))
        alts.append(InterfaceDescriptor(
            draw(st.integers(0, 255)), draw(st.integers(0, 255)), draw(st.integers(0, 255)),
            endpoints, number, setting, draw(st.integers(0, 255)), draw(class_descriptors),
            iad_))
    return alts


ADDRESSES = [n | d for n in range(1, 16) for d in (0, 0x80)]


@st.composite
def valid_trees(draw: st.DrawFn) -> tuple[Speed, DeviceDescriptor]:
    speed = draw(st.sampled_from(SPEEDS))
    addresses = draw(st.permutations(ADDRESSES))
    alts: list[InterfaceDescriptor] = []
    for number in range(draw(st.integers(0, 4))):
        pool = addresses[3 * number:3 * number + 3]
        alts += draw(_valid_interface(speed, number, pool))
    config = ConfigDescriptor(tuple(alts), draw(st.integers(0, 255)), draw(st.integers(0, 255)),
                              0x80 | draw(st.integers(0, 0x7F)), draw(st.integers(0, 255)),
                              draw(class_descriptors))
    return speed, DeviceDescriptor(0x1234, 0x5678, configurations=(config,))


@ROUND_TRIP
@given(valid_trees())
def test_valid_trees_round_trip_exactly(case: tuple[Speed, DeviceDescriptor]) -> None:
    speed, tree = case
    built = build_descriptors(tree)
    raw = built.config_bytes[0]
    parsed = parse_configuration(raw, 0, speed)
    assert parsed.raw == raw
    assert parsed.config == built.device.configurations[0]
    assert parsed.config.to_bytes() == raw
    value = parsed.config.bConfigurationValue
    expected = [] if tree.configurations[0].interfaces else [
        f"config {value} has no interfaces?"]
    assert said(parsed) == expected


@ROUND_TRIP
@given(valid_trees())
def test_valid_descriptors_files_round_trip(case: tuple[Speed, DeviceDescriptor]) -> None:
    speed, tree = case
    built = build_descriptors(tree)
    device, configs = parse_descriptors_file(built.descriptors_file(), speed)
    assert device.configurations == built.device.configurations
    assert device.header() == built.device_bytes
    assert b"".join(c.raw for c in configs) == b"".join(built.config_bytes)


# -- hypothesis: hostile bytes ---------------------------------------------------------------------


def _fatal(data: bytes) -> bool:
    """Whether Linux gives up on these bytes (mirrors the two checks, independently)."""
    if len(data) < 4:
        return True
    read = data[:max(int.from_bytes(data[2:4], "little"), 9)]
    return read[1] != 2 or not 9 <= read[0] <= len(read)


def _check_linux_guarantees(parsed: ParsedConfig, speed: Speed, quirks: int) -> None:
    """What every driver may rely on after usb_parse_configuration()."""
    config = parsed.config
    assert config.wTotalLength is not None and config.wTotalLength <= len(parsed.raw)
    numbers = [alt.bInterfaceNumber for alt in config.interfaces]
    assert len(set(numbers)) == config.bNumInterfaces and len(set(numbers)) <= 32
    assert max(Counter(numbers).values(), default=0) <= 128
    settings_ = [(alt.bInterfaceNumber, alt.bAlternateSetting) for alt in config.interfaces]
    assert len(set(settings_)) == len(settings_)
    assert sum(alt.association is not None for alt in config.interfaces) <= 16
    for alt in config.interfaces:
        assert alt.bNumEndpoints == len(alt.endpoints) <= 30
        for endpoint in alt.endpoints:
            _check_endpoint(endpoint, speed, quirks)
    _check_no_duplicates(config)
    config.to_bytes()  # always encodable


def _check_endpoint(endpoint: EndpointDescriptor, speed: Speed, quirks: int) -> None:
    assert endpoint.number != 0 and endpoint.bEndpointAddress & 0x70 == 0
    kind, value = endpoint.type, endpoint.wMaxPacketSize
    if speed == Speed.HIGH and kind in (INT, ISOC):
        value &= ~0x1800
    assert value <= LIMITS.get(speed, LIMITS[Speed.HIGH])[kind]
    assert not (speed == Speed.LOW and kind == BULK)
    if kind == ISOC or (kind == INT and speed in (Speed.HIGH, Speed.SUPER, Speed.SUPER_PLUS)):
        assert 1 <= endpoint.bInterval <= 16
    elif kind == INT:
        assert endpoint.bInterval >= 1
    comp_ = endpoint.companion
    assert (comp_ is None) or speed.is_superspeed
    if comp_ is not None:
        assert comp_.bMaxBurst <= 15 and (kind != CONTROL or comp_.bMaxBurst == 0)


def _check_no_duplicates(config: ConfigDescriptor) -> None:
    located = [(alt.bInterfaceNumber, alt.bAlternateSetting, e)
               for alt in config.interfaces for e in alt.endpoints]
    for (n1, s1, e1), (n2, s2, e2) in combinations(located, 2):
        if n1 == n2 and s1 != s2:
            continue
        control = CONTROL in (e1.type, e2.type)
        assert e1.bEndpointAddress != e2.bEndpointAddress
        assert not (control and e1.number == e2.number)


def _parse_hostile(data: bytes, speed: Speed, quirks: int) -> None:
    try:
        parsed = parse_configuration(data, 0, speed, quirks=quirks,
                                     endpoint_ignored=lambda alt, addr: addr == 0x85)
    except DescriptorError:
        assert _fatal(data)
        return
    assert not _fatal(data)
    assert all(n.level in ("notice", "debug") for n in parsed.notices)
    _check_linux_guarantees(parsed, speed, quirks)


speeds = st.sampled_from(list(Speed))
quirk_words = st.sampled_from([0, *ConfigQuirk, sum(ConfigQuirk)])


@FUZZ
@given(st.binary(max_size=400), speeds, quirk_words)
def test_random_bytes(data: bytes, speed: Speed, quirks: int) -> None:
    _parse_hostile(data, speed, quirks)


INTERESTING_TYPES = [1, 2, 4, 5, 0x0B, 0x21, 0x24, 0x30, 0x31]
FIELD_CHOICES = {  # first two fields after the header: interface number/altsetting,
    4: (st.integers(0, 3), st.integers(0, 2)),  # endpoint address/attributes
    5: (st.sampled_from([0x81, 0x01, 0x82, 0x80, 0x91, 0x02]), st.integers(0, 3)),
}


@st.composite
def descriptor_soup(draw: st.DrawFn) -> bytes:
    """A plausible header followed by descriptors of interesting types, lengths and fields."""
    parts = []
    for _ in range(draw(st.integers(0, 24))):
        dtype = draw(st.sampled_from(INTERESTING_TYPES))
        length = draw(st.sampled_from([0, 1, 2, 6, 7, 8, 9, 10]) | st.integers(0, 20))
        body = draw(st.binary(min_size=max(0, length - 2), max_size=max(0, length - 2)))
        if dtype in FIELD_CHOICES and len(body) >= 2 and draw(st.booleans()):
            first, second = FIELD_CHOICES[dtype]  # small numbers make clashes likely
            body = bytes([draw(first), draw(second)]) + body[2:]
        parts.append(bytes([length, dtype]) + body)
    payload = b"".join(parts) + draw(st.binary(max_size=3))
    total = draw(st.sampled_from([9 + len(payload)]) | st.integers(0, 600))
    head = struct.pack("<BBHBBBBB", draw(st.sampled_from([9, 9, 9, 10, 8])), 2, total,
                       draw(st.integers(0, 40)), 1, 0, 0x80, 50)
    return head + payload


@FUZZ
@given(descriptor_soup(), speeds, quirk_words)
def test_descriptor_soup(data: bytes, speed: Speed, quirks: int) -> None:
    _parse_hostile(data, speed, quirks)


@st.composite
def mutated_configs(draw: st.DrawFn) -> tuple[Speed, bytes]:
    speed, tree = draw(valid_trees())
    data = bytearray(build_descriptors(tree).config_bytes[0])
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["set", "set", "truncate", "extend", "cut"]))
        index = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "set" and data:
            data[index] = draw(st.integers(0, 255))
        elif action == "truncate":
            del data[index:]
        elif action == "extend":
            data += draw(st.binary(min_size=1, max_size=16))
        elif action == "cut":
            del data[index:index + draw(st.integers(1, 9))]
    return speed, bytes(data)


@FUZZ
@given(mutated_configs(), quirk_words)
def test_mutated_valid_configurations(case: tuple[Speed, bytes], quirks: int) -> None:
    speed, data = case
    _parse_hostile(data, speed, quirks)


@FUZZ
@given(st.one_of(st.binary(max_size=80),
                 st.binary(max_size=80).map(lambda b: BOS[:5] + b),
                 st.builds(lambda i, v: BOS[:i] + bytes([v]) + BOS[i + 1:],
                           st.integers(0, len(BOS) - 1), st.integers(0, 255))))
def test_random_bos(data: bytes) -> None:
    try:
        bos, notices = parse_bos(data)
    except DescriptorError:
        return
    assert all(n == Notice("notice", "descriptor type invalid, skip") for n in notices)
    assert len(bos.capabilities) <= data[4]
    bos.to_bytes()


@FUZZ
@given(st.one_of(st.binary(max_size=120),
                 st.binary(max_size=60).map(lambda b: KEYBOARD_CAPTURE + b),
                 st.builds(lambda i, v: KEYBOARD_CAPTURE[:i] + bytes([v])
                           + KEYBOARD_CAPTURE[i + 1:],
                           st.integers(0, len(KEYBOARD_CAPTURE) - 1), st.integers(0, 255))))
def test_random_descriptors_files(data: bytes) -> None:
    try:
        device, configs = parse_descriptors_file(data)
    except DescriptorError:
        return
    assert len(device.configurations) == len(configs)
    assert sum(len(c.raw) for c in configs) == len(data) - 18


def test_a_configuration_many_devices_share_is_parsed_once() -> None:
    """The same bytes at the same index, speed and quirks give back the same (immutable)
    result; other bytes, another speed, or an endpoint filter parse afresh."""
    first = parse_configuration(KEYBOARD_CONFIG, 0, Speed.FULL)
    assert parse_configuration(bytearray(KEYBOARD_CONFIG), 0, Speed.FULL) is first
    assert parse_configuration(KEYBOARD_CONFIG, 0, Speed.HIGH) is not first
    assert parse_configuration(KEYBOARD_CONFIG, 1, Speed.FULL) is not first
    unfiltered = parse_configuration(KEYBOARD_CONFIG, 0, Speed.FULL,
                                     endpoint_ignored=lambda address: False)
    assert unfiltered is not first and unfiltered == first
