"""Reader for MaxMind DB (.mmdb) files: GeoLite2 / GeoIP2, DB-IP and IPinfo lite layouts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import maxminddb
import numpy as np
import pyarrow as pa

from botcensus.enrich.geotable import GeoTable
from botcensus.enrich.ranges import (
    ATTR_SCHEMA,
    Ranges,
    empty_ranges,
    from_disjoint,
    overlay,
    prefix_end,
)
from botcensus.ipaddr import keys_from_hilo

# Where each attribute sits in the record layouts we know; the first path holding a value wins.
# Country: where the address is used (`country`), else where it is registered; IPinfo lite
# keeps a flat `country_code`. ASN: GeoLite2 / DB-IP number, or IPinfo's "AS123" string.
CC_PATHS: Final = (("country", "iso_code"), ("registered_country", "iso_code"), ("country_code",))
ASN_PATHS: Final = (("autonomous_system_number",), ("asn",))
AS_NAME_PATHS: Final = (("autonomous_system_organization",), ("as_name",))
_LOW64: Final = (1 << 64) - 1


def _first(record: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> Any:
    for path in paths:
        value: Any = record
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value not in (None, ""):
            return value
    return None


def _asn(value: Any) -> int | None:
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.upper().removeprefix("AS").isdigit():
        number = int(value.upper().removeprefix("AS"))
    else:
        return None
    return number if number > 0 else None


def record_fields(record: Mapping[str, Any]) -> tuple[str | None, int | None, str | None]:
    """(cc, asn, as_name) from one mmdb record, whichever known layout it has."""
    cc = _first(record, CC_PATHS)
    name = _first(record, AS_NAME_PATHS)
    return (
        str(cc).upper() if cc is not None else None,
        _asn(_first(record, ASN_PATHS)),
        str(name) if name is not None else None,
    )


def read_mmdb(path: Path) -> tuple[Ranges, Ranges, str]:
    """IPv4 and IPv6 range tables from every network in the file's search tree, and a stamp
    "<database_type> <build date>"."""
    columns: dict[int, list[list[Any]]] = {4: [[], [], [], [], []], 6: [[], [], [], [], []]}
    with maxminddb.open_database(str(path)) as reader:
        metadata = reader.metadata()
        for network, record in reader:
            cols = columns[network.version]
            base = int(network.network_address)
            cols[0].append(base)
            cols[1].append(network.prefixlen + (96 if network.version == 4 else 0))
            cc, asn, name = record_fields(record) if isinstance(record, Mapping) else (None,) * 3
            cols[2].append(cc)
            cols[3].append(asn)
            cols[4].append(name)
    built = dt.datetime.fromtimestamp(metadata.build_epoch, dt.UTC).date().isoformat()
    v4, v6 = (_ranges(columns[version]) for version in (4, 6))
    return v4, v6, f"{metadata.database_type} {built}"


def _ranges(cols: list[list[Any]]) -> Ranges:
    if not cols[0]:
        return empty_ranges()
    hi = np.array([a >> 64 for a in cols[0]], dtype=np.uint64)
    lo = np.array([a & _LOW64 for a in cols[0]], dtype=np.uint64)
    start = keys_from_hilo(hi, lo)
    attrs = pa.table({"cc": cols[2], "asn": cols[3], "as_name": cols[4]}, schema=ATTR_SCHEMA)
    return from_disjoint(start, prefix_end(start, np.array(cols[1])), attrs)


def load_mmdb(country: Path | None, asn: Path | None) -> GeoTable:
    """A GeoTable from a country (or city) .mmdb, an ASN .mmdb, or both.

    Country comes from the country file where it says one, else from the ASN file; ASN and
    AS name come from the ASN file where it says one, else from the country file (so a single
    file holding both, such as IPinfo lite, can be passed as either or both).
    """
    if country is None and asn is None:
        raise ValueError("load_mmdb needs a country or an ASN .mmdb file (or both)")
    empty = (empty_ranges(), empty_ranges(), "")
    c4, c6, c_name = read_mmdb(country) if country is not None else empty
    a4, a6, a_name = read_mmdb(asn) if asn is not None else empty
    stamp = " + ".join(n for n in (c_name, a_name) if n)
    return GeoTable(f"mmdb {stamp}", overlay(c4, a4), overlay(c6, a6))
