"""Line ends inside cells: the exact reader takes a quoted cell holding CR, LF or CR LF whole, and
an unquoted carriage return as a record end, both as Python's csv module reads the file with
newline='' (as IntelMQ's parse_csv_dict does)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from botcensus.feeds.read import csv_batches

CELLS = ["a\rb", "a\nb", "a\r\nb", "a\r\rb", "\rab", "ab\r", "a\n\rb"]


def _python(data: bytes) -> list[list[str]]:
    """Python's csv module over the text, newline='' (empty cells as None, as ours)."""
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    return [[c or None for c in row] for row in rows[1:]]  # type: ignore[misc]


def _ours(path: Path) -> list[list[str | None]]:
    rows = [r for b in csv_batches(path, ["x", "y", "z"]) for r in b.table.to_pylist()]
    assert not [i for b in csv_batches(path, ["x", "y", "z"]) for i in b.invalid]
    return [[r["x"], r["y"], r["z"]] for r in rows]


@pytest.mark.parametrize("end", ["\n", "\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("cell", CELLS, ids=repr)
def test_a_quoted_cell_keeps_its_line_ends_in_one_row(tmp_path: Path, cell: str, end: str) -> None:
    text = end.join(["x,y,z", f'1,"{cell}",3', "4,5,6", f'"{cell}",8,9', f'10,11,"{cell}"', ""])
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode())
    ours = _ours(path)
    assert ours == _python(text.encode())
    assert ours == [["1", cell, "3"], ["4", "5", "6"], [cell, "8", "9"], ["10", "11", cell]]


def test_an_unquoted_carriage_return_ends_the_record_as_python_reads_it(tmp_path: Path) -> None:
    # what Python's csv module writes for "/f\rx" with lineterminator="\n": no quotes
    data = b"x,y,z\n1,/f\rx,3\n4,5,6\n"
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    assert _python(data) == [["1", "/f"], ["x", "3"], ["4", "5", "6"]]
    rows = [r for b in csv_batches(path, ["x", "y", "z"]) for r in b.table.to_pylist()]
    assert [[r["x"], r["y"], r["z"]] for r in rows] == [
        ["1", "/f", None],
        ["x", "3", None],
        ["4", "5", "6"],
    ]
