"""usb_lock_device_for_reset / usb_unlock_device (core/usb.py): the device lock a driver
takes around usb_reset_device, and each reason Linux gives for not taking it — a device
gone, a device suspended, an interface being unbound, a lock held for over a second."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.core.usb import (
    InterfaceCondition,
    UsbDevice,
    UsbInterface,
    usb_lock_device_for_reset,
    usb_unlock_device,
)
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno
from usbemu.spec.ch9 import DeviceState
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.modules.autoload = False
        machine.add_controller()
        machine.insmod("pen_driver")              # the interface is bound
        machine.plug(PenDrive(), "1-1")
        machine.settle()
        yield machine


def _device(system: System) -> tuple[UsbDevice, UsbInterface]:
    udev = system.find_device("1-1")
    assert udev is not None
    intf = udev.interface(0)
    assert intf is not None and intf.condition is InterfaceCondition.BOUND
    return udev, intf


def test_the_lock_is_taken_and_given_back(system: System) -> None:
    udev, intf = _device(system)

    async def lock() -> int:
        return await usb_lock_device_for_reset(udev, intf)

    assert system.run(lock()) == 0
    assert udev.lock.locked()
    usb_unlock_device(udev)
    assert not udev.lock.locked()


def test_a_lock_held_for_a_second_is_given_up(system: System) -> None:
    udev, _ = _device(system)

    async def contend() -> tuple[int, float]:
        await udev.lock.acquire()
        loop = system.loop
        start = loop.time()
        try:
            return await usb_lock_device_for_reset(udev, None), loop.time() - start
        finally:
            udev.lock.release()

    result, waited = system.run(contend())
    assert result == -Errno.EBUSY and 1.0 <= waited < 1.05


def test_a_lock_released_meanwhile_is_taken(system: System) -> None:
    udev, _ = _device(system)

    async def contend() -> int:
        await udev.lock.acquire()
        system.loop.call_later(0.3, udev.lock.release)
        return await usb_lock_device_for_reset(udev, None)

    assert system.run(contend()) == 0
    usb_unlock_device(udev)


@pytest.mark.parametrize(("state", "condition", "code"), [
    (DeviceState.NOTATTACHED, None, -Errno.ENODEV),
    (DeviceState.SUSPENDED, None, -Errno.EHOSTUNREACH),
    (None, InterfaceCondition.UNBINDING, -Errno.EINTR),
    (None, InterfaceCondition.UNBOUND, -Errno.EINTR),
])
def test_refusals(system: System, state: DeviceState | None,
                  condition: InterfaceCondition | None, code: int) -> None:
    udev, intf = _device(system)
    saved = udev.state, intf.condition
    if state is not None:
        udev.state = state
    if condition is not None:
        intf.condition = condition

    async def lock() -> int:
        return await usb_lock_device_for_reset(udev, intf)

    try:
        assert system.run(lock()) == code
        assert not udev.lock.locked()
    finally:
        udev.state, intf.condition = saved


def test_a_device_gone_while_waiting_ends_the_wait(system: System) -> None:
    udev, intf = _device(system)

    async def contend() -> int:
        await udev.lock.acquire()
        system.loop.call_later(0.1, lambda: setattr(udev, "state", DeviceState.NOTATTACHED))
        try:
            return await usb_lock_device_for_reset(udev, intf)
        finally:
            udev.lock.release()

    try:
        assert system.run(contend()) == -Errno.ENODEV
    finally:
        udev.state = DeviceState.CONFIGURED
