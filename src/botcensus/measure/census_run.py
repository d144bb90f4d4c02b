"""A census query end to end: exact counts or the sketch fallback, change columns, top N,
host estimates and the hourly series, with the notes a reader needs.

The one path that `botcensus census`, the demo, the benchmarks and the web API share:

    result = census_of_dataset(data_dir, CensusQuery(by=("country",)), estimate=True)
    result.rows, result.unit, result.notes

`run_census` does the same over a sightings relation and sketch rows already on a DuckDB
connection (what tests and other measurements hold).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from botcensus.measure.census import (
    DUCKDB,
    KEY,
    TEXT,
    Address,
    CensusQuery,
    census_with_change,
    coverage,
    day_span,
    distinct_addresses,
    with_change,
)
from botcensus.measure.sketches_census import (
    UNIQUE_IP_HLL,
    Sketches,
    Source,
    choose_source,
    sketch_census,
    sketch_relation,
)

MEMORY_LIMIT: Final = "4GB"
"""What DuckDB may hold for one census of a dataset; beyond it, it spills to a private
temporary directory (without it, the weekly census by country of 3x Rustock held 5 GiB:
BENCHMARKS.md)."""
NO_ESTIMATE_NOTE = "host estimates need raw sightings; none for this range"


@dataclass(frozen=True, slots=True)
class CensusResult:
    """A census answer: its rows, the unit of its address counts, and where they came from."""

    rows: pa.Table
    """window_start, window_end, the query's groups, the address count (column `unit`),
    unique_bot_id (or unique_bot_id_hll), hits, days_covered (days of the window with rows
    the census counts, of any family: census.coverage_sql), partial (fewer than the
    window's days), `<unit>_change` (null unless this window and the one just before are
    full), `<unit>_change_since_first` (against the first full window), rank; with
    estimates also hosts_est, hosts_lo, hosts_hi (unit hosts), hosts_support (estimate,
    widened or bounds: measure.hosts.support) and ips_hourly_avg."""
    unit: str
    """`unique_ip` (exact, from raw sightings) or `unique_ip_hll` (estimated from sketches)."""
    source: Source
    reason: str
    """Why this source (which days or sensors only the sketches have)."""
    notes: tuple[str, ...]
    """What a reader must be told beside the rows (the sketch fallback, estimates left out,
    what the host estimates' diagnostics found)."""


def run_census(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    sketches: Sketches | None = None,
    *,
    estimate: bool = False,
    top: int | None = None,
    check_days: Collection[date] | None = None,
    address: Address = TEXT,
) -> CensusResult:
    """The census of `query` over a sightings relation, falling back on `sketches` (rows or
    a relation name; None: no sketch holds what the sightings lack) when raw sightings do
    not cover the range
    (`check_days`: the only days where they may not, see sketches_census.choose_source).
    `top` keeps the N largest groups of each window; `estimate` adds host estimates and the
    hourly series (raw sightings only: from sketches a note says they were left out).
    `address`: the columns that count distinct addresses (census.KEY only where every row
    of `relation` has the key)."""
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    if sketches is None:
        source: Source = "sightings"
        reason = "raw sightings (no sketch holds what they lack)"
    else:
        source, reason = choose_source(con, query, relation, sketches, check_days)
    notes: list[str] = []
    if source == "sightings":
        unit = "unique_ip"
        rows = census_with_change(con, query, relation, covered=True, address=address)
        left_out = unclaimed_note(con, query, relation, address)
        if left_out:
            notes.append(left_out)
    else:
        assert sketches is not None  # only sketches can make the source "sketches"
        notes.append(reason)
        unit = UNIQUE_IP_HLL
        with sketch_relation(con, sketches, "sketch_coverage") as sketched:
            covered = coverage(con, query, sketched)
        counts = sketch_census(con, query, sketches)
        rows = with_change(con, counts, query.by, unit, covered, query.days)
    cut = partial_note(rows, query)
    if cut:
        notes.append(cut)
    if rows.num_rows == 0:
        looked = source == "sightings"
        found = day_span(con, relation, *query.where(dates=False)) if looked else None
        notes.append(empty_note(query, found, looked=looked))
    if top is not None:
        import pyarrow.compute as pc

        rows = rows.filter(pc.less_equal(rows["rank"], top))
    if estimate:
        if source == "sketches":
            notes.append(NO_ESTIMATE_NOTE)
        else:
            from botcensus.measure.hosts import attach_answer, hosts_answer, with_hourly
            from botcensus.measure.hosts.sprayed import without_sprayed

            trusted, spray = without_sprayed(con, relation)
            answer = hosts_answer(con, query, trusted)
            rows = attach_answer(rows, answer.table, query)
            rows = with_hourly(con, rows, query, trusted)
            notes.extend(answer.notes)
            sprayed = spray.note()
            if sprayed:
                notes.append(sprayed)
    return CensusResult(rows, unit, source, reason, tuple(notes))


def partial_note(rows: pa.Table, query: CensusQuery) -> str | None:
    """How many rows' windows the data covers only in part (None: none), so a short week is
    read as short, not as a fall."""
    if rows.num_rows == 0 or "partial" not in rows.column_names:
        return None
    import pyarrow.compute as pc

    partial = pc.sum(rows["partial"].cast(pa.int64())).as_py() or 0
    if not partial:
        return None
    short = (
        "partial days (no data of the feed that day: days_covered 0)"
        if query.days == 1
        else f"partial windows (data on fewer than {query.days} days: days_covered)"
    )
    note = (
        f"{partial} of {rows.num_rows} rows are {short}; their change columns are left "
        "empty, and no change is computed against a partial or missing window"
    )
    today = query.today
    if today is not None and max(rows["window_end"].to_pylist()) >= today:  # no pandas
        note += f"; today ({today}, UTC) is not over and is not counted as a day with data"
    return note


def empty_note(query: CensusQuery, found: tuple[date, date] | None, *, looked: bool = True) -> str:
    """Why a census has no rows: what it asked for, and `found`, the first and last day of
    the data that match the rest of the query (None: none); `looked`: False where no such
    data was searched (the sketches), and the note says only what was asked."""
    asked = "".join(f" of {name} {value}" for name, value in (("family", query.family),
                    ("feed", query.feed)) if value is not None)  # fmt: skip
    lo, hi = query.date_from, query.date_to
    span = (
        f" between {lo.isoformat()} and {hi.isoformat()}" if lo and hi
        else f" on or after {lo.isoformat()}" if lo
        else f" on or before {hi.isoformat()}" if hi
        else ""
    )  # fmt: skip
    if not looked:
        return f"no rows: nothing counted{asked}{span}"
    claimed = "" if query.include_unclaimed or query.family else " with a malware family"
    if found is None:
        return f"no rows: no sightings{claimed}{asked} on any day"
    return (
        f"no rows: no sightings{claimed}{asked}{span}; those{asked or claimed} run from "
        f"{found[0].isoformat()} to {found[1].isoformat()}"
    )


def unclaimed_note(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, address: Address = TEXT
) -> str | None:
    """How many addresses of the census range the census leaves out for having no malware
    family, so a number is never smaller without saying why (None: nothing left out)."""
    if query.include_unclaimed or query.family is not None:
        return None
    where, params = replace(query, include_unclaimed=True).where()
    sql = (
        f"SELECT {distinct_addresses(address, DUCKDB)}, coalesce(sum(hits), 0) "  # noqa: S608 (names are ours)
        f"FROM {relation} WHERE malware_family IS NULL AND {where}"
    )
    ((ips, hits),) = con.sql(sql, params=params).fetchall()
    return unclaimed_message(ips, hits)


def unclaimed_message(ips: int, hits: int) -> str | None:
    """The note for addresses left out for having no malware family (None: none were)."""
    if not hits:
        return None
    return (
        f"left out {_counted(ips, 'address', 'addresses')} ({_counted(hits, 'hit', 'hits')}) "
        "without a malware family "
        "(sinkhole requests no decoder claimed, report rows not classed as infections); "
        "--include-unclaimed counts them"
    )


Refresh = Callable[[Path], object]
"""Brings a dataset's roll-up products (sightings, sketches) up to date before counting."""


def census_of_dataset(
    dataset: Path,
    query: CensusQuery,
    *,
    estimate: bool = False,
    top: int | None = None,
    refresh: Refresh | None = None,
    progress: bool = False,
) -> CensusResult:
    """`run_census` over a dataset directory's sightings and sketches. `refresh` runs first
    (the CLI's roll-up check, which enriches new sightings); `progress` shows DuckDB's
    progress bar on a terminal. Raises FileNotFoundError for a missing directory."""
    from botcensus.store import connect, sightings_view
    from botcensus.store.sighting_key import all_keyed
    from botcensus.store.sightings import sighting_files
    from botcensus.store.sketches import days_beyond_sightings, sketches_view

    if not dataset.is_dir():
        raise FileNotFoundError(f"{dataset}: no such directory")
    if refresh is not None:
        refresh(dataset)
    import tempfile

    spill = tempfile.TemporaryDirectory(prefix="botcensus-census-")  # 0700: rows hold addresses
    con = connect(memory_limit=MEMORY_LIMIT, spill=Path(spill.name) / "spill")
    if progress:
        con.execute("SET enable_progress_bar = true")
    try:
        relation = sightings_view(con, dataset)
        check_days = days_beyond_sightings(dataset)
        # Without days to check the sketches cannot be needed: no view over their files.
        sketches = sketches_view(con, dataset) if check_days else None
        return run_census(
            con,
            query,
            relation,
            sketches,
            estimate=estimate,
            top=top,
            check_days=check_days,
            address=KEY if all_keyed(sighting_files(dataset)) else TEXT,
        )
    finally:
        con.close()
        spill.cleanup()


def _counted(n: int, one: str, many: str) -> str:
    """'1 address', '2,003 addresses'."""
    return f"{n:,} {one if n == 1 else many}"
