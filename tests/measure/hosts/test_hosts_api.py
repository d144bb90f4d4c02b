"""estimate_hosts as the census sees it: rows keyed like census rows, intervals, timers, and
estimates that are a function of the sightings alone."""

from __future__ import annotations

import ast
import functools
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import botcensus.measure.hosts as hosts_package
from botcensus.measure import CensusQuery, census, with_change
from botcensus.measure.hosts import ESTIMATE_COLUMNS, checkin_timer, estimate_hosts, with_estimates
from botcensus.model import SIGHTING_SCHEMA

from .hosts_cases import START, Population, connect, populate


@functools.cache
def two_countries() -> pa.Table:
    pop = Population()
    populate(pop, range(200), "static", cc="AA", asn=64501)
    populate(pop, range(200, 500), "session", cc="AA", asn=64502)
    populate(pop, range(500, 700), "static", cc="BB", asn=64503)
    populate(pop, range(700, 900), "session", cc="BB", asn=64504)
    scanner = {**pop.rows[0], "source_ip": "192.0.2.1", "malware_family": None, "hits": 50}
    return pa.Table.from_pylist([*pop.rows, scanner], schema=SIGHTING_SCHEMA)


def _keys(table: pa.Table, by: tuple[str, ...]) -> set[tuple[object, ...]]:
    cols = ["window_start", "window_end", *by]
    return {tuple(r[c] for c in cols) for r in table.select(cols).to_pylist()}


@pytest.mark.parametrize(
    "by", [(), ("country",), ("asn",), ("country", "asn"), ("family",), ("feed",), ("sensor",)]
)
@pytest.mark.parametrize("window", ["week", "day"])
def test_rows_are_keyed_like_census_rows(by: tuple[str, ...], window: str) -> None:
    con = connect(two_countries())
    query = CensusQuery(window="day" if window == "day" else "week", by=by)
    estimates = estimate_hosts(con, query, "sightings")
    assert _keys(estimates, by) == _keys(census(con, query, "sightings"), by)
    assert estimates.column_names[-4:] == list(ESTIMATE_COLUMNS)


def test_intervals_bracket_the_estimate() -> None:
    table = estimate_hosts(connect(two_countries()), CensusQuery(by=("asn",)), "sightings")
    assert pc.all(pc.less_equal(table["hosts_lo"], table["hosts_est"])).as_py()
    assert pc.all(pc.less_equal(table["hosts_est"], table["hosts_hi"])).as_py()


def test_a_lower_level_gives_a_narrower_interval() -> None:
    con = connect(two_countries())
    wide = estimate_hosts(con, CensusQuery(), "sightings", level=0.9)
    narrow = estimate_hosts(con, CensusQuery(), "sightings", level=0.5)
    assert narrow["hosts_est"].to_pylist() == wide["hosts_est"].to_pylist()
    width = pc.subtract(wide["hosts_hi"], wide["hosts_lo"])
    assert pc.all(pc.less(pc.subtract(narrow["hosts_hi"], narrow["hosts_lo"]), width)).as_py()


def test_countries_add_up_to_the_global_estimate() -> None:
    con = connect(two_countries())
    whole = estimate_hosts(con, CensusQuery(), "sightings").to_pylist()
    parts = estimate_hosts(con, CensusQuery(by=("country",)), "sightings").to_pylist()
    for row in whole:
        mine = [p["hosts_est"] for p in parts if p["window_start"] == row["window_start"]]
        assert sum(mine) == pytest.approx(row["hosts_est"])


def test_date_range_limits_the_windows() -> None:
    query = CensusQuery(
        window="day", date_from=START + timedelta(days=3), date_to=START + timedelta(days=5)
    )
    table = estimate_hosts(connect(two_countries()), query, "sightings")
    assert table["window_start"].to_pylist() == [START + timedelta(days=d) for d in (3, 4, 5)]


def test_unclaimed_sightings_are_left_out_unless_asked() -> None:
    con = connect(two_countries())
    plain = estimate_hosts(con, CensusQuery(by=("family",)), "sightings")
    assert set(plain["family"].to_pylist()) == {"testbot"}
    every = estimate_hosts(con, CensusQuery(by=("family",), include_unclaimed=True), "sightings")
    assert None in set(every["family"].to_pylist())


def test_an_empty_relation_gives_no_rows() -> None:
    table = estimate_hosts(connect(SIGHTING_SCHEMA.empty_table()), CensusQuery(), "sightings")
    assert table.num_rows == 0
    assert table.column_names == ["window_start", "window_end", *ESTIMATE_COLUMNS]


def test_checkin_timer_is_read_off_the_sightings() -> None:
    timer = checkin_timer(connect(two_countries()), CensusQuery(), "sightings")
    assert timer is not None
    assert timer.interval == pytest.approx(300, rel=0.01)
    assert timer.jitter < 0.1 * timer.interval


def test_feeds_with_one_report_a_day_have_no_timer() -> None:
    table = two_countries()
    once = table.set_column(
        table.schema.get_field_index("hits"), "hits", pa.array([1] * len(table))
    )
    once = once.set_column(
        once.schema.get_field_index("last_seen"), "last_seen", once["first_seen"]
    )
    con = connect(once)
    assert checkin_timer(con, CensusQuery(), "sightings") is None
    assert estimate_hosts(con, CensusQuery(), "sightings").num_rows == 3


def test_estimates_do_not_depend_on_row_order() -> None:
    table = two_countries()
    shuffled = table.take(pa.array(list(range(len(table)))[::-1]))
    a = estimate_hosts(connect(table), CensusQuery(by=("country",)), "sightings")
    b = estimate_hosts(connect(shuffled), CensusQuery(by=("country",)), "sightings")
    assert a.equals(b)


def test_estimates_read_the_relation_they_are_given_and_nothing_else() -> None:
    """On a connection that holds nothing but the sightings, under another name, the
    estimates are the same: no estimator reads a table of its own choosing (a `sightings`,
    `truth` or `hosts` table would not be there)."""
    table = two_countries()
    query = CensusQuery(by=("country",))
    expected = estimate_hosts(connect(table), query, "sightings")
    bare = duckdb.connect()
    bare.execute("SET TimeZone = 'UTC'")
    bare.register("observed_20110316", table)
    assert estimate_hosts(bare, query, "observed_20110316").equals(expected)
    tables = bare.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    views = bare.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert tables == []  # the estimators' temporary tables and views are dropped again
    assert views == [("observed_20110316",)]


def test_estimators_never_import_the_simulator() -> None:
    """The truth lives in botcensus.simulate; no estimator module may reach it."""
    paths = sorted(Path(hosts_package.__file__).parent.glob("*.py"))
    assert len(paths) >= 12, paths  # the face and its eleven modules
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.startswith("botcensus.simulate") for n in names), path.name


@pytest.mark.parametrize("by", [(), ("country",), ("asn",)])
def test_with_estimates_appends_columns_to_census_rows_in_order(by: tuple[str, ...]) -> None:
    con = connect(two_countries())
    query = CensusQuery(by=by)
    rows = with_change(con, census(con, query, "sightings"), by)
    out = with_estimates(con, rows, query, "sightings")
    assert out.column_names == [*rows.column_names, *ESTIMATE_COLUMNS]
    assert out.select(rows.column_names).equals(rows)
    assert out["hosts_est"].null_count == 0


def test_with_estimates_leaves_null_where_nothing_is_estimated() -> None:
    con = connect(two_countries())
    query = CensusQuery(by=("family",), include_unclaimed=True)
    rows = census(con, query, "sightings").filter(
        pc.is_valid(census(con, query, "sightings")["family"])
    )
    extra = pa.table({"window_start": [START], "family": ["elsewhere"]})
    rows = pa.concat_tables([rows.select(["window_start", "family"]), extra])
    out = with_estimates(con, rows, query, "sightings")
    assert out["hosts_est"].to_pylist()[-1] is None
