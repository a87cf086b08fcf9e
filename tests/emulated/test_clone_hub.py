"""A cloned hub is a working hub (usbemu.emulated.clone.ClonedHub on models.hub.Hub)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from usbemu.core.hcd import UsbBus
from usbemu.core.urb import PIPE_CONTROL, Urb, usb_pipedevice, usb_pipetype
from usbemu.emulated.clone import (
    CloneData,
    ClonedDevice,
    ClonedHub,
    CloneError,
    clone_data_of,
    clone_from_toml,
    clone_model,
    dump_clone,
    model_control,
    on_bench,
)
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.models.hub import Hub, default_hub_descriptor
from usbemu.emulated.models.keyboard import BootKeyboard
from usbemu.errors import UsbStall
from usbemu.spec.ch9 import DeviceState, SetupPacket, Speed
from usbemu.spec.hub import HubDescriptor
from usbemu.system import System
from usbemu.testing.monitor import UrbRecorder

HUB_DESCRIPTOR = bytes.fromhex("09 29 04 e9 00 32 64 00 ff")


def cloned(model: DeviceModel) -> DeviceModel:
    return clone_from_toml(dump_clone(model))


def hub_data(**change: object) -> CloneData:
    return replace(clone_data_of(Hub()), **change)  # type: ignore[arg-type]


# -- the model ----------------------------------------------------------------------------------


def test_a_clone_of_a_hub_is_a_hub_with_its_port_count() -> None:
    copy = cloned(Hub(7))
    assert isinstance(copy, ClonedHub) and isinstance(copy, Hub)
    assert copy.nports == 7 and copy.speed is Speed.HIGH
    assert copy.hub_descriptor.to_bytes() == default_hub_descriptor(7).to_bytes()
    assert isinstance(cloned(Hub(2, speed=Speed.FULL)), ClonedHub)


def test_a_cloned_hub_answers_its_hub_descriptor_verbatim() -> None:
    # Two bytes past bDescLength: a hub that sends more than it describes.
    raw = bytes.fromhex("09 29 03 09 00 32 64 00 ff 5a a5")
    hub = clone_model(hub_data(hub_descriptor=raw))
    assert isinstance(hub, ClonedHub) and hub.nports == 3
    with on_bench(hub) as control:
        assert control(0xA0, 6, 0x2900, 0, 255) == raw
        assert control(0xA0, 6, 0x0000, 0, 255) == raw  # as USB 1.0 hosts ask
        assert control(0xA0, 6, 0x2900, 0, 9) == raw[:9]
        with pytest.raises(UsbStall):
            control(0xA0, 6, 0x2a00, 0, 255)
    assert hub.clone.hub_descriptor == raw
    assert hub.hub_descriptor.characteristics == HubDescriptor.from_bytes(raw).characteristics


def test_a_hub_cloned_without_its_hub_descriptor_has_four_ports() -> None:
    hub = clone_model(hub_data(hub_descriptor=None))
    assert isinstance(hub, ClonedHub) and hub.nports == 4
    assert hub.clone.hub_descriptor == HUB_DESCRIPTOR


def test_a_cloned_hub_reports_port_changes_as_the_hub_model_does() -> None:
    original, copy = Hub(), clone_model(clone_data_of(Hub()))
    replies = []
    for hub in (original, copy):
        with on_bench(hub) as control:
            control(0x00, 9, 1, 0, 0)
            control(0x23, 3, 8, 2, 0)  # SetPortFeature(PORT_POWER), port 2
            hub.attach(2, BootKeyboard())
            status = control(0xA3, 0, 0, 2, 4)
            ep = hub.endpoint(0x81)
            assert ep is not None
            buf = bytearray(1)
            bitmap = ep.pull_in(memoryview(buf))
            control(0x23, 3, 4, 2, 0)  # SetPortFeature(PORT_RESET)
            replies.append((status, bitmap, bytes(buf), control(0xA3, 0, 0, 2, 4),
                            control(0xA0, 0, 0, 0, 4)))
    assert replies[0] == replies[1]
    assert replies[1][0] == bytes.fromhex("0101 0100")  # powered, connected, C_CONNECTION


@pytest.mark.parametrize(("change", "message"), [
    ({"hub_descriptor": bytes.fromhex("09 29 04")},
     "hub_descriptor: hub descriptor needs at least 7 bytes, got 3"),
    ({"hub_descriptor": bytes.fromhex("09 2a 04 e9 00 32 64 00 ff")},
     "hub_descriptor: hub descriptor has bDescriptorType 0x2a, expected 0x29"),
    ({"hub_descriptor": bytes.fromhex("07 29 10 e9 00 32 64")},
     "hub_descriptor: hub descriptor of a 16-port hub needs 10 bytes, got 7"),
    ({"hub_descriptor": bytes.fromhex("0b 29 10 e9 00 32 64 00 00 ff ff")},
     "hub_descriptor: bNbrPorts 16; a cloned hub has 1..15 ports"),
    ({"hub_descriptor": bytes.fromhex("09 29 00 e9 00 32 64 00 ff")},
     "hub_descriptor: bNbrPorts 0; a cloned hub has 1..15 ports"),
    ({"report_descriptors": {0: b"\x05\x01"}},
     "report_descriptors: a hub has no HID interface"),
    ({"speed": Speed.LOW}, "speed: a USB 2.0 hub runs at high or full speed, not LOW"),
])
def test_a_hub_that_cannot_be_one_is_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(CloneError) as info:
        clone_model(hub_data(**change), "hub.toml")
    assert str(info.value) == f"hub.toml: {message}"


def test_a_hub_without_its_status_change_endpoint_is_refused() -> None:
    dump = bytearray(clone_data_of(Hub()).descriptors)
    dump[18 + 9 + 9 + 2] = 0x82  # bEndpointAddress
    with pytest.raises(CloneError, match="a cloned hub needs its status-change endpoint, "
                                         "interrupt IN 0x81, in its first configuration"):
        clone_model(hub_data(descriptors=bytes(dump)))


def test_a_superspeed_hub_answers_its_descriptors_without_a_hubs_function() -> None:
    ss_hub = bytes.fromhex("0c 2a 04 09 00 32 64 00 00 00 00 00")
    model = clone_model(hub_data(speed=Speed.SUPER, hub_descriptor=ss_hub))
    assert type(model) is ClonedDevice
    model.connect(None, None)
    model.bus_reset()
    control = model_control(model)
    assert control(0xA0, 6, 0x2a00, 0, 255) == ss_hub
    with pytest.raises(UsbStall):
        control(0xA0, 6, 0x2900, 0, 255)
    with pytest.raises(CloneError, match="hub_descriptor: a SuperSpeed hub descriptor is 12 "
                                         "bytes, got 3"):
        clone_model(hub_data(speed=Speed.SUPER, hub_descriptor=ss_hub[:3]))


def test_the_hub_model_lets_a_subclass_provide_its_descriptors() -> None:
    class Quiet(Hub):
        def hub_descriptor_bytes(self) -> bytes:
            return b"\x02\x29"
    with on_bench(Quiet()) as control:
        assert control(0xA0, 6, 0x2900, 0, 255) == b"\x02\x29"
    assert default_hub_descriptor(4, Speed.FULL).to_bytes() == Hub(
        speed=Speed.FULL).hub_descriptor.to_bytes()


# -- on a machine, with a cloned keyboard behind it -----------------------------------------------


class Replies(UrbRecorder):
    """Every control URB's request and reply, and every status-change report, by device."""

    def __init__(self, system: System) -> None:
        super().__init__(system)
        self.replies: list[tuple[int, str, int, bytes]] = []

    def urb_complete(self, bus: UsbBus, urb: Urb, status: int) -> None:
        super().urb_complete(bus, urb, status)
        control = usb_pipetype(urb.pipe) == PIPE_CONTROL
        setup = str(SetupPacket.unpack(urb.setup_packet)) if control else "interrupt"
        data = bytes(urb.transfer_buffer[:urb.actual_length]) if urb.actual_length else b""
        self.replies.append((usb_pipedevice(urb.pipe), setup, status, data))

    def of(self, devnum: int) -> list[tuple[str, int, bytes]]:
        return [(setup, status, data) for dev, setup, status, data in self.replies
                if dev == devnum]


def run_machine(hub: DeviceModel, keyboards: tuple[DeviceModel, DeviceModel]
                ) -> tuple[list[tuple[str, int, bytes]], list[tuple[str, int, bytes]], str]:
    """A hub at 1-1, a keyboard behind it, unplugged and another plugged in: the hub's
    replies, the keyboard's descriptor replies, and the keyboard interface's driver."""
    with System() as system:
        system.add_controller()
        replies = Replies(system)
        system.plug(hub, "1-1")
        system.settle()
        system.plug(keyboards[0], "1-1.1")
        system.settle()
        system.unplug("1-1.1")
        system.settle()
        system.plug(keyboards[1], "1-1.1")
        system.settle()
        uevent = system.vfs.read_text("/sys/bus/usb/devices/1-1.1/1-1.1:1.0/uevent")
        hub_uevent = system.vfs.read_text("/sys/bus/usb/devices/1-1/1-1:1.0/uevent")
        replies.close()
    assert "DRIVER=hub" in hub_uevent.splitlines()
    driver = next(line for line in uevent.splitlines() if line.startswith("DRIVER="))
    descriptors = [r for r in replies.of(4) if r[0].startswith(("80 06", "81 06"))]
    return replies.of(2), descriptors, driver


def test_a_cloned_hub_answers_every_hub_request_with_the_originals_bytes() -> None:
    original = run_machine(Hub(), (BootKeyboard(), BootKeyboard()))
    copy = run_machine(cloned(Hub()), (cloned(BootKeyboard()), cloned(BootKeyboard())))
    hub_requests = {setup[:5] for setup, _, _ in original[0]}
    # device, config, string and hub descriptors; hub and port status; port features
    assert {"80 06", "a0 06", "a0 00", "a3 00", "23 03", "23 01"} <= hub_requests
    assert copy[0] == original[0]
    assert copy[1] == original[1] and len(copy[1]) > 4
    assert copy[2] == original[2] == "DRIVER=usbhid"


def test_a_cloned_hub_enumerates_at_full_speed_on_the_clone_of_a_full_speed_hub() -> None:
    original = run_machine(Hub(speed=Speed.FULL), (BootKeyboard(), BootKeyboard()))
    copy = run_machine(cloned(Hub(speed=Speed.FULL)),
                       (cloned(BootKeyboard()), cloned(BootKeyboard())))
    assert copy == original


def test_a_cloned_hub_leaves_its_bench_unplugged() -> None:
    hub = cloned(Hub())
    dump_clone(hub)
    with on_bench(hub):
        assert hub.state is DeviceState.ADDRESS
    assert hub.state is DeviceState.NOTATTACHED
