"""Plugin registries — one mechanism for everything usbemu finds by name: device models,
driver modules, bridges and host controller kinds (DESIGN.md §7).

A `PluginRegistry` is a built-in table (name → "module" or "module:attribute") extended by
an entry-point group of installed packages, as python-can's interface table is.  Nothing is
imported until a plugin is asked for; listing the registry reads only the table and the
installed distributions' metadata.  A name that nothing registers raises `PluginNotFound`
listing the known names; a plugin that fails to import, lacks its attribute or is not what
the registry holds raises `PluginLoadError` naming the plugin and its target, with the
cause chained.  A built-in name wins over an entry point of the same name.

Like `usbemu.errors`, this module imports nothing of usbemu's but the errors: every layer
may use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Final

from .errors import PluginLoadError, PluginNotFound

__all__ = ["BUILTIN", "PLUGIN", "Plugin", "PluginRegistry"]

BUILTIN: Final = "built-in"
PLUGIN: Final = "plugin"


@dataclass(frozen=True, slots=True)
class Plugin:
    """One registered plugin: its `name`, its `target` ("module" or "module:attribute")
    and its `origin` (`BUILTIN`, or `PLUGIN` for an entry point of an installed
    package)."""

    name: str
    target: str
    origin: str

    @property
    def module(self) -> str:
        """The dotted name of the module that holds the plugin."""
        return self.target.partition(":")[0]

    @property
    def attribute(self) -> str | None:
        """The attribute of `module` that is the plugin, or None when the module is."""
        return self.target.partition(":")[2] or None


class PluginRegistry:
    """The plugins of one kind.  `kind` names them in messages ("device model"), `group`
    is the entry-point group, `builtin` the table shipped with usbemu; a loaded attribute
    must be a subclass of `base` when one is given.  Context: atomic (loading imports)."""

    def __init__(self, kind: str, group: str, builtin: Mapping[str, str], *,
                 base: type | None = None) -> None:
        self.kind = kind
        self.group = group
        self.builtin = dict(builtin)
        self.base = base

    def __repr__(self) -> str:
        return f"<PluginRegistry {self.kind} ({self.group})>"

    def available(self) -> dict[str, Plugin]:
        """name → Plugin, the built-in ones first, then entry points sorted by name.
        Imports nothing."""
        found = {name: Plugin(name, target, BUILTIN) for name, target in self.builtin.items()}
        for ep in sorted(entry_points(group=self.group), key=lambda e: e.name):
            found.setdefault(ep.name, Plugin(ep.name, ep.value, PLUGIN))
        return found

    def find(self, name: str) -> Plugin:
        """The plugin registered as `name`.  Raises PluginNotFound listing known names."""
        available = self.available()
        plugin = available.get(name)
        if plugin is None:
            known = ", ".join(sorted(available)) or "none"
            raise PluginNotFound(f"no {self.kind} named {name!r}; known {self.kind}s: {known}")
        return plugin

    def load(self, name: str) -> Any:
        """Import plugin `name` and return it: the attribute its target names, else the
        module.  Raises PluginNotFound or PluginLoadError (with the cause chained)."""
        plugin = self.find(name)
        where = f"{self.kind} {name!r} ({plugin.target})"
        try:
            obj: Any = importlib.import_module(plugin.module)
            if plugin.attribute is not None:
                obj = getattr(obj, plugin.attribute)
        except Exception as exc:
            raise PluginLoadError(f"{where} failed to load: {exc}") from exc
        if self.base is not None and not (isinstance(obj, type)
                                          and issubclass(obj, self.base)):
            raise PluginLoadError(f"{where} is not a {self.base.__name__} subclass")
        return obj
