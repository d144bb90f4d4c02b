"""A notification campaign read from a CSV: which networks (or countries, or single hosts)
were told and on which day, and which were held out (`botcensus cleanup --notified`)."""

from __future__ import annotations

from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.measure.survival import KEYS

NOTIFIED_COLUMNS: Final = (*KEYS, "notified", "day")
"""The columns of a notification campaign; any others in its file are ignored."""
_KEY_FORMS: Final = {
    "asn": (r"^[0-9]{1,10}$", "an AS number (digits only, no 'AS')", pa.int64()),
    "cc": (r"^[A-Za-z]{2}$", "a two-letter country code", pa.string()),
    "identity": (r"^.+$", "an identity", pa.string()),
}
_BOOLS: Final = pa.array(["true", "false", "1", "0"])
_TRUE: Final = pa.array(["true", "1"])


def _first_bad(ok: pa.ChunkedArray | pa.Array, lines: pa.Array, text: pa.Array, what: str) -> None:
    bad = pc.index(pc.fill_null(ok, False), False).as_py()
    if bad >= 0:
        raise ValueError(f"line {lines[bad].as_py()}: {what.format(repr(text[bad].as_py()))}")


def _first_repeat(key: str, values: pa.Array, lines: pa.Array) -> None:
    """A key listed twice would enter its identities into the model twice."""
    rows = pa.table({"key": values, "line": lines}).sort_by(
        [("key", "ascending"), ("line", "ascending")]
    )
    n = rows.num_rows
    same = pc.equal(rows["key"].slice(1), rows["key"].slice(0, n - 1))
    if not pc.any(same).as_py():
        return
    later, earlier = rows["line"].slice(1).filter(same), rows["line"].slice(0, n - 1).filter(same)
    i = pc.index(later, pc.min(later)).as_py()
    value = rows["key"].slice(1).filter(same)[i]
    raise ValueError(f"line {later[i]}: {key} {value} is listed again (also on line {earlier[i]})")


def notification_table(text: pa.Table) -> pa.Table:
    """A notification campaign read as text from a CSV with a header (row i on line i + 2;
    rows empty in every column are blank lines), checked and typed: one key column, `asn`
    (integer), `cc` (two letters) or `identity`; `notified` (true/false/1/0); `day`
    (YYYY-MM-DD). A ValueError says what is wrong and on which line."""
    names = text.column_names
    keys = [k for k in KEYS if k in names]
    listed = ", ".join(names) or "none"
    if len(keys) != 1:
        raise ValueError(f"needs exactly one key column, asn, cc or identity (columns: {listed})")
    for name in ("notified", "day"):
        if name not in names:
            raise ValueError(f"has no '{name}' column (columns: {listed})")
    key = keys[0]
    columns = {
        c: pc.utf8_trim_whitespace(text[c].cast(pa.string()).combine_chunks())
        for c in (key, "notified", "day")
    }
    lines = pa.array(range(2, text.num_rows + 2), pa.int64())
    filled = [pc.not_equal(pc.fill_null(v, ""), "") for v in columns.values()]
    keep = pc.or_(pc.or_(filled[0], filled[1]), filled[2])
    columns = {c: v.filter(keep) for c, v in columns.items()}
    lines = lines.filter(keep)
    if not len(lines):
        raise ValueError("has no rows")
    for name, values in columns.items():
        _first_bad(pc.not_equal(values, ""), lines, values, f"no {name}")
    pattern, form, key_type = _KEY_FORMS[key]
    values = pc.utf8_upper(columns[key]) if key == "cc" else columns[key]
    _first_bad(
        pc.match_substring_regex(values, pattern), lines, values, f"{key} {{}} is not {form}"
    )
    notified = pc.utf8_lower(columns["notified"])
    what = "notified {} is not true, false, 1 or 0"
    _first_bad(pc.is_in(notified, value_set=_BOOLS), lines, columns["notified"], what)
    day = columns["day"]
    parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    # Arrow's strptime rolls 2011-02-30 over to March: only a date that reads back is one.
    ok = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), day)
    _first_bad(ok, lines, day, "day {} is not a date YYYY-MM-DD")
    typed = values.cast(key_type)
    _first_repeat(key, typed, lines)
    return pa.table(
        {
            key: typed,
            "notified": pc.is_in(notified, value_set=_TRUE),
            "day": parsed.cast(pa.date32()),
        }
    )
