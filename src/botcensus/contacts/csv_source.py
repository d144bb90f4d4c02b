"""CSV contact tables: a prefix, an ASN or a country -> abuse address, organisation, source.

A header row names the columns; each row fills exactly one of `prefix`, `asn`, `country`:

    prefix,asn,country,abuse_email,organisation,source
    192.0.2.0/24,,,abuse@example.net,Example Networks,our peering list 2026-05
    ,AS64496,,noc@example.org,Example Transit,
    ,,SE,cert@cert.se,CERT-SE,https://cert.se/om-cert-se/rfc-2350/

`prefix` is a CIDR prefix (IPv4 or IPv6), one address, or a range 'first - last'; `asn` is
AS64496 or 64496; `country` an ISO 3166 alpha-2 code. `abuse_email` is required,
`organisation` and `source` (where the row came from) are optional; other columns are
ignored. Rows that do not parse are returned as problems with their line, the rest kept.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from botcensus.contacts.keys import text_ranges
from botcensus.contacts.mailbox import mailbox_list
from botcensus.contacts.store import RECORD_SCHEMA, Problem
from botcensus.ipaddr import hilo_from_keys

KEY_COLUMNS: Final = ("prefix", "asn", "country")
"""The key column a row fills names its level; 'prefix' is stored as level 'prefix'."""
_ASN: Final = re.compile(r"(?:AS)?([0-9]{1,10})", re.IGNORECASE)
_COUNTRY: Final = re.compile(r"[A-Za-z]{2}")


def read_contacts_csv(path: Path) -> tuple[pa.Table, list[Problem]]:
    """Contact records (RECORD_SCHEMA) of a CSV file, and the rows that were not usable.

    Raises ValueError if the header lacks abuse_email or all of the key columns."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [name.strip().lower() for name in next(reader, [])]
        if "abuse_email" not in header or not set(KEY_COLUMNS) & set(header):
            raise ValueError(
                f"{path}: the header row needs abuse_email and one of {', '.join(KEY_COLUMNS)}"
            )
        where = {name: i for i, name in enumerate(header)}
        rows: list[dict[str, str]] = []
        problems: list[Problem] = []
        for cells in reader:
            cell = {name: cells[i].strip() if i < len(cells) else "" for name, i in where.items()}
            if not any(cell.values()):
                continue
            line, text = reader.line_num, ",".join(cells)
            keys = [name for name in KEY_COLUMNS if cell.get(name)]
            if len(keys) != 1:
                problems.append(Problem(str(path), line, "fill one of prefix, asn, country", text))
            else:
                try:
                    email = mailbox_list(cell["abuse_email"])
                except ValueError as exc:
                    problems.append(Problem(str(path), line, f"abuse_email {exc}", text))
                    continue
                rows.append(
                    {
                        **cell,
                        "abuse_email": email,
                        "level": keys[0],
                        "line": str(line),
                        "text": text,
                    }
                )
    good, bad = _parse(rows, str(path))
    return good, problems + bad


def _parse(rows: list[dict[str, str]], file: str) -> tuple[pa.Table, list[Problem]]:
    problems: list[Problem] = []
    parts = [RECORD_SCHEMA.empty_table()]
    prefix = [r for r in rows if r["level"] == "prefix"]
    ranges = text_ranges(*_split([r["prefix"] for r in prefix]))
    ok = ranges.version > 0
    start_hi, start_lo = hilo_from_keys(ranges.start)
    end_hi, end_lo = hilo_from_keys(ranges.end)
    keep = np.flatnonzero(ok)
    parts.append(
        _records(
            [prefix[i] for i in keep],
            "prefix",
            [f"prefix {prefix[i]['prefix']}" for i in keep],
            ip_version=pa.array(ranges.version[keep], pa.uint8()),
            start_hi=start_hi[keep],
            start_lo=start_lo[keep],
            end_hi=end_hi[keep],
            end_lo=end_lo[keep],
        )
    )
    problems += [
        _problem(file, prefix[i], f"prefix: {ranges.error[i]}") for i in np.flatnonzero(~ok)
    ]
    asn_rows, numbers = [], []
    for row in (r for r in rows if r["level"] == "asn"):
        match = _ASN.fullmatch(row["asn"])
        if match is None or int(match[1]) > 2**32 - 1:
            problems.append(_problem(file, row, "asn: not an AS number"))
        else:
            asn_rows.append(row)
            numbers.append(int(match[1]))
    keys = [f"asn AS{n}" for n in numbers]
    parts.append(_records(asn_rows, "asn", keys, asn=pa.array(numbers, pa.int64())))
    country_rows = []
    for row in (r for r in rows if r["level"] == "country"):
        if _COUNTRY.fullmatch(row["country"]):
            country_rows.append(row)
        else:
            problems.append(_problem(file, row, "country: not a two-letter code"))
    codes = [r["country"].upper() for r in country_rows]
    keys = [f"country {c}" for c in codes]
    parts.append(_records(country_rows, "country", keys, cc=pa.array(codes, pa.string())))
    return pa.concat_tables(parts), problems


def _split(texts: list[str]) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """'a/n' -> (a, null, n); 'a - b' -> (a, b, -1); 'a' -> (a, a, -1)."""
    first: list[str] = []
    last: list[str | None] = []
    bits: list[int] = []
    for text in texts:
        address, slash, length = text.partition("/")
        low, dash, high = text.partition("-")
        if slash:
            first.append(address.strip())
            last.append(None)
            bits.append(int(length) if length.strip().isdigit() else 999)
        else:
            first.append(low.strip())
            last.append(high.strip() if dash else low.strip())
            bits.append(-1)
    return pa.array(first, pa.string()), pa.array(last, pa.string()), np.array(bits, np.int64)


def _records(rows: list[dict[str, str]], level: str, keys: list[str], **known: object) -> pa.Table:
    sources = [r.get("source", "") for r in rows]
    values = {
        "level": pa.array([level] * len(rows), pa.string()),
        "abuse_email": pa.array([r["abuse_email"] for r in rows], pa.string()),
        "abuse_org": pa.array([r.get("organisation") or None for r in rows], pa.string()),
        "record": pa.array(
            [f"{k} from {s}" if s else k for k, s in zip(keys, sources, strict=True)], pa.string()
        ),
        **known,
    }
    columns = [
        pa.array(values[f.name], f.type) if f.name in values else pa.nulls(len(rows), f.type)
        for f in RECORD_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=RECORD_SCHEMA)


def _problem(file: str, row: dict[str, str], reason: str) -> Problem:
    return Problem(file, int(row["line"]), reason, row["text"])
