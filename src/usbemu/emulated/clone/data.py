"""What a clone carries — the device's side of everything a Linux host reads from it while
it enumerates it (drivers/usb/core/hub.c, config.c, message.c) and while its class driver
binds (usbhid's hid-core.c `usbhid_parse`, hub.c `get_hub_descriptor`).

`CloneData` keeps those answers as the bytes the original device sent: the sysfs
`descriptors` dump (device descriptor and configurations), the device qualifier, the
other-speed configurations, the BOS descriptor, the LANGID table and every string in every
language, the HID report descriptor of each interface and, for a hub, its hub descriptor.
It is plain data: where the bytes come from (a clone file, sysfs, the device itself) and
the device model that answers with them are the other modules of this package.  Nothing
here checks that the bytes make a device; `usbemu.emulated.clone.model` does that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from ...spec.ch9 import LANGID_EN_US, ClassCode, DescriptorSize, Speed

__all__ = ["MAX_CLONE_SOURCE_SIZE", "MAX_DESCRIPTORS_SIZE", "SPEED_NAMES", "SYSFS_SPEEDS",
           "CloneData", "CloneError"]

SPEED_NAMES: Final[Mapping[str, Speed]] = {
    "low": Speed.LOW, "full": Speed.FULL, "high": Speed.HIGH,
    "super": Speed.SUPER, "super-plus": Speed.SUPER_PLUS,
}
#: The sysfs `speed` attribute's values (drivers/usb/core/sysfs.c, speed_show).
SYSFS_SPEEDS: Final[Mapping[str, Speed]] = {
    "1.5": Speed.LOW, "12": Speed.FULL, "480": Speed.HIGH, "5000": Speed.SUPER,
    "10000": Speed.SUPER_PLUS, "20000": Speed.SUPER_PLUS,
}

#: The largest `descriptors` file there can be: the 18-byte device descriptor, then 255
#: configurations (bNumConfigurations is a byte) of 65535 bytes each (wTotalLength is 16
#: bits) — 16,711,443 bytes.
MAX_DESCRIPTORS_SIZE: Final = 18 + 255 * 65535
#: The most `load_clone` reads of a file: room for the largest descriptors dump written as
#: hex text ("xx " a byte and a line break every 16 bytes: 51.2 MB) and the rest of what a
#: clone carries.  Anything longer (/dev/zero) is not a clone file or a dump.
MAX_CLONE_SOURCE_SIZE: Final = 64 * 1024 * 1024


class CloneError(ValueError):
    """A clone file, dump or device that cannot be used; the message names the source and
    the field at fault."""


@dataclass(frozen=True)
class CloneData:
    """Everything a clone answers with, as the original device sent it.

    - `descriptors`: the sysfs `descriptors` file — the 18-byte device descriptor, then
      each configuration (GET_DESCRIPTOR(CONFIG) with wTotalLength bytes).
    - `speed`: the speed the original ran at.
    - `languages`: the LANGID table (string descriptor 0) in the device's order; empty for
      a device that STALLs string descriptor 0.
    - `strings`: LANGID → string index → text.  A language of `languages` that has no
      table here answers with the first language's strings.
    - `qualifier`: the DEVICE_QUALIFIER descriptor (None: the device STALLs it).
    - `other_speed`: each OTHER_SPEED_CONFIGURATION descriptor (type 7), in index order.
    - `bos`: the BOS descriptor with its capabilities (None: none).
    - `report_descriptors`: interface number → HID report descriptor.
    - `hub_descriptor`: a hub's class descriptor (type 0x29, or 0x2A at SuperSpeed).
    """

    descriptors: bytes
    speed: Speed = Speed.HIGH
    languages: tuple[int, ...] = (LANGID_EN_US,)
    strings: Mapping[int, Mapping[int, str]] = field(default_factory=dict)
    qualifier: bytes | None = None
    other_speed: tuple[bytes, ...] = ()
    bos: bytes | None = None
    report_descriptors: Mapping[int, bytes] = field(default_factory=dict)
    hub_descriptor: bytes | None = None

    @property
    def device_bytes(self) -> bytes:
        """The device descriptor: the first 18 bytes of `descriptors`."""
        return self.descriptors[:DescriptorSize.DEVICE]

    @property
    def is_hub(self) -> bool:
        """True for a hub: it carries a hub descriptor, or bDeviceClass is 9."""
        return (self.hub_descriptor is not None
                or (len(self.descriptors) > 4 and self.descriptors[4] == ClassCode.HUB))

    def primary_strings(self) -> Mapping[int, str]:
        """index → text in the first language (nothing without a LANGID table)."""
        if not self.languages:
            return {}
        return self.strings.get(self.languages[0], {})

    def strings_in(self, langid: int) -> Mapping[int, str]:
        """index → text in `langid`: its own table, else the first language's."""
        table = self.strings.get(langid)
        return table if table is not None else self.primary_strings()
