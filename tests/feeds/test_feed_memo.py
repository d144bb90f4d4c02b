"""Outputs mapped once per distinct value (feeds/memo.py) are what the row-by-row mapping gives:
the fused read with the memo on every output it can take stores exactly what the exact reader
stores, on every sample report and on hostile host and path cells spread over many batches."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest
from feed_cases import CASES, case_mapping, fake_enrich, sinkhole_row, write_report
from test_feed_fused import _both, _write

import botcensus.feeds.fused as feeds_fused
from botcensus.feeds import fused, ingest, memo
from botcensus.feeds.inputs import expand
from botcensus.feeds.plan import plan
from botcensus.feeds.read import read_header
from botcensus.feeds.resolve import resolve
from botcensus.store.db import connect

# Host and path cells a bot chooses: breakers, white space, request lines, no slash, quotes,
# non-ASCII, an IP as host, empty (quoted) and missing.
HOSTS = [
    "differentia.ru",
    "Evil.Example.",
    ".lead.dot",
    "evil.example/x",
    "a b",
    "host?q",
    "user@host",
    "back\\slash",
    "198.51.100.7",
    "xn--bcher-kva.example",
    "bücher.example",
    "",
    None,
]
PATHS = [
    "/index.php",
    "/gate.php?id=1",
    "GET /search?q=0 HTTP/1.1",
    "no-slash",
    "/tab\there",
    '/quote"d',
    "",
    None,
]
APPLICATIONS = ["http", "https", "HTTP", "ftp", None]
NAME = "2024-05-01-event4_sinkhole_http-x.csv"
# Our sample reports, and the real ones IntelMQ tests its parser with (named by report type)
REAL = {"Sinkhole-HTTP-Drone.csv": "sinkhole_http_drone"}
SAMPLES = sorted(CASES.glob("*.csv")) + sorted((CASES / "intelmq").glob("*.csv"))


def _dated(path: Path, tmp_path: Path) -> Path:
    """A sample under a name that gives its report type (as Shadowserver names reports)."""
    if path.parent.name != "intelmq":
        return path
    kind = REAL.get(path.name, path.stem)
    copy = tmp_path / "samples" / f"2024-05-01-{kind}-real.csv"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(path.read_bytes())
    return copy


def _applies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The memo's outputs per batch it maps, as it maps them."""
    applied: list[int] = []
    original = memo.Memo.apply

    def counted(self: memo.Memo, mapped: pa.Table) -> pa.Table:
        applied.append(len(self.outputs))
        return original(self, mapped)

    monkeypatch.setattr(memo.Memo, "apply", counted)
    return applied


@pytest.fixture
def memo_everywhere(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The memo on every file and every output whose cells it can take; the outputs it
    computed, batch by batch."""
    monkeypatch.setattr(memo, "MIN_ROWS", 0)
    monkeypatch.setattr(memo, "FEW", 1.0)
    monkeypatch.setattr(memo, "BUILT_ONLY", False)
    return _applies(monkeypatch)


def _hostile_rows(n: int) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        row = sinkhole_row(i)
        row["http_host"] = HOSTS[i % len(HOSTS)]
        row["http_url"] = PATHS[(i // 3) % len(PATHS)]
        row["application"] = APPLICATIONS[(i // 7) % len(APPLICATIONS)]
        row["infection"] = ["andromeda", "0", "unknown", "Necurs", "", None][i % 6]
        row["family"] = [None, "andromeda", "mirai\x01", "ok"][i % 4]
        rows.append(row)
    return rows


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_report_maps_the_same_through_the_memo(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memo_everywhere: list[int]
) -> None:
    dated = _dated(path, tmp_path)
    reports, fused_result, exact = _both([dated], tmp_path, monkeypatch, case_mapping(path))
    assert fused_result == exact
    if reports[0].reader == "duckdb" and reports[0].read:
        assert memo_everywhere
        assert min(memo_everywhere) > 0


@pytest.mark.parametrize(
    ("cache", "packed"),
    [(memo.CACHE, False), (3, False), (memo.CACHE, True)],
    ids=["cached", "cache-full", "gzip"],
)
def test_hostile_cells_over_many_batches_map_as_row_by_row(
    cache: int,
    packed: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    memo_everywhere: list[int],
) -> None:
    monkeypatch.setattr(memo, "CACHE", cache)
    monkeypatch.setattr(feeds_fused, "BATCH_ROWS", 64)
    (tmp_path / "model").mkdir()
    path = write_report(tmp_path / "model" / NAME, _hostile_rows(700))
    text = path.read_text(encoding="utf-8")
    assert '""' in text  # a quoted empty cell is in the file
    data = gzip.compress(text.encode()) if packed else text.encode()
    name = NAME + ".gz" if packed else NAME
    reports, fused_result, exact = _both([_write(tmp_path, name, data)], tmp_path, monkeypatch)
    assert reports[0].reader == "duckdb"
    assert len(memo_everywhere) > 10  # many batches
    assert fused_result == exact
    stored = {e["destination_url"] for e in fused_result[0]["events"]}
    assert "http://differentia.ru/index.php" in stored  # URLs were built


def _plan_memo(path: Path) -> memo.Memo:
    item = next(iter(expand([path])))
    source = resolve(item.name, None, None, None)
    columns = read_header(item, ",")
    chosen = plan(source.report, columns, feed_name="x", sensor="y")
    sql = fused.source_sql(item, columns, ",")
    assert sql is not None
    return memo.Memo(chosen, memo.few_valued(connect(threads=1), sql, columns))


def test_the_memo_takes_few_valued_host_and_path_only(tmp_path: Path) -> None:
    few = [sinkhole_row(i) for i in range(2000)]
    many = [dict(r, http_url=f"/gate.php?id={i}") for i, r in enumerate(few)]
    (tmp_path / "few").mkdir()
    (tmp_path / "many").mkdir()
    repeated = _plan_memo(write_report(tmp_path / "few" / NAME, few))
    assert set(repeated.outputs) >= {"destination_url", "destination_fqdn"}
    assert set(repeated.cells) >= {"http_host", "http_url"}
    assert "source_ip" not in repeated.outputs
    assert "__reject" not in repeated.outputs
    distinct = _plan_memo(write_report(tmp_path / "many" / NAME, many))
    assert "destination_url" not in distinct.outputs
    assert "http_url" not in distinct.cells


def test_a_large_regular_report_is_read_through_the_memo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memo, "MIN_ROWS", 100)
    applied = _applies(monkeypatch)
    (tmp_path / "model").mkdir()
    path = write_report(tmp_path / "model" / NAME, [sinkhole_row(i) for i in range(300)])
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.reader, report.stored, report.error) == ("duckdb", 300, None)
    assert applied
    assert min(applied) >= 4


def test_a_large_file_counts_its_line_feeds_beside_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From OVERLAP_BYTES on, the line feeds are counted in another thread while DuckDB
    samples the few-valued cells; the sample is taken once and the memo still applies."""
    import importlib
    import threading

    import botcensus.feeds.fused as feeds_fused

    monkeypatch.setattr(memo, "MIN_ROWS", 100)
    # the module, not the function botcensus.feeds exports under its name
    monkeypatch.setattr(importlib.import_module("botcensus.feeds.file_ingest"), "OVERLAP_BYTES", 1)
    applied = _applies(monkeypatch)
    counted_in: list[str] = []
    sampled: list[str] = []
    count, sample = feeds_fused.line_feeds, memo.few_valued

    def counting(source: object) -> int | None:
        counted_in.append(threading.current_thread().name)
        return count(source)  # type: ignore[arg-type]

    def sampling(*args: object) -> set[str]:
        sampled.append(threading.current_thread().name)
        return sample(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(feeds_fused, "line_feeds", counting)
    monkeypatch.setattr(memo, "few_valued", sampling)
    (tmp_path / "model").mkdir()
    path = write_report(tmp_path / "model" / NAME, [sinkhole_row(i) for i in range(300)])
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.reader, report.stored, report.error) == ("duckdb", 300, None)
    assert applied
    assert len(sampled) == 1
    assert len(counted_in) == 1
    assert counted_in[0] != sampled[0]


def test_a_failing_memo_reads_the_file_again_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DuckDB error in the memo's own statement (injected here: no input is known to
    cause one) sends the file to the exact reader, which stores every row, and the report
    names the memo, not DuckDB's reader."""
    import duckdb

    monkeypatch.setattr(memo, "MIN_ROWS", 100)

    def failing(self: memo.Memo, pending: list[object]) -> dict[int, pa.Table]:
        raise duckdb.InvalidInputException("injected")

    monkeypatch.setattr(memo.Memo, "_evaluate", failing)
    (tmp_path / "model").mkdir()
    path = write_report(tmp_path / "model" / NAME, [sinkhole_row(i) for i in range(300)])
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.reader, report.stored, report.error) == ("exact", 300, None)
    assert report.reread is not None
    assert "few-valued cells" in report.reread
    assert "injected" in report.reread
    assert "lines 2-301" in report.reread  # the one batch, header apart
    assert "reader stopped" not in report.reread


def _cells(path: Path) -> pa.Table | None:
    """A sample report's cells as text (empty cells null), or None if it is not regular."""
    import pyarrow.csv as pacsv

    try:
        names = pacsv.read_csv(path).column_names
        convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        return pacsv.read_csv(path, convert_options=convert)
    except pa.ArrowInvalid:  # short rows, bytes that are not UTF-8
        return None


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_an_output_changes_with_the_cells_it_reads_only(path: Path, tmp_path: Path) -> None:
    """Plan.reads is complete: changing a cell (its values moved one row on) leaves every
    output that does not read it as it was."""
    import numpy as np

    cells = _cells(path)
    source = resolve(_dated(path, tmp_path).name, case_mapping(path), None, None)
    if cells is None or cells.num_rows < 2:
        pytest.skip("not a regular report of two rows or more")
    chosen = plan(source.report, cells.column_names, feed_name="f", sensor="s")
    con = connect(threads=1)

    def mapped(table: pa.Table) -> pa.Table:
        lines = pa.array(np.arange(table.num_rows, dtype=np.int64))
        con.register("batch", table.append_column("__line", lines))
        try:
            return con.sql(chosen.sql).to_arrow_table()
        finally:
            con.unregister("batch")

    before = mapped(cells)
    reads = dict(chosen.reads)
    changed = 0
    for cell in chosen.cells:
        column = cells[cell].combine_chunks()
        moved = pa.concat_arrays([column.slice(1), column.slice(0, 1)])
        if moved.equals(column):
            continue
        changed += 1
        after = mapped(cells.set_column(cells.schema.get_field_index(cell), cell, moved))
        for name, read in reads.items():
            if cell not in read and name != "__line":
                assert after[name].equals(before[name]), (cell, name)
    assert changed
