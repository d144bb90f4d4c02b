"""GeoTable: the in-memory lookup tables, their Parquet form, and the bundled default database."""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from botcensus.enrich.ranges import ATTR_SCHEMA, Ranges
from botcensus.ipaddr import U32, U64, hilo_from_keys, ipv4_from_keys, keys_from_hilo

NAME_KEY: Final = b"botcensus.geo_db"
"""Parquet schema metadata key holding GeoTable.name."""
BUNDLED_FILE: Final = "bundled-geo.parquet"
FILE_SCHEMA: Final = pa.schema(
    [
        pa.field("ip_version", pa.uint8(), nullable=False),
        pa.field("start_hi", pa.uint64(), nullable=False),
        pa.field("start_lo", pa.uint64(), nullable=False),
        pa.field("end_hi", pa.uint64(), nullable=False),
        pa.field("end_lo", pa.uint64(), nullable=False),
        *ATTR_SCHEMA,
    ]
)
"""One row per range; an address is the 128-bit integer hi * 2**64 + lo, IPv4 rows plain
32-bit values in lo. Sorted by (ip_version, start). Delta encoding keeps the keys small."""

IPV4_RANGES_SCHEMA: Final = pa.schema(
    [
        pa.field("start", pa.uint32(), nullable=False),
        pa.field("end", pa.uint32(), nullable=False),
        *ATTR_SCHEMA,
    ]
)
"""What ipv4_ranges returns (`end` inclusive)."""


@dataclass(frozen=True, eq=False)
class GeoTable:
    """Address ranges -> (cc, asn, as_name) for IPv4 and IPv6, and the stamp naming the data."""

    name: str
    """Which database, with its data dates; enrichment writes it to the geo_db column."""
    v4: Ranges
    v6: Ranges
    v4_start: U32 = field(init=False, repr=False)
    v4_end: U32 = field(init=False, repr=False)
    attrs: pa.Table = field(init=False, repr=False)
    """IPv4 attribute rows followed by IPv6 ones: what a lookup index points into."""

    def __repr__(self) -> str:
        return f"GeoTable({self.name!r}, {len(self.v4)} IPv4 + {len(self.v6)} IPv6 ranges)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "v4_start", ipv4_from_keys(self.v4.start))
        object.__setattr__(self, "v4_end", ipv4_from_keys(self.v4.end))
        both = pa.concat_tables([self.v4.attrs, self.v6.attrs]).combine_chunks()
        object.__setattr__(self, "attrs", both)


def ipv4_ranges(geo: GeoTable) -> pa.Table:
    """The IPv4 table: start, end (uint32, inclusive), cc, asn, as_name; sorted, disjoint."""
    columns = [pa.array(geo.v4_start), pa.array(geo.v4_end), *geo.v4.attrs.columns]
    return pa.Table.from_arrays(columns, schema=IPV4_RANGES_SCHEMA)


def write_parquet(geo: GeoTable, out: Path) -> None:
    """Save a GeoTable as zstd Parquet (also a cache for tables loaded from .mmdb files)."""
    parts = []
    for version, ranges in ((4, geo.v4), (6, geo.v6)):
        start_hi, start_lo = hilo_from_keys(ranges.start)
        end_hi, end_lo = hilo_from_keys(ranges.end)
        keys = {
            "ip_version": np.full(len(ranges), version, dtype=np.uint8),
            "start_hi": start_hi,
            "start_lo": start_lo,
            "end_hi": end_hi,
            "end_lo": end_lo,
        }
        parts.append(pa.table({**keys, **{c: ranges.attrs.column(c) for c in ATTR_SCHEMA.names}}))
    table = pa.concat_tables(parts).cast(FILE_SCHEMA)
    table = table.replace_schema_metadata({NAME_KEY: geo.name.encode()})
    delta = "DELTA_BINARY_PACKED"
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        out,
        compression="zstd",
        compression_level=19,
        use_dictionary=["ip_version", "cc", "as_name"],
        column_encoding=dict.fromkeys(("start_hi", "start_lo", "end_hi", "end_lo", "asn"), delta),
    )


def read_parquet(path: Path | str) -> GeoTable:
    """Load a GeoTable saved by write_parquet."""
    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    if NAME_KEY not in metadata:
        raise ValueError(f"{path} is not a botcensus geo table (no {NAME_KEY.decode()} stamp)")
    table = table.cast(FILE_SCHEMA.with_metadata(metadata))
    version = table.column("ip_version")
    families = []
    for wanted in (4, 6):
        part = table.filter(pc.equal(version, wanted)).combine_chunks()
        start = keys_from_hilo(_numpy(part, "start_hi"), _numpy(part, "start_lo"))
        end = keys_from_hilo(_numpy(part, "end_hi"), _numpy(part, "end_lo"))
        attrs = part.select(ATTR_SCHEMA.names)
        if not np.all(start[1:] > start[:-1]):  # written sorted; re-sort only a foreign file
            order = np.argsort(start, kind="stable")
            start, end, attrs = start[order], end[order], attrs.take(pa.array(order))
        if np.any(end < start) or np.any(end[:-1] >= start[1:]):
            raise ValueError(f"{path}: IPv{wanted} ranges overlap or run backwards")
        families.append(Ranges(start, end, attrs))
    return GeoTable(metadata[NAME_KEY].decode(), families[0], families[1])


def _numpy(table: pa.Table, column: str) -> U64:
    return np.asarray(table.column(column).to_numpy(), dtype=np.uint64)


def bundled_path() -> Path:
    """Where the bundled database file is installed."""
    return Path(str(importlib.resources.files("botcensus.enrich") / "data" / BUNDLED_FILE))


@functools.cache
def load_bundled() -> GeoTable:
    """The bundled offline database (tor-geoipdb countries + libloc ASNs); read once a process."""
    return read_parquet(bundled_path())
