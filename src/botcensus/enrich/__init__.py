"""Enrichment: IP address -> country, ASN and AS name, vectorised over Arrow columns.

A GeoTable comes from the bundled offline database (tor-geoipdb + libloc) or from MaxMind DB
files; `enrich` is a step from a sightings table to the same table with source_cc,
source_asn, source_as_name and geo_db filled:

    geo = load()                     # bundled; load(country_mmdb, asn_mmdb) for .mmdb files
    sightings = enrich(sightings, geo)

See docs/enrichment.md.
"""

from __future__ import annotations

from pathlib import Path

from botcensus.enrich.bundle import BuildReport, build_bundled
from botcensus.enrich.geotable import GeoTable, ipv4_ranges, load_bundled, read_parquet
from botcensus.enrich.geotable import write_parquet as save_parquet
from botcensus.enrich.lookup import enrich, lookup
from botcensus.enrich.mmdb import load_mmdb
from botcensus.ipaddr import ipv4_from_int, ipv4_to_int

__all__ = [
    "BuildReport",
    "GeoTable",
    "build_bundled",
    "enrich",
    "ipv4_from_int",
    "ipv4_ranges",
    "ipv4_to_int",
    "load",
    "load_bundled",
    "load_mmdb",
    "lookup",
    "read_parquet",
    "save_parquet",
]


def load(
    country_mmdb: Path | None = None,
    asn_mmdb: Path | None = None,
    table: Path | None = None,
) -> GeoTable:
    """The GeoTable settings ask for: a saved table (Parquet, e.g. a converted .mmdb cache),
    else the given .mmdb files, else the bundled database."""
    if table is not None:
        return read_parquet(table)
    if country_mmdb is not None or asn_mmdb is not None:
        return load_mmdb(country_mmdb, asn_mmdb)
    return load_bundled()
