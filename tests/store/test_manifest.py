"""store/manifest.py: one mechanism for the roll-up products' manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from botcensus.store import layout, manifest
from botcensus.store.atomic import DatasetError


def test_a_recorded_day_is_built_from_exactly_its_files(tmp_path: Path) -> None:
    files = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for f in files:
        f.write_bytes(b"x")
    m = manifest.load(tmp_path, manifest.SKETCHES)
    assert not m.built_from("2011-03-16", files)
    m.record("2011-03-16", manifest.fingerprint(files))
    again = manifest.load(tmp_path, manifest.SKETCHES)
    assert again.built_from("2011-03-16", files)
    assert not again.built_from("2011-03-16", files[:1])
    files[1].write_bytes(b"changed")
    assert not again.built_from("2011-03-16", files)
    assert manifest.names(again.entry("2011-03-16")) == {"a.parquet", "b.parquet"}


@pytest.mark.parametrize(
    ("product", "path"),
    [
        (manifest.SIGHTINGS, layout.ROLLED),
        (manifest.SKETCHES, layout.SKETCHED),
        (manifest.AGGREGATES, layout.AGGREGATED),
    ],
)
def test_each_product_keeps_its_manifest_where_the_layout_says(
    tmp_path: Path, product: manifest.Product, path: Path
) -> None:
    manifest.load(tmp_path, product).record("2011-03-16", [])
    assert (tmp_path / path).is_file()


def test_a_damaged_sightings_manifest_stops_the_roll_up(tmp_path: Path) -> None:
    (tmp_path / layout.ROLLED).parent.mkdir()
    (tmp_path / layout.ROLLED).write_text("{not json", encoding="utf-8")
    with pytest.raises(DatasetError, match="roll-up manifest cannot be read"):
        manifest.load(tmp_path, manifest.SIGHTINGS)


def test_a_damaged_sketch_manifest_starts_again(tmp_path: Path) -> None:
    (tmp_path / layout.SKETCHED).parent.mkdir()
    (tmp_path / layout.SKETCHED).write_text("[1, 2", encoding="utf-8")
    assert manifest.load(tmp_path, manifest.SKETCHES).days == {}


def test_the_roll_up_tables_keep_their_manifest_through_the_same_mechanism(
    tmp_path: Path,
) -> None:
    from botcensus.store.aggregates import read_manifest

    windows = {"day": {"2011-03-16": [["2011-03-16/a.parquet", 1, 2]]}}
    manifest.write(tmp_path, manifest.AGGREGATES, windows)
    assert read_manifest(tmp_path) == windows
    (tmp_path / layout.AGGREGATED).write_text("[1, 2", encoding="utf-8")
    assert read_manifest(tmp_path) == {}  # damaged: every window is built again
