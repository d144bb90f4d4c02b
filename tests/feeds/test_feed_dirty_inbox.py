"""A national CERT's 28-day inbox, dirty as real ones are, built from the real sample reports:
overlapping days (each day's report repeats the day before), a report re-sent with a column
added, BOM + CRLF, a cut-off last line, gzip, zip archives with report types botcensus does
not read, legacy short rows, IPv6 and a drone spam row. Counts are checked against an
independent count kept while the inbox is written (a Python set of each event's identity)."""

from __future__ import annotations

import csv
import gzip
import io
import ipaddress
import zipfile
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from feed_cases import fake_enrich

from botcensus.feeds.collect import collect
from botcensus.measure import CensusQuery, census
from botcensus.store import connect, sightings_view

REAL = Path(__file__).parent / "cases" / "intelmq"
DAYS = 28
# report type, sample, address column, port column, name columns (first non-empty names it)
NAMES = ("infection", "family", "tag")
KINDS = (
    ("event4_sinkhole_http", "event4_sinkhole_http.csv", "src_ip", "src_port", NAMES),
    ("event6_sinkhole_http", "event6_sinkhole_http.csv", "src_ip", "src_port", NAMES),
    ("microsoft_sinkhole", "microsoft_sinkhole.csv", "ip", "src_port", ("type",)),
    ("botnet_drone", "botnet_drone.csv", "ip", "port", ("infection",)),
)


def _rows(sample: str) -> tuple[list[str], list[list[str]]]:
    with (REAL / sample).open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _host(address: str, day: int) -> str:
    """The sample's host moved to one of its day: v4 second octet, v6 second group."""
    if ":" in address:
        parts = str(ipaddress.ip_address(address).exploded).split(":")
        parts[1] = f"{day:04x}"
        return str(ipaddress.ip_address(":".join(parts)))
    a, _, c, d = address.split(".")
    return f"{a}.{day}.{c}.{d}"


class Inbox:
    """Writes the inbox and keeps the independent count."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.events: set[tuple[str, ...]] = set()
        self.hosts: dict[date, set[str]] = defaultdict(set)
        self.written = 0

    def day_rows(self, kind: tuple[object, ...], day: int) -> tuple[list[str], list[list[str]]]:
        _, sample, ip, _, _ = kind
        header, rows = _rows(str(sample))
        out = []
        for row in rows:
            cells = dict(zip(header, row, strict=False))
            cells["timestamp"] = f"2021-03-{day:02d}" + cells["timestamp"][10:]
            cells[str(ip)] = _host(cells[str(ip)], day)
            out.append([cells.get(h, "") for h in header][: len(row)])  # short rows stay short
        return header, out

    def count(self, kind: tuple[object, ...], header: list[str], row: list[str]) -> None:
        report_type, _, ip, port, names = kind
        cells = dict(zip(header, row + [""] * (len(header) - len(row)), strict=True))
        name = next((cells[n].lower() for n in names if cells.get(n)), "unknown")  # type: ignore[attr-defined]
        dst = cells.get("dst_ip") or cells.get("cc_ip") or ""
        dport = cells.get("dst_port") or cells.get("cc_port") or ""
        host = str(ipaddress.ip_address(cells[str(ip)]))
        self.events.add(
            (str(report_type), cells["timestamp"], host, cells[str(port)], dst, dport, name)
        )
        self.written += 1
        if name != "spam":
            self.hosts[date.fromisoformat(cells["timestamp"][:10])].add(host)

    def text(self, header: list[str], rows: list[list[str]], crlf: bool = False) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(header)
        writer.writerows(rows)
        return (("\ufeff" if crlf else "") + out.getvalue()).encode()


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Inbox:
    root = tmp_path_factory.mktemp("inbox")
    box = Inbox(root)
    for day in range(1, DAYS + 1):
        for kind in KINDS:
            report_type = str(kind[0])
            if report_type == "botnet_drone" and day % 7:
                continue  # the legacy drone report comes weekly
            header, rows = box.day_rows(kind, day)
            if day > 1:  # each day's report repeats yesterday's rows
                rows = box.day_rows(kind, day - 1)[1] + rows
            name = f"2021-03-{day:02d}-{report_type}-national.csv"
            complete = rows
            if day == 12 and report_type == "event4_sinkhole_http":
                data = box.text(header, rows)
                data = data.rstrip(b"\n")[:-40]  # cut off inside the last line
                complete = rows[:-1]
            elif day == 5:
                data = box.text(header, rows, crlf=True)
            else:
                data = box.text(header, rows)
            for row in complete:
                box.count(kind, header, row)
            if 15 <= day <= 20:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            elif day >= 21:
                archive = root / f"2021-03-{day:02d}-reports.zip"
                fresh = not archive.exists()
                with zipfile.ZipFile(archive, "a") as z:
                    z.writestr(name, data)
                    if fresh:
                        scan = f"2021-03-{day:02d}-scan_http-national.csv"
                        z.writestr(scan, '"timestamp","ip"\n')
            else:
                (root / name).write_bytes(data)
        if day == 10:  # yesterday's HTTP report re-sent with a column Shadowserver added
            header, rows = box.day_rows(KINDS[0], 9)
            wider = [[*r, "x.example"] for r in rows]
            resent = box.text([*header, "ssl_servername"], wider)
            (root / "2021-03-09-event4_sinkhole_http-national-resent.csv").write_bytes(resent)
            box.written += len(rows)
    return box


@pytest.fixture(scope="module")
def collected(inbox: Inbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The inbox collected once into a fresh dataset (the tests below read it; the last one
    collects again and asserts that changes nothing)."""
    data = tmp_path_factory.mktemp("collected") / "data"
    return data, collect(inbox.root, data, fake_enrich, settle=0)


def test_the_inbox_is_counted_as_an_independent_count_has_it(
    inbox: Inbox, collected: tuple[Path, Any]
) -> None:
    result = collected[1].ingest
    files = [f for f in result.files if not f.skipped]
    assert [f.error for f in files if f.error] == []
    assert len([f for f in result.files if f.skipped]) == 8  # the scan reports in the zips
    read = sum(f.read for f in files)
    stored = sum(f.stored for f in files)
    duplicate = sum(f.duplicate for f in files)
    quarantined = sum(f.quarantined for f in files)
    assert read == stored + duplicate + quarantined == inbox.written + 1
    assert quarantined == 1  # the cut-off line, once
    assert stored == len(inbox.events)
    assert sum(f.padded for f in files) > 0  # the legacy short rows, kept


def test_the_daily_census_equals_the_independent_count(
    inbox: Inbox, collected: tuple[Path, Any]
) -> None:
    data = collected[0]
    con = connect()
    table = census(con, CensusQuery(window="day"), sightings_view(con, data))
    got = {r["window_start"]: r["unique_ip"] for r in table.to_pylist()}
    assert got == {day: len(hosts) for day, hosts in inbox.hosts.items()}
    assert len(got) == DAYS


def test_collecting_the_inbox_again_changes_nothing(
    inbox: Inbox, collected: tuple[Path, Any]
) -> None:
    again = collect(inbox.root, collected[0], fake_enrich, settle=0)
    assert again.ingest.files == []
    assert again.already == len(list(inbox.root.iterdir()))
