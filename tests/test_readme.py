"""What the README's code examples produce, checked beyond running (tests/test_docs.py runs
every Python block and shell session of the README and docs/ as written)."""

from __future__ import annotations

import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def the_block(marker: str) -> str:
    """The one Python block of the README that contains `marker`."""
    blocks = [b for b in python_blocks() if marker in b]
    assert len(blocks) == 1, f"{len(blocks)} README blocks contain {marker!r}"
    return blocks[0]


def test_declaring_and_driving_a_device_model() -> None:
    declare, drive = python_blocks()[:2]
    namespace: dict[str, object] = {}
    exec(declare, namespace)
    exec(drive, namespace)
    buf = namespace["buf"]
    assert isinstance(buf, bytearray) and bytes(buf[:2]) == b"HI"
    model = namespace["m"]
    assert model.unhandled == []  # type: ignore[attr-defined]


def test_the_readme_mentions_both_setup_commands_first() -> None:
    head = README.read_text().splitlines()[:5]
    assert any("make demo" in line for line in head)
    assert any("make test" in line for line in head)


def test_running_the_pen_driver_example() -> None:
    block = the_block("print(system.dmesg())")
    assert 'system.insmod("pen_driver")' in block and "usbemu.cli" not in block
    namespace: dict[str, object] = {}
    exec(block.replace("print(system.dmesg())", "log = system.dmesg()"), namespace)
    log = namespace["log"]
    assert isinstance(log, str) and "Pen drive (058F:6387) plugged" in log


def test_the_host_stack_example() -> None:
    block = the_block("intf = dev.interface(0)")
    namespace: dict[str, object] = {}
    exec(block, namespace)
    assert namespace["intf"] is not None


def test_the_user_space_example() -> None:
    block = the_block("errno.EBUSY")
    namespace: dict[str, object] = {"print": lambda *a: None}
    exec(block, namespace)


def test_the_scenario_example_passes(tmp_path: Path) -> None:
    from rich.console import Console

    from usbemu.cli.scenario import load_scenario, run_scenario

    block = next(b for b in re.findall(r"```toml\n(.*?)```", README.read_text(),
                                       flags=re.DOTALL) if "[[step]]" in b)
    path = tmp_path / "readme.toml"
    path.write_text(block)
    assert run_scenario(load_scenario(path), Console(file=io.StringIO()))


def test_the_piped_shell_example() -> None:
    from click.testing import CliRunner

    from usbemu.cli.main import main

    text = README.read_text()
    command = re.search(r"\$ printf '(.*?)' \| usbemu shell\n((?:    .*\n)+)", text)
    assert command is not None
    script = command.group(1).replace("\\n", "\n")
    expected = "".join(line[4:] + "\n" for line in command.group(2).splitlines())
    result = CliRunner().invoke(main, ["shell"], input=script)
    assert (result.exit_code, result.output) == (0, expected)
