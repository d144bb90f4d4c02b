"""Read windows of the event dataset with DuckDB (UTC always). A file that cannot be read is
quarantined and the rest is read (store/files.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from botcensus.model import EVENT_COLUMNS, EVENT_SCHEMA, SIGHTING_SCHEMA
from botcensus.store import layout
from botcensus.store.damaged import read_screened
from botcensus.store.db import connect
from botcensus.store.files import area_files, required_columns

if TYPE_CHECKING:
    import duckdb

EVENT_REQUIRED = required_columns(EVENT_SCHEMA)
SIGHTING_REQUIRED = required_columns(SIGHTING_SCHEMA)


def guarded(column: str, what: str) -> str:
    """SQL for a column every row must have: an empty one fails the query (so the file it
    came from is found and set aside) instead of slipping through as NULL."""
    return f"coalesce({column}, error('{what} file without {column}'))"


def as_name_of_asn(asn: str = "source_asn", name: str = "source_as_name") -> str:
    """SQL aggregate: the AS name that came with the greatest ASN (the one `max(asn)` gives),
    so a name never belongs to another number; the greatest of those names if there are
    several (two geo databases), none if that ASN came without one, and the greatest name
    only where no row has an ASN."""
    return (
        f"CASE WHEN max({asn}) IS NULL THEN max({name}) ELSE nullif(arg_max("
        f"coalesce({name}, ''), struct_pack(a := {asn}, n := coalesce({name}, ''))) "
        f"FILTER (WHERE {asn} IS NOT NULL), '') END"
    )


def event_files(dataset: Path) -> list[Path]:
    """The visible Parquet files of the event dataset (day partitions only, no symlinks)."""
    return area_files(dataset / layout.EVENTS)


def iter_events(
    dataset: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    batch_rows: int = 65_536,
) -> Iterator[pa.RecordBatch]:
    """Events with since <= time_received < until, in time order, as record batches."""
    files = event_files(dataset)
    if not files:
        return
    con = connect()
    where, params = [], []
    if since is not None:
        where.append("time_received >= ?")
        params.append(since)
    if until is not None:
        where.append("time_received < ?")
        params.append(until)
    columns = ", ".join(
        f"{guarded(c, 'events')} AS {c}" if c in EVENT_REQUIRED else c for c in EVENT_COLUMNS
    )
    sql = f"SELECT {columns} FROM read_parquet(?, union_by_name = true, hive_partitioning = false)"  # noqa: S608 (column names are ours)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY time_received, source_ip, source_port"

    def start(chosen: list[Path]) -> tuple[pa.RecordBatchReader | None, pa.RecordBatch | None]:
        # The sort reads every file before the first batch: a damaged one fails here.
        if not chosen:
            return None, None
        reader = con.sql(sql, params=[[str(f) for f in chosen], *params]).to_arrow_reader(
            batch_rows
        )
        try:
            return reader, reader.read_next_batch()
        except StopIteration:
            return reader, None

    (reader, first), _ = read_screened(dataset, files, start, required=EVENT_REQUIRED)
    if reader is None or first is None:
        return
    yield first.cast(EVENT_SCHEMA)
    for batch in reader:
        yield batch.cast(EVENT_SCHEMA)


def sightings_view(con: duckdb.DuckDBPyConnection, dataset: Path, name: str = "sightings") -> str:
    """Create a view over the dataset's daily sightings; returns its name. An empty dataset
    gives an empty view with the sightings schema."""
    files = area_files(dataset / layout.SIGHTINGS)

    def bind(chosen: list[Path]) -> duckdb.DuckDBPyRelation | None:
        if not chosen:
            return None
        for path in chosen:  # a foreign file would bring rows without a day into the census
            missing = set(SIGHTING_REQUIRED) - set(pq.read_schema(path).names)
            if missing:
                raise ValueError(f"{path}: no column {', '.join(sorted(missing))}")
        return con.read_parquet(
            [str(f) for f in chosen], hive_partitioning=False, union_by_name=True
        )

    rel, _ = read_screened(dataset, files, bind, required=SIGHTING_REQUIRED)
    if rel is not None:
        rel.create_view(name, replace=True)
    else:
        con.register(f"{name}_empty", SIGHTING_SCHEMA.empty_table())
        con.sql(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {name}_empty")  # noqa: S608
    return name
