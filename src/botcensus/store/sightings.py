"""Roll raw events up into daily sightings: one row per (day, source IP, bot id, family,
sensor, feed) with first seen, last seen and hits, enriched with country and ASN.

Incremental and idempotent: a manifest records which event files each day was built from;
a day is rebuilt (from all its event files, replacing its sightings file atomically) only
when that set changed. Sightings never shrink because event files went away: when files a
day was built from are gone (deleted by retention, or quarantined as unreadable), the
sightings of that day's new files are added to what is there instead. Roll-up deletes
nothing; it stamps each day it rolls in the retention ledger (store/ledger.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.ipaddr import canonical_ips
from botcensus.model import SIGHTING_SCHEMA, SINKHOLE_FEED_NAME
from botcensus.store import layout, ledger, manifest
from botcensus.store.atomic import DatasetError, write_parquet
from botcensus.store.damaged import read_screened
from botcensus.store.db import connect
from botcensus.store.files import area_files, day_files, day_partitions, locked, warn
from botcensus.store.manifest import Entry, fingerprint
from botcensus.store.read import EVENT_REQUIRED, SIGHTING_REQUIRED, as_name_of_asn, guarded
from botcensus.store.sighting_key import as_sightings

Enrich = Callable[[pa.Table], pa.Table]

_ROLLUP_SQL = f"""
SELECT CAST(time_received AS DATE) AS day, source_ip, bot_id, malware_family, sensor,
       '{SINKHOLE_FEED_NAME}' AS feed_name,
       min(time_received) AS first_seen, max(time_received) AS last_seen, count(*) AS hits
FROM (
    SELECT {guarded("time_received", "events")} AS time_received,
           {guarded("source_ip", "events")} AS source_ip, bot_id, malware_family,
           {guarded("sensor", "events")} AS sensor
    FROM read_parquet(?, hive_partitioning = false)
)
GROUP BY ALL
ORDER BY source_ip, bot_id, malware_family, sensor
"""  # noqa: S608 (constant from model.py, no user input)
_KEYS: Final = "day, source_ip, bot_id, malware_family, sensor, feed_name"
_MERGE_SQL = f"""
SELECT {_KEYS}, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
       sum(hits)::BIGINT AS hits, max(source_cc) AS source_cc, max(source_asn) AS source_asn,
       {as_name_of_asn()} AS source_as_name, max(geo_db) AS geo_db
FROM (SELECT * FROM old UNION ALL BY NAME SELECT * FROM new)
GROUP BY {_KEYS}
ORDER BY source_ip, bot_id, malware_family, sensor
"""  # noqa: S608 (constant)


@dataclass(frozen=True, slots=True)
class RollupReport:
    """Days rebuilt and left alone by one roll-up run, and what it could not read."""

    days_rolled: tuple[str, ...]
    days_unchanged: int
    sightings: int
    problems: tuple[str, ...] = ()
    """Files quarantined, partitions refused: one message each (also logged)."""


def sightings_from_events(files: list[Path], left_out: list[str] | None = None) -> pa.Table:
    """The daily sightings of a set of event files (not yet enriched). Events no sighting
    can hold are left out and described in `left_out` (the events stay in their files)."""
    if not files:
        return SIGHTING_SCHEMA.empty_table()
    con = connect()
    table = con.sql(_ROLLUP_SQL, params=[[str(f) for f in files]]).to_arrow_table()
    try:  # as_sightings checks every address anyway: the usual day is checked once
        return as_sightings(table)
    except ValueError:
        kept, why = storable(table)
    if left_out is not None:
        left_out.extend(why)
    return as_sightings(kept)


def storable(table: pa.Table) -> tuple[pa.Table, list[str]]:
    """The rows of rolled-up `table` (day, source_ip, hits, ...) that sightings can hold, and
    the sentence on those left out: a source that is no address (0.0.0.0 or `::`, written by
    a sinkhole version that took them from a PROXY header). One such event must not stop the
    roll-up of every other: it is counted and named instead. (A day outside the stored range
    never gets here: its partition is refused, store.files.)"""
    address = pc.fill_null(pc.is_valid(canonical_ips(table["source_ip"])), False)
    if pc.all(address).as_py() is not False:
        return table, []
    rows = table.filter(pc.invert(address))
    events = pc.sum(rows["hits"]).as_py() or 0
    why = (
        f"{events:,} event{'s' if events != 1 else ''} left out of the sightings: source_ip "
        f"is not an address (first: {rows['source_ip'][0].as_py()!r}); they stay in the event "
        "files"
    )
    return table.filter(address), [why]


def merge_sightings(old: pa.Table, new: pa.Table) -> pa.Table:
    """Sightings of disjoint event sets added up (first/last seen, hits)."""
    con = connect()
    con.register("old", as_sightings(old))
    con.register("new", as_sightings(new))
    return as_sightings(con.sql(_MERGE_SQL).to_arrow_table())


class _Day:
    """Roll up one day of events."""

    def __init__(self, dataset: Path, day: str, day_dir: Path, rolled: Entry):
        self.dataset, self.day, self.day_dir = dataset, day, day_dir
        self.rolled = rolled
        self.target = layout.part(dataset, layout.SIGHTINGS, day, layout.SINKHOLE_PART)
        self.problems: list[str] = []

    def _read(self, files: list[Path]) -> tuple[pa.Table, list[Path]]:
        left_out: list[str] = []

        def read(chosen: list[Path]) -> pa.Table:
            left_out.clear()  # a read after screening replaces the failed one's
            return sightings_from_events(chosen, left_out)

        result = read_screened(self.dataset, files, read, self.problems, EVENT_REQUIRED)
        self.problems += [warn(f"{self.day_dir}: {why}") for why in left_out]
        return result

    def roll(self, enrich: Enrich) -> tuple[pa.Table, Entry] | None:
        """The day's new sightings and manifest entry, or None when nothing changed."""
        files = day_files(self.day_dir, self.problems)
        if fingerprint(files) == self.rolled and self.target.exists():
            return None
        known = manifest.names(self.rolled)
        if not self.target.exists():
            return self._rebuild(files, enrich, known)
        if known <= {f.name for f in files}:
            table, used = self._read(files)
            if known <= {f.name for f in used}:
                return (enrich(table), fingerprint(used)) if used else None
        # Files the sightings were built from are gone: add the new files' sightings only.
        old = self._existing()
        if old is None:
            return self._rebuild(day_files(self.day_dir), enrich, known)
        new = [f for f in day_files(self.day_dir) if f.name not in known]
        if not new:
            return None
        table, used = self._read(new)
        if not used:
            return None
        return merge_sightings(old, enrich(table)), self.rolled + fingerprint(used)

    def _rebuild(
        self, files: list[Path], enrich: Enrich, known: set[str]
    ) -> tuple[pa.Table, Entry] | None:
        table, used = self._read(files)
        lost = known - {f.name for f in used}
        if lost:
            self.problems.append(
                warn(
                    f"{self.target}: rebuilt from the {len(used)} event files left; "
                    f"{len(lost)} event files it was built from earlier are gone"
                )
            )
        return (enrich(table), fingerprint(used)) if used else None

    def _existing(self) -> pa.Table | None:
        """The day's sinkhole sightings, or None if they were unreadable (quarantined)."""
        table, used = read_screened(
            self.dataset,
            [self.target],
            _read_one,
            self.problems,
            SIGHTING_REQUIRED,
        )
        if used:
            return table
        if self.target.exists():
            raise DatasetError(f"{self.target}: cannot be read; day {self.day} not rolled up")
        return None


def rollup(dataset: Path, enrich: Enrich, *, now: datetime | None = None) -> RollupReport:
    """Bring the sinkhole's daily sightings up to date with its event files; stamp the days
    rolled (at `now`, default the wall clock) in the retention ledger."""
    listing = day_partitions(dataset / layout.EVENTS)
    problems = list(listing.problems)
    if not listing.days:
        return RollupReport((), 0, 0, tuple(problems))
    now = now or datetime.now(UTC)
    rolled, unchanged, total = [], 0, 0
    with locked(dataset / layout.ROLLUP_LOCK):
        rolled_from = manifest.load(dataset, manifest.SIGHTINGS)
        for day, day_dir in listing.days:
            out = layout.day_dir(dataset, layout.SIGHTINGS, day)
            if out.is_symlink() or (out.exists() and not out.is_dir()):
                problems.append(warn(f"{out}: not a directory of the dataset; {day} not rolled up"))
                continue
            job = _Day(dataset, day, day_dir, rolled_from.entry(day))
            result = job.roll(enrich)
            problems += job.problems
            if result is None:
                unchanged += 1
                continue
            table, entry = result
            table = as_sightings(table)  # the enrichment step may have replaced columns
            write_parquet(table, job.target)
            rolled_from.record(day, entry)  # per day: a crash loses no finished day
            rolled.append(day)
            total += table.num_rows
    ledger.update(
        dataset,
        {"events": dict.fromkeys(rolled, _iso(now)), "sightings": dict.fromkeys(rolled, _iso(now))},
    )
    return RollupReport(tuple(rolled), unchanged, total, tuple(problems))


def _iso(when: datetime) -> str | None:
    return when.isoformat(timespec="seconds")


def write_sightings(
    table: pa.Table, dataset: Path, part: str, *, now: datetime | None = None
) -> list[Path]:
    """Write sightings produced elsewhere (a feed, the simulator's direct path), one file
    per day named `part`, replacing an earlier file of the same name (idempotent)."""
    import pyarrow.compute as pc  # slow to load: only writers need it, not the census

    written = []
    table = as_sightings(table)
    days = []
    dataset.mkdir(parents=True, exist_ok=True)
    with locked(dataset / layout.ROLLUP_LOCK):
        for day in pc.unique(table["day"]).to_pylist():
            sub = table.filter(pc.equal(table["day"], pa.scalar(day, pa.date32())))
            target = layout.part(dataset, layout.SIGHTINGS, day.isoformat(), part)
            write_parquet(sub, target)
            written.append(target)
            days.append(day.isoformat())
    ledger.stamp(dataset, "sightings", days, now or datetime.now(UTC))
    return written


def sighting_files(dataset: Path) -> list[Path]:
    """The readable-looking sightings files, in day order."""
    return area_files(dataset / layout.SIGHTINGS)


def _read_one(files: list[Path]) -> pa.Table | None:
    import pyarrow.parquet as pq  # only when a day is merged: the census reads with DuckDB

    return as_sightings(pq.read_table(files[0])) if files else None
