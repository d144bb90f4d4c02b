"""Against IntelMQ itself, when it is installed in a separate virtualenv (never a botcensus
dependency): its harmonisation accepts every exported event, and its own Shadowserver parser
maps the sample reports as botcensus does.

Point BOTCENSUS_INTELMQ_PYTHON at that virtualenv's python, or create one at
/tmp/intelmq-venv (`python3 -m venv /tmp/intelmq-venv && /tmp/intelmq-venv/bin/pip install
intelmq`). Without it these tests are skipped.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest
from feed_cases import CASES, CURRENT, fake_enrich, quarantined, run_case

from botcensus.feeds import ExportQuery, export
from botcensus.feeds.dataset import feed_files
from botcensus.feeds.mapping import DEFAULT_MAPPING
from botcensus.feeds.render import feed_json

CANDIDATES = [
    os.environ.get("BOTCENSUS_INTELMQ_PYTHON", ""),
    "/tmp/intelmq-venv/bin/python",
    "/tmp/botcensus-ingest-bench/intelmq-venv/bin/python",
]
PYTHON = next((p for p in CANDIDATES if p and Path(p).exists()), None)
pytestmark = pytest.mark.skipif(PYTHON is None, reason="intelmq is not installed (see module)")

VALIDATE = r"""
import json, os, sys
import intelmq
from intelmq.lib.message import Event
conf = os.path.join(os.path.dirname(intelmq.__file__), "etc", "harmonization.conf")
harmonization = json.load(open(conf))
errors = []
for n, line in enumerate(sys.stdin):
    event = Event(harmonization=harmonization)
    for key, value in json.loads(line).items():
        try:
            event.add(key, value, sanitize=False)
        except Exception as exc:
            errors.append(f"line {n + 1}: {key}={value!r}: {type(exc).__name__}: {exc}")
print(json.dumps(errors))
"""

PARSE = r"""
import base64, json, sys
from intelmq.lib.bot import BotLibSettings
import intelmq.bots.parsers.shadowserver._config as config
from intelmq.bots.parsers.shadowserver.parser import ShadowserverParserBot
schema, samples = sys.argv[1], sys.argv[2:]
state = getattr(config, "__config")
state.schema_file = state.schema_active = schema
bot = ShadowserverParserBot("parser", settings=BotLibSettings | {"logging_level": "CRITICAL"})
found = {}
for sample in samples:
    data = open(sample, "rb").read()
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raw = data.decode("latin-1")
    name = sample.rsplit("/", 1)[-1]
    out = bot.process_message({"__type": "Report", "extra.file_name": name,
                               "raw": base64.b64encode(raw.encode()).decode()})
    found[name] = [dict(e) for e in out["output"]]
print(json.dumps(found))
"""


def _run(code: str, *args: str, stdin: str = "") -> Any:
    assert PYTHON is not None
    done = subprocess.run(
        [PYTHON, "-c", code, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_intelmq_accepts_every_exported_event(feed_data: Path) -> None:
    out = io.BytesIO()
    export(feed_data, ExportQuery(include_unclaimed=True), "intelmq", out, fake_enrich)
    assert _run(VALIDATE, stdin=out.getvalue().decode()) == []


CURRENT_CASES = [
    p
    for p in sorted(CASES.glob("20*.csv"))
    if any(f"-{t}-" in p.name for t in CURRENT) and "missing" not in p.name
]


def _schema(path: Path) -> Path:
    """IntelMQ's schema file for the current report types: our mapping file is in its format."""
    folder = Path(__file__).resolve().parents[2] / "src/botcensus/feeds/mappings"
    body = json.loads((folder / f"{DEFAULT_MAPPING}.json").read_text(encoding="utf-8"))
    schema: dict[str, Any] = {"_meta": {"date_created": body["schema_date"], "change_log": []}}
    for report_type in CURRENT:
        entry = {k: v for k, v in body["reports"][report_type].items() if k != "columns"}
        schema[report_type] = {**entry, "file_name": report_type}
    path.write_text(json.dumps(schema), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def intelmq_parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """IntelMQ's parser output for every current sample, in one run."""
    schema = _schema(tmp_path_factory.mktemp("intelmq") / "schema.json")
    return dict(_run(PARSE, str(schema), *(str(p) for p in CURRENT_CASES)))


def _ours(data: Path) -> dict[str, dict[str, Any]]:
    """Our events as IntelMQ dicts, by the report line they came from."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    relation = con.read_parquet([str(f) for f in feed_files(data)], union_by_name=True)
    select = feed_json(relation.columns)
    rows = con.sql(f"SELECT source_line, {select} FROM relation").fetchall()  # noqa: S608
    return {str(line): json.loads(text) for line, text in rows}


DIVERGENCES = ("cells where the header has", "unterminated quoted value", "not an address")
IGNORED = {"raw", "feed.documentation", "time.observation", "__type", "feed.provider"}
# Our enrichment fills these where the report has none; IntelMQ leaves them out.
FILLED = {"source.asn", "source.as_name", "source.geolocation.cc"}


@pytest.mark.parametrize("path", CURRENT_CASES, ids=lambda p: p.name)
def test_intelmqs_own_parser_maps_the_sample_as_we_do(
    path: Path, tmp_path: Path, intelmq_parsed: dict[str, list[dict[str, Any]]]
) -> None:
    theirs = intelmq_parsed[path.name]
    assert theirs
    report, _ = run_case(path, tmp_path / "data")
    rejected = {str(q["line"]): q["reason"] for q in quarantined(report)}
    ours = _ours(tmp_path / "data")
    data = path.read_bytes()
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        lines = data.decode("latin-1").splitlines()
    differences = []
    for event in theirs:
        line = base64.b64decode(event["raw"]).decode().splitlines()[-1]
        number = str(lines.index(line) + 1) if line in lines else "?"
        mine = ours.get(number)
        if mine is None:
            # IntelMQ keeps short or unterminated last rows, events without a usable source
            # address, and scoped link-local addresses (dropping the zone); botcensus
            # quarantines these rows, with the reason.
            assert number in rejected, (number, event)
            why = rejected[number]
            assert any(known in why for known in DIVERGENCES), why
            if "not an address" in why and "%" not in why:
                assert "source.ip" not in event
            continue
        for key in (set(event) | set(mine)) - IGNORED:
            if key in FILLED and key not in event:
                continue
            if str(event.get(key)) != str(mine.get(key)):
                differences.append((number, key, event.get(key), mine.get(key)))
    assert differences == []
