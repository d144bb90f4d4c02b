"""Fixtures the notify tests share: the notify cases' dataset, and a real SMTP server on
loopback (aiosmtpd) that records what it receives. A test file with other data defines its
own `data`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_cases import make_dataset

from botcensus.notify.loopback import LoopbackSmtp


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


@pytest.fixture
def server() -> Iterator[LoopbackSmtp]:
    with LoopbackSmtp() as running:
        yield running
