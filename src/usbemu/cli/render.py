"""How the `usbemu` command shows descriptors: a tree of the fields, and the bytes.

Presentation only; it reads `DescriptorSet`s and changes nothing.
"""

from __future__ import annotations

from rich.tree import Tree

from ..spec.ch9 import ClassCode, DescriptorType, EndpointType
from ..spec.descriptors import (
    ConfigDescriptor,
    DescriptorSet,
    EndpointDescriptor,
    InterfaceDescriptor,
)

_DIRECTION = {True: "IN", False: "OUT"}


def _class_name(code: int) -> str:
    try:
        return ClassCode(code).name.lower().replace("_", " ")
    except ValueError:
        return "unknown"


def _string(dset: DescriptorSet, index: object) -> str:
    if not isinstance(index, int) or index == 0:
        return ""
    text = dset.strings.primary().get(index)
    return f' "{text}"' if text is not None else ""


def hexdump(data: bytes, width: int = 16) -> list[str]:
    """Rows of `xx xx …` hex, `width` bytes per row."""
    return [" ".join(f"{b:02x}" for b in data[i:i + width]) for i in range(0, len(data), width)]


def _endpoint(ep: EndpointDescriptor) -> str:
    kind = EndpointType(ep.type).name.lower()
    interval = f" bInterval {ep.bInterval}" if ep.type in (EndpointType.INT,
                                                          EndpointType.ISOC) else ""
    return (f"endpoint {ep.bEndpointAddress:#04x} {_DIRECTION[ep.is_in]} {kind} "
            f"wMaxPacketSize {ep.wMaxPacketSize}{interval}")


def _interface(dset: DescriptorSet, alt: InterfaceDescriptor) -> Tree:
    node = Tree(f"interface {alt.bInterfaceNumber} alt {alt.bAlternateSetting}: class "
                f"{alt.bInterfaceClass:02x} ({_class_name(alt.bInterfaceClass)}) sub "
                f"{alt.bInterfaceSubClass:02x} proto {alt.bInterfaceProtocol:02x}"
                f"{_string(dset, alt.iInterface)}")
    if alt.extra:
        node.add(f"class-specific: {' '.join(f'{b:02x}' for b in alt.extra)}")
    for ep in alt.endpoints:
        node.add(_endpoint(ep))
    return node


def _config(dset: DescriptorSet, cfg: ConfigDescriptor, raw: bytes) -> Tree:
    node = Tree(f"configuration {cfg.bConfigurationValue}: wTotalLength {cfg.wTotalLength}, "
                f"bmAttributes {cfg.bmAttributes:#04x}, MaxPower {cfg.max_power_ma()}mA"
                f"{_string(dset, cfg.iConfiguration)}")
    for alt in cfg.interfaces:
        node.add(_interface(dset, alt))
    node.add("bytes: " + "\n".join(hexdump(raw)))
    return node


def descriptor_tree(title: str, dset: DescriptorSet) -> Tree:
    """A rich tree of a device's descriptors, strings and raw bytes."""
    d = dset.device
    root = Tree(f"[bold]{title}[/bold]  {d.idVendor:04x}:{d.idProduct:04x}"
                f"{_string(dset, d.iProduct)}")
    root.add(f"device: bcdUSB {d.bcdUSB >> 8:x}.{d.bcdUSB & 0xFF:02x}, class "
             f"{d.bDeviceClass:02x} ({_class_name(d.bDeviceClass)}), bMaxPacketSize0 "
             f"{d.bMaxPacketSize0}, bcdDevice {d.bcdDevice >> 8:x}.{d.bcdDevice & 0xFF:02x}"
             f"{_string(dset, d.iManufacturer)}{_string(dset, d.iSerialNumber)}")
    root.add("bytes: " + " ".join(hexdump(dset.device_bytes, 18)))
    for cfg, raw in zip(dset.configurations, dset.config_bytes, strict=False):
        root.add(_config(dset, cfg, raw))
    for kind, data in ((DescriptorType.BOS, dset.bos_bytes),
                       (DescriptorType.DEVICE_QUALIFIER, dset.qualifier_bytes)):
        if data:
            root.add(f"{kind.name.lower()}: " + " ".join(hexdump(data, len(data))))
    strings = dset.strings.primary()
    if strings:
        table = root.add("strings (LANGIDs " + ", ".join(
            f"{x:04x}" for x in dset.strings.langids) + ")")
        for index, text in sorted(strings.items()):
            table.add(f"{index}: {text!r}")
    return root

