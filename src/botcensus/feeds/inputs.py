"""What a path on the command line stands for: report files, `.gz` files, `.zip` archives (one
input per member, as Shadowserver mails them) and whole directories, in a stable order.

An `Input` names one report however it is packed; `open()` gives its uncompressed bytes. The
report type and format come from `name` (the file name without `.gz`, or the zip member's
base name), so `2024-05-01-event4_sinkhole_http-x.csv.gz` reads as that report.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Final, cast

REPORT_SUFFIXES: Final = (".csv", ".json", ".jsonl", ".ndjson")
MAX_MEMBER_BYTES: Final = 64 << 30
"""A zip member that claims to inflate beyond this is refused (a zip bomb), not read."""
ZIP_ENCRYPTED: Final = 0x1
"""The general-purpose flag bit of a zip member that is encrypted (a password-protected
archive, as a mail gateway may pass one on)."""
_ZIP_FAILURES: Final = (
    zipfile.BadZipFile,  # a bad CRC, a damaged header, not a zip archive
    # a compression method Python cannot read (deflate64, AES); a "version needed to
    # extract" beyond Python's (a damaged or foreign central directory: ZipFile() raises it)
    NotImplementedError,
    RuntimeError,  # encrypted without a password
    EOFError,  # a member cut off
    zlib.error,  # damaged compressed data
    ValueError,  # UnicodeDecodeError: a name flagged UTF-8 that is not (ZipFile(), open())
)
"""What the zip module raises on an archive or member it cannot read (never a missing or
unreadable file: that is an OSError, which is no fault of the archive's bytes)."""
_GZIP_FAILURES: Final = (gzip.BadGzipFile, zlib.error)
"""What the gzip module raises on bytes that are no gzip stream or damaged; a stream cut off
raises EOFError."""


class UnreadableError(OSError):
    """The bytes of an input cannot be read at all, and will not be until the file changes:
    a zip archive that is damaged or not one, a member that is encrypted, compressed in a way
    Python cannot read, cut off or failing its CRC; a `.gz` file that is no gzip stream,
    damaged or failing its CRC (messages name the input with its label)."""


class CutOffError(OSError):
    """A `.gz` file that ends inside its compressed stream: the bytes before the cut are as
    sent (rows read from them are kept); the rest cannot be read until the file changes."""


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
        """The report's uncompressed bytes. A zip member that cannot be read raises
        UnreadableError, on opening or on the read that finds it."""
        if self.member is not None:
            return cast(IO[bytes], self._member())
        if self.gzipped:
            return cast(IO[bytes], _Guarded(gzip.open(self.path, "rb"), _gzip_problem))
        return self.path.open("rb")

    def _member(self) -> _Guarded:
        archive = _open_archive(self.path)
        try:
            try:
                info = archive.getinfo(self.member or "")
            except KeyError:
                raise UnreadableError("zip member no longer in the archive") from None
            if info.flag_bits & ZIP_ENCRYPTED:
                raise UnreadableError(
                    "zip member is encrypted (a password-protected archive); botcensus reads "
                    "no encrypted archive: unpack it, or have it sent without a password"
                )
            if info.file_size > MAX_MEMBER_BYTES:
                raise UnreadableError(f"zip member claims {info.file_size} bytes; refused")
            return _Guarded(self._opened(archive, info), _member_problem, archive)
        except BaseException:
            archive.close()
            raise

    def _opened(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
        try:
            return archive.open(info)
        except NotImplementedError as exc:
            raise UnreadableError(
                f"zip member cannot be read: compression method {info.compress_type} ({exc})"
            ) from None
        except _ZIP_FAILURES as exc:
            raise UnreadableError(f"zip member cannot be read: {exc}") from None


def _member_problem(exc: Exception) -> OSError | None:
    if isinstance(exc, _ZIP_FAILURES):
        return UnreadableError(f"zip member cannot be read: {exc}")
    return None


def _gzip_problem(exc: Exception) -> OSError | None:
    if isinstance(exc, EOFError):
        return CutOffError(f"gzip file cut off: {exc}")
    if isinstance(exc, _GZIP_FAILURES):
        return UnreadableError(f"not a gzip file that can be read ({exc})")
    return None


class _Guarded:
    """A compressed stream (a zip member, closing its archive too; a gzip file) whose
    failures on reading (a bad CRC, a cut-off stream, damaged data) are named by `problem`
    as an UnreadableError or CutOffError."""

    def __init__(
        self,
        stream: io.BufferedIOBase | IO[bytes],
        problem: Callable[[Exception], OSError | None],
        archive: zipfile.ZipFile | None = None,
    ) -> None:
        # both a ZipExtFile and a GzipFile are buffered streams (readinto: no copy)
        self.stream = cast(io.BufferedIOBase, stream)
        self.problem, self.archive = problem, archive

    def _failed(self, exc: Exception) -> OSError:
        named = self.problem(exc)
        if named is None:
            raise exc
        return named

    def read(self, n: int = -1) -> bytes:
        try:
            return self.stream.read(n)
        except Exception as exc:
            raise self._failed(exc) from None

    def readinto(self, buffer: bytearray | memoryview) -> int:
        try:
            return self.stream.readinto(buffer)
        except Exception as exc:
            raise self._failed(exc) from None

    def close(self) -> None:
        self.stream.close()
        if self.archive is not None:
            self.archive.close()

    def __enter__(self) -> _Guarded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_report(name: str) -> bool:
    lower = name.lower().removesuffix(".gz")
    return lower.endswith(REPORT_SUFFIXES) and not PurePosixPath(name).name.startswith(".")


def _open_archive(path: Path) -> zipfile.ZipFile:
    """The zip archive at `path`; one whose bytes are no zip archive that can be read (cut
    off, a damaged central directory, a name flagged UTF-8 that is not) raises
    UnreadableError, a file that cannot be opened its OSError."""
    try:
        return zipfile.ZipFile(path)
    except UnicodeDecodeError as exc:
        why = f"a member's name is marked UTF-8 but is not ({exc.reason} at byte {exc.start})"
    except NotImplementedError as exc:
        why = f"{exc}, which Python cannot read: a damaged directory or a foreign zip tool"
    except _ZIP_FAILURES as exc:
        why = str(exc)
    raise UnreadableError(f"not a zip archive that can be read ({why})")


def _zip_members(path: Path) -> Iterator[Input]:
    with _open_archive(path) as archive:
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
        except OSError:  # UnreadableError too
            return [Input(path)]  # reading it names the problem (archive_problem)
    if from_directory and not _is_report(path.name):
        return []
    return [Input(path)]


def archive_problem(path: Path) -> OSError:
    """Why a `.zip` file gave no reports to read: an UnreadableError where it is no zip
    archive (damaged, cut off, another kind of file), else the OSError of reading it."""
    try:
        with _open_archive(path):
            pass
    except OSError as exc:  # UnreadableError too
        return exc
    return UnreadableError("not a zip archive that can be read")
