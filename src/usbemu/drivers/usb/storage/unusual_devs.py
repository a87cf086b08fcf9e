"""The unusual-devices table — counterpart of drivers/usb/storage/unusual_devs.h and
unusual_uas.h (Linux 6.12).

Each entry is one line of the header: an `UNUSUAL_DEV` names a product by vendor, product
and bcdDevice range and says which protocol (subclass) and transport to use instead of the
interface descriptor's (`USB_SC_DEVICE` / `USB_PR_DEVICE`: keep the descriptor's), an
optional initialisation function and the US_FL_* quirks; a `USUAL_DEV` is a class entry
that takes every mass-storage interface of one subclass and transport.  usual_tables.py
turns the entries into usb-storage's id table (the flags travel as `driver_info`) and
usb.py finds an interface's entry by the id that matched.  What is here is a selection of
Linux's entries — the ones whose quirks usbemu's usb-storage and SCSI layer act on, the
UAS entries, and all the class entries — not the whole 2,500-line file; entries for
subdriver modules (ums-alauda, ums-karma …) are usual_tables.py's ignore list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from usbemu.core.devtable import UsbDeviceId, usb_device_ver, usb_interface_info
from usbemu.spec.ch9 import ClassCode
from usbemu.spec.storage import StorageProtocol, StorageSubclass

from .initializers import usb_stor_euscsi_init
from .us_data import InitFunction, UsFlag, UsUnusualDev

__all__ = [
    "UNUSUAL_DEVS",
    "UNUSUAL_UAS",
    "UnusualDevEntry",
    "compliant_dev",
    "unusual_dev",
    "usual_dev",
]


@dataclass(frozen=True, slots=True)
class UnusualDevEntry:
    """One line of unusual_devs.h: the id it puts in usb-storage's table (flags as
    `driver_info`) and the us_unusual_dev that goes with it."""

    id: UsbDeviceId
    dev: UsUnusualDev


def unusual_dev(idVendor: int, idProduct: int, bcdDeviceMin: int, bcdDeviceMax: int,
                vendorName: str, productName: str, useProtocol: int, useTransport: int,
                initFunction: InitFunction | None, flags: UsFlag | int) -> UnusualDevEntry:
    """UNUSUAL_DEV(): a product (USB_DEVICE_VER) with its overrides and quirks.  Raises
    ValueError for ids out of range."""
    return UnusualDevEntry(
        usb_device_ver(idVendor, idProduct, bcdDeviceMin, bcdDeviceMax,
                       driver_info=int(flags)),
        UsUnusualDev(vendorName, productName, useProtocol, useTransport, initFunction))


#: COMPLIANT_DEV(): a device that works correctly; the entry exists for CAPACITY_OK.
compliant_dev = unusual_dev


def usual_dev(useProtocol: int, useTransport: int) -> UnusualDevEntry:
    """USUAL_DEV(): every mass-storage interface of this subclass and transport
    (USB_INTERFACE_INFO), no quirks."""
    return UnusualDevEntry(
        usb_interface_info(ClassCode.MASS_STORAGE, useProtocol, useTransport),
        UsUnusualDev(None, None, useProtocol, useTransport, None))


_F = UsFlag
_SC = StorageSubclass
_PR = StorageProtocol
_DEV_SC, _DEV_PR = _SC.DEVICE, _PR.DEVICE

#: unusual_uas.h: the UAS bridges with quirks (usb-storage's table has them too).
UNUSUAL_UAS: Final[tuple[UnusualDevEntry, ...]] = (
    unusual_dev(0x054C, 0x087D, 0x0000, 0x9999, "Sony", "PSZ-HA*",
                _DEV_SC, _DEV_PR, None, _F.NO_REPORT_OPCODES),
    unusual_dev(0x059F, 0x105F, 0x0000, 0x9999, "LaCie", "2Big Quadra USB3",
                _DEV_SC, _DEV_PR, None, _F.NO_REPORT_OPCODES | _F.NO_SAME),
    unusual_dev(0x0984, 0x0301, 0x0128, 0x0128, "Apricorn", "",
                _DEV_SC, _DEV_PR, None, _F.IGNORE_UAS),
    unusual_dev(0x0BC2, 0x331A, 0x0000, 0x9999, "Seagate", "Expansion Desk",
                _DEV_SC, _DEV_PR, None, _F.NO_REPORT_LUNS),
    unusual_dev(0x13FD, 0x3940, 0x0000, 0x9999, "Initio Corporation", "INIC-3069",
                _DEV_SC, _DEV_PR, None, _F.NO_ATA_1X | _F.IGNORE_RESIDUE),
    unusual_dev(0x152D, 0x0578, 0x0000, 0x9999, "JMicron", "JMS567",
                _DEV_SC, _DEV_PR, None, _F.BROKEN_FUA),
    unusual_dev(0x2109, 0x0711, 0x0000, 0x9999, "VIA", "VL711",
                _DEV_SC, _DEV_PR, None, _F.NO_ATA_1X),
    unusual_dev(0x357D, 0x7788, 0x0000, 0x9999, "JMicron", "JMS566",
                _DEV_SC, _DEV_PR, None, _F.NO_REPORT_OPCODES | _F.IGNORE_UAS),
    unusual_dev(0x4971, 0x1012, 0x0000, 0x9999, "Hitachi", "External HDD",
                _DEV_SC, _DEV_PR, None, _F.IGNORE_UAS),
    unusual_dev(0x4971, 0x8024, 0x0000, 0x9999, "SimpleTech", "External HDD",
                _DEV_SC, _DEV_PR, None, _F.ALWAYS_SYNC),
)

#: The class entries that end unusual_devs.h: Control/Bulk, Control/Bulk/Interrupt and
#: Bulk-only transport for every subclass.
_USUAL: Final[tuple[UnusualDevEntry, ...]] = tuple(
    usual_dev(subclass, transport)
    for transport in (_PR.CB, _PR.CBI, _PR.BULK)
    for subclass in (_SC.RBC, _SC.SFF8020, _SC.QIC, _SC.UFI, _SC.SFF8070, _SC.SCSI))

#: unusual_devs.h, in its order (by vendor, then product), then unusual_uas.h, then the
#: class entries.
UNUSUAL_DEVS: Final[tuple[UnusualDevEntry, ...]] = (
    unusual_dev(0x03EB, 0x2002, 0x0100, 0x0100, "ATMEL", "SND1 Storage",
                _DEV_SC, _DEV_PR, None, _F.IGNORE_RESIDUE),
    unusual_dev(0x03F0, 0x0107, 0x0200, 0x0200, "HP", "CD-Writer+",
                _SC.SFF8070, _PR.CB, None, 0),
    unusual_dev(0x03F0, 0x070C, 0x0000, 0x0000, "HP", "Personal Media Drive",
                _DEV_SC, _DEV_PR, None, _F.SANE_SENSE),
    unusual_dev(0x03F0, 0x4002, 0x0001, 0x0001, "HP", "PhotoSmart R707",
                _DEV_SC, _DEV_PR, None, _F.FIX_CAPACITY),
    unusual_dev(0x03F3, 0x0001, 0x0000, 0x9999, "Adaptec", "USBConnect 2000",
                _DEV_SC, _DEV_PR, usb_stor_euscsi_init, _F.SCM_MULT_TARG),
    unusual_dev(0x0409, 0x0040, 0x0000, 0x9999, "NEC", "NEC USB UF000x",
                _DEV_SC, _DEV_PR, None, _F.SINGLE_LUN),
    unusual_dev(0x0411, 0x001C, 0x0113, 0x0113, "Buffalo", "DUB-P40G HDD",
                _DEV_SC, _DEV_PR, None, _F.FIX_INQUIRY),
    unusual_dev(0x0419, 0xAAF5, 0x0100, 0x0100, "TrekStor", "i.Beat 115 2.0",
                _DEV_SC, _DEV_PR, None, _F.IGNORE_RESIDUE | _F.NOT_LOCKABLE),
    unusual_dev(0x0421, 0x0019, 0x0592, 0x0610, "Nokia", "Nokia 6288",
                _DEV_SC, _DEV_PR, None, _F.MAX_SECTORS_64),
    unusual_dev(0x0421, 0x0433, 0x0100, 0x0100, "Nokia", "E70",
                _DEV_SC, _DEV_PR, None, _F.IGNORE_RESIDUE | _F.FIX_CAPACITY),
    unusual_dev(0x0451, 0x5416, 0x0100, 0x0100, "Neuros Audio", "USB 2.0 HD 2.5",
                _DEV_SC, _PR.BULK, None, _F.NEED_OVERRIDE),
    unusual_dev(0x0457, 0x0150, 0x0100, 0x0100, "USBest Technology",
                "USB Mass Storage Device", _DEV_SC, _DEV_PR, None, _F.NOT_LOCKABLE),
    unusual_dev(0x046B, 0xFF40, 0x0100, 0x0100, "AMI", "Virtual Floppy",
                _DEV_SC, _DEV_PR, None, _F.NO_WP_DETECT),
    unusual_dev(0x0480, 0xD010, 0x0100, 0x9999, "Toshiba", "External USB 3.0",
                _DEV_SC, _DEV_PR, None, _F.ALWAYS_SYNC),
    unusual_dev(0x04B8, 0x0602, 0x0110, 0x0110, "Epson", "785EPX Storage",
                _SC.SCSI, _PR.BULK, None, _F.SINGLE_LUN),
    unusual_dev(0x04CB, 0x0100, 0x0000, 0x2210, "Fujifilm", "FinePix 1400Zoom",
                _SC.UFI, _DEV_PR, None, _F.FIX_INQUIRY | _F.SINGLE_LUN),
    unusual_dev(0x04CE, 0x0002, 0x0000, 0x026B, "ScanLogic", "SL11R-IDE",
                _DEV_SC, _DEV_PR, None, _F.FIX_CAPACITY | _F.BULK_IGNORE_TAG),
    unusual_dev(0x04CE, 0x0002, 0x026C, 0x026C, "ScanLogic", "SL11R-IDE",
                _DEV_SC, _DEV_PR, None, _F.FIX_CAPACITY),
    unusual_dev(0x04E6, 0x0002, 0x0100, 0x0100, "Shuttle", "eUSCSI Bridge",
                _DEV_SC, _DEV_PR, usb_stor_euscsi_init, _F.SCM_MULT_TARG),
    unusual_dev(0x058F, 0x6387, 0x0141, 0x0141, "JetFlash", "TS1GJF2A/120",
                _DEV_SC, _DEV_PR, None, _F.MAX_SECTORS_64),
    unusual_dev(0x177F, 0x0400, 0x0000, 0x0000, "Yarvik", "PMP400",
                _DEV_SC, _DEV_PR, None, _F.BULK_IGNORE_TAG | _F.MAX_SECTORS_64),
    unusual_dev(0x1908, 0x1315, 0x0000, 0x0000, "BUILDWIN", "Photo Frame",
                _DEV_SC, _DEV_PR, None, _F.BAD_SENSE),
    unusual_dev(0x1949, 0x0004, 0x0000, 0x9999, "Amazon", "Kindle",
                _DEV_SC, _DEV_PR, None, _F.SENSE_AFTER_SYNC),
    unusual_dev(0x1B1C, 0x1AB5, 0x0200, 0x0200, "Corsair", "Padlock v2",
                _DEV_SC, _DEV_PR, None, _F.INITIAL_READ10),
    unusual_dev(0x1DE1, 0xC102, 0x0000, 0xFFFF, "Grain-media Technology Corp.",
                "USB3.0 Device GM12U320", _DEV_SC, _DEV_PR, None, _F.IGNORE_DEVICE),
    unusual_dev(0x1E68, 0x001B, 0x0000, 0x0000, "TrekStor GmbH & Co. KG",
                "DataStation maxi g.u", _DEV_SC, _DEV_PR, None,
                _F.IGNORE_RESIDUE | _F.SANE_SENSE),
    unusual_dev(0x2027, 0xA001, 0x0000, 0x9999, "Double-H Technology",
                "USB to SCSI Intelligent Cable", _DEV_SC, _DEV_PR, usb_stor_euscsi_init,
                _F.SCM_MULT_TARG),
    unusual_dev(0x2109, 0x0715, 0x9999, 0x9999, "VIA Labs, Inc.", "VL817 SATA Bridge",
                _DEV_SC, _DEV_PR, None, _F.IGNORE_UAS),
    unusual_dev(0x22B8, 0x6426, 0x0101, 0x0101, "Motorola", "MSnc.",
                _DEV_SC, _DEV_PR, None,
                _F.FIX_INQUIRY | _F.FIX_CAPACITY | _F.BULK_IGNORE_TAG),
    unusual_dev(0x2735, 0x100B, 0x0000, 0x9999, "MPIO", "HS200",
                _DEV_SC, _DEV_PR, None, _F.GO_SLOW),
    unusual_dev(0x4146, 0xBA01, 0x0100, 0x0100, "Iomega", "Micro Mini 1GB",
                _DEV_SC, _DEV_PR, None, _F.NOT_LOCKABLE),
    unusual_dev(0xE5B7, 0x0811, 0x0100, 0x0100, "ZhuHai JieLi Technology", "JieLi BR21",
                _DEV_SC, _DEV_PR, None, _F.IGNORE_DEVICE),
    unusual_dev(0xED06, 0x4500, 0x0001, 0x0001, "DataStor", "USB4500 FW1.04",
                _DEV_SC, _DEV_PR, None, _F.CAPACITY_HEURISTICS),
    *UNUSUAL_UAS,
    *_USUAL,
)
