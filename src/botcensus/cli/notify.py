"""Notification commands: plan, send and the journal's status (botcensus.notify)."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from botcensus.cli._app import CONFIG_OPTION, DATA_OPTION, lazy_settings, main, rollup_dataset

if TYPE_CHECKING:
    from botcensus.notify import Rules


class _Refused(click.ClickException):
    """A usage error that needs no usage text: its message names the option (one line per
    problem: a rules file's say file, line and key)."""

    exit_code = 2


def _rules(_ctx: click.Context, _param: click.Parameter, value: Path) -> Rules:
    from botcensus.notify import RulesError, load_rules

    try:
        return load_rules(value)
    except RulesError as exc:
        raise _Refused(str(exc)) from None


STATES = ("planned", "rendered", "sending", "sent", "deferred", "failed")
RULES_OPTION = click.option(
    "--rules",
    "rules",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_rules,
    help="Notification rules (TOML), e.g. examples/notify-daily.toml.",
)
DATE_OPTION = click.option(
    "--date",
    "run_date",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The run's day (UTC): daily reports cover the day before it; a period not over yet "
    "is refused [default: today in UTC].",
)


def _now() -> datetime:
    return datetime.now(UTC)


def _day(value: datetime | None, rules: Rules) -> date:
    """The run day: --date, else today in UTC (not the machine's local day, which cron may
    see ahead of UTC); refused if a period it reports is not over yet."""
    from botcensus.notify.plan import unfinished

    now = _now()
    day = value.date() if value is not None else now.date()
    why = unfinished(rules, day, now)
    if why is not None:
        raise _Refused(why)
    return day


def _existing(data_dir: Path) -> None:
    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")


def _table(rows: list[dict[str, Any]], title: str) -> None:
    """Aligned plain columns (nothing cut off: addresses and tickets are for copying)."""
    if not rows:
        return
    cells = [list(rows[0])] + [
        [f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v) for v in r.values()]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    numeric = [isinstance(v, int) for v in rows[0].values()]
    click.echo(f"{title}:")
    for row in cells:
        line = "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True)
        )
        click.echo("  " + line.rstrip())


@main.group("notify")
def notify_group() -> None:
    """Tell network owners about their infected hosts: plan, send, status."""


@notify_group.command("plan")
@DATA_OPTION
@RULES_OPTION
@DATE_OPTION
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@CONFIG_OPTION
def plan_cmd(data_dir: Path, rules: Rules, run_date: datetime | None, fmt: str,
             config_file: Path | None) -> None:  # fmt: skip
    """Show who would be told what (recipients, hosts, formats, rows) and what is held back,
    and which messages the journal holds already (send does not plan those again); sends
    nothing and writes nothing."""
    from botcensus.notify import Journal, describe, journal_path, make_plan

    _existing(data_dir)
    day = _day(run_date, rules)
    rollup_dataset(data_dir, lazy_settings(config_file))
    planned = make_plan(data_dir, rules, day)
    known, waiting = {}, 0
    if journal_path(data_dir).exists():
        with Journal(data_dir, create=False) as journal:
            known = describe.planned_before(journal, planned)
            waiting = describe.waiting_elsewhere(journal, planned)
    rows = describe.plan_rows(planned, known)
    notes = describe.override_notes(planned, rules)
    if fmt == "json":
        out = {
            "run_date": planned.run_date.isoformat(),
            "messages": rows,
            "held_back": describe.held_rows(planned),
            "holdout_networks": planned.assignments.num_rows,
            "holdout_drawn_now": planned.new_assignments,
            "journal": {
                "new": sum(1 for r in rows if r["journal"] == "new"),
                "planned_before": len(known),
                "earlier_waiting": waiting,
            },
            "notes": notes,
        }
        json.dump(out, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    click.echo(describe.plan_summary(planned))
    click.echo(describe.journal_summary(planned, known, waiting))
    _table(rows, "Messages")
    if notes:
        click.echo("Recipient overrides:")
        for note in notes:
            click.echo(f"  {note}")
    _table(describe.held_rows(planned), "Held back")


@notify_group.command("send")
@DATA_OPTION
@RULES_OPTION
@DATE_OPTION
@click.option("--smtp", "smtp", default=None, metavar="HOST:PORT",
              help="Deliver to this relay instead of the rules' [smtp] host.")  # fmt: skip
@click.option("--wait", "wait_seconds", type=click.FloatRange(min=0), default=0.0,
              show_default=True,
              help="Seconds to stay and retry deferred messages before exiting.")  # fmt: skip
@CONFIG_OPTION
def send_cmd(data_dir: Path, rules: Rules, run_date: datetime | None, smtp: str | None,
             wait_seconds: float, config_file: Path | None) -> None:  # fmt: skip
    """Plan, record in the journal, write the outbox and deliver through the relay."""
    from botcensus.notify import NotifyError, SigningError, relay_address, send
    from botcensus.notify.smtp import parse_relay

    _existing(data_dir)
    try:
        override = parse_relay(smtp) if smtp else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--smtp") from None
    day = _day(run_date, rules)
    rollup_dataset(data_dir, lazy_settings(config_file))
    try:
        relay = relay_address(rules, override)
        result = send(data_dir, rules, day, relay, wait_seconds=wait_seconds)
    except (NotifyError, SigningError) as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:  # a full disk under the journal, say
        raise click.ClickException(
            f"{data_dir / 'notify'}: {exc}; the journal keeps every message recorded before "
            "this, and the next run goes on from there"
        ) from None
    from botcensus.notify import describe

    click.echo(describe.plan_summary(result.plan))
    click.echo(
        f"Journal: {result.added} new messages, {result.existing} planned before; "
        f"{result.built} built into {data_dir / 'notify' / 'outbox'}."
    )
    if result.build_error:
        click.echo(f"Error: {result.build_error}", err=True)
    done = result.delivery
    if done is None:
        click.echo("No relay ([smtp] host or --smtp): messages wait in the outbox and journal.")
        if result.build_error:
            sys.exit(1)
        return
    click.echo(
        f"Delivered {len(done.sent)}, deferred {len(done.deferred)} (retried later), "
        f"failed {len(done.failed)}"
        + (
            f"; {len(done.resent_after_interruption)} resent after an interrupted run"
            if done.resent_after_interruption
            else ""
        )
        + "."
    )
    if done.failed:
        click.echo(
            f"Failed: {', '.join(done.failed)} (botcensus notify status --ticket T)", err=True
        )
    if done.not_built:
        click.echo(
            f"Not sent, their mail file is missing or changed (built again by the next run): "
            f"{', '.join(done.not_built)}",
            err=True,
        )
    if done.stopped:
        raise click.ClickException(f"{done.stopped}; unsent messages stay in the journal")
    if done.failed or done.not_built or result.build_error:
        sys.exit(1)


@notify_group.command("status")
@DATA_OPTION
@click.option("--ticket", default=None, help="Everything about one message, with its events.")
@click.option("--ip", "address", default=None, help="Every message that reported this address.")
@click.option("--state", type=click.Choice(STATES), default=None,
              help="Only messages in this state.")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Most recent messages listed.")  # fmt: skip
def status_cmd(data_dir: Path, ticket: str | None, address: str | None, state: str | None,
               limit: int) -> None:  # fmt: skip
    """What went to whom and when, with which events, and what failed (for disputes)."""
    from botcensus.notify import Journal, describe, journal_path, messages_for

    if not journal_path(data_dir).exists():
        raise click.ClickException(
            f"{journal_path(data_dir)}: no notification journal (nothing sent yet)"
        )
    with Journal(data_dir, create=False) as journal:
        if ticket is not None:
            entry = journal.entry(ticket)
            if entry is None:
                raise click.ClickException(f"no message with ticket {ticket!r} in the journal")
            for line in describe.ticket_lines(journal, entry):
                click.echo(line)
            return
        if address is not None:
            try:
                found = messages_for(data_dir, [address])
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--ip") from None
            _table([describe.entry_row(e) for e, _ in found], f"Messages that reported {address}")
            if not found:
                click.echo(f"No message reported {address}.")
            return
        counts = journal.counts()
        click.echo(
            f"{journal.path}: {sum(counts.values())} messages: "
            + ", ".join(f"{counts[s]} {s}" for s in sorted(counts))
        )
        where, params = ("state = ?", (state,)) if state else ("1 = 1", ())
        entries = journal.entries(where, params)[-limit:]
        _table([describe.entry_row(e) for e in entries], "Messages (latest last)")
        failed = journal.entries("state = 'failed'")
        if failed and state is None:
            _table([describe.entry_row(e) for e in failed], "Failed")
