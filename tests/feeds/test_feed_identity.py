"""identity_hashes: the same 16 bytes whether the source addresses come dictionary-encoded
already (shared with enrichment at ingest) or not, and the same as earlier versions stored."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.feeds.identity import identity_hashes

T0 = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z, microseconds


def _rows(**extra: list[str | None]) -> pa.Table:
    ips = ["192.0.2.1", None, "2001:db8::1", "192.0.2.1", "198.51.100.7", None]
    n = len(ips)
    columns = {
        "time_source": pa.array([T0 + i for i in range(n)], pa.timestamp("us", tz="UTC")),
        "source_ip": pa.array(ips, pa.string()),
        "source_port": pa.array([1024, 1025, None, 1024, 80, 443], pa.int32()),
        "destination_ip": pa.array(["203.0.113.9"] * n, pa.string()),
        "malware_name": pa.array(["andromeda", "necurs", None, "andromeda", "mirai", "x"]),
        "classification_type": pa.array(["infected-system"] * n),
    }
    columns |= {k: pa.array(v, pa.string()) for k, v in extra.items()}
    return pa.table(columns)


def _encoded(table: pa.Table) -> dict[str, pa.DictionaryArray]:
    return {"source_ip": pc.dictionary_encode(table["source_ip"]).combine_chunks()}


def test_a_shared_encoding_of_the_source_address_gives_the_same_hashes() -> None:
    table = _rows()
    plain = identity_hashes(table, "event4_sinkhole_http")
    assert identity_hashes(table, "event4_sinkhole_http", _encoded(table)).equals(plain)
    assert len(set(plain.to_pylist())) == 6  # rows 0 and 3 differ by time


def test_a_shared_encoding_is_not_used_where_the_referer_fills_in() -> None:
    """A referer report hashes the source address, else the referring address: the encoding
    of source_ip alone does not describe that column."""
    referer = ["203.0.113.50", "203.0.113.51", None, None, None, "203.0.113.52"]
    table = _rows(**{"extra.http_referer_ip": referer})
    plain = identity_hashes(table, "event4_sinkhole_http_referer")
    assert identity_hashes(table, "event4_sinkhole_http_referer", _encoded(table)).equals(plain)
    without = identity_hashes(table.drop_columns(["extra.http_referer_ip"]), "x")
    assert plain[1] != without[1]


def test_hashes_are_those_stored_before() -> None:
    """Stored hashes deduplicate later ingests: the function may not change."""
    table = _rows()
    hashes = identity_hashes(table, "event4_sinkhole_http", _encoded(table))
    assert hashes[0].as_py().hex() == EXPECTED_FIRST


EXPECTED_FIRST = "fa0c2d151b0cf8c0aa7ce3a4b0088601"
"""Computed with the code of commit d07cc98 (before the encoding was shared)."""
