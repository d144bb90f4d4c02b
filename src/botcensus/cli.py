"""The botcensus command line: one entry point, each command a thin call into a stage."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from botcensus import config as config_mod

DATA_OPTION = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset directory (events, write-ahead log, quarantine).",
)


class UtcTime(click.ParamType[datetime, str]):
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""

    name = "TIME"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 date or date-time (e.g. 2011-03-16T00:00Z)",
                param,
                ctx,
            )
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="botcensus: %(message)s",
        stream=sys.stderr,
    )


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics at debug level.")
@click.version_option(package_name="botcensus")
def main(verbose: bool) -> None:
    """botcensus: sinkhole, census and clean-up measurement for botnet takedowns."""
    _setup_logging(verbose)


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
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
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
    help="Prometheus metrics listener.",
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
    config_file: Path | None,
    workers: int | None,
    metrics_address: str | None,
    proxy_protocol: bool,
    replay: bool,
) -> None:
    """Run the sinkhole until SIGTERM or SIGINT."""
    from botcensus.capture import serve
    from botcensus.store import clean_temporaries, roll_segment

    settings = _load(config_file)
    try:
        extra = [
            config_mod.ListenerSettings(
                name=address, address=address, proxy_protocol=proxy_protocol
            )
            for address in listen
        ]
        if metrics_address is not None:
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
    clean_temporaries(data_dir)
    code = serve(
        sink,
        data_dir,
        lambda segment: roll_segment(segment, data_dir),
        workers=workers or os.cpu_count() or 1,
        metrics_address=metrics_address,
    )
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
    """Print recorded events with IntelMQ field names."""
    from botcensus.report import intelmq_events, write_csv, write_jsonl
    from botcensus.store import iter_events

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    rows = intelmq_events(iter_events(data_dir, since=since, until=until))
    out = sys.stdout
    if fmt == "jsonl":
        write_jsonl(rows, out)
    else:
        write_csv(rows, out)


@main.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the demo's dataset here [default: a temporary directory].",
)
def demo(data_dir: Path | None) -> None:
    """Start a sinkhole on loopback, send it Rustock-like and ordinary traffic, show the record."""
    from botcensus.simulate.demo import run_demo

    sys.exit(run_demo(data_dir))


def _load(config_file: Path | None) -> config_mod.Settings:
    try:
        return config_mod.load(config_file)
    except config_mod.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
