"""FeedStore.new_rows: each event stored once per day, the first of equal rows kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from botcensus.store.feed_events import DAY_US, HASH_COLUMN, FeedStore, HashSet

DAY0 = 19_844  # 2024-05-01


def _table(keys: list[int], days: list[int], start: int = 0) -> pa.Table:
    """Rows with the given 8-byte hash prefixes, days and a running line number."""
    raw = np.zeros((len(keys), 2), dtype=">u8")
    raw[:, 0] = keys
    hashes = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(keys), [None, pa.py_buffer(raw.tobytes())]
    )
    micros = np.asarray(days, dtype=np.int64) * DAY_US + 3_600_000_000
    return pa.table(
        {
            HASH_COLUMN: hashes,
            "time_source": pa.array(micros, pa.timestamp("us", tz="UTC")),
            "line": pa.array(np.arange(start, start + len(keys), dtype=np.int64)),
        }
    )


def _lines(table: pa.Table) -> list[int]:
    return [int(v) for v in table["line"].to_pylist()]


def test_first_of_equal_rows_in_a_batch_is_kept(tmp_path: Path) -> None:
    store = FeedStore(tmp_path, "t")
    new, days = store.new_rows(_table([5, 3, 5, 9, 3, 5], [DAY0] * 6))
    assert _lines(new) == [0, 1, 3]
    assert days.tolist() == [DAY0] * 3


def test_rows_seen_in_an_earlier_batch_are_dropped(tmp_path: Path) -> None:
    store = FeedStore(tmp_path, "t")
    store.new_rows(_table([1, 2, 3], [DAY0] * 3))
    new, _ = store.new_rows(_table([3, 4, 1, 4], [DAY0] * 4, start=10))
    assert _lines(new) == [11]


def test_the_same_hash_on_two_days_is_two_events(tmp_path: Path) -> None:
    store = FeedStore(tmp_path, "t")
    new, days = store.new_rows(_table([7, 7, 8, 7], [DAY0, DAY0 + 1, DAY0 + 1, DAY0]))
    assert _lines(new) == [0, 1, 2]
    assert days.tolist() == [DAY0, DAY0 + 1, DAY0 + 1]


def test_rows_stored_by_an_earlier_run_are_dropped(tmp_path: Path) -> None:
    first = FeedStore(tmp_path, "a")
    table = _table([1, 2, 3], [DAY0] * 3)
    new, days = first.new_rows(table)
    first.write(new, days, "report")
    first.commit()
    again = FeedStore(tmp_path, "b")
    new, _ = again.new_rows(_table([2, 9, 3, 9], [DAY0] * 4, start=10))
    assert _lines(new) == [11]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_a_set_over_random_batches(tmp_path: Path, seed: int) -> None:
    """Many duplicates within and across batches and days, checked against a Python set."""
    rng = np.random.default_rng(seed)
    store = FeedStore(tmp_path / str(seed), "t")
    seen: set[tuple[int, int]] = set()
    line = 0
    for _ in range(6):
        n = int(rng.integers(1, 400))
        keys = rng.integers(0, 300, n).tolist()
        days = (DAY0 + rng.integers(0, 3, n)).tolist()
        expected = []
        for i, (key, day) in enumerate(zip(keys, days, strict=True)):
            if (key, day) not in seen:
                seen.add((key, day))
                expected.append(line + i)
        new, _ = store.new_rows(_table(keys, days, start=line))
        assert _lines(new) == expected
        line += n


def test_hash_set_merges_runs_and_finds_every_key() -> None:
    keys = HashSet()
    rng = np.random.default_rng(4)
    added = rng.permutation(10_000).astype(np.uint64)
    for part in np.array_split(added, 7):
        keys.add(part)
    keys.add(np.array([20_000, 20_001], dtype=np.uint64), ordered=True)
    assert len(keys) == 10_002
    assert len(keys.runs) < 7
    probe = np.array([0, 9_999, 10_000, 20_001, 20_002], dtype=np.uint64)
    assert keys.contains(probe).tolist() == [True, True, False, True, False]
