"""store/atomic.py: a file is replaced whole or not at all, privately, and only store writes
dataset files this way."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from botcensus.store import atomic

SRC = Path(__file__).parents[2] / "src" / "botcensus"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_json_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "state.json"
    atomic.write_json({"x": 1}, target)
    atomic.write_json({"x": 2}, target)
    assert target.read_text(encoding="utf-8") == '{\n "x": 2\n}'
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]
    assert _mode(target) == 0o600
    assert _mode(tmp_path / "a") == 0o700


def test_an_error_while_writing_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path,
) -> None:
    target = tmp_path / "x.txt"
    atomic.write_lines(["old"], target)

    def half_written() -> None:
        with atomic.replacing(target, "w") as out:
            out.write("half of the new")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        half_written()
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_a_stale_world_readable_temporary_is_not_reused_open(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    stale = atomic.temporary(target)
    stale.write_bytes(b"stale")
    os.chmod(stale, 0o666)  # noqa: S103 (the stale file whose bits must not be inherited)
    atomic.write_parquet(pa.table({"a": [1, 2]}), target)
    assert _mode(target) == 0o600
    assert pq.read_table(target).column("a").to_pylist() == [1, 2]


def test_a_pending_file_is_invisible_until_published(tmp_path: Path) -> None:
    target = tmp_path / "day" / "part.parquet"
    pending = atomic.Pending(target)
    pq.write_table(pa.table({"a": [1]}), pending.tmp)
    assert not target.exists()
    assert pending.tmp.name.startswith(".")  # readers list [!.]*.parquet only
    assert atomic.publish_all([pending]) == [target]
    assert not pending.tmp.exists()
    assert pq.read_table(target).num_rows == 1


def test_a_symlinked_temporary_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep", encoding="utf-8")
    target = tmp_path / "d" / "f.json"
    target.parent.mkdir()
    atomic.temporary(target).symlink_to(outside)
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        atomic.write_json({}, target)
    assert outside.read_text(encoding="utf-8") == "keep"


def test_clean_temporaries_removes_only_dot_temporaries(tmp_path: Path) -> None:
    (tmp_path / ".a.parquet.tmp").write_bytes(b"")
    (tmp_path / "b.parquet").write_bytes(b"")
    assert atomic.clean_temporaries([tmp_path], "*.parquet") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["b.parquet"]


# Files allowed to fsync or rename on their own: the atomic module, and the sinkhole's own
# write-ahead log and run file (capture/: a log appended to and fsynced, not replaced).
ALLOWED = {"store/atomic.py"}
ALLOWED_DIRS = {"capture"}


def _renames_or_fsyncs(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            owner = node.func.value
            on_os = isinstance(owner, ast.Name) and owner.id == "os"
            if (on_os and name in {"fsync", "rename", "replace"}) or (
                name == "replace"
                and len(node.args) == 1
                and not node.keywords
                and not isinstance(owner, ast.Constant)
                and not (isinstance(owner, ast.Name) and owner.id in {"str", "text", "value"})
            ):
                lines.append(node.lineno)
    return lines


def test_only_store_atomic_fsyncs_and_renames_files() -> None:
    found = {}
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).as_posix()
        if relative in ALLOWED or relative.split("/")[0] in ALLOWED_DIRS:
            continue
        lines = _renames_or_fsyncs(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[relative] = lines
    # str.replace(old, new) takes two arguments; Path.replace(target) one.
    assert found == {}
