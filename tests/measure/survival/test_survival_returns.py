"""A bot id seen again after a silence longer than its network's threshold: the machine was
cleaned and reinfected (the bot derives its id from the machine), and the share still
infected is of first infections. Read as one infection going on, the share reads too high;
that reading stays in the interval's upper end, since a machine switched off as long looks
the same."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from botcensus.measure.survival import survival_rows
from botcensus.measure.survival.curves import curves_by_group, one_infection, survival_at

D0 = dt.date(2011, 3, 17)
DAYS = 56


def _population(n: int, seed: int) -> tuple[pa.Table, np.ndarray]:
    """Bot ids seen on 80% of their infected days; cleaned at an exponential time (mean 60
    days), 15% of the cleaned reinfected 10-20 days later and seen to the end. Returns the
    sightings and each machine's first clean-up day (inf: not in the data)."""
    rng = np.random.default_rng(seed)
    cleaned = rng.exponential(60.0, n)
    again = (rng.random(n) < 0.15) & (cleaned < DAYS)
    back = cleaned + rng.uniform(10, 20, n)
    days, ids = [], []
    for i in range(n):
        infected = np.arange(DAYS)
        alive = (infected < cleaned[i]) | (again[i] & (infected >= back[i]))
        seen = infected[alive & (rng.random(DAYS) < 0.8)]
        days.extend(int(d) for d in seen)
        ids.extend([f"bot{i}"] * len(seen))
    day = [D0 + dt.timedelta(days=d) for d in days]
    table = pa.table(
        {
            "day": day,
            "source_ip": [f"10.0.0.{i % 200}" for i in range(len(day))],
            "bot_id": ids,
            "malware_family": ["rustock"] * len(day),
            "first_seen": [dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC) for d in day],
            "source_asn": pa.array([64500] * len(day), pa.int64()),
            "source_cc": ["ZZ"] * len(day),
        }
    )
    return table, cleaned


def test_a_return_after_a_long_silence_is_a_reinfection_not_the_first_infection() -> None:
    sightings, cleaned = _population(3000, seed=5)
    con = duckdb.connect()
    con.register("s", sightings)
    rows, _ = survival_rows(con, "s", first=D0, last=D0 + dt.timedelta(days=DAYS - 1), outages=[])
    assert sum(bool(v) for v in rows["returned"].to_pylist()) > 100
    curve = curves_by_group(rows, D0, None)
    naive = curves_by_group(one_infection(rows), D0, None)
    true = float(np.mean(cleaned > 28))
    first, ongoing = survival_at(curve, 28), survival_at(naive, 28)
    assert first is not None
    assert ongoing is not None
    assert first == pytest.approx(true, abs=0.02)
    assert ongoing > true + 0.04  # the old reading: reinfected ids as still infected
    lower, upper = survival_at(curve, 28, "lower"), survival_at(curve, 28, "upper")
    naive_upper = survival_at(naive, 28, "upper")
    assert lower is not None
    assert upper is not None
    assert naive_upper is not None
    assert lower <= true <= upper
    assert upper >= naive_upper


def test_cleanup_says_how_many_bot_ids_came_back() -> None:
    from botcensus.measure.cleanup.run import _returned_note

    sightings, _ = _population(600, seed=8)
    con = duckdb.connect()
    con.register("s", sightings)
    rows, _ = survival_rows(con, "s", first=D0, last=D0 + dt.timedelta(days=DAYS - 1))
    returned = sum(bool(v) for v in rows["returned"].to_pylist())
    assert returned > 0
    note = _returned_note(rows)
    assert note is not None
    assert note.startswith(f"survival: {returned:,} bot ids were seen again after a silence")
    kept = rows.filter(pa.array([not v for v in rows["returned"].to_pylist()]))
    assert _returned_note(kept) is None
