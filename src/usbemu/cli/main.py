"""The `usbemu` command.

    usbemu demo                 the articles' story on an emulated machine
    usbemu describe [MODEL…]    a device model's descriptors: tree, bytes and strings
    usbemu list devices         the device models, built in and from installed plugins
    usbemu clone SOURCE         a clone file from a model name, a sysfs device directory
                                or a descriptors dump

Output is rich on a terminal and plain when piped; NO_COLOR turns colour off.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from ..emulated.clone import CloneError, clone_from_sysfs, dump_clone, load_clone
from ..emulated.device import DeviceModel
from ..emulated.models import ModelNotFound, available_models, load_model
from ..system import System
from .demo import run_demo
from .machine import MachineError, boot, load_module, parse_plug, plug
from .render import descriptor_tree

_F = TypeVar("_F", bound=Callable[..., Any])


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160
    return console


def _model(name: str) -> DeviceModel:
    try:
        return load_model(name)()
    except ModelNotFound as exc:
        raise click.BadParameter(str(exc), param_hint="MODEL") from None


def machine_options(fn: _F) -> _F:
    """The options every command that boots a machine takes (see `boot_machine`)."""
    options = [
        click.option("--real-time", is_flag=True,
                     help="Run on the real clock instead of virtual time."),
        click.option("--seed", type=int, default=None,
                     help="Seed for anything random on the machine (system.random)."),
        click.option("--ports", type=click.IntRange(1, 31), default=6, show_default=True,
                     help="Ports of the root hub."),
        click.option("--load", "modules", multiple=True, metavar="'MODULE [P=V ...]'",
                     help="Load a module (modprobe, or insmod for an example or file) "
                          "with parameters before plugging (repeatable)."),
        click.option("--plug", "plugs", multiple=True,
                     metavar="'MODEL [OPT=V ...] [at PORT]'",
                     help="Plug a device model or clone file (repeatable)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def boot_machine(real_time: bool, seed: int | None, ports: int, modules: tuple[str, ...],
                 plugs: tuple[str, ...]) -> System:
    """Boot the machine the `machine_options` describe: one EHCI-like controller, the
    modules loaded in order, the devices plugged in order and enumerated.  A user's mistake
    becomes a ClickException naming the option; the caller closes the machine."""
    try:
        system = boot(real_time=real_time, seed=seed, ports=ports)
    except MachineError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        for text in modules:
            name, *args = text.split()
            try:
                load_module(system, name, args)
            except OSError as exc:
                raise click.BadParameter(str(exc), param_hint="--load") from None
        for text in plugs:
            try:
                spec, options, port = parse_plug(text.split())
                plug(system, spec, options, port)
            except MachineError as exc:
                raise click.BadParameter(str(exc), param_hint="--plug") from None
    except BaseException:
        system.close()
        raise
    return system


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="usbemu")
def main() -> None:
    """usbemu: the Linux USB subsystem in Python, with emulated devices."""


@main.command()
def demo() -> None:
    """Boot a machine, plug the classic devices, run pen_driver, show what Linux shows."""
    sys.exit(run_demo(_console()))


@main.command()
@click.argument("models", nargs=-1)
def describe(models: tuple[str, ...]) -> None:
    """Show the descriptors of device models (all built-in models by default)."""
    console = _console()
    for name in models or tuple(available_models()):
        model = _model(name)
        console.print(descriptor_tree(name, model.descriptors))


@main.group(name="list")
def list_() -> None:
    """List what usbemu knows about."""


@list_.command(name="devices")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_devices(as_json: bool) -> None:
    """Device models: name, ids, speed and class."""
    rows = []
    for name, target in sorted(available_models().items()):
        model = _model(name)
        d = model.device_descriptor
        rows.append({"name": name, "idVendor": f"{d.idVendor:04x}",
                     "idProduct": f"{d.idProduct:04x}", "speed": model.speed.linux_name,
                     "class": target})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:10} {row['idVendor']}:{row['idProduct']}  "
                   f"{row['speed']:11} {row['class']}")


@main.command()
@click.argument("source")
def clone(source: str) -> None:
    """Print a clone file for SOURCE: a model name, a sysfs device directory
    (/sys/bus/usb/devices/1-1) or a descriptors dump file."""
    path = Path(source)
    try:
        if path.is_dir():
            model: DeviceModel = clone_from_sysfs(path)
        elif path.exists():
            model = load_clone(path)
        else:
            model = _model(source)
    except (CloneError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(dump_clone(model), nl=False)
