"""The outbox: every report's files in a folder per recipient address, for recipients who
pull them (SFTP, the web stage) as well as for the record. Files are the owner's only (0600),
written under a temporary name and renamed, so a reader never sees half a file.

Files are not fsynced one by one (that was a fifth of a day's run): the journal keeps each
mail's SHA-256, and a file that a power cut left empty or short does not match it and is
built again before anything is sent (run.render_pending)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Final

from botcensus.store.atomic import open_private, private_dir

OUTBOX_DIR: Final = "outbox"
_UNSAFE: Final = re.compile(r"[^a-z0-9._@+-]+")


def folder_name(address: str) -> str:
    """A recipient's folder: the address in lower case when it is made of letters, digits
    and `._@+-` only (nearly every address); else those characters with the others as '_'
    and a digest of the whole address, so that two addresses never share a folder (`a!b@x`
    and `a#b@x` would both be `a_b@x`, and one recipient would be served the other's data).
    Never a path of its own (no '/', no leading '.')."""
    lower = address.lower()
    name = _UNSAFE.sub("_", lower)
    if name == lower and not name.startswith(".") and 0 < len(name) <= 200:
        return name
    digest = hashlib.sha256(lower.encode()).hexdigest()[:16]
    return f"{name.lstrip('._')[:180]}_{digest}".lstrip("._")


def recipient_dir(data_dir: Path, address: str) -> Path:
    return data_dir / "notify" / OUTBOX_DIR / folder_name(address)


def write_file(folder: Path, name: str, data: bytes) -> Path:
    """Replace folder/name with `data`: temporary name, then rename."""
    if "/" in name or name.startswith("."):
        raise ValueError(f"not a file name: {name!r}")
    private_dir(folder)
    target = folder / name
    tmp = folder / f".{name}.tmp"
    fd = open_private(tmp)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        tmp.replace(target)
    except OSError:
        with contextlib.suppress(OSError):  # a full disk leaves no half-written temporary
            tmp.unlink()
        raise
    return target
