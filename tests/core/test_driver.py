"""Driver binding in a running machine (usbemu.core.driver + usbemu.kernel.device) against
Linux 6.12's drivers/usb/core/driver.c and drivers/base/dd.c (reference §1.4–1.6, §6.2):
id-table matching end to end, registration order, dynamic ids, probe outcomes, claiming
interfaces, deregistration, new_id/remove_id, sysfs bind, uevents, suspend/resume, and the
generic device driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from usbemu.core.devtable import (
    DynIdError,
    UsbDeviceId,
    show_dynids,
    usb_device,
    usb_interface_info,
    usb_vendor_and_interface_info,
)
from usbemu.core.driver import (
    PMSG_AUTO_SUSPEND,
    USB_RESUME_TIMEOUT,
    UsbDeviceDriver,
    UsbDriver,
    store_new_id,
    store_remove_id,
    usb_deregister,
    usb_driver_claim_interface,
    usb_driver_release_interface,
    usb_register,
    usb_register_device_driver,
    usb_resume_device,
    usb_suspend_device,
)
from usbemu.core.hcd import UsbBus
from usbemu.core.urb import PIPE_BULK, PIPE_CONTROL, Urb, make_pipe, usb_pipetype, usb_submit_urb
from usbemu.core.usb import InterfaceCondition, UsbDevice, UsbInterface
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno, ProbeDeclined
from usbemu.kernel.device import Uevent
from usbemu.kernel.printk import Level
from usbemu.spec.ch9 import DeviceState, SetupPacket, Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.system import System

VENDOR, PRODUCT = 0x1D50, 0x6018


def gadget_descriptor(device_class: int) -> DeviceDescriptor:
    """One vendor-specific interface (ff/01/01) with a bulk pair; the device class is
    either 0 (per interface) or 0xff (vendor-specific device)."""
    return DeviceDescriptor(
        VENDOR, PRODUCT, bDeviceClass=device_class,
        configurations=(ConfigDescriptor(interfaces=(InterfaceDescriptor(
            0xFF, 1, 1, endpoints=(EndpointDescriptor.bulk(0x81, 512),
                                   EndpointDescriptor.bulk(0x02, 512))),)),))


class Gadget(DeviceModel):
    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = gadget_descriptor(0)

    def __init__(self, device_class: int = 0) -> None:
        super().__init__(gadget_descriptor(device_class))


class Composite(DeviceModel):
    """A CDC-like device: a control interface (02/02/01) and a data interface (0a/00/00)."""

    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        0x1D50, 0x6019, configurations=(ConfigDescriptor(interfaces=(
            InterfaceDescriptor(2, 2, 1, endpoints=(EndpointDescriptor.interrupt(0x83, 8, 9),)),
            InterfaceDescriptor(0x0A, endpoints=(EndpointDescriptor.bulk(0x81, 512),
                                                 EndpointDescriptor.bulk(0x02, 512))))),))


class Recording(UsbDriver):
    """An interface driver that records probe and disconnect calls; `result` decides what
    probe does: None binds, an int is returned, an exception instance is raised."""

    def __init__(self, name: str, id_table: list[UsbDeviceId], result: object = None) -> None:
        super().__init__(name, id_table=id_table)
        self.result = result
        self.probed: list[tuple[str, UsbDeviceId]] = []
        self.disconnected: list[str] = []
        self.events: list[tuple[str, str]] = []

    async def probe(self, intf: UsbInterface, id: UsbDeviceId) -> int | None:
        self.probed.append((intf.name, id))
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result  # type: ignore[return-value]

    async def disconnect(self, intf: UsbInterface) -> None:
        self.disconnected.append(intf.name)

    async def suspend(self, intf: UsbInterface, message: str) -> int:
        self.events.append(("suspend", f"{intf.name} {message}"))
        return 0

    async def resume(self, intf: UsbInterface) -> int:
        self.events.append(("resume", intf.name))
        return 0


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


def register(system: System, *drivers: UsbDriver) -> None:
    for drv in drivers:
        system.run(usb_register(system.usb, drv))


def plug(system: System, model: DeviceModel, path: str = "1-1") -> UsbDevice:
    system.plug(model, path)
    system.settle()
    udev = system.find_device(path)
    assert udev is not None
    return udev


def interface(udev: UsbDevice, number: int = 0) -> UsbInterface:
    intf = udev.interface(number)
    assert intf is not None
    return intf


# -- matching end to end --------------------------------------------------------------------


@pytest.mark.parametrize(("device_class", "winner"), [(0, "by-class"), (0xFF, "by-vendor")])
def test_vendor_specific_device_rule(system: System, device_class: int, winner: str) -> None:
    """USB_INTERFACE_INFO never matches an interface of a device whose device class is
    0xff; an entry that also names the vendor still can.  Registration order decides
    otherwise."""
    by_class = Recording("by-class", [usb_interface_info(0xFF, 1, 1)])
    by_vendor = Recording("by-vendor", [usb_vendor_and_interface_info(VENDOR, 0xFF, 1, 1)])
    register(system, by_class, by_vendor)
    intf = interface(plug(system, Gadget(device_class)))
    assert intf.driver is not None and intf.driver.name == winner
    assert by_class.probed == ([("1-1:1.0", usb_interface_info(0xFF, 1, 1))]
                               if winner == "by-class" else [])


def test_registration_order_decides(system: System) -> None:
    first = Recording("first", [usb_device(VENDOR, PRODUCT)])
    second = Recording("second", [usb_device(VENDOR, PRODUCT)])
    register(system, second, first)
    intf = interface(plug(system, Gadget()))
    assert intf.driver is second
    assert first.probed == []


def test_dynamic_ids_are_checked_before_the_static_table(system: System) -> None:
    """Linux 6.12: the dynamic id is what probe receives, though the static table matches
    too."""
    drv = Recording("dyn", [usb_device(VENDOR, PRODUCT, driver_info=7)])
    register(system, drv)
    assert system.run(store_new_id(system.usb, drv, "1d50 6018 ff")) == len("1d50 6018 ff")
    plug(system, Gadget())
    [(name, id)] = drv.probed
    assert name == "1-1:1.0"
    assert (int(id.match_flags), id.bInterfaceClass, id.driver_info) == (0x83, 0xFF, 0)


def test_new_id_attaches_at_once_and_remove_id_keeps_bindings(system: System) -> None:
    drv = Recording("late", [usb_device(0x0001, 0x0002, driver_info="static")])
    register(system, drv)
    intf = interface(plug(system, Gadget()))
    assert intf.driver is None
    text = f"{VENDOR:x} {PRODUCT:x} 0 0001 0002\n"
    assert system.run(store_new_id(system.usb, drv, text)) == len(text)
    assert intf.driver is drv
    assert drv.probed[0][1].driver_info == "static"  # copied from the reference entry
    assert show_dynids(drv.dynids) == "1d50 6018\n"
    assert store_remove_id(drv, "1d50 6018") == 9
    assert drv.dynids == [] and intf.driver is drv  # removing does not unbind
    assert store_remove_id(drv, "dead beef") == 9  # nothing to remove: still count


@pytest.mark.parametrize(("text", "code"), [
    ("1d50", Errno.EINVAL),            # fewer than two fields
    ("1d50 6018 100", Errno.EINVAL),   # interface class does not fit a byte
    ("1d50 6018 0 dead beef", Errno.ENODEV),  # no such reference entry
])
def test_new_id_errors(system: System, text: str, code: int) -> None:
    drv = Recording("picky", [usb_device(0x0001, 0x0002)])
    register(system, drv)
    with pytest.raises(DynIdError) as info:
        system.run(store_new_id(system.usb, drv, text))
    assert info.value.errno == code
    assert drv.dynids == []


def test_no_dynamic_id_drivers_have_no_new_id_file(system: System) -> None:
    usbfs = system.usb.bus_type.find_driver("usbfs")
    assert isinstance(usbfs, UsbDriver) and usbfs.no_dynamic_id
    with pytest.raises(FileNotFoundError):
        system.run(store_new_id(system.usb, usbfs, "1d50 6018"))
    with pytest.raises(FileNotFoundError):
        store_remove_id(usbfs, "1d50 6018")


# -- probe outcomes -------------------------------------------------------------------------


@pytest.mark.parametrize("decline", [ProbeDeclined(), -Errno.ENODEV, -Errno.ENXIO],
                         ids=["ProbeDeclined", "-ENODEV", "-ENXIO"])
def test_declining_probe_passes_quietly_to_the_next_driver(system: System,
                                                           decline: object) -> None:
    shy = Recording("shy", [usb_device(VENDOR, PRODUCT)], decline)
    keen = Recording("keen", [usb_device(VENDOR, PRODUCT)])
    register(system, shy, keen)
    system.log.clear()
    intf = interface(plug(system, Gadget()))
    assert intf.driver is keen and len(shy.probed) == 1
    assert not any("probe" in line for line in system.log.lines())
    assert shy.disconnected == []


def test_declining_probe_is_a_debug_message(system: System) -> None:
    system.log.debug = True
    register(system, Recording("shy", [usb_device(VENDOR, PRODUCT)], -Errno.ENODEV))
    plug(system, Gadget())
    assert "shy 1-1:1.0: probe with driver shy rejects match -19" in system.log.lines()


@pytest.mark.parametrize("failure", [-Errno.EIO, OSError(Errno.EIO, "I/O error")],
                         ids=["returns -EIO", "raises OSError"])
def test_failing_probe_is_logged_and_the_next_driver_tried(system: System,
                                                           failure: object) -> None:
    broken = Recording("broken", [usb_device(VENDOR, PRODUCT)], failure)
    keen = Recording("keen", [usb_device(VENDOR, PRODUCT)])
    register(system, broken, keen)
    intf = interface(plug(system, Gadget()))
    assert intf.driver is keen
    assert "broken 1-1:1.0: probe with driver broken failed with error -5" in \
        system.log.lines(Level.ERR)


def test_raising_probe_is_an_oops_and_the_machine_goes_on(system: System) -> None:
    buggy = Recording("buggy", [usb_device(VENDOR, PRODUCT)], KeyError("no such key"))
    register(system, buggy)
    intf = interface(plug(system, Gadget()))
    assert intf.driver is None and intf.condition is InterfaceCondition.UNBOUND
    text = system.dmesg()
    assert "BUG: exception in probe of 1-1:1.0 by driver buggy: KeyError: 'no such key'" in text
    assert "Traceback (most recent call last):" in text
    # other devices still enumerate and bind
    pen_driver = Recording("pen", [usb_device(0x058F, 0x6387)])
    register(system, pen_driver)
    pen = interface(plug(system, PenDrive(), "1-2"))
    assert pen.driver is pen_driver


def test_registration_messages(system: System) -> None:
    drv = Recording("noisy", [usb_device(VENDOR, PRODUCT)])
    plug(system, Gadget())
    system.log.clear()
    register(system, drv)
    assert system.log.lines() == ["usbcore: registered new interface driver noisy"]
    assert drv.probed  # attached to the device already present, before the message
    system.log.clear()
    system.run(usb_deregister(system.usb, drv))
    assert system.log.lines() == ["usbcore: deregistering interface driver noisy"]


def test_deregistering_disconnects_every_bound_interface(system: System) -> None:
    drv = Recording("multi", [usb_device(VENDOR, PRODUCT)])
    register(system, drv)
    first = interface(plug(system, Gadget(), "1-1"))
    second = interface(plug(system, Gadget(), "1-2"))
    assert first.driver is drv and second.driver is drv
    system.run(usb_deregister(system.usb, drv))
    assert sorted(drv.disconnected) == ["1-1:1.0", "1-2:1.0"]
    assert first.driver is None and second.driver is None
    assert first.condition is InterfaceCondition.UNBOUND
    assert drv not in system.usb.bus_type.drivers


# -- claiming interfaces --------------------------------------------------------------------


class ClaimingDriver(Recording):
    """Binds the control interface and claims the data interface from its probe, as
    cdc-acm does; releases it in disconnect."""

    def __init__(self) -> None:
        super().__init__("acm-like", [usb_interface_info(2, 2, 1)])
        self.claim_results: list[int] = []
        self.data: UsbInterface | None = None

    async def probe(self, intf: UsbInterface, id: UsbDeviceId) -> int | None:
        await super().probe(intf, id)
        data = intf.usb_dev.interface(1)
        assert data is not None
        self.data = data
        self.claim_results.append(await usb_driver_claim_interface(self, data, "data"))
        return None

    async def disconnect(self, intf: UsbInterface) -> None:
        await super().disconnect(intf)
        if intf.number == 0 and self.data is not None:
            await usb_driver_release_interface(self, self.data)


def test_claim_and_release_interface(system: System) -> None:
    drv = ClaimingDriver()
    events: list[Uevent] = []
    system.driver_core.listeners.append(events.append)
    register(system, drv)
    udev = plug(system, Composite())
    control, data = interface(udev, 0), interface(udev, 1)
    assert drv.claim_results == [0]
    assert [name for name, _ in drv.probed] == ["1-1:1.0"]  # the claimed one is not probed
    assert data.driver is drv and data.driver_data == "data"
    assert data.condition is InterfaceCondition.BOUND
    data_events = [(e.action, e.get("DRIVER")) for e in events if e.devpath.endswith(":1.1")]
    # dev_uevent adds DRIVER= whenever dev->driver is set, so the add event has it too
    assert data_events == [("add", "acm-like"), ("bind", "acm-like")]
    # someone else cannot claim it, nor anyone an interface that is not authorized
    other = Recording("other", [])
    assert system.run(usb_driver_claim_interface(other, data, None)) == -Errno.EBUSY
    system.run(usb_driver_release_interface(drv, data))
    data.authorized = False
    assert system.run(usb_driver_claim_interface(other, data, None)) == -Errno.ENODEV
    data.authorized = True
    assert system.run(usb_driver_claim_interface(drv, data, "data")) == 0
    drv.disconnected.clear()
    # releasing calls disconnect for it and unbinds it
    system.run(usb_driver_release_interface(drv, data))
    assert drv.disconnected == ["1-1:1.1"]
    assert data.driver is None and data.condition is InterfaceCondition.UNBOUND
    # claimed again, the unplug disconnects each interface exactly once
    assert system.run(usb_driver_claim_interface(drv, data, "again")) == 0
    system.unplug("1-1")
    system.settle()
    assert sorted(drv.disconnected) == ["1-1:1.0", "1-1:1.1", "1-1:1.1"]
    assert control.driver is None


# -- sysfs bind -----------------------------------------------------------------------------


def test_bind_file(system: System) -> None:
    picky = Recording("picky", [usb_device(0x0001, 0x0002)])
    keen = Recording("keen", [usb_device(VENDOR, PRODUCT)])
    register(system, picky)
    intf = interface(plug(system, Gadget()))
    core = system.driver_core
    assert intf.driver is None
    assert system.run(core.bind(intf, picky)) == -Errno.ENODEV  # the id table decides
    register(system, keen)
    assert intf.driver is keen
    assert system.run(core.bind(intf, keen)) == -Errno.EBUSY
    system.run(core.device_release_driver(intf))
    keen.result = -Errno.EIO
    assert system.run(core.bind(intf, keen)) == -Errno.EIO
    keen.result = None
    assert system.run(core.bind(intf, keen)) == 0 and intf.driver is keen


# -- uevents --------------------------------------------------------------------------------


def test_uevents_for_device_and_interface(system: System) -> None:
    drv = Recording("pen", [usb_device(0x058F, 0x6387)])
    register(system, drv)
    events: list[Uevent] = []
    system.driver_core.listeners.append(events.append)
    plug(system, PenDrive())
    dev_path = "/devices/pci0000:00/0000:00:1d.0/usb1/1-1"
    intf_path = dev_path + "/1-1:1.0"
    assert [(e.action, e.devpath) for e in events] == [
        ("add", dev_path), ("add", intf_path), ("bind", intf_path), ("bind", dev_path)]
    add_dev, add_intf, bind_intf, bind_dev = events
    assert add_dev.env == (
        ("MAJOR", "189"), ("MINOR", "1"), ("DEVNAME", "bus/usb/001/002"),
        ("DEVTYPE", "usb_device"), ("PRODUCT", "58f/6387/100"), ("TYPE", "0/0/0"),
        ("BUSNUM", "001"), ("DEVNUM", "002"))
    assert bind_dev.get("DRIVER") == "usb"
    assert add_intf.env == (
        ("DEVTYPE", "usb_interface"), ("PRODUCT", "58f/6387/100"), ("TYPE", "0/0/0"),
        ("INTERFACE", "8/6/80"),
        ("MODALIAS", "usb:v058Fp6387d0100dc00dsc00dp00ic08isc06ip50in00"))
    assert bind_intf.env[:2] == (("DEVTYPE", "usb_interface"), ("DRIVER", "pen"))
    events.clear()
    system.unplug("1-1")
    system.settle()
    assert [(e.action, e.devpath) for e in events] == [
        ("unbind", intf_path), ("remove", intf_path), ("unbind", dev_path),
        ("remove", dev_path)]
    assert all(e.get("DRIVER") is None for e in events)


def test_remove_events_for_unclaimed_interfaces(system: System) -> None:
    events: list[Uevent] = []
    system.driver_core.listeners.append(events.append)
    plug(system, Gadget())
    system.unplug("1-1")
    system.settle()
    intf_events = [e.action for e in events if e.devpath.endswith("1-1:1.0")]
    assert intf_events == ["add", "remove"]
    assert [e.action for e in events if e.devpath.endswith("/1-1")] == \
        ["add", "bind", "unbind", "remove"]


# -- suspend and resume ---------------------------------------------------------------------


class ControlRequests(list[str]):
    """"devnum:bmRequestType bRequest wValue wIndex" of each control request the
    controllers accept from now on, kept through the usbmon hooks."""

    def __init__(self, system: System) -> None:
        super().__init__()
        system.usb.add_monitor(self)

    def urb_submit(self, bus: UsbBus, urb: Urb) -> None:
        if usb_pipetype(urb.pipe) == PIPE_CONTROL:
            assert urb.setup_packet is not None and urb.dev is not None
            s = SetupPacket.unpack(urb.setup_packet)
            self.append(f"{urb.dev.devnum}:{s.bmRequestType:02x} {s.bRequest:02x} "
                        f"{s.wValue:04x} {s.wIndex:04x}")

    def urb_submit_error(self, bus: UsbBus, urb: Urb, status: int) -> None:
        if usb_pipetype(urb.pipe) == PIPE_CONTROL:
            self.pop()

    def urb_complete(self, bus: UsbBus, urb: Urb, status: int) -> None:
        pass


def control_requests(system: System) -> ControlRequests:
    return ControlRequests(system)


class TwoInterfaces(DeviceModel):
    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        VENDOR, 0x6020, configurations=(ConfigDescriptor(interfaces=(
            InterfaceDescriptor(0xFF, endpoints=(EndpointDescriptor.bulk(0x81, 512),)),
            InterfaceDescriptor(0xFF, endpoints=(EndpointDescriptor.bulk(0x82, 512),)))),))


def timed(system: System, call: Callable[[], Any]) -> tuple[Any, float]:
    start = system.time()
    result = system.run(call())
    return result, system.time() - start


def test_suspend_and_resume_a_device(system: System) -> None:
    drv = Recording("pm", [usb_device(VENDOR, 0x6020)])
    register(system, drv)
    model = TwoInterfaces()
    udev = plug(system, model)
    requests = control_requests(system)
    completions: list[int] = []
    pending = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 1, True), bytearray(512), 512,
                              lambda urb: completions.append(urb.status))
    assert usb_submit_urb(pending) == 0  # the driver forgot to kill it: usbcore flushes it

    result, elapsed = timed(system, lambda: usb_suspend_device(udev))
    assert result == 0
    assert elapsed == pytest.approx(0.010, abs=1e-6)
    assert drv.events == [("suspend", f"1-1:1.1 {PMSG_AUTO_SUSPEND}"),
                          ("suspend", f"1-1:1.0 {PMSG_AUTO_SUSPEND}")]
    assert requests == ["1:23 03 0002 0001"]  # SetPortFeature(PORT_SUSPEND), port 1
    assert udev.state is DeviceState.SUSPENDED and model.state is DeviceState.SUSPENDED
    assert completions == [-Errno.ESHUTDOWN]
    assert usb_submit_urb(pending) == -Errno.EHOSTUNREACH
    assert system.run(usb_suspend_device(udev)) == 0  # already suspended

    drv.events.clear()
    requests.clear()
    result, elapsed = timed(system, lambda: usb_resume_device(udev))
    assert result == 0
    assert elapsed == pytest.approx((USB_RESUME_TIMEOUT + 10) / 1000, abs=1e-6)
    assert requests == ["1:a3 00 0000 0001",   # GetPortStatus
                        "1:23 01 0002 0001",   # ClearPortFeature(PORT_SUSPEND)
                        "1:a3 00 0000 0001",   # GetPortStatus after resume signalling
                        "1:23 01 0012 0001",   # ClearPortFeature(C_PORT_SUSPEND)
                        "2:80 00 0000 0000"]   # GET_STATUS of the device
    assert drv.events == [("resume", "1-1:1.0"), ("resume", "1-1:1.1")]
    assert udev.state is DeviceState.CONFIGURED and model.state is DeviceState.CONFIGURED
    assert usb_submit_urb(pending) == 0
    model_ep = model.endpoint(0x81)
    assert model_ep is not None
    model_ep.write(b"awake")
    system.sleep(1)
    assert completions == [-Errno.ESHUTDOWN, 0]


def test_failed_interface_suspend_is_undone(system: System) -> None:
    """An interface driver refusing an autosuspend stops it: the interfaces already
    suspended are resumed and the port is left alone."""
    class Busy(Recording):
        async def suspend(self, intf: UsbInterface, message: str) -> int:
            await super().suspend(intf, message)
            return -Errno.EBUSY if intf.number == 0 else 0

    drv = Busy("busy", [usb_device(VENDOR, 0x6020)])
    register(system, drv)
    udev = plug(system, TwoInterfaces())
    requests = control_requests(system)
    assert system.run(usb_suspend_device(udev)) == -Errno.EBUSY
    assert [e[0] for e in drv.events] == ["suspend", "suspend", "resume"]
    assert drv.events[2] == ("resume", "1-1:1.1")
    assert requests == []
    assert udev.state is DeviceState.CONFIGURED


def test_a_root_hub_suspends_the_bus_once_its_children_sleep(system: System) -> None:
    """usb_suspend_device on a root hub: the hub driver refuses while a child is awake
    (-EBUSY, "device 1-1 not suspended yet"); with the child suspended the controller's
    bus suspend runs and the root hub is SUSPENDED; resume brings it back."""
    udev = plug(system, Gadget())
    root = system.find_device("usb1")
    assert root is not None
    system.log.clear()
    assert system.run(usb_suspend_device(root)) == -Errno.EBUSY
    assert system.log.lines() == ["usb usb1-port1: device 1-1 not suspended yet"]
    assert system.run(usb_suspend_device(udev)) == 0
    assert system.run(usb_suspend_device(root)) == 0
    assert root.state is DeviceState.SUSPENDED
    assert system.run(usb_resume_device(root)) == 0
    assert root.state is DeviceState.CONFIGURED
    assert system.run(usb_resume_device(udev)) == 0
    assert udev.state is DeviceState.CONFIGURED


def test_suspend_of_a_gone_device(system: System) -> None:
    udev = plug(system, Gadget())
    system.unplug("1-1")
    system.settle()
    assert system.run(usb_suspend_device(udev)) == 0
    assert system.run(usb_resume_device(udev)) == -Errno.ENODEV


# -- device drivers and the generic driver ----------------------------------------------------


class PenOwner(UsbDeviceDriver):
    """A specialised device driver for the pen drive (as usbip-host or apple-mfi-fastcharge
    are): it takes the whole device; `decline` makes its probe return -ENODEV."""

    def __init__(self, decline: bool = False) -> None:
        super().__init__("pen-owner", id_table=[usb_device(0x058F, 0x6387)])
        self.decline = decline
        self.probed: list[str] = []
        self.disconnected: list[str] = []

    async def probe(self, udev: UsbDevice) -> int:
        self.probed.append(udev.name)
        return -Errno.ENODEV if self.decline else 0

    async def disconnect(self, udev: UsbDevice) -> None:
        self.disconnected.append(udev.name)


def test_specialised_device_driver_takes_the_device(system: System) -> None:
    owner = PenOwner()
    system.run(usb_register_device_driver(system.usb, owner))
    assert "usbcore: registered new device driver pen-owner" in system.log.lines()
    udev = plug(system, PenDrive())
    assert udev.driver is owner and owner.probed == ["1-1"]
    assert udev.actconfig is None  # nobody chose a configuration
    other = plug(system, Gadget(), "1-2")
    assert other.driver is not None and other.driver.name == "usb"
    system.unplug("1-1")
    system.settle()
    assert owner.disconnected == ["1-1"]


def test_specialised_driver_registered_later_takes_over(system: System) -> None:
    udev = plug(system, PenDrive())
    assert udev.driver is not None and udev.driver.name == "usb"
    assert udev.actconfig is not None
    owner = PenOwner()
    system.run(usb_register_device_driver(system.usb, owner))
    assert udev.driver is owner
    assert udev.actconfig is None  # the generic driver unconfigured it on unbind


def test_declining_specialised_driver_falls_back_to_usb(system: System) -> None:
    owner = PenOwner(decline=True)
    system.run(usb_register_device_driver(system.usb, owner))
    udev = plug(system, PenDrive())
    assert owner.probed == ["1-1"]
    assert udev.use_generic_driver
    assert udev.driver is not None and udev.driver.name == "usb"
    assert udev.actconfig is not None and interface(udev).registered
    assert not any("failed with error" in line for line in system.log.lines())


def test_device_driver_registered_twice(system: System) -> None:
    system.run(usb_register_device_driver(system.usb, PenOwner()))
    with pytest.raises(OSError) as info:
        system.run(usb_register_device_driver(system.usb, PenOwner()))
    assert info.value.errno == Errno.EBUSY
    assert system.log.lines(Level.ERR)[-2:] == [
        "Error: Driver 'pen-owner' is already registered, aborting...",
        "usbcore: error -16 registering device driver pen-owner"]
