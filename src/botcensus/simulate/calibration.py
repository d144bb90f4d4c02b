"""Checks a run against its scenario's targets, counting IPs in the sightings like a census."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.ipaddr import ipv4_to_int

from .scenario import Scenario, Target
from .truth import EPOCH, week_ending

HITS_CV = 3.0
"""Assumed coefficient of variation of hits per IP across IPs, for the sampling allowance."""


Lookup = tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.object_]]
Row = dict[str, list[object]]


def _country_of(space: pa.Table) -> Lookup:
    t = space.take(pc.sort_indices(space, [("start", "ascending")]))
    cc = np.asarray(pc.fill_null(t["cc"], "").to_pylist(), dtype=object)
    return t["start"].to_numpy(), t["end"].to_numpy(), cc


@dataclass
class _Week:
    ips: list[npt.NDArray[np.uint32]] = field(default_factory=list)
    hits: list[npt.NDArray[np.int64]] = field(default_factory=list)
    days: set[int] = field(default_factory=set)

    def rows(self, week: int, lookup: Lookup) -> Row:
        uniq, inverse = np.unique(np.concatenate(self.ips), return_inverse=True)
        hits = np.concatenate(self.hits)
        hits_u = np.bincount(inverse, weights=hits)
        starts, ends, ccs = lookup
        r = np.maximum(np.searchsorted(starts, uniq, side="right") - 1, 0)
        cc = np.where((uniq >= starts[r]) & (uniq <= ends[r]), ccs[r], "")
        names, which = np.unique(cc.astype(str), return_inverse=True)
        n = 1 + len(names)
        return {
            "week_ending": [EPOCH + dt.timedelta(days=week)] * n,
            "days": [len(self.days)] * n,
            "cc": [None, *(name or None for name in names.tolist())],
            "unique_ips": [len(uniq), *np.bincount(which, minlength=len(names)).tolist()],
            "hits": [
                int(hits.sum()),
                *np.bincount(which, weights=hits_u).astype(np.int64).tolist(),
            ],
        }


def weekly_census(
    sightings: Iterable[pa.RecordBatch | pa.Table], address_space: pa.Table, family: str | None
) -> pa.Table:
    """Unique source IPs and hits of `family` per week ending Saturday, over all countries
    (cc null) and per country looked up in `address_space` (RANGE_SCHEMA). Weeks are closed as
    soon as a batch starts after them, so day-ordered input is held one week at a time.
    `family` None counts what no decoder claimed (the noise)."""
    lookup = _country_of(address_space)
    open_weeks: dict[int, _Week] = {}
    rows: list[Row] = []
    for batch in sightings:
        column = batch["malware_family"]
        mine = batch.filter(pc.is_null(column) if family is None else pc.equal(column, family))
        days = mine["day"].cast(pa.int32()).to_numpy().astype(np.int64)
        ips, hits = ipv4_to_int(mine["source_ip"])[0], mine["hits"].to_numpy()
        weeks = week_ending(days)
        for week in np.unique(weeks).tolist():
            sel = weeks == week
            acc = open_weeks.setdefault(week, _Week())
            acc.ips.append(ips[sel])
            acc.hits.append(hits[sel])
            acc.days.update(np.unique(days[sel]).tolist())
        if len(batch):
            first = int(pc.min(batch["day"].cast(pa.int32())).as_py())
            done = [w for w in sorted(open_weeks) if w < first]
            rows.extend(open_weeks.pop(week).rows(week, lookup) for week in done)
    rows += [acc.rows(week, lookup) for week, acc in sorted(open_weeks.items())]
    schema = pa.schema(
        [
            ("week_ending", pa.date32()),
            ("days", pa.int32()),
            ("cc", pa.string()),
            ("unique_ips", pa.int64()),
            ("hits", pa.int64()),
        ]
    )
    return (
        pa.concat_tables([pa.table(r, schema=schema) for r in rows])
        if rows
        else schema.empty_table()
    )


@dataclass(frozen=True)
class Check:
    """One target against its measurement. `allowance` widens the scenario's tolerance by
    z standard errors of sampling at the run's scale (negligible at scale 1.0)."""

    target: Target
    expected: float | str
    measured: float | str
    allowance: float
    ok: bool

    @property
    def label(self) -> str:
        """A short description of what is compared."""
        t = self.target
        where = t.cc or "all"
        weeks = f"{t.week}→{t.to_week}" if t.to_week else f"{t.week or ''}"
        return f"{t.metric} {where} {weeks}".strip()


def _lookup(census: pa.Table, week: dt.date | None, cc: str | None, column: str) -> float:
    sel = pc.equal(census["week_ending"], pa.scalar(week, pa.date32()))
    sel = pc.and_(sel, pc.is_null(census["cc"]) if cc is None else pc.equal(census["cc"], cc))
    values = census.filter(sel)[column].to_pylist()
    return float(values[0]) if values else 0.0


def _check(t: Target, census: pa.Table, scale: float, hosts_at_start: int, z: float) -> Check:
    if t.metric == "top_countries":
        assert isinstance(t.value, list)
        week = census.filter(pc.equal(census["week_ending"], pa.scalar(t.week, pa.date32())))
        week = week.filter(pc.is_valid(week["cc"])).sort_by([("unique_ips", "descending")])
        count = dict(zip(week["cc"].to_pylist(), week["unique_ips"].to_pylist(), strict=True))
        top = week["cc"].to_pylist()[: len(t.value)]
        # An intruder passes if sampling could explain its lead over the target it displaced.
        close = all(
            count[d] - count.get(c, 0) <= z * math.sqrt(count[d] + count.get(c, 0))
            for d in set(top) - set(t.value)
            for c in set(t.value) - set(top)
        )
        return Check(t, ",".join(t.value), ",".join(top), 0.0, close)
    assert not isinstance(t.value, list)
    if t.metric == "change":
        before = _lookup(census, t.week, t.cc, "unique_ips")
        after = _lookup(census, t.to_week, t.cc, "unique_ips")
        ratio = after / before if before else math.inf
        allowance = z * ratio * math.sqrt(1 / max(before, 1) + 1 / max(after, 1))
        return Check(
            t, t.value, ratio - 1, allowance, abs(ratio - 1 - t.value) <= t.tolerance + allowance
        )
    if t.metric == "hits_per_ip":
        ips = _lookup(census, t.week, t.cc, "unique_ips")
        measured = _lookup(census, t.week, t.cc, "hits") / ips if ips else 0.0
        allowance = z * HITS_CV / math.sqrt(max(ips, 1))
    else:
        expected = t.value * scale
        if t.metric == "unique_ips":
            measured = _lookup(census, t.week, t.cc, "unique_ips")
        else:
            measured = float(hosts_at_start)
        allowance = z / math.sqrt(max(expected, 1))
        return Check(
            t,
            expected,
            measured,
            allowance,
            abs(measured / expected - 1) <= t.tolerance + allowance,
        )
    return Check(
        t, t.value, measured, allowance, abs(measured / t.value - 1) <= t.tolerance + allowance
    )


def check_targets(
    census: pa.Table, scenario: Scenario, *, scale: float, hosts_at_start: int, z: float = 3.0
) -> list[Check]:
    """Every target of the scenario against a weekly census of a run at `scale`; counts are
    compared with target * scale. `hosts_at_start`: the run's true infected hosts at its start."""
    return [_check(t, census, scale, hosts_at_start, z) for t in scenario.targets]


def calibration_table(checks: list[Check]) -> pa.Table:
    """The checks as a table of text columns for printing."""

    def fmt(v: float | str, metric: str) -> str:
        if isinstance(v, str):
            return v
        return f"{v:+.1%}" if metric == "change" else f"{v:,.1f}"

    return pa.table(
        {
            "check": [c.label for c in checks],
            "target": [fmt(c.expected, c.target.metric) for c in checks],
            "measured": [fmt(c.measured, c.target.metric) for c in checks],
            "tolerance": [
                f"±{c.target.tolerance + c.allowance:.1%}"
                if c.target.metric != "change"
                else f"±{100 * (c.target.tolerance + c.allowance):.1f} pts"
                for c in checks
            ],
            "ok": ["yes" if c.ok else "NO" for c in checks],
        }
    )
