"""Hub class codecs (usbemu.spec.hub) and the hub device model (usbemu.emulated.models.hub).

The model is driven with the raw setup packets Linux's hub driver sends after enumeration
(hub.c: hub_configure, hub_activate, hub_port_reset, hub_event), and its replies are
compared byte for byte.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from usbemu import testing
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.endpoint import Endpoint, Outcome
from usbemu.emulated.models import load_model
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.port import DownstreamPort, PortState
from usbemu.errors import IllegalPortTransition, IllegalStateTransition
from usbemu.spec.ch9 import DeviceState, SetupPacket, Speed, TestSelector
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DescriptorError,
    DeviceDescriptor,
    decode_string,
)
from usbemu.spec.hub import (
    HubCharacteristics,
    HubDescriptor,
    HubStatus,
    OverCurrentProtection,
    PortChange,
    PortFeature,
    PortStat,
    PortStatus,
    PowerSwitching,
    TtThinkTime,
    hub_bitmap_len,
    port_speed,
    speed_status_bits,
    status_change_bitmap,
)

# -- test doubles -------------------------------------------------------------------------------


class RootPort:
    """A root-hub port that is always enabled (the top of every `reachable` walk)."""

    enabled = True
    hub = None


class RecordingHost:
    """A DeviceHost that records what models tell it.  Unlike `usbemu.testing.RecordingHost`
    it notes the model with each ready endpoint: one host serves a whole tree of models."""

    def __init__(self) -> None:
        self.ready: list[tuple[DeviceModel, Endpoint]] = []
        self.wakeups: list[DeviceModel] = []
        self.gone: list[DeviceModel] = []

    def endpoint_ready(self, device: DeviceModel, ep: Endpoint) -> None:
        self.ready.append((device, ep))

    def remote_wakeup(self, device: DeviceModel) -> None:
        self.wakeups.append(device)

    def device_disconnected(self, device: DeviceModel) -> None:
        self.gone.append(device)


class Gadget(DeviceModel):
    """The smallest downstream device: one empty configuration, high speed by default."""

    descriptor = DeviceDescriptor(0x1234, 0x5678, configurations=(
        ConfigDescriptor(bmAttributes=0xA0),))
    speed = Speed.HIGH


# -- helpers: the hub driver's requests ---------------------------------------------------------


def control_in(dev: DeviceModel, rtype: int, req: int, value: int, index: int,
               length: int) -> bytes:
    """`usbemu.testing.control_in`, with the setup fields spelled out as hub.c does."""
    return testing.control_in(dev, SetupPacket(rtype, req, value, index, length))


def control_out(dev: DeviceModel, rtype: int, req: int, value: int, index: int = 0) -> Outcome:
    """`usbemu.testing.control_out` of a no-data request, fields spelled out."""
    return testing.control_out(dev, SetupPacket(rtype, req, value, index, 0))


def port_status(hub: Hub, port1: int) -> bytes:
    """GetPortStatus: a3 00 0000 <port> 0004."""
    return control_in(hub, 0xA3, 0x00, 0x0000, port1, 4)


def set_port_feature(hub: Hub, port1: int, feature: int, selector: int = 0) -> Outcome:
    """SetPortFeature: 23 03 <feature> <selector,port> 0000."""
    return control_out(hub, 0x23, 0x03, feature, selector << 8 | port1)


def clear_port_feature(hub: Hub, port1: int, feature: int) -> Outcome:
    """ClearPortFeature: 23 01 <feature> <port> 0000."""
    return control_out(hub, 0x23, 0x01, feature, port1)


def poll(hub: Hub, room: int = 1) -> tuple[Outcome, bytes]:
    """One interrupt IN transfer on the status-change endpoint."""
    return testing.pull(hub.endpoint(0x81), room)


def address_and_configure(dev: DeviceModel, address: int) -> None:
    assert control_out(dev, 0x00, 0x05, address) is Outcome.DONE  # SET_ADDRESS
    assert control_out(dev, 0x00, 0x09, 1) is Outcome.DONE  # SET_CONFIGURATION(1)


def enumerate_hub(hub: Hub, host: RecordingHost, address: int = 1) -> Hub:
    """Plug into a root port, reset, address, configure, power every port (hub_activate)."""
    hub.connect(RootPort(), host)
    hub.bus_reset()
    address_and_configure(hub, address)
    for port1 in range(1, hub.nports + 1):
        assert set_port_feature(hub, port1, PortFeature.POWER) is Outcome.DONE
    return hub


def reset_port(hub: Hub, port1: int) -> None:
    """hub_port_reset: SetPortFeature(PORT_RESET), GetPortStatus, ClearPortFeature(C_RESET)."""
    assert set_port_feature(hub, port1, PortFeature.RESET) is Outcome.DONE
    assert PortStatus.unpack(port_status(hub, port1)).change & 0x0010
    assert clear_port_feature(hub, port1, PortFeature.C_RESET) is Outcome.DONE


@pytest.fixture
def host() -> RecordingHost:
    return RecordingHost()


@pytest.fixture
def hub(host: RecordingHost) -> Hub:
    return enumerate_hub(Hub(), host)


# == spec: golden descriptor bytes ==============================================================

HS_DEVICE = bytes([
    0x12,        # bLength
    0x01,        # bDescriptorType: DEVICE
    0x00, 0x02,  # bcdUSB 2.00
    0x09,        # bDeviceClass: hub
    0x00,        # bDeviceSubClass
    0x01,        # bDeviceProtocol: high speed, single TT
    0x40,        # bMaxPacketSize0 64
    0xE3, 0x05,  # idVendor 0x05e3 Genesys Logic
    0x08, 0x06,  # idProduct 0x0608 USB-2.0 4-Port HUB
    0x63, 0x77,  # bcdDevice 77.63
    0x00,        # iManufacturer: none
    0x01,        # iProduct: "USB2.0 Hub"
    0x00,        # iSerialNumber: none
    0x01,        # bNumConfigurations
])

HS_CONFIG = bytes([
    0x09,        # bLength
    0x02,        # bDescriptorType: CONFIGURATION
    0x19, 0x00,  # wTotalLength 25
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x00,        # iConfiguration
    0xE0,        # bmAttributes: one, self-powered, remote wakeup
    0x32,        # bMaxPower 100 mA
    0x09,        # bLength
    0x04,        # bDescriptorType: INTERFACE
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x01,        # bNumEndpoints
    0x09,        # bInterfaceClass: hub
    0x00,        # bInterfaceSubClass
    0x00,        # bInterfaceProtocol
    0x00,        # iInterface
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x81,        # bEndpointAddress: IN 1 (status change)
    0x03,        # bmAttributes: interrupt
    0x01, 0x00,  # wMaxPacketSize 1 = ⌈(4 + 1) / 8⌉
    0x0C,        # bInterval 12: 2^11 microframes = 256 ms
])

HS_QUALIFIER = bytes([
    0x0A,        # bLength
    0x06,        # bDescriptorType: DEVICE_QUALIFIER
    0x00, 0x02,  # bcdUSB 2.00
    0x09,        # bDeviceClass: hub
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol: full speed hub
    0x40,        # bMaxPacketSize0 64
    0x01,        # bNumConfigurations
    0x00,        # bReserved
])

HUB_DESCRIPTOR_4 = bytes([
    0x09,        # bDescLength
    0x29,        # bDescriptorType: HUB
    0x04,        # bNbrPorts
    0xE9, 0x00,  # wHubCharacteristics: per-port power, per-port OC, TT 32 bits, indicators
    0x32,        # bPwrOn2PwrGood: 50 × 2 ms
    0x64,        # bHubContrCurrent 100 mA
    0x00,        # DeviceRemovable: all removable
    0xFF,        # PortPwrCtrlMask
])

HUB_DESCRIPTOR_8 = bytes([
    0x0B,        # bDescLength
    0x29,        # bDescriptorType: HUB
    0x08,        # bNbrPorts
    0xE9, 0x00,  # wHubCharacteristics
    0x32,        # bPwrOn2PwrGood
    0x64,        # bHubContrCurrent
    0x00, 0x00,  # DeviceRemovable: bits 0..8
    0xFF, 0xFF,  # PortPwrCtrlMask
])

FS_DEVICE = bytes([
    0x12,        # bLength
    0x01,        # bDescriptorType: DEVICE
    0x10, 0x01,  # bcdUSB 1.10
    0x09,        # bDeviceClass: hub
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol: full speed hub
    0x08,        # bMaxPacketSize0 8
    0x51, 0x04,  # idVendor 0x0451 Texas Instruments
    0x46, 0x20,  # idProduct 0x2046 TUSB2046 hub
    0x00, 0x01,  # bcdDevice 1.00
    0x00,        # iManufacturer
    0x01,        # iProduct: "USB1.1 Hub"
    0x00,        # iSerialNumber
    0x01,        # bNumConfigurations
])

FS_CONFIG_TAIL = bytes([
    0x07,        # bLength
    0x05,        # bDescriptorType: ENDPOINT
    0x81,        # bEndpointAddress: IN 1
    0x03,        # bmAttributes: interrupt
    0x01, 0x00,  # wMaxPacketSize 1
    0xFF,        # bInterval 255 ms
])


def test_high_speed_descriptors_are_golden() -> None:
    hub = Hub()
    assert hub.descriptors.device_bytes == HS_DEVICE
    assert hub.descriptors.config_bytes == (HS_CONFIG,)
    assert hub.descriptors.qualifier_bytes == HS_QUALIFIER
    other = hub.descriptors.other_speed_bytes[0]
    assert other == bytes([0x09, 0x07]) + HS_CONFIG[2:-1] + bytes([0xFF])
    assert hub.hub_descriptor.to_bytes() == HUB_DESCRIPTOR_4
    assert decode_string(hub.descriptors.get(0x03, 1, 0x0409) or b"") == "USB2.0 Hub"


def test_full_speed_hub_descriptors_are_golden() -> None:
    hub = Hub(speed=Speed.FULL)
    assert hub.descriptors.device_bytes == FS_DEVICE
    assert hub.descriptors.config_bytes[0].endswith(FS_CONFIG_TAIL)
    assert hub.descriptors.qualifier_bytes is None
    assert hub.hub_descriptor.characteristics.tt_think_time is TtThinkTime.BITS_8
    assert hub.hub_descriptor.wHubCharacteristics == 0x0089


def test_eight_ports_widen_bitmaps_and_endpoint() -> None:
    hub = Hub(ports=8)
    assert hub.hub_descriptor.to_bytes() == HUB_DESCRIPTOR_8
    ep = hub.descriptors.configurations[0].interfaces[0].endpoints[0]
    assert ep.wMaxPacketSize == 2


@pytest.mark.parametrize("ports", [0, 16, -1])
def test_port_count_is_validated(ports: int) -> None:
    with pytest.raises(ValueError, match=r"1..15 ports"):
        Hub(ports=ports)


def test_port_count_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        Hub(ports=True)


@pytest.mark.parametrize("speed", [Speed.LOW, Speed.SUPER, Speed.UNKNOWN])
def test_hub_speed_is_validated(speed: Speed) -> None:
    with pytest.raises(ValueError, match="high or full speed"):
        Hub(speed=speed)


def test_registry_finds_the_hub() -> None:
    assert load_model("hub") is Hub
    assert Hub.model_name == "hub"


# == spec: codecs ===============================================================================


def test_hub_descriptor_decodes_golden_bytes() -> None:
    desc = HubDescriptor.from_bytes(HUB_DESCRIPTOR_8)
    assert (desc.bNbrPorts, desc.wHubCharacteristics, desc.bPwrOn2PwrGood,
            desc.bHubContrCurrent) == (8, 0x00E9, 50, 100)
    assert desc.DeviceRemovable == b"\0\0"
    assert desc.PortPwrCtrlMask == b"\xff\xff"
    assert desc.to_bytes() == HUB_DESCRIPTOR_8
    assert desc.characteristics == HubCharacteristics(
        PowerSwitching.PER_PORT, OverCurrentProtection.PER_PORT, TtThinkTime.BITS_32,
        port_indicators=True)


def test_hub_descriptor_without_port_power_mask_gets_the_default() -> None:
    desc = HubDescriptor.from_bytes(bytes([8, 0x29, 4, 0, 0, 1, 0, 0x10]))
    assert desc.PortPwrCtrlMask == b"\xff"
    assert not desc.removable(4)
    assert desc.removable(3)
    assert desc.to_bytes() == bytes([8, 0x29, 4, 0, 0, 1, 0, 0x10])


@pytest.mark.parametrize(("data", "message"), [
    (b"", "at least 7 bytes"),
    (bytes([9, 0x29, 4, 0, 0, 0]), "at least 7 bytes"),
    (bytes([9, 0x02, 4, 0, 0, 0, 0, 0, 0xFF]), "bDescriptorType 0x02"),
    (bytes([7, 0x29, 4, 0, 0, 0, 0, 0, 0xFF]), "needs 8 bytes, got 7"),
    (bytes([11, 0x29, 8, 0, 0, 0, 0, 0]), "needs 9 bytes, got 8"),
])
def test_hub_descriptor_rejects_short_or_foreign_data(data: bytes, message: str) -> None:
    with pytest.raises(DescriptorError, match=message):
        HubDescriptor.from_bytes(data)


def test_hub_descriptor_validates_fields() -> None:
    with pytest.raises(ValueError, match="DeviceRemovable of a 8-port hub is 2 bytes"):
        HubDescriptor(8, DeviceRemovable=b"\0")
    with pytest.raises(ValueError, match="wHubCharacteristics"):
        HubDescriptor(4, wHubCharacteristics=0x10000)
    assert HubDescriptor(4, bDescLength=12).to_bytes() == HUB_DESCRIPTOR_4[:0] + bytes(
        [12, 0x29, 4, 0, 0, 0, 0, 0, 0xFF, 0, 0, 0])


@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 255),
       st.data())
def test_hub_descriptor_round_trips(nports: int, chars: int, good: int, current: int,
                                    data: st.DataObject) -> None:
    size = hub_bitmap_len(nports)
    removable = data.draw(st.binary(min_size=size, max_size=size))
    mask = data.draw(st.binary(min_size=size, max_size=size))
    desc = HubDescriptor(nports, chars, good, current, removable, mask)
    raw = desc.to_bytes()
    assert len(raw) == raw[0] == 7 + 2 * size
    again = HubDescriptor.from_bytes(raw)
    assert again.to_bytes() == raw
    assert (again.DeviceRemovable, again.PortPwrCtrlMask) == (removable, mask)


@given(st.binary(max_size=80))
@example(b"\n\x29\0\0\0\0\0\0\0\x01")      # a byte after the bitmaps
@example(b"\x0b\x29\x08\0\0\0\0\0\0\x33")  # half a PortPwrCtrlMask, then nothing
def test_hub_descriptor_parser_never_crashes(data: bytes) -> None:
    try:
        desc = HubDescriptor.from_bytes(data)
    except DescriptorError:
        return
    assert desc.to_bytes() == data[:data[0]].ljust(data[0], b"\0")


@given(st.integers(0, 0xFFFF))
def test_hub_characteristics_decode_then_encode_keeps_defined_bits(value: int) -> None:
    chars = HubCharacteristics.from_int(value)
    again = HubCharacteristics.from_int(int(chars))
    assert again == chars
    assert int(chars) & 0x00E4 == value & 0x00E4


def test_port_status_packs_little_endian() -> None:
    status = PortStatus(0x0503, 0x0010)
    assert status.pack() == bytes([0x03, 0x05, 0x10, 0x00])
    assert PortStatus.unpack(b"\x01\x01\x01\x00") == PortStatus(0x0101, 0x0001)
    assert str(status) == "0010.0503"
    assert status.status == PortStat.CONNECTION | PortStat.ENABLE | PortStat.POWER \
        | PortStat.HIGH_SPEED
    with pytest.raises(ValueError, match="4 bytes, got 3"):
        PortStatus.unpack(b"\0\0\0")
    with pytest.raises(ValueError, match="wPortChange"):
        PortStatus(0, 0x10000)
    assert HubStatus.unpack(bytes(HubStatus(1, 1))) == HubStatus(1, 1)


@pytest.mark.parametrize(("ports", "hub_changed", "nports", "expected"), [
    ([], False, 4, b"\x00"),
    ([], True, 4, b"\x01"),
    ([1, 3], False, 4, b"\x0a"),
    ([7], True, 7, b"\x81"),
    ([8], False, 8, b"\x00\x01"),
    ([15, 1], False, 15, b"\x02\x80"),
])
def test_status_change_bitmap(ports: list[int], hub_changed: bool, nports: int,
                              expected: bytes) -> None:
    assert status_change_bitmap(ports, hub_changed, nports) == expected


@pytest.mark.parametrize("port1", [0, 5])
def test_status_change_bitmap_rejects_bad_ports(port1: int) -> None:
    with pytest.raises(ValueError, match=r"outside 1..4"):
        status_change_bitmap([port1], False, 4)


@pytest.mark.parametrize(("wPortStatus", "speed"), [
    (0x0503, Speed.HIGH), (0x0303, Speed.LOW), (0x0103, Speed.FULL)])
def test_port_speed_reads_like_hub_c(wPortStatus: int, speed: Speed) -> None:
    assert port_speed(wPortStatus) is speed
    assert port_speed(wPortStatus & ~0x0600 | speed_status_bits(speed)) is speed


# == model: the hub driver's sequence ===========================================================


def test_hub_configure_requests(hub: Hub) -> None:
    # hub_configure: GetHubDescriptor asks sizeof(struct usb_hub_descriptor) = 15 bytes.
    assert control_in(hub, 0xA0, 0x06, 0x2900, 0, 15) == HUB_DESCRIPTOR_4
    assert control_in(hub, 0xA0, 0x06, 0x0000, 0, 15) == HUB_DESCRIPTOR_4  # USB 1.0 hosts
    assert control_in(hub, 0xA0, 0x00, 0, 0, 4) == bytes(4)  # GetHubStatus
    assert control_in(hub, 0x80, 0x00, 0, 0, 2) == b"\x01\x00"  # GET_STATUS: self-powered
    assert hub.control(SetupPacket(0xA0, 0x06, 0x0100, 0, 15))[0] is Outcome.STALL


def test_powered_empty_ports_report_power_only(hub: Hub) -> None:
    for port1 in range(1, 5):
        assert port_status(hub, port1) == bytes([0x00, 0x01, 0x00, 0x00])
    assert poll(hub) == (Outcome.NAK, b"")


def test_connect_reset_and_enumerate_downstream(hub: Hub, host: RecordingHost) -> None:
    gadget = Gadget()
    host.ready.clear()
    hub.attach(2, gadget)
    assert host.ready == [(hub, hub.endpoint(0x81))]
    assert gadget.state is DeviceState.POWERED
    assert gadget.host is host
    assert poll(hub) == (Outcome.DONE, b"\x04")  # bit 2: port 2
    assert port_status(hub, 2) == bytes([0x01, 0x01, 0x01, 0x00])  # connected+power, C_CONN
    assert clear_port_feature(hub, 2, PortFeature.C_CONNECTION) is Outcome.DONE
    assert poll(hub) == (Outcome.NAK, b"")
    assert not gadget.reachable

    assert set_port_feature(hub, 2, PortFeature.RESET) is Outcome.DONE
    # connected, enabled, powered, high-speed; C_PORT_RESET
    assert port_status(hub, 2) == bytes([0x03, 0x05, 0x10, 0x00])
    assert (gadget.state, gadget.address, gadget.reachable) == (DeviceState.DEFAULT, 0, True)
    assert poll(hub) == (Outcome.DONE, b"\x04")
    assert clear_port_feature(hub, 2, PortFeature.C_RESET) is Outcome.DONE
    assert port_status(hub, 2) == bytes([0x03, 0x05, 0x00, 0x00])

    address_and_configure(gadget, 3)
    assert (gadget.state, gadget.address) == (DeviceState.CONFIGURED, 3)


@pytest.mark.parametrize(("device_speed", "hub_speed", "connected", "enabled"), [
    (Speed.FULL, Speed.HIGH, 0x0101, 0x0103),
    (Speed.LOW, Speed.HIGH, 0x0301, 0x0303),
    (Speed.HIGH, Speed.FULL, 0x0101, 0x0103),  # capped to the hub's speed
    (Speed.LOW, Speed.FULL, 0x0301, 0x0303),
])
def test_speed_bits(host: RecordingHost, device_speed: Speed, hub_speed: Speed,
                    connected: int, enabled: int) -> None:
    hub = enumerate_hub(Hub(speed=hub_speed), host)
    hub.attach(1, Gadget(speed=device_speed))
    assert PortStatus.unpack(port_status(hub, 1)).wPortStatus == connected
    reset_port(hub, 1)
    assert PortStatus.unpack(port_status(hub, 1)).wPortStatus == enabled


def test_device_on_unpowered_port_shows_up_when_powered(host: RecordingHost) -> None:
    hub = Hub()
    gadget = Gadget()
    hub.attach(1, gadget)  # before the hub is even plugged in
    hub.connect(RootPort(), host)
    hub.bus_reset()
    address_and_configure(hub, 1)
    assert port_status(hub, 1) == bytes(4)
    assert gadget.state is DeviceState.NOTATTACHED
    assert poll(hub) == (Outcome.NAK, b"")
    assert set_port_feature(hub, 1, PortFeature.POWER) is Outcome.DONE
    assert port_status(hub, 1) == bytes([0x01, 0x01, 0x01, 0x00])
    assert (gadget.state, gadget.host) == (DeviceState.POWERED, host)
    assert poll(hub) == (Outcome.DONE, b"\x02")


def test_port_requests_need_a_configured_hub(host: RecordingHost) -> None:
    hub = Hub()
    hub.connect(RootPort(), host)
    hub.bus_reset()
    assert control_out(hub, 0x00, 0x05, 1) is Outcome.DONE
    assert set_port_feature(hub, 1, PortFeature.POWER) is Outcome.STALL
    assert control_in(hub, 0xA0, 0x06, 0x2900, 0, 15) == HUB_DESCRIPTOR_4
    assert hub.endpoint(0x81) is None
    hub.attach(1, Gadget())  # no status-change endpoint to wake: nothing happens
    assert port_status(hub, 1) == bytes(4)


@pytest.mark.parametrize("port1", [0, 5, 0x7F])
def test_invalid_port_numbers_stall(hub: Hub, port1: int) -> None:
    assert hub.control(SetupPacket(0xA3, 0x00, 0, port1, 4))[0] is Outcome.STALL
    assert set_port_feature(hub, port1, PortFeature.POWER) is Outcome.STALL
    assert clear_port_feature(hub, port1, PortFeature.C_CONNECTION) is Outcome.STALL


@pytest.mark.parametrize(("request_", "feature"), [
    (0x03, PortFeature.ENABLE),  # ports are only enabled by a reset
    (0x03, PortFeature.C_CONNECTION),
    (0x03, PortFeature.CONNECTION),
    (0x01, PortFeature.RESET),
    (0x01, PortFeature.TEST),
    (0x03, 7),
    (0x01, 99),
])
def test_unsupported_port_features_stall(hub: Hub, request_: int, feature: int) -> None:
    assert control_out(hub, 0x23, request_, feature, 1) is Outcome.STALL


def test_extended_port_status_stalls_on_a_usb2_hub(hub: Hub) -> None:
    assert hub.control(SetupPacket(0xA3, 0x00, 2, 1, 8))[0] is Outcome.STALL


def test_status_change_endpoint_naks_without_changes(hub: Hub) -> None:
    assert poll(hub) == (Outcome.NAK, b"")
    assert poll(hub, room=8) == (Outcome.NAK, b"")


def test_bitmap_is_computed_at_each_poll_not_queued(hub: Hub) -> None:
    hub.attach(1, Gadget())
    hub.attach(3, Gadget())
    assert clear_port_feature(hub, 1, PortFeature.C_CONNECTION) is Outcome.DONE
    assert poll(hub) == (Outcome.DONE, b"\x08")  # only port 3 still changed
    assert poll(hub) == (Outcome.DONE, b"\x08")  # reported until acknowledged
    assert clear_port_feature(hub, 3, PortFeature.C_CONNECTION) is Outcome.DONE
    assert poll(hub) == (Outcome.NAK, b"")


def test_disable_makes_the_device_unreachable(hub: Hub) -> None:
    gadget = Gadget()
    hub.attach(1, gadget)
    assert clear_port_feature(hub, 1, PortFeature.C_CONNECTION) is Outcome.DONE
    reset_port(hub, 1)
    address_and_configure(gadget, 2)
    assert clear_port_feature(hub, 1, PortFeature.ENABLE) is Outcome.DONE
    assert port_status(hub, 1) == bytes([0x01, 0x01, 0x00, 0x00])  # no C_PORT_ENABLE
    assert not gadget.reachable
    assert gadget.state is DeviceState.CONFIGURED  # a disabled port does not reset it
    reset_port(hub, 1)
    assert (gadget.reachable, gadget.state) == (True, DeviceState.DEFAULT)


def test_selective_suspend_and_resume(hub: Hub) -> None:
    gadget = Gadget()
    hub.attach(1, gadget)
    assert clear_port_feature(hub, 1, PortFeature.C_CONNECTION) is Outcome.DONE
    reset_port(hub, 1)
    address_and_configure(gadget, 2)
    assert set_port_feature(hub, 1, PortFeature.SUSPEND) is Outcome.DONE
    assert port_status(hub, 1) == bytes([0x07, 0x05, 0x00, 0x00])
    assert gadget.state is DeviceState.SUSPENDED
    assert not gadget.reachable
    assert poll(hub) == (Outcome.NAK, b"")

    assert clear_port_feature(hub, 1, PortFeature.SUSPEND) is Outcome.DONE
    assert port_status(hub, 1) == bytes([0x03, 0x05, 0x04, 0x00])  # C_PORT_SUSPEND
    assert (gadget.state, gadget.reachable) == (DeviceState.CONFIGURED, True)
    assert poll(hub) == (Outcome.DONE, b"\x02")
    assert clear_port_feature(hub, 1, PortFeature.C_SUSPEND) is Outcome.DONE
    assert poll(hub) == (Outcome.NAK, b"")


def test_suspend_of_a_disabled_port_is_ignored(hub: Hub) -> None:
    hub.attach(1, Gadget())
    assert set_port_feature(hub, 1, PortFeature.SUSPEND) is Outcome.DONE
    assert hub.hub_port(1).state is PortState.DISABLED


def test_remote_wakeup_resumes_a_suspended_port(hub: Hub) -> None:
    gadget = Gadget()
    hub.attach(1, gadget)
    reset_port(hub, 1)
    hub.hub_port(1).clear_change(PortChange(0xFF))
    assert not hub.hub_port(1).remote_wakeup()  # awake: nothing to do
    assert set_port_feature(hub, 1, PortFeature.SUSPEND) is Outcome.DONE
    assert hub.hub_port(1).remote_wakeup()
    assert PortStatus.unpack(port_status(hub, 1)) == PortStatus(0x0503, 0x0004)
    assert gadget.state is DeviceState.DEFAULT


def test_detach_reports_disconnect(hub: Hub, host: RecordingHost) -> None:
    gadget = Gadget()
    hub.attach(4, gadget)
    reset_port(hub, 4)
    assert clear_port_feature(hub, 4, PortFeature.C_CONNECTION) is Outcome.DONE
    host.ready.clear()
    assert hub.detach(4) is gadget
    assert port_status(hub, 4) == bytes([0x00, 0x01, 0x01, 0x00])  # power; C_CONNECTION
    assert (gadget.state, gadget.port, gadget.host) == (DeviceState.NOTATTACHED, None, None)
    assert host.ready == [(hub, hub.endpoint(0x81))]
    assert poll(hub) == (Outcome.DONE, b"\x10")
    assert list(hub.children()) == []
    assert hub.hub_port(4).state is PortState.DISCONNECTED


def test_attach_and_detach_errors(hub: Hub) -> None:
    gadget = Gadget()
    hub.attach(1, gadget)
    with pytest.raises(ValueError, match="already holds"):
        hub.attach(1, Gadget())
    with pytest.raises(ValueError, match=r"already plugged into <Hub .*> port 1"):
        hub.attach(2, gadget)
    with pytest.raises(ValueError, match=r"port 5 does not exist \(ports 1..4\)"):
        hub.attach(5, Gadget())
    with pytest.raises(ValueError, match=r"port 0 does not exist \(ports 1..4\)"):
        hub.detach(0)
    with pytest.raises(ValueError, match=r"port 2 is empty"):
        hub.detach(2)
    with pytest.raises(ValueError, match="already connected"):
        hub.attach(2, hub)
    loose = Gadget()
    loose.connect(RootPort(), None)
    with pytest.raises(ValueError, match="already connected"):
        hub.attach(2, loose)


def test_hubs_cannot_form_a_loop() -> None:
    top, below = Hub(), Hub()
    top.attach(1, below)
    with pytest.raises(ValueError, match="loop"):
        below.attach(1, top)
    with pytest.raises(ValueError, match="loop"):
        top.attach(2, top)


def test_a_detached_model_can_move_to_another_hub(hub: Hub, host: RecordingHost) -> None:
    other = enumerate_hub(Hub(), host, address=2)
    gadget = Gadget()
    hub.attach(1, gadget)
    hub.detach(1)
    other.attach(3, gadget)
    assert gadget.port is other.hub_port(3)


def test_port_power_off_is_power_loss(hub: Hub) -> None:
    gadget = Gadget()
    hub.attach(2, gadget)
    reset_port(hub, 2)
    assert clear_port_feature(hub, 2, PortFeature.POWER) is Outcome.DONE
    assert port_status(hub, 2) == bytes(4)
    assert gadget.state is DeviceState.NOTATTACHED
    assert list(hub.children()) == [(2, gadget)]  # still plugged in
    assert set_port_feature(hub, 2, PortFeature.POWER) is Outcome.DONE
    assert port_status(hub, 2) == bytes([0x01, 0x01, 0x01, 0x00])
    assert (gadget.state, gadget.port) == (DeviceState.POWERED, hub.hub_port(2))


def test_reset_without_device_does_not_enable(hub: Hub) -> None:
    assert set_port_feature(hub, 1, PortFeature.RESET) is Outcome.DONE
    assert port_status(hub, 1) == bytes([0x00, 0x01, 0x00, 0x00])
    assert poll(hub) == (Outcome.NAK, b"")


def test_port_indicator(hub: Hub) -> None:
    assert set_port_feature(hub, 3, PortFeature.INDICATOR, selector=2) is Outcome.DONE
    assert port_status(hub, 3) == bytes([0x00, 0x11, 0x00, 0x00])
    assert set_port_feature(hub, 3, PortFeature.INDICATOR, selector=4) is Outcome.STALL
    assert clear_port_feature(hub, 3, PortFeature.INDICATOR) is Outcome.DONE
    assert port_status(hub, 3) == bytes([0x00, 0x01, 0x00, 0x00])


def test_port_test_mode(hub: Hub) -> None:
    hub.attach(1, Gadget())
    reset_port(hub, 1)
    packet = TestSelector.TEST_PACKET
    assert set_port_feature(hub, 1, PortFeature.TEST, packet) is Outcome.STALL  # enabled
    assert clear_port_feature(hub, 1, PortFeature.ENABLE) is Outcome.DONE
    assert set_port_feature(hub, 1, PortFeature.TEST, 9) is Outcome.STALL  # no selector 9
    assert set_port_feature(hub, 1, PortFeature.TEST, packet) is Outcome.DONE
    port = hub.hub_port(1)
    assert (port.state, port.test_selector) == (PortState.TESTING, packet)
    assert port_status(hub, 1)[:2] == bytes([0x01, 0x09])  # connection, power, test
    assert set_port_feature(hub, 1, PortFeature.RESET) is Outcome.DONE  # ignored
    assert port.state is PortState.TESTING
    assert clear_port_feature(hub, 1, PortFeature.POWER) is Outcome.DONE
    assert (port.state, port.test_selector) == (PortState.POWERED_OFF, None)


def test_transaction_translator_requests(hub: Hub, host: RecordingHost) -> None:
    assert control_out(hub, 0x23, 0x08, 0x0000, 1) is Outcome.DONE  # ClearTTBuffer
    assert control_out(hub, 0x23, 0x09, 0, 1) is Outcome.DONE  # ResetTT
    assert control_out(hub, 0x23, 0x0B, 0, 1) is Outcome.DONE  # StopTT
    assert control_in(hub, 0xA3, 0x0A, 0, 1, 4) == bytes(4)  # GetTTState
    assert control_out(hub, 0x23, 0x09, 0, 2) is Outcome.STALL  # single TT is TT 1
    usb11 = enumerate_hub(Hub(speed=Speed.FULL), host, address=2)
    assert control_out(usb11, 0x23, 0x09, 0, 1) is Outcome.STALL


def test_hub_status_change(hub: Hub) -> None:
    hub.set_local_power(lost=True)
    assert poll(hub) == (Outcome.DONE, b"\x01")
    assert control_in(hub, 0xA0, 0x00, 0, 0, 4) == bytes([0x01, 0x00, 0x01, 0x00])
    assert control_out(hub, 0x20, 0x01, 0, 0) is Outcome.DONE  # C_HUB_LOCAL_POWER
    assert control_in(hub, 0xA0, 0x00, 0, 0, 4) == bytes([0x01, 0x00, 0x00, 0x00])
    assert poll(hub) == (Outcome.NAK, b"")
    assert control_out(hub, 0x20, 0x03, 1, 0) is Outcome.DONE  # set: no effect
    assert control_out(hub, 0x20, 0x01, 2, 0) is Outcome.STALL


def test_hub_bus_reset_powers_ports_off(hub: Hub) -> None:
    gadget = Gadget()
    hub.attach(1, gadget)
    reset_port(hub, 1)
    hub.bus_reset()
    assert gadget.state is DeviceState.NOTATTACHED
    assert all(hub.hub_port(n).state is PortState.POWERED_OFF for n in range(1, 5))
    address_and_configure(hub, 1)
    assert port_status(hub, 1) == bytes(4)


def test_hub_deconfigure_powers_ports_off(hub: Hub) -> None:
    gadget = Gadget()
    hub.attach(1, gadget)
    assert control_out(hub, 0x00, 0x09, 0) is Outcome.DONE
    assert gadget.state is DeviceState.NOTATTACHED
    assert hub.hub_port(1).state is PortState.POWERED_OFF


def chain(host: RecordingHost) -> tuple[Hub, Hub, Gadget]:
    """root port — top hub — port 1: lower hub — port 3: gadget, all enumerated."""
    top = enumerate_hub(Hub(), host)
    lower = Hub(ports=7)
    top.attach(1, lower)
    reset_port(top, 1)
    address_and_configure(lower, 2)
    for port1 in range(1, 8):
        assert set_port_feature(lower, port1, PortFeature.POWER) is Outcome.DONE
    gadget = Gadget()
    lower.attach(3, gadget)
    reset_port(lower, 3)
    address_and_configure(gadget, 3)
    return top, lower, gadget


def test_hub_under_hub(host: RecordingHost) -> None:
    top, lower, gadget = chain(host)
    assert gadget.reachable
    assert gadget.host is host
    assert lower.hub_port(3).hub is lower
    assert list(top.descendants()) == [lower, gadget]
    assert clear_port_feature(top, 1, PortFeature.ENABLE) is Outcome.DONE
    assert not gadget.reachable  # a port above it is disabled


def test_detaching_a_hub_disconnects_everything_below(host: RecordingHost) -> None:
    top, lower, gadget = chain(host)
    assert top.detach(1) is lower
    assert lower.state is DeviceState.NOTATTACHED
    assert gadget.state is DeviceState.NOTATTACHED
    assert list(lower.children()) == [(3, gadget)]  # still plugged into the lower hub
    assert host.gone[-2:] == [lower, gadget]
    assert poll(top) == (Outcome.DONE, b"\x02")


def test_unplugging_the_top_hub_cascades(host: RecordingHost) -> None:
    top, lower, gadget = chain(host)
    top.disconnect()
    assert [m.state for m in (top, lower, gadget)] == [DeviceState.NOTATTACHED] * 3


def test_reset_of_a_port_with_a_hub_resets_below(host: RecordingHost) -> None:
    top, lower, gadget = chain(host)
    reset_port(top, 1)
    assert lower.state is DeviceState.DEFAULT
    assert gadget.state is DeviceState.NOTATTACHED
    assert lower.hub_port(3).state is PortState.POWERED_OFF


def test_hub_suspend_suspends_devices_below(host: RecordingHost) -> None:
    top, lower, gadget = chain(host)
    assert set_port_feature(top, 1, PortFeature.SUSPEND) is Outcome.DONE
    assert (lower.state, gadget.state) == (DeviceState.SUSPENDED, DeviceState.SUSPENDED)
    assert not gadget.reachable
    assert clear_port_feature(top, 1, PortFeature.SUSPEND) is Outcome.DONE
    assert (lower.state, gadget.state) == (DeviceState.CONFIGURED, DeviceState.CONFIGURED)
    assert gadget.reachable


def test_selectively_suspended_device_stays_asleep_across_hub_resume(
        host: RecordingHost) -> None:
    _, lower, gadget = chain(host)
    assert set_port_feature(lower, 3, PortFeature.SUSPEND) is Outcome.DONE
    lower.suspend()
    lower.resume()
    assert gadget.state is DeviceState.SUSPENDED


def test_suspended_hub_signals_remote_wakeup_on_change(hub: Hub, host: RecordingHost) -> None:
    assert control_out(hub, 0x00, 0x03, 1) is Outcome.DONE  # SET_FEATURE(REMOTE_WAKEUP)
    hub.suspend()
    hub.attach(2, Gadget())
    assert host.wakeups == [hub]


def test_remote_wakeup_through_a_suspended_hub(host: RecordingHost) -> None:
    _, lower, _ = chain(host)
    assert control_out(lower, 0x00, 0x03, 1) is Outcome.DONE  # SET_FEATURE(REMOTE_WAKEUP)
    lower.suspend()
    assert lower.hub_port(3).remote_wakeup()
    assert host.wakeups == [lower]


# == model: the port state machine ==============================================================


def test_port_starts_powered_off(hub: Hub) -> None:
    port = Hub().hub_port(1)
    assert (port.state, port.status, port.change) == (PortState.POWERED_OFF, 0, 0)
    assert isinstance(hub.hub_port(1), DownstreamPort)
    assert hub.hub_port(1).hub is hub


@pytest.mark.parametrize(("old", "new"), [
    (PortState.POWERED_OFF, PortState.ENABLED),
    (PortState.POWERED_OFF, PortState.DISABLED),
    (PortState.DISCONNECTED, PortState.ENABLED),
    (PortState.DISCONNECTED, PortState.RESETTING),
    (PortState.DISABLED, PortState.ENABLED),
    (PortState.DISABLED, PortState.SUSPENDED),
    (PortState.RESETTING, PortState.SUSPENDED),
    (PortState.ENABLED, PortState.TESTING),
    (PortState.TESTING, PortState.ENABLED),
    (PortState.TESTING, PortState.DISCONNECTED),
])
def test_port_state_machine_rejects_illegal_transitions(old: PortState,
                                                        new: PortState) -> None:
    port = Hub().hub_port(1)
    port.state = old
    assert not port.can_become(new)
    with pytest.raises(IllegalPortTransition, match=f"{old.value} -> {new.value}"):
        port.set_state(new)
    assert issubclass(IllegalPortTransition, IllegalStateTransition)


def test_port_state_machine_walk() -> None:
    port = Hub().hub_port(1)
    for state in (PortState.DISCONNECTED, PortState.DISABLED, PortState.RESETTING,
                  PortState.ENABLED, PortState.SUSPENDED, PortState.ENABLED,
                  PortState.DISABLED, PortState.DISCONNECTED, PortState.POWERED_OFF):
        port.set_state(state)
    assert port.state is PortState.POWERED_OFF


def test_repr_shows_port_words(hub: Hub) -> None:
    hub.attach(1, Gadget())
    assert repr(hub.hub_port(1)) == "<DownstreamPort 1 disabled status=0x0101 change=0x0001>"


def iter_states() -> Iterator[PortState]:
    yield from PortState


def test_every_state_has_status_bits() -> None:
    port = Hub().hub_port(1)
    for state in iter_states():
        port.state = state
        assert bool(port.status & PortStat.POWER) == (state is not PortState.POWERED_OFF)


def test_a_dropped_hub_tree_is_freed() -> None:
    hub = Hub()
    hub.attach(1, Gadget())
    alive = weakref.ref(hub)
    del hub
    gc.collect()
    assert alive() is None
