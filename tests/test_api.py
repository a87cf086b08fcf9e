"""`import usbemu`: the public API with `__all__`, each name loaded on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import usbemu


def test_every_public_name_resolves_to_its_object() -> None:
    from usbemu.emulated.device import DeviceModel
    from usbemu.errors import UsbError
    from usbemu.system import System
    from usbemu.testing import virtual_machine

    assert usbemu.System is System and usbemu.DeviceModel is DeviceModel
    assert usbemu.UsbError is UsbError and usbemu.virtual_machine is virtual_machine
    for name in usbemu.__all__:
        assert getattr(usbemu, name) is not None, name
    assert set(usbemu.__all__) <= set(dir(usbemu))
    assert sorted(usbemu.__all__) == sorted(usbemu._EXPORTS)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'usbemu' has no attribute 'Nope'"):
        _ = usbemu.Nope  # type: ignore[attr-defined]


def test_importing_the_package_loads_nothing_else() -> None:
    code = ("import sys, usbemu; print(sorted(m for m in sys.modules "
            "if m.startswith('usbemu')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['usbemu']"


def test_a_machine_from_the_package_alone() -> None:
    with usbemu.virtual_machine() as system:
        system.plug(usbemu.DeviceModel(usbemu.DeviceDescriptor(
            idVendor=0x1209, idProduct=0x0001, configurations=(usbemu.ConfigDescriptor(
                interfaces=(usbemu.InterfaceDescriptor(0xFF),)),)), speed=usbemu.Speed.HIGH),
            "1-1")
        system.settle()
        assert system.vfs.read_text("/sys/bus/usb/devices/1-1/idVendor") == "1209\n"
