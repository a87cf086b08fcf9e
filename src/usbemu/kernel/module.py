"""Loadable modules as their code sees them — counterpart of include/linux/module.h and
include/linux/moduleparam.h (struct module, module_init/module_exit, MODULE_DEVICE_TABLE,
MODULE_LICENSE and the other modinfo tags, module_param, THIS_MODULE) and of the reference
counting of kernel/module/main.c (try_module_get, module_put, ref_module).

A driver module is a Python module that declares what a .ko carries: `module_init(fn)` and
`module_exit(fn)`, typed parameters (`module_param("vendor", "ushort", 0o444, default=0)`;
the parameter *is* the module's global variable, as in C; `module_param_cb` with the
module's own parser and `module_param_string` for a string of bounded length), device tables
(`module_device_table("usb", table)`), and modinfo (`module_license`, `module_alias`,
`module_info("depends", "usbserial")` …).  The declarations are recorded on the calling
module, so importing a module runs nothing but its top level.

`Module` is struct module: its state machine (unformed → coming → live → going), its
parameters (kernel/params.py), the modules it uses and the modules that hold it, and its
reference count.  `try_module_get` fails once the module is going away; while references
or holders remain, delete_module refuses to remove it.  Code that runs as the module's own
(its top level while it is read, its init and exit) sees it as `this_module()`, and the
driver core makes it the owner of the drivers registered meanwhile (`driver.owner`).

Nothing here loads or removes a module: kernel/module_loader.py is load_module and
delete_module, kernel/kmod.py the user-space tools.  Not modelled: module_param_array.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ..errors import IllegalStateTransition
from .file2alias import DeviceTable, device_table_aliases
from .params import PARAM_TYPES, KernelParam, ParamDecl, ParamType, param_string

if TYPE_CHECKING:
    from .module_loader import ModuleSource

__all__ = [
    "ModInfo",
    "Module",
    "ModuleState",
    "as_this_module",
    "modinfo_of",
    "modname_normalize",
    "module_alias",
    "module_author",
    "module_description",
    "module_device_table",
    "module_driver",
    "module_exit",
    "module_info",
    "module_init",
    "module_license",
    "module_param",
    "module_param_cb",
    "module_param_desc",
    "module_param_string",
    "module_put",
    "module_refcount",
    "module_unload_free",
    "module_version",
    "ref_module",
    "this_module",
    "try_module_get",
]

_MODINFO: Final = "__modinfo__"
_PYTHON_TYPES: Final[dict[type, str]] = {int: "int", bool: "bool", str: "charp"}


def modname_normalize(name: str) -> str:
    """Module names use `_` where a file name may have `-` (kmod's modname_normalize)."""
    return name.replace("-", "_")


# -- declarations recorded on a driver module -----------------------------------------------------


@dataclass
class ModInfo:
    """What a module declares — the .modinfo section and the init/exit pointers."""

    init: Callable[[], Any] | None = None
    exit: Callable[[], Any] | None = None
    params: dict[str, ParamDecl] = field(default_factory=dict)
    param_descs: dict[str, str] = field(default_factory=dict)
    device_tables: list[tuple[str, DeviceTable]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)

    def get_all(self, tag: str) -> list[str]:
        return [value for key, value in self.tags if key == tag]

    def get(self, tag: str) -> str | None:
        values = self.get_all(tag)
        return values[0] if values else None

    @property
    def depends(self) -> list[str]:
        """Modules this one needs loaded first (modinfo `depends`, comma-separated)."""
        return [modname_normalize(name) for value in self.get_all("depends")
                for name in value.split(",") if name]

    @property
    def aliases(self) -> list[str]:
        """modinfo `alias` entries: explicit MODULE_ALIAS()es, then the device tables'
        file2alias patterns, in that order (the module's object before its .mod.o)."""
        found = self.get_all("alias")
        for bus, table in self.device_tables:
            found.extend(device_table_aliases(bus, table))
        return found


def _caller_info(depth: int = 2) -> ModInfo:
    """The ModInfo of the module whose top level (or function) called the declaration."""
    namespace: dict[str, Any] = sys._getframe(depth).f_globals
    info = namespace.get(_MODINFO)
    if not isinstance(info, ModInfo):
        info = namespace[_MODINFO] = ModInfo()
    return info


_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T", bound=DeviceTable)
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


def module_driver(init: Callable[[], Any], exit: Callable[[], Any], *,
                  caller_depth: int = 1) -> None:
    """module_driver(): the module `caller_depth` calls up (1: the caller itself) gets
    `init` and `exit` — what module_usb_driver() and module_usb_serial_driver() expand
    to.  Context: called at import time."""
    info = _caller_info(1 + caller_depth)
    info.init = init
    info.exit = exit


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
    type_name = _PYTHON_TYPES.get(type, "") if isinstance(type, builtins.type) else type
    ops = PARAM_TYPES.get(type_name)
    if ops is None:
        raise ValueError(f"module_param({name!r}): unknown type {type!r}; use one of "
                         f"{', '.join(PARAM_TYPES)}")
    return _declare_param(sys._getframe(1).f_globals, _caller_info(), name, ops, perm,
                          default, description, parmtype=True)


def module_param_cb(name: str, ops: ParamType, perm: int = 0, *, default: Any = _UNSET,
                    description: str | None = None) -> Any:
    """module_param_cb(name, &ops, &name, perm): a parameter parsed and shown by the
    module's own `ops` (a `ParamType` whose `set` raises `ParamError`).  As
    module_param_cb, it declares no `parmtype` for modinfo.  Returns the default; raises
    ValueError/TypeError for a bad declaration.  Context: called at import time."""
    return _declare_param(sys._getframe(1).f_globals, _caller_info(), name, ops, perm,
                          default, description, parmtype=False)


def module_param_string(name: str, maxlen: int, perm: int = 0, *, default: str = "",
                        description: str | None = None) -> str:
    """module_param_string(name, string, maxlen, perm): a string parameter copied into a
    buffer of `maxlen` bytes (param_ops_string; modinfo type "string").  Returns the
    default; raises ValueError/TypeError for a bad declaration.  Context: called at
    import time."""
    value: str = _declare_param(sys._getframe(1).f_globals, _caller_info(), name,
                                param_string(maxlen), perm, default, description,
                                parmtype=True)
    return value


def _declare_param(namespace: dict[str, Any], info: ModInfo, name: str, ops: ParamType,
                   perm: int, default: Any, description: str | None, *,
                   parmtype: bool) -> Any:
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
    if parmtype:
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
    """MODULE_DEVICE_TABLE(usb, table) or MODULE_DEVICE_TABLE(hid, table): declare an id
    table for depmod's modules.alias (and, for usb, modules.usbmap); returns the table.
    Raises ValueError for a bus other than usb and hid."""
    if bus not in ("usb", "hid"):
        raise ValueError(f"MODULE_DEVICE_TABLE({bus!r}, …): only usb device tables and hid "
                         "device tables exist here")
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


def modinfo_of(pymodule: ModuleType) -> ModInfo | None:
    """What the code of `pymodule` declared (its .modinfo section), or None when it declared
    nothing.  Context: any."""
    info = vars(pymodule).get(_MODINFO)
    return info if isinstance(info, ModInfo) else None


# -- THIS_MODULE and refcounts ------------------------------------------------------------------

_this_module: ContextVar[Module | None] = ContextVar("usbemu_this_module", default=None)


def this_module() -> Module | None:
    """THIS_MODULE: the module whose code is being loaded (its top level), or whose init
    or exit is running; None elsewhere.  The driver core makes it the owner of drivers
    registered meanwhile.  Context: any."""
    return _this_module.get()


@contextmanager
def as_this_module(module: Module | None) -> Iterator[None]:
    """Run the code inside as `module`'s own: `this_module()` returns it until the block
    ends (None: code of no module, as depmod reads tables).  The loader wraps a module's
    top level, init and exit in it.  Context: any."""
    token = _this_module.set(module)
    try:
        yield
    finally:
        _this_module.reset(token)


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


def ref_module(a: Module, b: Module) -> None:
    """ref_module(a, b): module `a` uses `b` — a reference on `b` and `a` among its holders,
    until `module_unload_free(a)`.  A built-in `b` is not counted.  Context: atomic."""
    if b.builtin:
        return
    b._refcnt += 1
    b.holders.append(a)
    a.uses.append(b)


def module_unload_free(mod: Module) -> None:
    """module_unload_free(): drop the references `mod` holds on the modules it uses.
    Context: atomic."""
    for used in mod.uses:
        used._refcnt -= 1
        used.holders.remove(mod)
    mod.uses.clear()


# -- struct module -------------------------------------------------------------------------------


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


class Module:
    """struct module: one loaded (or built-in) module.  Read its state through the
    attributes; the loader (`ModuleLoader`, driven by the tools in `KernelModules`)
    changes it."""

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
        self.taints = 0                  #: TAINT_* bits it carries (mod->taints)
        self._refcnt = 0
        self._warn = warn or (lambda text: None)

    def __repr__(self) -> str:
        return f"<Module {self.name} {self.state.value}>"

    def attach(self, pymodule: ModuleType, info: ModInfo, size: int) -> None:
        """The code has been read (by the loader): its declarations become the module's,
        and `size` is what /proc/modules shows."""
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

