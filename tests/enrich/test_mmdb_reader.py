"""MaxMind DB files: known answers from the MaxMind test databases, record layouts, stamps."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import maxminddb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from enrich_cases import MAXMIND

from botcensus.enrich import GeoTable, load, load_mmdb, lookup, read_parquet, save_parquet
from botcensus.enrich.mmdb import record_fields

COUNTRY = MAXMIND / "GeoLite2-Country-Test.mmdb"
CITY = MAXMIND / "GeoLite2-City-Test.mmdb"
ASN = MAXMIND / "GeoLite2-ASN-Test.mmdb"


def answer(geo: GeoTable, ip: str) -> tuple[Any, ...]:
    return tuple(lookup(geo, pa.array([ip])).to_pylist()[0].values())


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.160", ("GB", None, None)),  # registered in US: `country` wins
        ("::ffff:81.2.69.160", ("GB", None, None)),
        ("89.160.20.112", ("SE", 29518, "Bredband2 AB")),
        ("89.160.20.255", ("SE", 29518, "Bredband2 AB")),
        ("1.128.0.0", (None, 1221, "Telstra Pty Ltd")),
        ("1.159.255.255", (None, 1221, "Telstra Pty Ltd")),
        ("1.160.0.0", (None, None, None)),
        ("2.125.160.216", ("GB", None, None)),  # registered in FR
        ("67.43.156.1", ("BT", 35908, None)),  # ASN without an organisation
        ("216.160.83.56", ("US", 209, None)),
        ("12.81.92.1", (None, 7018, "AT&T Services")),
        ("2001:218::1", ("JP", None, None)),
        ("2001:250:1::", ("CN", None, None)),
        ("2a02:d500::1", (None, None, None)),  # only a continent in the record
        ("2001:1700::1", (None, 6730, "Sunrise Communications AG")),
        ("2003::1", (None, 3320, "Deutsche Telekom AG")),
        ("2001:8000::1", (None, 1221, "Telstra Pty Ltd")),
        ("8.8.8.8", (None, None, None)),
        ("10.0.0.1", (None, None, None)),
        ("2001:db8::1", (None, None, None)),
        ("not-an-ip", (None, None, None)),
    ],
)
def test_geolite2_known_answers(geolite: GeoTable, ip: str, expected: tuple[Any, ...]) -> None:
    assert answer(geolite, ip) == expected


def _probe_addresses(path: Path) -> list[str]:
    """First, last and a middle address of every network in the file, and its neighbours."""
    found: list[str] = []
    with maxminddb.open_database(str(path)) as reader:
        for network, _ in reader:
            first, last = int(network.network_address), int(network.broadcast_address)
            top = 2**32 - 1 if network.version == 4 else 2**128 - 1
            address = type(network.network_address)
            probes = (first - 1, first, (first + last) // 2, last, last + 1)
            found.extend(str(address(v)) for v in probes if 0 <= v <= top)
    return found


@pytest.mark.parametrize("path", [COUNTRY, CITY, ASN], ids=lambda p: p.stem)
def test_every_network_answers_as_the_maxmind_reader_does(path: Path) -> None:
    geo = load_mmdb(path, None) if path != ASN else load_mmdb(None, path)
    ips = _probe_addresses(path)
    with maxminddb.open_database(str(path)) as reader:
        expected = [
            record_fields(rec) if (rec := reader.get(ip)) else (None, None, None) for ip in ips
        ]
    got = [tuple(r.values()) for r in lookup(geo, pa.array(ips)).to_pylist()]
    assert got == expected


def test_random_addresses_answer_as_the_maxmind_reader_does(geolite: GeoTable) -> None:
    rng = np.random.default_rng(7)
    ips = [str(ipaddress.IPv4Address(int(v))) for v in rng.integers(0, 2**32, 2000)]
    ips += [
        str(ipaddress.IPv6Address(int(v) << 96)) for v in rng.integers(0x20010000, 0x2C000000, 2000)
    ]
    with (
        maxminddb.open_database(str(COUNTRY)) as country,
        maxminddb.open_database(str(ASN)) as asn,
    ):
        expected = []
        for ip in ips:
            cc = record_fields(country.get(ip) or {})[0]
            number, name = record_fields(asn.get(ip) or {})[1:]
            expected.append((cc, number, name))
    assert [tuple(r.values()) for r in lookup(geolite, pa.array(ips)).to_pylist()] == expected


def test_stamp_names_each_database_and_its_build_date(geolite: GeoTable) -> None:
    assert geolite.name == "mmdb GeoLite2-Country 2026-02-04 + GeoLite2-ASN 2026-02-04"


def test_city_database_gives_country(tmp_path: Path) -> None:
    geo = load_mmdb(CITY, None)
    assert geo.name == "mmdb GeoLite2-City 2026-02-04"
    assert answer(geo, "81.2.69.160") == ("GB", None, None)


def test_load_picks_mmdb_files_when_given() -> None:
    assert load(country_mmdb=COUNTRY).name == "mmdb GeoLite2-Country 2026-02-04"


def test_a_converted_table_saves_and_loads_back(geolite: GeoTable, tmp_path: Path) -> None:
    path = tmp_path / "geolite.parquet"
    save_parquet(geolite, path)
    again = load(table=path)
    assert again.name == geolite.name
    ips = pa.array(["81.2.69.160", "89.160.20.112", "2003::1", "2001:218::1", "8.8.8.8"])
    assert lookup(again, ips).equals(lookup(geolite, ips))


def test_reading_a_parquet_file_that_is_not_a_geo_table_fails(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"x": [1]}), path)
    with pytest.raises(ValueError, match="not a botcensus geo table"):
        read_parquet(path)


def test_load_mmdb_needs_a_file() -> None:
    with pytest.raises(ValueError, match="needs a country or an ASN"):
        load_mmdb(None, None)


GEO_NAMES = {"en": "x"}


@pytest.mark.parametrize(
    ("layout", "record", "expected"),
    [
        (
            "GeoLite2-Country",
            {
                "country": {"iso_code": "GB", "names": GEO_NAMES},
                "registered_country": {"iso_code": "US"},
            },
            ("GB", None, None),
        ),
        ("registered only", {"registered_country": {"iso_code": "RO"}}, ("RO", None, None)),
        ("continent only", {"continent": {"code": "EU"}}, (None, None, None)),
        (
            "GeoLite2-ASN / DB-IP ASN",
            {"autonomous_system_number": 29518, "autonomous_system_organization": "Bredband2 AB"},
            (None, 29518, "Bredband2 AB"),
        ),
        (
            "IPinfo lite",
            {"country_code": "se", "asn": "AS29518", "as_name": "Bredband2 AB", "as_domain": "x"},
            ("SE", 29518, "Bredband2 AB"),
        ),
        (
            "IPinfo lite, no AS",
            {"country_code": "DE", "asn": "", "as_name": ""},
            ("DE", None, None),
        ),
        ("AS0 means none", {"autonomous_system_number": 0}, (None, None, None)),
        ("bad asn text", {"asn": "ASX"}, (None, None, None)),
        ("empty", {}, (None, None, None)),
    ],
)
def test_record_layouts(layout: str, record: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert record_fields(record) == expected
