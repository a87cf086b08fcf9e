"""cdc_acm — counterpart of drivers/usb/class/cdc-acm.c and cdc-acm.h (Linux 6.12), the
loadable module `cdc_acm`: the USB Abstract Control Model driver for USB modems and ISDN
adapters, and for every device that presents a CDC-ACM "virtual COM port".

Loading it registers the tty driver "acm" (ttyACM, major 166, 256 minors) and then the
interface driver "cdc_acm", whose id table holds Linux's: the communications-class ACM
interfaces with protocols none, V.25ter, PCCA-101 (and its wakeup variant), GSM, 3G and
CDMA, and the quirky and broken devices Linux lists by vendor and product.  `acm_probe`
reads the class-specific functional descriptors of the interface's `extra` bytes
(cdc_parse_cdc_header: Union → control and data interfaces, Call Management, ACM
capabilities, Country), takes the lowest free minor, claims the data interface, prepares
the notification interrupt URB, ACM_NR read URBs of twice the bulk-in packet size and
ACM_NW write buffers of twenty bulk-out packets, sets 9600 8N1, registers the tty ttyACM<n>
below the control interface and logs "ttyACM<n>: USB ACM device"; the control interface
gets the sysfs file `bmCapabilities` (and `wCountryCodes` / `iCountryCodeRelDate` when the
device has a Country descriptor).  The tty operations map termios to SET_LINE_CODING and
SET_CONTROL_LINE_STATE, breaks to SEND_BREAK, TIOCMGET/TIOCMSET to the control lines and
the last SERIAL_STATE notification, TIOCMIWAIT and TIOCGICOUNT to the notification
counters; a DCD drop hangs the tty up unless CLOCAL is set.  Disconnect hangs the tty up,
stops the URBs, removes the node and releases the data interface; the minor comes back when
the last user closes the tty (the tty port's reference count).

Not modelled: power management (suspend, resume, remote wakeup; `susp_count` stays 0 and
autopm calls always succeed), DMA-coherent buffers, and the line discipline's dcd_change
hook (n_tty has none).  The quirk table is Linux 6.12's; a break needs the ACM descriptor's
SEND_BREAK capability, as in 6.12.0 (the later MISSING_CAP_BRK quirk is not there).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntFlag
from typing import Any, Final

from usbemu.core.devtable import (
    UsbDeviceId,
    usb_device,
    usb_device_and_interface_info,
    usb_interface_info,
)
from usbemu.core.driver import (
    UsbDriver,
    usb_deregister,
    usb_driver_claim_interface,
    usb_driver_release_interface,
    usb_register,
)
from usbemu.core.message import USB_CTRL_SET_TIMEOUT, usb_clear_halt, usb_control_msg
from usbemu.core.urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    Urb,
    UrbFlag,
    UsbAnchor,
    make_pipe,
    usb_kill_urb,
    usb_poison_urb,
    usb_submit_urb,
    usb_unlink_urb,
    usb_unpoison_urb,
)
from usbemu.core.usb import UsbDevice, UsbHostEndpoint, UsbHostInterface, UsbInterface
from usbemu.core.usbcore import current_usbcore
from usbemu.errors import Errno
from usbemu.kernel.fs import ENOIOCTLCMD, File
from usbemu.kernel.module import (
    module_alias,
    module_author,
    module_description,
    module_device_table,
    module_exit,
    module_init,
    module_license,
)
from usbemu.kernel.printk import Printk
from usbemu.kernel.sysfs import SysAttr, device_create_file, device_remove_file, ro
from usbemu.kernel.termios import (
    ASYNC_CLOSING_WAIT_NONE,
    B0,
    B9600,
    TIOCM_CD,
    TIOCM_CTS,
    TIOCM_DSR,
    TIOCM_DTR,
    TIOCM_RI,
    TIOCM_RTS,
    TIOCMIWAIT,
    TTY_STD_TERMIOS,
    Cflag,
    Ktermios,
    Lflag,
    SerialIcounter,
    SerialStruct,
    tty_get_char_size,
)
from usbemu.kernel.tty import (
    SERIAL_TYPE_NORMAL,
    TtyDriver,
    TtyDriverFlag,
    TtyDriverType,
    TtyFlag,
    TtyOperations,
    TtyStruct,
    tty_get_baud_rate,
    tty_kref_put,
)
from usbemu.kernel.tty_buffer import (
    TTY_BREAK,
    tty_flip_buffer_push,
    tty_insert_flip_char,
    tty_insert_flip_string,
)
from usbemu.kernel.tty_io import (
    tty_register_driver,
    tty_standard_install,
    tty_unregister_device,
    tty_unregister_driver,
    tty_vhangup,
)
from usbemu.kernel.tty_port import (
    TtyPort,
    TtyPortOperations,
    tty_port_close,
    tty_port_get,
    tty_port_hangup,
    tty_port_open,
    tty_port_put,
    tty_port_register_device,
    tty_port_tty_get,
    tty_port_tty_hangup,
    tty_port_tty_wakeup,
)
from usbemu.kernel.wait import WaitQueueHead
from usbemu.spec.cdc import (
    USB_CDC_NOTIFICATION_SIZE,
    AcmCapability,
    CdcNotification,
    CdcParsedHeader,
    CdcProtocol,
    CdcRequest,
    CdcSubclass,
    CdcSubtype,
    ControlLineState,
    LineCoding,
    SerialState,
    parse_cdc_header,
)
from usbemu.spec.ch9 import ClassCode, EndpointType

__all__ = [
    "ACM_MINOR_INVALID",
    "ACM_NR",
    "ACM_NW",
    "ACM_TTY_MAJOR",
    "ACM_TTY_MINORS",
    "DRIVER_DESC",
    "USB_RT_ACM",
    "Acm",
    "AcmQuirk",
    "acm_ids",
    "cdc_parse_cdc_header",
]

DRIVER_AUTHOR: Final = ("Armin Fuerst, Pavel Machek, Johannes Erdfelt, Vojtech Pavlik, "
                        "David Kubicek, Johan Hovold")
DRIVER_DESC: Final = "USB Abstract Control Model driver for USB modems and ISDN adapters"
KBUILD_MODNAME: Final = "cdc_acm"

# -- cdc-acm.h ------------------------------------------------------------------------------------

ACM_TTY_MAJOR: Final = 166
ACM_TTY_MINORS: Final = 256
ACM_MINOR_INVALID: Final = ACM_TTY_MINORS
#: bmRequestType of the class requests: host-to-device, class, interface.
USB_RT_ACM: Final = 0x21
#: Write buffers (and URBs) and read URBs of one device.
ACM_NW: Final = 16
ACM_NR: Final = 16
#: The polling interval of a notification endpoint whose bInterval is 0 ("works around
#: buggy devices").
_CTRL_INTERVAL_DEFAULT: Final = 16
#: acm_softint's retry of read URBs that failed with -EPROTO/-EOVERFLOW (HZ / 2).
_ERROR_DELAY_MS: Final = 500


class AcmQuirk(IntFlag):
    """The quirks of the id table's driver_info (cdc-acm.h)."""

    NO_UNION_NORMAL = 1 << 0
    SINGLE_RX_URB = 1 << 1
    NO_CAP_LINE = 1 << 2
    IGNORE_DEVICE = 1 << 3
    QUIRK_CONTROL_LINE_STATE = 1 << 4
    CLEAR_HALT_CONDITIONS = 1 << 5
    SEND_ZERO_PACKET = 1 << 6
    DISABLE_ECHO = 1 << 7


class AcmEvent(IntFlag):
    """acm->flags: work for acm_softint and the throttle state."""

    TTY_WAKEUP = 1 << 0
    RX_STALL = 1 << 1
    THROTTLED = 1 << 2
    ERROR_DELAY = 1 << 3


# -- struct acm -----------------------------------------------------------------------------------


class AcmWb:
    """struct acm_wb: a write buffer of `writesize` bytes, its URB (whose context it is),
    whether it is in use (`len` bytes of it are being sent), and its device."""

    __slots__ = ("buf", "instance", "len", "urb", "use")

    def __init__(self, size: int, instance: Acm) -> None:
        self.buf = bytearray(size)
        self.len = 0
        self.urb = Urb()
        self.use = False
        self.instance = instance


class AcmRb:
    """struct acm_rb: a read buffer of `readsize` bytes, the index of its URB (whose
    context it is) and its device."""

    __slots__ = ("base", "index", "instance")

    def __init__(self, size: int, index: int, instance: Acm) -> None:
        self.base = bytearray(size)
        self.index = index
        self.instance = instance


class AcmWork:
    """acm->dwork: acm_softint as a delayed work item — queued once until it runs; queued
    again while it runs, it runs once more afterwards.  It runs as a loop callback, and in
    a task of its own only when it has to sleep (a stalled bulk-in endpoint to clear).
    Context: `schedule` is atomic; `cancel_sync` may sleep."""

    def __init__(self, acm: Acm) -> None:
        self.acm = acm
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def schedule(self, delay_ms: int) -> None:
        """schedule_delayed_work(): run acm_softint after `delay_ms` ms of machine time,
        unless it is queued already."""
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(delay_ms / 1000, self._run)

    def _run(self) -> None:
        self._timer = None
        acm = self.acm
        if self._task is not None and not self._task.done():
            self._again = True
            return
        if acm.flags & AcmEvent.RX_STALL and not acm.susp_count:
            self._task = asyncio.get_running_loop().create_task(self._sleeping(),
                                                                name="acm_softint")
            self._task.add_done_callback(self._finished)
            return
        try:
            acm_softint_atomic(acm)
        except BaseException as exc:
            acm.driver_core.contain(f"acm_softint of {acm.control.name}", exc)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if self._again:
            self._again = False
            self.schedule(0)

    async def _sleeping(self) -> None:
        try:
            await acm_softint(self.acm)
        except BaseException as exc:
            self.acm.driver_core.contain(f"acm_softint of {self.acm.control.name}", exc)

    async def cancel_sync(self) -> None:
        """cancel_delayed_work_sync(): drop a queued run and wait for a running one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._again = False
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait([task])


class Acm:
    """struct acm: one ACM function — its device, control and data interfaces, pipes, tty
    port, URBs and buffers, the line coding and control lines (`ctrlout`: DTR/RTS as the
    host set them; `ctrlin`: the SERIAL_STATE bits last reported), the notification
    counters and the capabilities of its ACM descriptor.  Its lifetime is the tty port's
    (probe holds one reference, each open tty another): the last `tty_port_put` frees the
    minor (acm_port_destruct)."""

    def __init__(self, control: UsbInterface, data: UsbInterface, quirks: int) -> None:
        self.dev: UsbDevice = control.usb_dev
        self.control = control
        self.data = data
        self.quirks = quirks
        self.port = TtyPort(TtyPortOperations(dtr_rts=self.dtr_rts, activate=self.activate,
                                              shutdown=self.shutdown, destruct=self.destruct))
        self.minor = ACM_MINOR_INVALID
        self.in_pipe = 0
        self.out_pipe = 0
        self.b_interval = 0
        self.ctrlurb = Urb()
        self.ctrl_buffer = bytearray()
        self.ctrlsize = 0
        self.readsize = 0
        self.writesize = 0
        self.rx_buflimit = 0
        self.read_buffers: list[AcmRb] = []
        self.read_urbs: list[Urb] = []
        self.read_urbs_free = 0
        self.wb: list[AcmWb] = []
        self.notification_buffer = bytearray()
        self.nb_index = 0
        self.transmitting = 0
        self.susp_count = 0
        self.disconnected = False
        self.combined_interfaces = False
        self.flags = AcmEvent(0)
        self.urbs_in_error_delay = 0
        self.line = LineCoding(0, 0, 0, 0)
        self.ctrlin = 0
        self.ctrlout = 0
        self.clocal = False
        self.ctrl_caps = 0
        self.country_codes = b""
        self.country_rel_date = 0
        self.iocount = SerialIcounter()
        self.oldcount = SerialIcounter()
        self.wioctl = WaitQueueHead()
        self.delayed = UsbAnchor()
        self.dwork = AcmWork(self)
        self.driver_core = self.dev.usb_bus.core.driver_core
        self.log: Printk = self.dev.usb_bus.core.log

    def __repr__(self) -> str:
        return f"<Acm ttyACM{self.minor} {self.control.name}>"

    # -- the tty port's operations (acm_port_ops) -------------------------------------------

    async def dtr_rts(self, port: TtyPort, active: bool) -> None:
        """acm_port_dtr_rts(): DTR and RTS both on or both off.  Context: may sleep."""
        val = int(ControlLineState.DTR | ControlLineState.RTS) if active else 0
        self.ctrlout = val
        res = await acm_set_control(self, val)
        if res and self.ctrl_caps & AcmCapability.LINE:
            self.log.dev_dbg(self.control, "failed to set dtr/rts")

    async def activate(self, port: TtyPort, tty: TtyStruct) -> int:
        """acm_port_activate(): the first open — the notification URB, the line settings
        of the tty, the read URBs.  0 or -errno (usb_translate_errors).  Context: may
        sleep."""
        if self.disconnected:
            return -Errno.ENODEV
        tty.flags |= TtyFlag.NO_WRITE_SPLIT
        self.control.needs_remote_wakeup = True
        self.ctrlurb.dev = self.dev
        retval = usb_submit_urb(self.ctrlurb)
        if retval:
            self.log.dev_err(self.control,
                             "acm_port_activate - usb_submit_urb(ctrl irq) failed")
            return usb_translate_errors(retval)
        await acm_tty_set_termios(tty, None)
        self.flags &= ~AcmEvent.THROTTLED
        retval = acm_submit_read_urbs(self)
        if retval:
            for urb in self.read_urbs:
                await usb_kill_urb(urb)
            await usb_kill_urb(self.ctrlurb)
        return usb_translate_errors(retval)

    async def shutdown(self, port: TtyPort) -> None:
        """acm_port_shutdown(): the last close or a hangup — every URB stopped, delayed
        writes dropped.  Context: may sleep."""
        await acm_poison_urbs(self)
        self.control.needs_remote_wakeup = False
        while (urb := self.delayed.get_urb()) is not None:
            wb = urb.context
            if isinstance(wb, AcmWb):
                wb.use = False
        acm_unpoison_urbs(self)

    def destruct(self, port: TtyPort) -> None:
        """acm_port_destruct(): the last reference is gone — the minor is free again.
        Context: atomic."""
        if self.minor != ACM_MINOR_INVALID:
            acm_release_minor(self)


def usb_translate_errors(error_code: int) -> int:
    """usb_translate_errors(): what a USB error means to a file's user — 0, -ENOMEM,
    -ENODEV and -EOPNOTSUPP as they are, anything else -EIO.  Context: atomic."""
    if error_code in (0, -Errno.ENOMEM, -Errno.ENODEV, -Errno.EOPNOTSUPP):
        return error_code
    return -Errno.EIO


# -- the minors (acm_minors idr) ------------------------------------------------------------------

#: ttyACM minor → the device that has it (DEFINE_IDR(acm_minors)).
acm_minors: dict[int, Acm] = {}


def acm_get_by_minor(minor: int) -> Acm | None:
    """acm_get_by_minor(): the device with `minor`, with a reference on its port, unless
    it is gone or disconnected.  Context: atomic."""
    acm = acm_minors.get(minor)
    if acm is None or acm.disconnected:
        return None
    tty_port_get(acm.port)
    return acm


def acm_alloc_minor(acm: Acm) -> int:
    """acm_alloc_minor(): the lowest free minor (idr_alloc from 0), or -ENOSPC when all
    256 are taken.  Context: atomic."""
    minor = next((m for m in range(ACM_TTY_MINORS) if m not in acm_minors), None)
    if minor is None:
        return -Errno.ENOSPC
    acm_minors[minor] = acm
    return minor


def acm_release_minor(acm: Acm) -> None:
    """acm_release_minor().  Context: atomic."""
    if acm_minors.get(acm.minor) is acm:
        del acm_minors[acm.minor]


# -- control messages -----------------------------------------------------------------------------


async def acm_ctrl_msg(acm: Acm, request: int, value: int, buf: bytes | None) -> int:
    """acm_ctrl_msg(): a class request to the control interface (wIndex: its number);
    0 or -errno.  Context: may sleep."""
    length = 0 if buf is None else len(buf)
    index = acm.control.altsetting[0].desc.bInterfaceNumber or 0
    retval = await usb_control_msg(acm.dev, make_pipe(acm.dev, PIPE_CONTROL, 0, False),
                                   request, USB_RT_ACM, value, index, buf, length,
                                   USB_CTRL_SET_TIMEOUT)
    acm.log.dev_dbg(acm.control, f"acm_ctrl_msg - rq 0x{request:02x}, val {value:#x}, "
                                 f"len {length:#x}, result {retval}")
    return retval if retval < 0 else 0


async def acm_set_control(acm: Acm, control: int) -> int:
    """acm_set_control(): SET_CONTROL_LINE_STATE (-EOPNOTSUPP with
    QUIRK_CONTROL_LINE_STATE).  Context: may sleep."""
    if acm.quirks & AcmQuirk.QUIRK_CONTROL_LINE_STATE:
        return -Errno.EOPNOTSUPP
    return await acm_ctrl_msg(acm, CdcRequest.SET_CONTROL_LINE_STATE, control, None)


async def acm_set_line(acm: Acm, line: LineCoding) -> int:
    """acm_set_line(): SET_LINE_CODING with the 7-byte line coding.  Context: may
    sleep."""
    return await acm_ctrl_msg(acm, CdcRequest.SET_LINE_CODING, 0, line.to_bytes())


async def acm_send_break(acm: Acm, ms: int) -> int:
    """acm_send_break(): SEND_BREAK for `ms` ms (0xffff: until the next one).  Context:
    may sleep."""
    return await acm_ctrl_msg(acm, CdcRequest.SEND_BREAK, ms, None)


async def acm_poison_urbs(acm: Acm) -> None:
    """acm_poison_urbs(): stop every URB and refuse resubmission.  Context: may sleep."""
    await usb_poison_urb(acm.ctrlurb)
    for wb in acm.wb:
        await usb_poison_urb(wb.urb)
    for urb in acm.read_urbs:
        await usb_poison_urb(urb)


def acm_unpoison_urbs(acm: Acm) -> None:
    """acm_unpoison_urbs().  Context: atomic."""
    for urb in acm.read_urbs:
        usb_unpoison_urb(urb)
    for wb in acm.wb:
        usb_unpoison_urb(wb.urb)
    usb_unpoison_urb(acm.ctrlurb)


# -- write buffers --------------------------------------------------------------------------------


def acm_wb_alloc(acm: Acm) -> int:
    """acm_wb_alloc(): the first free write buffer (now in use, empty), or -1.
    Context: atomic."""
    for wbn, wb in enumerate(acm.wb):
        if not wb.use:
            wb.use = True
            wb.len = 0
            return wbn
    return -1


def acm_wb_is_avail(acm: Acm) -> int:
    """acm_wb_is_avail(): the number of free write buffers.  Context: atomic."""
    return sum(1 for wb in acm.wb if not wb.use)


def acm_write_done(acm: Acm, wb: AcmWb) -> None:
    """acm_write_done().  Context: atomic."""
    wb.use = False
    acm.transmitting -= 1


def acm_start_wb(acm: Acm, wb: AcmWb) -> int:
    """acm_start_wb(): submit a filled write buffer; 0 or -errno ("usb_submit_urb(write
    bulk) failed" unless the URB is poisoned).  Context: atomic."""
    acm.transmitting += 1
    urb = wb.urb
    urb.transfer_buffer = wb.buf
    urb.transfer_buffer_length = wb.len
    urb.dev = acm.dev
    rc = usb_submit_urb(urb)
    if rc < 0:
        if rc != -Errno.EPERM:
            acm.log.dev_err(acm.data, f"acm_start_wb - usb_submit_urb(write bulk) failed: "
                                      f"{rc}")
        acm_write_done(acm, wb)
    return rc


# -- sysfs (device attributes of the control interface) -------------------------------------------


def _acm_of(intf: UsbInterface) -> Acm:
    acm = intf.driver_data
    assert isinstance(acm, Acm)
    return acm


#: bmCapabilities: the ACM descriptor's capabilities, "%d" without a newline.
DEV_ATTR_BM_CAPABILITIES: Final[SysAttr[UsbInterface]] = ro(
    "bmCapabilities", lambda intf: f"{_acm_of(intf).ctrl_caps}")
#: wCountryCodes: the Country descriptor's codes, raw.
DEV_ATTR_W_COUNTRY_CODES: Final[SysAttr[UsbInterface]] = SysAttr(
    "wCountryCodes", lambda intf: _acm_of(intf).country_codes, binary=True)
#: iCountryCodeRelDate: "%d" without a newline.
DEV_ATTR_I_COUNTRY_CODE_REL_DATE: Final[SysAttr[UsbInterface]] = ro(
    "iCountryCodeRelDate", lambda intf: f"{_acm_of(intf).country_rel_date}")


def _remove_files(acm: Acm) -> None:
    if acm.country_codes:
        device_remove_file(acm.control, DEV_ATTR_W_COUNTRY_CODES)
        device_remove_file(acm.control, DEV_ATTR_I_COUNTRY_CODE_REL_DATE)
    device_remove_file(acm.control, DEV_ATTR_BM_CAPABILITIES)


# -- interrupt handlers ---------------------------------------------------------------------------

_NOTIFICATION: Final = struct.Struct("<BBHHH")

#: SERIAL_STATE bits counted when they change (levels) and when they are set (events).
_LEVEL_COUNTERS: Final = ((SerialState.DSR, "dsr"), (SerialState.DCD, "dcd"))
_EVENT_COUNTERS: Final = ((SerialState.BREAK, "brk"), (SerialState.RI, "rng"),
                          (SerialState.FRAMING, "frame"), (SerialState.PARITY, "parity"),
                          (SerialState.OVERRUN, "overrun"))


def acm_process_notification(acm: Acm, buf: bytes | bytearray | memoryview) -> None:
    """acm_process_notification(): a complete notification (header and data).
    SERIAL_STATE updates `ctrlin`, hangs the tty up on a DCD drop unless CLOCAL, counts
    DSR/DCD changes and BREAK/RI/framing/parity/overrun events, queues a TTY_BREAK
    character for a break, and wakes TIOCMIWAIT sleepers when something changed.
    Context: atomic."""
    _, kind, w_value, w_index, w_length = _NOTIFICATION.unpack_from(buf)
    data = buf[USB_CDC_NOTIFICATION_SIZE:]
    if kind == CdcNotification.NETWORK_CONNECTION:
        acm.log.dev_dbg(acm.control, f"acm_process_notification - network connection: "
                                     f"{w_value}")
    elif kind == CdcNotification.SERIAL_STATE:
        if w_length != 2:
            acm.log.dev_dbg(acm.control, "acm_process_notification - malformed serial state")
            return
        _serial_state(acm, data[0] | data[1] << 8)
    else:
        acm.log.dev_dbg(acm.control, f"acm_process_notification - unknown notification "
                                     f"{kind} received: index {w_index} len {w_length}")


def _serial_state(acm: Acm, newctrl: int) -> None:
    acm.log.dev_dbg(acm.control, f"acm_process_notification - serial state: 0x{newctrl:x}")
    if not acm.clocal and acm.ctrlin & ~newctrl & SerialState.DCD:
        acm.log.dev_dbg(acm.control, "acm_process_notification - calling hangup")
        tty_port_tty_hangup(acm.port, False)
    difference = acm.ctrlin ^ newctrl
    acm.ctrlin = newctrl
    acm.oldcount = acm.iocount.copy()
    for bit, name in _LEVEL_COUNTERS:
        if difference & bit:
            setattr(acm.iocount, name, getattr(acm.iocount, name) + 1)
    for bit, name in _EVENT_COUNTERS:
        if newctrl & bit:
            setattr(acm.iocount, name, getattr(acm.iocount, name) + 1)
    if newctrl & SerialState.BREAK:
        tty_insert_flip_char(acm.port, 0, TTY_BREAK)
        tty_flip_buffer_push(acm.port)
    if difference:
        acm.wioctl.wake_up()


def _roundup_pow_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


def acm_ctrl_irq(urb: Urb) -> None:
    """acm_ctrl_irq(): completion of the notification URB — a notification, or a
    fragment of one to reassemble (wLength says how much follows the 8-byte header);
    then the URB is resubmitted.  Context: atomic."""
    acm: Acm = urb.context
    status = urb.status
    if status in (-Errno.ECONNRESET, -Errno.ENOENT, -Errno.ESHUTDOWN):
        acm.log.dev_dbg(acm.control, f"acm_ctrl_irq - urb shutting down with status: "
                                     f"{status}")
        return
    if status:
        acm.log.dev_dbg(acm.control, f"acm_ctrl_irq - nonzero urb status received: "
                                     f"{status}")
    else:
        _ctrl_data(acm, urb)
    retval = usb_submit_urb(urb)
    if retval and retval not in (-Errno.EPERM, -Errno.ENODEV):
        acm.log.dev_err(acm.control, f"acm_ctrl_irq - usb_submit_urb failed: {retval}")


def _ctrl_data(acm: Acm, urb: Urb) -> None:
    received = memoryview(acm.ctrl_buffer)[:urb.actual_length]
    current_size = len(received)
    header = acm.notification_buffer if acm.nb_index else acm.ctrl_buffer
    w_length = header[6] | header[7] << 8 if len(header) >= 8 else 0
    expected_size = USB_CDC_NOTIFICATION_SIZE + w_length
    assembled: bytes | bytearray | memoryview = received
    if current_size < expected_size:
        if len(acm.notification_buffer) < expected_size:
            grown = bytearray(_roundup_pow_of_two(expected_size))
            grown[:acm.nb_index] = acm.notification_buffer[:acm.nb_index]
            acm.notification_buffer = grown
        copy_size = min(current_size, expected_size - acm.nb_index)
        acm.notification_buffer[acm.nb_index:acm.nb_index + copy_size] = received[:copy_size]
        acm.nb_index += copy_size
        current_size = acm.nb_index
        assembled = acm.notification_buffer
    if current_size >= expected_size:
        acm_process_notification(acm, assembled)
        acm.nb_index = 0


def acm_submit_read_urb(acm: Acm, index: int) -> int:
    """acm_submit_read_urb(): submit read URB `index` if it is free; 0 or -errno ("urb
    %d failed submission with %d" unless poisoned or gone).  Context: atomic."""
    bit = 1 << index
    if not acm.read_urbs_free & bit:
        return 0
    acm.read_urbs_free &= ~bit
    res = usb_submit_urb(acm.read_urbs[index])
    if res:
        if res not in (-Errno.EPERM, -Errno.ENODEV):
            acm.log.dev_err(acm.data, f"urb {index} failed submission with {res}")
        acm.read_urbs_free |= bit
    return res


def acm_submit_read_urbs(acm: Acm) -> int:
    """acm_submit_read_urbs(): every free read URB; the first error stops.  Context:
    atomic."""
    for index in range(acm.rx_buflimit):
        res = acm_submit_read_urb(acm, index)
        if res:
            return res
    return 0


def acm_read_bulk_callback(urb: Urb) -> None:
    """acm_read_bulk_callback(): received data goes to the flip buffer and the URB is
    resubmitted unless the tty throttled it; a stall is cleared by acm_softint, a
    babbling device (-EPROTO, -EOVERFLOW) cooled down for 500 ms.  Context: atomic."""
    rb: AcmRb = urb.context
    acm = rb.instance
    status = urb.status
    stopped = stalled = cooldown = False
    if status == 0:
        if urb.actual_length:
            tty_insert_flip_string(acm.port, memoryview(rb.base)[:urb.actual_length])
            tty_flip_buffer_push(acm.port)
    elif status == -Errno.EPIPE:
        acm.flags |= AcmEvent.RX_STALL
        stalled = True
    elif status in (-Errno.ENOENT, -Errno.ECONNRESET, -Errno.ESHUTDOWN):
        acm.log.dev_dbg(acm.data, f"acm_read_bulk_callback - urb shutting down with "
                                  f"status: {status}")
        stopped = True
    elif status in (-Errno.EOVERFLOW, -Errno.EPROTO):
        acm.log.dev_dbg(acm.data, "acm_read_bulk_callback - cooling babbling device")
        acm.urbs_in_error_delay |= 1 << rb.index
        acm.flags |= AcmEvent.ERROR_DELAY
        cooldown = True
    else:
        acm.log.dev_dbg(acm.data, f"acm_read_bulk_callback - nonzero urb status received: "
                                  f"{status}")
    acm.read_urbs_free |= 1 << rb.index
    if stalled:
        acm.dwork.schedule(0)
    elif cooldown:
        acm.dwork.schedule(_ERROR_DELAY_MS)
    if stopped or stalled or cooldown or acm.flags & AcmEvent.THROTTLED:
        return
    acm_submit_read_urb(acm, rb.index)


def acm_write_bulk(urb: Urb) -> None:
    """acm_write_bulk(): a write buffer was sent — free it and let acm_softint wake the
    writers.  Context: atomic."""
    wb: AcmWb = urb.context
    acm = wb.instance
    if urb.status or urb.actual_length != urb.transfer_buffer_length:
        acm.log.dev_dbg(acm.data, f"wrote len {urb.actual_length}/"
                                  f"{urb.transfer_buffer_length}, status {urb.status}")
    acm_write_done(acm, wb)
    acm.flags |= AcmEvent.TTY_WAKEUP
    acm.dwork.schedule(0)


async def acm_softint(acm: Acm) -> None:
    """acm_softint(): clear a stalled bulk-in endpoint and restart the reads, then the
    atomic part.  Context: may sleep (the work item)."""
    if acm.flags & AcmEvent.RX_STALL and not acm.susp_count:
        for urb in acm.read_urbs:
            await usb_kill_urb(urb)
        await usb_clear_halt(acm.dev, acm.in_pipe)
        acm_submit_read_urbs(acm)
        acm.flags &= ~AcmEvent.RX_STALL
    acm_softint_atomic(acm)


def acm_softint_atomic(acm: Acm) -> None:
    """The part of acm_softint that never sleeps: read URBs back from their error delay,
    and writers woken after a write completed.  Context: atomic."""
    if acm.flags & AcmEvent.ERROR_DELAY:
        acm.flags &= ~AcmEvent.ERROR_DELAY
        for index in range(acm.rx_buflimit):
            bit = 1 << index
            if acm.urbs_in_error_delay & bit:
                acm.urbs_in_error_delay &= ~bit
                acm_submit_read_urb(acm, index)
    if acm.flags & AcmEvent.TTY_WAKEUP:
        acm.flags &= ~AcmEvent.TTY_WAKEUP
        tty_port_tty_wakeup(acm.port)


# -- the tty operations (acm_ops) -----------------------------------------------------------------


def _acm(tty: TtyStruct) -> Acm:
    acm = tty.driver_data
    assert isinstance(acm, Acm)
    return acm


async def acm_tty_install(driver: TtyDriver, tty: TtyStruct) -> int:
    """acm_tty_install(): find the device by minor (a port reference), install the tty
    (without echo for DISABLE_ECHO devices).  0 or -ENODEV.  Context: may sleep."""
    acm = acm_get_by_minor(tty.index)
    if acm is None:
        return -Errno.ENODEV
    retval = tty_standard_install(driver, tty)
    if retval:
        tty_port_put(acm.port)
        return retval
    if acm.quirks & AcmQuirk.DISABLE_ECHO:
        tty.termios.c_lflag = int(tty.termios.c_lflag) & ~Lflag.ECHO
    tty.driver_data = acm
    return 0


async def acm_tty_open(tty: TtyStruct, file: File) -> int:
    """acm_tty_open(): tty_port_open, which activates the port on the first open.
    Context: may sleep."""
    return int(await tty_port_open(_acm(tty).port, tty, file))


async def acm_tty_close(tty: TtyStruct, file: File) -> None:
    """acm_tty_close().  Context: may sleep."""
    await tty_port_close(_acm(tty).port, tty, file)


def acm_tty_cleanup(tty: TtyStruct) -> None:
    """acm_tty_cleanup(): the tty is gone — drop its port reference.  Context: atomic."""
    tty_port_put(_acm(tty).port)


async def acm_tty_hangup(tty: TtyStruct) -> None:
    """acm_tty_hangup().  Context: may sleep."""
    await tty_port_hangup(_acm(tty).port)


def acm_tty_write(tty: TtyStruct, data: memoryview) -> int:
    """acm_tty_write(): up to `writesize` bytes into a free write buffer, sent at once;
    the count taken (0 when every buffer is busy) or -errno.  Context: atomic."""
    count = len(data)
    if not count:
        return 0
    acm = _acm(tty)
    wbn = acm_wb_alloc(acm)
    if wbn < 0:
        return 0
    wb = acm.wb[wbn]
    count = min(count, acm.writesize)
    wb.buf[:count] = data[:count]
    wb.len = count
    if acm.susp_count:
        acm.delayed.anchor(wb.urb)
        return count
    stat = acm_start_wb(acm, wb)
    return stat if stat < 0 else count


def acm_tty_write_room(tty: TtyStruct) -> int:
    """acm_tty_write_room(): a whole write buffer while one is free, else 0.
    Context: atomic."""
    acm = _acm(tty)
    return acm.writesize if acm_wb_is_avail(acm) else 0


def acm_tty_flush_buffer(tty: TtyStruct) -> None:
    """acm_tty_flush_buffer(): unlink the writes in flight.  Context: atomic."""
    for wb in _acm(tty).wb:
        if wb.use:
            usb_unlink_urb(wb.urb)


def acm_tty_chars_in_buffer(tty: TtyStruct) -> int:
    """acm_tty_chars_in_buffer(): `writesize` per busy write buffer (an overcount), 0
    once disconnected.  Context: atomic."""
    acm = _acm(tty)
    if acm.disconnected:
        return 0
    return (ACM_NW - acm_wb_is_avail(acm)) * acm.writesize


def acm_tty_throttle(tty: TtyStruct) -> None:
    """acm_tty_throttle(): completed read URBs are not resubmitted.  Context: atomic."""
    _acm(tty).flags |= AcmEvent.THROTTLED


def acm_tty_unthrottle(tty: TtyStruct) -> None:
    """acm_tty_unthrottle(): resubmit the idle read URBs.  Context: atomic."""
    acm = _acm(tty)
    acm.flags &= ~AcmEvent.THROTTLED
    acm_submit_read_urbs(acm)


async def acm_tty_break_ctl(tty: TtyStruct, state: int) -> int:
    """acm_tty_break_ctl(): SEND_BREAK 0xffff (on) or 0 (off); -EOPNOTSUPP when the
    device lacks the SEND_BREAK capability.  Context: may sleep."""
    acm = _acm(tty)
    if not acm.ctrl_caps & AcmCapability.BREAK:
        return -Errno.EOPNOTSUPP
    retval = await acm_send_break(acm, 0xFFFF if state else 0)
    if retval < 0:
        acm.log.dev_dbg(acm.control, "acm_tty_break_ctl - send break failed")
    return retval


#: (ctrlout or ctrlin bit, TIOCM bit) of TIOCMGET.
_TIOCM_OUT: Final = ((ControlLineState.DTR, TIOCM_DTR), (ControlLineState.RTS, TIOCM_RTS))
_TIOCM_IN: Final = ((SerialState.DSR, TIOCM_DSR), (SerialState.RI, TIOCM_RI),
                    (SerialState.DCD, TIOCM_CD))


async def acm_tty_tiocmget(tty: TtyStruct) -> int:
    """acm_tty_tiocmget(): DTR/RTS as set, DSR/RI/DCD as last reported, CTS always on.
    Context: may sleep."""
    acm = _acm(tty)
    bits = TIOCM_CTS
    bits |= sum(tiocm for bit, tiocm in _TIOCM_OUT if acm.ctrlout & bit)
    bits |= sum(tiocm for bit, tiocm in _TIOCM_IN if acm.ctrlin & bit)
    return bits


def _ctrl_bits(tiocm: int) -> int:
    return sum(int(bit) for bit, flag in _TIOCM_OUT if tiocm & flag)


async def acm_tty_tiocmset(tty: TtyStruct, set: int, clear: int) -> int:
    """acm_tty_tiocmset(): change DTR/RTS; SET_CONTROL_LINE_STATE only when they change.
    0 or -errno.  Context: may sleep."""
    acm = _acm(tty)
    newctrl = (acm.ctrlout & ~_ctrl_bits(clear)) | _ctrl_bits(set)
    if acm.ctrlout == newctrl:
        return 0
    acm.ctrlout = newctrl
    return await acm_set_control(acm, newctrl)


def _hundredths(jiffies: int) -> int:
    return jiffies // 10


async def get_serial_info(tty: TtyStruct, ss: SerialStruct) -> int:
    """get_serial_info(): the line, close_delay and closing_wait (in hundredths of a
    second).  Context: may sleep."""
    acm = _acm(tty)
    ss.line = acm.minor
    ss.close_delay = _hundredths(acm.port.close_delay)
    ss.closing_wait = (ASYNC_CLOSING_WAIT_NONE
                       if acm.port.closing_wait == ASYNC_CLOSING_WAIT_NONE
                       else _hundredths(acm.port.closing_wait))
    return 0


async def set_serial_info(tty: TtyStruct, ss: SerialStruct) -> int:
    """set_serial_info(): close_delay and closing_wait, for a privileged caller
    (CAP_SYS_ADMIN: `TtyCore.privileged`); anyone else may only leave them as they are
    (-EPERM).  Context: may sleep."""
    acm = _acm(tty)
    close_delay = ss.close_delay * 10
    closing_wait = (ASYNC_CLOSING_WAIT_NONE if ss.closing_wait == ASYNC_CLOSING_WAIT_NONE
                    else ss.closing_wait * 10)
    if tty.core is not None and not tty.core.privileged:
        unchanged = (close_delay, closing_wait) == (acm.port.close_delay,
                                                     acm.port.closing_wait)
        return 0 if unchanged else -Errno.EPERM
    acm.port.close_delay = close_delay
    acm.port.closing_wait = closing_wait
    return 0


#: (TIOCM bit of a TIOCMIWAIT mask, counter it waits on).
_TIOCMIWAIT_COUNTERS: Final = ((TIOCM_DSR, "dsr"), (TIOCM_CD, "dcd"), (TIOCM_RI, "rng"))


async def wait_serial_change(acm: Acm, arg: int) -> int:
    """wait_serial_change(): sleep until a line of `arg` (TIOCM_DSR, TIOCM_CD, TIOCM_RI)
    changed since the last notification; 0, or -ENODEV when the device went away (0 if
    TIOCM_CD was asked).  Context: may sleep."""
    while True:
        old, new = acm.oldcount, acm.iocount.copy()
        acm.oldcount = new
        if any(arg & mask and getattr(old, name) != getattr(new, name)
               for mask, name in _TIOCMIWAIT_COUNTERS):
            return 0
        waiter = acm.wioctl.add_waiter()
        try:
            await waiter
        finally:
            acm.wioctl.remove_waiter(waiter)
        if acm.disconnected:
            return 0 if arg & TIOCM_CD else -Errno.ENODEV


async def acm_tty_get_icount(tty: TtyStruct, icount: SerialIcounter) -> int:
    """acm_tty_get_icount(): the notification counters.  Context: may sleep."""
    acm = _acm(tty)
    for name in ("dsr", "rng", "dcd", "frame", "overrun", "parity", "brk"):
        setattr(icount, name, getattr(acm.iocount, name))
    return 0


async def acm_tty_ioctl(tty: TtyStruct, cmd: int, arg: Any) -> int:
    """acm_tty_ioctl(): TIOCMIWAIT; anything else -ENOIOCTLCMD.  Context: may sleep."""
    if cmd == TIOCMIWAIT:
        return await wait_serial_change(_acm(tty), int(arg))
    return -ENOIOCTLCMD


def _parity(cflag: int) -> int:
    if not cflag & Cflag.PARENB:
        return 0
    return (1 if cflag & Cflag.PARODD else 2) + (2 if cflag & Cflag.CMSPAR else 0)


async def acm_tty_set_termios(tty: TtyStruct, old: Ktermios | None) -> None:
    """acm_tty_set_termios(): the line coding of the settings (SET_LINE_CODING when it
    changed), DTR dropped for B0 and raised again when leaving B0
    (SET_CONTROL_LINE_STATE), CLOCAL remembered.  Context: may sleep."""
    acm = _acm(tty)
    cflag = int(tty.termios.c_cflag)
    newline = LineCoding(dwDTERate=tty_get_baud_rate(tty),
                         bCharFormat=2 if cflag & Cflag.CSTOPB else 0,
                         bParityType=_parity(cflag), bDataBits=tty_get_char_size(cflag))
    acm.clocal = bool(cflag & Cflag.CLOCAL)
    newctrl = acm.ctrlout
    if cflag & Cflag.CBAUD == B0:
        newline = LineCoding(acm.line.dwDTERate, newline.bCharFormat, newline.bParityType,
                             newline.bDataBits)
        newctrl &= ~ControlLineState.DTR
    elif old is not None and int(old.c_cflag) & Cflag.CBAUD == B0:
        newctrl |= ControlLineState.DTR
    if newctrl != acm.ctrlout:
        acm.ctrlout = newctrl
        await acm_set_control(acm, newctrl)
    if newline != acm.line:
        acm.line = newline
        acm.log.dev_dbg(acm.control, f"acm_tty_set_termios - set line: {newline.dwDTERate} "
                                     f"{newline.bCharFormat} {newline.bParityType} "
                                     f"{newline.bDataBits}")
        await acm_set_line(acm, newline)


acm_ops: Final = TtyOperations(
    install=acm_tty_install,
    open=acm_tty_open,
    close=acm_tty_close,
    cleanup=acm_tty_cleanup,
    hangup=acm_tty_hangup,
    write=acm_tty_write,
    write_room=acm_tty_write_room,
    flush_buffer=acm_tty_flush_buffer,
    ioctl=acm_tty_ioctl,
    throttle=acm_tty_throttle,
    unthrottle=acm_tty_unthrottle,
    chars_in_buffer=acm_tty_chars_in_buffer,
    break_ctl=acm_tty_break_ctl,
    set_termios=acm_tty_set_termios,
    tiocmget=acm_tty_tiocmget,
    tiocmset=acm_tty_tiocmset,
    get_serial=get_serial_info,
    set_serial=set_serial_info,
    get_icount=acm_tty_get_icount,
)


# -- probe ----------------------------------------------------------------------------------------


def cdc_parse_cdc_header(intf: UsbInterface, buffer: bytes) -> CdcParsedHeader:
    """cdc_parse_cdc_header() of drivers/usb/core/message.c: the functional descriptors
    of `buffer`, with Linux's messages logged on `intf`.  Context: atomic."""
    parsed = parse_cdc_header(buffer)
    log = intf.usb_dev.usb_bus.core.log
    for notice in parsed.notices:
        if notice.level == "err":
            log.dev_err(intf, notice.message)
        else:
            log.dev_dbg(intf, notice.message)
    return parsed


def usb_find_common_endpoints(alt: UsbHostInterface) -> tuple[UsbHostEndpoint, ...] | int:
    """usb_find_common_endpoints() of drivers/usb/core/usb.c asked for a bulk-in, a
    bulk-out and an interrupt-in endpoint: the first of each, or -ENXIO when one is
    missing.  Context: atomic."""
    wanted = ((EndpointType.BULK, True), (EndpointType.BULK, False),
              (EndpointType.INT, True))
    found = [next((ep for ep in alt.endpoint
                   if ep.type == kind and bool(ep.address & 0x80) == is_in), None)
             for kind, is_in in wanted]
    if any(ep is None for ep in found):
        return -Errno.ENXIO
    return tuple(ep for ep in found if ep is not None)


@dataclass(frozen=True)
class _Layout:
    """What the first half of acm_probe decides: the interfaces, the three endpoints,
    whether they share one interface, and the quirks in force."""

    control: UsbInterface
    data: UsbInterface
    epctrl: UsbHostEndpoint
    epread: UsbHostEndpoint
    epwrite: UsbHostEndpoint
    combined: bool
    quirks: int


def _class_of(intf: UsbInterface) -> int:
    return int(intf.cur_altsetting.desc.bInterfaceClass)


def _collapsed(intf: UsbInterface, data: UsbInterface, quirks: int) -> _Layout | int:
    """look_for_collapsed_interface: control and data on one interface."""
    found = usb_find_common_endpoints(data.cur_altsetting)
    if isinstance(found, int):
        return found
    epread, epwrite, epctrl = found
    return _Layout(data, data, epctrl, epread, epwrite, True, quirks)


def _descriptor_buffer(intf: UsbInterface, log: Printk) -> bytes | int:
    """The class-specific descriptors: the interface's extra bytes, else its first
    endpoint's ("Seeking extra descriptors on endpoint"); -EINVAL when both are empty."""
    buffer = intf.altsetting[0].extra
    if buffer:
        return buffer
    endpoints = intf.cur_altsetting.endpoint
    if endpoints and endpoints[0].extra:
        log.dev_dbg(intf, "Seeking extra descriptors on endpoint")
        return endpoints[0].extra
    log.dev_err(intf, "Zero length descriptor references")
    return -Errno.EINVAL


def _normal_probe(intf: UsbInterface, quirks: int, log: Printk,
                  parsed: CdcParsedHeader) -> _Layout | tuple[UsbInterface, UsbInterface] | int:
    """The union (or call management) descriptor's interfaces, or the collapsed layout,
    or -errno."""
    udev = intf.usb_dev
    control: UsbInterface | None
    data: UsbInterface | None
    cmgmd = parsed.call_management
    call_intf_num = cmgmd.bDataInterface if cmgmd is not None else -1
    union = parsed.union
    if union is None:
        if intf.cur_altsetting.desc.bNumEndpoints == 3:
            log.dev_dbg(intf, "No union descriptor, assuming single interface")
            return _collapsed(intf, intf, quirks)
        if call_intf_num > 0:
            log.dev_dbg(intf, "No union descriptor, using call management descriptor")
            data_intf_num = call_intf_num
            control, data = intf, udev.interface(data_intf_num)
        else:
            log.dev_dbg(intf, "No union descriptor, giving up")
            return -Errno.ENODEV
    else:
        data_intf_num = union.bSlaveInterfaces[0]
        control = udev.interface(union.bMasterInterface0)
        data = udev.interface(data_intf_num)
        if control is None or _class_of(control) not in (ClassCode.COMM, ClassCode.CDC_DATA):
            log.dev_dbg(intf, "Broken union descriptor, assuming single interface")
            return _collapsed(intf, intf, quirks)
    if control is None or data is None:
        log.dev_dbg(intf, "no interfaces")
        return -Errno.ENODEV
    if data_intf_num != call_intf_num:
        log.dev_dbg(intf, "Separate call control interface. That is not fully supported.")
    if control is data:
        log.dev_warn(intf, "Control and data interfaces are not separated!")
        if data.cur_altsetting.desc.bNumEndpoints != 3:
            log.dev_err(intf, "This needs exactly 3 endpoints")
            return -Errno.EINVAL
        return _collapsed(intf, data, quirks | AcmQuirk.NO_CAP_LINE)
    return control, data


def _separate_layout(intf: UsbInterface, control: UsbInterface, data: UsbInterface,
                     quirks: int, log: Printk) -> _Layout | int:
    """skip_normal_probe: switched interfaces and switched endpoints put right."""
    if _class_of(data) != ClassCode.CDC_DATA:
        if _class_of(control) != ClassCode.CDC_DATA:
            return -Errno.EINVAL
        log.dev_dbg(intf, "Your device has switched interfaces.")
        control, data = data, control
    if intf is not control:
        return -Errno.ENODEV
    if len(data.cur_altsetting.endpoint) < 2 or not control.cur_altsetting.endpoint:
        return -Errno.EINVAL
    epctrl = control.cur_altsetting.endpoint[0]
    epread, epwrite = data.cur_altsetting.endpoint[:2]
    if not epread.address & 0x80:
        log.dev_dbg(intf, "The data interface has switched endpoints")
        epread, epwrite = epwrite, epread
    return _Layout(control, data, epctrl, epread, epwrite, False, quirks)


def acm_find_layout(intf: UsbInterface, quirks: int,
                    log: Printk) -> tuple[_Layout, CdcParsedHeader | None] | int:
    """The first half of acm_probe, up to "interfaces are valid": which interfaces and
    endpoints make the function, from the functional descriptors or the quirks.  The
    layout and the parsed descriptors, or -errno.  Context: atomic."""
    udev = intf.usb_dev
    parsed: CdcParsedHeader | None = None
    if quirks == AcmQuirk.NO_UNION_NORMAL:
        data, control = udev.interface(1), udev.interface(0)
        if data is None or control is None:
            return -Errno.ENODEV
        found: _Layout | tuple[UsbInterface, UsbInterface] | int = (control, data)
    else:
        buffer = _descriptor_buffer(intf, log)
        if isinstance(buffer, int):
            return buffer
        parsed = cdc_parse_cdc_header(intf, buffer)
        found = _normal_probe(intf, quirks, log, parsed)
    if isinstance(found, tuple):
        found = _separate_layout(intf, found[0], found[1], quirks, log)
    if isinstance(found, int):
        return found
    log.dev_dbg(intf, "interfaces are valid")
    return found, parsed


def _pipe(udev: UsbDevice, ep: UsbHostEndpoint, is_in: bool) -> int:
    ptype = PIPE_INTERRUPT if ep.type == EndpointType.INT else PIPE_BULK
    return make_pipe(udev, ptype, ep.address & 0x0F, is_in)


def _setup_buffers(acm: Acm, layout: _Layout, num_rx_buf: int) -> None:
    """The control buffer, the read URBs and the write URBs (filled, not submitted)."""
    udev, epread, epwrite = acm.dev, layout.epread, layout.epwrite
    acm.ctrl_buffer = bytearray(acm.ctrlsize)
    acm.in_pipe = _pipe(udev, epread, True)
    acm.out_pipe = _pipe(udev, epwrite, False)
    if epread.type == EndpointType.INT:
        acm.b_interval = epread.desc.bInterval
    for i in range(num_rx_buf):
        rb = AcmRb(acm.readsize, i, acm)
        urb = Urb()
        if epread.type == EndpointType.INT:
            urb.fill_int(udev, acm.in_pipe, rb.base, acm.readsize, acm_read_bulk_callback,
                         rb, acm.b_interval)
        else:
            urb.fill_bulk(udev, acm.in_pipe, rb.base, acm.readsize, acm_read_bulk_callback,
                          rb)
        urb.transfer_flags |= UrbFlag.NO_TRANSFER_DMA_MAP
        acm.read_buffers.append(rb)
        acm.read_urbs.append(urb)
        acm.read_urbs_free |= 1 << i
    for _ in range(ACM_NW):
        wb = AcmWb(acm.writesize, acm)
        if epwrite.type == EndpointType.INT:
            wb.urb.fill_int(udev, acm.out_pipe, None, acm.writesize, acm_write_bulk, wb,
                            epwrite.desc.bInterval)
        else:
            wb.urb.fill_bulk(udev, acm.out_pipe, None, acm.writesize, acm_write_bulk, wb)
        wb.urb.transfer_flags |= UrbFlag.NO_TRANSFER_DMA_MAP
        if layout.quirks & AcmQuirk.SEND_ZERO_PACKET:
            wb.urb.transfer_flags |= UrbFlag.ZERO_PACKET
        acm.wb.append(wb)


def _create_files(acm: Acm, intf: UsbInterface, parsed: CdcParsedHeader | None) -> int:
    """bmCapabilities, and the country files when the device has a Country descriptor."""
    retval = device_create_file(intf, DEV_ATTR_BM_CAPABILITIES)
    if retval < 0:
        return retval
    country = parsed.raw.get(CdcSubtype.COUNTRY) if parsed is not None else None
    if country is not None:
        acm.country_codes = bytes(country[4:country[0]])
        acm.country_rel_date = country[3]
        if device_create_file(intf, DEV_ATTR_W_COUNTRY_CODES) < 0:
            acm.country_codes = b""
        elif device_create_file(intf, DEV_ATTR_I_COUNTRY_CODE_REL_DATE) < 0:
            device_remove_file(intf, DEV_ATTR_W_COUNTRY_CODES)
            acm.country_codes = b""
    return 0


async def acm_probe(intf: UsbInterface, id: UsbDeviceId) -> int:
    """acm_probe(): bind an ACM function — see the module docstring.  0 or -errno
    (-ENODEV: not an ACM control interface of ours).  Context: may sleep."""
    quirks = id.driver_info if isinstance(id.driver_info, int) else 0
    if quirks == AcmQuirk.IGNORE_DEVICE:
        return -Errno.ENODEV
    usb = intf.usb_dev.usb_bus.core
    found = acm_find_layout(intf, quirks, usb.log)
    if isinstance(found, int):
        return found
    layout, parsed = found
    acm = Acm(layout.control, layout.data, layout.quirks)
    acm.combined_interfaces = layout.combined
    minor = acm_alloc_minor(acm)
    if minor < 0:
        return _unwind(acm, intf, -Errno.ENOMEM)
    acm.minor = minor
    if parsed is not None and parsed.acm is not None:
        acm.ctrl_caps = parsed.acm.bmCapabilities
    if layout.quirks & AcmQuirk.NO_CAP_LINE:
        acm.ctrl_caps &= ~AcmCapability.LINE
    acm.ctrlsize = layout.epctrl.maxp
    acm.readsize = layout.epread.maxp * (1 if layout.quirks == AcmQuirk.SINGLE_RX_URB else 2)
    acm.writesize = layout.epwrite.maxp * 20
    acm.rx_buflimit = 1 if quirks == AcmQuirk.SINGLE_RX_URB else ACM_NR
    _setup_buffers(acm, layout, acm.rx_buflimit)
    intf.driver_data = acm
    if _create_files(acm, intf, parsed) < 0:
        return _unwind(acm, intf, -Errno.ENOMEM)
    epctrl = layout.epctrl
    acm.ctrlurb.fill_int(acm.dev, make_pipe(acm.dev, PIPE_INTERRUPT, epctrl.address & 0x0F,
                                            True),
                         acm.ctrl_buffer, acm.ctrlsize, acm_ctrl_irq, acm,
                         epctrl.desc.bInterval or _CTRL_INTERVAL_DEFAULT)
    acm.ctrlurb.transfer_flags |= UrbFlag.NO_TRANSFER_DMA_MAP
    acm.line = LineCoding(9600, 0, 0, 8)
    await acm_set_line(acm, acm.line)
    return await _register(acm, intf, layout.quirks)


async def _register(acm: Acm, intf: UsbInterface, quirks: int) -> int:
    """The end of acm_probe: claim the data interface, register ttyACM<minor>."""
    usb = intf.usb_dev.usb_bus.core
    if not acm.combined_interfaces:
        rv = await usb_driver_claim_interface(acm_driver, acm.data, acm)
        if rv:
            _remove_files(acm)
            return _unwind(acm, intf, rv)
    try:
        await tty_port_register_device(acm.port, acm_tty_driver_of(), acm.minor, acm.control)
    except OSError as exc:
        if not acm.combined_interfaces:
            acm.data.driver_data = None
            await usb_driver_release_interface(acm_driver, acm.data)
        _remove_files(acm)
        return _unwind(acm, intf, -(exc.errno or Errno.EIO))
    if quirks & AcmQuirk.CLEAR_HALT_CONDITIONS:
        await usb_clear_halt(acm.dev, acm.in_pipe)
        await usb_clear_halt(acm.dev, acm.out_pipe)
    usb.log.dev_info(intf, f"ttyACM{acm.minor}: USB ACM device")
    return 0


def _unwind(acm: Acm, intf: UsbInterface, retval: int) -> int:
    """err_put_port: the probe's port reference goes, and with it the minor (if it got
    one); returns `retval`."""
    intf.driver_data = None
    tty_port_put(acm.port)
    return retval


async def acm_disconnect(intf: UsbInterface) -> None:
    """acm_disconnect(): the device or an interface of it goes — URBs poisoned, sysfs
    files and TIOCMIWAIT sleepers gone, the open tty hung up, the node removed, the other
    interface released; the minor waits for the last close.  Context: may sleep."""
    acm = intf.driver_data
    if not isinstance(acm, Acm):
        return
    acm.disconnected = True
    await acm_poison_urbs(acm)
    _remove_files(acm)
    acm.wioctl.wake_up()
    acm.control.driver_data = None
    acm.data.driver_data = None
    tty = tty_port_tty_get(acm.port)
    if tty is not None:
        await tty_vhangup(tty)
        tty_kref_put(tty)
    await acm.dwork.cancel_sync()
    await tty_unregister_device(acm_tty_driver_of(), acm.minor)
    if not acm.combined_interfaces:
        other = acm.data if intf is acm.control else acm.control
        await usb_driver_release_interface(acm_driver, other)
    tty_port_put(acm.port)


async def acm_pre_reset(intf: UsbInterface) -> int:
    """acm_pre_reset(): a reset loses a pending stall recovery and a half-received
    notification.  Context: may sleep."""
    acm = intf.driver_data
    if isinstance(acm, Acm):
        acm.flags &= ~AcmEvent.RX_STALL
        acm.nb_index = 0
    return 0


# -- the id table ---------------------------------------------------------------------------------

_COMM: Final = int(ClassCode.COMM)
_ACM: Final = int(CdcSubclass.ACM)
_VENDOR: Final = int(CdcProtocol.VENDOR)
_Q = AcmQuirk

#: (idVendor, idProduct, quirks) of the devices Linux lists by id, in its order.
_QUIRKY_DEVICES: Final[tuple[tuple[int, int, int], ...]] = (
    (0x0424, 0x274E, _Q.DISABLE_ECHO),            # Microchip Technology (formerly SMSC)
    (0x076D, 0x0006, _Q.NO_UNION_NORMAL),         # Denso Cradle CU-321
    (0x17EF, 0x7000, _Q.NO_UNION_NORMAL),         # Lenovo USB modem
    (0x0870, 0x0001, _Q.NO_UNION_NORMAL),         # Metricom GS Modem
    (0x045B, 0x023C, _Q.DISABLE_ECHO),            # Renesas USB Download mode
    (0x045B, 0x0248, _Q.DISABLE_ECHO),            # Renesas USB Download mode
    (0x045B, 0x024D, _Q.DISABLE_ECHO),            # Renesas USB Download mode
    (0x0E8D, 0x0003, _Q.NO_UNION_NORMAL),         # FIREFLY, MediaTek Inc
    (0x0E8D, 0x2000, _Q.DISABLE_ECHO),            # MediaTek Inc Preloader
    (0x0E8D, 0x3329, _Q.NO_UNION_NORMAL),         # MediaTek Inc GPS
    (0x0482, 0x0203, _Q.NO_UNION_NORMAL),         # KYOCERA AH-K3001V
    (0x079B, 0x000F, _Q.NO_UNION_NORMAL),         # BT On-Air USB MODEM
    (0x0ACE, 0x1602, _Q.SINGLE_RX_URB),           # ZyDAS 56K USB MODEM
    (0x0ACE, 0x1608, _Q.SINGLE_RX_URB),           # ZyDAS 56K USB MODEM
    (0x0ACE, 0x1611, _Q.SINGLE_RX_URB),           # ZyDAS 56K USB MODEM - new version
    (0x11CA, 0x0201, _Q.SINGLE_RX_URB),           # VeriFone Mx870 Gadget Serial
    (0x1965, 0x0018, _Q.NO_UNION_NORMAL),         # Uniden UBC125XLT
    (0x22B8, 0x7000, _Q.NO_UNION_NORMAL),         # Motorola Q Phone
    (0x0803, 0x3095, _Q.NO_UNION_NORMAL),         # Zoom Telephonics Model 3095F
    (0x0572, 0x1321, _Q.NO_UNION_NORMAL),         # Conexant USB MODEM CX93010
    (0x0572, 0x1324, _Q.NO_UNION_NORMAL),         # Conexant USB MODEM RD02-D400
    (0x0572, 0x1328, _Q.NO_UNION_NORMAL),         # Shiro / Aztech USB MODEM UM-3100
    (0x0572, 0x1349, _Q.NO_UNION_NORMAL),         # Hiro (Conexant) USB MODEM H50228
    (0x20DF, 0x0001, _Q.QUIRK_CONTROL_LINE_STATE),  # Simtec Electronics Entropy Key
    (0x2184, 0x001C, 0),                          # GW Instek AFG-2225
    (0x2184, 0x0036, 0),                          # GW Instek AFG-125
    (0x22B8, 0x6425, 0),                          # Motorola MOTOMAGX phones
    (0x22B8, 0x2D91, 0),                          # Motorola H24 HSPA module: modem
    (0x22B8, 0x2D92, _Q.NO_UNION_NORMAL),         # ... + diagnostics
    (0x22B8, 0x2D93, _Q.NO_UNION_NORMAL),         # ... + AT port
    (0x22B8, 0x2D95, _Q.NO_UNION_NORMAL),         # ... + AT port + diagnostics
    (0x22B8, 0x2D96, _Q.NO_UNION_NORMAL),         # ... + NMEA
    (0x22B8, 0x2D97, _Q.NO_UNION_NORMAL),         # ... + diagnostics + NMEA
    (0x22B8, 0x2D99, _Q.NO_UNION_NORMAL),         # ... + AT port + NMEA
    (0x22B8, 0x2D9A, _Q.NO_UNION_NORMAL),         # ... + AT port + diagnostics + NMEA
    (0x0572, 0x1329, _Q.NO_UNION_NORMAL),         # Hummingbird huc56s (Conexant)
    (0x0572, 0x1340, _Q.NO_UNION_NORMAL),         # Conexant CX93010-2x UCMxx
    (0x05F9, 0x4002, _Q.NO_UNION_NORMAL),         # PSC Scanning, Magellan 800i
    (0x1BBB, 0x0003, _Q.NO_UNION_NORMAL),         # Alcatel OT-I650
    (0x1576, 0x03B1, _Q.NO_UNION_NORMAL),         # Maretron USB100
    (0xFFF0, 0x0100, _Q.NO_UNION_NORMAL),         # DATECS FP-2000
    (0x09D8, 0x0320, _Q.NO_UNION_NORMAL),         # Elatec GmbH TWN3
    (0x0C26, 0x0020, _Q.NO_UNION_NORMAL),         # Icom ICF3400 Serie
    (0x0CA6, 0xA050, _Q.NO_UNION_NORMAL),         # Castles VEGA3000
    (0x2912, 0x0001, _Q.CLEAR_HALT_CONDITIONS),   # ATOL FPrint
)

#: Nokia S60 phones: their second, vendor-specific ACM channel (NOKIA_PCSUITE_ACM_INFO).
_NOKIA_PCSUITE: Final = (
    0x042D, 0x04D8, 0x04C9, 0x0419, 0x044D, 0x0001, 0x0475, 0x0508, 0x0418, 0x0425,
    0x0486, 0x04DF, 0x000E, 0x0445, 0x042F, 0x048E, 0x0420, 0x04E6, 0x04B2, 0x0134,
    0x046E, 0x002F, 0x0088, 0x00FC, 0x0042, 0x00B0, 0x00AB, 0x0481, 0x0007, 0x0071,
    0x04F0, 0x0070, 0x0099, 0x0128, 0x008F, 0x00A0, 0x007B, 0x0094, 0x003A, 0x00E9,
    0x0108, 0x01F5, 0x02E3, 0x0178, 0x010E, 0x02D9, 0x01D0, 0x0223, 0x0275, 0x026C,
    0x0154, 0x04CE, 0x01D4, 0x0302, 0x0335, 0x03CD,
)

#: Devices other drivers own (IMS PCU, IR Toy, XR serial, a Samsung phone in firmware
#: update mode, Infineon's flash loader, ETAS ES58x, Goodix fingerprint reader, Heimann
#: demo board): IGNORE_DEVICE.
_IGNORED: Final = (
    (0x04D8, 0x0082), (0x04D8, 0x0083), (0x04D8, 0xFD08), (0x04D8, 0xF58B),
    (0x04E2, 0x1400), (0x04E2, 0x1401), (0x04E2, 0x1402), (0x04E2, 0x1403),
    (0x04E2, 0x1410), (0x04E2, 0x1411), (0x04E2, 0x1412), (0x04E2, 0x1414),
    (0x04E2, 0x1420), (0x04E2, 0x1422), (0x04E2, 0x1424), (0x04E8, 0x685D),
    (0x058B, 0x0041), (0x108C, 0x0159), (0x108C, 0x0168), (0x108C, 0x0169),
)

#: The ACM protocols of the class entries: none, then the AT command sets.
_ACM_PROTOCOLS: Final = (CdcProtocol.NONE, CdcProtocol.AT_V25TER, CdcProtocol.AT_PCCA101,
                         CdcProtocol.AT_PCCA101_WAKE, CdcProtocol.AT_GSM, CdcProtocol.AT_3G,
                         CdcProtocol.AT_CDMA)


def _acm_ids() -> list[UsbDeviceId]:
    ids = [usb_device(v, p, driver_info=int(q)) for v, p, q in _QUIRKY_DEVICES]
    ids += [usb_device_and_interface_info(0x0421, p, _COMM, _ACM, _VENDOR)
            for p in _NOKIA_PCSUITE]
    ids.append(usb_device_and_interface_info(0x04E7, 0x6651, _COMM, _ACM, _VENDOR))
    ids.append(usb_device(0x03EB, 0x0030))                          # Owen SI30
    ids += [usb_device(v, p, driver_info=int(_Q.IGNORE_DEVICE)) for v, p in _IGNORED]
    ids += [usb_device(0x1BC7, p, driver_info=int(_Q.SEND_ZERO_PACKET))  # Telit 3G
            for p in (0x0021, 0x0023)]
    ids += [usb_device(0x27C6, 0x5395, driver_info=int(_Q.IGNORE_DEVICE)),
            usb_device(0x32A7, 0x0000, driver_info=int(_Q.IGNORE_DEVICE))]
    ids += [usb_interface_info(_COMM, _ACM, int(proto)) for proto in _ACM_PROTOCOLS]
    ids.append(usb_device(0x1519, 0x0452, driver_info=int(_Q.SEND_ZERO_PACKET)))  # Intel 7260
    ids.append(UsbDeviceId())
    return ids


acm_ids: Final[Sequence[UsbDeviceId]] = module_device_table("usb", _acm_ids())

acm_driver = UsbDriver(KBUILD_MODNAME, id_table=acm_ids, probe=acm_probe,
                       disconnect=acm_disconnect, pre_reset=acm_pre_reset,
                       supports_autosuspend=True)


# -- init / exit ----------------------------------------------------------------------------------

acm_tty_driver: TtyDriver | None = None


def acm_tty_driver_of() -> TtyDriver:
    """The registered tty driver "acm" (module init made it)."""
    assert acm_tty_driver is not None, "cdc_acm's init has not registered its tty driver"
    return acm_tty_driver


def _acm_init_termios() -> Ktermios:
    """tty_std_termios with B9600 | CS8 | CREAD | HUPCL | CLOCAL."""
    termios = TTY_STD_TERMIOS.copy()
    termios.c_cflag = B9600 | Cflag.CS8 | Cflag.CREAD | Cflag.HUPCL | Cflag.CLOCAL
    termios.c_ispeed = termios.c_ospeed = 9600
    return termios


async def acm_init() -> int:
    """acm_init(): the tty driver, then the USB driver, then the module's banner.
    0 or -errno.  Context: may sleep."""
    global acm_tty_driver
    driver = TtyDriver("acm", "ttyACM", num=ACM_TTY_MINORS, major=ACM_TTY_MAJOR,
                       minor_start=0, type=TtyDriverType.SERIAL, subtype=SERIAL_TYPE_NORMAL,
                       init_termios=_acm_init_termios(), ops=acm_ops,
                       flags=TtyDriverFlag.REAL_RAW | TtyDriverFlag.DYNAMIC_DEV)
    try:
        await tty_register_driver(driver)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    acm_tty_driver = driver
    usb = current_usbcore()
    try:
        await usb_register(usb, acm_driver)
    except OSError as exc:
        await tty_unregister_driver(driver)
        acm_tty_driver = None
        return -(exc.errno or Errno.EIO)
    usb.log.info(f"{KBUILD_MODNAME}: {DRIVER_DESC}")
    return 0


async def acm_exit() -> None:
    """acm_exit(): the USB driver (unbinding every device), then the tty driver.
    Context: may sleep."""
    global acm_tty_driver
    await usb_deregister(current_usbcore(), acm_driver)
    if acm_tty_driver is not None:
        await tty_unregister_driver(acm_tty_driver)
        acm_tty_driver = None
    acm_minors.clear()


module_init(acm_init)
module_exit(acm_exit)

module_author(DRIVER_AUTHOR)
module_description(DRIVER_DESC)
module_license("GPL")
module_alias(f"char-major-{ACM_TTY_MAJOR}-*")
