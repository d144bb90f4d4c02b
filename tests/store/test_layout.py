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
