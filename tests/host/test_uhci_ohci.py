"""The full-speed controller kinds (usbemu.host.uhci, usbemu.host.ohci) against uhci-hub.c,
ohci-hub.c and uhci-q.c: their root hub descriptors and port status bits, their start-up
lines, their port counts, and UHCI's periodic bandwidth limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.core.hcd import ns_to_us, usb_calc_bus_time
from usbemu.core.urb import Urb, usb_submit_urb
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.mouse import BootMouse
from usbemu.errors import Errno
from usbemu.host.ohci import OhciHCD
from usbemu.host.roothub import RootHub
from usbemu.host.uhci import UhciHCD
from usbemu.linux import usb_rcvintpipe
from usbemu.spec.ch9 import SetupPacket, Speed
from usbemu.spec.hub import HubRequest, PortChange, PortFeature, PortStatus
from usbemu.system import System


def root_request(root: RootHub, rtype: int, req: int, value: int, index: int,
                 length: int = 0) -> tuple[int, bytes]:
    buf = bytearray(length)
    rc = root.control(SetupPacket(rtype, req, value, index, length), memoryview(buf))
    return rc, bytes(buf[:max(rc, 0)])


@pytest.fixture
def machine() -> Iterator[System]:
    with System() as system:
        system.add_controller("uhci")
        system.add_controller("ohci")
        yield system


def test_the_kinds_name_themselves_as_their_drivers_do(machine: System) -> None:
    uhci, ohci = machine.controllers
    assert isinstance(uhci, UhciHCD) and isinstance(ohci, OhciHCD)
    lines = machine.dmesg()
    assert "uhci_hcd 0000:00:1d.0: detected 2 ports" in lines
    assert "uhci_hcd 0000:00:1d.0: irq 23, io port 0x0000c500" in lines
    assert "ohci-pci 0000:00:1e.0: OHCI PCI host controller" in lines
    assert "ohci-pci 0000:00:1e.0: irq 23, io mem 0xf7f1e000" in lines
    assert "detected" not in "".join(line for line in lines.splitlines() if "ohci" in line)
    for bus, product in ((1, "UHCI Host Controller"), (2, "OHCI PCI host controller")):
        read = machine.vfs.read_text
        assert read(f"/sys/bus/usb/devices/usb{bus}/product").strip() == product
        assert read(f"/sys/bus/usb/devices/usb{bus}/idProduct").strip() == "0001"
        assert read(f"/sys/bus/usb/devices/usb{bus}/speed").strip() == "12"
    assert machine.vfs.read_text("/sys/bus/usb/devices/usb2/maxchild").strip() == "3"
    assert "ohci_hcd" in machine.vfs.read_text("/sys/bus/usb/devices/usb2/manufacturer")


def test_the_root_hub_descriptors_are_the_drivers(machine: System) -> None:
    uhci, ohci = (hcd.downstream for hcd in machine.controllers)
    assert isinstance(uhci, RootHub) and isinstance(ohci, RootHub)
    # uhci-hub.c root_hub_hub_des with bNbrPorts = 2, and ohci_hub_descriptor for NPS,
    # global over-current, POTPGT 0 and DR 0; hcd.c answers sizeof(struct
    # usb_hub_descriptor), 15 bytes, zero-padded.
    for root, head in ((uhci, "0929020a0001000 0ff"), (ohci, "092903020000 00 00ff")):
        reply = root_request(root, 0xA0, HubRequest.GET_DESCRIPTOR, 0x2900, 0, 15)[1]
        assert reply == bytes.fromhex(head.replace(" ", "")).ljust(15, b"\0")


def test_uhci_reports_no_reset_change_and_refuses_power_off(machine: System) -> None:
    uhci, ohci = (hcd.downstream for hcd in machine.controllers)
    assert isinstance(uhci, RootHub) and isinstance(ohci, RootHub)
    machine.plug(BootMouse(), "1-1")
    machine.plug(BootMouse(), "2-1")
    machine.settle()
    for root, reports in ((uhci, False), (ohci, True)):
        assert root_request(root, 0x23, HubRequest.SET_FEATURE, PortFeature.RESET, 1)[0] == 0
        status = PortStatus.unpack(root_request(root, 0xA3, HubRequest.GET_STATUS, 0, 1, 4)[1])
        assert bool(status.change & PortChange.C_RESET) is reports
        assert root.status_data() == (b"\x02" if reports else b"\x00")
        root_request(root, 0x23, HubRequest.CLEAR_FEATURE, PortFeature.C_RESET, 1)
    assert root_request(uhci, 0x23, HubRequest.CLEAR_FEATURE, PortFeature.POWER, 1)[0] == \
        -Errno.EPIPE
    assert root_request(ohci, 0x23, HubRequest.CLEAR_FEATURE, PortFeature.POWER, 1)[0] == 0


@pytest.mark.parametrize(("kind", "nports"), [("uhci", 8), ("uhci", 0), ("ohci", 16)])
def test_port_counts_outside_the_hardware_are_refused(kind: str, nports: int) -> None:
    with System() as system, pytest.raises(ValueError, match="root hubs have 1"):
        system.add_controller(kind, nports=nports)


@pytest.mark.parametrize(("speed", "is_in", "isoc", "count", "ns"), [
    # BitTime(n) = 56n // 6; bits = 31 + 10 BitTime
    (Speed.LOW, True, False, 4, 92860),        # 64060 + 666 + 1000 + 67667·401 // 1000
    (Speed.LOW, False, False, 8, 117198),      # 64107 + 666 + 1000 + 66700·771 // 1000
    (Speed.FULL, True, False, 64, 60239),      # 9107 + 1000 + 8354·6001 // 1000
    (Speed.FULL, True, True, 1023, 806166),    # 7268 + 1000 + 8354·95511 // 1000
    (Speed.FULL, False, True, 192, 157227),    # 6265 + 1000 + 8354·17951 // 1000
    (Speed.HIGH, True, False, 512, 10880),     # (55·8·2083 + 2083·4781) // 1000 + 5
    (Speed.HIGH, True, True, 1024, 20551),     # (38·8·2083 + 2083·9560) // 1000 + 5
])
def test_usb_calc_bus_time_is_hcds(speed: Speed, is_in: bool, isoc: bool, count: int,
                                   ns: int) -> None:
    assert usb_calc_bus_time(speed, is_in, isoc, count) == ns
    assert ns_to_us(ns) == (ns + 999) // 1000


def test_usb_calc_bus_time_refuses_a_speed_it_has_no_formula_for() -> None:
    with pytest.raises(ValueError, match="SUPER"):
        usb_calc_bus_time(Speed.SUPER, True, False, 8)


def test_a_frame_beyond_900_us_gets_enospc() -> None:
    with System() as system:
        hcd = system.add_controller("uhci", nports=7)
        assert isinstance(hcd, UhciHCD)
        system.plug(Hub(speed=Speed.FULL), "1-1")
        system.settle()
        paths = [f"1-{port}" for port in range(2, 8)] + [f"1-1.{port}" for port in range(1, 5)]
        for path in paths:
            system.plug(BootMouse(), path)
        system.settle()
        # The hub's status endpoint: 1 byte every 255 ms → period 128, phase 0, 12 µs.
        assert hcd.load[0] == 12 and sum(hcd.load) == 12
        results: list[int] = []
        urbs: list[Urb] = []

        async def submit_all() -> None:
            for path in paths:
                udev = system.find_device(path)
                assert udev is not None
                for _ in range(2):  # a second URB keeps the endpoint's reservation
                    urb = Urb().fill_int(udev, usb_rcvintpipe(udev, 0x81), bytearray(4), 4,
                                         lambda u: None, None, 1)
                    urbs.append(urb)
                    results.append(usb_submit_urb(urb))

        system.run(submit_all())
        # Each low-speed mouse polled every frame costs 93 µs of each of the 32 frames:
        # nine fit beside the hub (12 + 9 × 93 = 849), the tenth would make 942.
        assert results == [0] * 18 + [-Errno.ENOSPC] * 2
        assert hcd.load[1] == 9 * 93 and hcd.load[0] == 12 + 9 * 93
        assert hcd.bus is not None and hcd.bus.bandwidth_int_reqs == 10
        assert urbs[0].interval == 1
