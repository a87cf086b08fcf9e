"""Host controller framework and the emulated root hub — counterpart of
drivers/usb/core/hcd.c (and struct usb_hcd / hc_driver of include/linux/usb/hcd.h).

`HostController` is what a host controller driver subclasses: it implements the hc_driver
operations (`start`, `stop`, `urb_enqueue`, `urb_dequeue`, `endpoint_disable`,
`get_frame_number`, `hub_status_data`, `hub_control`, `bus_suspend`, `bus_resume`) and
leaves the rest to this framework: URB bookkeeping on endpoint queues, unlinking, the
giveback path (completions run in a bottom half, batched, never inside the submitter's
call — except for usbcore's own synchronous waiters, whose completion is not driver code),
waiting for a killed URB, flushing endpoints, and the root hub.  The root hub is answered
in software exactly as hcd.c answers it: its descriptors, its standard requests, hub-class
requests handed to `hub_control`, and its status-change URB parked until
`poll_rh_status()` finds a change (`rh_urb_enqueue`).

It does not move data: that is the controller's job (`usbemu.host`).
"""

from __future__ import annotations

import asyncio
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Final

from ..errors import Errno
from ..kernel.device import Device
from ..spec.ch9 import (
    LANGID_EN_US,
    ConfigAttributes,
    DescriptorType,
    DeviceState,
    Request,
    SetupPacket,
    Speed,
)
from ..spec.descriptors import (
    ConfigDescriptor,
    DescriptorSet,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    build_descriptors,
    langid_descriptor,
    string_descriptor,
)
from .urb import PIPE_CONTROL, PIPE_INTERRUPT, Urb, UrbFlag, usb_pipetype

if TYPE_CHECKING:
    from .driver import UsbBusType
    from .usb import UsbDevice, UsbHostEndpoint
    from .usbcore import UsbCore

_SHORT_NOT_OK: Final = int(UrbFlag.SHORT_NOT_OK)

#: Root hub vendor (Linux Foundation) and product per controller generation.
RH_VENDOR: Final = 0x1D6B
RH_PRODUCT: Final = {Speed.FULL: 0x0001, Speed.HIGH: 0x0002, Speed.SUPER: 0x0003}
RH_BCDUSB: Final = {Speed.FULL: 0x0110, Speed.HIGH: 0x0200, Speed.SUPER: 0x0300}


def root_hub_descriptor(speed: Speed, bcd_device: int, has_tt: bool) -> DeviceDescriptor:
    """The root hub's device and configuration descriptors (hcd.c usb*_rh_dev_descriptor,
    fs_rh_config_descriptor / hs_rh_config_descriptor)."""
    high = speed >= Speed.HIGH
    endpoint = EndpointDescriptor.interrupt(0x81, 4 if high else 2, 0x0C if high else 0xFF)
    config = ConfigDescriptor(
        interfaces=(InterfaceDescriptor(9, 0, 0, (endpoint,), bInterfaceNumber=0),),
        bConfigurationValue=1, bmAttributes=ConfigAttributes.ONE | ConfigAttributes.SELF_POWERED
        | ConfigAttributes.REMOTE_WAKEUP, bMaxPower=0)
    return DeviceDescriptor(
        idVendor=RH_VENDOR, idProduct=RH_PRODUCT[min(speed, Speed.SUPER)],
        bcdDevice=bcd_device, bcdUSB=RH_BCDUSB[min(speed, Speed.SUPER)], bDeviceClass=9,
        bDeviceProtocol=1 if high and has_tt else 0, bMaxPacketSize0=64,
        iManufacturer=3, iProduct=2, iSerialNumber=1, configurations=(config,))


class UsbBus:
    """struct usb_bus: one bus, its number, its root hub and its device addresses."""

    def __init__(self, core: UsbCore, hcd: HostController, busnum: int) -> None:
        self.core = core
        self.hcd = hcd
        self.busnum = busnum
        self.controller: Device = hcd.controller
        self.bus_name = hcd.controller.name
        self.root_hub: UsbDevice | None = None
        self.devmap: set[int] = set()
        self.devnum_next = 1
        self.bandwidth_allocated = 0
        self.bandwidth_int_reqs = 0
        self.bandwidth_isoc_reqs = 0

    @property
    def bus_type(self) -> UsbBusType:
        return self.core.bus_type

    def choose_devnum(self) -> int:
        """choose_devnum(): the first free address from devnum_next up, wrapping to 1;
        0 when all 127 are taken."""
        start = self.devnum_next
        for devnum in itertools.chain(range(start, 128), range(1, start)):
            if devnum not in self.devmap:
                self.devmap.add(devnum)
                self.devnum_next = 1 if devnum >= 127 else devnum + 1
                return devnum
        return 0

    def release_devnum(self, devnum: int) -> None:
        self.devmap.discard(devnum)


class HostController(ABC):
    """struct usb_hcd plus the hc_driver operations a controller implements."""

    #: hc_driver.description, e.g. "ehci_hcd".
    description: ClassVar[str] = "hcd"
    #: hc_driver.product_desc, e.g. "EHCI Host Controller".
    product_desc: ClassVar[str] = "USB Host Controller"
    #: Speed of the root hub (HCD_USB11 → full, HCD_USB2 → high, HCD_USB3 → super).
    rh_speed: ClassVar[Speed] = Speed.HIGH
    #: The root hub has a transaction translator (full/low-speed devices on root ports).
    has_tt: bool = False

    def __init__(self, core: UsbCore, controller: Device, nports: int) -> None:
        if not 1 <= nports <= 31:
            raise ValueError(f"nports={nports}: a root hub has 1..31 ports")
        self.core = core
        self.controller = controller
        self.nports = nports
        self.bus: UsbBus | None = None
        self.running = False
        self.rh_registered = False
        self.status_urb: Urb | None = None
        self.poll_pending = False
        self.rh_remote_wakeup = False
        self._bh: list[Urb] = []
        self._bh_scheduled = False
        self._after_bh: list[Callable[[], None]] = []
        self._idle_waiters: dict[Urb, list[asyncio.Future[None]]] = {}
        #: dev_WARN_ONCE sites that have fired on this bus.
        self.warned_once: set[str] = set()
        self._rh_descriptors: DescriptorSet | None = None
        self.loop = core.loop

    def __repr__(self) -> str:
        busnum = self.bus.busnum if self.bus else "?"
        return f"<{type(self).__name__} bus {busnum} {self.controller.name}>"

    # -- hc_driver operations (a controller overrides these) ----------------------------------

    def start(self) -> int:
        """Start the hardware; 0 or -errno.  Context: may not sleep."""
        return 0

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop the hardware; every URB has been given back already."""

    @abstractmethod
    def urb_enqueue(self, urb: Urb) -> int:
        """Queue a URB (call `link_urb_to_ep` first); 0 or -errno.  Context: atomic."""

    @abstractmethod
    def urb_dequeue(self, urb: Urb, status: int) -> int:
        """Cancel a URB (call `check_unlink_urb` first), giving it back later with
        urb.unlinked as status; 0 or -errno.  Context: atomic."""

    def endpoint_disable(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:  # noqa: B027 - optional hook
        """The endpoint's queue is empty and it goes away: drop controller state."""

    def get_frame_number(self) -> int:
        return int(self.loop.time() * 1000) & 0x7FF

    def hub_status_data(self) -> bytes:
        """Root hub status-change bitmap (bit 0 hub, bit N port N); all zero = no change."""
        return bytes((self.nports + 8) // 8)

    def hub_control(self, setup: SetupPacket, buf: memoryview) -> int:
        """A hub-class request to the root hub; bytes written to `buf` or -errno."""
        return -Errno.EPIPE

    def endpoint_reset(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:  # noqa: B027 - optional hook
        """usb_hcd_reset_endpoint(): forget the endpoint's data toggle (after clear-halt)."""

    def bus_suspend(self) -> int:
        return 0

    def bus_resume(self) -> int:
        return 0

    # -- URB bookkeeping (hcd.c) --------------------------------------------------------------

    def submit_urb(self, urb: Urb) -> int:
        """usb_hcd_submit_urb(): the root hub's software path or the controller's."""
        dev = urb.dev
        assert dev is not None
        urb.use_count += 1
        dev.urbnum += 1
        rc = self._rh_urb_enqueue(urb) if dev.usb_parent is None else self.urb_enqueue(urb)
        if rc:
            urb.hcpriv = None
            urb.use_count -= 1
            dev.urbnum -= 1
            self._wake_idle(urb)
        return rc

    def link_urb_to_ep(self, urb: Urb) -> int:
        """usb_hcd_link_urb_to_ep(): -EPERM while the URB is being killed, -ENOENT if the
        endpoint is disabled, -EHOSTUNREACH if the device is suspended, -ESHUTDOWN if the
        controller is not running."""
        hep, dev = urb.ep, urb.dev
        assert hep is not None and dev is not None
        if urb.reject:
            return -Errno.EPERM
        if not hep.enabled:
            return -Errno.ENOENT
        if dev.state is DeviceState.SUSPENDED:
            return -Errno.EHOSTUNREACH
        if not self.running:
            return -Errno.ESHUTDOWN
        urb.unlinked = 0
        urb.hcpriv = hep
        hep.urb_list.append(urb)
        return 0

    def check_unlink_urb(self, urb: Urb, status: int) -> int:
        """usb_hcd_check_unlink_urb(): -EIDRM if not queued, -EBUSY if already unlinked."""
        hep = urb.ep
        if hep is None or urb not in hep.urb_list:
            return -Errno.EIDRM
        if urb.unlinked:
            return -Errno.EBUSY
        urb.unlinked = status
        return 0

    def unlink_urb_from_ep(self, urb: Urb) -> None:
        hep = urb.ep
        if hep is not None and urb in hep.urb_list:
            hep.urb_list.remove(urb)

    def unlink_urb(self, urb: Urb, status: int) -> int:
        """usb_hcd_unlink_urb(): -EINPROGRESS when the unlink started, else -errno."""
        if urb.use_count == 0:
            return -Errno.EIDRM
        dev = urb.dev
        assert dev is not None
        rc = self._rh_urb_dequeue(urb, status) if dev.is_root_hub else \
            self.urb_dequeue(urb, status)
        return -Errno.EINPROGRESS if rc == 0 else rc

    def giveback_urb(self, urb: Urb, status: int) -> None:
        """usb_hcd_giveback_urb(): the controller is done with `urb` (already unlinked from
        its endpoint).  The completion runs in the bottom half.  Context: atomic."""
        urb.hcpriv = None
        if urb.unlinked:
            status = urb.unlinked
        elif (status == 0 and urb.transfer_flags & _SHORT_NOT_OK
              and urb.actual_length < urb.transfer_buffer_length):
            status = -Errno.EREMOTEIO
        urb.status = status
        if urb._inline:
            self._complete(urb)
            return
        self._bh.append(urb)
        if not self._bh_scheduled:
            self._bh_scheduled = True
            self.loop.call_soon(self._run_bh)

    def after_giveback(self, action: Callable[[], None]) -> None:
        """Run `action` once the completions now pending have run (a controller resumes an
        endpoint queue after an error this way)."""
        self._after_bh.append(action)
        if not self._bh_scheduled:
            self._bh_scheduled = True
            self.loop.call_soon(self._run_bh)

    def _run_bh(self) -> None:
        self._bh_scheduled = False
        batch, self._bh = self._bh, []
        for urb in batch:
            self._complete(urb)
        actions, self._after_bh = self._after_bh, []
        for action in actions:
            action()

    def _complete(self, urb: Urb) -> None:
        anchor = urb._anchor
        if anchor is not None:
            anchor.unanchor(urb)
        complete = urb.complete
        try:
            if complete is not None:
                complete(urb)
        except Exception as exc:  # a driver bug in atomic context: oops, carry on
            self.core.driver_core.oops(f"URB completion handler {complete!r}", exc)
        urb.use_count -= 1
        if self._idle_waiters:
            self._wake_idle(urb)

    def _wake_idle(self, urb: Urb) -> None:
        if urb.use_count == 0:
            for fut in self._idle_waiters.pop(urb, ()):
                if not fut.done():
                    fut.set_result(None)

    async def wait_idle(self, urb: Urb) -> None:
        """Sleep until `urb` is neither queued nor in its completion handler."""
        if urb.use_count == 0:
            return
        fut: asyncio.Future[None] = self.loop.create_future()
        self._idle_waiters.setdefault(urb, []).append(fut)
        await fut

    async def flush_endpoint(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:
        """usb_hcd_flush_endpoint(): unlink every queued URB with -ESHUTDOWN and wait for
        their completions.  Context: may sleep."""
        while hep.urb_list:
            pending = list(hep.urb_list)
            for urb in pending:
                self.unlink_urb(urb, -Errno.ESHUTDOWN)
            for urb in pending:
                await self.wait_idle(urb)

    async def disable_endpoint(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:
        """usb_hcd_disable_endpoint() after a flush: the endpoint refuses new URBs."""
        hep.enabled = False
        await self.flush_endpoint(udev, hep)
        self.endpoint_disable(udev, hep)

    # -- the root hub (rh_call_control, rh_queue_status, usb_hcd_poll_rh_status) --------------

    def root_hub_strings(self) -> dict[int, str]:
        """Root hub strings: 1 serial (bus name), 2 product, 3 manufacturer."""
        uname = self.core.uname
        return {1: self.controller.name, 2: self.product_desc,
                3: f"{uname.sysname} {uname.release} {self.description}"}

    def _rh_urb_enqueue(self, urb: Urb) -> int:
        ptype = usb_pipetype(urb.pipe)
        if ptype == PIPE_INTERRUPT:
            return self._rh_queue_status(urb)
        if ptype == PIPE_CONTROL:
            return self._rh_call_control(urb)
        return -Errno.EINVAL

    def _rh_queue_status(self, urb: Urb) -> int:
        if self.status_urb is not None or urb.transfer_buffer_length < (self.nports + 8) // 8:
            return -Errno.EINVAL
        rc = self.link_urb_to_ep(urb)
        if rc:
            return rc
        self.status_urb = urb
        if self.poll_pending:
            self.poll_rh_status()
        return 0

    def poll_rh_status(self) -> None:
        """usb_hcd_poll_rh_status(): hand a status-change bitmap to the hub driver's URB,
        or remember that one is waiting.  Context: atomic."""
        if not self.rh_registered:
            return
        bitmap = self.hub_status_data()
        if not any(bitmap):
            return
        urb = self.status_urb
        if urb is None:
            self.poll_pending = True
            return
        self.poll_pending = False
        self.status_urb = None
        view = urb.buffer_view()
        n = min(len(bitmap), len(view))
        view[:n] = bitmap[:n]
        urb.actual_length = n
        self.unlink_urb_from_ep(urb)
        self.giveback_urb(urb, 0)

    def _rh_urb_dequeue(self, urb: Urb, status: int) -> int:
        rc = self.check_unlink_urb(urb, status)
        if rc:
            return rc
        if urb is self.status_urb:
            self.status_urb = None
        self.unlink_urb_from_ep(urb)
        self.giveback_urb(urb, status)
        return 0

    def _rh_call_control(self, urb: Urb) -> int:
        rc = self.link_urb_to_ep(urb)
        if rc:
            return rc
        assert urb.setup_packet is not None
        setup = SetupPacket.unpack(urb.setup_packet)
        view = urb.buffer_view()
        result = self._rh_request(setup, view)
        urb.actual_length = max(result, 0)
        self.unlink_urb_from_ep(urb)
        self.giveback_urb(urb, min(result, 0))
        return 0

    def _rh_request(self, setup: SetupPacket, buf: memoryview) -> int:
        """Answer one root-hub request: bytes written, or -EPIPE (STALL)."""
        if setup.type != 0:
            return self.hub_control(setup, buf)
        handler = _RH_STANDARD.get((setup.bmRequestType, setup.bRequest))
        if handler is None:
            return -Errno.EPIPE
        reply = handler(self, setup)
        if reply is None:
            return -Errno.EPIPE
        n = min(len(reply), setup.wLength, len(buf))
        if n:
            buf[:n] = reply[:n]
        return n

    def _rh_descriptor(self, setup: SetupPacket) -> bytes | None:
        dtype, index = setup.wValue >> 8, setup.wValue & 0xFF
        if dtype == DescriptorType.STRING:
            if index == 0:
                return langid_descriptor((LANGID_EN_US,))
            text = self.root_hub_strings().get(index)
            return None if text is None else string_descriptor(text)
        if self._rh_descriptors is None:
            self._rh_descriptors = build_descriptors(
                root_hub_descriptor(self.rh_speed, self.core.uname.bcd_version, self.has_tt))
        return self._rh_descriptors.get(dtype, index)

    def _rh_status(self, setup: SetupPacket) -> bytes:
        if setup.recipient == 0:
            return bytes((1 | (2 if self.rh_remote_wakeup else 0), 0))
        return b"\0\0"

    def _rh_feature(self, setup: SetupPacket) -> bytes | None:
        if setup.wValue != 1:  # DEVICE_REMOTE_WAKEUP
            return None
        self.rh_remote_wakeup = setup.bRequest == Request.SET_FEATURE
        return b""


_RH_STANDARD: Final[dict[tuple[int, int], Callable[[HostController, SetupPacket],
                                                   bytes | None]]] = {
    (0x80, Request.GET_STATUS): HostController._rh_status,
    (0x81, Request.GET_STATUS): HostController._rh_status,
    (0x82, Request.GET_STATUS): HostController._rh_status,
    (0x00, Request.CLEAR_FEATURE): HostController._rh_feature,
    (0x00, Request.SET_FEATURE): HostController._rh_feature,
    (0x80, Request.GET_CONFIGURATION): lambda hcd, s: b"\x01",
    (0x00, Request.SET_CONFIGURATION): lambda hcd, s: b"",
    (0x80, Request.GET_DESCRIPTOR): HostController._rh_descriptor,
    (0x81, Request.GET_INTERFACE): lambda hcd, s: b"\x00",
    (0x01, Request.SET_INTERFACE): lambda hcd, s: b"",
    (0x00, Request.SET_ADDRESS): lambda hcd, s: b"",
}
