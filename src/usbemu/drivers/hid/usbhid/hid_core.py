"""usbhid — counterpart of drivers/hid/usbhid/hid-core.c, the module usbhid.ko: the USB
transport of the HID core.

The interface driver "usbhid" takes every interface of class HID that has an interrupt IN
endpoint.  Its probe allocates a hid device, names it as usbhid does ("<manufacturer>
<product>", else "HID vvvv:pppp"), gives it phys `usb-<bus>-<devpath>/input<N>`, uniq (the
serial number string, read again), bus BUS_USB, vendor, product and version, and its
transport hooks (`usb_hid_driver`'s: parse, start, stop, open, close, raw_request,
output_report, request, wait, idle), then adds it to the hid bus — where hid-generic (or a
specific driver) binds it.  Parse reads the HID descriptor from the interface's extra bytes
(bcdHID, bCountryCode, the report descriptor's length), sends SET_IDLE 0 and reads the
report descriptor with GET_DESCRIPTOR (4 tries).  Start sizes the buffers by the largest
report and fills the interrupt IN URB (the largest input report, at the endpoint's interval
or the `mousepoll`/`jspoll`/`kbpoll` parameter), an interrupt OUT URB when the interface has
an OUT endpoint, and the control URB; boot keyboards get their Num Lock LED cleared.  Open
submits the IN URB and lets 50 ms pass before reports reach the HID core (what the device
queued while nobody listened is dropped); close kills it.  Reports from the interrupt URB
go to `hid_input_report`; its completion handles -EPIPE (clear the halt in a work item),
unlinks and shutdowns (stop), protocol errors (retry 13, 26, 52, 104 ms …, then a port
reset after a second of failures) and resubmits otherwise ("can't resubmit intr,
%s-%s/input%d, status %d").  Output reports and GET/SET_REPORT of parsed reports queue on
the out FIFO (64, interrupt OUT) or the control FIFO (256, SET_REPORT/GET_REPORT on the
control pipe), one URB in flight each, as usbhid_submit_report does.  Disconnect destroys
the hid device.

Suspend stops the I/O (an autosuspend is refused while a request is queued, a key is
held or an LED is on) and resume restarts it.  Not modelled: hiddev (/dev/usb/hiddevN),
force feedback (hid-pidff), the `quirks` parameter and the quirk tables, the usage counts
of runtime power management (usb_autopm_*) and remote-wakeup settings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag
from typing import Final

from usbemu.core.devtable import MatchFlag, UsbDeviceId
from usbemu.core.driver import PMSG_AUTO_SUSPEND, UsbDriver, usb_deregister, usb_register
from usbemu.core.hub import usb_reset_device
from usbemu.core.message import (
    USB_CTRL_GET_TIMEOUT,
    USB_CTRL_SET_TIMEOUT,
    usb_bulk_msg,
    usb_clear_halt,
    usb_control_msg,
    usb_string,
)
from usbemu.core.urb import (
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    Urb,
    make_pipe,
    usb_block_urb,
    usb_kill_urb,
    usb_submit_urb,
    usb_unlink_urb,
    usb_unpoison_urb,
)
from usbemu.core.usb import (
    UsbDevice,
    UsbInterface,
    usb_get_extra_descriptor,
    usb_make_path,
)
from usbemu.core.usbcore import current_usbcore
from usbemu.drivers.hid.hid_core import (
    BUS_USB,
    HID_GD_JOYSTICK,
    HID_GD_KEYBOARD,
    HID_GD_MOUSE,
    HID_MAX_BUFFER_SIZE,
    HID_MAX_DESCRIPTOR_SIZE,
    HID_MIN_BUFFER_SIZE,
    HID_USAGE,
    HID_USAGE_PAGE,
    HidClaimed,
    HidDevice,
    HidField,
    HidLlDriver,
    HidQuirk,
    HidReport,
    ReportType,
    hid_add_device,
    hid_alloc_report_buf,
    hid_allocate_device,
    hid_destroy_device,
    hid_err,
    hid_input_report,
    hid_lookup_quirk,
    hid_output_report,
    hid_parse_report,
    hid_report_len,
    hid_set_field,
    hid_warn,
)
from usbemu.drivers.hid.hid_input import hid_check_keys_pressed, hidinput_count_leds
from usbemu.errors import Errno
from usbemu.kernel.module import (
    module_author,
    module_description,
    module_device_table,
    module_exit,
    module_info,
    module_init,
    module_license,
    module_param,
    module_param_desc,
)
from usbemu.kernel.printk import Level, Printk
from usbemu.kernel.vtime import sleep_ns
from usbemu.kernel.wait import WaitQueueHead
from usbemu.spec.ch9 import EndpointType, SetupPacket, Speed
from usbemu.spec.hid import HidBootProtocol, HidDescriptorType, HidRequest, HidSubclass

mousepoll = module_param("mousepoll", "uint", 0o644, default=0)
module_param_desc("mousepoll", "Polling interval of mice")
jspoll = module_param("jspoll", "uint", 0o644, default=0)
module_param_desc("jspoll", "Polling interval of joysticks")
kbpoll = module_param("kbpoll", "uint", 0o644, default=0)
module_param_desc("kbpoll", "Polling interval of keyboards")
ignoreled = module_param("ignoreled", "uint", 0o644, default=0)
module_param_desc("ignoreled", "Autosuspend with active leds")

DRIVER_DESC: Final = "USB HID core driver"

#: The FIFOs of queued reports (usbhid.h): one slot always stays free.
HID_CONTROL_FIFO_SIZE: Final = 256
HID_OUTPUT_FIFO_SIZE: Final = 64

USB_DIR_OUT: Final = 0x00
USB_DIR_IN: Final = 0x80
_CLASS_INTERFACE: Final = 0x21  # USB_TYPE_CLASS | USB_RECIP_INTERFACE
_STANDARD_INTERFACE_IN: Final = 0x81  # USB_RECIP_INTERFACE | USB_DIR_IN
_GET_DESCRIPTOR: Final = 0x06
#: sizeof(struct hid_descriptor) with one class descriptor, and where the class
#: descriptors (3 bytes each) start.
_HID_DESCRIPTOR_SIZE: Final = 9
_HID_CLASS_DESCRIPTORS: Final = 6
#: How long a queued report may wait before usbhid unlinks the URB ahead of it (HZ * 5).
_QUEUE_TIMEOUT_S: Final = 5.0
#: hid_open: what the device sent while nobody listened is dropped for this long.
_OPEN_SETTLE_NS: Final = 50_000_000
#: usbhid_wait_io: how long the queues may take to drain (10*HZ).
_WAIT_IO_MS: Final = 10_000


class HidType:
    """hid_device.type (enum hid_type)."""

    OTHER = 0
    USBMOUSE = 1
    USBNONE = 2


class IoFlag(IntFlag):
    """usbhid_device.iofl: the transport's state bits (usbhid.h HID_*)."""

    CTRL_RUNNING = 1 << 1
    OUT_RUNNING = 1 << 2
    IN_RUNNING = 1 << 3
    RESET_PENDING = 1 << 4
    SUSPENDED = 1 << 5
    CLEAR_HALT = 1 << 6
    DISCONNECTED = 1 << 7
    STARTED = 1 << 8
    KEYS_PRESSED = 1 << 10
    NO_BANDWIDTH = 1 << 11
    RESUME_RUNNING = 1 << 12
    OPENED = 1 << 13
    IN_POLLING = 1 << 14


@dataclass(eq=False)
class QueuedReport:
    """struct hid_control_fifo / hid_output_fifo: a report waiting for its URB, with the
    bytes of an outgoing one and the direction."""

    report: HidReport
    raw_report: bytes | None
    dir: int


def _usb_maxpacket(dev: UsbDevice, address: int) -> int:
    hep = dev.endpoint(address)
    return hep.maxp if hep is not None else 0


class UsbHidDevice:
    """struct usbhid_device: the transport state of one HID interface — its URBs and
    buffers, the control and output FIFOs, the I/O flags, the retry timer and reset work.
    Its bound methods are the hid device's `HidLlDriver` hooks.  Context: the hooks say
    theirs; completion handlers and `submit_report` are atomic."""

    def __init__(self, hid: HidDevice, intf: UsbInterface) -> None:
        usb = current_usbcore()
        self.hid = hid
        self.intf = intf
        self.udev: UsbDevice = intf.usb_dev
        self.ifnum = intf.cur_altsetting.desc.bInterfaceNumber or 0
        self.loop = usb.loop
        self.log: Printk = usb.log
        self.driver_core = usb.driver_core
        self.iofl = IoFlag(0)
        self.urbin: Urb | None = None
        self.urbout: Urb | None = None
        self.urbctrl: Urb | None = None
        self.bufsize = HID_MIN_BUFFER_SIZE
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.ctrlbuf = bytearray()
        self.ctrl: list[QueuedReport] = []      # a few reports: lists are smaller than deques
        self.out: list[QueuedReport] = []
        self.retry_delay = 0
        self.stop_retry = 0.0
        self.last_out = 0.0
        self.last_ctrl = 0.0
        self.io_retry: asyncio.TimerHandle | None = None
        self.reset_work: asyncio.Task[None] | None = None
        self.wait = WaitQueueHead()
        self.mutex = asyncio.Lock()
        self.ll_driver = HidLlDriver(
            parse=self.parse, start=self.start, stop=self.stop, open=self.open,
            close=self.close, raw_request=self.raw_request,
            output_report=self.output_report, request=self.request, wait=self.wait_io,
            idle=self.idle)

    def __repr__(self) -> str:
        return f"<UsbHidDevice {self.intf.name} {self.iofl!r}>"

    # -- input: the interrupt IN URB ------------------------------------------------------------

    def hid_start_in(self) -> int:
        """hid_start_in(): submit the IN URB if polling, connected, awake and not running.
        0 or the submission's -errno.  Context: atomic."""
        rc = 0
        flags = self.iofl
        if flags & IoFlag.IN_POLLING and not flags & (IoFlag.DISCONNECTED | IoFlag.SUSPENDED
                                                      | IoFlag.IN_RUNNING):
            self.iofl |= IoFlag.IN_RUNNING
            rc = usb_submit_urb(self.urbin)
            if rc:
                self.iofl &= ~IoFlag.IN_RUNNING
                if rc == -Errno.ENOSPC:
                    self.iofl |= IoFlag.NO_BANDWIDTH
            else:
                self.iofl &= ~IoFlag.NO_BANDWIDTH
        return rc

    def hid_retry_timeout(self) -> None:
        """hid_retry_timeout(): the retry timer fired.  Context: atomic (a timer)."""
        self.io_retry = None
        self.log.dev_dbg(self.intf, "retrying intr urb")
        if self.hid_start_in():
            self.hid_io_error()

    def hid_io_error(self) -> None:
        """hid_io_error(): retry the IN URB after 13 ms, doubling up to 104 ms; after a
        second of failures (and not for lack of bandwidth), reset the device instead.
        Context: atomic."""
        if self.iofl & IoFlag.DISCONNECTED:
            return
        now = self.loop.time()
        if now > self.stop_retry + 0.5:
            self.retry_delay = 0
        if self.retry_delay == 0:
            self.retry_delay = 13
            self.stop_retry = now + 1.0
        elif self.retry_delay < 100:
            self.retry_delay *= 2
        if now > self.stop_retry and not self.iofl & (IoFlag.NO_BANDWIDTH
                                                      | IoFlag.RESET_PENDING):
            self.iofl |= IoFlag.RESET_PENDING
            self.schedule_reset()
            return
        if self.io_retry is not None:
            self.io_retry.cancel()
        self.io_retry = self.loop.call_at(now + self.retry_delay / 1000,
                                          self.hid_retry_timeout)

    def schedule_reset(self) -> None:
        """schedule_work(&usbhid->reset_work).  Context: atomic."""
        if self.reset_work is None or self.reset_work.done():
            task = self.loop.create_task(self.hid_reset())
            self.reset_work = task
            self.driver_core.pending.add(task)
            task.add_done_callback(self.driver_core.pending.discard)

    async def hid_reset(self) -> None:
        """hid_reset() (the reset work): clear a halted IN endpoint and restart input;
        when that fails or a reset is pending, reset the device.  Context: may sleep."""
        if self.iofl & IoFlag.CLEAR_HALT and self.urbin is not None:
            self.log.dev_dbg(self.intf, "clear halt")
            rc = await usb_clear_halt(self.udev, self.urbin.pipe)
            self.iofl &= ~IoFlag.CLEAR_HALT
            if rc == 0:
                self.hid_start_in()
            else:
                self.log.dev_dbg(self.intf, f"clear-halt failed: {rc}")
                self.iofl |= IoFlag.RESET_PENDING
        if self.iofl & IoFlag.RESET_PENDING:
            self.log.dev_dbg(self.intf, "resetting device")
            async with self.udev.lock:
                await usb_reset_device(self.udev)

    def hid_irq_in(self, urb: Urb) -> None:
        """hid_irq_in(): the interrupt IN URB's completion.  A report goes to the HID core
        (once open and past the first 50 ms); -EPIPE clears the halt in the reset work;
        an unlink or shutdown stops; protocol errors and timeouts go to `hid_io_error`;
        other errors are reported ("input irq status %d received"); then the URB is
        resubmitted.  Context: atomic (a completion)."""
        handler = _IRQ_IN_STATUS.get(urb.status, UsbHidDevice._in_other)
        if handler(self, urb):
            self._resubmit_in(urb)

    def _in_report(self, urb: Urb) -> bool:
        self.retry_delay = 0
        if not self.iofl & IoFlag.OPENED:
            return True
        if not self.iofl & IoFlag.RESUME_RUNNING:
            hid_input_report(self.hid, ReportType.INPUT, urb.transfer_buffer,
                             urb.actual_length, 1)
            if hid_check_keys_pressed(self.hid):
                self.iofl |= IoFlag.KEYS_PRESSED
            else:
                self.iofl &= ~IoFlag.KEYS_PRESSED
        return True

    def _in_stall(self, urb: Urb) -> bool:
        self.iofl = (self.iofl & ~IoFlag.IN_RUNNING) | IoFlag.CLEAR_HALT
        self.schedule_reset()
        return False

    def _in_stopped(self, urb: Urb) -> bool:
        self.iofl &= ~IoFlag.IN_RUNNING
        return False

    def _in_io_error(self, urb: Urb) -> bool:
        self.iofl &= ~IoFlag.IN_RUNNING
        self.hid_io_error()
        return False

    def _in_other(self, urb: Urb) -> bool:
        if urb.dev is not None:
            self.log.dev_warn(urb.dev, f"input irq status {urb.status} received")
        return True

    def _resubmit_in(self, urb: Urb) -> None:
        status = usb_submit_urb(urb)
        if status:
            self.iofl &= ~IoFlag.IN_RUNNING
            if status != -Errno.EPERM:
                hid_err(self.hid, f"can't resubmit intr, {self.udev.usb_bus.bus_name}-"
                                  f"{self.udev.devpath}/input{self.ifnum}, status {status}")
                self.hid_io_error()

    # -- output: the interrupt OUT URB and the control URB --------------------------------------

    def hid_submit_out(self) -> int:
        """hid_submit_out(): send the oldest queued output report on the OUT URB.  0 or
        -errno ("usb_submit_urb(out) failed: %d").  Context: atomic."""
        urb = self.urbout
        queued = self.out[0]
        if urb is None:
            return -Errno.ENODEV
        length = hid_report_len(queued.report)
        urb.transfer_buffer_length = length
        urb.dev = self.udev
        if queued.raw_report is not None:
            self.outbuf[:length] = queued.raw_report[:length]
            queued.raw_report = None
        r = usb_submit_urb(urb)
        if r < 0:
            hid_err(self.hid, f"usb_submit_urb(out) failed: {r}")
            return r
        self.last_out = self.loop.time()
        return 0

    def hid_submit_ctrl(self) -> int:
        """hid_submit_ctrl(): send the oldest queued report on the control pipe —
        SET_REPORT with its bytes, or GET_REPORT for its length rounded up to whole
        packets (at most the buffer).  0 or -errno ("usb_submit_urb(ctrl) failed: %d").
        Context: atomic."""
        urb = self.urbctrl
        queued = self.ctrl[0]
        if urb is None:
            return -Errno.ENODEV
        report = queued.report
        length = hid_report_len(report)
        if queued.dir == USB_DIR_OUT:
            urb.pipe = make_pipe(self.udev, PIPE_CONTROL, 0, False)
            if queued.raw_report is not None:
                self.ctrlbuf[:length] = queued.raw_report[:length]
                queued.raw_report = None
        else:
            urb.pipe = make_pipe(self.udev, PIPE_CONTROL, 0, True)
            maxpacket = self.udev.ep0.maxp or 1
            length += length == 0
            length = min(-(-length // maxpacket) * maxpacket, self.bufsize)
        urb.transfer_buffer_length = length
        urb.dev = self.udev
        request = HidRequest.SET_REPORT if queued.dir == USB_DIR_OUT else HidRequest.GET_REPORT
        urb.setup_packet = bytes(SetupPacket(_CLASS_INTERFACE | queued.dir, request,
                                             ((report.type + 1) << 8) | report.id,
                                             self.ifnum, length))
        r = usb_submit_urb(urb)
        if r < 0:
            hid_err(self.hid, f"usb_submit_urb(ctrl) failed: {r}")
            return r
        self.last_ctrl = self.loop.time()
        return 0

    def hid_irq_out(self, urb: Urb) -> None:
        """hid_irq_out(): the OUT URB's completion: the next queued report goes out, or
        the queue stops (all of it on -ESHUTDOWN).  Context: atomic (a completion)."""
        status = urb.status
        if status not in _QUIET_OUT_STATUS and urb.dev is not None:
            self.log.dev_warn(urb.dev, f"output irq status {status} received")
        if status == -Errno.ESHUTDOWN:
            self.out.clear()
        elif self.out:
            del self.out[0]
            if self.out and self.hid_submit_out() == 0:
                return
        self.iofl &= ~IoFlag.OUT_RUNNING
        self.wait.wake_up()

    def hid_ctrl(self, urb: Urb) -> None:
        """hid_ctrl(): the control URB's completion: a GET_REPORT answer goes to the HID
        core, then the next queued report goes out, or the queue stops (all of it on
        -ESHUTDOWN).  Context: atomic (a completion)."""
        status = urb.status
        if status == 0:
            queued = self.ctrl[0] if self.ctrl else None
            if queued is not None and queued.dir == USB_DIR_IN:
                hid_input_report(self.hid, queued.report.type, urb.transfer_buffer,
                                 urb.actual_length, 0)
        elif status not in _QUIET_CTRL_STATUS and urb.dev is not None:
            self.log.dev_warn(urb.dev, f"ctrl urb status {status} received")
        if status == -Errno.ESHUTDOWN:
            self.ctrl.clear()
        elif self.ctrl:
            del self.ctrl[0]
            if self.ctrl and self.hid_submit_ctrl() == 0:
                return
        self.iofl &= ~IoFlag.CTRL_RUNNING
        self.wait.wake_up()

    def restart_out_queue(self) -> bool:
        """usbhid_restart_out_queue(): start sending queued output reports; whether there
        were any.  Context: atomic."""
        if self.iofl & (IoFlag.RESET_PENDING | IoFlag.SUSPENDED) or not self.out:
            return False
        self.iofl |= IoFlag.OUT_RUNNING
        if self.hid_submit_out():
            self.iofl &= ~IoFlag.OUT_RUNNING
        self.wait.wake_up()
        return True

    def restart_ctrl_queue(self) -> bool:
        """usbhid_restart_ctrl_queue(): start sending queued control requests; whether
        there were any.  Context: atomic."""
        if self.iofl & (IoFlag.RESET_PENDING | IoFlag.SUSPENDED) or not self.ctrl:
            return False
        self.iofl |= IoFlag.CTRL_RUNNING
        if self.hid_submit_ctrl():
            self.iofl &= ~IoFlag.CTRL_RUNNING
        self.wait.wake_up()
        return True

    def _unstick(self, urb: Urb | None, restart: Callable[[], bool], running: IoFlag) -> None:
        """A request older than 5 s holds its queue: unlink its URB (refusing a resubmit
        meanwhile), and restart the queue if that stopped it."""
        usb_block_urb(urb)
        usb_unlink_urb(urb)
        usb_unpoison_urb(urb)
        if not self.iofl & running:
            restart()

    def submit_report(self, report: HidReport, dir: int) -> None:
        """usbhid_submit_report(): queue an output report (interrupt OUT, when the
        interface has one and it is an output report) or a SET_REPORT / GET_REPORT on the
        control pipe ("output queue full", "control queue full").  Nothing for GET_REPORT
        with HID_QUIRK_NOGET, nor once disconnected.  Context: atomic."""
        if (self.hid.quirks & HidQuirk.NOGET and dir == USB_DIR_IN) \
                or self.iofl & IoFlag.DISCONNECTED:
            return
        now = self.loop.time()
        if self.urbout is not None and dir == USB_DIR_OUT \
                and report.type == ReportType.OUTPUT:
            if len(self.out) >= HID_OUTPUT_FIFO_SIZE - 1:
                hid_warn(self.hid, "output queue full")
                return
            self.out.append(QueuedReport(report, _built(report), dir))
            if not self.iofl & IoFlag.OUT_RUNNING:
                self.restart_out_queue()
            elif now > self.last_out + _QUEUE_TIMEOUT_S:
                self._unstick(self.urbout, self.restart_out_queue, IoFlag.OUT_RUNNING)
            return
        if len(self.ctrl) >= HID_CONTROL_FIFO_SIZE - 1:
            hid_warn(self.hid, "control queue full")
            return
        raw = _built(report) if dir == USB_DIR_OUT else None
        self.ctrl.append(QueuedReport(report, raw, dir))
        if not self.iofl & IoFlag.CTRL_RUNNING:
            self.restart_ctrl_queue()
        elif now > self.last_ctrl + _QUEUE_TIMEOUT_S:
            self._unstick(self.urbctrl, self.restart_ctrl_queue, IoFlag.CTRL_RUNNING)

    # -- the transport hooks (struct hid_ll_driver usb_hid_driver) -------------------------------

    async def parse(self, hid: HidDevice) -> int:
        """usbhid_parse(): the HID descriptor (in the interface's extra bytes, else the
        first endpoint's), SET_IDLE 0, the report descriptor read and parsed; boot mice
        and keyboards get HID_QUIRK_NOGET.  0, -ENODEV (no HID descriptor or an ignored
        device), -EINVAL (a report descriptor of 0 or more than 4096 bytes), the read's
        or the parser's error.  Context: may sleep."""
        interface = self.intf.cur_altsetting
        desc = interface.desc
        quirks = hid_lookup_quirk(hid)
        if quirks & HidQuirk.IGNORE:
            return -Errno.ENODEV
        if desc.bInterfaceSubClass == HidSubclass.BOOT and desc.bInterfaceProtocol in (
                HidBootProtocol.KEYBOARD, HidBootProtocol.MOUSE):
            quirks |= HidQuirk.NOGET
        hdesc = self._hid_descriptor()
        if hdesc is None:
            _dbg_hid(self.log, "class descriptor not present")
            return -Errno.ENODEV
        hid.version = int.from_bytes(hdesc[2:4], "little")
        hid.country = hdesc[4]
        rsize = _report_descriptor_size(hdesc)
        if not rsize or rsize > HID_MAX_DESCRIPTOR_SIZE:
            _dbg_hid(self.log, f"weird size of report descriptor ({rsize})")
            return -Errno.EINVAL
        await hid_set_idle(self.udev, self.ifnum, 0, 0)
        ret, rdesc = await hid_get_class_descriptor(self.udev, self.ifnum,
                                                    HidDescriptorType.REPORT, rsize)
        if ret < 0:
            _dbg_hid(self.log, "reading report descriptor failed")
            return ret
        ret = hid_parse_report(hid, rdesc)
        if ret:
            _dbg_hid(self.log, "parsing report descriptor failed")
            return ret
        hid.quirks |= quirks
        return 0

    def _hid_descriptor(self) -> bytes | None:
        interface = self.intf.cur_altsetting
        hdesc = usb_get_extra_descriptor(self.udev, interface.extra, HidDescriptorType.HID,
                                         _HID_DESCRIPTOR_SIZE)
        if hdesc is None and interface.endpoint:
            hdesc = usb_get_extra_descriptor(self.udev, interface.endpoint[0].extra,
                                             HidDescriptorType.HID, _HID_DESCRIPTOR_SIZE)
        return hdesc

    def _interval(self, bInterval: int) -> int:
        """The polling interval of an interrupt endpoint, with the poll parameter of the
        device's first collection (mouse, joystick, keyboard) when set."""
        hid = self.hid
        interval = bInterval
        if hid.quirks & HidQuirk.FULLSPEED_INTERVAL and self.udev.speed == Speed.HIGH:
            interval = (bInterval * 8).bit_length()
            self.log.info(f"{hid.hid_name}: Fixing fullspeed to highspeed interval: "
                          f"{bInterval} -> {interval}")
        usage = hid.collection[0].usage if hid.collection else 0
        poll = {HID_GD_MOUSE: mousepoll, HID_GD_JOYSTICK: jspoll,
                HID_GD_KEYBOARD: kbpoll}.get(usage, 0)
        return poll if poll > 0 else interval

    async def start(self, hid: HidDevice) -> int:
        """usbhid_start(): buffers sized by the largest report (64 bytes at least, 16384
        at most), the IN URB (the largest input report) and an OUT URB from the first
        interrupt endpoints of each direction, the control URB; a boot keyboard's Num
        Lock LED is switched off.  Returns 0.  Context: may sleep."""
        async with self.mutex:
            self.iofl &= ~IoFlag.DISCONNECTED
            sizes = {t: _max_report(hid, t) for t in ReportType}
            self.bufsize = min(max(HID_MIN_BUFFER_SIZE, *sizes.values()), HID_MAX_BUFFER_SIZE)
            insize = min(sizes[ReportType.INPUT], HID_MAX_BUFFER_SIZE)
            self.inbuf = bytearray(self.bufsize)
            self.outbuf = bytearray(self.bufsize)
            self.ctrlbuf = bytearray(self.bufsize)
            for hep in self.intf.cur_altsetting.endpoint:
                epd = hep.desc
                if epd.type != EndpointType.INT:
                    continue
                interval = self._interval(epd.bInterval)
                pipe = make_pipe(self.udev, PIPE_INTERRUPT, epd.number, epd.is_in)
                if epd.is_in and self.urbin is None:
                    self.urbin = Urb().fill_int(self.udev, pipe, self.inbuf, insize,
                                                self.hid_irq_in, hid, interval)
                elif not epd.is_in and self.urbout is None:
                    self.urbout = Urb().fill_int(self.udev, pipe, self.outbuf, 0,
                                                 self.hid_irq_out, hid, interval)
            self.urbctrl = Urb().fill_control(self.udev, 0, bytes(8), self.ctrlbuf, 1,
                                              self.hid_ctrl, hid)
            self.iofl |= IoFlag.STARTED
            desc = self.intf.cur_altsetting.desc
            if desc.bInterfaceSubClass == HidSubclass.BOOT \
                    and desc.bInterfaceProtocol == HidBootProtocol.KEYBOARD:
                self.set_leds()
                self.udev.wakeup_enabled = True      # device_set_wakeup_enable(.., 1)
            return 0

    def set_leds(self) -> None:
        """usbhid_set_leds(): Num Lock off, as a BIOS leaves keyboards (some do not work
        until their LEDs are set).  Context: atomic."""
        found = _find_field_early(self.hid, _HID_UP_LED, 0x01)
        if found is not None:
            fld, offset = found
            hid_set_field(fld, offset, 0)
            self.submit_report(fld.report, USB_DIR_OUT)

    async def stop(self, hid: HidDevice) -> None:
        """usbhid_stop(): no more I/O — the control queue dropped, every URB killed, the
        timer and reset work cancelled, the URBs freed.  Context: may sleep."""
        if hid.quirks & HidQuirk.ALWAYS_POLL:
            self.iofl &= ~IoFlag.IN_POLLING
            self.intf.needs_remote_wakeup = False
        async with self.mutex:
            self.iofl = (self.iofl & ~IoFlag.STARTED) | IoFlag.DISCONNECTED
            self.ctrl.clear()
            for urb in (self.urbin, self.urbout, self.urbctrl):
                await usb_kill_urb(urb)
            await self.cancel_delayed_stuff()
            hid.claimed = HidClaimed(0)
            self.urbin = self.urbout = self.urbctrl = None

    async def open(self, hid: HidDevice) -> int:
        """usbhid_open(): start polling — the IN URB submitted (a failure other than
        -ENOSPC goes to the retry timer; -ENOSPC fails with -EBUSY), then 50 ms during
        which reports are dropped.  Context: may sleep."""
        async with self.mutex:
            self.iofl |= IoFlag.OPENED
            if hid.quirks & HidQuirk.ALWAYS_POLL:
                return 0
            self.intf.needs_remote_wakeup = True
            self.iofl |= IoFlag.RESUME_RUNNING | IoFlag.IN_POLLING
            res = self.hid_start_in()
            if res and res != -Errno.ENOSPC:
                self.hid_io_error()
                res = 0
            elif res:
                res = -Errno.EBUSY
                self.iofl &= ~(IoFlag.OPENED | IoFlag.IN_POLLING)
                self.intf.needs_remote_wakeup = False
            if res == 0:
                await sleep_ns(_OPEN_SETTLE_NS)
            self.iofl &= ~IoFlag.RESUME_RUNNING
            return res

    async def close(self, hid: HidDevice) -> None:
        """usbhid_close(): stop polling — the IN URB killed (unless HID_QUIRK_ALWAYS_POLL).
        Context: may sleep."""
        async with self.mutex:
            self.iofl &= ~IoFlag.OPENED
            if hid.quirks & HidQuirk.ALWAYS_POLL:
                return
            self.iofl &= ~IoFlag.IN_POLLING
            await self.cancel_delayed_stuff()
            await usb_kill_urb(self.urbin)
            self.intf.needs_remote_wakeup = False

    def request(self, hid: HidDevice, report: HidReport, reqtype: HidRequest) -> None:
        """usbhid_request(): GET_REPORT or SET_REPORT of a parsed report, queued.
        Context: atomic."""
        if reqtype == HidRequest.GET_REPORT:
            self.submit_report(report, USB_DIR_IN)
        elif reqtype == HidRequest.SET_REPORT:
            self.submit_report(report, USB_DIR_OUT)

    async def wait_io(self, hid: HidDevice) -> int:
        """usbhid_wait_io(): wait (10 s at most) for both queues to drain; 0, or -1 on
        timeout.  Context: may sleep."""
        drained = await self.wait.wait_event(
            lambda: not self.iofl & (IoFlag.CTRL_RUNNING | IoFlag.OUT_RUNNING), _WAIT_IO_MS)
        return 0 if drained else -1

    async def raw_request(self, hid: HidDevice, reportnum: int, buf: bytearray, length: int,
                          rtype: ReportType, reqtype: HidRequest) -> int:
        """usbhid_raw_request(): GET_REPORT into `buf` or SET_REPORT of its first `length`
        bytes on the control pipe; byte 0 is the report id (not sent when 0, but
        counted).  Returns the byte count or -errno (-EIO for another request).
        Context: may sleep."""
        if reqtype == HidRequest.GET_REPORT:
            return await self._get_raw_report(reportnum, buf, length, rtype)
        if reqtype == HidRequest.SET_REPORT:
            return await self._set_raw_report(reportnum, buf, length, rtype)
        return -Errno.EIO

    async def _get_raw_report(self, reportnum: int, buf: bytearray, count: int,
                              rtype: ReportType) -> int:
        buf[0] = reportnum
        skip = reportnum == 0
        data = bytearray(count - skip)
        ret = await usb_control_msg(self.udev, make_pipe(self.udev, PIPE_CONTROL, 0, True),
                                    HidRequest.GET_REPORT, USB_DIR_IN | _CLASS_INTERFACE,
                                    ((rtype + 1) << 8) | reportnum, self.ifnum, data,
                                    len(data), USB_CTRL_SET_TIMEOUT)
        if ret > 0:
            buf[skip:skip + ret] = data[:ret]
            ret += skip
        return ret

    async def _set_raw_report(self, reportnum: int, buf: bytearray, count: int,
                              rtype: ReportType) -> int:
        skip_id = rtype == ReportType.OUTPUT \
            and bool(self.hid.quirks & HidQuirk.SKIP_OUTPUT_REPORT_ID)
        buf[0] = 0 if skip_id else reportnum
        skip = buf[0] == 0
        data = bytes(buf[skip:count])
        ret = await usb_control_msg(self.udev, make_pipe(self.udev, PIPE_CONTROL, 0, False),
                                    HidRequest.SET_REPORT, USB_DIR_OUT | _CLASS_INTERFACE,
                                    ((rtype + 1) << 8) | reportnum, self.ifnum, data,
                                    len(data), USB_CTRL_SET_TIMEOUT)
        if ret > 0 and skip:
            ret += 1
        return ret

    async def output_report(self, hid: HidDevice, data: bytes) -> int:
        """usbhid_output_report(): an output report on the interrupt OUT endpoint (a
        leading report id 0 is not sent, but counted).  Returns the byte count,
        -ENOSYS without an OUT endpoint, or -errno.  Context: may sleep."""
        urb = self.urbout
        if urb is None:
            return -Errno.ENOSYS
        skip = bool(data) and data[0] == 0
        payload = bytes(data[skip:])
        ret, actual = await usb_bulk_msg(self.udev, urb.pipe, payload, len(payload),
                                         USB_CTRL_SET_TIMEOUT)
        return actual + skip if ret == 0 else ret

    async def idle(self, hid: HidDevice, report: int, idle: int, reqtype: HidRequest) -> int:
        """usbhid_idle(): SET_IDLE (other requests: -EINVAL).  Context: may sleep."""
        if reqtype != HidRequest.SET_IDLE:
            return -Errno.EINVAL
        return await hid_set_idle(self.udev, self.ifnum, report, idle)

    # -- delayed work, reset and power ----------------------------------------------------------

    async def cancel_delayed_stuff(self) -> None:
        """hid_cancel_delayed_stuff(): the retry timer and the reset work are cancelled.
        Context: may sleep."""
        if self.io_retry is not None:
            self.io_retry.cancel()
            self.io_retry = None
        work = self.reset_work
        self.reset_work = None
        if work is not None and not work.done() and work is not asyncio.current_task():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work

    async def cease_io(self) -> None:
        """hid_cease_io(): the retry timer and every URB stopped.  Context: may sleep."""
        if self.io_retry is not None:
            self.io_retry.cancel()
            self.io_retry = None
        for urb in (self.urbin, self.urbctrl, self.urbout):
            await usb_kill_urb(urb)

    def restart_io(self) -> None:
        """hid_restart_io(): after a resume or reset, input polling and both queues start
        again (or the reset work runs first).  Context: atomic."""
        clear_halt = bool(self.iofl & IoFlag.CLEAR_HALT)
        reset_pending = bool(self.iofl & IoFlag.RESET_PENDING)
        self.iofl &= ~IoFlag.SUSPENDED
        if clear_halt or reset_pending:
            self.schedule_reset()
        self.retry_delay = 0
        if reset_pending or not self.iofl & IoFlag.STARTED:
            return
        if not clear_halt and self.hid_start_in() < 0:
            self.hid_io_error()
        if self.urbout is not None and not self.iofl & IoFlag.OUT_RUNNING:
            self.restart_out_queue()
        if not self.iofl & IoFlag.CTRL_RUNNING:
            self.restart_ctrl_queue()


def _dbg_hid(log: Printk, text: str) -> None:
    """dbg_hid(): a debug message prefixed with the source file, as pr_debug prints it."""
    log.log(Level.DEBUG, f"drivers/hid/usbhid/hid-core.c: {text}")


def _built(report: HidReport) -> bytes:
    """hid_output_report() into a fresh buffer: the bytes a queued report sends."""
    buf = hid_alloc_report_buf(report)
    hid_output_report(report, buf)
    return bytes(buf[:hid_report_len(report)])


def _max_report(hid: HidDevice, type_: ReportType) -> int:
    """hid_find_max_report(): the longest report of a type, with its id byte."""
    report_enum = hid.report_enum[type_]
    return max((((report.size - 1) >> 3) + 1 + report_enum.numbered
                for report in report_enum.report_list), default=0)


_HID_UP_LED: Final = 0x00080000


def _find_field_early(hid: HidDevice, page: int, code: int) -> tuple[HidField, int] | None:
    """hid_find_field_early(): the output field and index of usage `code` of `page`."""
    for report in hid.report_enum[ReportType.OUTPUT].report_list:
        for fld in report.field:
            for j, usage in enumerate(fld.usage):
                if usage.hid & HID_USAGE_PAGE == page and usage.hid & HID_USAGE == code:
                    return fld, j
    return None


def _report_descriptor_size(hdesc: bytes) -> int:
    """The wDescriptorLength of the (last) report descriptor a HID descriptor lists."""
    count = min(hdesc[5], (hdesc[0] - _HID_CLASS_DESCRIPTORS) // 3)
    rsize = 0
    for n in range(count):
        at = _HID_CLASS_DESCRIPTORS + 3 * n
        if hdesc[at] == HidDescriptorType.REPORT:
            rsize = int.from_bytes(hdesc[at + 1:at + 3], "little")
    return rsize


#: hid_irq_in()'s handling of each status; True: resubmit.
_IRQ_IN_STATUS: Final = {
    0: UsbHidDevice._in_report,
    -Errno.EPIPE: UsbHidDevice._in_stall,
    -Errno.ECONNRESET: UsbHidDevice._in_stopped,
    -Errno.ENOENT: UsbHidDevice._in_stopped,
    -Errno.ESHUTDOWN: UsbHidDevice._in_stopped,
    -Errno.EILSEQ: UsbHidDevice._in_io_error,
    -Errno.EPROTO: UsbHidDevice._in_io_error,
    -Errno.ETIME: UsbHidDevice._in_io_error,
    -Errno.ETIMEDOUT: UsbHidDevice._in_io_error,
}
#: Statuses hid_irq_out() and hid_ctrl() take without a warning.
_QUIET_OUT_STATUS: Final = frozenset({0, -Errno.ESHUTDOWN, -Errno.EILSEQ, -Errno.EPROTO,
                                      -Errno.ECONNRESET, -Errno.ENOENT})
_QUIET_CTRL_STATUS: Final = _QUIET_OUT_STATUS | {-Errno.EPIPE}


# -- requests --------------------------------------------------------------------------------------


async def hid_set_idle(dev: UsbDevice, ifnum: int, report: int, idle: int) -> int:
    """hid_set_idle(): SET_IDLE(duration `idle` × 4 ms, report id) to the interface.
    Returns 0 or -errno.  Context: may sleep."""
    return await usb_control_msg(dev, make_pipe(dev, PIPE_CONTROL, 0, False),
                                 HidRequest.SET_IDLE, _CLASS_INTERFACE, (idle << 8) | report,
                                 ifnum, None, 0, USB_CTRL_SET_TIMEOUT)


async def hid_get_class_descriptor(dev: UsbDevice, ifnum: int, dtype: int,
                                   size: int) -> tuple[int, bytes]:
    """hid_get_class_descriptor(): GET_DESCRIPTOR of a class descriptor of the interface,
    tried up to 4 times while shorter than `size`.  Returns (bytes read or -errno, the
    `size`-byte buffer, zero-filled past what came).  Context: may sleep."""
    buf = bytearray(size)
    result = 0
    for _ in range(4):
        result = await usb_control_msg(dev, make_pipe(dev, PIPE_CONTROL, 0, True),
                                       _GET_DESCRIPTOR, _STANDARD_INTERFACE_IN, dtype << 8,
                                       ifnum, buf, size, USB_CTRL_GET_TIMEOUT)
        if result >= size:
            break
    return result, bytes(buf)


# -- the interface driver --------------------------------------------------------------------------


def _hid_name(dev: UsbDevice) -> str:
    """usbhid_probe()'s name: "<manufacturer> <product>", either alone, else
    "HID vvvv:pppp" (127 characters at most)."""
    name = " ".join(text for text in (dev.manufacturer, dev.product) if text)
    if not name and dev.descriptor is not None:
        name = f"HID {dev.descriptor.idVendor:04x}:{dev.descriptor.idProduct:04x}"
    return name[:127]


async def _serial(dev: UsbDevice) -> str:
    """uniq: the serial number string read again (63 characters at most), else ""."""
    index = dev.descriptor.iSerialNumber if dev.descriptor is not None else 0
    if not isinstance(index, int):
        return ""
    text = await usb_string(dev, index, 64)
    return text if isinstance(text, str) else ""


def _has_int_in(intf: UsbInterface) -> bool:
    return any(hep.type == EndpointType.INT and hep.desc.is_in
               for hep in intf.cur_altsetting.endpoint)


async def usbhid_probe(intf: UsbInterface, id: UsbDeviceId) -> int:
    """usbhid_probe(): a hid device for the interface, filled in and added to the hid bus
    (which reads and parses its report descriptor).  Returns 0, -ENODEV without an
    interrupt IN endpoint ("couldn't find an input interrupt endpoint"), or
    hid_add_device's error ("can't add hid device: %d" unless -ENODEV).  Context: may
    sleep."""
    dev = intf.usb_dev
    log = dev.usb_bus.core.log
    if not _has_int_in(intf):
        log.dev_err(intf, "couldn't find an input interrupt endpoint")
        return -Errno.ENODEV
    hid = hid_allocate_device()
    usbhid = UsbHidDevice(hid, intf)
    intf.driver_data = usbhid
    hid.ll_driver = usbhid.ll_driver
    hid.parent = intf
    hid.bustype = BUS_USB
    if dev.descriptor is not None:
        hid.vendor = dev.descriptor.idVendor
        hid.product = dev.descriptor.idProduct
        hid.version = dev.descriptor.bcdDevice
    protocol = intf.cur_altsetting.desc.bInterfaceProtocol
    hid.type = HidType.USBMOUSE if protocol == HidBootProtocol.MOUSE else \
        HidType.USBNONE if protocol == 0 else HidType.OTHER
    hid.hid_name = _hid_name(dev)
    number = intf.altsetting[0].desc.bInterfaceNumber or 0
    hid.phys = f"{usb_make_path(dev)}/input{number}"[:63]
    hid.uniq = await _serial(dev)
    ret = await hid_add_device(hid)
    if ret:
        if ret != -Errno.ENODEV:
            log.dev_err(intf, f"can't add hid device: {ret}")
        await hid_destroy_device(hid)
        intf.driver_data = None
        return ret
    return 0


def usbhid_of(intf: UsbInterface) -> UsbHidDevice | None:
    """usb_get_intfdata() of an interface usbhid drives: its transport state.
    Context: atomic."""
    data = intf.driver_data
    return data if isinstance(data, UsbHidDevice) else None


async def usbhid_disconnect(intf: UsbInterface) -> None:
    """usbhid_disconnect(): no more I/O, and the hid device goes (its driver and input
    devices first).  Context: may sleep."""
    usbhid = usbhid_of(intf)
    if usbhid is None:
        return
    usbhid.iofl |= IoFlag.DISCONNECTED
    await hid_destroy_device(usbhid.hid)


async def hid_pre_reset(intf: UsbInterface) -> int:
    """hid_pre_reset(): I/O stops while the device resets.  Returns 0.  Context: may
    sleep."""
    usbhid = usbhid_of(intf)
    if usbhid is not None:
        usbhid.iofl |= IoFlag.RESET_PENDING
        await usbhid.cease_io()
    return 0


async def hid_post_reset(intf: UsbInterface) -> int:
    """hid_post_reset(): after a reset the report descriptor is read again — a changed
    one means a rebind (-EPERM) — then SET_IDLE 0 and I/O restarts.  Returns 0 or
    -errno.  Context: may sleep."""
    usbhid = usbhid_of(intf)
    if usbhid is None:
        return 0
    hid = usbhid.hid
    status, rdesc = await hid_get_class_descriptor(usbhid.udev, usbhid.ifnum,
                                                   HidDescriptorType.REPORT, hid.dev_rsize)
    if status < 0:
        return status
    if rdesc != hid.dev_rdesc:
        return -Errno.EPERM
    usbhid.iofl &= ~(IoFlag.RESET_PENDING | IoFlag.CLEAR_HALT)
    await hid_set_idle(usbhid.udev, usbhid.ifnum, 0, 0)
    usbhid.restart_io()
    return 0


#: What keeps a device awake when runtime PM asks to suspend it.
_BUSY: Final = (IoFlag.RESET_PENDING | IoFlag.CLEAR_HALT | IoFlag.OUT_RUNNING
                | IoFlag.CTRL_RUNNING | IoFlag.KEYS_PRESSED)


async def hid_suspend(intf: UsbInterface, message: str) -> int:
    """hid_suspend(): stop the I/O — the timer, the reset work and every URB.  An
    autosuspend is refused (-EBUSY) while a reset, a halt, a queued report or a key
    held is pending, or an LED is on (unless `ignoreled`); a system suspend first lets
    the queues drain (-EIO if they do not).  Context: may sleep."""
    usbhid = usbhid_of(intf)
    if usbhid is None:
        return 0
    auto = message == PMSG_AUTO_SUSPEND
    status = 0
    if auto:
        if usbhid.iofl & _BUSY or (hidinput_count_leds(usbhid.hid) and not ignoreled):
            return -Errno.EBUSY
        usbhid.iofl |= IoFlag.SUSPENDED
    else:
        usbhid.iofl |= IoFlag.SUSPENDED
        if await usbhid.wait_io(usbhid.hid) < 0:
            status = -Errno.EIO
    await usbhid.cancel_delayed_stuff()
    await usbhid.cease_io()
    if auto and usbhid.iofl & IoFlag.KEYS_PRESSED:  # lost the race against a key press
        usbhid.restart_io()
        return -Errno.EBUSY
    return status


async def hid_resume(intf: UsbInterface) -> int:
    """hid_resume(): I/O restarts.  Returns 0.  Context: may sleep."""
    usbhid = usbhid_of(intf)
    if usbhid is not None:
        usbhid.restart_io()
    return 0


hid_usb_ids: Final[list[UsbDeviceId]] = [
    UsbDeviceId(MatchFlag.INT_CLASS, bInterfaceClass=0x03),  # USB_INTERFACE_CLASS_HID
    UsbDeviceId(),  # Terminating entry
]
module_device_table("usb", hid_usb_ids)

hid_driver = UsbDriver(
    "usbhid", id_table=hid_usb_ids, probe=usbhid_probe, disconnect=usbhid_disconnect,
    suspend=hid_suspend, resume=hid_resume, reset_resume=hid_post_reset,
    pre_reset=hid_pre_reset, post_reset=hid_post_reset, supports_autosuspend=True)


async def hid_init() -> int:
    """hid_init(): register the driver; "usbhid: USB HID core driver"."""
    usb = current_usbcore()
    try:
        await usb_register(usb, hid_driver)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    usb.log.info(f"usbhid: {DRIVER_DESC}")
    return 0


async def hid_exit() -> None:
    """hid_exit(): deregister the driver (every hid device it added goes)."""
    await usb_deregister(current_usbcore(), hid_driver)


module_init(hid_init)
module_exit(hid_exit)

module_info("depends", "hid")
module_author("Andreas Gal")
module_author("Vojtech Pavlik")
module_author("Jiri Kosina")
module_description(DRIVER_DESC)
module_license("GPL")
