"""Reader for Tor's geoip / geoip6 files (Debian tor-geoipdb): address range -> country."""

from __future__ import annotations

import email.utils
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from botcensus.enrich.ranges import ATTR_SCHEMA, Ranges, from_disjoint
from botcensus.ipaddr import ipv6_to_keys, keys_from_ipv4

_GENERATED = re.compile(r"^#\s*Generated:\s*(.+?)\s*$", re.MULTILINE)
UNKNOWN_CC = "??"
"""What the files say for a range whose country the source does not know."""


@dataclass(frozen=True)
class TorGeoip:
    """One geoip file: its ranges (cc only) and the date its source data was generated."""

    ranges: Ranges
    generated: str | None
    """ISO date from the file's "# Generated:" header line, None when absent."""


def data_date(header: str) -> str | None:
    """The ISO date of the first "# Generated: <RFC 2822 date>" comment line, if any."""
    match = _GENERATED.search(header)
    if match is None:
        return None
    return email.utils.parsedate_to_datetime(match.group(1)).date().isoformat()


def _rows(path: Path) -> tuple[str, pa.Table]:
    text = path.read_text(encoding="ascii")
    lines = text.splitlines()
    header = "\n".join(line for line in lines if line.startswith("#"))
    body = "\n".join(line for line in lines if line and not line.startswith("#"))
    table = pacsv.read_csv(
        io.BytesIO(body.encode("ascii")),
        read_options=pacsv.ReadOptions(column_names=["start", "end", "cc"]),
        convert_options=pacsv.ConvertOptions(
            column_types={"start": pa.string(), "end": pa.string(), "cc": pa.string()}
        ),
    )
    return header, table


def _attrs(cc: pa.ChunkedArray) -> pa.Table:
    known = pc.if_else(pc.equal(cc, UNKNOWN_CC), pa.scalar(None, pa.string()), cc)
    nulls = len(cc)
    return pa.table(
        {"cc": known, "asn": pa.nulls(nulls, pa.int64()), "as_name": pa.nulls(nulls, pa.string())},
        schema=ATTR_SCHEMA,
    )


def read_geoip(path: Path) -> TorGeoip:
    """Read the IPv4 file: lines "first,last,CC" with addresses as decimal integers."""
    header, table = _rows(path)
    start = table.column("start").cast(pa.uint32()).to_numpy()
    end = table.column("end").cast(pa.uint32()).to_numpy()
    ranges = from_disjoint(keys_from_ipv4(start), keys_from_ipv4(end), _attrs(table.column("cc")))
    return TorGeoip(ranges, data_date(header))


def read_geoip6(path: Path) -> TorGeoip:
    """Read the IPv6 file: lines "first,last,CC" with addresses in IPv6 text form."""
    header, table = _rows(path)
    start, ok_start = ipv6_to_keys(table.column("start").to_pylist())
    end, ok_end = ipv6_to_keys(table.column("end").to_pylist())
    if not (ok_start.all() and ok_end.all()):
        bad = int(np.flatnonzero(~(ok_start & ok_end))[0])
        raise ValueError(f"{path}: line {bad + 1} of the data has an invalid IPv6 address")
    ranges = from_disjoint(start, end, _attrs(table.column("cc")))
    return TorGeoip(ranges, data_date(header))
