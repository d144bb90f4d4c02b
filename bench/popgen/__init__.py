"""popgen: infected populations written independently of botcensus's estimator, as the
reports botcensus ingests, with their ground truth. See bench/popgen/README.md."""

from .check import validate
from .generate import Result, generate
from .params import Params, from_dict, load, override, to_dict
from .presets import PRESETS, preset

__all__ = [
    "PRESETS",
    "Params",
    "Result",
    "from_dict",
    "generate",
    "load",
    "override",
    "preset",
    "to_dict",
    "validate",
]
