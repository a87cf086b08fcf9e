"""The hub driver (usbemu.core.hub): root hub registration and hub_activate, external
hubs, topology and address limits, disconnect of whole subtrees, the status URB, and the
hub_configure failure messages — all compared with Linux 6.12's requests and wording, on
virtual time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from usbemu.core.hcd import UsbBus
from usbemu.core.hub import (
    HUB_ID_TABLE,
    HubDriver,
    HubWorker,
    UsbHub,
    hub_irq,
    usb_hub_find_child,
    usb_hub_to_struct_hub,
)
from usbemu.core.port import UsbPort
from usbemu.core.urb import (
    PIPE_CONTROL,
    Urb,
    usb_kill_urb,
    usb_pipedevice,
    usb_pipeendpoint,
    usb_pipetype,
)
from usbemu.core.usb import UsbDevice
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.mouse import BootMouse
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.serial import SerialConverter
from usbemu.errors import Errno
from usbemu.spec.ch9 import DeviceState, SetupPacket, Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    build_descriptors,
)
from usbemu.spec.hub import HubDescriptor, PortStat
from usbemu.system import System
from usbemu.testing import blacklist

HUB_POLL_MS = 256  # the GL850G model's status endpoint: bInterval 12 at high speed


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


def plug_behind_hub(system: System, model: DeviceModel, path: str) -> None:
    """Plug into a hub that is already polling: its status endpoint reports the change at
    its next interval, so let one interval of machine time pass before settling."""
    system.plug(model, path)
    system.sleep(HUB_POLL_MS)
    system.settle()


class ControlTrace(list[str]):
    """usbmon-style lines of the control requests the controllers accept from now on, kept
    through the HCD framework's usbmon hooks; `times` has the machine time of every
    accepted submission, control or not."""

    def __init__(self, system: System) -> None:
        super().__init__()
        self.times: list[float] = []
        self._last: Urb | None = None
        system.usb.add_monitor(self)

    def urb_submit(self, bus: UsbBus, urb: Urb) -> None:
        self.times.append(bus.hcd.loop.time())
        self._last = urb
        if usb_pipetype(urb.pipe) == PIPE_CONTROL and urb.dev is not None:
            assert urb.setup_packet is not None
            self.append(f"{urb.dev.busnum}:{usb_pipedevice(urb.pipe):03d}:"
                        f"{usb_pipeendpoint(urb.pipe)} {SetupPacket.unpack(urb.setup_packet)}")

    def urb_submit_error(self, bus: UsbBus, urb: Urb, status: int) -> None:
        self.times.pop()
        if usb_pipetype(urb.pipe) == PIPE_CONTROL and urb.dev is not None:
            self.pop()

    def urb_complete(self, bus: UsbBus, urb: Urb, status: int) -> None:
        pass


def control_trace(system: System) -> ControlTrace:
    return ControlTrace(system)


def hub_of(system: System, name: str) -> UsbHub:
    udev = system.find_device(name)
    hub = usb_hub_to_struct_hub(udev)
    assert hub is not None, name
    return hub


class BusPoweredHub(Hub):
    """A hub whose configuration is bus-powered (bmAttributes 0xA0), so GET_STATUS says
    so and Linux gives each port one unit load."""

    def __init__(self, ports: int = 4) -> None:
        super().__init__(ports)
        desc = self.descriptors.device
        config = replace(desc.configurations[0], bmAttributes=0xA0)
        self.descriptors = build_descriptors(replace(desc, configurations=(config,)))


# -- registration ---------------------------------------------------------------------------------


def test_usbcore_registers_its_drivers_in_linux_order(system: System) -> None:
    assert system.log.lines() == [
        "usbcore: registered new interface driver usbfs",
        "usbcore: registered new interface driver hub",
        "usbcore: registered new device driver usb",
    ]
    names = [d.name for d in system.usb.bus_type.drivers]
    assert names == ["usbfs", "hub", "usb"]


def test_hub_id_table_is_linuxs() -> None:
    last_two = [(int(e.match_flags), e.bDeviceClass, e.bInterfaceClass) for e in HUB_ID_TABLE[-2:]]
    assert last_two == [(0x0010, 9, 0), (0x0080, 0, 9)]
    assert len(HUB_ID_TABLE) == 10
    genesys = HUB_ID_TABLE[2]
    assert (genesys.idVendor, genesys.bInterfaceClass, genesys.driver_info) == (0x05E3, 9, 1)


def test_root_hub_registration_and_activation_without_devices() -> None:
    """With nothing connected no port needs debouncing: the status URB is submitted right
    after the port scan, bPwrOn2PwrGood × 2 = 20 ms after power-on."""
    with System() as system:
        system.boot()
        from usbemu.host.inproc import InProcessHCD
        from usbemu.system import PciDevice

        pci = PciDevice("0000:00:1d.0")
        from usbemu.kernel.device import Driver

        pci.driver = Driver("ehci-pci")
        hcd = InProcessHCD(system.usb, pci, 2)
        lines = control_trace(system)
        times = lines.times
        system.run(system.usb.add_hcd(hcd))
        system.settle()
        assert lines == [
            "1:001:0 80 06 0100 0000 0012",
            "1:001:0 80 06 0200 0000 0009",
            "1:001:0 80 06 0200 0000 0019",
            "1:001:0 80 06 0300 0000 00ff",
            "1:001:0 80 06 0302 0409 00ff",
            "1:001:0 80 06 0303 0409 00ff",
            "1:001:0 80 06 0301 0409 00ff",
            "1:001:0 00 09 0001 0000 0000",
            "1:001:0 a0 06 2900 0000 000f",
            "1:001:0 80 00 0000 0000 0002",
            "1:001:0 a0 00 0000 0000 0004",
            "1:001:0 23 03 0008 0001 0000",
            "1:001:0 23 03 0008 0002 0000",
            "1:001:0 a3 00 0000 0001 0004",
            "1:001:0 a3 00 0000 0002 0004",
        ]
        # the last submission is the status URB, right after the scan
        assert len(times) == len(lines) + 1
        assert times[-1] == times[-2] == pytest.approx(times[12] + 0.020)
        root = system.find_device("usb1")
        assert root is not None and root.bus_mA == 1000 and root.maxchild == 2
        hub = hub_of(system, "usb1")
        assert hub.mA_per_port == 500 and not hub.limited_power
        assert [p.name for p in hub.ports] == ["usb1-port1", "usb1-port2"]
        assert all(p.registered and p.driver_string() == "usb" for p in hub.ports)
        assert hub.tt is not None and hub.tt.hub is root  # has_tt: bDeviceProtocol 1


def test_hub_wq_is_idle_after_settle(system: System) -> None:
    system.add_controller()
    worker = system.usb.hub_wq
    assert isinstance(worker, HubWorker) and worker.idle
    system.run(worker.wait_idle())


# -- external hubs ------------------------------------------------------------------------------


def test_external_hub_and_devices_behind_it(system: System) -> None:
    system.add_controller()
    hub = Hub()
    hub.attach(2, PenDrive())
    hub.attach(4, SerialConverter(product="Serial"))
    system.plug(hub, "1-1")
    system.settle()
    names = {d.name: (d.devnum, d.speed, d.state) for d in system.usb_devices()}
    assert names == {
        "usb1": (1, Speed.HIGH, DeviceState.CONFIGURED),
        "1-1": (2, Speed.HIGH, DeviceState.CONFIGURED),
        "1-1.2": (3, Speed.HIGH, DeviceState.CONFIGURED),
        "1-1.4": (4, Speed.FULL, DeviceState.CONFIGURED),
    }
    lines = system.log.lines()
    start = lines.index("usb 1-1: new high-speed USB device number 2 using ehci-pci")
    assert lines[start:start + 7] == [
        "usb 1-1: new high-speed USB device number 2 using ehci-pci",
        "usb 1-1: New USB device found, idVendor=05e3, idProduct=0608, bcdDevice=77.63",
        "usb 1-1: New USB device strings: Mfr=0, Product=1, SerialNumber=0",
        "usb 1-1: Product: USB2.0 Hub",
        "hub 1-1:1.0: USB hub found",
        "hub 1-1:1.0: 4 ports detected",
        "usb 1-1.2: new high-speed USB device number 3 using ehci-pci",
    ]
    assert "usb 1-1.4: new full-speed USB device number 4 using ehci-pci" in lines
    ext = hub_of(system, "1-1")
    assert [p.name for p in ext.ports] == [f"1-1-port{n}" for n in range(1, 5)]
    assert ext.mA_per_port == 500 and ext.has_indicators and ext.tt is not None
    serial = system.find_device("1-1.4")
    assert serial is not None and serial.tt is ext.tt
    hdev = system.find_device("1-1")
    assert hdev is not None and usb_hub_find_child(hdev, 2) is system.find_device("1-1.2")


def test_external_hub_configuration_requests(system: System) -> None:
    system.add_controller()
    lines = control_trace(system)
    system.plug(Hub(), "1-1")
    system.settle()
    start = lines.index("1:002:0 00 09 0001 0000 0000")
    assert lines[start:start + 8] == [
        "1:002:0 00 09 0001 0000 0000",   # SET_CONFIGURATION 1
        "1:002:0 a0 06 2900 0000 000f",   # GetHubDescriptor, wLength 15
        "1:002:0 80 00 0000 0000 0002",   # GET_STATUS(device): self-powered?
        "1:002:0 a0 00 0000 0000 0004",   # GetHubStatus
        "1:002:0 23 03 0008 0001 0000",   # SetPortFeature(PORT_POWER) 1..4
        "1:002:0 23 03 0008 0002 0000",
        "1:002:0 23 03 0008 0003 0000",
        "1:002:0 23 03 0008 0004 0000",
    ]
    assert lines[start + 8:] == [f"1:002:0 a3 00 0000 000{n} 0004" for n in range(1, 5)]


def test_hot_plug_behind_an_external_hub_sets_the_port_led(system: System) -> None:
    system.add_controller()
    system.plug(Hub(), "1-1")
    system.settle()
    lines = control_trace(system)
    plug_behind_hub(system, PenDrive(), "1-1.3")
    assert lines[:4] == [
        "1:002:0 a3 00 0000 0003 0004",   # port_event
        "1:002:0 23 01 0010 0003 0000",   # clear C_PORT_CONNECTION
        "1:002:0 23 03 0016 0003 0000",   # set_port_led(HUB_LED_AUTO): the hub has LEDs
        "1:002:0 a3 00 0000 0003 0004",   # debounce
    ]
    assert system.find_device("1-1.3") is not None


def test_bus_powered_hub_budget_and_a_second_one_refused(system: System) -> None:
    system.add_controller()
    outer = BusPoweredHub(ports=5)      # 500 - 100 mA left < 5 unit loads
    outer.attach(1, BusPoweredHub())
    outer.attach(2, PenDrive())
    system.plug(outer, "1-1")
    system.settle()
    lines = system.log.lines()
    assert "hub 1-1:1.0: insufficient power available to use all downstream ports" in lines
    assert "usb 1-1.1: can't connect bus-powered hub to this port" in lines
    assert "usb usb1-1-port1: unable to enumerate USB device" not in lines
    assert not any("unable to enumerate" in line for line in lines)
    hub = hub_of(system, "1-1")
    assert hub.mA_per_port == 100 and hub.limited_power
    assert system.find_device("1-1.1") is None
    assert system.find_device("1-1.2") is not None
    assert not outer.hub_port(1).enabled


# -- topology limits ------------------------------------------------------------------------------


def test_five_hubs_deep_works_and_a_sixth_tier_is_refused(system: System) -> None:
    system.add_controller()
    chain = [Hub() for _ in range(5)]
    for upper, lower in itertools.pairwise(chain):
        upper.attach(1, lower)
    chain[-1].attach(1, Hub())           # the sixth hub: level 6
    chain[-1].attach(2, PenDrive())      # a device at level 6 is fine
    system.plug(chain[0], "1-1")
    system.settle()
    deepest_hub = system.find_device("1-1.1.1.1.1")
    assert deepest_hub is not None and deepest_hub.level == 5
    assert usb_hub_to_struct_hub(deepest_hub) is not None
    leaf = system.find_device("1-1.1.1.1.1.2")
    assert leaf is not None and leaf.level == 6 and leaf.state is DeviceState.CONFIGURED
    sixth = system.find_device("1-1.1.1.1.1.1")
    assert sixth is not None and sixth.state is DeviceState.CONFIGURED
    intf = next(sixth.interfaces())
    assert intf.driver is None and usb_hub_to_struct_hub(sixth) is None
    lines = system.log.lines()
    assert "hub 1-1.1.1.1.1.1:1.0: Unsupported bus topology: hub nested too deep" in lines
    assert "hub 1-1.1.1.1.1.1:1.0: probe with driver hub failed with error -7" in lines


def test_127_devices_on_one_bus_and_the_128th_is_refused(system: System) -> None:
    """Device numbers 1..127: the root hub, 9 hubs and 117 pen drives.  Linux logs
    nothing for the 128th device (choose_devnum fails, hub_port_connect gives up with
    -ENOTCONN) and disables its port."""
    hcd = system.add_controller()
    started = time.perf_counter()
    first_tier = [Hub(ports=15) for _ in range(6)]
    second_tier = [Hub(ports=15) for _ in range(3)]
    for port1, hub in enumerate(second_tier, start=1):
        first_tier[0].attach(port1, hub)
    leaves = [(first_tier[0], port1) for port1 in range(4, 16)]
    leaves += [(hub, port1) for hub in first_tier[1:] + second_tier[:2] for port1 in range(1, 16)]
    for n, (hub, port1) in enumerate(leaves):
        hub.attach(port1, PenDrive(serial=f"{n:08X}"))
    for port1, hub in enumerate(first_tier, start=1):
        system.plug(hub, f"1-{port1}")
    system.settle()
    devices = system.usb_devices()
    assert len(devices) == 127
    assert all(d.state is DeviceState.CONFIGURED for d in devices)
    assert hcd.bus is not None and hcd.bus.devmap == set(range(1, 128))
    system.log.clear()
    extra = PenDrive(serial="EXTRA")
    plug_behind_hub(system, extra, "1-1.3.1")
    assert system.log.lines() == []
    assert extra.state is DeviceState.POWERED   # never reset, never addressed
    assert not second_tier[2].hub_port(1).enabled
    assert system.find_device("1-1.3.1") is None
    elapsed = time.perf_counter() - started
    print(f"127 devices enumerated, 128th refused: {elapsed:.2f} s wall, "
          f"{system.time():.1f} s machine time")


# -- disconnect -----------------------------------------------------------------------------------


def test_unplugging_a_hub_disconnects_its_subtree_in_order(system: System) -> None:
    system.add_controller()
    outer, inner = Hub(), Hub()
    outer.attach(1, PenDrive())
    outer.attach(2, inner)
    outer.attach(3, BootMouse())
    inner.attach(1, SerialConverter())
    system.plug(outer, "1-1")
    system.settle()
    subtree = [d for d in system.usb_devices() if d.name != "usb1"]
    assert {d.name: d.devnum for d in subtree} == {
        "1-1": 2, "1-1.1": 3, "1-1.2": 4, "1-1.2.1": 6, "1-1.3": 5}
    ports = list(hub_of(system, "1-1").ports) + list(hub_of(system, "1-1.2").ports)
    interfaces = [i for d in subtree for i in d.interfaces()]
    system.log.clear()
    system.unplug("1-1")
    system.settle()
    assert system.log.lines() == [
        "usb 1-1: USB disconnect, device number 2",
        "usb 1-1.1: USB disconnect, device number 3",
        "usb 1-1.2: USB disconnect, device number 4",
        "usb 1-1.2.1: USB disconnect, device number 6",
        "usb 1-1.3: USB disconnect, device number 5",
    ]
    assert all(d.state is DeviceState.NOTATTACHED and not d.registered for d in subtree)
    assert not any(p.registered for p in ports) and not any(i.registered for i in interfaces)
    assert all(i.driver is None and i.driver_data is None for i in interfaces)
    bus = system.usb.buses[1]
    assert bus.devmap == {1}
    root = system.find_device("usb1")
    assert root is not None and root.children == {}

    async def others() -> list[str]:
        current = asyncio.current_task()
        return sorted(t.get_name() for t in asyncio.all_tasks() if t is not current)

    assert system.run(others()) == []   # hub_wq is idle: no task


def test_unplug_of_a_device_behind_a_hub(system: System) -> None:
    system.add_controller()
    hub = Hub()
    hub.attach(1, PenDrive())
    system.plug(hub, "1-1")
    system.settle()
    system.log.clear()
    hub.detach(1)
    system.sleep(HUB_POLL_MS)
    system.settle()
    assert system.log.lines() == ["usb 1-1.1: USB disconnect, device number 3"]
    assert system.find_device("1-1.1") is None


def test_removing_the_controller_disconnects_everything(system: System) -> None:
    hcd = system.add_controller()
    hub = Hub()
    hub.attach(1, PenDrive())
    system.plug(hub, "1-2")
    system.settle()
    system.log.clear()
    system.run(system.usb.remove_hcd(hcd))
    assert system.log.lines() == [
        "ehci-pci 0000:00:1d.0: remove, state 1",
        "usb usb1: USB disconnect, device number 1",
        "usb 1-2: USB disconnect, device number 2",
        "usb 1-2.1: USB disconnect, device number 3",
        "ehci-pci 0000:00:1d.0: USB bus 1 deregistered",
    ]


# -- the status URB ----------------------------------------------------------------------------


def test_status_urb_errors_are_retried_and_ten_in_a_row_make_a_hub_error(
        system: System) -> None:
    system.add_controller()
    hub = hub_of(system, "usb1")
    urb = hub.urb
    assert urb is not None

    async def fail(times: int, status: int) -> None:
        for _ in range(times):
            await usb_kill_urb(urb)
            urb.status, urb.actual_length = status, 0
            hub_irq(urb)

    system.run(fail(9, -Errno.EPROTO))
    assert (hub.nerrors, hub.error) == (9, 0)
    assert urb.hcpriv is not None          # resubmitted each time
    system.run(fail(1, -Errno.EPROTO))
    assert hub.error == -Errno.EPROTO and hub.nerrors == 0
    system.settle()                        # hub_event: a root hub cannot be reset
    assert hub.error == -Errno.EPROTO


@pytest.mark.parametrize("status", [-Errno.ENOENT, -Errno.ECONNRESET, -Errno.ESHUTDOWN])
def test_status_urb_unlinks_stop_it(system: System, status: int) -> None:
    system.add_controller()
    hub = hub_of(system, "usb1")
    urb = hub.urb
    assert urb is not None
    system.run(usb_kill_urb(urb))
    urb.status = status
    hub_irq(urb)
    assert urb.hcpriv is None and hub.nerrors == 0


def test_status_urb_change_bitmap_reaches_port_event(system: System) -> None:
    system.add_controller()
    lines = control_trace(system)
    system.plug(PenDrive(), "1-5")
    system.settle()
    assert lines[0] == "1:001:0 a3 00 0000 0005 0004"
    assert hub_of(system, "usb1").event_bits == 0


# -- hub_probe / hub_configure failures ------------------------------------------------------------


def hub_class_device(endpoint: EndpointDescriptor, subclass: int = 0) -> DeviceModel:
    return DeviceModel(DeviceDescriptor(
        idVendor=0x1234, idProduct=0x5678, bDeviceClass=9, bDeviceProtocol=1,
        configurations=(ConfigDescriptor(interfaces=(InterfaceDescriptor(
            9, subclass, 0, endpoints=(endpoint,)),), bmAttributes=0xE0),)),
        speed=Speed.HIGH)


@pytest.mark.parametrize("model", [
    hub_class_device(EndpointDescriptor.bulk(0x81, 512)),
    hub_class_device(EndpointDescriptor.interrupt(0x01, 1, 12)),
    hub_class_device(EndpointDescriptor.interrupt(0x81, 1, 12), subclass=2),
], ids=["bulk", "interrupt-out", "subclass-2"])
def test_bad_hub_descriptor_is_ignored(system: System, model: DeviceModel) -> None:
    system.add_controller()
    system.plug(model, "1-1")
    system.settle()
    lines = system.log.lines()
    assert "hub 1-1:1.0: bad descriptor, ignoring hub" in lines
    assert "hub 1-1:1.0: probe with driver hub failed with error -5" in lines
    udev = system.find_device("1-1")
    assert udev is not None and next(udev.interfaces()).driver is None


@pytest.mark.parametrize(("ports", "message"), [
    (0, "config failed, hub doesn't have any ports! (err -19)"),
    (32, "config failed, hub has too many ports! (err -19)"),
])
def test_hub_port_count_limits(system: System, ports: int, message: str) -> None:
    system.add_controller()
    hub = Hub()
    hub.hub_descriptor = HubDescriptor(ports, 0x00A9, 50, 100)
    system.plug(hub, "1-1")
    system.settle()
    lines = system.log.lines()
    assert f"hub 1-1:1.0: {message}" in lines
    assert "hub 1-1:1.0: USB hub found" in lines
    udev = system.find_device("1-1")
    assert udev is not None and usb_hub_to_struct_hub(udev) is None and udev.maxchild == 0


def test_one_port_hub_says_port_not_ports(system: System) -> None:
    system.add_controller()
    system.plug(Hub(ports=1), "1-1")
    system.settle()
    assert "hub 1-1:1.0: 1 port detected" in system.log.lines()


def test_hub_driver_per_machine_state(system: System) -> None:
    system.add_controller()
    driver = system.usb.bus_type.find_driver("hub")
    assert isinstance(driver, HubDriver)
    assert driver.highspeed_hubs == 1      # the EHCI root hub
    system.plug(Hub(), "1-1")
    system.settle()
    assert driver.highspeed_hubs == 2
    system.unplug("1-1")
    system.settle()
    assert driver.highspeed_hubs == 1


def test_port_devices_are_named_like_linux(system: System) -> None:
    system.add_controller()
    system.plug(Hub(ports=2), "1-3")
    system.settle()
    hub = hub_of(system, "1-3")
    assert [p.sysfs_path() for p in hub.ports] == [
        "/devices/pci0000:00/0000:00:1d.0/usb1/1-3/1-3:1.0/1-3-port1",
        "/devices/pci0000:00/0000:00:1d.0/usb1/1-3/1-3:1.0/1-3-port2",
    ]
    assert all(isinstance(p, UsbPort) and p.child is None for p in hub.ports)


def test_reset_of_a_hub_port_reaches_the_device(system: System) -> None:
    """PORT_RESET through an external hub: the hub model reports C_PORT_RESET; the port
    is enabled afterwards and reports high speed."""
    system.add_controller()
    hub = Hub()
    hub.attach(1, PenDrive())
    system.plug(hub, "1-1")
    system.settle()
    port = hub.hub_port(1)
    assert port.status & PortStat.ENABLE and port.status & PortStat.HIGH_SPEED
    udev = system.find_device("1-1.1")
    assert isinstance(udev, UsbDevice) and udev.speed == Speed.HIGH


# -- usb_reset_device ---------------------------------------------------------------------------


def reset(system: System, udev: UsbDevice) -> int:
    from usbemu.core.hub import usb_reset_device

    async def locked() -> int:
        async with udev.lock:
            return await usb_reset_device(udev)

    return system.run(locked())


class Recorder:
    """An interface driver for the pen drive that records its calls."""

    def __init__(self, name: str, hooks: bool) -> None:
        from usbemu.core.devtable import usb_device
        from usbemu.core.driver import UsbDriver

        self.calls: list[str] = []
        extra = {"pre_reset": self._pre, "post_reset": self._post} if hooks else {}
        self.driver = UsbDriver(name, id_table=[usb_device(0x058F, 0x6387)],
                                probe=self._probe, disconnect=self._disconnect, **extra)

    async def _probe(self, intf: object, id: object) -> int:
        self.calls.append("probe")
        return 0

    async def _disconnect(self, intf: object) -> None:
        self.calls.append("disconnect")

    async def _pre(self, intf: object) -> int:
        self.calls.append("pre_reset")
        return 0

    async def _post(self, intf: object) -> int:
        self.calls.append("post_reset")
        return 0


def test_reset_keeps_the_number_and_restores_the_configuration(system: System) -> None:
    system.add_controller()
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    interfaces = list(udev.interfaces())
    lines = control_trace(system)
    system.log.clear()
    assert reset(system, udev) == 0
    assert system.log.lines() == ["usb 1-1: reset high-speed USB device number 2 using ehci-pci"]
    reset_port = ["1:001:0 23 03 0004 0001 0000", "1:001:0 a3 00 0000 0001 0004",
                  "1:001:0 23 01 0014 0001 0000"]
    assert lines == [
        *reset_port,
        "1:000:0 80 06 0100 0000 0040",
        *reset_port,
        "1:000:0 00 05 0002 0000 0000",
        "1:002:0 80 06 0100 0000 0012",
        "1:002:0 80 06 0200 0000 0020",     # descriptors_changed: the configuration
        "1:002:0 80 06 0303 0409 00ff",     # ... and the serial number
        "1:002:0 00 09 0001 0000 0000",     # the configuration restored
    ]
    assert udev.devnum == 2 and udev.state is DeviceState.CONFIGURED
    assert list(udev.interfaces()) == interfaces and all(i.registered for i in interfaces)


def test_reset_tells_drivers_with_hooks_and_rebinds_the_others(system: System) -> None:
    from usbemu.core.driver import usb_register

    system.add_controller()
    polite = Recorder("polite", hooks=True)
    blacklist(system, "usb_storage", "uas")
    system.run(usb_register(system.usb, polite.driver))
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    assert reset(system, udev) == 0
    assert polite.calls == ["probe", "pre_reset", "post_reset"]

    system.run(system.driver_core.driver_unregister(polite.driver))
    blunt = Recorder("blunt", hooks=False)
    system.run(usb_register(system.usb, blunt.driver))
    assert blunt.calls == ["probe"]
    assert reset(system, udev) == 0
    assert blunt.calls == ["probe", "disconnect", "probe"]
    assert next(udev.interfaces()).driver is blunt.driver


def test_reset_of_a_device_whose_firmware_changed_re_enumerates_it(system: System) -> None:
    system.add_controller()
    model = PenDrive()
    system.plug(model, "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    model.descriptors = build_descriptors(replace(model.descriptors.device, bcdDevice=0x0200))
    system.log.clear()
    assert reset(system, udev) == -Errno.ENODEV
    system.settle()
    lines = system.log.lines()
    assert lines[:5] == [
        "usb 1-1: reset high-speed USB device number 2 using ehci-pci",
        "usb 1-1: device firmware changed",
        "usb 1-1: USB disconnect, device number 2",
        "usb 1-1: new high-speed USB device number 3 using ehci-pci",
        "usb 1-1: New USB device found, idVendor=058f, idProduct=6387, bcdDevice= 2.00",
    ]
    assert udev.state is DeviceState.NOTATTACHED
    fresh = system.find_device("1-1")
    assert fresh is not None and fresh is not udev and fresh.devnum == 3


def test_reset_refusals(system: System) -> None:
    system.add_controller()
    root = system.find_device("usb1")
    assert root is not None
    assert reset(system, root) == -Errno.EISDIR
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    system.unplug("1-1")
    system.settle()
    assert reset(system, udev) == -Errno.EINVAL


# -- flaky ports and leaks ------------------------------------------------------------------------


def test_a_flapping_connection_fails_debounce_once(system: System) -> None:
    hcd = system.add_controller()
    model = PenDrive()

    def flap(times: int) -> None:
        if hcd.root_hub.hub_port(1).device is None:
            hcd.root_hub.attach(1, model)
        else:
            hcd.root_hub.detach(1)
        if times > 1:
            system.loop.call_later(0.020, flap, times - 1)

    system.log.clear()
    flap(120)                               # 2.4 s of contact bounce, ends unplugged
    system.sleep(3000)
    system.settle()
    assert system.log.lines() == ["usb usb1-port1: connect-debounce failed"]
    assert system.find_device("1-1") is None


def test_a_port_that_cannot_be_reset(system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    from usbemu.host.roothub import RootHub
    from usbemu.spec.hub import HubRequest, PortFeature

    original = RootHub.control

    def refuse_reset(self: RootHub, setup: SetupPacket, buf: memoryview) -> int:
        if (setup.bmRequestType, setup.bRequest, setup.wValue) == (
                0x23, HubRequest.SET_FEATURE, PortFeature.RESET):
            return -Errno.EPIPE
        return original(self, setup, buf)

    monkeypatch.setattr(RootHub, "control", refuse_reset)
    system.add_controller()
    system.log.clear()
    system.plug(PenDrive(), "1-1")
    system.settle()
    attempt = ["usb usb1-port1: cannot reset (err = -32)"] * 5 \
        + ["usb usb1-port1: Cannot enable. Maybe the USB cable is bad?"]
    assert system.log.lines() == [*attempt, *attempt, "usb usb1-port1: attempt power cycle",
                                  *attempt, *attempt,
                                  "usb usb1-port1: unable to enumerate USB device"]


def test_nothing_is_left_referenced_after_unplug(system: System) -> None:
    import gc
    import weakref

    system.add_controller()
    outer, inner = Hub(), Hub()
    outer.attach(1, PenDrive())
    outer.attach(2, inner)
    inner.attach(1, PenDrive())
    system.plug(outer, "1-1")
    system.settle()
    devices = [d for d in system.usb_devices() if d.name != "usb1"]
    hubs = [hub_of(system, name) for name in ("1-1", "1-1.2")]
    objects: list[object] = [*devices, *hubs, *(p for h in hubs for p in h.ports),
                             *(i for d in devices for i in d.interfaces())]
    refs = [weakref.ref(o) for o in objects]
    del devices, hubs, objects, outer, inner
    system.unplug("1-1")
    system.sleep(HUB_POLL_MS)               # the HCD's pending poll of the dead hub ends
    system.settle()
    gc.collect()
    assert [r() for r in refs if r() is not None] == []


def test_a_devpath_longer_than_15_characters_cannot_be_allocated(system: System) -> None:
    """usb_alloc_dev() refuses "15.15.15.15.15.1" (16 characters): hub_port_connect logs
    "couldn't allocate usb_device" and disables the port, without "unable to enumerate"."""
    system.add_controller(nports=15)
    chain = [Hub(ports=15) for _ in range(5)]
    for upper, lower in itertools.pairwise(chain):
        upper.attach(15, lower)
    leaf = PenDrive()
    chain[-1].attach(1, leaf)
    system.plug(chain[0], "1-15")
    system.settle()
    assert system.find_device("1-15.15.15.15.15") is not None
    lines = system.log.lines()
    assert lines[-1] == "usb 1-15.15.15.15.15-port1: couldn't allocate usb_device"
    assert not any("unable to enumerate" in line for line in lines)
    assert leaf.state is DeviceState.POWERED and not chain[-1].hub_port(1).enabled
