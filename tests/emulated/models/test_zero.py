"""GadgetZero (0525:a4a0) driven with raw setup packets and bulk, interrupt and isochronous
transfers, as usbtest would drive g_zero."""

from __future__ import annotations

import pytest

from usbemu.emulated.device import DeviceModel
from usbemu.emulated.endpoint import Endpoint, Outcome
from usbemu.emulated.models import load_model
from usbemu.emulated.models.zero import GadgetZero, pattern_bytes
from usbemu.spec.ch9 import EndpointType, SetupPacket, Speed
from usbemu.spec.descriptors import string_descriptor
from usbemu.testing import RecordingHost, control_in, enumerate_model, get_descriptor, pull, push

GOLDEN_DEVICE = bytes((
    0x12,        # bLength
    0x01,        # bDescriptorType (DEVICE)
    0x00, 0x02,  # bcdUSB 2.00
    0xFF,        # bDeviceClass (vendor specific)
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x40,        # bMaxPacketSize0 64
    0x25, 0x05,  # idVendor 0x0525 (NetChip)
    0xA0, 0xA4,  # idProduct 0xa4a0 (Linux-USB "Gadget Zero")
    0x12, 0x06,  # bcdDevice 6.12 (kernel version, get_default_bcdDevice)
    0x01,        # iManufacturer
    0x02,        # iProduct
    0x03,        # iSerialNumber
    0x02,        # bNumConfigurations
))

GOLDEN_QUALIFIER = bytes((
    0x0A,        # bLength
    0x06,        # bDescriptorType (DEVICE_QUALIFIER)
    0x00, 0x02,  # bcdUSB 2.00
    0xFF,        # bDeviceClass
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x40,        # bMaxPacketSize0 64
    0x02,        # bNumConfigurations
    0x00,        # bReserved
))


def ep_desc(address: int, attributes: int, maxpacket: int, interval: int) -> bytes:
    return bytes((
        0x07,                                  # bLength
        0x05,                                  # bDescriptorType (ENDPOINT)
        address,                               # bEndpointAddress
        attributes,                            # bmAttributes (1 iso, 2 bulk, 3 interrupt)
        maxpacket & 0xFF, maxpacket >> 8,      # wMaxPacketSize
        interval,                              # bInterval
    ))


def intf_desc(alt: int, endpoints: int, string: int) -> bytes:
    return bytes((
        0x09,        # bLength
        0x04,        # bDescriptorType (INTERFACE)
        0x00,        # bInterfaceNumber
        alt,         # bAlternateSetting
        endpoints,   # bNumEndpoints
        0xFF,        # bInterfaceClass (vendor specific)
        0x00,        # bInterfaceSubClass
        0x00,        # bInterfaceProtocol
        string,      # iInterface
    ))


# High speed, f_sourcesink's hs_source_sink_descs: IN listed before OUT.
GOLDEN_HS_SOURCESINK = bytes((
    0x09,        # bLength
    0x02,        # bDescriptorType (CONFIGURATION)
    0x45, 0x00,  # wTotalLength 69
    0x01,        # bNumInterfaces
    0x03,        # bConfigurationValue 3
    0x04,        # iConfiguration "source and sink data"
    0xC0,        # bmAttributes (self powered)
    0x01,        # bMaxPower 2 mA (CONFIG_USB_GADGET_VBUS_DRAW)
)) + (
    intf_desc(0, 2, 0)
    + ep_desc(0x81, 0x02, 512, 0)        # bulk IN, source
    + ep_desc(0x02, 0x02, 512, 0)        # bulk OUT, sink
    + intf_desc(1, 4, 0)
    + ep_desc(0x81, 0x02, 512, 0)
    + ep_desc(0x02, 0x02, 512, 0)
    + ep_desc(0x83, 0x01, 1024, 4)       # iso IN, 1024 bytes, every 8 microframes
    + ep_desc(0x04, 0x01, 1024, 4)       # iso OUT
)

GOLDEN_HS_LOOPBACK = bytes((
    0x09,        # bLength
    0x02,        # bDescriptorType (CONFIGURATION)
    0x53, 0x00,  # wTotalLength 83
    0x01,        # bNumInterfaces
    0x02,        # bConfigurationValue 2
    0x05,        # iConfiguration "loop input to output"
    0xC0,        # bmAttributes (self powered)
    0x01,        # bMaxPower 2 mA
)) + (
    intf_desc(0, 2, 6)                   # iInterface 6, from loopback_bind()
    + ep_desc(0x81, 0x02, 512, 0)
    + ep_desc(0x02, 0x02, 512, 0)
    + intf_desc(1, 6, 6)                 # this model's addition
    + ep_desc(0x81, 0x02, 512, 0)
    + ep_desc(0x02, 0x02, 512, 0)
    + ep_desc(0x83, 0x01, 1024, 4)
    + ep_desc(0x04, 0x01, 1024, 4)
    + ep_desc(0x85, 0x03, 1024, 4)       # interrupt IN, 1 ms
    + ep_desc(0x06, 0x03, 1024, 4)       # interrupt OUT, 1 ms
)

# Full speed, fs_source_sink_descs: OUT (sink) listed before IN (source).
GOLDEN_FS_SOURCESINK = bytes((
    0x09,        # bLength
    0x02,        # bDescriptorType (CONFIGURATION)
    0x45, 0x00,  # wTotalLength 69
    0x01,        # bNumInterfaces
    0x03,        # bConfigurationValue 3
    0x04,        # iConfiguration
    0xC0,        # bmAttributes
    0x01,        # bMaxPower
)) + (
    intf_desc(0, 2, 0)
    + ep_desc(0x02, 0x02, 64, 0)
    + ep_desc(0x81, 0x02, 64, 0)
    + intf_desc(1, 4, 0)
    + ep_desc(0x02, 0x02, 64, 0)
    + ep_desc(0x81, 0x02, 64, 0)
    + ep_desc(0x04, 0x01, 1023, 4)       # iso OUT, 1023 bytes, every 8 frames
    + ep_desc(0x83, 0x01, 1023, 4)
)

GOLDEN_FS_LOOPBACK = bytes((
    0x09,        # bLength
    0x02,        # bDescriptorType (CONFIGURATION)
    0x53, 0x00,  # wTotalLength 83
    0x01,        # bNumInterfaces
    0x02,        # bConfigurationValue 2
    0x05,        # iConfiguration
    0xC0,        # bmAttributes
    0x01,        # bMaxPower
)) + (
    intf_desc(0, 2, 6)
    + ep_desc(0x02, 0x02, 64, 0)
    + ep_desc(0x81, 0x02, 64, 0)
    + intf_desc(1, 6, 6)
    + ep_desc(0x02, 0x02, 64, 0)
    + ep_desc(0x81, 0x02, 64, 0)
    + ep_desc(0x04, 0x01, 1023, 4)
    + ep_desc(0x83, 0x01, 1023, 4)
    + ep_desc(0x06, 0x03, 64, 1)
    + ep_desc(0x85, 0x03, 64, 1)
)

GOLDEN_STRINGS = {
    0: bytes((0x04, 0x03, 0x09, 0x04)),  # LANGID table: en-US
    1: string_descriptor("Linux 6.12.0 with dummy_udc"),
    2: bytes((0x18, 0x03)) + "Gadget Zero".encode("utf-16-le"),
    3: bytes((0x42, 0x03)) + "0123456789.0123456789.0123456789".encode("utf-16-le"),
    4: string_descriptor("source and sink data"),
    5: string_descriptor("loop input to output"),
    6: string_descriptor("loop input to output"),
}


def other_speed(config: bytes) -> bytes:
    return config[:1] + b"\x07" + config[2:]


def set_interface(model: DeviceModel, alt: int) -> None:
    assert model.control(SetupPacket(0x01, 0x0B, alt, 0)) == (Outcome.DONE, 0)


def ep(model: DeviceModel, address: int) -> Endpoint:
    found = model.endpoint(address)
    assert found is not None
    return found


# -- descriptors --------------------------------------------------------------------------------


def test_registry_name_and_default_speed() -> None:
    assert load_model("zero") is GadgetZero
    assert GadgetZero().speed is Speed.HIGH


def test_golden_high_speed_descriptors() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=None)
    assert get_descriptor(zero, 0x01) == GOLDEN_DEVICE
    assert get_descriptor(zero, 0x02, 0) == GOLDEN_HS_SOURCESINK
    assert get_descriptor(zero, 0x02, 1) == GOLDEN_HS_LOOPBACK
    assert get_descriptor(zero, 0x06) == GOLDEN_QUALIFIER
    assert get_descriptor(zero, 0x07, 0) == other_speed(GOLDEN_FS_SOURCESINK)
    assert get_descriptor(zero, 0x07, 1) == other_speed(GOLDEN_FS_LOOPBACK)
    assert zero.control(SetupPacket(0x80, 0x06, 0x0202, 0, 0xFF))[0] is Outcome.STALL


def test_golden_full_speed_descriptors() -> None:
    zero = GadgetZero(speed=Speed.FULL)
    assert zero.speed is Speed.FULL
    enumerate_model(zero, configuration=None)
    assert get_descriptor(zero, 0x01) == GOLDEN_DEVICE
    assert get_descriptor(zero, 0x02, 0) == GOLDEN_FS_SOURCESINK
    assert get_descriptor(zero, 0x02, 1) == GOLDEN_FS_LOOPBACK
    assert get_descriptor(zero, 0x06) == GOLDEN_QUALIFIER
    assert get_descriptor(zero, 0x07, 0) == other_speed(GOLDEN_HS_SOURCESINK)
    assert zero.control(SetupPacket(0x00, 0x09, 3)) == (Outcome.DONE, 0)
    assert ep(zero, 0x81).maxpacket == 64


def test_loopdefault_lists_loopback_first() -> None:
    zero = GadgetZero(loopdefault=True)
    enumerate_model(zero, configuration=None)
    assert get_descriptor(zero, 0x02, 0) == GOLDEN_HS_LOOPBACK
    assert get_descriptor(zero, 0x02, 1) == GOLDEN_HS_SOURCESINK


def test_golden_strings() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=None)
    for index, golden in GOLDEN_STRINGS.items():
        assert get_descriptor(zero, 0x03, index, 0x0409 if index else 0) == golden


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="pattern"):
        GadgetZero(pattern=3)
    with pytest.raises(ValueError, match="high or full speed"):
        GadgetZero(speed=Speed.LOW)
    with pytest.raises(ValueError, match="qlen"):
        GadgetZero(qlen=0)


# -- source/sink --------------------------------------------------------------------------------


def test_source_sends_zeros_by_default() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=3)
    assert pull(zero.endpoint(0x81), 1024) == (Outcome.DONE, bytes(1024))
    assert pull(zero.endpoint(0x81), 8192) == (Outcome.DONE, bytes(8192))


def test_source_sends_mod63_pattern() -> None:
    zero = GadgetZero(pattern=1)
    enumerate_model(zero, configuration=3)
    expected = bytes((i % 512) % 63 for i in range(4096))
    assert pull(zero.endpoint(0x81), 4096) == (Outcome.DONE, expected)
    # usbtest reads in pieces that stay packet-aligned: the pattern stays in sync.
    assert pull(zero.endpoint(0x81), 1024) == (Outcome.DONE, expected[:1024])
    assert pull(zero.endpoint(0x81), 512) == (Outcome.DONE, expected[1024:1536])
    assert pattern_bytes(1, 64, 130) == bytes((i % 64) % 63 for i in range(130))


def test_sink_accepts_pattern_data() -> None:
    zero = GadgetZero(pattern=1)
    enumerate_model(zero, configuration=3)
    good = pattern_bytes(1, 512, 200_000)  # longer than the check span
    assert push(zero.endpoint(0x02), good) == (Outcome.DONE, 200_000)
    assert push(zero.endpoint(0x02), good[:100]) == (Outcome.DONE, 100)
    assert not ep(zero, 0x02).halted


@pytest.mark.parametrize("pattern", [0, 1])
def test_sink_mismatch_halts_the_out_endpoint(pattern: int) -> None:
    zero = GadgetZero(pattern=pattern)
    enumerate_model(zero, configuration=3)
    bad = bytearray(pattern_bytes(pattern, 512, 70_000))
    bad[66_000] ^= 0xFF
    # The transfer itself completes (check_read_data runs on completion) ...
    assert push(zero.endpoint(0x02), bytes(bad)) == (Outcome.DONE, 70_000)
    # ... then the OUT endpoint is halted: the next transfer stalls, GET_STATUS says so.
    assert push(zero.endpoint(0x02), pattern_bytes(pattern, 512, 512)) == (Outcome.STALL, 0)
    assert control_in(zero, SetupPacket(0x82, 0x00, 0, 0x02, 2)) == b"\x01\x00"
    assert zero.control(SetupPacket(0x02, 0x01, 0, 0x02)) == (Outcome.DONE, 0)
    assert push(zero.endpoint(0x02), pattern_bytes(pattern, 512, 512)) == (Outcome.DONE, 512)


def test_pattern_none_checks_nothing() -> None:
    zero = GadgetZero(pattern=2)
    enumerate_model(zero, configuration=3)
    assert push(zero.endpoint(0x02), b"\x01\x02\x03") == (Outcome.DONE, 3)
    assert not ep(zero, 0x02).halted


def test_isochronous_source_and_sink_in_altsetting_1() -> None:
    zero = GadgetZero(pattern=1)
    enumerate_model(zero, configuration=3)
    assert zero.endpoint(0x83) is None
    set_interface(zero, 1)
    assert control_in(zero, SetupPacket(0x81, 0x0A, 0, 0, 1)) == b"\x01"
    iso_in = ep(zero, 0x83)
    assert iso_in.type is EndpointType.ISOC
    assert iso_in.iso_in(1024) == pattern_bytes(1, 1024, 1024)
    assert iso_in.iso_in(100) == pattern_bytes(1, 1024, 100)
    ep(zero, 0x04).iso_out(memoryview(b"\xff" * 1024))  # discarded, never halts
    assert not ep(zero, 0x04).halted
    assert pull(zero.endpoint(0x81), 512) == (Outcome.DONE, pattern_bytes(1, 512, 512))


def test_vendor_control_write_then_read() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=3)
    data = bytes(range(256)) * 4
    assert zero.control(SetupPacket(0x40, 0x5B, 0, 0, len(data)), data) == (
        Outcome.DONE, len(data))
    assert control_in(zero, SetupPacket(0xC0, 0x5C, 0, 0, len(data))) == data
    assert control_in(zero, SetupPacket(0xC0, 0x5C, 0, 0, 10)) == data[:10]
    big = bytes(4096)
    assert zero.control(SetupPacket(0x40, 0x5B, 0, 0, 4096), big) == (Outcome.DONE, 4096)


@pytest.mark.parametrize("setup", [
    SetupPacket(0x40, 0x5B, 1, 0, 4),     # wValue must be 0
    SetupPacket(0x40, 0x5B, 0, 1, 4),     # wIndex must be 0
    SetupPacket(0x40, 0x5B, 0, 0, 4097),  # longer than USB_COMP_EP0_BUFSIZ
    SetupPacket(0x41, 0x5B, 0, 0, 4),     # recipient interface: "goto unknown"
    SetupPacket(0xC0, 0x5C, 0, 0, 4097),
])
def test_vendor_control_errors_stall(setup: SetupPacket) -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=3)
    data = bytes(setup.wLength) if not setup.is_in else b""
    assert zero.control(setup, data)[0] is Outcome.STALL


def test_vendor_control_only_in_source_sink_configuration() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=None)
    assert zero.control(SetupPacket(0x40, 0x5B, 0, 0, 4), b"abcd")[0] is Outcome.STALL
    assert zero.control(SetupPacket(0x00, 0x09, 2)) == (Outcome.DONE, 0)
    assert zero.control(SetupPacket(0xC0, 0x5C, 0, 0, 4))[0] is Outcome.STALL


# -- loopback -------------------------------------------------------------------------------------


def test_bulk_loopback_returns_transfers_in_order() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=2)
    assert pull(zero.endpoint(0x81), 512) == (Outcome.NAK, b"")
    assert push(zero.endpoint(0x02), b"first") == (Outcome.DONE, 5)
    assert push(zero.endpoint(0x02), b"second") == (Outcome.DONE, 6)
    assert zero.loop_queued() == 2
    assert pull(zero.endpoint(0x81), 4096) == (Outcome.DONE, b"first")
    assert pull(zero.endpoint(0x81), 4096) == (Outcome.DONE, b"second")
    assert pull(zero.endpoint(0x81), 4096) == (Outcome.NAK, b"")


def test_bulk_loopback_packet_multiple_ends_with_zlp() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=2)
    data = pattern_bytes(1, 512, 1024)
    push(zero.endpoint(0x02), data)
    # in_req->zero: 1024 bytes did not fill the 4096-byte buffer, so a ZLP follows.
    assert pull(zero.endpoint(0x81), 4096) == (Outcome.DONE, data)
    # A full buffer (4096 bytes) is sent without a ZLP; the next transfer continues it.
    push(zero.endpoint(0x02), bytes(4096))
    push(zero.endpoint(0x02), b"tail")
    assert pull(zero.endpoint(0x81), 8192) == (Outcome.DONE, bytes(4096) + b"tail")


def test_zlp_is_read_separately_when_the_host_buffer_was_exact() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=2)
    push(zero.endpoint(0x02), bytes(512))
    assert pull(zero.endpoint(0x81), 512) == (Outcome.DONE, bytes(512))
    assert pull(zero.endpoint(0x81), 512) == (Outcome.DONE, b"")  # the ZLP
    push(zero.endpoint(0x02), b"")
    assert pull(zero.endpoint(0x81), 512) == (Outcome.DONE, b"")  # a looped ZLP


def test_bulk_loopback_naks_out_when_qlen_buffers_are_full() -> None:
    host = RecordingHost()
    zero = GadgetZero(qlen=4)
    enumerate_model(zero, configuration=2, host=host)
    for n in range(4):
        assert push(zero.endpoint(0x02), bytes((n,))) == (Outcome.DONE, 1)
    assert push(zero.endpoint(0x02), b"\x04") == (Outcome.NAK, 0)
    assert pull(zero.endpoint(0x81), 512) == (Outcome.DONE, b"\x00")
    assert host.ready == [0x02]  # the NAKed OUT may retry
    assert push(zero.endpoint(0x02), b"\x04") == (Outcome.DONE, 1)
    assert [pull(zero.endpoint(0x81), 512)[1] for _ in range(4)] == [
        b"\x01", b"\x02", b"\x03", b"\x04"]
    assert host.wakeups == []  # gadget zero has no autoresume here


def test_transfer_longer_than_buflen_takes_several_buffers() -> None:
    zero = GadgetZero(qlen=3, buflen=4096)
    enumerate_model(zero, configuration=2)
    assert push(zero.endpoint(0x02), bytes(8193)) == (Outcome.DONE, 8193)  # three buffers
    assert push(zero.endpoint(0x02), b"x") == (Outcome.NAK, 0)
    assert pull(zero.endpoint(0x81), 16384) == (Outcome.DONE, bytes(8193))
    assert push(zero.endpoint(0x02), b"x") == (Outcome.DONE, 1)


def test_waiting_reader_is_woken_by_looped_data() -> None:
    host = RecordingHost()
    zero = GadgetZero()
    enumerate_model(zero, configuration=2, host=host)
    assert pull(zero.endpoint(0x81), 512)[0] is Outcome.NAK
    push(zero.endpoint(0x02), b"wake")
    assert host.ready == [0x81]
    assert host.wakeups == []


def test_interrupt_and_isochronous_loopback_in_altsetting_1() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=2)
    assert zero.endpoint(0x85) is None
    set_interface(zero, 1)
    # interrupt
    assert pull(zero.endpoint(0x85), 1024) == (Outcome.NAK, b"")
    assert push(zero.endpoint(0x06), b"intr") == (Outcome.DONE, 4)
    assert zero.loop_queued(EndpointType.INT) == 1
    assert pull(zero.endpoint(0x85), 1024) == (Outcome.DONE, b"intr")
    # isochronous: one packet per (micro)frame, nothing when empty
    assert ep(zero, 0x83).iso_in(1024) == b""
    ep(zero, 0x04).iso_out(memoryview(b"frame 1"))
    ep(zero, 0x04).iso_out(memoryview(b"frame 2"))
    assert ep(zero, 0x83).iso_in(1024) == b"frame 1"
    assert ep(zero, 0x83).iso_in(1024) == b"frame 2"
    assert ep(zero, 0x83).iso_in(1024) == b""
    # bulk still loops in altsetting 1
    push(zero.endpoint(0x02), b"bulk")
    assert pull(zero.endpoint(0x81), 512) == (Outcome.DONE, b"bulk")


def test_isochronous_loopback_drops_packets_when_full() -> None:
    zero = GadgetZero(qlen=2)
    enumerate_model(zero, configuration=2)
    set_interface(zero, 1)
    for n in range(3):
        ep(zero, 0x04).iso_out(memoryview(bytes((n,)) * 8))
    assert ep(zero, 0x83).iso_in(1024) == bytes(8)
    assert ep(zero, 0x83).iso_in(1024) == b"\x01" * 8
    assert ep(zero, 0x83).iso_in(1024) == b""


def test_set_interface_and_reset_drop_looped_data() -> None:
    zero = GadgetZero()
    enumerate_model(zero, configuration=2)
    push(zero.endpoint(0x02), b"lost")
    set_interface(zero, 0)
    assert zero.loop_queued() == 0
    assert pull(zero.endpoint(0x81), 512) == (Outcome.NAK, b"")
    push(zero.endpoint(0x02), b"lost too")
    zero.bus_reset()
    assert zero.loop_queued() == 0


def test_switching_configuration_rebinds_the_shared_endpoints() -> None:
    zero = GadgetZero(pattern=1)
    enumerate_model(zero, configuration=2)
    push(zero.endpoint(0x02), b"\x07")  # loopback accepts anything
    assert zero.control(SetupPacket(0x00, 0x09, 3)) == (Outcome.DONE, 0)
    assert pull(zero.endpoint(0x81), 512) == (Outcome.DONE, pattern_bytes(1, 512, 512))
    push(zero.endpoint(0x02), b"\x07")  # source/sink checks: byte 0 must be 0
    assert ep(zero, 0x02).halted
    assert zero.control(SetupPacket(0x00, 0x09, 2)) == (Outcome.DONE, 0)
    assert not ep(zero, 0x02).halted
    assert push(zero.endpoint(0x02), b"\x07") == (Outcome.DONE, 1)
    assert pull(zero.endpoint(0x81), 512) == (Outcome.DONE, b"\x07")


def test_the_interrupt_option_adds_a_sourcesink_altsetting() -> None:
    zero = GadgetZero(interrupt=True)
    enumerate_model(zero, configuration=None)
    config = get_descriptor(zero, 0x02, 0)
    assert config[:len(GOLDEN_HS_SOURCESINK)][4:] == GOLDEN_HS_SOURCESINK[4:]  # then alt 2
    assert config[len(GOLDEN_HS_SOURCESINK):] == (
        intf_desc(2, 2, 0) + ep_desc(0x85, 0x03, 1024, 4) + ep_desc(0x06, 0x03, 1024, 4))
    assert int.from_bytes(config[2:4], "little") == len(config)
    assert get_descriptor(zero, 0x02, 1) == GOLDEN_HS_LOOPBACK
