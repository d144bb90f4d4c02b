"""Feed events -> daily sightings (sightings/date=D/feeds.parquet), counted by the census.

One sighting per (day, source IP, bot id, family, sensor, feed) with first and last time and
hits (= report rows). Country and ASN are our enrichment, stored on the events at ingest.
Events without a source address (referer reports) are stored but make no sighting.

Ingest adds the sightings of the event files it wrote to those already there;
`rebuild_days` recomputes days from all their events.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from botcensus.feeds.dataset import FEEDS_DIR, feed_files
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store.damaged import read_screened
from botcensus.store.files import open_private, private_dir
from botcensus.store.ledger import stamp
from botcensus.store.sightings import SIGHTINGS_DIR

FEED_PART: Final = "feeds"

_GROUPS: Final = "day, source_ip, bot_id, malware_family, sensor, feed_name"
_AGGREGATES: Final = (
    "min(first_seen) AS first_seen, max(last_seen) AS last_seen, sum(hits)::BIGINT AS hits, "
    "max(source_cc) AS source_cc, max(source_asn) AS source_asn, "
    "max(source_as_name) AS source_as_name, max(geo_db) AS geo_db"
)
_EVENTS: Final = (
    "SELECT CAST(time_source AS DATE) AS day, source_ip, bot_id, "
    "malware_name AS malware_family, sensor, feed_name, time_source AS first_seen, "
    "time_source AS last_seen, 1 AS hits, source_cc, source_asn, source_as_name, geo_db "
    "FROM {source} WHERE source_ip IS NOT NULL"
)
# Not sorted: the census reads sightings with SQL, and sorting a day's addresses cost as much
# as the aggregation itself (1 s per million events).
_ROLLUP: Final = f"SELECT {_GROUPS}, {_AGGREGATES} FROM ({{rows}}) GROUP BY {_GROUPS}"  # noqa: S608


MEMORY_LIMIT: Final = "512MB"
BATCH_ROWS: Final = 65_536


def connect(spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC whose memory is bounded (spilling to `spill` if given)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    if spill is not None:
        private_dir(spill)  # spilled rows hold addresses
        con.execute("SET temp_directory = ?", [str(spill)])
    return con


def _shape(data: pa.Table | pa.RecordBatch) -> pa.Table:
    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    return table.select(SIGHTING_SCHEMA.names).cast(SIGHTING_SCHEMA)


def feed_sightings(files: list[Path]) -> pa.Table:
    """The daily sightings of a set of feed-event files."""
    if not files:
        return SIGHTING_SCHEMA.empty_table()
    source = "read_parquet(?, union_by_name = true, hive_partitioning = false)"
    sql = _ROLLUP.format(rows=_EVENTS.format(source=source))
    return _shape(connect().sql(sql, params=[[str(f) for f in files]]).to_arrow_table())


def _written(
    dataset: Path,
    con: duckdb.DuckDBPyConnection,
    sql: str,
    files: list[Path],
    target: Path,
    extra: list[object],
) -> int:
    """_write_day over the readable files: a damaged one is quarantined and left out."""

    def write(chosen: list[Path]) -> int:
        if not chosen:
            return 0
        return _write_day(con, sql, [[str(f) for f in chosen], *extra], target)

    rows, _ = read_screened(dataset, files, write, None, ("time_source",))
    return rows


def _write_day(con: duckdb.DuckDBPyConnection, sql: str, params: list[object], target: Path) -> int:
    """Stream a day's sightings into `target` (temporary name, fsync, rename): memory holds
    DuckDB's bounded aggregation and one batch, not the day."""
    private_dir(target.parent)
    tmp = target.parent / f".{target.name}.tmp"
    os.close(open_private(tmp))  # 0600 before a byte is written
    rows = 0
    with pq.ParquetWriter(tmp, SIGHTING_SCHEMA, compression="zstd") as writer:
        for batch in con.sql(sql, params=params).to_arrow_reader(BATCH_ROWS):
            writer.write_table(_shape(batch))
            rows += batch.num_rows
    if rows == 0:
        tmp.unlink()
        return 0
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return rows


def _readable(dataset: Path, path: Path) -> bool:
    """Whether a sightings file has a readable footer (if not, it is quarantined)."""
    _, used = read_screened(dataset, [path], lambda fs: [pq.read_metadata(f) for f in fs])
    return bool(used)


def _target(dataset: Path, day: str) -> Path:
    return dataset / SIGHTINGS_DIR / f"date={day}" / f"{FEED_PART}.parquet"


def rebuild_days(dataset: Path, days: list[str]) -> int:
    """Recompute the feed sightings of these days from all their feed events."""
    con = connect(dataset / FEEDS_DIR / ".spill")
    source = "read_parquet(?, union_by_name = true, hive_partitioning = false)"
    sql = _ROLLUP.format(rows=_EVENTS.format(source=source))
    total = 0
    for day in sorted(days):
        files = feed_files(dataset, [day])
        if files:
            total += _written(dataset, con, sql, files, _target(dataset, day), [])
    stamp(dataset, "sightings", sorted(days), datetime.now(UTC))
    return total


def add_new_events(dataset: Path, new_files: dict[str, list[Path]]) -> int:
    """Merge the sightings of newly stored event files into their days' sightings (new events
    are never stored ones, so first/last/hits add up exactly); sightings written."""
    con = connect(dataset / FEEDS_DIR / ".spill")
    total = 0
    for day, files in sorted(new_files.items()):
        target = _target(dataset, day)
        source = "read_parquet(?, union_by_name = true, hive_partitioning = false)"
        rows = _EVENTS.format(source=source)
        extra: list[object] = []
        if target.exists() and _readable(dataset, target):
            rows += " UNION ALL BY NAME SELECT * FROM read_parquet(?)"
            extra.append(str(target))
        total += _written(dataset, con, _ROLLUP.format(rows=rows), files, target, extra)
    stamp(dataset, "sightings", sorted(new_files), datetime.now(UTC))
    return total
