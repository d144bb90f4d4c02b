"""Dataset files on disk: day partitions we may read, private atomic writes, locks, and the
quarantine of files that cannot be read.

A partition is a real directory `date=YYYY-MM-DD` inside its area (events/, sightings/,
feeds/, sketches/); a data file is a real `*.parquet` file in it. Symlinks, other names and
other kinds of file are refused with a message and never read or written through: nothing
outside the dataset gets into a census or a retention run, and nothing is written outside it.
A file that cannot be read is moved to `quarantine/parquet/<area>/date=D/` with a `.txt`
giving its path, size and reason, and the rest of the dataset is read.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from botcensus.capture.wal import fsync_dir

PREFIX: Final = "date="
QUARANTINE_FILES: Final = Path("quarantine") / "parquet"
FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700
READ_ERRORS: Final = (duckdb.Error, pa.ArrowException, OSError, ValueError, KeyError)
"""What reading a damaged or foreign file raises (pyarrow's errors subclass ArrowException
or OSError; a cast to our schema raises ValueError or KeyError)."""
_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
T = TypeVar("T")
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


# -- damaged files --------------------------------------------------------------------------
def problem_of(path: Path, required: Sequence[str] = ()) -> str | None:
    """Why a Parquet file cannot be read in full by pyarrow and DuckDB, or lacks values in
    the `required` columns, or None if it is fine. Raises FileNotFoundError if it is gone,
    PermissionError if we may not read it."""
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    try:
        table = pq.read_table(path)
        duckdb.connect().sql("SELECT * FROM read_parquet(?)", params=[str(path)]).to_arrow_table()
    except (PermissionError, FileNotFoundError):
        raise
    except READ_ERRORS as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    missing = [c for c in required if c not in table.column_names]
    if missing:
        return f"not a file of this area: no column {', '.join(missing)}"
    empty = [c for c in required if table[c].null_count]
    if empty:
        return f"empty values in column {', '.join(empty)}, which every row must have"
    return None


def quarantine(dataset: Path, path: Path, reason: str) -> Path:
    """Move a file that cannot be read out of the dataset's areas, with a note of why."""
    try:
        relative = path.relative_to(dataset)
    except ValueError:
        relative = Path(path.parent.parent.name) / path.parent.name / path.name
    target = dataset / QUARANTINE_FILES / relative
    private_dir(target.parent)
    n = 1
    while target.exists():
        target = target.with_name(f"{path.name}.{n}")
        n += 1
    size = path.stat().st_size
    shutil.move(path, target)
    os.chmod(target, FILE_MODE)
    note = target.with_name(f"{target.name}.txt")
    with os.fdopen(open_private(note), "w", encoding="utf-8") as out:
        out.write(
            f"path: {path}\nbytes: {size}\n"
            f"moved: {datetime.now(UTC).isoformat(timespec='seconds')}\nreason: {reason}\n"
        )
    fsync_dir(target.parent)
    return target


def screen(
    dataset: Path,
    files: list[Path],
    problems: list[str] | None = None,
    required: Sequence[str] = (),
) -> list[Path]:
    """The files that can be read. Damaged or foreign ones are quarantined, unreadable ones
    (permission) skipped, vanished ones dropped; each is named in a logged message."""
    good = []
    for path in files:
        try:
            why = problem_of(path, required)
        except FileNotFoundError:
            continue
        except PermissionError as exc:
            message = warn(f"{path}: cannot be read ({exc.strerror}): skipped, left in place")
        else:
            if why is None:
                good.append(path)
                continue
            try:
                moved = quarantine(dataset, path, why)
            except FileNotFoundError:
                continue
            except OSError as exc:  # quarantine not writable: still never read the file
                message = warn(
                    f"{path}: cannot be read ({why}); cannot be moved to quarantine ({exc}): "
                    "skipped, left in place"
                )
            else:
                message = warn(f"{path}: cannot be read ({why}): moved to quarantine {moved}")
        if problems is not None:
            problems.append(message)
    return good


def read_screened(
    dataset: Path,
    files: list[Path],
    read: Callable[[list[Path]], T],
    problems: list[str] | None = None,
    required: Sequence[str] = (),
) -> tuple[T, list[Path]]:
    """`read(files)`; if that fails, screen the files (every row must have the `required`
    columns) and read the good ones. Returns the result and the files it was read from.
    Raises DatasetError when no file is to blame."""
    try:
        return read(files), files
    except READ_ERRORS as exc:
        first = exc
    good = screen(dataset, files, problems, required)
    if len(good) == len(files):
        raise DatasetError(f"{dataset}: reading {len(files)} files failed: {first}") from first
    return read(good), good
