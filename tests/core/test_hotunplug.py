"""Hot unplug with I/O in flight, as Linux 6.12 handles it: the transfers the controller
was running when the device vanished fail with -EPROTO, the rest are flushed by
usb_disconnect with -ESHUTDOWN (each completes exactly once), the driver's disconnect runs
once, later submissions get -ENODEV, a blocked usb_bulk_msg returns instead of hanging,
and nothing is left behind: no tasks, no queued URBs, no device objects.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from typing import ClassVar

import pytest

from usbemu.core.devtable import usb_device
from usbemu.core.driver import UsbDriver, usb_register
from usbemu.core.urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    Urb,
    make_pipe,
    usb_kill_urb,
    usb_submit_urb,
)
from usbemu.core.usb import UsbDevice, UsbHostEndpoint, UsbInterface
from usbemu.emulated.device import DeviceModel, endpoint_in
from usbemu.emulated.endpoint import Endpoint
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno
from usbemu.spec.ch9 import SetupPacket, Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.system import System


class Sensor(DeviceModel):
    """A device whose bulk IN (0x81) and interrupt IN (0x83, every 8 ms) never have data,
    and whose bulk OUT (0x02) takes everything."""

    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        0x1209, 0x0001, configurations=(ConfigDescriptor(interfaces=(InterfaceDescriptor(
            0xFF, endpoints=(EndpointDescriptor.bulk(0x81, 512),
                             EndpointDescriptor.bulk(0x02, 512),
                             EndpointDescriptor.interrupt(0x83, 8, 7))),)),))

    @endpoint_in(0x83)
    def _nothing(self, ep: Endpoint, room: int) -> None:
        return None


class SensorDriver(UsbDriver):
    """Submits, at probe, two bulk IN URBs (one behind the other) and an interrupt URB that
    resubmits itself on success; records every completion per URB."""

    id_table = (usb_device(0x1209, 0x0001),)

    def __init__(self) -> None:
        super().__init__("sensor")
        self.urbs: dict[str, Urb] = {}
        self.completions: dict[str, list[int]] = {}
        self.disconnects = 0
        self.intf: UsbInterface | None = None

    def complete(self, urb: Urb) -> None:
        name = urb.context
        self.completions.setdefault(name, []).append(urb.status)
        if name == "int" and urb.status == 0:
            usb_submit_urb(urb)

    def add(self, name: str, urb: Urb) -> None:
        urb.context = name
        self.urbs[name] = urb
        assert usb_submit_urb(urb) == 0

    async def probe(self, intf: UsbInterface, id: object) -> int:
        udev = intf.usb_dev
        self.intf = intf
        for name in ("bulk-head", "bulk-queued"):
            self.add(name, Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 1, True),
                                           bytearray(512), 512, self.complete))
        self.add("int", Urb().fill_int(udev, make_pipe(udev, PIPE_INTERRUPT, 3, True),
                                       bytearray(8), 8, self.complete, None, 7))
        return 0

    async def disconnect(self, intf: UsbInterface) -> None:
        self.disconnects += 1
        for urb in self.urbs.values():
            await usb_kill_urb(urb)


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


def endpoints_of(udev: UsbDevice) -> list[UsbHostEndpoint]:
    found = [udev.ep0]
    for intf in udev.interfaces():
        for alt in intf.altsetting:
            found.extend(alt.endpoint)
    return found


def test_unplug_with_urbs_in_flight(system: System) -> None:
    driver = SensorDriver()
    system.run(usb_register(system.usb, driver))
    model = Sensor()
    system.plug(model, "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None and driver.intf is not None and driver.intf.driver is driver
    system.sleep(50)  # the URBs are being polled; the device NAKs them all
    assert driver.completions == {}
    endpoints = endpoints_of(udev)

    system.unplug("1-1")
    # a control request sent after the device vanished but before hub_wq notices (the
    # driver does not kill this one in its disconnect, so usb_disconnect flushes it)
    control = Urb().fill_control(udev, make_pipe(udev, PIPE_CONTROL, 0, True),
                                 SetupPacket(0x80, 0, 0, 0, 2), bytearray(2), 2,
                                 driver.complete, "control")
    assert usb_submit_urb(control) == 0
    system.settle()
    system.sleep(10)

    assert driver.completions == {
        "bulk-head": [-Errno.EPROTO],    # the controller was polling these two
        "int": [-Errno.EPROTO],
        "bulk-queued": [-Errno.ESHUTDOWN],  # these were flushed by usb_disconnect
        "control": [-Errno.ESHUTDOWN],
    }
    assert driver.disconnects == 1
    assert "usb 1-1: USB disconnect, device number 2" in system.log.lines()
    for urb in (*driver.urbs.values(), control):
        assert urb.use_count == 0 and urb.hcpriv is None
        assert usb_submit_urb(urb) == -Errno.ENODEV
    assert all(len(hep.urb_list) == 0 for hep in endpoints)
    hcd = system.controllers[0]
    assert not any(q.udev is udev for q in hcd._waiters.values())
    tasks = [t for t in asyncio.all_tasks(system.loop) if not t.done()]
    assert [t.get_name() for t in tasks] == []   # hub_wq is idle: no task

    # nothing keeps the unplugged device alive once its driver lets go of it
    refs = [weakref.ref(udev), weakref.ref(driver.intf)]
    driver.urbs.clear()
    driver.intf = None
    del udev, control, endpoints, urb
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_unplug_a_hub_with_a_busy_device_behind_it(system: System) -> None:
    """The whole subtree goes: the device behind the hub is disconnected first, its URBs
    complete once each, and its driver's disconnect runs once."""
    driver = SensorDriver()
    system.run(usb_register(system.usb, driver))
    hub = Hub(ports=4)
    system.plug(hub, "1-1")
    system.settle()
    system.plug(Sensor(), "1-1.2")
    system.sleep(300)
    system.settle()
    assert driver.intf is not None and driver.intf.name == "1-1.2:1.0"
    system.unplug("1-1")
    system.settle()
    system.sleep(10)
    assert sorted(driver.completions) == ["bulk-head", "bulk-queued", "int"]
    assert all(len(v) == 1 for v in driver.completions.values())
    assert all(v[0] in (-Errno.EPROTO, -Errno.ESHUTDOWN) for v in driver.completions.values())
    assert driver.disconnects == 1
    lines = system.log.lines()
    assert lines.index("usb 1-1: USB disconnect, device number 2") < \
        lines.index("usb 1-1.2: USB disconnect, device number 3")
    assert system.find_device("1-1") is None and system.find_device("1-1.2") is None


def test_pen_driver_read_returns_when_the_pen_is_pulled(system: System) -> None:
    """A read of /dev/pen0 blocks in pen_read's usb_bulk_msg (the pen has nothing
    stored); pulling the pen makes it return an error at once instead of waiting for its
    5 s timeout, and the file's next call gets -ENODEV."""
    pen = system.insmod("pen_driver").pymodule
    assert pen is not None
    system.plug(PenDrive(), "1-1")
    system.settle()

    async def read_while_unplugged() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        f = await system.aopen("/dev/pen0", "rb")
        reader = asyncio.ensure_future(f.read(512))
        await asyncio.sleep(0.5)
        assert not reader.done()
        system.unplug("1-1")
        with pytest.raises(OSError) as info:
            await reader
        elapsed = loop.time() - start
        await system.asettle()
        with pytest.raises(OSError) as again:
            await f.read(512)
        assert again.value.errno == Errno.ENODEV
        await f.close()
        return -(info.value.errno or 0), elapsed

    result, elapsed = system.run(read_while_unplugged())
    system.settle()
    assert result == -Errno.EPROTO
    assert elapsed == pytest.approx(0.5, abs=0.001)
    assert "Bulk message returned -71" in system.log.lines()
    assert "Pen drive removed" in system.log.lines()
    assert pen.device is None
    system.rmmod("pen_driver")
