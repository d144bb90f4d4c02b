"""Small-cell suppression for public answers (pure functions over census rows).

A cell (one window and group) whose address count, or estimated hosts, is below k is
suppressed: its counts, and every figure computed from them, are blanked and the row is
flagged. A lone suppressed cell could be recovered from its window's total minus the cells
shown, so in each window more cells are suppressed, smallest first, until the suppressed
cells add up to k or more (secondary suppression). A change column is blanked where the
window before (or the group's first window) was suppressed: a ratio and one count give the
other count. Rank is kept: an order reveals no count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa

COUNT_COLUMNS: Final = (
    "unique_ip",
    "unique_ip_hll",
    "unique_ip_hll_lower",
    "unique_ip_hll_upper",
    "unique_bot_id",
    "unique_bot_id_hll",
    "hits",
    "hosts_est",
    "hosts_lo",
    "hosts_hi",
    "ips_hourly_avg",
)
"""Columns blanked in a suppressed row (those present)."""
SIZE_COLUMNS: Final = ("unique_ip", "unique_ip_hll", "hosts_est")
"""Counts a cell is judged by: it is small when any of these is below k."""


def _sizes(rows: list[dict[str, object]]) -> list[float]:
    out = []
    for row in rows:
        values = [row[c] for c in SIZE_COLUMNS if c in row and row[c] is not None]
        out.append(min(float(v) for v in values) if values else 0.0)  # type: ignore[arg-type]
    return out


def _hidden(windows: Sequence[object], sizes: list[float], k: int) -> list[bool]:
    hide = [s < k for s in sizes]
    members_of: dict[object, list[int]] = {}
    for i, window in enumerate(windows):
        members_of.setdefault(window, []).append(i)
    for members in members_of.values():
        if len(members) < 2 or not any(hide[i] for i in members):
            continue
        order = sorted(members, key=lambda i: (sizes[i], i))
        total = sum(sizes[i] for i in members if hide[i])
        for i in order:
            if total >= k and sum(hide[j] for j in members) >= 2:
                break
            if not hide[i]:
                hide[i] = True
                total += sizes[i]
    return hide


def small_cells(
    rows: list[dict[str, object]], k: int, *, window_key: str = "window_start"
) -> list[bool]:
    """Which rows to suppress: below k, plus secondary suppression within each window."""
    return _hidden([row.get(window_key) for row in rows], _sizes(rows), k)


@dataclass(frozen=True, slots=True)
class Flags:
    """Per row of a census answer: what suppression withholds."""

    hide: list[bool]
    """The row's counts are withheld."""
    change: list[bool]
    """Its change against the group's previous window is withheld."""
    since_first: list[bool]
    """Its change since the group's first window is withheld."""

    @property
    def count(self) -> int:
        return sum(self.hide)


def _flags(
    windows: Sequence[object], sizes: list[float], keys: Sequence[tuple[object, ...]], k: int
) -> Flags:
    hide = _hidden(windows, sizes, k)
    first_hidden: dict[tuple[object, ...], bool] = {}
    last_hidden: dict[tuple[object, ...], bool] = {}
    change = [False] * len(hide)
    since_first = [False] * len(hide)
    for i in sorted(range(len(hide)), key=lambda i: str(windows[i])):
        key = keys[i]
        if key not in first_hidden:
            first_hidden[key] = hide[i]
        change[i] = hide[i] or bool(last_hidden.get(key))
        since_first[i] = hide[i] or first_hidden[key]
        last_hidden[key] = hide[i]
    return Flags(hide, change, since_first)


def table_flags(table: pa.Table, k: int, by: Sequence[str]) -> Flags:
    """`suppress`'s decisions for the rows of a census table, read from its columns only
    (so a caller can turn just the rows it shows into dicts)."""
    n = table.num_rows
    sizes = [math.inf] * n
    seen = [False] * n
    for column in SIZE_COLUMNS:
        if column in table.column_names:
            for i, value in enumerate(table[column].to_pylist()):
                if value is not None:
                    sizes[i] = min(sizes[i], float(value))
                    seen[i] = True
    sizes = [s if found else 0.0 for s, found in zip(sizes, seen, strict=True)]
    windows = table["window_start"].to_pylist() if n else []
    groups = [table[g].to_pylist() for g in by]
    keys = list(zip(*groups, strict=True)) if groups else [()] * n
    return _flags(windows, sizes, keys, k)


def apply(row: dict[str, object], flags: Flags, i: int) -> dict[str, object]:
    """Row `i` with what `flags` withholds blanked, flagged `suppressed`."""
    new = dict(row)
    if flags.hide[i]:
        for column in COUNT_COLUMNS:
            if column in new:
                new[column] = None
    for column in list(new):
        if column.endswith("_change_since_first"):
            if flags.since_first[i]:
                new[column] = None
        elif column.endswith("_change") and flags.change[i]:
            new[column] = None
    new["suppressed"] = flags.hide[i]
    return new


def suppress(
    rows: list[dict[str, object]], k: int, by: Sequence[str]
) -> tuple[list[dict[str, object]], int]:
    """The rows (dicts of a census table, in the census's order) with small cells blanked and
    flagged `suppressed`; and how many were suppressed."""
    windows = [row.get("window_start") for row in rows]
    keys = [tuple(row.get(g) for g in by) for row in rows]
    flags = _flags(windows, _sizes(rows), keys, k)
    return [apply(row, flags, i) for i, row in enumerate(rows)], flags.count


def visible(table: pa.Table) -> list[dict[str, object]]:
    """Census rows as dicts, unsuppressed (what the operator sees), flagged as such."""
    return [{**row, "suppressed": False} for row in table.to_pylist()]


def small_groups(rows: list[dict[str, object]], k: int, sizes: Sequence[str]) -> list[bool]:
    """Which per-group summary rows (clean-up rates, survival) to withhold: a group small
    in any of `sizes` (first and last week's count, identities), plus the smallest others
    until the withheld groups add up to k in each of them, as in `small_cells`."""
    values = [[float(r.get(c) or 0.0) for c in sizes] for r in rows]  # type: ignore[arg-type]
    hide = [min(v) < k if v else False for v in values]
    if not any(hide) or len(rows) < 2:
        return hide
    for column in range(len(sizes)):
        order = sorted(range(len(rows)), key=lambda i: (values[i][column], i))
        total = sum(values[i][column] for i in range(len(rows)) if hide[i])
        for i in order:
            if total >= k and sum(hide) >= 2:
                break
            if not hide[i]:
                hide[i] = True
                total += values[i][column]
    return hide
