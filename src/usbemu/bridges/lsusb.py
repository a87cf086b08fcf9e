"""lsusb for an emulated machine — counterpart of usbutils' `lsusb`, `lsusb -t` and
`lsusb -v` (lsusb.c, lsusb-t.c, names.c of usbutils 018), which are user space.

Everything is read where lsusb (and libusb's Linux backend under it) reads it: the entries
of /sys/bus/usb/devices, their attribute files and `driver` links, and each device's binary
`descriptors` file — here through the machine's `Vfs`, so the output shows exactly what
the sysfs tree says.  Names come as usbutils 018 gets them from udev's hwdb: class,
subclass and protocol names from the built-in USB-IF table (`usb_classes`, the hwdb's
class section), vendor and product names from a usb.ids database when one is given or
found in the usual places (the hwdb's vendor section is generated from it), falling back
to the device's own `manufacturer` and `product` strings and then "[unknown]".

`DeviceFilter` is lsusb's `-s [[bus]:][devnum]` and `-d [vendor]:[product]` (parsed and
matched as lsusb.c's main() and list_devices() do; `lsusb` and `lsusb_v` take one): the
shell's `lsusb` and `usbemu lsusb` share it.  As in usbutils, a list with nothing in it is
lsusb's exit status 1, and `lsusb -t` shows the whole tree whatever the filter.

`lsusb_v` prints what lsusb -v prints for a user who cannot open the device nodes
(libusb_open fails without write access to /dev/bus/usb): every descriptor from the
`descriptors` file, string descriptors other than the three sysfs strings left empty, HID
report descriptors "** UNAVAILABLE **", and no hub, qualifier, debug or status section.
Class-specific descriptors are decoded for HID, CDC (header, call management, ACM,
union) and mass-storage pipes; those of other classes (audio, video, DFU, printer, CCID)
are printed as lsusb prints descriptors it does not recognise.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from ..kernel.vfs import Vfs
from . import usb_classes
from .usb_classes import hwdb_keeps

__all__ = [
    "EVERY_DEVICE",
    "NEGOTIATED_SPEEDS",
    "NO_USB_IDS",
    "USB_IDS_PATHS",
    "DeviceFilter",
    "UsbIds",
    "lsusb",
    "lsusb_t",
    "lsusb_v",
]

USB_IDS_PATHS: Final = ("/usr/share/hwdata/usb.ids", "/usr/share/misc/usb.ids",
                        "/var/lib/usbutils/usb.ids")
"""Where distributions install usb.ids (hwdata, the usb.ids package, old usbutils)."""

SYS_BUS_USB_DEVICES: Final = "/sys/bus/usb/devices"


# -- the names database -------------------------------------------------------------------------


@dataclass
class UsbIds:
    """The parts of usb.ids lsusb uses: vendors, products, and the class / subclass /
    protocol table ("C" section) as the hwdb holds it (entries `hwdb_keeps` drops are
    not kept).  Class lookups fall back to the built-in table of `usb_classes`."""

    vendors: dict[int, str] = field(default_factory=dict)
    products: dict[tuple[int, int], str] = field(default_factory=dict)
    classes: dict[int, str] = field(default_factory=dict)
    subclasses: dict[tuple[int, int], str] = field(default_factory=dict)
    protocols: dict[tuple[int, int, int], str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> UsbIds:
        """Parse usb.ids text; malformed lines are skipped, as names.c skips them."""
        ids = cls()
        vendor = klass = subclass = -1
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            if line.startswith("C "):
                code, name = _split_entry(line[2:], 2)
                vendor, klass, subclass = -1, code, -1
                if code >= 0 and hwdb_keeps(name, code):
                    ids.classes.setdefault(code, name)
                continue
            if line.startswith("\t\t"):
                code, name = _split_entry(line[2:], 2)
                if klass >= 0 and subclass >= 0 and code >= 0 \
                        and hwdb_keeps(name, klass, subclass, code):
                    ids.protocols.setdefault((klass, subclass, code), name)
                continue
            if line.startswith("\t"):
                if vendor >= 0:
                    code, name = _split_entry(line[1:], 4)
                    if code >= 0:
                        ids.products.setdefault((vendor, code), name)
                elif klass >= 0:
                    code, name = _split_entry(line[1:], 2)
                    subclass = code
                    if code >= 0 and hwdb_keeps(name, klass, code):
                        ids.subclasses.setdefault((klass, code), name)
                continue
            code, name = _split_entry(line, 4)
            vendor, klass, subclass = code, -1, -1
            if code >= 0:
                ids.vendors.setdefault(code, name)
        return ids

    @classmethod
    def load(cls, path: str | Path) -> UsbIds:
        """Read a usb.ids file (UTF-8).  Raises OSError."""
        return cls.parse(Path(path).read_text(encoding="utf-8", errors="replace"))

    @classmethod
    def find(cls, paths: Sequence[str] = USB_IDS_PATHS) -> UsbIds | None:
        """The first usb.ids of `paths` that exists on this host, or None."""
        for path in paths:
            if Path(path).is_file():
                return cls.load(path)
        return None

    def vendor(self, vid: int) -> str | None:
        """names_vendor(): the vendor's name, None when the database has none.
        Context: atomic."""
        return self.vendors.get(vid)

    def product(self, vid: int, pid: int) -> str | None:
        """names_product(): the product's name, None when the database has none.
        Context: atomic."""
        return self.products.get((vid, pid))

    def class_name(self, cls: int) -> str:
        """get_class_string(): the database's name, else the built-in one, else
        "[unknown]".  Context: atomic."""
        return (self.classes.get(cls) or usb_classes.CLASSES.get(cls)
                or "[unknown]")

    def subclass_name(self, cls: int, sub: int) -> str:
        """get_subclass_string(): as class_name, for a (class, subclass) pair.
        Context: atomic."""
        return (self.subclasses.get((cls, sub)) or usb_classes.SUBCLASSES.get((cls, sub))
                or "[unknown]")

    def protocol_name(self, cls: int, sub: int, proto: int) -> str:
        """get_protocol_string(): the database's name, else the built-in one, else
        empty.  Context: atomic."""
        key = (cls, sub, proto)
        return self.protocols.get(key) or usb_classes.PROTOCOLS.get(key) or ""


NO_USB_IDS: Final = UsbIds()
"""An empty database: lsusb on a machine without usb.ids (class names still come from
the built-in table, as udev's hwdb has them without usb.ids)."""


def _split_entry(text: str, digits: int) -> tuple[int, str]:
    """("xxxx  name") → (code, name); (-1, "") when the line does not start with `digits`
    hex digits followed by white space."""
    head, rest = text[:digits], text[digits:]
    if len(head) != digits or not all(c in "0123456789abcdefABCDEF" for c in head) \
            or not rest[:1].isspace():
        return -1, ""
    return int(head, 16), rest.strip()


def _names(usb_ids: str | Path | UsbIds | None) -> UsbIds:
    if isinstance(usb_ids, UsbIds):
        return usb_ids
    if usb_ids is None:
        return UsbIds.find(USB_IDS_PATHS) or NO_USB_IDS
    return UsbIds.load(usb_ids)


# -- reading sysfs as lsusb does ---------------------------------------------------------------


class _Machine(Protocol):
    vfs: Vfs


def _read(vfs: Vfs, path: str) -> str | None:
    """read_sysfs_prop(): the file's text without trailing newlines, None if unreadable."""
    try:
        return vfs.read(path).decode("utf-8", errors="replace").rstrip("\n")
    except OSError:
        return None


def _read_int(vfs: Vfs, path: str, base: int) -> int:
    """read_sysfs_file_int(): strtoul of the first 11 bytes, 0 when unreadable."""
    try:
        text = vfs.read(path)[:11].decode("latin-1").strip()
    except OSError:
        return 0
    digits = ""
    for char in text.lower().removeprefix("0x") if base == 16 else text:
        if char not in "0123456789abcdef"[:base]:
            break
        digits += char
    return int(digits, base) if digits else 0


def _readlink_base(vfs: Vfs, path: str) -> str | None:
    try:
        return posixpath.basename(vfs.readlink(path))
    except OSError:
        return None


@dataclass
class _Device:
    """What libusb knows of a device: its sysfs name, numbers and descriptors."""

    name: str
    busnum: int
    devnum: int
    raw: bytes

    @property
    def vendor_id(self) -> int:
        return self.raw[8] | self.raw[9] << 8

    @property
    def product_id(self) -> int:
        return self.raw[10] | self.raw[11] << 8


def _devices(vfs: Vfs) -> list[_Device]:
    """libusb_get_device_list() on sysfs, sorted by bus then device number as lsusb
    sorts it."""
    found: list[_Device] = []
    for name in vfs.listdir(SYS_BUS_USB_DEVICES):
        if ":" in name or name.startswith("."):
            continue
        base = f"{SYS_BUS_USB_DEVICES}/{name}"
        try:
            raw = vfs.read(f"{base}/descriptors")
        except OSError:
            continue
        if len(raw) < 18:
            continue
        found.append(_Device(name, _read_int(vfs, f"{base}/busnum", 10),
                             _read_int(vfs, f"{base}/devnum", 10), raw))
    found.sort(key=lambda d: (d.busnum, d.devnum))
    return found


def _vendor_product(vfs: Vfs, names: UsbIds, dev: _Device) -> tuple[str, str]:
    """get_vendor_product_with_fallback()."""
    vendor = names.vendor(dev.vendor_id)
    product = names.product(dev.vendor_id, dev.product_id)
    base = f"{SYS_BUS_USB_DEVICES}/{dev.name}"
    if vendor is None:
        vendor = _read(vfs, f"{base}/manufacturer") or "[unknown]"
    if product is None:
        product = _read(vfs, f"{base}/product") or "[unknown]"
    return vendor, product


def _bus_line(vfs: Vfs, names: UsbIds, dev: _Device) -> str:
    vendor, product = _vendor_product(vfs, names, dev)
    return (f"Bus {dev.busnum:03d} Device {dev.devnum:03d}: ID {dev.vendor_id:04x}:"
            f"{dev.product_id:04x} {vendor} {product}\n")


# -- lsusb -s and -d ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceFilter:
    """Which devices lsusb lists: `-s [[bus]:][devnum]` (decimal) and `-d [vendor]:[product]`
    (hexadecimal); None matches any.  The default filter matches every device."""

    busnum: int | None = None
    devnum: int | None = None
    vendor: int | None = None
    product: int | None = None

    @classmethod
    def parse(cls, select: str | None = None, ids: str | None = None) -> DeviceFilter:
        """The filter of `-s select` and `-d ids` (either may be None).  Raises ValueError
        whose message says which argument is wrong and what is accepted ("invalid -s
        argument 'x': expected [[bus]:][devnum] in decimal")."""
        busnum = devnum = vendor = product = None
        if select is not None:
            busnum, devnum = _parse_bus_devnum(select)
        if ids is not None:
            vendor, product = _parse_vendor_product(ids)
        return cls(busnum, devnum, vendor, product)

    def matches(self, busnum: int, devnum: int, vendor: int, product: int) -> bool:
        """list_devices()'s test: every number given is equal."""
        wanted = (self.busnum, self.devnum, self.vendor, self.product)
        found = (busnum, devnum, vendor, product)
        return all(w is None or w == f for w, f in zip(wanted, found, strict=True))


EVERY_DEVICE: Final = DeviceFilter()
"""lsusb without -s and -d."""


_SELECT: Final = re.compile(r"(?:(\d*):)?(\d*)")
_IDS: Final = re.compile(r"([0-9a-fA-F]*):([0-9a-fA-F]*)")


def _parse_bus_devnum(value: str) -> tuple[int | None, int | None]:
    """-s [[bus]:][devnum], decimal; either part may be empty."""
    found = _SELECT.fullmatch(value)
    if found is None:
        raise ValueError(f"invalid -s argument '{value}': expected [[bus]:][devnum] "
                         "in decimal")
    return (int(found[1]) if found[1] else None), (int(found[2]) if found[2] else None)


def _parse_vendor_product(value: str) -> tuple[int | None, int | None]:
    """-d [vendor]:[product], hexadecimal; the colon is required, as lsusb requires it."""
    found = _IDS.fullmatch(value)
    numbers = [int(part, 16) if part else None for part in found.groups()] if found else []
    if not numbers or any(n is not None and n > 0xFFFF for n in numbers):
        raise ValueError(f"invalid -d argument '{value}': expected [vendor]:[product] "
                         "in hexadecimal")
    return numbers[0], numbers[1]


def _wanted(only: DeviceFilter, dev: _Device) -> bool:
    return only.matches(dev.busnum, dev.devnum, dev.vendor_id, dev.product_id)


def lsusb(system: _Machine, *, usb_ids: str | Path | UsbIds | None = None,
          only: DeviceFilter = EVERY_DEVICE) -> str:
    """`lsusb`: one line per device that `only` matches, by bus and device number (empty
    when none does: lsusb's exit status 1).  `usb_ids` is a usb.ids path or database
    (None: the first of USB_IDS_PATHS on this host; NO_USB_IDS: none)."""
    names = _names(usb_ids)
    return "".join(_bus_line(system.vfs, names, dev) for dev in _devices(system.vfs)
                   if _wanted(only, dev))


# -- lsusb -t ----------------------------------------------------------------------------------


@dataclass
class _TInterface:
    name: str
    configuration: int
    ifnum: int
    cls: int
    driver: str


@dataclass
class _TDevice:
    name: str
    busnum: int
    portnum: int
    parent_portnum: int
    devnum: int
    vendor: int
    product: int
    maxchild: int
    speed: str
    lanes: str
    driver: str
    interfaces: list[_TInterface] = field(default_factory=list)
    children: list[_TDevice] = field(default_factory=list)


def _lanes(vfs: Vfs, base: str) -> str:
    """lanes_to_str()."""
    tx, rx = _read_int(vfs, f"{base}/tx_lanes", 10), _read_int(vfs, f"{base}/rx_lanes", 10)
    if tx == rx:
        return "" if tx < 2 else f"/x{tx}"
    return f"/Tx{tx}+Rx{rx}"


def _strtoul_prefix(text: str) -> tuple[int | None, str]:
    digits = ""
    for char in text:
        if not char.isdigit():
            break
        digits += char
    return (int(digits), text[len(digits):]) if digits else (None, text)


def _t_device(vfs: Vfs, name: str) -> _TDevice | None:
    """add_usb_device(): bus and port numbers parsed from the name."""
    busnum, rest = _strtoul_prefix(name)
    if busnum is None:
        return None
    portnum = parent = 0
    while rest:
        value, after = _strtoul_prefix(rest[1:])
        if value is None:
            break
        parent, portnum, rest = portnum, value, after
    base = f"{SYS_BUS_USB_DEVICES}/{name}"
    return _TDevice(name, busnum, portnum, parent, _read_int(vfs, f"{base}/devnum", 10),
                    _read_int(vfs, f"{base}/idVendor", 16),
                    _read_int(vfs, f"{base}/idProduct", 16),
                    _read_int(vfs, f"{base}/maxchild", 10), _read(vfs, f"{base}/speed") or "",
                    _lanes(vfs, base), _readlink_base(vfs, f"{base}/driver") or "")


def _t_interface(vfs: Vfs, name: str) -> _TInterface | None:
    """add_usb_interface(): configuration and interface number from the name."""
    config, rest = _strtoul_prefix(name.split(":", 1)[1])
    if config is None:
        return None
    ifnum, _ = _strtoul_prefix(rest[1:])
    if ifnum is None:
        return None
    base = f"{SYS_BUS_USB_DEVICES}/{name}"
    driver = _readlink_base(vfs, f"{base}/driver")
    return _TInterface(name, config, ifnum, _read_int(vfs, f"{base}/bInterfaceClass", 16),
                       driver if driver is not None else "[none]")


def _t_print_device(out: list[str], names: UsbIds, dev: _TDevice, intf: _TInterface | None,
                    indent: int, verbose: int) -> None:
    """print_usbdevice()."""
    if intf is None:
        out.append(f"Port {dev.portnum:03d}: Dev {dev.devnum:03d}, {dev.speed}M{dev.lanes}\n")
    else:
        driver = f"{intf.driver}/{dev.maxchild}p" if intf.cls == 9 else intf.driver
        out.append(f"Port {dev.portnum:03d}: Dev {dev.devnum:03d}, If {intf.ifnum}, "
                   f"Class={names.class_name(intf.cls)}, Driver={driver}, "
                   f"{dev.speed}M{dev.lanes}\n")
    pad = " " + "    ".rjust(indent)
    if verbose >= 1:
        out.append(f"{pad}ID {dev.vendor:04x}:{dev.product:04x} "
                   f"{names.vendor(dev.vendor) or ''} "
                   f"{names.product(dev.vendor, dev.product) or ''}\n")
    if verbose >= 2:
        out.append(f"{pad}{SYS_BUS_USB_DEVICES}/{dev.name}  /dev/bus/usb/"
                   f"{dev.busnum:03d}/{dev.devnum:03d}\n")


def _t_children(out: list[str], names: UsbIds, devices: list[_TDevice], indent: int,
                verbose: int) -> None:
    """print_tree_dev_children() / print_tree_dev_interface()."""
    indent += 4
    for dev in sorted(devices, key=lambda d: d.portnum):
        inner = indent + 3
        ordered = sorted(dev.interfaces, key=lambda i: (i.configuration, i.ifnum))
        interfaces: list[_TInterface | None] = [*ordered] or [None]
        for intf in interfaces:
            out.append(" " + "|__ ".rjust(inner))
            _t_print_device(out, names, dev, intf, inner, verbose)
        _t_children(out, names, dev.children, indent, verbose)


def lsusb_t(system: _Machine, *, usb_ids: str | Path | UsbIds | None = None,
            verbose: int = 0) -> str:
    """`lsusb -t` (with `verbose` 1 or 2: `-tv`, `-tvv`) as usbutils 018 prints it: one
    line per root hub ("/:  Bus 001.Port 001: Dev 001, Class=root_hub, Driver=ehci-pci/6p,
    480M"), then per interface of each device, depth first in port order."""
    vfs = system.vfs
    names = _names(usb_ids)
    buses: list[tuple[int, _TDevice]] = []
    devices: list[_TDevice] = []
    interfaces: list[_TInterface] = []
    for name in vfs.listdir(SYS_BUS_USB_DEVICES):
        if name.startswith("usb") and name[3:4].isdigit():
            base = f"{SYS_BUS_USB_DEVICES}/{name}"
            root = _TDevice(name, _strtoul_prefix(name[3:])[0] or 0, 1, 0,
                            _read_int(vfs, f"{base}/devnum", 10),
                            _read_int(vfs, f"{base}/idVendor", 16),
                            _read_int(vfs, f"{base}/idProduct", 16),
                            _read_int(vfs, f"{base}/maxchild", 10),
                            _read(vfs, f"{base}/speed") or "", _lanes(vfs, base),
                            _readlink_base(vfs, f"{base}/../driver") or "")
            buses.append((_read_int(vfs, f"{base}/bDeviceClass", 16), root))
        elif name[:1].isdigit():
            if ":" in name:
                intf = _t_interface(vfs, name)
                if intf is not None:
                    interfaces.append(intf)
            else:
                dev = _t_device(vfs, name)
                if dev is not None:
                    devices.append(dev)
    by_name = {d.name: d for d in devices}
    for intf in interfaces:
        owner = by_name.get(intf.name.split(":", 1)[0])
        if owner is not None:
            owner.interfaces.append(intf)
    for dev in devices:
        if dev.parent_portnum:
            parent = by_name.get(dev.name.rsplit(".", 1)[0])
            if parent is not None and parent.portnum == dev.parent_portnum:
                parent.children.append(dev)
    out: list[str] = []
    for dev_class, root in sorted(buses, key=lambda b: b[1].busnum):
        klass = "root_hub" if dev_class == 9 else \
            f"'bDeviceClass 0x{dev_class:02x} not yet handled'"
        out.append(f"/:  Bus {root.busnum:03d}.Port 001: Dev {root.devnum:03d}, "
                   f"Class={klass}, Driver={root.driver}/{root.maxchild}p, "
                   f"{root.speed}M{root.lanes}\n")
        if verbose >= 1:
            out.append(f"    ID {root.vendor:04x}:{root.product:04x} "
                       f"{names.vendor(root.vendor) or ''} "
                       f"{names.product(root.vendor, root.product) or ''}\n")
        if verbose >= 2:
            out.append(f"    {SYS_BUS_USB_DEVICES}/{root.name}  /dev/bus/usb/"
                       f"{root.busnum:03d}/{root.devnum:03d}\n")
        top = [d for d in devices if d.busnum == root.busnum and not d.parent_portnum]
        _t_children(out, names, top, 0, verbose)
    return "".join(out)


# -- lsusb -v ------------------------------------------------------------------------------------

_DT_DEVICE: Final = 0x01
_DT_CONFIG: Final = 0x02
_DT_INTERFACE: Final = 0x04
_DT_ENDPOINT: Final = 0x05
_DT_OTG: Final = 0x09
_DT_IAD: Final = 0x0B
_DT_SECURITY: Final = 0x0C
_DT_ENCRYPTION_TYPE: Final = 0x0E
_DT_HID: Final = 0x21
_DT_CS_DEVICE: Final = 0x21
_DT_CS_INTERFACE: Final = 0x24
_DT_CS_ENDPOINT: Final = 0x25
_DT_SS_ENDPOINT_COMP: Final = 0x30

_HID_DESCRIPTOR_TYPES: Final = {0x21: "HID", 0x22: "Report", 0x23: "Physical"}
_HID_COUNTRY_CODES: Final = (
    "Not supported", "Arabic", "Belgian", "Canadian-Bilingual", "Canadian-French",
    "Czech Republic", "Danish", "Finnish", "French", "German", "Greek", "Hebrew", "Hungary",
    "International (ISO)", "Italian", "Japan (Katakana)", "Korean", "Latin American",
    "Netherlands/Dutch", "Norwegian", "Persian (Farsi)", "Poland", "Portuguese", "Russia",
    "Slovakia", "Spanish", "Swedish", "Swiss/French", "Swiss/German", "Switzerland",
    "Taiwan", "Turkish-Q", "UK", "US", "Yugoslavia", "Turkish-F",
)
"""HID 1.11 §6.2.1 bCountryCode names, as usbutils' table has them."""
_ENCRYPTION_TYPES: Final = ("UNSECURE", "WIRED", "CCM_1", "RSA_1", "RESERVED")
_TRANSFER_TYPES: Final = ("Control", "Isochronous", "Bulk", "Interrupt")
_SYNC_TYPES: Final = ("None", "Asynchronous", "Adaptive", "Synchronous")
_USAGE_TYPES: Final = ("Data", "Feedback", "Implicit feedback Data", "(reserved)")


@dataclass
class _Endpoint:
    raw: bytes
    extra: bytes


@dataclass
class _Altsetting:
    raw: bytes
    extra: bytes
    endpoints: list[_Endpoint]


@dataclass
class _Config:
    raw: bytes
    extra: bytes
    interfaces: list[list[_Altsetting]]


def _descriptors(data: bytes) -> Iterator[bytes]:
    """The descriptors of a buffer, each cut to its bLength (a bLength below 2 ends it)."""
    pos = 0
    while pos + 2 <= len(data):
        length = data[pos]
        if length < 2:
            return
        yield data[pos:pos + length]
        pos += length


def _parse_configs(raw: bytes) -> list[_Config]:
    """libusb's parse_configuration() over the configurations of a `descriptors` file:
    class-specific descriptors become the `extra` of the config, altsetting or endpoint
    they follow."""
    configs: list[_Config] = []
    pos = 18
    while pos + 9 <= len(raw):
        total = raw[pos + 2] | raw[pos + 3] << 8
        body = raw[pos:pos + max(total, 9)]
        pos += max(total, 9)
        head = body[:body[0]] if body[0] >= 9 else body[:9]
        config = _Config(head, b"", [])
        current_alt: _Altsetting | None = None
        current_ep: _Endpoint | None = None
        for desc in _descriptors(body[len(head):]):
            if desc[1] == _DT_INTERFACE and len(desc) >= 9:
                current_alt, current_ep = _Altsetting(desc, b"", []), None
                group = config.interfaces[-1] if config.interfaces else None
                if group is not None and group[0].raw[2] == desc[2]:
                    group.append(current_alt)
                else:
                    config.interfaces.append([current_alt])
            elif desc[1] == _DT_ENDPOINT and current_alt is not None and len(desc) >= 7:
                current_ep = _Endpoint(desc, b"")
                current_alt.endpoints.append(current_ep)
            elif current_ep is not None:
                current_ep.extra += desc
            elif current_alt is not None:
                current_alt.extra += desc
            else:
                config.extra += desc
        configs.append(config)
    return configs


def _hex_bytes(data: bytes) -> str:
    """dump_bytes()."""
    return "".join(f" {b:02x}" for b in data) + "\n"


def _pad(data: bytes, size: int) -> bytes:
    return data + bytes(max(0, size - len(data)))


NEGOTIATED_SPEEDS: Final = {
    "1.5": "Low Speed (1Mbps)", "12": "Full Speed (12Mbps)", "480": "High Speed (480Mbps)",
    "5000": "SuperSpeed (5Gbps)", "10000": "SuperSpeed+ (10Gbps)",
    "20000": "SuperSpeed++ (20Gbps)",
}
"""dump_device()'s "Negotiated speed:" per sysfs `speed` value (libusb_get_device_speed()
reads that attribute on Linux); any other value is "Unknown"."""


class _VerboseDump:
    """lsusb -v's dump functions, writing into a list of strings."""

    def __init__(self, names: UsbIds) -> None:
        self.names = names
        self.out: list[str] = []

    def emit(self, text: str) -> None:
        self.out.append(text)

    def classes(self, cls: int, sub: int, proto: int) -> tuple[str, str, str]:
        names = self.names
        return (names.class_name(cls), names.subclass_name(cls, sub),
                names.protocol_name(cls, sub, proto))

    def device(self, raw: bytes, vendor: str, product: str, strings: Sequence[str],
               speed: str) -> None:
        """dump_device(): the three strings are the sysfs manufacturer/product/serial,
        `speed` the sysfs speed attribute."""
        d = raw
        cls, sub, proto = self.classes(d[4], d[5], d[6])
        self.emit(f"Negotiated speed: {NEGOTIATED_SPEEDS.get(speed, 'Unknown')}\n")
        self.emit("Device Descriptor:\n"
                  f"  bLength             {d[0]:5d}\n"
                  f"  bDescriptorType     {d[1]:5d}\n"
                  f"  bcdUSB              {d[3]:2x}.{d[2]:02x}\n"
                  f"  bDeviceClass        {d[4]:5d} {cls}\n"
                  f"  bDeviceSubClass     {d[5]:5d} {sub}\n"
                  f"  bDeviceProtocol     {d[6]:5d} {proto}\n"
                  f"  bMaxPacketSize0     {d[7]:5d}\n"
                  f"  idVendor           0x{d[8] | d[9] << 8:04x} {vendor}\n"
                  f"  idProduct          0x{d[10] | d[11] << 8:04x} {product}\n"
                  f"  bcdDevice           {d[13]:2x}.{d[12]:02x}\n"
                  f"  iManufacturer       {d[14]:5d} {strings[0]}\n"
                  f"  iProduct            {d[15]:5d} {strings[1]}\n"
                  f"  iSerial             {d[16]:5d} {strings[2]}\n"
                  f"  bNumConfigurations  {d[17]:5d}\n")

    def config(self, config: _Config, bcd_usb: int) -> None:
        """dump_config()."""
        c = _pad(config.raw, 9)
        self.emit("  Configuration Descriptor:\n"
                  f"    bLength             {c[0]:5d}\n"
                  f"    bDescriptorType     {c[1]:5d}\n"
                  f"    wTotalLength       0x{c[2] | c[3] << 8:04x}\n"
                  f"    bNumInterfaces      {c[4]:5d}\n"
                  f"    bConfigurationValue {c[5]:5d}\n"
                  f"    iConfiguration      {c[6]:5d} \n"
                  f"    bmAttributes         0x{c[7]:02x}\n")
        if not c[7] & 0x80:
            self.emit("      (Missing must-be-set bit!)\n")
        self.emit("      Self Powered\n" if c[7] & 0x40 else "      (Bus Powered)\n")
        if c[7] & 0x20:
            self.emit("      Remote Wakeup\n")
        if c[7] & 0x10:
            self.emit("      Battery Powered\n")
        self.emit(f"    MaxPower            {c[8] * (8 if bcd_usb >= 0x0300 else 2):5d}mA\n")
        for desc in _descriptors(config.extra):
            kind = desc[1]
            if kind == _DT_OTG:
                continue
            if kind == _DT_IAD:
                self.association(desc)
            elif kind == _DT_SECURITY:
                d = _pad(desc, 5)
                self.emit("    Security Descriptor:\n"
                          f"      bLength             {d[0]:5d}\n"
                          f"      bDescriptorType     {d[1]:5d}\n"
                          f"      wTotalLength       0x{d[3] << 8 | d[2]:04x}\n"
                          f"      bNumEncryptionTypes {d[4]:5d}\n")
            elif kind == _DT_ENCRYPTION_TYPE:
                d = _pad(desc, 5)
                self.emit("    Encryption Type Descriptor:\n"
                          f"      bLength             {d[0]:5d}\n"
                          f"      bDescriptorType     {d[1]:5d}\n"
                          f"      bEncryptionType     {d[2]:5d} "
                          f"{_ENCRYPTION_TYPES[d[2] & 4]}\n"
                          f"      bEncryptionValue    {d[3]:5d}\n"
                          f"      bAuthKeyIndex       {d[4]:5d}\n")
            else:
                self.emit("    ** UNRECOGNIZED: " + _hex_bytes(desc))
        for group in config.interfaces:
            for alt in group:
                self.altsetting(alt)

    def association(self, desc: bytes) -> None:
        """dump_association()."""
        d = _pad(desc, 8)
        cls, sub, proto = self.classes(d[4], d[5], d[6])
        self.emit("    Interface Association:\n"
                  f"      bLength             {d[0]:5d}\n"
                  f"      bDescriptorType     {d[1]:5d}\n"
                  f"      bFirstInterface     {d[2]:5d}\n"
                  f"      bInterfaceCount     {d[3]:5d}\n"
                  f"      bFunctionClass      {d[4]:5d} {cls}\n"
                  f"      bFunctionSubClass   {d[5]:5d} {sub}\n"
                  f"      bFunctionProtocol   {d[6]:5d} {proto}\n"
                  f"      iFunction           {d[7]:5d} \n")

    def altsetting(self, alt: _Altsetting) -> None:
        """dump_altsetting()."""
        i = alt.raw
        cls, sub, proto = self.classes(i[5], i[6], i[7])
        self.emit("    Interface Descriptor:\n"
                  f"      bLength             {i[0]:5d}\n"
                  f"      bDescriptorType     {i[1]:5d}\n"
                  f"      bInterfaceNumber    {i[2]:5d}\n"
                  f"      bAlternateSetting   {i[3]:5d}\n"
                  f"      bNumEndpoints       {i[4]:5d}\n"
                  f"      bInterfaceClass     {i[5]:5d} {cls}\n"
                  f"      bInterfaceSubClass  {i[6]:5d} {sub}\n"
                  f"      bInterfaceProtocol  {i[7]:5d} {proto}\n"
                  f"      iInterface          {i[8]:5d} \n")
        klass = i[5]
        for desc in _descriptors(alt.extra):
            kind = desc[1]
            if klass == 0x03:
                self.hid(desc)
            elif kind in (_DT_CS_DEVICE, _DT_CS_INTERFACE) and klass == 0x02:
                self.comm(desc, "      ")
            elif kind == _DT_OTG and klass not in (0x01, 0x03, 0x0B, 0xE0):
                continue
            elif kind == _DT_IAD and klass not in (0x01, 0x03, 0x0B, 0xE0):
                self.association(desc)
            else:
                self.emit("      ** UNRECOGNIZED: " + _hex_bytes(desc))
        for ep in alt.endpoints:
            self.endpoint(alt, ep)

    def hid(self, desc: bytes) -> None:
        """dump_hid_device() without a device handle."""
        d = _pad(desc, 6)
        if d[1] != _DT_HID:
            self.emit("      Warning: Invalid descriptor\n")
        elif d[0] < 6 + 3 * d[5]:
            self.emit("      Warning: Descriptor too short\n")
        country = (_HID_COUNTRY_CODES[d[4]] if d[4] < len(_HID_COUNTRY_CODES)
                   else "Unknown")
        self.emit("        HID Device Descriptor:\n"
                  f"          bLength             {d[0]:5d}\n"
                  f"          bDescriptorType     {d[1]:5d}\n"
                  f"          bcdHID              {d[3]:2x}.{d[2]:02x}\n"
                  f"          bCountryCode        {d[4]:5d} {country}\n"
                  f"          bNumDescriptors     {d[5]:5d}\n")
        full = _pad(desc, 6 + 3 * d[5])
        for n in range(d[5]):
            kind = full[6 + 3 * n]
            self.emit(f"          bDescriptorType     {kind:5d} "
                      f"{_HID_DESCRIPTOR_TYPES.get(kind, '(null)')}\n"
                      f"          wDescriptorLength   "
                      f"{full[7 + 3 * n] | full[8 + 3 * n] << 8:5d}\n")
        self.junk(desc, "        ", 6 + 3 * d[5])
        self.emit("         Report Descriptors: \n"
                  "           ** UNAVAILABLE **\n")

    def junk(self, desc: bytes, indent: str, length: int) -> None:
        """dump_junk(): bytes of a descriptor beyond what its dump used."""
        if desc[0] <= length:
            return
        self.emit(f"{indent}junk at descriptor end:" + _hex_bytes(desc[length:desc[0]]))

    def comm(self, desc: bytes, indent: str) -> None:
        """dump_comm_descriptor() for the functional descriptors of CDC ACM."""
        d = _pad(desc, 5)
        subtype = d[2]
        if subtype == 0x00:
            if d[0] != 5:
                self.emit(f"{indent}INVALID CDC (Header): " + _hex_bytes(desc))
                return
            self.emit(f"{indent}CDC Header:\n{indent}  bcdCDC               {d[4]:x}.{d[3]:02x}\n")
        elif subtype == 0x01:
            if d[0] != 5:
                self.emit(f"{indent}INVALID CDC (Call Management): " + _hex_bytes(desc))
                return
            self.emit(f"{indent}CDC Call Management:\n"
                      f"{indent}  bmCapabilities       0x{d[3]:02x}\n")
            if d[3] & 0x01:
                self.emit(f"{indent}    call management\n")
            if d[3] & 0x02:
                self.emit(f"{indent}    use DataInterface\n")
            self.emit(f"{indent}  bDataInterface          {d[4]}\n")
        elif subtype == 0x02:
            if d[0] != 4:
                self.emit(f"{indent}INVALID CDC (ACM): " + _hex_bytes(desc))
                return
            self.emit(f"{indent}CDC ACM:\n{indent}  bmCapabilities       0x{d[3]:02x}\n")
            for bit, text in ((0x08, "connection notifications"), (0x04, "sends break"),
                              (0x02, "line coding and serial state"),
                              (0x01, "get/set/clear comm features")):
                if d[3] & bit:
                    self.emit(f"{indent}    {text}\n")
        elif subtype == 0x06:
            if d[0] < 5:
                self.emit(f"{indent}INVALID CDC (Union): " + _hex_bytes(desc))
                return
            slaves = "".join(f"{b} " for b in desc[4:d[0]])
            self.emit(f"{indent}CDC Union:\n"
                      f"{indent}  bMasterInterface        {d[3]}\n"
                      f"{indent}  bSlaveInterface         {slaves}\n")
        else:
            self.emit(f"{indent}UNRECOGNIZED CDC: " + _hex_bytes(desc))

    def endpoint(self, alt: _Altsetting, ep: _Endpoint) -> None:
        """dump_endpoint()."""
        e = _pad(ep.raw, 7)
        wmax = e[4] | e[5] << 8
        self.emit("      Endpoint Descriptor:\n"
                  f"        bLength             {e[0]:5d}\n"
                  f"        bDescriptorType     {e[1]:5d}\n"
                  f"        bEndpointAddress     0x{e[2]:02x}  EP {e[2] & 0x0F} "
                  f"{'IN' if e[2] & 0x80 else 'OUT'}\n"
                  f"        bmAttributes        {e[3]:5d}\n"
                  f"          Transfer Type            {_TRANSFER_TYPES[e[3] & 3]}\n"
                  f"          Synch Type               {_SYNC_TYPES[(e[3] >> 2) & 3]}\n"
                  f"          Usage Type               {_USAGE_TYPES[(e[3] >> 4) & 3]}\n"
                  f"        wMaxPacketSize     0x{wmax:04x}  "
                  f"{('1x', '2x', '3x', '(??)')[(wmax >> 11) & 3]} {wmax & 0x7FF} bytes\n"
                  f"        bInterval           {e[6]:5d}\n")
        if e[0] == 9:
            full = _pad(ep.raw, 9)
            self.emit(f"        bRefresh            {full[7]:5d}\n"
                      f"        bSynchAddress       {full[8]:5d}\n")
        klass = alt.raw[5]
        for desc in _descriptors(ep.extra):
            kind = desc[1]
            if kind == _DT_CS_ENDPOINT:
                continue
            if kind == _DT_CS_INTERFACE:
                if klass in (0x02, 0x0A):
                    self.comm(desc, "      ")
                elif klass == 0x08:
                    self.pipe(desc)
                else:
                    self.emit("        INTERFACE CLASS: " + _hex_bytes(desc))
            elif kind == _DT_CS_DEVICE:
                self.emit("        DEVICE CLASS: " + _hex_bytes(desc))
            elif kind == _DT_OTG:
                continue
            elif kind == _DT_IAD:
                self.association(desc)
            elif kind == _DT_SS_ENDPOINT_COMP:
                d = _pad(desc, 4)
                self.emit(f"        bMaxBurst {d[2]:15d}\n")
                if e[3] & 3 == 2 and d[3] & 0x1F:
                    self.emit(f"        MaxStreams {1 << (d[3] & 0x1F):14d}\n")
                if e[3] & 3 == 1 and d[3] & 0x3:
                    self.emit(f"        Mult {d[3] & 0x3:20d}\n")
            else:
                self.emit("        ** UNRECOGNIZED: " + _hex_bytes(desc))

    def pipe(self, desc: bytes) -> None:
        """dump_pipe_desc() (UAS pipe usage descriptors)."""
        if desc[0] == 4 and desc[1] == 0x24:
            names = {1: "Command pipe", 2: "Status pipe", 3: "Data-in pipe",
                     4: "Data-out pipe"}
            usage = desc[2]
            name = names.get(usage) or ("Vendor specific" if 0xE0 <= usage <= 0xEF
                                        else "Reserved")
            self.emit(f"        {name} (0x{usage:02x})\n")
        else:
            self.emit("        INTERFACE CLASS: " + _hex_bytes(desc))


def lsusb_v(system: _Machine, *, usb_ids: str | Path | UsbIds | None = None,
            only: DeviceFilter = EVERY_DEVICE) -> str:
    """`lsusb -v` as an unprivileged user sees it (see the module docstring): for each
    device that `only` matches a blank line, its `lsusb` line, "Negotiated speed:", then
    its descriptors (empty when no device matches)."""
    vfs = system.vfs
    names = _names(usb_ids)
    dump = _VerboseDump(names)
    for dev in _devices(vfs):
        if not _wanted(only, dev):
            continue
        dump.emit("\n")
        dump.emit(_bus_line(vfs, names, dev))
        vendor, product = _vendor_product(vfs, names, dev)
        base = f"{SYS_BUS_USB_DEVICES}/{dev.name}"
        strings = [_read(vfs, f"{base}/{attr}") or ""
                   for attr in ("manufacturer", "product", "serial")]
        dump.device(dev.raw[:18], vendor, product, strings,
                    _read(vfs, f"{base}/speed") or "")
        bcd_usb = dev.raw[2] | dev.raw[3] << 8
        for config in _parse_configs(dev.raw)[:dev.raw[17]]:
            dump.config(config, bcd_usb)
    return "".join(dump.out)
