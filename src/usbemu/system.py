"""One emulated machine: its event loop and clock, kernel log, driver core, USB subsystem,
char devices, the tty and input layers, host controllers and the device models plugged
into them.

A `System` runs on virtual time by default (tests, simulations: timeouts cost no wall-clock
time and runs are deterministic) or on real time (when bridges talk to outside programs).
Everything the machine does happens on its one event loop; synchronous callers use
`run()` from outside the loop, or `call()` from another thread.

    with System() as system:                 # virtual time
        hcd = system.add_controller()        # "inproc": ehci-pci at 0000:00:1d.0, bus 1
        system.plug(PenDrive(), "1-1")
        system.settle()
        print(system.dmesg())
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from .core.file import UsbFiles
from .core.hcd import HostController
from .core.sysfs import install_usb_sysfs
from .core.usb import UsbDevice
from .core.usbcore import Uname, UsbCore, set_current_usbcore
from .drivers.usb.mon.mon_text import install_usbmon
from .emulated.device import DeviceModel
from .emulated.port import PortOwner
from .errors import SettleTimeout
from .host import load_hcd_kind
from .host.roothub import RootHub
from .kernel.block.genhd import BlockCore
from .kernel.char_dev import CharDevices
from .kernel.devclass import DeviceClasses, Devtmpfs
from .kernel.device import Device, Driver, DriverCore
from .kernel.evdev import evdev_handler
from .kernel.input import InputCore
from .kernel.kmod import KernelModules
from .kernel.module import Module
from .kernel.platform import PlatformDevice
from .kernel.printk import Level, Printk
from .kernel.scsi.scsi import ScsiCore
from .kernel.syscalls import AsyncFile, SyncFile
from .kernel.tty_io import TtyCore
from .kernel.vfs import Vfs
from .kernel.vt_keyboard import kbd_handler
from .kernel.vtime import VirtualTimeStall, new_event_loop, sleep_duration_ns, sleep_ns

T = TypeVar("T")

#: Machine time `settle()` waits before it gives up and says what is pending: longer than
#: the hung-task timeout, so that a blocked probe has been reported by then.
SETTLE_TIMEOUT_S: Final = 180.0
#: Machine time a shutdown may take before `close()` cuts it short.
SHUTDOWN_TIMEOUT_S: Final = 30.0


@contextmanager
def _about(path: str) -> Iterator[None]:
    """Prefix a ValueError raised for a port with the port path the caller gave."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"{path!r}: {exc}") from None


@dataclass(frozen=True)
class ControllerSpec:
    """One USB controller of a chipset: its kind, PCI function, root ports, constructor
    options, and the index (in the chipset's list) of the EHCI it is a companion of."""

    kind: str
    pci_name: str
    nports: int
    options: tuple[tuple[str, object], ...] = ()
    companion_of: int | None = None


#: Chipsets `System.add_chipset` builds, controllers in registration order.
#: The kind a chipset layout names for its EHCI (add_chipset(ehci=...) may replace it).
_CHIPSET_EHCI: Final = "inproc"

CHIPSETS: Final[Mapping[str, tuple[ControllerSpec, ...]]] = {
    # Intel ICH9 (and QEMU's ich9-usb-ehci1 / ich9-usb-uhci1..3): EHCI at 1d.7 whose six
    # ports are wired two by two to the UHCI controllers at 1d.0, 1d.1 and 1d.2.
    "ich9": (
        ControllerSpec("inproc", "0000:00:1d.7", 6, (("has_tt", False),)),
        ControllerSpec("uhci", "0000:00:1d.0", 2, companion_of=0),
        ControllerSpec("uhci", "0000:00:1d.1", 2, companion_of=0),
        ControllerSpec("uhci", "0000:00:1d.2", 2, companion_of=0),
    ),
}


def _wire_companion(ehci: HostController, companion: HostController) -> None:
    """Wire `companion`'s root ports to the EHCI's next ones.  Raises ValueError when
    either has no root hub of ports or they cannot be wired."""
    ehci_ports, ports = ehci.downstream, companion.downstream
    if not isinstance(ehci_ports, RootHub) or not isinstance(ports, RootHub):
        raise ValueError(f"{ehci!r} and {companion!r} must both have root ports that "
                         "device models plug into to be companions")
    ehci_ports.add_companion(ports)


class PciDevice(Device):
    """A PCI function that a host controller driver is bound to (e.g. 0000:00:1d.0)."""

    def sysfs_path(self) -> str:
        return f"/devices/pci0000:00/{self.name}"


class System:
    """An emulated machine.  Context: `run`, `settle` and the other synchronous methods are
    called from outside the loop; the `async` ones from inside it."""

    def __init__(self, *, virtual: bool = True, seed: int | None = None,
                 uname: Uname | None = None) -> None:
        self.virtual = virtual
        self.loop = new_event_loop(virtual)
        self.random = random.Random(seed)
        self.log = Printk(self.loop.time)
        self.driver_core = DriverCore(self.log)
        self.usb = UsbCore(self.loop, self.log, self.driver_core, uname)
        self.vfs = Vfs()
        self.modules = KernelModules(self.driver_core, self.log, self.usb.uname.release)
        self.modules.mount(self.vfs)  # /proc/modules, /sys/module, /lib/modules/<release>
        sysfs = install_usb_sysfs(self)
        install_usbmon(self.vfs, self.usb)  # /sys/kernel/debug/usb/usbmon
        self.chrdev = CharDevices(self.driver_core)        # fs/char_dev.c
        self.devtmpfs = Devtmpfs(self.vfs, self.driver_core)  # /dev
        self.classes = DeviceClasses(self.driver_core, self.vfs)  # /sys/class
        sysfs.child_providers.append(self.classes.sysfs_children)
        self.usb_files = UsbFiles(self.usb, self.chrdev, self.classes)  # major 180, usbmisc
        self.tty = TtyCore(self.driver_core, self.chrdev, self.classes, self.vfs, self.loop)
        self.input = InputCore(self.driver_core, self.chrdev, self.classes, self.vfs,
                               self.loop,  # input core; the console's kbd, evdev
                               handlers=[kbd_handler(), evdev_handler()])
        self.block = BlockCore(self.driver_core, self.chrdev, self.classes, self.vfs, self.loop)
        self.scsi = ScsiCore(self.driver_core, self.classes, self.vfs, self.loop)
        self.controllers: list[HostController] = []
        self._pci_slot = 0x1D
        self._booted = False
        self._closed = False
        self._foreground: asyncio.Task[Any] | None = None

    # -- lifetime -----------------------------------------------------------------------------

    def __enter__(self) -> System:
        self.boot()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def boot(self) -> None:
        """Start the kernel: usbcore registers its drivers."""
        self.run(self.aboot())

    async def aboot(self) -> None:
        if not self._booted:
            self._booted = True
            await self.modules.builtin_init("usbcore", self.usb.init)

    async def ashutdown(self) -> None:
        await self.usb.shutdown()

    def close(self) -> None:
        """Shut the machine down and close its loop.  A shutdown that does not finish
        within SHUTDOWN_TIMEOUT_S of machine time (a controller that never gives an URB
        back) is logged ("usbcore: shutdown did not finish …") and cut short: the
        machine's tasks are cancelled and its loop closed all the same."""
        if self._closed:
            return
        self._closed = True
        if self._booted and not self.loop.is_closed():
            try:
                self.run(asyncio.wait_for(self.ashutdown(), SHUTDOWN_TIMEOUT_S))
            except TimeoutError:
                self.log.log(Level.ERR, f"usbcore: shutdown did not finish within "
                                        f"{SHUTDOWN_TIMEOUT_S:g} s; stopping anyway")
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    # -- running code on the machine ----------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the machine's loop until it finishes (from outside the loop)
        and return its result.  It is the machine's foreground work while it runs:
        `interrupt()` cancels it.  A KeyboardInterrupt that arrives while the loop runs
        (Python's default SIGINT handler) cancels it too, and lets it unwind — a read
        waiting for a device gives up, a sleep ends — before propagating.  So does a
        stall of virtual time (`kernel.vtime.VirtualTimeStall`: tasks that keep the loop
        busy without ever letting the clock move, which the loop names and cancels):
        `run` raises it instead of hanging."""
        task = self.loop.create_task(self._on_machine(coro))
        self._foreground = task
        try:
            return self.loop.run_until_complete(task)
        except (KeyboardInterrupt, VirtualTimeStall):
            task.cancel()
            self.loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
            raise
        finally:
            self._foreground = None

    def interrupt(self) -> bool:
        """Cancel the foreground work that `run()` is running, as Ctrl-C cancels a process's
        system call; `run()` then raises CancelledError.  Returns whether there was one.
        Context: atomic; may be called from a signal handler in the thread that runs the
        machine."""
        task = self._foreground
        if task is None or task.done():
            return False
        task.cancel()
        self.loop.call_soon_threadsafe(lambda: None)    # wake a loop waiting for I/O
        return True

    async def _on_machine(self, coro: Coroutine[Any, Any, T]) -> T:
        set_current_usbcore(self.usb)
        return await coro

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on a loop running in another thread (the thread-safe bridge)."""
        future = asyncio.run_coroutine_threadsafe(self._on_machine(coro), self.loop)
        return future.result(timeout)

    def time(self) -> float:
        """Seconds on the machine's clock."""
        return self.loop.time()

    def sleep(self, ms: float) -> None:
        """Let `ms` milliseconds of machine time pass (instantly on virtual time, where the
        clock then reads exactly `ms` later, to the nanosecond: see `kernel.vtime.sleep_ns`),
        from 0 to `kernel.vtime.MAX_SLEEP_MS` (30 days).  Raises ValueError, naming the
        limit, for a longer, negative, infinite or NaN duration.  Context: outside the loop."""
        self.run(sleep_ns(sleep_duration_ns(ms)))

    # -- hardware -----------------------------------------------------------------------------

    def _next_pci(self, driver_name: str) -> PciDevice:
        name = f"0000:00:{self._pci_slot:02x}.0"
        self._pci_slot += 1
        pci = PciDevice(name)
        pci.driver = Driver(driver_name)
        return pci

    def _next_platform(self, cls: type[HostController]) -> PlatformDevice:
        """The platform device of a controller kind that is no PCI function: its
        `platform_name` with the first id no controller of the machine has."""
        taken = {hcd.controller.name for hcd in self.controllers}
        name = next(f"{cls.platform_name}.{n}" for n in range(len(taken) + 1)
                    if f"{cls.platform_name}.{n}" not in taken)
        device = PlatformDevice(name)
        device.driver = Driver(cls.driver_name)
        return device

    def _controller_device(self, cls: type[HostController], pci_name: str | None) -> Device:
        if cls.platform_name is not None:
            if pci_name is not None:
                raise ValueError(f"pci_name={pci_name!r}: {cls.driver_name} is a platform "
                                 "device, it has no PCI address")
            return self._next_platform(cls)
        if pci_name is None:
            return self._next_pci(cls.driver_name)
        pci = PciDevice(pci_name)
        pci.driver = Driver(cls.driver_name)
        return pci

    async def aadd_controller(self, kind: str | type[HostController] = "inproc", *,
                              nports: int | None = None, pci_name: str | None = None,
                              companion_of: HostController | None = None,
                              **options: Any) -> HostController:
        """Add a host controller of `kind` — a registered kind's name (`usbemu list
        controllers`: "inproc" is the built-in in-process controller presented as ehci-pci,
        "uhci" and "ohci" the full-speed ones, "vhci" USB/IP's) or a HostController subclass
        — with `nports` root ports (the kind's own count when None: 6 for inproc, 2 for
        uhci, 3 for ohci, 8 for vhci) at `pci_name` or the next PCI address (0000:00:1d.0
        first; a platform kind such as vhci takes its platform device, vhci_hcd.0, and no
        `pci_name`), with `options` for the kind's constructor (inproc: has_tt=False for a
        root hub without a TT), and register its bus.  With `companion_of` (an EHCI
        controller without a TT) the new full-speed controller's ports are wired to the
        EHCI's next root ports, as on a PC chipset.
        Returns the controller.  Raises PluginNotFound / PluginLoadError for an unknown or
        broken kind, TypeError or ValueError for options it refuses or a companion that
        cannot be wired, and OSError when the controller does not start or its root hub
        cannot be registered (the bus is then gone again).  Context: may sleep."""
        cls = kind if isinstance(kind, type) else load_hcd_kind(kind)
        device = self._controller_device(cls, pci_name)
        hcd = cls(self.usb, device, cls.default_nports if nports is None else nports,
                  **options)
        if companion_of is not None:
            _wire_companion(companion_of, hcd)
        await self.usb.add_hcd(hcd)
        self.controllers.append(hcd)
        return hcd

    def add_controller(self, kind: str | type[HostController] = "inproc", *,
                       nports: int | None = None, **options: Any) -> HostController:
        """Synchronous `aadd_controller`, then settle: `system.add_controller()`,
        `system.add_controller("inproc", nports=4, has_tt=False)`."""
        hcd = self.run(self.aadd_controller(kind, nports=nports, **options))
        self.settle()
        return hcd

    async def aadd_chipset(self, name: str, *, ehci: str = "inproc") -> list[HostController]:
        """Add the USB controllers of a PC chipset (`CHIPSETS`: "ich9" is an EHCI at
        0000:00:1d.7 with six ports and its three UHCI companions at 1d.0 to 1d.2, two
        ports each), in the order their drivers register them: the EHCI first, so it is
        bus 1 and the companions buses 2 to 4.  `ehci` is the controller kind that plays
        the EHCI ("inproc", or "ehci" for the one that schedules on virtual time).
        Returns the controllers.  Raises ValueError for a chipset it does not know.
        Context: may sleep."""
        layout = CHIPSETS.get(name)
        if layout is None:
            raise ValueError(f"unknown chipset {name!r}; known: {', '.join(sorted(CHIPSETS))}")
        added: list[HostController] = []
        for spec in layout:
            companion_of = added[spec.companion_of] if spec.companion_of is not None else None
            kind = ehci if spec.kind == _CHIPSET_EHCI else spec.kind
            added.append(await self.aadd_controller(
                kind, nports=spec.nports, pci_name=spec.pci_name,
                companion_of=companion_of, **dict(spec.options)))
        return added

    def add_chipset(self, name: str, *, ehci: str = "inproc") -> list[HostController]:
        """Synchronous `aadd_chipset`, then settle: `system.add_chipset("ich9")`,
        `system.add_chipset("ich9", ehci="ehci")`."""
        added = self.run(self.aadd_chipset(name, ehci=ehci))
        self.settle()
        return added

    def _root_ports(self, path: str, busnum: int) -> PortOwner:
        bus = self.usb.buses.get(busnum)
        if bus is None:
            raise ValueError(f"{path!r}: there is no bus {busnum}")
        owner = bus.hcd.downstream
        if not isinstance(owner, PortOwner):
            raise ValueError(f"{path!r}: bus {busnum} ({bus.hcd.driver_name}) has no ports a "
                             "device model can be plugged into")
        return owner

    def _locate(self, path: str) -> tuple[PortOwner, int]:
        """Resolve a port path `B-P[.P…]` to (the root hub or hub model that has the port,
        port number) through the port owners' one interface.  Raises ValueError naming
        what is wrong."""
        try:
            bus_text, ports_text = path.split("-", 1)
            busnum = int(bus_text)
            ports = [int(p) for p in ports_text.split(".")]
        except ValueError:
            raise ValueError(f"{path!r} is not a port path like 1-1 or 1-1.4") from None
        owner = self._root_ports(path, busnum)
        for depth, port1 in enumerate(ports[:-1]):
            with _about(path):
                found = owner.hub_port(port1).device
            below = found.downstream if found is not None else None
            if below is None:
                where = f"{busnum}-{'.'.join(map(str, ports[:depth + 1]))}"
                raise ValueError(f"{path!r}: no hub is plugged in at {where}")
            owner = below
        return owner, ports[-1]

    def plug(self, model: DeviceModel, path: str) -> None:
        """Plug a device model in at port path `path` (e.g. "1-1" or "1-1.3").  Atomic;
        the hub driver notices on the machine's loop (call `settle()` to let it).  Raises
        ValueError for a path that leads nowhere, a port that is taken or a model that is
        plugged in elsewhere."""
        owner, port1 = self._locate(path)
        with _about(path):
            owner.attach(port1, model)

    def unplug(self, path: str) -> DeviceModel | None:
        """Unplug whatever is at port path `path`; returns its model (None for an empty
        root-hub port).  Raises ValueError for a path that leads nowhere, or an empty port
        of a hub model."""
        owner, port1 = self._locate(path)
        with _about(path):
            if owner.hub_model is None and owner.plugged(port1) is None:
                return None
            return owner.detach(port1)

    def models(self) -> Iterator[tuple[str, DeviceModel]]:
        """(port path, model) for every model plugged in, bus by bus, depth first."""
        def walk(prefix: str, owner: PortOwner) -> Iterator[tuple[str, DeviceModel]]:
            for port1, model in owner.children():
                path = f"{prefix}{port1}"
                yield path, model
                if model.downstream is not None:
                    yield from walk(f"{path}.", model.downstream)

        for busnum in sorted(self.usb.buses):
            owner = self.usb.buses[busnum].hcd.downstream
            if isinstance(owner, PortOwner):
                yield from walk(f"{busnum}-", owner)

    # -- waiting ------------------------------------------------------------------------------

    def _hub_changes_pending(self) -> list[str]:
        """What has a port change its hub driver has not taken yet: "the root hub of bus
        N", or "the hub at PATH"."""
        roots = [(f"the root hub of bus {busnum}", bus.hcd.downstream)
                 for busnum, bus in sorted(self.usb.buses.items())]
        hubs = [(f"the hub at {path}", model.downstream) for path, model in self.models()]
        return [where for where, owner in roots + hubs
                if isinstance(owner, PortOwner) and owner.change_pending()]

    async def asettle(self, *, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Wait until every port change has been seen and handled: hub_wq and uevent
        consumers idle and no hub model waiting to be polled (like `udevadm settle`).
        Raises SettleTimeout naming what is still pending (a probe that never returns, a
        hub whose event is stuck) when that does not happen within `timeout_s` seconds of
        machine time; the machine goes on running.  Context: may sleep."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(loop.time() + timeout_s):
                await self._settle()
        except TimeoutError:
            raise SettleTimeout(f"the machine did not settle within {timeout_s:g} s: "
                                f"{self._pending_work(loop.time())}") from None

    async def _settle(self) -> None:
        while True:
            for _ in range(3):
                await asyncio.sleep(0)
            await self.usb.hub_wq.wait_idle()
            await self.driver_core.settle()
            await asyncio.sleep(0)
            if self._hub_changes_pending():
                await asyncio.sleep(0.01)
                continue
            if self.usb.hub_wq.idle and not self.driver_core.pending:
                return

    def _pending_work(self, now: float) -> str:
        what = [f"a port change of {where} not yet taken by the hub driver"
                for where in self._hub_changes_pending()]
        what += [f"hub_wq is handling hub {hub}" for hub in self.usb.hub_wq.busy()]
        what += self.driver_core.hung_tasks.busy(now)
        if self.driver_core.pending:
            what.append(f"{len(self.driver_core.pending)} driver-core task(s) "
                        "(probes, module loads) still running")
        return "; ".join(what) or "activity that kept restarting"

    def settle(self) -> None:
        """Synchronous `asettle`."""
        self.run(self.asettle())

    async def wait(self, awaitable: Awaitable[T]) -> T:
        return await awaitable

    # -- modules: insmod, rmmod, modprobe, lsmod, depmod ----------------------------------------

    async def ainsmod(self, module: str | os.PathLike[str], /, *args: str,
                      **params: object) -> Module:
        """insmod: load a driver module from a file or by name, with parameters as
        "name=value" strings or keywords (vendor=0xffff); returns it.  Raises ModuleError
        (kmod's message and errno: EEXIST when loaded, EINVAL for a bad parameter …).
        Context: on the machine's loop; may sleep (the module's init runs)."""
        return await self.modules.insmod(module, *args, **params)

    def insmod(self, module: str | os.PathLike[str], /, *args: str,
               **params: object) -> Module:
        """Synchronous `ainsmod`: `system.insmod("pen_driver")`."""
        return self.run(self.ainsmod(module, *args, **params))

    async def amodprobe(self, name: str, /, *args: str, **params: object) -> None:
        """modprobe: load an installed module (or the modules whose alias matches `name`,
        such as a MODALIAS) after the modules it depends on; nothing to do when it is
        loaded or built in.  Raises ModuleError.  Context: may sleep."""
        await self.modules.modprobe(name, *args, **params)

    def modprobe(self, name: str, /, *args: str, **params: object) -> None:
        """Synchronous `amodprobe`: `system.modprobe("usbserial", vendor=0xffff)`."""
        self.run(self.amodprobe(name, *args, **params))

    async def armmod(self, name: str) -> None:
        """rmmod: run the module's exit and unload it.  Raises ModuleError (EBUSY while a
        file is open on one of its devices or another module uses it; ENOENT when not
        loaded or built in).  Context: may sleep."""
        await self.modules.rmmod(name)

    def rmmod(self, name: str) -> None:
        """Synchronous `armmod`."""
        self.run(self.armmod(name))

    def lsmod(self) -> str:
        """lsmod's output: "Module                  Size  Used by" and a line per module."""
        return self.modules.lsmod()

    def depmod(self) -> str:
        """depmod -a (after installing packages with drivers): returns modules.alias."""
        return self.modules.depmod().modules_alias()

    # -- views --------------------------------------------------------------------------------

    def dmesg(self) -> str:
        return self.log.dmesg()

    def usb_devices(self) -> list[UsbDevice]:
        """Every registered usb_device, bus by bus, in tree order."""
        found: list[UsbDevice] = []

        def walk(dev: UsbDevice) -> None:
            found.append(dev)
            for port1 in sorted(dev.children):
                walk(dev.children[port1])

        for busnum in sorted(self.usb.buses):
            root = self.usb.buses[busnum].root_hub
            if root is not None:
                walk(root)
        return found

    def find_device(self, name: str) -> UsbDevice | None:
        """The usb_device named `name` (e.g. "1-1.2" or "usb1")."""
        return next((d for d in self.usb_devices() if d.name == name), None)

    # -- user space: files --------------------------------------------------------------------

    async def aopen(self, path: str, mode: str | int = "rb") -> AsyncFile:
        """Open a node of the machine's tree as an application does (`/dev/pen0`, a sysfs
        attribute): an AsyncFile whose read/write/ioctl/poll/seek/close are system calls.
        Raises OSError with Linux's errno.  Context: on the machine's loop; may sleep."""
        return await self.chrdev.open_path(self.vfs, path, mode)

    def open(self, path: str, mode: str | int = "rb") -> SyncFile:
        """`aopen` for callers outside the loop: each method of the SyncFile runs its
        system call on the machine (`run`)."""
        return SyncFile(self.run(self.aopen(path, mode)), self.run)
