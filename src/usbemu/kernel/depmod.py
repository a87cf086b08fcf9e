"""depmod — counterpart of kmod's tools/depmod.c (modules.alias) and of the modules.usbmap
that module-init-tools' depmod wrote: every available module's device tables turned into
alias patterns (by file2alias) and usbmap lines, and the lookup modprobe and udev do with
them.

depmod reads modules — it executes their top level afresh, with no THIS_MODULE, and never
runs an init; a module that fails to import is left out and listed in `errors`.  Which
modules are available, and when depmod runs again, is kernel/kmod.py's business; of
/lib/modules/<release> this module writes modules.alias and modules.usbmap.
"""

from __future__ import annotations

import fnmatch
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
        """depmod -a over `sources`: import every module afresh and collect its aliases and
        usb ids; a module that fails to import is left out and listed in `errors`.
        Context: atomic (runs module top levels, never their init)."""
        entries: list[DepmodEntry] = []
        errors: list[tuple[str, str]] = []
        with as_this_module(None):
            for name, source in sources.items():
                try:
                    pymodule = exec_module_code(source)
                except Exception as exc:
                    errors.append((name, f"{type(exc).__name__}: {exc}"))
                    continue
                info = modinfo_of(pymodule)
                if info is None:
                    continue
                ids = tuple(id for bus, table in info.device_tables if bus == "usb"
                            for id in cast(Sequence[UsbIdFields], table))
                entries.append(DepmodEntry(name, source, tuple(info.aliases), ids))
        return cls(tuple(entries), tuple(errors))
