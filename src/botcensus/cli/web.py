"""Web commands: `serve` (the dashboard and API) and `web` (tokens, audit log, retention)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import click

from botcensus.cli._app import CONFIG_OPTION, DATA_OPTION, load_settings, main, rollup_dataset


def _dataset(data_dir: Path) -> Path:
    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    return data_dir


MAX_ROLLUP_EVERY: Final = 86_400
"""A day: longer waits than this are not a roll-up schedule (and a float one would not fit
the thread's wait)."""
PRODUCTS_EVERY: Final = 3_600.0
"""While serving, the kept products (whole-dataset host estimates and clean-up: minutes at
full scale) are built again at most this often; the roll-up tables at every turn."""


@main.command()
@DATA_OPTION
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    help="HOST:PORT to serve on ([ADDR]:PORT for IPv6). Put a TLS proxy in front for others.",
)
@click.option(
    "--no-rollup",
    is_flag=True,
    help="Start at once, without first bringing the roll-up tables and products up to date, "
    "and never roll up while serving (another process does).",
)
@click.option(
    "--rollup-every",
    type=click.IntRange(min=0, max=MAX_ROLLUP_EVERY),
    default=300,
    show_default=True,
    help="Seconds between roll-ups while serving, so the dashboard follows a live sinkhole "
    "(0: only at start). --no-rollup: none at all.",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Proxies whose X-Forwarded-For / -Proto headers are believed (uvicorn's option).",
)
@click.option(
    "--notify-rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The notify rules file: its sender is the reporter named in downloaded reports "
    "(XARF downloads need one).",
)
@CONFIG_OPTION
def serve(
    data_dir: Path,
    listen: str,
    no_rollup: bool,
    rollup_every: int,
    forwarded_allow_ips: str | None,
    notify_rules: Path | None,
    config_file: Path | None,
) -> None:
    """Serve the dashboard and JSON API over a dataset: public aggregates, network owners'
    hosts (with a token), the operator's view (docs/web.md)."""
    from botcensus.config import split_address

    _dataset(data_dir)
    settings = load_settings(config_file)
    try:
        host, port = split_address(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    reporter = None
    if notify_rules is not None:
        from botcensus.export import Party
        from botcensus.notify import RulesError, load_rules

        try:
            sender = load_rules(notify_rules).sender
        except RulesError as exc:
            raise click.BadParameter(str(exc), param_hint="--notify-rules") from None
        domain = sender.domain or str(sender.email).rsplit("@", 1)[-1]
        reporter = Party(sender.organisation, str(sender.email), domain)
    if not no_rollup:
        click.echo("botcensus: bringing the roll-up up to date (first time: minutes)...", err=True)
        rollup_dataset(data_dir, settings, aggregates=True)
    from botcensus.web.serve import run

    def refresh() -> None:
        rollup_dataset(data_dir, settings, aggregates=True, products_min_age=PRODUCTS_EVERY)

    every = 0 if no_rollup else rollup_every
    run(data_dir, settings, host, port, forwarded_allow_ips, reporter, refresh=refresh, every=every)


@main.group()
def web() -> None:
    """Access tokens, the audit log and retention of the web dashboard (docs/web.md)."""


@web.group()
def token() -> None:
    """Make, list and revoke access tokens."""


@token.command("add")
@DATA_OPTION
@click.option("--role", type=click.Choice(["owner", "operator"]), required=True)
@click.option("--label", required=True, help="Who holds it (shown in the audit log).")
@click.option(
    "--asn", "asns", multiple=True, help="An AS number in the owner's scope (repeatable)."
)
@click.option("--prefix", "prefixes", multiple=True, help="A CIDR prefix in scope (repeatable).")
@click.option("--country", "countries", multiple=True, help="A country code in scope (repeatable).")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Lifetime in days [default: web.token_days].",
)
@click.option("--no-expiry", is_flag=True, help="A token that never expires.")
@CONFIG_OPTION
def token_add(
    data_dir: Path,
    role: str,
    label: str,
    asns: tuple[str, ...],
    prefixes: tuple[str, ...],
    countries: tuple[str, ...],
    days: int | None,
    no_expiry: bool,
    config_file: Path | None,
) -> None:
    """Make a token and print it once (only its hash is kept). An owner token needs a scope:
    --asn, --prefix or --country (any mix: the owner sees their union)."""
    from botcensus.web.scope import Scope, ScopeError
    from botcensus.web.tokens import TokenError, add_token

    _dataset(data_dir)
    settings = load_settings(config_file)
    try:
        scope = Scope.of(asns, prefixes, countries)
        secret, info = add_token(
            data_dir,
            "operator" if role == "operator" else "owner",
            label,
            scope,
            days=None if no_expiry else (days or settings.web.token_days),
        )
    except (ScopeError, TokenError) as exc:
        raise click.UsageError(str(exc)) from None
    expiry = info.expires.date().isoformat() if info.expires else "never"
    click.echo(
        f"token {info.id} ({info.role}, {info.scope.describe()}, expires {expiry}):", err=True
    )
    click.echo(secret)
    click.echo(
        "Shown once: only its hash is kept. Revoke: botcensus web token revoke "
        f"--data {data_dir} {info.id}",
        err=True,
    )


@token.command("list")
@DATA_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def token_list(data_dir: Path, fmt: str) -> None:
    """List the tokens (never their secrets)."""
    from botcensus.web.tokens import list_tokens

    now = datetime.now(UTC)
    rows = [
        {
            "id": t.id,
            "role": t.role,
            "label": t.label,
            "scope": t.scope.describe(),
            "created": t.created.isoformat(),
            "expires": t.expires.isoformat() if t.expires else None,
            "state": t.state(now),
        }
        for t in list_tokens(_dataset(data_dir))
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        click.echo(
            f"{r['id']}  {r['state']:8} {r['role']:8} {r['label']}  [{r['scope']}]  "
            f"expires {r['expires'] or 'never'}"
        )


@token.command("revoke")
@DATA_OPTION
@click.argument("token_id")
def token_revoke(data_dir: Path, token_id: str) -> None:
    """Revoke a token by its id: it stops working at once."""
    from botcensus.web.tokens import TokenError, revoke_token

    try:
        info = revoke_token(_dataset(data_dir), token_id)
    except TokenError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"token {info.id} ({info.label}) revoked {info.revoked:%Y-%m-%d %H:%M} UTC")


@web.command("audit")
@DATA_OPTION
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None)
def audit_cmd(data_dir: Path, limit: int, since: datetime | None) -> None:
    """Print the audit log (who fetched which IP-level data, when), newest first, as JSON
    lines."""
    from dataclasses import asdict

    from botcensus.web.audit import entries

    when = since.replace(tzinfo=UTC) if since else None
    total, rows = entries(_dataset(data_dir), limit=limit, since=when)
    for row in rows:
        click.echo(json.dumps(asdict(row)))
    click.echo(f"{len(rows)} of {total} entries", err=True)


@web.group("retention")
def web_retention() -> None:
    """Delete old audit entries and replaced pseudonym keys."""


@web_retention.command("apply")
@DATA_OPTION
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@CONFIG_OPTION
def web_retention_apply(data_dir: Path, dry_run: bool, config_file: Path | None) -> None:
    """Delete audit entries older than web.audit_retention_days and pseudonym keys replaced
    more than web.pseudonym_key_retention_days ago (each deletion is audited)."""
    from botcensus.web.audit import apply_retention

    settings = load_settings(config_file).web
    result = apply_retention(
        _dataset(data_dir),
        audit_days=settings.audit_retention_days,
        key_days=settings.pseudonym_key_retention_days,
        dry_run=dry_run,
    )
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"web retention: {verb} {result.audit_entries} audit entries older than "
        f"{settings.audit_retention_days} days"
    )
    for key in result.keys:
        click.echo(
            f"web retention: {verb} pseudonym key {key['id']} (made {key['created']}, "
            f"replaced {key['retired']})"
        )
