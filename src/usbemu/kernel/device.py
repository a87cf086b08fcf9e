"""The driver model — counterpart of drivers/base/core.c, bus.c and dd.c.

Devices, drivers and buses, and the rules that bind them: a device added to a bus is offered
to the bus's drivers in registration order, and the first whose `match` succeeds and whose
probe returns 0 gets it; a probe error moves on to the next driver (-ENODEV, -ENXIO and
-EPROBE_DEFER at debug level only, others with "probe with driver %s failed with error
%d"), and a deferred probe gets the walk retried once it is over; a probe that raises
anything but an OSError — CancelledError, KeyboardInterrupt and SystemExit included, when
the driver raised them itself — is an oops: logged with its traceback, the device stays
unbound and the machine goes on (`driver_fault` decides).  A probe or remove that blocks is
reported by the hung-task detector after 120 s of machine time (`hung_task.py`).
Registering a driver attaches it to every unbound device it matches (a name already on the
bus is refused with -EBUSY, as driver_register does); unregistering it unbinds them.  Every
change emits a uevent (add, remove, bind, unbind) to the listeners (udev's role).

Probe and remove are `async def` (process context, may sleep); each device has a lock so
that binding and unbinding one device never interleave.  Bus types supply match, probe,
remove and uevent variables; they do not reimplement the walk.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import Errno, ProbeDeclined
from .hung_task import HungTaskDetector
from .module import this_module
from .printk import Level, Printk


def driver_fault(exc: BaseException) -> bool:
    """Whether an exception that escaped driver code is the driver's fault, to be
    contained as Linux contains a faulting driver (logged like an oops; the machine goes
    on): any Exception, and a CancelledError, KeyboardInterrupt or SystemExit the driver
    raised itself.  The cancellation of the task running the driver is not a fault: it must
    propagate.  Context: atomic."""
    if isinstance(exc, asyncio.CancelledError):
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            return True
        return task is None or not task.cancelling()
    return isinstance(exc, (Exception, KeyboardInterrupt, SystemExit))


@dataclass(frozen=True, slots=True)
class Uevent:
    """One kobject uevent: ACTION, DEVPATH and the environment lines."""

    action: str  #: add, remove, bind, unbind, change
    devpath: str
    env: tuple[tuple[str, str], ...] = ()

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.env if k == key), None)

    def lines(self) -> list[str]:
        return [f"ACTION={self.action}", f"DEVPATH={self.devpath}",
                *(f"{k}={v}" for k, v in self.env)]


class Device:
    """struct device: a node of the device tree, maybe on a bus, maybe bound to a driver."""

    devtype: ClassVar[str] = ""

    # Every device's own fields in slots; "__dict__" keeps what subclasses add.
    __slots__ = ("__dict__", "__weakref__", "_lock", "bus", "driver", "driver_data", "name",
                 "parent", "registered")

    def __init__(self, name: str, parent: Device | None = None,
                 bus: BusType | None = None) -> None:
        self.name = name
        self.parent = parent
        self.bus = bus
        self.driver: Driver | None = None
        self.driver_data: Any = None
        self.registered = False
        self._lock: asyncio.Lock | None = None

    @property
    def lock(self) -> asyncio.Lock:
        """device_lock(): the device's mutex, made on first use."""
        lock = self._lock
        if lock is None:
            lock = self._lock = asyncio.Lock()
        return lock

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @property
    def dev_name(self) -> str:
        return self.name

    def driver_string(self) -> str:
        """dev_driver_string(): the driver's name, else the bus name."""
        if self.driver is not None:
            return self.driver.name
        return self.bus.name if self.bus is not None else ""

    def sysfs_path(self) -> str:
        """The device's path below /sys (a uevent's DEVPATH)."""
        parent = self.parent.sysfs_path() if self.parent is not None else "/devices"
        return f"{parent}/{self.name}"

    def uevent_env(self) -> list[tuple[str, str]]:
        """Variables added to every uevent of this device (the bus adds its own)."""
        env: list[tuple[str, str]] = []
        if self.devtype:
            env.append(("DEVTYPE", self.devtype))
        if self.driver is not None:
            env.append(("DRIVER", self.driver.name))
        return env


class Driver:
    """struct device_driver: a name on a bus, owned by a module."""

    def __init__(self, name: str, bus: BusType | None = None) -> None:
        self.name = name
        self.bus = bus
        self.owner: Any = None
        self.suppress_bind_attrs = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def bound_devices(self) -> list[Device]:
        if self.bus is None:
            return []
        return [dev for dev in self.bus.devices if dev.driver is self]


class BusType:
    """struct bus_type: the devices and drivers of one bus and how they meet."""

    def __init__(self, name: str, core: DriverCore) -> None:
        self.name = name
        self.core = core
        self.devices: list[Device] = []
        self.drivers: list[Driver] = []
        self.drivers_autoprobe = True

    # -- what a concrete bus supplies ---------------------------------------------------------

    def match(self, dev: Device, drv: Driver) -> bool:
        """Whether `drv` may be offered `dev`.  Context: atomic."""
        return True

    async def probe(self, dev: Device, drv: Driver) -> int:
        """Call the driver's probe; 0 or a negative errno.  Context: may sleep."""
        return 0

    async def remove(self, dev: Device, drv: Driver) -> None:
        """Call the driver's remove/disconnect.  Context: may sleep."""

    def uevent(self, dev: Device) -> list[tuple[str, str]]:
        """Bus-specific uevent variables of `dev`."""
        return []

    async def notify_add(self, dev: Device) -> None:
        """BUS_NOTIFY_ADD_DEVICE: `dev` is registered, before its uevent and probing."""

    def find_device(self, name: str) -> Device | None:
        return next((d for d in self.devices if d.name == name), None)

    def find_driver(self, name: str) -> Driver | None:
        return next((d for d in self.drivers if d.name == name), None)


UeventListener = Callable[[Uevent], None]


@dataclass
class DriverCore:
    """The driver core of one machine: buses, the uevent stream, and the bind/unbind walks."""

    log: Printk
    buses: dict[str, BusType] = field(default_factory=dict)
    listeners: list[UeventListener] = field(default_factory=list)
    #: Tasks started by uevent consumers (autoload), awaited by `settle()`.
    pending: set[asyncio.Task[Any]] = field(default_factory=set)
    #: khungtaskd: reports probes and removes that block.
    hung_tasks: HungTaskDetector = field(init=False)

    def __post_init__(self) -> None:
        self.hung_tasks = HungTaskDetector(self.log)

    def add_bus(self, bus: BusType) -> BusType:
        self.buses[bus.name] = bus
        return bus

    def remove_bus(self, bus: BusType) -> None:
        """bus_unregister(): the bus goes (its devices and drivers should be gone)."""
        if self.buses.get(bus.name) is bus:
            del self.buses[bus.name]

    # -- uevents ------------------------------------------------------------------------------

    def uevent(self, dev: Device, action: str) -> Uevent:
        """Emit a uevent for `dev` to every listener; returns it."""
        env = dev.uevent_env()
        if dev.bus is not None:
            env += dev.bus.uevent(dev)
        event = Uevent(action, dev.sysfs_path(), tuple(env))
        for listener in tuple(self.listeners):
            listener(event)
        return event

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run a consumer's follow-up work (udev's modprobe) as a tracked task."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def settle(self) -> None:
        """Wait until uevent consumers have finished (`udevadm settle`)."""
        while self.pending:
            await asyncio.gather(*tuple(self.pending), return_exceptions=True)

    # -- device lifetime ----------------------------------------------------------------------

    async def device_add(self, dev: Device) -> None:
        """device_add(): register, announce (uevent add), then try the bus's drivers.
        Context: may sleep."""
        dev.registered = True
        if dev.bus is not None:
            dev.bus.devices.append(dev)
            await dev.bus.notify_add(dev)
        self.uevent(dev, "add")
        if dev.bus is not None and dev.bus.drivers_autoprobe:
            if dev.driver is not None:
                # claimed before it was registered (usb_driver_claim_interface):
                # device_bind_driver() without a probe
                self.uevent(dev, "bind")
            else:
                await self.device_attach(dev)

    async def device_del(self, dev: Device) -> None:
        """device_del(): unbind, announce (uevent remove), unregister.  Context: may sleep."""
        await self.device_release_driver(dev)
        if not dev.registered:
            return
        self.uevent(dev, "remove")
        dev.registered = False
        if dev.bus is not None and dev in dev.bus.devices:
            dev.bus.devices.remove(dev)

    # -- binding ------------------------------------------------------------------------------

    async def device_attach(self, dev: Device) -> bool:
        """Offer `dev` to each driver of its bus in registration order; True when bound.
        A probe that asks for deferral (-EPROBE_DEFER) gets the walk retried once it is
        over, as the deferred-probe work does."""
        bus = dev.bus
        if bus is None:
            return False
        async with dev.lock:
            for _ in range(2):
                if dev.driver is not None or not dev.registered:
                    return dev.driver is not None
                deferred = False
                for drv in tuple(bus.drivers):
                    if bus.match(dev, drv):
                        result = await self._really_probe(dev, drv)
                        if result is None:  # oops: leave the device unbound
                            return False
                        if result == 0:
                            return True
                        deferred = deferred or result == -Errno.EPROBE_DEFER
                if not deferred:
                    break
        return False

    async def driver_attach(self, drv: Driver) -> None:
        """Bind `drv` to every unbound device of its bus that it matches."""
        bus = drv.bus
        if bus is None:
            return
        for dev in tuple(bus.devices):
            if dev.driver is None and dev.registered and bus.match(dev, drv):
                async with dev.lock:
                    if dev.driver is None and dev.registered:
                        await self._really_probe(dev, drv)

    async def bind(self, dev: Device, drv: Driver) -> int:
        """The sysfs `bind` file: 0, -ENODEV when `drv` does not match, -EBUSY when bound."""
        if drv.bus is None or dev.bus is not drv.bus or not drv.bus.match(dev, drv):
            return -Errno.ENODEV
        async with dev.lock:
            if dev.driver is not None:
                return -Errno.EBUSY
            result = await self._really_probe(dev, drv)
        return -Errno.EINVAL if result is None else result

    async def _really_probe(self, dev: Device, drv: Driver) -> int | None:
        """Probe with the device lock held: 0, a negative errno, or None after an oops."""
        bus = dev.bus
        assert bus is not None
        dev.driver = drv
        what = f"probe of {dev.name} by driver {drv.name}"
        try:
            with self.hung_tasks.watch(what):
                result = await bus.probe(dev, drv)
        except ProbeDeclined:
            result = -Errno.ENODEV
        except OSError as exc:
            result = -(exc.errno or Errno.EIO)
        except BaseException as exc:
            dev.driver = None
            self.contain(what, exc)  # a driver bug: oops, and the machine goes on
            return None
        if result:
            # call_driver_probe(): logged while dev->driver is still set.
            if result == -Errno.EPROBE_DEFER:
                self.log.dev(Level.DEBUG, dev, f"Driver {drv.name} requests probe deferral")
            elif result in (-Errno.ENODEV, -Errno.ENXIO):
                self.log.dev(Level.DEBUG, dev,
                             f"probe with driver {drv.name} rejects match {result}")
            else:
                self.log.dev(Level.ERR, dev,
                             f"probe with driver {drv.name} failed with error {result}")
            dev.driver = None
            return result
        self.uevent(dev, "bind")
        return 0

    async def device_release_driver(self, dev: Device) -> None:
        """Unbind `dev` from its driver (remove/disconnect), announcing "unbind"."""
        async with dev.lock:
            drv = dev.driver
            if drv is None or dev.bus is None:
                return
            what = f"remove of {dev.name} by driver {drv.name}"
            try:
                with self.hung_tasks.watch(what):
                    await dev.bus.remove(dev, drv)
            except BaseException as exc:
                self.contain(what, exc)
            dev.driver = None
            dev.driver_data = None
            self.uevent(dev, "unbind")

    async def driver_register(self, drv: Driver) -> None:
        """driver_register(): add to the bus, then attach to matching unbound devices.
        A name already registered on the bus is refused as Linux refuses it: "Error:
        Driver '%s' is already registered, aborting..." and OSError(EBUSY).  A driver
        registered by a module's code (its init) is owned by that module (`owner`)."""
        bus = drv.bus
        if bus is None:
            raise ValueError(f"driver {drv.name!r} has no bus")
        if bus.find_driver(drv.name) is not None:
            self.log.log(Level.ERR,
                         f"Error: Driver '{drv.name}' is already registered, aborting...")
            raise OSError(Errno.EBUSY, f"driver {drv.name!r} is already registered")
        if drv.owner is None:
            drv.owner = this_module()
        bus.drivers.append(drv)
        if bus.drivers_autoprobe:
            await self.driver_attach(drv)

    async def driver_unregister(self, drv: Driver) -> None:
        """driver_unregister(): unbind every device bound to `drv`, then remove it."""
        for dev in drv.bound_devices():
            await self.device_release_driver(dev)
        if drv.bus is not None and drv in drv.bus.drivers:
            drv.bus.drivers.remove(drv)

    def contain(self, what: str, exc: BaseException) -> None:
        """Contain an exception that escaped driver code (`what`: "probe of 1-1:1.0 by
        driver x"): an oops when it is the driver's fault (`driver_fault`), else raised
        again — the cancellation of the task running the driver goes on.  Call it from
        the `except` clause.  Context: atomic."""
        if not driver_fault(exc):
            raise exc
        self.oops(what, exc)

    def oops(self, what: str, exc: BaseException) -> None:
        """Log a driver exception the way the kernel logs an oops, with the traceback."""
        self.log.log(Level.ALERT, f"BUG: exception in {what}: {type(exc).__name__}: {exc}")
        text = "".join(traceback.format_exception(exc)).rstrip("\n")
        self.log.log(Level.WARNING, text)

