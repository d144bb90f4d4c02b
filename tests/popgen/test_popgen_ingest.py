"""Generated reports go through the real `botcensus ingest` CLI: nothing quarantined."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from bench.popgen import override, preset
from bench.popgen.driver import botcensus_command, ok, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "settings", "convention", "by"),
    [
        ("b-harsh", ["n_machines=80", "days=9", "outages=[[30.0, 6.0]]"], "sun", None),
        ("a-global", ["n_machines=80", "days=8"], "sat", "asn"),
        ("b-sparse", ["n_machines=80", "days=8"], "sun", "country"),
    ],
)
def test_reports_ingest_with_nothing_quarantined(
    name: str, settings: list[str], convention: str, by: str | None, tmp_path: Path
) -> None:
    """Every row stored, none quarantined; the census's unique IPs and hits per week are the
    truth's distinct recorded addresses and report rows."""
    result, report = run(override(preset(name), settings), 7, tmp_path / "pop", ids=False)
    assert ok(report), report
    stored = report["dataset"]
    assert stored["read"] == stored["stored"] == result.summary["reported_rows"] > 0
    assert stored["duplicate"] == 0
    assert not list((tmp_path / "pop" / "dataset").glob("quarantine/**/*.jsonl"))
    sightings = tmp_path / "pop" / "dataset" / "sightings"
    hits = duckdb.execute("SELECT sum(hits) FROM read_parquet(?)", [f"{sightings}/**/*.parquet"])
    assert hits.fetchall() == [(result.summary["reported_rows"],)]
    census = _census(tmp_path / "pop" / "dataset", convention, by)
    assert census == _truth(tmp_path / "pop", convention, by)


def _truth(out: Path, convention: str, by: str | None) -> dict[tuple[str, str], tuple[int, int]]:
    """Distinct recorded addresses and report rows per week (and country or ASN)."""
    weekly = pq.read_table(out / "truth" / "weekly.parquet").to_pandas()
    scope = by or "global"
    rows = weekly[
        (weekly.week_ends == convention) & (weekly.scope == scope) & (weekly.addresses > 0)
    ]
    keys = {"global": lambda r: "", "country": lambda r: r.cc, "asn": lambda r: str(int(r.asn))}
    return {(str(r.week_end), keys[scope](r)): (r.addresses, r.rows) for r in rows.itertuples()}


def _census(data: Path, convention: str, by: str | None) -> dict[tuple[str, str], tuple[int, int]]:
    """Unique IPs and hits per week (and country or ASN) from `botcensus census`."""
    extra = ["--by", by] if by else []
    done = subprocess.run(
        [botcensus_command(), "census", "--data", str(data), "--window", "week",
         "--week-ends", convention, "--format", "csv", *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {
        (row["window_end"], row[by] if by else ""): (int(row["unique_ip"]), int(row["hits"]))
        for row in csv.DictReader(io.StringIO(done.stdout))
    }


def test_id_dataset_has_one_bot_id_per_machine_with_an_id(tmp_path: Path) -> None:
    params = override(preset("b-harsh"), ["n_machines=80", "days=5", "report.ids_share=0.5"])
    _result, report = run(params, 8, tmp_path / "pop")
    assert ok(report)
    assert "dataset-ids" in report
    machines = tmp_path / "pop" / "truth" / "machines.parquet"
    checkins = tmp_path / "pop" / "truth" / "checkins.parquet"
    sightings = tmp_path / "pop" / "dataset-ids" / "sightings"
    expected = duckdb.execute(
        "SELECT count(DISTINCT m.bot_id) FROM read_parquet(?) m JOIN read_parquet(?) c "
        "USING (machine_id) WHERE c.recorded AND m.bot_id IS NOT NULL",
        [str(machines), str(checkins)],
    ).fetchall()
    got = duckdb.execute(
        "SELECT count(DISTINCT bot_id) FROM read_parquet(?)", [f"{sightings}/**/*.parquet"]
    ).fetchall()
    assert got == expected
    assert got[0][0] > 10


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.popgen", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("mine")
    done = _cli(
        "generate", "--preset", "a-global", "--set", "n_machines=10", "--out", str(tmp_path)
    )
    assert done.returncode == 2
    assert "not an empty directory" in done.stderr
    assert keep.read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_cli_names_a_bad_setting(tmp_path: Path) -> None:
    done = _cli("generate", "--set", "cleanup.rate_per_dya=1", "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert "rate_per_dya" in done.stderr
    done = _cli("show", "--set", "report.aggregate=weekly")
    assert done.returncode == 2
    assert "report.aggregate" in done.stderr


def test_cli_generate_writes_reports_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "pop"
    done = _cli("generate", "--preset", "a-cgn", "--set", "n_machines=30", "--set", "days=3",
                "--seed", "4", "--out", str(out), "--no-checkins")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(list((out / "reports").glob("*-event4_sinkhole-*.csv"))) == 3
    names = {p.name for p in (out / "truth").iterdir()}
    assert {"machines.parquet", "weekly.csv", "campaign-notified.csv", "summary.json"} <= names
    assert "checkins.parquet" not in names
