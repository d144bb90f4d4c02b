"""Diagnostics that cannot flood the log: a failure that repeats per request or per second is
logged once, then summarised at most once per interval, and its recovery is logged too."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class Throttled:
    """One kind of recurring failure (a full disk, an unwritable directory)."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._what = what
        self._every = every
        self._clock = clock
        self._last: float | None = None
        self._since_last = 0
        self.failures = 0
        self.failing = False

    def failed(self, detail: str, count: int = 1) -> None:
        """Count `count` failures; log this one unless one was logged within `every` s."""
        self.failures += count
        self.failing = True
        self._since_last += count
        now = self._clock()
        if self._last is not None and now - self._last < self._every:
            return
        more = self._since_last - count
        suffix = f" ({more} more since the last message)" if more > 0 else ""
        self._log.error("%s: %s%s", self._what, detail, suffix)
        self._last, self._since_last = now, 0

    def recovered(self) -> None:
        """The operation worked again: say so once, and log the next failure at once."""
        if not self.failing:
            return
        self.failing = False
        more = self._since_last
        suffix = f" ({more} more failures since the last message)" if more else ""
        self._log.warning("%s: working again%s", self._what, suffix)
        self._last, self._since_last = None, 0
