"""The event and sighting schemas, the field vocabulary where events leave us, and count units."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

import pyarrow as pa


class Unit(StrEnum):
    """What a count counts. Every number botcensus reports names one of these."""

    UNIQUE_IP = "unique_ip"
    UNIQUE_BOT_ID = "unique_bot_id"
    HITS = "hits"
    HOSTS = "hosts"
    EVENTS = "events"


# One recorded HTTP request at the sinkhole. The order of fields is also the order of the
# values in a write-ahead-log record (see capture/wal.py), so append new fields at the end.
EVENT_FIELDS: Final[tuple[pa.Field, ...]] = (
    pa.field("time_received", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("source_ip", pa.string(), nullable=False),
    pa.field("source_port", pa.int32(), nullable=False),
    pa.field("destination_ip", pa.string(), nullable=False),
    pa.field("destination_port", pa.int32(), nullable=False),
    pa.field("proxy_peer_ip", pa.string()),
    pa.field("listener", pa.string(), nullable=False),
    pa.field("sensor", pa.string(), nullable=False),
    pa.field("method", pa.string()),
    pa.field("host", pa.string()),
    pa.field("path", pa.string()),
    pa.field("query", pa.string()),
    pa.field("user_agent", pa.string()),
    pa.field("header_names", pa.list_(pa.string())),
    pa.field("content_length", pa.int64()),
    pa.field("body_length", pa.int64(), nullable=False),
    pa.field("body_truncated", pa.bool_(), nullable=False),
    pa.field("body_sha256", pa.binary(32)),
    pa.field("body_head", pa.binary()),
    pa.field("malware_family", pa.string()),
    pa.field("bot_id", pa.string()),
    pa.field("status", pa.int16(), nullable=False),
    pa.field("reject_reason", pa.string()),
)
SCHEMA_KEY: Final = "botcensus.schema"
"""Parquet key-value metadata naming a file's schema and its version: `<area>/<version>`."""
SCHEMA_VERSION: Final = 1
"""Version of the events' and sketches' part of the dataset contract (docs/scale.md). A
nullable column appended at the end keeps it; a removed, renamed or retyped column, or a
new meaning for one, raises it."""
EVENT_SCHEMA: Final = pa.schema(EVENT_FIELDS, metadata={SCHEMA_KEY: f"events/{SCHEMA_VERSION}"})
EVENT_COLUMNS: Final[tuple[str, ...]] = tuple(f.name for f in EVENT_FIELDS)


SENSOR_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*"
"""A sinkhole sensor's name: what a host name may be, and underscores, at most
SENSOR_NAME_MAX long. It begins every event file name (store/layout.py), so it holds no
path separator, space or `..`; config.py checks the same rule (tests/test_layout keeps the
two equal)."""
SENSOR_NAME_MAX: Final = 64

# Daily sightings: one row per (day, source IP, bot id, family, sensor, feed), the unit the
# census reads. Enrichment columns are filled by enrich/ and stamped with the database used.
SIGHTING_FIELDS: Final[tuple[pa.Field, ...]] = (
    pa.field("day", pa.date32(), nullable=False),
    pa.field("source_ip", pa.string(), nullable=False),
    pa.field("bot_id", pa.string()),
    pa.field("malware_family", pa.string()),
    pa.field("sensor", pa.string(), nullable=False),
    pa.field("feed_name", pa.string(), nullable=False),
    pa.field("first_seen", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("last_seen", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("hits", pa.int64(), nullable=False),
    pa.field("source_cc", pa.string()),
    pa.field("source_asn", pa.int64()),
    pa.field("source_as_name", pa.string()),
    pa.field("geo_db", pa.string()),
    # Version 2: the address as a number (ipaddr.address_key), so an engine can count
    # distinct addresses without hashing text. Null only in version-1 files.
    pa.field("source_ip_hi", pa.int64()),
    pa.field("source_ip_lo", pa.int64()),
)
SIGHTINGS_VERSION: Final = 2
"""Version of the sightings files (docs/scale.md). 2 added `source_ip_hi`/`source_ip_lo`,
which a version-2 file fills on every row with the key of its `source_ip` text; version-1
files (no such columns) are read with them null."""
ADDRESS_KEY: Final[tuple[str, str]] = ("source_ip_hi", "source_ip_lo")
"""The sightings columns holding `source_ip` as a number (version 2 on)."""
SIGHTING_SCHEMA: Final = pa.schema(
    SIGHTING_FIELDS, metadata={SCHEMA_KEY: f"sightings/{SIGHTINGS_VERSION}"}
)

# Where sinkhole events leave the system they use IntelMQ's harmonisation vocabulary.
SINKHOLE_FEED_NAME: Final = "botcensus-sinkhole"
INTELMQ_CONSTANTS: Final[dict[str, str]] = {
    "classification.taxonomy": "malicious-code",
    "classification.type": "infected-system",
    "protocol.transport": "tcp",
    "protocol.application": "http",
    "feed.name": SINKHOLE_FEED_NAME,
}
# Internal event column -> IntelMQ field name. Columns not listed go under "extra.<column>".
INTELMQ_EVENT_FIELDS: Final[dict[str, str]] = {
    "time_received": "time.source",
    "source_ip": "source.ip",
    "source_port": "source.port",
    "destination_ip": "destination.ip",
    "destination_port": "destination.port",
    "malware_family": "malware.name",
}
# Columns that keep a more descriptive name under extra. than their internal one.
INTELMQ_EXTRA_NAMES: Final[dict[str, str]] = {
    "method": "extra.http_method",
    "host": "extra.http_host",
    "path": "extra.http_path",
    "query": "extra.http_query",
    "status": "extra.http_status",
}


def intelmq_name(column: str) -> str:
    """The name a column has where events leave botcensus."""
    if column in INTELMQ_EVENT_FIELDS:
        return INTELMQ_EVENT_FIELDS[column]
    return INTELMQ_EXTRA_NAMES.get(column, f"extra.{column}")


def put_columns(
    table: pa.Table, columns: Iterable[tuple[str | pa.Field, pa.Array | pa.ChunkedArray]]
) -> pa.Table:
    """The table with these columns set: one of the same name is replaced in place, a new
    one appended (how an enrichment step adds what it found)."""
    for field, column in columns:
        name = field if isinstance(field, str) else field.name
        at = table.schema.get_field_index(name)
        table = (
            table.set_column(at, field, column) if at >= 0 else table.append_column(field, column)
        )
    return table
