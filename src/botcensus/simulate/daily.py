"""The direct path: each day's check-ins per (host, address), counted without enumerating."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .addresses import AddressSpace
from .population import DAY_US, Population
from .sessions import Sessions, address, candidates, checkin_time, epoch_at, next_change

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]


@dataclass(frozen=True)
class Pieces:
    """Check-ins of one host at one address within one UTC day (a host may have several)."""

    host: I64
    ip: U32
    family: npt.NDArray[np.uint8]
    first: I64
    last: I64
    hits: I64


def first_at_or_after(s: Sessions, idx: I64, x: I64) -> I64:
    """Per session idx, the first k with check-in time >= x (n if none).

    With jitter in [0, interval), check-in q = (x - start) // interval is the only one that can
    fall on either side of x: all before it are earlier, all after it later.
    """
    start, interval, n = s.start[idx], s.interval[idx], s.n[idx]
    q = np.clip((x - start) // interval, 0, n)
    later = checkin_time(s, q, idx) >= x
    k = np.where(x <= start, 0, np.where(later, q, q + 1))
    return np.minimum(k, n)


def _windows(s: Sessions, idx: I64, lo: I64, hi: I64) -> tuple[I64, I64, I64, I64]:
    """Count, first and last check-in time in [lo, hi) per session idx."""
    k_lo = first_at_or_after(s, idx, lo)
    k_hi = np.where(hi > lo, first_at_or_after(s, idx, hi), k_lo)
    count = np.maximum(k_hi - k_lo, 0)
    first = checkin_time(s, k_lo, idx)
    last = checkin_time(s, np.maximum(k_hi - 1, 0), idx)
    return count, first, last, k_lo


def day_pieces(pop: Population, space: AddressSpace, seed: int, day: int) -> Pieces:
    """All check-ins of UTC day `day`, summed per (host, session, address epoch)."""
    s = candidates(pop, seed, day)
    line = pop.hosts.line[s.host]
    lo = np.maximum(s.ep_start, day * DAY_US)
    hi = np.minimum(s.ep_end, (day + 1) * DAY_US)
    # Periods are >= 24 h, so a window of at most a day holds at most one address change.
    change = np.minimum(next_change(pop, line, lo), hi)
    epoch = epoch_at(pop, line, lo, s.day)
    idx = np.arange(len(s.host), dtype=np.int64)
    both = np.concatenate([idx, idx])
    w_lo = np.concatenate([lo, np.maximum(lo, change)])
    w_hi = np.concatenate([change, hi])
    w_epoch = np.concatenate([epoch, epoch + 1])
    count, first, last, _ = _windows(s, both, w_lo, w_hi)
    some = count > 0
    both, w_epoch = both[some], w_epoch[some]
    host = s.host[both]
    return Pieces(
        host=host,
        ip=address(pop, space, seed, pop.hosts.line[host], w_epoch),
        family=pop.hosts.family[host],
        first=first[some],
        last=last[some],
        hits=count[some],
    )


@dataclass(frozen=True)
class Rolled:
    """Daily sightings before formatting: one row per (address, family, bot id), sorted."""

    ip: U32
    family: npt.NDArray[np.uint8]
    first: I64
    last: I64
    hits: I64
    bot: I64
    """Bot id number per row (botids.NO_ID: none)."""


def roll_up(p: Pieces, bot: I64 | None = None) -> Rolled:
    """Sum pieces per (address, family[, bot id]): hosts behind one NAT or pool address merge
    here unless their check-ins carry different ids. `bot`: an id number per piece."""
    ids = np.full(len(p.ip), -1, np.int64) if bot is None else bot
    key = p.ip.astype(np.uint64) << np.uint64(8) | p.family.astype(np.uint64)
    order = np.lexsort((ids, key))
    key, ids = key[order], ids[order]
    new = np.concatenate([[True], (key[1:] != key[:-1]) | (ids[1:] != ids[:-1])])
    head = np.flatnonzero(new) if len(key) else idx0()
    return Rolled(
        ip=(key[head] >> np.uint64(8)).astype(np.uint32),
        family=(key[head] & np.uint64(0xFF)).astype(np.uint8),
        first=np.minimum.reduceat(p.first[order], head) if len(head) else idx0(),
        last=np.maximum.reduceat(p.last[order], head) if len(head) else idx0(),
        hits=np.add.reduceat(p.hits[order], head) if len(head) else idx0(),
        bot=ids[head],
    )


def idx0() -> I64:
    """An empty int64 array."""
    return np.zeros(0, np.int64)
