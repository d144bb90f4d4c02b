"""Generated reports go through the real `botcensus ingest` CLI: nothing quarantined."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from bench.popgen import override, preset
from bench.popgen.driver import ok, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("b-harsh", ["n_machines=80", "days=9", "outages=[[30.0, 6.0]]", "report.ids_share=0.5"]),
        ("a-global", ["n_machines=80", "days=8"]),
        ("b-sparse", ["n_machines=80", "days=8"]),
    ],
)
def test_reports_ingest_with_nothing_quarantined(
    name: str, settings: list[str], tmp_path: Path
) -> None:
    result, report = run(override(preset(name), settings), 7, tmp_path / "pop")
    assert ok(report), report
    stored = report["dataset"]
    assert stored["read"] == stored["stored"] == result.summary["reported_rows"] > 0
    assert stored["duplicate"] == 0
    assert not list((tmp_path / "pop" / "dataset").glob("quarantine/**/*.jsonl"))
    sightings = tmp_path / "pop" / "dataset" / "sightings"
    hits = duckdb.execute("SELECT sum(hits) FROM read_parquet(?)", [f"{sightings}/**/*.parquet"])
    assert hits.fetchall() == [(result.summary["reported_rows"],)]


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
    assert "not empty" in done.stderr
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
