"""The roll's bulk decoding of raw rows (capture/columns.py) gives exactly the events, and sets
aside exactly the rows, that decoding each row on its own does."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botcensus.capture.record import RAW_WIDTH, RawDecoder
from botcensus.capture.worker import segment_header
from botcensus.config import GenericRule, ListenerSettings, RecorderSettings, SinkholeSettings
from botcensus.store import events as store_events
from botcensus.store.events import convert_rows, events_table
from botcensus.times import TIME_RANGE_US

RULES = [
    GenericRule(family="gatebot", path=r"^/gate\.php$", bot_id_query="id"),
    GenericRule(family="bodybot", path=r"^/b$", bot_id_body_regex=r"id=(\w+)"),
]
SETTINGS = SinkholeSettings(
    sensor="s1",
    listeners=[
        ListenerSettings(name="main", address="127.0.0.1:0"),
        ListenerSettings(name="alt", address="127.0.0.1:0"),
    ],
    decoders=RULES,
    recorder=RecorderSettings(body_head_bytes=8),  # shorter than most bodies below
)
HEADER = segment_header(SETTINGS, SETTINGS.listeners)
HEADS = [
    b"POST /login.php HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/4.0\r\nContent-Length: %d\r\n\r\n",
    b"POST /b HTTP/1.1\r\nHost: cnc\r\nContent-Length: %d\r\n\r\n",
    b"GET /gate.php?id=%d HTTP/1.0\r\nX-A: \xff\r\n\r\n",
    b"GET /gate.php?id=%%1b%%ff%d HTTP/1.0\r\nUser-Agent: \xe2\x80\xae\xc2\x85\t\r\n\r\n",
    b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%d",
    b"NOT HTTP %d\r\n\r\n",
]


@st.composite
def raw_rows(draw: st.DrawFn) -> tuple[Any, ...]:
    """A raw row as a worker writes it, or (now and then) one no worker writes."""
    body = draw(st.sampled_from([b"", b"id=abc", b"x" * 96, b"id=zz\r\n\r\nmore"]))
    head = draw(st.sampled_from(HEADS))
    announced = draw(st.sampled_from([len(body), len(body), len(body) + 1, 0]))
    data = (head % announced) + body
    if draw(st.integers(0, 20)) == 0:
        data = b"0\r\n\r\n" if b"chunked" in head else data[:-1]
    time_us = draw(
        st.sampled_from([1_300_000_000_000_000, 1_300_000_000_000_001, TIME_RANGE_US[1], -1])
        | st.integers(0, 2**63 - 1)
    )
    row: list[Any] = [
        time_us,
        draw(st.sampled_from([0, 0, 1])),
        draw(st.sampled_from(["192.0.2.1", "2001:db8::1"])),
        draw(st.sampled_from([1, 65535])),
        "127.0.0.1",
        80,
        draw(st.sampled_from([None, "198.51.100.9"])),
        data,
    ]
    odd = draw(st.integers(0, 30))
    if odd == 0:
        row[draw(st.integers(0, RAW_WIDTH - 1))] = draw(
            st.sampled_from([1.5, "x", None, 2**64, -1, 7, b"b"])
        )
    return tuple(row)


def _one_by_one(rows: list[tuple[Any, ...]]) -> tuple[list[dict[str, Any]], list[int]]:
    """The events and the set-aside row indices, each row decoded and converted alone."""
    decoder = RawDecoder(HEADER)
    kept: list[dict[str, Any]] = []
    bad: list[int] = []
    low, high = TIME_RANGE_US
    for i, row in enumerate(rows):
        try:
            event = decoder.event(row)
            [found] = events_table([event]).to_pylist()
        except Exception:  # what the roll sets aside, with its reason
            bad.append(i)
            continue
        if not low <= event[0] < high:
            bad.append(i)
            continue
        kept.append(found)
    return kept, bad


@settings(
    max_examples=int(os.environ.get("BOTCENSUS_RECORD_EXAMPLES", "300")),
    suppress_health_check=[HealthCheck.too_slow],
    deadline=None,
)
@given(st.lists(raw_rows(), min_size=1, max_size=40))
def test_bulk_decoding_gives_what_decoding_each_row_gives(rows):
    table, bad = convert_rows(rows, HEADER)
    kept, set_aside = _one_by_one(rows)
    assert table.to_pylist() == kept
    assert [i for i, _ in bad] == set_aside


def test_a_segment_of_check_ins_takes_the_bulk_path(monkeypatch):
    """Guards the test above: without this, a bulk path that never ran would pass it."""
    from botcensus.capture import columns

    taken: list[int] = []
    real = columns.raw_columns

    def counting(rows: Any, decoder: RawDecoder) -> Any:
        done = real(rows, decoder)
        taken.append(0 if done is None else len(done[1]))
        return done

    monkeypatch.setattr(columns, "raw_columns", counting)
    head = HEADS[0] % 96
    rows = [(1_300_000_000_000_000 + i, 0, "192.0.2.1", i, "h", 80, None, head + bytes(96))
            for i in range(50)]  # fmt: skip
    table, bad = convert_rows(rows, HEADER)
    assert (table.num_rows, bad, taken) == (50, [], [50])


def test_raw_rows_without_a_usable_header_are_each_set_aside_once():
    rows = [(1, 0, "192.0.2.1", 1, "h", 80, None, HEADS[0] % 0)] * 3
    for header in (None, {"sensor": "s1"}):
        table, bad = convert_rows(rows, header)
        assert table.num_rows == 0
        assert [i for i, _ in bad] == [0, 1, 2]
        assert all("raw request not decodable" in why for _, why in bad)


def test_the_store_knows_the_raw_row_width():
    assert store_events.RAW_WIDTH == RAW_WIDTH
