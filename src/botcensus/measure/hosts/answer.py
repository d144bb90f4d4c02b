"""Host estimates as the census shows them: one row per census window and group, with a
90% interval, its support and the diagnostics' notes (hosts.support).

    hosts_answer(con, query, relation) -> HostsAnswer(table, notes, household)
    estimate_hosts(con, query, relation) -> its table
    with_estimates(con, rows, query, relation) -> census rows + the estimate columns
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from statistics import NormalDist
from typing import Final, NamedTuple

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from botcensus.measure.census import CensusQuery, attach
from botcensus.measure.hosts.bounds import address_bounds, busiest_hour_ratio
from botcensus.measure.hosts.crowded import crowding
from botcensus.measure.hosts.estimate import partition_cells, partitions
from botcensus.measure.hosts.hourly import hourly_ips, timed_share
from botcensus.measure.hosts.model import (
    BOUNDS,
    BUSY_EXCESS,
    ESTIMATE,
    MIN_TIMED_SHARE,
    WIDENED,
    WIDENED_SCALE,
    Z90,
)
from botcensus.measure.hosts.office import (
    night_shifts,
    office_addresses,
    office_networks,
    quiet_addresses,
    quiet_networks,
    weekend_counts,
)
from botcensus.measure.hosts.split import MIN_SPLIT
from botcensus.measure.hosts.support import SUPPORT, Fit, scatter, support_code
from botcensus.measure.hosts.windows import data_days, window_spans

ESTIMATE_COLUMNS: Final = ("hosts_est", "hosts_lo", "hosts_hi", "hosts_support")
Key = tuple[object, ...]
"""(window start, the query's group values...)."""
WINDOW: Final = "*window*"
"""Key of a window's own address bounds, all groups together: (window start, WINDOW)."""


class NetworkWeek(NamedTuple):
    """One network's (and country's) figures in one window (HostsAnswer.networks)."""

    start: date
    cc: str | None
    asn: int
    hosts: float
    """The address model's figure (estimate or not, as HostsAnswer.middle)."""
    counted: float
    """Machines counted from their bot ids."""


@dataclass(frozen=True)
class HostsAnswer:
    """Host estimates keyed like the census's rows, and what a reader must be told."""

    table: pa.Table
    """window_start, window_end, the query's groups, hosts_est (null where only bounds),
    hosts_lo, hosts_hi, hosts_support (hosts.support)."""
    notes: tuple[str, ...]
    household: bool
    """Machines behind one address were assumed (model.HOUSEHOLD), not seen: counts of
    lines, which fall more slowly than the machines behind them (cleanup corrects the
    decay for it)."""
    middle: tuple[float, ...] = ()
    """Per row of `table`: the address model's figure, estimate or not (the geometric middle
    of its bracket where days active are unknown): its level is not supported where only
    bounds, its trend is (cleanup fits the decay to it)."""
    counted: tuple[float, ...] = ()
    """Per row of `table`: the machines counted one by one from their bot ids (a lower
    bound, in the estimate; cleanup fits their own decay to check the estimates' trend)."""
    crowded: bool = False
    """Bot ids show more machines behind one address than the household law allows
    (hosts.crowded): machines per address are unknown, and so is how much more slowly the
    addresses are cleaned than the machines behind them."""
    networks: tuple[NetworkWeek, ...] = ()
    """Per window, country and network (ASN): the address model's figure and the machines
    counted from bot ids, whatever the query's groups (cleanup checks the decay of each
    network a row sums: cleanup.network_check). Addresses without an ASN are one network,
    ASN 0."""
    offices: tuple[tuple[str, int], ...] = ()
    """Networks (country or "", ASN) whose weekends show office hours, where the estimate
    assumed households (hosts.office.Weekends): machines per address there are unknown, and
    so is how much more slowly those addresses are cleaned than the machines behind them.
    Not the networks found by their addresses quiet at weekends (hosts.office.QuietAddresses):
    their rows have only bounds too, but the offices hold a part of their address-days (15-30%
    in the seen populations), which slows a decay by a part of that part, and withholding the
    decay there lost more right figures than wrong ones (BENCHMARKS.md, "After the twentieth
    set: offices one address at a time")."""


def hosts_answer(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, *, level: float = 0.9
) -> HostsAnswer:
    """Estimated infected machines per census window and group, with a `level` interval,
    their support and the diagnostics' notes (hosts.support)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    sums: dict[Key, list[float]] = {}
    counted: dict[Key, float] = {}  # machines counted from bot ids (a lower bound)
    codes: dict[Key, int] = {}
    countries: dict[tuple[object, object], list[float]] = {}  # hosts, variance
    parts: dict[Key, list[Part]] = {}  # each row's cells, for rows that mix support (_mixed)
    networks: dict[tuple[object, object, object], list[float]] = {}  # HostsAnswer.networks
    fit = Fit()
    for n, (condition, keys) in enumerate(partitions(con, query, relation)):
        view = f"hosts_partition_{n}"
        sql = f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {relation} WHERE {condition}"  # noqa: S608 (literals quoted by _quote)
        con.execute(sql)
        try:
            cells, support, part = partition_cells(
                con, replace(query, family=None, feed=None, include_unclaimed=True), view
            )
        finally:
            con.execute(f"DROP VIEW IF EXISTS {view}")
        fit.merge(part)
        shared: dict[Key, float] = {}
        for cell, (hosts, var, common) in cells.items():
            start, cc, asn = cell
            if asn is None:  # every country's estimate, for the busiest-hour check
                acc_c = countries.setdefault((start, cc or None), [0.0, 0.0])
                acc_c[0] += hosts
                acc_c[1] += var + common * common
            if asn is not None:
                net = networks.setdefault((start, cc or None, asn), [0.0, 0.0])
                net[0] += hosts
                net[1] += part.counted.get(cell, 0.0)
            if ("asn" in query.by) != (asn is not None):
                continue
            values = {"country": cc or None, "asn": asn, **keys}
            key = (start, *(values.get(g) for g in query.by))
            acc = sums.setdefault(key, [0.0, 0.0, 0.0])
            acc[0] += hosts
            acc[1] += var
            counted[key] = counted.get(key, 0.0) + part.counted.get(cell, 0.0)
            shared[key] = shared.get(key, 0.0) + common
            codes[key] = support_code((codes.get(key, ESTIMATE), support.get(cell, ESTIMATE)))
            bound = support.get(cell, ESTIMATE) == BOUNDS
            parts.setdefault(key, []).append(Part(hosts, var + common * common, bound))
        for key, common in shared.items():  # within a partition the shared parts add up
            sums[key][2] += common * common
    lengths = {s.start: len(s.days) for s in window_spans(data_days(con, query, relation), query)}
    if query.window == "week" and sums:
        fit.scatter = scatter(_series(con, query, relation, sums, lengths))
    checks = address_bounds(con, query, relation) if sums else {}
    if query.by and sums:
        # The window's own busiest hour, for the window-wide busiest-hour check (_table).
        for (first, *_), value in address_bounds(con, replace(query, by=()), relation).items():
            checks[(first, WINDOW)] = value
    # Host-days per machine are checked where the model had to assume households (no timer)
    # and days active came from stable networks (weekly windows).
    busy = (
        busiest_hour_ratio(con, query, relation, fit.stable)
        if sums and fit.untimed and query.window == "week"
        else {}
    )
    per_country: dict[tuple[object, object], tuple[float, float, float]] = {}
    if busy:
        # Every country against its own busiest hour, whatever the query's groups: a window
        # where one is ruled out has no estimate in any row (_table).
        by_country = (
            checks
            if query.by == ("country",)
            else address_bounds(con, replace(query, by=("country",)), relation)
        )
        per_country = {
            key: (hosts, by_country.get(key, (0.0, math.inf))[0], var)
            for key, (hosts, var) in countries.items()
        }
    fit.dayonly = bool(sums and fit.untimed and timed_share(con, query, relation) < MIN_TIMED_SHARE)
    offices: dict[Key, int] = {}
    if sums and fit.untimed:
        fit.crowded = crowding(con, query, relation)
        shifts = night_shifts(con, query, relation)
        fit.offices = office_networks(weekend_counts(con, query, relation, shifts))
        if not fit.ids:  # fitted bot ids correct each network's level, offices included
            quiet = quiet_addresses(con, query, relation, shifts)
            fit.quiet = quiet_networks(quiet, fit.offices)
        offices = office_addresses(con, query, relation, [*fit.offices, *fit.quiet])
    table, middle = _table(
        sums, codes, fit, query, z, lengths, checks, busy, per_country, counted, parts, offices
    )
    ids = tuple(counted.get(k, 0.0) for k in sorted(sums, key=_order))
    crowded = bool(fit.untimed and fit.crowded is not None and fit.crowded.contradicts)
    offices_seen = tuple(sorted(fit.offices)) if fit.office_rows else ()
    weeks = tuple(
        NetworkWeek(start, cc, asn, hosts, ids_)  # type: ignore[arg-type]
        for (start, cc, asn), (hosts, ids_) in sorted(
            networks.items(), key=lambda kv: _order(kv[0])
        )
    )
    return HostsAnswer(
        table, tuple(fit.notes()), fit.untimed, middle, ids, crowded, weeks, offices_seen
    )


def estimate_hosts(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, *, level: float = 0.9
) -> pa.Table:
    """Estimated infected machines per census window and group, with a `level` interval.

    Rows are keyed like census(con, query, relation): window_start, window_end and the
    query's group keys; the estimate columns are hosts_est, hosts_lo, hosts_hi (unit:
    hosts) and hosts_support. A window or group without an estimate has no row."""
    return hosts_answer(con, query, relation, level=level).table


def _series(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    sums: Mapping[Key, list[float]],
    lengths: Mapping[date, int],
) -> dict[Key, list[tuple[date, float, float, float]]]:
    """Per group, its complete windows: start, estimate, the variance of the log that is its
    own (not shared), hourly distinct addresses. `lengths`: days with data per window."""
    hourly = hourly_ips(con, query, relation).to_pylist()
    per_hour = {(r["window_start"], *(r[g] for g in query.by)): r["ips_hourly_avg"] for r in hourly}
    complete = {start for start, n in lengths.items() if n == 7}
    out: dict[Key, list[tuple[date, float, float, float]]] = {}
    for key in sorted(sums, key=_order):
        start = key[0]
        hosts, var, _ = sums[key]
        if start not in complete or key not in per_hour or hosts <= 0:
            continue
        out.setdefault(key[1:], []).append(
            (start, hosts, var / hosts**2, float(per_hour[key]))  # type: ignore[arg-type]
        )
    return out


def _table(
    sums: Mapping[Key, list[float]],
    codes: Mapping[Key, int],
    fit: Fit,
    query: CensusQuery,
    z: float,
    lengths: Mapping[date, int],
    checks: Mapping[Key, tuple[float, ...]],
    busy: Mapping[object, float] | None = None,
    countries: Mapping[tuple[object, object], tuple[float, float, float]] | None = None,
    counted: Mapping[Key, float] | None = None,
    parts: Mapping[Key, Sequence[Part]] | None = None,
    offices: Mapping[Key, int] | None = None,
) -> tuple[pa.Table, tuple[float, ...]]:
    """Rows sorted like the census, and each row's model figure (HostsAnswer.middle); a
    log-normal interval from each estimate's variance, widened by its group's scatter.
    Where only bounds: no estimate, and the bracket of days active (between one machine per
    address-day and one every day: a factor of the window's days either side of their
    geometric middle) added to the rest of the error's interval, not in quadrature (a bound,
    not a spread), and the lower bound lowered by MIN_SPLIT (renumbering may have split
    every host-day). `checks`: per row, the bounds counted from addresses (hosts.bounds:
    peak, most and floor; a pair (peak, most) takes the peak as floor): an estimate outside
    them (below the floor, above the most) has only bounds (fit.disagree); bounds are
    tightened by them (the upper one only without a check-in timer). `busy`: per window
    start, the machines per busiest-hour address the stable networks show
    (hosts.bounds.busiest_hour_ratio): an estimate whose interval lies above BUSY_EXCESS
    times its busiest hour (the peak, counted alike) times that has only bounds too. Where
    only bounds, the lower one is the floor (the busiest hour's IPv4 addresses, counted in
    the hours they checked in) wherever there are any (the host-day bound, up to half the
    address-days split by renumbering, failed where addresses split a machine's day into
    more: family B, seen).
    `countries`: per (window start, country), its estimate, busiest hour (peak) and the
    estimate's variance: a window where any country's estimate is above its own allowance
    (its busiest hour taken at the top of its Poisson 90% range, the estimate at the bottom
    of its own 90% range: b-harsh seed 14 with ids lost a whole week to France's estimate
    0.06% over the point allowance), or (grouped queries) the window's total above the
    window's, has only bounds in every row: the days active and machines per address that
    the model applies are shared by every country (the lenders' centre, the household
    assumption). Where the sightings show no time within the day (`fit.dayonly`: reports of
    one row per address and day, no timer), every row has only bounds; where the model had
    an estimate, the lower one is MIN_SPLIT times the floor (the busiest day's IPv4
    addresses: the hour of such rows is the whole day; none without IPv4), the upper one the
    unique addresses times the most per address. `counted`: per row, the machines counted
    from their bot ids; no lower
    bound is below it (each id is a machine), whatever the addresses allow. `parts`: per
    row, the cells it sums: a row with only bounds because some of its cells have only
    bounds (a country without a stable network in a global row) takes its bounds from its
    parts (_mixed), not from a bracket of days active over the whole row, unless the
    busiest-hour check ruled its window out. `offices`: per row, the unique IPv4 addresses
    of networks that keep office hours (hosts.office); without a check-in timer such a row
    has only bounds, and no upper bound from the most machines per address (as where bot
    ids contradict the household law, hosts.crowded)."""
    length = 1 if query.window == "day" else 7
    keys = sorted(sums, key=_order)
    est = np.array([sums[k][0] for k in keys], np.float64)
    var = np.array([sums[k][1] + sums[k][2] for k in keys], np.float64)
    ratio = np.divide(var, est**2, out=np.zeros(len(est)), where=est > 0)
    extra = np.array([fit.scatter.get(k[1:], 0.0) for k in keys], np.float64)
    sigma = np.sqrt(np.log1p(ratio) + extra**2)
    code = np.array([codes.get(k, ESTIMATE) for k in keys], np.int64)
    code = np.where((extra > 0) & (code == ESTIMATE), WIDENED, code)
    if fit.untimed:
        code = np.maximum(code, WIDENED)
    # Bot ids show more machines behind one address than the household law allows
    # (hosts.crowded): machines per address are unknown, so no estimate, and no upper bound
    # from the unique addresses times the most per address assumed.
    many = fit.untimed and fit.crowded is not None and fit.crowded.contradicts
    if many:
        code = np.full(len(keys), BOUNDS, np.int64)
    # Rows holding addresses of networks that keep office hours (hosts.office): the same,
    # row by row.
    office = np.array([(offices or {}).get(k, 0) > 0 for k in keys], dtype=bool) & fit.untimed
    code = np.where(office, BOUNDS, code)
    fit.office_rows += int(office.sum())
    modelled = code != BOUNDS  # the model had an estimate (before the cross-checks)
    days = np.array([max(lengths.get(k[0], 1), 1) for k in keys], np.float64)  # type: ignore[call-overload]
    bracket = np.log(days) / 2.0
    rest = np.sqrt(np.maximum(sigma**2 - (bracket / Z90) ** 2, 0.0))
    half = np.where(code == BOUNDS, z * rest + bracket * z / Z90, z * sigma)
    lo = est * np.exp(-half) * np.where(code == BOUNDS, MIN_SPLIT, 1.0)
    hi = est * np.exp(half)
    # The model's figure is the geometric middle of its bracket of days active; the bounds'
    # lower end also allows for renumbering (MIN_SPLIT), which is not part of that bracket:
    # the middle of the whole bounds read 0.71 times the model's level, and a series of
    # estimated weeks then bounds weeks fell at the join (cleanup's decay; b-harsh seed 22
    # with ids on 12%: 24.5% fast, the weekly estimates 0.80-0.82 of the truth throughout).
    middle = tuple(est.tolist())
    peak = np.array([checks.get(k, (0.0, math.inf))[0] for k in keys], np.float64)
    most = np.array([checks.get(k, (0.0, math.inf))[1] for k in keys], np.float64)
    if many:
        most = np.full(len(keys), math.inf)
    most = np.where(office, math.inf, most)
    floor = np.array([_floor(checks.get(k, (0.0, math.inf))) for k in keys], np.float64)
    ratio = np.array([(busy or {}).get(k[0], math.inf) for k in keys], np.float64)
    below = (code != BOUNDS) & (est < floor)
    above = (code != BOUNDS) & (est > most) & fit.untimed
    cap = BUSY_EXCESS * np.where(peak > 0, peak, math.inf) * ratio
    busiest = (code != BOUNDS) & ~above & (est * np.exp(-Z90 * sigma) > cap)
    # Host-days per machine are the model's everywhere: a window where one country counts
    # more than its own busiest hour allows, or whose groups together count more than the
    # window's own busiest hour allows, has no estimate in any row.
    # A country takes the window only where it is over beyond its busiest hour's own
    # sampling noise (Poisson, the 90% top): a small country's busiest hour is a few dozen.
    crowded = {
        start
        for (start, _), (e, top, v) in (countries or {}).items()
        if top > 0
        and _low(e, v)
        > BUSY_EXCESS * (busy or {}).get(start, math.inf) * (top + Z90 * math.sqrt(top))
    }
    if query.by:
        total: dict[object, list[float]] = {}
        for k, e, v in zip(keys, est.tolist(), var.tolist(), strict=True):
            acc = total.setdefault(k[0], [0.0, 0.0])
            acc[0] += e
            acc[1] += v
        crowded |= {
            start
            for start, (e, v) in total.items()
            if checks.get((start, WINDOW), (0.0, 0.0))[0] > 0
            and _low(e, v)
            > BUSY_EXCESS * (busy or {}).get(start, math.inf) * checks[(start, WINDOW)][0]
        }
    over = np.array([k[0] in crowded for k in keys], dtype=bool)  # no rows: empty
    busiest |= (code != BOUNDS) & ~above & over
    for which, hit in (("hourly", below), ("addresses", above), ("busiest", busiest)):
        if hit.any():
            fit.disagree[which] = int(hit.sum())
    off = below | above | busiest
    # The estimate is ruled out: the address bounds are what is left (the model's interval
    # still bounds from above where the addresses do not, with a timer). Above the busiest
    # hour, the lower one is the smaller of the two (below).
    lo = np.where(below, floor, lo)
    hi = np.where(off, most if fit.untimed else np.maximum(hi, floor), hi)
    code = np.where(off, BOUNDS, code)
    lo = np.where((code == BOUNDS) & (floor > 0), np.minimum(lo, floor), lo)
    if fit.untimed:
        hi = np.where(code == BOUNDS, np.minimum(hi, most), hi)
    if fit.dayonly:
        # No time within the day: the busiest "hour" is the whole day, in which renumbering
        # may give a machine a second address (MIN_SPLIT, as for the host-day bound). Rows
        # the model had bracketed already keep their bounds.
        lo = np.where(modelled, MIN_SPLIT * floor, lo)
        hi = np.where(modelled & np.isfinite(most), most, hi)
        code = np.full(len(keys), BOUNDS, np.int64)
    if parts and not many and not fit.dayonly:
        for i, k in enumerate(keys):
            got = (
                None
                if over[i] or modelled[i]
                else _mixed(parts.get(k, ()), z, bracket[i], float(extra[i]))
            )
            if got is not None:
                # A country's estimate is not checked against its own address bounds in a
                # row that sums countries: the row's own hold both ends. Without a timer
                # neither end above the unique addresses times the most per address; the
                # upper never below the busiest hour's addresses.
                top = float(most[i]) if fit.untimed else math.inf
                lo[i] = min(got[0], top)
                hi[i] = max(min(got[1], top), floor[i])
                fit.mixed += 1
    # An office row of a partial window: no lower upper end than the complete window's next
    # to it (_office_tops).
    hi = _office_tops(keys, hi, office, days, length)
    # A `widened` row left standing: its interval narrowed by WIDENED_SCALE (model), after
    # every check above has used the full one.
    narrow = code == WIDENED
    lo = np.where(narrow, est * np.exp(-half * WIDENED_SCALE), lo)
    hi = np.where(narrow, est * np.exp(half * WIDENED_SCALE), hi)
    ids = np.array([(counted or {}).get(k, 0.0) for k in keys], np.float64)
    raise_ = (code == BOUNDS) & (ids > lo)
    fit.raised += int(raise_.sum())
    lo = np.where(raise_, ids, lo)
    hi = np.maximum(hi, lo)
    starts = [k[0] for k in keys]
    columns: dict[str, pa.Array] = {
        "window_start": pa.array(starts, pa.date32()),
        "window_end": pa.array([s + timedelta(days=length - 1) for s in starts], pa.date32()),  # type: ignore[operator]
    }
    types = {"asn": pa.int64()}
    for i, g in enumerate(query.by, start=1):
        columns[g] = pa.array([k[i] for k in keys], types.get(g, pa.string()))
    columns["hosts_est"] = pa.array(np.where(code == BOUNDS, np.nan, est), from_pandas=True)
    # Where only bounds, no network shows how many address-days renumbering split (hosts.split
    # measures it against stable networks): at most every host-day in two (MIN_SPLIT, above).
    columns["hosts_lo"] = pa.array(lo)
    columns["hosts_hi"] = pa.array(hi)
    columns["hosts_support"] = pa.array([SUPPORT[c] for c in code.tolist()], pa.string())
    return pa.table(columns), middle


def _office_tops(
    keys: Sequence[Key],
    hi: npt.NDArray[np.float64],
    office: npt.NDArray[np.bool_],
    days: npt.NDArray[np.float64],
    length: int,
) -> npt.NDArray[np.float64]:
    """Upper ends of rows holding addresses of networks that keep office hours
    (hosts.office) in a partial window (data on fewer days than the window's `length`),
    raised to the same row's in a complete window next to it. Machines behind an office's
    address are unknown; the upper end left to such a row is the model's bracket of days
    active, which still takes households and narrows with the days: over a weekend of two
    days c-office's rows read 0.77-0.98 of the machines (24 rows on eight seen seeds, the
    complete weeks around them holding). The machines of a short window are among those of
    the window next to it, less those cleaned, plus those infected since. Added after the
    thirty-first held-out set (development figures, BENCHMARKS.md: "Office rows of a
    partial week")."""
    out = hi.copy()
    at = {k: i for i, k in enumerate(keys)}
    step = timedelta(days=length)
    for i in np.flatnonzero(office & (days < length)).tolist():
        start, rest = keys[i][0], keys[i][1:]
        for near in (start - step, start + step):  # type: ignore[operator]
            j = at.get((near, *rest))
            if j is not None and days[j] >= length:
                out[i] = max(out[i], hi[j])
    return out


class Part(NamedTuple):
    """One cell a row sums: its machines, the variance of that figure (its own and shared
    parts), and whether the cell has only bounds (hosts.support)."""

    hosts: float
    var: float
    bounds: bool


def _mixed(
    parts: Sequence[Part], z: float, bracket: float, extra: float = 0.0
) -> tuple[float, float] | None:
    """Bounds of a row that sums cells with an estimate and cells with only bounds: the lower
    ends of the cells with an estimate (the others add at least nothing), and the upper
    ends of those plus the bounds of the others (their bracket of days active, `bracket`
    either side, as _table's bounds). Each cell's error is its own and the row's scatter
    (`extra`, the standard deviation of the log that the row's week-to-week scatter adds,
    as _table's). Ends are summed, not combined in quadrature: a bound, and the cells share
    the model's assumptions. None unless the row has both kinds, or where a cell's figure
    or variance is not a finite number."""
    if any(not (math.isfinite(p.hosts) and math.isfinite(p.var)) for p in parts):
        return None
    kept = [p for p in parts if not p.bounds and p.hosts > 0]
    bounded = [p for p in parts if p.bounds and p.hosts > 0]
    if not kept or not bounded:
        return None

    def sigma(p: Part) -> float:
        return math.sqrt(math.log1p(max(p.var, 0.0) / p.hosts**2) + extra**2)

    lo = sum(p.hosts * math.exp(-z * sigma(p)) for p in kept)
    hi = sum(p.hosts * math.exp(z * sigma(p)) for p in kept)
    for p in bounded:
        rest = math.sqrt(max(sigma(p) ** 2 - (bracket / Z90) ** 2, 0.0))
        hi += p.hosts * math.exp(z * rest + bracket * z / Z90)
    return lo, hi


def _order(key: Key) -> tuple[tuple[bool, str], ...]:
    """Rows in the census's order: by window start, then the group values (None last)."""
    return tuple((v is None, str(v)) for v in key)


def _low(hosts: float, var: float) -> float:
    """The bottom of an estimate's 90% range (log-normal, as the intervals are)."""
    if hosts <= 0:
        return hosts
    return hosts * math.exp(-Z90 * math.sqrt(math.log1p(max(var, 0.0) / hosts**2)))


def _floor(check: tuple[float, ...]) -> float:
    """The lower bound of a row's address checks: hosts.bounds.AddressBounds.floor, or the
    peak where only (peak, most) are given."""
    return check[2] if len(check) > 2 else check[0]


def with_estimates(
    con: duckdb.DuckDBPyConnection,
    rows: pa.Table,
    query: CensusQuery,
    relation: str,
    *,
    level: float = 0.9,
) -> pa.Table:
    """Census rows (any columns, keyed by window_start and the query's groups) with
    hosts_est, hosts_lo, hosts_hi and hosts_support appended, in the same order; null where
    no estimate."""
    return attach_answer(rows, hosts_answer(con, query, relation, level=level).table, query)


def attach_answer(rows: pa.Table, table: pa.Table, query: CensusQuery) -> pa.Table:
    """Census rows with the estimate columns of a HostsAnswer's table appended."""
    return attach(rows, table, query, ESTIMATE_COLUMNS)
