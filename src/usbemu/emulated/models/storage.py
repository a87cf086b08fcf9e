"""A USB mass-storage device (a disk in one word: `storage`) — the Linux-USB File-backed
Storage Gadget (g_mass_storage, drivers/usb/gadget/legacy/mass_storage.c) as a host sees it
on dummy_hcd, declared as static descriptor tables in the manner of QEMU's
hw/usb/dev-storage.c.

0525:a4a5, one interface of class 8, SCSI subclass 6, Bulk-Only protocol 0x50 with bulk IN
0x81 and bulk OUT 0x01: 512-byte packets at high speed (the default; 64 in the other-speed
configuration) or 64 at full speed.  Behind them a `BulkOnlyTransport` (usbemu.emulated.
bulk_only) and one or more `ScsiLun`s (usbemu.emulated.scsi_target), each holding a
`Medium`: a disk image on the host (sparse, read-write or read-only) or a disk in memory.
Media can be ejected and inserted while plugged in, and one-shot faults make the device
answer wrong for host-side recovery tests.

`preset="qemu"` makes it QEMU's usb-storage instead (hw/usb/dev-storage.c with the
scsi-disk of hw/scsi/scsi-disk.c behind it): 46f4:0001 "QEMU" "QEMU USB HARDDRIVE", serial
"1", bulk IN 0x81 and OUT 0x02, self-powered at 0 mA, a fixed disk "QEMU     QEMU HARDDISK
2.5+" that answers as `usbemu.emulated.scsi_profiles.QEMU_SCSI_DISK` — the device of the
reference capture of Linux 6.12 (tests/golden/linux-6.12-ehci-kbd-storage).

What it does not do: the CD-ROM mode of g_mass_storage, or UAS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import ClassVar, Final

from ...spec.ch9 import ClassCode, Speed
from ...spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    DeviceQualifier,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from ...spec.storage import StorageProtocol, StorageSubclass
from ..bulk_only import BulkOnlyDevice, BulkOnlyTransport, StorageFault
from ..scsi_profiles import GADGET, QEMU_SCSI_DISK, ScsiProfile
from ..scsi_target import ImageMedium, Medium, MemoryMedium, ScsiLun, ScsiTarget

__all__ = [
    "BULK_IN",
    "BULK_OUT",
    "DEFAULT_SERIAL",
    "DEFAULT_SIZE",
    "PRESETS",
    "MassStorage",
    "StorageFault",
    "StoragePreset",
    "open_medium",
]

BULK_IN: Final = 0x81
BULK_OUT: Final = 0x01
#: The size of a memory disk, and of an image created without `size`.
DEFAULT_SIZE: Final = 64 << 20
#: A 12-hex-digit serial number, as the Bulk-Only spec (§4.1.1) asks and as the old
#: file-backed storage gadget made its own: the hex of its version string's first six
#: characters ("2009/0" of g_mass_storage's DRIVER_VERSION "2009/09/11").
DEFAULT_SERIAL: Final = "323030392F30"
#: composite_default_mfr(): "<sysname> <release> with <udc name>".
MANUFACTURER: Final = "Linux 6.12.0 with dummy_udc"
PRODUCT: Final = "File-backed Storage Gadget"
#: f_mass_storage's interface string.
INTERFACE: Final = "Mass Storage"


def _config(maxpacket: int) -> ConfigDescriptor:
    """g_mass_storage's one configuration: self-powered, 2 mA (CONFIG_USB_GADGET_VBUS_DRAW),
    bulk IN before bulk OUT as f_mass_storage lists them."""
    return ConfigDescriptor(
        interfaces=(InterfaceDescriptor(
            ClassCode.MASS_STORAGE, StorageSubclass.SCSI, StorageProtocol.BULK,
            endpoints=(EndpointDescriptor.bulk(BULK_IN, maxpacket),
                       EndpointDescriptor.bulk(BULK_OUT, maxpacket)),
            iInterface=INTERFACE),),
        bmAttributes=0xC0, bMaxPower=1)


#: At high speed, with the full-speed configuration as the other-speed one.
HIGH_SPEED: Final = DeviceDescriptor(
    idVendor=0x0525, idProduct=0xA4A5, bcdDevice=0x0612, bcdUSB=0x0200, bMaxPacketSize0=64,
    iManufacturer=MANUFACTURER, iProduct=PRODUCT, iSerialNumber=DEFAULT_SERIAL,
    configurations=(_config(512),), other_speed_configurations=(_config(64),))
#: At full speed only.
FULL_SPEED: Final = replace(HIGH_SPEED, configurations=(_config(64),),
                            other_speed_configurations=())



@dataclass(frozen=True)
class StoragePreset:
    """One firmware a `MassStorage` can be: its descriptors at each speed it runs at, its
    bulk endpoints, the SCSI identity of its units (`vendor`, `product`, `revision`, the
    RMB bit), its serial number and the `ScsiProfile` its units answer with."""

    name: str
    speeds: Mapping[Speed, DeviceDescriptor]
    bulk_in: int
    bulk_out: int
    vendor: str
    product: str
    revision: str
    serial: str
    removable: bool
    scsi: ScsiProfile


#: g_mass_storage on dummy_hcd.
GADGET_PRESET: Final = StoragePreset(
    "gadget", MappingProxyType({Speed.HIGH: HIGH_SPEED, Speed.FULL: FULL_SPEED}),
    BULK_IN, BULK_OUT, "USBemu", "Mass Storage", "1.00", DEFAULT_SERIAL, True, GADGET)


def _qemu_config(maxpacket: int, iConfiguration: int) -> ConfigDescriptor:
    """usb-storage's one configuration (desc_device_full / desc_device_high): self-powered,
    0 mA, bulk IN 0x81 and bulk OUT 0x02, no interface string."""
    return ConfigDescriptor(
        interfaces=(InterfaceDescriptor(
            ClassCode.MASS_STORAGE, StorageSubclass.SCSI, StorageProtocol.BULK,
            endpoints=(EndpointDescriptor.bulk(0x81, maxpacket),
                       EndpointDescriptor.bulk(0x02, maxpacket))),),
        iConfiguration=iConfiguration, bmAttributes=0xC0, bMaxPower=0)


#: usb-storage's string table (desc_strings: STR_MANUFACTURER .. STR_CONFIG_SUPER).  QEMU
#: appends the controller and port to the serial number ("1-0000:00:02.0-2") unless its
#: `serial` property is set; a model does not know where it is plugged, so it says "1".
QEMU_STORAGE_STRINGS: Final[Mapping[int, str]] = MappingProxyType({
    1: "QEMU", 2: "QEMU USB HARDDRIVE", 3: "1", 4: "Full speed config (usb 1.1)",
    5: "High speed config (usb 2.0)", 6: "Super speed config (usb 3.0)"})
_QEMU_FULL: Final = DeviceDescriptor(
    idVendor=0x46F4, idProduct=0x0001, bcdDevice=0x0000, bcdUSB=0x0200, bMaxPacketSize0=8,
    iManufacturer=1, iProduct=2, iSerialNumber=3, strings=QEMU_STORAGE_STRINGS,
    configurations=(_qemu_config(64, 4),), other_speed_configurations=(_qemu_config(512, 5),),
    qualifier=DeviceQualifier(0x0200, bMaxPacketSize0=64))
_QEMU_HIGH: Final = replace(
    _QEMU_FULL, bMaxPacketSize0=64, configurations=_QEMU_FULL.other_speed_configurations,
    other_speed_configurations=_QEMU_FULL.configurations,
    qualifier=DeviceQualifier(0x0200, bMaxPacketSize0=8))

#: QEMU's usb-storage (46f4:0001, "CRC16() of QEMU") with a scsi-disk: a fixed disk.
QEMU_PRESET: Final = StoragePreset(
    "qemu", MappingProxyType({Speed.HIGH: _QEMU_HIGH, Speed.FULL: _QEMU_FULL}),
    0x81, 0x02, "QEMU", "QEMU HARDDISK", "2.5+", "1", False, QEMU_SCSI_DISK)

#: The presets by name: `MassStorage(preset=...)`, `storage preset=qemu`.
PRESETS: Final[Mapping[str, StoragePreset]] = MappingProxyType(
    {preset.name: preset for preset in (GADGET_PRESET, QEMU_PRESET)})


def open_medium(image: str | os.PathLike[str] | None, size: int | None = None, *,
                read_only: bool = False, block_size: int = 512) -> Medium:
    """The medium a model's options describe: `image` a host file (`ImageMedium`: its
    own size, or `size`, or DEFAULT_SIZE when it is created), else a memory disk of `size`
    (DEFAULT_SIZE when None).  Raises ValueError naming the option for a size or block
    size that does not fit, or an image that cannot be opened (with the system's reason).
    Context: opens (and may create or extend) a host file; call it when building a model."""
    if image is None:
        return MemoryMedium(DEFAULT_SIZE if size is None else size, block_size=block_size,
                            read_only=read_only)
    path = os.fspath(image)
    if size is None and (not os.path.exists(path) or os.path.getsize(path) == 0):
        size = None if read_only else DEFAULT_SIZE
    try:
        return ImageMedium(path, size=size, read_only=read_only, block_size=block_size)
    except OSError as exc:
        raise ValueError(f"image={path!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"image={path!r}: {exc}") from None


class MassStorage(BulkOnlyDevice):
    """A USB disk: one or more LUNs behind the Bulk-Only Transport.

    Options: `image` a disk image on the host (created sparse when missing; read-only with
    `read_only`); without it a memory disk of `size` bytes (64 MiB; `size` also sizes a
    new image or extends a short one).  `luns` instead gives every LUN's medium (None: an
    empty slot), up to 16.  `read_only` sets the write-protect switch of every LUN;
    `removable` the RMB bit; `vendor`, `product`, `revision` the SCSI INQUIRY identity
    (8, 16 and 4 characters); `serial` the iSerialNumber (LUN n's unit serial is it
    followed by n); `speed` high (512-byte bulk packets) or full (64); `stall_get_max_lun`
    makes GET MAX LUN STALL; `block_size` the logical block size of the media it creates.
    `preset` picks the firmware (`PRESETS`: "gadget", the default, or "qemu"), which gives
    the descriptors, endpoints and SCSI profile, and the defaults of `removable`,
    `vendor`, `product`, `revision` and `serial`.
    Raises ValueError for a bad option (naming it), TypeError for `luns` that are not media.
    Context: not atomic when it opens an image (host file I/O); the model itself is, as
    every model.
    """

    model_name: ClassVar[str] = "storage"
    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = HIGH_SPEED

    def __init__(self, image: str | os.PathLike[str] | None = None, *,
                 size: int | None = None, luns: Sequence[Medium | None] | None = None,
                 read_only: bool = False, speed: Speed = Speed.HIGH,
                 removable: bool | None = None, vendor: str | None = None,
                 product: str | None = None, revision: str | None = None,
                 serial: str | None = None, stall_get_max_lun: bool = False,
                 block_size: int = 512, preset: str = "gadget") -> None:
        chosen = PRESETS.get(preset)
        if chosen is None:
            raise ValueError(f"preset={preset!r}: one of {', '.join(PRESETS)}")
        desc = chosen.speeds.get(speed)
        if desc is None:
            raise ValueError(f"speed={speed!r}: a mass-storage device runs at high or full "
                             "speed")
        serial = chosen.serial if serial is None else serial
        if serial != chosen.serial:
            desc = _with_serial(desc, serial)
        super().__init__(desc, speed=speed)
        media = _media(image, size, luns, read_only, block_size)
        units = [ScsiLun(medium, removable=chosen.removable if removable is None else removable,
                         vendor=chosen.vendor if vendor is None else vendor,
                         product=chosen.product if product is None else product,
                         revision=chosen.revision if revision is None else revision,
                         write_protect=read_only, serial=f"{serial}{n}" if n else serial,
                         profile=chosen.scsi)
                 for n, medium in enumerate(media)]
        self.preset = chosen
        self.stall_get_max_lun = stall_get_max_lun
        self.bulk_only = BulkOnlyTransport(self, ScsiTarget(units), bulk_in=chosen.bulk_in,
                                           bulk_out=chosen.bulk_out)


def _with_serial(desc: DeviceDescriptor, serial: str) -> DeviceDescriptor:
    """`desc` with `serial` as its serial-number string (QEMU's `serial` property)."""
    index = desc.iSerialNumber
    if isinstance(index, int) and desc.strings:
        return replace(desc, strings=MappingProxyType({**desc.strings, index: serial}))
    return replace(desc, iSerialNumber=serial)


def _media(image: str | os.PathLike[str] | None, size: int | None,
           luns: Sequence[Medium | None] | None, read_only: bool,
           block_size: int) -> list[Medium | None]:
    if luns is None:
        return [open_medium(image, size, read_only=read_only, block_size=block_size)]
    if image is not None or size is not None:
        raise ValueError("luns= gives every medium: it excludes image= and size=")
    given: object = luns
    if isinstance(given, str | bytes) or not isinstance(given, Sequence):
        raise TypeError(f"luns={luns!r}: a list of Medium objects (or None for an empty "
                        "slot); a single image goes in image=")
    for n, medium in enumerate(luns):
        if medium is not None and not isinstance(medium, Medium):
            raise TypeError(f"luns[{n}]: a Medium or None, not {type(medium).__name__}")
    return list(luns)
