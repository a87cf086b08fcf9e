"""The machine's file tree (usbemu.kernel.vfs): path resolution with symlinks as the kernel
walks them, the errors a process would see, stat, and a walk that cannot loop."""

from __future__ import annotations

import errno
import stat

import pytest

from usbemu.kernel.vfs import Attr, DevNode, StaticDir, Symlink, Vfs


async def _store(data: bytes) -> int:
    return len(data) if data.strip() != b"bad" else -errno.EINVAL


@pytest.fixture
def vfs() -> Vfs:
    fs = Vfs()
    fs.mount("/sys/devices/pci/usb1", StaticDir({
        "idVendor": Attr(lambda: "1d6b\n"),
        "descriptors": Attr(lambda: b"\x12\x01", binary=True),
        "remove": Attr(store=_store, mode=0o200),
        "bConfigurationValue": Attr(lambda: "1\n", _store, 0o644),
        "1-1": StaticDir({"devnum": Attr(lambda: "2\n"),
                          "parent": Symlink("..")}),
    }))
    fs.mount("/sys/bus/usb/devices", StaticDir(compute=lambda: {
        "usb1": Symlink("../../../devices/pci/usb1"),
        "1-1": Symlink("/sys/devices/pci/usb1/1-1"),
    }))
    fs.mount("/sys/loop", StaticDir({"a": Symlink("b"), "b": Symlink("a"),
                                     "self": Symlink("self"), "up": Symlink("..")}))
    fs.mount("/dev/pen0", DevNode(180, 0, 0o660))
    return fs


def test_resolve_follows_symlinks_to_the_canonical_path(vfs: Vfs) -> None:
    path, node = vfs.resolve("/sys/bus/usb/devices/usb1/idVendor")
    assert path == "/sys/devices/pci/usb1/idVendor"
    assert isinstance(node, Attr)
    assert vfs.resolve("/sys/bus/usb/devices/1-1")[0] == "/sys/devices/pci/usb1/1-1"
    assert vfs.resolve("/sys/bus/usb/devices/1-1", follow=False)[0] == \
        "/sys/bus/usb/devices/1-1"
    assert vfs.resolve("/sys/./devices//pci/usb1/")[0] == "/sys/devices/pci/usb1"


def test_dotdot_after_a_symlink_is_physical(vfs: Vfs) -> None:
    """lsusb -t reads /sys/bus/usb/devices/usb1/../driver: ".." is the parent of the
    link's target, not of the link (a lexical normpath would get this wrong)."""
    assert vfs.resolve("/sys/bus/usb/devices/usb1/..")[0] == "/sys/devices/pci"
    assert vfs.read("/sys/bus/usb/devices/1-1/../idVendor") == b"1d6b\n"
    assert vfs.read("/sys/devices/pci/usb1/1-1/parent/idVendor") == b"1d6b\n"
    assert vfs.resolve("/..")[0] == "/"


def test_symlink_loops_give_eloop(vfs: Vfs) -> None:
    for path in ("/sys/loop/a", "/sys/loop/self", "/sys/loop/a/x"):
        with pytest.raises(OSError) as info:
            vfs.read(path)
        assert info.value.errno == errno.ELOOP
    with pytest.raises(OSError) as info:
        vfs.listdir("/sys/loop/up/loop/up/loop/a")
    assert info.value.errno == errno.ELOOP
    # readlink and stat(follow=False) do not follow the last link
    assert vfs.readlink("/sys/loop/a") == "b"
    assert vfs.stat("/sys/loop/self", follow=False).is_link


def test_forty_links_are_allowed_the_forty_first_is_not() -> None:
    fs = Vfs()
    chain = {f"l{i}": Symlink(f"l{i + 1}") for i in range(41)}
    fs.mount("/c", StaticDir({**chain, "l41": Attr(lambda: "end\n")}))
    assert fs.read("/c/l1") == b"end\n"          # 40 links
    with pytest.raises(OSError) as info:
        fs.read("/c/l0")                          # 41 links
    assert info.value.errno == errno.ELOOP


@pytest.mark.parametrize(("call", "path", "code"), [
    ("read", "/sys/devices/pci/usb1", errno.EISDIR),
    ("read", "/sys/devices/pci/usb1/remove", errno.EACCES),
    ("read", "/sys/devices/pci/usb1/nothing", errno.ENOENT),
    ("read", "/sys/devices/pci/usb1/idVendor/x", errno.ENOTDIR),
    ("read", "/sys/devices/pci/usb1/idVendor/", errno.ENOTDIR),
    ("read", "/sys/devices/pci/usb1/idVendor/..", errno.ENOTDIR),
    ("read", "/dev/pen0", errno.EINVAL),
    ("listdir", "/sys/devices/pci/usb1/idVendor", errno.ENOTDIR),
    ("listdir", "/nowhere", errno.ENOENT),
    ("readlink", "/sys/devices/pci/usb1/idVendor", errno.EINVAL),
])
def test_errors_carry_linux_errno_and_the_path(vfs: Vfs, call: str, path: str,
                                               code: int) -> None:
    with pytest.raises(OSError) as info:
        getattr(vfs, call)(path)
    assert info.value.errno == code
    assert info.value.filename == path


def test_writes(vfs: Vfs) -> None:
    import asyncio

    async def main() -> None:
        assert await vfs.write("/sys/devices/pci/usb1/remove", "1\n") == 2
        assert await vfs.write("/sys/bus/usb/devices/usb1/bConfigurationValue", b"1") == 1
        for path, code, data in (("/sys/devices/pci/usb1/remove", errno.EINVAL, "bad"),
                                 ("/sys/devices/pci/usb1/idVendor", errno.EACCES, "1"),
                                 ("/sys/devices/pci/usb1", errno.EISDIR, "1"),
                                 ("/dev/pen0", errno.EINVAL, "1")):
            with pytest.raises(OSError) as info:
                await vfs.write(path, data)
            assert info.value.errno == code, path

    asyncio.run(main())


def test_stat(vfs: Vfs) -> None:
    st = vfs.stat("/sys/devices/pci/usb1/idVendor")
    assert stat.S_ISREG(st.mode) and stat.S_IMODE(st.mode) == 0o444 and st.size == 4096
    assert stat.S_IMODE(vfs.stat("/sys/devices/pci/usb1/remove").mode) == 0o200
    assert stat.S_IMODE(vfs.stat("/sys/devices/pci/usb1/bConfigurationValue").mode) == 0o644
    assert vfs.stat("/sys/devices/pci/usb1").is_dir
    assert vfs.stat("/sys/bus/usb/devices/usb1").is_dir
    link = vfs.stat("/sys/bus/usb/devices/usb1", follow=False)
    assert link.is_link and link.size == len("../../../devices/pci/usb1")
    node = vfs.stat("/dev/pen0")
    assert node.is_chr and node.rdev == (180, 0) and stat.S_IMODE(node.mode) == 0o660
    assert vfs.exists("/sys/bus/usb/devices/1-1/devnum")
    assert not vfs.exists("/sys/loop/a")


def test_walk_is_os_walk_without_following_links(vfs: Vfs) -> None:
    walked = list(vfs.walk("/sys"))
    paths = [p for p, _, _ in walked]
    assert len(paths) == len(set(paths))
    assert "/sys/bus/usb/devices/usb1" not in paths   # a link is not descended into
    top = dict((p, (d, f)) for p, d, f in walked)
    # symlinks to directories are listed with the directories (os.walk does the same)
    assert top["/sys/bus/usb/devices"] == (["1-1", "usb1"], [])
    assert top["/sys/devices/pci/usb1"][1] == ["bConfigurationValue", "descriptors",
                                              "idVendor", "remove"]
    assert top["/sys/loop"] == (["up"], ["a", "b", "self"])  # dangling/looping: files
    assert top["/sys/devices/pci/usb1/1-1"] == (["parent"], ["devnum"])


def test_walk_can_be_pruned_in_place(vfs: Vfs) -> None:
    seen = []
    for path, dirs, _ in vfs.walk("/sys"):
        seen.append(path)
        if path == "/sys":
            dirs[:] = ["bus"]
    assert all(p == "/sys" or p.startswith("/sys/bus") for p in seen)


def test_mount_rejects_root_and_non_directories(vfs: Vfs) -> None:
    with pytest.raises(ValueError):
        vfs.mount("/", StaticDir())
    with pytest.raises(ValueError):
        vfs.mount("/dev/pen0/x", StaticDir())
    with pytest.raises(ValueError):
        vfs.read("relative/path")
