"""usbfs (core/devio.py): /dev/bus/usb/BBB/DDD read back byte for byte, the USBDEVFS_*
ioctls against gadget zero's loopback configuration and the pen driver, async URBs into
the reap queue, claims and kernel drivers, and a device that goes away under an open
file.  Everything runs on virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from usbemu.core import devio as d
from usbemu.core.usb import UsbDevice
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.zero import GadgetZero
from usbemu.errors import Errno
from usbemu.kernel.syscalls import SyncFile
from usbemu.kernel.wait import Poll
from usbemu.system import System
from usbemu.testing import blacklist


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller("inproc")
        blacklist(machine, "usb_storage", "uas", "usbtest")
        yield machine


@pytest.fixture
def zero(system: System) -> UsbDevice:
    system.plug(GadgetZero(loopdefault=True), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None and udev.actconfig is not None and udev.actconfig.value == 2
    return udev


def node(udev: UsbDevice) -> str:
    return f"/dev/bus/usb/{udev.busnum:03d}/{udev.devnum:03d}"


@pytest.fixture
def usbfs(system: System, zero: UsbDevice) -> Iterator[SyncFile]:
    with system.open(node(zero), "rb+") as f:
        yield f


def driver_name(udev: UsbDevice, ifnum: int = 0) -> str | None:
    intf = udev.interface(ifnum)
    assert intf is not None
    return intf.driver.name if intf.driver is not None else None


def errno_of(f: SyncFile, cmd: int, arg: object = 0) -> int:
    with pytest.raises(OSError) as info:
        f.ioctl(cmd, arg)
    return info.value.errno or 0


def test_ioctl_numbers_are_linux_x86_64() -> None:
    assert d.USBDEVFS_CONTROL == 0xC0185500
    assert d.USBDEVFS_BULK == 0xC0185502
    assert d.USBDEVFS_SUBMITURB == 0x8038550A
    assert d.USBDEVFS_REAPURB == 0x4008550C
    assert d.USBDEVFS_REAPURBNDELAY == 0x4008550D
    assert d.USBDEVFS_CLAIMINTERFACE == 0x8004550F
    assert d.USBDEVFS_GETDRIVER == 0x41045508
    assert d.USBDEVFS_IOCTL == 0xC0105512
    assert d.USBDEVFS_DISCONNECT_CLAIM == 0x8108551B


def test_read_gives_device_then_config_descriptors(usbfs: SyncFile, zero: UsbDevice) -> None:
    data = usbfs.read(4096)
    assert zero.descriptor is not None
    assert data == zero.descriptor.to_bytes() + b"".join(zero.rawdescriptors)
    assert data[:2] == b"\x12\x01"
    assert usbfs.seek(18) == 18
    assert usbfs.read(9) == zero.rawdescriptors[0][:9]


def test_control_get_descriptor_matches_read(usbfs: SyncFile) -> None:
    whole = usbfs.read(4096)
    buf = bytearray(18)
    ctrl = d.CtrlTransfer(0x80, 6, 0x0100, 0, 18, 1000, buf)
    assert usbfs.ioctl(d.USBDEVFS_CONTROL, ctrl) == 18
    assert bytes(buf) == whole[:18]
    total = int.from_bytes(whole[18 + 2:18 + 4], "little")
    cfg = bytearray(total)
    assert usbfs.ioctl(d.USBDEVFS_CONTROL, d.CtrlTransfer(0x80, 6, 0x0200, 0, total, 0,
                                                          cfg)) == total
    assert bytes(cfg) == whole[18:18 + total]


def test_read_only_file_cannot_ioctl(system: System, zero: UsbDevice) -> None:
    with system.open(node(zero)) as f:
        assert errno_of(f, d.USBDEVFS_CLAIMINTERFACE, 0) == Errno.EPERM


def test_bulk_loopback_claims_implicitly_with_warning(system: System, usbfs: SyncFile,
                                                       zero: UsbDevice) -> None:
    payload = bytes(range(200))
    assert usbfs.ioctl(d.USBDEVFS_BULK, d.BulkTransfer(0x02, 200, 1000, payload)) == 200
    assert any(line.startswith("usb 1-1: usbfs: process ") and line.endswith(
        " (python) did not claim interface 0 before use") for line in system.log.lines())
    buf = bytearray(512)
    assert usbfs.ioctl(d.USBDEVFS_BULK, d.BulkTransfer(0x81, 512, 1000, buf)) == 200
    assert bytes(buf[:200]) == payload
    gd = d.GetDriver(0)
    usbfs.ioctl(d.USBDEVFS_GETDRIVER, gd)
    assert gd.driver == "usbfs"


def test_bulk_timeout(usbfs: SyncFile) -> None:
    usbfs.ioctl(d.USBDEVFS_CLAIMINTERFACE, 0)
    assert errno_of(usbfs, d.USBDEVFS_BULK,
                    d.BulkTransfer(0x81, 512, 500, bytearray(512))) == Errno.ETIMEDOUT
    assert errno_of(usbfs, d.USBDEVFS_BULK, d.BulkTransfer(0x07, 1, 0, b"x")) == Errno.ENOENT


def test_getdriver_without_driver_is_enodata(usbfs: SyncFile) -> None:
    assert errno_of(usbfs, d.USBDEVFS_GETDRIVER, d.GetDriver(0)) == Errno.ENODATA


def test_claim_release_and_close(system: System, zero: UsbDevice) -> None:
    f = system.open(node(zero), "rb+")
    f.ioctl(d.USBDEVFS_CLAIMINTERFACE, 0)
    assert driver_name(zero) == "usbfs"
    with system.open(node(zero), "rb+") as other:
        assert errno_of(other, d.USBDEVFS_CLAIMINTERFACE, 0) == Errno.EBUSY
        assert errno_of(other, d.USBDEVFS_RELEASEINTERFACE, 0) == Errno.EINVAL
    assert errno_of(f, d.USBDEVFS_CLAIMINTERFACE, 5) == Errno.ENOENT
    f.ioctl(d.USBDEVFS_RELEASEINTERFACE, 0)
    assert driver_name(zero) is None
    f.ioctl(d.USBDEVFS_CLAIMINTERFACE, 0)
    f.close()
    system.settle()
    assert driver_name(zero) is None


def test_async_submit_and_reap_many(usbfs: SyncFile, zero: UsbDevice) -> None:
    usbfs.ioctl(d.USBDEVFS_CLAIMINTERFACE, 0)
    outs = [d.UsbdevfsUrb(d.UrbType.BULK, 0x02, buffer=bytes([i]) * 64, buffer_length=64,
                          usercontext=i) for i in range(8)]
    ins = [d.UsbdevfsUrb(d.UrbType.BULK, 0x81, buffer=bytearray(512), buffer_length=512,
                         usercontext=100 + i) for i in range(8)]
    for urb in [*outs, *ins]:
        assert usbfs.ioctl(d.USBDEVFS_SUBMITURB, urb) == 0
    reaped = []
    ref = d.UrbRef()
    for _ in range(16):
        usbfs.ioctl(d.USBDEVFS_REAPURB, ref)
        assert ref.urb is not None
        reaped.append(ref.urb)
    assert {id(u) for u in reaped} == {id(u) for u in outs + ins}
    for i, urb in enumerate(ins):
        assert urb.status == 0 and urb.actual_length == 64
        assert urb.buffer is not None and bytes(urb.buffer[:64]) == bytes([i]) * 64
    assert errno_of(usbfs, d.USBDEVFS_REAPURBNDELAY, d.UrbRef()) == Errno.EAGAIN


def test_reapurb_sleeps_until_completion(system: System, zero: UsbDevice) -> None:
    async def scenario() -> tuple[d.UsbdevfsUrb | None, float]:
        f = await system.aopen(node(zero), "rb+")
        urb = d.UsbdevfsUrb(d.UrbType.BULK, 0x81, buffer=bytearray(64), buffer_length=64)
        await f.ioctl(d.USBDEVFS_SUBMITURB, urb)
        ref = d.UrbRef()
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def later() -> None:
            await asyncio.sleep(2)
            await f.ioctl(d.USBDEVFS_BULK, d.BulkTransfer(0x02, 3, 1000, b"abc"))

        task = loop.create_task(later())
        await f.ioctl(d.USBDEVFS_REAPURB, ref)
        await task
        elapsed = loop.time() - start
        await f.close()
        return ref.urb, elapsed

    reaped, elapsed = system.run(scenario())
    assert reaped is not None and reaped.actual_length == 3 and elapsed >= 2
    assert reaped.buffer is not None and bytes(reaped.buffer[:3]) == b"abc"


def test_discard(usbfs: SyncFile) -> None:
    urb = d.UsbdevfsUrb(d.UrbType.BULK, 0x81, buffer=bytearray(64), buffer_length=64)
    usbfs.ioctl(d.USBDEVFS_SUBMITURB, urb)
    assert usbfs.ioctl(d.USBDEVFS_DISCARDURB, urb) == 0
    ref = d.UrbRef()
    usbfs.ioctl(d.USBDEVFS_REAPURBNDELAY, ref)
    assert ref.urb is urb and urb.status == -Errno.ENOENT
    assert errno_of(usbfs, d.USBDEVFS_DISCARDURB, urb) == Errno.EINVAL


def test_submit_checks(usbfs: SyncFile) -> None:
    assert errno_of(usbfs, d.USBDEVFS_SUBMITURB,
                    d.UsbdevfsUrb(d.UrbType.ISO, 0x81, buffer=bytearray(8), buffer_length=8,
                                  number_of_packets=1,
                                  iso_frame_desc=[d.IsoPacketDesc(8)])) == Errno.EINVAL
    assert errno_of(usbfs, d.USBDEVFS_SUBMITURB,
                    d.UsbdevfsUrb(d.UrbType.BULK, 0x81, flags=0x1000)) == Errno.EINVAL
    assert errno_of(usbfs, d.USBDEVFS_SUBMITURB,
                    d.UsbdevfsUrb(d.UrbType.BULK, 0x33)) == Errno.EINVAL


def test_control_urb_get_descriptor(usbfs: SyncFile) -> None:
    setup = bytes([0x80, 6, 0, 1, 0, 0, 18, 0])
    urb = d.UsbdevfsUrb(d.UrbType.CONTROL, 0, buffer=bytearray(setup + bytes(18)),
                        buffer_length=26)
    usbfs.ioctl(d.USBDEVFS_SUBMITURB, urb)
    ref = d.UrbRef()
    usbfs.ioctl(d.USBDEVFS_REAPURB, ref)
    assert ref.urb is urb and urb.actual_length == 18
    assert urb.buffer is not None and bytes(urb.buffer[8:]) == usbfs.read(18)


def test_isochronous_through_altsetting_1(usbfs: SyncFile, zero: UsbDevice) -> None:
    usbfs.ioctl(d.USBDEVFS_SETINTERFACE, d.SetInterface(0, 1))
    intf = zero.interface(0)
    assert intf is not None and intf.cur_altsetting.desc.bAlternateSetting == 1
    out = d.UsbdevfsUrb(d.UrbType.ISO, 0x04, flags=d.UsbdevfsUrbFlag.ISO_ASAP,
                        buffer=b"\x11" * 100 + b"\x22" * 50, buffer_length=150,
                        number_of_packets=2,
                        iso_frame_desc=[d.IsoPacketDesc(100), d.IsoPacketDesc(50)])
    inn = d.UsbdevfsUrb(d.UrbType.ISO, 0x83, flags=d.UsbdevfsUrbFlag.ISO_ASAP,
                        buffer=bytearray(2048), buffer_length=2048, number_of_packets=2,
                        iso_frame_desc=[d.IsoPacketDesc(1024), d.IsoPacketDesc(1024)])
    usbfs.ioctl(d.USBDEVFS_SUBMITURB, out)
    ref = d.UrbRef()
    usbfs.ioctl(d.USBDEVFS_REAPURB, ref)
    assert ref.urb is out and out.status == 0
    assert [p.actual_length for p in out.iso_frame_desc] == [100, 50]
    usbfs.ioctl(d.USBDEVFS_SUBMITURB, inn)
    usbfs.ioctl(d.USBDEVFS_REAPURB, ref)
    assert ref.urb is inn and inn.status == 0
    lengths = [p.actual_length for p in inn.iso_frame_desc]
    assert sum(lengths) == inn.actual_length > 0
    assert inn.buffer is not None and bytes(inn.buffer[:lengths[0]]) == b"\x11" * lengths[0]


def test_setconfiguration(system: System, usbfs: SyncFile, zero: UsbDevice) -> None:
    usbfs.ioctl(d.USBDEVFS_CLAIMINTERFACE, 0)
    assert errno_of(usbfs, d.USBDEVFS_SETCONFIGURATION, 3) == Errno.EBUSY
    assert "usb 1-1: usbfs: interface 0 claimed by usbfs while 'python' sets config #3" \
        in system.log.lines()
    usbfs.ioctl(d.USBDEVFS_RELEASEINTERFACE, 0)
    assert usbfs.ioctl(d.USBDEVFS_SETCONFIGURATION, 3) == 0
    assert zero.actconfig is not None and zero.actconfig.value == 3


def test_clear_halt_and_resetep(usbfs: SyncFile, zero: UsbDevice) -> None:
    assert usbfs.ioctl(d.USBDEVFS_CLEAR_HALT, 0x81) == 0
    assert usbfs.ioctl(d.USBDEVFS_RESETEP, 0x02) == 0
    assert errno_of(usbfs, d.USBDEVFS_CLEAR_HALT, 0x09) == Errno.ENOENT
    assert errno_of(usbfs, d.USBDEVFS_CLEAR_HALT, 0x40) == Errno.EINVAL


def test_reset_connectinfo_capabilities_speed_streams(system: System, usbfs: SyncFile,
                                                       zero: UsbDevice) -> None:
    assert usbfs.ioctl(d.USBDEVFS_RESET) == 0
    assert any("reset high-speed USB device number 2" in line for line in system.log.lines())
    ci = d.ConnectInfo()
    usbfs.ioctl(d.USBDEVFS_CONNECTINFO, ci)
    assert (ci.devnum, ci.slow) == (2, 0)
    caps = bytearray(4)
    usbfs.ioctl(d.USBDEVFS_GET_CAPABILITIES, caps)
    value = int.from_bytes(caps, "little")
    assert value & d.Cap.ZERO_PACKET and value & d.Cap.REAP_AFTER_DISCONNECT
    assert not value & d.Cap.MMAP
    assert usbfs.ioctl(d.USBDEVFS_GET_SPEED) == 3
    assert errno_of(usbfs, d.USBDEVFS_ALLOC_STREAMS, d.Streams(4, [0x81])) == Errno.EINVAL
    assert errno_of(usbfs, d.USBDEVFS_ALLOC_STREAMS, d.Streams(1, [0x81])) == Errno.EINVAL


def test_drop_privileges(usbfs: SyncFile) -> None:
    usbfs.ioctl(d.USBDEVFS_DROP_PRIVILEGES, 0)
    assert errno_of(usbfs, d.USBDEVFS_CLAIMINTERFACE, 0) == Errno.EACCES
    assert errno_of(usbfs, d.USBDEVFS_IOCTL,
                    d.UsbdevfsIoctl(0, d.USBDEVFS_DISCONNECT)) == Errno.EACCES


def test_unplug_gives_enodev(system: System, usbfs: SyncFile, zero: UsbDevice) -> None:
    urb = d.UsbdevfsUrb(d.UrbType.BULK, 0x81, buffer=bytearray(64), buffer_length=64)
    usbfs.ioctl(d.USBDEVFS_SUBMITURB, urb)
    system.unplug("1-1")
    system.settle()
    assert errno_of(usbfs, d.USBDEVFS_CLAIMINTERFACE, 0) == Errno.ENODEV
    assert errno_of(usbfs, d.USBDEVFS_CONNECTINFO, d.ConnectInfo()) == Errno.ENODEV
    with pytest.raises(OSError) as info:
        usbfs.read(18)
    assert info.value.errno == Errno.ENODEV
    assert usbfs.poll(timeout_ms=0) & (Poll.ERR | Poll.HUP) == Poll.ERR | Poll.HUP
    ref = d.UrbRef()
    usbfs.ioctl(d.USBDEVFS_REAPURB, ref)
    assert ref.urb is urb and urb.status < 0
    assert errno_of(usbfs, d.USBDEVFS_REAPURB, d.UrbRef()) == Errno.ENODEV
    assert errno_of(usbfs, d.USBDEVFS_REAPURBNDELAY, d.UrbRef()) == Errno.ENODEV


# -- against a kernel driver ----------------------------------------------------------------


@pytest.fixture
def pen(system: System) -> Iterator[SyncFile]:
    system.insmod("pen_driver")
    system.plug(PenDrive(), "1-1")
    system.settle()
    udev = system.find_device("1-1")
    assert udev is not None
    intf = udev.interface(0)
    assert intf is not None and intf.driver is not None and intf.driver.name == "pen_driver"
    with system.open(node(udev), "rb+") as f:
        yield f


def test_claim_against_kernel_driver_is_ebusy(pen: SyncFile) -> None:
    assert errno_of(pen, d.USBDEVFS_CLAIMINTERFACE, 0) == Errno.EBUSY
    gd = d.GetDriver(0)
    pen.ioctl(d.USBDEVFS_GETDRIVER, gd)
    assert gd.driver == "pen_driver"
    assert errno_of(pen, d.USBDEVFS_BULK, d.BulkTransfer(0x01, 1, 100, b"x")) == Errno.EBUSY


def test_disconnect_claim_connect(system: System, pen: SyncFile) -> None:
    udev = system.find_device("1-1")
    assert udev is not None
    pen.ioctl(d.USBDEVFS_IOCTL, d.UsbdevfsIoctl(0, d.USBDEVFS_DISCONNECT))
    assert driver_name(udev) is None
    assert not system.vfs.exists("/dev/pen0")
    assert errno_of(pen, d.USBDEVFS_IOCTL,
                    d.UsbdevfsIoctl(0, d.USBDEVFS_DISCONNECT)) == Errno.ENODATA
    pen.ioctl(d.USBDEVFS_CLAIMINTERFACE, 0)
    assert errno_of(pen, d.USBDEVFS_IOCTL,
                    d.UsbdevfsIoctl(0, d.USBDEVFS_CONNECT)) == Errno.EBUSY
    pen.ioctl(d.USBDEVFS_RELEASEINTERFACE, 0)
    assert pen.ioctl(d.USBDEVFS_IOCTL, d.UsbdevfsIoctl(0, d.USBDEVFS_CONNECT)) == 1
    assert driver_name(udev) == "pen_driver"
    assert system.vfs.exists("/dev/pen0")


def test_disconnect_claim(system: System, pen: SyncFile) -> None:
    udev = system.find_device("1-1")
    assert udev is not None
    assert errno_of(pen, d.USBDEVFS_DISCONNECT_CLAIM, d.DisconnectClaim(
        0, d.USBDEVFS_DISCONNECT_CLAIM_IF_DRIVER, "usb-storage")) == Errno.EBUSY
    assert pen.ioctl(d.USBDEVFS_DISCONNECT_CLAIM, d.DisconnectClaim(
        0, d.USBDEVFS_DISCONNECT_CLAIM_IF_DRIVER, "pen_driver")) == 0
    assert driver_name(udev) == "usbfs"
