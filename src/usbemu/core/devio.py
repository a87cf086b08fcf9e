"""usbfs — counterpart of drivers/usb/core/devio.c and include/uapi/linux/usbdevice_fs.h.

Opening /dev/bus/usb/BBB/DDD (major 189, usb_devio_init's region) gives a `UsbDevState`
for that file: read() returns the device descriptor, then each raw configuration
descriptor (usbdev_read); the USBDEVFS_* ioctls claim and release interfaces for the
process (the interface driver "usbfs" holds them), run synchronous control and bulk
transfers, submit URBs that complete into the file's reap queue, and change
configuration, altsetting, halt and reset state, with devio.c's checks, errnos and kernel
messages (an endpoint or interface used before it was claimed is claimed then, after
"usbfs: process N (comm) did not claim interface N before use").  Close releases the
file's interfaces and kills its URBs.  After the device is removed every call is -ENODEV
except the reaps, which return the URBs already completed (USBDEVFS_CAP_REAP_AFTER_
DISCONNECT), and poll reports POLLERR | POLLHUP.

The ioctl argument is a Python object in place of the C struct a program passes: a
`CtrlTransfer`, `BulkTransfer`, `SetInterface`, `GetDriver`, `ConnectInfo`,
`UsbdevfsUrb` (SUBMITURB and DISCARDURB: the object itself is the URB's user address),
`UrbRef` (REAPURB / REAPURBNDELAY store the reaped `UsbdevfsUrb` in it), `UsbdevfsIoctl`,
`DisconnectClaim`, `Streams`; an `unsigned int` argument is an int (or a buffer holding a
little-endian one); a `__u32` the kernel writes (GET_CAPABILITIES) is a 4-byte bytearray.
The ioctl numbers are Linux's x86-64 values.  Not modelled: signals (signr and
USBDEVFS_DISCSIGNAL are accepted and never sent), mmap (so USBDEVFS_CAP_MMAP is not
reported), scatter-gather, usbfs_snoop, the usbfs_memory_mb limit, port claims,
HUB_PORTINFO, CONNINFO_EX and the suspend ioctls, uevent suppression while usbfs claims.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Any, Final

from ..errors import Errno
from ..kernel.fs import (
    ENOIOCTLCMD,
    SEEK_CUR,
    SEEK_SET,
    File,
    FileOperations,
    FMode,
    Inode,
    Loff,
    dev_minor,
    io,
    ior,
    iow,
    iowr,
)
from ..kernel.wait import Poll, PollTable, WaitQueueHead, poll_wait
from ..spec.ch9 import DeviceState, EndpointType, Speed
from .driver import UsbDriver, usb_driver_claim_interface, usb_driver_release_interface
from .hcd import usb_hcd_reset_endpoint
from .message import (
    usb_bulk_msg,
    usb_clear_halt,
    usb_control_msg,
    usb_set_configuration,
    usb_set_interface,
)
from .urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    PIPE_ISOCHRONOUS,
    Urb,
    UrbFlag,
    make_pipe,
    usb_kill_urb,
    usb_submit_urb,
)
from .usb import UsbDevice, UsbHostEndpoint, UsbInterface

if TYPE_CHECKING:
    from .usbcore import UsbCore

__all__ = [
    "BulkTransfer",
    "Cap",
    "ConnectInfo",
    "CtrlTransfer",
    "DisconnectClaim",
    "GetDriver",
    "IsoPacketDesc",
    "SetInterface",
    "Streams",
    "UrbRef",
    "UrbType",
    "UsbDevState",
    "UsbdevfsIoctl",
    "UsbdevfsUrb",
    "UsbdevfsUrbFlag",
    "usbdev_file_operations",
    "usbfs_driver",
]

# -- include/uapi/linux/usbdevice_fs.h ---------------------------------------------------------

USBDEVFS_CONTROL: Final = iowr("U", 0, 24)
USBDEVFS_BULK: Final = iowr("U", 2, 24)
USBDEVFS_RESETEP: Final = ior("U", 3, 4)
USBDEVFS_SETINTERFACE: Final = ior("U", 4, 8)
USBDEVFS_SETCONFIGURATION: Final = ior("U", 5, 4)
USBDEVFS_GETDRIVER: Final = iow("U", 8, 260)
USBDEVFS_SUBMITURB: Final = ior("U", 10, 56)
USBDEVFS_DISCARDURB: Final = io("U", 11)
USBDEVFS_REAPURB: Final = iow("U", 12, 8)
USBDEVFS_REAPURBNDELAY: Final = iow("U", 13, 8)
USBDEVFS_DISCSIGNAL: Final = ior("U", 14, 16)
USBDEVFS_CLAIMINTERFACE: Final = ior("U", 15, 4)
USBDEVFS_RELEASEINTERFACE: Final = ior("U", 16, 4)
USBDEVFS_CONNECTINFO: Final = iow("U", 17, 8)
USBDEVFS_IOCTL: Final = iowr("U", 18, 16)
USBDEVFS_RESET: Final = io("U", 20)
USBDEVFS_CLEAR_HALT: Final = ior("U", 21, 4)
USBDEVFS_DISCONNECT: Final = io("U", 22)
USBDEVFS_CONNECT: Final = io("U", 23)
USBDEVFS_GET_CAPABILITIES: Final = ior("U", 26, 4)
USBDEVFS_DISCONNECT_CLAIM: Final = ior("U", 27, 264)
USBDEVFS_ALLOC_STREAMS: Final = ior("U", 28, 8)
USBDEVFS_FREE_STREAMS: Final = ior("U", 29, 8)
USBDEVFS_DROP_PRIVILEGES: Final = iow("U", 30, 4)
USBDEVFS_GET_SPEED: Final = io("U", 31)

USBDEVFS_DISCONNECT_CLAIM_IF_DRIVER: Final = 0x01
USBDEVFS_DISCONNECT_CLAIM_EXCEPT_DRIVER: Final = 0x02
USBDEVFS_MAXDRIVERNAME: Final = 255
#: Interfaces a file can claim: the bits of `unsigned long ifclaimed`.
_IFCLAIMED_BITS: Final = 32
#: USBFS_XFER_MAX: the hard limit on one transfer's length.
USBFS_XFER_MAX: Final = 0xFFFFFFFF // 2 - 1000000
PAGE_SIZE: Final = 4096
#: The current task as usbfs names it in its messages (task_pid_nr, current->comm).
CURRENT_COMM: Final = "python"


class UrbType(IntEnum):
    """USBDEVFS_URB_TYPE_*."""

    ISO = 0
    INTERRUPT = 1
    CONTROL = 2
    BULK = 3


class UsbdevfsUrbFlag(IntFlag):
    """USBDEVFS_URB_* flags of struct usbdevfs_urb."""

    SHORT_NOT_OK = 0x01
    ISO_ASAP = 0x02
    BULK_CONTINUATION = 0x04
    NO_FSBR = 0x20
    ZERO_PACKET = 0x40
    NO_INTERRUPT = 0x80


class Cap(IntFlag):
    """USBDEVFS_CAP_* bits of USBDEVFS_GET_CAPABILITIES."""

    ZERO_PACKET = 0x01
    BULK_CONTINUATION = 0x02
    NO_PACKET_SIZE_LIM = 0x04
    BULK_SCATTER_GATHER = 0x08
    REAP_AFTER_DISCONNECT = 0x10
    MMAP = 0x20
    DROP_PRIVILEGES = 0x40
    CONNINFO_EX = 0x80
    SUSPEND = 0x100


@dataclass
class CtrlTransfer:
    """struct usbdevfs_ctrltransfer: the setup fields, `timeout` in ms (0: none), and
    `data` (wLength bytes to send, or a bytearray of at least wLength to receive)."""

    bRequestType: int
    bRequest: int
    wValue: int
    wIndex: int
    wLength: int
    timeout: int = 0
    data: bytes | bytearray | memoryview | None = None


@dataclass
class BulkTransfer:
    """struct usbdevfs_bulktransfer: endpoint address, length, timeout in ms (0: none),
    and `data` (the bytes to send, or a bytearray of at least `len` to receive)."""

    ep: int
    len: int
    timeout: int = 0
    data: bytes | bytearray | memoryview | None = None


@dataclass
class SetInterface:
    """struct usbdevfs_setinterface."""

    interface: int
    altsetting: int


@dataclass
class GetDriver:
    """struct usbdevfs_getdriver: the kernel fills `driver`."""

    interface: int
    driver: str = ""


@dataclass
class ConnectInfo:
    """struct usbdevfs_connectinfo: the kernel fills both fields."""

    devnum: int = 0
    slow: int = 0


@dataclass
class IsoPacketDesc:
    """struct usbdevfs_iso_packet_desc: `length` asked, the rest filled at reap."""

    length: int
    actual_length: int = 0
    status: int = 0


@dataclass(eq=False)
class UsbdevfsUrb:
    """struct usbdevfs_urb.  The object is its own user address: DISCARDURB names it,
    REAPURB hands it back.  `buffer` is the transfer buffer (a bytearray for IN; for a
    control URB the 8-byte setup packet comes first), filled and updated at reap with
    `status`, `actual_length`, `error_count` and each iso packet's result."""

    type: int
    endpoint: int
    status: int = 0
    flags: int = 0
    buffer: bytes | bytearray | memoryview | None = None
    buffer_length: int = 0
    actual_length: int = 0
    start_frame: int = 0
    number_of_packets: int = 0
    stream_id: int = 0
    error_count: int = 0
    signr: int = 0
    usercontext: Any = None
    iso_frame_desc: list[IsoPacketDesc] = field(default_factory=list)


@dataclass
class UrbRef:
    """The `void **` of REAPURB / REAPURBNDELAY: the reaped URB is stored in `urb`."""

    urb: UsbdevfsUrb | None = None


@dataclass
class UsbdevfsIoctl:
    """struct usbdevfs_ioctl: USBDEVFS_DISCONNECT / USBDEVFS_CONNECT, or a driver's own
    ioctl code, for interface `ifno`."""

    ifno: int
    ioctl_code: int
    data: Any = None


@dataclass
class DisconnectClaim:
    """struct usbdevfs_disconnect_claim."""

    interface: int
    flags: int = 0
    driver: str = ""


@dataclass
class Streams:
    """struct usbdevfs_streams: stream count and the endpoint addresses."""

    num_streams: int
    eps: list[int] = field(default_factory=list)


# -- per-file state --------------------------------------------------------------------------


@dataclass(eq=False)
class _Async:
    """struct async: one submitted URB of a file."""

    user: UsbdevfsUrb
    urb: Urb
    ifnum: int
    userbuffer: bytearray | memoryview | None
    bulk_addr: int = 0
    continuation: bool = False


class UsbDevState:
    """struct usb_dev_state: one open of /dev/bus/usb/BBB/DDD — the interfaces it
    claimed (`ifclaimed` bits), its pending and completed URBs, and the wait queue
    the reaps sleep on."""

    def __init__(self, dev: UsbDevice, file: File) -> None:
        self.dev = dev
        self.file = file
        self.pending: list[_Async] = []
        self.completed: deque[_Async] = deque()
        self.wait = WaitQueueHead()
        self.ifclaimed = 0
        self.disabled_bulk_eps = 0
        self.interface_allowed_mask = 0xFFFFFFFF
        self.privileges_dropped = False

    @property
    def core(self) -> UsbCore:
        return self.dev.usb_bus.core

    def connected(self) -> bool:
        """connected(): the file's device is still there.  Context: atomic."""
        return self.dev.registered and self.dev.state is not DeviceState.NOTATTACHED


def _driver_of(dev: UsbDevice) -> UsbDriver:
    drv = dev.usb_bus.core.bus_type.find_driver("usbfs")
    assert isinstance(drv, UsbfsDriver)
    return drv


# -- the "usbfs" interface driver ------------------------------------------------------------


class UsbfsDriver(UsbDriver):
    """The interface driver "usbfs": it holds the interfaces programs claim, never
    matches by itself, and its disconnect drops the claim and the interface's URBs."""

    def __init__(self) -> None:
        super().__init__("usbfs", id_table=(), no_dynamic_id=True)

    async def disconnect(self, intf: UsbInterface) -> None:
        """driver_disconnect(): clear the file's claim bit and kill the URBs it submitted
        on that interface.  Context: may sleep."""
        ps = intf.driver_data
        if not isinstance(ps, UsbDevState):
            return
        ifnum = intf.number
        if ifnum < _IFCLAIMED_BITS:
            ps.ifclaimed &= ~(1 << ifnum)
        else:
            ps.core.log.dev_warn(intf, f"interface number {ifnum} out of range")
        intf.driver_data = None
        await _destroy_async_on_interface(ps, ifnum)


def usbfs_driver() -> UsbDriver:
    """The interface driver "usbfs" (devio.c): it never matches by itself and its probe
    declines (-ENODEV).  Context: atomic."""
    return UsbfsDriver()


# -- claims ------------------------------------------------------------------------------------


def _warn(ps: UsbDevState, text: str) -> None:
    ps.core.log.dev_warn(ps.dev, text)


async def claimintf(ps: UsbDevState, ifnum: int) -> int:
    """claimintf(): 0, -EINVAL (number out of range), -EACCES (privileges dropped),
    -ENOENT (no such interface), -EBUSY (a driver holds it).  Context: may sleep.
    Context: may sleep."""
    if not 0 <= ifnum < _IFCLAIMED_BITS:
        return -Errno.EINVAL
    if ps.ifclaimed & (1 << ifnum):
        return 0
    if ps.privileges_dropped and not ps.interface_allowed_mask & (1 << ifnum):
        return -Errno.EACCES
    intf = ps.dev.interface(ifnum)
    if intf is None:
        return -Errno.ENOENT
    err = await usb_driver_claim_interface(_driver_of(ps.dev), intf, ps)
    if err == 0:
        ps.ifclaimed |= 1 << ifnum
    return err


async def releaseintf(ps: UsbDevState, ifnum: int) -> int:
    """releaseintf(): 0, -EINVAL (not claimed by this file), -ENOENT (no interface).
    Context: may sleep."""
    if not 0 <= ifnum < _IFCLAIMED_BITS:
        return -Errno.EINVAL
    intf = ps.dev.interface(ifnum)
    if intf is None:
        return -Errno.ENOENT
    if not ps.ifclaimed & (1 << ifnum):
        return -Errno.EINVAL
    ps.ifclaimed &= ~(1 << ifnum)
    await usb_driver_release_interface(_driver_of(ps.dev), intf)
    return 0


async def checkintf(ps: UsbDevState, ifnum: int) -> int:
    """checkintf(): the interface is claimed by this file, or claimed now with devio's
    warning; -EHOSTUNREACH on an unconfigured device.  Context: may sleep."""
    if ps.dev.state is not DeviceState.CONFIGURED:
        return -Errno.EHOSTUNREACH
    if not 0 <= ifnum < _IFCLAIMED_BITS:
        return -Errno.EINVAL
    if ps.ifclaimed & (1 << ifnum):
        return 0
    if ps.privileges_dropped and not ps.interface_allowed_mask & (1 << ifnum):
        return -Errno.EACCES
    _warn(ps, f"usbfs: process {os.getpid()} ({CURRENT_COMM}) did not claim interface "
              f"{ifnum} before use")
    return await claimintf(ps, ifnum)


def _claimed(ps: UsbDevState, ifnum: int) -> bool:
    """checkintf()'s answer without a call when the interface is this file's already."""
    return bool(ps.ifclaimed >> ifnum & 1) and ps.dev.state is DeviceState.CONFIGURED


def findintfep(dev: UsbDevice, ep: int) -> int:
    """findintfep(): the number of the interface one of whose altsettings has endpoint
    `ep`; -EINVAL (bad address), -ESRCH (unconfigured), -ENOENT.  Context: atomic."""
    if ep & ~(0x80 | 0x0F):
        return -Errno.EINVAL
    if dev.actconfig is None:
        return -Errno.ESRCH
    for intf in dev.interfaces():
        for alt in intf.altsetting:
            if any(hep.address == ep for hep in alt.endpoint):
                return alt.desc.bInterfaceNumber or 0
    return -Errno.ENOENT


async def check_ctrlrecip(ps: UsbDevState, requesttype: int, request: int, index: int) -> int:
    """check_ctrlrecip(): a control request to an interface or an endpoint needs the
    interface (claimed implicitly); vendor requests pass.  Context: may sleep."""
    if ps.dev.state not in (DeviceState.ADDRESS, DeviceState.CONFIGURED):
        return -Errno.EHOSTUNREACH
    if requesttype & 0x60 == 0x40:
        return 0
    if requesttype == 0xA1 and request == 0 and ps.dev.actconfig is not None:
        intf = ps.dev.interface(index >> 8)
        alt = intf.altsetting_by_number(index & 0xFF) if intf is not None else None
        if alt is not None and alt.desc.bInterfaceClass == 0x07:
            return 0
    index &= 0xFF
    recip = requesttype & 0x1F
    if recip == 2:  # USB_RECIP_ENDPOINT
        if index & ~0x80 == 0:
            return 0
        ret = findintfep(ps.dev, index)
        if ret < 0:
            ret = findintfep(ps.dev, index ^ 0x80)
            if ret >= 0:
                ps.core.log.dev_info(ps.dev, f"check_ctrlrecip: process {os.getpid()} "
                                             f"({CURRENT_COMM}) requesting ep {index:02x} "
                                             f"but needs {index ^ 0x80:02x}")
        return await checkintf(ps, ret) if ret >= 0 else ret
    if recip == 1:  # USB_RECIP_INTERFACE
        return await checkintf(ps, index)
    return 0


# -- async URBs --------------------------------------------------------------------------------


def _async_completed(urb: Urb) -> None:
    """async_completed(): move the URB to the reap queue and wake the reapers; a failed
    bulk URB cancels the continuation URBs queued behind it.  Context: atomic."""
    ps, as_ = urb.context
    if as_ in ps.pending:
        ps.pending.remove(as_)
    ps.completed.append(as_)
    status = urb.status
    if status < 0 and as_.bulk_addr and status not in (-Errno.ECONNRESET, -Errno.ENOENT):
        _cancel_bulk_urbs(ps, as_.bulk_addr)
    ps.wait.wake_up()


def _cancel_bulk_urbs(ps: UsbDevState, bulk_addr: int) -> None:
    """cancel_bulk_urbs(): unlink the continuation URBs of the failed transfer; if none
    of a new transfer is queued, refuse further continuations (-EREMOTEIO)."""
    victims: list[_Async] = []
    for as_ in ps.pending:
        if as_.bulk_addr != bulk_addr:
            continue
        if not as_.continuation:
            break
        as_.bulk_addr = 0
        victims.append(as_)
    else:
        ps.disabled_bulk_eps |= 1 << bulk_addr
    for as_ in victims:
        hcd = as_.urb.dev.usb_bus.hcd if as_.urb.dev is not None else None
        if hcd is not None and as_.urb.ep is not None:
            hcd.unlink_urb(as_.urb, -Errno.ECONNRESET)


async def _destroy_async(ps: UsbDevState, victims: list[_Async]) -> None:
    for as_ in victims:
        await usb_kill_urb(as_.urb)


async def _destroy_async_on_interface(ps: UsbDevState, ifnum: int) -> None:
    """destroy_async_on_interface(): kill the file's URBs on that interface."""
    await _destroy_async(ps, [a for a in ps.pending if a.ifnum == ifnum])


def _processcompl(as_: _Async, ref: UrbRef) -> int:
    """processcompl(): copy the data and the results back into the user's URB."""
    urb, user = as_.urb, as_.user
    iso = urb.number_of_packets > 0 and bool(urb.iso_frame_desc)
    if as_.userbuffer is not None and urb.actual_length:
        length = urb.transfer_buffer_length if iso else urb.actual_length
        as_.userbuffer[:length] = urb.buffer_view()[:length]
    user.status = urb.status
    user.actual_length = urb.actual_length
    user.error_count = urb.error_count
    if iso:
        for mine, theirs in zip(user.iso_frame_desc, urb.iso_frame_desc, strict=False):
            mine.actual_length, mine.status = theirs.actual_length, theirs.status
    ref.urb = user
    return 0


def _user_view(buf: Any, skip: int = 0) -> memoryview | None:
    if buf is None:
        return None
    view = memoryview(buf).cast("B")
    return view[skip:]


@dataclass
class _Plan:
    """What proc_do_submiturb worked out before building the URB."""

    is_in: bool
    length: int
    setup: bytes | None = None
    allow_short: bool = False
    allow_zero: bool = False
    ptype: int = 0
    iso: list[int] = field(default_factory=list)


async def _plan_control(ps: UsbDevState, uurb: UsbdevfsUrb, hep: UsbHostEndpoint) -> _Plan | int:
    if hep.type != EndpointType.CONTROL or uurb.buffer_length < 8:
        return -Errno.EINVAL
    view = _user_view(uurb.buffer)
    if view is None or len(view) < 8:
        return -Errno.EFAULT
    setup = bytes(view[:8])
    rtype, req, _, windex, wlength = struct.unpack("<BBHHH", setup)
    if uurb.buffer_length < wlength + 8:
        return -Errno.EINVAL
    ret = await check_ctrlrecip(ps, rtype, req, windex)
    if ret:
        return ret
    is_in = bool(rtype & 0x80) and wlength > 0
    return _Plan(is_in, wlength, setup, allow_short=is_in, ptype=UrbType.CONTROL)


def _plan_transfer(uurb: UsbdevfsUrb, hep: UsbHostEndpoint, is_in: bool) -> _Plan | int:
    kind = UrbType(uurb.type)
    if kind is UrbType.BULK:
        if hep.type in (EndpointType.CONTROL, EndpointType.ISOC):
            return -Errno.EINVAL
        kind = UrbType.INTERRUPT if hep.type == EndpointType.INT else UrbType.BULK
    elif kind is UrbType.INTERRUPT and hep.type != EndpointType.INT:
        return -Errno.EINVAL
    return _Plan(is_in, uurb.buffer_length, allow_short=is_in, allow_zero=not is_in,
                 ptype=kind)


def _plan_iso(uurb: UsbdevfsUrb, hep: UsbHostEndpoint, is_in: bool) -> _Plan | int:
    if not 1 <= uurb.number_of_packets <= 128 or hep.type != EndpointType.ISOC:
        return -Errno.EINVAL
    if len(uurb.iso_frame_desc) < uurb.number_of_packets:
        return -Errno.EFAULT
    lengths = [p.length for p in uurb.iso_frame_desc[:uurb.number_of_packets]]
    if any(n > 98304 or n < 0 for n in lengths):
        return -Errno.EINVAL
    return _Plan(is_in, sum(lengths), ptype=UrbType.ISO, iso=lengths)


async def proc_submiturb(ps: UsbDevState, uurb: UsbdevfsUrb) -> int:
    """proc_do_submiturb(): check the user's URB, claim its interface, build and
    submit a URB whose completion lands in the file's reap queue; 0 or -errno.
    Context: may sleep."""
    allowed = int(UsbdevfsUrbFlag.ISO_ASAP | UsbdevfsUrbFlag.SHORT_NOT_OK
               | UsbdevfsUrbFlag.BULK_CONTINUATION | UsbdevfsUrbFlag.NO_FSBR
               | UsbdevfsUrbFlag.ZERO_PACKET | UsbdevfsUrbFlag.NO_INTERRUPT)
    if uurb.flags & ~allowed or not 0 <= uurb.buffer_length < USBFS_XFER_MAX:
        return -Errno.EINVAL
    if uurb.buffer_length > 0 and uurb.buffer is None:
        return -Errno.EINVAL
    ifnum = -1
    if not (uurb.type == UrbType.CONTROL and uurb.endpoint & ~0x80 == 0):
        ifnum = findintfep(ps.dev, uurb.endpoint)
        if ifnum < 0:
            return ifnum
        ret = await checkintf(ps, ifnum)
        if ret:
            return ret
    hep = ps.dev.endpoint(uurb.endpoint)
    if hep is None:
        return -Errno.ENOENT
    is_in = bool(uurb.endpoint & 0x80)
    if uurb.type == UrbType.CONTROL:
        plan = await _plan_control(ps, uurb, hep)
    elif uurb.type in (UrbType.BULK, UrbType.INTERRUPT):
        plan = _plan_transfer(uurb, hep, is_in)
    elif uurb.type == UrbType.ISO:
        plan = _plan_iso(uurb, hep, is_in)
    else:
        return -Errno.EINVAL
    if isinstance(plan, int):
        return plan
    return _submit(ps, uurb, hep, plan, ifnum)


def _urb_flags(ps: UsbDevState, uurb: UsbdevfsUrb, plan: _Plan) -> int:
    """The URB_* flags for the user's USBDEVFS_URB_* flags, with devio's warnings."""
    flags = UrbFlag.DIR_IN if plan.is_in else 0
    user = UsbdevfsUrbFlag(uurb.flags)
    if user & UsbdevfsUrbFlag.ISO_ASAP:
        flags |= UrbFlag.ISO_ASAP
    if plan.allow_short and user & UsbdevfsUrbFlag.SHORT_NOT_OK:
        flags |= UrbFlag.SHORT_NOT_OK
    if plan.allow_zero and user & UsbdevfsUrbFlag.ZERO_PACKET:
        flags |= UrbFlag.ZERO_PACKET
    if user & UsbdevfsUrbFlag.NO_INTERRUPT:
        flags |= UrbFlag.NO_INTERRUPT
    if not plan.allow_short and user & UsbdevfsUrbFlag.SHORT_NOT_OK:
        _warn(ps, "Requested nonsensical USBDEVFS_URB_SHORT_NOT_OK.")
    if not plan.allow_zero and user & UsbdevfsUrbFlag.ZERO_PACKET:
        _warn(ps, "Requested nonsensical USBDEVFS_URB_ZERO_PACKET.")
    return int(flags)


def _submit(ps: UsbDevState, uurb: UsbdevfsUrb, hep: UsbHostEndpoint, plan: _Plan,
            ifnum: int) -> int:
    dev = ps.dev
    skip = 8 if plan.setup is not None else 0
    view = _user_view(uurb.buffer, skip)
    if plan.length and (view is None or len(view) < plan.length):
        return -Errno.EFAULT
    buffer = bytearray(plan.length)
    if not plan.is_in and view is not None:
        buffer[:] = view[:plan.length]
    urb = Urb(len(plan.iso))
    endpoint = (uurb.endpoint | 0x80) if plan.is_in else (uurb.endpoint & ~0x80)
    urb.dev = dev
    urb.pipe = make_pipe(dev, _PIPE_OF[plan.ptype], endpoint & 0x0F, plan.is_in)
    urb.transfer_flags = _urb_flags(ps, uurb, plan)
    urb.transfer_buffer = buffer
    urb.transfer_buffer_length = plan.length
    urb.setup_packet = plan.setup
    urb.start_frame = uurb.start_frame
    urb.number_of_packets = len(plan.iso)
    interval = hep.desc.bInterval or 0
    if interval:
        fast = plan.ptype == UrbType.ISO or dev.speed in (Speed.HIGH, Speed.SUPER,
                                                          Speed.SUPER_PLUS)
        urb.interval = 1 << min(15, interval - 1) if fast else interval
    offset = 0
    for packet, length in zip(urb.iso_frame_desc, plan.iso, strict=True):
        packet.offset, packet.length = offset, length
        offset += length
    urb.complete = _async_completed
    userbuffer = view if plan.is_in and plan.length and isinstance(uurb.buffer, bytearray
                                                                     | memoryview) else None
    as_ = _Async(uurb, urb, ifnum, userbuffer)
    urb.context = (ps, as_)
    ps.pending.append(as_)
    if hep.type == EndpointType.BULK:
        as_.bulk_addr = (hep.address & 0x0F) | ((hep.address & 0x80) >> 3)
        if uurb.flags & UsbdevfsUrbFlag.BULK_CONTINUATION:
            as_.continuation = True
        else:
            ps.disabled_bulk_eps &= ~(1 << as_.bulk_addr)
        disabled = ps.disabled_bulk_eps & (1 << as_.bulk_addr)
        ret = -Errno.EREMOTEIO if disabled else usb_submit_urb(urb)
    else:
        ret = usb_submit_urb(urb)
    if ret:
        ps.core.log.dev_dbg(dev, f"usbfs: usb_submit_urb returned {ret}")
        if as_ in ps.pending:
            ps.pending.remove(as_)
        return ret
    return 0


_PIPE_OF: Final[dict[int, int]] = {UrbType.ISO: PIPE_ISOCHRONOUS,
                                   UrbType.INTERRUPT: PIPE_INTERRUPT,
                                   UrbType.CONTROL: PIPE_CONTROL, UrbType.BULK: PIPE_BULK}


async def proc_reapurb(ps: UsbDevState, ref: Any) -> int:
    """proc_reapurb(): sleep until a URB of this file has completed (or the device is
    gone: -ENODEV) and hand it back.  A cancelled caller is interrupted.  Context: may sleep."""
    if not isinstance(ref, UrbRef):
        return -Errno.EFAULT
    await ps.wait.wait_event(lambda: bool(ps.completed) or not ps.connected())
    if ps.completed:
        return _processcompl(ps.completed.popleft(), ref)
    return -Errno.ENODEV


def proc_reapurbnonblock(ps: UsbDevState, ref: Any) -> int:
    """proc_reapurbnonblock(): a completed URB, else -EAGAIN (-ENODEV once the device
    is gone).  Context: atomic."""
    if not isinstance(ref, UrbRef):
        return -Errno.EFAULT
    if ps.completed:
        return _processcompl(ps.completed.popleft(), ref)
    return -Errno.EAGAIN if ps.connected() else -Errno.ENODEV


async def proc_unlinkurb(ps: UsbDevState, uurb: Any) -> int:
    """proc_unlinkurb() (DISCARDURB): kill a pending URB of this file, which then
    completes with -ENOENT into the reap queue; -EINVAL when it is not pending.
    Context: may sleep."""
    as_ = next((a for a in ps.pending if a.user is uurb), None)
    if as_ is None:
        return -Errno.EINVAL
    await usb_kill_urb(as_.urb)
    return 0


# -- synchronous transfers ---------------------------------------------------------------------


async def proc_control(ps: UsbDevState, ctrl: Any) -> int:
    """proc_control(): one control transfer on ep0; the bytes moved or -errno.
    Context: may sleep."""
    if not isinstance(ctrl, CtrlTransfer):
        return -Errno.EFAULT
    ret = await check_ctrlrecip(ps, ctrl.bRequestType, ctrl.bRequest, ctrl.wIndex)
    if ret:
        return ret
    if ctrl.wLength > PAGE_SIZE:
        return -Errno.EINVAL
    view = _user_view(ctrl.data)
    if ctrl.wLength and (view is None or len(view) < ctrl.wLength):
        return -Errno.EFAULT
    is_in = bool(ctrl.bRequestType & 0x80)
    tbuf = bytearray(ctrl.wLength)
    if not is_in and view is not None:
        tbuf[:] = view[:ctrl.wLength]
    dev = ps.dev
    i = await usb_control_msg(dev, make_pipe(dev, PIPE_CONTROL, 0, is_in), ctrl.bRequest,
                              ctrl.bRequestType, ctrl.wValue, ctrl.wIndex, tbuf,
                              ctrl.wLength, ctrl.timeout)
    if is_in and i > 0 and view is not None:
        if view.readonly:
            return -Errno.EFAULT
        view[:i] = tbuf[:i]
    if i < 0 and i != -Errno.EPIPE:
        ps.core.log.dev_dbg(dev, f"usbfs: USBDEVFS_CONTROL failed cmd {CURRENT_COMM} rqt "
                                 f"{ctrl.bRequestType} rq {ctrl.bRequest} len "
                                 f"{ctrl.wLength} ret {i}")
    return i


async def proc_bulk(ps: UsbDevState, bulk: Any) -> int:
    """proc_bulk(): one bulk (or interrupt) transfer; the bytes moved or -errno
    (-ETIMEDOUT when the timeout ran out).  Context: may sleep."""
    if not isinstance(bulk, BulkTransfer):
        return -Errno.EFAULT
    ret = findintfep(ps.dev, bulk.ep)
    if ret < 0:
        return ret
    if not _claimed(ps, ret):
        ret = await checkintf(ps, ret)
        if ret:
            return ret
    if not 0 <= bulk.len < 0x7FFFFFFF - 200:
        return -Errno.EINVAL
    dev = ps.dev
    is_in = bool(bulk.ep & 0x80)
    pipe = make_pipe(dev, PIPE_BULK, bulk.ep & 0x0F, is_in)
    hep = dev.endpoint(bulk.ep)
    if hep is None or not hep.maxp:
        return -Errno.EINVAL
    view = _user_view(bulk.data)
    if bulk.len and (view is None or len(view) < bulk.len):
        return -Errno.EFAULT
    tbuf = bytearray(bulk.len)
    if not is_in and view is not None:
        tbuf[:] = view[:bulk.len]
    status, actual = await usb_bulk_msg(dev, pipe, tbuf, bulk.len, bulk.timeout)
    if status < 0:
        return status
    if is_in and actual and view is not None:
        if view.readonly:
            return -Errno.EFAULT
        view[:actual] = tbuf[:actual]
    return actual


# -- configuration, interfaces, endpoints, reset -------------------------------------------------


def _get_uint(arg: Any) -> int | None:
    """get_user() of an unsigned int: an int, or a buffer holding one."""
    if isinstance(arg, int) and not isinstance(arg, bool):
        return arg & 0xFFFFFFFF
    if isinstance(arg, bytes | bytearray | memoryview) and len(arg) >= 4:
        value: int = struct.unpack_from("<I", memoryview(arg).cast("B"))[0]
        return value
    return None


async def proc_setconfig(ps: UsbDevState, arg: Any) -> int:
    """proc_setconfig(): refuse (-EBUSY, with devio's warning) while any interface is
    claimed by a driver, usbfs included; else SET_CONFIGURATION.  Context: may sleep."""
    u = _get_uint(arg)
    if u is None:
        return -Errno.EFAULT
    value = u - (1 << 32) if u & 0x80000000 else u
    for intf in ps.dev.interfaces():
        if intf.driver is not None:
            _warn(ps, f"usbfs: interface {intf.number} claimed by {intf.driver.name} while "
                      f"'{CURRENT_COMM}' sets config #{value}")
            return -Errno.EBUSY
    return await usb_set_configuration(ps.dev, value)


async def proc_setintf(ps: UsbDevState, arg: Any) -> int:
    """proc_setintf(): claim the interface, kill its URBs, SET_INTERFACE.  Context: may sleep."""
    if not isinstance(arg, SetInterface):
        return -Errno.EFAULT
    ret = await checkintf(ps, arg.interface)
    if ret:
        return ret
    await _destroy_async_on_interface(ps, arg.interface)
    return await usb_set_interface(ps.dev, arg.interface, arg.altsetting)


async def _endpoint_op(ps: UsbDevState, arg: Any) -> int:
    """The common part of CLEAR_HALT and RESETEP: the endpoint's interface, claimed."""
    ep = _get_uint(arg)
    if ep is None:
        return -Errno.EFAULT
    ret = findintfep(ps.dev, ep)
    if ret < 0:
        return ret
    ret = await checkintf(ps, ret)
    return ret if ret else ep


async def proc_clearhalt(ps: UsbDevState, arg: Any) -> int:
    """proc_clearhalt(): CLEAR_FEATURE(ENDPOINT_HALT) and the host toggle reset.
    Context: may sleep."""
    ep = await _endpoint_op(ps, arg)
    if ep < 0:
        return ep
    dev = ps.dev
    return await usb_clear_halt(dev, make_pipe(dev, PIPE_BULK, ep & 0x0F, bool(ep & 0x80)))


async def proc_resetep(ps: UsbDevState, arg: Any) -> int:
    """proc_resetep(): reset the host side of an endpoint (its toggle), no request.
    Context: may sleep."""
    ep = await _endpoint_op(ps, arg)
    if ep < 0:
        return ep
    hep = ps.dev.endpoint(ep)
    if hep is not None:
        usb_hcd_reset_endpoint(ps.dev, hep)
    return 0


async def proc_resetdevice(ps: UsbDevState) -> int:
    """proc_resetdevice(): usb_reset_device(); with privileges dropped, -EACCES while
    another driver holds an interface.  Context: may sleep."""
    from .hub import usb_reset_device

    if ps.privileges_dropped:
        for intf in ps.dev.interfaces():
            if intf.driver is not None and not ps.ifclaimed & (1 << intf.number):
                _warn(ps, f"usbfs: interface {intf.number} claimed by {intf.driver.name} "
                          f"while '{CURRENT_COMM}' resets device")
                return -Errno.EACCES
    return await usb_reset_device(ps.dev)


async def proc_claiminterface(ps: UsbDevState, arg: Any) -> int:
    """proc_claiminterface().  Context: may sleep."""
    ifnum = _get_uint(arg)
    return -Errno.EFAULT if ifnum is None else await claimintf(ps, ifnum)


async def proc_releaseinterface(ps: UsbDevState, arg: Any) -> int:
    """proc_releaseinterface(): release, then kill the interface's URBs.  Context: may sleep."""
    ifnum = _get_uint(arg)
    if ifnum is None:
        return -Errno.EFAULT
    ret = await releaseintf(ps, ifnum)
    if ret < 0:
        return ret
    await _destroy_async_on_interface(ps, ifnum)
    return 0


def proc_getdriver(ps: UsbDevState, arg: Any) -> int:
    """proc_getdriver(): the name of the interface's driver, -ENODATA when none.
    Context: atomic."""
    if not isinstance(arg, GetDriver):
        return -Errno.EFAULT
    intf = ps.dev.interface(arg.interface)
    if intf is None or intf.driver is None:
        return -Errno.ENODATA
    arg.driver = intf.driver.name[:USBDEVFS_MAXDRIVERNAME]
    return 0


def proc_connectinfo(ps: UsbDevState, arg: Any) -> int:
    """proc_connectinfo(): device number and whether it is low speed.  Context: atomic."""
    if not isinstance(arg, ConnectInfo):
        return -Errno.EFAULT
    arg.devnum = ps.dev.devnum
    arg.slow = int(ps.dev.speed == Speed.LOW)
    return 0


def proc_get_capabilities(ps: UsbDevState, arg: Any) -> int:
    """proc_get_capabilities(): the USBDEVFS_CAP_* bits this usbfs offers.  Context: atomic."""
    from ..kernel.block.ioctl import put_user

    caps = (Cap.ZERO_PACKET | Cap.NO_PACKET_SIZE_LIM | Cap.REAP_AFTER_DISCONNECT
            | Cap.DROP_PRIVILEGES | Cap.BULK_CONTINUATION)
    return put_user(arg, "<I", int(caps))


async def proc_ioctl(ps: UsbDevState, ctl: Any) -> int:
    """proc_ioctl() (USBDEVFS_IOCTL): DISCONNECT unbinds the interface's kernel driver
    (-ENODATA without one), CONNECT binds one (-EBUSY when bound); anything else goes to
    the bound driver's ioctl (-ENOTTY without one).  Context: may sleep."""
    if not isinstance(ctl, UsbdevfsIoctl):
        return -Errno.EFAULT
    if ps.privileges_dropped:
        return -Errno.EACCES
    if ps.dev.state is not DeviceState.CONFIGURED:
        return -Errno.EHOSTUNREACH
    intf = ps.dev.interface(ctl.ifno)
    if intf is None:
        return -Errno.EINVAL
    driver_core = ps.core.driver_core
    if ctl.ioctl_code == USBDEVFS_DISCONNECT:
        if not isinstance(intf.driver, UsbDriver):
            return -Errno.ENODATA
        ps.core.log.dev_dbg(intf, "disconnect by usbfs")
        await usb_driver_release_interface(intf.driver, intf)
        return 0
    if ctl.ioctl_code == USBDEVFS_CONNECT:
        if intf.driver is not None:
            return -Errno.EBUSY
        return int(await driver_core.device_attach(intf))
    handler = getattr(intf.driver, "unlocked_ioctl", None)
    if handler is None:
        return -Errno.ENOTTY
    ret = await _call_driver_ioctl(handler, intf, ctl.ioctl_code, ctl.data)
    return -Errno.ENOTTY if ret == -ENOIOCTLCMD else ret


async def _call_driver_ioctl(handler: Any, *args: Any) -> int:
    """Call a driver's ioctl hook, awaiting it when it is a coroutine."""
    import inspect

    result = handler(*args)
    if inspect.isawaitable(result):
        result = await result
    return int(result or 0)


async def proc_disconnect_claim(ps: UsbDevState, arg: Any) -> int:
    """proc_disconnect_claim(): unbind the kernel driver (subject to the IF_DRIVER /
    EXCEPT_DRIVER name test, -EBUSY) and claim the interface for this file.  Context: may sleep."""
    if not isinstance(arg, DisconnectClaim):
        return -Errno.EFAULT
    intf = ps.dev.interface(arg.interface)
    if intf is None:
        return -Errno.EINVAL
    drv = intf.driver
    if isinstance(drv, UsbDriver) and not isinstance(drv, UsbfsDriver):
        if ps.privileges_dropped:
            return -Errno.EACCES
        same = drv.name == arg.driver[:USBDEVFS_MAXDRIVERNAME]
        if arg.flags & USBDEVFS_DISCONNECT_CLAIM_IF_DRIVER and not same:
            return -Errno.EBUSY
        if arg.flags & USBDEVFS_DISCONNECT_CLAIM_EXCEPT_DRIVER and same:
            return -Errno.EBUSY
        ps.core.log.dev_dbg(intf, "disconnect by usbfs")
        await usb_driver_release_interface(drv, intf)
    return await claimintf(ps, arg.interface)


async def proc_streams(ps: UsbDevState, arg: Any, alloc: bool) -> int:
    """proc_alloc_streams() / proc_free_streams(): the checks of
    parse_usbdevfs_streams(), then usb_alloc_streams(), which no controller here
    supports: -EINVAL, as Linux answers for a controller without streams.  Context: may sleep."""
    if not isinstance(arg, Streams):
        return -Errno.EFAULT
    if alloc and not 2 <= arg.num_streams <= 65536:
        return -Errno.EINVAL
    if not 1 <= len(arg.eps) <= 30:
        return -Errno.EINVAL
    ifnum = -1
    for ep in arg.eps:
        found = findintfep(ps.dev, ep)
        if found < 0:
            return found
        if ifnum not in (-1, found):
            return -Errno.EINVAL
        ifnum = found
    ret = await checkintf(ps, ifnum)
    return ret if ret else -Errno.EINVAL


def proc_drop_privileges(ps: UsbDevState, arg: Any) -> int:
    """proc_drop_privileges(): one way; the allowed-interface mask only shrinks.
    Context: atomic."""
    mask = _get_uint(arg)
    if mask is None:
        return -Errno.EFAULT
    ps.interface_allowed_mask &= mask
    ps.privileges_dropped = True
    return 0


# -- file operations -------------------------------------------------------------------------


def _find_device(core: UsbCore, minor: int) -> UsbDevice | None:
    """usbdev_lookup_by_devt()."""
    return next((d for d in core.bus_type.devices if isinstance(d, UsbDevice)
                 and d.registered and d.devnum and d.minor == minor), None)


def usbdev_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
    """usbdev_read(): the device descriptor, then each configuration's raw descriptors
    (wTotalLength bytes each, past what was read as zeros skipped over).  Context: atomic."""
    ps: UsbDevState = file.private_data
    if not ps.connected():
        return -Errno.ENODEV
    if ppos.pos < 0:
        return -Errno.EINVAL
    dev = ps.dev
    blobs = [dev.descriptor.to_bytes() if dev.descriptor is not None else bytes(18)]
    for raw in dev.rawdescriptors:
        total = int.from_bytes(raw[2:4], "little") if len(raw) >= 4 else len(raw)
        blobs.append(raw[:total] + bytes(max(0, total - len(raw))))
    data = b"".join(blobs)
    chunk = data[ppos.pos:ppos.pos + count]
    buf[:len(chunk)] = chunk
    ppos.pos += len(chunk)
    return len(chunk)


def usbdev_poll(file: File, table: PollTable | None) -> int:
    """usbdev_poll(): writable when a URB waits to be reaped; POLLHUP once the device
    is gone, POLLERR too once it was removed.  Context: atomic."""
    ps: UsbDevState = file.private_data
    poll_wait(file, ps.wait, table)
    mask = Poll(0)
    if file.f_mode & FMode.WRITE and ps.completed:
        mask |= Poll.OUT | Poll.WRNORM
    if not ps.connected():
        mask |= Poll.HUP
    if not ps.dev.registered:
        mask |= Poll.ERR
    return int(mask)


async def usbdev_ioctl(file: File, cmd: int, arg: Any) -> int:
    """usbdev_do_ioctl(): -EPERM on a file not open for writing; the reaps work after
    disconnect, everything else is -ENODEV then.  Context: may sleep."""
    ps: UsbDevState = file.private_data
    if not int(file.f_mode) & _FMODE_WRITE:   # int: an IntFlag's own & costs a microsecond
        return -Errno.EPERM
    if cmd == USBDEVFS_REAPURB:
        return await proc_reapurb(ps, arg)
    if cmd == USBDEVFS_REAPURBNDELAY:
        return proc_reapurbnonblock(ps, arg)
    if not ps.connected():
        return -Errno.ENODEV
    handler = _IOCTLS.get(cmd)
    if handler is None:
        return -Errno.ENOTTY
    result: int = await handler(ps, arg)
    return result


async def _sync(fn: Any, ps: UsbDevState, arg: Any) -> int:
    result: int = fn(ps, arg)
    return result


_FMODE_WRITE: Final = int(FMode.WRITE)

_IOCTLS: Final[dict[int, Any]] = {
    USBDEVFS_CONTROL: proc_control,
    USBDEVFS_BULK: proc_bulk,
    USBDEVFS_RESETEP: proc_resetep,
    USBDEVFS_RESET: lambda ps, arg: proc_resetdevice(ps),
    USBDEVFS_CLEAR_HALT: proc_clearhalt,
    USBDEVFS_GETDRIVER: lambda ps, arg: _sync(proc_getdriver, ps, arg),
    USBDEVFS_CONNECTINFO: lambda ps, arg: _sync(proc_connectinfo, ps, arg),
    USBDEVFS_SETINTERFACE: proc_setintf,
    USBDEVFS_SETCONFIGURATION: proc_setconfig,
    USBDEVFS_SUBMITURB: lambda ps, arg: (proc_submiturb(ps, arg) if isinstance(
        arg, UsbdevfsUrb) else _sync(lambda p, a: -Errno.EFAULT, ps, arg)),
    USBDEVFS_DISCARDURB: proc_unlinkurb,
    USBDEVFS_DISCSIGNAL: lambda ps, arg: _sync(lambda p, a: 0, ps, arg),
    USBDEVFS_CLAIMINTERFACE: proc_claiminterface,
    USBDEVFS_RELEASEINTERFACE: proc_releaseinterface,
    USBDEVFS_IOCTL: proc_ioctl,
    USBDEVFS_GET_CAPABILITIES: lambda ps, arg: _sync(proc_get_capabilities, ps, arg),
    USBDEVFS_DISCONNECT_CLAIM: proc_disconnect_claim,
    USBDEVFS_ALLOC_STREAMS: lambda ps, arg: proc_streams(ps, arg, True),
    USBDEVFS_FREE_STREAMS: lambda ps, arg: proc_streams(ps, arg, False),
    USBDEVFS_DROP_PRIVILEGES: lambda ps, arg: _sync(proc_drop_privileges, ps, arg),
    USBDEVFS_GET_SPEED: lambda ps, arg: _sync(lambda p, a: int(p.dev.speed), ps, arg),
}


async def usbdev_release(inode: Inode, file: File) -> int:
    """usbdev_release(): release every interface the file claimed, kill its URBs.
    Context: may sleep."""
    ps: UsbDevState = file.private_data
    for ifnum in range(_IFCLAIMED_BITS):
        if ps.ifclaimed & (1 << ifnum):
            await releaseintf(ps, ifnum)
    await _destroy_async(ps, list(ps.pending))
    ps.completed.clear()
    return 0


def no_seek_end_llseek(file: File, offset: int, whence: int) -> int:
    """no_seek_end_llseek(): SEEK_SET and SEEK_CUR only; a negative position is -EINVAL.
    Context: atomic."""
    if whence not in (SEEK_SET, SEEK_CUR):
        return -Errno.EINVAL
    pos = offset + (file.f_pos if whence == SEEK_CUR else 0)
    if pos < 0:
        return -Errno.EINVAL
    file.f_pos = pos
    return pos


def usbdev_file_operations(core: UsbCore) -> FileOperations:
    """usbdev_file_operations of one machine: what major 189 opens.  Context: atomic."""

    def usbdev_open(inode: Inode, file: File) -> int:
        """usbdev_open(): -ENODEV for no device or one going away."""
        dev = _find_device(core, dev_minor(inode.i_rdev))
        if dev is None or dev.state is DeviceState.NOTATTACHED:
            return -Errno.ENODEV
        file.private_data = UsbDevState(dev, file)
        file.revoke_on_remove = False
        return 0

    return FileOperations(owner=None, open=usbdev_open, release=usbdev_release,
                          read=usbdev_read, unlocked_ioctl=usbdev_ioctl, poll=usbdev_poll,
                          llseek=no_seek_end_llseek)
