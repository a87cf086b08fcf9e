"""USB in sysfs — counterpart of drivers/usb/core/sysfs.c (device and interface
attributes, the power/ files usbcore adds), endpoint.c (the ep_XX directories), the
attributes of port.c, and the new_id/remove_id files of driver.c.

`install_usb_sysfs(system)` builds USB's directories into the driver core's sysfs
(kernel/sysfs.py, which it mounts first if need be) and mounts the devices file:

    /sys/devices/pci0000:00/<controller>/usbN/...   device, interface, ep_XX, port dirs
    /sys/bus/usb/drivers/<driver>/{new_id,remove_id}
    /sys/kernel/debug/usb/devices                  (core/devices.py)

What is not USB's comes from elsewhere: the bus's devices/ and drivers/ directories, bind,
unbind, uevent, drivers_probe and drivers_autoprobe, the `driver` and `subsystem` links and
the attribute-table machinery from kernel/sysfs.py; the controllers' PCI directories
(/sys/devices/pci0000:00, /sys/bus/pci) from kernel/pci_sysfs.py and platform directories
(/sys/devices/platform, for vhci_hcd.0) from kernel/platform.py, to which this module
supplies the controllers.

Nothing is copied: every directory is listed and every attribute formatted from the live
kernel objects when it is read, with Linux's formats, Linux's empty files (attributes of the
active configuration on an unconfigured device) and Linux's absent files (strings the device
does not have, IAD attributes of an interface no IAD covers).  Writes go through the same
calls the kernel's store functions make (usb_set_configuration, usb_remove_device,
store_new_id …) and fail with the same negative errno.  Each attribute is one row of a
table: name, format (a function of the object), store, mode, visibility — as sysfs.c
declares them with DEVICE_ATTR_RO/RW and is_visible.

Not modelled: runtime power management itself (the power/ files report usbemu's state by
Linux's rules — a device's runtime_status follows its SUSPENDED state, an interface has
runtime PM only under a driver that supports autosuspend and reads "disabled" /
"unsupported" otherwise, hubs the hub driver binds have an autosuspend delay of 0,
wakeup counters exist while wakeup is enabled, durations count from the add uevent — and
are read-only), firmware (ACPI/OF) port information (`connect_type` is "unknown",
`location` 0), SuperSpeed port peers and LPM files, the `authorized_default` policies
(shown, not writable: enumeration does not consult them), `wireless_status`, and
`devspec`.  Other subsystems put their own entries into a USB directory (a class device
such as usbmisc/pen0 below its interface) through the driver core's `child_providers`.
"""

from __future__ import annotations

import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..errors import Errno
from ..kernel.device import Device, Driver, DriverCore, Uevent
from ..kernel.file2alias import interface_modalias
from ..kernel.pci_sysfs import install_pci_sysfs
from ..kernel.platform import install_platform_sysfs
from ..kernel.sysfs import (
    ChildProvider,
    SysAttr,
    Sysfs,
    attr_group,
    device_path,
    install_sysfs,
    kstrtobool,
    ro,
    scan_int,
    store_filtered_uevent,
    store_uevent,
    sysfs_link,
    uevent_text,
)
from ..kernel.vfs import Attr, Node, StaticDir, Vfs
from ..kernel.weak import WeakTable
from ..spec.ch9 import ClassCode, DeviceState, EndpointType, Speed
from ..spec.descriptors import CapabilityType, EndpointDescriptor
from .devtable import show_dynids
from .driver import UsbBusType, UsbDriver, store_new_id, store_remove_id
from .port import UsbPort
from .usb import USB_DEVICE_MAJOR, UsbDevice, UsbHostEndpoint, UsbInterface

if TYPE_CHECKING:
    from .usbcore import UsbCore

__all__ = [
    "DEVICE_ATTRS",
    "ENDPOINT_ATTRS",
    "INTERFACE_ATTRS",
    "INTERFACE_DRIVER_ATTRS",
    "PORT_ATTRS",
    "UsbSysfs",
    "decode_interval",
    "descriptors_bytes",
    "install_usb_sysfs",
    "interval_text",
    "speed_text",
    "usb_authorize_device",
    "usb_deauthorize_device",
    "usb_driver_files",
    "usb_remove_device",
    "usb_sysfs",
]


USB_QUIRK_RESET: Final = 0x10
"""include/linux/usb/quirks.h: USB_QUIRK_RESET (BIT(4)), the avoid_reset_quirk bit."""
USB_LTM_SUPPORT: Final = 0x02
"""bmAttributes bit of the SuperSpeed device capability: LTM supported."""
HUB_CHAR_COMPOUND: Final = 0x0004


# -- value helpers (drivers/usb/common/common.c, sysfs.c) ---------------------------------------


def speed_text(speed: Speed) -> str:
    """speed_show(): the `speed` attribute's value.  Context: atomic."""
    return {Speed.LOW: "1.5", Speed.UNKNOWN: "12", Speed.FULL: "12", Speed.HIGH: "480",
            Speed.SUPER: "5000", Speed.SUPER_PLUS: "10000"}.get(speed, "unknown")


def decode_interval(desc: EndpointDescriptor, speed: Speed) -> int:
    """usb_decode_interval(): the endpoint's period in µs as the kernel computes it (unsigned
    32-bit arithmetic and x86's shift-count masking included, for hostile bInterval values).
    Context: atomic."""
    kind = desc.bmAttributes & 3
    binterval = desc.bInterval
    interval = 0
    if kind == EndpointType.CONTROL:
        if speed == Speed.HIGH:
            interval = binterval
    elif kind == EndpointType.ISOC:
        interval = 1 << ((binterval - 1) & 31)
    elif kind == EndpointType.BULK:
        if speed == Speed.HIGH and not desc.bEndpointAddress & 0x80:
            interval = binterval
    elif speed >= Speed.HIGH:
        interval = 1 << ((binterval - 1) & 31)
    else:
        interval = binterval
    return (interval * (125 if speed >= Speed.HIGH else 1000)) & 0xFFFFFFFF


def interval_text(desc: EndpointDescriptor, speed: Speed) -> str:
    """`%d%cs` of usb_decode_interval(): "125us", "8ms", "0ms" (no newline).
    Context: atomic."""
    interval = decode_interval(desc, speed)
    unit = "u"
    if interval % 1000 == 0:
        unit, interval = "m", interval // 1000
    signed = interval - (1 << 32) if interval >= 1 << 31 else interval
    return f"{signed}{unit}s"


def _index(ref: object) -> int:
    return ref if isinstance(ref, int) else 0


def _device_descriptor_bytes(udev: UsbDevice) -> bytes:
    """struct usb_device_descriptor as the kernel keeps it: always 18 bytes, wire order."""
    d = udev.descriptor
    if d is None:
        return bytes(18)
    ncfg = d.bNumConfigurations if d.bNumConfigurations is not None else len(udev.config)
    return struct.pack("<BBHBBBBHHHBBBB", (d.bLength if d.bLength is not None else 18) & 0xFF,
                       1, d.bcdUSB, d.bDeviceClass, d.bDeviceSubClass, d.bDeviceProtocol,
                       d.bMaxPacketSize0, d.idVendor, d.idProduct, d.bcdDevice,
                       _index(d.iManufacturer), _index(d.iProduct), _index(d.iSerialNumber),
                       ncfg & 0xFF)


def descriptors_bytes(udev: UsbDevice) -> bytes:
    """descriptors_read(): the device descriptor, then every configuration's raw bytes as
    read, each cut to its (parsed) wTotalLength.  Context: atomic."""
    parts = [_device_descriptor_bytes(udev)]
    for config, raw in zip(udev.config, udev.rawdescriptors, strict=False):
        total = config.desc.wTotalLength
        parts.append(raw[:total] if total is not None else raw)
    return b"".join(parts)


# -- attribute tables ----------------------------------------------------------------------------

# usb_device (sysfs.c dev_attrs, dev_string_attrs, dev_bin_attrs) ----------------------------


def _desc(udev: UsbDevice) -> Any:
    return udev.descriptor


def _act(udev: UsbDevice, fmt: Callable[[Any], str]) -> str:
    """usb_actconfig_show(): the value for the active configuration, empty without one."""
    return "" if udev.actconfig is None else fmt(udev.actconfig)


def _bcd(value: int) -> str:
    return f"{value >> 8:2x}.{value & 0xFF:02x}"


def _bos_ltm(udev: UsbDevice) -> bool:
    """usb_device_supports_ltm()."""
    if udev.speed < Speed.SUPER or udev.bos is None:
        return False
    cap = udev.bos.capability(CapabilityType.SUPERSPEED_USB)
    return cap is not None and bool(cap.data[:1] and cap.data[0] & USB_LTM_SUPPORT)


def _removable(udev: UsbDevice) -> str:
    """The driver core's `removable` as set_usb_port_removable() sets it: known only
    behind a compound hub, from its DeviceRemovable bitmap."""
    from .hub import usb_hub_to_struct_hub

    hub = usb_hub_to_struct_hub(udev.usb_parent)
    if hub is None or hub.descriptor is None:
        return "unknown"
    desc = hub.descriptor
    if not desc.wHubCharacteristics & HUB_CHAR_COMPOUND:
        return "unknown"
    port = udev.portnum
    bitmap = desc.DeviceRemovable
    fixed = port // 8 < len(bitmap) and bitmap[port // 8] & (1 << (port % 8))
    return "fixed" if fixed else "removable"


def _max_power(udev: UsbDevice) -> str:
    return _act(udev, lambda c: f"{c.desc.max_power_ma(udev.speed)}mA\n")


def _hcd_of(udev: UsbDevice) -> Any:
    return udev.usb_bus.hcd


async def _store_bconfigurationvalue(udev: UsbDevice, data: bytes) -> int:
    """bConfigurationValue_store(): sscanf %d in −1..255, then usb_set_configuration."""
    from .message import usb_set_configuration

    config = scan_int(data)
    if config is None or not -1 <= config <= 255:
        return -Errno.EINVAL
    async with udev.lock:
        value = await usb_set_configuration(udev, config)
    return value if value < 0 else len(data)


async def _store_authorized(udev: UsbDevice, data: bytes) -> int:
    """authorized_store(): 0 deauthorizes (unconfigure), anything else authorizes (choose
    and set a configuration, "authorized to connect")."""
    value = scan_int(data)
    if value is None:
        return -Errno.EINVAL
    result = await (usb_deauthorize_device(udev) if value == 0 else usb_authorize_device(udev))
    return result if result < 0 else len(data)


async def usb_deauthorize_device(udev: UsbDevice) -> int:
    """usb_deauthorize_device() (hub.c): drop the configuration; 0.
    Context: may sleep."""
    from .message import usb_set_configuration

    async with udev.lock:
        if udev.authorized:
            udev.authorized = False
            await usb_set_configuration(udev, -1)
    return 0


async def usb_authorize_device(udev: UsbDevice) -> int:
    """usb_authorize_device() (hub.c): authorize, choose and set a configuration; the
    error of a failed SET_CONFIGURATION is returned (and logged).  Context: may sleep."""
    from .driver import usb_resume_device
    from .generic import usb_choose_configuration
    from .message import usb_set_configuration

    log = udev.usb_bus.core.log
    async with udev.lock:
        if udev.authorized:
            return 0
        if udev.state is DeviceState.SUSPENDED:
            result = await usb_resume_device(udev)
            if result < 0:
                log.dev_err(udev, f"can't autoresume for authorization: {result}")
                return result
        udev.authorized = True
        result = 0
        choice = usb_choose_configuration(udev)
        if choice >= 0:
            result = await usb_set_configuration(udev, choice)
            if result:
                log.dev_err(udev, f"can't set config #{choice}, error {result}")
        log.dev_info(udev, "authorized to connect")
    return result


async def _store_avoid_reset(udev: UsbDevice, data: bytes) -> int:
    value = kstrtobool(data)
    if value is None:
        return -Errno.EINVAL
    async with udev.lock:
        udev.quirks = udev.quirks | USB_QUIRK_RESET if value else udev.quirks & ~USB_QUIRK_RESET
    return len(data)


async def _store_remove(udev: UsbDevice, data: bytes) -> int:
    """remove_store(): unconfigure, then usb_remove_device (logical disconnect of the
    port, which the hub driver will not re-enumerate); a root hub is unconfigured and
    then refused with -EINVAL, as in Linux."""
    from .message import usb_set_configuration

    rc = 0
    async with udev.lock:
        if udev.state is not DeviceState.NOTATTACHED:
            await usb_set_configuration(udev, -1)
            rc = await usb_remove_device(udev)
    return len(data) if rc == 0 else rc


async def usb_remove_device(udev: UsbDevice) -> int:
    """usb_remove_device() (hub.c): mark the port removed and disconnect it logically;
    -EINVAL for a root hub.  Context: may sleep."""
    from .hub import hub_port_logical_disconnect, usb_hub_to_struct_hub

    hub = usb_hub_to_struct_hub(udev.usb_parent)
    if udev.usb_parent is None or hub is None:
        return -Errno.EINVAL
    hub.removed_bits |= 1 << udev.portnum
    await hub_port_logical_disconnect(hub, udev.portnum)
    return 0


def _is_root(udev: UsbDevice) -> bool:
    return udev.is_root_hub


def _has_string(attr: str) -> Callable[[UsbDevice], bool]:
    return lambda udev: getattr(udev, attr) is not None


def _has_bos(udev: UsbDevice) -> bool:
    return udev.bos is not None


DEVICE_ATTRS: Final[tuple[SysAttr[UsbDevice], ...]] = (
    ro("idVendor", lambda u: f"{_desc(u).idVendor:04x}\n"),
    ro("idProduct", lambda u: f"{_desc(u).idProduct:04x}\n"),
    ro("bcdDevice", lambda u: f"{_desc(u).bcdDevice:04x}\n"),
    ro("bDeviceClass", lambda u: f"{_desc(u).bDeviceClass:02x}\n"),
    ro("bDeviceSubClass", lambda u: f"{_desc(u).bDeviceSubClass:02x}\n"),
    ro("bDeviceProtocol", lambda u: f"{_desc(u).bDeviceProtocol:02x}\n"),
    ro("bNumConfigurations", lambda u: f"{_device_descriptor_bytes(u)[17]}\n"),
    ro("bMaxPacketSize0", lambda u: f"{_desc(u).bMaxPacketSize0}\n"),
    ro("version", lambda u: f"{_bcd(_desc(u).bcdUSB)}\n"),
    ro("speed", lambda u: f"{speed_text(u.speed)}\n"),
    ro("rx_lanes", lambda u: "1\n"),
    ro("tx_lanes", lambda u: "1\n"),
    ro("busnum", lambda u: f"{u.busnum}\n"),
    ro("devnum", lambda u: f"{u.devnum}\n"),
    ro("devpath", lambda u: f"{u.devpath}\n"),
    ro("maxchild", lambda u: f"{u.maxchild}\n"),
    ro("quirks", lambda u: f"0x{u.quirks:x}\n"),
    ro("urbnum", lambda u: f"{u.urbnum}\n"),
    ro("ltm_capable", lambda u: "yes\n" if _bos_ltm(u) else "no\n"),
    ro("removable", lambda u: f"{_removable(u)}\n"),
    ro("dev", lambda u: f"{USB_DEVICE_MAJOR}:{u.minor}\n"),
    ro("bNumInterfaces", lambda u: _act(u, lambda c: f"{len(c.intf_cache):2d}\n")),
    ro("bmAttributes", lambda u: _act(u, lambda c: f"{c.desc.bmAttributes:2x}\n")),
    ro("bMaxPower", _max_power),
    ro("configuration", lambda u: _act(u, lambda c: f"{c.string}\n" if c.string else "")),
    SysAttr("bConfigurationValue", lambda u: _act(u, lambda c: f"{c.value}\n"),
            _store_bconfigurationvalue, 0o644),
    SysAttr("authorized", lambda u: f"{int(u.authorized)}\n", _store_authorized, 0o644),
    SysAttr("avoid_reset_quirk", lambda u: f"{int(bool(u.quirks & USB_QUIRK_RESET))}\n",
            _store_avoid_reset, 0o644),
    SysAttr("remove", None, _store_remove, 0o200),
    SysAttr("uevent", uevent_text, store_uevent, 0o644),
    ro("manufacturer", lambda u: f"{u.manufacturer}\n", _has_string("manufacturer")),
    ro("product", lambda u: f"{u.product}\n", _has_string("product")),
    ro("serial", lambda u: f"{u.serial}\n", _has_string("serial")),
    SysAttr("descriptors", descriptors_bytes, binary=True),
    SysAttr("bos_descriptors", lambda u: u.bos.to_bytes() if u.bos is not None else b"",
            visible=_has_bos, binary=True),
    # root hub only (usb_bus_attrs)
    ro("authorized_default", lambda u: f"{getattr(_hcd_of(u), 'dev_policy', 1)}\n", _is_root),
    ro("interface_authorized_default",
        lambda u: f"{int(getattr(_hcd_of(u), 'interface_authorized_default', True))}\n",
        _is_root),
)
"""Files of a usb_device directory (sysfs.c, plus the driver core's dev/uevent/removable)."""


# usb_interface (sysfs.c intf_attrs, intf_assoc_attrs, interface string) ---------------------


def _alt(intf: UsbInterface) -> Any:
    return intf.cur_altsetting.desc


def _has_iad(intf: UsbInterface) -> bool:
    return intf.intf_assoc is not None


def _iad(intf: UsbInterface) -> Any:
    return intf.intf_assoc


def _supports_autosuspend(intf: UsbInterface) -> str:
    drv = intf.driver
    value = drv is None or bool(getattr(drv, "supports_autosuspend", False))
    return f"{int(value)}\n"


def _modalias(intf: UsbInterface) -> str:
    desc = intf.usb_dev.descriptor
    return "" if desc is None else f"{interface_modalias(desc, _alt(intf))}\n"


async def _store_intf_authorized(intf: UsbInterface, data: bytes) -> int:
    """interface_authorized_store(): kstrtobool; 0 unbinds the driver (usb_forced_unbind_intf)
    and keeps drivers away, 1 authorizes again (no rebind, as in Linux)."""
    from .driver import usb_driver_release_interface

    value = kstrtobool(data)
    if value is None:
        return -Errno.EINVAL
    if value:
        intf.authorized = True
        return len(data)
    async with intf.usb_dev.lock:
        if intf.authorized:
            intf.authorized = False
            drv = intf.driver
            if isinstance(drv, UsbDriver):
                intf.needs_binding = True
                await usb_driver_release_interface(drv, intf)
    return len(data)


INTERFACE_ATTRS: Final[tuple[SysAttr[UsbInterface], ...]] = (
    ro("bInterfaceNumber", lambda i: f"{_alt(i).bInterfaceNumber or 0:02x}\n"),
    ro("bAlternateSetting", lambda i: f"{_alt(i).bAlternateSetting:2d}\n"),
    ro("bNumEndpoints", lambda i: f"{len(i.cur_altsetting.endpoint):02x}\n"),
    ro("bInterfaceClass", lambda i: f"{_alt(i).bInterfaceClass:02x}\n"),
    ro("bInterfaceSubClass", lambda i: f"{_alt(i).bInterfaceSubClass:02x}\n"),
    ro("bInterfaceProtocol", lambda i: f"{_alt(i).bInterfaceProtocol:02x}\n"),
    ro("modalias", _modalias),
    ro("supports_autosuspend", _supports_autosuspend),
    SysAttr("authorized", lambda i: f"{int(i.authorized)}\n", _store_intf_authorized, 0o644),
    SysAttr("uevent", uevent_text, store_uevent, 0o644),
    # created with the interface (and again by usb_set_interface) when the current
    # altsetting's iInterface string could be read
    ro("interface",
        lambda i: f"{i.cur_altsetting.string}\n" if i.cur_altsetting.string else "",
        lambda i: i.cur_altsetting.string is not None),
    ro("iad_bFirstInterface", lambda i: f"{_iad(i).bFirstInterface or 0:02x}\n", _has_iad),
    ro("iad_bInterfaceCount", lambda i: f"{_iad(i).bInterfaceCount:02d}\n", _has_iad),
    ro("iad_bFunctionClass", lambda i: f"{_iad(i).bFunctionClass:02x}\n", _has_iad),
    ro("iad_bFunctionSubClass", lambda i: f"{_iad(i).bFunctionSubClass:02x}\n", _has_iad),
    ro("iad_bFunctionProtocol", lambda i: f"{_iad(i).bFunctionProtocol:02x}\n", _has_iad),
)
"""Files of a usb_interface directory; every value is of the current altsetting."""


# ep_XX (endpoint.c) -------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointView:
    """struct ep_device: an endpoint directory's descriptor and its device's speed."""

    desc: EndpointDescriptor
    speed: Speed


_EP_TYPES: Final = ("Control", "Isoc", "Bulk", "Interrupt")


def _ep_direction(ep: EndpointView) -> str:
    if ep.desc.bmAttributes & 3 == EndpointType.CONTROL:
        return "both\n"
    return "in\n" if ep.desc.bEndpointAddress & 0x80 else "out\n"


ENDPOINT_ATTRS: Final[tuple[SysAttr[EndpointView], ...]] = (
    ro("bLength", lambda e: f"{e.desc.size:02x}\n"),
    ro("bEndpointAddress", lambda e: f"{e.desc.bEndpointAddress:02x}\n"),
    ro("bmAttributes", lambda e: f"{e.desc.bmAttributes:02x}\n"),
    ro("bInterval", lambda e: f"{e.desc.bInterval:02x}\n"),
    ro("wMaxPacketSize", lambda e: f"{e.desc.wMaxPacketSize & 0x07FF:04x}\n"),
    ro("type", lambda e: f"{_EP_TYPES[e.desc.bmAttributes & 3]}\n"),
    ro("direction", _ep_direction),
    ro("interval", lambda e: f"{interval_text(e.desc, e.speed)}\n"),
    SysAttr("uevent", lambda e: "", store_filtered_uevent, 0o644),
)
"""Files of an ep_XX directory (endpoint.c); its uevent is empty (no bus, no class)."""


# usb_port (port.c) --------------------------------------------------------------------------


def _port_state(port: UsbPort) -> str:
    child = port.child
    return (child.state if child is not None else DeviceState.NOTATTACHED).linux_name + "\n"


def _port_disabled(port: UsbPort) -> str:
    return "0\n" if port.hub.power_bits & (1 << port.portnum) else "1\n"


async def _store_port_disable(port: UsbPort, data: bytes) -> int:
    """disable_store(): disconnect the child and switch the port's power off (1) or on
    (0); C_CONNECTION and C_ENABLE are cleared after switching off."""
    from ..spec.hub import PortFeature
    from .hub import usb_clear_port_feature, usb_disconnect, usb_hub_set_port_power

    value = kstrtobool(data)
    if value is None:
        return -Errno.EINVAL
    hub = port.hub
    hdev = hub.hdev
    async with hdev.lock:
        if hub.disconnected:
            return -Errno.ENODEV
        child = port.child
        if value and child is not None:
            await usb_disconnect(child)
        rc = await usb_hub_set_port_power(hub, port.portnum, not value)
        if value:
            await usb_clear_port_feature(hdev, port.portnum, PortFeature.C_CONNECTION)
            await usb_clear_port_feature(hdev, port.portnum, PortFeature.C_ENABLE)
    return rc if rc < 0 else len(data)


async def _store_port_early_stop(port: UsbPort, data: bytes) -> int:
    value = kstrtobool(data)
    if value is None:
        return -Errno.EINVAL
    port.early_stop = value
    return len(data)


async def _store_port_quirks(port: UsbPort, data: bytes) -> int:
    """quirks_store(): kstrtou32(buf, 16)."""
    text = data.decode("latin-1").strip()
    text = text[2:] if text[:2].lower() == "0x" else text
    try:
        value = int(text, 16)
    except ValueError:
        return -Errno.EINVAL
    if not 0 <= value <= 0xFFFFFFFF or not text.isalnum():
        return -Errno.EINVAL
    port.quirks = value
    return len(data)


PORT_ATTRS: Final[tuple[SysAttr[UsbPort], ...]] = (
    ro("connect_type", lambda p: "unknown\n"),
    ro("location", lambda p: f"0x{getattr(p, 'location', 0):08x}\n"),
    ro("over_current_count", lambda p: f"{p.over_current_count}\n"),
    ro("state", _port_state),
    SysAttr("disable", _port_disabled, _store_port_disable, 0o644),
    SysAttr("early_stop", lambda p: "yes\n" if p.early_stop else "no\n",
            _store_port_early_stop, 0o644),
    SysAttr("quirks", lambda p: f"{p.quirks:08x}\n", _store_port_quirks, 0o644),
    SysAttr("uevent", lambda p: "", store_filtered_uevent, 0o644),
)
"""Files of a usbN-portM / 1-1-portM directory (port.c); its uevent is empty."""


# power/ (drivers/base/power/sysfs.c with usbcore's power attributes) -----------------------


def _control(udev: UsbDevice) -> str:
    """Hubs autosuspend by default; other devices are "on" (usb_detect_quirks)."""
    desc = udev.descriptor
    return "auto" if desc is not None and desc.bDeviceClass == ClassCode.HUB else "on"


def _wakeup_capable(udev: UsbDevice) -> bool:
    config = udev.actconfig
    return udev.is_root_hub or (config is not None and bool(config.desc.bmAttributes & 0x20))


_WAKEUP_STATS: Final = ("wakeup_abort_count", "wakeup_active", "wakeup_active_count",
                        "wakeup_count", "wakeup_expire_count", "wakeup_last_time_ms",
                        "wakeup_max_time_ms", "wakeup_total_time_ms")


# usb_driver (driver.c: usb_create_newid_files) ---------------------------------------------


def _errno_of(exc: OSError) -> int:
    return -(exc.errno or Errno.EINVAL)


def _has_dynid_files(drv: UsbDriver) -> bool:
    """usb_create_newid_files(): only interface drivers with a probe and dynamic ids."""
    return drv.has_probe() and not drv.no_dynamic_id


async def _store_new_id(drv: UsbDriver, data: bytes) -> int:
    bus = drv.bus
    assert isinstance(bus, UsbBusType)
    try:
        await store_new_id(bus.usb, drv, data.decode("latin-1"))
    except OSError as exc:
        return _errno_of(exc)
    return len(data)


async def _store_remove_id(drv: UsbDriver, data: bytes) -> int:
    try:
        store_remove_id(drv, data.decode("latin-1"))
    except OSError as exc:
        return _errno_of(exc)
    return len(data)


INTERFACE_DRIVER_ATTRS: Final[tuple[SysAttr[UsbDriver], ...]] = (
    SysAttr("new_id", lambda d: show_dynids(d.dynids), _store_new_id, 0o644,
            _has_dynid_files),
    SysAttr("remove_id", lambda d: show_dynids(d.dynids), _store_remove_id, 0o644,
            _has_dynid_files),
)
"""USB's own files of a driver's directory, beside the driver core's (bind, unbind …)."""


def usb_driver_files(drv: Driver) -> dict[str, Node]:
    """The files usbcore adds to the directory of a driver on the usb bus (new_id and
    remove_id of an interface driver).  Context: atomic."""
    return attr_group(drv, INTERFACE_DRIVER_ATTRS) if isinstance(drv, UsbDriver) else {}


# -- the tree ------------------------------------------------------------------------------


class _Machine(Protocol):
    vfs: Vfs
    usb: UsbCore
    driver_core: DriverCore


class UsbSysfs:
    """The USB part of one machine's sysfs: the directories of its devices, interfaces
    and ports (built into the driver core's tree, `Sysfs`), their power/ directories, and
    the host controllers as PCI functions.  Context: directory listings and reads are
    atomic (computed from live objects); stores may sleep."""

    def __init__(self, usb: UsbCore, sysfs: Sysfs) -> None:
        self.usb = usb
        self.sysfs = sysfs
        self._added: weakref.WeakKeyDictionary[UsbDevice, float] = weakref.WeakKeyDictionary()
        sysfs.driver_core.listeners.append(self._on_uevent)
        sysfs.register_device_dir(UsbDevice, self._device_entries)
        sysfs.register_device_dir(UsbInterface, self._interface_entries)
        sysfs.register_device_dir(UsbPort, self._port_entries)
        sysfs.register_driver_files(usb.bus_type.name, usb_driver_files)

    @property
    def child_providers(self) -> list[ChildProvider]:
        """The machine's `Sysfs.child_providers`: functions adding entries to a device's
        directory (class devices, tty ports …)."""
        return self.sysfs.child_providers

    # -- bookkeeping ----------------------------------------------------------------------

    def _on_uevent(self, event: Uevent) -> None:
        if event.action == "add" and event.get("DEVTYPE") == "usb_device":
            # device_add() appended the device just before announcing it
            for dev in reversed(self.usb.bus_type.devices):
                if isinstance(dev, UsbDevice) and dev.sysfs_path() == event.devpath:
                    self._added[dev] = self.usb.loop.time()
                    break

    def _connected_ms(self, udev: UsbDevice) -> int:
        added = self._added.get(udev)
        return 0 if added is None else int((self.usb.loop.time() - added) * 1000)

    def controllers(self) -> list[Device]:
        """The host controllers' devices (PCI functions, platform devices), bus by bus.
        Context: atomic."""
        return [bus.hcd.controller for _, bus in sorted(self.usb.buses.items())]

    # -- device, interface, endpoint, port directories --------------------------------------

    def _device_entries(self, udev: UsbDevice) -> dict[str, Node]:
        """A usb_device's directory: its attributes, links, child devices and interfaces
        (`Sysfs.common`), ep_00, power/ and the `port` link."""
        if udev.descriptor is None:
            return {}
        directory = device_path(udev)
        entries = attr_group(udev, DEVICE_ATTRS)
        entries.update(self.sysfs.common(udev, directory))
        entries["ep_00"] = self._endpoint_dir(udev.ep0, udev)
        entries["power"] = StaticDir(compute=lambda: self._device_power(udev))
        port = self._port_of(udev)
        if port is not None:
            entries["port"] = sysfs_link(directory, device_path(port))
        return entries

    @staticmethod
    def _port_of(udev: UsbDevice) -> UsbPort | None:
        from .hub import usb_hub_to_struct_hub

        hub = usb_hub_to_struct_hub(udev.usb_parent)
        if hub is None or not 1 <= udev.portnum <= len(hub.ports):
            return None
        port = hub.port(udev.portnum)
        return port if port.registered else None

    def _interface_entries(self, intf: UsbInterface) -> dict[str, Node]:
        """A usb_interface's directory: its attributes, links, power/, the endpoints of the
        current altsetting and, for a hub's interface, its ports."""
        from .hub import UsbHub

        entries = attr_group(intf, INTERFACE_ATTRS)
        entries.update(self.sysfs.common(intf, device_path(intf)))
        entries["power"] = StaticDir(compute=lambda: self._interface_power(intf))
        for hep in intf.cur_altsetting.endpoint:
            entries[f"ep_{hep.address:02x}"] = self._endpoint_dir(hep, intf.usb_dev)
        hub = intf.driver_data
        if isinstance(hub, UsbHub) and hub.intf is intf:
            for port in hub.ports:
                if port.registered:
                    entries[port.name] = self.sysfs.device_dir(port)
        return entries

    @staticmethod
    def _endpoint_dir(hep: UsbHostEndpoint, udev: UsbDevice) -> StaticDir:
        view = EndpointView(hep.desc, udev.speed)
        return StaticDir(compute=lambda: attr_group(view, ENDPOINT_ATTRS))

    def _port_entries(self, port: UsbPort) -> dict[str, Node]:
        """A port's directory: its attributes and the `device` link to its child."""
        directory = device_path(port)
        entries = attr_group(port, PORT_ATTRS)
        child = port.child
        if child is not None and child.registered:
            entries["device"] = sysfs_link(directory, device_path(child))
        entries.update(self.sysfs.common(port, directory))
        return entries

    # -- power/ -----------------------------------------------------------------------------

    def _device_power(self, udev: UsbDevice) -> dict[str, Node]:
        control = _control(udev)
        connected = self._connected_ms(udev)
        suspended = udev.state is DeviceState.SUSPENDED
        delay = udev.autosuspend_delay_ms
        kids = sum(1 for c in udev.children.values()
                   if c.registered and c.state is not DeviceState.SUSPENDED)
        kids += sum(1 for i in udev.interfaces()
                    if i.registered and _intf_runtime_status(i) == "active")
        values: dict[str, str] = {
            "active_duration": f"{connected}\n",
            "async": "enabled\n",
            "autosuspend": f"{delay // 1000}\n",
            "autosuspend_delay_ms": f"{delay}\n",
            "connected_duration": f"{connected}\n",
            "control": f"{control}\n",
            "level": f"{control}\n",
            "runtime_active_kids": f"{kids}\n",
            "runtime_active_time": f"{0 if suspended else connected}\n",
            "runtime_enabled": "forbidden\n" if control == "on" else "enabled\n",
            "runtime_status": "suspended\n" if suspended else "active\n",
            "runtime_suspended_time": "0\n",
            "runtime_usage": "1\n" if control == "on" else "0\n",
        }
        desc = udev.descriptor
        if desc is not None and desc.bDeviceClass != ClassCode.HUB:
            values["persist"] = "1\n"
        if _wakeup_capable(udev):
            # a wakeup source (and so its counters) exists only while wakeup is enabled
            enabled = udev.wakeup_enabled
            values["wakeup"] = "enabled\n" if enabled else "disabled\n"
            values.update(dict.fromkeys(_WAKEUP_STATS, "0\n" if enabled else "\n"))
        return {name: Attr(_const(text)) for name, text in values.items()}

    @staticmethod
    def _interface_power(intf: UsbInterface) -> dict[str, Node]:
        """An interface's runtime PM is enabled only while it is bound to a driver that
        supports autosuspend (usb_probe_interface); otherwise it is disabled and its
        status reads "unsupported" (runtime_status_show)."""
        enabled = _intf_runtime_pm_enabled(intf)
        values = {"async": "enabled\n", "runtime_active_kids": "0\n",
                  "runtime_enabled": "enabled\n" if enabled else "disabled\n",
                  "runtime_status": f"{_intf_runtime_status(intf)}\n" if enabled
                  else "unsupported\n",
                  "runtime_usage": "0\n"}
        return {name: Attr(_const(text)) for name, text in values.items()}


def _intf_runtime_pm_enabled(intf: UsbInterface) -> bool:
    """pm_runtime_enable() in usb_probe_interface: a driver with supports_autosuspend."""
    drv = intf.driver
    return drv is not None and bool(getattr(drv, "supports_autosuspend", False))


def _intf_runtime_status(intf: UsbInterface) -> str:
    """Interfaces are idle ("suspended") unless bound to a driver that cannot autosuspend,
    or their device is suspended (runtime PM usage counts are not modelled)."""
    if intf.usb_dev.state is DeviceState.SUSPENDED:
        return "suspended"
    drv = intf.driver
    if drv is None or getattr(drv, "supports_autosuspend", False):
        return "suspended"
    return "active"


def _const(text: str) -> Callable[[], str]:
    return lambda: text


# -- installation --------------------------------------------------------------------------------

#: Weak both ways (`WeakTable`): a closed machine goes, though each value refers to
#: its key.
_INSTALLED: WeakTable[Any, UsbSysfs] = WeakTable()


def install_usb_sysfs(system: _Machine) -> UsbSysfs:
    """Mount the USB sysfs tree and the devices file (/sys/kernel/debug/usb/devices)
    into `system.vfs` — with the driver core's /sys/bus and /sys/devices and the PCI
    directories of the host controllers, unless they are mounted already; returns the view
    (also found later with `usb_sysfs(system)`).  Context: atomic; called once per
    machine by System.__init__."""
    from .devices import install_devices_file

    sysfs = install_sysfs(system.vfs, system.driver_core)
    view = UsbSysfs(system.usb, sysfs)
    install_pci_sysfs(system.vfs, sysfs).function_providers.append(view.controllers)
    install_platform_sysfs(system.vfs, sysfs).function_providers.append(view.controllers)
    install_devices_file(system.vfs, system.usb)
    _INSTALLED[system.usb] = view
    return view


def usb_sysfs(system: _Machine) -> UsbSysfs:
    """The USB sysfs view installed on `system` (raises LookupError if none is).
    Context: atomic."""
    view = _INSTALLED.get(system.usb)
    if view is None:
        raise LookupError("install_usb_sysfs(system) has not been called for this machine")
    return view
