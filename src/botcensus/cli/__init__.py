"""The botcensus command line: one entry point, each command a thin call into a stage.

`main` is the click group; a command's module (capture, cleanup, contacts, demo, feeds,
measure, simulate) is imported when the command runs (cli/_app.py, COMMAND_MODULES)."""

from botcensus.cli._app import main

__all__ = ["main"]
