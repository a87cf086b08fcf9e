"""The HID model base (usbemu.emulated.hid): QEMU's device tables, and on a whole machine on
virtual time, the machine's clock reaching the models and the host's interrupt polling
pacing their reports — driven by a raw interrupt URB, no HID driver bound."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.core.urb import PIPE_INTERRUPT, Urb, make_pipe, usb_kill_urb, usb_submit_urb
from usbemu.emulated.hid import QEMU_HID_STRINGS, HidDevice, QemuString, qemu_hid_device
from usbemu.emulated.hid_script import Script
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.keyboard import BootKeyboard
from usbemu.emulated.models.mouse import BootMouse
from usbemu.spec.ch9 import Speed
from usbemu.spec.descriptors import ConfigDescriptor, DeviceDescriptor, InterfaceDescriptor
from usbemu.system import System


def test_qemu_string_table() -> None:
    assert QEMU_HID_STRINGS[QemuString.MANUFACTURER] == "QEMU"
    assert QEMU_HID_STRINGS[QemuString.PRODUCT_TABLET] == "QEMU USB Tablet"
    assert QEMU_HID_STRINGS[QemuString.SERIAL_KEYBOARD] == "68284"
    assert list(QEMU_HID_STRINGS) == list(range(1, 12))


def test_qemu_device_versions() -> None:
    def interface(interval: int) -> InterfaceDescriptor:
        return InterfaceDescriptor(3)

    full, speed = qemu_hid_device(1, product=QemuString.PRODUCT_MOUSE,
                                  serial=QemuString.SERIAL_MOUSE,
                                  configuration=QemuString.CONFIG_MOUSE,
                                  interface=interface, intervals=(10, 7))
    assert (full.bcdUSB, full.bMaxPacketSize0, speed, full.qualifier) == (0x0100, 8, Speed.FULL,
                                                                          None)
    high, speed = qemu_hid_device(2, product=QemuString.PRODUCT_MOUSE,
                                  serial=QemuString.SERIAL_MOUSE,
                                  configuration=QemuString.CONFIG_MOUSE,
                                  interface=interface, intervals=(10, 7))
    assert (high.bcdUSB, high.bMaxPacketSize0, speed) == (0x0200, 64, Speed.HIGH)
    assert high.other_speed_configurations == full.configurations
    with pytest.raises(ValueError, match="usb_version=0: QEMU's HID devices are USB 1"):
        qemu_hid_device(0, product=QemuString.PRODUCT_MOUSE, serial=QemuString.SERIAL_MOUSE,
                        configuration=QemuString.CONFIG_MOUSE, interface=interface,
                        intervals=(10, 7))


def test_a_hid_model_needs_its_hid_descriptor() -> None:
    class Bare(BootMouse):
        descriptor = DeviceDescriptor(idVendor=1, idProduct=2, configurations=(
            ConfigDescriptor(interfaces=(InterfaceDescriptor(3),)),))

    with pytest.raises(ValueError, match="a HID model needs a HID interface with its HID "
                                         "descriptor in `extra`"):
        Bare()
    with pytest.raises(TypeError, match="abstract"):
        HidDevice(BootMouse.descriptor)  # type: ignore[abstract]


# -- on a machine ---------------------------------------------------------------------------------


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.modules.autoload = False  # no HID driver: the test's URB is the only reader
        machine.add_controller()
        yield machine


def test_plugged_models_get_the_machines_clock_through_hubs(system: System) -> None:
    mouse, hub, kbd = BootMouse(), Hub(), BootKeyboard()
    system.plug(mouse, "1-1")
    system.plug(hub, "1-2")
    system.settle()
    system.plug(kbd, "1-2.3")
    system.settle()
    assert mouse.clock is system.loop and hub.clock is system.loop and kbd.clock is system.loop
    system.sleep(25)
    assert kbd.now() == system.time()
    system.unplug("1-2")
    assert kbd.clock is None


def read_reports(system: System, model: BootMouse, interval: int, duration_ms: float,
                 script: Script) -> list[tuple[float, bytes]]:
    """Play `script` on the mouse at 1-1 while an interrupt URB with `interval` is
    resubmitted from its completion: (ms since the start, report) for each completion."""
    system.plug(model, "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    got: list[tuple[float, bytes]] = []
    start = system.time()

    def complete(urb: Urb) -> None:
        got.append((round((system.time() - start) * 1000, 3),
                    bytes(urb.transfer_buffer[:urb.actual_length])))
        if urb.status == 0:
            assert usb_submit_urb(urb) == 0

    urb = Urb().fill_int(udev, make_pipe(udev, PIPE_INTERRUPT, 1, True), bytearray(4), 4,
                         complete, None, interval)
    model.play(script)
    assert usb_submit_urb(urb) == 0
    system.sleep(duration_ms)
    system.run(usb_kill_urb(urb))
    return [(ms, data) for ms, data in got if data]


def test_reports_come_at_most_once_per_interval_and_motion_merges(system: System) -> None:
    script = Script()
    for _ in range(40):  # 5 counts right every millisecond for 40 ms
        script.move(5, 0).wait(1)
    script.at(25).click("left")
    got = read_reports(system, BootMouse(), 10, 100, script)
    # Linux polls the low-speed bInterval 10 endpoint every 8 ms (rounded down to a power of
    # two); the mouse's firmware has a report ready once per 10 ms.
    assert got == [
        (0.0, bytes((0x00, 5, 0, 0))),    # the move due at 0 ms
        (10.0, bytes((0x00, 50, 0, 0))),  # 1 … 10 ms
        (20.0, bytes((0x00, 50, 0, 0))),  # 11 … 20 ms
        (30.0, bytes((0x00, 25, 0, 0))),  # 21 … 25 ms, then the click: a new report
        (40.0, bytes((0x01, 0, 0, 0))),   # the press
        (50.0, bytes((0x00, 70, 0, 0))),  # the release, with 26 … 39 ms
    ]


def test_a_slower_host_gets_fewer_reports_with_more_motion(system: System) -> None:
    script = Script()
    for _ in range(40):
        script.move(5, 0).wait(1)
    got = read_reports(system, BootMouse(), 32, 100, script)
    assert got == [(0.0, bytes((0, 5, 0, 0))), (32.0, bytes((0, 127, 0, 0))),
                   (64.0, bytes((0, 68, 0, 0)))]
