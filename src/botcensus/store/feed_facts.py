"""What stored feed events hold of their enrichment: (ASN, AS name) pairs and geo databases.

Gathered from the batches as an ingest writes them (store/feed_events.py), so the day's
sightings roll-up (store/feed_sightings.py) can take the AS name and geo database without
aggregating text when each ASN came with one name and the day with at most one geo database.
A superset of the rows' values is always safe: it can only send the roll-up to its general form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

NO_ASN: Final = -1
"""Stands for a missing ASN (an ASN is never negative), as in the roll-up's pairing."""
COLUMNS: Final = ("source_asn", "source_as_name", "geo_db")
_KEEP: Final = 16
"""Distinct pair tables kept before they are merged into one."""


def _distinct(pairs: pa.Table) -> pa.Table:
    return pairs.group_by(["asn", "name"], use_threads=False).aggregate([])


@dataclass
class Facts:
    """The (ASN, AS name) pairs (none as -1 and '') and geo databases of some rows; `known`
    is False once rows without the enrichment columns (or with other types) were added."""

    pairs: list[pa.Table] = field(default_factory=list)
    geo_dbs: set[str] = field(default_factory=set)
    known: bool = True

    def add(self, table: pa.Table) -> None:
        if not all(c in table.column_names for c in COLUMNS) or not (
            pa.types.is_integer(table.schema.field("source_asn").type)
            and pa.types.is_string(table.schema.field("source_as_name").type)
            and pa.types.is_string(table.schema.field("geo_db").type)
        ):
            self.known = False  # not what the enrichment gives: leave it to the general form
            return
        asn = pc.fill_null(table["source_asn"].cast(pa.int64()), NO_ASN)
        name = pc.fill_null(table["source_as_name"].cast(pa.string()), "")
        self.pairs.append(_distinct(pa.table({"asn": asn, "name": name})))
        geo = table["geo_db"].cast(pa.string())
        first = geo[0].as_py() if len(geo) else None
        if first is not None and geo.null_count == 0 and pc.all(pc.equal(geo, first)).as_py():
            self.geo_dbs.add(first)  # one database for the whole batch (the usual case)
        else:
            self.geo_dbs.update(str(v) for v in pc.unique(geo).drop_null().to_pylist())
        if len(self.pairs) > _KEEP:
            self.pairs = [_distinct(pa.concat_tables(self.pairs))]

    def update(self, other: Facts) -> None:
        self.pairs.extend(other.pairs)
        self.geo_dbs |= other.geo_dbs
        self.known = self.known and other.known

    def names(self) -> pa.Table | None:
        """ASN (-1: none) -> the one AS name it came with ('' for none), if every ASN came
        with one name; None otherwise (or if not known)."""
        if not self.known:
            return None
        if not self.pairs:
            return pa.table({"asn": pa.array([], pa.int64()), "name": pa.array([], pa.string())})
        pairs = _distinct(pa.concat_tables(self.pairs))
        self.pairs = [pairs]
        if pc.count_distinct(pairs["asn"]).as_py() != pairs.num_rows:
            return None
        return pairs
