"""The public surface of botcensus.enrich, and the docs that describe it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import botcensus.enrich as enrich_pkg

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "enrichment.md"
ATTRIBUTION = ROOT / "src" / "botcensus" / "enrich" / "data" / "ATTRIBUTION.md"
PUBLIC = {
    "BuildReport",
    "GeoTable",
    "build_bundled",
    "enrich",
    "ipv4_from_int",
    "ipv4_ranges",
    "ipv4_to_int",
    "load",
    "load_bundled",
    "load_mmdb",
    "lookup",
    "read_parquet",
    "save_parquet",
}


def test_all_is_the_public_api() -> None:
    assert set(enrich_pkg.__all__) == PUBLIC
    assert all(hasattr(enrich_pkg, name) for name in PUBLIC)


def test_importing_loads_no_database() -> None:
    code = "import botcensus.enrich as e; print(e.load_bundled.cache_info().currsize)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_is_documented(name: str) -> None:
    assert f"`{name}" in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("text", ["python -m botcensus.enrich.build", "CC BY-SA 4.0", "2022-10-29"])
def test_docs_and_attribution_give_rebuild_command_licence_and_dates(text: str) -> None:
    assert text in DOC.read_text(encoding="utf-8")
    assert text in ATTRIBUTION.read_text(encoding="utf-8")


def test_attribution_names_the_bundled_data_date() -> None:
    stamp = enrich_pkg.load_bundled().name
    tor_date = stamp.split()[2]
    assert tor_date in ATTRIBUTION.read_text(encoding="utf-8")
    assert tor_date in DOC.read_text(encoding="utf-8")
