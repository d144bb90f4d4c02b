"""store/layout.py is the one list of dataset paths, and docs/architecture.md draws all of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from botcensus.store import layout

DOC = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")
TREE = DOC.split("## The dataset", 1)[1].split("```")[1]
PATHS = {
    name: value
    for name, value in vars(layout).items()
    if name.isupper() and isinstance(value, str | Path) and name not in {"PARTITION_PREFIX"}
    and not name.endswith("_PART")
}  # fmt: skip
LOCKS = {name for name in PATHS if name.endswith("_LOCK")}


@pytest.mark.parametrize("name", sorted(set(PATHS) - LOCKS))
def test_every_dataset_path_is_drawn_in_the_architecture_document(name: str) -> None:
    text = str(PATHS[name])
    assert text in TREE, f"{name} = {text!r} is not in docs/architecture.md's dataset tree"


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_lock_is_named_in_the_architecture_document(name: str) -> None:
    assert f"`{PATHS[name]}`" in DOC


def test_day_partitions_are_built_one_way() -> None:
    root = Path("/data")
    assert layout.part(root, layout.SIGHTINGS, "2011-03-16", layout.FEED_PART) == Path(
        "/data/sightings/date=2011-03-16/feeds.parquet"
    )


# -- sensors in event file names (issue 15) --------------------------------------------------
@pytest.mark.parametrize(
    ("sensor", "segment", "name"),
    [
        ("sink-a", "w00-18a-000001", "sink-a.w00-18a-000001"),
        ("sink-a.example.org", "w01-18a-000002", "sink-a.example.org.w01-18a-000002"),
        ("../../etc", "w00-1-000001", "______etc.w00-1-000001"),
        ("a/b c", "w00-1-000001", "a_b_c.w00-1-000001"),
        ("", "w00-1-000001", "_.w00-1-000001"),
    ],
)
def test_event_file_names_begin_with_a_safe_sensor_name(sensor, segment, name) -> None:
    assert layout.event_part(sensor, segment) == name
    assert "/" not in name
    assert layout.sensor_of_part(f"{name}.parquet") == name.rsplit(".", 1)[0]


def test_a_file_named_before_sensors_has_no_sensor() -> None:
    assert layout.sensor_of_part("w00-a-000001.parquet") is None


def test_the_settings_check_the_sensor_rule_of_the_model() -> None:
    from botcensus import config, model

    assert f"^{model.SENSOR_PATTERN}$" == config.SENSOR_PATTERN


@pytest.mark.parametrize("bad", ["a/b", "..", "-lead", "a..b", "x" * 65, "a b", ""])
def test_a_sensor_name_that_is_no_safe_file_name_is_refused(bad: str) -> None:
    from pydantic import ValidationError

    from botcensus.config import SinkholeSettings

    assert not layout.valid_sensor(bad)
    with pytest.raises(ValidationError):
        SinkholeSettings(sensor=bad)
