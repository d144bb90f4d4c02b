"""Sightings in their stored shape: every writer's table passes `as_sightings`, which sets
the address key (version 2) from the address text; `all_keyed` tells readers whether every
file of a set carries it.

The key is computed here and nowhere else, from the `source_ip` text the file stores, by the
project's one address rule (ipaddr.canonical_ips, ipaddr.address_key), after the text is put
in that rule's canonical form (one address, one text; text that is no address is refused),
so a count of distinct keys always equals the count of distinct texts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.ipaddr import address_key, as_string_array, canonical_ips
from botcensus.model import ADDRESS_KEY, SCHEMA_KEY, SIGHTING_SCHEMA

AREA: Final = "sightings"


def as_sightings(table: pa.Table, *, respell: bool = True) -> pa.Table:
    """`table` (SIGHTING_SCHEMA columns; nullable ones may be missing, as in a version-1
    file) as SIGHTING_SCHEMA: `source_ip` in the canonical text of its address (`respell`
    False: refused unless it already is) and the address key computed from that text,
    whatever the key columns held. Raises ValueError naming the first `source_ip` that is
    no address (or, not respelling, not in canonical text)."""
    n = table.num_rows
    columns = {}
    for field in SIGHTING_SCHEMA:
        if field.name in ADDRESS_KEY:
            continue
        if field.name in table.column_names:
            columns[field.name] = table[field.name]
        elif field.nullable:
            columns[field.name] = pa.nulls(n, field.type)
        else:
            raise ValueError(f"sightings without column {field.name}")
    text = as_string_array(table["source_ip"])
    canonical = canonical_ips(text)
    good = pc.is_valid(canonical) if respell else pc.equal(canonical, text)
    good = pc.fill_null(good, False)
    if n and not pc.all(good).as_py():
        bad = text.filter(pc.invert(good), null_selection_behavior="emit_null")
        what = "addresses" if respell else "addresses in canonical text"
        raise ValueError(
            f"sightings: {len(bad)} source_ip values are not {what} (first: {bad[0].as_py()!r})"
        )
    hi, lo, _ = address_key(canonical, canonical=True)
    columns["source_ip"] = canonical
    columns[ADDRESS_KEY[0]] = pa.array(hi, pa.int64())
    columns[ADDRESS_KEY[1]] = pa.array(lo, pa.int64())
    return pa.table(columns).select(SIGHTING_SCHEMA.names).cast(SIGHTING_SCHEMA)


def version_of(schema: pa.Schema) -> int | None:
    """The sightings version a file's schema metadata names (None: not a sightings file of
    ours, or no version)."""
    raw = (schema.metadata or {}).get(SCHEMA_KEY.encode())
    if raw is None:
        return None
    area, _, version = raw.decode("utf-8", "replace").partition("/")
    return int(version) if area == AREA and version.isdigit() else None


def keyed(schema: pa.Schema) -> bool:
    """Whether a sightings file with this schema carries the address key on every row:
    version 2 or later, and both key columns present as int64."""
    version = version_of(schema)
    if version is None or version < 2:
        return False
    names = schema.names
    return all(k in names and schema.field(k).type == pa.int64() for k in ADDRESS_KEY)


def all_keyed(files: Iterable[Path]) -> bool:
    """Whether every file carries the address key (reads each Parquet footer only: no data).
    An empty set is not keyed (nothing to gain); an unreadable footer is not keyed."""
    import pyarrow.parquet as pq

    found = False
    for path in files:
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowException):
            return False
        if not keyed(schema):
            return False
        found = True
    return found
