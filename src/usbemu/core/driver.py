"""Binding drivers to USB devices and interfaces — counterpart of drivers/usb/core/driver.c.

The usb bus type (match, probe, remove, uevent), interface drivers (`UsbDriver`) and device
drivers (`UsbDeviceDriver`), their registration, dynamic ids (new_id / remove_id), and
claiming and releasing interfaces.  Matching is Linux's, from `devtable`: dynamic ids
before the static table, the vendor-specific-class rule, first match wins; device drivers
never match interfaces and vice versa; the generic driver "usb" takes a device only when no
other device driver applies.  The walk over drivers, the device locks and the oops handling
are the driver core's (`usbemu.kernel.device`).

Power management is the minimal runtime-PM path of driver.c and hub.c: `usb_suspend_device`
runs usb_suspend_both (each interface driver's suspend, last interface first, then
SetPortFeature(PORT_SUSPEND) on the parent hub, or the controller's bus suspend for a root
hub) and `usb_resume_device` usb_resume_both (ClearPortFeature(PORT_SUSPEND) and the resume
timings, or the bus resume, then each driver's resume).  Not modelled: system sleep,
remote wakeup, reset-resume, autosuspend timers and usage counts.

A driver is written either Pythonically — subclass `UsbDriver`, set `id_table`, define
`async def probe(self, intf, id)` and `async def disconnect(self, intf)` — or kernel-style,
passing those callables to the constructor (`usbemu.linux.usb_driver(...)`).  probe and
disconnect may be plain functions or coroutines; they run in process context.  probe
declines by raising `ProbeDeclined` or returning -ENODEV; it fails by returning another
negative errno or raising an OSError; anything else it raises is an oops.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from ..errors import Errno
from ..kernel.device import BusType, Device, Driver
from ..kernel.file2alias import interface_modalias
from ..kernel.printk import Level
from ..spec.ch9 import DeviceState
from .devtable import (
    UsbDeviceId,
    device_match_id,
    match_dynamic_id,
    match_id,
    parse_new_id,
    parse_remove_id,
)
from .hcd import hcd_bus_resume, hcd_bus_suspend
from .usb import InterfaceCondition, UsbDevice, UsbInterface

if TYPE_CHECKING:
    from .usbcore import UsbCore


async def _call(func: Callable[..., Any], *args: Any) -> Any:
    """Call a hook that may be a plain function or a coroutine function."""
    result = func(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _errno_of(result: Any) -> int:
    """A probe's result as 0 or a negative errno (None and 0 are success)."""
    if result is None:
        return 0
    if isinstance(result, bool) or not isinstance(result, int):
        raise TypeError(f"probe returned {result!r}: return None/0 or a negative errno")
    return result


class UsbDriver(Driver):
    """struct usb_driver: an interface driver."""

    id_table: Sequence[UsbDeviceId] = ()
    no_dynamic_id = False
    supports_autosuspend = False
    soft_unbind = False

    def __init__(self, name: str | None = None, *, id_table: Sequence[UsbDeviceId] | None = None,
                 probe: Callable[..., Any] | None = None,
                 disconnect: Callable[..., Any] | None = None,
                 suspend: Callable[..., Any] | None = None,
                 resume: Callable[..., Any] | None = None,
                 reset_resume: Callable[..., Any] | None = None,
                 pre_reset: Callable[..., Any] | None = None,
                 post_reset: Callable[..., Any] | None = None,
                 no_dynamic_id: bool | None = None,
                 supports_autosuspend: bool | None = None,
                 soft_unbind: bool | None = None,
                 owner: Any = None) -> None:
        driver_name = name or getattr(type(self), "name", None) or type(self).__name__.lower()
        super().__init__(driver_name)
        if owner is not None:
            self.owner = owner
        if id_table is not None:
            self.id_table = tuple(id_table)
        hooks = {"probe": probe, "disconnect": disconnect, "suspend": suspend,
                 "resume": resume, "reset_resume": reset_resume, "pre_reset": pre_reset,
                 "post_reset": post_reset}
        for attr, hook in hooks.items():
            if hook is not None:
                setattr(self, attr, hook)
        for attr, flag in (("no_dynamic_id", no_dynamic_id),
                           ("supports_autosuspend", supports_autosuspend),
                           ("soft_unbind", soft_unbind)):
            if flag is not None:
                setattr(self, attr, flag)
        self.dynids: list[UsbDeviceId] = []

    async def probe(self, intf: UsbInterface, id: UsbDeviceId) -> int | None:
        """Take the interface (return None/0), decline it (raise ProbeDeclined), or fail.
        Context: may sleep; the caller holds the interface's lock."""
        return -Errno.ENODEV

    async def disconnect(self, intf: UsbInterface) -> None:
        """The interface goes away or is unbound; stop all I/O on it.
        Context: may sleep; the caller holds the interface's lock."""

    async def suspend(self, intf: UsbInterface, message: str) -> int:
        """The device is about to be suspended (`message` is the pm_message_t, e.g.
        "auto-suspend"); quiesce the interface.  0, or -errno to veto the suspend.
        Context: may sleep."""
        return 0

    async def resume(self, intf: UsbInterface) -> int:
        """The device has been resumed; restart the interface's I/O.  0 or -errno
        ("resume error %d").  Context: may sleep."""
        return 0

    async def reset_resume(self, intf: UsbInterface) -> int:
        """The suspended device was reset instead of resumed.  By default, `resume`.
        Context: may sleep."""
        return await _call(self.resume, intf)  # type: ignore[no-any-return]

    async def pre_reset(self, intf: UsbInterface) -> int:
        """usb_reset_device() is about to reset the device: stop I/O on the interface.
        0, or non-zero to have the interface unbound instead.  Used only when the driver
        also supplies `post_reset`.  Context: may sleep."""
        return 0

    async def post_reset(self, intf: UsbInterface) -> int:
        """The device has been reset: restart I/O on the interface.  0, or non-zero to
        have the interface unbound and probed again.  Context: may sleep."""
        return 0

    def has_probe(self) -> bool:
        """Whether the driver supplies its own probe (a class override or a `probe=`
        hook); only such a driver has new_id / remove_id files.  Context: atomic."""
        return type(self).probe is not UsbDriver.probe or "probe" in vars(self)


class UsbDeviceDriver(Driver):
    """struct usb_device_driver: a driver for a whole device (the generic driver "usb",
    or a specialised one)."""

    id_table: Sequence[UsbDeviceId] | None = None
    generic_subclass = False
    supports_autosuspend = False

    def __init__(self, name: str | None = None, *,
                 id_table: Sequence[UsbDeviceId] | None = None,
                 match: Callable[[UsbDevice], bool] | None = None,
                 probe: Callable[..., Any] | None = None,
                 disconnect: Callable[..., Any] | None = None,
                 choose_configuration: Callable[[UsbDevice], int] | None = None) -> None:
        super().__init__(name or type(self).__name__.lower())
        if id_table is not None:
            self.id_table = tuple(id_table)
        self._match = match
        for attr, hook in (("probe", probe), ("disconnect", disconnect),
                           ("choose_configuration", choose_configuration)):
            if hook is not None:
                setattr(self, attr, hook)

    def match(self, udev: UsbDevice) -> bool | None:
        """The driver's own match(); None when it has none.  Context: atomic."""
        return None if self._match is None else self._match(udev)

    async def probe(self, udev: UsbDevice) -> int | None:
        """Take the device (return None/0) or fail with -errno (-ENODEV declines).
        Context: may sleep; the caller holds the device's lock."""
        return 0

    async def disconnect(self, udev: UsbDevice) -> None:
        """The device goes away or is unbound.
        Context: may sleep; the caller holds the device's lock."""

    def choose_configuration(self, udev: UsbDevice) -> int:
        """A configuration value to use, or -1 to let usbcore choose.  Context: atomic."""
        return -1

    @property
    def matches_any(self) -> bool:
        """The driver has neither an id table nor a match(): usb_device_match() offers it
        every device and lets its probe decide (usbip-host), but it is never "applicable"
        in the generic driver's sense.  Context: atomic."""
        return self.id_table is None and self._match is None

    def applicable(self, udev: UsbDevice) -> bool:
        """usb_driver_applicable(): id table (if any) and match() (if any) both agree;
        False for a driver with neither.  Context: atomic."""
        if self.matches_any:
            return False
        desc = udev.descriptor
        if self.id_table is not None and (desc is None
                                          or device_match_id(desc, self.id_table) is None):
            return False
        own = self.match(udev)
        return own is None or own


class UsbBusType(BusType):
    """usb_bus_type: devices and interfaces, device drivers and interface drivers."""

    def __init__(self, core: UsbCore) -> None:
        super().__init__("usb", core.driver_core)
        self.usb = core

    # -- match --------------------------------------------------------------------------------

    def match(self, dev: Device, drv: Driver) -> bool:
        """usb_device_match(): a device matches a device driver (the generic driver "usb"
        only when no specialised driver applies, or when one declined it), an interface
        an interface driver with a matching dynamic or static id.  Context: atomic."""
        if isinstance(dev, UsbDevice):
            return isinstance(drv, UsbDeviceDriver) and self._match_device(dev, drv)
        if isinstance(dev, UsbInterface) and isinstance(drv, UsbDriver):
            return self.interface_id(dev, drv) is not None
        return False

    def _match_device(self, udev: UsbDevice, drv: UsbDeviceDriver) -> bool:
        if drv.name != "usb" or not isinstance(drv, UsbDeviceDriver):
            return drv.matches_any or drv.applicable(udev)
        if udev.use_generic_driver:
            return True
        return not any(isinstance(other, UsbDeviceDriver) and other is not drv
                       and other.applicable(udev) for other in self.drivers)

    @staticmethod
    def interface_id(intf: UsbInterface, drv: UsbDriver) -> UsbDeviceId | None:
        """The id a probe receives: the first matching dynamic id, else the static table's
        first match; None when neither matches.  Context: atomic."""
        desc = intf.usb_dev.descriptor
        if desc is None:
            return None
        alt = intf.cur_altsetting.desc
        found = match_dynamic_id(desc, alt, drv.dynids)
        if found is None:
            found = match_id(desc, alt, drv.id_table)
        return found

    # -- probe and remove ---------------------------------------------------------------------

    async def notify_add(self, dev: Device) -> None:
        """BUS_NOTIFY_ADD_DEVICE: an interface's iInterface string is read now, before any
        driver probes it (usb_create_sysfs_intf_files).  Context: may sleep."""
        if isinstance(dev, UsbInterface):
            from .message import usb_cache_string

            alt = dev.cur_altsetting
            if alt.string is None and alt.desc.iInterface:
                index = alt.desc.iInterface
                alt.string = await usb_cache_string(dev.usb_dev,
                                                    index if isinstance(index, int) else 0)

    async def probe(self, dev: Device, drv: Driver) -> int:
        """usb_probe_interface() / usb_probe_device(): bind `drv` to `dev`; 0 or -errno
        (-ENODEV when they are of different kinds).  Context: may sleep; the caller holds
        the device's lock."""
        if isinstance(dev, UsbInterface) and isinstance(drv, UsbDriver):
            return await self._probe_interface(dev, drv)
        if isinstance(dev, UsbDevice) and isinstance(drv, UsbDeviceDriver):
            return await self._probe_device(dev, drv)
        return -Errno.ENODEV

    async def _probe_device(self, udev: UsbDevice, drv: UsbDeviceDriver) -> int:
        """usb_probe_device(): a specialised driver matched by its id table or match()
        that declines (-ENODEV) hands the device to the generic driver: use_generic_driver
        is set and the probe is deferred (the driver core retries the walk)."""
        result = _errno_of(await _call(drv.probe, udev))
        if (result == -Errno.ENODEV and drv.name != "usb"
                and (drv.id_table is not None or drv._match is not None)):
            udev.use_generic_driver = True
            return -Errno.EPROBE_DEFER
        return result

    async def _probe_interface(self, intf: UsbInterface, drv: UsbDriver) -> int:
        """usb_probe_interface(): -ENODEV while the device's port has an owner (usbfs,
        usbip-host), so that no interface driver takes an interface of a device someone
        else owns."""
        from .hub import usb_device_is_owned

        udev, log = intf.usb_dev, self.usb.log
        if usb_device_is_owned(udev):
            return -Errno.ENODEV
        if not udev.authorized:
            log.dev_err(intf, "Device is not authorized for usage")
            return -Errno.ENODEV
        if not intf.authorized:
            log.dev_err(intf, f"Interface {intf.number} is not authorized for usage")
            return -Errno.ENODEV
        id = self.interface_id(intf, drv)
        if id is None:
            return -Errno.ENODEV
        intf.set_condition(InterfaceCondition.BINDING)
        try:
            result = _errno_of(await _call(drv.probe, intf, id))
        except BaseException:
            intf.set_condition(InterfaceCondition.UNBOUND)
            raise
        if result:
            intf.set_condition(InterfaceCondition.UNBOUND)
            intf.driver_data = None
        else:
            intf.set_condition(InterfaceCondition.BOUND)
        return result

    async def remove(self, dev: Device, drv: Driver) -> None:
        """usb_unbind_interface() / usb_unbind_device(): unbind `drv` from `dev` (its
        disconnect() runs).  Context: may sleep; the caller holds the device's lock."""
        if isinstance(dev, UsbInterface) and isinstance(drv, UsbDriver):
            await self._unbind_interface(dev, drv)
        elif isinstance(dev, UsbDevice) and isinstance(drv, UsbDeviceDriver):
            await _call(drv.disconnect, dev)

    async def _unbind_interface(self, intf: UsbInterface, drv: UsbDriver) -> None:
        """usb_unbind_interface(): kill the interface's URBs (unless the driver unbinds
        softly from a present device), disconnect, back to altsetting 0."""
        from .message import usb_disable_interface, usb_enable_interface, usb_set_interface

        udev = intf.usb_dev
        if intf.condition is InterfaceCondition.BOUND:
            intf.set_condition(InterfaceCondition.UNBINDING)
        if not drv.soft_unbind or udev.state is DeviceState.NOTATTACHED:
            await usb_disable_interface(udev, intf, False)
        try:
            await _call(drv.disconnect, intf)
        finally:
            if intf.cur_altsetting.desc.bAlternateSetting == 0:
                usb_enable_interface(udev, intf)
            elif udev.state is not DeviceState.NOTATTACHED:
                await usb_set_interface(udev, intf.number, 0)
            if intf.condition is InterfaceCondition.UNBINDING:
                intf.set_condition(InterfaceCondition.UNBOUND)
            intf.needs_remote_wakeup = False

    # -- uevent -------------------------------------------------------------------------------

    def uevent(self, dev: Device) -> list[tuple[str, str]]:
        """usb_uevent(): PRODUCT and TYPE, then INTERFACE and MODALIAS for an interface or
        BUSNUM and DEVNUM for a device; nothing before the device descriptor is read.
        Context: atomic."""
        udev = dev.usb_dev if isinstance(dev, UsbInterface) else dev
        if not isinstance(udev, UsbDevice) or udev.descriptor is None:
            return []
        d = udev.descriptor
        env = [("PRODUCT", f"{d.idVendor:x}/{d.idProduct:x}/{d.bcdDevice:x}"),
               ("TYPE", f"{d.bDeviceClass}/{d.bDeviceSubClass}/{d.bDeviceProtocol}")]
        if isinstance(dev, UsbInterface):
            alt = dev.cur_altsetting.desc
            env += [("INTERFACE", f"{alt.bInterfaceClass}/{alt.bInterfaceSubClass}/"
                                  f"{alt.bInterfaceProtocol}"),
                    ("MODALIAS", interface_modalias(d, alt))]
        else:
            env += [("BUSNUM", f"{udev.busnum:03d}"), ("DEVNUM", f"{udev.devnum:03d}")]
        return env


# -- registration -------------------------------------------------------------------------------


async def usb_register(core: UsbCore, drv: UsbDriver) -> None:
    """usb_register_driver(): register an interface driver and bind it to every matching
    unbound interface, then log "usbcore: registered new interface driver %s".  Raises
    OSError(EBUSY) if a driver of that name is registered (driver_register logs "Error:
    Driver '%s' is already registered, aborting...").  Context: may sleep."""
    drv.bus = core.bus_type
    await core.driver_core.driver_register(drv)
    core.log.info(f"usbcore: registered new interface driver {drv.name}")


async def usb_deregister(core: UsbCore, drv: UsbDriver) -> None:
    """usb_deregister(): unbind the driver from every interface, then remove it.
    Context: may sleep."""
    core.log.info(f"usbcore: deregistering interface driver {drv.name}")
    await core.driver_core.driver_unregister(drv)
    drv.dynids.clear()


async def usb_register_device_driver(core: UsbCore, drv: UsbDeviceDriver) -> None:
    """usb_register_device_driver(); a new specialised driver may take devices from the
    generic driver, as Linux rebinds them (__usb_bus_reprobe_drivers).  A refused
    registration logs "usbcore: error %d registering device driver %s" and raises the
    OSError.  Context: may sleep."""
    drv.bus = core.bus_type
    try:
        await core.driver_core.driver_register(drv)
    except OSError as exc:
        core.log.log(Level.ERR, f"usbcore: error {-(exc.errno or Errno.EIO)} registering "
                                f"device driver {drv.name}")
        raise
    core.log.info(f"usbcore: registered new device driver {drv.name}")
    if drv.name != "usb":
        for dev in list(core.bus_type.devices):
            if isinstance(dev, UsbDevice) and dev.driver is not None \
                    and dev.driver.name == "usb" and drv.applicable(dev):
                await core.driver_core.device_release_driver(dev)
                await core.driver_core.device_attach(dev)


async def usb_deregister_device_driver(core: UsbCore, drv: UsbDeviceDriver) -> None:
    """usb_deregister_device_driver(): log "usbcore: deregistering device driver %s",
    unbind the driver from every device, then remove it.  Context: may sleep."""
    core.log.info(f"usbcore: deregistering device driver {drv.name}")
    await core.driver_core.driver_unregister(drv)


# -- claiming interfaces --------------------------------------------------------------------


async def usb_driver_claim_interface(drv: UsbDriver, intf: UsbInterface, data: Any) -> int:
    """Bind `drv` to a further interface without probing it (from a probe routine);
    0, -EBUSY when the interface already has a driver, -ENODEV when it is not authorized.
    An interface not registered yet is bound (uevent "bind") when it is registered.
    Context: may sleep."""
    if intf.driver is not None:
        return -Errno.EBUSY
    if not intf.authorized:
        return -Errno.ENODEV
    intf.driver = drv
    intf.driver_data = data
    intf.needs_binding = False
    intf.set_condition(InterfaceCondition.BINDING)
    intf.set_condition(InterfaceCondition.BOUND)
    if intf.registered and intf.bus is not None:
        intf.bus.core.uevent(intf, "bind")
    return 0


async def usb_driver_release_interface(drv: UsbDriver, intf: UsbInterface) -> None:
    """Give up an interface claimed by `drv`; its disconnect() runs (from process
    context, not from the interface's own disconnect).  Context: may sleep."""
    if intf.driver is not drv or intf.condition is not InterfaceCondition.BOUND:
        return
    if intf.bus is not None:
        await intf.bus.core.device_release_driver(intf)


def usb_interface_claimed(intf: UsbInterface) -> bool:
    """usb_interface_claimed(): whether a driver is bound to the interface.
    Context: atomic."""
    return intf.driver is not None


# -- dynamic ids (sysfs new_id / remove_id) -------------------------------------------------


async def store_new_id(core: UsbCore, drv: UsbDriver, text: str) -> int:
    """Write to /sys/bus/usb/drivers/NAME/new_id: add a dynamic id and attach the driver
    at once; returns len(text), or raises DynIdError (an OSError).  A driver without a
    probe or with no_dynamic_id has no new_id file: FileNotFoundError.  Context: may sleep."""
    _check_dynid_files(drv)
    dynid = parse_new_id(text, drv.id_table)
    drv.dynids.append(dynid)
    await core.driver_core.driver_attach(drv)
    return len(text)


def _check_dynid_files(drv: UsbDriver) -> None:
    """usb_create_newid_files(): new_id/remove_id exist only for drivers with a probe
    and without no_dynamic_id."""
    if drv.no_dynamic_id or not drv.has_probe():
        raise FileNotFoundError(Errno.ENOENT, f"/sys/bus/usb/drivers/{drv.name} has no "
                                              "new_id or remove_id file")


def store_remove_id(drv: UsbDriver, text: str) -> int:
    """Write to remove_id: drop the first dynamic id with that vendor/product (bound
    interfaces stay bound); returns len(text) even when nothing matched.  Raises
    DynIdError for a malformed line, FileNotFoundError as `store_new_id`.  Context: atomic."""
    _check_dynid_files(drv)
    vendor, product = parse_remove_id(text)
    for dynid in drv.dynids:
        if dynid.idVendor == vendor and dynid.idProduct == product:
            drv.dynids.remove(dynid)
            break
    return len(text)


def usb_match_id(intf: UsbInterface, table: Sequence[UsbDeviceId]) -> UsbDeviceId | None:
    """usb_match_id(): the first entry of `table` matching the interface, or None.
    Context: atomic."""
    desc = intf.usb_dev.descriptor
    return None if desc is None else match_id(desc, intf.cur_altsetting.desc, table)



# -- power management (driver.c usb_suspend_both / usb_resume_both, hub.c port suspend) ----------

PMSG_AUTO_SUSPEND: Final = "auto-suspend"
"""The pm_message_t an interface driver's suspend() receives (PMSG_AUTO_SUSPEND)."""
USB_RESUME_TIMEOUT: Final = 40
"""Resume signalling time in ms (include/linux/usb.h, USB 2.0 §7.1.7.7 says ≥ 20)."""


async def _suspend_interface(udev: UsbDevice, intf: UsbInterface, msg: str) -> int:
    """usb_suspend_interface(): the bound driver's suspend(intf, msg)."""
    drv = intf.driver
    if (udev.state is DeviceState.NOTATTACHED or intf.condition is InterfaceCondition.UNBOUND
            or not isinstance(drv, UsbDriver)):
        return 0
    try:
        return _errno_of(await _call(drv.suspend, intf, msg))
    except BaseException as exc:  # a driver bug: oops, the suspend fails
        udev.usb_bus.core.driver_core.contain(f"suspend of {intf.name} by driver {drv.name}", exc)
        return -Errno.EIO


async def _resume_interface(udev: UsbDevice, intf: UsbInterface) -> int:
    """usb_resume_interface(): the bound driver's resume(intf); "resume error %d"."""
    drv = intf.driver
    if (udev.state is DeviceState.NOTATTACHED or intf.condition is not InterfaceCondition.BOUND
            or intf.needs_binding or not isinstance(drv, UsbDriver)):
        return 0
    try:
        status = _errno_of(await _call(drv.resume, intf))
    except BaseException as exc:
        udev.usb_bus.core.driver_core.contain(f"resume of {intf.name} by driver {drv.name}", exc)
        status = -Errno.EIO
    if status:
        udev.usb_bus.core.log.dev_err(intf, f"resume error {status}")
    return status


async def _port_suspend(udev: UsbDevice, msg: str) -> int:
    """usb_port_suspend() for a USB 2.0 port: SetPortFeature(PORT_SUSPEND), then the
    device has 10 ms to suspend."""
    from ..spec.hub import PortFeature
    from .hub import msleep, set_port_feature, usb_hub_to_struct_hub

    parent = udev.usb_parent
    hub = usb_hub_to_struct_hub(parent)
    assert parent is not None and hub is not None
    log = udev.usb_bus.core.log
    status = await set_port_feature(parent, udev.portnum, PortFeature.SUSPEND)
    if status:
        log.dev_dbg(hub.port(udev.portnum), f"can't suspend, status {status}")
        return status
    log.dev_dbg(udev, f"usb {'auto-' if msg == PMSG_AUTO_SUSPEND else ''}suspend, wakeup 0")
    await msleep(10)
    udev.set_state(DeviceState.SUSPENDED)
    return 0


async def _port_resume(udev: UsbDevice) -> int:
    """usb_port_resume() for a USB 2.0 port: ClearPortFeature(PORT_SUSPEND), resume
    signalling for USB_RESUME_TIMEOUT ms, C_PORT_SUSPEND cleared, TRSMRCY, then
    finish_port_resume (state back, GET_STATUS of the device).  A device that does not
    come back is logically disconnected."""
    from ..spec.hub import PortChange, PortFeature, PortStat
    from .hub import (
        hub_port_logical_disconnect,
        msleep,
        usb_clear_port_feature,
        usb_get_std_status,
        usb_hub_port_status,
        usb_hub_to_struct_hub,
    )

    parent = udev.usb_parent
    hub = usb_hub_to_struct_hub(parent)
    assert parent is not None and hub is not None
    log, port1 = udev.usb_bus.core.log, udev.portnum
    status, portstatus, portchange = await usb_hub_port_status(hub, port1)
    if status or portstatus & PortStat.SUSPEND:
        status = await usb_clear_port_feature(parent, port1, PortFeature.SUSPEND)
        if status:
            log.dev_dbg(hub.port(port1), f"can't resume, status {status}")
        else:
            log.dev_dbg(udev, "usb auto-resume")
            await msleep(USB_RESUME_TIMEOUT)
            status, portstatus, portchange = await usb_hub_port_status(hub, port1)
    if status == 0:
        if portchange & PortChange.C_SUSPEND:
            await usb_clear_port_feature(parent, port1, PortFeature.C_SUSPEND)
        await msleep(10)  # TRSMRCY
        # check_port_resume_type(): is the device still there, on an enabled port?
        if (portstatus & PortStat.SUSPEND or not portstatus & PortStat.CONNECTION
                or not portstatus & PortStat.ENABLE):
            status = -Errno.ENODEV
    if status == 0:
        # finish_port_resume()
        udev.set_state(DeviceState.CONFIGURED if udev.actconfig is not None
                       else DeviceState.ADDRESS)
        status, _ = await usb_get_std_status(udev)
        if status:
            log.dev_dbg(udev, f"gone after usb resume? status {status}")
    if status < 0:
        log.dev_dbg(udev, f"can't resume, status {status}")
        await hub_port_logical_disconnect(hub, port1)
    return status


async def usb_suspend_device(udev: UsbDevice) -> int:
    """Suspend a device as runtime PM does (usb_suspend_both with PMSG_AUTO_SUSPEND):
    each bound interface driver's suspend(intf, "auto-suspend"), last interface first —
    an error stops there and resumes the interfaces already suspended — then
    SetPortFeature(PORT_SUSPEND) on the parent hub's port — or, for a root hub, the
    controller's bus suspend (hcd_bus_suspend), once every device below it is suspended
    (else -EBUSY from the hub driver); the device is SUSPENDED, new URBs fail with
    -EHOSTUNREACH and queued ones are flushed (-ESHUTDOWN).  0 (also for a device already
    suspended or gone) or -errno (-ENOENT for a controller without bus suspend).
    Context: may sleep; not from the device's own probe."""
    if udev.state in (DeviceState.NOTATTACHED, DeviceState.SUSPENDED):
        return 0
    msg = PMSG_AUTO_SUSPEND
    interfaces = list(udev.interfaces())
    status, done = 0, len(interfaces)
    for i in range(len(interfaces) - 1, -1, -1):
        status = await _suspend_interface(udev, interfaces[i], msg)
        if status:
            done = i + 1
            break
        done = i
    if status == 0 and udev.usb_parent is None:  # generic_suspend of a root hub
        status = await hcd_bus_suspend(udev, auto=msg == PMSG_AUTO_SUSPEND)
    elif status == 0:
        status = await _port_suspend(udev, msg)
        if status and status != -Errno.EBUSY:
            from .hub import usb_get_std_status

            err, _ = await usb_get_std_status(udev)
            if err:
                udev.usb_bus.core.log.dev_err(udev, f"Failed to suspend device, error "
                                                    f"{status}")
                return status
    if status:
        for intf in interfaces[done:]:
            await _resume_interface(udev, intf)
        return status
    hcd = udev.usb_bus.hcd
    for table in (udev.ep_out, udev.ep_in):
        for hep in table:
            if hep is not None:
                await hcd.flush_endpoint(udev, hep)
    return 0


async def usb_resume_device(udev: UsbDevice) -> int:
    """Resume a suspended device (usb_resume_both): the port first (usb_port_resume, or
    for a root hub the controller's bus resume), then each bound interface driver's
    resume(intf), first interface first.  0, -ENODEV
    for a device that is gone, or the port's -errno.  Context: may sleep."""
    if udev.state is DeviceState.NOTATTACHED:
        return -Errno.ENODEV
    status = 0
    if udev.state is DeviceState.SUSPENDED:
        status = (await hcd_bus_resume(udev) if udev.usb_parent is None
                  else await _port_resume(udev))
    if status == 0:
        for intf in list(udev.interfaces()):
            await _resume_interface(udev, intf)
    return status
