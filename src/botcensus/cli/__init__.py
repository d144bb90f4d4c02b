"""The botcensus command line: one entry point, each command a thin call into a stage.

`main` is the click group; importing the command modules registers their commands on it."""

from botcensus.cli import (  # noqa: F401 (they register commands)
    capture,
    cleanup,
    contacts,
    demo,
    feeds,
    measure,
    simulate,
)
from botcensus.cli._app import main

__all__ = ["main"]
