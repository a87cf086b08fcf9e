"""The FUSE bridge, mounted for real: a machine's file tree read and written by ordinary
programs (Python's open, `cat`, `sh -c 'echo … >'`) through the host kernel.

The machine runs on virtual time in its own thread (the bridge's machine thread); every FUSE
request crosses to it through System.call.  Skipped, with the reason, where FUSE cannot be
used (no /dev/fuse, no libfuse, no mfusepy) or the kernel refuses the mount.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.bridges.fuse import FuseMount, FuseUnavailable, mount, unavailable_reason
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno
from usbemu.kernel.fs import File, FileOperations, Inode, Loff, noop_llseek
from usbemu.kernel.vfs import Attr, DevNode, Symlink
from usbemu.system import System

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"FUSE cannot be used: {REASON}")

ECHO_MAJOR = 240  # "local/experimental use" in devices.txt
BLOCK_MAJOR = 242  # a driver whose read never returns
BIG_UNIT = 8  # bytes per counter value in the big attribute
BIG_COUNT = 40_000  # 320 KB: more than one FUSE read request (128 KiB at most)


class Tree:
    """Test nodes mounted into a machine's vfs under /test/fuse, and what they saw."""

    def __init__(self, system: System) -> None:
        self.stored: list[bytes] = []
        self.big_shows = 0

        async def store(data: bytes) -> int:
            self.stored.append(data)
            return len(data)

        async def refuse(data: bytes) -> int:
            return -Errno.EINVAL

        def big() -> bytes:
            self.big_shows += 1
            return f"{self.big_shows:07d}\n".encode() * BIG_COUNT

        vfs = system.vfs
        vfs.mount("/test/fuse/greeting", Attr(show=lambda: "hello\n"))
        vfs.mount("/test/fuse/binary", Attr(show=lambda: b"\x00\x01\xfe\xff", binary=True))
        vfs.mount("/test/fuse/setting", Attr(show=lambda: "on\n", store=store, mode=0o644))
        vfs.mount("/test/fuse/writeonly", Attr(store=refuse, mode=0o200))
        vfs.mount("/test/fuse/big", Attr(show=big))
        vfs.mount("/test/fuse/link", Symlink("greeting"))
        vfs.mount("/test/fuse/absolute", Symlink("/test/fuse/greeting"))
        vfs.mount("/test/fuse/sub/up", Symlink("../setting"))
        vfs.mount("/dev/echo0", DevNode(ECHO_MAJOR, 0, 0o666))
        vfs.mount("/dev/nodriver0", DevNode(ECHO_MAJOR + 1, 0, 0o600))

        # an echo driver: what is written is read back; at most 16 bytes per read
        self.echo = bytearray()
        self.echo_opens = self.echo_releases = 0

        def echo_open(inode: Inode, file: File) -> int:
            self.echo_opens += 1
            return 0

        def echo_release(inode: Inode, file: File) -> int:
            self.echo_releases += 1
            return 0

        def echo_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
            n = min(count, 16, len(self.echo))
            buf[:n] = self.echo[:n]
            del self.echo[:n]
            return n

        def echo_write(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
            if bytes(buf[:count]) == b"fail\n":
                return -Errno.EIO
            self.echo += buf[:count]
            return count

        system.chrdev.register_chrdev(ECHO_MAJOR, "echo", FileOperations(
            open=echo_open, release=echo_release, read=echo_read, write=echo_write,
            llseek=noop_llseek))

        # a driver whose read sleeps until the machine shuts down
        vfs.mount("/dev/block0", DevNode(BLOCK_MAJOR, 0, 0o666))
        self.block_reads = self.block_releases = 0

        async def block_read(file: File, buf: memoryview, count: int, ppos: Loff) -> int:
            self.block_reads += 1
            await asyncio.Event().wait()
            return 0

        def block_release(inode: Inode, file: File) -> int:
            self.block_releases += 1
            return 0

        system.chrdev.register_chrdev(BLOCK_MAJOR, "block", FileOperations(
            read=block_read, release=block_release))


def open_close(path: Path, flags: int) -> None:
    os.close(os.open(path, flags))


def our_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("usbemu-")]


@pytest.fixture
def machine() -> Iterator[tuple[System, Tree]]:
    with System() as system:
        system.add_controller()
        yield system, Tree(system)


@pytest.fixture
def mnt(machine: tuple[System, Tree], tmp_path: Path) -> Iterator[Path]:
    system, _ = machine
    where = tmp_path / "mnt"
    where.mkdir()
    try:
        fm = mount(system, where)
    except FuseUnavailable as exc:
        pytest.skip(f"the kernel refused the FUSE mount: {exc}")
    try:
        yield where
    finally:
        fm.unmount()
    assert not os.path.ismount(where)
    assert our_threads() == []
    system.settle()  # the machine is back in the caller's hands: run() works again


def test_cat_equivalent_reads_what_show_gives(mnt: Path) -> None:
    assert (mnt / "test/fuse/greeting").read_text() == "hello\n"
    assert (mnt / "test/fuse/binary").read_bytes() == b"\x00\x01\xfe\xff"
    assert (mnt / "test/fuse/setting").read_text() == "on\n"


def test_stat_gives_modes_true_sizes_and_device_numbers(mnt: Path) -> None:
    st = os.stat(mnt / "test/fuse/greeting")
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444
    assert st.st_size == len("hello\n")
    assert stat.S_IMODE(os.stat(mnt / "test/fuse/setting").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(mnt / "test/fuse/writeonly").st_mode) == 0o200
    assert os.stat(mnt / "test/fuse/writeonly").st_size == 0
    top = os.stat(mnt / "test")
    assert stat.S_ISDIR(top.st_mode) and stat.S_IMODE(top.st_mode) == 0o755
    # with the machine's char-device layer behind it, a device node is a file (see below)
    dev = os.stat(mnt / "dev/echo0")
    assert stat.S_ISREG(dev.st_mode) and stat.S_IMODE(dev.st_mode) == 0o666


def test_listdir(mnt: Path) -> None:
    assert {"dev", "sys", "test"} <= set(os.listdir(mnt))
    assert sorted(os.listdir(mnt / "test/fuse")) == [
        "absolute", "big", "binary", "greeting", "link", "setting", "sub", "writeonly"]
    kinds = {e.name: (e.is_dir(follow_symlinks=False), e.is_symlink())
             for e in os.scandir(mnt / "test/fuse")}
    assert kinds["sub"] == (True, False) and kinds["link"] == (False, True)
    assert kinds["greeting"] == (False, False)


def test_symlinks_read_and_resolve_inside_the_mount(mnt: Path) -> None:
    link = mnt / "test/fuse/link"
    assert link.is_symlink() and os.readlink(link) == "greeting"
    assert link.read_text() == "hello\n"
    # an absolute target in the tree would escape to the host's / : it is made relative
    assert os.readlink(mnt / "test/fuse/absolute") == "greeting"
    assert (mnt / "test/fuse/absolute").read_text() == "hello\n"
    assert os.readlink(mnt / "test/fuse/sub/up") == "../setting"
    assert (mnt / "test/fuse/sub/up").read_text() == "on\n"
    assert os.lstat(link).st_size == len("greeting")


def test_write_reaches_the_store(machine: tuple[System, Tree], mnt: Path) -> None:
    _, tree = machine
    with open(mnt / "test/fuse/setting", "w") as f:  # O_TRUNC: accepted, does nothing
        f.write("off\n")
    assert tree.stored == [b"off\n"]
    subprocess.run(["sh", "-c", f"echo 1-1 > '{mnt}/test/fuse/setting'"], check=True)
    assert tree.stored == [b"off\n", b"1-1\n"]
    os.truncate(mnt / "test/fuse/setting", 0)
    assert tree.stored == [b"off\n", b"1-1\n"]


def test_a_store_errno_reaches_the_writer(mnt: Path) -> None:
    fd = os.open(mnt / "test/fuse/writeonly", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as err:
            os.write(fd, b"x")
        assert err.value.errno == errno.EINVAL
    finally:
        os.close(fd)


def test_read_only_and_write_only_files_refuse_with_eacces(mnt: Path) -> None:
    with pytest.raises(PermissionError) as err:
        open_close(mnt / "test/fuse/greeting", os.O_WRONLY | os.O_TRUNC)
    assert err.value.errno == errno.EACCES
    with pytest.raises(PermissionError):
        os.truncate(mnt / "test/fuse/greeting", 0)
    with pytest.raises(PermissionError):
        open_close(mnt / "test/fuse/writeonly", os.O_RDONLY)
    assert not os.access(mnt / "test/fuse/greeting", os.W_OK)
    assert os.access(mnt / "test/fuse/setting", os.R_OK | os.W_OK)


def test_the_tree_cannot_be_reshaped(mnt: Path) -> None:
    with pytest.raises(PermissionError):
        open_close(mnt / "test/fuse/new", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError) as err:
        os.mkdir(mnt / "test/fuse/newdir")
    assert err.value.errno == errno.EPERM
    with pytest.raises(OSError) as err:
        os.unlink(mnt / "test/fuse/greeting")
    assert err.value.errno == errno.EPERM
    with pytest.raises(FileNotFoundError):
        open_close(mnt / "test/fuse/missing", os.O_RDONLY)


def test_device_io_reaches_the_driver(machine: tuple[System, Tree], mnt: Path) -> None:
    _, tree = machine
    subprocess.run(["sh", "-c", f"echo hello through FUSE > '{mnt}/dev/echo0'"], check=True)
    assert bytes(tree.echo) == b"hello through FUSE\n"
    fd = os.open(mnt / "dev/echo0", os.O_RDWR)
    try:
        assert os.read(fd, 100) == b"hello through FU"  # the driver's short read
        assert os.read(fd, 100) == b"SE\n"
        assert os.read(fd, 100) == b""
        with pytest.raises(OSError) as err:
            os.write(fd, b"fail\n")
        assert err.value.errno == errno.EIO  # the driver's errno
    finally:
        os.close(fd)
    assert tree.echo_opens == 2
    cat = subprocess.run(["cat", str(mnt / "dev/echo0")], capture_output=True, timeout=30)
    assert (cat.returncode, cat.stdout) == (0, b"")
    with pytest.raises(OSError) as err:  # a number no driver serves: chrdev_open's ENXIO
        open_close(mnt / "dev/nodriver0", os.O_RDONLY)
    assert err.value.errno == errno.ENXIO


def test_device_files_are_closed_on_the_machine(machine: tuple[System, Tree],
                                                mnt: Path) -> None:
    system, tree = machine
    with open(mnt / "dev/echo0", "rb", buffering=0):
        pass

    async def open_files() -> int:
        return len(system.chrdev.open_files(ECHO_MAJOR << 20))

    for _ in range(100):  # FUSE sends RELEASE after close(2) returns
        if tree.echo_releases == 1:
            break
        threading.Event().wait(0.01)
    assert tree.echo_releases == 1 and system.call(open_files()) == 0


def test_device_nodes_as_character_devices(machine: tuple[System, Tree],
                                           tmp_path: Path) -> None:
    system, _ = machine
    try:
        fm = mount(system, tmp_path, device_files=False)
    except FuseUnavailable as exc:
        pytest.skip(f"the kernel refused the FUSE mount: {exc}")
    try:
        dev = os.stat(tmp_path / "dev/echo0")
        assert stat.S_ISCHR(dev.st_mode) and stat.S_IMODE(dev.st_mode) == 0o666
        assert (os.major(dev.st_rdev), os.minor(dev.st_rdev)) == (ECHO_MAJOR, 0)
        # The host kernel opens a device node itself, never through the FUSE daemon, and
        # the mount is nodev: EACCES (the daemon would say ENXIO, were it asked).
        with pytest.raises(OSError) as err:
            open_close(tmp_path / "dev/echo0", os.O_RDWR)
        assert err.value.errno in (errno.EACCES, errno.ENXIO)
    finally:
        fm.unmount()


def test_cat_in_a_subprocess(mnt: Path) -> None:
    cat = shutil.which("cat")
    if cat is None:
        pytest.skip("no cat on this machine")
    done = subprocess.run([cat, str(mnt / "test/fuse/greeting"), str(mnt / "test/fuse/link")],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\nhello\n", "")


def test_one_read_sees_one_show(machine: tuple[System, Tree], mnt: Path) -> None:
    # several FUSE read requests, one open file: all of it from the same show(), as seq_file
    content = (mnt / "test/fuse/big").read_bytes()
    assert len(content) == BIG_UNIT * BIG_COUNT
    assert len(set(content.split(b"\n")[:-1])) == 1


def test_the_tree_is_live(machine: tuple[System, Tree], mnt: Path) -> None:
    system, _ = machine
    assert not (mnt / "test/late").exists()

    async def add() -> None:  # kernel objects change on the machine's loop only
        system.vfs.mount("/test/late", Attr(show=lambda: "late\n"))

    system.call(add())
    assert (mnt / "test/late").read_text() == "late\n"


def test_usb1_through_the_mount_when_sysfs_is_there(machine: tuple[System, Tree],
                                                    mnt: Path) -> None:
    system, _ = machine

    async def has_sysfs() -> bool:
        return system.vfs.exists("/sys/bus/usb/devices/usb1")

    if not system.call(has_sysfs()):
        pytest.skip("this tree has no /sys/bus/usb/devices yet (the sysfs view is not built)")
    assert (mnt / "sys/bus/usb/devices/usb1/idVendor").read_text() == "1d6b\n"


def test_unmount_from_outside(machine: tuple[System, Tree], tmp_path: Path) -> None:
    system, _ = machine
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool is None:
        pytest.skip("no fusermount3 to unmount with")
    try:
        fm = mount(system, tmp_path)
    except FuseUnavailable as exc:
        pytest.skip(f"the kernel refused the FUSE mount: {exc}")
    assert not fm.wait(0)  # mounted and served
    subprocess.run([tool, "-u", str(tmp_path)], check=True)
    assert fm.wait(30)
    assert not fm.mounted
    fm.unmount()
    assert our_threads() == [] and not os.path.ismount(tmp_path)


def test_a_loop_already_running_elsewhere_is_used_and_left_running(tmp_path: Path) -> None:
    with System() as system:
        runner = threading.Thread(target=system.loop.run_forever, name="caller-loop")
        runner.start()
        try:
            system.call(system.aadd_controller())
            async def add() -> None:
                system.vfs.mount("/x", Attr(show=lambda: "x\n"))
            system.call(add())
            try:
                with FuseMount(system, tmp_path) as fm:
                    assert fm.mounted and our_threads() == ["usbemu-fuse"]
                    assert (tmp_path / "x").read_text() == "x\n"
            except FuseUnavailable as exc:
                pytest.skip(f"the kernel refused the FUSE mount: {exc}")
            assert system.loop.is_running() and our_threads() == []
        finally:
            system.loop.call_soon_threadsafe(system.loop.stop)
            runner.join()


def test_mounting_twice_or_on_a_file_is_refused(machine: tuple[System, Tree],
                                                mnt: Path, tmp_path: Path) -> None:
    system, _ = machine
    with pytest.raises(OSError) as err:
        mount(system, mnt)
    assert err.value.errno == errno.EBUSY
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(NotADirectoryError):
        mount(system, afile)


def test_run_mount_serves_in_the_foreground_until_sigterm(tmp_path: Path) -> None:
    """What `usbemu mount DIR` does, in a process of its own."""
    script = textwrap.dedent(f"""
        from usbemu.bridges.fuse import run_mount
        from usbemu.kernel.vfs import Attr

        def setup(system):
            system.add_controller()
            system.vfs.mount("/hello", Attr(show=lambda: "from the machine\\n"))

        run_mount({str(tmp_path)!r}, setup)
        print("served and unmounted")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            if os.path.ismount(tmp_path) or proc.poll() is not None:
                break
            threading.Event().wait(0.05)
        if not os.path.ismount(tmp_path):
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"run_mount did not mount: {out}{err}")
        cat = subprocess.run(["cat", str(tmp_path / "hello")], capture_output=True, text=True,
                             timeout=30)
        assert cat.stdout == "from the machine\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out) == (0, "served and unmounted\n"), err
    assert not os.path.ismount(tmp_path)


def caught_signals() -> int:
    """The mask of signals this process has a handler for (Linux's SigCgt)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigCgt in /proc/self/status")


def test_a_background_mount_leaves_sigterm_to_the_process(mnt: Path) -> None:
    # libfuse would catch SIGTERM/SIGHUP (and only unmount); they must still end the process
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    for sig in (signal.SIGTERM, signal.SIGHUP):
        assert not caught_signals() & (1 << (sig - 1)), signal.Signals(sig).name


def test_the_pen_drivers_story_through_the_mount(tmp_path: Path) -> None:
    """The article's scenario with the shell as the application: /dev/pen0 appears in the
    mount when the pen drive is plugged, a write and a read go through it to the drive,
    and the node goes when it is unplugged (a file still open gets ENODEV)."""
    with System() as system:
        system.add_controller()
        system.insmod("pen_driver")
        try:
            fm = mount(system, tmp_path)
        except FuseUnavailable as exc:
            pytest.skip(f"the kernel refused the FUSE mount: {exc}")
        try:
            assert not (tmp_path / "dev/pen0").exists()

            async def plug() -> None:
                system.plug(PenDrive(), "1-1")
                await system.asettle()

            system.call(plug())
            assert "pen0" in os.listdir(tmp_path / "dev")
            subprocess.run(["sh", "-c", f"printf 'Hello, pen' > '{tmp_path}/dev/pen0'"],
                           check=True)
            fd = os.open(tmp_path / "dev/pen0", os.O_RDONLY)
            try:
                assert os.read(fd, 512) == b"Hello, pen"

                async def unplug() -> None:
                    system.unplug("1-1")
                    await system.asettle()

                system.call(unplug())
                assert not (tmp_path / "dev/pen0").exists()
                with pytest.raises(OSError) as err:
                    os.read(fd, 512)
                assert err.value.errno == errno.ENODEV
            finally:
                os.close(fd)
        finally:
            fm.unmount()
        assert "Pen drive removed" in system.dmesg()


def test_a_drivers_etimedout_is_the_drivers(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A read of /dev/pen0 with nothing written: pen_read's usb_bulk_msg gives up after its
    5000 ms timeout — of machine time, so at once on virtual time — and read(2) gets the
    driver's -ETIMEDOUT.  The bridge must not take that OSError(ETIMEDOUT), a TimeoutError
    in Python, for its own wait for the machine running out."""
    with System() as system:
        system.add_controller()
        system.insmod("pen_driver")
        system.plug(PenDrive(), "1-1")
        system.settle()
        try:
            fm = mount(system, tmp_path)
        except FuseUnavailable as exc:
            pytest.skip(f"the kernel refused the FUSE mount: {exc}")
        try:
            fd = os.open(tmp_path / "dev/pen0", os.O_RDONLY)
            try:
                with caplog.at_level(logging.INFO, logger="usbemu.bridges.fuse"), \
                        pytest.raises(OSError) as err:
                    os.read(fd, 512)
            finally:
                os.close(fd)
        finally:
            fm.unmount()
        assert (err.value.errno, err.value.strerror) == (errno.ETIMEDOUT,
                                                         "Connection timed out")
        assert "Bulk message returned -110" in system.dmesg()
        assert [r.getMessage() for r in caplog.records] == []  # no "did not answer"


@pytest.mark.usefixtures("hang_guard")
@pytest.mark.hang_guard_s(20)           # less than UNMOUNT_TIMEOUT (30 s)
def test_unmount_ends_a_read_blocked_in_a_driver(tmp_path: Path) -> None:
    """A read that sleeps in its driver for as long as the machine runs does not hold the
    unmount up: it ends with ENODEV at once.  The driver's call is left to the machine, so
    release runs when that call ends — at the machine's shutdown, which cancels it — as
    fput defers release until the calls in flight return."""
    with System() as system:
        system.add_controller()
        tree = Tree(system)
        try:
            fm = mount(system, tmp_path)
        except FuseUnavailable as exc:
            pytest.skip(f"the kernel refused the FUSE mount: {exc}")
        outcome: list[int | None] = []

        def reader() -> None:
            fd = os.open(tmp_path / "dev/block0", os.O_RDONLY)
            try:
                os.read(fd, 100)
                outcome.append(None)
            except OSError as exc:
                outcome.append(exc.errno)
            finally:
                os.close(fd)

        thread = threading.Thread(target=reader, name="test-reader", daemon=True)
        try:
            thread.start()
            for _ in range(200):
                if tree.block_reads:
                    break
                threading.Event().wait(0.01)
            assert tree.block_reads == 1 and thread.is_alive()
            fm.unmount()
            thread.join(10)
        finally:
            fm.unmount()
        assert not thread.is_alive() and outcome == [errno.ENODEV]
        assert not os.path.ismount(tmp_path) and our_threads() == []
        assert tree.block_releases == 0  # the read is still in flight on the machine
    assert tree.block_releases == 1


def mounted_at(path: Path) -> bool:
    """Whether the mount table has `path` (without a stat(2), which a dead FUSE mount
    fails)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        where = line.split()[4].replace("\\040", " ").replace("\\011", "\t")
        if where == str(path):
            return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_unmounts_while_a_read_is_blocked(tmp_path: Path, sig: int) -> None:
    """``usbemu mount`` (a machine on real time) with a `cat`-like reader blocked in
    pen_read, whose usb_bulk_msg waits 5 s for a drive that has nothing: Ctrl-C or SIGTERM
    unmounts at once, the reader gets ENODEV, and both processes end within seconds."""
    mnt = tmp_path / "emu"
    mnt.mkdir()
    marker = tmp_path / "reading"
    reader_script = textwrap.dedent("""
        import os, sys
        fd = os.open(sys.argv[1], os.O_RDONLY)
        open(sys.argv[2], "w").close()
        try:
            os.read(fd, 512)
            print("read")
        except OSError as exc:
            print(exc.errno)
    """)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "usbemu", "mount", str(mnt), "--load", "pen_driver",
         "--plug", "pendrive"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 30
        while not mounted_at(mnt) and daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not mounted_at(mnt):
            daemon.kill()
            out, err = daemon.communicate()
            if "mounting" in err:  # the kernel refused it (FuseUnavailable)
                pytest.skip(f"the FUSE mount failed: {err}")
            pytest.fail(f"usbemu mount did not mount: {out}{err}")
        assert (mnt / "dev/pen0").exists()
        reader = subprocess.Popen([sys.executable, "-c", reader_script, str(mnt / "dev/pen0"),
                                   str(marker)], stdout=subprocess.PIPE, text=True)
        while not marker.exists() and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the reader did not open /dev/pen0"
        time.sleep(0.5)  # the read is in pen_read now, for 5 s of real time
        assert reader.poll() is None
        daemon.send_signal(sig)
        out, err = daemon.communicate(timeout=15)
        reader_out, _ = reader.communicate(timeout=15)
    finally:
        for proc in (daemon, reader):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
        if mounted_at(mnt):
            subprocess.run(["fusermount3", "-uz", str(mnt)], check=False)
    assert reader_out == f"{errno.ENODEV}\n"  # not 110 (ETIMEDOUT): the read did not wait
    assert (daemon.returncode, out, err) == (0, "", "")
    assert not mounted_at(mnt)


def test_usbmon_text_through_the_mount(tmp_path: Path) -> None:
    """`cat /sys/kernel/debug/usb/usbmon/1u` on the host: a debugfs file with its own
    operations, opened through the mount, sees the URBs of an enumeration that follows."""
    with System() as system:
        system.add_controller()
        try:
            fm = mount(system, tmp_path)
        except FuseUnavailable as exc:
            pytest.skip(f"the kernel refused the FUSE mount: {exc}")
        try:
            node = tmp_path / "sys/kernel/debug/usb/usbmon/1u"
            assert stat.S_ISREG(node.stat().st_mode)
            fd = os.open(node, os.O_RDONLY)
            try:
                async def plug() -> None:
                    system.plug(PenDrive(), "1-1")
                    await system.asettle()

                system.call(plug())
                first = os.read(fd, 4096).decode()
            finally:
                os.close(fd)
        finally:
            fm.unmount()
    # the first event: the root hub's status URB completing for the connect
    fields = first.split()
    assert fields[2] == "C" and fields[3] == "Ii:1:001:1", first
