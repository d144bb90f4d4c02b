"""Files that cannot be read: found when a read fails, moved to quarantine, the rest read.

A Parquet file that is empty, truncated, garbled, or a valid file that does not belong (it
lacks the columns every row of its area has) is moved to `quarantine/parquet/<area>/date=D/`
with a `.txt` giving its path, size, time and reason, and named in a logged warning. The
happy path costs nothing: files are examined one by one only after a read of them failed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from botcensus.store.atomic import FILE_MODE, DatasetError, fsync_dir, private_dir, write_lines
from botcensus.store.db import connect
from botcensus.store.files import warn
from botcensus.store.layout import QUARANTINE_PARQUET as QUARANTINE_FILES

READ_ERRORS: Final = (duckdb.Error, pa.ArrowException, OSError, ValueError, KeyError)
"""What reading a damaged or foreign file raises (pyarrow's errors subclass ArrowException
or OSError; a cast to our schema raises ValueError or KeyError)."""
T = TypeVar("T")


def problem_of(path: Path, required: Sequence[str] = ()) -> str | None:
    """Why a Parquet file cannot be read in full by pyarrow and DuckDB, or lacks values in
    the `required` columns, or None if it is fine. Raises FileNotFoundError if it is gone,
    PermissionError if we may not read it."""
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    try:
        table = pq.read_table(path)
        connect().sql("SELECT * FROM read_parquet(?)", params=[str(path)]).to_arrow_table()
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
    fsync_dir(target.parent)
    moved = datetime.now(UTC).isoformat(timespec="seconds")
    note = [f"path: {path}", f"bytes: {size}", f"moved: {moved}", f"reason: {reason}"]
    write_lines(note, target.with_name(f"{target.name}.txt"))
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
        raise DatasetError(
            f"{dataset}: {len(files)} file(s) checked and none damaged, yet the step that "
            f"reads them failed (a full disk or memory, or a bug: the cause follows): {first}"
        ) from first
    return read(good), good
