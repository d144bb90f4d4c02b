"""The takedown report: files written, chart is a PNG, the page opens offline."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

from botcensus.measure.summary import summarise
from botcensus.model import SIGHTING_SCHEMA
from botcensus.report import write_report
from botcensus.store import connect


def _table() -> pa.Table:
    """Four weeks from Wednesday 2011-03-16; country XX shrinks by one address a week."""
    rows: dict[str, list[object]] = {f.name: [] for f in SIGHTING_SCHEMA}
    start = date(2011, 3, 16)
    for offset in range(28):
        day = start + timedelta(days=offset)
        for cc, n in (("XX", 10 - offset // 7), ("YY", 3)):
            for i in range(n):
                row = {f.name: None for f in SIGHTING_SCHEMA}
                row.update(day=day, source_ip=f"10.{ord(cc[0])}.0.{i}", malware_family="rustock",
                           sensor="s", feed_name="f", first_seen=None, last_seen=None, hits=1,
                           source_cc=cc, source_asn=64500 + ord(cc[0]))  # fmt: skip
                for k in rows:
                    rows[k].append(row[k])
    rows["first_seen"] = rows["last_seen"] = [0] * len(rows["day"])
    return pa.table(rows, schema=SIGHTING_SCHEMA)


def test_summary_compares_first_and_last_complete_weeks() -> None:
    con = connect()
    con.register("s", _table())
    summary = summarise(con, "s")
    # Data covers Wed 16 March to Tue 12 April: complete weeks start 20 March and 3 April.
    assert (summary.first_week, summary.last_week) == (date(2011, 3, 20), date(2011, 4, 3))
    xx = next(r for r in summary.countries.to_pylist() if r["country"] == "XX")
    # Week of 20 March: days with 10 and 9 addresses; week of 3 April: days with 8 and 7.
    assert (xx["unique_ip_first"], xx["unique_ip_last"]) == (10, 8)


def test_report_writes_png_csv_and_one_offline_page(tmp_path: Path) -> None:
    con = connect()
    con.register("s", _table())
    files = write_report(summarise(con, "s"), tmp_path / "out", title="Test takedown")
    assert files.chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    page = files.html.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page
    assert "http://" not in page
    assert "https://" not in page
    assert "unique_ip" in page
    assert "XX" in page
    assert files.countries.read_text(encoding="utf-8").splitlines()[0].startswith('"country"')


def _without_day(table: pa.Table, day: date) -> pa.Table:
    import pyarrow.compute as pc

    return table.filter(pc.not_equal(table["day"], pa.scalar(day, pa.date32())))


def test_a_full_week_missing_a_day_is_not_the_baseline() -> None:
    """A gap day inside the span makes its week partial: the comparison moves to the next
    full week (the span alone would call it complete)."""
    con = connect()
    con.register("s", _without_day(_table(), date(2011, 3, 23)))  # inside the week of 20 March
    summary = summarise(con, "s")
    assert (summary.first_week, summary.last_week) == (date(2011, 3, 27), date(2011, 4, 3))
    weeks = {r["window_start"]: r for r in summary.weekly.to_pylist()}
    assert (weeks[date(2011, 3, 20)]["days_covered"], weeks[date(2011, 3, 20)]["partial"]) == (
        6,
        True,
    )
    assert weeks[date(2011, 3, 20)]["unique_ip_change"] is None
    assert weeks[date(2011, 3, 27)]["unique_ip_change"] is None  # against a partial week
    assert weeks[date(2011, 4, 3)]["unique_ip_change"] == 11 / 12 - 1  # 9 + 3 -> 8 + 3


def test_the_page_flags_partial_weeks_and_says_what_it_compares(tmp_path: Path) -> None:
    con = connect()
    con.register("s", _table())
    files = write_report(summarise(con, "s"), tmp_path / "out", title="Test takedown")
    page = files.html.read_text(encoding="utf-8")
    assert "days of 7" in page  # the Weeks table's coverage column
    assert "first and last full weeks: data on all 7 days" in page
    assert ">yes<" in page  # the first week (from Wednesday) is partial
    assert ">True<" not in page


def test_one_full_week_is_no_change_rather_than_none_at_all(tmp_path: Path) -> None:
    """Ten days hold one full week: the country and network tables had "+0.0%" against
    itself, under "Change from the week starting X to the week starting X"."""
    table = _table()
    table = table.filter(pa.compute.less(table["day"], pa.scalar(date(2011, 3, 27))))
    con = connect()
    con.register("s", table)
    summary = summarise(con, "s")
    assert summary.first_week == summary.last_week == date(2011, 3, 20)
    assert summary.countries["unique_ip_change"].null_count == summary.countries.num_rows
    assert summary.asns["unique_ip_change"].null_count == summary.asns.num_rows
    page = write_report(summary, tmp_path / "out", title="T").html.read_text(encoding="utf-8")
    assert "One week to compare (starting 2011-03-20, UTC): no change to compute" in page
    countries = page[page.index("Countries (top") :]
    assert "+0.0%" not in countries  # the weekly table's "since first" keeps its baseline
