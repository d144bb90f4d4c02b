"""usage.merge against a plain per-machine interval union: exact, machine by machine."""

from __future__ import annotations

import numpy as np
import pytest
from bench.popgen.usage import Sessions, merge
from hypothesis import given, settings
from hypothesis import strategies as st

DAY = 86_400.0
Spans = list[tuple[int, float, float]]


def reference(spans: Spans, gap: float = 0.0) -> list[tuple[int, float, float]]:
    """The union per machine, in plain Python: sorted by start, an interval joins the one
    before when it starts no later than that one's end plus `gap`."""
    out: list[tuple[int, float, float]] = []
    for machine in sorted({m for m, _, _ in spans}):
        current: list[float] | None = None
        for s, e in sorted((s, e) for m, s, e in spans if m == machine):
            if current is not None and s <= current[1] + gap:
                current[1] = max(current[1], e)
                continue
            if current is not None:
                out.append((machine, current[0], current[1]))
            current = [s, e]
        assert current is not None
        out.append((machine, current[0], current[1]))
    return out


def merged(spans: Spans, gap: float = 0.0) -> list[tuple[int, float, float]]:
    m = np.array([x[0] for x in spans], dtype=np.int64)
    start = np.array([x[1] for x in spans], dtype=np.float64)
    end = np.array([x[2] for x in spans], dtype=np.float64)
    out = merge(m, start, end, gap)
    return list(zip(out.machine.tolist(), out.start.tolist(), out.end.tolist(), strict=True))


HAND: dict[str, tuple[Spans, float]] = {
    "overlapping": ([(0, 0.0, 10.0), (0, 5.0, 20.0), (0, 30.0, 40.0)], 0.0),
    "nested": ([(1, 0.0, 100.0), (1, 10.0, 20.0), (1, 50.0, 60.0), (1, 150.0, 160.0)], 0.0),
    "unsorted input": ([(2, 30.0, 40.0), (1, 5.0, 6.0), (2, 0.0, 35.0), (1, 0.0, 1.0)], 0.0),
    "machines do not join": ([(0, 0.0, 100.0), (1, 50.0, 60.0), (1, 70.0, 80.0)], 0.0),
    "a long first machine": ([(0, 0.0, 5 * DAY), (1, 10.0, 20.0), (1, 30.0, 40.0)], 0.0),
    "gap joins": ([(0, 0.0, 10.0), (0, 15.0, 20.0), (0, 26.0, 30.0)], 5.0),
}

EDGES: dict[str, tuple[Spans, float]] = {
    "touching": ([(0, 0.0, 10.0), (0, 10.0, 20.0)], 0.0),
    "touching, real times": ([(5, 3_601.1, 7_203.3), (5, 7_203.3, 9_000.7)], 0.0),
    "touching, after another machine": (
        [(0, 0.0, 4_838_000.0), (1, 3_601.1, 7_203.3), (1, 7_203.3, 9_000.7)],
        0.0,
    ),
    "just apart": ([(0, 0.0, 10.0), (0, np.nextafter(10.0, 11.0), 20.0)], 0.0),
    "exactly the gap": ([(0, 0.0, 10.0), (0, 15.0, 20.0)], 5.0),
    "just past the gap": ([(0, 0.0, 10.0), (0, np.nextafter(15.0, 16.0), 20.0)], 5.0),
    "negative starts": ([(0, -DAY, -10.0), (0, -10.0, 50.0), (1, -5.0, -1.0)], 0.0),
    "large machine ids, touching": (
        [(7999, 4_838_399.7, 4_838_400.1), (7999, 4_838_400.1, 4_838_401.3)],
        0.0,
    ),
    "large machine ids, just apart": (
        [(7998, 100.0, 4_838_000.0), (7999, 1.0, 2.0), (7999, np.nextafter(2.0, 3.0), 3.0)],
        0.0,
    ),
    "large ids with gap": ([(7999, 10.1, 20.3), (7999, 80.3, 90.7)], 60.0),
    "one machine, one interval": ([(3, 1.5, 2.5)], 0.0),
}


@pytest.mark.parametrize("case", list(HAND), ids=list(HAND))
def test_merge_matches_the_plain_union_on_hand_cases(case: str) -> None:
    spans, gap = HAND[case]
    assert merged(spans, gap) == reference(spans, gap)


@pytest.mark.parametrize("case", list(EDGES), ids=list(EDGES))
def test_merge_matches_the_plain_union_on_edge_cases(case: str) -> None:
    spans, gap = EDGES[case]
    assert merged(spans, gap) == reference(spans, gap)


def test_merge_of_nothing_is_empty() -> None:
    out = merge(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    assert isinstance(out, Sessions)
    assert len(out.machine) == len(out.start) == len(out.end) == 0


def _random_spans(seed: int, machines: int, n: int, horizon: float) -> Spans:
    """Sessions as usage draws them: seconds with fractions, some touching exactly."""
    rng = np.random.default_rng(seed)
    m = rng.integers(0, machines, n)
    start = np.round(rng.uniform(-DAY, horizon, n), 3)
    end = start + np.round(rng.lognormal(np.log(7_200.0), 1.0, n), 3)
    touch = rng.random(n) < 0.2  # the next interval of a machine starts where this ends
    spans = list(zip(m.tolist(), start.tolist(), end.tolist(), strict=True))
    again = zip(m[touch].tolist(), end[touch].tolist(), strict=True)
    spans += [(mm, e, e + 60.0) for mm, e in again]
    return spans


@pytest.mark.parametrize("seed", [1, 2, 5, 7, 11])
def test_merge_matches_the_plain_union_on_drawn_sessions(seed: int) -> None:
    spans = _random_spans(seed, 8_000, 6_000, 56 * DAY)
    assert merged(spans) == reference(spans)
    assert merged(spans, 600.0) == reference(spans, 600.0)


times = st.floats(-2 * DAY, 60 * DAY, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 2, 7998, 7999]),
            times,
            st.one_of(st.just(0.0), st.floats(0.0, 2 * DAY, allow_nan=False)),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([0.0, 1.0, 600.0]),
    st.booleans(),
)
def test_merge_matches_the_plain_union(spans: Spans, gap: float, chain: bool) -> None:
    """Lengths may be 0; `chain` makes each interval of a machine start where the one before
    it (in the list) ends, so that touching ends are common."""
    if chain:
        last: dict[int, float] = {}
        chained = []
        for m, s, length in spans:
            begin = last.get(m, s)
            chained.append((m, begin, begin + length))
            last[m] = begin + length
        spans = chained
    else:
        spans = [(m, s, s + length) for m, s, length in spans]
    assert merged(spans, gap) == reference(spans, gap)
