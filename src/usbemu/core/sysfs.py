"""USB in sysfs — counterpart of drivers/usb/core/sysfs.c (device and interface
attributes), endpoint.c (the ep_XX directories), the attributes of port.c, and the sysfs
side of drivers/base (core.c: uevent, dev, driver and subsystem links; bus.c: the bus's
devices/ and drivers/ directories, bind, unbind, drivers_probe, drivers_autoprobe).

`install_usb_sysfs(system)` mounts into the machine's `Vfs`:

    /sys/devices/pci0000:00/<controller>/usbN/...   device, interface, ep_XX, port dirs
    /sys/bus/usb/{devices,drivers}/...             links, bind/unbind/new_id/remove_id
    /sys/bus/usb/{drivers_probe,drivers_autoprobe,uevent}
    /sys/bus/pci/{devices,drivers}/...             the host controllers' PCI functions

Nothing is copied: every directory is listed and every attribute formatted from the live
kernel objects when it is read, with Linux's formats, Linux's empty files (attributes of the
active configuration on an unconfigured device) and Linux's absent files (strings the device
does not have, IAD attributes of an interface no IAD covers).  Writes go through the same
calls the kernel's store functions make (usb_set_configuration, the driver core's bind and
release, store_new_id …) and fail with the same negative errno.

Each attribute is one row of a table: name, format (a function of the object), store,
mode, visibility — as sysfs.c declares them with DEVICE_ATTR_RO/RW and is_visible.

Not modelled: runtime power management (the power/ files report usbemu's state —
runtime_status follows the device's SUSPENDED state, durations count from the add uevent
— and are read-only), firmware (ACPI/OF) port information (`connect_type` is "unknown",
`location` 0), SuperSpeed port peers and LPM files, the `authorized_default` policies
(shown, not writable: enumeration does not consult them), `wireless_status`, and
`devspec`.  Other subsystems put their own entries into a device's directory (a class
device such as usbmisc/pen0 below its interface) through `UsbSysfs.child_providers`.
"""

from __future__ import annotations

import functools
import posixpath
import struct
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from ..errors import Errno
from ..kernel.device import Device, Driver, DriverCore, Uevent
from ..kernel.file2alias import interface_modalias
from ..kernel.vfs import Attr, Node, StaticDir, Symlink, Vfs
from ..spec.ch9 import ClassCode, DeviceState, EndpointType, Speed
from ..spec.descriptors import CapabilityType, EndpointDescriptor
from .devtable import show_dynids
from .driver import UsbDriver, store_new_id, store_remove_id
from .usb import USB_DEVICE_MAJOR, UsbDevice, UsbHostEndpoint, UsbInterface

if TYPE_CHECKING:
    from .port import UsbPort
    from .usbcore import UsbCore

__all__ = [
    "DEVICE_ATTRS",
    "ENDPOINT_ATTRS",
    "INTERFACE_ATTRS",
    "PORT_ATTRS",
    "UsbSysfs",
    "decode_interval",
    "install_usb_sysfs",
    "interval_text",
    "kstrtobool",
    "speed_text",
    "uevent_text",
    "usb_sysfs",
]

T = TypeVar("T")

USB_QUIRK_RESET: Final = 0x10
"""include/linux/usb/quirks.h: USB_QUIRK_RESET (BIT(4)), the avoid_reset_quirk bit."""
USB_LTM_SUPPORT: Final = 0x02
"""bmAttributes bit of the SuperSpeed device capability: LTM supported."""
HUB_CHAR_COMPOUND: Final = 0x0004

_SYS: Final = "/sys"
_BUS_USB: Final = "/sys/bus/usb"
_BUS_PCI: Final = "/sys/bus/pci"
_PCI_ROOT: Final = "/sys/devices/pci0000:00"
_KOBJECT_ACTIONS: Final = frozenset({"add", "remove", "change", "move", "online", "offline",
                                     "bind", "unbind"})


# -- value helpers (lib/kstrtox.c, lib/vsprintf.c, drivers/usb/common/common.c) ----------------


def kstrtobool(data: bytes) -> bool | None:
    """kstrtobool(): y/Y/t/T/1 → True, n/N/f/F/0 → False, on/off; anything else None."""
    if not data:
        return None
    first = chr(data[0])
    if first in "yYtT1":
        return True
    if first in "nNfF0":
        return False
    if first in "oO" and len(data) > 1:
        second = chr(data[1])
        if second in "nN":
            return True
        if second in "fF":
            return False
    return None


def _scan_int(data: bytes) -> int | None:
    """sscanf(buf, "%d"): leading white space, an optional sign, decimal digits."""
    text = data.decode("latin-1").lstrip(" \t\n\v\f\r")
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    digits = ""
    for char in text:
        if not char.isdigit() or not char.isascii():
            break
        digits += char
    return sign * int(digits) if digits else None


def _device_name(data: bytes) -> str:
    """The device name written to bind/unbind/drivers_probe, compared as sysfs_streq does
    (one trailing newline ignored)."""
    text = data.decode("utf-8", errors="surrogateescape")
    return text[:-1] if text.endswith("\n") else text


def speed_text(speed: Speed) -> str:
    """speed_show(): the `speed` attribute's value."""
    return {Speed.LOW: "1.5", Speed.UNKNOWN: "12", Speed.FULL: "12", Speed.HIGH: "480",
            Speed.SUPER: "5000", Speed.SUPER_PLUS: "10000"}.get(speed, "unknown")


def decode_interval(desc: EndpointDescriptor, speed: Speed) -> int:
    """usb_decode_interval(): the endpoint's period in µs as the kernel computes it (unsigned
    32-bit arithmetic and x86's shift-count masking included, for hostile bInterval values)."""
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
    """`%d%cs` of usb_decode_interval(): "125us", "8ms", "0ms" (no newline)."""
    interval = decode_interval(desc, speed)
    unit = "u"
    if interval % 1000 == 0:
        unit, interval = "m", interval // 1000
    signed = interval - (1 << 32) if interval >= 1 << 31 else interval
    return f"{signed}{unit}s"


def uevent_text(dev: Device) -> str:
    """What a device's `uevent` file shows (uevent_show → dev_uevent): the environment
    without ACTION/DEVPATH/SUBSYSTEM; empty for a device on no bus (ports, endpoints),
    which dev_uevent_filter drops."""
    if dev.bus is None:
        return ""
    env = [*dev.uevent_env(), *dev.bus.uevent(dev)]
    return "".join(f"{key}={value}\n" for key, value in env)


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
    read, each cut to its (parsed) wTotalLength."""
    parts = [_device_descriptor_bytes(udev)]
    for config, raw in zip(udev.config, udev.rawdescriptors, strict=False):
        total = config.desc.wTotalLength
        parts.append(raw[:total] if total is not None else raw)
    return b"".join(parts)


# -- attribute tables -----------------------------------------------------------------------------

Store = Callable[["UsbSysfs", T, bytes], Awaitable[int]]


@dataclass(frozen=True)
class SysAttr(Generic[T]):
    """One sysfs attribute: `show` formats it from the object (text with its newline, or
    bytes for a binary attribute), `store` handles a write (may sleep; bytes consumed or
    -errno), `visible` says whether the file exists for that object (is_visible)."""

    name: str
    show: Callable[[T], str | bytes] | None
    store: Store[T] | None = None
    mode: int = 0o444
    visible: Callable[[T], bool] | None = None
    binary: bool = False


def _ro(name: str, show: Callable[[T], str | bytes],
        visible: Callable[[T], bool] | None = None) -> SysAttr[T]:
    return SysAttr(name, show, visible=visible)


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


async def _store_bconfigurationvalue(fs: UsbSysfs, udev: UsbDevice, data: bytes) -> int:
    """bConfigurationValue_store(): sscanf %d in −1..255, then usb_set_configuration."""
    from .message import usb_set_configuration

    config = _scan_int(data)
    if config is None or not -1 <= config <= 255:
        return -Errno.EINVAL
    async with udev.lock:
        value = await usb_set_configuration(udev, config)
    return value if value < 0 else len(data)


async def _store_authorized(fs: UsbSysfs, udev: UsbDevice, data: bytes) -> int:
    """authorized_store(): 0 deauthorizes (unconfigure), anything else authorizes (choose
    and set a configuration, "authorized to connect")."""
    value = _scan_int(data)
    if value is None:
        return -Errno.EINVAL
    result = await (usb_deauthorize_device(udev) if value == 0 else usb_authorize_device(udev))
    return result if result < 0 else len(data)


async def usb_deauthorize_device(udev: UsbDevice) -> int:
    """usb_deauthorize_device() (hub.c): drop the configuration; 0.  May sleep."""
    from .message import usb_set_configuration

    async with udev.lock:
        if udev.authorized:
            udev.authorized = False
            await usb_set_configuration(udev, -1)
    return 0


async def usb_authorize_device(udev: UsbDevice) -> int:
    """usb_authorize_device() (hub.c): authorize, choose and set a configuration; the
    error of a failed SET_CONFIGURATION is returned (and logged).  May sleep."""
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


async def _store_avoid_reset(fs: UsbSysfs, udev: UsbDevice, data: bytes) -> int:
    value = kstrtobool(data)
    if value is None:
        return -Errno.EINVAL
    async with udev.lock:
        udev.quirks = udev.quirks | USB_QUIRK_RESET if value else udev.quirks & ~USB_QUIRK_RESET
    return len(data)


async def _store_remove(fs: UsbSysfs, udev: UsbDevice, data: bytes) -> int:
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
    -EINVAL for a root hub.  May sleep."""
    from .hub import hub_port_logical_disconnect, usb_hub_to_struct_hub

    hub = usb_hub_to_struct_hub(udev.usb_parent)
    if udev.usb_parent is None or hub is None:
        return -Errno.EINVAL
    hub.removed_bits |= 1 << udev.portnum
    await hub_port_logical_disconnect(hub, udev.portnum)
    return 0


async def _store_uevent(fs: UsbSysfs, dev: Device, data: bytes) -> int:
    """uevent_store() → kobject_synth_uevent(): re-announce the device with the action
    written ("add" is what `udevadm trigger` writes); a device on no bus is filtered."""
    words = data.decode("utf-8", errors="replace").split()
    if not words or words[0] not in _KOBJECT_ACTIONS:
        return -Errno.EINVAL
    if dev.bus is not None and dev.registered:
        fs.driver_core.uevent(dev, words[0])
    return len(data)


async def _store_filtered_uevent(fs: UsbSysfs, obj: object, data: bytes) -> int:
    """uevent_store() of a device that dev_uevent_filter drops (a port, an endpoint):
    the action is checked, nothing is announced."""
    words = data.decode("utf-8", errors="replace").split()
    return len(data) if words and words[0] in _KOBJECT_ACTIONS else -Errno.EINVAL


def _is_root(udev: UsbDevice) -> bool:
    return udev.is_root_hub


def _has_string(attr: str) -> Callable[[UsbDevice], bool]:
    return lambda udev: getattr(udev, attr) is not None


def _has_bos(udev: UsbDevice) -> bool:
    return udev.bos is not None


DEVICE_ATTRS: Final[tuple[SysAttr[UsbDevice], ...]] = (
    _ro("idVendor", lambda u: f"{_desc(u).idVendor:04x}\n"),
    _ro("idProduct", lambda u: f"{_desc(u).idProduct:04x}\n"),
    _ro("bcdDevice", lambda u: f"{_desc(u).bcdDevice:04x}\n"),
    _ro("bDeviceClass", lambda u: f"{_desc(u).bDeviceClass:02x}\n"),
    _ro("bDeviceSubClass", lambda u: f"{_desc(u).bDeviceSubClass:02x}\n"),
    _ro("bDeviceProtocol", lambda u: f"{_desc(u).bDeviceProtocol:02x}\n"),
    _ro("bNumConfigurations", lambda u: f"{_device_descriptor_bytes(u)[17]}\n"),
    _ro("bMaxPacketSize0", lambda u: f"{_desc(u).bMaxPacketSize0}\n"),
    _ro("version", lambda u: f"{_bcd(_desc(u).bcdUSB)}\n"),
    _ro("speed", lambda u: f"{speed_text(u.speed)}\n"),
    _ro("rx_lanes", lambda u: "1\n"),
    _ro("tx_lanes", lambda u: "1\n"),
    _ro("busnum", lambda u: f"{u.busnum}\n"),
    _ro("devnum", lambda u: f"{u.devnum}\n"),
    _ro("devpath", lambda u: f"{u.devpath}\n"),
    _ro("maxchild", lambda u: f"{u.maxchild}\n"),
    _ro("quirks", lambda u: f"0x{u.quirks:x}\n"),
    _ro("urbnum", lambda u: f"{u.urbnum}\n"),
    _ro("ltm_capable", lambda u: "yes\n" if _bos_ltm(u) else "no\n"),
    _ro("removable", lambda u: f"{_removable(u)}\n"),
    _ro("dev", lambda u: f"{USB_DEVICE_MAJOR}:{u.minor}\n"),
    _ro("bNumInterfaces", lambda u: _act(u, lambda c: f"{len(c.intf_cache):2d}\n")),
    _ro("bmAttributes", lambda u: _act(u, lambda c: f"{c.desc.bmAttributes:2x}\n")),
    _ro("bMaxPower", _max_power),
    _ro("configuration", lambda u: _act(u, lambda c: f"{c.string}\n" if c.string else "")),
    SysAttr("bConfigurationValue", lambda u: _act(u, lambda c: f"{c.value}\n"),
            _store_bconfigurationvalue, 0o644),
    SysAttr("authorized", lambda u: f"{int(u.authorized)}\n", _store_authorized, 0o644),
    SysAttr("avoid_reset_quirk", lambda u: f"{int(bool(u.quirks & USB_QUIRK_RESET))}\n",
            _store_avoid_reset, 0o644),
    SysAttr("remove", None, _store_remove, 0o200),
    SysAttr("uevent", uevent_text, _store_uevent, 0o644),
    _ro("manufacturer", lambda u: f"{u.manufacturer}\n", _has_string("manufacturer")),
    _ro("product", lambda u: f"{u.product}\n", _has_string("product")),
    _ro("serial", lambda u: f"{u.serial}\n", _has_string("serial")),
    SysAttr("descriptors", descriptors_bytes, binary=True),
    SysAttr("bos_descriptors", lambda u: u.bos.to_bytes() if u.bos is not None else b"",
            visible=_has_bos, binary=True),
    # root hub only (usb_bus_attrs)
    _ro("authorized_default", lambda u: f"{getattr(_hcd_of(u), 'dev_policy', 1)}\n", _is_root),
    _ro("interface_authorized_default",
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


async def _store_intf_authorized(fs: UsbSysfs, intf: UsbInterface, data: bytes) -> int:
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
    _ro("bInterfaceNumber", lambda i: f"{_alt(i).bInterfaceNumber or 0:02x}\n"),
    _ro("bAlternateSetting", lambda i: f"{_alt(i).bAlternateSetting:2d}\n"),
    _ro("bNumEndpoints", lambda i: f"{len(i.cur_altsetting.endpoint):02x}\n"),
    _ro("bInterfaceClass", lambda i: f"{_alt(i).bInterfaceClass:02x}\n"),
    _ro("bInterfaceSubClass", lambda i: f"{_alt(i).bInterfaceSubClass:02x}\n"),
    _ro("bInterfaceProtocol", lambda i: f"{_alt(i).bInterfaceProtocol:02x}\n"),
    _ro("modalias", _modalias),
    _ro("supports_autosuspend", _supports_autosuspend),
    SysAttr("authorized", lambda i: f"{int(i.authorized)}\n", _store_intf_authorized, 0o644),
    SysAttr("uevent", uevent_text, _store_uevent, 0o644),
    # created with the interface (and again by usb_set_interface) when the current
    # altsetting's iInterface string could be read
    _ro("interface",
        lambda i: f"{i.cur_altsetting.string}\n" if i.cur_altsetting.string else "",
        lambda i: i.cur_altsetting.string is not None),
    _ro("iad_bFirstInterface", lambda i: f"{_iad(i).bFirstInterface or 0:02x}\n", _has_iad),
    _ro("iad_bInterfaceCount", lambda i: f"{_iad(i).bInterfaceCount:02d}\n", _has_iad),
    _ro("iad_bFunctionClass", lambda i: f"{_iad(i).bFunctionClass:02x}\n", _has_iad),
    _ro("iad_bFunctionSubClass", lambda i: f"{_iad(i).bFunctionSubClass:02x}\n", _has_iad),
    _ro("iad_bFunctionProtocol", lambda i: f"{_iad(i).bFunctionProtocol:02x}\n", _has_iad),
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
    _ro("bLength", lambda e: f"{e.desc.size:02x}\n"),
    _ro("bEndpointAddress", lambda e: f"{e.desc.bEndpointAddress:02x}\n"),
    _ro("bmAttributes", lambda e: f"{e.desc.bmAttributes:02x}\n"),
    _ro("bInterval", lambda e: f"{e.desc.bInterval:02x}\n"),
    _ro("wMaxPacketSize", lambda e: f"{e.desc.wMaxPacketSize & 0x07FF:04x}\n"),
    _ro("type", lambda e: f"{_EP_TYPES[e.desc.bmAttributes & 3]}\n"),
    _ro("direction", _ep_direction),
    _ro("interval", lambda e: f"{interval_text(e.desc, e.speed)}\n"),
    SysAttr("uevent", lambda e: "", _store_filtered_uevent, 0o644),
)
"""Files of an ep_XX directory (endpoint.c); its uevent is empty (no bus, no class)."""


# usb_port (port.c) --------------------------------------------------------------------------


def _port_state(port: UsbPort) -> str:
    child = port.child
    return (child.state if child is not None else DeviceState.NOTATTACHED).linux_name + "\n"


def _port_disabled(port: UsbPort) -> str:
    return "0\n" if port.hub.power_bits & (1 << port.portnum) else "1\n"


async def _store_port_disable(fs: UsbSysfs, port: UsbPort, data: bytes) -> int:
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


async def _store_port_early_stop(fs: UsbSysfs, port: UsbPort, data: bytes) -> int:
    value = kstrtobool(data)
    if value is None:
        return -Errno.EINVAL
    port.early_stop = value
    return len(data)


async def _store_port_quirks(fs: UsbSysfs, port: UsbPort, data: bytes) -> int:
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
    _ro("connect_type", lambda p: "unknown\n"),
    _ro("location", lambda p: f"0x{getattr(p, 'location', 0):08x}\n"),
    _ro("over_current_count", lambda p: f"{p.over_current_count}\n"),
    _ro("state", _port_state),
    SysAttr("disable", _port_disabled, _store_port_disable, 0o644),
    SysAttr("early_stop", lambda p: "yes\n" if p.early_stop else "no\n",
            _store_port_early_stop, 0o644),
    SysAttr("quirks", lambda p: f"{p.quirks:08x}\n", _store_port_quirks, 0o644),
    SysAttr("uevent", lambda p: "", _store_filtered_uevent, 0o644),
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


# -- the tree ------------------------------------------------------------------------------


class _Machine(Protocol):
    vfs: Vfs
    usb: UsbCore
    driver_core: DriverCore


ChildProvider = Callable[[Device], Mapping[str, Node]]


class UsbSysfs:
    """The USB part of one machine's sysfs.  Context: directory listings and reads are
    atomic (computed from live objects); stores may sleep."""

    def __init__(self, usb: UsbCore, driver_core: DriverCore) -> None:
        self.usb = usb
        self.driver_core = driver_core
        #: Functions adding entries to a device's directory (class devices, tty ports …).
        self.child_providers: list[ChildProvider] = []
        self._added: weakref.WeakKeyDictionary[UsbDevice, float] = weakref.WeakKeyDictionary()
        driver_core.listeners.append(self._on_uevent)

    # -- bookkeeping ----------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.usb.loop.time() * 1000)

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

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def path_of(dev: Device) -> str:
        """The absolute sysfs directory of a device (/sys/devices/...)."""
        return _SYS + dev.sysfs_path()

    def _link(self, target: str, directory: str) -> Symlink:
        return Symlink(posixpath.relpath(target, directory))

    def _attrs(self, obj: T, table: Iterable[SysAttr[T]]) -> dict[str, Node]:
        entries: dict[str, Node] = {}
        for attr in table:
            if attr.visible is not None and not attr.visible(obj):
                continue
            show = None if attr.show is None else _bind_show(attr.show, obj)
            store = None if attr.store is None else _bind_store(attr.store, self, obj)
            entries[attr.name] = Attr(show, store, attr.mode, attr.binary)
        return entries

    def _common(self, dev: Device, directory: str) -> dict[str, Node]:
        """driver and subsystem links (driver_sysfs_add, device_add_class_symlinks)."""
        entries: dict[str, Node] = {}
        drv = dev.driver
        if drv is not None and drv.bus is not None and dev.bus is not None:
            entries["driver"] = self._link(f"/sys/bus/{drv.bus.name}/drivers/{drv.name}",
                                           directory)
        if dev.bus is not None:
            entries["subsystem"] = self._link(f"/sys/bus/{dev.bus.name}", directory)
        for provider in self.child_providers:
            entries.update(provider(dev))
        return entries

    # -- device, interface, endpoint, port directories --------------------------------------

    def device_dir(self, udev: UsbDevice) -> StaticDir:
        return StaticDir(compute=lambda: self._device_entries(udev))

    def _device_entries(self, udev: UsbDevice) -> dict[str, Node]:
        if udev.descriptor is None:
            return {}
        directory = self.path_of(udev)
        entries = self._attrs(udev, DEVICE_ATTRS)
        entries.update(self._common(udev, directory))
        entries["ep_00"] = self._endpoint_dir(udev.ep0, udev)
        entries["power"] = StaticDir(compute=lambda: self._device_power(udev))
        port = self._port_of(udev)
        if port is not None:
            entries["port"] = self._link(self.path_of(port), directory)
        for intf in udev.interfaces():
            if intf.registered:
                entries[intf.name] = self.interface_dir(intf)
        for _, child in sorted(udev.children.items()):
            if child.registered:
                entries[child.name] = self.device_dir(child)
        return entries

    @staticmethod
    def _port_of(udev: UsbDevice) -> UsbPort | None:
        from .hub import usb_hub_to_struct_hub

        hub = usb_hub_to_struct_hub(udev.usb_parent)
        if hub is None or not 1 <= udev.portnum <= len(hub.ports):
            return None
        port = hub.port(udev.portnum)
        return port if port.registered else None

    def interface_dir(self, intf: UsbInterface) -> StaticDir:
        return StaticDir(compute=lambda: self._interface_entries(intf))

    def _interface_entries(self, intf: UsbInterface) -> dict[str, Node]:
        from .hub import UsbHub

        directory = self.path_of(intf)
        entries = self._attrs(intf, INTERFACE_ATTRS)
        entries.update(self._common(intf, directory))
        entries["power"] = StaticDir(compute=lambda: self._interface_power(intf))
        for hep in intf.cur_altsetting.endpoint:
            entries[f"ep_{hep.address:02x}"] = self._endpoint_dir(hep, intf.usb_dev)
        hub = intf.driver_data
        if isinstance(hub, UsbHub) and hub.intf is intf:
            for port in hub.ports:
                if port.registered:
                    entries[port.name] = self.port_dir(port)
        return entries

    def _endpoint_dir(self, hep: UsbHostEndpoint, udev: UsbDevice) -> StaticDir:
        view = EndpointView(hep.desc, udev.speed)
        return StaticDir(compute=lambda: self._attrs(view, ENDPOINT_ATTRS))

    def port_dir(self, port: UsbPort) -> StaticDir:
        return StaticDir(compute=lambda: self._port_entries(port))

    def _port_entries(self, port: UsbPort) -> dict[str, Node]:
        entries = self._attrs(port, PORT_ATTRS)
        child = port.child
        if child is not None and child.registered:
            entries["device"] = self._link(self.path_of(child), self.path_of(port))
        for provider in self.child_providers:
            entries.update(provider(port))
        return entries

    # -- power/ -----------------------------------------------------------------------------

    def _device_power(self, udev: UsbDevice) -> dict[str, Node]:
        control = _control(udev)
        connected = self._connected_ms(udev)
        suspended = udev.state is DeviceState.SUSPENDED
        delay = 0 if udev.is_root_hub else 2000
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
            values["wakeup"] = "disabled\n"
            values.update(dict.fromkeys(_WAKEUP_STATS, ""))
        return {name: Attr(_const(text)) for name, text in values.items()}

    def _interface_power(self, intf: UsbInterface) -> dict[str, Node]:
        values = {"async": "enabled\n", "runtime_active_kids": "0\n",
                  "runtime_enabled": "enabled\n",
                  "runtime_status": f"{_intf_runtime_status(intf)}\n",
                  "runtime_usage": "0\n"}
        return {name: Attr(_const(text)) for name, text in values.items()}

    # -- /sys/devices/pci0000:00 ------------------------------------------------------------

    def controllers(self) -> list[Device]:
        """The host controllers' devices, bus by bus."""
        return [bus.hcd.controller for _, bus in sorted(self.usb.buses.items())]

    def _pci_root(self) -> dict[str, Node]:
        entries: dict[str, Node] = {}
        for ctrl in self.controllers():
            path = self.path_of(ctrl)
            if posixpath.dirname(path) == _PCI_ROOT:
                entries[ctrl.name] = StaticDir(compute=functools.partial(self._controller, ctrl))
        return entries

    def _controller(self, ctrl: Device) -> dict[str, Node]:
        directory = self.path_of(ctrl)
        entries: dict[str, Node] = {"subsystem": self._link(_BUS_PCI, directory)}
        if ctrl.driver is not None:
            entries["driver"] = self._link(f"{_BUS_PCI}/drivers/{ctrl.driver.name}",
                                           directory)
        for bus in self.usb.buses.values():
            root = bus.root_hub
            if bus.hcd.controller is ctrl and root is not None and root.registered:
                entries[root.name] = self.device_dir(root)
        for provider in self.child_providers:
            entries.update(provider(ctrl))
        return entries

    def _pci_devices(self) -> dict[str, Node]:
        return {c.name: self._link(self.path_of(c), f"{_BUS_PCI}/devices")
                for c in self.controllers()}

    def _pci_drivers(self) -> dict[str, Node]:
        by_driver: dict[str, list[Device]] = {}
        for ctrl in self.controllers():
            if ctrl.driver is not None:
                by_driver.setdefault(ctrl.driver.name, []).append(ctrl)
        return {name: StaticDir({c.name: self._link(self.path_of(c),
                                                    f"{_BUS_PCI}/drivers/{name}")
                                 for c in ctrls})
                for name, ctrls in by_driver.items()}

    # -- /sys/bus/usb ---------------------------------------------------------------------------

    def _bus_devices(self) -> dict[str, Node]:
        directory = f"{_BUS_USB}/devices"
        return {dev.name: self._link(self.path_of(dev), directory)
                for dev in self.usb.bus_type.devices if dev.registered}

    def _bus_drivers(self) -> dict[str, Node]:
        return {drv.name: StaticDir(compute=functools.partial(self._driver_entries, drv))
                for drv in self.usb.bus_type.drivers}

    def _driver_entries(self, drv: Driver) -> dict[str, Node]:
        """A driver's directory: bind/unbind (unless suppress_bind_attrs), uevent,
        new_id/remove_id (interface drivers with a probe and dynamic ids), module, and a
        link per bound device."""
        directory = f"{_BUS_USB}/drivers/{drv.name}"
        entries: dict[str, Node] = {
            "uevent": Attr(store=_bind_store(_store_driver_uevent, self, drv), mode=0o200)}
        if not drv.suppress_bind_attrs:
            entries["bind"] = Attr(store=_bind_store(_store_bind, self, drv), mode=0o200)
            entries["unbind"] = Attr(store=_bind_store(_store_unbind, self, drv), mode=0o200)
        if isinstance(drv, UsbDriver) and drv.has_probe() and not drv.no_dynamic_id:
            dynids = _bind_show(lambda d: show_dynids(d.dynids), drv)
            entries["new_id"] = Attr(dynids, _bind_store(_store_new_id, self, drv), 0o644)
            entries["remove_id"] = Attr(dynids, _bind_store(_store_remove_id, self, drv),
                                        0o644)
        owner_name = getattr(drv.owner, "name", None)
        if isinstance(owner_name, str) and owner_name:
            entries["module"] = self._link(f"/sys/module/{owner_name}", directory)
        for dev in drv.bound_devices():
            if dev.registered:
                entries[dev.name] = self._link(self.path_of(dev), directory)
        return entries

    def mount(self, vfs: Vfs) -> None:
        """Attach the USB directories to `vfs`."""
        vfs.mount(_PCI_ROOT, StaticDir(compute=self._pci_root))
        vfs.mount(f"{_BUS_PCI}/devices", StaticDir(compute=self._pci_devices))
        vfs.mount(f"{_BUS_PCI}/drivers", StaticDir(compute=self._pci_drivers))
        vfs.mount(f"{_BUS_USB}/devices", StaticDir(compute=self._bus_devices))
        vfs.mount(f"{_BUS_USB}/drivers", StaticDir(compute=self._bus_drivers))
        bus = self.usb.bus_type
        vfs.mount(f"{_BUS_USB}/drivers_autoprobe",
                  Attr(lambda: f"{int(bus.drivers_autoprobe)}\n",
                       _bind_store(_store_autoprobe, self, bus), 0o644))
        vfs.mount(f"{_BUS_USB}/drivers_probe",
                  Attr(store=_bind_store(_store_drivers_probe, self, bus), mode=0o200))
        vfs.mount(f"{_BUS_USB}/uevent",
                  Attr(store=_bind_store(_store_bus_uevent, self, bus), mode=0o200))


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


def _bind_show(show: Callable[[T], str | bytes], obj: T) -> Callable[[], str | bytes]:
    return lambda: show(obj)


def _bind_store(store: Callable[[UsbSysfs, T, bytes], Awaitable[int]], fs: UsbSysfs,
                obj: T) -> Callable[[bytes], Awaitable[int]]:
    return lambda data: store(fs, obj, data)


# -- driver and bus files (drivers/base/bus.c, drivers/usb/core/driver.c) -----------------------


def _errno_of(exc: OSError) -> int:
    return -(exc.errno or Errno.EINVAL)


async def _store_bind(fs: UsbSysfs, drv: Driver, data: bytes) -> int:
    """bind_store(): -ENODEV unless the named device exists and the driver matches it,
    -EBUSY when it is bound, a failed probe's -errno (-EAGAIN for a deferral)."""
    bus = drv.bus
    dev = bus.find_device(_device_name(data)) if bus is not None else None
    if dev is None or bus is None or not bus.match(dev, drv):
        return -Errno.ENODEV
    result = await fs.driver_core.bind(dev, drv)
    if result == -Errno.EPROBE_DEFER:
        return -Errno.EAGAIN
    return result if result < 0 else len(data)


async def _store_unbind(fs: UsbSysfs, drv: Driver, data: bytes) -> int:
    """unbind_store(): -ENODEV unless the named device is bound to this driver."""
    bus = drv.bus
    dev = bus.find_device(_device_name(data)) if bus is not None else None
    if dev is None or dev.driver is not drv:
        return -Errno.ENODEV
    await fs.driver_core.device_release_driver(dev)
    return len(data)


async def _store_new_id(fs: UsbSysfs, drv: Driver, data: bytes) -> int:
    assert isinstance(drv, UsbDriver)
    try:
        await store_new_id(fs.usb, drv, data.decode("latin-1"))
    except OSError as exc:
        return _errno_of(exc)
    return len(data)


async def _store_remove_id(fs: UsbSysfs, drv: Driver, data: bytes) -> int:
    assert isinstance(drv, UsbDriver)
    try:
        store_remove_id(drv, data.decode("latin-1"))
    except OSError as exc:
        return _errno_of(exc)
    return len(data)


def _synth(fs: UsbSysfs, devpath: str, data: bytes) -> int:
    """kobject_synth_uevent() for a kobject that is not a device (a bus, a driver)."""
    words = data.decode("utf-8", errors="replace").split()
    if not words or words[0] not in _KOBJECT_ACTIONS:
        return -Errno.EINVAL
    event = Uevent(words[0], devpath)
    for listener in tuple(fs.driver_core.listeners):
        listener(event)
    return len(data)


async def _store_driver_uevent(fs: UsbSysfs, drv: Driver, data: bytes) -> int:
    return _synth(fs, f"/bus/usb/drivers/{drv.name}", data)


async def _store_bus_uevent(fs: UsbSysfs, bus: Any, data: bytes) -> int:
    return _synth(fs, "/bus/usb", data)


async def _store_autoprobe(fs: UsbSysfs, bus: Any, data: bytes) -> int:
    """drivers_autoprobe_store(): "0…" switches autoprobing off, anything else on."""
    bus.drivers_autoprobe = not data.startswith(b"0")
    return len(data)


async def _store_drivers_probe(fs: UsbSysfs, bus: Any, data: bytes) -> int:
    """drivers_probe_store(): -ENODEV for an unknown device; an unbound one is offered
    to the bus's drivers (device_attach)."""
    dev = bus.find_device(_device_name(data))
    if dev is None:
        return -Errno.ENODEV
    if dev.driver is None:
        await fs.driver_core.device_attach(dev)
    return len(data)


# -- installation --------------------------------------------------------------------------------

_INSTALLED: weakref.WeakKeyDictionary[Any, UsbSysfs] = weakref.WeakKeyDictionary()


def install_usb_sysfs(system: _Machine) -> UsbSysfs:
    """Mount the USB sysfs tree and the devices file (/sys/kernel/debug/usb/devices)
    into `system.vfs`; returns the view (also found later with
    `usb_sysfs(system)`).  Context: atomic; called once per machine by System.__init__."""
    from .devices import install_devices_file

    view = UsbSysfs(system.usb, system.driver_core)
    view.mount(system.vfs)
    install_devices_file(system.vfs, system.usb)
    _INSTALLED[system.usb] = view
    return view


def usb_sysfs(system: _Machine) -> UsbSysfs:
    """The USB sysfs view installed on `system` (raises LookupError if none is)."""
    view = _INSTALLED.get(system.usb)
    if view is None:
        raise LookupError("install_usb_sysfs(system) has not been called for this machine")
    return view

