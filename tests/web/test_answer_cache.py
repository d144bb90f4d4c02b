"""The answer cache: the same question is answered once per generation of the data, a new
generation drops every kept answer, and size 0 keeps nothing."""

from __future__ import annotations

import threading

from botcensus.web.answer_cache import AnswerCache


def _counter() -> tuple[list[int], object]:
    calls: list[int] = []

    def make() -> int:
        calls.append(1)
        return len(calls)

    return calls, make


def test_same_key_same_generation_is_made_once():
    cache: AnswerCache[int] = AnswerCache(4)
    calls, make = _counter()
    assert cache.get("g1", "q", make) == 1
    assert cache.get("g1", "q", make) == 1
    assert len(calls) == 1
    assert (cache.hits, cache.misses) == (1, 1)


def test_a_new_generation_drops_every_kept_answer():
    cache: AnswerCache[int] = AnswerCache(4)
    _, make = _counter()
    cache.get("g1", "q", make)
    cache.get("g1", "r", make)
    assert cache.get("g2", "q", make) == 3
    assert len(cache) == 1  # r of g1 is gone too


def test_least_recently_used_goes_first():
    cache: AnswerCache[str] = AnswerCache(2)
    cache.get("g", "a", lambda: "a")
    cache.get("g", "b", lambda: "b")
    cache.get("g", "a", lambda: "x")  # a used again
    cache.get("g", "c", lambda: "c")  # b dropped
    assert cache.get("g", "a", lambda: "new") == "a"
    assert cache.get("g", "b", lambda: "new") == "new"


def test_size_zero_keeps_nothing():
    cache: AnswerCache[int] = AnswerCache(0)
    calls, make = _counter()
    cache.get("g", "q", make)
    cache.get("g", "q", make)
    assert len(calls) == 2
    assert len(cache) == 0


def test_an_answer_made_while_the_generation_changed_is_not_kept():
    cache: AnswerCache[str] = AnswerCache(4)
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "old"

    worker = threading.Thread(target=lambda: cache.get("g1", "q", slow))
    worker.start()
    started.wait(5)
    cache.get("g2", "other", lambda: "x")  # the data changed meanwhile
    release.set()
    worker.join(5)
    assert cache.get("g1", "q", lambda: "made again") == "made again"


def test_the_size_bounds_the_rows_kept_in_all():
    cache: AnswerCache[list[int]] = AnswerCache(5, len)
    cache.get("g", "three", lambda: [1, 2, 3])
    cache.get("g", "two", lambda: [1, 2])
    cache.get("g", "one more", lambda: [1])  # 6 rows: the least recently used goes
    assert len(cache) == 2
    assert cache.get("g", "three", lambda: [0]) == [0]


def test_an_answer_larger_than_the_whole_size_is_served_not_kept():
    cache: AnswerCache[list[int]] = AnswerCache(5, len)
    cache.get("g", "small", lambda: [1])
    assert cache.get("g", "big", lambda: list(range(6))) == list(range(6))
    assert len(cache) == 1
    assert cache.get("g", "small", lambda: [0]) == [1]
