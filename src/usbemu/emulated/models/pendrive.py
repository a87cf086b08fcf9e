"""The pen drive of the "USB drivers in Linux" char-driver article — an Alcor Micro flash
drive (058f:6387) as lsusb shows it, declared as static descriptor tables in the manner of
QEMU's hw/usb/dev-storage.c.

A high-speed device with one mass-storage interface (class 8, SCSI subclass 6, bulk-only
protocol 0x50): bulk OUT 0x01 and bulk IN 0x82, 512-byte packets (64 at full speed, in the
other-speed configuration).  By default it is enough for the article's `pen_driver`, whose
read and write file operations move raw bytes with `usb_bulk_msg` on those two endpoints:
what is written to 0x01 is stored, and reads of 0x82 return it in order (a read with
nothing stored NAKs, so a blocking read times out as it would on the real stick).  In that
echo mode the mass-storage class requests (Get Max LUN, Bulk-Only reset) STALL.

With `storage=` the same device, same ids and endpoints, is a real mass-storage stick: the
Bulk-Only Transport of usbemu.emulated.bulk_only in front of one LUN ("Generic" "Flash
Disk" "8.07", as these sticks identify themselves) holding a disk image or a memory disk.
Raw reads then NAK and raw writes that are no CBW stall both pipes, which is what the
article's readers saw when they bypassed usb-storage on a real stick.
"""

from __future__ import annotations

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
from ..bulk_only import BulkOnlyDevice, BulkOnlyTransport
from ..device import endpoint_in, endpoint_out
from ..endpoint import Endpoint, Outcome
from ..scsi_target import ScsiLun, ScsiTarget
from .serial import ByteFifo
from .storage import open_medium

BULK_OUT: Final = 0x01
BULK_IN: Final = 0x82
DEFAULT_SERIAL: Final = "6E5C7D12"

#: The `storage` values that ask for a memory disk instead of an image file.
MEMORY_STORAGE: Final = frozenset({"memory", "mem"})


def _config(maxpacket: int) -> ConfigDescriptor:
    """The one configuration, with bulk endpoints of `maxpacket` bytes."""
    return ConfigDescriptor(
        interfaces=(InterfaceDescriptor(
            ClassCode.MASS_STORAGE, StorageSubclass.SCSI, StorageProtocol.BULK,
            endpoints=(EndpointDescriptor.bulk(BULK_OUT, maxpacket),
                       EndpointDescriptor.bulk(BULK_IN, maxpacket))),),
        bmAttributes=0x80, bMaxPower=50)


class PenDrive(BulkOnlyDevice):
    """Alcor Micro 058f:6387 pen drive: an echo store behind its bulk endpoints, or mass
    storage.

    Options: `serial` is the iSerialNumber text ("" for none); `capacity` bounds the bytes
    the echo store keeps: a write that would exceed it NAKs until reads make room (a write
    into an empty store is always taken, however large).  `storage` makes the drive a
    mass-storage device: "memory" (or "mem") for a memory disk, else the path of a disk
    image (created sparse when missing); `size` is then the disk's size in bytes (64 MiB by
    default; for an image, its own size when it has one).  Raises ValueError for a bad
    option (`size` without `storage`, an image that cannot be opened).
    """

    model_name: ClassVar[str] = "pendrive"
    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        idVendor=0x058F, idProduct=0x6387, bcdDevice=0x0100, bcdUSB=0x0200,
        bMaxPacketSize0=64,
        iManufacturer="Generic", iProduct="Mass Storage", iSerialNumber=DEFAULT_SERIAL,
        configurations=(_config(512),),
        other_speed_configurations=(_config(64),),
    )

    def __init__(self, *, serial: str = DEFAULT_SERIAL, capacity: int = 1 << 20,
                 storage: str | None = None, size: int | None = None) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity={capacity!r} must be positive")
        desc = type(self).descriptor
        if serial != DEFAULT_SERIAL:
            desc = replace(desc, iSerialNumber=serial)
        super().__init__(desc)
        self.capacity = capacity
        self._store = ByteFifo()
        self._in_waiting = False
        self._out_blocked = False
        if storage is not None:
            self.bulk_only = _stick(self, storage, size, serial)
        elif size is not None:
            raise ValueError(f"size={size!r} sizes the disk of storage=: give storage= too")

    @property
    def stored(self) -> int:
        """Bytes written by the host and not yet read back."""
        return len(self._store)

    # -- the storage boundary -----------------------------------------------------------------

    def storage_write(self, data: memoryview) -> bool:
        """Store one bulk OUT transfer; False when there is no room (the host is NAKed).
        Context: atomic, never blocks."""
        store = self._store
        if len(store) and len(store) + len(data) > self.capacity:
            return False
        store.put(data)
        return True

    def storage_read(self, ep: Endpoint, room: int) -> memoryview | bytes | None:
        """Data for a bulk IN read with `room` bytes of host buffer; None when nothing is
        stored (NAK).  Context: atomic, never blocks."""
        return self._store.serve_in(ep, room)

    # -- endpoint handlers --------------------------------------------------------------------

    @endpoint_out(BULK_OUT)
    def _bulk_out(self, ep: Endpoint, data: memoryview) -> Outcome | None:
        if not self.storage_write(data):
            self._out_blocked = True
            return Outcome.NAK
        if self._in_waiting:
            self._in_waiting = False
            self._wake(BULK_IN)
        return None

    @endpoint_in(BULK_IN)
    def _bulk_in(self, ep: Endpoint, room: int) -> memoryview | bytes | None:
        data = self.storage_read(ep, room)
        if data is None:
            self._in_waiting = True
        elif self._out_blocked:
            self._out_blocked = False
            self._wake(BULK_OUT)
        return data

    def _wake(self, address: int) -> None:
        ep = self.endpoint(address)
        if ep is not None:
            ep.notify_ready()


def _stick(drive: PenDrive, storage: str, size: int | None, serial: str) -> BulkOnlyTransport:
    """The Bulk-Only Transport and the one LUN of a pen drive in storage mode."""
    if not storage:
        raise ValueError("storage='': give a disk image path, or 'memory' for a memory disk")
    image = None if storage.lower() in MEMORY_STORAGE else storage
    lun = ScsiLun(open_medium(image, size), vendor="Generic", product="Flash Disk",
                  revision="8.07", serial=serial)
    return BulkOnlyTransport(drive, ScsiTarget([lun]), bulk_in=BULK_IN, bulk_out=BULK_OUT)
