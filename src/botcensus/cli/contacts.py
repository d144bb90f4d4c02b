"""Abuse contact commands: import RIPE and CSV sources, look addresses up (botcensus.contacts)."""

from __future__ import annotations

from pathlib import Path

import click

from botcensus.cli._app import DATA_OPTION, load_settings, main


@main.group("contacts")
def contacts_group() -> None:
    """Abuse contacts: import RIPE / CSV sources, look addresses up."""


@contacts_group.command("import")
@DATA_OPTION
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--ripe", "fmt", flag_value="ripe", help="FILES are RIPE split files (plain or gzip)."
)
@click.option("--csv", "fmt", flag_value="csv", help="FILE is a CSV contact table.")
@click.option("--source", default=None, help="Source name [default: ripe, or the CSV file's name].")
def contacts_import(
    data_dir: Path, files: tuple[Path, ...], fmt: str | None, source: str | None
) -> None:
    """Import abuse contacts as one source, replacing that source's previous import."""
    from botcensus import contacts

    if fmt is None:
        raise click.UsageError("say what FILES are: --ripe or --csv")
    if fmt == "csv" and len(files) != 1:
        raise click.UsageError("--csv takes one file")
    try:
        if fmt == "ripe":
            report = contacts.import_ripe(data_dir, list(files), source=source or "ripe")
        else:
            report = contacts.import_csv(data_dir, files[0], source=source)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.summary())


@contacts_group.command("lookup")
@DATA_OPTION
@click.argument("ips", nargs=-1, required=True)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file (for the country / ASN database).",
)
def contacts_lookup(data_dir: Path, ips: tuple[str, ...], config_file: Path | None) -> None:
    """Abuse contact of each IP: most specific prefix, else its ASN, else its country's CERT."""
    import pyarrow as pa

    from botcensus import contacts, enrich

    settings = load_settings(config_file)
    geo = enrich.load(settings.enrich.country_mmdb, settings.enrich.asn_mmdb)
    table = enrich.enrich(pa.table({"source_ip": pa.array(ips, pa.string())}), geo)
    found = contacts.enrich_contacts(table, contacts.load_contacts(data_dir))
    for line in contacts.describe(found):
        click.echo(line)
    click.echo(f"# {geo.name}", err=True)
