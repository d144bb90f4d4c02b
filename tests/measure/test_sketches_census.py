"""The census from sketches against the exact census, the choice between them, and week to
week turnover from Theta sketches."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from botcensus.measure import CensusQuery, census
from botcensus.measure.sketches_census import (
    UNIQUE_IP_HLL,
    census_answer,
    choose_source,
    error_summary,
    sketch_census,
    sketch_error,
    turnover,
    with_change_hll,
)
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store.sketch_build import sketch_sightings

from .sim_cases import NotifyRun, notify_static


@pytest.fixture(scope="module")
def run() -> NotifyRun:
    return notify_static()


@pytest.fixture(scope="module")
def sketches(run: NotifyRun) -> pa.Table:
    return sketch_sightings(run.sightings)


def _con(sightings: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("s", sightings)
    return con


@pytest.mark.parametrize(
    ("window", "by"), [("week", ()), ("week", ("country",)), ("day", ("asn",))]
)
def test_sketch_census_is_within_its_bounds_of_the_exact_one(
    run: NotifyRun, sketches: pa.Table, window: str, by: tuple[str, ...]
) -> None:
    con = _con(run.sightings)
    query = CensusQuery(window="day" if window == "day" else "week", by=by)
    errors = sketch_error(census(con, query, "s"), sketch_census(con, query, sketches), by)
    summary = error_summary(errors)
    assert summary["rows"] == census(con, query, "s").num_rows
    assert summary["max_abs_error"] < 0.05
    assert summary["within_bounds"] >= 0.9


def test_sketch_census_keeps_hits_exact(run: NotifyRun, sketches: pa.Table) -> None:
    con = _con(run.sightings)
    query = CensusQuery(window="week", by=("country",))
    exact = census(con, query, "s").sort_by(
        [("window_start", "ascending"), ("country", "ascending")]
    )
    est = sketch_census(con, query, sketches).sort_by(
        [("window_start", "ascending"), ("country", "ascending")]
    )
    assert est["hits"].to_pylist() == exact["hits"].to_pylist()


def test_with_change_hll_ranks_and_compares(run: NotifyRun, sketches: pa.Table) -> None:
    con = _con(run.sightings)
    query = CensusQuery(window="week", by=("country",))
    table = with_change_hll(con, sketch_census(con, query, sketches), ("country",))
    first = table.filter(pa.compute.equal(table["rank"], 1))
    assert set(first["country"].to_pylist()) <= {"US", "IN", "BR"}
    assert f"{UNIQUE_IP_HLL}_change" in table.column_names


def test_raw_sightings_are_used_when_they_cover_the_query(
    run: NotifyRun, sketches: pa.Table
) -> None:
    con = _con(run.sightings)
    answer = census_answer(con, CensusQuery(window="week"), "s", sketches)
    assert (answer.source, answer.unit) == ("sightings", "unique_ip")


def test_sketches_answer_when_raw_days_expired(run: NotifyRun, sketches: pa.Table) -> None:
    cut = dt.date(2011, 4, 1)
    recent = run.sightings.filter(pa.compute.greater_equal(run.sightings["day"], pa.scalar(cut)))
    con = _con(recent)
    answer = census_answer(con, CensusQuery(window="week"), "s", sketches)
    assert (answer.source, answer.unit) == ("sketches", "unique_ip_hll")
    assert "2011-03-16" in answer.reason
    assert UNIQUE_IP_HLL in answer.table.column_names
    assert "unique_ip" not in answer.table.column_names


def test_sketches_answer_for_a_sensor_that_lives_elsewhere(run: NotifyRun) -> None:
    other = run.sightings.slice(0, 500)
    other = other.set_column(
        other.schema.get_field_index("sensor"), "sensor", pa.array(["elsewhere"] * other.num_rows)
    )
    con = _con(run.sightings)
    source, reason = choose_source(con, CensusQuery(), "s", sketch_sightings(other))
    assert source == "sketches"
    assert "elsewhere" in reason


def test_a_query_outside_the_missing_days_stays_exact(run: NotifyRun, sketches: pa.Table) -> None:
    cut = dt.date(2011, 4, 1)
    recent = run.sightings.filter(pa.compute.greater_equal(run.sightings["day"], pa.scalar(cut)))
    source, _ = choose_source(_con(recent), CensusQuery(date_from=cut), "s", sketches)
    assert source == "sightings"


def _weeks(*weeks: list[str]) -> pa.Table:
    rows = []
    for i, ips in enumerate(weeks):
        for ip in ips:
            day = dt.date(2011, 3, 20) + dt.timedelta(days=7 * i)
            rows.append(
                {
                    "day": day,
                    "source_ip": ip,
                    "bot_id": None,
                    "malware_family": "rustock",
                    "sensor": "s",
                    "feed_name": "f",
                    "first_seen": dt.datetime(2011, 3, 20, tzinfo=dt.UTC),
                    "last_seen": dt.datetime(2011, 3, 20, tzinfo=dt.UTC),
                    "hits": 1,
                    "source_cc": "US",
                    "source_asn": 1,
                    "source_as_name": None,
                    "geo_db": None,
                }
            )
    return pa.Table.from_pylist(rows, schema=SIGHTING_SCHEMA)


def test_turnover_counts_new_and_gone_addresses() -> None:
    table = _weeks(["1.1.1.1", "2.2.2.2", "3.3.3.3"], ["2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5"])
    out = turnover(duckdb.connect(), CensusQuery(window="week"), sketch_sightings(table))
    assert out["unique_ip_theta"].to_pylist() == [3.0, 4.0]
    assert out["new_ip_theta"].to_pylist() == [None, 2.0]
    assert out["gone_ip_theta"].to_pylist() == [None, 1.0]


def test_turnover_after_a_gap_has_no_previous_window() -> None:
    table = _weeks(["1.1.1.1"], [], ["1.1.1.1"])
    out = turnover(duckdb.connect(), CensusQuery(window="week"), sketch_sightings(table))
    assert out["new_ip_theta"].to_pylist() == [None, None]
