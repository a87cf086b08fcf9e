"""USB/IP's virtual host controller (usbemu.host.vhci) against vhci_hcd.c, vhci_rx.c and
vhci_sysfs.c: the controller as Linux registers it (a high-speed and a SuperSpeed bus), an
imported device enumerated by the hub driver through a transport that answers as usbip-host
would, SET_ADDRESS answered locally, unlinks before and after the answer and after the
connection is gone, a reply for a seqnum never sent, a lost connection as an unplug, the
sysfs files, the root hubs' quirks, and SuperSpeed imports (a device and a hub) on the
SuperSpeed bus — each with the kernel's messages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from usbemu.core.hcd import usb_hcd_get_frame_number
from usbemu.core.hub import hub_port_warm_reset_required, usb_hub_to_struct_hub
from usbemu.core.urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_ISOCHRONOUS,
    Urb,
    make_pipe,
    usb_pipeendpoint,
    usb_pipein,
    usb_pipetype,
    usb_submit_urb,
    usb_unlink_urb,
)
from usbemu.core.usb import UsbDevice
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.endpoint import Endpoint, Outcome
from usbemu.emulated.models.ftdi import FT232R
from usbemu.emulated.models.mouse import BootMouse
from usbemu.emulated.models.zero import GadgetZero
from usbemu.errors import Errno
from usbemu.host.vhci import (
    SS_HUB_DESCRIPTOR,
    USB3_BOS_DESCRIPTOR,
    VHCI_HC_PORTS,
    VHCI_PORTS,
    VdevStatus,
    VhciDevice,
    VhciHCD,
    VhciSsHCD,
)
from usbemu.spec.ch9 import ConfigAttributes, Request, RequestType, SetupPacket, Speed
from usbemu.spec.descriptors import (
    BosDescriptor,
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    SsEndpointCompanion,
    build_descriptors,
    superspeed_capability,
    usb20_extension,
)
from usbemu.system import System

VHCI = "/sys/devices/platform/vhci_hcd.0"
EMPTY_LINE = "000 00000000 000000 0-0\n"
SOCKFD = 3
DEVID = 0x00010002          # busnum 1, devnum 2 on the server
_STATUS = {Outcome.DONE: 0, Outcome.STALL: -Errno.EPIPE, Outcome.BABBLE: -Errno.EOVERFLOW,
           Outcome.NO_RESPONSE: -Errno.EPROTO}


class ModelStub:
    """A VhciTransport that answers as usbip-host on the server would, one loop pass
    later, from a device model the server has already addressed: control transfers through
    ep0, bulk and interrupt through the model's endpoints (a NAK keeps the URB until the
    endpoint is ready), an unlink of a URB not yet answered with -ECONNRESET.  `hold`
    keeps every URB unanswered; `log` records what it was given."""

    def __init__(self, model: DeviceModel, loop: asyncio.AbstractEventLoop) -> None:
        self.model, self.loop = model, loop
        self.vdev: VhciDevice | None = None
        self.log: list[tuple[Any, ...]] = []
        self.pending: dict[int, Urb] = {}
        self.hold = False
        self.answer_unlinks = True
        self.closed = False
        model.connect(None, self, loop)
        model.bus_reset()
        model.control(bytes(SetupPacket(0, Request.SET_ADDRESS, 5)))

    # -- DeviceHost ---------------------------------------------------------------------------

    def endpoint_ready(self, device: DeviceModel, ep: Endpoint) -> None:
        self.loop.call_soon(self._answer_all)

    def remote_wakeup(self, device: DeviceModel) -> None:
        pass

    def device_disconnected(self, device: DeviceModel) -> None:
        pass

    # -- VhciTransport ------------------------------------------------------------------------

    def submit(self, seqnum: int, urb: Urb) -> None:
        self.log.append(("submit", seqnum, usb_pipeendpoint(urb.pipe), urb.setup_packet))
        self.pending[seqnum] = urb
        if not self.hold:
            self.loop.call_soon(self._answer, seqnum)

    def unlink(self, seqnum: int, unlink_seqnum: int) -> None:
        self.log.append(("unlink", seqnum, unlink_seqnum))
        if self.answer_unlinks:
            found = self.pending.pop(unlink_seqnum, None) is not None
            assert self.vdev is not None
            self.loop.call_soon(self.vdev.ret_unlink, seqnum,
                                -Errno.ECONNRESET if found else 0)

    def shutdown(self) -> None:
        self.closed = True

    # -- answers ------------------------------------------------------------------------------

    def submits(self) -> list[tuple[Any, ...]]:
        return [entry for entry in self.log if entry[0] == "submit"]

    def _answer_all(self) -> None:
        for seqnum in list(self.pending):
            self._answer(seqnum)

    def _answer(self, seqnum: int) -> None:
        urb = self.pending.get(seqnum)
        if urb is None or self.closed or self.hold:
            return
        is_in = usb_pipein(urb.pipe)
        buf = bytearray(urb.transfer_buffer_length)
        out = b"" if is_in else bytes(urb.buffer_view())
        if usb_pipetype(urb.pipe) == PIPE_CONTROL:
            assert urb.setup_packet is not None
            outcome, n = self.model.control(urb.setup_packet, out,
                                            memoryview(buf) if is_in else None)
        else:
            ep = self.model.endpoint(usb_pipeendpoint(urb.pipe) | (0x80 if is_in else 0))
            if ep is None:
                outcome, n = Outcome.NO_RESPONSE, 0
            else:
                outcome, n = ep.pull_in(memoryview(buf)) if is_in else \
                    ep.push_out(memoryview(out))
            if outcome is Outcome.NAK:
                return
        del self.pending[seqnum]
        assert self.vdev is not None
        self.vdev.ret_submit(seqnum, _STATUS[outcome], n, bytes(buf[:n]) if is_in else b"")


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller("vhci")
        yield machine


def vhci_of(system: System) -> VhciHCD:
    hcd = system.controllers[-1]
    assert isinstance(hcd, VhciHCD)
    return hcd


def attach(system: System, model: DeviceModel, port: int = 0,
           speed: Speed | None = None) -> ModelStub:
    """Attach `model` to vhci port `port` as usbip attach does, and let it enumerate."""
    hcd = vhci_of(system)
    stub = ModelStub(model, system.loop)
    hcd.sockets[SOCKFD] = stub
    try:
        assert hcd.attach_device(port, SOCKFD, DEVID, int(speed or model.speed)) == 0
    finally:
        del hcd.sockets[SOCKFD]
    stub.vdev = hcd.device(port)
    system.settle()
    return stub


def new_lines(system: System, mark: int) -> list[str]:
    return system.log.lines()[mark:]


def mark(system: System) -> int:
    return len(system.log.lines())


def device(system: System, name: str = "1-1") -> UsbDevice:
    udev = system.find_device(name)
    assert udev is not None
    return udev


def completed(urbs: list[Urb]) -> Any:
    return lambda urb: urbs.append(urb)


def bulk_in(system: System, udev: UsbDevice, done: list[Urb], length: int = 512) -> Urb:
    urb = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 1, True), bytearray(length),
                          length, completed(done))
    assert usb_submit_urb(urb) == 0
    return urb


def loopback(system: System) -> tuple[ModelStub, UsbDevice]:
    """Gadget Zero in its loopback configuration: bulk IN NAKs until OUT data comes."""
    stub = attach(system, GadgetZero(loopdefault=True))
    return stub, device(system)


# -- the controller ---------------------------------------------------------------------------


def test_the_controller_registers_as_linux_vhci_hcd_does(system: System) -> None:
    assert system.log.lines()[3:] == [
        "vhci_hcd vhci_hcd.0: USB/IP Virtual Host Controller",
        "vhci_hcd vhci_hcd.0: new USB bus registered, assigned bus number 1",
        "vhci_hcd: created sysfs vhci_hcd.0",
        "usb usb1: New USB device found, idVendor=1d6b, idProduct=0002, bcdDevice= 6.12",
        "usb usb1: New USB device strings: Mfr=3, Product=2, SerialNumber=1",
        "usb usb1: Product: USB/IP Virtual Host Controller",
        "usb usb1: Manufacturer: Linux 6.12.0 vhci_hcd",
        "usb usb1: SerialNumber: vhci_hcd.0",
        "hub 1-0:1.0: USB hub found",
        "hub 1-0:1.0: 8 ports detected",
        "vhci_hcd vhci_hcd.0: USB/IP Virtual Host Controller",
        "vhci_hcd vhci_hcd.0: new USB bus registered, assigned bus number 2",
        "usb usb2: We don't know the algorithms for LPM for this host, disabling LPM.",
        "usb usb2: New USB device found, idVendor=1d6b, idProduct=0003, bcdDevice= 6.12",
        "usb usb2: New USB device strings: Mfr=3, Product=2, SerialNumber=1",
        "usb usb2: Product: USB/IP Virtual Host Controller",
        "usb usb2: Manufacturer: Linux 6.12.0 vhci_hcd",
        "usb usb2: SerialNumber: vhci_hcd.0",
        "hub 2-0:1.0: USB hub found",
        "hub 2-0:1.0: 8 ports detected",
    ]
    vfs = system.vfs
    assert sorted(vfs.listdir(VHCI)) == ["attach", "detach", "driver", "nports", "status",
                                         "subsystem", "usb1", "usb2", "usbip_debug"]
    assert vfs.readlink(f"{VHCI}/driver") == "../../../bus/platform/drivers/vhci_hcd"
    assert vfs.listdir("/sys/bus/platform/devices") == ["vhci_hcd.0"]
    assert "vhci_hcd.0" not in vfs.listdir("/sys/bus/pci/devices")
    assert device(system, "usb1").sysfs_path() == "/devices/platform/vhci_hcd.0/usb1"
    devices = vfs.read_text("/sys/kernel/debug/usb/devices")
    assert "D:  Ver= 2.00 Cls=09(hub  ) Sub=00 Prot=01 MxPS=64 #Cfgs=  1" in devices
    assert "T:  Bus=01 Lev=00 Prnt=00 Port=00 Cnt=00 Dev#=  1 Spd=480  MxCh= 8" in devices
    assert "D:  Ver= 3.00 Cls=09(hub  ) Sub=00 Prot=03 MxPS= 9 #Cfgs=  1" in devices
    assert "T:  Bus=02 Lev=00 Prnt=00 Port=00 Cnt=00 Dev#=  1 Spd=5000 MxCh= 8" in devices
    assert device(system, "usb2").sysfs_path() == "/devices/platform/vhci_hcd.0/usb2"


def test_a_machine_has_one_vhci_controller_of_eight_ports(system: System) -> None:
    with pytest.raises(ValueError, match=r"vhci_hcd\.1: vhci_hcd has 1 controller"):
        system.add_controller("vhci")
    with pytest.raises(ValueError, match="has 8 ports"), System() as other:
        other.add_controller("vhci", nports=4)
    with pytest.raises(ValueError, match="platform device, it has no PCI address"):
        system.run(system.aadd_controller("vhci", pci_name="0000:00:1d.0"))


def test_removing_the_controller_shuts_every_port_down(system: System) -> None:
    stub = attach(system, GadgetZero())
    at = mark(system)
    system.close()
    lines = new_lines(system, at)
    assert stub.closed
    assert lines.count("vhci_hcd: stop threads") == VHCI_PORTS
    assert lines.index("vhci_hcd vhci_hcd.0: USB bus 2 deregistered") \
        < lines.index("usb usb1: USB disconnect, device number 1")
    assert lines[-4:] == ["vhci_hcd: stop threads", "vhci_hcd: release socket",
                          "vhci_hcd: disconnect device",
                          "vhci_hcd vhci_hcd.0: USB bus 1 deregistered"]


# -- sysfs ------------------------------------------------------------------------------------


def test_the_empty_status_nports_and_usbip_debug_files(system: System) -> None:
    vfs = system.vfs
    assert vfs.read_text(f"{VHCI}/status") == (
        "hub port sta spd dev      sockfd local_busid\n"
        + "".join(f"hs  {port:04d} 004 {EMPTY_LINE}" for port in range(8))
        + "".join(f"ss  {port:04d} 004 {EMPTY_LINE}" for port in range(8, 16)))
    assert vfs.read_text(f"{VHCI}/nports") == "16\n"
    assert vfs.read_text(f"{VHCI}/usbip_debug") == "0\n"
    system.run(vfs.write(f"{VHCI}/usbip_debug", "0x1ff\n"))
    assert vfs.read_text(f"{VHCI}/usbip_debug") == "1ff\n"
    with pytest.raises(OSError) as exc:
        system.run(vfs.write(f"{VHCI}/usbip_debug", "zz"))
    assert exc.value.errno == Errno.EINVAL


def test_attach_through_the_sysfs_file_and_its_refusals(system: System) -> None:
    hcd, vfs = vhci_of(system), system.vfs
    stub = ModelStub(GadgetZero(), system.loop)
    hcd.sockets[7] = stub

    def write(path: str, text: str) -> int:
        try:
            system.run(vfs.write(f"{VHCI}/{path}", text))
        except OSError as exc:
            return -(exc.errno or 0)
        return 0

    at = mark(system)
    assert write("attach", "0 9 65538 3") == -Errno.EINVAL          # no such socket
    assert write("attach", "16 7 65538 3") == -Errno.EINVAL         # pdev 1
    assert write("attach", "0 7 65538 6") == -Errno.EINVAL          # SuperSpeedPlus
    assert write("attach", "0 7 65538 9") == -Errno.EINVAL          # no speed at all
    assert write("attach", "0 7 65538") == -Errno.EINVAL            # three numbers
    assert write("attach", "0 7 65538 3\n") == 0
    assert write("attach", "0 7 65538 3") == -Errno.EBUSY
    assert new_lines(system, at) == [
        "vhci_hcd vhci_hcd.0: failed to lookup sock",
        "vhci_hcd: pdev 1",
        "vhci_hcd: Failed attach request for unsupported USB speed: super-speed-plus",
        "vhci_hcd: Failed attach request for unsupported USB speed: UNKNOWN",
        "vhci_hcd vhci_hcd.0: pdev(0) rhport(0) sockfd(7)",
        "vhci_hcd vhci_hcd.0: devid(65538) speed(3) speed_str(high-speed)",
        "vhci_hcd vhci_hcd.0: Device attached",
        "vhci_hcd vhci_hcd.0: port 0 already used",
    ]
    assert hcd.device(0).status is VdevStatus.NOTASSIGNED
    assert vfs.read_text(f"{VHCI}/status").splitlines()[1] == "hs  0000 005 " + EMPTY_LINE[:-1]


def test_detach_through_the_sysfs_file(system: System) -> None:
    stub = attach(system, GadgetZero())
    vfs = system.vfs
    at = mark(system)
    system.run(vfs.write(f"{VHCI}/detach", "0\n"))
    system.settle()
    assert new_lines(system, at) == [
        "vhci_hcd: stop threads", "vhci_hcd: release socket", "vhci_hcd: disconnect device",
        "usb 1-1: USB disconnect, device number 2"]
    assert stub.closed and system.find_device("1-1") is None
    for text in ("0", "8", "x1", "16"):
        with pytest.raises(OSError) as exc:
            system.run(vfs.write(f"{VHCI}/detach", text))
        assert exc.value.errno == Errno.EINVAL
    assert new_lines(system, at)[4:] == ["vhci_hcd: not connected 4",
                                         "vhci_hcd: not connected 4", "vhci_hcd: pdev 1"]


# -- an imported device -----------------------------------------------------------------------


def test_an_imported_device_is_enumerated_by_the_hub_driver(system: System) -> None:
    at = mark(system)
    attach(system, GadgetZero())
    assert new_lines(system, at)[:8] == [
        "vhci_hcd vhci_hcd.0: pdev(0) rhport(0) sockfd(3)",
        "vhci_hcd vhci_hcd.0: devid(65538) speed(3) speed_str(high-speed)",
        "vhci_hcd vhci_hcd.0: Device attached",
        "usb 1-1: new high-speed USB device number 2 using vhci_hcd",
        "usb 1-1: SetAddress Request (2) to port 0",
        "usb 1-1: New USB device found, idVendor=0525, idProduct=a4a0, bcdDevice= 6.12",
        "usb 1-1: New USB device strings: Mfr=1, Product=2, SerialNumber=3",
        "usb 1-1: Product: Gadget Zero",
    ]
    udev = device(system)
    assert udev.actconfig is not None and udev.speed is Speed.HIGH and udev.devnum == 2
    assert system.vfs.read_text(f"{VHCI}/status").splitlines()[1] == \
        "hs  0000 006 003 00010002 000003 1-1"


def test_set_address_is_answered_locally_and_the_rest_goes_to_the_server(
        system: System) -> None:
    stub = attach(system, GadgetZero())
    requests = [SetupPacket.unpack(setup) for _, _, _, setup in stub.submits()]
    assert all(r.bRequest != Request.SET_ADDRESS for r in requests)
    assert [seqnum for _, seqnum, _, _ in stub.submits()] == \
        list(range(1, len(requests) + 1))
    first = requests[0]
    assert (first.bRequest, first.wValue, first.wLength) == (Request.GET_DESCRIPTOR, 0x100, 64)
    assert any(r.bRequest == Request.SET_CONFIGURATION for r in requests)
    assert stub.model.address == 5          # the server's own address is untouched


def test_other_requests_to_address_0_are_refused(system: System) -> None:
    attach(system, GadgetZero())
    udev = device(system)
    done: list[Urb] = []
    pipe = make_pipe(udev, PIPE_CONTROL, 0, False) & ~(0x7F << 8)
    urb = Urb().fill_control(udev, pipe, SetupPacket(0, Request.SET_CONFIGURATION, 1),
                             bytearray(), 0, completed(done))
    at = mark(system)
    assert usb_submit_urb(urb) == -Errno.EINVAL
    assert new_lines(system, at) == [
        "usb 1-1: invalid request to devnum 0 bRequest 9, wValue 1"]


def test_a_low_speed_device_gets_its_speed_bit_a_full_speed_one_none(system: System) -> None:
    at = mark(system)
    attach(system, BootMouse(), 0)
    assert "usb 1-1: new low-speed USB device number 2 using vhci_hcd" in new_lines(system, at)
    assert device(system).speed is Speed.LOW
    at = mark(system)
    attach(system, FT232R(), 1)
    lines = new_lines(system, at)
    assert lines.count("vhci_hcd: vhci_device speed not set") >= 1
    assert "usb 1-2: new full-speed USB device number 3 using vhci_hcd" in lines
    assert device(system, "1-2").speed is Speed.FULL


def test_seqnum_max_is_announced(system: System) -> None:
    stub, udev = loopback(system)
    vhci_of(system).seqnum = 0xFFFE
    at = mark(system)
    bulk_in(system, udev, [])
    assert new_lines(system, at) == ["usb 1-1: seqnum max"]
    assert stub.submits()[-1][1] == 0xFFFF


# -- unlinks ----------------------------------------------------------------------------------


def test_an_unlink_of_a_urb_the_server_holds_completes_with_its_ret_unlink(
        system: System) -> None:
    stub, udev = loopback(system)
    done: list[Urb] = []
    urb = bulk_in(system, udev, done)
    system.sleep(10)
    assert done == [] and len(stub.pending) == 1          # NAKed on the server
    seqnum = stub.submits()[-1][1]
    at = mark(system)
    assert usb_unlink_urb(urb) == -Errno.EINPROGRESS
    assert stub.log[-1] == ("unlink", seqnum + 1, seqnum)
    assert done == []                                      # not before the server answers
    system.sleep(1)
    assert done == [urb] and urb.status == -Errno.ECONNRESET
    assert new_lines(system, at) == [f"vhci_hcd: unlink->seqnum {seqnum + 1}",
                                     "vhci_hcd: urb->status -104"]


def test_an_unlink_queued_behind_its_submit_goes_out_after_it(system: System) -> None:
    stub, udev = loopback(system)
    stub.hold = True
    done: list[Urb] = []
    urb = bulk_in(system, udev, done)
    usb_unlink_urb(urb)
    assert [entry[0] for entry in stub.log[-2:]] == ["submit", "unlink"]
    system.sleep(1)
    assert done == [urb] and urb.status == -Errno.ECONNRESET


def test_a_ret_submit_before_the_ret_unlink_gives_the_urb_back_once(system: System) -> None:
    stub, udev = loopback(system)
    stub.hold, stub.answer_unlinks = True, False
    done: list[Urb] = []
    urb = bulk_in(system, udev, done)
    usb_unlink_urb(urb)
    _, unlink_seqnum, seqnum = stub.log[-1]
    vdev = stub.vdev
    assert vdev is not None
    at = mark(system)
    vdev.ret_submit(seqnum, 0, 0)           # the server completed it before the unlink
    vdev.ret_unlink(unlink_seqnum, 0)
    system.sleep(1)
    assert done == [urb] and urb.status == -Errno.ECONNRESET
    assert new_lines(system, at) == [f"vhci_hcd: unlink->seqnum {unlink_seqnum}",
                                     f"vhci_hcd: the urb (seqnum {unlink_seqnum}) was "
                                     "already given back"]
    vdev.ret_unlink(unlink_seqnum, 0)
    assert new_lines(system, at)[-1] == f"vhci_hcd: cannot find the pending unlink " \
                                        f"{unlink_seqnum}"


def test_an_unlink_once_the_connection_is_gone_gives_the_urb_back_at_once(
        system: System) -> None:
    stub, udev = loopback(system)
    done: list[Urb] = []
    urb = bulk_in(system, udev, done)
    vdev = stub.vdev
    assert vdev is not None

    async def lose_then_unlink() -> int:
        vdev.connection_lost("connection closed")
        await asyncio.sleep(0)              # the event handler runs
        return usb_unlink_urb(urb)

    assert system.run(lose_then_unlink()) == -Errno.EINPROGRESS
    assert not any(entry[0] == "unlink" for entry in stub.log)
    system.sleep(1)
    assert done == [urb] and urb.status == -Errno.ECONNRESET


def test_unlinks_never_answered_are_given_back_when_the_connection_ends(
        system: System) -> None:
    stub, udev = loopback(system)
    stub.answer_unlinks = False
    done: list[Urb] = []
    urb = bulk_in(system, udev, done)
    system.sleep(1)
    usb_unlink_urb(urb)
    seqnum = stub.log[-1][2]
    vdev = stub.vdev
    assert vdev is not None
    at = mark(system)
    vdev.connection_lost("connection closed")
    system.settle()
    assert new_lines(system, at)[:6] == [
        "vhci_hcd: connection closed", "vhci_hcd: stop threads", "vhci_hcd: release socket",
        f"vhci_hcd: unlink cleanup rx {seqnum}", "vhci_hcd: disconnect device",
        "usb 1-1: USB disconnect, device number 2"]
    assert done == [urb] and urb.status == -Errno.ECONNRESET


# -- answers ----------------------------------------------------------------------------------


def test_a_ret_submit_for_a_seqnum_never_sent_breaks_the_connection(system: System) -> None:
    stub = attach(system, GadgetZero())
    vdev = stub.vdev
    assert vdev is not None
    at = mark(system)
    vdev.ret_submit(999, 0, 0)
    system.settle()
    seqnum = vhci_of(system).seqnum
    assert new_lines(system, at) == [
        f"vhci_hcd: cannot find a urb of seqnum 999 max seqnum {seqnum}",
        "vhci_hcd: stop threads", "vhci_hcd: release socket", "vhci_hcd: disconnect device",
        "usb 1-1: USB disconnect, device number 2"]
    assert stub.closed and vdev.status is VdevStatus.NULL


def test_in_data_larger_than_the_urb_fails_it_and_the_connection(system: System) -> None:
    stub, udev = loopback(system)
    stub.hold = True
    done: list[Urb] = []
    bulk_in(system, udev, done, length=8)
    vdev = stub.vdev
    assert vdev is not None
    at = mark(system)
    vdev.ret_submit(stub.submits()[-1][1], 0, 9, bytes(9))
    system.settle()
    assert done[0].status == -Errno.EPROTO
    assert new_lines(system, at)[:2] == ["usb 1-1: recv xbuf, 0", "vhci_hcd: stop threads"]


def test_isochronous_in_data_is_spread_to_the_packets_offsets(system: System) -> None:
    stub = attach(system, GadgetZero())
    udev = device(system)
    system.run(_set_interface(udev, 0, 1))                   # source/sink with iso
    stub.hold = True
    done: list[Urb] = []
    urb = Urb(3)
    urb.fill_bulk(udev, make_pipe(udev, PIPE_ISOCHRONOUS, 3, True), bytearray(3 * 1024),
                  3 * 1024, completed(done))
    urb.interval = 1
    for i, packet in enumerate(urb.iso_frame_desc):
        packet.offset, packet.length = i * 1024, 1024
    assert usb_submit_urb(urb) == 0
    vdev = stub.vdev
    assert vdev is not None
    vdev.ret_submit(stub.submits()[-1][1], 0, 7, b"AAAABBB", error_count=1,
                    iso=[(4, 0), (0, -Errno.EPROTO), (3, 0)])
    system.sleep(1)
    assert done == [urb] and (urb.status, urb.actual_length, urb.error_count) == (0, 7, 1)
    assert [(p.actual_length, p.status) for p in urb.iso_frame_desc] == [
        (4, 0), (0, -Errno.EPROTO), (3, 0)]
    buf = urb.transfer_buffer
    assert (buf[0:4], buf[2048:2051]) == (b"AAAA", b"BBB")


def test_iso_lengths_that_do_not_add_up_fail_the_urb(system: System) -> None:
    stub = attach(system, GadgetZero())
    udev = device(system)
    system.run(_set_interface(udev, 0, 1))
    stub.hold = True
    done: list[Urb] = []
    urb = Urb(2)
    urb.fill_bulk(udev, make_pipe(udev, PIPE_ISOCHRONOUS, 3, True), bytearray(2048), 2048,
                  completed(done))
    urb.interval = 1
    for i, packet in enumerate(urb.iso_frame_desc):
        packet.offset, packet.length = i * 1024, 1024
    assert usb_submit_urb(urb) == 0
    vdev = stub.vdev
    assert vdev is not None
    at = mark(system)
    vdev.ret_submit(stub.submits()[-1][1], 0, 4, b"AAAA", iso=[(4, 0), (4, 0)])
    system.settle()
    assert done[0].status == -Errno.EPROTO
    assert new_lines(system, at)[0] == ("usb 1-1: total length of iso packets 8 not equal "
                                        "to actual length of buffer 4")


async def _set_interface(udev: UsbDevice, number: int, alt: int) -> None:
    from usbemu.core.message import usb_set_interface

    assert await usb_set_interface(udev, number, alt) == 0


# -- a lost connection ------------------------------------------------------------------------


def test_a_lost_connection_is_an_unplug_and_frees_the_port(system: System) -> None:
    stub = attach(system, GadgetZero())
    vdev = stub.vdev
    assert vdev is not None
    at = mark(system)
    vdev.connection_lost("connection closed")
    system.settle()
    assert new_lines(system, at) == [
        "vhci_hcd: connection closed", "vhci_hcd: stop threads", "vhci_hcd: release socket",
        "vhci_hcd: disconnect device", "usb 1-1: USB disconnect, device number 2"]
    assert stub.closed and system.find_device("1-1") is None
    assert (vdev.status, vdev.transport, vdev.devid) == (VdevStatus.NULL, None, 0)
    at = mark(system)
    attach(system, GadgetZero())                            # the port takes a device again
    assert "usb 1-1: new high-speed USB device number 3 using vhci_hcd" in \
        new_lines(system, at)


def test_urbs_in_flight_come_back_when_the_device_is_disconnected(system: System) -> None:
    stub, udev = loopback(system)
    done: list[Urb] = []
    urb = bulk_in(system, udev, done)
    system.sleep(5)
    hcd = vhci_of(system)
    assert list(hcd.inflight) == [urb]                # NAKed on the server
    vdev = stub.vdev
    assert vdev is not None
    vdev.connection_lost("connection closed")
    system.settle()
    assert done == [urb] and urb.status == -Errno.ESHUTDOWN   # the endpoint's flush
    assert hcd.inflight == {} and vdev.urbs == {} and system.find_device("1-1") is None


def test_a_urb_for_a_port_whose_connection_ended_is_refused(system: System) -> None:
    stub, udev = loopback(system)
    vdev = stub.vdev
    assert vdev is not None

    async def lose_then_submit() -> int:
        vdev.connection_lost("connection reset by peer")
        await asyncio.sleep(0)
        urb = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 1, True), bytearray(8), 8,
                              completed([]))
        return usb_submit_urb(urb)

    at = mark(system)
    assert system.run(lose_then_submit()) == -Errno.ENODEV
    assert "usb 1-1: enqueue for inactive port 0" in new_lines(system, at)


# -- the root hub -----------------------------------------------------------------------------


def hub_request(hcd: VhciHCD, rtype: int, req: int, value: int, index: int,
                length: int = 0) -> tuple[int, bytes]:
    buf = bytearray(length)
    rc = hcd.hub_control(SetupPacket(rtype, req, value, index, length), memoryview(buf))
    return rc, bytes(buf[:max(rc, 0)])


def test_the_root_hub_descriptor_and_port_status(system: System) -> None:
    hcd = vhci_of(system)
    assert hub_request(hcd, 0xA0, 6, 0x2900, 0, 15) == (
        15, bytes.fromhex("0b 29 08 01 00 00 00 00 00 ff ff 00 00 00 00"))
    assert hub_request(hcd, 0xA3, 0, 0, 1, 4) == (4, bytes.fromhex("00 01 00 00"))
    assert hub_request(hcd, 0xA3, 0, 1, 1, 8) == (8, bytes.fromhex("00 01 00 00") + bytes(4))
    assert hub_request(hcd, 0xA0, 0, 0, 0, 4) == (4, bytes(4))


def test_a_reset_ends_at_the_first_get_port_status_after_50_ms(system: System) -> None:
    hcd = vhci_of(system)
    vdev = hcd.vdevs[0]
    vdev.status, vdev.speed = VdevStatus.NOTASSIGNED, Speed.HIGH
    hcd.port_status[0] = 0x0101                               # powered, connected
    assert hub_request(hcd, 0x23, 3, 4, 1)[0] == 0          # SetPortFeature(RESET)
    assert hub_request(hcd, 0xA3, 0, 0, 1, 4)[1] == bytes.fromhex("11 01 00 00")
    system.sleep(50)
    assert hub_request(hcd, 0xA3, 0, 0, 1, 4)[1] == bytes.fromhex("11 01 00 00")
    system.run(asyncio.sleep(0.001))
    status = hub_request(hcd, 0xA3, 0, 0, 1, 4)[1]
    hcd.port_status[0], vdev.status = 0x0100, VdevStatus.NULL
    assert status == bytes.fromhex("03 05 10 00")           # enabled, high speed, C_RESET


def test_requests_a_usb2_root_hub_refuses(system: System) -> None:
    hcd = vhci_of(system)
    at = mark(system)
    assert hub_request(hcd, 0xA3, 0, 0, 9, 4) == (-Errno.EPIPE, b"")
    assert hub_request(hcd, 0x23, 3, 5, 1)[0] == -Errno.EPIPE       # LINK_STATE
    assert hub_request(hcd, 0x23, 3, 24, 1)[0] == -Errno.EPIPE      # U2_TIMEOUT
    assert hub_request(hcd, 0x23, 3, 28, 1)[0] == -Errno.EPIPE      # BH_PORT_RESET
    assert hub_request(hcd, 0xA3, 13, 0, 1, 4)[0] == -Errno.EPIPE   # GetPortErrorCount
    assert hub_request(hcd, 0x20, 12, 1, 0)[0] == -Errno.EPIPE      # SetHubDepth
    assert hub_request(hcd, 0x20, 3, 0, 0)[0] == -Errno.EPIPE       # SetHubFeature
    assert hub_request(hcd, 0xA3, 7, 0, 1)[0] == -Errno.EPIPE
    assert new_lines(system, at) == [
        "vhci_hcd: invalid port number 9", "vhci_hcd: invalid port number 9",
        "vhci_hcd: USB_PORT_FEAT_LINK_STATE req not supported for USB 2.0 roothub",
        "vhci_hcd: USB_PORT_FEAT_U1/2_TIMEOUT req not supported for USB 2.0 roothub",
        "vhci_hcd: USB_PORT_FEAT_BH_PORT_RESET req not supported for USB 2.0 roothub",
        "vhci_hcd: GetPortErrorCount req not supported for USB 2.0 roothub",
        "vhci_hcd: SetHubDepth req not supported for USB 2.0 roothub",
        "vhci_hcd: default hub control req: a307 v0000 i0001 l0",
    ]


def test_the_frame_number_is_not_implemented(system: System) -> None:
    stub = attach(system, GadgetZero())
    udev = device(system)
    at = mark(system)
    assert [usb_hcd_get_frame_number(udev) for _ in range(12)] == [0] * 12
    system.sleep(6000)
    usb_hcd_get_frame_number(udev)
    lines = new_lines(system, at)
    assert lines.count("usb usb1: Not yet implemented") == 11
    assert "vhci_get_frame_number: 2 callbacks suppressed" in lines
    assert stub.vdev is not None


def test_the_free_port_and_port_numbers(system: System) -> None:
    hcd = vhci_of(system)
    assert hcd.free_port(Speed.HIGH) == 0 and hcd.free_port(Speed.SUPER) == 8
    assert hcd.free_port(Speed.SUPER_PLUS) == 0
    attach(system, GadgetZero())
    assert hcd.free_port(Speed.FULL) == 1 and hcd.free_port(Speed.SUPER) == 8
    assert [v.port for v in hcd.vdevs] == list(range(8))
    assert [v.port for v in hcd.ss.vdevs] == list(range(8, 16))
    assert hcd.device(8) is hcd.ss.vdevs[0]
    with pytest.raises(ValueError, match=r"high-speed ports 0\.\.7 and SuperSpeed ports "
                                         r"8\.\.15"):
        hcd.device(16)


# -- the SuperSpeed root hub ------------------------------------------------------------------


def superspeed_device_descriptor() -> DeviceDescriptor:
    """Descriptors that say USB 3.0: bcdUSB 0x0300, bMaxPacketSize0 9 (512), a BOS with its
    SuperSpeed capability, a bulk pair with endpoint companions."""
    bulk = tuple(EndpointDescriptor.bulk(address, 1024, companion=SsEndpointCompanion(15))
                 for address in (0x81, 0x02))
    config = ConfigDescriptor(interfaces=(InterfaceDescriptor(0xFF, 0, 0, bulk),),
                              bmAttributes=ConfigAttributes.ONE, bMaxPower=112)
    return DeviceDescriptor(
        idVendor=0x1D6B, idProduct=0x0104, bcdUSB=0x0300, bMaxPacketSize0=9,
        configurations=(config,),
        bos=BosDescriptor((usb20_extension(0), superspeed_capability())))


def superspeed_device() -> DeviceModel:
    """A SuperSpeed device model with `superspeed_device_descriptor()`."""
    return DeviceModel(superspeed_device_descriptor(), speed=Speed.SUPER)


def test_a_superspeed_import_is_enumerated_on_the_superspeed_bus(system: System) -> None:
    at = mark(system)
    stub = attach(system, superspeed_device(), port=VHCI_HC_PORTS, speed=Speed.SUPER)
    assert new_lines(system, at) == [
        "vhci_hcd vhci_hcd.0: pdev(0) rhport(0) sockfd(3)",
        "vhci_hcd vhci_hcd.0: devid(65538) speed(5) speed_str(super-speed)",
        "vhci_hcd vhci_hcd.0: Device attached",
        "usb 2-1: SetAddress Request (2) to port 0",
        "usb 2-1: new SuperSpeed USB device number 2 using vhci_hcd",
        "usb 2-1: New USB device found, idVendor=1d6b, idProduct=0104, bcdDevice= 1.00",
        "usb 2-1: New USB device strings: Mfr=0, Product=0, SerialNumber=0",
    ]
    # addressed first, no 64-byte read; SET_ISOCH_DELAY(40 ns); the BOS
    assert [entry[3] for entry in stub.submits()[:5]] == [
        bytes.fromhex("8006 0001 0000 0800"), bytes.fromhex("0031 2800 0000 0000"),
        bytes.fromhex("8006 0001 0000 1200"), bytes.fromhex("8006 000f 0000 0500"),
        bytes.fromhex("8006 000f 0000 1600")]
    udev = device(system, "2-1")
    assert udev.speed == Speed.SUPER and udev.ep0.desc.maxpacket == 512
    assert udev.bos is not None and not udev.lpm_capable
    assert system.find_device("1-1") is None
    status = system.vfs.read_text(f"{VHCI}/status").splitlines()
    assert status[1 + VHCI_HC_PORTS] == "ss  0008 006 005 00010002 000003 2-1"
    assert all(line.endswith(" 0-0") for line in status[1:] if not line.startswith("ss  0008"))
    devices = system.vfs.read_text("/sys/kernel/debug/usb/devices")
    assert "T:  Bus=02 Lev=01 Prnt=01 Port=00 Cnt=01 Dev#=  2 Spd=5000 MxCh= 0" in devices


def test_a_superspeed_port_reads_powered_connected_enabled(system: System) -> None:
    attach(system, superspeed_device(), port=VHCI_HC_PORTS, speed=Speed.SUPER)
    ss = vhci_of(system).ss
    assert hub_request(ss, 0xA3, 0, 0, 1, 4) == (4, bytes.fromhex("03 02 00 00"))
    assert hub_request(ss, 0xA3, 0, 0, 2, 4) == (4, bytes.fromhex("00 02 00 00"))


def test_a_superspeed_device_is_detached_from_its_port(system: System) -> None:
    stub = attach(system, superspeed_device(), port=VHCI_HC_PORTS, speed=Speed.SUPER)
    at = mark(system)
    system.run(system.vfs.write(f"{VHCI}/detach", "8\n"))
    system.settle()
    assert new_lines(system, at) == [
        "vhci_hcd: stop threads", "vhci_hcd: release socket", "vhci_hcd: disconnect device",
        "usb 2-1: USB disconnect, device number 2"]
    assert stub.closed and vhci_of(system).device(8).status is VdevStatus.NULL


def test_the_superspeed_root_hub_descriptors(system: System) -> None:
    hs, ss = vhci_of(system), vhci_of(system).ss
    ss_hub = bytes.fromhex("0c 2a 08 01 00 00 00 04 00 00 ff ff")
    bos = bytes.fromhex("05 0f 0f 00 01 0a 10 03 00 08 00 03 00 00 00")
    assert hub_request(ss, 0xA0, 6, 0x2A00, 0, 12) == (12, ss_hub) == (12, SS_HUB_DESCRIPTOR)
    assert hub_request(ss, 0x80, 6, 0x0F00, 0, 64) == (15, bos) == (15, USB3_BOS_DESCRIPTOR)
    at = mark(system)
    assert hub_request(ss, 0xA0, 6, 0x2900, 0, 15)[0] == -Errno.EPIPE
    assert hub_request(ss, 0xA0, 6, 0x2A00, 0, 9)[0] == -Errno.EPIPE
    assert hub_request(ss, 0x80, 6, 0x0100, 0, 18)[0] == -Errno.EPIPE
    assert hub_request(hs, 0x80, 6, 0x0F00, 0, 5)[0] == -Errno.EPIPE
    assert new_lines(system, at) == ["vhci_hcd: Wrong hub descriptor type for USB 3.0 roothub."] * 2
    rhdev = device(system, "usb2")
    assert rhdev.descriptor is not None and rhdev.descriptor.bcdUSB == 0x0300
    assert rhdev.descriptor.bMaxPacketSize0 == 9 and rhdev.descriptor.bDeviceProtocol == 3
    assert rhdev.bos is not None and rhdev.bos.to_bytes() == USB3_BOS_DESCRIPTOR
    assert rhdev.hub_delay == 40 and rhdev.bus_mA == 8 * 900
    raw = rhdev.rawdescriptors[0]
    assert raw[9 + 9:] == bytes.fromhex("07 05 81 03 04 00 0c 06 30 00 00 02 00")


def test_requests_the_superspeed_root_hub_takes_and_refuses(system: System) -> None:
    ss = vhci_of(system).ss
    at = mark(system)
    assert hub_request(ss, 0x23, 3, 5, 1 | 0x300)[0] == 0           # LINK_STATE U3
    assert hub_request(ss, 0x23, 3, 23, 1 | 0x100)[0] == 0          # U1_TIMEOUT
    assert hub_request(ss, 0xA3, 13, 0, 1, 4)[0] == 0               # GetPortErrorCount
    assert hub_request(ss, 0x20, 12, 1, 0)[0] == 0                  # SetHubDepth
    assert hub_request(ss, 0x23, 3, 2, 1)[0] == -Errno.EPIPE        # SetPortFeature(SUSPEND)
    assert hub_request(ss, 0x23, 1, 2, 1)[0] == -Errno.EPIPE        # ClearPortFeature(SUSPEND)
    assert new_lines(system, at) == [
        "vhci_hcd: USB_PORT_FEAT_SUSPEND req not supported for USB 3.0 roothub",
        "vhci_hcd:  ClearPortFeature: USB_PORT_FEAT_SUSPEND req not supported for USB 3.0 "
        "roothub",
    ]
    assert hub_request(ss, 0x23, 1, 8, 2)[0] == 0                   # ClearPortFeature(POWER)
    assert hub_request(ss, 0xA3, 0, 0, 2, 4)[1] == bytes(4)
    assert hub_request(ss, 0x23, 3, 8, 2)[0] == 0                   # SetPortFeature(POWER)
    assert hub_request(ss, 0xA3, 0, 0, 2, 4)[1] == bytes.fromhex("00 02 00 00")


def test_a_superspeed_reset_leaves_power_connection_and_reset(system: System) -> None:
    ss = vhci_of(system).ss
    vdev = ss.vdevs[0]
    vdev.status, vdev.speed = VdevStatus.NOTASSIGNED, Speed.SUPER
    ss.port_status[0] = 0x0203 | 0x10000                            # and C_CONNECTION
    at = mark(system)
    assert hub_request(ss, 0x23, 3, 28, 1)[0] == 0                  # BH_PORT_RESET
    assert hub_request(ss, 0xA3, 0, 0, 1, 4)[1] == bytes.fromhex("11 02 00 10")
    system.sleep(51)
    status = hub_request(ss, 0xA3, 0, 0, 1, 4)[1]
    ss.port_status[0], vdev.status = 0x0200, VdevStatus.NULL
    assert status == bytes.fromhex("03 02 10 10")                   # enabled, C_RESET
    assert new_lines(system, at) == []


class SsHubStub(ModelStub):
    """The transport of an imported 2-port SuperSpeed hub: its standard requests go to the
    model, its hub-class requests are answered here (nothing connected), its status URB is
    kept."""

    def _answer(self, seqnum: int) -> None:
        urb = self.pending.get(seqnum)
        if urb is None or usb_pipetype(urb.pipe) != PIPE_CONTROL:
            return
        assert urb.setup_packet is not None and self.vdev is not None
        setup = SetupPacket.unpack(urb.setup_packet)
        if setup.type != RequestType.CLASS:
            super()._answer(seqnum)
            return
        del self.pending[seqnum]
        reply = {6: bytes((12, 0x2A, 2, 0x01, 0, 10, 0, 4, 0, 0, 0, 0)),
                 0: bytes(4)}.get(setup.bRequest, b"") if setup.bmRequestType & 0x80 else b""
        n = min(len(reply), urb.transfer_buffer_length)
        self.vdev.ret_submit(seqnum, 0, n, reply[:n])


def superspeed_hub() -> DeviceModel:
    status = EndpointDescriptor.interrupt(0x81, 2, 12, companion=SsEndpointCompanion(0, 0, 2))
    config = ConfigDescriptor(interfaces=(InterfaceDescriptor(9, 0, 0, (status,)),),
                              bmAttributes=ConfigAttributes.ONE | ConfigAttributes.SELF_POWERED)
    return DeviceModel(DeviceDescriptor(
        idVendor=0x05E3, idProduct=0x0626, bcdUSB=0x0300, bDeviceClass=9, bDeviceProtocol=3,
        bMaxPacketSize0=9, configurations=(config,),
        bos=BosDescriptor((superspeed_capability(),))), speed=Speed.SUPER)


def test_an_imported_superspeed_hub_is_configured_as_one(system: System) -> None:
    hcd = vhci_of(system)
    stub = SsHubStub(superspeed_hub(), system.loop)
    hcd.sockets[SOCKFD] = stub
    assert hcd.attach_device(VHCI_HC_PORTS, SOCKFD, DEVID, Speed.SUPER) == 0
    del hcd.sockets[SOCKFD]
    stub.vdev = hcd.device(VHCI_HC_PORTS)
    at = mark(system)
    system.settle()
    lines = new_lines(system, at)
    assert "usb 2-1: new SuperSpeed USB device number 2 using vhci_hcd" in lines
    assert lines[-2:] == ["hub 2-1:1.0: USB hub found", "hub 2-1:1.0: 2 ports detected"]
    setups = [entry[3] for entry in stub.submits() if entry[3] is not None]
    get_ss_hub_descriptor = bytes.fromhex("a006 002a 0000 0c00")
    set_hub_depth = bytes.fromhex("200c 0000 0000 0000")       # level 1: depth 0
    assert setups.index(get_ss_hub_descriptor) < setups.index(set_hub_depth)
    hdev = device(system, "2-1")
    assert hdev.hub_delay == 40 + 40 and hdev.maxchild == 2


def test_the_hub_driver_resets_and_disables_a_superspeed_port_as_usb3(system: System) -> None:
    ss = vhci_of(system).ss
    seen: list[tuple[int, int, int]] = []
    answer = ss.hub_control

    def record(setup: SetupPacket, buf: memoryview) -> int:
        if setup.bmRequestType == 0x23:
            seen.append((setup.bRequest, setup.wValue, setup.wIndex))
        return answer(setup, buf)

    ss.hub_control = record  # type: ignore[method-assign]
    stub = attach(system, superspeed_device(), port=VHCI_HC_PORTS, speed=Speed.SUPER)
    clear, set_ = 1, 3
    # C_CONNECTION; RESET; C_RESET, C_BH_PORT_RESET, C_PORT_LINK_STATE, C_PORT_CONFIG_ERROR
    assert seen == [(clear, 16, 1), (set_, 4, 1), (clear, 20, 1), (clear, 29, 1),
                    (clear, 25, 1), (clear, 26, 1)]
    seen.clear()
    assert stub.vdev is not None
    stub.vdev.connection_lost("connection closed")
    system.settle()
    assert (set_, 5, 1 | 0x0300) in seen              # LINK_STATE U3: the port disabled
    assert (clear, 1, 1) not in seen                  # not ClearPortFeature(ENABLE)
    hub = usb_hub_to_struct_hub(device(system, "usb2"))
    assert hub is not None
    assert hub_port_warm_reset_required(hub, 1, 0x0200 | 0x00C0)     # SS.Inactive
    assert hub_port_warm_reset_required(hub, 1, 0x0200 | 0x0140)     # Compliance Mode
    assert not hub_port_warm_reset_required(hub, 1, 0x0203)
    hs_hub = usb_hub_to_struct_hub(device(system, "usb1"))
    assert hs_hub is not None and not hub_port_warm_reset_required(hs_hub, 1, 0x00C0)


def test_a_superspeed_root_hub_that_fails_takes_the_controller_down(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(VhciSsHCD, "start", lambda self: -Errno.EIO)
    with System() as machine:
        with pytest.raises(OSError, match=r"vhci_hcd\.0: startup error -5"):
            machine.add_controller("vhci")
        assert machine.usb.buses == {}
        port_shutdown = ("vhci_hcd: stop threads", "vhci_hcd: release socket",
                         "vhci_hcd: disconnect device")
        lines = [line for line in machine.log.lines() if line not in port_shutdown]
        assert lines[-6:] == [
            "vhci_hcd vhci_hcd.0: new USB bus registered, assigned bus number 2",
            "vhci_hcd vhci_hcd.0: startup error -5",
            "vhci_hcd vhci_hcd.0: USB bus 2 deregistered",
            "vhci_hcd vhci_hcd.0: remove, state 1",
            "usb usb1: USB disconnect, device number 1",
            "vhci_hcd vhci_hcd.0: USB bus 1 deregistered",
        ]


@pytest.mark.parametrize(("capabilities", "message"), [
    ((), "usb 2-1: No LPM exit latency info found, disabling LPM."),
    ((superspeed_capability(bU1DevExitLat=0, wU2DevExitLat=0),),
     "usb 2-1: LPM exit latency is zeroed, disabling LPM."),
])
def test_a_superspeed_device_without_exit_latencies_gets_no_lpm(
        system: System, capabilities: tuple[Any, ...], message: str) -> None:
    model = superspeed_device()
    model.descriptors = build_descriptors(replace(
        superspeed_device_descriptor(), bos=BosDescriptor(capabilities)))
    at = mark(system)
    attach(system, model, port=VHCI_HC_PORTS, speed=Speed.SUPER)
    lines = new_lines(system, at)
    assert lines[lines.index("usb 2-1: new SuperSpeed USB device number 2 using vhci_hcd") + 1] \
        == message
    assert not device(system, "2-1").lpm_capable


def test_a_high_speed_device_with_usb2_lpm_is_lpm_capable(system: System) -> None:
    model = DeviceModel(DeviceDescriptor(
        idVendor=0x1D6B, idProduct=0x0104, bcdUSB=0x0210,
        configurations=(ConfigDescriptor(interfaces=(InterfaceDescriptor(0xFF),)),),
        bos=BosDescriptor((usb20_extension(0x02),))), speed=Speed.HIGH)
    at = mark(system)
    attach(system, model)
    assert not any("LPM" in line for line in new_lines(system, at))
    assert device(system, "1-1").lpm_capable
