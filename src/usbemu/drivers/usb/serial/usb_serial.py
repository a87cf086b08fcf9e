"""The usb-serial core — counterpart of drivers/usb/serial/usb-serial.c and
include/linux/usb/serial.h.

A converter driver is a `UsbSerialDriver`: an id table, the endpoints it needs, a port count
(or `calc_num_ports`) and the callbacks it wants to own; every callback it leaves out is the
generic driver's (generic.py), filled in when the driver is made, as
usb_serial_operations_init() does at registration.
`usb_serial_register_drivers(drivers, name, id_table)` registers the usb_driver that owns
them (no dynamic ids of its own) and the serial drivers on the usb-serial bus.

Probing an interface follows usb_serial_probe(): the serial driver whose ids match, its
`probe`, the endpoints of the current altsetting in descriptor order sorted into bulk in,
bulk out, interrupt in and interrupt out ("required endpoints missing" when fewer than the
driver asks for), the port count (`calc_num_ports`, else `num_ports`; more than 16 is
clamped with "too many ports requested"), "%s converter detected", one port structure per
endpoint of the most numerous kind (endpoint i of each kind goes to port i, two read URBs
and two write URBs with a 4096-byte write FIFO each), `attach`, the lowest free minors of
the 512 ttyUSB minors ("No more free serial minor numbers"), and the port devices ttyUSBn
on the usb-serial bus, whose probe (bus.py) registers the tty.  Disconnect hangs up every
open port, kills its URBs and removes the port devices; the minors, the URBs and the
driver's `release` wait until the last open tty is closed (the usb_serial kref).

The tty driver "usbserial" (ttyUSB, major 188) belongs to the machine's `UsbSerialCore`,
which loading the `usbserial` module creates; its operations route each tty call to the
port's serial driver, holding the driver's module while a port is open.  Not modelled: the
serial console, sysrq, suspend and resume, sibling interfaces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ....core.devtable import UsbDeviceId, match_dynamic_id
from ....core.driver import UsbDriver, usb_deregister, usb_match_id, usb_register
from ....core.urb import Urb, pipe_for_endpoint, usb_kill_urb, usb_poison_urb
from ....core.usb import UsbDevice, UsbHostEndpoint, UsbInterface, usb_make_path
from ....core.usbcore import current_usbcore
from ....errors import Errno
from ....kernel.device import Device, Driver
from ....kernel.fs import ENOIOCTLCMD, File
from ....kernel.module import module_driver, module_put, try_module_get
from ....kernel.printk import Level, Printk
from ....kernel.sysfs import SysAttr
from ....kernel.termios import (
    B9600,
    TIOCMIWAIT,
    TTY_STD_TERMIOS,
    Cflag,
    Ktermios,
    SerialIcounter,
    tty_termios_copy_hw,
)
from ....kernel.tty import call_tty_op
from ....kernel.tty_io import (
    TtyDriver,
    TtyDriverFlag,
    TtyDriverType,
    TtyOperations,
    TtyStruct,
    tty_driver_kref_put,
    tty_kref_put,
    tty_register_driver,
    tty_standard_install,
    tty_unregister_driver,
    tty_vhangup,
)
from ....kernel.tty_port import (
    TtyPort,
    TtyPortOperations,
    tty_port_close,
    tty_port_hangup,
    tty_port_init,
    tty_port_open,
    tty_port_put,
    tty_port_tty_get,
)
from ....kernel.weak import WeakTable
from ....spec.ch9 import DeviceState, EndpointType
from . import generic

if TYPE_CHECKING:
    from ....core.usbcore import UsbCore

__all__ = [
    "MAX_NUM_PORTS",
    "USB_SERIAL_TTY_MAJOR",
    "USB_SERIAL_TTY_MINORS",
    "UsbSerial",
    "UsbSerialCore",
    "UsbSerialDriver",
    "UsbSerialEndpoints",
    "UsbSerialPort",
    "module_usb_serial_driver",
    "usb_serial_core_of",
    "usb_serial_deregister_drivers",
    "usb_serial_register_drivers",
]

USB_SERIAL_TTY_MAJOR: Final = 188
USB_SERIAL_TTY_MINORS: Final = 512
MAX_NUM_PORTS: Final = 16
#: Endpoints of each kind that one probe collects (the arrays of usb_serial_endpoints).
_MAX_ENDPOINTS: Final = 16
#: Read and write URBs per port (ARRAY_SIZE(port->read_urbs)).
URBS_PER_PORT: Final = 2
#: The write FIFO of a port (kfifo_alloc(&port->write_fifo, PAGE_SIZE)).
WRITE_FIFO_SIZE: Final = 4096


# -- struct usb_serial_driver --------------------------------------------------------------------

#: The callbacks of a serial driver that default to the generic driver's when left out
#: (usb_serial_operations_init); `wait_until_sent` only when the driver has `tx_empty`.
_GENERIC_DEFAULTS: Final = ("open", "write", "close", "write_room", "chars_in_buffer",
                            "read_bulk_callback", "write_bulk_callback", "process_read_urb",
                            "prepare_write_buffer")

#: Every callback of struct usb_serial_driver, in the header's order.
CALLBACKS: Final = (
    "probe", "attach", "calc_num_ports", "disconnect", "release", "port_probe",
    "port_remove", "open", "close", "write", "write_room", "ioctl", "get_serial",
    "set_serial", "set_termios", "break_ctl", "chars_in_buffer", "wait_until_sent",
    "tx_empty", "throttle", "unthrottle", "tiocmget", "tiocmset", "tiocmiwait",
    "get_icount", "dtr_rts", "carrier_raised", "init_termios", "read_int_callback",
    "write_int_callback", "read_bulk_callback", "write_bulk_callback", "process_read_urb",
    "prepare_write_buffer",
)


Callback = Callable[..., Any] | None


class UsbSerialDriver(Driver):
    """struct usb_serial_driver: a converter driver on the usb-serial bus.

    Fields keep Linux's names: `description` (defaults to the driver name), `id_table`,
    `num_ports`, the minimum endpoint counts `num_bulk_in` … `num_interrupt_out`,
    `bulk_in_size` / `bulk_out_size` (0: the endpoint's wMaxPacketSize), `dev_groups`
    (driver.dev_groups: sysfs attributes of each port directory while the port is bound,
    shown with the port as their object) and the callbacks of `CALLBACKS`, given as
    keywords or defined in a subclass.  Contexts as in Linux: probe, attach,
    calc_num_ports, disconnect, release, port_probe, port_remove, open, close, ioctl,
    get_serial, set_serial, set_termios, break_ctl, wait_until_sent, tx_empty, tiocmget,
    tiocmset, tiocmiwait, get_icount and dtr_rts run in process context (plain functions
    or coroutines); write, write_room, chars_in_buffer, throttle, unthrottle,
    carrier_raised, init_termios and the URB callbacks are atomic (plain functions)."""

    probe: Callback = None
    attach: Callback = None
    calc_num_ports: Callback = None
    disconnect: Callback = None
    release: Callback = None
    port_probe: Callback = None
    port_remove: Callback = None
    open: Callable[..., Any]
    close: Callable[..., Any]
    write: Callable[..., Any]
    write_room: Callable[..., Any]
    ioctl: Callback = None
    get_serial: Callback = None
    set_serial: Callback = None
    set_termios: Callback = None
    break_ctl: Callback = None
    chars_in_buffer: Callable[..., Any]
    wait_until_sent: Callback = None
    tx_empty: Callback = None
    throttle: Callback = None
    unthrottle: Callback = None
    tiocmget: Callback = None
    tiocmset: Callback = None
    tiocmiwait: Callback = None
    get_icount: Callback = None
    dtr_rts: Callback = None
    carrier_raised: Callback = None
    init_termios: Callback = None
    read_int_callback: Callback = None
    write_int_callback: Callback = None
    read_bulk_callback: Callable[..., Any]
    write_bulk_callback: Callable[..., Any]
    process_read_urb: Callable[..., Any]
    prepare_write_buffer: Callable[..., Any]

    def __init__(self, name: str, *, description: str | None = None,
                 id_table: Sequence[UsbDeviceId] = (), num_ports: int = 0,
                 num_bulk_in: int = 0, num_bulk_out: int = 0, num_interrupt_in: int = 0,
                 num_interrupt_out: int = 0, bulk_in_size: int = 0, bulk_out_size: int = 0,
                 dev_groups: Sequence[SysAttr[Any]] = (),
                 **callbacks: Callable[..., Any] | None) -> None:
        super().__init__(name)
        unknown = sorted(set(callbacks) - set(CALLBACKS))
        if unknown:
            raise TypeError(f"usb_serial_driver {name!r}: no callback named "
                            f"{', '.join(unknown)} (see CALLBACKS)")
        self.description = description
        self.id_table = tuple(id_table)
        self.num_ports = num_ports
        self.num_bulk_in = num_bulk_in
        self.num_bulk_out = num_bulk_out
        self.num_interrupt_in = num_interrupt_in
        self.num_interrupt_out = num_interrupt_out
        self.bulk_in_size = bulk_in_size
        self.bulk_out_size = bulk_out_size
        self.dev_groups = tuple(dev_groups)
        self.usb_driver: UsbDriver | None = None
        self.dynids: list[UsbDeviceId] = []
        self.suppress_bind_attrs = True
        for cb in CALLBACKS:
            given = callbacks.get(cb)
            if given is not None:
                setattr(self, cb, given)
            elif getattr(self, cb, None) is None:
                setattr(self, cb, None)
        _operations_init(self)



def _operations_init(driver: UsbSerialDriver) -> None:
    """usb_serial_operations_init(): the generic driver's callbacks where `driver` has
    none."""
    for cb in _GENERIC_DEFAULTS:
        if getattr(driver, cb, None) is None:
            setattr(driver, cb, getattr(generic, f"usb_serial_generic_{cb}"))
    if driver.tx_empty is not None and driver.wait_until_sent is None:
        driver.wait_until_sent = generic.usb_serial_generic_wait_until_sent


# -- struct usb_serial, struct usb_serial_port ---------------------------------------------------


@dataclass
class UsbSerialEndpoints:
    """struct usb_serial_endpoints: the endpoints found by one probe, by kind, in
    descriptor order (at most 16 of each)."""

    bulk_in: list[UsbHostEndpoint] = field(default_factory=list)
    bulk_out: list[UsbHostEndpoint] = field(default_factory=list)
    interrupt_in: list[UsbHostEndpoint] = field(default_factory=list)
    interrupt_out: list[UsbHostEndpoint] = field(default_factory=list)

    @property
    def num_bulk_in(self) -> int:
        return len(self.bulk_in)

    @property
    def num_bulk_out(self) -> int:
        return len(self.bulk_out)

    @property
    def num_interrupt_in(self) -> int:
        return len(self.interrupt_in)

    @property
    def num_interrupt_out(self) -> int:
        return len(self.interrupt_out)


class Kfifo:
    """A byte FIFO of fixed capacity (struct kfifo as the write FIFO uses it).
    Context: atomic."""

    __slots__ = ("_buf", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def avail(self) -> int:
        """kfifo_avail(): free space."""
        return self.size - len(self._buf)

    def put(self, data: bytes | bytearray | memoryview) -> int:
        """kfifo_in(): copy as much of `data` as fits; returns the count."""
        count = min(len(data), self.size - len(self._buf))
        self._buf += data[:count]
        return count

    def get_into(self, dest: bytearray | memoryview, size: int) -> int:
        """kfifo_out(): move up to `size` bytes to the start of `dest`; the count."""
        count = min(size, len(self._buf))
        dest[:count] = self._buf[:count]
        del self._buf[:count]
        return count

    def reset(self) -> None:
        """kfifo_reset_out(): drop everything."""
        self._buf.clear()


class UsbSerial:
    """struct usb_serial: one converter interface bound to a serial driver.

    Its reference count (`kref`) is held by the probe and by every open tty of its ports;
    when it drops to zero the minors go back, the driver's `release` runs and the ports'
    URBs are freed (destroy_serial).  `disc_mutex` orders `disconnected` with the
    operations that talk to the device while it is set (wait_until_sent): a disconnect
    waits for them."""

    def __init__(self, core: UsbSerialCore, dev: UsbDevice, interface: UsbInterface,
                 driver: UsbSerialDriver) -> None:
        self.core = core
        self.dev = dev
        self.type = driver
        self.interface = interface
        self.sibling: UsbInterface | None = None
        self.port: list[UsbSerialPort] = []
        self.num_ports = 0
        self.num_port_pointers = 0
        self.num_bulk_in = self.num_bulk_out = 0
        self.num_interrupt_in = self.num_interrupt_out = 0
        self.disconnected = False
        self.disc_mutex = asyncio.Lock()
        self.attached = False
        self.minors_reserved = False
        self.kref = 1
        self.private: Any = None

    def __repr__(self) -> str:
        return f"<UsbSerial {self.interface.name} {self.type.name} ports={self.num_ports}>"

    def get(self) -> None:
        self.kref += 1

    async def put(self) -> None:
        """usb_serial_put(): drop a reference; the last one destroys the serial.
        Context: may sleep (the driver's release)."""
        self.kref -= 1
        if self.kref == 0:
            await self.core.destroy_serial(self)


class UsbSerialPort(Device):
    """struct usb_serial_port: one port of a converter, a device on the usb-serial bus
    named ttyUSB<minor> once registered, with its tty port, endpoints, URBs, write FIFO and
    counters.  `private` is usb_get_serial_port_data()."""

    def __init__(self, serial: UsbSerial, index: int) -> None:
        super().__init__(f"port{index}", serial.interface, serial.core.bus)
        self.serial = serial
        self.port = TtyPort()
        tty_port_init(self.port)
        self.port.ops = serial.core.port_ops
        self.port.driver_data = self
        self.minor = -1
        self.port_number = index
        self.private: Any = None
        # interrupt endpoints
        self.interrupt_in_urb: Urb | None = None
        self.interrupt_in_buffer: bytearray | None = None
        self.interrupt_in_endpointAddress = 0
        self.interrupt_out_urb: Urb | None = None
        self.interrupt_out_buffer: bytearray | None = None
        self.interrupt_out_size = 0
        self.interrupt_out_endpointAddress = 0
        # bulk in
        self.bulk_in_size = 0
        self.bulk_in_endpointAddress = 0
        self.read_urbs: list[Urb] = []
        self.bulk_in_buffers: list[bytearray] = []
        self.read_urbs_free = 0
        # bulk out
        self.bulk_out_size = 0
        self.bulk_out_endpointAddress = 0
        self.write_urbs: list[Urb] = []
        self.bulk_out_buffers: list[bytearray] = []
        self.write_urbs_free = 0
        self.write_fifo = Kfifo(WRITE_FIFO_SIZE)
        self.tx_bytes = 0
        # USB_SERIAL_THROTTLED, USB_SERIAL_WRITE_BUSY
        self.throttled = False
        self.write_busy = False
        self.icount = self.port.icount

    @property
    def read_urb(self) -> Urb | None:
        return self.read_urbs[0] if self.read_urbs else None

    @property
    def write_urb(self) -> Urb | None:
        return self.write_urbs[0] if self.write_urbs else None

    @property
    def bulk_in_buffer(self) -> bytearray | None:
        return self.bulk_in_buffers[0] if self.bulk_in_buffers else None

    @property
    def log(self) -> Printk:
        return self.serial.core.log

    def all_urbs(self) -> list[Urb]:
        found = [*self.read_urbs, *self.write_urbs]
        found += [u for u in (self.interrupt_in_urb, self.interrupt_out_urb) if u is not None]
        return found


def usb_get_serial_port_data(port: UsbSerialPort) -> Any:
    return port.private


def usb_set_serial_port_data(port: UsbSerialPort, data: Any) -> None:
    port.private = data


def usb_get_serial_data(serial: UsbSerial) -> Any:
    return serial.private


def usb_set_serial_data(serial: UsbSerial, data: Any) -> None:
    serial.private = data


# -- the endpoints of a probe -------------------------------------------------------------------


def _endpoint_kind(ep: UsbHostEndpoint) -> str | None:
    is_in = bool(ep.address & 0x80)
    if ep.type == EndpointType.BULK:
        return "bulk_in" if is_in else "bulk_out"
    if ep.type == EndpointType.INT:
        return "interrupt_in" if is_in else "interrupt_out"
    return None


def find_endpoints(epds: UsbSerialEndpoints, intf: UsbInterface, log: Any) -> None:
    """find_endpoints(): sort the current altsetting's endpoints by kind, in descriptor
    order, keeping at most 16 of each.  Context: atomic."""
    for i, ep in enumerate(intf.cur_altsetting.endpoint):
        kind = _endpoint_kind(ep)
        if kind is None:
            continue
        log.dev_dbg(intf, f"found {kind.replace('_', ' ')} on endpoint {i}")
        found: list[UsbHostEndpoint] = getattr(epds, kind)
        if len(found) < _MAX_ENDPOINTS:
            found.append(ep)


def _setup_port_bulk_in(port: UsbSerialPort, ep: UsbHostEndpoint) -> None:
    serial = port.serial
    size = max(serial.type.bulk_in_size, ep.maxp)
    port.bulk_in_size = size
    port.bulk_in_endpointAddress = ep.address
    pipe = pipe_for_endpoint(serial.dev, ep.address, EndpointType.BULK)
    for i in range(URBS_PER_PORT):
        buf = bytearray(size)
        urb = Urb().fill_bulk(serial.dev, pipe, buf, size, serial.type.read_bulk_callback,
                              port)
        port.bulk_in_buffers.append(buf)
        port.read_urbs.append(urb)
        port.read_urbs_free |= 1 << i


def _setup_port_bulk_out(port: UsbSerialPort, ep: UsbHostEndpoint) -> None:
    serial = port.serial
    size = serial.type.bulk_out_size or ep.maxp
    port.bulk_out_size = size
    port.bulk_out_endpointAddress = ep.address
    pipe = pipe_for_endpoint(serial.dev, ep.address, EndpointType.BULK)
    for i in range(URBS_PER_PORT):
        buf = bytearray(size)
        urb = Urb().fill_bulk(serial.dev, pipe, buf, size, serial.type.write_bulk_callback,
                              port)
        port.bulk_out_buffers.append(buf)
        port.write_urbs.append(urb)
        port.write_urbs_free |= 1 << i


def _setup_port_interrupt_in(port: UsbSerialPort, ep: UsbHostEndpoint,
                             callback: Callable[[Urb], None]) -> None:
    serial = port.serial
    pipe = pipe_for_endpoint(serial.dev, ep.address, EndpointType.INT)
    buf = bytearray(ep.maxp)
    port.interrupt_in_endpointAddress = ep.address
    port.interrupt_in_buffer = buf
    port.interrupt_in_urb = Urb().fill_int(serial.dev, pipe, buf, ep.maxp,
                                           callback, port,
                                           ep.desc.bInterval)


def _setup_port_interrupt_out(port: UsbSerialPort, ep: UsbHostEndpoint,
                              callback: Callable[[Urb], None]) -> None:
    serial = port.serial
    pipe = pipe_for_endpoint(serial.dev, ep.address, EndpointType.INT)
    size = ep.maxp
    buf = bytearray(size)
    port.interrupt_out_size = size
    port.interrupt_out_endpointAddress = ep.address
    port.interrupt_out_buffer = buf
    port.interrupt_out_urb = Urb().fill_int(serial.dev, pipe, buf, size,
                                            callback, port,
                                            ep.desc.bInterval)


# -- the machine's usb-serial core ----------------------------------------------------------------

#: Weak both ways (`WeakTable`): a closed machine goes, though each value refers to
#: its key.
_by_usbcore: WeakTable[UsbCore, UsbSerialCore] = WeakTable()


def usb_serial_core_of(usb: UsbCore) -> UsbSerialCore:
    """The usb-serial core of the machine whose USB subsystem is `usb`.  Raises
    RuntimeError when the `usbserial` module is not loaded there.  Context: atomic."""
    core = _by_usbcore.get(usb)
    if core is None:
        raise RuntimeError("the usbserial module is not loaded on this machine "
                           "(modprobe usbserial)")
    return core


def _serial_init_termios() -> Ktermios:
    """usb_serial_init(): tty_std_termios with 9600 8N1, CREAD, HUPCL and CLOCAL."""
    termios = TTY_STD_TERMIOS.copy()
    termios.c_cflag = B9600 | Cflag.CS8 | Cflag.CREAD | Cflag.HUPCL | Cflag.CLOCAL
    termios.c_ispeed = termios.c_ospeed = 9600
    return termios


class UsbSerialCore:
    """The usb-serial core of one machine: the usb-serial bus, the ttyUSB tty driver
    with its minors, and the registered serial drivers (usb_serial_driver_list).
    Create it with `await UsbSerialCore.start(usb)`.  Context: lookups are atomic; the
    rest may sleep."""

    def __init__(self, usb: UsbCore) -> None:
        self.usb = usb
        self.log = usb.log
        self.driver_core = usb.driver_core
        self.bus = UsbSerialBusType(self)
        self.drivers: list[UsbSerialDriver] = []
        self.minors: dict[int, UsbSerialPort] = {}
        self.port_ops = TtyPortOperations(
            carrier_raised=self._carrier_raised, dtr_rts=self._dtr_rts,
            activate=self._activate, shutdown=self._shutdown)
        self.tty_driver = TtyDriver(
            driver_name="usbserial", name="ttyUSB", major=USB_SERIAL_TTY_MAJOR,
            minor_start=0, num=USB_SERIAL_TTY_MINORS, type=TtyDriverType.SERIAL,
            flags=TtyDriverFlag.REAL_RAW | TtyDriverFlag.DYNAMIC_DEV,
            init_termios=_serial_init_termios(), ops=self._tty_operations())

    @classmethod
    async def start(cls, usb: UsbCore) -> UsbSerialCore:
        """usb_serial_init(): register the usb-serial bus and the ttyUSB tty driver; on
        failure log "%s - registering the bus failed" or "%s - tty_register_driver
        failed" and raise OSError.  Context: may sleep."""
        core = cls(usb)
        if usb in _by_usbcore:
            raise OSError(Errno.EBUSY, "the usb-serial core is already running")
        core.bus.register()
        try:
            await tty_register_driver(core.tty_driver)
        except OSError:
            core.log.log(Level.ERR, "usbserial: usb_serial_init - tty_register_driver "
                                    "failed")
            core.bus.unregister()
            raise
        _by_usbcore[usb] = core
        return core

    async def stop(self) -> None:
        """usb_serial_exit(): the tty driver and the bus go.  Context: may sleep."""
        await tty_unregister_driver(self.tty_driver)
        tty_driver_kref_put(self.tty_driver)
        self.bus.unregister()
        _by_usbcore.pop(self.usb, None)

    # -- minors -------------------------------------------------------------------------------

    def allocate_minors(self, serial: UsbSerial, num_ports: int) -> int:
        """allocate_minors(): the lowest free minor for each of the first `num_ports`
        ports (idr_alloc); 0, or -ENOSPC with none taken.  Context: atomic."""
        taken: list[int] = []
        for i in range(num_ports):
            minor = next((m for m in range(USB_SERIAL_TTY_MINORS) if m not in self.minors),
                         None)
            if minor is None:
                for m in taken:
                    del self.minors[m]
                return -Errno.ENOSPC
            port = serial.port[i]
            self.minors[minor] = port
            taken.append(minor)
            port.minor = minor
            port.port_number = i
        serial.minors_reserved = True
        return 0

    def release_minors(self, serial: UsbSerial) -> None:
        for port in serial.port[:serial.num_ports]:
            if self.minors.get(port.minor) is port:
                del self.minors[port.minor]
        serial.minors_reserved = False

    def port_get_by_minor(self, minor: int) -> UsbSerialPort | None:
        """usb_serial_port_get_by_minor(): the port with `minor`, taking a reference on
        its serial, or None (also while the serial is disconnected).  Context: atomic."""
        port = self.minors.get(minor)
        if port is None or port.serial.disconnected:
            return None
        port.serial.get()
        return port

    # -- drivers ------------------------------------------------------------------------------

    def search_serial_device(self, intf: UsbInterface) -> tuple[UsbSerialDriver,
                                                               UsbDeviceId] | None:
        """search_serial_device(): the serial driver of the interface's usb_driver whose
        static or dynamic ids match, with the id.  Context: atomic."""
        for drv in self.drivers:
            if drv.usb_driver is intf.driver:
                found = get_iface_id(drv, intf)
                if found is not None:
                    return drv, found
        return None

    async def register(self, driver: UsbSerialDriver) -> None:
        """usb_serial_register(): description, generic defaults, the bus.  Logs "USB
        Serial support registered for %s".  Raises OSError as driver_register does, after
        "problem %d when registering driver %s".  Context: may sleep."""
        if driver.description is None:
            driver.description = driver.name
        if driver.usb_driver is None:
            raise ValueError(f"Serial driver {driver.description} has no usb_driver")
        driver.suppress_bind_attrs = True
        self.drivers.insert(0, driver)
        try:
            await self.bus.register_driver(driver)
        except OSError as exc:
            self.log.log(Level.ERR, f"usbserial: problem {-(exc.errno or 0)} when "
                                    f"registering driver {driver.description}")
            self.drivers.remove(driver)
            raise
        self.log.log(Level.INFO, f"usbserial: USB Serial support registered for "
                                 f"{driver.description}")

    async def deregister(self, driver: UsbSerialDriver) -> None:
        """usb_serial_deregister(): "USB Serial deregistering driver %s"."""
        self.log.log(Level.INFO, f"usbserial: USB Serial deregistering driver "
                                 f"{driver.description}")
        if driver in self.drivers:
            self.drivers.remove(driver)
        await self.bus.deregister_driver(driver)

    # -- probe and disconnect (the usb_driver's) ----------------------------------------------

    async def probe(self, interface: UsbInterface, id: UsbDeviceId) -> int:
        """usb_serial_probe().  Context: may sleep."""
        log = self.log
        found = self.search_serial_device(interface)
        if found is None:
            log.dev_dbg(interface, "none matched")
            return -Errno.ENODEV
        type_, match = found
        if not try_module_get(type_.owner):
            log.dev_err(interface, "module get failed, exiting")
            return -Errno.EIO
        try:
            return await self._probe(interface, type_, match)
        finally:
            module_put(type_.owner)

    async def _probe(self, interface: UsbInterface, type_: UsbSerialDriver,
                     match: UsbDeviceId) -> int:
        log = self.log
        serial = UsbSerial(self, interface.usb_dev, interface, type_)
        if type_.probe is not None:
            retval = await call_tty_op(type_.probe, serial, match) or 0
            if retval:
                log.dev_dbg(interface, "sub driver rejected device")
                return retval
        epds = UsbSerialEndpoints()
        find_endpoints(epds, interface, log)
        if (epds.num_bulk_in < type_.num_bulk_in or epds.num_bulk_out < type_.num_bulk_out
                or epds.num_interrupt_in < type_.num_interrupt_in
                or epds.num_interrupt_out < type_.num_interrupt_out):
            log.dev_err(interface, "required endpoints missing")
            return -Errno.ENODEV
        num_ports = 0
        if type_.calc_num_ports is not None:
            retval = await call_tty_op(type_.calc_num_ports, serial, epds)
            if retval < 0:
                return int(retval)
            num_ports = retval
        if not num_ports:
            num_ports = type_.num_ports
        if num_ports > MAX_NUM_PORTS:
            log.dev_warn(interface, f"too many ports requested: {num_ports}")
            num_ports = MAX_NUM_PORTS
        serial.num_ports = num_ports
        serial.num_bulk_in, serial.num_bulk_out = epds.num_bulk_in, epds.num_bulk_out
        serial.num_interrupt_in = epds.num_interrupt_in
        serial.num_interrupt_out = epds.num_interrupt_out
        log.dev_info(interface, f"{type_.description} converter detected")
        self._create_ports(serial, epds)
        interface.driver_data = serial
        if type_.attach is not None:
            retval = await call_tty_op(type_.attach, serial) or 0
            if retval < 0:
                interface.driver_data = None
                return int(retval)
            serial.attached = True
            if retval > 0:
                serial.num_ports = 0     # accepted quietly, about to disappear
                return 0
        else:
            serial.attached = True
        if self.allocate_minors(serial, num_ports) < 0:
            log.dev_err(interface, "No more free serial minor numbers")
            await self._unwind_probe(serial)
            return -Errno.ENOSPC
        for port in serial.port[:num_ports]:
            port.name = f"ttyUSB{port.minor}"
            log.dev_dbg(interface, f"registering {port.name}")
            try:
                await self.driver_core.device_add(port)
            except OSError:
                log.dev_err(interface, "Error registering port device, continuing")
        return 0

    def _create_ports(self, serial: UsbSerial, epds: UsbSerialEndpoints) -> None:
        """The port structures: as many as the most numerous endpoint kind or the port
        count, endpoint i of each kind on port i."""
        type_ = serial.type
        count = max(epds.num_bulk_in, epds.num_bulk_out, epds.num_interrupt_in,
                    epds.num_interrupt_out, serial.num_ports)
        serial.num_port_pointers = count
        self.log.dev_dbg(serial.interface, f"setting up {count} port structure(s)")
        serial.port = [UsbSerialPort(serial, i) for i in range(count)]
        for i, ep in enumerate(epds.bulk_in):
            _setup_port_bulk_in(serial.port[i], ep)
        for i, ep in enumerate(epds.bulk_out):
            _setup_port_bulk_out(serial.port[i], ep)
        if type_.read_int_callback is not None:
            for i, ep in enumerate(epds.interrupt_in):
                _setup_port_interrupt_in(serial.port[i], ep, type_.read_int_callback)
        elif epds.interrupt_in:
            self.log.dev_dbg(serial.interface, "The device claims to support interrupt in "
                             "transfers, but read_int_callback is not defined")
        if type_.write_int_callback is not None:
            for i, ep in enumerate(epds.interrupt_out):
                _setup_port_interrupt_out(serial.port[i], ep, type_.write_int_callback)
        elif epds.interrupt_out:
            self.log.dev_dbg(serial.interface, "The device claims to support interrupt out "
                             "transfers, but write_int_callback is not defined")

    async def _unwind_probe(self, serial: UsbSerial) -> None:
        """err_free_epds after attach: the driver's release, the interface data."""
        serial.interface.driver_data = None
        if serial.attached and serial.type.release is not None:
            await call_tty_op(serial.type.release, serial)

    async def disconnect(self, interface: UsbInterface) -> None:
        """usb_serial_disconnect(): hang up every open port, stop its URBs, remove the
        port devices, the driver's disconnect, then drop the probe's reference ("device
        disconnected").  Context: may sleep."""
        serial = interface.driver_data
        if not isinstance(serial, UsbSerial):
            return
        async with serial.disc_mutex:
            serial.disconnected = True
        for port in serial.port[:serial.num_ports]:
            tty = tty_port_tty_get(port.port)
            if tty is not None:
                await tty_vhangup(tty)
                tty_kref_put(tty)
            for urb in port.all_urbs():
                await usb_poison_urb(urb)
            port.port.delta_msr_wait.wake_up()
            if port.registered:
                await self.driver_core.device_del(port)
        if serial.type.disconnect is not None:
            await call_tty_op(serial.type.disconnect, serial)
        await serial.put()
        self.log.dev_info(interface, "device disconnected")

    async def destroy_serial(self, serial: UsbSerial) -> None:
        """destroy_serial(): minors back, the driver's release, URBs freed."""
        if serial.minors_reserved:
            self.release_minors(serial)
        if serial.attached and serial.type.release is not None:
            await call_tty_op(serial.type.release, serial)
        for port in serial.port:
            for urb in port.all_urbs():
                await usb_kill_urb(urb)
            tty_port_put(port.port)

    # -- the tty driver's operations (serial_*) ------------------------------------------------

    def _tty_operations(self) -> TtyOperations:
        return TtyOperations(
            install=self._install, open=self._open, close=self._close,
            cleanup=self._cleanup, hangup=self._hangup, write=self._write,
            write_room=self._write_room, chars_in_buffer=self._chars_in_buffer,
            wait_until_sent=self._wait_until_sent, throttle=self._throttle,
            unthrottle=self._unthrottle, ioctl=self._ioctl, set_termios=self._set_termios,
            break_ctl=self._break_ctl, tiocmget=self._tiocmget, tiocmset=self._tiocmset,
            get_icount=self._get_icount, get_serial=self._get_serial,
            set_serial=self._set_serial, proc_show=self.proc_show)

    async def _install(self, driver: TtyDriver, tty: TtyStruct) -> int:
        """serial_install(): find the port by minor (a serial reference), hold the serial
        driver's module, install the tty, let the driver adjust the first termios."""
        port = self.port_get_by_minor(tty.index)
        if port is None:
            return -Errno.ENODEV
        serial = port.serial
        if not try_module_get(serial.type.owner):
            await serial.put()
            return -Errno.ENODEV
        init_termios = driver.termios[tty.index] is None
        retval = tty_standard_install(driver, tty)
        if retval:
            module_put(serial.type.owner)
            await serial.put()
            return retval
        if init_termios and serial.type.init_termios is not None:
            serial.type.init_termios(tty)
        tty.driver_data = port
        return 0

    @staticmethod
    def _port_of(tty: TtyStruct) -> UsbSerialPort:
        port = tty.driver_data
        assert isinstance(port, UsbSerialPort)
        return port

    async def _open(self, tty: TtyStruct, file: File) -> int:
        """serial_open(): tty_port_open, which activates the port on the first open."""
        port = self._port_of(tty)
        return await tty_port_open(port.port, tty, file)

    async def _close(self, tty: TtyStruct, file: File) -> None:
        await tty_port_close(self._port_of(tty).port, tty, file)

    async def _cleanup(self, tty: TtyStruct) -> None:
        """serial_cleanup(): the tty is gone: drop the serial and the module."""
        port = tty.driver_data
        if not isinstance(port, UsbSerialPort):
            return
        tty.driver_data = None
        serial = port.serial
        owner = serial.type.owner
        await serial.put()
        module_put(owner)

    async def _hangup(self, tty: TtyStruct) -> None:
        await tty_port_hangup(self._port_of(tty).port)

    async def _activate(self, tport: TtyPort, tty: TtyStruct) -> int:
        """serial_port_activate(): the serial driver's open."""
        port = tport.driver_data
        assert isinstance(port, UsbSerialPort)
        return int(await call_tty_op(port.serial.type.open, tty, port) or 0)

    async def _shutdown(self, tport: TtyPort) -> None:
        """serial_port_shutdown(): the serial driver's close."""
        port = tport.driver_data
        assert isinstance(port, UsbSerialPort)
        if port.serial.type.close is not None:
            await call_tty_op(port.serial.type.close, port)

    def _carrier_raised(self, tport: TtyPort) -> bool:
        port = tport.driver_data
        assert isinstance(port, UsbSerialPort)
        drv = port.serial.type
        return bool(drv.carrier_raised(port)) if drv.carrier_raised is not None else True

    async def _dtr_rts(self, tport: TtyPort, on: bool) -> None:
        port = tport.driver_data
        assert isinstance(port, UsbSerialPort)
        drv = port.serial.type
        if drv.dtr_rts is not None:
            await call_tty_op(drv.dtr_rts, port, on)

    def _write(self, tty: TtyStruct, data: memoryview) -> int:
        """serial_write(): the driver's write; an error counts as nothing written."""
        port = self._port_of(tty)
        if port.serial.dev.state is DeviceState.NOTATTACHED:
            return 0
        retval = int(port.serial.type.write(tty, port, data))
        return max(retval, 0)

    def _write_room(self, tty: TtyStruct) -> int:
        port = self._port_of(tty)
        return int(port.serial.type.write_room(tty))

    def _chars_in_buffer(self, tty: TtyStruct) -> int:
        port = self._port_of(tty)
        if port.serial.disconnected:
            return 0
        return int(port.serial.type.chars_in_buffer(tty))

    async def _wait_until_sent(self, tty: TtyStruct, timeout_ms: float) -> None:
        port = self._port_of(tty)
        drv = port.serial.type
        if drv.wait_until_sent is None:
            return
        async with port.serial.disc_mutex:
            if not port.serial.disconnected:
                await call_tty_op(drv.wait_until_sent, tty, timeout_ms)

    def _throttle(self, tty: TtyStruct) -> None:
        port = self._port_of(tty)
        if port.serial.type.throttle is not None:
            port.serial.type.throttle(tty)

    def _unthrottle(self, tty: TtyStruct) -> None:
        port = self._port_of(tty)
        if port.serial.type.unthrottle is not None:
            port.serial.type.unthrottle(tty)

    async def _ioctl(self, tty: TtyStruct, cmd: int, arg: Any) -> int:
        """serial_ioctl(): TIOCMIWAIT to the driver's tiocmiwait, the rest to its ioctl;
        -ENOIOCTLCMD for what neither handles."""
        port = self._port_of(tty)
        drv = port.serial.type
        if cmd == TIOCMIWAIT:
            if drv.tiocmiwait is not None:
                return int(await call_tty_op(drv.tiocmiwait, tty, arg) or 0)
        elif drv.ioctl is not None:
            return int(await call_tty_op(drv.ioctl, tty, cmd, arg))
        return -ENOIOCTLCMD

    async def _set_termios(self, tty: TtyStruct, old: Ktermios) -> None:
        port = self._port_of(tty)
        drv = port.serial.type
        if drv.set_termios is not None:
            await call_tty_op(drv.set_termios, tty, port, old)
        else:
            tty_termios_copy_hw(tty.termios, old)

    async def _break_ctl(self, tty: TtyStruct, state: int) -> int:
        port = self._port_of(tty)
        drv = port.serial.type
        if drv.break_ctl is None:
            return -Errno.ENOTTY
        return int(await call_tty_op(drv.break_ctl, tty, state) or 0)

    async def _tiocmget(self, tty: TtyStruct) -> int:
        port = self._port_of(tty)
        drv = port.serial.type
        if drv.tiocmget is None:
            return -Errno.ENOTTY
        return int(await call_tty_op(drv.tiocmget, tty))

    async def _tiocmset(self, tty: TtyStruct, set: int, clear: int) -> int:
        port = self._port_of(tty)
        drv = port.serial.type
        if drv.tiocmset is None:
            return -Errno.ENOTTY
        return int(await call_tty_op(drv.tiocmset, tty, set, clear) or 0)

    async def _get_icount(self, tty: TtyStruct, icount: SerialIcounter) -> int:
        port = self._port_of(tty)
        drv = port.serial.type
        if drv.get_icount is None:
            return -Errno.ENOTTY
        return int(await call_tty_op(drv.get_icount, tty, icount) or 0)

    async def _get_serial(self, tty: TtyStruct, ss: Any) -> int:
        port = self._port_of(tty)
        ss.line = port.minor
        ss.port = port.port_number
        ss.flags = 0
        ss.xmit_fifo_size = port.bulk_out_size
        ss.baud_base = 9600
        ss.close_delay = port.port.close_delay
        ss.closing_wait = port.port.closing_wait
        if port.serial.type.get_serial is not None:
            await call_tty_op(port.serial.type.get_serial, tty, ss)
        return 0

    async def _set_serial(self, tty: TtyStruct, ss: Any) -> int:
        port = self._port_of(tty)
        if port.serial.type.set_serial is None:
            return 0
        return int(await call_tty_op(port.serial.type.set_serial, tty, ss) or 0)

    def proc_show(self, driver: TtyDriver | None = None) -> str:
        """serial_proc_show(): /proc/tty/driver/usbserial.  Context: atomic."""
        lines = ["usbserinfo:1.0 driver:2.0\n"]
        for minor in sorted(self.minors):
            port = self.minors[minor]
            serial = port.serial
            if serial.disconnected:
                continue
            text = f"{minor}:"
            owner = getattr(serial.type.owner, "name", None)
            if owner:
                text += f" module:{owner}"
            desc = serial.dev.descriptor
            vendor, product = (desc.idVendor, desc.idProduct) if desc is not None else (0, 0)
            text += f' name:"{serial.type.description}"'
            text += f" vendor:{vendor:04x} product:{product:04x}"
            text += f" num_ports:{serial.num_ports}"
            text += f" port:{port.port_number}"
            text += f" path:{usb_make_path(serial.dev)}"
            lines.append(text + "\n")
        return "".join(lines)


def get_iface_id(drv: UsbSerialDriver, intf: UsbInterface) -> UsbDeviceId | None:
    """get_iface_id(): the serial driver's static id matching the interface, else a
    dynamic one.  Context: atomic."""
    found = usb_match_id(intf, drv.id_table)
    if found is not None:
        return found
    desc = intf.usb_dev.descriptor
    if desc is None:
        return None
    return match_dynamic_id(desc, intf.cur_altsetting.desc, drv.dynids)


# -- registering converter drivers ----------------------------------------------------------------


async def usb_serial_register_drivers(serial_drivers: Sequence[UsbSerialDriver], name: str,
                                      id_table: Sequence[UsbDeviceId]) -> int:
    """usb_serial_register_drivers(): a usb_driver `name` (no dynamic ids of its own) for
    `serial_drivers`, registered with an empty table, then the serial drivers, then the
    table and the walk over unbound interfaces.  Returns 0 or a negative errno (-ENODEV
    when the usbserial module is not loaded).  Context: may sleep (module init)."""
    usb = current_usbcore()
    try:
        core = usb_serial_core_of(usb)
    except RuntimeError:
        return -Errno.ENODEV
    udriver = UsbDriver(name, probe=core.probe, disconnect=core.disconnect,
                        no_dynamic_id=True, supports_autosuspend=True)
    try:
        await usb_register(usb, udriver)
    except OSError as exc:
        return -(exc.errno or Errno.EINVAL)
    done: list[UsbSerialDriver] = []
    for drv in serial_drivers:
        drv.usb_driver = udriver
        try:
            await core.register(drv)
        except OSError as exc:
            for registered in done:
                await core.deregister(registered)
            await usb_deregister(usb, udriver)
            return -(exc.errno or Errno.EINVAL)
        done.append(drv)
    udriver.id_table = tuple(id_table)
    await core.driver_core.driver_attach(udriver)
    return 0


async def usb_serial_deregister_drivers(serial_drivers: Sequence[UsbSerialDriver]) -> None:
    """usb_serial_deregister_drivers(): the serial drivers, then their usb_driver.
    Context: may sleep (module exit)."""
    if not serial_drivers:
        return
    udriver = serial_drivers[0].usb_driver
    for drv in serial_drivers:
        bus = drv.bus
        if isinstance(bus, UsbSerialBusType):
            await bus.serial_core.deregister(drv)
    if udriver is not None:
        await usb_deregister(current_usbcore(), udriver)


def module_usb_serial_driver(serial_drivers: Sequence[UsbSerialDriver],
                             id_table: Sequence[UsbDeviceId]) -> None:
    """module_usb_serial_driver(serial_drivers, id_table): the calling module's init
    registers `serial_drivers` under a usb_driver named after the module, its exit
    deregisters them — a converter module needs nothing else.  Context: import time."""
    drivers = tuple(serial_drivers)

    async def init() -> int:
        from ....kernel.module import this_module

        module = this_module()
        name = module.name if module is not None else drivers[0].name
        return await usb_serial_register_drivers(drivers, name, id_table)

    async def exit() -> None:
        await usb_serial_deregister_drivers(drivers)

    module_driver(init, exit, caller_depth=2)


from .bus import UsbSerialBusType  # noqa: E402  (bus.py needs the classes above)
