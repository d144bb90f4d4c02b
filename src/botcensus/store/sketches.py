"""Sketch columns in the dataset: HLL and Theta sketches of source addresses per (day,
sensor, feed, country, ASN, family), written beside the sightings and kept after them.

Layout: ``sketches/date=YYYY-MM-DD/<part>.parquet`` (SKETCH_SCHEMA). `local.parquet` is built
from that day's sightings files; other parts are sketches copied in from other sinkholes
(any name). A manifest records the sightings files each local part was built from, so a day
is re-sketched only when its sightings changed, and never removed when retention deletes the
sightings: that is what lets the census answer for expired days. A day whose sightings files
went away (quarantined as unreadable) keeps its sketch until new sightings arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pyarrow as pa

from botcensus.model import SCHEMA_KEY, SCHEMA_VERSION, SIGHTING_SCHEMA
from botcensus.store import layout, manifest
from botcensus.store.atomic import write_parquet
from botcensus.store.damaged import read_screened
from botcensus.store.files import area_files, day_files, day_partitions, locked, required_columns
from botcensus.store.manifest import Manifest, fingerprint
from botcensus.store.read import SIGHTING_REQUIRED

if TYPE_CHECKING:
    import duckdb

LOCAL_PART = layout.LOCAL_SKETCH_PART
SKETCH_KEYS: Final[tuple[str, ...]] = (
    "day",
    "sensor",
    "feed_name",
    "source_cc",
    "source_asn",
    "malware_family",
)
SKETCH_SCHEMA: Final = pa.schema(
    [
        pa.field("day", pa.date32(), nullable=False),
        pa.field("sensor", pa.string(), nullable=False),
        pa.field("feed_name", pa.string(), nullable=False),
        pa.field("source_cc", pa.string()),
        pa.field("source_asn", pa.int64()),
        pa.field("malware_family", pa.string()),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("hits", pa.int64(), nullable=False),
        pa.field("ip_hll", pa.binary(), nullable=False),
        pa.field("ip_theta", pa.binary(), nullable=False),
        pa.field("bot_id_hll", pa.binary()),
    ],
    metadata={
        SCHEMA_KEY: f"sketches/{SCHEMA_VERSION}",
        "botcensus.sketches": "ip_hll: DataSketches HLL_8 lgK=12 updatable; ip_theta: "
        "DataSketches Theta compact compressed lgK=12; bot_id_hll: HLL_8 lgK=12; seed 9001; "
        "input: UTF-8 canonical address text (IPv4 dotted quad, IPv6 RFC 5952)",
    },
)
"""One row per (day, sensor, feed, country, ASN, family): exact rows and hits, sketches of
the distinct source addresses (and bot ids, null when none were seen)."""
_SIGHTING_COLUMNS: Final = pa.schema(
    [SIGHTING_SCHEMA.field(n) for n in (*SKETCH_KEYS, "source_ip", "bot_id", "hits")]
)


@dataclass(frozen=True, slots=True)
class SketchReport:
    """Days sketched and left alone by one run."""

    days_sketched: tuple[str, ...]
    days_unchanged: int
    rows: int


Sketcher = Callable[[pa.Table], pa.Table]
"""Sightings in, SKETCH_SCHEMA rows out: botcensus.store.sketch_build.sketch_sightings."""


def sketch_days(dataset: Path, build: Sketcher) -> SketchReport:
    """Bring the local sketches up to date with the sightings (incremental, idempotent);
    `build` turns one day's sightings into sketch rows."""
    done, unchanged, rows = [], 0, 0
    days = day_partitions(dataset / layout.SIGHTINGS).days
    if not days:
        return SketchReport((), 0, 0)
    with locked(dataset / layout.ROLLUP_LOCK):
        sketched = manifest.load(dataset, manifest.SKETCHES)
        for day, day_dir in days:
            done_one = _sketch_day(dataset, day, day_dir, sketched, build)
            if done_one is None:
                unchanged += 1
                continue
            done.append(day)
            rows += done_one
    return SketchReport(tuple(done), unchanged, rows)


def _sketch_day(
    dataset: Path, day: str, day_dir: Path, sketched: Manifest, build: Sketcher
) -> int | None:
    """Sketch one day if its sightings changed (rows written), else None."""
    files = day_files(day_dir)
    if not files or sketched.built_from(day, files):
        return None
    sightings, used = read_screened(dataset, files, _read_sightings, None, SIGHTING_REQUIRED)
    known = manifest.names(sketched.entry(day))
    names = {f.name for f in used}
    if not used or (known - names and names <= known):
        return None  # only files went away: the sketch keeps what they held
    table = build(sightings).cast(SKETCH_SCHEMA)
    write_parquet(table, layout.part(dataset, layout.SKETCHES, day, LOCAL_PART))
    sketched.record(day, fingerprint(used))
    return int(table.num_rows)


def _read_sightings(files: list[Path]) -> pa.Table:
    import pyarrow.parquet as pq  # only when a day is sketched: the census reads with DuckDB

    if not files:
        return _SIGHTING_COLUMNS.empty_table()
    return pa.concat_tables(
        pq.read_table(f).select(_SIGHTING_COLUMNS.names).cast(_SIGHTING_COLUMNS) for f in files
    )


def write_sketches(table: pa.Table, dataset: Path, part: str) -> list[Path]:
    """Write sketch rows made elsewhere (another sinkhole's `sketch_sightings`), one file per
    day named `part`, replacing an earlier file of that name. `part` must not be 'local'."""
    import pyarrow.compute as pc  # slow to load: only writers need it, not the census

    if part == LOCAL_PART or "/" in part or part.startswith("."):
        raise ValueError(f"sketch part name {part!r} is reserved or not a plain file name")
    table = table.select(SKETCH_SCHEMA.names).cast(SKETCH_SCHEMA)
    written = []
    for day in sorted(set(table["day"].to_pylist())):
        sub = table.filter(pc.equal(table["day"], pa.scalar(day, pa.date32())))
        target = layout.part(dataset, layout.SKETCHES, day.isoformat(), part)
        write_parquet(sub, target)
        written.append(target)
    return written


def sketch_files(dataset: Path) -> list[Path]:
    return area_files(dataset / layout.SKETCHES)


def read_sketches(
    dataset: Path, date_from: date | None = None, date_to: date | None = None
) -> pa.Table:
    """Every sketch row for days date_from..date_to (inclusive; open ends allowed). A file
    that cannot be read is quarantined and left out."""
    import pyarrow.parquet as pq  # the census reads sketches with DuckDB (sketches_view)

    wanted = []
    for path in sketch_files(dataset):
        day = date.fromisoformat(path.parent.name.removeprefix("date="))
        if (date_from and day < date_from) or (date_to and day > date_to):
            continue
        wanted.append(path)

    def read(files: list[Path]) -> pa.Table:
        tables = [pq.read_table(f).cast(SKETCH_SCHEMA) for f in files]
        return pa.concat_tables(tables) if tables else SKETCH_SCHEMA.empty_table()

    table, _ = read_screened(dataset, wanted, read, None, required_columns(SKETCH_SCHEMA))
    return table


def sketches_view(con: duckdb.DuckDBPyConnection, dataset: Path, name: str = "sketches") -> str:
    """Create a view over the dataset's sketch rows (SKETCH_SCHEMA); returns its name.
    DuckDB reads only the columns a query needs (the keys, to check coverage; the sketch
    images only when the census falls back on them). No files: an empty view."""
    files = sketch_files(dataset)
    if files:
        rel = con.read_parquet([str(f) for f in files], hive_partitioning=False)
        rel.create_view(name, replace=True)
    else:
        con.register(f"{name}_empty", SKETCH_SCHEMA.empty_table())
        con.sql(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {name}_empty")  # noqa: S608
    return name


def days_beyond_sightings(dataset: Path) -> list[date]:
    """Days whose sketch rows may hold what the day's sightings files lack: a part copied
    in from elsewhere, or a local part not built from exactly the sightings files there now
    (expired by retention, or changed since). On every other day the sightings hold every
    row the sketches were built from, so a census there needs no coverage check."""
    root = dataset / layout.SKETCHES
    sketched = manifest.load(dataset, manifest.SKETCHES)
    out = []
    for day_dir in sorted(root.glob("date=*")) if root.is_dir() else []:
        parts = [p.name for p in day_dir.glob("[!.]*.parquet")]
        if not parts:
            continue
        day = day_dir.name.removeprefix("date=")
        files = sorted((dataset / layout.SIGHTINGS / day_dir.name).glob("[!.]*.parquet"))
        local_only = parts == [f"{LOCAL_PART}.parquet"]
        if not (local_only and files and sketched.built_from(day, files)):
            out.append(date.fromisoformat(day))
    return out
