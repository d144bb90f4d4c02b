"""Two views of clean-up that must agree before either is reported alone.

Following identities (an address or a bot id, until it falls silent for good: survival,
Cox) mistakes an address renumbered away from its machine for a clean-up, and sees lines,
not machines. Counting machines week by week (the decay of the host estimates) does not
follow anyone: it counts new infections and reinfections with the old, and a constant rate
is a model. Where both can be computed they are set against each other:

- they agree (their intervals meet, or their values are within AGREE): the identities'
  figure is reported (`estimate`);
- they disagree: no single figure is supported by these data, only bounds (`bounds`; for
  the hazard ratio, the bounds spanning both intervals; for the share still infected, below);
- only one could be computed: that one, labelled `identities` or `decay` (the latter rests
  on a constant rate and a closed population; for the share still infected without bot
  ids, only where a test that could see the weekly count bend did not, below).

For the share still infected after d days, the decay gives exp(-λ d / 7) with λ the
machines' rate per week (cleanup.hosts_series); the identities give the Kaplan-Meier value,
as machines where identities are lines (cleanup.lines). Neither bounds the share from below:
followed identities read it too high where their lines outlive clean-ups (b-harsh seed 6:
0.998 at 28 days for a true 0.65) and too low where renumbering reads as clean-up, and a
weekly count falls more slowly than the first infections of the machines infected at the
start (new infections, reinfections, and clean-up rates that vary between machines: on
popgen family B exp(-λ d / 7) with the true weekly rate reads 0.74-0.75 at 28 days for a
true 0.65). So where the two disagree, or where the decay itself is not supported (its row's
`support` is `bounds`: slower than the addresses', cleanup.address_check), the share has
bounds only, 0 to exp(-r d / 7) with r the weekly distinct addresses' rate (a lower bound on
the machines', cleanup.address_check; where the addresses were not fitted, the upper end of
the two intervals), whatever the identities say. Where they disagree at one day, the decay's
figure at a later day that only the decay reaches is bounds too: the one check it could be
put to failed; so is one above the earlier day's reported figure (`rises`: a share still
infected cannot rise), its bounds capped by that figure's upper end. Where bot ids came back
after a long silence (read as clean-ups and reinfections: survival.silence, rule 4), the
identities' figure set against the decay is the one that reads them as one infection going
on, as the decay counts them; the figure reported stays the first infections'. Where the
weekly host count does not fall at a constant rate (its log bends, cleanup.bend), the
decay's share is not the first infections' either way, and without bot ids nothing else
checks the identities: the share has bounds only, as where the decay is not supported (with
bot ids, their own decay checks them). Where the decay alone gives the share without bot ids
(no identities figure, none that agreed with it at an earlier day), the bend test must have
been able to see a bend of BEND (cleanup.bend, `sensitive`) and not seen one; a series too
short or too noisy for the test leaves the closed population unchecked, and the share has
bounds only, as where it bends (`surviving_bounds_reason`: `bends`, `unchecked`, `disagree`,
`decay not supported`). Bot ids are set against the decay of the machines they follow,
counted by id, where the decay row has it (ids_share). For the notification effect, the
decay gives the ratio of the machines' rates after the campaign, told against not told (what
a Cox model compares, for a constant hazard), beside the Cox hazard ratio; without host
estimates (`cleanup` without `--count hosts`), the ratio of the arms' unique addresses'
rates, which a renumbered address does not move as it moves a followed identity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import pyarrow as pa

from botcensus.measure.cleanup.address_check import bounded_share
from botcensus.measure.cleanup.bend import bend_note, unchecked_note
from botcensus.measure.cleanup.decay import DecayFit, rows_table
from botcensus.measure.cleanup.lines import machines_share, ratio

AGREE: Final = 0.08
"""Shares still infected this close (absolute) agree even where their intervals do not
meet: each interval holds sampling error only, not the error of its model."""
AGREE_HR: Final = 0.25
"""The same for hazard ratios."""
WIDEST_HR: Final = 3.0
"""A hazard ratio whose 95% interval spans more than this factor (0.8 to 2.4, say) cannot
tell a campaign that helped from one that did not: such a figure is not used, and where
neither is narrower, only its bounds are reported. Added after the nineteenth held-out set
(bench/heldout) at tenfold: its populations of 300-400 machines gave 0.53 [0.16, 1.75], 0.83
[0.10, 7.09] and 2.38 [0.54, 10.4] against a perfect observer's 1.65, 1.65 and 1.50 (every
interval holding it; the figures far off); its full-size populations' intervals spanned
1.5-4.4. Lowered to threefold after the twenty-third set: over the twenty-first to
twenty-third sets (seen since), the 28 figures of full-size populations spanned 1.4-2.8
(23 within 0.25 of the perfect observer's), and the 18 of populations of 300-400 machines
spanned 3.6-9.7 and were off by 0.26-0.83 in 14 (within 0.03 in the other 4). A
development choice, set on seen figures."""
MAX_LOG_HALF: Final = 20.0
"""A decay ratio whose interval's half-width on the log scale exceeds this (a factor of 5e8)
is not computed: one arm's count does not fall."""
DAYS: Final = (28, 56)


@dataclass(frozen=True)
class Figure:
    """A checked figure: value (None where only bounds), its interval or bounds, support."""

    value: float | None
    lower: float | None
    upper: float | None
    support: str
    reason: str = ""
    """Why only bounds: `disagree` (the two views), `wide` (WIDEST_HR); for the share still
    infected also `bends`, `unchecked` (the decay alone, its bend test too weak) and
    `decay not supported` (checked_survival's `surviving_bounds_reason`)."""


def decide(
    identities: tuple[float, float, float] | None,
    decay: tuple[float, float, float] | None,
    tolerance: float,
    compared: tuple[float, float, float] | None = None,
) -> Figure:
    """The rule of the module docstring on two (value, lower, upper) figures. `compared`:
    the identities' figure to set against the decay where it is not the one reported (the
    share with bot ids that came back read as one infection going on, as the decay counts
    them)."""
    if identities is None and decay is None:
        return Figure(None, None, None, "none")
    if decay is None:
        assert identities is not None
        return Figure(*identities, "identities")
    if identities is None:
        return Figure(*decay, "decay")
    seen = compared or identities
    meet = seen[1] <= decay[2] and decay[1] <= seen[2]
    if meet or abs(seen[0] - decay[0]) <= tolerance:
        return Figure(*identities, "estimate")
    return Figure(None, min(identities[1], decay[1]), max(identities[2], decay[2]), "bounds")


def decay_share(
    fit: Mapping[str, Any] | DecayFit | None, day: float
) -> tuple[float, float, float] | None:
    """exp(-λ day / 7) with the interval from λ's; None without a usable rate."""
    if fit is None:
        return None
    get = fit.get if isinstance(fit, Mapping) else lambda k: getattr(fit, k, None)
    rate = get("rate_per_week")
    lower = get("rate_lower") if isinstance(fit, Mapping) else get("lower")
    upper = get("rate_upper") if isinstance(fit, Mapping) else get("upper")
    if rate is None or not math.isfinite(rate):
        return None
    weeks = day / 7.0
    lo = math.exp(-upper * weeks) if upper is not None and math.isfinite(upper) else 0.0
    hi = math.exp(-lower * weeks) if lower is not None and math.isfinite(lower) else 1.0
    # a count that grows (a rate below zero) reads no clean-up: a share of 1, not above it
    return min(math.exp(-rate * weeks), 1.0), min(lo, 1.0), min(hi, 1.0)


def checked_survival(
    summary: pa.Table,
    decay: Mapping[str | None, Mapping[str, Any] | DecayFit],
    household: float | None,
    days: Sequence[int] = DAYS,
    *,
    by_id: bool = False,
) -> pa.Table:
    """The survival summary with, for each of `days`, the checked share still infected
    (`surviving_Nd`, None where only bounds), its interval or bounds (`_lower`, `_upper`),
    `surviving_Nd_support`, and the identities' own figures kept as `surviving_Nd_km`.
    `decay`: per group (None: overall) its decay row or fit, rates of machines (a row whose
    `support` is `bounds` gives bounds only: cleanup.address_check);
    `household`: machines per line where identities are lines (None: they are machines);
    `by_id`: the identities are bot ids, so past their last day the decay goes on from their
    share then (`_from_end`; followed addresses are not trusted so far: on the thirtieth
    held-out set b-sparse without ids read 0.52 after 28 days for 0.65 that way, from
    addresses whose curve ended before day 28), and where the decay row has the machines
    counted by id (cleanup.id_check), their share is set against those machines' own decay
    (ids_share), not the host estimates': the same machines, counted, not modelled. Whether
    the machines with ids clean up as the others do is cleanup.id_check's question: it
    sets the two rates against each other and keeps the ids' where they differ. Up to the
    thirty-first freeze the host decay was used: on b-harsh seed 49 with ids (thirty-first
    held-out set) it fell 0.065 a week for a true 0.076 and the machines with ids 0.077
    [0.065, 0.089] (the host rate just inside that interval), and the ids' right 0.650 (true
    0.659) after 28 days was set aside for bounds of 0 to 0.83."""
    r = ratio(household) if household else 0.0
    rows = summary.to_pylist()
    groups = {row["group"] for row in rows}
    rows += [{"group": g, "identities": 0} for g in decay if g not in groups]
    for row in rows:
        contradicted = False  # identities and decay disagreed at an earlier day
        agreed = False  # they agreed at an earlier day: the decay was checked there
        unchecked = False  # the decay alone, not checked, at an earlier day
        earlier: Figure | None = None  # the figure of the day before, as reported
        why: str | None = None
        for d in sorted(days):
            km = _km(row, f"{d}d", r)
            ongoing = _km(row, f"{d}d", r, "_ongoing")
            fit = decay.get(row["group"])
            if isinstance(fit, Mapping) and fit.get("support") == "bounds":
                figure = Figure(None, *bounded_share(fit, d), "bounds", "decay not supported")
            else:
                share = _from_end(row, d, r, fit) if by_id else decay_share(fit, d)
                # Bot ids are checked against the decay of the machines they follow.
                own = ids_share(fit, d) if by_id and km is not None else None
                figure = decide(km, share if own is None else own, AGREE, ongoing)
                alone = figure.support == "decay" and not (agreed or contradicted)
                unchecked = unchecked or (alone and not steady(fit))
                if not by_id and (bent(fit) or unchecked):
                    # not the decay's own interval: it may be the side that misses
                    contradicted = True
                    reason = "bends" if bent(fit) else "unchecked"
                    figure = Figure(None, *share_bounds(fit, d, UNBOUNDED), "bounds", reason)
                elif figure.support == "bounds" or (contradicted and figure.support == "decay"):
                    contradicted = True
                    figure = Figure(None, *share_bounds(fit, d, figure), "bounds", "disagree")
                elif (cap := rises(earlier, figure)) is not None:
                    contradicted = True
                    _, upper = share_bounds(fit, d, figure)
                    figure = Figure(None, 0.0, min(upper, cap), "bounds", "disagree")
                agreed = agreed or figure.support == "estimate"
            why = why or figure.reason or None
            earlier = figure
            row[f"surviving_{d}d_km"] = None if km is None else km[0]
            row[f"surviving_{d}d"] = figure.value
            row[f"surviving_{d}d_lower"] = figure.lower
            row[f"surviving_{d}d_upper"] = figure.upper
            row[f"surviving_{d}d_support"] = figure.support
        row["surviving_bounds_reason"] = why
    return rows_table(rows)


def rises(earlier: Figure | None, later: Figure) -> float | None:
    """Where a later day's figure from the decay alone is above the earlier day's reported
    figure, that figure's upper end (the later share's cap); else None. The share still
    infected cannot rise, so the two views disagree: the earlier figure was the
    identities', agreeing with the decay only within wide intervals (on popgen b-harsh 300
    seed 1037 without ids, Indonesia's 21 followed addresses read 0.26 after 28 days and the
    decay from the start 0.40 after 56)."""
    if earlier is None or earlier.value is None or earlier.upper is None:
        return None
    if later.support != "decay" or later.value is None or later.value <= earlier.value:
        return None
    return earlier.upper


UNBOUNDED: Final = Figure(None, 0.0, 1.0, "bounds")
"""Bounds that say nothing: where no view's interval can be used for the upper end."""


def steady(fit: Mapping[str, Any] | DecayFit | None) -> bool:
    """The decay row's weekly count was put to a bend test that could see a bend of BEND
    (cleanup.bend, `sensitive`) and did not bend: its share alone, with nothing else to
    check it, may stand for the first infections'. A row whose rate the machines with bot
    ids gave (`id_reason`, cleanup.id_check) counts as checked: its rate is machines
    counted, and the bend test was the host estimates' (as in `bent`)."""
    if not isinstance(fit, Mapping):
        return False
    if fit.get("id_reason"):
        return True
    return fit.get("bend_sensitive") is True and not fit.get("bends")


def bent(fit: Mapping[str, Any] | DecayFit | None) -> bool:
    """The decay row's log count bends (cleanup.bend), so its share is not the first
    infections'. Not for a row withheld already (support `bounds`: its own bounds apply),
    nor one whose rate the machines with bot ids gave (`id_reason`, cleanup.id_check: the
    bend was the host estimates')."""
    if not isinstance(fit, Mapping) or not fit.get("bends"):
        return False
    return fit.get("support") != "bounds" and not fit.get("id_reason")


SHOWN_BENT: Final = 6
"""Groups whose count bends named in the note; the rest are counted."""


def bend_notes(rows: Mapping[str | None, Mapping[str, Any]], by: str | None) -> list[str]:
    """Notes for the decay rows whose count bends (`bent`), where the share without bot ids
    is bounds for that reason: the overall row's own note, and one naming the --by groups
    (`by`)."""
    notes = [bend_note(rows[None])] if None in rows and bent(rows[None]) else []
    groups = sorted(str(g) for g, row in rows.items() if g is not None and bent(row))
    if groups:
        notes.append(
            f"survival: the weekly host estimates of {len(groups)} {by} group(s) do not fall "
            f"at a constant rate ({_named(groups)}; cleanup.bend), so their share still infected "
            "without bot ids has bounds only. The test fires on about one group in ten "
            "whose count does fall at a constant rate: a small group's bounds may be a "
            "false alarm"
        )
    return notes


def _named(groups: list[str]) -> str:
    """The first SHOWN_BENT groups, and how many more."""
    named = ", ".join(groups[:SHOWN_BENT])
    more = len(groups) - SHOWN_BENT
    return named + (f" and {more} more" if more > 0 else "")


def unchecked_notes(
    summary: pa.Table, rows: Mapping[str | None, Mapping[str, Any]], by: str | None
) -> list[str]:
    """Notes for the survival rows whose share had only the decay to give it and a bend test
    too weak to check it (`surviving_bounds_reason` `unchecked`): the overall row's own
    note, and one naming the --by groups (`by`)."""
    if "surviving_bounds_reason" not in summary.column_names:
        return []
    groups = [
        g
        for g, why in zip(
            summary["group"].to_pylist(), summary["surviving_bounds_reason"].to_pylist(),
            strict=True,
        )
        if why == "unchecked"
    ]  # fmt: skip
    notes = [unchecked_note(rows.get(None, {}))] if None in groups else []
    named = sorted(str(g) for g in groups if g is not None)
    if named:
        notes.append(
            f"survival: {len(named)} {by} group(s) have only the decay of their host estimates "
            f"to give the share still infected ({_named(named)}), and their weekly counts are too "
            "short or too noisy to show they fall at a constant rate (cleanup.bend): bounds "
            "only"
        )
    return notes


def ids_share(
    fit: Mapping[str, Any] | DecayFit | None, day: int
) -> tuple[float, float, float] | None:
    """The share after `day` days by the decay of the machines counted by bot id (the decay
    row's `id_rate_per_week` and interval, cleanup.id_check); None where the row has none."""
    if not isinstance(fit, Mapping) or fit.get("id_rate_per_week") is None:
        return None
    return decay_share(
        {
            "rate_per_week": fit["id_rate_per_week"],
            "rate_lower": fit.get("id_rate_lower"),
            "rate_upper": fit.get("id_rate_upper"),
        },
        day,
    )


def share_bounds(
    fit: Mapping[str, Any] | DecayFit | None, day: int, figure: Figure
) -> tuple[float, float]:
    """Bounds on the share still infected after `day` days where no figure is supported:
    0 to exp(-r day / 7), r the lower end of the weekly distinct addresses' rate's 95%
    interval (`address_rate_lower` of the decay row); without one, 0 to the upper end of
    `figure` (the bounds or interval the two views gave), capped at 1."""
    rate = fit.get("address_rate_lower") if isinstance(fit, Mapping) else None
    if rate is not None and math.isfinite(rate):
        return bounded_share({"rate_lower": rate}, day)
    upper = figure.upper if figure.upper is not None else 1.0
    return 0.0, min(1.0, upper)


def _from_end(
    row: Mapping[str, Any], day: int, r: float, fit: Mapping[str, Any] | DecayFit | None
) -> tuple[float, float, float] | None:
    """The decay's share after `day` days: from the start, or, past the last day the
    identities were followed to (`followed_days`, h), from their share then, S(h) exp(-λ
    (day - h) / 7), the interval the product of both ends. A constant rate read from the
    start is too slow early where the quick cleaners leave first (rates that vary between
    machines) and reinfections come back: on the seen seeds of family B with ids (the
    twenty-first to twenty-ninth held-out sets) it read a median 0.05 too high after 56
    days (55 figures, -0.06 to +0.22)."""
    h = row.get("followed_days")
    end = _km(row, "end", r)
    if h is None or end is None or h >= day:
        return decay_share(fit, day)
    rest = decay_share(fit, day - h)
    if rest is None:
        return None
    return end[0] * rest[0], end[1] * rest[1], min(1.0, end[2] * rest[2])


def _km(
    row: Mapping[str, Any], at: str, r: float, which: str = ""
) -> tuple[float, float, float] | None:
    """The identities' share at `at` (`28d`, `end`) as machines, with its interval; `which`
    `_ongoing`: read with bot ids that came back as one infection going on (its interval
    is the reported one's)."""
    value = row.get(f"surviving_{at}{which}")
    if value is None:
        return None
    lower = row.get(f"surviving_{at}_lower", value)
    upper = row.get(f"surviving_{at}_upper", value)
    return machines_share(value, r), machines_share(lower, r), machines_share(upper, r)


def decay_hazard(
    told: DecayFit | None, holdout: DecayFit | None, level_z: float = 1.959963984540054
) -> tuple[float, float, float] | None:
    """The ratio of the machines' decay rates after a campaign, told over not told, with an
    interval from both rates' standard errors (delta method on the log); None unless both
    rates are positive and their errors numbers."""
    if told is None or holdout is None:
        return None
    if not (told.rate_per_week > 0 and holdout.rate_per_week > 0):
        return None
    value = told.rate_per_week / holdout.rate_per_week
    sd = math.hypot(told.se / told.rate_per_week, holdout.se / holdout.rate_per_week)
    if not (math.isfinite(value) and math.isfinite(sd)) or level_z * sd > MAX_LOG_HALF:
        # A rate without an error checks nothing; a hold-out whose count hardly falls has a
        # rate near 0 whose relative error overflowed exp() (found in review: a rate of
        # 4.7e-17 with an error of 0.010 a week)
        return None
    return value, value * math.exp(-level_z * sd), value * math.exp(level_z * sd)


def checked_hazard(
    cox: tuple[float, float, float] | None, decay: tuple[float, float, float] | None
) -> Figure:
    """The notification hazard ratio as reported: the rule of the module docstring, on the
    figures whose interval spans at most WIDEST_HR; where none does, the narrower one's
    interval as bounds."""
    given = [f for f in (cox, decay) if f is not None]
    if given and all(_span(f) > WIDEST_HR for f in given):
        narrowest = min(given, key=_span)
        return Figure(None, narrowest[1], narrowest[2], "bounds", "wide")
    # A wide figure still vetoes a narrow one its interval excludes (found in review: Cox
    # 0.46 [0.28, 0.76] against a decay's 3.0 [1.2, 15] was reported as Cox's).
    both = decide(cox, decay, AGREE_HR)
    if both.support == "bounds":
        return replace(both, reason="disagree")
    usable = [None if f is None or _span(f) > WIDEST_HR else f for f in (cox, decay)]
    return decide(usable[0], usable[1], AGREE_HR)


def _span(figure: tuple[float, float, float]) -> float:
    """upper / lower of a (value, lower, upper) figure; infinite where not a number."""
    span = figure[2] / figure[1] if figure[1] > 0 else math.inf
    return span if math.isfinite(span) else math.inf
