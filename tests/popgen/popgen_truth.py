"""Independent re-computations of the generator's truth, for the tests to compare against."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

WEEKDAY = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def week_end(day: dt.date, convention: str) -> dt.date:
    return day + dt.timedelta(days=(WEEKDAY[convention] - day.weekday()) % 7)


def reported_csv(out: Path) -> pa.Table:
    """Every row of every Shadowserver CSV the generator wrote, all columns as text."""
    tables = []
    for path in sorted((out / "reports").glob("*.csv")):
        types = {"timestamp": pa.string(), "src_ip": pa.string(), "src_port": pa.int64(),
                 "src_asn": pa.int64(), "src_geo": pa.string()}  # fmt: skip
        read = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
        if read.num_rows:
            tables.append(read.select(list(types)))
    return pa.concat_tables(tables)


def checkins(out: Path) -> pa.Table:
    return pq.read_table(out / "truth" / "checkins.parquet")


def utc_seconds(start: str, stamps: pa.Array) -> np.ndarray:
    """Seconds from the window's start of 'YYYY-MM-DD HH:MM:SS' texts."""
    base = np.datetime64(start, "s")
    values = np.array(stamps.to_pylist(), dtype="datetime64[s]")
    return (values - base).astype(np.int64)
