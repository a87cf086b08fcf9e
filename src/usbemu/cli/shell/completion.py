"""What the argument completers of the shell's commands share: their signature
(`ArgCompleter`), prefix matching (`starting`), and completion of paths of the machine's
tree (`complete_vfs`) and of the host's filesystem (`complete_host`).

Each command's own completer is next to the command and named in the command table;
which completer a line gets is decided by `Shell.complete`.  Nothing here knows a command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .interpreter import Shell


#: A command's completer: (shell, the words after the command, the word being typed) →
#: the whole words that may replace it.
ArgCompleter = Callable[["Shell", list[str], str], list[str]]


def starting(word: str, candidates: Iterable[str]) -> list[str]:
    """The candidates that start with `word`, sorted, each once."""
    return sorted({c for c in candidates if c.startswith(word)})


def complete_nothing(shell: Shell, args: list[str], word: str) -> list[str]:
    """For a command whose arguments complete to nothing."""
    return []


def complete_vfs(shell: Shell, args: list[str], word: str) -> list[str]:
    """Paths of the machine's tree, for every argument that is not an option."""
    if word.startswith("-"):
        return []
    return shell.complete_path(word)


def complete_host(word: str) -> list[str]:
    """Paths of the host's filesystem (module files, clone files)."""
    head, slash, tail = word.rpartition("/")
    prefix = head + slash
    directory = Path(prefix or ".")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return starting(word, (prefix + n + ("/" if (directory / n).is_dir() else "")
                           for n in names if tail.startswith(".") or not n.startswith(".")))
