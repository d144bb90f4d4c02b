"""The stable reference's context (hosts.estimate.context_spans): the windows of data within
CONTEXT_DAYS before and after a query's range, cut at the range's ends and at the data's."""

from __future__ import annotations

from datetime import date, timedelta

from botcensus.measure import CensusQuery
from botcensus.measure.hosts.estimate import CONTEXT_DAYS, context_spans
from botcensus.measure.hosts.windows import data_extent

from .hosts_cases import START, connect, mixed

WEEKS = 8
"""mixed(8): data on every day from START (a Sunday) for 8 weeks."""


def _context(query: CensusQuery) -> tuple[list[tuple[date, date, int]], ...]:
    con = connect(mixed(WEEKS).table())
    extent = data_extent(con, query, "sightings")
    assert extent == (START, START + timedelta(days=7 * WEEKS - 1))
    return tuple(
        [(s.days[0], s.days[-1], len(s.days)) for s in spans]
        for spans in context_spans(con, query, "sightings", extent)
    )


def test_a_range_inside_the_data_reads_context_days_either_side_cut_at_its_ends() -> None:
    lo, hi = START + timedelta(days=31), START + timedelta(days=37)  # Wednesday to Tuesday
    before, after = _context(CensusQuery(week_ends="sat", date_from=lo, date_to=hi))
    assert before[0][0] == lo - timedelta(days=CONTEXT_DAYS)
    assert before[-1][1] == lo - timedelta(days=1)
    assert sum(n for *_, n in before) == CONTEXT_DAYS
    assert after[0][0] == hi + timedelta(days=1)
    assert after[-1][1] == START + timedelta(days=7 * WEEKS - 1)  # the data end first
    # Windows keep the query's week: the last one before the range is cut at its start.
    assert before[-1] == (START + timedelta(days=28), lo - timedelta(days=1), 3)


def test_no_context_without_a_bound_or_beyond_the_data() -> None:
    assert _context(CensusQuery()) == ([], [])
    end = START + timedelta(days=7 * WEEKS - 1)
    assert _context(CensusQuery(date_from=START, date_to=end)) == ([], [])
    before, after = _context(CensusQuery(date_to=START + timedelta(days=6)))
    assert before == []
    assert len(after) == 4
