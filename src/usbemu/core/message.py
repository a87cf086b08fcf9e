"""Synchronous messages — counterpart of drivers/usb/core/message.c (the part built only on
URBs: control, bulk and interrupt messages, descriptors, strings, clear_halt, and the
scatter-gather requests usb_sg_init/usb_sg_wait/usb_sg_cancel).

Every helper here is process context: `async def`, it may sleep.  Each builds one URB,
submits it and waits for its completion or for the timeout (in ms of the machine's clock;
0 waits forever, as in Linux 6.12.0), then kills the URB: a timed-out message returns
-ETIMEDOUT with the number of bytes that did move.  A message whose device model answers at
once completes without suspending the caller — the controller gives the URB back inline,
since the completion is usbcore's own and not driver code.  Where Linux allocates a URB per
message, usb_control_msg, usb_bulk_msg and bulk_transfer take the one the endpoint's last
message used when it is idle (`UsbHostEndpoint.sync_urb`), which is the same to the
controller: a URB is only ever reused after its completion.

The kernel-style helpers return Linux's results (byte counts or negative errno, and
`(retval, actual_length)` where C passes a pointer).  `check()` is the one place where a
status becomes an exception (`UsbError` and its subclasses) for the Pythonic API.
Configuration and interface changes (usb_set_configuration, usb_set_interface) live with
the device model code in `driver.py`/`generic.py`; they use these helpers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from ..errors import Errno, usb_error
from ..kernel.vtime import VirtualTimeLoop, sleep_ns
from ..spec.ch9 import (
    LANGID_EN_US,
    DescriptorType,
    DeviceState,
    Direction,
    EndpointType,
    Feature,
    Recipient,
    Request,
    RequestType,
    SetupPacket,
    Speed,
)
from .hcd import usb_hcd_alloc_bandwidth, usb_hcd_reset_endpoint
from .urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    PIPE_ISOCHRONOUS,
    Urb,
    UrbFlag,
    make_pipe,
    usb_block_urb,
    usb_kill_urb,
    usb_pipe_endpoint,
    usb_pipeendpoint,
    usb_pipein,
    usb_pipetype,
    usb_submit_urb,
    usb_unlink_urb,
)

if TYPE_CHECKING:
    from ..spec.descriptors import InterfaceAssociation
    from .usb import UsbDevice, UsbHostConfig, UsbHostEndpoint, UsbInterface

_XFER_INT: Final = int(EndpointType.INT)
USB_CTRL_GET_TIMEOUT: Final = 5000
USB_CTRL_SET_TIMEOUT: Final = 5000


# -- errors: the one place where a status becomes an exception -------------------------------


def check(result: int, actual_length: int = 0) -> int:
    """Turn a kernel-style result into a value: returns `result` when ≥ 0, else raises the
    UsbError subclass for that errno (carrying `actual_length`).  Context: atomic."""
    if result >= 0:
        return result
    raise usb_error(result, actual_length)


# -- waiting for one URB ----------------------------------------------------------------------


def _sync_complete(urb: Urb) -> None:
    fut = urb.context
    if fut is not None and not fut.done():
        fut.set_result(None)


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


#: Synchronous messages that may complete in a row without their caller suspending; the
#: caller that reaches the budget yields to the loop once, so that concurrent streams
#: interleave (each gets the budget in turn) and timers and other tasks run.
SYNC_INLINE_BUDGET: Final = 32

#: A (micro)frame in nanoseconds.  When a whole budget completed at one instant of virtual
#: time, the caller waits for the next frame boundary of its device's bus instead — the
#: controller has nothing more for it in this one.  Without that, a driver looping on
#: usb_bulk_msg would hold virtual time still, and nothing waiting for time (an unplug's
#: debounce, a timeout) would ever run.
_FRAME_NS: Final = {Speed.LOW: 1_000_000, Speed.FULL: 1_000_000}
_MICROFRAME_NS: Final = 125_000

#: Messages that returned without suspending their caller since a caller last suspended
#: (one count for all callers: a caller that suspends for any reason starts it over), and
#: the machine time the first of them returned at.
_inline_streak = 0
_streak_at = -1.0


async def _yield_now(dev: UsbDevice | None) -> None:
    """The budget is used up: start the count over and let the loop run once — on virtual
    time, until the next (micro)frame when the clock has not moved since the count
    started (the clock moved there at once when nothing else is waiting to run).
    Context: may sleep."""
    global _inline_streak
    _inline_streak = 0
    loop = asyncio.get_running_loop()
    if isinstance(loop, VirtualTimeLoop) and loop.time() == _streak_at:
        frame = _MICROFRAME_NS if dev is None else _FRAME_NS.get(dev.speed, _MICROFRAME_NS)
        wait = frame - loop.time_ns() % frame
        if not loop.advance_if_idle(wait):
            await sleep_ns(wait)
            return
    await asyncio.sleep(0)                  # the loop polls I/O: bridges, other threads


def _submit_sync(urb: Urb) -> tuple[int, int] | None:
    """The first half of usb_start_wait_urb(): submit with the synchronous completion.
    (status, actual_length) when the submission failed or the URB completed at once —
    either way counted in the streak of messages that did not suspend their caller (a
    driver looping on a message that fails at once, -ENODEV after an unplug, must yield
    too); None when it is queued and must be waited for.  Context: atomic."""
    global _inline_streak, _streak_at
    urb.complete = _sync_complete
    urb.complete_inline = True
    urb.context = None
    rc = usb_submit_urb(urb)
    if rc:
        done = rc, 0
    elif urb.use_count == 0:  # completed inline
        done = urb.status, urb.actual_length
    else:
        return None
    if not _inline_streak:                  # _count_at_once(), inline: the hot path
        _streak_at = asyncio.get_running_loop().time()
    _inline_streak += 1
    return done


def _count_at_once() -> None:
    """One more message that returned without suspending its caller.  Context: atomic."""
    global _inline_streak, _streak_at
    if not _inline_streak:
        _streak_at = asyncio.get_running_loop().time()
    _inline_streak += 1


def _sync_urb(hep: UsbHostEndpoint) -> Urb:
    """The URB for a synchronous message on `hep`: the one its last message used when
    that one is idle (as fresh as usb_alloc_urb's, the fill sets the rest), else a new
    one.  Context: atomic."""
    urb = hep.sync_urb
    if urb is None or urb.use_count:
        return Urb()
    hep.sync_urb = None
    urb.transfer_flags = urb.interval = urb.start_frame = 0
    urb.setup_packet = None
    return urb


def _keep_sync_urb(hep: UsbHostEndpoint, urb: Urb) -> None:
    """`urb`, idle again, is the next message's; it lets go of the caller's buffer."""
    urb.transfer_buffer = urb.context = None
    hep.sync_urb = urb


async def start_wait_urb(urb: Urb, timeout_ms: int) -> tuple[int, int]:
    """usb_start_wait_urb(): submit, wait, kill on timeout.  Returns (status,
    actual_length); status is -ETIMEDOUT when the timeout killed the URB.  Context: may sleep."""
    done = _submit_sync(urb)
    if done is None:
        return await _wait_urb(urb, timeout_ms)
    if _inline_streak >= SYNC_INLINE_BUDGET:
        await _yield_now(urb.dev)
    return done


async def _wait_urb(urb: Urb, timeout_ms: int) -> tuple[int, int]:
    """The sleeping half of usb_start_wait_urb(), for a URB that did not complete at
    submission.  Context: may sleep."""
    global _inline_streak
    _inline_streak = 0
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    urb.context = fut
    timer = loop.call_later(timeout_ms / 1000, _expire, fut) if timeout_ms > 0 else None
    try:
        await fut
    except TimeoutError:
        await usb_kill_urb(urb)
        status = -Errno.ETIMEDOUT if urb.status == -Errno.ENOENT else urb.status
        return status, urb.actual_length
    except asyncio.CancelledError:
        await asyncio.shield(usb_kill_urb(urb))
        raise
    finally:
        if timer is not None:
            timer.cancel()
    return urb.status, urb.actual_length


# -- control ----------------------------------------------------------------------------------


def _buffer(data: Any, size: int, is_in: bool) -> Any:
    if data is None:
        return bytearray(size) if is_in else b""
    return data


async def usb_control_msg(dev: UsbDevice, pipe: int, request: int, requesttype: int,
                          value: int, index: int, data: Any, size: int,
                          timeout_ms: int) -> int:
    """usb_control_msg(): bytes transferred, or a negative errno.  Context: may sleep.

    For IN requests `data` must be writable (a bytearray of at least `size` bytes).
    """
    setup = SetupPacket.pack_fields(requesttype, request, value, index, size)
    hep = usb_pipe_endpoint(dev, pipe)
    urb = Urb() if hep is None else _sync_urb(hep)
    urb.fill_control(dev, pipe, setup, _buffer(data, size, bool(requesttype & 0x80)), size,
                     _sync_complete)
    status, actual = await start_wait_urb(urb, timeout_ms)
    if hep is not None:
        _keep_sync_urb(hep, urb)
    return status if status < 0 else actual


async def control_transfer(dev: UsbDevice, setup: SetupPacket, data: bytes | None = None,
                           timeout_ms: int = USB_CTRL_GET_TIMEOUT) -> bytes:
    """Pythonic control transfer: returns the IN data (b"" for OUT); raises UsbError.
    Context: may sleep."""
    is_in = setup.is_in
    pipe = make_pipe(dev, PIPE_CONTROL, 0, is_in)
    buf: Any = bytearray(setup.wLength) if is_in else (data or b"")
    if not is_in and len(buf) != setup.wLength:
        raise ValueError(f"OUT control transfer: {len(buf)} data bytes but wLength is "
                         f"{setup.wLength}")
    urb = Urb().fill_control(dev, pipe, setup, buf, setup.wLength, _sync_complete)
    status, actual = await start_wait_urb(urb, timeout_ms)
    check(status, actual)
    return bytes(buf[:actual]) if is_in else b""


# -- bulk and interrupt -----------------------------------------------------------------------


async def usb_bulk_msg(dev: UsbDevice, pipe: int, data: Any, length: int,
                       timeout_ms: int) -> tuple[int, int]:
    """usb_bulk_msg(): (0 or -errno, actual_length) — C's `*actual_length` is the second
    element, always valid.  An interrupt endpoint gets an interrupt URB with its bInterval.
    -EINVAL when the endpoint does not exist or `length` < 0.  Context: may sleep."""
    hep = usb_pipe_endpoint(dev, pipe)
    if length < 0 or hep is None:   # a loop on an endpoint gone with its device yields too
        _count_at_once()
        if _inline_streak >= SYNC_INLINE_BUDGET:
            await _yield_now(dev)
        return -Errno.EINVAL, 0
    urb = _sync_urb(hep)
    if hep.type == _XFER_INT:
        urb.fill_int(dev, _as_interrupt_pipe(pipe), data, length, _sync_complete, None,
                     hep.desc.bInterval)
    else:
        urb.fill_bulk(dev, pipe, data, length, _sync_complete)
    # start_wait_urb() without its coroutine: a message answered at once costs one
    done = _submit_sync(urb)
    if done is None:
        done = await _wait_urb(urb, timeout_ms)
    elif _inline_streak >= SYNC_INLINE_BUDGET:
        await _yield_now(urb.dev)
    _keep_sync_urb(hep, urb)
    return done


usb_interrupt_msg = usb_bulk_msg


def _as_interrupt_pipe(pipe: int) -> int:
    """The same endpoint as an interrupt pipe: usb_bulk_msg's own rewrite of the pipe
    type bits when the endpoint is an interrupt endpoint."""
    return (pipe & ~(3 << 30)) | (PIPE_INTERRUPT << 30)


async def bulk_transfer(dev: UsbDevice, endpoint: int, data: Any, *,
                        timeout_ms: int = 5000, zero_packet: bool = False) -> int:
    """Pythonic bulk/interrupt transfer on bEndpointAddress `endpoint`: for IN `data` is a
    writable buffer (its length is the request), for OUT the bytes to send.  Returns the
    bytes moved; raises UsbError (UsbTimeout, UsbStall …) with `actual_length`, UsbNoDevice
    for a device that is gone, ValueError for an endpoint the active configuration lacks.
    Context: may sleep."""
    is_in = bool(endpoint & 0x80)
    pipe = make_pipe(dev, PIPE_BULK, endpoint & 0xF, is_in)
    table = dev.ep_in if is_in else dev.ep_out
    hep = table[endpoint & 0xF]
    if hep is None:
        if dev.state is DeviceState.NOTATTACHED:  # gone: its endpoints went with it
            check(-Errno.ENODEV)
        raise ValueError(f"device {dev.name} has no endpoint {endpoint:#04x} in its "
                         "active configuration")
    length = len(memoryview(data).cast("B")) if data is not None else 0
    urb = _sync_urb(hep)
    if hep.type == _XFER_INT:
        urb.fill_int(dev, _as_interrupt_pipe(pipe), data, length, _sync_complete, None,
                     hep.desc.bInterval)
    else:
        urb.fill_bulk(dev, pipe, data, length, _sync_complete)
    if zero_packet and not is_in:
        urb.transfer_flags |= UrbFlag.ZERO_PACKET
    status, actual = await start_wait_urb(urb, timeout_ms)
    _keep_sync_urb(hep, urb)
    check(status, actual)
    return actual


# -- descriptors and strings ------------------------------------------------------------------

_GET_DESCRIPTOR_IN: Final = Direction.IN | RequestType.STANDARD | Recipient.DEVICE


async def usb_get_descriptor(dev: UsbDevice, dtype: int, index: int, buf: bytearray,
                             size: int) -> int:
    """usb_get_descriptor(): up to 3 tries (retrying results ≤ 0 other than -ETIMEDOUT,
    and replies of the wrong type → -ENODATA); bytes read or -errno.  Context: may sleep."""
    if size <= 0:
        return -Errno.EINVAL
    buf[:size] = bytes(size)  # parse only what was really received
    result = 0
    for _ in range(3):
        result = await usb_control_msg(dev, make_pipe(dev, PIPE_CONTROL, 0, True),
                                       Request.GET_DESCRIPTOR, _GET_DESCRIPTOR_IN,
                                       (dtype << 8) + index, 0, buf, size,
                                       USB_CTRL_GET_TIMEOUT)
        if result <= 0 and result != -Errno.ETIMEDOUT:
            continue
        if result > 1 and buf[1] != dtype:
            result = -Errno.ENODATA
            continue
        break
    return result


async def usb_get_string(dev: UsbDevice, langid: int, index: int, buf: bytearray,
                         size: int) -> int:
    """usb_get_string(): GET_DESCRIPTOR(STRING), 3 tries (retrying empty replies and
    -EPIPE); bytes read or -errno.  Context: may sleep."""
    if size <= 0:
        return -Errno.EINVAL
    result = 0
    for _ in range(3):
        result = await usb_control_msg(dev, make_pipe(dev, PIPE_CONTROL, 0, True),
                                       Request.GET_DESCRIPTOR, _GET_DESCRIPTOR_IN,
                                       (DescriptorType.STRING << 8) + index, langid, buf,
                                       size, USB_CTRL_GET_TIMEOUT)
        if result == 0 or result == -Errno.EPIPE:
            continue
        if result > 1 and buf[1] != DescriptorType.STRING:
            result = -Errno.ENODATA
            continue
        break
    return result


async def usb_clear_halt(dev: UsbDevice, pipe: int) -> int:
    """usb_clear_halt(): CLEAR_FEATURE(ENDPOINT_HALT) on the pipe's endpoint, then reset
    the host side's toggle; 0 or -errno.  Context: may sleep."""
    endp = usb_pipeendpoint(pipe) | (0x80 if usb_pipein(pipe) else 0)
    result = await usb_control_msg(dev, make_pipe(dev, PIPE_CONTROL, 0, False),
                                   Request.CLEAR_FEATURE, Recipient.ENDPOINT,
                                   Feature.ENDPOINT_HALT, endp, None, 0,
                                   USB_CTRL_SET_TIMEOUT)
    if result < 0:
        return result
    hep = dev.endpoint(endp)
    if hep is not None:
        usb_hcd_reset_endpoint(dev, hep)  # usb_reset_endpoint()
    return 0


# -- scatter-gather requests ------------------------------------------------------------------


class UsbSgRequest:
    """struct usb_sg_request: one scatter-gather transfer as usb_sg_init() splits it — one
    URB per list entry (no usbemu bus has an sg_tablesize).  After usb_sg_wait() returns,
    `status` is 0, the first fault's -errno, or -ECONNRESET after usb_sg_cancel(), and
    `bytes` is what moved."""

    __slots__ = ("bytes", "complete", "count", "dev", "entries", "pipe", "status", "urbs")

    def __init__(self) -> None:
        self.dev: UsbDevice | None = None
        self.pipe = 0
        self.entries = 0
        self.urbs: list[Urb] = []
        self.status = 0
        self.bytes = 0
        self.count = 0
        self.complete = asyncio.Event()


def _sg_complete(urb: Urb) -> None:
    """sg_complete(): the first hard fault unlinks the URBs queued behind this one; the
    last completion wakes usb_sg_wait().  Context: atomic."""
    io: UsbSgRequest = urb.context
    status = urb.status
    if io.status and (io.status != -Errno.ECONNRESET or status != -Errno.ECONNRESET) \
            and urb.actual_length and io.dev is not None:
        io.dev.usb_bus.core.log.dev_err(
            io.dev.usb_bus.controller,
            f"dev {io.dev.devpath} ep{usb_pipeendpoint(urb.pipe)}"
            f"{'in' if usb_pipein(urb.pipe) else 'out'} scatterlist error "
            f"{status}/{io.status}")
    if io.status == 0 and status and status != -Errno.ECONNRESET:
        io.status = status
        after = io.urbs[io.urbs.index(urb) + 1:] if urb in io.urbs else []
        for later in after:
            retval = _sg_unlink(later)
            if retval not in _SG_UNLINK_OK and io.dev is not None:
                io.dev.usb_bus.core.log.dev_err(io.dev, f"sg_complete, unlink --> {retval}")
    io.bytes += urb.actual_length
    io.count -= 1
    if not io.count:
        io.complete.set()


def _sg_unlink(urb: Urb) -> int:
    """Block `urb` from resubmission and unlink it; the unlink's result.  Context: atomic."""
    usb_block_urb(urb)
    return usb_unlink_urb(urb)


_SG_UNLINK_OK: Final = (-Errno.EINPROGRESS, -Errno.ENODEV, -Errno.EBUSY, -Errno.EIDRM)


def usb_sg_init(io: UsbSgRequest, dev: UsbDevice, pipe: int, period: int,
                sg: Sequence[Any], length: int = 0) -> int:
    """usb_sg_init(): prepare `io` to move the buffers of `sg` (writable ones for an IN
    pipe) over a bulk or interrupt pipe, `length` bytes in all (0: every byte of the
    list); `period` is the interrupt interval.  Every URB but the last has
    URB_NO_INTERRUPT, and IN URBs have URB_SHORT_NOT_OK.  Returns 0, or -EINVAL for a
    control or isochronous pipe or an empty list.  Context: atomic."""
    if not sg or usb_pipetype(pipe) in (PIPE_CONTROL, PIPE_ISOCHRONOUS):
        return -Errno.EINVAL
    io.dev, io.pipe = dev, pipe
    io.entries = len(sg)
    flags = UrbFlag.NO_INTERRUPT | (UrbFlag.SHORT_NOT_OK if usb_pipein(pipe) else 0)
    io.urbs = []
    for i, buf in enumerate(sg):
        urb = Urb()
        size = memoryview(buf).nbytes
        if length:
            size = min(size, length)
            length -= size
            if length == 0:
                io.entries = i + 1
        urb.pipe, urb.interval, urb.transfer_flags = pipe, period, int(flags)
        urb.complete, urb.context = _sg_complete, io
        urb.transfer_buffer, urb.transfer_buffer_length = buf, size
        io.urbs.append(urb)
        if i + 1 == io.entries:
            break
    io.urbs[-1].transfer_flags &= ~UrbFlag.NO_INTERRUPT
    io.count = io.entries
    io.status = io.bytes = 0
    io.complete = asyncio.Event()
    return 0


_SG_RETRY: Final = (-Errno.ENXIO, -Errno.EAGAIN, -Errno.ENOMEM)


async def usb_sg_wait(io: UsbSgRequest) -> None:
    """usb_sg_wait(): submit the request's URBs in order and wait until every one has
    completed, was cancelled or could not be submitted; `io.status` and `io.bytes` say how
    it went.  Context: may sleep."""
    entries = io.entries
    i = 0
    while i < entries and not io.status:
        urb = io.urbs[i]
        urb.dev = io.dev
        retval = usb_submit_urb(urb)
        if retval in _SG_RETRY:
            retval = 0
            await asyncio.sleep(0)
        elif retval == 0:
            i += 1
        else:
            urb.status = retval
            if io.dev is not None:
                io.dev.usb_bus.core.log.dev_dbg(io.dev, f"usb_sg_wait, submit --> {retval}")
            usb_sg_cancel(io)
        if retval and io.status in (0, -Errno.ECONNRESET):
            io.status = retval
    io.count -= entries - i
    if io.count == 0:
        io.complete.set()
    await io.complete.wait()


def usb_sg_cancel(io: UsbSgRequest) -> None:
    """usb_sg_cancel(): stop a request usb_sg_wait() runs (status -ECONNRESET), or keep one
    from starting; a no-op once it has a status or has completed.  Context: atomic."""
    if io.status or io.count == 0:
        return
    io.status = -Errno.ECONNRESET
    io.count += 1
    for urb in reversed(io.urbs[:io.entries]):
        retval = _sg_unlink(urb)
        if retval not in _SG_UNLINK_OK and io.dev is not None:
            io.dev.usb_bus.core.log.dev_warn(io.dev, f"usb_sg_cancel, unlink --> {retval}")
    io.count -= 1
    if not io.count:
        io.complete.set()


MAX_USB_STRING_SIZE: Final = 127 * 3 + 1


def _try_string_workarounds(buf: bytearray, length: int) -> int:
    """usb_try_string_workarounds(): a descriptor whose first two bytes are 0 but which
    carries printable UTF-16 after them gets bLength set to the text's end."""
    newlength = 2
    while newlength + 1 < length:
        if not 0x20 <= buf[newlength] <= 0x7E or buf[newlength + 1]:
            break
        newlength += 2
    if newlength > 2:
        buf[0] = newlength
        return newlength
    return length


async def _string_sub(dev: UsbDevice, langid: int, index: int, buf: bytearray) -> int:
    """usb_string_sub(): read a string descriptor asking for 255 bytes, then 2 and bLength;
    the length cut to bLength and to an even number; -errno or -EINVAL when < 2."""
    rc = await usb_get_string(dev, langid, index, buf, 255)
    if rc < 2:
        rc = await usb_get_string(dev, langid, index, buf, 2)
        if rc == 2:
            rc = await usb_get_string(dev, langid, index, buf, buf[0])
    if rc >= 2:
        if not buf[0] and not buf[1]:
            rc = _try_string_workarounds(buf, rc)
        rc = min(rc, buf[0])  # there might be extra junk at the end of the descriptor
        rc -= rc & 1  # force a multiple of two
    if rc < 2:
        rc = rc if rc < 0 else -Errno.EINVAL
    return rc


async def _get_langid(dev: UsbDevice, buf: bytearray) -> int:
    """usb_get_langid(): fetch and cache the first LANGID; 0 or -EPIPE."""
    if dev.have_langid:
        return 0
    if dev.string_langid < 0:
        return -Errno.EPIPE
    log = dev.usb_bus.core.log
    err = await _string_sub(dev, 0, 0, buf)
    if err == -Errno.ENODATA or 0 < err < 4:
        dev.string_langid, dev.have_langid = LANGID_EN_US, True
        log.dev_err(dev, "language id specifier not provided by device, defaulting to English")
        return 0
    if err < 0:
        log.dev_info(dev, f"string descriptor 0 read error: {err}")
        dev.string_langid = -1
        return -Errno.EPIPE
    dev.string_langid, dev.have_langid = buf[2] | buf[3] << 8, True
    return 0


def _utf16_to_utf8(data: bytes, limit: int) -> str:
    """utf16s_to_utf8s(): stop at a NUL code unit, drop what is not valid UTF-16, and keep
    the UTF-8 form within `limit` - 1 bytes."""
    units = [data[i] | data[i + 1] << 8 for i in range(0, len(data) - 1, 2)]
    if 0 in units:
        units = units[: units.index(0)]
    raw = b"".join(u.to_bytes(2, "little") for u in units)
    text = raw.decode("utf-16-le", errors="ignore")
    encoded = text.encode("utf-8")[: limit - 1]
    return encoded.decode("utf-8", errors="ignore")


async def usb_string(dev: UsbDevice, index: int,
                     size: int = MAX_USB_STRING_SIZE) -> str | int:
    """usb_string(): string `index` in the device's first language as text, or -errno
    (-EINVAL for an index outside 1..255, -EHOSTUNREACH while suspended).  Context: may sleep."""
    if dev.state is DeviceState.SUSPENDED:
        return -Errno.EHOSTUNREACH
    if size <= 0 or not 0 < index < 256:
        return -Errno.EINVAL
    buf = bytearray(256)
    err = await _get_langid(dev, buf)
    if err < 0:
        return err
    err = await _string_sub(dev, dev.string_langid, index, buf)
    if err < 0:
        return err
    text = _utf16_to_utf8(bytes(buf[2:err]), size)
    if buf[1] != DescriptorType.STRING:
        dev.usb_bus.core.log.dev_dbg(
            dev, f"wrong descriptor type {buf[1]:02x} for string {index} (\"{text}\")")
    return text


async def usb_cache_string(dev: UsbDevice, index: int) -> str | None:
    """usb_cache_string(): the text of string `index`, or None (no string, or it failed).
    Context: may sleep."""
    if index <= 0:
        return None
    text = await usb_string(dev, index)
    return text if isinstance(text, str) and text else None


# -- configurations and altsettings (message.c, second half) ---------------------------------


def usb_enable_interface(udev: UsbDevice, intf: UsbInterface, reset_eps: bool = True) -> None:
    """usb_enable_interface(): the current altsetting's endpoints become the device's,
    their toggles reset (`reset_eps`) through usb_hcd_reset_endpoint.  Context: atomic."""
    alt = intf.cur_altsetting
    if reset_eps:
        for hep in alt.endpoint:
            usb_hcd_reset_endpoint(udev, hep)
    udev.enable_interface_endpoints(alt)


async def usb_disable_endpoint(udev: UsbDevice, address: int,
                               reset_hardware: bool = True) -> None:
    """usb_disable_endpoint(): the endpoint refuses new URBs (-ENOENT) and its queued ones
    are flushed (-ESHUTDOWN).  With `reset_hardware` it also leaves the device's tables
    (endpoint 0 excepted, which comes back enabled) and the controller forgets it.
    Context: may sleep."""
    table = udev.ep_in if address & 0x80 else udev.ep_out
    hep = table[address & 0xF]
    if hep is None:
        return
    if reset_hardware and address & 0xF:
        table[address & 0xF] = None
    hcd = udev.usb_bus.hcd
    if reset_hardware:
        await hcd.disable_endpoint(udev, hep)
    else:
        hep.enabled = False
        await hcd.flush_endpoint(udev, hep)
    if reset_hardware and not address & 0xF:
        hep.enabled = True


async def usb_disable_interface(udev: UsbDevice, intf: UsbInterface,
                                reset_hardware: bool) -> None:
    """usb_disable_interface(): disable every endpoint of the current altsetting.
    Context: may sleep."""
    for hep in intf.cur_altsetting.endpoint:
        if udev.endpoint(hep.address) is hep:
            await usb_disable_endpoint(udev, hep.address, reset_hardware)


async def usb_disable_device(udev: UsbDevice, skip_ep0: bool) -> None:
    """usb_disable_device(): unregister every interface (disconnecting its driver), drop
    the active configuration, and flush every endpoint's URBs.  Context: may sleep."""
    driver_core = udev.usb_bus.core.driver_core
    config = udev.actconfig
    if config is not None:
        for intf in config.interface:
            if intf.registered:
                udev.usb_bus.core.log.dev_dbg(udev, f"unregistering interface {intf.name}")
                await driver_core.device_del(intf)
        config.interface = []
        udev.actconfig = None
        if udev.state is DeviceState.CONFIGURED:
            udev.set_state(DeviceState.ADDRESS)
    for address in range(1 if skip_ep0 else 0, 16):
        for direction in (0x00, 0x80):
            if address or not direction:
                await usb_disable_endpoint(udev, address | direction)


def _usb_max_power(udev: UsbDevice, config: UsbHostConfig) -> int:
    return config.desc.max_power_ma(udev.speed)


async def usb_set_configuration(udev: UsbDevice, configuration: int) -> int:
    """usb_set_configuration(): check with the controller that the configuration's
    endpoints fit (usb_hcd_alloc_bandwidth), SET_CONFIGURATION, then register the new
    interfaces in the order the configuration lists them (altsetting 0 each, drivers
    probed per interface).  0 or -errno: -EINVAL when no configuration has that value,
    the controller's -ENOSPC when its schedule has no room (the device is then left
    unconfigured, in the ADDRESS state).  Context: may sleep."""
    from .usb import UsbInterface

    log = udev.usb_bus.core.log
    if not udev.authorized or configuration == -1:
        configuration = 0
    config = next((c for c in udev.config if c.value == configuration), None)
    if config is None and configuration != 0:
        return -Errno.EINVAL
    if config is not None and configuration == 0:
        log.dev_warn(udev, "config 0 descriptor??")
    if config is not None:
        over = _usb_max_power(udev, config) - udev.bus_mA
        if over > 0:
            log.dev_warn(udev, f"new config #{configuration} exceeds power limit by {over}mA")
    await usb_disable_device(udev, True)
    bus = udev.usb_bus
    async with bus.bandwidth_mutex:
        ret = await usb_hcd_alloc_bandwidth(udev, config, None, None)
        if ret < 0:
            udev.set_state(DeviceState.ADDRESS)
            return ret
        interfaces: list[UsbInterface] = []
        if config is not None:
            interfaces = [UsbInterface(udev, config, alts)
                          for alts in config.altsettings.values()]
            for intf in interfaces:
                intf.intf_assoc = _find_iad(config, intf.number)
                usb_enable_interface(udev, intf)
        ret = await usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, False),
                                    Request.SET_CONFIGURATION, 0, configuration, 0, None, 0,
                                    USB_CTRL_SET_TIMEOUT)
        if ret < 0 and config is not None:
            # all the old state is gone: give the bandwidth back, the device is useless now
            await usb_hcd_alloc_bandwidth(udev, None, None, None)
            for intf in interfaces:
                await usb_disable_interface(udev, intf, True)
            config = None
    if config is None:
        udev.set_state(DeviceState.ADDRESS)
        return min(ret, 0)
    config.interface = interfaces
    udev.actconfig = config
    udev.set_state(DeviceState.CONFIGURED)
    if config.string is None:
        index = config.desc.iConfiguration
        config.string = await usb_cache_string(udev, index if isinstance(index, int) else 0)
    for intf in interfaces:
        if udev.state is DeviceState.NOTATTACHED or udev.actconfig is not config:
            break
        log.dev_dbg(udev, f"adding {intf.name} (config #{configuration}, interface "
                          f"{intf.number})")
        await udev.usb_bus.core.driver_core.device_add(intf)
    return 0


def _find_iad(config: UsbHostConfig, number: int) -> InterfaceAssociation | None:
    """find_iad(): the first IAD whose range covers interface `number`."""
    for alt in config.desc.interfaces:
        iad = alt.association
        if iad is not None and iad.bFirstInterface is not None and \
                iad.bFirstInterface <= number < iad.bFirstInterface + iad.bInterfaceCount:
            return iad
    return None


async def usb_set_interface(udev: UsbDevice, ifnum: int, alternate: int) -> int:
    """usb_set_interface(): select altsetting `alternate` of interface `ifnum`.  As in
    Linux 6.12 the old altsetting's endpoints are disabled and their URBs flushed
    (-ESHUTDOWN) before SET_INTERFACE goes out; on success the new altsetting's endpoints
    replace them (toggles reset).  0 or -errno (-EINVAL for an unknown interface or
    altsetting; a refused request leaves the old endpoints disabled).  Context: may sleep."""
    log = udev.usb_bus.core.log
    if udev.state is DeviceState.SUSPENDED:
        return -Errno.EHOSTUNREACH
    intf = udev.interface(ifnum)
    if intf is None:
        log.dev_dbg(udev, f"selecting invalid interface {ifnum}")
        return -Errno.EINVAL
    alt = intf.altsetting_by_number(alternate)
    if alt is None:
        log.dev_warn(udev, f"selecting invalid altsetting {alternate}")
        return -Errno.EINVAL
    await usb_disable_interface(udev, intf, False)
    async with udev.usb_bus.bandwidth_mutex:
        ret = await usb_hcd_alloc_bandwidth(udev, None, intf.cur_altsetting, alt)
        if ret < 0:
            log.dev_info(udev, f"Not enough bandwidth for altsetting {alternate}")
            return ret
        ret = await usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, False),
                                    Request.SET_INTERFACE, Recipient.INTERFACE, alternate,
                                    ifnum, None, 0, 5000)
        manual = ret == -Errno.EPIPE and intf.num_altsetting == 1
        if ret < 0 and not manual:  # re-instate the old altsetting
            await usb_hcd_alloc_bandwidth(udev, None, alt, intf.cur_altsetting)
            return ret
    await usb_disable_interface(udev, intf, True)
    intf.cur_altsetting = alt
    if manual:
        log.dev_dbg(udev, f"manual set_interface for iface {ifnum}, alt {alternate}")
        for hep in alt.endpoint:
            await usb_clear_halt(udev, make_pipe(udev, PIPE_CONTROL, hep.address & 0xF,
                                                 bool(hep.address & 0x80)))
    usb_enable_interface(udev, intf)
    return 0
