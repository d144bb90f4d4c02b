"""Tables of a results document (bench/heldout): one row per population and dataset,
medians over seeds; the pooled rows of the set last."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _survival(runs: Sequence[dict[str, Any]], day: str) -> str:
    """Median |estimate - truth| over runs, with how the figure was supported; bounds that
    hold the truth in k of n runs where there is no estimate."""
    errors, supports, bounds = [], [], []
    for r in runs:
        est, true = r["surv_est"].get(day), r["surv_true"][day]
        support = (r.get("surv_support") or {}).get(day, "none")
        supports.append(support)
        if est is not None:
            errors.append(abs(est - true))
        else:
            lo, hi = (r.get("surv_bounds") or {}).get(day, [None, None])
            if lo is not None and hi is not None:
                bounds.append(lo <= true <= hi)
    kinds = "/".join(sorted(set(supports)))
    text = _num(_median(errors)) if errors else "n.s."
    if bounds:
        text += f" (bounds hold {sum(bounds)}/{len(bounds)})"
    return f"{text} [{kinds}]"


def _decay(runs: Sequence[dict[str, Any]]) -> str:
    """Median decay error over runs with a rate, and in how many its interval held the true
    rate; where the decay was not supported, n.s. and in how many runs its lower bound held
    the true rate, of those that gave one (a rate of a few hundred addresses can have none:
    its interval reaches 0)."""
    text = _pct(_median(r["decay_error"] for r in runs))
    inside = [r["decay_interval_holds"] for r in runs if r.get("decay_interval_holds") is not None]
    if inside:  # results written before the intervals were scored have none
        text += f" (interval holds {sum(inside)}/{len(inside)})"
    bounds = [r for r in runs if r.get("decay_support") == "bounds"]
    if bounds:
        rated = any(r.get("decay_error") is not None for r in runs)
        held = [r["decay_bound_holds"] for r in bounds if r.get("decay_lower") is not None]
        parts = [f"n.s. in {len(bounds)}"]
        if held:
            parts.append(f"lower bound holds {sum(bool(h) for h in held)}/{len(held)}")
        if len(held) < len(bounds):
            parts.append(f"no lower bound in {len(bounds) - len(held)}")
        text = (text if rated else "n.s.") + f" ({'; '.join(parts)})"
    return text


def _hazard(runs: Sequence[dict[str, Any]]) -> str:
    told = [r for r in runs if r.get("hr_true") is not None]
    if not told:
        return "-"
    errors = [r["hr_error"] for r in told if r.get("hr_error") is not None]
    supports = "/".join(sorted({str(r.get("hr_support")) for r in told}))
    inside = [
        r["hr_interval"][0] <= r["hr_true"] <= r["hr_interval"][1]
        for r in told
        if r.get("hr_est") is None and r.get("hr_interval") and None not in r["hr_interval"]
    ]
    text = _num(_median(errors)) if errors else "n.s."
    if inside:
        text += f" (bounds hold {sum(inside)}/{len(inside)})"
    return f"{text} [{supports}]"


def _width(runs: Sequence[dict[str, Any]]) -> str:
    """The median hi / lo of the rows with only bounds (complete weeks), as `xN.N`."""
    ratios = [w["hi"] / w["lo"] for r in runs for w in r.get("weeks", [])
              if w.get("est") is None and w.get("days") == 7 and w.get("lo")]  # fmt: skip
    return f"; hi/lo x{statistics.median(ratios):.1f}" if ratios else ""


def row(name: str, runs: Sequence[dict[str, Any]]) -> list[str]:
    inside = sum(r["inside"] for r in runs)
    checked = sum(r["checked"] for r in runs)
    none = sum(r["not_supported"] for r in runs)
    held = sum(r["not_supported_bounds_hold"] for r in runs)
    rows = sum(r["rows"] for r in runs)
    return [
        name,
        str(len(runs)),
        _pct(_median(r["raw_ip"] for r in runs)),
        _pct(_median(r["median_error_global"] for r in runs)),
        _pct(_median(r["median_error_country"] for r in runs)),
        f"{_pct(inside / checked) if checked else '-'} ({inside}/{checked})",
        f"{none}/{rows}" + (f" (bounds hold {held}{_width(runs)})" if none else ""),
        _decay(runs),
        _survival(runs, "28"),
        _survival(runs, "56"),
        _hazard(runs),
        _num(_median(r.get("hr_true") for r in runs)),
    ]


HEADER = [
    "population", "runs", "raw IPs", "hosts, global", "hosts, per country",
    "90% coverage", "not supported (rows)", "decay err", "S(28) err", "S(56) err",
    "HR err", "HR perfect observer",
]  # fmt: skip


def _changed(document: dict[str, Any]) -> str:
    """What the table's first line says of changes to measure/ since the freeze."""
    if not document.get("changed_since"):
        return ""
    files = document.get("changed_files") or []
    named = f": {', '.join(f.removeprefix('src/botcensus/') for f in files)}" if files else ""
    return f" (measure/ changed since the freeze{named}; figures for the frozen commit)"


def merge(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One document from the results of parallel runs (`--only`) of one set and commit."""
    first = documents[0]
    for other in documents[1:]:
        for key in ("set", "commit"):
            if other.get(key) != first.get(key):
                raise ValueError(f"results of different {key}s: {first.get(key)}, {other.get(key)}")
    merged = {**first, "results": [r for d in documents for r in d["results"]]}
    merged["changed_since"] = any(d.get("changed_since") for d in documents)
    merged["changed_files"] = sorted({f for d in documents for f in d.get("changed_files") or []})
    merged["wall_seconds"] = max(d.get("wall_seconds") or 0 for d in documents)
    return merged


def markdown(document: dict[str, Any]) -> str:
    results = document["results"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["population"], r["dataset"]), []).append(r)
    lines = [
        f"{document['set']} set, commit {str(document.get('commit'))[:12]}" + _changed(document),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    for (pop, dataset), runs in groups.items():
        name = pop if dataset == "dataset" else f"{pop} (with ids)"
        lines.append("| " + " | ".join(row(name, runs)) + " |")
    plain = [r for r in results if r["dataset"] == "dataset"]
    if len(groups) > 1:
        lines.append("| " + " | ".join(row("all, without ids", plain)) + " |")
    return "\n".join(lines)
