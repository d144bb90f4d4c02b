"""Report files built to break the reader: one odd byte or one monstrous line costs that line
(quarantined with its reason), never the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from feed_cases import CASES, fake_enrich, quarantined, sinkhole_row, stored_events, write_report

from botcensus.feeds import ingest
from botcensus.feeds.jsonl import MAX_JSON_DEPTH, json_depth

HERE = str(Path(__file__).parent)
EVENT = {
    "time.source": "2024-05-01T03:00:00+00:00", "feed.name": "Test-Feed",
    "feed.provider": "test", "source.ip": "79.192.1.2", "malware.name": "rustock",
    "classification.taxonomy": "malicious-code", "classification.type": "infected-system",
}  # fmt: skip


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _good(n: int) -> str:
    return json.dumps({**EVENT, "source.ip": f"79.192.1.{n}"})


NESTED = {
    "objects 1,000,000 deep": '{"extra.x":' * 1_000_000 + "1" + "}" * 1_000_000,
    "arrays 1,000,000 deep": '{"extra.x":' + "[" * 1_000_000 + "]" * 1_000_000 + "}",
    "a top-level array 1,000,000 deep": "[" * 1_000_000 + "]" * 1_000_000,
    "101 deep": '{"extra.x":' + "[" * 100 + "]" * 100 + "}",
}


@pytest.mark.parametrize("line", NESTED.values(), ids=NESTED.keys())
def test_a_deeply_nested_json_line_is_quarantined_and_the_rest_stored(
    tmp_path: Path, line: str
) -> None:
    path = _jsonl(tmp_path / "events.jsonl", [_good(1), line, _good(3)])
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert report.error is None
    assert (report.read, report.stored, report.quarantined) == (3, 2, 1)
    (entry,) = quarantined(report)
    assert entry["line"] == 2
    assert "nested deeper than" in entry["reason"]
    assert [e["source_ip"] for e in stored_events(tmp_path / "data")] == [
        "79.192.1.1",
        "79.192.1.3",
    ]


def test_nesting_within_the_limit_is_kept(tmp_path: Path) -> None:
    deep = json.dumps({**EVENT, "extra.tree": json.loads("[" * 50 + "]" * 50)})
    path = _jsonl(tmp_path / "events.jsonl", [deep])
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.stored, report.quarantined) == (1, 0)


def test_a_huge_flat_json_line_does_not_fail_the_file(tmp_path: Path) -> None:
    """Two million array elements: more than DuckDB's 512 MB allows for one batch."""
    huge = json.dumps({**EVENT, "source.ip": "79.192.1.9", "extra.x": [0] * 2_000_000})
    path = _jsonl(tmp_path / "events.jsonl", [_good(1), huge, huge, _good(3)])
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert report.error is None
    assert report.read == report.stored + report.duplicate + report.quarantined == 4
    stored = {e["source_ip"] for e in stored_events(tmp_path / "data")}
    assert {"79.192.1.1", "79.192.1.3"} <= stored


RSS_SCRIPT = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from feed_cases import fake_enrich
from botcensus.feeds import ingest
r = ingest([Path(sys.argv[1])], Path(sys.argv[2]), fake_enrich).files[0]
# VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"rss_mb": int(hwm.split()[1]) // 1024,
                  "stored": r.stored, "quarantined": r.quarantined, "error": r.error}))
"""


def test_the_nested_line_costs_bounded_memory(tmp_path: Path) -> None:
    """Measured in a process of its own (peak RSS is per process). Before: 610 MB and the
    file failed with DuckDB's out-of-memory error."""
    path = _jsonl(tmp_path / "events.jsonl", [_good(1), NESTED["objects 1,000,000 deep"]])
    done = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(path), str(tmp_path / "data"), HERE],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    result = json.loads(done.stdout.splitlines()[-1])
    assert (result["stored"], result["quarantined"], result["error"]) == (1, 1, None)
    assert result["rss_mb"] < 450


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": 2}]}', 3),
        ('{"a": "[[[[[[[["}', 1),
        ('{"a": "\\"[[[[", "b": [[]]}', 3),
        ("not json [[[", 3),
        ("", 0),
    ],
)
def test_json_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_the_depth_limit_is_generous_for_real_events() -> None:
    assert MAX_JSON_DEPTH >= 64


def test_bom_and_one_latin1_byte_in_the_first_mib_keep_every_row(tmp_path: Path) -> None:
    rows = [sinkhole_row(n) for n in range(50)]
    rows[10]["src_city"] = "MÜNCHEN"
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-x.csv", rows)
    raw = b"\xef\xbb\xbf" + path.read_bytes().replace("MÜNCHEN".encode(), b"M\xdcNCHEN")
    path.write_bytes(raw)
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert report.error is None
    assert (report.read, report.stored, report.quarantined) == (50, 50, 0)
    cities = [e.get("source_city") for e in stored_events(tmp_path / "data")]
    assert "MÜNCHEN" in cities


def test_a_latin1_header_name_is_read(tmp_path: Path) -> None:
    rows = [sinkhole_row(n) for n in range(3)]
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-x.csv", rows)
    text = path.read_bytes()
    header, rest = text.split(b"\n", 1)
    path.write_bytes(header + b',"st\xe4dt"\n' + rest.replace(b"\n", b',"x"\n'))
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert report.error is None
    assert report.stored == 3
    assert all(e["extra.städt"] == "x" for e in stored_events(tmp_path / "data"))


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_a_utf16_report_is_named_as_such(tmp_path: Path, bom: bytes) -> None:
    path = tmp_path / "2024-05-01-event4_sinkhole-x.csv"
    path.write_bytes(bom + (CASES / "2024-05-01-event4_sinkhole-sample.csv").read_bytes())
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert report.error is not None
    assert "UTF-16" in report.error


# Names the mapping statement uses for itself (its layers' aliases, the line number, the
# reject reason): a report column may carry any of them.
OWN_NAMES = {"v1": "a", "k3": "b", "p1": "c", "n2": "d", "_v1": "e", "__line": "f",
             "__reject": "g", "__raw": "h", "__blank": "i", "__missing": "j"}  # fmt: skip
KEPT_AS = {"v1": "v1", "k3": "k3", "p1": "p1", "n2": "n2", "_v1": "_v1",
           "__line": "__line_2", "__reject": "__reject_2", "__raw": "__raw_2",
           "__blank": "__blank_2", "__missing": "__missing_2"}  # fmt: skip


@pytest.mark.parametrize("reader", ["duckdb", "exact"])
def test_report_columns_named_like_the_mappings_own_columns_are_kept_as_extras(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    """A column named `__line` once crashed ingest with a traceback; `v1` could be mistaken
    for a converted value. Now every row is stored as from the same report without those
    columns, and each such column is kept under extra.<name> (`__...` names numbered)."""
    import botcensus.feeds.fused as feeds_fused

    plain = write_report(tmp_path / "2024-05-01-event4_sinkhole-plain.csv", [
        sinkhole_row(i) for i in range(6)
    ])  # fmt: skip
    lines = plain.read_text(encoding="utf-8").splitlines()
    extra = ",".join(OWN_NAMES)
    cells = ",".join(OWN_NAMES.values())
    hostile = tmp_path / "2024-05-01-event4_sinkhole-hostile.csv"
    hostile.write_text(
        "\n".join([f"{lines[0]},{extra}", *(f"{line},{cells}" for line in lines[1:])]) + "\n",
        encoding="utf-8",
    )
    if reader == "exact":  # the exact reader: what an irregular file is read by
        monkeypatch.setattr(feeds_fused, "line_feeds", lambda source: None)
    report = ingest([hostile], tmp_path / "data", fake_enrich).files[0]
    base = ingest([plain], tmp_path / "base", fake_enrich).files[0]
    assert report.error is None
    assert report.reader == reader
    assert (report.read, report.stored, report.quarantined) == (6, 6, 0)
    events = stored_events(tmp_path / "data")
    for event in events:
        assert {f"extra.{KEPT_AS[k]}": v for k, v in OWN_NAMES.items()}.items() <= event.items()
    core = [{k: v for k, v in e.items() if not k.startswith("extra.") and k not in (
        "event_hash", "source_file")} for e in events]  # fmt: skip
    assert core == [{k: v for k, v in e.items() if not k.startswith("extra.") and k not in (
        "event_hash", "source_file")} for e in stored_events(tmp_path / "base")]  # fmt: skip
    assert base.stored == 6


def test_json_keys_named_like_the_mappings_own_columns_are_kept(tmp_path: Path) -> None:
    line = json.dumps({**EVENT, "__line": "x", "__reject": "y", "extra.v1": "z"})
    path = _jsonl(tmp_path / "events.jsonl", [line, _good(3)])
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert report.error is None
    assert (report.read, report.stored, report.quarantined) == (2, 2, 0)
    first = stored_events(tmp_path / "data")[0]
    assert first["source_line"] == 1
    assert (first["extra.__line_2"], first["extra.__reject_2"], first["extra.v1"]) == (
        "x", "y", "z",
    )  # fmt: skip
