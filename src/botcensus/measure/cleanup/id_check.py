"""The decay of hosts against the machines counted one by one from their bot ids (`cleanup
--count hosts` on sightings where some bots carry an id).

Why: the host estimates count the machines with ids one by one and model the rest from
their addresses. The machines with ids are a direct count, so their own weekly decay is a
measurement, where the model's trend can be off (an address stays while any machine behind
it is infected; the share of the estimate that the strip-the-ids corrections reach changes
as machines are cleaned). Where the host decay lies outside the interval of the ids' own
decay, fitted over the same complete weeks, its trend is off by more than the ids' sampling
allows, and the decay row is the ids' (`id_reason` says so; `model_rate_per_week` keeps
the host fit's rate). So is it wherever the ids show more machines behind one address than
the household law allows (hosts.crowded: offices behind NAT): the model counts addresses,
which stay while any machine behind them is infected, and the household correction of their
decay assumes the law. This takes the machines without ids to be cleaned at the rate
of those with ids: bots of one family (the host estimate's partition) whose only difference
is whether their protocol carries an id. Development figures (popgen with ids on 30% of the
machines, docs/measurement.md): on c-office seed 2 with ids (crowded) the host decay was 12%
slow and the ids' 0.4% off.

The ids' decay replaces the host decay, too, where the host decay is slower than the faster
of its addresses' series (the check cleanup.address_check makes: the model's trend is off)
and the ids' is not: the machines counted one by one are then the decay that is supported.
On b-harsh seed 16 with ids, once its small networks were corrected (hosts.networks), the
host decay fell 0.0620 a week, below its hourly addresses' 0.0637 (the truth: 0.0710), and
the decay read "not supported" with the ids' own rate at hand.

The check runs before the addresses' (cleanup.address_check), which then applies to the rate
kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa

from botcensus.measure.cleanup.decay import decay_table, rows_table

IDS: Final = "hosts_ids"
"""The weekly count of machines counted by bot id (cleanup.hosts_series.host_weeks)."""
ID_COLUMNS: Final = (
    "id_rate_per_week",
    "id_rate_lower",
    "id_rate_upper",
    "id_machines",
    "id_reason",
)
"""Columns the check adds to every decay row of hosts."""


@dataclass(frozen=True)
class IdDecay:
    """A group's decay of the machines counted by id, over the host decay's weeks."""

    row: Mapping[str, Any]
    """Its decay_table row (rate_per_week, rate_lower, rate_upper, half-lives, counts)."""

    @property
    def fitted(self) -> bool:
        values = [self.row.get(k) for k in ("rate_per_week", "rate_lower", "rate_upper")]
        return all(isinstance(v, float) and math.isfinite(v) for v in values)


def id_decays(
    weekly: pa.Table, *, group: str | None = None, min_count: float = 20.0
) -> dict[str | None, IdDecay]:
    """Per group (None: overall) the decay of the machines counted by id, fitted as the host
    decay is (decay.decay_table, the same weeks and minimum count)."""
    if IDS not in weekly.column_names:
        return {}
    rows = decay_table(weekly, count=IDS, group=group, min_count=min_count).to_pylist()
    return {r["group"]: IdDecay(r) for r in rows}


CROWDED: Final = (
    "bot ids show more machines behind one address than the household law allows "
    "(hosts.crowded), or networks keep office hours (hosts.office): the model counts "
    "addresses, which stay while any of their machines is infected, so its trend is not the "
    "machines'"
)


def reason(host: float, ids: IdDecay, *, crowded: bool = False, floor: float | None = None) -> str:
    """Why the ids' decay replaced the host decay, in words for a note and the JSON (`floor`:
    the faster address rate the host decay fell below)."""
    row = ids.row
    if crowded:
        why = CROWDED
    elif floor is not None:
        why = (
            f"the host estimates fall more slowly than the addresses they are counted from "
            f"({floor:.4f} a week; cleanup.address_check), the ids do not"
        )
    else:
        why = (
            f"the host estimates' trend is outside the interval of the ids' ("
            f"{row['rate_lower']:.4f}-{row['rate_upper']:.4f})"
        )
    return (
        f"the host estimates fall {host:.4f} a week, the {row['first_count']:,.0f} machines "
        f"counted by bot id {row['rate_per_week']:.4f}; {why}: the decay is the machines' "
        "with ids, taken to be that of the machines without"
    )


def check_ids(
    decay: pa.Table,
    decays: Mapping[str | None, IdDecay],
    *,
    crowded: bool = False,
    floors: Mapping[str | None, float | None] | None = None,
) -> pa.Table:
    """decay_table rows of hosts with ID_COLUMNS; where a row's rate lies outside its
    group's fitted id decay interval (any row, where `crowded`: the hosts answer's
    HostsAnswer.crowded; or below its group's `floors` rate, the faster of its address
    series', where the ids' rate is not), the row's rate, interval and half-lives are the
    ids', `model_rate_per_week` the host fit's rate and `id_reason` why. Rows without a
    fitted id decay are left as they are (their id columns null)."""
    rows = decay.to_pylist()
    if not rows:
        return decay
    for row in rows:
        ids = decays.get(row.get("group"))
        fitted = ids is not None and ids.fitted
        got = ids.row if ids is not None and fitted else {}
        row |= {
            "id_rate_per_week": got.get("rate_per_week"),
            "id_rate_lower": got.get("rate_lower"),
            "id_rate_upper": got.get("rate_upper"),
            "id_machines": got.get("first_count"),
            "id_reason": None,
        }
        rate = row.get("rate_per_week")
        if ids is None or not fitted or rate is None or not math.isfinite(rate):
            continue
        floor = (floors or {}).get(row.get("group"))
        slow = floor is not None and rate < floor <= got["rate_per_week"]
        if not crowded and not slow and got["rate_lower"] <= rate <= got["rate_upper"]:
            continue
        row |= {
            "model_rate_per_week": rate,
            "id_reason": reason(rate, ids, crowded=crowded, floor=floor if slow else None),
            **{
                k: got[k]
                for k in (
                    "rate_per_week",
                    "rate_lower",
                    "rate_upper",
                    "half_life_weeks",
                    "half_life_days",
                )
            },
        }
    return rows_table(rows)
