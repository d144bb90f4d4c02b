"""The two ways to get daily sightings agree exactly: enumerated check-ins rolled up, and direct."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from botcensus.model import SIGHTING_SCHEMA, SINKHOLE_FEED_NAME
from botcensus.simulate import CHECKIN_SCHEMA, Scenario, Simulation, simulate

DAY_US = 86_400_000_000


def roll_up(checkins: pa.Table) -> pa.Table:
    """Check-ins grouped by (UTC day, source_ip, family): first, last and count of times.
    Noise check-ins (family '') are what no decoder claims: null, as the sinkhole records them."""
    day = pc.cast(pc.divide(checkins["time_us"], DAY_US), pa.int32()).cast(pa.date32())
    family = checkins["family"]
    unclaimed = pc.if_else(pc.equal(family, ""), pa.scalar(None, pa.string()), family)
    checkins = checkins.set_column(checkins.schema.get_field_index("family"), "family", unclaimed)
    grouped = (
        checkins.append_column("day", day)
        .group_by(["day", "source_ip", "family"])
        .aggregate([("time_us", "min"), ("time_us", "max"), ("time_us", "count")])
    )
    return grouped.rename_columns(["day", "source_ip", "family", "first", "last", "hits"])


def direct(sim: Simulation) -> pa.Table:
    t = pa.Table.from_batches(list(sim.sightings()), schema=SIGHTING_SCHEMA)
    return pa.table(
        {
            "day": t["day"],
            "source_ip": t["source_ip"],
            "family": t["malware_family"],
            "first": t["first_seen"].cast(pa.int64()),
            "last": t["last_seen"].cast(pa.int64()),
            "hits": t["hits"],
        }
    )


def rows(t: pa.Table) -> list[dict[str, object]]:
    order = [("day", "ascending"), ("source_ip", "ascending"), ("family", "ascending")]
    return (
        t.sort_by(order).select(["day", "source_ip", "family", "first", "last", "hits"]).to_pylist()
    )


@pytest.mark.parametrize(
    ("seed", "start", "end"),
    [
        (1, dt.date(2011, 3, 16), dt.date(2011, 3, 19)),
        (2, dt.date(2011, 3, 16), dt.date(2011, 3, 19)),
        (3, dt.date(2011, 4, 10), dt.date(2011, 4, 13)),  # across the clean-up pulse
        (4, dt.date(2011, 5, 28), dt.date(2011, 5, 30)),  # reinfections under way
    ],
)
def test_rolled_up_checkins_equal_direct_sightings(
    rustock: Scenario, space: pa.Table, seed: int, start: dt.date, end: dt.date
) -> None:
    sim = simulate(rustock, address_space=space, scale=0.002, seed=seed, start=start, end=end)
    enumerated = pa.Table.from_batches(list(sim.checkins()), schema=CHECKIN_SCHEMA)
    assert enumerated.num_rows > 10_000
    assert rows(roll_up(enumerated)) == rows(direct(sim))


def test_checkins_come_in_time_order_in_bounded_batches(first_week: Simulation) -> None:
    batches = list(first_week.checkins(chunk_rows=5_000))
    assert all(b.num_rows <= 5_000 for b in batches)
    assert all(b.schema == CHECKIN_SCHEMA for b in batches)
    times = np.concatenate([b["time_us"].to_numpy() for b in batches])
    assert (np.diff(times) >= 0).all()
    lo = (first_week.start - dt.date(1970, 1, 1)).days * DAY_US
    hi = ((first_week.end - dt.date(1970, 1, 1)).days + 1) * DAY_US
    assert lo <= times[0]
    assert times[-1] < hi


def test_bot_checkins_look_like_rustock_and_noise_does_not(first_week: Simulation) -> None:
    t = pa.Table.from_batches(list(first_week.checkins()))
    bots = t.filter(pc.equal(t["family"], "rustock"))
    noise = t.filter(pc.equal(t["family"], ""))
    assert set(bots["path"].to_pylist()) == {"/login.php"}
    assert set(bots["user_agent"].to_pylist()) == {first_week.scenario.checkin.user_agent}
    assert noise.num_rows > 0
    assert not any(p.endswith("login.php") for p in noise["path"].unique().to_pylist())


def test_sightings_follow_the_schema_with_enrichment_left_null(first_week: Simulation) -> None:
    batches = list(first_week.sightings(sensor="sim-7"))
    assert len(batches) == 7
    t = pa.Table.from_batches(batches)
    assert t.schema == SIGHTING_SCHEMA
    assert set(t["sensor"].to_pylist()) == {"sim-7"}
    assert set(t["feed_name"].to_pylist()) == {SINKHOLE_FEED_NAME}
    for column in ("bot_id", "source_cc", "source_asn", "source_as_name", "geo_db"):
        assert t[column].null_count == t.num_rows
    assert pc.all(pc.less_equal(t["first_seen"], t["last_seen"])).as_py()
    assert pc.min(t["hits"]).as_py() >= 1


def test_one_batch_per_day_in_day_order(first_week: Simulation) -> None:
    days = [b["day"][0].as_py() for b in first_week.sightings()]
    assert days == [first_week.start + dt.timedelta(days=i) for i in range(7)]
