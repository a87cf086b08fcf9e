"""The virtual filesystem views of a machine — the part of fs/ (sysfs, debugfs, devtmpfs,
procfs) that user space reads: a tree of directories, attribute files, symlinks and device
nodes, computed from live kernel objects each time it is read — and the few directories of
ordinary files a machine keeps (`FileDir`, a tmpfs-like directory such as /etc/modprobe.d).

Subsystems contribute nodes; `Vfs` resolves paths (following symlinks as the kernel does)
and offers what a shell needs: `read`, `write`, `listdir`, `stat`, `walk`, `readlink`, and
`open` for device nodes (the file operations behind them belong to the char-device layer).
Reading an attribute is atomic (a `show` function); writing one may sleep (a `store`
coroutine: sysfs `bind`, `new_id` …).  Errors are OSErrors with Linux's errno and the path,
as a process would see them.  Nothing here touches the host's real filesystem; the FUSE
bridge mounts this tree for real programs.
"""

from __future__ import annotations

import posixpath
import stat as stat_mod
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from ..errors import Errno


def fs_error(code: int, path: str) -> OSError:
    """An OSError with Linux's errno and message for `path`."""
    from ..errors import strerror

    return OSError(abs(code), strerror(code), path)


@dataclass(frozen=True)
class Attr:
    """A regular file: `show()` gives its content; `store(data)` (may sleep) takes a write
    and returns the bytes consumed or a negative errno.  `mode` as ls shows it (0o444 …)."""

    show: Callable[[], bytes | str] | None = None
    store: Callable[[bytes], Awaitable[int]] | None = None
    mode: int = 0o444
    binary: bool = False

    def __post_init__(self) -> None:
        if self.show is None and self.store is None:
            raise ValueError("an attribute needs show, store or both")


@dataclass(frozen=True)
class FopsFile:
    """A file with its own file operations (debugfs_create_file): each open(2) gets a
    struct file whose `f_op` is `fops` (a `kernel.fs.FileOperations`) and whose inode's
    `i_private` is `private`.  Read through `open`, like a device node."""

    fops: Any
    private: Any = None
    mode: int = 0o600


@dataclass(frozen=True)
class Symlink:
    """A symbolic link; `target` is relative to the link's directory or absolute."""

    target: str


@dataclass(frozen=True)
class DevNode:
    """A device node under /dev: a character device (c major:minor), or a block device
    (b major:minor) when `block`."""

    major: int
    minor: int
    mode: int = 0o600
    block: bool = False


class Directory(Protocol):
    """A directory: its entries, computed now (name → node)."""

    def entries(self) -> Mapping[str, Node]: ...


@dataclass
class StaticDir:
    """A directory whose entries are fixed or computed by a function."""

    children: dict[str, Node] = field(default_factory=dict)
    compute: Callable[[], Mapping[str, Node]] | None = None

    def entries(self) -> Mapping[str, Node]:
        if self.compute is None:
            return self.children
        return {**self.children, **self.compute()}


@dataclass(eq=False)
class RegularFile:
    """An ordinary file of a `FileDir`: its bytes, kept in memory as tmpfs keeps them."""

    data: bytearray = field(default_factory=bytearray)
    mode: int = 0o644


@dataclass(eq=False)
class FileDir:
    """A directory of ordinary files (tmpfs, shmem.c): files are created by open(O_CREAT)
    or `Vfs.write`, written, appended to, truncated and unlinked; no subdirectories.
    `on_change()` is called (atomic) after each change, so that a reader can drop what
    it computed from the files."""

    files: dict[str, RegularFile] = field(default_factory=dict)
    on_change: Callable[[], None] | None = None

    def entries(self) -> Mapping[str, Node]:
        return self.files

    def create(self, name: str) -> RegularFile:
        """The file `name`, created empty if missing.  Raises ValueError for a name that
        is empty, "." / "..", or holds "/"."""
        if name in ("", ".", "..") or "/" in name:
            raise ValueError(f"{name!r}: a file name is not empty, '.', '..' and has no '/'")
        found = self.files.get(name)
        if found is None:
            found = self.files[name] = RegularFile()
            self.changed()
        return found

    def unlink(self, name: str) -> bool:
        """Remove `name`; False if there was no such file."""
        if self.files.pop(name, None) is None:
            return False
        self.changed()
        return True

    def changed(self) -> None:
        """Tell the reader (if any) that a file changed."""
        if self.on_change is not None:
            self.on_change()


Node: TypeAlias = "Directory | Attr | Symlink | DevNode | RegularFile | FopsFile"


@dataclass(frozen=True)
class Stat:
    """What stat(2) would say: type and permission bits, size (4096 for sysfs attributes,
    as Linux reports), and the device number for device nodes."""

    mode: int
    size: int = 0
    rdev: tuple[int, int] | None = None

    @property
    def is_dir(self) -> bool:
        return stat_mod.S_ISDIR(self.mode)

    @property
    def is_link(self) -> bool:
        return stat_mod.S_ISLNK(self.mode)

    @property
    def is_chr(self) -> bool:
        return stat_mod.S_ISCHR(self.mode)

    @property
    def is_blk(self) -> bool:
        return stat_mod.S_ISBLK(self.mode)


_MAX_SYMLINKS = 40


class Vfs:
    """The machine's file tree.  Context: lookups and reads are atomic; writes may sleep."""

    def __init__(self) -> None:
        self.root = StaticDir()

    def mount(self, path: str, node: Node) -> None:
        """Attach `node` at absolute `path`, creating fixed parent directories."""
        parts = self._split(path)
        if not parts:
            raise ValueError("cannot mount over /")
        parent: StaticDir = self.root
        for name in parts[:-1]:
            child = parent.children.get(name)
            if child is None:
                child = parent.children[name] = StaticDir()
            if not isinstance(child, StaticDir):
                raise ValueError(f"{path}: {name} is not a mountable directory")
            parent = child
        parent.children[parts[-1]] = node

    # -- lookup -------------------------------------------------------------------------------

    @staticmethod
    def _split(path: str) -> list[str]:
        if not path.startswith("/"):
            raise ValueError(f"{path!r}: paths are absolute")
        return [p for p in posixpath.normpath(path).split("/") if p]

    @staticmethod
    def _components(path: str) -> list[str]:
        """The names of a path as the kernel walks them: empty names and "." dropped, ".."
        kept (it is resolved physically, after the symlinks before it, not lexically)."""
        return [p for p in path.split("/") if p and p != "."]

    def resolve(self, path: str, follow: bool = True) -> tuple[str, Node]:
        """(canonical path, node) for `path`; the last component is followed if it is a
        symlink and `follow`.  ".." goes to the parent of the directory reached so far
        (after the symlinks before it, as path_lookup does), and a path ending in "/" must
        name a directory.  Raises OSError ENOENT / ENOTDIR / ELOOP (more than 40 links)."""
        if not path.startswith("/"):
            raise ValueError(f"{path!r}: paths are absolute")
        todo = self._components(path)
        must_be_dir = path.endswith("/") and bool(todo)
        done: list[str] = []
        node: Node = self.root
        hops = 0
        while todo:
            name = todo.pop(0)
            if not hasattr(node, "entries"):
                raise fs_error(-Errno.ENOTDIR, path)
            if name == "..":
                done = done[:-1]
                node = self._node_at(done, path)
                continue
            child = node.entries().get(name)
            if child is None:
                raise fs_error(-Errno.ENOENT, path)
            if isinstance(child, Symlink) and (todo or follow or must_be_dir):
                hops += 1
                if hops > _MAX_SYMLINKS:
                    raise fs_error(-Errno.ELOOP, path)
                if child.target.startswith("/"):
                    done, node = [], self.root
                todo = self._components(child.target) + todo
                continue
            done.append(name)
            node = child
        if must_be_dir and not hasattr(node, "entries"):
            raise fs_error(-Errno.ENOTDIR, path)
        return "/" + "/".join(done), node

    def _node_at(self, parts: list[str], path: str) -> Node:
        return self.resolve("/" + "/".join(parts))[1] if parts else self.root

    # -- the calls a shell makes ---------------------------------------------------------------

    def exists(self, path: str) -> bool:
        try:
            self.resolve(path)
        except OSError:
            return False
        return True

    def listdir(self, path: str) -> list[str]:
        """Entry names, sorted.  Raises ENOTDIR for a file."""
        _, node = self.resolve(path)
        if not hasattr(node, "entries"):
            raise fs_error(-Errno.ENOTDIR, path)
        return sorted(node.entries())

    def stat(self, path: str, follow: bool = True) -> Stat:
        _, node = self.resolve(path, follow)
        if isinstance(node, Symlink):
            return Stat(stat_mod.S_IFLNK | 0o777, len(node.target))
        if isinstance(node, DevNode):
            kind = stat_mod.S_IFBLK if node.block else stat_mod.S_IFCHR
            return Stat(kind | node.mode, 0, (node.major, node.minor))
        if isinstance(node, Attr):
            return Stat(stat_mod.S_IFREG | node.mode, 4096)
        if isinstance(node, RegularFile):
            return Stat(stat_mod.S_IFREG | node.mode, len(node.data))
        if isinstance(node, FopsFile):
            return Stat(stat_mod.S_IFREG | node.mode, 0)
        return Stat(stat_mod.S_IFDIR | 0o755)

    def readlink(self, path: str) -> str:
        _, node = self.resolve(path, follow=False)
        if not isinstance(node, Symlink):
            raise fs_error(-Errno.EINVAL, path)
        return node.target

    def read(self, path: str) -> bytes:
        """A file's content.  EISDIR for a directory, EACCES for a write-only attribute;
        device nodes are read through `open` (the char-device layer)."""
        _, node = self.resolve(path)
        if isinstance(node, Attr):
            if node.show is None:
                raise fs_error(-Errno.EACCES, path)
            value = node.show()
            return value.encode() if isinstance(value, str) else value
        if isinstance(node, RegularFile):
            return bytes(node.data)
        if isinstance(node, (DevNode, FopsFile)):
            raise fs_error(-Errno.EINVAL, path)
        raise fs_error(-Errno.EISDIR, path)

    def read_text(self, path: str) -> str:
        return self.read(path).decode("utf-8", errors="replace")

    def parent_dir(self, path: str) -> tuple[FileDir, str] | None:
        """(directory, name) when `path` names an entry of a `FileDir`, existing or not;
        else None.  Raises OSError when the parent does not exist."""
        head, name = posixpath.split(posixpath.normpath(path))
        _, parent = self.resolve(head or "/")
        return (parent, name) if isinstance(parent, FileDir) else None

    def create(self, path: str) -> RegularFile:
        """open(O_CREAT) of `path`: the ordinary file there, created empty in its
        `FileDir` if missing.  Raises OSError ENOENT (missing, and not in a `FileDir`: the
        computed trees take no new files), EISDIR (a directory), EACCES (an attribute,
        a link or a device node)."""
        try:
            _, node = self.resolve(path)
        except OSError as exc:
            if exc.errno != Errno.ENOENT:
                raise
            place = self.parent_dir(path)
            if place is None:
                raise
            return place[0].create(place[1])
        if isinstance(node, RegularFile):
            return node
        raise fs_error(-Errno.EISDIR if hasattr(node, "entries") else -Errno.EACCES, path)

    def _changed(self, path: str) -> None:
        place = self.parent_dir(path)
        if place is not None:
            place[0].changed()

    def append(self, path: str, data: bytes | str) -> int:
        """`>> path`: add `data` at the end of an ordinary file (created if missing);
        returns the bytes written.  Raises OSError as `create`.  Context: atomic."""
        node = self.create(path)
        raw = data.encode() if isinstance(data, str) else data
        node.data += raw
        self._changed(path)
        return len(raw)

    def pwrite(self, path: str, data: bytes, offset: int) -> int:
        """pwrite(2) to an existing ordinary file: `data` at `offset` (a gap before it
        reads as zeros); returns the bytes written.  Raises OSError ENOENT, EINVAL (not an
        ordinary file or a negative offset).  Context: atomic."""
        _, node = self.resolve(path)
        if not isinstance(node, RegularFile) or offset < 0:
            raise fs_error(-Errno.EINVAL, path)
        if offset > len(node.data):
            node.data += bytes(offset - len(node.data))
        node.data[offset:offset + len(data)] = data
        self._changed(path)
        return len(data)

    def truncate(self, path: str, length: int = 0) -> None:
        """truncate(2) of an ordinary file: cut or zero-extend it to `length`.  Raises
        OSError ENOENT, EINVAL (not an ordinary file or a negative length)."""
        _, node = self.resolve(path)
        if not isinstance(node, RegularFile) or length < 0:
            raise fs_error(-Errno.EINVAL, path)
        del node.data[length:]
        node.data += bytes(length - len(node.data))
        self._changed(path)

    def unlink(self, path: str) -> None:
        """unlink(2) of an ordinary file.  Raises OSError ENOENT, EISDIR (a directory),
        EPERM (anything else: sysfs and device nodes cannot be removed)."""
        _, node = self.resolve(path, follow=False)
        place = self.parent_dir(path)
        if place is None or not isinstance(node, RegularFile):
            raise fs_error(-Errno.EISDIR if hasattr(node, "entries") else -Errno.EPERM, path)
        place[0].unlink(place[1])

    async def write(self, path: str, data: bytes | str) -> int:
        """Write to an attribute (may sleep) or replace an ordinary file's content (`>
        path`, creating it in a `FileDir`); returns bytes written.  Raises OSError with
        the store's errno, EACCES for a read-only file, EISDIR for a directory."""
        if self.parent_dir(path) is not None:
            self.create(path).data.clear()
            return self.append(path, data)
        _, node = self.resolve(path)
        if isinstance(node, Attr):
            if node.store is None:
                raise fs_error(-Errno.EACCES, path)
            raw = data.encode() if isinstance(data, str) else data
            result = await node.store(raw)
            if result < 0:
                raise fs_error(result, path)
            return result
        raise fs_error(-Errno.EISDIR if hasattr(node, "entries") else -Errno.EINVAL, path)

    def walk(self, path: str = "/") -> Iterator[tuple[str, list[str], list[str]]]:
        """os.walk(path) over the tree (top-down, followlinks=False): a symlink to a
        directory is listed among the directories but not descended into, so links that
        point back up the tree (sysfs is full of them) cannot make the walk loop."""
        dirs: list[str] = []
        files: list[str] = []
        real: list[str] = []
        for name in self.listdir(path):
            child = posixpath.join(path, name)
            st = self.stat(child, follow=False)
            if st.is_dir:
                dirs.append(name)
                real.append(name)
            elif st.is_link and self._is_dir(child):
                dirs.append(name)
            else:
                files.append(name)
        yield path, dirs, files
        for name in dirs:
            if name in real:
                yield from self.walk(posixpath.join(path, name))

    def _is_dir(self, path: str) -> bool:
        try:
            return self.stat(path).is_dir
        except OSError:
            return False
