"""The `usbemu` command.

    usbemu demo                 the articles' story on an emulated machine
    usbemu shell [--plug …]     an interactive shell on the machine (commands from stdin
                                when piped)
    usbemu run SCENARIO.toml    a declared machine and timeline, with expectations
    usbemu lsusb [-t|-v|--json] [-s [[bus]:][devnum]] [-d [vendor]:[product]]
                                lsusb of a machine built from the machine options
    usbemu devices              /sys/kernel/debug/usb/devices of such a machine
    usbemu stats [--for SECONDS] [--json]
                                its host controllers' schedule statistics after SECONDS
                                of machine time (ehci: frames, bus use, endpoints)
    usbemu mount DIR            its /sys, /proc and /dev as a FUSE filesystem
    usbemu serve --pty TTY[=LINK] | --pyusb PATH
                                its ttys as host ptys (pyserial, picocom), its devices
                                to pyusb programs on a Unix socket, on real time
    usbemu export MODEL… [--host H] [--port P] [--at PORT-PATH]
                                device models exported over USB/IP (usbipd, usbip-host),
                                on real time, with the kernel log as it goes
    usbemu attach HOST[:PORT] BUSID…
                                devices of a USB/IP server imported through vhci_hcd, on
                                real time, with the kernel log as it goes
    usbemu capture -w FILE [--format pcapng|pcap|text] [--bus N] [--snaplen N]
                                every URB of such a machine as usbmon sees it, as a
                                capture file for Wireshark (or usbmon's text)
    usbemu testusb [-a | -D PATH] [-t N] [-c N] [-s N] [-v N] [-g N] [--controller KIND]
                                testusb: the usbtest cases against gadget zero (or the
                                devices plugged), through usbfs
    usbemu list devices|drivers|controllers|bridges
                                what usbemu knows, built in and from installed plugins
    usbemu describe [MODEL…]    a device model's (or clone file's) descriptors: tree, bytes
                                and strings
    usbemu clone SOURCE         a clone file from a model name, a sysfs device directory
                                or a descriptors dump
    usbemu clone --usb DEVICE   a clone file read from a device of this machine (pyusb)

The machine options (`machine_options`): --plug, --load, --hcd, --ports, --seed,
--real-time.
Output is rich on a terminal and plain when piped; NO_COLOR turns colour off.  A mistake
is one line, `usbemu: error: …`, with exit status 2 (`cli.usage`); a scenario's mistakes
are its FILE:LINE lines.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from rich import box
from rich.console import Console
from rich.table import Table

from ..bridges.lsusb import DeviceFilter, lsusb_t, lsusb_v
from ..bridges.lsusb import lsusb as lsusb_list
from ..bridges.usbmon import DEFAULT_SNAPLEN, FORMATS
from ..bridges.usbmon import capture as usbmon_capture
from ..emulated.clone import CloneError, dump_clone
from ..emulated.device import DeviceModel
from ..emulated.models import available_models
from ..errors import SettleTimeout
from ..kernel.vtime import MAX_SLEEP_DAYS
from ..system import System
from .attach import Server, run_attach
from .demo import run_demo
from .export import parse_exports, run_export
from .listing import bridge_rows, controller_rows, device_rows, driver_rows, model_rows
from .machine import (
    MachineError,
    add_controller,
    boot,
    build_model,
    check_hcd_kind,
    hcd_kind,
    load_module,
    parse_plug,
    plug,
)
from .render import descriptor_tree
from .scenario import ScenarioError, load_scenario, run_scenario
from .serve import parse_requests, run_serve
from .shell import run_shell
from .stats import bus_statistics
from .testusb import options_from, run_testusb, testusb_options
from .usage import CommandError, CommandFailure, UsbemuGroup

_F = TypeVar("_F", bound=Callable[..., Any])


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160
    return console


def _model(spec: str, param_hint: str) -> DeviceModel:
    """The device `spec` names — a model, a clone file or dump, a sysfs device directory —
    as --plug resolves it (`build_model`); a mistake is a BadParameter naming `param_hint`."""
    try:
        return build_model(spec)
    except MachineError as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from None


_seed_option = click.option("--seed", type=int, default=None,
                            help="Seed for anything random on the machine (system.random).")


def _clock_options(fn: _F) -> _F:
    fn = _seed_option(fn)
    return click.option("--real-time", is_flag=True,
                        help="Run on the real clock instead of virtual time.")(fn)


def _hcd_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--hcd: a registered controller kind, checked before a machine boots."""
    try:
        return check_hcd_kind(value)
    except MachineError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _population_options(fn: _F) -> _F:
    options = [
        click.option("--hcd", default="inproc", show_default=True, metavar="KIND",
                     callback=_hcd_option,
                     help="Kind of the host controller (usbemu list controllers): inproc, "
                          "or ehci for EHCI's schedules on machine time."),
        click.option("--ports", type=click.IntRange(1, 31), default=None,
                     help="Ports of the root hub (the kind's own count by default: 6 for "
                          "inproc and ehci)."),
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


def machine_options(fn: _F) -> _F:
    """The options of every command that boots a machine: --real-time, --seed, --hcd,
    --ports, --load and --plug (see `boot_machine`)."""
    return _clock_options(_population_options(fn))


def _words(text: str, option: str) -> list[str]:
    """An option's value split as the shell splits a command line (quotes kept whole)."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: {exc}", param_hint=option) from None


def _populate(system: System, hcd: str, ports: int | None, modules: tuple[str, ...],
              plugs: tuple[str, ...]) -> None:
    """One controller of kind `hcd` with `ports` ports (the kind's own count when None),
    the modules loaded in order, the devices plugged in order and enumerated; a user's
    mistake becomes a BadParameter naming the option."""
    try:
        kind = hcd_kind(hcd)
    except MachineError as exc:
        raise click.BadParameter(str(exc), param_hint="--hcd") from None
    try:
        add_controller(system, kind, ports)
    except MachineError as exc:
        raise click.BadParameter(str(exc), param_hint="--ports") from None
    for text in modules:
        name, *args = _words(text, "--load") or [""]
        try:
            load_module(system, name, args)
        except OSError as exc:
            raise click.BadParameter(str(exc), param_hint="--load") from None
    for text in plugs:
        try:
            spec, options, port = parse_plug(_words(text, "--plug"))
            plug(system, spec, options, port)
        except MachineError as exc:
            raise click.BadParameter(str(exc), param_hint="--plug") from None


def boot_machine(real_time: bool, seed: int | None, hcd: str, ports: int | None,
                 modules: tuple[str, ...], plugs: tuple[str, ...]) -> System:
    """Boot the machine the `machine_options` describe (see `_populate`).  The caller
    closes it (`with boot_machine(...) as system:`).  May sleep (runs the machine)."""
    system = boot(real_time=real_time, seed=seed, controllers=0)
    try:
        _populate(system, hcd, ports, modules, plugs)
    except SettleTimeout as exc:        # a probe that never returns, say
        system.close()
        raise CommandFailure(str(exc)) from None
    except BaseException:
        system.close()
        raise
    return system


@click.group(name="usbemu", cls=UsbemuGroup,
             context_settings={"help_option_names": ["-h", "--help"]})
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
    """Show the descriptors of device models (all built-in models by default), or of
    clone files, as --plug takes them."""
    console = _console()
    for name in models or tuple(available_models()):
        model = _model(name, "MODEL")
        console.print(descriptor_tree(name, model.descriptors))


@main.group(name="list", cls=UsbemuGroup)
def list_() -> None:
    """List what usbemu knows about."""


def _print_rows(rows: list[dict[str, Any]], columns: list[tuple[str, str]],
                as_json: bool) -> None:
    """Rows as JSON, as a rich table on a terminal, or as plain aligned columns."""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    cells = [[("" if row[key] is None else str(row[key])) for key, _ in columns]
             for row in rows]
    console = _console()
    if console.is_terminal:
        table = Table(*(title for _, title in columns), box=box.SIMPLE_HEAD)
        for line in cells:
            table.add_row(*line, style=None)
        console.print(table)
        return
    widths = [max([len(title)] + [len(line[i]) for line in cells])
              for i, (_, title) in enumerate(columns)]
    for line in [[title for _, title in columns], *cells]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


@list_.command(name="devices")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_devices(as_json: bool) -> None:
    """Device models: short name, ids, speed and the class that implements it."""
    rows = model_rows()
    _print_rows(rows, [("name", "MODEL"), ("id", "ID"), ("speed", "SPEED"),
                       ("class", "IMPLEMENTATION")], as_json)


@list_.command(name="drivers")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_drivers(as_json: bool) -> None:
    """USB drivers by their Linux names, with the module that registers them."""
    rows = driver_rows()
    _print_rows(rows, [("driver", "DRIVER"), ("module", "MODULE"), ("kind", "KIND"),
                       ("ids", "IDS"), ("origin", "ORIGIN"), ("error", "ERROR")], as_json)


@list_.command(name="controllers")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_controllers(as_json: bool) -> None:
    """Host controller kinds (System.add_controller), built in and from plugins."""
    rows = controller_rows()
    _print_rows(rows, [("name", "KIND"), ("driver", "DRIVER"), ("product", "PRODUCT"),
                       ("speed", "ROOT HUB"), ("origin", "ORIGIN"), ("error", "ERROR")],
                as_json)


@list_.command(name="bridges")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_bridges(as_json: bool) -> None:
    """Bridges to the world outside, and whether this host can run them."""
    rows = bridge_rows()
    if not as_json:
        for row in rows:
            row["status"] = ("ok" if row["available"]
                             else f"unavailable: {row['unavailable_reason']}")
    _print_rows(rows, [("name", "BRIDGE"), ("summary", "WHAT"), ("origin", "ORIGIN"),
                       ("status", "STATUS")], as_json)


@main.command()
@machine_options
@click.option("-t", "tree", is_flag=True,
              help="The device hierarchy as a tree (all of it whatever -s and -d say, as "
                   "usbutils shows it).")
@click.option("-v", "verbose", is_flag=True, help="Every descriptor, decoded.")
@click.option("-s", "select", metavar="[[bus]:][devnum]",
              help="Only devices with this bus and/or device number (decimal).")
@click.option("-d", "ids", metavar="[vendor]:[product]",
              help="Only devices with this vendor and/or product id (hexadecimal).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable device list.")
def lsusb(real_time: bool, seed: int | None, hcd: str, ports: int | None,
          modules: tuple[str, ...], plugs: tuple[str, ...], tree: bool, verbose: bool,
          select: str | None, ids: str | None, as_json: bool) -> None:
    """lsusb of a machine booted with the given modules and devices (usbutils' format).
    Exits with status 1 when no device matches -s and -d, as usbutils' lsusb does."""
    try:
        only = DeviceFilter.parse(select, ids)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    with boot_machine(real_time, seed, hcd, ports, modules, plugs) as system:
        if as_json:
            rows = device_rows(system, only=only)
            click.echo(json.dumps(rows, indent=2))
            found = bool(rows)
        elif tree:
            click.echo(lsusb_t(system), nl=False)
            found = True
        else:
            text = (lsusb_v if verbose else lsusb_list)(system, only=only)
            click.echo(text, nl=False)
            found = bool(text)
    if not found:
        sys.exit(1)


@main.command()
@machine_options
def devices(real_time: bool, seed: int | None, hcd: str, ports: int | None,
            modules: tuple[str, ...], plugs: tuple[str, ...]) -> None:
    """/sys/kernel/debug/usb/devices of a machine booted with the given modules and devices."""
    with boot_machine(real_time, seed, hcd, ports, modules, plugs) as system:
        click.echo(system.vfs.read_text("/sys/kernel/debug/usb/devices"), nl=False)


@main.command()
@machine_options
@click.option("--for", "seconds", default=1.0, show_default=True, metavar="SECONDS",
              type=click.FloatRange(min=0, min_open=True, max=MAX_SLEEP_DAYS * 86400),
              help="Machine time to run after the devices are plugged.")
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable: a list of buses with their statistics.")
def stats(real_time: bool, seed: int | None, hcd: str, ports: int | None,
          modules: tuple[str, ...], plugs: tuple[str, ...], seconds: float,
          as_json: bool) -> None:
    """The schedule statistics of a machine's host controllers after SECONDS of machine
    time: per bus the frame number, each bus's use and each endpoint's bytes,
    transactions, NAKs, URBs and throughput (controllers of kind ehci; others say they
    keep none)."""
    with boot_machine(real_time, seed, hcd, ports, modules, plugs) as system:
        system.sleep(seconds * 1000)
        buses = bus_statistics(system)
    if as_json:
        click.echo(json.dumps([bus.as_dict() for bus in buses], indent=2))
    else:
        click.echo("\n".join(bus.text() for bus in buses), nl=False)


@main.command(name="testusb")
@machine_options
@testusb_options
def testusb_command(real_time: bool, seed: int | None, hcd: str, ports: int | None,
                    modules: tuple[str, ...], plugs: tuple[str, ...], controller: str | None,
                    **testusb_args: Any) -> None:
    """testusb (tools/usb/testusb.c): the usbtest driver's test cases on the machine's test
    devices through usbfs — gadget zero on one controller unless --plug says otherwise."""
    with boot_machine(real_time, seed, controller or hcd, ports, modules,
                      plugs or ("zero",)) as system:
        status = run_testusb(system, options_from(**testusb_args))
    sys.exit(status)


#: A capture file's format by its suffix (pcapng otherwise).
_CAPTURE_SUFFIXES: Final = {".pcap": "pcap", ".txt": "text", ".mon": "text"}


@main.command(name="capture")
@machine_options
@click.option("-w", "--write", "path", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="The capture file (Wireshark and tshark read pcap and pcapng).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="pcapng, pcap (LINKTYPE_USB_LINUX_MMAPPED) or text (usbmon's 1u lines); "
                   "by FILE's suffix when not given (.pcap, .txt or .mon, else pcapng).")
@click.option("--bus", default=0, show_default=True, type=click.IntRange(min=0),
              help="The bus to capture (0: all, as usbmon0).")
@click.option("--snaplen", default=DEFAULT_SNAPLEN, show_default=True,
              type=click.IntRange(min=64), help="Bytes kept of each event (header included).")
@click.option("--for", "seconds", default=1.0, show_default=True, metavar="SECONDS",
              type=click.FloatRange(min=0, max=MAX_SLEEP_DAYS * 86400),
              help="Machine time to go on capturing after the devices are plugged.")
def capture_command(real_time: bool, seed: int | None, hcd: str, ports: int | None,
                    modules: tuple[str, ...], plugs: tuple[str, ...], path: Path,
                    fmt: str | None, bus: int, snaplen: int, seconds: float) -> None:
    """Capture every URB of a machine as usbmon sees it — the controller's root hub, the
    modules loaded, the devices plugged and enumerated, then SECONDS of machine time — into
    FILE; print how many events it holds."""
    chosen = fmt or _CAPTURE_SUFFIXES.get(path.suffix.lower(), "pcapng")
    system = boot(real_time=real_time, seed=seed, controllers=0)
    try:
        try:
            recorder = usbmon_capture(system, path, bus=bus or None, snaplen=snaplen,
                                      fmt=chosen)  # type: ignore[arg-type]
            recorder.start()
        except OSError as exc:
            raise CommandFailure(f"capture: {path}: {exc.strerror or exc}") from None
        try:
            _populate(system, hcd, ports, modules, plugs)
            system.sleep(seconds * 1000)
        finally:
            recorder.stop()
    except SettleTimeout as exc:
        raise CommandFailure(str(exc)) from None
    finally:
        system.close()
    click.echo(f"{recorder.packets} events written to {path} ({chosen})")


@main.command()
@_population_options
@_seed_option
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def mount(hcd: str, ports: int | None, modules: tuple[str, ...], plugs: tuple[str, ...],
          seed: int | None, directory: Path) -> None:
    """Serve the machine's /sys, /proc and /dev as a FUSE filesystem at DIRECTORY (which
    must exist) until it is unmounted (fusermount3 -u DIRECTORY) or the command is
    interrupted (SIGINT, SIGTERM).  The machine runs on real time: outside programs use
    it."""
    from ..bridges.fuse import FuseUnavailable, run_mount

    def setup(system: System) -> None:
        system.random.seed(seed)
        _populate(system, hcd, ports, modules, plugs)

    try:
        run_mount(str(directory), setup)
    except FuseUnavailable as exc:
        raise CommandFailure(str(exc)) from None


@main.command()
@_population_options
@_seed_option
@click.option("--pty", "ptys", multiple=True, metavar="TTY[=LINK]",
              help="Serve an emulated tty (ttyUSB0, ttyACM0) as a host pty, with a symbolic "
                   "link LINK to it (repeatable).")
@click.option("--pyusb", "pyusb", metavar="PATH",
              help="Serve the machine's devices to pyusb programs on the Unix socket PATH "
                   "(UsbemuBackend.connect(PATH), or USBEMU_PYUSB=PATH).")
@click.option("--for", "seconds", type=click.FloatRange(min=0, min_open=True),
              metavar="SECONDS", help="Stop after SECONDS of real time (default: at Ctrl-C "
                                      "or SIGTERM).")
def serve(hcd: str, ports: int | None, modules: tuple[str, ...], plugs: tuple[str, ...],
          seed: int | None, ptys: tuple[str, ...], pyusb: str | None,
          seconds: float | None) -> None:
    """Serve the machine's ttys as host ptys for programs outside (pyserial, picocom,
    screen), and its devices to pyusb programs on a Unix socket (--pyusb): one line per
    pty or socket, then until Ctrl-C or SIGTERM.  The machine runs on real time."""
    requests = parse_requests(ptys, pyusb)
    with boot_machine(True, seed, hcd, ports, modules, plugs) as system:
        run_serve(system, requests, seconds, click.echo, pyusb)


@main.command()
@_population_options
@_seed_option
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=3240, show_default=True,
              help="TCP port to listen on (0: any free port, printed).")
@click.option("--at", "ats", multiple=True, metavar="PORT-PATH",
              help="Plug the model in at PORT-PATH: the first --at for the first MODEL, and "
                   "so on (default: the first free root-hub port).")
@click.option("--for", "seconds", type=click.FloatRange(min=0, min_open=True),
              metavar="SECONDS", help="Stop after SECONDS of real time (default: at Ctrl-C "
                                      "or SIGTERM).")
def export(hcd: str, ports: int | None, modules: tuple[str, ...], plugs: tuple[str, ...],
           seed: int | None, models: tuple[str, ...], host: str, port: int,
           ats: tuple[str, ...], seconds: float | None) -> None:
    """Export device models over USB/IP as usbipd with usbip-host does — each MODEL (as
    --plug names it: zero, 'pendrive storage=memory') plugged in and its bus id served —
    for usbip attach on another host; print the bus ids and the kernel log as it goes,
    until Ctrl-C or SIGTERM.  The machine runs on real time."""
    requests = parse_exports(models, ats)
    with boot_machine(True, seed, hcd, ports, modules, plugs) as system:
        run_export(system, requests, host, port, seconds, click.echo)


@main.command(name="attach")
@_population_options
@_seed_option
@click.argument("server", metavar="HOST[:PORT]")
@click.argument("busids", nargs=-1, required=True, metavar="BUSID...")
@click.option("--for", "seconds", type=click.FloatRange(min=0, min_open=True),
              metavar="SECONDS", help="Detach after SECONDS of real time (default: at Ctrl-C "
                                      "or SIGTERM).")
def attach_(hcd: str, ports: int | None, modules: tuple[str, ...], plugs: tuple[str, ...],
            seed: int | None, server: str, busids: tuple[str, ...],
            seconds: float | None) -> None:
    """Import the devices BUSID... that a USB/IP server exports (usbipd, usbemu export)
    into a machine on real time, as usbip attach does, through its vhci_hcd controller;
    print its kernel log as it goes, until Ctrl-C or SIGTERM; then detach them."""
    target = Server.parse(server)
    with boot_machine(True, seed, hcd, ports, modules, plugs) as system:
        run_attach(system, target, busids, seconds, click.echo)


@main.command()
@click.argument("source", required=False)
@click.option("--usb", "usb_device", metavar="VVVV:PPPP|BUS:DEVNUM",
              help="Read a device of this machine through pyusb and libusb, named by "
                   "vendor:product (hex) or bus:devnum (decimal), as lsusb shows them "
                   "(needs: pip install 'usbemu[clone]').")
@click.option("--detach", is_flag=True,
              help="With --usb: detach the kernel driver of an interface (usbhid) while "
                   "its class descriptors are read, then attach it again.")
@click.pass_context
def clone(ctx: click.Context, source: str | None, usb_device: str | None,
          detach: bool) -> None:
    """Print a clone file for SOURCE — a model name, a sysfs device directory
    (/sys/bus/usb/devices/1-1), a descriptors dump file or a clone file — or for the
    device --usb names."""
    if (source is None) == (usb_device is None):
        raise click.UsageError("Give either SOURCE or --usb DEVICE." if source
                               else "Missing argument 'SOURCE' or option '--usb'.", ctx)
    if detach and usb_device is None:
        raise click.UsageError("--detach goes with --usb.", ctx)
    model = _model(source, "SOURCE") if source is not None else _usb_model(usb_device or "",
                                                                            detach)
    click.echo(dump_clone(model), nl=False)


def _usb_model(spec: str, detach: bool) -> DeviceModel:
    """The clone of the device of this machine `spec` names (`clone_from_usb`): a bad or
    unknown name is a BadParameter for --usb, a machine that cannot reach it a
    CommandFailure."""
    from ..bridges.pyusb_clone import UsbAccessError, clone_from_usb
    try:
        return clone_from_usb(spec, detach=detach)
    except (ValueError, LookupError) as exc:
        if isinstance(exc, CloneError):
            raise CommandFailure(str(exc)) from None
        raise click.BadParameter(str(exc), param_hint="--usb") from None
    except (UsbAccessError, OSError) as exc:
        raise CommandFailure(f"{spec}: {exc}") from None


@main.command(name="run")
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def run_(scenario: Path) -> None:
    """Run a scenario file: a declared machine and a timeline of steps with expectations."""
    try:
        loaded = load_scenario(scenario)
    except ScenarioError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    sys.exit(0 if run_scenario(loaded, _console()) else 1)


@main.command()
@machine_options
def shell(real_time: bool, seed: int | None, hcd: str, ports: int | None,
          modules: tuple[str, ...], plugs: tuple[str, ...]) -> None:
    """An interactive shell on an emulated machine (commands from stdin when piped)."""
    with boot_machine(real_time, seed, hcd, ports, modules, plugs) as system:
        code = run_shell(system, sys.stdin, sys.stdout, sys.stderr)
    sys.exit(code)
