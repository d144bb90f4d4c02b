"""Dataset files on disk: the day partitions we may read, and the locks writers hold.

A partition is a real directory `date=YYYY-MM-DD` inside its area (events/, sightings/,
feeds/, sketches/), of a day in times.EARLIEST_TIME to LATEST_TIME; a data file is a real
`*.parquet` file in it. Symlinks, other names and other kinds of file are refused with a
message and never read or written through: nothing outside the dataset gets into a census or
a retention run, and nothing is written outside it.
Writing is store/atomic.py's: files 0600 in directories created 0700 (they hold addresses).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Final

import pyarrow as pa

from botcensus.store.atomic import FILE_MODE, private_dir
from botcensus.store.layout import PARTITION_PREFIX as PREFIX
from botcensus.times import EARLIEST_TIME, LATEST_TIME, TIME_RANGE_TEXT

_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
log = logging.getLogger(__name__)
_warned: set[str] = set()


def warn(message: str) -> str:
    """Log a problem once per process (several stages list the same partitions); return it."""
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)
    return message


def as_day(text: str) -> date | None:
    """The day a partition name's suffix denotes (YYYY-MM-DD, a real date), else None."""
    if not _DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@dataclass(slots=True)
class Listing:
    """The partitions of an area that may be read, and what was refused, as messages."""

    days: list[tuple[str, Path]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _refusal(entry: Path) -> str | None:
    if entry.is_symlink():
        return f"{entry}: a symlink (to {os.readlink(entry)}), not a directory of the dataset"
    if not entry.is_dir():
        return f"{entry}: not a directory"
    day = as_day(entry.name.removeprefix(PREFIX))
    if day is None:
        return f"{entry}: not a day partition (date=YYYY-MM-DD)"
    if not EARLIEST_TIME.date() <= day < LATEST_TIME.date():
        # Rows an older version took in (a feed row of 9999-12-31): the census's weeks and
        # the clean-up's calendar cannot hold the day, and one such row stopped them all.
        return (
            f"{entry}: a day outside {TIME_RANGE_TEXT}, which botcensus no longer takes in "
            "(written by an older version; move it out of the dataset to keep it)"
        )
    return None


def day_partitions(root: Path) -> Listing:
    """The `date=YYYY-MM-DD` directories of an area, in day order; other `date=` entries
    are refused with a message (logged once) and ignored."""
    listing = Listing()
    if root.is_symlink() and not root.is_dir():
        listing.problems.append(warn(f"{root}: a dangling symlink; nothing read from it"))
        return listing
    if not root.is_dir():
        return listing
    for entry in sorted(root.iterdir()):
        if not entry.name.startswith(PREFIX):
            continue
        why = _refusal(entry)
        if why is None:
            listing.days.append((entry.name.removeprefix(PREFIX), entry))
        else:
            listing.problems.append(warn(f"{why}: ignored"))
    return listing


def day_files(day_dir: Path, problems: list[str] | None = None) -> list[Path]:
    """The visible Parquet files of a partition; symlinks and non-files are refused."""
    found = []
    for path in sorted(day_dir.glob("[!.]*.parquet")):
        if path.is_symlink() or not path.is_file():
            kind = f"a symlink (to {os.readlink(path)})" if path.is_symlink() else "not a file"
            message = warn(f"{path}: {kind}, not a file of the dataset: ignored")
            if problems is not None:
                problems.append(message)
            continue
        found.append(path)
    return found


def area_files(root: Path, problems: list[str] | None = None) -> list[Path]:
    """Every readable-looking data file of an area, in day order."""
    listing = day_partitions(root)
    if problems is not None:
        problems.extend(listing.problems)
    return [f for _, d in listing.days for f in day_files(d, problems)]


def required_columns(schema: pa.Schema) -> tuple[str, ...]:
    """The columns every row of a file with this schema has (the non-nullable ones)."""
    return tuple(f.name for f in schema if not f.nullable)


# -- locks ----------------------------------------------------------------------------------
def locked_fd(path: Path, *, wait: bool = True) -> int:
    """An exclusive lock on `path` (created 0600), held until the descriptor is closed.
    With `wait=False`, BlockingIOError if someone else holds it."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created 0600) for the duration."""
    fd = locked_fd(path)
    try:
        yield
    finally:
        os.close(fd)
