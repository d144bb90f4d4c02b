"""An AS name always belongs to the ASN it is shown with, wherever rows of one host that
different geo databases enriched are merged (issue 11: 15169 came out with the name of
AS396982)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from botcensus.model import SIGHTING_SCHEMA
from botcensus.notify.hosts import host_rows
from botcensus.store import as_name_of_asn, connect, write_sightings

ROWS = [
    # (group, asn, name): two databases disagree on the network of group 1
    (1, 15169, "GOOGLE"), (1, 396982, "GOOGLE-PRIVATE-CLOUD"), (1, None, "ZZZ-NO-NUMBER"),
    (2, None, "X-ONLY-NAMES"), (2, None, "A-ONLY-NAMES"),
    (3, 5, "B"), (3, 5, "A"), (3, 5, None),
    (4, 7, None), (4, 3, "THREE"),
    (5, None, None),
]  # fmt: skip

SEEN = datetime(2011, 3, 20, 6, tzinfo=UTC)


def _pairs() -> dict[int, tuple[int | None, str | None]]:
    con = connect()
    table = pa.table(
        {"g": [r[0] for r in ROWS], "source_asn": pa.array([r[1] for r in ROWS], pa.int64()),
         "source_as_name": pa.array([r[2] for r in ROWS], pa.string())}
    )  # fmt: skip
    con.register("t", table)
    got = con.sql(
        f"SELECT g, max(source_asn), {as_name_of_asn()} FROM t GROUP BY g ORDER BY g"  # noqa: S608
    ).fetchall()
    return {g: (asn, name) for g, asn, name in got}


def test_the_name_is_the_greatest_asns_own_or_none() -> None:
    assert _pairs() == {
        1: (396982, "GOOGLE-PRIVATE-CLOUD"),  # not max(name) = "ZZZ-NO-NUMBER"
        2: (None, "X-ONLY-NAMES"),  # no number at all: the greatest name, as before
        3: (5, "B"),  # two databases name AS5 differently: one of its own names, stably
        4: (7, None),  # AS7 came without a name: no name, not AS3's "THREE"
        5: (None, None),
    }


def test_a_notification_row_pairs_number_and_name(tmp_path: Path) -> None:
    day = date(2011, 3, 20)
    base = {
        "day": day, "source_ip": "192.0.2.7", "bot_id": None, "malware_family": "rustock",
        "sensor": "s1", "first_seen": SEEN, "last_seen": SEEN, "hits": 1, "source_cc": "US",
    }  # fmt: skip
    rows = [
        {**base, "feed_name": "feed-a", "source_asn": 15169, "source_as_name": "GOOGLE",
         "geo_db": "db-2011-03-01"},
        {**base, "feed_name": "feed-b", "source_asn": 396982,
         "source_as_name": "GOOGLE-PRIVATE-CLOUD", "geo_db": "db-2011-03-15"},
        {**base, "feed_name": "feed-c", "source_asn": 1, "source_as_name": "ZZZ-LEVEL3",
         "geo_db": "db-2011-02-01"},
    ]  # fmt: skip
    write_sightings(pa.Table.from_pylist(rows, schema=SIGHTING_SCHEMA), tmp_path, "test")
    (row,) = host_rows(tmp_path, day, day).to_pylist()
    assert (row["source_asn"], row["source_as_name"]) == (396982, "GOOGLE-PRIVATE-CLOUD")
