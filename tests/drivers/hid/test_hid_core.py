"""The HID core without USB (usbemu.drivers.hid.hid_core, hid_generic and the hid module):
devices added by a fake transport, named BBBB:VVVV:PPPP.NNNN across the machine, bound by
hid-generic with hid-core's connect line, their sysfs files and uevents, udev's autoload by
the hid modalias, driver matching by id tables and groups, lying descriptors refused at
probe while the device stays on the bus; report processing — field extraction with sign
extension, variables and arrays, numbered and short reports, the driver hooks — and output
reports.  Virtual time throughout."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from usbemu_tests_hid_fakes import (
    MI_DONGLE_MOUSE,
    QEMU_KEYBOARD,
    QEMU_MOUSE,
    QEMU_TABLET,
    VENDOR_DEVICE,
    FakeHidInput,
    FakeTransport,
    add_device,
)

from usbemu.drivers.hid import hid_generic as generic_code
from usbemu.drivers.hid.hid_core import (
    BUS_BLUETOOTH,
    BUS_USB,
    HID_ANY_ID,
    HID_BUS_ANY,
    HID_GROUP_ANY,
    HID_GROUP_GENERIC,
    HID_GROUP_MULTITOUCH,
    HID_GROUP_WACOM,
    HID_MAX_BUFFER_SIZE,
    HidClaimed,
    HidConnect,
    HidDevice,
    HidDeviceId,
    HidDriver,
    HidField,
    HidQuirk,
    HidReport,
    HidUsage,
    HidUsageId,
    ReportType,
    hid_add_device,
    hid_alloc_report_buf,
    hid_allocate_device,
    hid_compare_device_paths,
    hid_core_of,
    hid_destroy_device,
    hid_device,
    hid_device_io_start,
    hid_device_io_stop,
    hid_field_extract,
    hid_hw_close,
    hid_hw_open,
    hid_hw_output_report,
    hid_hw_raw_request,
    hid_hw_request,
    hid_hw_start,
    hid_hw_stop,
    hid_input_report,
    hid_output_report,
    hid_parse,
    hid_register_driver,
    hid_set_field,
    hid_snto32,
    hid_unregister_driver,
    hid_usb_device,
    hid_validate_values,
)
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.file2alias import alias_matches, hid_alias
from usbemu.kernel.printk import Level
from usbemu.spec.hid import HidRequest
from usbemu.system import System

INPUT, OUTPUT, FEATURE = ReportType.INPUT, ReportType.OUTPUT, ReportType.FEATURE
MOUSE_LINE = ("hid-generic 0003:0627:0001.0001: input,hidraw0: USB HID v1.11 Mouse "
              "[QEMU QEMU USB Mouse] on usb-0000:00:1d.7-1/input0")


def add(system: System, rdesc: bytes, **kwargs: Any) -> tuple[HidDevice, FakeTransport]:
    """add_device on the machine, then settle; hid_add_device must succeed."""
    hid, transport, ret = system.run(add_device(rdesc, **kwargs))
    assert ret == 0
    system.settle()
    return hid, transport


@pytest.fixture
def hidinput(generic_machine: System) -> FakeHidInput:
    fake = FakeHidInput()
    fake.install(generic_machine)
    return fake


# -- the hid module, the bus, names ------------------------------------------------------------


def test_the_hid_module(hid_machine: System) -> None:
    assert "hid: raw HID events driver (C) Jiri Kosina" in hid_machine.log.lines()
    assert hid_machine.vfs.listdir("/sys/bus/hid") == ["devices", "drivers",
                                                        "drivers_autoprobe", "drivers_probe",
                                                        "uevent"]
    assert sorted(hid_machine.modules.get("hid").params) == [  # type: ignore[union-attr]
        "debug", "ignore_special_drivers"]
    hid_machine.modprobe("hid_generic")
    assert hid_machine.vfs.listdir("/sys/bus/hid/drivers") == ["hid-generic"]
    assert hid_machine.vfs.readlink("/sys/bus/hid/drivers/hid-generic/module") \
        == "../../../../module/hid_generic"
    with pytest.raises(ModuleError, match="Module hid is in use by: hid_generic"):
        hid_machine.rmmod("hid")
    hid_machine.rmmod("hid_generic")
    hid_machine.rmmod("hid")
    assert "hid" not in hid_machine.vfs.listdir("/sys/bus")
    assert "hidraw" not in hid_machine.vfs.listdir("/sys/class")


def test_debug_parameter_notice() -> None:
    with System() as system:
        system.modprobe("hid", debug=1)
        assert system.log.lines(Level.WARNING)[-2:] == [
            "hid: hid_debug is now used solely for parser and driver debugging.",
            "debugfs is now used for inspecting the device (report descriptor, reports)"]


def test_hid_generic_binds_with_the_connect_line(generic_machine: System,
                                                 hidinput: FakeHidInput) -> None:
    hid, transport = add(generic_machine, QEMU_MOUSE)
    assert hid.name == "0003:0627:0001.0001" and hid.id == 1
    assert hid.driver is generic_code_driver(generic_machine)
    assert hid.claimed == HidClaimed.INPUT | HidClaimed.HIDRAW
    assert hid.quirks & HidQuirk.INPUT_PER_APP
    assert transport.calls == ["parse", "start"]
    assert hidinput.connected == [hid.name]
    assert generic_machine.log.lines()[-1] == MOUSE_LINE


def generic_code_driver(system: System) -> HidDriver:
    """The hid-generic driver of the module copy loaded on `system`."""
    module = system.modules.get("hid_generic")
    assert module is not None and module.pymodule is not None
    driver: HidDriver = module.pymodule.hid_generic
    return driver


@pytest.mark.parametrize(("rdesc", "kwargs", "line"), [
    (QEMU_KEYBOARD, {"name": "QEMU QEMU USB Keyboard"},
     "input,hidraw0: USB HID v1.11 Keyboard [QEMU QEMU USB Keyboard] on "
     "usb-0000:00:1d.7-1/input0"),
    (QEMU_TABLET, {"version": 0x0001, "name": "QEMU QEMU USB Tablet", "product": 0x0001},
     "input,hidraw0: USB HID v0.01 Mouse [QEMU QEMU USB Tablet] on usb-0000:00:1d.7-1/input0"),
    (VENDOR_DEVICE, {"name": "Acme Gizmo"},
     "input,hidraw0: USB HID v1.11 Device [Acme Gizmo] on usb-0000:00:1d.7-1/input0"),
    (QEMU_MOUSE, {"bustype": BUS_BLUETOOTH, "version": 0x0100},
     "input,hidraw0: BLUETOOTH HID v1.00 Mouse [QEMU QEMU USB Mouse] on "
     "usb-0000:00:1d.7-1/input0"),
    (QEMU_MOUSE, {"bustype": 0x19},
     "input,hidraw0: <UNKNOWN> HID v1.11 Mouse [QEMU QEMU USB Mouse] on "
     "usb-0000:00:1d.7-1/input0"),
])
def test_connect_line_types_and_buses(generic_machine: System, hidinput: FakeHidInput,
                                      rdesc: bytes, kwargs: dict[str, Any], line: str) -> None:
    hid, _ = add(generic_machine, rdesc, **kwargs)
    assert generic_machine.log.lines()[-1] == f"hid-generic {hid.name}: {line}"


def test_without_hid_input_only_hidraw_listens(generic_machine: System) -> None:
    hid_core_of(generic_machine.usb).hidinput = None
    hid, _ = add(generic_machine, QEMU_MOUSE)
    assert hid.claimed == HidClaimed.HIDRAW
    assert generic_machine.log.lines()[-1] == MOUSE_LINE.replace("input,hidraw0", "hidraw0")


def test_names_count_across_the_machine(generic_machine: System,
                                        hidinput: FakeHidInput) -> None:
    first, _ = add(generic_machine, QEMU_MOUSE)
    second, _ = add(generic_machine, QEMU_KEYBOARD, vendor=0x046D, product=0xC31C,
                    name="Logitech USB Keyboard")
    assert (first.name, second.name) == ("0003:0627:0001.0001", "0003:046D:C31C.0002")
    generic_machine.run(hid_destroy_device(first))
    third, _ = add(generic_machine, QEMU_MOUSE, bustype=BUS_BLUETOOTH)
    assert third.name == "0005:0627:0001.0003"
    assert generic_machine.vfs.listdir("/sys/bus/hid/devices") == [
        "0003:046D:C31C.0002", "0005:0627:0001.0003"]


def test_the_counter_starts_over_with_the_module(generic_machine: System) -> None:
    hid, _ = add(generic_machine, QEMU_MOUSE)
    generic_machine.run(hid_destroy_device(hid))
    generic_machine.rmmod("hid_generic")
    generic_machine.rmmod("hid")
    generic_machine.modprobe("hid")
    hid, _ = add(generic_machine, QEMU_MOUSE)
    assert hid.name == "0003:0627:0001.0001"


# -- sysfs and uevents ----------------------------------------------------------------------------


def test_sysfs_files_of_a_bound_device(generic_machine: System, hidinput: FakeHidInput) -> None:
    hid, _ = add(generic_machine, QEMU_MOUSE, uniq="4A2B", country=0x21)
    base = f"/sys/bus/hid/devices/{hid.name}"
    vfs = generic_machine.vfs
    assert vfs.readlink(base) == f"../../../devices/{hid.name}"
    assert vfs.listdir(base) == ["country", "driver", "hidraw", "modalias",
                                 "report_descriptor", "subsystem", "uevent"]
    assert vfs.read_text(f"{base}/modalias") == "hid:b0003g0001v00000627p00000001\n"
    assert vfs.read(f"{base}/report_descriptor") == QEMU_MOUSE
    assert vfs.read_text(f"{base}/country") == "21\n"
    assert vfs.read_text(f"{base}/uevent") == (
        "DRIVER=hid-generic\n"
        "HID_ID=0003:00000627:00000001\n"
        "HID_NAME=QEMU QEMU USB Mouse\n"
        "HID_PHYS=usb-0000:00:1d.7-1/input0\n"
        "HID_UNIQ=4A2B\n"
        "MODALIAS=hid:b0003g0001v00000627p00000001\n")
    assert vfs.readlink(f"{base}/driver") == "../../bus/hid/drivers/hid-generic"
    assert vfs.readlink(f"{base}/subsystem") == "../../bus/hid"


def test_the_real_keyboard_of_the_reference_capture(generic_machine: System,
                                                    hidinput: FakeHidInput) -> None:
    # Linux 6.12 with QEMU's usb-kbd on EHCI port 1 (reference/linux-6.12-ehci-kbd-storage)
    hid, _ = add(generic_machine, QEMU_KEYBOARD, name="QEMU QEMU USB Keyboard",
                 phys="usb-0000:00:02.0-1/input0", uniq="68284-0000:00:02.0-1")
    base = f"/sys/bus/hid/devices/{hid.name}"
    vfs = generic_machine.vfs
    assert hid.name == "0003:0627:0001.0001"
    assert generic_machine.log.lines()[-1] == (
        "hid-generic 0003:0627:0001.0001: input,hidraw0: USB HID v1.11 Keyboard "
        "[QEMU QEMU USB Keyboard] on usb-0000:00:02.0-1/input0")
    assert vfs.read_text(f"{base}/country") == "00\n"
    assert vfs.read_text(f"{base}/modalias") == "hid:b0003g0001v00000627p00000001\n"
    assert vfs.read(f"{base}/report_descriptor").hex(" ") == (
        "05 01 09 06 a1 01 75 01 95 08 05 07 19 e0 29 e7 "
        "15 00 25 01 81 02 95 01 75 08 81 01 95 05 75 01 "
        "05 08 19 01 29 05 91 02 95 01 75 03 91 01 95 06 "
        "75 08 15 00 25 ff 05 07 19 00 29 ff 81 00 c0")
    assert vfs.read_text(f"{base}/uevent") == (
        "DRIVER=hid-generic\n"
        "HID_ID=0003:00000627:00000001\n"
        "HID_NAME=QEMU QEMU USB Keyboard\n"
        "HID_PHYS=usb-0000:00:02.0-1/input0\n"
        "HID_UNIQ=68284-0000:00:02.0-1\n"
        "MODALIAS=hid:b0003g0001v00000627p00000001\n")


def test_unbound_device_has_no_country_and_an_empty_descriptor(hid_machine: System) -> None:
    hid, _ = add(hid_machine, QEMU_MOUSE)
    base = f"/sys/bus/hid/devices/{hid.name}"
    assert hid.driver is None
    assert hid_machine.vfs.listdir(base) == ["modalias", "report_descriptor", "subsystem",
                                             "uevent"]
    assert hid_machine.vfs.read(f"{base}/report_descriptor") == b""
    assert hid.dev_rdesc == QEMU_MOUSE


def test_uevents_and_the_parent_path(generic_machine: System, hidinput: FakeHidInput) -> None:
    events: list[tuple[str, str, str | None]] = []
    generic_machine.driver_core.listeners.append(
        lambda e: events.append((e.action, e.devpath, e.get("MODALIAS"))))
    hid, _ = add(generic_machine, QEMU_MOUSE)
    hid_events = [e for e in events if e[1] == f"/devices/{hid.name}"]
    assert hid_events == [("add", f"/devices/{hid.name}", "hid:b0003g0001v00000627p00000001"),
                          ("bind", f"/devices/{hid.name}", "hid:b0003g0001v00000627p00000001")]
    generic_machine.run(hid_destroy_device(hid))
    assert [e[0] for e in events if e[1] == f"/devices/{hid.name}"][2:] == ["unbind", "remove"]


def test_udev_autoloads_hid_generic_by_the_modalias() -> None:
    with System() as system:
        system.modprobe("hid")
        assert system.modules.get("hid_generic") is None
        hid, _ = add(system, QEMU_MOUSE)
        assert system.modules.get("hid_generic") is not None
        assert hid.driver is not None and hid.driver.name == "hid-generic"
        assert "alias hid:b*g*v*p* hid_generic\n" in system.vfs.read_text(
            f"/lib/modules/{system.usb.uname.release}/modules.alias")


def test_hid_aliases() -> None:
    assert hid_alias(hid_device(HID_BUS_ANY, HID_GROUP_ANY, HID_ANY_ID, HID_ANY_ID)) \
        == "hid:b*g*v*p*"
    assert hid_alias(hid_usb_device(0x046D, 0xC52B)) == "hid:b0003g*v0000046Dp0000C52B"
    assert hid_alias(hid_device(BUS_USB, HID_GROUP_WACOM, 0x056A, HID_ANY_ID)) \
        == "hid:b0003g0101v0000056Ap*"
    assert alias_matches("hid:b*g*v*p*", "hid:b0003g0001v00000627p00000001")
    assert generic_code.hid_table[-1] == HidDeviceId()


# -- groups and driver matching -------------------------------------------------------------------


MULTITOUCH = bytes((0x05, 0x0D, 0x09, 0x04, 0xA1, 0x01, 0x09, 0x51, 0x75, 0x08, 0x95, 0x01,
                    0x81, 0x02, 0xC0))


@pytest.mark.parametrize(("rdesc", "vendor", "group"), [
    (QEMU_MOUSE, 0x0627, HID_GROUP_GENERIC),
    (MULTITOUCH, 0x0627, HID_GROUP_MULTITOUCH),
    (QEMU_MOUSE, 0x056A, HID_GROUP_WACOM),
])
def test_scan_sets_the_group(hid_machine: System, rdesc: bytes, vendor: int,
                             group: int) -> None:
    hid, _ = add(hid_machine, rdesc, vendor=vendor)
    assert hid.group == group
    assert hid.modalias == f"hid:b0003g{group:04X}v{vendor:08X}p00000001"


def test_a_specific_driver_takes_the_device_from_hid_generic(generic_machine: System,
                                                             hidinput: FakeHidInput) -> None:
    hid, _ = add(generic_machine, QEMU_MOUSE)
    probed: list[str] = []

    async def probe(hdev: HidDevice, id: HidDeviceId) -> int:
        probed.append(hdev.name)
        ret = hid_parse(hdev)
        return ret or await hid_hw_start(hdev, HidConnect.HIDRAW)

    special = HidDriver("hid-qemu", [hid_usb_device(0x0627, 0x0001)], probe=probe)
    assert generic_machine.run(hid_register_driver(special)) == 0
    assert hid.driver is special and probed == [hid.name]
    assert hidinput.connected == []
    generic_machine.run(hid_unregister_driver(special))
    assert hid.driver is generic_code_driver(generic_machine)
    assert hidinput.connected == [hid.name]


def test_ignore_special_drivers(generic_machine: System, hidinput: FakeHidInput) -> None:
    special = HidDriver("hid-qemu", [hid_usb_device(0x0627, 0x0001)])
    generic_machine.run(hid_register_driver(special))
    hid, _ = add(generic_machine, QEMU_MOUSE)
    assert hid.driver is special          # the default probe: hid_parse + hid_hw_start
    assert hid.claimed == HidClaimed.INPUT | HidClaimed.HIDRAW
    generic_machine.run(hid_destroy_device(hid))
    generic_machine.run(generic_machine.vfs.write(
        "/sys/module/hid/parameters/ignore_special_drivers", b"1"))
    hid, _ = add(generic_machine, QEMU_MOUSE, vendor=0x056A)
    assert hid.group == HID_GROUP_GENERIC     # not scanned: the generic group
    assert hid.driver is generic_code_driver(generic_machine)


def test_a_driver_name_is_taken_once(generic_machine: System) -> None:
    assert generic_machine.run(hid_register_driver(HidDriver("hid-generic"))) == -Errno.EBUSY


# -- lying descriptors and failing transports ------------------------------------------------------


def test_a_lying_descriptor_leaves_the_device_unbound(generic_machine: System) -> None:
    rdesc = bytes((0x05, 0x01, 0x09, 0x02, 0xA1, 0x01, 0x76, 0x2C, 0x01, 0x81, 0x02, 0xC0))
    generic_machine.log.clear()
    hid, transport = add(generic_machine, rdesc)
    name = hid.name
    assert generic_machine.log.lines() == [
        "hid (null): invalid report_size 300",
        f"hid-generic {name}: invalid report_size 300",
        f"hid-generic {name}: item 0 2 1 7 parsing failed",
        f"hid-generic {name}: probe with driver hid-generic failed with error -22",
    ]
    assert hid.driver is None and hid.registered and transport.calls == ["parse"]
    assert generic_machine.vfs.listdir(f"/sys/bus/hid/devices/{name}") == [
        "modalias", "report_descriptor", "subsystem", "uevent"]
    assert not generic_machine.vfs.exists("/dev/hidraw0")


def test_hid_add_device_refusals(hid_machine: System) -> None:
    async def refused() -> list[int]:
        failing = FakeTransport(QEMU_MOUSE, parse_error=-Errno.EIO)
        _, _, parse_failed = await add_device(QEMU_MOUSE, transport=failing)
        hid, _, _ = await add_device(QEMU_MOUSE)
        again = await hid_add_device(hid)
        bare = hid_allocate_device()
        bare.ll_driver = replace(FakeTransport(QEMU_MOUSE).ll(), raw_request=None)
        return [parse_failed, again, await hid_add_device(bare)]

    hid_machine.log.clear()
    assert hid_machine.run(refused()) == [-Errno.EIO, -Errno.EBUSY, -Errno.EINVAL]
    assert hid_machine.log.lines() == ["hid (null): transport driver missing .raw_request()"]


def test_a_quirk_ignores_the_device(hid_machine: System) -> None:
    async def ignored() -> int:
        hid = hid_allocate_device()
        hid.ll_driver = FakeTransport(QEMU_MOUSE).ll()
        hid.initial_quirks = HidQuirk.IGNORE
        return await hid_add_device(hid)

    assert hid_machine.run(ignored()) == -Errno.ENODEV


def test_no_listener_is_a_failed_probe(generic_machine: System) -> None:
    FakeHidInput(refuse=True).install(generic_machine)

    async def probe(hdev: HidDevice, id: HidDeviceId) -> int:
        return hid_parse(hdev) or await hid_hw_start(hdev, HidConnect.HIDINPUT)

    special = HidDriver("hid-input-only", [hid_usb_device(0x0627, 0x0001)], probe=probe)
    generic_machine.run(hid_register_driver(special))
    generic_machine.log.clear()
    hid, transport = add(generic_machine, QEMU_MOUSE)
    # (the -ENODEV of the probe itself is a debug message of the driver core)
    assert generic_machine.log.lines()[0] == \
        f"hid-input-only {hid.name}: device has no listeners, quitting"
    assert transport.calls[:3] == ["parse", "start", "stop"]
    # hid-generic gives way to a driver that matches, even one whose probe failed
    assert hid.driver is None


def test_a_transport_that_does_not_start(generic_machine: System) -> None:
    hid, transport = add(generic_machine, QEMU_MOUSE,
                         transport=FakeTransport(QEMU_MOUSE, start_error=-Errno.EIO))
    assert hid.driver is None and transport.calls == ["parse", "start"]
    assert generic_machine.log.lines()[-1] == (
        f"hid-generic {hid.name}: probe with driver hid-generic failed with error -5")


def test_destroy_stops_the_transport(generic_machine: System, hidinput: FakeHidInput) -> None:
    hid, transport = add(generic_machine, QEMU_MOUSE)
    generic_machine.run(hid_destroy_device(hid))
    assert transport.calls == ["parse", "start", "stop"]
    assert hidinput.connected == [] and hid.claimed == HidClaimed(0)
    assert not hid.registered and hid.dev_rdesc is None and hid.rdesc == b""
    assert not generic_machine.vfs.exists(f"/sys/bus/hid/devices/{hid.name}")


def test_hw_open_and_close_count_users(generic_machine: System) -> None:
    hid, transport = add(generic_machine, QEMU_MOUSE)

    async def users() -> None:
        assert await hid_hw_open(hid) == 0
        assert await hid_hw_open(hid) == 0
        await hid_hw_close(hid)
        assert transport.calls[-1] == "open"
        await hid_hw_close(hid)

    generic_machine.run(users())
    assert transport.calls[2:] == ["open", "close"]
    transport.open_error = -Errno.EIO
    assert generic_machine.run(hid_hw_open(hid)) == -Errno.EIO
    assert hid.ll_open_count == 0


# -- reports in ------------------------------------------------------------------------------------


def test_snto32_and_extract() -> None:
    assert [hid_snto32(v, n) for v, n in [(0x7F, 8), (0x80, 8), (0xFF, 8), (0x801, 12),
                                           (0x7FF, 12), (0x8000, 16), (0xFFFFFFFF, 32),
                                           (1, 1), (0, 12), (5, 0), (0x1F, 5)]] == [
        127, -128, -1, -2047, 2047, -32768, -1, -1, 0, 0, -1]
    report = bytes((0xA5, 0x3C, 0xFF, 0x01))
    assert hid_field_extract(None, report, 4, 12) == 0x3CA  # type: ignore[arg-type]
    assert hid_field_extract(None, report, 0, 32) == 0x01FF3CA5  # type: ignore[arg-type]
    assert hid_field_extract(None, report, 13, 3) == 0x1  # type: ignore[arg-type]


def test_mouse_report_values_and_events(generic_machine: System, hidinput: FakeHidInput) -> None:
    hid, _ = add(generic_machine, QEMU_MOUSE)
    report = bytes((0x01, 0xFF, 0x05, 0x81))
    assert hid_input_report(hid, INPUT, report, 4, 1) == 0
    buttons, axes = hid.report_enum[INPUT].report_list[0].field
    assert buttons.value[:5] == [1, 0, 0, 0, 0] and axes.value[:3] == [-1, 5, -127]
    assert hidinput.events == [(0x00090001, 1), (0x00090002, 0), (0x00090003, 0),
                               (0x00090004, 0), (0x00090005, 0),
                               (0x00010030, -1), (0x00010031, 5), (0x00010038, -127)]
    assert hidinput.reports == [0]


def test_events_come_in_priority_order(generic_machine: System) -> None:
    hidinput = FakeHidInput(priorities={0x00010038: 9, 0x00090002: 5})
    hidinput.install(generic_machine)
    hid, _ = add(generic_machine, QEMU_MOUSE)
    hid_input_report(hid, INPUT, bytes((0x02, 1, 2, 3)), 4, 1)
    assert [usage for usage, _ in hidinput.events] == [
        0x00010038, 0x00090002, 0x00090001, 0x00090003, 0x00090004, 0x00090005,
        0x00010030, 0x00010031]


def test_tablet_axes_are_unsigned_16_bit(generic_machine: System,
                                         hidinput: FakeHidInput) -> None:
    hid, _ = add(generic_machine, QEMU_TABLET)
    hid_input_report(hid, INPUT, bytes((0x00, 0xFF, 0x7F, 0x34, 0x12, 0xFE)), 6, 1)
    _, xy, wheel = hid.report_enum[INPUT].report_list[0].field
    assert xy.value[:2] == [0x7FFF, 0x1234] and wheel.value[:1] == [-2]


def test_keyboard_arrays_report_what_changed(generic_machine: System,
                                             hidinput: FakeHidInput) -> None:
    hid, _ = add(generic_machine, QEMU_KEYBOARD)

    def keys(*codes: int, mods: int = 0) -> list[tuple[int, int]]:
        hidinput.events.clear()
        data = bytes((mods, 0, *codes, *[0] * (6 - len(codes))))
        assert hid_input_report(hid, INPUT, data, 8, 1) == 0
        return [e for e in hidinput.events if e[0] < 0x000700E0]

    assert keys(0x04) == [(0x00070004, 1)]
    assert keys(0x04, 0x05) == [(0x00070005, 1)]
    assert keys(0x05) == [(0x00070004, 0)]
    assert keys(0x01, 0x01, 0x01, 0x01, 0x01, 0x01) == []      # ErrorRollOver: ignored
    assert hid.report_enum[INPUT].report_list[0].field[1].value[:6] == [5, 0, 0, 0, 0, 0]
    assert keys() == [(0x00070005, 0)]
    # six keys: each slot's old value (usage 0) leaves and its new key enters
    assert keys(4, 5, 6, 7, 8, 9) == [e for k in range(4, 10)
                                      for e in ((0x00070000, 0), (0x00070000 + k, 1))]
    hidinput.events.clear()
    hid_input_report(hid, INPUT, bytes((0x02, 0, 0, 0, 0, 0, 0, 0)), 8, 1)
    assert hidinput.events[:8] == [(0x000700E0 + i, int(i == 1)) for i in range(8)]


def test_numbered_reports_skip_their_id(generic_machine: System,
                                        hidinput: FakeHidInput) -> None:
    hid, _ = add(generic_machine, MI_DONGLE_MOUSE, vendor=0x2717, product=0x003B)
    # report 2: X = -2047 (0x801), Y = 2047 (0x7FF), 12 bits each
    assert hid_input_report(hid, INPUT, bytes((0x02, 0x01, 0xF8, 0x7F)), 4, 1) == 0
    assert hid.report_enum[INPUT].report_id_hash[2].field[0].value[:2] == [-2047, 2047]
    assert hidinput.reports == [2]
    assert hid_input_report(hid, INPUT, bytes((0x09, 1, 2, 3)), 4, 1) == -1   # unknown id
    assert hid_input_report(hid, INPUT, b"", 0, 1) == -1                       # empty


def test_a_short_report_reads_as_zero_padded(generic_machine: System,
                                             hidinput: FakeHidInput) -> None:
    hid, _ = add(generic_machine, QEMU_MOUSE)
    hid_input_report(hid, INPUT, bytes((0x03, 0x10, 0x20, 0x30)), 4, 1)
    assert hid_input_report(hid, INPUT, bytes((0x01, 0x7F)), 2, 1) == 0
    assert hid.report_enum[INPUT].report_list[0].field[1].value[:3] == [127, 0, 0]


def test_reports_of_an_unbound_device(hid_machine: System) -> None:
    hid, _ = add(hid_machine, QEMU_MOUSE)
    assert hid_input_report(hid, INPUT, bytes(4), 4, 1) == -Errno.ENODEV
    assert hid_input_report(None, INPUT, bytes(4), 4, 1) == -Errno.ENODEV


def test_reports_wait_for_probe_unless_io_started(generic_machine: System) -> None:
    seen: list[int] = []

    async def probe(hdev: HidDevice, id: HidDeviceId) -> int:
        ret = hid_parse(hdev) or await hid_hw_start(hdev, HidConnect.HIDRAW)
        seen.append(hid_input_report(hdev, INPUT, bytes(4), 4, 1))
        hid_device_io_start(hdev)
        seen.append(hid_input_report(hdev, INPUT, bytes(4), 4, 1))
        return ret

    special = HidDriver("hid-early", [hid_usb_device(0x0627, 0x0001)], probe=probe)
    generic_machine.run(hid_register_driver(special))
    hid, _ = add(generic_machine, QEMU_MOUSE)
    assert seen == [-Errno.EBUSY, 0] and not hid.driver_input_locked


def test_driver_hooks(generic_machine: System, hidinput: FakeHidInput) -> None:
    calls: list[Any] = []

    def raw_event(hdev: HidDevice, report: HidReport, data: bytes, size: int) -> int:
        calls.append(("raw", report.id, data))
        return -Errno.EIO if data[0] == 0xEE else 0

    def event(hdev: HidDevice, fld: HidField, usage: HidUsage, value: int) -> int:
        calls.append(("event", usage.hid, value))
        return 1      # consumed: hid-input does not see it

    def report(hdev: HidDevice, rep: HidReport) -> None:
        calls.append(("report", rep.id))

    special = HidDriver("hid-hooks", [hid_usb_device(0x0627, 0x0001)], raw_event=raw_event,
                        event=event, report=report,
                        usage_table=[HidUsageId(0x00010030, HID_ANY_ID, HID_ANY_ID),
                                     HidUsageId(0, HID_ANY_ID - 1, 0)])
    generic_machine.run(hid_register_driver(special))
    hid, _ = add(generic_machine, QEMU_MOUSE)
    assert hid_input_report(hid, INPUT, bytes((0x00, 0x05, 0x06, 0x07)), 4, 1) == 0
    assert calls == [("raw", 0, bytes((0, 5, 6, 7))), ("event", 0x00010030, 5), ("report", 0)]
    assert (0x00010030, 5) not in hidinput.events and (0x00010031, 6) in hidinput.events
    calls.clear()
    assert hid_input_report(hid, INPUT, bytes((0xEE, 0, 0, 0)), 4, 1) == -Errno.EIO
    assert calls == [("raw", 0, bytes((0xEE, 0, 0, 0)))]


# -- reports out -----------------------------------------------------------------------------------


def test_keyboard_led_output_report(generic_machine: System) -> None:
    hid, transport = add(generic_machine, QEMU_KEYBOARD)
    (report,) = hid.report_enum[OUTPUT].report_list
    (leds,) = report.field
    assert hid_set_field(leds, 1, 1) == 0 and hid_set_field(leds, 0, 1) == 0
    buf = hid_alloc_report_buf(report)
    hid_output_report(report, buf)
    assert len(buf) == 8 and buf[:1] == b"\x03"
    generic_machine.run(hid_hw_request(hid, report, HidRequest.SET_REPORT))
    assert transport.raw_requests == [(0, b"\x03", 1, OUTPUT, HidRequest.SET_REPORT)]


def test_output_reports_with_ids_and_signed_values(generic_machine: System) -> None:
    signed = bytes((0x85, 0x04, 0x09, 0x30, 0x15, 0x81, 0x25, 0x7F, 0x75, 0x04, 0x95, 0x02,
                    0x91, 0x02))
    hid, _ = add(generic_machine, signed)
    report = hid.report_enum[OUTPUT].report_id_hash[4]
    (fld,) = report.field
    generic_machine.log.clear()
    assert hid_set_field(fld, 0, -3) == 0
    assert hid_set_field(fld, 1, 7) == 0
    assert hid_set_field(fld, 1, 9) == -1          # does not fit 4 signed bits
    assert hid_set_field(fld, 2, 0) == -1
    assert hid_set_field(None, 0, 0) == -1
    assert generic_machine.log.lines() == [
        f"hid-generic {hid.name}: value 9 is out of range",
        f"hid-generic {hid.name}: offset (2) exceeds report_count (2)"]
    buf = hid_alloc_report_buf(report)
    hid_output_report(report, buf)
    assert buf[:2] == bytes((0x04, 0x7D))          # id, then -3 (0xD) and 7 in nibbles
    fld.value[1] = 100                             # saturated, as s32ton does
    hid_output_report(report, buf)
    assert buf[:2] == bytes((0x04, 0x7D))


def test_get_report_through_raw_request(generic_machine: System,
                                        hidinput: FakeHidInput) -> None:
    hid, transport = add(generic_machine, VENDOR_DEVICE, name="Acme Gizmo")
    transport.answers[(INPUT, 1)] = bytes((1, 9, 8, 7, 6))
    report = hid.report_enum[INPUT].report_id_hash[1]
    generic_machine.run(hid_hw_request(hid, report, HidRequest.GET_REPORT))
    assert transport.raw_requests[-1] == (1, bytes(5), 5, INPUT, HidRequest.GET_REPORT)
    assert report.field[0].value[:4] == [9, 8, 7, 6]


def test_hw_stop_disconnects(generic_machine: System, hidinput: FakeHidInput) -> None:
    hid, transport = add(generic_machine, QEMU_MOUSE)
    generic_machine.run(hid_hw_stop(hid))
    assert hid.claimed == HidClaimed(0) and hidinput.connected == []
    assert transport.calls[-1] == "stop"
    assert "country" not in generic_machine.vfs.listdir(f"/sys/bus/hid/devices/{hid.name}")


def test_unsigned_values_too_large_and_fields_too_wide(generic_machine: System,
                                                       hidinput: FakeHidInput) -> None:
    hid, _ = add(generic_machine, VENDOR_DEVICE, name="Acme Gizmo")
    report = hid.report_enum[OUTPUT].report_id_hash[1]
    report.field[0].value[:4] = [300, 1, 2, -1]
    generic_machine.log.clear()
    buf = hid_alloc_report_buf(report)
    hid_output_report(report, buf)
    assert buf[:5] == bytes((1, 300 & 0xFF, 1, 2, 0xFF))
    assert generic_machine.log.lines() == [
        f"hid-generic {hid.name}: implement() called with too large value 300 (n: 8)! "
        "(swapper/0)",
        f"hid-generic {hid.name}: implement() called with too large value -1 (n: 8)! "
        "(swapper/0)"]
    wide = bytes((0x06, 0x00, 0xFF, 0x09, 0x01, 0xA1, 0x01, 0x09, 0x02, 0x75, 0x40, 0x95,
                  0x01, 0x81, 0x02, 0xC0))
    hid, _ = add(generic_machine, wide, name="Wide")
    generic_machine.log.clear()
    for _ in range(2):
        hid_input_report(hid, INPUT, bytes((0x78, 0x56, 0x34, 0x12, 0xFF, 0xFF, 0xFF, 0xFF)),
                         8, 1)
    assert hid.report_enum[INPUT].report_list[0].field[0].value[0] == 0x12345678
    assert generic_machine.log.lines() == [
        f"hid-generic {hid.name}: hid_field_extract() called with n (64) > 32! (swapper/0)"]


def test_report_fixup_and_driver_remove(generic_machine: System,
                                        hidinput: FakeHidInput) -> None:
    removed: list[str] = []

    def fixup(hdev: HidDevice, rdesc: bytes) -> bytes:
        return rdesc.replace(bytes((0x29, 0x05)), bytes((0x29, 0x03)))   # 3 buttons

    async def remove(hdev: HidDevice) -> None:
        removed.append(hdev.name)
        await hid_hw_stop(hdev)

    special = HidDriver("hid-fixup", [hid_usb_device(0x0627, 0x0001)], report_fixup=fixup,
                        remove=remove)
    generic_machine.run(hid_register_driver(special))
    hid, transport = add(generic_machine, QEMU_MOUSE)
    buttons = hid.report_enum[INPUT].report_list[0].field[0]
    assert [u.hid for u in buttons.usage] == [0x00090001, 0x00090002, 0x00090003,
                                              0x00090003, 0x00090003]
    assert generic_machine.vfs.read(f"/sys/bus/hid/devices/{hid.name}/report_descriptor") \
        == fixup(hid, QEMU_MOUSE)
    assert hid.dev_rdesc == QEMU_MOUSE
    generic_machine.run(hid_unregister_driver(special))
    assert removed == [hid.name] and transport.calls.count("stop") == 1


def test_a_device_with_a_special_driver_is_not_generic(generic_machine: System) -> None:
    async def special() -> HidDevice:
        hid = hid_allocate_device()
        hid.ll_driver = FakeTransport(QEMU_MOUSE).ll()
        hid.bustype, hid.vendor, hid.product = BUS_USB, 0x0627, 1
        hid.initial_quirks = HidQuirk.HAVE_SPECIAL_DRIVER
        assert await hid_add_device(hid) == 0
        return hid

    hid = generic_machine.run(special())
    assert hid.group == 0 and hid.driver is None     # not scanned, not generic's


def test_transport_request_limits(generic_machine: System) -> None:
    transport = FakeTransport(VENDOR_DEVICE, output_report=False)
    hid, _ = add(generic_machine, VENDOR_DEVICE, transport=transport)

    async def limits() -> list[int]:
        buf = bytearray(HID_MAX_BUFFER_SIZE + 1)
        return [await hid_hw_raw_request(hid, 1, buf, 0, FEATURE, HidRequest.GET_REPORT),
                await hid_hw_raw_request(hid, 1, buf, len(buf), FEATURE,
                                         HidRequest.GET_REPORT),
                await hid_hw_output_report(hid, b"\x01\x02", 2),
                await hid_hw_output_report(hid, b"", 0)]

    assert generic_machine.run(limits()) == [-Errno.EINVAL, -Errno.EINVAL, -Errno.ENOSYS,
                                             -Errno.EINVAL]


def test_validate_values_and_device_paths(generic_machine: System,
                                          hidinput: FakeHidInput) -> None:
    hid, _ = add(generic_machine, VENDOR_DEVICE, name="Acme Gizmo")
    generic_machine.log.clear()
    assert hid_validate_values(hid, FEATURE, 2, 0, 2) is hid.report_enum[FEATURE].report_list[0]
    assert hid_validate_values(hid, INPUT, 0, 0, 4) is hid.report_enum[INPUT].report_list[0]
    assert hid_validate_values(hid, FEATURE, 3, 0, 1) is None
    assert hid_validate_values(hid, FEATURE, 2, 1, 1) is None
    assert hid_validate_values(hid, FEATURE, 2, 0, 3) is None
    assert hid_validate_values(hid, 3, 0, 0, 0) is None
    assert hid_validate_values(hid, INPUT, 256, 0, 0) is None
    prefix = f"hid-generic {hid.name}: "
    assert generic_machine.log.lines() == [prefix + text for text in (
        "missing HID_FEATURE_REPORT 3", "not enough fields in HID_FEATURE_REPORT 2",
        "not enough values in HID_FEATURE_REPORT 2 field 0", "invalid HID report type 3",
        "invalid HID report id 256")]
    other, _ = add(generic_machine, QEMU_MOUSE, phys="usb-0000:00:1d.7-1/input1")
    assert hid_compare_device_paths(hid, other, "/")
    other.phys = "usb-0000:00:1d.7-2/input1"
    assert not hid_compare_device_paths(hid, other, "/")
    assert not hid_compare_device_paths(hid, other, "#")


def test_io_start_and_stop_say_when_they_are_repeated(generic_machine: System) -> None:
    hid, _ = add(generic_machine, QEMU_MOUSE)
    generic_machine.log.clear()
    hid_device_io_stop(hid)
    hid.io_started = True
    hid_device_io_start(hid)
    assert generic_machine.log.lines() == [f"hid-generic {hid.name}: io already stopped",
                                           f"hid-generic {hid.name}: io already started"]
