"""USB device and interface objects — counterpart of drivers/usb/core/usb.c and the
structures of include/linux/usb.h (usb_device, usb_interface, usb_host_config,
usb_host_interface, usb_host_endpoint).

Like usb.c, this is "not actually a driver at all": it holds what usbcore knows about each
device — its place in the tree (bus, parent, port, devpath, level), its address and state,
its descriptors as read, its configurations with their interfaces and altsettings, and the
host-side endpoints where URBs queue — and usb_lock_device_for_reset, the device lock a
driver takes around a reset.  Binding lives in `driver.py`, enumeration and the reset
itself in `hub.py`, transfers in `urb.py` and `message.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ..errors import Errno, IllegalStateTransition
from ..kernel.device import Device
from ..kernel.printk import Level
from ..spec.ch9 import (
    DeviceState,
    EndpointType,
    Speed,
)
from ..spec.descriptors import (
    BosDescriptor,
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceAssociation,
    InterfaceDescriptor,
)

if TYPE_CHECKING:
    from .driver import UsbBusType
    from .hcd import UsbBus
    from .urb import Urb

USB_DEVICE_MAJOR: Final = 189
#: usb_lock_device_for_reset(): how long it tries for the lock, and its poll interval.
_RESET_LOCK_TIMEOUT_S: Final = 1.0
_RESET_LOCK_POLL_S: Final = 0.015
EP0_DESC: Final = EndpointDescriptor(0x00, EndpointType.CONTROL, 64)


class UsbHostEndpoint:
    """struct usb_host_endpoint: an endpoint's descriptor and the queue of its URBs.

    `address` (bEndpointAddress), `type` (usb_endpoint_type: the USB_ENDPOINT_XFER_*
    number, equal to the `EndpointType` member) and `maxp` (usb_endpoint_maxp, the packet
    size without the high-bandwidth bits) are read from the descriptor when it is set, so
    that the URB path reads plain integers.
    """

    __slots__ = ("_desc", "address", "enabled", "hcpriv", "maxp", "sync_urb", "type",
                 "urb_list")

    def __init__(self, desc: EndpointDescriptor) -> None:
        self.desc = desc
        self.urb_list: list[Urb] = []    # short: a list costs a tenth of a deque's memory
        self.enabled = False
        self.hcpriv: Any = None
        #: The idle URB the synchronous messages on this endpoint use next (message.py).
        self.sync_urb: Urb | None = None

    @property
    def desc(self) -> EndpointDescriptor:
        return self._desc

    @desc.setter
    def desc(self, desc: EndpointDescriptor) -> None:
        self._desc = desc
        self.address: int = desc.bEndpointAddress
        self.type: int = int(desc.type)
        self.maxp: int = desc.maxpacket

    def __repr__(self) -> str:
        return f"<UsbHostEndpoint {self.address:#04x}>"

    @property
    def extra(self) -> bytes:
        return self.desc.extra


class UsbHostInterface:
    """struct usb_host_interface: one altsetting with its endpoints and iInterface text."""

    __slots__ = ("desc", "endpoint", "string")

    def __init__(self, desc: InterfaceDescriptor) -> None:
        self.desc = desc
        self.endpoint = [UsbHostEndpoint(ep) for ep in desc.endpoints]
        self.string: str | None = None

    def __repr__(self) -> str:
        d = self.desc
        return f"<UsbHostInterface {d.bInterfaceNumber}.{d.bAlternateSetting}>"

    @property
    def extra(self) -> bytes:
        return self.desc.extra


class InterfaceCondition(Enum):
    """enum usb_interface_condition, with its one legal order."""

    UNBOUND = "unbound"
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"


_CONDITION_NEXT: Final = {
    InterfaceCondition.UNBOUND: {InterfaceCondition.BINDING},
    InterfaceCondition.BINDING: {InterfaceCondition.BOUND, InterfaceCondition.UNBOUND},
    InterfaceCondition.BOUND: {InterfaceCondition.UNBINDING},
    InterfaceCondition.UNBINDING: {InterfaceCondition.UNBOUND},
}


class UsbInterface(Device):
    """struct usb_interface: one interface of the active configuration."""

    devtype: ClassVar[str] = "usb_interface"

    def __init__(self, udev: UsbDevice, config: UsbHostConfig,
                 altsettings: list[UsbHostInterface]) -> None:
        first = altsettings[0].desc
        number = first.bInterfaceNumber or 0
        value = config.desc.bConfigurationValue or 0
        super().__init__(f"{udev.busnum}-{udev.devpath}:{value}.{number}", udev,
                         udev.bus_type)
        self.usb_dev = udev
        self.altsetting = altsettings
        self.cur_altsetting = next((a for a in altsettings if a.desc.bAlternateSetting == 0),
                                   altsettings[0])
        self.intf_assoc: InterfaceAssociation | None = None
        self.minor = -1
        self.condition = InterfaceCondition.UNBOUND
        self.authorized = True
        self.needs_remote_wakeup = False
        self.needs_binding = False

    @property
    def number(self) -> int:
        return self.cur_altsetting.desc.bInterfaceNumber or 0

    @property
    def num_altsetting(self) -> int:
        return len(self.altsetting)

    def set_condition(self, new: InterfaceCondition) -> None:
        """The one transition function of the binding state machine; raises
        IllegalStateTransition on an illegal change.  Context: atomic."""
        if new not in _CONDITION_NEXT[self.condition]:
            raise IllegalStateTransition(
                f"interface {self.name}: {self.condition.value} -> {new.value}")
        self.condition = new

    def altsetting_by_number(self, alt: int) -> UsbHostInterface | None:
        """usb_altnum_to_altsetting(): the altsetting with that bAlternateSetting, or None.
        Context: atomic."""
        return next((a for a in self.altsetting if a.desc.bAlternateSetting == alt), None)

    def find_endpoint(self, address: int) -> UsbHostEndpoint | None:
        """The endpoint with bEndpointAddress `address` in the current altsetting, or None.
        Context: atomic."""
        return next((e for e in self.cur_altsetting.endpoint if e.address == address), None)


class UsbHostConfig:
    """struct usb_host_config: a configuration as parsed, its interfaces once active.

    `intf_cache` maps each interface number to its altsettings' descriptors and
    `altsettings` to their host-side altsettings (usb_interface_cache), both in the order
    the interfaces first appear in the configuration, as config.c builds them; the host
    altsettings and their endpoints live as long as the configuration, whichever
    interface objects come and go with SET_CONFIGURATION.
    """

    __slots__ = ("altsettings", "desc", "interface", "intf_cache", "raw", "string")

    def __init__(self, desc: ConfigDescriptor, raw: bytes) -> None:
        self.desc = desc
        self.raw = raw
        self.string: str | None = None
        self.intf_cache: dict[int, list[InterfaceDescriptor]] = {}
        for number, alt in desc.numbered_interfaces():
            self.intf_cache.setdefault(number, []).append(alt)
        self.altsettings: dict[int, list[UsbHostInterface]] = {
            number: [UsbHostInterface(alt) for alt in alts]
            for number, alts in self.intf_cache.items()}
        self.interface: list[UsbInterface] = []

    @property
    def value(self) -> int:
        return self.desc.bConfigurationValue or 0


class UsbDevice(Device):
    """struct usb_device: one device on a bus, from allocation to disconnect."""

    devtype: ClassVar[str] = "usb_device"
    devpath: str
    usb_parent: UsbDevice | None

    __slots__ = ("actconfig", "authorized", "autosuspend_delay_ms", "bos", "bus_mA",
                 "children", "config", "descriptor", "devnum", "devpath", "ep0", "ep_in",
                 "ep_out", "have_langid", "hcpriv", "hub_delay", "level", "lpm_capable",
                 "manufacturer", "maxchild", "portnum", "product", "quirks", "rawdescriptors",
                 "serial", "speed", "state", "string_langid", "toggle", "tt", "urbnum",
                 "usb_bus", "usb_parent", "use_generic_driver", "wakeup_enabled")

    def __init__(self, bus: UsbBus, parent: UsbDevice | None, port1: int) -> None:
        devpath: str
        if parent is None:
            devpath, name = "0", f"usb{bus.busnum}"
        elif parent.usb_parent is None:
            devpath = f"{port1}"
            name = f"{bus.busnum}-{devpath}"
        else:
            devpath = f"{parent.devpath}.{port1}"
            name = f"{bus.busnum}-{devpath}"
        super().__init__(name, parent if parent is not None else bus.controller,
                         bus.bus_type)
        self.usb_bus = bus
        self.usb_parent = parent
        self.portnum = port1
        self.devpath = devpath
        self.level: int = 0 if parent is None else parent.level + 1
        self.devnum = 0
        self.state = DeviceState.ATTACHED
        self.speed = Speed.UNKNOWN
        self.descriptor: DeviceDescriptor | None = None
        self.bos: BosDescriptor | None = None
        #: usb_device_supports_lpm() of the BOS read at enumeration (USB 3 link PM).
        self.lpm_capable = False
        #: Hub delay in ns: wHubDelay of the SuperSpeed hubs above plus 40 ns each.
        self.hub_delay = 0
        self.config: list[UsbHostConfig] = []
        self.actconfig: UsbHostConfig | None = None
        self.rawdescriptors: list[bytes] = []
        self.ep0 = UsbHostEndpoint(EP0_DESC)
        self.ep0.enabled = True
        self.ep_in: list[UsbHostEndpoint | None] = [None] * 16
        self.ep_out: list[UsbHostEndpoint | None] = [None] * 16
        self.ep_in[0] = self.ep_out[0] = self.ep0
        self.maxchild = 0
        self.children: dict[int, UsbDevice] = {}
        self.product: str | None = None
        self.manufacturer: str | None = None
        self.serial: str | None = None
        self.string_langid = 0
        self.have_langid = False
        self.bus_mA = 0
        self.quirks = 0
        self.urbnum = 0
        #: Data toggle bits kept by usbcore, [IN, OUT], one bit per endpoint number
        #: (usb_settoggle); controllers with `endpoint_reset` keep their own.
        self.toggle = [0, 0]
        self.authorized = True
        self.tt: object | None = None
        self.hcpriv: Any = None
        self.use_generic_driver = False
        #: power.autosuspend_delay: usbcore's autosuspend parameter (2 s); the hub driver
        #: sets 0 on the hubs it binds (hub_probe).
        self.autosuspend_delay_ms = 2000
        #: power.should_wakeup (device_set_wakeup_enable): a wakeup source exists and
        #: its counters read 0; usbhid enables it on boot keyboards.
        self.wakeup_enabled = False

    @property
    def bus_type(self) -> UsbBusType:
        return self.usb_bus.bus_type

    @property
    def busnum(self) -> int:
        return self.usb_bus.busnum

    @property
    def is_root_hub(self) -> bool:
        return self.usb_parent is None

    @property
    def minor(self) -> int:
        """Minor of /dev/bus/usb/BBB/DDD (major 189)."""
        return (self.busnum - 1) * 128 + self.devnum - 1

    @property
    def devnode(self) -> str:
        return f"bus/usb/{self.busnum:03d}/{self.devnum:03d}"

    def driver_string(self) -> str:
        """dev_driver_string(): the bound driver's name, else the bus's ("usb").
        Context: atomic."""
        return self.driver.name if self.driver is not None else "usb"

    def set_state(self, new: DeviceState) -> None:
        """usb_set_device_state(): a NOTATTACHED device never comes back, and its children
        follow it there.  Context: atomic."""
        if self.state is DeviceState.NOTATTACHED:
            return
        self.state = new
        if new is DeviceState.NOTATTACHED:
            for child in self.children.values():
                child.set_state(DeviceState.NOTATTACHED)

    def endpoint(self, address: int) -> UsbHostEndpoint | None:
        """The host endpoint for bEndpointAddress `address` in the active altsettings.
        Context: atomic."""
        table = self.ep_in if address & 0x80 else self.ep_out
        return table[address & 0x0F]

    def enable_interface_endpoints(self, alt: UsbHostInterface) -> None:
        """usb_enable_interface(): make the altsetting's endpoints the device's endpoints.
        Context: atomic."""
        for hep in alt.endpoint:
            table = self.ep_in if hep.address & 0x80 else self.ep_out
            table[hep.address & 0x0F] = hep
            hep.enabled = True

    def interfaces(self) -> Iterator[UsbInterface]:
        """The interfaces of the active configuration (none when unconfigured).
        Context: atomic."""
        return iter(self.actconfig.interface if self.actconfig is not None else ())

    def interface(self, number: int) -> UsbInterface | None:
        """usb_ifnum_to_if(): the interface with that number in the active configuration.
        Context: atomic."""
        return next((i for i in self.interfaces() if i.number == number), None)

    def uevent_env(self) -> list[tuple[str, str]]:
        """dev_uevent(): MAJOR, MINOR and DEVNAME of /dev/bus/usb/BBB/DDD, then DEVTYPE and
        DRIVER.  Context: atomic."""
        return [("MAJOR", str(USB_DEVICE_MAJOR)), ("MINOR", str(self.minor)),
                ("DEVNAME", self.devnode), *super().uevent_env()]

    def __repr__(self) -> str:
        return f"<UsbDevice {self.name} devnum={self.devnum} {self.state.linux_name}>"


def usb_make_path(dev: UsbDevice) -> str:
    """usb_make_path() (include/linux/usb.h): "usb-<bus name>-<devpath>", the stable
    name drivers build `phys` strings from ("usb-0000:00:1d.0-1.2").  Context: atomic."""
    return f"usb-{dev.usb_bus.bus_name}-{dev.devpath}"


def usb_get_extra_descriptor(dev: UsbDevice, extra: bytes, dtype: int,
                             minsize: int) -> bytes | None:
    """__usb_get_extra_descriptor(): the first class-specific descriptor of type `dtype`
    and at least `minsize` bytes in `extra` (an interface's or endpoint's extra bytes),
    or None.  A descriptor whose bLength is below 2 or runs past the end stops the walk
    with "usbcore: bogus descriptor, type %d length %d".  Context: atomic."""
    pos = 0
    while len(extra) - pos >= 2:
        length, found = extra[pos], extra[pos + 1]
        if length < 2 or length > len(extra) - pos:
            dev.usb_bus.core.log.log(Level.ERR, f"usbcore: bogus descriptor, type {found} "
                                                f"length {length}")
            return None
        if found == dtype and length >= minsize:
            return bytes(extra[pos:pos + length])
        pos += length
    return None


def _reset_lock_refusal(udev: UsbDevice, iface: UsbInterface | None) -> int:
    if udev.state is DeviceState.NOTATTACHED:
        return -Errno.ENODEV
    if udev.state is DeviceState.SUSPENDED:
        return -Errno.EHOSTUNREACH
    if iface is not None and iface.condition in (InterfaceCondition.UNBINDING,
                                                 InterfaceCondition.UNBOUND):
        return -Errno.EINTR
    return 0


async def usb_lock_device_for_reset(udev: UsbDevice, iface: UsbInterface | None) -> int:
    """usb_lock_device_for_reset(): take `udev`'s lock so that the caller may call
    usb_reset_device(), checking every 15 ms that the reset still makes sense.  Returns 0
    (the caller releases the lock with `usb_unlock_device`), -ENODEV (the device is gone),
    -EHOSTUNREACH (suspended), -EINTR (`iface` is being unbound or is unbound) or -EBUSY
    (the lock stayed taken for a second: probably a deadlock).  Context: may sleep."""
    loop = asyncio.get_running_loop()
    expire = loop.time() + _RESET_LOCK_TIMEOUT_S
    refusal = _reset_lock_refusal(udev, iface)
    while not refusal:
        if not udev.lock.locked():
            await udev.lock.acquire()   # free: taken at once, as usb_trylock_device
            return 0
        if loop.time() > expire:
            return -Errno.EBUSY
        await asyncio.sleep(_RESET_LOCK_POLL_S)
        refusal = _reset_lock_refusal(udev, iface)
    return refusal


def usb_unlock_device(udev: UsbDevice) -> None:
    """usb_unlock_device(): release the lock `usb_lock_device_for_reset` took.
    Context: atomic."""
    udev.lock.release()
