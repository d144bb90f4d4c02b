"""The web stage's own database (SQLite in the data directory): access tokens, stored
hashed; the audit log of IP-level fetches; the pseudonym keys. Nothing else lives here.

`DIR/web/web.sqlite`, mode 0600 in a 0700 directory: it holds token hashes and the
pseudonym keys, which are as sensitive as the addresses they stand for.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Final

WEB_DIR: Final = "web"
DB_FILE: Final = "web.sqlite"
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('owner', 'operator')),
    label TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL,
    scope TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    token_id TEXT,
    role TEXT,
    label TEXT,
    action TEXT NOT NULL,
    path TEXT,
    query TEXT,
    status INTEGER,
    addresses INTEGER,
    client TEXT
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
CREATE TABLE IF NOT EXISTS pseudonym_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    retired TEXT,
    secret BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_READY: set[Path] = set()
"""Databases whose tables this process has created (or found)."""


class WebDbError(RuntimeError):
    """The web database cannot be opened or written; the message names the file."""


def db_path(dataset: Path) -> Path:
    return dataset / WEB_DIR / DB_FILE


def _private_parent(path: Path) -> None:
    parent = path.parent
    if parent.is_symlink():
        raise WebDbError(f"{parent}: a symlink; the web database is not kept through it")
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.close(fd)
    if path.is_symlink():
        raise WebDbError(f"{path}: a symlink; the web database is not opened through it")


@contextlib.contextmanager
def connect(dataset: Path, *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection in one transaction (committed on success, rolled back on error; `write`
    takes the write lock at once). The database is created on first use."""
    path = db_path(dataset)
    try:
        _private_parent(path)
        con = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise WebDbError(f"{path}: cannot open the web database: {exc}") from exc
    try:
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA foreign_keys = ON")
        if path not in _READY:
            con.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            con.execute("COMMIT")
            _READY.add(path)
        con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        yield con
        con.execute("COMMIT")
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):
            con.execute("ROLLBACK")
        raise WebDbError(f"{path}: {exc}") from exc
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
