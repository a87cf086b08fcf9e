"""The usb-serial bus — counterpart of drivers/usb/serial/bus.c.

Each port of a converter is a device on the bus "usb-serial", named ttyUSB<minor>, whose
parent is the interface; a port matches exactly the serial driver its converter was probed
with.  Probing a port runs the driver's `port_probe`, registers the tty (class tty,
/dev/ttyUSB<n>, major 188) and logs "%s converter now attached to %s" on the USB device;
removing it unregisters the tty, runs `port_remove` and logs "%s converter now
disconnected from %s" on the port.

sysfs as bus.c lays it out: /sys/bus/usb-serial/devices/ttyUSB<n> (links to the port
directories below the interfaces, each holding `port_number`, `uevent`, `driver`,
`subsystem`, the `tty/ttyUSB<n>` class device and, while the port is bound, the files of its
serial driver's `dev_groups`), /sys/bus/usb-serial/drivers/<name>/
with `new_id` (which also adds the id to the owning usb_driver; there is no remove_id and,
with suppress_bind_attrs, no bind or unbind), `uevent`, `module` and the port links.
Not modelled: the `power/` directories.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ....core.devtable import parse_new_id, show_dynids
from ....errors import Errno
from ....kernel.device import BusType, Device, Driver
from ....kernel.sysfs import DEVICE_ATTRS, SysAttr, attr_group, device_path, ro, sysfs_of
from ....kernel.tty import call_tty_op
from ....kernel.tty_io import tty_unregister_device
from ....kernel.tty_port import tty_port_register_device
from ....kernel.vfs import Node
from .usb_serial import UsbSerialDriver, UsbSerialPort

if TYPE_CHECKING:
    from .usb_serial import UsbSerialCore

BUS_NAME: Final = "usb-serial"


class UsbSerialBusType(BusType):
    """usb_serial_bus_type: ports meet the serial driver their converter was probed with.
    Context: match is atomic; probe and remove may sleep."""

    def __init__(self, serial_core: UsbSerialCore) -> None:
        super().__init__(BUS_NAME, serial_core.driver_core)
        self.serial_core = serial_core

    def register(self) -> None:
        """bus_register(): the bus, its sysfs port directories and driver files."""
        self.core.add_bus(self)
        sysfs = sysfs_of(self.core)
        if sysfs is not None:
            sysfs.register_device_dir(UsbSerialPort, self._port_entries)
            sysfs.register_driver_files(BUS_NAME, _driver_files)

    def unregister(self) -> None:
        """bus_unregister()."""
        self.core.remove_bus(self)

    async def register_driver(self, driver: UsbSerialDriver) -> None:
        """usb_serial_bus_register(): driver_register on this bus.  Raises OSError."""
        driver.bus = self
        await self.core.driver_register(driver)

    async def deregister_driver(self, driver: UsbSerialDriver) -> None:
        await self.core.driver_unregister(driver)

    def match(self, dev: Device, drv: Driver) -> bool:
        """usb_serial_device_match(): the port's own serial driver only."""
        return isinstance(dev, UsbSerialPort) and dev.serial.type is drv

    async def probe(self, dev: Device, drv: Driver) -> int:
        """usb_serial_device_probe(): port_probe, then the tty device."""
        assert isinstance(dev, UsbSerialPort) and isinstance(drv, UsbSerialDriver)
        if drv.port_probe is not None:
            retval = int(await call_tty_op(drv.port_probe, dev) or 0)
            if retval:
                return retval
        try:
            await tty_port_register_device(dev.port, self.serial_core.tty_driver, dev.minor,
                                           dev)
        except OSError as exc:
            if drv.port_remove is not None:
                await call_tty_op(drv.port_remove, dev)
            return -(exc.errno or Errno.EIO)
        self.serial_core.log.dev_info(dev.serial.dev, f"{drv.description} converter now "
                                                      f"attached to {dev.name}")
        return 0

    async def remove(self, dev: Device, drv: Driver) -> None:
        """usb_serial_device_remove(): the tty device, port_remove, the message."""
        assert isinstance(dev, UsbSerialPort) and isinstance(drv, UsbSerialDriver)
        await tty_unregister_device(self.serial_core.tty_driver, dev.minor)
        if drv.port_remove is not None:
            await call_tty_op(drv.port_remove, dev)
        self.serial_core.log.dev_info(dev, f"{drv.description} converter now disconnected "
                                           f"from {dev.name}")

    def _port_entries(self, port: UsbSerialPort) -> dict[str, Node]:
        sysfs = sysfs_of(self.core)
        entries = attr_group(port, DEVICE_ATTRS)
        entries.update(attr_group(port, PORT_ATTRS))
        drv = port.driver
        if isinstance(drv, UsbSerialDriver):
            entries.update(attr_group(port, drv.dev_groups))
        if sysfs is not None:
            entries.update(sysfs.common(port, device_path(port)))
        return entries


def _show_port_number(port: UsbSerialPort) -> str:
    return f"{port.port_number}\n"


PORT_ATTRS: Final[tuple[SysAttr[UsbSerialPort], ...]] = (
    ro("port_number", _show_port_number),
)
"""The files of a port's directory (usb_serial_port_groups and the driver core's)."""


async def _store_new_id(drv: UsbSerialDriver, data: bytes) -> int:
    """new_id_store(): the id goes to the serial driver, then to its usb_driver, whose
    walk over unbound interfaces binds what now matches."""
    text = data.decode("latin-1")
    try:
        drv.dynids.append(parse_new_id(text, drv.id_table))
        udriver = drv.usb_driver
        if udriver is not None:
            udriver.dynids.append(parse_new_id(text, udriver.id_table))
            if udriver.bus is not None:
                await udriver.bus.core.driver_attach(udriver)
    except OSError as exc:
        return -(exc.errno or Errno.EINVAL)
    return len(data)


DRIVER_FILES: Final[tuple[SysAttr[UsbSerialDriver], ...]] = (
    SysAttr("new_id", lambda d: show_dynids(d.dynids), _store_new_id, 0o644),
)


def _driver_files(drv: Driver) -> dict[str, Node]:
    return attr_group(drv, DRIVER_FILES) if isinstance(drv, UsbSerialDriver) else {}
