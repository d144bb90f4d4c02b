"""RPSL text as in the RIPE database split files, streamed: file -> objects, line numbers kept.

Split files (ripe.db.inetnum.gz, ...) are plain or gzip text: objects separated by blank
lines, `name: value` attribute lines, continuation lines starting with a space, tab or '+',
comment lines starting with '#' or '%', end-of-line comments after '#'. The file is read in
1 MiB blocks and cut into objects with one regular expression; an object of a class nobody
asked for is dropped after its first line is read. See ripe_source.py for what abuse
contacts take from the objects.
"""

from __future__ import annotations

import functools
import gzip
import io
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from botcensus.contacts.store import Problem

GZIP_MAGIC: Final = b"\x1f\x8b"
MAX_TEXT: Final = 4000
"""Quarantined object text is cut to this many characters."""
BLOCK: Final = 1 << 20
_SEPARATOR: Final = re.compile(rb"(\n(?:[ \t\r]*\n)+)")
_ATTR: Final = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]*):(.*)")
_BAD_LINE: Final = re.compile(r"^(?![A-Za-z0-9][A-Za-z0-9_-]*:|[ \t+#%]).*$", re.MULTILINE)


def read_blocks(path: Path) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each blank-line separated block of a plain or gzip file
    (told by its first bytes, not its name). A block is decoded as UTF-8, or as Latin-1 if it
    is not UTF-8 (the RIPE database's historic character set)."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream: gzip.GzipFile | io.BufferedReader = gzip.GzipFile(fileobj=raw) if gzipped else raw
        line, tail = 1, b""
        while block := stream.read(BLOCK):
            parts = _SEPARATOR.split(tail + block)
            tail = parts.pop()
            for i in range(0, len(parts), 2):
                yield line, _decode(parts[i])
                line += parts[i].count(b"\n") + parts[i + 1].count(b"\n")
        if tail.strip():
            yield line, _decode(tail)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@functools.cache
def _attributes(names: tuple[str, ...]) -> re.Pattern[str]:
    """Attribute lines of the given names, each with its continuation lines."""
    alternatives = "|".join(re.escape(name) for name in names)
    flags = re.MULTILINE | re.IGNORECASE
    return re.compile(rf"^({alternatives}):(.*(?:\n[ \t+].*)*)", flags)


def _clean(value: str) -> str:
    """Continuation lines joined with a space, the end-of-line comment dropped."""
    if "\n" in value:
        first, *more = value.split("\n")
        value = " ".join(p for p in [first.strip(), *(line[1:].strip() for line in more)] if p)
    if "#" in value:
        value = value.split("#", 1)[0]
    return value.strip()


@dataclass(frozen=True)
class RpslObject:
    """One object: its class (the first attribute's name, lower case), where it starts and
    its text."""

    cls: str
    file: str
    line: int
    text: str

    def value(self, name: str) -> str | None:
        """The first `name` attribute, continuation lines joined with a space, without its
        end-of-line comment; None if absent or empty."""
        match = _attributes((name,)).search(self.text)
        return (_clean(match[2]) or None) if match else None

    def values(self, *names: str) -> dict[str, str]:
        """The first non-empty value of each of `names` that the object has, as by `value`,
        in one pass over the text (lower-case names as keys)."""
        found: dict[str, str] = {}
        for name, value in _attributes(names).findall(self.text):
            name = name.lower()
            if name not in found and (value := _clean(value)):
                found[name] = value
        return found

    @property
    def key(self) -> str:
        """The primary key: the first attribute's value."""
        first, _, rest = self.text.partition("\n")
        if rest[:1] in (" ", "\t", "+"):
            return self.value(self.cls) or ""
        return _clean(first.partition(":")[2])

    @property
    def attrs(self) -> list[tuple[str, str]]:
        """Every attribute in order: (lower-case name, value with continuations joined)."""
        found: list[tuple[str, str]] = []
        for line in self.text.split("\n"):
            if line[:1] in (" ", "\t", "+") and found:
                name, value = found[-1]
                found[-1] = (name, f"{value} {line[1:].strip()}".strip())
            elif match := _ATTR.match(line):
                found.append((match[1].lower(), match[2].strip()))
        return found


def iter_objects(
    blocks: Iterable[tuple[int, str]], file: str, classes: Container[str]
) -> Iterator[RpslObject | Problem]:
    """RPSL objects of the given classes, and a Problem for each malformed one (a line that is
    neither an attribute, a continuation nor a comment); objects of other classes are skipped
    without reading past their first line."""
    for start, block in blocks:
        line, text = start, block
        while text[:1] in ("#", "%"):  # comment lines before an object, e.g. a file header
            cut = text.find("\n")
            line, text = line + 1, text[cut + 1 :] if cut >= 0 else ""
        text = text.rstrip()
        if not text:
            continue
        head = _ATTR.match(text)
        if head is None:
            yield Problem(file, line, "object does not start with an attribute", text[:MAX_TEXT])
            continue
        cls = head[1].lower()
        if cls not in classes:
            continue
        bad = _BAD_LINE.search(text)
        if bad is None:
            yield RpslObject(cls, file, line, text)
        else:
            where = line + text.count("\n", 0, bad.start())
            reason = f"line {where} is neither an attribute nor a continuation"
            yield Problem(file, line, reason, text[:MAX_TEXT])
