"""Where things are in a scenario file: the line numbers of a TOML text's tables and keys,
which tomllib does not give.

`Locator` reads the text line by line, just well enough to find `[table]` and `[[array]]`
headers and `key =` lines, skipping multi-line strings and arrays.  It does not parse
values or check the TOML (tomllib does that first), and it knows nothing of what a scenario
holds: it answers "which line" for a section, an entry and a key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_KEY_PART = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*\]\]?\s*(?:#.*)?$")
_KEY_LINE = re.compile(rf"^\s*({_KEY_PART})(?:\s*\.\s*{_KEY_PART})*\s*=(.*)$")
_PART = re.compile(_KEY_PART)


def _unquote(part: str) -> str:
    return part[1:-1] if part[:1] in "\"'" else part


def _skip_string(text: str, i: int) -> int:
    """Index after the one-line string starting at text[i]."""
    if text[i] == "'":
        end = text.find("'", i + 1)
        return len(text) if end < 0 else end + 1
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == '"':
            return j + 1
        else:
            j += 1
    return len(text)


def _close_multiline(text: str, i: int, quote: str) -> int:
    """Index after the `quote` (three quotes) closing a multi-line string, or -1."""
    if quote == "'''":
        end = text.find(quote, i)
        return -1 if end < 0 else end + 3
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith(quote, i):
            return i + 3
        else:
            i += 1
    return -1


def _value_state(text: str, depth: int, quote: str | None) -> tuple[int, str | None]:
    """Bracket depth and the open multi-line string quote after reading `text`, a piece of
    a value, from the state before it."""
    i = 0
    while i < len(text):
        if quote is not None:
            end = _close_multiline(text, i, quote)
            if end < 0:
                return depth, quote
            i, quote = end, None
            continue
        if text.startswith(('"""', "'''"), i):
            quote, i = text[i:i + 3], i + 3
        elif text[i] in "\"'":
            i = _skip_string(text, i)
        elif text[i] == "#":
            break
        else:
            depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(text[i], 0)
            i += 1
    return max(depth, 0), quote


@dataclass
class _Block:
    """A [table] or [[array]] header of the file and the lines of the keys under it."""

    path: tuple[str, ...]
    line: int
    keys: dict[str, int] = field(default_factory=dict)


class Locator:
    """Line numbers of a TOML text's tables and keys, which tomllib does not give: the line
    of `key =` in the `index`-th [[section]] (or in [section]), of a [section.key] sub-table
    header, else of the section's header.  Multi-line strings and arrays are skipped."""

    def __init__(self, text: str) -> None:
        self.blocks = [_Block((), 1)]
        depth, quote = 0, None
        for number, line in enumerate(text.splitlines(), 1):
            if depth or quote:
                depth, quote = _value_state(line, depth, quote)
                continue
            header = _HEADER.match(line)
            if header:
                path = tuple(_unquote(p) for p in _PART.findall(header.group(2)))
                self.blocks.append(_Block(path, number))
                continue
            key = _KEY_LINE.match(line)
            if key:
                self.blocks[-1].keys.setdefault(_unquote(key.group(1)), number)
                depth, quote = _value_state(key.group(2), 0, None)

    def _entry(self, section: str, index: int | None) -> int | None:
        """Position in `blocks` of [section], or of the index-th (1-based) [[section]]."""
        if not section:
            return 0
        seen = 0
        for pos, block in enumerate(self.blocks):
            if block.path == (section,):
                seen += 1
                if index is None or seen == index:
                    return pos
        return None

    def line(self, section: str, index: int | None = None, key: str | None = None) -> int:
        """The line of `key` in that entry of `section` (the root table when `section` is
        empty), falling back to the entry's header, then to where the section is named."""
        pos = self._entry(section, index)
        if pos is None:
            return self.blocks[0].keys.get(section, 1)
        block = self.blocks[pos]
        if key is None:
            return block.line
        if key in block.keys:
            return block.keys[key]
        for sub in self.blocks[pos + 1:]:
            if len(sub.path) <= len(block.path) or sub.path[:len(block.path)] != block.path:
                break
            if sub.path[len(block.path)] == key:
                return sub.line
        return block.line
