"""The one way botcensus opens DuckDB: in memory, session time zone UTC, no progress bar;
optionally with bounded memory that spills to a private directory."""

from __future__ import annotations

from pathlib import Path

import duckdb

from botcensus.store.atomic import private_dir


def connect(
    *, memory_limit: str | None = None, spill: Path | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC. `memory_limit` (e.g. '512MB') bounds what a query may hold,
    spilling to `spill` (created 0700: spilled rows hold addresses) when given."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if memory_limit is not None:
        con.execute("SET memory_limit = ?", [memory_limit])
    if spill is not None:
        private_dir(spill)
        con.execute("SET temp_directory = ?", [str(spill)])
    if threads is not None:
        con.execute("SET threads = ?", [threads])
    return con
