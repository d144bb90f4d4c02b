"""The census against answers computed by hand on small sighting tables."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from botcensus.measure import CensusQuery, census, compare, with_change
from botcensus.measure.census import window_start_sql
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import connect


def _sightings(
    rows: list[tuple[str, str, str | None, str | None, str | None, int, int]],
) -> pa.Table:
    """rows: (day, ip, bot_id, family, country, asn, hits)."""
    cols: dict[str, list[object]] = {f.name: [] for f in SIGHTING_SCHEMA}
    for day, ip, bot_id, family, cc, asn, hits in rows:
        d = date.fromisoformat(day)
        t = datetime(d.year, d.month, d.day, 12, tzinfo=UTC)
        values = {
            "day": d, "source_ip": ip, "bot_id": bot_id, "malware_family": family,
            "sensor": "s1", "feed_name": "botcensus-sinkhole", "first_seen": t, "last_seen": t,
            "hits": hits, "source_cc": cc, "source_asn": asn,
            "source_as_name": None, "geo_db": None,
        }  # fmt: skip
        for name in cols:
            cols[name].append(values.get(name))
    return pa.table(cols, schema=SIGHTING_SCHEMA)


# 2011-03-20 is a Sunday, 2011-03-26 a Saturday: one week ending Saturday.
ROWS = [
    ("2011-03-20", "1.1.1.1", None, "rustock", "US", 1, 10),
    ("2011-03-21", "1.1.1.1", None, "rustock", "US", 1, 5),
    ("2011-03-21", "2.2.2.2", None, "rustock", "IN", 2, 1),
    ("2011-03-26", "3.3.3.3", None, "rustock", "IN", 2, 2),
    ("2011-03-27", "3.3.3.3", None, "rustock", "IN", 2, 4),  # next week
    ("2011-03-27", "4.4.4.4", "bot-a", "examplebot", "TR", 3, 7),
    ("2011-03-27", "5.5.5.5", "bot-a", "examplebot", "TR", 3, 1),  # same bot, new address
    ("2011-03-21", "9.9.9.9", None, None, "US", 1, 100),  # unclaimed: a scanner
]


def _run(
    query: CensusQuery,
    rows: list[tuple[str, str, str | None, str | None, str | None, int, int]] = ROWS,
) -> list[dict[str, object]]:
    con = connect()
    con.register("s", _sightings(rows))
    return census(con, query, "s").to_pylist()


def test_weekly_unique_ips_and_hits_ending_saturday() -> None:
    rows = _run(CensusQuery(window="week", week_ends="sat"))
    assert [(r["window_start"], r["window_end"], r["unique_ip"], r["hits"]) for r in rows] == [
        (date(2011, 3, 20), date(2011, 3, 26), 3, 18),
        (date(2011, 3, 27), date(2011, 4, 2), 3, 12),
    ]


def test_an_address_seen_on_several_days_of_a_week_counts_once() -> None:
    rows = _run(CensusQuery(window="week", family="rustock"))
    assert rows[0]["unique_ip"] == 3


def test_daily_windows() -> None:
    rows = _run(CensusQuery(window="day", family="rustock"))
    assert [(r["window_start"], r["unique_ip"]) for r in rows] == [
        (date(2011, 3, 20), 1),
        (date(2011, 3, 21), 2),
        (date(2011, 3, 26), 1),
        (date(2011, 3, 27), 1),
    ]
    assert all(r["window_start"] == r["window_end"] for r in rows)


@pytest.mark.parametrize(
    ("week_ends", "start"),
    [("sat", date(2011, 3, 20)), ("sun", date(2011, 3, 14)), ("fri", date(2011, 3, 19))],
)
def test_week_end_day_moves_the_window(week_ends: str, start: date) -> None:
    """The first sighting is on Sunday 2011-03-20; its week starts the day after `week_ends`."""
    first = _run(CensusQuery(window="week", week_ends=week_ends))[0]
    assert first["window_start"] == start
    assert (first["window_end"] - first["window_start"]).days == 6
    assert first["window_end"].strftime("%a").lower() == week_ends


def test_unique_bot_ids_are_a_separate_unit_from_unique_ips() -> None:
    rows = _run(CensusQuery(window="week", family="examplebot"))
    assert rows == [
        {"window_start": date(2011, 3, 27), "window_end": date(2011, 4, 2),
         "unique_ip": 2, "unique_bot_id": 1, "hits": 8}
    ]  # fmt: skip


def test_group_by_country() -> None:
    rows = _run(CensusQuery(window="week", by=("country",)))
    first = {r["country"]: r["unique_ip"] for r in rows if r["window_start"] == date(2011, 3, 20)}
    assert first == {"US": 1, "IN": 2}


def test_unclaimed_requests_are_left_out_unless_asked() -> None:
    claimed = _run(CensusQuery(window="week"))
    everything = _run(CensusQuery(window="week", include_unclaimed=True))
    assert everything[0]["unique_ip"] == claimed[0]["unique_ip"] + 1


def test_date_range_is_inclusive() -> None:
    rows = _run(CensusQuery(window="day", date_from=date(2011, 3, 21), date_to=date(2011, 3, 26)))
    assert [r["window_start"] for r in rows] == [date(2011, 3, 21), date(2011, 3, 26)]


def test_unknown_group_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cannot group by 'city'"):
        _run(CensusQuery(by=("city",)))


def test_change_between_windows_and_rank() -> None:
    con = connect()
    con.register("s", _sightings(ROWS))
    counts = census(con, CensusQuery(window="week", by=("country",)), "s")
    rows = with_change(con, counts, ("country",)).to_pylist()
    india = [r for r in rows if r["country"] == "IN"]
    assert india[0]["unique_ip_change"] is None
    assert india[1]["unique_ip_change"] == pytest.approx(1 / 2 - 1)
    assert india[0]["rank"] == 1  # IN had 2 addresses, US 1, in the first week


def test_compare_first_and_last_window() -> None:
    con = connect()
    con.register("s", _sightings(ROWS))
    counts = census(con, CensusQuery(window="week", by=("country",)), "s")
    table = compare(con, counts, "country", date(2011, 3, 20), date(2011, 3, 27))
    got = {r["country"]: (r["unique_ip_first"], r["unique_ip_last"]) for r in table.to_pylist()}
    assert got == {"IN": (2, 1), "TR": (None, 2), "US": (1, None)}


def test_week_start_sql_is_monday_based_iso() -> None:
    assert "isodow" in window_start_sql(CensusQuery(window="week"))
    assert window_start_sql(CensusQuery(window="day")) == "day"
