"""The sightings' address key (schema version 2): computed from the address text in one
place, never disagreeing with it, and version-1 files still read."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from botcensus.ipaddr import address_key
from botcensus.model import ADDRESS_KEY, SCHEMA_KEY, SIGHTING_SCHEMA
from botcensus.store.sighting_key import all_keyed, as_sightings, keyed, version_of
from botcensus.store.sightings import merge_sightings, sighting_files, write_sightings

DAY = date(2011, 3, 16)
SEEN = datetime(2011, 3, 16, 12, tzinfo=UTC)
MASK = (1 << 64) - 1


def _rows(ips: list[str]) -> pa.Table:
    rows = [
        {"day": DAY, "source_ip": ip, "bot_id": f"b{i}", "malware_family": "rustock",
         "sensor": "s", "feed_name": "f", "first_seen": SEEN, "last_seen": SEEN, "hits": 1}
        for i, ip in enumerate(ips)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SIGHTING_SCHEMA)


def _value(hi: int, lo: int) -> int:
    """The 128-bit number two signed halves stand for (two's complement, big-endian)."""
    return ((hi & MASK) << 64) | (lo & MASK)


def _expected(text: str) -> int:
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv4Address):
        return int(ipaddress.IPv6Address(f"::ffff:{address}"))
    return int(address)


# text as it may arrive -> the canonical text botcensus stores
FORMS = {
    "1.2.3.4": "1.2.3.4",
    "0.0.0.1": "0.0.0.1",  # the smallest IPv4 address that is one (0.0.0.0 is not)
    "255.255.255.255": "255.255.255.255",
    "::ffff:1.2.3.4": "1.2.3.4",  # mapped: the IPv4 address
    "::FFFF:1.2.3.4": "1.2.3.4",
    "::ffff:ffff:ffff": "255.255.255.255",
    "::ffff:0:1": "0.0.0.1",
    "2001:DB8::1": "2001:db8::1",
    "2001:db8:0:0:0:0:0:1": "2001:db8::1",
    "2001:0db8:0000::0001": "2001:db8::1",
    "2001:db8:0:1:0:0:0:1": "2001:db8:0:1::1",  # the longest run of zeros is the ::
    "::1": "::1",  # the smallest IPv6 address that is one
    "::0.0.0.2": "::2",  # IPv4-compatible (deprecated): an IPv6 address, not mapped
    "::1:0:0": "::1:0:0",  # just below the mapped range
    "::1:0:0:0": "::1:0:0:0",  # just above it
    "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "8000::": "8000::",  # the high half's sign bit
    "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::1": "fe80::1",  # zone-less link-local: an address
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_key_is_the_number_of_the_canonical_text(form: str) -> None:
    table = as_sightings(_rows([form]))
    row = table.to_pylist()[0]
    assert row["source_ip"] == FORMS[form]
    assert _value(row["source_ip_hi"], row["source_ip_lo"]) == _expected(FORMS[form])


def test_extreme_keys_are_signed_halves() -> None:
    table = as_sightings(_rows(["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "8000::", "::1"]))
    assert table["source_ip_hi"].to_pylist() == [-1, -(1 << 63), 0]
    assert table["source_ip_lo"].to_pylist() == [-1, 0, 1]


@pytest.mark.parametrize(
    "text", ["0.0.0.0", "::", "::ffff:0.0.0.0", "fe80::1%eth0", "192.0.2.0/24", "010.0.0.1",
             "1.2.3", "", "not an address", "2001:db8::g"],
)  # fmt: skip
def test_text_that_is_no_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not addresses") as caught:
        as_sightings(_rows(["1.2.3.4", text]))
    assert repr(text) in str(caught.value)


def test_without_respelling_other_spellings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"canonical text.*'2001:DB8::1'"):
        as_sightings(_rows(["2001:db8::1", "2001:DB8::1"]), respell=False)
    assert as_sightings(_rows(["2001:db8::1"]), respell=False).num_rows == 1


def test_distinct_keys_are_distinct_texts() -> None:
    """Over many spellings of a few thousand addresses, IPv4 and IPv6 near each other."""
    rng = random.Random(7)
    texts = []
    for _ in range(5000):
        kind = rng.randrange(4)
        if kind == 0:
            texts.append(f"10.{rng.randrange(3)}.{rng.randrange(3)}.{rng.randrange(1, 9)}")
        elif kind == 1:
            texts.append(f"::ffff:10.{rng.randrange(3)}.{rng.randrange(3)}.{rng.randrange(1, 9)}")
        elif kind == 2:  # IPv4-compatible and small IPv6 numbers: the same low bits
            texts.append(f"::a{rng.randrange(3)}:{rng.randrange(3)}0{rng.randrange(1, 9)}")
        else:
            texts.append(f"2001:DB8:0:{rng.randrange(3)}::{rng.randrange(1, 9):X}")
    table = as_sightings(_rows(texts))
    hi, lo = table["source_ip_hi"].to_pylist(), table["source_ip_lo"].to_pylist()
    keys = set(zip(hi, lo, strict=True))
    assert len(keys) == len(set(table["source_ip"].to_pylist())) > 100
    assert len(keys) == len({_expected(t) for t in texts})


def test_address_key_marks_what_is_no_address() -> None:
    hi, lo, valid = address_key(pa.array(["1.2.3.4", None, "x", "::1"]))
    assert valid.tolist() == [True, False, False, True]
    assert hi.tolist()[1:3] == [0, 0]
    assert lo.tolist()[1:3] == [0, 0]


def test_written_sightings_are_version_2_with_the_key(tmp_path: Path) -> None:
    write_sightings(_rows(["1.2.3.4", "2001:db8::1"]), tmp_path, "test")
    (path,) = sighting_files(tmp_path)
    schema = pq.read_schema(path)
    assert schema.metadata[SCHEMA_KEY.encode()] == b"sightings/2"
    assert version_of(schema) == 2
    assert keyed(schema)
    table = pq.read_table(path)
    assert table["source_ip_lo"].to_pylist() == [0xFFFF_0102_0304, 1]
    assert all_keyed([path])


def _as_version_1(table: pa.Table, path: Path) -> None:
    """A file as version 1 wrote it: no key columns, metadata sightings/1."""
    old = table.drop_columns(list(ADDRESS_KEY))
    pq.write_table(old.replace_schema_metadata({SCHEMA_KEY: "sightings/1"}), path)


def test_a_version_1_file_is_read_and_merged_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "v1.parquet"
    _as_version_1(as_sightings(_rows(["1.2.3.4", "2001:db8::1"])), path)
    old = pq.read_table(path)
    assert version_of(old.schema) == 1
    assert not keyed(old.schema)
    merged = merge_sightings(old, _rows(["1.2.3.4", "10.0.0.1"]))
    assert merged.schema.equals(SIGHTING_SCHEMA, check_metadata=True)
    by_ip: dict[str, Any] = {r["source_ip"]: r for r in merged.to_pylist()}
    assert set(by_ip) == {"1.2.3.4", "2001:db8::1", "10.0.0.1"}
    assert all(_value(r["source_ip_hi"], r["source_ip_lo"]) == _expected(ip)
               for ip, r in by_ip.items())  # fmt: skip


def test_all_keyed_needs_every_file(tmp_path: Path) -> None:
    v2 = tmp_path / "v2.parquet"
    v1 = tmp_path / "v1.parquet"
    table = as_sightings(_rows(["1.2.3.4"]))
    pq.write_table(table, v2)
    _as_version_1(table, v1)
    assert all_keyed([v2])
    assert not all_keyed([v2, v1])
    assert not all_keyed([])
    # key columns without the version that promises them on every row: not keyed
    pq.write_table(table.replace_schema_metadata({SCHEMA_KEY: "sightings/1"}), v1)
    assert not all_keyed([v2, v1])
    # a foreign file, and one whose footer cannot be read
    pq.write_table(table.replace_schema_metadata(None), v1)
    assert not all_keyed([v1])
    v1.write_bytes(b"PAR1 broken")
    assert not all_keyed([v2, v1])
