"""The report files: Shadowserver's columns and quoting, aggregation, IntelMQ events with ids."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from bench.popgen import Result
from popgen_truth import checkins, reported_csv, utc_seconds

from botcensus.feeds import load_mapping
from botcensus.feeds.mapping import report_type_from_name

ROW = re.compile(r'^"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d","tcp","[0-9a-f.:]+",\d+,\d+,"[A-Z]{2}",')


@pytest.mark.parametrize("family", ["b_pop", "a_pop", "a_daily"])
def test_files_have_the_published_columns_and_shadowservers_quoting(
    family: str, request: pytest.FixtureRequest
) -> None:
    result: Result = request.getfixturevalue(family)
    assert result.reports
    for path in result.reports:
        rtype = report_type_from_name(path.name)
        assert rtype is not None
        assert rtype.startswith(("event4_sinkhole", "event6_sinkhole"))
        lines = path.read_text().splitlines()
        columns = load_mapping().report(rtype).columns
        assert lines[0] == ",".join(f'"{c}"' for c in columns)
        for line in lines[1:50]:
            assert ROW.match(line), line
            assert line.count(",") == len(columns) - 1


def test_ipv6_rows_go_to_event6_files_only(b_pop: Result) -> None:
    v6_files = [p for p in b_pop.reports if "event6" in p.name]
    assert v6_files
    for path in b_pop.reports:
        body = path.read_text().splitlines()[1:]
        addresses = [line.split(",")[2].strip('"') for line in body]
        assert all((":" in a) == ("event6" in path.name) for a in addresses)


@pytest.mark.parametrize(("family", "width"), [("a_pop", 3600), ("a_daily", 86_400)])
def test_aggregated_reports_keep_the_first_connection_per_address_and_period(
    family: str, width: int, request: pytest.FixtureRequest
) -> None:
    result: Result = request.getfixturevalue(family)
    rows = reported_csv(result.out)
    seconds = utc_seconds(result.summary["start"], rows["timestamp"])
    keys = list(zip((seconds // width).tolist(), rows["src_ip"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys))
    ci = checkins(result.out).filter(pc.field("recorded")).to_pandas()
    ci["period"] = ci.time // width
    first = ci.groupby(["period", "ip"]).time.min()
    assert len(first) == len(keys)
    got = dict(zip(keys, seconds.tolist(), strict=True))
    assert all(got[key] == t for key, t in first.items())
    assert result.summary["recorded"] > 2 * len(keys)


def test_id_variant_carries_one_stable_id_per_machine(b_pop: Result) -> None:
    events = [json.loads(line) for p in b_pop.id_reports for line in p.read_text().splitlines()]
    assert len(events) == b_pop.summary["reported_rows"]
    ci = checkins(b_pop.out).filter(pc.field("recorded")).to_pandas()
    owner = dict(zip(zip(ci.time, ci.ip, ci.port, strict=False), ci.machine_id, strict=True))
    machines = pq.read_table(b_pop.out / "truth" / "machines.parquet").to_pandas()
    base = np.datetime64(b_pop.summary["start"], "s")
    ids_of: dict[str, set[int]] = {}
    without: set[int] = set()
    for event in events:
        t = int((np.datetime64(event["time.source"][:19], "s") - base).astype(np.int64))
        m = owner[(t, event["source.ip"], event["source.port"])]
        if "extra.bot_id" in event:
            ids_of.setdefault(event["extra.bot_id"], set()).add(m)
        else:
            without.add(m)
    assert all(len(ms) == 1 for ms in ids_of.values())
    with_id = {next(iter(ms)) for ms in ids_of.values()}
    assert not with_id & without
    expected = machines.dropna(subset=["bot_id"])
    assert with_id <= set(expected.machine_id)
    share = len(expected) / len(machines)
    assert 0.3 < share < 0.5
    for bot_id, ms in ids_of.items():
        assert machines.bot_id[next(iter(ms))] == bot_id
