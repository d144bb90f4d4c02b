"""Presets and parameter files: complete, round-trippable, checked."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from bench.popgen import PRESETS, from_dict, generate, load, override, preset, to_dict, validate


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_validate_and_round_trip(name: str) -> None:
    params = preset(name)
    validate(params)
    assert params.family == name[0].upper()
    assert from_dict(to_dict(params)) == params


def test_each_family_has_several_presets() -> None:
    families = [preset(n).family for n in PRESETS]
    assert families.count("A") >= 3
    assert families.count("B") >= 3
    assert families.count("C") >= 2


TOML = """
name = "tiny"
family = "A"
start = "2012-01-02"
days = 3
n_machines = 20

[[countries]]
cc = "DE"
weight = 1.0
utc_offset = 1.0

[[countries.asns]]
asn = 3320
share = 1.0
policy = "periodic"
lines = { dsl = 1.0 }

[lines.dsl]
policies = { periodic = 1.0 }
household = [0.8, 0.2]
usage = { home = 1.0 }
"""


def test_a_toml_file_defines_a_population(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TOML)
    params = load(path)
    validate(params)
    result = generate(params, 1, tmp_path / "out")
    machines = pq.read_table(tmp_path / "out" / "truth" / "machines.parquet").to_pandas()
    assert len(machines) == 20
    assert set(machines.asn) == {3320}
    assert set(machines.cc) == {"DE"}
    assert set(machines.addressing) == {"periodic"}
    assert set(machines.line_type) == {"dsl"}
    assert len(result.reports) == 3


def test_a_toml_file_with_an_unknown_line_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TOML.replace("lines = { dsl = 1.0 }", "lines = { satellite = 1.0 }"))
    with pytest.raises(ValueError, match="satellite"):
        validate(load(path))


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("n_machines=0", "at least 1"),
        ("report.aggregate=weekly", "report.aggregate"),
        ('timers.kinds={"cron": 1}', "cron"),
        ("cleanup.nope=1", "nope"),
        ("days=ten", "days"),
    ],
)
def test_bad_settings_are_named(assignment: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate(override(preset("b-harsh"), [assignment]))


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    params = override(preset("b-harsh"), ["n_machines=60", "days=4"])
    first = generate(params, 21, tmp_path / "a")
    again = generate(params, 21, tmp_path / "b")
    other = generate(params, 22, tmp_path / "c")
    for x, y in zip(first.reports, again.reports, strict=True):
        assert x.read_bytes() == y.read_bytes()
    for name in ("machines", "weekly", "daily", "episodes"):
        assert pq.read_table(tmp_path / "a" / "truth" / f"{name}.parquet").equals(
            pq.read_table(tmp_path / "b" / "truth" / f"{name}.parquet")
        )
    assert [p.read_bytes() for p in first.reports] != [p.read_bytes() for p in other.reports]


def test_an_asn_without_address_space_in_its_country_is_named(tmp_path: Path) -> None:
    path = tmp_path / "private.toml"
    path.write_text(TOML.replace("asn = 3320", "asn = 64512"))
    params = load(path)
    validate(params)
    with pytest.raises(ValueError, match="AS64512 has no IPv4 address space in DE"):
        generate(params, 1, tmp_path / "out")


@pytest.mark.parametrize(
    ("text", "message"),
    [('name = "x"\nfamily = "A"\n', "missing keys"), ("name = [\n", "Invalid value")],
)
def test_a_broken_parameter_file_is_named_with_the_problem(
    text: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_start_that_is_no_date_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "date.toml"
    path.write_text(TOML.replace('start = "2012-01-02"', 'start = "2012-13-02"'))
    with pytest.raises(ValueError, match="start: '2012-13-02' is not a date"):
        validate(load(path))


def test_generate_never_writes_over_an_earlier_population(tmp_path: Path) -> None:
    params = override(preset("a-cgn"), ["n_machines=20", "days=2"])
    first = generate(params, 1, tmp_path / "pop")
    before = {p: p.read_bytes() for p in first.reports}
    with pytest.raises(FileExistsError, match="not an empty directory"):
        generate(override(params, ["days=3"]), 2, tmp_path / "pop")
    assert {p: p.read_bytes() for p in first.reports} == before
