"""Reader for IPFire libloc data (the text of `location dump`): networks -> ASN, AS name."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.enrich.ranges import ATTR_SCHEMA, Ranges, from_prefixes
from botcensus.enrich.torgeoip import data_date
from botcensus.ipaddr import ipv4_to_int, ipv6_to_keys, keys_from_ipv4

DB_MAGIC: Final = b"LOCDBXX"
"""First bytes of a binary location.db; anything else is read as `location dump` text."""


@dataclass
class LiblocDump:
    """The parts of a dump enrichment uses: networks (cc, asn) and AS names."""

    generated: str | None = None
    networks: list[str] = field(default_factory=list)
    cc: list[str | None] = field(default_factory=list)
    asn: list[int | None] = field(default_factory=list)
    as_names: dict[int, str] = field(default_factory=dict)


def parse_dump(lines: Iterable[str]) -> LiblocDump:
    """Parse `location dump` text: blank-line separated blocks of "key: value" lines.

    A block starting "net:" is a network (country, aut-num as a bare number); one starting
    "aut-num: ASn" names an AS. Flags (is-anycast, drop, ...) are not used.
    """
    dump = LiblocDump()
    header: list[str] = []
    block: dict[str, str] = {}
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("#"):
            header.append(line)
        elif line.strip():
            key, _, value = line.partition(":")
            block.setdefault(key.strip(), value.strip())
        else:
            _add_block(dump, block)
            block = {}
    _add_block(dump, block)
    dump.generated = data_date("\n".join(header))
    return dump


def _add_block(dump: LiblocDump, block: dict[str, str]) -> None:
    if "net" in block:
        dump.networks.append(block["net"])
        dump.cc.append(block.get("country") or None)
        number = block.get("aut-num", "").removeprefix("AS")
        dump.asn.append(int(number) if number.isdigit() and int(number) > 0 else None)
    elif "aut-num" in block and "name" in block:
        dump.as_names[int(block["aut-num"].removeprefix("AS"))] = block["name"]


def dump_lines(db: Path) -> Iterator[str]:
    """The lines of a libloc database as text: a binary location.db through `location dump`,
    a file that already holds dump text as it is."""
    with db.open("rb") as f:
        binary = f.read(len(DB_MAGIC)) == DB_MAGIC
    if not binary:
        with db.open(encoding="utf-8") as text:
            yield from text
        return
    tool = shutil.which("location")
    if tool is None:
        raise FileNotFoundError(
            f"{db} is a binary libloc database; reading it needs the `location` tool "
            "(Debian package `location`), or pass the text of `location dump` instead"
        )
    with subprocess.Popen(
        [tool, "--database", str(db), "dump"], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        yield from proc.stdout
    if proc.returncode != 0:
        raise RuntimeError(f"`location dump` of {db} failed with exit status {proc.returncode}")


def to_ranges(dump: LiblocDump) -> tuple[Ranges, Ranges]:
    """IPv4 and IPv6 range tables, most specific network winning where networks nest."""
    nets = pa.array(dump.networks, pa.string())
    parts = pc.split_pattern(nets, "/", max_splits=1)
    address = pc.list_element(parts, 0)
    bits = pc.cast(pc.list_element(parts, 1), pa.int64()).to_numpy()
    v4, is_v4 = ipv4_to_int(address)
    asn = pa.array(dump.asn, pa.int64())
    names = pa.array([dump.as_names.get(a) if a else None for a in dump.asn], pa.string())
    attrs = pa.table({"cc": pa.array(dump.cc, pa.string()), "asn": asn, "as_name": names})
    attrs = attrs.cast(ATTR_SCHEMA)
    v4_rows = np.flatnonzero(is_v4)
    v6_rows = np.flatnonzero(~is_v4)
    v6, ok = ipv6_to_keys(address.take(pa.array(v6_rows)).to_pylist())
    if not ok.all():
        raise ValueError(f"libloc network {dump.networks[v6_rows[~ok][0]]!r} is not valid")
    return (
        from_prefixes(keys_from_ipv4(v4[v4_rows]), bits[v4_rows] + 96, attrs.take(v4_rows)),
        from_prefixes(v6, bits[v6_rows], attrs.take(v6_rows)),
    )
