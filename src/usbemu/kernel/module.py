"""Loadable modules — counterpart of kernel/module/main.c (load_module, delete_module, the
module list and refcounts, /proc/modules, /sys/module), kernel/params.c (module_param, the
argument parser and the parameter files) and lib/kstrtox.c, plus the user-space side that
drives them: kmod's insmod, rmmod, modprobe, lsmod and depmod, and udev's autoload rule.

A driver module is a Python module that declares what a .ko carries: `module_init(fn)` and
`module_exit(fn)`, typed parameters (`module_param("vendor", "ushort", 0o444, default=0)`;
the parameter *is* the module's global variable, as in C), device tables
(`module_device_table("usb", table)`), and modinfo (`module_license`, `module_alias`,
`module_info("depends", "usbserial")` …).  The declarations are recorded on the calling
module, so importing a module runs nothing but its top level.  Modules come from a table of
modules installed with usbemu, from the `usbemu.drivers` entry-point group of installed
packages (imported lazily), from `install()`, or from a file given to insmod by path (as
insmod takes a .ko file); each load executes a fresh copy of the code, so a reloaded
module starts with fresh globals.  "usbcore" and "usb_common" are built in.

Loading follows load_module(): the name must be free (-EEXIST), dependencies loaded
(-ENOENT), arguments are parsed with Linux's rules and messages (`` usbserial: `x' invalid
for parameter `vendor' `` → -EINVAL; an unknown parameter is only a warning), then the
init runs; drivers it registers are owned by the module (`driver.owner`).  Unloading
follows delete_module(): not while other modules use it or while `try_module_get` holds
it.  depmod turns every available module's device tables into `modules.alias` (via
file2alias) and `modules.usbmap`; a uevent "add" whose MODALIAS matches an alias of a
module that is not loaded makes udev's modprobe load it — as a tracked task of the driver
core, so `settle()` waits for it — and the new driver binds the device (coldplug).

Not modelled: ELF, symbols and symbol versions (a module's dependencies are its
`depends` modinfo, as modpost writes it), signatures and taints, module_param_array,
modprobe.d configuration and blacklists, module uevents.  Messages of the user-space tools
are the `str()` of the `ModuleError` they raise; the kernel's own messages go to the log.
"""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ..errors import Errno, IllegalStateTransition, ModuleError, strerror
from ..plugins import PLUGIN, PluginRegistry
from .file2alias import UsbIdFields, alias_matches, modules_alias_lines, usbmap_header, usbmap_line
from .printk import Level, Printk
from .vfs import Attr, Node, StaticDir, Symlink, Vfs

if TYPE_CHECKING:
    from .device import Driver, DriverCore, Uevent

__all__ = [
    "BUILTIN_MODULES",
    "ENTRY_POINT_GROUP",
    "EXAMPLE_MODULES",
    "INSTALLED_MODULES",
    "PARAM_TYPES",
    "Depmod",
    "KernelModules",
    "KernelParam",
    "ModInfo",
    "Module",
    "ModuleSource",
    "ModuleState",
    "ParamType",
    "kstrtobool",
    "kstrtoll",
    "kstrtoull",
    "module_alias",
    "module_author",
    "module_description",
    "module_device_table",
    "module_exit",
    "module_info",
    "module_init",
    "module_license",
    "module_param",
    "module_param_desc",
    "module_put",
    "module_refcount",
    "module_version",
    "next_arg",
    "this_module",
    "try_module_get",
]

ENTRY_POINT_GROUP: Final = "usbemu.drivers"

#: Driver modules installed with usbemu (its /lib/modules/<release>/kernel): module name →
#: import path.  modprobe finds them, depmod lists their aliases, udev autoloads them.
INSTALLED_MODULES: Final[dict[str, str]] = {}

#: The driver-module registry: usbemu's installed modules and the `usbemu.drivers` entry
#: points of installed packages.  The module tools execute a fresh copy of a module's code
#: at each load, so they take only its import path from here.
DRIVER_MODULES: Final = PluginRegistry("driver module", ENTRY_POINT_GROUP, INSTALLED_MODULES)

#: Out-of-tree example modules shipped with usbemu: module name → file, relative to the
#: package or the source tree.  `insmod NAME` finds them as insmod finds ./pen_driver.ko in
#: the build directory; they are not installed, so modprobe, depmod and autoload do not
#: see them (until `KernelModules.install`).
EXAMPLE_MODULES: Final[dict[str, str]] = {"pen_driver": "examples/pen_driver.py"}

#: Modules built into the kernel (CONFIG_USB=y): name → path in modules.builtin.
BUILTIN_MODULES: Final[dict[str, str]] = {
    "usb_common": "kernel/drivers/usb/common/usb-common.ko",
    "usbcore": "kernel/drivers/usb/core/usbcore.ko",
}

PAGE_SIZE: Final = 4096
_MODINFO: Final = "__modinfo__"
_ULLONG_MAX: Final = (1 << 64) - 1


def _normalize(name: str) -> str:
    """Module names use `_` where a file name may have `-` (kmod's modname_normalize)."""
    return name.replace("-", "_")


# -- errors -------------------------------------------------------------------------------------


class _Refused(Exception):
    """A kernel-side refusal inside the loader: a negative errno and optional notes."""

    def __init__(self, code: int, *notes: str) -> None:
        super().__init__(code)
        self.code = code
        self.notes = notes


# -- lib/kstrtox.c ------------------------------------------------------------------------------


class _BadValue(ValueError):
    """A parameter's set() failed with `code` (a negative errno)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or strerror(code))
        self.code = code


_HEX: Final = "0123456789abcdefABCDEF"


def _kstrtoull_unsigned(s: str, base: int) -> int:
    """_kstrtoull(): radix fixup (base 0: 0x… hex, 0… octal, else decimal), digits, one
    optional trailing newline, nothing else."""
    if base == 0:
        if s[:1] == "0":
            base = 16 if s[1:2] in ("x", "X") and s[2:3] != "" and s[2:3] in _HEX else 8
        else:
            base = 10
    if base == 16 and s[:1] == "0" and s[1:2] in ("x", "X"):
        s = s[2:]
    res = 0
    count = 0
    overflow = False
    for ch in s:
        lc = ch.lower()
        if "0" <= ch <= "9":
            val = ord(ch) - 48
        elif "a" <= lc <= "f":
            val = ord(lc) - 87
        else:
            break
        if val >= base:
            break
        if res >> 60 and res > (_ULLONG_MAX - val) // base:
            overflow = True
        res = (res * base + val) & _ULLONG_MAX
        count += 1
    if overflow:
        raise _BadValue(-Errno.ERANGE)
    if count == 0:
        raise _BadValue(-Errno.EINVAL)
    rest = s[count:]
    if rest[:1] == "\n":
        rest = rest[1:]
    if rest:
        raise _BadValue(-Errno.EINVAL)
    return res


def kstrtoull(s: str, base: int = 0) -> int:
    """kstrtoull(): an unsigned 64-bit number, optional leading `+`.  Raises ValueError
    (with `.code` -EINVAL or -ERANGE) as the kernel returns them.  Context: pure."""
    if s[:1] == "+":
        s = s[1:]
    return _kstrtoull_unsigned(s, base)


def kstrtoll(s: str, base: int = 0) -> int:
    """kstrtoll(): a signed 64-bit number, optional leading `-` or `+`.  Raises ValueError
    (`.code` -EINVAL or -ERANGE).  Context: pure."""
    if s[:1] == "-":
        tmp = _kstrtoull_unsigned(s[1:], base)
        if tmp > 1 << 63:
            raise _BadValue(-Errno.ERANGE)
        return -tmp
    tmp = kstrtoull(s, base)
    if tmp >= 1 << 63:
        raise _BadValue(-Errno.ERANGE)
    return tmp


def kstrtobool(s: str) -> bool:
    """kstrtobool(): the first character decides — e/E, y/Y, t/T, 1 true; d/D, n/N, f/F, 0
    false; "on"/"off" by the second.  Raises ValueError (`.code` -EINVAL).  Context: pure."""
    first = s[:1]
    if first in ("e", "E", "y", "Y", "t", "T", "1"):
        return True
    if first in ("d", "D", "n", "N", "f", "F", "0"):
        return False
    if first in ("o", "O"):
        if s[1:2] in ("n", "N"):
            return True
        if s[1:2] in ("f", "F"):
            return False
    raise _BadValue(-Errno.EINVAL)


# -- kernel/params.c: parameter types ---------------------------------------------------------


@dataclass(frozen=True)
class ParamType:
    """struct kernel_param_ops: how a value is parsed from text (`set`, raising
    ValueError with `.code`), shown (`get`, with the trailing newline), and whether it
    may be given without a value (KERNEL_PARAM_OPS_FL_NOARG).  `accepts` checks a default
    given in Python."""

    name: str
    set: Callable[[str], object]
    get: Callable[[Any], str]
    accepts: Callable[[object], bool]
    noarg: bool = False


def _integer(name: str, parse: Callable[[str, int], int], lo: int, hi: int,
             show: Callable[[int], str] = str) -> ParamType:
    def set_(text: str) -> int:
        value = parse(text, 0)
        if not lo <= value <= hi:
            raise _BadValue(-Errno.ERANGE)
        return value

    def accepts(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi

    return ParamType(name, set_, lambda v: f"{show(v)}\n", accepts)


def _hexint(value: int) -> str:
    """printf("%#08x"): "0x" counts in the width; zero is printed without it."""
    return "00000000" if value == 0 else f"{value:#08x}"


def _charp_set(text: str) -> str:
    if len(text) > 1024:
        raise _BadValue(-Errno.ENOSPC, "string parameter too long")
    return text


def _bool_get(value: Any) -> str:
    return "Y\n" if value else "N\n"


PARAM_TYPES: Final[dict[str, ParamType]] = {
    "byte": _integer("byte", kstrtoull, 0, 0xFF),
    "short": _integer("short", kstrtoll, -0x8000, 0x7FFF),
    "ushort": _integer("ushort", kstrtoull, 0, 0xFFFF),
    "int": _integer("int", kstrtoll, -(1 << 31), (1 << 31) - 1),
    "uint": _integer("uint", kstrtoull, 0, (1 << 32) - 1),
    "long": _integer("long", kstrtoll, -(1 << 63), (1 << 63) - 1),
    "ulong": _integer("ulong", kstrtoull, 0, _ULLONG_MAX),
    "ullong": _integer("ullong", kstrtoull, 0, _ULLONG_MAX),
    "hexint": _integer("hexint", kstrtoull, 0, (1 << 32) - 1, _hexint),
    "charp": ParamType("charp", _charp_set, lambda v: f"{'(null)' if v is None else v}\n",
                       lambda v: v is None or isinstance(v, str)),
    "bool": ParamType("bool", kstrtobool, _bool_get, lambda v: isinstance(v, bool),
                      noarg=True),
    "invbool": ParamType("invbool", lambda text: not kstrtobool(text),
                         lambda v: _bool_get(not v), lambda v: isinstance(v, bool)),
}
"""The standard parameter types of kernel/params.c with their kstrto*() parsers and
printf formats; `bool` alone may be given without a value."""

_PYTHON_TYPES: Final[dict[type, str]] = {int: "int", bool: "bool", str: "charp"}


# -- declarations recorded on a driver module -----------------------------------------------------


@dataclass
class ParamDecl:
    """One `module_param` declaration (the variable lives in the module's globals)."""

    name: str
    type: ParamType
    perm: int


@dataclass
class ModInfo:
    """What a module declares — the .modinfo section and the init/exit pointers."""

    init: Callable[[], Any] | None = None
    exit: Callable[[], Any] | None = None
    params: dict[str, ParamDecl] = field(default_factory=dict)
    param_descs: dict[str, str] = field(default_factory=dict)
    device_tables: list[tuple[str, Sequence[UsbIdFields]]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)

    def get_all(self, tag: str) -> list[str]:
        return [value for key, value in self.tags if key == tag]

    def get(self, tag: str) -> str | None:
        values = self.get_all(tag)
        return values[0] if values else None

    @property
    def depends(self) -> list[str]:
        """Modules this one needs loaded first (modinfo `depends`, comma-separated)."""
        return [_normalize(name) for value in self.get_all("depends")
                for name in value.split(",") if name]

    @property
    def aliases(self) -> list[str]:
        """modinfo `alias` entries: explicit MODULE_ALIAS()es, then the device tables'
        file2alias patterns, in that order (the module's object before its .mod.o)."""
        found = self.get_all("alias")
        for _bus, table in self.device_tables:
            found.extend(line.split(" ", 2)[1] for line in modules_alias_lines("-", table))
        return found


def _caller_info(depth: int = 2) -> ModInfo:
    """The ModInfo of the module whose top level (or function) called the declaration."""
    namespace: dict[str, Any] = sys._getframe(depth).f_globals
    info = namespace.get(_MODINFO)
    if not isinstance(info, ModInfo):
        info = namespace[_MODINFO] = ModInfo()
    return info


_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T", bound=Sequence[UsbIdFields])
_UNSET: Final[Any] = object()


def module_init(fn: _F) -> _F:
    """module_init(fn): `fn()` (plain or `async`) runs when the module is loaded; it
    returns None/0 or a negative errno (or raises OSError) to refuse the load.  Usable as
    a decorator; returns `fn`.  Context: called at import time."""
    _caller_info().init = fn
    return fn


def module_exit(fn: _F) -> _F:
    """module_exit(fn): `fn()` (plain or `async`) runs when the module is removed.  A
    module with an init but no exit cannot be removed ("[permanent]").  Returns `fn`."""
    _caller_info().exit = fn
    return fn


def module_param(name: str, type: str | type, perm: int = 0, *, default: Any = _UNSET,
                 description: str | None = None) -> Any:
    """module_param(name, type, perm): the module global `name` becomes a parameter;
    returns its default value.

    `type` is a kernel type name ("byte", "short", "ushort", "int", "uint", "long",
    "ulong", "ullong", "hexint", "charp", "bool", "invbool") or int/bool/str.  `default`
    sets the global — write `debug = module_param("debug", bool, 0o644, default=False)`
    so that linters see the variable; without it the global must exist already
    (`vendor = 0` before `module_param("vendor", "ushort", 0)`, as in C).  Loading the
    module with `debug=1` or writing the sysfs file rebinds the global, so code reads
    the current value by its name.  `perm` is the mode of
    /sys/module/<module>/parameters/<name> (0: no file); like the kernel's
    VERIFY_OCTAL_PERMISSIONS it may not be world-writable.  Raises ValueError/TypeError
    for a bad declaration.  Context: called at import time."""
    info = _caller_info()
    namespace: dict[str, Any] = sys._getframe(1).f_globals
    type_name = _PYTHON_TYPES.get(type, "") if isinstance(type, builtins.type) else type
    ops = PARAM_TYPES.get(type_name)
    if ops is None:
        raise ValueError(f"module_param({name!r}): unknown type {type!r}; use one of "
                         f"{', '.join(PARAM_TYPES)}")
    if not name.isidentifier():
        raise ValueError(f"module_param({name!r}): a parameter is named like a variable")
    if not 0 <= perm <= 0o777 or perm & 0o002:
        raise ValueError(f"module_param({name!r}): perm {perm:#o} must be 0..0o777 and "
                         "not world-writable")
    if default is _UNSET and name not in namespace:
        raise ValueError(f"module_param({name!r}): declare `{name} = <default>` first or "
                         "pass default=")
    value = namespace[name] if default is _UNSET else default
    if not ops.accepts(value):
        raise TypeError(f"module_param({name!r}): {value!r} is not a {ops.name} value")
    namespace[name] = value
    info.params[name] = ParamDecl(name, ops, perm)
    info.tags.append(("parmtype", f"{name}:{ops.name}"))
    if description is not None:
        _param_desc(info, name, description)
    return namespace[name]


def _param_desc(info: ModInfo, name: str, description: str) -> None:
    info.param_descs[name] = description
    info.tags.append(("parm", f"{name}:{description}"))


def module_param_desc(name: str, description: str) -> None:
    """MODULE_PARM_DESC(name, description): shown by modinfo, kept in `KernelParam`."""
    _param_desc(_caller_info(), name, description)


def module_device_table(bus: str, table: _T) -> _T:
    """MODULE_DEVICE_TABLE(usb, table): declare an id table for depmod's modules.alias
    and modules.usbmap; returns the table.  Raises ValueError for a bus other than usb."""
    if bus != "usb":
        raise ValueError(f"MODULE_DEVICE_TABLE({bus!r}, …): only usb device tables exist "
                         "here")
    _caller_info().device_tables.append((bus, table))
    return table


def _tag(tag: str, value: str) -> None:
    _caller_info(3).tags.append((tag, value))


def module_alias(alias: str) -> None:
    """MODULE_ALIAS(alias): an extra modules.alias pattern for this module."""
    _tag("alias", alias)


def module_license(license: str) -> None:
    """MODULE_LICENSE(license)."""
    _tag("license", license)


def module_author(author: str) -> None:
    """MODULE_AUTHOR(author)."""
    _tag("author", author)


def module_description(description: str) -> None:
    """MODULE_DESCRIPTION(description)."""
    _tag("description", description)


def module_version(version: str) -> None:
    """MODULE_VERSION(version): shown as /sys/module/<module>/version."""
    _tag("version", version)


def module_info(tag: str, info: str) -> None:
    """MODULE_INFO(tag, info): any modinfo entry; `depends` (comma-separated module names,
    as modpost writes it) makes modprobe load those first and insmod refuse without them."""
    _tag(tag, info)


# -- refcounts -----------------------------------------------------------------------------------

_this_module: ContextVar[Module | None] = ContextVar("usbemu_this_module", default=None)


def this_module() -> Module | None:
    """THIS_MODULE: the module whose code is being loaded (its top level), or whose init
    or exit is running; None elsewhere.  The driver core makes it the owner of drivers
    registered meanwhile.  Context: any."""
    return _this_module.get()


def try_module_get(module: Module | None) -> bool:
    """try_module_get(): take a reference (rmmod refuses while any is held); False when
    the module is being removed.  None (no owner) and built-in modules always succeed
    without counting.  Context: atomic."""
    if module is None or module.builtin:
        return True
    if module.state is ModuleState.GOING:
        return False
    module._refcnt += 1
    return True


def module_put(module: Module | None) -> None:
    """module_put(): drop a reference taken by try_module_get.  An unbalanced put is
    logged as a warning and ignored.  Context: atomic."""
    if module is None or module.builtin:
        return
    if module._refcnt <= 0:
        module._warn(f"module_put: {module.name}: refcount already 0")
        return
    module._refcnt -= 1


def module_refcount(module: Module) -> int:
    """module_refcount(): references held (try_module_get and using modules)."""
    return module._refcnt


# -- modules ---------------------------------------------------------------------------------------


class ModuleState(Enum):
    """enum module_state, with the words /sys/module/*/initstate uses."""

    UNFORMED = "unformed"
    COMING = "coming"
    LIVE = "live"
    GOING = "going"


_TRANSITIONS: Final[dict[ModuleState, frozenset[ModuleState]]] = {
    ModuleState.UNFORMED: frozenset({ModuleState.COMING, ModuleState.GOING}),
    ModuleState.COMING: frozenset({ModuleState.LIVE, ModuleState.GOING}),
    ModuleState.LIVE: frozenset({ModuleState.GOING}),
    ModuleState.GOING: frozenset(),
}


@dataclass(frozen=True)
class ModuleSource:
    """Where a module's code comes from: a file (`path`) or an importable module
    (`target`, a dotted name); `installed` when modprobe and depmod see it."""

    name: str
    target: str
    origin: str  #: "installed", "entry point", "example", "file"
    installed: bool = True

    @property
    def path(self) -> Path | None:
        if self.target.endswith(".py") or "/" in self.target or "\\" in self.target:
            return Path(self.target)
        return None

    def __str__(self) -> str:
        return self.target


class KernelParam:
    """struct kernel_param bound to its module: the value is the module's global."""

    def __init__(self, decl: ParamDecl, description: str | None,
                 namespace: dict[str, Any]) -> None:
        self.name = decl.name
        self.type = decl.type
        self.perm = decl.perm
        self.description = description
        self._namespace = namespace

    def __repr__(self) -> str:
        return f"<KernelParam {self.name}:{self.type.name}={self.value!r}>"

    @property
    def value(self) -> Any:
        return self._namespace[self.name]

    def set(self, text: str) -> int:
        """ops->set(): parse `text` and store it; 0 or a negative errno (the value is
        unchanged on error).  Context: atomic."""
        try:
            self._store(text)
        except _BadValue as exc:
            return exc.code
        return 0

    def _store(self, text: str) -> None:
        self._namespace[self.name] = self.type.set(text)

    def show(self) -> str:
        """ops->get(): the value as the parameter file shows it (with the newline)."""
        return self.type.get(self.value)


class Module:
    """struct module: one loaded (or built-in) module.  Read its state through the
    attributes; the tools in `KernelModules` change it."""

    def __init__(self, name: str, *, source: ModuleSource | None = None,
                 builtin: bool = False, warn: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.source = source
        self.pymodule: ModuleType | None = None
        self.info = ModInfo()
        self.builtin = builtin
        self.size = 0
        self.state = ModuleState.LIVE if builtin else ModuleState.UNFORMED
        self.args = ""
        self.params: dict[str, KernelParam] = {}
        self.uses: list[Module] = []     #: modules this one depends on (target_list)
        self.holders: list[Module] = []  #: modules that depend on this one (source_list)
        self.sysfs = builtin             #: its /sys/module directory exists
        self._refcnt = 0
        self._warn = warn or (lambda text: None)
        self._done: asyncio.Event | None = None   # set when loading has ended

    def __repr__(self) -> str:
        return f"<Module {self.name} {self.state.value}>"

    def _attach(self, pymodule: ModuleType, info: ModInfo, size: int) -> None:
        """The code has been read: its declarations become the module's."""
        self.pymodule = pymodule
        self.info = info
        self.size = size
        namespace = vars(pymodule)
        self.params = {name: KernelParam(decl, info.param_descs.get(name), namespace)
                       for name, decl in info.params.items()}

    @property
    def refcnt(self) -> int:
        return self._refcnt

    def try_module_get(self) -> bool:
        """`try_module_get(self)` (what the char-device layer calls on an owner)."""
        return try_module_get(self)

    def module_put(self) -> None:
        """`module_put(self)`."""
        module_put(self)

    @property
    def permanent(self) -> bool:
        """An init without an exit: the module can never be removed."""
        return self.info.init is not None and self.info.exit is None

    def set_state(self, new: ModuleState) -> None:
        """The one transition function of the module state machine; raises
        IllegalStateTransition for an illegal transition."""
        if new not in _TRANSITIONS[self.state]:
            raise IllegalStateTransition(f"module {self.name}: illegal state change "
                               f"{self.state.value} -> {new.value}")
        self.state = new


# -- finding and executing module code ------------------------------------------------------------


def _examples_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    return [here.parents[1], here.parents[3]]


class _NoCode(FileNotFoundError):
    """The module's file or importable module does not exist."""


def _exec(source: ModuleSource) -> ModuleType:
    """Execute a fresh copy of the module's code (a new module object each time, as each
    insmod maps the .ko anew).  Raises _NoCode when there is no such code, and whatever
    the code raises."""
    path = source.path
    if path is not None:
        if not path.is_file():
            raise _NoCode(Errno.ENOENT, strerror(Errno.ENOENT), str(path))
        spec = importlib.util.spec_from_file_location(source.name, path)
    else:
        try:
            spec = importlib.util.find_spec(source.target)
        except ModuleNotFoundError as exc:
            raise _NoCode(Errno.ENOENT, str(exc), source.target) from exc
    if spec is None or spec.loader is None:
        raise _NoCode(Errno.ENOENT, strerror(Errno.ENOENT), source.target)
    pymodule = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(spec.name)
    sys.modules[spec.name] = pymodule   # as during any import
    try:
        spec.loader.exec_module(pymodule)
    finally:
        if previous is None:
            sys.modules.pop(spec.name, None)
        else:
            sys.modules[spec.name] = previous
    return pymodule


def _source_size(source: ModuleSource, pymodule: ModuleType) -> int:
    """/proc/modules size: the source's length rounded up to pages, plus a data page."""
    origin = source.path or (Path(pymodule.__file__) if pymodule.__file__ else None)
    try:
        length = origin.stat().st_size if origin is not None else 0
    except OSError:
        length = 0
    return (length + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE + PAGE_SIZE


# -- kernel/params.c: parse_args -------------------------------------------------------------------

_SPACE: Final = " \t\n\v\f\r"


def _skip_spaces(text: str) -> str:
    return text.lstrip(_SPACE)


def next_arg(args: str) -> tuple[str, str | None, str]:
    """next_arg(): split `param[=value]` off the front of `args`; returns (param, value or
    None, rest).  `"` quotes spaces (not escapable) and is dropped around the value or the
    whole argument; rest has its leading spaces chewed.  Context: pure."""
    quoted = in_quote = args[:1] == '"'
    if quoted:
        args = args[1:]
    buf = list(args)
    equals = 0
    i = 0
    while i < len(buf):
        if buf[i] in _SPACE and not in_quote:
            break
        if equals == 0 and buf[i] == "=":
            equals = i
        if buf[i] == '"':
            in_quote = not in_quote
        i += 1
    val_start = -1
    if equals:
        buf[equals] = "\0"
        val_start = equals + 1
        if val_start < i and buf[val_start] == '"':
            val_start += 1
            if buf[i - 1] == '"':
                buf[i - 1] = "\0"
    if quoted and i > 0 and buf[i - 1] == '"':
        buf[i - 1] = "\0"
    param = "".join(buf[:i]).split("\0", 1)[0]
    value = "".join(buf[val_start:i]).split("\0", 1)[0] if equals else None
    return param, value, _skip_spaces(args[i + 1:] if i < len(args) else "")


def _parameq(a: str, b: str) -> bool:
    return a.replace("-", "_") == b.replace("-", "_")


def _format_options(args: Iterable[str], params: Mapping[str, object]) -> str:
    """The option string modprobe passes (options_from_array): arguments joined by
    spaces, a value with a space and no quote of its own wrapped in double quotes.
    Keyword values: True/False → 1/0, None → the bare name, others str()."""
    words = list(args)
    for key, value in params.items():
        if value is None:
            words.append(key)
        elif isinstance(value, bool):
            words.append(f"{key}={int(value)}")
        else:
            words.append(f"{key}={value}")
    out = []
    for word in words:
        key, eq, value = word.partition("=")
        if eq and value[:1] not in ('"', "'") and " " in value:
            word = f'{key}="{value}"'
        out.append(word)
    return " ".join(out)


# -- depmod -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepmodEntry:
    """What depmod learnt of one available module."""

    name: str
    source: ModuleSource
    aliases: tuple[str, ...]
    usb_ids: tuple[UsbIdFields, ...]


@dataclass(frozen=True)
class Depmod:
    """depmod's output: the available modules' aliases and usb ids, and the modules it
    could not read (name, reason)."""

    modules: tuple[DepmodEntry, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()

    def modules_alias(self) -> str:
        """/lib/modules/<release>/modules.alias as kmod's depmod writes it."""
        lines = ["# Aliases extracted from modules themselves.\n"]
        for entry in self.modules:
            lines.extend(f"alias {alias} {entry.name}\n" for alias in entry.aliases)
        return "".join(lines)

    def modules_usbmap(self) -> str:
        """modules.usbmap as module-init-tools' depmod writes it: every id up to the
        first entry whose idVendor, bDeviceClass, bInterfaceClass and driver_info are 0."""
        lines = [usbmap_header()]
        for entry in self.modules:
            for id in entry.usb_ids:
                info = id.driver_info
                info_nonzero = info is not None and (not isinstance(info, int) or info != 0)
                if not (id.idVendor or id.bDeviceClass or id.bInterfaceClass or info_nonzero):
                    break
                lines.append(usbmap_line(entry.name, id))
        return "".join(lines)

    def lookup(self, modalias: str) -> list[str]:
        """Modules with an alias matching `modalias` (fnmatch), in modules.alias order."""
        found: list[str] = []
        for entry in self.modules:
            if entry.name not in found and any(alias_matches(alias, modalias)
                                               for alias in entry.aliases):
                found.append(entry.name)
        return found


# -- the module subsystem --------------------------------------------------------------------------


class KernelModules:
    """The modules of one machine: the loaded-module list, the tools (insmod, rmmod,
    modprobe, lsmod, depmod), their files (/proc/modules, /sys/module, /lib/modules) and
    udev's autoload.  Context: the tools are coroutines (init and exit may sleep); views
    are atomic."""

    def __init__(self, driver_core: DriverCore, log: Printk, release: str, *,
                 autoload: bool = True) -> None:
        self.driver_core = driver_core
        self.log = log
        self.release = release
        #: udev loads modules for the MODALIAS of "add" uevents.
        self.autoload = autoload
        #: (MODALIAS, error) for each autoload that failed, as udev's log would show.
        self.autoload_errors: list[tuple[str, ModuleError]] = []
        self._modules: list[Module] = []   # newest first, as /proc/modules lists them
        self._builtin = {name: Module(name, builtin=True) for name in BUILTIN_MODULES}
        self._installed: dict[str, ModuleSource] = {
            name: ModuleSource(name, target, "installed")
            for name, target in INSTALLED_MODULES.items()}
        self._depmod: Depmod | None = None
        driver_core.listeners.append(self._udev)

    # -- lookups ----------------------------------------------------------------------------

    def get(self, name: str) -> Module | None:
        """The loaded or built-in module `name` (`-` and `_` alike), else None."""
        name = _normalize(name)
        return next((m for m in self._modules if m.name == name), self._builtin.get(name))

    @property
    def loaded(self) -> list[Module]:
        """Loaded modules (not built-in ones), newest first."""
        return [m for m in self._modules if m.state is not ModuleState.UNFORMED]

    def drivers_of(self, module: Module) -> list[Driver]:
        """The drivers `module` owns, bus by bus."""
        return [drv for bus in self.driver_core.buses.values() for drv in bus.drivers
                if drv.owner is module]

    def available(self) -> dict[str, ModuleSource]:
        """Installed modules modprobe can load: usbemu's table, `install()`ed ones, then
        the `usbemu.drivers` entry points of installed packages (sorted by name)."""
        found = dict(self._installed)
        for plugin in DRIVER_MODULES.available().values():
            if plugin.origin == PLUGIN:
                name = _normalize(plugin.name)
                found.setdefault(name, ModuleSource(name, plugin.module, "entry point"))
        return found

    def _find_example(self, name: str) -> ModuleSource | None:
        relative = EXAMPLE_MODULES.get(name)
        if relative is None:
            return None
        for base in _examples_dirs():
            candidate = base / relative
            if candidate.is_file():
                return ModuleSource(name, str(candidate), "example", installed=False)
        return None

    def resolve(self, path_or_name: str | os.PathLike[str]) -> ModuleSource | None:
        """What insmod loads for its argument: a file (a path, or anything ending in .py),
        else an available module, else an example shipped with usbemu; None if nothing."""
        text = os.fspath(path_or_name)
        if not isinstance(path_or_name, str) or text.endswith(".py") or os.sep in text \
                or "/" in text:
            path = Path(text)
            return ModuleSource(_normalize(path.stem), text, "file", installed=False)
        name = _normalize(text)
        return self.available().get(name) or self._find_example(name)

    def install(self, name_or_path: str | os.PathLike[str],
                target: str | None = None) -> ModuleSource:
        """`make modules_install`: make a module available to modprobe, depmod and
        autoload — an example or file (by name or path), or `name` with an import path
        or file `target`.  Re-runs depmod lazily.  Raises FileNotFoundError when
        `name_or_path` names nothing."""
        if target is not None:
            source = ModuleSource(_normalize(os.fspath(name_or_path)), target, "installed")
        else:
            found = self.resolve(name_or_path)
            if found is None:
                raise FileNotFoundError(Errno.ENOENT, "no such module",
                                        os.fspath(name_or_path))
            source = ModuleSource(found.name, found.target, "installed")
        self._installed[source.name] = source
        self._depmod = None
        return source

    # -- depmod -----------------------------------------------------------------------------

    def depmod(self) -> Depmod:
        """depmod -a: import every available module afresh and collect its aliases and
        usb ids; a module that fails to import is left out and listed in `errors`.
        Context: atomic (runs module top levels, never their init)."""
        entries: list[DepmodEntry] = []
        errors: list[tuple[str, str]] = []
        token = _this_module.set(None)
        try:
            for name, source in self.available().items():
                try:
                    pymodule = _exec(source)
                except Exception as exc:
                    errors.append((name, f"{type(exc).__name__}: {exc}"))
                    continue
                info = vars(pymodule).get(_MODINFO)
                if not isinstance(info, ModInfo):
                    continue
                ids = tuple(id for _bus, table in info.device_tables for id in table)
                entries.append(DepmodEntry(name, source, tuple(info.aliases), ids))
        finally:
            _this_module.reset(token)
        self._depmod = Depmod(tuple(entries), tuple(errors))
        return self._depmod

    def _depmod_current(self) -> Depmod:
        return self._depmod if self._depmod is not None else self.depmod()

    # -- the kernel side: load_module / delete_module ---------------------------------------

    def _prepare(self, source: ModuleSource) -> Module:
        """Read the module: execute its code with THIS_MODULE set (ENOEXEC if that fails
        or it is not a module).  Raises _NoCode when the code is not there."""
        mod = Module(source.name, source=source, warn=self._warning)
        token = _this_module.set(mod)
        try:
            pymodule = _exec(source)
        except _NoCode:
            raise
        except Exception as exc:
            raise _Refused(-Errno.ENOEXEC, f"{source.name}: importing {source} raised "
                                           f"{type(exc).__name__}: {exc}") from exc
        finally:
            _this_module.reset(token)
        info = vars(pymodule).get(_MODINFO)
        if not isinstance(info, ModInfo) or (info.init is None and info.exit is None):
            raise _Refused(-Errno.ENOEXEC, f"{source} is not a kernel module: it calls "
                           "neither module_init() nor module_exit() — add e.g. "
                           f"`module_init({source.name}_init)` and "
                           f"`module_exit({source.name}_exit)` after those functions "
                           "(from usbemu.linux or usbemu.kernel.module)")
        mod._attach(pymodule, info, _source_size(source, pymodule))
        return mod

    def _warning(self, text: str) -> None:
        self.log.log(Level.WARNING, text)

    async def _load_module(self, mod: Module, args: str) -> None:
        """init_module(2) → load_module(): take the name, link the dependencies, parse
        the arguments, create /sys/module/<name>, run the init.  Raises _Refused with the
        negative errno the system call returns.  Context: may sleep."""
        while True:  # module_patient_check_exists()
            old = self.get(mod.name)
            if old is None:
                break
            if old._done is not None and not old._done.is_set():
                await old._done.wait()
                continue
            raise _Refused(-Errno.EEXIST)
        mod._done = asyncio.Event()
        self._modules.insert(0, mod)
        try:
            await self._load_formed(mod, args)
        except BaseException:
            self._free(mod)
            raise
        finally:
            mod._done.set()

    async def _load_formed(self, mod: Module, args: str) -> None:
        # simplify_symbols(): every module we use must be there
        for dep in mod.info.depends:
            used = self.get(dep)
            if used is None or used.state is not ModuleState.LIVE:
                raise _Refused(-Errno.ENOENT, f"{mod.name}: needs module {dep}, which is "
                                              "not loaded")
            if not used.builtin:
                used._refcnt += 1            # ref_module()
                used.holders.append(mod)
                mod.uses.append(used)
        mod.args = args
        mod.set_state(ModuleState.COMING)
        err, after_dashes = self._parse_args(mod, args)
        if err:
            raise _Refused(err)
        if after_dashes is not None:
            self._warning(f"{mod.name}: parameters '{after_dashes}' after `--' ignored")
        mod.sysfs = True
        await self._do_init_module(mod)

    async def _do_init_module(self, mod: Module) -> None:
        """do_init_module(): run the init with THIS_MODULE set; a negative result (or an
        OSError) fails the load; a positive one is suspicious but loads; any other
        exception is an oops that fails the load with -EFAULT."""
        init = mod.info.init
        ret = 0
        if init is not None:
            token = _this_module.set(mod)
            try:
                result = init()
                if inspect.isawaitable(result):
                    result = await result
                if result is None:
                    ret = 0
                elif isinstance(result, int):
                    ret = int(result)
                else:
                    raise TypeError(f"init returned {result!r}: return None/0 or a "
                                    "negative errno")
            except OSError as exc:
                ret = -(exc.errno or Errno.EIO)
            except Exception as exc:
                self.driver_core.oops(f"init of module {mod.name}", exc)
                await self._drop_drivers(mod)
                raise _Refused(-Errno.EFAULT, f"{mod.name}: init raised "
                                              f"{type(exc).__name__}: {exc}") from exc
            finally:
                _this_module.reset(token)
        if ret < 0:
            await self._drop_drivers(mod)
            raise _Refused(ret)
        if ret > 0:
            self._warning(f"do_init_module: '{mod.name}'->init suspiciously returned {ret},"
                          " it should follow 0/-E convention")
            self._warning("do_init_module: loading module anyway...")
        mod.set_state(ModuleState.LIVE)

    def _free(self, mod: Module) -> None:
        """free_module(): off the list, references on the modules it used dropped."""
        if mod.state is not ModuleState.GOING:
            mod.set_state(ModuleState.GOING)
        for used in mod.uses:
            used._refcnt -= 1
            used.holders.remove(mod)
        mod.uses.clear()
        mod.sysfs = False
        if mod in self._modules:
            self._modules.remove(mod)

    async def _drop_drivers(self, mod: Module) -> None:
        """Unregister drivers a failed or finished module left registered (Linux would
        crash on them later; here the machine goes on, with a warning)."""
        for drv in self.drivers_of(mod):
            self._warning(f"{mod.name}: driver {drv.name} still registered after the "
                          "module's code is gone; unregistering it")
            await self.driver_core.driver_unregister(drv)

    def _parse_args(self, mod: Module, args: str) -> tuple[int, str | None]:
        """parse_args(mod->name, args, mod->kp, …, unknown_module_param_cb): 0 or the
        last error, and what followed a `--` (None without one)."""
        err = 0
        args = _skip_spaces(args)
        while args:
            param, val, args = next_arg(args)
            if val is None and param == "--":
                return err, args
            ret = self._parse_one(mod, param, val)
            if ret == 0:
                continue
            if ret == -Errno.ENOENT:
                self.log.log(Level.ERR, f"{mod.name}: Unknown parameter `{param}'")
            elif ret == -Errno.ENOSPC:
                self.log.log(Level.ERR, f"{mod.name}: `{val or ''}' too large for parameter "
                                        f"`{param}'")
            else:
                self.log.log(Level.ERR, f"{mod.name}: `{val or ''}' invalid for parameter "
                                        f"`{param}'")
            err = ret
        return err, None

    def _parse_one(self, mod: Module, param: str, val: str | None) -> int:
        for kp in mod.params.values():
            if _parameq(param, kp.name):
                if val is None and not kp.type.noarg:
                    return -Errno.EINVAL
                try:
                    kp._store("1" if val is None else val)
                except _BadValue as exc:
                    if exc.code == -Errno.ENOSPC:
                        self.log.log(Level.ERR, f"{kp.name}: {exc}")
                    return exc.code
                return 0
        # unknown_module_param_cb(): async_probe and dyndbg are the kernel's own
        if param not in ("async_probe", "dyndbg"):
            self._warning(f"{mod.name}: unknown parameter '{param}' ignored")
        return 0

    async def delete_module(self, name: str) -> int:
        """delete_module(2): 0, -ENOENT (not loaded), -EWOULDBLOCK (used by other modules
        or referenced), -EBUSY (not live, or permanent).  Runs the exit with THIS_MODULE
        set; an exception in it is an oops, and the module goes anyway.  Context: may
        sleep."""
        mod = next((m for m in self._modules if m.name == _normalize(name)), None)
        if mod is None:
            return -Errno.ENOENT
        if mod.holders:
            return -Errno.EAGAIN
        if mod.state is not ModuleState.LIVE or mod.permanent:
            return -Errno.EBUSY
        if mod._refcnt:
            return -Errno.EAGAIN
        mod.set_state(ModuleState.GOING)
        exit_fn = mod.info.exit
        if exit_fn is not None:
            token = _this_module.set(mod)
            try:
                result = exit_fn()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self.driver_core.oops(f"exit of module {mod.name}", exc)
            finally:
                _this_module.reset(token)
        await self._drop_drivers(mod)
        self._free(mod)
        return 0

    async def builtin_init(self, name: str, init: Callable[[], Awaitable[None]]) -> None:
        """Run a built-in module's initcall (usbcore's usb_init at boot); the drivers it
        registers belong to that module (/sys/module/<name>/drivers).  Context: may
        sleep."""
        module = self._builtin[name]
        before = {id(d) for bus in self.driver_core.buses.values() for d in bus.drivers}
        await init()
        for bus in self.driver_core.buses.values():
            for drv in bus.drivers:
                if id(drv) not in before and drv.owner is None:
                    drv.owner = module

    # -- the tools ----------------------------------------------------------------------------

    async def insmod(self, path_or_name: str | os.PathLike[str], /, *args: str,
                     **params: object) -> Module:
        """insmod FILE [param=value …]: load one module, without dependencies, from a file
        or by name (an installed module or a usbemu example); returns it.  Parameters are
        `name=value` strings or keywords (vendor=0xffff).  Raises ModuleError as kmod's
        insmod fails: ENOENT "could not load module X: No such file or directory",
        "could not insert module X: File exists" (EEXIST), "… Invalid parameters"
        (EINVAL), "… Unknown symbol in module" (ENOENT: a dependency is not loaded),
        "… Invalid module format" (ENOEXEC: the code fails to import or is not a module),
        or the init's error.  Context: may sleep."""
        arg = os.fspath(path_or_name)
        source = self.resolve(path_or_name)
        not_found = ModuleError(-Errno.ENOENT, f"insmod: ERROR: could not load module {arg}: "
                                               f"{strerror(Errno.ENOENT)}", arg)
        if source is None:
            raise not_found
        try:
            mod = self._prepare(source)
        except _NoCode:
            raise not_found from None
        except _Refused as exc:
            raise self._insmod_error(arg, exc) from exc.__cause__
        try:
            await self._load_module(mod, _format_options(args, params))
        except _Refused as exc:
            raise self._insmod_error(arg, exc) from exc.__cause__
        return mod

    def _insmod_error(self, arg: str, exc: _Refused) -> ModuleError:
        return self._error(exc.code, f"insmod: ERROR: could not insert module {arg}: "
                                     f"{_mod_strerror(exc.code)}", arg, exc.notes)

    @staticmethod
    def _error(code: int, message: str, name: str, notes: Sequence[str] = ()) -> ModuleError:
        error = ModuleError(code, message, name)
        for note in notes:
            error.add_note(note)
        return error

    async def rmmod(self, name: str, /) -> None:
        """rmmod NAME: remove a module (a path is taken by its module name).  Raises
        ModuleError as kmod's rmmod fails: "Module usbcore is builtin." and "Module X is
        not currently loaded" (ENOENT), "Module X is in use by: A B" and "Module X is in
        use" (EBUSY: a file is open on one of its devices, or another module needs it),
        "could not remove module X: Device or resource busy" (a permanent module, or one
        still loading).  Context: may sleep."""
        arg = name
        name = _normalize(Path(name).stem if name.endswith((".py", ".ko")) else name)
        if name in self._builtin:
            raise ModuleError(-Errno.ENOENT, f"rmmod: ERROR: Module {name} is builtin.", name)
        mod = next((m for m in self._modules if m.name == name), None)
        if mod is None or mod.state is ModuleState.UNFORMED:
            raise ModuleError(-Errno.ENOENT,
                              f"rmmod: ERROR: Module {name} is not currently loaded", name)
        if mod.holders:
            users = " ".join(m.name for m in mod.holders)
            raise ModuleError(-Errno.EBUSY, f"rmmod: ERROR: Module {name} is in use by: "
                                            f"{users}", name)
        if mod.refcnt:
            raise ModuleError(-Errno.EBUSY, f"rmmod: ERROR: Module {name} is in use", name)
        err = await self.delete_module(name)
        if err:
            raise ModuleError(err, f"rmmod: ERROR: could not remove module {arg}: "
                                   f"{strerror(err)}", name)

    async def modprobe(self, name: str, /, *args: str, **params: object) -> None:
        """modprobe NAME [param=value …]: load an installed module (or every module whose
        alias matches NAME, such as a MODALIAS) with the modules it depends on first;
        loaded and built-in modules are left alone (success).  Raises ModuleError as
        kmod's modprobe fails: "modprobe: FATAL: Module X not found in directory
        /lib/modules/<release>" (ENOENT), "modprobe: ERROR: could not insert 'X': <error>"
        (EINVAL "Invalid argument" for a bad parameter, ENOEXEC …).  Context: may sleep."""
        await self._modprobe(name, _format_options(args, params))

    async def _modprobe(self, name: str, options: str) -> None:
        normalized = _normalize(name)
        if normalized in self._builtin:
            return
        available = self.available()
        if normalized in available:
            targets = [normalized]
        else:
            targets = self._depmod_current().lookup(name)
            if not targets:
                raise ModuleError(-Errno.ENOENT, f"modprobe: FATAL: Module {name} not found "
                                                 f"in directory /lib/modules/{self.release}",
                                  name)
        for target in targets:
            await self._probe_insert(target, options, available, [])

    async def _probe_insert(self, name: str, options: str,
                            available: Mapping[str, ModuleSource], chain: list[str]) -> None:
        """kmod_module_probe_insert_module(): dependencies first, then the module."""
        if name in self._builtin or self.get(name) is not None:
            return
        source = available.get(name)
        if source is None:
            raise ModuleError(-Errno.ENOENT, f"modprobe: FATAL: Module {name} not found in "
                                             f"directory /lib/modules/{self.release}", name)
        try:
            mod = self._prepare(source)
        except _NoCode as exc:
            raise self._modprobe_error(name, -Errno.ENOENT, ()) from exc
        except _Refused as exc:
            raise self._modprobe_error(name, exc.code, exc.notes) from exc.__cause__
        for dep in mod.info.depends:
            if dep in chain:
                raise ModuleError(-Errno.ELOOP, f"modprobe: ERROR: found possible cyclic "
                                                f"dependency involving {dep}", dep)
            await self._probe_insert(dep, "", available, [*chain, name])
        if self.get(name) is not None:   # loaded meanwhile (another autoload)
            return
        try:
            await self._load_module(mod, options)
        except _Refused as exc:
            if exc.code == -Errno.EEXIST:
                return
            raise self._modprobe_error(name, exc.code, exc.notes) from exc.__cause__

    def _modprobe_error(self, name: str, code: int, notes: Sequence[str]) -> ModuleError:
        if code == -Errno.EEXIST:
            text = "Module already in kernel"
        elif code == -Errno.ENOENT:
            text = "Unknown symbol in module, or unknown parameter (see dmesg)"
        else:
            text = strerror(code)
        return self._error(code, f"modprobe: ERROR: could not insert '{name}': {text}", name,
                           notes)

    async def modprobe_remove(self, name: str, /) -> None:
        """modprobe -r NAME: remove an installed module (or the modules whose alias matches
        NAME), then the modules it used that nothing uses any more (kmod's rmmod_do_module;
        failures there are not errors).  Raises ModuleError as kmod's modprobe -r fails:
        "modprobe: FATAL: Module X not found." (not installed, not an alias),
        "… Module X is builtin.", "… Module X is not in kernel." (ENOENT),
        "… Module X is in use." (EBUSY: a holder or an open file), "modprobe: ERROR: could
        not remove 'X': <error>".  Context: may sleep."""
        normalized = _normalize(name)
        if normalized in self._builtin:
            raise ModuleError(-Errno.ENOENT, f"modprobe: FATAL: Module {normalized} is "
                                             "builtin.", normalized)
        if normalized in self.available():
            targets = [normalized]
        else:
            targets = self._depmod_current().lookup(name)
            if not targets:
                raise ModuleError(-Errno.ENOENT, f"modprobe: FATAL: Module {name} not found.",
                                  name)
        for target in targets:
            await self._remove_probed(target)

    async def _remove_probed(self, name: str) -> None:
        mod = self.get(name)
        if mod is None or mod.state is ModuleState.UNFORMED:
            raise ModuleError(-Errno.ENOENT, f"modprobe: FATAL: Module {name} is not in "
                                             "kernel.", name)
        if mod.refcnt:
            raise ModuleError(-Errno.EBUSY, f"modprobe: FATAL: Module {name} is in use.", name)
        used = list(mod.uses)
        err = await self.delete_module(name)
        if err:
            raise ModuleError(err, f"modprobe: ERROR: could not remove '{name}': "
                                   f"{strerror(err)}", name)
        for dep in used:
            if dep.refcnt == 0 and not dep.builtin:
                await self.delete_module(dep.name)

    # -- views --------------------------------------------------------------------------------

    def proc_modules(self) -> str:
        """/proc/modules: `name size refcnt holders, state address` per module, newest
        first; holders end in `,` (or `-` for none, `[permanent],` for no exit); the
        address is what an unprivileged reader sees."""
        lines = []
        for mod in self.loaded:
            used = "".join(f"{holder.name}," for holder in mod.holders)
            if mod.permanent:
                used += "[permanent],"
            state = {ModuleState.GOING: "Unloading",
                     ModuleState.COMING: "Loading"}.get(mod.state, "Live")
            lines.append(f"{mod.name} {mod.size} {mod.refcnt} {used or '-'} {state} "
                         "0x0000000000000000\n")
        return "".join(lines)

    def lsmod(self) -> str:
        """lsmod (kmod): "Module                  Size  Used by", then `%-19s %8ld  %d`
        and the holders joined by commas, newest module first."""
        lines = ["Module                  Size  Used by\n"]
        for mod in self.loaded:
            holders = ",".join(holder.name for holder in mod.holders)
            lines.append(f"{mod.name:<19} {mod.size:>8}  {mod.refcnt}"
                         f"{' ' + holders if holders else ''}\n")
        return "".join(lines)

    # -- files ----------------------------------------------------------------------------------

    def mount(self, vfs: Vfs) -> None:
        """Put /proc/modules, /sys/module and /lib/modules/<release> into `vfs`."""
        vfs.mount("/proc/modules", Attr(self.proc_modules))
        vfs.mount("/sys/module", StaticDir(compute=self._sys_module))
        vfs.mount(f"/lib/modules/{self.release}", StaticDir({
            "modules.alias": Attr(lambda: self._depmod_current().modules_alias()),
            "modules.usbmap": Attr(lambda: self._depmod_current().modules_usbmap()),
            "modules.builtin": Attr(lambda: "".join(f"{path}\n" for path
                                                    in BUILTIN_MODULES.values())),
        }))

    def _sys_module(self) -> dict[str, Node]:
        found: dict[str, Node] = {}
        for mod in [*self._builtin.values(), *self._modules]:
            node = self._module_dir(mod)
            if node is not None:
                found[mod.name] = node
        return found

    def _module_dir(self, mod: Module) -> StaticDir | None:
        """/sys/module/<name>: a loaded module's attributes; a built-in module only has
        parameters and drivers (and no directory without either)."""
        if not mod.sysfs:
            return None
        children: dict[str, Node] = {}
        params: dict[str, Node] = {kp.name: self._param_file(kp)
                                   for kp in mod.params.values() if kp.perm}
        if params:
            children["parameters"] = StaticDir(params)
        drivers: dict[str, Node] = {
            f"{drv.bus.name}:{drv.name}": Symlink(f"../../../bus/{drv.bus.name}/drivers/"
                                                  f"{drv.name}")
            for drv in self.drivers_of(mod) if drv.bus is not None}
        if drivers:
            children["drivers"] = StaticDir(drivers)
        if mod.builtin:
            return StaticDir(children) if children else None
        children.update({
            "coresize": Attr(lambda: f"{mod.size}\n"),
            "initsize": Attr(lambda: "0\n"),
            "initstate": Attr(lambda: f"{mod.state.value}\n"),
            "refcnt": Attr(lambda: f"{mod.refcnt}\n"),
            "taint": Attr(lambda: "\n"),
            "holders": StaticDir(compute=lambda: {h.name: Symlink(f"../../{h.name}")
                                                  for h in mod.holders}),
        })
        version = mod.info.get("version")
        if version is not None:
            children["version"] = Attr(lambda: f"{version}\n")
        return StaticDir(children)

    @staticmethod
    def _param_file(kp: KernelParam) -> Attr:
        """/sys/module/<module>/parameters/<name>, mode = perm (param_attr_show/store)."""
        async def store(data: bytes) -> int:
            err = kp.set(data.decode("utf-8", errors="replace"))
            return err if err else len(data)

        return Attr(show=kp.show if kp.perm & 0o444 else None,
                    store=store if kp.perm & 0o222 else None, mode=kp.perm)

    # -- udev -------------------------------------------------------------------------------------

    def _udev(self, event: Uevent) -> None:
        """udev's 80-drivers.rules: on "add" with a MODALIAS, `kmod load $MODALIAS` —
        started as a driver-core task when a matching module is not loaded.  Context:
        atomic (a uevent listener)."""
        if event.action == "add" and self.autoload:
            modalias = event.get("MODALIAS")
            if modalias:
                self._kmod_load(modalias)

    def _kmod_load(self, modalias: str) -> None:
        try:
            names = self._depmod_current().lookup(modalias)
        except Exception as exc:   # a broken installed package must not stop device_add
            error = ModuleError(-Errno.EIO, f"udev: kmod load {modalias}: {exc}", modalias)
            self.autoload_errors.append((modalias, error))
            return
        if any(self.get(name) is None for name in names):
            self.driver_core.spawn(self._autoload(modalias))

    async def _autoload(self, modalias: str) -> None:
        try:
            await self._modprobe(modalias, "")
        except ModuleError as exc:
            self.autoload_errors.append((modalias, exc))

    async def coldplug(self) -> None:
        """What `udevadm trigger` makes udev do for devices already present: load the
        modules their MODALIAS asks for (say, after `install()`); failures are recorded
        in `autoload_errors`.  Context: may sleep (the modules' init runs)."""
        for bus in tuple(self.driver_core.buses.values()):
            for dev in tuple(bus.devices):
                modalias = dict(bus.uevent(dev)).get("MODALIAS")
                if modalias:
                    await self._autoload(modalias)


_INSMOD_ERRORS: Final[dict[int, str]] = {
    Errno.ENOEXEC: "Invalid module format",
    Errno.ENOENT: "Unknown symbol in module",
    Errno.ESRCH: "Module has wrong symbol version",
    Errno.EINVAL: "Invalid parameters",
}


def _mod_strerror(code: int) -> str:
    """kmod insmod's mod_strerror()."""
    return _INSMOD_ERRORS.get(abs(code), strerror(code))
