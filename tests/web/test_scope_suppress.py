"""Scopes as SQL agree with the single-address check; small-cell suppression (pure)."""

from __future__ import annotations

import random

import duckdb
import pytest

from botcensus.web.notices import Notice, NoticeAddress, NoticePage, in_scope
from botcensus.web.scope import EVERYTHING, Scope, ScopeError
from botcensus.web.suppress import small_cells, small_groups, suppress

ROWS = [  # (ip, asn, cc)
    ("192.0.2.1", 64500, "NL"),
    ("192.0.2.255", 64500, "NL"),
    ("192.0.3.0", 64501, "DE"),
    ("10.0.0.1", None, None),
    ("2001:db8:a::1", 64500, "NL"),
    ("2001:db8:b::1", 64502, "US"),
    ("2001:db8:a:ffff::1", None, "fr"),
    ("255.255.255.255", 1, "US"),
    ("0.0.0.1", 2, None),
]
SCOPES = [
    Scope.of([64500]),
    Scope.of([], ["192.0.2.0/24"]),
    Scope.of([], ["2001:db8:a::/48"]),
    Scope.of([], ["0.0.0.0/0"]),
    Scope.of([], [], ["FR"]),
    Scope.of([64502], ["10.0.0.0/8", "2001:db8:a::/64"], ["DE"]),
    EVERYTHING,
    Scope(),
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.describe())
def test_sql_condition_selects_what_contains_accepts(scope):
    con = duckdb.connect()
    con.execute("CREATE TABLE s (source_ip VARCHAR, source_asn BIGINT, source_cc VARCHAR)")
    con.executemany("INSERT INTO s VALUES (?, ?, ?)", ROWS)
    condition, params = scope.condition(con, "s")
    got = {
        r[0]
        for r in con.execute(f"SELECT source_ip FROM s WHERE {condition}", params).fetchall()  # noqa: S608
    }
    assert got == {ip for ip, asn, cc in ROWS if scope.contains(ip, asn, cc)}


def test_an_empty_owner_scope_selects_nothing():
    assert Scope().condition()[0] == "false"


@pytest.mark.parametrize(
    "value",
    [{"asns": ["0"]}, {"asns": ["AS-1"]}, {"prefixes": ["192.0.2.1/24"]}, {"countries": ["NLD"]}],
)
def test_bad_scope_values_are_refused(value):
    with pytest.raises(ScopeError):
        Scope.of(**value)


def test_scope_round_trips_through_json():
    scope = Scope.of(["AS64500", 1], ["2001:db8::/32", "192.0.2.0/24"], ["nl"])
    assert Scope.from_json(scope.to_json()) == scope
    assert scope.describe() == "AS1, AS64500, 192.0.2.0/24, 2001:db8::/32, NL"


def test_notices_outside_the_scope_are_dropped():
    notice = Notice(
        "n1",
        __import__("datetime").datetime(2011, 4, 1),
        "abuse@a.example",
        "email",
        "rustock",
        (NoticeAddress("192.0.2.1", 64500, "NL"), NoticeAddress("203.0.113.1", 64501, "DE")),
    )
    other = Notice(
        "n2",
        notice.sent,
        "abuse@b.example",
        "email",
        None,
        (NoticeAddress("203.0.113.2", 64501, "DE"),),
    )
    page = in_scope(NoticePage(2, (notice, other), "test"), Scope.of([64500]))
    assert page.total == 1
    assert [a.ip for n in page.notices for a in n.addresses] == ["192.0.2.1"]


# -- suppression ---------------------------------------------------------------------------
def _rows(counts, by="country"):
    return [
        {
            "window_start": w,
            by: g,
            "unique_ip": n,
            "hits": n * 3,
            "unique_ip_change": 0.1,
            "unique_ip_change_since_first": 0.2,
        }
        for w, cells in enumerate(counts)
        for g, n in cells.items()
    ]


def test_a_small_cell_and_the_next_smallest_are_withheld():
    rows = _rows([{"US": 900, "NL": 40, "FR": 3}])
    out, n = suppress(rows, 10, ("country",))
    assert n == 2
    assert [(r["country"], r["unique_ip"], r["suppressed"]) for r in out] == [
        ("US", 900, False),
        ("NL", None, True),
        ("FR", None, True),
    ]
    assert out[1]["hits"] is None
    assert out[1]["unique_ip_change"] is None


def test_withheld_cells_add_up_to_k():
    rows = _rows([{"A": 100, "B": 2, "C": 3, "D": 4, "E": 50}])
    hide = small_cells(rows, 10)
    assert [r["country"] for r, h in zip(rows, hide, strict=False) if h] == ["B", "C", "D", "E"]
    hide = small_cells(_rows([{"A": 100, "B": 6, "C": 5}]), 10)
    assert hide == [False, True, True]


def test_nothing_small_nothing_withheld():
    assert suppress(_rows([{"A": 10, "B": 11}]), 10, ("country",))[1] == 0


def test_change_after_a_withheld_window_is_blanked():
    rows = _rows([{"A": 5}, {"A": 50}, {"A": 60}])
    out, _ = suppress(rows, 10, ("country",))
    assert out[1]["unique_ip"] == 50
    assert out[1]["unique_ip_change"] is None  # 50 / 5: would give the withheld count
    assert out[1]["unique_ip_change_since_first"] is None
    assert out[2]["unique_ip_change"] == 0.1


def test_random_windows_never_leave_a_recoverable_cell():
    rng = random.Random(5)
    for _ in range(200):
        cells = {f"g{i}": rng.choice([1, 2, 5, 9, 12, 40, 300]) for i in range(rng.randrange(1, 7))}
        out, _ = suppress(_rows([cells]), 10, ("country",))
        hidden = [c for c, r in zip(cells, out, strict=False) if r["suppressed"]]
        if hidden:
            assert sum(cells[c] for c in hidden) >= 10 or len(hidden) == len(cells)
            assert len(hidden) >= 2 or len(cells) == 1


def test_small_groups_in_first_or_last_week():
    rows = [
        {"group": "US", "first_count": 800, "last_count": 300},
        {"group": "NL", "first_count": 40, "last_count": 8},
        {"group": "DE", "first_count": 30, "last_count": 20},
    ]
    assert small_groups(rows, 10, ("first_count", "last_count")) == [False, True, True]
