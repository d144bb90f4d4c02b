"""The layering is checked, not only written: the import contract in pyproject.toml holds, a
stage importing a later one breaks it, and docs/architecture.md shows the same layers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _contract(contract_id: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["id"] == contract_id)


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT), "--no-cache", str(root / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("importer", "imported", "message"),
    [
        # store reads nothing above it; measure computes, report renders; siblings stay apart
        ("store/layout.py", "botcensus.measure", "botcensus.store is not allowed to import"),
        ("measure/census.py", "botcensus.report", "botcensus.measure is not allowed to import"),
        ("capture/reply.py", "botcensus.feeds", "botcensus.capture is not allowed to import"),
        # only the demo and the CLI drive the simulator
        (
            "enrich/lookup.py",
            "botcensus.simulate",
            "- botcensus.enrich.lookup -> botcensus.simulate",
        ),
        # feeds stand on store: allowed
        ("feeds/mapping.py", "botcensus.store.sightings", None),
    ],
)
def test_a_stage_importing_a_later_one_breaks_the_contract(
    tmp_path: Path, importer: str, imported: str, message: str | None
) -> None:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    module = tmp_path / "src" / "botcensus" / importer
    with module.open("a", encoding="utf-8") as out:
        out.write(f"\nimport {imported}  # noqa\n")
    result = _lint(tmp_path)
    if message is None:
        assert result.returncode == 0, result.stdout
    else:
        assert result.returncode == 1, result.stdout
        assert message in result.stdout


def _documented_layers() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("<!-- layers: from pyproject.toml -->", 1)[1].split("```")[1]
    return [line.strip() for line in block.strip("\n").splitlines() if line.strip()]


def test_the_architecture_document_shows_the_contracts_layers() -> None:
    layers = _contract("stages")["layers"]
    assert isinstance(layers, list)
    assert _documented_layers() == [re.sub(r"\s+", " ", str(layer)) for layer in layers]


def test_every_package_is_in_a_layer() -> None:
    named = {
        name.strip().strip("()")
        for layer in _contract("stages")["layers"]  # type: ignore[union-attr]
        for name in re.split(r"[|:]", str(layer))
    }
    present = {
        p.stem if p.is_file() else p.name
        for p in (ROOT / "src" / "botcensus").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert present <= named
