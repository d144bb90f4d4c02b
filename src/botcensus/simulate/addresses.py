"""Address space: pick each country's ASNs from an IPv4 range table and draw addresses in them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]

RANGE_SCHEMA = pa.schema(
    [
        pa.field("start", pa.uint32(), nullable=False),
        pa.field("end", pa.uint32(), nullable=False),
        pa.field("cc", pa.string()),
        pa.field("asn", pa.int64()),
        pa.field("as_name", pa.string()),
    ]
)
"""The shape of the address-space table (as botcensus.enrich.ipv4_ranges returns it);
`end` is inclusive."""


@dataclass(frozen=True)
class AsnChoice:
    """How one country spreads its hosts over ASNs."""

    preferred: Sequence[int]
    count: int
    zipf_exponent: float


@dataclass(frozen=True)
class AddressSpace:
    """The chosen (cc, asn) groups, their weights within their country, and their ranges."""

    cc: tuple[str, ...]
    asn: I64
    as_name: tuple[str, ...]
    weight: F64
    """Share of the country's hosts placed in this group (sums to 1 per country)."""
    size: U64
    """Addresses in the group's ranges."""
    offset: U64
    """Position of the group's first address in the concatenation of all groups' ranges."""
    range_start: U64
    range_pos: U64
    """Position of each range's first address in that concatenation (ascending)."""

    def groups_of(self, cc: str) -> I64:
        """Indices of a country's groups, most heavily weighted first."""
        return np.flatnonzero(np.asarray(self.cc) == cc).astype(np.int64)

    def address(self, group: npt.ArrayLike, position: npt.ArrayLike) -> U32:
        """The address at `position` (taken modulo the group's size) in each group's ranges."""
        g = np.asarray(group, dtype=np.int64)
        flat = self.offset[g] + np.asarray(position, dtype=np.uint64) % self.size[g]
        r = np.searchsorted(self.range_pos, flat, side="right") - 1
        return (self.range_start[r] + (flat - self.range_pos[r])).astype(np.uint32)


def choose_asns(table: pa.Table, choices: Mapping[str, AsnChoice]) -> AddressSpace:
    """Each country's ASNs: its preferred ones present in `table`, then the largest by address
    space, Zipf-weighted by rank. Raises ValueError for a country with no ranges."""
    rows = table.filter(pc.is_in(table["cc"], pa.array(sorted(choices), pa.string())))
    rows = rows.filter(pc.fill_null(pc.greater(rows["asn"], 0), False))
    cc_all = np.asarray(rows["cc"].to_pylist(), dtype=object)
    asn_all = rows["asn"].to_numpy().astype(np.int64)
    start_all = rows["start"].to_numpy().astype(np.uint64)
    size_all = rows["end"].to_numpy().astype(np.uint64) - start_all + np.uint64(1)
    name_all = rows["as_name"].to_pylist()
    picked_cc: list[str] = []
    picked_asn: list[int] = []
    names: list[str] = []
    weights: list[F64] = []
    starts: list[U64] = []
    sizes: list[U64] = []
    missing = sorted(set(choices) - set(cc_all.tolist()))
    if missing:
        raise ValueError(f"address-space table has no ranges for countries {missing}")
    for cc in sorted(choices):
        choice = choices[cc]
        in_cc = np.flatnonzero(cc_all == cc)
        uniq, first, inverse = np.unique(asn_all[in_cc], return_index=True, return_inverse=True)
        space = np.bincount(inverse, weights=size_all[in_cc].astype(np.float64))
        by_space = [int(a) for a in uniq[np.lexsort((uniq, -space))]]
        preferred = [a for a in dict.fromkeys(choice.preferred) if a in set(by_space)]
        picked = (preferred + [a for a in by_space if a not in preferred])[: choice.count]
        for asn in picked:
            u = int(np.searchsorted(uniq, asn))
            mine = in_cc[inverse == u]
            mine = mine[np.argsort(start_all[mine], kind="stable")]
            starts.append(start_all[mine])
            sizes.append(size_all[mine])
            names.append(str(name_all[in_cc[first[u]]] or ""))
        w = np.arange(1, len(picked) + 1, dtype=np.float64) ** -choice.zipf_exponent
        weights.append(w / w.sum())
        picked_cc += [cc] * len(picked)
        picked_asn += picked
    group_size = np.asarray([s.sum() for s in sizes], dtype=np.uint64)
    range_size = np.concatenate(sizes)
    return AddressSpace(
        cc=tuple(picked_cc),
        asn=np.asarray(picked_asn, dtype=np.int64),
        as_name=tuple(names),
        weight=np.concatenate(weights),
        size=group_size,
        offset=np.concatenate([[0], np.cumsum(group_size)[:-1]]).astype(np.uint64),
        range_start=np.concatenate(starts),
        range_pos=np.concatenate([[0], np.cumsum(range_size)[:-1]]).astype(np.uint64),
    )


def synthetic_ranges(countries: Sequence[str], *, asns: int = 40, seed: int = 0) -> pa.Table:
    """A made-up range table in RANGE_SCHEMA shape: per country `asns` ASNs of 1-4 ranges with
    sizes spread over three orders of magnitude. For tests and demos without enrichment data."""
    rng = np.random.default_rng(seed)
    n = len(countries) * asns
    blocks = rng.integers(1, 5, size=n)
    sizes = (2 ** rng.integers(8, 17, size=int(blocks.sum()))).astype(np.uint64)
    # Gaps between ranges keep them apart so a lookup must use the table, not adjacency.
    starts = np.uint64(16 << 24) + np.cumsum(sizes * np.uint64(2)) - sizes * np.uint64(2)
    owner = np.repeat(np.arange(n), blocks)
    cc = [countries[int(i) // asns] for i in owner]
    asn = 64512 + owner.astype(np.int64)
    return pa.table(
        {
            "start": pa.array(starts.astype(np.uint32), pa.uint32()),
            "end": pa.array((starts + sizes - np.uint64(1)).astype(np.uint32), pa.uint32()),
            "cc": pa.array(cc, pa.string()),
            "asn": pa.array(asn, pa.int64()),
            "as_name": pa.array([f"AS{a}-{c}" for a, c in zip(asn, cc, strict=True)], pa.string()),
        },
        schema=RANGE_SCHEMA,
    )
