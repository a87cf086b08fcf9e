"""modprobe's configuration — counterpart of kmod's libkmod/libkmod-config.c reading
/etc/modprobe.d/*.conf as modprobe.d(5) describes it.

The files of the directory are read in the order of their names (those ending in .conf
or .alias, not starting with a dot); each line is a command (`alias`, `blacklist`,
`options`, `install`, `remove`, `softdep`), `#` at the start of a line makes a comment and
a backslash at the end of a line continues it on the next.  A bad line is skipped with
kmod's message ("… line N: ignoring bad line starting with 'X'"), `include` and `config`
with its deprecation message.  `install`, `remove` and `softdep` lines are parsed and
kept (`install_commands`, `remove_commands`, `softdeps`) but modprobe does not act on
them: the machine runs no shell commands, and soft dependencies are not loaded.  What
the configuration makes modprobe and udev do is kernel/kmod.py's business.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = ["MODPROBE_D", "ModprobeConfig", "underscores"]

#: Where the configuration lives.
MODPROBE_D: Final = "/etc/modprobe.d"

_DEPRECATED: Final = frozenset({"include", "config"})


def underscores(name: str) -> str:
    """kmod's underscores(): `-` becomes `_`, except inside `[...]` (a wildcard's
    character class)."""
    out = []
    depth = 0
    for char in name:
        depth += char == "["
        depth -= char == "]" and depth > 0
        out.append("_" if char == "-" and not depth else char)
    return "".join(out)


def wrapped_lines(text: str) -> list[tuple[int, str]]:
    """kmod's getline_wrapped(): (number of the line's last physical line, logical
    line), a backslash before a newline joining the two lines."""
    out = []
    pending = ""
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        out.append((number, pending + raw))
        pending = ""
    if pending:
        out.append((text.count("\n") + 1, pending))
    return out


@dataclass
class ModprobeConfig:
    """What modprobe learnt from /etc/modprobe.d, in file and line order, and the
    messages kmod prints about lines it skipped.  Module and alias names are normalized
    (`underscores`)."""

    aliases: list[tuple[str, str]] = field(default_factory=list)
    blacklist: list[str] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)
    install_commands: list[tuple[str, str]] = field(default_factory=list)
    remove_commands: list[tuple[str, str]] = field(default_factory=list)
    softdeps: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, files: Mapping[str, bytes], directory: str = MODPROBE_D
              ) -> ModprobeConfig:
        """The configuration of `files` (file name → content), read as kmod reads a
        configuration directory.  Context: atomic."""
        config = cls()
        for name in sorted(files):
            if name.startswith(".") or not name.endswith((".conf", ".alias")):
                continue
            text = files[name].decode("utf-8", errors="replace")
            for number, line in wrapped_lines(text):
                config.parse_line(f"{directory}/{name}", number, line)
        return config

    def parse_line(self, filename: str, number: int, line: str) -> None:
        """kmod_config_parse() for one logical line."""
        if not line or line[0] == "#":
            return
        words = line.split(None, 2)
        if not words:
            return
        cmd = words[0]
        first = words[1] if len(words) > 1 else None
        rest = words[2] if len(words) > 2 else None
        if cmd in _DEPRECATED:
            self.errors.append(f"{filename}: command {cmd} is deprecated and not parsed "
                               "anymore")
            return
        if cmd == "blacklist" and first is not None:
            self.blacklist.append(underscores(first))
        elif cmd == "alias" and first is not None and rest is not None:
            self.aliases.append((underscores(first), underscores(rest.split()[0])))
        elif cmd in _TABLES and first is not None and rest is not None:
            getattr(self, _TABLES[cmd]).append((underscores(first), rest.replace("\t", " ")))
        else:
            self.errors.append(f"{filename} line {number}: ignoring bad line starting with "
                               f"'{cmd}'")

    def is_blacklisted(self, module: str) -> bool:
        """`blacklist MODULE` names `module`."""
        return module in self.blacklist

    def module_options(self, module: str) -> str:
        """The `options` of `module`, every line's in order, joined by spaces."""
        return " ".join(text for name, text in self.options if name == module)

    def lookup_alias(self, name: str) -> list[str]:
        """kmod_lookup_alias_from_config(): the modules of the `alias` lines whose
        wildcard matches `name` (fnmatch), in order, without repeats."""
        wanted = underscores(name)
        found: list[str] = []
        for pattern, module in self.aliases:
            if module not in found and re.match(fnmatch.translate(pattern), wanted):
                found.append(module)
        return found


_TABLES: Final = {"options": "options", "install": "install_commands",
                  "remove": "remove_commands", "softdep": "softdeps"}
