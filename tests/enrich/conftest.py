"""Enrichment fixtures: the committed sample files, the bundled table, the MaxMind test DBs."""

from __future__ import annotations

import pytest
from enrich_cases import CASES, MAXMIND, SlowReference

from botcensus.enrich import GeoTable, build_bundled, load_bundled, load_mmdb, read_parquet


@pytest.fixture(scope="session")
def bundled() -> GeoTable:
    return load_bundled()


@pytest.fixture(scope="session")
def geolite() -> GeoTable:
    """GeoLite2 Country + ASN test databases."""
    return load_mmdb(MAXMIND / "GeoLite2-Country-Test.mmdb", MAXMIND / "GeoLite2-ASN-Test.mmdb")


@pytest.fixture(scope="session")
def small_build(tmp_path_factory: pytest.TempPathFactory) -> GeoTable:
    """build_bundled run on the committed tor and libloc excerpts."""
    out = tmp_path_factory.mktemp("build") / "geo.parquet"
    build_bundled(
        out,
        geoip=CASES / "tor" / "geoip",
        geoip6=CASES / "tor" / "geoip6",
        libloc_db=CASES / "libloc" / "dump.txt",
    )
    return read_parquet(out)


@pytest.fixture(scope="session")
def bundled_reference(bundled: GeoTable) -> SlowReference:
    return SlowReference(bundled)
