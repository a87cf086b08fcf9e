"""The machine as the command line builds it: boot options and host controller kinds, device
models from a short name or a clone file with typed options, port paths and module
arguments — one place for the rules the shell, scenario files, the one-shot commands,
`usbemu mount` and the demo share.

Errors a user can make are `MachineError`s whose message names what was wrong and what would
be accepted; callers add the file and line they know.  Nothing here prints.
"""

from __future__ import annotations

import inspect
import re
import stat
import types
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..emulated.clone import CloneError, clone_from_sysfs, load_clone
from ..emulated.device import DeviceModel
from ..emulated.models import available_models, load_model
from ..emulated.port import PortOwner
from ..errors import PluginLoadError, PluginNotFound
from ..host import HCD_KINDS, load_hcd_kind
from ..system import System

if TYPE_CHECKING:
    from ..core.hcd import HostController

__all__ = ["PORT_PATH", "MachineError", "add_controller", "boot", "build_model",
           "check_hcd_kind", "check_port_path", "free_port", "free_ports", "hcd_kind",
           "host_kind", "load_module", "model_options", "parse_assignments", "parse_plug",
           "parse_value", "plug", "unplug"]

#: A port path as Linux names devices: bus, dash, root-hub port, then hub ports with dots.
PORT_PATH = re.compile(r"^[1-9][0-9]*-[1-9][0-9]*(\.[1-9][0-9]*)*$")

_TRUE = {"1", "y", "yes", "true", "on"}
_FALSE = {"0", "n", "no", "false", "off"}


class MachineError(ValueError):
    """A user's mistake in a machine description or command; the message says what was
    wrong and what would be accepted."""


def boot(*, real_time: bool = False, seed: int | None = None, controllers: int = 1,
         hcd: str = "inproc", ports: int | None = None) -> System:
    """Boot a machine with `controllers` host controllers of kind `hcd` (`usbemu list
    controllers`; "inproc", the in-process controller presented as ehci-pci, unless told)
    of `ports` root ports each (the kind's own count when None: 6 for inproc and ehci),
    bus 1 at 0000:00:1d.0, …, on virtual time unless `real_time`.  The caller closes it.
    Raises MachineError for a bad count, an unknown or broken kind, or a port count the
    kind does not have.  Context: outside the machine's loop; may sleep (runs the loop)."""
    if controllers < 0:
        raise MachineError(f"controllers={controllers}: must be 0 or more")
    if ports is not None and not 1 <= ports <= 31:
        raise MachineError(f"ports={ports}: a root hub has 1 to 31 ports")
    kind = hcd_kind(hcd)
    system = System(virtual=not real_time, seed=seed)
    try:
        system.boot()
        for _ in range(controllers):
            add_controller(system, kind, ports)
    except BaseException:
        system.close()
        raise
    return system


def check_hcd_kind(name: str) -> str:
    """`name` if a host controller kind is registered under it (built in or from a
    plugin, as `usbemu list controllers` lists them); MachineError listing the known kinds
    otherwise.  Imports nothing."""
    try:
        HCD_KINDS.find(name)
    except PluginNotFound as exc:
        raise MachineError(str(exc)) from None
    return name


def hcd_kind(name: str) -> type[HostController]:
    """The host controller class registered as `name`.  Raises MachineError for a name
    nothing registers (listing the known kinds) or a plugin that does not load (with its
    error).  Context: outside the machine's loop (may import)."""
    try:
        return load_hcd_kind(check_hcd_kind(name))
    except PluginLoadError as exc:
        raise MachineError(str(exc)) from None


def add_controller(system: System, kind: type[HostController],
                   ports: int | None = None) -> HostController:
    """Add a host controller of class `kind` (see `hcd_kind`) with `ports` root ports (the
    kind's own count when None) and let its root hub settle; returns it.  Raises
    MachineError for a port count the kind does not have.  Context: outside the
    machine's loop; runs it."""
    try:
        return system.add_controller(kind, nports=ports)
    except (TypeError, ValueError) as exc:
        raise MachineError(str(exc)) from None


def check_port_path(path: str) -> str:
    """`path` if it is a port path ("1-1", "1-4.2"); MachineError otherwise."""
    if not PORT_PATH.match(path):
        raise MachineError(f"{path!r} is not a port path; expected BUS-PORT[.PORT...], "
                           "e.g. 1-1 or 1-4.2")
    return path


def model_options(cls: type[DeviceModel]) -> dict[str, inspect.Parameter]:
    """The options a model class takes: its constructor's keyword parameters."""
    params = inspect.signature(cls.__init__).parameters
    return {name: p for name, p in params.items()
            if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _resolve_annotation(cls: type[DeviceModel], name: str) -> Any:
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that cannot be evaluated: accept the text as given
        return str
    return hints.get(name, str)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(m.name.lower() for m in annotation)
    return getattr(annotation, "__name__", str(annotation))


def parse_value(text: object, annotation: Any, what: str) -> object:
    """Convert `text` (a string from a command line, or a TOML value) to `annotation`:
    int (decimal, 0x hex, 0o octal), bool (y/n, yes/no, true/false, on/off, 1/0), str,
    float, an Enum by member name (case-insensitive).  Raises MachineError naming `what`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in typing.get_args(annotation):
            if arm is type(None):
                continue
            try:
                return parse_value(text, arm, what)
            except MachineError as exc:
                errors.append(str(exc))
        raise MachineError(errors[0] if errors else f"{what}: no value accepted")
    if annotation is bool:
        if isinstance(text, bool):
            return text
        word = str(text).lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise MachineError(f"{what}={text!r}: expected a boolean (y/n, true/false, 1/0)")
    if annotation is int:
        if isinstance(text, int) and not isinstance(text, bool):
            return text
        try:
            return int(str(text), 0)
        except ValueError:
            raise MachineError(f"{what}={text!r}: expected an integer (42, 0x2a)") from None
    if annotation is float:
        try:
            return float(str(text))
        except ValueError:
            raise MachineError(f"{what}={text!r}: expected a number") from None
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if isinstance(text, annotation):
            return text
        for member in annotation:
            if member.name.lower() == str(text).lower():
                return member
        raise MachineError(f"{what}={text!r}: expected {_type_name(annotation)}")
    if isinstance(text, bool | int | float):
        raise MachineError(f"{what}={text!r}: expected a string")
    return str(text)


def parse_assignments(words: Sequence[str], what: str = "option") -> dict[str, str]:
    """`["ports=7", "speed=full"]` → {"ports": "7", "speed": "full"}; MachineError for a
    word without `=`."""
    result: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise MachineError(f"{word!r}: expected {what} as NAME=VALUE")
        result[key] = value
    return result


def _model_class(spec: str) -> type[DeviceModel] | None:
    try:
        return load_model(spec)
    except PluginNotFound:
        return None
    except ImportError as exc:
        raise MachineError(str(exc)) from None


def host_kind(path: str | Path) -> Literal["directory", "file"] | None:
    """What is at `path` on the host: a directory, a file (anything else that can be read:
    a regular file, a device, a pipe), or None when nothing is there or the name cannot
    be a path (longer than the system's limit, a NUL character).  Never raises."""
    try:
        mode = Path(path).stat().st_mode
    except (OSError, ValueError):
        return None
    return "directory" if stat.S_ISDIR(mode) else "file"


def _shown(name: str) -> str:
    """A name as a message quotes it: repr, and one longer than a file name may be (255)
    cut, with its length."""
    if len(name) <= 255:
        return repr(name)
    return f"{name[:60]!r}… ({len(name)} characters)"


def _clone(spec: str, options: Mapping[str, object]) -> DeviceModel:
    """The device a host path names: a sysfs device directory, or a clone file or
    descriptors dump (see `build_model`)."""
    kind = host_kind(spec)
    if kind is None:
        known = ", ".join(sorted(available_models()))
        raise MachineError(f"no device model named {_shown(spec)} and no such file; "
                           f"known models: {known}")
    if options:
        raise MachineError(f"{spec}: a cloned device takes no options "
                           f"(got {', '.join(sorted(options))})")
    try:
        return clone_from_sysfs(spec) if kind == "directory" else load_clone(spec)
    except CloneError as exc:
        raise MachineError(str(exc)) from None
    except OSError as exc:
        raise MachineError(f"{exc.filename or spec}: {exc.strerror or exc}") from None


def build_model(spec: str, options: Mapping[str, object] | None = None) -> DeviceModel:
    """A device model from `spec`: a model's short name (`usbemu list devices`), else the
    path of a clone file (TOML clone, hex or binary descriptors dump) or of a device's
    sysfs directory (/sys/bus/usb/devices/1-1), with `options` given to the model's
    constructor after conversion to its annotated types.  Raises MachineError for an
    unknown model or a missing, unreadable or broken file (naming the file and what is
    wrong), an unknown option (naming the accepted ones) or a bad value."""
    options = dict(options or {})
    cls = _model_class(spec)
    if cls is None:
        return _clone(spec, options)
    accepted = model_options(cls)
    kwargs: dict[str, object] = {}
    for key, value in options.items():
        if key not in accepted:
            names = ", ".join(f"{n} ({_type_name(_resolve_annotation(cls, n))})"
                              for n in accepted) or "none"
            raise MachineError(f"model {spec!r} has no option {key!r}; accepted: {names}")
        kwargs[key] = parse_value(value, _resolve_annotation(cls, key), key)
    factory: Any = cls
    try:
        return typing.cast(DeviceModel, factory(**kwargs))
    except (TypeError, ValueError) as exc:
        raise MachineError(f"model {spec!r}: {exc}") from None


def parse_plug(words: Sequence[str]) -> tuple[str, dict[str, str], str | None]:
    """The words of `plug MODEL [NAME=VALUE ...] [at PORT-PATH]` after "plug": (model or
    clone file, options, port path or None).  Raises MachineError."""
    words = list(words)
    if not words:
        raise MachineError("plug: missing MODEL; usage: plug MODEL [NAME=VALUE ...] "
                           "[at PORT-PATH]")
    port: str | None = None
    if "at" in words[1:]:
        at = words.index("at", 1)
        rest = words[at + 1:]
        if len(rest) != 1:
            raise MachineError("plug: 'at' takes one port path, e.g. at 1-1 or at 1-4.2")
        port = check_port_path(rest[0])
        words = words[:at]
    return words[0], parse_assignments(words[1:]), port


def free_ports(system: System) -> list[str]:
    """Port paths where a device could be plugged in: empty root-hub ports in port order,
    then empty ports of hub models.  Atomic."""
    roots = [(f"{busnum}-", bus.hcd.downstream) for busnum, bus in sorted(system.usb.buses.items())]
    hubs = [(f"{path}.", model.downstream) for path, model in system.models()]
    return [f"{prefix}{port.port1}" for prefix, owner in roots + hubs
            if isinstance(owner, PortOwner) for port in owner.ports if port.device is None]


def _listed(paths: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(paths[:most])
    return shown + (f" … ({len(paths)} in all)" if len(paths) > most else "")


def free_port(system: System) -> str:
    """The first empty root-hub port of the machine ("1-1", then "1-2" …).  Raises
    MachineError when every root-hub port is taken, naming the free ports of the hubs
    plugged in (never a port of a hub that is not there)."""
    free = free_ports(system)
    roots = [path for path in free if "." not in path]
    if roots:
        return roots[0]
    if not free:
        raise MachineError("every root-hub port is taken and no hub has a free port; "
                           "unplug a device first")
    raise MachineError(f"every root-hub port is taken; say where: plug MODEL at {free[0]} "
                       f"(free hub ports: {_listed(free)})")


def plug(system: System, spec: str, options: Mapping[str, object] | None = None,
         port: str | None = None, *, settle: bool = True) -> str:
    """Build the model `spec` with `options`, plug it in at `port` (the first free root-hub
    port when None), let the machine settle (the hub driver enumerates it, drivers bind and
    finish their scans) unless `settle` is False, and return the port path.  Raises
    MachineError (bad model, option or port; a port that is taken — the message then
    lists the free ports, `free_ports`).  Context: outside the machine's loop; runs it."""
    model = build_model(spec, options)
    path = check_port_path(port) if port is not None else free_port(system)
    try:
        system.plug(model, path)
    except ValueError as exc:
        free = free_ports(system)
        raise MachineError(f"{exc}; free ports: {_listed(free) if free else 'none'}"
                           ) from None
    if settle:
        system.settle()
    return path


def unplug(system: System, port: str) -> DeviceModel:
    """Unplug the device at `port`, let the hub driver handle the disconnect, return its
    model.  Raises MachineError when the path is bad or nothing is plugged in there."""
    try:
        model = system.unplug(check_port_path(port))
    except ValueError as exc:
        raise MachineError(str(exc)) from None
    if model is None:
        raise MachineError(f"unplug: nothing is plugged in at {port}")
    system.settle()
    return model


def load_module(system: System, name: str, args: Sequence[str] = ()) -> None:
    """Load module `name` with `args` ("vendor=0xffff") the way a user would: modprobe for
    an installed module (dependencies first), insmod for a file or an example shipped with
    usbemu (pen_driver).  Raises ModuleError (an OSError) with the tool's message."""
    source = system.modules.resolve(name)
    if source is not None and not source.installed:
        system.insmod(name, *args)
    else:
        system.modprobe(name, *args)
