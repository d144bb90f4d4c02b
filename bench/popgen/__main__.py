"""Command line: python -m bench.popgen list | show | generate | run (see README.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .check import validate
from .driver import ok, run
from .generate import generate
from .params import Params, load, override, to_dict
from .presets import PRESETS, preset


def _params(args: argparse.Namespace) -> Params:
    base = load(Path(args.config)) if args.config else preset(args.preset)
    params = override(base, args.set or [])
    validate(params)
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.popgen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the presets")
    for name in ("show", "generate", "run"):
        p = sub.add_parser(name)
        p.add_argument("--preset", default="b-harsh", choices=sorted(PRESETS))
        p.add_argument("--config", help="a TOML or JSON parameter file (instead of --preset)")
        example = "e.g. n_machines=2000 or report.aggregate=hour"
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help=f"override; {example}")
        if name != "show":
            p.add_argument("--seed", type=int, default=1)
            p.add_argument("--out", type=Path, required=True)
            skip = "do not write truth/checkins.parquet (one row per connection)"
            p.add_argument("--no-checkins", action="store_true", help=skip)
        if name == "run":
            p.add_argument("--botcensus", help="botcensus executable (default: beside python)")
            p.add_argument("--no-ids", action="store_true", help="skip the dataset with bot ids")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, build in PRESETS.items():
            params = build()
            print(f"{name:10} family {params.family}  {params.n_machines} machines, "
                  f"{params.days} days, rows per {params.report.aggregate}")  # fmt: skip
        return 0
    try:
        params = _params(args)
    except (ValueError, KeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "show":
        print(json.dumps(to_dict(params), indent=1))
        return 0
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        print(f"error: {args.out} is not an empty directory: choose a new one", file=sys.stderr)
        return 2
    try:
        if args.command == "generate":
            result = generate(params, args.seed, args.out, write_checkins=not args.no_checkins)
            print(json.dumps(result.summary, indent=1))
            return 0
        result, report = run(params, args.seed, args.out, ids=not args.no_ids,
                             checkins=not args.no_checkins, botcensus=args.botcensus)  # fmt: skip
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"summary": result.summary, "ingest": report}, indent=1))
    return 0 if ok(report) else 1


if __name__ == "__main__":
    sys.exit(main())
