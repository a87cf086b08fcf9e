"""USB in sysfs (usbemu.core.sysfs): every attribute of a device, an interface, an endpoint
and a port compared with a real Linux 6.12 kernel's capture of the same two devices; the
empty-file and absent-file rules; the writable files and their errors; the bus's
devices/ and drivers/ directories."""

from __future__ import annotations

import errno
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.core.devtable import UsbDeviceId
from usbemu.core.driver import UsbDriver, usb_register
from usbemu.core.sysfs import decode_interval, interval_text, usb_sysfs
from usbemu.emulated.clone import ClonedDevice
from usbemu.emulated.device import DeviceModel
from usbemu.kernel.sysfs import kstrtobool
from usbemu.spec.ch9 import Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceAssociation,
    InterfaceDescriptor,
)
from usbemu.system import System

CAPTURE = (Path(__file__).resolve().parents[1] / "golden" / "linux-6.12-ehci-kbd-storage"
           / "sysfs-usb.txt")
DEVICES = "/sys/bus/usb/devices"

#: Values the capture itself calls varying, and things of other subsystems.
VARYING = ("power/", "urbnum")
FOREIGN = ("0003:", "host0")


def write(system: System, path: str, data: str) -> int:
    return system.run(system.vfs.write(path, data))


def write_error(system: System, path: str, data: str) -> int:
    with pytest.raises(OSError) as info:
        write(system, path, data)
    assert info.value.errno is not None
    return info.value.errno


def read(system: System, path: str) -> str:
    return system.vfs.read_text(path)


# -- the capture, parsed -----------------------------------------------------------------------


def parse_capture(text: str) -> dict[str, dict[str, str | bytes]]:
    """sysfs-usb.txt → {entry: {relative path: content}}: text files with their newline,
    "-> target" for links, bytes for binary files, "(mode 200)" for write-only ones."""
    sections: dict[str, dict[str, str | bytes]] = {}
    current: dict[str, str | bytes] = {}
    key: str | None = None
    for line in text.splitlines():
        if line.startswith("################ "):
            current = sections.setdefault(line.split()[1], {})
            key = None
        elif line.startswith("  ") and key is not None:
            value = current[key]
            if isinstance(value, bytes):
                current[key] = value + bytes.fromhex(line)
            else:
                current[key] = f"{value}{line[2:]}\n"
        elif " -> " in line:
            name, target = line.split(" -> ", 1)
            current[name] = f"-> {target}"
            key = None
        elif ": " in line or line.endswith(":"):
            name, _, value = line.partition(": ") if ": " in line else (line[:-1], "", "")
            key = name
            if value.startswith("(binary"):
                current[name] = b""
            elif value.startswith("(not readable"):
                current[name] = "(mode 200)"
            else:
                current[name] = f"{value}\n" if value else ""
    return sections


def test_every_attribute_matches_the_linux_capture(capture: System) -> None:
    vfs = capture.vfs
    sections = parse_capture(CAPTURE.read_text())
    assert set(sections) == set(vfs.listdir(DEVICES))
    for entry, files in sections.items():
        base = f"{DEVICES}/{entry}"
        compared = 0
        for name, expected in files.items():
            if name.startswith(FOREIGN) or any(v in name for v in VARYING):
                continue
            path = f"{base}/{name}"
            if isinstance(expected, str) and expected.startswith("-> "):
                assert Path(vfs.readlink(path)).name == Path(expected[3:]).name, path
            elif expected == "(mode 200)":
                assert stat.S_IMODE(vfs.stat(path).mode) == 0o200, path
                with pytest.raises(PermissionError):
                    vfs.read(path)
            elif isinstance(expected, bytes):
                assert vfs.read(path) == expected, path
            else:
                assert vfs.read_text(path) == expected, path
            compared += 1
        assert compared > 10, entry
        # the files directly in the directory: none missing, none extra (absent-file rule)
        ours = {n for n in vfs.listdir(base) if not vfs.stat(f"{base}/{n}", follow=False).is_dir
                or n in ("driver", "subsystem", "port")}
        theirs = {n for n in files if "/" not in n and not n.startswith(FOREIGN)}
        assert ours == theirs, entry


def test_device_attributes_golden(capture: System) -> None:
    kbd = f"{DEVICES}/1-1"
    expected = {
        "idVendor": "0627\n", "idProduct": "0001\n", "bcdDevice": "0000\n",
        "bDeviceClass": "00\n", "bDeviceSubClass": "00\n", "bDeviceProtocol": "00\n",
        "bNumConfigurations": "1\n", "bMaxPacketSize0": "64\n", "version": " 2.00\n",
        "speed": "480\n", "busnum": "1\n", "devnum": "2\n", "devpath": "1\n",
        "maxchild": "0\n", "bNumInterfaces": " 1\n", "bConfigurationValue": "1\n",
        "bmAttributes": "a0\n", "bMaxPower": "100mA\n", "configuration": "HID Keyboard\n",
        "manufacturer": "QEMU\n", "product": "QEMU USB Keyboard\n",
        "serial": "68284-0000:00:02.0-1\n", "quirks": "0x0\n", "avoid_reset_quirk": "0\n",
        "authorized": "1\n", "ltm_capable": "no\n", "rx_lanes": "1\n", "tx_lanes": "1\n",
        "removable": "unknown\n", "dev": "189:1\n",
        "uevent": "MAJOR=189\nMINOR=1\nDEVNAME=bus/usb/001/002\nDEVTYPE=usb_device\n"
                  "DRIVER=usb\nPRODUCT=627/1/0\nTYPE=0/0/0\nBUSNUM=001\nDEVNUM=002\n",
    }
    for name, value in expected.items():
        assert read(capture, f"{kbd}/{name}") == value, name
    assert capture.vfs.read(f"{kbd}/descriptors") == capture_descriptors("KEYBOARD")
    root = f"{DEVICES}/usb1"
    assert read(capture, f"{root}/configuration") == ""   # exists, root hub has no string
    assert read(capture, f"{root}/authorized_default") == "1\n"
    assert read(capture, f"{root}/interface_authorized_default") == "1\n"
    assert read(capture, f"{root}/bcdDevice") == "0612\n"
    assert read(capture, f"{root}/manufacturer") == "Linux 6.12.117+deb12-amd64 ehci_hcd\n"
    assert not capture.vfs.exists(f"{kbd}/authorized_default")
    assert not capture.vfs.exists(f"{root}/port")
    assert capture.vfs.readlink(f"{kbd}/port") == "../1-0:1.0/usb1-port1"
    assert capture.vfs.readlink(f"{kbd}/driver") == "../../../../../bus/usb/drivers/usb"


def capture_descriptors(name: str) -> bytes:
    from usbemu_tests_capture_machine import KEYBOARD, STORAGE  # type: ignore[import-not-found]

    return {"KEYBOARD": KEYBOARD, "STORAGE": STORAGE}[name]  # type: ignore[no-any-return]


def test_interface_and_endpoint_attributes_golden(capture: System) -> None:
    intf = f"{DEVICES}/1-2:1.0"
    for name, value in {"bInterfaceNumber": "00\n", "bAlternateSetting": " 0\n",
                        "bNumEndpoints": "02\n", "bInterfaceClass": "08\n",
                        "bInterfaceSubClass": "06\n", "bInterfaceProtocol": "50\n",
                        "supports_autosuspend": "1\n", "authorized": "1\n",
                        "modalias": "usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00\n",
                        "uevent": "DEVTYPE=usb_interface\nDRIVER=usb-storage\n"
                                  "PRODUCT=46f4/1/0\nTYPE=0/0/0\nINTERFACE=8/6/80\nMODALIAS="
                                  "usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00\n"}.items():
        assert read(capture, f"{intf}/{name}") == value, name
    for name in ("interface", "iad_bFirstInterface", "iad_bInterfaceCount"):
        assert not capture.vfs.exists(f"{intf}/{name}"), name
    ep = f"{intf}/ep_02"
    assert {n: read(capture, f"{ep}/{n}") for n in capture.vfs.listdir(ep)} == {
        "bEndpointAddress": "02\n", "bInterval": "00\n", "bLength": "07\n",
        "bmAttributes": "02\n", "direction": "out\n", "interval": "0ms\n", "type": "Bulk\n",
        "uevent": "", "wMaxPacketSize": "0200\n"}
    hub_ep = f"{DEVICES}/1-0:1.0/ep_81"
    assert read(capture, f"{hub_ep}/interval") == "256ms\n"
    assert read(capture, f"{hub_ep}/bInterval") == "0c\n"
    ep0 = f"{DEVICES}/usb1/ep_00"
    assert read(capture, f"{ep0}/type") + read(capture, f"{ep0}/direction") == "Control\nboth\n"


def test_port_directories(capture: System) -> None:
    hub = f"{DEVICES}/1-0:1.0"
    ports = [n for n in capture.vfs.listdir(hub) if n.startswith("usb1-port")]
    assert ports == [f"usb1-port{i}" for i in range(1, 7)]
    port = f"{hub}/usb1-port2"
    assert {n: read(capture, f"{port}/{n}") for n in capture.vfs.listdir(port)
            if n != "device"} == {
        "connect_type": "unknown\n", "disable": "0\n", "early_stop": "no\n",
        "location": "0x00000000\n", "over_current_count": "0\n", "quirks": "00000000\n",
        "state": "configured\n", "uevent": ""}
    assert capture.vfs.readlink(f"{port}/device") == "../../1-2"
    assert read(capture, f"{port}/device/devnum") == "3\n"
    assert read(capture, f"{hub}/usb1-port3/state") == "not attached\n"
    assert not capture.vfs.exists(f"{hub}/usb1-port3/device")
    write(capture, f"{port}/early_stop", "yes")
    write(capture, f"{port}/quirks", "0x1f")
    assert read(capture, f"{port}/early_stop") + read(capture, f"{port}/quirks") == \
        "yes\n0000001f\n"
    assert write_error(capture, f"{port}/quirks", "zz") == errno.EINVAL
    assert write_error(capture, f"{port}/early_stop", "maybe") == errno.EINVAL


def test_port_disable_switches_the_port_off_and_on(capture: System) -> None:
    port = f"{DEVICES}/1-0:1.0/usb1-port2"
    write(capture, f"{port}/disable", "1")
    capture.settle()
    assert read(capture, f"{port}/disable") == "1\n"
    assert not capture.vfs.exists(f"{DEVICES}/1-2")
    assert read(capture, f"{port}/state") == "not attached\n"
    write(capture, f"{port}/disable", "0")
    assert read(capture, f"{port}/disable") == "0\n"
    assert write_error(capture, f"{port}/disable", "perhaps") == errno.EINVAL


# -- empty and absent files -----------------------------------------------------------------------


def test_unconfigured_device_has_empty_configuration_files(capture: System) -> None:
    kbd = f"{DEVICES}/1-1"
    assert write(capture, f"{kbd}/bConfigurationValue", "0\n") == 2
    for name in ("bConfigurationValue", "bNumInterfaces", "bmAttributes", "bMaxPower",
                 "configuration"):
        assert capture.vfs.read(f"{kbd}/{name}") == b"", name
    assert not capture.vfs.exists(f"{DEVICES}/1-1:1.0")
    assert "1-1:1.0" not in capture.vfs.listdir(kbd)
    assert write(capture, f"{kbd}/bConfigurationValue", "1") == 1
    assert read(capture, f"{kbd}/bNumInterfaces") == " 1\n"
    assert read(capture, f"{DEVICES}/1-1:1.0/uevent").count("DRIVER=usbhid") == 1


@pytest.mark.parametrize("value", ["2", "256", "-2", "abc", ""])
def test_bconfigurationvalue_errors(capture: System, value: str) -> None:
    assert write_error(capture, f"{DEVICES}/1-1/bConfigurationValue", value) == errno.EINVAL
    assert read(capture, f"{DEVICES}/1-1/bConfigurationValue") == "1\n"


def test_bconfigurationvalue_minus_one_unconfigures(capture: System) -> None:
    write(capture, f"{DEVICES}/1-2/bConfigurationValue", "-1")
    assert read(capture, f"{DEVICES}/1-2/bConfigurationValue") == ""


def test_strings_the_device_does_not_have_are_absent() -> None:
    from usbemu_tests_capture_machine import KEYBOARD  # type: ignore[import-not-found]

    with System() as system:
        system.add_controller()
        system.plug(ClonedDevice(KEYBOARD, {}), "1-1")
        system.settle()
        names = system.vfs.listdir(f"{DEVICES}/1-1")
        for name in ("manufacturer", "product", "serial", "bos_descriptors"):
            assert name not in names
        assert read(system, f"{DEVICES}/1-1/configuration") == ""
        assert read(system, f"{DEVICES}/1-1/idVendor") == "0627\n"


def iad_model() -> DeviceModel:
    """A full-speed composite device: an IAD over interfaces 0-1, iInterface strings,
    interface 1 with two altsettings, an interrupt endpoint polled every 10 frames."""
    iad = InterfaceAssociation(2, 0x02, 0x02, 0x01, iFunction="Serial")
    comm = InterfaceDescriptor(0x02, 0x02, 0x01, (EndpointDescriptor.interrupt(0x83, 16, 10),),
                               iInterface="Control", association=iad)
    data0 = InterfaceDescriptor(0x0A, 0, 0, ())
    data1 = InterfaceDescriptor(0x0A, 0, 0, (EndpointDescriptor.bulk(0x81, 64),
                                             EndpointDescriptor.bulk(0x02, 64)),
                                bAlternateSetting=1, iInterface="Data")
    config = ConfigDescriptor(interfaces=(comm, data0, data1), bMaxPower=50)
    return DeviceModel(DeviceDescriptor(0x1234, 0x5678, bcdUSB=0x0110, bDeviceClass=0xEF,
                                        bDeviceSubClass=2, bDeviceProtocol=1,
                                        configurations=(config,)), speed=Speed.FULL)


def test_interface_string_and_iad_attributes() -> None:
    with System() as system:
        system.add_controller()
        system.plug(iad_model(), "1-3")
        system.settle()
        comm, data = f"{DEVICES}/1-3:1.0", f"{DEVICES}/1-3:1.1"
        assert read(system, f"{comm}/interface") == "Control\n"
        assert not system.vfs.exists(f"{data}/interface")  # altsetting 0 has no string
        for intf in (comm, data):
            assert {n: read(system, f"{intf}/{n}") for n in system.vfs.listdir(intf)
                    if n.startswith("iad_")} == {
                "iad_bFirstInterface": "00\n", "iad_bInterfaceCount": "02\n",
                "iad_bFunctionClass": "02\n", "iad_bFunctionSubClass": "02\n",
                "iad_bFunctionProtocol": "01\n"}
        assert read(system, f"{comm}/ep_83/interval") == "10ms\n"
        assert read(system, f"{DEVICES}/1-3/speed") == "12\n"
        assert read(system, f"{DEVICES}/1-3/version") == " 1.10\n"
        assert read(system, f"{DEVICES}/1-3/bMaxPower") == "100mA\n"
        assert [n for n in system.vfs.listdir(data) if n.startswith("ep_")] == []
        # SET_INTERFACE: the files follow the current altsetting
        from usbemu.core.message import usb_set_interface

        udev = system.find_device("1-3")
        assert udev is not None
        assert system.run(usb_set_interface(udev, 1, 1)) == 0
        assert read(system, f"{data}/bAlternateSetting") == " 1\n"
        assert read(system, f"{data}/bNumEndpoints") == "02\n"
        assert [n for n in system.vfs.listdir(data) if n.startswith("ep_")] == \
            ["ep_02", "ep_81"]


# -- interval formatting ----------------------------------------------------------------------


@pytest.mark.parametrize(("desc", "speed", "text"), [
    (EndpointDescriptor.bulk(0x81, 64), Speed.FULL, "0ms"),
    (EndpointDescriptor.bulk(0x81, 512, bInterval=4), Speed.HIGH, "0ms"),
    (EndpointDescriptor.bulk(0x02, 512, bInterval=4), Speed.HIGH, "500us"),
    (EndpointDescriptor.interrupt(0x81, 8, 1), Speed.HIGH, "125us"),
    (EndpointDescriptor.interrupt(0x81, 8, 4), Speed.HIGH, "1ms"),
    (EndpointDescriptor.interrupt(0x81, 8, 7), Speed.HIGH, "8ms"),
    (EndpointDescriptor.interrupt(0x81, 8, 10), Speed.FULL, "10ms"),
    (EndpointDescriptor.interrupt(0x81, 8, 10), Speed.LOW, "10ms"),
    (EndpointDescriptor.isochronous(0x81, 1023, 1), Speed.FULL, "1ms"),
    (EndpointDescriptor.isochronous(0x81, 1024, 1), Speed.HIGH, "125us"),
    (EndpointDescriptor(0x00, 0, 64, 3), Speed.HIGH, "375us"),
    (EndpointDescriptor(0x00, 0, 64, 3), Speed.FULL, "0ms"),
    # bInterval 0: 1 << -1 is 1 << 31 on x86, times 125 wraps, printed with %d
    (EndpointDescriptor.interrupt(0x81, 8, 0), Speed.HIGH, "-2147483648us"),
])
def test_interval(desc: EndpointDescriptor, speed: Speed, text: str) -> None:
    assert interval_text(desc, speed) == text


def test_decode_interval_wraps_like_the_kernel() -> None:
    # bInterval 0 on a high-speed interrupt endpoint: 1 << (-1 & 31), times 125, mod 2^32
    desc = EndpointDescriptor.interrupt(0x81, 8, 0)
    assert decode_interval(desc, Speed.HIGH) == (1 << 31) * 125 % (1 << 32)


def test_kstrtobool() -> None:
    for text, value in ((b"1", True), (b"y\n", True), (b"Yes", True), (b"on", True),
                        (b"0", False), (b"no", False), (b"off", False), (b"F", False),
                        (b"", None), (b"o", None), (b"2", None), (b"maybe", None)):
        assert kstrtobool(text) is value, text


# -- writable device files -------------------------------------------------------------------


def test_authorized(capture: System) -> None:
    kbd = f"{DEVICES}/1-1"
    capture.log.clear()
    write(capture, f"{kbd}/authorized", "0")
    assert read(capture, f"{kbd}/authorized") == "0\n"
    assert read(capture, f"{kbd}/bConfigurationValue") == ""
    write(capture, f"{kbd}/authorized", "1")
    assert read(capture, f"{kbd}/authorized") == "1\n"
    assert read(capture, f"{kbd}/bConfigurationValue") == "1\n"
    assert "usb 1-1: authorized to connect" in capture.dmesg()
    assert write_error(capture, f"{kbd}/authorized", "x") == errno.EINVAL


def test_interface_authorized(capture: System) -> None:
    intf = f"{DEVICES}/1-1:1.0"
    write(capture, f"{intf}/authorized", "0")
    assert read(capture, f"{intf}/authorized") == "0\n"
    assert not capture.vfs.exists(f"{intf}/driver")
    assert write_error(capture, "/sys/bus/usb/drivers/usbhid/bind", "1-1:1.0") == errno.ENODEV
    write(capture, f"{intf}/authorized", "1")
    assert not capture.vfs.exists(f"{intf}/driver")        # no rebind, as in Linux
    write(capture, "/sys/bus/usb/drivers/usbhid/bind", "1-1:1.0")
    assert capture.vfs.readlink(f"{intf}/driver").endswith("/drivers/usbhid")


def test_avoid_reset_quirk(capture: System) -> None:
    kbd = f"{DEVICES}/1-1"
    write(capture, f"{kbd}/avoid_reset_quirk", "y")
    assert read(capture, f"{kbd}/avoid_reset_quirk") == "1\n"
    assert read(capture, f"{kbd}/quirks") == "0x10\n"
    write(capture, f"{kbd}/avoid_reset_quirk", "0")
    assert read(capture, f"{kbd}/quirks") == "0x0\n"
    assert write_error(capture, f"{kbd}/avoid_reset_quirk", "x") == errno.EINVAL


def test_remove_disconnects_the_device_for_good(capture: System) -> None:
    assert write(capture, f"{DEVICES}/1-2/remove", "1\n") == 2
    capture.settle()
    assert not capture.vfs.exists(f"{DEVICES}/1-2")
    assert "1-2" not in capture.vfs.listdir(DEVICES)
    assert read(capture, f"{DEVICES}/1-0:1.0/usb1-port2/state") == "not attached\n"
    capture.sleep(2000)
    capture.settle()
    assert not capture.vfs.exists(f"{DEVICES}/1-2")   # the port is not re-enumerated


def test_remove_of_a_root_hub_unconfigures_it_and_fails(capture: System) -> None:
    assert write_error(capture, f"{DEVICES}/usb1/remove", "1") == errno.EINVAL
    capture.settle()
    assert read(capture, f"{DEVICES}/usb1/bConfigurationValue") == ""
    assert capture.vfs.listdir(DEVICES) == ["usb1"]


def test_uevent_write_reannounces(capture: System) -> None:
    events = []
    capture.driver_core.listeners.append(events.append)
    write(capture, f"{DEVICES}/1-1:1.0/uevent", "add")
    assert [(e.action, e.get("MODALIAS")) for e in events] == [
        ("add", "usb:v0627p0001d0000dc00dsc00dp00ic03isc01ip01in00")]
    assert write_error(capture, f"{DEVICES}/1-1/uevent", "explode") == errno.EINVAL
    write(capture, f"{DEVICES}/1-0:1.0/ep_81/../usb1-port1/uevent", "change")
    write(capture, "/sys/bus/usb/drivers/usbhid/uevent", "change")
    assert events[-1].devpath == "/bus/usb/drivers/usbhid"


# -- /sys/bus/usb ---------------------------------------------------------------------------


def test_bus_devices_links(capture: System) -> None:
    vfs = capture.vfs
    assert vfs.listdir(DEVICES) == ["1-0:1.0", "1-1", "1-1:1.0", "1-2", "1-2:1.0", "usb1"]
    assert vfs.readlink(f"{DEVICES}/1-1:1.0") == \
        "../../../devices/pci0000:00/0000:00:02.0/usb1/1-1/1-1:1.0"
    assert vfs.resolve(f"{DEVICES}/usb1")[0] == "/sys/devices/pci0000:00/0000:00:02.0/usb1"
    assert vfs.readlink(f"{DEVICES}/usb1/../driver") == "../../../bus/pci/drivers/ehci-pci"
    assert vfs.listdir("/sys/bus/pci/drivers/ehci-pci") == ["0000:00:02.0"]
    assert vfs.resolve("/sys/bus/usb/devices/usb1/subsystem")[0] == "/sys/bus/usb"


def test_walking_sys_terminates(capture: System) -> None:
    dirs = [path for path, _, _ in capture.vfs.walk("/sys")]
    assert len(dirs) == len(set(dirs))
    assert "/sys/devices/pci0000:00/0000:00:02.0/usb1/1-1/1-1:1.0/ep_81" in dirs
    assert not any(p.startswith("/sys/bus/usb/devices/") for p in dirs)


def test_driver_directories(capture: System) -> None:
    drivers = "/sys/bus/usb/drivers"
    assert capture.vfs.listdir(drivers) == ["hub", "usb", "usb-storage", "usbfs", "usbhid"]
    # usbcore's own drivers have a module link when usbcore is a module with a name
    module = ["module"] if getattr(capture.usb.bus_type.drivers[0].owner, "name", None) else []
    assert capture.vfs.listdir(f"{drivers}/usb") == ["1-1", "1-2", "bind", *module, "uevent",
                                                    "unbind", "usb1"]
    assert capture.vfs.listdir(f"{drivers}/usbfs") == ["bind", *module, "uevent", "unbind"]
    assert capture.vfs.listdir(f"{drivers}/usbhid") == ["1-1:1.0", "bind", "new_id",
                                                       "remove_id", "uevent", "unbind"]
    assert capture.vfs.readlink(f"{drivers}/usbhid/1-1:1.0") == \
        "../../../../devices/pci0000:00/0000:00:02.0/usb1/1-1/1-1:1.0"
    assert read(capture, f"{drivers}/hub/1-0:1.0/bInterfaceClass") == "09\n"
    for name in ("bind", "unbind", "uevent"):
        assert stat.S_IMODE(capture.vfs.stat(f"{drivers}/usbhid/{name}").mode) == 0o200
    assert stat.S_IMODE(capture.vfs.stat(f"{drivers}/usbhid/new_id").mode) == 0o644


class Owner:
    name = "pen_driver"


def test_module_link_and_suppressed_bind_attrs(capture: System) -> None:
    drv = UsbDriver("pen_driver", id_table=())
    drv.owner = Owner()
    quiet = UsbDriver("quiet", id_table=())
    quiet.suppress_bind_attrs = True
    capture.run(usb_register(capture.usb, drv))
    capture.run(usb_register(capture.usb, quiet))
    base = "/sys/bus/usb/drivers"
    assert capture.vfs.readlink(f"{base}/pen_driver/module") == "../../../../module/pen_driver"
    assert "module" not in capture.vfs.listdir(f"{base}/usbhid")
    assert capture.vfs.listdir(f"{base}/quiet") == ["uevent"]  # no probe: no new_id either


def test_bind_and_unbind(capture: System) -> None:
    drivers = "/sys/bus/usb/drivers"
    intf = f"{DEVICES}/1-1:1.0"
    assert write(capture, f"{drivers}/usbhid/unbind", "1-1:1.0\n") == 8
    assert not capture.vfs.exists(f"{intf}/driver")
    assert "DRIVER=" not in read(capture, f"{intf}/uevent")
    assert "1-1:1.0" not in capture.vfs.listdir(f"{drivers}/usbhid")
    assert write_error(capture, f"{drivers}/usbhid/unbind", "1-1:1.0") == errno.ENODEV
    assert write_error(capture, f"{drivers}/usb-storage/bind", "1-1:1.0") == errno.ENODEV
    assert write_error(capture, f"{drivers}/usbhid/bind", "9-9:1.0") == errno.ENODEV
    assert write_error(capture, f"{drivers}/usbhid/bind", "1-1") == errno.ENODEV
    assert write(capture, f"{drivers}/usbhid/bind", "1-1:1.0") == 7
    assert capture.vfs.readlink(f"{intf}/driver") == "../../../../../../bus/usb/drivers/usbhid"
    assert write_error(capture, f"{drivers}/usbhid/bind", "1-1:1.0") == errno.EBUSY
    # the generic device driver: unbinding it unconfigures the device
    write(capture, f"{drivers}/usb/unbind", "1-2")
    assert read(capture, f"{DEVICES}/1-2/bConfigurationValue") == ""
    write(capture, f"{drivers}/usb/bind", "1-2")
    assert read(capture, f"{DEVICES}/1-2/bConfigurationValue") == "1\n"
    assert capture.vfs.exists(f"{DEVICES}/1-2:1.0/driver")


class Failing(UsbDriver):
    async def probe(self, intf: object, id: UsbDeviceId) -> int:
        return -errno.EIO


def test_bind_returns_the_probe_error(capture: System) -> None:
    from usbemu.core.devtable import usb_device

    capture.run(usb_register(capture.usb, Failing("failing", id_table=(usb_device(0x0627, 1),))))
    write(capture, "/sys/bus/usb/drivers/usbhid/unbind", "1-1:1.0")
    assert write_error(capture, "/sys/bus/usb/drivers/failing/bind", "1-1:1.0") == errno.EIO


class Recorder(UsbDriver):
    def __init__(self) -> None:
        super().__init__("recorder", id_table=())
        self.ids: list[UsbDeviceId] = []

    async def probe(self, intf: object, id: UsbDeviceId) -> int:
        self.ids.append(id)
        return 0


@pytest.fixture
def recorder(capture: System) -> Iterator[Recorder]:
    drv = Recorder()
    capture.run(usb_register(capture.usb, drv))
    write(capture, "/sys/bus/usb/drivers/usbhid/unbind", "1-1:1.0")
    yield drv


def test_new_id_binds_at_once(capture: System, recorder: Recorder) -> None:
    base = "/sys/bus/usb/drivers/recorder"
    assert read(capture, f"{base}/new_id") == ""
    assert write(capture, f"{base}/new_id", "0627 0001\n") == 10
    assert [(i.idVendor, i.idProduct) for i in recorder.ids] == [(0x0627, 0x0001)]
    assert capture.vfs.readlink(f"{DEVICES}/1-1:1.0/driver").endswith("/recorder")
    assert read(capture, f"{base}/new_id") == "0627 0001\n"
    write(capture, f"{base}/new_id", "46f4 0001 08")
    assert read(capture, f"{base}/remove_id") == "0627 0001\n46f4 0001 08\n"
    write(capture, f"{base}/remove_id", "0627 0001")
    assert read(capture, f"{base}/new_id") == "46f4 0001 08\n"
    assert capture.vfs.exists(f"{DEVICES}/1-1:1.0/driver")   # stays bound


@pytest.mark.parametrize(("file", "data", "code"), [
    ("new_id", "0627", errno.EINVAL),
    ("new_id", "0627 0001 100", errno.EINVAL),
    ("new_id", "0627 0001 0 1234 5678", errno.ENODEV),
    ("remove_id", "0627", errno.EINVAL),
])
def test_dynamic_id_errors(capture: System, recorder: Recorder, file: str, data: str,
                           code: int) -> None:
    assert write_error(capture, f"/sys/bus/usb/drivers/recorder/{file}", data) == code


def test_drivers_without_dynamic_ids_have_no_new_id(capture: System) -> None:
    assert write_error(capture, "/sys/bus/usb/drivers/usbfs/new_id", "0627 0001") == \
        errno.ENOENT


def test_drivers_autoprobe_and_drivers_probe(capture: System) -> None:
    bus = "/sys/bus/usb"
    assert read(capture, f"{bus}/drivers_autoprobe") == "1\n"
    write(capture, f"{bus}/drivers_autoprobe", "0")
    assert read(capture, f"{bus}/drivers_autoprobe") == "0\n"
    assert capture.usb.bus_type.drivers_autoprobe is False
    write(capture, f"{bus}/drivers/usbhid/unbind", "1-1:1.0")
    assert write(capture, f"{bus}/drivers_probe", "1-1:1.0\n") == 8
    assert capture.vfs.readlink(f"{DEVICES}/1-1:1.0/driver").endswith("/usbhid")
    assert write_error(capture, f"{bus}/drivers_probe", "7-7") == errno.ENODEV
    write(capture, f"{bus}/drivers_autoprobe", "1")
    assert capture.usb.bus_type.drivers_autoprobe is True


def test_child_providers_add_entries(capture: System) -> None:
    from usbemu.kernel.vfs import Attr, StaticDir

    view = usb_sysfs(capture)
    view.child_providers.append(
        lambda dev: {"usbmisc": StaticDir({"pen0": StaticDir({"dev": Attr(lambda: "180:0\n")})})}
        if dev.name == "1-2:1.0" else {})
    assert read(capture, f"{DEVICES}/1-2:1.0/usbmisc/pen0/dev") == "180:0\n"
    assert not capture.vfs.exists(f"{DEVICES}/1-1:1.0/usbmisc")


def test_views_follow_hotplug() -> None:
    with System() as system:
        system.add_controller(nports=2)
        assert system.vfs.listdir(DEVICES) == ["1-0:1.0", "usb1"]
        system.plug(iad_model(), "1-1")
        system.settle()
        assert "1-1:1.1" in system.vfs.listdir(DEVICES)
        system.unplug("1-1")
        system.settle()
        assert system.vfs.listdir(DEVICES) == ["1-0:1.0", "usb1"]
        assert read(system, f"{DEVICES}/1-0:1.0/usb1-port1/state") == "not attached\n"


# -- runtime PM and wakeup attributes (drivers/base/power/sysfs.c, usb_probe_interface) -------


def _power(system: System, path: str, name: str) -> str:
    return system.vfs.read_text(f"/sys/bus/usb/devices/{path}/power/{name}")


def test_an_interface_has_runtime_pm_only_under_a_driver_that_autosuspends() -> None:
    from usbemu.emulated.models.hub import Hub
    from usbemu.emulated.models.pendrive import PenDrive
    from usbemu.emulated.models.serial import SerialConverter

    with System() as system:
        system.add_controller()
        system.plug(SerialConverter(), "1-1")         # no driver takes it
        system.plug(Hub(ports=4), "1-2")              # hub: supports_autosuspend
        system.insmod("pen_driver")                   # no supports_autosuspend
        system.plug(PenDrive(), "1-3")
        system.settle()
        assert (_power(system, "1-1:1.0", "runtime_enabled"),
                _power(system, "1-1:1.0", "runtime_status")) == ("disabled\n", "unsupported\n")
        assert (_power(system, "1-2:1.0", "runtime_enabled"),
                _power(system, "1-2:1.0", "runtime_status")) == ("enabled\n", "suspended\n")
        assert (_power(system, "1-3:1.0", "runtime_enabled"),
                _power(system, "1-3:1.0", "runtime_status")) == ("disabled\n", "unsupported\n")
        # the pen drive's interface is active under its driver: the device counts it
        assert _power(system, "1-3", "runtime_active_kids") == "1\n"


def test_the_hub_driver_sets_a_hubs_autosuspend_delay_to_zero() -> None:
    from usbemu.emulated.models.hub import Hub
    from usbemu.emulated.models.pendrive import PenDrive

    with System() as system:
        system.add_controller()
        system.plug(Hub(ports=4), "1-1")
        system.plug(PenDrive(), "1-2")
        system.settle()
        for path in ("usb1", "1-1"):
            assert _power(system, path, "autosuspend") == "0\n"
            assert _power(system, path, "autosuspend_delay_ms") == "0\n"
        assert _power(system, "1-2", "autosuspend") == "2\n"
        assert _power(system, "1-2", "autosuspend_delay_ms") == "2000\n"


def test_wakeup_counters_exist_only_while_wakeup_is_enabled() -> None:
    """usbhid enables remote wakeup on a boot keyboard (device_set_wakeup_enable): a
    wakeup source exists and its counters read 0; the root hub can wake but has it off,
    so its counters are empty lines."""
    from usbemu.emulated.models.keyboard import BootKeyboard

    with System() as system:
        system.add_controller()
        system.plug(BootKeyboard(), "1-1")
        system.settle()
        assert _power(system, "1-1", "wakeup") == "enabled\n"
        assert _power(system, "1-1", "wakeup_count") == "0\n"
        assert _power(system, "1-1", "wakeup_total_time_ms") == "0\n"
        assert _power(system, "usb1", "wakeup") == "disabled\n"
        assert _power(system, "usb1", "wakeup_count") == "\n"
