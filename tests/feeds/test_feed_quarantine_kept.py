"""An earlier ingest's quarantine file is replaced only by a read of the whole file: a read
that fails (an unreadable member, a missing column, an exception on its way out) leaves it as
it was, and one cut off partway adds its rejected rows to it. Data is never deleted as a side
effect of a failure."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest
from feed_cases import fake_enrich, quarantined, sinkhole_row, write_report

import botcensus.feeds.read as feeds_read
from botcensus.feeds import FileReport, ingest
from botcensus.feeds.quarantine import quarantine_path

MEMBER = "2024-05-01-event4_sinkhole-q.csv"


def _rows(n: int, bad: tuple[int, ...]) -> list[dict[str, object]]:
    """n event4_sinkhole rows; those in `bad` have no address (rejected)."""
    return [sinkhole_row(i, src_ip="0.0.0.0") if i in bad else sinkhole_row(i) for i in range(n)]


def _ingest(path: Path, data: Path) -> FileReport:
    (report,) = ingest([path], data, fake_enrich).files
    return report


def _zip(target: Path, report: Path, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(target, "w", method) as z:
        z.write(report, MEMBER)
    return target


def _method_9(target: Path) -> Path:
    """The member's compression method set to 9 (deflate64: Python cannot read it)."""
    data = bytearray(target.read_bytes())
    at = data.rfind(b"PK\x01\x02")
    data[at + 10 : at + 12] = (9).to_bytes(2, "little")
    target.write_bytes(bytes(data))
    return target


def test_an_unreadable_member_leaves_the_earlier_quarantine(tmp_path: Path) -> None:
    """Before: ingesting q.zip again once its member could not be read removed
    quarantine/feeds/q.zip!...jsonl, the one record of the row the first ingest rejected."""
    data = tmp_path / "data"
    report = write_report(tmp_path / MEMBER, _rows(3, bad=(1,)))
    archive = _zip(tmp_path / "q.zip", report)
    first = _ingest(archive, data)
    assert (first.stored, first.quarantined) == (2, 1)
    assert first.quarantine_file is not None
    kept = first.quarantine_file.read_bytes()
    _method_9(archive)
    second = _ingest(archive, data)
    assert second.unreadable
    assert (second.quarantined, second.quarantine_file) == (0, None)
    assert first.quarantine_file.read_bytes() == kept


def test_a_file_that_now_lacks_a_required_column_leaves_the_earlier_quarantine(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    path = write_report(tmp_path / MEMBER, _rows(3, bad=(1,)))
    first = _ingest(path, data)
    assert first.quarantine_file is not None
    kept = first.quarantine_file.read_bytes()
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([header.replace('"src_ip"', '"ip"'), *rows]) + "\n", "utf-8")
    second = _ingest(path, data)
    assert second.error is not None
    assert "required column(s) missing: src_ip" in second.error
    assert (second.quarantined, second.quarantine_file) == (0, None)
    assert first.quarantine_file.read_bytes() == kept


def test_an_exception_on_its_way_out_leaves_the_earlier_quarantine(tmp_path: Path) -> None:
    """A failure ingest does not expect (here: the enrichment step) stops the run and
    commits nothing of the file: its rejected rows do not replace the earlier ones either."""
    data = tmp_path / "data"
    path = write_report(tmp_path / MEMBER, _rows(3, bad=(1,)))
    first = _ingest(path, data)
    assert first.quarantine_file is not None
    kept = first.quarantine_file.read_bytes()
    write_report(path, _rows(4, bad=(2,)))  # row 1 now stored, row 2 rejected, row 3 new

    def failing(table: pa.Table) -> pa.Table:
        raise RuntimeError("the geo database went away")

    with pytest.raises(RuntimeError, match="went away"):
        ingest([path], data, failing)
    assert first.quarantine_file.read_bytes() == kept
    assert not list(first.quarantine_file.parent.glob(".*"))  # no temporary left behind


def test_a_whole_read_replaces_the_earlier_quarantine(tmp_path: Path) -> None:
    """What the documentation promises: ingesting the file again replaces its quarantine
    (none: the file goes, the rows of it are stored now)."""
    data = tmp_path / "data"
    path = write_report(tmp_path / MEMBER, _rows(3, bad=(1,)))
    first = _ingest(path, data)
    assert first.quarantine_file is not None
    write_report(path, _rows(3, bad=(2,)))
    second = _ingest(path, data)
    assert [q["line"] for q in quarantined(second)] == [4]
    write_report(path, _rows(3, bad=()))
    third = _ingest(path, data)
    assert (third.duplicate, third.quarantine_file) == (3, None)
    assert not quarantine_path(data, path).exists()


ROWS = 20000
BAD = (0, ROWS - 1)
"""Rejected rows at lines 2 and 20001: a cut at two thirds of the file reads only the first."""


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 64 KiB, not 32 MiB: a cut at two thirds of 2 MiB comes after many batches."""
    monkeypatch.setattr(feeds_read, "BLOCK_SIZE", 64 << 10)


def _cut_gzip(tmp_path: Path) -> tuple[Path, bytes]:
    report = write_report(tmp_path / MEMBER, _rows(ROWS, bad=BAD))
    packed = gzip.compress(report.read_bytes())
    report.unlink()
    return tmp_path / f"{MEMBER}.gz", packed


@pytest.mark.usefixtures("small_blocks")
def test_a_read_cut_off_adds_its_rejected_rows_to_the_earlier_ones(tmp_path: Path) -> None:
    """Before: the cut-off read's rejected rows (line 2) replaced the whole read's (lines 2
    and 20001): line 20001's row was lost."""
    data = tmp_path / "data"
    path, packed = _cut_gzip(tmp_path)
    path.write_bytes(packed)
    whole = _ingest(path, data)
    assert [q["line"] for q in quarantined(whole)] == [2, ROWS + 1]
    path.write_bytes(packed[: len(packed) * 2 // 3])
    cut = _ingest(path, data)
    assert cut.error is not None
    assert f"{path}: gzip file cut off" in cut.error
    assert (cut.quarantined, cut.quarantine_file) == (1, whole.quarantine_file)
    assert sorted(q["line"] for q in quarantined(cut)) == [2, ROWS + 1]  # each row once
    merged = quarantine_path(data, path).read_bytes()
    _ingest(path, data)  # the same cut again: the same file
    assert quarantine_path(data, path).read_bytes() == merged


@pytest.mark.usefixtures("small_blocks")
def test_a_read_cut_off_with_no_earlier_quarantine_publishes_its_own(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path, packed = _cut_gzip(tmp_path)
    path.write_bytes(packed[: len(packed) * 2 // 3])
    cut = _ingest(path, data)
    assert cut.error is not None
    assert [q["line"] for q in quarantined(cut)] == [2]
    assert cut.stored > 0  # the rows before the cut are as sent: kept
