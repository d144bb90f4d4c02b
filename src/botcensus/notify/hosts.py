"""Host rows for a range of days, read from the dataset's daily sightings: one row per
address and malware family per UTC day, whoever saw it (sinkhole sensors, feeds).

Sightings without a family (what no decoder or feed claimed: scanners, researchers, noise)
are never reported: nobody is told about an address we cannot say is infected.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Final

import pyarrow as pa

from botcensus.export import HOST_SCHEMA
from botcensus.model import SINKHOLE_FEED_NAME
from botcensus.store import as_name_of_asn, connect, sightings_view

HOST_ROWS_SCHEMA: Final = pa.schema(
    [*HOST_SCHEMA, pa.field("feeds", pa.list_(pa.string()), nullable=False)]
)
"""HOST_SCHEMA (network still null) and every feed that saw the host that day."""

_SQL: Final = f"""
SELECT day, source_ip, lower(malware_family) AS malware_family,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen, sum(hits)::BIGINT AS hits,
       max(source_asn) AS source_asn, max(source_cc) AS source_cc,
       {as_name_of_asn()} AS source_as_name,
       CASE WHEN bool_or(feed_name = '{SINKHOLE_FEED_NAME}') THEN '{SINKHOLE_FEED_NAME}'
            ELSE min(feed_name) END AS feed_name,
       NULL::VARCHAR AS network,
       list(DISTINCT feed_name ORDER BY feed_name) AS feeds
FROM {{view}}
WHERE day BETWEEN ? AND ? AND coalesce(malware_family, '') <> ''
GROUP BY day, source_ip, lower(malware_family)
ORDER BY day, source_ip, malware_family
"""  # noqa: S608 (a constant; the view name is ours)


def host_rows(data_dir: Path, first: date, last: date) -> pa.Table:
    """HOST_ROWS_SCHEMA rows of the days first..last (inclusive)."""
    con = connect()
    view = sightings_view(con, data_dir)
    table = con.sql(_SQL.format(view=view), params=[first, last]).to_arrow_table()
    return table.cast(HOST_ROWS_SCHEMA)
