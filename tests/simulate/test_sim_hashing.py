"""Counter-based randomness and the analytic check-in count it makes possible."""

from __future__ import annotations

import numpy as np
import pytest

from botcensus.simulate.daily import first_at_or_after
from botcensus.simulate.hashing import Stream, below, hash_keys, splitmix64, unit
from botcensus.simulate.sessions import Sessions, checkin_time


def test_splitmix64_matches_the_reference_sequence() -> None:
    # The first outputs of Vigna's splitmix64 seeded with 0.
    golden = 0x9E3779B97F4A7C15
    states = np.array([0, golden, 2 * golden % 2**64], dtype=np.uint64)
    assert splitmix64(states).tolist() == [
        0xE220A8397B1DCDAF,
        0x6E789E6AA1B965F4,
        0x06C45D188009454F,
    ]


def test_hashes_are_uniform_and_streams_independent() -> None:
    keys = np.arange(100_000)
    a = unit(hash_keys(1, Stream.ONLINE, keys, 7))
    b = unit(hash_keys(1, Stream.START, keys, 7))
    assert abs(a.mean() - 0.5) < 0.005
    assert a.min() >= 0
    assert a.max() < 1
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
    assert not np.array_equal(hash_keys(1, Stream.ONLINE, keys), hash_keys(2, Stream.ONLINE, keys))
    assert (below(hash_keys(1, Stream.ADDRESS, keys), 7) < 7).all()


def _sessions(rng: np.random.Generator, n: int) -> Sessions:
    interval = rng.integers(1_000, 10_000, n)
    start = rng.integers(0, 1_000_000, n)
    count = rng.integers(1, 40, n)
    zeros = np.zeros(n, np.int64)
    return Sessions(
        episode=zeros,
        host=zeros,
        day=zeros,
        start=start,
        end=start + count * interval,
        n=count,
        interval=interval,
        jitter=(interval * rng.random(n)).astype(np.int64),
        key=hash_keys(3, Stream.JITTER, np.arange(n)),
        ep_start=zeros,
        ep_end=zeros,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_check_in_at_or_after_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = _sessions(rng, 300)
    x = s.start + rng.integers(-20_000, 450_000, 300)
    idx = np.arange(300)
    got = first_at_or_after(s, idx, x)
    for i in range(300):
        times = checkin_time(s, np.arange(s.n[i]), np.full(s.n[i], i))
        assert (np.diff(times) > 0).all()
        assert got[i] == int(np.searchsorted(times, x[i], side="left"))
