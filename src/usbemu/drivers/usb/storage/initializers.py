"""Device initialisation functions — counterpart of drivers/usb/storage/initializers.c.

An unusual_devs entry may name a function that usb-storage runs once, after the transport
is chosen and before the control thread starts (usb_stor_acquire_resources).  Only the
SCM eUSCSI bridge's is here; the mode-switching initialisers of cameras and modems
(ucr61s2b, huawei) are not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .transport import usb_stor_control_msg

if TYPE_CHECKING:
    from .us_data import UsData

__all__ = ["usb_stor_euscsi_init"]

#: USB_RECIP_INTERFACE | USB_TYPE_VENDOR, host to device.
_VENDOR_INTERFACE_OUT: Final = 0x41
_EUSCSI_INIT_REQUEST: Final = 0x0C


async def usb_stor_euscsi_init(us: UsData) -> int:
    """usb_stor_euscsi_init(): the vendor request 0x0C (wValue 1) that wakes an SCM
    eUSCSI bridge; its result is only logged (debug).  Returns 0.  Context: may sleep."""
    us.dbg("Attempting to init eUSCSI bridge...")
    result = await usb_stor_control_msg(us, us.send_ctrl_pipe, _EUSCSI_INIT_REQUEST,
                                        _VENDOR_INTERFACE_OUT, 0x01, 0x0, None, 0, 5000)
    us.dbg(f"-- result is {result}")
    return 0
