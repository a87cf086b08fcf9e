"""The USB subsystem of one machine — counterpart of usb_init()/usb_exit() in
drivers/usb/core/usb.c and of the bus registry of drivers/usb/core/hcd.c
(usb_add_hcd, usb_remove_hcd, usb_bus_idr).

`UsbCore` owns the usb bus type, the bus numbers, the hub event worker (hub_wq) and the
usbmon readers attached to its buses (usb_mon_register); it registers usbcore's own
drivers (usbfs, hub, usb) at start-up, as usb_init() does, and adds and removes host
controllers with their root hubs (a controller's shared USB 3 hcd right after it, and
removed before it).  Enumeration itself is `hub.py`, root-hub registration
`hcd.py`, binding `driver.py`.
"""

from __future__ import annotations

import asyncio
import weakref
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..kernel.device import DriverCore
from ..kernel.printk import Printk
from .hcd import HostController, UsbBus, UsbMonitor, register_root_hub

if TYPE_CHECKING:
    from .driver import UsbBusType
    from .hub import HubWorker
    from .urb import Urb

USB_MAXBUS: Final = 64

_current: ContextVar[UsbCore] = ContextVar("usbemu_current_usbcore")
#: The USB subsystem of each machine's event loop.  The machine holds its subsystem; a weak
#: value lets a closed machine go (a weak key could not: the subsystem holds the loop).
_by_loop: weakref.WeakValueDictionary[asyncio.AbstractEventLoop, UsbCore] = \
    weakref.WeakValueDictionary()


def current_usbcore() -> UsbCore:
    """The USB subsystem of the machine whose code is running now (what a kernel-style
    `usb_register(&driver)` registers with): the one whose event loop runs the caller —
    also in callbacks such as URB completions, whoever scheduled them — else the one set
    for this context.  Raises RuntimeError outside a machine.  Context: atomic."""
    try:
        core = _by_loop.get(asyncio.get_running_loop())
    except RuntimeError:
        core = None
    if core is not None:
        return core
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("no usbemu machine is running here: call this from code that "
                           "runs on a System (System.run(), `async with System()`)") from None


def set_current_usbcore(core: UsbCore) -> object:
    """Make `core` the current USB subsystem in this context; returns a reset token.
    Context: atomic."""
    return _current.set(core)


@dataclass(frozen=True)
class Uname:
    """What `uname` says of the emulated kernel (root hub strings and bcdDevice use it)."""

    sysname: str = "Linux"
    release: str = "6.12.0"
    machine: str = "x86_64"

    @property
    def bcd_version(self) -> int:
        """bin2bcd(major) << 8 | bin2bcd(patchlevel): 6.12 → 0x0612."""
        major, minor = (int(x) for x in self.release.split(".")[:2])
        return (major // 10 << 12 | major % 10 << 8 | minor // 10 << 4 | minor % 10) & 0xFFFF


class UsbCore:
    """usbcore: bus type, buses, hub_wq.  Create it with `await UsbCore.start(...)`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, log: Printk,
                 driver_core: DriverCore, uname: Uname | None = None) -> None:
        from .driver import UsbBusType
        from .hub import HubWorker

        self.loop = loop
        _by_loop[loop] = self
        self.log = log
        self.driver_core = driver_core
        self.uname = uname or Uname()
        self.bus_type: UsbBusType = UsbBusType(self)
        driver_core.add_bus(self.bus_type)
        self.buses: dict[int, UsbBus] = {}
        self.hub_wq: HubWorker = HubWorker(self)
        self._monitors: list[UsbMonitor] = []
        self._monitor: UsbMonitor | None = None

    async def init(self) -> None:
        """usb_init(): register usbcore's drivers — usbfs, hub, and the generic device
        driver "usb" — in Linux's order.  Context: may sleep."""
        from .devio import usbfs_driver
        from .driver import usb_register, usb_register_device_driver
        from .generic import generic_driver
        from .hub import hub_driver

        await usb_register(self, usbfs_driver())
        await usb_register(self, hub_driver())
        await usb_register_device_driver(self, generic_driver())
        self.hub_wq.start()

    async def shutdown(self) -> None:
        """usb_exit(): remove every controller, stop hub_wq.  Context: may sleep."""
        for bus in sorted(self.buses.values(), key=lambda b: -b.busnum):
            await self.remove_hcd(bus.hcd)
        await self.hub_wq.stop()

    # -- usbmon hooks (usb_mon_register / usb_mon_deregister) ---------------------------------

    def add_monitor(self, monitor: UsbMonitor) -> None:
        """Attach a usbmon reader to every bus, present and future: it sees each URB's
        submission, submission error and giveback from now on.  Context: atomic."""
        self._monitors.append(monitor)
        self._set_monitor()

    def remove_monitor(self, monitor: UsbMonitor) -> None:
        """Detach a reader added with `add_monitor` (ValueError if it is not attached).
        Context: atomic."""
        self._monitors.remove(monitor)
        self._set_monitor()

    def _set_monitor(self) -> None:
        monitors = tuple(self._monitors)
        self._monitor = (None if not monitors else monitors[0] if len(monitors) == 1
                         else _MonitorFanout(monitors))
        for bus in self.buses.values():
            bus.hcd.monitor = self._monitor

    # -- host controllers ---------------------------------------------------------------------

    def _alloc_busnum(self) -> int:
        free = next((n for n in range(1, USB_MAXBUS) if n not in self.buses), None)
        if free is None:
            raise OSError(28, "no free USB bus number (all 63 in use)")
        return free

    async def add_hcd(self, hcd: HostController) -> UsbBus:
        """usb_add_hcd(): register the bus, start the controller, register its root hub
        (which enumerates like any device and binds the hub driver).  Returns the bus.
        Raises OSError with the errno when the controller does not start or its root hub
        cannot be registered; the bus is then taken down again ("USB bus %d
        deregistered") and nothing of it remains.  Context: may sleep."""
        log = self.log
        log.dev_info(hcd.controller, hcd.product_desc)
        bus = UsbBus(self, hcd, self._alloc_busnum())
        self.buses[bus.busnum] = bus
        hcd.bus = bus
        hcd.monitor = self._monitor
        log.dev_info(hcd.controller, f"new USB bus registered, assigned bus number "
                                     f"{bus.busnum}")
        rc = hcd.reset()
        if rc:
            log.dev_err(hcd.controller, f"can't setup: {rc}")
            self._deregister_bus(hcd)
            raise OSError(-rc, f"{hcd.controller.name}: can't setup: {rc}")
        if hcd.irq is not None and hcd.rsrc_start:
            space = "io mem" if hcd.io_memory else "io port"
            log.dev_info(hcd.controller, f"irq {hcd.irq}, {space} {hcd.rsrc_start:#010x}")
        rc = hcd.start()
        if rc:
            log.dev_err(hcd.controller, f"startup error {rc}")
            self._deregister_bus(hcd)
            raise OSError(-rc, f"{hcd.controller.name}: startup error {rc}")
        hcd.running = True
        rc = await register_root_hub(hcd)
        if rc:
            hcd.running = False
            hcd.stop()
            bus.root_hub = None
            self._deregister_bus(hcd)
            raise OSError(-rc, f"{hcd.controller.name}: can't register root hub for "
                               f"usb{bus.busnum}, {rc}")
        if hcd.shared_hcd is not None:
            await self._add_shared_hcd(hcd, hcd.shared_hcd)
        return bus

    async def _add_shared_hcd(self, primary: HostController, shared: HostController) -> None:
        """usb_add_hcd() of the shared (USB 3) hcd after the primary; when it fails, the
        primary is removed again (put_usb3_hcd: usb_remove_hcd of the primary)."""
        try:
            await self.add_hcd(shared)
        except OSError:
            await self.remove_hcd(primary)
            raise

    def _deregister_bus(self, hcd: HostController) -> None:
        """usb_deregister_bus(): free the bus number ("USB bus %d deregistered")."""
        bus = hcd.bus
        if bus is None:
            return
        self.log.dev_info(hcd.controller, f"USB bus {bus.busnum} deregistered")
        self.buses.pop(bus.busnum, None)
        hcd.bus = None
        hcd.monitor = None

    async def remove_hcd(self, hcd: HostController) -> None:
        """usb_remove_hcd(): disconnect the root hub and everything below it, stop the
        controller, free the bus number.  Context: may sleep."""
        from .hub import usb_disconnect

        bus = hcd.bus
        if bus is None:
            return
        if hcd.shared_hcd is not None:
            await self.remove_hcd(hcd.shared_hcd)
        self.log.dev_info(hcd.controller, "remove, state 1")
        if bus.root_hub is not None:
            await usb_disconnect(bus.root_hub)
            bus.root_hub = None
        hcd.rh_registered = False
        hcd.running = False
        hcd.stop()
        self._deregister_bus(hcd)


class _MonitorFanout:
    """Several usbmon readers behind the one hook pointer of a bus, called in the order
    they were attached."""

    def __init__(self, monitors: tuple[UsbMonitor, ...]) -> None:
        self.monitors = monitors

    def urb_submit(self, bus: UsbBus, urb: Urb) -> None:
        for monitor in self.monitors:
            monitor.urb_submit(bus, urb)

    def urb_submit_error(self, bus: UsbBus, urb: Urb, status: int) -> None:
        for monitor in self.monitors:
            monitor.urb_submit_error(bus, urb, status)

    def urb_complete(self, bus: UsbBus, urb: Urb, status: int) -> None:
        for monitor in self.monitors:
            monitor.urb_complete(bus, urb, status)
