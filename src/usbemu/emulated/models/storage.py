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

What it does not do: the CD-ROM mode of g_mass_storage, or UAS.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar, Final

from ...spec.ch9 import ClassCode, Speed
from ...spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from ...spec.storage import StorageProtocol, StorageSubclass
from ..bulk_only import BulkOnlyDevice, BulkOnlyTransport, StorageFault
from ..scsi_target import ImageMedium, Medium, MemoryMedium, ScsiLun, ScsiTarget

__all__ = ["BULK_IN", "BULK_OUT", "DEFAULT_SERIAL", "DEFAULT_SIZE", "MassStorage",
           "StorageFault", "open_medium"]

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

_SPEEDS: Final = {Speed.HIGH: HIGH_SPEED, Speed.FULL: FULL_SPEED}


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
    Raises ValueError for a bad option (naming it), TypeError for `luns` that are not media.
    Context: not atomic when it opens an image (host file I/O); the model itself is, as
    every model.
    """

    model_name: ClassVar[str] = "storage"
    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = HIGH_SPEED

    def __init__(self, image: str | os.PathLike[str] | None = None, *,
                 size: int | None = None, luns: Sequence[Medium | None] | None = None,
                 read_only: bool = False, speed: Speed = Speed.HIGH, removable: bool = True,
                 vendor: str = "USBemu", product: str = "Mass Storage",
                 revision: str = "1.00", serial: str = DEFAULT_SERIAL,
                 stall_get_max_lun: bool = False, block_size: int = 512) -> None:
        desc = _SPEEDS.get(speed)
        if desc is None:
            raise ValueError(f"speed={speed!r}: a mass-storage gadget runs at high or full "
                             "speed")
        if serial != DEFAULT_SERIAL:
            desc = replace(desc, iSerialNumber=serial)
        super().__init__(desc, speed=speed)
        media = _media(image, size, luns, read_only, block_size)
        units = [ScsiLun(medium, removable=removable, vendor=vendor, product=product,
                         revision=revision, write_protect=read_only,
                         serial=f"{serial}{n}" if n else serial)
                 for n, medium in enumerate(media)]
        self.stall_get_max_lun = stall_get_max_lun
        self.bulk_only = BulkOnlyTransport(self, ScsiTarget(units), bulk_in=BULK_IN,
                                           bulk_out=BULK_OUT)


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
