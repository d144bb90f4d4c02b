"""Whether the data support a host estimate: diagnostics computed from the sightings, the
support of each estimate, and the interval widening they call for.

Each estimate carries `hosts_support`:

- `estimate`: every figure the model uses was measured in these data;
- `widened`: a figure could not be measured here and was assumed or borrowed (no common
  check-in timer, so machines sharing an address were assumed; no stable network in the
  country, so days active came from other countries; estimates that scatter from week to
  week beyond their intervals): the interval carries that error;
- `bounds`: no network anywhere where an address follows one line, so how many days a
  machine is active is unknown: no estimate (hosts_est empty), only the bounds between one
  machine per address-day and every machine active every day of the window (and up to
  half of the address-days split by renumbering).

The notes say which diagnostic failed and what it changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final

import numpy as np

from botcensus.measure.hosts.crowded import Crowding
from botcensus.measure.hosts.model import (
    BOUNDS,
    BUSY_EXCESS,
    ESTIMATE,
    HOUSEHOLD,
    HOUSEHOLD_SD,
    MAX_LENDER_SPREAD,
    MIN_LENDERS,
    WIDENED,
    WIDENED_SCALE,
    WITHIN_SPREAD,
    Z90,
)
from botcensus.measure.hosts.office import QuietAddresses, Weekends
from botcensus.measure.hosts.pools import MAX_PRESENCE, MAX_SHARE, Mixing

SUPPORT: Final = ("estimate", "widened", "bounds")
"""hosts_support values, by the model's ESTIMATE, WIDENED and BOUNDS codes."""
MIN_SCATTER_WINDOWS: Final = 4
"""Complete windows a group needs before its week-to-week scatter is judged."""

BOUNDS_NOTE: Final = (
    "host estimates, bounds: hosts_lo is the smaller of every machine active on every day of "
    "the window (with up to half the address-days split by renumbering) and the peak hourly "
    "distinct IPv4 addresses that checked in that hour (or between two check-ins at most an "
    "hour apart; a machine holds one IPv4 address at a time; not so behind "
    "carrier-grade NAT that picks an address per connection), each failing where the "
    "other may hold; hosts_hi the "
    "smaller of one machine per address-day and, without a check-in timer, the unique "
    "addresses times the most machines per address assumed (no address serves more machines "
    "over the window: not so behind carrier-grade NAT that does not rotate its addresses)"
)
"""What the bounds assume (hosts.bounds, hosts.answer)."""

DAYONLY_NOTE: Final = (
    "host estimates not supported by these data: the sightings show no time within a day "
    "(one row per address and day) and no check-in timer, so how many of the address-days "
    "renumbering split off a machine's day cannot be counted, nor how many machines share an "
    "address; hosts_est left empty, only bounds (hosts_support bounds): hosts_lo is half the "
    "busiest day's distinct IPv4 addresses (a machine holds at most two addresses a day, one "
    "at a time), hosts_hi the unique addresses times the most machines per address assumed; "
    "where the model could not estimate either, its own bounds"
)
"""Why only bounds where the sightings have no time within a day (Fit.dayonly)."""

Key = tuple[object, ...]
"""(window start, the query's group values...)."""

DISAGREE: Final = {
    "hourly": "below the peak hourly distinct addresses (a lower bound)",
    "addresses": "above the unique addresses times the most machines per address assumed "
    "(an upper bound)",
    "busiest": "more than "
    + f"{BUSY_EXCESS:.1f} times its busiest hour's distinct IPv4 addresses times the machines "
    "per busiest-hour address of the stable networks (counted, not modelled; times the most "
    "machines per address assumed), or a country of its window (or the window as a whole) "
    "did: far more host-days per machine than the data show anywhere (addresses that split a "
    "machine's day into many?), and the days active and machines per address the model "
    "applies are shared by every country",
}
"""Why an estimate was ruled out by a cross-check (Fit.disagree), by its key."""


def _listed(named: list[str], total: int) -> str:
    """The first networks named, and how many more there are of `total`."""
    return ", ".join(named) + (f", {total - len(named)} more" if total > len(named) else "")


@dataclass
class Fit:
    """What the diagnostics found in one query's data."""

    untimed: bool = False
    """No common check-in timer: machines behind one address assumed (model.HOUSEHOLD)."""
    borrowed: set[str] = field(default_factory=set)
    """Countries with no stable network of their own (days active from other countries)."""
    unchecked: set[str] = field(default_factory=set)
    """Countries whose stable networks lend their days active to their other networks,
    where no country has two stable networks to show how far networks differ."""
    bracketed: set[str] = field(default_factory=set)
    """Countries with only bounds: no stable network anywhere, or too few countries lending
    (model.MIN_LENDERS), and no bot ids."""
    fragile: set[str] = field(default_factory=set)
    """Why bounds where some countries lend (`lenders`): `few` (one lender, nothing to
    check it against), `disagree` (two, further apart than model.lender_spread) or `busier`
    (two whose stable addresses hold check-ins further apart than model.MAX_LENDER_SPREAD)."""
    lenders: set[str] = field(default_factory=set)
    """Where `fragile`: the countries that have a stable network of their own."""
    disagree: dict[str, int] = field(default_factory=dict)
    """Estimates outside an independent bound (hosts.bounds), by which: `hourly` (below the
    peak hourly distinct addresses), `addresses` (above the unique addresses times the
    most machines per address assumed) and `busiest` (above the busiest hour's addresses
    times what the stable networks show per busiest-hour address); those rows have only
    bounds."""
    dayonly: bool = False
    """The sightings show no time within a day and no timer (hosts.answer): only bounds."""
    stable: set[tuple[str, int]] = field(default_factory=set)
    """(country, ASN) of the stable networks (an address follows one line there)."""
    split_few: set[tuple[str, int]] = field(default_factory=set)
    """Networks whose address-days carry far less than a host's day (hosts.split)."""
    pools: dict[tuple[str, int], Mixing] = field(default_factory=dict)
    """Networks that passed every test of stability but were set apart as pools handed
    round (hosts.pools)."""
    scatter: dict[Key, float] = field(default_factory=dict)
    """Per group (window start left out): the extra standard deviation of the log estimate
    that its week-to-week scatter calls for."""
    ids: list[str] = field(default_factory=list)
    """What the strip-the-ids check found (hosts.networks), one line per partition."""
    counted: dict[tuple[date, str, int | None], float] = field(default_factory=dict)
    """Per cell (window start, country, ASN or None) of one partition: the machines counted
    from their bot ids (hidden collisions apart), a lower bound on the cell's machines."""
    raised: int = 0
    """Rows whose lower bound the machines counted from bot ids raised (hosts.answer)."""
    mixed: int = 0
    """Rows that sum groups with an estimate and groups with only bounds, whose bounds are
    built from those parts (hosts.answer)."""
    crowded: Crowding | None = None
    """Without a timer: how many address-days show several bot ids (hosts.crowded); where
    more than the household law allows, only bounds (hosts.answer)."""

    offices: dict[tuple[str, int], Weekends] = field(default_factory=dict)
    """Without a timer: networks whose addresses keep office hours (hosts.office)."""
    quiet: dict[tuple[str, int], QuietAddresses] = field(default_factory=dict)
    """Without a timer: the other networks whose addresses quiet at weekends show offices
    (hosts.office.quiet_addresses)."""
    office_rows: int = 0
    """Rows that hold addresses of those networks, so have only bounds (hosts.answer)."""

    def merge(self, other: Fit) -> None:
        self.untimed |= other.untimed
        self.borrowed |= other.borrowed
        self.unchecked |= other.unchecked
        self.bracketed |= other.bracketed
        self.fragile |= other.fragile
        self.lenders |= other.lenders
        self.split_few |= other.split_few
        self.stable |= other.stable
        self.pools |= other.pools
        self.ids += other.ids

    def _office_reasons(self) -> str:
        """Why networks were found to keep office hours, the five clearest of each test."""
        parts = []
        if self.offices:
            weekends = sorted(self.offices.items(), key=lambda kv: kv[1].ratio)[:5]
            named = [f"AS{asn} {cc or '?'} {w.ratio:.2f}" for (cc, asn), w in weekends]
            parts.append(
                "weekends carrying far fewer address-days than the weekdays around them, "
                f"Saturday and Sunday over Friday and Monday: {_listed(named, len(self.offices))}"
            )
        if self.quiet:
            quiet = sorted(self.quiet.items(), key=lambda kv: -kv[1].share)[:5]
            named = [
                f"AS{asn} {cc or '?'} {q.quiet} addresses, {q.share:.0%}" for (cc, asn), q in quiet
            ]
            parts.append(
                "addresses seen on weekdays and hardly ever at weekends, how many and the share "
                f"of the network's address-days they carry: {_listed(named, len(self.quiet))}"
            )
        return "; ".join(parts)

    def notes(self) -> list[str]:
        """What a reader must be told, one sentence each."""
        out = []
        crowded = self.untimed and self.crowded is not None and self.crowded.contradicts
        if crowded and self.crowded is not None:
            c = self.crowded
            out.append(
                f"host estimates not supported by these data: {c.share:.0%} of the "
                f"{c.id_days:,} address-days with a bot id show two ids or more, more than "
                "the households assumed without a check-in timer allow (at most "
                f"{c.allowed:.0%}, every machine with an id): machines behind one address are "
                "not known (offices behind NAT, pools shared between lines); hosts_est left "
                "empty, only bounds (hosts_support bounds); hosts_hi is not capped by the "
                "unique addresses times the most machines per address (next note): it is the "
                f"model's bracket of days active, which still takes {HOUSEHOLD:.2f} machines "
                "per address-day and can be low behind large offices"
            )
        if self.office_rows:
            out.append(
                f"host estimates not supported in {self.office_rows} row(s): they hold "
                f"addresses of {len(self.offices) + len(self.quiet)} network(s) that keep "
                f"office hours ({self._office_reasons()}). An office behind NAT hides a "
                "site of machines behind one address, and "
                "nothing in these sightings counts them: those rows have only bounds "
                "(hosts_support bounds), and their hosts_hi is not capped by the unique "
                "addresses times the most machines per address: it is the model's bracket of "
                f"days active, which still takes {HOUSEHOLD:.2f} machines per address-day and "
                "can be low behind large offices; in a partial window it is no lower than the "
                "same row's in the complete window next to it (a short window's bracket is "
                "narrow)"
            )
        if self.dayonly:
            out.append(DAYONLY_NOTE)
        elif self.bracketed or self.disagree or crowded or self.office_rows:
            out.append(BOUNDS_NOTE)
        if self.raised:
            out.append(
                f"host bounds: in {self.raised} row(s) hosts_lo is the machines counted from "
                "their bot ids (each id one machine, hidden collisions apart), above the bound "
                "the addresses give"
            )
        if self.mixed:
            out.append(
                f"host bounds: {self.mixed} row(s) sum countries with an estimate and "
                "countries with only bounds, so they have only bounds: hosts_lo is the sum "
                "of the lower ends of the countries with an estimate (each its 90% "
                "interval's, before widened intervals are narrowed), hosts_hi the sum of their "
                "upper ends and the others' bounds, "
                "so the range is wider than 90% (not the bounds of the whole row, which take "
                "every country's days active as unknown)"
            )
        if self.untimed:
            low, high = (
                HOUSEHOLD * math.exp(-Z90 * HOUSEHOLD_SD),
                HOUSEHOLD * math.exp(Z90 * HOUSEHOLD_SD),
            )
            out.append(
                "host estimates: no common check-in timer in these sightings (reports "
                "aggregated per hour or day, or bots whose timers differ), so machines sharing "
                f"one address cannot be seen: {HOUSEHOLD:.2f} machines per address-day assumed "
                f"in the data's first full window (90% range {low:.2f}-{high:.2f}), fewer as "
                "lines are cleaned (a line stays infected until its last machine is; "
                "docs/measurement.md); intervals widened (hosts_support widened). That range "
                "is of households: behind business NAT (offices of several machines behind "
                "one address) the machines can be several times as many, and neither the "
                "estimate nor its interval covers that (docs/measurement.md, what falls short)"
            )
        borrowed = sorted(self.borrowed - self.bracketed)
        if borrowed:
            out.append(
                "host estimates: no network where an address follows one line in "
                f"{', '.join(c or '??' for c in borrowed)}: days active borrowed from other "
                "countries; intervals widened"
            )
        unchecked = sorted(self.unchecked - self.bracketed)
        if unchecked:
            out.append(
                f"host estimates: in {', '.join(c or '??' for c in unchecked)} days active "
                "come from the country's stable networks (an address follows one line there) "
                "and are lent to its other networks, whose machines may be online on fewer or "
                "more days; no country has two stable networks to show how far networks "
                f"differ, so a factor of {math.exp(WITHIN_SPREAD):.0f} is assumed (one "
                "standard deviation); intervals widened"
            )
        if self.pools:
            pools = sorted(self.pools.items(), key=lambda kv: kv[1].checkins)
            named = [
                f"AS{asn} {cc or '?'} {m.checkins:.2f} and {m.presence:.2f}"
                for (cc, asn), m in pools[:5]
            ]
            out.append(
                "host estimates: not taken as networks where an address follows one line, "
                "though their addresses return every day: they carry other machines from day "
                "to day (pools handed round: carrier-grade NAT, mobile). The share of the "
                "variance between addresses of check-ins per address-day (below "
                f"{MAX_SHARE}) and of the days an address is seen on (below {MAX_PRESENCE}); "
                f"a line keeps its machines and their habits: {_listed(named, len(pools))}"
            )
        if self.bracketed and self.fragile:
            lenders = ", ".join(c or "??" for c in sorted(self.lenders))
            n = len(self.lenders)
            why = []
            if "few" in self.fragile:
                why.append(
                    "one lender cannot be checked against another, and more countries would "
                    "borrow its days active"
                )
            if "busier" in self.fragile:
                why.append(
                    f"fewer than {MIN_LENDERS} lenders, whose stable addresses hold check-ins "
                    f"that differ by more than a factor of {math.exp(MAX_LENDER_SPREAD):.1f} "
                    "(one of them has more addresses than lines: renumbered within the day, "
                    "or lines that move between addresses), so their days active cannot be "
                    "lent"
                )
            if "disagree" in self.fragile:
                why.append(
                    f"fewer than {MIN_LENDERS} lenders, whose days active differ by more than a "
                    f"factor of {math.exp(MAX_LENDER_SPREAD):.1f} (in a whole week; in a "
                    "partial week of D days, less: the log of it times log(D) / log(7)), so "
                    "which is right is unknown"
                )
            out.append(
                "host estimates not supported by these data in "
                f"{', '.join(c or '??' for c in sorted(self.bracketed))}: "
                f"only {n} "
                f"countr{'y' if n == 1 else 'ies'} ({lenders}) ha{'s' if n == 1 else 've'} a "
                f"network where an address follows one line; {'; '.join(why)}; hosts_est left "
                "empty; hosts_lo and hosts_hi are bounds (hosts_support bounds)"
            )
        elif self.bracketed:
            out.append(
                "host estimates not supported by these data in "
                f"{', '.join(c or '??' for c in sorted(self.bracketed))}: no network anywhere "
                "where an address follows one line, so days active are unknown; hosts_est "
                "left empty; hosts_lo and hosts_hi are bounds (hosts_support bounds; "
                "docs/measurement.md, Support)"
            )
        for which, n in sorted(self.disagree.items()) if not self.dayonly else ():
            out.append(
                f"host estimates of {n} rows not supported by these data: the estimate fell "
                + DISAGREE[which]
                + ", so the model does not fit there; hosts_est left empty, only bounds "
                "(hosts_support bounds)"
            )
        if self.split_few:
            names = ", ".join(f"{cc or '??'} AS{asn}" for cc, asn in sorted(self.split_few))
            out.append(
                f"host estimates: in {names} an address-day holds under half the check-ins of "
                "a machine's day on the stable networks (an address per connection?): "
                "host-days taken as check-ins over a machine's day there, intervals widened"
            )
        if self.scatter:
            worst = max(self.scatter.values())
            out.append(
                f"host estimates of {len(self.scatter)} groups scatter from window to window "
                "beyond their intervals (against the hourly distinct addresses): intervals "
                f"widened by up to {math.exp(Z90 * WIDENED_SCALE * worst):.2f}x"
            )
        out += self.ids
        return out


def support_code(values: Iterable[int]) -> int:
    """The weakest support of the parts an estimate sums."""
    return max(values, default=ESTIMATE)


def scatter(
    series: Mapping[Key, Sequence[tuple[date, float, float, float]]],
) -> dict[Key, float]:
    """Per group: the extra standard deviation (of the log) its estimates need. `series`:
    per group, (window start, estimate, the variance of its log, hourly distinct addresses)
    of its complete windows. The log of estimate over hourly addresses should move smoothly
    (a linear trend: machines leave, their days online do not change much); the residual
    variance beyond what the estimates' own variances explain is added."""
    out: dict[Key, float] = {}
    for key, rows in series.items():
        rows = [r for r in rows if r[1] > 0 and r[3] > 0]
        if len(rows) < MIN_SCATTER_WINDOWS:
            continue
        t = np.arange(len(rows), dtype=np.float64)
        y = np.log([r[1] / r[3] for r in rows])
        slope, intercept = np.polyfit(t, y, 1)
        resid = y - (intercept + slope * t)
        observed = float(np.sum(resid**2) / (len(rows) - 2))
        # A window's own variance is mostly shared with its neighbours (the same reference
        # and assumptions every week): only sampling noise moves the ratio between windows.
        expected = float(np.mean([r[2] for r in rows]))
        extra = observed - expected
        if extra > 0:
            out[key] = math.sqrt(extra)
    return out


def support_names(codes: Sequence[int]) -> list[str]:
    return [SUPPORT[c] for c in codes]


__all__ = ["BOUNDS", "ESTIMATE", "SUPPORT", "WIDENED", "Fit", "scatter", "support_code"]
