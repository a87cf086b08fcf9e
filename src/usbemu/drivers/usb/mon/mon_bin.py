"""usbmon's binary event record — counterpart of the event capture of
drivers/usb/mon/mon_bin.c (mon_bin_event, mon_bin_error) and struct mon_bin_hdr.

`mon_bin_event` turns one hook call into a `MonBinEvent`: the 64-byte header of the
mmap/MON_IOCX_GETX interface, little-endian as on x86-64, then the iso descriptors
(16 bytes each), then the data captured — the bytes that pcap's
LINKTYPE_USB_LINUX_MMAPPED (220) records carry.  It keeps no ring: the /dev/usbmonN char
device and its ioctls are not here; capture files are `usbemu.bridges.usbmon`'s.

The timestamp is the machine's clock (`loop.time()`), where Linux reads the wall clock
(ktime_get_real_ts64): on virtual time a capture is repeatable.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from ....core.urb import Urb, usb_pipeendpoint, usb_pipein, usb_pipetype

__all__ = ["BIN_HDR", "BIN_HDR_SIZE", "BIN_ISODESC", "DATA_CAP", "ISODESC_MAX",
           "MonBinEvent", "mon_bin_error", "mon_bin_event"]

#: struct mon_bin_hdr: id, type, xfer_type, epnum, devnum, busnum, flag_setup, flag_data,
#: ts_sec, ts_usec, status, len_urb, len_cap, setup[8] | {error_count, numdesc},
#: interval, start_frame, xfer_flags, ndesc.
BIN_HDR: Final = struct.Struct("<QBBBBHBBqiiII8siiII")
BIN_HDR_SIZE: Final = BIN_HDR.size
#: struct mon_bin_isodesc: iso_status, iso_off, iso_len, _pad.
BIN_ISODESC: Final = struct.Struct("<iIII")
#: Iso descriptors an event keeps (mon_bin.c's ISODESC_MAX).
ISODESC_MAX: Final = 128
#: Data bytes an event keeps: a fifth of the default 300 KiB ring.
DATA_CAP: Final = 300 * 1024 // 5
_PIPE_CONTROL: Final = 2
_PIPE_ISOCHRONOUS: Final = 0
_U64: Final = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class MonBinEvent:
    """One binary event: the header fields (struct mon_bin_hdr's names), the iso
    descriptors as (status, offset, length) and the data captured."""

    id: int
    type: str
    xfer_type: int
    epnum: int
    devnum: int
    busnum: int
    flag_setup: int
    flag_data: int
    ts_sec: int
    ts_usec: int
    status: int
    len_urb: int
    setup: bytes = bytes(8)
    interval: int = 0
    start_frame: int = 0
    xfer_flags: int = 0
    isodesc: tuple[tuple[int, int, int], ...] = ()
    data: bytes = b""

    @property
    def len_cap(self) -> int:
        """Bytes after the header: the iso descriptors and the data."""
        return len(self.isodesc) * BIN_ISODESC.size + len(self.data)

    def header(self) -> bytes:
        """The 64-byte struct mon_bin_hdr.  Context: atomic."""
        return BIN_HDR.pack(self.id & _U64, ord(self.type), self.xfer_type, self.epnum,
                            self.devnum, self.busnum, self.flag_setup, self.flag_data,
                            self.ts_sec, self.ts_usec, self.status, self.len_urb,
                            self.len_cap, self.setup, self.interval, self.start_frame,
                            self.xfer_flags, len(self.isodesc))

    def pack(self) -> bytes:
        """Header, iso descriptors, data: one LINKTYPE_USB_LINUX_MMAPPED packet.
        Context: atomic."""
        descs = b"".join(BIN_ISODESC.pack(st, off, ln, 0) for st, off, ln in self.isodesc)
        return self.header() + descs + self.data


def _stamp(now: float) -> tuple[int, int]:
    total_us = int(now * 1_000_000)
    return total_us // 1_000_000, total_us % 1_000_000


def _collate_isodesc(urb: Urb, ndesc: int) -> int:
    """mon_bin_collate_isodesc(): the data span an IN iso completion filled."""
    span = 0
    for packet in urb.iso_frame_desc[:ndesc]:
        if packet.actual_length:
            span = packet.offset + packet.actual_length
    return span


def mon_bin_event(busnum: int, urb: Urb, ev_type: str, status: int,
                  now: float) -> MonBinEvent:
    """mon_bin_event(): the "S" (status -EINPROGRESS) or "C" event of `urb` on bus
    `busnum` at machine time `now`.  Context: atomic."""
    ptype = usb_pipetype(urb.pipe)
    is_in = usb_pipein(urb.pipe)
    len_urb = urb.actual_length if ev_type == "C" else urb.transfer_buffer_length
    length = len_urb
    iso = ptype == _PIPE_ISOCHRONOUS
    ndesc = max(0, min(urb.number_of_packets, ISODESC_MAX)) if iso else 0
    if iso and ev_type == "C" and is_in:
        length = _collate_isodesc(urb, ndesc)
    length = min(length, DATA_CAP)
    data_tag = 0
    if is_in and ev_type == "S":
        length, data_tag = 0, ord("<")
    elif not is_in and ev_type == "C":
        length, data_tag = 0, ord(">")
    data = b""
    if length:
        if urb.transfer_buffer is None:
            data_tag = ord("Z")
        else:
            data = bytes(urb.buffer_view()[:length])
    setup = bytes(8)
    flag_setup = ord("-")
    if ptype == _PIPE_CONTROL and ev_type == "S":
        if urb.setup_packet is None:
            flag_setup = ord("Z")
        else:
            setup, flag_setup = bytes(urb.setup_packet[:8]).ljust(8, b"\0"), 0
    interval = urb.interval if ptype in (_PIPE_ISOCHRONOUS, 1) else 0
    if iso:
        setup = struct.pack("<ii", urb.error_count, urb.number_of_packets)
    isodesc = tuple((p.status, p.offset, p.length if ev_type == "S" else p.actual_length)
                    for p in urb.iso_frame_desc[:ndesc])
    dev = urb.dev
    ts_sec, ts_usec = _stamp(now)
    return MonBinEvent(
        id(urb), ev_type, ptype, usb_pipeendpoint(urb.pipe) | (0x80 if is_in else 0),
        dev.devnum if dev is not None else 0, busnum, flag_setup, data_tag, ts_sec, ts_usec,
        status, len_urb, setup, interval, urb.start_frame if iso else 0,
        int(urb.transfer_flags), isodesc, data)


def mon_bin_error(busnum: int, urb: Urb, error: int, now: float) -> MonBinEvent:
    """mon_bin_error(): the "E" event of a submission that failed with `error`.
    Context: atomic."""
    is_in = usb_pipein(urb.pipe)
    dev = urb.dev
    ts_sec, ts_usec = _stamp(now)
    return MonBinEvent(id(urb), "E", usb_pipetype(urb.pipe),
                       usb_pipeendpoint(urb.pipe) | (0x80 if is_in else 0),
                       dev.devnum if dev is not None else 0, busnum, ord("-"), ord("E"),
                       ts_sec, ts_usec, error, 0)

