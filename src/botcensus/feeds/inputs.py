"""What a path on the command line stands for: report files, `.gz` files, `.zip` archives (one
input per member, as Shadowserver mails them) and whole directories, in a stable order.

An `Input` names one report however it is packed; `open()` gives its uncompressed bytes. The
report type and format come from `name` (the file name without `.gz`, or the zip member's
base name), so `2024-05-01-event4_sinkhole_http-x.csv.gz` reads as that report.
"""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Final, cast

REPORT_SUFFIXES: Final = (".csv", ".json", ".jsonl", ".ndjson")
MAX_MEMBER_BYTES: Final = 64 << 30
"""A zip member that claims to inflate beyond this is refused (a zip bomb), not read."""


@dataclass(frozen=True, slots=True)
class Input:
    """One report: a file, a gzip file, or a member of a zip archive."""

    path: Path
    member: str | None = None

    @property
    def name(self) -> str:
        """The report's own file name (what gives its type)."""
        if self.member is not None:
            return PurePosixPath(self.member).name
        return self.path.name.removesuffix(".gz") if self.gzipped else self.path.name

    @property
    def gzipped(self) -> bool:
        return self.member is None and self.path.name.lower().endswith(".gz")

    @property
    def label(self) -> str:
        """How messages name it: the path, and the member inside a zip."""
        return f"{self.path}!{self.member}" if self.member is not None else str(self.path)

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    def size(self) -> int:
        """Bytes of the file on disk (progress is reported in these)."""
        return self.path.stat().st_size

    def open(self) -> IO[bytes]:
        """The report's uncompressed bytes."""
        if self.member is not None:
            archive = zipfile.ZipFile(self.path)
            info = archive.getinfo(self.member)
            if info.file_size > MAX_MEMBER_BYTES:
                archive.close()
                raise OSError(f"zip member claims {info.file_size} bytes; refused")
            return cast(IO[bytes], _Closing(archive.open(info), archive))
        if self.gzipped:
            return cast(IO[bytes], gzip.open(self.path, "rb"))
        return self.path.open("rb")


class _Closing:
    """A zip member's stream that closes its archive too."""

    def __init__(self, stream: IO[bytes], archive: zipfile.ZipFile) -> None:
        self.stream, self.archive = stream, archive

    def read(self, n: int = -1) -> bytes:
        return self.stream.read(n)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.stream.close()
        self.archive.close()

    def __enter__(self) -> _Closing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_report(name: str) -> bool:
    lower = name.lower().removesuffix(".gz")
    return lower.endswith(REPORT_SUFFIXES) and not PurePosixPath(name).name.startswith(".")


def _zip_members(path: Path) -> Iterator[Input]:
    with zipfile.ZipFile(path) as archive:
        names = sorted(i.filename for i in archive.infolist() if not i.is_dir())
    for name in names:
        if _is_report(name) and not name.lower().endswith(".gz"):
            yield Input(path, name)


def expand(paths: list[Path]) -> list[Input]:
    """Every report the paths hold: files as given, directories walked (sorted, hidden files
    and other suffixes left out), zip archives opened member by member. A path that does not
    exist is kept as an input, so reading it reports the error against its name."""
    found: list[Input] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                found.extend(_one(child, from_directory=True))
        else:
            found.extend(_one(path, from_directory=False))
    return found


def _one(path: Path, *, from_directory: bool) -> list[Input]:
    if path.name.lower().endswith(".zip") and path.is_file():
        try:
            return list(_zip_members(path))
        except (zipfile.BadZipFile, OSError):
            return [Input(path)]  # reading it names the problem
    if from_directory and not _is_report(path.name):
        return []
    return [Input(path)]
