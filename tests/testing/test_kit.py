"""usbemu.testing, the public test kit: the recording host double, the helpers that drive a
model as a host would, `virtual_machine()` and `blacklist()`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from usbemu import testing
from usbemu.emulated.device import DeviceHost, DeviceModel, endpoint_out, request
from usbemu.emulated.endpoint import Endpoint, Outcome
from usbemu.emulated.models.mouse import BootMouse
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.zero import GadgetZero
from usbemu.host.inproc import InProcessHCD
from usbemu.kernel.vtime import VirtualTimeLoop
from usbemu.spec.ch9 import DescriptorType, DeviceState, Feature, Request, SetupPacket
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.testing import (
    RecordingHost,
    blacklist,
    control_in,
    control_out,
    enumerate_model,
    get_descriptor,
    pull,
    push,
    virtual_machine,
)


class Shouter(DeviceModel):
    """The module docstring's example device: what the host writes to 0x01 comes back
    upper-cased on 0x81.  It also notes the GET_DESCRIPTOR requests it answers."""

    descriptor = DeviceDescriptor(0x1234, 0x0001, iProduct="Shouter", configurations=(
        ConfigDescriptor(interfaces=(InterfaceDescriptor(0xFF, endpoints=(
            EndpointDescriptor.bulk(0x81, 64), EndpointDescriptor.bulk(0x01, 64))),)),))

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[SetupPacket] = []

    @request(0x80, Request.GET_DESCRIPTOR)
    def note_get_descriptor(self, setup: SetupPacket, data: bytes) -> bytes | None:
        self.asked.append(setup)
        return self.standard_request(setup, data)

    @endpoint_out(0x01)
    def shout(self, ep: Endpoint, data: memoryview) -> Outcome | None:
        back = self.endpoint(0x81)
        assert back is not None
        back.write(bytes(data).upper())
        return None


def addressed_drive() -> PenDrive:
    drive = PenDrive()
    enumerate_model(drive, configuration=None)
    return drive


# -- the package ----------------------------------------------------------------------------------


def test_the_documented_example() -> None:
    model = enumerate_model(Shouter())
    assert get_descriptor(model, DescriptorType.DEVICE)[:2] == b"\x12\x01"
    assert push(model.endpoint(0x01), b"hi") == (Outcome.DONE, 2)
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"HI")


def test_exports() -> None:
    assert sorted(testing.__all__) == [
        "ConformanceError", "ConformanceReport", "RecordingHost", "UrbEvent", "UrbRecorder",
        "blacklist", "check_host_controller", "control_in", "control_out", "enumerate_model",
        "get_descriptor", "pull", "push", "run_conformance", "virtual_machine"]
    assert all(hasattr(testing, name) for name in testing.__all__)


# -- RecordingHost --------------------------------------------------------------------------------


def test_recording_host_starts_empty_and_is_a_device_host() -> None:
    host: DeviceHost = RecordingHost()
    assert isinstance(host, RecordingHost)
    assert (host.ready, host.wakeups, host.disconnected) == ([], [], [])


def test_recording_host_records_ready_endpoints_by_address() -> None:
    host = RecordingHost()
    drive = enumerate_model(PenDrive(capacity=512), host=host)
    assert pull(drive.endpoint(0x82), 512)[0] is Outcome.NAK
    push(drive.endpoint(0x01), bytes(512))  # wakes the waiting reader
    assert push(drive.endpoint(0x01), b"full") == (Outcome.NAK, 0)
    pull(drive.endpoint(0x82), 512)  # makes room: wakes the NAKed writer
    assert host.ready == [0x82, 0x01]
    assert (host.wakeups, host.disconnected) == ([], [])


def test_recording_host_records_remote_wakeups() -> None:
    host = RecordingHost()
    mouse = enumerate_model(BootMouse(), host=host)
    assert control_out(mouse, SetupPacket(0x00, Request.SET_FEATURE,
                                          Feature.DEVICE_REMOTE_WAKEUP)) is Outcome.DONE
    mouse.suspend()
    assert isinstance(mouse, BootMouse)
    mouse.move(1, 1)
    assert host.wakeups == [mouse]
    assert host.disconnected == []


def test_recording_host_records_disconnects() -> None:
    host = RecordingHost()
    drive = enumerate_model(PenDrive(), host=host)
    drive.disconnect()
    assert host.disconnected == [drive]
    assert drive.host is None


# -- control transfers ----------------------------------------------------------------------------


def test_control_in_returns_the_data_stage() -> None:
    drive = addressed_drive()
    device = control_in(drive, SetupPacket(0x80, Request.GET_DESCRIPTOR, 0x0100, 0, 18))
    assert device == drive.descriptors.device_bytes
    # Cut to wLength; a shorter reply is a short answer.
    assert control_in(drive, SetupPacket(0x80, Request.GET_DESCRIPTOR, 0x0100, 0, 8)) == (
        device[:8])
    assert control_in(drive, SetupPacket(0x80, Request.GET_STATUS, 0, 0, 2)) == b"\x00\x00"
    assert control_in(drive, SetupPacket(0x80, Request.GET_CONFIGURATION, 0, 0, 1)) == b"\x00"


def test_control_in_with_wlength_zero_returns_nothing() -> None:
    assert control_in(addressed_drive(), SetupPacket(0x80, Request.GET_STATUS, 0, 0, 0)) == b""


def test_control_in_on_a_stall_fails_with_the_setup_in_usbmon_notation() -> None:
    drive = addressed_drive()
    with pytest.raises(AssertionError, match=r"^80 06 0304 0409 00ff: stall$"):
        control_in(drive, SetupPacket(0x80, Request.GET_DESCRIPTOR, 0x0304, 0x0409, 0xFF))


def test_control_in_on_no_answer_fails_too() -> None:
    drive = PenDrive()  # never plugged in: nobody answers
    with pytest.raises(AssertionError, match=r"^80 06 0100 0000 0012: no-response$"):
        control_in(drive, SetupPacket(0x80, Request.GET_DESCRIPTOR, 0x0100, 0, 18))


def test_control_out_returns_the_outcome_and_sends_the_data() -> None:
    zero = enumerate_model(GadgetZero(), configuration=3)  # source/sink
    data = bytes(range(16))
    assert control_out(zero, SetupPacket(0x40, 0x5B, 0, 0, len(data)), data) is Outcome.DONE
    assert control_in(zero, SetupPacket(0xC0, 0x5C, 0, 0, len(data))) == data
    # Failures are returned, not raised.
    assert control_out(zero, SetupPacket(0x40, 0x5B, 1, 0, 4), b"abcd") is Outcome.STALL
    assert control_out(zero, SetupPacket(0x00, Request.SET_CONFIGURATION, 9)) is Outcome.STALL
    assert control_out(PenDrive(), SetupPacket(0x00, Request.SET_ADDRESS, 1)) is (
        Outcome.NO_RESPONSE)


def test_get_descriptor_sends_the_standard_request() -> None:
    model = enumerate_model(Shouter(), configuration=None)
    assert isinstance(model, Shouter)
    built = model.descriptors
    assert get_descriptor(model, DescriptorType.DEVICE) == built.device_bytes
    assert get_descriptor(model, DescriptorType.CONFIG, length=9) == built.config_bytes[0][:9]
    assert get_descriptor(model, DescriptorType.STRING) == b"\x04\x03\x09\x04"  # LANGIDs
    assert get_descriptor(model, DescriptorType.STRING, 1, 0x0409) == (
        b"\x10\x03" + "Shouter".encode("utf-16-le"))
    assert model.asked == [
        SetupPacket(0x80, 0x06, 0x0100, 0, 0xFF),  # wLength defaults to 0xFF
        SetupPacket(0x80, 0x06, 0x0200, 0, 9),
        SetupPacket(0x80, 0x06, 0x0300, 0, 0xFF),
        SetupPacket(0x80, 0x06, 0x0301, 0x0409, 0xFF),
    ]


def test_get_descriptor_on_a_stall_fails() -> None:
    drive = addressed_drive()
    assert get_descriptor(drive, DescriptorType.CONFIG, 0) == drive.descriptors.config_bytes[0]
    with pytest.raises(AssertionError, match=r"^80 06 0205 0000 00ff: stall$"):
        get_descriptor(drive, DescriptorType.CONFIG, 5)


# -- enumerate_model ------------------------------------------------------------------------------


def test_enumerate_model_addresses_and_configures() -> None:
    drive = PenDrive()
    assert enumerate_model(drive) is drive
    assert (drive.state, drive.address) == (DeviceState.CONFIGURED, 2)
    assert drive.configuration is not None and drive.configuration.bConfigurationValue == 1
    assert isinstance(drive.host, RecordingHost)  # a fresh one when none is given
    assert drive.port is None


def test_enumerate_model_address_configuration_and_host() -> None:
    host = RecordingHost()
    zero = enumerate_model(GadgetZero(), address=17, configuration=2, host=host)
    assert (zero.state, zero.address) == (DeviceState.CONFIGURED, 17)
    assert zero.host is host
    assert zero.configuration is not None and zero.configuration.bConfigurationValue == 2


def test_enumerate_model_without_configuration_stays_addressed() -> None:
    drive = enumerate_model(PenDrive(), address=5, configuration=None)
    assert (drive.state, drive.address, drive.configuration) == (DeviceState.ADDRESS, 5, None)
    assert drive.endpoint(0x01) is None


def test_enumerate_model_resets_a_configured_model() -> None:
    zero = enumerate_model(GadgetZero(), configuration=2)  # loopback
    push(zero.endpoint(0x02), b"old")
    first = zero.host
    enumerate_model(zero, address=3, configuration=2)
    assert (zero.state, zero.address) == (DeviceState.CONFIGURED, 3)
    assert zero.host is not first and isinstance(zero.host, RecordingHost)
    assert pull(zero.endpoint(0x81), 512) == (Outcome.NAK, b"")  # the reset dropped it


def test_enumerate_model_on_a_stalled_set_configuration_says_which() -> None:
    drive = PenDrive()
    with pytest.raises(AssertionError, match=r"^SET_CONFIGURATION 7: stall$"):
        enumerate_model(drive, configuration=7)
    assert drive.state is DeviceState.ADDRESS


def test_enumerate_model_on_a_stalled_set_address_fails() -> None:
    drive = PenDrive()
    with pytest.raises(AssertionError):
        enumerate_model(drive, address=128)  # USB addresses end at 127
    assert (drive.state, drive.address) == (DeviceState.DEFAULT, 0)


# -- pull and push --------------------------------------------------------------------------------


def bulk(address: int, maxp: int = 64) -> Endpoint:
    return Endpoint(None, EndpointDescriptor.bulk(address, maxp))


def test_pull_returns_the_outcome_and_the_bytes() -> None:
    ep = bulk(0x81)
    assert pull(ep, 64) == (Outcome.NAK, b"")
    ep.write(b"abc")
    assert pull(ep, 64) == (Outcome.DONE, b"abc")
    ep.write(b"x" * 100)
    assert pull(ep, 10) == (Outcome.BABBLE, b"x" * 10)  # room for less than a packet
    ep.write(bytes(128))
    assert pull(ep, 64) == (Outcome.DONE, bytes(64))  # the host's buffer is full
    assert pull(ep, 0) == (Outcome.BABBLE, b"")
    ep.halt()
    assert pull(ep, 64) == (Outcome.STALL, b"")


def test_push_returns_the_outcome_and_the_bytes_accepted() -> None:
    ep = bulk(0x02)
    assert push(ep, b"abc") == (Outcome.DONE, 3)
    assert ep.read() == b"abc"
    ep.out_limit = 0
    assert push(ep, b"abc") == (Outcome.NAK, 0)
    ep.halt()
    assert push(ep, b"abc") == (Outcome.STALL, 0)


def test_push_zlp_adds_a_zero_length_packet_after_a_packet_multiple() -> None:
    plain, with_zlp = bulk(0x02), bulk(0x02)
    assert push(plain, bytes(64)) == (Outcome.DONE, 64)
    assert push(with_zlp, bytes(64), zlp=True) == (Outcome.DONE, 64)
    assert (plain.toggle, with_zlp.toggle) == (1, 0)  # one packet; a packet and a ZLP
    short = bulk(0x02)
    assert push(short, bytes(10), zlp=True) == (Outcome.DONE, 10)
    assert short.toggle == 1  # a short transfer needs no ZLP


@pytest.mark.parametrize("transfer", [lambda: pull(None, 64), lambda: push(None, b"x")])
def test_pull_and_push_need_an_endpoint(transfer: Callable[[], object]) -> None:
    with pytest.raises(AssertionError, match="no such endpoint in the active configuration"):
        transfer()


def test_pull_and_push_to_an_unconfigured_model_fail() -> None:
    drive = addressed_drive()
    with pytest.raises(AssertionError, match="no such endpoint"):
        pull(drive.endpoint(0x82), 512)
    with pytest.raises(AssertionError, match="no such endpoint"):
        push(drive.endpoint(0x01), b"data")


# -- virtual_machine ------------------------------------------------------------------------------


def test_virtual_machine_enumerates_a_pen_drive_at_1_1() -> None:
    with virtual_machine() as system:
        assert system.virtual and isinstance(system.loop, VirtualTimeLoop)
        [hcd] = system.controllers
        assert isinstance(hcd, InProcessHCD)
        assert (hcd.nports, hcd.has_tt) == (6, True)
        drive = PenDrive()
        system.plug(drive, "1-1")
        system.settle()
        device = system.find_device("1-1")
        assert device is not None and device.state is DeviceState.CONFIGURED
        assert device.actconfig is not None
        assert drive.state is DeviceState.CONFIGURED
        assert device.descriptor is not None and device.descriptor.idVendor == 0x058F
    assert system.loop.is_closed()


def test_virtual_machine_options() -> None:
    with virtual_machine(2, has_tt=False) as system:
        [hcd] = system.controllers
        assert (hcd.nports, hcd.has_tt) == (2, False)
        with pytest.raises(ValueError, match=r"ports 1\.\.2"):
            system.plug(PenDrive(), "1-3")


def test_virtual_machine_is_closed_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), virtual_machine() as system:
        raise RuntimeError("boom")
    assert system.loop.is_closed()


def test_virtual_machine_time_is_virtual() -> None:
    with virtual_machine() as system:
        start = system.time()
        system.sleep(60_000)  # a minute of machine time, instantly
        assert system.time() - start == pytest.approx(60.0, abs=1e-6)


# -- blacklist -------------------------------------------------------------------------------------


def test_blacklist_keeps_udev_from_autoloading_and_leaves_modprobe_alone() -> None:
    with virtual_machine() as system:
        blacklist(system, "usb_storage", "uas")
        assert system.vfs.read_text("/etc/modprobe.d/usbemu-testing.conf") == \
            "blacklist usb_storage\nblacklist uas\n"
        system.plug(PenDrive(), "1-1")
        system.settle()
        intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
        assert intf is not None and intf.driver is None
        assert system.modules.get("usb_storage") is None
        system.modprobe("usb_storage")            # by name: the blacklist does not apply
        assert system.modules.get("usb_storage") is not None
        blacklist(system)                          # each call replaces the list
        assert system.vfs.read_text("/etc/modprobe.d/usbemu-testing.conf") == ""


def test_without_a_blacklist_udev_loads_usb_storage_for_the_pen_drive() -> None:
    with virtual_machine() as system:
        system.plug(PenDrive(storage="memory"), "1-1")
        system.settle()
        intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
        assert intf is not None and intf.driver is not None
        assert intf.driver.name == "usb-storage"
