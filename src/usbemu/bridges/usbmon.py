"""usbmon capture files — what `tcpdump -i usbmonN -w FILE` or Wireshark writes, from an
emulated machine.

`capture(system, path)` opens a usbmon reader on one bus (or on all: bus 0) and writes
every event to `path` as pcapng (default) or classic pcap with
LINKTYPE_USB_LINUX_MMAPPED (220) — struct mon_bin_hdr, the iso descriptors, the data up to
the snap length — or as usbmon's 1u text lines.  The encoders (`pcap_header`,
`pcap_record`, `pcapng_header`, `pcapng_record`) are pure: bytes out, no I/O; the file is
written by the reader in the hooks' (atomic) context, as a buffered append.  It does not
open /dev/usbmonN or speak its ioctls.

    with capture(system, "boot.pcapng", bus=1):
        system.plug(PenDrive(), "1-1")
        system.settle()
"""

from __future__ import annotations

import struct
from types import TracebackType
from typing import IO, TYPE_CHECKING, Final, Literal

from ..core.urb import Urb
from ..drivers.usb.mon.mon_bin import BIN_HDR_SIZE, MonBinEvent, mon_bin_error, mon_bin_event
from ..drivers.usb.mon.mon_main import EINPROGRESS, MonBus, UsbMon, usbmon_of
from ..drivers.usb.mon.mon_text import format_u, mon_text_error_event, mon_text_event, mon_timestamp

if TYPE_CHECKING:
    import os

    from ..system import System

__all__ = ["DEFAULT_SNAPLEN", "FORMATS", "LINKTYPE_USB_LINUX_MMAPPED", "Capture", "capture",
           "pcap_header", "pcap_record", "pcapng_header", "pcapng_record"]

#: DLT_USB_LINUX_MMAPPED: the 64-byte header, iso descriptors, data.
LINKTYPE_USB_LINUX_MMAPPED: Final = 220
#: What tcpdump and dumpcap use when no snap length is given.
DEFAULT_SNAPLEN: Final = 262144
PCAP_MAGIC: Final = 0xA1B2C3D4
FORMATS: Final = ("pcapng", "pcap", "text")
Format = Literal["pcapng", "pcap", "text"]

_SHB: Final = 0x0A0D0D0A
_IDB: Final = 0x00000001
_EPB: Final = 0x00000006
_BYTE_ORDER_MAGIC: Final = 0x1A2B3C4D


def pcap_header(snaplen: int, linktype: int = LINKTYPE_USB_LINUX_MMAPPED) -> bytes:
    """The 24-byte pcap global header (little-endian, microsecond timestamps, v2.4).
    Context: atomic."""
    return struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(packet: bytes, ts_sec: int, ts_usec: int, snaplen: int) -> bytes:
    """One pcap record: its 16-byte header and the packet cut to `snaplen`.
    Context: atomic."""
    cut = packet[:snaplen]
    return struct.pack("<IIII", ts_sec, ts_usec, len(cut), len(packet)) + cut


def _block(kind: int, body: bytes) -> bytes:
    """A pcapng block: type, total length, body padded to 32 bits, total length."""
    body += bytes(-len(body) % 4)
    total = len(body) + 12
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def pcapng_header(snaplen: int, linktype: int = LINKTYPE_USB_LINUX_MMAPPED) -> bytes:
    """A Section Header Block (v1.0, section length unknown) and one Interface
    Description Block for `linktype` with `snaplen` (default if_tsresol: microseconds).
    Context: atomic."""
    shb = _block(_SHB, struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1))
    idb = _block(_IDB, struct.pack("<HHI", linktype, 0, snaplen))
    return shb + idb


def pcapng_record(packet: bytes, ts_sec: int, ts_usec: int, snaplen: int) -> bytes:
    """One Enhanced Packet Block on interface 0, timestamp in microseconds, the packet
    cut to `snaplen`.  Context: atomic."""
    cut = packet[:snaplen]
    ts = ts_sec * 1_000_000 + ts_usec
    return _block(_EPB, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(cut),
                                    len(packet)) + cut)


class Capture:
    """A usbmon reader that writes a capture file: one record per S, C and E event of the
    bus (0: all buses), from `start()` until `stop()` (or a `with` block).  Context:
    `start`/`stop` are atomic and may run on or off the machine's loop while it is idle;
    the hooks are atomic."""

    def __init__(self, system: System, path: str | os.PathLike[str], *,
                 bus: int | None = None, snaplen: int = DEFAULT_SNAPLEN,
                 fmt: Format = "pcapng") -> None:
        """Raises ValueError for an unknown `fmt`, a negative bus or a snap length below
        the 64-byte header."""
        if fmt not in FORMATS:
            raise ValueError(f"fmt={fmt!r}: use one of {', '.join(FORMATS)}")
        if snaplen < BIN_HDR_SIZE:
            raise ValueError(f"snaplen={snaplen} must be ≥ {BIN_HDR_SIZE} (the header)")
        self.mon: UsbMon = usbmon_of(system.usb)
        self.mbus: MonBus = self.mon.bus(bus or 0)
        self.path = path
        self.snaplen = snaplen
        self.fmt = fmt
        self.packets = 0
        self._clock = system.loop.time
        self._file: IO[bytes] | None = None

    # -- lifetime ------------------------------------------------------------------------------

    def start(self) -> Capture:
        """Create the file, write its header, attach to the bus.  Raises OSError from the
        host's file system; RuntimeError if already started."""
        if self._file is not None:
            raise RuntimeError("the capture is already running")
        self._file = open(self.path, "wb")  # noqa: SIM115 — closed by stop()
        header = {"pcapng": pcapng_header, "pcap": pcap_header}.get(self.fmt)
        if header is not None:
            self._file.write(header(self.snaplen))
        self.mon.reader_add(self.mbus, self)
        return self

    def stop(self) -> None:
        """Detach and close the file (a second call does nothing)."""
        if self._file is not None:
            self.mon.reader_del(self.mbus, self)
            self._file.close()
            self._file = None

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- MonReader -----------------------------------------------------------------------------

    def rnf_submit(self, busnum: int, urb: Urb) -> None:
        """Context: atomic."""
        if self.fmt == "text":
            self._text(format_u(mon_text_event(busnum, urb, "S", EINPROGRESS,
                                               mon_timestamp(self._clock()))))
        else:
            self._binary(mon_bin_event(busnum, urb, "S", EINPROGRESS, self._clock()))

    def rnf_error(self, busnum: int, urb: Urb, error: int) -> None:
        """Context: atomic."""
        if self.fmt == "text":
            self._text(format_u(mon_text_error_event(busnum, urb, error,
                                                     mon_timestamp(self._clock()))))
        else:
            self._binary(mon_bin_error(busnum, urb, error, self._clock()))

    def rnf_complete(self, busnum: int, urb: Urb, status: int) -> None:
        """Context: atomic."""
        if self.fmt == "text":
            self._text(format_u(mon_text_event(busnum, urb, "C", status,
                                               mon_timestamp(self._clock()))))
        else:
            self._binary(mon_bin_event(busnum, urb, "C", status, self._clock()))

    def _text(self, line: str) -> None:
        assert self._file is not None
        self._file.write(line.encode())
        self.packets += 1

    def _binary(self, event: MonBinEvent) -> None:
        assert self._file is not None
        record = pcapng_record if self.fmt == "pcapng" else pcap_record
        self._file.write(record(event.pack(), event.ts_sec, event.ts_usec, self.snaplen))
        self.packets += 1


def capture(system: System, path: str | os.PathLike[str], *, bus: int | None = None,
            snaplen: int = DEFAULT_SNAPLEN, fmt: Format = "pcapng") -> Capture:
    """A `Capture` of `system`'s bus `bus` (None: all buses) into `path`, not yet started:
    use it as a context manager or call `start()`/`stop()`.  Raises ValueError as
    `Capture` does."""
    return Capture(system, path, bus=bus, snaplen=snaplen, fmt=fmt)
