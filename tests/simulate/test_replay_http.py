"""The HTTP path (a real sinkhole on loopback, driven over PROXY v2 with replayed times) and the
direct path give exactly the same census, and the simulator's addresses enrich back to the
simulated countries and ASNs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from botcensus import enrich
from botcensus.measure import CensusQuery, census
from botcensus.simulate import Scenario, simulate
from botcensus.simulate.outputs import loopback_port, send_http, write_direct
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import connect, rollup, sightings_view

SENSOR = "simulated"


@pytest.fixture(scope="module")
def geo() -> enrich.GeoTable:
    return enrich.load_bundled()


def _census(dataset: Path, query: CensusQuery) -> list[dict[str, object]]:
    con = connect()
    return census(con, query, sightings_view(con, dataset)).to_pylist()


QUERIES = [
    CensusQuery(window="day", include_unclaimed=True, by=("family",)),
    CensusQuery(window="week", by=("country",)),
    CensusQuery(window="day", by=("asn",)),
]


@pytest.mark.slow
def test_http_and_direct_paths_give_the_same_census(
    tmp_path: Path, rustock: Scenario, geo: enrich.GeoTable
) -> None:
    sim = simulate(
        rustock,
        address_space=enrich.ipv4_ranges(geo),
        scale=0.0005,
        seed=11,
        start=dt.date(2011, 3, 16),
        end=dt.date(2011, 3, 17),
    )
    step = lambda t: enrich.enrich(t, geo)  # noqa: E731
    write_direct(sim, tmp_path / "direct", step, sensor=SENSOR)
    args = ["--listen", "127.0.0.1:0", "--proxy-protocol", "--replay"]
    env = {"BOTCENSUS_SINKHOLE__SENSOR": SENSOR}
    with SinkholeProcess(tmp_path / "http", args, workers=2, env=env) as sink:
        result = send_http(sim, sink.port)
    assert result.sent > 5_000
    assert result.answered == result.sent
    rollup(tmp_path / "http", step)
    for query in QUERIES:
        direct = _census(tmp_path / "direct", query)
        assert direct, query
        assert _census(tmp_path / "http", query) == direct, query


def test_simulated_addresses_enrich_back_to_their_country_and_asn(
    rustock: Scenario, geo: enrich.GeoTable
) -> None:
    sim = simulate(
        rustock, address_space=enrich.ipv4_ranges(geo), scale=0.001, seed=5,
        start=dt.date(2011, 3, 16), end=dt.date(2011, 3, 16),
    )  # fmt: skip
    intervals = pa.Table.from_batches(list(sim.address_intervals()))
    looked_up = enrich.lookup(geo, intervals["source_ip"])
    hosts = sim.truth().hosts.to_pylist()
    by_host = {h["host_id"]: (h["cc"], h["asn"]) for h in hosts}
    expected = [by_host.get(h) for h in intervals["host_id"].to_pylist()]
    got = list(
        zip(looked_up["source_cc"].to_pylist(), looked_up["source_asn"].to_pylist(), strict=True)
    )
    pairs = [(e, g) for e, g in zip(expected, got, strict=True) if e is not None]
    assert len(pairs) > 100
    assert all(e == g for e, g in pairs)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:80",
        "http://192.168.1.1:8080",
        "https://127.0.0.1:1",
        "http://example.org:80",
    ],
)
def test_simulated_traffic_goes_only_to_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="--via"):
        loopback_port(url)


def test_loopback_url_gives_its_port() -> None:
    assert loopback_port("http://127.0.0.1:8080") == 8080


# -- a sinkhole that does not take the replay headers (issue 9, item 10) -----------------------
@pytest.mark.slow
def test_replay_to_a_sinkhole_without_proxy_protocol_fails_at_once(
    tmp_path: Path, rustock: Scenario, geo: enrich.GeoTable
) -> None:
    from botcensus.simulate.replay import ReplayError

    sim = simulate(
        rustock, address_space=enrich.ipv4_ranges(geo), scale=0.0005, seed=11,
        start=dt.date(2011, 3, 16), end=dt.date(2011, 3, 16),
    )  # fmt: skip
    with (
        SinkholeProcess(tmp_path / "plain", ["--listen", "127.0.0.1:0"]) as sink,
        pytest.raises(ReplayError, match="--proxy-protocol --replay") as failed,
    ):
        send_http(sim, sink.port)
    assert "400" in str(failed.value)
    # It stopped at the first refusal instead of sending the whole run.
    assert failed.value.result.sent <= 64 * 256 * 2


def test_simulate_via_a_plain_sinkhole_exits_non_zero_with_the_fix(tmp_path: Path) -> None:
    import subprocess
    import sys

    with SinkholeProcess(tmp_path / "plain", ["--listen", "127.0.0.1:0"]) as sink:
        done = subprocess.run(
            [
                sys.executable, "-m", "botcensus", "simulate", "--scenario", "rustock-2011",
                "--scale", "0.0002", "--from", "2011-03-16", "--to", "2011-03-16",
                "--via", f"http://127.0.0.1:{sink.port}",
            ],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "--proxy-protocol --replay" in done.stderr
    assert "Traceback" not in done.stderr


def test_sinkhole_replay_without_proxy_protocol_says_what_it_lacks(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable, "-m", "botcensus", "sinkhole", "serve", "--data",
            str(tmp_path / "d"), "--listen", "127.0.0.1:0", "--replay",
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--replay" in done.stderr
    assert "--proxy-protocol" in done.stderr
    assert not (tmp_path / "d").exists()
