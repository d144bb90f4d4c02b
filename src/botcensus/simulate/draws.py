"""Random draws of the population: households, ASNs, churn classes, behaviour, infections."""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from .addresses import AddressSpace
from .population import (
    BOT,
    DAY_US,
    HOUR_US,
    MODES,
    NOISE,
    Episodes,
    Hosts,
    Lines,
    Population,
    day_number,
)
from .scenario import ChurnClass, Country, Scenario

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
Columns = dict[str, npt.NDArray[np.generic]]


def _class_by_group(space: AddressSpace, cc: str, country: Country, names: list[str]) -> I64:
    """Whole ASNs get one churn class each, largest deficit first, so shares follow the mix."""
    groups = space.groups_of(cc)
    want = np.array([country.churn.get(n, 0.0) for n in names])
    want = want / want.sum()
    got = np.zeros(len(names))
    out = np.zeros(len(groups), dtype=np.int64)
    for i, g in enumerate(groups):
        c = int(np.argmax(want - got))
        out[i] = c
        got[c] += space.weight[g]
    return out


def _households(rng: np.random.Generator, n: int, country: Country) -> I64:
    """Line sizes summing to n: mostly 1, a share of shared households of 2 + Poisson."""
    sizes = np.where(
        rng.random(n) < country.nat_household_fraction,
        2 + rng.poisson(country.household_extra_mean, n),
        1,
    )
    cut = int(np.searchsorted(np.cumsum(sizes), n))
    sizes = sizes[: cut + 1].copy()
    if len(sizes):
        sizes[-1] -= int(sizes.sum()) - n
    return sizes[sizes > 0]


def _periods(rng: np.random.Generator, classes: list[ChurnClass], churn: I64) -> tuple[I64, I64]:
    low = np.log(np.array([c.period_hours[0] for c in classes]))[churn]
    high = np.log(np.array([c.period_hours[1] for c in classes]))[churn]
    period = (np.exp(low + (high - low) * rng.random(len(churn))) * HOUR_US).astype(np.int64)
    return period, (rng.random(len(churn)) * period).astype(np.int64)


def _expo_us(rng: np.random.Generator, half_life_days: F64) -> I64:
    draws: I64 = (rng.exponential(half_life_days / np.log(2)) * DAY_US).astype(np.int64)
    return draws


def _concat(parts: list[Columns], key: str) -> npt.NDArray[np.generic]:
    return np.concatenate([p[key] for p in parts])


def _bots(
    rng: np.random.Generator,
    scn: Scenario,
    space: AddressSpace,
    scale: float,
    span: tuple[int, int],
) -> tuple[list[Columns], list[Columns]]:
    """Per-country host and line columns (lines numbered from 0, in country order)."""
    names = list(scn.churn_classes)
    classes = list(scn.churn_classes.values())
    start_us, end_us = span
    host_parts: list[Columns] = []
    line_parts: list[Columns] = []
    n_lines = 0
    for ci, (cc, c) in enumerate(scn.countries.items()):
        n0 = round(c.hosts * scale)
        n_new = int(rng.poisson(c.new_infections_per_day * scale * (end_us - start_us) / DAY_US))
        sizes = np.concatenate([_households(rng, n0, c), np.ones(n_new, np.int64)])
        groups = space.groups_of(cc)
        pick = rng.choice(len(groups), len(sizes), p=space.weight[groups])
        churn = _class_by_group(space, cc, c, names)[pick]
        period, phase = _periods(rng, classes, churn)
        line_parts.append(
            {"group": groups[pick], "churn": churn, "period": period, "phase": phase, "size": sizes}
        )
        n = n0 + n_new
        m, k = c.online_probability, c.online_concentration
        p_online = rng.beta(m * k, (1 - m) * k, n) if m < 1 else np.ones(n)
        sigma = c.session_hours_sd
        session = c.session_hours * np.exp(rng.normal(-sigma * sigma / 2, sigma, n))
        infected = np.where(
            np.arange(n) < n0, start_us, start_us + (rng.random(n) * (end_us - start_us))
        ).astype(np.int64)
        host_parts.append(
            {
                "line": n_lines + np.repeat(np.arange(len(sizes)), sizes),
                "country": np.full(n, ci, np.int64),
                "offset": np.full(n, round(c.utc_offset_hours * HOUR_US), np.int64),
                "p_online": p_online,
                "always_on": rng.random(n) < c.always_on_fraction,
                "start_pref": rng.normal(c.start_hour_mean, c.start_hour_sd, n) % 24.0,
                "start_daily": np.full(n, c.start_hour_daily),
                "session": np.clip(session, 0.05, 24.0),
                "interval": np.full(n, round(scn.checkin.interval_seconds * 1e6), np.int64),
                "jitter": np.full(n, round(scn.checkin.jitter_seconds * 1e6), np.int64),
                "lingering": rng.random(n) >= c.fast_fraction,
                "initial": np.arange(n) < n0,
                "infected": infected,
                "profile": np.zeros(n, np.int64),
                "family": np.full(n, BOT, np.uint8),
            }
        )
        n_lines += len(sizes)
    return host_parts, line_parts


def _noise(
    rng: np.random.Generator, scn: Scenario, space: AddressSpace, scale: float, first_line: int
) -> tuple[list[Columns], list[Columns]]:
    """Noise sources: one line each, infected (present) for the whole run."""
    names = list(scn.churn_classes)
    classes = list(scn.churn_classes.values())
    host_parts: list[Columns] = []
    line_parts: list[Columns] = []
    for i, kind in enumerate(scn.noise):
        n = max(1, round(kind.sources * scale)) if kind.sources else 0
        cc = np.asarray(kind.countries)[rng.integers(0, len(kind.countries), n)]
        group = np.zeros(n, np.int64)
        for name in kind.countries:
            mine = np.flatnonzero(cc == name)
            groups = space.groups_of(name)
            group[mine] = groups[rng.choice(len(groups), len(mine), p=space.weight[groups])]
        churn = np.full(n, names.index(kind.churn), np.int64)
        period, phase = _periods(rng, classes, churn)
        line_parts.append(
            {
                "group": group,
                "churn": churn,
                "period": period,
                "phase": phase,
                "size": np.ones(n, np.int64),
            }
        )
        host_parts.append(
            {
                "line": first_line + np.arange(n),
                "country": np.full(n, -1, np.int64),
                "offset": np.zeros(n, np.int64),
                "p_online": np.full(n, kind.online_probability),
                "always_on": rng.random(n) < kind.always_on_fraction,
                "start_pref": rng.random(n) * 24.0,
                "start_daily": np.full(n, 12.0),
                "session": np.clip(kind.session_hours * rng.exponential(1.0, n), 0.01, 24.0),
                "interval": np.full(n, round(kind.interval_seconds * 1e6), np.int64),
                "jitter": np.full(n, round(kind.jitter_seconds * 1e6), np.int64),
                "lingering": np.zeros(n, bool),
                "initial": np.ones(n, bool),
                "infected": np.zeros(n, np.int64),
                "profile": np.full(n, 1 + i, np.int64),
                "family": np.full(n, NOISE, np.uint8),
            }
        )
        first_line += n
    return host_parts, line_parts


def _notified_groups(scn: Scenario, space: AddressSpace, groups: I64, seed: int) -> B:
    """Per group: in one of the `notify.share` of bot ASNs told (own stream: no other draw
    changes whether or not a scenario has a campaign)."""
    notified = np.zeros(len(space.asn), dtype=bool)
    if scn.notify is None:
        return notified
    asns = np.unique(space.asn[np.unique(groups)])
    if scn.notify.asns is not None:
        told = np.asarray(scn.notify.asns, dtype=space.asn.dtype)
    else:
        rng = np.random.default_rng([seed, 0x4E071F])
        told = rng.permutation(asns)[: round(scn.notify.share * len(asns))]
    notified[np.isin(space.asn, told)] = True
    return notified


def _faster(start: I64, end: I64, at: int, multiplier: float) -> I64:
    """Episodes still open at `at`: the time left after it divided by the multiplier (an
    exponential time left stays exponential, with the hazard multiplied)."""
    since = np.maximum(start, at)
    scaled = since + ((end - since) / multiplier).astype(np.int64)
    return np.where(end > at, scaled, end)


def _episodes(
    rng: np.random.Generator,
    scn: Scenario,
    hosts: Columns,
    n_bots: int,
    end_us: int,
    notified: B,
) -> Episodes:
    """Infection, clean-up (fast or lingering hazard, pulses) and at most one reinfection."""
    countries = list(scn.countries.values())
    ci = hosts["country"][:n_bots].astype(np.int64)
    lingering = hosts["lingering"][:n_bots].astype(bool)
    fast = np.array([c.fast_half_life_days for c in countries])[ci]
    slow = np.array([c.slow_half_life_days for c in countries])[ci]
    half_life = np.where(lingering, slow, fast)
    start = hosts["infected"][:n_bots].astype(np.int64)
    end = start + _expo_us(rng, half_life)
    told = notified[:n_bots]
    if scn.notify is not None:
        at = day_number(scn.notify.day) * DAY_US
        end = np.where(told, _faster(start, end, at, scn.notify.hazard_multiplier), end)
    for pulse in scn.pulses:
        at = day_number(pulse.day) * DAY_US
        hit = ~lingering & (start <= at) & (end > at) & (rng.random(n_bots) < pulse.fraction)
        end = np.where(hit, np.minimum(end, at + rng.integers(0, DAY_US, n_bots)), end)
    chance = np.array([c.reinfection_probability for c in countries])[ci]
    delay = np.array([c.reinfection_delay_days for c in countries])[ci]
    again = end + (rng.exponential(delay) * DAY_US).astype(np.int64)
    again_end = again + _expo_us(rng, half_life)
    if scn.notify is not None:
        faster = _faster(again, again_end, at, scn.notify.hazard_multiplier)
        again_end = np.where(told, faster, again_end)
    twice = np.flatnonzero((rng.random(n_bots) < chance) & (again < end_us))
    n_noise = len(hosts["line"]) - n_bots
    noise = np.arange(n_bots, n_bots + n_noise)
    return Episodes(
        host=np.concatenate([np.arange(n_bots), twice, noise]),
        start_us=np.concatenate([start, again[twice], np.full(n_noise, 0, np.int64)]),
        end_us=np.concatenate([end, again_end[twice], np.full(n_noise, 2 * end_us, np.int64)]),
        number=np.concatenate(
            [np.ones(n_bots, np.int8), np.full(len(twice), 2, np.int8), np.ones(n_noise, np.int8)]
        ),
    )


def build_population(
    scn: Scenario, space: AddressSpace, *, scale: float, seed: int, start: dt.date, end: dt.date
) -> Population:
    """Draw the population for days start..end (inclusive) at `scale` of the scenario's size."""
    rng = np.random.default_rng([seed, 0x5EED])
    span = (day_number(start) * DAY_US, (day_number(end) + 1) * DAY_US)
    bot_hosts, bot_lines = _bots(rng, scn, space, scale, span)
    n_bot_lines = sum(len(p["group"]) for p in bot_lines)
    noise_hosts, noise_lines = _noise(rng, scn, space, scale, n_bot_lines)
    hp, lp = bot_hosts + noise_hosts, bot_lines + noise_lines
    h = {key: _concat(hp, key) for key in hp[0]}
    ln = {key: _concat(lp, key) for key in lp[0]}
    n_bots = sum(len(p["line"]) for p in bot_hosts)
    classes = list(scn.churn_classes.values())
    mode = np.array([MODES.index(c.mode) for c in classes], np.uint8)[ln["churn"]]
    per_address = np.array([c.hosts_per_address for c in classes])[ln["churn"]]
    pooled = np.where(mode == MODES.index("pool"), ln["size"] / per_address, 0.0)
    pool = np.bincount(ln["group"], weights=pooled, minlength=len(space.asn))
    group_of_host = ln["group"].astype(np.int64)[h["line"].astype(np.int64)]
    told = _notified_groups(scn, space, group_of_host[:n_bots], seed)
    hosts = Hosts(
        line=h["line"].astype(np.int64),
        family=h["family"].astype(np.uint8),
        profile=h["profile"].astype(np.int64),
        country=h["country"].astype(np.int64),
        offset_us=h["offset"].astype(np.int64),
        p_online=h["p_online"].astype(np.float64),
        always_on=h["always_on"].astype(bool),
        start_pref_h=h["start_pref"].astype(np.float64),
        start_daily_h=h["start_daily"].astype(np.float64),
        session_h=h["session"].astype(np.float64),
        interval_us=h["interval"].astype(np.int64),
        jitter_us=h["jitter"].astype(np.int64),
        lingering=h["lingering"].astype(bool),
        initial=h["initial"].astype(bool),
    )
    lines = Lines(
        group=ln["group"].astype(np.int64),
        churn=ln["churn"].astype(np.int64),
        mode=mode,
        period_us=ln["period"].astype(np.int64),
        phase_us=ln["phase"].astype(np.int64),
        size=ln["size"].astype(np.int64),
    )
    return Population(
        hosts=hosts,
        lines=lines,
        episodes=_episodes(rng, scn, h, n_bots, span[1], told[group_of_host]),
        pool_size=np.maximum(1, np.ceil(pool)).astype(np.int64),
        countries=tuple(scn.countries),
        churn_names=tuple(scn.churn_classes),
        profiles=(
            (scn.checkin.user_agent, scn.checkin.path),
            *((n.user_agent, n.path) for n in scn.noise),
        ),
        noise_names=tuple(n.name for n in scn.noise),
        n_bots=n_bots,
        notified=told,
    )
