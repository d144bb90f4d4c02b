"""The census counted by grouping (Dialect.grouped, what Spark runs) gives count(DISTINCT)'s
rows exactly: both forms run on DuckDB over the same sightings and are compared."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from botcensus.measure.census import (
    DUCKDB,
    KEY,
    SPARK,
    TEXT,
    Address,
    CensusQuery,
    census_sql,
    census_with_change_sql,
)
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import connect
from botcensus.store.sighting_key import as_sightings

GROUPED = replace(DUCKDB, grouped=True)
FIRST = date(2011, 3, 10)  # a Thursday: partial weeks at both ends
DAYS = 16


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """Sightings (with the address key computed from the text, as every writer does)."""
    for row in rows:
        seen = datetime(row["day"].year, row["day"].month, row["day"].day, 12, tzinfo=UTC)
        row.setdefault("sensor", "s1")
        row.setdefault("feed_name", "botcensus-sinkhole")
        row.setdefault("first_seen", seen)
        row.setdefault("last_seen", seen)
    names = [f.name for f in SIGHTING_SCHEMA if f.name not in KEY]
    cols = {name: [row.get(name) for row in rows] for name in names}
    schema = pa.schema([SIGHTING_SCHEMA.field(name) for name in names])
    return as_sightings(pa.table(cols, schema=schema))


def _random_rows(seed: int, n: int) -> list[dict[str, Any]]:
    """Few addresses and bot ids over many rows, so each repeats within a window and group:
    IPv4 and IPv6, a bot id on several addresses and an address with several bot ids (and
    none), null countries, ASNs and families, two feeds and two sensors."""
    rng = random.Random(seed)
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for _ in range(n):
        day = FIRST + timedelta(days=rng.randrange(DAYS))
        if rng.random() < 0.3:
            ip = f"2001:db8::{rng.randrange(1, 20):x}"
        else:
            ip = f"10.0.{rng.randrange(2)}.{rng.randrange(1, 20)}"
        bot = rng.choice([None, None, f"bot-{rng.randrange(40)}"])
        family = rng.choice(["rustock", "rustock", "conficker", None])
        sensor = rng.choice(["s1", "s2"])
        rows[(day, ip, bot, family, sensor)] = {
            "day": day, "source_ip": ip, "bot_id": bot, "malware_family": family,
            "sensor": sensor, "feed_name": rng.choice(["botcensus-sinkhole", "shadowserver"]),
            "hits": rng.randrange(1, 30), "source_cc": rng.choice(["US", "IN", "BR", None]),
            "source_asn": rng.choice([64500, 64501, None]),
        }  # fmt: skip
    return list(rows.values())


SIGHTINGS = _table(_random_rows(7, 4000))
QUERIES = {
    "week": CensusQuery(),
    "week-by-country": CensusQuery(by=("country",)),
    "day-by-asn": CensusQuery(window="day", by=("asn",)),
    "week-sun-by-family-unclaimed": CensusQuery(
        week_ends="sun", by=("family",), include_unclaimed=True
    ),
    "week-mon-by-feed-sensor": CensusQuery(week_ends="mon", by=("feed", "sensor")),
    "day-by-country-asn-one-family-feed-range": CensusQuery(
        window="day",
        by=("country", "asn"),
        family="rustock",
        feed="shadowserver",
        date_from=date(2011, 3, 12),
        date_to=date(2011, 3, 20),
    ),
}


def _rows(sql: str, params: dict[str, object], table: pa.Table) -> pa.Table:
    con = connect()
    con.register("s", table)
    return con.sql(sql, params=params).to_arrow_table()


def _both(query: CensusQuery, address: Address, table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The census by count(DISTINCT) and by grouping, in that order."""
    distinct = _rows(*census_sql(query, "s", DUCKDB, address=address), table)
    grouped = _rows(*census_sql(query, "s", GROUPED, address=address), table)
    return distinct, grouped


@pytest.mark.parametrize("address", [TEXT, KEY], ids=["text", "key"])
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_grouped_census_is_count_distincts(name: str, address: Address) -> None:
    distinct, grouped = _both(QUERIES[name], address, SIGHTINGS)
    assert distinct.num_rows >= 3
    assert grouped.schema == distinct.schema
    assert grouped.to_pylist() == distinct.to_pylist()


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_the_random_sightings_repeat_addresses_and_bot_ids(name: str) -> None:
    """Guards the test above: counting rows instead of distinct values would differ here."""
    distinct, _ = _both(QUERIES[name], TEXT, SIGHTINGS)
    sql, params = census_sql(QUERIES[name], "s", DUCKDB)
    counted = _rows(
        sql.replace("count(DISTINCT (source_ip))", "count(source_ip)").replace(
            "count(DISTINCT bot_id)", "count(bot_id)"
        ),
        params,
        SIGHTINGS,
    )
    pairs = zip(distinct.to_pylist(), counted.to_pylist(), strict=True)
    assert any(d["unique_ip"] < c["unique_ip"] for d, c in pairs)
    pairs = zip(distinct.to_pylist(), counted.to_pylist(), strict=True)
    assert any(0 < d["unique_bot_id"] < c["unique_bot_id"] for d, c in pairs)


@pytest.mark.parametrize("address", [TEXT, KEY], ids=["text", "key"])
def test_grouped_census_with_change_and_coverage_is_count_distincts(address: Address) -> None:
    query = CensusQuery(by=("country",))
    sql, params = census_with_change_sql(query, "s", DUCKDB, covered=True, address=address)
    distinct = _rows(sql, params, SIGHTINGS)
    sql, params = census_with_change_sql(query, "s", GROUPED, covered=True, address=address)
    assert _rows(sql, params, SIGHTINGS).to_pylist() == distinct.to_pylist()


@pytest.mark.parametrize("address", [TEXT, KEY], ids=["text", "key"])
def test_grouped_census_of_no_sightings_is_empty_with_the_same_columns(address: Address) -> None:
    distinct, grouped = _both(CensusQuery(by=("country",)), address, SIGHTINGS.slice(0, 0))
    assert grouped.num_rows == distinct.num_rows == 0
    assert grouped.schema == distinct.schema


# 2011-03-20 is a Sunday, 2011-03-26 a Saturday: one week ending Saturday.
HAND = [
    ("2011-03-20", "1.1.1.1", None, "US", 10),
    ("2011-03-21", "1.1.1.1", "bot-a", "US", 5),  # the same address again, now with a bot id
    ("2011-03-21", "1.1.1.1", "bot-b", "US", 1),  # and a second bot id
    ("2011-03-22", "2001:db8::1", "bot-a", "US", 2),  # bot-a again, on an IPv6 address
    ("2011-03-22", "2.2.2.2", None, None, 4),  # no country
    ("2011-03-23", "2.2.2.2", None, None, 3),
    ("2011-03-27", "2.2.2.2", "bot-c", None, 7),  # next week
]


@pytest.mark.parametrize("address", [TEXT, KEY], ids=["text", "key"])
def test_grouped_census_by_hand(address: Address) -> None:
    rows = [
        {"day": date.fromisoformat(d), "source_ip": ip, "bot_id": bot, "source_cc": cc,
         "hits": hits, "malware_family": "rustock"}
        for d, ip, bot, cc, hits in HAND
    ]  # fmt: skip
    sql, params = census_sql(CensusQuery(by=("country",)), "s", GROUPED, address=address)
    counted = _rows(sql, params, _table(rows))
    assert [
        (r["window_start"], r["country"], r["unique_ip"], r["unique_bot_id"], r["hits"])
        for r in counted.to_pylist()
    ] == [
        (date(2011, 3, 20), "US", 2, 2, 18),
        (date(2011, 3, 20), None, 1, 0, 7),
        (date(2011, 3, 27), None, 1, 1, 7),
    ]


def test_grouped_census_counts_an_address_only_when_all_its_columns_are_set() -> None:
    """As Spark's count(DISTINCT a, b) does (a file with the key has it on every row)."""
    rows = [
        {"day": date(2011, 3, 21), "source_ip": ip, "malware_family": "rustock", "hits": 1}
        for ip in ("1.1.1.1", "2.2.2.2")
    ]
    table = _table(rows)
    table = table.set_column(
        table.schema.get_field_index(KEY[0]), KEY[0], pa.array([None, 0], pa.int64())
    )
    sql, params = census_sql(CensusQuery(), "s", GROUPED, address=KEY)
    assert [(r["unique_ip"], r["hits"]) for r in _rows(sql, params, table).to_pylist()] == [(1, 2)]


def test_spark_counts_by_grouping_on_rows_partitioned_by_window_and_group() -> None:
    sql, _ = census_sql(CensusQuery(by=("country", "asn")), "s", SPARK)
    assert SPARK.grouped
    assert "/*+ REPARTITION(window_start, country, asn) */" in sql
    assert "count(DISTINCT" not in sql
    assert not DUCKDB.grouped
    assert "REPARTITION" not in census_sql(CensusQuery(by=("country",)), "s", GROUPED)[0]
