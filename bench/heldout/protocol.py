"""Freezing the estimator before an evaluation: its constants and the commit they belong to.

`freeze` records, in bench/heldout/frozen.json, the commit, the git tree of
src/botcensus/measure at that commit, and every constant of the estimator (module-level
UPPER_CASE names bound to literals, and literal defaults of dataclass fields) read from the
commit's own files. A held-out evaluation runs that commit's code (an export of its src/),
whatever the working tree holds, and says so when the estimator has changed since."""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FROZEN = Path(__file__).with_name("frozen.json")
MEASURE = "src/botcensus/measure"


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def constants_of(module: str, text: str) -> list[dict[str, Any]]:
    """The constants of one module's source: module-level UPPER_CASE names bound to
    literals, and literal defaults of fields of classes (NAME: type = literal)."""
    out: list[dict[str, Any]] = []
    for node in ast.parse(text).body:
        targets: list[tuple[str, ast.expr | None]] = []
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets.append((node.target.id, node.value))
        elif isinstance(node, ast.Assign):
            targets += [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    value = None if item.value is None else _literal(item.value)
                    if value is not None:
                        out.append({"module": module, "name": f"{node.name}.{item.target.id}",
                                    "value": value})  # fmt: skip
        for name, expr in targets:
            if name.isupper() and expr is not None:
                value = _literal(expr)
                if value is not None:
                    out.append({"module": module, "name": name, "value": value})
    return out


def constants_at(commit: str | None) -> list[dict[str, Any]]:
    """Every estimator constant at `commit` (None: the working tree)."""
    files: dict[str, str] = {}
    if commit is None:
        for path in sorted((ROOT / MEASURE).rglob("*.py")):
            files[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    else:
        for name in git("ls-tree", "-r", "--name-only", commit, MEASURE).splitlines():
            if name.endswith(".py"):
                files[name] = git("show", f"{commit}:{name}")
    out: list[dict[str, Any]] = []
    for name, text in sorted(files.items()):
        module = name.removeprefix("src/").removesuffix(".py").replace("/", ".")
        out += constants_of(module.removesuffix(".__init__"), text)
    return out


def freeze(
    commit: str, development: list[dict[str, Any]], held_out: list[dict[str, Any]]
) -> dict[str, Any]:
    """Write FROZEN for `commit` (its measure/ must hold no uncommitted change if it is
    HEAD) and return it."""
    sha = git("rev-parse", "--verify", f"{commit}^{{commit}}")
    if sha == git("rev-parse", "HEAD") and git("status", "--porcelain", "--", MEASURE):
        raise RuntimeError(f"{MEASURE} has uncommitted changes: commit them before freezing")
    record = {
        "frozen_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": sha,
        "measure_tree": git("rev-parse", f"{sha}:{MEASURE}"),
        "development": development,
        "held_out": held_out,
        "constants": constants_at(sha),
    }
    FROZEN.write_text(json.dumps(record, indent=1) + "\n")
    return record


def load_frozen(path: Path = FROZEN) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: nothing frozen yet (python -m bench.heldout freeze)")
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def changed_since(record: dict[str, Any]) -> bool:
    """The working tree's estimator differs from the frozen one."""
    head = git("rev-parse", f"HEAD:{MEASURE}")
    return head != record["measure_tree"] or bool(git("status", "--porcelain", "--", MEASURE))


def changed_files(record: dict[str, Any]) -> list[str]:
    """The files under measure/ that differ between the frozen commit and the working tree
    (committed or not): what "changed since" is about."""
    committed = git("diff", "--name-only", record["commit"], "--", MEASURE).splitlines()
    return sorted({*committed, *(line[3:] for line in git(
        "status", "--porcelain", "--", MEASURE).splitlines())})  # fmt: skip


def export_src(commit: str, into: Path) -> Path:
    """src/ of `commit` exported into `into` (once); the directory to put on PYTHONPATH.
    Parallel runs (`--only`) may export at the same moment: each extracts into a directory
    of its own, and the first rename wins."""
    target = into / f"src-{commit[:12]}"
    if not (target / "botcensus").is_dir():
        data = subprocess.run(
            ["git", "archive", "--format=tar", commit, "src"], cwd=ROOT, capture_output=True,
            check=True,
        ).stdout  # fmt: skip
        into.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=into))
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(scratch, filter="data")
            try:
                (scratch / "src").rename(target)
            except OSError:
                if not (target / "botcensus").is_dir():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target
