"""The USB devices file — counterpart of drivers/usb/core/devices.c
(/sys/kernel/debug/usb/devices, formerly /proc/bus/usb/devices).

`devices_text(usbcore)` renders every bus in bus-number order, each as a depth-first walk
from its root hub (children in port order), one block of lines per device exactly as
usb_device_dump() prints it: T: topology, B: bandwidth (root hubs only), D:/P: device
descriptor, S: strings, and for each configuration C:, A: (interface associations), I:
(every altsetting) and E: (its endpoints).  The 2-page budget per device and its
"(truncated)" marker are reproduced.  It reads the kernel's objects and nothing else; the
bandwidth figures are whatever the host controller keeps in its `UsbBus` (EHCI-like
controllers count them, the in-process controller does not, as dummy_hcd does not).
`install_devices_file(vfs, usbcore)` mounts it at /sys/kernel/debug/usb/devices.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from ..kernel.vfs import Attr, Node, StaticDir, Vfs
from ..spec.ch9 import Speed
from ..spec.descriptors import EndpointDescriptor, InterfaceAssociation, InterfaceDescriptor
from .hcd import FRAME_TIME_MAX_USECS_ALLOC
from .sysfs import decode_interval

if TYPE_CHECKING:
    from .usb import UsbDevice, UsbHostConfig, UsbInterface
    from .usbcore import UsbCore

__all__ = ["DEVICES_PATH", "class_decode", "devices_bytes", "devices_text",
           "install_devices_file"]

DEBUG_USB: Final = "/sys/kernel/debug/usb"
DEVICES_PATH: Final = f"{DEBUG_USB}/devices"
#: Host controller drivers' debugfs directories (ehci-dbg.c's ehci_debug_root).
HCD_DEBUG_DIRS: Final = ("ehci",)

MAX_TOPO_LEVEL: Final = 6
USB_MAXIADS: Final = 16
_BLOCK_LIMIT: Final = 2 * 4096 - 256
"""usb_device_dump(): two pages per device, less the 256 bytes kept for the last line."""

# The legend and format strings of devices.c, one per line type.
#   T:  Bus=dd Lev=dd Prnt=dd Port=dd Cnt=dd Dev#=ddd Spd=dddd MxCh=dd
#   |   |      |      |       |       |      |        |        |__MaxChildren
#   |   |      |      |       |       |      |        |__Device Speed in Mbps
#   |   |      |      |       |       |      |__DeviceNumber
#   |   |      |      |       |       |__Count of devices at this level
#   |   |      |      |       |__Connector/Port on Parent for this device
#   |   |      |      |__Parent DeviceNumber
#   |   |      |__Level in topology for this bus
#   |   |__Bus number
#   |__Topology info tag
FORMAT_TOPO: Final = ("\nT:  Bus=%2.2d Lev=%2.2d Prnt=%2.2d Port=%2.2d Cnt=%2.2d Dev#=%3d "
                      "Spd=%-4s MxCh=%2d\n")
#   B:  Alloc=ddd/ddd us (xx%), #Int=ddd, #Iso=ddd
FORMAT_BANDWIDTH: Final = "B:  Alloc=%3d/%3d us (%2d%%), #Int=%3d, #Iso=%3d\n"
#   D:  Ver=x.xx Cls=xx(sssss) Sub=xx Prot=xx MxPS=dd #Cfgs=dd
FORMAT_DEVICE1: Final = "D:  Ver=%2x.%02x Cls=%02x(%-5s) Sub=%02x Prot=%02x MxPS=%2d #Cfgs=%3d\n"
#   P:  Vendor=xxxx ProdID=xxxx Rev=xx.xx
FORMAT_DEVICE2: Final = "P:  Vendor=%04x ProdID=%04x Rev=%2x.%02x\n"
#   S:  Manufacturer=xxxx / Product=xxxx / SerialNumber=xxxx
FORMAT_STRING_MANUFACTURER: Final = "S:  Manufacturer=%s\n"
FORMAT_STRING_PRODUCT: Final = "S:  Product=%s\n"
FORMAT_STRING_SERIALNUMBER: Final = "S:  SerialNumber=%s\n"
#   C:  #Ifs=dd Cfg#=dd Atr=xx MPwr=dddmA
FORMAT_CONFIG: Final = "C:%c #Ifs=%2d Cfg#=%2d Atr=%02x MxPwr=%3dmA\n"
#   A:  FirstIf#=dd IfCount=dd Cls=xx(sssss) Sub=xx Prot=xx
FORMAT_IAD: Final = "A:  FirstIf#=%2d IfCount=%2d Cls=%02x(%-5s) Sub=%02x Prot=%02x\n"
#   I:  If#=dd Alt=dd #EPs=dd Cls=xx(sssss) Sub=xx Prot=xx Driver=xxxx
FORMAT_IFACE: Final = "I:%c If#=%2d Alt=%2d #EPs=%2d Cls=%02x(%-5s) Sub=%02x Prot=%02x Driver=%s\n"
#   E:  Ad=xx(s) Atr=xx(ssss) MxPS=dddd Ivl=dddss
FORMAT_ENDPT: Final = "E:  Ad=%02x(%c) Atr=%02x(%-4s) MxPS=%4d Ivl=%d%cs\n"

_CLASS_NAMES: Final = {
    0x00: ">ifc", 0x01: "audio", 0x02: "comm.", 0x03: "HID", 0x05: "PID", 0x06: "still",
    0x07: "print", 0x08: "stor.", 0x09: "hub", 0x0A: "data", 0x0B: "scard", 0x0D: "c-sec",
    0x0E: "video", 0x0F: "perhc", 0x10: "av", 0x11: "blbrd", 0x12: "bridg", 0xE0: "wlcon",
    0xEF: "misc", 0xFE: "app.", 0xFF: "vend.",
}
_EP_TYPES: Final = ("Ctrl", "Isoc", "Bulk", "Int.")


def class_decode(cls: int) -> str:
    """class_decode(): the 5-character class name of clas_info[], "unk." if unknown.
    Context: atomic."""
    return _CLASS_NAMES.get(cls, "unk.")


def _speed(speed: Speed) -> str:
    return {Speed.LOW: "1.5", Speed.UNKNOWN: "12", Speed.FULL: "12", Speed.HIGH: "480",
            Speed.SUPER: "5000", Speed.SUPER_PLUS: "10000"}.get(speed, "??")


def _cstring(text: str) -> str:
    """`%.100s` of a UTF-8 string: at most 100 bytes (surrogate-escaped when that cuts a
    character, so that the bytes come out as the kernel prints them)."""
    raw = text.encode("utf-8", errors="surrogateescape")[:100]
    return raw.decode("utf-8", errors="surrogateescape")


class _Block:
    """One device's lines with the kernel's budget: every line is emitted only while the
    block is not past the limit (each dump helper checks `start > end` first)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def emit(self, line: str) -> None:
        if self.size > _BLOCK_LIMIT:
            return
        self.parts.append(line)
        self.size += len(line.encode("utf-8", errors="surrogateescape"))

    def text(self) -> str:
        if self.size > _BLOCK_LIMIT:
            self.parts.append("(truncated)\n")
        return "".join(self.parts)


def _endpoint(block: _Block, speed: Speed, desc: EndpointDescriptor) -> None:
    """usb_dump_endpoint_descriptor()."""
    kind = desc.bmAttributes & 3
    direction = "B" if kind == 0 else ("I" if desc.bEndpointAddress & 0x80 else "O")
    bandwidth = ((desc.wMaxPacketSize >> 11) & 3) + 1 if speed == Speed.HIGH else 1
    interval = decode_interval(desc, speed)
    unit = "u"
    if interval % 1000 == 0:
        unit, interval = "m", interval // 1000
    signed = interval - (1 << 32) if interval >= 1 << 31 else interval
    block.emit(FORMAT_ENDPT % (desc.bEndpointAddress, direction, desc.bmAttributes,
                               _EP_TYPES[kind], (desc.wMaxPacketSize & 0x7FF) * bandwidth,
                               signed, unit))


def _iads(config: UsbHostConfig) -> list[InterfaceAssociation]:
    """config->intf_assoc[]: the IADs in descriptor order (at most USB_MAXIADS)."""
    found: list[InterfaceAssociation] = []
    for alt in config.desc.interfaces:
        iad = alt.association
        if iad is not None and not any(iad is seen for seen in found):
            found.append(iad)
    return found[:USB_MAXIADS]


def _interface(block: _Block, speed: Speed, alt: InterfaceDescriptor,
               iface: UsbInterface | None) -> None:
    """usb_dump_interface(): the I: line of one altsetting, then its E: lines."""
    driver = ""
    active = False
    if iface is not None:
        driver = iface.driver.name if iface.driver is not None else "(none)"
        active = iface.cur_altsetting.desc is alt
    block.emit(FORMAT_IFACE % ("*" if active else " ", alt.bInterfaceNumber or 0,
                               alt.bAlternateSetting, len(alt.endpoints), alt.bInterfaceClass,
                               class_decode(alt.bInterfaceClass), alt.bInterfaceSubClass,
                               alt.bInterfaceProtocol, driver))
    for ep in alt.endpoints:
        _endpoint(block, speed, ep)


def _config(block: _Block, udev: UsbDevice, config: UsbHostConfig) -> None:
    """usb_dump_config(): C:, its A: lines, then every altsetting of every interface;
    interfaces of an inactive configuration have no driver column value."""
    active = config is udev.actconfig
    mul = 8 if udev.speed >= Speed.SUPER else 2
    block.emit(FORMAT_CONFIG % ("*" if active else " ", len(config.intf_cache), config.value,
                                config.desc.bmAttributes, config.desc.bMaxPower * mul))
    for iad in _iads(config):
        block.emit(FORMAT_IAD % (iad.bFirstInterface or 0, iad.bInterfaceCount,
                                 iad.bFunctionClass, class_decode(iad.bFunctionClass),
                                 iad.bFunctionSubClass, iad.bFunctionProtocol))
    by_number = {i.number: i for i in config.interface} if active else {}
    for number, alts in config.intf_cache.items():
        for alt in alts:
            _interface(block, udev.speed, alt, by_number.get(number))


def _device_block(udev: UsbDevice, level: int, index: int, count: int) -> str:
    """usb_device_dump() for one device (without its children)."""
    bus = udev.usb_bus
    parent = udev.usb_parent
    block = _Block()
    block.emit(FORMAT_TOPO % (bus.busnum, level, parent.devnum if parent is not None else 0,
                              index, count, udev.devnum, _speed(udev.speed), udev.maxchild))
    if level == 0:
        high = udev.speed == Speed.HIGH or udev.speed >= Speed.SUPER
        limit = 800 if high else FRAME_TIME_MAX_USECS_ALLOC
        alloc = bus.bandwidth_allocated
        block.emit(FORMAT_BANDWIDTH % (alloc, limit, (100 * alloc + limit // 2) // limit,
                                       bus.bandwidth_int_reqs, bus.bandwidth_isoc_reqs))
    d = udev.descriptor
    if d is not None:
        ncfg = d.bNumConfigurations if d.bNumConfigurations is not None else len(udev.config)
        block.emit(FORMAT_DEVICE1 % (d.bcdUSB >> 8, d.bcdUSB & 0xFF, d.bDeviceClass,
                                     class_decode(d.bDeviceClass), d.bDeviceSubClass,
                                     d.bDeviceProtocol, d.bMaxPacketSize0, ncfg))
        block.emit(FORMAT_DEVICE2 % (d.idVendor, d.idProduct, d.bcdDevice >> 8,
                                     d.bcdDevice & 0xFF))
    if udev.manufacturer is not None:
        block.emit(FORMAT_STRING_MANUFACTURER % _cstring(udev.manufacturer))
    if udev.product is not None:
        block.emit(FORMAT_STRING_PRODUCT % _cstring(udev.product))
    if udev.serial is not None:
        block.emit(FORMAT_STRING_SERIALNUMBER % _cstring(udev.serial))
    for config in udev.config:
        _config(block, udev, config)
    return block.text()


def _walk(udev: UsbDevice, level: int, index: int, count: int) -> Iterator[str]:
    if level > MAX_TOPO_LEVEL:
        return
    yield _device_block(udev, level, index, count)
    cnt = 0
    for port1 in sorted(udev.children):
        if port1 > udev.maxchild:
            continue
        cnt += 1
        yield from _walk(udev.children[port1], level + 1, port1 - 1, cnt)


def devices_text(usbcore: UsbCore) -> str:
    """The whole devices file as text (strings cut mid-character stay surrogate-escaped:
    `devices_bytes` gives the exact bytes).  Context: atomic."""
    parts: list[str] = []
    for _, bus in sorted(usbcore.buses.items()):
        if bus.root_hub is not None:
            parts.extend(_walk(bus.root_hub, 0, 0, 0))
    return "".join(parts)


def devices_bytes(usbcore: UsbCore) -> bytes:
    """The devices file as a read returns it.  Context: atomic."""
    return devices_text(usbcore).encode("utf-8", errors="surrogateescape")


def install_devices_file(vfs: Vfs, usbcore: UsbCore) -> None:
    """Mount the devices file at /sys/kernel/debug/usb/devices (mode 0444), and the host
    controller drivers' debugfs directories beside it (/sys/kernel/debug/usb/ehci/<bus>/,
    `HostController.debug_files`).  Context: atomic."""
    vfs.mount(DEVICES_PATH, Attr(lambda: devices_bytes(usbcore)))
    for name in HCD_DEBUG_DIRS:
        vfs.mount(f"{DEBUG_USB}/{name}", StaticDir(compute=functools.partial(
            _hcd_debug_entries, usbcore, name)))


def _hcd_debug_entries(usbcore: UsbCore, name: str) -> dict[str, Node]:
    return {bus.bus_name: StaticDir(dict(bus.hcd.debug_files()))
            for _, bus in sorted(usbcore.buses.items()) if bus.hcd.debug_dir == name}
