"""STYLE.md item 2 and DESIGN.md §2: every public callable of `usbemu.core` states its context.

Linux writes "Context: task context, might sleep" above each function of `message.c`; here the
language decides which context a function runs in, and its docstring says so in one
vocabulary: an `async def` (process context: it may await) says "Context: may sleep", a plain
`def` (atomic context: it cannot sleep) says "Context: atomic", each optionally followed by a
precise addition ("Context: may sleep; the caller holds the port's lock.").  Public callables
are the module-level functions and the methods of public classes whose names do not start
with `_`; properties are attributes, not callables, and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

import usbemu

CORE: Final = Path(usbemu.__file__).parent / "core"
MAY_SLEEP: Final = "Context: may sleep"
ATOMIC: Final = "Context: atomic"
#: Decorators that make a method an attribute (`name` or the attribute of `x.name`).
ATTRIBUTE_DECORATORS: Final = frozenset({"property", "cached_property", "setter", "getter",
                                         "deleter"})

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _is_attribute(node: Function) -> bool:
    for decorator in node.decorator_list:
        name = getattr(decorator, "id", None) or getattr(decorator, "attr", None)
        if name in ATTRIBUTE_DECORATORS:
            return True
    return False


def public_callables(nodes: list[ast.stmt], prefix: str = "") -> list[tuple[str, Function]]:
    """(qualified name, node) of each public function and public class's method in
    `nodes`, nested public classes included, properties left out."""
    found: list[tuple[str, Function]] = []
    for node in nodes:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found += public_callables(node.body, f"{prefix}{node.name}.")
        elif (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
              and not node.name.startswith("_") and not _is_attribute(node)):
            found.append((prefix + node.name, node))
    return found


def offenders(source: str, module: str) -> list[str]:
    """One line per public callable of `source` whose docstring does not state the context
    its definition implies, or states the other one."""
    found = []
    for name, node in public_callables(ast.parse(source).body):
        doc = ast.get_docstring(node) or ""
        is_async = isinstance(node, ast.AsyncFunctionDef)
        kind = "async def" if is_async else "def"
        want, other = (MAY_SLEEP, ATOMIC) if is_async else (ATOMIC, MAY_SLEEP)
        where = f"{module}:{node.lineno} {name} ({kind})"
        if not doc:
            found.append(f"{where}: no docstring, so no {want!r}")
        elif other in doc:
            found.append(f"{where}: says {other!r}, should say {want!r}")
        elif want not in doc:
            found.append(f"{where}: docstring lacks {want!r}")
    return found


def module_offenders(path: Path) -> list[str]:
    return offenders(path.read_text(encoding="utf-8"), f"usbemu.core.{path.stem}")


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda path: path.stem)
def test_every_public_callable_states_its_context(path: Path) -> None:
    """One test per module of `usbemu.core`, listing every offender of that module."""
    found = module_offenders(path)
    assert found == [], "\n".join(["", *found])


def test_the_walk_sees_the_core() -> None:
    """The walk is not vacuous: it finds the callables the other tests lean on."""
    names = {(path.stem, name) for path in CORE.glob("*.py")
             for name, _ in public_callables(ast.parse(path.read_text(encoding="utf-8")).body)}
    assert {("urb", "usb_submit_urb"), ("message", "usb_control_msg"),
            ("urb", "UsbAnchor.kill_all"), ("hub", "HubDriver.probe")} <= names


@pytest.mark.parametrize(("source", "expected"), [
    # compliant: both contexts, with and without an addition
    ('async def f():\n    """Do it.  Context: may sleep."""\n', []),
    ('async def f():\n    """Do it.\n\n    Context: may sleep; the caller holds a lock."""\n', []),
    ('def f():\n    """Do it.  Context: atomic."""\n', []),
    ('def f():\n    """Do it.  Context: atomic, never blocks (from a completion)."""\n', []),
    # missing
    ("def f():\n    return 1\n",
     ["m:1 f (def): no docstring, so no 'Context: atomic'"]),
    ('def f():\n    """Do it."""\n',
     ["m:1 f (def): docstring lacks 'Context: atomic'"]),
    ('async def f():\n    """Do it.  May sleep."""\n',
     ["m:1 f (async def): docstring lacks 'Context: may sleep'"]),
    ('def f():\n    """Do it.  Atomic."""\n',
     ["m:1 f (def): docstring lacks 'Context: atomic'"]),
    # mismatched
    ('async def f():\n    """Do it.  Context: atomic."""\n',
     ["m:1 f (async def): says 'Context: atomic', should say 'Context: may sleep'"]),
    ('def f():\n    """Do it.  Context: may sleep."""\n',
     ["m:1 f (def): says 'Context: may sleep', should say 'Context: atomic'"]),
    ('async def f():\n    """Context: may sleep.  Context: atomic."""\n',
     ["m:1 f (async def): says 'Context: atomic', should say 'Context: may sleep'"]),
    # methods, nested classes; private names and properties are not checked
    ('class C:\n    async def m(self):\n        """Context: atomic."""\n',
     ["m:2 C.m (async def): says 'Context: atomic', should say 'Context: may sleep'"]),
    ("class C:\n    class D:\n        def m(self):\n            pass\n",
     ["m:3 C.D.m (def): no docstring, so no 'Context: atomic'"]),
    ("class _C:\n    def m(self):\n        pass\n"
     "class C:\n    def _m(self):\n        pass\n    def __len__(self):\n        return 0\n"
     "def _f():\n    pass\n", []),
    ("class C:\n    @property\n    def p(self):\n        return 1\n"
     "    @p.setter\n    def p(self, v):\n        pass\n", []),
])
def test_the_check_sees_what_it_looks_for(source: str, expected: list[str]) -> None:
    """A planted function without its sentence, or with the other one, is reported; a
    compliant one, a private one and a property are not."""
    assert offenders(source, "m") == expected


def test_the_check_reads_a_module_file(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text('async def g():\n    """Context: atomic."""\n')
    assert module_offenders(tmp_path / "bad.py") == [
        "usbemu.core.bad:1 g (async def): says 'Context: atomic', should say "
        "'Context: may sleep'"]
