"""The sinkhole: listen on seized C&C addresses, record every request, answer with a fixed reply."""

from botcensus.capture.supervisor import DataDirBusyError, serve

__all__ = ["DataDirBusyError", "serve"]
