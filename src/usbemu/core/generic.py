"""The generic USB device driver — counterpart of drivers/usb/core/generic.c.

`generic_driver()` is the device driver named "usb" that binds every USB device no
specialised device driver wants: its probe chooses a configuration with
`usb_choose_configuration` (Linux's rules: power budget, audio/UAC3, RNDIS/ActiveSync, the
first non-vendor-specific class) and sets it, which registers the interfaces so that
interface drivers can bind; its disconnect unconfigures a device that is unbound while
still present.  Which driver gets a device is decided by the bus (`driver.py`);
suspend/resume of whole devices is not modelled here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..errors import Errno
from ..spec.ch9 import ClassCode
from .driver import UsbDeviceDriver
from .message import usb_set_configuration

if TYPE_CHECKING:
    from ..spec.descriptors import InterfaceDescriptor
    from .usb import UsbDevice, UsbHostConfig

__all__ = ["GenericDriver", "generic_driver", "usb_choose_configuration"]

UAC_VERSION_3: Final = 0x30
"""bInterfaceProtocol of a USB Audio Class 3.0 interface (include/uapi/linux/usb/audio.h)."""

RNDIS_HOST_ENABLED: Final = True
"""CONFIG_USB_NET_RNDIS_HOST(_MODULE): set in the reference kernel (Debian 6.12, =m), so a
first configuration speaking RNDIS or ActiveSync is kept as a candidate rather than
skipped."""

#: (class, subclass, protocol) of Microsoft's Ethernet-over-USB interfaces: RNDIS (is_rndis)
#: and ActiveSync (is_activesync).
_MS_ETHERNET: Final = frozenset({(ClassCode.COMM, 2, 0xFF), (ClassCode.MISC, 1, 1)})


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


def _first_interface(config: UsbHostConfig) -> InterfaceDescriptor | None:
    """intf_cache[0]->altsetting[0]: the first altsetting read of the first interface."""
    return next((alts[0] for alts in config.intf_cache.values() if alts), None)


def _triple(desc: InterfaceDescriptor) -> tuple[int, int, int]:
    return desc.bInterfaceClass, desc.bInterfaceSubClass, desc.bInterfaceProtocol


def _pick(udev: UsbDevice) -> tuple[UsbHostConfig | None, int]:
    """The rules of usb_choose_configuration's loop: (best config, configs rejected for
    lack of bus power)."""
    desc = udev.descriptor
    vendor_device = desc is not None and desc.bDeviceClass == ClassCode.VENDOR_SPEC
    configs = udev.config
    best: UsbHostConfig | None = None
    insufficient = 0
    for i, config in enumerate(configs):
        first = _first_interface(config)
        if config.desc.max_power_ma(udev.speed) > udev.bus_mA:
            insufficient += 1
            continue
        if first is not None and first.bInterfaceClass == ClassCode.AUDIO:
            if first.bInterfaceProtocol == UAC_VERSION_3:
                return config, insufficient
            best = config if i == 0 else best
            continue
        if i == 0 and len(configs) > 1 and first is not None and _triple(first) in _MS_ETHERNET:
            if RNDIS_HOST_ENABLED:
                best = config
        elif not vendor_device and first is not None \
                and first.bInterfaceClass != ClassCode.VENDOR_SPEC:
            return config, insufficient
        elif best is None:
            best = config
    return best, insufficient


def usb_choose_configuration(udev: UsbDevice) -> int:
    """usb_choose_configuration(): the bConfigurationValue to install, or -1 for none.

    -1 when no device driver is bound, 0 when usbfs owns the device's port, the bound
    driver's own `choose_configuration` when it returns ≥ 0; otherwise Linux's rules, with
    "rejected %d configuration%s due to insufficient available bus power" and "no
    configuration chosen from %d choice%s".  Context: atomic (reads cached descriptors).
    """
    from .hub import usb_device_is_owned

    log = udev.usb_bus.core.log
    drv = udev.driver
    if not isinstance(drv, UsbDeviceDriver):
        return -1
    if usb_device_is_owned(udev):
        return 0
    own = drv.choose_configuration(udev)
    if own >= 0:
        return own
    best, insufficient = _pick(udev)
    if insufficient:
        log.dev_info(udev, f"rejected {insufficient} configuration{_plural(insufficient)} "
                           "due to insufficient available bus power")
    count = len(udev.config)
    if best is None:
        log.dev_warn(udev, f"no configuration chosen from {count} choice{_plural(count)}")
        return -1
    log.dev_dbg(udev, f"configuration #{best.value} chosen from {count} "
                      f"choice{_plural(count)}")
    return best.value


class GenericDriver(UsbDeviceDriver):
    """usb_generic_driver: the device driver "usb"."""

    supports_autosuspend = True

    def __init__(self) -> None:
        super().__init__("usb")

    async def probe(self, udev: UsbDevice) -> int:
        """usb_generic_driver_probe(): choose and set a configuration; a failure to set it
        is logged ("can't set config #%d, error %d") but the device stays bound.  Always 0.
        Context: may sleep."""
        log = udev.usb_bus.core.log
        if not udev.authorized:
            log.dev_err(udev, "Device is not authorized for usage")
            return 0
        choice = usb_choose_configuration(udev)
        if choice >= 0:
            err = await usb_set_configuration(udev, choice)
            if err and err != -Errno.ENODEV:
                log.dev_err(udev, f"can't set config #{choice}, error {err}")
        return 0

    async def disconnect(self, udev: UsbDevice) -> None:
        """usb_generic_driver_disconnect(): an unbind (not an unplug — usb_disconnect has
        already dropped the configuration then) unconfigures the device.  Context: may sleep."""
        if udev.actconfig is not None:
            await usb_set_configuration(udev, -1)


def generic_driver() -> UsbDeviceDriver:
    """A new instance of the generic device driver "usb" (one per machine; usbcore
    registers it at start-up).  Context: atomic."""
    return GenericDriver()
