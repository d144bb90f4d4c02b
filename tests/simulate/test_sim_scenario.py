"""Scenario files: bundled ones load, overlays layer on a base, bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from botcensus.simulate import BUNDLED, load_scenario

TINY = """
name = "tiny"
start = 2011-03-16
end = 2011-03-20
[churn_classes.static]
mode = "periodic"
period_hours = [720.0, 720.0]
[churn_classes.session]
mode = "session"
[defaults]
utc_offset_hours = 1.0
online_probability = 0.5
session_hours = 3.0
fast_fraction = 0.5
fast_half_life_days = 20.0
slow_half_life_days = 300.0
churn = { static = 0.5, session = 0.5 }
[countries.DE]
hosts = 100
[countries.FR]
hosts = 50
churn = { session = 1.0 }
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenarios_load(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.targets


def test_variant_inherits_its_base() -> None:
    base, variant = load_scenario("rustock-2011"), load_scenario("rustock-2011-1m")
    assert variant.checkin == base.checkin
    assert variant.churn_classes == base.churn_classes
    assert variant.noise == base.noise
    assert set(variant.countries) == set(base.countries)
    assert sum(c.hosts for c in variant.countries.values()) == 1_000_000


def test_defaults_fill_countries_and_a_churn_mix_is_replaced_whole(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "tiny.toml", TINY))
    assert scenario.countries["DE"].session_hours == 3.0
    assert scenario.countries["DE"].churn == {"static": 0.5, "session": 0.5}
    assert scenario.countries["FR"].churn == {"session": 1.0}


def test_an_overlay_file_names_its_base_by_path(tmp_path: Path) -> None:
    write(tmp_path, "tiny.toml", TINY)
    overlay = write(
        tmp_path, "more.toml", 'base = "tiny.toml"\nname = "more"\n[countries.DE]\nhosts = 7\n'
    )
    scenario = load_scenario(overlay)
    assert scenario.name == "more"
    assert scenario.countries["DE"].hosts == 7
    assert scenario.countries["FR"].hosts == 50


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("session_hours = 3.0", "session_hours = 30.0"),
        ("churn = { session = 1.0 }", "churn = { cable = 1.0 }"),
        ("period_hours = [720.0, 720.0]", "period_hours = [12.0, 12.0]"),
        ('name = "tiny"', 'name = "tiny"\nsurprise = 1'),
        ("end = 2011-03-20", "end = 2011-03-01"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, old: str, new: str) -> None:
    assert old in TINY
    with pytest.raises(ValidationError):
        load_scenario(write(tmp_path, "bad.toml", TINY.replace(old, new)))


def test_jitter_must_stay_below_the_interval(tmp_path: Path) -> None:
    text = TINY + "[checkin]\ninterval_seconds = 60.0\njitter_seconds = 60.0\n"
    with pytest.raises(ValidationError, match="jitter"):
        load_scenario(write(tmp_path, "bad.toml", text))
