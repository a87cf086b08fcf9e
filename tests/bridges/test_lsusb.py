"""lsusb, lsusb -t and lsusb -v on an emulated machine (usbemu.bridges.lsusb), read
through its sysfs as usbutils 018 reads the real one; with and without a usb.ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from usbemu.bridges.lsusb import (
    NEGOTIATED_SPEEDS,
    NO_USB_IDS,
    DeviceFilter,
    UsbIds,
    lsusb,
    lsusb_t,
    lsusb_v,
)
from usbemu.emulated.models import load_model
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.system import System
from usbemu.testing import blacklist

USB_IDS = """\
#
#	List of USB ID's (a tiny excerpt, tab-indented as the real file)
#
0627  Adomax Technology Co., Ltd
	0001  QEMU Keyboard
1d6b  Linux Foundation
	0002  2.0 root hub
46f4  QEMU
# a malformed line is skipped
zz  nothing

C 00  (Defined at Interface level)
C 03  Human Interface Device
	00  No Subclass
	01  Boot Interface Subclass
		01  Keyboard
		02  Mouse
C 08  Mass Storage
	06  SCSI
		50  Bulk-Only
C 09  Hub
	00  Unused
		00  Full speed (or root) hub
		01  Single TT
HID 22  Report
"""


@pytest.fixture
def usb_ids(tmp_path: Path) -> Path:
    path = tmp_path / "usb.ids"
    path.write_text(USB_IDS)
    return path


def test_usb_ids_parsing(usb_ids: Path) -> None:
    ids = UsbIds.load(usb_ids)
    assert ids.vendor(0x0627) == "Adomax Technology Co., Ltd"
    assert ids.product(0x0627, 0x0001) == "QEMU Keyboard"
    assert ids.product(0x46F4, 0x0001) is None
    assert ids.class_name(0x03) == "Human Interface Device"
    assert ids.subclass_name(0x03, 0x01) == "Boot Interface Subclass"
    assert ids.protocol_name(0x03, 0x01, 0x02) == "Mouse"
    assert ids.protocol_name(0x09, 0x00, 0x01) == "Single TT"
    assert ids.class_name(0x04) == "[unknown]" and ids.protocol_name(1, 2, 3) == ""
    assert ids.vendor(0x0022) is None          # "HID 22" is not a vendor


def test_lsusb_without_a_database(capture: System) -> None:
    assert lsusb(capture, usb_ids=NO_USB_IDS) == (
        "Bus 001 Device 001: ID 1d6b:0002 Linux 6.12.117+deb12-amd64 ehci_hcd "
        "EHCI Host Controller\n"
        "Bus 001 Device 002: ID 0627:0001 QEMU QEMU USB Keyboard\n"
        "Bus 001 Device 003: ID 46f4:0001 QEMU QEMU USB HARDDRIVE\n")


def test_lsusb_with_a_database(capture: System, usb_ids: Path) -> None:
    # a name missing from the database falls back to the device's string
    assert lsusb(capture, usb_ids=usb_ids) == (
        "Bus 001 Device 001: ID 1d6b:0002 Linux Foundation 2.0 root hub\n"
        "Bus 001 Device 002: ID 0627:0001 Adomax Technology Co., Ltd QEMU Keyboard\n"
        "Bus 001 Device 003: ID 46f4:0001 QEMU QEMU USB HARDDRIVE\n")


def test_lsusb_unknown_without_strings() -> None:
    from usbemu_tests_capture_machine import KEYBOARD  # type: ignore[import-not-found]

    from usbemu.emulated.clone import ClonedDevice

    with System() as system:
        system.add_controller(nports=2)
        system.plug(ClonedDevice(KEYBOARD, {}), "1-1")
        system.settle()
        assert lsusb(system, usb_ids=NO_USB_IDS).splitlines()[1] == \
            "Bus 001 Device 002: ID 0627:0001 [unknown] [unknown]"


def test_lsusb_t(capture: System, usb_ids: Path) -> None:
    assert lsusb_t(capture, usb_ids=usb_ids) == (
        "/:  Bus 001.Port 001: Dev 001, Class=root_hub, Driver=ehci-pci/6p, 480M\n"
        "    |__ Port 001: Dev 002, If 0, Class=Human Interface Device, Driver=usbhid, 480M\n"
        "    |__ Port 002: Dev 003, If 0, Class=Mass Storage, Driver=usb-storage, 480M\n")
    # the class names are built in: the same without a database
    assert lsusb_t(capture, usb_ids=NO_USB_IDS) == lsusb_t(capture, usb_ids=usb_ids)


def test_lsusb_tvv(capture: System, usb_ids: Path) -> None:
    assert lsusb_t(capture, usb_ids=usb_ids, verbose=2) == (
        "/:  Bus 001.Port 001: Dev 001, Class=root_hub, Driver=ehci-pci/6p, 480M\n"
        "    ID 1d6b:0002 Linux Foundation 2.0 root hub\n"
        "    /sys/bus/usb/devices/usb1  /dev/bus/usb/001/001\n"
        "    |__ Port 001: Dev 002, If 0, Class=Human Interface Device, Driver=usbhid, 480M\n"
        "        ID 0627:0001 Adomax Technology Co., Ltd QEMU Keyboard\n"
        "        /sys/bus/usb/devices/1-1  /dev/bus/usb/001/002\n"
        "    |__ Port 002: Dev 003, If 0, Class=Mass Storage, Driver=usb-storage, 480M\n"
        "        ID 46f4:0001 QEMU \n"
        "        /sys/bus/usb/devices/1-2  /dev/bus/usb/001/003\n")


def test_lsusb_t_with_a_hub_and_an_unbound_interface() -> None:
    with System() as system:
        system.add_controller(nports=4)
        system.plug(Hub(4), "1-3")
        system.settle()
        blacklist(system, "usb_storage", "uas")
        system.plug(PenDrive(), "1-3.2")
        system.settle()
        assert lsusb_t(system, usb_ids=NO_USB_IDS) == (
            "/:  Bus 001.Port 001: Dev 001, Class=root_hub, Driver=ehci-pci/4p, 480M\n"
            "    |__ Port 003: Dev 002, If 0, Class=Hub, Driver=hub/4p, 480M\n"
            "        |__ Port 002: Dev 003, If 0, Class=Mass Storage, Driver=[none], 480M\n")
        # an unconfigured device has no interface: one line without If/Class/Driver
        system.run(system.vfs.write("/sys/bus/usb/devices/1-3.2/bConfigurationValue", "0"))
        assert lsusb_t(system, usb_ids=NO_USB_IDS).splitlines()[2] == \
            "        |__ Port 002: Dev 003, 480M"


KEYBOARD_V = """
Bus 001 Device 002: ID 0627:0001 QEMU QEMU USB Keyboard
Negotiated speed: High Speed (480Mbps)
Device Descriptor:
  bLength                18
  bDescriptorType         1
  bcdUSB               2.00
  bDeviceClass            0 [unknown]
  bDeviceSubClass         0 [unknown]
  bDeviceProtocol         0 $
  bMaxPacketSize0        64
  idVendor           0x0627 QEMU
  idProduct          0x0001 QEMU USB Keyboard
  bcdDevice            0.00
  iManufacturer           1 QEMU
  iProduct                4 QEMU USB Keyboard
  iSerial                11 68284-0000:00:02.0-1
  bNumConfigurations      1
  Configuration Descriptor:
    bLength                 9
    bDescriptorType         2
    wTotalLength       0x0022
    bNumInterfaces          1
    bConfigurationValue     1
    iConfiguration          8 $
    bmAttributes         0xa0
      (Bus Powered)
      Remote Wakeup
    MaxPower              100mA
    Interface Descriptor:
      bLength                 9
      bDescriptorType         4
      bInterfaceNumber        0
      bAlternateSetting       0
      bNumEndpoints           1
      bInterfaceClass         3 Human Interface Device
      bInterfaceSubClass      1 Boot Interface Subclass
      bInterfaceProtocol      1 Keyboard
      iInterface              0 $
        HID Device Descriptor:
          bLength                 9
          bDescriptorType        33
          bcdHID               1.11
          bCountryCode            0 Not supported
          bNumDescriptors         1
          bDescriptorType        34 Report
          wDescriptorLength      63
         Report Descriptors: $
           ** UNAVAILABLE **
      Endpoint Descriptor:
        bLength                 7
        bDescriptorType         5
        bEndpointAddress     0x81  EP 1 IN
        bmAttributes            3
          Transfer Type            Interrupt
          Synch Type               None
          Usage Type               Data
        wMaxPacketSize     0x0008  1x 8 bytes
        bInterval               7
""".replace("$\n", "\n")  # "$" marks a line lsusb ends with a space


def test_lsusb_v(capture: System, usb_ids: Path) -> None:
    text = lsusb_v(capture, usb_ids=NO_USB_IDS)
    blocks = text.split("\nBus ")
    assert [b.split(":")[0] for b in blocks[1:]] == ["001 Device 001", "001 Device 002",
                                                     "001 Device 003"]
    assert "\nBus " + blocks[2] == KEYBOARD_V
    named = lsusb_v(capture, usb_ids=usb_ids)
    # the hwdb leaves class 00 out, whatever usb.ids calls it
    assert "  bDeviceClass            0 [unknown]\n" in named
    assert "      bInterfaceProtocol      1 Keyboard\n" in named
    assert "      bInterfaceClass         8 Mass Storage\n" \
           "      bInterfaceSubClass      6 SCSI\n" \
           "      bInterfaceProtocol     80 Bulk-Only\n" in named


def test_lsusb_v_negotiated_speed_follows_the_bus_line() -> None:
    """usbutils 018's dump_device() prints it first, from libusb_get_device_speed() (the
    sysfs `speed` attribute), then "Device Descriptor:"."""
    with System() as system:
        system.add_controller(nports=4)
        system.plug(Hub(4), "1-1")
        system.settle()
        system.plug(load_model("mouse")(), "1-1.1")
        system.plug(load_model("serial")(), "1-2")
        system.settle()
        text = lsusb_v(system, usb_ids=NO_USB_IDS)
    speeds = [line for line in text.splitlines() if line.startswith("Negotiated speed: ")]
    assert speeds == ["Negotiated speed: High Speed (480Mbps)",      # the root hub
                      "Negotiated speed: High Speed (480Mbps)",      # the hub, device 2
                      "Negotiated speed: Low Speed (1Mbps)",         # the mouse behind it
                      "Negotiated speed: Full Speed (12Mbps)"]       # serial at 1-2
    for block in text.split("\nBus ")[1:]:
        assert block.splitlines()[1].startswith("Negotiated speed: ")
        assert block.splitlines()[2] == "Device Descriptor:"
    assert NEGOTIATED_SPEEDS["5000"] == "SuperSpeed (5Gbps)"
    assert NEGOTIATED_SPEEDS["10000"] == "SuperSpeed+ (10Gbps)"
    assert NEGOTIATED_SPEEDS["20000"] == "SuperSpeed++ (20Gbps)"


def test_lsusb_and_lsusb_v_filter_as_s_and_d_do(capture: System) -> None:
    only = DeviceFilter.parse("1:2", "0627:")
    assert lsusb(capture, usb_ids=NO_USB_IDS, only=only) == \
        "Bus 001 Device 002: ID 0627:0001 QEMU QEMU USB Keyboard\n"
    assert lsusb_v(capture, usb_ids=NO_USB_IDS, only=only) == KEYBOARD_V
    assert lsusb(capture, only=DeviceFilter.parse(None, "1234:")) == ""
    assert lsusb_v(capture, only=DeviceFilter.parse("2:")) == ""


@pytest.mark.parametrize(("select", "ids", "expected"), [
    ("", None, DeviceFilter()), (":", None, DeviceFilter()), ("3", None, DeviceFilter(None, 3)),
    ("1:", None, DeviceFilter(1)), ("001:002", None, DeviceFilter(1, 2)),
    (None, ":", DeviceFilter()), (None, "58F:", DeviceFilter(vendor=0x58F)),
    (None, ":6387", DeviceFilter(product=0x6387)),
])
def test_device_filter_parses_s_and_d_as_usbutils(select: str | None, ids: str | None,
                                                  expected: DeviceFilter) -> None:
    assert DeviceFilter.parse(select, ids) == expected


@pytest.mark.parametrize(("select", "ids", "message"), [
    ("x", None, "invalid -s argument 'x': expected [[bus]:][devnum] in decimal"),
    ("-1", None, "invalid -s argument '-1': expected [[bus]:][devnum] in decimal"),
    (" 1", None, "invalid -s argument ' 1': expected [[bus]:][devnum] in decimal"),
    (None, "058f", "invalid -d argument '058f': expected [vendor]:[product] in hexadecimal"),
    (None, "1:2:3", "invalid -d argument '1:2:3': expected [vendor]:[product] in hexadecimal"),
    (None, "0x1:", "invalid -d argument '0x1:': expected [vendor]:[product] in hexadecimal"),
])
def test_device_filter_rejects_what_it_cannot_read(select: str | None, ids: str | None,
                                                   message: str) -> None:
    with pytest.raises(ValueError) as info:
        DeviceFilter.parse(select, ids)
    assert str(info.value) == message


def test_lsusb_v_composite_device() -> None:
    from usbemu.emulated.device import DeviceModel
    from usbemu.spec.ch9 import Speed
    from usbemu.spec.descriptors import (
        ConfigDescriptor,
        DeviceDescriptor,
        EndpointDescriptor,
        InterfaceAssociation,
        InterfaceDescriptor,
    )

    iad = InterfaceAssociation(2, 0x02, 0x02, 0x01)
    cdc = bytes.fromhex("0524001001" "0524010001" "04240202" "0524060001")
    comm = InterfaceDescriptor(0x02, 0x02, 0x01, (EndpointDescriptor.interrupt(0x83, 16, 10),),
                               association=iad, extra=cdc)
    data = InterfaceDescriptor(0x0A, 0, 0, (EndpointDescriptor.bulk(0x81, 64),
                                            EndpointDescriptor.bulk(0x02, 64)))
    model = DeviceModel(DeviceDescriptor(0x1234, 0x5678, bcdUSB=0x0110, configurations=(
        ConfigDescriptor(interfaces=(comm, data), bmAttributes=0x80, bMaxPower=50),)),
        speed=Speed.FULL)
    with System() as system:
        system.add_controller(nports=2)
        system.plug(model, "1-1")
        system.settle()
        text = lsusb_v(system, usb_ids=NO_USB_IDS)
    assert ("    Interface Association:\n"
            "      bLength                 8\n"
            "      bDescriptorType        11\n"
            "      bFirstInterface         0\n"
            "      bInterfaceCount         2\n"
            "      bFunctionClass          2 Communications\n"
            "      bFunctionSubClass       2 Abstract (modem)\n"
            "      bFunctionProtocol       1 AT-commands (v.25ter)\n"
            "      iFunction               0 \n"
            "    Interface Descriptor:\n") in text
    assert ("      CDC Header:\n"
            "        bcdCDC               1.10\n"
            "      CDC Call Management:\n"
            "        bmCapabilities       0x00\n"
            "        bDataInterface          1\n"
            "      CDC ACM:\n"
            "        bmCapabilities       0x02\n"
            "          line coding and serial state\n"
            "      CDC Union:\n"
            "        bMasterInterface        0\n"
            "        bSlaveInterface         1 \n") in text
    assert "      (Bus Powered)\n    MaxPower              100mA\n" in text
    assert "        bInterval              10\n" in text


def test_default_database_lookup(capture: System, monkeypatch: pytest.MonkeyPatch,
                                 usb_ids: Path) -> None:
    import usbemu.bridges.lsusb as module

    monkeypatch.setattr(module, "USB_IDS_PATHS", (str(usb_ids.parent / "missing"),
                                                  str(usb_ids)))
    assert "Linux Foundation 2.0 root hub" in lsusb(capture)
    assert UsbIds.find(()) is None


def test_class_names_are_built_in_and_a_database_adds_to_them(usb_ids: Path) -> None:
    assert (NO_USB_IDS.class_name(0x08), NO_USB_IDS.class_name(0x09),
            NO_USB_IDS.class_name(0xFF)) == ("Mass Storage", "Hub", "Vendor Specific Class")
    assert NO_USB_IDS.subclass_name(0x08, 0x06) == "SCSI"
    assert NO_USB_IDS.protocol_name(0x08, 0x06, 0x50) == "Bulk-Only"
    assert NO_USB_IDS.class_name(0x00) == "[unknown]"
    assert NO_USB_IDS.subclass_name(0x03, 0x00) == "[unknown]"
    extra = UsbIds.parse("C 04  Made Up\n\t07  Sub\n\t\t09  Proto\nC 08  Storage\n")
    assert (extra.class_name(0x04), extra.subclass_name(0x04, 0x07),
            extra.protocol_name(0x04, 0x07, 0x09)) == ("Made Up", "Sub", "Proto")
    assert extra.class_name(0x08) == "Storage"           # the database's name first
    assert UsbIds.load(usb_ids).class_name(0x00) == "[unknown]"


def test_usb_ids_class_entries_follow_the_hwdb_rule() -> None:
    ids = UsbIds.parse("C 00  (Defined at Interface level)\n"
                       "C 03  Human Interface Device\n\t00  No Subclass\n"
                       "C 09  Hub\n\t00  Unused\n\t\t01  Single TT\n"
                       "C 0d  Unused\n\t01  None\n")
    assert ids.classes == {0x03: "Human Interface Device", 0x09: "Hub"}
    assert ids.subclasses == {}
    assert ids.protocols == {(0x09, 0x00, 0x01): "Single TT"}


def test_lsusb_t_names_classes_without_a_database() -> None:
    with System() as system:
        system.add_controller(nports=4)
        system.plug(load_model("mouse")(), "1-1")
        system.plug(load_model("serial")(), "1-2")
        system.settle()
        lines = lsusb_t(system, usb_ids=NO_USB_IDS).splitlines()
    assert [line.split("Class=")[1].split(",")[0] for line in lines[1:]] == [
        "Human Interface Device", *["Vendor Specific Class"] * (len(lines) - 2)]


def test_vendor_names_only_from_a_database(capture: System, usb_ids: Path) -> None:
    without = lsusb_t(capture, usb_ids=NO_USB_IDS, verbose=1).splitlines()
    named = lsusb_t(capture, usb_ids=usb_ids, verbose=1).splitlines()
    assert without[1] == "    ID 1d6b:0002  "
    assert named[1] == "    ID 1d6b:0002 Linux Foundation 2.0 root hub"
