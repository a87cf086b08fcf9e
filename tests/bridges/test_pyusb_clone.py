"""Cloning a device through pyusb (usbemu.bridges.pyusb_clone).

pyusb runs for real; where libusb would talk to the hardware, a pyusb backend of this test
(`ModelBackend`, pyusb's `IBackend`) runs each request on an emulated model, with the
kernel drivers of a real machine simulated as interfaces that cannot be claimed until
they are detached.
"""

from __future__ import annotations

import errno
import re
import struct
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("usb.core", reason="pyusb (the clone extra) is not installed")

import usb.backend
import usb.core

from usbemu.bridges.pyusb_clone import (
    NO_BACKEND,
    PYUSB_MISSING,
    UsbAccessError,
    UsbSelector,
    clone_from_usb,
    parse_usb_selector,
    pyusb_control,
)
from usbemu.emulated.clone import (
    ClonedHub,
    ControlTransfer,
    clone_data_of,
    on_bench,
)
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.keyboard import BootKeyboard
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import UsbStall
from usbemu.spec.ch9 import Speed
from usbemu.spec.config import parse_configuration

LIBUSB_SPEED = {Speed.LOW: 1, Speed.FULL: 2, Speed.HIGH: 3, Speed.SUPER: 4}


@dataclass
class Plugged:
    """One emulated device as the backend shows it: where it is, its model on a bench,
    the interfaces a kernel driver holds, and what happened to them."""

    bus: int
    address: int
    model: DeviceModel
    control: ControlTransfer
    bound: set[int] = field(default_factory=set)
    events: list[str] = field(default_factory=list)


class ModelBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend whose devices are emulated models."""

    def __init__(self, devices: list[Plugged]) -> None:
        super().__init__()
        self.devices = devices

    def enumerate_devices(self) -> Iterator[Plugged]:
        return iter(self.devices)

    def get_device_descriptor(self, dev: Plugged) -> Any:
        raw = dev.model.descriptors.device_bytes
        fields = ["bLength", "bDescriptorType", "bcdUSB", "bDeviceClass", "bDeviceSubClass",
                  "bDeviceProtocol", "bMaxPacketSize0", "idVendor", "idProduct", "bcdDevice",
                  "iManufacturer", "iProduct", "iSerialNumber", "bNumConfigurations"]
        values = struct.unpack("<BBHBBBBHHHBBBB", raw[:18])
        return SimpleNamespace(**dict(zip(fields, values, strict=True)), bus=dev.bus,
                               address=dev.address, port_number=1, port_numbers=(1,),
                               speed=LIBUSB_SPEED[dev.model.speed])

    def get_configuration_descriptor(self, dev: Plugged, config: int) -> Any:
        raw = dev.model.descriptors.config_bytes[config]
        tree = parse_configuration(raw, config).config
        return SimpleNamespace(bLength=raw[0], bDescriptorType=raw[1],
                               wTotalLength=tree.wTotalLength,
                               bNumInterfaces=tree.bNumInterfaces,
                               bConfigurationValue=tree.bConfigurationValue,
                               iConfiguration=tree.iConfiguration,
                               bmAttributes=tree.bmAttributes, bMaxPower=tree.bMaxPower,
                               extra_descriptors=[])

    def open_device(self, dev: Plugged) -> Plugged:
        dev.events.append("open")
        return dev

    def close_device(self, handle: Plugged) -> None:
        handle.events.append("close")

    def set_configuration(self, handle: Plugged, value: int) -> None:
        handle.events.append(f"set_configuration {value}")
        handle.control(0x00, 9, value, 0, 0)

    def claim_interface(self, handle: Plugged, intf: int) -> None:
        if intf in handle.bound:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        handle.events.append(f"claim {intf}")

    def release_interface(self, handle: Plugged, intf: int) -> None:
        handle.events.append(f"release {intf}")

    def is_kernel_driver_active(self, handle: Plugged, intf: int) -> bool:
        return intf in handle.bound

    def detach_kernel_driver(self, handle: Plugged, intf: int) -> None:
        handle.bound.discard(intf)
        handle.events.append(f"detach {intf}")

    def attach_kernel_driver(self, handle: Plugged, intf: int) -> None:
        handle.bound.add(intf)
        handle.events.append(f"attach {intf}")

    def ctrl_transfer(self, handle: Plugged, bmRequestType: int, bRequest: int, wValue: int,
                      wIndex: int, data: Any, timeout: int) -> int:
        try:
            reply = handle.control(bmRequestType, bRequest, wValue, wIndex,
                                   len(data) if bmRequestType & 0x80 else 0)
        except UsbStall:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE) from None
        data[:len(reply)] = type(data)("B", reply)
        return len(reply) if bmRequestType & 0x80 else len(data)


@pytest.fixture
def machine() -> Iterator[tuple[ModelBackend, list[Plugged]]]:
    """A keyboard at 001:004 (configured, usbhid holding interface 0), a pen drive at
    001:005 and a hub at 002:002 (configured), as a kernel leaves them."""
    with ExitStack() as stack:
        devices = []
        for bus, address, model, bound in ((1, 4, BootKeyboard(), {0}),
                                           (1, 5, PenDrive(), set()),
                                           (2, 2, Hub(), set())):
            control = stack.enter_context(on_bench(model))
            control(0x00, 9, 1, 0, 0)
            devices.append(Plugged(bus, address, model, control, bound))
        yield ModelBackend(devices), devices


def test_a_device_is_cloned_through_pyusb(machine: tuple[ModelBackend, list[Plugged]]
                                          ) -> None:
    backend, devices = machine
    clone = clone_from_usb("1:5", backend=backend)
    expected = clone_data_of(PenDrive())
    assert clone.clone.descriptors == expected.descriptors
    assert (clone.clone.qualifier, clone.clone.other_speed) == (expected.qualifier,
                                                                expected.other_speed)
    assert clone.speed is Speed.HIGH
    assert devices[1].events == ["open", "close"]


def test_a_hub_is_cloned_as_a_working_hub(machine: tuple[ModelBackend, list[Plugged]]) -> None:
    backend, _ = machine
    hub = clone_from_usb("002:002", backend=backend)
    assert isinstance(hub, ClonedHub)
    assert hub.clone.hub_descriptor == Hub().hub_descriptor.to_bytes()


def test_an_interface_held_by_a_kernel_driver_needs_detach(
        machine: tuple[ModelBackend, list[Plugged]]) -> None:
    backend, devices = machine
    with pytest.raises(UsbAccessError) as info:
        clone_from_usb("0627:0001", backend=backend)
    assert str(info.value) == (
        "/dev/bus/usb/001/004: interface 0 is bound to a kernel driver, so its class "
        "descriptors cannot be read through usbfs; add --detach (the driver is detached "
        "while they are read, then attached again), or clone the device from its sysfs "
        "directory")
    keyboard = clone_from_usb("0627:0001", detach=True, backend=backend)
    expected = clone_data_of(BootKeyboard())
    assert keyboard.clone.descriptors == expected.descriptors
    assert keyboard.clone.report_descriptors == expected.report_descriptors
    assert keyboard.clone.strings == {0x0409: {1: "QEMU", 4: "QEMU USB Keyboard",
                                               8: "HID Keyboard", 11: "68284"}}
    assert keyboard.speed is Speed.FULL
    assert devices[0].bound == {0}
    assert devices[0].events[-5:] == ["detach 0", "claim 0", "release 0", "attach 0", "close"]


def test_an_unconfigured_device_is_configured_through_pyusb_for_its_class_descriptors(
        machine: tuple[ModelBackend, list[Plugged]]) -> None:
    backend, devices = machine
    devices[0].bound.clear()
    devices[0].control(0x00, 9, 0, 0, 0)
    keyboard = clone_from_usb("1:4", backend=backend)
    assert keyboard.clone.report_descriptors == clone_data_of(BootKeyboard()).report_descriptors
    assert [e for e in devices[0].events if e.startswith("set_")] == [
        "set_configuration 1", "set_configuration 0"]


def test_devices_that_are_not_there_or_ambiguous(
        machine: tuple[ModelBackend, list[Plugged]]) -> None:
    backend, devices = machine
    with pytest.raises(LookupError, match="no USB device 1234:5678 on this machine"):
        clone_from_usb("1234:5678", backend=backend)
    devices.append(Plugged(3, 9, PenDrive(), devices[1].control))
    with pytest.raises(LookupError, match="2 USB devices 058f:6387, at 001:005, 003:009: "
                                          "name one by BUS:DEVNUM"):
        clone_from_usb("058f:6387", backend=backend)


@pytest.mark.parametrize(("text", "selector"), [
    ("0627:0001", UsbSelector(vendor=0x0627, product=0x0001)),
    ("1:4", UsbSelector(bus=1, devnum=4)),
    ("001:004", UsbSelector(bus=1, devnum=4)),
])
def test_usb_selectors(text: str, selector: UsbSelector) -> None:
    assert parse_usb_selector(text) == selector


@pytest.mark.parametrize("text", ["", "0627", "1234:5", "1:2:3", "0627:00011", "x:y"])
def test_bad_usb_selectors_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="is neither VVVV:PPPP"):
        parse_usb_selector(text)


@pytest.mark.parametrize(("code", "kind", "message"), [
    (errno.EACCES, UsbAccessError, "/dev/bus/usb/001/005: permission denied; run as root"),
    (errno.ETIMEDOUT, OSError, "Connection timed out"),
    (errno.ENODEV, OSError, "No such device"),
])
def test_pyusb_errors_become_usbemus(code: int, kind: type[Exception], message: str) -> None:
    class Failing:
        bus, address = 1, 5

        def ctrl_transfer(self, *args: object) -> bytes:
            raise usb.core.USBError("failed", -1, code)

    control = pyusb_control(Failing())
    with pytest.raises(kind, match=message):
        control(0x80, 6, 0x0100, 0, 18)


def test_without_a_backend_the_error_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def none() -> None:
        return None
    for module in ("libusb1", "openusb", "libusb0"):
        monkeypatch.setattr(f"usb.backend.{module}.get_backend", lambda *a, **k: none())
    with pytest.raises(UsbAccessError, match=re.escape(NO_BACKEND)):
        clone_from_usb("0627:0001")


def test_without_pyusb_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usb", None)
    monkeypatch.setitem(sys.modules, "usb.core", None)
    with pytest.raises(UsbAccessError) as info:
        clone_from_usb("0627:0001")
    assert str(info.value) == PYUSB_MISSING == ("pyusb is not installed: pip install "
                                                "'usbemu[clone]'")
