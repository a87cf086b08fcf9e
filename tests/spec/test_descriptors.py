"""Tests for usbemu.spec.descriptors: golden bytes, computed fields, strings, decoders."""

from __future__ import annotations

import contextlib
import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usbemu.spec.ch9 import (
    LANGID_EN_US,
    ClassCode,
    ConfigAttributes,
    DescriptorType,
    EndpointType,
    Speed,
)
from usbemu.spec.descriptors import (
    MAX_STRING_CHARS,
    BosDescriptor,
    CapabilityType,
    ConfigDescriptor,
    DescriptorError,
    DescriptorSet,
    DeviceCapability,
    DeviceDescriptor,
    DeviceQualifier,
    EndpointDescriptor,
    InterfaceAssociation,
    InterfaceDescriptor,
    SsEndpointCompanion,
    StringTable,
    build_descriptors,
    container_id,
    decode_string,
    iter_endpoints,
    langid_descriptor,
    string_descriptor,
    superspeed_capability,
    usb20_extension,
)

LANGID_DE_DE = 0x0407
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)


def golden(text: str) -> bytes:
    """Hex bytes written one commented field per line: `09 02   # bLength, bDescriptorType`."""
    return bytes.fromhex(" ".join(line.split("#", 1)[0] for line in text.splitlines()))


def utf16(text: str) -> str:
    """The hex of a UTF-16LE string, for golden string descriptors."""
    return text.encode("utf-16-le").hex(" ")


# -- the golden composite device ------------------------------------------------------------------

CONTAINER_UUID = uuid.UUID("12345678-9abc-def0-1122-334455667788")
AC_HEADER = golden("""
    09      # bLength
    24      # bDescriptorType CS_INTERFACE
    01      # bDescriptorSubtype HEADER
    00 01   # bcdADC 1.00
    09 00   # wTotalLength 9
    01      # bInCollection
    01      # baInterfaceNr(1)
""")
AS_GENERAL = golden("""
    07      # bLength
    24      # bDescriptorType CS_INTERFACE
    01      # bDescriptorSubtype AS_GENERAL
    01      # bTerminalLink
    01      # bDelay
    01 00   # wFormatTag PCM
""")
CS_EP_GENERAL = golden("""
    07      # bLength
    25      # bDescriptorType CS_ENDPOINT
    01      # bDescriptorSubtype EP_GENERAL
    00      # bmAttributes
    00      # bLockDelayUnits
    00 00   # wLockDelay
""")


def vendor_interface(maxp: int, ss: bool) -> InterfaceDescriptor:
    companion_in = SsEndpointCompanion(bMaxBurst=15) if ss else None
    companion_out = SsEndpointCompanion() if ss else None
    return InterfaceDescriptor(
        ClassCode.VENDOR_SPEC, iInterface="Vendor",
        endpoints=(EndpointDescriptor.bulk(0x81, maxp, companion=companion_in),
                   EndpointDescriptor.bulk(0x02, maxp, companion=companion_out)))


COMPOSITE = DeviceDescriptor(
    idVendor=0x1D6B, idProduct=0x0104, bcdDevice=0x0612, bcdUSB=0x0210,
    bDeviceClass=ClassCode.MISC, bDeviceSubClass=0x02, bDeviceProtocol=0x01,
    bMaxPacketSize0=64,
    iManufacturer="usbemu", iProduct="Composite", iSerialNumber="0001",
    configurations=(ConfigDescriptor(
        interfaces=(
            InterfaceDescriptor(
                ClassCode.AUDIO, 0x01, 0x00, extra=AC_HEADER,
                association=InterfaceAssociation(2, ClassCode.AUDIO, iFunction="Speaker")),
            InterfaceDescriptor(ClassCode.AUDIO, 0x02, 0x00),
            InterfaceDescriptor(
                ClassCode.AUDIO, 0x02, 0x00, bAlternateSetting=1, extra=AS_GENERAL,
                endpoints=(EndpointDescriptor.isochronous(
                    0x01, 192, interval=4, sync=3, bRefresh=0, bSynchAddress=0,
                    extra=CS_EP_GENERAL),)),
            vendor_interface(512, ss=True),
        ),
        iConfiguration="Default",
        bmAttributes=ConfigAttributes.ONE | ConfigAttributes.REMOTE_WAKEUP,
        bMaxPower=250),),
    other_speed_configurations=(ConfigDescriptor(
        interfaces=(vendor_interface(64, ss=False),), iConfiguration="Default"),),
    bos=BosDescriptor((usb20_extension(), superspeed_capability(),
                       container_id(CONTAINER_UUID))),
    languages=(LANGID_EN_US, LANGID_DE_DE),
    translations={LANGID_DE_DE: {"Speaker": "Lautsprecher"}},
)

DEVICE_GOLDEN = golden("""
    12      # bLength 18
    01      # bDescriptorType DEVICE
    10 02   # bcdUSB 2.10
    ef      # bDeviceClass MISC
    02      # bDeviceSubClass common
    01      # bDeviceProtocol IAD
    40      # bMaxPacketSize0 64
    6b 1d   # idVendor 1d6b
    04 01   # idProduct 0104
    12 06   # bcdDevice 6.12
    01      # iManufacturer "usbemu"
    02      # iProduct "Composite"
    03      # iSerialNumber "0001"
    01      # bNumConfigurations
""")

CONFIG_GOLDEN = golden("""
    09      # bLength
    02      # bDescriptorType CONFIG
    6f 00   # wTotalLength 111
    03      # bNumInterfaces
    01      # bConfigurationValue
    06      # iConfiguration "Default" (allocated after the interface strings)
    a0      # bmAttributes ONE | REMOTE_WAKEUP
    fa      # bMaxPower 500 mA

    08      # IAD bLength
    0b      # bDescriptorType INTERFACE_ASSOCIATION
    00      # bFirstInterface
    02      # bInterfaceCount
    01      # bFunctionClass AUDIO
    00      # bFunctionSubClass
    00      # bFunctionProtocol
    04      # iFunction "Speaker"

    09      # bLength
    04      # bDescriptorType INTERFACE
    00      # bInterfaceNumber
    00      # bAlternateSetting
    00      # bNumEndpoints
    01      # bInterfaceClass AUDIO
    01      # bInterfaceSubClass AUDIOCONTROL
    00      # bInterfaceProtocol
    00      # iInterface
    09 24 01 00 01 09 00 01 01   # class-specific AC header (extra)

    09      # bLength
    04      # bDescriptorType INTERFACE
    01      # bInterfaceNumber
    00      # bAlternateSetting 0: zero bandwidth
    00      # bNumEndpoints
    01      # bInterfaceClass AUDIO
    02      # bInterfaceSubClass AUDIOSTREAMING
    00      # bInterfaceProtocol
    00      # iInterface

    09      # bLength
    04      # bDescriptorType INTERFACE
    01      # bInterfaceNumber (same interface)
    01      # bAlternateSetting 1
    01      # bNumEndpoints
    01      # bInterfaceClass AUDIO
    02      # bInterfaceSubClass AUDIOSTREAMING
    00      # bInterfaceProtocol
    00      # iInterface
    07 24 01 01 01 01 00         # class-specific AS_GENERAL (extra)

    09      # bLength 9: audio endpoint
    05      # bDescriptorType ENDPOINT
    01      # bEndpointAddress OUT 1
    0d      # bmAttributes isochronous, synchronous
    c0 00   # wMaxPacketSize 192
    04      # bInterval
    00      # bRefresh
    00      # bSynchAddress
    07 25 01 00 00 00 00         # class-specific EP_GENERAL (extra)

    09      # bLength
    04      # bDescriptorType INTERFACE
    02      # bInterfaceNumber
    00      # bAlternateSetting
    02      # bNumEndpoints
    ff      # bInterfaceClass VENDOR_SPEC
    00      # bInterfaceSubClass
    00      # bInterfaceProtocol
    05      # iInterface "Vendor"

    07      # bLength
    05      # bDescriptorType ENDPOINT
    81      # bEndpointAddress IN 1
    02      # bmAttributes bulk
    00 02   # wMaxPacketSize 512
    00      # bInterval
    06      # bLength
    30      # bDescriptorType SS_ENDPOINT_COMP
    0f      # bMaxBurst 15
    00      # bmAttributes
    00 00   # wBytesPerInterval

    07      # bLength
    05      # bDescriptorType ENDPOINT
    02      # bEndpointAddress OUT 2
    02      # bmAttributes bulk
    00 02   # wMaxPacketSize 512
    00      # bInterval
    06 30 00 00 00 00            # SS endpoint companion, all zero
""")

OTHER_SPEED_GOLDEN = golden("""
    09      # bLength
    07      # bDescriptorType OTHER_SPEED_CONFIG
    20 00   # wTotalLength 32
    01      # bNumInterfaces
    01      # bConfigurationValue
    06      # iConfiguration "Default" (shared with the main configuration)
    80      # bmAttributes ONE
    32      # bMaxPower 100 mA

    09 04   # bLength, bDescriptorType INTERFACE
    00 00   # bInterfaceNumber, bAlternateSetting
    02      # bNumEndpoints
    ff 00 00  # class, subclass, protocol
    05      # iInterface "Vendor"
    07 05 81 02 40 00 00         # bulk IN 1, 64 bytes
    07 05 02 02 40 00 00         # bulk OUT 2, 64 bytes
""")

QUALIFIER_GOLDEN = golden("""
    0a      # bLength
    06      # bDescriptorType DEVICE_QUALIFIER
    10 02   # bcdUSB 2.10
    ef 02 01  # class, subclass, protocol (as the device)
    40      # bMaxPacketSize0
    01      # bNumConfigurations (other-speed ones)
    00      # bReserved
""")

BOS_GOLDEN = golden("""
    05      # bLength
    0f      # bDescriptorType BOS
    2a 00   # wTotalLength 42
    03      # bNumDeviceCaps

    07      # bLength
    10      # bDescriptorType DEVICE_CAPABILITY
    02      # bDevCapabilityType USB 2.0 EXTENSION
    02 00 00 00                  # bmAttributes LPM

    0a      # bLength
    10      # bDescriptorType DEVICE_CAPABILITY
    03      # bDevCapabilityType SUPERSPEED_USB
    00      # bmAttributes
    0e 00   # wSpeedsSupported full, high, super
    01      # bFunctionalitySupport
    0a      # bU1DevExitLat
    ff 07   # wU2DevExitLat

    14      # bLength 20
    10      # bDescriptorType DEVICE_CAPABILITY
    04      # bDevCapabilityType CONTAINER_ID
    00      # bReserved
    78 56 34 12 bc 9a f0 de 11 22 33 44 55 66 77 88   # ContainerID, little-endian fields
""")


@pytest.fixture(scope="module")
def composite() -> DescriptorSet:
    return build_descriptors(COMPOSITE)


def test_golden_device_descriptor(composite: DescriptorSet) -> None:
    assert composite.device_bytes == DEVICE_GOLDEN


def test_golden_configuration(composite: DescriptorSet) -> None:
    assert len(CONFIG_GOLDEN) == 111
    assert composite.config_bytes == (CONFIG_GOLDEN,)


def test_golden_other_speed_configuration_and_qualifier(composite: DescriptorSet) -> None:
    assert composite.other_speed_bytes == (OTHER_SPEED_GOLDEN,)
    assert composite.qualifier_bytes == QUALIFIER_GOLDEN


def test_golden_bos(composite: DescriptorSet) -> None:
    assert composite.bos_bytes == BOS_GOLDEN


def test_golden_strings(composite: DescriptorSet) -> None:
    get = composite.get
    assert get(DescriptorType.STRING, 0) == golden("06 03 09 04 07 04")
    assert get(DescriptorType.STRING, 1, LANGID_EN_US) == golden(f"0e 03 {utf16('usbemu')}")
    assert get(DescriptorType.STRING, 2, LANGID_EN_US) == golden(f"14 03 {utf16('Composite')}")
    assert get(DescriptorType.STRING, 3, LANGID_EN_US) == golden(f"0a 03 {utf16('0001')}")
    assert get(DescriptorType.STRING, 4, LANGID_EN_US) == golden(f"10 03 {utf16('Speaker')}")
    assert get(DescriptorType.STRING, 4, LANGID_DE_DE) == golden(
        f"1a 03 {utf16('Lautsprecher')}")
    assert get(DescriptorType.STRING, 5, LANGID_EN_US) == golden(f"0e 03 {utf16('Vendor')}")
    assert get(DescriptorType.STRING, 6, LANGID_EN_US) == golden(f"10 03 {utf16('Default')}")
    assert get(DescriptorType.STRING, 7, LANGID_EN_US) is None


def test_golden_descriptors_file(composite: DescriptorSet) -> None:
    assert composite.descriptors_file() == DEVICE_GOLDEN + CONFIG_GOLDEN


def test_descriptors_file_holds_every_configuration() -> None:
    built = build_descriptors(DeviceDescriptor(
        0x1234, 0x0001, configurations=(ConfigDescriptor(), ConfigDescriptor(bMaxPower=1))))
    assert built.descriptors_file() == built.device_bytes + built.config_bytes[0] + \
        built.config_bytes[1]
    assert len(built.descriptors_file()) == 18 + 9 + 9


# -- the resolved tree ----------------------------------------------------------------------------


def test_resolved_tree_has_every_computed_field(composite: DescriptorSet) -> None:
    device = composite.device
    assert (device.iManufacturer, device.iProduct, device.iSerialNumber) == (1, 2, 3)
    assert device.bNumConfigurations == 1
    assert device.strings == {1: "usbemu", 2: "Composite", 3: "0001", 4: "Speaker",
                              5: "Vendor", 6: "Default"}
    (config,) = composite.configurations
    assert config is device.configurations[0]
    assert (config.bConfigurationValue, config.wTotalLength, config.bNumInterfaces,
            config.iConfiguration) == (1, 111, 3, 6)
    numbers = [(alt.bInterfaceNumber, alt.bAlternateSetting, alt.bNumEndpoints)
               for alt in config.interfaces]
    assert numbers == [(0, 0, 0), (1, 0, 0), (1, 1, 1), (2, 0, 2)]
    iad = config.interfaces[0].association
    assert iad is not None and (iad.bFirstInterface, iad.iFunction) == (0, 4)
    assert config.interfaces[3].iInterface == 5
    assert config.to_bytes() == CONFIG_GOLDEN
    (other,) = device.other_speed_configurations
    assert (other.bConfigurationValue, other.wTotalLength, other.iConfiguration) == (1, 32, 6)


def test_iter_endpoints(composite: DescriptorSet) -> None:
    found = [(num, alt.bAlternateSetting, ep.bEndpointAddress)
             for num, alt, ep in iter_endpoints(composite.configurations[0])]
    assert found == [(1, 1, 0x01), (2, 0, 0x81), (2, 0, 0x02)]


# -- computed fields and overrides --------------------------------------------------------------


def cfg_header(raw: bytes) -> tuple[int, ...]:
    """(bLength, type, wTotalLength, bNumInterfaces, bConfigurationValue, iConfiguration,
    bmAttributes, bMaxPower) of a configuration's first 9 bytes."""
    return struct.unpack_from("<BBHBBBBB", raw)


def test_configuration_values_default_to_index_plus_one_and_can_be_overridden() -> None:
    built = build_descriptors(DeviceDescriptor(0x1234, 0x0001, configurations=(
        ConfigDescriptor(), ConfigDescriptor(bConfigurationValue=7), ConfigDescriptor())))
    assert [cfg_header(raw)[4] for raw in built.config_bytes] == [1, 7, 3]
    assert [c.bConfigurationValue for c in built.configurations] == [1, 7, 3]
    assert built.device_bytes[17] == 3


def test_standalone_configuration_to_bytes_uses_the_index() -> None:
    assert cfg_header(ConfigDescriptor().to_bytes(4))[4] == 5
    assert cfg_header(ConfigDescriptor(bConfigurationValue=9).to_bytes(4))[4] == 9


def test_count_and_length_overrides_are_emitted_verbatim() -> None:
    intf = InterfaceDescriptor(0xFF, endpoints=(EndpointDescriptor.bulk(0x81, 64),),
                               bNumEndpoints=5)
    built = build_descriptors(DeviceDescriptor(
        0x1234, 0x0001, bNumConfigurations=4,
        configurations=(ConfigDescriptor((intf,), wTotalLength=0x1234, bNumInterfaces=9),)))
    raw = built.config_bytes[0]
    assert cfg_header(raw)[2:4] == (0x1234, 9)
    assert len(raw) == 9 + 9 + 7  # the real body is still all there
    assert raw[9 + 4] == 5  # bNumEndpoints
    assert built.device_bytes[17] == 4
    assert built.configurations[0].wTotalLength == 0x1234


def test_blength_override_truncates_or_pads() -> None:
    assert EndpointDescriptor.bulk(0x81, 64, bLength=5).header() == golden("05 05 81 02 40")
    assert EndpointDescriptor.bulk(0x81, 64, bLength=9).header() == golden(
        "09 05 81 02 40 00 00 00 00")
    assert InterfaceDescriptor(bLength=11).header(0) == golden("0b 04 00 00 00 00 00 00 00 00 00")
    assert DeviceQualifier(bLength=4).to_bytes() == golden("04 06 00 02")
    assert len(DeviceDescriptor(1, 2, bLength=20).header()) == 20
    raw = ConfigDescriptor(bLength=12).to_bytes()
    assert raw[0] == 12 and len(raw) == 12 and cfg_header(raw)[2] == 12


def test_ss_companion_longer_blength_invents_no_bytes() -> None:
    # Bytes past the sixth travel in the endpoint's extra (see spec.config), never padded.
    assert SsEndpointCompanion(bLength=8).to_bytes() == golden("08 30 00 00 00 00")


def test_ss_companion_blength_override_truncates() -> None:
    assert SsEndpointCompanion(bMaxBurst=3, bLength=4).to_bytes() == golden("04 30 03 00")


def test_bnuminterfaces_counts_distinct_interface_numbers() -> None:
    alts = (InterfaceDescriptor(), InterfaceDescriptor(bAlternateSetting=1),
            InterfaceDescriptor(bAlternateSetting=2), InterfaceDescriptor())
    config = ConfigDescriptor(alts)
    assert config.interface_count() == 2
    assert [n for n, _ in config.numbered_interfaces()] == [0, 0, 0, 1]
    assert cfg_header(config.to_bytes())[3] == 2


def test_interface_numbering_with_explicit_numbers() -> None:
    alts = (
        InterfaceDescriptor(bInterfaceNumber=3),
        InterfaceDescriptor(bAlternateSetting=1),  # alt of 3
        InterfaceDescriptor(),  # next free: 4
        InterfaceDescriptor(bInterfaceNumber=1),
        InterfaceDescriptor(bAlternateSetting=1),  # alt of 1
        InterfaceDescriptor(),  # next free is still 5
        InterfaceDescriptor(bInterfaceNumber=1, bAlternateSetting=2),
    )
    numbers = [n for n, _ in ConfigDescriptor(alts).numbered_interfaces()]
    assert numbers == [3, 3, 4, 1, 1, 5, 1]
    raw = build_descriptors(DeviceDescriptor(1, 2, configurations=(ConfigDescriptor(alts),)))
    intf_numbers = [raw.config_bytes[0][9 + 9 * i + 2] for i in range(len(alts))]
    assert intf_numbers == numbers


def test_leading_nonzero_altsetting_starts_interface_zero() -> None:
    numbers = ConfigDescriptor((InterfaceDescriptor(bAlternateSetting=1),
                                InterfaceDescriptor())).numbered_interfaces()
    assert [n for n, _ in numbers] == [0, 1]


def test_iad_first_interface_follows_its_interface_or_override() -> None:
    config = ConfigDescriptor((
        InterfaceDescriptor(0xFF),
        InterfaceDescriptor(0x02, association=InterfaceAssociation(2, 0x02, 0x02)),
        InterfaceDescriptor(0x0A),
        InterfaceDescriptor(0x01, association=InterfaceAssociation(1, 0x01,
                                                                   bFirstInterface=9)),
    ))
    built = build_descriptors(DeviceDescriptor(1, 2, configurations=(config,)))
    raw = built.config_bytes[0]
    # header 9, intf0 9, then the first IAD.
    assert raw[18:26] == golden("08 0b 01 02 02 02 00 00")
    assert raw[18 + 8 + 9 + 9:18 + 8 + 9 + 9 + 8] == golden("08 0b 09 01 01 00 00 00")
    first = built.configurations[0].interfaces[1].association
    assert first is not None and first.bFirstInterface == 1
    assert InterfaceAssociation(1, 2).to_bytes(5)[2] == 5
    assert InterfaceAssociation(1, 2, bFirstInterface=3).to_bytes(5)[2] == 3


def test_configuration_extra_comes_before_the_interfaces() -> None:
    otg = golden("03 09 03")
    raw = ConfigDescriptor((InterfaceDescriptor(),), extra=otg).to_bytes()
    assert raw[9:12] == otg and raw[12:14] == golden("09 04")
    assert cfg_header(raw)[2] == 9 + 3 + 9


def test_configuration_properties() -> None:
    config = ConfigDescriptor(bmAttributes=0xE0, bMaxPower=100)
    assert config.self_powered and config.remote_wakeup
    assert not ConfigDescriptor().self_powered
    assert not ConfigDescriptor().remote_wakeup
    assert config.max_power_ma() == 200
    assert config.max_power_ma(Speed.FULL) == 200
    assert config.max_power_ma(Speed.SUPER) == 800
    assert config.max_power_ma(Speed.SUPER_PLUS) == 800


def test_endpoint_constructors_and_properties() -> None:
    bulk = EndpointDescriptor.bulk(0x81, 512)
    assert (bulk.number, bulk.is_in, bulk.type, bulk.maxpacket, bulk.mult, bulk.size) == (
        1, True, EndpointType.BULK, 512, 1, 7)
    intr = EndpointDescriptor.interrupt(0x03, 8, 10)
    assert (intr.number, intr.is_in, intr.type, intr.bInterval) == (3, False, EndpointType.INT, 10)
    iso = EndpointDescriptor.isochronous(0x8F, 0x1000 | 1024, interval=1, sync=2, usage=1)
    assert iso.bmAttributes == 0x01 | (2 << 2) | (1 << 4)
    assert (iso.number, iso.type, iso.maxpacket, iso.mult) == (15, EndpointType.ISOC, 1024, 3)
    assert EndpointDescriptor.bulk(0x01, 64, bRefresh=1).size == 9
    assert EndpointDescriptor.bulk(0x01, 64, bSynchAddress=0x82).size == 9
    audio = EndpointDescriptor.bulk(0x01, 64, bSynchAddress=0x82).header()
    assert audio == golden("09 05 01 02 40 00 00 00 82")


def test_endpoint_to_bytes_appends_companion_then_extra() -> None:
    ep = EndpointDescriptor.bulk(0x81, 1024, companion=SsEndpointCompanion(4, 0, 0),
                                 extra=b"\x02\xaa")
    assert ep.to_bytes() == golden("07 05 81 02 00 04 00  06 30 04 00 00 00  02 aa")
    assert ep.header() == golden("07 05 81 02 00 04 00")


def test_interface_to_bytes_order_is_iad_header_extra_endpoints() -> None:
    intf = InterfaceDescriptor(3, 1, 1, endpoints=(EndpointDescriptor.interrupt(0x81, 8, 10),),
                               extra=golden("09 21 11 01 00 01 22 3f 00"),
                               association=InterfaceAssociation(1, 3))
    assert intf.to_bytes(2) == golden("""
        08 0b 02 01 03 00 00 00          # IAD, bFirstInterface 2
        09 04 02 00 01 03 01 01 00       # interface 2
        09 21 11 01 00 01 22 3f 00       # HID descriptor (extra)
        07 05 81 03 08 00 0a             # interrupt IN 1
    """)


def test_device_qualifier_explicit_and_absent() -> None:
    explicit = DeviceQualifier(bcdUSB=0x0200, bMaxPacketSize0=8, bNumConfigurations=2)
    built = build_descriptors(DeviceDescriptor(1, 2, qualifier=explicit))
    assert built.qualifier_bytes == golden("0a 06 00 02 00 00 00 08 02 00")
    assert build_descriptors(DeviceDescriptor(1, 2)).qualifier_bytes is None


def test_default_qualifier_mirrors_the_device() -> None:
    device = DeviceDescriptor(1, 2, bcdUSB=0x0200, bDeviceClass=0xFF, bDeviceSubClass=1,
                              bDeviceProtocol=2, configurations=(ConfigDescriptor(),) * 3)
    assert device.default_qualifier() == DeviceQualifier(0x0200, 0xFF, 1, 2, 64, 3)


def test_default_qualifier_counts_the_other_speed_configurations() -> None:
    device = DeviceDescriptor(1, 2, configurations=(ConfigDescriptor(),) * 2,
                              other_speed_configurations=(ConfigDescriptor(),))
    assert device.default_qualifier().bNumConfigurations == 1
    built = build_descriptors(device)
    assert built.qualifier_bytes is not None and built.qualifier_bytes[8] == 1


def test_bos_overrides_and_capability_lookup() -> None:
    ext = usb20_extension(0x06)
    bos = BosDescriptor((ext,), wTotalLength=99, bNumDeviceCaps=7)
    assert bos.to_bytes() == golden("05 0f 63 00 07  07 10 02 06 00 00 00")
    assert bos.capability(CapabilityType.USB20_EXTENSION) is ext
    assert bos.capability(CapabilityType.CONTAINER_ID) is None
    assert BosDescriptor().to_bytes() == golden("05 0f 05 00 00")


def test_capability_helpers() -> None:
    assert superspeed_capability(0x02, 0x0008, 3, 0x01, 0x0100).to_bytes() == golden(
        "0a 10 03 02 08 00 03 01 00 01")
    assert container_id(CONTAINER_UUID).data == b"\0" + CONTAINER_UUID.bytes_le
    assert DeviceCapability(0x05, b"\x00" * 17).to_bytes()[:3] == golden("14 10 05")


# -- string index allocation --------------------------------------------------------------------


def test_explicit_string_indexes_are_reserved() -> None:
    built = build_descriptors(DeviceDescriptor(
        1, 2, iManufacturer="Acme", iProduct="Widget", iSerialNumber=2,
        strings={1: "Acme", 2: "SN-1"}))
    device = built.device
    assert (device.iManufacturer, device.iProduct, device.iSerialNumber) == (1, 3, 2)
    assert built.strings.lookup(3, LANGID_EN_US) == "Widget"
    assert built.strings.lookup(2, LANGID_EN_US) == "SN-1"


def test_equal_texts_share_an_index() -> None:
    config = ConfigDescriptor((InterfaceDescriptor(iInterface="Same"),
                               InterfaceDescriptor(iInterface="Same")), iConfiguration="Same")
    built = build_descriptors(DeviceDescriptor(1, 2, iProduct="Same", configurations=(config,)))
    resolved = built.configurations[0]
    assert built.device.iProduct == 1
    assert [a.iInterface for a in resolved.interfaces] == [1, 1]
    assert resolved.iConfiguration == 1
    assert built.device.strings == {1: "Same"}


def test_empty_text_means_no_string() -> None:
    built = build_descriptors(DeviceDescriptor(1, 2, iManufacturer="", iProduct="P"))
    assert (built.device.iManufacturer, built.device.iProduct) == (0, 1)
    assert built.device_bytes[14:17] == golden("00 01 00")


def test_integer_string_refs_pass_through() -> None:
    built = build_descriptors(DeviceDescriptor(1, 2, iManufacturer=7, strings={7: "Seven"}))
    assert built.device_bytes[14] == 7
    assert built.strings.lookup(7, LANGID_EN_US) == "Seven"


def test_translations_per_langid_fall_back_to_the_first_language() -> None:
    built = build_descriptors(DeviceDescriptor(
        1, 2, iManufacturer="Acme", iProduct="Mouse",
        languages=(LANGID_EN_US, LANGID_DE_DE, 0x040C),
        translations={LANGID_DE_DE: {"Mouse": "Maus"}, 0x040C: {"Mouse": "Souris"}}))
    table = built.strings
    assert table.langids == (LANGID_EN_US, LANGID_DE_DE, 0x040C)
    assert table.lookup(2, LANGID_EN_US) == "Mouse"
    assert table.lookup(2, LANGID_DE_DE) == "Maus"
    assert table.lookup(2, 0x040C) == "Souris"
    assert table.lookup(1, LANGID_DE_DE) == "Acme"
    assert table.descriptor(0, 0) == golden("08 03 09 04 07 04 0c 04")
    assert table.primary() == {1: "Acme", 2: "Mouse"}


def test_more_than_255_strings_is_an_error() -> None:
    reserved = {i: f"s{i}" for i in range(1, 256)}
    assert build_descriptors(DeviceDescriptor(1, 2, iProduct="s9", strings=reserved)) \
        .device.iProduct == 9
    with pytest.raises(ValueError, match="255 string descriptors"):
        build_descriptors(DeviceDescriptor(1, 2, iProduct="one too many", strings=reserved))


def test_255_allocated_strings_fit() -> None:
    config = ConfigDescriptor(tuple(InterfaceDescriptor(iInterface=f"i{n}") for n in range(254)))
    built = build_descriptors(DeviceDescriptor(1, 2, iProduct="P", configurations=(config,)))
    assert built.configurations[0].interfaces[-1].iInterface == 255
    with pytest.raises(ValueError, match="255 string descriptors"):
        build_descriptors(DeviceDescriptor(1, 2, iProduct="P", iManufacturer="M",
                                           configurations=(config,)))


def test_integer_string_refs_are_reserved() -> None:
    built = build_descriptors(DeviceDescriptor(1, 2, iManufacturer=1, iProduct="Widget"))
    assert built.device.iManufacturer == 1
    assert built.device.iProduct != 1


def test_explicit_string_index_zero_is_rejected() -> None:
    with pytest.raises(ValueError, match="strings"):
        build_descriptors(DeviceDescriptor(1, 2, iProduct="Zero", strings={0: "Zero"}))


def test_out_of_range_langid_is_rejected_when_building() -> None:
    with pytest.raises(ValueError, match="languages"):
        build_descriptors(DeviceDescriptor(1, 2, languages=(0x10409,)))


def test_text_refs_outside_the_builder_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"iInterface='x'.*build_descriptors"):
        InterfaceDescriptor(iInterface="x").to_bytes()
    with pytest.raises(ValueError, match="iConfiguration"):
        ConfigDescriptor(iConfiguration="x").to_bytes()
    with pytest.raises(ValueError, match="iFunction"):
        InterfaceAssociation(1, 2, iFunction="x").to_bytes()
    with pytest.raises(ValueError, match="iProduct"):
        DeviceDescriptor(1, 2, iProduct="x").header()


# -- errors name the field ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DeviceDescriptor(0x10000, 1).header(), "idVendor"),
        (lambda: DeviceDescriptor(1, -1).header(), "idProduct"),
        (lambda: DeviceDescriptor(1, 1, bcdUSB=0x10000).header(), "bcdUSB"),
        (lambda: DeviceDescriptor(1, 1, bMaxPacketSize0=256).header(), "bMaxPacketSize0"),
        (lambda: DeviceDescriptor(1, 1, bDeviceClass=256).header(), "bDeviceClass"),
        (lambda: DeviceDescriptor(1, 1, iSerialNumber=256).header(), "iSerialNumber"),
        (lambda: DeviceDescriptor(1, 1, bNumConfigurations=256).header(), "bNumConfigurations"),
        (lambda: ConfigDescriptor(bMaxPower=251 * 2).to_bytes(), "bMaxPower"),
        (lambda: ConfigDescriptor(bmAttributes=0x100).to_bytes(), "bmAttributes"),
        (lambda: ConfigDescriptor(bConfigurationValue=256).to_bytes(), "bConfigurationValue"),
        (lambda: ConfigDescriptor(wTotalLength=0x10000).to_bytes(), "wTotalLength"),
        (lambda: InterfaceDescriptor(bInterfaceClass=256).header(0), "bInterfaceClass"),
        (lambda: InterfaceDescriptor(bAlternateSetting=256).header(0), "bAlternateSetting"),
        (lambda: InterfaceDescriptor().header(256), "bInterfaceNumber"),
        (lambda: InterfaceDescriptor(bNumEndpoints=300).header(0), "bNumEndpoints"),
        (lambda: EndpointDescriptor.bulk(0x81, 0x10000).header(), "wMaxPacketSize"),
        (lambda: EndpointDescriptor.bulk(0x181, 64).header(), "bEndpointAddress"),
        (lambda: EndpointDescriptor.interrupt(0x81, 8, 256).header(), "bInterval"),
        (lambda: EndpointDescriptor.bulk(0x81, 8, bRefresh=256).header(), "bRefresh"),
        (lambda: EndpointDescriptor.bulk(0x81, 8, bLength=256).header(), "bLength"),
        (lambda: SsEndpointCompanion(bMaxBurst=256).to_bytes(), "bMaxBurst"),
        (lambda: SsEndpointCompanion(wBytesPerInterval=-1).to_bytes(), "wBytesPerInterval"),
        (lambda: InterfaceAssociation(256, 1).to_bytes(), "bInterfaceCount"),
        (lambda: DeviceQualifier(bNumConfigurations=256).to_bytes(), "bNumConfigurations"),
        (lambda: BosDescriptor(wTotalLength=0x10000).to_bytes(), "wTotalLength"),
        (lambda: DeviceCapability(0x100).to_bytes(), "bDevCapabilityType"),
        (lambda: DeviceCapability(1, bytes(253)).to_bytes(), "bLength"),
    ],
)
def test_out_of_range_values_name_the_field(build: object, field: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=rf"^{field}=-?\d+ does not fit"):
        build()


def test_builder_errors_name_the_field() -> None:
    bad = DeviceDescriptor(1, 2, configurations=(ConfigDescriptor((InterfaceDescriptor(
        endpoints=(EndpointDescriptor.bulk(0x81, 70000),)),)),))
    with pytest.raises(ValueError, match="wMaxPacketSize=70000"):
        build_descriptors(bad)


def test_capability_helpers_name_the_field() -> None:
    with pytest.raises(ValueError, match="bU1DevExitLat"):
        superspeed_capability(bU1DevExitLat=0x100)


# -- from_bytes decoders ------------------------------------------------------------------------


@settings(deadline=None, max_examples=100)
@given(u8, u8, u16, u8, st.one_of(st.none(), u8), st.one_of(st.none(), u8))
def test_endpoint_round_trip(addr: int, attrs: int, maxp: int, interval: int,
                             refresh: int | None, sync: int | None) -> None:
    ep = EndpointDescriptor(addr, attrs, maxp, interval, refresh, sync)
    raw = ep.header()
    back = EndpointDescriptor.from_bytes(raw)
    assert back.header() == raw
    assert (back.bEndpointAddress, back.bmAttributes, back.wMaxPacketSize, back.bInterval) == (
        addr, attrs, maxp, interval)
    if ep.size == 9:
        assert (back.bRefresh, back.bSynchAddress) == (refresh or 0, sync or 0)
    else:
        assert back.bRefresh is None and back.bSynchAddress is None


def test_endpoint_from_bytes_ignores_bytes_past_blength() -> None:
    back = EndpointDescriptor.from_bytes(golden("07 05 81 02 40 00 00 ee ee"))
    assert back.bRefresh is None and back.header() == golden("07 05 81 02 40 00 00")
    short_audio = EndpointDescriptor.from_bytes(golden("09 05 01 01 40 00 01"))
    assert short_audio.bLength == 9 and short_audio.bRefresh is None


@settings(deadline=None, max_examples=100)
@given(u8, u8, u16)
def test_ss_companion_round_trip(burst: int, attrs: int, bpi: int) -> None:
    raw = SsEndpointCompanion(burst, attrs, bpi).to_bytes()
    back = SsEndpointCompanion.from_bytes(raw)
    assert (back.bMaxBurst, back.bmAttributes, back.wBytesPerInterval, back.bLength) == (
        burst, attrs, bpi, 6)
    assert back.to_bytes() == raw


@settings(deadline=None, max_examples=100)
@given(u8, u8, u8, u8, u8, u8)
def test_iad_round_trip(first: int, count: int, fcls: int, fsub: int, fproto: int,
                        ifunc: int) -> None:
    raw = InterfaceAssociation(count, fcls, fsub, fproto, ifunc, first).to_bytes()
    back = InterfaceAssociation.from_bytes(raw)
    assert back == InterfaceAssociation(count, fcls, fsub, fproto, ifunc, first, bLength=8)
    assert back.to_bytes() == raw


@settings(deadline=None, max_examples=100)
@given(u8, u8, u8, u8, u8, u8, u8)
def test_interface_round_trip(num: int, alt: int, neps: int, cls: int, sub: int, proto: int,
                              iintf: int) -> None:
    raw = InterfaceDescriptor(cls, sub, proto, (), num, alt, iintf, bNumEndpoints=neps).header()
    back = InterfaceDescriptor.from_bytes(raw)
    assert (back.bInterfaceNumber, back.bAlternateSetting, back.bNumEndpoints,
            back.bInterfaceClass, back.bInterfaceSubClass, back.bInterfaceProtocol,
            back.iInterface, back.endpoints) == (num, alt, neps, cls, sub, proto, iintf, ())
    assert back.header() == raw


@settings(deadline=None, max_examples=100)
@given(u16, u8, u8, u8, u8, u8)
def test_config_header_round_trip(total: int, nintf: int, value: int, iconf: int, attrs: int,
                                  power: int) -> None:
    raw = ConfigDescriptor((), value, iconf, attrs, power, b"", total, nintf).to_bytes()
    back = ConfigDescriptor.header_from_bytes(raw)
    assert (back.wTotalLength, back.bNumInterfaces, back.bConfigurationValue,
            back.iConfiguration, back.bmAttributes, back.bMaxPower, back.bLength) == (
        total, nintf, value, iconf, attrs, power, 9)
    assert back.to_bytes() == raw


def test_config_header_from_bytes_accepts_other_speed_and_needs_9_bytes() -> None:
    back = ConfigDescriptor.header_from_bytes(OTHER_SPEED_GOLDEN)
    assert (back.wTotalLength, back.bNumInterfaces) == (32, 1)
    with pytest.raises(DescriptorError, match="needs 9 bytes, got 8"):
        ConfigDescriptor.header_from_bytes(CONFIG_GOLDEN[:8])


def test_config_header_from_bytes_rejects_other_descriptor_types() -> None:
    with pytest.raises(DescriptorError, match="bDescriptorType"):
        ConfigDescriptor.header_from_bytes(golden("09 04 00 00 02 ff 00 00 00"))


@settings(deadline=None, max_examples=100)
@given(u16, u16, u16, u16, u8, u8, u8, u8, u8, u8, u8, u8)
def test_device_round_trip(vid: int, pid: int, bcd_dev: int, bcd_usb: int, cls: int, sub: int,
                           proto: int, mps0: int, imfr: int, iprod: int, iser: int,
                           ncfg: int) -> None:
    device = DeviceDescriptor(vid, pid, bcd_dev, bcd_usb, cls, sub, proto, mps0, imfr, iprod,
                              iser, bNumConfigurations=ncfg)
    raw = device.header()
    back = DeviceDescriptor.from_bytes(raw)
    assert back == DeviceDescriptor(vid, pid, bcd_dev, bcd_usb, cls, sub, proto, mps0, imfr,
                                    iprod, iser, bNumConfigurations=ncfg, bLength=18)
    assert back.to_bytes() == raw


@settings(deadline=None, max_examples=100)
@given(u16, u8, u8, u8, u8, u8, u8)
def test_qualifier_round_trip(bcd: int, cls: int, sub: int, proto: int, mps0: int, ncfg: int,
                              res: int) -> None:
    qual = DeviceQualifier(bcd, cls, sub, proto, mps0, ncfg, res)
    back = DeviceQualifier.from_bytes(qual.to_bytes())
    assert back == DeviceQualifier(bcd, cls, sub, proto, mps0, ncfg, res, bLength=10)


@settings(deadline=None, max_examples=100)
@given(u8, st.binary(max_size=252))
def test_capability_round_trip(kind: int, data: bytes) -> None:
    cap = DeviceCapability(kind, data)
    assert DeviceCapability.from_bytes(cap.to_bytes()) == cap
    assert DeviceCapability.from_bytes(cap.to_bytes() + b"junk") == cap


def test_capability_from_bytes_checks_blength() -> None:
    with pytest.raises(DescriptorError, match="bLength 2 is invalid"):
        DeviceCapability.from_bytes(golden("02 10 02"))
    with pytest.raises(DescriptorError, match="bLength 9 is invalid"):
        DeviceCapability.from_bytes(golden("09 10 02 00"))


@pytest.mark.parametrize(
    ("decode", "size", "dtype"),
    [
        (EndpointDescriptor.from_bytes, 7, DescriptorType.ENDPOINT),
        (SsEndpointCompanion.from_bytes, 6, DescriptorType.SS_ENDPOINT_COMP),
        (InterfaceAssociation.from_bytes, 8, DescriptorType.INTERFACE_ASSOCIATION),
        (InterfaceDescriptor.from_bytes, 9, DescriptorType.INTERFACE),
        (DeviceDescriptor.from_bytes, 18, DescriptorType.DEVICE),
        (DeviceQualifier.from_bytes, 10, DescriptorType.DEVICE_QUALIFIER),
        (DeviceCapability.from_bytes, 3, DescriptorType.DEVICE_CAPABILITY),
    ],
)
def test_decoders_check_size_and_type(decode: object, size: int, dtype: int) -> None:
    assert callable(decode)
    good = bytes((size, dtype)) + bytes(size - 2)
    decode(good)
    with pytest.raises(DescriptorError, match=f"needs {size} bytes, got {size - 1}"):
        decode(good[:-1])
    with pytest.raises(DescriptorError, match=f"bDescriptorType 0x7f, expected {dtype:#04x}"):
        decode(bytes((size, 0x7F)) + bytes(size - 2))


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=40))
def test_decoders_never_crash_on_random_bytes(data: bytes) -> None:
    for decode in (EndpointDescriptor.from_bytes, SsEndpointCompanion.from_bytes,
                   InterfaceAssociation.from_bytes, InterfaceDescriptor.from_bytes,
                   DeviceDescriptor.from_bytes, DeviceQualifier.from_bytes,
                   DeviceCapability.from_bytes, ConfigDescriptor.header_from_bytes,
                   decode_string):
        with contextlib.suppress(DescriptorError):
            decode(data)


# -- string descriptors -------------------------------------------------------------------------


def test_string_descriptor_and_langid_table() -> None:
    assert string_descriptor("") == golden("02 03")
    assert string_descriptor("Hi") == golden("06 03 48 00 69 00")
    assert string_descriptor("\U0001f600") == golden("06 03 3d d8 00 de")
    assert langid_descriptor([LANGID_EN_US]) == golden("04 03 09 04")
    assert langid_descriptor([]) == golden("02 03")


def test_string_descriptor_is_cut_at_126_code_units() -> None:
    raw = string_descriptor("x" * 200)
    assert raw[0] == len(raw) == 2 + 2 * MAX_STRING_CHARS == 254
    assert decode_string(raw) == "x" * 126


@settings(deadline=None, max_examples=150)
@given(st.text(max_size=63))
def test_decode_string_round_trip(text: str) -> None:
    assert decode_string(string_descriptor(text)) == text


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (golden("04 03 41 00 42 00"), "A"),  # bLength bounds the data
        (golden("05 03 41 00 42 00"), "A"),  # odd bLength loses its last byte
        (golden("07 03 41 00 42 00 43"), "AB"),
        (golden("10 03 41 00"), "A"),  # fewer bytes than bLength: the data bounds it
        (golden("10 03 41 00 42"), "A"),  # ... and an odd count loses its last byte
        (golden("02 03 41 00"), ""),
        (golden("03 03 41 00"), ""),
        (golden("02 03"), ""),
        (golden("04 03 00 d8"), "\ufffd"),  # lone surrogate is replaced
        (golden("06 03 3d d8 00 de"), "\U0001f600"),
    ],
)
def test_decode_string_rules(raw: bytes, text: str) -> None:
    assert decode_string(raw) == text


@pytest.mark.parametrize("raw", [b"", b"\x02"])
def test_decode_string_needs_two_bytes(raw: bytes) -> None:
    with pytest.raises(DescriptorError, match=f"needs 2 bytes, got {len(raw)}"):
        decode_string(raw)


@pytest.mark.parametrize("raw", [golden("00 03 41 00"), golden("01 03 41 00")])
def test_decode_string_rejects_blength_below_two(raw: bytes) -> None:
    with pytest.raises(DescriptorError, match="bLength"):
        decode_string(raw)


def test_decode_string_rejects_wrong_descriptor_type() -> None:
    with pytest.raises(DescriptorError, match="bDescriptorType"):
        decode_string(golden("04 02 41 00"))


# -- StringTable and DescriptorSet.get ----------------------------------------------------------


def test_string_table_lookups() -> None:
    table = StringTable((LANGID_EN_US, LANGID_DE_DE),
                        {LANGID_EN_US: {1: "One"}, LANGID_DE_DE: {1: "Eins"}})
    assert table.lookup(1, LANGID_EN_US) == "One"
    assert table.lookup(1, LANGID_DE_DE) == "Eins"
    assert table.lookup(2, LANGID_EN_US) is None
    assert table.lookup(1, 0x040C) is None
    assert table.descriptor(0, 0) == golden("06 03 09 04 07 04")
    assert table.descriptor(0, 0x1234) == table.descriptor(0, 0)  # index 0 ignores wIndex
    assert table.descriptor(1, LANGID_DE_DE) == string_descriptor("Eins")
    assert table.descriptor(1, 0x040C) is None
    assert table.descriptor(2, LANGID_EN_US) is None
    assert table.primary() == {1: "One"}


def test_string_table_defaults_and_no_languages() -> None:
    assert StringTable().langids == (LANGID_EN_US,)
    assert StringTable().descriptor(0, 0) == golden("04 03 09 04")
    assert StringTable().descriptor(1, LANGID_EN_US) is None
    empty = StringTable(())
    assert empty.descriptor(0, 0) is None
    assert empty.primary() == {}


def test_descriptor_set_get_every_type(composite: DescriptorSet) -> None:
    get = composite.get
    assert get(DescriptorType.DEVICE) == DEVICE_GOLDEN
    assert get(DescriptorType.DEVICE, 3) == DEVICE_GOLDEN  # index ignored for the device
    assert get(DescriptorType.CONFIG, 0) == CONFIG_GOLDEN
    assert get(DescriptorType.CONFIG, 1) is None
    assert get(DescriptorType.STRING, 0) == golden("06 03 09 04 07 04")
    assert get(DescriptorType.STRING, 2, LANGID_EN_US) == string_descriptor("Composite")
    assert get(DescriptorType.STRING, 2, 0x0411) is None
    assert get(DescriptorType.BOS) == BOS_GOLDEN
    assert get(DescriptorType.DEVICE_QUALIFIER) == QUALIFIER_GOLDEN
    assert get(DescriptorType.OTHER_SPEED_CONFIG, 0) == OTHER_SPEED_GOLDEN
    assert get(DescriptorType.OTHER_SPEED_CONFIG, 1) is None
    for dtype in (DescriptorType.INTERFACE, DescriptorType.ENDPOINT,
                  DescriptorType.INTERFACE_ASSOCIATION, DescriptorType.HID, 0, 0xFF):
        assert get(dtype) is None


def test_descriptor_set_get_missing_optional_descriptors() -> None:
    built = build_descriptors(DeviceDescriptor(1, 2))
    assert built.get(DescriptorType.CONFIG, 0) is None
    assert built.get(DescriptorType.BOS) is None
    assert built.get(DescriptorType.DEVICE_QUALIFIER) is None
    assert built.get(DescriptorType.OTHER_SPEED_CONFIG, 0) is None
    assert built.get(DescriptorType.STRING, 0) == golden("04 03 09 04")
    assert built.get(DescriptorType.STRING, 1, LANGID_EN_US) is None
    assert built.device_bytes[17] == 0
