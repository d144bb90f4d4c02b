"""The times botcensus stores: one range for the sinkhole, the event roll, the roll-up and the
feeds. Without pyarrow or anything else heavy, so a sinkhole worker can check a replayed time
against it and stay small (model.py re-exports it beside the schemas)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final

EARLIEST_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME: Final = datetime(2100, 1, 1, tzinfo=UTC)
"""Every event time botcensus stores (a sinkhole's replayed receive time, a feed row's
time.source) is in [EARLIEST_TIME, LATEST_TIME): the census's weeks, the clean-up's
calendar and the dashboard do date arithmetic around each day, which a row dated year 1 or
9999 would take out of Python's date range, and no report of infected hosts is from
outside it. Feeds also refuse rows more than FEED_FUTURE_SKEW after their ingest."""
TIME_RANGE_US: Final = (
    (EARLIEST_TIME - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),
    (LATEST_TIME - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),
)
"""[EARLIEST_TIME, LATEST_TIME) in microseconds since the epoch, as events store times."""
TIME_RANGE_TEXT: Final = (
    f"{EARLIEST_TIME:%Y-%m-%d} to {LATEST_TIME - timedelta(microseconds=1):%Y-%m-%d}"
)
"""The range as messages name it: its first and last day."""
FEED_FUTURE_SKEW: Final = timedelta(days=2)
"""A feed row dated later than this after the ingest is quarantined: a clock that is wrong,
not an infection seen (time zones and clock skew stay well inside it)."""


def utc_today() -> date:
    """The UTC day now: the census's day that is not over (measure.census.CensusQuery.today)."""
    return datetime.now(UTC).date()
