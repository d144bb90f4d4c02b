"""Against IntelMQ itself (a test dependency): its harmonisation accepts every line that
`botcensus export --format intelmq` and `botcensus events` write, with IntelMQ's types, and
its own Shadowserver parser bot maps every sample report as botcensus does, except for the
differences listed here and in docs/feeds.md (each with its reason)."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from feed_cases import CASES, fake_enrich, quarantined
from intelmq_oracle import harmonization_errors, parse, schema_from_mappings

from botcensus.cli import main
from botcensus.export import ExportQuery, export_events
from botcensus.export.event_sql import feed_json
from botcensus.feeds import ingest, load_mapping, report_type_from_name
from botcensus.feeds.mapping import field_types
from botcensus.store.feed_events import feed_files

REAL = CASES / "intelmq"
NAMED_BY_FEED = {"Sinkhole-HTTP-Drone.csv": "sinkhole_http_drone"}
SAMPLES: list[tuple[Path, str]] = [
    (p, NAMED_BY_FEED.get(p.name, p.stem)) for p in sorted(REAL.glob("*.csv"))
] + [
    (p, str(report_type_from_name(p.name)))
    for p in sorted(CASES.glob("20*.csv"))
    if "missing-column" not in p.name  # no src_ip column: neither parser reads it
]

NAMED = (
    "botcensus names an infected-system row from family, tag or the default; "
    "IntelMQ 3.5 leaves it unnamed"
)
SPAM = (
    "drone `spam` rows are spam, as IntelMQ 2.x's parser classed them; "
    "IntelMQ 3.5 runs no such rule"
)
ASN_ZERO = "AS 0 means unknown to botcensus; IntelMQ keeps the refused value as extra.cc_asn"
NO_INTEGER = (
    "IntelMQ's parser fails a row whose integer cell is no integer; botcensus keeps the row, "
    "the cell under extra.<column>"
)
# (file, IntelMQ field or * for a whole event, kind) -> (count, why)
DIFFERENCES: dict[tuple[str, str, str], tuple[int, str]] = {
    ("botnet_drone.csv", "classification.identifier", "only ours"): (1, SPAM),
    ("botnet_drone.csv", "classification.taxonomy", "value"): (1, SPAM),
    ("botnet_drone.csv", "classification.type", "value"): (1, SPAM),
    ("botnet_drone.csv", "malware.name", "only theirs"): (1, SPAM),
    ("botnet_drone.csv", "extra.cc_asn", "only theirs"): (14, ASN_ZERO),
    ("2016-07-24-botnet_drone-legacy.csv", "extra.cc_asn", "only theirs"): (1, ASN_ZERO),
    ("event4_sinkhole.csv", "malware.name", "only ours"): (3, NAMED),
    ("event4_sinkhole_http.csv", "malware.name", "only ours"): (5, NAMED),
    ("event4_sinkhole_http_referer.csv", "malware.name", "only ours"): (5, NAMED),
    ("event6_sinkhole_http.csv", "malware.name", "only ours"): (1, NAMED),
    ("2018-04-08-sinkhole6_http-legacy.csv", "malware.name", "only ours"): (1, NAMED),
    ("2021-03-04-event4_sinkhole_http-older-columns.csv", "malware.name", "only ours"): (3, NAMED),
    ("2024-05-01-event4_microsoft_sinkhole_http-bom-latin1.csv", "*", "only ours"): (
        2,
        "IntelMQ does not read a BOM + Latin-1 file; botcensus reads it",
    ),
    ("2024-05-01-event4_sinkhole-sample.csv", "*", "only theirs"): (
        1,
        "IntelMQ keeps a row whose source is 0.0.0.0 without source.ip; botcensus quarantines it",
    ),
    ("2024-05-01-event4_sinkhole-sample.csv", "*", "only ours"): (1, NO_INTEGER),
    ("2024-05-01-event4_sinkhole_dns-sample.csv", "*", "only ours"): (1, NO_INTEGER),
    ("2024-05-01-event6_sinkhole-sample.csv", "*", "only theirs"): (
        2,
        "IntelMQ keeps rows whose source is no address (a network, a scoped fe80::1%eth0, "
        "dropping the zone); botcensus quarantines them",
    ),
    ("2024-05-01-event4_sinkhole_dns-sample.csv", "*", "only theirs"): (
        1,
        "IntelMQ reads a cut-off last line as a short row; botcensus quarantines it",
    ),
    ("2024-05-02-event4_sinkhole_http-truncated.csv", "*", "only theirs"): (
        1,
        "IntelMQ reads a cut-off last line as a short row; botcensus quarantines it",
    ),
}
IGNORED = {"raw", "feed.documentation", "time.observation", "__type", "feed.provider"}
# Ours only: the flag on short rows, and our enrichment where the report has no geo/AS.
OURS_ONLY = {"extra.missing_columns"}
FILLED = {"source.asn", "source.as_name", "source.geolocation.cc"}


@pytest.fixture(scope="module")
def intelmq_events(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """IntelMQ's parser output for every sample, in one run."""
    schema = schema_from_mappings(tmp_path_factory.mktemp("intelmq") / "schema.json")
    return parse(schema, SAMPLES)


def _ours(data: Path) -> dict[int, dict[str, Any]]:
    """Our events as IntelMQ JSON lines (what `export --format intelmq` writes), by line."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    relation = con.read_parquet([str(f) for f in feed_files(data)], union_by_name=True)
    select = feed_json(relation.columns, field_types(load_mapping()))
    rows = con.sql(f"SELECT source_line, {select} FROM relation").fetchall()  # noqa: S608
    return {int(line): json.loads(text) for line, text in rows}


def _lines(path: Path) -> list[str]:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        return data.decode("latin-1").splitlines()


def _differences(
    path: Path, report_type: str, theirs: list[dict[str, Any]], data: Path
) -> tuple[Counter[tuple[str, str, str]], list[int]]:
    report = ingest([path], data, fake_enrich, feed=report_type).files[0]
    ours = _ours(data) if report.stored else {}
    lines = _lines(path)
    found: Counter[tuple[str, str, str]] = Counter()
    missing = []
    for event in theirs:
        number = lines.index(base64.b64decode(event["raw"]).decode().splitlines()[-1]) + 1
        mine = ours.pop(number, None)
        if mine is None:
            found[(path.name, "*", "only theirs")] += 1
            missing.append(number)
            continue
        for key in (set(event) | set(mine)) - IGNORED - OURS_ONLY:
            a, b = event.get(key), mine.get(key)
            if a == b or (key in FILLED and a is None):
                continue
            kind = "only ours" if a is None else "only theirs" if b is None else "value"
            found[(path.name, key, kind)] += 1
    found.update({(path.name, "*", "only ours"): len(ours)} if ours else {})
    return found, [q["line"] for q in quarantined(report) if q["line"] in missing]


@pytest.mark.parametrize(("path", "report_type"), SAMPLES, ids=[p.name for p, _ in SAMPLES])
def test_intelmqs_own_parser_maps_every_sample_as_we_do(
    path: Path,
    report_type: str,
    tmp_path: Path,
    intelmq_events: dict[str, list[dict[str, Any]]],
) -> None:
    theirs = intelmq_events[str(path)]
    found, quarantined_lines = _differences(path, report_type, theirs, tmp_path / "data")
    expected = {k: n for k, (n, _) in DIFFERENCES.items() if k[0] == path.name}
    assert dict(found) == expected
    # every event IntelMQ makes and botcensus does not is in our quarantine, with its line
    assert len(quarantined_lines) == found.get((path.name, "*", "only theirs"), 0)


def test_the_differences_are_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "feeds.md").read_text("utf-8")
    for (file, key, _), (_, why) in DIFFERENCES.items():
        assert f"`{file}`" in docs, file
        assert why in " ".join(docs.split()), why
        assert key == "*" or f"`{key}`" in docs, key


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """Every sample report ingested into one dataset, and the events stored."""
    data = tmp_path_factory.mktemp("all") / "data"
    stored = sum(ingest([p], data, fake_enrich, feed=t).files[0].stored for p, t in SAMPLES)
    return data, stored


def test_intelmq_accepts_every_exported_line(everything: tuple[Path, int]) -> None:
    data, stored = everything
    out = io.BytesIO()
    n = export_events(data, ExportQuery(include_unclaimed=True), "intelmq", out, fake_enrich)
    assert n == stored > 300
    assert harmonization_errors(out.getvalue().decode()) == []


def test_exported_integers_are_integers(everything: tuple[Path, int]) -> None:
    out = io.BytesIO()
    export_events(everything[0], ExportQuery(include_unclaimed=True), "intelmq", out, fake_enrich)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    typed = field_types(load_mapping())
    ints = [(k, v) for e in events for k, v in e.items() if typed.get(k) == "int"]
    assert len(ints) > 100
    # but a cell that is no integer, kept as the text it was (the DNS sample's count `many`)
    assert [p for p in ints if not isinstance(p[1], int)] == [("extra.count", "many")]
    naics = [e["extra.destination.naics"] for e in events if "extra.destination.naics" in e]
    assert 518210 in naics


def test_intelmq_accepts_every_events_line(sinkhole_data: Path) -> None:
    done = CliRunner().invoke(main, ["events", "--data", str(sinkhole_data)])
    assert done.exit_code == 0, done.output
    lines = done.stdout
    assert len(lines.splitlines()) == 4
    assert harmonization_errors(lines) == []
    first = json.loads(lines.splitlines()[0])
    assert isinstance(first["source.port"], int)
    assert isinstance(first["extra.http_status"], int)


def _google_cloud(table: Any) -> Any:
    """Our enrichment says AS396982 (GOOGLE-PRIVATE-CLOUD) for every address."""
    import pyarrow as pa

    n = table.num_rows
    for name, values in (
        ("source_cc", pa.array(["BE"] * n)),
        ("source_asn", pa.array([396982] * n, pa.int64())),
        ("source_as_name", pa.array(["GOOGLE-PRIVATE-CLOUD"] * n)),
        ("geo_db", pa.array(["test"] * n)),
    ):
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, values) if at >= 0 else table.append_column(name, values)
    return table


def test_an_as_name_leaves_only_with_the_number_it_belongs_to(tmp_path: Path) -> None:
    """The real report says AS15169 and names no AS; our database says AS396982."""
    data = tmp_path / "data"
    ingest([REAL / "event4_sinkhole.csv"], data, _google_cloud)
    out = io.BytesIO()
    export_events(data, ExportQuery(include_unclaimed=True), "intelmq", out, _google_cloud)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    google = [e for e in events if e["source.asn"] == 15169]
    assert len(google) == 2
    assert all("source.as_name" not in e for e in google)
