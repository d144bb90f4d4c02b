"""Check-in rows (export/check_ins.py): stored events through the event renderers
`botcensus export` uses, with host-day rows of events no longer stored in the same file, in
the order of day, address and time."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest
from test_export_renderers import HOSTS, META

from botcensus.export import event_renderer, renderer
from botcensus.export.check_ins import CHECK_IN_FORMATS, CSV_KEPT, kept_columns, render_check_ins
from botcensus.export.events import unenriched
from botcensus.export.shadowserver import COLUMNS, EXTRA
from botcensus.notify.rules import CHECK_IN_FORMATS as RULE_FORMATS
from botcensus.store import events_table

T = 1_300_320_000_000_000  # 2011-03-17T00:00:00Z


@pytest.fixture
def events(make_event):
    rows = [
        make_event(time_received=T + 7_200_000_000, source_ip="192.0.2.10", source_port=2002,
                   malware_family="rustock"),
        make_event(time_received=T + 3_600_000_000, source_ip="192.0.2.10", source_port=2001,
                   malware_family="rustock"),
        make_event(time_received=T + 60_000_000, source_ip="10.0.0.9", source_port=2000,
                   malware_family="Rustock"),
    ]  # fmt: skip
    table = unenriched(events_table(rows))
    table = table.set_column(table.schema.get_field_index("source_asn"), "source_asn",
                             pa.array([64496] * 3, pa.int64()))  # fmt: skip
    return table.take([2, 1, 0])  # in time order, as stored events come


def test_the_rule_formats_are_the_renderers() -> None:
    assert sorted(RULE_FORMATS) == sorted(CHECK_IN_FORMATS)


def test_csv_rows_are_check_ins_and_host_days_in_address_and_time_order(events) -> None:
    fallback = HOSTS.filter(pa.array([False, True, False]))  # 2001:db8::7, events gone
    text = render_check_ins("shadowserver", [("sinkhole", events)], fallback, META).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [*COLUMNS["event4_sinkhole_http"], *EXTRA]
    assert [(r["src_ip"], r["timestamp"], r["src_port"], r["count"]) for r in rows] == [
        ("10.0.0.9", "2011-03-17 00:01:00", "2000", "1"),
        ("192.0.2.10", "2011-03-17 01:00:00", "2001", "1"),
        ("192.0.2.10", "2011-03-17 02:00:00", "2002", "1"),
        ("2001:db8::7", "2011-03-17 09:30:00", "", "4"),
    ]  # fmt: skip


def _exported(events: pa.Table) -> str:
    out = io.BytesIO()
    event_renderer("shadowserver").write(events, "sinkhole", out)
    return out.getvalue().decode()


def test_a_check_in_row_is_the_row_botcensus_export_writes_in_the_kept_columns(events) -> None:
    exported = list(csv.reader(io.StringIO(_exported(events))))
    text = render_check_ins("shadowserver", [("sinkhole", events)], HOSTS.slice(0, 0), META)
    mailed = list(csv.reader(io.StringIO(text.decode())))[1:]
    header = COLUMNS["event4_sinkhole_http"]
    blanked = [[c if h in CSV_KEPT else "" for h, c in zip(header, r, strict=True)]
               for r in exported]  # fmt: skip
    assert [r[: -len(EXTRA)] for r in mailed] == blanked
    assert {r[header.index("http_agent")] for r in exported} == {"curl/8"}  # there to leave out


def test_a_mixed_csv_writes_each_row_as_export_and_the_host_day_renderer_do(events) -> None:
    """Check-in rows beside a host-day row whose events are gone: numbers stay unquoted."""
    fallback = HOSTS.filter(pa.array([False, True, False]))  # 2001:db8::7, events gone
    text = render_check_ins("shadowserver", [("sinkhole", events)], fallback, META).decode()
    lines = text.splitlines()
    assert lines[-1] == renderer("shadowserver").render(fallback, META).decode().splitlines()[1]
    exported = _exported(kept_columns(events, "sinkhole")).splitlines()
    assert [line.rsplit(",", 2)[0] for line in lines[1:-1]] == exported
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == ["1", "1", "1", "4"]
    assert '"10.0.0.9",2000,64496,' in lines[1]


def test_mixed_intelmq_lines_are_export_lines_and_host_day_events_in_one_style(events) -> None:
    from botcensus.export.check_ins import _intelmq_constants
    from botcensus.export.event_formats import intelmq_lines
    from botcensus.export.intelmq import intelmq_event

    fallback = HOSTS.slice(1, 1)
    text = render_check_ins("intelmq", [("sinkhole", events)], fallback, META).decode()
    lines = text.splitlines()
    for line in lines:
        assert line == json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":"))
    checked = intelmq_lines(kept_columns(events, "sinkhole"), "sinkhole", _intelmq_constants(META))
    assert [line + "\n" for line in lines[:-1]] == checked["line"].to_pylist()
    assert json.loads(lines[-1]) == intelmq_event(fallback.to_pylist()[0], META)


def test_the_sinkhole_variant_has_its_columns(events) -> None:
    text = render_check_ins("shadowserver-sinkhole", [("sinkhole", events)], HOSTS.slice(0, 0),
                            META).decode()  # fmt: skip
    assert next(csv.reader(io.StringIO(text))) == [*COLUMNS["event4_sinkhole"], *EXTRA]


def test_intelmq_lines_carry_the_tlp_and_pass_the_harmonisation(events) -> None:
    from feeds.intelmq_oracle import harmonization_errors

    lines = render_check_ins("intelmq", [("sinkhole", events)], HOSTS.slice(1, 1), META).decode()
    assert harmonization_errors(lines) == []
    parsed = [json.loads(line) for line in lines.splitlines()]
    assert [e.get("source.port") for e in parsed] == [2000, 2001, 2002, None]
    assert {(e["tlp"], e["extra.ticket"]) for e in parsed} == {("AMBER", META.ticket)}


def test_xarf_reports_one_per_check_in_with_distinct_ids(events) -> None:
    lines = render_check_ins("xarf", [("sinkhole", events)], HOSTS.slice(0, 0), META).splitlines()
    reports = [json.loads(line) for line in lines]
    assert [r["source_port"] for r in reports] == [2000, 2001, 2002]
    assert len({r["report_id"] for r in reports}) == 3


def test_summary_has_no_check_in_rows(events) -> None:
    with pytest.raises(ValueError, match="format 'summary' has no check-in rows"):
        render_check_ins("summary", [("sinkhole", events)], HOSTS, META)
