"""Integer cells are integers as IntelMQ's convert_int reads them (Python's int()): `3320.5`,
`1e3` or `n/a` is no port or ASN, nor is a number out of the field's range; each is an
invalid value like any other (the field left empty, the cell kept under extra.<column>), and
the row is stored. The report is from a CERT analyst's trial (cases/hostile/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from feed_cases import CASES, fake_enrich, sinkhole_row, stored_events, write_report
from intelmq_oracle import run

import botcensus.feeds.fused as feeds_fused
from botcensus.feeds import ingest

NUMS = CASES / "hostile" / "2025-03-05-event4_sinkhole-de-nums.csv"
# source address -> (source_port, reported_asn, destination_port, what is kept as extra.*)
EXPECTED: dict[str, tuple[int | None, int | None, int | None, dict[str, str]]] = {
    "84.137.4.1": (None, 3320, 445, {"extra.src_port": "-1"}),
    "84.137.4.2": (None, 3320, 445, {"extra.src_port": "70000"}),
    "84.137.4.3": (65535, 3320, 445, {}),
    "84.137.4.4": (0, 3320, 445, {}),
    "84.137.4.5": (None, 3320, 445, {"extra.src_port": "99999999999999999999"}),
    "84.137.4.6": (4444, None, 445, {"extra.src_asn": "-1"}),
    "84.137.4.7": (4444, None, 445, {"extra.src_asn": "4294967296"}),
    "84.137.4.8": (4444, None, 445, {"extra.src_asn": "99999999999999999999999"}),
    "84.137.4.9": (4444, None, 445, {"extra.src_asn": "AS3320"}),
    "84.137.4.10": (4444, None, 445, {"extra.src_asn": "3320.5"}),
    "84.137.4.11": (4444, 3320, None, {"extra.dst_port": "-80"}),
    "84.137.4.12": (None, 3320, 445, {"extra.src_port": "1e3"}),
    "84.137.4.13": (4444, None, 445, {}),  # AS 0: unknown, nothing set aside
}
SET_ASIDE = ("extra.src_port", "extra.src_asn", "extra.dst_port")


def _by_source(data: Path) -> dict[str, tuple[Any, ...]]:
    return {
        e["source_ip"]: (
            e.get("source_port"),
            e.get("reported_asn"),
            e.get("destination_port"),
            {k: e[k] for k in SET_ASIDE if k in e},
        )
        for e in stored_events(data)
    }


@pytest.mark.parametrize("reader", ["duckdb", "exact"])
def test_numbers_that_are_no_port_or_asn_are_set_aside_and_the_row_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    """Before: ASN `3320.5` was stored as 3321, port `1e3` as 1000, and a 20-digit port or ASN
    quarantined its row while -1 and 70000 were set aside."""
    if reader == "exact":
        monkeypatch.setattr(feeds_fused, "line_feeds", lambda path: None)
    report = ingest([NUMS], tmp_path / "data", fake_enrich).files[0]
    assert report.reader == reader
    assert (report.error, report.read, report.stored, report.quarantined) == (None, 13, 13, 0)
    assert _by_source(tmp_path / "data") == EXPECTED


CONVERT_INT = r"""
import json, sys
from intelmq.bots.parsers.shadowserver._config import convert_int
out = {}
for value in json.load(sys.stdin):
    try:
        out[value] = convert_int(value)
    except ValueError:
        out[value] = "refused"
print(json.dumps(out))
"""
PORTS = ["80", "0", "65535", " 8080", "+443", "0443", "1_000", "3320.5", "1e3", "0x50", "80.0",
         "n/a", "-", "12 34", "١٢", "99999999999999999999", "-1", "70000"]  # fmt: skip


def test_a_port_is_what_intelmqs_convert_int_reads(tmp_path: Path) -> None:
    """IntelMQ's own convert_int (the Shadowserver parser's) as the oracle: where it refuses
    the cell, botcensus sets the cell aside; where it reads a port, botcensus stores that port;
    a number out of the range of ports is set aside too. (Unicode digits, which Python's int()
    reads, are set aside: a report writes ASCII.)"""
    oracle: dict[str, int | str] = run(CONVERT_INT, json.dumps(PORTS))
    rows = [sinkhole_row(n, src_port=value) for n, value in enumerate(PORTS)]
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-ports.csv", rows)
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.stored, report.quarantined) == (len(PORTS), 0)
    found = {e["source_line"] - 2: e for e in stored_events(tmp_path / "data")}
    for n, value in enumerate(PORTS):
        event, theirs = found[n], oracle[value]
        if isinstance(theirs, int) and 0 <= theirs <= 65535 and value.isascii():
            assert (event.get("source_port"), event.get("extra.src_port")) == (theirs, None)
        else:
            assert (event.get("source_port"), event.get("extra.src_port")) == (None, value)
    assert oracle["3320.5"] == oracle["1e3"] == oracle["n/a"] == "refused"
