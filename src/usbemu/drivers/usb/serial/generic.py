"""The generic usb-serial driver — counterpart of drivers/usb/serial/generic.c.

Two things live here, as in Linux.  First the generic operations every converter driver
gets where it defines none (usb_serial_operations_init): open submits the port's two read
URBs, each completion hands its data to the tty flip buffer and resubmits unless the port
is throttled or the URB was stopped; write copies into the port's 4096-byte FIFO and keeps
both write URBs busy with up to bulk_out_size bytes each; write_room and chars_in_buffer
count the FIFO and the bytes in flight; close kills the URBs and empties the FIFO;
throttle and unthrottle stop and restart the reads; tiocmiwait and get_icount work on the
port's counters.  Second the "generic" serial driver itself, which binds only the ids its
module parameters name (`modprobe usbserial vendor=0xffff product=0xfff8`) or that are
written to its new_id, warns that it is for testing and one-off prototypes, and makes one
port per bulk pair.  Not modelled: sysrq handling, console writes.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any, Final

from ....core.devtable import UsbDeviceId
from ....core.urb import Urb, usb_kill_urb, usb_submit_urb
from ....errors import Errno
from ....kernel.termios import TIOCM_CD, TIOCM_CTS, TIOCM_DSR, TIOCM_RNG, SerialIcounter
from ....kernel.tty_buffer import tty_flip_buffer_push, tty_insert_flip_string
from ....kernel.tty_io import TtyStruct, tty_get_baud_rate
from ....kernel.tty_port import (
    tty_port_initialized,
    tty_port_tty_hangup,
    tty_port_tty_wakeup,
)

if TYPE_CHECKING:
    from .usb_serial import UsbSerial, UsbSerialDriver, UsbSerialEndpoints, UsbSerialPort

#: The module parameters' defaults (generic.c: vendor 0x05f9, product 0xffff).
DEFAULT_VENDOR: Final = 0x05F9
DEFAULT_PRODUCT: Final = 0xFFFF
#: One jiffy at CONFIG_HZ=250, the shortest poll period of wait_until_sent.
_JIFFY_MS: Final = 4.0
_STOPPED: Final = frozenset({-Errno.ENOENT, -Errno.ECONNRESET, -Errno.ESHUTDOWN})


def _port(tty: TtyStruct) -> UsbSerialPort:
    return tty.driver_data  # type: ignore[no-any-return]


# -- open and close --------------------------------------------------------------------------------


def usb_serial_generic_open(tty: TtyStruct | None, port: UsbSerialPort) -> int:
    """usb_serial_generic_open(): clear the throttle, start reading when the port has a
    bulk-in endpoint; 0 or the submit error.  Context: process (never blocks)."""
    port.throttled = False
    if port.bulk_in_size:
        return usb_serial_generic_submit_read_urbs(port)
    return 0


async def usb_serial_generic_close(port: UsbSerialPort) -> None:
    """usb_serial_generic_close(): kill the write URBs and empty the FIFO, kill the read
    URBs.  Context: may sleep."""
    if port.bulk_out_size:
        for urb in port.write_urbs:
            await usb_kill_urb(urb)
        port.write_fifo.reset()
    if port.bulk_in_size:
        for urb in port.read_urbs:
            await usb_kill_urb(urb)


# -- writing ---------------------------------------------------------------------------------------


def usb_serial_generic_prepare_write_buffer(port: UsbSerialPort, dest: bytearray,
                                            size: int) -> int:
    """usb_serial_generic_prepare_write_buffer(): up to `size` FIFO bytes into `dest`."""
    return port.write_fifo.get_into(dest, size)


def usb_serial_generic_write_start(port: UsbSerialPort) -> int:
    """usb_serial_generic_write_start(): fill and submit free write URBs while the FIFO
    has data; 0 or the submit error.  Context: atomic."""
    if port.write_busy:
        return 0
    port.write_busy = True
    try:
        while port.write_urbs_free and len(port.write_fifo):
            i = (port.write_urbs_free & -port.write_urbs_free).bit_length() - 1
            urb = port.write_urbs[i]
            count = port.serial.type.prepare_write_buffer(port, urb.transfer_buffer,
                                                          port.bulk_out_size)
            urb.transfer_buffer_length = count
            port.tx_bytes += count
            port.write_urbs_free &= ~(1 << i)
            result = usb_submit_urb(urb)
            if result:
                port.log.dev_err(port, f"usb_serial_generic_write_start - error submitting "
                                       f"urb: {result}")
                port.write_urbs_free |= 1 << i
                port.tx_bytes -= count
                return result
        return 0
    finally:
        port.write_busy = False


def usb_serial_generic_write(tty: TtyStruct | None, port: UsbSerialPort,
                             buf: memoryview | bytes) -> int:
    """usb_serial_generic_write(): what fits of `buf` into the FIFO, then start the
    URBs; the count taken, or -ENODEV without a bulk-out endpoint.  Context: atomic."""
    if not port.bulk_out_size:
        return -Errno.ENODEV
    if not len(buf):
        return 0
    count = port.write_fifo.put(buf)
    result = usb_serial_generic_write_start(port)
    return result if result else count


def usb_serial_generic_write_room(tty: TtyStruct) -> int:
    """usb_serial_generic_write_room(): free FIFO space (0 without bulk out)."""
    port = _port(tty)
    return port.write_fifo.avail() if port.bulk_out_size else 0


def usb_serial_generic_chars_in_buffer(tty: TtyStruct) -> int:
    """usb_serial_generic_chars_in_buffer(): FIFO bytes plus bytes in flight."""
    port = _port(tty)
    return len(port.write_fifo) + port.tx_bytes if port.bulk_out_size else 0


async def usb_serial_generic_wait_until_sent(tty: TtyStruct, timeout_ms: float) -> None:
    """usb_serial_generic_wait_until_sent(): poll the driver's tx_empty (a plain function
    or a coroutine: it may ask the device) about once per
    character time (at least a jiffy) until it is empty or `timeout_ms` (0: no limit) of
    machine time passed.  Context: may sleep."""
    port = _port(tty)
    bps = tty_get_baud_rate(tty) or 9600
    period = max(10_000 / bps, _JIFFY_MS)
    if timeout_ms:
        period = min(period, timeout_ms)
    loop = asyncio.get_running_loop()
    expire = loop.time() + timeout_ms / 1000
    tx_empty = port.serial.type.tx_empty
    while tx_empty is not None and not await _maybe_await(tx_empty(port)):
        await asyncio.sleep(period / 1000)
        if timeout_ms and loop.time() > expire:
            break


async def _maybe_await(result: Any) -> Any:
    """The result of a callback that may be a plain function or a coroutine."""
    return await result if inspect.isawaitable(result) else result


def usb_serial_generic_write_bulk_callback(urb: Urb) -> None:
    """usb_serial_generic_write_bulk_callback(): the URB is free again; go on writing
    unless it was stopped, and wake writers.  Context: atomic."""
    port: UsbSerialPort = urb.context
    i = port.write_urbs.index(urb)
    port.tx_bytes -= urb.transfer_buffer_length
    port.write_urbs_free |= 1 << i
    status = urb.status
    if status in _STOPPED:
        port.log.dev_dbg(port, f"usb_serial_generic_write_bulk_callback - urb stopped: "
                               f"{status}")
        return
    if status == -Errno.EPIPE:
        port.log.dev_err(port, f"usb_serial_generic_write_bulk_callback - urb stopped: "
                               f"{status}")
        return
    if status:
        port.log.dev_err(port, f"usb_serial_generic_write_bulk_callback - nonzero urb "
                               f"status: {status}")
    usb_serial_generic_write_start(port)
    usb_serial_port_softint(port)


def usb_serial_port_softint(port: UsbSerialPort) -> None:
    """usb_serial_port_softint(): wake the tty's writers."""
    tty_port_tty_wakeup(port.port)


# -- reading ---------------------------------------------------------------------------------------


def _submit_read_urb(port: UsbSerialPort, index: int) -> int:
    bit = 1 << index
    if not port.read_urbs_free & bit:
        return 0
    port.read_urbs_free &= ~bit
    res = usb_submit_urb(port.read_urbs[index])
    if res:
        if res not in (-Errno.EPERM, -Errno.ENODEV):
            port.log.dev_err(port, f"usb_serial_generic_submit_read_urb - usb_submit_urb "
                                   f"failed: {res}")
        port.read_urbs_free |= bit
    return res


def usb_serial_generic_submit_read_urbs(port: UsbSerialPort) -> int:
    """usb_serial_generic_submit_read_urbs(): submit every free read URB; on an error
    the ones submitted are unlinked again.  Returns 0 or the error.  Context: atomic."""
    for i in range(len(port.read_urbs)):
        res = _submit_read_urb(port, i)
        if res:
            from ....core.urb import usb_unlink_urb

            for urb in port.read_urbs[:i]:
                usb_unlink_urb(urb)
            return res
    return 0


def usb_serial_generic_process_read_urb(urb: Urb) -> None:
    """usb_serial_generic_process_read_urb(): the URB's data into the flip buffer, then
    push it to the line discipline.  Context: atomic."""
    if not urb.actual_length:
        return
    port: UsbSerialPort = urb.context
    tty_insert_flip_string(port.port, memoryview(urb.transfer_buffer)[:urb.actual_length])
    tty_flip_buffer_push(port.port)


def usb_serial_generic_read_bulk_callback(urb: Urb) -> None:
    """usb_serial_generic_read_bulk_callback(): process the data (status 0), stop quietly
    (-ENOENT, -ECONNRESET, -ESHUTDOWN) or with an error (-EPIPE), else resubmit — never
    while throttled.  Context: atomic."""
    port: UsbSerialPort = urb.context
    i = port.read_urbs.index(urb)
    status = urb.status
    stopped = False
    if status == 0:
        port.serial.type.process_read_urb(urb)
    elif status in _STOPPED:
        port.log.dev_dbg(port, f"usb_serial_generic_read_bulk_callback - urb stopped: "
                               f"{status}")
        stopped = True
    elif status == -Errno.EPIPE:
        port.log.dev_err(port, f"usb_serial_generic_read_bulk_callback - urb stopped: "
                               f"{status}")
        stopped = True
    else:
        port.log.dev_dbg(port, f"usb_serial_generic_read_bulk_callback - nonzero urb "
                               f"status: {status}")
    port.read_urbs_free |= 1 << i
    if stopped or port.throttled:
        return
    _submit_read_urb(port, i)


def usb_serial_generic_throttle(tty: TtyStruct) -> None:
    """usb_serial_generic_throttle(): no read URB is resubmitted until unthrottle."""
    _port(tty).throttled = True


def usb_serial_generic_unthrottle(tty: TtyStruct) -> None:
    """usb_serial_generic_unthrottle(): reads go on."""
    port = _port(tty)
    port.throttled = False
    usb_serial_generic_submit_read_urbs(port)


# -- modem lines and counters ----------------------------------------------------------------------

#: TIOCM bit → the icount field that counts its changes.
_MSR_COUNTERS: Final = ((TIOCM_RNG, "rng"), (TIOCM_DSR, "dsr"), (TIOCM_CD, "dcd"),
                        (TIOCM_CTS, "cts"))


async def usb_serial_generic_tiocmiwait(tty: TtyStruct, arg: int) -> int:
    """usb_serial_generic_tiocmiwait(): sleep until a line in the TIOCM mask `arg`
    changes (its counter moves); -EIO when the port was hung up or shut down meanwhile.
    Context: may sleep."""
    port = _port(tty)
    before = port.icount.copy()

    def changed() -> bool:
        if not tty_port_initialized(port.port):
            return True
        return any(arg & bit and getattr(port.icount, name) != getattr(before, name)
                   for bit, name in _MSR_COUNTERS)

    await port.port.delta_msr_wait.wait_event(changed)
    return 0 if tty_port_initialized(port.port) else -Errno.EIO


async def usb_serial_generic_get_icount(tty: TtyStruct, icount: SerialIcounter) -> int:
    """usb_serial_generic_get_icount(): the port's counters."""
    port = _port(tty)
    for name in ("cts", "dsr", "rng", "dcd", "rx", "tx", "frame", "overrun", "parity",
                 "brk", "buf_overrun"):
        setattr(icount, name, getattr(port.icount, name))
    return 0


def usb_serial_handle_dcd_change(port: UsbSerialPort, tty: TtyStruct | None,
                                 status: bool) -> None:
    """usb_serial_handle_dcd_change(): wake blocked opens when the carrier comes, hang up
    on its loss unless CLOCAL.  Counting the change and waking TIOCMIWAIT sleepers is the
    caller's part, as in Linux.  Context: atomic."""
    if status:
        port.port.open_wait.wake_up()
    elif tty is not None:
        tty_port_tty_hangup(port.port, True)


# -- the generic driver ----------------------------------------------------------------------------


def usb_serial_generic_calc_num_ports(serial: UsbSerial, epds: UsbSerialEndpoints) -> int:
    """usb_serial_generic_calc_num_ports(): one port per bulk pair; -ENODEV with "device
    has no bulk endpoints" when there are none."""
    num_ports = max(epds.num_bulk_in, epds.num_bulk_out)
    if not num_ports:
        serial.core.log.dev_err(serial.interface, "device has no bulk endpoints")
        return -Errno.ENODEV
    return num_ports


def usb_serial_generic_probe(serial: UsbSerial, id: UsbDeviceId) -> int:
    """usb_serial_generic_probe(): accept, with the two warnings."""
    log = serial.core.log
    log.dev_info(serial.interface, 'The "generic" usb-serial driver is only for testing and '
                                   "one-off prototypes.")
    log.dev_info(serial.interface, "Tell linux-usb@vger.kernel.org to add your device to a "
                                   "proper driver.")
    return 0


def generic_device_ids(vendor: int, product: int) -> list[UsbDeviceId]:
    """generic_device_ids[]: one MATCH_VENDOR|MATCH_PRODUCT entry from the module
    parameters."""
    from ....core.devtable import usb_device

    return [usb_device(vendor, product)]


def usb_serial_generic_device(id_table: list[UsbDeviceId]) -> UsbSerialDriver:
    """A fresh usb_serial_generic_device: the serial driver "generic" for `id_table`
    (the same table its usb_driver gets, as generic_device_ids is for both)."""
    from .usb_serial import UsbSerialDriver

    return UsbSerialDriver("generic", id_table=id_table, probe=usb_serial_generic_probe,
                           calc_num_ports=usb_serial_generic_calc_num_ports,
                           throttle=usb_serial_generic_throttle,
                           unthrottle=usb_serial_generic_unthrottle)
