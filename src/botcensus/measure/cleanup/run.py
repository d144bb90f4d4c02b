"""`botcensus cleanup` as one call: weekly counts (from sightings, or sketches when raw rows
are gone), decay overall and per group, intervention marks, survival and the notification
effect, gathered into one result for the CLI and the report to render."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.measure.census import CensusQuery, coverage
from botcensus.measure.cleanup.address_check import (
    AddressRates,
    address_rates,
    check_decay,
    from_offices,
    from_parts,
    overall,
)
from botcensus.measure.cleanup.checks import (
    WIDEST_HR,
    Figure,
    bend_notes,
    checked_hazard,
    checked_survival,
    decay_hazard,
    unchecked_notes,
)
from botcensus.measure.cleanup.decay import (
    DecayFit,
    Mark,
    complete_weeks,
    decay_table,
    fit_decay,
    mark_effects,
    no_rate,
)
from botcensus.measure.cleanup.hosts_series import (
    BOUNDS_NOTE,
    HOUSEHOLD_NOTE,
    arm_fits,
    host_weeks,
)
from botcensus.measure.cleanup.id_check import IDS, IdDecay, check_ids, id_decays
from botcensus.measure.cleanup.network_check import (
    NetworkShare,
    network_shares,
    network_weeks,
    slow_networks,
)
from botcensus.measure.hosts import with_hourly
from botcensus.measure.hosts.answer import NetworkWeek
from botcensus.measure.hosts.ids import MIN_MACHINES
from botcensus.measure.hosts.model import HOUSEHOLD
from botcensus.measure.hosts.sprayed import without_sprayed
from botcensus.measure.sketches_census import Sketches, census_answer, sketch_relation
from botcensus.measure.survival import (
    HazardRatio,
    cox_notified,
    curves_by_group,
    landmark_rows,
    stable_networks,
    survival_summary,
)
from botcensus.measure.survival.silence import DEFAULT_RULE, SilenceRule, claimed, survival_rows

MIN_FOLLOWED_IDS: Final = MIN_MACHINES
"""Bot ids in the range from which survival follows them alone, not addresses too
(hosts.ids.MIN_MACHINES: as many as a country needs to lend its days active). Set after the
twelfth held-out set had been seen: with the addresses of networks judged to keep one line,
the hazard ratio read 0.97, 1.31 and 0.73 where a perfect observer's is 1.33, 1.98 and 1.52
(b-sparse seed 14, c-office seed 2, b-mobile seed 1, all with ids on 30% of the machines);
from the ids alone 1.23, 1.62 and 1.15 (development figures, docs/measurement.md)."""

By = Literal["country", "asn"]
Count = Literal["addresses", "hosts"]


class CleanupDataError(ValueError):
    """The data cannot give a clean-up result (nothing in range, a reversed range, estimates
    without raw sightings): the message says why, in words fit for a report page."""


@dataclass(frozen=True, slots=True)
class CleanupQuery:
    """What `botcensus cleanup` was asked."""

    by: By | None = None
    date_from: date | None = None
    date_to: date | None = None
    family: str | None = None
    week_ends: str = "sat"
    marks: tuple[Mark, ...] = ()
    rule: SilenceRule = DEFAULT_RULE
    notified: pa.Table | None = None
    """asn | cc | identity, notified, day: a campaign with a hold-out (optional)."""
    min_count: float = 20.0
    """Groups smaller than this in their first week get no rate."""
    count: Count = "addresses"
    """What the decay is fitted to: weekly unique addresses (exact, or from sketches), or the
    weekly host estimates (measure.hosts; raw sightings only)."""
    today: date | None = None
    """The UTC day the run is in, not over: a week holding it is partial, left out of the
    decay (census.CensusQuery.today). None: every day is over."""


@dataclass(frozen=True)
class CleanupResult:
    """Everything the cleanup command prints and the report draws."""

    unit: str
    """Of the weekly counts: `unique_ip`, or `unique_ip_hll` from sketches."""
    source: str
    reason: str
    weekly: pa.Table
    """Complete weeks overall: window_start, window_end, the unit's column."""
    fit: DecayFit | None
    decay: pa.Table
    """decay_table rows: overall, then per group when asked."""
    marks: pa.Table
    curves: pa.Table | None
    """Kaplan–Meier curves per group (None: no raw sightings to follow identities)."""
    survival: pa.Table | None
    thresholds: pa.Table | None
    hazard: HazardRatio | None
    notes: tuple[str, ...]
    effect: Figure | None = None
    """The notification effect as checked (cleanup.checks): the Cox ratio where the decay of
    the host estimates agrees, bounds where it does not (`--count hosts` and a campaign of
    networks; otherwise the Cox ratio labelled `identities`)."""
    decay_support: str = "estimate"
    """Of the overall decay: `estimate`, or `bounds` where the host estimates fall more
    slowly than their addresses (cleanup.address_check; `fit` is then None and the overall
    decay row holds the lower bound on the rate); `none` without a rate."""
    decay_reason: str | None = None
    """Why the overall decay is not supported (None where it is)."""


def _span(
    con: duckdb.DuckDBPyConnection, relation: str, sketches: Sketches
) -> tuple[date | None, date | None]:
    days = sketches if isinstance(sketches, str) else sketches.select(["day"])
    with sketch_relation(con, days, "span_sketches") as sketched:
        row = con.sql(
            f"SELECT min(day), max(day) FROM (SELECT day FROM {relation} "  # noqa: S608
            f"UNION ALL SELECT day FROM {sketched})"
        ).fetchall()[0]
    return row[0], row[1]


def _followed_note(seen: int, rows: pa.Table, networks: Mapping[tuple[str, int], float]) -> str:
    """How many of the `seen` identities survival follows, and why not the rest."""
    n = len(networks)
    which = (
        "bot ids only (no network keeps an address to one machine); addresses are"
        if n == 0
        else f"bot ids, and addresses in the {n:,} network{'s' if n > 1 else ''} where an "
        "address is one machine; addresses elsewhere are"
    )
    return (
        f"survival follows {rows.num_rows:,} of {seen:,} identities: {which} renumbered while "
        "their machines stay infected, so their silence says nothing about clean-up "
        "(docs/measurement.md)"
    )


def _returned_note(rows: pa.Table) -> str | None:
    """How many bot ids came back after a silence longer than their threshold (read as
    cleaned and reinfected: survival.silence, rule 4); None where none did."""
    returned = pc.sum(rows["returned"]).as_py() if "returned" in rows.column_names else 0
    if not returned:
        return None
    return (
        f"survival: {returned:,} bot ids were seen again after a silence longer than their "
        "network's threshold; each is read as cleaned at the silence and reinfected (a bot "
        "keeps an id it derives from the machine), its return not followed, and the share "
        "still infected is of first infections. A machine switched off that long looks the "
        "same: the upper end of the share's interval also reads them as one infection going "
        "on (surviving_Nd_ongoing)"
    )


def _asked(query: CleanupQuery) -> str:
    """The family and range asked for, as the end of "no sightings or sketches …"."""
    of = "" if query.family is None else f" of {query.family}"
    match query.date_from, query.date_to:
        case None, None:
            return of
        case first, None:
            return f"{of} on or after {first}"
        case None, last:
            return f"{of} on or before {last}"
    return f"{of} between {query.date_from} and {query.date_to}"


def cleanup(
    con: duckdb.DuckDBPyConnection, relation: str, sketches: Sketches, query: CleanupQuery
) -> CleanupResult:
    """Run every clean-up estimator over a sightings relation (and sketch rows, or the name
    of a relation holding them)."""
    lo, hi = _span(con, relation, sketches)
    first, last = query.date_from or lo, query.date_to or hi
    if first is None or last is None:
        raise CleanupDataError("no sightings or sketches in the dataset")
    base = CensusQuery(
        window="week", week_ends=query.week_ends, date_from=first, date_to=last,
        family=query.family, today=query.today,
    )  # fmt: skip
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise CleanupDataError(f"the range {first} to {last} ends before it starts")
    # ids sprayed from one address are not machines (hosts.sprayed): not counted, not followed
    relation, spray = without_sprayed(con, relation)
    answer = census_answer(con, base, relation, sketches)
    if answer.table.num_rows == 0:
        # An error, not empty tables: empty tables read as "nothing left to clean up".
        raise CleanupDataError(
            f"no sightings or sketches{_asked(query)} (the data runs from {lo} to {hi})"
        )
    notes = [answer.reason]
    gap = long_gaps(answer.table["window_start"].to_pylist(), query.date_from is None)
    if gap:
        notes.append(gap)
    sprayed = spray.note()
    if sprayed:
        notes.append(sprayed)
    household = crowded = False
    offices: tuple[tuple[str, int], ...] = ()
    addresses = None
    networks: tuple[NetworkWeek, ...] = ()
    if query.count == "hosts":
        if answer.source != "sightings":
            raise CleanupDataError(f"host estimates need raw sightings ({answer.reason})")
        addresses = with_hourly(con, answer.table, base, relation)
        table, hosts = host_weeks(con, base, relation)
        answer = replace(answer, table=table, unit="hosts")
        household, crowded, offices = hosts.household, hosts.crowded, hosts.offices
        networks = hosts.networks
        if pc.any(pc.equal(table["hosts_support"], "bounds")).as_py():
            notes.append(BOUNDS_NOTE)
        if household:
            notes.append(HOUSEHOLD_NOTE)
    full = _full_weeks(con, base, relation if answer.source == "sightings" else sketches)
    inside = complete_weeks(answer.table, first, last)
    weekly = _only(inside, full)
    ends = [e for e in inside["window_end"].to_pylist() if query.today and e >= query.today]
    short = inside.num_rows - weekly.num_rows - len(ends)
    if short:
        notes.append(
            f"left out {short} week(s) inside the range with data on fewer than 7 days "
            "(a partial week would read as a sudden fall)"
        )
    if ends:
        notes.append(f"left out the week that holds today ({query.today}, UTC): it is not over")
    count = answer.unit
    decay = decay_table(weekly, count=count, min_count=query.min_count)
    fit = None
    starts = weekly["window_start"].to_pylist()
    times = [(s - starts[0]).days / 7.0 for s in starts]
    unfitted = _no_rate_reason(decay, query.min_count)
    if unfitted is None:  # the fit the overall row holds (decay_table)
        fit = fit_decay(times, weekly[count].to_pylist())
    rates: dict[str | None, AddressRates] = {}
    group_rates: dict[str | None, AddressRates] = {}
    ids: dict[str | None, IdDecay] = {}
    group_ids: dict[str | None, IdDecay] = {}
    overall_rows = decay.num_rows  # the rows before any --by group's (group None: overall)
    if addresses is not None:
        rates = address_rates(
            _only(complete_weeks(addresses, first, last), full), min_count=query.min_count
        )
        ids = id_decays(weekly, min_count=query.min_count)
    if query.by is not None:
        by_query = replace(base, by=(query.by,))
        grouped = (
            host_weeks(con, by_query, relation)[0]
            if query.count == "hosts"
            else census_answer(con, by_query, relation, sketches).table
        )
        grouped = _only(complete_weeks(grouped, first, last), full)
        by_group = decay_table(grouped, count=count, group=query.by, min_count=query.min_count)
        decay = pa.concat_tables([decay, by_group], promote_options="default")
        if addresses is not None:
            group_ids = id_decays(grouped, group=query.by, min_count=query.min_count)
            # apart from the overall rates: a group without a country or ASN is keyed None too
            group_rates = _group_rates(
                con, by_query, relation, sketches, (first, last), full, query.min_count
            )
    support, why = ("estimate", None) if fit is not None else ("none", unfitted)
    if unfitted is not None:
        notes.append(
            f"decay not computed: {unfitted} (complete weeks ending on "
            f"{query.week_ends}, with data on every day, from {first} to {last})"
        )
    if query.by is not None:
        notes.extend(_groups_unfitted(decay, query.by))
    shares: tuple[dict[object, NetworkShare], dict[object, NetworkShare]] = ({}, {})
    if addresses is not None and weekly.num_rows:
        net_rates = group_rates if query.by == "asn" else None
        slow = _slow_networks(
            con, base, relation, sketches, networks, (first, last), full, query.min_count,
            crowded=crowded or bool(offices), offices=offices, rates=net_rates,
        )  # fmt: skip
        start = min(weekly["window_start"].to_pylist())
        shares = (
            network_shares(networks, slow, start, None),
            {} if query.by is None else network_shares(networks, slow, start, query.by),
        )
    if addresses is not None:
        decay = _in_parts(
            decay, overall_rows,
            lambda part, whole: check_ids(
                part, ids if whole else group_ids, crowded=crowded or bool(offices),
                floors={k: r.faster for k, r in (rates if whole else group_rates).items()},
            ),
        )  # fmt: skip
        top = overall(decay)
        if top is not None and top.get("id_reason"):
            fit = fit_decay(times, weekly[IDS].to_pylist())  # the ids' (id_check)
        decay = _in_parts(
            decay, overall_rows,
            lambda part, whole: check_decay(
                part, rates if whole else group_rates,
                offices=_office_groups(offices, None if whole else query.by),
                parts={k: v.reason() for k, v in shares[0 if whole else 1].items() if v.withholds},
            ),
        )  # fmt: skip
        top = overall(decay)
        if top is not None and top["support"] == "estimate" and top.get("id_reason"):
            notes.append(f"decay of hosts from the machines with bot ids: {top['id_reason']}")
        if top is not None and top["support"] == "estimate" and top.get("support_reason"):
            why = top["support_reason"]  # an estimate the addresses could not check
            notes.append(f"decay of hosts {why}")
        if top is not None and top["support"] == "bounds":
            support, why, fit = "bounds", top["support_reason"], None
            lower = top["rate_lower"]
            bound = (
                f"the machines' rate is at least {lower:.4f} a week (the lower end of the "
                "weekly distinct addresses' rate's 95% interval; share still infected after "
                f"d days at most exp(-{lower:.4f} d/7))"
                if lower is not None
                else "no lower bound on the machines' rate (the distinct addresses' decay not "
                "fitted, or its interval reaches zero)"
            )
            notes.append(
                f"decay of hosts not supported by these data (decay support bounds): {why}; "
                f"{bound}; the share still infected from the decay is bounds only and the "
                "hazard ratio from the decay arms is not computed"
            )
    marks = mark_effects(weekly, list(query.marks), count=count)
    if answer.source != "sightings":
        notes.append("survival and notification effect need raw sightings: not computed")
        return CleanupResult(
            count, answer.source, answer.reason, weekly, fit, decay, marks, None, None, None,
            None, tuple(notes), decay_support=support, decay_reason=why,
        )  # fmt: skip
    part = _follow(con, relation, base, query, (first, last), decay, household, crowded, weeks=full)
    return CleanupResult(
        count, answer.source, answer.reason, weekly, fit, decay, marks, part.curves,
        part.summary, part.thresholds, part.hazard, tuple(notes + part.notes), part.effect,
        decay_support=support, decay_reason=why,
    )  # fmt: skip


def _no_rate_reason(decay: pa.Table, min_count: float) -> str | None:
    """Why the overall row (the first) has no rate, or None where it has one."""
    if not decay.num_rows:
        return no_rate(np.zeros(0), min_count)  # no complete week at all
    if "no_rate_reason" not in decay.column_names:
        return None
    reason = decay["no_rate_reason"][0].as_py()
    return None if reason is None else str(reason)


def _groups_unfitted(decay: pa.Table, by: str) -> list[str]:
    """One note counting the --by groups without a rate, by reason."""
    if "no_rate_reason" not in decay.column_names:
        return []
    groups = decay.filter(pc.is_valid(decay["group"]))
    reasons = [r for r in groups["no_rate_reason"].to_pylist() if r is not None]
    if not reasons:
        return []
    kinds = Counter(r.split(" (")[0] for r in reasons)  # decay.no_rate: "kind (figures)"
    shown = "; ".join(f"{kind}: {n}" for kind, n in kinds.most_common())
    return [f"decay: {len(reasons)} of {groups.num_rows} {by} groups have no rate ({shown})"]


def _slow_networks(
    con: duckdb.DuckDBPyConnection,
    base: CensusQuery,
    relation: str,
    sketches: Sketches,
    networks: Sequence[NetworkWeek],
    span: tuple[date, date],
    full: set[date],
    min_count: float,
    *,
    crowded: bool,
    offices: Sequence[tuple[str, int]],
    rates: Mapping[str | None, AddressRates] | None,
) -> frozenset[str]:
    """The networks (ASNs as strings) whose own decay of hosts is slower than their own
    addresses' (cleanup.network_check); `rates`: their address rates where `--by asn`
    fitted them already."""
    weekly = _only(complete_weeks(network_weeks(networks), *span), full)
    if weekly.num_rows == 0:
        return frozenset()
    if rates is None:
        rates = _group_rates(
            con, replace(base, by=("asn",)), relation, sketches, span, full, min_count
        )
    return slow_networks(
        weekly, rates, crowded=crowded, offices=_office_groups(offices, "asn"),
        min_count=min_count,
    )  # fmt: skip


def _group_rates(
    con: duckdb.DuckDBPyConnection,
    by_query: CensusQuery,
    relation: str,
    sketches: Sketches,
    span: tuple[date, date],
    full: set[date],
    min_count: float,
) -> dict[str | None, AddressRates]:
    """Per group of `by_query` (one group column), the decay of its weekly distinct and
    hourly addresses over the complete weeks of `span` with data on every day (`full`)."""
    counted = census_answer(con, by_query, relation, sketches).table
    weekly = with_hourly(con, counted, by_query, relation)
    return address_rates(
        _only(complete_weeks(weekly, *span), full), group=by_query.by[0], min_count=min_count
    )


def _office_groups(offices: Sequence[tuple[str, int]], by: str | None) -> set[object]:
    """The decay rows (keyed by group: None overall, a country or an ASN) whose host
    estimates hold networks that keep office hours (HostsAnswer.offices)."""
    if not offices:
        return set()
    if by is None:
        return {None}
    return {cc or None for cc, _ in offices} if by == "country" else {str(a) for _, a in offices}


def _full_weeks(con: duckdb.DuckDBPyConnection, query: CensusQuery, counted: Sketches) -> set[date]:
    """Starts of the weeks with data on all 7 days (census.coverage over the relation, or
    the sketch rows, the weekly counts came from)."""
    with sketch_relation(con, counted, "cleanup_coverage") as relation:
        rows = coverage(con, query, relation).to_pylist()
    return {r["window_start"] for r in rows if r["days_covered"] >= query.days}


def _in_parts(
    decay: pa.Table, overall_rows: int, check: Callable[[pa.Table, bool], pa.Table]
) -> pa.Table:
    """A check run on the overall rows (the first `overall_rows`; its second argument True)
    and on the --by groups' apart (False): a group without a country or ASN is keyed None
    too, so each part needs its own keyed figures."""
    return pa.concat_tables(
        [check(decay.slice(0, overall_rows), True), check(decay.slice(overall_rows), False)],
        promote_options="default",
    )


def _only(weekly: pa.Table, starts: set[date]) -> pa.Table:
    keep = [s in starts for s in weekly["window_start"].to_pylist()]
    return weekly.filter(pa.array(keep, pa.bool_()))


@dataclass
class _Followed:
    curves: pa.Table
    summary: pa.Table
    thresholds: pa.Table
    hazard: HazardRatio | None
    effect: Figure | None
    notes: list[str]


def _follow(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    base: CensusQuery,
    query: CleanupQuery,
    span: tuple[date, date],
    decay: pa.Table,
    household: bool,
    crowded: bool = False,
    *,
    weeks: set[date] | None = None,
) -> _Followed:
    """Survival and the notification effect from identities, each checked against the decay
    of the host estimates where the decay is of hosts (cleanup.checks). Addresses are
    followed as machines only in networks where an address is one machine
    (survival.stable_networks), and only where the sightings hold fewer than
    MIN_FOLLOWED_IDS bot ids: an id is a machine wherever it is seen, an address is one only
    as far as that judgement holds. `crowded`: bot ids show more machines behind one address
    than the household law allows (hosts.crowded)."""
    first, last = span
    where, params = claimed(first, last, query.family)
    sql = (
        "SELECT count(DISTINCT bot_id), count(DISTINCT coalesce(bot_id, source_ip)) "  # noqa: S608 (values are parameters)
        f"FROM {relation} WHERE {where}"
    )
    ((ids, seen),) = con.execute(sql, params).fetchall()
    by_id = crowded or ids >= MIN_FOLLOWED_IDS
    networks = (
        {} if by_id else stable_networks(con, relation, first=first, last=last, family=query.family)
    )
    rows, thresholds = survival_rows(
        con, relation, first=first, last=last, family=query.family, rule=query.rule,
        networks=networks,
    )  # fmt: skip
    notes = [_followed_note(int(seen), rows, networks)]
    returned = _returned_note(rows)
    if returned:
        notes.append(returned)
    if by_id:
        why = (
            "they show more machines behind one address than the household law allows "
            "(hosts.crowded), so an address in a network where it seems to be one line may "
            "be an office's, infected until its last machine is cleaned"
            if crowded
            else f"{ids:,} machines carry one; an address is one machine only as far as its "
            "network is judged to keep it to one line, and a misjudged network's renumbering "
            "reads as clean-ups"
        )
        notes.append(f"survival follows bot ids only: {why}")
    group = {"country": "cc", "asn": "asn", None: None}[query.by]
    curves = curves_by_group(rows, first, None)
    if group is not None:
        # no group may have enough identities: its table is then the `group` column alone
        grouped = curves_by_group(rows, first, group)
        curves = pa.concat_tables([curves, grouped], promote_options="default")
    summary = survival_summary(curves)
    hosts = query.count == "hosts"
    if hosts:
        by_group: dict[str | None, dict[str, Any]] = {}
        for r in decay.to_pylist():  # the overall row first: a group keyed None comes later
            if r.get("rate_per_week") is not None or r.get("support") == "bounds":
                by_group.setdefault(r["group"], r)
        # ids alone are machines: no lines to turn into machines
        lines = household and not by_id
        summary = checked_survival(summary, by_group, HOUSEHOLD if lines else None, by_id=by_id)
        notes.append(SURVIVAL_NOTE)
        if not by_id:
            notes.extend(bend_notes(by_group, query.by))
            notes.extend(unchecked_notes(summary, by_group, query.by))
    hazard = effect = None
    late = None if query.notified is None else after_the_data(query.notified, last)
    if late:
        notes.append(late)
    elif query.notified is not None:
        frame = landmark_rows(rows, query.notified)
        clustered = "identity" not in query.notified.column_names
        try:
            hazard = cox_notified(frame, clustered=clustered)
        except ValueError as exc:  # a campaign without a hold-out must not cost the rest
            notes.append(f"notification effect from identities not computed: {exc}")
        by_decay = None
        top = overall(decay) if hosts else None
        if top is not None and top.get("support") == "bounds":
            why = (
                "counted from networks that keep office hours"
                if from_offices(top)
                else "most of its first week is in networks that fall more slowly than their "
                "own addresses"
                if from_parts(top)
                else "slower than the addresses it is counted from"
            )
            notes.append(
                "notification effect from the host decay not computed: the decay of hosts is "
                f"not supported by these data ({why})"
            )
        elif "identity" not in query.notified.column_names:
            # Without host estimates, the arms' unique addresses: a renumbered address does
            # not leave the weekly count as it leaves a followed identity, so this still
            # checks Cox (the demo's Rustock campaign: Cox 0.46 [0.28, 0.76] on followed
            # addresses, the addresses' decay 1.21 [0.99, 1.49], a perfect observer 1.32).
            count = "hosts" if hosts else "unique_ip"
            told, holdout = arm_fits(
                con, base, relation, query.notified, last, count=count, full=weeks
            )
            by_decay = decay_hazard(told, holdout)
            if by_decay is None:
                notes.append(
                    f"notification effect from the decay of {_DECAY[hosts]} not computed: fewer "
                    "than three complete weeks after the campaign, or an arm whose count does "
                    "not fall"
                )
        cox = None if hazard is None else (hazard.hazard_ratio, hazard.lower, hazard.upper)
        effect = checked_hazard(cox, by_decay)
        notes.append(_effect_note(effect, cox, by_decay, _DECAY[hosts]))
    return _Followed(curves, summary, thresholds, hazard, effect, notes)


GAP_WEEKS: Final = 4
"""More weeks than this without data inside the range are named (an archive's old years)."""


def long_gaps(starts: list[date], from_data: bool) -> str | None:
    """The note on runs of more than GAP_WEEKS weeks without data between weeks with data
    (how many, the longest, the week the last one ends at): time to clean-up counts from the
    range's first day, and a sensor that was off looks like machines cleaned. None where
    there is none."""
    weeks = sorted(set(starts))
    gaps = [(b - a).days // 7 - 1 for a, b in itertools.pairwise(weeks)]
    long = [(n, weeks[i + 1]) for i, n in enumerate(gaps) if n > GAP_WEEKS]
    if not long:
        return None
    after = long[-1][1]
    hint = f"; give --from {after} to start after the last" if from_data else ""
    return (
        f"the range has {len(long)} run(s) of more than {GAP_WEEKS} weeks without data (the "
        f"longest {max(n for n, _ in long)} weeks; the last ends before the week of {after}): "
        f"time to clean-up counts from the range's first day{hint}"
    )


def after_the_data(notified: pa.Table, last: date) -> str | None:
    """The note where every notification day of the table is after the data's `last` day
    (a table for other data, or a campaign not followed yet): neither view of the effect
    has a day to count from, and their own notes would not say why."""
    first = pc.min(notified.column("day")).as_py()
    if first is None or first <= last:
        return None
    return (
        f"notification effect not computed: the first notification day in the table "
        f"({first}) is after the data's last day ({last}); is the table for these data?"
    )


SURVIVAL_NOTE = (
    "survival: the share still infected is checked against the decay of the host estimates, "
    "bot ids against that of the machines counted by id "
    "(surviving_Nd_support: estimate where both agree, bounds where they do not or where, "
    "without bot ids, the count bends or the decay alone gives it from a count too short "
    "or too noisy to test for a bend (surviving_bounds_reason), identities or decay where only "
    "one could be computed; past the last day bot ids reach, the "
    "decay goes on from their share then); following addresses mistakes a renumbered "
    "address for a clean-up, and the decay counts new infections with the old"
)


_DECAY: Final = {True: "the host estimates", False: "the unique addresses"}
"""What the decay's ratio of the notification effect is of (`--count hosts` or not)."""


def _effect_note(
    effect: Figure,
    cox: tuple[float, float, float] | None,
    decay: tuple[float, float, float] | None,
    of: str = _DECAY[True],
) -> str:
    def show(x: tuple[float, float, float] | None) -> str:
        return "not computed" if x is None else f"{x[0]:.2f} [{x[1]:.2f}, {x[2]:.2f}]"

    verdict = {
        "estimate": f"{effect.value:.2f} (both agree)" if effect.value is not None else "",
        "bounds": "not supported by these data"
        + (
            f" (its 95% interval spans more than a factor of {WIDEST_HR:.0f}: too few "
            "identities or clean-ups to tell a campaign that helped from one that did not)"
            if effect.reason == "wide"
            else ""
        )
        + (
            f": bounds {effect.lower:.2f} to {effect.upper:.2f}"
            if effect.lower is not None and effect.upper is not None
            else ""
        ),
        "identities": "the identities' figure only",
        "decay": f"from the decay of {of} only (a constant hazard assumed)",
        "none": "not computed",
    }[effect.support]
    return (
        f"notification hazard ratio: {verdict}; Cox on identities {show(cox)}, ratio of the "
        f"decay rates of {of} after the campaign {show(decay)}"
    )
