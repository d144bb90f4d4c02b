"""Chapman capture–recapture: a hand-computed example, edge cases, strata from sightings."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pyarrow as pa
import pytest

from botcensus.measure.recapture import ASSUMPTIONS, chapman, recapture


def test_chapman_matches_the_hand_computed_example() -> None:
    # n1 = 60, n2 = 50, m = 20:  N = 61·51/21 − 1,  Var = 61·51·40·30 / (21²·22)
    est = chapman(60, 50, 20)
    assert est.estimate == pytest.approx(3111 / 21 - 1)
    assert est.variance == pytest.approx(61 * 51 * 40 * 30 / (21**2 * 22))
    assert est.seen == 90


def test_interval_contains_the_estimate_and_never_falls_below_the_seen() -> None:
    est = chapman(60, 50, 20)
    assert est.seen < est.lower < est.estimate < est.upper


def test_no_overlap_still_gives_a_finite_estimate() -> None:
    est = chapman(10, 10, 0)
    assert est.estimate == pytest.approx(120.0)
    assert math.isfinite(est.upper)


def test_complete_overlap_has_no_unseen_part() -> None:
    est = chapman(30, 30, 30)
    assert est.estimate == pytest.approx(30.0)
    assert est.variance == 0.0
    assert est.lower == est.upper == est.estimate


@pytest.mark.parametrize(("n1", "n2", "m"), [(5, 5, 6), (-1, 3, 0)])
def test_impossible_counts_are_refused(n1: int, n2: int, m: int) -> None:
    with pytest.raises(ValueError, match="m <="):
        chapman(n1, n2, m)


def _row(ip: str, feed: str, cc: str) -> dict[str, object]:
    day = dt.date(2011, 3, 16)
    return {
        "day": day,
        "source_ip": ip,
        "feed_name": feed,
        "source_cc": cc,
        "malware_family": "rustock",
    }


def _sightings() -> pa.Table:
    rows = [_row(f"192.0.2.{i}", "sinkhole", "US") for i in (1, 2, 3, 4)]
    rows += [_row(f"192.0.2.{i}", "shadowserver", "US") for i in (3, 4, 5)]
    rows.append(_row("198.51.100.1", "sinkhole", "IN"))
    return pa.Table.from_pylist(rows)


def test_recapture_counts_each_stratum() -> None:
    con = duckdb.connect()
    con.register("s", _sightings())
    table = recapture(con, "s", source_a="sinkhole", source_b="shadowserver", by="country")
    rows = {r["stratum"]: r for r in table.to_pylist()}
    assert (rows["US"]["n1"], rows["US"]["n2"], rows["US"]["m"]) == (4, 3, 2)
    assert rows["US"]["unique_ip_estimate"] == pytest.approx(5 * 4 / 3 - 1)
    assert (rows["IN"]["n1"], rows["IN"]["n2"], rows["IN"]["m"]) == (1, 0, 0)


def test_recapture_states_its_assumptions() -> None:
    con = duckdb.connect()
    con.register("s", _sightings())
    table = recapture(con, "s", source_a="sinkhole", source_b="shadowserver")
    assert table.schema.metadata[b"assumptions"].decode() == "; ".join(ASSUMPTIONS)
    assert table.num_rows == 1


def test_recapture_refuses_unknown_strata() -> None:
    con = duckdb.connect()
    con.register("s", _sightings())
    with pytest.raises(ValueError, match="country or asn"):
        recapture(con, "s", source_a="a", source_b="b", by="family")
