"""botcensus: sinkhole, census and clean-up measurement for botnet takedowns."""

__version__ = "0.1.0"
