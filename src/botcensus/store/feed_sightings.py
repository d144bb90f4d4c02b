"""Feed events -> daily sightings (sightings/date=D/feeds.parquet), counted by the census.

One sighting per (day, source IP, bot id, family, sensor, feed) with first and last time and
hits (= report rows). Country and ASN are our enrichment, stored on the events at ingest.
Events without a source address (referer reports) are stored but make no sighting.

An ingest marks the days it stores events of as pending before it publishes them, then adds
the sightings of the files it wrote to those already there and clears the mark; a crash in
between leaves the mark, and the next ingest recomputes those days from all their events
(`finish_pending`). Retention keeps a pending day's events. The ingest also hands over what
the events it wrote hold of their enrichment (store/feed_facts.py): where each ASN came with one
AS name and the day with at most one geo database, the roll-up takes neither as text.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import layout
from botcensus.store.atomic import Pending, write_json
from botcensus.store.damaged import read_screened
from botcensus.store.db import connect
from botcensus.store.feed_events import feed_files
from botcensus.store.feed_facts import NO_ASN, Facts
from botcensus.store.ledger import stamp
from botcensus.store.sighting_key import as_sightings

_GROUPS: Final = "day, source_ip, bot_id, malware_family, sensor, feed_name"
# max() of text copies a string into every group's state; over an ENUM of the values in sorted
# order it compares integers and gives the same value (the AS name and geo database columns:
# 0.7 of 1.7 CPU-s per million events). The AS name is the one that came with the greatest
# ASN (store.as_name_of_asn, the rule of every other merge): max(asn * n + name's ENUM code),
# n the ENUM's size, holds the greatest ASN and the greatest of its names ('' for none; an
# ASN is never negative, so -1 stands for none and its names count only where no event had
# an ASN), decoded after the roll-up (`_paired`). arg_max over a struct of ASN and ENUM cost
# 0.45 CPU-s per million events more than the separate max(), this about 0.2.
_AGGREGATES: Final = (
    "min(first_seen) AS first_seen, max(last_seen) AS last_seen, sum(hits)::BIGINT AS hits, "
    "max(source_cc) AS source_cc, max(source_asn) AS source_asn, "
    "max(coalesce(source_asn, -1) * {n} "
    "+ enum_code(CAST(coalesce(source_as_name, '') AS sighting_as_names))) AS as_pair, "
    "CAST(max(CAST(geo_db AS sighting_geo_dbs)) AS VARCHAR) AS geo_db"
)
# Where each ASN came with one AS name and the day with at most one geo database (what the
# ingest saw as it wrote the events: store/feed_facts.py), the name follows from the greatest
# ASN and the geo database from whether any event had one: no text aggregated, no ENUM, no
# scan for their values (0.25-0.3 of 1.2 CPU-s per million events).
_KNOWN_AGGREGATES: Final = (
    "min(first_seen) AS first_seen, max(last_seen) AS last_seen, sum(hits)::BIGINT AS hits, "
    "max(source_cc) AS source_cc, max(source_asn) AS source_asn, "
    "bool_or(geo_db IS NOT NULL) AS has_geo"
)
_ENUMS: Final = (
    ("sighting_as_names", "source_as_name"),
    ("sighting_geo_dbs", "geo_db"),
)
_EVENTS: Final = (
    "SELECT CAST(time_source AS DATE) AS day, source_ip, bot_id, "
    "malware_name AS malware_family, sensor, feed_name, time_source AS first_seen, "
    "time_source AS last_seen, 1 AS hits, source_cc, source_asn, source_as_name, geo_db "
    "FROM read_parquet(?, union_by_name = true, hive_partitioning = false) "
    "WHERE source_ip IS NOT NULL"
)
# Not sorted: the census reads sightings with SQL, and sorting a day's addresses cost as much
# as the aggregation itself (1 s per million events).
_ROLLUP: Final = f"SELECT {_GROUPS}, {_AGGREGATES} FROM ({{rows}}) GROUP BY {_GROUPS}"  # noqa: S608
_KNOWN_ROLLUP: Final = f"SELECT {_GROUPS}, {_KNOWN_AGGREGATES} FROM ({{rows}}) GROUP BY {_GROUPS}"  # noqa: S608
Shape = Callable[[pa.Table | pa.RecordBatch], pa.Table]

MEMORY_LIMIT: Final = "512MB"
BATCH_ROWS: Final = 65_536
UNIQUE: Final = frozenset({"source_ip", "first_seen", "last_seen", "hits", "source_ip_lo"})
"""Columns with (nearly) one value per sighting: a Parquet dictionary of them costs time and
makes the file larger (12.3 instead of 15.3 MB per million events)."""


def _connect(dataset: Path | None = None) -> duckdb.DuckDBPyConnection:
    """Bounded memory: a day of a large feed spills to the dataset's private spill folder.
    All threads: one thread saves about 0.1 CPU-s per million events (no partitioned merge)
    but takes half as long again, and at 3 million events saves nothing."""
    spill = dataset / layout.FEED_SPILL if dataset is not None else None
    return connect(memory_limit=MEMORY_LIMIT, spill=spill)


def _rollup(con: duckdb.DuckDBPyConnection, rows: str, params: list[object]) -> tuple[str, Shape]:
    """The roll-up of `rows` (SQL with `params`), its text aggregates' ENUM types made on
    `con` from the values those rows hold (both read in one scan), and how to shape its
    batches (the AS names by ENUM code, '' first, decode the pair: `_shape`)."""
    lists = ", ".join(
        f"list(DISTINCT {column} ORDER BY {column}) FILTER (WHERE {column} IS NOT NULL)"
        for _, column in _ENUMS
    )
    found = con.execute(f"SELECT {lists} FROM ({rows})", params).fetchone()  # noqa: S608
    for (name, _), values in zip(_ENUMS, found or [None] * len(_ENUMS), strict=True):
        # the ENUM's order is the text order, so its max() is the text max()
        held = list(values or [])
        if name == "sighting_as_names" and "" not in held:
            held.append("")  # as_name_of_asn's stand-in for a missing name, the least
        con.execute(
            f"CREATE OR REPLACE TYPE {name} AS ENUM (SELECT unnest(?::VARCHAR[]) AS v ORDER BY v)",
            [held],
        )
    ((names,),) = con.execute("SELECT enum_range(NULL::sighting_as_names)").fetchall()
    codes = pa.array(names, pa.string())
    return _ROLLUP.format(rows=rows, n=len(names)), lambda data: _shape(data, codes)


def _known_rollup(rows: str, facts: Facts) -> tuple[str, Shape] | None:
    """The roll-up of `rows` where `facts` (a superset of what they hold) show each ASN with
    one AS name and at most one geo database; None where they do not."""
    names = facts.names()
    if names is None or len(facts.geo_dbs) > 1:
        return None
    geo = pa.scalar(next(iter(facts.geo_dbs), None), pa.string())
    return _KNOWN_ROLLUP.format(rows=rows), lambda data: _shape_known(data, names, geo)


def _table(data: pa.Table | pa.RecordBatch) -> pa.Table:
    return pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data


def _shape_known(data: pa.Table | pa.RecordBatch, names: pa.Table, geo: pa.Scalar) -> pa.Table:
    """A batch of `_known_rollup`: the AS name of the greatest ASN, the geo database where an
    event had one."""
    table = _table(data)
    at = pc.index_in(pc.fill_null(table["source_asn"], NO_ASN), value_set=names["asn"])
    if at.null_count:  # the facts were gathered from these very rows: never
        raise RuntimeError("feed sightings: an ASN the ingest did not see")
    name = names["name"].take(at)
    none = pa.scalar(None, pa.string())
    table = table.append_column("source_as_name", pc.if_else(pc.equal(name, ""), none, name))
    table = table.append_column("geo_db", pc.if_else(table["has_geo"], geo, none))
    return as_sightings(table)


def _paired(table: pa.Table, names: pa.Array) -> pa.Array:
    """The AS name of each sighting from its (ASN, name code) pair: the name that came with
    its ASN, none if that ASN came without one; the greatest name where no event had an ASN."""
    asn = pc.fill_null(table["source_asn"], -1)
    name = names.take(pc.subtract(table["as_pair"], pc.multiply(asn, len(names))))
    return pc.if_else(pc.equal(name, ""), pa.scalar(None, pa.string()), name)


def _shape(data: pa.Table | pa.RecordBatch, names: pa.Array) -> pa.Table:
    table = _table(data)
    table = table.append_column("source_as_name", _paired(table, names))
    return as_sightings(table)


def feed_sightings(files: list[Path]) -> pa.Table:
    """The daily sightings of a set of feed-event files."""
    if not files:
        return SIGHTING_SCHEMA.empty_table()
    con = _connect()
    params: list[object] = [[str(f) for f in files]]
    sql, shape = _rollup(con, _EVENTS, params)
    return shape(con.sql(sql, params=params).to_arrow_table())


def _written(
    dataset: Path,
    con: duckdb.DuckDBPyConnection,
    rows: str,
    files: list[Path],
    target: Path,
    extra: list[object],
    facts: Facts | None = None,
) -> int:
    """_write_day of the roll-up of `rows` over the readable files: a damaged one is
    quarantined and left out. `facts`: what those rows hold of their enrichment, if known."""

    def write(chosen: list[Path]) -> int:
        if not chosen:
            return 0
        params = [[str(f) for f in chosen], *extra]
        known = _known_rollup(rows, facts) if facts is not None else None
        sql, shape = known if known is not None else _rollup(con, rows, params)
        return _write_day(con, sql, shape, params, target)

    written, _ = read_screened(dataset, files, write, None, ("time_source",))
    return written


def _write_day(
    con: duckdb.DuckDBPyConnection, sql: str, shape: Shape, params: list[object], target: Path
) -> int:
    """Stream a day's sightings into `target` (published whole): memory holds DuckDB's bounded
    aggregation and two batches, not the day."""
    pending = Pending(target)
    rows = 0
    try:
        dictionary = [c for c in SIGHTING_SCHEMA.names if c not in UNIQUE]
        with (
            pq.ParquetWriter(
                pending.tmp, SIGHTING_SCHEMA, compression="zstd", use_dictionary=dictionary
            ) as writer,
            con.sql(sql, params=params).to_arrow_reader(BATCH_ROWS) as reader,
            # closed first: the helper is done with the reader before the reader closes
            contextlib.closing(_shaped(reader, shape)) as tables,
        ):
            for table in tables:
                writer.write_table(table)
                rows += table.num_rows
    except BaseException:
        pending.discard()
        raise
    if rows == 0:
        pending.discard()
        return 0
    pending.publish()
    return rows


def _shaped(reader: pa.RecordBatchReader, shape: Shape) -> Generator[pa.Table, None, None]:
    """The reader's batches shaped, the next one read and shaped in a helper thread while the
    caller writes this one (reading and shaping 0.38, writing 0.30 s per million sightings,
    each mostly outside the GIL)."""
    batches = iter(reader)

    def step() -> pa.Table | None:
        batch = next(batches, None)
        return None if batch is None else shape(batch)

    with ThreadPoolExecutor(1, thread_name_prefix="sightings-shape") as pool:
        future = pool.submit(step)
        while (table := future.result()) is not None:
            future = pool.submit(step)
            yield table


def _stored_facts(con: duckdb.DuckDBPyConnection, target: Path) -> Facts:
    """The (ASN, AS name) pairs and geo databases of a day's sightings file."""
    facts = Facts()
    sql = "SELECT DISTINCT source_asn, source_as_name, geo_db FROM read_parquet(?)"
    facts.add(con.sql(sql, params=[str(target)]).to_arrow_table())
    return facts


def _readable(dataset: Path, path: Path) -> bool:
    """Whether a sightings file has a readable footer (if not, it is quarantined)."""
    _, used = read_screened(dataset, [path], lambda fs: [pq.read_metadata(f) for f in fs])
    return bool(used)


def _target(dataset: Path, day: str) -> Path:
    return layout.part(dataset, layout.SIGHTINGS, day, layout.FEED_PART)


def rebuild_days(dataset: Path, days: list[str]) -> int:
    """Recompute the feed sightings of these days from all their feed events."""
    con = _connect(dataset)
    total = 0
    for day in sorted(days):
        files = feed_files(dataset, [day])
        if files:
            total += _written(dataset, con, _EVENTS, files, _target(dataset, day), [])
    stamp(dataset, "sightings", sorted(days), datetime.now(UTC))
    return total


def add_new_events(
    dataset: Path, new_files: dict[str, list[Path]], facts: Mapping[str, Facts] | None = None
) -> int:
    """Merge the sightings of newly stored event files into their days' sightings (new events
    are never stored ones, so first/last/hits add up exactly); sightings written. `facts`:
    what the new events of each day hold of their enrichment (FeedStore.written), if known."""
    con = _connect(dataset)
    total = 0
    for day, files in sorted(new_files.items()):
        target = _target(dataset, day)
        rows = _EVENTS
        extra: list[object] = []
        known = None
        if facts is not None and day in facts:
            known = Facts()  # a copy: the day's sightings file may add to it
            known.update(facts[day])
        if target.exists() and _readable(dataset, target):
            rows += " UNION ALL BY NAME SELECT * FROM read_parquet(?)"
            extra.append(str(target))
            if known is not None:
                known.update(_stored_facts(con, target))
        total += _written(dataset, con, rows, files, target, extra, known)
    stamp(dataset, "sightings", sorted(new_files), datetime.now(UTC))
    return total


def pending_days(dataset: Path) -> set[str]:
    """Feed days whose sightings are not written yet. Raises ValueError (naming the file) if
    the mark cannot be read."""
    path = dataset / layout.FEED_PENDING
    if not path.exists():
        return set()
    try:
        return {str(d) for d in json.loads(path.read_text(encoding="utf-8"))}
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from None


def mark_pending(dataset: Path, days: set[str]) -> None:
    """Record days whose sightings are not merged yet, before their events are published."""
    if days:
        write_json(sorted(days), dataset / layout.FEED_PENDING)


def finish_pending(dataset: Path) -> tuple[tuple[str, ...], int]:
    """Recompute the days a crashed or failed ingest left pending, then clear the mark; the
    days and the sightings written. Call it holding the ingest lock."""
    days = pending_days(dataset)
    if not days:
        clear_pending(dataset)
        return (), 0
    written = rebuild_days(dataset, sorted(days))
    clear_pending(dataset)
    return tuple(sorted(days)), written


def clear_pending(dataset: Path) -> None:
    (dataset / layout.FEED_PENDING).unlink(missing_ok=True)
