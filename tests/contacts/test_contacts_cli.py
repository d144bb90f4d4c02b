"""`botcensus contacts import` and `botcensus contacts lookup`, in process."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from botcensus.cli import main

CASES = Path(__file__).parent / "cases"
RIPE = [str(p) for p in sorted(CASES.glob("ripe.db.*"))]

pytestmark = pytest.mark.skipif(
    "contacts" not in main.commands, reason="the contacts commands are not wired into cli.py yet"
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_import_ripe_prints_the_summary(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["contacts", "import", "--data", str(tmp_path), "--ripe", *RIPE])
    assert result.exit_code == 0, result.output
    assert "ripe: 5 prefix, 2 asn, 0 country records from 5 files" in result.output
    assert (tmp_path / "contacts" / "ripe.parquet").exists()


def test_import_csv_names_the_source(runner: CliRunner, tmp_path: Path) -> None:
    args = ["contacts", "import", "--data", str(tmp_path), "--csv", str(CASES / "isp-contacts.csv")]
    result = runner.invoke(main, [*args, "--source", "isp"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("isp: 4 prefix, 2 asn, 1 country records")


def test_import_needs_to_be_told_the_format(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["contacts", "import", "--data", str(tmp_path), *RIPE])
    assert result.exit_code == 2
    assert "--ripe or --csv" in result.output


def test_an_import_without_records_is_an_error_without_traceback(
    runner: CliRunner, tmp_path: Path
) -> None:
    inetnum = str(CASES / "ripe.db.inetnum.gz")
    result = runner.invoke(main, ["contacts", "import", "--data", str(tmp_path), "--ripe", inetnum])
    assert result.exit_code == 1
    assert "no contact records" in result.output
    assert "Traceback" not in result.output


def test_lookup_prints_a_line_per_address(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(main, ["contacts", "import", "--data", str(tmp_path), "--ripe", *RIPE])
    ips = ["198.51.100.70", "2001:db8:1000:ab::1", "not-an-ip"]
    result = runner.invoke(main, ["contacts", "lookup", "--data", str(tmp_path), *ips])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["198.51.100.70", "prefix", "security@customer.example.org"],
        ["2001:db8:1000:ab::1", "prefix", "security@customer.example.org"],
        ["not-an-ip", "-", "-"],
    ]
