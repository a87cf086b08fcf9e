"""The module tools — counterpart of kmod's insmod, rmmod, modprobe (and modprobe -r) and
lsmod, and of the module directory they search, /lib/modules/<release>.

Modules come from a table of modules installed with usbemu, from the `usbemu.drivers`
entry-point group of installed packages (imported lazily), from `install()`, or from a
file given to insmod by path (as insmod takes a .ko file); the out-of-tree examples shipped
with usbemu (usbemu.drivers.usb.misc.pen_driver) are found by insmod by name, through their
import path, as insmod finds ./pen_driver.ko in the build directory, but are not installed.
The tools ask the kernel side (kernel/module_loader.py: load_module, delete_module) to do
the work; modprobe loads the modules a module depends on first and finds modules by alias
through depmod (kernel/depmod.py), whose output it keeps until a module is installed;
udev's autoload (kernel/udev.py) is modprobe of a MODALIAS.  modprobe and autoload read
/etc/modprobe.d (kernel/modprobe_d.py, a directory of files in the machine's tree) at each
run, as kmod reads it at each start: `alias` lines are looked up before the module
names, `options` go before the command line's parameters (which win), and a `blacklist`ed
module is skipped when found through an alias (modprobe) or always (udev's autoload),
never by insmod.  Messages of the user-space tools are the `str()` of the `ModuleError`
they raise; the kernel's own messages go to the log.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..errors import Errno, ModuleError, strerror
from ..plugins import PLUGIN, PluginRegistry
from .depmod import Depmod
from .modprobe_d import MODPROBE_D, ModprobeConfig
from .module import Module, ModuleState, modname_normalize
from .module_loader import (
    BUILTIN_MODULES,
    ModuleLoader,
    ModuleRefused,
    ModuleSource,
    NoModuleCode,
)
from .printk import Printk
from .udev import Udev
from .vfs import Attr, FileDir, StaticDir, Vfs

if TYPE_CHECKING:
    from .device import Driver, DriverCore

__all__ = [
    "DRIVER_MODULES",
    "ENTRY_POINT_GROUP",
    "EXAMPLE_MODULES",
    "INSTALLED_MODULES",
    "KernelModules",
]

ENTRY_POINT_GROUP: Final = "usbemu.drivers"

#: Driver modules installed with usbemu (its /lib/modules/<release>/kernel): module name →
#: import path.  modprobe finds them, depmod lists their aliases, udev autoloads them.
INSTALLED_MODULES: Final[dict[str, str]] = {
    "cdc_acm": "usbemu.drivers.usb.class_.cdc_acm",
    "ftdi_sio": "usbemu.drivers.usb.serial.ftdi_sio",
    "hid": "usbemu.drivers.hid.hid",
    "hid_generic": "usbemu.drivers.hid.hid_generic",
    "uas": "usbemu.drivers.usb.storage.uas",
    "usb_storage": "usbemu.drivers.usb.storage.usb",
    "usbhid": "usbemu.drivers.hid.usbhid.hid_core",
    "usbip_host": "usbemu.bridges.usbip.stub",
    "usbserial": "usbemu.drivers.usb.serial.usbserial",
    "usbtest": "usbemu.drivers.usb.misc.usbtest",
}

#: The driver-module registry: usbemu's installed modules and the `usbemu.drivers` entry
#: points of installed packages.  The module tools execute a fresh copy of a module's code
#: at each load, so they take only its import path from here.
DRIVER_MODULES: Final = PluginRegistry("driver module", ENTRY_POINT_GROUP, INSTALLED_MODULES)

#: Out-of-tree example modules shipped with usbemu: module name → import path, resolved
#: as installed modules are.  `insmod NAME` finds them as insmod finds ./pen_driver.ko in
#: the build directory; they are not installed, so modprobe, depmod and autoload do not
#: see them (until `KernelModules.install`).
EXAMPLE_MODULES: Final[dict[str, str]] = {
    "pen_driver": "usbemu.drivers.usb.misc.pen_driver",
    "tiny": "usbemu.drivers.usb.serial.tiny",
    "usbkbd": "usbemu.drivers.hid.usbhid.usbkbd",
    "usbmouse": "usbemu.drivers.hid.usbhid.usbmouse",
}


class KernelModules:
    """The modules of one machine as user space handles them: the tools (insmod, rmmod,
    modprobe, lsmod, depmod), the modules they can find (/lib/modules), the kernel side
    they drive (`loader`: the loaded-module list, /proc/modules, /sys/module) and udev's
    autoload (`udev`).  Context: the tools are coroutines (init and exit may sleep); views
    are atomic."""

    def __init__(self, driver_core: DriverCore, log: Printk, release: str, *,
                 autoload: bool = True) -> None:
        self.driver_core = driver_core
        self.log = log
        self.release = release
        #: The kernel side: the module list, load_module and delete_module.
        self.loader = ModuleLoader(driver_core, log)
        self._installed: dict[str, ModuleSource] = {
            name: ModuleSource(name, target, "installed", intree=True)
            for name, target in INSTALLED_MODULES.items()}
        self._depmod: Depmod | None = None
        #: /etc/modprobe.d: its files, as the shell and `Vfs` write them.
        self.modprobe_d = FileDir(on_change=self._config_changed)
        self._config: ModprobeConfig | None = None
        #: udev: modprobe for the MODALIAS of each "add" uevent.
        self.udev = Udev(driver_core, self, autoload=autoload)

    @property
    def autoload(self) -> bool:
        """udev loads modules for the MODALIAS of "add" uevents."""
        return self.udev.autoload

    @autoload.setter
    def autoload(self, on: bool) -> None:
        self.udev.autoload = on

    @property
    def autoload_errors(self) -> list[tuple[str, ModuleError]]:
        """(MODALIAS, error) for each autoload that failed, as udev's log would show."""
        return self.udev.autoload_errors

    async def coldplug(self) -> None:
        """What `udevadm trigger` makes udev do for devices already present: load the
        modules their MODALIAS asks for (say, after `install()`); failures are recorded
        in `autoload_errors`.  Context: may sleep (the modules' init runs)."""
        await self.udev.coldplug()

    # -- lookups ----------------------------------------------------------------------------

    def get(self, name: str) -> Module | None:
        """The loaded or built-in module `name` (`-` and `_` alike), else None."""
        return self.loader.get(name)

    @property
    def loaded(self) -> list[Module]:
        """Loaded modules (not built-in ones), newest first."""
        return self.loader.loaded

    def drivers_of(self, module: Module) -> list[Driver]:
        """The drivers `module` owns, bus by bus."""
        return self.loader.drivers_of(module)

    def available(self) -> dict[str, ModuleSource]:
        """Installed modules modprobe can load: usbemu's table, `install()`ed ones, then
        the `usbemu.drivers` entry points of installed packages (sorted by name)."""
        found = dict(self._installed)
        for plugin in DRIVER_MODULES.available().values():
            if plugin.origin == PLUGIN:
                name = modname_normalize(plugin.name)
                found.setdefault(name, ModuleSource(name, plugin.module, "entry point"))
        return found

    def _find_example(self, name: str) -> ModuleSource | None:
        target = EXAMPLE_MODULES.get(name)
        if target is None:
            return None
        return ModuleSource(name, target, "example", installed=False)

    def resolve(self, path_or_name: str | os.PathLike[str]) -> ModuleSource | None:
        """What insmod loads for its argument: a file (a path, or anything ending in .py),
        else an available module, else an example shipped with usbemu; None if nothing.
        A `NAME.ko` in the current directory (`pen_driver.ko`, `./pen_driver.ko`) is the
        module NAME, as the build directory's .ko is the module its source makes."""
        text = os.fspath(path_or_name)
        if text.endswith(".ko") and Path(text).parent == Path("."):
            text = Path(text).stem
        elif not isinstance(path_or_name, str) or text.endswith(".py") or os.sep in text \
                or "/" in text:
            path = Path(text)
            return ModuleSource(modname_normalize(path.stem), text, "file", installed=False)
        name = modname_normalize(text)
        return self.available().get(name) or self._find_example(name)

    def install(self, name_or_path: str | os.PathLike[str],
                target: str | None = None) -> ModuleSource:
        """`make modules_install`: make a module available to modprobe, depmod and
        autoload — an example or file (by name or path), or `name` with an import path
        or file `target`.  Re-runs depmod lazily.  Raises FileNotFoundError when
        `name_or_path` names nothing."""
        if target is not None:
            source = ModuleSource(modname_normalize(os.fspath(name_or_path)), target, "installed")
        else:
            found = self.resolve(name_or_path)
            if found is None:
                raise FileNotFoundError(Errno.ENOENT, "no such module",
                                        os.fspath(name_or_path))
            source = ModuleSource(found.name, found.target, "installed",
                                  intree=found.intree)
        self._installed[source.name] = source
        self._depmod = None
        return source

    # -- /etc/modprobe.d ------------------------------------------------------------------------

    def _config_changed(self) -> None:
        self._config = None

    def modprobe_config(self) -> ModprobeConfig:
        """/etc/modprobe.d as modprobe reads it now (`ModprobeConfig`: aliases, blacklist,
        options, and kmod's messages about lines it skipped).  Context: atomic."""
        if self._config is None:
            self._config = ModprobeConfig.parse(
                {name: bytes(file.data) for name, file in self.modprobe_d.files.items()})
        return self._config

    def write_config(self, name: str, text: str) -> None:
        """Write /etc/modprobe.d/`name` (replacing it), as `echo … > FILE` does.  Raises
        ValueError for a name with a "/" (or "", ".", "..")."""
        file = self.modprobe_d.create(name)
        file.data[:] = text.encode()
        self.modprobe_d.changed()

    def _targets(self, name: str) -> tuple[list[str], bool]:
        """kmod_module_new_from_lookup(): the modules `name` stands for and whether they
        were found through an alias — /etc/modprobe.d's aliases first, then the module
        of that name, then modules.alias."""
        by_config = self.modprobe_config().lookup_alias(name)
        if by_config:
            return by_config, True
        normalized = modname_normalize(name)
        # a MODALIAS ("usb:v…") is never a module name: no need to list the modules
        if ":" not in name and normalized in self.available():
            return [normalized], False
        return self._depmod_current().lookup(name), True

    def autoload_targets(self, modalias: str) -> list[str]:
        """The modules udev's autoload loads for `modalias`: what modprobe finds for it
        (`alias` lines of /etc/modprobe.d first, then modules.alias), blacklisted ones
        left out.  Context: atomic."""
        config = self.modprobe_config()
        return [name for name in self._targets(modalias)[0]
                if not config.is_blacklisted(name)]

    # -- depmod -----------------------------------------------------------------------------

    def depmod(self) -> Depmod:
        """depmod -a: import every available module afresh and collect its aliases and
        usb ids; a module that fails to import is left out and listed in `errors`.
        Context: atomic (runs module top levels, never their init)."""
        self._depmod = Depmod.scan(self.available())
        return self._depmod

    def _depmod_current(self) -> Depmod:
        return self._depmod if self._depmod is not None else self.depmod()

    def lookup(self, modalias: str) -> list[str]:
        """The available modules whose alias matches `modalias`, in modules.alias order
        (depmod runs first if it has not since the last `install`).  Context: atomic."""
        return self._depmod_current().lookup(modalias)

    # -- the kernel side ----------------------------------------------------------------------

    async def delete_module(self, name: str) -> int:
        """delete_module(2) (`ModuleLoader.delete_module`): 0 or a negative errno.
        Context: may sleep."""
        return await self.loader.delete_module(name)

    async def builtin_init(self, name: str, init: Callable[[], Awaitable[None]]) -> None:
        """Run a built-in module's initcall (`ModuleLoader.builtin_init`).  Context: may
        sleep."""
        await self.loader.builtin_init(name, init)

    def proc_modules(self) -> str:
        """/proc/modules (`ModuleLoader.proc_modules`)."""
        return self.loader.proc_modules()

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
            mod = self.loader.read_module(source)
        except NoModuleCode:
            raise not_found from None
        except ModuleRefused as exc:
            raise self._insmod_error(arg, exc) from exc.__cause__
        try:
            await self.loader.load_module(mod, _format_options(args, params))
        except ModuleRefused as exc:
            raise self._insmod_error(arg, exc) from exc.__cause__
        return mod

    def _insmod_error(self, arg: str, exc: ModuleRefused) -> ModuleError:
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
        name = modname_normalize(Path(name).stem if name.endswith((".py", ".ko")) else name)
        if name in self.loader.builtin:
            raise ModuleError(-Errno.ENOENT, f"rmmod: ERROR: Module {name} is builtin.", name)
        mod = self.loader.get(name)
        if mod is None or mod.state is ModuleState.UNFORMED:
            raise ModuleError(-Errno.ENOENT,
                              f"rmmod: ERROR: Module {name} is not currently loaded", name)
        if mod.holders:
            users = " ".join(m.name for m in mod.holders)
            raise ModuleError(-Errno.EBUSY, f"rmmod: ERROR: Module {name} is in use by: "
                                            f"{users}", name)
        if mod.refcnt:
            raise ModuleError(-Errno.EBUSY, f"rmmod: ERROR: Module {name} is in use", name)
        err = await self.loader.delete_module(name)
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

    async def autoload_modalias(self, modalias: str) -> None:
        """udev's `kmod load $MODALIAS`: modprobe of the alias with the blacklist applied
        to every module it finds (KMOD_PROBE_APPLY_BLACKLIST).  Raises ModuleError as
        `modprobe`.  Context: may sleep."""
        await self._modprobe(modalias, "", apply_blacklist=True)

    async def _modprobe(self, name: str, options: str, *, apply_blacklist: bool = False
                        ) -> None:
        """kmod's insmod(): a blacklisted module found through an alias (any, with
        `apply_blacklist`) is skipped without an error."""
        if modname_normalize(name) in self.loader.builtin:
            return
        targets, by_alias = self._targets(name)
        if not targets:
            raise ModuleError(-Errno.ENOENT, f"modprobe: FATAL: Module {name} not found "
                                             f"in directory /lib/modules/{self.release}", name)
        config = self.modprobe_config()
        available = self.available()
        for target in targets:
            if config.is_blacklisted(target) and (by_alias or apply_blacklist):
                continue
            await self._probe_insert(target, options, available, [])

    async def _probe_insert(self, name: str, options: str,
                            available: Mapping[str, ModuleSource], chain: list[str]) -> None:
        """kmod_module_probe_insert_module(): dependencies first, then the module."""
        if name in self.loader.builtin or self.get(name) is not None:
            return
        source = available.get(name)
        if source is None:
            raise ModuleError(-Errno.ENOENT, f"modprobe: FATAL: Module {name} not found in "
                                             f"directory /lib/modules/{self.release}", name)
        try:
            mod = self.loader.read_module(source)
        except NoModuleCode as exc:
            raise self._modprobe_error(name, -Errno.ENOENT, ()) from exc
        except ModuleRefused as exc:
            raise self._modprobe_error(name, exc.code, exc.notes) from exc.__cause__
        for dep in mod.info.depends:
            if dep in chain:
                raise ModuleError(-Errno.ELOOP, f"modprobe: ERROR: found possible cyclic "
                                                f"dependency involving {dep}", dep)
            await self._probe_insert(dep, "", available, [*chain, name])
        if self.get(name) is not None:   # loaded meanwhile (another autoload)
            return
        configured = self.modprobe_config().module_options(name)
        try:
            await self.loader.load_module(mod, " ".join(filter(None, (configured, options))))
        except ModuleRefused as exc:
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
        normalized = modname_normalize(name)
        if normalized in self.loader.builtin:
            raise ModuleError(-Errno.ENOENT, f"modprobe: FATAL: Module {normalized} is "
                                             "builtin.", normalized)
        targets, _ = self._targets(name)
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
        err = await self.loader.delete_module(name)
        if err:
            raise ModuleError(err, f"modprobe: ERROR: could not remove '{name}': "
                                   f"{strerror(err)}", name)
        for dep in used:
            if dep.refcnt == 0 and not dep.builtin:
                await self.loader.delete_module(dep.name)

    # -- views --------------------------------------------------------------------------------

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
        """Put /proc/modules, /sys/module, /lib/modules/<release> and /etc/modprobe.d
        into `vfs`."""
        self.loader.mount(vfs)
        vfs.mount(MODPROBE_D, self.modprobe_d)
        vfs.mount(f"/lib/modules/{self.release}", StaticDir({
            "modules.alias": Attr(lambda: self._depmod_current().modules_alias()),
            "modules.usbmap": Attr(lambda: self._depmod_current().modules_usbmap()),
            "modules.builtin": Attr(lambda: "".join(f"{path}\n" for path
                                                    in BUILTIN_MODULES.values())),
        }))


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


_INSMOD_ERRORS: Final[dict[int, str]] = {
    Errno.ENOEXEC: "Invalid module format",
    Errno.ENOENT: "Unknown symbol in module",
    Errno.ESRCH: "Module has wrong symbol version",
    Errno.EINVAL: "Invalid parameters",
}


def _mod_strerror(code: int) -> str:
    """kmod insmod's mod_strerror()."""
    return _INSMOD_ERRORS.get(abs(code), strerror(code))
