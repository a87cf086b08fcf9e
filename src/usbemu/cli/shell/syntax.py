"""The shell's command-line syntax: a line split as sh splits it (shlex: quotes,
backslashes, `#` comments) into one command's words and at most one `> FILE` or
`>> FILE` redirection of its standard output (`parse_line`), and the looser split of a
partial line that completion needs (`WORD_START`, `loose_split`).

Syntax only: nothing here knows a command or runs anything.  The operators this shell does
not have (pipes, lists, input redirection, subshells) are refused with a message
(`ShellSyntaxError`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass


class ShellSyntaxError(ValueError):
    """A line the shell cannot split into one command; the message says why."""


_UNSUPPORTED = "|;&<()`"


@dataclass(frozen=True)
class ParsedLine:
    """One command: its words, and where its output goes (None: standard output)."""

    words: list[str]
    redirect: tuple[str, str] | None = None   # (">" or ">>", path)


def _scan(line: str) -> list[tuple[str, str]]:
    """Cut `line` at its unquoted `>` and `>>` (and at an unquoted comment): the command's
    text, then (operator, text) for each redirection.  Raises ShellSyntaxError for the operators
    this shell does not have and for an unclosed quote."""
    pieces: list[tuple[str, str]] = []
    op, start, quote, i = "", 0, "", 0
    while i < len(line):
        char = line[i]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                i += 1
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            break
        elif char in _UNSUPPORTED:
            raise ShellSyntaxError(f"`{char}' is not supported: one command per line, output "
                                   "redirected with > FILE or >> FILE")
        elif char == ">":
            if re.search(r"(^|\s)\d+$", line[start:i]):
                raise ShellSyntaxError("only standard output can be redirected (> FILE, >> FILE)")
            pieces.append((op, line[start:i]))
            op = ">>" if line[i + 1:i + 2] == ">" else ">"
            i += len(op)
            start = i
            continue
        i += 1
    if quote:
        raise ShellSyntaxError(f"unexpected end of line while looking for matching `{quote}'")
    pieces.append((op, line[start:i]))
    return pieces


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:       # a backslash at the end of the line
        raise ShellSyntaxError(f"syntax error: {exc}") from None


def parse_line(line: str) -> ParsedLine | None:
    """Split a command line as sh does (quotes, backslashes, `#` comments, `> FILE`,
    `>> FILE`); None for an empty line or a comment.  Raises ShellSyntaxError."""
    (_, text), *redirects = _scan(line)
    words = _split(text)
    if len(redirects) > 1:
        raise ShellSyntaxError("only one output redirection per command")
    redirect = None
    for op, target_text in redirects:
        target = _split(target_text)
        if not target:
            raise ShellSyntaxError("syntax error near unexpected token `newline'")
        redirect = (op, target[0])
        words.extend(target[1:])
    if not words:
        if redirect is not None:
            raise ShellSyntaxError("a redirection needs a command")
        return None
    return ParsedLine(words, redirect)


#: The start of the word being typed at the end of a partial line.
WORD_START = re.compile(r"[^\s<>|;&]*$")


def loose_split(text: str) -> list[str]:
    """Words of a partial line for completion: shlex when it can, else by white space."""
    try:
        return shlex.split(text.replace(">", " > "))
    except ValueError:
        return text.replace(">", " > ").split()
