"""The notification campaign as the clean-up stage reads it: the hold-out design in the
journal, as the table `botcensus cleanup --notified FILE` would give."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.notify.journal import Journal, journal_path


def notification_groups(data_dir: Path) -> pa.Table | None:
    """One row per network of the hold-out design: `asn` (int64) or `cc` (string),
    `notified` (true: in the notified group; false: held out), `day` (date32, the run day the
    network was drawn on: when it was, or would have been, first told). Intention to treat:
    a network counts as notified whether or not a message reached it. None when the journal
    has no hold-out design."""
    if not journal_path(data_dir).exists():
        return None
    with Journal(data_dir, create=False) as journal:
        groups = journal.assignments()
    if groups.num_rows == 0:
        return None
    kinds = pc.unique(groups["kind"]).to_pylist()
    if len(kinds) != 1:
        raise ValueError(
            f"{journal_path(data_dir)}: hold-out groups of two kinds ({', '.join(kinds)}); "
            "give the campaign with --notified FILE instead"
        )
    key = kinds[0]
    unit = groups["unit"].cast(pa.int64()) if key == "asn" else groups["unit"]
    return pa.table(
        {
            key: unit,
            "notified": pc.equal(groups["arm"], "notified"),
            "day": groups["assigned_on"],
        }
    )
