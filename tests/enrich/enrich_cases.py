"""Where the enrichment sample files are, and a per-address reference lookup to compare with."""

from __future__ import annotations

import bisect
import ipaddress
from pathlib import Path

import numpy as np

from botcensus.enrich import GeoTable
from botcensus.ipaddr import hilo_from_keys

CASES = Path(__file__).parent / "cases"
MAXMIND = CASES / "maxmind"
Row = tuple[str | None, int | None, str | None]


def _ints(keys: np.ndarray) -> list[int]:
    hi, lo = hilo_from_keys(keys)
    return [(h << 64) | low for h, low in zip(hi.tolist(), lo.tolist(), strict=True)]


class SlowReference:
    """Per-address lookup with ipaddress and bisect: the obviously-correct version of lookup."""

    def __init__(self, geo: GeoTable) -> None:
        self.tables = {}
        for version, ranges in ((4, geo.v4), (6, geo.v6)):
            self.tables[version] = (
                _ints(ranges.start),
                _ints(ranges.end),
                ranges.attrs.to_pylist(),
            )

    def __call__(self, text: str | None) -> Row:
        if text is None:
            return (None, None, None)
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return (None, None, None)
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.version == 6 and address.scope_id is not None:
            return (None, None, None)
        starts, ends, attrs = self.tables[address.version]
        i = bisect.bisect_right(starts, int(address)) - 1
        if i < 0 or ends[i] < int(address):
            return (None, None, None)
        return (attrs[i]["cc"], attrs[i]["asn"], attrs[i]["as_name"])
