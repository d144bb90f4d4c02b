"""Partial windows: each census row says how many of its window's days the data covers
(`days_covered`, `partial`), and no change is computed across a partial window or a gap, so
a week holding one day of reports never reads as a 60% drop."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pyarrow as pa
import pytest

from botcensus.measure import CensusQuery, run_census
from botcensus.measure.census_run import partial_note
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import connect
from botcensus.store.sketch_build import sketch_sightings

SUN = dt.date(2021, 2, 28)  # weeks ending Saturday start on Sunday


def _rows(days: Iterable[int], feed: str, n: int, family: str | None = "andromeda") -> list[dict]:
    out = []
    for d in days:
        day = SUN + dt.timedelta(days=d)
        ts = dt.datetime(day.year, day.month, day.day, 1, tzinfo=dt.UTC)
        out += [
            {
                "day": day,
                "source_ip": f"10.{len(feed)}.{d}.{i}",
                "bot_id": None,
                "malware_family": family,
                "sensor": "s1",
                "feed_name": feed,
                "first_seen": ts,
                "last_seen": ts,
                "hits": 1,
                "source_cc": "DE",
                "source_asn": 3320,
                "source_as_name": None,
                "geo_db": None,
            }
            for i in range(n)
        ]
    return out


def _run(rows: list[dict], query: CensusQuery, *, sketches: bool = False) -> pa.Table:
    con = connect()
    table = pa.Table.from_pylist(rows, schema=SIGHTING_SCHEMA)
    con.register("s", table)
    if sketches:  # sightings gone: only sketch rows hold the days
        con.register("empty", table.slice(0, 0))
        return run_census(con, query, "empty", sketch_sightings(table)).rows
    return run_census(con, query, "s").rows


def _by_week(table: pa.Table, *keys: str) -> dict[tuple, dict]:
    return {(r["window_start"], *(r[k] for k in keys)): r for r in table.to_pylist()}


# Two full weeks, then a week with only its first day: the classic "-85%" last week.
THREE_WEEKS = _rows(range(15), "daily", 10)


def test_each_window_says_how_many_of_its_days_the_data_covers() -> None:
    rows = _run(THREE_WEEKS, CensusQuery(window="week"))
    got = [(r["window_start"], r["days_covered"], r["partial"]) for r in rows.to_pylist()]
    assert got == [
        (SUN, 7, False),
        (SUN + dt.timedelta(days=7), 7, False),
        (SUN + dt.timedelta(days=14), 1, True),
    ]


def test_a_one_day_week_shows_no_change_instead_of_a_drop() -> None:
    rows = _run(THREE_WEEKS, CensusQuery(window="week")).to_pylist()
    assert rows[1]["unique_ip_change"] == pytest.approx(0.0)
    assert rows[2]["unique_ip"] == 10  # counted, and flagged
    assert rows[2]["unique_ip_change"] is None
    assert rows[2]["unique_ip_change_since_first"] is None


def test_change_since_first_starts_at_the_first_full_window() -> None:
    # Week 1 starts on its Thursday (4 days), weeks 2 and 3 are full with twice the hosts.
    data = _rows(range(3, 7), "daily", 5) + _rows(range(7, 21), "daily", 10)
    rows = _run(data, CensusQuery(window="week")).to_pylist()
    assert [(r["days_covered"], r["partial"]) for r in rows] == [(4, True), (7, False), (7, False)]
    assert rows[0]["unique_ip_change_since_first"] is None
    assert rows[1]["unique_ip_change"] is None  # against a partial week: not computed
    assert rows[1]["unique_ip_change_since_first"] == pytest.approx(0.0)
    assert rows[2]["unique_ip_change_since_first"] == pytest.approx(0.0)


def test_no_change_is_computed_across_an_empty_week() -> None:
    data = _rows(range(7), "daily", 10) + _rows(range(14, 21), "daily", 5)
    rows = _run(data, CensusQuery(window="week")).to_pylist()
    assert [r["window_start"] for r in rows] == [SUN, SUN + dt.timedelta(days=14)]
    assert rows[1]["partial"] is False
    assert rows[1]["unique_ip_change"] is None  # the week before had no data at all
    assert rows[1]["unique_ip_change_since_first"] == pytest.approx(-0.5)


def test_a_feed_reporting_on_alternate_days_is_covered_on_its_own_days() -> None:
    data = _rows(range(14), "daily", 10) + _rows(range(0, 14, 2), "odd", 3)
    rows = _by_week(_run(data, CensusQuery(window="week", by=("feed",))), "feed")
    second = SUN + dt.timedelta(days=7)
    assert rows[(second, "daily")]["days_covered"] == 7
    assert rows[(second, "daily")]["unique_ip_change"] == pytest.approx(0.0)
    assert (rows[(SUN, "odd")]["days_covered"], rows[(second, "odd")]["days_covered"]) == (4, 3)
    assert rows[(second, "odd")]["partial"] is True
    assert rows[(second, "odd")]["unique_ip_change"] is None


def test_a_daily_census_shows_no_change_across_a_day_a_feed_did_not_report() -> None:
    data = _rows(range(5), "daily", 10) + _rows(range(0, 5, 2), "odd", 3)
    rows = _by_week(_run(data, CensusQuery(window="day", by=("feed",))), "feed")
    day = SUN + dt.timedelta(days=2)
    assert rows[(day, "odd")]["days_covered"] == 1
    assert rows[(day, "odd")]["unique_ip_change"] is None  # day 1 had no "odd" report
    assert rows[(day, "daily")]["unique_ip_change"] == pytest.approx(0.0)


def test_a_family_absent_on_a_covered_day_is_not_a_partial_window() -> None:
    """Coverage is of the data, not of a family: a day without family X but with reports
    is a day of zero X, not a missing day."""
    data = _rows(range(14), "daily", 10) + _rows(range(0, 14, 2), "daily", 2, "rustock")
    rows = _by_week(_run(data, CensusQuery(window="week", by=("family",))), "family")
    second = SUN + dt.timedelta(days=7)
    assert rows[(second, "rustock")]["days_covered"] == 7
    assert rows[(second, "rustock")]["partial"] is False
    assert rows[(second, "rustock")]["unique_ip_change"] == pytest.approx(6 / 8 - 1)


def test_a_range_that_cuts_a_week_makes_it_partial() -> None:
    query = CensusQuery(window="week", date_from=SUN + dt.timedelta(days=3))
    rows = _run(THREE_WEEKS, query).to_pylist()
    assert (rows[0]["days_covered"], rows[0]["partial"]) == (4, True)


def test_the_sketch_fallback_carries_the_same_coverage() -> None:
    rows = _run(THREE_WEEKS, CensusQuery(window="week"), sketches=True).to_pylist()
    assert [(r["days_covered"], r["partial"]) for r in rows] == [(7, False), (7, False), (1, True)]
    assert rows[2]["unique_ip_hll_change"] is None
    assert rows[1]["unique_ip_hll_change"] == pytest.approx(0.0, abs=0.05)


def test_the_result_notes_how_many_windows_are_partial() -> None:
    con = connect()
    con.register("s", pa.Table.from_pylist(THREE_WEEKS, schema=SIGHTING_SCHEMA))
    result = run_census(con, CensusQuery(window="week"), "s")
    assert partial_note(result.rows, CensusQuery(window="week")) in result.notes
    assert "1 of 3 rows" in partial_note(result.rows, CensusQuery(window="week"))  # type: ignore[operator]
    full = run_census(con, CensusQuery(window="week", date_to=SUN + dt.timedelta(days=13)), "s")
    assert not any("partial" in n for n in full.notes)


# `today`: the day the census runs in is not over, so it is never a covered day.
TODAY = SUN + dt.timedelta(days=13)  # the last day (a Saturday) of the second full week


def test_a_week_holding_today_is_partial_although_it_has_data_on_all_its_days() -> None:
    """A live sinkhole's current week, counted on its last day, has rows on all 7 days; its
    last day is half over, so the week must not read as a fall against the week before."""
    data = _rows(range(14), "daily", 10)
    before = _run(data, CensusQuery(window="week")).to_pylist()
    assert [r["partial"] for r in before] == [False, False]  # without `today`: full
    rows = _run(data, CensusQuery(window="week", today=TODAY)).to_pylist()
    assert [(r["days_covered"], r["partial"]) for r in rows] == [(7, False), (6, True)]
    assert rows[1]["unique_ip"] == 70  # still counted, and flagged
    assert rows[1]["unique_ip_change"] is None


def test_a_daily_census_flags_today_and_keeps_yesterday() -> None:
    data = _rows(range(14), "daily", 10)
    rows = _run(data, CensusQuery(window="day", today=TODAY)).to_pylist()
    by_day = {r["window_start"]: r for r in rows}
    assert (by_day[TODAY]["days_covered"], by_day[TODAY]["partial"]) == (0, True)
    assert by_day[TODAY]["unique_ip_change"] is None
    yesterday = by_day[TODAY - dt.timedelta(days=1)]
    assert (yesterday["partial"], yesterday["unique_ip_change"]) == (False, pytest.approx(0.0))


def test_a_finished_dataset_is_not_touched_by_today() -> None:
    """Days before `today` are over: a census of 2021 data run in 2026 is unchanged."""
    query = CensusQuery(window="week")
    later = CensusQuery(window="week", today=dt.date(2026, 12, 7))
    assert _run(THREE_WEEKS, later).to_pylist() == _run(THREE_WEEKS, query).to_pylist()


def test_the_sketch_fallback_flags_today_too() -> None:
    data = _rows(range(14), "daily", 10)
    rows = _run(data, CensusQuery(window="week", today=TODAY), sketches=True).to_pylist()
    assert [(r["days_covered"], r["partial"]) for r in rows] == [(7, False), (6, True)]


def test_the_note_says_today_is_not_over() -> None:
    con = connect()
    con.register("s", pa.Table.from_pylist(_rows(range(14), "daily", 10), schema=SIGHTING_SCHEMA))
    result = run_census(con, CensusQuery(window="week", today=TODAY), "s")
    assert any(f"today ({TODAY}, UTC) is not over" in n for n in result.notes)
    finished = run_census(con, CensusQuery(window="week", today=TODAY + dt.timedelta(days=1)), "s")
    assert not any("today" in n for n in finished.notes)


def test_the_note_of_a_daily_census_speaks_of_days() -> None:
    con = connect()
    con.register("s", pa.Table.from_pylist(_rows(range(14), "daily", 10), schema=SIGHTING_SCHEMA))
    result = run_census(con, CensusQuery(window="day", today=TODAY), "s")
    (note,) = [n for n in result.notes if "partial" in n]
    assert note.startswith("1 of 14 rows are partial days (no data of the feed that day")
    assert "fewer than 1 days" not in note
