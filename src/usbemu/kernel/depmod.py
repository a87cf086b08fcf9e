"""depmod — counterpart of kmod's tools/depmod.c (modules.alias) and of the modules.usbmap
that module-init-tools' depmod wrote: every available module's device tables turned into
alias patterns (by file2alias) and usbmap lines, and the lookup modprobe and udev do with
them.

depmod reads modules — it executes their top level afresh, with no THIS_MODULE, and never
runs an init; a module that fails to import is left out and listed in `errors`.  What it
read of a module's code is kept for the process, by the code's identity (a file's contents;
an importable module's path, size and modification time), so each machine's depmod
executes only code it has not read before.  Which
modules are available, and when depmod runs again, is kernel/kmod.py's business; of
/lib/modules/<release> this module writes modules.alias and modules.usbmap.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import cast

from .file2alias import UsbIdFields, usbmap_header, usbmap_line
from .module import as_this_module, modinfo_of
from .module_loader import ModuleSource, exec_module_code

__all__ = ["Depmod", "DepmodEntry"]


@dataclass(frozen=True)
class DepmodEntry:
    """What depmod learnt of one available module."""

    name: str
    source: ModuleSource
    aliases: tuple[str, ...]
    usb_ids: tuple[UsbIdFields, ...]

    @cached_property
    def matcher(self) -> re.Pattern[str]:
        """All the module's alias patterns as one regular expression (fnmatch's
        translation of each, case-sensitive), so that a lookup tries a module once, not
        once per alias — what kmod's modules.alias.bin index is for."""
        return re.compile("|".join(f"(?:{fnmatch.translate(alias)})"
                                   for alias in self.aliases) or "(?!)")


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
        """Modules with an alias matching `modalias` (fnmatch, as `alias_matches`), in
        modules.alias order."""
        found: list[str] = []
        for entry in self.modules:
            if entry.name not in found and entry.matcher.match(modalias):
                found.append(entry.name)
        return found

    @classmethod
    def scan(cls, sources: Mapping[str, ModuleSource]) -> Depmod:
        """depmod -a over `sources`: read every module (`_read`) and collect its aliases
        and usb ids; a module that fails to import is left out and listed in `errors`.
        Context: atomic (runs module top levels, never their init)."""
        entries: list[DepmodEntry] = []
        errors: list[tuple[str, str]] = []
        for name, source in sources.items():
            read = _read(name, source)
            if isinstance(read, str):
                errors.append((name, read))
            elif read is not None:
                entries.append(read)
        return cls(tuple(entries), tuple(errors))


#: What depmod read of each module's code, keyed by the code's identity (`_code_stamp`).
_READ: dict[tuple[str, ModuleSource, object], DepmodEntry | str | None] = {}


def _code_stamp(name: str, source: ModuleSource) -> tuple[str, ModuleSource, object] | None:
    """The module's name and source with what identifies its code: a file's contents, or
    for an importable module its file's path, size and modification time (the package's
    own code, which does not change under a running process).  None when that cannot be
    told: then the code is read every time."""
    try:
        if source.path is not None:
            return name, source, source.path.read_bytes()
        path = getattr(importlib.util.find_spec(source.target), "origin", None)
        if path is None:
            return None
        st = os.stat(path)
    except (ImportError, ValueError, OSError):
        return None
    return name, source, (path, st.st_size, st.st_mtime_ns)


def _read(name: str, source: ModuleSource) -> DepmodEntry | str | None:
    """One module as depmod reads it: its entry, None when it has no modinfo, or why it
    failed to import.  Code already read and unchanged since is not executed again."""
    stamp = _code_stamp(name, source)
    if stamp is not None and stamp in _READ:
        return _READ[stamp]
    read: DepmodEntry | str | None
    with as_this_module(None):
        try:
            pymodule = exec_module_code(source)
        except Exception as exc:
            read = f"{type(exc).__name__}: {exc}"
        else:
            info = modinfo_of(pymodule)
            read = None if info is None else DepmodEntry(
                name, source, tuple(info.aliases),
                tuple(id for bus, table in info.device_tables if bus == "usb"
                      for id in cast(Sequence[UsbIdFields], table)))
    if stamp is not None:
        _READ[stamp] = read
    return read
