"""Census answers for the dashboard: from the roll-up tables held in memory when they are
fresh for the range asked, otherwise from the sightings through the very call the CLI makes
(measure.census_run.census_of_dataset), so a page and `botcensus census` always agree.

A roll-up answers a query only when (measure.rollups.answerable) it keeps that grouping and
whole windows, and when, over the query's range, its tables were built from exactly the
sightings on disk (store.aggregates.freshness) and no day needs the sketches (a day whose
raw sightings expired: the CLI counts it from sketches, in unit `unique_ip_hll`). Anything
else is counted from the sightings, a few at a time, and remembered per dataset state.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.measure.census import CensusQuery
from botcensus.measure.census_run import census_of_dataset, empty_note, partial_note
from botcensus.measure.rollups import (
    ROLLUP_SCHEMA,
    answerable,
    census_from_rollups,
    grouping_mask,
    rollup_span,
)
from botcensus.store import aggregates
from botcensus.store.db import connect
from botcensus.store.files import day_partitions
from botcensus.store.layout import SIGHTINGS as SIGHTINGS_DIR
from botcensus.store.layout import SKETCHES as SKETCHES_DIR
from botcensus.store.sketches import days_beyond_sightings

CHECK_SECONDS: Final = 2.0
"""How long a look at the files on disk is trusted before the next (stat calls only)."""
LIVE_CACHE: Final = 64


@dataclass(frozen=True, slots=True)
class Answer:
    """Census rows and what a reader must know about them."""

    rows: pa.Table
    unit: str
    source: str
    """`rollup` (exact, from the roll-up tables), `sightings` or `sketches`."""
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class State:
    """The dataset as last looked at."""

    fresh: aggregates.Freshness
    beyond: frozenset[date]
    """Days only the sketches hold in full (store.sketches.days_beyond_sightings)."""
    first_day: date | None
    last_day: date | None
    days: frozenset[date] = frozenset()
    """Days with data (a sightings or sketches partition): what a window covers."""


def _days(dataset: Path) -> frozenset[date]:
    return frozenset(
        date.fromisoformat(d)
        for area in (SIGHTINGS_DIR, SKETCHES_DIR)
        for d, _ in day_partitions(dataset / area).days
    )


class CensusView:
    """One dataset's census as the web server answers it (thread-safe)."""

    def __init__(self, dataset: Path, week_ends: str = "sat", live_workers: int = 1) -> None:
        self.dataset = dataset
        self.week_ends = week_ends
        self._con = connect()
        self._lock = threading.Lock()
        self._live = threading.BoundedSemaphore(live_workers)
        self._cache: OrderedDict[tuple[object, ...], Answer] = OrderedDict()
        self._checked = -1e9
        self._loaded_token: str | None = None
        self._state: State | None = None
        self._values: dict[str, list[object]] = {}
        self._names: dict[int, str] = {}
        for name in ("rollup_day", "rollup_week"):
            self._con.register(f"{name}_empty", ROLLUP_SCHEMA.empty_table())
            self._con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_empty")  # noqa: S608
            self._con.unregister(f"{name}_empty")

    # -- the dataset on disk -------------------------------------------------------------
    def state(self) -> State:
        """The dataset's state, looked at again every CHECK_SECONDS; reloads the roll-up
        tables when they changed."""
        now = time.monotonic()
        with self._lock:
            if self._state is not None and now - self._checked < CHECK_SECONDS:
                return self._state
            fresh = aggregates.freshness(self.dataset, self.week_ends)
            if fresh.token != self._loaded_token:
                self._load(fresh)
                self._loaded_token = fresh.token
                self._cache.clear()
                self._values = self._read_values()
            days = _days(self.dataset)
            first, last = (min(days), max(days)) if days else (None, None)
            beyond = frozenset(days_beyond_sightings(self.dataset))
            self._state = State(fresh, beyond, first, last, days)
            self._checked = now
            return self._state

    def _load(self, fresh: aggregates.Freshness) -> None:
        for table, area in (
            ("rollup_day", aggregates.area(None)),
            ("rollup_week", aggregates.area(self.week_ends)),
        ):
            files = [str(f) for f in fresh.files.get(area, [])]
            if files:
                source = self._con.read_parquet(files, hive_partitioning=False)
                source.create_view(f"{table}_files", replace=True)
                select = f"SELECT * FROM {table}_files"  # noqa: S608
            else:
                self._con.register(f"{table}_none", ROLLUP_SCHEMA.empty_table())
                select = f"SELECT * FROM {table}_none"  # noqa: S608
            self._con.execute(f"CREATE OR REPLACE TABLE {table} AS {select} ORDER BY grouping")

    def _read_values(self) -> dict[str, list[object]]:
        values: dict[str, list[object]] = {}
        for dim in ("country", "family", "feed"):
            rows = self._con.execute(
                f"SELECT DISTINCT {dim} FROM rollup_day WHERE grouping = $g "  # noqa: S608
                f"AND {dim} IS NOT NULL ORDER BY 1",
                {"g": grouping_mask({dim})},
            ).fetchall()
            values[dim] = [r[0] for r in rows]
        names = self._con.execute(
            "SELECT asn, arg_max(as_name, window_start) FROM rollup_day "
            "WHERE grouping = $g AND asn IS NOT NULL AND as_name IS NOT NULL GROUP BY asn",
            {"g": grouping_mask({"asn"})},
        ).fetchall()
        self._names = {int(a): str(n) for a, n in names}
        return values

    def values(self, dimension: str) -> list[object]:
        """The countries, families or feeds in the day roll-up."""
        self.state()
        return list(self._values.get(dimension, []))

    def as_name(self, asn: int | None) -> str | None:
        """A network's name as the sightings last gave it."""
        return None if asn is None else self._names.get(asn)

    def generation(self) -> tuple[str, frozenset[date]]:
        """What every answer depends on: the roll-up and sightings files (their digest) and
        the days only the sketches hold. A new generation after any change to the data."""
        state = self.state()
        return state.fresh.token, state.beyond

    # -- answers ---------------------------------------------------------------------------
    def _stale_in_range(self, state: State, query: CensusQuery) -> str | None:
        lo, hi = query.date_from or date.min, query.date_to or date.max
        stale = state.fresh.stale_days if query.window == "day" else state.fresh.stale_weeks
        hit = sorted(d for d in stale if lo <= d <= hi)
        if hit:
            return (
                f"the roll-up is older than the sightings for {len(hit)} window(s) from "
                f"{hit[0]} (`botcensus rollup` brings it up to date)"
            )
        beyond = sorted(d for d in state.beyond if lo <= d <= hi)
        if beyond:
            return f"{len(beyond)} day(s) from {beyond[0]} may need the sketches"
        return None

    def answer(self, query: CensusQuery, top: int | None = None) -> Answer:
        """The census of `query` (top N groups per window when `top`)."""
        state = self.state()
        why = answerable(query, self.week_ends) or self._stale_in_range(state, query)
        if why is None:
            table = "rollup_day" if query.window == "day" else "rollup_week"
            with self._lock:
                cursor = self._con.cursor()
            notes: tuple[str, ...] = ()
            try:
                rows = census_from_rollups(cursor, query, table, "rollup_day")
                if rows.num_rows == 0:
                    notes = (empty_note(query, rollup_span(cursor, query, "rollup_day")),)
                cut = partial_note(rows, query)  # as the census from the sightings says it
                if cut:
                    notes = (*notes, cut)
            finally:
                cursor.close()
            if top is not None:
                rows = rows.filter(pc.less_equal(rows["rank"], top))
            return Answer(rows, "unique_ip", "rollup", notes)
        return self._counted(state, query, top, why)

    def _counted(self, state: State, query: CensusQuery, top: int | None, why: str) -> Answer:
        key = (state.fresh.token, tuple(sorted(state.beyond)), query, top)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        with self._live:  # a few at a time: each reads every sightings file
            result = census_of_dataset(self.dataset, query, top=top)
        note = f"counted from the raw sightings: {why}"
        answer = Answer(result.rows, result.unit, result.source, (note, *result.notes))
        with self._lock:
            self._cache[key] = answer
            while len(self._cache) > LIVE_CACHE:
                self._cache.popitem(last=False)
        return answer

    def coverage(self, rows: pa.Table) -> tuple[list[int], list[bool]]:
        """Per row: the days of its window that hold data, and whether that is fewer than
        the window's length (partial: a window running past the data's first or last day,
        or one with days missing inside, such as a sinkhole outage)."""
        if rows.num_rows == 0:
            return [], []
        if "days_covered" in rows.column_names and "partial" in rows.column_names:
            # The census's own coverage (per feed when the rows are by feed).
            return rows["days_covered"].to_pylist(), rows["partial"].to_pylist()
        days = self.state().days
        spans = zip(rows["window_start"].to_pylist(), rows["window_end"].to_pylist(), strict=True)
        known: dict[tuple[date, date], int] = {}
        covered = []
        partial = []
        for start, end in spans:
            if (start, end) not in known:
                length = (end - start).days + 1
                known[start, end] = sum(start + timedelta(days=i) in days for i in range(length))
            covered.append(known[start, end])
            partial.append(known[start, end] < (end - start).days + 1)
        return covered, partial

    def close(self) -> None:
        self._con.close()
