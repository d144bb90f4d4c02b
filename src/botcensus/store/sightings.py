"""Roll raw events up into daily sightings: one row per (day, source IP, bot id, family,
sensor, feed) with first seen, last seen and hits, enriched with country and ASN.

Incremental and idempotent: a manifest records which event files each day was built from;
a day is rebuilt (from all its event files, replacing its sightings file atomically) only
when that set changed. Days whose raw events retention removed keep their sightings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from botcensus.model import SIGHTING_SCHEMA, SINKHOLE_FEED_NAME
from botcensus.store.events import EVENTS_DIR, write_atomic
from botcensus.store.read import connect

SIGHTINGS_DIR = "sightings"
MANIFEST = "_rolled.json"
SINKHOLE_PART = "sinkhole.parquet"

Enrich = Callable[[pa.Table], pa.Table]

_ROLLUP_SQL = f"""
SELECT CAST(time_received AS DATE) AS day, source_ip, bot_id, malware_family, sensor,
       '{SINKHOLE_FEED_NAME}' AS feed_name,
       min(time_received) AS first_seen, max(time_received) AS last_seen, count(*) AS hits
FROM read_parquet(?, hive_partitioning = false)
GROUP BY ALL
ORDER BY source_ip, bot_id, malware_family, sensor
"""  # noqa: S608 (constant from model.py, no user input)


@dataclass(frozen=True, slots=True)
class RollupReport:
    """Days rebuilt and left alone by one roll-up run."""

    days_rolled: tuple[str, ...]
    days_unchanged: int
    sightings: int


def _fingerprint(files: list[Path]) -> list[list[object]]:
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def sightings_from_events(files: list[Path]) -> pa.Table:
    """The daily sightings of a set of event files (not yet enriched)."""
    con = connect()
    table = con.sql(_ROLLUP_SQL, params=[[str(f) for f in files]]).to_arrow_table()
    columns = {name: table[name] for name in table.column_names}
    n = table.num_rows
    for field in SIGHTING_SCHEMA:
        if field.name not in columns:
            columns[field.name] = pa.nulls(n, field.type)
    return pa.table(columns).select(SIGHTING_SCHEMA.names).cast(SIGHTING_SCHEMA)


def rollup(dataset: Path, enrich: Enrich) -> RollupReport:
    """Bring the sinkhole's daily sightings up to date with its event files."""
    root = dataset / SIGHTINGS_DIR
    manifest_path = root / MANIFEST
    manifest: dict[str, object] = (
        json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    )
    rolled, unchanged, total = [], 0, 0
    events_root = dataset / EVENTS_DIR
    days = sorted(events_root.glob("date=*")) if events_root.is_dir() else []
    for day_dir in days:
        files = sorted(day_dir.glob("[!.]*.parquet"))
        if not files:
            continue
        day = day_dir.name.removeprefix("date=")
        stamp = _fingerprint(files)
        if manifest.get(day) == stamp:
            unchanged += 1
            continue
        table = enrich(sightings_from_events(files))
        write_atomic(table, root / f"date={day}" / SINKHOLE_PART)
        manifest[day] = stamp
        rolled.append(day)
        total += table.num_rows
    if rolled:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(manifest_path)
    return RollupReport(tuple(rolled), unchanged, total)


def write_sightings(table: pa.Table, dataset: Path, part: str) -> list[Path]:
    """Write sightings produced elsewhere (a feed, the simulator's direct path), one file
    per day named `part`, replacing an earlier file of the same name (idempotent)."""
    import pyarrow.compute as pc  # slow to load: only writers need it, not the census

    written = []
    table = table.select(SIGHTING_SCHEMA.names).cast(SIGHTING_SCHEMA)
    for day in pc.unique(table["day"]).to_pylist():
        sub = table.filter(pc.equal(table["day"], pa.scalar(day, pa.date32())))
        target = dataset / SIGHTINGS_DIR / f"date={day.isoformat()}" / f"{part}.parquet"
        write_atomic(sub, target)
        written.append(target)
    return written


def sighting_files(dataset: Path) -> list[Path]:
    root = dataset / SIGHTINGS_DIR
    return sorted(root.glob("date=*/[!.]*.parquet")) if root.is_dir() else []
