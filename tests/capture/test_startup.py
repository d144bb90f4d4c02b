"""A sinkhole that cannot start says why in one line, stops what it started, and exits 1."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from botcensus.capture.startup import StartError, describe, starting
from botcensus.capture.supervisor import RUN_FILE, WAL_DIR, WRITERS_LOCK


def _serve(data_dir: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`botcensus sinkhole serve` on loopback; it must exit on its own within `timeout`."""
    command = [
        sys.executable, "-m", "botcensus", "sinkhole", "serve", "--data", str(data_dir),
        "--listen", "127.0.0.1:0", "--workers", "2", *args,
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_everything(proc)
        pytest.fail(f"the sinkhole did not exit within {timeout} s")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def _stop_everything(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the workers the supervisor left behind (ours, by pid), then the supervisor."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    pids = children.read_text().split() if children.exists() else []
    for pid in pids:
        os.kill(int(pid), 15)
    proc.kill()
    proc.communicate(timeout=30)


def _assert_stopped_cleanly(data_dir: Path, result: subprocess.CompletedProcess[str]) -> str:
    """Exit 1, one error line and no traceback; no worker left holding the log, nothing left
    unrolled, no run file. Returns the error line."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    fd = os.open(data_dir / WRITERS_LOCK, os.O_RDWR)
    try:  # every worker held it shared until it exited
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert not list((data_dir / WAL_DIR).glob("*"))
    assert not (data_dir / RUN_FILE).exists()
    return errors[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else listens on (without SO_REUSEPORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("option", "what"), [("--metrics", "serve metrics on"), ("--listen", "listen on")]
)
def test_a_port_in_use_stops_the_started_workers(tmp_path, busy_port, option, what):
    data = tmp_path / "data"
    result = _serve(data, option, f"127.0.0.1:{busy_port}")
    error = _assert_stopped_cleanly(data, result)
    assert error == f"Error: cannot {what} 127.0.0.1:{busy_port}: Address already in use"


def test_a_run_file_that_cannot_be_written_stops_the_started_workers(tmp_path):
    data = tmp_path / "data"
    (data / f".{RUN_FILE}.tmp").mkdir(parents=True)  # where the run file is written first
    error = _assert_stopped_cleanly(data, _serve(data))
    assert error == f"Error: cannot write {data / RUN_FILE}: Is a directory"


def test_starting_on_a_full_disk_names_the_cause(small_disk):
    data = small_disk.root / "data"
    data.mkdir()
    with small_disk.full():
        result = _serve(data)
        error = _assert_stopped_cleanly(data, result)
    assert re.fullmatch(
        f"Error: worker [01] could not start: cannot start a write-ahead log segment in "
        f"{re.escape(str(data / WAL_DIR))}: No space left on device",
        error,
    ), error


# -- the one-line reason ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "why"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/x"), "No space left on device"),
        (
            OSError(errno.EADDRINUSE, "error while attempting to bind on address: in use"),
            "Address already in use",
        ),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "Name or service not known",
        ),
        (OSError("no errno"), "no errno"),
    ],
)
def test_describe_gives_the_reason_without_the_errno(exc: OSError, why: str) -> None:
    assert describe(exc) == why


def test_starting_turns_an_os_error_into_one_line() -> None:
    with pytest.raises(StartError) as caught, starting("cannot write /x/run.json"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(caught.value) == "cannot write /x/run.json: No space left on device"


def test_a_port_another_process_listens_on_with_reuseport_is_refused(tmp_path):
    """SO_REUSEPORT let a second sinkhole (or anything of the same user) bind a port the
    first one serves, and the kernel gave it half of the first one's connections."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        data = tmp_path / "data"
        error = _assert_stopped_cleanly(data, _serve(data, "--listen", f"127.0.0.1:{port}"))
    assert error == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_a_worker_imports_nothing_heavy() -> None:
    """A worker held 80 MB where it had held 42 once capture/proxy.py took the time range
    from model.py, which imports pyarrow (and numpy): the range now lives in times.py."""
    code = (
        "import sys, botcensus.capture.worker; "
        "print(sorted({'pyarrow', 'numpy'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
