"""Measurement: census counts, host estimates, clean-up rates (pure functions over tables).

This face holds the census (`census`, `run_census`, `census_of_dataset`); host estimates,
survival and clean-up are the subpackages `measure.hosts`, `measure.survival` and
`measure.cleanup`, imported only by the commands that need them."""

from botcensus.measure.census import (
    GROUPS,
    WEEKDAYS,
    CensusQuery,
    census,
    census_sql,
    compare,
    with_change,
)
from botcensus.measure.census_run import CensusResult, census_of_dataset, run_census

__all__ = [
    "GROUPS",
    "WEEKDAYS",
    "CensusQuery",
    "CensusResult",
    "census",
    "census_of_dataset",
    "census_sql",
    "compare",
    "run_census",
    "with_change",
]
