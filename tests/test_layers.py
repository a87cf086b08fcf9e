"""DESIGN.md §3's import directions, held by reading every module's import statements.

`spec` imports nothing of usbemu's; `errors` only `spec`, `plugins` only `errors`; `emulated`
and `kernel` only those (and themselves); `core` never `emulated`, `host`, `drivers`,
`bridges`, `cli`, `testing` or the System; `drivers` never device models (`host` is where
the host stack meets them) nor the layers above; nothing under `src/` imports `testing` or
`cli` but those packages themselves.  The
package root's type-only names of the test kit (`usbemu/__init__.py`, loaded lazily) are
the one exemption.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

import usbemu

ROOT: Final = Path(usbemu.__file__).parent
LEAVES: Final = frozenset({"spec", "errors", "plugins"})
ABOVE_CORE: Final = frozenset({"host", "drivers", "bridges", "cli", "testing", "system"})

#: layer → layers it must not import.
FORBIDDEN: Final[dict[str, frozenset[str]]] = {
    "spec": frozenset({"errors", "plugins", "kernel", "core", "emulated", "host", "drivers",
                       "bridges", "cli", "testing", "system", "linux"}),
    "errors": frozenset({"plugins", "kernel", "core", "emulated", "host", "drivers", "bridges",
                         "cli", "testing", "system", "linux"}),
    "plugins": frozenset({"kernel", "core", "emulated", "host", "drivers", "bridges", "cli",
                          "testing", "system", "linux"}),
    "emulated": frozenset({"kernel", "core", "host", "drivers", "bridges", "cli", "testing",
                           "system", "linux"}),
    "kernel": frozenset({"core", "emulated", "host", "drivers", "bridges", "cli", "testing",
                         "system", "linux"}),
    "core": frozenset({"emulated"}) | ABOVE_CORE | {"linux"},
    "host": frozenset({"drivers", "bridges", "cli", "testing", "system"}),
    "drivers": frozenset({"emulated", "host", "bridges", "cli", "testing", "system"}),
    "linux": frozenset({"host", "bridges", "cli", "testing", "system"}),
    "system": frozenset({"bridges", "cli", "testing"}),
    "bridges": frozenset({"cli", "testing"}),
    "testing": frozenset({"cli"}),
    "cli": frozenset({"testing"}),
}


def layer_of(module: str) -> str:
    """usbemu.core.hub → core; usbemu.system → system; usbemu → (root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """The usbemu modules an import statement of `path` names (relative ones resolved;
    `from X import y` counts as X and, where y may be a module, X.y)."""
    package = ["usbemu", *path.relative_to(root).parts[:-1]]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "usbemu")
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module.split(".")[0] != "usbemu":
                continue
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return found


def modules(root: Path = ROOT) -> list[tuple[str, Path]]:
    return sorted((".".join(["usbemu", *p.relative_to(root).with_suffix("").parts]), p)
                  for p in root.rglob("*.py"))


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for name, path in modules(root):
        forbidden = FORBIDDEN.get(layer_of(name), frozenset())
        found += [f"{name} imports {target}" for target in sorted(imports_of(path, root))
                  if layer_of(target) in forbidden]
    return found


def test_every_module_has_a_layer_with_rules() -> None:
    layers = {layer_of(name) for name, _ in modules()} - {"(root)", "__init__", "__main__"}
    assert layers <= set(FORBIDDEN), layers - set(FORBIDDEN)


def test_imports_follow_the_layers() -> None:
    assert violations() == []


def test_nothing_but_the_root_names_the_test_kit_or_the_command_line() -> None:
    offenders = [f"{name} imports {target}" for name, path in modules()
                 for target in imports_of(path)
                 if layer_of(target) in ("testing", "cli")
                 and layer_of(name) not in (layer_of(target), "__init__", "__main__")]
    assert offenders == []


@pytest.mark.parametrize(("source", "module", "expected"), [
    ("from ..core.hub import x\n", "emulated/bad.py",
     ["usbemu.emulated.bad imports usbemu.core.hub",
      "usbemu.emulated.bad imports usbemu.core.hub.x"]),
    ("import usbemu.host.inproc\n", "core/bad.py", ["usbemu.core.bad imports usbemu.host.inproc"]),
    ("from ...testing import kit\n", "kernel/sub/bad.py",
     ["usbemu.kernel.sub.bad imports usbemu.testing",
      "usbemu.kernel.sub.bad imports usbemu.testing.kit"]),
    ("from ..spec import ch9\n", "emulated/good.py", []),
])
def test_the_check_sees_what_it_looks_for(tmp_path: Path, source: str, module: str,
                                          expected: list[str]) -> None:
    """A wrong import planted in a tree of its own is reported; a right one is not."""
    target = tmp_path / module
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    assert violations(tmp_path) == expected
