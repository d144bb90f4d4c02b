"""The sinkhole's commands: serve, and read back what it recorded."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from botcensus import config as config_mod

if TYPE_CHECKING:
    pass


from botcensus.cli._app import (
    CONFIG_OPTION,
    DATA_OPTION,
    UtcTime,
    check_range,
    load_settings,
    main,
)


@main.group()
def sinkhole() -> None:
    """The sinkhole: listen, record, answer with a fixed reply."""


@sinkhole.command("serve")
@click.option(
    "--listen",
    "listen",
    multiple=True,
    metavar="HOST:PORT",
    help="Listen here (repeatable); IPv6 as [ADDR]:PORT. Adds to the config's listeners.",
)
@DATA_OPTION
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="This sinkhole's own directory for its write-ahead log, lock and run file "
    "[default: the --data directory]. Give each sinkhole its own (on local disk) when "
    "several write into one --data dataset.",
)
@CONFIG_OPTION
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: one per core].",
)
@click.option(
    "--metrics",
    "metrics_address",
    metavar="HOST:PORT",
    default=None,
    help="Prometheus metrics on HOST:PORT, or PORT on 127.0.0.1 (off by default).",
)
@click.option(
    "--proxy-protocol",
    is_flag=True,
    help="Expect PROXY protocol headers on the --listen listeners.",
)
@click.option(
    "--replay",
    is_flag=True,
    help="Honour simulated receive times from trusted replayers (never in production).",
)
def sinkhole_serve(
    listen: tuple[str, ...],
    data_dir: Path,
    state_dir: Path | None,
    config_file: Path | None,
    workers: int | None,
    metrics_address: str | None,
    proxy_protocol: bool,
    replay: bool,
) -> None:
    """Run the sinkhole until SIGTERM or SIGINT."""
    from botcensus.capture import DataDirBusyError, StartError, serve
    from botcensus.store import clean_temporaries, roll_segment

    settings = load_settings(config_file)
    try:
        extra = [
            config_mod.ListenerSettings(
                name=address, address=address, proxy_protocol=proxy_protocol
            )
            for address in listen
        ]
        if metrics_address is not None:
            if metrics_address.isdigit():  # a bare port stays on loopback
                metrics_address = f"127.0.0.1:{metrics_address}"
            config_mod.split_address(metrics_address)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    sink = settings.sinkhole.model_copy(
        update={
            "listeners": [*settings.sinkhole.listeners, *extra],
            "replay": settings.sinkhole.replay or replay,
        }
    )
    if not sink.listeners:
        raise click.UsageError(
            "no listeners: give --listen HOST:PORT or [[sinkhole.listeners]] in --config"
        )
    if sink.replay and not any(lst.proxy_protocol for lst in sink.listeners):
        raise click.UsageError(
            "--replay needs a listener that takes PROXY headers (replayed bots and times "
            "travel in a PROXY v2 header): add --proxy-protocol, or proxy_protocol = true "
            "on a [[sinkhole.listeners]] entry"
        )
    try:
        code = serve(
            sink,
            state_dir or data_dir,
            lambda segment: roll_segment(segment, data_dir),
            workers=workers or os.cpu_count() or 1,
            metrics_address=metrics_address,
            on_locked=lambda: clean_temporaries(data_dir, sink.sensor),
        )
    except DataDirBusyError as exc:
        hint = "" if state_dir else " (sinkholes sharing one --data need a --state each)"
        raise click.ClickException(f"{exc}{hint}") from None
    except StartError as exc:  # serve stopped what it had started: one line, no traceback
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@main.command()
@DATA_OPTION
@click.option(
    "--since", type=UtcTime(), default=None, help="Only events at or after this time (UTC)."
)
@click.option("--until", type=UtcTime(), default=None, help="Only events before this time (UTC).")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
def events(data_dir: Path, since: datetime | None, until: datetime | None, fmt: str) -> None:
    """Print recorded events with IntelMQ field names (as `export --format intelmq` writes
    them, without enrichment)."""
    from botcensus.export.events import write_recorded
    from botcensus.store import layout

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    check_range(since, until, ("--since", "--until"), inclusive=False)
    written = write_recorded(data_dir, fmt, sys.stdout.buffer, since=since, until=until)
    sys.stdout.buffer.flush()
    if not written and any((data_dir / layout.FEEDS).glob("date=*")):
        click.echo(
            "note: no sinkhole events in range; this dataset holds feed rows, which "
            "`botcensus export --format intelmq|shadowserver` writes",
            err=True,
        )
