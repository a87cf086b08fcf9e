"""util-linux hexdump's output formats, byte for byte: `hexdump -C` (canonical: hex bytes
and ASCII) and `hexdump` without options (16-bit words, host order, little-endian), with
hexdump's `*` for repeated lines and its final offset.

Pure formatting of bytes already read; the `hexdump` command that reads the files is in
`files`.
"""

from __future__ import annotations

from collections.abc import Callable


def _hexdump(data: bytes, line: Callable[[int, bytes], str], offset_digits: int) -> str:
    """hexdump's display loop: 16-byte blocks, a repeat of the block before shown once as
    `*`, then the final offset; nothing at all for no data."""
    if not data:
        return ""
    out: list[str] = []
    previous: bytes | None = None
    starred = False
    for offset in range(0, len(data), 16):
        block = data[offset:offset + 16]
        if len(block) == 16 and block == previous:
            if not starred:
                out.append("*\n")
                starred = True
            continue
        previous, starred = block, False
        out.append(line(offset, block))
    out.append(f"{len(data):0{offset_digits}x}\n")
    return "".join(out)


def _canonical_line(offset: int, block: bytes) -> str:
    """`"%08.8_ax  " 8/1 "%02x " "  " 8/1 "%02x "` then `"  |" 16/1 "%_p" "|\\n"`."""
    cells = [f"{b:02x}" for b in block] + ["  "] * (16 - len(block))
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in block)
    return f"{offset:08x}  {' '.join(cells[:8])}  {' '.join(cells[8:])}  |{text}|\n"


def _words_line(offset: int, block: bytes) -> str:
    """`"%07.7_ax " 8/2 "%04x "`: 16-bit words in the host's (little-endian) order, the
    last odd byte zero-padded, missing words as blanks."""
    padded = block + b"\0" * (len(block) % 2)
    cells = [f"{padded[i] | padded[i + 1] << 8:04x}" if i < len(block) else "    "
             for i in range(0, 16, 2)]
    return f"{offset:07x} {' '.join(cells)}\n"


def hexdump_canonical(data: bytes) -> str:
    """What util-linux `hexdump -C` prints for `data`."""
    return _hexdump(data, _canonical_line, 8)


def hexdump_words(data: bytes) -> str:
    """What util-linux `hexdump` (no options) prints for `data` on a little-endian host."""
    return _hexdump(data, _words_line, 7)
