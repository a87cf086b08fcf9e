"""The device model of a clone — the device side of what drivers/usb/core/config.c,
hub.c and message.c read during enumeration, answered from a `CloneData`.

`ClonedDevice` answers every GET_DESCRIPTOR a host sends with the original's bytes —
device, configurations, qualifier, other-speed configurations, BOS, the LANGID table and
every string in every language — and, to the interface, the HID descriptor found in the
configuration and the HID report descriptor the clone carries for that interface.
`ClonedHub` is a working hub (`usbemu.emulated.models.hub.Hub`: ports, power, reset,
status change, suspend) with the cloned descriptors and hub descriptor.  `clone_model`
picks one of the two.  The bytes are checked once, when the model is made: a field that
cannot be what it claims raises CloneError naming it.  A clone has the descriptors and
chapter 9 behaviour of the original, not its function: its data endpoints queue what the
host writes and NAK reads until something is queued, and it STALLs class and vendor
requests other than the descriptor reads above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from ...spec.ch9 import (
    LANGID_EN_US,
    DescriptorSize,
    DescriptorType,
    EndpointType,
    Request,
    SetupPacket,
    Speed,
)
from ...spec.config import ParsedConfig, parse_bos, parse_configuration, parse_descriptors_file
from ...spec.descriptors import (
    BosDescriptor,
    ConfigDescriptor,
    DescriptorError,
    DescriptorSet,
    DeviceQualifier,
    StringTable,
)
from ...spec.hid import HidDescriptorType
from ...spec.hub import USB_DT_SS_HUB_SIZE, HubDescriptor, HubRequestType
from ..device import DeviceModel, request
from ..models.hub import MAX_PORTS, STATUS_ENDPOINT, Hub
from .data import CloneData, CloneError
from .hid import hid_descriptor_of

__all__ = ["ClonedDevice", "ClonedHub", "ParsedClone", "clone_model", "parse_clone"]

_STD_IN_INTERFACE: Final = 0x81
_DEFAULT_HUB_PORTS: Final = 4
#: The speed at which a device's other-speed configurations run.
_OTHER_SPEED: Final[Mapping[Speed, Speed]] = {Speed.HIGH: Speed.FULL, Speed.FULL: Speed.HIGH}


@dataclass(frozen=True)
class ParsedClone:
    """A clone's bytes checked and parsed: the `DescriptorSet` a model answers from (bytes
    as carried, tree as Linux parses them) and the parsed configurations with what Linux
    would log about them."""

    data: CloneData
    descriptors: DescriptorSet
    configs: tuple[ParsedConfig, ...]


def _other_speed_config(raw: bytes, index: int, speed: Speed, source: str) -> ConfigDescriptor:
    """An OTHER_SPEED_CONFIGURATION parsed as the configuration it describes."""
    where = f"{source}: other_speed[{index}]"
    if len(raw) < 2 or raw[1] != DescriptorType.OTHER_SPEED_CONFIG:
        found = f"{raw[1]:#04x}" if len(raw) >= 2 else "missing"
        raise CloneError(f"{where}: bDescriptorType {found}, expected 0x07 "
                         "(OTHER_SPEED_CONFIGURATION)")
    as_config = raw[:1] + bytes((DescriptorType.CONFIG,)) + raw[2:]
    try:
        return parse_configuration(as_config, index, _OTHER_SPEED.get(speed, speed)).config
    except DescriptorError as exc:
        raise CloneError(f"{where}: {exc}") from None


def _qualifier(raw: bytes | None, source: str) -> DeviceQualifier | None:
    if raw is None:
        return None
    try:
        qualifier = DeviceQualifier.from_bytes(raw)
    except DescriptorError as exc:
        raise CloneError(f"{source}: qualifier: {exc}") from None
    standard = qualifier.bLength == DescriptorSize.DEVICE_QUALIFIER
    return replace(qualifier, bLength=None) if standard else qualifier


def _bos(raw: bytes | None, source: str) -> BosDescriptor | None:
    if raw is None:
        return None
    try:
        return parse_bos(raw)[0]
    except DescriptorError as exc:
        raise CloneError(f"{source}: bos: {exc}") from None


def _check_report_descriptors(data: CloneData, configs: Sequence[ConfigDescriptor],
                              source: str) -> None:
    numbers = {num for config in configs for num, _ in config.numbered_interfaces()}
    for number, report in data.report_descriptors.items():
        if number not in numbers:
            have = ", ".join(str(n) for n in sorted(numbers)) or "none"
            raise CloneError(f"{source}: report_descriptors.{number}: no configuration has "
                             f"interface {number} (interfaces: {have})")
        if len(report) > 0xFFFF:
            raise CloneError(f"{source}: report_descriptors.{number}: {len(report)} bytes; "
                             "wDescriptorLength is 16 bits")


def _check_strings(data: CloneData, source: str) -> None:
    for langid, table in data.strings.items():
        if langid not in data.languages:
            raise CloneError(f"{source}: strings.0x{langid:04x}: LANGID 0x{langid:04x} is "
                             "not in languages")
        for index in table:
            if not 1 <= index <= 0xFF:
                raise CloneError(f"{source}: strings: index {index} is not 1..255")


def parse_clone(data: CloneData, source: str = "<clone>") -> ParsedClone:
    """Check and parse everything `data` carries.  Context: pure function.  Raises
    CloneError naming `source` and the field: a descriptors dump, qualifier, other-speed
    configuration or BOS that Linux would not accept as one, a string in a language the
    LANGID table lacks, a report descriptor for an interface no configuration has."""
    try:
        device, configs = parse_descriptors_file(data.descriptors, data.speed)
    except DescriptorError as exc:
        raise CloneError(f"{source}: {exc}") from None
    _check_strings(data, source)
    others = tuple(_other_speed_config(raw, i, data.speed, source)
                   for i, raw in enumerate(data.other_speed))
    _check_report_descriptors(data, device.configurations, source)
    primary = dict(data.primary_strings())
    tree = replace(device, strings=primary, languages=data.languages,
                   qualifier=_qualifier(data.qualifier, source), bos=_bos(data.bos, source),
                   other_speed_configurations=others)
    table = StringTable(data.languages,
                        {langid: dict(data.strings_in(langid)) for langid in data.languages})
    descriptors = DescriptorSet(
        device=tree, device_bytes=data.device_bytes,
        config_bytes=tuple(c.raw for c in configs), strings=table, bos_bytes=data.bos,
        qualifier_bytes=data.qualifier, other_speed_bytes=tuple(data.other_speed))
    return ParsedClone(data, descriptors, configs)


class ClonedDevice(DeviceModel):
    """A device model that answers with the bytes of a clone.

    `ClonedDevice(data)` takes a `CloneData`; `ClonedDevice(dump, strings, speed=...,
    languages=...)` is the short form for a sysfs `descriptors` dump and one string table
    (used for every language).  `clone` is what it carries, `notices` what Linux would log
    parsing its configurations.  Raises CloneError naming the field at fault (`source`
    names where the data came from), TypeError for strings, speed or languages given with
    a `CloneData`.
    """

    model_name = "clone"

    def __init__(self, dump: bytes | CloneData, strings: Mapping[int, str] | None = None, *,
                 speed: Speed | None = None, languages: Sequence[int] | None = None,
                 source: str = "<clone>") -> None:
        if isinstance(dump, CloneData):
            if strings is not None or speed is not None or languages is not None:
                raise TypeError("ClonedDevice(CloneData) takes no strings, speed or "
                                "languages: they are fields of the CloneData")
            data = dump
        else:
            langs = tuple(languages if languages is not None else (LANGID_EN_US,))
            texts = dict(strings or {})
            data = CloneData(bytes(dump), speed or Speed.HIGH, langs,
                             {langid: texts for langid in langs})
        parsed = parse_clone(data, source)
        self.clone = data
        self.parsed_configs: tuple[ParsedConfig, ...] = parsed.configs
        super().__init__(parsed.descriptors, speed=data.speed)

    @property
    def notices(self) -> list[str]:
        """What Linux would log while parsing these configurations."""
        return [n.message for c in self.parsed_configs for n in c.notices]

    @request(_STD_IN_INTERFACE, Request.GET_DESCRIPTOR)
    def _get_interface_descriptor(self, setup: SetupPacket, data: bytes) -> bytes | None:
        """GET_DESCRIPTOR to an interface of the active configuration: its HID descriptor
        (0x21) or the report descriptor the clone carries for it (0x22), index 0; anything
        else STALLs as an unhandled request."""
        reply = self._class_descriptor(setup)
        if reply is None:
            return self.standard_request(setup, data)
        return reply

    def _class_descriptor(self, setup: SetupPacket) -> bytes | None:
        dtype, index, number = setup.wValue >> 8, setup.wValue & 0xFF, setup.wIndex
        alt = self.find_altsetting(number, self.alt_settings.get(number, 0))
        if alt is None or index:
            return None
        if dtype == HidDescriptorType.HID:
            return hid_descriptor_of(alt)
        if dtype == HidDescriptorType.REPORT:
            return self.clone.report_descriptors.get(number)
        return None

    @request(HubRequestType.HUB_IN, Request.GET_DESCRIPTOR)
    def _get_hub_descriptor(self, setup: SetupPacket, data: bytes) -> bytes | None:
        """GetHubDescriptor of a hub cloned without its function (a SuperSpeed hub): the
        cloned hub descriptor, for wValue of its type or 0; anything else STALLs as an
        unhandled request."""
        raw = self.clone.hub_descriptor
        if raw is None or len(raw) < 2 or setup.wValue not in (raw[1] << 8, 0):
            return self.standard_request(setup, data)
        return raw


def _hub_ports(data: CloneData, source: str) -> int:
    """bNbrPorts of the cloned hub descriptor (checked as hub.c would read it), or the
    hub model's default port count for a hub cloned without one."""
    raw = data.hub_descriptor
    if raw is None:
        return _DEFAULT_HUB_PORTS
    try:
        ports = HubDescriptor.from_bytes(raw).bNbrPorts
    except DescriptorError as exc:
        raise CloneError(f"{source}: hub_descriptor: {exc}") from None
    if not 1 <= ports <= MAX_PORTS:
        raise CloneError(f"{source}: hub_descriptor: bNbrPorts {ports}; a cloned hub has "
                         f"1..{MAX_PORTS} ports")
    return ports


def _check_status_endpoint(config: ConfigDescriptor | None, source: str) -> None:
    endpoints = [ep for alt in (config.interfaces if config else ()) for ep in alt.endpoints]
    if not any(ep.bEndpointAddress == STATUS_ENDPOINT and ep.type is EndpointType.INT
               for ep in endpoints):
        raise CloneError(f"{source}: descriptors: a cloned hub needs its status-change "
                         f"endpoint, interrupt IN 0x{STATUS_ENDPOINT:02x}, in its first "
                         "configuration")


def _check_superspeed_hub_descriptor(raw: bytes | None, source: str) -> None:
    if raw is None:
        return
    if len(raw) < 2 or raw[1] != DescriptorType.SS_HUB:
        raise CloneError(f"{source}: hub_descriptor: not a SuperSpeed hub descriptor (type "
                         f"0x2a, {USB_DT_SS_HUB_SIZE} bytes)")
    if len(raw) < USB_DT_SS_HUB_SIZE:
        raise CloneError(f"{source}: hub_descriptor: a SuperSpeed hub descriptor is "
                         f"{USB_DT_SS_HUB_SIZE} bytes, got {len(raw)}")


class ClonedHub(Hub):
    """A working USB 2.0 hub with a cloned hub's descriptors: `Hub`'s ports, power,
    reset, status change and suspend, bNbrPorts from the cloned hub descriptor, and every
    descriptor — device, configuration, qualifier, other-speed, BOS, strings, hub
    descriptor — answered with the cloned bytes.  A clone without a hub descriptor gets
    `Hub`'s for four ports.  Raises CloneError naming the field at fault: a hub descriptor
    hub.c would refuse, a port count the hub model cannot have (1..15), a speed other than
    high or full, a first configuration without the status-change endpoint 0x81, report
    descriptors (a hub has no HID interface)."""

    model_name = "clone"

    def __init__(self, data: CloneData, source: str = "<clone>") -> None:
        self._parsed = parse_clone(data, source)
        if data.report_descriptors:
            raise CloneError(f"{source}: report_descriptors: a hub has no HID interface")
        configs = self._parsed.descriptors.configurations
        _check_status_endpoint(configs[0] if configs else None, source)
        ports = _hub_ports(data, source)
        try:
            super().__init__(ports, speed=data.speed)
        except ValueError as exc:
            raise CloneError(f"{source}: speed: {exc}") from None
        if data.hub_descriptor is not None:
            self.hub_descriptor = HubDescriptor.from_bytes(data.hub_descriptor)
        self.clone = replace(data, hub_descriptor=self.hub_descriptor_bytes())
        self.parsed_configs: tuple[ParsedConfig, ...] = self._parsed.configs

    def hub_device_descriptors(self, ports: int, speed: Speed) -> DescriptorSet:
        """The cloned descriptors."""
        return self._parsed.descriptors

    def hub_descriptor_bytes(self) -> bytes:
        """The cloned hub descriptor, byte for byte (`Hub`'s own when none was cloned)."""
        raw = self._parsed.data.hub_descriptor
        return raw if raw is not None else super().hub_descriptor_bytes()

    @property
    def notices(self) -> list[str]:
        """What Linux would log while parsing these configurations."""
        return [n.message for c in self.parsed_configs for n in c.notices]


def clone_model(data: CloneData, source: str = "<clone>") -> ClonedDevice | ClonedHub:
    """The model of a clone: a `ClonedHub` for a USB 2.0 hub (a hub descriptor, or
    bDeviceClass 9), a `ClonedDevice` for anything else — a SuperSpeed hub included, which
    answers with its descriptors, hub descriptor too, without a hub's function.  Raises
    CloneError naming `source` and the field at fault."""
    if not data.is_hub:
        return ClonedDevice(data, source=source)
    if data.speed.is_superspeed:
        _check_superspeed_hub_descriptor(data.hub_descriptor, source)
        return ClonedDevice(data, source=source)
    return ClonedHub(data, source)
