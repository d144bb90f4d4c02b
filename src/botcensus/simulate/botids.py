"""Bot ids: which bots carry one, its value, and which ids collide (hashed from the seed)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .hashing import Stream, below, hash_keys, unit
from .population import Population
from .scenario import BotIds

I64 = npt.NDArray[np.int64]

NO_ID = -1
"""The id number of a host whose check-ins carry none (noise sources, Rustock-like bots)."""


def bot_id_numbers(pop: Population, seed: int, spec: BotIds) -> I64:
    """Per host (bots, then noise): a non-negative id number, or NO_ID. A colliding bot takes
    the id of another bot drawn uniformly, so ids shared by several machines arise as in
    Torpig's 1% collisions or from cloned disk images."""
    n_all = len(pop.hosts.line)
    host = np.arange(n_all, dtype=np.int64)
    own = (hash_keys(seed, Stream.BOT_ID, host) >> np.uint64(1)).astype(np.int64)
    if pop.n_bots == 0 or spec.fraction == 0.0:
        return np.full(n_all, NO_ID, np.int64)
    other = below(hash_keys(seed, Stream.BOT_ID_SHARED, host), pop.n_bots).astype(np.int64)
    collides = unit(hash_keys(seed, Stream.BOT_ID_COLLIDES, host)) < spec.collision_fraction
    carried = unit(hash_keys(seed, Stream.BOT_ID_CARRIED, host)) < spec.fraction
    ids = np.where(collides, own[other], own)
    return np.where(carried & (host < pop.n_bots), ids, NO_ID)


def bot_id_strings(numbers: I64) -> pa.Array:
    """Id numbers as 16-hex-digit strings; NO_ID becomes null."""
    text = np.char.mod("%016x", np.maximum(numbers, 0))
    return pa.array(text.tolist(), pa.string(), mask=numbers == NO_ID)
