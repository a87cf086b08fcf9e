"""uas — counterpart of drivers/usb/storage/uas.c (Linux 6.12), the loadable module `uas`:
the USB Attached SCSI driver, as far as usbemu can have it.

Its id table is Linux's: the bridges of unusual_uas.h and every mass-storage interface of
the SCSI subclass with the Bulk-Only (0x50) or UAS (0x62) protocol — a UAS device shows
Bulk-Only as altsetting 0 and UAS as altsetting 1, so uas is offered Bulk-Only interfaces
too, and its probe decides (`uas_use_uas_driver`, uas_detect.py).  A Bulk-Only device
without a UAS altsetting is declined quietly (-ENODEV) and usb-storage takes it.  A UAS
device is declined as well, with Linux's warning for a host controller that cannot do
scatter-gather: usbemu's URBs carry one flat buffer, so no usbemu bus offers what the UAS
driver needs, and usb-storage drives the device over its Bulk-Only altsetting — what
Linux does on such a controller.  The UAS protocol itself (command, status and data pipes,
IUs, streams) is therefore not implemented.  uas uses usb-storage's quirks parameter
(usb_stor_adjust_quirks), so it depends on the usb-storage module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from usbemu.core.devtable import UsbDeviceId, usb_interface_info
from usbemu.core.driver import UsbDriver, usb_deregister, usb_register
from usbemu.core.usb import UsbDevice, UsbInterface
from usbemu.core.usbcore import current_usbcore
from usbemu.errors import Errno
from usbemu.kernel.module import (
    module_author,
    module_description,
    module_device_table,
    module_exit,
    module_info,
    module_init,
    module_license,
    this_module,
)
from usbemu.spec.ch9 import ClassCode
from usbemu.spec.storage import StorageProtocol, StorageSubclass

from .uas_detect import AdjustQuirks, uas_use_uas_driver
from .unusual_devs import UNUSUAL_UAS

__all__ = ["uas_driver", "uas_probe", "uas_usb_ids"]

DRV_NAME: Final = "uas"


def _usb_storage_adjust_quirks() -> AdjustQuirks:
    """The usb_stor_adjust_quirks symbol of the loaded usb-storage module (the module
    this one uses), or — outside a load — the importable one's."""
    me = this_module()
    for used in me.uses if me is not None else ():
        if used.name == "usb_storage" and used.pymodule is not None:
            found: AdjustQuirks = vars(used.pymodule)["usb_stor_adjust_quirks"]
            return found
    from . import usb
    return usb.usb_stor_adjust_quirks


def _no_quirks(udev: UsbDevice, fflags: int) -> int:
    return fflags


#: usb_stor_adjust_quirks as resolved when the module was loaded.
adjust_quirks: AdjustQuirks = _no_quirks

#: uas_usb_ids: unusual_uas.h, then SCSI over Bulk-Only and over UAS.
uas_usb_ids: Final[Sequence[UsbDeviceId]] = module_device_table("usb", (
    *(entry.id for entry in UNUSUAL_UAS),
    usb_interface_info(ClassCode.MASS_STORAGE, StorageSubclass.SCSI, StorageProtocol.BULK),
    usb_interface_info(ClassCode.MASS_STORAGE, StorageSubclass.SCSI, StorageProtocol.UAS),
    UsbDeviceId(),
))


async def uas_probe(intf: UsbInterface, id: UsbDeviceId) -> int:
    """uas_probe(): an interface uas_use_uas_driver() does not give to uas is declined
    with -ENODEV — on usbemu's buses, which do no scatter-gather, every one (a UAS device
    after the warning).  Context: may sleep."""
    uas_use_uas_driver(intf, id, adjust_quirks)
    return -Errno.ENODEV


uas_driver = UsbDriver(DRV_NAME, id_table=uas_usb_ids, probe=uas_probe)


async def uas_init() -> int:
    """uas_init(): resolve usb-storage's quirks, register the driver.  0 or -errno.
    Context: may sleep."""
    global adjust_quirks
    adjust_quirks = _usb_storage_adjust_quirks()
    try:
        await usb_register(current_usbcore(), uas_driver)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    return 0


async def uas_exit() -> None:
    """uas_exit(): deregister the driver.  Context: may sleep."""
    await usb_deregister(current_usbcore(), uas_driver)


module_init(uas_init)
module_exit(uas_exit)

module_description("USB Attached SCSI driver")
module_license("GPL")
module_info("depends", "usb-storage")
module_author("Hans de Goede <hdegoede@redhat.com>, Matthew Wilcox and Sarah Sharp")
