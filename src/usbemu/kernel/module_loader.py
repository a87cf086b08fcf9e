"""The module loader — counterpart of kernel/module/main.c (load_module, do_init_module,
delete_module, the list of modules), kernel/module/procfs.c (/proc/modules) and
kernel/module/sysfs.c (/sys/module), with the taints of kernel/module/main.c and
signing.c.

A module's code comes from a `ModuleSource`: a file, or an importable module.  Each load
executes a fresh copy of the code (as each insmod maps the .ko anew), so a reloaded module
starts with fresh globals.  "usbcore" and "usb_common" are built in.  Loading follows
load_module(): the name must be free (-EEXIST), dependencies loaded (-ENOENT), arguments
are parsed with Linux's rules and messages (kernel/params.py: `` usbserial: `x' invalid for
parameter `vendor' `` → -EINVAL; an unknown parameter is only a warning), then the init
runs; drivers it registers are owned by the module (`driver.owner`).  A module that is
not in-tree (an example, a file, a plugin's) taints the kernel as a Debian kernel's
module_augment_kernel_taints() does, messages once per boot: "<name>: loading
out-of-tree module taints kernel." (TAINT_OOT_MODULE) and, as no such module is signed,
"<name>: module verification failed: signature and/or required key missing - tainting
kernel" (TAINT_UNSIGNED_MODULE); /proc/sys/kernel/tainted shows the machine's taints,
/proc/modules and /sys/module/<name>/taint the module's.  Unloading follows
delete_module(): not while other modules use it or while `try_module_get` holds it.

The results are what the system calls return (a negative errno, `ModuleRefused`); the
kernel's own messages go to the log, and the user-space tools that turn the errors into
their messages live in kernel/kmod.py.  Not modelled: ELF, symbols and symbol versions (a
module's dependencies are its `depends` modinfo, as modpost writes it), signature
checking (in-tree modules count as signed, others as unsigned), module uevents.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Final

from ..errors import Errno, strerror
from .module import (
    Module,
    ModuleState,
    as_this_module,
    modinfo_of,
    modname_normalize,
    module_unload_free,
    ref_module,
)
from .params import param_attr, parse_args
from .printk import Level, Printk
from .taint import KernelTaint, Taint, module_flags_taint
from .vfs import Attr, Node, StaticDir, Symlink, Vfs

if TYPE_CHECKING:
    from .device import Driver, DriverCore

__all__ = [
    "BUILTIN_MODULES",
    "PAGE_SIZE",
    "ModuleLoader",
    "ModuleRefused",
    "ModuleSource",
    "NoModuleCode",
    "exec_module_code",
]

#: Modules built into the kernel (CONFIG_USB=y): name → path in modules.builtin.
BUILTIN_MODULES: Final[dict[str, str]] = {
    "usb_common": "kernel/drivers/usb/common/usb-common.ko",
    "usbcore": "kernel/drivers/usb/core/usbcore.ko",
}

PAGE_SIZE: Final = 4096


class ModuleRefused(Exception):
    """A kernel-side refusal inside the loader: `code`, the negative errno the system call
    returns, and optional `notes` that say why."""

    def __init__(self, code: int, *notes: str) -> None:
        super().__init__(code)
        self.code = code
        self.notes = notes


# -- where module code comes from -----------------------------------------------------------------


@dataclass(frozen=True)
class ModuleSource:
    """Where a module's code comes from: a file (`path`) or an importable module
    (`target`, a dotted name); `installed` when modprobe and depmod see it."""

    name: str
    target: str
    origin: str  #: "installed", "entry point", "example", "file"
    installed: bool = True
    intree: bool = False  #: built in the kernel tree (modinfo "intree"), and signed

    @property
    def path(self) -> Path | None:
        if self.target.endswith(".py") or "/" in self.target or "\\" in self.target:
            return Path(self.target)
        return None

    def __str__(self) -> str:
        return self.target


class NoModuleCode(FileNotFoundError):
    """The module's file or importable module does not exist."""


def exec_module_code(source: ModuleSource) -> ModuleType:
    """Execute a fresh copy of the module's code (a new module object each time, as each
    insmod maps the .ko anew).  Raises NoModuleCode when there is no such code, and
    whatever the code raises.  Context: atomic (runs the code's top level)."""
    path = source.path
    if path is not None:
        if not path.is_file():
            raise NoModuleCode(Errno.ENOENT, strerror(Errno.ENOENT), str(path))
        spec = importlib.util.spec_from_file_location(source.name, path)
    else:
        try:
            spec = importlib.util.find_spec(source.target)
        except ModuleNotFoundError as exc:
            raise NoModuleCode(Errno.ENOENT, str(exc), source.target) from exc
    if spec is None or spec.loader is None:
        raise NoModuleCode(Errno.ENOENT, strerror(Errno.ENOENT), source.target)
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


# -- the loader -----------------------------------------------------------------------------------


class ModuleLoader:
    """The modules of one machine as the kernel keeps them: the built-in ones, the list of
    loaded ones, load_module and delete_module, /proc/modules and /sys/module.  Context:
    loading and unloading are coroutines (init and exit may sleep); views are atomic."""

    def __init__(self, driver_core: DriverCore, log: Printk) -> None:
        self.driver_core = driver_core
        self.log = log
        #: Built-in modules by name: always live, never loaded or removed.
        self.builtin: dict[str, Module] = {name: Module(name, builtin=True)
                                           for name in BUILTIN_MODULES}
        self._modules: list[Module] = []   # newest first, as /proc/modules lists them
        self._loading: dict[Module, asyncio.Event] = {}   # set when loading has ended
        #: The machine's taints (/proc/sys/kernel/tainted).
        self.taint = KernelTaint()
        self._unsigned_noticed = False   # pr_notice_once() of the signature message

    def get(self, name: str) -> Module | None:
        """The loaded or built-in module `name` (`-` and `_` alike), else None."""
        name = modname_normalize(name)
        return next((m for m in self._modules if m.name == name), self.builtin.get(name))

    @property
    def loaded(self) -> list[Module]:
        """Loaded modules (not built-in ones), newest first."""
        return [m for m in self._modules if m.state is not ModuleState.UNFORMED]

    def drivers_of(self, module: Module) -> list[Driver]:
        """The drivers `module` owns, bus by bus."""
        return [drv for bus in self.driver_core.buses.values() for drv in bus.drivers
                if drv.owner is module]

    # -- load_module / delete_module -----------------------------------------------------------

    def read_module(self, source: ModuleSource) -> Module:
        """Read the module: execute its code with THIS_MODULE set (ModuleRefused with
        -ENOEXEC if that fails or it is not a module).  Raises NoModuleCode when the code
        is not there.  Context: atomic (runs the code's top level, never its init)."""
        mod = Module(source.name, source=source, warn=self._warning)
        with as_this_module(mod):
            try:
                pymodule = exec_module_code(source)
            except NoModuleCode:
                raise
            except Exception as exc:
                raise ModuleRefused(-Errno.ENOEXEC, f"{source.name}: importing {source} "
                                                    f"raised {type(exc).__name__}: {exc}") from exc
        info = modinfo_of(pymodule)
        if info is None or (info.init is None and info.exit is None):
            raise ModuleRefused(-Errno.ENOEXEC, f"{source} is not a kernel module: it calls "
                                "neither module_init() nor module_exit() — add e.g. "
                                f"`module_init({source.name}_init)` and "
                                f"`module_exit({source.name}_exit)` after those functions "
                                "(from usbemu.linux or usbemu.kernel.module)")
        mod.attach(pymodule, info, _source_size(source, pymodule))
        return mod

    def _warning(self, text: str) -> None:
        self.log.log(Level.WARNING, text)

    async def load_module(self, mod: Module, args: str) -> None:
        """init_module(2) → load_module(): take the name, link the dependencies, parse
        the arguments, create /sys/module/<name>, run the init.  Raises ModuleRefused with
        the negative errno the system call returns.  Context: may sleep."""
        while True:  # module_patient_check_exists()
            old = self.get(mod.name)
            if old is None:
                break
            loading = self._loading.get(old)
            if loading is not None:
                await loading.wait()
                continue
            raise ModuleRefused(-Errno.EEXIST)
        done = self._loading[mod] = asyncio.Event()
        self._modules.insert(0, mod)
        try:
            await self._load_formed(mod, args)
        except BaseException:
            self._free(mod)
            raise
        finally:
            del self._loading[mod]
            done.set()

    def _augment_kernel_taints(self, mod: Module) -> None:
        """module_augment_kernel_taints(): an out-of-tree module taints the kernel and
        itself (the message only while the kernel is not yet tainted so), an unsigned one
        too (the message once per boot, pr_notice_once)."""
        if mod.source is None or mod.source.intree:
            return
        if not self.taint.test(Taint.OOT_MODULE):
            self._warning(f"{mod.name}: loading out-of-tree module taints kernel.")
        self._add_taint_module(mod, Taint.OOT_MODULE)
        if not self._unsigned_noticed:
            self._unsigned_noticed = True
            self.log.log(Level.NOTICE, f"{mod.name}: module verification failed: signature "
                                       "and/or required key missing - tainting kernel")
        self._add_taint_module(mod, Taint.UNSIGNED_MODULE)

    def _add_taint_module(self, mod: Module, flag: Taint) -> None:
        """add_taint_module(): the kernel's taint and the module's."""
        self.taint.add(flag)
        mod.taints |= 1 << flag

    async def _load_formed(self, mod: Module, args: str) -> None:
        self._augment_kernel_taints(mod)
        # simplify_symbols(): every module we use must be there
        for dep in mod.info.depends:
            used = self.get(dep)
            if used is None or used.state is not ModuleState.LIVE:
                raise ModuleRefused(-Errno.ENOENT, f"{mod.name}: needs module {dep}, which "
                                                   "is not loaded")
            ref_module(mod, used)
        mod.args = args
        mod.set_state(ModuleState.COMING)
        err, after_dashes = parse_args(mod.name, args, mod.params.values(), self.log,
                                       lambda param, _val: self._unknown_param(mod, param))
        if err:
            raise ModuleRefused(err)
        if after_dashes is not None:
            self._warning(f"{mod.name}: parameters '{after_dashes}' after `--' ignored")
        mod.sysfs = True
        await self._do_init_module(mod)

    def _unknown_param(self, mod: Module, param: str) -> int:
        """unknown_module_param_cb(): only a warning; async_probe and dyndbg are the
        kernel's own."""
        if param not in ("async_probe", "dyndbg"):
            self._warning(f"{mod.name}: unknown parameter '{param}' ignored")
        return 0

    async def _do_init_module(self, mod: Module) -> None:
        """do_init_module(): run the init with THIS_MODULE set; a negative result (or an
        OSError) fails the load; a positive one is suspicious but loads; any other
        exception is an oops that fails the load with -EFAULT."""
        init = mod.info.init
        ret = 0
        if init is not None:
            with as_this_module(mod):
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
                except BaseException as exc:
                    self.driver_core.contain(f"init of module {mod.name}", exc)
                    await self._drop_drivers(mod)
                    raise ModuleRefused(-Errno.EFAULT, f"{mod.name}: init raised "
                                                       f"{type(exc).__name__}: {exc}") from exc
        if ret < 0:
            await self._drop_drivers(mod)
            raise ModuleRefused(ret)
        if ret > 0:
            self._warning(f"do_init_module: '{mod.name}'->init suspiciously returned {ret},"
                          " it should follow 0/-E convention")
            self._warning("do_init_module: loading module anyway...")
        mod.set_state(ModuleState.LIVE)

    def _free(self, mod: Module) -> None:
        """free_module(): off the list, references on the modules it used dropped."""
        if mod.state is not ModuleState.GOING:
            mod.set_state(ModuleState.GOING)
        module_unload_free(mod)
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

    async def delete_module(self, name: str) -> int:
        """delete_module(2): 0, -ENOENT (not loaded), -EWOULDBLOCK (used by other modules
        or referenced), -EBUSY (not live, or permanent).  Runs the exit with THIS_MODULE
        set; an exception in it is an oops, and the module goes anyway.  Context: may
        sleep."""
        mod = next((m for m in self._modules if m.name == modname_normalize(name)), None)
        if mod is None:
            return -Errno.ENOENT
        if mod.holders:
            return -Errno.EAGAIN
        if mod.state is not ModuleState.LIVE or mod.permanent:
            return -Errno.EBUSY
        if mod.refcnt:
            return -Errno.EAGAIN
        mod.set_state(ModuleState.GOING)
        exit_fn = mod.info.exit
        if exit_fn is not None:
            with as_this_module(mod):
                try:
                    result = exit_fn()
                    if inspect.isawaitable(result):
                        await result
                except BaseException as exc:
                    self.driver_core.contain(f"exit of module {mod.name}", exc)
        await self._drop_drivers(mod)
        self._free(mod)
        return 0

    async def builtin_init(self, name: str, init: Callable[[], Awaitable[None]]) -> None:
        """Run a built-in module's initcall (usbcore's usb_init at boot); the drivers it
        registers belong to that module (/sys/module/<name>/drivers).  Context: may
        sleep."""
        module = self.builtin[name]
        before = {id(d) for bus in self.driver_core.buses.values() for d in bus.drivers}
        await init()
        for bus in self.driver_core.buses.values():
            for drv in bus.drivers:
                if id(drv) not in before and drv.owner is None:
                    drv.owner = module

    # -- /proc/modules, /sys/module ---------------------------------------------------------------

    def proc_modules(self) -> str:
        """/proc/modules: `name size refcnt holders, state address` per module, newest
        first; holders end in `,` (or `-` for none, `[permanent],` for no exit); the
        address is what an unprivileged reader sees; a tainted module's flags follow
        (" (OE)", with "+" while loading and "-" while unloading)."""
        lines = []
        for mod in self.loaded:
            used = "".join(f"{holder.name}," for holder in mod.holders)
            if mod.permanent:
                used += "[permanent],"
            state = {ModuleState.GOING: "Unloading",
                     ModuleState.COMING: "Loading"}.get(mod.state, "Live")
            lines.append(f"{mod.name} {mod.size} {mod.refcnt} {used or '-'} {state} "
                         f"0x0000000000000000{_module_flags(mod)}\n")
        return "".join(lines)

    def mount(self, vfs: Vfs) -> None:
        """Put /proc/modules, /proc/sys/kernel/tainted and /sys/module into `vfs`."""
        vfs.mount("/proc/modules", Attr(self.proc_modules))
        vfs.mount("/proc/sys/kernel/tainted", self.taint.attr())
        vfs.mount("/sys/module", StaticDir(compute=self._sys_module))

    def _sys_module(self) -> dict[str, Node]:
        found: dict[str, Node] = {}
        for mod in [*self.builtin.values(), *self._modules]:
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
        params: dict[str, Node] = {kp.name: param_attr(kp)
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
            "taint": Attr(lambda: f"{module_flags_taint(mod.taints)}\n"),
            "holders": StaticDir(compute=lambda: {h.name: Symlink(f"../../{h.name}")
                                                  for h in mod.holders}),
        })
        version = mod.info.get("version")
        if version is not None:
            children["version"] = Attr(lambda: f"{version}\n")
        return StaticDir(children)


def _module_flags(mod: Module) -> str:
    """module_flags() as m_show() prints it: nothing for an untainted module."""
    if not mod.taints:
        return ""
    state = {ModuleState.GOING: "-", ModuleState.COMING: "+"}.get(mod.state, "")
    return f" ({module_flags_taint(mod.taints)}{state})"


def _source_size(source: ModuleSource, pymodule: ModuleType) -> int:
    """/proc/modules size: the source's length rounded up to pages, plus a data page."""
    origin = source.path or (Path(pymodule.__file__) if pymodule.__file__ else None)
    try:
        length = origin.stat().st_size if origin is not None else 0
    except OSError:
        length = 0
    return (length + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE + PAGE_SIZE
