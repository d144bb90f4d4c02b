"""`botcensus demo`: the whole pipeline on the 2011 Rustock takedown (botcensus.demo)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from botcensus.cli._app import main


@main.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Dataset and report directory [default: ./demo-data, replaced on each run].",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True, max=0.01),
    default=0.001,
    show_default=True,
    help="Fraction of the Rustock population to replay.",
)
@click.option("--seed", type=int, default=2011, show_default=True)
def demo(data_dir: Path | None, scale: float, seed: int) -> None:
    """Replay the 2011 Rustock takedown through a real sinkhole on loopback, count, report."""
    from botcensus.demo import run_demo

    sys.exit(run_demo(data_dir, scale=scale, seed=seed))
