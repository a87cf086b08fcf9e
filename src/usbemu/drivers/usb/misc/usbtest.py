"""usbtest — counterpart of Linux's drivers/usb/misc/usbtest.c, module `usbtest`: the USB
core / host controller testing driver that testusb (tools/usb/testusb.c) drives.

The driver binds to test devices by its id table (gadget zero 0525:a4a0, its user-mode
cousins 0525:a4a4 and 0525:a4a3, EZ-USB boards, the 0xfff0:0xfff0 test firmware, and any
device named by the `vendor`/`product` parameters), finds the device's bulk, isochronous and
interrupt endpoints (`get_endpoints`, the first altsetting with a bulk pair or a periodic
endpoint, or the one the `alt` parameter names), and runs one of 30 test cases per
USBTEST_REQUEST ioctl, issued through usbfs's USBDEVFS_IOCTL on the interface: simple and
varied bulk I/O, scatter-gather lists (usb_sg_*), chapter 9 requests, a queue of control
requests with 16 sub-cases and their expected faults, unlinks of one URB and of URBs in a
queue, endpoint halts, the ep0 write/read-back vendor requests, isochronous and interrupt
streams, throughput queues and toggle resets — with usbtest.c's "TEST n:" lines, errors and
errno values.  The ioctl returns the test's duration on the machine's clock.

Python has no addresses, so the "odd address" cases (17–23) put the transfer buffer one
byte into a larger one whose first byte is the guard byte 0xA5, exactly as usbtest.c lays
them out, and check that guard; with no DMA, "premapped" (URB_NO_TRANSFER_DMA_MAP) and
"core map" differ only in that flag.  The `info` of a device is its own copy (usbtest.c
writes the altsetting it found into the static struct shared by all devices of one id).
Not modelled: SuperSpeed isochronous burst counts (no usbemu bus is SuperSpeed with
isochronous endpoints) and suspend beyond answering 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from usbemu.core.devtable import UsbDeviceId, usb_device
from usbemu.core.driver import UsbDriver, usb_deregister, usb_register
from usbemu.core.message import (
    USB_CTRL_GET_TIMEOUT,
    USB_CTRL_SET_TIMEOUT,
    UsbSgRequest,
    usb_clear_halt,
    usb_control_msg,
    usb_get_descriptor,
    usb_set_interface,
    usb_sg_cancel,
    usb_sg_init,
    usb_sg_wait,
)
from usbemu.core.urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    PIPE_ISOCHRONOUS,
    Urb,
    UrbFlag,
    make_pipe,
    usb_kill_urb,
    usb_pipe_endpoint,
    usb_pipeendpoint,
    usb_pipein,
    usb_submit_urb,
    usb_unlink_urb,
)
from usbemu.core.usb import UsbDevice, UsbHostEndpoint, UsbInterface
from usbemu.core.usbcore import current_usbcore
from usbemu.errors import Errno
from usbemu.kernel.fs import iowr
from usbemu.kernel.module import (
    module_description,
    module_device_table,
    module_exit,
    module_init,
    module_license,
    module_param,
    module_param_desc,
)
from usbemu.kernel.printk import Level, Printk
from usbemu.spec.ch9 import (
    DescriptorType,
    Direction,
    EndpointType,
    Feature,
    Recipient,
    Request,
    RequestType,
    SetupPacket,
    Speed,
)
from usbemu.spec.descriptors import EndpointDescriptor

__all__ = [
    "MAX_SGLEN",
    "TEST_CASES",
    "USBTEST_REQUEST",
    "USBTEST_REQUEST_32",
    "USBTEST_REQUEST_64",
    "UsbtestInfo",
    "UsbtestParam",
    "usbtest_driver",
]

# -- numbers of usbtest.c ---------------------------------------------------------------------

SIMPLE_IO_TIMEOUT: Final = 10000  # ms
INTERRUPT_RATE: Final = 1  # msec/transfer
GUARD_BYTE: Final = 0xA5
MAX_SGLEN: Final = 128
TBUF_SIZE: Final = 256
TEST_CASES: Final = 30
NUM_SUBCASES: Final = 16
_UINT_MAX: Final = 0xFFFFFFFF

#: _IOWR('U', 100, struct usbtest_param_32): two __s32 for the duration (28 bytes).
USBTEST_REQUEST_32: Final = iowr("U", 100, 28)
#: _IOWR('U', 100, struct usbtest_param_64): struct timeval on x86-64 (40 bytes) — testusb's.
USBTEST_REQUEST_64: Final = iowr("U", 100, 40)
USBTEST_REQUEST: Final = USBTEST_REQUEST_64

_USB_DT_DEVICE_SIZE: Final = 18
_USB_DT_CONFIG_SIZE: Final = 9
_USB_DT_INTERFACE_SIZE: Final = 9
_USB_DT_QUALIFIER_SIZE: Final = 10
_USB_DT_BOS_SIZE: Final = 5


# -- module parameters ------------------------------------------------------------------------

alt: int = module_param("alt", int, 0o644, default=-1,
                        description=">= 0 to override altsetting selection")
pattern: int = module_param("pattern", "uint", 0o644, default=0)
module_param_desc("mod_pattern", "i/o pattern (0 == zeroes)")
realworld: int = module_param("realworld", "uint", 0, default=1,
                              description="clear to demand stricter spec compliance")
force_interrupt: int = module_param("force_interrupt", "uint", 0, default=0,
                                    description="0 = test default; else interrupt")
vendor: int = module_param("vendor", "ushort", 0, default=0,
                           description="vendor code (from usb-if)")
product: int = module_param("product", "ushort", 0, default=0,
                            description="product code (from vendor)")


# -- the ioctl argument and the device data ----------------------------------------------------


@dataclass
class UsbtestParam:
    """struct usbtest_param (testusb.c): the inputs of one test, and its duration as the
    driver writes it back.  Raises ValueError for an input outside 0..2**32-1 (each is a
    __u32)."""

    test_num: int = 0
    iterations: int = 0
    length: int = 0
    vary: int = 0
    sglen: int = 0
    duration_sec: int = 0
    duration_usec: int = 0

    def __post_init__(self) -> None:
        for name in ("test_num", "iterations", "length", "vary", "sglen"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= _UINT_MAX:
                raise ValueError(f"usbtest_param.{name}={value!r}: a __u32 is 0..{_UINT_MAX}")


@dataclass
class UsbtestInfo:
    """struct usbtest_info: what the driver knows of a test device before probing it."""

    name: str
    ep_in: int = 0
    ep_out: int = 0
    autoconf: bool = False
    ctrl_out: bool = False
    iso: bool = False
    intr: bool = False
    alt: int = 0


@dataclass
class UsbtestDev:
    """struct usbtest_dev: the bound interface, its pipes (0: none), the test lock."""

    intf: UsbInterface
    info: UsbtestInfo
    in_pipe: int = 0
    out_pipe: int = 0
    in_iso_pipe: int = 0
    out_iso_pipe: int = 0
    in_int_pipe: int = 0
    out_int_pipe: int = 0
    iso_in: EndpointDescriptor | None = None
    iso_out: EndpointDescriptor | None = None
    int_in: EndpointDescriptor | None = None
    int_out: EndpointDescriptor | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    buf: bytearray = field(default_factory=lambda: bytearray(TBUF_SIZE))
    #: usbtest.c's `pattern`, copied from the parameter at the start of each ioctl.
    pattern: int = 0

    @property
    def udev(self) -> UsbDevice:
        return self.intf.usb_dev

    @property
    def log(self) -> Printk:
        return self.intf.usb_dev.usb_bus.core.log

    def error(self, text: str) -> None:
        """ERROR(tdev, …): dev_err on the interface.  Context: atomic."""
        self.log.dev_err(self.intf, text)


class _Completion:
    """struct completion, for one waiter."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def complete(self) -> None:
        self._event.set()

    def done(self) -> bool:
        return self._event.is_set()

    async def wait(self, timeout_ms: int | None = None) -> bool:
        """wait_for_completion(_timeout): False when the timeout ran out first."""
        if timeout_ms is None:
            await self._event.wait()
            return True
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                await self._event.wait()
        except TimeoutError:
            return False
        return True


def _is_high(udev: UsbDevice) -> bool:
    return udev.speed == Speed.HIGH


def _interrupt_rate(udev: UsbDevice) -> int:
    return INTERRUPT_RATE << 3 if _is_high(udev) else INTERRUPT_RATE


# -- get_endpoints: autoconfiguration -----------------------------------------------------------


def _first_of(eps: list[UsbHostEndpoint], xfer: EndpointType, is_in: bool) -> \
        UsbHostEndpoint | None:
    return next((e for e in eps if e.type == xfer and bool(e.address & 0x80) == is_in), None)


async def get_endpoints(dev: UsbtestDev, intf: UsbInterface) -> int:
    """get_endpoints(): take the first altsetting (or the one `alt` names) with a bulk
    IN+OUT pair or any isochronous (info.iso) or interrupt (info.intr) endpoint, select
    it with SET_INTERFACE when it is not altsetting 0 and set the pipes.  0, -EINVAL
    when no altsetting qualifies, or SET_INTERFACE's error.  Context: may sleep."""
    for setting in intf.altsetting:
        if alt >= 0 and alt != setting.desc.bAlternateSetting:
            continue
        eps = setting.endpoint
        found = {(xfer, is_in): _first_of(eps, xfer, is_in)
                 for xfer in (EndpointType.BULK, EndpointType.INT, EndpointType.ISOC)
                 for is_in in (True, False)}
        if not dev.info.intr:
            found[EndpointType.INT, True] = found[EndpointType.INT, False] = None
        if not dev.info.iso:
            found[EndpointType.ISOC, True] = found[EndpointType.ISOC, False] = None
        bulk_in, bulk_out = found[EndpointType.BULK, True], found[EndpointType.BULK, False]
        periodic = [found[k] for k in found if k[0] != EndpointType.BULK]
        if (bulk_in and bulk_out) or any(periodic):
            break
    else:
        return -Errno.EINVAL
    udev = dev.udev
    dev.info.alt = setting.desc.bAlternateSetting
    if setting.desc.bAlternateSetting != 0:
        ret = await usb_set_interface(udev, setting.desc.bInterfaceNumber or 0,
                                      setting.desc.bAlternateSetting)
        if ret < 0:
            return ret
    pipes: dict[tuple[EndpointType, bool], tuple[str, str | None, int]] = {
        (EndpointType.BULK, True): ("in_pipe", None, PIPE_BULK),
        (EndpointType.BULK, False): ("out_pipe", None, PIPE_BULK),
        (EndpointType.ISOC, True): ("in_iso_pipe", "iso_in", PIPE_ISOCHRONOUS),
        (EndpointType.ISOC, False): ("out_iso_pipe", "iso_out", PIPE_ISOCHRONOUS),
        (EndpointType.INT, True): ("in_int_pipe", "int_in", PIPE_INTERRUPT),
        (EndpointType.INT, False): ("out_int_pipe", "int_out", PIPE_INTERRUPT),
    }
    for key, (pipe_attr, desc_attr, ptype) in pipes.items():
        ep = found[key]
        if ep is None:
            continue
        if desc_attr is not None:
            setattr(dev, desc_attr, ep.desc)
        setattr(dev, pipe_attr, make_pipe(udev, ptype, ep.address & 0xF, key[1]))
    return 0


# -- buffers, patterns and guard bytes ----------------------------------------------------------


def _mod63(maxpacket: int, length: int, start: int = 0) -> bytes:
    """Bytes `start`.. `start+length` of the mod63 pattern: byte i is (i % maxpacket) % 63."""
    return bytes(((start + i) % maxpacket) % 63 for i in range(length))


def get_maxpacket(udev: UsbDevice, pipe: int) -> int:
    """get_maxpacket(): wMaxPacketSize of the pipe's endpoint.  Context: atomic."""
    hep = usb_pipe_endpoint(udev, pipe)
    return hep.desc.wMaxPacketSize if hep is not None else 0


def _alloc_buffer(bytes_: int, offset: int, is_in: bool) -> memoryview:
    """A buffer of `bytes_` bytes that starts `offset` bytes into its allocation, the
    bytes before it set to the guard byte; IN buffers filled with the guard byte too."""
    backing = bytearray(bytes_ + offset)
    backing[:offset] = bytes([GUARD_BYTE]) * offset
    if is_in:
        backing[offset:] = bytes([GUARD_BYTE]) * bytes_
    return memoryview(backing)[offset:]


def buffer_offset(buf: Any) -> int:
    """buffer_offset(): how far into its allocation a transfer buffer starts (1 for the
    odd-address cases, else 0).  Context: atomic."""
    if isinstance(buf, memoryview) and isinstance(buf.obj, bytearray):
        return len(buf.obj) - buf.nbytes
    return 0


def usbtest_alloc_urb(udev: UsbDevice, pipe: int, bytes_: int, transfer_flags: int,
                      offset: int, b_interval: int,
                      complete: Callable[[Urb], None]) -> Urb:
    """usbtest_alloc_urb(): a bulk (interrupt, with `b_interval`) URB of `bytes_` bytes,
    `offset` bytes into a guarded buffer, SHORT_NOT_OK for IN.  Context: atomic."""
    urb = Urb()
    if b_interval:
        urb.fill_int(udev, pipe, None, bytes_, complete, None, b_interval)
    else:
        urb.fill_bulk(udev, pipe, None, bytes_, complete)
    urb.interval = _interrupt_rate(udev)
    urb.transfer_flags = transfer_flags
    if usb_pipein(pipe):
        urb.transfer_flags |= UrbFlag.SHORT_NOT_OK
    if bytes_ + offset:
        urb.transfer_buffer = _alloc_buffer(bytes_, offset, usb_pipein(pipe))
    return urb


def _simple_callback(urb: Urb) -> None:
    urb.context.complete()


def simple_alloc_urb(udev: UsbDevice, pipe: int, bytes_: int, b_interval: int) -> Urb:
    """simple_alloc_urb(): an aligned, premapped URB completing a `_Completion` in its
    context.  Context: atomic."""
    return usbtest_alloc_urb(udev, pipe, bytes_, int(UrbFlag.NO_TRANSFER_DMA_MAP), 0,
                             b_interval, _simple_callback)


def simple_fill_buf(urb: Urb, pattern_: int) -> None:
    """simple_fill_buf(): zeros, or mod63 for pattern 1.  Context: atomic."""
    length = urb.transfer_buffer_length
    view = urb.transfer_buffer
    if view is None:
        return
    if pattern_ == 1:
        assert urb.dev is not None
        view[:length] = _mod63(get_maxpacket(urb.dev, urb.pipe), length)
    else:
        view[:length] = bytes(length)


def check_guard_bytes(tdev: UsbtestDev, urb: Urb) -> int:
    """check_guard_bytes(): the bytes before an offset buffer must still be 0xA5; 0 or
    -EINVAL ("guard byte[i] …").  Context: atomic."""
    buf = urb.transfer_buffer
    offset = buffer_offset(buf)
    if not offset:
        return 0
    backing = buf.obj
    for i in range(offset):
        if backing[i] != GUARD_BYTE:
            tdev.error(f"guard byte[{i}] {backing[i]} (not {GUARD_BYTE})")
            return -Errno.EINVAL
    return 0


def simple_check_buf(tdev: UsbtestDev, urb: Urb) -> int:
    """simple_check_buf(): the guard, then the data read against the pattern (an
    unknown pattern always fails).  0 or -EINVAL ("buf[i] = x (not y)").  Context: atomic."""
    ret = check_guard_bytes(tdev, urb)
    if ret:
        return ret
    length = urb.actual_length
    got = bytes(urb.transfer_buffer[:length]) if urb.transfer_buffer is not None else b""
    assert urb.dev is not None
    if tdev.pattern == 0:
        expected = bytes(length)
    elif tdev.pattern == 1:
        expected = _mod63(get_maxpacket(urb.dev, urb.pipe), length)
    else:
        expected = bytes(int(not b) for b in got)
    if got == expected:
        return 0
    i = next(i for i in range(length) if got[i] != expected[i])
    tdev.error(f"buf[{i}] = {got[i]} (not {expected[i]})")
    return -Errno.EINVAL


async def simple_io(tdev: UsbtestDev, urb: Urb, iterations: int, vary: int, expected: int,
                    label: str) -> int:
    """simple_io(): submit `urb` `iterations` times, one at a time, each within
    SIMPLE_IO_TIMEOUT; OUT data is the pattern with a ZLP, IN data is checked; with `vary`
    the length steps by `vary` modulo the buffer size.  Returns the last status (0,
    -errno, -ETIMEDOUT); logs "<label> failed …" when that is not `expected`.
    Context: may sleep."""
    udev = urb.dev
    assert udev is not None
    max_ = urb.transfer_buffer_length
    completion = _Completion()
    retval = 0
    while retval == 0:
        go = iterations > 0
        iterations -= 1
        if not go:
            break
        completion = _Completion()
        urb.context = completion
        if not usb_pipein(urb.pipe):
            simple_fill_buf(urb, tdev.pattern)
            urb.transfer_flags |= UrbFlag.ZERO_PACKET
        retval = usb_submit_urb(urb)
        if retval != 0:
            break
        if not await completion.wait(SIMPLE_IO_TIMEOUT):
            await usb_kill_urb(urb)
            retval = -Errno.ETIMEDOUT if urb.status == -Errno.ENOENT else urb.status
        else:
            retval = urb.status
        urb.dev = udev
        if retval == 0 and usb_pipein(urb.pipe):
            retval = simple_check_buf(tdev, urb)
        if vary:
            length = (urb.transfer_buffer_length + vary) % max_
            urb.transfer_buffer_length = length or min(vary, max_)
    urb.transfer_buffer_length = max_
    if expected != retval:
        tdev.log.dev_err(udev, f"{label} failed, iterations left {iterations}, status "
                               f"{retval} (not {expected})")
    return retval


# -- scatter-gather lists -----------------------------------------------------------------------


def alloc_sglist(nents: int, max_: int, vary: int, dev: UsbtestDev, pipe: int) -> \
        list[bytearray] | None:
    """alloc_sglist(): `nents` buffers of `max_` bytes (stepping by `vary`), holding the
    pattern; None for `max_` 0.  Context: atomic."""
    if max_ == 0:
        return None
    maxpacket = get_maxpacket(dev.udev, pipe)
    sg: list[bytearray] = []
    size, n_size = max_, 0
    for _ in range(nents):
        buf = bytearray(size)
        if dev.pattern == 1:
            buf[:] = _mod63(maxpacket, size, n_size)
            n_size += size
        sg.append(buf)
        if vary:
            size = (size + vary) % max_ or min(vary, max_)
    return sg


class _SgTimeout:
    """struct sg_timeout: cancels the request when its timer fires."""

    __slots__ = ("expired", "req")

    def __init__(self, req: UsbSgRequest) -> None:
        self.req = req
        self.expired = False

    def expire(self) -> None:
        self.expired = True
        usb_sg_cancel(self.req)


async def perform_sglist(tdev: UsbtestDev, iterations: int, pipe: int, req: UsbSgRequest,
                         sg: list[bytearray]) -> int:
    """perform_sglist(): run the list `iterations` times through usb_sg_init/usb_sg_wait,
    cancelling one that takes more than SIMPLE_IO_TIMEOUT (-ETIMEDOUT).  0 or -errno.
    Context: may sleep."""
    udev = tdev.udev
    loop = asyncio.get_running_loop()
    retval = 0
    while retval == 0:
        go = iterations > 0
        iterations -= 1
        if not go:
            break
        retval = usb_sg_init(req, udev, pipe, _interrupt_rate(udev), sg)
        if retval:
            break
        timeout = _SgTimeout(req)
        timer = loop.call_later(SIMPLE_IO_TIMEOUT / 1000, timeout.expire)
        await usb_sg_wait(req)
        timer.cancel()
        retval = -Errno.ETIMEDOUT if timeout.expired else req.status
    if retval:
        tdev.error(f"perform_sglist failed, iterations left {iterations}, status {retval}")
    return retval


# -- chapter 9 tests ----------------------------------------------------------------------------


async def usb_get_std_status(udev: UsbDevice, recip: Recipient, target: int) -> \
        tuple[int, int]:
    """usb_get_std_status(): (0, status word), or (-errno, 0); -EIO for a short answer.
    Context: may sleep."""
    buf = bytearray(2)
    ret = await usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, True),
                                Request.GET_STATUS, Direction.IN | recip, 0, target, buf, 2,
                                USB_CTRL_GET_TIMEOUT)
    if ret < 0:
        return ret, 0
    if ret < 2:
        return -Errno.EIO, 0
    return 0, buf[0] | buf[1] << 8


async def get_altsetting(dev: UsbtestDev) -> int:
    """get_altsetting(): GET_INTERFACE of the interface; the altsetting or -errno
    (-ERANGE for an empty answer).  Context: may sleep."""
    udev = dev.udev
    retval = await usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, True),
                                   Request.GET_INTERFACE, Direction.IN | Recipient.INTERFACE,
                                   0, dev.intf.altsetting[0].desc.bInterfaceNumber or 0,
                                   dev.buf, 1, USB_CTRL_GET_TIMEOUT)
    if retval == 1:
        return dev.buf[0]
    return -Errno.ERANGE if retval == 0 else retval


async def set_altsetting(dev: UsbtestDev, alternate: int) -> int:
    """set_altsetting(): usb_set_interface; -EINVAL outside 0..255.  Context: may sleep."""
    if not 0 <= alternate < 256:
        return -Errno.EINVAL
    return await usb_set_interface(dev.udev, dev.intf.altsetting[0].desc.bInterfaceNumber or 0,
                                   alternate)


def is_good_config(tdev: UsbtestDev, length: int) -> bool:
    """is_good_config(): a configuration (or other-speed) descriptor read into `tdev.buf`
    with a sane header and a read size that matches wTotalLength.  Context: atomic."""
    buf = tdev.buf
    if length < _USB_DT_CONFIG_SIZE:
        return False
    if buf[1] not in (DescriptorType.CONFIG, DescriptorType.OTHER_SPEED_CONFIG):
        return False
    if buf[0] != _USB_DT_CONFIG_SIZE:
        tdev.error("bogus config descriptor length")
        return False
    if not realworld and not buf[7] & 0x80:
        tdev.error("high bit of config attributes not set")
        return False
    if buf[7] & 0x1F:
        tdev.error("reserved config bits set")
        return False
    total = buf[2] | buf[3] << 8
    if total == length or total >= TBUF_SIZE:
        return True
    tdev.error("bogus config descriptor read size")
    return False


def _u16(buf: bytearray, at: int) -> int:
    return buf[at] | buf[at + 1] << 8


@dataclass(frozen=True)
class _CapCheck:
    """One device capability usbtest checks: its size and (mask, field offset, width,
    message) checks of reserved bits, and the error its caller logs."""

    size: int
    length_error: str
    reserved: tuple[tuple[int, int, int, str], ...]
    caller_error: str


_CAP_CHECKS: Final = {
    0x02: _CapCheck(7, "bogus usb 2.0 extension descriptor length",
                    ((~0xFFFE & 0xFFFFFFFF, 3, 4, "reserved bits set"),),
                    "bogus usb 2.0 extension descriptor"),
    0x03: _CapCheck(10, "bogus superspeed device capability descriptor length",
                    ((~0x02 & 0xFF, 3, 1, "reserved bits set in bmAttributes"),
                     (~0x0F & 0xFFFF, 4, 2, "reserved bits set in wSpeedSupported")),
                    "bogus superspeed device capability descriptor"),
    0x04: _CapCheck(20, "bogus container id descriptor length",
                    ((0xFF, 3, 1, "reserved bits set"),),
                    "bogus container id descriptor"),
}


def _is_good_cap(tdev: UsbtestDev, buf: bytearray, at: int, check: _CapCheck) -> bool:
    """is_good_ext() / is_good_ss_cap() / is_good_con_id()."""
    if buf[at] != check.size:
        tdev.error(check.length_error)
        return False
    for mask, offset, width, message in check.reserved:
        if int.from_bytes(buf[at + offset:at + offset + width], "little") & mask:
            tdev.error(message)
            return False
    return True


async def _ch9_bos(dev: UsbtestDev) -> int:
    """The BOS part of ch9_postconfig (bcdUSB ≥ 2.10).  0 or -errno / -EDOM."""
    udev, iface = dev.udev, dev.intf
    retval = await usb_get_descriptor(udev, DescriptorType.BOS, 0, dev.buf, _USB_DT_BOS_SIZE)
    if retval != _USB_DT_BOS_SIZE:
        dev.log.dev_err(iface, f"bos descriptor --> {retval}")
        return retval if retval < 0 else -Errno.EDOM
    total, num = min(_u16(dev.buf, 2), TBUF_SIZE), dev.buf[4]
    retval = await usb_get_descriptor(udev, DescriptorType.BOS, 0, dev.buf, total)
    if retval != total:
        dev.log.dev_err(iface, f"bos descriptor set --> {retval}")
        return retval if retval < 0 else -Errno.EDOM
    at, length = 0, _USB_DT_BOS_SIZE
    for _ in range(num):
        at += length
        if at + 3 > total:
            break
        length = dev.buf[at]
        if dev.buf[at + 1] != DescriptorType.DEVICE_CAPABILITY:
            dev.log.dev_warn(udev, "not device capability descriptor, skip")
            continue
        check = _CAP_CHECKS.get(dev.buf[at + 2])
        if check is not None and (at + check.size > total
                                  or not _is_good_cap(dev, dev.buf, at, check)):
            dev.log.dev_err(iface, check.caller_error)
            return -Errno.EDOM
    return 0


async def _ch9_altsettings(dev: UsbtestDev) -> int:
    iface = dev.intf
    for i, setting in enumerate(iface.altsetting):
        alt_ = setting.desc.bAlternateSetting
        if not 0 <= alt_ < iface.num_altsetting:
            dev.log.dev_err(iface, f"invalid alt [{i}].bAltSetting = {alt_}")
        if realworld and iface.num_altsetting == 1:
            continue
        retval = await set_altsetting(dev, alt_)
        if retval:
            dev.log.dev_err(iface, f"can't set_interface = {alt_}, {retval}")
            return retval
        retval = await get_altsetting(dev)
        if retval != alt_:
            dev.log.dev_err(iface, f"get alt should be {alt_}, was {retval}")
            return retval if retval < 0 else -Errno.EDOM
    return 0


async def _ch9_qualifier(dev: UsbtestDev) -> int:
    """Device qualifier and other-speed configurations of a USB 2.0 device."""
    udev, iface = dev.udev, dev.intf
    retval = await usb_get_descriptor(udev, DescriptorType.DEVICE_QUALIFIER, 0, dev.buf,
                                      _USB_DT_QUALIFIER_SIZE)
    if retval == -Errno.EPIPE:
        if _is_high(udev):
            dev.log.dev_err(iface, f"hs dev qualifier --> {retval}")
            return retval
        return 0
    if retval != _USB_DT_QUALIFIER_SIZE:
        dev.log.dev_err(iface, f"dev qualifier --> {retval}")
        return retval if retval < 0 else -Errno.EDOM
    for i in range(dev.buf[8]):
        retval = await usb_get_descriptor(udev, DescriptorType.OTHER_SPEED_CONFIG, i, dev.buf,
                                          TBUF_SIZE)
        if not is_good_config(dev, retval):
            dev.log.dev_err(iface, f"other speed config --> {retval}")
            return retval if retval < 0 else -Errno.EDOM
    return 0


async def ch9_postconfig(dev: UsbtestDev) -> int:
    """ch9_postconfig(): set and get each altsetting, GET_CONFIGURATION, the device, BOS,
    configuration, qualifier and other-speed descriptors, device and interface status —
    the chapter 9 subset any configured device must answer.  0 or -errno (-EDOM for a
    wrong answer).  Context: may sleep."""
    udev, iface = dev.udev, dev.intf
    desc = udev.descriptor
    assert desc is not None and udev.actconfig is not None
    retval = await _ch9_altsettings(dev)
    if retval:
        return retval
    if not realworld or desc.bNumConfigurations != 1:
        expected = udev.actconfig.value
        retval = await usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, True),
                                       Request.GET_CONFIGURATION,
                                       Direction.IN | Recipient.DEVICE, 0, 0, dev.buf, 1,
                                       USB_CTRL_GET_TIMEOUT)
        if retval != 1 or dev.buf[0] != expected:
            dev.log.dev_err(iface, f"get config --> {retval} {dev.buf[0]} (1 {expected})")
            return retval if retval < 0 else -Errno.EDOM
    retval = await usb_get_descriptor(udev, DescriptorType.DEVICE, 0, dev.buf,
                                      _USB_DT_DEVICE_SIZE)
    if retval != _USB_DT_DEVICE_SIZE:
        dev.log.dev_err(iface, f"dev descriptor --> {retval}")
        return retval if retval < 0 else -Errno.EDOM
    if desc.bcdUSB >= 0x0210 and (retval := await _ch9_bos(dev)):
        return retval
    for i in range(desc.bNumConfigurations or 0):
        retval = await usb_get_descriptor(udev, DescriptorType.CONFIG, i, dev.buf, TBUF_SIZE)
        if not is_good_config(dev, retval):
            dev.log.dev_err(iface, f"config [{i}] descriptor --> {retval}")
            return retval if retval < 0 else -Errno.EDOM
    if desc.bcdUSB == 0x0200 and (retval := await _ch9_qualifier(dev)):
        return retval
    retval, _ = await usb_get_std_status(udev, Recipient.DEVICE, 0)
    if retval:
        dev.log.dev_err(iface, f"get dev status --> {retval}")
        return retval
    retval, _ = await usb_get_std_status(udev, Recipient.INTERFACE,
                                         iface.altsetting[0].desc.bInterfaceNumber or 0)
    if retval:
        dev.log.dev_err(iface, f"get interface status --> {retval}")
        return retval
    return 0


# -- test_ctrl_queue: control requests queued, with expected faults --------------------------


@dataclass(frozen=True)
class Subcase:
    """struct subcase: one queued control request.  `expected` < 0: the request must end
    with that status; > 0: it may end with -expected (or succeed); 0: it must succeed."""

    setup: SetupPacket
    number: int
    expected: int
    out: bool = False


_GET_DESC_IN: Final = Direction.IN | Recipient.DEVICE


def _desc_request(dtype: int, length: int, expected: int = 0, index: int = 0) -> \
        tuple[int, int, int, int, int, bool]:
    return (Request.GET_DESCRIPTOR, _GET_DESC_IN, dtype << 8 | index, length, expected, False)


def _subcase_request(number: int, udev: UsbDevice) -> tuple[int, int, int, int, int, bool]:
    """(bRequest, bRequestType, wValue, wLength, expected, OUT) of subcase `number`, as
    test_ctrl_queue() chooses them for `udev`."""
    desc = udev.descriptor
    assert desc is not None
    ep0 = desc.bMaxPacketSize0
    superspeed = udev.speed == Speed.SUPER
    high = _is_high(udev)
    table: dict[int, Callable[[], tuple[int, int, int, int, int, bool]]] = {
        0: lambda: _desc_request(DescriptorType.DEVICE, _USB_DT_DEVICE_SIZE),
        1: lambda: _desc_request(DescriptorType.CONFIG, _USB_DT_CONFIG_SIZE),
        2: lambda: (Request.GET_INTERFACE, Direction.IN | Recipient.INTERFACE, 0, 1,
                    Errno.EPIPE, False),
        3: lambda: (Request.GET_STATUS, Direction.IN | Recipient.INTERFACE, 0, 2, 0, False),
        4: lambda: (Request.GET_STATUS, Direction.IN | Recipient.DEVICE, 0, 2, 0, False),
        5: lambda: _desc_request(DescriptorType.DEVICE_QUALIFIER, _USB_DT_QUALIFIER_SIZE,
                                 0 if high else Errno.EPIPE),
        6: lambda: _desc_request(DescriptorType.CONFIG,
                                 _USB_DT_CONFIG_SIZE + _USB_DT_INTERFACE_SIZE),
        7: lambda: _desc_request(DescriptorType.INTERFACE, _USB_DT_INTERFACE_SIZE,
                                 -Errno.EPIPE),
        8: lambda: (Request.CLEAR_FEATURE, Recipient.ENDPOINT, 0, 0, Errno.EPIPE, True),
        9: lambda: (Request.GET_STATUS, Direction.IN | Recipient.ENDPOINT, 0, 2, 0, False),
        10: lambda: _desc_request(DescriptorType.CONFIG, 1024, -Errno.EREMOTEIO),
        11: lambda: _desc_request(DescriptorType.ENDPOINT, _USB_DT_INTERFACE_SIZE,
                                  Errno.EPIPE),
        12: lambda: _desc_request(DescriptorType.STRING, _USB_DT_INTERFACE_SIZE,
                                  Errno.EREMOTEIO),
        13: lambda: _desc_request(DescriptorType.CONFIG, 1024 - (512 if superspeed else ep0),
                                  -Errno.EREMOTEIO),
        14: lambda: _desc_request(DescriptorType.DEVICE,
                                  {8: 24, 16: 32}.get(512 if superspeed else ep0,
                                                      512 if superspeed else ep0),
                                  -Errno.EREMOTEIO),
        15: lambda: _desc_request(DescriptorType.BOS, _bos_length(udev),
                                  -Errno.EPIPE if desc.bcdUSB < 0x0201 else 0),
    }
    return table[number]()


def _bos_length(udev: UsbDevice) -> int:
    if udev.bos is None:
        return _USB_DT_BOS_SIZE
    return _u16(bytearray(udev.bos.to_bytes()[:4]), 2)


def ctrl_subcases(udev: UsbDevice, sglen: int) -> list[Subcase]:
    """The `sglen` queued requests of test 10 for `udev`: subcase i % 16 each.
    Context: atomic."""
    cases = []
    for i in range(sglen):
        number = i % NUM_SUBCASES
        req, rtype, value, length, expected, out = _subcase_request(number, udev)
        cases.append(Subcase(SetupPacket(rtype, req, value, 0, length), number, expected,
                             out))
    return cases


@dataclass
class _CtrlCtx:
    """struct ctrl_ctx."""

    dev: UsbtestDev
    count: int
    param: UsbtestParam
    urbs: list[Urb] = field(default_factory=list)
    subcases: dict[Urb, Subcase] = field(default_factory=dict)
    complete: _Completion = field(default_factory=_Completion)
    pending: int = 0
    status: int = -Errno.ENOMEM
    last: int = -1


def _ctrl_fault(ctx: _CtrlCtx, urb: Urb, subcase: Subcase, status: int) -> int:
    """The first fault of the queue: record it and unlink whatever is still pending."""
    if ctx.status != 0:
        return status
    ctx.status = status
    setup = subcase.setup
    ctx.dev.error(f"control queue {setup.bmRequestType:02x}.{setup.bRequest:02x}, err "
                  f"{status}, {ctx.count} left, subcase {subcase.number}, len "
                  f"{urb.actual_length}/{urb.transfer_buffer_length}")
    sglen = ctx.param.sglen
    for i in range(1, sglen):
        u = ctx.urbs[(i + subcase.number) % sglen]
        if u is urb or u.dev is None:
            continue
        ret = usb_unlink_urb(u)
        if ret not in (-Errno.EINPROGRESS, -Errno.EBUSY, -Errno.EIDRM):
            ctx.dev.error(f"urb unlink --> {ret}")
    return ctx.status


def _ctrl_complete(urb: Urb) -> None:
    """ctrl_complete(): check order and status of one queued request, resubmit it while
    requests remain.  Context: atomic."""
    ctx: _CtrlCtx = urb.context
    subcase = ctx.subcases[urb]
    status = urb.status
    ctx.count -= 1
    ctx.pending -= 1
    if subcase.number > 0 and subcase.number - ctx.last != 1:
        ctx.dev.error(f"subcase {subcase.number} completed out of order, last {ctx.last}")
        ctx.last = subcase.number
        status = _ctrl_fault(ctx, urb, subcase, -Errno.EDOM)
    else:
        ctx.last = subcase.number
        if status == subcase.expected:
            status = 0
        elif status != -Errno.ECONNRESET:
            allowed = subcase.expected > 0 and status in (-subcase.expected, 0)
            if allowed or (subcase.number == 12 and status == -Errno.EPIPE):
                status = 0
            else:
                ctx.dev.error(f"subtest {subcase.number} error, status {status}")
        if status:
            status = _ctrl_fault(ctx, urb, subcase, status)
    if status == 0 and ctx.pending < ctx.count:
        status = usb_submit_urb(urb)
        if status:
            setup = subcase.setup
            ctx.dev.error(f"can't resubmit ctrl {setup.bmRequestType:02x}."
                          f"{setup.bRequest:02x}, err {status}")
            urb.dev = None
        else:
            ctx.pending += 1
    else:
        urb.dev = None
    if ctx.pending == 0:
        ctx.complete.complete()


async def test_ctrl_queue(dev: UsbtestDev, param: UsbtestParam) -> int:
    """test_ctrl_queue(): keep `sglen` control requests queued (resubmitted from their
    completions) until `iterations * sglen` have completed, in order, each with its
    subcase's expected result.  0, -EOPNOTSUPP for sglen 0, or the first fault.
    Context: may sleep."""
    udev = dev.udev
    if param.sglen == 0 or param.iterations > _UINT_MAX // param.sglen:
        return -Errno.EOPNOTSUPP
    ctx = _CtrlCtx(dev, param.sglen * param.iterations, param)
    for subcase in ctrl_subcases(udev, param.sglen):
        pipe = make_pipe(udev, PIPE_CONTROL, 0, not subcase.out)
        urb = simple_alloc_urb(udev, pipe, subcase.setup.wLength, 0)
        urb.setup_packet = bytes(subcase.setup)
        urb.context, urb.complete = ctx, _ctrl_complete
        ctx.urbs.append(urb)
        ctx.subcases[urb] = subcase
    for i, urb in enumerate(ctx.urbs):
        ctx.status = usb_submit_urb(urb)
        if ctx.status != 0:
            dev.error(f"can't submit urb[{i}], status {ctx.status}")
            ctx.count = ctx.pending
            break
        ctx.pending += 1
    if ctx.pending > 0:
        await ctx.complete.wait()
    return ctx.status


# -- unlinks ----------------------------------------------------------------------------------


def _unlink1_callback(urb: Urb) -> None:
    status = urb.status
    if not status:
        status = usb_submit_urb(urb)
    if status:
        urb.status = status
        urb.context.complete()


async def unlink1(dev: UsbtestDev, pipe: int, size: int, async_: bool) -> int:
    """unlink1(): keep one URB busy (resubmitted on success), then, one or two passes of
    the loop later (usbtest.c sleeps 1–2 jiffies; on a controller without bus time a
    resubmitting URB keeps the clock from moving), unlink it — with
    usb_unlink_urb (expect -ECONNRESET; else the status - 1000) or usb_kill_urb (expect
    -ENOENT or -EPERM; else the status - 2000).  Context: may sleep."""
    completion = _Completion()
    urb = simple_alloc_urb(dev.udev, pipe, size, 0)
    urb.context, urb.complete = completion, _unlink1_callback
    if not usb_pipein(urb.pipe):
        simple_fill_buf(urb, dev.pattern)
        urb.transfer_flags |= UrbFlag.ZERO_PACKET
    retval = usb_submit_urb(urb)
    if retval != 0:
        dev.log.dev_err(dev.intf, f"submit fail {retval}")
        return retval
    jiffies = int(asyncio.get_running_loop().time() * 1000)
    for _ in range(1 + jiffies % (2 * INTERRUPT_RATE)):
        await asyncio.sleep(0)
    if async_:
        while not completion.done():
            retval = usb_unlink_urb(urb)
            if retval == 0 and usb_pipein(urb.pipe):
                retval = simple_check_buf(dev, urb)
            if retval in (-Errno.EBUSY, -Errno.EIDRM):
                dev.error("unlink retry")
                await asyncio.sleep(0)
                continue
            if retval not in (0, -Errno.EINPROGRESS):
                dev.log.dev_err(dev.intf, f"unlink fail {retval}")
                return retval
            break
    else:
        await usb_kill_urb(urb)
    await completion.wait()
    retval = urb.status
    if async_:
        return 0 if retval == -Errno.ECONNRESET else retval - 1000
    return 0 if retval in (-Errno.ENOENT, -Errno.EPERM) else retval - 2000


async def unlink_simple(dev: UsbtestDev, pipe: int, length: int) -> int:
    """unlink_simple(): unlink1 asynchronously, then synchronously.  Context: may sleep."""
    retval = await unlink1(dev, pipe, length, True)
    if not retval:
        retval = await unlink1(dev, pipe, length, False)
    return retval


@dataclass
class _QueuedCtx:
    """struct queued_ctx."""

    urbs: list[Urb]
    complete: _Completion = field(default_factory=_Completion)
    pending: int = 1
    status: int = 0


def _unlink_queued_callback(urb: Urb) -> None:
    ctx: _QueuedCtx = urb.context
    num = len(ctx.urbs)
    status = urb.status
    if not ctx.status:
        unlinked = urb is ctx.urbs[num - 4] or urb is ctx.urbs[num - 2]
        if not (unlinked and status == -Errno.ECONNRESET) and status != 0:
            ctx.status = status
    ctx.pending -= 1
    if ctx.pending == 0:
        ctx.complete.complete()


async def unlink_queued(dev: UsbtestDev, pipe: int, num: int, size: int) -> int:
    """unlink_queued(): queue `num` writes of one shared buffer and unlink the ones at
    num-4 and num-2; every other URB must complete normally.  0 or the first bad status.
    Context: may sleep."""
    udev = dev.udev
    buf = bytearray(size)
    ctx = _QueuedCtx([])
    for _ in range(num):
        urb = Urb().fill_bulk(udev, pipe, memoryview(buf), size, _unlink_queued_callback,
                              ctx)
        urb.transfer_flags = int(UrbFlag.NO_TRANSFER_DMA_MAP)
        if not usb_pipein(pipe):
            simple_fill_buf(urb, dev.pattern)
            urb.transfer_flags |= UrbFlag.ZERO_PACKET
        ctx.urbs.append(urb)
    submitted = 0
    for i, urb in enumerate(ctx.urbs):
        ctx.pending += 1
        retval = usb_submit_urb(urb)
        if retval != 0:
            dev.log.dev_err(dev.intf, f"submit urbs[{i}] fail {retval}")
            ctx.pending -= 1
            ctx.status = retval
            break
        submitted += 1
    if submitted == num:
        usb_unlink_urb(ctx.urbs[num - 4])
        usb_unlink_urb(ctx.urbs[num - 2])
    else:
        for urb in reversed(ctx.urbs[:submitted]):
            usb_unlink_urb(urb)
    ctx.pending -= 1
    if ctx.pending == 0:
        ctx.complete.complete()
    await ctx.complete.wait()
    return ctx.status


# -- halts and toggles ------------------------------------------------------------------------


async def verify_not_halted(tdev: UsbtestDev, ep: int, urb: Urb) -> int:
    """verify_not_halted(): GET_STATUS(ep) is 0 and one transfer succeeds.  0 or -errno.
    Context: may sleep."""
    assert urb.dev is not None
    retval, status = await usb_get_std_status(urb.dev, Recipient.ENDPOINT, ep)
    if retval < 0:
        tdev.error(f"ep {ep:02x} couldn't get no-halt status, {retval}")
        return retval
    if status != 0:
        tdev.error(f"ep {ep:02x} bogus status: {status:04x} != 0")
        return -Errno.EINVAL
    if await simple_io(tdev, urb, 1, 0, 0, "verify_not_halted") != 0:
        return -Errno.EINVAL
    return 0


async def verify_halted(tdev: UsbtestDev, ep: int, urb: Urb) -> int:
    """verify_halted(): GET_STATUS(ep) is 1 and two transfers stall.  0 or -errno.
    Context: may sleep."""
    assert urb.dev is not None
    retval, status = await usb_get_std_status(urb.dev, Recipient.ENDPOINT, ep)
    if retval < 0:
        tdev.error(f"ep {ep:02x} couldn't get halt status, {retval}")
        return retval
    if status != 1:
        tdev.error(f"ep {ep:02x} bogus status: {status:04x} != 1")
        return -Errno.EINVAL
    for label in ("verify_halted", "verify_still_halted"):
        if await simple_io(tdev, urb, 1, 0, -Errno.EPIPE, label) != -Errno.EPIPE:
            return -Errno.EINVAL
    return 0


async def test_halt(tdev: UsbtestDev, ep: int, urb: Urb) -> int:
    """test_halt(): not halted; SET_FEATURE(ENDPOINT_HALT) halts it; usb_clear_halt
    clears it.  0 or -errno.  Context: may sleep."""
    udev = urb.dev
    assert udev is not None
    retval = await verify_not_halted(tdev, ep, urb)
    if retval < 0:
        return retval
    retval = await usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, False),
                                   Request.SET_FEATURE, Recipient.ENDPOINT,
                                   Feature.ENDPOINT_HALT, ep, None, 0, USB_CTRL_SET_TIMEOUT)
    if retval < 0:
        tdev.error(f"ep {ep:02x} couldn't set halt, {retval}")
        return retval
    retval = await verify_halted(tdev, ep, urb)
    if retval < 0:
        ret = await usb_clear_halt(udev, urb.pipe)
        if ret:
            tdev.error(f"ep {ep:02x} couldn't clear halt, {ret}")
        return retval
    retval = await usb_clear_halt(udev, urb.pipe)
    if retval < 0:
        tdev.error(f"ep {ep:02x} couldn't clear halt, {retval}")
        return retval
    return await verify_not_halted(tdev, ep, urb)


async def halt_simple(dev: UsbtestDev) -> int:
    """halt_simple(): test_halt on the bulk IN, then the bulk OUT endpoint.
    Context: may sleep."""
    udev = dev.udev
    urb = simple_alloc_urb(udev, 0, 1024 if udev.speed == Speed.SUPER else 512, 0)
    retval = 0
    if dev.in_pipe:
        urb.pipe = dev.in_pipe
        retval = await test_halt(dev, usb_pipeendpoint(dev.in_pipe) | 0x80, urb)
        if retval < 0:
            return retval
    if dev.out_pipe:
        urb.pipe = dev.out_pipe
        retval = await test_halt(dev, usb_pipeendpoint(dev.out_pipe), urb)
    return retval


async def test_toggle_sync(tdev: UsbtestDev, ep: int, urb: Urb) -> int:
    """test_toggle_sync(): clear halt, write, clear halt (the device's toggle goes back
    to DATA0, the host's must follow), write again.  Context: may sleep."""
    udev = urb.dev
    assert udev is not None
    retval = await usb_clear_halt(udev, urb.pipe)
    if retval < 0:
        tdev.error(f"ep {ep:02x} couldn't clear halt, {retval}")
        return retval
    if await simple_io(tdev, urb, 1, 0, 0, "test_toggle_sync") != 0:
        return -Errno.EINVAL
    retval = await usb_clear_halt(udev, urb.pipe)
    if retval < 0:
        tdev.error(f"ep {ep:02x} couldn't clear halt, {retval}")
        return retval
    return await simple_io(tdev, urb, 1, 0, 0, "test_toggle_sync")


async def toggle_sync_simple(dev: UsbtestDev) -> int:
    """toggle_sync_simple(): test_toggle_sync with two full packets and a ZLP (an odd
    number of packets, so a toggle reset shows).  Context: may sleep."""
    udev = dev.udev
    maxp = get_maxpacket(udev, dev.out_pipe)
    urb = simple_alloc_urb(udev, 0, 2 * maxp, 0)
    urb.transfer_flags |= UrbFlag.ZERO_PACKET
    urb.pipe = dev.out_pipe
    return await test_toggle_sync(dev, usb_pipeendpoint(dev.out_pipe), urb)


# -- control OUT: write and read back ------------------------------------------------------------


async def _ctrl_out_one(dev: UsbtestDev, buf: memoryview, i: int, length: int) -> \
        tuple[int, str]:
    """One write (0x5b) and read back (0x5c) of `length` bytes: (0 or -errno, what)."""
    udev = dev.udev
    buf[:length] = bytes((i + j) & 0xFF for j in range(length))
    retval = await usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, False), 0x5B,
                                   Direction.OUT | RequestType.VENDOR, 0, 0, buf[:length],
                                   length, USB_CTRL_SET_TIMEOUT)
    if retval != length:
        if retval >= 0:
            dev.error(f"ctrl_out, wlen {retval} (expected {length})")
            retval = -Errno.EBADMSG
        return retval, "write"
    retval = await usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, True), 0x5C,
                                   Direction.IN | RequestType.VENDOR, 0, 0, buf, length,
                                   USB_CTRL_GET_TIMEOUT)
    if retval != length:
        if retval >= 0:
            dev.error(f"ctrl_out, rlen {retval} (expected {length})")
            retval = -Errno.EBADMSG
        return retval, "read"
    for j in range(length):
        if buf[j] != (i + j) & 0xFF:
            dev.error(f"ctrl_out, byte {j} is {buf[j]} not {(i + j) & 0xFF}")
            return -Errno.EBADMSG, "verify"
    return 0, "?"


async def ctrl_out(dev: UsbtestDev, count: int, length: int, vary: int, offset: int) -> int:
    """ctrl_out(): `count` times write `len` bytes with vendor request 0x5b and read them
    back with 0x5c, `len` growing by `vary` up to `length` (then back to 1, or 0 without
    `realworld`); the buffer starts `offset` bytes into its allocation.  0, -EINVAL for
    bad sizes, -EBADMSG for wrong data, or the transfer's error.  Context: may sleep."""
    if length < 1 or length > 0xFFFF or vary >= length:
        return -Errno.EINVAL
    buf = _alloc_buffer(length, offset, False)
    size, retval, what, i = length, 0, "?", 0
    while i < count:
        retval, what = await _ctrl_out_one(dev, buf, i, size)
        if retval < 0:
            break
        size += vary
        if size > length:
            size = 1 if realworld else 0
        i += 1
    if retval < 0:
        dev.error(f"ctrl_out {what} failed, code {retval}, count {i}")
    return retval


# -- queued transfers: isochronous and bulk throughput ------------------------------------------


@dataclass
class _TransferContext:
    """struct transfer_context."""

    dev: UsbtestDev
    count: int
    is_iso: bool
    done: _Completion = field(default_factory=_Completion)
    pending: int = 0
    submit_error: bool = False
    errors: int = 0
    packet_count: int = 0


def _complicated_callback(urb: Urb) -> None:
    """complicated_callback(): count errors (per packet for isochronous URBs), resubmit
    while transfers remain.  Context: atomic."""
    ctx: _TransferContext = urb.context
    ctx.count -= 1
    ctx.packet_count += urb.number_of_packets
    if urb.error_count > 0:
        ctx.errors += urb.error_count
    elif urb.status != 0:
        ctx.errors += urb.number_of_packets if ctx.is_iso else 1
    elif (urb.actual_length != urb.transfer_buffer_length
          or check_guard_bytes(ctx.dev, urb) != 0):
        ctx.errors += 1
    if urb.status == 0 and ctx.count > ctx.pending - 1 and not ctx.submit_error:
        status = usb_submit_urb(urb)
        if status == 0:
            return
        if status not in (-Errno.ENODEV, -Errno.ESHUTDOWN):
            ctx.dev.log.dev_err(ctx.dev.intf, f"resubmit err {status}")
        ctx.submit_error = True
    ctx.pending -= 1
    if ctx.pending == 0:
        if ctx.errors:
            ctx.dev.log.dev_err(ctx.dev.intf, f"during the test, {ctx.errors} errors out "
                                              f"of {ctx.packet_count}")
        ctx.done.complete()


def _iso_maxp(desc: EndpointDescriptor) -> int:
    return desc.maxpacket * desc.mult


def iso_alloc_urb(udev: UsbDevice, pipe: int, desc: EndpointDescriptor, bytes_: int,
                  offset: int) -> Urb:
    """iso_alloc_urb(): an isochronous URB of `bytes_` bytes in packets of maxp × mult
    (the last one short), ISO_ASAP, interval from bInterval.  Context: atomic."""
    maxp = _iso_maxp(desc)
    packets = -(-bytes_ // maxp)
    urb = Urb(packets)
    urb.dev, urb.pipe = udev, pipe
    urb.transfer_buffer_length = bytes_
    urb.transfer_buffer = _alloc_buffer(bytes_, offset, usb_pipein(pipe))
    remaining = bytes_
    for i, packet in enumerate(urb.iso_frame_desc):
        packet.length = min(remaining, maxp)
        remaining -= packet.length
        packet.offset = maxp * i
    urb.complete = _complicated_callback
    urb.interval = 1 << (desc.bInterval - 1)
    urb.transfer_flags = int(UrbFlag.ISO_ASAP | UrbFlag.NO_TRANSFER_DMA_MAP)
    return urb


def _log_iso_period(dev: UsbtestDev, desc: EndpointDescriptor, packets: int) -> None:
    udev = dev.udev
    period = 1 << (desc.bInterval - 1)
    high = udev.speed >= Speed.HIGH
    dev.log.dev_info(dev.intf, f"iso period {period} {'micro' if high else ''}frames, "
                               f"wMaxPacket {desc.maxpacket}, transactions: {desc.mult}")
    dev.log.dev_info(dev.intf, f"total {packets * period // (8 if high else 1)} msec "
                               f"({packets} packets)")


async def test_queue(dev: UsbtestDev, param: UsbtestParam, pipe: int,
                     desc: EndpointDescriptor | None, offset: int) -> int:
    """test_queue(): keep `sglen` URBs of `length` bytes queued (isochronous with `desc`,
    else bulk) until `iterations * sglen` completed.  0; -EINVAL for a bad sglen; -EACCES
    after a failed submission; -EIO for more than 10% bad isochronous packets or any bad
    bulk transfer.  Context: may sleep."""
    if not param.sglen or param.iterations > _UINT_MAX // param.sglen:
        return -Errno.EINVAL
    if param.sglen > MAX_SGLEN:
        return -Errno.EINVAL
    udev = dev.udev
    ctx = _TransferContext(dev, param.iterations * param.sglen, desc is not None)
    urbs: list[Urb] = []
    for _ in range(param.sglen):
        if desc is not None:
            urb = iso_alloc_urb(udev, pipe, desc, param.length, offset)
        else:
            urb = usbtest_alloc_urb(udev, pipe, param.length,
                                    int(UrbFlag.NO_TRANSFER_DMA_MAP), 0, 0,
                                    _complicated_callback)
        urb.context = ctx
        urbs.append(urb)
    if desc is not None:
        _log_iso_period(dev, desc, sum(u.number_of_packets for u in urbs) * param.iterations)
    status = 0
    for i, urb in enumerate(urbs):
        ctx.pending += 1
        status = usb_submit_urb(urb)
        if status < 0:
            dev.error(f"submit iso[{i}], error {status}")
            if i == 0:
                return status
            ctx.pending -= 1
            ctx.submit_error = True
            break
    await ctx.done.wait()
    if status != 0:
        return status
    if ctx.submit_error:
        return -Errno.EACCES
    if ctx.errors > (ctx.packet_count // 10 if ctx.is_iso else 0):
        return -Errno.EIO
    return 0


async def test_unaligned_bulk(tdev: UsbtestDev, pipe: int, length: int, iterations: int,
                              transfer_flags: int, label: str) -> int:
    """test_unaligned_bulk(): simple_io on a buffer one byte into its allocation.
    Context: may sleep."""
    urb = usbtest_alloc_urb(tdev.udev, pipe, length, transfer_flags, 1, 0, _simple_callback)
    return await simple_io(tdev, urb, iterations, 0, 0, label)


# -- the test cases -----------------------------------------------------------------------------

_TestFn = Callable[[UsbtestDev, UsbtestParam], Any]


async def _simple(dev: UsbtestDev, p: UsbtestParam, pipe: int, vary: int, label: str,
                  interval: int = 0) -> int:
    urb = simple_alloc_urb(dev.udev, pipe, p.length, interval)
    return await simple_io(dev, urb, p.iterations, vary, 0, label)


async def _sglist(dev: UsbtestDev, p: UsbtestParam, pipe: int, vary: int) -> int:
    sg = alloc_sglist(p.sglen, p.length, vary, dev, pipe)
    if sg is None:
        return -Errno.ENOMEM
    return await perform_sglist(dev, p.iterations, pipe, UsbSgRequest(), sg)


async def _repeat(iterations: int, step: Callable[[], Any]) -> tuple[int, int]:
    """`for (i = iterations; retval == 0 && i--; )`: (retval, i) as C leaves them."""
    retval, i = 0, iterations
    while retval == 0:
        go = i > 0
        i -= 1
        if not go:
            break
        retval = await step()
    return retval, i


async def _test9(dev: UsbtestDev, p: UsbtestParam) -> int:
    retval, i = await _repeat(p.iterations, lambda: ch9_postconfig(dev))
    if retval:
        dev.log.dev_err(dev.intf, f"ch9 subset failed, iterations left {i}")
    return retval


async def _test_unlink(dev: UsbtestDev, p: UsbtestParam, pipe: int, what: str) -> int:
    retval, i = await _repeat(p.iterations, lambda: unlink_simple(dev, pipe, p.length))
    if retval:
        dev.log.dev_err(dev.intf, f"unlink {what} failed {retval}, iterations left {i}")
    return retval


async def _test13(dev: UsbtestDev, p: UsbtestParam) -> int:
    retval, i = await _repeat(p.iterations, lambda: halt_simple(dev))
    if retval:
        dev.error(f"halts failed, iterations left {i}")
    return retval


async def _test24(dev: UsbtestDev, p: UsbtestParam) -> int:
    i = p.iterations
    while i > 0:
        retval = await unlink_queued(dev, dev.out_pipe, p.sglen, p.length)
        if retval:
            dev.log.dev_err(dev.intf, f"unlink queued writes failed {retval}, iterations "
                                      f"left {i}")
            return retval
        i -= 1
    return 0


async def _test29(dev: UsbtestDev, p: UsbtestParam) -> int:
    i, retval = p.iterations, 0
    while retval == 0 and i > 0:
        retval = await toggle_sync_simple(dev)
        i -= 1
    if retval:
        dev.error(f"toggle sync failed, iterations left {i}")
    return retval


def _rw(is_in: bool) -> str:
    return "read" if is_in else "write"


@dataclass(frozen=True)
class UsbtestCase:
    """One case of usbtest_do_ioctl(): when it applies (else -EOPNOTSUPP), its "TEST n:"
    line and what it runs."""

    applies: Callable[[UsbtestDev, UsbtestParam], bool]
    message: Callable[[UsbtestDev, UsbtestParam], str]
    run: _TestFn


def _mb(p: UsbtestParam) -> int:
    return (p.iterations * p.sglen * p.length) // (1024 * 1024)


def _rw_realworld() -> int:
    return 1 if realworld else 0


TEST_TABLE: Final[dict[int, UsbtestCase]] = {
    0: UsbtestCase(lambda d, p: True, lambda d, p: "NOP", lambda d, p: _zero()),
    1: UsbtestCase(lambda d, p: bool(d.out_pipe),
                lambda d, p: f"write {p.length} bytes {p.iterations} times",
                lambda d, p: _simple(d, p, d.out_pipe, 0, "test1")),
    2: UsbtestCase(lambda d, p: bool(d.in_pipe),
                lambda d, p: f"read {p.length} bytes {p.iterations} times",
                lambda d, p: _simple(d, p, d.in_pipe, 0, "test2")),
    3: UsbtestCase(lambda d, p: bool(d.out_pipe and p.vary),
                lambda d, p: f"write/{p.vary} 0..{p.length} bytes {p.iterations} times",
                lambda d, p: _simple(d, p, d.out_pipe, p.vary, "test3")),
    4: UsbtestCase(lambda d, p: bool(d.in_pipe and p.vary),
                lambda d, p: f"read/{p.vary} 0..{p.length} bytes {p.iterations} times",
                lambda d, p: _simple(d, p, d.in_pipe, p.vary, "test4")),
    5: UsbtestCase(lambda d, p: bool(d.out_pipe and p.sglen),
                lambda d, p: f"write {p.iterations} sglists {p.sglen} entries of "
                             f"{p.length} bytes",
                lambda d, p: _sglist(d, p, d.out_pipe, 0)),
    6: UsbtestCase(lambda d, p: bool(d.in_pipe and p.sglen),
                lambda d, p: f"read {p.iterations} sglists {p.sglen} entries of "
                             f"{p.length} bytes",
                lambda d, p: _sglist(d, p, d.in_pipe, 0)),
    7: UsbtestCase(lambda d, p: bool(d.out_pipe and p.sglen and p.vary),
                lambda d, p: f"write/{p.vary} {p.iterations} sglists {p.sglen} entries "
                             f"0..{p.length} bytes",
                lambda d, p: _sglist(d, p, d.out_pipe, p.vary)),
    8: UsbtestCase(lambda d, p: bool(d.in_pipe and p.sglen and p.vary),
                lambda d, p: f"read/{p.vary} {p.iterations} sglists {p.sglen} entries "
                             f"0..{p.length} bytes",
                lambda d, p: _sglist(d, p, d.in_pipe, p.vary)),
    9: UsbtestCase(lambda d, p: True,
                lambda d, p: f"ch9 (subset) control tests, {p.iterations} times", _test9),
    10: UsbtestCase(lambda d, p: True,
                 lambda d, p: f"queue {p.sglen} control calls, {p.iterations} times",
                 test_ctrl_queue),
    11: UsbtestCase(lambda d, p: bool(d.in_pipe and p.length),
                 lambda d, p: f"unlink {p.iterations} reads of {p.length}",
                 lambda d, p: _test_unlink(d, p, d.in_pipe, "reads")),
    12: UsbtestCase(lambda d, p: bool(d.out_pipe and p.length),
                 lambda d, p: f"unlink {p.iterations} writes of {p.length}",
                 lambda d, p: _test_unlink(d, p, d.out_pipe, "writes")),
    13: UsbtestCase(lambda d, p: bool(d.out_pipe or d.in_pipe),
                 lambda d, p: f"set/clear {p.iterations} halts", _test13),
    14: UsbtestCase(lambda d, p: d.info.ctrl_out,
                 lambda d, p: f"{p.iterations} ep0out, {_rw_realworld()}..{p.length} "
                              f"vary {p.vary}",
                 lambda d, p: ctrl_out(d, p.iterations, p.length, p.vary, 0)),
    15: UsbtestCase(lambda d, p: bool(d.out_iso_pipe and p.sglen),
                 lambda d, p: f"write {p.iterations} iso, {p.sglen} entries of "
                              f"{p.length} bytes",
                 lambda d, p: test_queue(d, p, d.out_iso_pipe, d.iso_out, 0)),
    16: UsbtestCase(lambda d, p: bool(d.in_iso_pipe and p.sglen),
                 lambda d, p: f"read {p.iterations} iso, {p.sglen} entries of "
                              f"{p.length} bytes",
                 lambda d, p: test_queue(d, p, d.in_iso_pipe, d.iso_in, 0)),
    17: UsbtestCase(lambda d, p: bool(d.out_pipe),
                 lambda d, p: f"write odd addr {p.length} bytes {p.iterations} times "
                              "core map",
                 lambda d, p: test_unaligned_bulk(d, d.out_pipe, p.length, p.iterations, 0,
                                                  "test17")),
    18: UsbtestCase(lambda d, p: bool(d.in_pipe),
                 lambda d, p: f"read odd addr {p.length} bytes {p.iterations} times "
                              "core map",
                 lambda d, p: test_unaligned_bulk(d, d.in_pipe, p.length, p.iterations, 0,
                                                  "test18")),
    19: UsbtestCase(lambda d, p: bool(d.out_pipe),
                 lambda d, p: f"write odd addr {p.length} bytes {p.iterations} times "
                              "premapped",
                 lambda d, p: test_unaligned_bulk(d, d.out_pipe, p.length, p.iterations,
                                                  int(UrbFlag.NO_TRANSFER_DMA_MAP),
                                                  "test19")),
    20: UsbtestCase(lambda d, p: bool(d.in_pipe),
                 lambda d, p: f"read odd addr {p.length} bytes {p.iterations} times "
                              "premapped",
                 lambda d, p: test_unaligned_bulk(d, d.in_pipe, p.length, p.iterations,
                                                  int(UrbFlag.NO_TRANSFER_DMA_MAP),
                                                  "test20")),
    21: UsbtestCase(lambda d, p: d.info.ctrl_out,
                 lambda d, p: f"{p.iterations} ep0out odd addr, {_rw_realworld()}.."
                              f"{p.length} vary {p.vary}",
                 lambda d, p: ctrl_out(d, p.iterations, p.length, p.vary, 1)),
    22: UsbtestCase(lambda d, p: bool(d.out_iso_pipe and p.sglen),
                 lambda d, p: f"write {p.iterations} iso odd, {p.sglen} entries of "
                              f"{p.length} bytes",
                 lambda d, p: test_queue(d, p, d.out_iso_pipe, d.iso_out, 1)),
    23: UsbtestCase(lambda d, p: bool(d.in_iso_pipe and p.sglen),
                 lambda d, p: f"read {p.iterations} iso odd, {p.sglen} entries of "
                              f"{p.length} bytes",
                 lambda d, p: test_queue(d, p, d.in_iso_pipe, d.iso_in, 1)),
    24: UsbtestCase(lambda d, p: bool(d.out_pipe and p.length and p.sglen >= 4),
                 lambda d, p: f"unlink from {p.iterations} queues of {p.sglen} "
                              f"{p.length}-byte writes",
                 _test24),
    25: UsbtestCase(lambda d, p: bool(d.out_int_pipe),
                 lambda d, p: f"write {p.length} bytes {p.iterations} times",
                 lambda d, p: _simple(d, p, d.out_int_pipe, 0, "test25",
                                      d.int_out.bInterval if d.int_out else 0)),
    26: UsbtestCase(lambda d, p: bool(d.in_int_pipe),
                 lambda d, p: f"read {p.length} bytes {p.iterations} times",
                 lambda d, p: _simple(d, p, d.in_int_pipe, 0, "test26",
                                      d.int_in.bInterval if d.int_in else 0)),
    27: UsbtestCase(lambda d, p: bool(d.out_pipe and p.sglen and d.pattern == 0),
                 lambda d, p: f"bulk write {_mb(p)}Mbytes",
                 lambda d, p: test_queue(d, p, d.out_pipe, None, 0)),
    28: UsbtestCase(lambda d, p: bool(d.in_pipe and p.sglen and d.pattern == 0),
                 lambda d, p: f"bulk read {_mb(p)}Mbytes",
                 lambda d, p: test_queue(d, p, d.in_pipe, None, 0)),
    29: UsbtestCase(lambda d, p: bool(d.out_pipe),
                 lambda d, p: f"Clear toggle between bulk writes {p.iterations} times",
                 _test29),
}

#: Cases 25 and up print "TEST n: " with one space, the older ones two.
_ONE_SPACE_FROM: Final = 25


async def _zero() -> int:
    return 0


async def usbtest_do_ioctl(intf: UsbInterface, param: UsbtestParam) -> int:
    """usbtest_do_ioctl(): run test `param.test_num`.  0 or -errno: -EINVAL for 0
    iterations or sglen > 128, -EOPNOTSUPP for an unknown test or one whose endpoints or
    parameters are missing.  Context: may sleep."""
    dev: UsbtestDev = intf.driver_data
    if param.iterations <= 0 or param.sglen > MAX_SGLEN:
        return -Errno.EINVAL
    case = TEST_TABLE.get(param.test_num)
    if case is None or not case.applies(dev, param):
        return -Errno.EOPNOTSUPP
    gap = " " if param.test_num >= _ONE_SPACE_FROM else "  "
    dev.log.dev_info(intf, f"TEST {param.test_num}:{gap}{case.message(dev, param)}")
    result: int = await case.run(dev, param)
    return result


_PARAM_INPUTS: Final = ("test_num", "iterations", "length", "vary", "sglen")


def copy_param(buf: Any) -> UsbtestParam | None:
    """copy_from_user() of the ioctl argument: the inputs of any object with usbtest_param's
    fields (a `UsbtestParam` of whichever copy of this module made it), or None when one
    is missing or not a __u32.  Context: atomic."""
    values: list[int] = []
    for name in _PARAM_INPUTS:
        value = getattr(buf, name, None)
        if not isinstance(value, int) or not 0 <= value <= _UINT_MAX:
            return None
        values.append(value)
    return UsbtestParam(*values)


async def usbtest_ioctl(intf: UsbInterface, code: int, buf: Any) -> int:
    """usbtest_ioctl(): USBTEST_REQUEST (either size) runs one test with the test lock
    held, after selecting the device's altsetting, and writes its duration into `buf`
    (a `UsbtestParam`).  Returns the test's result; -EOPNOTSUPP for another code, -EFAULT
    for an argument without usbtest_param's fields, -ENODEV on an interface other than 0 of
    a device that needs an altsetting.  Context: may sleep."""
    dev: UsbtestDev = intf.driver_data
    dev.pattern = pattern
    async with dev.lock:
        if dev.info.alt >= 0:
            if intf.altsetting[0].desc.bInterfaceNumber:
                return -Errno.ENODEV
            retval = await set_altsetting(dev, dev.info.alt)
            if retval:
                dev.log.dev_err(intf, f"set altsetting to {dev.info.alt} failed, {retval}")
                return retval
        if code not in (USBTEST_REQUEST_64, USBTEST_REQUEST_32):
            return -Errno.EOPNOTSUPP
        param = copy_param(buf)
        if param is None:
            return -Errno.EFAULT
        loop = asyncio.get_running_loop()
        start = loop.time()
        retval = await usbtest_do_ioctl(intf, param)
        if retval < 0:
            return retval
        duration_us = round((loop.time() - start) * 1_000_000)
        buf.duration_sec, buf.duration_usec = divmod(duration_us, 1_000_000)
        return retval


# -- probe and the id table ---------------------------------------------------------------------


def _probe_pipes(dev: UsbtestDev, info: UsbtestInfo) -> None:
    """Pipes from info's endpoint numbers: interrupt pipes with force_interrupt or at low
    speed, else bulk."""
    udev = dev.udev
    ptype = PIPE_INTERRUPT if force_interrupt or udev.speed == Speed.LOW else PIPE_BULK
    if info.ep_in:
        dev.in_pipe = make_pipe(udev, ptype, info.ep_in, True)
    if info.ep_out:
        dev.out_pipe = make_pipe(udev, ptype, info.ep_out, False)


def _tests_line(dev: UsbtestDev) -> str:
    udev, info = dev.udev, dev.info
    forced = bool(force_interrupt or udev.speed == Speed.LOW)
    names = [(dev.in_pipe, " intr-in" if forced else " bulk-in"),
             (dev.out_pipe, " intr-out" if forced else " bulk-out"),
             (dev.in_iso_pipe, " iso-in"), (dev.out_iso_pipe, " iso-out"),
             (dev.in_int_pipe, " int-in"), (dev.out_int_pipe, " int-out")]
    kinds = "".join(name for pipe, name in names if pipe)
    return (f"{udev.speed.linux_name} {{control{' in/out' if info.ctrl_out else ''}{kinds}}}"
            f" tests{' (+alt)' if info.alt >= 0 else ''}")


async def usbtest_probe(intf: UsbInterface, id: UsbDeviceId) -> int:
    """usbtest_probe(): a module-parameter entry takes only the `vendor` (and `product`)
    given; then the pipes — autoconfigured with get_endpoints for devices that ask for
    it (or when `alt` is set), else from the info's endpoint numbers.  0 or -errno
    (-ENODEV: not ours; get_endpoints' error).  Context: may sleep."""
    udev = intf.usb_dev
    desc = udev.descriptor
    assert desc is not None
    log = udev.usb_bus.core.log
    if id.match_flags == 0:
        if not vendor or desc.idVendor != vendor:
            return -Errno.ENODEV
        if product and desc.idProduct != product:
            return -Errno.ENODEV
        log.dev_info(intf, f"matched module params, vend=0x{desc.idVendor:04x} "
                           f"prod=0x{desc.idProduct:04x}")
    template = id.driver_info
    assert isinstance(template, UsbtestInfo)
    dev = UsbtestDev(intf, dataclasses.replace(template))
    if force_interrupt or udev.speed == Speed.LOW or not (alt >= 0 or dev.info.autoconf):
        _probe_pipes(dev, dev.info)
    else:
        status = await get_endpoints(dev, intf)
        if status < 0:
            log.dev_warn(intf, f"couldn't get endpoints, {status}")
            return status
    intf.driver_data = dev
    log.dev_info(intf, dev.info.name)
    log.dev_info(intf, _tests_line(dev))
    return 0


async def usbtest_disconnect(intf: UsbInterface) -> None:
    """usbtest_disconnect().  Context: may sleep."""
    intf.driver_data = None
    intf.usb_dev.usb_bus.core.log.dev_dbg(intf, "disconnect")


async def usbtest_suspend(intf: UsbInterface, message: str) -> int:
    """usbtest_suspend(): nothing to do.  Context: may sleep."""
    return 0


async def usbtest_resume(intf: UsbInterface) -> int:
    """usbtest_resume(): nothing to do.  Context: may sleep."""
    return 0


#: an21xx or fx versions of ez-usb
ez1_info: Final = UsbtestInfo("EZ-USB device", ep_in=2, ep_out=2, alt=1)
#: fx2 version of ez-usb
ez2_info: Final = UsbtestInfo("FX2 device", ep_in=6, ep_out=2, alt=1)
#: ezusb family device with dedicated usb test firmware
fw_info: Final = UsbtestInfo("usb test device", ep_in=2, ep_out=2, alt=1, autoconf=True,
                             ctrl_out=True, iso=True)
#: peripheral running Linux and 'zero.c' test firmware, or its user-mode cousin
gz_info: Final = UsbtestInfo("Linux gadget zero", autoconf=True, ctrl_out=True, iso=True,
                             intr=True, alt=0)
um_info: Final = UsbtestInfo("Linux user mode test driver", autoconf=True, alt=-1)
um2_info: Final = UsbtestInfo("Linux user mode ISO test driver", autoconf=True, iso=True,
                              alt=-1)
#: we can use any device to test control traffic
generic_info: Final = UsbtestInfo("Generic USB device", alt=-1)

id_table: Final = module_device_table("usb", [
    usb_device(0x0547, 0x2235, driver_info=ez1_info),  # generic EZ-USB FX controller
    usb_device(0x0547, 0x0080, driver_info=ez1_info),  # CY3671 development board
    usb_device(0x04B4, 0x8613, driver_info=ez2_info),  # generic EZ-USB FX2 controller
    usb_device(0xFFF0, 0xFFF0, driver_info=fw_info),  # re-enumerated test firmware
    usb_device(0x0525, 0xA4A0, driver_info=gz_info),  # "Gadget Zero" firmware
    usb_device(0x0525, 0xA4A4, driver_info=um_info),  # user-mode variant
    usb_device(0x0525, 0xA4A3, driver_info=um2_info),  # user-mode variant that talks iso
    UsbDeviceId(driver_info=generic_info),  # module params can specify devices
    UsbDeviceId(),
])


class UsbtestDriver(UsbDriver):
    """struct usb_driver usbtest_driver, with its unlocked_ioctl."""

    async def unlocked_ioctl(self, intf: UsbInterface, code: int, buf: Any) -> int:
        """usbtest_ioctl(), reached through usbfs's USBDEVFS_IOCTL.  Context: may sleep."""
        return await usbtest_ioctl(intf, code, buf)


usbtest_driver = UsbtestDriver(
    "usbtest", id_table=id_table, probe=usbtest_probe, disconnect=usbtest_disconnect,
    suspend=usbtest_suspend, resume=usbtest_resume, no_dynamic_id=True)


async def usbtest_init() -> int:
    """usbtest_init(): register the driver.  0 or -errno.  Context: may sleep."""
    core = current_usbcore()
    if vendor:
        core.log.log(Level.DEBUG, f"params: vend=0x{vendor:04x} prod=0x{product:04x}")
    try:
        await usb_register(core, usbtest_driver)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    return 0


async def usbtest_exit() -> None:
    """usbtest_exit(): deregister the driver.  Context: may sleep."""
    await usb_deregister(current_usbcore(), usbtest_driver)


module_init(usbtest_init)
module_exit(usbtest_exit)

module_description("USB Core/HCD Testing Driver")
module_license("GPL")
