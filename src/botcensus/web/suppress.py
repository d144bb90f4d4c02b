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

from collections.abc import Sequence
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


def small_cells(
    rows: list[dict[str, object]], k: int, *, window_key: str = "window_start"
) -> list[bool]:
    """Which rows to suppress: below k, plus secondary suppression within each window."""
    sizes = _sizes(rows)
    hide = [s < k for s in sizes]
    windows: dict[object, list[int]] = {}
    for i, row in enumerate(rows):
        windows.setdefault(row.get(window_key), []).append(i)
    for members in windows.values():
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


def suppress(
    rows: list[dict[str, object]], k: int, by: Sequence[str]
) -> tuple[list[dict[str, object]], int]:
    """The rows (dicts of a census table, in the census's order) with small cells blanked and
    flagged `suppressed`; and how many were suppressed."""
    hide = small_cells(rows, k)
    out: list[dict[str, object]] = []
    first_hidden: dict[tuple[object, ...], bool] = {}
    last_hidden: dict[tuple[object, ...], bool] = {}
    order = sorted(range(len(rows)), key=lambda i: str(rows[i].get("window_start")))
    blank_change: set[int] = set()
    blank_first: set[int] = set()
    for i in order:
        key = tuple(rows[i].get(g) for g in by)
        if key not in first_hidden:
            first_hidden[key] = hide[i]
        if last_hidden.get(key):
            blank_change.add(i)
        if first_hidden[key]:
            blank_first.add(i)
        last_hidden[key] = hide[i]
    for i, row in enumerate(rows):
        new = dict(row)
        if hide[i]:
            for column in COUNT_COLUMNS:
                if column in new:
                    new[column] = None
        for column in list(new):
            if column.endswith("_change") and (hide[i] or i in blank_change):
                new[column] = None
            if column.endswith("_change_since_first") and (hide[i] or i in blank_first):
                new[column] = None
        new["suppressed"] = hide[i]
        out.append(new)
    return out, sum(hide)


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
