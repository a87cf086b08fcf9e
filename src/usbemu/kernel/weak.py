"""Per-machine tables held weakly both ways — the Python side of what a kernel structure
does with a private-data pointer (dev_get_drvdata() in include/linux/device.h): a
subsystem finds its own state from an object of the machine, and the table must not keep
the machine alive.

A module-level `weakref.WeakKeyDictionary` cannot be that table when its values refer to
their keys (a sysfs view refers to its vfs, a subsystem to its usbcore): the table holds
the value, the value holds the key, and no closed machine is ever freed.  `WeakTable`
holds neither: an entry lives while both its key and its value are alive, which the
machine that owns them sees to.  It is not a general mapping, only the few operations
those tables use.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["WeakTable"]

K = TypeVar("K")
V = TypeVar("V")


class WeakTable(Generic[K, V]):
    """key → value, both held weakly.  Context: every method is atomic."""

    def __init__(self) -> None:
        self._refs: weakref.WeakKeyDictionary[K, weakref.ref[V]] = weakref.WeakKeyDictionary()

    def get(self, key: K) -> V | None:
        """The value of `key`, or None (never set, removed, or its value is gone)."""
        ref = self._refs.get(key)
        return None if ref is None else ref()

    def __setitem__(self, key: K, value: V) -> None:
        self._refs[key] = weakref.ref(value)

    def __contains__(self, key: K) -> bool:
        return self.get(key) is not None

    def pop(self, key: K, default: V | None = None) -> V | None:
        """Remove `key`; returns its value, or `default`."""
        ref = self._refs.pop(key, None)
        value = None if ref is None else ref()
        return default if value is None else value

    def values(self) -> Iterator[V]:
        """The values still alive."""
        for ref in list(self._refs.values()):
            value = ref()
            if value is not None:
                yield value

    def __len__(self) -> int:
        return sum(1 for _ in self.values())
