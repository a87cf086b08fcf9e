"""Cloning a device of this machine through pyusb and libusb — the user-space side of the
control requests Linux's usbfs passes to a device (drivers/usb/core/devio.c,
`proc_control`), which is what libusb uses on Linux.

`clone_from_usb("0627:0001")` finds the device (by vendor:product, or bus:devnum as lsusb
shows them), reads it with `usbemu.emulated.clone.read_device` through `pyusb_control`
and returns its clone model.  Everything goes through pyusb's `ctrl_transfer`, except
SET_CONFIGURATION, which is pyusb's `set_configuration` (usbfs keeps the kernel's view of
the configuration in step).  A request to an interface makes pyusb claim it; an interface
bound to a kernel driver (usbhid) cannot be claimed, so with `detach=True` the driver is
detached for the request and attached again after it.  What is missing on the machine —
pyusb (the `usbemu[clone]` extra), a libusb backend, the permission to open the device —
is a `UsbAccessError` that says what to install or do.  pyusb is imported only when a
device is cloned.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

from ..emulated.clone import ClonedDevice, ClonedHub, ControlTransfer, clone_from_control
from ..errors import Errno, UsbError, UsbStall, UsbTimeout
from ..spec.ch9 import Request, Speed

__all__ = ["PYUSB_MISSING", "UsbAccessError", "UsbSelector", "clone_from_usb",
           "find_usb_device", "parse_usb_selector", "pyusb_control"]

PYUSB_MISSING: Final = "pyusb is not installed: pip install 'usbemu[clone]'"
NO_BACKEND: Final = ("pyusb found no libusb backend: install libusb 1.0 (Debian: apt install "
                     "libusb-1.0-0)")
#: libusb's speed codes (libusb_get_device_speed), as pyusb's `Device.speed` gives them.
LIBUSB_SPEEDS: Final = {1: Speed.LOW, 2: Speed.FULL, 3: Speed.HIGH, 4: Speed.SUPER,
                        5: Speed.SUPER_PLUS}
_TIMEOUT_MS: Final = 5000  # USB_CTRL_GET_TIMEOUT
_VENDOR_PRODUCT: Final = re.compile(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})")
_BUS_DEVNUM: Final = re.compile(r"(\d{1,3}):(\d{1,3})")
_DIR_IN: Final = 0x80
_STD_OUT_DEVICE: Final = 0x00
_RECIPIENT_MASK: Final = 0x03
_RECIPIENT_INTERFACE: Final = 0x01
_TYPE_MASK: Final = 0x60
_TYPE_VENDOR: Final = 0x40


class UsbAccessError(RuntimeError):
    """The machine cannot reach the device: pyusb or a libusb backend is missing, the
    device cannot be opened, or an interface is held by a kernel driver."""


@dataclass(frozen=True)
class UsbSelector:
    """Which device to clone: `vendor`:`product`, or `bus`:`devnum` (one pair is set)."""

    vendor: int | None = None
    product: int | None = None
    bus: int | None = None
    devnum: int | None = None

    def __str__(self) -> str:
        if self.vendor is not None:
            return f"{self.vendor:04x}:{self.product or 0:04x}"
        return f"{self.bus or 0:03d}:{self.devnum or 0:03d}"

    def matches(self, device: Any) -> bool:
        """True for the pyusb device this selector names."""
        if self.vendor is not None:
            return bool(device.idVendor == self.vendor and device.idProduct == self.product)
        return bool(device.bus == self.bus and device.address == self.devnum)


def parse_usb_selector(text: str) -> UsbSelector:
    """`VVVV:PPPP` (four hex digits each, as lsusb -d takes them) or `BUS:DEVNUM` (decimal,
    one to three digits each, as in lsusb's "Bus 001 Device 004").  Raises ValueError
    saying what is accepted."""
    if match := _VENDOR_PRODUCT.fullmatch(text):
        return UsbSelector(vendor=int(match[1], 16), product=int(match[2], 16))
    if match := _BUS_DEVNUM.fullmatch(text):
        return UsbSelector(bus=int(match[1]), devnum=int(match[2]))
    raise ValueError(f"{text!r} is neither VVVV:PPPP (vendor:product, four hex digits each, "
                     "e.g. 0627:0001) nor BUS:DEVNUM (decimal, e.g. 1:4 or 001:004)")


def _pyusb() -> tuple[ModuleType, ModuleType]:
    """pyusb's `usb.core` and `usb.util`."""
    try:
        import usb.core
        import usb.util
    except ImportError:
        raise UsbAccessError(PYUSB_MISSING) from None
    return usb.core, usb.util


def find_usb_device(selector: UsbSelector, backend: object | None = None) -> Any:
    """The one pyusb device `selector` names, found with `backend` (None: the libusb
    backend pyusb finds).  Raises UsbAccessError when pyusb or a backend is missing,
    LookupError when no device or more than one matches (naming them)."""
    core, _ = _pyusb()
    try:
        found = list(core.find(find_all=True, backend=backend, custom_match=selector.matches))
    except core.NoBackendError:
        raise UsbAccessError(NO_BACKEND) from None
    if not found:
        raise LookupError(f"no USB device {selector} on this machine (lsusb lists them)")
    if len(found) > 1:
        where = ", ".join(f"{d.bus:03d}:{d.address:03d}" for d in found)
        raise LookupError(f"{len(found)} USB devices {selector}, at {where}: name one by "
                          "BUS:DEVNUM")
    return found[0]


def _where(device: Any) -> str:
    return f"/dev/bus/usb/{device.bus or 0:03d}/{device.address or 0:03d}"


def _usb_error(exc: Any, device: Any, wIndex: int, to_interface: bool) -> Exception:
    """The exception for a pyusb USBError: a STALL, a timeout, the device held or closed
    to us, or another failure with its errno."""
    code = getattr(exc, "errno", None)
    if code == errno.EPIPE:
        return UsbStall(-Errno.EPIPE)
    if code == errno.ETIMEDOUT:
        return UsbTimeout(-Errno.ETIMEDOUT)
    if code == errno.EACCES:
        return UsbAccessError(f"{_where(device)}: permission denied; run as root, or let "
                              "your user open it (a udev rule)")
    if code == errno.EBUSY and to_interface:
        return UsbAccessError(
            f"{_where(device)}: interface {wIndex & 0xFF} is bound to a kernel driver, so "
            "its class descriptors cannot be read through usbfs; add --detach (the driver "
            "is detached while they are read, then attached again), or clone the device "
            "from its sysfs directory")
    return UsbError(-(code or Errno.EIO))


@contextmanager
def _detached(device: Any, interface: int) -> Iterator[None]:
    """The interface's kernel driver detached for the block, then attached again."""
    if not device.is_kernel_driver_active(interface):
        yield
        return
    device.detach_kernel_driver(interface)
    try:
        yield
    finally:
        _pyusb()[1].release_interface(device, interface)
        device.attach_kernel_driver(interface)


def pyusb_control(device: Any, *, detach: bool = False,
                  timeout_ms: int = _TIMEOUT_MS) -> ControlTransfer:
    """A `ControlTransfer` on a pyusb device.  SET_CONFIGURATION is pyusb's
    `set_configuration`; a request to an interface detaches its kernel driver for the
    time of the request when `detach` is set.  Context: blocking.  The callable raises
    UsbStall for a STALL, UsbTimeout, UsbAccessError (permission, an interface held by a
    kernel driver) or UsbError."""
    core, _ = _pyusb()

    def transfer(bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                 wLength: int) -> bytes:
        if (bmRequestType, bRequest) == (_STD_OUT_DEVICE, Request.SET_CONFIGURATION):
            device.set_configuration(wValue)
            return b""
        is_in = bool(bmRequestType & _DIR_IN)
        reply = device.ctrl_transfer(bmRequestType, bRequest, wValue, wIndex,
                                     wLength if is_in else b"", timeout_ms)
        return bytes(reply) if is_in else b""

    def control(bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                wLength: int) -> bytes:
        to_interface = (bmRequestType & _RECIPIENT_MASK == _RECIPIENT_INTERFACE
                        and bmRequestType & _TYPE_MASK != _TYPE_VENDOR)
        try:
            if detach and to_interface:
                with _detached(device, wIndex & 0xFF):
                    return transfer(bmRequestType, bRequest, wValue, wIndex, wLength)
            return transfer(bmRequestType, bRequest, wValue, wIndex, wLength)
        except core.USBError as exc:
            raise _usb_error(exc, device, wIndex, to_interface) from None
    return control


def _speed(device: Any) -> Speed:
    """The device's speed as libusb reports it; high speed when libusb cannot tell."""
    return LIBUSB_SPEEDS.get(getattr(device, "speed", None) or 0, Speed.HIGH)


def clone_from_usb(spec: str | UsbSelector, *, detach: bool = False,
                   backend: object | None = None) -> ClonedDevice | ClonedHub:
    """Clone the device `spec` names (`parse_usb_selector`) by reading it through pyusb
    (`backend`: None for the libusb backend pyusb finds).  Context: blocking.  Raises
    ValueError for a bad `spec`, LookupError when it names no device or several,
    UsbAccessError (see `pyusb_control`), CloneError when the device's answers do not make
    a device, UsbError when a transfer fails."""
    selector = spec if isinstance(spec, UsbSelector) else parse_usb_selector(spec)
    device = find_usb_device(selector, backend)
    source = f"usb {device.bus or 0:03d}:{device.address or 0:03d}"
    try:
        return clone_from_control(pyusb_control(device, detach=detach), _speed(device), source)
    finally:
        _pyusb()[1].dispose_resources(device)
