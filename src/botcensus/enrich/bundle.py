"""The bundled database: tor-geoipdb countries merged with libloc ASNs into one range table."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from botcensus.enrich.geotable import GeoTable, write_parquet
from botcensus.enrich.libloc import dump_lines, parse_dump, to_ranges
from botcensus.enrich.ranges import Ranges, overlay
from botcensus.enrich.torgeoip import read_geoip, read_geoip6
from botcensus.ipaddr import hilo_from_keys

DEFAULT_GEOIP: Final = Path("/usr/share/tor/geoip")
DEFAULT_GEOIP6: Final = Path("/usr/share/tor/geoip6")
DEFAULT_LIBLOC_DB: Final = Path("/usr/share/libloc-location/location.db")


@dataclass(frozen=True)
class BuildReport:
    """What build_bundled wrote and from which data."""

    out: Path
    name: str
    """The stamp lookups write to geo_db."""
    file_bytes: int
    v4_ranges: int
    v6_ranges: int
    tor_date: str | None
    libloc_date: str | None
    v4_with_cc: int
    """IPv4 addresses with a country."""
    v4_with_asn: int
    """IPv4 addresses with an ASN."""
    v4_countries_ignored: int
    """IPv4 addresses libloc gives a country that tor-geoipdb leaves without one: left null."""
    seconds: float

    def summary(self) -> str:
        """A few lines for a person: what was written, from which data."""
        return (
            f"wrote {self.out} ({self.file_bytes / 1e6:.1f} MB, {self.v4_ranges} IPv4 + "
            f"{self.v6_ranges} IPv6 ranges) in {self.seconds:.1f} s\n"
            f"  {self.name}\n"
            f"  IPv4 addresses with a country: {self.v4_with_cc}, with an ASN: {self.v4_with_asn}; "
            f"libloc countries not used where tor-geoipdb has none: {self.v4_countries_ignored}"
        )


def _v4_addresses(ranges: Ranges, column: str) -> int:
    keep = ranges.attrs.column(column).is_valid().to_numpy(zero_copy_only=False)
    size = hilo_from_keys(ranges.end)[1] - hilo_from_keys(ranges.start)[1] + np.uint64(1)
    return int(size[np.asarray(keep, dtype=bool)].sum())


def _no_cc(ranges: Ranges) -> Ranges:
    cc = ranges.attrs.schema.get_field_index("cc")
    attrs = ranges.attrs.set_column(cc, "cc", pa.nulls(len(ranges), pa.string()))
    return Ranges(ranges.start, ranges.end, attrs)


def build_bundled(out: Path, *, geoip: Path, geoip6: Path, libloc_db: Path) -> BuildReport:
    """Merge Tor's geoip files (country) with libloc (ASN, AS name) into one Parquet table.

    `libloc_db` is a binary location.db (read through the `location` tool) or the text of
    `location dump`. Country comes from tor-geoipdb alone: where its newer data names no
    country, libloc's older one is not used (it would place e.g. the documentation network
    203.0.113.0/24 in AU, from a 203.0.0.0/8 allocation record).
    """
    began = time.perf_counter()
    tor4, tor6 = read_geoip(geoip), read_geoip6(geoip6)
    dump = parse_dump(dump_lines(libloc_db))
    loc4, loc6 = to_ranges(dump)
    tor_date = tor4.generated or tor6.generated
    name = f"bundled tor-geoipdb {tor_date or 'undated'} + libloc {dump.generated or 'undated'}"
    geo = GeoTable(name, overlay(tor4.ranges, _no_cc(loc4)), overlay(tor6.ranges, _no_cc(loc6)))
    write_parquet(geo, out)
    return BuildReport(
        out=out,
        name=name,
        file_bytes=out.stat().st_size,
        v4_ranges=len(geo.v4),
        v6_ranges=len(geo.v6),
        tor_date=tor_date,
        libloc_date=dump.generated,
        v4_with_cc=_v4_addresses(geo.v4, "cc"),
        v4_with_asn=_v4_addresses(geo.v4, "asn"),
        v4_countries_ignored=_v4_addresses(overlay(tor4.ranges, loc4), "cc")
        - _v4_addresses(tor4.ranges, "cc"),
        seconds=time.perf_counter() - began,
    )
