"""The benchmark table: figures measured several times, each read against its yardstick.

A `Figure` holds the runs of one measurement (a rate, MB/s, bytes …) and the figures it is
read against, where it has them: the floor of its path (what the event loop alone costs for
the same shape of work) or the PyPI `usbip` package doing the same thing in the same run.
`interleave` measures several contenders in turns, so a comparison is a ratio of runs made
side by side.  `render` prints the table; `markdown` gives it for the README.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPEATS = 3


@dataclass
class Figure:
    """One measured figure: `runs` (higher is better unless `unit` says otherwise), its
    unit, the figures it is read against (their label up to a colon names them) and a
    short note."""

    label: str
    runs: list[float]
    unit: str
    against: tuple[Figure, ...] = ()
    note: str = ""
    section: str = field(default="", compare=False)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def ratio(self) -> str:
        """"0.91 × floor, 9.8 × PyPI usbip", or "" without a yardstick."""
        return ", ".join(f"{self.median / other.median:.2f} × {other.short()}"
                         for other in self.against if other.median)

    def short(self) -> str:
        return self.label.split(":")[0]

    def spread(self) -> str:
        if len(self.runs) < 2:
            return ""
        return f"{_number(min(self.runs))}–{_number(max(self.runs))}"


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def repeat(measure: Callable[[], float], times: int = REPEATS) -> list[float]:
    """`times` runs of `measure`."""
    return [measure() for _ in range(times)]


def interleave(contenders: dict[str, Callable[[], float]],
               times: int = REPEATS) -> dict[str, list[float]]:
    """Runs of each contender, taken in turns (A B A B A B), by name."""
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(times):
        for name, measure in contenders.items():
            runs[name].append(measure())
    return runs


def rate(work: Callable[[], int]) -> float:
    """Units of `work` per wall-clock second (it returns how many it did)."""
    start = time.perf_counter()
    done = work()
    return done / (time.perf_counter() - start)


def machine() -> list[tuple[str, str]]:
    """The details a figure depends on: when, on what, with what."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
            ("machine", f"{cpu}, {os.cpu_count()} cores, {platform.system()} "
                        f"{platform.release()}"),
            ("python", f"{platform.python_implementation()} {platform.python_version()}"),
            ("usbemu", commit),
            ("load average at start", load)]


def render(details: Sequence[tuple[str, str]], figures: Sequence[Figure]) -> str:
    """The table as text: the machine's details, then one line per figure."""
    lines = [f"{key:>22}: {value}" for key, value in details]
    lines.append("")
    lines.append(f"{'figure':66} {'median':>12} {'min–max':>23} {'unit':9} against")
    section = None
    for fig in figures:
        if fig.section != section:
            section = fig.section
            lines.append(f"-- {section}")
        lines.append(f"{fig.label:66} {_number(fig.median):>12} {fig.spread():>23} "
                     f"{fig.unit:9} {fig.ratio()}")
        if fig.note:
            lines.append(f"{'':4}{fig.note}")
    return "\n".join(lines)


def markdown(details: Sequence[tuple[str, str]], figures: Sequence[Figure]) -> str:
    """The table for the README."""
    head = "; ".join(f"{key}: {value}" for key, value in details)
    rows = ["| figure | median (min–max of 3) | against |", "|---|---|---|"]
    section = None
    for fig in figures:
        if fig.section != section:
            section = fig.section
            rows.append(f"| **{section}** | | |")
        spread = f" ({fig.spread()})" if fig.spread() else ""
        note = f"; {fig.note}" if fig.note else ""
        rows.append(f"| {fig.label} | {_number(fig.median)} {fig.unit}{spread}{note} | "
                    f"{fig.ratio()} |")
    return f"{head}\n\n" + "\n".join(rows) + "\n"
