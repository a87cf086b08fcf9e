"""Random input for what a user types — shell lines, scenario files, `usbemu` command lines.
Whatever the input, the answer is output or a message and an exit status of 0, 1 or 2, never
a traceback and never a hang: a shell line gets the status its tool gives (127 for a
command that does not exist, and `exit N`'s N, as in bash), a usage error of the `usbemu`
command is one line.

`make test` runs a fixed, repeatable set of FUZZ_EXAMPLES examples of each, bounded by
`hang_guard`; `make fuzz` runs many more, new ones each time.
Not fuzzed: `usbemu mount`, `export` and `attach` (they serve until stopped) and the real clock
(`--real-time`, `real_time = true`), under which a sleep of 30 days really takes 30 days.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usbemu.cli.machine import boot, load_module, plug
from usbemu.cli.main import main
from usbemu.cli.shell import Shell
from usbemu.cli.shell.commands import COMMANDS

FUZZ_EXAMPLES = int(os.environ.get("USBEMU_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: Wall-clock bound of each fuzz test: far more than an example takes (tens of ms).
pytestmark = [pytest.mark.usefixtures("hang_guard"),
              pytest.mark.hang_guard_s(60 + FUZZ_EXAMPLES)]

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|internal error")

#: Words that mean something somewhere: paths of the machine and of the host, port paths,
#: numbers at and past every limit, models, modules, options, shell syntax.
WORDS = [
    "1-1", "1-2", "1-4", "1-4.1", "1-1.1.1.1.1.1", "2-1", "1-0", "1-99", "0-1", "usb1",
    "0", "1", "-1", "7", "15", "31", "255", "256", "65536", "99999999999999999999",
    "0x0", "0xffff", "1e300", "-1e300", "inf", "nan", "1.5", "2s", "250ms", "1e9s",
    "/dev/pen0", "/dev/null", "/dev", "/sys/bus/usb/devices/1-1/idVendor",
    "/sys/bus/usb/devices/1-1/bConfigurationValue",
    "/sys/bus/usb/drivers/pen_driver/unbind", "/sys/bus/usb/drivers/usb/bind",
    "/sys/bus/usb/devices/1-1/authorized", "/sys/module/pen_driver/refcnt",
    "/proc/modules", "/proc", "/", "..", ".", "//", "/nonexistent", "/etc/passwd",
    "hub", "mouse", "pendrive", "serial", "serial2", "zero", "nope", "ports=4", "ports=0",
    "ports=1000", "at", "vendor=0xffff", "vendor=", "=", "x=y", "pen_driver", "usbcore",
    "usbserial", "-t", "-v", "-s", "-d", "-C", "-c", "-e", "-n", "-l", "-1", "-f", "-r",
    "--help", "--json", ">", ">>", "|", "'", '"', "\\", ";", "&&", "$HOME", "~", "*",
    "1:", ":2", "058f:", ":6387", "058f:6387", "zzzz:1", "é", "\t", "",
]
MODELS = ["pendrive", "mouse", "hub", "serial", "serial2", "serial8", "zero", "nope", "x" * 300]
word = st.one_of(st.sampled_from(WORDS), st.text(max_size=12))
shell_line = st.one_of(
    st.builds(lambda cmd, args: " ".join([cmd, *args]),
              st.sampled_from([*COMMANDS, "frob", "#", "cd"]),
              st.lists(word, max_size=6)),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def host_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Host files a command may be pointed at: a clone file, a file that is not one, an
    empty file, a directory."""
    root = tmp_path_factory.mktemp("fuzz")
    result = CliRunner().invoke(main, ["clone", "mouse"])
    (root / "mouse.toml").write_text(result.output)
    (root / "empty.toml").write_text("")
    (root / "junk.toml").write_bytes(b"\x00\xff[[[ = \n")
    (root / "dir").mkdir()
    return root


# -- the shell ------------------------------------------------------------------------------------


def _allowed(status: int, err: str, shell: Shell) -> bool:
    if shell.exit_requested is not None:
        return 0 <= status <= 255
    if status == 127:
        return "command not found" in err or "timeout: failed to run command" in err
    if status in (124, 125):           # coreutils timeout: ran out of time, or misused
        return status == 124 or err.startswith("timeout: ")
    return status in (0, 1, 2)


@FUZZ
@given(lines=st.lists(shell_line, min_size=1, max_size=5))
def test_shell_lines(lines: list[str]) -> None:
    import io

    from usbemu.cli.shell.capture import stop_capture

    system = boot()
    # a line may write files of the host (capture -w FILE): in a directory of its own
    with tempfile.TemporaryDirectory() as where, contextlib.chdir(where):
        out, err = io.StringIO(), io.StringIO()
        shell = Shell(system, out, err)
        try:
            load_module(system, "pen_driver")
            plug(system, "pendrive")
            for line in lines:
                err.seek(0)
                err.truncate()
                status = shell.execute(line)
                assert _allowed(status, err.getvalue(), shell), (line, status, err.getvalue())
                assert not TRACEBACK.search(err.getvalue()), (line, err.getvalue())
                if shell.exit_requested is not None:
                    break
        finally:
            stop_capture(shell)
            system.close()


# -- scenario files -------------------------------------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text) + '"'


scalar = st.one_of(st.sampled_from(WORDS), st.integers(-2**70, 2**70), st.booleans(),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10))
junk = st.recursive(scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["path", "content", "action", "device", "env", "x"]),
                    inner, max_size=3)), max_leaves=6)
FILES = ["/dev/pen0", "/sys/bus/usb/devices/1-1/idVendor", "/sys/bus/usb/devices/1-1/product",
         "/sys/bus/usb/drivers/pen_driver/unbind", "/sys/bus/usb/drivers/pen_driver/bind",
         "/proc/modules", "/dev/nope", "/sys"]
#: A plausible value for each field, so that most files load and run; `junk` for the rest.
FIELDS: dict[str, st.SearchStrategy[object]] = {
    "seed": st.integers(0, 2**32), "ports": st.integers(1, 8), "controllers": st.integers(0, 3),
    "name": st.just("pen_driver"),
    "params": st.dictionaries(st.just("vendor"), st.sampled_from(["0x058f", "0xffff"]),
                              max_size=1),
    "model": st.sampled_from(MODELS[:-2]), "plug": st.sampled_from(MODELS[:-2]),
    "at": st.sampled_from(["1-1", "1-2", "1-3", "1-1.1", "1-1.2", "2-1"]),
    "options": st.just({}),
    "unplug": st.sampled_from(["1-1", "1-2", "1-1.1", "2-1"]),
    "write": st.sampled_from(FILES), "read": st.sampled_from(FILES),
    "data": st.text(max_size=20), "hex": st.sampled_from(["00ff", "68656c6c6f"]),
    "random": st.integers(0, 4096), "size": st.integers(0, 8192),
    "expect": st.text(max_size=10), "error": st.sampled_from(["ETIMEDOUT", "ENODEV", "EIO"]),
    "run": shell_line, "status": st.integers(0, 2),
    "sleep": st.one_of(st.integers(0, 10_000), st.floats(0, 1e4)),
    "load": st.just("pen_driver"), "unload": st.just("pen_driver"),
    "expect_dmesg": st.lists(st.sampled_from(["Pen drive", "USB disconnect", "x"]), max_size=2),
    "expect_exists": st.lists(st.sampled_from(FILES), min_size=1, max_size=2),
    "expect_absent": st.sampled_from(FILES),
    "expect_file": st.fixed_dictionaries({"path": st.sampled_from(FILES),
                                          "content": st.text(max_size=8)}),
    "expect_event": st.fixed_dictionaries({"action": st.sampled_from(["add", "remove"]),
                                           "device": st.sampled_from(["1-1", "1-2"])}),
}
#: What each table needs (one of the first list) and may have (the second).
ACTIONS = {"plug": ["at", "options"], "unplug": [], "write": ["data", "hex", "random"],
           "read": ["size", "expect", "error"], "run": ["status"], "sleep": [],
           "load": ["params"], "unload": []}
EXPECTATIONS = ["expect_dmesg", "expect_event", "expect_file", "expect_exists",
                "expect_absent"]
TABLES = {
    "machine": ([], ["seed", "ports", "controllers"]),
    "module": (["name"], ["params"]),
    "device": (["model"], ["at", "options"]),
}


@st.composite
def _table(draw: st.DrawFn, table: str) -> list[str]:
    if table == "step":
        action = draw(st.sampled_from([*ACTIONS, None]))
        keys = [] if action is None else [action]
        companions = ACTIONS.get(action or "", [])
        if action == "write":
            keys.append(draw(st.sampled_from(companions)))
        elif companions:
            keys += draw(st.lists(st.sampled_from(companions), max_size=2, unique=True))
        keys += draw(st.lists(st.sampled_from(EXPECTATIONS), min_size=action is None,
                              max_size=2, unique=True))
    else:
        needed, optional = TABLES[table]
        keys = needed + draw(st.lists(st.sampled_from(optional), max_size=2, unique=True))
    if draw(st.integers(0, 19)) == 0:
        keys.append(draw(st.sampled_from(["bogus", "name", "at", "expect", "size"])))
    lines = [f"[{table}]" if table == "machine" else f"[[{table}]]"]
    for key in dict.fromkeys(keys):
        odd = key not in FIELDS or draw(st.integers(0, 19)) == 0
        lines.append(f"{key} = {_toml_value(draw(junk if odd else FIELDS[key]))}")
    return lines


@st.composite
def scenario_text(draw: st.DrawFn) -> str:
    """[machine], modules, devices and steps with plausible fields — now and then a field
    of junk, a key out of place or a line that is not TOML."""
    tables = ["machine"] * draw(st.integers(0, 1)) + draw(st.lists(
        st.sampled_from(["module", "device", "step", "step", "step"]), max_size=8))
    parts = [line for table in tables for line in draw(_table(table))]
    if draw(st.integers(0, 19)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), draw(st.text(max_size=20)))
    return "\n".join(parts) + "\n"


def _check_cli(args: list[str], stdin: str = "") -> None:
    # capture -w FILE writes where it runs: in a directory of its own
    with tempfile.TemporaryDirectory() as where, contextlib.chdir(where):
        result = CliRunner().invoke(main, args, input=stdin)
    if type(result.exception).__name__ == "Hung":     # hang_guard's SystemExit: re-raise
        raise result.exception
    shown = f"usbemu {args!r} (stdin {stdin!r}) -> {result.exit_code}:\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        shown + f"\n{result.exception!r}")
    allowed = {0, 1, 2}
    if args[:1] == ["shell"]:       # a piped shell exits with its failing line's status
        if "command not found" in result.output:
            allowed.add(127)
        allowed |= {int(n) % 256 for n in re.findall(r"^\s*(?:exit|quit)\s+(\d+)\s*$",
                                                      stdin, re.M)}
    assert result.exit_code in allowed, shown
    assert not TRACEBACK.search(result.output), shown
    if result.exit_code == 2 and args[:1] != ["run"]:
        assert len(result.stderr.strip().splitlines()) == 1, shown


@FUZZ
@given(text=scenario_text())
def test_scenario_files(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("scenario") / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    _check_cli(["run", str(path)])


# -- the usbemu command ---------------------------------------------------------------------------


Option = tuple[str, bool]      # an option's name, and whether it takes a value


#: Commands that serve until stopped, on the real clock: not fuzzed.
SERVING = frozenset({"mount", "export", "attach"})


def _commands(group: click.Group, path: list[str]
              ) -> Iterator[tuple[list[str], list[Option], bool]]:
    """(command path, its options, whether it takes arguments) for every command but
    those that serve until stopped on the real clock (`mount`, `export`, `attach`);
    `--real-time` left out."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, [*path, name])
        elif name not in SERVING:
            options = [(opt, not (isinstance(p, click.Option) and p.is_flag))
                       for p in command.params if isinstance(p, click.Option)
                       for opt in p.opts if opt != "--real-time"]
            arguments = any(isinstance(p, click.Argument) for p in command.params)
            yield [*path, name], options, arguments


COMMAND_LINES = list(_commands(main, []))
PORTS = ["at 1-1", "at 1-2", "at 1-4.1", "at 1-1.1", "at 2-1", "at 1-99", "at", "at 1-0"]
MODEL_OPTIONS = ["ports=4", "ports=0", "ports=255", "ports=x", "colour=red", "=", "x"]


def _plug_spec(files: Path) -> st.SearchStrategy[str]:
    model = st.one_of(st.sampled_from(MODELS),
                      st.sampled_from([str(files / "mouse.toml"), str(files / "dir")]))
    return st.builds(lambda m, o, p: " ".join([m, *o, *p]), model,
                     st.lists(st.sampled_from(MODEL_OPTIONS), max_size=2),
                     st.lists(st.sampled_from(PORTS), max_size=1))


def _value(option: str, files: Path) -> st.SearchStrategy[str]:
    values: dict[str, st.SearchStrategy[str]] = {
        "--plug": _plug_spec(files),
        "--load": st.sampled_from(["pen_driver", "pen_driver vendor=0xffff", "usbserial",
                                   "nope", "pen_driver nope=1", "", str(files / "junk.toml")]),
        "--ports": st.sampled_from(["1", "4", "15", "31", "0", "32", "-1", "1e3", "x"]),
        "--seed": st.one_of(st.integers(-2**70, 2**70).map(str), st.just("x")),
        "-s": st.sampled_from(["1:2", "2", "1:", ":", "001:002", "x", "1:2:3", "-1"]),
        "-d": st.sampled_from(["058f:6387", "058f:", ":6387", "zz:1", "1", ":", ""]),
    }
    return st.one_of(values.get(option, word), word)


@st.composite
def command_line(draw: st.DrawFn, files: Path) -> list[str]:
    """A command with options, mostly well-formed, and now and then a stray word."""
    path, options, takes_arguments = draw(st.sampled_from(
        [*COMMAND_LINES, (["frob"], [], False), ([], [], False)]))
    args = list(path)
    for name, takes_value in draw(st.lists(st.sampled_from(options), max_size=4)
                                  if options else st.just([])):
        args.append(name)
        if takes_value:
            args.append(draw(_value(name, files)))
    if takes_arguments:
        host = [str(files / n) for n in ("mouse.toml", "empty.toml", "junk.toml", "dir")]
        args += draw(st.lists(st.sampled_from([*MODELS, *host, "/dev/null", "/nonexistent"]),
                              max_size=2))
    if draw(st.integers(0, 9)) == 0:
        args.insert(draw(st.integers(0, len(args))),
                    draw(st.one_of(word, st.sampled_from(["--help", "--version", "-h"]))))
    return args


@FUZZ
@given(data=st.data())
def test_command_lines(data: st.DataObject, host_files: Path) -> None:
    args = data.draw(command_line(host_files))
    stdin = "\n".join(data.draw(st.lists(shell_line, max_size=3))) if args[:1] == [
        "shell"] else ""
    _check_cli(args, stdin)
