"""Event char devices — counterpart of drivers/input/evdev.c.

The evdev handler connects to every input device: inputN gets a child eventN of class
"input" (char major 13, minors from 64: event0 is 13:64; past event31 a dynamic minor from
256, named by its minor) and the node /dev/input/eventN.  Each open file is a client with
its own ring of events (evdev_compute_buffer_size: 8 frames of the device's estimated
size, at least 64 events, a power of two); a read returns whole 24-byte struct input_event
records of complete frames (-EINVAL for a buffer smaller than one, -EAGAIN with O_NONBLOCK
when none is queued, else it sleeps), a ring that overflows keeps the newest event after a
SYN_DROPPED, poll reports POLLIN once a frame is complete, and a write injects events.
The first client opens the input device, the last close closes it.  The ioctls are
evdev's: EVIOCGVERSION, EVIOCGID, EVIOCGREP/EVIOCSREP, EVIOCGNAME/PHYS/UNIQ, EVIOCGPROP,
EVIOCGBIT, EVIOCGKEY/LED/SND/SW (which drop queued events of that type, as Linux does),
EVIOCGABS/EVIOCSABS, EVIOCGMTSLOTS, EVIOCGRAB (the grabbing client alone gets the
device's events), EVIOCREVOKE and EVIOCSCLOCKID.  When the input device goes away the
node goes, sleeping readers are woken and every call but close gets -ENODEV (poll:
POLLHUP | POLLERR) — what the system calls' revocation of the removed node gives too.

Timestamps are the frame's time on the machine's clock, in the clock the client chose:
CLOCK_REALTIME (the default, as in Linux), CLOCK_MONOTONIC or CLOCK_BOOTTIME (other clock
ids are -EINVAL).  The machine has no wall clock and never suspends: CLOCK_MONOTONIC and
CLOCK_BOOTTIME read the machine's clock, CLOCK_REALTIME the same plus the input core's
`realtime_offset_ns` (0) — so on virtual time every timestamp is exact and repeatable.
Not modelled: keymap, force-feedback and event-mask ioctls (EVIOC[GS]KEYCODE[_V2],
EVIOCSFF, EVIOCRMFF, EVIOCGEFFECTS, EVIOC[GS]MASK: -EINVAL), fasync, and the flush of
each close(2) (the device's flush runs on revoke and unplug only).

For Python callers: `read_events(afile)` reads and decodes events from an open node,
`evtest_header(afile)` is the description evtest prints before the events, and `str()` of
an `InputEvent` is evtest's line for it.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ..errors import Errno
from .char_dev import Cdev
from .devclass import ClassDevice
from .fs import (
    O_NONBLOCK,
    File,
    FileOperations,
    Inode,
    Loff,
    mkdev,
    stream_open,
)
from .input import (
    CAPABILITIES,
    INPUT_MAJOR,
    InputDev,
    InputDeviceId,
    InputHandle,
    InputHandler,
    InputValue,
    input_close_device,
    input_flush_device,
    input_get_timestamp,
    input_grab_device,
    input_inject_event,
    input_open_device,
    input_register_handle,
    input_release_device,
    input_unregister_handle,
)
from .input_event_codes import (
    ABS_MAX,
    ABS_MT_SLOT,
    EV_ABS,
    EV_KEY,
    EV_LED,
    EV_MAX,
    EV_REP,
    EV_SND,
    EV_SW,
    EV_SYN,
    EV_VERSION,
    EVIOCGABS,
    EVIOCGBIT,
    EVIOCGID,
    EVIOCGKEY,
    EVIOCGLED,
    EVIOCGMTSLOTS,
    EVIOCGNAME,
    EVIOCGPHYS,
    EVIOCGPROP,
    EVIOCGRAB,
    EVIOCGREP,
    EVIOCGSND,
    EVIOCGSW,
    EVIOCGUNIQ,
    EVIOCGVERSION,
    EVIOCREVOKE,
    EVIOCSABS,
    EVIOCSCLOCKID,
    EVIOCSREP,
    INPUT_EVENT,
    INPUT_EVENT_SIZE,
    INPUT_PROP_MAX,
    KEY_MAX,
    LED_MAX,
    REP_DELAY,
    REP_MAX,
    REP_PERIOD,
    SND_MAX,
    SW_MAX,
    SYN_DROPPED,
    SYN_REPORT,
    InputAbsinfo,
    InputEvent,
    InputId,
    code_name,
    decode_events,
    type_name,
)
from .input_event_codes import PROP_NAMES as _PROP_NAMES
from .printk import Level
from .tty_ioctl import copy_from_user_arg, copy_to_user_arg, get_user_int, put_user_int
from .vtime import NS_PER_S
from .wait import Poll, PollTable, WaitQueueHead, poll_wait

if TYPE_CHECKING:
    from .input import InputCore
    from .syscalls import AsyncFile

__all__ = [
    "CLOCK_BOOTTIME",
    "CLOCK_MONOTONIC",
    "CLOCK_REALTIME",
    "EVDEV_FOPS",
    "EVDEV_MINORS",
    "EVDEV_MINOR_BASE",
    "Evdev",
    "EvdevClient",
    "InputEvent",
    "decode_events",
    "evdev_compute_buffer_size",
    "evdev_handler",
    "evtest_header",
    "read_events",
]

EVDEV_MINOR_BASE: Final = 64
EVDEV_MINORS: Final = 32
EVDEV_MIN_BUFFER_SIZE: Final = 64
EVDEV_BUF_PACKETS: Final = 8
#: What one write injects at most (evdev_write: 170 events).
EVDEV_WRITE_MAX: Final = 4096

#: Clock ids of EVIOCSCLOCKID (include/uapi/linux/time.h).
CLOCK_REALTIME: Final = 0
CLOCK_MONOTONIC: Final = 1
CLOCK_BOOTTIME: Final = 7

#: The clocks of a client (enum input_clock_type) by clock id.
EV_CLK_REAL, EV_CLK_MONO, EV_CLK_BOOT = 0, 1, 2
_CLOCK_TYPES: Final[Mapping[int, int]] = {
    CLOCK_REALTIME: EV_CLK_REAL, CLOCK_MONOTONIC: EV_CLK_MONO, CLOCK_BOOTTIME: EV_CLK_BOOT}

#: A queued event: (tv_sec, tv_usec, type, code, value).
_Event: TypeAlias = tuple[int, int, int, int, int]

_IOC_WRITE, _IOC_READ = 1, 2
_IOC_SIZEMASK: Final = 0x3FFF


def _ioc_dir(cmd: int) -> int:
    return cmd >> 30 & 3


def _ioc_type(cmd: int) -> int:
    return cmd >> 8 & 0xFF


def _ioc_nr(cmd: int) -> int:
    return cmd & 0xFF


def _ioc_size(cmd: int) -> int:
    return cmd >> 16 & _IOC_SIZEMASK


def _mask_size(cmd: int) -> int:
    """EVIOC_MASK_SIZE(): the command without its size field."""
    return cmd & ~(_IOC_SIZEMASK << 16)


# -- the objects -------------------------------------------------------------------------------


class EvdevClient:
    """struct evdev_client: one open file's ring of `bufsize` events (a power of two):
    `head` is where the next event goes, `tail` the next to read, `packet_head` the end of
    the last complete frame; the clock its timestamps use (`clk_type`), whether it was
    revoked, and the wait queue its readers and pollers sleep on."""

    def __init__(self, evdev: Evdev, bufsize: int) -> None:
        self.evdev = evdev
        self.bufsize = bufsize
        self.buffer: list[_Event | None] = [None] * bufsize
        self.head = self.tail = self.packet_head = 0
        self.clk_type = EV_CLK_REAL
        self.revoked = False
        self.wait = WaitQueueHead()

    def __repr__(self) -> str:
        queued = (self.head - self.tail) & (self.bufsize - 1)
        return f"<EvdevClient of {self.evdev.name} queued={queued}>"


class Evdev:
    """struct evdev: the eventN of one input device — its handle, clients, grabbing
    client, how many clients have it open (`open`), whether the input device still
    exists, its cdev and class device."""

    def __init__(self, core: InputCore, minor: int, name: str) -> None:
        self.core = core
        self.minor = minor
        self.name = name
        self.open = 0
        self.exist = True
        self.grab: EvdevClient | None = None
        self.client_list: list[EvdevClient] = []
        self.mutex = asyncio.Lock()
        self.handle: InputHandle | None = None
        self.cdev: EvdevCdev | None = None
        self.dev: ClassDevice | None = None

    def __repr__(self) -> str:
        return f"<Evdev {self.name} 13:{self.minor} open={self.open}>"

    @property
    def input(self) -> InputHandle:
        """The handle (set at connect).  Context: atomic."""
        assert self.handle is not None
        return self.handle


class EvdevCdev(Cdev):
    """The cdev of one eventN: opening its node finds the evdev (container_of)."""

    def __init__(self, evdev: Evdev) -> None:
        super().__init__(EVDEV_FOPS, None, evdev.name)
        self.evdev = evdev


# -- the event path ---------------------------------------------------------------------------


def _pass_event(client: EvdevClient, event: _Event) -> None:
    """__pass_event(): queue one event; on overflow all unread events are dropped, leaving
    SYN_DROPPED and the newest event."""
    mask = client.bufsize - 1
    client.buffer[client.head] = event
    client.head = (client.head + 1) & mask
    if client.head == client.tail:
        client.tail = (client.head - 2) & mask
        client.buffer[client.tail] = (event[0], event[1], EV_SYN, SYN_DROPPED, 0)
        client.packet_head = client.tail
    if event[2] == EV_SYN and event[3] == SYN_REPORT:
        client.packet_head = client.head


def _pass_values(client: EvdevClient, vals: list[InputValue],
                 times: tuple[tuple[int, int], ...]) -> None:
    """evdev_pass_values(): queue a frame (an empty SYN_REPORT dropped) and wake the
    client's sleepers when a frame is complete."""
    if client.revoked:
        return
    sec, usec = times[client.clk_type]
    wakeup = False
    for type_, code, value in vals:
        if type_ == EV_SYN and code == SYN_REPORT:
            if client.packet_head == client.head:
                continue
            wakeup = True
        _pass_event(client, (sec, usec, type_, code, value))
    if wakeup:
        client.wait.wake_up()


def _timeval(ns: int) -> tuple[int, int]:
    """ns → (tv_sec, tv_usec), the microseconds truncated."""
    sec, nsec = divmod(ns, NS_PER_S)
    return sec, nsec // 1000


def evdev_events(handle: InputHandle, vals: list[InputValue]) -> None:
    """evdev_events(): a frame of the device for every client, or the grabbing client
    alone, stamped with the frame's time in each client's clock.  Context: atomic."""
    evdev: Evdev = handle.private
    mono = input_get_timestamp(handle.dev)
    real = _timeval(mono + evdev.core.realtime_offset_ns)
    times = (real, _timeval(mono), _timeval(mono))
    client = evdev.grab
    if client is not None:
        _pass_values(client, vals, times)
        return
    for client in evdev.client_list:
        _pass_values(client, vals, times)


def _now(client: EvdevClient) -> tuple[int, int]:
    """The time now in the client's clock."""
    core = client.evdev.core
    ns = core.now_ns()
    return _timeval(ns + core.realtime_offset_ns if client.clk_type == EV_CLK_REAL else ns)


def _queue_syn_dropped(client: EvdevClient) -> None:
    """__evdev_queue_syn_dropped(): a SYN_DROPPED of now; a full ring keeps just it."""
    mask = client.bufsize - 1
    client.buffer[client.head] = (*_now(client), EV_SYN, SYN_DROPPED, 0)
    client.head = (client.head + 1) & mask
    if client.head == client.tail:
        client.tail = (client.head - 1) & mask
        client.packet_head = client.tail


def _flush_queue(client: EvdevClient, type: int) -> None:
    """__evdev_flush_queue(): drop the queued events of `type`, and the SYN_REPORTs of
    frames left empty."""
    mask = client.bufsize - 1
    head = client.packet_head = client.tail
    num = 1  # a leading SYN_REPORT is kept
    i = client.tail
    while i != client.head:
        event = client.buffer[i]
        assert event is not None
        is_report = event[2] == EV_SYN and event[3] == SYN_REPORT
        i = (i + 1) & mask
        if event[2] == type or (is_report and not num):
            continue
        client.buffer[head] = event
        num += 1
        head = (head + 1) & mask
        if is_report:
            num = 0
            client.packet_head = head
    client.head = head


def _fetch_next_event(client: EvdevClient) -> _Event | None:
    """evdev_fetch_next_event(): the oldest event of a complete frame, or None."""
    if client.packet_head == client.tail:
        return None
    event = client.buffer[client.tail]
    client.tail = (client.tail + 1) & (client.bufsize - 1)
    return event


def evdev_compute_buffer_size(dev: InputDev) -> int:
    """evdev_compute_buffer_size(): room for EVDEV_BUF_PACKETS frames, at least 64
    events, rounded up to a power of two.  Context: atomic."""
    n_events = max(dev.hint_events_per_packet * EVDEV_BUF_PACKETS, EVDEV_MIN_BUFFER_SIZE)
    return 1 << (n_events - 1).bit_length()


# -- opening and closing ----------------------------------------------------------------------


async def _open_device(evdev: Evdev) -> int:
    """evdev_open_device(): the first client opens the input device."""
    async with evdev.mutex:
        if not evdev.exist:
            return -Errno.ENODEV
        evdev.open += 1
        if evdev.open > 1:
            return 0
        error = await input_open_device(evdev.input)
        if error:
            evdev.open -= 1
        return error


async def _close_device(evdev: Evdev) -> None:
    """evdev_close_device(): the last client closes the input device."""
    async with evdev.mutex:
        if evdev.exist:
            evdev.open -= 1
            if not evdev.open:
                await input_close_device(evdev.input)


def _client(file: File) -> EvdevClient:
    client = file.private_data
    assert isinstance(client, EvdevClient)
    return client


async def evdev_open(inode: Inode, file: File) -> int:
    """evdev_open(): a new client with its ring; -ENODEV once the device is gone.
    Context: may sleep."""
    cdev = inode.i_cdev
    assert isinstance(cdev, EvdevCdev)
    evdev = cdev.evdev
    client = EvdevClient(evdev, evdev_compute_buffer_size(evdev.input.dev))
    evdev.client_list.append(client)
    error = await _open_device(evdev)
    if error:
        evdev.client_list.remove(client)
        return error
    file.private_data = client
    stream_open(inode, file)
    return 0


async def evdev_release(inode: Inode, file: File) -> int:
    """evdev_release(): the client's grab ends, the client goes, and the last one closes
    the input device.  Context: may sleep."""
    client = _client(file)
    evdev = client.evdev
    async with evdev.mutex:
        _ungrab(evdev, client)
    if client in evdev.client_list:
        evdev.client_list.remove(client)
    await _close_device(evdev)
    return 0


# -- read, write, poll ------------------------------------------------------------------------


async def evdev_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    """evdev_read(): whole events of complete frames, as many as fit.  -EINVAL for a
    buffer (other than 0 bytes) smaller than one event, -ENODEV once the device is gone
    or the client revoked, -EAGAIN with O_NONBLOCK when nothing is queued; else it sleeps
    until a frame is complete.  Context: may sleep."""
    client = _client(file)
    evdev = client.evdev
    if count and count < INPUT_EVENT_SIZE:
        return -Errno.EINVAL
    while True:
        if not evdev.exist or client.revoked:
            return -Errno.ENODEV
        if client.packet_head == client.tail and file.f_flags & O_NONBLOCK:
            return -Errno.EAGAIN
        if not count:
            return 0
        read = 0
        while read + INPUT_EVENT_SIZE <= count:
            event = _fetch_next_event(client)
            if event is None:
                break
            INPUT_EVENT.pack_into(buf, read, *event)
            read += INPUT_EVENT_SIZE
        if read:
            return read
        if not file.f_flags & O_NONBLOCK:
            await client.wait.wait_event(lambda: client.packet_head != client.tail
                                         or not evdev.exist or client.revoked)


async def evdev_write(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    """evdev_write(): inject the events written (at most 4096 bytes a call) through the
    handle; returns the bytes of the whole events taken.  -EINVAL for fewer bytes than one
    event, -ENODEV once the device is gone.  Context: may sleep."""
    client = _client(file)
    evdev = client.evdev
    count = min(count, EVDEV_WRITE_MAX)
    if count and count < INPUT_EVENT_SIZE:
        return -Errno.EINVAL
    async with evdev.mutex:
        if not evdev.exist or client.revoked:
            return -Errno.ENODEV
        written = 0
        while written + INPUT_EVENT_SIZE <= count:
            _, _, type_, code, value = INPUT_EVENT.unpack_from(buf, written)
            written += INPUT_EVENT_SIZE
            input_inject_event(evdev.input, type_, code, value)
        return written


def evdev_poll(file: File, table: PollTable | None) -> int:
    """evdev_poll(): POLLOUT while the device exists (else POLLHUP | POLLERR), POLLIN
    when a complete frame is queued.  Context: atomic."""
    client = _client(file)
    evdev = client.evdev
    poll_wait(file, client.wait, table)
    alive = evdev.exist and not client.revoked
    mask = Poll.OUT | Poll.WRNORM if alive else Poll.HUP | Poll.ERR
    if client.packet_head != client.tail:
        mask |= Poll.IN | Poll.RDNORM
    return int(mask)


# -- ioctls -----------------------------------------------------------------------------------


def _bits_to_user(bits: int, maxbit: int, maxlen: int, arg: Any) -> int:
    """bits_to_user(): the bitmap as the unsigned longs of `maxbit` bits, at most `maxlen`
    bytes; the bytes copied or -EFAULT."""
    nbytes = (maxbit + 63) // 64 * 8
    data = (bits & ((1 << nbytes * 8) - 1)).to_bytes(nbytes, "little")[:maxlen]
    return copy_to_user_arg(arg, data) or len(data)


def _str_to_user(text: str | None, maxlen: int, arg: Any) -> int:
    """str_to_user(): the string and its NUL, at most `maxlen` bytes; the bytes copied,
    -ENOENT for no string, -EFAULT."""
    if text is None:
        return -Errno.ENOENT
    data = (text.encode() + b"\0")[:maxlen]
    return copy_to_user_arg(arg, data) or len(data)


def _grab(evdev: Evdev, client: EvdevClient) -> int:
    """evdev_grab(): -EBUSY when grabbed already."""
    if evdev.grab is not None:
        return -Errno.EBUSY
    error = input_grab_device(evdev.input)
    if error:
        return error
    evdev.grab = client
    return 0


def _ungrab(evdev: Evdev, client: EvdevClient) -> int:
    """evdev_ungrab(): -EINVAL unless the client holds the grab."""
    if evdev.grab is not client:
        return -Errno.EINVAL
    evdev.grab = None
    input_release_device(evdev.input)
    return 0


def _set_clk_type(client: EvdevClient, clkid: int) -> int:
    """evdev_set_clk_type(): a change of clock empties the ring, leaving a SYN_DROPPED
    when it held events; -EINVAL for a clock other than REALTIME, MONOTONIC, BOOTTIME."""
    clk_type = _CLOCK_TYPES.get(clkid)
    if clk_type is None:
        return -Errno.EINVAL
    if client.clk_type != clk_type:
        client.clk_type = clk_type
        if client.head != client.tail:
            client.packet_head = client.head = client.tail
            _queue_syn_dropped(client)
    return 0


def _get_val(client: EvdevClient, type: int, bits: int, maxbit: int, maxlen: int,
             arg: Any) -> int:
    """evdev_handle_get_val(): the state bitmap, after dropping the queued events of
    its type (a failed copy queues a SYN_DROPPED)."""
    _flush_queue(client, type)
    ret = _bits_to_user(bits, maxbit, maxlen, arg)
    if ret < 0:
        _queue_syn_dropped(client)
    return ret


def _revoke(file: File, evdev: Evdev, client: EvdevClient) -> int:
    """evdev_revoke(): the client gets nothing more and -ENODEV from now on."""
    client.revoked = True
    _ungrab(evdev, client)
    input_flush_device(evdev.input, file)
    client.wait.wake_up()
    return 0


def _ioctl_version(file: File, client: EvdevClient, dev: InputDev, arg: Any) -> int:
    return put_user_int(arg, EV_VERSION)


def _ioctl_id(file: File, client: EvdevClient, dev: InputDev, arg: Any) -> int:
    return copy_to_user_arg(arg, dev.id.pack())


def _ioctl_get_rep(file: File, client: EvdevClient, dev: InputDev, arg: Any) -> int:
    if not dev.evbit >> EV_REP & 1:
        return -Errno.ENOSYS
    return copy_to_user_arg(arg, struct.pack("<II", dev.rep[REP_DELAY], dev.rep[REP_PERIOD]))


def _ioctl_set_rep(file: File, client: EvdevClient, dev: InputDev, arg: Any) -> int:
    if not dev.evbit >> EV_REP & 1:
        return -Errno.ENOSYS
    data = copy_from_user_arg(arg, 8)
    if data is None:
        return -Errno.EFAULT
    delay, period = struct.unpack("<ii", data)
    handle = client.evdev.input
    input_inject_event(handle, EV_REP, REP_DELAY, delay)
    input_inject_event(handle, EV_REP, REP_PERIOD, period)
    return 0


def _ioctl_grab(file: File, client: EvdevClient, dev: InputDev, arg: Any) -> int:
    evdev = client.evdev
    return _grab(evdev, client) if arg else _ungrab(evdev, client)


def _ioctl_revoke(file: File, client: EvdevClient, dev: InputDev, arg: Any) -> int:
    return -Errno.EINVAL if arg else _revoke(file, client.evdev, client)


def _ioctl_clockid(file: File, client: EvdevClient, dev: InputDev, arg: Any) -> int:
    clkid = get_user_int(arg)
    return -Errno.EFAULT if clkid is None else _set_clk_type(client, clkid)


_FixedIoctl: TypeAlias = Callable[[File, EvdevClient, InputDev, Any], int]
_SizedIoctl: TypeAlias = Callable[[EvdevClient, InputDev, int, Any], int]

#: The commands of a fixed size, first.
_FIXED_IOCTLS: Final[Mapping[int, _FixedIoctl]] = {
    EVIOCGVERSION: _ioctl_version,
    EVIOCGID: _ioctl_id,
    EVIOCGREP: _ioctl_get_rep,
    EVIOCSREP: _ioctl_set_rep,
    EVIOCGRAB: _ioctl_grab,
    EVIOCREVOKE: _ioctl_revoke,
    EVIOCSCLOCKID: _ioctl_clockid,
}


def _ioctl_mt_slots(client: EvdevClient, dev: InputDev, size: int, arg: Any) -> int:
    """evdev_handle_mt_request(): without multitouch slots, -EINVAL for any code (-EFAULT
    when it cannot be read)."""
    return -Errno.EFAULT if get_user_int(arg) is None else -Errno.EINVAL


#: The commands whose size is the buffer's length (EVIOC_MASK_SIZE).
_SIZED_IOCTLS: Final[Mapping[int, _SizedIoctl]] = {
    EVIOCGPROP(0): lambda c, d, size, arg: _bits_to_user(d.propbit, INPUT_PROP_MAX, size, arg),
    EVIOCGMTSLOTS(0): _ioctl_mt_slots,
    EVIOCGKEY(0): lambda c, d, size, arg: _get_val(c, EV_KEY, d.key, KEY_MAX, size, arg),
    EVIOCGLED(0): lambda c, d, size, arg: _get_val(c, EV_LED, d.led, LED_MAX, size, arg),
    EVIOCGSND(0): lambda c, d, size, arg: _get_val(c, EV_SND, d.snd, SND_MAX, size, arg),
    EVIOCGSW(0): lambda c, d, size, arg: _get_val(c, EV_SW, d.sw, SW_MAX, size, arg),
    EVIOCGNAME(0): lambda c, d, size, arg: _str_to_user(d.name, size, arg),
    EVIOCGPHYS(0): lambda c, d, size, arg: _str_to_user(d.phys, size, arg),
    EVIOCGUNIQ(0): lambda c, d, size, arg: _str_to_user(d.uniq, size, arg),
}

#: EVIOCGBIT: the bitmap (an InputDev attribute) and its highest bit, per event type (0:
#: the event types).
_EVIOCGBIT_BITMAPS: Final[Mapping[int, tuple[str, int]]] = {0: ("evbit", EV_MAX),
                                                            **CAPABILITIES}


def _eviocgbit(dev: InputDev, type: int, size: int, arg: Any) -> int:
    """handle_eviocgbit(): -EINVAL for a type without a bitmap."""
    found = _EVIOCGBIT_BITMAPS.get(type)
    if found is None:
        return -Errno.EINVAL
    bitmap, maxbit = found
    return _bits_to_user(getattr(dev, bitmap), maxbit, size, arg)


def _eviocgabs(dev: InputDev, axis: int, size: int, arg: Any) -> int:
    """EVIOCGABS: the axis' struct input_absinfo (at most `size` bytes)."""
    if dev.absinfo is None:
        return -Errno.EINVAL
    return copy_to_user_arg(arg, dev.absinfo[axis].pack()[:min(size, InputAbsinfo.SIZE)])


def _eviocsabs(dev: InputDev, axis: int, size: int, arg: Any) -> int:
    """EVIOCSABS: a new struct input_absinfo for the axis (resolution 0 from a shorter
    one); -EINVAL for ABS_MT_SLOT."""
    if dev.absinfo is None:
        return -Errno.EINVAL
    data = copy_from_user_arg(arg, min(size, InputAbsinfo.SIZE))
    if data is None:
        return -Errno.EFAULT
    if axis == ABS_MT_SLOT:
        return -Errno.EINVAL
    dev.absinfo[axis] = InputAbsinfo.unpack(data.ljust(InputAbsinfo.SIZE, b"\0"))
    return 0


def _do_ioctl(file: File, client: EvdevClient, cmd: int, arg: Any) -> int:
    """evdev_do_ioctl(): fixed-size commands, then sized ones, then EVIOCGBIT,
    EVIOCGABS and EVIOCSABS; -EINVAL for anything else."""
    dev = client.evdev.input.dev
    fixed = _FIXED_IOCTLS.get(cmd)
    if fixed is not None:
        return fixed(file, client, dev, arg)
    size = _ioc_size(cmd)
    sized = _SIZED_IOCTLS.get(_mask_size(cmd))
    if sized is not None:
        return sized(client, dev, size, arg)
    if _ioc_type(cmd) != ord("E"):
        return -Errno.EINVAL
    nr = _ioc_nr(cmd)
    if _ioc_dir(cmd) == _IOC_READ:
        if nr & ~EV_MAX == _ioc_nr(EVIOCGBIT(0, 0)):
            return _eviocgbit(dev, nr & EV_MAX, size, arg)
        if nr & ~ABS_MAX == _ioc_nr(EVIOCGABS(0)):
            return _eviocgabs(dev, nr & ABS_MAX, size, arg)
    if _ioc_dir(cmd) == _IOC_WRITE and nr & ~ABS_MAX == _ioc_nr(EVIOCSABS(0)):
        return _eviocsabs(dev, nr & ABS_MAX, size, arg)
    return -Errno.EINVAL


async def evdev_ioctl(file: File, cmd: int, arg: Any) -> int:
    """evdev_ioctl(): see the module docstring; -ENODEV once the device is gone or the
    client revoked.  Context: may sleep."""
    client = _client(file)
    evdev = client.evdev
    async with evdev.mutex:
        if not evdev.exist or client.revoked:
            return -Errno.ENODEV
        return _do_ioctl(file, client, cmd, arg)


EVDEV_FOPS: Final = FileOperations(owner=None, open=evdev_open, release=evdev_release,
                                   read=evdev_read, write=evdev_write, poll=evdev_poll,
                                   unlocked_ioctl=evdev_ioctl)
"""evdev_fops: no llseek (lseek is -ESPIPE), a stream."""


# -- connecting to input devices --------------------------------------------------------------


async def _cleanup(evdev: Evdev) -> None:
    """evdev_cleanup(): mark the evdev dead, wake its sleepers, close the input device
    if clients had it open."""
    async with evdev.mutex:
        evdev.exist = False
    for client in evdev.client_list:
        client.wait.wake_up()
    if evdev.open:
        input_flush_device(evdev.input, None)
        await input_close_device(evdev.input)


async def evdev_connect(handler: InputHandler, dev: InputDev, id: InputDeviceId) -> int:
    """evdev_connect(): a minor (64.. for event0..31, else 256..), the handle "eventN",
    the cdev and the class device eventN below inputN.  0 or -errno ("evdev: failed to
    reserve new minor" when none is left).  Context: may sleep."""
    core = dev.core
    assert core is not None and dev.dev is not None
    minor = core.get_new_minor(EVDEV_MINOR_BASE, EVDEV_MINORS, True)
    if minor < 0:
        core.log.log(Level.ERR, f"evdev: failed to reserve new minor: {minor}")
        return minor
    dev_no = minor - EVDEV_MINOR_BASE if minor < EVDEV_MINOR_BASE + EVDEV_MINORS else minor
    evdev = Evdev(core, minor, f"event{dev_no}")
    evdev.handle = InputHandle(dev, handler, evdev.name, evdev)
    input_register_handle(evdev.handle)
    evdev.cdev = EvdevCdev(evdev)
    devt = mkdev(INPUT_MAJOR, minor)
    core.chrdev.cdev_add(evdev.cdev, devt, 1)
    try:
        evdev.dev = await core.classes.device_create(core.input_class, dev.dev, devt, evdev,
                                                     evdev.name)
    except OSError as exc:
        core.chrdev.cdev_del(evdev.cdev)
        await _cleanup(evdev)
        input_unregister_handle(evdev.handle)
        core.free_minor(minor)
        return -(exc.errno or Errno.EINVAL)
    return 0


async def evdev_disconnect(handle: InputHandle) -> None:
    """evdev_disconnect(): eventN and its node go (files open on it are revoked), the
    evdev dies (sleeping readers wake to -ENODEV; the input device is closed if clients
    had it open), the minor is freed.  Context: may sleep."""
    evdev: Evdev = handle.private
    if evdev.dev is not None:
        await evdev.core.classes.device_unregister(evdev.dev)
    if evdev.cdev is not None:
        evdev.core.chrdev.cdev_del(evdev.cdev)
    await _cleanup(evdev)
    evdev.core.free_minor(evdev.minor)
    input_unregister_handle(handle)


def evdev_handler() -> InputHandler:
    """The evdev input handler of one machine: it connects to every input device.
    Context: atomic."""
    return InputHandler(name="evdev", connect=evdev_connect, disconnect=evdev_disconnect,
                        events=evdev_events, legacy_minors=True, minor=EVDEV_MINOR_BASE)


# -- for Python callers -----------------------------------------------------------------------


async def read_events(afile: AsyncFile, max_events: int = 64) -> list[InputEvent]:
    """One read(2) of up to `max_events` events from an open /dev/input/eventN, decoded.
    Sleeps until a frame is complete unless the file is non-blocking.  Raises OSError
    (ENODEV once the device is gone, EAGAIN when non-blocking and nothing is queued) and
    ValueError for `max_events` < 1.  Context: may sleep."""
    if max_events < 1:
        raise ValueError(f"read_events: max_events {max_events} (at least 1)")
    return decode_events(await afile.read(max_events * INPUT_EVENT_SIZE))


#: The bytes of the largest bitmap (KEY_MAX bits in unsigned longs).
_KEY_BYTES: Final = (KEY_MAX + 63) // 64 * 8
_ABSVAL: Final = ("Value", "Min  ", "Max  ", "Fuzz ", "Flat ", "Resolution ")
#: The event types whose state evtest prints next to their codes, with their ioctl.
_STATE_IOCTLS: Final[Mapping[int, Callable[[int], int]]] = {
    EV_LED: EVIOCGLED, EV_SND: EVIOCGSND, EV_SW: EVIOCGSW}


async def _bitmap(afile: AsyncFile, cmd: int, size: int) -> int:
    buf = bytearray(size)
    await afile.ioctl(cmd, buf)
    return int.from_bytes(buf, "little")


async def _codes(afile: AsyncFile, type: int, bits: int) -> list[str]:
    """evtest's lines for the codes of one event type."""
    state: int | None = None
    if type in _STATE_IOCTLS:
        try:
            state = await _bitmap(afile, _STATE_IOCTLS[type](_KEY_BYTES), _KEY_BYTES)
        except OSError:
            state = None
    lines = []
    for code in range(KEY_MAX):
        if not bits >> code & 1:
            continue
        line = f"    Event code {code} ({code_name(type, code) or '?'})"
        lines.append(line if state is None else f"{line} state {state >> code & 1}")
        if type == EV_ABS:
            buf = bytearray(InputAbsinfo.SIZE)
            await afile.ioctl(EVIOCGABS(code), buf)
            fields = struct.unpack("<6i", buf)
            lines += [f"      {_ABSVAL[k]} {fields[k]:6d}" for k in range(6)
                      if k < 3 or fields[k]]
    return lines


async def evtest_header(afile: AsyncFile) -> str:
    """What evtest prints about an open /dev/input/eventN before its events: driver
    version, device id and name, the supported event types and codes (with LED, sound and
    switch states and absolute axis values), the repeat settings, the properties, and
    "Testing ... (interrupt to exit)".  Raises OSError as the ioctls fail (ENODEV once
    the device is gone).  Context: may sleep."""
    version = bytearray(4)
    await afile.ioctl(EVIOCGVERSION, version)
    ver = int.from_bytes(version, "little")
    id_buf = bytearray(InputId.SIZE)
    await afile.ioctl(EVIOCGID, id_buf)
    ident = InputId.unpack(id_buf)
    name_buf = bytearray(256)
    try:
        await afile.ioctl(EVIOCGNAME(len(name_buf)), name_buf)
        name = name_buf.split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        name = "Unknown"
    lines = [f"Input driver version is {ver >> 16}.{ver >> 8 & 0xFF}.{ver & 0xFF}",
             f"Input device ID: bus {ident.bustype:#x} vendor {ident.vendor:#x} product "
             f"{ident.product:#x} version {ident.version:#x}",
             f'Input device name: "{name}"',
             "Supported events:"]
    types = await _bitmap(afile, EVIOCGBIT(0, EV_MAX), 8)
    for type_ in range(EV_MAX):
        if not types >> type_ & 1 or type_ == EV_REP:
            continue
        lines.append(f"  Event type {type_} ({type_name(type_) or '?'})")
        if type_ != EV_SYN:
            bits = await _bitmap(afile, EVIOCGBIT(type_, KEY_MAX), _KEY_BYTES)
            lines += await _codes(afile, type_, bits)
    if types >> EV_REP & 1:
        rep = bytearray(8)
        await afile.ioctl(EVIOCGREP, rep)
        values = struct.unpack("<II", rep)
        lines += ["Key repeat handling:", f"  Repeat type {EV_REP} (EV_REP)"]
        for code in range(REP_MAX + 1):
            lines += [f"    Repeat code {code} ({code_name(EV_REP, code) or '?'})",
                      f"      Value {values[code]:6d}"]
    props = await _bitmap(afile, EVIOCGPROP(8), 8)
    lines.append("Properties:")
    lines += [f"  Property type {prop} ({_PROP_NAMES.get(prop, '?')})"
              for prop in range(INPUT_PROP_MAX) if props >> prop & 1]
    lines.append("Testing ... (interrupt to exit)")
    return "".join(line + "\n" for line in lines)
