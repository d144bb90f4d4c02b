"""The mapping's cheap SQL forms give the value of the plain function they stand for, on every
string of a corpus built to break them (dots, every RE2 white space and its neighbours,
non-ASCII, empty, NULL)."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from botcensus.feeds.convert import (
    FQDN_REFUSED,
    INTEGER_RE,
    WHITESPACE,
    lit,
    strict_int,
    trim_dots,
    up_to_whitespace,
)
from botcensus.store.db import connect

ALPHABET = [".", "a", "/", " ", "\t", "\n", "\x0b", "\f", "\r", "é", "\u00a0", "\u2028", "0"]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    corpus = ["".join(p) for n in range(4) for p in itertools.product(ALPHABET, repeat=n)] + [
        "..host.example..",
        "GET /x?q=1 HTTP/1.1",
        "/gate.php\tx",
        "." * 50,
        "a" * 300 + " b",
    ]
    con = connect()
    con.execute("CREATE TABLE s AS SELECT unnest(?) AS x UNION ALL SELECT NULL", [corpus])
    return con


def _differences(con: duckdb.DuckDBPyConnection, plain: str, cheap: str) -> list[object]:
    sql = f"SELECT x FROM s WHERE ({plain}) IS DISTINCT FROM ({cheap})"  # noqa: S608 (ours)
    rows = con.execute(sql).fetchall()
    return [r[0] for r in rows]


def test_the_corpus_is_large_and_holds_what_each_form_tests(con: duckdb.DuckDBPyConnection):
    (n, dotted, spaced) = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE x LIKE '.%' OR x LIKE '%.'), "
        "count(*) FILTER (WHERE regexp_matches(x, '\\s')) FROM s"
    ).fetchone() or (0, 0, 0)
    assert n > 2_000
    assert dotted > 300
    assert spaced > 1_000


def test_trim_dots_is_trim(con: duckdb.DuckDBPyConnection) -> None:
    assert _differences(con, "trim(x, '.')", trim_dots("x")) == []


def test_up_to_whitespace_is_the_regular_expression(con: duckdb.DuckDBPyConnection) -> None:
    assert _differences(con, "regexp_extract(x, '^\\S*')", up_to_whitespace("x", "x")) == []


def test_up_to_whitespace_of_a_part_looks_at_the_whole(con: duckdb.DuckDBPyConnection) -> None:
    """The URL path: the cell from its first '/', checked for white space in the whole cell."""
    part = "CASE WHEN strpos(x, '/') = 0 THEN '' ELSE substr(x, strpos(x, '/')) END"
    plain = f"regexp_extract({part}, '^\\S*')"
    assert _differences(con, plain, up_to_whitespace(part, "x")) == []


def test_whitespace_is_what_re2_calls_white_space(con: duckdb.DuckDBPyConnection) -> None:
    found = con.execute(
        "SELECT list(x ORDER BY x) FROM s WHERE length(x) = 1 AND regexp_matches(x, '\\s')"
    ).fetchone()
    assert found is not None
    assert sorted(found[0]) == sorted(WHITESPACE)


def test_strict_int_is_the_regular_expression(con: duckdb.DuckDBPyConnection) -> None:
    """The cheap first branch (the number as DuckDB writes it back) takes nothing the
    expression refuses, on the corpus and on numbers in every form DuckDB's cast reads."""
    numbers = ["0", "-0", "+7", "007", "42", "-42", " 42", "42 ", "1_000", "1__0", "3320.5",
               "1e3", "1E3", "0x10", "0b11", "4.0", ".5", "1.", "inf", "nan", "٤٢", "1 2",
               "9223372036854775807", "9223372036854775808", "-9223372036854775808",
               "99999999999999999999", "\t5\n"]  # fmt: skip
    con.execute("CREATE TEMP TABLE n AS SELECT unnest(?) AS x", [numbers])
    plain = f"CASE WHEN regexp_full_match(x, {lit(INTEGER_RE)}) THEN TRY_CAST(x AS BIGINT) END"
    for table in ("s", "n"):
        sql = f"SELECT x FROM {table} WHERE ({plain}) IS DISTINCT FROM ({strict_int('x')})"  # noqa: S608
        assert con.execute(sql).fetchall() == []
    found = dict(con.execute(f"SELECT x, {strict_int('x')} FROM n").fetchall())  # noqa: S608
    assert (found["3320.5"], found["1e3"], found["0x10"], found[" 42"]) == (None, None, None, 42)
    assert found["99999999999999999999"] is None


def test_the_refused_host_name_characters_are_one_class(con: duckdb.DuckDBPyConnection) -> None:
    """FQDN_REFUSED is anything but printable ASCII, or one of # / : ? @ \\ (every character
    of the Basic Multilingual Plane checked)."""
    chars = [chr(c) for c in range(1, 0x10000) if not 0xD800 <= c < 0xE000]
    plain = "regexp_matches(c, '[^!-~]') OR regexp_matches(c, '[#/:?@\\\\]')"
    sql = f"SELECT c FROM unnest(?) AS t(c) WHERE ({plain}) <> regexp_matches(c, ?)"  # noqa: S608
    assert con.execute(sql, [chars, FQDN_REFUSED]).fetchall() == []
