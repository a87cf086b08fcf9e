"""The pen drive of the "USB drivers in Linux" char-driver article — an Alcor Micro flash
drive (058f:6387) as lsusb shows it, declared as static descriptor tables in the manner of
QEMU's hw/usb/dev-storage.c.

A high-speed device with one mass-storage interface (class 8, SCSI subclass 6, bulk-only
protocol 0x50): bulk OUT 0x01 and bulk IN 0x82, 512-byte packets (64 at full speed, in the
other-speed configuration).  It is enough for the article's `pen_driver`, whose read and
write file operations move raw bytes with `usb_bulk_msg` on those two endpoints: what is
written to 0x01 is stored, and reads of 0x82 return it in order (a read with nothing stored
NAKs, so a blocking read times out as it would on the real stick).

What it does not do: it does not yet speak the bulk-only transport (no CBW/CSW, no SCSI
commands, no Get Max LUN or mass-storage reset requests; those STALL).  The storage sits
behind two methods, `storage_write` and `storage_read`, so that real mass storage can replace
the echo without touching the descriptors or the endpoint wiring.
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
from ..device import DeviceModel, endpoint_in, endpoint_out
from ..endpoint import Endpoint, Outcome
from .serial import ByteFifo

BULK_OUT: Final = 0x01
BULK_IN: Final = 0x82
DEFAULT_SERIAL: Final = "6E5C7D12"

_SUBCLASS_SCSI: Final = 0x06
_PROTOCOL_BULK_ONLY: Final = 0x50


def _config(maxpacket: int) -> ConfigDescriptor:
    """The one configuration, with bulk endpoints of `maxpacket` bytes."""
    return ConfigDescriptor(
        interfaces=(InterfaceDescriptor(
            ClassCode.MASS_STORAGE, _SUBCLASS_SCSI, _PROTOCOL_BULK_ONLY,
            endpoints=(EndpointDescriptor.bulk(BULK_OUT, maxpacket),
                       EndpointDescriptor.bulk(BULK_IN, maxpacket))),),
        bmAttributes=0x80, bMaxPower=50)


class PenDrive(DeviceModel):
    """Alcor Micro 058f:6387 pen drive with an echo store behind its bulk endpoints.

    Options: `serial` is the iSerialNumber text ("" for none); `capacity` bounds the bytes
    stored: a write that would exceed it NAKs until reads make room (a write into an empty
    store is always taken, however large).
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

    def __init__(self, *, serial: str = DEFAULT_SERIAL, capacity: int = 1 << 20) -> None:
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
