"""The fused read (DuckDB reads and maps a regular CSV in one statement) stores exactly what the
exact reader stores; any irregular file is read by the exact reader, and a fused read given up
halfway leaves nothing behind."""

from __future__ import annotations

import gzip
import importlib
import zipfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from feed_cases import CASES, case_mapping, fake_enrich, quarantined, sinkhole_row, write_report

import botcensus.feeds.fused as feeds_fused
from botcensus.feeds import FileReport, ingest
from botcensus.store import sighting_files
from botcensus.store.feed_events import feed_files

NAME = "2024-05-01-event4_sinkhole-x.csv"
SIGHTING_KEY = ("day", "source_ip", "bot_id", "malware_family", "sensor", "feed_name")
COUNTS = ("read", "stored", "duplicate", "quarantined", "padded", "without_source")


def _rows(n: int = 6) -> list[dict[str, object]]:
    return [sinkhole_row(i) for i in range(n)]


def _text(tmp_path: Path, rows: list[dict[str, object]] | None = None) -> str:
    """A regular report as text (header and one line per row, each ending in a line feed)."""
    (tmp_path / "model").mkdir(exist_ok=True)
    path = write_report(tmp_path / "model" / NAME, _rows() if rows is None else rows)
    return path.read_text(encoding="utf-8")


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _insert(text: str, at: int, line: str) -> str:
    """`line` (with its line end) put before line number `at` (1: the header)."""
    lines = text.splitlines(keepends=True)
    return "".join([*lines[: at - 1], line, *lines[at - 1 :]])


def _result(report: FileReport, data: Path) -> dict[str, Any]:
    events = [r for f in feed_files(data) for r in pq.read_table(f).to_pylist()]
    schemas = {str(pq.read_schema(f)) for f in feed_files(data)}
    sightings = [r for f in sighting_files(data) for r in pq.read_table(f).to_pylist()]
    return {
        "counts": {name: getattr(report, name) for name in COUNTS},
        "error": report.error,
        "events": sorted(events, key=lambda r: (r["source_line"], r["event_hash"])),
        "schemas": schemas,
        "quarantined": quarantined(report),
        # by a sighting's whole key: DuckDB's roll-up gives its rows in no fixed order
        "sightings": sorted(sightings, key=lambda r: tuple(str(r[k]) for k in SIGHTING_KEY)),
    }


def _both(
    paths: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mapping: str | None = None
) -> tuple[list[FileReport], list[dict[str, Any]], list[dict[str, Any]]]:
    """Ingest as shipped, then with the fused read turned off; the reports of the first run and
    both runs' results, file by file (the same dataset gets all files, in order)."""
    first = ingest(paths, tmp_path / "fused", fake_enrich, mapping=mapping).files
    with monkeypatch.context() as m:
        m.setattr(feeds_fused, "line_feeds", lambda source: None)
        second = ingest(paths, tmp_path / "exact", fake_enrich, mapping=mapping).files
    assert "duckdb" not in [f.reader for f in second]
    return (
        first,
        [_result(f, tmp_path / "fused") for f in first],
        [_result(f, tmp_path / "exact") for f in second],
    )


@pytest.mark.parametrize("path", sorted(CASES.glob("*.csv")), ids=lambda p: p.name)
def test_every_sample_report_reads_the_same_both_ways(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, fused, exact = _both([path], tmp_path, monkeypatch, case_mapping(path))
    assert fused == exact


def test_a_regular_report_is_read_by_duckdb(tmp_path: Path) -> None:
    path = _write(tmp_path, NAME, _text(tmp_path).encode())
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.reader, report.reread, report.stored) == ("duckdb", None, 6)


# Each irregular file: what it holds, the reader that read it in the end, and whether a fused
# read was started and given up (a re-read) or never started (the pre-scan refused the file).
def _irregular(text: str) -> dict[str, tuple[bytes, bool | None]]:
    header_cells = text.splitlines()[0].count(",") + 1
    crlf = text.replace("\n", "\r\n")
    return {
        # None: read by DuckDB; True: DuckDB's read given up and re-read; False: never tried
        "blank line": (_insert(text, 4, "\n").encode(), True),
        "blank CRLF line": (_insert(crlf, 4, "\r\n").encode(), True),
        "row of empty cells": (_insert(text, 4, "," * (header_cells - 1) + "\n").encode(), None),
        "quoted line feed": (text.replace('"necurs"', '"nec\nurs"', 1).encode(), True),
        "short row": (_insert(text, 3, '"2024-05-01 00:00:09","tcp"\n').encode(), True),
        "long row": (_insert(text, 5, text.splitlines()[2] + ',"x"\n').encode(), True),
        "Latin-1 cell": (text.replace('"necurs"', '"n\xe9curs"', 1).encode("latin-1"), True),
        "broken quote": (text.replace('"necurs"', '"nec"urs"', 1).encode(), True),
        "bad IPv6 source": (
            text.replace('"5.14.0.3"', '"fe80::1%eth0"').encode(),
            True,
        ),
        "carriage return line end": (
            text.replace("\n", "\r", 2).replace("\r", "\n", 1).encode(),
            False,
        ),
        "carriage return in a cell": (text.replace('"tcp"', '"t\rcp"', 1).encode(), False),
        "carriage return in a cell, CRLF": (crlf.replace('"tcp"', '"t\rcp"', 1).encode(), False),
        "CR LF in a cell, CRLF": (crlf.replace('"tcp"', '"t\r\ncp"', 1).encode(), True),
        "line feed in a cell, CRLF": (crlf.replace('"tcp"', '"t\ncp"', 1).encode(), False),
        "no final line feed": (text.rstrip("\n").encode(), False),
        "cut-off last line": (text[: text.rindex('"184')].encode(), False),
        "LF then CRLF": (text.replace("\n", "\r\n", 2).encode(), False),
        "CRLF": (crlf.encode(), None),
        "BOM and CRLF": (b"\xef\xbb\xbf" + crlf.encode(), None),
        "rejected rows": (text.replace('"5.14.0.3"', '"0.0.0.0"').encode(), None),
        "odd cells": (
            text.replace('"necurs"', '" nec, ""urs"" "', 1).replace('"RO"', '"NULL"', 1).encode(),
            None,
        ),
    }


IRREGULAR = [
    "blank line",
    "blank CRLF line",
    "row of empty cells",
    "quoted line feed",
    "short row",
    "long row",
    "Latin-1 cell",
    "broken quote",
    "bad IPv6 source",
    "carriage return line end",
    "carriage return in a cell",
    "carriage return in a cell, CRLF",
    "CR LF in a cell, CRLF",
    "line feed in a cell, CRLF",
    "no final line feed",
    "cut-off last line",
    "LF then CRLF",
    "CRLF",
    "BOM and CRLF",
    "rejected rows",
    "odd cells",
]


@pytest.mark.parametrize("overlap", [False, True], ids=["pre-scans in turn", "side by side"])
@pytest.mark.parametrize("case", IRREGULAR)
def test_an_irregular_report_reads_as_the_exact_reader_reads_it(
    case: str, overlap: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if overlap:  # as a large file is read: the line feeds counted beside the sample
        module = importlib.import_module("botcensus.feeds.file_ingest")
        monkeypatch.setattr(module, "OVERLAP_BYTES", 0)
    data, reread = _irregular(_text(tmp_path))[case]
    path = _write(tmp_path, NAME, data)
    (report,), fused, exact = _both([path], tmp_path, monkeypatch)
    assert fused == exact
    assert report.reader == ("duckdb" if reread is None else "exact")
    assert (report.reread is not None) == bool(reread)


@pytest.mark.parametrize(
    ("case", "cell"),
    [
        ("carriage return in a cell", "t\rcp"),
        ("carriage return in a cell, CRLF", "t\rcp"),
        ("CR LF in a cell, CRLF", "t\r\ncp"),
        ("line feed in a cell, CRLF", "t\ncp"),
        ("quoted line feed", "nec\nurs"),
    ],
)
def test_a_line_end_in_a_quoted_cell_stays_in_its_one_row(
    case: str, cell: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = _irregular(_text(tmp_path))[case]
    path = _write(tmp_path, NAME, data)
    (report,), (fused,), _ = _both([path], tmp_path, monkeypatch)
    assert (report.read, report.stored, report.quarantined, report.padded) == (6, 6, 0, 0)
    events = fused["events"]
    assert [e["source_line"] for e in events] == [2, 3, 4, 5, 6, 7]
    column = "extra.infection" if case == "quoted line feed" else "extra.protocol"
    assert events[0][column] == cell


def test_the_irregular_cases_are_all_tested(tmp_path: Path) -> None:
    text = _text(tmp_path)
    cases = _irregular(text)
    assert sorted(IRREGULAR) == sorted(cases)
    assert all(data != text.encode() for data, _ in cases.values())


def test_gzip_is_read_by_duckdb_and_a_zip_member_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _text(tmp_path)
    packed = _write(tmp_path, NAME + ".gz", gzip.compress(text.encode()))
    blank = _write(
        tmp_path, NAME.replace("-x", "-y") + ".gz", gzip.compress(_insert(text, 3, "\n").encode())
    )
    archive = tmp_path / "in" / "mail.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(NAME.replace("-x", "-z"), text)
    reports, fused, exact = _both([packed, blank, archive], tmp_path, monkeypatch)
    assert fused == exact
    assert [(r.reader, r.reread is not None) for r in reports] == [
        ("duckdb", False),
        ("exact", True),
        ("exact", False),
    ]


def test_a_name_duckdb_would_read_as_a_pattern_is_read_exactly(tmp_path: Path) -> None:
    path = _write(tmp_path, "2024-05-01-event4_sinkhole-[1].csv", _text(tmp_path).encode())
    _write(tmp_path, "2024-05-01-event4_sinkhole-1.csv", b"not, this\n")
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.reader, report.stored, report.error) == ("exact", 6, None)


def test_a_fused_read_given_up_late_keeps_nothing_of_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several batches stored (in open files, with their hashes in the dedup state) before a
    blank line near the end shows the file is irregular: the exact re-read finds none of its
    own rows as duplicates, and rows an earlier file of the run stored stay duplicates."""
    monkeypatch.setattr(feeds_fused, "BATCH_ROWS", 7)
    rows = _rows(60)
    (tmp_path / "in").mkdir()
    earlier = write_report(tmp_path / "in" / "2024-05-01-event4_sinkhole-a.csv", rows[:20])
    text = _text(tmp_path, rows)
    late = _write(tmp_path, NAME, _insert(text, 58, "\n").encode())
    reports, fused, exact = _both([earlier, late], tmp_path, monkeypatch)
    assert fused == exact
    assert [(r.reader, r.reread is not None) for r in reports] == [
        ("duckdb", False),
        ("exact", True),
    ]
    assert [(r.read, r.stored, r.duplicate) for r in reports] == [(20, 20, 0), (60, 40, 20)]
    leftovers = [p for p in (tmp_path / "fused").rglob(".*") if p.is_file()]
    assert [p for p in leftovers if p.suffix == ".parquet" or ".parquet" in p.name] == []


def test_line_feeds_are_counted_only_where_every_line_has_one(tmp_path: Path) -> None:
    from botcensus.feeds.inputs import Input

    def count(data: bytes) -> int | None:
        return feeds_fused.line_feeds(Input(_write(tmp_path, NAME, data)))

    assert count(b"a,b\n1,2\n") == 2
    assert count(b"a,b\r\n1,2\r\n") == 2
    assert count(b"a,b\n1,2") is None
    assert count(b"a,b\r\n1,2\n") is None
    assert count(b"a,b\n1\r2\n") is None
    assert count(b"a,b\r\n1,2\r\n\r") is None


def test_a_crlf_pair_split_across_scan_blocks_is_one_line_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botcensus.feeds.inputs import Input

    monkeypatch.setattr(feeds_fused, "SCAN_BLOCK", 4)
    path = _write(tmp_path, NAME, b"a,b\r\n1,2\r\n33,4\r\n")  # blocks: 'a,b\r' '\n1,2' ...
    assert feeds_fused.line_feeds(Input(path)) == 3
    bad = _write(tmp_path, NAME, b"a,b\n\n1,2\r\n")
    assert feeds_fused.line_feeds(Input(bad)) is None
