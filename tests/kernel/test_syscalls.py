"""System calls on open files (usbemu.kernel.syscalls, opening device numbers through
char_dev's chrdev_open): the file operations as the system calls reach them (positions,
missing operations, -ENOIOCTLCMD, FIONBIO, restart codes), chrdev_open's -ENXIO and the
module references held by open files, poll on virtual time, revocation of files whose
device is removed, oopses in file operations, and the application API (`System.open` /
`System.aopen`) on device nodes, attributes and directories.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from usbemu.errors import Errno
from usbemu.kernel.devclass import ClassDevice, DeviceClass
from usbemu.kernel.fs import (
    O_NONBLOCK,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    SEEK_CUR,
    SEEK_END,
    File,
    FileOperations,
    Inode,
    Loff,
    copy_from_user,
    copy_to_user,
    default_llseek,
    format_dev,
    io,
    ior,
    iow,
    iowr,
    mkdev,
)
from usbemu.kernel.printk import Level
from usbemu.kernel.syscalls import open_flags
from usbemu.kernel.wait import DEFAULT_POLLMASK, Poll, PollTable, WaitQueueHead, poll_wait
from usbemu.system import System


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


@dataclass
class Owner:
    """A module as the char layer sees it: a reference count, and a flag for "going"."""

    refs: int = 0
    going: bool = False

    def try_module_get(self) -> bool:
        if self.going:
            return False
        self.refs += 1
        return True

    def module_put(self) -> None:
        self.refs -= 1


@dataclass
class Echo:
    """A small char driver: a 64-byte store read and written at the file position, a
    wait queue announcing data, and a log of the calls it got."""

    data: bytearray = field(default_factory=bytearray)
    calls: list[str] = field(default_factory=list)
    wq: WaitQueueHead = field(default_factory=WaitQueueHead)

    async def open(self, inode: Inode, file: File) -> int:
        self.calls.append(f"open {format_dev(inode.i_rdev)} {inode.open_count}")
        file.private_data = self
        return 0

    async def release(self, inode: Inode, file: File) -> int:
        self.calls.append("release")
        return 0

    async def read(self, file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        chunk = self.data[ppos.pos:ppos.pos + count]
        if copy_to_user(buf, chunk, len(chunk)):
            return -Errno.EFAULT
        ppos.pos += len(chunk)
        return len(chunk)

    async def write(self, file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        end = ppos.pos + count
        if end > 64:
            return -Errno.ENOSPC
        if len(self.data) < end:
            self.data.extend(bytes(end - len(self.data)))
        tmp = bytearray(count)
        if copy_from_user(tmp, buf, count):
            return -Errno.EFAULT
        self.data[ppos.pos:end] = tmp
        ppos.pos = end
        self.wq.wake_up()
        return count

    def poll(self, file: File, table: PollTable | None) -> int:
        poll_wait(file, self.wq, table)
        return Poll.OUT | (Poll.IN if self.data else 0)

    async def ioctl(self, file: File, cmd: int, arg: object) -> int:
        if cmd == io("E", 1):
            return len(self.data)
        if cmd == ior("E", 2, 4) and isinstance(arg, bytearray):
            arg[:4] = len(self.data).to_bytes(4, "little")
            return 0
        return -515  # -ENOIOCTLCMD

    def fops(self, owner: Owner | None = None) -> FileOperations:
        return FileOperations(owner=owner, open=self.open, release=self.release,
                              read=self.read, write=self.write, unlocked_ioctl=self.ioctl,
                              poll=self.poll, llseek=default_llseek)


ECHO_MAJOR = 240


def add_echo(system: System, echo: Echo, *, minor: int = 0, name: str = "echo0",
             owner: Owner | None = None) -> ClassDevice:
    """register_chrdev(240, "echo") and a class device with a /dev node."""
    if system.chrdev.lookup(mkdev(ECHO_MAJOR, minor)) is None:
        system.chrdev.register_chrdev(ECHO_MAJOR, "echo", echo.fops(owner))
    cls = system.classes.classes.get("echo") or DeviceClass("echo")
    if "echo" not in system.classes.classes:
        system.classes.class_register(cls)
    return system.run(system.classes.device_create(cls, None, mkdev(ECHO_MAJOR, minor), echo,
                                                   name))


# -- open, read, write, positions -----------------------------------------------------------


def test_open_read_write_follow_the_file_position(system: System) -> None:
    echo = Echo()
    add_echo(system, echo)
    assert system.vfs.stat("/dev/echo0").rdev == (240, 0)
    with system.open("/dev/echo0", "rb+") as f:
        assert f.write(b"hello, ") == 7 and f.write(b"world") == 5
        assert f.tell() == 12
        assert f.seek(0) == 0
        assert f.read(5) == b"hello" and f.read(100) == b", world" and f.read(10) == b""
        assert f.seek(-5, SEEK_CUR) == 7 and f.read(3) == b"wor"
        assert f.seek(0, SEEK_END) == 0  # a device's size is 0
        with pytest.raises(OSError) as info:
            f.seek(-1)
        assert info.value.errno == Errno.EINVAL
        with pytest.raises(OSError) as info:
            f.write(bytes(70))
        assert info.value.errno == Errno.ENOSPC
    assert echo.calls == ["open 240:0 0", "release"]


def test_open_counts_and_release_once_per_file(system: System) -> None:
    echo = Echo()
    add_echo(system, echo)
    first = system.open("/dev/echo0")
    second = system.open("/dev/echo0", "wb")
    inode = system.chrdev.inode(mkdev(240, 0))
    assert inode is not None and inode.open_count == 2
    assert len(system.chrdev.open_files(mkdev(240, 0))) == 2
    first.close()
    first.close()  # closing a closed file does nothing
    assert inode.open_count == 1
    second.close()
    assert system.chrdev.inode(mkdev(240, 0)) is None
    assert echo.calls == ["open 240:0 0", "open 240:0 1", "release", "release"]
    assert system.run(system.chrdev.close(first.afile.file)) == -Errno.EBADF


def test_access_modes(system: System) -> None:
    add_echo(system, Echo())
    with system.open("/dev/echo0", "rb") as ro, system.open("/dev/echo0", "wb") as wo:
        for call in (lambda: ro.write(b"x"), lambda: wo.read(1)):
            with pytest.raises(OSError) as info:
                call()
            assert info.value.errno == Errno.EBADF
    with system.open("/dev/echo0", O_RDWR | O_NONBLOCK) as rw:
        assert rw.afile.file.f_flags & O_NONBLOCK


def test_missing_operations(system: System) -> None:
    system.chrdev.register_chrdev(241, "bare", FileOperations())
    system.devtmpfs.create_node("bare", 241, 0)
    with system.open("/dev/bare", "rb+") as f:
        for call, code in ((lambda: f.read(1), Errno.EINVAL), (lambda: f.write(b"x"), Errno.EINVAL),
                           (lambda: f.ioctl(io("B", 1)), Errno.ENOTTY),
                           (lambda: f.seek(0), Errno.ESPIPE)):
            with pytest.raises(OSError) as info:
                call()
            assert info.value.errno == code
        assert f.poll(timeout_ms=0) == Poll.IN | Poll.OUT  # DEFAULT_POLLMASK, filtered
        assert DEFAULT_POLLMASK == Poll.IN | Poll.OUT | Poll.RDNORM | Poll.WRNORM


def test_ioctl_numbers_and_dispatch(system: System) -> None:
    assert ior("E", 0x01, 4) == 0x80044501  # EVIOCGVERSION
    assert iow("U", 1, 8) == 0x40085501 and iowr("U", 100, 16) == 0xC0105564
    assert io("U", 20) == 0x5514
    with pytest.raises(ValueError):
        io("U", 256)
    add_echo(system, Echo(data=bytearray(b"abc")))
    with system.open("/dev/echo0", "rb") as f:
        assert f.ioctl(io("E", 1)) == 3
        out = bytearray(4)
        assert f.ioctl(ior("E", 2, 4), out) == 0 and out == b"\x03\x00\x00\x00"
        with pytest.raises(OSError) as info:
            f.ioctl(io("E", 9))  # the driver's -ENOIOCTLCMD: -ENOTTY for user space
        assert info.value.errno == Errno.ENOTTY
        assert f.ioctl(0x5421, 1) == 0 and f.afile.file.f_flags & O_NONBLOCK  # FIONBIO
        assert f.ioctl(0x5421, 0) == 0 and not f.afile.file.f_flags & O_NONBLOCK


def test_open_errors(system: System) -> None:
    system.devtmpfs.create_node("nothing", 243, 0)
    with pytest.raises(OSError) as info:
        system.open("/dev/nothing")
    assert info.value.errno == Errno.ENXIO and info.value.filename == "/dev/nothing"
    with pytest.raises(FileNotFoundError):
        system.open("/dev/none")

    calls: list[str] = []

    async def busy(inode: Inode, file: File) -> int:
        calls.append("open")
        return -Errno.EBUSY

    async def release(inode: Inode, file: File) -> int:
        calls.append("release")
        return 0

    owner = Owner()
    system.chrdev.register_chrdev(243, "busy", FileOperations(owner=owner, open=busy,
                                                              release=release))
    with pytest.raises(OSError) as info:
        system.open("/dev/nothing")
    assert info.value.errno == Errno.EBUSY
    assert calls == ["open"] and owner.refs == 0  # no release, references given back
    system.chrdev.unregister_chrdev(243, "busy")
    with pytest.raises(OSError) as info:
        system.open("/dev/nothing")
    assert info.value.errno == Errno.ENXIO


def test_open_files_pin_their_modules(system: System) -> None:
    owner = Owner()
    echo = Echo()
    add_echo(system, echo, owner=owner)
    files = [system.open("/dev/echo0"), system.open("/dev/echo0")]
    assert owner.refs == 4  # the cdev's and the file operations' owner, per file
    files[0].close()
    assert owner.refs == 2
    owner.going = True  # rmmod in progress: no new opens
    with pytest.raises(OSError) as info:
        system.open("/dev/echo0")
    assert info.value.errno == Errno.ENXIO
    files[1].close()
    assert owner.refs == 0


# -- poll -----------------------------------------------------------------------------------


def test_poll_sleeps_on_virtual_time_until_woken_or_timed_out(system: System) -> None:
    echo = Echo()
    add_echo(system, echo)

    async def scenario() -> tuple[Poll, float, Poll, float]:
        loop = asyncio.get_running_loop()
        f = await system.aopen("/dev/echo0", "rb")
        start = loop.time()
        nothing = await f.poll(Poll.IN, timeout_ms=250)
        waited = loop.time() - start

        async def later() -> None:
            await asyncio.sleep(0.04)
            writer = await system.aopen("/dev/echo0", "wb")
            await writer.write(b"!")
            await writer.close()

        task = asyncio.ensure_future(later())
        start = loop.time()
        ready = await f.poll(Poll.IN, timeout_ms=5000)
        woke = loop.time() - start
        await task
        await f.close()
        return nothing, waited, ready, woke

    nothing, waited, ready, woke = system.run(scenario())
    assert nothing == 0 and waited == pytest.approx(0.25)
    assert ready == Poll.IN and woke == pytest.approx(0.04)
    assert not echo.wq.waitqueue_active()


# -- removal, oopses, errors --------------------------------------------------------------------


def test_a_file_on_a_removed_device_gets_enodev_and_still_closes(system: System) -> None:
    echo = Echo(data=bytearray(b"data"))
    classdev = add_echo(system, echo)
    f = system.open("/dev/echo0", "rb+")
    assert f.read(4) == b"data"
    system.run(system.classes.device_destroy(classdev.cls, classdev.devt))
    assert not system.vfs.exists("/dev/echo0")
    assert not system.vfs.exists("/sys/class/echo/echo0")
    for call in (lambda: f.read(4), lambda: f.write(b"x"), lambda: f.ioctl(io("E", 1)),
                 lambda: f.seek(0)):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == Errno.ENODEV
    assert f.poll(timeout_ms=0) == Poll.ERR | Poll.HUP
    f.close()
    assert echo.calls[-1] == "release"


def test_removal_wakes_a_sleeping_poll(system: System) -> None:
    classdev = add_echo(system, Echo())

    async def scenario() -> tuple[Poll, float]:
        loop = asyncio.get_running_loop()
        f = await system.aopen("/dev/echo0", "rb")
        loop.call_later(0.5, lambda: asyncio.ensure_future(
            system.classes.device_destroy(classdev.cls, classdev.devt)))
        start = loop.time()
        mask = await f.poll(Poll.IN)
        await f.close()
        return mask, loop.time() - start

    mask, elapsed = system.run(scenario())
    assert mask == Poll.ERR | Poll.HUP and elapsed == pytest.approx(0.5)


def test_driver_bugs_are_oopses_and_oserrors_are_errnos(system: System) -> None:
    async def buggy_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        raise ZeroDivisionError("driver bug")

    async def failing_write(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        raise OSError(Errno.EPIPE, "halted")

    def wrong_ioctl(file: File, cmd: int, arg: object) -> int:
        return "yes"  # type: ignore[return-value]

    async def interrupted_llseek(file: File, offset: int, whence: int) -> int:
        return -512  # -ERESTARTSYS

    system.chrdev.register_chrdev(245, "buggy", FileOperations(
        read=buggy_read, write=failing_write, unlocked_ioctl=wrong_ioctl,
        llseek=interrupted_llseek))
    system.devtmpfs.create_node("buggy", 245, 0)
    with system.open("/dev/buggy", "rb+") as f:
        for call, code in ((lambda: f.read(1), Errno.EIO), (lambda: f.write(b"x"), Errno.EPIPE),
                           (lambda: f.ioctl(1), Errno.EIO), (lambda: f.seek(0), Errno.EINTR)):
            with pytest.raises(OSError) as info:
                call()
            assert info.value.errno == code
    alerts = system.log.lines(Level.ALERT)
    assert any(line.startswith("BUG: exception in read of /dev/buggy by "
                               "test_driver_bugs_are_oopses_and_oserrors_are_errnos."
                               "<locals>.buggy_read: ZeroDivisionError: driver bug")
               for line in alerts)
    assert any("returned 'yes'" in line for line in alerts)


def test_close_during_a_read_defers_release_until_it_returns(system: System) -> None:
    events: list[str] = []
    gate = WaitQueueHead()
    state = {"open": True}

    async def slow_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
        events.append("read starts")
        await gate.wait_event(lambda: not state["open"])
        events.append("read ends")
        return 0

    async def release(inode: Inode, file: File) -> int:
        events.append("release")
        return 0

    system.chrdev.register_chrdev(246, "slow", FileOperations(read=slow_read, release=release))
    system.devtmpfs.create_node("slow", 246, 0)

    async def scenario() -> None:
        f = await system.aopen("/dev/slow")
        reader = asyncio.ensure_future(f.read(10))
        await asyncio.sleep(0.01)
        await f.close()
        events.append("closed")
        state["open"] = False
        gate.wake_up()
        assert await reader == b""

    system.run(scenario())
    assert events == ["read starts", "closed", "read ends", "release"]


# -- opening paths ---------------------------------------------------------------------------


def test_opening_attributes_and_directories(system: System) -> None:
    cls = DeviceClass("things")
    system.classes.class_register(cls)
    system.run(system.classes.device_create(cls, None, mkdev(248, 1), None, "t1"))
    with system.open("/sys/class/things/t1/dev") as f:
        assert f.read(2) == b"24" and f.read(100) == b"8:1\n" and f.read(10) == b""
        assert f.seek(0) == 0 and f.read(100) == b"248:1\n"
    with system.open("/sys/class/things/t1/uevent", "wb") as f:
        assert f.write(b"change\n") == 7
    with pytest.raises(OSError) as info:
        system.open("/sys/class/things/t1/dev", "wb")
    assert info.value.errno == Errno.EACCES
    with system.open("/sys/class/things") as d, pytest.raises(IsADirectoryError):
        d.read(1)
    with pytest.raises(IsADirectoryError):
        system.open("/sys/class/things", "rb+")
    with pytest.raises(FileExistsError):
        system.open("/sys/class/things/t1/dev", "xb")


@pytest.mark.parametrize(("mode", "flags"), [("r", O_RDONLY), ("rb", O_RDONLY),
                                             ("rb+", O_RDWR), ("r+b", O_RDWR),
                                             ("wb", O_WRONLY | 0o1100), ("ab", O_WRONLY | 0o2100),
                                             (O_RDWR | O_NONBLOCK, O_RDWR | O_NONBLOCK)])
def test_open_modes(mode: str | int, flags: int) -> None:
    assert open_flags(mode) == flags


@pytest.mark.parametrize("mode", ["", "rw", "rt", "rbb", "q", "b+"])
def test_bad_open_modes(mode: str) -> None:
    with pytest.raises(ValueError, match="invalid mode"):
        open_flags(mode)


def test_async_api_inside_the_machine(system: System) -> None:
    add_echo(system, Echo())

    async def app() -> bytes:
        async with await system.aopen("/dev/echo0", "rb+") as f:
            await f.write(b"async")
            await f.seek(0)
            buf = bytearray(8)
            n = await f.readinto(buf)
            assert f.tell() == 5 and not f.closed
        assert f.closed
        return bytes(buf[:n])

    assert system.run(app()) == b"async"
