"""The source address and port the sinkhole sees for each check-in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .checkins import CheckIns
from .leases import Leases
from .networks import DAY
from .params import POLICIES, Params
from .population import Population
from .space import v4_text, v6_text
from .usage import Sessions

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Addressed:
    """Per check-in: IPv6 or not, address as (hi, lo) (IPv4: hi 0, lo the address; IPv6: hi
    the /64 prefix, lo the interface id), source port and the line's lease index."""

    v6: B
    hi: I64
    lo: U64
    port: I64
    lease: I64
    addr_id: I64
    """The distinct addresses numbered from 0 (see address_text)."""
    distinct: tuple[I64, U64]
    """(hi, lo) of each numbered address."""


def _mix(*parts: npt.NDArray[np.int64]) -> U64:
    """splitmix64 of a combination of integer arrays: a stable pseudo-random 64-bit value."""
    x = np.zeros(len(parts[0]), dtype=np.uint64)
    for k, part in enumerate(parts):
        x = (x ^ part.astype(np.uint64)) * np.uint64(0x100000001B3 + 2 * k)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def _ports(pop: Population, machine: I64, line: I64, cgn: B, rng: np.random.Generator) -> I64:
    n = len(machine)
    xp = pop.m_xp[machine]
    own = np.where(xp, rng.integers(1025, 5001, n), rng.integers(49152, 65536, n))
    block = pop.line_port_block[line] * 1024 + rng.integers(0, 1024, n)
    return np.where(cgn, block, own)


def resolve(
    params: Params,
    pop: Population,
    sessions: Sessions,
    leases: Leases,
    ci: CheckIns,
    seed: int,
    rng: np.random.Generator,
) -> Addressed:
    """Lease address of the machine's line; per connection from the pool where the CGN does
    not pair; one of several egress addresses for enterprise sites; IPv6 temporary address
    (new per day, session and prefix) for a share of check-ins on IPv6 lines."""
    n = len(ci.machine)
    line = pop.m_line[ci.machine]
    net = pop.line_net[line]
    lease = leases.find(line, ci.time)
    lo = leases.v4[lease].astype(np.uint64)
    cgn = pop.net.policy[net] == POLICIES.index("cgn")
    arbitrary = cgn & pop.net.arbitrary[net]
    for i in np.unique(net[arbitrary]):
        idx = np.flatnonzero(arbitrary & (net == i))
        lo[idx] = pop.net.pool[int(i)].draw_v4(rng, len(idx)).astype(np.uint64)
    multi = np.flatnonzero(pop.line_egress[line] > 1)
    if len(multi):
        slot = rng.integers(0, pop.line_egress[line[multi]])
        other, slot = multi[slot > 0], slot[slot > 0]
        # A site's extra egress addresses: fixed per (line, slot), from its network's pool.
        h = _mix(line[other], slot, np.full(len(other), seed))
        for i in np.unique(net[other]):
            sel = net[other] == i
            pool = pop.net.pool[int(i)]
            offsets = (h[sel] % np.uint64(pool.total)).astype(np.int64)
            lo[other[sel]] = _pool_at(pool.start, pool.size, offsets).astype(np.uint64)
    use6 = pop.line_v6[line] & (leases.v6_prefix[lease] >= 0)
    use6 &= rng.random(n) < params.timers.v6_share
    hi = np.where(use6, leases.v6_prefix[lease], 0)
    since = ci.time - sessions.start[ci.session].astype(np.int64)
    day = since // int(DAY)
    iid = _mix(ci.machine, ci.session, day, lease, np.full(n, seed))
    lo = np.where(use6, iid, lo)
    port = _ports(pop, ci.machine, line, cgn & ~use6, rng)
    port = _unique_ports(pop, ci, line, cgn & ~use6, use6, hi, lo, port, rng)
    addr_id, distinct = number_addresses(hi, lo)
    return Addressed(use6, hi, lo, port, lease, addr_id, distinct)


def number_addresses(hi: I64, lo: U64) -> tuple[I64, tuple[I64, U64]]:
    """Number the distinct (hi, lo) addresses from 0, exactly: IPv4 first, then IPv6."""
    v6 = hi != 0
    u4, inv4 = np.unique(lo[~v6], return_inverse=True)
    h, low = hi[v6], lo[v6]
    order = np.lexsort((low, h))
    new = np.ones(len(order), dtype=bool)
    new[1:] = (h[order][1:] != h[order][:-1]) | (low[order][1:] != low[order][:-1])
    inv6 = np.empty(len(order), dtype=np.int64)
    inv6[order] = np.cumsum(new) - 1
    ids = np.empty(len(hi), dtype=np.int64)
    ids[~v6] = inv4.reshape(-1)
    ids[v6] = len(u4) + inv6
    distinct_hi = np.concatenate([np.zeros(len(u4), dtype=np.int64), h[order][new]])
    return ids, (distinct_hi, np.concatenate([u4, low[order][new]]))


def address_text(addr: Addressed) -> pa.Array:
    """Text of each numbered address (dotted quad or canonical IPv6)."""
    uh, ul = addr.distinct
    v6 = uh != 0
    parts = [v4_text(ul[~v6].astype(np.int64)), v6_text(uh[v6], ul[v6])]
    back = np.argsort(np.concatenate([np.flatnonzero(~v6), np.flatnonzero(v6)]), kind="stable")
    return pa.concat_arrays(parts).take(pa.array(back))


def _pool_at(start: I64, size: I64, offset: I64) -> I64:
    cum = np.cumsum(size)
    idx = np.searchsorted(cum, offset, side="right")
    return start[idx] + offset - (cum[idx] - size[idx])


def _unique_ports(pop: Population, ci: CheckIns, line: I64, cgn: B, use6: B, hi: I64, lo: U64,
                  port: I64, rng: np.random.Generator) -> I64:  # fmt: skip
    """Redraw the port of a connection that repeats another's (second, address, port) (or
    only shares its 64-bit hash): a real connection tuple is unique, and the feed's dedup
    would merge the two rows."""
    for _ in range(20):
        key = _mix(ci.time, hi, lo.view(np.int64), port)
        _, first = np.unique(key, return_index=True)
        if len(first) == len(key):
            return port
        dup = np.ones(len(port), dtype=bool)
        dup[first] = False
        idx = np.flatnonzero(dup)
        port = port.copy()
        port[idx] = _ports(pop, ci.machine[idx], line[idx], cgn[idx], rng)
    raise RuntimeError("could not make connection tuples unique")
