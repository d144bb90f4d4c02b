"""A small real filesystem for disk-full and read-only episodes: a tmpfs the test mounts and
removes itself (root only; skipped otherwise, except under CI=true, where it fails)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _is_readonly(path: Path) -> bool:
    """Whether writes through `path` fail (EROFS)."""
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


class SmallDisk:
    """A tmpfs of `size` bytes at `root`, with ways to fill it and to make part of it read-only."""

    def __init__(self, root: Path, size: int) -> None:
        self.root = root
        self.size = size
        self._filler = root / ".filler"
        self._readonly: list[Path] = []

    def fill(self) -> int:
        """Take every free byte (ENOSPC for everyone else); returns the bytes taken."""
        taken = 0
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = b"\0" * 65536
            for size in (65536, 4096, 512, 1):
                try:
                    while True:
                        taken += os.write(fd, chunk[:size])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)
        return taken

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    @contextlib.contextmanager
    def full(self) -> Iterator[None]:
        self.fill()
        try:
            yield
        finally:
            self.free()

    def make_readonly(self, path: Path) -> None:
        """Writes through `path` fail with EROFS (a read-only bind mount over it); files
        already open for writing keep working, as on a filesystem remounted read-only."""
        path.mkdir(parents=True, exist_ok=True)
        # Bind and remount read-only in one command (util-linux does both at once), so no
        # file is opened for writing through the bind mount in between (EBUSY otherwise);
        # retried for up to 10 s in case one was.
        for attempt in range(100):
            try:
                _run("mount", "--bind", "-o", "ro", str(path), str(path))
            except RuntimeError:
                if attempt == 99:
                    raise
                time.sleep(0.1)
                continue
            self._readonly.append(path)
            if _is_readonly(path):
                return
            _run("umount", str(path))
            self._readonly.remove(path)
            time.sleep(0.1)
        raise RuntimeError(f"could not make {path} read-only")

    def make_writable(self, path: Path) -> None:
        _run("umount", str(path))
        self._readonly.remove(path)

    @contextlib.contextmanager
    def readonly(self, path: Path) -> Iterator[None]:
        self.make_readonly(path)
        try:
            yield
        finally:
            self.make_writable(path)

    @contextlib.contextmanager
    def immutable(self, path: Path) -> Iterator[None]:
        """`chattr +i`: no file can be created, renamed or removed in `path` meanwhile."""
        path.mkdir(parents=True, exist_ok=True)
        _run("chattr", "+i", str(path))
        try:
            yield
        finally:
            _run("chattr", "-i", str(path))

    def unmount(self) -> None:
        for path in reversed(self._readonly):
            subprocess.run(["umount", "-l", str(path)], check=False)
        self._readonly.clear()
        subprocess.run(["umount", "-l", str(self.root)], check=False)


def _run(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()}")


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: CI must run these tests as root")
    pytest.skip(f"{why} (needs root to mount a tmpfs)")


def mount_small_disk(root: Path, size: int) -> SmallDisk:
    """Mount a tmpfs of `size` bytes at root (skips or fails the test when it cannot)."""
    if os.geteuid() != 0:
        _unavailable("not root")
    root.mkdir(parents=True, exist_ok=True)
    try:
        _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(root))
    except (OSError, RuntimeError) as exc:
        _unavailable(f"cannot mount a tmpfs: {exc}")
    return SmallDisk(root, size)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 16 MiB tmpfs at tmp_path/disk, unmounted at teardown."""
    disk = mount_small_disk(tmp_path / "disk", 16 * 1024 * 1024)
    try:
        yield disk
    finally:
        disk.unmount()


@pytest.fixture
def big_small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 128 MiB tmpfs at tmp_path/disk (room for a minute of load), unmounted at teardown."""
    disk = mount_small_disk(tmp_path / "disk", 128 * 1024 * 1024)
    try:
        yield disk
    finally:
        disk.unmount()
