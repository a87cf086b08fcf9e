"""Tests for usbemu.emulated.device: chapter 9 behaviour of DeviceModel, driven by raw SETUPs."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usbemu.emulated.device import (
    DeviceModel,
    IllegalStateTransition,
    endpoint_in,
    endpoint_out,
    request,
)
from usbemu.emulated.endpoint import Endpoint, Outcome, Stall
from usbemu.emulated.ep0 import Stage
from usbemu.spec.ch9 import (
    LANGID_EN_US,
    ConfigAttributes,
    DescriptorType,
    DeviceState,
    Feature,
    Request,
    SetupPacket,
    Speed,
    TestSelector,
)
from usbemu.spec.descriptors import (
    BosDescriptor,
    ConfigDescriptor,
    DescriptorSet,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    build_descriptors,
    string_descriptor,
    usb20_extension,
)
from usbemu.testing import RecordingHost, control_out, pull, push

LANGID_DE_DE = 0x0407
S = DeviceState

# -- the device under test ----------------------------------------------------------------------

DESCRIPTOR = DeviceDescriptor(
    idVendor=0x1234, idProduct=0x5678, bcdUSB=0x0201, bMaxPacketSize0=64,
    iManufacturer="Acme", iProduct="Gadget", iSerialNumber="42",
    languages=(LANGID_EN_US, LANGID_DE_DE), translations={LANGID_DE_DE: {"Gadget": "Gerät"}},
    configurations=(
        ConfigDescriptor(
            interfaces=(
                InterfaceDescriptor(0xFF, endpoints=(EndpointDescriptor.bulk(0x81, 64),
                                                     EndpointDescriptor.bulk(0x02, 64))),
                InterfaceDescriptor(0xFF, 1),
                InterfaceDescriptor(0xFF, 1, bAlternateSetting=1, endpoints=(
                    EndpointDescriptor.interrupt(0x83, 16, 10),
                    EndpointDescriptor.bulk(0x04, 64))),
            ),
            iConfiguration="Main",
            bmAttributes=(ConfigAttributes.ONE | ConfigAttributes.SELF_POWERED
                          | ConfigAttributes.REMOTE_WAKEUP)),
        ConfigDescriptor(
            interfaces=(InterfaceDescriptor(0xFF, endpoints=(EndpointDescriptor.bulk(0x85, 64),)),),
            bConfigurationValue=5, bMaxPower=250),
    ),
    other_speed_configurations=(ConfigDescriptor(
        interfaces=(InterfaceDescriptor(0xFF, endpoints=(EndpointDescriptor.bulk(0x81, 64),)),)),),
    bos=BosDescriptor((usb20_extension(),)),
)
BUILT = build_descriptors(DESCRIPTOR)


@dataclass
class FakePort:
    enabled: bool = True
    hub: DeviceModel | None = None


class Gadget(DeviceModel):
    descriptor = DESCRIPTOR
    speed = Speed.HIGH
    model_name = "gadget"

    def __init__(self, descriptors: DeviceDescriptor | DescriptorSet | None = None, *,
                 speed: Speed | None = None) -> None:
        super().__init__(descriptors, speed=speed)
        self.calls: list[tuple[object, ...]] = []
        self.received: list[tuple[SetupPacket, bytes]] = []
        self.sunk: list[bytes] = []

    def on_connect(self) -> None:
        self.calls.append(("connect",))

    def on_disconnect(self) -> None:
        self.calls.append(("disconnect",))

    def on_reset(self) -> None:
        self.calls.append(("reset",))

    def on_configuration(self, config: ConfigDescriptor | None) -> None:
        value = None if config is None else config.bConfigurationValue
        self.calls.append(("configuration", value, sorted(self._eps)))

    def on_interface(self, interface: int, alt: int) -> None:
        self.calls.append(("interface", interface, alt, sorted(self._eps)))

    @request(0xC0, 0x01)
    def vendor_in(self, setup: SetupPacket, data: bytes) -> bytes:
        self.received.append((setup, data))
        return bytes(range(32))

    @request(0x40, 0x02)
    @request(0x41, 0x02)
    def vendor_out(self, setup: SetupPacket, data: bytes) -> None:
        self.received.append((setup, data))

    @request(0x40, 0x03)
    def vendor_refuse(self, setup: SetupPacket, data: bytes) -> None:
        raise Stall

    @endpoint_in(0x81)
    def source(self, ep: Endpoint, room: int) -> bytes | None:
        return b"from handler"

    @endpoint_out(0x02)
    def sink(self, ep: Endpoint, data: memoryview) -> Outcome | None:
        self.sunk.append(bytes(data))
        return None

    @endpoint_out(0x04, packets=True)
    def packet_sink(self, ep: Endpoint, data: memoryview) -> Outcome | None:
        self.sunk.append(bytes(data))
        return None


# -- request helpers ----------------------------------------------------------------------------


def setup(rt: int, req: int, value: int = 0, index: int = 0, length: int = 0) -> SetupPacket:
    return SetupPacket(rt, req, value, index, length)


def ctrl_in(model: DeviceModel, packet: SetupPacket) -> tuple[Outcome, bytes]:
    """An IN control transfer that may fail: (outcome, data), unlike
    `usbemu.testing.control_in`, which insists on DONE."""
    buf = bytearray(packet.wLength)
    outcome, n = model.control(packet, dst=memoryview(buf))
    return outcome, bytes(buf[:n])


def get_descriptor(model: DeviceModel, dtype: int, index: int = 0, langid: int = 0,
                   length: int = 255) -> tuple[Outcome, bytes]:
    """GET_DESCRIPTOR that may STALL: (outcome, data)."""
    return ctrl_in(model, setup(0x80, Request.GET_DESCRIPTOR, dtype << 8 | index, langid,
                                length))


def set_address(model: DeviceModel, address: int) -> Outcome:
    return control_out(model, setup(0x00, Request.SET_ADDRESS, address))


def set_configuration(model: DeviceModel, value: int) -> Outcome:
    return control_out(model, setup(0x00, Request.SET_CONFIGURATION, value))


def set_interface(model: DeviceModel, interface: int, alt: int) -> Outcome:
    return control_out(model, setup(0x01, Request.SET_INTERFACE, alt, interface))


def get_status(model: DeviceModel, rt: int, index: int = 0) -> tuple[Outcome, int | None]:
    outcome, data = ctrl_in(model, setup(rt, Request.GET_STATUS, 0, index, 2))
    return outcome, (struct.unpack("<H", data)[0] if outcome is Outcome.DONE else None)


def feature(model: DeviceModel, rt: int, selector: int, index: int = 0,
            on: bool = True) -> Outcome:
    code = Request.SET_FEATURE if on else Request.CLEAR_FEATURE
    return control_out(model, setup(rt, code, selector, index))


def plugged(model: DeviceModel | None = None, host: RecordingHost | None = None) -> DeviceModel:
    """Connected and reset: DEFAULT state, address 0."""
    model = model if model is not None else Gadget()
    model.connect(FakePort(), host if host is not None else RecordingHost())
    model.bus_reset()
    return model


def addressed(model: DeviceModel | None = None, address: int = 5) -> DeviceModel:
    model = plugged(model)
    assert set_address(model, address) is Outcome.DONE
    return model


def configured(model: DeviceModel | None = None, value: int = 1) -> DeviceModel:
    model = addressed(model)
    assert set_configuration(model, value) is Outcome.DONE
    return model


# -- the chapter 9 state sequence ---------------------------------------------------------------


def test_state_sequence_of_an_enumeration() -> None:
    model = Gadget()
    assert model.state is S.NOTATTACHED and model.address == 0
    model.connect(FakePort(), RecordingHost())
    assert model.state is S.POWERED
    model.bus_reset()
    assert model.state is S.DEFAULT and model.address == 0
    assert set_address(model, 7) is Outcome.DONE
    assert model.state is S.ADDRESS and model.address == 7
    assert set_configuration(model, 1) is Outcome.DONE
    assert model.state is S.CONFIGURED
    assert model.configuration is BUILT.configurations[0] or \
        model.configuration == BUILT.configurations[0]
    assert set_configuration(model, 0) is Outcome.DONE
    assert model.state is S.ADDRESS and model.configuration is None
    assert model.address == 7


def test_set_address_takes_effect_only_after_the_status_stage() -> None:
    model = plugged()
    assert model.ep0.setup(setup(0x00, Request.SET_ADDRESS, 9)) is Outcome.DONE
    assert model.address == 0 and model.state is S.DEFAULT
    assert model.ep0.token_in(memoryview(bytearray(0))) == (Outcome.DONE, 0)
    assert model.address == 9 and model.state is S.ADDRESS


def test_set_address_aborted_before_status_changes_nothing() -> None:
    model = plugged()
    model.ep0.setup(setup(0x00, Request.SET_ADDRESS, 9))
    ctrl_in(model, setup(0x80, Request.GET_DESCRIPTOR, 0x0100, 0, 18))
    assert model.address == 0 and model.state is S.DEFAULT


def test_set_address_in_address_state_changes_the_address() -> None:
    model = addressed(address=5)
    assert set_address(model, 6) is Outcome.DONE
    assert model.address == 6 and model.state is S.ADDRESS


def test_set_address_zero_returns_to_default() -> None:
    model = addressed()
    assert set_address(model, 0) is Outcome.DONE
    assert model.address == 0 and model.state is S.DEFAULT
    assert set_address(model, 0) is Outcome.DONE
    assert model.state is S.DEFAULT


def test_set_address_accepts_the_highest_address() -> None:
    model = plugged()
    assert set_address(model, 127) is Outcome.DONE
    assert model.address == 127 and model.state is S.ADDRESS


@pytest.mark.parametrize("packet", [setup(0x00, Request.SET_ADDRESS, 128),
                                    setup(0x00, Request.SET_ADDRESS, 5, 1)])
def test_invalid_set_address_stalls(packet: SetupPacket) -> None:
    model = plugged()
    assert control_out(model, packet) is Outcome.STALL
    assert model.address == 0 and model.state is S.DEFAULT


def test_set_address_when_configured_stalls() -> None:
    model = configured()
    assert set_address(model, 9) is Outcome.STALL
    assert model.address == 5 and model.state is S.CONFIGURED


def test_set_configuration_invalid_value_stalls() -> None:
    model = addressed()
    assert set_configuration(model, 2) is Outcome.STALL
    assert model.state is S.ADDRESS and model.configuration is None
    model = configured()
    assert set_configuration(model, 3) is Outcome.STALL
    assert model.state is S.CONFIGURED
    assert model.configuration is not None and model.configuration.bConfigurationValue == 1
    assert model.endpoint(0x81) is not None


def test_set_configuration_uses_the_configuration_value_not_the_index() -> None:
    model = configured(value=5)
    config = model.configuration
    assert config is not None and config.bConfigurationValue == 5
    assert model.endpoint(0x85) is not None and model.endpoint(0x81) is None


def test_set_configuration_in_default_state_stalls() -> None:
    model = plugged()
    assert set_configuration(model, 1) is Outcome.STALL
    assert model.state is S.DEFAULT and model.configuration is None
    assert model.endpoint(0x81) is None


def test_set_configuration_ignores_the_upper_byte_of_wvalue() -> None:
    model = addressed()
    assert set_configuration(model, 0xAB01) is Outcome.DONE
    assert model.state is S.CONFIGURED


def test_switching_configurations() -> None:
    model = configured()
    assert set_configuration(model, 5) is Outcome.DONE
    assert sorted(ep.address for ep in model.endpoints()) == [0x85]
    assert ctrl_in(model, setup(0x80, Request.GET_CONFIGURATION, length=1)) == (
        Outcome.DONE, b"\x05")


def test_get_configuration() -> None:
    model = plugged()
    get = setup(0x80, Request.GET_CONFIGURATION, length=1)
    assert ctrl_in(model, get) == (Outcome.STALL, b"")  # DEFAULT: not specified, we stall
    set_address(model, 3)
    assert ctrl_in(model, get) == (Outcome.DONE, b"\x00")
    set_configuration(model, 1)
    assert ctrl_in(model, get) == (Outcome.DONE, b"\x01")


# -- data endpoints -----------------------------------------------------------------------------


def test_data_endpoints_exist_only_when_configured() -> None:
    model = Gadget()
    assert model.endpoint(0x81) is None
    plugged(model)
    assert model.endpoint(0x81) is None
    set_address(model, 1)
    assert model.endpoint(0x81) is None and list(model.endpoints()) == []
    set_configuration(model, 1)
    eps = {ep.address: ep for ep in model.endpoints()}
    assert sorted(eps) == [0x02, 0x81]  # interface 1 is at altsetting 0: no endpoints
    assert model.endpoint(0x81) is eps[0x81]
    assert model.endpoint(0x01) is None and model.endpoint(0x83) is None
    assert eps[0x81].model is model
    set_configuration(model, 0)
    assert model.endpoint(0x81) is None and list(model.endpoints()) == []
    assert eps[0x81].model is None  # the old endpoint is detached


def test_endpoints_go_away_on_reset_and_disconnect() -> None:
    model = configured()
    old = model.endpoint(0x81)
    assert old is not None
    old.write(b"stale")
    model.bus_reset()
    assert model.endpoint(0x81) is None and old.queued == 0 and old.model is None
    configured(model)
    model.disconnect()
    assert model.endpoint(0x81) is None


def test_endpoints_get_the_model_speed() -> None:
    model = configured(Gadget(speed=Speed.FULL))
    assert model.speed is Speed.FULL
    set_interface(model, 1, 1)
    ep = model.endpoint(0x83)
    assert ep is not None and ep.period_us == 10_000
    high = configured()
    set_interface(high, 1, 1)
    ep = high.endpoint(0x83)
    assert ep is not None and ep.period_us == 125 << 9


def test_toggles_and_halts_reset_on_set_configuration() -> None:
    model = configured()
    ep = model.endpoint(0x02)
    assert ep is not None
    push(ep, b"x")
    ep.halt()
    assert ep.toggle == 1
    assert set_configuration(model, 1) is Outcome.DONE
    fresh = model.endpoint(0x02)
    assert fresh is not None and fresh is not ep
    assert fresh.toggle == 0 and not fresh.halted


# -- GET_DESCRIPTOR -----------------------------------------------------------------------------


def test_get_descriptor_device_and_config() -> None:
    model = plugged()
    assert get_descriptor(model, DescriptorType.DEVICE) == (Outcome.DONE, BUILT.device_bytes)
    assert get_descriptor(model, DescriptorType.CONFIG, 0) == (Outcome.DONE,
                                                               BUILT.config_bytes[0])
    assert get_descriptor(model, DescriptorType.CONFIG, 1) == (Outcome.DONE,
                                                               BUILT.config_bytes[1])
    assert get_descriptor(model, DescriptorType.CONFIG, 2) == (Outcome.STALL, b"")


@pytest.mark.parametrize("length", [1, 8, 9, 18, 19, 64, 255, 0xFFFF])
def test_get_descriptor_device_every_wlength(length: int) -> None:
    model = plugged()
    assert get_descriptor(model, DescriptorType.DEVICE, length=length) == (
        Outcome.DONE, BUILT.device_bytes[:length])


@pytest.mark.parametrize("length", [1, 4, 8, 9, 10, 31, 32, 33, 255])
def test_get_descriptor_config_every_wlength(length: int) -> None:
    model = addressed()
    total = BUILT.config_bytes[0]
    outcome, data = get_descriptor(model, DescriptorType.CONFIG, 0, length=length)
    assert outcome is Outcome.DONE
    assert data == total[:length]
    if length >= 4:
        assert struct.unpack_from("<H", data, 2)[0] == len(total)


def test_get_descriptor_exact_length() -> None:
    model = plugged()
    total = len(BUILT.config_bytes[0])
    assert get_descriptor(model, DescriptorType.CONFIG, 0, length=total) == (
        Outcome.DONE, BUILT.config_bytes[0])


def test_get_descriptor_strings() -> None:
    model = plugged()
    assert get_descriptor(model, DescriptorType.STRING, 0) == (
        Outcome.DONE, bytes.fromhex("06 03 09 04 07 04"))
    device = model.device_descriptor
    assert device.iProduct == 2
    assert get_descriptor(model, DescriptorType.STRING, 2, LANGID_EN_US) == (
        Outcome.DONE, string_descriptor("Gadget"))
    assert get_descriptor(model, DescriptorType.STRING, 2, LANGID_DE_DE) == (
        Outcome.DONE, string_descriptor("Gerät"))
    assert get_descriptor(model, DescriptorType.STRING, 1, LANGID_DE_DE) == (
        Outcome.DONE, string_descriptor("Acme"))  # untranslated: the first language's text
    assert get_descriptor(model, DescriptorType.STRING, 2, 0x040C) == (Outcome.STALL, b"")
    assert get_descriptor(model, DescriptorType.STRING, 99, LANGID_EN_US) == (Outcome.STALL,
                                                                              b"")
    assert get_descriptor(model, DescriptorType.STRING, 2, LANGID_EN_US, length=2) == (
        Outcome.DONE, string_descriptor("Gadget")[:2])


def test_get_descriptor_bos_qualifier_other_speed() -> None:
    model = plugged()
    assert get_descriptor(model, DescriptorType.BOS) == (Outcome.DONE, BUILT.bos_bytes)
    assert get_descriptor(model, DescriptorType.BOS, length=5) == (Outcome.DONE,
                                                                   (BUILT.bos_bytes or b"")[:5])
    assert get_descriptor(model, DescriptorType.DEVICE_QUALIFIER) == (Outcome.DONE,
                                                                      BUILT.qualifier_bytes)
    other = BUILT.other_speed_bytes[0]
    assert other[1] == DescriptorType.OTHER_SPEED_CONFIG
    assert get_descriptor(model, DescriptorType.OTHER_SPEED_CONFIG, 0) == (Outcome.DONE, other)
    assert get_descriptor(model, DescriptorType.OTHER_SPEED_CONFIG, 1) == (Outcome.STALL, b"")


def test_get_descriptor_missing_optional_descriptors_stall() -> None:
    model = plugged(DeviceModel(DeviceDescriptor(1, 2, configurations=(ConfigDescriptor(),))))
    for dtype in (DescriptorType.BOS, DescriptorType.DEVICE_QUALIFIER,
                  DescriptorType.OTHER_SPEED_CONFIG, DescriptorType.INTERFACE,
                  DescriptorType.ENDPOINT, 0x00, 0x42):
        assert get_descriptor(model, dtype) == (Outcome.STALL, b"")
    assert model.unhandled == []  # a refused standard request is not "unhandled"


def test_get_descriptor_works_in_every_addressable_state() -> None:
    model = plugged()
    for step in (lambda: None, lambda: set_address(model, 1), lambda: set_configuration(model, 1)):
        step()
        assert get_descriptor(model, DescriptorType.DEVICE, length=18) == (Outcome.DONE,
                                                                           BUILT.device_bytes)


def test_ep0_maxpacket_comes_from_the_device_descriptor() -> None:
    model = DeviceModel(DeviceDescriptor(1, 2, bMaxPacketSize0=8))
    assert model.ep0.maxpacket == 8


# -- GET_STATUS ---------------------------------------------------------------------------------


def test_get_status_device_self_powered_and_remote_wakeup() -> None:
    model = plugged()
    assert get_status(model, 0x80) == (Outcome.DONE, 0x0001)
    assert feature(model, 0x00, Feature.DEVICE_REMOTE_WAKEUP) is Outcome.DONE
    assert model.remote_wakeup_enabled
    assert get_status(model, 0x80) == (Outcome.DONE, 0x0003)
    assert feature(model, 0x00, Feature.DEVICE_REMOTE_WAKEUP, on=False) is Outcome.DONE
    assert get_status(model, 0x80) == (Outcome.DONE, 0x0001)


def test_get_status_device_follows_the_active_configuration() -> None:
    model = configured(value=5)  # bus-powered configuration
    assert get_status(model, 0x80) == (Outcome.DONE, 0x0000)
    bus_powered = plugged(DeviceModel(DeviceDescriptor(1, 2, configurations=(
        ConfigDescriptor(),))))
    assert get_status(bus_powered, 0x80) == (Outcome.DONE, 0)
    no_config = plugged(DeviceModel(DeviceDescriptor(1, 2)))
    assert get_status(no_config, 0x80) == (Outcome.DONE, 0)


def test_get_status_device_wlength_one() -> None:
    model = plugged()
    assert ctrl_in(model, setup(0x80, Request.GET_STATUS, 0, 0, 1)) == (Outcome.DONE, b"\x01")


def test_get_status_interface() -> None:
    model = addressed()
    assert get_status(model, 0x81, 0) == (Outcome.STALL, None)
    set_configuration(model, 1)
    assert get_status(model, 0x81, 0) == (Outcome.DONE, 0)
    assert get_status(model, 0x81, 1) == (Outcome.DONE, 0)
    assert get_status(model, 0x81, 2) == (Outcome.STALL, None)


def test_get_status_endpoint_halt_bit() -> None:
    model = addressed()
    assert get_status(model, 0x82, 0x00) == (Outcome.DONE, 0)  # endpoint 0 in any state
    assert get_status(model, 0x82, 0x80) == (Outcome.DONE, 0)
    assert get_status(model, 0x82, 0x81) == (Outcome.STALL, None)  # ADDRESS: request error
    set_configuration(model, 1)
    assert get_status(model, 0x82, 0x81) == (Outcome.DONE, 0)
    assert get_status(model, 0x82, 0x01) == (Outcome.STALL, None)  # direction matters
    assert get_status(model, 0x82, 0x83) == (Outcome.STALL, None)  # not in this altsetting
    ep = model.endpoint(0x81)
    assert ep is not None
    ep.halt()
    assert get_status(model, 0x82, 0x81) == (Outcome.DONE, 1)


def test_functional_stall_shows_in_get_status() -> None:
    class Refuser(Gadget):
        def sink(self, ep: Endpoint, data: memoryview) -> Outcome | None:
            raise Stall

    model = configured(Refuser())
    ep = model.endpoint(0x02)
    assert ep is not None
    assert push(ep, b"x") == (Outcome.STALL, 0)
    assert get_status(model, 0x82, 0x02) == (Outcome.DONE, 1)


# -- SET/CLEAR_FEATURE --------------------------------------------------------------------------


def test_endpoint_halt_set_and_clear() -> None:
    model = configured()
    ep = model.endpoint(0x81)
    assert ep is not None
    ep.write(b"x")
    pull(ep, 64)
    assert ep.toggle == 1
    assert feature(model, 0x02, Feature.ENDPOINT_HALT, 0x81) is Outcome.DONE
    assert ep.halted
    assert pull(ep, 64) == (Outcome.STALL, b"")
    assert feature(model, 0x02, Feature.ENDPOINT_HALT, 0x81, on=False) is Outcome.DONE
    assert not ep.halted and ep.toggle == 0


def test_clear_halt_resets_the_toggle_of_an_endpoint_that_was_not_halted() -> None:
    model = configured()
    ep = model.endpoint(0x02)
    assert ep is not None
    push(ep, b"x")
    assert ep.toggle == 1
    assert feature(model, 0x02, Feature.ENDPOINT_HALT, 0x02, on=False) is Outcome.DONE
    assert ep.toggle == 0


def test_endpoint_feature_errors() -> None:
    model = addressed()
    assert feature(model, 0x02, Feature.ENDPOINT_HALT, 0x81) is Outcome.STALL  # ADDRESS
    assert feature(model, 0x02, Feature.ENDPOINT_HALT, 0x00, on=False) is Outcome.DONE
    assert feature(model, 0x02, Feature.ENDPOINT_HALT, 0x00) is Outcome.STALL  # no ep0 halt
    set_configuration(model, 1)
    assert feature(model, 0x02, Feature.ENDPOINT_HALT, 0x05) is Outcome.STALL  # no such ep
    assert feature(model, 0x02, Feature.DEVICE_REMOTE_WAKEUP, 0x81) is Outcome.STALL
    assert feature(model, 0x02, Feature.ENDPOINT_HALT, 0x80, on=False) is Outcome.DONE


def test_remote_wakeup_feature_needs_the_configuration_attribute() -> None:
    model = configured(value=5)  # bmAttributes without REMOTE_WAKEUP
    assert feature(model, 0x00, Feature.DEVICE_REMOTE_WAKEUP) is Outcome.STALL
    assert feature(model, 0x00, Feature.DEVICE_REMOTE_WAKEUP, on=False) is Outcome.STALL
    assert not model.remote_wakeup_enabled
    plain = plugged(DeviceModel(DeviceDescriptor(1, 2, configurations=(ConfigDescriptor(),))))
    assert feature(plain, 0x00, Feature.DEVICE_REMOTE_WAKEUP) is Outcome.STALL


def test_unknown_device_feature_stalls() -> None:
    model = configured()
    for selector in (Feature.ENDPOINT_HALT, Feature.B_HNP_ENABLE, Feature.U1_ENABLE, 0x99):
        assert feature(model, 0x00, selector) is Outcome.STALL


def test_test_mode_at_high_speed() -> None:
    model = plugged()
    assert model.test_mode == 0
    assert feature(model, 0x00, Feature.TEST_MODE, TestSelector.TEST_PACKET << 8) is Outcome.DONE
    assert model.test_mode == TestSelector.TEST_PACKET


def test_test_mode_cannot_be_cleared() -> None:
    model = plugged()
    feature(model, 0x00, Feature.TEST_MODE, TestSelector.TEST_J << 8)
    assert feature(model, 0x00, Feature.TEST_MODE, 0, on=False) is Outcome.STALL
    assert model.test_mode == TestSelector.TEST_J


def test_test_mode_is_high_speed_only() -> None:
    model = plugged(Gadget(speed=Speed.FULL))
    assert feature(model, 0x00, Feature.TEST_MODE, TestSelector.TEST_J << 8) is Outcome.STALL
    assert model.test_mode == 0


def test_test_mode_starts_only_after_the_status_stage() -> None:
    model = plugged()
    packet = setup(0x00, Request.SET_FEATURE, Feature.TEST_MODE, TestSelector.TEST_K << 8)
    assert model.ep0.setup(packet) is Outcome.DONE
    assert model.test_mode == 0
    model.ep0.token_in(memoryview(bytearray(0)))
    assert model.test_mode == TestSelector.TEST_K


def test_bus_reset_clears_remote_wakeup_and_test_mode() -> None:
    model = plugged()
    feature(model, 0x00, Feature.DEVICE_REMOTE_WAKEUP)
    feature(model, 0x00, Feature.TEST_MODE, TestSelector.TEST_J << 8)
    model.bus_reset()
    assert not model.remote_wakeup_enabled and model.test_mode == 0
    assert get_status(model, 0x80) == (Outcome.DONE, 1)


# -- GET/SET_INTERFACE --------------------------------------------------------------------------


def test_get_and_set_interface() -> None:
    model = configured()
    get = setup(0x81, Request.GET_INTERFACE, 0, 1, 1)
    assert ctrl_in(model, get) == (Outcome.DONE, b"\x00")
    assert model.alt_settings == {0: 0, 1: 0}
    assert model.endpoint(0x83) is None
    assert set_interface(model, 1, 1) is Outcome.DONE
    assert ctrl_in(model, get) == (Outcome.DONE, b"\x01")
    assert model.alt_settings == {0: 0, 1: 1}
    assert sorted(ep.address for ep in model.endpoints()) == [0x02, 0x04, 0x81, 0x83]
    assert set_interface(model, 1, 0) is Outcome.DONE
    assert sorted(ep.address for ep in model.endpoints()) == [0x02, 0x81]
    assert ctrl_in(model, setup(0x81, Request.GET_INTERFACE, 0, 0, 1)) == (Outcome.DONE,
                                                                          b"\x00")


def test_set_interface_resets_toggles_and_halts_of_that_interface_only() -> None:
    model = configured()
    set_interface(model, 1, 1)
    int_ep, other = model.endpoint(0x83), model.endpoint(0x02)
    assert int_ep is not None and other is not None
    int_ep.halt()
    int_ep.write(b"stale")
    push(other, b"x")
    assert set_interface(model, 1, 1) is Outcome.DONE
    fresh = model.endpoint(0x83)
    assert fresh is not None and fresh is not int_ep
    assert not fresh.halted and fresh.toggle == 0 and fresh.queued == 0
    assert int_ep.model is None and int_ep.queued == 0
    assert model.endpoint(0x02) is other and other.toggle == 1


@pytest.mark.parametrize(("interface", "alt"), [(1, 2), (2, 0), (0, 1), (0x100 | 1, 7)])
def test_set_interface_bad_interface_or_alt_stalls(interface: int, alt: int) -> None:
    model = configured()
    assert set_interface(model, interface, alt) is Outcome.STALL
    assert model.alt_settings == {0: 0, 1: 0}


def test_interface_requests_need_the_configured_state() -> None:
    model = addressed()
    assert set_interface(model, 0, 0) is Outcome.STALL
    assert ctrl_in(model, setup(0x81, Request.GET_INTERFACE, 0, 0, 1)) == (Outcome.STALL, b"")
    configured(model)
    assert ctrl_in(model, setup(0x81, Request.GET_INTERFACE, 0, 2, 1)) == (Outcome.STALL, b"")


def test_find_altsetting() -> None:
    model = addressed()
    assert model.find_altsetting(0, 0) is None
    set_configuration(model, 1)
    alt = model.find_altsetting(1, 1)
    assert alt is not None and [e.bEndpointAddress for e in alt.endpoints] == [0x83, 0x04]
    assert model.find_altsetting(1, 2) is None


def test_first_altsetting_is_zero_even_when_listed_later() -> None:
    config = ConfigDescriptor((
        InterfaceDescriptor(0xFF, bInterfaceNumber=0, bAlternateSetting=1,
                            endpoints=(EndpointDescriptor.bulk(0x81, 64),)),
        InterfaceDescriptor(0xFF, bInterfaceNumber=0, bAlternateSetting=0),
    ))
    model = configured(DeviceModel(DeviceDescriptor(1, 2, configurations=(config,))))
    assert model.alt_settings == {0: 0}
    assert model.endpoint(0x81) is None


def test_interface_without_altsetting_zero_uses_the_first_listed() -> None:
    config = ConfigDescriptor((
        InterfaceDescriptor(0xFF, bInterfaceNumber=0, bAlternateSetting=2,
                            endpoints=(EndpointDescriptor.bulk(0x81, 64),)),
        InterfaceDescriptor(0xFF, bInterfaceNumber=0, bAlternateSetting=3),
    ))
    model = configured(DeviceModel(DeviceDescriptor(1, 2, configurations=(config,))))
    assert model.alt_settings == {0: 2}
    assert model.endpoint(0x81) is not None


# -- class, vendor and unhandled requests -------------------------------------------------------


def test_unhandled_requests_stall_and_are_recorded() -> None:
    model = configured()
    vendor = setup(0xC0, 0x77, 1, 2, 8)
    klass = setup(0x21, 0x0A, 0, 0, 0)
    klass_out = setup(0x21, 0x09, 0x0200, 0, 4)
    synch = setup(0x82, Request.SYNCH_FRAME, 0, 0x81, 2)
    assert ctrl_in(model, vendor) == (Outcome.STALL, b"")
    assert control_out(model, klass) is Outcome.STALL
    assert control_out(model, klass_out, b"abcd") is Outcome.STALL
    assert ctrl_in(model, synch) == (Outcome.STALL, b"")
    assert model.unhandled == [vendor, klass, klass_out, synch]
    assert model.ep0.stage is Stage.STALLED
    assert get_status(model, 0x80)[0] is Outcome.DONE  # the next SETUP clears the stall


def test_request_handler_in_reply_is_cut_to_wlength() -> None:
    model = addressed()
    packet = setup(0xC0, 0x01, 0, 0, 10)
    assert ctrl_in(model, packet) == (Outcome.DONE, bytes(range(10)))
    big = setup(0xC0, 0x01, 0, 0, 200)
    assert ctrl_in(model, big) == (Outcome.DONE, bytes(range(32)))
    assert isinstance(model, Gadget)
    assert model.received == [(packet, b""), (big, b"")]


def test_request_handler_out_data_is_delivered() -> None:
    model = addressed()
    assert isinstance(model, Gadget)
    packet = setup(0x40, 0x02, 0x55, 0, 5)
    assert model.control(packet, b"hello") == (Outcome.DONE, 5)
    stacked = setup(0x41, 0x02, 0, 3, 0)
    assert control_out(model, stacked) is Outcome.DONE
    assert model.received == [(packet, b"hello"), (stacked, b"")]
    assert model.unhandled == []


def test_request_handler_stall() -> None:
    model = addressed()
    assert control_out(model, setup(0x40, 0x03)) is Outcome.STALL
    assert model.unhandled == []


def test_request_handlers_work_before_address() -> None:
    model = plugged()
    assert ctrl_in(model, setup(0xC0, 0x01, 0, 0, 2)) == (Outcome.DONE, b"\x00\x01")


def test_request_handler_may_override_a_standard_request_and_fall_back() -> None:
    class Override(Gadget):
        @request(0x80, Request.GET_STATUS)
        def status(self, setup: SetupPacket, data: bytes) -> bytes | None:
            if setup.wIndex == 0x99:
                return b"\x99\x00"
            return self.standard_request(setup, data)

    model = plugged(Override())
    assert ctrl_in(model, setup(0x80, Request.GET_STATUS, 0, 0x99, 2)) == (Outcome.DONE,
                                                                          b"\x99\x00")
    assert get_status(model, 0x80) == (Outcome.DONE, 1)


def test_control_accepts_raw_setup_bytes() -> None:
    model = plugged()
    buf = bytearray(18)
    packet = bytes(setup(0x80, Request.GET_DESCRIPTOR, 0x0100, 0, 18))
    assert model.control(packet, dst=memoryview(buf)) == (Outcome.DONE, 18)
    assert bytes(buf) == BUILT.device_bytes
    assert model.control(packet) == (Outcome.DONE, 18)
    assert model.ep0.last_reply == BUILT.device_bytes


# -- endpoint handler wiring --------------------------------------------------------------------


def test_endpoint_handlers_are_wired_when_configured() -> None:
    model = configured()
    assert isinstance(model, Gadget)
    src, sink = model.endpoint(0x81), model.endpoint(0x02)
    assert src is not None and sink is not None
    assert pull(src, 64) == (Outcome.DONE, b"from handler")
    assert push(sink, b"to sink") == (Outcome.DONE, 7)
    assert not sink.out_packets
    set_interface(model, 1, 1)
    packets = model.endpoint(0x04)
    interrupt = model.endpoint(0x83)
    assert packets is not None and interrupt is not None
    assert packets.out_packets
    assert push(packets, bytes(100)) == (Outcome.DONE, 100)
    assert interrupt.in_handler is None and interrupt.out_handler is None
    assert model.sunk == [b"to sink", bytes(64), bytes(36)]


def test_endpoint_handlers_are_inherited_and_overridable() -> None:
    class Child(Gadget):
        def source(self, ep: Endpoint, room: int) -> bytes | None:
            return b"child"

        @endpoint_in(0x83)
        def interrupt(self, ep: Endpoint, room: int) -> bytes | None:
            return b"irq"

    class GrandChild(Child):
        @request(0xC0, 0x10)
        def extra(self, setup: SetupPacket, data: bytes) -> bytes:
            return b"gc"

    model = configured(GrandChild())
    src = model.endpoint(0x81)
    assert src is not None and pull(src, 64) == (Outcome.DONE, b"child")
    sink = model.endpoint(0x02)
    assert sink is not None and sink.out_handler is not None
    set_interface(model, 1, 1)
    irq = model.endpoint(0x83)
    assert irq is not None and pull(irq, 64) == (Outcome.DONE, b"irq")
    assert ctrl_in(model, setup(0xC0, 0x10, length=2)) == (Outcome.DONE, b"gc")
    assert ctrl_in(model, setup(0xC0, 0x01, length=1)) == (Outcome.DONE, b"\x00")
    # Registrations stay with the class that made them.
    assert 0x83 not in Gadget._in_handlers
    assert (0xC0, 0x10) not in Gadget._requests and (0xC0, 0x10) not in Child._requests
    assert DeviceModel._requests == {} and DeviceModel._in_handlers == {}


def test_handler_for_the_wrong_direction_is_not_wired() -> None:
    config = ConfigDescriptor((InterfaceDescriptor(0xFF, endpoints=(
        EndpointDescriptor.bulk(0x01, 64), EndpointDescriptor.bulk(0x82, 64))),))

    class Odd(DeviceModel):
        descriptor = DeviceDescriptor(1, 2, configurations=(config,))

        @endpoint_in(0x81)
        def not_here(self, ep: Endpoint, room: int) -> bytes | None:
            return b"x"

    model = configured(Odd())
    assert all(ep.in_handler is None and ep.out_handler is None for ep in model.endpoints())


def test_endpoint_decorators_check_the_direction() -> None:
    with pytest.raises(ValueError, match="bit 7 set"):
        endpoint_in(0x01)
    with pytest.raises(ValueError, match="bit 7 clear"):
        endpoint_out(0x81)


# -- hooks --------------------------------------------------------------------------------------


def test_hooks_are_called_in_order() -> None:
    model = Gadget()
    model.connect(FakePort(), RecordingHost())
    model.bus_reset()
    set_address(model, 1)
    set_configuration(model, 1)
    set_interface(model, 1, 1)
    set_configuration(model, 0)
    model.disconnect()
    assert model.calls == [
        ("connect",),
        ("reset",),
        ("configuration", 1, [0x02, 0x81]),  # endpoints exist when the hook runs
        ("interface", 1, 1, [0x02, 0x04, 0x81, 0x83]),
        ("configuration", None, []),
        ("disconnect",),
    ]


def test_failed_requests_call_no_hooks() -> None:
    model = addressed()
    assert isinstance(model, Gadget)
    model.calls.clear()
    set_configuration(model, 9)
    set_configuration(model, 1)
    set_interface(model, 1, 9)
    assert model.calls == [("configuration", 1, [0x02, 0x81])]


# -- suspend, resume, disconnect ----------------------------------------------------------------


def test_suspend_and_resume() -> None:
    model = configured()
    model.suspend()
    assert model.state is S.SUSPENDED
    assert model.control(setup(0x80, Request.GET_STATUS, length=2)) == (Outcome.NO_RESPONSE, 0)
    assert not model.reachable
    model.suspend()  # suspending twice is harmless
    model.resume()
    assert model.state is S.CONFIGURED
    assert model.endpoint(0x81) is not None  # the configuration survives suspend
    assert get_status(model, 0x80)[0] is Outcome.DONE
    model.resume()  # resuming a running device does nothing
    assert model.state is S.CONFIGURED


@pytest.mark.parametrize("steps", [0, 1, 2])
def test_resume_returns_to_the_state_before_suspend(steps: int) -> None:
    model = plugged()
    expected = S.DEFAULT
    if steps >= 1:
        set_address(model, 3)
        expected = S.ADDRESS
    if steps >= 2:
        set_configuration(model, 1)
        expected = S.CONFIGURED
    model.suspend()
    model.resume()
    assert model.state is expected


def test_reset_while_suspended() -> None:
    model = configured()
    model.suspend()
    model.bus_reset()
    assert model.state is S.DEFAULT and model.address == 0 and model.configuration is None


def test_disconnect() -> None:
    host = RecordingHost()
    model = plugged(host=host)
    assert model.host is host and model.port is not None
    set_address(model, 4)
    set_configuration(model, 1)
    model.ep0.setup(setup(0xC0, 0x01, length=8))
    model.disconnect()
    assert host.disconnected == [model]
    assert model.state is S.NOTATTACHED
    assert model.address == 0 and model.configuration is None and model.alt_settings == {}
    assert model.host is None and model.port is None
    assert model.ep0.stage is Stage.IDLE
    assert model.control(setup(0x80, 0)) == (Outcome.NO_RESPONSE, 0)
    model.disconnect()  # unplugging twice is harmless, and the host hears of it once
    assert host.disconnected == [model]
    model.connect(FakePort(), host)
    assert model.state is S.POWERED


def test_suspended_device_can_be_unplugged() -> None:
    model = configured()
    model.suspend()
    model.disconnect()
    assert model.state is S.NOTATTACHED


def test_connect_again_is_a_power_cycle() -> None:
    model = configured()
    model.connect(FakePort(), RecordingHost())
    assert model.state is S.POWERED
    assert model.configuration is None and model.endpoint(0x81) is None
    assert model.address == 0


def test_signal_remote_wakeup() -> None:
    host = RecordingHost()
    model = plugged(host=host)
    model.suspend()
    assert model.signal_remote_wakeup() is False  # not enabled
    model.resume()
    feature(model, 0x00, Feature.DEVICE_REMOTE_WAKEUP)
    model.suspend()
    assert model.signal_remote_wakeup() is True
    assert host.wakeups == [model]
    model.host = None
    assert model.signal_remote_wakeup() is False


def test_remote_wakeup_only_from_suspend() -> None:
    host = RecordingHost()
    model = plugged(host=host)
    feature(model, 0x00, Feature.DEVICE_REMOTE_WAKEUP)
    assert model.signal_remote_wakeup() is False
    assert host.wakeups == []


# -- set_state ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "new"),
    [
        (S.NOTATTACHED, S.POWERED),
        (S.NOTATTACHED, S.DEFAULT),
        (S.NOTATTACHED, S.CONFIGURED),
        (S.NOTATTACHED, S.SUSPENDED),
        (S.ATTACHED, S.DEFAULT),
        (S.ATTACHED, S.SUSPENDED),
        (S.POWERED, S.ADDRESS),
        (S.POWERED, S.CONFIGURED),
        (S.DEFAULT, S.CONFIGURED),
        (S.SUSPENDED, S.SUSPENDED),
        (S.CONFIGURED, S.RECONNECTING),
        (S.DEFAULT, S.UNAUTHENTICATED),
    ],
)
def test_set_state_rejects_illegal_transitions(start: DeviceState, new: DeviceState) -> None:
    model = Gadget()
    model.state = start
    with pytest.raises(IllegalStateTransition, match=f"{start.linux_name} -> {new.linux_name}"):
        model.set_state(new)
    assert model.state is start


@pytest.mark.parametrize(
    ("start", "new"),
    [
        (S.NOTATTACHED, S.ATTACHED),
        (S.ATTACHED, S.POWERED),
        (S.ATTACHED, S.NOTATTACHED),
        (S.POWERED, S.DEFAULT),
        (S.POWERED, S.SUSPENDED),
        (S.POWERED, S.NOTATTACHED),
        (S.DEFAULT, S.DEFAULT),
        (S.DEFAULT, S.ADDRESS),
        (S.ADDRESS, S.CONFIGURED),
        (S.ADDRESS, S.DEFAULT),
        (S.CONFIGURED, S.ADDRESS),
        (S.CONFIGURED, S.DEFAULT),
        (S.CONFIGURED, S.SUSPENDED),
        (S.SUSPENDED, S.CONFIGURED),
        (S.SUSPENDED, S.DEFAULT),
        (S.SUSPENDED, S.NOTATTACHED),
    ],
)
def test_set_state_allows_chapter_9_transitions(start: DeviceState, new: DeviceState) -> None:
    model = Gadget()
    model.state = start
    model.set_state(new)
    assert model.state is new


def test_bus_reset_needs_power() -> None:
    model = Gadget()
    with pytest.raises(IllegalStateTransition):
        model.bus_reset()
    with pytest.raises(IllegalStateTransition):
        model.suspend()


# -- reachability and NO_RESPONSE ---------------------------------------------------------------


def test_control_before_reset_gets_no_response() -> None:
    model = Gadget()
    get = setup(0x80, Request.GET_DESCRIPTOR, 0x0100, 0, 18)
    assert model.control(get) == (Outcome.NO_RESPONSE, 0)
    model.connect(FakePort(), RecordingHost())
    assert model.control(get) == (Outcome.NO_RESPONSE, 0)
    model.bus_reset()
    assert model.control(get) == (Outcome.DONE, 18)


def test_reachable_through_a_root_port() -> None:
    model = Gadget()
    port = FakePort()
    assert not model.reachable
    model.connect(port, RecordingHost())
    assert not model.reachable  # POWERED: not reset yet
    model.bus_reset()
    assert model.reachable
    port.enabled = False
    assert not model.reachable


def test_reachable_through_a_hub_chain() -> None:
    hub = configured(Gadget())
    root = hub.port
    assert isinstance(root, FakePort)
    leaf_port = FakePort(hub=hub)
    leaf = Gadget()
    leaf.connect(leaf_port, RecordingHost())
    leaf.bus_reset()
    assert leaf.reachable
    leaf_port.enabled = False
    assert not leaf.reachable
    leaf_port.enabled = True
    root.enabled = False
    assert not leaf.reachable
    root.enabled = True
    hub.suspend()
    assert not leaf.reachable
    hub.resume()
    assert leaf.reachable
    hub.disconnect()
    assert not leaf.reachable


def test_device_without_a_port_is_not_reachable() -> None:
    model = Gadget()
    model.connect(None, RecordingHost())
    model.bus_reset()
    assert not model.reachable


# -- construction -------------------------------------------------------------------------------


def test_constructor_takes_a_tree_a_built_set_or_the_class_attribute() -> None:
    assert Gadget().descriptors.device_bytes == BUILT.device_bytes
    assert DeviceModel(BUILT).descriptors is BUILT
    tree = DeviceDescriptor(0xAAAA, 0xBBBB)
    assert DeviceModel(tree).device_descriptor.idVendor == 0xAAAA
    with pytest.raises(ValueError, match="DeviceModel has no descriptors"):
        DeviceModel()


def test_speed_override_and_repr() -> None:
    assert Gadget().speed is Speed.HIGH
    assert Gadget(speed=Speed.FULL).speed is Speed.FULL
    assert DeviceModel(DeviceDescriptor(1, 2)).speed is Speed.FULL
    model = addressed(Gadget(), address=12)
    assert repr(model) == "<Gadget 1234:5678 addressed addr=12>"
    assert repr(Gadget()) == "<Gadget 1234:5678 not attached addr=0>"


def test_device_descriptor_is_resolved() -> None:
    device = Gadget().device_descriptor
    assert (device.iManufacturer, device.iProduct, device.iSerialNumber) == (1, 2, 3)
    assert device.bNumConfigurations == 2


def test_a_plain_model_has_no_children() -> None:
    assert list(Gadget().children()) == []


def test_self_powered_property() -> None:
    model = Gadget()
    assert model.self_powered
    configured(model, value=5)
    assert not model.self_powered
    assert not DeviceModel(DeviceDescriptor(1, 2)).self_powered


# -- robustness: a hostile host -----------------------------------------------------------------

standard_setups = st.builds(
    SetupPacket,
    st.sampled_from([0x00, 0x80, 0x01, 0x81, 0x02, 0x82, 0x21, 0xA1, 0x40, 0xC0]),
    st.integers(0, 13),
    st.one_of(st.integers(0, 3), st.integers(0, 0xFFFF),
              st.integers(0, 8).map(lambda dtype: dtype << 8 | 1)),
    st.one_of(st.sampled_from([0, 1, 2, 0x81, 0x02, 0x83, 0x04, 0x85, LANGID_EN_US]),
              st.integers(0, 0xFFFF)),
    st.one_of(st.integers(0, 20), st.integers(0, 0xFFFF)),
)


@settings(deadline=None, max_examples=200)
@given(st.sampled_from([plugged, addressed, configured]),
       st.lists(st.tuples(st.one_of(standard_setups,
                                    st.binary(min_size=8, max_size=8).map(SetupPacket.unpack)),
                          st.binary(max_size=32)), max_size=8))
def test_any_request_sequence_keeps_chapter_9_invariants(
        start: object, requests: list[tuple[SetupPacket, bytes]]) -> None:
    assert callable(start)
    model: DeviceModel = start()
    for packet, data in requests:
        outcome, _ = model.control(packet, b"" if packet.is_in else data[:packet.wLength])
        assert outcome in (Outcome.DONE, Outcome.STALL)
        assert model.state in (S.DEFAULT, S.ADDRESS, S.CONFIGURED)
        assert (model.state is S.CONFIGURED) == (model.configuration is not None)
        assert (model.state is S.DEFAULT) == (model.address == 0) or model.state is S.CONFIGURED
        assert 0 <= model.address <= 127
        if model.state is not S.CONFIGURED:
            assert list(model.endpoints()) == [] and model.alt_settings == {}


def test_one_handler_serves_several_endpoints() -> None:
    class Multi(Gadget):
        @endpoint_in(0x81, 0x83)
        def source(self, ep: Endpoint, room: int) -> bytes:
            return bytes([ep.address])

        @endpoint_out(0x02, 0x04)
        def sink(self, ep: Endpoint, data: memoryview) -> None:
            self.got.append((ep.address, bytes(data)))

    model = Multi()
    model.got = []  # type: ignore[attr-defined]
    configured(model)
    assert model.control(SetupPacket(0x01, Request.SET_INTERFACE, 1, 1))[0] is Outcome.DONE
    for address in (0x81, 0x83):
        ep = model.endpoint(address)
        assert ep is not None and ep.in_handler is not None
        assert pull(ep, 64) == (Outcome.DONE, bytes([address]))
    for address in (0x02, 0x04):
        ep = model.endpoint(address)
        assert ep is not None
        push(ep, b"x")
    assert model.got == [(0x02, b"x"), (0x04, b"x")]  # type: ignore[attr-defined]


# -- the machine's clock ------------------------------------------------------------------------


class _Clock:
    """A clock reading a fixed time that records the timers asked of it."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.timers: list[tuple[float, object]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: object) -> _Clock:
        self.timers.append((when, callback))
        return self

    def cancel(self) -> None:
        self.timers.clear()


def test_a_model_keeps_time_only_while_plugged_in_with_a_clock() -> None:
    model = Gadget()
    assert model.clock is None
    with pytest.raises(RuntimeError, match="Gadget has no clock: it keeps time only while "
                                           "plugged into a machine"):
        model.now()
    with pytest.raises(RuntimeError, match="has no clock"):
        model.call_at(1.0, lambda: None)
    clock = _Clock(12.5)
    model.connect(None, RecordingHost(), clock)
    assert (model.clock, model.now()) == (clock, 12.5)
    callback = lambda: None  # noqa: E731
    assert model.call_at(13.0, callback) is clock
    assert clock.timers == [(13.0, callback)]
    model.disconnect()
    assert model.clock is None
    model.connect(None, RecordingHost())  # a host that keeps no time
    with pytest.raises(RuntimeError):
        model.now()


def test_instances_of_a_model_class_share_its_built_descriptors() -> None:
    """The class attribute `descriptor` is built once per class; a tree handed to one
    instance is its own; a subclass with its own tree gets its own set."""

    class One(DeviceModel):
        descriptor = DeviceDescriptor(0x1234, 0x0001)

    class Two(One):
        descriptor = DeviceDescriptor(0x1234, 0x0002)

    assert One().descriptors is One().descriptors
    assert Two().descriptors is Two().descriptors is not One().descriptors
    assert Two().device_descriptor.idProduct == 2
    own = One(DeviceDescriptor(0x1234, 0x0003))
    assert own.descriptors is not One().descriptors and own.device_descriptor.idProduct == 3
    with pytest.raises(ValueError, match="DeviceModel has no descriptors"):
        DeviceModel()
