"""The USB/IP client (usbemu.bridges.usbip.client) over real TCP sockets on 127.0.0.1,
against a small usbipd written here with the codec, in the machine's own loop (so the
machine can stay on virtual time): listing, importing onto vhci ports (the controller
added on first use), URBs in flight and unlinked over the wire, detach, a server that
closes or breaks the protocol, refusals, several servers at once."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from usbemu.bridges.usbip.client import (
    UsbipError,
    UsbipLink,
    attach,
    attachments,
    cmd_submit,
    detach,
    list_remote,
    op_status_string,
)
from usbemu.bridges.usbip.protocol import (
    CmdSubmit,
    CmdUnlink,
    ConnectionClosed,
    Direction,
    Event,
    ExportedDevice,
    ExportedInterface,
    OpRepDevlist,
    OpRepImport,
    OpReqDevlist,
    OpReqImport,
    OpStatus,
    RetSubmit,
    RetUnlink,
    Role,
    UsbipConnection,
)
from usbemu.core.message import usb_bulk_msg
from usbemu.core.urb import PIPE_BULK, Urb, make_pipe, usb_submit_urb, usb_unlink_urb
from usbemu.core.usb import UsbDevice
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.endpoint import Endpoint, Outcome
from usbemu.emulated.models.zero import GadgetZero
from usbemu.errors import Errno
from usbemu.host.vhci import VdevStatus, VhciHCD
from usbemu.kernel.printk import Level
from usbemu.spec.ch9 import Request, SetupPacket, Speed
from usbemu.system import System

_STATUS = {Outcome.DONE: 0, Outcome.STALL: -Errno.EPIPE, Outcome.BABBLE: -Errno.EOVERFLOW,
           Outcome.NO_RESPONSE: -Errno.EPROTO}
TIMEOUT_S = 5.0


@dataclass
class Exported:
    """A device model the fake server exports, addressed on the server's side."""

    busid: str
    model: DeviceModel
    devnum: int
    imported: bool = False


@dataclass
class Session:
    """One imported device's connection on the server: CMD_SUBMITs waiting for data."""

    dev: Exported
    conn: UsbipConnection
    writer: asyncio.StreamWriter
    waiting: dict[int, CmdSubmit] = field(default_factory=dict)


class FakeUsbipd:
    """usbipd and usbip-host in a few lines: OP_REQ_DEVLIST, OP_REQ_IMPORT (NODEV, DEV_BUSY),
    then CMD_SUBMIT answered from the model (a NAK waits for the endpoint) and CMD_UNLINK
    answered -ECONNRESET for a URB still waiting.  `seen` records every message."""

    def __init__(self, *models: tuple[str, DeviceModel]) -> None:
        self.devices = {busid: Exported(busid, model, n + 2)
                        for n, (busid, model) in enumerate(models)}
        self.seen: list[Event] = []
        self.sessions: list[Session] = []
        self.writers: list[asyncio.StreamWriter] = []
        #: Cleared, the server stops reading its connections.
        self.reading = asyncio.Event()
        self.reading.set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> FakeUsbipd:
        loop = asyncio.get_running_loop()
        for dev in self.devices.values():
            dev.model.connect(None, self, loop)
            dev.model.bus_reset()
            dev.model.control(bytes(SetupPacket(0, Request.SET_ADDRESS, dev.devnum)))
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def close(self) -> None:
        """Stop listening and close every connection."""
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()

    # -- DeviceHost of the exported models ----------------------------------------------------

    def endpoint_ready(self, device: DeviceModel, ep: Endpoint) -> None:
        for session in self.sessions:
            if session.dev.model is device:
                for cmd in list(session.waiting.values()):
                    self._answer(session, cmd)

    def remote_wakeup(self, device: DeviceModel) -> None:
        pass

    def device_disconnected(self, device: DeviceModel) -> None:
        pass

    # -- the protocol -------------------------------------------------------------------------

    def exported(self, dev: Exported) -> ExportedDevice:
        desc = dev.model.device_descriptor
        config = desc.configurations[0]
        interfaces = tuple(ExportedInterface(i.bInterfaceClass, i.bInterfaceSubClass,
                                             i.bInterfaceProtocol)
                           for i in config.interfaces if i.bAlternateSetting == 0)
        return ExportedDevice(
            f"/sys/devices/pci0000:00/0000:00:1d.0/usb1/{dev.busid}", dev.busid, 1,
            dev.devnum, int(dev.model.speed), desc.idVendor, desc.idProduct, desc.bcdDevice,
            desc.bDeviceClass, desc.bDeviceSubClass, desc.bDeviceProtocol,
            config.bConfigurationValue or 1, len(desc.configurations), len(interfaces),
            interfaces)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            await self._connection(reader, writer)
        except (asyncio.CancelledError, ConnectionError):     # the machine shuts down
            writer.close()

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        conn = UsbipConnection(Role.SERVER)
        session: Session | None = None
        while True:
            await self.reading.wait()
            conn.receive_data(await reader.read(1 << 16))
            while (event := conn.next_event()) is not None:
                self.seen.append(event)
                if isinstance(event, ConnectionClosed):
                    if session is not None:
                        session.dev.imported = False
                    writer.close()
                    return
                if isinstance(event, OpReqDevlist):
                    writer.write(conn.send(OpRepDevlist(tuple(
                        self.exported(d) for d in self.devices.values()))))
                elif isinstance(event, OpReqImport):
                    session = self._import(conn, writer, event.busid)
                elif isinstance(event, CmdSubmit) and session is not None:
                    self._answer(session, event)
                elif isinstance(event, CmdUnlink) and session is not None:
                    found = session.waiting.pop(event.unlink_seqnum, None) is not None
                    writer.write(conn.send(RetUnlink(
                        event.seqnum, -Errno.ECONNRESET if found else 0)))

    def _import(self, conn: UsbipConnection, writer: asyncio.StreamWriter,
                busid: str) -> Session | None:
        dev = self.devices.get(busid)
        if dev is None or dev.imported:
            status = OpStatus.NODEV if dev is None else OpStatus.DEV_BUSY
            writer.write(conn.send(OpRepImport(status)))
            return None
        dev.imported = True
        writer.write(conn.send(OpRepImport(OpStatus.OK, self.exported(dev))))
        session = Session(dev, conn, writer)
        self.sessions.append(session)
        return session

    def _answer(self, session: Session, cmd: CmdSubmit) -> None:
        model, is_in = session.dev.model, cmd.direction == Direction.IN
        buf = bytearray(cmd.transfer_buffer_length)
        if cmd.ep == 0:
            outcome, n = model.control(cmd.setup, bytes(cmd.data),
                                       memoryview(buf) if is_in else None)
        else:
            ep = model.endpoint(cmd.ep | (0x80 if is_in else 0))
            outcome, n = (Outcome.NO_RESPONSE, 0) if ep is None else \
                ep.pull_in(memoryview(buf)) if is_in else ep.push_out(memoryview(cmd.data))
        if outcome is Outcome.NAK:
            session.waiting[cmd.seqnum] = cmd
            return
        session.waiting.pop(cmd.seqnum, None)
        session.writer.write(session.conn.send(RetSubmit(
            cmd.seqnum, _STATUS[outcome], n, data=bytes(buf[:n]) if is_in else b"")))


#: The servers the running test started, closed when it ends.
SERVERS: list[FakeUsbipd] = []


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine
        for server in SERVERS:
            server.close()
        SERVERS.clear()
        machine.sleep(1)


def serve(system: System, *models: tuple[str, DeviceModel]) -> FakeUsbipd:
    server = system.run(FakeUsbipd(*models).start())
    SERVERS.append(server)
    return server


def run(system: System, coro: object) -> object:
    return system.run(asyncio.wait_for(coro, TIMEOUT_S))  # type: ignore[arg-type]


def attach_settled(system: System, server: FakeUsbipd, busid: str) -> int:
    port = system.run(asyncio.wait_for(attach(system, "127.0.0.1", busid, server.port),
                                       TIMEOUT_S))
    system.settle()
    return port


def device(system: System, name: str) -> UsbDevice:
    udev = system.find_device(name)
    assert udev is not None, system.dmesg()
    return udev


def vhci(system: System) -> VhciHCD:
    hcd = next(h for h in system.controllers if isinstance(h, VhciHCD))
    return hcd


def echo(system: System, udev: UsbDevice, payload: bytes) -> bytes:
    """One OUT then IN round trip through Gadget Zero's loopback."""
    async def go() -> bytes:
        out, ret = await usb_bulk_msg(udev, make_pipe(udev, PIPE_BULK, 2, False), payload,
                                      len(payload), 1000)
        assert (out, ret) == (0, len(payload))
        buf = bytearray(512)
        status, got = await usb_bulk_msg(udev, make_pipe(udev, PIPE_BULK, 1, True), buf,
                                         512, 1000)
        assert status == 0
        return bytes(buf[:got])
    return system.run(asyncio.wait_for(go(), TIMEOUT_S))


# -- listing and importing --------------------------------------------------------------------


def test_list_remote_gives_the_exported_devices(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero()), ("1-2", GadgetZero(speed=Speed.FULL)))
    devices = system.run(list_remote("127.0.0.1", server.port))
    assert [(d.busid, d.devid, d.speed, d.idVendor, d.idProduct) for d in devices] == [
        ("1-1", 0x10002, 3, 0x0525, 0xA4A0), ("1-2", 0x10003, 2, 0x0525, 0xA4A0)]
    assert devices[0].interfaces == (ExportedInterface(0xFF, 0, 0),)
    system.sleep(5)
    assert server.seen == [OpReqDevlist(), ConnectionClosed()]


def test_attach_imports_onto_a_vhci_port_added_on_first_use(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero()))
    assert system.controllers == []
    port = attach_settled(system, server, "1-1")
    lines = system.log.lines()
    assert port == 0 and "vhci_hcd: created sysfs vhci_hcd.0" in lines
    assert lines[lines.index("vhci_hcd vhci_hcd.0: Device attached") + 1:][:3] == [
        "usb 1-1: new high-speed USB device number 2 using vhci_hcd",
        "usb 1-1: SetAddress Request (2) to port 0",
        "usb 1-1: New USB device found, idVendor=0525, idProduct=a4a0, bcdDevice= 6.12"]
    assert device(system, "1-1").actconfig is not None
    assert [(a.port, a.host, a.tcp_port, a.busid, a.device.devid)
            for a in attachments(system)] == [(0, "127.0.0.1", server.port, "1-1", 0x10002)]
    link = vhci(system).device(0).transport
    assert isinstance(link, UsbipLink)
    sock = link.sock.writer.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert server.seen[0] == OpReqImport("1-1")
    assert isinstance(server.seen[1], CmdSubmit) and server.seen[1].seqnum == 1


def test_data_goes_both_ways_with_many_urbs_in_flight(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero(loopdefault=True)))
    attach_settled(system, server, "1-1")
    udev = device(system, "1-1")
    assert echo(system, udev, b"ping over tcp") == b"ping over tcp"
    done: list[Urb] = []
    ins = [Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 1, True), bytearray(512), 512,
                           done.append) for _ in range(4)]
    assert all(usb_submit_urb(urb) == 0 for urb in ins)
    system.sleep(5)
    assert done == [] and len(server.sessions[0].waiting) == 4       # all at the server
    outs = [Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 2, False), bytes([n]) * 100,
                            100, done.append) for n in range(4)]
    assert all(usb_submit_urb(urb) == 0 for urb in outs)
    system.sleep(5)
    assert sorted(id(u) for u in done) == sorted(id(u) for u in ins + outs)
    assert [bytes(u.transfer_buffer[:u.actual_length]) for u in ins] == [
        bytes([n]) * 100 for n in range(4)]


def test_an_unlink_goes_over_the_wire(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero(loopdefault=True)))
    attach_settled(system, server, "1-1")
    udev = device(system, "1-1")
    done: list[Urb] = []
    urb = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 1, True), bytearray(512), 512,
                          done.append)
    assert usb_submit_urb(urb) == 0
    system.sleep(5)
    assert usb_unlink_urb(urb) == -Errno.EINPROGRESS
    system.sleep(5)
    assert done == [urb] and urb.status == -Errno.ECONNRESET
    unlink = next(e for e in server.seen if isinstance(e, CmdUnlink))
    assert (unlink.devid, unlink.ep, unlink.direction) == (0x10002, 0, 0)
    assert "vhci_hcd: urb->status -104" in system.log.lines()


def test_the_cmd_submit_of_a_urb(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero(loopdefault=True)))
    attach_settled(system, server, "1-1")
    udev = device(system, "1-1")
    urb = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 2, False), b"abc", 3, print)
    urb.transfer_flags |= 0x0004 | 0x0040          # NO_TRANSFER_DMA_MAP, ZERO_PACKET
    cmd = cmd_submit(7, 0x10002, urb)
    assert (cmd.seqnum, cmd.devid, cmd.direction, cmd.ep, cmd.transfer_flags,
            cmd.transfer_buffer_length, bytes(cmd.data), cmd.setup) == (
        7, 0x10002, Direction.OUT, 2, 0x0040, 3, b"abc", bytes(8))


# -- the end of an attachment ----------------------------------------------------------------


def test_detach_ends_the_connection_and_unplugs_the_device(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero()))
    port = attach_settled(system, server, "1-1")
    mark = len(system.log.lines())
    run(system, detach(system, port))
    system.settle()
    assert system.log.lines()[mark:] == [
        "vhci_hcd: stop threads", "vhci_hcd: release socket", "vhci_hcd: disconnect device",
        "usb 1-1: USB disconnect, device number 2"]
    assert attachments(system) == [] and vhci(system).device(port).status is VdevStatus.NULL
    system.sleep(5)
    assert server.seen[-1] == ConnectionClosed()
    with pytest.raises(ValueError, match="Port 0 is already detached!"):
        run(system, detach(system, port))
    with pytest.raises(ValueError, match="Port 9 is already detached!"):
        run(system, detach(system, 9))
    with pytest.raises(ValueError, match=r"high-speed ports 0\.\.7 and SuperSpeed ports 8\.\.15"):
        run(system, detach(system, 16))


def test_detach_on_a_machine_without_vhci(system: System) -> None:
    with pytest.raises(ValueError, match="no vhci_hcd controller"):
        run(system, detach(system, 0))


def test_a_server_that_closes_is_an_unplug(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero()))
    attach_settled(system, server, "1-1")
    mark = len(system.log.lines())
    server.close()
    system.sleep(5)
    system.settle()
    assert system.log.lines()[mark:] == [
        "vhci_hcd: connection closed", "vhci_hcd: stop threads", "vhci_hcd: release socket",
        "vhci_hcd: disconnect device", "usb 1-1: USB disconnect, device number 2"]
    assert attachments(system) == []


def test_a_peer_that_breaks_the_protocol_loses_only_its_own_device(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero(loopdefault=True)),
                   ("1-2", GadgetZero(loopdefault=True)))
    attach_settled(system, server, "1-1")
    attach_settled(system, server, "1-2")
    mark = len(system.log.lines())
    server.sessions[0].writer.write(b"\x00\x00\x00\x09" + bytes(44))
    system.sleep(5)
    system.settle()
    records = list(system.log.records())[mark:]
    assert records[0].level == Level.ERR
    assert records[0].text.startswith("vhci_hcd: unexpected command")
    assert [r.text for r in records[1:5]] == [
        "vhci_hcd: stop threads", "vhci_hcd: release socket", "vhci_hcd: disconnect device",
        "usb 1-1: USB disconnect, device number 2"]
    assert echo(system, device(system, "1-2"), b"still here") == b"still here"
    assert [a.busid for a in attachments(system)] == ["1-2"]


def fill_socket_buffers(system: System) -> None:
    """Let the kernel move what it will into the socket buffers, on the wall clock and
    without moving the machine's, until what waits to be sent stops changing: the virtual
    clock must not run ahead of real socket I/O that is still under way."""
    link = vhci(system).device(0).transport
    assert isinstance(link, UsbipLink)
    last, steady = -1, 0
    deadline = time.monotonic() + 10
    while steady < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
        system.run(asyncio.sleep(0))
        unsent = link.sock.unsent()
        steady, last = (steady + 1 if unsent == last else 0), unsent


def test_a_server_that_stops_reading_is_cut_off(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero()))
    attach_settled(system, server, "1-1")
    udev = device(system, "1-1")
    server.reading.clear()
    done: list[Urb] = []
    size = 1 << 20
    for _ in range(24):                                # 24 MiB the server never takes
        urb = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 2, False), bytes(size), size,
                              done.append)
        assert usb_submit_urb(urb) == 0
    fill_socket_buffers(system)
    mark = len(system.log.lines())
    system.sleep(29000)
    assert done == [] and system.log.lines()[mark:] == []
    system.sleep(3000)          # 30 s without progress, seen within STALL_POLL_S
    system.settle()
    records = list(system.log.records())[mark:]
    assert records[0].level == Level.ERR
    assert records[0].text.startswith("vhci_hcd: sendmsg failed!, ret=-11 for ")
    assert [r.text for r in records[1:5]] == [
        "vhci_hcd: stop threads", "vhci_hcd: release socket", "vhci_hcd: disconnect device",
        "usb 1-1: USB disconnect, device number 2"]
    assert len(done) == 24 and {u.status for u in done} == {-Errno.ESHUTDOWN}
    server.reading.set()


# -- refusals ---------------------------------------------------------------------------------


def test_an_import_the_server_refuses(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero()))
    with pytest.raises(UsbipError, match=r"^Attach Request for 9-9 failed - Device not found$"):
        run(system, attach(system, "127.0.0.1", "9-9", server.port))
    attach_settled(system, server, "1-1")
    with pytest.raises(UsbipError, match="Device busy \\(exported\\)"):
        run(system, attach(system, "127.0.0.1", "1-1", server.port))
    assert [a.port for a in attachments(system)] == [0]
    assert vhci(system).free_port(Speed.HIGH) == 1
    assert op_status_string(5) == "Unexpected response"
    assert op_status_string(9) == "Unknown Op Common Status"


def test_a_superspeed_plus_device_is_refused_by_vhci_hcd(system: System) -> None:
    server = serve(system, ("1-1", GadgetZero()))
    real = server.exported

    def superspeed_plus(dev: Exported) -> ExportedDevice:
        return dataclasses.replace(real(dev), speed=int(Speed.SUPER_PLUS))

    server.exported = superspeed_plus  # type: ignore[method-assign]
    with pytest.raises(UsbipError, match="import device: Invalid argument"):
        run(system, attach(system, "127.0.0.1", "1-1", server.port))
    assert "vhci_hcd: Failed attach request for unsupported USB speed: super-speed-plus" \
        in system.log.lines()
    assert vhci(system).device(0).status is VdevStatus.NULL


def test_a_server_that_cannot_be_reached(system: System) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        run(system, attach(system, "127.0.0.1", "1-1", port))


def test_a_server_that_never_answers_the_import(system: System) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(1 << 16)
            await asyncio.sleep(3600)
        finally:
            writer.close()

    server = system.run(_start(mute))
    port = server.sockets[0].getsockname()[1]
    with pytest.raises(UsbipError, match="no answer within 10 s"):
        system.run(attach(system, "127.0.0.1", "1-1", port))
    server.close()


async def _start(handler: object) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]


# -- several servers ---------------------------------------------------------------------------


def test_devices_of_several_servers_at_once(system: System) -> None:
    one = serve(system, ("1-1", GadgetZero(loopdefault=True)))
    two = serve(system, ("1-1", GadgetZero(loopdefault=True)),
                ("1-2", GadgetZero(loopdefault=True)))

    async def both() -> list[int]:
        return list(await asyncio.gather(attach(system, "127.0.0.1", "1-1", one.port),
                                         attach(system, "127.0.0.1", "1-1", two.port),
                                         attach(system, "127.0.0.1", "1-2", two.port)))

    ports = system.run(asyncio.wait_for(both(), TIMEOUT_S))
    system.settle()
    assert sorted(ports) == [0, 1, 2]
    assert len([h for h in system.controllers if isinstance(h, VhciHCD)]) == 1
    names = [f"1-{port + 1}" for port in sorted(ports)]
    for n, name in enumerate(names):
        assert echo(system, device(system, name), bytes([n]) * 8) == bytes([n]) * 8
    run(system, detach(system, ports[0]))
    system.settle()
    assert echo(system, device(system, f"1-{ports[2] + 1}"), b"on") == b"on"
    assert sorted((a.tcp_port, a.busid) for a in attachments(system)) == sorted(
        [(two.port, "1-1"), (two.port, "1-2")])
