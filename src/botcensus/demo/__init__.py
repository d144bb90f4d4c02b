"""The demo: the 2011 Rustock takedown replayed through every stage (simulate, a real
sinkhole on loopback, store, enrich, measure, report), compared with Microsoft's published
figures and the simulator's truth.

    run_demo(data_dir)                                  # `botcensus demo`
    measure_demo(data_dir, truth_weekly, scale=...)     # the measurement half, as data
"""

from botcensus.demo.results import (
    MARKS,
    MICROSOFT_CHANGE,
    MICROSOFT_WEEKLY,
    SENSOR,
    CountryChange,
    DemoResult,
    Week,
    measure_demo,
)
from botcensus.demo.run import run_demo

__all__ = [
    "MARKS",
    "MICROSOFT_CHANGE",
    "MICROSOFT_WEEKLY",
    "SENSOR",
    "CountryChange",
    "DemoResult",
    "Week",
    "measure_demo",
    "run_demo",
]
