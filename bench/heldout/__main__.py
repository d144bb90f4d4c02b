"""python -m bench.heldout constants | freeze | dev | heldout | table | score | household
(README.md)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.popgen import override, preset, validate
from bench.popgen.driver import ok, run

from . import household
from .protocol import (
    FROZEN,
    changed_files,
    changed_since,
    constants_at,
    export_src,
    freeze,
    git,
    load_frozen,
)
from .report import markdown, merge
from .run import evaluate
from .score import MIN_COUNTRY_ACTIVE
from .sets import DEVELOPMENT, HELD_OUT, Population


def _generate(pop: Population, seed: int, work: Path) -> Path:
    """The population's directory under `work`, generated and ingested unless it is there."""
    out = work / f"{pop.name}-s{seed}"
    if (out / "ingest.json").exists():
        return out
    params = override(preset(pop.preset), list(pop.sets))
    validate(params)
    _, report = run(params, seed, out, ids=seed in pop.ids_seeds, checkins=False)
    if not ok(report):
        raise RuntimeError(f"{out}: ingest failed: {json.dumps(report)}")
    return out


REPORT_DIRS = ("reports", "reports-ids")
"""What popgen wrote for `botcensus ingest` to read: regenerated from the seed if needed."""


def drop_reports(out: Path) -> int:
    """Delete a scored population's report files (REPORT_DIRS), keeping its datasets, truth
    and scores; say so on stdout. Returns the bytes freed. A full-size population with ids
    writes about 4 GB of them, and a set of seventeen filled the disk once."""
    freed = 0
    for name in REPORT_DIRS:
        folder = out / name
        if not folder.is_dir():
            continue
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        shutil.rmtree(folder)
        freed += size
        print(f"{folder}: report files deleted ({size / 1e6:,.0f} MB; --drop-reports)",
              flush=True)  # fmt: skip
    return freed


def _evaluate(
    pops: tuple[Population, ...] | list[Population],
    work: Path,
    source: Path | None,
    label: str,
    *,
    drop: bool = False,
) -> list[dict[str, Any]]:
    results = []
    for pop in pops:
        for seed in pop.seeds:
            clock = time.perf_counter()
            out = _generate(pop, seed, work)
            datasets = ["dataset"] + (["dataset-ids"] if (out / "dataset-ids").is_dir() else [])
            for dataset in datasets:
                score, got = evaluate(out, dataset, source)
                row = score.as_dict() | {
                    "population": pop.name,
                    "dataset": dataset,
                    "set": label,
                    "census_notes": got["notes"],
                    "cleanup_notes": got["cleanup"].get("notes", []),
                    "seconds": round(time.perf_counter() - clock, 1),
                }
                (out / f"score-{dataset}-{label}.json").write_text(json.dumps(row, indent=1))
                results.append(row)
                print(f"{pop.name} seed {seed} {dataset}: done in {row['seconds']} s", flush=True)
            if drop:
                drop_reports(out)
    return results


def collect(which: str, work: Path) -> dict[str, Any]:
    """The results document of a set from the per-population scores in `work` (those
    present, in the set's order); the header as `dev` / `heldout` would write it."""
    if which == "dev":
        label = "development"
        header: dict[str, Any] = {"commit": git("rev-parse", "HEAD"), "dirty": bool(
            git("status", "--porcelain", "--", "src/botcensus/measure"))}  # fmt: skip
        pops = [p.as_dict() for p in DEVELOPMENT]
    else:
        label = "held-out"
        record = load_frozen()
        header = {"commit": record["commit"], "frozen_at": record["frozen_at"],
                  "changed_since": changed_since(record),
                  "changed_files": changed_files(record)}  # fmt: skip
        pops = record["held_out"]
    results = []
    for pop in pops:
        for seed in pop["seeds"]:
            for dataset in ("dataset", "dataset-ids"):
                path = work / f"{pop['label']}-s{seed}" / f"score-{dataset}-{label}.json"
                if path.exists():
                    results.append(json.loads(path.read_text()))
    return {**header, "set": label, "collected": True, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.heldout", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("constants", help="print the estimator's constants (working tree)")
    f = sub.add_parser("freeze", help="record the constants and commit in frozen.json")
    f.add_argument("--commit", default="HEAD")
    for name in ("dev", "heldout"):
        p = sub.add_parser(name)
        p.add_argument("--work", type=Path, required=True, help="populations go here")
        p.add_argument("--out", type=Path, default=None, help="results JSON (default: in WORK)")
        p.add_argument("--only", action="append", default=[], metavar="LABEL",
                       help="only these populations of the set (repeat; for parallel runs "
                       "into one WORK, merged by `table`)")  # fmt: skip
        p.add_argument("--drop-reports", action="store_true",
                       help="delete each population's report files once it is scored "
                       "(about 4 GB for a full-size population with ids; datasets, truth "
                       "and scores are kept)")  # fmt: skip
    c = sub.add_parser("collect", help="a results JSON from the scores an interrupted or "
                       "parallel run left in WORK")  # fmt: skip
    c.add_argument("set", choices=["dev", "heldout"])
    c.add_argument("--work", type=Path, required=True)
    t = sub.add_parser("table", help="print the tables of results JSON files (merged)")
    t.add_argument("results", type=Path, nargs="+")
    s = sub.add_parser("score", help="score populations already generated and ingested "
                       "(RUN: a popgen run directory) with the working tree's or SRC's "
                       "botcensus: a development check, not a set")  # fmt: skip
    s.add_argument("runs", type=Path, nargs="+", metavar="RUN")
    s.add_argument("--src", type=Path, default=None, help="a src/ directory (default: installed)")
    s.add_argument("--min-country", type=int, default=MIN_COUNTRY_ACTIVE,
                   help="true machines a country needs in a week to be scored in it "
                   f"(default {MIN_COUNTRY_ACTIVE}; 1 for small populations)")  # fmt: skip
    s.add_argument("--json", type=Path, default=None,
                   help="also write every score, its weeks included, to this file")  # fmt: skip
    h = sub.add_parser("household", help="post hoc: scored weekly estimates with a household "
                       "factor that shrinks with the lines left (household.py)")  # fmt: skip
    h.add_argument("results", type=Path, nargs="+", help="results JSON or score files")
    h.add_argument("--m0", type=float, default=household.M0)
    args = parser.parse_args(argv)
    if args.command == "constants":
        print(json.dumps(constants_at(None), indent=1))
        return 0
    if args.command == "freeze":
        record = freeze(args.commit, [p.as_dict() for p in DEVELOPMENT],
                        [p.as_dict() for p in HELD_OUT])  # fmt: skip
        print(f"frozen {record['commit']} ({len(record['constants'])} constants) in {FROZEN}")
        return 0
    if args.command == "household":
        for path in args.results:
            document = json.loads(path.read_text())
            print("\n".join(household.lines(document.get("results", [document]), args.m0)))
        return 0
    if args.command == "score":
        rows = []
        for out in args.runs:
            for dataset in ("dataset", "dataset-ids"):
                if (out / dataset).is_dir():
                    score, _ = evaluate(out, dataset, args.src, args.min_country)
                    rows.append(score.as_dict() | {"population": out.name, "dataset": dataset})
        document = {"set": "scored", "commit": str(args.src or "installed"), "results": rows}
        if args.json is not None:
            args.json.write_text(json.dumps(document, indent=1, default=str) + "\n")
        print(markdown(document))
        return 0
    if args.command == "table":
        print(markdown(merge([json.loads(path.read_text()) for path in args.results])))
        return 0
    if args.command == "collect":
        document = collect(args.set, args.work)
        out = args.work / f"results-{document['set']}.json"
        out.write_text(json.dumps(document, indent=1, default=str) + "\n")
        print(markdown(document))
        print(f"results: {out} ({len(document['results'])} scores)")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    if args.command == "dev":
        label, source = "development", None
        header: dict[str, Any] = {"commit": git("rev-parse", "HEAD"), "dirty": bool(
            git("status", "--porcelain", "--", "src/botcensus/measure"))}  # fmt: skip
        pops: tuple[Population, ...] = DEVELOPMENT
    else:
        record = load_frozen()
        label = "held-out"
        source = export_src(record["commit"], args.work)
        header = {"commit": record["commit"], "frozen_at": record["frozen_at"],
                  "changed_since": changed_since(record),
                  "changed_files": changed_files(record)}  # fmt: skip
        if header["changed_since"]:
            print(f"note: measure/ has changed since {record['commit'][:12]} was frozen "
                  f"({', '.join(header['changed_files'])}); these results are for the frozen "
                  "commit", file=sys.stderr)  # fmt: skip
        pops = tuple(
            Population(
                p["preset"], tuple(p["seeds"]), tuple(p["sets"]), p["label"], tuple(p["ids_seeds"])
            )
            for p in record["held_out"]
        )
    if args.only:
        unknown = set(args.only) - {p.name for p in pops}
        if unknown:
            parser.error(f"--only: no population {', '.join(sorted(unknown))} in the {label} set")
        pops = tuple(p for p in pops if p.name in args.only)
    results = _evaluate(pops, args.work, source, label, drop=args.drop_reports)
    document = {**header, "set": label, "wall_seconds": round(time.perf_counter() - clock),
                "results": results}  # fmt: skip
    suffix = "".join(f"-{name}" for name in args.only)
    out = args.out or args.work / f"results-{label}{suffix}.json"
    out.write_text(json.dumps(document, indent=1, default=str) + "\n")
    print(markdown(document))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
