"""Atomic, private writes: every dataset file is written to a temporary name, fsynced, renamed
into place, and its directory fsynced. A reader sees the old file or the new one, never half
of one; a crash leaves at most a dot-named temporary, which `clean_temporaries` removes.

Files are created 0600 in directories created 0700 (they hold addresses). `write_*` replace a
file whole; `Pending` is the streaming form: write into `.tmp` at leisure (a Parquet writer,
a download), then `publish` it, or `discard` it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa

FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700
TMP_SUFFIX: Final = ".tmp"


class DatasetError(OSError):
    """The dataset cannot be read or written as asked; the message says where and why."""


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new or removed file) durable."""
    _fsync(path, os.O_DIRECTORY)


def fsync_file(path: Path) -> None:
    """Make a file's content durable (a symlink is refused)."""
    _fsync(path, os.O_NOFOLLOW)


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


def open_private(path: Path, *, append: bool = False) -> int:
    """A file descriptor for writing `path` (from scratch, or appending), mode 0600 whatever
    existed; a symlink at `path` is refused."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def temporary(target: Path) -> Path:
    """The dot-name a file is written under before it is published (readers skip dot-names)."""
    return target.with_name(f".{target.name}{TMP_SUFFIX}")


class Pending:
    """A file being written under its temporary name, created 0600 before a byte is written;
    `publish` makes it the target (fsync, rename, fsync the directory)."""

    def __init__(self, target: Path) -> None:
        private_dir(target.parent)
        self.target = target
        self.tmp = temporary(target)
        os.close(open_private(self.tmp))

    def publish(self, *, sync_dir: bool = True) -> Path:
        """Rename the finished file into place; `sync_dir=False` when the caller fsyncs the
        directory once after publishing several files (`publish_all`)."""
        fsync_file(self.tmp)
        self.tmp.replace(self.target)
        if sync_dir:
            fsync_dir(self.target.parent)
        return self.target

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


def publish_all(pending: Iterable[Pending]) -> list[Path]:
    """Publish several files, fsyncing each directory once."""
    done = [p.publish(sync_dir=False) for p in pending]
    for folder in {p.parent for p in done}:
        fsync_dir(folder)
    return done


@contextlib.contextmanager
def replacing(target: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """A file object whose content replaces `target` when the block ends without an error;
    on an error the temporary is removed and `target` stays as it was."""
    pending = Pending(target)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(open_private(pending.tmp), mode, encoding=encoding) as out:
            yield out
            out.flush()
    except BaseException:
        pending.discard()
        raise
    pending.publish()


def write_bytes(data: bytes, target: Path) -> None:
    """Replace `target` with `data`, atomically."""
    with replacing(target) as out:
        out.write(data)


def write_json(value: object, target: Path) -> None:
    """Replace a small JSON file atomically."""
    with replacing(target, "w") as out:
        out.write(json.dumps(value, indent=1, sort_keys=True))


def write_lines(lines: Iterable[str], target: Path) -> None:
    """Replace a text file with these lines (each given without its newline)."""
    with replacing(target, "w") as out:
        for line in lines:
            out.write(line + "\n")


def write_parquet(table: pa.Table, target: Path) -> None:
    """Replace `target` with a zstd Parquet file of `table`, atomically."""
    import pyarrow.parquet as pq  # loaded by writers only: readers of the dataset use DuckDB

    with replacing(target) as out:
        pq.write_table(table, out, compression="zstd")


def append_line(line: str, target: Path) -> None:
    """Append one line to a log and make it durable (a log is never rewritten)."""
    private_dir(target.parent)
    with os.fdopen(open_private(target, append=True), "a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


def clean_temporaries(
    folders: Iterable[Path], pattern: str = "*", only: Callable[[str], bool] | None = None
) -> int:
    """Remove the temporaries a crash left in these folders (never visible to readers); call
    it only while holding the lock of whoever writes there. `only` picks by the name the
    file would have been published under (a writer sharing the folder keeps its own)."""
    removed = 0
    for folder in folders:
        for tmp in folder.glob(f".{pattern}{TMP_SUFFIX}"):
            if only is not None and not only(tmp.name[1 : -len(TMP_SUFFIX)]):
                continue
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()
                removed += 1
    return removed
