"""The hold-out draw: stratified by country and size, seeded, drawn once per network."""

from __future__ import annotations

import math
from collections import Counter

import pyarrow as pa
import pytest
from notify_cases import RUN

from botcensus.notify.holdout import assign, size_bin, units_of
from botcensus.notify.rules import Holdout

UNITS = pa.table(
    {
        "unit": [str(64500 + i) for i in range(400)],
        "cc": [["DE", "NL", "IN", "US"][i % 4] for i in range(400)],
        "size": [[3, 30, 300, 3000][(i // 4) % 4] for i in range(400)],
    }
)
DESIGN = Holdout(share=0.3, seed=11)


def test_every_stratum_holds_out_its_share_rounded_up_or_down() -> None:
    drawn = assign(UNITS, DESIGN, RUN, set()).to_pylist()
    strata = Counter(r["stratum"] for r in drawn)
    held = Counter(r["stratum"] for r in drawn if r["arm"] == "holdout")
    assert len(strata) == 16
    for stratum, n in strata.items():
        assert held[stratum] in (math.floor(0.3 * n), math.ceil(0.3 * n)), stratum


def test_the_same_seed_draws_the_same_groups_and_another_seed_others() -> None:
    first = assign(UNITS, DESIGN, RUN, set())
    assert assign(UNITS, DESIGN, RUN, set()).equals(first)
    other = assign(UNITS, Holdout(share=0.3, seed=12), RUN, set())
    assert other["arm"].to_pylist() != first["arm"].to_pylist()


def test_known_networks_are_not_drawn_again() -> None:
    drawn = assign(UNITS, DESIGN, RUN, {"64500", "64501"})
    assert drawn.num_rows == 398
    assert "64500" not in drawn["unit"].to_pylist()


def test_countries_as_units_are_stratified_by_size_only() -> None:
    drawn = assign(UNITS.slice(0, 4), Holdout(share=0.5, seed=1, unit="cc"), RUN, set())
    assert set(drawn["stratum"].to_pylist()) == {"1-9"}
    assert set(drawn["kind"].to_pylist()) == {"cc"}


@pytest.mark.parametrize(("size", "name"), [(1, "1-9"), (9, "1-9"), (10, "10-99"), (5000, "1000+")])
def test_size_bins_are_named_by_their_range(size: int, name: str) -> None:
    assert size_bin(size, [10, 100, 1000]) == name


def test_a_networks_country_is_where_most_of_its_hosts_are() -> None:
    rows = pa.table(
        {
            "source_asn": pa.array([1, 1, 1, None], pa.int64()),
            "source_cc": ["DE", "NL", "NL", "SE"],
            "source_ip": ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"],
        }
    )
    assert units_of(rows, "asn").to_pylist() == [{"unit": "1", "cc": "NL", "size": 3}]
