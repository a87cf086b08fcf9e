"""hidraw (usbemu.drivers.hid.hidraw) on hid devices added by a fake transport: the node
and its class device, the transport opened by the first file and closed by the last, whole
raw reports read from a per-file ring of 63, blocking and non-blocking reads on virtual
time, poll, writes as output reports (or SET_REPORT), the ioctls, and unplug: a waiting
reader gets -EIO, later calls -ENODEV, and the minor stays taken until the last close."""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import pytest
from usbemu_tests_hid_fakes import (
    MI_DONGLE_MOUSE,
    QEMU_KEYBOARD,
    QEMU_MOUSE,
    VENDOR_DEVICE,
    FakeHidInput,
    FakeTransport,
    add_device,
)

from usbemu.drivers.hid.hid_core import (
    HID_MAX_BUFFER_SIZE,
    HidClaimed,
    HidDevice,
    ReportType,
    hid_core_of,
    hid_destroy_device,
    hid_input_report,
)
from usbemu.drivers.hid.hidraw import (
    HIDIOCGFEATURE,
    HIDIOCGINPUT,
    HIDIOCGRAWINFO,
    HIDIOCGRAWNAME,
    HIDIOCGRAWPHYS,
    HIDIOCGRAWUNIQ,
    HIDIOCGRDESC,
    HIDIOCGRDESCSIZE,
    HIDIOCSFEATURE,
    HIDIOCSOUTPUT,
    HIDRAW_MAX_DEVICES,
)
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.fs import O_NONBLOCK, O_RDWR, ioc
from usbemu.kernel.syscalls import AsyncFile
from usbemu.kernel.wait import Poll
from usbemu.spec.hid import HidRequest
from usbemu.system import System

INPUT, OUTPUT, FEATURE = ReportType.INPUT, ReportType.OUTPUT, ReportType.FEATURE


@pytest.fixture
def machine(generic_machine: System) -> System:
    FakeHidInput().install(generic_machine)
    return generic_machine


def add(system: System, rdesc: bytes, **kwargs: Any) -> tuple[HidDevice, FakeTransport]:
    hid, transport, ret = system.run(add_device(rdesc, **kwargs))
    assert ret == 0
    system.settle()
    return hid, transport


def errno_of(system: System, coro: Any) -> int:
    with pytest.raises(OSError) as info:
        system.run(coro)
    return info.value.errno or 0


# -- the node ----------------------------------------------------------------------------------


def test_node_and_class_device(machine: System) -> None:
    hid, _ = add(machine, QEMU_MOUSE)
    (region,) = [r for r in machine.chrdev.regions() if r.name == "hidraw"]
    assert (region.baseminor, region.minorct) == (0, HIDRAW_MAX_DEVICES)
    assert 234 <= region.major <= 254            # alloc_chrdev_region: a dynamic major
    vfs = machine.vfs
    node = vfs.resolve("/dev/hidraw0")[1]
    assert (node.major, node.minor) == (region.major, 0)  # type: ignore[union-attr]
    assert vfs.readlink("/sys/class/hidraw/hidraw0") == \
        f"../../devices/{hid.name}/hidraw/hidraw0"
    assert vfs.read_text("/sys/class/hidraw/hidraw0/dev") == f"{region.major}:0\n"
    assert vfs.read_text("/sys/class/hidraw/hidraw0/uevent") == (
        f"MAJOR={region.major}\nMINOR=0\nDEVNAME=hidraw0\n")
    assert vfs.readlink("/sys/class/hidraw/hidraw0/device") == f"../../../{hid.name}"
    assert hid.hidraw is not None and hid.hidraw.minor == 0


def test_minors_are_the_lowest_free(machine: System) -> None:
    first, _ = add(machine, QEMU_MOUSE)
    add(machine, QEMU_KEYBOARD)
    assert machine.vfs.listdir("/sys/class/hidraw") == ["hidraw0", "hidraw1"]
    machine.run(hid_destroy_device(first))
    third, _ = add(machine, QEMU_MOUSE)
    assert third.hidraw is not None and third.hidraw.minor == 0
    assert machine.log.lines()[-1].startswith(f"hid-generic {third.name}: input,hidraw0: ")


def test_64_minors_then_none(machine: System) -> None:
    for _ in range(HIDRAW_MAX_DEVICES):
        add(machine, QEMU_MOUSE)
    hid, _ = add(machine, QEMU_MOUSE)
    assert hid.claimed == HidClaimed.INPUT
    assert machine.log.lines()[-1] == (
        f"hid-generic {hid.name}: input: USB HID v1.11 Mouse [QEMU QEMU USB Mouse] on "
        "usb-0000:00:1d.7-1/input0")


# -- open, read, poll ------------------------------------------------------------------------------


def test_first_open_starts_the_transport_last_close_stops_it(machine: System) -> None:
    _, transport = add(machine, QEMU_MOUSE)

    async def two_files() -> None:
        first = await machine.aopen("/dev/hidraw0", "rb")
        second = await machine.aopen("/dev/hidraw0", "rb")
        assert transport.calls[2:] == ["power 0x20", "open"]
        await first.close()
        assert transport.calls[-1] == "open"
        await second.close()

    machine.run(two_files())
    assert transport.calls[2:] == ["power 0x20", "open", "close", "power 0x2"]


def test_an_open_that_fails_gives_its_error(machine: System) -> None:
    _, transport = add(machine, QEMU_MOUSE)
    transport.open_error = -Errno.EIO
    assert errno_of(machine, machine.aopen("/dev/hidraw0", "rb")) == Errno.EIO
    assert transport.calls[-2:] == ["open", "power 0x2"]


def test_reads_return_whole_reports(machine: System) -> None:
    hid, _ = add(machine, MI_DONGLE_MOUSE, vendor=0x2717, product=0x003B)

    async def read() -> list[bytes]:
        async with await machine.aopen("/dev/hidraw0", "rb") as raw:
            hid_input_report(hid, INPUT, bytes((1, 0x01, 0xFF, 0x00)), 4, 1)
            hid_input_report(hid, INPUT, bytes((3, 0x80)), 2, 1)
            hid_input_report(hid, INPUT, bytes((2, 0x01, 0xF8, 0x7F)), 4, 1)
            return [await raw.read(64), await raw.read(1), await raw.read(64)]

    assert machine.run(read()) == [bytes((1, 0x01, 0xFF, 0x00)), b"\x03",
                                   bytes((2, 0x01, 0xF8, 0x7F))]


def test_each_file_has_its_ring_of_63(machine: System) -> None:
    hid, _ = add(machine, QEMU_MOUSE)

    async def overflow() -> tuple[list[bytes], list[bytes]]:
        early = await machine.aopen("/dev/hidraw0", O_RDWR | O_NONBLOCK)
        for n in range(70):
            hid_input_report(hid, INPUT, bytes((0, n, 0, 0)), 4, 1)
        late = await machine.aopen("/dev/hidraw0", O_RDWR | O_NONBLOCK)
        hid_input_report(hid, INPUT, bytes((0, 99, 0, 0)), 4, 1)
        got = []
        while True:
            try:
                got.append(await early.read(8))
            except BlockingIOError:
                break
        return got, [await late.read(8)]

    got, late = machine.run(overflow())
    assert [r[1] for r in got] == list(range(63))
    assert late == [bytes((0, 99, 0, 0))]


def test_nonblocking_and_blocking_reads(machine: System) -> None:
    hid, _ = add(machine, QEMU_MOUSE)

    async def reads() -> tuple[int, bytes, float]:
        async with await machine.aopen("/dev/hidraw0", O_RDWR | O_NONBLOCK) as raw:
            try:
                await raw.read(8)
            except BlockingIOError as exc:
                nonblocking = exc.errno or 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        loop.call_later(0.25, hid_input_report, hid, INPUT, bytes((1, 2, 3, 4)), 4, 1)
        async with await machine.aopen("/dev/hidraw0", "rb") as raw:
            data = await raw.read(8)
        return nonblocking, data, loop.time() - start

    nonblocking, data, waited = machine.run(reads())
    assert nonblocking == Errno.EAGAIN
    assert data == bytes((1, 2, 3, 4)) and waited == pytest.approx(0.25)


def test_poll(machine: System) -> None:
    hid, _ = add(machine, QEMU_MOUSE)

    async def polls() -> list[Poll]:
        async with await machine.aopen("/dev/hidraw0", "rb+") as raw:
            everything = Poll.IN | Poll.OUT | Poll.RDNORM | Poll.WRNORM
            idle = await raw.poll(everything, timeout_ms=0)
            waiting = asyncio.ensure_future(raw.poll(Poll.IN | Poll.RDNORM, timeout_ms=1000))
            await asyncio.sleep(0.1)
            hid_input_report(hid, INPUT, bytes(4), 4, 1)
            return [idle, await waiting]

    assert machine.run(polls()) == [Poll.OUT | Poll.WRNORM, Poll.IN | Poll.RDNORM]


# -- write and ioctls ------------------------------------------------------------------------------


def test_write_sends_an_output_report(machine: System) -> None:
    _, transport = add(machine, QEMU_KEYBOARD)

    async def write() -> int:
        async with await machine.aopen("/dev/hidraw0", "wb") as raw:
            return await raw.write(b"\x00\x02")

    assert machine.run(write()) == 2
    assert transport.outputs == [b"\x00\x02"] and transport.raw_requests == []


def test_write_without_interrupt_output_is_set_report(machine: System) -> None:
    transport = FakeTransport(VENDOR_DEVICE, output_report=False)
    add(machine, VENDOR_DEVICE, transport=transport)

    async def write() -> int:
        async with await machine.aopen("/dev/hidraw0", "wb") as raw:
            return await raw.write(bytes((1, 10, 20, 30, 40)))

    assert machine.run(write()) == 5
    assert transport.raw_requests == [(1, bytes((1, 10, 20, 30, 40)), 5, OUTPUT,
                                       HidRequest.SET_REPORT)]


def test_write_sizes(machine: System) -> None:
    hid, _ = add(machine, QEMU_KEYBOARD)

    async def write(data: bytes) -> Any:
        async with await machine.aopen("/dev/hidraw0", "wb") as raw:
            return await raw.write(data)

    machine.log.clear()
    assert errno_of(machine, write(b"\x00")) == Errno.EINVAL
    assert errno_of(machine, write(bytes(HID_MAX_BUFFER_SIZE + 1))) == Errno.EINVAL
    assert machine.log.lines() == [
        f"hid-generic {hid.name}: pid {os.getpid()} passed too short report",
        f"hid-generic {hid.name}: pid {os.getpid()} passed too large report"]


def test_descriptor_and_info_ioctls(machine: System) -> None:
    add(machine, MI_DONGLE_MOUSE, vendor=0x2717, product=0x803B, name="MI Dongle MI Wireless",
        phys="usb-0000:00:1d.7-1.2/input1", uniq="A1B2")

    async def ioctls() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with await machine.aopen("/dev/hidraw0", "rb") as raw:
            size = bytearray(4)
            await raw.ioctl(HIDIOCGRDESCSIZE, size)
            out["size"] = struct.unpack("<i", size)[0]
            desc = bytearray(4 + 4096)
            desc[:4] = struct.pack("<I", 10)
            await raw.ioctl(HIDIOCGRDESC, desc)
            out["desc"] = bytes(desc[4:14]), bytes(desc[14:20])
            info = bytearray(8)
            await raw.ioctl(HIDIOCGRAWINFO, info)
            out["info"] = struct.unpack("<Ihh", info)
            name = bytearray(64)
            out["name"] = await raw.ioctl(HIDIOCGRAWNAME(64), name), bytes(name[:22])
            short = bytearray(5)
            out["short"] = await raw.ioctl(HIDIOCGRAWNAME(5), short), bytes(short)
            phys = bytearray(64)
            out["phys"] = await raw.ioctl(HIDIOCGRAWPHYS(64), phys), bytes(phys[:28])
            uniq = bytearray(64)
            out["uniq"] = await raw.ioctl(HIDIOCGRAWUNIQ(64), uniq), bytes(uniq[:5])
            desc[:4] = struct.pack("<I", 4096)
            try:
                await raw.ioctl(HIDIOCGRDESC, desc)
            except OSError as exc:
                out["too long"] = exc.errno
        return out

    assert machine.run(ioctls()) == {
        "size": len(MI_DONGLE_MOUSE),
        "desc": (MI_DONGLE_MOUSE[:10], bytes(6)),
        "info": (3, 0x2717, 0x803B - 0x10000),
        "name": (22, b"MI Dongle MI Wireless\0"),
        "short": (5, b"MI Do"),
        "phys": (28, b"usb-0000:00:1d.7-1.2/input1\0"),
        "uniq": (5, b"A1B2\0"),
        "too long": Errno.EINVAL,
    }


def test_report_ioctls(machine: System) -> None:
    _, transport = add(machine, VENDOR_DEVICE, name="Acme Gizmo")
    transport.answers[(FEATURE, 2)] = bytes((2, 0x55, 0x66))
    transport.answers[(INPUT, 1)] = bytes((1, 1, 2, 3, 4))

    async def ioctls() -> list[Any]:
        async with await machine.aopen("/dev/hidraw0", "rb+") as raw:
            sent = await raw.ioctl(HIDIOCSFEATURE(3), bytearray((2, 7, 8)))
            feature = bytearray((2, 0, 0, 0))
            got = await raw.ioctl(HIDIOCGFEATURE(4), feature)
            report = bytearray((1, 0, 0, 0, 0))
            got_input = await raw.ioctl(HIDIOCGINPUT(5), report)
            sent_output = await raw.ioctl(HIDIOCSOUTPUT(5), bytearray((1, 4, 3, 2, 1)))
            return [sent, got, bytes(feature), got_input, bytes(report), sent_output]

    assert machine.run(ioctls()) == [3, 3, bytes((2, 0x55, 0x66, 0)), 5,
                                     bytes((1, 1, 2, 3, 4)), 5]
    assert transport.raw_requests == [
        (2, bytes((2, 7, 8)), 3, FEATURE, HidRequest.SET_REPORT),
        (2, bytes(4), 4, FEATURE, HidRequest.GET_REPORT),
        (1, bytes(5), 5, INPUT, HidRequest.GET_REPORT),
    ]
    # an output report goes on the interrupt channel when the transport has one
    assert transport.outputs == [bytes((1, 4, 3, 2, 1))]


def test_ioctls_hidraw_does_not_know(machine: System) -> None:
    add(machine, QEMU_MOUSE)

    async def refused(cmd: int) -> int:
        async with await machine.aopen("/dev/hidraw0", "rb") as raw:
            try:
                await raw.ioctl(cmd, bytearray(8))
            except OSError as exc:
                return exc.errno or 0
            return 0

    assert machine.run(refused(ioc(2, "Q", 0x04, 8))) == Errno.EINVAL     # not type 'H'
    assert machine.run(refused(ioc(1, "H", 0x04, 8))) == Errno.EINVAL     # not a read
    assert machine.run(refused(ioc(2, "H", 0x30, 8))) == Errno.ENOTTY     # no such read


# -- unplug ----------------------------------------------------------------------------------------


def test_unplug_wakes_readers_and_keeps_the_minor_until_close(machine: System) -> None:
    hid, transport = add(machine, QEMU_MOUSE)
    core = hid_core_of(machine.usb)

    async def unplug() -> dict[str, Any]:
        out: dict[str, Any] = {}
        raw: AsyncFile = await machine.aopen("/dev/hidraw0", "rb+")
        reader = asyncio.ensure_future(raw.read(8))
        await asyncio.sleep(0.01)
        await hid_destroy_device(hid)
        try:
            await reader
        except OSError as exc:
            out["waiting reader"] = exc.errno
        for what, call in (("read", raw.read(8)), ("write", raw.write(b"\x00\x01")),
                           ("ioctl", raw.ioctl(HIDIOCGRDESCSIZE, bytearray(4)))):
            try:
                await call
            except OSError as exc:
                out[what] = exc.errno
        out["poll"] = await raw.poll(Poll.IN, timeout_ms=0)
        out["node"] = machine.vfs.exists("/dev/hidraw0")
        out["minor held"] = core.hidraw.table[0] is not None
        new, _, _ = await add_device(QEMU_MOUSE)
        out["new minor"] = new.hidraw.minor if new.hidraw is not None else None
        await raw.close()
        out["minor freed"] = core.hidraw.table[0] is None
        return out

    assert machine.run(unplug()) == {
        "waiting reader": Errno.EIO, "read": Errno.ENODEV, "write": Errno.ENODEV,
        "ioctl": Errno.ENODEV, "poll": Poll.ERR | Poll.HUP, "node": False,
        "minor held": True, "new minor": 1, "minor freed": True,
    }
    # the device's close happened at unplug; the last file's close adds nothing
    assert transport.calls == ["parse", "start", "power 0x20", "open", "close", "stop"]


def test_an_open_node_holds_the_hid_module(machine: System) -> None:
    add(machine, QEMU_MOUSE)
    raw = machine.open("/dev/hidraw0", "rb")
    machine.rmmod("hid_generic")
    with pytest.raises(ModuleError, match="Module hid is in use"):
        machine.rmmod("hid")
    raw.close()
    machine.rmmod("hid")
