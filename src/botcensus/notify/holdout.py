"""The randomised hold-out: which networks are not told, drawn once per network when it is
first seen, within strata of country and size, from a seed (pure functions)."""

from __future__ import annotations

import zlib
from datetime import date
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.notify.rules import Holdout

ASSIGNMENT_SCHEMA: Final = pa.schema(
    [
        pa.field("unit", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("cc", pa.string()),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("stratum", pa.string(), nullable=False),
        pa.field("arm", pa.string(), nullable=False),
        pa.field("assigned_on", pa.date32(), nullable=False),
    ]
)
"""One network's group: `unit` (an ASN as digits, or a country code) of `kind` asn|cc, its
country, its size (hosts when first seen), stratum, `arm` notified|holdout, and the run day
it was drawn on (the day it was, or would have been, first told)."""
ARMS: Final = ("notified", "holdout")


def size_bin(size: int, bins: list[int]) -> str:
    """The size stratum's name: '1-9', '10-99', ..., '1000+'."""
    low = 1
    for high in bins:
        if size < high:
            return f"{low}-{high - 1}"
        low = high
    return f"{low}+"


def units_of(rows: pa.Table, unit: str) -> pa.Table:
    """Networks in host rows: unit, cc (its commonest country), size (distinct addresses).
    Rows without the unit's column (no ASN, no country) belong to none."""
    column = "source_asn" if unit == "asn" else "source_cc"
    keyed = rows.filter(pc.is_valid(rows[column]))
    if keyed.num_rows == 0:
        return pa.table({"unit": pa.array([], pa.string()), "cc": pa.array([], pa.string()),
                         "size": pa.array([], pa.int64())})  # fmt: skip
    keys = keyed[column].cast(pa.string())
    table = pa.table({"unit": keys, "cc": keyed["source_cc"], "ip": keyed["source_ip"]})
    sizes = table.group_by("unit").aggregate([("ip", "count_distinct")])
    counts = table.group_by(["unit", "cc"]).aggregate([("ip", "count")])
    counts = counts.sort_by(
        [("unit", "ascending"), ("ip_count", "descending"), ("cc", "ascending")]
    )
    first = counts.group_by("unit", use_threads=False).aggregate([("cc", "first")])
    joined = sizes.join(first, "unit")
    return pa.table(
        {
            "unit": joined["unit"],
            "cc": joined["cc_first"],
            "size": joined["ip_count_distinct"].cast(pa.int64()),
        }
    ).sort_by("unit")


def assign(units: pa.Table, design: Holdout, run_date: date, known: set[str]) -> pa.Table:
    """ASSIGNMENT_SCHEMA rows for the units not in `known`: in each stratum (country and
    size bin; size bin alone when countries are the unit) a random `share` held out, the
    count rounded up or down at random so the share holds on average. Seeded by the design's
    seed, the stratum and the day: the same networks on the same day give the same draw."""
    new = [r for r in units.to_pylist() if r["unit"] not in known]
    strata: dict[str, list[dict[str, object]]] = {}
    for row in new:
        bin_name = size_bin(int(row["size"]), design.size_bins)
        stratum = bin_name if design.unit == "cc" else f"{row['cc'] or '--'} {bin_name}"
        strata.setdefault(stratum, []).append(row)
    out = []
    for stratum in sorted(strata):
        members = sorted(strata[stratum], key=lambda r: str(r["unit"]))
        rng = np.random.default_rng(
            [design.seed, zlib.crc32(stratum.encode()), run_date.toordinal()]
        )
        order = rng.permutation(len(members))
        wanted = design.share * len(members)
        held = int(wanted) + int(rng.random() < wanted - int(wanted))
        for rank, i in enumerate(order):
            row = members[int(i)]
            out.append(
                {
                    "unit": row["unit"],
                    "kind": design.unit,
                    "cc": row["cc"],
                    "size": row["size"],
                    "stratum": stratum,
                    "arm": "holdout" if rank < held else "notified",
                    "assigned_on": run_date,
                }
            )
    return pa.Table.from_pylist(out, schema=ASSIGNMENT_SCHEMA)
