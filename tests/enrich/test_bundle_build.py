"""build_bundled and its readers, on committed excerpts of the real tor-geoipdb and libloc data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from enrich_cases import CASES

from botcensus.enrich import GeoTable, build_bundled, lookup, read_parquet
from botcensus.enrich.build import main
from botcensus.enrich.libloc import DB_MAGIC, dump_lines, parse_dump, to_ranges
from botcensus.enrich.torgeoip import data_date, read_geoip, read_geoip6

GEOIP, GEOIP6 = CASES / "tor" / "geoip", CASES / "tor" / "geoip6"
DUMP = CASES / "libloc" / "dump.txt"


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("0.239.250.145", (None, None, None)),  # tor says "??", libloc has nothing
        ("1.0.0.1", ("AU", 13335, "CLOUDFLARENET")),
        ("1.0.1.1", ("CN", None, None)),
        ("1.0.4.1", ("AU", 38803, "Wirefreebroadband Pty Ltd")),
        ("1.0.7.255", ("AU", 38803, "Wirefreebroadband Pty Ltd")),
        ("1.0.8.1", (None, None, None)),  # only libloc's 1.0.0.0/8 says AU: not used
        ("8.8.8.8", ("US", 15169, "GOOGLE")),
        ("8.8.5.5", ("US", 3356, "LEVEL3")),  # 8.0.0.0/12
        ("8.8.223.1", ("US", 13781, "ENERGYNET")),
        ("8.21.143.1", ("JP", 3356, "LEVEL3")),  # tor's country, libloc's 8.0.0.0/9 ASN
        ("8.64.0.1", (None, 3356, "LEVEL3")),  # ASN where tor places no country
        ("8.128.0.1", (None, None, None)),
        ("2001:4860:4860::8888", ("US", 15169, "GOOGLE")),
        ("2001:4860:1025::1", ("US", 32381, "WIDEVINE")),
        ("2001:4868::1", ("US", None, None)),
        ("2001::1", (None, None, None)),
    ],
)
def test_built_table_answers(small_build: GeoTable, ip: str, expected: tuple[Any, ...]) -> None:
    assert tuple(lookup(small_build, pa.array([ip])).to_pylist()[0].values()) == expected


def test_build_report(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "geo.parquet"
    report = build_bundled(out, geoip=GEOIP, geoip6=GEOIP6, libloc_db=DUMP)
    assert report.out == out
    assert report.file_bytes == out.stat().st_size
    assert report.name == "bundled tor-geoipdb 2026-06-25 + libloc 2022-10-29"
    assert (report.tor_date, report.libloc_date) == ("2026-06-25", "2022-10-29")
    assert report.v4_ranges == len(read_parquet(out).v4)
    # 1.0.8.0-1.255.255.255 and 8.21.144.0-8.127.255.255: libloc says AU / US, tor nothing.
    assert report.v4_countries_ignored == (2**24 - 2048) + (8 * 2**24 + 2**23 - 135630848)
    assert "geo.parquet" in report.summary()


def test_build_is_reproducible(tmp_path: Path) -> None:
    for name in ("a", "b"):
        build_bundled(tmp_path / name, geoip=GEOIP, geoip6=GEOIP6, libloc_db=DUMP)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_tor_reader_reads_ranges_unknowns_and_date() -> None:
    v4, v6 = read_geoip(GEOIP), read_geoip6(GEOIP6)
    assert (v4.generated, v6.generated) == ("2026-06-25", "2026-06-25")
    assert v4.ranges.attrs.column("cc").to_pylist() == ["AU", "CN", "AU", "US", "JP"]
    assert v6.ranges.attrs.column("cc").to_pylist() == ["US", "US"]


def test_tor_reader_rejects_a_bad_ipv6_line(tmp_path: Path) -> None:
    bad = tmp_path / "geoip6"
    bad.write_text("# header\n2001::,2001::zz,US\n", encoding="ascii")
    with pytest.raises(ValueError, match="invalid IPv6"):
        read_geoip6(bad)


@pytest.mark.parametrize(
    ("header", "date"),
    [("# Generated: Sat, 29 Oct 2022 05:59:54 GMT", "2022-10-29"), ("# nothing here", None)],
)
def test_data_date(header: str, date: str | None) -> None:
    assert data_date(header) == date


def test_libloc_dump_parser() -> None:
    dump = parse_dump(DUMP.read_text(encoding="utf-8").splitlines(keepends=True))
    assert dump.generated == "2022-10-29"
    assert dump.networks[:2] == ["1.0.0.0/8", "1.0.0.0/24"]
    assert dump.cc[:2] == ["AU", "AU"]
    assert dump.asn[:2] == [None, 13335]
    assert dump.as_names[15169] == "GOOGLE"
    assert len(dump.networks) == 13


def test_libloc_most_specific_network_wins() -> None:
    with DUMP.open(encoding="utf-8") as lines:
        v4, v6 = to_ranges(parse_dump(lines))
    geo = GeoTable("libloc only", v4, v6)
    got = lookup(geo, pa.array(["1.0.1.1", "1.0.8.1", "8.8.6.6", "8.16.0.1"])).to_pylist()
    assert [(r["source_cc"], r["source_asn"]) for r in got] == [
        ("CN", None),
        ("AU", None),
        ("US", 35872),
        ("US", 3356),
    ]


def _fake_location(tmp_path: Path, body: str) -> Path:
    tool = tmp_path / "bin" / "location"
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\n{body}\n", encoding="ascii")
    tool.chmod(0o755)
    return tool


def test_binary_database_is_dumped_with_the_location_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "location.db"
    db.write_bytes(DB_MAGIC + b"\x01rest")
    tool = _fake_location(tmp_path, f'echo "$@" > {tmp_path}/args; cat {DUMP}')
    monkeypatch.setenv("PATH", str(tool.parent), prepend=":")
    assert list(dump_lines(db)) == DUMP.read_text(encoding="utf-8").splitlines(keepends=True)
    assert (tmp_path / "args").read_text().split() == ["--database", str(db), "dump"]


def test_failing_location_tool_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "location.db"
    db.write_bytes(DB_MAGIC)
    monkeypatch.setenv("PATH", str(_fake_location(tmp_path, "exit 3").parent), prepend=":")
    with pytest.raises(RuntimeError, match="exit status 3"):
        list(dump_lines(db))


def test_binary_database_without_the_tool_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "location.db"
    db.write_bytes(DB_MAGIC)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Debian package `location`"):
        list(dump_lines(db))


def test_main_rebuilds_to_the_given_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "geo.parquet"
    args = ["--out", str(out), "--geoip", str(GEOIP), "--geoip6", str(GEOIP6)]
    assert main([*args, "--libloc-db", str(DUMP)]) == 0
    assert read_parquet(out).name.startswith("bundled tor-geoipdb 2026-06-25")
    assert str(out) in capsys.readouterr().out


def test_module_entry_runs_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "geo.parquet"
    command = [sys.executable, "-W", "error", "-m", "botcensus.enrich.build", "--out", str(out)]
    sources = ["--geoip", str(GEOIP), "--geoip6", str(GEOIP6), "--libloc-db", str(DUMP)]
    done = subprocess.run([*command, *sources], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert out.exists()
