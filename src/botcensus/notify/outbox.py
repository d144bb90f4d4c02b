"""The outbox: every report's files in a folder per recipient address, for recipients who
pull them (SFTP, the web stage) as well as for the record. Files are the owner's only (0600),
written under a temporary name and renamed, so a reader never sees half a file.

Files are not fsynced one by one (that was a fifth of a day's run): the journal keeps each
mail's SHA-256, and a file that a power cut left empty or short does not match it and is
built again before anything is sent (run.render_pending)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from botcensus.store.atomic import write_bytes

OUTBOX_DIR: Final = "outbox"
_UNSAFE: Final = re.compile(r"[^a-z0-9._@+-]+")


def folder_name(address: str) -> str:
    """A recipient's folder: the address in lower case, other characters as '_'; never a
    path of its own (no '/', no leading '.')."""
    name = _UNSAFE.sub("_", address.lower()).lstrip(".")[:200]
    return name or "_"


def recipient_dir(data_dir: Path, address: str) -> Path:
    return data_dir / "notify" / OUTBOX_DIR / folder_name(address)


def write_file(folder: Path, name: str, data: bytes) -> Path:
    """Replace folder/name with `data`: temporary name, then rename; no fsync (the journal's
    content hash decides whether a file is the one planned, and it is rebuilt if not)."""
    if "/" in name or name.startswith("."):
        raise ValueError(f"not a file name: {name!r}")
    target = folder / name
    write_bytes(data, target, durable=False)
    return target
