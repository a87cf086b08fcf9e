"""What a scenario run prints: a line per setup item and step (✓/✗ on a terminal, ok/FAIL
otherwise), the failure at the line of the file it concerns, the summary, and a progress
bar over the timeline on a terminal only.

Presentation only: `Report` decides nothing about passing or failing and runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text


class Report:
    """What a run prints: a line per setup item and step, the failure, the summary."""

    def __init__(self, path: Path, console: Console) -> None:
        self.path = path
        self.console = console
        plain = not console.is_terminal
        self.ok = "ok" if plain else "✓"
        self.bad = "FAIL" if plain else "✗"

    def passed(self, label: str, text: str) -> None:
        self.console.print(Text.assemble((self.ok, "green"), f" {label}: {text}"),
                           highlight=False, soft_wrap=True)

    def failed(self, label: str, text: str, line: int, message: str) -> None:
        self.console.print(Text.assemble((self.bad, "bold red"), f" {label}: {text}"),
                           highlight=False, soft_wrap=True)
        self.console.print(Text(f"{self.path}:{line}: {label}: {message}", style="red"),
                           highlight=False, soft_wrap=True)

    @contextmanager
    def progress(self, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar over the timeline on a terminal (gone when the run ends); yields
        the function that advances it.  Plain output gets no bar."""
        if not self.console.is_terminal:
            yield lambda: None
            return
        bar = Progress(TextColumn("steps"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=self.console, transient=True,
                       auto_refresh=False)
        task = bar.add_task("steps", total=total)

        def advance() -> None:
            bar.advance(task)
            bar.refresh()

        with bar:
            yield advance

    def summary(self, text: str, good: bool) -> None:
        self.console.print(Text(text, style="bold green" if good else "bold red"),
                           highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        """A plain line after the run (a bridge that could not be stopped)."""
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)
