"""The usb-serial core (usb-serial.c, bus.c, generic.c) with the generic and tiny drivers:
Linux's messages, the ttyUSB numbering, the sysfs tree, /proc/tty/driver/usbserial, data
both ways through the tty layer, module references while a port is open, hangup on
disconnect and minors freed only at the last close, and converters whose descriptors are
odd.  Everything runs on virtual time.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from usbemu.emulated.device import DeviceModel
from usbemu.emulated.models.serial import (
    EightPortSerialConverter,
    SerialConverter,
    TwoPortSerialConverter,
)
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.printk import Level
from usbemu.kernel.syscalls import SyncFile
from usbemu.kernel.termios import TCSANOW, cfmakeraw, tcgetattr, tcsetattr
from usbemu.spec.ch9 import ClassCode
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.system import System


@pytest.fixture
def system(hcd_kind: str) -> Iterator[System]:
    with System() as machine:
        machine.add_controller(hcd_kind)
        yield machine


def generic_for(system: System, product: int) -> None:
    system.modprobe("usbserial", vendor=0xFFFF, product=product)


def raw(system: System, f: SyncFile) -> None:
    """stty raw -echo on an open tty."""
    termios = system.run(tcgetattr(f.afile))
    cfmakeraw(termios)
    system.run(tcsetattr(f.afile, TCSANOW, termios))


def errno_of(call: object) -> int:
    with pytest.raises(OSError) as info:
        call()  # type: ignore[operator]
    return info.value.errno or 0


def lines_from(system: System, first: str) -> list[str]:
    lines = system.log.lines()
    return lines[lines.index(first):]


# -- binding and messages --------------------------------------------------------------------------


def test_the_two_port_converter_becomes_ttyusb0_and_ttyusb1(system: System) -> None:
    generic_for(system, 0xFFF9)
    assert system.log.lines()[-2:] == [
        "usbcore: registered new interface driver usbserial_generic",
        "usbserial: USB Serial support registered for generic",
    ]
    system.plug(TwoPortSerialConverter(), "1-1")
    system.settle()
    attach = lines_from(system, 'usbserial_generic 1-1:1.0: The "generic" usb-serial driver '
                                "is only for testing and one-off prototypes.")
    assert attach == [
        'usbserial_generic 1-1:1.0: The "generic" usb-serial driver is only for testing and '
        "one-off prototypes.",
        "usbserial_generic 1-1:1.0: Tell linux-usb@vger.kernel.org to add your device to a "
        "proper driver.",
        "usbserial_generic 1-1:1.0: generic converter detected",
        "usb 1-1: generic converter now attached to ttyUSB0",
        "usb 1-1: generic converter now attached to ttyUSB1",
    ]
    assert system.vfs.stat("/dev/ttyUSB0").rdev == (188, 0)
    assert system.vfs.stat("/dev/ttyUSB1").rdev == (188, 1)
    system.unplug("1-1")
    system.settle()
    assert lines_from(system, "usb 1-1: USB disconnect, device number 2") == [
        "usb 1-1: USB disconnect, device number 2",
        "generic ttyUSB0: generic converter now disconnected from ttyUSB0",
        "generic ttyUSB1: generic converter now disconnected from ttyUSB1",
        "usbserial_generic 1-1:1.0: device disconnected",
    ]
    assert not system.vfs.exists("/dev/ttyUSB0")
    assert system.vfs.listdir("/sys/bus/usb-serial/devices") == []
    assert not system.log.lines(Level.ERR)


def test_the_generic_driver_binds_only_its_parameters_ids(system: System) -> None:
    system.modprobe("usbserial")
    system.plug(SerialConverter(), "1-1")
    system.settle()
    intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
    assert intf is not None and intf.driver is None
    assert not system.vfs.exists("/dev/ttyUSB0")
    system.rmmod("usbserial")
    system.modprobe("usbserial", "vendor=0xffff", "product=0xfff8")
    system.settle()
    assert intf.driver is not None and intf.driver.name == "usbserial_generic"
    assert system.vfs.exists("/dev/ttyUSB0")
    # the parameters have no sysfs file, as in Linux (perm 0)
    assert not system.vfs.exists("/sys/module/usbserial/parameters/vendor")


def test_new_id_of_the_generic_serial_driver_binds(system: System) -> None:
    system.modprobe("usbserial")
    system.plug(SerialConverter(), "1-1")
    system.settle()
    drv = "/sys/bus/usb-serial/drivers/generic"
    assert sorted(system.vfs.listdir(drv)) == ["module", "new_id", "uevent"]
    assert system.vfs.readlink(f"{drv}/module") == "../../../../module/usbserial"
    assert not system.vfs.exists("/sys/bus/usb/drivers/usbserial_generic/new_id")
    system.run(system.vfs.write(f"{drv}/new_id", "ffff fff8\n"))
    system.settle()
    assert system.vfs.exists("/dev/ttyUSB0")
    assert system.vfs.read_text(f"{drv}/new_id") == "ffff fff8\n"
    assert "ttyUSB0" in system.vfs.listdir(drv)


def test_the_tiny_driver_binds_its_ids_with_no_other_code(system: System) -> None:
    system.modprobe("usbserial")
    system.insmod("tiny")
    assert "usbserial: USB Serial support registered for Tiny USB serial" in \
        system.log.lines()
    model = SerialConverter()
    system.plug(model, "1-1")
    system.settle()
    assert "tiny 1-1:1.0: Tiny USB serial converter detected" in system.log.lines()
    assert "usb 1-1: Tiny USB serial converter now attached to ttyUSB0" in system.log.lines()
    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f)
        assert f.write(b"tiny") == 4
        system.settle()
        assert model.serial_port(0).received() == b"tiny"
        model.serial_port(0).send(b"back")
        assert f.read(16) == b"back"
    assert errno_of(lambda: system.rmmod("usbserial")) == Errno.EBUSY
    system.rmmod("tiny")
    system.rmmod("usbserial")


# -- sysfs and proc ---------------------------------------------------------------------

INTF = "/sys/devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0"


def test_the_eight_port_converters_sysfs_tree(system: System) -> None:
    generic_for(system, 0xFFFA)
    system.plug(EightPortSerialConverter(), "1-1")
    system.settle()
    names = [f"ttyUSB{n}" for n in range(8)]
    assert system.vfs.listdir("/sys/bus/usb-serial/devices") == sorted(names)
    for n, name in enumerate(names):
        link = f"/sys/bus/usb-serial/devices/{name}"
        assert system.vfs.readlink(link) == \
            f"../../../devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/{name}"
        port = f"{INTF}/{name}"
        assert system.vfs.listdir(port) == ["driver", "port_number", "subsystem", "tty",
                                            "uevent"]
        assert system.vfs.read_text(f"{port}/port_number") == f"{n}\n"
        assert system.vfs.read_text(f"{port}/uevent") == "DRIVER=generic\n"
        assert system.vfs.readlink(f"{port}/driver") == \
            "../../../../../../../bus/usb-serial/drivers/generic"
        assert system.vfs.readlink(f"{port}/subsystem") == "../../../../../../../bus/usb-serial"
        assert system.vfs.listdir(f"{port}/tty") == [name]
        assert system.vfs.read_text(f"{port}/tty/{name}/dev") == f"188:{n}\n"
        assert system.vfs.readlink(f"/sys/class/tty/{name}") == \
            f"../../devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.0/{name}/tty/{name}"
    assert sorted(system.vfs.listdir("/sys/bus/usb-serial/drivers/generic")) == \
        sorted(["module", "new_id", "uevent", *names])


def test_proc_tty_driver_usbserial(system: System) -> None:
    generic_for(system, 0xFFF9)
    system.plug(TwoPortSerialConverter(), "1-2")
    system.settle()
    assert system.vfs.read_text("/proc/tty/driver/usbserial") == (
        "usbserinfo:1.0 driver:2.0\n"
        '0: module:usbserial name:"generic" vendor:ffff product:fff9 num_ports:2 port:0 '
        "path:usb-0000:00:1d.0-2\n"
        '1: module:usbserial name:"generic" vendor:ffff product:fff9 num_ports:2 port:1 '
        "path:usb-0000:00:1d.0-2\n")
    assert "usbserial            /dev/ttyUSB   188 0-511 serial\n" in \
        system.vfs.read_text("/proc/tty/drivers")


# -- numbering ----------------------------------------------------------------------------------

MODELS = (SerialConverter, TwoPortSerialConverter, EightPortSerialConverter)


@pytest.mark.parametrize("seed", range(4))
def test_numbering_matches_linuxs_allocator(system: System, seed: int) -> None:
    """idr_alloc(0..511): each port takes the lowest free minor, in port order; minors
    come back when a converter goes (nothing holds them open)."""
    rng = random.Random(seed)
    system.modprobe("usbserial")
    for product in (0xFFF8, 0xFFF9, 0xFFFA):
        system.run(system.vfs.write("/sys/bus/usb-serial/drivers/generic/new_id",
                                    f"ffff {product:x}"))
    used: dict[str, list[int]] = {}
    for _ in range(12):
        free = [p for p in range(1, 7) if f"1-{p}" not in used]
        if used and (not free or rng.random() < 0.4):
            path = rng.choice(sorted(used))
            system.unplug(path)
            del used[path]
        else:
            path = f"1-{rng.choice(free)}"
            cls = rng.choice(MODELS)
            system.plug(cls(), path)
            taken = {m for ms in used.values() for m in ms}
            count = len(cls().serial_ports)
            used[path] = [m for m in range(512) if m not in taken][:count]
        system.settle()
        expected = sorted(f"ttyUSB{m}" for ms in used.values() for m in ms)
        assert sorted(system.vfs.listdir("/sys/bus/usb-serial/devices")) == expected
        for path, minors in used.items():
            for n, minor in enumerate(minors):
                assert system.vfs.read_text(
                    f"/sys/bus/usb/devices/{path}:1.0/ttyUSB{minor}/port_number") == f"{n}\n"


# -- data through the tty layer ------------------------------------------------------------------


def test_data_both_ways_through_a_loopback_converter(system: System) -> None:
    generic_for(system, 0xFFF8)
    system.plug(SerialConverter(loopback=True), "1-1")
    system.settle()
    data = bytes(random.Random(1).randrange(256) for _ in range(100_000))
    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f)

        async def pump() -> bytes:
            got = bytearray()
            sent = 0
            while len(got) < len(data):
                if sent < len(data):
                    sent += await f.afile.write(data[sent:sent + 8192])
                got += await f.afile.read(65536)
            return bytes(got)

        assert system.run(pump()) == data


def test_rmmod_is_refused_while_a_port_is_open(system: System) -> None:
    generic_for(system, 0xFFF8)
    system.plug(SerialConverter(), "1-1")
    system.settle()
    f = system.open("/dev/ttyUSB0", "rb+")
    with pytest.raises(ModuleError) as info:
        system.rmmod("usbserial")
    assert info.value.errno == Errno.EBUSY
    f.close()
    system.unplug("1-1")
    system.settle()
    system.rmmod("usbserial")
    assert "usb-serial" not in system.driver_core.buses
    assert not system.vfs.exists("/proc/tty/driver/usbserial")


def test_unplug_hangs_up_and_the_minor_waits_for_the_last_close(system: System) -> None:
    generic_for(system, 0xFFF8)
    model = SerialConverter()
    system.plug(model, "1-1")
    system.settle()
    f = system.open("/dev/ttyUSB0", "rb+")
    raw(system, f)
    model.serial_port(0).send(b"before")
    assert f.read(16) == b"before"
    system.unplug("1-1")
    system.settle()
    assert f.read(16) == b""                       # hung up: end of file
    assert errno_of(lambda: f.write(b"x")) == Errno.EIO
    assert not system.vfs.exists("/dev/ttyUSB0")
    # the minor is still held by the open tty: the next converter gets ttyUSB1
    system.plug(SerialConverter(), "1-2")
    system.settle()
    assert system.vfs.listdir("/sys/bus/usb-serial/devices") == ["ttyUSB1"]
    f.close()
    system.plug(SerialConverter(), "1-3")
    system.settle()
    assert system.vfs.listdir("/sys/bus/usb-serial/devices") == ["ttyUSB0", "ttyUSB1"]


def test_a_reader_blocked_at_unplug_gets_end_of_file(system: System) -> None:
    generic_for(system, 0xFFF8)
    system.plug(SerialConverter(), "1-1")
    system.settle()

    async def scenario() -> bytes:
        import asyncio

        f = await system.aopen("/dev/ttyUSB0", "rb+")
        termios = await tcgetattr(f)
        cfmakeraw(termios)
        await tcsetattr(f, TCSANOW, termios)
        reader = asyncio.ensure_future(f.read(16))
        await asyncio.sleep(0.1)
        assert not reader.done()
        system.unplug("1-1")
        got = await reader
        await f.close()
        return got

    assert system.run(scenario()) == b""
    system.settle()
    assert not system.log.lines(Level.ALERT)


# -- converters with odd descriptors ----------------------------------------------------


class Custom(DeviceModel):
    """A vendor-specific converter ffff:fff8 with the endpoints given, in that order."""

    def __init__(self, *endpoints: EndpointDescriptor) -> None:
        super().__init__(DeviceDescriptor(
            idVendor=0xFFFF, idProduct=0xFFF8, bcdDevice=0x0100, bcdUSB=0x0110,
            bMaxPacketSize0=64,
            configurations=(ConfigDescriptor(
                interfaces=(InterfaceDescriptor(ClassCode.VENDOR_SPEC, 0, 0, endpoints),),
                bmAttributes=0x80, bMaxPower=50),)))


def test_a_converter_without_bulk_endpoints_is_refused(system: System) -> None:
    generic_for(system, 0xFFF8)
    system.plug(Custom(EndpointDescriptor.interrupt(0x81, 8, 10)), "1-1")
    system.settle()
    lines = system.log.lines()
    assert "usbserial_generic 1-1:1.0: device has no bulk endpoints" in lines
    assert "usbserial_generic 1-1:1.0: generic converter detected" not in lines
    assert system.vfs.listdir("/sys/bus/usb-serial/devices") == []


def test_endpoints_in_odd_orders_pair_by_position(system: System) -> None:
    """OUT 0x02, OUT 0x01, IN 0x81, IN 0x83, IN 0x84: bulk in i and bulk out i make port
    i; the unpaired IN 0x84 still makes a third port (max of the bulk counts)."""
    generic_for(system, 0xFFF8)
    model = Custom(EndpointDescriptor.bulk(0x02, 64), EndpointDescriptor.bulk(0x01, 64),
                   EndpointDescriptor.bulk(0x81, 64), EndpointDescriptor.bulk(0x83, 64),
                   EndpointDescriptor.bulk(0x84, 64))
    system.plug(model, "1-1")
    system.settle()
    assert system.vfs.listdir("/sys/bus/usb-serial/devices") == \
        ["ttyUSB0", "ttyUSB1", "ttyUSB2"]
    serial = system.find_device("1-1").interface(0).driver_data  # type: ignore[union-attr]
    pairs = [(p.bulk_in_endpointAddress, p.bulk_out_endpointAddress) for p in serial.port]
    assert pairs == [(0x81, 0x02), (0x83, 0x01), (0x84, 0)]


def test_more_ports_than_minors_left(system: System) -> None:
    generic_for(system, 0xFFFA)
    from usbemu.drivers.usb.serial.usb_serial import usb_serial_core_of

    core = usb_serial_core_of(system.usb)
    placeholder = object()
    for minor in range(512 - 4):
        core.minors[minor] = placeholder  # type: ignore[assignment]
    system.plug(EightPortSerialConverter(), "1-1")
    system.settle()
    assert "usbserial_generic 1-1:1.0: No more free serial minor numbers" in \
        system.log.lines()
    assert len(core.minors) == 512 - 4
    intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
    assert intf is not None and intf.driver is None
