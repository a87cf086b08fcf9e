"""Reading a device the way a Linux host does — counterpart of the reads of
drivers/usb/core/hub.c (`usb_get_device_descriptor`, `usb_get_bos_descriptor`,
`get_hub_descriptor`), config.c (`usb_get_configuration`), message.c (`usb_get_langid`,
`usb_string`) and drivers/hid/usbhid/hid-core.c (`usbhid_parse`), plus what lsusb -v
reads that Linux does not (the device qualifier, the other-speed configurations, the
strings of every language).

`read_device` asks a device for everything a clone carries through one control-transfer
callable, so the same code reads a real device (through pyusb: `usbemu.bridges.
pyusb_clone`) and an emulated one (`model_control`).  It sends what a host sends, in the
order a host sends it: the device descriptor, each configuration (9 bytes, then
wTotalLength), the qualifier and other-speed configurations of a USB 2.0 device, the BOS
of one with bcdUSB 0x0201 or later, string descriptor 0 and every string index the
descriptors name in every language, and — with the device configured, as it is when a
class driver binds — the HID report descriptor of each HID interface (wDescriptorLength
from its HID descriptor) and a hub's hub descriptor.  A device that is not configured is
configured with its first configuration for those reads, and unconfigured after.  Replies
are kept as sent; one of the wrong descriptor type counts as no reply, as
`usb_get_descriptor` treats it.  Nothing here opens a device or does I/O of its own.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Final, TypeAlias

from ...errors import Errno, UsbStall, usb_error
from ...spec.cdc import CdcSubtype
from ...spec.ch9 import (
    ClassCode,
    DescriptorSize,
    DescriptorType,
    DeviceState,
    Request,
    SetupPacket,
    Speed,
)
from ...spec.config import parse_bos, parse_configuration
from ...spec.descriptors import ConfigDescriptor, DescriptorError, decode_string
from ...spec.hid import HidDescriptorType
from ...spec.hub import HubRequest, HubRequestType
from ..device import DeviceModel
from ..endpoint import Outcome
from .data import CloneData, CloneError
from .hid import hid_descriptor_of, report_descriptor_length

__all__ = ["ControlTransfer", "clone_data_of_model", "model_control", "on_bench",
           "read_class_descriptors", "read_device", "string_indexes"]

ControlTransfer: TypeAlias = Callable[[int, int, int, int, int], bytes]
"""`control(bmRequestType, bRequest, wValue, wIndex, wLength)`: one control transfer with
no OUT data; returns the IN data (b"" for an OUT request).  Raises `UsbStall` when the
device STALLs; any other exception when the transfer fails otherwise."""

_STD_IN_DEVICE: Final = 0x80
_STD_IN_INTERFACE: Final = 0x81
_STD_OUT_DEVICE: Final = 0x00
_STRING_READ: Final = 255  # usb_string_sub asks for 255 bytes
_HUB_READ: Final = 255
_BENCH_ADDRESS: Final = 1
_CDC_ETHERNET_IMAC: Final = 3  # iMACAddress in the Ethernet networking functional descriptor
_CS_INTERFACE: Final = DescriptorType.CS_INTERFACE
# Offsets in the device descriptor and the qualifier.
_B_DEVICE_CLASS: Final = 4
_I_MANUFACTURER: Final = 14
_I_SERIAL_NUMBER: Final = 16
_B_NUM_CONFIGURATIONS: Final = 17
_Q_NUM_CONFIGURATIONS: Final = 8

#: Outcomes of a model's control transfer that are not a reply, as Linux's URB statuses.
_FAILURES: Final[Mapping[Outcome, int]] = {
    Outcome.STALL: -Errno.EPIPE, Outcome.NAK: -Errno.ETIMEDOUT,
    Outcome.BABBLE: -Errno.EOVERFLOW, Outcome.NO_RESPONSE: -Errno.EPROTO,
    Outcome.CRC: -Errno.EPROTO, Outcome.BITSTUFF: -Errno.EPROTO,
}


# -- single reads -------------------------------------------------------------------------------


def _descriptor(control: ControlTransfer, dtype: int, index: int, length: int,
                langid: int = 0) -> bytes | None:
    """GET_DESCRIPTOR(dtype, index): the reply, or None for a STALL or a reply of another
    type (usb_get_descriptor's -ENODATA)."""
    try:
        reply = bytes(control(_STD_IN_DEVICE, Request.GET_DESCRIPTOR,
                              (dtype << 8) | index, langid, length))
    except UsbStall:
        return None
    if len(reply) >= 2 and reply[1] != dtype:
        return None
    return reply


def _device(control: ControlTransfer) -> bytes:
    raw = _descriptor(control, DescriptorType.DEVICE, 0, DescriptorSize.DEVICE)
    if raw is None or len(raw) < DescriptorSize.DEVICE:
        got = "no device descriptor" if raw is None else f"{len(raw)} bytes"
        raise CloneError(f"device descriptor: {got}; a device sends 18 bytes")
    return raw


def _configuration(control: ControlTransfer, dtype: int, index: int) -> bytes | None:
    """A configuration as usb_get_configuration reads it: 9 bytes, then
    max(wTotalLength, 9)."""
    head = _descriptor(control, dtype, index, DescriptorSize.CONFIG)
    if head is None or len(head) < 4:
        return None
    total = max(struct.unpack_from("<H", head, 2)[0], DescriptorSize.CONFIG)
    return _descriptor(control, dtype, index, total)


def _configurations(control: ControlTransfer, count: int) -> tuple[bytes, ...]:
    configs = []
    for index in range(count):
        raw = _configuration(control, DescriptorType.CONFIG, index)
        if raw is None or len(raw) < DescriptorSize.CONFIG:
            got = "none" if raw is None else f"{len(raw)} bytes"
            raise CloneError(f"configuration {index}: the device sent no configuration "
                             f"descriptor of 9 bytes or more ({got})")
        total = max(struct.unpack_from("<H", raw, 2)[0], DescriptorSize.CONFIG)
        if len(raw) < total and index < count - 1:
            raise CloneError(f"configuration {index}: the device sent {len(raw)} of its "
                             f"wTotalLength {total} bytes; a descriptors dump holds a short "
                             "configuration only last")
        configs.append(raw)
    return tuple(configs)


def _qualifier(control: ControlTransfer) -> bytes | None:
    """The device qualifier, when the device sends all of it (hub.c's check_highspeed
    uses it only then)."""
    raw = _descriptor(control, DescriptorType.DEVICE_QUALIFIER, 0,
                      DescriptorSize.DEVICE_QUALIFIER)
    return raw if raw is not None and len(raw) >= DescriptorSize.DEVICE_QUALIFIER else None


def _other_speed(control: ControlTransfer, qualifier: bytes | None,
                 speed: Speed) -> tuple[bytes, ...]:
    """The other-speed configurations the qualifier counts, up to the first one that is
    missing or that Linux would not parse as a configuration."""
    count = qualifier[_Q_NUM_CONFIGURATIONS] if qualifier is not None else 0
    found = []
    for index in range(count):
        raw = _configuration(control, DescriptorType.OTHER_SPEED_CONFIG, index)
        if raw is None or _config_tree(raw, index, speed) is None:
            break
        found.append(raw)
    return tuple(found)


def _bos(control: ControlTransfer) -> bytes | None:
    """The BOS descriptor as usb_get_bos_descriptor reads it (5 bytes, then wTotalLength);
    None when Linux would reject it."""
    head = _descriptor(control, DescriptorType.BOS, 0, DescriptorSize.BOS)
    if head is None or len(head) < 4:
        return None
    raw = _descriptor(control, DescriptorType.BOS, 0, struct.unpack_from("<H", head, 2)[0])
    if raw is None:
        return None
    try:
        parse_bos(raw)
    except DescriptorError:
        return None
    return raw


def _languages(control: ControlTransfer) -> tuple[int, ...]:
    raw = _descriptor(control, DescriptorType.STRING, 0, _STRING_READ)
    if raw is None or len(raw) < 2:
        return ()
    body = raw[2:min(raw[0], len(raw))]
    return struct.unpack(f"<{len(body) // 2}H", body[:len(body) // 2 * 2])


def _strings(control: ControlTransfer, langid: int, indexes: Sequence[int]) -> dict[int, str]:
    table = {}
    for index in indexes:
        raw = _descriptor(control, DescriptorType.STRING, index, _STRING_READ, langid)
        if raw is None:
            continue
        try:
            table[index] = decode_string(raw)
        except DescriptorError:
            continue
    return table


# -- what the descriptors name ------------------------------------------------------------------


def _config_tree(raw: bytes, index: int, speed: Speed) -> ConfigDescriptor | None:
    """A configuration or other-speed configuration parsed as Linux would (None when
    Linux would give up on it)."""
    as_config = raw[:1] + bytes((DescriptorType.CONFIG,)) + raw[2:]
    try:
        return parse_configuration(as_config, index, speed).config
    except DescriptorError:
        return None


def _class_string_indexes(extra: bytes) -> Iterator[int]:
    """String indexes class-specific descriptors name that a class driver reads: the CDC
    Ethernet networking functional descriptor's iMACAddress (cdc_ether)."""
    pos = 0
    while len(extra) - pos >= 3 and extra[pos] >= 2:
        length = extra[pos]
        if (extra[pos + 1] == _CS_INTERFACE and extra[pos + 2] == CdcSubtype.ETHERNET
                and length > _CDC_ETHERNET_IMAC and pos + length <= len(extra)):
            yield extra[pos + _CDC_ETHERNET_IMAC]
        pos += length


def string_indexes(device: bytes, configs: Sequence[ConfigDescriptor]) -> list[int]:
    """Every string index the descriptors name, in ascending order: the device's
    iManufacturer, iProduct and iSerialNumber, each configuration's iConfiguration, each
    altsetting's iInterface, each IAD's iFunction, and the class-specific ones a class
    driver reads.  Context: pure function."""
    found = set(device[_I_MANUFACTURER:_I_SERIAL_NUMBER + 1])
    for config in configs:
        found.add(_as_index(config.iConfiguration))
        for alt in config.interfaces:
            found.add(_as_index(alt.iInterface))
            if alt.association is not None:
                found.add(_as_index(alt.association.iFunction))
            found.update(_class_string_indexes(alt.extra))
    found.discard(0)
    return sorted(found)


def _as_index(ref: int | str) -> int:
    return ref if isinstance(ref, int) else 0


# -- with the device configured -------------------------------------------------------------


@contextmanager
def _configured(control: ControlTransfer,
                configs: Sequence[ConfigDescriptor]) -> Iterator[ConfigDescriptor | None]:
    """The active configuration's tree; a device that is not configured is configured
    with its first configuration, and unconfigured again afterwards."""
    try:
        reply = control(_STD_IN_DEVICE, Request.GET_CONFIGURATION, 0, 0, 1)
        active = reply[0] if reply else 0
    except UsbStall:
        active = 0
    configured_here = active == 0 and bool(configs)
    if configured_here:
        active = configs[0].bConfigurationValue or 0
        control(_STD_OUT_DEVICE, Request.SET_CONFIGURATION, active, 0, 0)
    try:
        yield next((c for c in configs if c.bConfigurationValue == active), None)
    finally:
        if configured_here:
            control(_STD_OUT_DEVICE, Request.SET_CONFIGURATION, 0, 0, 0)


def _report_descriptors(control: ControlTransfer,
                        config: ConfigDescriptor | None) -> dict[int, bytes]:
    reports: dict[int, bytes] = {}
    for number, alt in (config.numbered_interfaces() if config else ()):
        hid = hid_descriptor_of(alt)
        if number in reports or alt.bAlternateSetting or hid is None:
            continue
        length = report_descriptor_length(hid)
        if not length:
            continue
        try:
            reports[number] = bytes(control(_STD_IN_INTERFACE, Request.GET_DESCRIPTOR,
                                            HidDescriptorType.REPORT << 8, number, length))
        except UsbStall:
            continue
    return reports


def _hub_descriptor(control: ControlTransfer, speed: Speed) -> bytes | None:
    dtype = DescriptorType.SS_HUB if speed.is_superspeed else DescriptorType.HUB
    try:
        reply = bytes(control(HubRequestType.HUB_IN, HubRequest.GET_DESCRIPTOR, dtype << 8,
                              0, _HUB_READ))
    except UsbStall:
        return None
    return reply if len(reply) >= 2 and reply[1] == dtype else None


def read_class_descriptors(control: ControlTransfer, configs: Sequence[ConfigDescriptor],
                           speed: Speed, hub: bool) -> tuple[dict[int, bytes], bytes | None]:
    """What class drivers read, with the device configured: the report descriptor of each
    HID interface (interface number → bytes) and, for a `hub`, its hub descriptor.
    Context: as `control`.  Raises what `control` raises, STALLs aside."""
    with _configured(control, configs) as active:
        reports = _report_descriptors(control, active)
        return reports, (_hub_descriptor(control, speed) if hub else None)


def read_device(control: ControlTransfer, speed: Speed) -> CloneData:
    """Everything a clone carries, read from the device behind `control` (running at
    `speed`).  Context: as `control` (blocking for a real device).  Raises CloneError when
    the device sends no usable device descriptor or configuration, and what `control`
    raises for a failure other than a STALL."""
    device = _device(control)
    configs = _configurations(control, device[_B_NUM_CONFIGURATIONS])
    bcd_usb = struct.unpack_from("<H", device, 2)[0]
    qualifier = _qualifier(control) if bcd_usb >= 0x0200 else None
    other_speed = _other_speed(control, qualifier, speed)
    bos = _bos(control) if bcd_usb >= 0x0201 else None
    languages = _languages(control)
    trees = [t for i, raw in enumerate(configs) if (t := _config_tree(raw, i, speed))]
    others = [t for i, raw in enumerate(other_speed) if (t := _config_tree(raw, i, speed))]
    indexes = string_indexes(device, trees + others)
    strings = {langid: _strings(control, langid, indexes) for langid in dict.fromkeys(languages)}
    reports, hub = read_class_descriptors(control, trees, speed,
                                          device[_B_DEVICE_CLASS] == ClassCode.HUB)
    return CloneData(device + b"".join(configs), speed, languages, strings, qualifier,
                     other_speed, bos, reports, hub)


# -- an emulated device on the bench --------------------------------------------------------


def model_control(model: DeviceModel) -> ControlTransfer:
    """A `ControlTransfer` that runs each request on `model` (`DeviceModel.control`), the
    way a host controller would: a STALL raises UsbStall, a NAK UsbTimeout, no answer
    UsbError(-EPROTO).  The model must be reset (DEFAULT state or later) for it to answer."""
    def control(bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                wLength: int) -> bytes:
        buf = bytearray(wLength)
        setup = SetupPacket(bmRequestType, bRequest, wValue, wIndex, wLength)
        outcome, count = model.control(setup, b"", memoryview(buf))
        if outcome is not Outcome.DONE:
            raise usb_error(_FAILURES[outcome])
        return bytes(buf[:count])
    return control


@contextmanager
def on_bench(model: DeviceModel) -> Iterator[ControlTransfer]:
    """A model that is not plugged in, connected to nothing but a control pipe: powered,
    reset, given an address; it is unplugged again at the end.  Yields its
    `model_control`.  Raises ValueError for a model that is plugged in (a host owns it)."""
    if model.state is not DeviceState.NOTATTACHED:
        raise ValueError(f"{model!r} is plugged in: a model is read on a bench of its own, "
                         "so unplug it first")
    model.connect(None, None)
    try:
        model.bus_reset()
        control = model_control(model)
        control(_STD_OUT_DEVICE, Request.SET_ADDRESS, _BENCH_ADDRESS, 0, 0)
        yield control
    finally:
        model.disconnect()


def clone_data_of_model(model: DeviceModel) -> CloneData:
    """Everything a clone of `model` carries: its standard descriptors and every string in
    every language from its `DescriptorSet`, and what its class drivers would read (HID
    report descriptors, a hub's hub descriptor) asked from it on a bench (`on_bench`).
    Raises ValueError for a model that is plugged in."""
    sets = model.descriptors
    table = sets.strings
    with on_bench(model) as control:
        reports, hub = read_class_descriptors(control, sets.configurations, model.speed,
                                              sets.device.bDeviceClass == ClassCode.HUB)
    return CloneData(
        descriptors=sets.descriptors_file(), speed=model.speed, languages=table.langids,
        strings={langid: dict(table.texts.get(langid, {})) for langid in table.langids},
        qualifier=sets.qualifier_bytes, other_speed=sets.other_speed_bytes,
        bos=sets.bos_bytes, report_descriptors=reports, hub_descriptor=hub)
