"""The sinkhole: listen on seized C&C addresses, record every request, answer with a fixed reply."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botcensus.capture.startup import StartError
    from botcensus.capture.supervisor import DataDirBusyError, serve

__all__ = ["DataDirBusyError", "StartError", "serve"]


def __getattr__(name: str) -> object:
    """The supervisor (uvloop, prometheus, settings) loads on first use: readers of the log
    (capture.wal, via the store) do not need it."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from botcensus.capture import supervisor

    return getattr(supervisor, name)
