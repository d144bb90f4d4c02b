"""Real ISP address space from botcensus's bundled database: pools to draw addresses from."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from botcensus.enrich import ipv4_from_int
from botcensus.enrich.geotable import bundled_path

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
_V6_CAP = 1 << 40
"""Largest weight one IPv6 range gets when /64 prefixes are drawn (keeps sums in int64)."""


@dataclass(frozen=True)
class Pool:
    """Disjoint inclusive address ranges (IPv4 as integers, IPv6 as /64 prefix numbers)."""

    start: I64
    size: I64

    @property
    def total(self) -> int:
        return int(self.size.sum())

    def _draw(self, rng: np.random.Generator, n: int) -> tuple[I64, I64]:
        cum = np.cumsum(self.size)
        u = rng.integers(0, int(cum[-1]), n, dtype=np.int64)
        idx = np.searchsorted(cum, u, side="right")
        return self.start[idx] + u - (cum[idx] - self.size[idx]), idx

    def draw(self, rng: np.random.Generator, n: int) -> I64:
        """n addresses (or /64 prefixes) uniformly from the pool."""
        return self._draw(rng, n)[0]

    def draw_v4(self, rng: np.random.Generator, n: int) -> I64:
        """n IPv4 addresses uniformly from the pool, a .0 or .255 moved to its neighbour
        where that stays inside the range."""
        addr, idx = self._draw(rng, n)
        cand = addr ^ 1
        last = addr & 0xFF
        inside = (cand >= self.start[idx]) & (cand < self.start[idx] + self.size[idx])
        return np.where(((last == 0) | (last == 255)) & inside, cand, addr)

    def subset(self, rng: np.random.Generator, want: int, contiguous: bool) -> Pool:
        """A random part of about `want` addresses: whole ranges in random order, the last
        cut to fit; `contiguous` takes one aligned block from a single range where one fits."""
        if want >= self.total:
            return self
        if contiguous:
            fits = np.flatnonzero(self.size >= want)
            if len(fits):
                i = int(rng.choice(fits))
                blocks = int(self.size[i]) // want
                b = int(rng.integers(0, blocks))
                return Pool(np.array([self.start[i] + b * want]), np.array([want]))
        order = rng.permutation(len(self.start))
        starts, sizes, got = [], [], 0
        for i in order:
            take = min(int(self.size[i]), want - got)
            starts.append(int(self.start[i]))
            sizes.append(take)
            got += take
            if got >= want:
                break
        return Pool(np.array(starts, dtype=np.int64), np.array(sizes, dtype=np.int64))

    def split(self, rng: np.random.Generator, shares: list[float]) -> list[Pool]:
        """Ranges dealt out to parts in proportion to shares (a part left empty shares all)."""
        order = rng.permutation(len(self.start))
        target = np.asarray(shares, dtype=float) / sum(shares) * self.total
        got = np.zeros(len(shares))
        parts: list[list[int]] = [[] for _ in shares]
        for i in order:
            k = int(np.argmax(target - got))
            parts[k].append(int(i))
            got[k] += self.size[i]
        return [Pool(self.start[np.sort(p)], self.size[np.sort(p)]) if p else self for p in parts]


@functools.cache
def _bundled() -> pa.Table:
    return pq.read_table(bundled_path())


def asn_pools(cc: str, asn: int) -> tuple[Pool, Pool | None]:
    """The IPv4 pool and IPv6 /64-prefix pool (None if it has none) of an ASN in a country."""
    table = _bundled()
    mask = pc.and_(pc.equal(table["asn"], asn), pc.equal(table["cc"], cc))
    part = table.filter(mask)
    version = part["ip_version"].to_numpy()
    lo_s = part["start_lo"].to_numpy().astype(np.uint64)
    lo_e = part["end_lo"].to_numpy().astype(np.uint64)
    v4 = version == 4
    if not v4.any():
        raise ValueError(f"AS{asn} has no IPv4 address space in {cc} in the bundled database")
    start4 = lo_s[v4].astype(np.int64)
    v4_pool = Pool(start4, lo_e[v4].astype(np.int64) - start4 + 1)
    hi_s = part["start_hi"].to_numpy().astype(np.uint64)[~v4]
    hi_e = part["end_hi"].to_numpy().astype(np.uint64)[~v4]
    first = hi_s + (lo_s[~v4] != 0).astype(np.uint64)
    last = hi_e - (lo_e[~v4] != np.uint64(2**64 - 1)).astype(np.uint64)
    keep = (last >= first) & (first < np.uint64(2**63))
    if not keep.any():
        return v4_pool, None
    size = np.minimum(last[keep] - first[keep] + np.uint64(1), np.uint64(_V6_CAP))
    return v4_pool, Pool(first[keep].astype(np.int64), size.astype(np.int64))


def v4_text(addr: I64) -> pa.Array:
    """Dotted quads of IPv4 integers."""
    return ipv4_from_int(np.asarray(addr, dtype=np.uint32))


def v6_text(hi: I64, lo: U64) -> pa.Array:
    """Canonical IPv6 text of (prefix, interface id) pairs; formats each distinct pair once."""
    keys = np.stack([hi.astype(np.uint64), lo.astype(np.uint64)], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    text = [str(ipaddress.IPv6Address((int(h) << 64) | int(low))) for h, low in uniq]
    return pa.array(text, pa.string()).take(pa.array(inverse.reshape(-1)))


@functools.cache
def as_names() -> dict[int, str]:
    """AS number -> AS name in the bundled database."""
    table = _bundled().select(["asn", "as_name"]).filter(pc.is_valid(pc.field("as_name")))
    asn = table["asn"].to_numpy()
    _, first = np.unique(asn, return_index=True)
    names = table["as_name"].take(pa.array(first)).to_pylist()
    return {int(asn[i]): str(n) for i, n in zip(first, names, strict=True)}
