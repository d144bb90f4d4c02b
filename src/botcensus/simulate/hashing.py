"""Counter-based randomness: splitmix64 hashes of (seed, stream, keys) as numpy uint64 arrays."""

from __future__ import annotations

from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_MIX1: Final = np.uint64(0xBF58476D1CE4E5B9)
_MIX2: Final = np.uint64(0x94D049BB133111EB)
_S30: Final = np.uint64(30)
_S27: Final = np.uint64(27)
_S31: Final = np.uint64(31)
_S11: Final = np.uint64(11)
_UNIT: Final = 1.0 / float(1 << 53)


class Stream(IntEnum):
    """One independent random stream per decision, so adding a draw never shifts another."""

    ONLINE = 1
    START = 2
    DURATION = 3
    JITTER = 4
    ADDRESS = 5
    POOL_SLOT = 6
    POOL_ADDRESS = 7
    BOT_ID = 8
    BOT_ID_CARRIED = 9
    BOT_ID_COLLIDES = 10
    BOT_ID_SHARED = 11


def splitmix64(x: npt.ArrayLike) -> U64:
    """The splitmix64 finaliser of x + golden ratio, elementwise (wrapping uint64 arithmetic)."""
    # Integer overflow is the point here; numpy warns about it only for 0-d operands.
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> _S30)) * _MIX1
        z = (z ^ (z >> _S27)) * _MIX2
        return np.asarray(z ^ (z >> _S31), dtype=np.uint64)


def hash_keys(seed: int, stream: Stream, *keys: npt.ArrayLike) -> U64:
    """A well-mixed uint64 per element of the broadcast keys (ints, possibly negative)."""
    h = splitmix64(splitmix64(np.uint64(seed % 2**64)) ^ np.uint64(int(stream)))
    for key in keys:
        h = splitmix64(h ^ np.asarray(key).astype(np.int64).view(np.uint64))
    return h


def step(base: U64, k: npt.ArrayLike) -> U64:
    """One more cheap round: the k-th draw from a per-session base hash."""
    with np.errstate(over="ignore"):
        return splitmix64(base + np.asarray(k, dtype=np.int64).view(np.uint64) * _GOLDEN)


def unit(h: U64) -> F64:
    """Uniform floats in [0, 1) from the top 53 bits of hashes."""
    return (h >> _S11).astype(np.float64) * _UNIT


def below(h: U64, n: npt.ArrayLike) -> U64:
    """Integers in [0, n) from hashes (n >= 1; the modulo bias is below 2**-30 for n < 2**34)."""
    return h % np.asarray(n, dtype=np.uint64)
