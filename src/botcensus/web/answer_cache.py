"""Finished census answers kept in memory, keyed by the dataset's roll-up generation: the
same question asked again (the public pages ask a handful of questions all day) is served
without running the census again, and nothing kept outlives a change of the data.

The generation is store.aggregates.Freshness.token (a digest of every roll-up table's and
sightings file's name, size and time) plus the days only the sketches hold: `botcensus
rollup` rewriting a table, new sightings or retention deleting some all change it, and the
next look at the disk (web.census_view.CHECK_SECONDS) drops every kept answer. The key also
holds everything that makes two answers differ: the census query, the filters applied to
its rows, and k (None for the operator, who sees every cell), never who asked beyond that.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class AnswerCache(Generic[T]):
    """Answers of one generation holding at most `size` rows in all (`weigh` counts an
    answer's rows; at least 1 each), least recently used dropped first; an answer larger
    than `size` is not kept (thread-safe; size 0 keeps nothing)."""

    def __init__(self, size: int, weigh: Callable[[T], int] = lambda _: 1) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._weigh = weigh
        self._weight = 0
        self._generation: Hashable = None
        self._kept: OrderedDict[Hashable, tuple[T, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, generation: Hashable, key: Hashable, make: Callable[[], T]) -> T:
        """The answer kept for `key` in this generation, or `make()`'s (then kept)."""
        if self.size <= 0:
            return make()
        with self._lock:
            if generation != self._generation:
                self._kept.clear()
                self._weight = 0
                self._generation = generation
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                self.hits += 1
                return found[0]
            self.misses += 1
        value = make()  # outside the lock: two first askers may both compute (same answer)
        weight = max(1, self._weigh(value))
        with self._lock:
            if generation == self._generation and weight <= self.size and key not in self._kept:
                self._kept[key] = (value, weight)
                self._weight += weight
                while self._weight > self.size:
                    _, (_, dropped) = self._kept.popitem(last=False)
                    self._weight -= dropped
        return value

    def __len__(self) -> int:
        return len(self._kept)
