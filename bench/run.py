"""usbemu benchmarks: one table of the figures users feel, each beside its yardstick.

    make bench                          # or: .venv/bin/python bench/run.py [--quick]
    .venv/bin/python bench/run.py --readme   # and write the table into README.md

Each figure is the median of three runs (min and max beside it) of wall-clock time for
work done on virtual time, unless its line says otherwise.  A figure is read against its
yardstick: the floor of its path (what the event loop alone costs for the same shape of
work, measured in the same run) or the PyPI `usbip` package doing the same work, measured
in turns with usbemu's runs.  Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import io_bench
import pyusb_bench
import stack_bench
import usbip_bench
from figures import Figure, machine, markdown, render

README = Path(__file__).resolve().parents[1] / "README.md"
#: The README's table lies between these two lines.
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_readme(table: str) -> None:
    """Put `table` between the README's markers.  Raises SystemExit when they are missing."""
    text = README.read_text()
    pattern = re.compile(f"{re.escape(BEGIN)}\n.*?{re.escape(END)}", re.DOTALL)
    if not pattern.search(text):
        sys.exit(f"{README}: no {BEGIN} … {END} section to write the figures into")
    README.write_text(pattern.sub(lambda _: f"{BEGIN}\n{table}{END}", text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="less work per run")
    parser.add_argument("--readme", action="store_true",
                        help="write the table into README.md's performance section")
    args = parser.parse_args()
    scale = 1 if args.quick else 4
    seconds = 0.5 if args.quick else 1.0
    details = machine()
    figures: list[Figure] = []
    parts: list[Callable[[], list[Figure]]] = [
        partial(stack_bench.figures, scale), partial(io_bench.figures, scale),
        partial(usbip_bench.figures, seconds), partial(pyusb_bench.figures, seconds)]
    for part in parts:
        got = part()
        print(render([], got), flush=True)
        figures += got
    print()
    print(render(details, figures))
    if args.readme:
        write_readme(markdown(details, figures))


if __name__ == "__main__":
    main()
