"""The outbox: every report's files in a folder per recipient address, for recipients who
pull them (SFTP, the web stage) as well as for the record. Files are the owner's only (0600),
written under a temporary name and renamed, so a reader never sees half a file.

Each file is fsynced before its rename (store.atomic), the folder is not: a power cut may
lose a rename, and the journal keeps each mail's SHA-256, so a file that is missing or does
not match is built again before anything is sent (run.render_pending), and never sent as it
is (deliver checks the hash)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Final

from botcensus.store.atomic import Pending, open_private, private_dir

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
    """Replace folder/name with `data`: written under a temporary name, fsynced and renamed
    by store.atomic (the folder is not fsynced per file; see the module's docstring)."""
    if "/" in name or name.startswith("."):
        raise ValueError(f"not a file name: {name!r}")
    private_dir(folder)
    pending = Pending(folder / name)
    try:
        fd = open_private(pending.tmp)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        return pending.publish(sync_dir=False)
    except OSError:
        with contextlib.suppress(OSError):  # a full disk leaves no half-written temporary
            pending.discard()
        raise
