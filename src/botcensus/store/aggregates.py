"""Roll-up tables, a store product: exact census counts per day and per week, built from the
sightings so a dashboard answers without counting millions of rows on every request.

Layout: ``aggregates/day/date=YYYY-MM-DD/census.parquet`` (one day) and
``aggregates/week-<end>/date=YYYY-MM-DD/census.parquet`` (the week starting that day, ending
on weekday <end>). The rows are what a builder makes of the window's sightings (the web's
builder: measure.rollups.rollup_rows). A manifest records the sightings files each window was
built from: a window is built again only when they changed, and, like the sketches, kept
when retention deletes the sightings under it (a window whose files only went away keeps
its table). Readers compare the manifest with the sightings now on disk (`stale_days`) and
count from the sightings wherever the two differ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import pyarrow as pa

from botcensus.store import layout, manifest
from botcensus.store.atomic import write_json
from botcensus.store.atomic import write_parquet as write_private
from botcensus.store.damaged import read_screened
from botcensus.store.db import connect
from botcensus.store.files import day_files, day_partitions, locked, warn
from botcensus.store.manifest import fingerprint
from botcensus.store.read import SIGHTING_REQUIRED

ROLLUP_LOCK: Final = layout.ROLLUP_LOCK
SIGHTINGS_DIR: Final = layout.SIGHTINGS

if TYPE_CHECKING:
    import duckdb

AGGREGATES_DIR: Final = layout.AGGREGATES
MANIFEST: Final = layout.AGGREGATED.name
PART: Final = "census.parquet"
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Window = Literal["day", "week"]
Builder = Callable[["duckdb.DuckDBPyConnection", str, Window], pa.Table]
"""(connection, name of a view over one window's sightings, window kind) -> rows to keep."""


@dataclass(frozen=True, slots=True)
class AggregateReport:
    """Windows built and left alone by one run."""

    days_built: tuple[str, ...]
    weeks_built: tuple[str, ...]
    unchanged: int
    kept: tuple[str, ...] = ()
    """Windows whose sightings files only went away (retention): their tables are kept."""


def area(week_ends: str | None) -> str:
    """The directory name of day windows (None) or of weeks ending on `week_ends`."""
    if week_ends is None:
        return "day"
    if week_ends not in WEEKDAYS:
        raise ValueError(f"week end {week_ends!r}: choose from {', '.join(WEEKDAYS)}")
    return f"week-{week_ends}"


def week_start(day: date, week_ends: str) -> date:
    """The first day of the week (ending on `week_ends`) that holds `day`."""
    return day - timedelta(days=(day.weekday() - WEEKDAYS.index(week_ends) - 1) % 7)


def read_manifest(dataset: Path) -> dict[str, dict[str, list[list[object]]]]:
    """Which sightings files each window was built from, by area. Unreadable: empty (every
    window is built again; tables of days whose sightings are gone stay as they are)."""

    def areas(raw: object) -> dict[str, dict[str, list[list[object]]]]:
        return {str(k): dict(v) for k, v in dict(raw).items()}  # type: ignore[call-overload]

    return manifest.read(dataset, manifest.AGGREGATES, areas, {})


def _current(dataset: Path) -> dict[str, list[Path]]:
    return {day: day_files(d) for day, d in day_partitions(dataset / SIGHTINGS_DIR).days}


def _entries(files: Iterable[tuple[str, list[Path]]]) -> list[list[object]]:
    """A window's fingerprint: each of its days' files, named by day."""
    return [[f"{day}/{e[0]}", e[1], e[2]] for day, paths in files for e in fingerprint(paths)]


def _build(
    dataset: Path, files: list[Path], window: Window, build: Builder
) -> tuple[pa.Table, list[Path]] | None:
    def read(chosen: list[Path]) -> pa.Table | None:
        if not chosen:
            return None
        con = connect()
        try:
            rel = con.read_parquet(
                [str(f) for f in chosen], hive_partitioning=False, union_by_name=True
            )
            rel.create_view("window_sightings")
            return build(con, "window_sightings", window)
        finally:
            con.close()

    table, used = read_screened(dataset, files, read, None, SIGHTING_REQUIRED)
    return None if table is None else (table, used)


def aggregate_windows(dataset: Path, build: Builder, week_ends: str = "sat") -> AggregateReport:
    """Bring the day and week tables up to date with the sightings (incremental,
    idempotent; deletes nothing)."""
    current = _current(dataset)
    if not current:
        return AggregateReport((), (), 0)
    root = dataset / AGGREGATES_DIR
    built: dict[str, list[str]] = {"day": [], "week": []}
    kept: list[str] = []
    unchanged = 0
    weeks: dict[date, list[str]] = {}
    for day in current:
        weeks.setdefault(week_start(date.fromisoformat(day), week_ends), []).append(day)
    plans: list[tuple[Window, str, str, list[tuple[str, list[Path]]]]] = [
        ("day", area(None), day, [(day, files)]) for day, files in current.items()
    ]
    plans += [
        ("week", area(week_ends), start.isoformat(), [(d, current[d]) for d in days])
        for start, days in sorted(weeks.items())
    ]
    with locked(dataset / ROLLUP_LOCK):
        done = read_manifest(dataset)
        for window, name, key, parts in plans:
            entry = _entries(parts)
            before = done.get(name, {}).get(key)
            if before == entry:
                unchanged += 1
                continue
            known = {str(e[0]) for e in before} if isinstance(before, list) else set()
            names = {str(e[0]) for e in entry}
            if before is not None and known - names and names <= known:
                kept.append(f"{name}/{key}")  # only files went away: keep what they held
                continue
            result = _build(dataset, [f for _, fs in parts for f in fs], window, build)
            if result is None:
                continue
            table, used = result
            write_private(table, root / name / f"date={key}" / PART)
            used_set = set(used)
            done.setdefault(name, {})[key] = _entries(
                [(d, [f for f in fs if f in used_set]) for d, fs in parts]
            )
            manifest.write(dataset, manifest.AGGREGATES, done)  # a crash loses no finished window
            built[window].append(key)
    return AggregateReport(tuple(built["day"]), tuple(built["week"]), unchanged, tuple(kept))


@dataclass(frozen=True, slots=True)
class Freshness:
    """How the roll-up tables stand against the sightings on disk."""

    files: dict[str, list[Path]]
    """Area ("day", "week-sat") -> its table files, in window order."""
    stale_days: frozenset[date]
    """Days whose sightings differ from what their day table was built from (or that have no
    table): a reader counts these from the sightings."""
    stale_weeks: frozenset[date]
    """Starts of the weeks whose table does not match their sightings."""
    token: str
    """Changes whenever a table or the sightings change: a cache key."""


def freshness(dataset: Path, week_ends: str = "sat") -> Freshness:
    """Compare the manifest with the sightings files now on disk (stat calls only). A
    window is stale when its sightings differ from what its table was built from: new or
    changed files, files gone (retention), or no table at all."""
    import hashlib

    current = _current(dataset)
    done = read_manifest(dataset)
    days_done = done.get(area(None), {})
    weeks_done = done.get(area(week_ends), {})
    day_keys = set(current) | set(days_done)
    stale_days = {
        date.fromisoformat(day)
        for day in day_keys
        if days_done.get(day) != _entries([(day, current.get(day, []))])
    }
    weeks: dict[str, list[str]] = {start: [] for start in weeks_done}
    for day in current:
        weeks.setdefault(week_start(date.fromisoformat(day), week_ends).isoformat(), []).append(day)
    stale_weeks = {
        date.fromisoformat(start)
        for start, days in weeks.items()
        if weeks_done.get(start) != _entries([(d, current[d]) for d in sorted(days)])
    }
    files = {}
    for name in (area(None), area(week_ends)):
        listing = day_partitions(dataset / AGGREGATES_DIR / name)
        files[name] = [d / PART for _, d in listing.days if (d / PART).is_file()]
    digest = hashlib.sha256()
    for paths in [*current.values(), *files.values()]:
        for path in paths:
            st = path.stat()
            digest.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return Freshness(files, frozenset(stale_days), frozenset(stale_weeks), digest.hexdigest())


# -- products: whole-dataset results too slow to compute per request ----------------------
PRODUCTS_DIR: Final = "products"


def data_token(dataset: Path) -> str:
    """A digest of every sightings and sketch file's name, size and time: a product built
    under one token is current while the token is unchanged."""
    import hashlib

    from botcensus.store.files import area_files

    digest = hashlib.sha256()
    for area_name in (SIGHTINGS_DIR, layout.SKETCHES):
        for path in area_files(dataset / area_name):
            st = path.stat()
            digest.update(f"{path.relative_to(dataset)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def write_product(
    dataset: Path, name: str, table: pa.Table | None, meta: dict[str, object]
) -> None:
    """Keep a product: its rows (Parquet, if any) and what describes them (JSON, written
    last: a product is read only when its JSON names the rows' file)."""
    if not name.replace("-", "").isalnum():
        raise ValueError(f"product name {name!r} is not a plain name")
    root = dataset / AGGREGATES_DIR / PRODUCTS_DIR
    if table is not None:
        write_private(table, root / f"{name}.parquet")
        meta = {**meta, "rows_file": f"{name}.parquet"}
    write_json(meta, root / f"{name}.json")


def read_product(dataset: Path, name: str) -> tuple[pa.Table | None, dict[str, object]] | None:
    """A product's rows and description, or None when it was never built (or is unreadable)."""
    import pyarrow.parquet as pq

    root = dataset / AGGREGATES_DIR / PRODUCTS_DIR
    try:
        meta = dict(json.loads((root / f"{name}.json").read_text(encoding="utf-8")))
        rows_file = meta.get("rows_file")
        table = pq.read_table(root / str(rows_file)) if rows_file else None
    except (OSError, ValueError, TypeError) as exc:
        if (root / f"{name}.json").exists():
            warn(f"{root / name}: product cannot be read ({exc}); `botcensus rollup` builds it")
        return None
    return table, meta
