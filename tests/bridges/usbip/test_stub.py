"""usbip-host (usbemu.bridges.usbip.stub): binding through sysfs as `usbip bind` and
`usbip unbind` do, with Linux's messages and files; the status machine; the transfer-flag
policy; and, on real sockets, the URB engine — bulk echo through gadget zero and the pen
drive, control transfers, the requests the core does itself, unlink races, a client that
vanishes, and what ends a connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest

from usbemu.bridges.usbip.protocol import (
    ConnectionClosed,
    Direction,
    IsoPacket,
    OpRepImport,
    OpReqImport,
    OpStatus,
    RetSubmit,
    RetUnlink,
)
from usbemu.bridges.usbip.server import UsbipServer
from usbemu.bridges.usbip.stub import (
    SdevStatus,
    StubDevice,
    mask_transfer_flags,
)
from usbemu.core.message import usb_set_configuration
from usbemu.core.urb import PIPE_BULK, PIPE_CONTROL, PIPE_ISOCHRONOUS, Urb, UrbFlag, make_pipe
from usbemu.core.usb import UsbDevice
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.zero import GadgetZero
from usbemu.errors import Errno, IllegalStateTransition
from usbemu.spec.ch9 import SetupPacket
from usbemu.system import System
from usbemu.testing import blacklist
from usbemu.testing.monitor import UrbRecorder

Connect = Callable[[int], Awaitable[Any]]
Run = Callable[[Coroutine[Any, Any, Any]], Any]

DRIVER = "/sys/bus/usb/drivers/usbip-host"
DEV = "/sys/bus/usb/devices/1-1"
SET_LOOPBACK = bytes(SetupPacket(0x00, 0x09, 2))     # gadget zero's loopback config
SET_PEN_CONFIG = bytes(SetupPacket(0x00, 0x09, 1))
ECONNRESET = -Errno.ECONNRESET


# -- binding, on virtual time ----------------------------------------------------------------------


@pytest.fixture
def vsystem() -> Iterator[System]:
    with System() as system:
        blacklist(system, "usb_storage", "uas")
        system.add_controller()
        system.plug(PenDrive(), "1-1")
        system.settle()
        system.modprobe("usbip_host")
        yield system


def write(system: System, path: str, text: str) -> int:
    return system.run(system.vfs.write(path, text))


def bind(system: System, busid: str = "1-1") -> None:
    """What `usbip bind -b BUSID` writes."""
    write(system, f"{DRIVER}/match_busid", f"add {busid}")
    write(system, "/sys/bus/usb/drivers/usb/unbind", busid)
    write(system, f"{DRIVER}/bind", busid)


def udev_of(system: System, busid: str = "1-1") -> UsbDevice:
    udev = system.find_device(busid)
    assert udev is not None
    return udev


def test_loading_usbip_host_leaves_devices_with_the_generic_driver(vsystem: System) -> None:
    assert "usbcore: registered new device driver usbip-host" in vsystem.log.lines()
    assert udev_of(vsystem).driver is not None and udev_of(vsystem).driver.name == "usb"
    assert sorted(vsystem.vfs.listdir(DRIVER)) == ["bind", "match_busid", "module",
                                                   "rebind", "uevent", "unbind"]
    vsystem.plug(GadgetZero(), "1-2")
    vsystem.settle()
    assert udev_of(vsystem, "1-2").driver.name == "usb"   # type: ignore[union-attr]
    assert not any("match_busid" in line for line in vsystem.log.lines())


def test_usbip_bind_takes_the_device_with_linux_messages_and_files(vsystem: System) -> None:
    bind(vsystem)
    udev = udev_of(vsystem)
    assert udev.driver is not None and udev.driver.name == "usbip-host"
    assert vsystem.log.lines()[-1] == "usbip-host 1-1: usbip-host: register new device " \
                                      "(bus 1 dev 2)"
    assert vsystem.vfs.read_text(f"{DRIVER}/match_busid") == "1-1 \n"
    assert vsystem.vfs.read_text(f"{DEV}/usbip_status") == "1\n"
    assert vsystem.vfs.stat(f"{DEV}/usbip_sockfd").mode & 0o777 == 0o200
    assert vsystem.vfs.stat(f"{DEV}/usbip_debug").mode & 0o777 == 0o644
    assert udev.actconfig is None        # the client chooses the configuration
    assert vsystem.vfs.read_text(f"{DEV}/bConfigurationValue") == ""
    assert vsystem.vfs.exists(f"{DRIVER}/1-1")


def test_probe_skips_a_device_not_in_match_busid(vsystem: System) -> None:
    write(vsystem, "/sys/bus/usb/drivers/usb/unbind", "1-1")
    with pytest.raises(OSError) as info:
        write(vsystem, f"{DRIVER}/bind", "1-1")
    assert info.value.errno == Errno.ENODEV
    assert vsystem.log.lines()[-1] == "usbip-host 1-1: 1-1 is not in match_busid table... skip!"


def test_usbip_host_refuses_hubs(vsystem: System) -> None:
    vsystem.plug(Hub(), "1-2")
    vsystem.settle()
    write(vsystem, f"{DRIVER}/match_busid", "add 1-2")
    write(vsystem, "/sys/bus/usb/drivers/usb/unbind", "1-2")
    with pytest.raises(OSError) as info:
        write(vsystem, f"{DRIVER}/bind", "1-2")
    assert info.value.errno == Errno.ENODEV


def test_interfaces_of_an_exported_device_get_no_driver(vsystem: System) -> None:
    vsystem.insmod("pen_driver")
    bind(vsystem)
    udev = udev_of(vsystem)
    assert vsystem.run(usb_set_configuration(udev, 1)) == 0   # what a client's config does
    (intf,) = udev.interfaces()
    assert intf.registered and intf.driver is None          # the port is owned
    assert not vsystem.vfs.exists("/dev/pen0")


def test_usbip_unbind_gives_the_device_back_to_the_generic_driver(vsystem: System) -> None:
    bind(vsystem)
    write(vsystem, f"{DRIVER}/unbind", "1-1")
    assert vsystem.vfs.read_text(f"{DRIVER}/match_busid") == "1-1 \n"   # ADDED again
    write(vsystem, f"{DRIVER}/match_busid", "del 1-1")
    write(vsystem, f"{DRIVER}/rebind", "1-1")
    udev = udev_of(vsystem)
    assert udev.driver is not None and udev.driver.name == "usb"
    assert udev.actconfig is not None
    assert vsystem.vfs.read_text(f"{DRIVER}/match_busid") == "\n"
    assert not vsystem.vfs.exists(f"{DEV}/usbip_status")


def test_removing_the_module_rebinds_its_devices(vsystem: System) -> None:
    bind(vsystem)
    vsystem.rmmod("usbip_host")
    udev = udev_of(vsystem)
    assert udev.driver is not None and udev.driver.name == "usb"
    assert "usbcore: deregistering device driver usbip-host" in vsystem.log.lines()


@pytest.mark.parametrize(("path", "text", "errno"), [
    (f"{DRIVER}/match_busid", "add", Errno.EINVAL),
    (f"{DRIVER}/match_busid", "move 1-1", Errno.EINVAL),
    (f"{DRIVER}/match_busid", "add " + "9" * 32, Errno.EINVAL),
    (f"{DRIVER}/match_busid", "del 9-9", Errno.ENODEV),
    (f"{DRIVER}/rebind", "9-9", Errno.ENODEV),
    (f"{DRIVER}/rebind", "9" * 32, Errno.EINVAL),
])
def test_bad_writes_to_the_driver_files(vsystem: System, path: str, text: str,
                                        errno: int) -> None:
    with pytest.raises(OSError) as info:
        write(vsystem, path, text)
    assert info.value.errno == errno


def test_match_busid_holds_sixteen_bus_ids(vsystem: System) -> None:
    for n in range(16):
        write(vsystem, f"{DRIVER}/match_busid", f"add 2-{n}")
    write(vsystem, f"{DRIVER}/match_busid", "add 2-0")     # already there
    with pytest.raises(OSError) as info:
        write(vsystem, f"{DRIVER}/match_busid", "add 3-1")
    assert info.value.errno == Errno.ENOMEM


def test_usbip_sockfd_refuses_what_it_cannot_take(vsystem: System) -> None:
    bind(vsystem)
    for text, line in (("-1", "usbip-host 1-1: stub down"),
                       ("123456", "usbip-host 1-1: failed to lookup sock")):
        with pytest.raises(OSError) as info:
            write(vsystem, f"{DEV}/usbip_sockfd", text)
        assert info.value.errno == Errno.EINVAL
        assert vsystem.log.lines()[-1] == line
    with pytest.raises(OSError):
        write(vsystem, f"{DEV}/usbip_sockfd", "none")
    assert vsystem.vfs.read_text(f"{DEV}/usbip_status") == "1\n"


def test_usbip_debug_keeps_its_flags(vsystem: System) -> None:
    bind(vsystem)
    write(vsystem, f"{DEV}/usbip_debug", "0x1f\n")
    assert vsystem.vfs.read_text(f"{DEV}/usbip_debug") == "1f\n"
    with pytest.raises(OSError):
        write(vsystem, f"{DEV}/usbip_debug", "zz")


def test_the_status_moves_as_usbip_host_moves_it(vsystem: System) -> None:
    sdev = StubDevice(udev_of(vsystem))
    assert sdev.status == SdevStatus.AVAILABLE
    sdev.set_status(SdevStatus.USED)
    sdev.set_status(SdevStatus.AVAILABLE)
    sdev.set_status(SdevStatus.ERROR)
    with pytest.raises(IllegalStateTransition, match="ERROR -> AVAILABLE"):
        sdev.set_status(SdevStatus.AVAILABLE)


@pytest.mark.parametrize(("ptype", "endpoint", "is_in", "setup", "kept"), [
    (PIPE_BULK, 2, False, None, UrbFlag.ZERO_PACKET),
    (PIPE_BULK, 1, True, None, UrbFlag.SHORT_NOT_OK),
    (PIPE_CONTROL, 0, True, SetupPacket(0x80, 6, 0x100, 0, 18), UrbFlag.SHORT_NOT_OK),
    (PIPE_CONTROL, 0, False, SetupPacket(0x00, 9, 2), 0),
    (PIPE_ISOCHRONOUS, 3, True, None, UrbFlag.ISO_ASAP),
])
def test_transfer_flags_are_masked_as_stub_rx_masks_them(
        ptype: int, endpoint: int, is_in: bool, setup: SetupPacket | None, kept: int) -> None:
    with System() as system:
        system.add_controller()
        system.plug(GadgetZero(loopdefault=True), "1-1")
        system.settle()
        udev = udev_of(system)
        system.run(usb_set_configuration(udev, 2))
        if ptype == PIPE_ISOCHRONOUS:
            from usbemu.core.message import usb_set_interface
            system.run(usb_set_interface(udev, 0, 1))
        urb = Urb()
        urb.dev, urb.complete = udev, lambda urb: None
        urb.pipe = make_pipe(udev, ptype, endpoint, is_in)
        urb.setup_packet = bytes(setup) if setup is not None else None
        every = (UrbFlag.SHORT_NOT_OK | UrbFlag.ISO_ASAP | UrbFlag.ZERO_PACKET
                 | UrbFlag.NO_INTERRUPT | 0x40000)    # and URB_DMA_MAP_SG
        urb.transfer_flags = int(every)
        mask_transfer_flags(urb)
        assert urb.transfer_flags == int(UrbFlag.NO_INTERRUPT | kept)


# -- the URB engine, on real sockets -------------------------------------------------------------


async def imported(machine: System, connect: Connect, busid: str = "1-1"
                   ) -> tuple[UsbipServer, Any]:
    server = await UsbipServer.start(machine, [busid], port=0)
    peer = await connect(server.port)
    await peer.import_device(busid)
    return server, peer


def zero(machine: System) -> None:
    machine.plug(GadgetZero(), "1-1")
    machine.settle()


def pen(machine: System) -> None:
    machine.plug(PenDrive(), "1-1")
    machine.settle()


def test_bulk_echo_through_gadget_zero_pipelined(machine: System, run: Run,
                                                 connect: Connect) -> None:
    zero(machine)
    chunks = [bytes([n]) * (100 + n) for n in range(8)]

    async def scenario() -> list[Any]:
        server, peer = await imported(machine, connect)
        try:
            peer.submit(0, Direction.OUT, 0, setup=SET_LOOPBACK)
            answers = [await peer.recv()]
            for chunk in chunks:
                peer.submit(2, Direction.OUT, len(chunk), data=chunk)
            for _ in chunks:
                peer.submit(1, Direction.IN, 512)
            answers += [await peer.recv() for _ in range(2 * len(chunks))]
            return answers
        finally:
            await server.close()

    answers = run(scenario())
    assert all(isinstance(a, RetSubmit) and a.status == 0 for a in answers)
    assert [a.seqnum for a in answers] == list(range(1, 2 + 2 * len(chunks)))
    assert [a.actual_length for a in answers[1:9]] == [len(c) for c in chunks]
    assert [bytes(a.data) for a in answers[9:]] == chunks
    assert all((a.devid, a.direction, a.ep) == (0, 0, 0) for a in answers)


def test_bulk_echo_through_the_pen_drive(machine: System, run: Run,
                                         connect: Connect) -> None:
    pen(machine)

    async def scenario() -> list[Any]:
        server, peer = await imported(machine, connect)
        try:
            peer.submit(0, Direction.OUT, 0, setup=SET_PEN_CONFIG)
            peer.submit(1, Direction.OUT, 5, data=b"hello")
            peer.submit(2, Direction.IN, 512)
            return [await peer.recv() for _ in range(3)]
        finally:
            await server.close()

    config, written, read = run(scenario())
    assert (config.status, written.actual_length) == (0, 5)
    assert (read.status, bytes(read.data)) == (0, b"hello")


def test_control_get_descriptor(machine: System, run: Run, connect: Connect) -> None:
    zero(machine)
    get_device = bytes(SetupPacket(0x80, 0x06, 0x0100, 0, 18))

    async def scenario() -> Any:
        server, peer = await imported(machine, connect)
        try:
            peer.submit(0, Direction.IN, 18, setup=get_device)
            return await peer.recv()
        finally:
            await server.close()

    answer = run(scenario())
    assert isinstance(answer, RetSubmit) and answer.status == 0
    assert bytes(answer.data) == machine.vfs.read(f"{DEV}/descriptors")[:18]


def test_set_configuration_is_done_by_the_core_and_not_sent_twice(
        machine: System, run: Run, connect: Connect) -> None:
    zero(machine)

    async def scenario() -> tuple[Any, int | None, list[Any], list[Any]]:
        server, peer = await imported(machine, connect)
        try:
            with UrbRecorder(machine) as rec:
                peer.submit(0, Direction.OUT, 0, setup=SET_LOOPBACK)
                answer = await peer.recv()
            udev = udev_of(machine)
            value = udev.actconfig.value if udev.actconfig is not None else None
            requests = [e.setup_packet for e in rec.submitted()
                        if e.setup_packet is not None and e.setup_packet.bRequest == 0x09]
            return answer, value, requests, [i.driver for i in udev.interfaces()]
        finally:
            await server.close()

    answer, value, requests, drivers = run(scenario())
    assert (answer.status, answer.actual_length) == (0, 0)
    assert value == 2
    assert requests == [SetupPacket(0x00, 0x09, 2)]
    assert drivers == [None]


def test_set_interface_clear_halt_and_port_reset_are_the_cores(
        machine: System, run: Run, connect: Connect) -> None:
    zero(machine)
    requests = [SET_LOOPBACK,
                bytes(SetupPacket(0x01, 0x0B, 1, 0)),      # SET_INTERFACE(0, alt 1)
                bytes(SetupPacket(0x02, 0x01, 0, 0x81)),   # CLEAR_FEATURE(HALT) ep 0x81
                bytes(SetupPacket(0x23, 0x03, 4, 1))]      # SetPortFeature(PORT_RESET)

    async def scenario() -> list[Any]:
        server, peer = await imported(machine, connect)
        try:
            answers = []
            for setup in requests:
                peer.submit(0, Direction.OUT, 0, setup=setup)
                answers.append(await peer.recv())
            return answers
        finally:
            await server.close()

    answers = run(scenario())
    assert [a.status for a in answers] == [0, 0, 0, 0]
    lines = machine.log.lines()
    assert "usbip-host 1-1: usb_set_interface done: inf 0 alt 1" in lines
    assert "usbip-host 1-1: usb_clear_halt done: devnum 2 endp 1" in lines
    reset = lines.index("usbip-host 1-1: usb_queue_reset_device")
    assert lines[reset + 1] == "usbip-host 1-1: reset high-speed USB device number 2 " \
                               "using ehci-pci"


def test_unlink_of_a_urb_in_flight_answers_econnreset_and_no_ret_submit(
        machine: System, run: Run, connect: Connect) -> None:
    pen(machine)                     # an IN with nothing stored NAKs: it stays in flight

    async def scenario() -> list[Any]:
        server, peer = await imported(machine, connect)
        try:
            peer.submit(0, Direction.OUT, 0, setup=SET_PEN_CONFIG)
            await peer.recv()
            target = peer.submit(2, Direction.IN, 512)
            await asyncio.sleep(0.05)
            unlink = peer.unlink(target)
            first = await peer.recv()
            peer.submit(1, Direction.OUT, 2, data=b"ok")
            second = await peer.recv()
            return [unlink, first, second]
        finally:
            await server.close()

    unlink, first, second = run(scenario())
    assert first == RetUnlink(unlink, ECONNRESET)
    assert isinstance(second, RetSubmit) and second.seqnum == unlink + 1  # none for target
    assert "usbip-host 1-1: unlinked by a call to usb_unlink_urb()" in machine.log.lines()


def test_unlink_of_a_completed_urb_answers_status_0(machine: System, run: Run,
                                                    connect: Connect) -> None:
    pen(machine)

    async def scenario() -> tuple[Any, Any, int]:
        server, peer = await imported(machine, connect)
        try:
            peer.submit(0, Direction.OUT, 0, setup=SET_PEN_CONFIG)
            await peer.recv()
            target = peer.submit(1, Direction.OUT, 3, data=b"abc")
            done = await peer.recv()
            unlink = peer.unlink(target)
            return done, await peer.recv(), unlink
        finally:
            await server.close()

    done, answer, unlink = run(scenario())
    assert isinstance(done, RetSubmit) and done.actual_length == 3
    assert answer == RetUnlink(unlink, 0)


def test_a_client_vanishing_mid_transfer_frees_the_device(machine: System, run: Run,
                                                          connect: Connect) -> None:
    pen(machine)

    async def scenario() -> tuple[Any, Any]:
        server, peer = await imported(machine, connect)
        try:
            peer.submit(0, Direction.OUT, 0, setup=SET_PEN_CONFIG)
            await peer.recv()
            peer.submit(2, Direction.IN, 512)          # in flight when the client goes
            await asyncio.sleep(0.05)
            peer.close()
            while machine.vfs.read_text(f"{DEV}/usbip_status") != "1\n":
                await asyncio.sleep(0.02)
            again = await connect(server.port)
            await again.import_device("1-1")
            again.submit(1, Direction.OUT, 4, data=b"next")
            again.submit(2, Direction.IN, 512)
            return await again.recv(), await again.recv()
        finally:
            await server.close()

    written, read = run(scenario())
    assert written.actual_length == 4 and bytes(read.data) == b"next"
    lines = machine.log.lines()
    gone = lines.index("usbip-host 1-1: recv a header, 0")
    assert lines[gone + 1:gone + 3] == [
        "usbip-host 1-1: stopped by a call to usb_kill_urb() because of cleaning up a "
        "virtual connection",
        "usbip-host 1-1: reset high-speed USB device number 2 using ehci-pci"]
    assert "usbip-host 1-1: device reset" in lines[gone:]


def test_unplugging_an_exported_device_ends_its_urbs_and_connection(
        machine: System, run: Run, connect: Connect) -> None:
    pen(machine)

    async def scenario() -> tuple[Any, bool]:
        server, peer = await imported(machine, connect)
        try:
            peer.submit(0, Direction.OUT, 0, setup=SET_PEN_CONFIG)
            await peer.recv()
            peer.submit(2, Direction.IN, 512)
            await asyncio.sleep(0.05)
            machine.unplug("1-1")
            return await peer.recv(), await peer.eof()
        finally:
            await server.close()

    answer, closed = run(scenario())
    assert isinstance(answer, RetSubmit) and answer.status == -Errno.EPROTO
    assert closed
    lines = machine.log.lines()
    assert "usbip-host 1-1: urb completion with non-zero status -71" in lines
    assert lines.index("usbip-host 1-1: USB disconnect, device number 2") > \
        lines.index("usbip-host 1-1: urb completion with non-zero status -71")


def test_a_request_for_another_device_ends_the_connection(machine: System, run: Run,
                                                          connect: Connect) -> None:
    zero(machine)

    async def scenario() -> bool:
        server, peer = await imported(machine, connect)
        try:
            peer.devid += 1
            peer.submit(0, Direction.OUT, 0, setup=SET_LOOPBACK)
            return await peer.eof()
        finally:
            await server.close()

    assert run(scenario())
    assert "usbip-host 1-1: recv invalid request" in machine.log.lines()


def test_a_protocol_error_ends_only_that_connection(machine: System, run: Run,
                                                    connect: Connect) -> None:
    machine.plug(GadgetZero(), "1-1")
    machine.plug(GadgetZero(), "1-2")
    machine.settle()

    async def scenario() -> tuple[bool, Any]:
        server = await UsbipServer.start(machine, ["1-1", "1-2"], port=0)
        try:
            bad = await connect(server.port)
            await bad.import_device("1-1")
            good = await connect(server.port)
            await good.import_device("1-2")
            bad.send_raw(b"\x00\x00\x00\x03" + bytes(44))     # a RET_SUBMIT from a client
            closed = await bad.eof()
            good.submit(0, Direction.OUT, 0, setup=SET_LOOPBACK)
            return closed, await good.recv()
        finally:
            await server.close()

    closed, answer = run(scenario())
    assert closed and isinstance(answer, RetSubmit) and answer.status == 0
    assert "usbip-host 1-1: unexpected command RET_SUBMIT" in machine.log.lines()


def test_a_command_for_a_missing_endpoint_is_dropped(machine: System, run: Run,
                                                     connect: Connect) -> None:
    zero(machine)

    async def scenario() -> tuple[Any, Any]:
        server, peer = await imported(machine, connect)
        try:
            lost = peer.submit(5, Direction.IN, 64)     # unconfigured: no endpoint 5
            peer.submit(0, Direction.OUT, 0, setup=SET_LOOPBACK)
            answer = await peer.recv()
            unlink = peer.unlink(lost)
            return answer, (unlink, await peer.recv())
        finally:
            await server.close()

    answer, (unlink, unlinked) = run(scenario())
    assert isinstance(answer, RetSubmit) and answer.seqnum == 2
    assert unlinked == RetUnlink(unlink, 0)
    assert "usbip-host 1-1: CMD_SUBMIT: invalid epnum 5" in machine.log.lines()


def test_a_refused_submission_ends_the_connection(machine: System, run: Run,
                                                  connect: Connect) -> None:
    zero(machine)
    bad_length = bytes(SetupPacket(0x80, 0x06, 0x0100, 0, 18))  # wLength 18, buffer 4

    async def scenario() -> bool:
        server, peer = await imported(machine, connect)
        try:
            peer.submit(0, Direction.IN, 4, setup=bad_length)
            return await peer.eof()
        finally:
            await server.close()

    assert run(scenario())
    assert f"usbip-host 1-1: submit_urb error, {-Errno.EBADR}" in machine.log.lines()


def test_stub_down_closes_the_connection_and_resets(machine: System, run: Run,
                                                    connect: Connect) -> None:
    zero(machine)

    async def scenario() -> tuple[bool, str]:
        server, peer = await imported(machine, connect)
        try:
            await machine.vfs.write(f"{DEV}/usbip_sockfd", "-1\n")
            closed = await peer.eof()
            while machine.vfs.read_text(f"{DEV}/usbip_status") != "1\n":
                await asyncio.sleep(0.02)
            return closed, machine.vfs.read_text(f"{DEV}/usbip_status")
        finally:
            await server.close()

    closed, state = run(scenario())
    assert closed and state == "1\n"
    lines = machine.log.lines()
    assert lines.index("usbip-host 1-1: stub down") < lines.index("usbip-host 1-1: device reset")


def test_isochronous_in_returns_the_packets_back_to_back(machine: System, run: Run,
                                                         connect: Connect) -> None:
    zero(machine)
    source_sink = bytes(SetupPacket(0x00, 0x09, 3))
    alt_iso = bytes(SetupPacket(0x01, 0x0B, 1, 0))
    packets = tuple(IsoPacket(i * 1024, 1024) for i in range(3))

    async def scenario() -> Any:
        server, peer = await imported(machine, connect)
        try:
            for setup in (source_sink, alt_iso):
                peer.submit(0, Direction.OUT, 0, setup=setup)
                await peer.recv()
            peer.submit(3, Direction.IN, 3 * 1024, packets=3, iso=packets, interval=8,
                        flags=int(UrbFlag.ISO_ASAP))
            return await peer.recv()
        finally:
            await server.close()

    answer = run(scenario())
    assert isinstance(answer, RetSubmit) and answer.status == 0
    assert answer.number_of_packets == 3 and len(answer.iso) == 3
    assert sum(p.actual_length for p in answer.iso) == answer.actual_length
    assert len(answer.data) == answer.actual_length > 0


def test_an_import_after_the_connection_went_is_ok(machine: System, run: Run,
                                                   connect: Connect) -> None:
    zero(machine)

    async def scenario() -> tuple[Any, Any]:
        server, peer = await imported(machine, connect)
        try:
            busy = await (await connect(server.port)).request(OpReqImport("1-1"))
            peer.close()
            while machine.vfs.read_text(f"{DEV}/usbip_status") != "1\n":
                await asyncio.sleep(0.02)
            return busy, await (await connect(server.port)).request(OpReqImport("1-1"))
        finally:
            await server.close()

    busy, ok = run(scenario())
    assert busy == OpRepImport(OpStatus.DEV_BUSY)
    assert isinstance(ok, OpRepImport) and ok.status == OpStatus.OK
    assert not isinstance(ok, ConnectionClosed)


def test_urbs_in_flight_are_bounded(machine: System, run: Run, connect: Connect) -> None:
    drive = PenDrive()              # its IN NAKs while nothing is stored: URBs stay queued
    machine.plug(drive, "1-1")
    machine.settle()

    async def scenario() -> tuple[int, int, bool, RetSubmit, set[int], list[int]]:
        server, peer = await imported(machine, connect)
        stub = machine.modules.get("usbip_host").pymodule    # type: ignore[union-attr]
        stub.MAX_INFLIGHT_BYTES = 256 << 10
        try:
            peer.submit(0, Direction.OUT, 0, setup=SET_PEN_CONFIG)
            await peer.recv()
            ins = [peer.submit(2, Direction.IN, 64 << 10) for _ in range(64)]  # one write
            peer.submit(1, Direction.OUT, 1, data=b"x")
            try:                                  # the OUT behind them is not read
                await peer.recv(0.3)
            except TimeoutError:
                silent = True
            else:
                silent = False
            sdev = udev_of(machine).driver_data
            bounded = sdev.inflight, len(sdev.priv_init)
            # The first IN gets data: its completion makes room, and reading goes on.
            drive.storage_write(memoryview(bytes(64 << 10)))
            endpoint = drive.endpoint(0x82)
            assert endpoint is not None
            endpoint.notify_ready()
            answer = await peer.recv()
            assert isinstance(answer, RetSubmit)
            return (*bounded, silent, answer, {priv.seqnum for priv in sdev.priv_init}, ins)
        finally:
            await server.close()

    inflight, queued, silent, answer, waiting, ins = run(scenario())
    assert inflight <= (256 << 10) + (64 << 10)
    assert queued == inflight // (64 << 10)
    assert silent
    assert (answer.seqnum, answer.status, answer.actual_length) == (ins[0], 0, 64 << 10)
    assert waiting == set(ins[1:queued + 1])   # one more IN was read in its place


def test_an_sg_transfer_of_no_length_makes_the_device_unusable(
        machine: System, run: Run, connect: Connect) -> None:
    zero(machine)

    async def scenario() -> tuple[bool, str]:
        server, peer = await imported(machine, connect)
        try:
            peer.submit(0, Direction.OUT, 0, flags=0x40000)     # URB_DMA_MAP_SG, no buffer
            closed = await peer.eof()
            while machine.vfs.read_text(f"{DEV}/usbip_status") == "2\n":
                await asyncio.sleep(0.02)
            return closed, machine.vfs.read_text(f"{DEV}/usbip_status")
        finally:
            await server.close()

    closed, state = run(scenario())
    assert closed and state == "3\n"
    lines = machine.log.lines()
    assert "usbip-host 1-1: sg buffer with zero length" in lines
    assert "usbip-host 1-1: device reset" not in lines
