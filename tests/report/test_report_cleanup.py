"""The report's clean-up sections, on the simulated notification campaign: both charts are
embedded, the text is the result's fit, short data says why there is no rate, no address."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from PIL import Image

from botcensus.measure.cleanup import CleanupQuery, CleanupResult, Mark, cleanup
from botcensus.measure.summary import summarise
from botcensus.report import ReportFiles, write_report
from botcensus.store.sketch_build import sketch_sightings
from measure.sim_cases import notify_static

MARK = Mark(dt.date(2011, 3, 30), "notification campaign")
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@dataclass(frozen=True)
class Rendered:
    result: CleanupResult
    files: ReportFiles
    page: str
    sightings: pa.Table


def _render(sightings: pa.Table, out: Path, sketches: pa.Table | None = None) -> Rendered:
    con = duckdb.connect()
    con.register("s", sightings)
    sketches = sketch_sightings(sightings.slice(0, 0)) if sketches is None else sketches
    result = cleanup(con, "s", sketches, CleanupQuery(by="country", marks=(MARK,)))
    files = write_report(
        summarise(con, "s"), out, title="Test", cleanup=result, marks=[(MARK.day, MARK.label)]
    )
    return Rendered(result, files, files.html.read_text(encoding="utf-8"), sightings)


def _first_days(sightings: pa.Table, days: int) -> pa.Table:
    end = pa.scalar(dt.date(2011, 3, 16) + dt.timedelta(days=days), pa.date32())
    return sightings.filter(pc.less(sightings["day"], end))


def _text(page: str) -> str:
    """The page without its embedded images."""
    return DATA_URI.sub('src=""', page)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return _render(notify_static().sightings, tmp_path_factory.mktemp("report"))


def _size(png: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image.size


def test_both_charts_are_written_as_pngs(full: Rendered) -> None:
    assert full.files.decay == full.files.html.parent / "decay.png"
    assert full.files.survival == full.files.html.parent / "survival.png"
    for path in (full.files.decay, full.files.survival):
        width, height = _size(path.read_bytes())
        assert width > 0
        assert height > 0


def test_the_page_embeds_the_decay_and_survival_charts(full: Rendered) -> None:
    assert full.files.decay is not None
    assert full.files.survival is not None
    embedded = [base64.b64decode(data) for data in DATA_URI.findall(full.page)]
    assert len(embedded) == 3  # the weekly stacked chart, decay, survival
    assert full.files.decay.read_bytes() in embedded
    assert full.files.survival.read_bytes() in embedded
    assert all(min(_size(png)) > 0 for png in embedded)


def test_the_decay_sentence_is_the_results_fit(full: Rendered) -> None:
    fit = full.result.fit
    assert fit is not None
    assert (
        f"Decay rate {fit.rate_per_week:.3g} per week (95% interval {fit.lower:.3g} to "
        f"{fit.upper:.3g}) of unique_ip over {fit.weeks} complete weeks: half-life "
        f"{fit.half_life_weeks:.3g} weeks ({fit.half_life_days:.3g} days"
    ) in full.page


@pytest.mark.parametrize("group", ["US", "IN", "BR"])
def test_each_country_has_a_decay_row_with_its_rate(full: Rendered, group: str) -> None:
    row = next(r for r in full.result.decay.to_pylist() if r["group"] == group)
    rate = f"{row['rate_per_week']:.3g} [{row['rate_lower']:.3g}, {row['rate_upper']:.3g}]"
    start = f'<tr><td>{group}</td><td class="n">{row["weeks"]}</td>'
    assert re.search(f"{re.escape(start)}.*?{re.escape(rate)}", full.page)


def test_rates_before_and_after_the_mark_are_shown(full: Rendered) -> None:
    after = full.result.marks.to_pylist()[0]
    assert f"<td>2011-03-30</td><td>{MARK.label}</td>" in full.page
    assert f"{after['after_rate_per_week']:.3g} [" in full.page


def test_survival_medians_are_shown_per_group(full: Rendered) -> None:
    assert full.result.survival is not None
    for row in full.result.survival.to_pylist():
        label = "all" if row["group"] is None else row["group"]
        median = f"{row['median_days']:.3g} [{row['median_lower']:.3g}, {row['median_upper']:.3g}]"
        assert re.search(f"<tr><td>{label}</td>.*?{re.escape(median)}", full.page)


def test_the_page_names_the_unit_and_the_cleaned_rule(full: Rendered) -> None:
    assert "Counts: <code>unique_ip</code>" in full.page
    assert "docs/measurement.md" in full.page
    assert "<b>cleaned</b>" in full.page


def test_no_address_appears_on_the_page(full: Rendered) -> None:
    text = _text(full.page)  # base64 has no dots: an address could not hide in an image
    addresses = set(full.sightings["source_ip"].to_pylist())
    assert len(addresses) > 1000
    assert not [ip for ip in addresses if ip in text]


@pytest.mark.parametrize(("days", "weeks"), [(10, 0), (16, 1), (23, 2)])
def test_too_short_for_a_fit_the_page_says_why(tmp_path: Path, days: int, weeks: int) -> None:
    """Fewer than three complete weeks: no rate (two points give no interval), and the page,
    the result and the notes say why (the terminal table shows only a dash)."""
    short = _render(_first_days(notify_static().sightings, days), tmp_path)
    assert short.result.fit is None
    why = f"too few weeks ({weeks} to fit; a rate needs three)"
    assert f"No decay rate: {why}" in short.page
    assert short.result.decay_reason == why
    assert any(n.startswith(f"decay not computed: {why}") for n in short.result.notes)
    assert (short.files.decay is not None) == (weeks > 0)
    assert "not reached" in short.page  # too short for half the hosts to be cleaned


def test_shares_past_the_end_of_the_data_are_left_blank(tmp_path: Path) -> None:
    """A share needs its day plus a silence of more than the threshold inside the data (the
    horizon, survival.curves.durations): two weeks reach 7 days, not 28 or 56. (Ten days
    reached 7 until the horizon moved a day earlier: the smallest threshold there is 3,
    so a clean-up on day 6, the last before 7 days, could not be called.)"""
    short = _render(_first_days(notify_static().sightings, 14), tmp_path)
    overall = re.search(r"<tr><td>all</td>.*?</tr>", _text(short.page).split("(survival)")[-1])
    assert overall is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", overall.group(0))
    assert cells[-3].endswith("%")  # 7 days: inside the horizon
    assert cells[-2:] == ["—", "—"]  # 28 and 56 days: past it


def test_from_sketches_the_unit_is_the_estimate_and_survival_is_absent(tmp_path: Path) -> None:
    sightings = notify_static().sightings
    recent = sightings.filter(pc.greater_equal(sightings["day"], pa.scalar(dt.date(2011, 4, 20))))
    rendered = _render(recent, tmp_path, sketch_sightings(sightings))
    assert "Counts: <code>unique_ip_hll</code>" in rendered.page
    assert "No survival curves" in rendered.page
    assert rendered.files.survival is None
    assert rendered.files.decay is not None


def test_a_reason_replaces_the_section_and_old_charts_go(tmp_path: Path, full: Rendered) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "decay.png").write_bytes(b"stale")
    con = duckdb.connect()
    con.register("s", full.sightings)
    files = write_report(
        summarise(con, "s"), out, title="Test", cleanup_error="no sightings in the dataset"
    )
    page = files.html.read_text(encoding="utf-8")
    assert "Decay and survival not shown: no sightings in the dataset" in page
    assert (files.decay, files.survival) == (None, None)
    assert not (out / "decay.png").exists()
    assert len(DATA_URI.findall(page)) == 1
