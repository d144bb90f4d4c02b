"""Vectorised lookups: a column of IP strings -> source_cc, source_asn, source_as_name."""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.enrich.geotable import GeoTable
from botcensus.enrich.ranges import cover
from botcensus.ipaddr import as_string_array, parse_ips
from botcensus.model import put_columns

OUTPUT_SCHEMA: Final = pa.schema(
    [("source_cc", pa.string()), ("source_asn", pa.int64()), ("source_as_name", pa.string())]
)
GEO_DB_FIELD: Final = pa.field("geo_db", pa.string())


def lookup(geo: GeoTable, ips: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Country, ASN and AS name of each address, row for row; null where unknown or invalid.

    Distinct addresses are parsed and searched once (dictionary encoding; a column that comes
    dictionary-encoded is taken as it is), each family with one numpy searchsorted over the
    sorted range starts. IPv4-mapped IPv6 is looked up as IPv4.
    """
    if isinstance(ips, pa.ChunkedArray) and pa.types.is_dictionary(ips.type):
        ips = ips.combine_chunks()
    if isinstance(ips, pa.DictionaryArray) and pa.types.is_string(ips.type.value_type):
        encoded = ips
    else:
        encoded = pc.dictionary_encode(as_string_array(ips))
    values = encoded.dictionary
    parsed = parse_ips(values)
    row = np.full(len(values), -1, dtype=np.int64)
    row[parsed.is_v4] = cover(geo.v4_start, geo.v4_end, parsed.v4[parsed.is_v4])
    hit6 = cover(geo.v6.start, geo.v6.end, parsed.v6[parsed.is_v6])
    row[parsed.is_v6] = np.where(hit6 >= 0, hit6 + len(geo.v4), -1)
    per_value = pa.array(row, mask=row < 0)
    found = geo.attrs.take(per_value.take(encoded.indices))
    return pa.Table.from_arrays(found.columns, schema=OUTPUT_SCHEMA)


def enrich(table: pa.Table, geo: GeoTable, ip_column: str = "source_ip") -> pa.Table:
    """The table with source_cc, source_asn, source_as_name and geo_db (= geo.name) set from
    the addresses in `ip_column`; existing columns of those names are replaced in place."""
    found = lookup(geo, table.column(ip_column))
    stamp = pa.repeat(pa.scalar(geo.name, pa.string()), table.num_rows)
    return put_columns(
        table, [*zip(OUTPUT_SCHEMA, found.columns, strict=True), (GEO_DB_FIELD, stamp)]
    )
