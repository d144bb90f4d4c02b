"""The committed bundled database: well-known answers, invariants, and agreement with sources."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from botcensus.enrich import GeoTable, enrich, ipv4_from_int, ipv4_ranges, load_bundled, lookup
from botcensus.enrich.bundle import DEFAULT_GEOIP, DEFAULT_GEOIP6, DEFAULT_LIBLOC_DB
from botcensus.enrich.geotable import bundled_path
from botcensus.enrich.torgeoip import data_date

STAMP = "bundled tor-geoipdb 2026-06-25 + libloc 2022-10-29"


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("8.8.8.8", ("US", 15169, "GOOGLE")),
        ("1.1.1.1", ("AU", 13335, "CLOUDFLARENET")),
        ("9.9.9.9", ("US", 19281, "QUAD9-AS-1")),
        ("81.2.69.160", ("GB", 20712, "Andrews & Arnold Ltd")),
        (
            "193.0.14.129",
            ("NL", 25152, "Reseaux IP Europeens Network Coordination Centre (RIPE NCC)"),
        ),
        ("2001:4860:4860::8888", ("US", 15169, "GOOGLE")),
        ("2606:4700:4700::1111", ("US", 13335, "CLOUDFLARENET")),
        ("::ffff:8.8.8.8", ("US", 15169, "GOOGLE")),
        ("10.0.0.1", (None, None, None)),
        ("127.0.0.1", (None, None, None)),
        ("192.168.1.1", (None, None, None)),
        ("224.0.0.1", (None, None, None)),
        ("203.0.113.5", (None, None, None)),  # documentation network: no libloc country fallback
        ("::1", (None, None, None)),
        ("fe80::1", (None, None, None)),
        ("2001:db8::1", (None, None, None)),
    ],
)
def test_well_known_addresses(bundled: GeoTable, ip: str, expected: tuple[Any, ...]) -> None:
    assert tuple(lookup(bundled, pa.array([ip])).to_pylist()[0].values()) == expected


def test_stamp_names_both_sources_with_their_dates(bundled: GeoTable) -> None:
    assert bundled.name == STAMP


def test_load_bundled_is_read_once_per_process() -> None:
    assert load_bundled() is load_bundled()


def test_file_is_compact() -> None:
    assert bundled_path().stat().st_size < 15_000_000


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_ranges_are_sorted_disjoint_and_merged(bundled: GeoTable, family: str) -> None:
    r = getattr(bundled, family)
    assert len(r) > 100_000
    assert (r.start <= r.end).all()
    assert (r.end[:-1] < r.start[1:]).all()
    known = pc.or_(r.attrs.column("cc").is_valid(), r.attrs.column("asn").is_valid())
    assert pc.all(known).as_py()


def test_ipv4_ranges_table(bundled: GeoTable) -> None:
    table = ipv4_ranges(bundled)
    assert table.schema == pa.schema(
        [
            pa.field("start", pa.uint32(), nullable=False),
            pa.field("end", pa.uint32(), nullable=False),
            ("cc", pa.string()),
            ("asn", pa.int64()),
            ("as_name", pa.string()),
        ]
    )
    assert table.num_rows == len(bundled.v4)


def test_addresses_drawn_from_a_countrys_asns_enrich_back_to_them(bundled: GeoTable) -> None:
    """What the simulator does: place hosts in real ASNs of a country, then enrich them."""
    table = ipv4_ranges(bundled)
    de = table.filter(pc.and_(pc.equal(table["cc"], "DE"), table["asn"].is_valid()))
    rng = np.random.default_rng(3)
    pick = rng.integers(0, de.num_rows, 5000)
    start = de["start"].to_numpy()[pick].astype(np.uint64)
    size = de["end"].to_numpy()[pick].astype(np.uint64) - start + 1
    offset = (rng.random(5000) * size).astype(np.uint64)
    hosts = pa.table({"source_ip": ipv4_from_int((start + offset).astype(np.uint32))})
    out = enrich(hosts, bundled)
    assert out["source_cc"].to_pylist() == ["DE"] * 5000
    assert out["source_asn"].to_pylist() == de["asn"].take(pa.array(pick)).to_pylist()


# -- agreement with the Debian source data, where this machine has it ----------------------
def _need(what: str, present: bool) -> None:
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing; CI must install it (see docs/enrichment.md)")
    pytest.skip(f"{what} not installed here (Debian: tor-geoipdb, location, libloc-database)")


def _int(text: str) -> int:
    if text.isdigit():
        return int(text)
    return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")


def _tor_rows(path: Path) -> tuple[list[int], list[int], list[str]]:
    starts, ends, ccs = [], [], []
    for line in path.read_text(encoding="ascii").splitlines():
        if line and not line.startswith("#"):
            first, last, cc = line.split(",")
            starts.append(_int(first))
            ends.append(_int(last))
            ccs.append(cc)
    return starts, ends, ccs


@pytest.mark.parametrize("path", [DEFAULT_GEOIP, DEFAULT_GEOIP6], ids=["geoip", "geoip6"])
def test_countries_match_the_installed_tor_geoipdb(bundled: GeoTable, path: Path) -> None:
    _need(str(path), path.exists())
    if data_date(path.read_text(encoding="ascii")[:2000]) not in bundled.name:
        pytest.skip(f"{path} is newer data than the bundled file: rebuild it")
    starts, ends, ccs = _tor_rows(path)
    address = ipaddress.IPv6Address if path == DEFAULT_GEOIP6 else ipaddress.IPv4Address
    rng = np.random.default_rng(11)
    ips, expected = [], []
    for i in rng.integers(0, len(starts), 3000).tolist():
        offset = int(rng.integers(0, min(ends[i] - starts[i], 2**62) + 1))
        ips.append(str(address(starts[i] + offset)))
        expected.append(None if ccs[i] == "??" else ccs[i])
    assert lookup(bundled, pa.array(ips))["source_cc"].to_pylist() == expected


def test_asns_match_the_installed_libloc(bundled: GeoTable) -> None:
    tool = shutil.which("location")
    _need("the `location` tool and its database", tool is not None and DEFAULT_LIBLOC_DB.exists())
    assert tool is not None
    version = subprocess.run([tool, "version"], capture_output=True, text=True, check=True)
    if data_date(f"# Generated: {version.stdout.strip()}") not in bundled.name:
        pytest.skip("the installed libloc database is not the bundled one's: rebuild it")
    rng = np.random.default_rng(5)
    ips = ipv4_from_int(rng.integers(0, 2**32, 300).astype(np.uint32)).to_pylist()
    # Exit status 1 only says some address was not found; the answers are on stdout.
    out = subprocess.run([tool, "lookup", *ips], capture_output=True, text=True, check=False)
    said: dict[str, tuple[int, str] | None] = dict.fromkeys(ips)
    current = ""
    for line in out.stdout.splitlines():
        if not line.startswith(" "):
            current = line.rstrip(":")
        elif line.strip().startswith("Autonomous System"):
            number, _, name = line.partition(":")[2].strip().partition(" - ")
            said[current] = (int(number.removeprefix("AS")), name or None)
    got = lookup(bundled, pa.array(ips)).select(["source_asn", "source_as_name"]).to_pylist()
    assert [tuple(r.values()) if r["source_asn"] else None for r in got] == [said[ip] for ip in ips]
