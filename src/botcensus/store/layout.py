"""Every path of a dataset directory, in one place (docs/architecture.md draws the tree).

Names are relative to the dataset root; `day_dir` and `part` build the day-partitioned
paths. Stages ask here where a file lives and ask store/ to write it: nothing else spells a
dataset path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, Literal

from botcensus import model

# -- day-partitioned areas: AREA/date=YYYY-MM-DD/<part>.parquet ------------------------------
EVENTS: Final = "events"
"""Raw sinkhole events, one file per rolled write-ahead-log segment and day, named
`<sensor>.<segment>.parquet` (`event_part`)."""
FEEDS: Final = "feeds"
"""Feed events (Shadowserver and other reports), deduplicated by identity."""
SIGHTINGS: Final = "sightings"
"""Daily sightings: one file per producer (`SINKHOLE_PART`, `FEED_PART`, `SIMULATED_PART`)."""
SKETCHES: Final = "sketches"
"""HLL and Theta sketches per (day, sensor, feed, country, ASN, family)."""
Area = Literal["events", "feeds", "sightings", "sketches"]
PARTITION_PREFIX: Final = "date="

SINKHOLE_PART: Final = "sinkhole"
FEED_PART: Final = "feeds"
SIMULATED_PART: Final = "simulated"
LOCAL_SKETCH_PART: Final = "local"

_SENSOR_NAME: Final = re.compile(model.SENSOR_PATTERN)
_SEPARATOR: Final = "."
"""Between the sensor and the segment in an event file name (`<sensor>.<segment>.parquet`):
segment names hold no dot, so the last one splits the two."""


def event_part(sensor: str, segment: str) -> str:
    """The event file name (without `.parquet`) of one segment of one sensor. Sinkholes that
    write into one dataset never collide: the sensor begins the name, the segment (worker,
    start time in ns, sequence) is unique within a sensor. A name that is not a valid sensor
    name (a hand-made segment header) is reduced to its safe characters."""
    if not valid_sensor(sensor):
        sensor = re.sub(r"[^A-Za-z0-9_-]", "_", sensor)[: model.SENSOR_NAME_MAX] or "_"
    return f"{sensor}{_SEPARATOR}{segment}"


def sensor_of_part(name: str) -> str | None:
    """The sensor an event file name (with or without `.parquet`) begins with, or None for a
    file written before names carried it."""
    stem = name.removesuffix(".parquet")
    sensor, dot, _ = stem.rpartition(_SEPARATOR)
    return sensor if dot and sensor else None


def valid_sensor(name: str) -> bool:
    return len(name) <= model.SENSOR_NAME_MAX and _SENSOR_NAME.fullmatch(name) is not None


# -- manifests of the roll-up products (store/manifest.py) -----------------------------------
ROLLED: Final = Path(SIGHTINGS) / "_rolled.json"
"""Which event files each day's sinkhole sightings were built from."""
SKETCHED: Final = Path(SKETCHES) / "_sketched.json"
"""Which sightings files each day's local sketch was built from."""
FEED_PENDING: Final = Path(FEEDS) / "sightings-pending.json"
"""Feed days whose events are stored but whose sightings are not written yet."""

# -- locks -----------------------------------------------------------------------------------
ROLLUP_LOCK: Final = Path(".rollup.lock")
"""Held while sightings or sketches are written and while retention runs."""
INGEST_LOCK: Final = Path(FEEDS) / ".ingest.lock"
"""Held by a feed ingest, and by retention while it deletes feed days."""
LEDGER_LOCK: Final = Path(".retention.lock")
COLLECT_LOCK: Final = Path(FEEDS) / "collect" / ".collect.lock"

# -- feed collection ------------------------------------------------------------------------
COLLECT_STATE: Final = Path(FEEDS) / "collect" / "state.json"
"""What `feeds collect` has read from the inbox (path, size, mtime, SHA-256)."""
FETCHED: Final = Path(FEEDS) / "collect" / "fetched.json"
"""Report ids `feeds fetch` has downloaded from the Reports API."""
SCHEMA: Final = Path(FEEDS) / "schema" / "shadowserver.json"
"""The installed Shadowserver schema (`feeds schema update`); `.previous` beside it."""
FEED_SPILL: Final = Path(FEEDS) / ".spill"
"""Where DuckDB spills while it aggregates feed sightings (rows hold addresses)."""

# -- roll-up tables and products (store/aggregates.py) ----------------------------------------
AGGREGATES: Final = "aggregates"
"""Exact census counts per window and grouping set, and the kept host and clean-up products."""
PRODUCTS_LOCK: Final = Path(AGGREGATES) / ".products.lock"
"""Held while the dashboard's kept products are built (`rollup`, and `serve` while it runs):
one builder at a time, the next one finding them current."""
AGGREGATED: Final = Path(AGGREGATES) / "_aggregated.json"
"""Which sightings files each roll-up table window was built from (store/manifest.py)."""

# -- other stages' files ---------------------------------------------------------------------
WAL: Final = "wal"
"""The sinkhole's write-ahead-log segments (*.open being written, *.wal closed)."""
RUN_FILE: Final = "sinkhole.json"
"""The running sinkhole's pid, resolved ports and metrics address."""
CONTACTS: Final = "contacts"
"""Imported abuse contacts, one Parquet file per source."""

# -- quarantine ------------------------------------------------------------------------------
QUARANTINE: Final = "quarantine"
QUARANTINE_FEEDS: Final = Path(QUARANTINE) / "feeds"
"""Rejected feed rows, one JSON-lines file per source file."""
QUARANTINE_CONTACTS: Final = Path(QUARANTINE) / "contacts"
"""Contact objects that could not be read, one JSON-lines file per source."""
QUARANTINE_WAL: Final = Path(QUARANTINE) / "wal"
"""Torn or corrupt write-ahead-log tails and rows that did not fit the schema."""
QUARANTINE_PARQUET: Final = Path(QUARANTINE) / "parquet"
"""Dataset files that could not be read, under their area and day."""

# -- retention -------------------------------------------------------------------------------
LEDGER: Final = "retention.json"
"""When each day partition was last written: the clock retention counts from."""
RETENTION_LOG: Final = "retention.log"
"""Every deletion `botcensus retention apply` made (JSON lines)."""


def area(dataset: Path, name: Area) -> Path:
    return dataset / name


def day_dir(dataset: Path, name: Area, day: str) -> Path:
    """The partition of one day (YYYY-MM-DD) of an area."""
    return dataset / name / f"{PARTITION_PREFIX}{day}"


def part(dataset: Path, name: Area, day: str, part_name: str) -> Path:
    """One producer's file of one day of an area."""
    return day_dir(dataset, name, day) / f"{part_name}.parquet"
