"""A census end to end (census_run): the filter built once with named parameters, exact counts
or the sketch fallback with its notes, change columns, top N, estimates; over a dataset."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from botcensus.measure import CensusQuery, census, with_change
from botcensus.measure.census import coverage
from botcensus.measure.census_run import (
    NO_ESTIMATE_NOTE,
    CensusResult,
    census_of_dataset,
    run_census,
)
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import apply_retention, connect, sightings_view, write_sightings
from botcensus.store.ledger import stamp
from botcensus.store.sketch_build import sketch_sightings
from botcensus.store.sketches import (
    days_beyond_sightings,
    sketch_days,
    sketches_view,
    write_sketches,
)

D0 = dt.date(2011, 3, 16)  # a Wednesday


GROUPS = (  # per day: (addresses, prefix, family, feed, country, ASN)
    (40, "10.1", "rustock", "a", "US", 1),
    (10, "10.2", "rustock", "a", "IN", 2),
    (5, "10.3", "examplebot", "b", "IN", 2),
    (3, "10.4", None, "a", "US", 1),  # unclaimed
)


def _sightings(days: int = 10) -> pa.Table:
    """Every day the same GROUPS of addresses, each seen 01:00-04:00 UTC."""
    rows = []
    for d in range(days):
        day = D0 + dt.timedelta(days=d)
        ts = dt.datetime(day.year, day.month, day.day, 1, tzinfo=dt.UTC)
        rows += [
            {
                "day": day,
                "source_ip": f"{prefix}.{d}.{i}",
                "bot_id": None,
                "malware_family": family,
                "sensor": "s1",
                "feed_name": feed,
                "first_seen": ts,
                "last_seen": ts + dt.timedelta(hours=3),
                "hits": 4,
                "source_cc": cc,
                "source_asn": asn,
                "source_as_name": None,
                "geo_db": None,
            }
            for n, prefix, family, feed, cc, asn in GROUPS
            for i in range(n)
        ]
    return pa.Table.from_pylist(rows, schema=SIGHTING_SCHEMA)


def _con() -> tuple[object, str]:
    con = connect()
    con.register("s", _sightings())
    return con, "s"


# -- the filter ------------------------------------------------------------------------------
def test_the_filter_names_its_parameters_and_returns_only_those_it_uses() -> None:
    where, params = CensusQuery(family="rustock", date_to=D0).where()
    assert params == {"census_family": "rustock", "census_to": D0}
    assert "$census_family" in where
    assert "$census_to" in where
    assert "?" not in where
    assert CensusQuery(include_unclaimed=True).where() == ("true", {})


def test_the_filter_without_dates_leaves_the_range_to_the_caller() -> None:
    where, params = CensusQuery(date_from=D0, date_to=D0, feed="a").where(dates=False)
    assert params == {"census_feed": "a"}
    assert "day" not in where


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (CensusQuery(), 55),
        (CensusQuery(include_unclaimed=True), 58),
        (CensusQuery(family="rustock"), 50),
        (CensusQuery(feed="b"), 5),
        (CensusQuery(family="rustock", feed="b"), 0),
        (CensusQuery(family="examplebot", feed="b", date_from=D0, date_to=D0), 5),
    ],
)
def test_every_combination_of_filters_binds_each_value_to_its_own_column(
    query: CensusQuery, expected: int
) -> None:
    """Values are bound by name: a family never lands on the feed column or a date."""
    con, rel = _con()
    rows = census(con, CensusQuery(window="day", **_without_window(query)), rel).to_pylist()
    first = [r["unique_ip"] for r in rows if r["window_start"] == D0]
    assert first == ([expected] if expected else [])


def _without_window(query: CensusQuery) -> dict[str, object]:
    return {
        "family": query.family,
        "feed": query.feed,
        "date_from": query.date_from,
        "date_to": query.date_to,
        "include_unclaimed": query.include_unclaimed,
    }


def test_an_unknown_group_is_refused_before_any_sql() -> None:
    con, rel = _con()
    with pytest.raises(ValueError, match="cannot group by 'city'"):
        run_census(con, CensusQuery(by=("city",)), rel)  # type: ignore[arg-type]


# -- exact counts ----------------------------------------------------------------------------
def test_exact_counts_with_change_columns_and_no_notes() -> None:
    con, rel = _con()
    query = CensusQuery(window="day", by=("country",), family="rustock")
    result = run_census(con, query, rel, sketch_sightings(_sightings()))
    assert (result.unit, result.source, result.notes) == ("unique_ip", "sightings", ())
    covered = coverage(con, query, rel)
    expected = with_change(con, census(con, query, rel), ("country",), covered=covered, days=1)
    assert result.rows.equals(expected)
    assert set(result.rows["days_covered"].to_pylist()) == {1}
    first = [r for r in result.rows.to_pylist() if r["window_start"] == D0]
    assert [(r["country"], r["unique_ip"], r["rank"]) for r in first] == [
        ("US", 40, 1),
        ("IN", 10, 2),
    ]


# -- no rows: say why ---------------------------------------------------------------------
def test_a_range_without_sightings_says_where_the_sightings_are() -> None:
    con, rel = _con()
    far = D0 + dt.timedelta(days=400)
    query = CensusQuery(date_from=far, date_to=far + dt.timedelta(days=6))
    result = run_census(con, query, rel, estimate=True)
    assert result.rows.num_rows == 0
    last = D0 + dt.timedelta(days=9)
    assert result.notes == (
        f"no rows: no sightings with a malware family between {far} and "
        f"{far + dt.timedelta(days=6)}; those with a malware family run from {D0} to {last}",
    )


def test_an_unknown_family_has_no_sightings_on_any_day() -> None:
    con, rel = _con()
    result = run_census(con, CensusQuery(family="nosuchbot", date_to=D0), rel)
    assert result.notes == ("no rows: no sightings of family nosuchbot on any day",)


def test_a_range_before_a_family_s_sightings_names_the_family() -> None:
    con, rel = _con()
    result = run_census(con, CensusQuery(family="examplebot", date_to=D0 - dt.timedelta(1)), rel)
    assert result.notes[0] == (
        f"no rows: no sightings of family examplebot on or before {D0 - dt.timedelta(1)}; those of "
        f"family examplebot run from {D0} to {D0 + dt.timedelta(days=9)}"
    )


def test_top_keeps_the_largest_groups_of_each_window() -> None:
    con, rel = _con()
    query = CensusQuery(window="day", by=("country",))
    result = run_census(con, query, rel, top=1)
    assert set(result.rows["country"].to_pylist()) == {"US"}
    assert result.rows.num_rows == 10
    with pytest.raises(ValueError, match="top must be at least 1"):
        run_census(con, query, rel, top=0)


def test_estimates_add_hosts_and_the_hourly_series_in_row_order() -> None:
    con, rel = _con()
    query = CensusQuery(window="week", by=("country",))
    plain = run_census(con, query, rel)
    result = run_census(con, query, rel, estimate=True)
    names = ["hosts_est", "hosts_lo", "hosts_hi", "hosts_support", "ips_hourly_avg"]
    assert result.rows.column_names == [*plain.rows.column_names, *names]
    assert result.rows.select(plain.rows.column_names).equals(plain.rows)
    hourly = result.rows["ips_hourly_avg"].to_pylist()
    assert all(h is not None and h > 0 for h in hourly)


# -- the sketch fallback, over a dataset ----------------------------------------------------
@pytest.fixture(scope="module")
def sketched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("sketched") / "data"
    write_sightings(_sightings(), data, "sinkhole")
    sketch_days(data, sketch_sightings)
    return data


@pytest.fixture
def dataset(sketched: Path, tmp_path: Path) -> Path:
    """A copy of the sketched dataset that the test may change."""
    return Path(shutil.copytree(sketched, tmp_path / "data", copy_function=shutil.copy2))


def _expire_first_eight_days(dataset: Path) -> None:
    """Retention as an operator runs it: days D0..D0+7 were written ten days before `now`,
    the last two just now, so only the first eight days' sightings are past 5 days."""
    now = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)
    days = [(D0 + dt.timedelta(days=i)).isoformat() for i in range(10)]
    stamp(dataset, "sightings", days[:8], now - dt.timedelta(days=10))
    stamp(dataset, "sightings", days[8:], now)
    apply_retention(dataset, now, event_days=1, sighting_days=5)


def test_a_dataset_with_every_day_raw_is_counted_exactly(dataset: Path) -> None:
    calls: list[Path] = []
    result = census_of_dataset(dataset, CensusQuery(window="day"), refresh=calls.append)
    assert calls == [dataset]
    assert result.unit == "unique_ip"
    assert result.rows["unique_ip"].to_pylist() == [55] * 10


def test_expired_days_are_counted_from_sketches_with_a_note(dataset: Path) -> None:
    _expire_first_eight_days(dataset)
    result = census_of_dataset(dataset, CensusQuery(window="day"), estimate=True)
    assert (result.unit, result.source) == ("unique_ip_hll", "sketches")
    assert result.notes == (result.reason, NO_ESTIMATE_NOTE)
    assert "raw sightings missing for" in result.reason
    counts = result.rows["unique_ip_hll"].to_pylist()
    assert [round(c) for c in counts] == [55] * 10  # HLL is exact at this size
    assert "unique_ip_hll_change" in result.rows.column_names
    assert "hosts_est" not in result.rows.column_names


def test_a_range_inside_the_raw_days_stays_exact(dataset: Path) -> None:
    _expire_first_eight_days(dataset)
    late = CensusQuery(window="day", date_from=D0 + dt.timedelta(days=8))
    result = census_of_dataset(dataset, late)
    assert result.unit == "unique_ip"
    assert result.rows["unique_ip"].to_pylist() == [55, 55]


def test_sketch_relation_and_sketch_table_give_the_same_answer(dataset: Path) -> None:
    _expire_first_eight_days(dataset)
    con = connect()
    rel = sightings_view(con, dataset)
    query = CensusQuery(window="week", by=("country",))
    from_view = run_census(con, query, rel, sketches_view(con, dataset))
    from botcensus.store.sketches import read_sketches

    from_table = run_census(con, query, rel, read_sketches(dataset))
    assert from_view.rows.equals(from_table.rows)


def test_a_missing_dataset_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing: no such directory"):
        census_of_dataset(tmp_path / "nothing", CensusQuery())


def test_an_empty_dataset_has_no_rows(tmp_path: Path) -> None:
    result = census_of_dataset(tmp_path, CensusQuery(by=("country",)), estimate=True)
    assert isinstance(result, CensusResult)
    assert result.rows.num_rows == 0
    assert pc.sum(result.rows["unique_ip"]).as_py() is None
    assert "no rows: no sightings with a malware family on any day" in result.notes


# -- which days need the coverage check -----------------------------------------------------
def test_days_sketched_from_their_present_sightings_need_no_check(dataset: Path) -> None:
    assert days_beyond_sightings(dataset) == []


def test_expired_days_need_the_check(dataset: Path) -> None:
    _expire_first_eight_days(dataset)
    assert days_beyond_sightings(dataset) == [D0 + dt.timedelta(days=d) for d in range(8)]


def test_a_day_with_sketches_from_elsewhere_needs_the_check(dataset: Path) -> None:
    other = _sightings(days=1).set_column(4, "sensor", pa.array(["s2"] * 58))
    write_sketches(sketch_sightings(other), dataset, "sinkhole-b")
    assert days_beyond_sightings(dataset) == [D0]
    result = census_of_dataset(dataset, CensusQuery(window="day", date_to=D0))
    assert result.source == "sketches"
    assert "sensors s2" in result.reason


def test_a_day_whose_sightings_changed_since_sketching_needs_the_check(dataset: Path) -> None:
    write_sightings(_sightings(days=1).slice(0, 10), dataset, "sinkhole")
    assert days_beyond_sightings(dataset) == [D0]
    result = census_of_dataset(dataset, CensusQuery(window="day", date_to=D0))
    assert result.source == "sightings"  # one sensor, still in the raw rows
    assert result.rows["unique_ip"].to_pylist() == [10]
