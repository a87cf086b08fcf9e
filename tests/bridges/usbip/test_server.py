"""usbipd (usbemu.bridges.usbip.server) on real sockets: what `usbip bind` leaves in sysfs,
the device list as the tools read it from sysfs, imports (OK, busy, unknown bus ids),
TCP_NODELAY and the chosen port, peers that break the protocol or stop reading (only their
connection goes), and closing the server (the devices go back to their drivers)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from usbemu.bridges.usbip.protocol import (
    Direction,
    ExportedDevice,
    ExportedInterface,
    OpRepDevlist,
    OpRepImport,
    OpReqDevlist,
    OpReqImport,
    OpStatus,
    RetSubmit,
)
from usbemu.bridges.usbip.server import UsbipServer, exported_device, usbip_bind, usbip_unbind
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.zero import GadgetZero
from usbemu.spec.ch9 import SetupPacket
from usbemu.system import System

Connect = Callable[[int], Awaitable[Any]]
Run = Callable[[Coroutine[Any, Any, Any]], Any]

ZERO_PATH = "/sys/devices/pci0000:00/0000:00:1d.0/usb1/1-1"
PEN_PATH = "/sys/devices/pci0000:00/0000:00:1d.0/usb1/1-2"
#: SET_CONFIGURATION(2): gadget zero's loopback configuration.
SET_LOOPBACK = bytes(SetupPacket(0x00, 0x09, 2))


def plug(system: System, models: dict[str, Any]) -> None:
    for path, model in models.items():
        system.plug(model, path)
    system.settle()


def status(system: System, busid: str) -> str:
    return system.vfs.read_text(f"/sys/bus/usb/devices/{busid}/usbip_status")


def test_devlist_lists_the_exported_devices_as_sysfs_shows_them(
        machine: System, run: Run, connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero(), "1-2": PenDrive(), "1-3": PenDrive(serial="other")})

    async def scenario() -> tuple[Any, bool]:
        server = await UsbipServer.start(machine, ["1-1", "1-2"], port=0)
        try:
            peer = await connect(server.port)
            reply = await peer.request(OpReqDevlist())
            return reply, await peer.eof()
        finally:
            await server.close()

    reply, closed = run(scenario())
    assert isinstance(reply, OpRepDevlist) and reply.status == OpStatus.OK
    assert reply.devices == (
        ExportedDevice(PEN_PATH, "1-2", 1, 3, 3, 0x058F, 0x6387, 0x0100, 0, 0, 0, 0, 1, 0),
        ExportedDevice(ZERO_PATH, "1-1", 1, 2, 3, 0x0525, 0xA4A0, 0x0612, 0xFF, 0, 0, 0, 2,
                       0))
    assert closed  # usbipd answers one operation per connection


def test_devlist_shows_the_configuration_a_client_chose(
        machine: System, run: Run, connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero()})

    async def scenario() -> Any:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        try:
            peer = await connect(server.port)
            await peer.import_device("1-1")
            peer.submit(0, Direction.OUT, 0, setup=SET_LOOPBACK)
            assert isinstance(await peer.recv(), RetSubmit)
            peer.close()
            while status(machine, "1-1") != "1\n":
                await asyncio.sleep(0.02)
            return await (await connect(server.port)).request(OpReqDevlist())
        finally:
            await server.close()

    reply = run(scenario())
    assert isinstance(reply, OpRepDevlist)
    (device,) = reply.devices
    assert (device.bConfigurationValue, device.bNumInterfaces) == (2, 1)
    assert device.interfaces == (ExportedInterface(0xFF, 0, 0),)


def test_import_hands_the_connection_to_usbip_host(machine: System, run: Run,
                                                   connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero()})

    async def scenario() -> tuple[Any, str, ExportedDevice]:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        try:
            peer = await connect(server.port)
            reply = await peer.request(OpReqImport("1-1"))
            return reply, status(machine, "1-1"), exported_device(machine, "1-1")
        finally:
            await server.close()

    reply, state, listed = run(scenario())
    assert isinstance(reply, OpRepImport) and reply.status == OpStatus.OK
    assert reply.device == listed
    assert reply.device is not None and reply.device.interfaces == ()
    assert reply.device.devid == (1 << 16) | 2
    assert state == "2\n"
    assert "usbip-host 1-1: stub up" in machine.log.lines()


@pytest.mark.parametrize("busid", ["1-5", "1-2", "1-1:1.0", "nonsense"])
def test_import_of_a_bus_id_not_exported_is_nodev(machine: System, run: Run,
                                                  connect: Connect, busid: str) -> None:
    plug(machine, {"1-1": GadgetZero(), "1-2": PenDrive()})

    async def scenario() -> tuple[Any, bool]:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        try:
            peer = await connect(server.port)
            return await peer.request(OpReqImport(busid)), await peer.eof()
        finally:
            await server.close()

    reply, closed = run(scenario())
    assert reply == OpRepImport(OpStatus.NODEV)
    assert closed


def test_a_second_import_gets_busy_and_the_first_goes_on(machine: System, run: Run,
                                                         connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero()})

    async def scenario() -> tuple[Any, Any]:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        try:
            first = await connect(server.port)
            await first.import_device("1-1")
            second = await connect(server.port)
            busy = await second.request(OpReqImport("1-1"))
            first.submit(0, Direction.OUT, 0, setup=SET_LOOPBACK)
            first.submit(2, Direction.OUT, 3, data=b"abc")
            await first.recv()
            await first.recv()
            first.submit(1, Direction.IN, 512)
            return busy, await first.recv()
        finally:
            await server.close()

    busy, echo = run(scenario())
    assert busy == OpRepImport(OpStatus.DEV_BUSY)
    assert isinstance(echo, RetSubmit) and bytes(echo.data) == b"abc"


def test_a_device_in_error_gets_dev_err(machine: System, run: Run, connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero()})

    async def scenario() -> tuple[bool, Any]:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        try:
            peer = await connect(server.port)
            await peer.import_device("1-1")
            peer.submit(0, Direction.OUT, 0, flags=0x40000)   # an sg buffer of no length
            closed = await peer.eof()
            while status(machine, "1-1") == "2\n":
                await asyncio.sleep(0.02)
            return closed, await (await connect(server.port)).request(OpReqImport("1-1"))
        finally:
            await server.close()

    closed, reply = run(scenario())
    assert closed and reply == OpRepImport(OpStatus.DEV_ERR)
    assert "usbip-host 1-1: sg buffer with zero length" in machine.log.lines()


@pytest.mark.parametrize("garbage", [
    b"\x01\x10\x80\x05\x00\x00\x00\x00",              # OP_REQ_DEVLIST of version 0x0110
    b"\x01\x11\x12\x34\x00\x00\x00\x00",              # an unknown operation
    b"\x00\x00\x00\x01" + bytes(44),                  # a CMD_SUBMIT before any import
])
def test_a_peer_breaking_the_protocol_loses_only_its_connection(
        machine: System, run: Run, connect: Connect, garbage: bytes,
        caplog: pytest.LogCaptureFixture) -> None:
    plug(machine, {"1-1": GadgetZero()})

    async def scenario() -> tuple[bool, Any]:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        try:
            good = await connect(server.port)
            await good.import_device("1-1")
            bad = await connect(server.port)
            bad.send_raw(garbage)
            closed = await bad.eof()
            good.submit(0, Direction.OUT, 0, setup=SET_LOOPBACK)
            return closed, await good.recv()
        finally:
            await server.close()

    with caplog.at_level(logging.WARNING, logger="usbemu.usbipd"):
        closed, answer = run(scenario())
    assert closed
    assert isinstance(answer, RetSubmit) and answer.status == 0
    assert any(r.name == "usbemu.usbipd" and r.levelno == logging.WARNING
               for r in caplog.records)


def test_a_peer_closing_before_its_request_is_dropped(machine: System, run: Run,
                                                      connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero()})

    async def scenario() -> Any:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        try:
            quitter = await connect(server.port)
            quitter.send_raw(b"\x01\x11")       # half an operation header, then EOF
            quitter.writer.write_eof()
            assert await quitter.eof()
            return await (await connect(server.port)).request(OpReqDevlist())
        finally:
            await server.close()

    reply = run(scenario())
    assert isinstance(reply, OpRepDevlist) and len(reply.devices) == 1


def test_every_socket_has_tcp_nodelay_and_port_0_picks_a_port(
        machine: System, run: Run, connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero()})

    async def scenario() -> tuple[int, list[int], str, int]:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        try:
            peer = await connect(server.port)
            await peer.import_device("1-1")
            udev = machine.find_device("1-1")
            assert udev is not None
            conn = udev.driver_data.socket.writer.get_extra_info("socket")
            assert server._server is not None
            listening = server._server.sockets
            return (server.port,
                    [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                     for s in [*listening, conn]],
                    listening[0].getsockname()[0], conn.getsockname()[1])
        finally:
            await server.close()

    port, nodelay, host, accepted_on = run(scenario())
    assert port > 0 and accepted_on == port
    assert host == "127.0.0.1"
    assert all(nodelay)


def test_a_peer_that_stops_reading_is_cut_off(machine: System, run: Run,
                                              connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero()})
    source = bytes(SetupPacket(0x00, 0x09, 3))      # source/sink: bulk IN never runs dry

    async def scenario() -> tuple[bool, str]:
        server = await UsbipServer.start(machine, ["1-1"], port=0, send_timeout_s=0.3)
        try:
            peer = await connect(server.port)
            await peer.import_device("1-1")
            peer.submit(0, Direction.OUT, 0, setup=source)
            await peer.recv()
            for _ in range(400):                  # 25 MiB of IN data it never reads
                peer.submit(1, Direction.IN, 64 << 10)
            while not any("sendmsg failed" in line for line in machine.log.lines()):
                await asyncio.sleep(0.05)
            while status(machine, "1-1") != "1\n":
                await asyncio.sleep(0.05)
            return await peer.eof(), status(machine, "1-1")
        finally:
            await server.close()

    closed, state = run(scenario())
    assert closed and state == "1\n"
    lines = machine.log.lines()
    failed = next(line for line in lines if "sendmsg failed" in line)
    assert failed.startswith("usbip-host 1-1: sendmsg failed!, retval -11 for ")
    assert "usbip-host 1-1: device reset" in lines[lines.index(failed):]


def test_close_gives_the_devices_back_to_their_drivers(machine: System, run: Run,
                                                       connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero()})

    async def scenario() -> bool:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        peer = await connect(server.port)
        await peer.import_device("1-1")
        await server.close()
        return await peer.eof()

    assert run(scenario())
    udev = machine.find_device("1-1")
    assert udev is not None and udev.driver is not None and udev.driver.name == "usb"
    assert udev.actconfig is not None   # the generic driver configured it again
    assert machine.vfs.read_text("/sys/bus/usb/drivers/usbip-host/match_busid") == "\n"


def test_close_without_unbind_takes_the_stub_down(machine: System, run: Run,
                                                  connect: Connect) -> None:
    plug(machine, {"1-1": GadgetZero()})

    async def scenario() -> bool:
        server = await UsbipServer.start(machine, ["1-1"], port=0)
        peer = await connect(server.port)
        await peer.import_device("1-1")
        await server.close(unbind=False)
        return await peer.eof()

    assert run(scenario())
    udev = machine.find_device("1-1")
    assert udev is not None and udev.driver is not None and udev.driver.name == "usbip-host"
    assert "usbip-host 1-1: stub down" in machine.log.lines()


def test_start_refuses_what_it_cannot_export(machine: System, run: Run) -> None:
    plug(machine, {"1-1": Hub()})
    with pytest.raises(ValueError, match="no bus id"):
        run(UsbipServer.start(machine, [], port=0))
    with pytest.raises(ValueError, match="'1-4': device with the specified bus ID"):
        run(UsbipServer.start(machine, ["1-4"], port=0))
    with pytest.raises(OSError, match="1-1: could not bind device to usbip-host"):
        run(UsbipServer.start(machine, ["1-1"], port=0))   # usbip-host takes no hub
    udev = machine.find_device("1-1")
    assert udev is not None and udev.driver is not None and udev.driver.name == "usb"


def test_usbip_bind_and_unbind_as_the_tools_do(machine: System, run: Run) -> None:
    plug(machine, {"1-1": PenDrive()})
    machine.modprobe("usbip_host")
    assert run(usbip_bind(machine, "1-1")) is True
    assert run(usbip_bind(machine, "1-1")) is False     # already bound to usbip-host
    assert machine.vfs.readlink("/sys/bus/usb/devices/1-1/driver").endswith("/usbip-host")
    run(usbip_unbind(machine, "1-1"))
    assert machine.vfs.readlink("/sys/bus/usb/devices/1-1/driver").endswith("/usb")
    with pytest.raises(ValueError, match="not bound to usbip-host"):
        run(usbip_unbind(machine, "1-1"))
