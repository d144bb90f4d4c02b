"""Host estimates: infected machines active per window, with an interval (unit `hosts`).

    estimate_hosts(con, query, relation) -> one row per census row: window_start,
        window_end, the query's group keys, hosts_est, hosts_lo, hosts_hi

Sightings without a bot id go through the address model (host-days from address-days,
hosts.daily; days active from stable networks, hosts.reference and hosts.model); sightings
with one are counted by id (hosts.ids) and lend their days active to the address model of
the same family and country. Each family (and feed or sensor, when the census groups by
them) is estimated on its own; estimates and their variances add up. Only what sightings
hold is read: addresses, days, first and last check-in, hits, country and ASN, bot ids.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Final

import duckdb
import numpy as np
import numpy.typing as npt

from botcensus.measure.census import GROUPS, CensusQuery, window_start_sql
from botcensus.measure.hosts.activity import activity_check, activity_note, check_ins
from botcensus.measure.hosts.features import EPOCH, LOOK, Timer, checkin_timer
from botcensus.measure.hosts.ids import IdCounts, Lent, id_counts
from botcensus.measure.hosts.model import (
    BOUNDS,
    ESTIMATE,
    HOUSEHOLD,
    WIDENED,
    Estimate,
    Window,
    household_at,
    lenders_busier,
    window_estimate,
    with_household,
)
from botcensus.measure.hosts.networks import (
    apply_factors,
    network_factors,
    strip_ids_note,
    without_ids_sql,
)
from botcensus.measure.hosts.pools import Mixing, mixing
from botcensus.measure.hosts.reference import Reference, lend
from botcensus.measure.hosts.support import Fit
from botcensus.measure.hosts.thinning import ids_shares, side_factor, thinned, thinning_sd
from botcensus.measure.hosts.windows import (
    Span,
    data_days,
    data_extent,
    read_windows,
    window_spans,
)

Cell = tuple[date, str, int | None]
"""(window start, country, ASN); ASN None: the country's total."""
Cells = dict[Cell, tuple[float, float, float]]
"""-> (hosts, absolute variance, the standard deviation of the part of the error that all
countries of the window share: it adds up across countries instead of averaging out)."""


def _quote(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def partitions(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> list[tuple[str, dict[str, object]]]:
    """Per family (and feed and sensor when grouped by): a SQL condition and its keys."""
    keys = ["family", *(k for k in ("feed", "sensor") if k in query.by)]
    where, params = query.where(dates=False)
    cols = ", ".join(GROUPS[k] for k in keys)
    sql = f"SELECT DISTINCT {cols} FROM {relation} WHERE {where}"  # noqa: S608 (columns from GROUPS; values are parameters)
    out = []
    for values in sorted(con.execute(sql, params).fetchall(), key=str):
        condition = " AND ".join(
            f"{GROUPS[k]} IS NULL" if v is None else f"{GROUPS[k]} = {_quote(v)}"
            for k, v in zip(keys, values, strict=True)
        )
        out.append((condition, dict(zip(keys, values, strict=True))))
    return out


def _id_counts(con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str) -> IdCounts:
    where, params = query.where()
    return id_counts(con, relation, where, params, window_start_sql(query))


CONTEXT_DAYS: Final = 28
"""Days of data either side of a query's range that the stable reference reads too (the
estimates are of the range's windows only): a network's return rate needs features.LOOK
days of history, and its addresses' lifetimes are judged on addresses born at least
2 x daily.LONG_LIVED days before the data end. A week asked alone, without them, had only
bounds where the same week within the whole data had an estimate."""


@dataclass(frozen=True)
class AddressModel:
    """The address model's windows of one partition, its (country, ASN) groups in order, the
    countries, each group's country index, and the stable reference they lend from."""

    spans: list[Span]
    windows: list[Window]
    groups: Sequence[tuple[str, int]]
    ccs: list[str]
    country: npt.NDArray[np.int64]
    ref: Reference
    timer: Timer | None
    """The bots' common check-in timer; None where the data show none."""
    anchor: Window | None = None
    """The data's first full window (model.household_at counts lines left from it); None
    with a timer or where the data have none."""
    anchor_span: Span | None = None
    handed: Mapping[tuple[str, int], Mixing] | None = None
    """Networks that passed every test of stability but are pools handed round
    (hosts.pools), so not stable."""


def address_model(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    mixes: Mapping[tuple[str, int], Mixing] | None = None,
    stable: Collection[tuple[str, int]] | None = None,
    split: Mapping[tuple[str, int], Share] | None = None,
) -> AddressModel | None:
    """Read the windows of the sightings without a bot id and build their stable reference;
    None without any. `mixes`: hosts.pools.mixing of the partition's sightings, where the
    caller has it (the strip-the-ids check judges pools on all of them, as the model does);
    `stable`: the stable networks to take instead of judging them here, and `split`: the
    split shares (hosts.split) to take for the networks it names (the strip-the-ids check
    takes the model's own of both)."""
    days = data_days(con, query, relation)
    if not days:
        return None
    spans = window_spans(days, query)
    timer = checkin_timer(con, query, relation)
    # A range inside the data has history before it and lifetimes beyond it: the reference
    # reads CONTEXT_DAYS either side, so a week asked alone is judged as within the data.
    extent = data_extent(con, query, relation) or (days[0], days[-1])
    before, after = context_spans(con, query, relation, extent)
    first = first_full_span(con, query, relation, extent) if timer is None else None
    extra = [first] if first is not None and first not in [*before, *spans, *after] else []
    every = [*extra, *before, *spans, *after]
    read, groups = read_windows(con, query, relation, every, timer, extent)
    anchor = read[every.index(first)] if first is not None else None
    read = read[len(extra) :]
    windows = read[len(before) : len(before) + len(spans)]
    ccs = sorted({cc for cc, _ in groups})
    country = np.array([ccs.index(cc) for cc, _ in groups], np.int64)
    history_from = (extent[0] - EPOCH).days + LOOK
    if mixes is None:
        mixes = mixing(con, query, relation)
    pools = np.array([g in mixes and mixes[g].pool for g in groups], bool)
    sums, multis = [w.sums for w in read], [w.multi for w in read]
    chosen = None if stable is None else np.array([g in stable for g in groups], bool)
    ref = lend(sums, multis, country, len(ccs), history_from, pools, chosen)
    if split:
        ref = _taken_split(ref, groups, split)
    handed = {groups[int(i)]: mixes[groups[int(i)]] for i in np.flatnonzero(ref.handed)}
    return AddressModel(spans, windows, groups, ccs, country, ref, timer, anchor, first, handed)


def first_full_span(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, extent: tuple[date, date]
) -> Span | None:
    """The data's first window with data on each of its days (model.household_at's anchor),
    among the first two windows' worth of days; None without one."""
    length = 1 if query.window == "day" else 7
    lo, hi = extent[0], min(extent[1], extent[0] + timedelta(days=2 * length - 1))
    days = data_days(con, replace(query, date_from=lo, date_to=hi), relation)
    full = [s for s in window_spans(days, query) if len(s.days) == length]
    return full[0] if full else None


def context_spans(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, extent: tuple[date, date]
) -> tuple[list[Span], list[Span]]:
    """The windows of data within CONTEXT_DAYS before and after the query's range (none
    where it has no such bound or the data end there), cut at the range's ends."""
    out: list[list[Span]] = []
    for edge, step in ((query.date_from, -1), (query.date_to, 1)):
        if edge is None or not (extent[0] < edge if step < 0 else edge < extent[1]):
            out.append([])
            continue
        near = edge + timedelta(days=step)
        far = edge + timedelta(days=step * CONTEXT_DAYS)
        lo, hi = (far, near) if step < 0 else (near, far)
        days = data_days(con, replace(query, date_from=lo, date_to=hi), relation)
        out.append(window_spans(days, query))
    return out[0], out[1]


Support = dict[Cell, int]
"""-> the cell's support code (hosts.model ESTIMATE, WIDENED, BOUNDS)."""
Share = tuple[float, float, bool]
"""A group's split share (hosts.split): the share, the variance of its log, and `few`."""


@dataclass(frozen=True)
class Lines:
    """What the address model's machines per count were taken at, where the data show no
    check-in timer (households assumed, not seen; empty otherwise)."""

    left: dict[date, float]
    """Window start -> the share of the first full window's lines left (model.household_at's
    x)."""
    online: dict[tuple[date, str], float]
    """(window start, country) -> the share of the window's days its machines with ids are
    online, where they lend days active (hosts.thinning's q; 1 elsewhere: days active of
    lines)."""
    by_check_ins: frozenset[tuple[str, int]] = frozenset()
    """Groups whose host-days are check-ins over a machine's day (hosts.reference
    split_few): counted as machines already, not lines."""
    split: Mapping[tuple[str, int], Share] = field(default_factory=dict)
    """Per group: the share of its address-days that are host-days, the variance of its
    log, and whether it fell below hosts.split.MIN_SPLIT (hosts.split), as the model took
    them."""


def _taken_split(
    ref: Reference, groups: Sequence[tuple[str, int]], split: Mapping[tuple[str, int], Share]
) -> Reference:
    """`ref` with the split shares of the groups `split` names (the rest keep their own)."""
    share, var, few = ref.split.copy(), ref.split_var.copy(), ref.split_few.copy()
    for i, g in enumerate(groups):
        if g in split:
            share[i], var[i], few[i] = split[g]
    return replace(ref, split=share, split_var=var, split_few=few)


def _address_cells(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    lent: Lent | None,
    mixes: Mapping[tuple[str, int], Mixing],
    stable: Collection[tuple[str, int]] | None = None,
    split: Mapping[tuple[str, int], Share] | None = None,
    ids_from: str | None = None,
) -> tuple[Cells, Support, Fit, Lines]:
    """The address model (sightings without a bot id) for one partition, and the lines left
    its machines per line were taken at; `mixes` (hosts.pools) of the whole partition;
    `stable` and `split`: the stable networks and split shares to take (address_model);
    `ids_from`: the relation whose bot ids lend days active (default `relation`; the
    strip-the-ids check's view has its ids taken away)."""
    cells: Cells = {}
    support: Support = {}
    fit = Fit()
    lines = Lines({}, {})
    model = address_model(con, query, relation, mixes, stable, split)
    if model is None:
        return cells, support, fit, lines
    spans, windows, groups, ccs = model.spans, model.windows, model.groups, model.ccs
    country, ref = model.country, model.ref
    fit.untimed = model.timer is None
    fit.split_few |= {groups[int(i)] for i in np.flatnonzero(ref.split_few)}
    fit.stable |= {groups[int(i)] for i in np.flatnonzero(ref.stable)}
    fit.pools |= dict(model.handed or {})
    timed = model.timer is not None
    n = len(ccs)

    busier = lenders_busier(windows, ref, country, n)
    anchor_lent = _anchor_lent(con, query, ids_from or relation, model, lent)

    def estimate(span: Span, w: Window) -> Estimate:
        source = anchor_lent if anchor_lent is not None and span == model.anchor_span else lent
        borrowed = source.for_window(span.start, ccs) if source is not None else None
        return window_estimate(w, ref, country, n, borrowed, timed=timed, busier=busier)

    estimates = [estimate(span, w) for span, w in zip(spans, windows, strict=True)]
    if not timed:
        estimates, x = _as_machines(model, estimates, estimate)
        shares: dict[tuple[str, int], Share] = {
            g: (float(c), float(v), bool(f))
            for g, c, v, f in zip(groups, ref.split, ref.split_var, ref.split_few, strict=True)
        }
        lines = Lines(
            {span.start: x_i for span, x_i in zip(spans, x, strict=True)},
            _online(lent, spans, ccs) if lent is not None else {},
            frozenset(g for g, (_, _, few) in shares.items() if few),
            shares,
        )
    for span, est in zip(spans, estimates, strict=True):
        codes = est.country_support
        fit.borrowed |= {ccs[i] for i in np.flatnonzero(est.country_borrowed)}
        if est.country_unchecked is not None:
            fit.unchecked |= {ccs[i] for i in np.flatnonzero(est.country_unchecked)}
        fit.bracketed |= {ccs[i] for i in np.flatnonzero(codes == BOUNDS)}
        if est.fragile_lenders is not None:
            fit.lenders |= {ccs[i] for i in np.flatnonzero(est.fragile_lenders)}
            fit.fragile.add(est.fragile_reason)
        keyed = [
            *zip(
                groups,
                est.group_hosts,
                est.group_var,
                est.group_shared,
                codes[country],
                strict=True,
            ),
            *zip(
                ((cc, None) for cc in ccs),
                est.country_hosts,
                est.country_var,
                est.country_shared,
                codes,
                strict=True,
            ),
        ]
        for (cc, asn), hosts, var, shared, code in keyed:
            if hosts > 0:
                # The shared part is kept apart from the rest of the variance.
                rest = max(float(var) - float(shared) ** 2, 0.0)
                cells[(span.start, cc, asn)] = (
                    float(hosts),
                    float(hosts * hosts * rest),
                    float(hosts * shared),
                )
                support[(span.start, cc, asn)] = int(code)
    return cells, support, fit, lines


def _anchor_lent(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    model: AddressModel,
    lent: Lent | None,
) -> Lent | None:
    """The days active the machines with ids of the anchor window lend (model.household_at's
    first full window), where it lies outside the query's range: the ids are counted for the
    range only, and the anchor estimated without its own read twice the lines (b-harsh seed
    44 with ids on 12%, one week asked alone: 17,795 lines against 9,140 within the whole
    range), so the lines left read 0.48 for 0.93 and every count took the household law at
    half its lines. None where the anchor is a window of the range, or there are no ids."""
    anchor = model.anchor_span
    if lent is None or anchor is None or anchor in model.spans:
        return None
    return Lent.from_counts(
        _id_counts(con, replace(query, date_from=anchor.start, date_to=anchor.end), relation)
    )


def _online(lent: Lent, spans: list[Span], ccs: list[str]) -> dict[tuple[date, str], float]:
    """(window start, country) -> the share of the window's days with data that its machines
    with ids are online, where they lend their days active."""
    out: dict[tuple[date, str], float] = {}
    for span in spans:
        ratio = lent.for_window(span.start, ccs)[0]  # machines per machine-day
        for cc, r in zip(ccs, ratio.tolist(), strict=True):
            if math.isfinite(r) and r > 0:
                out[(span.start, cc)] = min(1.0 / (r * len(span.days)), 1.0)
    return out


def _as_machines(
    model: AddressModel, lines: list[Estimate], estimate: Callable[[Span, Window], Estimate]
) -> tuple[list[Estimate], list[float]]:
    """Line estimates as machines: model.household_at the lines left since the data's first
    full window (also returned, per window). A partial window (fewer days, fewer lines)
    takes the lines left of the nearest full one."""
    start = 0.0
    if model.anchor is not None and model.anchor_span is not None:
        start = float(estimate(model.anchor_span, model.anchor).country_hosts.sum())
    if start <= 0 or model.anchor_span is None:
        return [with_household(est, household_at(1.0)) for est in lines], [1.0] * len(lines)
    left = [float(e.country_hosts.sum()) / start for e in lines]
    full = [i for i, s in enumerate(model.spans) if len(s.days) == len(model.anchor_span.days)]
    out, used = [], []
    for i, est in enumerate(lines):
        near = i if i in full or not full else min(full, key=lambda j: abs(j - i))
        out.append(with_household(est, household_at(left[near])))
        used.append(left[near])
    return out, used


def rehoused(cells: Cells, lines: Lines, share: Mapping[str, float]) -> Cells:
    """The address model's cells for the side of each household that holds `share[country]`
    of its machines (hosts.thinning.side_factor); a country's row moves as its networks' do.
    Unchanged where households were seen (timed), in countries without a share, and in
    networks whose host-days are check-ins (their count is of machines on either side)."""
    factor: dict[Cell, float] = {}
    moved: dict[tuple[date, str], list[float]] = {}
    for key, (hosts, _, _) in cells.items():
        start, cc, asn = key
        x = lines.left.get(start)
        if asn is None or x is None or cc not in share:
            continue
        counted = (cc, asn) in lines.by_check_ins
        q = lines.online.get((start, cc), 1.0)
        m = 1.0 if counted else side_factor(x, share[cc], q)
        factor[key] = m
        acc = moved.setdefault((start, cc), [0.0, 0.0])
        acc[0] += hosts
        acc[1] += hosts * m
    out: Cells = {}
    for key, (hosts, var, shared) in cells.items():
        start, cc, asn = key
        x = lines.left.get(start)
        if x is None or cc not in share:
            m = 1.0
        elif asn is not None:
            m = factor[key]
        elif (start, cc) in moved and moved[(start, cc)][0] > 0:
            m = moved[(start, cc)][1] / moved[(start, cc)][0]
        else:
            m = side_factor(x, share[cc], lines.online.get((start, cc), 1.0))
        out[key] = (hosts * m, var * m * m, shared * m)
    return out


def _split_households(
    counts: IdCounts, cells: Cells, lines: Lines, model: Cells, model_lines: Lines
) -> tuple[Cells, Cells, str | None]:
    """hosts.thinning: the sightings without ids (`cells`) and those with ids stripped of
    them (`model`), each side of a household at its own machines per count, each country's
    share of machines with ids found as a fixed point; the split's error joins the shared
    part of `cells`. A note, or None where households are seen (timed data)."""
    if not lines.left or not model_lines.left:
        return cells, model, None
    # A network counted by its check-ins in either run is left as it is on both sides.
    by_check_ins = lines.by_check_ins | model_lines.by_check_ins
    lines = replace(lines, by_check_ins=by_check_ins)
    model_lines = replace(model_lines, by_check_ins=by_check_ins)
    with_ids: dict[str, float] = {}
    for (_, cc, _), machines in counts.by_cell().items():
        with_ids[cc] = with_ids.get(cc, 0.0) + machines

    def split(p: Mapping[str, float]) -> tuple[Cells, Cells]:
        rest_share = {cc: 1.0 - v for cc, v in p.items()}
        return rehoused(cells, lines, rest_share), rehoused(model, model_lines, p)

    def corrected(rest: Cells, stripped: Cells) -> dict[str, float]:
        """Machines without ids per country once the networks' factors are applied."""
        out: dict[str, float] = {}
        for (_, cc, asn), (hosts, _, _) in apply_factors(
            rest, network_factors(counts, stripped)
        ).items():
            if asn is None:
                out[cc] = out.get(cc, 0.0) + hosts
        return out

    p = ids_shares(with_ids, lambda p: corrected(*split(p)))
    if not p:  # nothing counted by id, or a figure that is not a number
        return cells, model, None
    rest, stripped = split(p)
    total = sum(with_ids.values())
    overall = total / (total + sum(corrected(rest, stripped).values()))
    for key, (hosts, var, shared) in rest.items():
        x = lines.left.get(key[0])
        if x is not None and key[1] in p and (key[1], key[2]) not in by_check_ins:
            sd = thinning_sd(x, p[key[1]], lines.online.get((key[0], key[1]), 1.0))
            rest[key] = (hosts, var, math.hypot(shared, hosts * sd))
    low, high = min(p.values()), max(p.values())
    note = (
        f"households split between bot ids: {overall:.0%} of the machines carry an id "
        f"({low:.0%}-{high:.0%} by country), so where {overall:.0%} do a line with one holds "
        f"{thinned(overall):.2f} of them and a line with one without {thinned(1.0 - overall):.2f} "
        f"machines without, where the data's first full window has {HOUSEHOLD} per line (ids "
        "taken as independent of households); each side is counted at its own, per "
        "country, with the error of that law shared by every country (hosts.thinning)"
    )
    return rest, stripped, note


def partition_cells(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> tuple[Cells, Support, Fit]:
    """Hosts per (window, country[, ASN]) of one partition's sightings (a view or table),
    each cell's support, and what the diagnostics found."""
    counts = _id_counts(con, query, relation)
    lent = Lent.from_counts(counts) if len(counts.machines) else None
    # Pools are judged on every sighting of the partition, once: the strip-the-ids check
    # must run the model the rows without ids get.
    mixes = mixing(con, query, relation)
    cells, support, fit, lines = _address_cells(con, query, relation, lent, mixes)
    if len(counts.machines) and cells:
        # The address model checked per network on the machines with ids (hosts.networks).
        view = "hosts_ids_without_ids"
        con.execute(without_ids_sql(view, relation))
        try:
            # The same model on both sides (hosts.networks): the model's stable networks,
            # and its split shares, measured on the rows without ids, taken as they are.
            model, _, _, model_lines = _address_cells(
                con, query, view, lent, mixes, frozenset(fit.stable), lines.split, relation
            )
        finally:
            con.execute(f"DROP VIEW IF EXISTS {view}")
        cells, split, split_note = _split_households(counts, cells, lines, model, model_lines)
        if split_note is not None:
            fit.ids.append(split_note)
        factors = network_factors(counts, split)
        # the note sets the ids against the IP-only model as it is, before the split
        fit.ids.append(strip_ids_note(counts, model, factors))
        cells = apply_factors(cells, factors)
        where, params = query.where()
        hits = check_ins(con, relation, where, params, window_start_sql(query))
        cells, widened = activity_check(cells, factors, counts.by_cell(), hits)
        if widened:
            fit.ids.append(activity_note(widened))
        # A widened cell is `widened`, its country too: its interval is narrowed as such
        # (hosts.answer), and the check's reach is sized for that (hosts.activity).
        for key in widened:
            for cell in (key, (key[0], key[1], None)):
                support[cell] = max(support.get(cell, ESTIMATE), WIDENED)
    if counts.merged > 0:
        fit.ids.append(
            f"bot ids: in the busiest window {counts.merged:,.0f} more machines than ids "
            "were seen at several addresses of one network at once, beyond what collisions "
            "between ids explain, and were not counted: one machine behind several egress "
            "addresses (an office, a carrier-grade NAT), not a cloned image (hosts.ids)"
        )
    for i, start in enumerate(counts.window_start.tolist()):
        first = EPOCH + timedelta(days=start)
        hosts = float(counts.machines[i] + counts.hidden[i])
        var = float(counts.hidden[i])
        for key in ((first, counts.cc[i], int(counts.asn[i])), (first, counts.cc[i], None)):
            old = cells.get(key, (0.0, 0.0, 0.0))
            cells[key] = (old[0] + hosts, old[1] + var, old[2])
            support.setdefault(key, ESTIMATE)
            fit.counted[key] = fit.counted.get(key, 0.0) + float(counts.machines[i])
    return cells, support, fit
