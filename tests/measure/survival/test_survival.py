"""Kaplan–Meier against hand-computed curves and lifelines; the 'not seen is not cleaned'
rule on hand-built sightings."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from lifelines import KaplanMeierFitter

from botcensus.measure.survival import SilenceRule, outage_days, survival_rows
from botcensus.measure.survival.curves import (
    curves_by_group,
    durations,
    kaplan_meier,
    median_time,
    survival_at,
    survival_summary,
)

D0 = dt.date(2011, 3, 16)


def test_km_matches_a_hand_computed_curve() -> None:
    # t=1: 6 at risk, 1 event -> 5/6; t=2: 5 at risk, 1 event, 1 censored -> 2/3;
    # t=3: 3 at risk, 1 event -> 4/9; t=4: 1 censored; t=5: 1 at risk, 1 event -> 0.
    curve = kaplan_meier([1, 2, 2, 3, 4, 5], [True, True, False, True, False, True])
    assert curve["at_risk"].to_pylist() == [6, 5, 3, 2, 1]
    assert curve["events"].to_pylist() == [1, 1, 1, 0, 1]
    assert curve["censored"].to_pylist() == [0, 1, 0, 1, 0]
    assert curve["survival"].to_pylist() == pytest.approx([5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0])


def test_km_with_late_entry_matches_a_hand_computed_curve() -> None:
    # The third subject enters at 2: at risk at 3 and 4 only.
    curve = kaplan_meier([1, 3, 4, 5], [True] * 4, entry=[0, 0, 2, 0])
    assert curve["at_risk"].to_pylist() == [3, 3, 2, 1]
    assert curve["survival"].to_pylist() == pytest.approx([2 / 3, 4 / 9, 2 / 9, 0.0])


def test_km_agrees_with_lifelines_including_the_interval() -> None:
    rng = np.random.default_rng(3)
    t = np.ceil(rng.exponential(20, 300))
    e = rng.random(300) < 0.7
    ours = kaplan_meier(t, e)
    kmf = KaplanMeierFitter().fit(t, e)
    theirs = kmf.survival_function_.loc[ours["time"].to_numpy()].to_numpy().ravel()
    assert ours["survival"].to_numpy() == pytest.approx(theirs)
    ci = kmf.confidence_interval_survival_function_.loc[ours["time"].to_numpy()].to_numpy()
    assert ours["lower"].to_numpy() == pytest.approx(ci[:, 0], abs=1e-9)
    assert ours["upper"].to_numpy() == pytest.approx(ci[:, 1], abs=1e-9)


def test_km_refuses_exits_before_entry() -> None:
    with pytest.raises(ValueError, match="enter before"):
        kaplan_meier([1, 2], [True, True], entry=[0, 2])


def test_median_and_survival_at_read_the_curve() -> None:
    curve = kaplan_meier([1, 2, 2, 3, 4, 5], [True, True, False, True, False, True])
    assert median_time(curve)[0] == 3.0
    assert survival_at(curve, 0.5) == 1.0
    assert survival_at(curve, 2.5) == pytest.approx(2 / 3)
    assert survival_at(curve, 5.0) == pytest.approx(0.0)
    assert survival_at(curve, 5.5) is None  # past the follow-up: unknown, not the last value


def _sightings(seen: dict[str, tuple[int, list[int]]], ids: tuple[str, ...] = ()) -> pa.Table:
    """identity -> (asn, days seen, as offsets from D0); `ids` are bot ids (from 10.0.0.1),
    the others addresses."""
    rows = []
    for ip, (asn, days) in seen.items():
        for d in days:
            day = D0 + dt.timedelta(days=d)
            rows.append(
                {
                    "day": day,
                    "source_ip": "10.0.0.1" if ip in ids else ip,
                    "bot_id": ip if ip in ids else None,
                    "malware_family": "rustock",
                    "first_seen": dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC),
                    "source_asn": asn,
                    "source_cc": "US",
                }
            )
    return pa.Table.from_pylist(rows)


SEEN = {
    "a": (1, list(range(0, 19, 2))),  # nine return gaps of 1; last seen day 18
    "b": (1, [0, 3, 6]),  # two return gaps of 2, then silent 13 days
    "c": (1, list(range(20))),  # seen to the end
    "e": (1, list(range(17))),  # silent for the last 3 days
    "f": (2, list(range(11))),  # a small ASN without return gaps: the global threshold
}
RULE = SilenceRule(quantile=0.99, min_gaps=5, floor=2)


def _rows(outages: list[dt.date] | None = None) -> tuple[dict[str, dict[str, object]], pa.Table]:
    con = duckdb.connect()
    con.register("s", _sightings(SEEN))
    rows, thresholds = survival_rows(
        con, "s", first=D0, last=D0 + dt.timedelta(days=19), outages=outages or [], rule=RULE
    )
    return {r["identity"]: r for r in rows.to_pylist()}, thresholds


def test_threshold_is_the_asns_return_gap_quantile() -> None:
    _, thresholds = _rows()
    by_asn = {r["asn"]: r for r in thresholds.to_pylist()}
    assert by_asn[1]["gaps"] == 11
    assert by_asn[1]["threshold"] == 2
    assert by_asn[1]["fallback"] is False


def test_small_asn_falls_back_to_the_global_threshold() -> None:
    rows, thresholds = _rows()
    glob = next(r for r in thresholds.to_pylist() if r["asn"] is None)
    assert rows["f"]["threshold"] == glob["threshold"] == 2
    assert rows["f"]["cleaned"] is True


@pytest.mark.parametrize(
    ("identity", "silence", "cleaned"),
    [("a", 1, False), ("b", 13, True), ("c", 0, False), ("e", 3, True)],
)
def test_cleaned_only_after_a_silence_longer_than_the_threshold(
    identity: str, silence: int, cleaned: bool
) -> None:
    rows, _ = _rows()
    assert rows[identity]["silence"] == silence
    assert rows[identity]["cleaned"] is cleaned


def test_outage_days_do_not_count_as_silence() -> None:
    outages = [D0 + dt.timedelta(days=d) for d in (17, 18, 19)]
    rows, _ = _rows(outages)
    assert rows["e"]["silence"] == 0
    assert rows["e"]["cleaned"] is False


def test_floor_keeps_short_silences_censored() -> None:
    con = duckdb.connect()
    con.register("s", _sightings({"x": (1, [0, 1, 2, 3]), "y": (1, [0, 1, 2])}))
    rows, _ = survival_rows(con, "s", first=D0, last=D0 + dt.timedelta(days=3), outages=[])
    assert {r["identity"]: r["cleaned"] for r in rows.to_pylist()} == {"x": False, "y": False}


def test_a_return_after_a_silence_longer_than_the_threshold_ends_the_first_infection() -> None:
    # ASN 1's return gaps: nine of 1 ("a"), one of 2 ("s"), two of 8 ("r", "10.9.9.9"): the
    # 0.8 quantile is 2. The same silence of 8 at the end of the data would be a clean-up,
    # so in the middle it is one too, and the bot id's return is a reinfection (a bot keeps
    # an id it derives from the machine), not the first infection going on. An address that
    # comes back may be another line's: not read so.
    seen = {
        "a": (1, list(range(0, 19, 2))),
        "s": (1, [0, *range(3, 20)]),
        "r": (1, [0, 1, 2, 3, *range(12, 20)]),
        "10.9.9.9": (1, [0, 1, 2, 3, *range(12, 20)]),
    }
    con = duckdb.connect()
    con.register("s", _sightings(seen, ids=("a", "s", "r")))
    rule = SilenceRule(quantile=0.8, min_gaps=5, floor=2)
    table, thresholds = survival_rows(
        con, "s", first=D0, last=D0 + dt.timedelta(days=19), outages=[], rule=rule
    )
    assert {r["asn"]: r["threshold"] for r in thresholds.to_pylist()}[1] == 2
    rows = {r["identity"]: r for r in table.to_pylist()}
    r = rows["r"]
    assert (r["cleaned"], r["returned"], r["silence"]) == (True, True, 8)
    assert (r["last_day"], r["days_seen"]) == (D0 + dt.timedelta(days=3), 4)
    assert (rows["s"]["cleaned"], rows["s"]["returned"]) == (False, False)
    address = rows["10.9.9.9"]
    assert (address["cleaned"], address["returned"]) == (False, False)
    assert address["last_day"] == D0 + dt.timedelta(days=19)
    dur, event, _ = durations(table, D0)
    i = table["identity"].to_pylist().index("r")
    assert (dur[i], bool(event[i])) == (4.0, True)


def test_outages_are_detected_from_a_dip_or_a_missing_day() -> None:
    totals = {D0 + dt.timedelta(days=d): 100 for d in range(10)}
    totals[D0 + dt.timedelta(days=4)] = 30
    del totals[D0 + dt.timedelta(days=7)]
    found = outage_days(totals, D0, D0 + dt.timedelta(days=9), 0.5)
    assert found == [D0 + dt.timedelta(days=4), D0 + dt.timedelta(days=7)]


def test_durations_run_from_first_to_the_end_of_last_day() -> None:
    rows, _ = _rows()
    con = duckdb.connect()
    con.register("s", _sightings(SEEN))
    table, _ = survival_rows(con, "s", first=D0, last=D0 + dt.timedelta(days=19), outages=[])
    dur, event, entry = durations(table, D0)
    b = table["identity"].to_pylist().index("b")
    assert (dur[b], bool(event[b]), entry[b]) == (7.0, True, 0.0)
    assert rows["b"]["last_day"] == D0 + dt.timedelta(days=6)


def test_curves_and_summary_per_group() -> None:
    con = duckdb.connect()
    con.register("s", _sightings(SEEN))
    table, _ = survival_rows(
        con, "s", first=D0, last=D0 + dt.timedelta(days=19), outages=[], rule=RULE
    )
    curves = curves_by_group(table, D0, "asn", min_size=1)
    summary = {r["group"]: r for r in survival_summary(curves, days=(7,)).to_pylist()}
    assert summary["1"]["identities"] == 4
    assert summary["1"]["cleaned"] == 2
    assert summary["1"]["surviving_7d"] == pytest.approx(0.75)
    assert summary["2"]["identities"] == 1


def test_the_horizon_is_the_last_up_day_a_clean_up_could_still_be_called_on() -> None:
    """Threshold 2 over days 0-19: a last sighting on day 16 is followed by 3 silent
    up-days (called), one on day 17 by 2 (not called). With days 17 and 18 down, the
    up-days are 0-16 and 19: a last sighting on day 15 is followed by 16 and 19 (2, not
    called), so the last day a clean-up can still be called on is day 14. Counted back
    from its last sighting in calendar days (threshold - silence + 1), an identity seen on
    day 19 (silence 0) stayed at risk to the end of day 16, two days past it."""
    rows, _ = _rows()
    assert rows["c"]["horizon"] == D0 + dt.timedelta(days=16)
    down = [D0 + dt.timedelta(days=17), D0 + dt.timedelta(days=18)]
    rows, _ = _rows(down)
    assert rows["c"]["horizon"] == D0 + dt.timedelta(days=14)
    con = duckdb.connect()
    con.register("s", _sightings(SEEN))
    table, _ = survival_rows(
        con, "s", first=D0, last=D0 + dt.timedelta(days=19), outages=down, rule=RULE
    )
    stop, cleaned, _ = durations(table, D0)
    by_identity = dict(zip(table["identity"].to_pylist(), stop.tolist(), strict=True))
    assert rows["c"]["cleaned"] is False
    assert by_identity["c"] == 15.0  # the end of day 14
    assert max(s for s, c in zip(stop, cleaned, strict=True) if c) <= 15.0


def test_a_threshold_as_long_as_the_data_leaves_no_horizon_inside_it() -> None:
    con = duckdb.connect()
    con.register("s", _sightings({"c": (1, list(range(3)))}))
    rule = SilenceRule(quantile=0.99, min_gaps=5, floor=5)
    table, _ = survival_rows(
        con, "s", first=D0, last=D0 + dt.timedelta(days=2), outages=[], rule=rule
    )
    assert table["horizon"].to_pylist() == [D0 - dt.timedelta(days=1)]
    stop, _, entry = durations(table, D0)
    assert stop[0] <= entry[0]  # no time at risk: left out of the curves


def test_the_curve_ends_at_its_last_time_with_enough_at_risk() -> None:
    """The thirty-ninth held-out set (c-office over 35 days with ids): 468 identities
    followed to day 31, then 3 to day 32, all three silent. The curve read 0 at day 32, the
    median 32 days [32, 32], and the decay going on from that end 0 after 56 days."""
    from botcensus.measure.survival.curves import MIN_AT_RISK, _cut_tail

    durations = [2.0] * 10 + [5.0] * 40 + [6.0] * 3
    events = [True] * 10 + [False] * 40 + [True] * 3
    whole = kaplan_meier(durations, events)
    assert whole["survival"].to_pylist()[-1] == 0.0  # the tail the cut is for
    curve = _cut_tail(whole)
    assert curve["time"].to_pylist() == [2.0, 5.0]
    assert min(curve["at_risk"].to_pylist()) >= MIN_AT_RISK
    summary = survival_summary(curve.add_column(0, "group", pa.array([None, None], pa.string())),
                               days=(7,)).to_pylist()[0]  # fmt: skip
    assert summary["followed_days"] == 5.0
    assert summary["identities"] == 53  # the 3 past the end: censored there, still counted
    assert summary["silent"] == 10
    assert summary["surviving_end"] == pytest.approx(43 / 53)
    assert summary["surviving_7d"] is None  # past the curve: the decay's day
    assert summary["median_days"] is None  # not reached, rather than day 6
    # curves_by_group cuts it: the same identities as survival rows (exit at the end of the
    # last day seen)
    last = [D0 + dt.timedelta(days=int(d) - 1) for d in durations]
    rows = pa.table({"first_day": [D0] * len(last), "last_day": last, "cleaned": events})
    cut = curves_by_group(rows, D0, None)
    assert cut["time"].to_pylist() == [2.0, 5.0]
    assert cut["survival"].to_pylist()[-1] == pytest.approx(43 / 53)
    # late entry: few at risk early is not a tail; the curve keeps its start
    early = kaplan_meier([1.0, 2.0, *[9.0] * 30], [True, True, *[False] * 30],
                         [0.0, 0.0, *[1.5] * 30])  # fmt: skip
    assert early["at_risk"].to_pylist() == [2, 31, 30]
    assert _cut_tail(early).num_rows == 3
    # never 10 at risk at once (short, staggered follow-ups): the curve ends at its most
    staggered = kaplan_meier(
        [d + 3.0 for d in range(30)], [True] * 30, [float(d) for d in range(30)]
    )
    assert max(staggered["at_risk"].to_pylist()) < MIN_AT_RISK
    kept = _cut_tail(staggered)
    assert kept.num_rows > 0
    assert kept["at_risk"].to_pylist()[-1] == max(staggered["at_risk"].to_pylist())
    assert sum(kept["events"].to_pylist()) + sum(kept["censored"].to_pylist()) == 30
