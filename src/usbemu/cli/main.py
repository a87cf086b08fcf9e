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
from pathlib import Path

import click
from rich.console import Console

from ..emulated.clone import CloneError, clone_from_sysfs, dump_clone, load_clone
from ..emulated.device import DeviceModel
from ..emulated.models import ModelNotFound, available_models, load_model
from .demo import run_demo
from .render import descriptor_tree


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
