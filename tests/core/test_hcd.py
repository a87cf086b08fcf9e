"""The HCD framework's seams (usbemu.core.hcd, usbemu.host): controller kinds found through
the registry and plugins, the usbmon hooks, completion order and fairness of synchronous
messages, the optional hc_driver operations called where Linux calls them, a root hub that
fails to register, and the conformance suite on the built-in controller."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from usbemu.core.hcd import HostController, usb_hcd_get_frame_number
from usbemu.core.message import usb_bulk_msg, usb_clear_halt, usb_set_interface
from usbemu.core.urb import PIPE_BULK, Urb, make_pipe, usb_submit_urb
from usbemu.core.usb import UsbDevice, UsbHostEndpoint
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.zero import GadgetZero
from usbemu.errors import Errno, PluginNotFound, SettleTimeout
from usbemu.host import HCD_KINDS
from usbemu.host.inproc import InProcessHCD
from usbemu.spec.ch9 import DeviceState, Request, SetupPacket
from usbemu.system import System
from usbemu.testing import (
    ConformanceError,
    UrbRecorder,
    blacklist,
    check_host_controller,
    run_conformance,
)


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


def plug(system: System, model: Any, path: str = "1-1") -> UsbDevice:
    system.plug(model, path)
    system.settle()
    udev = system.find_device(path)
    assert udev is not None
    return udev


def bulk_pipes(udev: UsbDevice) -> tuple[int, int]:
    """gadget zero's loopback pair: (OUT pipe, IN pipe)."""
    eps = [h for i in udev.interfaces() for h in i.cur_altsetting.endpoint if h.type == 2]
    out_ep = next(h for h in eps if not h.address & 0x80)
    in_ep = next(h for h in eps if h.address & 0x80)
    return (make_pipe(udev, PIPE_BULK, out_ep.address, False),
            make_pipe(udev, PIPE_BULK, in_ep.address, True))


# -- usbmon hooks -----------------------------------------------------------------------------


def test_a_monitor_sees_one_submit_and_one_giveback_per_urb_during_enumeration() -> None:
    with System() as system, UrbRecorder(system) as rec:
        system.add_controller()       # the root hub's enumeration is seen too
        blacklist(system, "usb_storage", "uas")
        system.plug(PenDrive(), "1-1")
        system.settle()
    assert rec.events, "the monitor saw nothing"
    history: dict[int, list[str]] = {}
    for event in rec.events:
        history.setdefault(id(event.urb), []).append(event.kind)
    for kinds in history.values():
        # each submission is given back exactly once; only a URB still queued (the root
        # hub's status URB) may end on a submission
        assert "".join(kinds).replace("SC", "") in ("", "S"), kinds
    completions = rec.completed()
    assert completions and all(event.status == 0 for event in completions)
    first_read = next(e for e in completions if e.devnum == 0 and e.setup is not None)
    assert (str(first_read.setup_packet), first_read.actual_length) == (
        "80 06 0100 0000 0040", 18)   # the new scheme's 64-byte read gets 18 bytes
    requests = [e.setup_packet for e in rec.submitted() if e.setup is not None]
    assert any(r is not None and r.bRequest == Request.SET_ADDRESS for r in requests)


def test_a_monitor_sees_a_stall_and_a_refused_submission(system: System) -> None:
    udev = plug(system, PenDrive())
    with UrbRecorder(system) as rec:
        pipe = make_pipe(udev, 2, 0, True)
        urb = Urb().fill_control(udev, pipe, SetupPacket(0xC0, 0x7F, 0, 0, 4), bytearray(4),
                                 4, lambda u: None)
        assert usb_submit_urb(urb) == 0
        system.sleep(1)
        udev.set_state(DeviceState.SUSPENDED)   # the controller refuses: -EHOSTUNREACH
        assert usb_submit_urb(urb) == -Errno.EHOSTUNREACH
    assert [(e.kind, e.status) for e in rec.events] == [
        ("S", -Errno.EINPROGRESS), ("C", -Errno.EPIPE),
        ("S", -Errno.EINPROGRESS), ("E", -Errno.EHOSTUNREACH)]
    assert rec.submitted() == rec.events[:1]


def test_a_closed_recorder_sees_nothing_more(system: System) -> None:
    rec = UrbRecorder(system)
    rec.close()
    system.plug(PenDrive(), "1-1")
    system.settle()
    assert rec.events == [] and system.usb.buses[1].hcd.monitor is None


def test_two_monitors_both_see_everything(system: System) -> None:
    with UrbRecorder(system) as one, UrbRecorder(system) as two:
        plug(system, PenDrive())
    assert [e.kind for e in one.events] == [e.kind for e in two.events] != []


# -- completion order and fairness -----------------------------------------------------------


def test_an_async_urb_ahead_of_a_sync_message_completes_first(system: System) -> None:
    """Linux completes the URBs of one endpoint in submission order: the asynchronous IN
    URB submitted just before usb_bulk_msg on the same endpoint completes before the
    message returns, although the device answers both at once."""
    udev = plug(system, GadgetZero(loopdefault=True))
    out_pipe, in_pipe = bulk_pipes(udev)
    order: list[str] = []

    async def scenario() -> None:
        for data in (b"first", b"second"):
            rc, _ = await usb_bulk_msg(udev, out_pipe, data, len(data), 1000)
            assert rc == 0
        urb = Urb().fill_bulk(udev, in_pipe, bytearray(512), 512,
                              lambda u: order.append(f"async {bytes(u.transfer_buffer[:5])!r}"))
        assert usb_submit_urb(urb) == 0
        buf = bytearray(512)
        rc, n = await usb_bulk_msg(udev, in_pipe, buf, 512, 1000)
        order.append(f"sync {bytes(buf[:n])!r}")

    system.run(scenario())
    assert order == ["async b'first'", "sync b'second'"]


def test_concurrent_synchronous_streams_interleave(system: System) -> None:
    """Four tasks doing echo round trips back to back on four devices: each yields to the
    loop at a bounded interval, so when the first finishes, the others are close behind."""
    devices = [plug(system, GadgetZero(loopdefault=True), f"1-{n}") for n in range(1, 5)]
    rounds = 300
    progress = [0] * len(devices)
    at_first_finish: list[list[int]] = []

    async def stream(index: int, udev: UsbDevice) -> None:
        out_pipe, in_pipe = bulk_pipes(udev)
        buf = bytearray(512)
        for _ in range(rounds):
            assert (await usb_bulk_msg(udev, out_pipe, b"x" * 64, 64, 1000))[0] == 0
            assert (await usb_bulk_msg(udev, in_pipe, buf, 512, 1000)) == (0, 64)
            progress[index] += 1
        if not at_first_finish:
            at_first_finish.append(list(progress))

    async def all_streams() -> None:
        import asyncio

        await asyncio.gather(*(stream(i, d) for i, d in enumerate(devices)))

    system.run(all_streams())
    snapshot = at_first_finish[0]
    assert max(snapshot) == rounds
    assert min(snapshot) >= rounds - 40, snapshot


def test_a_timer_runs_while_a_stream_is_busy(system: System) -> None:
    """A stream of synchronous messages does not starve a callback due now."""
    udev = plug(system, GadgetZero(loopdefault=True))
    out_pipe, in_pipe = bulk_pipes(udev)
    seen: list[int] = []

    async def scenario() -> None:
        import asyncio

        done = 0
        asyncio.get_running_loop().call_soon(lambda: seen.append(done))
        buf = bytearray(512)
        for done in range(1, 201):  # noqa: B007 - the callback reads it
            await usb_bulk_msg(udev, out_pipe, b"y" * 8, 8, 1000)
            await usb_bulk_msg(udev, in_pipe, buf, 512, 1000)

    system.run(scenario())
    assert seen and seen[0] < 100


# -- controller kinds --------------------------------------------------------------------------


def test_the_built_in_kind_and_unknown_kinds(system: System) -> None:
    assert HCD_KINDS.available()["inproc"].target == "usbemu.host.inproc:InProcessHCD"
    assert isinstance(system.controllers[0], InProcessHCD)
    with pytest.raises(PluginNotFound, match=r"no host controller kind named 'xhci'; "
                                             r"known host controller kinds: .*inproc"):
        system.add_controller("xhci")


TOY_HCD = '''"""A toy controller kind from an installed plugin package."""

from usbemu.host.inproc import InProcessController
from usbemu.spec.ch9 import Speed


class ToyHCD(InProcessController):
    """The in-process data path under another name, giving URBs back one loop turn late."""

    description = "toy_hcd"
    product_desc = "Toy Host Controller"
    driver_name = "toy-hcd"
    rh_speed = Speed.HIGH

    def giveback_urb(self, urb, status):
        self.loop.call_soon(super().giveback_urb, urb, status)


class BrokenHCD(ToyHCD):
    """Forgets to give back unlinked URBs and ignores SHORT_NOT_OK."""

    def urb_dequeue(self, urb, status):
        self.check_unlink_urb(urb, status)
        return 0
'''


@pytest.fixture
def toy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution installed on sys.path as pip leaves it, with two controller kinds
    in the `usbemu.hcds` entry-point group."""
    package = tmp_path / "toyhcd"
    package.mkdir()
    (package / "__init__.py").write_text(TOY_HCD)
    info = tmp_path / "toyhcd-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyhcd\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[usbemu.hcds]\ntoy = toyhcd:ToyHCD\nbroken = toyhcd:BrokenHCD\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toyhcd", raising=False)
    return tmp_path


def test_a_plugin_controller_kind_runs_a_machine(toy_plugin: Path) -> None:
    with System() as system:
        hcd = system.add_controller("toy", nports=2)
        assert HCD_KINDS.available()["toy"].origin == "plugin"
        assert type(hcd).__name__ == "ToyHCD" and hcd.bus is not None
        system.plug(PenDrive(), "1-2")
        system.settle()
        lines = system.log.lines()
        assert "toy-hcd 0000:00:1d.0: Toy Host Controller" in lines
        assert "usb 1-2: new high-speed USB device number 2 using toy-hcd" in lines
        assert system.vfs.read_text("/sys/bus/usb/devices/usb1/manufacturer") == \
            "Linux 6.12.0 toy_hcd\n"


def test_a_plugin_controller_kind_passes_the_conformance_suite(toy_plugin: Path) -> None:
    check_host_controller("toy")


def test_a_broken_controller_fails_the_suite_with_a_readable_report(toy_plugin: Path) -> None:
    with pytest.raises(ConformanceError) as failed:
        check_host_controller("broken")
    report = failed.value.report
    text = str(failed.value)
    assert text.startswith("host controller kind 'broken': ")
    assert {r.name for r in report.failures} == {"unlink", "kill",
                                                 "unplug with URBs in flight"}
    assert ("  FAIL unlink\n       second usb_unlink_urb: -115 (-EINPROGRESS), expected -16 "
            "(-EBUSY)\n") in text
    assert "  FAIL kill\n       did not finish within 30 s of machine time\n" in text
    assert "  ok   bulk status and data\n" in text


def test_the_built_in_controller_passes_the_conformance_suite() -> None:
    report = run_conformance("inproc")
    assert report.failures == [], report.text()
    assert len(report.results) >= 13


# -- optional hc_driver operations ------------------------------------------------------------


class OpsHCD(InProcessHCD):
    """Implements every optional operation, recording each call; addresses devices itself
    (as xHCI's Address Device command does) and can refuse bandwidth."""

    calls: ClassVar[list[tuple[str, Any]]] = []
    refuse: ClassVar[set[str]] = set()

    def _note(self, name: str, what: Any = None) -> None:
        type(self).calls.append((name, what))

    async def address_device(self, udev: UsbDevice, timeout_ms: int) -> int:
        model = self.find_model(0)
        assert model is not None
        address = 100 + len([c for c in self.calls if c[0] == "address_device"])
        self._note("address_device", (udev.state, timeout_ms))
        model.control(SetupPacket(0x00, Request.SET_ADDRESS, address))
        udev.hcpriv = model
        return 0

    def _route(self, urb: Urb) -> Any:
        udev = urb.dev
        assert udev is not None
        if udev.hcpriv is not None and udev.devnum and udev.hcpriv.reachable:
            return udev.hcpriv
        return self.find_model(0)

    async def enable_device(self, udev: UsbDevice) -> int:
        self._note("enable_device", udev.state)
        return 0

    async def reset_device(self, udev: UsbDevice) -> int:
        self._note("reset_device", udev.devnum)
        return 0

    async def update_device(self, udev: UsbDevice) -> int:
        self._note("update_device", udev.descriptor is not None)
        return 0

    def add_endpoint(self, udev: UsbDevice, hep: UsbHostEndpoint) -> int:
        self._note("add_endpoint", (udev.name, hep.address))
        return 0

    def drop_endpoint(self, udev: UsbDevice, hep: UsbHostEndpoint) -> int:
        self._note("drop_endpoint", (udev.name, hep.address))
        return 0

    async def check_bandwidth(self, udev: UsbDevice) -> int:
        self._note("check_bandwidth", udev.name)
        refused = "bandwidth" in self.refuse and udev.usb_parent is not None
        return -Errno.ENOSPC if refused else 0

    def reset_bandwidth(self, udev: UsbDevice) -> None:
        self._note("reset_bandwidth", udev.name)

    def endpoint_reset(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:
        self._note("endpoint_reset", hep.address)

    def endpoint_disable(self, udev: UsbDevice, hep: UsbHostEndpoint) -> None:
        self._note("endpoint_disable", hep.address)
        super().endpoint_disable(udev, hep)

    def get_frame_number(self) -> int:
        return 1234


@pytest.fixture
def ops() -> Iterator[System]:
    OpsHCD.calls.clear()
    OpsHCD.refuse.clear()
    with System() as machine:
        machine.add_controller(OpsHCD)
        blacklist(machine, "usb_storage", "uas")
        yield machine


def names(calls: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in calls]


def test_ops_lists_the_optional_operations_a_class_implements() -> None:
    assert InProcessHCD.ops == frozenset({"start", "endpoint_disable", "bus_suspend",
                                          "bus_resume"})
    assert OpsHCD.ops >= {"address_device", "enable_device", "reset_device", "update_device",
                          "add_endpoint", "drop_endpoint", "check_bandwidth",
                          "reset_bandwidth", "endpoint_reset", "get_frame_number"}


def test_a_controller_that_addresses_devices_itself(ops: System) -> None:
    with UrbRecorder(ops) as rec:
        udev = plug(ops, PenDrive())
    assert udev.actconfig is not None and udev.devnum == 2
    setups = [e.setup_packet for e in rec.submitted() if e.setup is not None]
    assert not any(s is not None and s.bRequest == Request.SET_ADDRESS for s in setups)
    calls = OpsHCD.calls
    assert ("address_device", (DeviceState.DEFAULT, 5000)) in calls
    # new scheme: enable_device in the DEFAULT state before the first descriptor read, a
    # reset_device after each of the two port resets, update_device at the end
    first = names(calls)
    assert first.index("enable_device") < first.index("address_device")
    assert calls[first.index("enable_device")] == ("enable_device", DeviceState.DEFAULT)
    assert first.count("reset_device") == 2 and first.count("update_device") == 1
    assert first.index("update_device") > first.index("address_device")


def test_set_configuration_asks_for_bandwidth(ops: System) -> None:
    OpsHCD.calls.clear()
    plug(ops, PenDrive())
    bandwidth = [c for c in OpsHCD.calls if c[0] in ("add_endpoint", "drop_endpoint",
                                                     "check_bandwidth", "reset_bandwidth")]
    assert bandwidth == [("add_endpoint", ("1-1", 0x01)), ("add_endpoint", ("1-1", 0x82)),
                         ("check_bandwidth", "1-1")]
    OpsHCD.calls.clear()
    ops.unplug("1-1")
    ops.settle()
    assert ("check_bandwidth", "1-1") not in OpsHCD.calls  # a gone device is not rescheduled


def test_a_configuration_without_bandwidth_fails_as_in_linux(ops: System) -> None:
    OpsHCD.refuse.add("bandwidth")
    udev = plug(ops, PenDrive())
    assert "usb 1-1: can't set config #1, error -28" in ops.log.lines()
    assert udev.actconfig is None and udev.state is DeviceState.ADDRESS
    assert ("reset_bandwidth", "1-1") in OpsHCD.calls
    assert ops.vfs.read_text("/sys/bus/usb/devices/1-1/bConfigurationValue") == ""


def test_an_altsetting_without_bandwidth_is_refused(ops: System) -> None:
    udev = plug(ops, GadgetZero())
    OpsHCD.calls.clear()
    OpsHCD.refuse.add("bandwidth")
    ops.log.clear()
    assert ops.run(usb_set_interface(udev, 0, 1)) == -Errno.ENOSPC
    assert ops.log.lines() == ["usb 1-1: Not enough bandwidth for altsetting 1"]
    assert names(OpsHCD.calls)[-2:] == ["check_bandwidth", "reset_bandwidth"]
    intf = udev.interface(0)
    assert intf is not None and intf.cur_altsetting.desc.bAlternateSetting == 0
    OpsHCD.refuse.clear()
    assert ops.run(usb_set_interface(udev, 0, 1)) == 0
    assert intf.cur_altsetting.desc.bAlternateSetting == 1


def test_endpoint_reset_and_disable_are_the_controllers(ops: System) -> None:
    udev = plug(ops, PenDrive())
    OpsHCD.calls.clear()
    assert ops.run(usb_clear_halt(udev, make_pipe(udev, PIPE_BULK, 2, True))) == 0
    assert OpsHCD.calls == [("endpoint_reset", 0x82)]  # usb_reset_endpoint() of clear_halt
    OpsHCD.calls.clear()
    ops.unplug("1-1")
    ops.settle()
    assert {c for c in OpsHCD.calls if c[0] == "endpoint_disable"} >= {
        ("endpoint_disable", 0x01), ("endpoint_disable", 0x82)}
    assert usb_hcd_get_frame_number(udev) == 1234


def test_without_endpoint_reset_usbcore_clears_its_toggles(system: System) -> None:
    udev = plug(system, PenDrive())
    udev.toggle = [0xFFFF, 0xFFFF]
    assert system.run(usb_clear_halt(udev, make_pipe(udev, PIPE_BULK, 2, True))) == 0
    assert udev.toggle == [0xFFFF & ~(1 << 2), 0xFFFF]


def test_frame_numbers_and_a_stopped_controller(system: System) -> None:
    udev = plug(system, PenDrive())
    system.sleep(3)
    assert usb_hcd_get_frame_number(udev) == int(system.time() * 1000) & 0x7FF
    system.unplug("1-1")
    system.settle()
    system.run(system.usb.remove_hcd(system.controllers[0]))
    assert usb_hcd_get_frame_number(udev) == -Errno.ESHUTDOWN


def test_bus_suspend_suspends_the_devices_behind_the_root_ports(system: System) -> None:
    from usbemu.core.driver import usb_resume_device, usb_suspend_device

    drive = PenDrive()
    udev = plug(system, drive)
    root = system.find_device("usb1")
    assert root is not None
    assert system.run(usb_suspend_device(udev)) == 0
    assert system.run(usb_suspend_device(root)) == 0
    assert root.state is DeviceState.SUSPENDED and drive.state is DeviceState.SUSPENDED
    assert system.run(usb_resume_device(root)) == 0
    assert system.run(usb_resume_device(udev)) == 0
    assert drive.state is DeviceState.CONFIGURED and root.state is DeviceState.CONFIGURED


class BareHCD(HostController):
    """Only the required operations: URBs to devices are refused; no bus suspend."""

    driver_name = "bare-hcd"

    def urb_enqueue(self, urb: Urb) -> int:
        return -Errno.ENODEV

    def urb_dequeue(self, urb: Urb, status: int) -> int:
        return -Errno.EIDRM


def test_a_controller_without_bus_suspend_gets_linuxs_default() -> None:
    from usbemu.core.driver import usb_suspend_device

    with System() as system:
        hcd = system.add_controller(BareHCD, nports=1)
        assert hcd.ops == frozenset() and hcd.downstream is None
        root = system.find_device("usb1")
        assert root is not None
        assert system.run(usb_suspend_device(root)) == -Errno.ENOENT
        with pytest.raises(ValueError, match=r"bus 1 \(bare-hcd\) has no ports a device "
                                             r"model can be plugged into"):
            system.plug(PenDrive(), "1-1")


# -- controller registration -------------------------------------------------------------------


class NoRootHubHCD(InProcessHCD):
    """Its root hub STALLs GET_DESCRIPTOR: the root hub cannot be registered."""

    def _rh_request(self, setup: SetupPacket, buf: memoryview) -> int:
        return -Errno.EPIPE


class DeadHCD(InProcessHCD):
    def start(self) -> int:
        return -Errno.EIO


@pytest.mark.parametrize(("cls", "message", "code"), [
    (NoRootHubHCD, "can't register root hub for usb1, -32", Errno.EPIPE),
    (DeadHCD, "startup error -5", Errno.EIO),
])
def test_a_controller_that_cannot_register_leaves_no_bus(cls: type[HostController], message: str,
                                                         code: int) -> None:
    with System() as system:
        with pytest.raises(OSError, match=message) as failed:
            system.add_controller(cls)
        assert failed.value.errno == code
        assert system.usb.buses == {} and system.controllers == []
        assert "ehci-pci 0000:00:1d.0: USB bus 1 deregistered" in system.log.lines()
        assert not system.vfs.exists("/sys/bus/usb/devices/usb1")
        assert system.usb_devices() == []
        system.add_controller()
        assert system.find_device("usb1") is not None


# -- settle ------------------------------------------------------------------------------------


def test_settle_that_gives_up_says_what_is_pending(system: System) -> None:
    hub = Hub()
    plug(system, hub)
    with system.open("/sys/bus/usb/drivers/hub/unbind", "w") as unbind:
        unbind.write(b"1-1:1.0")
    hub.attach(1, PenDrive())       # nobody polls the hub's status endpoint now
    with pytest.raises(SettleTimeout, match=r"did not settle within 1 s: a port change "
                                            r"of the hub at 1-1 not yet taken by the hub driver"):
        system.run(system.asettle(timeout_s=1))


def test_address_0_reaches_the_device_at_its_port_without_a_walk_of_the_bus(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Enumerating devices behind hubs finds each one, at address 0, where its parent
    hub's model has it: the controller never walks the bus for them."""
    walks: list[int] = []
    original = InProcessHCD.find_model

    def counted(self: InProcessHCD, address: int) -> Any:
        walks.append(address)
        return original(self, address)
    monkeypatch.setattr(InProcessHCD, "find_model", counted)
    with System() as system:
        system.add_controller()
        system.plug(Hub(ports=4), "1-1")
        system.plug(Hub(ports=4), "1-1.2")
        for path in ("1-2", "1-1.1", "1-1.2.3", "1-1.2.4"):
            system.plug(GadgetZero(), path)
        system.settle()
        assert {d.name for d in system.usb_devices()} >= {"1-2", "1-1.1", "1-1.2.3",
                                                          "1-1.2.4"}
        assert walks == []
        system.unplug("1-1.2.3")
        system.plug(PenDrive(storage="memory"), "1-1.2.3")    # another model, same port
        system.settle()
        udev = system.find_device("1-1.2.3")
        assert udev is not None and udev.descriptor is not None
        assert udev.descriptor.idVendor == PenDrive().device_descriptor.idVendor
    assert walks == []
