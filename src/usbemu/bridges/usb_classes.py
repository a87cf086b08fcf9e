"""The USB-IF class, subclass and protocol names lsusb prints — the data of systemd's
hwdb.d/20-usb-classes.hwdb, which usbutils 018's names.c queries through udev's hwdb
(`ID_USB_CLASS_FROM_DATABASE` and its subclass / protocol keys).

The hwdb is generated from the "C" section of usb.ids by systemd's ids_parser.py, which
leaves out class 00, subclass 00 and every name that is "?", "None" or "Unused": so
`bDeviceClass 0` is "[unknown]" to lsusb 018 although usb.ids calls it "(Defined at
Interface level)".  The tables are built in because the hwdb comes with udev, not with
the usb.ids package; `hwdb_keeps` applies the same rule to a usb.ids file's own
"C" section.  Vendor and product names are not here: they come from usb.ids only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["CLASSES", "PROTOCOLS", "SUBCLASSES", "hwdb_keeps"]

CLASSES: Final[Mapping[int, str]] = MappingProxyType({
    0x01: "Audio",
    0x02: "Communications",
    0x03: "Human Interface Device",
    0x05: "Physical Interface Device",
    0x06: "Imaging",
    0x07: "Printer",
    0x08: "Mass Storage",
    0x09: "Hub",
    0x0a: "CDC Data",
    0x0b: "Chip/SmartCard",
    0x0d: "Content Security",
    0x0e: "Video",
    0x0f: "Personal Healthcare",
    0x10: "Audio/Video",
    0x11: "Billboard",
    0x12: "Type-C Bridge",
    0x13: "Bulk Display",
    0x14: "MCTCP over USB",
    0x3c: "I3C",
    0x58: "Xbox",
    0xdc: "Diagnostic",
    0xe0: "Wireless",
    0xef: "Miscellaneous Device",
    0xfe: "Application Specific Interface",
    0xff: "Vendor Specific Class",
})


SUBCLASSES: Final[Mapping[tuple[int, int], str]] = MappingProxyType({
    (0x01, 0x01): "Control Device",
    (0x01, 0x02): "Streaming",
    (0x01, 0x03): "MIDI Streaming",
    (0x02, 0x01): "Direct Line",
    (0x02, 0x02): "Abstract (modem)",
    (0x02, 0x03): "Telephone",
    (0x02, 0x04): "Multi-Channel",
    (0x02, 0x05): "CAPI Control",
    (0x02, 0x06): "Ethernet Networking (ECM)",
    (0x02, 0x07): "ATM Networking",
    (0x02, 0x08): "Wireless Handset Control",
    (0x02, 0x09): "Device Management",
    (0x02, 0x0a): "Mobile Direct Line",
    (0x02, 0x0b): "OBEX",
    (0x02, 0x0c): "Ethernet Emulation",
    (0x02, 0x0d): "Network Control Model (NCM)",
    (0x03, 0x01): "Boot Interface Subclass",
    (0x06, 0x01): "Still Image Capture",
    (0x07, 0x01): "Printer",
    (0x08, 0x01): "RBC (typically Flash)",
    (0x08, 0x02): "SFF-8020i, MMC-2 (ATAPI)",
    (0x08, 0x03): "QIC-157",
    (0x08, 0x04): "Floppy (UFI)",
    (0x08, 0x05): "SFF-8070i",
    (0x08, 0x06): "SCSI",
    (0x0e, 0x01): "Video Control",
    (0x0e, 0x02): "Video Streaming",
    (0x0e, 0x03): "Video Interface Collection",
    (0x10, 0x01): "AVData Control",
    (0x10, 0x02): "AVData Video Stream",
    (0x10, 0x03): "AVData Audio Stream",
    (0x14, 0x01): "MCTCP Host",
    (0x58, 0x42): "Controller",
    (0xdc, 0x01): "Reprogrammable Diagnostics",
    (0xe0, 0x01): "Radio Frequency",
    (0xe0, 0x02): "Wireless USB Wire Adapter",
    (0xef, 0x05): "USB3 Vision",
    (0xfe, 0x01): "Device Firmware Update",
    (0xfe, 0x02): "IRDA Bridge",
    (0xfe, 0x03): "Test and Measurement",
    (0xff, 0xff): "Vendor Specific Subclass",
})


PROTOCOLS: Final[Mapping[tuple[int, int, int], str]] = MappingProxyType({
    (0x02, 0x02, 0x01): "AT-commands (v.25ter)",
    (0x02, 0x02, 0x02): "AT-commands (PCCA101)",
    (0x02, 0x02, 0x03): "AT-commands (PCCA101 + wakeup)",
    (0x02, 0x02, 0x04): "AT-commands (GSM)",
    (0x02, 0x02, 0x05): "AT-commands (3G)",
    (0x02, 0x02, 0x06): "AT-commands (CDMA)",
    (0x02, 0x02, 0xfe): "Defined by command set descriptor",
    (0x02, 0x02, 0xff): "Vendor Specific (MSFT RNDIS?)",
    (0x02, 0x0c, 0x07): "Ethernet Emulation (EEM)",
    (0x03, 0x00, 0x01): "Keyboard",
    (0x03, 0x00, 0x02): "Mouse",
    (0x03, 0x01, 0x01): "Keyboard",
    (0x03, 0x01, 0x02): "Mouse",
    (0x06, 0x01, 0x01): "Picture Transfer Protocol (PIMA 15470)",
    (0x07, 0x01, 0x00): "Reserved/Undefined",
    (0x07, 0x01, 0x01): "Unidirectional",
    (0x07, 0x01, 0x02): "Bidirectional",
    (0x07, 0x01, 0x03): "IEEE 1284.4 compatible bidirectional",
    (0x07, 0x01, 0xff): "Vendor Specific",
    (0x08, 0x01, 0x00): "Control/Bulk/Interrupt",
    (0x08, 0x01, 0x01): "Control/Bulk",
    (0x08, 0x01, 0x50): "Bulk-Only",
    (0x08, 0x04, 0x00): "Control/Bulk/Interrupt",
    (0x08, 0x04, 0x01): "Control/Bulk",
    (0x08, 0x04, 0x50): "Bulk-Only",
    (0x08, 0x06, 0x00): "Control/Bulk/Interrupt",
    (0x08, 0x06, 0x01): "Control/Bulk",
    (0x08, 0x06, 0x50): "Bulk-Only",
    (0x09, 0x00, 0x00): "Full speed (or root) hub",
    (0x09, 0x00, 0x01): "Single TT",
    (0x09, 0x00, 0x02): "TT per port",
    (0x0a, 0x00, 0x30): "I.430 ISDN BRI",
    (0x0a, 0x00, 0x31): "HDLC",
    (0x0a, 0x00, 0x32): "Transparent",
    (0x0a, 0x00, 0x50): "Q.921M",
    (0x0a, 0x00, 0x51): "Q.921",
    (0x0a, 0x00, 0x52): "Q.921TM",
    (0x0a, 0x00, 0x90): "V.42bis",
    (0x0a, 0x00, 0x91): "Q.932 EuroISDN",
    (0x0a, 0x00, 0x92): "V.120 V.24 rate ISDN",
    (0x0a, 0x00, 0x93): "CAPI 2.0",
    (0x0a, 0x00, 0xfd): "Host Based Driver",
    (0x0a, 0x00, 0xfe): "CDC PUF",
    (0x0a, 0x00, 0xff): "Vendor specific",
    (0x14, 0x00, 0x01): "MCTCP 1.x",
    (0x14, 0x00, 0x02): "MCTCP 2.x",
    (0x14, 0x01, 0x01): "MCTCP 1.x",
    (0x14, 0x01, 0x02): "MCTCP 2.x",
    (0xdc, 0x01, 0x01): "USB2 Compliance",
    (0xe0, 0x01, 0x01): "Bluetooth",
    (0xe0, 0x01, 0x02): "Ultra WideBand Radio Control",
    (0xe0, 0x01, 0x03): "RNDIS",
    (0xe0, 0x02, 0x01): "Host Wire Adapter Control/Data Streaming",
    (0xe0, 0x02, 0x02): "Device Wire Adapter Control/Data Streaming",
    (0xe0, 0x02, 0x03): "Device Wire Adapter Isochronous Streaming",
    (0xef, 0x01, 0x01): "Microsoft ActiveSync",
    (0xef, 0x01, 0x02): "Palm Sync",
    (0xef, 0x02, 0x01): "Interface Association",
    (0xef, 0x02, 0x02): "Wire Adapter Multifunction Peripheral",
    (0xef, 0x03, 0x01): "Cable Based Association",
    (0xfe, 0x03, 0x01): "TMC",
    (0xfe, 0x03, 0x02): "USB488",
    (0xff, 0xff, 0xff): "Vendor Specific Protocol",
})


_DROPPED_NAME: Final = re.compile(r"(\?|None|Unused)\s*$")


def hwdb_keeps(name: str, *codes: int) -> bool:
    """Whether ids_parser.py puts a usb.ids "C" entry into the hwdb: `codes` is (class,),
    (class, subclass) or (class, subclass, protocol).  A class or subclass entry whose own
    code is 00, a protocol entry of class 00, and a name that is "?", "None" or "Unused"
    are left out.  Context: atomic.  Raises ValueError for 0 or more than 3 codes."""
    if not 1 <= len(codes) <= 3:
        raise ValueError(f"hwdb_keeps takes 1 to 3 codes (class, subclass, protocol), "
                         f"not {len(codes)}")
    zero_code = codes[0] if len(codes) == 3 else codes[-1]
    return zero_code != 0 and _DROPPED_NAME.match(name.strip()) is None
