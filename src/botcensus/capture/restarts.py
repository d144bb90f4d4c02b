"""When the supervisor restarts a worker that died: at once after a good run, then later and
later while it keeps dying (a full disk, a setting it cannot use), so that a crash loop costs
a process start and a log line per delay instead of five a second."""

from __future__ import annotations

from dataclasses import dataclass

RESTART_DELAY_FIRST = 0.5
"""Seconds before restarting a worker that died again soon after its restart; doubled for
each further such death. Long enough to spare the machine a spawn storm, short enough that a
passing fault (a kill, one bad moment of the disk) costs its slot well under a second."""

RESTART_DELAY_MAX = 30.0
"""The longest wait between restarts: how long a slot may stay empty after the cause of its
deaths is gone (the disk freed), at two log lines a minute while the cause lasts."""

RESTART_STABLE_AFTER = 60.0
"""A worker that ran this many seconds before it died had a good run: it is restarted at
once and its delay starts over. Longer than any delay, so a loop never resets itself."""

_MAX_DOUBLINGS = 16
"""2**16 × the first delay is far past the cap; bounds the power for a slot that has been
dying for days (a float power of 2 past 1,023 raises OverflowError)."""


@dataclass
class _Slot:
    started: float
    """Monotonic time of the latest start attempt, whether or not the process started."""
    quick_deaths: int = 0
    """Deaths in a row, each within RESTART_STABLE_AFTER of its start."""
    due: float | None = None
    """While the slot has no worker: monotonic time of the next start attempt."""


def restart_delay(quick_deaths: int) -> float:
    """Seconds to wait before a restart, given the quick deaths in a row before this one:
    0 (at once), then 0.5, 1, 2 … RESTART_DELAY_MAX."""
    if quick_deaths <= 0:
        return 0.0
    doublings = min(quick_deaths - 1, _MAX_DOUBLINGS)
    return min(RESTART_DELAY_MAX, RESTART_DELAY_FIRST * 2.0**doublings)


class RestartSchedule:
    """Per worker slot: when it started last, how often it died soon after, when to try
    again. Takes the time as an argument (time.monotonic() in the supervisor)."""

    def __init__(self, count: int, now: float) -> None:
        self._slots = [_Slot(started=now) for _ in range(count)]

    def started(self, index: int, now: float) -> None:
        """A start of worker `index` is being attempted now."""
        slot = self._slots[index]
        slot.started, slot.due = now, None

    def died(self, index: int, now: float) -> float:
        """Worker `index` died (or could not be started) at `now`: returns the seconds until
        its next start attempt, which `due` reports from then on."""
        slot = self._slots[index]
        if now - slot.started >= RESTART_STABLE_AFTER:
            slot.quick_deaths = 0
        delay = restart_delay(slot.quick_deaths)
        slot.quick_deaths += 1
        slot.due = now + delay
        return delay

    def waiting(self, index: int) -> bool:
        """Whether worker `index` is dead and waiting for its restart."""
        return self._slots[index].due is not None

    def due(self, now: float) -> list[int]:
        """The slots whose restart is due at `now`."""
        return [i for i, s in enumerate(self._slots) if s.due is not None and s.due <= now]

    @property
    def down(self) -> int:
        """How many slots wait for a restart."""
        return sum(1 for s in self._slots if s.due is not None)
