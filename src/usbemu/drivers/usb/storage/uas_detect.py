"""UAS detection — counterpart of drivers/usb/storage/uas-detect.h (Linux 6.12), which both
usb-storage and uas include.

`uas_use_uas_driver` decides whether an interface is for the uas driver: it must have an
altsetting of class 8, subclass 6, protocol 0x62 (USB Attached SCSI) whose four endpoints
carry Pipe Usage descriptors, must not be a bridge known to break UAS (ASMedia ASM1051,
the HIKSEMI MD202, IGNORE_UAS from unusual_uas.h or the quirks parameter), and its host
controller must do scatter-gather.  usbemu's URBs carry one flat buffer — there is no
urb->sg — so every bus has an sg_tablesize of 0, and a UAS device gets Linux's warning for
such a controller and is left to usb-storage, which drives it over its Bulk-Only
altsetting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from usbemu.core.devtable import UsbDeviceId
from usbemu.core.usb import UsbDevice, UsbHostEndpoint, UsbHostInterface, UsbInterface
from usbemu.spec.ch9 import ClassCode, Speed
from usbemu.spec.storage import StorageProtocol, StorageSubclass

from .us_data import UsFlag

__all__ = [
    "SG_TABLESIZE",
    "USB_DT_PIPE_USAGE",
    "AdjustQuirks",
    "uas_find_endpoints",
    "uas_find_uas_alt_setting",
    "uas_is_interface",
    "uas_use_uas_driver",
]

#: The Pipe Usage descriptor of a UAS endpoint (its `extra`): bPipeID 1 command, 2 status,
#: 3 data-in, 4 data-out.
USB_DT_PIPE_USAGE: Final = 0x24
#: bus->sg_tablesize of every usbemu bus: URBs have no scatter-gather list.
SG_TABLESIZE: Final = 0

#: usb_stor_adjust_quirks(udev, fflags) as the loaded usb-storage module exports it.
AdjustQuirks = Callable[[UsbDevice, int], int]


def uas_is_interface(alt: UsbHostInterface) -> bool:
    """uas_is_interface(): a mass-storage SCSI altsetting with the UAS protocol."""
    d = alt.desc
    return (d.bInterfaceClass == ClassCode.MASS_STORAGE
            and d.bInterfaceSubClass == StorageSubclass.SCSI
            and d.bInterfaceProtocol == StorageProtocol.UAS)


def uas_find_uas_alt_setting(intf: UsbInterface) -> UsbHostInterface | None:
    """uas_find_uas_alt_setting(): the interface's first UAS altsetting, or None."""
    return next((alt for alt in intf.altsetting if uas_is_interface(alt)), None)


def _pipe_id(ep: UsbHostEndpoint) -> int:
    """The bPipeID of the first Pipe Usage descriptor in the endpoint's extra bytes, 0
    when there is none."""
    extra = ep.extra
    at = 0
    while len(extra) - at >= 3:
        if extra[at + 1] == USB_DT_PIPE_USAGE:
            return extra[at + 2]
        if extra[at] == 0:
            break
        at += extra[at]
    return 0


def uas_find_endpoints(alt: UsbHostInterface) -> list[UsbHostEndpoint] | None:
    """uas_find_endpoints(): the command, status, data-in and data-out endpoints by their
    Pipe Usage descriptors, or None (-ENODEV) when one is missing."""
    eps: list[UsbHostEndpoint | None] = [None, None, None, None]
    for ep in alt.endpoint:
        pipe_id = _pipe_id(ep)
        if 0 < pipe_id < 5:
            eps[pipe_id - 1] = ep
    found = [ep for ep in eps if ep is not None]
    return found if len(found) == 4 else None


#: ASMedia ASM1051/1053/1153 bridges share these ids.
_ASMEDIA: Final = (0x174C, frozenset({0x5106, 0x55AA}))


def _bridge_flags(udev: UsbDevice, flags: int) -> int:
    """The bridges uas-detect.h knows by more than their ids."""
    desc = udev.descriptor
    if desc is None:
        return flags
    vid, pid = desc.idVendor, desc.idProduct
    if vid == _ASMEDIA[0] and pid in _ASMEDIA[1]:
        config = udev.actconfig
        if config is not None and config.desc.bMaxPower == 0:
            pass                                 # ASM1153: works
        elif udev.speed < Speed.SUPER:
            flags |= UsFlag.IGNORE_UAS           # no streams info: assume ASM1051
        else:
            flags |= UsFlag.MAX_SECTORS_240      # ASM1053: large transfers fail
    if vid == 0x0BC2:                            # every Seagate enclosure
        flags |= UsFlag.NO_ATA_1X
    if (vid == 0x0BDA and pid == 0x9210 and udev.manufacturer == "HIKSEMI"
            and udev.product == "MD202"):
        flags |= UsFlag.IGNORE_UAS
    return flags


def uas_use_uas_driver(intf: UsbInterface, id: UsbDeviceId,
                       adjust_quirks: AdjustQuirks) -> UsFlag | None:
    """uas_use_uas_driver(): the US_FL_* flags to drive the interface with when uas
    should, else None to leave it to usb-storage — always None on usbemu's buses, which
    do no scatter-gather ("The driver for the USB controller %s does not support
    scatter-gather which is" / "required by the UAS driver. …").  Context: atomic."""
    alt = uas_find_uas_alt_setting(intf)
    if alt is None or uas_find_endpoints(alt) is None:
        return None
    udev = intf.usb_dev
    log = udev.usb_bus.core.log
    flags = adjust_quirks(udev, _bridge_flags(udev, int(id.driver_info)
                                              if isinstance(id.driver_info, int) else 0))
    if flags & UsFlag.IGNORE_UAS:
        log.dev_warn(udev, "UAS is ignored for this device, using usb-storage instead")
        return None
    if SG_TABLESIZE == 0:
        description = udev.usb_bus.hcd.description
        log.dev_warn(udev, f"The driver for the USB controller {description} does not "
                           "support scatter-gather which is")
        log.dev_warn(udev, "required by the UAS driver. Please try an other USB controller "
                           "if you wish to use UAS.")
        return None
    return UsFlag(flags)
