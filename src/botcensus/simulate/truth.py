"""Ground truth: the host table and true counts of infected and active hosts per day and week."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .addresses import AddressSpace
from .daily import Pieces
from .population import BOT, DAY_US, MODES, Population

I64 = npt.NDArray[np.int64]
T = TypeVar("T", int, I64)
TS = pa.timestamp("us", tz="UTC")
EPOCH = dt.date(1970, 1, 1)


def week_ending(day: T) -> T:
    """The Saturday (day number) ending the Sunday-to-Saturday week of `day` (or days)."""
    return day + (2 - day) % 7  # day 2 (1970-01-03) was a Saturday


def _times(values: I64, valid: npt.NDArray[np.bool_]) -> pa.Array:
    return pa.array(values, TS, mask=~valid)


def hosts_table(
    pop: Population, space: AddressSpace, end_us: int, bot_ids: pa.Array | None = None
) -> pa.Table:
    """One row per bot infected before end_us: where it sits, how its address churns, when
    it was infected and cleaned (null: not before end_us), and the bot id its check-ins carry
    (`bot_ids`, per host; null: none)."""
    n = pop.n_bots
    line = pop.hosts.line[:n]
    group = pop.lines.group[line]
    ep = pop.episodes
    first = ep.number == 1
    first_host = ep.host[first]
    order = np.argsort(first_host)
    start, end = ep.start_us[first][order][:n], ep.end_us[first][order][:n]
    again = np.full(n, -1, np.int64)
    again_end = np.full(n, -1, np.int64)
    second = np.flatnonzero(ep.number == 2)
    again[ep.host[second]] = ep.start_us[second]
    again_end[ep.host[second]] = ep.end_us[second]
    cc = np.asarray(space.cc, dtype=object)[group]
    classes = np.asarray(pop.churn_names, dtype=object)[pop.lines.churn[line]]
    table = pa.table(
        {
            "host_id": pa.array(np.arange(n), pa.int64()),
            "cc": pa.array(cc.tolist(), pa.string()),
            "asn": pa.array(space.asn[group], pa.int64()),
            "churn_class": pa.array(classes.tolist(), pa.string()),
            "address_mode": pa.array(
                np.asarray(MODES, dtype=object)[pop.lines.mode[line]].tolist(), pa.string()
            ),
            "nat_group": pa.array(line, pa.int64()),
            "nat_group_size": pa.array(pop.lines.size[line], pa.int32()),
            "initially_infected": pa.array(pop.hosts.initial[:n]),
            "lingering": pa.array(pop.hosts.lingering[:n]),
            "online_probability": pa.array(pop.hosts.p_online[:n], pa.float64()),
            "always_on": pa.array(pop.hosts.always_on[:n]),
            "session_hours": pa.array(pop.hosts.session_h[:n], pa.float64()),
            "utc_offset_hours": pa.array(pop.hosts.offset_us[:n] / 3.6e9, pa.float64()),
            "infected": _times(start, np.ones(n, bool)),
            "cleaned": _times(end, end < end_us),
            "reinfected": _times(again, again >= 0),
            "recleaned": _times(again_end, (again >= 0) & (again_end < end_us)),
            "bot_id": pa.nulls(n, pa.string()) if bot_ids is None else bot_ids.slice(0, n),
        }
    )
    return table.filter(pa.array(start < end_us))


@dataclass
class TruthCounter:
    """Accumulates true counts day by day from the direct path's pieces."""

    pop: Population
    space: AddressSpace
    first_day: int
    last_day: int
    daily: list[pa.Table] = field(default_factory=list)
    weekly: list[pa.Table] = field(default_factory=list)
    _active: npt.NDArray[np.bool_] = field(init=False)
    _ips: list[npt.NDArray[np.uint64]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._active = np.zeros(self.pop.n_bots, bool)
        self._group = self.pop.lines.group[self.pop.hosts.line[: self.pop.n_bots]]

    def _infected(self, lo_day: int, hi_day: int) -> I64:
        ep = self.pop.episodes
        hit = (ep.start_us < hi_day * DAY_US) & (ep.end_us > lo_day * DAY_US)
        hosts = np.unique(ep.host[hit & (ep.host < self.pop.n_bots)])
        return np.bincount(self._group[hosts], minlength=len(self.space.asn))

    def add(self, day: int, pieces: Pieces) -> None:
        """Count one day (days must come in order, each once)."""
        bots = pieces.family == BOT
        hosts = np.unique(pieces.host[bots])
        keys = np.unique(self._group[pieces.host[bots]].astype(np.uint64) << 32 | pieces.ip[bots])
        self._active[hosts] = True
        self._ips.append(keys)
        self.daily.append(self._rows("day", day, 1, self._infected(day, day + 1), hosts, keys))
        if day == min(week_ending(day), self.last_day):
            lo = max(week_ending(day) - 6, self.first_day)
            week_keys = np.unique(np.concatenate(self._ips))
            hosts = np.flatnonzero(self._active)
            infected = self._infected(lo, day + 1)
            self.weekly.append(
                self._rows("week", week_ending(day), day + 1 - lo, infected, hosts, week_keys)
            )
            self._active[:] = False
            self._ips = []

    def _rows(
        self,
        kind: str,
        day: int,
        days: int,
        infected: I64,
        active: I64,
        keys: npt.NDArray[np.uint64],
    ) -> pa.Table:
        g = len(self.space.asn)
        per_group = {
            "hosts_infected": infected,
            "hosts_active": np.bincount(self._group[active], minlength=g),
            "ips_active": np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=g),
        }
        ccs = sorted(set(self.space.cc))
        cc_of = np.asarray(self.space.cc, dtype=object)
        cols: dict[str, list[object]] = {
            "scope": ["global", *["country"] * len(ccs), *["asn"] * g],
            "cc": [None, *ccs, *cc_of.tolist()],
            "asn": [None] * (1 + len(ccs)) + self.space.asn.tolist(),
        }
        table: dict[str, object] = {
            "day" if kind == "day" else "week_ending": [EPOCH + dt.timedelta(days=day)]
            * len(cols["cc"]),
            "days": [days] * len(cols["cc"]),
            **cols,
        }
        for name, values in per_group.items():
            by_cc = [int(values[cc_of == cc].sum()) for cc in ccs]
            table[name] = [int(values.sum()), *by_cc, *values.tolist()]
        return pa.table(table)

    def tables(self) -> tuple[pa.Table, pa.Table]:
        """(daily, weekly) counts; weeks end on Saturdays and `days` says how many of their
        days were simulated."""
        return pa.concat_tables(self.daily), pa.concat_tables(self.weekly)
