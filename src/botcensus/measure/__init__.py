"""Measurement: census counts, host estimates, clean-up rates (pure functions over tables)."""

from botcensus.measure.census import (
    GROUPS,
    WEEKDAYS,
    CensusQuery,
    census,
    census_sql,
    compare,
    with_change,
)

__all__ = ["GROUPS", "WEEKDAYS", "CensusQuery", "census", "census_sql", "compare", "with_change"]
