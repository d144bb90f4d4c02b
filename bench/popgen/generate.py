"""One population end to end: draw it, write its reports and its ground truth."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .addresses import Addressed, address_text, resolve
from .check import validate
from .checkins import CheckIns, draw_checkins
from .infection import draw_episodes
from .leases import draw_leases
from .params import Params, to_dict
from .population import Population, build_population
from .reports import Rows, aggregate, recorded_mask, write_intelmq, write_reports
from .summary import summarise
from .truth import campaign_table, counts, episodes_table, machines_table
from .usage import draw_sessions

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Result:
    """Where things were written, and the summary (also in truth/summary.json)."""

    out: Path
    reports: list[Path]
    id_reports: list[Path]
    summary: dict[str, Any]


def _bot_ids(pop: Population, seed: int) -> list[str]:
    rng = np.random.default_rng([seed, 0xB07])
    raw = rng.integers(0, 2**63 - 1, pop.n_machines)
    return [f"{int(r):016X}" if has else "" for r, has in zip(raw, pop.m_has_id, strict=True)]


def _rows(pop: Population, ci: CheckIns, addr: Addressed, text: pa.Array, idx: I64,
          ids: list[str] | None) -> Rows:  # fmt: skip
    machine = ci.machine[idx]
    net = pop.m_net[machine]
    bot = pa.nulls(len(idx), pa.string())
    if ids is not None:
        bot = pa.array([i or None for i in ids], pa.string()).take(pa.array(machine))
    cc = pa.array(pop.net.cc).take(pa.array(net))
    return Rows(ci.time[idx], addr.v6[idx], text.take(pa.array(addr.addr_id[idx])),
                addr.port[idx], pop.net.asn[net], cc, bot)  # fmt: skip


def _save(table: pa.Table, path: Path, csv: bool) -> None:
    pq.write_table(table, path.with_suffix(".parquet"), compression="zstd")
    if csv:
        pacsv.write_csv(table, path.with_suffix(".csv"))


def generate(params: Params, seed: int, out: Path, *, write_checkins: bool = True) -> Result:
    """Draw the population of `params` with `seed`; write out/reports (Shadowserver CSV),
    out/reports-ids (IntelMQ JSON lines, if report.ids_share > 0), out/truth, out/params.json.
    `out` must be new or empty: nothing is overwritten."""
    validate(params)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} is not an empty directory: choose a new one")
    clock = time.perf_counter()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    pop = build_population(params, streams[0])
    ep = draw_episodes(params, pop, streams[1])
    sessions = draw_sessions(params, pop, streams[2])
    ci = draw_checkins(params, pop, sessions, ep, streams[3])
    leases = draw_leases(params, pop, sessions, streams[4])
    addr = resolve(params, pop, sessions, leases, ci, seed, streams[5])
    drawn = time.perf_counter() - clock

    text = address_text(addr)
    recorded = np.flatnonzero(recorded_mask(params, ci.time))
    none = np.full(len(recorded), -1, dtype=np.int64)
    args = (ci.time[recorded], addr.addr_id[recorded])
    shown = recorded[aggregate(params, *args, none)]
    out.mkdir(parents=True, exist_ok=True)
    rows = _rows(pop, ci, addr, text, shown, None)
    reports = write_reports(params, rows, out / "reports", seed)
    ids = _bot_ids(pop, seed)
    id_reports: list[Path] = []
    if params.report.ids_share > 0:
        bot = np.where(pop.m_has_id[ci.machine[recorded]], ci.machine[recorded], -1)
        with_ids = recorded[aggregate(params, *args, bot)]
        rows = _rows(pop, ci, addr, text, with_ids, ids)
        id_reports = write_intelmq(params, rows, out / "reports-ids", seed)
    written = time.perf_counter() - clock - drawn

    truth = out / "truth"
    truth.mkdir(exist_ok=True)
    seen = pa.table({"machine": ci.machine[recorded], "time": ci.time[recorded],
                     "addr": addr.addr_id[recorded]})  # fmt: skip
    reported = pa.table({"machine": ci.machine[shown], "time": ci.time[shown]})
    daily, weekly = counts(params, pop, ep, seen, reported)
    machines = machines_table(params, pop, ep, ids)
    for name, table in (("machines", machines), ("episodes", episodes_table(params, ep)),
                        ("daily", daily), ("weekly", weekly),
                        ("campaign", campaign_table(params, pop))):  # fmt: skip
        _save(table, truth / name, csv=True)
    pacsv.write_csv(
        campaign_table(params, pop).select(["asn", "notified", "day"]),
        truth / "campaign-notified.csv",
    )
    if write_checkins:
        rec = np.zeros(len(ci.time), dtype=bool)
        rec[recorded] = True
        rep = np.zeros(len(ci.time), dtype=bool)
        rep[shown] = True
        ip = text.take(pa.array(addr.addr_id))
        pq.write_table(
            pa.table({"machine_id": ci.machine, "time": ci.time, "ip": ip,
                      "port": addr.port, "recorded": rec, "reported": rep}),
            truth / "checkins.parquet", compression="zstd",
        )  # fmt: skip
    summary = summarise(params, seed, pop, ep, ci, addr, recorded, shown)
    summary["seconds"] = {
        "draw": round(drawn, 2),
        "write_reports": round(written, 2),
        "truth": round(time.perf_counter() - clock - drawn - written, 2),
    }
    summary["files"] = {"reports": len(reports), "id_reports": len(id_reports)}
    (out / "params.json").write_text(json.dumps(to_dict(params), indent=1) + "\n")
    (truth / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return Result(out, reports, id_reports, summary)
