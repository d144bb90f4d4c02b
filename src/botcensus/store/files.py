"""Dataset files on disk: the day partitions we may read, private atomic writes, locks.

A partition is a real directory `date=YYYY-MM-DD` inside its area (events/, sightings/,
feeds/, sketches/); a data file is a real `*.parquet` file in it. Symlinks, other names and
other kinds of file are refused with a message and never read or written through: nothing
outside the dataset gets into a census or a retention run, and nothing is written outside it.
Files are written 0600 in directories created 0700: they hold addresses.
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
import pyarrow.parquet as pq

from botcensus.capture.wal import fsync_dir

PREFIX: Final = "date="
FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700
_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
log = logging.getLogger(__name__)
_warned: set[str] = set()


class DatasetError(OSError):
    """The dataset cannot be read or written as asked; the message says where and why."""


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
    if as_day(entry.name.removeprefix(PREFIX)) is None:
        return f"{entry}: not a day partition (date=YYYY-MM-DD)"
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


def fingerprint(files: list[Path]) -> list[list[object]]:
    """Name, size and modification time of each file: what a manifest compares."""
    stats = [(f.name, f.stat()) for f in files]
    return [[name, st.st_size, st.st_mtime_ns] for name, st in stats]


# -- writing --------------------------------------------------------------------------------
def private_dir(path: Path) -> None:
    """Create `path` and missing parents as 0700 (mkdir -p would use the default mode).
    An existing directory keeps its mode; a symlink on the way is refused."""
    missing = []
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise DatasetError(f"{probe}: a dangling symlink; not writing through it")
        missing.append(probe)
        probe = probe.parent
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):
            part.mkdir(mode=DIR_MODE)
    if path.is_symlink() or not path.is_dir():
        raise DatasetError(f"{path}: not a directory of the dataset; not writing into it")


def open_private(path: Path) -> int:
    """A file descriptor for writing `path` from scratch, mode 0600 whatever existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def write_private(table: pa.Table, target: Path) -> None:
    """Write a zstd Parquet file readable by its owner only: temporary name, fsync, rename."""
    private_dir(target.parent)
    tmp = target.parent / f".{target.name}.tmp"
    with os.fdopen(open_private(tmp), "wb") as out:
        pq.write_table(table, out, compression="zstd")
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(target)
    fsync_dir(target.parent)


def write_json(value: object, target: Path) -> None:
    """Replace a small JSON file atomically (temporary name, fsync, rename)."""
    import json

    private_dir(target.parent)
    tmp = target.parent / f".{target.name}.tmp"
    with os.fdopen(open_private(tmp), "w", encoding="utf-8") as out:
        out.write(json.dumps(value, indent=1, sort_keys=True))
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(target)
    fsync_dir(target.parent)


def locked_fd(path: Path) -> int:
    """An exclusive lock on `path` (created 0600), held until the descriptor is closed."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
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
