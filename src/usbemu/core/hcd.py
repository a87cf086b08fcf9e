"""Host controller framework and the emulated root hub — counterpart of
drivers/usb/core/hcd.c (and struct usb_hcd / hc_driver of include/linux/usb/hcd.h).

`HostController` is what a host controller driver subclasses.  It must implement the
hc_driver operations every controller has (`urb_enqueue`, `urb_dequeue`,
`hub_status_data`, `hub_control`) and may implement the optional ones Linux lets a driver
leave NULL — `reset`, `start`/`stop`, `address_device`, `enable_device`, `reset_device`,
`update_device`, `add_endpoint`/`drop_endpoint`/`check_bandwidth`/`reset_bandwidth`,
`endpoint_disable`, `endpoint_reset`, `get_frame_number`, `bus_suspend`/`bus_resume`.
`ops` says which optional ones a controller class has; the framework calls them where
Linux calls them (`hub_set_address`, `hub_enable_device`, `hub_port_reset`,
`hub_port_init`, `usb_hcd_alloc_bandwidth` from usb_set_configuration and
usb_set_interface, `usb_hcd_disable_endpoint`, `usb_hcd_reset_endpoint`,
`hcd_bus_suspend`/`hcd_bus_resume`) and does Linux's default where one is missing.

Everything else is the framework's: URB bookkeeping on endpoint queues, unlinking, the
giveback path, waiting for a killed URB, flushing endpoints, the usbmon hooks, and the
root hub.  Completions run in a bottom half (batched, in giveback order, never inside the
submitter's call), except that usbcore's own synchronous waiters (`Urb.complete_inline`)
complete inside the giveback when nothing given back before them is still waiting for
its completion — so the URBs of one endpoint always complete in submission order.  The
three usbmon hook points are Linux's: submit (before the URB reaches the controller),
submit error, and giveback (with the final status, just before the completion handler);
with no monitor attached they cost one attribute test.  The root hub is answered in
software exactly as hcd.c answers it: its descriptors, its standard requests, hub-class
requests handed to `hub_control`, its status-change URB parked until `poll_rh_status()`
finds a change (`rh_urb_enqueue`), and its registration (`register_root_hub`).  A
SuperSpeed root hub has USB 3's descriptors (bcdUSB 0x0300, bMaxPacketSize0 9, the
endpoint companion) and hands GET_DESCRIPTOR(BOS) to `hub_control`, as hcd.c does.  A
controller with a USB 2 and a USB 3 root hub (xHCI, vhci-hcd) is two `HostController`s
on one controller device: the primary one names the other in `shared_hcd`, and usbcore
registers both buses, the primary's first.

It does not move data: that is the controller's job (`usbemu.host`).
"""

from __future__ import annotations

import asyncio
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar, Final, Protocol

from ..errors import Errno
from ..kernel.device import Device
from ..spec.ch9 import (
    LANGID_EN_US,
    ConfigAttributes,
    DescriptorType,
    DeviceState,
    EndpointType,
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
    SsEndpointCompanion,
    build_descriptors,
    langid_descriptor,
    string_descriptor,
)
from .urb import PIPE_CONTROL, PIPE_INTERRUPT, Urb, UrbFlag, usb_pipetype
from .usb import UsbDevice

if TYPE_CHECKING:
    from ..kernel.vfs import Node
    from .driver import UsbBusType
    from .usb import UsbHostConfig, UsbHostEndpoint, UsbHostInterface
    from .usbcore import UsbCore

__all__ = [
    "FRAME_TIME_MAX_USECS_ALLOC",
    "HC_OPTIONAL_OPS",
    "HostController",
    "UsbBus",
    "UsbMonitor",
    "hcd_bus_resume",
    "hcd_bus_suspend",
    "ns_to_us",
    "register_root_hub",
    "root_hub_descriptor",
    "usb_calc_bus_time",
    "usb_hcd_alloc_bandwidth",
    "usb_hcd_get_frame_number",
    "usb_hcd_reset_endpoint",
]

_SHORT_NOT_OK: Final = int(UrbFlag.SHORT_NOT_OK)
_EREMOTEIO: Final = -Errno.EREMOTEIO

#: Root hub vendor (Linux Foundation) and product per controller generation.
RH_VENDOR: Final = 0x1D6B
RH_PRODUCT: Final = {Speed.FULL: 0x0001, Speed.HIGH: 0x0002, Speed.SUPER: 0x0003}
RH_BCDUSB: Final = {Speed.FULL: 0x0110, Speed.HIGH: 0x0200, Speed.SUPER: 0x0300}

#: The hc_driver operations a controller may leave out, each with Linux's default.
HC_OPTIONAL_OPS: Final = frozenset({
    "reset", "start", "stop", "address_device", "enable_device", "reset_device", "update_device",
    "add_endpoint", "drop_endpoint", "check_bandwidth", "reset_bandwidth",
    "endpoint_disable", "endpoint_reset", "get_frame_number", "bus_suspend", "bus_resume",
})


#: Bus-time constants of include/linux/usb/hcd.h, in nanoseconds.
BW_HOST_DELAY: Final = 1000
BW_HUB_LS_SETUP: Final = 333
USB2_HOST_DELAY: Final = 5
#: Periodic transfers may take 90 % of a full-speed frame (FRAME_TIME_MAX_USECS_ALLOC).
FRAME_TIME_MAX_USECS_ALLOC: Final = 900


def _bit_time(bytecount: int) -> int:
    """BitTime(): bits on the wire with worst-case bit stuffing (7/6), truncated."""
    return 7 * 8 * bytecount // 6


def usb_calc_bus_time(speed: Speed, is_input: bool, isoc: bool, bytecount: int) -> int:
    """usb_calc_bus_time(): the approximate bus time, in nanoseconds, of one periodic
    transaction of `bytecount` bytes (USB 2.0 §5.11.3), as hcd.c computes it for
    bandwidth reservation.  Raises ValueError for a speed it has no formula for (Linux
    returns -1, "bogus device speed!").  Context: atomic."""
    bits = 31 + 10 * _bit_time(bytecount)
    if speed == Speed.LOW:
        if is_input:
            return 64060 + 2 * BW_HUB_LS_SETUP + BW_HOST_DELAY + 67667 * bits // 1000
        return 64107 + 2 * BW_HUB_LS_SETUP + BW_HOST_DELAY + 66700 * bits // 1000
    if speed == Speed.FULL:
        base = (7268 if is_input else 6265) if isoc else 9107
        return base + BW_HOST_DELAY + 8354 * bits // 1000
    if speed == Speed.HIGH:
        overhead = (38 if isoc else 55) * 8 * 2083
        return (overhead + 2083 * (3 + _bit_time(bytecount))) // 1000 + USB2_HOST_DELAY
    raise ValueError(f"usb_calc_bus_time: no bus time for {speed.name} speed")


def ns_to_us(ns: int) -> int:
    """NS_TO_US(): nanoseconds to microseconds, rounded up.  Context: atomic."""
    return -(-ns // 1000)


#: ss_rh_config_descriptor's status endpoint: (USB_MAXCHILDREN + 1 + 7) / 8 bytes, 256 ms,
#: its companion 2 bytes per interval.
_SS_STATUS_ENDPOINT: Final = EndpointDescriptor.interrupt(
    0x81, 4, 0x0C, companion=SsEndpointCompanion(0, 0, 2))


def root_hub_descriptor(speed: Speed, bcd_device: int, has_tt: bool) -> DeviceDescriptor:
    """The root hub's device and configuration descriptors (hcd.c usb*_rh_dev_descriptor,
    fs_rh_config_descriptor / hs_rh_config_descriptor / ss_rh_config_descriptor).
    Context: atomic."""
    high = speed >= Speed.HIGH
    endpoint = EndpointDescriptor.interrupt(0x81, 4 if high else 2, 0x0C if high else 0xFF)
    if speed >= Speed.SUPER:
        endpoint = _SS_STATUS_ENDPOINT
    config = ConfigDescriptor(
        interfaces=(InterfaceDescriptor(9, 0, 0, (endpoint,), bInterfaceNumber=0),),
        bConfigurationValue=1, bmAttributes=ConfigAttributes.ONE | ConfigAttributes.SELF_POWERED
        | ConfigAttributes.REMOTE_WAKEUP, bMaxPower=0)
    return DeviceDescriptor(
        idVendor=RH_VENDOR, idProduct=RH_PRODUCT[min(speed, Speed.SUPER)],
        bcdDevice=bcd_device, bcdUSB=RH_BCDUSB[min(speed, Speed.SUPER)], bDeviceClass=9,
        bDeviceProtocol=3 if speed >= Speed.SUPER else 1 if high and has_tt else 0,
        bMaxPacketSize0=9 if speed >= Speed.SUPER else 64,
        iManufacturer=3, iProduct=2, iSerialNumber=1, configurations=(config,))


class UsbMonitor(Protocol):
    """What usbmon attaches to a bus (struct usb_mon_operations).  Each hook is atomic and
    must not raise; the URB belongs to the core while it runs and must not be changed."""

    def urb_submit(self, bus: UsbBus, urb: Urb) -> None:
        """The URB is about to reach the controller (usbmon_urb_submit).  Context: atomic."""

    def urb_submit_error(self, bus: UsbBus, urb: Urb, status: int) -> None:
        """The submission just reported failed with `status` (usbmon_urb_submit_error).
        Context: atomic."""

    def urb_complete(self, bus: UsbBus, urb: Urb, status: int) -> None:
        """The URB is given back with its final `status`, before its completion handler
        runs (usbmon_urb_complete).  Context: atomic."""


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
        #: Serialises bandwidth changes (hcd->bandwidth_mutex).
        self.bandwidth_mutex = asyncio.Lock()
        #: Devices at address 0 are enumerated one at a time (hcd->address0_mutex).
        self.address0_mutex = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<UsbBus {self.busnum} {self.bus_name}>"

    @property
    def bus_type(self) -> UsbBusType:
        return self.core.bus_type

    def choose_devnum(self) -> int:
        """choose_devnum(): the first free address from devnum_next up, wrapping to 1;
        0 when all 127 are taken.  Context: atomic."""
        start = self.devnum_next
        for devnum in itertools.chain(range(start, 128), range(1, start)):
            if devnum not in self.devmap:
                self.devmap.add(devnum)
                self.devnum_next = 1 if devnum >= 127 else devnum + 1
                return devnum
        return 0

    def release_devnum(self, devnum: int) -> None:
        """Free an address.  Context: atomic."""
        self.devmap.discard(devnum)


class HostController(ABC):
    """struct usb_hcd plus the hc_driver operations a controller implements.

    A subclass sets the class attributes that identify it, implements the four required
    operations and any optional ones; `ops` (computed per class) names the optional ones it
    overrides, as a non-NULL pointer in struct hc_driver would.
    """

    #: hc_driver.description, e.g. "ehci_hcd".
    description: ClassVar[str] = "hcd"
    #: hc_driver.product_desc, e.g. "EHCI Host Controller".
    product_desc: ClassVar[str] = "USB Host Controller"
    #: The driver of the controller's PCI function ("ehci-pci"), named in "new … USB
    #: device number %d using %s".
    driver_name: ClassVar[str] = "hcd"
    #: A controller that is no PCI function sits on a platform device named this plus
    #: ".<id>" ("vhci_hcd" → vhci_hcd.0); None for a PCI controller.
    platform_name: ClassVar[str | None] = None
    #: Speed of the root hub (HCD_USB11 → full, HCD_USB2 → high, HCD_USB3 → super).
    rh_speed: ClassVar[Speed] = Speed.HIGH
    #: Root ports when the machine does not say (System.add_controller(nports=None)).
    default_nports: ClassVar[int] = 6
    #: The optional hc_driver operations this class implements (see HC_OPTIONAL_OPS).
    ops: ClassVar[frozenset[str]] = frozenset()
    #: The root hub has a transaction translator (full/low-speed devices on root ports).
    has_tt: bool = False
    #: The controller's interrupt line and register window (hcd->irq, hcd->rsrc_start),
    #: printed by usb_add_hcd ("irq %d, io mem 0x%08llx"); None: no such line.
    irq: int | None = None
    rsrc_start: int = 0
    #: HCD_MEMORY: the registers are memory-mapped ("io mem"), else I/O ports ("io port").
    io_memory: ClassVar[bool] = True
    #: The directory under /sys/kernel/debug/usb/ whose <bus_name>/ subdirectory shows
    #: `debug_files()` ("ehci" for ehci-hcd), or None.
    debug_dir: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.ops = frozenset(name for name in HC_OPTIONAL_OPS
                            if getattr(cls, name) is not getattr(HostController, name))

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
        #: The usbmon reader attached to this bus, or None (one attribute test per URB).
        self.monitor: UsbMonitor | None = None
        #: The USB 3 half of a controller with two root hubs (usb_hcd->shared_hcd), set by
        #: the primary one; usbcore registers it right after this one.
        self.shared_hcd: HostController | None = None
        #: The root hub's ports as device models see them, for a controller whose wire
        #: reaches emulated devices (a `usbemu.emulated.port.PortOwner`); None otherwise.
        self.downstream: object | None = None
        self._bh: list[Urb] = []
        self._bh_scheduled = False
        self._after_bh: list[Callable[[], None]] = []
        self._idle_waiters: dict[Urb, list[asyncio.Future[None]]] = {}
        #: Completion handlers running now: a URB they submit starts on the controller's
        #: next pass, not inside the giveback.
        self.completing = 0
        #: dev_WARN_ONCE sites that have fired on this bus.
        self.warned_once: set[str] = set()
        self._rh_descriptors: DescriptorSet | None = None
        self.loop = core.loop

    def __repr__(self) -> str:
        busnum = self.bus.busnum if self.bus else "?"
        return f"<{type(self).__name__} bus {busnum} {self.controller.name}>"

    def has_op(self, name: str) -> bool:
        """Whether this controller implements the optional operation `name` (a non-NULL
        hc_driver pointer).  Context: atomic."""
        return name in self.ops

    # -- required hc_driver operations --------------------------------------------------------

    @abstractmethod
    def urb_enqueue(self, urb: Urb) -> int:
        """Queue a URB (call `link_urb_to_ep` first); 0 or -errno.  Context: atomic."""

    @abstractmethod
    def urb_dequeue(self, urb: Urb, status: int) -> int:
        """Cancel a URB (call `check_unlink_urb` first), giving it back later with
        urb.unlinked as status; 0 or -errno.  Context: atomic."""

    def hub_status_data(self) -> bytes:
        """Root hub status-change bitmap (bit 0 hub, bit N port N); all zero = no change.
        Context: atomic."""
        return bytes((self.nports + 8) // 8)

    def hub_control(self, setup: SetupPacket, buf: memoryview) -> int:
        """A hub-class request to the root hub; bytes written to `buf` or -errno (-EPIPE
        stalls).  Context: atomic."""
        return -Errno.EPIPE

    # -- optional hc_driver operations (Linux's default where one is left out) -----------------

    def reset(self) -> int:
        """One-time set-up of the hardware once its bus is registered (hc_driver.reset,
        e.g. uhci_pci_init counting the ports); 0 or -errno.  Context: atomic."""
        return 0

    def start(self) -> int:
        """Start the hardware; 0 or -errno.  Context: atomic."""
        return 0

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop the hardware; every URB has been given back already.  Context: atomic."""

    async def address_device(self, udev: UsbDevice, timeout_ms: int) -> int:
        """Address the device in the DEFAULT state itself (xHCI, vhci) instead of the
        hub driver's SET_ADDRESS; 0 or -errno.  Without it, hub_set_address sends
        SET_ADDRESS to address 0.  Context: may sleep."""
        return -Errno.ENOSYS

    async def enable_device(self, udev: UsbDevice) -> int:
        """Prepare a device in the DEFAULT state for the new scheme's first descriptor
        read; 0 or -errno.  Without it nothing happens.  Context: may sleep."""
        return 0

    async def reset_device(self, udev: UsbDevice) -> int:
        """The port of `udev` was reset: forget its controller state (the result is
        ignored, as in Linux).  Without it nothing happens.  Context: may sleep."""
        return 0

    async def update_device(self, udev: UsbDevice) -> int:
        """A device was connected and addressed (end of hub_port_init).  Without it
        nothing happens.  Context: may sleep."""
        return 0

    def add_endpoint(self, udev: UsbDevice, hep: UsbHostEndpoint) -> int:
        """Put an endpoint of a new configuration or altsetting on the schedule being
        built; 0 or -errno.  Context: atomic; the caller holds the bandwidth mutex."""
        return 0

    def drop_endpoint(self, udev: UsbDevice, hep: UsbHostEndpoint) -> int:
        """Take an endpoint off the schedule being built; 0 or -errno.
        Context: atomic; the caller holds the bandwidth mutex."""
        return 0

    async def check_bandwidth(self, udev: UsbDevice) -> int:
        """Commit the endpoints added and dropped since the last check; 0, or -ENOSPC
        when the schedule has no room (the configuration or altsetting then fails).
        Without it every configuration fits.  Context: may sleep."""
        return 0

    def reset_bandwidth(self, udev: UsbDevice) -> None:  # noqa: B027 - optional hook
        """Forget the endpoints added and dropped since the last check.
        Context: atomic; the caller holds the bandwidth mutex."""

    def endpoint_disable(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:  # noqa: B027 - optional hook
        """The endpoint's queue is empty and it goes away: drop controller state.
        Context: atomic; called from process context."""

    def endpoint_reset(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:  # noqa: B027 - optional hook
        """Forget the endpoint's data toggle (clear-halt, SET_CONFIGURATION, SET_INTERFACE).
        Without it usbcore clears the toggle bits it keeps.  Context: atomic."""

    def get_frame_number(self) -> int:
        """The current (micro)frame count modulo 2048.  Without it, the machine's clock in
        milliseconds.  Context: atomic."""
        return int(self.loop.time() * 1000) & 0x7FF

    def bus_suspend(self) -> int:
        """Suspend the root hub's ports (global suspend); 0 or -errno.  Without it
        hcd_bus_suspend fails with -ENOENT.  Context: atomic; called from process context."""
        return -Errno.ENOENT

    def bus_resume(self) -> int:
        """Resume the root hub's ports; 0 or -errno.  Without it hcd_bus_resume fails with
        -ENOENT.  Context: atomic; called from process context."""
        return -Errno.ENOENT

    def debug_files(self) -> Mapping[str, Node]:
        """The driver's debugfs files for this bus (name → node), shown under
        /sys/kernel/debug/usb/<debug_dir>/<bus_name>/.  Context: atomic."""
        return {}

    # -- URB bookkeeping (hcd.c) --------------------------------------------------------------

    def submit_urb(self, urb: Urb) -> int:
        """usb_hcd_submit_urb(): the monitor's submit hook, then the root hub's software
        path or the controller's; on failure the submit-error hook.  0 or -errno.
        Context: atomic."""
        dev = urb.dev
        assert dev is not None
        urb.use_count += 1
        dev.urbnum += 1
        monitor = self.monitor
        if monitor is not None:
            monitor.urb_submit(dev.usb_bus, urb)
        rc = self._rh_urb_enqueue(urb) if dev.usb_parent is None else self.urb_enqueue(urb)
        if rc:
            if monitor is not None:
                monitor.urb_submit_error(dev.usb_bus, urb, rc)
            urb.hcpriv = None
            urb.use_count -= 1
            dev.urbnum -= 1
            self._wake_idle(urb)
        return rc

    def link_urb_to_ep(self, urb: Urb) -> int:
        """usb_hcd_link_urb_to_ep(): -EPERM while the URB is being killed, -ENOENT if the
        endpoint is disabled, -EHOSTUNREACH if the device is suspended, -ESHUTDOWN if the
        controller is not running.  Context: atomic."""
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
        """usb_hcd_check_unlink_urb(): -EIDRM if not queued, -EBUSY if already unlinked.
        Context: atomic."""
        hep = urb.ep
        if hep is None or urb not in hep.urb_list:
            return -Errno.EIDRM
        if urb.unlinked:
            return -Errno.EBUSY
        urb.unlinked = status
        return 0

    @staticmethod
    def unlink_urb_from_ep(urb: Urb) -> None:
        """usb_hcd_unlink_urb_from_ep(): take the URB off its endpoint's queue (at once
        when it is the head, as a completing URB usually is).  Context: atomic."""
        queue = urb.ep.urb_list if urb.ep is not None else None
        if queue:
            if queue[0] is urb:
                del queue[0]
            elif urb in queue:
                queue.remove(urb)

    def unlink_urb(self, urb: Urb, status: int) -> int:
        """usb_hcd_unlink_urb(): -EINPROGRESS when the unlink started, else -errno.
        Context: atomic."""
        if urb.use_count == 0:
            return -Errno.EIDRM
        dev = urb.dev
        assert dev is not None
        rc = self._rh_urb_dequeue(urb, status) if dev.is_root_hub else \
            self.urb_dequeue(urb, status)
        return -Errno.EINPROGRESS if rc == 0 else rc

    def giveback_urb(self, urb: Urb, status: int) -> None:
        """usb_hcd_giveback_urb(): the controller is done with `urb` (already unlinked from
        its endpoint).  The completion runs in the bottom half, after those given back
        before it; a synchronous waiter's completes at once when none is pending.
        Context: atomic."""
        urb.hcpriv = None
        if urb.unlinked:
            status = urb.unlinked
        elif (status == 0 and urb.transfer_flags & _SHORT_NOT_OK
              and urb.actual_length < urb.transfer_buffer_length):
            status = _EREMOTEIO
        urb.status = status
        if urb.complete_inline and not self._bh:
            self._complete(urb)
            return
        self._bh.append(urb)
        if not self._bh_scheduled:
            self._bh_scheduled = True
            self.loop.call_soon(self._run_bh)

    def after_giveback(self, action: Callable[[], None]) -> None:
        """Run `action` once the completions now pending have run (a controller resumes an
        endpoint queue after an error this way).  Context: atomic."""
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
        """__usb_hcd_giveback_urb(): the monitor's giveback hook, the anchor, the handler."""
        monitor = self.monitor
        if monitor is not None:
            dev = urb.dev
            assert dev is not None
            monitor.urb_complete(dev.usb_bus, urb, urb.status)
        anchor = urb.anchor
        if anchor is not None:
            anchor.unanchor(urb)
        complete = urb.complete
        self.completing += 1
        try:
            if complete is not None:
                complete(urb)
        except BaseException as exc:  # a driver bug in atomic context: oops, carry on
            self.core.driver_core.contain(f"URB completion handler {complete!r}", exc)
        finally:
            self.completing -= 1
        urb.use_count -= 1
        if self._idle_waiters:
            self._wake_idle(urb)

    def _wake_idle(self, urb: Urb) -> None:
        if urb.use_count == 0:
            for fut in self._idle_waiters.pop(urb, ()):
                if not fut.done():
                    fut.set_result(None)

    async def wait_idle(self, urb: Urb) -> None:
        """Sleep until `urb` is neither queued nor in its completion handler.
        Context: may sleep."""
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
        """usb_hcd_disable_endpoint() after a flush: the endpoint refuses new URBs and the
        controller forgets it.  Context: may sleep."""
        hep.enabled = False
        await self.flush_endpoint(udev, hep)
        self.endpoint_disable(udev, hep)

    # -- the root hub (rh_call_control, rh_queue_status, usb_hcd_poll_rh_status) --------------

    def root_hub_strings(self) -> dict[int, str]:
        """Root hub strings: 1 serial (bus name), 2 product, 3 manufacturer.
        Context: atomic."""
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
        if setup.type != 0 or self._rh_nongeneric(setup):
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

    def _rh_nongeneric(self, setup: SetupPacket) -> bool:
        """GET_DESCRIPTOR(BOS) to a SuperSpeed root hub: the driver's to answer."""
        return self.rh_speed >= Speed.SUPER and setup.bmRequestType == 0x80 \
            and setup.bRequest == Request.GET_DESCRIPTOR \
            and setup.wValue >> 8 == DescriptorType.BOS

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


# -- the optional operations as usbcore calls them ----------------------------------------------


def _hcd(udev: UsbDevice) -> HostController:
    return udev.usb_bus.hcd


def _each_endpoint(table: list[UsbHostEndpoint | None]) -> list[UsbHostEndpoint]:
    return [hep for hep in table[1:] if hep is not None]


def _altsetting_zero(config: UsbHostConfig, number: int) -> list[UsbHostEndpoint]:
    """The endpoints of altsetting 0 of interface `number` (else its first altsetting),
    as usb_hcd_alloc_bandwidth finds them."""
    alts = config.altsettings[number]
    alt = next((a for a in alts if a.desc.bAlternateSetting == 0), alts[0])
    return alt.endpoint


async def usb_hcd_alloc_bandwidth(udev: UsbDevice, new_config: UsbHostConfig | None,
                                  cur_alt: UsbHostInterface | None,
                                  new_alt: UsbHostInterface | None) -> int:
    """usb_hcd_alloc_bandwidth(): ask a scheduling controller whether a new configuration
    (`new_config`; None with no altsettings drops the current one) or a new altsetting
    (`cur_alt` → `new_alt`) fits: the old endpoints are dropped, the new ones added, then
    `check_bandwidth` decides, and `reset_bandwidth` undoes the changes on failure.
    0, or -errno (-ENOSPC: no room).  A controller without `check_bandwidth` always says
    0.  Context: may sleep; the caller holds the bus's bandwidth mutex."""
    hcd = _hcd(udev)
    if not hcd.has_op("check_bandwidth"):
        return 0
    current = _each_endpoint(udev.ep_out) + _each_endpoint(udev.ep_in)
    if new_config is None and cur_alt is None:
        for hep in current:
            hcd.drop_endpoint(udev, hep)
        await hcd.check_bandwidth(udev)
        return 0
    ret = 0
    if new_config is not None:
        drops = current
        adds = [hep for number in new_config.altsettings
                for hep in _altsetting_zero(new_config, number)]
    else:
        drops = list(cur_alt.endpoint) if cur_alt is not None else []
        adds = list(new_alt.endpoint) if new_alt is not None else []
    for hep in drops:
        ret = hcd.drop_endpoint(udev, hep)
        if ret < 0:
            break
    else:
        for hep in adds:
            ret = hcd.add_endpoint(udev, hep)
            if ret < 0:
                break
        else:
            ret = await hcd.check_bandwidth(udev)
    if ret < 0:
        hcd.reset_bandwidth(udev)
    return ret


def usb_hcd_reset_endpoint(udev: UsbDevice, hep: UsbHostEndpoint) -> None:
    """usb_hcd_reset_endpoint(): the controller's `endpoint_reset`, or else clear the data
    toggle usbcore keeps for the endpoint (both directions for a control endpoint).
    Context: atomic."""
    hcd = _hcd(udev)
    if hcd.has_op("endpoint_reset"):
        hcd.endpoint_reset(udev, hep)
        return
    bit = 1 << (hep.address & 0xF)
    is_out = not hep.address & 0x80
    udev.toggle[is_out] &= ~bit
    if hep.type == EndpointType.CONTROL:
        udev.toggle[not is_out] &= ~bit


def usb_hcd_get_frame_number(udev: UsbDevice) -> int:
    """usb_hcd_get_frame_number(): the controller's frame counter, or -ESHUTDOWN while
    the controller is not running.  Context: atomic."""
    hcd = _hcd(udev)
    if not hcd.running:
        return -Errno.ESHUTDOWN
    return hcd.get_frame_number()


async def hcd_bus_suspend(rhdev: UsbDevice, auto: bool = True) -> int:
    """hcd_bus_suspend(): suspend the whole bus through the root hub ("bus %ssuspend,
    wakeup %d"); the root hub is then SUSPENDED and the controller quiesced.  -ENOENT for a
    controller without `bus_suspend`.  Context: may sleep."""
    hcd, log = _hcd(rhdev), rhdev.usb_bus.core.log
    log.dev_dbg(rhdev, f"bus {'auto-' if auto else ''}suspend, wakeup "
                       f"{int(hcd.rh_remote_wakeup)}")
    status = hcd.bus_suspend() if hcd.has_op("bus_suspend") else -Errno.ENOENT
    if status == 0:
        rhdev.set_state(DeviceState.SUSPENDED)
    else:
        log.dev_dbg(rhdev, f"bus suspend fail, err {status}")
    return status


async def hcd_bus_resume(rhdev: UsbDevice, auto: bool = True) -> int:
    """hcd_bus_resume(): resume the bus ("usb %sresume"); the root hub is CONFIGURED
    again.  -ENOENT for a controller without `bus_resume`.  Context: may sleep."""
    hcd, log = _hcd(rhdev), rhdev.usb_bus.core.log
    log.dev_dbg(rhdev, f"usb {'auto-' if auto else ''}resume")
    if not hcd.has_op("bus_resume"):
        return -Errno.ENOENT
    if rhdev.state is not DeviceState.SUSPENDED:
        return 0
    status = hcd.bus_resume()
    if status == 0:
        rhdev.set_state(DeviceState.CONFIGURED if rhdev.actconfig is not None
                        else DeviceState.ADDRESS)
        hcd.poll_rh_status()
    else:
        log.dev_dbg(rhdev, f"bus resume fail, err {status}")
    return status


# -- root-hub registration (register_root_hub) --------------------------------------------------


async def register_root_hub(hcd: HostController) -> int:
    """register_root_hub() (hcd.c): allocate the root hub as device number 1, read its
    device descriptor through the normal control path (answered by the HCD's software
    root hub) and register it with usb_new_device; then let the HCD report ports that are
    already connected.  0, or -errno ("can't register root hub for %s, %d"); the caller
    (usb_add_hcd) then takes the bus down again.  Context: may sleep.  Raises ValueError
    when the controller has no bus yet."""
    from .hub import usb_new_device  # hcd.c calls into hub.c

    bus = hcd.bus
    if bus is None:
        raise ValueError(f"{hcd!r} is not registered: usb_add_hcd first")
    udev = UsbDevice(bus, None, 0)
    udev.speed = hcd.rh_speed
    bus.root_hub = udev
    udev.devnum = 1
    bus.devnum_next = 2
    bus.devmap.add(1)
    udev.set_state(DeviceState.ADDRESS)
    udev.ep0.desc = EndpointDescriptor(0x00, EndpointType.CONTROL, 64)
    retval = await _root_hub_descriptors(hcd, udev)
    if retval:
        return retval
    retval = await usb_new_device(udev)
    if retval:
        bus.core.log.dev_err(hcd.controller, f"can't register root hub for {udev.name}, "
                                             f"{retval}")
        return retval
    hcd.rh_registered = True
    hcd.poll_rh_status()
    return 0


async def _root_hub_descriptors(hcd: HostController, udev: UsbDevice) -> int:
    from .config import usb_get_bos_descriptor
    from .hub import usb_device_supports_lpm, usb_get_device_descriptor

    log = udev.usb_bus.core.log
    descr = await usb_get_device_descriptor(udev)
    if isinstance(descr, int):
        log.dev_dbg(hcd.controller, f"can't read {udev.name} device descriptor {descr}")
        return descr
    udev.descriptor = descr
    if descr.bcdUSB >= 0x0201:
        retval = await usb_get_bos_descriptor(udev)
        if not retval:
            udev.lpm_capable = usb_device_supports_lpm(udev)
        elif udev.speed >= Speed.SUPER:
            log.dev_dbg(hcd.controller, f"can't read {udev.name} bos descriptor {retval}")
            return retval
    return 0


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
