"""The pyusb backend (bridges/pyusb_backend.py): unmodified pyusb calls — find, descriptors,
strings, configuration, bulk / interrupt / control / isochronous loopback against gadget
zero, halt and clear-halt, timeouts, the detach-kernel-driver flow against pen_driver —
in-process on virtual time, then the same program through `usbemu serve --pyusb` in
another process, and an unmodified script that only has USBEMU_PYUSB set."""

from __future__ import annotations

import array
import asyncio
import errno
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import usb.control
import usb.core
import usb.util
from click.testing import CliRunner

from usbemu.bridges.pyusb_backend import (
    LIBUSB_ERROR_BUSY,
    LIBUSB_ERROR_IO,
    LIBUSB_ERROR_NOT_FOUND,
    LIBUSB_ERROR_PIPE,
    LIBUSB_ERROR_TIMEOUT,
    DeviceRef,
    LocalTransport,
    TransportLost,
    UsbemuBackend,
    get_backend,
    libusb_error,
    parent_name,
    parse_configuration,
)
from usbemu.bridges.pyusb_rpc import Decoder, ProtocolError, Value, encode
from usbemu.bridges.pyusb_service import DeviceInfo, check_call, serve_pyusb
from usbemu.cli.main import main
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.zero import GadgetZero
from usbemu.system import System
from usbemu.testing import blacklist

ROOT = Path(__file__).resolve().parents[2]
ZERO = {"idVendor": 0x0525, "idProduct": 0xA4A0}


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller("inproc")
        blacklist(machine, "usb_storage", "uas", "usbtest")
        yield machine


@pytest.fixture
def backend(system: System) -> UsbemuBackend:
    system.plug(GadgetZero(), "1-1")
    system.settle()
    return UsbemuBackend(system)


@pytest.fixture
def dev(backend: UsbemuBackend) -> usb.core.Device:
    found = usb.core.find(backend=backend, **ZERO)
    assert found is not None
    found.set_configuration(2)
    return found


# -- the program the in-process, socket and environment tests all run ------------------------

PROGRAM = """
import usb.core, usb.util

def detach(dev):
    if dev.is_kernel_driver_active(0):   # usbtest, which udev loads for gadget zero
        dev.detach_kernel_driver(0)

def loopback(dev):
    detach(dev)
    dev.set_configuration(2)
    detach(dev)                          # it binds the new configuration's interface too
    cfg = dev.get_active_configuration()
    intf = cfg[(0, 0)]
    out = usb.util.find_descriptor(intf, custom_match=lambda e: usb.util.endpoint_direction(
        e.bEndpointAddress) == usb.util.ENDPOINT_OUT)
    inn = usb.util.find_descriptor(intf, custom_match=lambda e: usb.util.endpoint_direction(
        e.bEndpointAddress) == usb.util.ENDPOINT_IN)
    payload = bytes(range(256)) * 16
    assert out.write(payload) == len(payload)
    got = bytes(inn.read(4096))
    assert got == payload, got[:16]
    return (usb.util.get_string(dev, dev.iProduct), cfg.bConfigurationValue,
            hex(out.bEndpointAddress), hex(inn.bEndpointAddress), len(got))
"""


def run_program(backend: UsbemuBackend | None) -> tuple[object, ...]:
    space: dict[str, object] = {}
    exec(PROGRAM, space)
    dev = usb.core.find(backend=backend, **ZERO)
    assert dev is not None
    result = space["loopback"](dev)  # type: ignore[operator]
    usb.util.dispose_resources(dev)
    assert isinstance(result, tuple)
    return result


EXPECTED = ("Gadget Zero", 2, "0x2", "0x81", 4096)


def test_the_program_in_process(backend: UsbemuBackend) -> None:
    assert run_program(backend) == EXPECTED


# -- enumeration and descriptors ---------------------------------------------------------------


def test_find_by_ids_and_by_class(backend: UsbemuBackend) -> None:
    everything = list(usb.core.find(find_all=True, backend=backend))
    assert [(d.bus, d.address) for d in everything] == [(1, 1), (1, 2)]
    hubs = list(usb.core.find(find_all=True, backend=backend, bDeviceClass=usb.CLASS_HUB))
    assert [(h.idVendor, h.idProduct) for h in hubs] == [(0x1D6B, 0x0002)]

    def vendor_interface(d: usb.core.Device) -> bool:
        return any(usb.util.find_descriptor(cfg, bInterfaceClass=0xFF) is not None
                   for cfg in d)

    found = usb.core.find(backend=backend, custom_match=vendor_interface)
    assert found is not None and (found.idVendor, found.idProduct) == (0x0525, 0xA4A0)
    assert usb.core.find(backend=backend, idVendor=0x1234) is None


def test_device_descriptor_bus_address_ports_speed(backend: UsbemuBackend,
                                                    system: System) -> None:
    dev = usb.core.find(backend=backend, **ZERO)
    assert dev is not None
    udev = system.find_device("1-1")
    assert udev is not None and udev.descriptor is not None
    assert dev.bcdUSB == 0x0200 and dev.bNumConfigurations == 2
    assert dev.bMaxPacketSize0 == udev.descriptor.bMaxPacketSize0
    assert (dev.bus, dev.address, dev.port_number, dev.port_numbers) == (1, 2, 1, (1,))
    assert dev.speed == usb.util.SPEED_HIGH
    root = dev.parent
    assert root is not None and (root.address, root.port_number, root.port_numbers) == (
        1, 0, None)
    assert root.parent is None


def test_configurations_interfaces_endpoints(backend: UsbemuBackend) -> None:
    dev = usb.core.find(backend=backend, **ZERO)
    assert dev is not None
    configs = [cfg.bConfigurationValue for cfg in dev]
    assert configs == [3, 2]
    loop = dev[1]
    assert loop.bNumInterfaces == 1 and loop.extra_descriptors == []
    alts = [(i.bInterfaceNumber, i.bAlternateSetting, i.bNumEndpoints) for i in loop]
    assert alts == [(0, 0, 2), (0, 1, 6)]
    eps = {e.bEndpointAddress: (usb.util.endpoint_type(e.bmAttributes), e.wMaxPacketSize)
           for e in loop[(0, 1)]}
    assert eps[0x85][0] == usb.util.ENDPOINT_TYPE_INTR
    assert eps[0x83] == (usb.util.ENDPOINT_TYPE_ISO, 1024)
    assert eps[0x02] == (usb.util.ENDPOINT_TYPE_BULK, 512)
    with pytest.raises(IndexError):
        backend.get_configuration_descriptor(dev._ctx.dev, 2)


def test_extra_descriptors_follow_libusb() -> None:
    iad = bytes([8, 11, 0, 2, 2, 2, 1, 0])
    cs_intf = bytes([5, 0x24, 0, 0x10, 0x01])
    companion = bytes([6, 0x30, 0, 0, 0, 0])
    raw = (bytes([9, 2, 0, 0, 2, 1, 0, 0x80, 50]) + iad
           + bytes([9, 4, 0, 0, 1, 2, 2, 1, 0]) + cs_intf
           + bytes([7, 5, 0x83, 3, 16, 0, 9]) + companion
           + bytes([9, 4, 1, 0, 2, 10, 0, 0, 0])
           + bytes([9, 5, 0x01, 2, 0, 2, 0, 5, 0x81]) + bytes([7, 5, 0x82, 2, 0, 2, 0])
           + bytes([3, 0x99]))  # runs past the end: ignored, as libusb stops there
    raw = raw[:2] + len(raw).to_bytes(2, "little") + raw[4:]
    cfg = parse_configuration(raw)
    assert cfg.extra_descriptors == list(iad)
    first, second = cfg.interfaces[0][0], cfg.interfaces[1][0]
    assert first.extra_descriptors == list(cs_intf)
    assert first.endpoints[0].extra_descriptors == list(companion)
    assert first.endpoints[0].wMaxPacketSize == 16
    audio = second.endpoints[0]
    assert (audio.bRefresh, audio.bSynchAddress) == (5, 0x81)
    assert [e.bEndpointAddress for e in second.endpoints] == [0x01, 0x82]
    with pytest.raises(ValueError, match="at least 9"):
        parse_configuration(b"\x09\x02")


def test_device_ref_and_parent_names() -> None:
    assert parent_name("usb2") is None
    assert parent_name("2-1") == "usb2"
    assert parent_name("2-1.4.3") == "2-1.4"
    info = DeviceInfo("1-1", 1, 2, "1", "12", b"\x12\x01" + bytes(16))
    assert DeviceInfo.from_wire(info.to_wire()) == info
    assert DeviceRef.from_info(info).descriptor.speed == usb.util.SPEED_FULL
    with pytest.raises(ValueError, match="device descriptor of 2 bytes"):
        DeviceRef.from_info(DeviceInfo("1-1", 1, 2, "1", "12", b"\x12\x01"))


def test_strings(backend: UsbemuBackend, system: System) -> None:
    dev = usb.core.find(backend=backend, **ZERO)
    assert dev is not None
    assert dev.product == "Gadget Zero"
    assert dev.manufacturer.startswith("Linux ")
    assert usb.util.get_langids(dev) == (0x0409,)
    assert usb.util.get_string(dev, dev[1].iConfiguration) == "loop input to output"


# -- configuration and transfers ----------------------------------------------------------------


def test_set_and_get_configuration(backend: UsbemuBackend, system: System) -> None:
    dev = usb.core.find(backend=backend, **ZERO)
    assert dev is not None
    assert dev.get_active_configuration().bConfigurationValue == 3
    dev.set_configuration(2)
    assert dev.get_active_configuration().bConfigurationValue == 2
    udev = system.find_device("1-1")
    assert udev is not None and udev.actconfig is not None and udev.actconfig.value == 2


def test_bulk_loopback_with_short_and_zero_length(dev: usb.core.Device) -> None:
    assert dev.write(0x02, b"abc") == 3
    assert bytes(dev.read(0x81, 512)) == b"abc"
    buf = array.array("B", bytes(600))
    dev.write(0x02, bytes(range(200)))
    assert dev.read(0x81, buf) == 200 and bytes(buf[:200]) == bytes(range(200))


def test_interrupt_loopback(dev: usb.core.Device) -> None:
    dev.set_interface_altsetting(0, 1)
    intf = dev.get_active_configuration()[(0, 1)]
    out = usb.util.find_descriptor(intf, bEndpointAddress=0x06)
    assert usb.util.endpoint_type(out.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
    assert out.write(b"ping") == 4
    assert bytes(dev.read(0x85, 64)) == b"ping"


def test_isochronous_loopback(dev: usb.core.Device) -> None:
    dev.set_interface_altsetting(0, 1)
    assert dev.write(0x04, b"\x11" * 1024 + b"\x22" * 100) == 1124
    got = bytes(dev.read(0x83, 2048))
    assert got == b"\x11" * 1024 + b"\x22" * 100


def test_control_loopback_in_source_sink(backend: UsbemuBackend) -> None:
    dev = usb.core.find(backend=backend, **ZERO)
    assert dev is not None
    dev.set_configuration(3)
    assert dev.ctrl_transfer(0x40, 0x5B, 0, 0, b"control data") == 12
    assert bytes(dev.ctrl_transfer(0xC0, 0x5C, 0, 0, 12)) == b"control data"
    assert usb.control.get_status(dev) in (0, 1)


def test_halt_gives_epipe_until_clear_halt(dev: usb.core.Device) -> None:
    ep = usb.util.find_descriptor(dev.get_active_configuration()[(0, 0)],
                                  bEndpointAddress=0x81)
    usb.control.set_feature(dev, usb.control.ENDPOINT_HALT, ep)
    assert usb.control.get_status(dev, ep) == 1
    with pytest.raises(usb.core.USBError) as info:
        dev.read(0x81, 512, timeout=100)
    assert info.value.errno == errno.EPIPE
    assert info.value.backend_error_code == LIBUSB_ERROR_PIPE
    assert not isinstance(info.value, usb.core.USBTimeoutError)
    dev.clear_halt(0x81)
    assert usb.control.get_status(dev, ep) == 0
    dev.write(0x02, b"after")
    assert bytes(dev.read(0x81, 512)) == b"after"


def test_timeout_is_usbtimeouterror(dev: usb.core.Device, system: System) -> None:
    start = system.time()
    with pytest.raises(usb.core.USBTimeoutError) as info:
        dev.read(0x81, 512, timeout=250)
    assert info.value.errno == errno.ETIMEDOUT
    assert info.value.backend_error_code == LIBUSB_ERROR_TIMEOUT
    assert system.time() - start == pytest.approx(0.25, abs=0.01)


def test_errors_map_as_libusb1_does(dev: usb.core.Device) -> None:
    with pytest.raises(usb.core.USBError) as info:
        dev.ctrl_transfer(0xC0, 0x5C, 0, 0, 4)      # not in the loopback configuration
    assert info.value.errno == errno.EPIPE
    error = libusb_error(LIBUSB_ERROR_NOT_FOUND)
    assert (str(error), error.errno) == ("[Errno 2] Entity not found", errno.ENOENT)


def test_reset_and_unplug(dev: usb.core.Device, system: System) -> None:
    dev.reset()
    assert any("reset high-speed USB device number 2" in line for line in system.log.lines())
    system.unplug("1-1")
    system.settle()
    with pytest.raises(usb.core.USBError) as info:
        dev.write(0x02, b"x")
    assert info.value.errno == errno.ENODEV


def test_a_call_from_the_machines_own_loop_is_refused(backend: UsbemuBackend,
                                                     system: System) -> None:
    async def inside() -> None:
        backend.enumerate_devices()

    with pytest.raises(RuntimeError, match="own loop"):
        system.run(inside())


def test_calls_after_shutdown(backend: UsbemuBackend, system: System) -> None:
    dev = usb.core.find(backend=backend, **ZERO)
    assert dev is not None
    dev.set_configuration(2)
    usb.util.claim_interface(dev, 0)
    system.close()
    usb.util.dispose_resources(dev)   # releases and closes without complaint
    with pytest.raises(usb.core.USBError) as info:
        backend.enumerate_devices()
    assert info.value.errno == errno.ENODEV


def test_constructor_arguments() -> None:
    with pytest.raises(TypeError, match="takes a System"):
        UsbemuBackend()
    assert get_backend("") is None
    assert get_backend("/nonexistent/usbemu.sock") is None


# -- detaching a kernel driver -----------------------------------------------------------------


def test_detach_kernel_driver_flow(system: System) -> None:
    system.insmod("pen_driver")
    system.plug(PenDrive(), "1-1")
    system.settle()
    dev = usb.core.find(backend=UsbemuBackend(system), idVendor=PenDrive().descriptor.idVendor)
    assert dev is not None
    assert dev.is_kernel_driver_active(0)
    with pytest.raises(usb.core.USBError) as info:
        usb.util.claim_interface(dev, 0)
    assert (info.value.errno, info.value.backend_error_code) == (errno.EBUSY,
                                                                 LIBUSB_ERROR_BUSY)
    dev.detach_kernel_driver(0)
    assert not dev.is_kernel_driver_active(0)
    assert not system.vfs.exists("/dev/pen0")
    with pytest.raises(usb.core.USBError) as info:
        dev.detach_kernel_driver(0)
    assert info.value.backend_error_code == LIBUSB_ERROR_NOT_FOUND
    usb.util.claim_interface(dev, 0)
    assert not dev.is_kernel_driver_active(0)        # usbfs holds it: no kernel driver
    with pytest.raises(usb.core.USBError) as info:
        dev.detach_kernel_driver(0)
    assert info.value.backend_error_code == LIBUSB_ERROR_NOT_FOUND
    usb.util.release_interface(dev, 0)
    dev.attach_kernel_driver(0)
    assert dev.is_kernel_driver_active(0)
    assert system.vfs.exists("/dev/pen0")


# -- another process ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sock = str(tmp_path_factory.mktemp("pyusb") / "usbemu.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "usbemu", "serve", "--plug", "zero", "--pyusb", sock],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"pyusb → {sock}", proc.stderr.read() if proc.stderr else ""
        yield sock
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert not os.path.exists(sock)


@pytest.mark.hang_guard_s(60)
def test_the_program_through_the_socket(served: str) -> None:
    backend = UsbemuBackend.connect(served)
    try:
        assert run_program(backend) == EXPECTED
        dev = usb.core.find(backend=backend, **ZERO)
        assert dev is not None and dev.port_numbers == (1,)
        with pytest.raises(usb.core.USBTimeoutError):
            dev.read(0x81, 512, timeout=20)
    finally:
        backend.close()


SCRIPT = """\
import usb.core, usb.util
dev = usb.core.find(idVendor=0x0525, idProduct=0xa4a0)
if dev.is_kernel_driver_active(0):     # usbtest, which udev loads for gadget zero
    dev.detach_kernel_driver(0)
dev.set_configuration(2)
if dev.is_kernel_driver_active(0):     # ... and which binds the new configuration too
    dev.detach_kernel_driver(0)
dev.write(0x02, b"unmodified")
print(usb.util.get_string(dev, dev.iProduct), bytes(dev.read(0x81, 64)).decode())
"""


@pytest.mark.hang_guard_s(60)
def test_an_unmodified_script_with_only_the_variable(served: str, tmp_path: Path) -> None:
    """The .pth file the wheel installs, processed as site-packages' are."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "usbemu_pyusb.pth").write_text((ROOT / "src" / "usbemu_pyusb.pth").read_text())
    boot = textwrap.dedent(f"""
        import site, runpy, sys
        site.addsitedir({str(site_dir)!r})
        sys.argv = [{str(script)!r}]
        runpy.run_path({str(script)!r}, run_name="__main__")
    """)
    env = {**os.environ, "USBEMU_PYUSB": served}
    done = subprocess.run([sys.executable, "-c", boot], env=env, capture_output=True,
                          text=True, timeout=50)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Gadget Zero unmodified\n"
    env.pop("USBEMU_PYUSB")
    check = "import sys; print('usb' in sys.modules, 'usbemu' in sys.modules)"
    quiet = subprocess.run([sys.executable, "-c", f"import site; site.addsitedir("
                            f"{str(site_dir)!r}); {check}"], env=env, capture_output=True,
                           text=True, timeout=50)
    assert quiet.stdout == "False False\n", quiet.stderr


def test_the_hook_needs_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from usbemu.bridges import pyusb_hook

    monkeypatch.delenv("USBEMU_PYUSB", raising=False)
    assert not pyusb_hook.install()
    original = usb.core.find
    monkeypatch.setenv("USBEMU_PYUSB", "/nonexistent/usbemu.sock")
    monkeypatch.setattr(usb.core, "find", original)
    monkeypatch.setattr(pyusb_hook, "_backend", [])
    assert pyusb_hook.install() and pyusb_hook.install()
    assert usb.core.find is not original and usb.core.find.__wrapped__ is original
    with pytest.raises(usb.core.NoBackendError, match="USBEMU_PYUSB=/nonexistent"):
        usb.core.find()


@pytest.mark.parametrize("frame", [
    b"\x00\x00\x00\x01Z",
    encode(["no_such_call"]),
    encode(["bulk", "1", 2, b"", 0]),
    encode([7]),
])
def test_the_server_refuses_a_hostile_peer(served: str, frame: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
        peer.settimeout(20)
        peer.connect(served)
        peer.sendall(frame)
        data = b""
        while chunk := peer.recv(4096):
            data += chunk
    [reply] = Decoder().feed(data)
    assert reply[:2] == ["err", errno.EPROTO]
    backend = UsbemuBackend.connect(served)
    try:
        assert run_program(backend) == EXPECTED   # the machine serves on
    finally:
        backend.close()


def test_a_lost_server_is_no_device(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen()
        backend = UsbemuBackend.connect(path)
        conn, _ = listener.accept()
        conn.close()
        with pytest.raises(usb.core.USBError) as info:
            backend.enumerate_devices()
    assert info.value.errno == errno.ENODEV
    assert isinstance(info.value.__cause__, TransportLost)


def test_a_machine_run_by_another_thread(backend: UsbemuBackend, system: System) -> None:
    """While a thread runs the machine's loop, calls go through System.call."""
    thread = threading.Thread(target=system.loop.run_forever)
    thread.start()
    try:
        assert run_program(backend) == EXPECTED
    finally:
        system.loop.call_soon_threadsafe(system.loop.stop)
        thread.join(20)
    assert not system.loop.is_running()


def test_serve_pyusb_on_the_command_line(tmp_path: Path) -> None:
    sock = tmp_path / "u.sock"
    result = CliRunner().invoke(main, ["serve", "--pyusb", str(sock),
                                       "--for", "0.05"])
    assert (result.exit_code, result.output) == (0, f"pyusb → {sock}\n")
    assert not sock.exists()
    missing = tmp_path / "no" / "u.sock"
    result = CliRunner().invoke(main, ["serve", "--pyusb", str(missing)])
    assert (result.exit_code, result.output) == (
        2, f"usbemu: error: --pyusb {missing}: No such file or directory\n")


def test_serve_pyusb_replaces_a_stale_socket_only(system: System, tmp_path: Path) -> None:
    path = str(tmp_path / "u.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()                          # the file stays, nobody listens

    async def scenario() -> int:
        server = await serve_pyusb(system, path)
        try:
            with pytest.raises(OSError) as info:
                await serve_pyusb(system, path)
            return info.value.errno or 0
        finally:
            await server.close()

    assert system.run(scenario()) == errno.EADDRINUSE
    assert not os.path.exists(path)


def test_closing_the_server_hangs_up_on_its_clients(system: System, tmp_path: Path) -> None:
    path = str(tmp_path / "u.sock")
    errors: list[dict[str, object]] = []
    system.loop.set_exception_handler(lambda loop, context: errors.append(context))

    async def scenario() -> tuple[bytes, int]:
        server = await serve_pyusb(system, path)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(encode(["enumerate"]))
        await reader.read(1 << 16)                       # its answer: the client is served
        await server.close()                             # with the client still connected
        rest = await reader.read(1 << 16)
        writer.close()
        return rest, len(server.clients)

    assert system.run(scenario()) == (b"", 0)            # hung up on, nothing left serving
    assert errors == []


def test_a_second_thread_while_one_drives_the_machine(backend: UsbemuBackend) -> None:
    transport = backend.transport
    assert isinstance(transport, LocalTransport)
    holder = threading.Thread(target=transport.driving.acquire)
    holder.start()
    holder.join()
    try:
        with pytest.raises(RuntimeError, match="run the machine's loop in a thread"):
            backend.enumerate_devices()
    finally:
        transport.driving.release()
    assert len(backend.enumerate_devices()) == 2


def test_each_call_maps_errno_as_linux_usbfs_does(dev: usb.core.Device,
                                                   backend: UsbemuBackend) -> None:
    handle = dev._ctx.handle

    def code_of(call: Callable[[], object]) -> int:
        with pytest.raises(usb.core.USBError) as info:
            call()
        return int(info.value.backend_error_code)

    assert code_of(lambda: backend.set_configuration(handle, 99)) == LIBUSB_ERROR_NOT_FOUND
    assert code_of(lambda: backend.set_interface_altsetting(handle, 0, 7)) == \
        LIBUSB_ERROR_NOT_FOUND
    assert code_of(lambda: backend.clear_halt(handle, 0x09)) == LIBUSB_ERROR_NOT_FOUND
    assert code_of(lambda: backend.claim_interface(handle, 5)) == LIBUSB_ERROR_NOT_FOUND
    assert code_of(lambda: backend.bulk_write(handle, 0x07, 0, b"x", 100)) == LIBUSB_ERROR_IO
    assert code_of(lambda: backend.attach_kernel_driver(handle, 0)) == LIBUSB_ERROR_BUSY
    backend.release_interface(handle, 0)     # claimed by SETINTERFACE above, as devio does
    assert code_of(lambda: backend.attach_kernel_driver(handle, 0)) == LIBUSB_ERROR_NOT_FOUND


@pytest.mark.parametrize(("message", "error"), [
    ([], "starts with its method name"),
    ([3], "starts with its method name"),
    (["format_disk"], "unknown method 'format_disk'"),
    (["bulk", 1, 2, 3.5, 4], "do not match"),
    (["bulk", 1, True, b"", 4], "do not match"),
    (["open"], "do not match"),
])
def test_calls_off_the_wire_are_checked(message: list[Value], error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        check_call(message)
    assert check_call(["bulk", 1, 0x81, 64, 100]) == ("bulk", [1, 0x81, 64, 100])


@pytest.mark.parametrize("name", ["1-1", "../../../proc/modules", "1-1:2.0", "..", ""])
def test_a_device_name_names_a_device(backend: UsbemuBackend, name: str) -> None:
    if name == "1-1":
        assert DeviceInfo.from_wire(backend.transport.call("device", name)).devnum == 2
        return
    with pytest.raises(OSError) as info:
        backend.transport.call("device", name)
    assert info.value.errno == errno.ENODEV
