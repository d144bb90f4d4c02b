"""The census from roll-up tables equals the census from the sightings, for every grouping
and filter the roll-up keeps, daily and weekly (any week end); what it cannot answer it
says, so the caller counts the sightings."""

from __future__ import annotations

import datetime as dt
import itertools

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from botcensus.measure.census import CensusQuery, census_with_change
from botcensus.measure.rollups import (
    GROUPING_SETS,
    answerable,
    census_from_rollups,
    rollup_rows,
    window_bounds,
)
from botcensus.store import connect
from measure.sim_cases import notify_static


@pytest.fixture(scope="module")
def con():
    """Sightings where distinct counts cannot be added: a third of the rows seen again by a
    second feed, a fifth renamed to a second family, some without a family (unclaimed)."""
    base = notify_static().sightings
    n = base.num_rows
    idx = pa.array(range(n))
    family = pc.if_else(pc.equal(pc.bit_wise_and(idx, 4), 4), "examplebot", base["malware_family"])
    family = pc.if_else(pc.equal(pc.bit_wise_and(idx, 63), 1), pa.scalar(None, pa.string()), family)
    table = base.set_column(base.schema.get_field_index("malware_family"), "malware_family", family)
    again = table.filter(pc.equal(pc.bit_wise_and(idx, 2), 2))
    again = again.set_column(
        again.schema.get_field_index("feed_name"),
        "feed_name",
        pa.array(["Sinkhole-Events-HTTP IPv4"] * again.num_rows),
    ).cast(table.schema)
    c = connect()
    c.register("raw", pa.concat_tables([table, again]))
    c.execute("CREATE TABLE sightings AS SELECT * FROM raw")
    for name, window, ends in (
        ("r_day", "day", "sat"),
        ("r_sat", "week", "sat"),
        ("r_wed", "week", "wed"),
    ):
        c.register(f"{name}_t", rollup_rows(c, "sightings", window, ends))
        c.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_t")  # noqa: S608 (test names)
    return c


def _queries():
    days = [None, dt.date(2011, 3, 20), dt.date(2011, 4, 2)]
    for window, ends, table in (
        ("day", "sat", "r_day"),
        ("week", "sat", "r_sat"),
        ("week", "wed", "r_wed"),
    ):
        for by in ((), ("country",), ("asn",), ("family",), ("feed",)):
            for family, feed in itertools.product(
                (None, "examplebot"), (None, "Sinkhole-Events-HTTP IPv4")
            ):
                for lo, hi in ((None, None), (days[1], days[2])):
                    q = CensusQuery(window, ends, by, lo, hi, family, feed)
                    a, b = window_bounds(q)
                    yield table, CensusQuery(window, ends, by, a, b, family, feed)


QUERIES = list(_queries())


@pytest.mark.parametrize(
    ("table", "query"),
    QUERIES,
    ids=[f"{t}-{q.by}-{q.family}-{q.feed}-{q.date_from}" for t, q in QUERIES],
)
def test_rollup_census_equals_the_sightings_census(con, table, query):
    assert answerable(query, query.week_ends) is None
    expected = census_with_change(con, query, "sightings")
    got = census_from_rollups(con, query, table)
    assert expected.num_rows > 0
    assert got.to_pylist() == expected.to_pylist()
    assert got.schema.names == expected.schema.names


@pytest.mark.parametrize(
    ("table", "query"),
    QUERIES,
    ids=[f"{t}-{q.by}-{q.family}-{q.feed}-{q.date_from}" for t, q in QUERIES],
)
def test_rollup_coverage_equals_the_sightings_coverage(con, table, query):
    """With the day roll-up beside it, the days covered, the partial flags and the changes
    between full windows are those the census gives over the sightings."""
    expected = census_with_change(con, query, "sightings", covered=True)
    got = census_from_rollups(con, query, table, "r_day")
    assert "partial" in got.schema.names
    assert got.to_pylist() == expected.to_pylist()
    assert got.schema.names == expected.schema.names


def test_every_grouping_set_is_answered(con):
    grouped = {tuple(sorted(s)) for s in GROUPING_SETS}
    assert ("country",) in grouped
    assert ("family", "feed") in grouped
    assert ("asn", "family", "feed") in grouped
    assert ("asn", "country") not in grouped


@pytest.mark.parametrize(
    ("query", "why"),
    [
        (CensusQuery("week", "sat", ("country", "asn")), "not rolled up"),
        (CensusQuery("week", "sat", ("sensor",)), "not rolled up"),
        (CensusQuery("week", "sun"), "ending sat"),
        (CensusQuery("week", "sat", include_unclaimed=True), "unclaimed"),
        (CensusQuery("week", "sat", date_from=dt.date(2011, 3, 16)), "cuts a window"),
        (CensusQuery("day", "sat", ("asn",), dt.date(2011, 3, 16), dt.date(2011, 3, 16)), None),
    ],
)
def test_what_the_rollup_cannot_answer_is_named(query, why):
    found = answerable(query, "sat")
    assert (found is None) if why is None else (why in (found or ""))


def test_window_bounds_widen_to_whole_weeks():
    q = CensusQuery("week", "sat", date_from=dt.date(2011, 3, 16), date_to=dt.date(2011, 3, 16))
    assert window_bounds(q) == (dt.date(2011, 3, 13), dt.date(2011, 3, 19))
    q = CensusQuery("week", "wed", date_from=dt.date(2011, 3, 16), date_to=dt.date(2011, 3, 17))
    assert window_bounds(q) == (dt.date(2011, 3, 10), dt.date(2011, 3, 23))


def test_window_bounds_stop_at_the_calendars_ends():
    """0001-01-01 is a Monday: its week ending Saturday would start in year 0."""
    q = CensusQuery("week", "sat", date_from=dt.date.min, date_to=dt.date.max)
    assert window_bounds(q) == (dt.date.min, dt.date.max)
    q = CensusQuery("week", "sat", date_from=dt.date(1, 1, 2), date_to=dt.date(9999, 12, 26))
    assert window_bounds(q) == (dt.date.min, dt.date.max)
    # where the week fits, it is whole
    q = CensusQuery("week", "sun", date_from=dt.date(1, 1, 2), date_to=dt.date(9999, 12, 20))
    assert window_bounds(q) == (dt.date(1, 1, 1), dt.date(9999, 12, 26))


@pytest.mark.parametrize(
    ("table", "query"),
    [
        ("r_day", CensusQuery("day", "sat", (), None, None, today=dt.date(2011, 3, 30))),
        ("r_sat", CensusQuery("week", "sat", ("feed",), None, None, today=dt.date(2011, 3, 30))),
        ("r_wed", CensusQuery("week", "wed", ("country",), None, None, today=dt.date(2011, 4, 2))),
    ],
    ids=["day", "week-feed", "week-wed-country"],
)
def test_rollup_coverage_leaves_out_today_as_the_sightings_do(con, table, query):
    """A day not over is not covered, from the roll-up as from the sightings (the dashboard
    answers from the one, `botcensus census` from the other)."""
    expected = census_with_change(con, query, "sightings", covered=True)
    got = census_from_rollups(con, query, table, "r_day")
    assert got.to_pylist() == expected.to_pylist()
    holding = [r for r in got.to_pylist() if r["window_start"] <= query.today <= r["window_end"]]
    assert holding
    assert all(r["partial"] and r["unique_ip_change"] is None for r in holding)
