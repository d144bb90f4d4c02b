"""What the sinkhole operator sends: Shadowserver daily CSV reports, and IntelMQ events with ids."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.feeds import load_mapping

from .networks import DAY
from .params import Params

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
HTTP_AGENT = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)"
HTTP_HOST = "update.popgen-sinkhole.example"


def recorded_mask(params: Params, time: I64) -> B:
    """False for connections that arrive while the sensor is down."""
    ok = np.ones(len(time), dtype=bool)
    for start_h, hours in params.outages:
        lo, hi = start_h * 3600.0, (start_h + hours) * 3600.0
        ok &= ~((time >= lo) & (time < hi))
    return ok


def aggregate(params: Params, time: I64, addr: I64, bot: I64) -> I64:
    """Indices of the rows reported: all, or the first connection per (address, bot id or
    none) and UTC hour / day, as a de-duplicating report would send. `time` is sorted;
    `addr` numbers the distinct addresses from 0, `bot` is -1 for no id."""
    if params.report.aggregate == "checkin":
        return np.arange(len(time))
    width = 3600 if params.report.aggregate == "hour" else int(DAY)
    n_addr = int(addr.max(initial=0)) + 1
    n_bot = int(bot.max(initial=0)) + 2
    key = ((time // width) * n_addr + addr) * n_bot + (bot + 1)
    _, first = np.unique(key, return_index=True)  # first occurrence = earliest connection
    return np.sort(first)


@dataclass(frozen=True)
class Rows:
    """Reported rows, sorted by time: what goes into the files."""

    time: I64
    v6: B
    ip: pa.Array
    port: I64
    asn: I64
    cc: pa.Array
    bot_id: pa.Array
    """Stable id text of machines that carry one, null otherwise."""


@functools.cache
def _clock() -> pa.Array:
    """HH:MM:SS for every second of a day."""
    return pa.array(
        [f"{h:02d}:{m:02d}:{x:02d}" for h in range(24) for m in range(60) for x in range(60)]
    )


def _stamp(time: I64, start: dt.date, sep: str, suffix: str = "") -> pa.Array:
    """`YYYY-MM-DD<sep>HH:MM:SS<suffix>` of rows that all lie in one UTC day."""
    if not len(time):
        return pa.array([], pa.string())
    day = int(time[0]) // int(DAY)
    date = (start + dt.timedelta(days=day)).isoformat()
    clock = _clock().take(pa.array(time - day * int(DAY)))
    return pc.binary_join_element_wise(date + sep, clock, suffix, "")


def _q(values: pa.Array | str) -> pa.Array | str:
    if isinstance(values, str):
        return f'"{values}"'
    return pc.binary_join_element_wise('"', values, '"', "")


def _num(values: I64) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _write_lines(path: Path, parts: list[pa.Array | str], header: str | None) -> None:
    line = pc.binary_join_element_wise(*parts, "\n", "")
    line = line.combine_chunks() if isinstance(line, pa.ChunkedArray) else line
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int32)[
        line.offset : line.offset + len(line) + 1
    ]
    data = line.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    with path.open("wb") as out:
        if header is not None:
            out.write(header.encode())
        out.write(data)


def _csv_parts(params: Params, rows: Rows, columns: tuple[str, ...]) -> list[pa.Array | str]:
    start = dt.date.fromisoformat(params.start)
    rep = params.report
    values: dict[str, pa.Array | str] = {
        "timestamp": _q(_stamp(rows.time, start, " ")),
        "protocol": '"tcp"',
        "src_ip": _q(rows.ip),
        "src_port": _num(rows.port),
        "src_asn": _num(rows.asn),
        "src_geo": _q(rows.cc),
        "severity": '"critical"',
        "dst_ip": f'"{rep.dst_ip}"',
        "dst_port": str(rep.dst_port),
        "infection": f'"{rep.malware}"',
        "family": f'"{rep.malware}"',
        "tag": f'"{rep.malware}"',
        "http_url": '"/login.php"',
        "http_host": f'"{HTTP_HOST}"',
        "http_agent": f'"{HTTP_AGENT}"',
    }
    parts: list[pa.Array | str] = []
    for i, col in enumerate(columns):
        parts.append(values.get(col, ""))
        if i < len(columns) - 1:
            parts.append(",")
    return parts


def write_reports(params: Params, rows: Rows, out: Path, seed: int) -> list[Path]:
    """One Shadowserver CSV per UTC day and address family, in the report's published
    columns, quoted as Shadowserver quotes (text in quotes, numbers bare)."""
    out.mkdir(parents=True, exist_ok=True)
    mapping = load_mapping()
    start = dt.date.fromisoformat(params.start)
    day = rows.time // int(DAY)
    written = []
    for family, v6 in (("event4", False), ("event6", True)):
        rtype = params.report.report_type.replace("event4", family)
        columns = mapping.report(rtype).columns
        header = ",".join(f'"{c}"' for c in columns) + "\n"
        for d in range(params.days):
            idx = np.flatnonzero((day == d) & (rows.v6 == v6))
            if not len(idx) and v6:
                continue
            name = f"{start + dt.timedelta(days=d)}-{rtype}-popgen-{params.name}-s{seed}.csv"
            path = out / name
            part = _take(rows, idx)
            if len(idx):
                _write_lines(path, _csv_parts(params, part, columns), header)
            else:
                path.write_text(header)
            written.append(path)
    return written


def write_intelmq(params: Params, rows: Rows, out: Path, seed: int) -> list[Path]:
    """The same rows as IntelMQ events (JSON lines), `extra.bot_id` on machines with an id:
    the Shadowserver mappings have no column that becomes a bot id."""
    out.mkdir(parents=True, exist_ok=True)
    start = dt.date.fromisoformat(params.start)
    day = rows.time // int(DAY)
    rep = params.report
    written = []
    for d in range(params.days):
        idx = np.flatnonzero(day == d)
        part = _take(rows, idx)
        feed = pc.if_else(pa.array(part.v6), "Popgen-Sinkhole IPv6", "Popgen-Sinkhole IPv4")
        fixed = (
            f', "malware.name": "{rep.malware}", "classification.type": "infected-system", '
            f'"feed.provider": "popgen"'
        )
        bot = pc.if_else(
            pc.is_null(part.bot_id),
            "",
            pc.binary_join_element_wise(', "extra.bot_id": "', part.bot_id.fill_null(""), '"', ""),
        )
        parts: list[pa.Array | str] = [
            '{"time.source": "', _stamp(part.time, start, "T", "+00:00"),
            '", "feed.name": "', feed, '", "source.ip": "', part.ip,
            '", "source.port": ', _num(part.port), ', "source.asn": ', _num(part.asn),
            ', "source.geolocation.cc": "', part.cc, '"', fixed, bot, "}",
        ]  # fmt: skip
        path = out / f"{start + dt.timedelta(days=d)}-popgen-ids-{params.name}-s{seed}.jsonl"
        if len(idx):
            _write_lines(path, parts, None)
        else:
            path.write_text("")
        written.append(path)
    return written


def _take(rows: Rows, idx: I64) -> Rows:
    take = pa.array(idx, pa.int64())
    return Rows(
        rows.time[idx], rows.v6[idx], rows.ip.take(take), rows.port[idx], rows.asn[idx],
        rows.cc.take(take), rows.bot_id.take(take),
    )  # fmt: skip
