"""The machine a scenario declares: `[machine]` (the boot options), the `[[module]]`s loaded
and the `[[device]]`s plugged in at the start — their specs and how each is read.

A device model is built once while the file is read, so that a bad option is reported
before anything runs; `module_name`, `model_spec` and `check_model` are shared with the
`load` and `plug` step actions, which name modules and models the same way.  Nothing is
loaded or plugged here (the runner does that, through `cli.machine`), and bridges have
their own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...emulated.models import available_models
from ..machine import MachineError, build_model, hcd_kind, host_kind
from .fields import (
    BadValue,
    Entry,
    Reader,
    WrongType,
    boolean,
    integer,
    module_args,
    port_path,
    string,
    table,
)


@dataclass(frozen=True)
class MachineSpec:
    """[machine]: `cli.machine.boot`'s options (`ports` None: the controller kind's own
    count), and the line a failure to boot is reported at (that of `ports`, else of the
    table)."""

    real_time: bool = False
    seed: int | None = None
    controllers: int = 1
    hcd: str = "inproc"
    ports: int | None = None
    line: int = 1

    def describe(self) -> str:
        """"boot 2 ehci controllers of 20 ports"."""
        plural = "" if self.controllers == 1 else "s"
        ports = "the kind's own ports" if self.ports is None else f"{self.ports} ports"
        return f"boot {self.controllers} {self.hcd} controller{plural} of {ports}"


@dataclass(frozen=True)
class ModuleSpec:
    """A [[module]]: loaded at the start as `load_module` loads it."""

    number: int
    line: int
    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class DeviceSpec:
    """A [[device]]: a model (short name or clone file) plugged in at the start."""

    number: int
    line: int
    model: str
    options: Mapping[str, object]
    at: str | None


def hcd_name(value: object) -> str:
    """A host controller kind that loads (`usbemu list controllers`)."""
    if not isinstance(value, str):
        raise WrongType('a host controller kind, like "inproc" or "ehci"')
    try:
        hcd_kind(value)
    except MachineError as exc:
        raise BadValue(str(exc)) from None
    return value


def read_machine(reader: Reader, data: Mapping[str, object]) -> MachineSpec:
    e = Entry(reader, "machine", None, "machine", data)
    e.only(("real_time", "seed", "controllers", "hcd", "ports"))
    return MachineSpec(
        real_time=e.value("real_time", boolean, False),
        seed=e.get("seed", integer()),
        controllers=e.value("controllers", integer("an integer from 0 to 16", 0, 16), 1),
        hcd=e.value("hcd", hcd_name, "inproc"),
        ports=e.get("ports", integer("an integer from 1 to 31", 1, 31)),
        line=e.line("ports"))


def module_name(e: Entry, key: str) -> str | None:
    """A module name, or a driver file (a path, or a name ending in .py) relative to the
    scenario; a file must exist."""
    name = e.require(key, string('a module name like "pen_driver", or a driver file'),
                     'the module to load, e.g. "pen_driver"')
    if name is None or not (name.endswith(".py") or "/" in name):
        return name
    path = e.reader.file(name)
    if not path.is_file():
        e.error(key, f"no driver file {name!r} (looked for {path}; a file is named "
                     "relative to the scenario's directory)")
        return None
    return str(path)


def read_module(reader: Reader, number: int, data: Mapping[str, object]) -> ModuleSpec | None:
    e = Entry(reader, "module", number, f"module {number}", data)
    e.only(("name", "params"))
    name = module_name(e, "name")
    args = e.get("params", module_args) or ()
    return None if e.failed or name is None else ModuleSpec(number, e.line(), name, args)


def model_spec(e: Entry, key: str, value: str, *, clone: bool) -> str | None:
    """The `build_model` spec for a model name or a clone file (relative to the scenario):
    a model name wins unless `clone` says it is a file."""
    if not clone and value in available_models():
        return value
    path = e.reader.file(value)
    if host_kind(path) == "file":
        return str(path)
    if clone:
        e.error(key, f"no clone file {value!r} (looked for {path}; a file is named relative "
                     "to the scenario's directory)")
    else:
        known = ", ".join(sorted(available_models()))
        e.error(key, f"no device model named {value!r} and no such file; known models: "
                     f"{known}; a clone file is named relative to the scenario's directory")
    return None


def check_model(e: Entry, key: str, spec: str, options: Mapping[str, object]) -> None:
    """Build the model once, so that a bad option is found before anything runs."""
    try:
        build_model(spec, options)
    except MachineError as exc:
        e.error("options" if "options" in e.data else key, str(exc))


def read_device(reader: Reader, number: int, data: Mapping[str, object]) -> DeviceSpec | None:
    e = Entry(reader, "device", number, f"device {number}", data)
    e.only(("model", "clone", "at", "options"))
    at = e.get("at", port_path)
    options = e.get("options", table("a table of model options, like { ports = 4 }")) or {}
    key = e.one_of(("model", "clone"), "a model's short name, or a clone file")
    if key is None:
        return None
    value = e.get(key, string("a clone file path" if key == "clone" else "a model name"))
    spec = model_spec(e, key, value, clone=key == "clone") if value is not None else None
    if spec is None or e.failed:
        return None
    check_model(e, key, spec, options)
    return None if e.failed else DeviceSpec(number, e.line(), spec, options, at)
