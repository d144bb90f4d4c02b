"""A CERT's inbox where one feed reports on alternate days, built from the real Shadowserver
sample reports and collected as cron would: census, estimates, clean-up and the report give
a result or a clear note, partial weeks are flagged, and no page shows a raw exception."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from botcensus.cli import main

REAL = Path(__file__).parent / "feeds" / "cases" / "intelmq"
DAYS = 21  # Monday 1 March to Sunday 21 March 2021: weeks ending Saturday cut both ends


def _report(sample: str, report_type: str, day: int, inbox: Path) -> None:
    """The sample report as if sent on 2021-03-<day>, its hosts moved to that day."""
    with (REAL / sample).open(encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        cells["timestamp"] = f"2021-03-{day:02d}" + cells["timestamp"][10:]
        a, _, c, d = cells["src_ip"].split(".")
        cells["src_ip"] = f"{a}.{day}.{c}.{d}"
        writer.writerow([cells[h] for h in header])
    (inbox / f"2021-03-{day:02d}-{report_type}-national.csv").write_text(out.getvalue())


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTTP sinkhole report daily, the plain sinkhole report on odd days only."""
    root = tmp_path_factory.mktemp("sparse")
    inbox = root / "inbox"
    inbox.mkdir()
    for day in range(1, DAYS + 1):
        _report("event4_sinkhole_http.csv", "event4_sinkhole_http", day, inbox)
        if day % 2:
            _report("event4_sinkhole.csv", "event4_sinkhole", day, inbox)
    data = root / "data"
    result = CliRunner().invoke(
        main, ["feeds", "collect", str(inbox), "--data", str(data), "--settle", "0"]
    )
    assert result.exit_code == 0, result.output
    return data


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_the_weekly_census_flags_the_weeks_cut_by_the_inbox(sparse: Path) -> None:
    code, out, err = _cli("census", "--data", str(sparse), "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    got = [(r["window_end"], r["days_covered"], r["partial"]) for r in rows]
    assert got == [
        ("2021-03-06", 6, True),
        ("2021-03-13", 7, False),
        ("2021-03-20", 7, False),
        ("2021-03-27", 1, True),  # Sunday 21 March only
    ]
    assert rows[-1]["unique_ip_change"] is None  # not a -80% "drop"
    assert rows[2]["unique_ip_change"] is not None
    assert "2 of 4 rows are partial windows" in err


def test_the_feed_on_alternate_days_is_partial_in_every_week(sparse: Path) -> None:
    code, out, err = _cli("census", "--data", str(sparse), "--by", "feed", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    alternate = [r for r in rows if r["feed"] == "Sinkhole-Events IPv4"]
    assert [r["days_covered"] for r in alternate] == ["3", "4", "3", "1"]
    assert {r["partial"] for r in alternate} == {"True"}
    assert {r["unique_ip_change"] for r in alternate} == {""}


def test_the_census_table_shows_days_covered_and_the_partial_flag(sparse: Path) -> None:
    code, out, _ = _cli("census", "--data", str(sparse), "--by", "feed")
    assert code == 0
    assert "days of 7" in out
    assert "partial" in out


def test_estimates_over_a_feed_on_alternate_days_give_rows_not_a_traceback(
    sparse: Path,
) -> None:
    code, out, err = _cli(
        "census", "--data", str(sparse), "--by", "feed", "--estimate", "--format", "json"
    )
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 8
    assert all("hosts_support" in r for r in rows)


def test_cleanup_over_a_feed_on_alternate_days_gives_a_result(sparse: Path) -> None:
    code, out, err = _cli("cleanup", "--data", str(sparse), "--format", "json")
    assert code == 0, err
    assert "reshape" not in out + err
    assert json.loads(out)["decay"]


def test_the_report_has_its_clean_up_section_and_no_raw_exception(
    sparse: Path, tmp_path: Path
) -> None:
    code, _, err = _cli("report", "--data", str(sparse), "--out", str(tmp_path / "r"))
    assert code == 0, err
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "clean-up not computed" not in page
    assert "reshape" not in page
    assert (tmp_path / "r" / "decay.png").exists()
    # two complete weeks: no rate, and the page says why
    assert "No decay rate: too few weeks (2 to fit; a rate needs three)." in page


def test_a_fault_in_the_clean_up_leaves_the_page_without_its_raw_text(
    sparse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the crash this inbox used to cause is fixed, so a stand-in raises
    numpy's message from inside the clean-up; the page must not show it."""
    import botcensus.measure.cleanup as cleanup_face

    def broken(*_: object) -> None:
        raise ValueError("cannot reshape array of size 8 into shape (2,3)")

    monkeypatch.setattr(cleanup_face, "cleanup", broken)
    code, _, err = _cli("report", "--data", str(sparse), "--out", str(tmp_path / "r"))
    assert code == 1  # cron sees the fault
    assert "cannot reshape" in err  # whoever reports it has the message
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "reshape" not in page
    assert "clean-up not computed: it failed on these data" in page
    assert "Weekly unique IP addresses" in page  # the census part is all there


def test_data_the_clean_up_cannot_use_is_named_on_the_page(sparse: Path, tmp_path: Path) -> None:
    code, _, err = _cli(
        "report", "--data", str(sparse), "--family", "nosuchbot", "--out", str(tmp_path / "r")
    )
    assert code == 0, err
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "no sightings or sketches of nosuchbot" in page
