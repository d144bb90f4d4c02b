"""Where a key of a TOML file is: line numbers for paths such as ("rule", 1, "interval"), so a
validation error can name the line (tomllib keeps no positions)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

Path = tuple[str | int, ...]

_HEADER: Final = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY: Final = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", dotted)]


def key_lines(text: str) -> dict[Path, int]:
    """Every table, array-of-tables entry and key the file sets, with its line (from 1).
    Keys inside multi-line strings and arrays are not mistaken for keys."""
    found: dict[Path, int] = {}
    counts: dict[tuple[str, ...], int] = {}
    current: Path = ()
    depth, in_string = 0, None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        if depth == 0:
            header = _HEADER.match(line)
            if header:
                names = _parts(header[2])
                path: list[str | int] = []
                for i, name in enumerate(names):
                    path.append(name)
                    plain = tuple(str(p) for p in names[: i + 1])
                    is_array_entry = header[1] == "[[" and i == len(names) - 1
                    if is_array_entry:
                        counts[plain] = counts.get(plain, -1) + 1
                    if plain in counts:
                        path.append(counts[plain])
                current = tuple(path)
                found.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key:
                found.setdefault((*current, *_parts(key[1])), number)
                rest = line[key.end() :]
            else:
                rest = ""
        else:
            rest = line
        code = rest.split("#", 1)[0] if '"' not in rest and "'" not in rest else rest
        for quote in ('"""', "'''"):
            if code.count(quote) % 2 == 1:
                in_string = quote
        if in_string is None:
            depth = max(0, depth + code.count("[") - code.count("]"))
    return found


def line_of(lines: dict[Path, int], path: Sequence[str | int]) -> int | None:
    """The line of the longest prefix of `path` the file sets (None: not in the file)."""
    for end in range(len(path), 0, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None
