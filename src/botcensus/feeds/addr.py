"""Address columns: IPv6 checked and written canonically, prefix membership, vectorised.

IPv4 is validated in SQL (convert.ip_sql). Text with ':' is an IPv6 candidate: each distinct
candidate is parsed once with the ipaddress module (IPv6 rows are few in practice), so one
host written two ways counts once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.feeds.convert import IPV4_RE


def _canonical(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.is_unspecified or "%" in value:
        return None
    return str(address)


def canonical_ips(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """IPv6 candidates replaced by their canonical text, or null if not an address."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    v6 = pc.fill_null(pc.match_substring(array, ":"), False)
    if not pc.any(v6).as_py():
        return array
    candidates = pc.unique(array.filter(v6)).to_pylist()
    fixed = pa.array([_canonical(v) for v in candidates], pa.string())
    index = pc.index_in(array, value_set=pa.array(candidates, pa.string()))
    return pc.if_else(v6, fixed.take(index), array)


def _ipv4_ints(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    ok = pc.fill_null(pc.match_substring_regex(array, f"^{IPV4_RE}$"), False)
    flat = pc.list_flatten(pc.split_pattern(array.filter(ok), "."))
    numbers = pc.cast(flat, pa.int64())
    octets = numbers.to_numpy(zero_copy_only=False).reshape(-1, 4)
    values = np.zeros(len(array), dtype=np.int64)
    mask = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    values[mask] = (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
    return values, mask


def in_prefixes(column: pa.Array | pa.ChunkedArray, prefixes: Sequence[str]) -> pa.Array:
    """Whether each address lies in one of the CIDR prefixes (IPv4 and IPv6)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    networks = [ipaddress.ip_network(p, strict=False) for p in prefixes]
    v4nets = [n for n in networks if n.version == 4]
    v6nets = [n for n in networks if n.version == 6]
    hit = np.zeros(len(array), dtype=bool)
    if v4nets and len(array):
        values, valid = _ipv4_ints(array)
        for net in v4nets:
            low, high = int(net.network_address), int(net.broadcast_address)
            hit |= valid & (values >= low) & (values <= high)
    v6 = np.asarray(
        pc.fill_null(pc.match_substring(array, ":"), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    if v6nets and v6.any():
        distinct = pc.unique(array.filter(pa.array(v6))).to_pylist()
        inside = [
            any(ipaddress.ip_address(a) in n for n in v6nets) if _canonical(a) else False
            for a in distinct
        ]
        index = pc.index_in(array, value_set=pa.array(distinct, pa.string()))
        found = pa.array(inside, pa.bool_()).take(index)
        hit |= v6 & np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False))
    return pa.array(hit)
