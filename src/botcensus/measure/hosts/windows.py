"""Read a query's windows into per-group sums (hosts.daily) in one global group order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import duckdb
import numpy as np
import numpy.typing as npt

from botcensus.measure.census import WEEKDAYS, CensusQuery, day_span
from botcensus.measure.hosts.daily import (
    GroupDays,
    GroupWeek,
    group_days,
    group_week,
    single_host_addresses,
)
from botcensus.measure.hosts.features import (
    EPOCH,
    Timer,
    address_lifetimes,
    read_address_days,
)
from botcensus.measure.hosts.model import Window

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Span:
    """One census window: its first and last day, and the days of it that hold data."""

    start: date
    end: date
    days: tuple[date, ...]


def window_spans(days: list[date], query: CensusQuery) -> list[Span]:
    """The census windows (days, or weeks ending query.week_ends) that the days fall in."""
    spans: dict[date, list[date]] = {}
    length = 1 if query.window == "day" else 7
    start_dow = (WEEKDAYS.index(query.week_ends) + 1) % 7  # Python weekday: Monday = 0
    for day in days:
        start = day if length == 1 else day - timedelta(days=(day.weekday() - start_dow) % 7)
        spans.setdefault(start, []).append(day)
    return [
        Span(start, start + timedelta(days=length - 1), tuple(sorted(d)))
        for start, d in sorted(spans.items())
    ]


def data_days(con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str) -> list[date]:
    """Days with IP-only sightings that the query counts."""
    where, params = query.where()
    sql = f"SELECT DISTINCT day FROM {relation} WHERE bot_id IS NULL AND {where} ORDER BY day"  # noqa: S608 (conditions are ours; values are parameters)
    return [row[0] for row in con.execute(sql, params).fetchall()]


def data_extent(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> tuple[date, date] | None:
    """The first and last day of IP-only sightings under the query's filters but not its
    dates: the address-days read context from outside the range (features.LOOK, the
    addresses' lifetimes), so the days with history and the edges of lifetimes are the
    data's, not the range's. None without any."""
    where, params = query.where(dates=False)
    return day_span(con, relation, f"bot_id IS NULL AND {where}", params)


@dataclass
class _Blocks:
    names: dict[tuple[str, int], int]
    parts: list[tuple[I64, Window]]


def _expand(local: I64, n: int, w: Window) -> Window:
    """A window's arrays re-indexed from its local groups to n global ones."""

    def rows(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.zeros((n, *x.shape[1:]))
        out[local] = x
        return out

    s = w.sums
    sums = GroupDays(
        days=s.days,
        **{k: rows(getattr(s, k)) for k in GroupDays.__dataclass_fields__ if k != "days"},
    )
    week = (
        None
        if w.week is None
        else GroupWeek(**{k: rows(getattr(w.week, k)) for k in GroupWeek.__dataclass_fields__})
    )
    return Window(sums, replace(w.multi, group=local[w.multi.group]), week)


def read_windows(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    spans: list[Span],
    timer: Timer | None,
    data: tuple[date, date],
) -> tuple[list[Window], tuple[tuple[str, int], ...]]:
    """Per span, its sums in one global group order, and the groups (country, ASN); `data`:
    the first and last day with data."""
    margin = timer.interval + timer.jitter if timer else 0.0
    blocks = _Blocks({}, [])
    life = address_lifetimes(con, query, relation, "hosts_address_lifetimes")
    first, last = ((d - EPOCH).days for d in data)
    for span in spans:
        lo, hi = span.days[0], span.days[-1]
        a = read_address_days(con, query, relation, (lo, hi), margin_s=margin, lifetimes=life)
        local = np.array(
            [blocks.names.setdefault(g, len(blocks.names)) for g in a.groups], np.int64
        )
        days = np.array([(d - EPOCH).days for d in span.days], np.int64)
        present = np.isin(a.day, days)
        a = a.take(present)
        sums, multi = group_days(a, timer, days, (first, last))
        week = None
        if query.window == "week":
            single = single_host_addresses(a, timer.interval) if timer else a
            week = group_week(single, len(a.groups))
        blocks.parts.append((local, Window(sums, multi, week)))
    n = len(blocks.names)
    con.execute(f"DROP TABLE IF EXISTS {life}")
    windows = [_expand(local, n, w) for local, w in blocks.parts]
    groups = tuple(sorted(blocks.names, key=blocks.names.__getitem__))
    return windows, groups
