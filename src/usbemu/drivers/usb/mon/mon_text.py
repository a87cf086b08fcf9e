"""usbmon's text interface — counterpart of drivers/usb/mon/mon_text.c and mon_stat.c.

Each open of /sys/kernel/debug/usb/usbmon/<bus>u (or the older <bus>t) is a reader: it
queues the events of its bus (0: all buses) from the open on, at most `EVENT_MAX`
(mon_text's 4 pages of struct mon_event_text; further events are dropped and counted in
the bus's `text_lost`), and each read(2) returns the next event as one line — the "1u"
format of Documentation/usb/usbmon.rst, with the first 32 data bytes — continuing a line
that did not fit where the last read stopped.  A read sleeps for an event unless the file
is non-blocking (-EAGAIN).  <bus>s shows the bus's counters.  The binary interface is
`mon_bin`.

Timestamps are the machine's clock (`loop.time()`, virtual time in tests), in
microseconds, wrapping at 4096 s as mon_get_timestamp() does; the URB tag is the URB
object's identity, as Linux prints the URB's address.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from ....core.devices import DEBUG_USB
from ....core.urb import PIPE_TO_XFER, Urb, usb_pipeendpoint, usb_pipein, usb_pipetype
from ....core.usbcore import UsbCore
from ....errors import Errno
from ....kernel.fs import O_NONBLOCK, File, FileOperations, Inode, Loff
from ....kernel.vfs import Attr, FopsFile, Node, StaticDir, Vfs
from ....kernel.wait import Poll, PollTable, WaitQueueHead, poll_wait
from ....spec.ch9 import EndpointType
from .mon_main import EINPROGRESS, MonBus, UsbMon, usbmon_of

__all__ = [
    "DATA_MAX",
    "EVENT_MAX",
    "ISODESC_MAX",
    "MON_DIR",
    "MonEventText",
    "MonReaderText",
    "format_t",
    "format_u",
    "install_usbmon",
    "mon_text_error_event",
    "mon_text_event",
    "mon_timestamp",
]

#: debugfs directory of the text files (mon_dir).
MON_DIR: Final = f"{DEBUG_USB}/usbmon"
#: Data bytes a text event keeps ("use the binary interface if you want bulk data").
DATA_MAX: Final = 32
SETUP_MAX: Final = 8
#: Iso descriptors a text event keeps.
ISODESC_MAX: Final = 5
#: sizeof(struct mon_event_text) on x86-64.
_EVENT_SIZE: Final = 176
#: Queued events per reader: 4*PAGE_SIZE / sizeof(struct mon_event_text).
EVENT_MAX: Final = 4 * 4096 // _EVENT_SIZE

#: USB_ENDPOINT_XFER_* → the letter of the address word.
_TYPE_LETTER: Final[Mapping[EndpointType, str]] = {
    EndpointType.ISOC: "Z", EndpointType.INT: "I", EndpointType.CONTROL: "C",
    EndpointType.BULK: "B"}


@dataclass(frozen=True, slots=True)
class MonEventText:
    """struct mon_event_text: one event as the text reader keeps it.  `setup_flag` and
    `data_flag` are "" when the setup packet (data) was captured, else mon_text's flag
    character ("-" no setup for this event, "Z" none, "<" IN submission, ">" OUT
    completion, "L" no length, "E" error event)."""

    type: str
    id: int
    tstamp: int
    busnum: int
    devnum: int
    epnum: int
    is_in: bool
    xfertype: EndpointType
    length: int
    status: int
    interval: int = 0
    start_frame: int = 0
    error_count: int = 0
    setup_flag: str = "-"
    data_flag: str = ""
    numdesc: int = 0
    isodesc: tuple[tuple[int, int, int], ...] = ()
    setup: bytes = b""
    data: bytes = b""


def mon_timestamp(now: float) -> int:
    """mon_get_timestamp(): machine time `now` (seconds) as microseconds, the seconds
    taken modulo 4096.  Context: atomic."""
    total_us = int(now * 1_000_000)
    return (total_us // 1_000_000 & 0xFFF) * 1_000_000 + total_us % 1_000_000


def _setup_of(urb: Urb, xfertype: EndpointType, ev_type: str) -> tuple[str, bytes]:
    """mon_text_get_setup()."""
    if xfertype != EndpointType.CONTROL or ev_type != "S":
        return "-", b""
    if urb.setup_packet is None:
        return "Z", b""
    return "", bytes(urb.setup_packet[:SETUP_MAX])


def _data_of(urb: Urb, length: int, is_in: bool, ev_type: str) -> tuple[str, bytes]:
    """mon_text_get_data()."""
    if length <= 0:
        return "L", b""
    if is_in and ev_type != "C":
        return "<", b""
    if not is_in and ev_type != "S":
        return ">", b""
    if urb.transfer_buffer is None:
        return "Z", b""
    return "", bytes(urb.buffer_view()[:min(length, DATA_MAX)])


def _where(busnum: int, urb: Urb) -> tuple[int, int, bool, EndpointType]:
    dev = urb.dev
    devnum = dev.devnum if dev is not None else 0
    return (devnum, usb_pipeendpoint(urb.pipe), usb_pipein(urb.pipe),
            PIPE_TO_XFER[usb_pipetype(urb.pipe)])


def mon_text_event(busnum: int, urb: Urb, ev_type: str, status: int,
                   tstamp: int) -> MonEventText:
    """mon_text_event(): the S ("S", -EINPROGRESS) or C ("C", final status) event of
    `urb` on bus `busnum`, as it is now.  Context: atomic."""
    devnum, epnum, is_in, xfertype = _where(busnum, urb)
    length = urb.transfer_buffer_length if ev_type == "S" else urb.actual_length
    interval = urb.interval if xfertype in (EndpointType.INT, EndpointType.ISOC) else 0
    iso = xfertype == EndpointType.ISOC
    isodesc: tuple[tuple[int, int, int], ...] = ()
    if iso and urb.number_of_packets > 0:
        isodesc = tuple((p.status, p.offset, p.length if ev_type == "S" else p.actual_length)
                        for p in urb.iso_frame_desc[:min(urb.number_of_packets,
                                                         ISODESC_MAX)])
        if ev_type == "C":
            length = urb.transfer_buffer_length
    setup_flag, setup = _setup_of(urb, xfertype, ev_type)
    data_flag, data = _data_of(urb, length, is_in, ev_type)
    return MonEventText(ev_type, id(urb), tstamp, busnum, devnum, epnum, is_in, xfertype,
                        length, status, interval,
                        urb.start_frame if iso else 0, urb.error_count if iso else 0,
                        setup_flag, data_flag, urb.number_of_packets, isodesc, setup, data)


def mon_text_error_event(busnum: int, urb: Urb, error: int, tstamp: int) -> MonEventText:
    """mon_text_error(): the E event of a submission that failed with `error`.
    Context: atomic."""
    devnum, epnum, is_in, xfertype = _where(busnum, urb)
    return MonEventText("E", id(urb), tstamp, busnum, devnum, epnum, is_in, xfertype, 0,
                        error, setup_flag="-", data_flag="E")


# -- formatting (mon_text_read_t, mon_text_read_u) ------------------------------------------


def _statset(ep: MonEventText) -> str:
    """mon_text_read_statset(): ` s bmRequestType bRequest wValue wIndex wLength`,
    ` <flag> __ __ ____ ____ ____`, or ` status`."""
    if ep.setup_flag == "":
        s = ep.setup
        return (f" s {s[0]:02x} {s[1]:02x} {int.from_bytes(s[2:4], 'little'):04x} "
                f"{int.from_bytes(s[4:6], 'little'):04x} {int.from_bytes(s[6:8], 'little'):04x}")
    if ep.setup_flag != "-":
        return f" {ep.setup_flag} __ __ ____ ____ ____"
    return f" {ep.status}"


def _intstat(ep: MonEventText) -> str:
    return f" {ep.status}:{ep.interval}"


def _isostat(ep: MonEventText) -> str:
    head = f" {ep.status}:{ep.interval}:{ep.start_frame}"
    return head if ep.type == "S" else f"{head}:{ep.error_count}"


def _isodesc(ep: MonEventText) -> str:
    return f" {ep.numdesc}" + "".join(f" {st}:{off}:{ln}" for st, off, ln in ep.isodesc)


def _data(ep: MonEventText) -> str:
    """mon_text_read_data(): ` = 0102…` in 4-byte words, ` <flag>`, or nothing."""
    if ep.length <= 0:
        return "\n"
    if ep.data_flag:
        return f" {ep.data_flag}\n"
    words = " ".join(ep.data[i:i + 4].hex() for i in range(0, len(ep.data), 4))
    return f" = {words}\n"


#: The status part of a 1u line, by event kind and transfer type.
_U_STATUS: Final[Mapping[EndpointType, Callable[[MonEventText], str]]] = {
    EndpointType.ISOC: lambda ep: _isostat(ep) + _isodesc(ep),
    EndpointType.INT: _intstat,
    EndpointType.CONTROL: _statset,
    EndpointType.BULK: _statset,
}


def format_u(ep: MonEventText) -> str:
    """One line of the 1u format (mon_text_read_u), newline included.  Context: atomic."""
    head = (f"{ep.id:x} {ep.tstamp} {ep.type} {_TYPE_LETTER[ep.xfertype]}"
            f"{'i' if ep.is_in else 'o'}:{ep.busnum}:{ep.devnum:03d}:{ep.epnum}")
    status = _statset(ep) if ep.type == "E" else _U_STATUS[ep.xfertype](ep)
    return f"{head}{status} {ep.length}{_data(ep)}"


def format_t(ep: MonEventText) -> str:
    """One line of the older 1t format (mon_text_read_t): no bus number, two-digit
    endpoint, setup or status only.  Context: atomic."""
    head = (f"{ep.id:x} {ep.tstamp} {ep.type} {_TYPE_LETTER[ep.xfertype]}"
            f"{'i' if ep.is_in else 'o'}:{ep.devnum:03d}:{ep.epnum:02d}")
    return f"{head}{_statset(ep)} {ep.length}{_data(ep)}"


# -- the reader ---------------------------------------------------------------------------


class MonReaderText:
    """struct mon_reader_text: the queue of one open text file.  Context: the hooks are
    atomic; `read` may sleep."""

    def __init__(self, mon: UsbMon, mbus: MonBus, fmt: Callable[[MonEventText], str],
                 clock: Callable[[], float]) -> None:
        self.mon = mon
        self.mbus = mbus
        self.format = fmt
        self.clock = clock
        self.events: deque[MonEventText] = deque()
        self.wait = WaitQueueHead()
        self._togo = b""

    def _queue(self, event: MonEventText) -> None:
        if len(self.events) >= EVENT_MAX:
            self.mbus.cnt_text_lost += 1
            return
        self.events.append(event)
        self.wait.wake_up()

    def _stamp(self) -> int:
        return mon_timestamp(self.clock())

    def rnf_submit(self, busnum: int, urb: Urb) -> None:
        """mon_text_submit.  Context: atomic."""
        if len(self.events) >= EVENT_MAX:
            self.mbus.cnt_text_lost += 1
            return
        self._queue(mon_text_event(busnum, urb, "S", EINPROGRESS, self._stamp()))

    def rnf_error(self, busnum: int, urb: Urb, error: int) -> None:
        """mon_text_error.  Context: atomic."""
        self._queue(mon_text_error_event(busnum, urb, error, self._stamp()))

    def rnf_complete(self, busnum: int, urb: Urb, status: int) -> None:
        """mon_text_complete.  Context: atomic."""
        if len(self.events) >= EVENT_MAX:
            self.mbus.cnt_text_lost += 1
            return
        self._queue(mon_text_event(busnum, urb, "C", status, self._stamp()))

    def ready(self) -> bool:
        return bool(self._togo or self.events)

    def next_line(self) -> bytes | None:
        """The rest of the line being read, else the next event's line, else None.
        Context: atomic."""
        if not self._togo and self.events:
            self._togo = self.format(self.events.popleft()).encode()
        return self._togo or None

    def consume(self, count: int) -> None:
        self._togo = self._togo[count:]

    def close(self) -> None:
        """mon_text_release(): leave the bus, drop what is queued."""
        self.mon.reader_del(self.mbus, self)
        self.events.clear()
        self._togo = b""


def _text_open(fmt: Callable[[MonEventText], str], inode: Inode, file: File) -> int:
    """mon_text_open(): a new reader on the inode's bus."""
    mon, busnum = inode.i_private
    reader = MonReaderText(mon, mon.bus(busnum), fmt, mon.usbcore.loop.time)
    mon.reader_add(reader.mbus, reader)
    file.private_data = reader
    return 0


async def _text_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    """mon_text_read_u / _t: one event's line (or what is left of it) per call."""
    reader: MonReaderText = file.private_data
    if not reader.ready():
        if file.f_flags & O_NONBLOCK:
            return -Errno.EAGAIN
        await reader.wait.wait_event(reader.ready)
    line = reader.next_line() or b""
    n = min(count, len(line))
    buf[:n] = line[:n]
    reader.consume(n)
    return n


def _text_poll(file: File, table: PollTable | None) -> Poll:
    """mon_text_poll(): readable when an event is queued."""
    reader: MonReaderText = file.private_data
    poll_wait(file, reader.wait, table)
    return Poll.IN | Poll.RDNORM if reader.ready() else Poll(0)


def _text_release(inode: Inode, file: File) -> int:
    reader: MonReaderText = file.private_data
    reader.close()
    return 0


def _text_fops(fmt: Callable[[MonEventText], str]) -> FileOperations:
    return FileOperations(open=functools.partial(_text_open, fmt), read=_text_read,
                          poll=_text_poll, release=_text_release)


#: mon_fops_text_t and mon_fops_text_u.
MON_FOPS_TEXT_T: Final = _text_fops(format_t)
MON_FOPS_TEXT_U: Final = _text_fops(format_u)


def _stat_show(mon: UsbMon, busnum: int) -> str:
    """mon_stat_read(): the bus's readers and counters."""
    mbus = mon.bus(busnum)
    return (f"nreaders {mbus.nreaders} events {mbus.cnt_events} "
            f"text_lost {mbus.cnt_text_lost}\n")


def _entries(mon: UsbMon, usbcore: UsbCore) -> dict[str, Node]:
    """mon_text_add() for bus 0 and every registered bus: <n>s, <n>t, <n>u."""
    entries: dict[str, Node] = {}
    for busnum in (0, *sorted(usbcore.buses)):
        entries[f"{busnum}s"] = Attr(functools.partial(_stat_show, mon, busnum), mode=0o600)
        entries[f"{busnum}t"] = FopsFile(MON_FOPS_TEXT_T, (mon, busnum))
        entries[f"{busnum}u"] = FopsFile(MON_FOPS_TEXT_U, (mon, busnum))
    return entries


def install_usbmon(vfs: Vfs, usbcore: UsbCore) -> UsbMon:
    """mon_init(): mount /sys/kernel/debug/usb/usbmon with the text files of bus 0 and of
    each bus as it comes and goes; returns the machine's usbmon.  Context: atomic."""
    mon = usbmon_of(usbcore)
    vfs.mount(MON_DIR, StaticDir(compute=functools.partial(_entries, mon, usbcore)))
    return mon
