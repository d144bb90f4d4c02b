"""Census CSV: a group value a feed chose (a malware family) opens as text in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pyarrow as pa

from botcensus.report.tables import write_csv


def test_census_csv_cells_that_would_run_as_formulas_are_text() -> None:
    table = pa.table({"malware_family": ["=cmd|' /C calc'!A0", "rustock"], "unique_ip": [3, -1]})
    out = io.StringIO()
    write_csv(table, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[1:] == [["'=cmd|' /C calc'!A0", "3"], ["rustock", "-1"]]
